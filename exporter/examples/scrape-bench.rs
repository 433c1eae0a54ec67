//! `/metrics` over real HTTP at national scale: what a scrape costs.
//!
//! ```sh
//! cargo run --release -p exporter --example scrape-bench              # 30,000 schools, 50 scrapes
//! cargo run --release -p exporter --example scrape-bench -- --schools 3000 --scrapes 10
//! ```
//!
//! Builds the exposition benches' state (a generated inventory: an OLT per
//! 300 schools, a router and an ONT per school, fed 65 simulated seconds of
//! fleet traffic through the collector's pipeline, so every family has
//! values), serves it on a loopback port in this process, and scrapes it
//! with `curl` (`-o /dev/null`, time to the last byte; with
//! `Accept-Encoding: gzip` like Prometheus, which decompresses on its side,
//! and without). Sequential scrapes are spaced past the sharing window, so
//! each one renders; concurrent ones (2 and 4 at once, like an HA pair)
//! share. Reports latency percentiles, this process's CPU seconds per
//! scrape (render, gzip and serving: nothing else runs in it meanwhile),
//! renders and shared scrapes counted by the exporter, and RSS before the
//! scrapes, at the peak, and after them (once the last render has expired).

// Shared with the criterion benches, which use the rest of it.
#[allow(dead_code)]
#[path = "../benches/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

struct Options {
    schools: usize,
    scrapes: usize,
    rounds: usize,
}

fn options() -> Options {
    let mut o = Options {
        schools: 30_000,
        scrapes: 50,
        rounds: 10,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--schools" => o.schools = value(),
            "--scrapes" => o.scrapes = value(),
            "--rounds" => o.rounds = value(),
            other => panic!(
                "unknown option {other}; options: --schools N (30000), --scrapes N (50, sequential), --rounds N (10, concurrent)"
            ),
        }
    }
    o
}

/// One `curl` scrape: seconds to the last byte, and bytes received.
fn curl(url: &str, gzip: bool) -> std::io::Result<std::process::Child> {
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{time_total} %{size_download}",
    ]);
    if gzip {
        c.args(["-H", "Accept-Encoding: gzip"]);
    }
    c.arg(url).stdout(std::process::Stdio::piped()).spawn()
}

fn finish(child: std::process::Child) -> (f64, u64) {
    let out = child.wait_with_output().expect("curl runs");
    assert!(out.status.success(), "curl failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let secs = parts.next().and_then(|s| s.parse().ok()).expect("time");
    let bytes = parts.next().and_then(|s| s.parse().ok()).expect("size");
    (secs, bytes)
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

fn counter(registry: &prometheus::Registry, name: &str) -> f64 {
    registry
        .gather()
        .iter()
        .find(|f| f.name() == name)
        .map(|f| f.get_metric()[0].get_counter().get_value())
        .unwrap_or(f64::NAN)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Scrapes in groups of `at_once` (the group's scrapes started together),
/// `groups` times, each group past the previous one's sharing window.
fn scenario(
    name: &str,
    url: &str,
    gzip: bool,
    at_once: usize,
    groups: usize,
    registry: &prometheus::Registry,
) {
    let (renders0, shared0) = (
        counter(registry, "schoolnet_exporter_renders_total"),
        counter(registry, "schoolnet_exporter_scrape_shared_total"),
    );
    let cpu0 = cpu_seconds();
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..groups {
        let children: Vec<_> = (0..at_once)
            .map(|_| curl(url, gzip).expect("curl is installed"))
            .collect();
        for c in children {
            let (secs, b) = finish(c);
            times.push(secs);
            bytes = b;
        }
        // Past the window in which the render answers new scrapes (as
        // long again as it took, at most 1 s): the next group renders.
        std::thread::sleep(exporter::http::scrape::MAX_SHARE_AFTER + Duration::from_millis(100));
    }
    let cpu = cpu_seconds() - cpu0;
    let renders = counter(registry, "schoolnet_exporter_renders_total") - renders0;
    let shared = counter(registry, "schoolnet_exporter_scrape_shared_total") - shared0;
    times.sort_by(f64::total_cmp);
    println!(
        "{name:<28} {:>4} {:>7.3} {:>7.3} {:>7.3} {:>9.3} {:>8.3} {:>7} {:>6} {:>9.1}",
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1],
        cpu / times.len() as f64,
        cpu / renders.max(1.0),
        renders,
        shared,
        bytes as f64 / 1e6,
    );
}

fn main() {
    let o = options();
    let started = Instant::now();
    let fed = support::fed_exporter(support::generated_inventory(o.schools));
    eprintln!(
        "{} schools: state built in {:.1} s",
        o.schools,
        started.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind loopback");
    let url = format!("http://{}/metrics", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(fed.exporter.clone().serve(listener, async move {
        let _ = stopped.await;
    }));

    let rss_before = kib("VmRSS:");
    support::reset_peak_rss();
    println!(
        "{} schools, {} sequential scrapes spaced past the sharing window, concurrent: {} rounds; curl time to last byte (s)",
        o.schools, o.scrapes, o.rounds
    );
    println!(
        "{:<28} {:>4} {:>7} {:>7} {:>7} {:>9} {:>8} {:>7} {:>6} {:>9}",
        "scenario",
        "n",
        "p50",
        "p99",
        "max",
        "CPU-s/scr",
        "CPU-s/r",
        "renders",
        "shared",
        "MB/scrape"
    );
    scenario(
        "gzip, one at a time",
        &url,
        true,
        1,
        o.scrapes,
        &fed.registry,
    );
    let rss_after_sequential = kib("VmRSS:");
    scenario(
        "identity, one at a time",
        &url,
        false,
        1,
        o.scrapes.min(20),
        &fed.registry,
    );
    scenario("gzip, 2 at once", &url, true, 2, o.rounds, &fed.registry);
    scenario("gzip, 4 at once", &url, true, 4, o.rounds, &fed.registry);
    scenario(
        "identity, 4 at once",
        &url,
        false,
        4,
        o.rounds.min(5),
        &fed.registry,
    );
    let rss_after = kib("VmRSS:");
    let peak = kib("VmHWM:");
    println!(
        "RSS: before the scrapes {}, after the {} gzip scrapes {} ({:.2}x), after all {} ({:.2}x), peak {}",
        mib(rss_before),
        o.scrapes,
        mib(rss_after_sequential),
        rss_after_sequential as f64 / rss_before as f64,
        mib(rss_after),
        rss_after as f64 / rss_before as f64,
        mib(peak),
    );
    let _ = stop.send(());
    let _ = rt.block_on(server);
}
