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

/// Whether write bodies are gzipped.
///
/// `Auto` compresses unless the InfluxDB URL names a loopback host: on
/// loopback the bytes cost nothing to move, while compressing them cost the
/// collector 15 % of its CPU and InfluxDB as much again to inflate (load
/// harness, issue #21: 4.27 → 3.62 CPU-s per million messages for the
/// collector, 3.09 → 2.63 for the database). Across a network, 5× fewer
/// bytes are worth it, as Telegraf's default says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gzip {
    #[default]
    Auto,
    Always,
    Never,
}

impl Gzip {
    /// Whether bodies sent to `url` are compressed.
    pub fn applies_to(self, url: &reqwest::Url) -> bool {
        match self {
            Gzip::Always => true,
            Gzip::Never => false,
            Gzip::Auto => !is_loopback(url),
        }
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    // IPv6 hosts come bracketed: `[::1]`.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

impl<'de> Deserialize<'de> for Gzip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Word(String),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Flag(true)) => Ok(Gzip::Always),
            Ok(Raw::Flag(false)) => Ok(Gzip::Never),
            Ok(Raw::Word(w)) if w == "auto" => Ok(Gzip::Auto),
            Ok(Raw::Word(w)) => Err(serde::de::Error::custom(format!(
                "`{w}` is not one of true, false, \"auto\""
            ))),
            Err(_) => Err(serde::de::Error::custom("expected true, false or \"auto\"")),
        }
    }
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
    /// Compress request bodies with gzip: `auto` (default; not to a
    /// loopback host), `true` or `false`.
    pub gzip: Gzip,
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
            gzip: Gzip::Auto,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip_for(setting: &str, url: &str) -> bool {
        #[derive(Deserialize)]
        struct Doc {
            gzip: Gzip,
        }
        let doc: Doc = toml::from_str(&format!("gzip = {setting}")).unwrap();
        doc.gzip.applies_to(&reqwest::Url::parse(url).unwrap())
    }

    #[test]
    fn auto_compresses_only_off_the_loopback() {
        for local in [
            "http://127.0.0.1:8086",
            "http://127.8.0.1:8086",
            "http://[::1]:8086",
            "http://localhost:8086",
            "http://LOCALHOST.:8086",
            "http://influx.localhost:8086",
        ] {
            assert!(!gzip_for("\"auto\"", local), "{local}");
            assert!(gzip_for("true", local), "{local}");
        }
        for remote in [
            "http://10.0.0.5:8086",
            "https://influx.example:8086",
            "http://[2001:db8::1]:8086",
            "http://localhost.example:8086",
        ] {
            assert!(gzip_for("\"auto\"", remote), "{remote}");
            assert!(!gzip_for("false", remote), "{remote}");
        }
        assert_eq!(InfluxConfig::default().gzip, Gzip::Auto);
    }

    #[test]
    fn a_bad_gzip_value_names_the_choices() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            gzip: Gzip,
        }
        let err = toml::from_str::<Doc>("gzip = \"yes\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("`yes` is not one of true, false, \"auto\""),
            "{err}"
        );
        let err = toml::from_str::<Doc>("gzip = 1").unwrap_err();
        assert!(
            err.to_string().contains("expected true, false or \"auto\""),
            "{err}"
        );
    }
}
