//! Reading the `outage` measurement: InfluxQL `SELECT`s over `/query`
//! (HTTP, auth and error messages: [`crate::influx_query`]).
//!
//! Outages are read from the collector's retention policy and, where the
//! retention setup of `deploy/influxdb/` exists, from its five-year copy in
//! `rollup_1h.outage` too: the raw policy keeps 30 days, so a report on an
//! older month finds its outages only in the copy. The two overlap for the
//! last 31 days; [`merge`] keeps one point per school and start second.

use anyhow::anyhow;
use serde_json::Value;

pub use crate::influx_query::Source;
use crate::influx_query::{self as shared, quote_ident};

use super::report::OutagePoint;

/// The query for every outage point that started in `[since_ns, until_ns)`.
/// Integer time literals are nanoseconds in InfluxQL.
pub fn influxql(retention_policy: &str, since_ns: i64, until_ns: i64) -> String {
    let from = if retention_policy.is_empty() {
        "\"outage\"".to_string()
    } else {
        format!("{}.\"outage\"", quote_ident(retention_policy))
    };
    format!(
        "SELECT \"duration_s\", \"open\", \"school\", \"cause\", \"started_at\" FROM {from} \
         WHERE time >= {since_ns} AND time < {until_ns}"
    )
}

/// The retention policy holding the long-term copy of the outage log.
pub const LONG_TERM_POLICY: &str = "rollup_1h";

/// Runs the queries and returns the outage points found, one per outage
/// (one per stretch of an outage whose cause changed).
pub async fn fetch(
    source: &Source,
    since_ns: i64,
    until_ns: i64,
) -> anyhow::Result<Vec<OutagePoint>> {
    let base = source.url.trim_end_matches('/');
    let context = |e: String| anyhow!("InfluxDB at {base}, database `{}`: {e}", source.db);
    let q = influxql(&source.retention_policy, since_ns, until_ns);
    let mut points = parse(&shared::run(source, &q).await?).map_err(context)?;
    if source.retention_policy != LONG_TERM_POLICY {
        let q = influxql(LONG_TERM_POLICY, since_ns, until_ns);
        match parse(&shared::run(source, &q).await?) {
            Ok(copy) => points = merge(points, copy),
            // No retention setup: the collector's policy is all there is.
            Err(e) if e.contains("retention policy not found") => {}
            Err(e) => return Err(context(e)),
        }
    }
    Ok(points)
}

/// One point per school and start (to the second: the copy's timestamps
/// are truncated); where both sources have an outage, the closed one wins
/// (it may have ended after the copy was made), then the longer one.
pub fn merge(a: Vec<OutagePoint>, b: Vec<OutagePoint>) -> Vec<OutagePoint> {
    let mut by_start: std::collections::BTreeMap<(String, i64), OutagePoint> = Default::default();
    for p in a.into_iter().chain(b) {
        let key = (p.school.clone(), p.start_s.floor() as i64);
        match by_start.entry(key) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(p);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let kept = o.get();
                if (kept.open, -kept.duration_s) > (p.open, -p.duration_s) {
                    o.insert(p);
                }
            }
        }
    }
    by_start.into_values().collect()
}

/// The points in a `/query` answer; errors are InfluxDB's own messages.
pub fn parse(body: &Value) -> Result<Vec<OutagePoint>, String> {
    let mut out = Vec::new();
    for series in shared::statements(body)?.iter().flatten() {
        let col = |name: &str| series.col(name);
        let (Some(time), Some(duration), Some(open), Some(school)) =
            (col("time"), col("duration_s"), col("open"), col("school"))
        else {
            return Err(format!("unexpected columns {:?}", series.columns));
        };
        let cause = col("cause");
        let outage_start = col("started_at");
        for row in &series.values {
            let (Some(t), Some(d), Some(school)) = (
                row.get(time).and_then(Value::as_i64),
                row.get(duration).and_then(Value::as_f64),
                row.get(school)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty()),
            ) else {
                continue; // a point without the fields an outage needs
            };
            let cause = cause
                .and_then(|c| row.get(c))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("unknown");
            let start_s = t as f64 / 1e9;
            out.push(OutagePoint {
                school: school.to_string(),
                cause: cause.to_string(),
                start_s,
                // Every point of one outage names its start; points written
                // before causes could change have it equal to their time.
                outage_start_s: outage_start
                    .and_then(|c| row.get(c))
                    .and_then(Value::as_f64)
                    .unwrap_or(start_s),
                duration_s: d.max(0.0),
                open: row.get(open).and_then(Value::as_bool).unwrap_or(false),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_query_is_bounded_and_quotes_the_retention_policy() {
        assert_eq!(
            influxql("", 10, 20),
            "SELECT \"duration_s\", \"open\", \"school\", \"cause\", \"started_at\" FROM \"outage\" WHERE time >= 10 AND time < 20"
        );
        assert!(influxql("a\"b", 1, 2).contains("FROM \"a\\\"b\".\"outage\""));
    }

    fn point(school: &str, start_s: f64, duration_s: f64, open: bool) -> OutagePoint {
        OutagePoint {
            school: school.into(),
            cause: "stale".into(),
            start_s,
            outage_start_s: start_s,
            duration_s,
            open,
        }
    }

    #[test]
    fn merged_sources_keep_one_point_per_outage_preferring_closed_and_longer() {
        let raw = vec![
            point("NX-001", 100.25, 50.0, false),
            point("NX-002", 200.5, 10.0, false),
        ];
        let copy = vec![
            point("NX-001", 100.0, 30.0, true),  // copied while still open
            point("NX-002", 200.0, 12.0, false), // longer: the later close
            point("NX-003", 5.0, 7.0, false),    // older than the raw policy
        ];
        let merged = merge(raw, copy);
        let got: Vec<(&str, f64, bool)> = merged
            .iter()
            .map(|p| (p.school.as_str(), p.duration_s, p.open))
            .collect();
        assert_eq!(
            got,
            [
                ("NX-001", 50.0, false),
                ("NX-002", 12.0, false),
                ("NX-003", 7.0, false)
            ]
        );
    }

    #[test]
    fn parse_reads_points_and_reports_server_errors() {
        let body = json!({"results": [{"statement_id": 0, "series": [{
            "name": "outage",
            "columns": ["time", "duration_s", "open", "school", "cause"],
            "values": [
                [1_700_000_000_500_000_000_i64, 90.5, false, "NX-001", "stale"],
                [1_700_000_100_000_000_000_i64, 1.0, true, "NX-002", null],
                [1_700_000_200_000_000_000_i64, null, true, "NX-003", "stale"]
            ]
        }]}]});
        let pts = parse(&body).unwrap();
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].start_s, 1_700_000_000.5);
        assert_eq!((pts[0].duration_s, pts[0].open), (90.5, false));
        assert_eq!((pts[1].cause.as_str(), pts[1].open), ("unknown", true));
        assert!(parse(&json!({"results": [{"statement_id": 0}]}))
            .unwrap()
            .is_empty());
        assert_eq!(pts[0].outage_start_s, pts[0].start_s, "no started_at");
        // A stretch after a change of cause names its outage's start.
        let stretch = json!({"results": [{"statement_id": 0, "series": [{
            "name": "outage",
            "columns": ["time", "duration_s", "open", "school", "cause", "started_at"],
            "values": [[1_700_000_130_000_000_000_i64, 91.0, false, "NX-001", "upstream_down", 1_700_000_091.25]]
        }]}]});
        let pts = parse(&stretch).unwrap();
        assert_eq!(
            (pts[0].start_s, pts[0].outage_start_s),
            (1_700_000_130.0, 1_700_000_091.25)
        );
        let err = json!({"results": [{"statement_id": 0, "error": "database not found: x"}]});
        assert_eq!(parse(&err).unwrap_err(), "database not found: x");
        assert!(parse(&json!({"results": [{"partial": true}]})).is_err());
    }
}
