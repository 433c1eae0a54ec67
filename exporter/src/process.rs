//! The standard Prometheus process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//! `process_start_time_seconds`, `process_open_fds`, `process_max_fds`),
//! read from `/proc/self` at each scrape, as every official client library
//! exports them: dashboards and alerts written for any exporter work here.
//!
//! A small reader instead of the `prometheus` crate's `process` feature,
//! which pulls in `procfs` (not otherwise in the tree) for six numbers.
//! Where `/proc` is unreadable (not Linux, a locked-down sandbox) a metric
//! is left out of the scrape rather than reported as a made-up 0.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, Opts};

/// Registers with `registry.register(Box::new(ProcessCollector::new()))`.
pub struct ProcessCollector {
    cpu: Counter,
    resident: Gauge,
    virtual_memory: Gauge,
    start_time: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    descs: Vec<Desc>,
}

impl ProcessCollector {
    pub fn new() -> ProcessCollector {
        let gauge =
            |name: &str, help: &str| Gauge::with_opts(Opts::new(name, help)).expect("valid");
        let cpu = Counter::with_opts(Opts::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        ))
        .expect("valid");
        let resident = gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        );
        let virtual_memory = gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
        );
        let start_time = gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        );
        let open_fds = gauge("process_open_fds", "Number of open file descriptors.");
        let max_fds = gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
        );
        let mut descs = Vec::new();
        for c in [&resident, &virtual_memory, &start_time, &open_fds, &max_fds] {
            descs.extend(c.desc().into_iter().cloned());
        }
        descs.extend(cpu.desc().into_iter().cloned());
        ProcessCollector {
            cpu,
            resident,
            virtual_memory,
            start_time,
            open_fds,
            max_fds,
            descs,
        }
    }
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector::new()
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        if let Some(stat) = read_stat() {
            // A counter only goes up; CPU time read from the kernel does too.
            let delta = stat.cpu_seconds - self.cpu.get();
            if delta > 0.0 {
                self.cpu.inc_by(delta);
            }
            out.extend(self.cpu.collect());
            self.resident.set(stat.resident_bytes);
            out.extend(self.resident.collect());
            self.virtual_memory.set(stat.virtual_bytes);
            out.extend(self.virtual_memory.collect());
            if let Some(start) = stat.start_time_seconds {
                self.start_time.set(start);
                out.extend(self.start_time.collect());
            }
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            // The directory handle itself is one of the entries: one fd the
            // process holds only while it counts, as in client_golang.
            self.open_fds.set(entries.count() as f64);
            out.extend(self.open_fds.collect());
        }
        if let Some(max) = read_max_fds() {
            self.max_fds.set(max);
            out.extend(self.max_fds.collect());
        }
        out
    }
}

/// What `/proc/self/stat` (with the system's tick and page size) says.
#[derive(Debug, PartialEq)]
struct Stat {
    cpu_seconds: f64,
    virtual_bytes: f64,
    resident_bytes: f64,
    start_time_seconds: Option<f64>,
}

fn read_stat() -> Option<Stat> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if ticks <= 0 || page <= 0 {
        return None;
    }
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_boot_time(&s));
    parse_stat(&text, ticks as f64, page as f64, boot_time)
}

/// Parses `/proc/<pid>/stat` (proc(5)). The command name (field 2) may
/// hold spaces and parentheses, so fields are counted from its last `)`.
fn parse_stat(
    text: &str,
    ticks_per_s: f64,
    page_bytes: f64,
    boot_time: Option<f64>,
) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // rest's first field is field 3 (state): field n is at index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    let (utime, stime) = (field(14)?, field(15)?);
    let start_ticks = field(22)?;
    Some(Stat {
        cpu_seconds: (utime + stime) / ticks_per_s,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page_bytes,
        start_time_seconds: boot_time.map(|boot| boot + start_ticks / ticks_per_s),
    })
}

/// `btime` of `/proc/stat`: boot time, Unix seconds.
fn parse_boot_time(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn read_max_fds() -> Option<f64> {
    parse_max_fds(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft limit of "Max open files" in `/proc/self/limits`.
fn parse_max_fds(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    match soft {
        "unlimited" => Some(f64::INFINITY),
        n => n.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with spaces and a ')' must not shift the fields.
        let text = "4242 (sch ool) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    250 50 0 0 20 0 9 0 123400 104857600 2560 18446744073709551615";
        let stat = parse_stat(text, 100.0, 4096.0, Some(1_700_000_000.0)).expect("parses");
        assert_eq!(
            stat,
            Stat {
                cpu_seconds: 3.0,
                virtual_bytes: 104_857_600.0,
                resident_bytes: 2560.0 * 4096.0,
                start_time_seconds: Some(1_700_000_000.0 + 1234.0),
            }
        );
        assert_eq!(parse_stat("4242 (truncated", 100.0, 4096.0, None), None);
    }

    #[test]
    fn boot_time_and_fd_limit_are_read_from_their_lines() {
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000.0)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95431                95431                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_fds(limits), Some(1024.0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reports_all_six_metrics() {
        let names: Vec<String> = ProcessCollector::new()
            .collect()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_start_time_seconds",
            "process_open_fds",
            "process_max_fds",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
        }
        let stat = read_stat().expect("/proc/self/stat");
        assert!(stat.resident_bytes > 0.0 && stat.virtual_bytes >= stat.resident_bytes);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = stat.start_time_seconds.expect("btime");
        assert!(
            start <= now + 1.0 && start > now - 86_400.0 * 365.0,
            "{start}"
        );
    }
}
