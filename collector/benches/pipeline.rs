//! Decode + normalize per message, per payload format: `Pipeline::handle`,
//! the function the pipeline task calls for every MQTT message (route
//! lookup, size and topic checks, decode, normalize, outcome and sample
//! metrics, live-view hook), on real simulator traffic in steady state.
//!
//! History is off and the live view keeps nothing, so this is the intake
//! cost before storage: line-protocol encoding and the spool are measured
//! in `line_protocol` and `spool`, the exporter's state in its own crate.
//! Timed in thread CPU time (see `support::thread_cpu`).
//! Target (issue 6): ≤ 1 µs per message for every format.

mod support;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Timed messages per format (after the warm-up minute); the replay wraps
/// around onto a fresh pipeline when they run out.
const PER_FORMAT: usize = 20_000;

fn decode_normalize(c: &mut Criterion) {
    let inventory = support::sample_inventory();
    let streams = support::streams(&inventory, PER_FORMAT);
    let mut group = c.benchmark_group("decode_normalize");
    group.throughput(Throughput::Elements(1));
    for format in support::FORMATS {
        let stream = &streams.by_format[format];
        support::assert_clean(&inventory, format, stream);
        let mut replay = support::Replay::new(inventory.clone(), stream);
        group.bench_function(format, |b| b.iter_custom(|iters| replay.run(iters)));
    }
    group.finish();
}

criterion_group!(benches, decode_normalize);
criterion_main!(benches);
