//! The field corpus (collector/tests/corpus/) replayed end to end: every
//! recorded or documented payload is published, byte for byte and in order,
//! by the real `mosquitto_pub` to a real mosquitto; `schoolnet run` (built-in
//! routes) writes to a real InfluxDB 1.x; the points InfluxDB then holds and
//! the series `/metrics` shows are compared exactly with each case's
//! `expected.influx` and `expected.metrics`, and the message accounting with
//! `expected-outcomes.metrics`.
//!
//! Timestamps: the payloads keep their recorded device times (collectd's from
//! the recording, Telegraf's from its READMEs, 2017–2019). The collector
//! rejects times older than `[limits] max_past_s` (7 days by default), so
//! this test raises that limit to 40 years instead of rewriting payloads:
//! what is replayed is exactly what was recorded.
//!
//! `SCHOOLNET_CORPUS_BLESS=1` writes the expectation files from what the run
//! produced instead of comparing (review the diff before committing it).

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::{sum_metric, Collector, ROOT};
use testkit::{tool, wait_until, InfluxDb1, Mosquitto};

const MEASUREMENTS: [&str; 5] = ["interface", "optical", "system", "probe", "clients"];

fn corpus_dir() -> PathBuf {
    PathBuf::from(ROOT).join("collector/tests/corpus")
}

/// One replayable case: a directory of `<NNN>.topic` + `<NNN>.payload`.
struct Case {
    dir: PathBuf,
    messages: Vec<(String, PathBuf)>,
    /// The devices its topics name (second topic level in every built-in route).
    devices: BTreeSet<String>,
}

fn cases() -> Vec<Case> {
    let mut dirs = Vec::new();
    let mut stack = vec![corpus_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "payload") && !dirs.contains(&dir) {
                dirs.push(dir.clone());
            }
        }
    }
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let mut payloads: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "payload"))
                .collect();
            payloads.sort();
            let messages: Vec<(String, PathBuf)> = payloads
                .into_iter()
                .map(|p| {
                    let topic = std::fs::read_to_string(p.with_extension("topic"))
                        .unwrap_or_else(|e| panic!("{}: no .topic beside it: {e}", p.display()));
                    (topic.trim_end().to_string(), p)
                })
                .collect();
            let devices = messages
                .iter()
                .map(|(t, _)| t.split('/').nth(1).expect("topic has a device").to_string())
                .collect();
            Case {
                dir,
                messages,
                devices,
            }
        })
        .collect()
}

/// Publishes one payload file exactly (`-f`), QoS 1, and waits for the PUBACK.
fn publish(mosquitto_pub: &Path, port: u16, topic: &str, payload: &Path) {
    let out = std::process::Command::new(mosquitto_pub)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            topic,
            "-f",
        ])
        .arg(payload)
        .output()
        .expect("run mosquitto_pub");
    assert!(
        out.status.success(),
        "mosquitto_pub {topic}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every point of every canonical measurement as sorted line protocol:
/// tags and fields in key order, integers with `i`, floats in Rust's
/// shortest round-trip form, nanosecond timestamps.
async fn influx_lines(influx: &InfluxDb1) -> anyhow::Result<Vec<(String, String)>> {
    let mut lines = Vec::new();
    for m in MEASUREMENTS {
        let keys = influx
            .try_query("schoolnet", &format!("SHOW FIELD KEYS FROM \"{m}\""))
            .await?;
        let mut types = BTreeMap::new();
        for row in rows(&keys) {
            types.insert(
                row[0].as_str().unwrap().to_string(),
                row[1].as_str().unwrap().to_string(),
            );
        }
        if types.is_empty() {
            continue;
        }
        let body = influx
            .try_query("schoolnet", &format!("SELECT * FROM \"{m}\""))
            .await?;
        let series = &body["results"][0]["series"][0];
        let columns: Vec<&str> = series["columns"]
            .as_array()
            .map(|c| c.iter().map(|c| c.as_str().unwrap()).collect())
            .unwrap_or_default();
        for row in series["values"].as_array().into_iter().flatten() {
            let mut tags = BTreeMap::new();
            let mut fields = BTreeMap::new();
            let mut time = 0i64;
            let mut device = String::new();
            for (col, v) in columns.iter().zip(row.as_array().unwrap()) {
                if v.is_null() {
                    continue;
                }
                if *col == "time" {
                    time = v.as_i64().unwrap();
                } else if let Some(ty) = types.get(*col) {
                    let text = match (ty.as_str(), v) {
                        ("integer", v) => format!("{}i", v.as_i64().unwrap()),
                        ("float", v) => format!("{}", v.as_f64().unwrap()),
                        (_, v) => v.to_string(),
                    };
                    fields.insert(col.to_string(), text);
                } else {
                    // A field written between SHOW FIELD KEYS and the
                    // SELECT is not in `types` yet: ask again.
                    let Some(v) = v.as_str() else {
                        anyhow::bail!("{m}.{col} appeared after SHOW FIELD KEYS");
                    };
                    let v = v.to_string();
                    if *col == "device" {
                        device = v.clone();
                    }
                    tags.insert(col.to_string(), v);
                }
            }
            let mut line = m.to_string();
            for (k, v) in &tags {
                let _ = write!(line, ",{k}={}", escape(v));
            }
            let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = write!(line, " {} {time}", fields.join(","));
            lines.push((device, line));
        }
    }
    lines.sort();
    Ok(lines)
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace('=', "\\=")
        .replace(' ', "\\ ")
}

fn rows(body: &Value) -> Vec<Vec<Value>> {
    body["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
        .map(|r| r.as_array().cloned().unwrap_or_default())
        .collect()
}

/// Series whose value is the wall-clock receive time, not a function of
/// the corpus: left out of the comparison.
const RECEIVE_TIME_SERIES: &str = "schoolnet_device_last_seen_timestamp_seconds{";

/// `/metrics` series (not comments) labelled with one of `devices`, sorted.
fn device_series(metrics: &str, devices: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(RECEIVE_TIME_SERIES))
        .filter(|l| {
            devices
                .iter()
                .any(|d| l.contains(&format!("device=\"{d}\"")))
        })
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

/// The message accounting: non-zero `messages_total` and `rejected_total`.
fn outcome_series(metrics: &str) -> Vec<String> {
    let mut out: Vec<String> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("schoolnet_collector_messages_total{")
                || l.starts_with("schoolnet_collector_rejected_total{")
        })
        .filter(|l| !l.ends_with(" 0"))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

fn text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Compares (or, blessing, writes) one expectation file; returns a problem.
fn check(path: &Path, got: &str, bless: bool) -> Option<String> {
    if bless {
        std::fs::write(path, got).unwrap();
        return None;
    }
    let want = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (generate with SCHOOLNET_CORPUS_BLESS=1 and review)",
            path.display()
        )
    });
    if want == got {
        return None;
    }
    let want: BTreeSet<&str> = want.lines().collect();
    let got: BTreeSet<&str> = got.lines().collect();
    let missing: Vec<&&str> = want.difference(&got).collect();
    let extra: Vec<&&str> = got.difference(&want).collect();
    Some(format!(
        "{}:\n  missing: {missing:#?}\n  unexpected: {extra:#?}",
        path.display()
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn corpus_replays_to_exact_points_and_series() {
    let mosquitto_pub = tool("/usr/bin/mosquitto_pub", "mosquitto-clients");
    let bless = std::env::var_os("SCHOOLNET_CORPUS_BLESS").is_some();
    let cases = cases();
    assert!(cases.len() >= 6, "corpus cases found: {}", cases.len());
    let total: usize = cases.iter().map(|c| c.messages.len()).sum();

    let broker = Mosquitto::start().await;
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    // Every family the payloads fill (expected.metrics): detail = "full".
    let collector = Collector::start_with_env(
        &broker.url,
        Some(&corpus_dir().join("inventory")),
        &format!(
            "[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\n\n\
             # The corpus keeps its recorded device times (2017-2026).\n\
             [limits]\nmax_past_s = 1262304000\n",
            influx.url
        ),
        &[("SCHOOLNET_EXPORTER__DETAIL", "full")],
    )
    .await;

    for case in &cases {
        for (topic, payload) in &case.messages {
            publish(&mosquitto_pub, broker.port, topic, payload);
        }
    }

    // Every message accounted for, then every point written.
    wait_until(
        "the collector to account for every corpus message",
        Duration::from_secs(60),
        || {
            let collector = &collector;
            async move {
                let n = collector
                    .metric_sum("schoolnet_collector_messages_total", &[])
                    .await as usize;
                if n >= total {
                    Ok(())
                } else {
                    Err(format!("{n} of {total} messages"))
                }
            }
        },
    )
    .await;
    let expected_points: usize = if bless {
        0
    } else {
        cases
            .iter()
            .map(|c| {
                std::fs::read_to_string(c.dir.join("expected.influx"))
                    .map(|t| t.lines().count())
                    .unwrap_or(0)
            })
            .sum()
    };
    let _enough = wait_until(
        "InfluxDB to hold the corpus points",
        Duration::from_secs(60),
        || {
            let influx = &influx;
            async move {
                let lines = influx_lines(influx).await.map_err(|e| e.to_string())?;
                // Blessing: wait for the writer to go quiet instead.
                if (bless && !lines.is_empty()) || (!bless && lines.len() >= expected_points) {
                    Ok(lines)
                } else {
                    Err(format!("{} of {expected_points} points", lines.len()))
                }
            }
        },
    )
    .await;
    // Then once more after several write batches (200 ms each), so that a
    // point written late (a surplus) is seen too.
    tokio::time::sleep(Duration::from_secs(if bless { 3 } else { 1 })).await;
    let points = influx_lines(&influx).await.unwrap();
    let metrics = collector.metrics().await;

    let mut problems = Vec::new();
    let mut claimed = BTreeSet::new();
    for case in &cases {
        let mine: Vec<String> = points
            .iter()
            .filter(|(d, _)| case.devices.contains(d))
            .map(|(_, l)| l.clone())
            .collect();
        claimed.extend(case.devices.iter().cloned());
        problems.extend(check(
            &case.dir.join("expected.influx"),
            &text(&mine),
            bless,
        ));
        problems.extend(check(
            &case.dir.join("expected.metrics"),
            &text(&device_series(&metrics, &case.devices)),
            bless,
        ));
    }
    let stray: Vec<&String> = points
        .iter()
        .filter(|(d, _)| !claimed.contains(d))
        .map(|(_, l)| l)
        .collect();
    assert!(stray.is_empty(), "points of no case: {stray:#?}");
    problems.extend(check(
        &corpus_dir().join("expected-outcomes.metrics"),
        &text(&outcome_series(&metrics)),
        bless,
    ));
    let accounted = sum_metric(&metrics, "schoolnet_collector_messages_total", &[]) as usize;
    assert_eq!(accounted, total, "every message has exactly one outcome");
    assert!(
        problems.is_empty(),
        "corpus mismatch:\n{}",
        problems.join("\n")
    );
}
