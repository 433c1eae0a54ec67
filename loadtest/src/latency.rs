//! End-to-end latency under a steady load: `schoolnet simulate --rate R`
//! (1,000 msg/s by default) keeps the production setup busy (QoS 1, spool,
//! InfluxDB 1.x, shipped batching defaults) while the harness publishes a
//! probe every [`PROBE_EVERY`] (plus 0–50 ms of jitter, on a fixed
//! schedule): `probe/<router>/bench-latency/rtt_ms` with value k = 1, 2, …
//! (a bare-value route, so the sample is stamped on receipt).
//!
//! Two pollers, every [`POLL_EVERY`], read the newest probe value each
//! consumer shows and time every probe k from just before its publish:
//! - publish → `/metrics`: `schoolnet_probe_rtt_seconds{target=
//!   "bench-latency"}` ≥ k/1000;
//! - publish → database: InfluxDB's `last(rtt_s)` of that series ≥ k/1000.
//!
//! Each number is an upper bound by at most one poll interval plus one
//! HTTP round trip. InfluxDB 1.x is used here whatever `--db` says: it
//! answers a point from the moment its write returns, while
//! VictoriaMetrics buffers new samples for about a second before a query
//! sees them, which would measure VictoriaMetrics rather than schoolnet.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
/// How long after the last probe the pollers keep looking.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Serialize)]
pub struct LatencyResult {
    pub background_rate: f64,
    pub probes: usize,
    /// How often `/metrics` and the database are polled (each number is
    /// an upper bound by up to this plus one HTTP round trip).
    pub poll_ms: f64,
    /// Milliseconds per probe; a probe not seen by the end ([`DRAIN`]
    /// after the last was sent) is left out and counted in `_missed`.
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

    let topic = format!("probe/{device}/{TARGET}/rtt_ms");
    let published: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let labels = vec![
        format!("device=\"{device}\""),
        format!("target=\"{TARGET}\""),
    ];
    let exporter = collector.exporter.clone();
    let metrics_poller = tokio::spawn(poll_latest(published.clone(), stop.clone(), move |http| {
        let (url, labels) = (format!("{exporter}/metrics"), labels.clone());
        async move {
            let text = http.get(url).send().await?.text().await?;
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            Ok(find_metric(&text, "schoolnet_probe_rtt_seconds", &labels))
        }
    }));
    let db = Arc::new(db);
    let db_poller = {
        let db = db.clone();
        tokio::spawn(poll_latest(published.clone(), stop.clone(), move |http| {
            let db = db.clone();
            async move { db.latest_probe_rtt(&http, TARGET).await }
        }))
    };

    // Probes on a fixed schedule with a little jitter, never waiting for
    // the previous one: a probe sent right after the last became visible
    // would always start a fresh InfluxDB batch and wait its whole age.
    let mut jitter = Rng(std::process::id() as u64);
    let start = Instant::now();
    let mut k: u64 = 0;
    while start.elapsed().as_secs_f64() < secs {
        k += 1;
        published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Instant::now());
        client
            .publish(&topic, QoS::AtLeastOnce, false, k.to_string())
            .await?;
        let next = start + PROBE_EVERY * k as u32 + Duration::from_millis(jitter.below(50));
        tokio::time::sleep_until(next.into()).await;
    }
    // Let the last probes arrive, then stop the pollers.
    tokio::time::sleep(DRAIN).await;
    stop.store(true, Ordering::Relaxed);
    let metrics_ms = metrics_poller.await??;
    let db_ms = db_poller.await??;
    let mut result = LatencyResult {
        background_rate: 0.0,
        probes: k as usize,
        poll_ms: POLL_EVERY.as_secs_f64() * 1e3,
        metrics_missed: k as usize - metrics_ms.len(),
        metrics_ms,
        db_missed: k as usize - db_ms.len(),
        db_ms,
    };
    let after = collector.processed().await?;
    result.background_rate = (after - before) as f64 / t_before.elapsed().as_secs_f64();
    driver.abort();
    let _ = sim.kill().await;
    collector.stop().await;
    Ok(result)
}

/// Polls `latest()` (the probe value a consumer shows now) every
/// [`POLL_EVERY`] until `stop`; returns, per probe seen, milliseconds from
/// its publish to the first poll that showed it or a later probe (probes
/// are processed in order, so a later value means this one is through).
async fn poll_latest<F, Fut>(
    published: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    latest: F,
) -> anyhow::Result<Vec<f64>>
where
    F: Fn(reqwest::Client) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<f64>>>,
{
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let mut seen_ms = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if let Ok(Some(v)) = latest(http.clone()).await {
            let now = Instant::now();
            let upto = (v * 1000.0).round() as usize;
            let published = published.lock().unwrap_or_else(|p| p.into_inner());
            while seen_ms.len() < upto.min(published.len()) {
                let t0 = published[seen_ms.len()];
                seen_ms.push(now.duration_since(t0).as_secs_f64() * 1e3);
            }
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    Ok(seen_ms)
}

/// SplitMix64 for the probe schedule's jitter.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}
