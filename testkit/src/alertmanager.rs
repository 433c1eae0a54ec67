//! A real Prometheus Alertmanager (Debian package `prometheus-alertmanager`)
//! with a config given by the test, clustering off, on a free loopback port.

use std::time::Duration;

use reqwest::{Client, Method};
use serde_json::Value;

use crate::http;
use crate::server::{self, server_methods, Core, LaunchSpec, Launchable, Probe};
use crate::{free_port, require_binary, LOCALHOST};

/// The server binary (Debian package `prometheus-alertmanager`, 0.25).
pub const ALERTMANAGER_BIN: &str = "/usr/bin/prometheus-alertmanager";
/// Its config checker, from the same package.
pub const AMTOOL_BIN: &str = "/usr/bin/amtool";

/// A running Alertmanager; `url` is `http://127.0.0.1:<port>`.
pub struct Alertmanager {
    pub port: u16,
    pub url: String,
    opts: AlertmanagerBuilder,
    client: Client,
    core: Core,
}

/// Options for [`Alertmanager`]; from [`Alertmanager::builder`].
#[derive(Clone, Debug)]
pub struct AlertmanagerBuilder {
    config: String,
    startup_timeout: Duration,
}

impl Default for AlertmanagerBuilder {
    fn default() -> Self {
        AlertmanagerBuilder {
            config: "route:\n  receiver: none\nreceivers:\n  - name: none\n".into(),
            startup_timeout: server::DEFAULT_STARTUP_TIMEOUT,
        }
    }
}

impl AlertmanagerBuilder {
    /// The whole `alertmanager.yml` text.
    pub fn config(mut self, yaml: impl Into<String>) -> Self {
        self.config = yaml.into();
        self
    }

    /// Starts Alertmanager and waits until `GET /-/ready` answers 200.
    pub async fn start(self) -> Alertmanager {
        require_binary(ALERTMANAGER_BIN, "prometheus-alertmanager");
        server::start_new(Alertmanager {
            port: 0,
            url: String::new(),
            client: http::client(),
            core: Core::new("alertmanager", self.startup_timeout),
            opts: self,
        })
        .await
    }
}

server_methods!(Alertmanager, AlertmanagerBuilder, start_with_defaults);

impl Alertmanager {
    /// `GET /api/v2/alerts`: the alerts Alertmanager currently holds
    /// (active, suppressed by inhibition or silence, with their status).
    pub async fn alerts(&self) -> Vec<Value> {
        let url = http::url(&self.url, "/api/v2/alerts", &[]);
        let (status, body) =
            http::must_send(&self.client, Method::GET, url, None, "alertmanager alerts").await;
        assert_eq!(
            status, 200,
            "testkit: alertmanager alerts: HTTP {status}: {body}"
        );
        serde_json::from_str::<Vec<Value>>(&body).expect("alertmanager alerts JSON")
    }
}

impl Launchable for Alertmanager {
    fn pick_ports(&mut self) {
        self.port = free_port();
        self.url = server::http_url(self.port);
    }

    fn prepare(&mut self) -> LaunchSpec {
        let config = self.dir().join("alertmanager.yml");
        server::write_file(&config, &self.opts.config);
        LaunchSpec::new(
            ALERTMANAGER_BIN,
            vec![
                format!("--config.file={}", config.display()),
                format!("--storage.path={}", self.dir().join("data").display()),
                format!("--web.listen-address={LOCALHOST}:{}", self.port),
                // No gossip: a single test instance must not bind a cluster port.
                "--cluster.listen-address=".into(),
            ],
        )
    }

    fn probe(&self) -> Probe {
        let url = http::url(&self.url, "/-/ready", &[]);
        http::probe_body(&self.client, url, |_| true)
    }
}
