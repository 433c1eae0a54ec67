//! The loop on a paused clock against a scripted transport.

use crate::sample::InfluxRecord;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{self, error::TrySendError, Sender};
use tokio::task::JoinHandle;

use super::*;
use crate::sink::influx::testutil::clients;

#[derive(Debug)]
struct Request {
    at: Instant,
    points: usize,
    body: String,
    timeout: Option<Duration>,
}

#[derive(Default)]
struct State {
    /// Answers to the next requests, in order; `Ok` once empty.
    script: VecDeque<WriteError>,
    /// Answer to every request while set (after the script).
    fail_forever: Option<WriteError>,
    /// 413 for requests with more lines than this.
    max_lines: Option<usize>,
    /// How long the next requests take to answer, in order; at once when empty.
    delays: VecDeque<Duration>,
    /// Requests whose body contains this fail (retryable) forever.
    fail_containing: Option<String>,
    requests: Vec<Request>,
}

#[derive(Clone, Default)]
struct Mock(Arc<Mutex<State>>);

impl Mock {
    fn with(f: impl FnOnce(&mut State)) -> Mock {
        let m = Mock::default();
        f(&mut m.0.lock().unwrap());
        m
    }
    fn set(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.0.lock().unwrap());
    }
    fn requests(&self) -> Vec<(Instant, usize)> {
        let s = self.0.lock().unwrap();
        s.requests.iter().map(|r| (r.at, r.points)).collect()
    }
    fn bodies(&self) -> Vec<String> {
        let s = self.0.lock().unwrap();
        s.requests.iter().map(|r| r.body.clone()).collect()
    }
}

impl Transport for Mock {
    fn write(
        &self,
        body: &[u8],
        points: usize,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<(), WriteError>> + Send {
        let mut s = self.0.lock().unwrap();
        s.requests.push(Request {
            at: Instant::now(),
            points,
            body: String::from_utf8(body.to_vec()).unwrap(),
            timeout,
        });
        assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), points);
        let delay = s.delays.pop_front().unwrap_or_default();
        let poisoned = s
            .fail_containing
            .as_ref()
            .is_some_and(|m| String::from_utf8_lossy(body).contains(m.as_str()));
        let result = if poisoned {
            Err(retryable())
        } else if s.max_lines.is_some_and(|m| points > m) {
            Err(WriteError::TooLarge)
        } else if let Some(e) = s.script.pop_front() {
            Err(e)
        } else if let Some(e) = &s.fail_forever {
            Err(e.clone())
        } else {
            Ok(())
        };
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            result
        }
    }
}

fn retryable() -> WriteError {
    WriteError::Retryable {
        reason: "connection refused".into(),
    }
}

fn limits(max_points: usize, max_age_ms: u64) -> Limits {
    Limits {
        max_points,
        max_age: Duration::from_millis(max_age_ms),
        max_backoff: Duration::from_secs(30),
        max_in_flight: 4,
    }
}

fn one_at_a_time(limits: Limits) -> Limits {
    Limits {
        max_in_flight: 1,
        ..limits
    }
}

fn start(
    mock: &Mock,
    limits: Limits,
    capacity: usize,
) -> (Sender<Vec<InfluxRecord>>, JoinHandle<()>, PipelineMetrics) {
    let (tx, rx) = mpsc::channel(capacity);
    let metrics = PipelineMetrics::unregistered();
    let task = Deliverer::new(mock.clone(), limits, metrics.clone()).run(rx);
    (tx, tokio::spawn(task), metrics)
}

fn samples(n: usize) -> Vec<InfluxRecord> {
    (0..n)
        .map(|i| clients("s1", i as f64, i as i64).into())
        .collect()
}

async fn settle() {
    // Lets the spawned loop run without moving the paused clock far.
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn flushes_when_full_and_the_rest_by_age() {
    let mock = Mock::default();
    let (tx, task, metrics) = start(&mock, limits(3, 1000), 4);
    let t0 = Instant::now();
    tx.send(samples(7)).await.unwrap();
    settle().await;
    assert_eq!(
        mock.requests().iter().map(|r| r.1).collect::<Vec<_>>(),
        [3, 3]
    );
    tokio::time::sleep(Duration::from_millis(990)).await;
    assert_eq!(mock.requests().len(), 2, "flushed before the age limit");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3);
    let age = reqs[2].0 - t0;
    assert!(
        age >= Duration::from_secs(1) && age <= Duration::from_millis(1001),
        "{age:?}"
    );
    assert_eq!(reqs[2].1, 1);
    assert_eq!(metrics.influx_points_written.get(), 7);
    drop(tx);
    task.await.unwrap();
    assert_eq!(mock.requests().len(), 3, "nothing left to drain");
}

#[tokio::test(start_paused = true)]
async fn the_age_limit_holds_under_a_steady_stream() {
    let mock = Mock::default();
    let (tx, task, _) = start(&mock, limits(10_000, 1000), 4);
    for i in 0..50 {
        tx.send(vec![clients("s1", 1.0, i).into()]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reqs = mock.requests();
    assert!(reqs.len() >= 4, "{reqs:?}");
    assert!(reqs.iter().all(|r| r.1 <= 11), "{reqs:?}");
    drop(tx);
    task.await.unwrap();
    assert_eq!(mock.requests().iter().map(|r| r.1).sum::<usize>(), 50);
}

#[tokio::test(start_paused = true)]
async fn retries_with_backoff_and_honours_retry_after() {
    let mock = Mock::with(|s| {
        s.script = VecDeque::from([
            retryable(),
            WriteError::Throttled {
                status: 429,
                retry_after: Some(Duration::from_secs(5)),
            },
            WriteError::Misconfigured {
                status: 401,
                body: "unauthorized".into(),
            },
        ]);
    });
    let (tx, task, metrics) = start(&mock, limits(1, 1000), 4);
    tx.send(samples(1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 4, "{reqs:?}");
    let gaps: Vec<Duration> = reqs.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps[0] >= Duration::from_millis(125) && gaps[0] <= Duration::from_millis(250));
    assert!(gaps[1] >= Duration::from_secs(5), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(500) && gaps[2] <= Duration::from_secs(1));
    let bodies = mock.bodies();
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "the same batch is retried"
    );
    assert_eq!(metrics.influx_points_written.get(), 1);
    assert_eq!(metrics.influx_points_rejected.get(), 0);
    drop(tx);
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_413_splits_until_the_pieces_fit() {
    let mock = Mock::with(|s| s.max_lines = Some(2));
    let (tx, task, metrics) = start(&mock, limits(5, 1000), 4);
    tx.send(samples(5)).await.unwrap();
    drop(tx);
    task.await.unwrap();
    let points: Vec<usize> = mock.requests().iter().map(|r| r.1).collect();
    assert_eq!(points, [5, 2, 3, 1, 2]);
    let (expected, n) = crate::sink::influx::encode_batch(&samples(5));
    let bodies = mock.bodies();
    let delivered: String = [&bodies[1], &bodies[3], &bodies[4]]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(delivered.as_bytes(), expected, "every line once, in order");
    assert_eq!(metrics.influx_points_written.get(), n as u64);
    assert_eq!(metrics.influx_points_rejected.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_single_line_still_too_large_is_dropped() {
    let mock = Mock::with(|s| s.max_lines = Some(0));
    let (tx, task, metrics) = start(&mock, limits(2, 1000), 4);
    tx.send(samples(2)).await.unwrap();
    drop(tx);
    task.await.unwrap();
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(metrics.influx_points_rejected.get(), 2);
    assert_eq!(metrics.influx_points_written.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn rejected_points_are_counted_and_dropped() {
    let mock = Mock::with(|s| {
        s.script = VecDeque::from([
            WriteError::Rejected {
                status: 400,
                body: "partial write dropped=1".into(),
                dropped: Some(1),
            },
            WriteError::Rejected {
                status: 422,
                body: "beyond retention".into(),
                dropped: None,
            },
        ]);
    });
    let (tx, task, metrics) = start(&mock, limits(3, 1000), 4);
    tx.send(samples(9)).await.unwrap();
    drop(tx);
    task.await.unwrap();
    assert_eq!(mock.requests().len(), 3, "rejections are not retried");
    assert_eq!(metrics.influx_points_rejected.get(), 1 + 3);
    assert_eq!(metrics.influx_points_written.get(), 2 + 3);
}

#[tokio::test(start_paused = true)]
async fn intake_stops_while_retrying() {
    let mock = Mock::with(|s| s.fail_forever = Some(retryable()));
    let (tx, task, metrics) = start(&mock, one_at_a_time(limits(1, 1000)), 1);
    tx.send(samples(1)).await.unwrap();
    settle().await;
    tx.try_send(samples(1)).unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(matches!(
        tx.try_send(samples(1)),
        Err(TrySendError::Full(_))
    ));
    assert_eq!(metrics.influx_queue_batches.get(), 1);
    let attempts = mock.requests().len();
    assert!((5..=20).contains(&attempts), "capped backoff: {attempts}");

    mock.set(|s| s.fail_forever = None);
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(metrics.influx_points_written.get(), 2);
    tx.try_send(samples(1)).unwrap();
    drop(tx);
    task.await.unwrap();
    assert_eq!(metrics.influx_points_written.get(), 3);
    assert_eq!(metrics.influx_queue_batches.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_without_waiting_for_the_age_limit() {
    let mock = Mock::default();
    let (tx, task, metrics) = start(&mock, limits(100, 3_600_000), 4);
    let t0 = Instant::now();
    tx.send(samples(2)).await.unwrap();
    tx.send(samples(3)).await.unwrap();
    drop(tx);
    task.await.unwrap();
    assert_eq!(Instant::now() - t0, Duration::ZERO);
    assert_eq!(mock.requests().iter().map(|r| r.1).collect::<Vec<_>>(), [5]);
    assert_eq!(metrics.influx_points_written.get(), 5);
}

#[tokio::test(start_paused = true)]
async fn shutdown_gives_up_after_the_budget_while_failing() {
    let mock = Mock::with(|s| s.fail_forever = Some(retryable()));
    let (tx, task, metrics) = start(&mock, limits(1, 1000), 4);
    tx.send(samples(1)).await.unwrap();
    tx.send(samples(2)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(100)).await;
    let t_drop = Instant::now();
    drop(tx);
    tokio::time::timeout(SHUTDOWN_BUDGET * 2, task)
        .await
        .expect("bounded")
        .unwrap();
    let took = Instant::now() - t_drop;
    assert!(
        took >= SHUTDOWN_BUDGET && took <= SHUTDOWN_BUDGET + CLOSE_POLL,
        "{took:?}"
    );
    assert_eq!(metrics.influx_points_written.get(), 0);
    let s = mock.0.lock().unwrap();
    // Requests after the drop carry the remaining budget as their timeout.
    let last = s.requests.last().unwrap();
    assert!(last.at >= t_drop, "{last:?}");
    assert!(
        last.timeout.is_some_and(|t| t <= SHUTDOWN_BUDGET),
        "{last:?}"
    );
    assert!(s.requests.iter().all(|r| r.points == 1));
}

#[tokio::test(start_paused = true)]
async fn shutdown_keeps_writing_while_the_server_works() {
    let mock = Mock::with(|s| s.script = VecDeque::from([retryable(), retryable()]));
    let (tx, task, metrics) = start(&mock, limits(2, 1000), 8);
    for _ in 0..4 {
        tx.send(samples(3)).await.unwrap();
    }
    drop(tx);
    task.await.unwrap();
    assert_eq!(metrics.influx_points_written.get(), 12);
}

/// One spool record per line: `n` records with ids `first..`.
fn spooled(first: u64, n: u64) -> Vec<InfluxRecord> {
    (first..first + n)
        .map(|id| InfluxRecord::Lines {
            spool_id: id,
            lines: format!("clients,school=s{id} wifi_clients=1 {id}\n").into_bytes(),
        })
        .collect()
}

/// (time, high-water mark) of each acknowledgement.
type AckLog = Arc<Mutex<Vec<(Instant, u64)>>>;

/// Starts the loop with a hook recording each acknowledgement.
fn start_acking(
    mock: &Mock,
    limits: Limits,
) -> (Sender<Vec<InfluxRecord>>, JoinHandle<()>, AckLog) {
    let (tx, rx) = mpsc::channel(16);
    let acks = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&acks);
    let hook: DeliveredHook =
        Arc::new(move |upto| seen.lock().unwrap().push((Instant::now(), upto)));
    let task = Deliverer::new(mock.clone(), limits, PipelineMetrics::unregistered())
        .on_delivered(Some(hook))
        .run(rx);
    (tx, tokio::spawn(task), acks)
}

#[tokio::test(start_paused = true)]
async fn several_writes_are_in_flight_at_once() {
    for (in_flight, expected) in [(4, Duration::from_secs(1)), (1, Duration::from_secs(4))] {
        let mock = Mock::with(|s| s.delays = VecDeque::from([Duration::from_secs(1); 4]));
        let limits = Limits {
            max_in_flight: in_flight,
            ..limits(1, 1000)
        };
        let (tx, task, metrics) = start(&mock, limits, 4);
        let t0 = Instant::now();
        tx.send(samples(4)).await.unwrap();
        settle().await;
        assert_eq!(metrics.influx_writes_in_flight.get(), in_flight as i64);
        drop(tx);
        task.await.unwrap();
        let took = Instant::now() - t0;
        assert!(
            took >= expected && took < expected + Duration::from_millis(10),
            "{in_flight} in flight: {took:?}"
        );
        assert_eq!(metrics.influx_points_written.get(), 4);
        assert_eq!(metrics.influx_writes_in_flight.get(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn the_spool_is_acknowledged_in_order_when_writes_finish_out_of_order() {
    // Batches 1, 2, 3 (one record each) answer after 3 s, 1 s and at once.
    let mock = Mock::with(|s| {
        s.delays = VecDeque::from([
            Duration::from_secs(3),
            Duration::from_secs(1),
            Duration::ZERO,
        ])
    });
    let (tx, task, acks) = start_acking(&mock, limits(1, 1000));
    let t0 = Instant::now();
    tx.send(spooled(1, 3)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_900)).await;
    assert_eq!(mock.requests().len(), 3, "all three written at once");
    assert!(
        acks.lock().unwrap().is_empty(),
        "nothing acknowledged while batch 1 is in flight: {:?}",
        acks.lock().unwrap()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got: Vec<(Duration, u64)> = acks
        .lock()
        .unwrap()
        .iter()
        .map(|(t, u)| (*t - t0, *u))
        .collect();
    assert_eq!(
        got,
        [(Duration::from_secs(3), 3)],
        "batch 1 releases 2 and 3"
    );
    // Later batches are acknowledged as they finish, in order.
    mock.set(|s| s.delays = VecDeque::from([Duration::from_secs(2), Duration::ZERO]));
    tx.send(spooled(4, 2)).await.unwrap();
    drop(tx);
    task.await.unwrap();
    let marks: Vec<u64> = acks.lock().unwrap().iter().map(|a| a.1).collect();
    assert_eq!(marks, [3, 5]);
}

#[tokio::test(start_paused = true)]
async fn a_batch_given_up_at_shutdown_holds_back_every_later_ack() {
    // Batch 2 never succeeds; 1, 3 and 4 do. Only 1 may be acknowledged:
    // the spool must replay 2 (and 3, 4: idempotent rewrites) on restart.
    let mock = Mock::with(|s| s.fail_containing = Some("school=s2 ".into()));
    let (tx, task, acks) = start_acking(&mock, limits(1, 1000));
    tx.send(spooled(1, 4)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(tx);
    tokio::time::timeout(SHUTDOWN_BUDGET * 2, task)
        .await
        .expect("bounded by the shutdown budget")
        .unwrap();
    let marks: Vec<u64> = acks.lock().unwrap().iter().map(|a| a.1).collect();
    assert_eq!(marks, [1]);
    let written: Vec<String> = mock
        .bodies()
        .into_iter()
        .filter(|b| !b.contains("school=s2 "))
        .collect();
    assert_eq!(written.len(), 3, "{written:?}");
}

#[tokio::test(start_paused = true)]
async fn intake_stops_when_every_writer_is_busy() {
    // 3 in flight against a server that fails: 3 batches taken, then the
    // channel (capacity 2) fills and senders wait.
    let mock = Mock::with(|s| s.fail_forever = Some(retryable()));
    let limits = Limits {
        max_in_flight: 3,
        ..limits(1, 1000)
    };
    let (tx, task, metrics) = start(&mock, limits, 2);
    for _ in 0..5 {
        tx.send(samples(1)).await.unwrap();
        settle().await;
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(matches!(
        tx.try_send(samples(1)),
        Err(TrySendError::Full(_))
    ));
    assert_eq!(metrics.influx_writes_in_flight.get(), 3);
    assert_eq!(metrics.influx_queue_batches.get(), 2);
    mock.set(|s| s.fail_forever = None);
    drop(tx);
    task.await.unwrap();
    assert_eq!(metrics.influx_points_written.get(), 5);
}
