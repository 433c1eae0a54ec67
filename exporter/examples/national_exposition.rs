//! Writes the `/metrics` text of a generated national inventory to a file,
//! for measuring what Prometheus does with it (scripts/bench-rules.sh):
//! `cargo run -p exporter --example national_exposition -- <schools>
//! <standard|full> <out.prom>`.
//!
//! The live state is fed like the benches feed it (`benches/support`: the
//! fleet simulator through the collector's pipeline), so every family the
//! detail level exports has values.

#[allow(dead_code)] // the benches use the rest
#[path = "../benches/support/mod.rs"]
mod support;

use collector::config::{Detail, ExporterConfig};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [schools, detail, out] = args.as_slice() else {
        eprintln!("usage: national_exposition <schools> <standard|full> <out.prom>");
        std::process::exit(2);
    };
    let schools: usize = schools.parse().unwrap_or_else(|e| {
        eprintln!("<schools> {schools:?}: {e}");
        std::process::exit(2)
    });
    let detail = match detail.as_str() {
        "standard" => Detail::Standard,
        "full" => Detail::Full,
        other => {
            eprintln!("detail {other:?}: expected standard or full");
            std::process::exit(2)
        }
    };
    let config = ExporterConfig {
        detail,
        ..ExporterConfig::default()
    };
    let fed = support::fed_exporter_with(support::generated_inventory(schools), config);
    let text = fed.exporter.render();
    support::report(&format!("{schools} schools, {detail:?}"), &text);
    if let Err(e) = std::fs::write(out, text) {
        eprintln!("cannot write {out}: {e}");
        std::process::exit(1);
    }
}
