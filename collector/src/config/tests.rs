use std::path::Path;

use super::*;

fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::parse(
        Path::new("test.toml"),
        text,
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

const MINIMAL: &str = "[inventory]\nschools = \"s.csv\"\ndevices = \"d.csv\"\n";

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(MINIMAL, &[]).unwrap();
    assert_eq!(c.mqtt, MqttConfig::default());
    assert!(c.influx.is_none());
    assert!(c.routes.is_empty());
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let err = parse(&format!("{MINIMAL}[mqtt]\nurll = \"x\"\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("urll"), "{err}");
}

#[test]
fn env_overrides_apply_with_types() {
    let c = parse(
        MINIMAL,
        &[
            ("SCHOOLNET_MQTT__URL", "mqtt://broker:1884"),
            ("SCHOOLNET_MQTT__KEEP_ALIVE_S", "45"),
            ("SCHOOLNET_MQTT_PASSWORD", "not-an-override"),
        ],
    )
    .unwrap();
    assert_eq!(c.mqtt.url, "mqtt://broker:1884");
    assert_eq!(c.mqtt.keep_alive_s, 45);
}

#[test]
fn env_override_with_bad_type_names_the_key() {
    let err = parse(MINIMAL, &[("SCHOOLNET_MQTT__QOS", "high")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("qos"), "{err}");
}

#[test]
fn default_routes_compile() {
    let table = routes::compile(&default_routes()).unwrap();
    assert!(table
        .find("collectd/rtr-1/interface-wan/if_octets")
        .is_some());
    assert!(table.find("tele/rtr-1/LWT").is_some());
    assert!(table.filters().contains(&"collectd/+/+/+".to_string()));
}

#[test]
fn route_errors_name_the_route_key() {
    let text = format!(
        "{MINIMAL}[[routes]]\nname = \"x\"\npattern = \"a/{{device}}\"\nformat = \"json\"\nmeasurement = \"optical\"\nfields = {{ rx_power = \"rx\" }}\n"
    );
    let c = parse(&text, &[]).unwrap();
    let err = routes::compile(&c.routes).unwrap_err().to_string();
    assert!(err.contains("routes[0].fields.rx_power"), "{err}");
    assert!(err.contains("rx_dbm"), "known fields listed: {err}");

    let text = format!("{MINIMAL}[[routes]]\nname = \"x\"\npattern = \"a/{{dev}}\"\nformat = \"value\"\nfield = \"probe.rtt_s\"\n");
    let c = parse(&text, &[]).unwrap();
    let err = routes::compile(&c.routes).unwrap_err().to_string();
    assert!(
        err.contains("routes[0].pattern") && err.contains("{device}"),
        "{err}"
    );
}

#[test]
fn validate_names_bad_values() {
    let mut c = parse(MINIMAL, &[]).unwrap();
    c.mqtt.url = "broker:1883".into();
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("mqtt.url"), "{err}");
}

fn route_fields(fields: &str) -> Result<RouteTable, ConfigError> {
    let rc: RouteConfig = toml::from_str(&format!(
        "name = \"r\"\npattern = \"m/{{device}}/s\"\nformat = \"json\"\nmeasurement = \"system\"\n[fields]\n{fields}\n"
    ))
    .map_err(|e| ConfigError::invalid("routes", e.to_string()))?;
    routes::compile(&[rc])
}

#[test]
fn derived_and_optional_fields_compile() {
    route_fields(
        "mem_used_bytes = { difference = [\"total\", \"free\"] }\n\
         mem_total_bytes = { sum = [\"u\", \"f\"], scale = 1024 }\n\
         temperature_c = { path = \"t\", optional = true }\n\
         cpu_ratio = \"cpu\"",
    )
    .unwrap();
}

#[test]
fn bad_field_tables_name_the_field() {
    for (fields, says) in [
        (
            "mem_used_bytes = { difference = [\"total\"] }",
            "at least two",
        ),
        ("mem_used_bytes = { sum = [\"a\", \"\"] }", "at least two"),
        (
            "mem_used_bytes = { path = \"a\", sum = [\"a\", \"b\"] }",
            "exactly one",
        ),
        ("mem_used_bytes = { optional = true }", "exactly one"),
        ("mem_used_bytes = { path = \"a\", scale = 0 }", "scale"),
    ] {
        let err = route_fields(fields).unwrap_err().to_string();
        assert!(
            err.contains("fields.mem_used_bytes") && err.contains(says),
            "{fields}: {err}"
        );
    }
}

/// A misspelt key in a field table is refused (not ignored); serde's
/// untagged error does not name the key, but TOML's message quotes the line.
#[test]
fn unknown_keys_in_a_field_table_are_refused() {
    let err = route_fields("mem_used_bytes = { pth = \"a\" }")
        .unwrap_err()
        .to_string();
    assert!(err.contains("mem_used_bytes = { pth"), "{err}");
}

#[test]
fn influx_max_in_flight_defaults_to_4_and_is_bounded() {
    let with = |v: &str| parse(&format!("{MINIMAL}[influx]\napi = \"v1\"\n{v}"), &[]).unwrap();
    assert_eq!(with("").influx.unwrap().max_in_flight, 4);
    assert_eq!(with("max_in_flight = 1\n").influx.unwrap().max_in_flight, 1);
    // Valid: validation goes on to the (absent) inventory files.
    let err = with("max_in_flight = 64\n")
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("s.csv"), "{err}");
    for bad in ["0", "65"] {
        let err = with(&format!("max_in_flight = {bad}\n"))
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("influx.max_in_flight"), "{bad}: {err}");
        assert!(err.contains("between 1 and 64"), "{bad}: {err}");
    }
}

#[test]
fn grafana_url_is_an_http_base_url() {
    let with = |url: &str| {
        parse(
            &format!("{MINIMAL}[exporter]\ngrafana_url = \"{url}\"\n"),
            &[],
        )
    };
    let c = with("https://grafana.example.net/sub/").unwrap();
    assert_eq!(
        c.exporter.grafana_url.as_deref(),
        Some("https://grafana.example.net/sub/")
    );
    c.exporter.validate().unwrap();
    assert_eq!(parse(MINIMAL, &[]).unwrap().exporter.grafana_url, None);
    for bad in [
        "grafana.example.net",
        "https://g.example.net/?orgId=1",
        "ftp://g",
    ] {
        let err = with(bad)
            .unwrap()
            .exporter
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("exporter.grafana_url"), "{bad}: {err}");
    }
}
