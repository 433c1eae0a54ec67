//! `[[routes]]`: topic → format, and their compilation into a [`RouteTable`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use super::ConfigError;
use crate::decode::json::{FieldMap, Input, JsonMapping, Source, TimeUnit};
use crate::decode::{Format, ValueMapping};
use crate::route::{validate_filter, Route, RouteTable, TopicPattern};
use crate::sample::CounterWidth;
use crate::sample::{Field, Measurement};

/// One `[[routes]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Name used in metrics labels (`route="…"`) and logs.
    pub name: String,
    /// Topic pattern with `{name}` variables, e.g. `collectd/{device}/{plugin}/{type}`.
    /// Most formats need a `{device}` variable.
    pub pattern: String,
    /// MQTT subscription filter; default: the pattern with variables as `+`.
    pub filter: Option<String>,
    /// `collectd`, `influx`, `telegraf-json`, `json`, `value` or `status`.
    pub format: String,
    /// collectd: whether the plugin runs with `StoreRates true` (the default).
    pub store_rates: Option<bool>,
    /// Width of the devices' raw counters: 32 or 64 (default 64). Old
    /// SNMP-style and some embedded counters are 32-bit and wrap often.
    pub counter_bits: Option<u8>,
    /// json: the measurement the mapped fields belong to.
    pub measurement: Option<String>,
    /// json/value: where the device id comes from (`{var}` or a JSON path); default `{device}`.
    pub device: Option<String>,
    /// json/value: interface or probe target (`{var}` or a JSON path).
    pub key: Option<String>,
    /// json: JSON path of a numeric timestamp; absent: receive time.
    pub time: Option<String>,
    /// json: unit of `time` (`s`, `ms`, `us`, `ns`; default `s`).
    pub time_unit: Option<TimeUnit>,
    /// value: the canonical field, `measurement.field` (e.g. `probe.rtt_s`).
    pub field: Option<String>,
    /// value: multiplier applied to the number.
    pub scale: Option<f64>,
    /// json: canonical field → JSON path, or a table
    /// `{ path = "…", scale = 0.01, optional = true }`, or a derived field
    /// `{ difference = ["total-memory", "free-memory"] }` /
    /// `{ sum = ["umem", "fmem"] }`.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSpec>,
}

/// Where a mapped JSON field comes from.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum FieldSpec {
    Path(String),
    Table(FieldTable),
}

/// A mapped field in table form: exactly one of `path`, `sum`, `difference`.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct FieldTable {
    /// The JSON path of the value.
    pub path: Option<String>,
    /// Paths whose values are added (`total = used + free`); at least two.
    pub sum: Option<Vec<String>>,
    /// Paths whose values are subtracted from the first's (`used = total −
    /// free`); at least two. A negative result rejects the message.
    pub difference: Option<Vec<String>>,
    /// Multiplier applied to the (derived) value; default 1.
    pub scale: Option<f64>,
    /// When true, a payload without this field's path(s) is not reported as
    /// missing (a sensor some models lack). Default false.
    #[serde(default)]
    pub optional: bool,
}

/// The routes used when the config lists none; they match what the
/// simulator, OpenWrt collectd and Telegraf publish out of the box.
pub fn default_routes() -> Vec<RouteConfig> {
    let text = include_str!("default_routes.toml");
    #[derive(Deserialize)]
    struct File {
        routes: Vec<RouteConfig>,
    }
    toml::from_str::<File>(text)
        .expect("built-in default_routes.toml is valid")
        .routes
}

pub fn compile(configs: &[RouteConfig]) -> Result<RouteTable, ConfigError> {
    let mut routes = Vec::with_capacity(configs.len());
    for (i, rc) in configs.iter().enumerate() {
        let key = |k: &str| format!("routes[{i}].{k}");
        if rc.name.is_empty() {
            return Err(ConfigError::invalid(key("name"), "must not be empty"));
        }
        if configs[..i].iter().any(|o| o.name == rc.name) {
            return Err(ConfigError::invalid(
                key("name"),
                format!("`{}` is used twice", rc.name),
            ));
        }
        let pattern = TopicPattern::parse(&rc.pattern)
            .map_err(|e| ConfigError::invalid(key("pattern"), e.to_string()))?;
        let filter = rc
            .filter
            .clone()
            .unwrap_or_else(|| pattern.default_filter());
        validate_filter(&filter).map_err(|e| ConfigError::invalid(key("filter"), e.to_string()))?;
        let counter_width = match rc.counter_bits {
            None | Some(64) => CounterWidth::Bits64,
            Some(32) => CounterWidth::Bits32,
            Some(n) => {
                return Err(ConfigError::invalid(
                    key("counter_bits"),
                    format!("{n}: must be 32 or 64"),
                ))
            }
        };
        let format = compile_format(rc, &pattern, &key)?;
        routes.push(Route {
            name: Arc::from(rc.name.as_str()),
            filter,
            pattern,
            format,
            counter_width,
        });
    }
    Ok(RouteTable::new(routes))
}

fn compile_format(
    rc: &RouteConfig,
    pattern: &TopicPattern,
    key: &dyn Fn(&str) -> String,
) -> Result<Format, ConfigError> {
    let device = Source::parse(rc.device.as_deref().unwrap_or("{device}"));
    if let Source::TopicVar(v) = &device {
        if !pattern.has_var(v) && rc.format != "influx" && rc.format != "telegraf-json" {
            return Err(ConfigError::invalid(
                key("pattern"),
                format!("needs a `{{{v}}}` variable naming the device (or set `device`)"),
            ));
        }
    }
    let key_source = rc.key.as_deref().map(Source::parse);
    if let Some(Source::TopicVar(v)) = &key_source {
        if !pattern.has_var(v) {
            return Err(ConfigError::invalid(
                key("key"),
                format!("pattern has no `{{{v}}}` variable"),
            ));
        }
    }
    Ok(match rc.format.as_str() {
        "collectd" => Format::Collectd {
            store_rates: rc.store_rates.unwrap_or(true),
        },
        "influx" => Format::LineProtocol,
        "telegraf-json" => Format::TelegrafJson,
        "status" => Format::Status,
        "json" => {
            let m = rc.measurement.as_deref().ok_or_else(|| {
                ConfigError::invalid(key("measurement"), "required for format = \"json\"")
            })?;
            let measurement = Measurement::parse(m).ok_or_else(|| {
                ConfigError::invalid(
                    key("measurement"),
                    format!("`{m}`: expected interface, optical, system, probe or clients"),
                )
            })?;
            if rc.fields.is_empty() {
                return Err(ConfigError::invalid(
                    key("fields"),
                    "map at least one field for format = \"json\"",
                ));
            }
            let mut fields = Vec::new();
            for (name, spec) in &rc.fields {
                let field = Field::lookup(measurement, name).ok_or_else(|| {
                    let known: Vec<&str> = Field::ALL
                        .iter()
                        .filter(|f| f.measurement() == measurement)
                        .map(|f| f.key())
                        .collect();
                    ConfigError::invalid(
                        key(&format!("fields.{name}")),
                        format!("not a field of `{m}` (known: {})", known.join(", ")),
                    )
                })?;
                let at = key(&format!("fields.{name}"));
                fields.push(field_map(field, spec, &at)?);
            }
            Format::Json(JsonMapping {
                measurement,
                device,
                key: key_source,
                time: rc
                    .time
                    .clone()
                    .map(|t| (t, rc.time_unit.unwrap_or(TimeUnit::S))),
                fields,
            })
        }
        "value" => {
            let spec = rc.field.as_deref().ok_or_else(|| {
                ConfigError::invalid(
                    key("field"),
                    "required for format = \"value\" (e.g. \"probe.rtt_s\")",
                )
            })?;
            let field = spec
                .split_once('.')
                .and_then(|(m, f)| Field::lookup(Measurement::parse(m)?, f))
                .ok_or_else(|| {
                    ConfigError::invalid(
                        key("field"),
                        format!("`{spec}` is not `measurement.field`"),
                    )
                })?;
            Format::Value(ValueMapping {
                field,
                device,
                key: key_source,
                scale: rc.scale.unwrap_or(1.0),
            })
        }
        other => {
            return Err(ConfigError::invalid(
                key("format"),
                format!(
                    "`{other}`: expected collectd, influx, telegraf-json, json, value or status"
                ),
            ))
        }
    })
}

/// One `fields` entry as the decoder's [`FieldMap`].
fn field_map(field: Field, spec: &FieldSpec, at: &str) -> Result<FieldMap, ConfigError> {
    let table = match spec {
        FieldSpec::Path(p) => return Ok(FieldMap::path(field, p, 1.0)),
        FieldSpec::Table(t) => t,
    };
    let derived = |paths: &Vec<String>, what: &str| {
        if paths.len() < 2 || paths.iter().any(String::is_empty) {
            return Err(ConfigError::invalid(
                at,
                format!("`{what}` needs at least two non-empty paths"),
            ));
        }
        Ok(paths.clone())
    };
    let input = match (&table.path, &table.sum, &table.difference) {
        (Some(p), None, None) if !p.is_empty() => Input::Path(p.clone()),
        (None, Some(ps), None) => Input::Sum(derived(ps, "sum")?),
        (None, None, Some(ps)) => Input::Difference(derived(ps, "difference")?),
        _ => {
            return Err(ConfigError::invalid(
                at,
                "set exactly one of `path`, `sum`, `difference`",
            ))
        }
    };
    let scale = table.scale.unwrap_or(1.0);
    #[allow(clippy::float_cmp)] // exactly 0 would store every value as 0
    if !scale.is_finite() || scale == 0.0 {
        return Err(ConfigError::invalid(
            at,
            format!("scale {scale}: must be finite and not 0"),
        ));
    }
    Ok(FieldMap {
        field,
        input,
        scale,
        optional: table.optional,
    })
}
