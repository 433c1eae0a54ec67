//! What a payload cut short does to the exported Prometheus counters: the
//! exporter keeps the largest monotonic value a sample brought (an exported
//! counter never decreases), so one bogus jump from the normalizer would
//! stay in `/metrics` for good and show as a rate spike in every
//! `rate()`. The field's case, through the real route → decode → normalize
//! → exporter path: a Telegraf `net` line cut inside its `bytes_recv` (no
//! timestamp, no `i` suffix), between two good ones.

mod common;

use collector::config::{compile_routes, default_routes, LimitsConfig};
use collector::decode::{decode, DecodeContext, Decoded};
use collector::normalize::{Normalized, Normalizer};

const T: i64 = common::T0 as i64;

fn line(rx: u64, tx: u64, t_s: i64) -> String {
    format!(
        "net,host=rtr-001,interface=wan bytes_recv={rx}i,bytes_sent={tx}i,packets_recv=1000i {t_s}000000000\n"
    )
}

/// One message on `topic` through the built-in routes into `n`.
fn normalize(n: &mut Normalizer, topic: &str, payload: &[u8], received_s: i64) -> Normalized {
    let routes = compile_routes(&default_routes()).unwrap();
    let (route, vars) = routes.find(topic).unwrap();
    let ctx = DecodeContext {
        vars: &vars,
        counter_width: route.counter_width,
    };
    let out = match decode(&route.format, ctx, payload) {
        Ok(d @ Decoded::Observations(_)) => n.normalize(d, received_s * 1_000_000_000),
        other => panic!("{topic}: {other:?}"),
    };
    out
}

fn exported(text: &str, family: &str) -> f64 {
    let prefix = format!("{family}{{");
    text.lines()
        .find(|l| {
            l.starts_with(&prefix)
                && l.contains("device=\"rtr-001\"")
                && l.contains("interface=\"wan\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no {family} for rtr-001 wan in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn a_line_cut_inside_its_counter_never_reaches_the_exported_counter() {
    let f = common::isolated();
    let mut n = Normalizer::new(f.inventory.clone(), LimitsConfig::default());
    let topic = "telegraf/rtr-001/net";
    // 12.3 TB received so far, 100 Mbit/s for 10 s per message.
    let (rx, step) = (12_345_678_901_234u64, 125_000_000u64);
    let full = line(rx + step, 1_000, T + 10);
    let cut = &full[..full.find("bytes_recv=").unwrap() + "bytes_recv=".len() + 7];

    let mut record = |payload: &str, received_s: i64| {
        let out = normalize(&mut n, topic, payload.as_bytes(), received_s);
        f.exporter.record_samples(&out.samples);
        out
    };
    record(&line(rx, 1_000, T), T + 1);
    let damaged = record(cut, T + 11);
    assert!(damaged.samples.is_empty(), "{damaged:?}");
    assert_eq!(
        damaged.rejects[0].reason.as_str(),
        "missing_timestamp",
        "{:?}",
        damaged.rejects
    );
    record(&line(rx + 2 * step, 1_000, T + 20), T + 21);
    let text = common::without_scrape_duration(&f.exporter.render());
    // Exactly the true traffic since the collector first saw the series.
    assert_eq!(
        exported(&text, "schoolnet_interface_receive_bytes_total"),
        (2 * step) as f64
    );
    // 100 Mbit/s on a 100 Mbit/s uplink, not ~1000x.
    let utilization = exported(&text, "schoolnet_interface_utilization_ratio");
    assert!((utilization - 1.0).abs() < 1e-9, "{utilization}");
}

#[test]
fn a_value_cut_short_with_its_timestamp_kept_never_reaches_the_exported_counter() {
    // collectd's shape: its timestamp comes first, so a value cut short
    // parses with one. It looks like a reset, then the next good one like a
    // huge increase (here as line protocol, which the built-in routes read
    // as raw counters).
    let f = common::isolated();
    let mut n = Normalizer::new(f.inventory.clone(), LimitsConfig::default());
    let topic = "telegraf/rtr-001/net";
    let (rx, step) = (12_345_678_901_234u64, 125_000_000u64);
    let mut record = |payload: String, received_s: i64| {
        let out = normalize(&mut n, topic, payload.as_bytes(), received_s);
        f.exporter.record_samples(&out.samples);
    };
    record(line(rx, 1_000, T), T + 1);
    // The same cut as a collectd `12345678901234` → `1234567`, timestamp kept.
    record(line(1_234_567, 1_000, T + 10), T + 11);
    let text = common::without_scrape_duration(&f.exporter.render());
    assert_eq!(
        exported(&text, "schoolnet_interface_receive_bytes_total"),
        0.0
    );
    record(line(rx + 2 * step, 1_000, T + 20), T + 21);
    let text = common::without_scrape_duration(&f.exporter.render());
    assert_eq!(
        exported(&text, "schoolnet_interface_receive_bytes_total"),
        (2 * step) as f64
    );
}
