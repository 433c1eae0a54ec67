//! Decode + normalize per message, per payload format: `Pipeline::handle`,
//! the function the pipeline task calls for every MQTT message (route
//! lookup, size and topic checks, decode, normalize, outcome and sample
//! metrics, live-view hook), on real simulator traffic in steady state.
//!
//! History is off and the live view keeps nothing, so this is the intake
//! cost before storage: line-protocol encoding and the spool are measured
//! in `line_protocol` and `spool`, the exporter's state in its own crate.
//! `parser_floor` times the third-party parsers alone on the same payloads.
//! Timed in thread CPU time (see `support::thread_cpu`).
//! The results, with date and machine, are in docs/performance.md.

mod support;

use std::hint::black_box;

use collector::line_protocol::parse as line_protocol;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

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

/// The parsers alone on the same payloads: the floor under
/// `decode_normalize` for the formats that use them. `influx` is the
/// `influxdb-line-protocol` crate the decoder used before (now its test
/// oracle), `influx-handwritten` the decoder's own `line_protocol::parse`
/// (one `Line` per message, as the decoder keeps it); JSON is parsed into
/// a `serde_json::Value`. Not a target: it shows how much of `decode_normalize`
/// is parsing.
fn parser_floor(c: &mut Criterion) {
    let inventory = support::sample_inventory();
    let streams = support::streams(&inventory, PER_FORMAT);
    let payloads = |format: &str| -> Vec<&[u8]> {
        streams.by_format[format]
            .messages
            .iter()
            .map(|m| &m.payload[..])
            .collect()
    };
    let mut group = c.benchmark_group("parser_floor");
    group.throughput(Throughput::Elements(1));
    floor(&mut group, "influx", &payloads("influx"), |payload| {
        let text = std::str::from_utf8(payload).expect("UTF-8");
        for line in influxdb_line_protocol::parse_lines(text) {
            black_box(line.is_ok());
        }
    });
    floor(
        &mut group,
        "influx-handwritten",
        &payloads("influx"),
        |payload| {
            let text = std::str::from_utf8(payload).expect("UTF-8");
            let mut lines = line_protocol::lines(text);
            let mut line = line_protocol::Line::default();
            while let Some(parsed) = lines.next_into(&mut line) {
                black_box(parsed.is_ok());
                black_box(&line);
            }
        },
    );
    for format in ["telegraf-json", "json"] {
        floor(&mut group, format, &payloads(format), |payload| {
            let v: Result<serde_json::Value, _> = serde_json::from_slice(payload);
            black_box(v.is_ok());
        });
        // serde_json reading every byte into nothing (`IgnoredAny`): the
        // least any serde_json-based decoder pays, tree or no tree.
        let name = format!("{format}-validate-only");
        floor(&mut group, &name, &payloads(format), |payload| {
            let v: Result<serde::de::IgnoredAny, _> = serde_json::from_slice(payload);
            black_box(v.is_ok());
        });
    }
    group.finish();
}

/// Times `parse` over `payloads` in turn, each arriving hot as in
/// `decode_normalize` (see `support::arrive`).
fn floor(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    payloads: &[&[u8]],
    mut parse: impl FnMut(&[u8]),
) {
    let mut next = 0;
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let started = support::thread_cpu();
            for _ in 0..iters {
                let payload = black_box(payloads[next]);
                next = (next + 1) % payloads.len();
                support::prefetch(payloads[(next + 2) % payloads.len()]);
                parse(payload);
            }
            support::thread_cpu() - started
        })
    });
}

criterion_group!(benches, decode_normalize, parser_floor);
criterion_main!(benches);
