//! docs/connect-a-router.md ("Connect your first router") kept true:
//! - this module: every reject reason of the code has a troubleshooting
//!   row and every row is a reason; every file the page names exists (and
//!   every docs anchor it links); every `schoolnet` command it shows answers
//!   `--help` and knows the flags used; every Grafana panel a walkthrough
//!   names is on `schoolnet-school` and queries the metric named with it;
//! - [`acl`]: the page's broker users and ACL on a real mosquitto;
//! - [`walkthrough`]: each of the three walkthroughs end to end on real
//!   servers, with the page's inventory rows, users and ACL ([`lab`]);
//! - [`symptoms`]: what "Troubleshooting by symptom" says the collector
//!   does with a skewed clock, an unknown device, a poller's default topic
//!   and a wrong topic.
//!
//! The page marks what the tests read with `<!-- guide:NAME -->` before a
//! fenced block or table, so the tests use the page's own text.

mod acl;
mod lab;
mod symptoms;
mod walkthrough;

use crate::support::{BIN, ROOT};

use std::collections::BTreeSet;
use std::path::Path;

use collector::reject::RejectReason;

pub(crate) const PAGE: &str = "docs/connect-a-router.md";

pub(crate) fn page() -> String {
    std::fs::read_to_string(Path::new(ROOT).join(PAGE)).unwrap()
}

/// The fenced block right after `<!-- guide:NAME -->`, without its fences.
pub(crate) fn block(name: &str) -> String {
    let page = page();
    let marker = format!("<!-- guide:{name} -->");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("{marker} in {PAGE}"));
    let rest = &page[at + marker.len()..];
    let open = rest.find("```").expect("a fenced block after the marker");
    let body = &rest[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let close = body.find("\n```").expect("closing fence");
    body[..close].to_string()
}

/// The lines of the table right after `<!-- guide:NAME -->` (header and
/// separator included), up to the first line that is not a table row.
fn table(name: &str) -> Vec<String> {
    let page = page();
    let marker = format!("<!-- guide:{name} -->");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("{marker} in {PAGE}"));
    page[at + marker.len()..]
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.starts_with('|'))
        .map(str::to_string)
        .collect()
}

/// The text of the `## heading` section, up to the next `## `.
pub(crate) fn section(heading: &str) -> String {
    let page = page();
    let start = page
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("section ## {heading} in {PAGE}"));
    let rest = &page[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    rest[..end].to_string()
}

/// Inline code spans (`` `…` ``) of `text`, fenced blocks excluded.
fn code_spans(text: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let parts: Vec<&str> = line.split('`').collect();
        spans.extend(parts.iter().skip(1).step_by(2).map(|s| s.to_string()));
    }
    spans
}

/// The lines of every fenced block of `text`.
fn fenced_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if in_fence {
            lines.push(line.trim().to_string());
        }
    }
    lines
}

/// `(panel title, metric)` of every "panel **Title** (`metric`)" in `text`.
pub(crate) fn panels(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for piece in text.split("panel **").skip(1) {
        let (title, rest) = piece.split_once("**").expect("closing **");
        let metric = rest
            .strip_prefix(" (`")
            .and_then(|r| r.split_once('`'))
            .map(|(m, _)| m.to_string())
            .unwrap_or_else(|| panic!("panel **{title}** names no (`metric`)"));
        out.push((title.to_string(), metric));
    }
    out
}

#[test]
fn every_reject_reason_has_a_troubleshooting_row_and_every_row_is_a_reason() {
    let rows = table("reject-reasons");
    assert!(rows.len() > 2, "the reject reason table");
    let in_guide: Vec<String> = rows[2..]
        .iter()
        .map(|row| {
            let cell = row.split('|').nth(1).unwrap().trim();
            cell.trim_matches('`').to_string()
        })
        .collect();
    let in_code: BTreeSet<String> = RejectReason::ALL
        .iter()
        .map(|r| r.as_str().to_string())
        .collect();
    let listed: BTreeSet<String> = in_guide.iter().cloned().collect();
    assert_eq!(listed.len(), in_guide.len(), "a reason listed twice");
    let missing: Vec<_> = in_code.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&in_code).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "{PAGE}: reasons without a row {missing:?}; rows that are no reason {unknown:?}"
    );
    for row in &rows[2..] {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(
            cells.len() == 6 && cells[2..5].iter().all(|c| !c.is_empty()),
            "meaning, cause and fix for {row}"
        );
    }
}

/// GitHub's heading anchors: lowercase, punctuation but `-` dropped,
/// spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_file_and_link_the_guide_names_exists() {
    let page = page();
    let root = Path::new(ROOT);
    let mut checked = 0;
    for span in code_spans(&page) {
        // `deploy/devices/openwrt/collectd.conf`, `docs/…`, `tests/e2e/…`,
        // `collector/tests/corpus/…` (a trailing `/` names a directory).
        let path = span.trim_end_matches('/');
        let is_repo_path = ["deploy/", "docs/", "tests/", "collector/", "dashboards/"]
            .iter()
            .any(|p| path.starts_with(p))
            && !path.contains(' ');
        if is_repo_path {
            assert!(root.join(path).exists(), "{PAGE} names {path}: missing");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} paths found");

    // Markdown links to other docs pages, with their anchors.
    let docs = root.join("docs");
    for piece in page.split("](").skip(1) {
        let target = piece.split(')').next().unwrap();
        if target.starts_with("http") {
            continue;
        }
        let (file, frag) = target.split_once('#').unwrap_or((target, ""));
        let text = if file.is_empty() {
            page.clone()
        } else {
            std::fs::read_to_string(docs.join(file))
                .unwrap_or_else(|e| panic!("{PAGE} links {file}: {e}"))
        };
        if !frag.is_empty() {
            assert!(
                anchors(&text).contains(frag),
                "{PAGE} links {target}: no such heading"
            );
        }
    }
}

/// `schoolnet <command> …` as the page shows it: in fenced blocks and in
/// inline code.
fn schoolnet_invocations(page: &str) -> Vec<Vec<String>> {
    let mut lines = fenced_lines(page);
    lines.extend(code_spans(page));
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("schoolnet "))
        .map(|rest| {
            rest.split_whitespace()
                .take_while(|w| !w.starts_with('#') && *w != "|")
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn every_schoolnet_command_the_guide_shows_exists_with_its_flags() {
    let invocations = schoolnet_invocations(&page());
    assert!(!invocations.is_empty(), "the page shows schoolnet commands");
    for words in invocations {
        let command = &words[0];
        let out = std::process::Command::new(BIN)
            .args([command.as_str(), "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{PAGE}: `schoolnet {command} --help` fails: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for flag in words.iter().filter(|w| w.starts_with('-')) {
            let name = flag.split('=').next().unwrap();
            assert!(
                help.contains(name),
                "{PAGE}: `schoolnet {}` uses {name}, which `schoolnet {command} --help` does not list",
                words.join(" ")
            );
        }
    }
}

/// Every panel of a dashboard, nested rows included: `(title, queries)`.
fn dashboard_panels(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(panels: &serde_json::Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let queries: Vec<String> = p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let q = t.get("expr").or_else(|| t.get("query"));
                    q.and_then(|q| q.as_str()).unwrap_or("").to_string()
                })
                .collect();
            out.push((
                p["title"].as_str().unwrap_or("").to_string(),
                queries.join("\n"),
            ));
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

#[test]
fn every_grafana_panel_the_walkthroughs_name_shows_its_metric() {
    let path = Path::new(ROOT).join("dashboards/schoolnet-school.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(dashboard["uid"], "schoolnet-school");
    let on_dashboard = dashboard_panels(&dashboard);
    let named = panels(&page());
    assert!(
        named.len() >= 6,
        "panels named in the walkthroughs: {named:?}"
    );
    for (title, metric) in named {
        let panel = on_dashboard
            .iter()
            .find(|(t, _)| *t == title)
            .unwrap_or_else(|| panic!("{PAGE}: no panel {title:?} on schoolnet-school"));
        assert!(
            panel.1.contains(&metric),
            "{PAGE}: panel {title:?} does not query {metric}: {}",
            panel.1
        );
    }
}
