//! Structural checks of one dashboard against the provisioning and the
//! other dashboards, without any server.

use std::collections::BTreeSet;

use super::model::{
    grid, interpolated_strings, link_urls, linked_uid, panels, provisioned_datasources, queries,
    referenced_vars, title, variables, Dashboard, BUILTIN_VARS,
};
use super::portable::check_portable;

/// Structural problems of one dashboard, as messages.
pub fn check_dashboard(d: &Dashboard, all: &[Dashboard], errors: &mut Vec<String>) {
    let sources = provisioned_datasources();
    let f = &d.file;
    let json = &d.json;
    if json["title"].as_str().unwrap_or("").is_empty() {
        errors.push(format!("{f}: no title"));
    }
    if json["tags"].as_array().is_none_or(|t| t.is_empty()) {
        errors.push(format!("{f}: no tags"));
    }
    if json["schemaVersion"].as_i64().unwrap_or(0) < 36 {
        errors.push(format!(
            "{f}: schemaVersion < 36 (Grafana 10/11 model expected)"
        ));
    }

    // Data sources: variables only, `__inputs`/`__requires` (see portable).
    check_portable(f, json, &sources, errors);
    let all_panels = panels(json);
    for p in &all_panels {
        let t = title(p);
        if p["type"] == "row" {
            continue;
        }
        if !p["datasource"].is_object() {
            errors.push(format!("{f}: panel {t:?} has no data source"));
        }
        if p["targets"].as_array().is_none_or(|t| t.is_empty()) {
            errors.push(format!("{f}: panel {t:?} has no query"));
        }
        let refs: Vec<&str> = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["refId"].as_str().unwrap_or(""))
            .collect();
        if refs.iter().collect::<BTreeSet<_>>().len() != refs.len() || refs.contains(&"") {
            errors.push(format!(
                "{f}: panel {t:?}: refIds missing or repeated: {refs:?}"
            ));
        }
    }
    for q in queries(json) {
        if q.ds_type.is_empty() || q.ds_uid.is_empty() {
            errors.push(format!("{f}: {}: no data source", q.what));
        }
        if q.text.trim().is_empty() {
            errors.push(format!("{f}: {}: empty query", q.what));
        }
    }

    // Titles unique (failures name panels by title).
    let titles: Vec<String> = all_panels
        .iter()
        .filter(|p| p["type"] != "row")
        .map(|p| title(p))
        .collect();
    if titles.iter().collect::<BTreeSet<_>>().len() != titles.len() {
        errors.push(format!("{f}: panel titles repeat: {titles:?}"));
    }

    // Panel ids unique; grid rectangles inside 24 columns and disjoint.
    let ids: Vec<i64> = all_panels.iter().filter_map(|p| p["id"].as_i64()).collect();
    if ids.len() != all_panels.len() || ids.iter().collect::<BTreeSet<_>>().len() != ids.len() {
        errors.push(format!("{f}: panel ids missing or repeated"));
    }
    let rects: Vec<(String, (i64, i64, i64, i64))> = all_panels
        .iter()
        .map(|p| (title(p), grid(p).unwrap_or((0, 0, 0, 0))))
        .collect();
    for (i, (ta, (x, y, w, h))) in rects.iter().enumerate() {
        if *w <= 0 || *h <= 0 || *x < 0 || *y < 0 || x + w > 24 {
            errors.push(format!("{f}: panel {ta:?}: bad gridPos {:?}", rects[i].1));
        }
        for (tb, (x2, y2, w2, h2)) in &rects[i + 1..] {
            if x < &(x2 + w2) && x2 < &(x + w) && y < &(y2 + h2) && y2 < &(y + h) {
                errors.push(format!("{f}: panels {ta:?} and {tb:?} overlap"));
            }
        }
    }

    // Variables: a query variable has a data source, "All" is a regex, each
    // refers only to variables defined before it; every reference anywhere
    // is defined.
    let vars = variables(json);
    let mut defined: Vec<String> = BUILTIN_VARS.iter().map(|s| s.to_string()).collect();
    for v in &vars {
        if v.kind == "query" && (v.ds_type.is_empty() || v.ds_uid.is_empty()) {
            errors.push(format!("{f}: variable {}: no data source", v.name));
        }
        if v.include_all && v.all_value.as_deref() != Some(".*") {
            errors.push(format!(
                "{f}: variable {}: includeAll needs allValue \".*\"",
                v.name
            ));
        }
        for r in referenced_vars(&v.query) {
            if !defined.contains(&r) {
                errors.push(format!(
                    "{f}: variable {} uses ${r}, not defined before it",
                    v.name
                ));
            }
        }
        defined.push(v.name.clone());
    }
    for (at, text) in interpolated_strings(json) {
        for r in referenced_vars(&text) {
            if !defined.contains(&r) {
                errors.push(format!(
                    "{f}: {at}: ${r} is not a variable of this dashboard"
                ));
            }
        }
    }

    // Links: `/d/<uid>` URLs and tag links resolve to dashboards.
    for (at, url) in link_urls(json, "") {
        if let Some(uid) = linked_uid(&url) {
            if !all.iter().any(|o| o.uid() == uid) {
                errors.push(format!("{f}: {at}: link to unknown dashboard uid {uid:?}"));
            }
        }
    }
    for link in json["links"].as_array().into_iter().flatten() {
        for tag in link["tags"].as_array().into_iter().flatten() {
            let tagged = all
                .iter()
                .filter(|o| o.uid() != d.uid())
                .any(|o| o.json["tags"].as_array().is_some_and(|t| t.contains(tag)));
            if !tagged {
                errors.push(format!(
                    "{f}: dashboard link tag {tag} matches no other dashboard"
                ));
            }
        }
    }
}
