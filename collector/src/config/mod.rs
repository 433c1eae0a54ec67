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
//!
//! Errors say where to look ([`diagnose`]): a bad key in the file names the
//! file, line and column (an unknown key also the nearest known one); a bad
//! value set by the environment names the variable, in parsing and in
//! `validate` alike ([`EnvOverrides::blame`]).

mod diagnose;
mod env;
mod routes;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::inventory::{Inventory, InventoryError};
use crate::route::RouteTable;
pub use crate::sink::influx::config::{InfluxApi, InfluxConfig};
pub use crate::source::mqtt::config::MqttConfig;
mod sections;
pub use env::EnvOverrides;
pub use routes::{compile as compile_routes, default_routes, FieldSpec, RouteConfig};
pub use sections::{Detail, ExporterConfig, LimitsConfig};

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
    /// Which keys `SCHOOLNET_*__*` variables set (not a TOML key): checks
    /// blame those variables, not the file.
    #[serde(skip)]
    pub env_overrides: EnvOverrides,
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
    #[error("{path} line {line}, column {column}: {message}")]
    At {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// `hint`: `, did you mean `x`?` or the keys the section has.
    #[error("unknown key `{key}` in {path} line {line}, column {column}{hint}")]
    UnknownKey {
        key: String,
        path: PathBuf,
        line: usize,
        column: usize,
        hint: String,
    },
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
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| diagnose::syntax(path, text, &e))?;
        let env_overrides = env::apply_overrides(&mut table, vars)?;
        let mut config = diagnose::deserialize(path, text, table, &env_overrides)?;
        config.env_overrides = env_overrides;
        Ok(config)
    }

    /// Each section's own checks (its `validate`, the way a Telegraf
    /// plugin has `Init`), then what spans sections: route compilation,
    /// inventory loading and the shard's fit with both. An error on a key
    /// the environment set names the variable.
    pub fn validate(self) -> Result<Validated, ConfigError> {
        let overrides = self.env_overrides.clone();
        self.validate_all().map_err(|e| overrides.blame(e))
    }

    fn validate_all(self) -> Result<Validated, ConfigError> {
        self.mqtt.validate()?;
        if let Some(influx) = &self.influx {
            influx.validate()?;
        }
        self.exporter.validate()?;
        self.limits.validate()?;
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
mod reference_tests;
#[cfg(test)]
mod tests;
