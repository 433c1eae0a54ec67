//! `[influx]`: where and how samples are written to InfluxDB.

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::ConfigError;

/// Environment variable holding the InfluxDB token (v2) or password (v1).
pub const TOKEN_ENV: &str = "SCHOOLNET_INFLUX_TOKEN";

/// Which write API to use.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum InfluxApi {
    /// `POST /write?db=&rp=` — InfluxDB 1.x (and 1.x-compatible endpoints).
    V1,
    /// `POST /api/v2/write?org=&bucket=` — InfluxDB 2.x/3.x, VictoriaMetrics.
    #[default]
    V2,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InfluxConfig {
    /// Base URL, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    /// `v1` or `v2`.
    pub api: InfluxApi,
    /// v1: database name.
    pub database: String,
    /// v1: retention policy (empty: the database default).
    pub retention_policy: String,
    /// v1: username (password from `SCHOOLNET_INFLUX_TOKEN` or `token_file`).
    pub username: Option<String>,
    /// v2: organization.
    pub org: String,
    /// v2: bucket.
    pub bucket: String,
    /// File holding the token (v2) or password (v1); `SCHOOLNET_INFLUX_TOKEN` wins.
    pub token_file: Option<PathBuf>,
    /// A batch is sent when it holds this many points…
    pub batch_max_points: usize,
    /// …or when its oldest point has waited this long (milliseconds).
    /// Default 500: with 1,000 a point waited up to a second in the batch
    /// alone, and publish → database p99 was 1.35 s at 1,000 msg/s (load
    /// harness); at 500 a slow fleet costs two small writes a second.
    pub batch_max_age_ms: u64,
    /// Compress request bodies with gzip.
    pub gzip: bool,
    /// Per-request timeout in seconds.
    pub timeout_s: f64,
    /// Longest pause between retries of a failing batch, in seconds.
    pub max_retry_backoff_s: f64,
    /// Batches waiting to be written before intake is slowed down.
    pub queue_batches: usize,
    /// Batches written at once (1–64). Default 4: a write's response time
    /// no longer caps throughput — at 200 ms per response and 5,000 points
    /// per batch, 4 writes allow 100,000 points/s, twice the 50,000 a
    /// collector must sustain — while a slow or failing InfluxDB sees at
    /// most 4 concurrent requests (and ~4 batches of memory) from each
    /// collector. The spool is still acknowledged in order.
    pub max_in_flight: usize,
    /// `https://` only: PEM CA certificate(s) trusted in addition to the
    /// system's roots (a private CA that signed InfluxDB's certificate).
    pub ca_file: Option<PathBuf>,
    /// `https://` only: PEM client certificate (chain) for an InfluxDB
    /// behind a proxy that requires one; needs `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file`. A secret: only ever read from
    /// this file, never logged.
    pub client_key_file: Option<PathBuf>,
}

impl Default for InfluxConfig {
    fn default() -> Self {
        InfluxConfig {
            url: "http://127.0.0.1:8086".into(),
            api: InfluxApi::V2,
            database: "schoolnet".into(),
            retention_policy: String::new(),
            username: None,
            org: "schoolnet".into(),
            bucket: "schoolnet".into(),
            token_file: None,
            batch_max_points: 5_000,
            batch_max_age_ms: 500,
            gzip: true,
            timeout_s: 10.0,
            max_retry_backoff_s: 30.0,
            queue_batches: 64,
            max_in_flight: 4,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}

impl InfluxConfig {
    /// Pure checks, keys named as in the TOML file (`influx.url`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let c = self;
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
}
