//! The collector's configuration: one TOML file, every key documented next to
//! its struct, defaults in `Default` impls, `deny_unknown_fields` so a typo is
//! an error rather than a silently ignored setting.
//!
//! Loading is two steps: [`Config::parse`] (syntax, types, environment
//! overrides) and [`Config::validate`] (cross-field checks, route
//! compilation, inventory loading), both pure so `schoolnet check-config`
//! runs exactly what `schoolnet run` runs, minus the connections.
//!
//! Every key can be overridden from the environment:
//! `SCHOOLNET_<SECTION>__<KEY>` (double underscore between levels), e.g.
//! `SCHOOLNET_MQTT__URL=mqtts://broker:8883`. Secrets are never read from the
//! TOML file or argv: see `SCHOOLNET_MQTT_PASSWORD` and `SCHOOLNET_INFLUX_TOKEN`.

mod env;
mod routes;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::inventory::{Inventory, InventoryError};
use crate::route::RouteTable;
pub use crate::sink::influx::config::{InfluxApi, InfluxConfig};
pub use crate::source::mqtt::config::MqttConfig;
mod sections;
pub use routes::{compile as compile_routes, default_routes, FieldSpec, RouteConfig};
pub use sections::{ExporterConfig, LimitsConfig};

/// The whole `schoolnet run` configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub mqtt: MqttConfig,
    pub inventory: InventoryConfig,
    /// Topic routes, tried in order. Empty: the built-in routes
    /// (collectd, telegraf line protocol and JSON, ONT JSON, status topics).
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Where history goes. Absent: no history is stored (the exporter still runs).
    pub influx: Option<InfluxConfig>,
    #[serde(default)]
    pub exporter: ExporterConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The write-ahead log between intake and InfluxDB. Absent: history is
    /// queued in memory only, and a crash or a long InfluxDB outage loses it.
    pub spool: Option<crate::spool::SpoolConfig>,
    /// This instance's share of the inventory when several collectors run
    /// against one broker. Absent: one instance owns everything.
    #[serde(default)]
    pub shard: crate::shard::ShardConfig,
}

/// `[inventory]`: the schools and devices CSV files.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InventoryConfig {
    /// `school_id,name,district,lat,lon,uplink_mbps`. Relative paths are
    /// resolved against the config file's directory.
    pub schools: PathBuf,
    /// `device_id,school_id,role,expected_interval_s,parent[,wan_interface]`.
    pub devices: PathBuf,
}

/// Why a config is unusable. Messages name the key (`routes[2].pattern`) or
/// the file and line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("`{key}`: {reason}")]
    Invalid { key: String, reason: String },
    #[error("environment variable {var}: {reason}")]
    Env { var: String, reason: String },
    #[error(transparent)]
    Inventory(#[from] InventoryError),
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// A checked config with its inventory loaded and routes compiled.
#[derive(Debug, Clone)]
pub struct Validated {
    pub config: Config,
    pub inventory: Inventory,
    pub routes: RouteTable,
}

impl Config {
    /// Reads a TOML file, applies `SCHOOLNET_*` overrides from the process
    /// environment and resolves relative inventory paths against the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(path, &text, std::env::vars())?;
        let base = path.parent().unwrap_or(Path::new("."));
        let spool_dir = config.spool.as_mut().map(|s| &mut s.dir);
        for p in [&mut config.inventory.schools, &mut config.inventory.devices]
            .into_iter()
            .chain(spool_dir)
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// Parses TOML text with the given environment (for tests: any iterator).
    pub fn parse(
        path: &Path,
        text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        env::apply_overrides(&mut table, vars)?;
        Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Cross-field checks, route compilation and inventory loading.
    pub fn validate(self) -> Result<Validated, ConfigError> {
        let m = &self.mqtt;
        let scheme = m.url.split("://").next().unwrap_or("");
        if !m.url.contains("://") || !matches!(scheme, "mqtt" | "tcp" | "mqtts" | "ssl") {
            return Err(ConfigError::invalid(
                "mqtt.url",
                format!(
                    "`{}` must look like mqtt://host:1883 or mqtts://host:8883",
                    m.url
                ),
            ));
        }
        if m.qos > 1 {
            return Err(ConfigError::invalid("mqtt.qos", "must be 0 or 1"));
        }
        if m.client_id.is_empty() {
            return Err(ConfigError::invalid("mqtt.client_id", "must not be empty"));
        }
        if m.max_backoff_s.is_nan() || m.max_backoff_s < 0.5 {
            return Err(ConfigError::invalid(
                "mqtt.max_backoff_s",
                "must be at least 0.5",
            ));
        }
        if m.keep_alive_s < 5 {
            return Err(ConfigError::invalid(
                "mqtt.keep_alive_s",
                "must be at least 5 seconds",
            ));
        }
        if m.queue_capacity == 0 {
            return Err(ConfigError::invalid(
                "mqtt.queue_capacity",
                "must be at least 1",
            ));
        }
        if let Some(influx) = &self.influx {
            validate_influx(influx)?;
        }
        let e = &self.exporter;
        if e.stale_factor.is_nan() || e.stale_factor < 1.0 {
            return Err(ConfigError::invalid(
                "exporter.stale_factor",
                "must be at least 1",
            ));
        }
        if !(0.0..=1.0).contains(&e.degraded_loss_ratio) {
            return Err(ConfigError::invalid(
                "exporter.degraded_loss_ratio",
                "must be between 0 and 1",
            ));
        }
        if e.optical_low_dbm.is_nan()
            || e.optical_high_dbm.is_nan()
            || e.optical_low_dbm >= e.optical_high_dbm
        {
            return Err(ConfigError::invalid(
                "exporter.optical_low_dbm",
                "must be below optical_high_dbm",
            ));
        }
        if e.degraded_error_rate.is_nan() || e.degraded_error_rate < 0.0 {
            return Err(ConfigError::invalid(
                "exporter.degraded_error_rate",
                "must not be negative",
            ));
        }
        if e.unknown_grace_s.is_nan() || e.unknown_grace_s < 0.0 {
            return Err(ConfigError::invalid(
                "exporter.unknown_grace_s",
                "must not be negative",
            ));
        }
        let web_config = e.web_config_file.as_deref();
        if web_config.is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(ConfigError::invalid(
                "exporter.web_config_file",
                "must not be empty (remove the key to serve plain HTTP without auth)",
            ));
        }
        let l = &self.limits;
        for (key, value) in [
            ("limits.max_payload_bytes", l.max_payload_bytes),
            ("limits.max_fields_per_message", l.max_fields_per_message),
            ("limits.max_tag_value_bytes", l.max_tag_value_bytes),
            ("limits.max_series_per_device", l.max_series_per_device),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be positive"));
            }
        }
        if let Some(spool) = &self.spool {
            spool.validate()?;
        }
        let route_configs = if self.routes.is_empty() {
            default_routes()
        } else {
            self.routes.clone()
        };
        let routes = routes::compile(&route_configs)?;
        let inventory = Inventory::load(&self.inventory.schools, &self.inventory.devices)?;
        self.shard.validate(&routes, &inventory)?;
        Ok(Validated {
            config: self,
            inventory,
            routes,
        })
    }
}

fn validate_influx(c: &InfluxConfig) -> Result<(), ConfigError> {
    if !(c.url.starts_with("http://") || c.url.starts_with("https://")) {
        return Err(ConfigError::invalid(
            "influx.url",
            format!("`{}` must start with http:// or https://", c.url),
        ));
    }
    match c.api {
        InfluxApi::V1 if c.database.is_empty() => {
            return Err(ConfigError::invalid(
                "influx.database",
                "required for api = \"v1\"",
            ))
        }
        InfluxApi::V2 if c.org.is_empty() || c.bucket.is_empty() => {
            return Err(ConfigError::invalid(
                "influx.bucket",
                "org and bucket are required for api = \"v2\"",
            ))
        }
        _ => {}
    }
    if c.batch_max_points == 0 {
        return Err(ConfigError::invalid(
            "influx.batch_max_points",
            "must be at least 1",
        ));
    }
    if c.batch_max_age_ms == 0 {
        return Err(ConfigError::invalid(
            "influx.batch_max_age_ms",
            "must be at least 1",
        ));
    }
    if c.timeout_s.is_nan() || c.timeout_s <= 0.0 {
        return Err(ConfigError::invalid("influx.timeout_s", "must be positive"));
    }
    if c.queue_batches == 0 {
        return Err(ConfigError::invalid(
            "influx.queue_batches",
            "must be at least 1",
        ));
    }
    let max = crate::sink::influx::MAX_IN_FLIGHT;
    if !(1..=max).contains(&c.max_in_flight) {
        return Err(ConfigError::invalid(
            "influx.max_in_flight",
            format!("must be between 1 and {max}"),
        ));
    }
    Ok(())
}

/// Reads a secret: the environment variable wins, then the file's first line.
pub fn read_secret(env_var: &str, file: Option<&Path>) -> Result<Option<String>, ConfigError> {
    if let Ok(v) = std::env::var(env_var) {
        if !v.is_empty() {
            return Ok(Some(v));
        }
    }
    match file {
        None => Ok(None),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            Ok(Some(text.lines().next().unwrap_or("").to_string()))
        }
    }
}

#[cfg(test)]
mod tests;
