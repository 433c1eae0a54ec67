use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Client, Method};
use serde_json::{json, Value};

use crate::http::{self, prom_query_methods, truncate};
use crate::server::{self, server_methods, Core, LaunchSpec, Launchable, Probe};
use crate::wait::wait_for_match;
use crate::{free_port, require_binary, LOCALHOST};

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
    alertmanagers: Vec<String>,
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
            alertmanagers: Vec::new(),
            extra_args: Vec::new(),
            startup_timeout: server::DEFAULT_STARTUP_TIMEOUT,
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

    /// Sends alerts to the Alertmanager at `host:port`.
    pub fn alertmanager(mut self, target: impl Into<String>) -> Self {
        self.alertmanagers.push(target.into());
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

    /// Starts Prometheus and waits until `GET /-/ready` answers 200.
    pub async fn start(self) -> Prometheus {
        require_binary(PROMETHEUS_BIN, "prometheus");
        server::start_new(Prometheus {
            port: 0,
            url: String::new(),
            client: http::client(),
            core: Core::new("prometheus", self.startup_timeout),
            opts: self,
        })
        .await
    }
}

server_methods!(Prometheus, PrometheusBuilder, start_with_defaults);
prom_query_methods!(Prometheus, "prometheus");

impl Prometheus {
    /// The generated `prometheus.yml` (JSON, which is valid YAML). Rewrite
    /// it and call [`Self::reload`] to change targets.
    pub fn config_path(&self) -> PathBuf {
        self.dir().join("prometheus.yml")
    }

    /// `POST /-/reload` (re-reads [`Self::config_path`] and rule files).
    pub async fn reload(&self) {
        let url = http::url(&self.url, "/-/reload", &[]);
        let what = "prometheus reload";
        let (status, body) = http::must_send(&self.client, Method::POST, url, None, what).await;
        assert_eq!(
            status,
            200,
            "testkit: prometheus reload: HTTP {status}: {body}\n{}",
            self.log_tail()
        );
    }

    /// `GET /api/v1/targets` `data` (active/dropped targets, last errors).
    pub async fn targets(&self) -> Value {
        let url = http::url(&self.url, "/api/v1/targets", &[]);
        http::prom_api(&self.client, url)
            .await
            .unwrap_or_else(|e| panic!("testkit: prometheus targets: {e:#}"))
    }

    /// `GET /api/v1/rules` `data` (groups, rules, health, last errors).
    pub async fn rules(&self) -> Value {
        let url = http::url(&self.url, "/api/v1/rules", &[]);
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
        wait_for_match(
            &format!("prometheus query {promql:?} to match"),
            timeout,
            || self.try_query(promql),
            pred,
            |result| format!("result {}", truncate(&result.to_string())),
        )
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
            "alerting": {
                "alertmanagers": [{ "static_configs": [{ "targets": self.opts.alertmanagers }] }]
            },
        })
    }
}

impl Launchable for Prometheus {
    fn pick_ports(&mut self) {
        self.port = free_port();
        self.url = server::http_url(self.port);
    }

    fn prepare(&mut self) -> LaunchSpec {
        for (name, yaml) in &self.opts.rule_files {
            let path = self.dir().join(name);
            server::write_file(&path, yaml);
        }
        let config = self.config_path();
        let text = serde_json::to_string_pretty(&self.config_json()).expect("config json");
        server::write_file(&config, text);
        let mut args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", self.dir().join("data").display()),
            format!("--web.listen-address={LOCALHOST}:{}", self.port),
            "--web.enable-lifecycle".into(),
            "--web.enable-admin-api".into(),
        ];
        args.extend(self.opts.extra_args.iter().cloned());
        LaunchSpec::new(PROMETHEUS_BIN, args)
    }

    fn probe(&self) -> Probe {
        let url = http::url(&self.url, "/-/ready", &[]);
        http::probe_body(&self.client, url, |t| t.contains("Ready"))
    }
}

/// Runs `promtool check metrics` (the Prometheus project's lint of an
/// exposition: names, suffixes, help, types) on `text`; `Err` holds what
/// it reported. A missing promtool fails with the setup command.
pub fn promtool_check_metrics(text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(crate::tool(PROMTOOL_BIN, "prometheus"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("wait for promtool");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && report.trim().is_empty() {
        Ok(())
    } else {
        Err(report)
    }
}
