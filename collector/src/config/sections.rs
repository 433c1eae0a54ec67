//! The `[exporter]` and `[limits]` sections: their settings, defaults and
//! checks (each section's `validate`, called by [`super::Config::validate`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// `[exporter]`: the HTTP server Prometheus scrapes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExporterConfig {
    /// Listen address for `/metrics`, `/api/*` and the status page.
    pub listen: SocketAddr,
    /// Dead letters kept in memory for `/api/dead-letters` (oldest dropped first).
    pub dead_letters: usize,
    /// A school with no message at all is reported down (not just unknown)
    /// after this many seconds from collector start.
    pub unknown_grace_s: f64,
    /// A device is stale after this many times its `expected_interval_s`.
    pub stale_factor: f64,
    /// A school is degraded while a probe's loss ratio is above this (0–1).
    pub degraded_loss_ratio: f64,
    /// … or its ONT receives less than this many dBm (GPON B+ warning: −25)…
    pub optical_low_dbm: f64,
    /// … or more than this (B+ overload: −8)…
    pub optical_high_dbm: f64,
    /// … or its WAN interface counts more errors per second than this.
    pub degraded_error_rate: f64,
    /// TLS and basic auth for every route, in the Prometheus exporter-toolkit
    /// web config format (YAML: `tls_server_config.cert_file`/`key_file`,
    /// `basic_auth_users` with bcrypt hashes). Default: none (plain HTTP,
    /// no auth). Relative to the working directory; paths inside the file
    /// are relative to the file.
    pub web_config_file: Option<PathBuf>,
    /// Accept `POST /-/reload` (like Prometheus' `--web.enable-lifecycle`):
    /// re-read the config file as SIGHUP does. Off by default; protect it
    /// with the web config's basic auth when on.
    pub enable_reload: bool,
    /// Grafana's base URL as operators reach it (`https://grafana.example.net`
    /// or with a sub-path). The status page links each school to
    /// `{grafana_url}/d/schoolnet-school?var-school={id}`; it is exported as
    /// a label of `schoolnet_exporter_links_info`, from which the alert rules
    /// build their `dashboard_url` annotations. Default: none (no links on
    /// the page; the alerts carry Grafana-relative links, `/d/<uid>?…`).
    pub grafana_url: Option<String>,
    /// URL of `docs/health-and-alerting.md` as operators read it (the
    /// repository's web view or an internal docs site). Exported like
    /// `grafana_url`; alert rules append their runbook's `#anchor`.
    /// Default: none (the alerts carry the repository path).
    pub runbook_url: Option<String>,
    /// Which live-state families `/metrics` exports: `standard` (default)
    /// keeps national scale within ~20 series per school, `full` adds
    /// the one-hot state set, exporter-side rates and the rarely read
    /// device and optical gauges (docs/data-model.md, "Detail levels").
    pub detail: Detail,
}

/// `exporter.detail`: how much of the live state `/metrics` exports.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Detail {
    /// What dashboards, alerts and the recording rules read.
    #[default]
    Standard,
    /// Everything the exporter holds.
    Full,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            listen: "0.0.0.0:9740".parse().expect("valid default"),
            dead_letters: 1_000,
            unknown_grace_s: 120.0,
            stale_factor: 3.0,
            degraded_loss_ratio: 0.05,
            optical_low_dbm: -25.0,
            optical_high_dbm: -8.0,
            degraded_error_rate: 1.0,
            web_config_file: None,
            enable_reload: false,
            grafana_url: None,
            runbook_url: None,
            detail: Detail::Standard,
        }
    }
}

impl ExporterConfig {
    /// Pure checks, keys named as in the TOML file (`exporter.stale_factor`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.stale_factor.is_nan() || self.stale_factor < 1.0 {
            return Err(ConfigError::invalid(
                "exporter.stale_factor",
                "must be at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&self.degraded_loss_ratio) {
            return Err(ConfigError::invalid(
                "exporter.degraded_loss_ratio",
                "must be between 0 and 1",
            ));
        }
        if self.optical_low_dbm.is_nan()
            || self.optical_high_dbm.is_nan()
            || self.optical_low_dbm >= self.optical_high_dbm
        {
            return Err(ConfigError::invalid(
                "exporter.optical_low_dbm",
                "must be below optical_high_dbm",
            ));
        }
        if self.degraded_error_rate.is_nan() || self.degraded_error_rate < 0.0 {
            return Err(ConfigError::invalid(
                "exporter.degraded_error_rate",
                "must not be negative",
            ));
        }
        if self.unknown_grace_s.is_nan() || self.unknown_grace_s < 0.0 {
            return Err(ConfigError::invalid(
                "exporter.unknown_grace_s",
                "must not be negative",
            ));
        }
        if self
            .web_config_file
            .as_deref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(ConfigError::invalid(
                "exporter.web_config_file",
                "must not be empty (remove the key to serve plain HTTP without auth)",
            ));
        }
        for (key, url) in [
            ("exporter.grafana_url", &self.grafana_url),
            ("exporter.runbook_url", &self.runbook_url),
        ] {
            if let Some(url) = url {
                // Both end up in page links and alert annotations, with a
                // path or an `#anchor` appended: no query or fragment of
                // their own, and no quote, backslash or newline to break
                // the rule templates.
                let bad_chars: &[char] = &['"', '\\', '\n', '?', '#'];
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url.contains(bad_chars)
                {
                    return Err(ConfigError::invalid(
                        key,
                        "must be an http:// or https:// base URL without query or fragment (e.g. \"https://grafana.example.net\")",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `[limits]`: what input is accepted at all. Each limit has its own reject
/// reason (in parentheses), so `schoolnet_collector_rejected_total` shows
/// which one a device hits.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Payloads larger than this are rejected (`too_large`). Default 65536.
    pub max_payload_bytes: usize,
    /// Device timestamps further than this in the future are rejected
    /// (`bad_timestamp`). Default 300.
    pub max_future_s: u64,
    /// Device timestamps older than this are rejected (`bad_timestamp`).
    /// Default 604800 (7 days).
    pub max_past_s: u64,
    /// Values one message may carry into schoolnet, counted over all its
    /// lines / metrics after decoding (fields schoolnet does not map are not
    /// counted; `max_payload_bytes` bounds those); a message with more is
    /// rejected whole (`too_many_fields`). Default 1000.
    pub max_fields_per_message: usize,
    /// Longest device id, interface name, probe target or topic variable, in
    /// bytes (`tag_too_long`). Default 256.
    pub max_tag_value_bytes: usize,
    /// Distinct (measurement, key, field) series one device may create; new
    /// series beyond it are dropped (`series_limit`), known ones still
    /// written. Default 1000.
    pub max_series_per_device: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_payload_bytes: 64 * 1024,
            max_future_s: 300,
            max_past_s: 7 * 24 * 3600,
            max_fields_per_message: 1_000,
            max_tag_value_bytes: 256,
            max_series_per_device: 1_000,
        }
    }
}

impl LimitsConfig {
    /// Pure checks, keys named as in the TOML file (`limits.max_payload_bytes`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("limits.max_payload_bytes", self.max_payload_bytes),
            ("limits.max_fields_per_message", self.max_fields_per_message),
            ("limits.max_tag_value_bytes", self.max_tag_value_bytes),
            ("limits.max_series_per_device", self.max_series_per_device),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be positive"));
            }
        }
        Ok(())
    }

    pub fn max_future(&self) -> Duration {
        Duration::from_secs(self.max_future_s)
    }
    pub fn max_past(&self) -> Duration {
        Duration::from_secs(self.max_past_s)
    }
}
