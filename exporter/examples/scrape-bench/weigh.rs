//! The cost apart (`--costs`) and the gzip variants weighed (`--compare`).

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::{cpu_seconds, percentile, spaced, Options, Server};

/// `--costs N`: the render and each gzip variant timed apart, N times,
/// outside HTTP (wall and process CPU seconds; the state is not changing).
pub(crate) fn costs(exporter: &exporter::Exporter, n: usize) {
    let timed = |f: &mut dyn FnMut()| {
        let (t0, c0) = (Instant::now(), cpu_seconds());
        f();
        (t0.elapsed().as_secs_f64(), cpu_seconds() - c0)
    };
    let mut rows: Vec<(&str, Vec<(f64, f64)>)> = vec![
        ("render", Vec::new()),
        ("parallel gzip (level 1)", Vec::new()),
        ("plain flate2 level 1", Vec::new()),
        ("inflate (identity body)", Vec::new()),
        ("malloc_trim, text freed", Vec::new()),
    ];
    for _ in 0..n {
        let mut pages = None;
        rows[0]
            .1
            .push(timed(&mut || pages = Some(exporter.render_pages())));
        let pages = pages.expect("rendered");
        let mut gz = None;
        for (row, level) in [(1, 0), (2, 1)] {
            exporter::http::gzip::PLAIN_LEVEL.store(level, Ordering::Relaxed);
            let copy = pages.clone().into_chunks();
            rows[row].1.push(timed(&mut || {
                gz = Some(exporter::http::gzip::compress(copy.clone()))
            }));
        }
        exporter::http::gzip::PLAIN_LEVEL.store(0, Ordering::Relaxed);
        let gz = gz.expect("gzipped").into_chunks().concat();
        rows[3].1.push(timed(&mut || {
            let mut out = Vec::with_capacity(pages.len());
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out)
                .expect("inflates");
        }));
        drop((pages, gz));
        // What the exporter does right after a render's gzip.
        rows[4].1.push(timed(&mut || {
            // SAFETY: malloc_trim only releases glibc's own free lists.
            unsafe {
                libc::malloc_trim(0);
            }
        }));
    }
    println!("costs: {n} times each, outside HTTP; median wall s / CPU-s");
    for (name, v) in rows {
        let wall: Vec<f64> = v.iter().map(|x| x.0).collect();
        let cpu: Vec<f64> = v.iter().map(|x| x.1).collect();
        println!(
            "{name:<26} {:.3} / {:.3}",
            percentile(&wall, 0.5),
            percentile(&cpu, 0.5)
        );
    }
}

/// `--compare`: the parallel gzip against plain flate2, interleaved.
pub(crate) fn compare(server: &Server, o: &Options) {
    // 0: parallel (the default); n: plain single-threaded flate2 at level n.
    let variants = [("parallel gzip (level 1)", 0), ("plain flate2 level 1", 1)];
    println!(
        "compare: {} rounds of {} gzip scrapes per variant, interleaved; curl time to last byte",
        o.compare, o.spaced
    );
    let mut p50s = vec![Vec::new(); variants.len()];
    let mut cpus = vec![Vec::new(); variants.len()];
    for round in 0..o.compare {
        for (i, (name, level)) in variants.iter().enumerate() {
            exporter::http::gzip::PLAIN_LEVEL.store(*level, Ordering::Relaxed);
            let t = spaced(&server.url, true, o.spaced);
            let p50 = percentile(&t.times, 0.5);
            println!(
                "round {round} {name:<24} p50 {p50:.3} s  p90 {:.3} s  CPU-s/scrape {:.3}  {:.2} MB",
                percentile(&t.times, 0.9),
                t.cpu_per_scrape,
                t.bytes as f64 / 1e6
            );
            p50s[i].push(p50);
            cpus[i].push(t.cpu_per_scrape);
        }
    }
    exporter::http::gzip::PLAIN_LEVEL.store(0, Ordering::Relaxed);
    for (i, (name, _)) in variants.iter().enumerate() {
        println!(
            "median over rounds: {name:<24} p50 {:.3} s  CPU-s/scrape {:.3}",
            percentile(&p50s[i], 0.5),
            percentile(&cpus[i], 0.5)
        );
    }
}
