//! End-to-end latency under a steady load: `schoolnet simulate --rate R`
//! (1,000 msg/s by default) keeps the production setup busy (QoS 1, spool,
//! InfluxDB 1.x, shipped batching defaults) while the harness publishes a
//! probe every [`PROBE_EVERY`]: `probe/<router>/bench-latency/rtt_ms` with
//! a new value k (a bare-value route, so the sample is stamped on receipt).
//!
//! For each probe it measures, from just before the publish:
//! - publish → `/metrics`: until `schoolnet_probe_rtt_seconds{target=
//!   "bench-latency"}` shows k/1000, polling every [`POLL_EVERY`];
//! - publish → database: until InfluxDB's `last(rtt_s)` of that series is
//!   k/1000, polling every [`POLL_EVERY`].
//!
//! Each number is an upper bound by at most one poll interval plus one
//! HTTP round trip. InfluxDB 1.x is used here whatever `--db` says: it
//! answers a point from the moment its write returns, while
//! VictoriaMetrics buffers new samples for about a second before a query
//! sees them, which would measure VictoriaMetrics rather than schoolnet.

use std::time::{Duration, Instant};

use anyhow::Context;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use serde::Serialize;

use crate::collector::{find_metric, inventory_dir, Collector, CollectorSetup};
use crate::servers::{self, BrokerTuning, Db, DbKind};
use crate::stats::percentile;

pub const PROBE_EVERY: Duration = Duration::from_millis(200);
pub const POLL_EVERY: Duration = Duration::from_millis(10);
const TARGET: &str = "bench-latency";
const GIVE_UP: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize)]
pub struct LatencyResult {
    pub background_rate: f64,
    pub probes: usize,
    pub poll_ms: f64,
    /// Milliseconds per probe; a probe not seen within 10 s is left out and
    /// counted in the `_missed` field.
    pub metrics_ms: Vec<f64>,
    pub metrics_missed: usize,
    pub db_ms: Vec<f64>,
    pub db_missed: usize,
}

impl LatencyResult {
    pub fn metrics_p(&self, p: f64) -> Option<f64> {
        percentile(&self.metrics_ms, p)
    }
    pub fn db_p(&self, p: f64) -> Option<f64> {
        percentile(&self.db_ms, p)
    }
}

/// The first router of the sample inventory: the probe's device.
fn probe_device() -> anyhow::Result<String> {
    let text = std::fs::read_to_string(inventory_dir().join("devices.csv"))?;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|c| c.get(2) == Some(&"router"))
        .map(|c| c[0].to_string())
        .context("no router in the sample inventory")
}

pub async fn run(tuning: BrokerTuning, secs: f64, rate: f64) -> anyhow::Result<LatencyResult> {
    let broker = servers::broker(tuning).await;
    let db = Db::start(DbKind::Influxdb).await;
    let spool = tempfile::tempdir()?;
    let collector = Collector::start(&CollectorSetup {
        broker_url: broker.url.clone(),
        qos: 1,
        influx_section: db.influx_section(),
        spool_dir: Some(spool.path().join("spool")),
        extra: String::new(),
    })
    .await?;
    let mut sim = tokio::process::Command::new(testkit::schoolnet_bin())
        .args(["simulate", "--broker", &broker.url, "--quiet", "--qos", "1"])
        .args([
            "--rate",
            &rate.to_string(),
            "--duration",
            &(secs + 5.0).to_string(),
        ])
        .args(["--client-id", "schoolnet-load-background"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let before = collector.processed().await?;
    let t_before = Instant::now();

    let device = probe_device()?;
    let mut opts = MqttOptions::new("schoolnet-load-probe", "127.0.0.1", broker.port);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(opts, 64);
    let driver = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    tokio::time::sleep(Duration::from_secs(2)).await;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let topic = format!("probe/{device}/{TARGET}/rtt_ms");
    let labels = [
        format!("device=\"{device}\""),
        format!("target=\"{TARGET}\""),
    ];
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let mut result = LatencyResult {
        background_rate: 0.0,
        probes: 0,
        poll_ms: POLL_EVERY.as_secs_f64() * 1e3,
        metrics_ms: Vec::new(),
        metrics_missed: 0,
        db_ms: Vec::new(),
        db_missed: 0,
    };
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut k: u64 = 0;
    while Instant::now() < end {
        k += 1;
        let want = k as f64 / 1000.0;
        let slot = Instant::now() + PROBE_EVERY;
        let t0 = Instant::now();
        client
            .publish(&topic, QoS::AtLeastOnce, false, k.to_string())
            .await?;
        let seen_metrics = async {
            while t0.elapsed() < GIVE_UP {
                if let Ok(text) = collector.metrics().await {
                    let v = find_metric(&text, "schoolnet_probe_rtt_seconds", &labels);
                    if v.is_some_and(|v| (v - want).abs() < 1e-9) {
                        return Some(t0.elapsed());
                    }
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
            None
        };
        let seen_db = async {
            while t0.elapsed() < GIVE_UP {
                if let Ok(Some(v)) = db.latest_probe_rtt(&http, TARGET).await {
                    if (v - want).abs() < 1e-9 {
                        return Some(t0.elapsed());
                    }
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
            None
        };
        let (m, d) = tokio::join!(seen_metrics, seen_db);
        result.probes += 1;
        match m {
            Some(t) => result.metrics_ms.push(t.as_secs_f64() * 1e3),
            None => result.metrics_missed += 1,
        }
        match d {
            Some(t) => result.db_ms.push(t.as_secs_f64() * 1e3),
            None => result.db_missed += 1,
        }
        tokio::time::sleep_until(slot.into()).await;
    }
    let after = collector.processed().await?;
    result.background_rate = (after - before) as f64 / t_before.elapsed().as_secs_f64();
    driver.abort();
    let _ = sim.kill().await;
    collector.stop().await;
    Ok(result)
}
