//! `schoolnet run` with its spool on a filesystem that fills before
//! `spool.max_bytes` (a 128 KiB tmpfs mounted by the test: root needed, the
//! test fails and says so otherwise), on real mosquitto and InfluxDB 1.x.
//!
//! What the issue found: ENOSPC made the collector exit 1, and every
//! restart exited again (it could not save its read position), so nothing
//! was ever freed. Now a full disk is a full spool: intake waits (block),
//! the degraded mode shows as a WARN and gauges, a restart on a completely
//! full disk comes up and drains, and every point arrives.

use crate::support;

use std::time::{Duration, Instant};

use support::{
    check_points, expected_points, simulate, sum_metric, total_points, wait_for_points, Accounting,
    Collector,
};
use testkit::{signal, wait_until, InfluxDb1, Mosquitto, Tmpfs};
use tokio::time::sleep;

const STARTED: &str = "spool full: its filesystem has no space left before spool.max_bytes";
const CLEARED: &str = "spool no longer full";

#[tokio::test(flavor = "multi_thread")]
async fn full_disk_blocks_intake_survives_a_restart_and_delivers_everything() {
    let fs = Tmpfs::mount("128k");
    let broker = Mosquitto::builder().persistence(true).start().await;
    let mut influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    tokio::task::block_in_place(|| influx.stop());
    let extra = format!(
        "[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\n\n\
         [spool]\ndir = \"{}\"\nsegment_bytes = 16384\noverflow = \"block\"\n",
        influx.url,
        fs.path().join("spool").display()
    );
    let mut collector =
        Collector::start_in(tempfile::tempdir().unwrap(), &broker.url, None, &extra, &[]).await;
    let report = simulate(
        &broker.url,
        &["--schools", "6", "--rate", "0", "--count", "3000"],
    )
    .await;

    // The disk fills long before max_bytes (1 GiB): intake blocks, shown.
    let m = wait_until(
        "the spool to block on the full disk",
        Duration::from_secs(30),
        || async {
            let m = collector.metrics().await;
            let full = sum_metric(&m, "schoolnet_spool_full", &["cause=\"disk\""]);
            let blocked = sum_metric(&m, "schoolnet_spool_blocked", &[]);
            (full == 1.0 && blocked == 1.0).then_some(m)
        },
    )
    .await;
    assert_eq!(
        sum_metric(&m, "schoolnet_spool_max_bytes", &[]),
        (1u64 << 30) as f64
    );
    assert_eq!(
        sum_metric(&m, "schoolnet_spool_full", &["cause=\"max_bytes\""]),
        0.0
    );
    assert_eq!(
        sum_metric(
            &m,
            "schoolnet_spool_dropped_records_total",
            &["sink=\"influx\""]
        ),
        0.0
    );
    let processed = sum_metric(&m, "schoolnet_collector_messages_total", &[]) as u64;
    assert!(
        processed < report.sent,
        "intake is blocked ({processed} of {})",
        report.sent
    );
    assert_eq!(
        collector.process.count_lines(STARTED),
        1,
        "one WARN per episode"
    );
    assert!(collector.process.count_lines("WARN") >= 1);
    assert!(collector.is_ready().await, "still connected and serving");
    sleep(Duration::from_secs(2)).await;
    let blocked_s = collector
        .metric_sum("schoolnet_spool_blocked_seconds_total", &[])
        .await;
    assert!(blocked_s >= 1.0, "time blocked counted: {blocked_s}");

    // Killed on the full disk, and the last free block taken by someone
    // else: the restart must come up (it used to exit 1 within 0.15 s).
    collector.kill(signal::SIGKILL);
    sleep(Duration::from_millis(300)).await;
    let filler = fs.fill();
    assert!(fs.free() < 4096, "{} bytes still free", fs.free());
    collector.restart().await;
    sleep(Duration::from_secs(2)).await;
    assert!(
        collector.process.is_running(),
        "{}",
        collector.process.log_tail()
    );
    eprintln!(
        "full disk: blocked at {processed} of {} messages after {blocked_s:.1}s counted; \
         killed, {filler} filler bytes took the rest, restarted",
        report.sent
    );

    // InfluxDB back: the spool drains, frees its segments and takes the
    // rest of intake; every point arrives (the broker redelivers what was
    // not acknowledged before the kill).
    influx.start_again().await;
    let t = Instant::now();
    let expected = expected_points(&report);
    let got = wait_for_points(
        &influx,
        &expected,
        Accounting::NoneMissing,
        Duration::from_secs(60),
    )
    .await;
    let surplus = check_points(&got, &expected, Accounting::NoneMissing).unwrap();
    eprintln!(
        "full disk: all {} points in InfluxDB {:.1}s after it was back ({surplus} duplicate probe points)",
        total_points(&expected),
        t.elapsed().as_secs_f64()
    );

    // The episode clears (10 s without hitting the limit), with a WARN.
    let m = wait_until(
        "the full episode to clear",
        Duration::from_secs(40),
        || async {
            let m = collector.metrics().await;
            let full = sum_metric(&m, "schoolnet_spool_full", &[]);
            let blocked = sum_metric(&m, "schoolnet_spool_blocked", &[]);
            (full == 0.0 && blocked == 0.0).then_some(m)
        },
    )
    .await;
    assert_eq!(collector.process.count_lines(CLEARED), 1);
    assert_eq!(
        sum_metric(&m, "schoolnet_spool_dropped_records_total", &[]),
        0.0
    );
    assert_eq!(sum_metric(&m, "schoolnet_spool_backlog_records", &[]), 0.0);
    assert_eq!(collector.process.count_lines("spool write failed"), 0);
}
