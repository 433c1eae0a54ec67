//! The page's three walkthroughs end to end on real servers (the setup and
//! step 1 in [`super::lab`]). Each device publishes what
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

use super::acl::{password, publish_as};
use super::lab::Lab;
use super::{section, PAGE};
use crate::routeros::{fixture, script_topic};
use crate::support::ROOT;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use testkit::{Collectd, Mosquitto};

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
