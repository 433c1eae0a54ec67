//! The InfluxDB writer against a slow database: a real InfluxDB 1.x behind
//! `testkit::DelayProxy`, which answers every request a fixed time late.
//!
//! - Several writes are in flight: batches that would take N × delay one at
//!   a time finish in about N / max_in_flight × delay.
//! - A crash while writes are in flight loses nothing: every record up to
//!   the spool's saved cursor is in InfluxDB (the cursor never runs ahead of
//!   an unfinished earlier batch), and a restart writes the rest — records
//!   after the cursor that were already written are written again, which
//!   overwrites the same points (same series and timestamp).
//!
//! Timing assertions are generous (a shared 2-core machine); the numbers
//! belong to the benchmark (`schoolnet-load writer`, docs/performance.md).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use collector::metrics::PipelineMetrics;
use collector::sink::influx::{feed_from_spool, InfluxApi, InfluxConfig, InfluxSink};
use collector::spool::{Spool, SpoolConfig};
use testkit::{wait_until, DelayProxy, InfluxDb1};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SINK: &str = "influx";
const DB: &str = "slow";
/// Device-style timestamps: fixed, so a replayed point overwrites itself.
const BASE_NS: i64 = 1_750_000_000_000_000_000;

fn spool_config(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_path_buf(),
        fsync: false,
        // Every acknowledgement reaches the cursor file at once, so the file
        // read after the "crash" is exactly what the writer acknowledged.
        cursor_persist_ms: 0,
        ..SpoolConfig::default()
    }
}

/// Record `id` holds `points` lines `slow,rec=<id> v=<j>i <ts>`.
fn record_lines(id: u64, points: u64) -> Vec<u8> {
    (0..points)
        .map(|j| {
            format!(
                "slow,rec={id} v={j}i {}\n",
                BASE_NS + (id * 1_000 + j) as i64
            )
        })
        .collect::<String>()
        .into_bytes()
}

async fn open_spool(dir: &Path) -> Spool {
    // After a simulated crash the old instance's last handles may still be
    // closing (a reader inside spawn_blocking): retry the exclusive lock.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Spool::open(&spool_config(dir), &[SINK]) {
            Ok((spool, _)) => return spool,
            Err(e) if Instant::now() < deadline => {
                eprintln!("spool not yet free: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot open the spool again: {e}"),
        }
    }
}

async fn fill(spool: &Spool, records: u64, points: u64) {
    for id in 1..=records {
        let got = spool
            .append(BASE_NS, &record_lines(id, points))
            .await
            .unwrap();
        assert_eq!(got, id, "spool ids start at 1");
    }
    spool.commit().await.unwrap();
}

fn config(url: String, batch_points: usize, max_in_flight: usize) -> InfluxConfig {
    InfluxConfig {
        url,
        api: InfluxApi::V1,
        database: DB.into(),
        batch_max_points: batch_points,
        batch_max_age_ms: 20,
        max_retry_backoff_s: 1.0,
        max_in_flight,
        ..InfluxConfig::default()
    }
}

/// The production wiring of `src/app/storage.rs`: feeder → channel → sink
/// acknowledging the spool.
struct Running {
    feeder: JoinHandle<()>,
    writer: JoinHandle<()>,
    stop: CancellationToken,
    metrics: PipelineMetrics,
}

fn start(spool: &Spool, config: InfluxConfig) -> Running {
    let metrics = PipelineMetrics::unregistered();
    let (tx, rx) = tokio::sync::mpsc::channel(config.queue_batches);
    let sink = InfluxSink::new(config, None, metrics.clone())
        .unwrap()
        .acking(spool.clone(), SINK);
    let stop = CancellationToken::new();
    let feed = feed_from_spool(spool.clone(), SINK, tx, stop.clone());
    Running {
        feeder: tokio::spawn(async move { feed.await.unwrap() }),
        writer: tokio::spawn(sink.run(rx)),
        stop,
        metrics,
    }
}

fn cursor(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("cursors").join(SINK))
        .map(|t| t.trim().parse().unwrap())
        .unwrap_or(0)
}

async fn wait_for_cursor(dir: &Path, upto: u64, within: Duration) {
    wait_until(&format!("spool cursor at {upto}"), within, || async {
        match cursor(dir) {
            c if c >= upto => Ok(()),
            c => Err(format!("cursor at {c}")),
        }
    })
    .await;
}

/// Points stored per record id.
async fn stored(influx: &InfluxDb1) -> BTreeMap<u64, u64> {
    let v = influx
        .query(DB, "SELECT count(v) FROM slow GROUP BY rec")
        .await;
    v["results"][0]["series"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let rec = s["tags"]["rec"].as_str().unwrap().parse().unwrap();
            (rec, s["values"][0][1].as_u64().unwrap())
        })
        .collect()
}

fn upstream(influx: &InfluxDb1) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], influx.port))
}

#[tokio::test(flavor = "multi_thread")]
async fn several_writes_are_in_flight_against_a_slow_influxdb() {
    let influx = InfluxDb1::start().await;
    influx.create_database(DB).await;
    let delay = Duration::from_secs(1);
    let proxy = DelayProxy::start(upstream(&influx), delay).await;
    let (records, points) = (8u64, 100u64);

    let dir = tempfile::tempdir().unwrap();
    let spool = open_spool(dir.path()).await;
    fill(&spool, records, points).await;
    let t0 = Instant::now();
    let run = start(&spool, config(proxy.url(), points as usize, 4));
    wait_for_cursor(dir.path(), records, Duration::from_secs(30)).await;
    let took = t0.elapsed();
    let concurrent = proxy.max_concurrent_requests();
    eprintln!("{records} batches behind {delay:?}: {took:?}, {concurrent} requests at once");

    // One at a time, 8 batches at 1 s each take at least 8 s; four at a
    // time about 2 s.
    assert!(
        took < delay * 5,
        "8 batches behind a 1 s delay took {took:?}: writes not overlapping"
    );
    assert!(
        (2..=4).contains(&concurrent),
        "{concurrent} requests at once (max_in_flight = 4)"
    );
    assert_eq!(run.metrics.influx_points_written.get(), records * points);
    let want: BTreeMap<u64, u64> = (1..=records).map(|id| (id, points)).collect();
    assert_eq!(stored(&influx).await, want);

    run.stop.cancel();
    run.feeder.await.unwrap();
    run.writer.await.unwrap();
    spool.close().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_with_writes_in_flight_loses_nothing_and_acks_only_a_written_prefix() {
    let influx = InfluxDb1::start().await;
    influx.create_database(DB).await;
    let proxy = DelayProxy::start(upstream(&influx), Duration::from_millis(700)).await;
    let (records, points) = (40u64, 50u64);

    let dir = tempfile::tempdir().unwrap();
    let spool = open_spool(dir.path()).await;
    fill(&spool, records, points).await;
    let run = start(&spool, config(proxy.url(), points as usize, 4));
    // Let a few rounds finish, then "crash" mid-flight: the tasks are
    // killed without draining, the spool is not closed.
    wait_for_cursor(dir.path(), 4, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.writer.abort();
    run.feeder.abort();
    let _ = run.writer.await;
    let _ = run.feeder.await;
    drop(spool);
    let acked = cursor(dir.path());
    eprintln!("crashed with the cursor at {acked} of {records}");
    assert!(
        acked >= 4 && acked < records,
        "crash meant to happen mid-way: cursor {acked} of {records}"
    );

    // Whatever was acknowledged is stored, completely.
    let at_crash = stored(&influx).await;
    for id in 1..=acked {
        assert_eq!(
            at_crash.get(&id),
            Some(&points),
            "record {id} acknowledged (cursor {acked}) but not in InfluxDB: {at_crash:?}"
        );
    }

    // Writes were in flight at the crash: InfluxDB stored records after the
    // cursor (the proxy delays only the answers), which the restart will
    // write again.
    assert!(
        at_crash.keys().any(|&id| id > acked),
        "no write in flight at the crash: {at_crash:?}"
    );

    // Restart (no delay this time) and finish.
    proxy.set_delay(Duration::ZERO);
    let spool = open_spool(dir.path()).await;
    let run = start(&spool, config(proxy.url(), points as usize, 4));
    wait_for_cursor(dir.path(), records, Duration::from_secs(60)).await;
    run.stop.cancel();
    run.feeder.await.unwrap();
    run.writer.await.unwrap();
    spool.close().unwrap();
    assert_eq!(cursor(dir.path()), records);

    // Nothing lost, nothing doubled: replays overwrote the same points.
    let want: BTreeMap<u64, u64> = (1..=records).map(|id| (id, points)).collect();
    assert_eq!(stored(&influx).await, want);
    // The restart replayed exactly the records after the cursor.
    assert_eq!(
        run.metrics.influx_points_written.get(),
        (records - acked) * points
    );
}
