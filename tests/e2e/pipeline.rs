//! End to end on real servers: simulator → mosquitto → `schoolnet run` →
//! InfluxDB 1.x (v1 API) and VictoriaMetrics (v2 API), with exact point
//! counts per measurement and school; Prometheus scraping the exporter.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{
    expected_points, rows_by_school, simulate, sum_metric, vm_points_by_school, Collector,
};
use testkit::{wait_until, InfluxDb1, Mosquitto, Prometheus, VictoriaMetrics};

const MEASUREMENTS: [&str; 5] = ["interface", "optical", "system", "probe", "clients"];

/// Every simulated message becomes exactly the points the simulator says it
/// should, per measurement and school, in InfluxDB 1.x through the v1 API.
#[tokio::test(flavor = "multi_thread")]
async fn simulator_to_influxdb_v1_exact_counts() {
    let broker = Mosquitto::start().await;
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    // The production path: QoS 1 with manual acks after the spool commit.
    let spool = tempfile::tempdir().unwrap();
    let collector = Collector::start(
        &broker.url,
        None,
        &format!(
            "[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\n\n[spool]\ndir = \"{}\"\n",
            influx.url,
            spool.path().display()
        ),
    )
    .await;

    let report = simulate(
        &broker.url,
        &["--schools", "12", "--rate", "0", "--count", "3000"],
    )
    .await;
    assert_eq!(report.sent, 3000);
    let expected = expected_points(&report);
    assert!(
        expected.len() >= 4,
        "the simulator exercised several measurements: {expected:?}"
    );

    wait_until(
        "InfluxDB to hold every simulated point",
        Duration::from_secs(30),
        || {
            let influx = &influx;
            let expected = &expected;
            async move {
                let mut got: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
                for m in MEASUREMENTS {
                    let result = influx
                        .query(
                            "schoolnet",
                            &format!("SELECT * FROM \"{m}\" GROUP BY school"),
                        )
                        .await;
                    let rows = rows_by_school(&result);
                    if !rows.is_empty() {
                        got.insert(m.to_string(), rows);
                    }
                }
                if &got == expected {
                    Ok(())
                } else {
                    Err(format!("expected {expected:?}\n got {got:?}"))
                }
            }
        },
    )
    .await;

    // The collector accounted for every message and rejected none.
    let metrics = collector.metrics().await;
    let ok = sum_metric(
        &metrics,
        "schoolnet_collector_messages_total",
        &["outcome=\"ok\""],
    );
    assert_eq!(ok as u64, report.sent, "every message has outcome ok");
    assert_eq!(
        sum_metric(&metrics, "schoolnet_collector_rejected_total", &[]),
        0.0
    );
    let written = sum_metric(&metrics, "schoolnet_influx_points_written_total", &[]) as u64;
    let total: u64 = expected.values().flat_map(|s| s.values()).sum();
    assert_eq!(written, total, "points written as counted by the collector");

    // Identity from the inventory: a router's interface points carry its
    // school's district and the role.
    let r = influx
        .query("schoolnet", "SELECT count(rx_bytes) FROM interface WHERE school = 'NX-001' GROUP BY district, role, device")
        .await;
    let tags = &r["results"][0]["series"][0]["tags"];
    assert_eq!(tags["district"], "Babek");
    assert_eq!(tags["role"], "router");
    assert_eq!(tags["device"], "rtr-nx-001");
}

/// The same traffic into VictoriaMetrics through the InfluxDB v2 write API.
#[tokio::test(flavor = "multi_thread")]
async fn simulator_to_victoriametrics_v2_exact_counts() {
    let broker = Mosquitto::start().await;
    let vm = VictoriaMetrics::start().await;
    let _collector = Collector::start(
        &broker.url,
        None,
        &format!(
            "[influx]\nurl = \"{}\"\napi = \"v2\"\norg = \"schoolnet\"\nbucket = \"schoolnet\"\nbatch_max_age_ms = 200\n",
            vm.url
        ),
    )
    .await;

    // VictoriaMetrics keeps millisecond timestamps. JSON and bare-value
    // payloads carry no device time, so the collector stamps them on receipt;
    // at full speed two messages of one device can land in the same
    // millisecond and merge. A paced run keeps every point distinct.
    let report = simulate(
        &broker.url,
        &["--schools", "9", "--rate", "500", "--count", "1500"],
    )
    .await;
    let expected = expected_points(&report);

    wait_until(
        "VictoriaMetrics to hold every simulated point",
        Duration::from_secs(30),
        || {
            let vm = &vm;
            let expected = &expected;
            async move {
                vm.flush().await;
                let mut got: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
                for m in MEASUREMENTS {
                    let lines = vm.try_export(&format!("{{__name__=~\"{m}_.+\"}}")).await?;
                    let points = vm_points_by_school(&lines);
                    if !points.is_empty() {
                        got.insert(m.to_string(), points);
                    }
                }
                if &got == expected {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("expected {expected:?}\n got {got:?}"))
                }
            }
        },
    )
    .await;
}

/// Prometheus scrapes the exporter: every inventory school is there, and
/// interface series of simulated schools are queryable through its API.
#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_school_and_interface_series() {
    let broker = Mosquitto::start().await;
    let collector = Collector::start(&broker.url, None, "").await;
    let target = collector.exporter.trim_start_matches("http://").to_string();
    let prometheus = Prometheus::builder()
        .scrape("schoolnet", [target.as_str()])
        .start()
        .await;

    simulate(
        &broker.url,
        &["--schools", "6", "--rate", "0", "--count", "600"],
    )
    .await;

    prometheus
        .wait_for_value("count(schoolnet_school_up)", 216.0, Duration::from_secs(20))
        .await;
    prometheus
        .wait_for_value(
            "count(count by (school) (schoolnet_interface_receive_bytes_total))",
            6.0,
            Duration::from_secs(20),
        )
        .await;
    let r = prometheus
        .query("schoolnet_interface_receive_bytes_total{school=\"NX-002\",interface=\"wan\"}")
        .await;
    let series = &r[0]["metric"];
    assert_eq!(series["district"], "Babek", "{r}");
    assert_eq!(series["device"], "rtr-nx-002", "{r}");
    let info = prometheus
        .query("schoolnet_school_info{school=\"NX-001\"}")
        .await;
    assert_eq!(info[0]["metric"]["district"], "Babek", "{info}");
    assert!(
        info[0]["metric"]["uplink_mbps"].as_str().is_some(),
        "{info}"
    );
    // The exposition passes the Prometheus project's own lint.
    collector.assert_promtool_clean().await;
    let metrics = collector.metrics().await;
    let build = format!(
        "schoolnet_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(metrics.contains(&build), "no {build} in /metrics");
}
