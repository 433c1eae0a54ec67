//! `exporter.web_config_file`: TLS and basic auth for the exporter, in the
//! file format of the Prometheus exporter-toolkit (`--web.config.file` of
//! node_exporter and Prometheus itself), so the same file, its docs and
//! `promtool check web-config` all apply. The supported subset:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: /etc/schoolnet/exporter.crt   # PEM chain
//!   key_file: /etc/schoolnet/exporter.key    # PEM key (a secret)
//! basic_auth_users:
//!   prometheus: $2y$10$…                     # bcrypt hash (htpasswd -nBC 10 "")
//! ```
//!
//! Any other key (`client_auth_type`, `http_server_config`, `min_version`,
//! inline `cert`/`key` …) is an error naming it rather than being ignored:
//! a silently dropped `client_auth_type: RequireAndVerifyClientCert` would
//! leave the server more open than its operator believes. Relative paths
//! are resolved against the web config file's directory, like the toolkit.
//! The file is read once at startup; a restart picks up changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use collector::tls::{self, TlsError};
use serde::Deserialize;

const KEY: &str = "exporter.web_config_file";

/// The parsed, checked web config.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// Serve HTTPS with this server config; `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `user → bcrypt hash`; empty: no authentication.
    pub users: BTreeMap<String, String>,
}

impl std::fmt::Debug for WebConfig {
    /// Names only: neither hashes nor key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a web config file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("{KEY} {}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{KEY} {}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{KEY}: {0}")]
    Tls(#[from] TlsError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl WebConfig {
    /// Whether requests must carry basic auth credentials.
    pub fn auth_required(&self) -> bool {
        !self.users.is_empty()
    }

    /// Reads and checks `path`: YAML syntax, known keys only, readable PEM
    /// files whose key matches the certificate, valid bcrypt hashes.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        WebConfig::parse(path, &text, base)
    }

    /// [`WebConfig::load`] on text already read; `base` resolves relative paths.
    pub fn parse(path: &Path, text: &str, base: &Path) -> Result<WebConfig, WebConfigError> {
        let invalid = |reason: String| WebConfigError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        // An empty file (or only comments) is a valid, empty web config.
        let file: File = if text.lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#')
        }) {
            File {
                tls_server_config: None,
                basic_auth_users: None,
            }
        } else {
            serde_saphyr::from_str(text).map_err(|e| invalid(e.without_snippet().to_string()))?
        };
        let users = file.basic_auth_users.unwrap_or_default();
        for (user, hash) in &users {
            if user.is_empty() || user.contains(':') {
                return Err(invalid(format!(
                    "basic_auth_users: user name `{user}` must be non-empty and contain no `:`"
                )));
            }
            if hash.parse::<bcrypt::HashParts>().is_err() {
                // Never echo the value: it might be a plain password pasted by mistake.
                return Err(invalid(format!(
                    "basic_auth_users.{user}: not a bcrypt hash ($2y$…); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
                )));
            }
        }
        let tls = match file.tls_server_config {
            None => None,
            Some(t) => Some(Arc::new(server_config(
                &base.join(&t.cert_file),
                &base.join(&t.key_file),
            )?)),
        };
        Ok(WebConfig { tls, users })
    }
}

/// The rustls server config (built by [`collector::tls`], like every TLS
/// config of schoolnet), offering HTTP/2 and HTTP/1.1 by ALPN.
fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let mut config = tls::server_config(
        "tls_server_config.cert_file",
        cert,
        "tls_server_config.key_file",
        key,
    )?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests;
