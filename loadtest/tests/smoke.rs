//! The harness's smoke run, part of the suite: `schoolnet-load --smoke`
//! against real servers with a tiny count must produce a complete table
//! and JSON with sane numbers. No timing thresholds: numbers belong in the
//! benchmark (README, "Performance"), not in a test on a shared machine.
//!
//! Needs the `schoolnet` binary built next to this one (`cargo build
//! --workspace`, which scripts/test.sh does first).

use std::process::Command;

use serde_json::Value;

/// Runs `schoolnet-load --smoke ARGS --json FILE`; its table (stdout) and
/// the JSON report, or a failure with both of its outputs.
fn smoke(args: &[&str]) -> (String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("load.json");
    let out = Command::new(env!("CARGO_BIN_EXE_schoolnet-load"))
        .arg("--smoke")
        .args(args)
        .arg("--json")
        .arg(&json)
        .env("SCHOOLNET_BIN", testkit::schoolnet_bin())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "schoolnet-load --smoke {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    (stdout, report)
}

#[test]
fn smoke_run_produces_a_complete_table() {
    let (stdout, report) = smoke(&[]);
    for want in [
        "commit ",
        "schoolnet-load publish --connections",
        "mosquitto_sub (C",
        "rumqttc subscriber",
        "schoolnet run (spool + DB)",
        "schoolnet run (DB, no spool)",
        "ceiling at QoS 0: the generator published",
        "ceiling at QoS 1: the generator published",
        "publish → /metrics",
        "publish → database",
        "schoolnet demo",
        "max_inflight_messages 1000",
    ] {
        assert!(stdout.contains(want), "table lacks {want:?}:\n{stdout}");
    }

    let rows = report["rows"].as_array().unwrap();
    let consumers: Vec<(String, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["consumer"].as_str().unwrap().to_string(),
                r["qos"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = [
        ("MosquittoSub", 0),
        ("Baseline", 0),
        ("Collector", 0),
        ("MosquittoSub", 1),
        ("Baseline", 1),
        ("Collector", 1),
        ("CollectorNoSpool", 1),
    ]
    .iter()
    .map(|(c, q)| (c.to_string(), *q))
    .collect();
    assert_eq!(consumers, want, "one row per consumer and QoS");
    for row in rows {
        let rate = row["rate"].as_f64().unwrap();
        let ratio = row["ratio_to_baseline"].as_f64().unwrap();
        let ratio_rumqttc = row["ratio_to_rumqttc"].as_f64().unwrap();
        let cpu = row["cpu_s_per_million"].as_f64().unwrap();
        let rss = row["peak_rss_mib"].as_f64().unwrap();
        let publish_rate = row["publish_rate"].as_f64().unwrap();
        let broker = row["broker_core_share"].as_f64().unwrap();
        assert!(rate.is_finite() && rate > 0.0, "{row}");
        assert!(ratio.is_finite() && ratio > 0.0, "{row}");
        assert!(ratio_rumqttc.is_finite() && ratio_rumqttc > 0.0, "{row}");
        assert!(cpu.is_finite() && cpu >= 0.0, "{row}");
        assert!(rss > 1.0 && rss < 4096.0, "{row}");
        assert!(publish_rate.is_finite() && publish_rate > 0.0, "{row}");
        // At most what the broker's one thread can (a short run may show 0 ticks).
        assert!((0.0..1.5).contains(&broker), "{row}");
        if row["consumer"] == "MosquittoSub" {
            assert_eq!(ratio, 1.0, "{row}");
        }
    }
    assert!(!report["commit"].as_str().unwrap().is_empty());
    // At QoS 1 nothing may be lost on the way: every published message was
    // processed, by mosquitto_sub, the subscriber and the collector (with
    // and without the spool).
    for run in report["runs"].as_array().unwrap() {
        if run["qos"] == 1 {
            assert_eq!(run["received"], run["sent"], "{run}");
            assert_eq!(run["sent"], 2000, "{run}");
        }
    }
    let latency = &report["latency"];
    assert!(latency["probes"].as_u64().unwrap() > 0, "{latency}");
    assert!(
        !latency["metrics_ms"].as_array().unwrap().is_empty(),
        "{latency}"
    );
    assert!(
        !latency["db_ms"].as_array().unwrap().is_empty(),
        "{latency}"
    );
    assert!(report["demo_peak_rss_mib"].as_f64().unwrap() > 1.0);
}

/// The other generator, `schoolnet simulate` over several rumqttc
/// connections: at QoS 1 every message reaches every consumer (the
/// simulator waits for each connection's acks).
#[test]
fn smoke_run_with_the_simulator_over_two_connections() {
    let (stdout, report) = smoke(&[
        "--qos",
        "1",
        "--latency-secs",
        "0",
        "--demo-secs",
        "0",
        "--generator",
        "simulate",
        "--connections",
        "2",
    ]);
    assert!(
        stdout.contains("schoolnet simulate --rate 0 --connections 2"),
        "{stdout}"
    );
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4, "mosquitto_sub, rumqttc, collector ± spool");
    for run in runs {
        assert_eq!(run["sent"], 2000, "{run}");
        assert_eq!(run["received"], 2000, "{run}");
    }
}

/// `--consumer-connections 1,2`: the rumqttc subscriber also runs with its
/// intake split over two connections (each device on one, issue #21 D), in
/// the same repeat as the single-connection run. At QoS 1 the split loses
/// and duplicates nothing: its filters cover every topic the generator
/// publishes, each on one connection.
#[test]
fn smoke_run_with_the_intake_split_over_two_connections() {
    let (stdout, report) = smoke(&[
        "--qos",
        "1",
        "--latency-secs",
        "0",
        "--demo-secs",
        "0",
        "--consumer-connections",
        "1,2",
        "--consumers",
        "mosquitto-sub,baseline,collector",
    ]);
    assert!(
        stdout.contains("rumqttc subscriber (counts only), ×2 conns"),
        "{stdout}"
    );
    let variants: Vec<(String, u64)> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["sent"], 2000, "{r}");
            assert_eq!(r["received"], 2000, "{r}");
            (
                r["consumer"].as_str().unwrap().to_string(),
                r["consumer_connections"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = [
        ("MosquittoSub", 1),
        ("Baseline", 1),
        ("Baseline", 2),
        ("Collector", 1),
    ]
    .iter()
    .map(|(c, n)| (c.to_string(), *n))
    .collect();
    assert_eq!(variants, want, "the collector keeps one connection");
    for row in report["rows"].as_array().unwrap() {
        assert!(row["ratio_to_baseline"].as_f64().unwrap() > 0.0, "{row}");
    }
}
