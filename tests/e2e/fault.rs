//! Faults on real servers, with exact point accounting: InfluxDB down under
//! load, the collector SIGKILLed and SIGTERMed mid-stream, mosquitto
//! restarted, a full spool (drop_oldest and block) and a torn spool tail.
//!
//! Every test runs the production path: QoS 1 with a persistent session and
//! manual acks after the spool commit (`Collector::start_spooled`), the
//! simulator paced at 400 msg/s for 2000 messages (5 s) so the fault lands
//! mid-stream, and compares InfluxDB's rows per measurement and school with
//! the simulator's report. Measured numbers are printed (`--nocapture`).

use crate::support;

use std::time::{Duration, Instant};

use support::{
    check_points, expected_points, influx_points, last_spool_record, line_points, minus, simulate,
    spawn_simulate, spawn_simulate_unchecked, spool_segments, sum_metric, total_points,
    wait_for_points, Accounting, Collector, BIN,
};
use testkit::{free_port, signal, wait_until, InfluxDb1, Mosquitto};
use tokio::time::sleep;

/// 2000 messages from 6 schools at 400 msg/s: 5 s of steady load.
const PACED: [&str; 6] = ["--schools", "6", "--rate", "400", "--count", "2000"];
/// The tiny spool of the overflow tests: 4 segments of 16 KiB.
const TINY_SPOOL: &str = "max_bytes = 65536\nsegment_bytes = 16384\n";
const DELIVERY: Duration = Duration::from_secs(40);

async fn influx() -> InfluxDb1 {
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    influx
}

/// A URL where nothing listens.
fn dead_influx_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// InfluxDB stopped ~1 s into the run and started again 3 s later: every
/// point arrives exactly once (the spool held them; InfluxDB retries rewrite
/// the same points, and MQTT never redelivered).
#[tokio::test(flavor = "multi_thread")]
async fn influxdb_outage_under_load_loses_nothing() {
    let broker = Mosquitto::start().await;
    let mut influx = influx().await;
    let collector = Collector::start_spooled(&broker.url, &influx.url, "").await;
    let sim = spawn_simulate(&broker.url, &PACED);
    sleep(Duration::from_secs(1)).await;
    tokio::task::block_in_place(|| influx.stop());
    sleep(Duration::from_secs(3)).await;
    influx.start_again().await;
    let expected = expected_points(&sim.await.unwrap());

    let t = Instant::now();
    wait_for_points(&influx, &expected, Accounting::Exact, DELIVERY).await;
    eprintln!(
        "influxdb outage: {} points complete {:.1}s after the simulator ended",
        total_points(&expected),
        t.elapsed().as_secs_f64()
    );
    let failed = sum_metric(
        &collector.metrics().await,
        "schoolnet_influx_writes_total",
        &["result=\"retryable\""],
    );
    assert!(failed > 0.0, "InfluxDB was really down for the collector");
}

/// The collector SIGKILLed mid-stream and restarted: no point missing. The
/// broker redelivers what was not acknowledged (acks follow the spool
/// commit), the spool replays what was committed but not yet written.
#[tokio::test(flavor = "multi_thread")]
async fn collector_sigkill_mid_stream_loses_nothing() {
    let broker = Mosquitto::builder().persistence(true).start().await;
    let influx = influx().await;
    let mut collector = Collector::start_spooled(&broker.url, &influx.url, "").await;
    let sim = spawn_simulate(&broker.url, &PACED);
    sleep(Duration::from_millis(1500)).await;
    let seen = messages_ok(&collector).await;
    collector.kill(signal::SIGKILL);
    sleep(Duration::from_millis(500)).await;
    collector.restart().await;
    let report = sim.await.unwrap();
    assert!(
        seen > 0 && seen < report.sent,
        "killed mid-stream ({seen} of {})",
        report.sent
    );

    let got = wait_for_points(
        &influx,
        &expected_points(&report),
        Accounting::NoneMissing,
        DELIVERY,
    )
    .await;
    let surplus = check_points(&got, &expected_points(&report), Accounting::NoneMissing).unwrap();
    eprintln!("sigkill: killed after {seen} messages; all {} points present, {surplus} duplicate probe points", total_points(&got) - surplus);
}

/// mosquitto stopped (it saves its persistence) and started again
/// mid-stream: the collector is ready again within 5 s and no point is
/// missing at QoS 1.
#[tokio::test(flavor = "multi_thread")]
async fn broker_restart_mid_stream_reconnects_and_loses_nothing() {
    let mut broker = Mosquitto::builder().persistence(true).start().await;
    let influx = influx().await;
    let collector = Collector::start_spooled(&broker.url, &influx.url, "").await;
    let sim = spawn_simulate_unchecked(&broker.url, &PACED);
    sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| broker.stop());
    wait_until(
        "the collector to notice",
        Duration::from_secs(10),
        || async { !collector.is_ready().await },
    )
    .await;
    sleep(Duration::from_secs(1)).await;
    broker.start_again().await;
    let reconnect = collector.wait_ready(Duration::from_secs(30)).await;
    eprintln!(
        "broker restart: collector ready {:.2}s after the broker was back",
        reconnect.as_secs_f64()
    );
    assert!(
        reconnect < Duration::from_secs(5),
        "reconnect took {reconnect:?}"
    );

    let (report, out) = sim.await.unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "broker restart: simulator sent {}, acked {}, errors {}",
        report.sent, report.acked, report.errors
    );
    assert_eq!(
        report.acked, report.sent,
        "the simulator lost messages while the broker was down:\n{log}"
    );
    let expected = expected_points(&report);
    let got = wait_for_points(&influx, &expected, Accounting::NoneMissing, DELIVERY).await;
    let surplus = check_points(&got, &expected, Accounting::NoneMissing).unwrap();
    eprintln!(
        "broker restart: all {} points present, {surplus} duplicate probe points",
        total_points(&expected)
    );
}

/// A full spool with `overflow = drop_oldest` and InfluxDB unreachable: the
/// collector keeps running and serving, drops whole old segments (counted)
/// and the spool stays within max_bytes + one segment.
#[tokio::test(flavor = "multi_thread")]
async fn full_spool_drop_oldest_stays_bounded() {
    let broker = Mosquitto::start().await;
    let spool = format!("{TINY_SPOOL}overflow = \"drop_oldest\"\n");
    let collector = Collector::start_spooled(&broker.url, &dead_influx_url(), &spool).await;
    let report = simulate(
        &broker.url,
        &["--schools", "6", "--rate", "0", "--count", "2000"],
    )
    .await;

    let metrics = wait_until(
        "dropped records to be counted",
        Duration::from_secs(20),
        || async {
            let m = collector.metrics().await;
            let done =
                sum_metric(&m, "schoolnet_collector_messages_total", &[]) as u64 == report.sent;
            let dropped = sum_metric(&m, "schoolnet_spool_dropped_records_total", &[]);
            (done && dropped > 0.0).then_some(m)
        },
    )
    .await;
    let dropped = sum_metric(&metrics, "schoolnet_spool_dropped_records_total", &[]);
    let bytes = sum_metric(&metrics, "schoolnet_spool_bytes", &[]) as u64;
    let on_disk: u64 = spool_segments(&collector.spool_dir())
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    eprintln!("drop_oldest: {dropped} records dropped, spool {bytes} bytes ({on_disk} on disk)");
    assert!(
        bytes <= 65536 + 16384 && on_disk <= 65536 + 16384,
        "{bytes} / {on_disk}"
    );
    assert!(collector.is_ready().await, "still connected and serving");
    // Shown: one WARN for the episode, the full gauge with its cause; intake
    // never blocked.
    let m = collector.metrics().await;
    assert_eq!(
        sum_metric(&m, "schoolnet_spool_full", &["cause=\"max_bytes\""]),
        1.0
    );
    assert_eq!(sum_metric(&m, "schoolnet_spool_blocked", &[]), 0.0);
    assert_eq!(sum_metric(&m, "schoolnet_spool_max_bytes", &[]), 65536.0);
    assert_eq!(
        collector
            .process
            .count_lines("spool full: it holds spool.max_bytes; overflow = drop_oldest"),
        1
    );
}

/// A full spool with `overflow = block` while InfluxDB is down: intake waits
/// (the broker keeps the unacknowledged messages), the process keeps
/// serving, and once InfluxDB is up every simulated point arrives.
#[tokio::test(flavor = "multi_thread")]
async fn full_spool_block_loses_nothing() {
    let broker = Mosquitto::start().await;
    let mut influx = influx().await;
    tokio::task::block_in_place(|| influx.stop());
    let spool = format!("{TINY_SPOOL}overflow = \"block\"\n");
    let collector = Collector::start_spooled(&broker.url, &influx.url, &spool).await;
    let report = simulate(
        &broker.url,
        &["--schools", "6", "--rate", "0", "--count", "2000"],
    )
    .await;

    wait_until("the spool to fill up", Duration::from_secs(20), || async {
        sum_metric(&collector.metrics().await, "schoolnet_spool_bytes", &[])
            >= (65536 - 16384) as f64
    })
    .await;
    sleep(Duration::from_secs(2)).await;
    let m = collector.metrics().await;
    let processed = sum_metric(&m, "schoolnet_collector_messages_total", &[]) as u64;
    let bytes = sum_metric(&m, "schoolnet_spool_bytes", &[]) as u64;
    eprintln!(
        "block: blocked at {processed} of {} messages, spool {bytes} bytes",
        report.sent
    );
    assert!(processed < report.sent, "intake is blocked");
    assert!(bytes <= 65536, "{bytes}");
    assert_eq!(
        sum_metric(&m, "schoolnet_spool_full", &["cause=\"max_bytes\""]),
        1.0
    );
    assert_eq!(sum_metric(&m, "schoolnet_spool_blocked", &[]), 1.0);
    assert!(sum_metric(&m, "schoolnet_spool_blocked_seconds_total", &[]) > 0.0);
    assert_eq!(
        collector
            .process
            .count_lines("spool full: it holds spool.max_bytes; overflow = block"),
        1
    );
    assert!(
        collector.is_ready().await,
        "still connected and serving while blocked"
    );

    influx.start_again().await;
    let t = Instant::now();
    wait_for_points(
        &influx,
        &expected_points(&report),
        Accounting::Exact,
        DELIVERY,
    )
    .await;
    eprintln!(
        "block: every point delivered {:.1}s after InfluxDB was back",
        t.elapsed().as_secs_f64()
    );
    // The episode ends (10 s without hitting the limit), with a WARN.
    wait_until(
        "the full episode to end",
        Duration::from_secs(30),
        || async {
            let m = collector.metrics().await;
            let full = sum_metric(&m, "schoolnet_spool_full", &[]);
            let blocked = sum_metric(&m, "schoolnet_spool_blocked", &[]);
            (full == 0.0 && blocked == 0.0).then_some(())
        },
    )
    .await;
    assert_eq!(collector.process.count_lines("spool no longer full"), 1);
}

/// SIGTERM mid-stream: the collector drains and exits 0 within 20 s; a
/// restarted collector delivers the rest (the broker queued it for the
/// persistent session).
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_stream_drains_and_restart_completes() {
    let broker = Mosquitto::builder().persistence(true).start().await;
    let influx = influx().await;
    let mut collector = Collector::start_spooled(&broker.url, &influx.url, "").await;
    let sim = spawn_simulate(&broker.url, &PACED);
    sleep(Duration::from_millis(1500)).await;
    let t = Instant::now();
    collector.kill(signal::SIGTERM);
    let status = collector.process.wait_exit(Duration::from_secs(30)).await;
    let drain = t.elapsed();
    eprintln!(
        "sigterm: exited ({status}) {:.2}s after the signal",
        drain.as_secs_f64()
    );
    assert!(status.success(), "{}", collector.process.log_tail());
    assert!(drain < Duration::from_secs(20), "{drain:?}");
    assert!(collector.process.stderr().contains("stopped cleanly"));
    let left = spool_backlog(&collector);
    let written = total_points(&influx_points(&influx, "schoolnet").await.unwrap());
    eprintln!("sigterm: {written} points written before exit, {left} records left in the spool");

    collector.restart().await;
    let expected = expected_points(&sim.await.unwrap());
    let got = wait_for_points(&influx, &expected, Accounting::NoneMissing, DELIVERY).await;
    let surplus = check_points(&got, &expected, Accounting::NoneMissing).unwrap();
    eprintln!(
        "sigterm: all {} points present after restart, {surplus} duplicate probe points",
        total_points(&expected)
    );
}

/// A torn spool tail: records accumulate (InfluxDB unreachable), every
/// message is committed and acknowledged, the collector is SIGKILLed and the
/// last record cut in half. The restart reports the torn tail, and InfluxDB
/// (now reachable) ends with exactly the simulated points minus the torn
/// record's: the broker had its acknowledgement, so nothing redelivers it.
#[tokio::test(flavor = "multi_thread")]
async fn torn_spool_tail_is_cut_and_the_rest_delivered() {
    let broker = Mosquitto::start().await;
    let influx = influx().await;
    let dead = dead_influx_url();
    let mut collector = Collector::start_spooled(&broker.url, &dead, "").await;
    let report = simulate(
        &broker.url,
        &["--schools", "6", "--rate", "0", "--count", "600"],
    )
    .await;
    wait_until(
        "every message processed",
        Duration::from_secs(20),
        || async { messages_ok(&collector).await == report.sent },
    )
    .await;
    // Acks follow the commit of an idle pipeline at once; leave them time to
    // reach the broker so that the torn record is not redelivered.
    sleep(Duration::from_secs(1)).await;
    collector.kill(signal::SIGKILL);
    collector.process.wait_exit(Duration::from_secs(5)).await;

    let segment = spool_segments(&collector.spool_dir())
        .pop()
        .expect("a segment");
    let (offset, len, payload) = last_spool_record(&segment);
    let torn = line_points(&payload);
    assert!(
        total_points(&torn) > 0,
        "the last record holds samples: {payload:?}"
    );
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(offset + len / 2).unwrap();
    let inspect = spool_inspect(&collector);
    let last = inspect["segments"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["problem"]["kind"], "torn", "{inspect:#}");
    assert_eq!(last["problem"]["offset"], offset, "{inspect:#}");

    collector.edit_config(
        &format!("url = \"{dead}\""),
        &format!("url = \"{}\"", influx.url),
    );
    collector.restart().await;
    let log = collector.process.stderr();
    let warn = log
        .lines()
        .find(|l| l.contains("spool recovered"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        warn.contains("WARN") && warn.contains("torn write"),
        "{warn}"
    );
    eprintln!(
        "torn tail: {} points in the torn record; log: {warn}",
        total_points(&torn)
    );

    // The operator sees the cut in /metrics, not only in the log: the torn
    // tail's bytes (the half record left on disk), and nothing counted lost.
    let m = collector.metrics().await;
    assert_eq!(
        sum_metric(&m, "schoolnet_spool_recovered_torn_bytes", &[]),
        (len / 2) as f64
    );
    assert_eq!(
        sum_metric(&m, "schoolnet_spool_recovered_lost_records", &[]),
        0.0
    );

    let expected = minus(&expected_points(&report), &torn);
    wait_for_points(&influx, &expected, Accounting::Exact, DELIVERY).await;
    wait_until(
        "the spool backlog to be 0",
        Duration::from_secs(10),
        || async {
            let m = collector.metrics().await;
            sum_metric(&m, "schoolnet_spool_backlog_records", &["sink=\"influx\""]) == 0.0
        },
    )
    .await;
}

async fn messages_ok(collector: &Collector) -> u64 {
    sum_metric(
        &collector.metrics().await,
        "schoolnet_collector_messages_total",
        &[],
    ) as u64
}

/// `schoolnet spool inspect --dir <spool> --format json`.
fn spool_inspect(collector: &Collector) -> serde_json::Value {
    let out = std::process::Command::new(BIN)
        .args(["spool", "inspect", "--format", "json", "--dir"])
        .arg(collector.spool_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `influx` sink's backlog in records, from `spool inspect`.
fn spool_backlog(collector: &Collector) -> u64 {
    let inspect = spool_inspect(collector);
    let sinks = inspect["sinks"].as_array().cloned().unwrap_or_default();
    let sink = sinks.iter().find(|s| s["name"] == "influx");
    let sink = sink.unwrap_or_else(|| panic!("no cursor of sink `influx`: {inspect:#}"));
    sink["backlog_records"].as_u64().unwrap()
}
