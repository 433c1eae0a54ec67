//! `schoolnet run` as the harness runs it: a generated config (the sample
//! inventory, the production `[spool]` + `[influx]` setup, QoS 0 or 1) and
//! its `/metrics`, from which the harness reads how many messages it has
//! processed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use testkit::{free_port, ChildProcess};

/// The repository (for the sample inventory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("loadtest is inside the repository")
        .to_path_buf()
}

/// The sample inventory directory (216 schools).
pub fn inventory_dir() -> PathBuf {
    repo_root().join("deploy/inventory")
}

/// How the collector is configured for a measurement.
#[derive(Debug, Clone)]
pub struct CollectorSetup {
    pub broker_url: String,
    pub qos: u8,
    /// The `[influx]` section (empty: no history).
    pub influx_section: String,
    /// Spool in this directory (`None`: no `[spool]`).
    pub spool_dir: Option<PathBuf>,
    /// Extra TOML appended verbatim.
    pub extra: String,
}

/// A running `schoolnet run`.
pub struct Collector {
    pub process: ChildProcess,
    /// `http://127.0.0.1:<port>`.
    pub exporter: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Collector {
    /// Writes the config, starts `schoolnet run` and waits until `/readyz`
    /// says it is connected to the broker (and so subscribed).
    pub async fn start(setup: &CollectorSetup) -> anyhow::Result<Collector> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let inv = inventory_dir();
        let spool = setup
            .spool_dir
            .as_ref()
            .map(|d| format!("[spool]\ndir = \"{}\"\n", d.display()))
            .unwrap_or_default();
        let config = format!(
            "[mqtt]\nurl = \"{url}\"\nclient_id = \"schoolnet-load-{port}\"\nqos = {qos}\nclean_session = false\n\n\
             [inventory]\nschools = \"{s}\"\ndevices = \"{d}\"\n\n\
             [exporter]\nlisten = \"127.0.0.1:{port}\"\n\n{influx}\n{spool}\n{extra}\n",
            url = setup.broker_url,
            qos = setup.qos,
            s = inv.join("schools.csv").display(),
            d = inv.join("devices.csv").display(),
            influx = setup.influx_section,
            extra = setup.extra,
        );
        let path = dir.path().join("schoolnet.toml");
        std::fs::write(&path, config)?;
        let process = ChildProcess::builder(testkit::schoolnet_bin())
            .name("schoolnet-run")
            .args(["run", "--config", path.to_str().context("utf-8 path")?])
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .spawn();
        let collector = Collector {
            process,
            exporter: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            _dir: dir,
        };
        collector.wait_ready(Duration::from_secs(30)).await?;
        Ok(collector)
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let url = format!("{}/readyz", self.exporter);
        loop {
            if let Ok(r) = self.http.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if start.elapsed() > timeout {
                bail!(
                    "schoolnet run not ready within {timeout:?}:\n{}",
                    self.process.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let url = format!("{}/metrics", self.exporter);
        Ok(self.http.get(url).send().await?.text().await?)
    }

    /// Messages processed so far: `schoolnet_collector_messages_total`
    /// summed over routes and outcomes (every message has one outcome).
    pub async fn processed(&self) -> anyhow::Result<u64> {
        Ok(sum_metric(&self.metrics().await?, "schoolnet_collector_messages_total") as u64)
    }

    /// SIGTERM and wait for the clean stop (bounded), so its spool and
    /// sockets are gone before the next measurement.
    pub async fn stop(mut self) {
        self.process.kill(testkit::signal::SIGTERM);
        let _ = tokio::time::timeout(
            Duration::from_secs(20),
            self.process.wait_exit(Duration::from_secs(20)),
        )
        .await;
    }
}

/// Sum of every sample of metric `name` (exact name, any labels).
pub fn sum_metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{' | b' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The value of the first sample of `name` whose label text contains every
/// `k="v"` in `labels`.
pub fn find_metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{' | b' '))
        })
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_finds_samples() {
        let text = "# HELP x\nschoolnet_collector_messages_total{route=\"a\",outcome=\"ok\"} 3\n\
                    schoolnet_collector_messages_total{route=\"b\",outcome=\"ok\"} 4\n\
                    schoolnet_collector_messages_total_other 100\n\
                    schoolnet_probe_rtt_seconds{device=\"r1\",target=\"t\"} 0.042\n";
        assert_eq!(sum_metric(text, "schoolnet_collector_messages_total"), 7.0);
        assert_eq!(
            find_metric(text, "schoolnet_probe_rtt_seconds", &["target=\"t\""]),
            Some(0.042)
        );
        assert_eq!(
            find_metric(text, "schoolnet_probe_rtt_seconds", &["x=\"y\""]),
            None
        );
    }
}
