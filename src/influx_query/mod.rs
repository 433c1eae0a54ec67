//! The InfluxDB `/query` client the commands that read history back share
//! (`availability`, `query`):
//! the InfluxDB to read and how to authenticate ([`Source`], [`resolve`]),
//! InfluxQL over `GET <url>/query?db=…&q=…&epoch=ns` with InfluxDB's own
//! error messages ([`run`]), the answer's series ([`statements`]), quoting,
//! time arguments ([`instant`], [`month`]) and aligned tables ([`render`]).
//!
//! `/query` is InfluxDB 1.x's endpoint and the v1-compatible one of InfluxDB
//! 2.x/3.x (where `db` and a retention policy name a bucket through its DBRP
//! mapping). Credentials never come from argv: the token (v2) or password
//! (v1) is read from `SCHOOLNET_INFLUX_TOKEN` or the config's
//! `influx.token_file`. With a v1 `username` it is sent as HTTP Basic auth,
//! otherwise as `Authorization: Token <token>`. Errors name the server's
//! base URL (never the query string) and carry InfluxDB's own message.
//! `https://` trusts the system's roots plus the config's `influx.ca_file`,
//! with the optional client certificate, as the collector's writer does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use collector::config::{read_secret, Config, InfluxApi};
use collector::inventory::Inventory;
use collector::sink::influx::TOKEN_ENV;
use collector::tls::{reqwest_tls, ClientCert};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::Url;
use serde_json::Value;

use crate::cli::ApiArg;

mod answer;
mod text;

pub use answer::{statements, Series};
pub use text::{chain, excerpt, instant, month, nanos, render, stamp};

/// Timeout of a query without a config (`influx.timeout_s` with one).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the history is and how to authenticate.
#[derive(Debug, Clone)]
pub struct Source {
    /// Base URL, e.g. `http://127.0.0.1:8086` (a path prefix is kept).
    pub url: String,
    /// v1 database, or the v2 bucket (its DBRP mapping).
    pub db: String,
    /// v1 retention policy the collector writes to; empty: the database's default.
    pub retention_policy: String,
    /// v1 username (only with the v1 API): Basic auth, the token is the password.
    pub username: Option<String>,
    /// Token or password, from the environment or a token file.
    pub token: Option<String>,
    pub timeout: Duration,
    /// `influx.ca_file`, `influx.client_cert_file`, `influx.client_key_file`.
    pub tls: [Option<PathBuf>; 3],
}

/// The connection flags of a reading command (`--config` or `--influx-*`).
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    pub config: Option<&'a Path>,
    pub url: Option<&'a str>,
    pub api: ApiArg,
    pub db: &'a str,
    pub username: Option<&'a str>,
}

/// The InfluxDB to read, the inventory and a label for it (`built-in
/// sample` or the config's path). `what` names the data for the error
/// when the config has no `[influx]` section ("outage history").
pub fn resolve(
    conn: Connection<'_>,
    what: &str,
    notes: &mut Vec<String>,
) -> anyhow::Result<(Source, Inventory, String)> {
    if let Some(path) = conn.config {
        // ConfigError's message already carries its cause: no context chain.
        let config = Config::load(path).map_err(|e| anyhow!("config: {e}"))?;
        let Some(influx) = &config.influx else {
            bail!(
                "config {}: no [influx] section, so there is no {what} to read",
                path.display()
            );
        };
        // The writer's checks, so that a bad URL from SCHOOLNET_INFLUX__URL
        // is blamed on that variable, not on the file.
        influx.validate().map_err(|e| {
            anyhow!(
                "config {}: {}",
                path.display(),
                config.env_overrides.blame(e)
            )
        })?;
        let token = read_secret(TOKEN_ENV, influx.token_file.as_deref())
            .map_err(|e| anyhow!("config {}: influx.token_file: {e}", path.display()))?;
        let (db, retention_policy, username) = match influx.api {
            InfluxApi::V1 => (
                influx.database.clone(),
                influx.retention_policy.clone(),
                influx.username.clone(),
            ),
            InfluxApi::V2 => (influx.bucket.clone(), String::new(), None),
        };
        let timeout = Duration::try_from_secs_f64(influx.timeout_s)
            .ok()
            .filter(|t| !t.is_zero())
            .unwrap_or(DEFAULT_TIMEOUT);
        let source = Source {
            url: influx.url.clone(),
            db,
            retention_policy,
            username,
            token,
            timeout,
            tls: [
                influx.ca_file.clone(),
                influx.client_cert_file.clone(),
                influx.client_key_file.clone(),
            ],
        };
        // Only the inventory is needed: MQTT and route settings are not checked.
        let inventory = Inventory::load(&config.inventory.schools, &config.inventory.devices)
            .with_context(|| format!("inventory of config {}", path.display()))?;
        return Ok((source, inventory, path.display().to_string()));
    }
    let Some(url) = conn.url else {
        bail!("give --config FILE or --influx-url URL");
    };
    let token = read_secret(TOKEN_ENV, None)?;
    let username = match conn.api {
        ApiArg::V1 => conn.username.map(str::to_owned),
        ApiArg::V2 => None,
    };
    let source = Source {
        url: url.to_owned(),
        db: conn.db.to_owned(),
        retention_policy: String::new(),
        username,
        token,
        timeout: DEFAULT_TIMEOUT,
        tls: Default::default(),
    };
    let inventory = simulator::sample_inventory().context("built-in sample inventory")?;
    notes.push(format!(
        "no config: schools and districts are those of the built-in sample inventory ({} schools); \
         pass -c/--config FILE (or set SCHOOLNET_CONFIG) to use yours",
        inventory.schools().len()
    ));
    Ok((source, inventory, "built-in sample".into()))
}

/// `"name"` with `\` and `"` escaped: an InfluxQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `'value'` with `\` and `'` escaped: an InfluxQL string literal.
pub fn quote_str(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `<url>/query` with `db`, `q` and `epoch=ns`; rejects URLs carrying
/// credentials or a query (credentials belong in the environment).
pub fn query_url(source: &Source, q: &str) -> anyhow::Result<Url> {
    let base = source.url.trim_end_matches('/');
    let url = Url::parse(&format!("{base}/query"))
        .with_context(|| format!("InfluxDB URL `{}`", source.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!(
            "InfluxDB URL `{}` must start with http:// or https://",
            source.url
        );
    }
    if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
        bail!(
            "InfluxDB URL `{}` must not carry a query or credentials (put the token in {TOKEN_ENV})",
            source.url
        );
    }
    let params = [("db", source.db.as_str()), ("q", q), ("epoch", "ns")];
    Ok(Url::parse_with_params(url.as_str(), params)?)
}

/// Runs `q` (one or more `;`-separated statements) and returns the answer,
/// after turning HTTP errors, non-JSON answers and a top-level `error` into
/// messages naming the base URL. Statement errors are left to [`statements`].
pub async fn run(source: &Source, q: &str) -> anyhow::Result<Value> {
    let url = query_url(source, q)?;
    let base = source.url.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .user_agent(concat!("schoolnet/", env!("CARGO_PKG_VERSION")))
        .timeout(source.timeout)
        .connect_timeout(source.timeout.min(Duration::from_secs(5)));
    let client = with_tls(client, source)?
        .build()
        .context("cannot build the HTTP client")?;
    let mut req = client.get(url);
    let token = source
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match (&source.username, token) {
        (Some(user), password) => req = req.basic_auth(user, password),
        (None, Some(token)) => {
            let mut v = HeaderValue::from_str(&format!("Token {token}")).map_err(|_| {
                anyhow!("the InfluxDB token contains characters not allowed in an HTTP header")
            })?;
            v.set_sensitive(true);
            req = req.header(AUTHORIZATION, v);
        }
        (None, None) => {}
    }
    let resp = req.send().await.map_err(|e| {
        anyhow!(
            "cannot reach InfluxDB at {base}: {}",
            chain(&e.without_url())
        )
    })?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| {
        anyhow!(
            "InfluxDB at {base}: reading the answer failed: {}",
            chain(&e.without_url())
        )
    })?;
    let body: Option<Value> = serde_json::from_str(&text).ok();
    let server_error = body
        .as_ref()
        .and_then(|b| b.get("error"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if !status.is_success() {
        let detail = server_error.unwrap_or_else(|| excerpt(&text));
        let hint = match status.as_u16() {
            401 | 403 => format!(
                " (set {TOKEN_ENV} to a token, or the password of --influx-username, allowed to read `{}`)",
                source.db
            ),
            404 => {
                " (is this an InfluxDB with the /query endpoint? check the URL and its path prefix)"
                    .into()
            }
            _ => String::new(),
        };
        bail!("InfluxDB at {base} answered HTTP {status}: {detail}{hint}");
    }
    let Some(body) = body else {
        bail!(
            "InfluxDB at {base} did not answer with JSON (is this an InfluxDB?): {}",
            excerpt(&text)
        );
    };
    if let Some(e) = server_error {
        bail!("InfluxDB at {base}: {e}");
    }
    Ok(body)
}

/// Adds `influx.ca_file` (extra trust roots) and the client certificate;
/// refuses them with an `http://` URL (they would suggest encryption).
fn with_tls(
    builder: reqwest::ClientBuilder,
    source: &Source,
) -> anyhow::Result<reqwest::ClientBuilder> {
    let [ca, cert, key] = &source.tls;
    let client = ClientCert::pair(
        "influx.client_cert_file",
        cert.as_deref(),
        "influx.client_key_file",
        key.as_deref(),
    )?;
    if ca.is_none() && client.is_none() {
        return Ok(builder);
    }
    if !source.url.starts_with("https://") {
        bail!(
            "influx.ca_file or a client certificate is set but url `{}` is not https://",
            source.url
        );
    }
    let ca = ca.as_deref().map(|path| ("influx.ca_file", path));
    Ok(reqwest_tls(builder, ca, client)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(url: &str) -> Source {
        Source {
            url: url.into(),
            db: "school net".into(),
            retention_policy: String::new(),
            username: None,
            token: None,
            timeout: Duration::from_secs(1),
            tls: Default::default(),
        }
    }

    #[test]
    fn the_url_keeps_a_path_prefix_and_encodes_parameters() {
        let u = query_url(&source("http://h:8086/influx/"), "SELECT 1").unwrap();
        assert_eq!(
            u.as_str(),
            "http://h:8086/influx/query?db=school+net&q=SELECT+1&epoch=ns"
        );
        assert!(query_url(&source("http://u:p@h:8086"), "q").is_err());
        assert!(query_url(&source("ftp://h"), "q").is_err());
    }

    #[test]
    fn identifiers_and_strings_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote_str("NX-0'1\\"), "'NX-0\\'1\\\\'");
    }
}
