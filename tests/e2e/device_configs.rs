//! The device configs shipped in deploy/devices/ against the built-in routes:
//! - the Telegraf config (parsed with `toml`): every metric its inputs
//!   produce goes to exactly one `outputs.mqtt`, whose topic template and
//!   `data_format` land on a built-in route that maps the metric to the
//!   device the topic names;
//! - the ONT/SFP poller script, run for real against mosquitto and
//!   `schoolnet run`: its reading arrives in InfluxDB through `ont-optical`.
//!
//! The shipped OpenWrt collectd.conf runs verbatim in tests/e2e/collectd.rs.

use crate::support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use collector::config::{compile_routes, default_routes};
use collector::decode::{decode, DecodeContext, Decoded};
use support::{Collector, ROOT};
use testkit::{tool, wait_until, InfluxDb1, Mosquitto};
use toml::Value;

fn shipped(path: &str) -> PathBuf {
    PathBuf::from(ROOT).join("deploy/devices").join(path)
}

/// A metric as a Telegraf input would produce it.
#[derive(Debug)]
struct Metric {
    name: String,
    tags: BTreeMap<String, String>,
    fields: Vec<(String, String)>,
}

impl Metric {
    /// Telegraf's influx serializer: one line with a trailing newline.
    fn line_protocol(&self) -> String {
        let tags: String = self.tags.iter().map(|(k, v)| format!(",{k}={v}")).collect();
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "{}{tags} {} 1700000000000000000\n",
            self.name,
            fields.join(",")
        )
    }
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn tables(v: Option<&Value>) -> Vec<&toml::Table> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(|t| t.as_table().unwrap()).collect())
        .unwrap_or_default()
}

/// The metrics the config's net, ping and snmp inputs produce, tagged with
/// the agent's `host` as Telegraf does.
fn metrics_of(conf: &Value, host: &str) -> Vec<Metric> {
    let inputs = &conf["inputs"];
    let with_host = |mut tags: BTreeMap<String, String>| {
        tags.insert("host".into(), host.into());
        tags
    };
    let mut out = Vec::new();
    for net in tables(inputs.get("net")) {
        let iface = strs(net.get("interfaces"))
            .into_iter()
            .find(|i| !i.contains('*'))
            .unwrap_or_else(|| "eth0".into());
        out.push(Metric {
            name: "net".into(),
            tags: with_host(BTreeMap::from([("interface".into(), iface)])),
            fields: vec![
                ("bytes_recv".into(), "1000i".into()),
                ("bytes_sent".into(), "2000i".into()),
            ],
        });
    }
    for ping in tables(inputs.get("ping")) {
        for url in strs(ping.get("urls")) {
            out.push(Metric {
                name: "ping".into(),
                tags: with_host(BTreeMap::from([("url".into(), url)])),
                fields: vec![
                    ("average_response_ms".into(), "1.5".into()),
                    ("percent_packet_loss".into(), "0".into()),
                ],
            });
        }
    }
    for snmp in tables(inputs.get("snmp")) {
        for agent in strs(snmp.get("agents")) {
            // udp://name:161 → name: Telegraf's agent_host tag.
            let addr = agent.split("://").last().unwrap();
            let agent_host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_string();
            let mut scalar_tags = BTreeMap::from([("agent_host".to_string(), agent_host.clone())]);
            let mut scalar_fields = Vec::new();
            for f in tables(snmp.get("field")) {
                let name = f["name"].as_str().unwrap().to_string();
                if f.get("is_tag").and_then(Value::as_bool) == Some(true) {
                    // sysName as the device reports it: its inventory id.
                    scalar_tags.insert(name, agent_host.clone());
                } else {
                    scalar_fields.push((name, "123456i".to_string()));
                }
            }
            for t in tables(snmp.get("table")) {
                let mut tags = BTreeMap::from([("agent_host".to_string(), agent_host.clone())]);
                for inherit in strs(t.get("inherit_tags")) {
                    tags.insert(inherit.clone(), scalar_tags[&inherit].clone());
                }
                let mut fields = Vec::new();
                for f in tables(t.get("field")) {
                    let name = f["name"].as_str().unwrap().to_string();
                    if f.get("is_tag").and_then(Value::as_bool) == Some(true) {
                        tags.insert(name, "ether1".into());
                    } else {
                        fields.push((name, "1i".to_string()));
                    }
                }
                out.push(Metric {
                    name: t["name"].as_str().unwrap().to_string(),
                    tags: with_host(tags),
                    fields,
                });
            }
            out.push(Metric {
                name: snmp
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("snmp")
                    .to_string(),
                tags: with_host(scalar_tags),
                fields: scalar_fields,
            });
        }
    }
    out
}

/// Telegraf's tag filters as used here: `"*"` (any value) or a literal.
fn tag_filter_matches(filter: Option<&Value>, m: &Metric) -> bool {
    let Some(filter) = filter.and_then(Value::as_table) else {
        return false;
    };
    filter.iter().any(|(key, patterns)| {
        m.tags.get(key).is_some_and(|v| {
            strs(Some(patterns)).iter().any(|p| {
                assert!(
                    p == "*" || !p.contains(['*', '?', '[']),
                    "glob {p} not modelled"
                );
                p == "*" || p == v
            })
        })
    })
}

fn accepts(output: &toml::Table, m: &Metric) -> bool {
    let pass = output.get("tagpass");
    (pass.is_none() || tag_filter_matches(pass, m)) && !tag_filter_matches(output.get("tagdrop"), m)
}

/// The topic Telegraf's outputs.mqtt renders from its `topic` template:
/// `{{ .Hostname }}`, `{{ .PluginName }}`, `{{ .Tag "key" }}`, with empty
/// levels dropped (topic_name_generator.go).
fn render_topic(template: &str, hostname: &str, m: &Metric) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed placeholder") + start;
        let expr = rest[start + 2..end].trim();
        let value = match expr {
            ".Hostname" => hostname.to_string(),
            ".PluginName" => m.name.clone(),
            tag if tag.starts_with(".Tag ") => {
                let key = tag[5..].trim().trim_matches('"');
                m.tags.get(key).cloned().unwrap_or_default()
            }
            other => panic!("topic placeholder {other} not modelled"),
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out.split('/')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn telegraf_config_topics_and_format_land_on_built_in_routes() {
    let text = std::fs::read_to_string(shipped("telegraf/telegraf.conf")).unwrap();
    let conf: Value = toml::from_str(&text).expect("telegraf.conf is TOML");
    let hostname = conf["agent"]["hostname"].as_str().expect("agent.hostname");
    let outputs = tables(conf["outputs"].get("mqtt"));
    assert!(!outputs.is_empty(), "outputs.mqtt");
    let routes = compile_routes(&default_routes()).unwrap();
    let metrics = metrics_of(&conf, hostname);
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    for input in ["net", "ping", "interface", "snmp"] {
        assert!(
            names.contains(&input),
            "the config produces {input}: {names:?}"
        );
    }

    for m in &metrics {
        let chosen: Vec<&&toml::Table> = outputs.iter().filter(|o| accepts(o, m)).collect();
        assert_eq!(chosen.len(), 1, "{} goes to exactly one output", m.name);
        let output = chosen[0];
        assert!(
            output.get("qos").and_then(Value::as_integer).unwrap_or(2) >= 1,
            "QoS 1 or 2: schoolnet acknowledges after the spool"
        );
        let topic = render_topic(output["topic"].as_str().unwrap(), hostname, m);
        let (route, vars) = routes
            .find(&topic)
            .unwrap_or_else(|| panic!("{}: topic {topic} has no built-in route", m.name));
        let data_format = output
            .get("data_format")
            .and_then(Value::as_str)
            .unwrap_or("influx");
        let want = match data_format {
            "influx" => "influx",
            "json" => "telegraf-json",
            other => panic!("data_format {other} has no schoolnet format"),
        };
        assert_eq!(
            route.format.name(),
            want,
            "{}: {topic} → route {}",
            m.name,
            route.name
        );

        // The route maps what arrives there, for the device the topic names.
        let payload = m.line_protocol();
        let ctx = DecodeContext {
            vars: &vars,
            counter_width: route.counter_width,
        };
        let decoded = decode(&route.format, ctx, payload.as_bytes())
            .unwrap_or_else(|e| panic!("{topic}: {payload:?} rejected: {e:?}"));
        let Decoded::Observations(obs) = decoded else {
            panic!("{topic}: {payload:?} not mapped: {decoded:?}");
        };
        let device = vars.get("device").unwrap();
        assert!(obs.iter().all(|o| o.device == device), "{topic}: {obs:?}");
        if m.tags.contains_key("agent_host") {
            assert_eq!(
                device, m.tags["agent_host"],
                "SNMP metrics under the polled device"
            );
        } else {
            assert_eq!(device, hostname, "own metrics under the agent's hostname");
        }
    }
}

/// The ONT/SFP poller, run as shipped on its sample `ethtool -m` output,
/// publishes a reading that `schoolnet run` stores via `ont-optical`.
#[tokio::test(flavor = "multi_thread")]
async fn ont_poller_output_lands_on_the_optical_route() {
    tool("/usr/bin/mosquitto_pub", "mosquitto-clients");
    let broker = Mosquitto::start().await;
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    let _collector = Collector::start(
        &broker.url,
        None, // sample inventory: ont-nx-001 is NX-001's ONT
        &format!(
            "[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\n",
            influx.url
        ),
    )
    .await;
    let out = std::process::Command::new("sh")
        .arg(shipped("ont-poller/ont-poller.sh"))
        .env("DEVICE", "ont-nx-001")
        .env("MQTT_HOST", "127.0.0.1")
        .env("MQTT_PORT", broker.port.to_string())
        .env("ETHTOOL_OUTPUT", shipped("ont-poller/sample-ethtool-m.txt"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ont-poller.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let q = "SELECT rx_dbm, tx_dbm, temperature_c, voltage_v, bias_ma FROM optical \
             WHERE device = 'ont-nx-001' AND school = 'NX-001'";
    let row = wait_until(
        "the poller's reading in InfluxDB",
        Duration::from_secs(20),
        || {
            let influx = &influx;
            async move {
                let body = influx.query("schoolnet", q).await;
                match body["results"][0]["series"][0]["values"][0].as_array() {
                    Some(row) => Ok(row.clone()),
                    None => Err("no optical point yet".to_string()),
                }
            }
        },
    )
    .await;
    let values: Vec<f64> = row[1..].iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(values, vec![-16.99, 3.0, 47.25, 3.294, 12.34]);
}
