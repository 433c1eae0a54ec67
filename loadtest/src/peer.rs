//! The peer: Node-RED (installed by `scripts/setup-node-red.sh`) running
//! `bench/node-red/flow.json` — subscribe to every device topic, parse the
//! five payload formats, map devices to schools from the inventory CSV,
//! batch and write to the same database through node-red-contrib-influxdb.
//! The function node's code is `bench/node-red/parse.js`, inserted here;
//! the flow's `/bench/count` answers how many messages it processed, which
//! the harness polls as it polls the collector's `/metrics`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use testkit::{free_port, ChildProcess};

use crate::collector::{inventory_dir, repo_root};
use crate::servers::{Db, DATABASE};

/// Where `scripts/setup-node-red.sh` installs by default.
pub fn default_dir() -> PathBuf {
    repo_root().join("target/node-red")
}

/// The installed Node-RED version, if `dir` has one.
pub fn installed_version(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("node_modules/node-red/package.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["version"].as_str().map(str::to_string)
}

/// The flow with the function node's code filled in from parse.js.
pub fn flow_json() -> anyhow::Result<String> {
    let bench = repo_root().join("bench/node-red");
    let mut flow: Value = serde_json::from_str(&std::fs::read_to_string(bench.join("flow.json"))?)?;
    let code = std::fs::read_to_string(bench.join("parse.js"))?;
    let node = flow
        .as_array_mut()
        .and_then(|nodes| nodes.iter_mut().find(|n| n["id"] == "bench-parse"))
        .context("flow.json has no node bench-parse")?;
    node["func"] = Value::String(code);
    Ok(serde_json::to_string_pretty(&flow)?)
}

/// A running Node-RED with the bench flow.
pub struct NodeRed {
    process: ChildProcess,
    url: String,
    http: reqwest::Client,
    _user_dir: tempfile::TempDir,
}

impl NodeRed {
    /// Starts Node-RED from `dir` and waits until its MQTT node is
    /// connected (and so subscribed).
    pub async fn start(dir: &Path, broker_url: &str, qos: u8, db: &Db) -> anyhow::Result<NodeRed> {
        let red = dir.join("node_modules/node-red/red.js");
        if !red.is_file() {
            bail!("{} not found: run scripts/setup-node-red.sh", red.display());
        }
        let user_dir = tempfile::tempdir()?;
        std::fs::write(user_dir.path().join("flows.json"), flow_json()?)?;
        let port = free_port();
        let mqtt_port = broker_url.rsplit(':').next().context("broker URL")?;
        let settings = repo_root().join("bench/node-red/settings.js");
        let process = ChildProcess::builder("node")
            .name("node-red")
            .arg(&red)
            .arg("--settings")
            .arg(&settings)
            .arg("--userDir")
            .arg(user_dir.path())
            .env("NODE_RED_PORT", port.to_string())
            .env("SCHOOLNET_INVENTORY", inventory_dir())
            .env("MQTT_PORT", mqtt_port)
            .env("MQTT_QOS", qos.to_string())
            .env("DB_PORT", db.port().to_string())
            .env("DB_NAME", DATABASE)
            .spawn();
        let nr = NodeRed {
            process,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            _user_dir: user_dir,
        };
        let start = Instant::now();
        loop {
            if let Ok(c) = nr.counters().await {
                if c["mqtt"]
                    .as_str()
                    .is_some_and(|s| s.contains("connected") && !s.contains("dis"))
                {
                    break;
                }
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!(
                    "Node-RED not connected to the broker within 60 s:\n{}",
                    nr.process.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The subscription follows the connection; give it a moment.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(nr)
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    async fn counters(&self) -> anyhow::Result<Value> {
        let url = format!("{}/bench/count", self.url);
        Ok(self
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Messages the flow's function node has processed.
    pub async fn processed(&self) -> anyhow::Result<u64> {
        self.counters().await?["processed"]
            .as_u64()
            .context("/bench/count: no `processed`")
    }

    pub async fn stop(mut self) {
        self.process.kill(testkit::signal::SIGTERM);
        let _ = self.process.wait_exit(Duration::from_secs(10)).await;
    }
}
