//! Shared fixtures of the collector benches: real traffic from the fleet
//! simulator (`simulator`) over the 216-school sample inventory,
//! split per payload format, and the pipeline exactly as `schoolnet run`
//! builds it (built-in routes, default limits).
//!
//! Messages are generated on the simulator's natural schedule (every device
//! at its inventory interval), so device timestamps and counters advance as
//! they do in the field. `received_ns` is the slot time plus 5 ms of
//! transport lag, as if the broker delivered it at once.
//!
//! `telegraf-json` is the one format the simulator does not publish: its
//! Telegraf line-protocol messages are re-serialized as Telegraf's JSON
//! serializer writes the same metric (`{"fields":…,"name":…,"tags":…,
//! "timestamp":<s>}` on `telegraf-json/<device>/<name>`).
#![allow(dead_code)] // each bench binary uses a different part

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use collector::config::{compile_routes, default_routes, LimitsConfig};
use collector::deadletter::DeadLetters;
use collector::inventory::Inventory;
use collector::metrics::PipelineMetrics;
use collector::pipeline::{History, LiveView, Pipeline};
use collector::sample::{InfluxRecord, Sample, StatusEvent};
use collector::source::mqtt::MqttMessage;
use simulator::{Fleet, FleetOptions, SimMessage};

/// The formats with a decode + normalize target, in report order.
pub const FORMATS: [&str; 5] = ["collectd", "influx", "telegraf-json", "json", "value"];

/// Simulated start: 2026-11-23 08:00 UTC (school hours: busy interfaces).
pub const START_S: u64 = 1_795_420_800;

/// Transport lag added to the slot time to get the receive time.
const LAG_NS: i64 = 5_000_000;

/// Messages of the first minute of simulated time: every device (OLTs
/// report every 60 s) has reported at least once, so counters and series
/// are known. Replayed untimed before measuring a fresh pipeline.
pub const WARM_UP: Duration = Duration::from_secs(60);

/// The built-in sample inventory (216 schools).
pub fn sample_inventory() -> Arc<Inventory> {
    Arc::new(simulator::sample_inventory().expect("sample inventory parses"))
}

/// Per format: at least `per_format` messages after the warm-up minute
/// (plus that minute's messages first), in publish order.
pub struct Streams {
    pub by_format: BTreeMap<&'static str, Stream>,
}

/// One format's messages; `warm` of them belong to the warm-up minute.
pub struct Stream {
    pub messages: Vec<MqttMessage>,
    pub warm: usize,
}

/// Drains the fleet over `inventory` until every format has `per_format`
/// messages after the warm-up minute.
pub fn streams(inventory: &Inventory, per_format: usize) -> Streams {
    let start = UNIX_EPOCH + Duration::from_secs(START_S);
    let mut fleet = Fleet::new(
        inventory,
        FleetOptions {
            schools: None,
            seed: 42,
            start,
        },
    );
    let warm_end = start + WARM_UP;
    let mut by_format: BTreeMap<&'static str, Stream> = FORMATS
        .iter()
        .map(|&f| {
            let stream = Stream {
                messages: Vec::new(),
                warm: 0,
            };
            (f, stream)
        })
        .collect();
    let mut now = start;
    let full = |s: &Stream| s.messages.len() >= s.warm + per_format;
    while !by_format.values().all(full) {
        now += Duration::from_secs(1);
        for sim in fleet.next_messages(now) {
            let converted = match sim.format {
                simulator::payload::INFLUX => vec![
                    ("influx", message(&sim.topic, sim.payload.clone(), sim.time)),
                    ("telegraf-json", telegraf_json(&sim)),
                ],
                "collectd" | "json" | "value" => {
                    vec![(sim.format, message(&sim.topic, sim.payload, sim.time))]
                }
                _ => Vec::new(), // status: no target, no steady stream
            };
            for (format, msg) in converted {
                let stream = by_format.get_mut(format).expect("known format");
                if full(stream) {
                    continue;
                }
                stream.messages.push(msg);
                if sim.time <= warm_end {
                    stream.warm = stream.messages.len();
                }
            }
        }
    }
    Streams { by_format }
}

fn message(topic: &str, payload: Vec<u8>, time: SystemTime) -> MqttMessage {
    let ns = time
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as i64;
    MqttMessage {
        topic: topic.to_string(),
        payload_len: payload.len(),
        payload: Bytes::from(payload),
        received_ns: ns + LAG_NS,
        ack: None,
    }
}

/// The Telegraf JSON serializer's rendering of one line-protocol message
/// (`json_timestamp_units = "1s"`, Telegraf's default).
fn telegraf_json(sim: &SimMessage) -> MqttMessage {
    use influxdb_line_protocol::FieldValue as Lp;
    use serde_json::{json, Map, Value};
    let text = std::str::from_utf8(&sim.payload).expect("simulator writes UTF-8");
    let line = influxdb_line_protocol::parse_lines(text)
        .next()
        .expect("one line")
        .expect("simulator writes valid line protocol");
    let tags: Map<String, Value> = line
        .series
        .tag_set
        .iter()
        .flatten()
        .map(|(k, v)| (k.to_string(), Value::from(v.to_string())))
        .collect();
    let fields: Map<String, Value> = line
        .field_set
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Lp::I64(n) => Value::from(*n),
                Lp::U64(n) => Value::from(*n),
                Lp::F64(f) => Value::from(*f),
                Lp::String(s) => Value::from(s.to_string()),
                Lp::Boolean(b) => Value::from(*b),
            };
            (k.to_string(), v)
        })
        .collect();
    let name = line.series.measurement.to_string();
    let seconds = line.timestamp.expect("simulator stamps every line") / 1_000_000_000;
    let doc = json!({"fields": fields, "name": name, "tags": tags, "timestamp": seconds});
    let topic = format!("telegraf-json/{}/{name}", sim.device);
    message(
        &topic,
        serde_json::to_vec(&doc).expect("serializes"),
        sim.time,
    )
}

/// A live view that keeps nothing (the exporter is benchmarked on its own).
pub struct NoLive;

impl LiveView for NoLive {
    fn record(&self, _: &[Sample], _: Option<&StatusEvent>) {}
}

/// A live view that keeps every sample (to capture realistic samples).
#[derive(Default)]
pub struct Keep(pub std::sync::Mutex<Vec<Vec<Sample>>>);

impl LiveView for Keep {
    fn record(&self, samples: &[Sample], _: Option<&StatusEvent>) {
        if !samples.is_empty() {
            self.0.lock().expect("not poisoned").push(samples.to_vec());
        }
    }
}

/// The pipeline as `schoolnet run` builds it without history: built-in
/// routes, default limits, live view `live`.
pub fn pipeline(inventory: &Arc<Inventory>, live: Arc<dyn LiveView>) -> Pipeline {
    Pipeline::new(
        compile_routes(&default_routes()).expect("built-in routes compile"),
        inventory.clone(),
        LimitsConfig::default(),
        PipelineMetrics::unregistered(),
        Arc::new(DeadLetters::new(100)),
        live,
        History::None,
    )
}

/// Runs `stream` through a fresh pipeline and panics if any message was
/// rejected: the benches must measure the path of good messages.
pub fn assert_clean(inventory: &Arc<Inventory>, format: &str, stream: &Stream) {
    let dead = Arc::new(DeadLetters::new(10));
    let mut p = Pipeline::new(
        compile_routes(&default_routes()).expect("built-in routes compile"),
        inventory.clone(),
        LimitsConfig::default(),
        PipelineMetrics::unregistered(),
        dead.clone(),
        Arc::new(NoLive),
        History::None,
    );
    for msg in &stream.messages {
        p.handle(msg);
    }
    let rejected = dead.total();
    assert_eq!(
        rejected,
        0,
        "{format}: {rejected} of {} simulator messages rejected, e.g. {:?}",
        stream.messages.len(),
        dead.snapshot().first()
    );
}

/// Times `Pipeline::handle` per message over `stream` in steady state:
/// a fresh pipeline first replays the warm-up minute untimed, then the
/// timed messages follow in order; at the end of the stream the pipeline
/// is rebuilt (untimed), so no message is ever replayed with an old
/// timestamp. Use inside `Bencher::iter_custom`.
pub struct Replay<'a> {
    inventory: Arc<Inventory>,
    stream: &'a Stream,
    pipeline: Option<Pipeline>,
    next: usize,
}

impl<'a> Replay<'a> {
    pub fn new(inventory: Arc<Inventory>, stream: &'a Stream) -> Replay<'a> {
        Replay {
            inventory,
            stream,
            pipeline: None,
            next: 0,
        }
    }

    /// Handles `iters` messages; returns the CPU time spent in `handle` only.
    pub fn run(&mut self, iters: u64) -> Duration {
        let mut left = iters as usize;
        let mut spent = Duration::ZERO;
        while left > 0 {
            if self.pipeline.is_none() || self.next == self.stream.messages.len() {
                let mut p = pipeline(&self.inventory, Arc::new(NoLive));
                for msg in &self.stream.messages[..self.stream.warm] {
                    p.handle(msg);
                }
                self.pipeline = Some(p);
                self.next = self.stream.warm;
            }
            let p = self.pipeline.as_mut().expect("just built");
            let n = left.min(self.stream.messages.len() - self.next);
            let batch = &self.stream.messages[self.next..self.next + n];
            let started = thread_cpu();
            for (i, msg) in batch.iter().enumerate() {
                if let Some(ahead) = batch.get(i + 2) {
                    arrive(ahead);
                }
                p.handle(std::hint::black_box(msg));
            }
            spent += thread_cpu() - started;
            self.next += n;
            left -= n;
        }
        spent
    }
}

/// Brings a message's topic and payload into the cache, as receiving it
/// does in the pipeline: the MQTT client has just copied both out of the
/// socket buffer when `handle` sees them. The replayed stream is far larger
/// than the cache, so without this every message would start with two
/// cache misses on bytes that are hot in production (measured: a sixth of
/// a bare value's time; docs/performance.md). A prefetch does not wait
/// for the data.
fn arrive(msg: &MqttMessage) {
    prefetch(msg.topic.as_bytes());
    prefetch(&msg.payload);
}

/// Asks the CPU to bring `bytes` into the cache (see [`arrive`]).
pub fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: prefetching is a hint; any address is allowed.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// The samples the pipeline makes of `per_format` messages of every format
/// (after the warm-up minute), one entry per message that produced any, in
/// arrival order across formats: what it hands to the spool. (`telegraf-json`
/// is left out: it carries the same metrics as `influx`.)
pub fn samples_per_message(per_format: usize) -> Vec<Vec<InfluxRecord>> {
    let inventory = sample_inventory();
    let streams = streams(&inventory, per_format);
    let mut all: Vec<&MqttMessage> = streams
        .by_format
        .iter()
        .filter(|(format, _)| **format != "telegraf-json")
        .flat_map(|(_, s)| s.messages.iter())
        .collect();
    all.sort_by_key(|m| m.received_ns);
    let keep = Arc::new(Keep::default());
    let mut pipeline = pipeline(&inventory, keep.clone());
    let warm_end = (START_S as i64 + WARM_UP.as_secs() as i64) * 1_000_000_000;
    for msg in all.iter().filter(|m| m.received_ns <= warm_end) {
        pipeline.handle(msg);
    }
    keep.0.lock().expect("not poisoned").clear();
    for msg in all.iter().filter(|m| m.received_ns > warm_end) {
        pipeline.handle(msg);
    }
    let per_message = std::mem::take(&mut *keep.0.lock().expect("not poisoned"));
    per_message
        .into_iter()
        .map(|samples| samples.into_iter().map(InfluxRecord::Sample).collect())
        .collect()
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
