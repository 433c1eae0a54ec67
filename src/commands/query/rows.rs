//! The rows of an answer that the `query` reports read: by school, with
//! their time in seconds and typed columns (used by `bandwidth` and `top`).

use serde_json::Value;

use crate::influx_query::Series;

/// One result row and its columns.
pub struct Row<'a> {
    series: &'a Series,
    values: &'a [Value],
}

impl Row<'_> {
    pub fn f64(&self, col: &str) -> Option<f64> {
        self.series
            .col(col)
            .and_then(|i| self.values.get(i))
            .and_then(Value::as_f64)
    }

    pub fn u64(&self, col: &str) -> Option<u64> {
        let v = self.series.col(col).and_then(|i| self.values.get(i))?;
        v.as_u64()
            .or_else(|| v.as_f64().map(|f| f.max(0.0).round() as u64))
    }
}

/// Rows of the series whose `school` tag is `school` (all rows for `""`),
/// with their time in seconds.
pub fn rows<'a>(
    series: &'a [Series],
    school: &'a str,
) -> impl Iterator<Item = (Option<i64>, Row<'a>)> {
    series
        .iter()
        .filter(move |s| school.is_empty() || s.tag("school") == Some(school))
        .flat_map(|s| {
            let time = s.col("time");
            s.values.iter().map(move |v| {
                let t = time
                    .and_then(|i| v.get(i))
                    .and_then(Value::as_i64)
                    .map(|ns| ns.div_euclid(1_000_000_000));
                (
                    t,
                    Row {
                        series: s,
                        values: v,
                    },
                )
            })
        })
}
