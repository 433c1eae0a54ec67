//! The HTTP side of the InfluxDB sink: one request per call, no retries (the
//! batcher decides those), classified by [`classify`].
//!
//! Both write APIs take the same line protocol body:
//! - v1: `POST {url}/write?db=&rp=&precision=ns` (InfluxDB 1.x). With a
//!   `username`, the password (the token) goes in a Basic `Authorization`
//!   header — never in the query string, where proxies and access logs would
//!   record it. Without a username but with a token, `Authorization: Token …`
//!   is sent, which InfluxDB 1.8+ (`Token user:password`) and the 2.x v1
//!   compatibility API understand.
//! - v2: `POST {url}/api/v2/write?org=&bucket=&precision=ns` with
//!   `Authorization: Token <token>` (InfluxDB 2.x/3.x, VictoriaMetrics).
//!
//! The authorization header is built once and marked sensitive, so it never
//! shows up in `Debug` output; errors carry the URL, which holds no secret.
//!
//! `https://` uses rustls: the system's roots plus `ca_file`, and the
//! optional client certificate (`client_cert_file` + `client_key_file`).

use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime};

use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::Url;

use super::config::{InfluxApi, InfluxConfig};
use super::error::{classify, WriteError};
use crate::metrics::PipelineMetrics;
use crate::tls::{self, ClientCert, TlsError};

/// Sends line protocol bodies to one InfluxDB endpoint.
#[derive(Debug, Clone)]
pub struct InfluxWriter {
    client: reqwest::Client,
    url: Url,
    auth: Option<HeaderValue>,
    gzip: bool,
    timeout: Duration,
    metrics: PipelineMetrics,
}

impl InfluxWriter {
    /// Builds the client and the write URL. `token` is the v2 token or the
    /// v1 password (see the module docs for how each is sent).
    pub fn new(
        config: &InfluxConfig,
        token: Option<String>,
        metrics: PipelineMetrics,
    ) -> Result<InfluxWriter, WriteError> {
        let url = write_url(config)?;
        let gzip = config.gzip.applies_to(&url);
        // A token file saved with CRLF or a trailing space must not become an
        // invalid header (or a silently wrong credential).
        let token = token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        let auth = match (&config.username, token) {
            (Some(user), password) if config.api == InfluxApi::V1 => {
                Some(basic_auth(user, password.as_deref().unwrap_or("")))
            }
            (_, Some(token)) => Some(format!("Token {token}")),
            (_, None) => None,
        };
        let auth = auth
            .map(|value| {
                let mut v = HeaderValue::from_str(&value).map_err(|_| {
                    WriteError::Setup("the InfluxDB token contains characters not allowed in an HTTP header (a stray newline?)".into())
                })?;
                v.set_sensitive(true);
                Ok::<_, WriteError>(v)
            })
            .transpose()?;
        let timeout = Duration::try_from_secs_f64(config.timeout_s)
            .ok()
            .filter(|t| !t.is_zero())
            .ok_or_else(|| {
                WriteError::Setup(format!(
                    "timeout_s = {} is not a positive duration",
                    config.timeout_s
                ))
            })?;
        let builder = reqwest::Client::builder()
            .user_agent(concat!("schoolnet/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)));
        let client = with_tls(builder, config, url.scheme() == "https")?
            .build()
            .map_err(|e| WriteError::Setup(format!("cannot build the HTTP client: {e}")))?;
        for result in WriteError::RESULTS {
            metrics.influx_writes.with_label_values(&[result]);
        }
        Ok(InfluxWriter {
            client,
            url,
            auth,
            gzip,
            timeout,
            metrics,
        })
    }

    /// The write endpoint (without credentials), for logs.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Sends `body` (`points` lines of line protocol) once. Records
    /// `influx_writes{result}`, `influx_write_duration{result}` and
    /// `influx_batch_points`.
    pub async fn write(&self, body: &[u8], points: usize) -> Result<(), WriteError> {
        self.write_within(body, points, self.timeout).await
    }

    /// [`write`](Self::write) with a tighter timeout (the shutdown drain uses
    /// it to stay within its budget).
    pub async fn write_within(
        &self,
        body: &[u8],
        points: usize,
        timeout: Duration,
    ) -> Result<(), WriteError> {
        let started = Instant::now();
        let result = self.send(body, timeout.min(self.timeout)).await;
        let label = match &result {
            Ok(()) => "ok",
            Err(e) => e.class(),
        };
        self.metrics
            .influx_write_duration
            .with_label_values(&[label])
            .observe(started.elapsed().as_secs_f64());
        self.metrics.influx_writes.with_label_values(&[label]).inc();
        self.metrics.influx_batch_points.observe(points as f64);
        result
    }

    async fn send(&self, body: &[u8], timeout: Duration) -> Result<(), WriteError> {
        let mut req = self
            .client
            .post(self.url.clone())
            .timeout(timeout)
            .header(CONTENT_TYPE, "text/plain; charset=utf-8");
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        req = if self.gzip {
            req.header(CONTENT_ENCODING, "gzip").body(gzip(body))
        } else {
            req.body(body.to_vec())
        };
        let resp = req
            .send()
            .await
            .map_err(|e| WriteError::from_transport(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        // A success body is empty (204) or irrelevant; an error body is the
        // server's explanation. Failing to read it only loses that text.
        let text = resp.text().await.unwrap_or_default();
        classify(status, &headers, &text, SystemTime::now())
    }
}

/// Adds `ca_file` (extra trust roots; the system's stay trusted) and the
/// client certificate to an `https://` client. The files are read and
/// checked here, so a bad one stops startup with its key and path. TLS
/// files with an `http://` URL are refused: they would suggest encryption
/// where there is none.
fn with_tls(
    builder: reqwest::ClientBuilder,
    config: &InfluxConfig,
    https: bool,
) -> Result<reqwest::ClientBuilder, WriteError> {
    let setup = |e: TlsError| WriteError::Setup(e.to_string());
    let client = ClientCert::pair(
        "influx.client_cert_file",
        config.client_cert_file.as_deref(),
        "influx.client_key_file",
        config.client_key_file.as_deref(),
    )
    .map_err(setup)?;
    if !https {
        return match (&config.ca_file, client) {
            (None, None) => Ok(builder),
            (Some(_), _) => Err(WriteError::Setup(format!(
                "influx.ca_file is set but url `{}` is not https://: the connection would not be encrypted",
                config.url
            ))),
            (None, Some(_)) => Err(WriteError::Setup(format!(
                "influx.client_cert_file is set but url `{}` is not https://: the connection would not be encrypted",
                config.url
            ))),
        };
    }
    let ca = config
        .ca_file
        .as_deref()
        .map(|path| ("influx.ca_file", path));
    tls::reqwest_tls(builder.https_only(true), ca, client).map_err(setup)
}

/// Compresses with the fastest level: line protocol shrinks ~10× even so,
/// and the writer should not become CPU-bound on a busy collector.
fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 8 + 64), Compression::fast());
    // Writing into a Vec cannot fail.
    enc.write_all(body).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 with padding (RFC 4648), for the Basic credentials; not
/// worth a dependency.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `{url}/write?…` or `{url}/api/v2/write?…`; a path prefix in `url` (a
/// reverse proxy's `/influx/`) is kept.
pub fn write_url(config: &InfluxConfig) -> Result<Url, WriteError> {
    let base = config.url.trim_end_matches('/');
    let path = match config.api {
        InfluxApi::V1 => "/write",
        InfluxApi::V2 => "/api/v2/write",
    };
    let mut url = Url::parse(&format!("{base}{path}"))
        .map_err(|e| WriteError::Setup(format!("url `{}`: {e}", config.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(WriteError::Setup(format!(
            "url `{}` must be http:// or https://",
            config.url
        )));
    }
    if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(WriteError::Setup(format!(
            "url `{}` must not carry a query or credentials (use username and {})",
            config.url,
            super::config::TOKEN_ENV
        )));
    }
    {
        let mut q = url.query_pairs_mut();
        match config.api {
            InfluxApi::V1 => {
                q.append_pair("db", &config.database);
                if !config.retention_policy.is_empty() {
                    q.append_pair("rp", &config.retention_policy);
                }
            }
            InfluxApi::V2 => {
                q.append_pair("org", &config.org);
                q.append_pair("bucket", &config.bucket);
            }
        }
        q.append_pair("precision", "ns");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_for_both_apis() {
        let mut c = InfluxConfig {
            url: "http://influx:8086/".into(),
            api: InfluxApi::V1,
            database: "school net".into(),
            ..InfluxConfig::default()
        };
        assert_eq!(
            write_url(&c).unwrap().as_str(),
            "http://influx:8086/write?db=school+net&precision=ns"
        );
        c.retention_policy = "one_year".into();
        assert_eq!(
            write_url(&c).unwrap().as_str(),
            "http://influx:8086/write?db=school+net&rp=one_year&precision=ns"
        );
        c.api = InfluxApi::V2;
        c.url = "https://proxy.example/influx".into();
        c.org = "min&edu".into();
        assert_eq!(
            write_url(&c).unwrap().as_str(),
            "https://proxy.example/influx/api/v2/write?org=min%26edu&bucket=schoolnet&precision=ns"
        );
        for bad in ["ftp://x", "http://u:p@x", "http://x/?db=y", "not a url"] {
            c.url = bad.into();
            assert!(matches!(write_url(&c), Err(WriteError::Setup(_))), "{bad}");
        }
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn auth_header_is_sensitive_and_rejects_newlines() {
        let m = PipelineMetrics::unregistered();
        let c = InfluxConfig::default();
        let w = InfluxWriter::new(&c, Some("s3cret".into()), m.clone()).unwrap();
        assert!(!format!("{w:?}").contains("s3cret"));
        assert!(w.auth.as_ref().unwrap().is_sensitive());
        let e = InfluxWriter::new(&c, Some("s3c\nret".into()), m).unwrap_err();
        assert!(matches!(e, WriteError::Setup(_)));
        assert!(!e.to_string().contains("s3cret"));
    }

    #[test]
    fn tls_settings_are_checked_at_startup() {
        let m = PipelineMetrics::unregistered();
        let pki = testkit::TestPki::generate();
        let https = InfluxConfig {
            url: "https://influx.example:8086".into(),
            ca_file: Some(pki.ca.clone()),
            client_cert_file: Some(pki.client_cert.clone()),
            client_key_file: Some(pki.client_key.clone()),
            ..InfluxConfig::default()
        };
        InfluxWriter::new(&https, None, m.clone()).unwrap();

        let plain = InfluxConfig {
            url: "http://influx:8086".into(),
            ..https.clone()
        };
        let e = InfluxWriter::new(&plain, None, m.clone())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("influx.ca_file is set but url `http://influx:8086` is not https://"),
            "{e}"
        );

        let no_key = InfluxConfig {
            client_key_file: None,
            ..https.clone()
        };
        let e = InfluxWriter::new(&no_key, None, m.clone())
            .unwrap_err()
            .to_string();
        assert!(e.contains("influx.client_key_file"), "{e}");

        let missing_ca = InfluxConfig {
            ca_file: Some(pki.dir().join("no-ca.pem")),
            ..https.clone()
        };
        let e = InfluxWriter::new(&missing_ca, None, m.clone())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("influx.ca_file") && e.contains("no-ca.pem"),
            "{e}"
        );

        let wrong_key = InfluxConfig {
            client_key_file: Some(pki.server_key.clone()),
            ..https
        };
        let e = InfluxWriter::new(&wrong_key, None, m)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("influx.client_key_file") && e.contains("does not belong"),
            "{e}"
        );
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read as _;
        let body = b"interface,school=a rx_bytes=1i 1\n".repeat(100);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gzip(&body)[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
    }
}
