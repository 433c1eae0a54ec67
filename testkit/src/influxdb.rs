use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::{Client, Method};
use serde_json::Value;

use crate::http::{self, truncate};
use crate::server::{
    self, quoted, quoted_path, server_methods, Core, LaunchSpec, Launchable, Probe,
};
use crate::{free_port, require_binary, LOCALHOST};

/// The server binary (Debian package `influxdb`, 1.6.x).
pub const INFLUXD_BIN: &str = "/usr/bin/influxd";

/// A real InfluxDB 1.x (`influxd`) with a generated config, data/meta/wal
/// in its temp dir, HTTP on `127.0.0.1:<port>` (HTTPS with
/// [`InfluxDb1Builder::tls`]). Killed on drop.
///
/// ```no_run
/// # async fn example() {
/// use testkit::InfluxDb1;
/// let influx = InfluxDb1::start().await;
/// influx.create_database("schoolnet").await;
/// influx.write("schoolnet", "m,a=b v=1").await;
/// assert_eq!(influx.count("schoolnet", "SELECT count(v) FROM m").await, 1);
/// # }
/// ```
pub struct InfluxDb1 {
    /// HTTP API port.
    pub port: u16,
    /// `http://127.0.0.1:<port>` (`https://` with TLS).
    pub url: String,
    rpc_port: u16,
    opts: InfluxDb1Builder,
    client: Client,
    core: Core,
}

/// Options for [`InfluxDb1`]; from [`InfluxDb1::builder`].
#[derive(Clone, Debug)]
pub struct InfluxDb1Builder {
    continuous_queries: bool,
    max_body_size: Option<u64>,
    auth_enabled: bool,
    extra_config: Vec<String>,
    startup_timeout: Duration,
    /// (certificate, private key, CA) PEM files for `https-enabled`.
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
}

impl Default for InfluxDb1Builder {
    fn default() -> Self {
        InfluxDb1Builder {
            continuous_queries: false,
            max_body_size: None,
            auth_enabled: false,
            extra_config: Vec::new(),
            startup_timeout: server::DEFAULT_STARTUP_TIMEOUT,
            tls: None,
        }
    }
}

impl InfluxDb1Builder {
    /// `[continuous_queries] enabled` (default here: false).
    pub fn continuous_queries(mut self, on: bool) -> Self {
        self.continuous_queries = on;
        self
    }

    /// `[http] max-body-size` in bytes (InfluxDB's default: 25,000,000;
    /// larger writes get HTTP 413).
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.max_body_size = Some(bytes);
        self
    }

    /// `[http] auth-enabled` (default false). With auth, create an admin
    /// user first (`CREATE USER ... WITH ALL PRIVILEGES` works unauthenticated
    /// while no user exists).
    pub fn auth_enabled(mut self, on: bool) -> Self {
        self.auth_enabled = on;
        self
    }

    /// Extra TOML appended at the end of the config. It follows the last
    /// section, so start it with a `[section]` header.
    pub fn extra_config(mut self, toml: impl Into<String>) -> Self {
        self.extra_config.push(toml.into());
        self
    }

    /// Serve HTTPS only (`[http] https-enabled`) with the PEM server
    /// certificate `cert` and key `key`; the helper's own client trusts the
    /// PEM CA `ca`, and [`InfluxDb1::url`] is `https://…`.
    pub fn tls(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
        ca: impl Into<PathBuf>,
    ) -> Self {
        self.tls = Some((cert.into(), key.into(), ca.into()));
        self
    }

    /// Starts influxd and waits until `GET /ping` answers 204.
    pub async fn start(self) -> InfluxDb1 {
        require_binary(INFLUXD_BIN, "influxdb");
        let client = match &self.tls {
            Some((_, _, ca)) => http::client_trusting(ca),
            None => http::client(),
        };
        server::start_new(InfluxDb1 {
            port: 0,
            url: String::new(),
            rpc_port: 0,
            client,
            core: Core::new("influxd", self.startup_timeout),
            opts: self,
        })
        .await
    }
}

server_methods!(InfluxDb1, InfluxDb1Builder, start_with_defaults);

impl InfluxDb1 {
    /// The write endpoint for `db`: `<url>/write?db=<db>`.
    pub fn write_url(&self, db: &str) -> String {
        http::url(&self.url, "/write", &[("db", db)]).to_string()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir().join("influxdb.conf")
    }

    /// `CREATE DATABASE <name>`; panics on error.
    pub async fn create_database(&self, name: &str) {
        let q = format!("CREATE DATABASE {}", quoted(name));
        self.query("", &q).await;
    }

    /// Writes line protocol (`precision` ns) to `db`; panics unless 204.
    pub async fn write(&self, db: &str, lines: &str) {
        self.write_rp(db, "", lines).await
    }

    /// Writes line protocol into retention policy `rp` of `db` (the
    /// database's default policy when `rp` is empty); fails the test unless
    /// InfluxDB answers 204.
    pub async fn write_rp(&self, db: &str, rp: &str, lines: &str) {
        let mut params = vec![("db", db)];
        if !rp.is_empty() {
            params.push(("rp", rp));
        }
        let url = http::url(&self.url, "/write", &params);
        let body = Some(lines.to_string());
        let what = "influxdb write";
        let (status, body) = http::must_send(&self.client, Method::POST, url, body, what).await;
        assert_eq!(
            status, 204,
            "testkit: influxdb write to {db}: HTTP {status}: {body}"
        );
    }

    /// Runs InfluxQL (POST /query, `epoch=ns`) and returns the whole JSON
    /// response. Errors on a non-2xx status or on any statement error.
    pub async fn try_query(&self, db: &str, influxql: &str) -> anyhow::Result<Value> {
        let mut params = vec![("q", influxql), ("epoch", "ns")];
        if !db.is_empty() {
            params.push(("db", db));
        }
        let url = http::url(&self.url, "/query", &params);
        let (status, text) = http::send(&self.client, Method::POST, url, None).await?;
        let body: Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "influxdb query {influxql:?}: HTTP {status}: {}",
                truncate(&text)
            )
        })?;
        if !(200..300).contains(&status) || body.get("error").is_some() {
            bail!(
                "influxdb query {influxql:?}: HTTP {status}: {}",
                truncate(&text)
            );
        }
        for result in body["results"].as_array().into_iter().flatten() {
            if let Some(err) = result.get("error") {
                bail!("influxdb query {influxql:?} failed: {err}");
            }
        }
        Ok(body)
    }

    /// [`Self::try_query`], panicking on error.
    pub async fn query(&self, db: &str, influxql: &str) -> Value {
        self.try_query(db, influxql)
            .await
            .unwrap_or_else(|e| panic!("testkit: {e:#}"))
    }

    /// For `SELECT count(...) ...`-style queries: the sum over all series of
    /// the first non-time column of every row; 0 when there are no series.
    pub async fn count(&self, db: &str, influxql: &str) -> u64 {
        let body = self.query(db, influxql).await;
        count_of(&body)
    }
}

/// See [`InfluxDb1::count`].
fn count_of(body: &Value) -> u64 {
    let mut total = 0u64;
    for result in body["results"].as_array().into_iter().flatten() {
        for series in result["series"].as_array().into_iter().flatten() {
            let columns = series["columns"].as_array().cloned().unwrap_or_default();
            let col = columns.iter().position(|c| c != "time").unwrap_or(0);
            for row in series["values"].as_array().into_iter().flatten() {
                total += row.get(col).and_then(Value::as_u64).unwrap_or(0);
            }
        }
    }
    total
}

impl Launchable for InfluxDb1 {
    fn pick_ports(&mut self) {
        self.port = free_port();
        self.rpc_port = free_port();
        self.url = match self.opts.tls {
            Some(_) => format!("https://{LOCALHOST}:{}", self.port),
            None => server::http_url(self.port),
        };
    }

    fn prepare(&mut self) -> LaunchSpec {
        let dir = self.dir().to_path_buf();
        let mut c = String::from("# generated by testkit\n");
        // Upstream's key is reporting-disabled; Debian's build renamed it to
        // reporting-enabled (default false). Unknown keys are ignored.
        c.push_str("reporting-disabled = true\nreporting-enabled = false\n");
        c.push_str(&format!(
            "bind-address = \"{LOCALHOST}:{}\"\n",
            self.rpc_port
        ));
        c.push_str(&format!(
            "\n[meta]\n  dir = {}\n",
            quoted_path(&dir.join("meta"))
        ));
        c.push_str(&format!(
            "\n[data]\n  dir = {}\n  wal-dir = {}\n  query-log-enabled = false\n  wal-fsync-delay = \"0s\"\n",
            quoted_path(&dir.join("data")),
            quoted_path(&dir.join("wal"))
        ));
        c.push_str("\n[monitor]\n  store-enabled = false\n");
        c.push_str(&format!(
            "\n[continuous_queries]\n  enabled = {}\n  log-enabled = true\n",
            self.opts.continuous_queries
        ));
        c.push_str(&format!(
            "\n[http]\n  enabled = true\n  bind-address = \"{LOCALHOST}:{}\"\n  log-enabled = false\n  auth-enabled = {}\n",
            self.port, self.opts.auth_enabled
        ));
        if let Some(max) = self.opts.max_body_size {
            c.push_str(&format!("  max-body-size = {max}\n"));
        }
        if let Some((cert, key, _)) = &self.opts.tls {
            c.push_str(&format!(
                "  https-enabled = true\n  https-certificate = {}\n  https-private-key = {}\n",
                quoted_path(cert),
                quoted_path(key)
            ));
        }
        c.push_str("\n[logging]\n  suppress-logo = true\n");
        for extra in &self.opts.extra_config {
            c.push('\n');
            c.push_str(extra);
            c.push('\n');
        }
        let config = self.config_path();
        server::write_file(&config, c);
        let args = vec!["run".into(), "-config".into(), config.display().to_string()];
        LaunchSpec::new(INFLUXD_BIN, args)
    }

    fn probe(&self) -> Probe {
        let client = self.client.clone();
        let url = http::url(&self.url, "/ping", &[]);
        Box::pin(async move {
            match client.get(url).send().await {
                Ok(resp) => {
                    resp.status().as_u16() == 204
                        && resp.headers().contains_key("x-influxdb-version")
                }
                Err(_) => false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn count_sums_first_value_column_over_series() {
        let body = json!({"results": [{"statement_id": 0, "series": [
            {"name": "m", "tags": {"a": "1"}, "columns": ["time", "count"], "values": [[0, 3]]},
            {"name": "m", "tags": {"a": "2"}, "columns": ["time", "count"], "values": [[0, 4]]}
        ]}]});
        assert_eq!(count_of(&body), 7);
        assert_eq!(count_of(&json!({"results": [{"statement_id": 0}]})), 0);
    }
}
