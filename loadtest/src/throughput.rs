//! One throughput measurement: a fresh broker, one consumer subscribed
//! (`mosquitto_sub`, the rumqttc counting subscriber, `schoolnet run` with
//! or without the spool, or Node-RED), then a generator publishing `--count`
//! messages as fast as the broker accepts: `schoolnet-load publish` (the
//! simulator's stream pre-encoded over N raw connections, the default) or
//! `schoolnet simulate --rate 0 --connections N` (rumqttc).
//!
//! The rate is the consumer's *sustained* rate: its processed-message
//! counter sampled every 50 ms, taken between the first sample after
//! messages started arriving and the last sample before the final count,
//! so start-up and the drain tail are left out. CPU seconds are the
//! consumer's from `/proc` over the whole run; peak RSS is its `VmHWM`.
//! The broker's CPU over the run, divided by the run's wall time after the
//! generator's preparation, says how close to one saturated core it was.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;
use testkit::ChildProcess;

use crate::baseline::{self, SAMPLE_EVERY};
use crate::c_subscriber::CSubscriber;
use crate::collector::{Collector, CollectorSetup};
use crate::peer::NodeRed;
use crate::procstat::{self, Meter, Usage};
use crate::servers::{self, BrokerTuning, Db};

/// No progress for this long ends a run as incomplete.
const STALL: Duration = Duration::from_secs(10);

/// Who consumes the generator's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
pub enum ConsumerKind {
    /// `mosquitto_sub`: the limit every ratio is taken against.
    MosquittoSub,
    Baseline,
    Collector,
    CollectorNoSpool,
    NodeRed,
}

impl ConsumerKind {
    /// Whether `--consumer-connections` applies: the rumqttc subscriber
    /// can split its intake over several connections, each device on one
    /// (issue #21 D). The collector measured with a split intake in that
    /// experiment (commit 26ebb83) and did not get faster, so it keeps one
    /// connection (docs/performance.md, "Results: the ceiling").
    pub fn splits_intake(&self) -> bool {
        matches!(self, ConsumerKind::Baseline)
    }

    pub fn label(&self) -> &'static str {
        match self {
            ConsumerKind::MosquittoSub => "mosquitto_sub (C, counts lines)",
            ConsumerKind::Baseline => "rumqttc subscriber (counts only)",
            ConsumerKind::Collector => "schoolnet run (spool + DB)",
            ConsumerKind::CollectorNoSpool => "schoolnet run (DB, no spool)",
            ConsumerKind::NodeRed => "Node-RED flow (parse, map, DB)",
        }
    }
}

/// What publishes the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
pub enum GeneratorKind {
    /// `schoolnet-load publish`: pre-encoded, N raw MQTT connections.
    Raw,
    /// `schoolnet simulate --rate 0 --connections N` (rumqttc; one
    /// connection was the only generator before issue #21).
    Simulate,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub consumer: ConsumerKind,
    pub qos: u8,
    /// MQTT connections the consumer's intake was split over
    /// (`--consumer-connections`; always 1 for mosquitto_sub and Node-RED).
    pub consumer_connections: usize,
    /// Messages the generator published (and the broker acknowledged).
    pub sent: u64,
    pub received: u64,
    /// Messages per second, sustained (see module docs).
    pub rate: f64,
    /// false: the run was too short for a sustained rate (see
    /// [`sustained_rate`]).
    pub sustained: bool,
    /// The generator's own publish rate over its publish phase.
    pub publish_rate: f64,
    pub cpu_s: f64,
    pub cpu_s_per_million: f64,
    pub peak_rss_mib: f64,
    /// Where the machine's CPU went during the run (seconds): the
    /// generator (its publish phase only, for the raw generator), the
    /// broker, the database, and the whole machine busy (all cores, all
    /// processes, including any outside the harness) out of
    /// `machine_total_s`.
    pub sim_cpu_s: f64,
    pub broker_cpu_s: f64,
    pub db_cpu_s: f64,
    pub machine_busy_s: f64,
    pub machine_total_s: f64,
    /// Broker CPU seconds per second of the run after the generator's
    /// preparation: 1.0 = one core saturated (mosquitto is single-threaded).
    pub broker_core_share: f64,
    /// The generator's CPU seconds per second of its publish phase (1.0 =
    /// one core busy; it may use one per connection).
    pub generator_core_share: f64,
}

/// Everything a run needs besides the consumer.
pub struct RunContext<'a> {
    pub tuning: BrokerTuning,
    pub db: &'a Db,
    pub work: &'a Path,
    pub count: u64,
    pub node_red_dir: Option<&'a Path>,
    pub generator: GeneratorKind,
    pub connections: usize,
    /// Broker on core 0, consumer on core 1.
    pub pin: bool,
    /// `--publish-rate`: msg/s the simulate generator paces to (0: as fast
    /// as the broker accepts).
    pub target_rate: f64,
}

enum Consumer {
    MosquittoSub(CSubscriber),
    Baseline(ChildProcess),
    Collector(Collector),
    NodeRed(NodeRed),
}

impl Consumer {
    async fn start(
        kind: ConsumerKind,
        qos: u8,
        connections: usize,
        broker: &testkit::Mosquitto,
        spool: &Path,
        ctx: &RunContext<'_>,
    ) -> anyhow::Result<Consumer> {
        Ok(match kind {
            ConsumerKind::MosquittoSub => {
                Consumer::MosquittoSub(CSubscriber::start("127.0.0.1", broker.port, qos).await?)
            }
            ConsumerKind::Baseline => {
                // Pinned, the subscriber has one core: one thread.
                let threads = if ctx.pin { 1 } else { connections };
                Consumer::Baseline(
                    baseline::spawn(&broker.url, qos, ctx.count, connections, threads).await?,
                )
            }
            ConsumerKind::Collector | ConsumerKind::CollectorNoSpool => {
                let setup = CollectorSetup {
                    broker_url: broker.url.clone(),
                    qos,
                    influx_section: ctx.db.influx_section(),
                    spool_dir: (kind == ConsumerKind::Collector).then(|| spool.to_path_buf()),
                    extra: String::new(),
                };
                Consumer::Collector(Collector::start(&setup).await?)
            }
            ConsumerKind::NodeRed => {
                let dir = ctx.node_red_dir.context("Node-RED is not installed")?;
                Consumer::NodeRed(NodeRed::start(dir, &broker.url, qos, ctx.db).await?)
            }
        })
    }

    fn pid(&self) -> u32 {
        match self {
            Consumer::MosquittoSub(c) => c.pid(),
            Consumer::Baseline(c) => c.pid(),
            Consumer::Collector(c) => c.pid(),
            Consumer::NodeRed(n) => n.pid(),
        }
    }
}

/// The generator's command line for one run.
fn generator_command(
    ctx: &RunContext<'_>,
    broker_url: &str,
    qos: u8,
    report_path: &Path,
) -> anyhow::Result<tokio::process::Command> {
    let count = ctx.count.to_string();
    let qos = qos.to_string();
    let mut cmd = match ctx.generator {
        GeneratorKind::Raw => {
            let mut c = tokio::process::Command::new(std::env::current_exe()?);
            c.args(["publish", "--broker", broker_url, "--count", &count])
                .args(["--qos", &qos, "--connections"])
                .arg(ctx.connections.to_string());
            c
        }
        GeneratorKind::Simulate => {
            let mut c = tokio::process::Command::new(testkit::schoolnet_bin());
            let rate = ctx.target_rate.to_string();
            c.args([
                "simulate", "--broker", broker_url, "--rate", &rate, "--quiet",
            ])
            .args(["--count", &count, "--qos", &qos])
            .args(["--client-id", "schoolnet-load-sim", "--connections"])
            .arg(ctx.connections.to_string());
            c
        }
    };
    cmd.arg("--report-json")
        .arg(report_path)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    Ok(cmd)
}

/// Runs one measurement of `kind` at `qos`, its intake split over
/// `connections` MQTT connections (see [`ConsumerKind::splits_intake`]).
pub async fn run(
    kind: ConsumerKind,
    qos: u8,
    connections: usize,
    ctx: &RunContext<'_>,
) -> anyhow::Result<RunResult> {
    let broker = servers::broker(ctx.tuning).await;
    let broker_pid = broker.pid().context("broker pid")?;
    let spool = ctx.work.join(format!("spool-{}", broker.port));
    let consumer = Consumer::start(kind, qos, connections, &broker, &spool, ctx).await?;
    let pid = consumer.pid();
    if ctx.pin {
        crate::pin::pin_process(broker_pid, 0)?;
        crate::pin::pin_process(pid, 1)?;
    }
    let meter = Meter::start(pid)?;
    let broker_meter = Meter::start(broker_pid)?;
    let db_meter = Meter::start(ctx.db.pid().context("database pid")?)?;
    let machine0 = procstat::machine_cpu_seconds()?;
    let mut own_usage = None;
    let report_path = ctx.work.join(format!("gen-{}.json", broker.port));
    let t_start = Instant::now();
    let children0 = procstat::reaped_children_cpu_seconds();
    let sim = generator_command(ctx, &broker.url, qos, &report_path)?
        .spawn()
        .context("starting the load generator")?;
    let (samples, received) = match &consumer {
        Consumer::Baseline(_) => (Vec::new(), 0),
        Consumer::MosquittoSub(c) => poll(|| async { Ok(c.received()) }, ctx.count).await?,
        Consumer::Collector(c) => poll(|| c.processed(), ctx.count).await?,
        Consumer::NodeRed(n) => poll(|| n.processed(), ctx.count).await?,
    };
    let sim_out = sim.wait_with_output().await?;
    let reaped_sim_cpu_s = procstat::reaped_children_cpu_seconds() - children0;
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
    let wall_s = t_start.elapsed().as_secs_f64();
    let machine1 = procstat::machine_cpu_seconds()?;
    let broker_cpu_s = broker_meter.stop()?.cpu_s;
    let db_cpu_s = db_meter.stop()?.cpu_s;
    let usage = match own_usage {
        Some(u) => u,
        None => meter.stop()?,
    };
    let gen: Value = serde_json::from_slice(&std::fs::read(&report_path).with_context(|| {
        format!(
            "the generator wrote no report: {}",
            String::from_utf8_lossy(&sim_out.stderr)
        )
    })?)?;
    let sent = gen["sent"].as_u64().unwrap_or(0);
    let prepare_s = gen["prepare_s"].as_f64().unwrap_or(0.0);
    // The raw generator's preparation is not part of the path.
    let sim_cpu_s = gen["publish_cpu_s"].as_f64().unwrap_or(reaped_sim_cpu_s);
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
        Consumer::MosquittoSub(c) => c.stop().await,
        Consumer::Collector(c) => c.stop().await,
        Consumer::NodeRed(n) => n.stop().await,
        Consumer::Baseline(_) => {}
    }
    drop(broker);
    let _ = std::fs::remove_dir_all(&spool);
    let _ = std::fs::remove_file(&report_path);
    Ok(RunResult {
        consumer: kind,
        qos,
        consumer_connections: connections,
        sent,
        received,
        rate,
        sustained,
        publish_rate: gen["sent"].as_f64().unwrap_or(0.0)
            / gen["elapsed"].as_f64().unwrap_or(f64::NAN),
        cpu_s: usage.cpu_s,
        cpu_s_per_million: usage.cpu_s / received.max(1) as f64 * 1e6,
        peak_rss_mib: usage.peak_rss_mib,
        sim_cpu_s,
        broker_cpu_s,
        db_cpu_s,
        machine_busy_s: machine1.0 - machine0.0,
        machine_total_s: machine1.1 - machine0.1,
        broker_core_share: broker_cpu_s / (wall_s - prepare_s).max(1e-3),
        generator_core_share: sim_cpu_s / gen["elapsed"].as_f64().unwrap_or(f64::NAN),
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
