//! The answer of `/query`: its statements' series, in order, with
//! InfluxDB's own error messages.

use std::collections::BTreeMap;

use serde_json::Value;

use super::excerpt;

/// One series of a statement's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub name: String,
    /// The `GROUP BY` tags.
    pub tags: BTreeMap<String, String>,
    pub columns: Vec<String>,
    pub values: Vec<Vec<Value>>,
}

impl Series {
    /// Index of column `name`.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.get(name).map(String::as_str)
    }
}

/// The series of every statement, in statement order; the first statement
/// error (InfluxDB's own message) or a truncated answer is an error.
pub fn statements(body: &Value) -> Result<Vec<Vec<Series>>, String> {
    let results = body["results"].as_array().ok_or_else(|| {
        format!(
            "unexpected answer without `results`: {}",
            excerpt(&body.to_string())
        )
    })?;
    let mut out = Vec::with_capacity(results.len());
    for result in results {
        if let Some(e) = result.get("error") {
            return Err(e.as_str().map_or_else(|| e.to_string(), str::to_owned));
        }
        if result.get("partial").and_then(Value::as_bool) == Some(true) {
            return Err(
                "the server truncated the answer (max-row-limit); use a shorter window".into(),
            );
        }
        let mut series = Vec::new();
        for s in result["series"].as_array().into_iter().flatten() {
            let strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| c.as_str().unwrap_or_default().to_owned())
                    .collect()
            };
            let tags = s["tags"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            series.push(Series {
                name: s["name"].as_str().unwrap_or_default().to_owned(),
                tags,
                columns: strings(&s["columns"]),
                values: s["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|row| row.as_array().cloned().unwrap_or_default())
                    .collect(),
            });
        }
        out.push(series);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statements_keep_order_tags_and_errors() {
        let body = json!({"results": [
            {"statement_id": 0, "series": [{"name": "m", "tags": {"school": "A"},
                "columns": ["time", "v"], "values": [[1, 2.5]]}]},
            {"statement_id": 1}
        ]});
        let st = statements(&body).unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0][0].tag("school"), Some("A"));
        assert_eq!(st[0][0].col("v"), Some(1));
        assert!(st[1].is_empty());
        let err =
            json!({"results": [{"statement_id": 0, "error": "retention policy not found: x"}]});
        assert_eq!(
            statements(&err).unwrap_err(),
            "retention policy not found: x"
        );
        assert!(statements(&json!({"results": [{"partial": true}]})).is_err());
    }
}
