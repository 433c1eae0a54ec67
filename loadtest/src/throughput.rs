//! One throughput measurement: a fresh broker, one consumer subscribed
//! (the plain subscriber, `schoolnet run` or Node-RED), then `schoolnet
//! simulate --rate 0 --count N` publishing as fast as the broker accepts.
//!
//! The rate is the consumer's *sustained* rate: its processed-message
//! counter sampled every 50 ms, taken between the first sample after
//! messages started arriving and the last sample before the final count,
//! so start-up and the drain tail are left out. CPU seconds are the
//! consumer's from `/proc` over the whole run; peak RSS is its `VmHWM`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;
use testkit::ChildProcess;

use crate::baseline::{self, SAMPLE_EVERY};
use crate::collector::{Collector, CollectorSetup};
use crate::peer::NodeRed;
use crate::procstat::{self, Meter, Usage};
use crate::servers::{self, BrokerTuning, Db};

/// No progress for this long ends a run as incomplete.
const STALL: Duration = Duration::from_secs(10);

/// Who consumes the simulator's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConsumerKind {
    Baseline,
    Collector,
    /// `schoolnet run` without `[spool]` (history queued in memory): what
    /// the spool's durability costs is the difference to `Collector`.
    CollectorNoSpool,
    NodeRed,
}

impl ConsumerKind {
    pub fn label(&self) -> &'static str {
        match self {
            ConsumerKind::Baseline => "plain subscriber (rumqttc, counts only)",
            ConsumerKind::Collector => "schoolnet run (spool + DB)",
            ConsumerKind::CollectorNoSpool => "schoolnet run (DB, no spool)",
            ConsumerKind::NodeRed => "Node-RED flow (parse, map, DB)",
        }
    }
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub consumer: ConsumerKind,
    pub qos: u8,
    /// Messages the simulator published (and the broker acknowledged).
    pub sent: u64,
    pub received: u64,
    /// Messages per second, sustained (see module docs).
    pub rate: f64,
    /// false: the run was too short for a sustained rate (see
    /// [`sustained_rate`]).
    pub sustained: bool,
    /// The simulator's own publish rate over its run.
    pub publish_rate: f64,
    pub cpu_s: f64,
    pub cpu_s_per_million: f64,
    pub peak_rss_mib: f64,
    /// Where the machine's CPU went during the run (seconds): the
    /// simulator, the broker, the database, and the whole machine busy
    /// (all cores, all processes, including any outside the harness) out
    /// of `machine_total_s`.
    pub sim_cpu_s: f64,
    pub broker_cpu_s: f64,
    pub db_cpu_s: f64,
    pub machine_busy_s: f64,
    pub machine_total_s: f64,
}

/// Everything a run needs besides the consumer.
pub struct RunContext<'a> {
    pub tuning: BrokerTuning,
    pub db: &'a Db,
    pub work: &'a Path,
    pub count: u64,
    pub node_red_dir: Option<&'a Path>,
    /// The simulator's publish rate, msg/s (0: as fast as the broker accepts).
    pub publish_rate: f64,
}

enum Consumer {
    Baseline(ChildProcess),
    Collector(Collector),
    NodeRed(NodeRed),
}

/// Runs one measurement of `kind` at `qos`.
pub async fn run(kind: ConsumerKind, qos: u8, ctx: &RunContext<'_>) -> anyhow::Result<RunResult> {
    let broker = servers::broker(ctx.tuning).await;
    let spool = ctx.work.join(format!("spool-{}", broker.port));
    let consumer = match kind {
        ConsumerKind::Baseline => {
            Consumer::Baseline(baseline::spawn(&broker.url, qos, ctx.count).await?)
        }
        ConsumerKind::Collector | ConsumerKind::CollectorNoSpool => {
            let setup = CollectorSetup {
                broker_url: broker.url.clone(),
                qos,
                influx_section: ctx.db.influx_section(),
                spool_dir: (kind == ConsumerKind::Collector).then(|| spool.clone()),
                extra: String::new(),
            };
            Consumer::Collector(Collector::start(&setup).await?)
        }
        ConsumerKind::NodeRed => {
            let dir = ctx.node_red_dir.context("Node-RED is not installed")?;
            Consumer::NodeRed(NodeRed::start(dir, &broker.url, qos, ctx.db).await?)
        }
    };
    let pid = match &consumer {
        Consumer::Baseline(c) => c.pid(),
        Consumer::Collector(c) => c.pid(),
        Consumer::NodeRed(n) => n.pid(),
    };
    let meter = Meter::start(pid)?;
    let broker_meter = Meter::start(broker.pid().context("broker pid")?)?;
    let db_meter = Meter::start(ctx.db.pid().context("database pid")?)?;
    let machine0 = procstat::machine_cpu_seconds()?;
    let mut own_usage = None;
    let report_path = ctx.work.join(format!("sim-{}.json", broker.port));
    let sim = tokio::process::Command::new(testkit::schoolnet_bin())
        .args([
            "simulate",
            "--broker",
            &broker.url,
            "--rate",
            &ctx.publish_rate.to_string(),
            "--quiet",
        ])
        .args(["--count", &ctx.count.to_string(), "--qos", &qos.to_string()])
        .args(["--client-id", "schoolnet-load-sim", "--report-json"])
        .arg(&report_path)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting schoolnet simulate")?;
    let (samples, received) = match &consumer {
        Consumer::Baseline(_) => (Vec::new(), 0),
        Consumer::Collector(c) => poll(|| c.processed(), ctx.count).await?,
        Consumer::NodeRed(n) => poll(|| n.processed(), ctx.count).await?,
    };
    let children0 = procstat::reaped_children_cpu_seconds();
    let sim_out = sim.wait_with_output().await?;
    let sim_cpu_s = procstat::reaped_children_cpu_seconds() - children0;
    let mut consumer = consumer;
    let (samples, received) = match &mut consumer {
        Consumer::Baseline(child) => {
            // It exits by itself: all messages received, or 3 s idle.
            child.wait_exit(Duration::from_secs(1800)).await;
            let r = baseline::report_of(child)?;
            own_usage = Some(Usage {
                cpu_s: r.cpu_s,
                peak_rss_mib: r.peak_rss_mib,
            });
            (r.samples, r.received)
        }
        _ => (samples, received),
    };
    let machine1 = procstat::machine_cpu_seconds()?;
    let broker_cpu_s = broker_meter.stop()?.cpu_s;
    let db_cpu_s = db_meter.stop()?.cpu_s;
    let usage = match own_usage {
        Some(u) => u,
        None => meter.stop()?,
    };
    let sim: Value = serde_json::from_slice(&std::fs::read(&report_path).with_context(|| {
        format!(
            "simulate wrote no report: {}",
            String::from_utf8_lossy(&sim_out.stderr)
        )
    })?)?;
    let sent = sim["sent"].as_u64().unwrap_or(0);
    let (rate, sustained) = sustained_rate(&samples).with_context(|| {
        format!("{kind:?} QoS {qos}: too few samples for a rate (count too small?)")
    })?;
    if qos == 1 && received < sent {
        if let Consumer::Collector(c) = &consumer {
            eprintln!(
                "\nQoS 1 run incomplete; collector log:\n{}",
                c.process.log_tail()
            );
        }
    }
    match consumer {
        Consumer::Collector(c) => c.stop().await,
        Consumer::NodeRed(n) => n.stop().await,
        Consumer::Baseline(_) => {}
    }
    drop(broker);
    let _ = std::fs::remove_dir_all(&spool);
    Ok(RunResult {
        consumer: kind,
        qos,
        sent,
        received,
        rate,
        sustained,
        publish_rate: sim["sent"].as_f64().unwrap_or(0.0)
            / sim["elapsed"].as_f64().unwrap_or(f64::NAN),
        cpu_s: usage.cpu_s,
        cpu_s_per_million: usage.cpu_s / received.max(1) as f64 * 1e6,
        peak_rss_mib: usage.peak_rss_mib,
        sim_cpu_s,
        broker_cpu_s,
        db_cpu_s,
        machine_busy_s: machine1.0 - machine0.0,
        machine_total_s: machine1.1 - machine0.1,
    })
}

/// Samples `count()` every [`SAMPLE_EVERY`] until it reaches `expect` or
/// stops changing for [`STALL`] after having started (QoS 0 may lose
/// messages).
async fn poll<F, Fut>(count: F, expect: u64) -> anyhow::Result<(Vec<(f64, u64)>, u64)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<u64>>,
{
    let start = Instant::now();
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let mut last_change = Instant::now();
    let mut last = 0;
    loop {
        let n = count().await?;
        samples.push((start.elapsed().as_secs_f64(), n));
        if n != last {
            last = n;
            last_change = Instant::now();
        }
        if n >= expect || (n > 0 && last_change.elapsed() > STALL) {
            return Ok((samples, n));
        }
        if start.elapsed() > Duration::from_secs(1800) {
            bail!("consumer processed {n} of {expect} messages in 30 min");
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

/// Messages per second between the first sample that saw messages and the
/// last sample before the final count, and whether that was possible: a
/// run too short for two such samples (a smoke run) falls back to the
/// final count over the time from the last empty sample to the first final
/// one, which underestimates.
pub fn sustained_rate(samples: &[(f64, u64)]) -> Option<(f64, bool)> {
    let final_count = samples.last()?.1;
    let a = samples.iter().position(|s| s.1 > 0)?;
    let b = samples.iter().rposition(|s| s.1 < final_count).unwrap_or(0);
    if b > a {
        let (ta, ca) = samples[a];
        let (tb, cb) = samples[b];
        return Some(((cb - ca) as f64 / (tb - ta), true));
    }
    let t0 = samples[..a].last().map_or(0.0, |s| s.0);
    let f = samples.iter().find(|s| s.1 == final_count)?;
    (f.0 > t0).then(|| (final_count as f64 / (f.0 - t0), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sustained_rate_leaves_out_start_and_tail() {
        let s = [
            (0.0, 0),
            (1.0, 0),
            (2.0, 50),
            (3.0, 150),
            (4.0, 250),
            (5.0, 260),
            (6.0, 260),
        ];
        assert_eq!(sustained_rate(&s), Some((100.0, true)));
        assert_eq!(
            sustained_rate(&[(0.0, 0), (1.0, 0), (1.5, 10)]),
            Some((20.0, false))
        );
        assert_eq!(sustained_rate(&[(0.0, 0)]), None);
    }
}
