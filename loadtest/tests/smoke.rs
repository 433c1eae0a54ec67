//! The harness's smoke run, part of the suite: `schoolnet-load --smoke`
//! against real servers with a tiny count must produce a complete table
//! and JSON with sane numbers. No timing thresholds: numbers belong in the
//! benchmark (README, "Performance"), not in a test on a shared machine.
//!
//! Needs the `schoolnet` binary built next to this one (`cargo build
//! --workspace`, which scripts/test.sh does first).

use std::process::Command;

use serde_json::Value;

#[test]
fn smoke_run_produces_a_complete_table() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("load.json");
    let out = Command::new(env!("CARGO_BIN_EXE_schoolnet-load"))
        .args(["--smoke", "--json"])
        .arg(&json)
        .env("SCHOOLNET_BIN", testkit::schoolnet_bin())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schoolnet-load --smoke failed:\n{stdout}\n{stderr}"
    );
    for want in [
        "plain subscriber",
        "schoolnet run",
        "publish → /metrics",
        "publish → database",
        "schoolnet demo",
        "max_inflight_messages 1000",
    ] {
        assert!(stdout.contains(want), "table lacks {want:?}:\n{stdout}");
    }

    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        4,
        "baseline and collector at QoS 0 and 1: {rows:?}"
    );
    for row in rows {
        let rate = row["rate"].as_f64().unwrap();
        let ratio = row["ratio_to_baseline"].as_f64().unwrap();
        let cpu = row["cpu_s_per_million"].as_f64().unwrap();
        let rss = row["peak_rss_mib"].as_f64().unwrap();
        assert!(rate.is_finite() && rate > 0.0, "{row}");
        assert!(ratio.is_finite() && ratio > 0.0, "{row}");
        assert!(cpu.is_finite() && cpu >= 0.0, "{row}");
        assert!(rss > 1.0 && rss < 4096.0, "{row}");
    }
    // At QoS 1 nothing may be lost on the way: every published message was
    // processed, by the subscriber and by the collector.
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
