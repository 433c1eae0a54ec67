//! The monitoring configs in `deploy/` are valid and do what their tests say:
//! `promtool check rules`, `promtool test rules` (the rule unit tests in
//! `deploy/prometheus/tests/`), `promtool check config` and
//! `amtool check-config`, plus Alertmanager routing and two conventions of
//! the rule files (every alert has a firing and a silent unit test; every
//! `for:` is on a line of its own). No servers are started.
//!
//! promtool and amtool come from Debian packages (`prometheus`,
//! `prometheus-alertmanager`); when one is missing the test fails with the
//! setup command, it never skips.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const ALERT_RULES: &str = "deploy/prometheus/rules/schoolnet-alerts.yml";
const RECORDING_RULES: &str = "deploy/prometheus/rules/schoolnet-recording.yml";
const RULE_TESTS_DIR: &str = "deploy/prometheus/tests";
const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
const ALERTMANAGER_CONFIG: &str = "deploy/alertmanager/alertmanager.yml";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

use testkit::tool;

fn promtool() -> PathBuf {
    tool("/usr/bin/promtool", "prometheus")
}

fn amtool() -> PathBuf {
    tool("/usr/bin/amtool", "prometheus-alertmanager")
}

/// Runs `program args…` in the repository root; panics with the command and
/// its whole output unless it exits 0. Returns stdout.
fn run_ok(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "`{} {}` failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        program.display(),
        args.join(" "),
        out.status
    );
    stdout
}

/// `dir/*.yml`, sorted, relative to the repository root.
fn yml_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yml"))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.yml in {dir}");
    files
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

#[test]
fn prometheus_rule_files_are_valid() {
    let files = yml_files("deploy/prometheus/rules");
    for expected in [ALERT_RULES, RECORDING_RULES] {
        assert!(files.iter().any(|f| f == expected), "{expected} missing");
    }
    let mut args = vec!["check", "rules"];
    args.extend(files.iter().map(String::as_str));
    let out = run_ok(&promtool(), &args);
    assert!(out.contains("SUCCESS"), "promtool check rules:\n{out}");
}

#[test]
fn prometheus_rule_unit_tests_pass() {
    let files = yml_files(RULE_TESTS_DIR);
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    let out = run_ok(&promtool(), &args);
    assert!(
        out.matches("SUCCESS").count() == files.len() && !out.contains("FAILED"),
        "promtool test rules:\n{out}"
    );
}

#[test]
fn prometheus_config_is_valid() {
    let out = run_ok(&promtool(), &["check", "config", PROMETHEUS_CONFIG]);
    // check config also checks the rule files it names
    assert!(
        out.contains("2 rule files found"),
        "prometheus.yml should load the alerting and recording rules:\n{out}"
    );
}

#[test]
fn alertmanager_config_is_valid() {
    let out = run_ok(&amtool(), &["check-config", ALERTMANAGER_CONFIG]);
    assert!(out.contains("SUCCESS"), "amtool check-config:\n{out}");
}

#[test]
fn alertmanager_routes_pages_to_the_pager_and_the_rest_to_tickets() {
    let config = format!("--config.file={ALERTMANAGER_CONFIG}");
    let cases: &[(&[&str], &str)] = &[
        (
            &["alertname=SchoolDown", "severity=page", "district=Babek"],
            "noc-pager",
        ),
        (&["alertname=CollectorDown", "severity=page"], "noc-pager"),
        (
            &[
                "alertname=FiberLinkDown",
                "severity=critical",
                "district=Julfa",
            ],
            "noc-tickets",
        ),
        (
            &[
                "alertname=HighPacketLoss",
                "severity=warning",
                "district=Babek",
            ],
            "noc-tickets",
        ),
        (
            &["alertname=SchoolDown", "severity=page", "district=Sharur"],
            "sharur-district-team,noc-pager",
        ),
        (
            &[
                "alertname=SchoolDegraded",
                "severity=warning",
                "district=Sharur",
            ],
            "sharur-district-team,noc-tickets",
        ),
    ];
    let amtool = amtool();
    for (labels, expected) in cases {
        let mut args = vec!["config", "routes", "test", config.as_str()];
        args.extend_from_slice(labels);
        let out = run_ok(&amtool, &args);
        assert_eq!(out.trim(), *expected, "route for {labels:?}");
    }
}

/// Alert names defined in the alerting rules (a name may have several
/// rules, e.g. one per severity).
fn alert_names() -> BTreeSet<String> {
    read(ALERT_RULES)
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("- alert: "))
        .map(|name| name.trim().to_string())
        .collect()
}

#[test]
fn every_alert_has_a_firing_and_a_silent_unit_test() {
    let alerts = alert_names();
    assert!(alerts.len() >= 10, "too few alerts parsed: {alerts:?}");
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for file in yml_files(RULE_TESTS_DIR) {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.starts_with("- eval_time:") {
                continue;
            }
            let Some(name) = lines.get(i + 1).and_then(|l| l.strip_prefix("alertname: ")) else {
                continue; // a promql_expr_test
            };
            match lines.get(i + 2).copied() {
                Some("exp_alerts: []") => silent.insert(name.to_string()),
                Some("exp_alerts:") => firing.insert(name.to_string()),
                other => panic!(
                    "{file}: alert test for {name} at line {}: write `eval_time`, `alertname`, \
                     `exp_alerts` in this order (found {other:?})",
                    i + 1
                ),
            };
        }
    }
    let untested = |seen: &BTreeSet<String>| alerts.difference(seen).cloned().collect::<Vec<_>>();
    assert!(
        untested(&firing).is_empty(),
        "alerts without a unit test where they fire: {:?}",
        untested(&firing)
    );
    assert!(
        untested(&silent).is_empty(),
        "alerts without a unit test where they stay silent: {:?}",
        untested(&silent)
    );
    let unknown: Vec<_> = firing
        .union(&silent)
        .filter(|n| !alerts.contains(*n))
        .collect();
    assert!(
        unknown.is_empty(),
        "unit tests for alerts that do not exist: {unknown:?}"
    );
}

/// End-to-end tests run a copy of the alerting rules with shorter `for:`
/// durations, made by rewriting each line whose trimmed text starts with
/// `for: `. That works only while every `for:` is alone on its line.
#[test]
fn every_for_duration_is_alone_on_its_line() {
    let text = read(ALERT_RULES);
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or(line);
        if !code.contains("for:") || code.trim_start().starts_with('#') {
            continue;
        }
        let duration = code.trim().strip_prefix("for: ");
        let valid = duration.is_some_and(|d| {
            !d.is_empty()
                && d.chars()
                    .all(|c| c.is_ascii_digit() || "smhdwy".contains(c))
        });
        assert!(
            valid,
            "{ALERT_RULES}:{}: `for:` must be alone on its line as `for: <duration>`: {line:?}",
            n + 1
        );
        count += 1;
    }
    assert!(
        count >= 10,
        "only {count} `for:` lines found in {ALERT_RULES}"
    );
}

/// Every built-in route's topics may be published by the device they name
/// under deploy/mosquitto/acl (`{device}` is the username `%u`, other
/// variables any level): a new built-in route without its ACL line would
/// have its messages dropped by the broker, unseen by the collector.
#[test]
fn the_acl_lets_each_device_publish_on_every_built_in_route() {
    let acl = read("deploy/mosquitto/acl");
    let writable: Vec<&str> = acl
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pattern write "))
        .collect();
    // Does ACL filter `filter` cover every topic of `topic` (`+` = any level)?
    fn covers(filter: &[&str], topic: &[&str]) -> bool {
        match (filter.split_first(), topic.split_first()) {
            (Some((&"#", _)), _) => true,
            (Some((f, fs)), Some((t, ts))) => (*f == "+" || f == t) && covers(fs, ts),
            (None, None) => true,
            _ => false,
        }
    }
    for route in collector::config::default_routes() {
        let levels: Vec<&str> = route
            .pattern
            .split('/')
            .map(|l| match l {
                "{device}" => "%u",
                l if l.starts_with('{') => "+",
                l => l,
            })
            .collect();
        assert!(
            writable
                .iter()
                .any(|w| covers(&w.split('/').collect::<Vec<_>>(), &levels)),
            "route {} ({}): no `pattern write` line in deploy/mosquitto/acl covers it",
            route.name,
            route.pattern
        );
    }
}
