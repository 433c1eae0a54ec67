//! What Grafana does with a dashboard query before and while running it,
//! for Prometheus and InfluxDB (InfluxQL) data sources: variable
//! interpolation (`$var`, `${var}`, `[[var]]`, multi-value and "All"
//! formatting, `$__interval`, `$__rate_interval`, `$__range`, `$timeFilter`)
//! the data source a query goes to (a `${variable}` uid resolved to one of
//! the instance's data sources, by uid or name as Grafana's data source
//! service does) and the HTTP request Grafana's backend sends
//! (`/api/v1/query_range`, `/api/v1/query`, `/api/v1/label/<name>/values`,
//! InfluxDB `/query`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::model::Variable;

/// Panel width in pixels Grafana divides the range by (`maxDataPoints`); a
/// full-width panel on a large screen.
const MAX_DATA_POINTS: i64 = 1000;

/// A data source of the Grafana instance the dashboard runs in.
#[derive(Debug, Clone)]
pub struct Source {
    pub uid: String,
    pub name: String,
    /// Plugin id: `prometheus`, `influxdb`.
    pub kind: String,
    /// The server behind it; `None` for a data source of the instance that
    /// has no schoolnet data (a query sent there is a wrong pick).
    pub url: Option<String>,
    /// InfluxDB database (`dbName`).
    pub database: String,
}

/// Where the queries go and the dashboard state they run with.
pub struct Env {
    pub client: reqwest::Client,
    /// Every data source of the instance, in Grafana's list order (by name).
    pub sources: Vec<Source>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// The Prometheus data source's `timeInterval` (scrape interval), s.
    pub prom_scrape_s: i64,
    /// The InfluxDB data source's `timeInterval` (min interval), s.
    pub influx_min_s: i64,
    /// Selected values per variable; `["$__all"]` is "All".
    pub selected: BTreeMap<String, Vec<String>>,
}

impl Env {
    fn range_s(&self) -> i64 {
        ((self.to_ms - self.from_ms) / 1000).max(1)
    }

    /// `$__interval` in seconds for a data source with minimum interval `min_s`.
    pub fn interval_s(&self, ds_type: &str) -> i64 {
        let min = if ds_type == "influxdb" {
            self.influx_min_s
        } else {
            self.prom_scrape_s
        };
        let per_point = (self.range_s() + MAX_DATA_POINTS - 1) / MAX_DATA_POINTS;
        per_point.max(min).max(1)
    }

    /// `$__rate_interval`: max(`$__interval` + scrape interval, 4 × scrape interval).
    fn rate_interval_s(&self) -> i64 {
        (self.interval_s("prometheus") + self.prom_scrape_s).max(4 * self.prom_scrape_s)
    }

    /// The replacement of `name` in a query for `ds_type`, or `None` when
    /// it is not a variable Grafana knows.
    fn value_of(&self, name: &str, ds_type: &str, vars: &[Variable]) -> Option<String> {
        let range = self.range_s();
        let builtin = match name {
            "__interval" => format!("{}s", self.interval_s(ds_type)),
            "__interval_ms" => (self.interval_s(ds_type) * 1000).to_string(),
            "__rate_interval" => format!("{}s", self.rate_interval_s()),
            "__range" => format!("{range}s"),
            "__range_s" => range.to_string(),
            "__range_ms" => (range * 1000).to_string(),
            "__from" => self.from_ms.to_string(),
            "__to" => self.to_ms.to_string(),
            "timeFilter" | "__timeFilter" => {
                format!("time >= {}ms and time <= {}ms", self.from_ms, self.to_ms)
            }
            _ => String::new(),
        };
        if !builtin.is_empty() {
            return Some(builtin);
        }
        let var = vars.iter().find(|v| v.name == name)?;
        let values = self.selected.get(name)?;
        if values.iter().any(|v| v == "$__all") {
            return var.all_value.clone();
        }
        if !var.multi && !var.include_all {
            return values.first().cloned();
        }
        let escaped: Vec<String> = values.iter().map(|v| regex_escape(v, ds_type)).collect();
        Some(match escaped.len() {
            1 => escaped[0].clone(),
            _ => format!("({})", escaped.join("|")),
        })
    }

    /// `text` with every variable Grafana would replace replaced.
    pub fn interpolate(&self, text: &str, ds_type: &str, vars: &[Variable]) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['$', '[']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            let (name, len) = if let Some(t) = tail.strip_prefix("${") {
                match t.find('}') {
                    Some(close) => (ident(t), 2 + close + 1),
                    None => (String::new(), 0),
                }
            } else if let Some(t) = tail.strip_prefix("[[") {
                let name = ident(t);
                (name.clone(), 4 + name.len())
            } else if let Some(t) = tail.strip_prefix('$') {
                let name = ident(t);
                (name.clone(), 1 + name.len())
            } else {
                (String::new(), 0)
            };
            match self.value_of(&name, ds_type, vars) {
                Some(v) if !name.is_empty() => {
                    out.push_str(&v);
                    rest = &tail[len..];
                }
                _ => {
                    out.push_str(&tail[..1]);
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The data source a query with data source `{type, uid}` goes to: the
    /// uid interpolated (`${prometheus}` → the selected data source), then
    /// looked up by uid or name; it must be of the type the query is for.
    pub fn source(
        &self,
        ds_type: &str,
        ds_uid: &str,
        vars: &[Variable],
    ) -> Result<&Source, String> {
        let uid = self.interpolate(ds_uid, ds_type, vars);
        let ds = self
            .sources
            .iter()
            .find(|s| s.uid == uid)
            .or_else(|| self.sources.iter().find(|s| s.name == uid))
            .ok_or_else(|| format!("data source {ds_uid:?} → {uid:?} was not found"))?;
        if ds.kind != ds_type {
            return Err(format!(
                "data source {uid:?} is a {}, the query is for {ds_type}",
                ds.kind
            ));
        }
        Ok(ds)
    }

    /// The server behind `ds`.
    fn url_of<'a>(&self, ds: &'a Source) -> Result<&'a str, String> {
        ds.url.as_deref().ok_or_else(|| {
            format!(
                "sent to data source {:?} ({}), not the schoolnet {}",
                ds.name, ds.uid, ds.kind
            )
        })
    }

    /// Runs one panel query on `ds`; returns how many series/rows hold at
    /// least one finite value and the answer, or the error.
    pub async fn run(
        &self,
        ds: &Source,
        query: &str,
        instant: bool,
    ) -> Result<(usize, Value), String> {
        let base = self.url_of(ds)?;
        let ds_type = ds.kind.as_str();
        let (url, params) = match ds_type {
            "prometheus" if instant => (
                format!("{base}/api/v1/query"),
                vec![
                    ("query", query.to_string()),
                    ("time", (self.to_ms as f64 / 1000.0).to_string()),
                ],
            ),
            "prometheus" => {
                let step = self.interval_s(ds_type);
                let start = self.from_ms / 1000 / step * step;
                let end = (self.to_ms / 1000 + step - 1) / step * step;
                (
                    format!("{base}/api/v1/query_range"),
                    vec![
                        ("query", query.to_string()),
                        ("start", start.to_string()),
                        ("end", end.to_string()),
                        ("step", step.to_string()),
                    ],
                )
            }
            "influxdb" => (
                format!("{base}/query"),
                vec![
                    ("db", ds.database.clone()),
                    ("q", query.to_string()),
                    ("epoch", "ms".to_string()),
                ],
            ),
            other => return Err(format!("unsupported data source type {other:?}")),
        };
        let body = self.get(&url, &params).await?;
        let n = if ds_type == "influxdb" {
            influx_rows_with_values(&body)?
        } else {
            prom_series_with_values(&body)?
        };
        Ok((n, body))
    }

    /// The options of a query variable (its query already interpolated) from
    /// data source `ds`.
    pub async fn options(&self, ds: &Source, query: &str) -> Result<Vec<String>, String> {
        let base = self.url_of(ds)?;
        if ds.kind == "influxdb" {
            let params = [("db", ds.database.clone()), ("q", query.to_string())];
            let body = self.get(&format!("{base}/query"), &params).await?;
            if let Some(e) = body["results"][0]["error"].as_str() {
                return Err(e.to_string());
            }
            let mut out: Vec<String> = body["results"][0]["series"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["values"].as_array().into_iter().flatten())
                .filter_map(|row| row[1].as_str().map(str::to_string))
                .collect();
            out.sort();
            out.dedup();
            return Ok(out);
        }
        let inner = query
            .trim()
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .ok_or_else(|| format!("not a label_values() query: {query}"))?;
        let (selector, label) = match inner.rsplit_once(',') {
            Some((s, l)) => (Some(s.trim()), l.trim()),
            None => (None, inner.trim()),
        };
        let mut params = vec![
            ("start", (self.from_ms / 1000).to_string()),
            ("end", (self.to_ms / 1000).to_string()),
        ];
        if let Some(s) = selector {
            params.push(("match[]", s.to_string()));
        }
        let url = format!("{base}/api/v1/label/{label}/values");
        let body = self.get(&url, &params).await?;
        Ok(body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect())
    }

    async fn get(&self, url: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let url =
            reqwest::Url::parse_with_params(url, params).map_err(|e| format!("{url}: {e}"))?;
        let resp = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| format!("GET {url}: {e}"))?;
        let body: Value = serde_json::from_str(&text)
            .map_err(|_| format!("GET {url}: HTTP {status}, not JSON: {text}"))?;
        if !status.is_success() {
            return Err(format!("HTTP {status}: {text}"));
        }
        Ok(body)
    }
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Grafana escapes the values of multi-value variables as regex literals
/// (inside a PromQL string the backslash itself is escaped).
fn regex_escape(value: &str, ds_type: &str) -> String {
    let slash = if ds_type == "prometheus" {
        "\\\\"
    } else {
        "\\"
    };
    value
        .chars()
        .map(|c| {
            if "\\^$.|?*+()[]{}/".contains(c) {
                format!("{slash}{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn finite(v: &Value) -> bool {
    v.get(1)
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<f64>().ok())
        .is_some_and(f64::is_finite)
}

/// Series (or samples) of a Prometheus answer with at least one finite value.
fn prom_series_with_values(body: &Value) -> Result<usize, String> {
    if body["status"] != "success" {
        return Err(body.to_string());
    }
    let data = &body["data"];
    Ok(match data["resultType"].as_str() {
        Some("matrix") => data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["values"].as_array().into_iter().flatten().any(finite))
            .count(),
        Some("vector") => data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| finite(&s["value"]))
            .count(),
        Some("scalar") => usize::from(finite(&data["result"])),
        other => return Err(format!("unexpected resultType {other:?}")),
    })
}

/// Rows of an InfluxDB answer with at least one non-null value besides time.
fn influx_rows_with_values(body: &Value) -> Result<usize, String> {
    let result = &body["results"][0];
    if let Some(e) = result["error"].as_str().or(body["error"].as_str()) {
        return Err(e.to_string());
    }
    Ok(result["series"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["values"].as_array().into_iter().flatten())
        .filter(|row| {
            row.as_array()
                .is_some_and(|cells| cells.iter().skip(1).any(|c| !c.is_null()))
        })
        .count())
}

/// The samples of a Prometheus vector answer as (labels, value).
pub fn prom_rows(body: &Value) -> Vec<(Value, f64)> {
    let rows = body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    rows.into_iter()
        .map(|r| {
            let v = r["value"][1].as_str().unwrap().parse().unwrap();
            (r["metric"].clone(), v)
        })
        .collect()
}

/// The rows of an InfluxDB answer as column → value, with the series' tags.
pub fn influx_rows(body: &Value) -> Vec<BTreeMap<String, Value>> {
    let mut out = Vec::new();
    for s in body["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let cols: Vec<String> = serde_json::from_value(s["columns"].clone()).unwrap();
        for row in s["values"].as_array().into_iter().flatten() {
            let mut m: BTreeMap<String, Value> = cols
                .iter()
                .cloned()
                .zip(row.as_array().unwrap().clone())
                .collect();
            for (k, v) in s["tags"].as_object().into_iter().flatten() {
                m.insert(k.clone(), v.clone());
            }
            out.push(m);
        }
    }
    out
}
