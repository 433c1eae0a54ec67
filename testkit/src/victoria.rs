use std::time::Duration;

use anyhow::Context;
use reqwest::{Client, Method};
use serde_json::Value;

use crate::http::{self, prom_query_methods, truncate};
use crate::server::{self, server_methods, Core, LaunchSpec, Launchable, Probe};
use crate::wait::wait_for_match;
use crate::{free_port, require_binary, LOCALHOST};

/// The server binary (Debian package `victoria-metrics`, 1.79.x).
pub const VICTORIA_METRICS_BIN: &str = "/usr/bin/victoria-metrics";

/// A real single-node VictoriaMetrics on `127.0.0.1:<port>`, data in its
/// temp dir. It accepts InfluxDB line protocol on `/write` and
/// `/api/v2/write` (the v2-write-compatible target) and answers PromQL.
///
/// Freshness: written samples become searchable only after VM's in-memory
/// buffers are flushed (about a second, even after `/internal/force_flush`),
/// and instant queries hide the last `-search.latencyOffset` (set to 1s
/// here). Poll with [`crate::wait_until`] or use [`Self::wait_for_export`].
pub struct VictoriaMetrics {
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    opts: VictoriaMetricsBuilder,
    client: Client,
    core: Core,
}

/// Options for [`VictoriaMetrics`]; from [`VictoriaMetrics::builder`].
#[derive(Clone, Debug)]
pub struct VictoriaMetricsBuilder {
    extra_args: Vec<String>,
    startup_timeout: Duration,
}

impl Default for VictoriaMetricsBuilder {
    fn default() -> Self {
        VictoriaMetricsBuilder {
            extra_args: Vec::new(),
            startup_timeout: server::DEFAULT_STARTUP_TIMEOUT,
        }
    }
}

impl VictoriaMetricsBuilder {
    /// An extra command-line flag, e.g. `-maxInsertRequestSize=1000`.
    pub fn arg(mut self, flag: impl Into<String>) -> Self {
        self.extra_args.push(flag.into());
        self
    }

    /// Starts VictoriaMetrics and waits until `GET /health` answers `OK`.
    pub async fn start(self) -> VictoriaMetrics {
        require_binary(VICTORIA_METRICS_BIN, "victoria-metrics");
        server::start_new(VictoriaMetrics {
            port: 0,
            url: String::new(),
            client: http::client(),
            core: Core::new("victoria-metrics", self.startup_timeout),
            opts: self,
        })
        .await
    }
}

server_methods!(VictoriaMetrics, VictoriaMetricsBuilder, start_with_defaults);
prom_query_methods!(VictoriaMetrics, "victoria-metrics");

impl VictoriaMetrics {
    /// `<url>/api/v2/write` (InfluxDB v2 write API; `org`/`bucket` are
    /// accepted; `db`/`bucket` become a `db` label only with
    /// `-influx.databaseNames`-style flags, see VM docs).
    pub fn v2_write_url(&self) -> String {
        format!("{}/api/v2/write", self.url)
    }

    /// `<url>/write` (InfluxDB v1 write API).
    pub fn v1_write_url(&self) -> String {
        format!("{}/write", self.url)
    }

    /// Writes line protocol through `/api/v2/write`; panics unless 2xx.
    pub async fn write_lines(&self, lines: &str) {
        let url = http::url(&self.url, "/api/v2/write", &[]);
        let body = Some(lines.to_string());
        let what = "victoria-metrics write";
        let (status, body) = http::must_send(&self.client, Method::POST, url, body, what).await;
        assert!(
            (200..300).contains(&status),
            "testkit: victoria-metrics write: HTTP {status}: {body}"
        );
    }

    /// `GET /internal/force_flush`: makes buffered samples searchable soon
    /// (not instantly: allow ~1 s; exists in 1.79).
    pub async fn flush(&self) {
        let url = http::url(&self.url, "/internal/force_flush", &[]);
        let what = "victoria-metrics force_flush";
        let (status, body) = http::must_send(&self.client, Method::GET, url, None, what).await;
        assert_eq!(
            status, 200,
            "testkit: victoria-metrics force_flush: HTTP {status}: {body}"
        );
    }

    /// Flushes, then `GET /api/v1/export?match[]=<selector>`: one JSON object
    /// per series (`{"metric":{..},"values":[..],"timestamps":[..]}`).
    pub async fn try_export(&self, selector: &str) -> anyhow::Result<Vec<Value>> {
        self.flush().await;
        let url = http::url(&self.url, "/api/v1/export", &[("match[]", selector)]);
        let (status, text) = http::send(&self.client, Method::GET, url, None).await?;
        if status != 200 {
            anyhow::bail!(
                "victoria-metrics export {selector:?}: HTTP {status}: {}",
                truncate(&text)
            );
        }
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).with_context(|| format!("export line is not JSON: {l}"))
            })
            .collect()
    }

    /// [`Self::try_export`], panicking on error.
    pub async fn export(&self, selector: &str) -> Vec<Value> {
        self.try_export(selector)
            .await
            .unwrap_or_else(|e| panic!("testkit: {e:#}"))
    }

    /// Total number of samples over all exported series of `selector`.
    pub async fn sample_count(&self, selector: &str) -> usize {
        self.export(selector)
            .await
            .iter()
            .map(|s| s["values"].as_array().map_or(0, Vec::len))
            .sum()
    }

    /// Polls [`Self::export`] until `pred` holds; returns the series.
    pub async fn wait_for_export(
        &self,
        selector: &str,
        timeout: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        wait_for_match(
            &format!("victoria-metrics export {selector:?} to match"),
            timeout,
            || self.try_export(selector),
            |series| pred(series),
            |series| {
                format!(
                    "{} series: {}",
                    series.len(),
                    truncate(&format!("{series:?}"))
                )
            },
        )
        .await
    }
}

impl Launchable for VictoriaMetrics {
    fn pick_ports(&mut self) {
        self.port = free_port();
        self.url = server::http_url(self.port);
    }

    fn prepare(&mut self) -> LaunchSpec {
        let mut args = vec![
            format!("-httpListenAddr={LOCALHOST}:{}", self.port),
            format!("-storageDataPath={}", self.dir().join("data").display()),
            "-retentionPeriod=100y".into(),
            "-search.latencyOffset=1s".into(),
            // Rollup-result caching can hide freshly written samples.
            "-search.disableCache".into(),
        ];
        args.extend(self.opts.extra_args.iter().cloned());
        LaunchSpec::new(VICTORIA_METRICS_BIN, args)
    }

    fn probe(&self) -> Probe {
        let url = http::url(&self.url, "/health", &[]);
        http::probe_body(&self.client, url, |t| t.trim() == "OK")
    }
}
