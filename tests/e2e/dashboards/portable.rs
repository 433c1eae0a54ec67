//! Dashboards that import into any Grafana (issue #20 C): what Grafana's
//! Import flow and its file provisioning each do with a dashboard's data
//! source references, and the rules that make both land on the right data
//! sources.
//!
//! - [`import`]: the Import flow's backend (Grafana's
//!   `DashTemplateEvaluator`): every `${NAME}` of an `__inputs` entry, in
//!   every string of the JSON, replaced by what the user picked (a data
//!   source's uid); `__inputs` dropped; an input without a value refused.
//!   File provisioning does none of this: it stores the file as it is.
//! - [`select_datasource`]: the value a `datasource` variable takes when the
//!   dashboard loads, from its saved `current` and the instance's data
//!   sources of its plugin (options: text = name, value = uid), as the
//!   Scenes dashboards (Grafana 11) and the older variable code do it.
//! - [`check_portable`]: no literal data source uid anywhere, every
//!   reference a data source variable of its type, `__inputs` and
//!   `__requires` exactly what the dashboard uses, and each data source
//!   variable's `current` saying "the input's pick, else the provisioned
//!   data source by name".

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::grafana::Source;
use super::model::{datasource_refs, panels, variables, Datasource, Variable};

/// The data source Grafana itself provides (built-in annotations); the same
/// uid in every instance.
const BUILTIN: (&str, &str) = ("grafana", "-- Grafana --");

/// The `__inputs` name for a data source plugin: `DS_PROMETHEUS`.
pub fn input_name(plugin: &str) -> String {
    format!("DS_{}", plugin.to_uppercase())
}

/// Grafana's Import flow on `dashboard` with `picked` input name → value.
pub fn import(dashboard: &Value, picked: &BTreeMap<String, String>) -> Result<Value, String> {
    let mut replace = BTreeMap::new();
    for input in dashboard["__inputs"].as_array().into_iter().flatten() {
        let name = input["name"].as_str().unwrap_or("");
        let value = picked.get(name).ok_or_else(|| {
            format!("Dashboard input variable: {name} missing from import command")
        })?;
        replace.insert(format!("${{{name}}}"), value.clone());
    }
    Ok(evaluate(dashboard, &replace))
}

/// `value` with the placeholders replaced and every `__inputs` key dropped
/// (Grafana drops it in any object, not only at the top).
fn evaluate(value: &Value, replace: &BTreeMap<String, String>) -> Value {
    match value {
        Value::String(s) => Value::String(replace_placeholders(s, replace)),
        Value::Array(items) => items.iter().map(|v| evaluate(v, replace)).collect(),
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| *k != "__inputs")
            .map(|(k, v)| (k.clone(), evaluate(v, replace)))
            .collect(),
        other => other.clone(),
    }
}

/// Every `${…}` (shortest match, as Grafana's `\$\{.+?\}`) that names an
/// input replaced; any other `${…}` (dashboard variables) left as it is.
fn replace_placeholders(s: &str, replace: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        match tail[2..].find('}') {
            Some(close) if close > 0 => {
                let placeholder = &tail[..2 + close + 1];
                out.push_str(replace.get(placeholder).map_or(placeholder, |v| v.as_str()));
                rest = &tail[placeholder.len()..];
            }
            _ => {
                out.push_str(&tail[..2]);
                rest = &tail[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// How a single-value variable keeps its saved selection when its options
/// load.
#[derive(Debug, Clone, Copy)]
pub enum Matching {
    /// Scenes (`MultiValueVariable`): the option whose value is the saved
    /// value, else the one whose text is the saved text, else the first.
    Scenes,
    /// The older variable code (`validateVariableSelectionState`): the
    /// first option whose text or value matches, else the first.
    Legacy,
}

pub const MATCHINGS: [Matching; 2] = [Matching::Scenes, Matching::Legacy];

/// The uid a `datasource` variable selects among the instance's `sources`.
pub fn select_datasource(var: &Variable, sources: &[Source], m: Matching) -> Option<String> {
    let options: Vec<&Source> = sources.iter().filter(|s| s.kind == var.query).collect();
    let by_value = |s: &&&Source| s.uid == var.current_value;
    let by_text = |s: &&&Source| s.name == var.current_text;
    let chosen = match m {
        Matching::Scenes => options
            .iter()
            .find(by_value)
            .or_else(|| options.iter().find(by_text)),
        Matching::Legacy => options.iter().find(|s| by_value(s) || by_text(s)),
    };
    chosen.or(options.first()).map(|s| s.uid.clone())
}

/// The uid each data source variable of `dash` selects, the same with
/// either [`Matching`], or the reason it is not.
pub fn datasource_selection(
    dash: &Value,
    sources: &[Source],
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for v in variables(dash).iter().filter(|v| v.kind == "datasource") {
        let picks: Vec<Option<String>> = MATCHINGS
            .iter()
            .map(|m| select_datasource(v, sources, *m))
            .collect();
        match picks.as_slice() {
            [Some(a), rest @ ..] if rest.iter().all(|b| b.as_ref() == Some(a)) => {
                out.insert(v.name.clone(), a.clone());
            }
            _ => {
                return Err(format!(
                    "variable {}: {MATCHINGS:?} select {picks:?} (current {:?} / {:?})",
                    v.name, v.current_text, v.current_value
                ))
            }
        }
    }
    Ok(out)
}

/// The variable a data source reference names (`${prometheus}` →
/// `prometheus`), if the uid is exactly one variable reference.
fn referenced_variable(uid: &str) -> Option<&str> {
    let name = uid
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .or_else(|| uid.strip_prefix('$'))?;
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then_some(name)
}

/// Problems that keep `d` (file `f`) from importing anywhere or from
/// working when provisioned with `provisioned`.
pub fn check_portable(f: &str, json: &Value, provisioned: &[Datasource], errors: &mut Vec<String>) {
    let vars = variables(json);
    let position = |name: &str| vars.iter().position(|v| v.name == name);

    // Every reference: the built-in one, or `${var}` of a data source
    // variable of the same plugin (defined before a variable that uses it).
    let mut plugins = BTreeSet::new();
    for (at, ds) in datasource_refs(json, "") {
        let (ty, uid) = (
            ds["type"].as_str().unwrap_or(""),
            ds["uid"].as_str().unwrap_or(""),
        );
        if (ty, uid) == BUILTIN {
            continue;
        }
        let var = referenced_variable(uid).and_then(|n| vars.iter().find(|v| v.name == n));
        match var {
            Some(v) if v.kind == "datasource" && v.query == ty => {
                plugins.insert(ty.to_string());
            }
            _ => errors.push(format!(
                "{f}: {at}: {ds} is not a data source variable of type {ty:?} \
                 (a literal uid breaks the dashboard in any other Grafana)"
            )),
        }
        if let (Some(user), Some(name)) = (at.strip_prefix(".templating.list["), var) {
            let user: usize = user.split(']').next().unwrap().parse().unwrap();
            if position(&name.name).is_some_and(|p| p >= user) {
                errors.push(format!(
                    "{f}: {at}: ${} is defined after its user",
                    name.name
                ));
            }
        }
    }

    // One data source variable per plugin used, whose saved selection is
    // the Import flow's pick (value) and the provisioned data source (text).
    let ds_vars: Vec<&Variable> = vars.iter().filter(|v| v.kind == "datasource").collect();
    let var_plugins: Vec<String> = ds_vars.iter().map(|v| v.query.clone()).collect();
    if var_plugins.iter().collect::<BTreeSet<_>>() != plugins.iter().collect::<BTreeSet<_>>()
        || var_plugins.len() != plugins.len()
    {
        errors.push(format!(
            "{f}: data source variables for {var_plugins:?}, the panels use {plugins:?}"
        ));
    }
    for v in &ds_vars {
        let want_value = format!("${{{}}}", input_name(&v.query));
        if v.current_value != want_value {
            errors.push(format!(
                "{f}: variable {}: current.value {:?}, want {want_value:?} (the Import flow's pick)",
                v.name, v.current_value
            ));
        }
        let named: Vec<&str> = provisioned
            .iter()
            .filter(|p| p.kind == v.query)
            .map(|p| p.name.as_str())
            .collect();
        if named != [v.current_text.as_str()] {
            errors.push(format!(
                "{f}: variable {}: current.text {:?}, the provisioned {} data sources are {named:?}",
                v.name, v.current_text, v.query
            ));
        }
    }

    // __inputs: one data source input per plugin.
    let inputs: Vec<(String, String, String)> = json["__inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let s = |k: &str| i[k].as_str().unwrap_or("").to_string();
            (s("name"), s("type"), s("pluginId"))
        })
        .collect();
    let want: Vec<(String, String, String)> = plugins
        .iter()
        .map(|p| (input_name(p), "datasource".to_string(), p.clone()))
        .collect();
    if inputs.iter().collect::<BTreeSet<_>>() != want.iter().collect::<BTreeSet<_>>()
        || inputs.len() != want.len()
    {
        errors.push(format!("{f}: __inputs {inputs:?}, want {want:?}"));
    }

    // __requires: Grafana, the data source plugins and the panel plugins.
    let mut required = BTreeSet::new();
    for r in json["__requires"].as_array().into_iter().flatten() {
        let (ty, id) = (
            r["type"].as_str().unwrap_or(""),
            r["id"].as_str().unwrap_or(""),
        );
        if r["name"].as_str().is_none_or(str::is_empty) || !r["version"].is_string() {
            errors.push(format!("{f}: __requires {r}: name and version needed"));
        }
        if ty == "grafana" {
            let major: u32 = r["version"]
                .as_str()
                .and_then(|v| v.split('.').next()?.parse().ok())
                .unwrap_or(0);
            if major < 10 {
                errors.push(format!(
                    "{f}: __requires Grafana {}: the JSON model is 10+",
                    r["version"]
                ));
            }
        }
        if !required.insert((ty.to_string(), id.to_string())) {
            errors.push(format!("{f}: __requires lists {ty} {id} twice"));
        }
    }
    let mut used: BTreeSet<(String, String)> = plugins
        .iter()
        .map(|p| ("datasource".to_string(), p.clone()))
        .collect();
    used.insert(("grafana".into(), "grafana".into()));
    for p in panels(json) {
        if let Some(ty) = p["type"].as_str().filter(|t| *t != "row") {
            used.insert(("panel".into(), ty.into()));
        }
    }
    if required != used {
        errors.push(format!(
            "{f}: __requires lists {:?} not used, misses {:?}",
            required.difference(&used).collect::<Vec<_>>(),
            used.difference(&required).collect::<Vec<_>>()
        ));
    }
}

/// The two ways a dashboard gets into a Grafana.
#[derive(Debug, Clone, Copy)]
pub enum Way {
    /// File provisioning next to `deploy/grafana/provisioning/datasources/`:
    /// the file as it is.
    Provisioned,
    /// The Import flow into a Grafana whose data sources have other names
    /// and uids: the user picks them for `DS_PROMETHEUS` / `DS_INFLUXDB`.
    Imported,
}

pub const WAYS: [Way; 2] = [Way::Provisioned, Way::Imported];

/// The data sources an importing user has and picks: plugin → (uid, name).
const PICKED: [(&str, &str, &str); 2] = [
    ("prometheus", "abc123", "My Prom"),
    ("influxdb", "P951FEA4DE68E13C5", "Influx (prod)"),
];

impl Way {
    /// The instance's data sources, in Grafana's order (by name): first one
    /// of each plugin that is not schoolnet's (so "take the first" is
    /// wrong), then schoolnet's, whose queries go to `urls` (plugin → URL).
    pub fn instance(
        self,
        provisioned: &[Datasource],
        urls: &BTreeMap<&str, String>,
    ) -> Vec<Source> {
        let mut out: Vec<Source> = ["prometheus", "influxdb"]
            .into_iter()
            .map(|kind| Source {
                uid: format!("another-{kind}"),
                name: format!("Another {kind}"),
                kind: kind.into(),
                url: None,
                database: "telegraf".into(),
            })
            .collect();
        let real = |kind: &str| urls.get(kind).cloned();
        match self {
            Way::Provisioned => out.extend(provisioned.iter().map(|p| Source {
                uid: p.uid.clone(),
                name: p.name.clone(),
                kind: p.kind.clone(),
                url: real(&p.kind),
                database: p.db_name.clone(),
            })),
            Way::Imported => out.extend(PICKED.iter().map(|(kind, uid, name)| Source {
                uid: uid.to_string(),
                name: name.to_string(),
                kind: kind.to_string(),
                url: real(kind),
                database: "schoolnet".into(),
            })),
        }
        out
    }

    /// The dashboard as Grafana stores it after this way in.
    pub fn dashboard(self, file: &Value) -> Result<Value, String> {
        match self {
            Way::Provisioned => Ok(file.clone()),
            Way::Imported => import(file, &Self::picks()),
        }
    }

    /// What the user picks in the Import form: input name → uid.
    pub fn picks() -> BTreeMap<String, String> {
        PICKED
            .iter()
            .map(|(kind, uid, _)| (input_name(kind), uid.to_string()))
            .collect()
    }

    /// The uid the dashboard must use for `plugin`.
    pub fn expected_uid(self, plugin: &str, provisioned: &[Datasource]) -> Option<String> {
        match self {
            Way::Provisioned => provisioned
                .iter()
                .find(|p| p.kind == plugin)
                .map(|p| p.uid.clone()),
            Way::Imported => PICKED
                .iter()
                .find(|(k, _, _)| *k == plugin)
                .map(|(_, uid, _)| uid.to_string()),
        }
    }
}

#[test]
fn import_replaces_the_inputs_only_and_drops_them() {
    let dash = serde_json::json!({
        "__inputs": [{"name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus"}],
        "a": "${DS_PROMETHEUS}",
        "b": "${prometheus} ${DS_PROMETHEUS}${__rate_interval} ${} $DS_PROMETHEUS ${DS_OTHER}",
        "panels": [{"__inputs": [], "n": 3, "t": true, "z": null}],
    });
    let picked = BTreeMap::from([("DS_PROMETHEUS".to_string(), "abc123".to_string())]);
    assert_eq!(
        import(&dash, &picked).unwrap(),
        serde_json::json!({
            "a": "abc123",
            "b": "${prometheus} abc123${__rate_interval} ${} $DS_PROMETHEUS ${DS_OTHER}",
            "panels": [{"n": 3, "t": true, "z": null}],
        })
    );
    let err = import(&dash, &BTreeMap::new()).unwrap_err();
    assert!(err.contains("DS_PROMETHEUS"), "{err}");
}

#[test]
fn a_datasource_variable_takes_its_value_else_its_name_else_the_first() {
    let source = |uid: &str, name: &str, kind: &str| Source {
        uid: uid.into(),
        name: name.into(),
        kind: kind.into(),
        url: None,
        database: String::new(),
    };
    let sources = [
        source("i1", "Influx", "influxdb"),
        source("p1", "First", "prometheus"),
        source("p2", "schoolnet Prometheus", "prometheus"),
        source("p3", "Picked", "prometheus"),
    ];
    let var = |text: &str, value: &str| Variable {
        name: "prometheus".into(),
        kind: "datasource".into(),
        ds_type: String::new(),
        ds_uid: String::new(),
        query: "prometheus".into(),
        multi: false,
        include_all: false,
        all_value: None,
        current_text: text.into(),
        current_value: value.into(),
    };
    let pick = |v: &Variable, m| select_datasource(v, &sources, m);
    for m in MATCHINGS {
        let provisioned = var("schoolnet Prometheus", "${DS_PROMETHEUS}");
        assert_eq!(pick(&provisioned, m).as_deref(), Some("p2"), "{m:?}");
        let imported = var("schoolnet Prometheus", "p3");
        let want = match m {
            Matching::Scenes => "p3",
            // The first option matching text or value: the named one.
            Matching::Legacy => "p2",
        };
        assert_eq!(pick(&imported, m).as_deref(), Some(want), "{m:?}");
        let lost = var("gone", "gone");
        assert_eq!(pick(&lost, m).as_deref(), Some("p1"), "{m:?}");
    }
    let no_such_plugin = Variable {
        query: "loki".into(),
        ..var("x", "y")
    };
    assert_eq!(
        select_datasource(&no_such_plugin, &sources, Matching::Scenes),
        None
    );
}
