//! Deployment artifacts are valid and fit together (issue 7, "Deployment"):
//!
//! - `deploy/compose/`: `docker-compose config` (Debian `docker-compose`;
//!   no container engine needed), every service and mount, each service's
//!   config checked as its container sees it (`schoolnet check-config`,
//!   `promtool`, `amtool`, a real mosquitto with the generated password
//!   file, the InfluxDB init script against a stub `influx`);
//! - `Dockerfile` + `.dockerignore`: structure, the build context, the
//!   health check against a real `schoolnet run` (the image itself is not
//!   built: no engine here);
//! - `deploy/systemd/schoolnet.service`: `systemd-analyze verify` and
//!   `security --offline`, hardening keys, its command lines and
//!   environment run through the binary;
//! - `deploy/kubernetes/`: typed parse of every manifest (unknown fields
//!   refused), selectors, ports, probes, volumes, shard variables, and
//!   `check-config` on the ConfigMap with the pod's environment.
//!
//! Missing tools fail with the setup command (`sudo
//! scripts/setup-test-deps.sh`); nothing is skipped.
//!
//! Helpers for `tests/e2e/deploy/mod.rs`: the repository's files, the external
//! validators (docker-compose, promtool, amtool, systemd-analyze, mosquitto;
//! missing ones fail with the setup command), `schoolnet check-config` with
//! an exact environment, YAML parsing, and "materializing" a container's
//! mounts into a temp directory so that a config can be checked with the
//! paths the container sees.

pub mod compose;
pub mod docker;
pub mod kubernetes;
pub mod systemd;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

pub use testkit::tool;

/// Runs `cmd`; panics with the command line and its whole output unless it
/// exits 0. Returns the output.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "`{cmd:?}` failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run `{cmd:?}`: {e}"))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn schoolnet() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_schoolnet"))
}

/// `schoolnet check-config FILE` with exactly `env` (nothing inherited but
/// `PATH`, so no `SCHOOLNET_*` of the machine leaks in). Panics unless the
/// config is valid; returns the summary it prints.
pub fn check_config(config: &Path, env: &BTreeMap<String, String>) -> String {
    let out = run_ok(&mut check_config_command(config, env));
    let text = stdout(&out);
    assert!(text.contains(": OK"), "check-config:\n{text}");
    text
}

/// `schoolnet check-config` that must fail: its stderr.
pub fn check_config_output(config: &Path, env: &BTreeMap<String, String>) -> String {
    let out = run(&mut check_config_command(config, env));
    assert!(
        !out.status.success(),
        "check-config accepted it:\n{}",
        stdout(&out)
    );
    stderr(&out)
}

fn check_config_command(config: &Path, env: &BTreeMap<String, String>) -> Command {
    let mut cmd = Command::new(schoolnet());
    cmd.arg("check-config")
        .arg(config)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env);
    cmd
}

/// Asserts that `schoolnet ARGS… --help` exits 0: every flag before
/// `--help` is one the subcommand knows (clap rejects unknown ones first).
pub fn assert_cli_accepts(args: &[String], what: &str) {
    let mut cmd = Command::new(schoolnet());
    cmd.args(args).arg("--help");
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "{what}: `schoolnet {}` is not a valid command line:\n{}",
        args.join(" "),
        stderr(&out)
    );
}

/// Every YAML document of `text` as JSON values.
pub fn yaml_docs(text: &str, what: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("{what}: not valid YAML: {e}"))
}

pub fn yaml(text: &str, what: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{what}: not valid YAML: {e}"))
}

pub fn toml_value(text: &str, what: &str) -> toml::Table {
    toml::from_str(text).unwrap_or_else(|e| panic!("{what}: not valid TOML: {e}"))
}

/// The port of a `host:port` listen address.
pub fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("`{addr}` has no port"))
}

/// `exporter.listen`'s port of a schoolnet config (9740 when unset, as in
/// the collector's defaults).
pub fn exporter_port(config: &toml::Table) -> u16 {
    match config
        .get("exporter")
        .and_then(|e| e.get("listen"))
        .and_then(|l| l.as_str())
    {
        Some(listen) => port_of(listen),
        None => collector::config::ExporterConfig::default().listen.port(),
    }
}

/// `spool.dir` of a schoolnet config, which must be absolute in a
/// container (a relative one would land in the read-only config mount).
pub fn spool_dir(config: &toml::Table, what: &str) -> PathBuf {
    let dir = config
        .get("spool")
        .and_then(|s| s.get("dir"))
        .and_then(|d| d.as_str())
        .unwrap_or_else(|| {
            panic!("{what}: no [spool] dir: history would be queued in memory only")
        });
    let dir = PathBuf::from(dir);
    assert!(
        dir.is_absolute(),
        "{what}: spool.dir {dir:?} is not absolute"
    );
    dir
}

/// How long `schoolnet run` may take to stop after SIGTERM: the InfluxDB
/// writer's own shutdown budget, one request timeout (default
/// `influx.timeout_s`) and the history service's 2 s slack (src/app/history.rs),
/// plus 10 s for the MQTT disconnect and the pipeline's queue. Service
/// managers must wait at least this long before SIGKILL.
pub fn stop_budget() -> Duration {
    let influx = collector::config::InfluxConfig::default();
    collector::sink::influx::SHUTDOWN_BUDGET
        + Duration::from_secs_f64(influx.timeout_s)
        + Duration::from_secs(2)
        + Duration::from_secs(10)
}

/// Copies the bind mounts `(host path, container path)` into `root` at
/// their container paths, and creates the directories of the volumes
/// (`container paths`), so that `root.join(container path)` is what the
/// container would read.
pub fn materialize(root: &Path, binds: &[(PathBuf, PathBuf)], volumes: &[PathBuf]) {
    for (host, container) in binds {
        let target = inside(root, container);
        copy_tree(host, &target);
    }
    for v in volumes {
        std::fs::create_dir_all(inside(root, v)).unwrap();
    }
}

/// `root` + an absolute container path.
pub fn inside(root: &Path, container: &Path) -> PathBuf {
    root.join(container.strip_prefix("/").unwrap_or(container))
}

fn copy_tree(from: &Path, to: &Path) {
    let meta = std::fs::metadata(from)
        .unwrap_or_else(|e| panic!("mounted host path {} does not exist: {e}", from.display()));
    if meta.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to)
            .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
    }
}

/// A Kubernetes-style quantity (`2Gi`, `512Mi`, `1G`, `100`) in bytes.
pub fn quantity_bytes(q: &str) -> u64 {
    let units: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("K", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().expect("quantity number") * factor;
        }
    }
    q.parse().unwrap_or_else(|_| panic!("quantity `{q}`"))
}
