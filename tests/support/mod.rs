//! Shared helpers for the end-to-end tests: a `schoolnet run` child with a
//! generated config, the simulator as a child with a JSON report, and
//! InfluxDB/VictoriaMetrics point counting per measurement and school.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schoolnet::simulate::SimulateReport;
use serde_json::Value;
use testkit::{free_port, wait_until, ChildProcess};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const BIN: &str = env!("CARGO_BIN_EXE_schoolnet");

/// A running `schoolnet run` with its config directory.
pub struct Collector {
    pub process: ChildProcess,
    pub exporter: String,
    pub dir: tempfile::TempDir,
}

/// Config text for `schoolnet run`: the sample inventory unless `inventory`
/// names a directory with schools.csv/devices.csv; `extra` is appended.
pub fn config(
    broker_url: &str,
    inventory: Option<&Path>,
    exporter_port: u16,
    extra: &str,
) -> String {
    let inv = inventory
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(ROOT).join("deploy/inventory"));
    format!(
        "[mqtt]\nurl = \"{broker_url}\"\nclient_id = \"collector-{exporter_port}\"\n\n\
         [inventory]\nschools = \"{s}\"\ndevices = \"{d}\"\n\n\
         [exporter]\nlisten = \"127.0.0.1:{exporter_port}\"\n\n{extra}\n",
        s = inv.join("schools.csv").display(),
        d = inv.join("devices.csv").display(),
    )
}

impl Collector {
    /// Starts `schoolnet run` and waits until it is connected to the broker.
    pub async fn start(broker_url: &str, inventory: Option<&Path>, extra: &str) -> Collector {
        Collector::start_with_env(broker_url, inventory, extra, &[]).await
    }

    /// [`Collector::start`] with extra environment (`SCHOOLNET_SECTION__KEY`
    /// overrides, secrets).
    pub async fn start_with_env(
        broker_url: &str,
        inventory: Option<&Path>,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Collector {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let path = dir.path().join("schoolnet.toml");
        std::fs::write(&path, config(broker_url, inventory, port, extra)).unwrap();
        let mut builder = ChildProcess::builder(BIN)
            .name("schoolnet-run")
            .args(["run", "--config", path.to_str().unwrap()])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            builder = builder.env(k, v);
        }
        let process = builder.spawn();
        let exporter = format!("http://127.0.0.1:{port}");
        let collector = Collector {
            process,
            exporter,
            dir,
        };
        let ready = format!("{}/readyz", collector.exporter);
        wait_until(
            "schoolnet run to be ready (connected to the broker)",
            Duration::from_secs(20),
            || {
                let ready = ready.clone();
                async move {
                    match reqwest::get(&ready).await {
                        Ok(r) if r.status().is_success() => Ok(()),
                        Ok(r) => Err(format!("readyz {}", r.status())),
                        Err(e) => Err(e.to_string()),
                    }
                }
            },
        )
        .await;
        collector
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.exporter))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Sum of every sample of `name` whose labels contain all of `labels`.
    pub async fn metric_sum(&self, name: &str, labels: &[&str]) -> f64 {
        sum_metric(&self.metrics().await, name, labels)
    }
}

/// Sums samples of metric `name` (exact name) whose label text contains every
/// `key="value"` in `labels`.
pub fn sum_metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{') | Some(b' '))
        })
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Runs `schoolnet simulate` to completion and returns its report.
pub async fn simulate(broker_url: &str, args: &[&str]) -> SimulateReport {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let mut all = vec![
        "simulate",
        "--broker",
        broker_url,
        "--quiet",
        "--report-json",
        report.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = tokio::process::Command::new(BIN)
        .args(&all)
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "schoolnet simulate failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: SimulateReport = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report.errors, 0, "simulator reported errors");
    report
}

/// Expected points as `measurement → school → count`, without zero entries.
pub fn expected_points(report: &SimulateReport) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (m, schools) in &report.expected_points {
        for (school, n) in schools {
            if *n > 0 {
                out.entry(m.to_string())
                    .or_default()
                    .insert(school.clone(), *n);
            }
        }
    }
    out
}

/// Points per school in one InfluxDB measurement, counted as rows of
/// `SELECT *` (a point is a row whatever fields it carries).
pub fn rows_by_school(result: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for series in result["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let school = series["tags"]["school"].as_str().unwrap_or("").to_string();
        let rows = series["values"].as_array().map_or(0, |v| v.len() as u64);
        *out.entry(school).or_insert(0) += rows;
    }
    out
}

/// Points per school from VictoriaMetrics' export of one measurement: VM
/// stores each field as its own series `<measurement>_<field>`, so a point is
/// a distinct (device, key, timestamp) across the measurement's fields.
pub fn vm_points_by_school(lines: &[Value]) -> BTreeMap<String, u64> {
    let mut points: BTreeMap<String, std::collections::BTreeSet<(String, String, i64)>> =
        BTreeMap::new();
    for line in lines {
        let m = &line["metric"];
        let school = m["school"].as_str().unwrap_or("").to_string();
        let device = m["device"].as_str().unwrap_or("").to_string();
        let key = m["interface"]
            .as_str()
            .or(m["target"].as_str())
            .unwrap_or("")
            .to_string();
        for ts in line["timestamps"].as_array().into_iter().flatten() {
            points.entry(school.clone()).or_default().insert((
                device.clone(),
                key.clone(),
                ts.as_i64().unwrap(),
            ));
        }
    }
    points
        .into_iter()
        .map(|(k, v)| (k, v.len() as u64))
        .collect()
}
