//! `/metrics` render: `Exporter::render`, the whole scrape (health
//! assessment of every school, outage tracking, the live-state families,
//! the pipeline's and the exporter's own metrics, text encoding), on live
//! state fed the way `schoolnet run` feeds it: fleet simulator traffic
//! through the collector's pipeline into the exporter.
//!
//! - `render_216`: the 216-school sample inventory.
//! - `render_30000`: a generated national inventory, 30,000 schools each
//!   with a router (WAN interface) and an ONT, one OLT per district of 300
//!   schools: about 1M series.
//!
//! Setup prints (stderr) the number of exposed series, and at 30,000
//! schools the process RSS with its peak once the state is built (the peak
//! includes the simulator) and again after the renders (peak since then).
//! Timed in thread CPU time (the render runs on the calling thread; on a
//! shared 2-core machine wall time also counts whatever else ran).
//! The results, with date and machine, are in docs/performance.md.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("exposition");
    // State is built on first use, so a filter that skips a benchmark
    // skips its setup too.
    let mut small = None;
    group.bench_function("render_216", |b| {
        let fed = small.get_or_insert_with(|| {
            let fed = support::fed_exporter(support::sample_inventory());
            support::report("216 schools", &fed.exporter.render());
            fed
        });
        b.iter_custom(|n| support::cpu_time(n, || fed.exporter.render()))
    });
    drop(small);

    // About 1 s per render: criterion's minimum of 10 samples.
    group.sample_size(10);
    let mut national = None;
    group.bench_function("render_30000", |b| {
        let fed = national.get_or_insert_with(|| {
            let fed = support::fed_exporter(support::generated_inventory(30_000));
            // Peak so far: building the inventory, the simulator and the state.
            support::print_rss("30000 schools, state built");
            support::reset_peak_rss();
            support::report("30000 schools", &fed.exporter.render());
            fed
        });
        b.iter_custom(|n| support::cpu_time(n, || fed.exporter.render()))
    });
    if national.is_some() {
        // Peak since the reset: the state plus the renders.
        support::print_rss("30000 schools, after the renders");
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
