//! RouterOS end to end on real servers: the JSON the shipped script
//! (deploy/devices/routeros) publishes, sent verbatim through a real
//! mosquitto into `schoolnet run`, fills every system gauge in `/metrics`;
//! a script with other key names is visible there as `partial`, counted per
//! missing field and dead-lettered with the paths it lacked.

use crate::support::{self, mosquitto_pub};

use std::time::Duration;

use support::{sum_metric, Collector, ROOT};
use testkit::{wait_until, Mosquitto};

const DEVICE: &str = "rtr-nx-001";

pub(crate) fn fixture(name: &str) -> String {
    let path = format!("{ROOT}/deploy/devices/routeros/fixtures/{name}");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_string()
}

/// The topic the script publishes on, from its `:local topic` line.
pub(crate) fn script_topic(device: &str) -> String {
    let path = format!("{ROOT}/deploy/devices/routeros/schoolnet-system.rsc");
    let script = std::fs::read_to_string(&path).unwrap();
    let line = script
        .lines()
        .find(|l| l.starts_with(":local topic"))
        .expect("the script sets :local topic");
    let parts: Vec<&str> = line.split('"').collect();
    format!("{}{device}{}", parts[1], parts[3])
}

/// The value of `name{…device="rtr-nx-001"…}` in `/metrics`, if present.
fn device_gauge(metrics: &str, name: &str) -> Option<f64> {
    let device = format!("device=\"{DEVICE}\"");
    metrics
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(&device))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn routeros_script_payload_fills_every_system_gauge() {
    let broker = Mosquitto::start().await;
    // Memory and temperature are exported at detail = "full" only.
    let collector = Collector::start_with_env(
        &broker.url,
        None,
        "",
        &[("SCHOOLNET_EXPORTER__DETAIL", "full")],
    )
    .await;

    let topic = script_topic(DEVICE);
    assert_eq!(topic, format!("mikrotik/{DEVICE}/system"));
    mosquitto_pub(&broker.url, &topic, &fixture("schoolnet-system.json"));

    // What the fixture says, in canonical units.
    let expected = [
        (
            "schoolnet_device_uptime_seconds",
            (4 * 86_400 + 22 * 3600 + 16 * 60 + 8) as f64,
        ),
        ("schoolnet_device_cpu_usage_ratio", 0.07),
        ("schoolnet_device_memory_total_bytes", 134_217_728.0),
        (
            "schoolnet_device_memory_used_bytes",
            (134_217_728 - 83_378_176) as f64,
        ),
        ("schoolnet_device_temperature_celsius", 46.0),
    ];
    let metrics = wait_until(
        "every system gauge of the script's payload in /metrics",
        Duration::from_secs(20),
        || {
            let collector = &collector;
            async move {
                let m = collector.metrics().await;
                let got: Vec<(&str, Option<f64>)> = expected
                    .iter()
                    .map(|(name, _)| (*name, device_gauge(&m, name)))
                    .collect();
                let want: Vec<(&str, Option<f64>)> =
                    expected.iter().map(|(n, v)| (*n, Some(*v))).collect();
                if got == want {
                    Ok(m)
                } else {
                    Err(format!("got {got:?}"))
                }
            }
        },
    )
    .await;
    let route = "route=\"mikrotik-system\"";
    assert_eq!(
        sum_metric(
            &metrics,
            "schoolnet_collector_messages_total",
            &[route, "outcome=\"ok\""]
        ),
        1.0
    );
    assert_eq!(
        sum_metric(
            &metrics,
            "schoolnet_collector_mapping_missing_total",
            &[route]
        ),
        0.0,
        "no mapped path missing"
    );
    assert_eq!(
        sum_metric(&metrics, "schoolnet_collector_rejected_total", &[]),
        0.0
    );

    // The field report: a script with its own key names. Uptime is stored,
    // the rest is counted as missing, per field, and dead-lettered.
    mosquitto_pub(
        &broker.url,
        &topic,
        r#"{"uptime":"4d22:17:08","cpu":9,"freeMemory":83378176,"totalMemory":134217728}"#,
    );
    let partial = ["route=\"mikrotik-system\"", "outcome=\"partial\""];
    wait_until(
        "the mismatched script counted as partial",
        Duration::from_secs(20),
        || {
            let collector = &collector;
            async move {
                let n = collector
                    .metric_sum("schoolnet_collector_messages_total", &partial)
                    .await;
                if n == 1.0 {
                    Ok(())
                } else {
                    Err(format!("partial = {n}"))
                }
            }
        },
    )
    .await;
    let metrics = collector.metrics().await;
    for field in ["cpu_ratio", "mem_used_bytes", "mem_total_bytes"] {
        let field = format!("field=\"{field}\"");
        assert_eq!(
            sum_metric(
                &metrics,
                "schoolnet_collector_mapping_missing_total",
                &[route, &field]
            ),
            1.0,
            "{field}"
        );
    }
    assert_eq!(
        sum_metric(
            &metrics,
            "schoolnet_collector_rejected_total",
            &[route, "reason=\"missing_field\""]
        ),
        1.0
    );
    assert_eq!(
        device_gauge(&metrics, "schoolnet_device_uptime_seconds"),
        Some((4 * 86_400 + 22 * 3600 + 17 * 60 + 8) as f64),
        "what the payload did carry was stored"
    );
    let dead = collector.dead_letters().await;
    let newest = &dead["entries"][0];
    assert_eq!(newest["reason"], "missing_field", "{dead}");
    let detail = newest["detail"].as_str().unwrap();
    assert!(
        detail.contains("cpu_ratio (`cpu-load`)") && detail.contains("`free-memory`"),
        "{detail}"
    );
}
