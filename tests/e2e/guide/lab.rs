//! The walkthroughs' setup ([`Lab`]): mosquitto with the page's users and
//! ACL ([`super::acl::guide_broker`]), InfluxDB 1.x, `schoolnet run` logged
//! in as the collector's user on the sample inventory, then the page's
//! step 1 (its rows appended, its `check-config` line, SIGHUP); and the
//! page's checks 2 to 4 for one device ([`Lab::assert_connected`]).

use super::acl::{guide_broker, password, COLLECTOR_USER};
use super::{block, page, panels, section, PAGE};
use crate::support::{Collector, BIN, ROOT};

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use testkit::{signal, wait_until, InfluxDb1, Mosquitto};

/// The config path the page's commands use.
const PAGE_CONFIG: &str = "/etc/schoolnet/schoolnet.toml";

/// The arguments of the page's `schoolnet <command> …` line (in a fenced
/// block), with `page_path` replaced by `path`.
fn page_command(command: &str, page_path: &str, path: &str) -> Vec<String> {
    let prefix = format!("schoolnet {command} ");
    let line = page()
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{PAGE} shows `{prefix}…`"))
        .to_string();
    let args: Vec<String> = line
        .split_whitespace()
        .skip(1)
        .take_while(|w| !w.starts_with('#'))
        .map(|w| {
            if w == page_path {
                path.to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    assert!(args.iter().any(|a| a == path), "`{line}` names {page_path}");
    args
}

/// The servers of one walkthrough, with the page's step 1 done.
pub(super) struct Lab {
    pub(super) broker: Mosquitto,
    influx: InfluxDb1,
    pub(super) collector: Collector,
    _broker_files: tempfile::TempDir,
    _inventory: tempfile::TempDir,
}

fn append(path: &Path, rows: &str) {
    let mut text = std::fs::read_to_string(path).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(rows.trim_end());
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

impl Lab {
    /// The broker of the page, InfluxDB, `schoolnet run` on the sample
    /// inventory; then step 1: the page's rows appended, `check-config`,
    /// SIGHUP, and the new schools listed as `unknown`.
    pub(super) async fn start() -> Lab {
        let (broker, broker_files) = guide_broker(false).await;
        let influx = InfluxDb1::start().await;
        influx.create_database("schoolnet").await;
        let inventory = tempfile::tempdir().unwrap();
        for f in ["schools.csv", "devices.csv"] {
            std::fs::copy(
                Path::new(ROOT).join("deploy/inventory").join(f),
                inventory.path().join(f),
            )
            .unwrap();
        }
        let collector_pw = password(COLLECTOR_USER);
        let mut collector = Collector::start_with_env(
            &broker.url,
            Some(inventory.path()),
            &format!(
                "[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\n",
                influx.url
            ),
            &[("SCHOOLNET_MQTT__USERNAME", COLLECTOR_USER), ("SCHOOLNET_MQTT_PASSWORD", &collector_pw)],
        )
        .await;

        append(&inventory.path().join("schools.csv"), &block("schools.csv"));
        append(&inventory.path().join("devices.csv"), &block("devices.csv"));
        // The page's own check-config line, on this config.
        let config = collector.config_path();
        let args = page_command("check-config", PAGE_CONFIG, config.to_str().unwrap());
        let check = std::process::Command::new(BIN)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "schoolnet {} with the page's rows: {}",
            args.join(" "),
            String::from_utf8_lossy(&check.stderr)
        );
        collector.kill(signal::SIGHUP);
        wait_until(
            "the reload with the page's rows",
            Duration::from_secs(20),
            || {
                let c = &collector;
                async move {
                    let n = c
                        .metric_sum("schoolnet_config_reloads_total", &["result=\"ok\""])
                        .await;
                    if n >= 1.0 {
                        Ok(())
                    } else {
                        Err(format!("{n} successful reloads"))
                    }
                }
            },
        )
        .await;
        let lab = Lab {
            broker,
            influx,
            collector,
            _broker_files: broker_files,
            _inventory: inventory,
        };
        for id in ["NX-217", "NX-218", "NX-219"] {
            assert_eq!(
                lab.school(id).await["state"],
                "unknown",
                "{id} listed, grey, after the reload"
            );
        }
        lab
    }

    pub(super) async fn school(&self, id: &str) -> Value {
        let schools: Value = reqwest::get(format!("{}/api/schools", self.collector.exporter))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        schools
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in /api/schools"))
            .clone()
    }

    /// Checks 3, 2 and 4 of the page (and the history): `school` up, every
    /// panel metric of the walkthrough `heading` in `/metrics` for `device`,
    /// and `influxql` counting at least one point.
    pub(super) async fn assert_connected(
        &self,
        heading: &str,
        school: &str,
        device: &str,
        influxql: &str,
    ) {
        wait_until(
            &format!("{school} up in /api/schools"),
            Duration::from_secs(60),
            || async move {
                let s = self.school(school).await;
                if s["state"] == "up" && s["up"] == true {
                    Ok(())
                } else {
                    Err(format!(
                        "{s}\ndead letters: {}",
                        self.collector.dead_letters().await
                    ))
                }
            },
        )
        .await;
        let named = panels(&section(heading));
        assert!(!named.is_empty(), "{PAGE}: {heading} names Grafana panels");
        let label = format!("device=\"{device}\"");
        wait_until(
            &format!("the panel metrics of {device}"),
            Duration::from_secs(45),
            || {
                let (named, label) = (&named, &label);
                async move {
                    let metrics = self.collector.metrics().await;
                    let missing: Vec<&str> = named
                        .iter()
                        .map(|(_, m)| m.as_str())
                        .filter(|m| {
                            !metrics.lines().any(|l| {
                                l.starts_with(&format!("{m}{{")) && l.contains(label.as_str())
                            })
                        })
                        .collect();
                    if missing.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("missing {missing:?}"))
                    }
                }
            },
        )
        .await;
        wait_until(
            &format!("{school} in InfluxDB"),
            Duration::from_secs(20),
            || async move {
                let n = self.influx.count("schoolnet", influxql).await;
                if n >= 1 {
                    Ok(())
                } else {
                    Err(format!("{influxql}: {n}"))
                }
            },
        )
        .await;
    }
}
