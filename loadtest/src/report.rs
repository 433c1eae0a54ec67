//! The one table (and the JSON): per consumer and QoS the median rate over
//! the repeats, its ratio to the baseline of the same repeat, CPU seconds
//! per million messages and peak RSS; then latency, the peer ratios, the
//! demo's RSS and the soak.

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

/// Medians of one consumer at one QoS.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub consumer: ConsumerKind,
    pub qos: u8,
    pub rate: f64,
    pub rates: Vec<f64>,
    /// Median over repeats of (this rate / the baseline's rate in the same
    /// repeat); 1 for the baseline itself.
    pub ratio_to_baseline: Option<f64>,
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
    let mut keys: Vec<(ConsumerKind, u8)> = Vec::new();
    for r in runs {
        if !keys.contains(&(r.consumer, r.qos)) {
            keys.push((r.consumer, r.qos));
        }
    }
    keys.iter()
        .map(|&(consumer, qos)| {
            let mine: Vec<&RunResult> = runs
                .iter()
                .filter(|r| r.consumer == consumer && r.qos == qos)
                .collect();
            let bases: Vec<&RunResult> = runs
                .iter()
                .filter(|r| r.consumer == ConsumerKind::Baseline && r.qos == qos)
                .collect();
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
            let pick =
                |f: fn(&RunResult) -> f64| median(&mine.iter().map(|r| f(r)).collect::<Vec<_>>());
            Row {
                consumer,
                qos,
                rate: pick(|r| r.rate).unwrap_or(f64::NAN),
                rates: mine.iter().map(|r| r.rate).collect(),
                ratio_to_baseline: median(&ratios),
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
    fn row(&self, consumer: ConsumerKind, qos: u8) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.consumer == consumer && r.qos == qos)
    }

    pub fn print(&self, w: &mut impl Write) -> std::io::Result<()> {
        let m = &self.machine;
        writeln!(
            w,
            "schoolnet load harness, {}: {} cores ({}), {:.0} GiB, Linux {}",
            m.date, m.cores, m.cpu, m.mem_gib, m.kernel
        )?;
        writeln!(
            w,
            "  simulator, broker, consumer and harness share these cores"
        )?;
        writeln!(w, "  broker: {}", self.broker)?;
        writeln!(w, "  database: {}", self.database)?;
        writeln!(w, "  load: schoolnet simulate --rate 0 --count {} (216 schools, 5 formats); medians of {} runs", thousands(self.count as f64), self.repeat)?;
        writeln!(w)?;
        writeln!(
            w,
            "{:<40} {:>3} {:>8} {:>6} {:>8} {:>9} {:>9} {:>8} {:>6} {:>5}  runs (msgs/s)",
            "consumer",
            "QoS",
            "msgs/s",
            "× base",
            "CPU s/M",
            "peak RSS",
            "delivered",
            "path s/M",
            "bound",
            "busy"
        )?;
        for r in &self.rows {
            let runs: Vec<String> = r.rates.iter().map(|x| thousands(*x)).collect();
            writeln!(
                w,
                "{:<40} {:>3} {:>8} {:>6} {:>8.2} {:>5.1} MiB {:>8.1}% {:>8.2} {:>6} {:>4.0}%  {}",
                r.consumer.label(),
                r.qos,
                thousands(r.rate),
                r.ratio_to_baseline
                    .map_or("-".into(), |x| format!("{x:.2}")),
                r.cpu_s_per_million,
                r.peak_rss_mib,
                r.delivered_min * 100.0,
                r.path_cpu_s_per_million,
                r.cpu_bound_ratio.map_or("-".into(), |x| format!("{x:.2}")),
                r.machine_busy * 100.0,
                runs.join(" ")
            )?;
        }
        writeln!(w, "  CPU s/M: the consumer's CPU seconds per million messages; path s/M: consumer + simulator + broker + database;")?;
        writeln!(w, "  bound: the × base the CPU allows on saturated cores (baseline path s/M ÷ this path s/M); busy: all cores, all processes")?;
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
