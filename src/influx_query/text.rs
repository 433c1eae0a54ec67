//! Text in and out: error chains, excerpts, time arguments (dates,
//! months, nanoseconds) and aligned tables.

use anyhow::{anyhow, Context};
use chrono::{DateTime, Months, NaiveDate, Utc};

/// An error and its causes: `error sending request: … : Connection refused`.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = s.source();
    }
    out
}

/// The first 300 characters of `text`.
pub fn excerpt(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

/// `YYYY-MM-DD` (00:00 UTC) or RFC 3339.
pub fn instant(s: &str) -> anyhow::Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            anyhow!("{e}: expected YYYY-MM-DD (midnight UTC) or RFC 3339 like 2026-01-15T08:00:00Z")
        })
}

/// `YYYY-MM` → the first instants of that month and the next (UTC).
pub fn month(s: &str) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let first = NaiveDate::parse_from_str(&format!("{}-01", s.trim()), "%Y-%m-%d")
        .with_context(|| format!("--month `{s}`: expected YYYY-MM, e.g. 2026-01"))?;
    let next = first
        .checked_add_months(Months::new(1))
        .context("--month: out of range")?;
    let at = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
    Ok((at(first), at(next)))
}

/// Nanoseconds since the epoch (InfluxQL's integer time literals).
pub fn nanos(t: DateTime<Utc>) -> anyhow::Result<i64> {
    t.timestamp_nanos_opt()
        .with_context(|| format!("{} is outside the years 1677–2262", t.to_rfc3339()))
}

/// `2026-01-31 20:00:00 UTC`
pub fn stamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Columns padded to their widest cell (in characters), two spaces apart;
/// `right[i]` right-aligns column `i`; a dashed line before row `separator`.
pub fn render(out: &mut String, rows: &[Vec<String>], right: &[bool], separator: Option<usize>) {
    let n = right.len();
    let widths: Vec<usize> = (0..n)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        if separator == Some(i) {
            let total: usize = widths.iter().sum::<usize>() + 2 * (n - 1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let w = widths[c];
            if c > 0 {
                line.push_str("  ");
            }
            if right[c] {
                line.push_str(&format!("{cell:>w$}"));
            } else {
                line.push_str(&format!("{cell:<w$}"));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}
