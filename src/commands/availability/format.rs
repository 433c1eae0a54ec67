//! Output of the availability report: an aligned table for people
//! (durations like `3h 12m`, percentages with 3 decimals, truncated so that
//! `100.000 %` means no downtime at all), CSV with one row per school and
//! JSON with everything, both with exact numbers (seconds, ratios 0–1).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::report::{Report, SchoolRow, Summary};
use crate::influx_query::{render, stamp};

/// What the report is about, besides the numbers.
#[derive(Debug, Clone)]
pub struct Meta {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// InfluxDB base URL and database (or bucket).
    pub influx_url: String,
    pub database: String,
    /// `built-in sample` or the config file's path.
    pub inventory: String,
    pub district: Option<String>,
    pub lookback_days: u32,
    pub notes: Vec<String>,
}

/// The aligned, human-readable report (notes included).
pub fn table(report: &Report, meta: &Meta) -> String {
    let mut out = format!(
        "Availability {} → {} ({}), {} schools{}\n",
        stamp(&meta.from),
        stamp(&meta.to),
        duration(report.window.seconds()),
        report.total.schools,
        meta.district
            .as_deref()
            .map_or(String::new(), |d| format!(" in {d}")),
    );
    out.push_str(&format!(
        "source: {} database {}, inventory: {}\n",
        meta.influx_url, meta.database, meta.inventory
    ));
    for note in &meta.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push('\n');

    let mut rows = vec![cells(&[
        "SCHOOL",
        "NAME",
        "DISTRICT",
        "AVAILABILITY",
        "OUTAGES",
        "DOWNTIME",
        "MTTR",
        "AT END",
    ])];
    for s in &report.schools {
        rows.push(vec![
            s.school.to_string(),
            s.name.to_string(),
            s.district.to_string(),
            percent(s.availability),
            s.outages.to_string(),
            duration(s.downtime_s),
            s.mttr_s.map_or("-".into(), duration),
            if s.down_at_end {
                "down".into()
            } else {
                String::new()
            },
        ]);
    }
    render(
        &mut out,
        &rows,
        &[false, false, false, true, true, true, true, false],
        None,
    );
    out.push('\n');

    let mut rows = vec![cells(&[
        "DISTRICT",
        "SCHOOLS",
        "MEAN",
        "MIN",
        "(SCHOOL)",
        "OUTAGES",
        "DOWNTIME",
        "MTTR",
        "DOWN AT END",
    ])];
    // One district: the total would repeat it.
    let total = (report.districts.len() != 1).then_some(&report.total);
    for d in report.districts.iter().chain(total) {
        rows.push(vec![
            d.name.to_string(),
            d.schools.to_string(),
            percent(d.mean_availability),
            percent(d.min_availability),
            d.min_school.as_deref().unwrap_or("").to_string(),
            d.outages.to_string(),
            duration(d.downtime_s),
            d.mttr_s.map_or("-".into(), duration),
            d.down_at_end.to_string(),
        ]);
    }
    let separator_before = total.map(|_| rows.len() - 1);
    render(
        &mut out,
        &rows,
        &[false, true, true, true, false, true, true, true, true],
        separator_before,
    );
    out
}

fn cells(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// One row per school, exact numbers; `mttr_s` empty without restored outages.
pub fn csv(report: &Report) -> anyhow::Result<String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record([
        "school",
        "name",
        "district",
        "availability",
        "downtime_s",
        "outages",
        "restored",
        "mttr_s",
        "down_at_end",
        "window_s",
    ])?;
    let window = report.window.seconds().to_string();
    for s in &report.schools {
        w.write_record([
            &*s.school,
            &*s.name,
            &*s.district,
            &s.availability.to_string(),
            &s.downtime_s.to_string(),
            &s.outages.to_string(),
            &s.restored.to_string(),
            &s.mttr_s.map_or(String::new(), |m| m.to_string()),
            &s.down_at_end.to_string(),
            &window,
        ])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// The whole report as one JSON document.
pub fn json(report: &Report, meta: &Meta) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct WindowJson {
        from: String,
        to: String,
        from_unix_s: f64,
        to_unix_s: f64,
        seconds: f64,
    }
    #[derive(Serialize)]
    struct Doc<'a> {
        window: WindowJson,
        influx_url: &'a str,
        database: &'a str,
        inventory: &'a str,
        district: Option<&'a str>,
        lookback_days: u32,
        notes: &'a [String],
        schools: &'a [SchoolRow],
        districts: &'a [Summary],
        total: &'a Summary,
        unknown_schools: &'a [String],
    }
    let doc = Doc {
        window: WindowJson {
            from: meta.from.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            to: meta.to.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            from_unix_s: report.window.from_s,
            to_unix_s: report.window.to_s,
            seconds: report.window.seconds(),
        },
        influx_url: &meta.influx_url,
        database: &meta.database,
        inventory: &meta.inventory,
        district: meta.district.as_deref(),
        lookback_days: meta.lookback_days,
        notes: &meta.notes,
        schools: &report.schools,
        districts: &report.districts,
        total: &report.total,
        unknown_schools: &report.unknown_schools,
    };
    let mut s = serde_json::to_string_pretty(&doc)?;
    s.push('\n');
    Ok(s)
}

/// `99.123 %`: truncated, not rounded, so a school with any downtime never
/// shows `100.000 %`.
pub fn percent(ratio: f64) -> String {
    let milli = (ratio * 100_000.0 + 1e-6).floor() / 1000.0;
    format!("{milli:.3} %")
}

/// `0s`, `45s`, `12m 5s`, `3h 12m`, `2d 4h`: the two largest units, rounded
/// to the second.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let pair = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua} {b}{ub}")
        }
    };
    if d > 0 {
        pair(d, "d", h, "h")
    } else if h > 0 {
        pair(h, "h", m, "m")
    } else if m > 0 {
        pair(m, "m", sec, "s")
    } else {
        format!("{sec}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_humanized_to_two_units() {
        let cases = [
            (0.0, "0s"),
            (44.6, "45s"),
            (60.0, "1m"),
            (725.0, "12m 5s"),
            (3600.0, "1h"),
            (3.0 * 3600.0 + 12.0 * 60.0 + 59.0, "3h 12m"),
            (2.0 * 86_400.0 + 4.0 * 3600.0 + 5.0, "2d 4h"),
            (31.0 * 86_400.0, "31d"),
        ];
        for (s, want) in cases {
            assert_eq!(duration(s), want, "{s}");
        }
    }

    #[test]
    fn percentages_have_three_decimals_and_never_round_up_to_100() {
        assert_eq!(percent(1.0), "100.000 %");
        assert_eq!(percent(0.999), "99.900 %");
        assert_eq!(percent(0.99999999), "99.999 %");
        assert_eq!(percent(0.987654), "98.765 %");
        assert_eq!(percent(0.0), "0.000 %");
    }

    #[test]
    fn render_aligns_by_characters() {
        let mut out = String::new();
        let rows = vec![
            cells(&["A", "N"]),
            cells(&["Şərur", "1"]),
            cells(&["B", "100"]),
        ];
        render(&mut out, &rows, &[false, true], Some(2));
        assert_eq!(out, "A        N\nŞərur    1\n----------\nB      100\n");
    }
}
