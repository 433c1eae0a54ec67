//! Output of `schoolnet query` (`top`'s tables are in [`super::top`]): aligned tables for people with humanized,
//! 1000-based units (`12.3 GB` = 12.3 × 10^9 bytes, `45.6 Mbit/s`), and
//! CSV and JSON with the exact numbers (bytes, bit/s, ratios 0–1). Every
//! output names the data source it used.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::Serialize;

use super::bandwidth::{Interval, Report, Stats};
use super::plan::human_duration;
use super::Ctx;
use crate::influx_query::{render, stamp};

pub(super) const UNITS_NOTE: &str = "units: 1000-based (1 GB = 10^9 bytes, 1 Mbit/s = 10^6 bit/s)";

/// `950 B`, `1.23 kB`, `45.6 MB`, `123 GB`.
pub fn bytes(b: Option<u64>) -> String {
    match b {
        None => "-".into(),
        Some(b) if b < 1000 => format!("{b} B"),
        Some(b) => scaled(b as f64, &["B", "kB", "MB", "GB", "TB", "PB", "EB"]),
    }
}

/// `800 bit/s`, `1.50 Mbit/s`, `12.3 Gbit/s`.
pub fn rate(bps: Option<f64>) -> String {
    match bps {
        None => "-".into(),
        Some(v) if v.abs() < 1000.0 => format!("{v:.0} bit/s"),
        Some(v) => scaled(v, &["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"]),
    }
}

/// Three significant digits in the largest unit that keeps the value ≥ 1.
fn scaled(mut v: f64, units: &[&str]) -> String {
    let mut i = 0;
    while v.abs() >= 999.5 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    let digits = if v.abs() < 9.995 {
        2
    } else if v.abs() < 99.95 {
        1
    } else {
        0
    };
    format!("{v:.digits$} {}", units[i])
}

pub(super) fn percent(ratio: Option<f64>, digits: usize) -> String {
    ratio.map_or("-".into(), |r| format!("{:.digits$} %", r * 100.0))
}

/// `P95`, `P99.9`.
pub(super) fn p_label(p: f64) -> String {
    format!("P{p}")
}

/// `2026-10-01` for a whole day, `2026-10-01 13:00` for another whole
/// interval (seconds if any), `2026-11-23 00:00 → 09:21` for a partial one.
fn label(iv: &Interval, every_s: i64) -> String {
    let midnight = |t: &DateTime<Utc>| t.num_seconds_from_midnight() == 0;
    let fmt = |t: &DateTime<Utc>| {
        if t.second() == 0 {
            t.format("%Y-%m-%d %H:%M").to_string()
        } else {
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        }
    };
    if (iv.end - iv.start).num_seconds() < every_s {
        let end = fmt(&iv.end);
        let same_day = iv.start.date_naive() == iv.end.date_naive();
        return format!(
            "{} → {}",
            fmt(&iv.start),
            if same_day { &end[11..] } else { &end }
        );
    }
    if every_s % 86_400 == 0 && midnight(&iv.start) {
        iv.start.format("%Y-%m-%d").to_string()
    } else {
        fmt(&iv.start)
    }
}

/// The lines every table starts with: range, source, notes.
pub(super) fn header(out: &mut String, title: String, ctx: &Ctx) {
    out.push_str(&title);
    out.push('\n');
    out.push_str(&format!(
        "range: {} → {}\nsource: {} ({}); InfluxDB {} database {}; inventory: {}\n",
        stamp(&ctx.from),
        stamp(&ctx.to),
        ctx.data().name(),
        ctx.choice.why,
        ctx.source.url,
        ctx.source.db,
        ctx.inventory_name
    ));
}

pub(super) fn notes(out: &mut String, ctx: &Ctx) {
    for note in &ctx.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push('\n');
}

fn stat_cells(s: &Stats) -> Vec<String> {
    vec![
        bytes(s.rx_bytes),
        bytes(s.tx_bytes),
        rate(s.rx_bps_mean),
        rate(s.rx_bps_max),
        rate(s.rx_bps_p),
        rate(s.tx_bps_mean),
        rate(s.tx_bps_max),
        rate(s.tx_bps_p),
    ]
}

fn stat_heads(first: &[&str], p: f64) -> Vec<String> {
    let pl = p_label(p);
    let mut h: Vec<String> = first.iter().map(|s| s.to_string()).collect();
    h.extend([
        "IN".to_string(),
        "OUT".into(),
        "IN MEAN".into(),
        "IN MAX".into(),
        format!("IN {pl}"),
        "OUT MEAN".into(),
        "OUT MAX".into(),
        format!("OUT {pl}"),
    ]);
    h
}

fn intervals_table(out: &mut String, intervals: &[Interval], total: &Stats, p: f64, every_s: i64) {
    let mut rows = vec![stat_heads(&["INTERVAL (UTC)"], p)];
    for iv in intervals {
        let mut r = vec![label(iv, every_s)];
        r.extend(stat_cells(&iv.stats));
        rows.push(r);
    }
    let mut r = vec!["total".to_string()];
    r.extend(stat_cells(total));
    rows.push(r);
    let mut right = vec![true; 9];
    right[0] = false;
    render(out, &rows, &right, Some(rows.len() - 1));
}

pub fn bandwidth_table(report: &Report, ctx: &Ctx) -> String {
    let mut out = String::new();
    let every = human_duration(report.every_s);
    let title = match (&report.district, report.schools.first()) {
        (Some(d), _) => format!(
            "Bandwidth of district {} ({} schools), every {every}",
            d.district, d.schools
        ),
        (None, Some(s)) => format!(
            "Bandwidth of {} — {} (district {}), every {every}",
            s.school, s.name, s.district
        ),
        (None, None) => format!("Bandwidth, every {every}"),
    };
    header(&mut out, title, ctx);
    if report.district.is_none() {
        if let Some(s) = report.schools.first() {
            out.push_str(&format!("WAN: {}\n", s.wan.join(", ")));
        }
    }
    out.push_str(&format!(
        "IN = rx (download), OUT = tx (upload) on the WAN; MEAN, MAX and {} of {}\n{UNITS_NOTE}\n",
        p_label(report.percentile),
        ctx.data().rate_samples()
    ));
    notes(&mut out, ctx);
    match &report.district {
        None => {
            if let Some(s) = report.schools.first() {
                intervals_table(
                    &mut out,
                    &s.intervals,
                    &s.total,
                    report.percentile,
                    report.every_s,
                );
            }
        }
        Some(d) => {
            let mut rows = vec![stat_heads(&["SCHOOL", "NAME"], report.percentile)];
            for s in &report.schools {
                let mut r = vec![s.school.clone(), s.name.clone()];
                r.extend(stat_cells(&s.total));
                rows.push(r);
            }
            let mut r = vec![d.district.clone(), "district total".into()];
            r.extend(stat_cells(&d.total));
            rows.push(r);
            let mut right = vec![true; 10];
            right[0] = false;
            right[1] = false;
            render(&mut out, &rows, &right, Some(rows.len() - 1));
            out.push_str(&format!(
                "\nDistrict {} per interval (rates: sum of the schools' mean rates per {}):\n",
                d.district,
                human_duration(d.rate_bucket_s)
            ));
            intervals_table(
                &mut out,
                &d.intervals,
                &d.total,
                report.percentile,
                report.every_s,
            );
        }
    }
    out
}

pub fn bandwidth_csv(report: &Report) -> anyhow::Result<String> {
    let pl = format!("p{}", report.percentile);
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record([
        "row".to_string(),
        "school".into(),
        "district".into(),
        "start".into(),
        "end".into(),
        "rx_bytes".into(),
        "tx_bytes".into(),
        "rx_bps_mean".into(),
        "rx_bps_max".into(),
        format!("rx_bps_{pl}"),
        "tx_bps_mean".into(),
        "tx_bps_max".into(),
        format!("tx_bps_{pl}"),
        "samples".into(),
    ])?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let optu = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
    let t = |d: &DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let mut write = |kind: &str,
                     school: &str,
                     district: &str,
                     iv: (&DateTime<Utc>, &DateTime<Utc>),
                     s: &Stats| {
        w.write_record([
            kind.to_string(),
            school.into(),
            district.into(),
            t(iv.0),
            t(iv.1),
            optu(s.rx_bytes),
            optu(s.tx_bytes),
            opt(s.rx_bps_mean),
            opt(s.rx_bps_max),
            opt(s.rx_bps_p),
            opt(s.tx_bps_mean),
            opt(s.tx_bps_max),
            opt(s.tx_bps_p),
            s.samples.to_string(),
        ])
    };
    for sr in &report.schools {
        for iv in &sr.intervals {
            write(
                "interval",
                &sr.school,
                &sr.district,
                (&iv.start, &iv.end),
                &iv.stats,
            )?;
        }
        if let (Some(a), Some(b)) = (sr.intervals.first(), sr.intervals.last()) {
            write(
                "total",
                &sr.school,
                &sr.district,
                (&a.start, &b.end),
                &sr.total,
            )?;
        }
    }
    if let Some(d) = &report.district {
        for iv in &d.intervals {
            write(
                "district_interval",
                "",
                &d.district,
                (&iv.start, &iv.end),
                &iv.stats,
            )?;
        }
        if let (Some(a), Some(b)) = (d.intervals.first(), d.intervals.last()) {
            write(
                "district_total",
                "",
                &d.district,
                (&a.start, &b.end),
                &d.total,
            )?;
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// What every JSON document carries besides the numbers.
#[derive(Serialize)]
pub(super) struct Meta<'a> {
    query: &'static str,
    from: String,
    to: String,
    source: SourceJson<'a>,
    influx_url: &'a str,
    database: &'a str,
    inventory: &'a str,
    units: &'static str,
    notes: &'a [String],
}

#[derive(Serialize)]
struct SourceJson<'a> {
    name: &'static str,
    retention_policy: &'a str,
    why: &'a str,
    rate_samples: &'static str,
}

pub(super) fn meta<'a>(query: &'static str, ctx: &'a Ctx) -> Meta<'a> {
    Meta {
        query,
        from: ctx.from.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        to: ctx.to.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        source: SourceJson {
            name: ctx.data().name(),
            retention_policy: ctx.retention_policy(),
            why: &ctx.choice.why,
            rate_samples: ctx.data().rate_samples(),
        },
        influx_url: &ctx.source.url,
        database: &ctx.source.db,
        inventory: &ctx.inventory_name,
        units: "bytes, bit/s, ratios 0-1",
        notes: &ctx.notes,
    }
}

pub(super) fn to_json<T: Serialize>(meta: Meta<'_>, body: &T) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct Doc<'a, T> {
        #[serde(flatten)]
        meta: Meta<'a>,
        #[serde(flatten)]
        body: &'a T,
    }
    let mut s = serde_json::to_string_pretty(&Doc { meta, body })?;
    s.push('\n');
    Ok(s)
}

pub fn bandwidth_json(report: &Report, ctx: &Ctx) -> anyhow::Result<String> {
    to_json(meta("bandwidth", ctx), report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_1000_based_with_three_significant_digits() {
        assert_eq!(bytes(Some(950)), "950 B");
        assert_eq!(bytes(Some(1_234)), "1.23 kB");
        assert_eq!(bytes(Some(45_600_000)), "45.6 MB");
        assert_eq!(bytes(Some(123_456_789_012)), "123 GB");
        assert_eq!(bytes(Some(999_999)), "1.00 MB");
        assert_eq!(bytes(None), "-");
        assert_eq!(rate(Some(800.0)), "800 bit/s");
        assert_eq!(rate(Some(1_500_000.0)), "1.50 Mbit/s");
        assert_eq!(rate(Some(12_345_678_901.0)), "12.3 Gbit/s");
        assert_eq!(p_label(95.0), "P95");
        assert_eq!(p_label(99.9), "P99.9");
    }
}
