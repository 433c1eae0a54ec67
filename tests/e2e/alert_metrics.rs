//! Every metric the alert and recording rules read is in the first
//! `/metrics` scrape of a real `schoolnet run` (production setup: broker,
//! InfluxDB, spool), before any device has published: a counter that only
//! appears with its first event makes `increase()`/`rate()` miss that event
//! and an alert on it silently never fire. Where a rule selects label values
//! (`result=~"retryable|…"`, `role="olt"`), a series with each value must be
//! there too.
//!
//! Metric names are read from the rule expressions and the label and
//! annotation templates' queries: every schoolnet metric is named
//! `schoolnet_…`, so the tokens with that prefix (and no `:`, which marks a
//! recording rule's output) are the metrics read. The only other metric the
//! rules read is Prometheus' own `up`.

use std::collections::{BTreeMap, BTreeSet};

use testkit::{InfluxDb1, Mosquitto};

use crate::support;

const RULE_FILES: [&str; 2] = [
    "deploy/prometheus/rules/schoolnet-alerts.yml",
    "deploy/prometheus/rules/schoolnet-recording.yml",
];

/// Series that by nature cannot exist before an event, with the reason.
/// Keep this list short and explained: anything else an alert reads must
/// be exported (at 0 where it counts) from start-up.
const EXCEPTIONS: &[(&str, &str)] = &[
    // Unix time of a device's last telemetry: there is none yet (the rules
    // read it only to print "last heard from", and treat its absence as
    // "not heard from since the exporter started").
    (
        "schoolnet_device_last_seen_timestamp_seconds",
        "no telemetry yet",
    ),
    // Per-series readings of devices: a device that has not reported has no
    // value to export (exporting 0 would be a fake reading: 0 dBm, 0 loss).
    ("schoolnet_probe_loss_ratio", "a reading, none yet"),
    (
        "schoolnet_interface_utilization_ratio",
        "a reading, none yet",
    ),
    ("schoolnet_interface_oper_up", "a reading, none yet"),
    ("schoolnet_optical_receive_power_dbm", "a reading, none yet"),
    (
        "schoolnet_interface_receive_bytes_total",
        "a device counter, none yet",
    ),
    (
        "schoolnet_interface_transmit_bytes_total",
        "a device counter, none yet",
    ),
];

/// Series that exist from start-up, but only with the label values of the
/// current state: a rule selecting another value (`state="down"`) finds a
/// series once a school is in that state, and needs none before (it reads
/// the series that are 1; at `[exporter] detail = "standard"` only those
/// are exported).
const CURRENT_STATE_ONLY: &[&str] = &["schoolnet_school_state"];

/// Prometheus text: metric name → label sets of its samples.
fn series(text: &str) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let mut out: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => continue,
        };
        let mut labels = BTreeMap::new();
        if let Some(body) = rest.strip_prefix('{').and_then(|r| r.rsplit_once('}')) {
            // Label values of the metrics the rules select on hold no `",`.
            for pair in body.0.split("\",") {
                if let Some((k, v)) = pair.split_once("=\"") {
                    labels.insert(k.to_string(), v.trim_end_matches('"').to_string());
                }
            }
        }
        out.entry(name.to_string()).or_default().push(labels);
    }
    out
}

/// Each metric the rules read, with the (label, value) pairs some selector
/// of it requires (`label="v"`, or every alternative of `label=~"a|b"`).
fn metrics_read_by_rules() -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut out: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for file in RULE_FILES {
        let text = std::fs::read_to_string(format!("{}/{file}", support::ROOT)).unwrap();
        let rules: serde_json::Value = serde_saphyr::from_str(&text).expect("rules are YAML");
        for group in rules["groups"].as_array().expect("groups") {
            for rule in group["rules"].as_array().expect("rules") {
                let mut texts = vec![rule["expr"].as_str().expect("expr").to_string()];
                // Label templates query too (the school alerts' `name`).
                for templated in ["labels", "annotations"] {
                    if let Some(values) = rule[templated].as_object() {
                        let values = values.values().filter_map(|v| v.as_str());
                        texts.extend(values.map(String::from));
                    }
                }
                for t in texts {
                    collect_selectors(&t, &mut out);
                }
            }
        }
    }
    out
}

fn collect_selectors(text: &str, out: &mut BTreeMap<String, BTreeSet<(String, String)>>) {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut rest = text;
    while let Some(start) = rest.find("schoolnet_") {
        let before = rest[..start].chars().next_back();
        let token_len = rest[start..]
            .find(|c: char| !is_name_char(c))
            .unwrap_or(rest.len() - start);
        let token = &rest[start..start + token_len];
        let after = &rest[start + token_len..];
        rest = after;
        if before.is_some_and(is_name_char) || token.contains(':') {
            continue; // part of a recording rule's name
        }
        let required = out.entry(token.to_string()).or_default();
        let Some(body) = after.strip_prefix('{').and_then(|b| b.split_once('}')) else {
            continue;
        };
        for matcher in body.0.split(',') {
            let matcher = matcher.trim();
            let (label, values) = if let Some((l, v)) = matcher.split_once("=~") {
                (l, v)
            } else if let Some((l, v)) = matcher.split_once('=') {
                if l.ends_with('!') {
                    continue;
                }
                (l, v)
            } else {
                continue;
            };
            let values = values.trim().trim_matches('"');
            // Only plain values and alternations; `%q` is a template's
            // placeholder for a label of the alert.
            if values.contains('%') || values.is_empty() {
                continue;
            }
            for v in values.split('|') {
                if v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    required.insert((label.trim().to_string(), v.to_string()));
                }
            }
        }
    }
}

#[test]
fn rule_selectors_are_parsed() {
    let mut out = BTreeMap::new();
    collect_selectors(
        "sum(rate(schoolnet_influx_writes_total{result=~\"retryable|rejected\"}[5m])) / \
         district:schoolnet_schools_up:sum and schoolnet_device_up{role=\"olt\", cause!=\"x\"} \
         printf `max(schoolnet_exporter_stale_factor and on(job) schoolnet_school_up{school=%q})`",
        &mut out,
    );
    let pairs = |v: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        out,
        BTreeMap::from([
            (
                "schoolnet_influx_writes_total".to_string(),
                pairs(&[("result", "retryable"), ("result", "rejected")])
            ),
            ("schoolnet_device_up".to_string(), pairs(&[("role", "olt")])),
            ("schoolnet_exporter_stale_factor".to_string(), pairs(&[])),
            ("schoolnet_school_up".to_string(), pairs(&[])),
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_the_rules_read_is_in_the_first_scrape() {
    let broker = Mosquitto::start().await;
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    let collector = support::Collector::start_spooled(&broker.url, &influx.url, "").await;
    // The first scrape, before any device has published.
    let text = collector.metrics().await;
    let present = series(&text);
    let exceptions: BTreeSet<&str> = EXCEPTIONS.iter().map(|(name, _)| *name).collect();
    let read = metrics_read_by_rules();
    assert!(
        read.len() >= 25,
        "too few metrics parsed from the rules: {read:?}"
    );
    let mut missing = Vec::new();
    for (name, required) in &read {
        if exceptions.contains(name.as_str()) {
            continue;
        }
        let Some(samples) = present.get(name) else {
            missing.push(format!("{name} (no series at all)"));
            continue;
        };
        if CURRENT_STATE_ONLY.contains(&name.as_str()) {
            continue;
        }
        for (label, value) in required {
            if !samples.iter().any(|s| s.get(label) == Some(value)) {
                missing.push(format!("{name}{{{label}=\"{value}\"}}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "read by the rules but not in the first /metrics scrape:\n  {}\n--- /metrics ---\n{text}",
        missing.join("\n  ")
    );
    // Every exception is still read by a rule (or the list is stale).
    for name in exceptions {
        assert!(
            read.contains_key(name),
            "exception {name} is read by no rule: drop it"
        );
    }
    // The standard process metrics are there too.
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
        "process_max_fds",
    ] {
        assert!(present.contains_key(name), "{name} missing from /metrics");
    }
    collector.assert_promtool_clean().await;
}
