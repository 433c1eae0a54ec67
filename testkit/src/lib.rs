//! Test-only helpers for schoolnet: real servers from Debian packages, each
//! started as a child process of the test on a free loopback port with its
//! own temp dir, and stopped (killed and reaped) when dropped.
//!
//! Rules (see "Test infrastructure" in docs/architecture.md):
//! - no mocks at the edges, no fixed ports;
//! - a missing server binary makes the test FAIL with a message naming the
//!   setup command ([`SETUP_HINT`]), never skip;
//! - every `start()` returns only once the server answers its readiness
//!   probe; on timeout or early exit the panic message carries the server's
//!   log tail.
//!
//! Servers: [`Mosquitto`], [`InfluxDb1`], [`VictoriaMetrics`], [`Prometheus`],
//! [`Collectd`]. A headless browser (status page tests): [`Chromium`].
//! A slow server in front of a real one: [`DelayProxy`].
//! Certificates for TLS tests: [`TestPki`]. Generic processes (the
//! `schoolnet` binary in end-to-end tests): [`ChildProcess`]. Polling:
//! [`wait_until`].
//!
//! Set `TESTKIT_KEEP_DIRS=1` to keep the servers' temp dirs (configs, data,
//! logs) after the test; their paths are printed to stderr.

#![cfg(target_os = "linux")]

mod alertmanager;
mod chromium;
mod collectd;
mod delay_proxy;
mod http;
mod influxdb;
mod mosquitto;
mod ports;
mod process;
mod prometheus;
mod server;
mod tls;
mod tmpfs;
mod victoria;
mod wait;

use std::path::{Path, PathBuf};

pub use alertmanager::{Alertmanager, AlertmanagerBuilder, ALERTMANAGER_BIN, AMTOOL_BIN};
pub use chromium::{Chromium, CHROMIUM_BIN};
pub use collectd::{Collectd, CollectdBuilder, COLLECTD_BIN, COLLECTD_MQTT_PLUGIN};
pub use delay_proxy::DelayProxy;
pub use http::first_value;
pub use influxdb::{InfluxDb1, InfluxDb1Builder, INFLUXD_BIN};
pub use mosquitto::{Mosquitto, MosquittoBuilder, MOSQUITTO_BIN};
pub use ports::free_port;
pub use process::{ChildBuilder, ChildProcess, LogMark};
pub use prometheus::{
    promtool_check_metrics, Prometheus, PrometheusBuilder, PROMETHEUS_BIN, PROMTOOL_BIN,
};
pub use tls::TestPki;
pub use tmpfs::Tmpfs;
pub use victoria::{VictoriaMetrics, VictoriaMetricsBuilder, VICTORIA_METRICS_BIN};
pub use wait::{wait_until, PollOutcome};

/// The command that installs every server the tests need.
pub const SETUP_HINT: &str = "run: sudo scripts/setup-test-deps.sh";

/// The loopback address every server listens on.
pub const LOCALHOST: &str = "127.0.0.1";

/// Signal numbers for [`ChildProcess::kill`].
pub mod signal {
    pub use libc::{SIGCONT, SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGSTOP, SIGTERM, SIGUSR1, SIGUSR2};
}

/// Panics (failing the test) when a server binary from a Debian package is
/// missing. Never skips.
pub(crate) fn require_binary(path: &str, package: &str) {
    if !Path::new(path).exists() {
        panic!(
            "testkit: {path} not found (Debian package `{package}`): the test servers are not installed; {SETUP_HINT}"
        );
    }
}

/// A tool from a Debian package: `path` if it is there, else the same name
/// on `PATH`; panics with the setup command when neither exists. Never skips.
pub fn tool(path: &str, package: &str) -> PathBuf {
    let debian = Path::new(path);
    if debian.is_file() {
        return debian.to_path_buf();
    }
    let name = debian.file_name().expect("tool path has a file name");
    if let Some(dirs) = std::env::var_os("PATH") {
        if let Some(found) = std::env::split_paths(&dirs)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
        {
            return found;
        }
    }
    panic!(
        "{} not found: {SETUP_HINT} (Debian package `{package}` installs {path})",
        name.to_string_lossy()
    );
}

/// Path of the built `schoolnet` binary, for end-to-end tests outside the
/// root package (inside it, prefer `env!("CARGO_BIN_EXE_schoolnet")`).
///
/// Order: `$SCHOOLNET_BIN`, then `<target>/<profile>/schoolnet` next to the
/// running test executable (`<target>/<profile>/deps/<test>`). Panics with a
/// hint when it is not built.
pub fn schoolnet_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SCHOOLNET_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("testkit: current_exe");
    let mut candidates = Vec::new();
    for dir in exe.ancestors().skip(1).take(3) {
        candidates.push(dir.join("schoolnet"));
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "testkit: schoolnet binary not found (looked at {candidates:?}); build it first: \
                 cargo build -p schoolnet (or set SCHOOLNET_BIN)"
            )
        })
}

pub(crate) fn keep_dirs() -> bool {
    std::env::var_os("TESTKIT_KEEP_DIRS").is_some_and(|v| !v.is_empty() && v != "0")
}

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(expected = "run: sudo scripts/setup-test-deps.sh")]
    fn missing_server_binary_fails_with_setup_command() {
        super::require_binary("/usr/sbin/not-a-testkit-server", "not-a-package");
    }
}
