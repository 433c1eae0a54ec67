//! Every alert is actionable at 3 a.m.: it carries a `runbook_url` whose
//! anchor is a heading of docs/health-and-alerting.md (GitHub's anchor
//! rules; for SchoolDown one section per cause it can carry), a
//! `dashboard_url` to a dashboard of `dashboards/` by its uid, and both
//! start from the exporter's `schoolnet_exporter_links_info` with a
//! relative fallback. No servers are started; promtool's unit tests
//! (`deploy_configs::prometheus_rule_unit_tests_pass`) check the rendered
//! text.

use std::collections::BTreeSet;
use std::path::Path;

use exporter::health::{State, STATE_SERIES};

const ALERT_RULES: &str = "deploy/prometheus/rules/schoolnet-alerts.yml";
const RUNBOOK_DOC: &str = "docs/health-and-alerting.md";

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// GitHub's heading anchors: lower case; everything but letters, digits,
/// spaces, `-` and `_` removed; spaces to `-`; a repeated anchor gets
/// `-1`, `-2`, … in order of appearance.
fn github_anchors(markdown: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        if in_code {
            continue;
        }
        let text = heading.trim_start_matches('#');
        if !text.starts_with(' ') {
            continue;
        }
        let base: String = text
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = base.clone();
        let mut n = 0;
        while anchors.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        anchors.insert(anchor);
    }
    anchors
}

#[test]
fn github_anchor_rules() {
    let doc =
        "# Title\n## Pipeline: spool filling, blocked or dropping\n### SchoolDown: link_down\n\
               ```\n# not a heading\n```\n### `[exporter]`\n### Twice\n### Twice\n";
    let anchors: Vec<String> = github_anchors(doc).into_iter().collect();
    assert_eq!(
        anchors,
        [
            "exporter",
            "pipeline-spool-filling-blocked-or-dropping",
            "schooldown-link_down",
            "title",
            "twice",
            "twice-1"
        ]
    );
}

/// (alert name, its annotations) of every alerting rule.
fn alerts() -> Vec<(String, serde_json::Map<String, serde_json::Value>)> {
    let rules: serde_json::Value =
        serde_saphyr::from_str(&read(ALERT_RULES)).expect("alert rules are YAML");
    let mut out = Vec::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let Some(name) = rule["alert"].as_str() else {
                continue;
            };
            let annotations = rule["annotations"]
                .as_object()
                .unwrap_or_else(|| panic!("{name}: no annotations"))
                .clone();
            out.push((name.to_string(), annotations));
        }
    }
    assert!(out.len() >= 20, "too few alerts parsed: {}", out.len());
    out
}

/// The causes SchoolDown pages with: the exporter's down causes but
/// upstream_down (left to UpstreamDown), plus the rule's own
/// never_reported (unknown after the start-up grace).
fn school_down_causes() -> Vec<String> {
    let mut causes: Vec<String> = school_causes(State::Down)
        .into_iter()
        .filter(|c| c != "upstream_down")
        .collect();
    causes.push("never_reported".into());
    causes
}

/// The causes the exporter gives a school in `state`.
fn school_causes(state: State) -> Vec<String> {
    STATE_SERIES
        .iter()
        .filter(|(s, _)| *s == state)
        .filter_map(|(_, cause)| cause.map(|c| c.as_str().to_string()))
        .collect()
}

const RUNBOOK_BASE: &str = "{{ with query `max by (runbook_url) (schoolnet_exporter_links_info{runbook_url!=\"\"})` }}{{ . | first | label \"runbook_url\" }}{{ else }}docs/health-and-alerting.md{{ end }}#";
const GRAFANA_BASE: &str = "{{ with query `max by (grafana_url) (schoolnet_exporter_links_info{grafana_url!=\"\"})` }}{{ . | first | label \"grafana_url\" }}{{ end }}/d/";

#[test]
fn every_alert_links_to_its_runbook_section_and_a_dashboard() {
    let anchors = github_anchors(&read(RUNBOOK_DOC));
    assert!(
        anchors.contains("runbooks"),
        "{RUNBOOK_DOC} has no Runbooks section"
    );
    let uids: BTreeSet<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards"))
            .expect("dashboards/")
            .filter_map(|e| {
                let path = e.expect("dir entry").path();
                (path.extension()? == "json").then_some(path)
            })
            .map(|path| {
                let json: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).expect("read dashboard"))
                        .expect("dashboard JSON");
                json["uid"].as_str().expect("dashboard uid").to_string()
            })
            .collect();
    let mut problems = Vec::new();
    for (name, annotations) in alerts() {
        let text = |key: &str| annotations.get(key).and_then(|v| v.as_str());
        for key in ["summary", "description", "runbook"] {
            if text(key).is_none_or(|t| t.trim().is_empty()) {
                problems.push(format!("{name}: no {key}"));
            }
        }
        match text("runbook_url").map(|u| u.strip_prefix(RUNBOOK_BASE)) {
            None => problems.push(format!("{name}: no runbook_url")),
            Some(None) => problems.push(format!(
                "{name}: runbook_url does not start from schoolnet_exporter_links_info \
                 with the {RUNBOOK_DOC} fallback"
            )),
            Some(Some(anchor)) => {
                // A per-cause anchor expands to one section per cause.
                let expanded: Vec<String> = if anchor.contains("{{ $labels.cause }}") {
                    let causes = match name.as_str() {
                        "SchoolDown" => school_down_causes(),
                        "SchoolDegraded" => school_causes(State::Degraded),
                        _ => panic!(
                            "{name}: only SchoolDown and SchoolDegraded have per-cause runbooks"
                        ),
                    };
                    causes
                        .iter()
                        .map(|c| anchor.replace("{{ $labels.cause }}", c))
                        .collect()
                } else {
                    vec![anchor.to_string()]
                };
                for a in expanded {
                    if a.contains("{{") || !anchors.contains(&a) {
                        problems.push(format!(
                            "{name}: runbook_url anchor #{a} is not a heading of {RUNBOOK_DOC}"
                        ));
                    }
                }
            }
        }
        match text("dashboard_url").map(|u| u.strip_prefix(GRAFANA_BASE)) {
            None => problems.push(format!("{name}: no dashboard_url")),
            Some(None) => problems.push(format!(
                "{name}: dashboard_url does not start from schoolnet_exporter_links_info"
            )),
            Some(Some(path)) => {
                let uid = path.split(['?', '{']).next().unwrap_or_default();
                if !uids.contains(uid) {
                    problems.push(format!(
                        "{name}: dashboard_url names uid {uid:?}, not one of dashboards/*.json {uids:?}"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The rule file's header comment names the documents and files it relies
/// on; they must exist (the README split once left it citing a section
/// that had moved).
#[test]
fn the_rules_header_cites_files_that_exist() {
    let text = read(ALERT_RULES);
    let header: Vec<&str> = text
        .lines()
        .take_while(|l| l.starts_with('#') || l.trim().is_empty())
        .collect();
    let mut cited = Vec::new();
    for line in &header {
        for word in line.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | ';')) {
            let word = word.trim_end_matches(['.', ':']);
            let is_path = word.contains('/')
                && [".md", ".yml", ".rs", ".json"]
                    .iter()
                    .any(|ext| word.ends_with(ext));
            if is_path {
                cited.push(word.to_string());
            }
        }
    }
    assert!(
        cited.len() >= 4,
        "too few files cited in the header: {cited:?}"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let missing: Vec<&String> = cited.iter().filter(|p| !root.join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "{ALERT_RULES} header cites missing files: {missing:?}"
    );
}
