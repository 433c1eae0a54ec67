//! The spool on a really full filesystem, end to end into a real InfluxDB
//! 1.x: the spool on a 2 MiB tmpfs (mounted by the test: root needed, the
//! test fails and says so otherwise), the spool feeder and the InfluxDB
//! sink as in production, exact counts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use collector::metrics::PipelineMetrics;
use collector::sink::influx::{feed_from_spool, InfluxApi, InfluxConfig, InfluxSink};
use collector::spool::{FullCause, Overflow, Spool, SpoolConfig};
use testkit::{wait_until, InfluxDb1, Tmpfs};
use tokio_util::sync::CancellationToken;

/// One point per record, ~500 bytes (a string field pads it): 10,000
/// records are ~5 MB through a 2 MiB filesystem.
fn record(i: u64, t0: i64) -> Vec<u8> {
    format!(
        "fill,school=s{} v={i}i,pad=\"{}\" {}\n",
        i % 7,
        "x".repeat(440),
        t0 + i as i64
    )
    .into_bytes()
}

/// `overflow = drop_oldest` with InfluxDB down while the filesystem fills:
/// the sink holds records it already read (delivered from memory once
/// InfluxDB is back), the spool drops the oldest segments to keep intake
/// flowing. Every record is either in InfluxDB or counted as dropped,
/// never both, never neither: appended = delivered + dropped, exactly.
#[tokio::test(flavor = "multi_thread")]
async fn full_disk_drop_oldest_counts_exactly_what_influxdb_never_gets() {
    let fs = Tmpfs::mount("2m");
    let mut influx = InfluxDb1::start().await;
    influx.create_database("sn").await;
    tokio::task::block_in_place(|| influx.stop());

    let config = SpoolConfig {
        dir: fs.path().join("spool"),
        max_bytes: 1 << 30, // far above the filesystem: the disk fills first
        segment_bytes: 64 * 1024,
        overflow: Overflow::DropOldest,
        fsync: true,
        cursor_persist_ms: 100,
    };
    let (spool, _) = Spool::open(&config, &["influx"]).unwrap();
    let metrics = PipelineMetrics::unregistered();
    let sink_config = InfluxConfig {
        url: influx.url.clone(),
        api: InfluxApi::V1,
        database: "sn".into(),
        batch_max_points: 500,
        batch_max_age_ms: 50,
        max_retry_backoff_s: 0.5,
        ..InfluxConfig::default()
    };
    let sink = InfluxSink::new(sink_config, None, metrics.clone())
        .unwrap()
        .acking(spool.clone(), "influx");
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let writer = tokio::spawn(sink.run(rx));
    let stop = CancellationToken::new();
    let feeder = tokio::spawn(feed_from_spool(spool.clone(), "influx", tx, stop.clone()));

    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let total = 10_000u64;
    for i in 1..=total {
        let id = spool.append(i as i64, &record(i, t0)).await.unwrap();
        assert_eq!(id, i);
        if i % 100 == 0 {
            spool.commit().await.unwrap();
        }
    }
    spool.commit().await.unwrap();
    let status = spool.status().unwrap();
    assert_eq!(status.full, Some(FullCause::Disk), "the filesystem filled");
    assert!(!status.blocked, "drop_oldest kept intake flowing");
    let dropped = status.sinks[0].dropped_records.unwrap();
    assert!(dropped > 0);

    influx.start_again().await;
    wait_until("the sink to catch up", Duration::from_secs(60), || async {
        let s = spool.status().unwrap();
        (s.sinks[0].cursor == total).then_some(())
    })
    .await;
    let delivered = influx.count("sn", "SELECT count(v) FROM fill").await;
    let dropped = spool.status().unwrap().sinks[0].dropped_records.unwrap();
    eprintln!(
        "full disk, drop_oldest: appended {total}, in InfluxDB {delivered}, dropped {dropped}, \
         points written {}",
        metrics.influx_points_written.get()
    );
    assert_eq!(
        delivered + dropped,
        total,
        "appended = delivered + dropped (delivered {delivered}, dropped {dropped})"
    );
    assert_eq!(metrics.influx_points_written.get(), delivered);
    // The records the sink had read before InfluxDB came back (the oldest
    // ones) were delivered, not dropped.
    let first = influx
        .count("sn", "SELECT count(v) FROM fill WHERE v <= 100")
        .await;
    assert_eq!(first, 100, "records read before the drops are delivered");

    stop.cancel();
    feeder.await.unwrap().unwrap();
    writer.await.unwrap();
    spool.close().unwrap();
}
