//! Live state for the exposition benches, fed like `schoolnet run` feeds
//! it: the fleet simulator's messages (`simulator`) through the
//! collector's `Pipeline` (built-in routes, default limits) into the
//! exporter, one simulated second at a time with the exporter's clock
//! following. Starting at 2026-11-23 08:00 UTC, every device's LWT `Online`
//! first, then 65 s of telemetry (routers report every 10 s, ONTs every
//! 30 s, OLTs every 60 s: every series exists, rates have two samples).
//!
//! Also a generated national inventory and RSS readings from `/proc`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use collector::config::{compile_routes, default_routes, ExporterConfig, LimitsConfig};
use collector::deadletter::DeadLetters;
use collector::inventory::Inventory;
use collector::metrics::PipelineMetrics;
use collector::pipeline::{History, LiveView, Pipeline};
use collector::sample::{Sample, StatusEvent};
use collector::source::mqtt::MqttMessage;
use exporter::{Exporter, ManualClock};
use simulator::{Fleet, FleetOptions, SimMessage};

/// 2026-11-23 08:00 UTC.
const START_S: u64 = 1_795_420_800;
/// Simulated seconds of telemetry before the renders.
const FEED_S: u64 = 65;

pub fn sample_inventory() -> Inventory {
    simulator::sample_inventory().expect("sample inventory parses")
}

/// `schools` schools, 300 per district; per school a router (WAN interface
/// `wan`, 64-bit counters; every third school 32-bit) behind an ONT, per
/// district an OLT recorded under its first school. Intervals as in the sample.
pub fn generated_inventory(schools: usize) -> Inventory {
    let mut s = String::from("school_id,name,district,lat,lon,uplink_mbps\n");
    let mut d = String::from(
        "device_id,school_id,role,expected_interval_s,parent,wan_interface,counter_bits\n",
    );
    for i in 0..schools {
        let district = i / 300;
        let id = format!("SC-{i:05}");
        let lat = 38.0 + (i % 1000) as f64 * 0.003;
        let lon = 44.0 + (i / 1000) as f64 * 0.05;
        let uplink = [100, 200, 500][i % 3];
        let _ = writeln!(
            s,
            "{id},School {i} of district {district},District {district:03},{lat:.5},{lon:.5},{uplink}"
        );
        let olt = format!("olt-{district:03}");
        if i % 300 == 0 {
            let _ = writeln!(d, "{olt},{id},olt,60,,,");
        }
        let ont = format!("ont-{i:05}");
        let bits = if i % 3 == 2 { "32" } else { "" };
        let _ = writeln!(d, "{ont},{id},ont,30,{olt},,");
        let _ = writeln!(d, "rtr-{i:05},{id},router,10,{ont},wan,{bits}");
    }
    Inventory::from_csv_text(&s, &d).expect("generated inventory parses")
}

/// The exporter and the pipeline that fed it.
pub struct Fed {
    pub exporter: Exporter,
    /// Where the exporter's own metrics (renders, shared scrapes) are
    /// (the scrape-bench example reads them).
    #[allow(dead_code)]
    pub registry: prometheus::Registry,
    /// Kept alive (its normalizer state is in the RSS readings), as
    /// `schoolnet run` keeps it.
    _pipeline: Pipeline,
}

/// Adapts the exporter to the pipeline, like `schoolnet run` does.
struct ExporterView(Exporter);

impl LiveView for ExporterView {
    fn record(&self, samples: &[Sample], status: Option<&StatusEvent>) {
        if !samples.is_empty() {
            self.0.record_samples(samples);
        }
        if let Some(ev) = status {
            self.0.record_status(ev);
        }
    }
}

/// An exporter over `inventory` whose state holds `FEED_S` seconds of
/// simulated traffic of the whole fleet.
pub fn fed_exporter(inventory: Inventory) -> Fed {
    fed_exporter_with(inventory, ExporterConfig::default())
}

/// [`fed_exporter`] with an exporter configured by `config`.
pub fn fed_exporter_with(inventory: Inventory, config: ExporterConfig) -> Fed {
    let inventory = Arc::new(inventory);
    let start = UNIX_EPOCH + Duration::from_secs(START_S);
    let clock = Arc::new(ManualClock::new(START_S as f64));
    let registry = prometheus::Registry::new();
    let metrics = PipelineMetrics::new(&registry);
    let dead_letters = Arc::new(DeadLetters::new(1_000));
    let exporter = Exporter::with_clock(
        inventory.clone(),
        registry.clone(),
        metrics.clone(),
        dead_letters.clone(),
        config,
        clock.clone(),
    );
    let mut pipeline = Pipeline::new(
        compile_routes(&default_routes()).expect("built-in routes compile"),
        inventory.clone(),
        LimitsConfig::default(),
        metrics,
        dead_letters,
        Arc::new(ExporterView(exporter.clone())),
        History::None,
    );
    let mut fleet = Fleet::new(
        &inventory,
        FleetOptions {
            schools: None,
            seed: 42,
            start,
        },
    );
    for sim in fleet.start_messages(start) {
        pipeline.handle(&message(sim));
    }
    for s in 1..=FEED_S {
        let now = start + Duration::from_secs(s);
        clock.set((START_S + s) as f64);
        for sim in fleet.next_messages(now) {
            pipeline.handle(&message(sim));
        }
    }
    Fed {
        exporter,
        registry,
        _pipeline: pipeline,
    }
}

fn message(sim: SimMessage) -> MqttMessage {
    let ns = sim.time.duration_since(UNIX_EPOCH).expect("after 1970");
    MqttMessage {
        topic: sim.topic,
        payload_len: sim.payload.len(),
        payload: sim.payload.into(),
        received_ns: ns.as_nanos() as i64 + 5_000_000,
        ack: None,
    }
}

/// Prints the size of a rendered exposition.
pub fn report(what: &str, text: &str) {
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!(
        "{what}: {series} series, {:.1} MB of text",
        text.len() as f64 / 1e6
    );
}

/// Prints VmRSS and VmHWM (peak) of this process from `/proc/self/status`.
pub fn print_rss(what: &str) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    eprintln!(
        "{what}: RSS {}, peak RSS {}",
        field("VmRSS:"),
        field("VmHWM:")
    );
}

/// Resets the peak RSS (VmHWM) to the current RSS (Linux `clear_refs` 5).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU time this thread has used (`CLOCK_THREAD_CPUTIME_ID`). The
/// CPU-bound benches time with it instead of the wall clock: on a shared
/// 2-core machine wall time also counts whatever else ran meanwhile.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` `n` times; returns the CPU time of this thread it took.
pub fn cpu_time<T>(n: u64, mut f: impl FnMut() -> T) -> Duration {
    let started = thread_cpu();
    for _ in 0..n {
        std::hint::black_box(f());
    }
    thread_cpu() - started
}
