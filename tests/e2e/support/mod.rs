//! Shared helpers for the end-to-end tests: a `schoolnet run` child with a
//! generated config, the simulator as a child with a JSON report,
//! InfluxDB/VictoriaMetrics point counting per measurement and school, and
//! reading a DOM dumped by headless Chromium ([`dom`]).

#![allow(dead_code)] // each test binary uses a different subset

pub mod dom;
mod points;
mod simulator;

#[allow(unused_imports)]
pub use points::*;
#[allow(unused_imports)]
pub use simulator::*;

use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::{free_port, ChildProcess};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const BIN: &str = env!("CARGO_BIN_EXE_schoolnet");

/// A running `schoolnet run` with its config directory (config file
/// `<dir>/schoolnet.toml`; [`Collector::start_spooled`] puts the spool in
/// `<dir>/spool`).
pub struct Collector {
    pub process: ChildProcess,
    pub exporter: String,
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    /// Processes replaced by [`Collector::restart`]: kept so that their logs
    /// are printed if the test fails.
    previous: Vec<ChildProcess>,
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
        Collector::start_in(dir, broker_url, inventory, extra, env).await
    }

    /// Starts `schoolnet run` with its config in `dir`.
    pub async fn start_in(
        dir: tempfile::TempDir,
        broker_url: &str,
        inventory: Option<&Path>,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Collector {
        let port = free_port();
        let path = dir.path().join("schoolnet.toml");
        std::fs::write(&path, config(broker_url, inventory, port, extra)).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let collector = Collector {
            process: spawn_run(&path, &env),
            exporter: format!("http://127.0.0.1:{port}"),
            dir,
            env,
            previous: Vec::new(),
        };
        collector.wait_ready(Duration::from_secs(20)).await;
        collector
    }

    /// The production setup of the fault tests: the sample inventory, QoS 1
    /// with a persistent session (`client_id = "collector-<port>"`, kept
    /// across [`Collector::restart`]), the spool in `<dir>/spool` with
    /// `spool_extra` keys, and InfluxDB 1.x at `influx_url` (database
    /// `schoolnet`, v1 API, 200 ms batches).
    pub async fn start_spooled(broker_url: &str, influx_url: &str, spool_extra: &str) -> Collector {
        let dir = tempfile::tempdir().unwrap();
        let extra = format!(
            "[influx]\nurl = \"{influx_url}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\n\n\
             [spool]\ndir = \"{}\"\n{spool_extra}\n",
            dir.path().join("spool").display()
        );
        Collector::start_in(dir, broker_url, None, &extra, &[]).await
    }

    /// The config file `schoolnet run` was started with.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("schoolnet.toml")
    }

    /// The spool directory of [`Collector::start_spooled`].
    pub fn spool_dir(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// Replaces `from` by `to` in the config file (read at the next
    /// [`Collector::restart`]); panics if `from` is not there.
    pub fn edit_config(&self, from: &str, to: &str) {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} not in {text}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }

    /// Sends `signal` (`testkit::signal::*`) to `schoolnet run`.
    pub fn kill(&mut self, signal: i32) {
        self.process.kill(signal);
    }

    /// SIGKILLs `schoolnet run` if it still runs, then starts it again with
    /// the same config file (same client id, spool and exporter port) and
    /// waits until it is connected to the broker.
    pub async fn restart(&mut self) {
        self.process.kill_now();
        let new = spawn_run(&self.config_path(), &self.env);
        self.previous
            .push(std::mem::replace(&mut self.process, new));
        self.wait_ready(Duration::from_secs(20)).await;
    }

    /// Waits until `/readyz` answers 200 (connected to the broker) and
    /// returns how long that took; panics after `timeout` or if the process
    /// exits.
    pub async fn wait_ready(&self, timeout: Duration) -> Duration {
        let ready = format!("{}/readyz", self.exporter);
        let start = std::time::Instant::now();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        loop {
            let state = match client.get(&ready).send().await {
                Ok(r) if r.status().is_success() => return start.elapsed(),
                Ok(r) => format!("readyz {}", r.status()),
                Err(e) => e.to_string(),
            };
            assert!(
                start.elapsed() < timeout,
                "schoolnet run not ready (connected to the broker) within {timeout:?}: {state}\n{}",
                self.process.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether `/readyz` answers 200 now.
    pub async fn is_ready(&self) -> bool {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let r = client.get(format!("{}/readyz", self.exporter)).send().await;
        r.is_ok_and(|r| r.status().is_success())
    }

    /// `/api/dead-letters`: the last rejected messages, newest first.
    pub async fn dead_letters(&self) -> serde_json::Value {
        reqwest::get(format!("{}/api/dead-letters", self.exporter))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Asserts that `promtool check metrics` (the Prometheus project's lint
    /// of an exposition: names, suffixes, help text) finds nothing in this
    /// collector's `/metrics`.
    pub async fn assert_promtool_clean(&self) {
        if let Err(report) = testkit::promtool_check_metrics(&self.metrics().await) {
            panic!("promtool check metrics on /metrics:\n{report}");
        }
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

/// `schoolnet run --config <config>` as a child (log level info).
fn spawn_run(config: &Path, env: &[(String, String)]) -> ChildProcess {
    let mut builder = ChildProcess::builder(BIN)
        .name("schoolnet-run")
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        builder = builder.env(k, v);
    }
    builder.spawn()
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

/// State and cause ("" when none) per school.
pub type States = std::collections::BTreeMap<String, (String, String)>;

/// `(state, cause)` per school from the series of `schoolnet_school_state`
/// that are 1 (the current state, at either detail level).
pub fn school_states(metrics: &str) -> States {
    metrics
        .lines()
        .filter(|l| l.starts_with("schoolnet_school_state{") && l.ends_with("} 1"))
        .map(|l| {
            let label = |k: &str| {
                let from = l.find(&format!("{k}=\"")).unwrap() + k.len() + 2;
                l[from..from + l[from..].find('"').unwrap()].to_string()
            };
            (label("school"), (label("state"), label("cause")))
        })
        .collect()
}

/// Publishes `payload` on `topic` at QoS 1 with the real `mosquitto_pub`.
pub fn mosquitto_pub(broker_url: &str, topic: &str, payload: &str) {
    let port = broker_url.rsplit(':').next().unwrap();
    let out = std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
        ])
        .output()
        .expect("mosquitto_pub (Debian mosquitto-clients): run sudo scripts/setup-test-deps.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
