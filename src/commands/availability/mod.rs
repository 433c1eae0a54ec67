//! `schoolnet availability`: uptime per school and district over a window,
//! from the `outage` measurement the exporter writes to InfluxDB.
//!
//! - this module: arguments → window, data source, inventory; prints;
//! - [`query`]: InfluxQL over `GET /query` (HTTP, auth, error messages);
//! - [`report`]: the computation (pure: clipping, union, MTTR, summaries);
//! - [`format`]: table, CSV and JSON.
//!
//! The semantics operators rely on are in `schoolnet availability --help`
//! (`cli::AVAILABILITY_HELP`) and the README section "Availability".

mod format;
mod query;
mod report;

use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use collector::inventory::Inventory;

use crate::cli::{AvailabilityArgs, ReportFormat};
use crate::influx_query::{self, nanos};
use format::Meta;
use query::Source;
use report::Window;

/// Outages that started this long before `--from` are still looked at;
/// older ones are not (keeps the query bounded).
pub const LOOKBACK_DAYS: u32 = 370;

/// The window without `--last`, `--from` or `--month`.
const DEFAULT_LAST: &str = "30d";

/// `schoolnet availability …`
pub async fn availability(args: AvailabilityArgs) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    let mut notes = Vec::new();
    let (from, to) = args.range.resolve(DEFAULT_LAST, now, &mut notes)?;
    let (source, inventory, inventory_name) = resolve(&args, &mut notes)?;
    let district = match &args.district {
        None => None,
        Some(d) => Some(known_district(&inventory, d)?),
    };
    let from_ns = nanos(from)?;
    let to_ns = nanos(to)?;
    let since_ns = from_ns.saturating_sub(i64::from(LOOKBACK_DAYS) * 86_400 * 1_000_000_000);
    let points = query::fetch(&source, since_ns, to_ns).await?;

    let w = Window {
        from_s: from_ns as f64 / 1e9,
        to_s: to_ns as f64 / 1e9,
    };
    // The same conversion as `to`: when `to` is capped at now, an open
    // outage must reach it exactly (down at the end).
    let now_s = nanos(now)? as f64 / 1e9;
    let report = report::compute(&inventory, district.as_deref(), &points, w, now_s);
    if points.is_empty() {
        notes.push(format!(
            "no `outage` points in `{}` since {}: every school counts as 100 % available \
             (is `schoolnet run` storing history there?)",
            source.db,
            (from - chrono::Duration::days(i64::from(LOOKBACK_DAYS))).format("%Y-%m-%d")
        ));
    }
    if !report.unknown_schools.is_empty() {
        notes.push(format!(
            "outages of {} school(s) not in the inventory are not counted: {}",
            report.unknown_schools.len(),
            list(&report.unknown_schools, 10)
        ));
    }
    let meta = Meta {
        from,
        to,
        influx_url: source.url.clone(),
        database: source.db.clone(),
        inventory: inventory_name,
        district,
        lookback_days: LOOKBACK_DAYS,
        notes,
    };
    let text = match args.format {
        ReportFormat::Table => format::table(&report, &meta),
        ReportFormat::Csv => format::csv(&report)?,
        ReportFormat::Json => format::json(&report, &meta)?,
    };
    if !matches!(args.format, ReportFormat::Table) {
        // The table prints its notes; keep CSV/JSON on stdout clean.
        for note in &meta.notes {
            eprintln!("note: {note}");
        }
    }
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write the report")?;
    Ok(ExitCode::SUCCESS)
}

/// The InfluxDB to read and the inventory (with a label for the report),
/// from the config or from the `--influx-*` flags and the sample inventory.
fn resolve(
    args: &AvailabilityArgs,
    notes: &mut Vec<String>,
) -> anyhow::Result<(Source, Inventory, String)> {
    let conn = args.influx.connection(&args.config, notes)?;
    influx_query::resolve(conn, "outage history", notes)
}

/// The inventory's spelling of `wanted` (matched ignoring case), or an error
/// listing the districts there are.
fn known_district(inventory: &Inventory, wanted: &str) -> anyhow::Result<String> {
    let districts = inventory.districts();
    districts
        .iter()
        .find(|d| d.eq_ignore_ascii_case(wanted.trim()))
        .map(|d| d.to_string())
        .with_context(|| {
            let known: Vec<String> = districts.iter().map(|d| d.to_string()).collect();
            format!(
                "unknown --district `{wanted}`; known districts: {}",
                known.join(", ")
            )
        })
}

fn list(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn districts_match_ignoring_case_and_unknown_ones_are_listed() {
        let inv = simulator::sample_inventory().unwrap();
        assert_eq!(known_district(&inv, "julfa").unwrap(), "Julfa");
        let e = known_district(&inv, "Atlantis").unwrap_err().to_string();
        assert!(e.contains("Atlantis") && e.contains("Babek, Julfa"), "{e}");
    }
}
