use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Client, Method};
use serde_json::{json, Value};

use crate::http::{self, truncate};
use crate::server::{boot, Core, LaunchSpec, Launchable, Probe, DEFAULT_STARTUP_TIMEOUT};
use crate::{free_port, require_binary, wait_until, LOCALHOST};

/// The server binary (Debian package `prometheus`, 2.42.x).
pub const PROMETHEUS_BIN: &str = "/usr/bin/prometheus";
/// `promtool` (same package).
pub const PROMTOOL_BIN: &str = "/usr/bin/promtool";

/// A real Prometheus on `127.0.0.1:<port>` with a generated config (scrape
/// and evaluation interval 1 s by default), TSDB in its temp dir,
/// `--web.enable-lifecycle` and `--web.enable-admin-api`.
///
/// ```no_run
/// # async fn example(exporter_addr: String) {
/// use std::time::Duration;
/// use testkit::Prometheus;
/// let prom = Prometheus::builder().scrape("schoolnet", [exporter_addr]).start().await;
/// let timeout = Duration::from_secs(10);
/// prom.wait_for("up{job=\"schoolnet\"}", |r| testkit::first_value(r) == Some(1.0), timeout)
///     .await;
/// # }
/// ```
pub struct Prometheus {
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    opts: PrometheusBuilder,
    client: Client,
    core: Core,
}

/// Options for [`Prometheus`]; from [`Prometheus::builder`].
#[derive(Clone, Debug)]
pub struct PrometheusBuilder {
    scrape_interval: Duration,
    evaluation_interval: Duration,
    scrape_configs: Vec<Value>,
    rule_files: Vec<(String, String)>,
    extra_args: Vec<String>,
    startup_timeout: Duration,
}

impl Default for PrometheusBuilder {
    fn default() -> Self {
        PrometheusBuilder {
            scrape_interval: Duration::from_secs(1),
            evaluation_interval: Duration::from_secs(1),
            scrape_configs: Vec::new(),
            rule_files: Vec::new(),
            extra_args: Vec::new(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
        }
    }
}

fn go_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

impl PrometheusBuilder {
    /// Global `scrape_interval` (and `scrape_timeout`), default 1 s.
    pub fn scrape_interval(mut self, d: Duration) -> Self {
        self.scrape_interval = d;
        self
    }

    /// Global `evaluation_interval` for rules, default 1 s.
    pub fn evaluation_interval(mut self, d: Duration) -> Self {
        self.evaluation_interval = d;
        self
    }

    /// A scrape job with static targets (`"127.0.0.1:9100"`, ...), default
    /// `metrics_path` `/metrics`.
    pub fn scrape<I, S>(mut self, job: &str, targets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let targets: Vec<String> = targets.into_iter().map(Into::into).collect();
        self.scrape_configs.push(json!({
            "job_name": job,
            "static_configs": [{"targets": targets}],
        }));
        self
    }

    /// A full `scrape_configs` entry as JSON (metrics_path, params,
    /// relabel_configs, ...).
    pub fn scrape_config(mut self, config: Value) -> Self {
        self.scrape_configs.push(config);
        self
    }

    /// A rule file (YAML text), written as `<name>` in the temp dir and
    /// listed in `rule_files`.
    pub fn rule_file(mut self, name: &str, yaml: impl Into<String>) -> Self {
        self.rule_files.push((name.to_string(), yaml.into()));
        self
    }

    /// An extra command-line flag, e.g. `--query.lookback-delta=10s`.
    pub fn arg(mut self, flag: impl Into<String>) -> Self {
        self.extra_args.push(flag.into());
        self
    }

    /// How long to wait for readiness (default 60 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts Prometheus and waits until `GET /-/ready` answers 200.
    pub async fn start(self) -> Prometheus {
        require_binary(PROMETHEUS_BIN, "prometheus");
        let mut p = Prometheus {
            port: free_port(),
            url: String::new(),
            client: http::client(),
            core: Core::new("prometheus", self.startup_timeout),
            opts: self,
        };
        boot(&mut p, false).await;
        p.url = format!("http://{LOCALHOST}:{}", p.port);
        p
    }
}

impl Prometheus {
    /// A server with default options and no scrape jobs.
    pub async fn start() -> Prometheus {
        Self::builder().start().await
    }

    pub fn builder() -> PrometheusBuilder {
        PrometheusBuilder::default()
    }

    pub fn dir(&self) -> &Path {
        self.core.path()
    }

    /// The generated `prometheus.yml` (JSON, which is valid YAML). Rewrite
    /// it and call [`Self::reload`] to change targets.
    pub fn config_path(&self) -> PathBuf {
        self.dir().join("prometheus.yml")
    }

    /// Last lines of Prometheus's stderr (its log) and stdout.
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

    /// Starts again after [`Self::stop`] / [`Self::kill`]: same port, same TSDB.
    pub async fn start_again(&mut self) {
        boot(self, true).await;
    }

    fn base(&self) -> String {
        format!("http://{LOCALHOST}:{}", self.port)
    }

    /// `POST /-/reload` (re-reads [`Self::config_path`] and rule files).
    pub async fn reload(&self) {
        let url = http::url(&self.base(), "/-/reload", &[]);
        let (status, body) = http::send(&self.client, Method::POST, url, None)
            .await
            .unwrap_or_else(|e| panic!("testkit: prometheus reload: {e:#}"));
        assert_eq!(
            status,
            200,
            "testkit: prometheus reload: HTTP {status}: {body}\n{}",
            self.log_tail()
        );
    }

    /// Instant query; returns `data.result`.
    pub async fn try_query(&self, promql: &str) -> anyhow::Result<Value> {
        let url = http::url(&self.base(), "/api/v1/query", &[("query", promql)]);
        Ok(http::prom_api(&self.client, url).await?["result"].clone())
    }

    /// [`Self::try_query`], panicking on error.
    pub async fn query(&self, promql: &str) -> Value {
        self.try_query(promql)
            .await
            .unwrap_or_else(|e| panic!("testkit: prometheus query: {e:#}"))
    }

    /// The first sample's value of [`Self::query`], if any.
    pub async fn query_f64(&self, promql: &str) -> Option<f64> {
        http::first_value(&self.query(promql).await)
    }

    /// `GET /api/v1/targets` `data` (active/dropped targets, last errors).
    pub async fn targets(&self) -> Value {
        let url = http::url(&self.base(), "/api/v1/targets", &[]);
        http::prom_api(&self.client, url)
            .await
            .unwrap_or_else(|e| panic!("testkit: prometheus targets: {e:#}"))
    }

    /// `GET /api/v1/rules` `data` (groups, rules, health, last errors).
    pub async fn rules(&self) -> Value {
        let url = http::url(&self.base(), "/api/v1/rules", &[]);
        http::prom_api(&self.client, url)
            .await
            .unwrap_or_else(|e| panic!("testkit: prometheus rules: {e:#}"))
    }

    /// Polls `promql` until `pred(result)` holds and returns the result.
    /// On timeout the panic shows the last result and the scrape targets.
    pub async fn wait_for(
        &self,
        promql: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        let what = format!("prometheus query {promql:?} to match");
        let pred = &pred;
        wait_until(&what, timeout, || async move {
            let result = self.try_query(promql).await?;
            if pred(&result) {
                Ok(result)
            } else {
                Err(anyhow::anyhow!("result {}", truncate(&result.to_string())))
            }
        })
        .await
    }

    /// Polls until `promql` returns a first sample equal to `value`.
    pub async fn wait_for_value(&self, promql: &str, value: f64, timeout: Duration) -> Value {
        self.wait_for(promql, |r| http::first_value(r) == Some(value), timeout)
            .await
    }

    fn config_json(&self) -> Value {
        let rule_files: Vec<String> = self
            .opts
            .rule_files
            .iter()
            .map(|(name, _)| self.dir().join(name).display().to_string())
            .collect();
        json!({
            "global": {
                "scrape_interval": go_duration(self.opts.scrape_interval),
                "scrape_timeout": go_duration(self.opts.scrape_interval),
                "evaluation_interval": go_duration(self.opts.evaluation_interval),
            },
            "rule_files": rule_files,
            "scrape_configs": self.opts.scrape_configs,
        })
    }
}

impl Launchable for Prometheus {
    fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    fn pick_ports(&mut self) {
        self.port = free_port();
    }

    fn prepare(&mut self) -> LaunchSpec {
        for (name, yaml) in &self.opts.rule_files {
            let path = self.dir().join(name);
            std::fs::write(&path, yaml)
                .unwrap_or_else(|e| panic!("testkit: write {}: {e}", path.display()));
        }
        let config = self.config_path();
        let text = serde_json::to_string_pretty(&self.config_json()).expect("config json");
        std::fs::write(&config, text)
            .unwrap_or_else(|e| panic!("testkit: write {}: {e}", config.display()));
        let mut args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", self.dir().join("data").display()),
            format!("--web.listen-address={LOCALHOST}:{}", self.port),
            "--web.enable-lifecycle".into(),
            "--web.enable-admin-api".into(),
        ];
        args.extend(self.opts.extra_args.iter().cloned());
        LaunchSpec {
            program: PROMETHEUS_BIN,
            args,
            extra_logs: Vec::new(),
            ready_line: None,
        }
    }

    fn probe(&self) -> Probe {
        let client = self.client.clone();
        let url = http::url(&self.base(), "/-/ready", &[]);
        Box::pin(async move {
            match client.get(url).send().await {
                Ok(resp) if resp.status().as_u16() == 200 => {
                    resp.text().await.is_ok_and(|t| t.contains("Ready"))
                }
                _ => false,
            }
        })
    }
}
