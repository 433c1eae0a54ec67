//! The one table (and the JSON): per consumer and QoS the median rate over
//! the repeats, its ratio to `mosquitto_sub`'s in the same repeat, CPU
//! seconds per million messages, peak RSS, the generator's own rate and
//! the broker's load; the generator's ceiling per QoS; then latency, the
//! peer ratios, the demo's RSS and the soak. The header names the date,
//! machine and commit.

use std::io::Write;

use serde::Serialize;

use crate::latency::LatencyResult;
use crate::memory::SoakResult;
use crate::stats::median;
use crate::throughput::{ConsumerKind, RunResult};

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub date: String,
    pub cores: usize,
    pub cpu: String,
    pub mem_gib: f64,
    pub kernel: String,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("?".into(), |(_, v)| v.trim().to_string());
        let mem_kb: f64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0);
        let date = std::process::Command::new("date")
            .args(["-u", "+%F"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Machine {
            date,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            mem_gib: mem_kb / 1024.0 / 1024.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
        }
    }
}

/// The commit measured: `git rev-parse --short HEAD`, `-dirty` if the
/// tree has changes, `?` outside a checkout.
pub fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(crate::collector::repo_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "?".into();
    };
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{head}-dirty")
    } else {
        head
    }
}

/// Medians of one consumer at one QoS.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub consumer: ConsumerKind,
    pub qos: u8,
    /// MQTT connections the intake was split over.
    pub consumer_connections: usize,
    pub rate: f64,
    pub rates: Vec<f64>,
    /// Median over repeats of (this rate / `mosquitto_sub`'s rate in the
    /// same repeat); 1 for `mosquitto_sub` itself.
    pub ratio_to_baseline: Option<f64>,
    /// The same against the rumqttc counting subscriber.
    pub ratio_to_rumqttc: Option<f64>,
    /// The generator's publish rate in these runs, median.
    pub publish_rate: f64,
    /// Broker CPU seconds per second of run (1.0 = one core), median.
    pub broker_core_share: f64,
    /// The generator's CPU per second of its publish phase, median.
    pub generator_core_share: f64,
    pub cpu_s_per_million: f64,
    pub peak_rss_mib: f64,
    /// Messages received / messages published, worst repeat.
    pub delivered_min: f64,
    /// CPU seconds per million messages of the whole path: consumer,
    /// simulator, broker and database.
    pub path_cpu_s_per_million: f64,
    /// The ratio the CPU alone allows on a saturated machine: the
    /// baseline's path CPU per message over this row's (median over
    /// repeats). A measured ratio close to it means the shared cores, not
    /// a wait inside the consumer, set the rate.
    pub cpu_bound_ratio: Option<f64>,
    /// Fraction of all cores busy during the run (any process), median.
    pub machine_busy: f64,
}

/// Summarizes `runs` (grouped by repeat in the order they ran).
pub fn rows(runs: &[RunResult]) -> Vec<Row> {
    let mut keys: Vec<(ConsumerKind, u8, usize)> = Vec::new();
    for r in runs {
        if !keys.contains(&(r.consumer, r.qos, r.consumer_connections)) {
            keys.push((r.consumer, r.qos, r.consumer_connections));
        }
    }
    keys.iter()
        .map(|&(consumer, qos, connections)| {
            let mine: Vec<&RunResult> = runs
                .iter()
                .filter(|r| {
                    r.consumer == consumer && r.qos == qos && r.consumer_connections == connections
                })
                .collect();
            // The references: one connection each.
            let of = |kind: ConsumerKind| -> Vec<&RunResult> {
                runs.iter()
                    .filter(|r| r.consumer == kind && r.qos == qos && r.consumer_connections == 1)
                    .collect()
            };
            let bases = of(ConsumerKind::MosquittoSub);
            let bounds: Vec<f64> = mine
                .iter()
                .zip(&bases)
                .map(|(m, b)| path_cpu_per_msg(b) / path_cpu_per_msg(m))
                .collect();
            let ratios: Vec<f64> = mine
                .iter()
                .zip(&bases)
                .map(|(m, b)| m.rate / b.rate)
                .collect();
            let ratios_rumqttc: Vec<f64> = mine
                .iter()
                .zip(&of(ConsumerKind::Baseline))
                .map(|(m, b)| m.rate / b.rate)
                .collect();
            let pick =
                |f: fn(&RunResult) -> f64| median(&mine.iter().map(|r| f(r)).collect::<Vec<_>>());
            Row {
                consumer,
                qos,
                consumer_connections: connections,
                rate: pick(|r| r.rate).unwrap_or(f64::NAN),
                rates: mine.iter().map(|r| r.rate).collect(),
                ratio_to_baseline: median(&ratios),
                ratio_to_rumqttc: median(&ratios_rumqttc),
                publish_rate: pick(|r| r.publish_rate).unwrap_or(f64::NAN),
                broker_core_share: pick(|r| r.broker_core_share).unwrap_or(f64::NAN),
                generator_core_share: pick(|r| r.generator_core_share).unwrap_or(f64::NAN),
                cpu_s_per_million: pick(|r| r.cpu_s_per_million).unwrap_or(f64::NAN),
                peak_rss_mib: pick(|r| r.peak_rss_mib).unwrap_or(f64::NAN),
                delivered_min: mine
                    .iter()
                    .map(|r| r.received as f64 / r.sent.max(1) as f64)
                    .fold(f64::INFINITY, f64::min),
                path_cpu_s_per_million: pick(|r| path_cpu_per_msg(r) * 1e6).unwrap_or(f64::NAN),
                cpu_bound_ratio: median(&bounds),
                machine_busy: pick(|r| r.machine_busy_s / r.machine_total_s).unwrap_or(f64::NAN),
            }
        })
        .collect()
}

/// CPU seconds per message of consumer + simulator + broker + database.
fn path_cpu_per_msg(r: &RunResult) -> f64 {
    (r.cpu_s + r.sim_cpu_s + r.broker_cpu_s + r.db_cpu_s) / r.received.max(1) as f64
}

/// Everything one harness run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub commit: String,
    pub generator: String,
    /// `--pin`: broker on core 0, consumer on core 1.
    pub pinned: bool,
    pub broker: String,
    pub database: String,
    pub count: u64,
    pub repeat: usize,
    pub rows: Vec<Row>,
    pub runs: Vec<RunResult>,
    pub peer: Option<String>,
    pub latency: Option<LatencyResult>,
    pub demo_peak_rss_mib: Option<f64>,
    pub soak: Option<SoakResult>,
}

fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let s = format!("{:.0}", x);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

fn ms(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{v:.0} ms"))
}

impl Report {
    /// Per QoS: the generator's rate, what `mosquitto_sub` received of it,
    /// and whether the broker was the limit.
    fn print_ceiling(&self, w: &mut impl Write) -> std::io::Result<()> {
        for r in self
            .rows
            .iter()
            .filter(|r| r.consumer == ConsumerKind::MosquittoSub)
        {
            // The generator writes as fast as the broker reads (TCP
            // backpressure), so its rate alone says nothing: CPU does.
            let verdict = if r.broker_core_share >= 0.9 {
                "the broker is saturated (≥ 90% of its one core): this is the broker's ceiling here"
            } else if r.machine_busy >= 0.95 {
                "all cores are busy (any process): the shared cores are the limit, not the broker"
            } else if r.generator_core_share >= 0.9 {
                "the generator is busy (≥ 90% of a core): add --connections"
            } else {
                "neither the broker, the generator nor the cores are saturated: a wait (acks, windows) is the limit"
            };
            writeln!(
                w,
                "ceiling at QoS {}: the generator published {} msg/s ({:.0}% of a core), mosquitto_sub received {} msg/s ({:.2}× of it), broker {:.0}% of a core, machine busy {:.0}%: {verdict}",
                r.qos,
                thousands(r.publish_rate),
                r.generator_core_share * 100.0,
                thousands(r.rate),
                r.rate / r.publish_rate,
                r.broker_core_share * 100.0,
                r.machine_busy * 100.0
            )?;
        }
        Ok(())
    }

    fn row(&self, consumer: ConsumerKind, qos: u8) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.consumer == consumer && r.qos == qos && r.consumer_connections == 1)
    }

    pub fn print(&self, w: &mut impl Write) -> std::io::Result<()> {
        let m = &self.machine;
        writeln!(
            w,
            "schoolnet load harness, {}: {} cores ({}), {:.0} GiB, Linux {}, commit {}",
            m.date, m.cores, m.cpu, m.mem_gib, m.kernel, self.commit
        )?;
        if self.pinned {
            writeln!(w, "  pinned: broker on core 0, consumer on core 1; generator, database and harness unpinned")?;
        } else {
            writeln!(
                w,
                "  generator, broker, consumer and harness share these cores"
            )?;
        }
        writeln!(w, "  broker: {}", self.broker)?;
        writeln!(w, "  database: {}", self.database)?;
        writeln!(w, "  load: {}, {} messages per run (the simulator's stream: 216 schools, 5 formats); medians of {} runs", self.generator, thousands(self.count as f64), self.repeat)?;
        writeln!(w)?;
        writeln!(
            w,
            "{:<44} {:>3} {:>8} {:>5} {:>5} {:>7} {:>9} {:>9} {:>8} {:>6} {:>8} {:>6} {:>5}  runs (msgs/s)",
            "consumer",
            "QoS",
            "msgs/s",
            "× C",
            "× rmq",
            "CPU s/M",
            "peak RSS",
            "delivered",
            "gen msg/s",
            "broker",
            "path s/M",
            "bound",
            "busy"
        )?;
        for r in &self.rows {
            let runs: Vec<String> = r.rates.iter().map(|x| thousands(*x)).collect();
            let label = if r.consumer_connections > 1 {
                format!("{}, ×{} conns", r.consumer.label(), r.consumer_connections)
            } else {
                r.consumer.label().to_string()
            };
            writeln!(
                w,
                "{:<44} {:>3} {:>8} {:>5} {:>5} {:>7.2} {:>5.1} MiB {:>8.1}% {:>9} {:>5.0}% {:>8.2} {:>6} {:>4.0}%  {}",
                label,
                r.qos,
                thousands(r.rate),
                r.ratio_to_baseline
                    .map_or("-".into(), |x| format!("{x:.2}")),
                r.ratio_to_rumqttc
                    .map_or("-".into(), |x| format!("{x:.2}")),
                r.cpu_s_per_million,
                r.peak_rss_mib,
                r.delivered_min * 100.0,
                thousands(r.publish_rate),
                r.broker_core_share * 100.0,
                r.path_cpu_s_per_million,
                r.cpu_bound_ratio.map_or("-".into(), |x| format!("{x:.2}")),
                r.machine_busy * 100.0,
                runs.join(" ")
            )?;
        }
        writeln!(w, "  × C, × rmq: rate ÷ mosquitto_sub's / the rumqttc subscriber's in the same repeat; CPU s/M: the consumer's CPU seconds per million messages;")?;
        writeln!(w, "  gen msg/s: the generator's publish rate in these runs; broker: its CPU as % of one core; path s/M: consumer + generator + broker + database;")?;
        writeln!(w, "  bound: the × C the CPU allows on saturated cores (mosquitto_sub's path s/M ÷ this path s/M); busy: all cores, all processes")?;
        self.print_ceiling(w)?;
        if let Some(peer) = &self.peer {
            for r in self
                .rows
                .iter()
                .filter(|r| r.consumer == ConsumerKind::NodeRed)
            {
                if let Some(c) = self.row(ConsumerKind::Collector, r.qos) {
                    writeln!(w, "peer at QoS {}: schoolnet = {:.1}× {peer}'s rate at {:.2}× its peak RSS ({:.1} vs {:.1} MiB)", r.qos, c.rate / r.rate, c.peak_rss_mib / r.peak_rss_mib, c.peak_rss_mib, r.peak_rss_mib)?;
                }
            }
        }
        if let Some(l) = &self.latency {
            writeln!(w)?;
            writeln!(w, "latency at {} msg/s (QoS 1, spool, InfluxDB 1.x, shipped batching; {} probes, polled every {:.0} ms):", thousands(l.background_rate), l.probes, l.poll_ms)?;
            writeln!(
                w,
                "  publish → /metrics   p50 {:>7}  p99 {:>7}  max {:>7}  missed {}",
                ms(l.metrics_p(50.0)),
                ms(l.metrics_p(99.0)),
                ms(l.metrics_p(100.0)),
                l.metrics_missed
            )?;
            writeln!(
                w,
                "  publish → database   p50 {:>7}  p99 {:>7}  max {:>7}  missed {}",
                ms(l.db_p(50.0)),
                ms(l.db_p(99.0)),
                ms(l.db_p(100.0)),
                l.db_missed
            )?;
        }
        if let Some(rss) = self.demo_peak_rss_mib {
            writeln!(
                w,
                "schoolnet demo (216 schools, real time): peak RSS {rss:.1} MiB"
            )?;
        }
        if let Some(s) = &self.soak {
            writeln!(w, "soak {:.0} s at {} msg/s (QoS 1, spool, DB): RSS {:.1} MiB after 1 min, {:.1} MiB at end, peak {:.1} MiB, second-half slope {:+.3} MiB/min, spool backlog at end {}", s.seconds, thousands(s.rate), s.rss_after_1min(), s.rss_at_end(), s.peak_rss_mib, s.second_half_slope_mib_per_min, thousands(s.backlog_at_end))?;
        }
        Ok(())
    }
}
