//! Reading the `outage` measurement: one InfluxQL `SELECT` over `/query`
//! (HTTP, auth and error messages: [`crate::commands::influxql`]).

use anyhow::anyhow;
use serde_json::Value;

pub use crate::commands::influxql::Source;
use crate::commands::influxql::{self as shared, quote_ident};

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
        "SELECT \"duration_s\", \"open\", \"school\", \"cause\" FROM {from} \
         WHERE time >= {since_ns} AND time < {until_ns}"
    )
}

/// Runs the query and returns the outage points it found.
pub async fn fetch(
    source: &Source,
    since_ns: i64,
    until_ns: i64,
) -> anyhow::Result<Vec<OutagePoint>> {
    let q = influxql(&source.retention_policy, since_ns, until_ns);
    let body = shared::run(source, &q).await?;
    let base = source.url.trim_end_matches('/');
    parse(&body).map_err(|e| anyhow!("InfluxDB at {base}, database `{}`: {e}", source.db))
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
            out.push(OutagePoint {
                school: school.to_string(),
                cause: cause.to_string(),
                start_s: t as f64 / 1e9,
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
            "SELECT \"duration_s\", \"open\", \"school\", \"cause\" FROM \"outage\" WHERE time >= 10 AND time < 20"
        );
        assert!(influxql("a\"b", 1, 2).contains("FROM \"a\\\"b\".\"outage\""));
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
        let err = json!({"results": [{"statement_id": 0, "error": "database not found: x"}]});
        assert_eq!(parse(&err).unwrap_err(), "database not found: x");
        assert!(parse(&json!({"results": [{"partial": true}]})).is_err());
    }
}
