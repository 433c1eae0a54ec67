//! `schoolnet spool`'s text output: the status summary, the segment table
//! and a sink's first records, with human sizes, times and ages.

use chrono::{DateTime, SecondsFormat, Utc};
use collector::spool::{Inspection, Record, SegmentReport};

pub(super) fn status_text(i: &Inspection, now: DateTime<Utc>) -> String {
    let mut out = format!("spool {}", i.dir.display());
    match i.in_use {
        Some(Some(pid)) => out.push_str(&format!(" (in use by pid {pid})\n")),
        Some(None) => out.push_str(" (in use)\n"),
        None => out.push_str(" (not in use)\n"),
    }
    let records: u64 = i.segments.iter().map(|s| s.records).sum();
    let first = i.segments.iter().find_map(|s| s.first_record);
    let last = i.segments.iter().rev().find_map(|s| s.last_record);
    let ids = match (first, last) {
        (Some(f), Some(l)) => format!(", ids {f}..{l}"),
        _ => String::new(),
    };
    out.push_str(&format!(
        "  {} in {} segments, {records} records{ids}\n",
        bytes(i.bytes),
        i.segments.len()
    ));
    let mut rows = vec![["SINK", "CURSOR", "BACKLOG", "BYTES", "OLDEST UNSENT"]
        .map(String::from)
        .to_vec()];
    for s in &i.sinks {
        rows.push(vec![
            s.name.clone(),
            s.cursor.to_string(),
            s.backlog_records.to_string(),
            bytes(s.backlog_bytes),
            s.oldest_unsent_ns.map_or("-".into(), |t| {
                format!("{} ({} ago)", stamp(t), age(now, t))
            }),
        ]);
    }
    out.push_str(&table(&rows, "  "));
    if i.sinks.is_empty() {
        out.push_str("  no sink cursors: nothing has been read yet\n");
    }
    for (name, why) in &i.bad_cursors {
        out.push_str(&format!(
            "  warning: cursor of `{name}` is unreadable ({why}): it will replay everything\n"
        ));
    }
    for s in &i.segments {
        let Some(p) = &s.problem else { continue };
        let file = s.file.file_name().map_or_else(
            || s.file.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        let kind = p.kind.describe();
        if s.last {
            out.push_str(&format!(
                "  note: {file} ends in {} bytes that are not a whole record ({kind}) at offset {}: \
                 being written, or cut on the next start\n",
                p.bytes, p.offset
            ));
        } else {
            out.push_str(&format!(
                "  WARNING: {file} is damaged at offset {} ({kind}): {} bytes, {} records lost\n",
                p.offset, p.bytes, s.lost_ids
            ));
        }
    }
    out
}

pub(super) fn segments_text(segments: &[SegmentReport]) -> String {
    let header = [
        "SEGMENT",
        "FIRST",
        "LAST",
        "RECORDS",
        "BYTES",
        "FIRST TIME",
        "LAST TIME",
        "PROBLEM",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for s in segments {
        let opt = |v: Option<u64>| v.map_or("-".into(), |v| v.to_string());
        rows.push(vec![
            s.file
                .file_name()
                .map_or(String::new(), |f| f.to_string_lossy().into_owned()),
            opt(s.first_record),
            opt(s.last_record),
            s.records.to_string(),
            bytes(s.bytes),
            s.first_time_ns.map_or("-".into(), stamp),
            s.last_time_ns.map_or("-".into(), stamp),
            match &s.problem {
                None => "-".into(),
                Some(p) if s.last => format!(
                    "torn tail: {} bytes at {} ({})",
                    p.bytes,
                    p.offset,
                    p.kind.describe()
                ),
                Some(p) => format!(
                    "DAMAGED at {} ({}): {} bytes, {} records lost",
                    p.offset,
                    p.kind.describe(),
                    p.bytes,
                    s.lost_ids
                ),
            },
        ]);
    }
    table(&rows, "")
}

pub(super) fn records_text(i: &Inspection, sink: &str, records: &[Record]) -> String {
    let cursor = i
        .sinks
        .iter()
        .find(|s| s.name == sink)
        .map_or(0, |s| s.cursor);
    let mut out = format!(
        "\nfirst {} records of `{sink}` after its cursor {cursor}:\n",
        records.len()
    );
    for r in records {
        out.push_str(&format!(
            "#{}  {}  {} bytes\n",
            r.id,
            stamp(r.time_ns),
            r.payload.len()
        ));
        for line in String::from_utf8_lossy(&r.payload).lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

fn table(rows: &[Vec<String>], indent: &str) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect();
        out.push_str(indent);
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn stamp(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn age(now: DateTime<Utc>, ns: i64) -> String {
    let s = (now
        .timestamp_nanos_opt()
        .unwrap_or(i64::MAX)
        .saturating_sub(ns)
        / 1_000_000_000)
        .max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_numbers() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        let now = DateTime::<Utc>::from_timestamp(1_000_000, 0).unwrap();
        assert_eq!(age(now, (1_000_000 - 192) * 1_000_000_000), "3m 12s");
        assert_eq!(age(now, (1_000_000 + 5) * 1_000_000_000), "0s");
        assert_eq!(stamp(1_500_000_000), "1970-01-01T00:00:01.500Z");
    }
}
