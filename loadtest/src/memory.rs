//! Memory over time: the soak (the production setup under a steady load
//! for minutes, RSS sampled every few seconds: is it flat?) and the peak
//! RSS of `schoolnet demo` (its target is ≤ 64 MB).

use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use testkit::{free_port, ChildProcess};

use crate::collector::{sum_metric, Collector, CollectorSetup};
use crate::procstat::{peak_rss_mib, rss_mib};
use crate::servers::{self, BrokerTuning, Db};
use crate::stats::slope;

#[derive(Debug, Clone, Serialize)]
pub struct SoakResult {
    pub seconds: f64,
    pub rate: f64,
    pub processed: u64,
    /// (seconds since start, RSS MiB).
    pub rss: Vec<(f64, f64)>,
    /// Least-squares slope of RSS over the second half, MiB per minute.
    pub second_half_slope_mib_per_min: f64,
    pub peak_rss_mib: f64,
    /// Spool records not yet written to the database at the end.
    pub backlog_at_end: f64,
}

impl SoakResult {
    /// RSS at the first sample after one minute (or the first sample).
    pub fn rss_after_1min(&self) -> f64 {
        self.rss
            .iter()
            .find(|(t, _)| *t >= 60.0)
            .or(self.rss.first())
            .map_or(f64::NAN, |s| s.1)
    }
    pub fn rss_at_end(&self) -> f64 {
        self.rss.last().map_or(f64::NAN, |s| s.1)
    }
}

pub async fn soak(
    tuning: BrokerTuning,
    db: &Db,
    work: &std::path::Path,
    secs: f64,
    rate: f64,
) -> anyhow::Result<SoakResult> {
    let broker = servers::broker(tuning).await;
    let collector = Collector::start(&CollectorSetup {
        broker_url: broker.url.clone(),
        qos: 1,
        influx_section: db.influx_section(),
        spool_dir: Some(work.join("soak-spool")),
        extra: String::new(),
    })
    .await?;
    let mut sim = tokio::process::Command::new(testkit::schoolnet_bin())
        .args(["simulate", "--broker", &broker.url, "--quiet", "--qos", "1"])
        .args(["--rate", &rate.to_string(), "--duration", &secs.to_string()])
        .args(["--client-id", "schoolnet-load-soak"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let every = Duration::from_secs_f64((secs / 120.0).clamp(1.0, 10.0));
    let start = Instant::now();
    let mut rss = Vec::new();
    while start.elapsed().as_secs_f64() < secs {
        rss.push((start.elapsed().as_secs_f64(), rss_mib(collector.pid())?));
        tokio::time::sleep(every).await;
    }
    rss.push((start.elapsed().as_secs_f64(), rss_mib(collector.pid())?));
    let _ = sim.wait().await;
    let text = collector.metrics().await?;
    let processed = sum_metric(&text, "schoolnet_collector_messages_total") as u64;
    let backlog_at_end = sum_metric(&text, "schoolnet_spool_backlog_records");
    let half: Vec<&(f64, f64)> = rss.iter().filter(|(t, _)| *t >= secs / 2.0).collect();
    let xs: Vec<f64> = half.iter().map(|s| s.0 / 60.0).collect();
    let ys: Vec<f64> = half.iter().map(|s| s.1).collect();
    let result = SoakResult {
        seconds: start.elapsed().as_secs_f64(),
        rate: processed as f64 / start.elapsed().as_secs_f64(),
        processed,
        second_half_slope_mib_per_min: slope(&xs, &ys).unwrap_or(f64::NAN),
        peak_rss_mib: peak_rss_mib(collector.pid())?,
        rss,
        backlog_at_end,
    };
    collector.stop().await;
    let _ = std::fs::remove_dir_all(work.join("soak-spool"));
    Ok(result)
}

/// Peak RSS of `schoolnet demo` (embedded broker, 216 simulated schools at
/// real-time intervals, spool, no database) after `secs`.
pub async fn demo_peak_rss(work: &std::path::Path, secs: f64) -> anyhow::Result<f64> {
    let listen = format!("127.0.0.1:{}", free_port());
    let mqtt = format!("127.0.0.1:{}", free_port());
    let spool = work.join("demo-spool");
    let mut demo = ChildProcess::builder(testkit::schoolnet_bin())
        .name("schoolnet-demo")
        .args([
            "demo",
            "--listen",
            &listen,
            "--mqtt-listen",
            &mqtt,
            "--spool-dir",
        ])
        .arg(&spool)
        .env("RUST_LOG", "warn")
        .spawn();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let peak = peak_rss_mib(demo.pid()).with_context(|| demo.log_tail())?;
    demo.kill(testkit::signal::SIGTERM);
    let _ = demo.wait_exit(Duration::from_secs(10)).await;
    let _ = std::fs::remove_dir_all(&spool);
    Ok(peak)
}
