//! Line-protocol encoding per point: `LineEncoder::encode_record`, what
//! the pipeline calls for every sample it spools (and the InfluxDB writer
//! for every sample it gets unencoded), on the samples the pipeline makes from real simulator
//! traffic (all formats of the 216-school sample, in arrival order).
//!
//! Per point as the pipeline does it: the samples of one message into one
//! fresh buffer sized like `Outbox::add_samples` does (`max_encoded_len`
//! summed over them) by one encoder kept across the run, as the pipeline
//! keeps its own; time divided by points written.
//! `mixed` cycles through every message in arrival order; `interface` only
//! through interface samples (one per buffer), the widest points.
//! Timed in thread CPU time (see `support::thread_cpu`).
//! The results, with date and machine, are in docs/performance.md.
//!
//! `line_protocol_floor` times what an interface point costs whatever the
//! encoder does (its twelve numbers through itoa and zmij alone; a buffer
//! and the finished line's bytes alone), to tell how far the target is
//! reachable for the widest points.

mod support;

use std::hint::black_box;
use std::time::Duration;

use collector::line_protocol::{encode_record, max_encoded_len, LineEncoder};
use collector::sample::{FieldValue, InfluxRecord, Measurement, Sample};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Messages per format run through the pipeline to get the samples.
const PER_FORMAT: usize = 4_000;

/// Encodes messages in turn, each into a fresh buffer sized like the
/// pipeline's (`Outbox::add_samples`), until `points` points are written;
/// returns the CPU time taken.
fn encode_points(
    encoder: &mut LineEncoder,
    messages: &[Vec<InfluxRecord>],
    next: &mut usize,
    points: u64,
) -> Duration {
    let mut done = 0;
    let started = support::thread_cpu();
    while done < points {
        let records = &messages[*next];
        *next = (*next + 1) % messages.len();
        let mut lines = Vec::with_capacity(records.iter().map(max_encoded_len).sum());
        for r in records {
            encoder.encode_record(black_box(r), &mut lines);
        }
        black_box(lines);
        done += records.len() as u64;
    }
    // A message may overshoot `points` by a few points: scale back.
    (support::thread_cpu() - started).mul_f64(points as f64 / done as f64)
}

fn encode(c: &mut Criterion) {
    let mixed = support::samples_per_message(PER_FORMAT);
    let interface: Vec<Vec<InfluxRecord>> = mixed
        .iter()
        .flatten()
        .filter(|r| matches!(r, InfluxRecord::Sample(s) if s.measurement == Measurement::Interface))
        .map(|r| vec![r.clone()])
        .collect();
    let mut group = c.benchmark_group("line_protocol");
    group.throughput(Throughput::Elements(1));
    for (name, messages) in [("mixed", &mixed), ("interface", &interface)] {
        let mut next = 0;
        let mut encoder = LineEncoder::new();
        group.bench_function(name, |b| {
            b.iter_custom(|points| encode_points(&mut encoder, messages, &mut next, points))
        });
    }
    group.finish();
    floor(c, &interface);
}

/// What an interface point costs at least, whatever the encoder, timed as
/// `encode_points` does over the same points:
/// - `numbers`: only its numbers (timestamp, counters, gauges; no keys,
///   no tags) through itoa and zmij, the fastest crates at hand, into one
///   reused buffer (zmij's digits are not always `{}`'s: a lower bound);
/// - `copy`: a fresh buffer sized like the pipeline's and the finished
///   line copied into it (allocation and bytes, nothing computed).
fn floor(c: &mut Criterion, interface: &[Vec<InfluxRecord>]) {
    let samples: Vec<&Sample> = interface
        .iter()
        .flatten()
        .filter_map(|r| match r {
            InfluxRecord::Sample(s) => Some(s),
            _ => None,
        })
        .collect();
    let lines: Vec<(usize, Vec<u8>)> = interface
        .iter()
        .map(|records| {
            let mut line = Vec::new();
            records.iter().for_each(|r| {
                encode_record(r, &mut line);
            });
            (records.iter().map(max_encoded_len).sum(), line)
        })
        .collect();
    let mut group = c.benchmark_group("line_protocol_floor");
    group.throughput(Throughput::Elements(1));
    let mut next = 0;
    group.bench_function("interface_numbers", |b| {
        b.iter_custom(|points| {
            let mut out = Vec::with_capacity(1024);
            let started = support::thread_cpu();
            for _ in 0..points {
                let s = black_box(samples[next]);
                next = (next + 1) % samples.len();
                out.clear();
                let mut int = itoa::Buffer::new();
                let mut float = zmij::Buffer::new();
                out.extend_from_slice(int.format(s.time_ns).as_bytes());
                for &(_, value) in &s.fields {
                    match value {
                        FieldValue::Counter(v) => {
                            out.extend_from_slice(int.format(v).as_bytes());
                            out.push(b'i');
                        }
                        FieldValue::Float(v) => {
                            out.extend_from_slice(float.format_finite(v).as_bytes())
                        }
                    }
                }
                black_box(&out);
            }
            support::thread_cpu() - started
        })
    });
    let mut next = 0;
    group.bench_function("interface_copy", |b| {
        b.iter_custom(|points| {
            let started = support::thread_cpu();
            for _ in 0..points {
                let (capacity, line) = black_box(&lines[next]);
                next = (next + 1) % lines.len();
                let mut out = Vec::with_capacity(*capacity);
                out.extend_from_slice(line);
                black_box(out);
            }
            support::thread_cpu() - started
        })
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
