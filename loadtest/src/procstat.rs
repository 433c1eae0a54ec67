//! What a process costs, read from `/proc/<pid>`: CPU seconds (user +
//! system, `stat` fields 14 and 15), resident memory now (`VmRSS`) and its
//! peak (`VmHWM`). The harness reads these for the collector, the baseline
//! subscriber and Node-RED alike, so their numbers compare.

use std::fs;

use anyhow::{bail, Context};

/// Ticks per second of the `stat` CPU fields.
fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// User + system CPU seconds `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .with_context(|| format!("{path}: no `)`"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) else {
        bail!("{path}: too few fields");
    };
    let ticks: u64 = u.parse::<u64>()? + s.parse::<u64>()?;
    Ok(ticks as f64 / clock_ticks())
}

fn status_kb(pid: u32, key: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let line = text
        .lines()
        .find(|l| l.starts_with(key))
        .with_context(|| format!("{path}: no {key}"))?;
    let kb = line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("{path}: {line}"))?;
    Ok(kb.parse()?)
}

/// Peak resident set size (`VmHWM`) in MiB.
pub fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    Ok(status_kb(pid, "VmHWM:")? as f64 / 1024.0)
}

/// Resident set size now (`VmRSS`) in MiB.
pub fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    Ok(status_kb(pid, "VmRSS:")? as f64 / 1024.0)
}

/// CPU seconds of this process's children that have been reaped
/// (`getrusage(RUSAGE_CHILDREN)`): the delta around reaping one child is
/// that child's CPU, also after it exited.
pub fn reaped_children_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// The whole machine's CPU time from `/proc/stat`, in seconds over all
/// cores: (busy, total). Busy includes other users of the machine.
pub fn machine_cpu_seconds() -> anyhow::Result<(f64, f64)> {
    let text = fs::read_to_string("/proc/stat")?;
    let line = text.lines().next().context("/proc/stat is empty")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        bail!("/proc/stat: {line}");
    }
    // user nice system idle iowait irq softirq steal (guest is in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v[4];
    let hz = clock_ticks();
    Ok(((total - idle) as f64 / hz, total as f64 / hz))
}

/// CPU and peak memory of one process over one measurement.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub cpu_s: f64,
    pub peak_rss_mib: f64,
}

/// Starts charging `pid`: [`Meter::stop`] gives the CPU used since.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    pid: u32,
    cpu0: f64,
}

impl Meter {
    pub fn start(pid: u32) -> anyhow::Result<Meter> {
        Ok(Meter {
            pid,
            cpu0: cpu_seconds(pid)?,
        })
    }

    pub fn stop(&self) -> anyhow::Result<Usage> {
        Ok(Usage {
            cpu_s: cpu_seconds(self.pid)? - self.cpu0,
            peak_rss_mib: peak_rss_mib(self.pid)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        let rss = rss_mib(pid).unwrap();
        assert!(rss > 0.0 && peak_rss_mib(pid).unwrap() >= rss);
    }
}
