use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use reqwest::{Client, Method};
use serde_json::Value;

use crate::http::{self, truncate};
use crate::server::{boot, Core, LaunchSpec, Launchable, Probe, DEFAULT_STARTUP_TIMEOUT};
use crate::{free_port, require_binary, wait_until, LOCALHOST};

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
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
        }
    }
}

impl VictoriaMetricsBuilder {
    /// An extra command-line flag, e.g. `-maxInsertRequestSize=1000`.
    pub fn arg(mut self, flag: impl Into<String>) -> Self {
        self.extra_args.push(flag.into());
        self
    }

    /// How long to wait for readiness (default 60 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts VictoriaMetrics and waits until `GET /health` answers `OK`.
    pub async fn start(self) -> VictoriaMetrics {
        require_binary(VICTORIA_METRICS_BIN, "victoria-metrics");
        let mut vm = VictoriaMetrics {
            port: free_port(),
            url: String::new(),
            client: http::client(),
            core: Core::new("victoria-metrics", self.startup_timeout),
            opts: self,
        };
        boot(&mut vm, false).await;
        vm.url = format!("http://{LOCALHOST}:{}", vm.port);
        vm
    }
}

impl VictoriaMetrics {
    /// A server with default options.
    pub async fn start() -> VictoriaMetrics {
        Self::builder().start().await
    }

    pub fn builder() -> VictoriaMetricsBuilder {
        VictoriaMetricsBuilder::default()
    }

    /// `<url>/api/v2/write` (InfluxDB v2 write API; `org`/`bucket` are
    /// accepted; `db`/`bucket` become a `db` label only with
    /// `-influx.databaseNames`-style flags, see VM docs).
    pub fn v2_write_url(&self) -> String {
        format!("{}/api/v2/write", self.base())
    }

    /// `<url>/write` (InfluxDB v1 write API).
    pub fn v1_write_url(&self) -> String {
        format!("{}/write", self.base())
    }

    pub fn dir(&self) -> &Path {
        self.core.path()
    }

    /// Last lines of VM's stderr (its log) and stdout.
    pub fn log_tail(&self) -> String {
        self.core.log_tail()
    }

    pub fn pid(&self) -> Option<u32> {
        self.core.pid()
    }

    pub fn is_running(&mut self) -> bool {
        self.core.is_running()
    }

    /// SIGTERM, SIGKILL after a grace period.
    pub fn stop(&mut self) {
        self.core.stop();
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        self.core.kill();
    }

    /// Starts again after [`Self::stop`] / [`Self::kill`]: same port, same data.
    pub async fn start_again(&mut self) {
        boot(self, true).await;
    }

    /// [`Self::stop`] then [`Self::start_again`].
    pub async fn restart(&mut self) {
        self.stop();
        self.start_again().await;
    }

    fn base(&self) -> String {
        format!("http://{LOCALHOST}:{}", self.port)
    }

    /// Writes line protocol through `/api/v2/write`; panics unless 2xx.
    pub async fn write_lines(&self, lines: &str) {
        let url = http::url(&self.base(), "/api/v2/write", &[]);
        let (status, body) = http::send(&self.client, Method::POST, url, Some(lines.to_string()))
            .await
            .unwrap_or_else(|e| panic!("testkit: victoria-metrics write: {e:#}"));
        assert!(
            (200..300).contains(&status),
            "testkit: victoria-metrics write: HTTP {status}: {body}"
        );
    }

    /// `GET /internal/force_flush`: makes buffered samples searchable soon
    /// (not instantly: allow ~1 s; exists in 1.79).
    pub async fn flush(&self) {
        let url = http::url(&self.base(), "/internal/force_flush", &[]);
        let (status, body) = http::send(&self.client, Method::GET, url, None)
            .await
            .unwrap_or_else(|e| panic!("testkit: victoria-metrics force_flush: {e:#}"));
        assert_eq!(
            status, 200,
            "testkit: victoria-metrics force_flush: HTTP {status}: {body}"
        );
    }

    /// Instant PromQL/MetricsQL query; returns `data.result`.
    pub async fn try_query(&self, promql: &str) -> anyhow::Result<Value> {
        let url = http::url(&self.base(), "/api/v1/query", &[("query", promql)]);
        Ok(http::prom_api(&self.client, url).await?["result"].clone())
    }

    /// [`Self::try_query`], panicking on error.
    pub async fn query(&self, promql: &str) -> Value {
        self.try_query(promql)
            .await
            .unwrap_or_else(|e| panic!("testkit: victoria-metrics query: {e:#}"))
    }

    /// The first sample's value of [`Self::query`], if any.
    pub async fn query_f64(&self, promql: &str) -> Option<f64> {
        http::first_value(&self.query(promql).await)
    }

    /// Flushes, then `GET /api/v1/export?match[]=<selector>`: one JSON object
    /// per series (`{"metric":{..},"values":[..],"timestamps":[..]}`).
    pub async fn try_export(&self, selector: &str) -> anyhow::Result<Vec<Value>> {
        self.flush().await;
        let url = http::url(&self.base(), "/api/v1/export", &[("match[]", selector)]);
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
        let what = format!("victoria-metrics export {selector:?} to match");
        let pred = &pred;
        wait_until(&what, timeout, || async move {
            let series = self.try_export(selector).await?;
            if pred(&series) {
                Ok(series)
            } else {
                Err(anyhow::anyhow!(
                    "{} series: {}",
                    series.len(),
                    truncate(&format!("{series:?}"))
                ))
            }
        })
        .await
    }
}

impl Launchable for VictoriaMetrics {
    fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    fn pick_ports(&mut self) {
        self.port = free_port();
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
        LaunchSpec {
            program: VICTORIA_METRICS_BIN,
            args,
            extra_logs: Vec::new(),
            ready_line: None,
        }
    }

    fn probe(&self) -> Probe {
        let client = self.client.clone();
        let url = http::url(&self.base(), "/health", &[]);
        Box::pin(async move {
            match client.get(url).send().await {
                Ok(resp) if resp.status().as_u16() == 200 => {
                    resp.text().await.is_ok_and(|t| t.trim() == "OK")
                }
                _ => false,
            }
        })
    }
}
