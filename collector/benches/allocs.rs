//! Heap allocations per message of `decode_normalize`, per format: the
//! pipeline's hot path replayed over the same simulated streams as the
//! `pipeline` bench, under a counting global allocator. Deterministic where
//! timings are noisy, so it shows what an allocation-saving change saved.
//!
//! `cargo bench -p collector --bench allocs [-- <format> [<messages>]]`
//!
//! The replay is one function, `replay_measured`, so callgrind can count
//! the instructions per message of exactly that (also deterministic; see
//! README "Performance"):
//! `valgrind --tool=callgrind --toggle-collect='*replay_measured*' <bench binary> influx 2000`

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use collector::pipeline::Pipeline;
use collector::source::mqtt::MqttMessage;
use support::NoLive;

/// The system allocator, counting calls and bytes.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Messages per format after the warm-up minute, unless given.
const PER_FORMAT: usize = 20_000;

fn main() {
    // `cargo bench` passes `--bench`; the optional arguments are the rest.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let only = args.first().map(String::as_str);
    let per_format = args
        .get(1)
        .map_or(PER_FORMAT, |n| n.parse().expect("a message count"));
    let inventory = support::sample_inventory();
    let streams = support::streams(&inventory, per_format);
    println!(
        "{:<14} {:>9} {:>11} {:>10}",
        "format", "messages", "allocs/msg", "bytes/msg"
    );
    for format in support::FORMATS
        .into_iter()
        .filter(|f| only.is_none_or(|o| o == *f))
    {
        let stream = &streams.by_format[format];
        let mut p = support::pipeline(&inventory, Arc::new(NoLive));
        for msg in &stream.messages[..stream.warm] {
            p.handle(msg);
        }
        let measured = &stream.messages[stream.warm..];
        let (a0, b0) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
        replay_measured(&mut p, measured);
        let n = measured.len() as f64;
        let allocs = (ALLOCS.load(Relaxed) - a0) as f64 / n;
        let bytes = (BYTES.load(Relaxed) - b0) as f64 / n;
        println!(
            "{format:<14} {:>9} {allocs:>11.2} {bytes:>10.0}",
            measured.len()
        );
    }
}

/// The measured part: every message through `Pipeline::handle`.
#[inline(never)]
fn replay_measured(p: &mut Pipeline, messages: &[MqttMessage]) {
    for msg in messages {
        p.handle(black_box(msg));
    }
}
