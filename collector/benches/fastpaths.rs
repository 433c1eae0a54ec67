//! Cost per message of the collector's whole hot path on the simulator's
//! mixed stream — `Pipeline::handle` (route, decode, normalize) plus the
//! line-protocol encode the spool path does for every sample — so that a
//! hand-written fast path can be weighed end to end (the fast-path policy,
//! docs/performance.md "Fast paths: keep or drop"; run by
//! `scripts/bench-fastpaths.sh`).
//!
//! `cargo bench -p collector --bench fastpaths [-- <stream> [<messages>]]`
//! - `mixed` (default): the fleet simulator's messages in publish order,
//!   every format it sends (as `schoolnet-load` drives the collector);
//! - `telegraf-json`: the benches' Telegraf JSON rendering of the
//!   simulator's line-protocol messages (a format the simulator does not
//!   publish).
//!
//! Prints thread CPU time per message (noisy on a shared machine); the
//! replay is one function, `replay_measured`, for callgrind's exact count:
//! `valgrind --tool=callgrind --toggle-collect='*replay_measured*' <bench binary> mixed 20000`

mod support;

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use collector::line_protocol::{encode_sample, max_sample_len};
use collector::pipeline::{LiveView, Pipeline};
use collector::sample::{Sample, StatusEvent};
use collector::source::mqtt::MqttMessage;
use simulator::{Fleet, FleetOptions};

/// Measured messages after the warm-up minute, unless given.
const MESSAGES: usize = 20_000;

/// Encodes every message's samples into line protocol as the spool path
/// does (`Outbox::add_samples`: one buffer per message, sized up front).
#[derive(Default)]
struct Encoding {
    bytes: Mutex<u64>,
}

impl LiveView for Encoding {
    fn record(&self, samples: &[Sample], _: Option<&StatusEvent>) {
        let mut lines = Vec::with_capacity(samples.iter().map(max_sample_len).sum());
        for s in samples {
            encode_sample(s, &mut lines);
        }
        *self.bytes.lock().expect("not poisoned") += black_box(&lines).len() as u64;
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let stream = args.first().map_or("mixed", String::as_str);
    let count = args
        .get(1)
        .map_or(MESSAGES, |n| n.parse().expect("a message count"));
    let inventory = support::sample_inventory();
    let (messages, warm) = match stream {
        "mixed" => mixed(&inventory, count),
        "telegraf-json" => {
            let mut streams = support::streams(&inventory, count);
            let s = streams.by_format.remove("telegraf-json").expect("a stream");
            (s.messages, s.warm)
        }
        other => panic!("unknown stream {other:?} (mixed, telegraf-json)"),
    };
    let live = Arc::new(Encoding::default());
    let mut p = support::pipeline(&inventory, live.clone());
    for msg in &messages[..warm] {
        p.handle(msg);
    }
    let measured = &messages[warm..];
    let bytes0 = *live.bytes.lock().expect("not poisoned");
    let t0 = thread_cpu();
    replay_measured(&mut p, measured);
    let cpu = thread_cpu() - t0;
    let bytes = *live.bytes.lock().expect("not poisoned") - bytes0;
    println!(
        "{stream} {} messages {:.1} ns/msg {:.1} lp-bytes/msg",
        measured.len(),
        cpu.as_nanos() as f64 / measured.len() as f64,
        bytes as f64 / measured.len() as f64
    );
}

#[inline(never)]
fn replay_measured(p: &mut Pipeline, messages: &[MqttMessage]) {
    for msg in messages {
        p.handle(black_box(msg));
    }
}

/// The fleet's messages in publish order: the warm-up minute's, then
/// `count` more; the second value is the warm-up's length.
fn mixed(inventory: &collector::inventory::Inventory, count: usize) -> (Vec<MqttMessage>, usize) {
    let start = UNIX_EPOCH + Duration::from_secs(support::START_S);
    let mut fleet = Fleet::new(
        inventory,
        FleetOptions {
            schools: None,
            seed: 42,
            start,
        },
    );
    let warm_end = start + support::WARM_UP;
    let (mut messages, mut warm) = (Vec::new(), 0);
    let mut now = start;
    while messages.len() < warm + count {
        now += Duration::from_secs(1);
        for sim in fleet.next_messages(now) {
            let ns = sim
                .time
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_nanos() as i64;
            messages.push(MqttMessage {
                topic: sim.topic,
                payload_len: sim.payload.len(),
                payload: Bytes::from(sim.payload),
                received_ns: ns + 5_000_000,
                ack: None,
            });
            if sim.time <= warm_end {
                warm = messages.len();
            }
        }
    }
    messages.truncate(warm + count);
    (messages, warm)
}

/// This thread's CPU time (the neighbours' load does not count).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
