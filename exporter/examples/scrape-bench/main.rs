//! `/metrics` over real HTTP at national scale: what a scrape costs in time
//! and memory. `scripts/bench-scrape.sh` builds and runs it with the date,
//! machine and commit.
//!
//! ```sh
//! cargo run --release -p exporter --example scrape-bench                  # 30,000 schools
//! cargo run --release -p exporter --example scrape-bench -- --schools 3000 --spaced 5
//! cargo run --release -p exporter --example scrape-bench -- --compare 5   # parallel vs plain gzip
//! ```
//!
//! Builds the exposition benches' state (a generated inventory: an OLT per
//! 300 schools, a router and an ONT per school, fed 65 simulated seconds of
//! fleet traffic through the collector's pipeline, so every family has
//! values), serves it on a loopback port in this process, and scrapes it
//! with `curl` (`-o /dev/null`, time to the last byte; with
//! `Accept-Encoding: gzip` like Prometheus, which decompresses on its side,
//! and without). Then, in order:
//!
//! 1. **time**: `--spaced` scrapes per encoding, each spaced past the
//!    sharing window so each one renders: curl p50 / p90 / max, this
//!    process's CPU seconds per scrape (render, gzip and serving: nothing
//!    else runs in it), bytes;
//! 2. **memory**: `--back-to-back` scrapes per encoding, each started as
//!    soon as the previous one finished (so some share a render), then
//!    `--rounds` rounds of `--concurrent` scrapes at once per encoding; the
//!    RSS (`VmRSS`) is read right after every scrape (round) finishes, and
//!    printed with its ratio to the RSS before the first scrape, the peak
//!    (`VmHWM`) and the RSS once the last render's window has passed.
//!
//! `--compare R` instead runs R rounds of `--spaced` gzip scrapes with the
//! parallel gzip and with plain single-threaded flate2 at level 1,
//! interleaved, and prints each round's p50 and CPU-s per scrape and the
//! medians over the rounds.

// Shared with the criterion benches, which use the rest of it.
#[allow(dead_code)]
#[path = "../../benches/support/mod.rs"]
mod support;
mod weigh;

use std::process::Command;
use std::time::{Duration, Instant};

pub(crate) struct Options {
    schools: usize,
    spaced: usize,
    back_to_back: usize,
    concurrent: usize,
    rounds: usize,
    compare: usize,
    costs: usize,
}

fn options() -> Options {
    let mut o = Options {
        schools: 30_000,
        spaced: 10,
        back_to_back: 30,
        concurrent: 4,
        rounds: 5,
        compare: 0,
        costs: 0,
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
            "--spaced" => o.spaced = value(),
            "--back-to-back" => o.back_to_back = value(),
            "--concurrent" => o.concurrent = value(),
            "--rounds" => o.rounds = value(),
            "--compare" => o.compare = value(),
            "--costs" => o.costs = value(),
            other => panic!(
                "unknown option {other}; options: --schools N (30000), --spaced N (10 per encoding), \
                 --back-to-back N (30 per encoding), --concurrent N (4), --rounds N (5), --compare R (0), --costs N (0)"
            ),
        }
    }
    o
}

/// One `curl` scrape, started.
fn curl(url: &str, gzip: bool) -> std::process::Child {
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
    c.arg(url)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl is installed")
}

/// Waits for a scrape: seconds to the last byte, and bytes received.
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
pub(crate) fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// A `/proc/self/status` field in MB (10^6 bytes).
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN);
    kib * 1024.0 / 1e6
}

fn rss() -> f64 {
    status_mb("VmRSS:")
}

fn counter(registry: &prometheus::Registry, name: &str) -> f64 {
    registry
        .gather()
        .iter()
        .find(|f| f.name() == name)
        .map(|f| f.get_metric()[0].get_counter().get_value())
        .unwrap_or(f64::NAN)
}

pub(crate) fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Past the window in which a render answers new scrapes (as long again as
/// it took, at most 1 s): the next scrape renders.
fn past_the_window() {
    std::thread::sleep(exporter::http::scrape::MAX_SHARE_AFTER + Duration::from_millis(100));
}

fn encoding(gzip: bool) -> &'static str {
    if gzip {
        "gzip"
    } else {
        "identity"
    }
}

pub(crate) struct Timed {
    times: Vec<f64>,
    cpu_per_scrape: f64,
    bytes: u64,
}

/// `n` scrapes, each past the previous one's window.
pub(crate) fn spaced(url: &str, gzip: bool, n: usize) -> Timed {
    let cpu0 = cpu_seconds();
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..n {
        let (secs, b) = finish(curl(url, gzip));
        times.push(secs);
        bytes = b;
        past_the_window();
    }
    Timed {
        times,
        cpu_per_scrape: (cpu_seconds() - cpu0) / n as f64,
        bytes,
    }
}

pub(crate) struct Server {
    url: String,
    registry: prometheus::Registry,
}

impl Server {
    fn renders_and_shared(&self) -> (f64, f64) {
        (
            counter(&self.registry, "schoolnet_exporter_renders_total"),
            counter(&self.registry, "schoolnet_exporter_scrape_shared_total"),
        )
    }
}

/// Step 1: time per encoding.
fn time(server: &Server, o: &Options) {
    println!(
        "time: {} scrapes per encoding, each past the previous one's window (renders each); curl time to last byte",
        o.spaced
    );
    println!(
        "{:<9} {:>3} {:>7} {:>7} {:>7} {:>10} {:>9}",
        "encoding", "n", "p50 s", "p90 s", "max s", "CPU-s/scr", "MB/scrape"
    );
    for gzip in [true, false] {
        let t = spaced(&server.url, gzip, o.spaced);
        println!(
            "{:<9} {:>3} {:>7.3} {:>7.3} {:>7.3} {:>10.3} {:>9.1}",
            encoding(gzip),
            t.times.len(),
            percentile(&t.times, 0.5),
            percentile(&t.times, 0.9),
            percentile(&t.times, 1.0),
            t.cpu_per_scrape,
            t.bytes as f64 / 1e6
        );
    }
}

/// Step 2: RSS right after every scrape.
fn memory(server: &Server, o: &Options, before: f64) {
    println!(
        "memory: RSS (MB) right after each scrape; before the first scrape {before:.0} MB, limit 1.2x = {:.0} MB",
        before * 1.2
    );
    let mut all = Vec::new();
    let show = |what: String, readings: &[f64], renders: f64, shared: f64| {
        let list: Vec<String> = readings.iter().map(|r| format!("{r:.0}")).collect();
        let max = readings.iter().copied().fold(0.0, f64::max);
        println!(
            "{what}: renders {renders}, shared {shared}; max {max:.0} MB ({:.2}x)\n  {}",
            max / before,
            list.join(" ")
        );
    };
    for gzip in [true, false] {
        let (r0, s0) = server.renders_and_shared();
        let readings: Vec<f64> = (0..o.back_to_back)
            .map(|_| {
                finish(curl(&server.url, gzip));
                rss()
            })
            .collect();
        let (r1, s1) = server.renders_and_shared();
        show(
            format!("{} back to back, {}", o.back_to_back, encoding(gzip)),
            &readings,
            r1 - r0,
            s1 - s0,
        );
        all.extend(readings);
        past_the_window();
    }
    for gzip in [true, false] {
        let (r0, s0) = server.renders_and_shared();
        let readings: Vec<f64> = (0..o.rounds)
            .map(|_| {
                let children: Vec<_> = (0..o.concurrent).map(|_| curl(&server.url, gzip)).collect();
                children.into_iter().for_each(|c| {
                    finish(c);
                });
                let after = rss();
                past_the_window();
                after
            })
            .collect();
        let (r1, s1) = server.renders_and_shared();
        show(
            format!(
                "{} rounds of {} at once, {}",
                o.rounds,
                o.concurrent,
                encoding(gzip)
            ),
            &readings,
            r1 - r0,
            s1 - s0,
        );
        all.extend(readings);
    }
    let max = all.iter().copied().fold(0.0, f64::max);
    let third = (all.len() / 3).max(1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    past_the_window();
    println!(
        "RSS: before {before:.0} MB; right after a scrape: max {max:.0} MB ({:.2}x), mean of the first third {:.0}, of the last third {:.0}; \
         after the window {:.0} MB ({:.2}x); peak (VmHWM) {:.0} MB",
        max / before,
        mean(&all[..third]),
        mean(&all[all.len() - third..]),
        rss(),
        rss() / before,
        status_mb("VmHWM:"),
    );
}

fn main() {
    let o = options();
    let started = Instant::now();
    let fed = support::fed_exporter(support::generated_inventory(o.schools));
    println!(
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
    let server = Server {
        url: format!("http://{}/metrics", listener.local_addr().expect("addr")),
        registry: fed.registry.clone(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = rt.spawn(fed.exporter.clone().serve(listener, async move {
        let _ = stopped.await;
    }));

    let before = rss();
    support::reset_peak_rss();
    if o.costs > 0 {
        weigh::costs(&fed.exporter, o.costs);
    } else if o.compare > 0 {
        weigh::compare(&server, &o);
    } else {
        time(&server, &o);
        memory(&server, &o, before);
    }
    let _ = stop.send(());
    let _ = rt.block_on(serving);
}
