//! `[mqtt]`: how the collector connects to the broker.

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::ConfigError;

/// Environment variable holding the broker password (preferred over a file).
pub const PASSWORD_ENV: &str = "SCHOOLNET_MQTT_PASSWORD";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Broker address: `mqtt://host:1883` (or `tcp://`); `mqtts://host:8883` for TLS.
    pub url: String,
    /// Client id. With `clean_session = false` the broker keeps this id's
    /// subscriptions and queued QoS 1 messages while the collector is away,
    /// so it must be stable and unique per collector instance.
    pub client_id: String,
    /// Username, if the broker requires authentication. The password comes
    /// from `SCHOOLNET_MQTT_PASSWORD` or `password_file`, never from this file.
    pub username: Option<String>,
    /// File holding the broker password (first line, trailing newline ignored).
    pub password_file: Option<PathBuf>,
    /// Keep-alive interval in seconds.
    pub keep_alive_s: u64,
    /// `false` (default) keeps a persistent session: no message is lost while
    /// the collector restarts, within the broker's queue limits.
    pub clean_session: bool,
    /// QoS of the subscriptions: 0 (at most once) or 1 (at least once).
    pub qos: u8,
    /// Largest reconnect delay in seconds after a refused CONNECT, a TLS
    /// error, a broken connection or a timeout (delays double from 0.5 s up
    /// to this). While nothing listens on the broker's port (or its host
    /// is unreachable) the collector retries every 0.2 s whatever this is:
    /// such a connect never reaches the broker, and the collector is back within a fraction of a
    /// second of a broker restart.
    pub max_backoff_s: f64,
    /// Capacity of the queue between the MQTT event loop and the decoders.
    /// With payloads over `limits.max_payload_bytes` cut to an excerpt on
    /// receipt, it holds at most this × `max_payload_bytes` of payload.
    pub queue_capacity: usize,
    /// PEM file with the CA certificates to trust for `mqtts://` (only
    /// these; default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for brokers that require one
    /// (mosquitto `require_certificate true`); needs `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file`. A secret: only ever read from
    /// this file, never logged.
    pub client_key_file: Option<PathBuf>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: "schoolnet-collector".into(),
            username: None,
            password_file: None,
            keep_alive_s: 30,
            clean_session: false,
            qos: 1,
            max_backoff_s: 30.0,
            queue_capacity: 10_000,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}

impl MqttConfig {
    /// Pure checks, keys named as in the TOML file (`mqtt.url`). The TLS
    /// files are read and checked when the source is built
    /// ([`super::MqttSource::new`]), so `check-config` reports them too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let scheme = self.url.split("://").next().unwrap_or("");
        if !self.url.contains("://") || !matches!(scheme, "mqtt" | "tcp" | "mqtts" | "ssl") {
            return Err(ConfigError::invalid(
                "mqtt.url",
                format!(
                    "`{}` must look like mqtt://host:1883 or mqtts://host:8883",
                    self.url
                ),
            ));
        }
        if self.qos > 1 {
            return Err(ConfigError::invalid("mqtt.qos", "must be 0 or 1"));
        }
        if self.client_id.is_empty() {
            return Err(ConfigError::invalid("mqtt.client_id", "must not be empty"));
        }
        if self.max_backoff_s.is_nan() || self.max_backoff_s < 0.5 {
            return Err(ConfigError::invalid(
                "mqtt.max_backoff_s",
                "must be at least 0.5",
            ));
        }
        if self.keep_alive_s < 5 {
            return Err(ConfigError::invalid(
                "mqtt.keep_alive_s",
                "must be at least 5 seconds",
            ));
        }
        if self.queue_capacity == 0 {
            return Err(ConfigError::invalid(
                "mqtt.queue_capacity",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
