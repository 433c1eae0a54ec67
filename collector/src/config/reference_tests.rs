//! `docs/configuration.md`'s reference tables, checked against the config
//! structs so the documentation cannot drift from the code: every field of
//! a section has a row, every row names a field, and every documented
//! default parses to the value of the section's `Default`.
//!
//! Field names come from serde itself (the `fields` list a derived
//! `Deserialize` hands to `deserialize_struct`), so `rename`s and new
//! fields are seen exactly as the TOML parser sees them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::Deserializer;

use super::*;
use crate::shard::ShardConfig;
use crate::spool::SpoolConfig;

/// The field names a derived `Deserialize` of `T` accepts.
fn field_names<T: DeserializeOwned>() -> BTreeSet<&'static str> {
    struct Probe(Option<&'static [&'static str]>);
    impl<'de> Deserializer<'de> for &mut Probe {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("probe only"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut probe = Probe(None);
    let _ = T::deserialize(&mut probe);
    probe
        .0
        .expect("the section is a struct with derived Deserialize")
        .iter()
        .copied()
        .collect()
}

/// Rows of each `### \`[section]\`` table: key → default cell.
fn documented_sections() -> BTreeMap<String, BTreeMap<String, String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    let text = std::fs::read_to_string(path).expect("docs/configuration.md");
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("### `[") {
            let name = heading.split(']').next().unwrap_or_default();
            current = Some(name.trim_start_matches('[').to_string());
            continue;
        }
        if line.starts_with('#') {
            current = None;
            continue;
        }
        let Some(section) = &current else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `key` | default | text |
        if cells.len() >= 4 && cells[1].starts_with('`') && cells[1] != "key" {
            let key = cells[1].trim_matches('`').to_string();
            let default = cells[2].to_string();
            let rows = sections.entry(section.clone()).or_default();
            assert!(
                rows.insert(key.clone(), default).is_none(),
                "docs/configuration.md: [{section}] documents `{key}` twice"
            );
        }
    }
    sections
}

fn check_keys<T: DeserializeOwned>(
    section: &str,
    docs: &BTreeMap<String, BTreeMap<String, String>>,
) {
    let fields = field_names::<T>();
    let rows = docs
        .get(section)
        .unwrap_or_else(|| panic!("docs/configuration.md has no table for [{section}]"));
    let documented: BTreeSet<&str> = rows.keys().map(String::as_str).collect();
    let undocumented: Vec<_> = fields.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&fields).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "docs/configuration.md [{section}]: keys without a row: {undocumented:?}; rows for keys that do not exist: {unknown:?}"
    );
}

/// Every documented default (a TOML literal in backticks) must parse to
/// the section's `Default` value for that key.
fn check_defaults<T: DeserializeOwned + Default + PartialEq + Debug>(
    section: &str,
    docs: &BTreeMap<String, BTreeMap<String, String>>,
) {
    for (key, cell) in &docs[section] {
        if cell == "—" {
            continue;
        }
        let literal = cell.trim_matches('`');
        let parsed: T = toml::from_str(&format!("{key} = {literal}")).unwrap_or_else(|e| {
            panic!("docs/configuration.md [{section}] `{key}`: default {cell} does not parse: {e}")
        });
        assert_eq!(
            parsed,
            T::default(),
            "docs/configuration.md [{section}] `{key}`: documented default {cell} is not the code's"
        );
    }
}

#[test]
fn every_config_key_is_documented_with_its_default() {
    let docs = documented_sections();
    check_keys::<MqttConfig>("mqtt", &docs);
    check_defaults::<MqttConfig>("mqtt", &docs);
    check_keys::<InfluxConfig>("influx", &docs);
    check_defaults::<InfluxConfig>("influx", &docs);
    check_keys::<ExporterConfig>("exporter", &docs);
    check_defaults::<ExporterConfig>("exporter", &docs);
    check_keys::<LimitsConfig>("limits", &docs);
    check_defaults::<LimitsConfig>("limits", &docs);
    check_keys::<SpoolConfig>("spool", &docs);
    check_defaults::<SpoolConfig>("spool", &docs);
    check_keys::<ShardConfig>("shard", &docs);
    check_defaults::<ShardConfig>("shard", &docs);
    // No Default: every key is documented, defaults are in the text.
    check_keys::<InventoryConfig>("inventory", &docs);
    check_keys::<RouteConfig>("routes", &docs);
    let sections: BTreeSet<&str> = docs.keys().map(String::as_str).collect();
    let expected = BTreeSet::from([
        "exporter",
        "influx",
        "inventory",
        "limits",
        "mqtt",
        "routes",
        "shard",
        "spool",
    ]);
    assert_eq!(
        sections, expected,
        "docs/configuration.md: reference sections"
    );
}

#[test]
fn the_probe_sees_every_field_of_a_section() {
    let fields = field_names::<crate::shard::ShardConfig>();
    assert_eq!(fields, BTreeSet::from(["index", "count", "subscribe"]));
}
