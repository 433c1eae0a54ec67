//! The dashboards and their provisioning as data: loading `dashboards/*.json`
//! and `deploy/grafana/provisioning/`, and walking a dashboard's panels,
//! queries, variables, variable references and links the way Grafana reads
//! them (Grafana 10/11 JSON model).

use std::path::PathBuf;

use serde_json::Value;

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Grafana's global and per-panel variables: never defined in `templating`.
pub const BUILTIN_VARS: &[&str] = &[
    "__interval",
    "__interval_ms",
    "__rate_interval",
    "__range",
    "__range_s",
    "__range_ms",
    "__from",
    "__to",
    "timeFilter",
    "__timeFilter",
    "__data",
    "__field",
    "__series",
    "__value",
    "__url_time_range",
    "__all_variables",
    "__dashboard",
    "__org",
    "__user",
];

/// One dashboard file.
pub struct Dashboard {
    pub file: String,
    pub json: Value,
}

impl Dashboard {
    pub fn uid(&self) -> &str {
        self.json["uid"].as_str().unwrap_or("")
    }
}

/// Every `dashboards/*.json`, sorted by file name; panics naming a file that
/// does not parse.
pub fn load_dashboards() -> Vec<Dashboard> {
    let dir = PathBuf::from(ROOT).join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not valid JSON: {e}", path.display()));
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            Dashboard { file, json }
        })
        .collect()
}

/// A provisioned data source (the keys the dashboards depend on).
#[derive(Debug, Clone, Default)]
pub struct Datasource {
    /// What the dashboards' data source variables select it by.
    pub name: String,
    pub uid: String,
    pub kind: String,
    pub db_name: String,
    pub time_interval: String,
}

/// The `datasources:` entries of every `provisioning/datasources/*.yml`.
pub fn provisioned_datasources() -> Vec<Datasource> {
    provisioning_files("datasources")
        .iter()
        .flat_map(|text| datasources_in(text))
        .collect()
}

/// The `datasources:` entries of one Grafana data source provisioning file
/// (simple block YAML; each entry starts with `- name:`).
pub fn datasources_in(text: &str) -> Vec<Datasource> {
    let mut out: Vec<Datasource> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with("- ") {
            out.push(Datasource::default());
        }
        let Some((key, value)) = trimmed.trim_start_matches("- ").split_once(':') else {
            continue;
        };
        let value = value
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_string();
        let Some(ds) = out.last_mut() else { continue };
        match key.trim() {
            "name" => ds.name = value,
            "uid" => ds.uid = value,
            "type" => ds.kind = value,
            "dbName" => ds.db_name = value,
            "timeInterval" => ds.time_interval = value,
            _ => {}
        }
    }
    out
}

/// The text of every `deploy/grafana/provisioning/<kind>/*.yml`.
pub fn provisioning_files(kind: &str) -> Vec<String> {
    let dir = PathBuf::from(ROOT)
        .join("deploy/grafana/provisioning")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// Every panel, rows included, with the panels inside collapsed rows.
pub fn panels(dash: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

/// A panel's title, for messages.
pub fn title(panel: &Value) -> String {
    panel["title"].as_str().unwrap_or("(untitled)").to_string()
}

/// One query Grafana would run: a panel target or an annotation.
#[derive(Debug, Clone)]
pub struct Query {
    /// `panel "<title>" target A`, or `annotation "<name>"`.
    pub what: String,
    pub ds_type: String,
    pub ds_uid: String,
    pub text: String,
    /// Prometheus instant query (tables, stats of "now").
    pub instant: bool,
}

/// A target's or annotation's data source, falling back to the panel's.
fn datasource<'a>(own: &'a Value, panel: &'a Value) -> (&'a str, &'a str) {
    let ds = if own["datasource"].is_object() {
        &own["datasource"]
    } else {
        &panel["datasource"]
    };
    (
        ds["type"].as_str().unwrap_or(""),
        ds["uid"].as_str().unwrap_or(""),
    )
}

/// Every panel target and every non-built-in annotation of `dash`.
pub fn queries(dash: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for panel in panels(dash) {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let (ds_type, ds_uid) = datasource(t, panel);
            let text = t["expr"].as_str().or(t["query"].as_str()).unwrap_or("");
            out.push(Query {
                what: format!(
                    "panel {:?} target {}",
                    title(panel),
                    t["refId"].as_str().unwrap_or("?")
                ),
                ds_type: ds_type.to_string(),
                ds_uid: ds_uid.to_string(),
                text: text.to_string(),
                instant: t["instant"] == true && t["range"] != true,
            });
        }
    }
    for a in dash["annotations"]["list"].as_array().into_iter().flatten() {
        if a["builtIn"] == 1 {
            continue;
        }
        let (ds_type, ds_uid) = datasource(a, a);
        let text = a["query"]
            .as_str()
            .or(a["target"]["query"].as_str())
            .or(a["expr"].as_str())
            .unwrap_or("");
        out.push(Query {
            what: format!("annotation {:?}", a["name"].as_str().unwrap_or("?")),
            ds_type: ds_type.to_string(),
            ds_uid: ds_uid.to_string(),
            text: text.to_string(),
            instant: false,
        });
    }
    out
}

/// A template variable: of type `query` (options from its data source) or
/// `datasource` (options: the data sources of plugin `query`).
#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    /// `query` or `datasource`.
    pub kind: String,
    pub ds_type: String,
    pub ds_uid: String,
    pub query: String,
    pub multi: bool,
    pub include_all: bool,
    pub all_value: Option<String>,
    /// The saved selection (`current.text`, `current.value`) of a
    /// single-value variable.
    pub current_text: String,
    pub current_value: String,
}

/// The dashboard's variables, in order.
pub fn variables(dash: &Value) -> Vec<Variable> {
    dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| Variable {
            name: v["name"].as_str().unwrap_or("").to_string(),
            kind: v["type"].as_str().unwrap_or("").to_string(),
            ds_type: v["datasource"]["type"].as_str().unwrap_or("").to_string(),
            ds_uid: v["datasource"]["uid"].as_str().unwrap_or("").to_string(),
            query: v["query"]
                .as_str()
                .or(v["query"]["query"].as_str())
                .unwrap_or("")
                .to_string(),
            multi: v["multi"] == true,
            include_all: v["includeAll"] == true,
            all_value: v["allValue"].as_str().map(str::to_string),
            current_text: v["current"]["text"].as_str().unwrap_or("").to_string(),
            current_value: v["current"]["value"].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

/// Names referenced as `$name`, `${name}`, `${name:format}`, `${a.b}` (as
/// `a`) or `[[name]]` in `text`.
pub fn referenced_vars(text: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['$', '[']) {
        let tail = &rest[i..];
        let name = if let Some(t) = tail.strip_prefix("${") {
            ident(t)
        } else if let Some(t) = tail.strip_prefix("[[") {
            ident(t)
        } else if let Some(t) = tail.strip_prefix('$') {
            ident(t)
        } else {
            String::new()
        };
        if !name.is_empty() {
            out.push(name);
        }
        rest = &tail[1..];
    }
    out
}

/// Every string in the dashboard where Grafana interpolates variables:
/// queries, legends, titles, descriptions, link URLs, variable queries.
/// Returned with a description of where it is.
pub fn interpolated_strings(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for q in queries(dash) {
        out.push((q.what.clone(), q.text));
    }
    for panel in panels(dash) {
        let t = title(panel);
        for key in ["title", "description"] {
            if let Some(s) = panel[key].as_str() {
                out.push((format!("panel {t:?} {key}"), s.to_string()));
            }
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            // (InfluxDB aliases use `$tag_<key>` / `$col` patterns, not variables.)
            if let Some(s) = target["legendFormat"].as_str() {
                out.push((format!("panel {t:?} legendFormat"), s.to_string()));
            }
        }
    }
    for (at, url) in link_urls(&dash["panels"], "panels") {
        out.push((at, url));
    }
    for (at, url) in link_urls(&dash["links"], "links") {
        out.push((at, url));
    }
    out
}

/// Every `"url"` string anywhere below `value`, with its JSON path.
pub fn link_urls(value: &Value, path: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("url", Value::String(s)) => out.push((format!("{path}.url"), s.clone())),
                    _ => out.extend(link_urls(v, &format!("{path}.{k}"))),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                out.extend(link_urls(v, &format!("{path}[{i}]")));
            }
        }
        _ => {}
    }
    out
}

/// The dashboard uid a Grafana URL (`/d/<uid>/<slug>?…`) points to.
pub fn linked_uid(url: &str) -> Option<&str> {
    let rest = url.split("/d/").nth(1)?;
    rest.split(['/', '?', '#']).next()
}

/// Every `"datasource"` value anywhere in the dashboard (panels, targets,
/// variables, annotations), with its JSON path.
pub fn datasource_refs(value: &Value, path: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let at = format!("{path}.{k}");
                if k == "datasource" {
                    out.push((at.clone(), v.clone()));
                }
                out.extend(datasource_refs(v, &at));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                out.extend(datasource_refs(v, &format!("{path}[{i}]")));
            }
        }
        _ => {}
    }
    out
}

/// A panel's grid rectangle (x, y, w, h).
pub fn grid(panel: &Value) -> Option<(i64, i64, i64, i64)> {
    let g = &panel["gridPos"];
    Some((
        g["x"].as_i64()?,
        g["y"].as_i64()?,
        g["w"].as_i64()?,
        g["h"].as_i64()?,
    ))
}
