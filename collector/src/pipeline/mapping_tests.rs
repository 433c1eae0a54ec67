//! `json` mappings through the real pipeline: configured paths a payload
//! lacks are counted per route and field and make the message `partial`
//! with a dead letter naming them; derived fields fill memory from the
//! pairs RouterOS dialects send; the shipped RouterOS script's payload
//! (deploy/devices/routeros) lands on its built-in route with every field
//! filled; and the message / reject accounting (issue #17 G).

use prometheus::core::Collector;

use super::tests::{harness, Harness};
use super::*;
use crate::config::default_routes;
use crate::sample::Field;

const SCRIPT: &str = include_str!("../../../deploy/devices/routeros/schoolnet-system.rsc");
const SCRIPT_PAYLOAD: &str =
    include_str!("../../../deploy/devices/routeros/fixtures/schoolnet-system.json");
const NO_SENSOR: &str =
    include_str!("../../../deploy/devices/routeros/fixtures/schoolnet-system-no-sensor.json");
const DOCS_EXAMPLE: &str =
    include_str!("../../../deploy/devices/routeros/fixtures/mikrotik-docs-example.json");
const HOME_ASSISTANT: &str =
    include_str!("../../../deploy/devices/routeros/fixtures/home-assistant-system.json");

impl Harness {
    fn missing(&self, route: &str, field: Field) -> u64 {
        self.metrics
            .mapping_missing
            .with_label_values(&[route, field.key()])
            .get()
    }

    /// The fields of the newest sample, as f64.
    fn last_fields(&self) -> Vec<(Field, f64)> {
        let samples = self.live.samples.lock().unwrap();
        let last = samples.last().expect("a sample");
        last.fields.iter().map(|(f, v)| (*f, v.as_f64())).collect()
    }

    fn all_outcomes(&self, route: &str) -> u64 {
        [
            outcome::OK,
            outcome::PARTIAL,
            outcome::IGNORED,
            outcome::REJECTED,
            outcome::NOT_OWNED,
        ]
        .iter()
        .map(|o| self.outcome(route, o))
        .sum()
    }
}

fn value(fields: &[(Field, f64)], field: Field) -> Option<f64> {
    fields.iter().find(|(f, _)| *f == field).map(|(_, v)| *v)
}

/// The JSON keys the script writes into its message, in order: every
/// `\"key\":` in its source.
fn script_keys(script: &str) -> Vec<&str> {
    let mut keys = Vec::new();
    let mut rest = script;
    while let Some(start) = rest.find("\\\"") {
        let after = &rest[start + 2..];
        match after.find("\\\"") {
            Some(end) if after[end + 2..].starts_with(':') => {
                keys.push(&after[..end]);
                rest = &after[end + 2..];
            }
            Some(end) => rest = &after[end + 2..],
            None => break,
        }
    }
    keys
}

/// The topic the script builds, with `{device}` for the device.
fn script_topic(script: &str) -> String {
    let line = script
        .lines()
        .find(|l| l.starts_with(":local topic"))
        .expect("the script sets :local topic");
    let parts: Vec<&str> = line.split('"').collect();
    // :local topic ("mikrotik/" . $device . "/system")
    assert_eq!(parts.len(), 5, "topic line shape: {line}");
    assert!(
        parts[2].contains("$device"),
        "topic names the device: {line}"
    );
    format!("{}{{device}}{}", parts[1], parts[3])
}

fn json_keys(payload: &str) -> Vec<String> {
    // Keys in document order: serde_json's Map would sort them.
    let mut keys = Vec::new();
    let mut de = serde_json::Deserializer::from_str(payload);
    let visitor = KeyOrder(&mut keys);
    serde::Deserializer::deserialize_map(&mut de, visitor).unwrap();
    keys
}

struct KeyOrder<'k>(&'k mut Vec<String>);

impl<'de> serde::de::Visitor<'de> for KeyOrder<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some((k, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
            self.0.push(k);
        }
        Ok(())
    }
}

#[test]
fn the_routeros_script_and_its_fixture_agree_with_the_built_in_route() {
    let keys = script_keys(SCRIPT);
    assert_eq!(
        keys,
        [
            "uptime",
            "cpu-load",
            "free-memory",
            "total-memory",
            "temperature",
            "board-name",
            "version"
        ],
        "the script's keys"
    );
    for fixture in [SCRIPT_PAYLOAD, NO_SENSOR] {
        assert_eq!(json_keys(fixture), keys, "fixture keys = script keys");
    }
    let route = default_routes()
        .into_iter()
        .find(|r| r.name == "mikrotik-system")
        .unwrap();
    assert_eq!(script_topic(SCRIPT), route.pattern);
    assert!(
        SCRIPT.contains("/iot mqtt publish broker=$broker topic=$topic message=$message"),
        "publishes the message with /iot mqtt publish"
    );
    // `/file get … contents` (install.rsc) reads at most 4 KB.
    assert!(SCRIPT.len() < 4096, "{} bytes", SCRIPT.len());
}

#[test]
fn the_routeros_script_payload_fills_every_field() {
    let mut h = harness();
    let topic = script_topic(SCRIPT).replace("{device}", "rtr-001");
    h.send(&topic, SCRIPT_PAYLOAD.trim().as_bytes());
    assert_eq!(h.outcome("mikrotik-system", "ok"), 1);
    let f = h.last_fields();
    assert_eq!(
        value(&f, Field::UptimeS),
        Some(4.0 * 86_400.0 + 22.0 * 3600.0 + 16.0 * 60.0 + 8.0)
    );
    assert_eq!(value(&f, Field::CpuRatio), Some(0.07));
    assert_eq!(value(&f, Field::MemTotalBytes), Some(134_217_728.0));
    assert_eq!(
        value(&f, Field::MemUsedBytes),
        Some(134_217_728.0 - 83_378_176.0)
    );
    assert_eq!(value(&f, Field::SystemTemperatureC), Some(46.0));
    assert_eq!(f.len(), 5, "{f:?}");
    assert_eq!(h.dead.total(), 0);
}

#[test]
fn a_board_without_a_temperature_sensor_is_ok_without_one() {
    let mut h = harness();
    h.send("mikrotik/rtr-001/system", NO_SENSOR.trim().as_bytes());
    assert_eq!(h.outcome("mikrotik-system", "ok"), 1);
    let f = h.last_fields();
    assert_eq!(value(&f, Field::SystemTemperatureC), None);
    assert_eq!(
        value(&f, Field::MemUsedBytes),
        Some(1_073_741_824.0 - 904_372_224.0)
    );
    // The optional temperature absent altogether is not missing either.
    h.send(
        "mikrotik/rtr-001/system",
        br#"{"uptime":"1d00:00:00","cpu-load":1,"free-memory":1,"total-memory":2}"#,
    );
    assert_eq!(h.outcome("mikrotik-system", "ok"), 2);
    assert_eq!(h.missing("mikrotik-system", Field::SystemTemperatureC), 0);
    assert_eq!(h.dead.total(), 0);
}

#[test]
fn mikrotiks_own_example_script_fills_memory_from_used_plus_free() {
    let mut h = harness();
    h.send("mikrotik/rtr-001/short", DOCS_EXAMPLE.trim().as_bytes());
    assert_eq!(h.outcome("mikrotik-short", "ok"), 1);
    let f = h.last_fields();
    assert_eq!(value(&f, Field::CpuRatio), Some(0.04));
    assert_eq!(value(&f, Field::MemUsedBytes), Some(117_788_672.0));
    assert_eq!(value(&f, Field::MemTotalBytes), Some(1_073_741_824.0));
    assert_eq!(
        value(&f, Field::UptimeS),
        Some(15.0 * 86_400.0 + 4.0 * 3600.0 + 12.0 * 60.0 + 9.0)
    );
    assert_eq!(h.dead.total(), 0);
}

/// The field report: a script whose keys differ from the route's was `ok`
/// with only uptime stored. Now each absent path is counted per field, the
/// message is `partial`, and a dead letter names the paths.
#[test]
fn absent_paths_are_counted_per_field_and_make_the_message_partial() {
    let mut h = harness();
    let route = "mikrotik-system";
    h.send(
        "mikrotik/rtr-001/system",
        br#"{"uptime":"1d00:00:00","cpu":5,"freeMemory":1000,"totalMemory":4000}"#,
    );
    assert_eq!(h.outcome(route, "partial"), 1);
    assert_eq!(h.outcome(route, "ok"), 0);
    assert_eq!(value(&h.last_fields(), Field::UptimeS), Some(86_400.0));
    for field in [Field::CpuRatio, Field::MemUsedBytes, Field::MemTotalBytes] {
        assert_eq!(h.missing(route, field), 1, "{field:?}");
    }
    assert_eq!(h.missing(route, Field::UptimeS), 0);
    assert_eq!(h.missing(route, Field::SystemTemperatureC), 0, "optional");
    assert_eq!(h.rejected(route, RejectReason::MissingField), 1);
    let dead = &h.dead.snapshot()[0];
    assert_eq!(dead.reason, "missing_field");
    assert_eq!(dead.topic, "mikrotik/rtr-001/system");
    for named in [
        "cpu_ratio (`cpu-load`)",
        "mem_total_bytes (`total-memory`)",
        "mem_used_bytes (`total-memory`, `free-memory`)",
    ] {
        assert!(dead.detail.contains(named), "{named} in {}", dead.detail);
    }
    // A derived field with one input present names only the absent one.
    h.send(
        "mikrotik/rtr-001/system",
        br#"{"uptime":"1d00:00:01","cpu-load":5,"total-memory":4000}"#,
    );
    assert_eq!(h.outcome(route, "partial"), 2);
    assert_eq!(h.missing(route, Field::MemUsedBytes), 2);
    assert_eq!(h.missing(route, Field::MemTotalBytes), 1);
    let dead = &h.dead.snapshot()[0];
    assert!(
        dead.detail.contains("mem_used_bytes (`free-memory`)"),
        "{}",
        dead.detail
    );
}

/// A Home Assistant script (cpu, ram in percent) on the short-key route:
/// cpu and temperature are stored, the rest is visibly missing.
#[test]
fn another_dialect_on_the_short_route_is_partial_not_silent() {
    let mut h = harness();
    let route = "mikrotik-short";
    h.send("mikrotik/rtr-001/short", HOME_ASSISTANT.trim().as_bytes());
    assert_eq!(h.outcome(route, "partial"), 1);
    let f = h.last_fields();
    assert_eq!(value(&f, Field::CpuRatio), Some(0.03));
    assert_eq!(value(&f, Field::SystemTemperatureC), Some(44.0));
    for field in [Field::UptimeS, Field::MemUsedBytes, Field::MemTotalBytes] {
        assert_eq!(h.missing(route, field), 1, "{field:?}");
    }
    let dead = &h.dead.snapshot()[0];
    assert!(
        dead.detail.contains("mem_total_bytes (`umem`, `fmem`)"),
        "{}",
        dead.detail
    );
}

#[test]
fn no_mapped_path_at_all_is_rejected_and_still_counted_per_field() {
    let mut h = harness();
    let route = "mikrotik-system";
    h.send("mikrotik/rtr-001/system", br#"{"identity":"x"}"#);
    assert_eq!(h.outcome(route, "rejected"), 1);
    assert_eq!(h.rejected(route, RejectReason::NoUsableValues), 1);
    assert_eq!(h.rejected(route, RejectReason::MissingField), 0);
    assert_eq!(h.dead.total(), 1, "one dead letter, naming the paths");
    assert!(h.dead.snapshot()[0].detail.contains("cpu-load"));
    for field in [
        Field::UptimeS,
        Field::CpuRatio,
        Field::MemUsedBytes,
        Field::MemTotalBytes,
    ] {
        assert_eq!(h.missing(route, field), 1, "{field:?}");
    }
}

#[test]
fn a_negative_difference_is_rejected_naming_both_paths() {
    let mut h = harness();
    h.send(
        "mikrotik/rtr-001/system",
        br#"{"uptime":"1","cpu-load":5,"free-memory":5000,"total-memory":4000}"#,
    );
    assert_eq!(h.outcome("mikrotik-system", "rejected"), 1);
    let dead = &h.dead.snapshot()[0];
    assert_eq!(dead.reason, "wrong_type");
    assert!(
        dead.detail.contains("total-memory − free-memory") && dead.detail.contains("negative"),
        "{}",
        dead.detail
    );
}

#[test]
fn missing_field_counters_exist_at_zero_from_the_start() {
    let h = harness();
    let families = h.metrics.mapping_missing.collect();
    let mut series: Vec<(String, String)> = families[0]
        .get_metric()
        .iter()
        .map(|m| {
            let label = |n: &str| {
                m.get_label()
                    .iter()
                    .find(|l| l.name() == n)
                    .unwrap()
                    .value()
                    .to_string()
            };
            assert_eq!(m.get_counter().get_value(), 0.0);
            (label("route"), label("field"))
        })
        .collect();
    series.sort();
    let has = |r: &str, f: &str| series.contains(&(r.to_string(), f.to_string()));
    assert!(has("mikrotik-system", "cpu_ratio"));
    assert!(has("mikrotik-short", "mem_total_bytes"));
    assert!(has("ont-optical", "rx_dbm"));
    assert!(
        !has("mikrotik-system", "temperature_c"),
        "optional: {series:?}"
    );
}

/// Issue #17 G: a message is counted once, by outcome; each rejected item
/// once, by reason. Two bad metrics and a good one in one batch: one
/// `partial` message, two rejects, two dead letters.
#[test]
fn a_batch_with_two_bad_items_is_one_message_and_two_rejects() {
    let mut h = harness();
    let route = "telegraf-json";
    let metric = |ts: i64| {
        format!(
            r#"{{"name":"net","tags":{{"interface":"wan"}},"fields":{{"bytes_recv":1}},"timestamp":{ts}}}"#
        )
    };
    let stale = 1_000_000_000; // 2001: far outside the clock-skew window
    let batch = format!(
        r#"{{"metrics":[{},{},{}]}}"#,
        metric(1_700_000_000),
        metric(stale),
        metric(stale + 1)
    );
    h.send("telegraf-json/rtr-001/net", batch.as_bytes());
    assert_eq!(h.outcome(route, "partial"), 1);
    assert_eq!(h.all_outcomes(route), 1, "one message, one outcome");
    assert_eq!(h.rejected(route, RejectReason::BadTimestamp), 2);
    assert_eq!(h.dead.total(), 2);

    let only_bad = format!(r#"{{"metrics":[{},{}]}}"#, metric(stale), metric(stale + 1));
    h.send("telegraf-json/rtr-001/net", only_bad.as_bytes());
    assert_eq!(h.outcome(route, "rejected"), 1);
    assert_eq!(h.all_outcomes(route), 2);
    assert_eq!(h.rejected(route, RejectReason::BadTimestamp), 4);
    assert_eq!(h.dead.total(), 4);

    h.send(
        "telegraf-json/rtr-001/net",
        metric(1_700_000_001).as_bytes(),
    );
    assert_eq!(h.outcome(route, "ok"), 1);
    assert_eq!(h.all_outcomes(route), 3);
    assert_eq!(h.dead.total(), 4, "an ok message adds no reject");
}
