//! `deploy/systemd/schoolnet.service`: `systemd-analyze verify` (syntax,
//! known keys, ExecStart= exists: a temp copy points it at the built
//! binary), `systemd-analyze security --offline` (the sandbox's exposure
//! level), the keys the deployment relies on, and the unit's command lines
//! and environment fed to the real binary. systemd-analyze comes from the
//! Debian package `systemd` (scripts/setup-test-deps.sh); it works without
//! systemd running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::*;

const UNIT: &str = "deploy/systemd/schoolnet.service";
const INSTALLED_BIN: &str = "/usr/local/bin/schoolnet";

fn systemd_analyze() -> PathBuf {
    tool("/usr/bin/systemd-analyze", "systemd")
}

/// `key -> values` of the [Service] section (repeated keys keep every
/// value, in order).
fn service_section() -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in read(UNIT).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        assert!(!line.ends_with('\\'), "keep unit lines unbroken: {line}");
        if section == "[Service]" {
            let (k, v) = line.split_once('=').expect("key=value");
            out.entry(k.to_string()).or_default().push(v.to_string());
        }
    }
    out
}

fn one(service: &BTreeMap<String, Vec<String>>, key: &str) -> String {
    let values = service
        .get(key)
        .unwrap_or_else(|| panic!("{UNIT}: no {key}="));
    values.last().unwrap().clone()
}

/// A copy of the unit (same file name: the credentials directory is named
/// after it) whose command lines run the built binary.
fn unit_with_built_binary() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("schoolnet.service");
    let text = read(UNIT).replace(INSTALLED_BIN, schoolnet().to_str().unwrap());
    std::fs::write(&unit, text).unwrap();
    (dir, unit)
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let (_dir, unit) = unit_with_built_binary();
    let out = run(Command::new(systemd_analyze()).arg("verify").arg(&unit));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{all}"
    );
    // Unknown keys and bad values are warnings, exit code 0: none allowed.
    let about_unit: Vec<&str> = all
        .lines()
        .filter(|l| l.contains("schoolnet.service"))
        .collect();
    assert!(
        about_unit.is_empty(),
        "systemd-analyze verify warns about the unit:\n{}",
        about_unit.join("\n")
    );
    // And it does check: a typo is reported.
    let broken = unit.with_file_name("broken.service");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&unit)
            .unwrap()
            .replace("ProtectSystem=strict", "ProtectSytem=strict"),
    )
    .unwrap();
    let out = run(Command::new(systemd_analyze()).arg("verify").arg(&broken));
    assert!(
        stderr(&out).contains("ProtectSytem"),
        "verify did not notice a misspelt key: {}",
        stderr(&out)
    );
}

#[test]
fn unit_sandbox_exposure_is_low() {
    let (_dir, unit) = unit_with_built_binary();
    let out = run_ok(
        Command::new(systemd_analyze())
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(&unit),
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    let level: f64 = text
        .lines()
        .find_map(|l| {
            l.split_once("Overall exposure level for schoolnet.service: ")
                .map(|(_, rest)| rest.split_whitespace().next().unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no overall exposure level:\n{text}"));
    // 0 = fully sandboxed, 10 = none; systemd calls < 2 "OK". A network
    // daemon cannot have PrivateNetwork=, which alone costs 0.5.
    assert!(level <= 2.0, "exposure level {level} > 2.0:\n{text}");
}

#[test]
fn unit_has_the_hardening_the_deployment_relies_on() {
    let s = service_section();
    for (key, want) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "schoolnet"),
        ("ConfigurationDirectory", "schoolnet"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(one(&s, key), want, "{key}=");
    }
    let families: Vec<String> = one(&s, "RestrictAddressFamilies")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(families, ["AF_INET", "AF_INET6", "AF_UNIX"]);
    assert_eq!(s["SystemCallFilter"][0], "@system-service");
    assert!(
        one(&s, "MemoryMax").ends_with(['M', 'G']),
        "MemoryMax in M or G"
    );

    // Not Type=notify: the binary does not call sd_notify.
    assert!(
        matches!(one(&s, "Type").as_str(), "exec" | "simple"),
        "Type={}",
        one(&s, "Type")
    );
    // Reload = SIGHUP to the collector.
    assert!(
        s["ExecReload"]
            .iter()
            .any(|c| c == "/bin/kill -HUP $MAINPID"),
        "ExecReload sends SIGHUP: {:?}",
        s["ExecReload"]
    );
    // Time to drain before SIGKILL.
    let stop = one(&s, "TimeoutStopSec");
    let secs: u64 = stop
        .trim_end_matches('s')
        .parse()
        .expect("TimeoutStopSec=Ns");
    assert!(
        Duration::from_secs(secs) >= stop_budget(),
        "TimeoutStopSec={stop} < the drain budget {:?}",
        stop_budget()
    );
    // Secrets as credentials, not environment.
    let creds: Vec<&str> = s["LoadCredential"]
        .iter()
        .map(|c| c.split(':').next().unwrap())
        .collect();
    assert_eq!(creds, ["mqtt-password", "influx-token"]);
    for e in s.get("Environment").into_iter().flatten() {
        assert!(
            !e.contains("PASSWORD=") && !e.contains("TOKEN="),
            "a secret in Environment=: {e}"
        );
    }
    assert!(
        !s.contains_key("EnvironmentFile"),
        "secrets via LoadCredential only"
    );
}

#[test]
fn unit_command_lines_and_environment_work_with_the_binary() {
    let s = service_section();
    // ExecStart and the check-config of ExecReload, on the example config.
    let example = repo().join("deploy/schoolnet.example.toml");
    let exec_start: Vec<String> = one(&s, "ExecStart")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(exec_start[0], INSTALLED_BIN);
    assert_cli_accepts(&exec_start[1..], "ExecStart");
    let config = exec_start
        .iter()
        .position(|a| a == "--config")
        .map(|i| exec_start[i + 1].clone())
        .expect("ExecStart passes --config");
    assert!(
        config.starts_with("/etc/schoolnet/"),
        "the config is in ConfigurationDirectory"
    );
    let reload_check: Vec<String> = s["ExecReload"][0]
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(reload_check[0], INSTALLED_BIN);
    assert_eq!(
        reload_check[1..],
        ["check-config".to_string(), config.clone()],
        "ExecReload checks the config ExecStart runs, before the SIGHUP"
    );

    // The unit's Environment= (specifiers resolved as for a system unit;
    // %S into a temp dir) and the credential paths the README tells to put
    // in the config, on the example config: valid.
    let state = tempfile::tempdir().unwrap();
    let credentials = Path::new("/run/credentials/schoolnet.service");
    let mut env = BTreeMap::new();
    for e in s.get("Environment").into_iter().flatten() {
        for pair in e.split_whitespace() {
            let (k, v) = pair.split_once('=').unwrap();
            let v = v
                .replace("%S", state.path().to_str().unwrap())
                .replace("%d", credentials.to_str().unwrap());
            assert!(!v.contains('%'), "unresolved specifier in {pair}");
            env.insert(k.to_string(), v);
        }
    }
    // The spool goes to the StateDirectory.
    let spool = env
        .get("SCHOOLNET_SPOOL__DIR")
        .expect("Environment=SCHOOLNET_SPOOL__DIR");
    assert!(
        Path::new(spool).starts_with(state.path().join(one(&s, "StateDirectory"))),
        "spool {spool} outside StateDirectory"
    );
    env.insert(
        "SCHOOLNET_MQTT__PASSWORD_FILE".into(),
        credentials.join("mqtt-password").to_string_lossy().into(),
    );
    env.insert(
        "SCHOOLNET_INFLUX__TOKEN_FILE".into(),
        credentials.join("influx-token").to_string_lossy().into(),
    );
    check_config(&example, &env);
    // The section's keys are checked (deny_unknown_fields): the positive
    // check above proves SCHOOLNET_SPOOL__DIR names a real key.
    let dir = env.remove("SCHOOLNET_SPOOL__DIR").unwrap();
    env.insert("SCHOOLNET_SPOOL__DIRECTORY".into(), dir);
    let out = run(Command::new(schoolnet())
        .arg("check-config")
        .arg(&example)
        .env_clear()
        .envs(&env));
    assert!(!out.status.success(), "a misspelt spool key was accepted");
}
