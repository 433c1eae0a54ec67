//! The page's three walkthroughs end to end on real servers: mosquitto with
//! the page's users and ACL ([`super::acl::guide_broker`]), `schoolnet run`
//! logged in as the collector's user and reloaded (SIGHUP) onto the sample
//! inventory plus the page's rows, InfluxDB 1.x. Each device publishes what
//! its shipped config publishes, under its broker user, on the page's
//! topic; then the page's checks: the school `up` in `/api/schools`, the
//! metric of every Grafana panel the walkthrough names in `/metrics` for the
//! device, and its points in InfluxDB under the school.
//!
//! - OpenWrt: the real collectd running deploy/devices/openwrt/collectd.conf
//!   with exactly the changes of the page's table;
//! - MikroTik: the shipped script's message (the fixture tests/e2e/routeros.rs
//!   checks against the script) on the script's topic;
//! - SNMP: Telegraf's README output (the field corpus) as the shipped
//!   telegraf.conf publishes it: the agent's id as `agent_host` and topic,
//!   the current time.

use super::acl::{guide_broker, password, publish_as, COLLECTOR_USER};
use super::{block, page, panels, section, PAGE};
use crate::routeros::{fixture, script_topic};
use crate::support::{Collector, BIN, ROOT};

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use testkit::{signal, wait_until, Collectd, InfluxDb1, Mosquitto};

const OPENWRT: &str = "OpenWrt: collectd";
const MIKROTIK: &str = "MikroTik: RouterOS script";
const SNMP: &str = "SNMP-only router: Telegraf";

/// `text` with `from` (present exactly once) replaced by `to`.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "one `{from}` in the shipped config"
    );
    text.replace(from, to)
}

/// The shipped collectd.conf changed as the page's OpenWrt table says, for
/// router `device` with broker password `pw` (the ping target: this host).
pub(super) fn openwrt_config(broker: &Mosquitto, device: &str, pw: &str) -> String {
    let shipped =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/devices/openwrt/collectd.conf"))
            .unwrap();
    [
        ("Hostname \"rtr-nx-001\"", format!("Hostname \"{device}\"")),
        ("Host \"192.0.2.1\"", "Host \"127.0.0.1\"".to_string()),
        (
            "Host \"mqtt.schoolnet.example\"",
            "Host \"127.0.0.1\"".to_string(),
        ),
        ("Port \"1883\"", format!("Port \"{}\"", broker.port)),
        (
            "ClientId \"collectd-rtr-nx-001\"",
            format!("ClientId \"collectd-{device}\""),
        ),
        ("# User \"rtr-nx-001\"", format!("User \"{device}\"")),
        ("# Password \"...\"", format!("Password \"{pw}\"")),
    ]
    .iter()
    .fold(shipped, |conf, (from, to)| substitute(&conf, from, to))
}

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
    async fn assert_connected(&self, heading: &str, school: &str, device: &str, influxql: &str) {
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

#[tokio::test(flavor = "multi_thread")]
async fn openwrt_walkthrough_real_collectd_turns_its_school_green() {
    let lab = Lab::start().await;
    // Every line the page's table changes is in the shipped file.
    let shipped =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/devices/openwrt/collectd.conf"))
            .unwrap();
    let table_lines: Vec<String> = section(OPENWRT)
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| super::code_spans(l.split('|').nth(1).unwrap()))
        .collect();
    assert!(table_lines.len() >= 7, "the page's collectd.conf table");
    for line in &table_lines {
        assert!(
            shipped.contains(line.as_str()),
            "{PAGE}: `{line}` is not in the shipped collectd.conf"
        );
    }
    let _collectd = Collectd::builder()
        .device_config(openwrt_config(
            &lab.broker,
            "rtr-nx-217",
            &password("rtr-nx-217"),
        ))
        .start()
        .await;
    lab.assert_connected(
        OPENWRT,
        "NX-217",
        "rtr-nx-217",
        "SELECT count(cpu_ratio) FROM system WHERE school = 'NX-217' AND device = 'rtr-nx-217'",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mikrotik_walkthrough_script_message_turns_its_school_green() {
    let lab = Lab::start().await;
    let topic = script_topic("rtr-nx-218");
    assert!(
        section(MIKROTIK).contains(&format!("{topic} {{")),
        "{PAGE} shows the message on {topic}"
    );
    let out = publish_as(
        &lab.broker,
        "rtr-nx-218",
        &password("rtr-nx-218"),
        &topic,
        &fixture("schoolnet-system.json"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.assert_connected(
        MIKROTIK,
        "NX-218",
        "rtr-nx-218",
        "SELECT count(cpu_ratio) FROM system WHERE school = 'NX-218' AND device = 'rtr-nx-218'",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn snmp_walkthrough_telegraf_rows_turn_their_school_green() {
    let lab = Lab::start().await;
    let text = section(SNMP);
    // The agent the page configures, and the shipped SNMP output's topic.
    let agent = text
        .split("agents = [\"udp://")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .expect("the page's agents line");
    let conf: toml::Value = toml::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("deploy/devices/telegraf/telegraf.conf"))
            .unwrap(),
    )
    .unwrap();
    let template = conf["outputs"]["mqtt"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o.get("tagpass").is_some())
        .and_then(|o| o["topic"].as_str())
        .expect("the shipped SNMP output");
    assert_eq!(
        template,
        "telegraf/{{ .Tag \"agent_host\" }}/{{ .PluginName }}"
    );
    assert!(
        text.contains(template),
        "{PAGE} shows the shipped topic template"
    );
    let poller = "telegraf-poller-nx";

    let corpus = Path::new(ROOT).join("collector/tests/corpus/telegraf/docs-snmp");
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "payload"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "the scalar row and three interface rows");
    for payload_file in files {
        let recorded_topic = std::fs::read_to_string(payload_file.with_extension("topic")).unwrap();
        let name = recorded_topic.trim().rsplit('/').next().unwrap();
        let line = std::fs::read_to_string(&payload_file).unwrap();
        let (body, recorded_ns) = line.trim_end().rsplit_once(' ').unwrap();
        assert!(recorded_ns.parse::<u64>().is_ok(), "{line}");
        let payload = format!(
            "{} {now_ns}\n",
            substitute(body, "agent_host=127.0.0.1", &format!("agent_host={agent}"))
        );
        let topic = format!("telegraf/{agent}/{name}");
        let out = publish_as(&lab.broker, poller, &password(poller), &topic, &payload);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    lab.assert_connected(
        SNMP,
        "NX-219",
        agent,
        &format!(
            "SELECT count(rx_bytes) FROM interface WHERE school = 'NX-219' AND device = '{agent}'"
        ),
    )
    .await;
}
