//! PEM files and rustls configs for every TLS connection schoolnet makes
//! or accepts: the MQTT client (`mqtts://`), the InfluxDB clients (the
//! writer's and the query commands' `https://`) and the exporter's server.
//! Every one of them is built here: [`client_config`] (MQTT),
//! [`reqwest_tls`] (InfluxDB), [`server_config`] (the exporter).
//!
//! Errors name the config key and the file (`mqtt.client_key_file
//! /etc/schoolnet/key.pem: no PEM private key …`) and never quote a private
//! key's contents: a key file's parse errors are reduced to their kind.
//! rustls only (aws-lc-rs provider, chosen explicitly so a second provider
//! appearing in the dependency tree can never make config building panic).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{Error as PemError, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// A TLS file that cannot be used, with the config key that named it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key} {}: cannot read: {source}", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{key} {}: {reason}", path.display())]
    Invalid {
        key: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Setup(String),
}

impl TlsError {
    fn invalid(key: &'static str, path: &Path, reason: impl Into<String>) -> TlsError {
        TlsError::Invalid {
            key,
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// The process's TLS implementation: rustls with aws-lc-rs.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// Every `CERTIFICATE` in the PEM file `path` (named by config key `key`);
/// at least one.
pub fn read_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::invalid(key, path, format!("not a valid PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::invalid(
            key,
            path,
            "no PEM certificate (-----BEGIN CERTIFICATE-----) found",
        ));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 RSA or SEC1 EC) in the PEM file
/// `path`. Parse errors never quote the file (it is a secret).
pub fn read_private_key(
    key: &'static str,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    warn_if_world_readable(key, path);
    let pem = read(key, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        let reason = match e {
            PemError::NoItemsFound => "no PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY) found",
            PemError::Base64Decode(_) => "not a valid PEM file: bad base64 in a section",
            PemError::MissingSectionEnd { .. } => "not a valid PEM file: a section has no END line",
            PemError::IllegalSectionStart { .. } => "not a valid PEM file: malformed BEGIN line",
            _ => "not a valid PEM private key file",
        };
        TlsError::invalid(key, path, reason)
    })
}

/// A key readable by every local user is worth a warning (not an error: a
/// container's mounted secret may look like that).
fn warn_if_world_readable(key: &'static str, path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o004 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    "{key}: the private key is readable by every local user; chmod 600 it"
                );
            }
        }
    }
}

/// A client certificate: the config keys and files of the chain and its key.
#[derive(Debug, Clone, Copy)]
pub struct ClientCert<'a> {
    pub cert_key: &'static str,
    pub cert_file: &'a Path,
    pub key_key: &'static str,
    pub key_file: &'a Path,
}

impl<'a> ClientCert<'a> {
    /// Both files or neither: anything else names the missing key.
    pub fn pair(
        cert_key: &'static str,
        cert_file: Option<&'a Path>,
        key_key: &'static str,
        key_file: Option<&'a Path>,
    ) -> Result<Option<ClientCert<'a>>, TlsError> {
        match (cert_file, key_file) {
            (Some(cert_file), Some(key_file)) => Ok(Some(ClientCert {
                cert_key,
                cert_file,
                key_key,
                key_file,
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(TlsError::Setup(format!(
                "{cert_key} is set but {key_key} is not: a client certificate needs its private key"
            ))),
            (None, Some(_)) => Err(TlsError::Setup(format!(
                "{key_key} is set but {cert_key} is not: a private key needs its client certificate"
            ))),
        }
    }

    /// The chain and the key, checked to belong together.
    pub fn load(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let certs = read_certs(self.cert_key, self.cert_file)?;
        let key = read_private_key(self.key_key, self.key_file)?;
        check_key_matches(&certs, &key, self.key_key, self.key_file)?;
        Ok((certs, key))
    }
}

/// Fails when `key` is not the private key of `certs[0]`.
pub fn check_key_matches(
    certs: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
    key_key: &'static str,
    key_file: &Path,
) -> Result<(), TlsError> {
    let signing = provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| TlsError::invalid(key_key, key_file, format!("unusable private key: {e}")))?;
    rustls::sign::CertifiedKey::new(certs.to_vec(), signing)
        .keys_match()
        .map_err(|e| {
            TlsError::invalid(
                key_key,
                key_file,
                format!("does not belong to the certificate: {e}"),
            )
        })
}

/// A rustls client config: trusts the certificates in `ca` (config key,
/// file) or else the system's roots, and presents `client` if given.
pub fn client_config(
    ca: Option<(&'static str, &Path)>,
    client: Option<ClientCert<'_>>,
) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some((key, path)) => {
            for cert in read_certs(key, path)? {
                roots.add(cert).map_err(|e| {
                    TlsError::invalid(key, path, format!("not a usable CA certificate: {e}"))
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(TlsError::Setup(
                    "no system CA certificates found (install ca-certificates or set a ca_file)"
                        .into(),
                ));
            }
        }
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(format!("TLS setup: {e}")))?
        .with_root_certificates(roots);
    match client {
        None => Ok(builder.with_no_client_auth()),
        Some(c) => {
            let (certs, key) = c.load()?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                TlsError::invalid(c.key_key, c.key_file, format!("unusable client key: {e}"))
            })
        }
    }
}

/// A rustls server config presenting the PEM chain `cert` (config key
/// `cert_key`) with its private key `key` (config key `key_key`), checked
/// to belong together; TLS 1.2 and 1.3 with rustls' safe defaults, no
/// client authentication. ALPN is the caller's (it knows its protocols).
pub fn server_config(
    cert_key: &'static str,
    cert: &Path,
    key_key: &'static str,
    key: &Path,
) -> Result<ServerConfig, TlsError> {
    let certs = read_certs(cert_key, cert)?;
    let private = read_private_key(key_key, key)?;
    check_key_matches(&certs, &private, key_key, key)?;
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| TlsError::Setup(format!("{key_key} {}: {e}", key.display())))
}

/// TLS for an `https://` reqwest client (the InfluxDB writer's and the
/// query commands'): the certificates of `ca` (config key, file) trusted
/// besides the system's roots, and `client` presented. The files are read
/// and checked here (errors name the key and file); reqwest then builds
/// its rustls config from them.
pub fn reqwest_tls(
    mut builder: reqwest::ClientBuilder,
    ca: Option<(&'static str, &Path)>,
    client: Option<ClientCert<'_>>,
) -> Result<reqwest::ClientBuilder, TlsError> {
    if let Some((key, path)) = ca {
        let certs = read_certs(key, path)?
            .iter()
            .map(|c| reqwest::Certificate::from_der(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::invalid(key, path, e.to_string()))?;
        builder = builder.tls_certs_merge(certs);
    }
    if let Some(c) = client {
        // Checked (PEM, key matches certificate) with errors naming the
        // key, then handed to reqwest as one PEM buffer.
        c.load()?;
        let mut pem = read(c.cert_key, c.cert_file)?;
        pem.push(b'\n');
        pem.extend(read(c.key_key, c.key_file)?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|_| {
            TlsError::invalid(c.key_key, c.key_file, "not usable as a client identity")
        })?;
        builder = builder.identity(identity);
    }
    Ok(builder)
}

#[cfg(test)]
mod tests;
