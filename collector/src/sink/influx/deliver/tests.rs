//! The loop on a paused clock against a scripted transport.

use crate::sample::Record;
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
        let result = if s.max_lines.is_some_and(|m| points > m) {
            Err(WriteError::TooLarge)
        } else if let Some(e) = s.script.pop_front() {
            Err(e)
        } else if let Some(e) = &s.fail_forever {
            Err(e.clone())
        } else {
            Ok(())
        };
        std::future::ready(result)
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
    }
}

fn start(
    mock: &Mock,
    limits: Limits,
    capacity: usize,
) -> (Sender<Vec<Record>>, JoinHandle<()>, PipelineMetrics) {
    let (tx, rx) = mpsc::channel(capacity);
    let metrics = PipelineMetrics::unregistered();
    let task = Deliverer::new(mock.clone(), limits, metrics.clone()).run(rx);
    (tx, tokio::spawn(task), metrics)
}

fn samples(n: usize) -> Vec<Record> {
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
    let (tx, task, metrics) = start(&mock, limits(1, 1000), 1);
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
