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
fn unknown_keys_name_file_line_column_and_the_nearest_key() {
    let err = parse(&format!("{MINIMAL}[mqtt]\nurll = \"x\"\n"), &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "unknown key `mqtt.urll` in test.toml line 5, column 1, did you mean `url`?"
    );
    let err = parse(
        &format!("{MINIMAL}\n[exporter]\nlisten = \"0.0.0.0:9740\"\n  stale_facter = 3\n"),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "unknown key `exporter.stale_facter` in test.toml line 7, column 3, did you mean `stale_factor`?"
    );
}

#[test]
fn unknown_sections_and_keys_without_a_near_match_list_what_there_is() {
    let err = parse(&format!("{MINIMAL}[mqt]\nurl = \"x\"\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("unknown key `mqt` in test.toml line 4, column 2, did you mean `mqtt`?"),
        "{err}"
    );
    let err = parse(&format!("{MINIMAL}[limits]\ncolour = 1\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown key `limits.colour` in test.toml line 5")
            && err.contains("known keys here: `max_payload_bytes`"),
        "{err}"
    );
}

#[test]
fn unknown_keys_in_arrays_of_tables_name_the_element() {
    let text = format!(
        "{MINIMAL}[[routes]]\nname = \"a\"\npattern = \"a/{{device}}\"\nformat = \"value\"\nfield = \"probe.rtt_s\"\n\n\
         [[routes]]\nname = \"b\"\npatern = \"b/{{device}}\"\n"
    );
    let err = parse(&text, &[]).unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown key `routes[1].patern` in test.toml line 12, column 1, did you mean `pattern`?"
    );
}

#[test]
fn type_errors_in_the_file_name_key_line_and_column() {
    let err = parse(&format!("{MINIMAL}[mqtt]\nqos = \"high\"\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("test.toml line 5, column 7: `mqtt.qos`: invalid type"),
        "{err}"
    );
}

#[test]
fn a_missing_section_or_key_is_named() {
    let err = parse("[mqtt]\nurl = \"mqtt://x:1883\"\n", &[])
        .unwrap_err()
        .to_string();
    assert_eq!(err, "test.toml: missing field `inventory`");
    let err = parse(&format!("{MINIMAL}\n[[routes]]\nname = \"x\"\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("test.toml line 5, column 1: `routes[0]`: missing field"),
        "{err}"
    );
}

#[test]
fn syntax_errors_name_line_and_column() {
    let err = parse(&format!("{MINIMAL}[mqtt\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("test.toml line 4, column "), "{err}");
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
fn env_override_with_bad_type_names_the_variable_not_the_file() {
    let err = parse(MINIMAL, &[("SCHOOLNET_MQTT__QOS", "high")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("environment variable SCHOOLNET_MQTT__QOS: `mqtt.qos`: invalid type"),
        "{err}"
    );
    assert!(!err.contains("test.toml"), "{err}");
}

#[test]
fn env_override_of_an_unknown_key_names_the_variable_and_the_nearest_key() {
    let err = parse(MINIMAL, &[("SCHOOLNET_EXPORTER__STALE_FACTER", "3")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "environment variable SCHOOLNET_EXPORTER__STALE_FACTER: unknown key \
         `exporter.stale_facter`, did you mean `stale_factor`?"
    );
    let err = parse(MINIMAL, &[("SCHOOLNET_MQQT__URL", "mqtt://x:1883")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("environment variable SCHOOLNET_MQQT__URL: unknown key `mqqt`"),
        "{err}"
    );
}

#[test]
fn checks_of_values_the_environment_set_name_the_variable() {
    let with_influx = format!("{MINIMAL}[influx]\nurl = \"http://influx:8086\"\n");
    let c = parse(&with_influx, &[("SCHOOLNET_INFLUX__URL", "influx:8086")]).unwrap();
    assert_eq!(
        c.env_overrides.var_for("influx.url"),
        Some("SCHOOLNET_INFLUX__URL")
    );
    let err = c.validate().unwrap_err().to_string();
    assert!(
        err.starts_with(
            "environment variable SCHOOLNET_INFLUX__URL: `influx:8086` must start with http://"
        ) && err.ends_with("(it sets `influx.url`)"),
        "{err}"
    );
    // The same bad value in the file is the file's: named by its key.
    let c = parse(&format!("{MINIMAL}[influx]\nurl = \"influx:8086\"\n"), &[]).unwrap();
    let err = c.validate().unwrap_err().to_string();
    assert!(err.starts_with("`influx.url`"), "{err}");
}

#[test]
fn an_override_below_a_scalar_names_the_variable() {
    let err = parse(MINIMAL, &[("SCHOOLNET_INVENTORY__SCHOOLS__X", "1")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "environment variable SCHOOLNET_INVENTORY__SCHOOLS__X: `schools` is not a section"
        ),
        "{err}"
    );
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
