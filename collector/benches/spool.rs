//! Spool append: the pipeline's storage step (`Outbox::flush`) for one group
//! of messages: `Spool::append` of each message's line protocol (one record
//! per message), then `Spool::commit` (one flush, plus one fsync with
//! `fsync = true`, for the whole group). Records are the line protocol of
//! real simulator traffic through the pipeline.
//!
//! Groups of 1, 10 and 100 messages, with and without fsync, in a temporary
//! directory under `target/` (on disk: `/tmp` may be a tmpfs, where fsync
//! is free). One iteration is one group; the writer's acknowledgements
//! (untimed) let the spool delete segments, so it stays in steady state.
//! No target in issue 6: reported for the record.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use collector::line_protocol::encode_record;
use collector::sample::InfluxRecord;
use collector::spool::{Spool, SpoolConfig};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const SINK: &str = "influx";

fn records() -> Vec<(i64, Vec<u8>)> {
    support::samples_per_message(2_000)
        .into_iter()
        .map(|records| {
            let mut lines = Vec::with_capacity(records.len() * 160);
            let mut time_ns = 0;
            for r in &records {
                if let InfluxRecord::Sample(s) = r {
                    time_ns = s.time_ns;
                }
                encode_record(r, &mut lines);
            }
            (time_ns, lines)
        })
        .collect()
}

/// Where the spools live: under the target directory, which is on disk.
fn bench_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("bench-tmp");
    std::fs::create_dir_all(&dir).expect("create bench-tmp");
    dir
}

fn append(c: &mut Criterion) {
    let records = records();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("spool");
    for fsync in [false, true] {
        for size in [1usize, 10, 100] {
            let tmp = tempfile::tempdir_in(bench_dir()).expect("temp dir");
            let config = SpoolConfig {
                fsync,
                ..SpoolConfig::with_dir(tmp.path())
            };
            let (spool, _) = Spool::open(&config, &[SINK]).expect("open spool");
            let name = if fsync {
                "group_fsync"
            } else {
                "group_nofsync"
            };
            let mut next = 0;
            group.throughput(Throughput::Elements(size as u64));
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter_custom(|groups| {
                    rt.block_on(async {
                        let mut spent = Duration::ZERO;
                        for _ in 0..groups {
                            let started = Instant::now();
                            for _ in 0..size {
                                let (time_ns, lines) = &records[next];
                                next = (next + 1) % records.len();
                                spool.append(*time_ns, lines).await.expect("append");
                            }
                            let durable = spool.commit().await.expect("commit");
                            spent += started.elapsed();
                            spool.ack(SINK, durable).expect("ack");
                        }
                        spent
                    })
                })
            });
            spool.close().expect("close");
        }
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
