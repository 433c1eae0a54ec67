//! The real servers of a measurement, from testkit: a mosquitto broker tuned
//! for load (and how), and the database the collector (or Node-RED) writes
//! to, with the one query the latency probe needs.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;
use testkit::{InfluxDb1, Mosquitto, VictoriaMetrics};

/// The broker settings every measurement uses, reported with the results.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct BrokerTuning {
    /// `max_inflight_messages`: unacknowledged QoS 1 messages in flight to
    /// one subscriber (mosquitto's default is 20).
    pub max_inflight_messages: u32,
}

impl BrokerTuning {
    pub fn describe(&self) -> String {
        format!(
            "mosquitto {}, max_inflight_messages {}, max_queued_messages 0 (unbounded), persistence off",
            mosquitto_version(),
            self.max_inflight_messages
        )
    }
}

/// A fresh broker: no retained messages or sessions left from an earlier
/// measurement. Queues are unbounded so that a consumer slower than the
/// simulator is measured, not cut off.
pub async fn broker(tuning: BrokerTuning) -> Mosquitto {
    Mosquitto::builder()
        .max_queued_messages(0)
        .config_line(format!(
            "max_inflight_messages {}",
            tuning.max_inflight_messages
        ))
        .start()
        .await
}

/// `mosquitto -h` prints its version on the first line.
fn mosquitto_version() -> String {
    std::process::Command::new(testkit::MOSQUITTO_BIN)
        .arg("-h")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            text.split_whitespace()
                .skip_while(|w| *w != "version")
                .nth(1)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".into())
}

/// Which database history goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum DbKind {
    /// VictoriaMetrics single-node, InfluxDB v2 write API.
    Victoria,
    /// InfluxDB 1.x, v1 write API.
    Influxdb,
}

/// The database every writer in a measurement writes to.
pub enum Db {
    Victoria(VictoriaMetrics),
    Influx(InfluxDb1),
}

pub const DATABASE: &str = "schoolnet";

impl Db {
    pub async fn start(kind: DbKind) -> Db {
        match kind {
            DbKind::Victoria => Db::Victoria(VictoriaMetrics::start().await),
            DbKind::Influxdb => {
                let db = InfluxDb1::start().await;
                db.create_database(DATABASE).await;
                Db::Influx(db)
            }
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Db::Victoria(_) => "VictoriaMetrics 1.79 (v2 write API)",
            Db::Influx(_) => "InfluxDB 1.x (v1 write API)",
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match self {
            Db::Victoria(v) => v.pid(),
            Db::Influx(i) => i.pid(),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            Db::Victoria(v) => v.port,
            Db::Influx(i) => i.port,
        }
    }

    /// The collector's `[influx]` section for this database (defaults for
    /// batching, as shipped).
    pub fn influx_section(&self) -> String {
        match self {
            Db::Victoria(v) => format!(
                "[influx]\nurl = \"{}\"\napi = \"v2\"\norg = \"schoolnet\"\nbucket = \"{DATABASE}\"\n",
                v.url
            ),
            Db::Influx(i) => format!(
                "[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"{DATABASE}\"\n",
                i.url
            ),
        }
    }

    /// The newest `rtt_s` of the `probe` series with tag `target`, as the
    /// database answers a query now.
    pub async fn latest_probe_rtt(
        &self,
        http: &reqwest::Client,
        target: &str,
    ) -> anyhow::Result<Option<f64>> {
        match self {
            Db::Influx(i) => {
                let q =
                    format!("SELECT last(\"rtt_s\") FROM \"probe\" WHERE \"target\" = '{target}'");
                let url = reqwest::Url::parse_with_params(
                    &format!("{}/query", i.url),
                    &[("db", DATABASE), ("q", q.as_str())],
                )?;
                let body: Value = http
                    .get(url)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await?
                    .json()
                    .await?;
                Ok(body["results"][0]["series"][0]["values"][0][1].as_f64())
            }
            Db::Victoria(v) => {
                let sel = format!("probe_rtt_s{{target=\"{target}\"}}");
                let url = reqwest::Url::parse_with_params(
                    &format!("{}/api/v1/export", v.url),
                    &[("match[]", sel.as_str())],
                )?;
                let text = http
                    .get(url)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await?
                    .text()
                    .await?;
                let mut newest: Option<(i64, f64)> = None;
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let s: Value = serde_json::from_str(line).context("VM export line")?;
                    let (Some(ts), Some(vs)) = (s["timestamps"].as_array(), s["values"].as_array())
                    else {
                        bail!("VM export: no timestamps/values in {line}");
                    };
                    for (t, v) in ts.iter().zip(vs) {
                        if let (Some(t), Some(v)) = (t.as_i64(), v.as_f64()) {
                            if newest.is_none_or(|(nt, _)| t > nt) {
                                newest = Some((t, v));
                            }
                        }
                    }
                }
                Ok(newest.map(|(_, v)| v))
            }
        }
    }
}
