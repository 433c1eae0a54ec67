//! Reading the `outage` measurement: one InfluxQL `SELECT` over
//! `GET <url>/query?db=…&q=…&epoch=ns` — InfluxDB 1.x, and the
//! v1-compatible endpoint of InfluxDB 2.x/3.x (where `db` is the bucket's
//! DBRP mapping).
//!
//! Credentials never come from argv: the token (v2) or password (v1) is
//! read from `SCHOOLNET_INFLUX_TOKEN` or the config's `influx.token_file`.
//! With a v1 `username` it is sent as HTTP Basic auth, otherwise as
//! `Authorization: Token <token>`. Errors name the server's base URL (never
//! the query string) and carry InfluxDB's own message.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::Url;
use serde_json::Value;

use super::report::OutagePoint;

/// Where the outage history is and how to authenticate.
#[derive(Debug, Clone)]
pub struct Source {
    /// Base URL, e.g. `http://127.0.0.1:8086` (a path prefix is kept).
    pub url: String,
    /// v1 database, or the v2 bucket (its DBRP mapping).
    pub db: String,
    /// v1 retention policy; empty: the database's default.
    pub retention_policy: String,
    /// v1 username (only with the v1 API): Basic auth, the token is the password.
    pub username: Option<String>,
    /// Token or password, from the environment or a token file.
    pub token: Option<String>,
    pub timeout: Duration,
}

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

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `<url>/query` with `db`, `q` and `epoch=ns`; rejects URLs carrying
/// credentials or a query (credentials belong in the environment).
pub fn query_url(source: &Source, q: &str) -> anyhow::Result<Url> {
    let base = source.url.trim_end_matches('/');
    let url = Url::parse(&format!("{base}/query"))
        .with_context(|| format!("InfluxDB URL `{}`", source.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!(
            "InfluxDB URL `{}` must start with http:// or https://",
            source.url
        );
    }
    if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
        bail!(
            "InfluxDB URL `{}` must not carry a query or credentials (put the token in {})",
            source.url,
            collector::sink::influx::TOKEN_ENV
        );
    }
    let params = [("db", source.db.as_str()), ("q", q), ("epoch", "ns")];
    Ok(Url::parse_with_params(url.as_str(), params)?)
}

/// Runs the query and returns the outage points it found.
pub async fn fetch(
    source: &Source,
    since_ns: i64,
    until_ns: i64,
) -> anyhow::Result<Vec<OutagePoint>> {
    let q = influxql(&source.retention_policy, since_ns, until_ns);
    let url = query_url(source, &q)?;
    let base = source.url.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .user_agent(concat!("schoolnet/", env!("CARGO_PKG_VERSION")))
        .timeout(source.timeout)
        .connect_timeout(source.timeout.min(Duration::from_secs(5)))
        .build()
        .context("cannot build the HTTP client")?;
    let mut req = client.get(url);
    let token = source
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match (&source.username, token) {
        (Some(user), password) => req = req.basic_auth(user, password),
        (None, Some(token)) => {
            let mut v = HeaderValue::from_str(&format!("Token {token}")).map_err(|_| {
                anyhow!("the InfluxDB token contains characters not allowed in an HTTP header")
            })?;
            v.set_sensitive(true);
            req = req.header(AUTHORIZATION, v);
        }
        (None, None) => {}
    }
    let resp = req.send().await.map_err(|e| {
        anyhow!(
            "cannot reach InfluxDB at {base}: {}",
            chain(&e.without_url())
        )
    })?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| {
        anyhow!(
            "InfluxDB at {base}: reading the answer failed: {}",
            chain(&e.without_url())
        )
    })?;
    let body: Option<Value> = serde_json::from_str(&text).ok();
    let server_error = body
        .as_ref()
        .and_then(|b| b.get("error"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if !status.is_success() {
        let detail = server_error.unwrap_or_else(|| excerpt(&text));
        let hint = match status.as_u16() {
            401 | 403 => format!(
                " (set {} to a token, or the password of --influx-username, allowed to read `{}`)",
                collector::sink::influx::TOKEN_ENV,
                source.db
            ),
            404 => {
                " (is this an InfluxDB with the /query endpoint? check the URL and its path prefix)"
                    .into()
            }
            _ => String::new(),
        };
        bail!("InfluxDB at {base} answered HTTP {status}: {detail}{hint}");
    }
    let Some(body) = body else {
        bail!(
            "InfluxDB at {base} did not answer with JSON (is this an InfluxDB?): {}",
            excerpt(&text)
        );
    };
    if let Some(e) = server_error {
        bail!("InfluxDB at {base}: {e}");
    }
    parse(&body).map_err(|e| anyhow!("InfluxDB at {base}, database `{}`: {e}", source.db))
}

/// The points in a `/query` answer; errors are InfluxDB's own messages.
pub fn parse(body: &Value) -> Result<Vec<OutagePoint>, String> {
    let mut out = Vec::new();
    let results = body["results"].as_array().ok_or_else(|| {
        format!(
            "unexpected answer without `results`: {}",
            excerpt(&body.to_string())
        )
    })?;
    for result in results {
        if let Some(e) = result.get("error") {
            return Err(e.as_str().map_or_else(|| e.to_string(), str::to_owned));
        }
        if result.get("partial").and_then(Value::as_bool) == Some(true) {
            return Err(
                "the server truncated the answer (max-row-limit); use a shorter window".into(),
            );
        }
        for series in result["series"].as_array().into_iter().flatten() {
            let columns: Vec<&str> = series["columns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let col = |name: &str| columns.iter().position(|c| *c == name);
            let (Some(time), Some(duration), Some(open), Some(school)) =
                (col("time"), col("duration_s"), col("open"), col("school"))
            else {
                return Err(format!("unexpected columns {columns:?}"));
            };
            let cause = col("cause");
            for row in series["values"].as_array().into_iter().flatten() {
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
    }
    Ok(out)
}

/// An error and its causes: `error sending request: … : Connection refused`.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
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

fn excerpt(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(url: &str) -> Source {
        Source {
            url: url.into(),
            db: "school net".into(),
            retention_policy: String::new(),
            username: None,
            token: None,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_query_is_bounded_and_quotes_the_retention_policy() {
        assert_eq!(
            influxql("", 10, 20),
            "SELECT \"duration_s\", \"open\", \"school\", \"cause\" FROM \"outage\" WHERE time >= 10 AND time < 20"
        );
        assert!(influxql("a\"b", 1, 2).contains("FROM \"a\\\"b\".\"outage\""));
    }

    #[test]
    fn the_url_keeps_a_path_prefix_and_encodes_parameters() {
        let u = query_url(&source("http://h:8086/influx/"), "SELECT 1").unwrap();
        assert_eq!(
            u.as_str(),
            "http://h:8086/influx/query?db=school+net&q=SELECT+1&epoch=ns"
        );
        assert!(query_url(&source("http://u:p@h:8086"), "q").is_err());
        assert!(query_url(&source("ftp://h"), "q").is_err());
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
