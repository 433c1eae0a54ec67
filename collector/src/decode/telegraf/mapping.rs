//! The Telegraf → canonical mapping shared by [`decode::line`](crate::decode::line) (line
//! protocol) and [`decode::telegraf`](super) (JSON serializer): both view their
//! parse as a format-neutral [`Metric`] (borrowed, not copied) and call
//! [`map_metric`].
//!
//! | Telegraf metric | key tag | fields → canonical |
//! |---|---|---|
//! | `net` (skips `interface=all`) | `interface` | bytes_recv/bytes_sent → rx/tx_bytes, packets_recv/packets_sent → rx/tx_packets, err_in/err_out → rx/tx_errors, drop_in/drop_out → rx/tx_drops (raw counters) |
//! | `ping` | `url` | average_response_ms → rtt_s (/1000), percent_packet_loss → loss_ratio (/100), standard_deviation_ms → jitter_s (/1000) |
//! | `system` | – | load1 → load1, uptime → uptime_s (plus the canonical keys) |
//! | `mem` | – | used → mem_used_bytes, total → mem_total_bytes |
//! | `cpu` (only `cpu=cpu-total`) | – | usage_idle → cpu_ratio = 1 − idle/100, clamped to 0…1 |
//! | `temp` | – | temp → system temperature_c |
//! | `interface`, `optical`, `system`, `probe`, `clients` | `interface` / `target` | canonical field keys, unchanged (canonical line protocol round-trips) |
//! | any metric with IF-MIB columns, `snmp` | `ifName` / `ifDescr` | `inputs.snmp` rows, see [`snmp`] (checked first, own identity rule) |
//!
//! The device is the topic variable `device` when the route has one, else
//! tag `host`, else tag `device`. Identity: when the topic names the device,
//! every `host` tag of every metric (mapped or not: Telegraf sets it agent-wide)
//! and the `device` tag of a canonical measurement must name the same device,
//! else the message is rejected as `identity_mismatch` (an empty tag names
//! nothing). Telegraf agents whose hostname is not the inventory id need
//! `[agent] hostname = "<device id>"` (or `omit_hostname = true`). Nothing in
//! MQTT 3.1.1 tells us which client published; see [`crate::reject`].
//! Counter fields accept integers (`123i`, `123u`) and integral non-negative
//! floats (as [`Reading::FloatCounter`], so the normalizer can tell a lost
//! `i` suffix from a series that always sends floats); gauges accept any
//! finite number, booleans as 1/0. A mapped field of the wrong type rejects
//! the message; unmapped fields are never looked at.

use std::borrow::Cow;

use super::snmp;
use crate::decode::detail::DisplayFn;
use crate::decode::detail::{echo, reject};
use crate::decode::{identity, readings};
use crate::decode::{DecodeContext, Observation, Reading, Values};
use crate::reject::{Reject, RejectReason};
use crate::sample::{Field, FieldKind, Measurement};

/// A field value as the wire format typed it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(in crate::decode) enum Val<'a> {
    I(i64),
    U(u64),
    F(f64),
    Bool(bool),
    Str(&'a str),
    /// A JSON value of another type (null, array, object), by type name.
    Other(&'static str),
}

/// A field value as a wire format keeps it, seen as a [`Val`].
pub(in crate::decode) trait AsVal {
    fn as_val(&self) -> Val<'_>;
}

impl AsVal for Val<'_> {
    fn as_val(&self) -> Val<'_> {
        *self
    }
}

/// One Telegraf metric, borrowed from the parsed payload. Names are the
/// parsers' `Cow`s of the payload (`'a`, owned only where the payload
/// escaped them), so the device and key go into the [`Observation`]
/// uncopied; values are generic (`V`) over how each format keeps them.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::decode) struct Metric<'m, 'a, V> {
    pub name: &'m str,
    pub tags: &'m [(Cow<'a, str>, Cow<'a, str>)],
    pub fields: &'m [(Cow<'a, str>, V)],
    pub time_ns: Option<i64>,
}

impl<'m, 'a, V: AsVal> Metric<'m, 'a, V> {
    pub(in crate::decode) fn tag(&self, key: &str) -> Option<&'m Cow<'a, str>> {
        let tags: &'m [(Cow<'a, str>, Cow<'a, str>)] = self.tags;
        tags.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(in crate::decode) fn field(&self, key: &str) -> Option<Val<'m>> {
        let fields: &'m [(Cow<'a, str>, V)] = self.fields;
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_val())
    }
}

/// How a Telegraf value becomes the canonical one.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Conv {
    Same,
    /// Divide (exactly rounded, unlike multiplying by 0.001).
    Div(f64),
    /// `cpu` usage_idle percent → busy ratio.
    IdleToRatio,
}

/// The mapping of one Telegraf input.
struct Table {
    measurement: Measurement,
    key_tag: Option<&'static str>,
    /// Also accept the measurement's canonical field keys.
    canonical: bool,
    fields: &'static [(&'static str, Field, Conv)],
}

const NET: &[(&str, Field, Conv)] = &[
    ("bytes_recv", Field::RxBytes, Conv::Same),
    ("bytes_sent", Field::TxBytes, Conv::Same),
    ("packets_recv", Field::RxPackets, Conv::Same),
    ("packets_sent", Field::TxPackets, Conv::Same),
    ("err_in", Field::RxErrors, Conv::Same),
    ("err_out", Field::TxErrors, Conv::Same),
    ("drop_in", Field::RxDrops, Conv::Same),
    ("drop_out", Field::TxDrops, Conv::Same),
];
const PING: &[(&str, Field, Conv)] = &[
    ("average_response_ms", Field::RttS, Conv::Div(1000.0)),
    ("percent_packet_loss", Field::LossRatio, Conv::Div(100.0)),
    ("standard_deviation_ms", Field::JitterS, Conv::Div(1000.0)),
];
const SYSTEM: &[(&str, Field, Conv)] = &[
    ("load1", Field::Load1, Conv::Same),
    ("uptime", Field::UptimeS, Conv::Same),
];
const MEM: &[(&str, Field, Conv)] = &[
    ("used", Field::MemUsedBytes, Conv::Same),
    ("total", Field::MemTotalBytes, Conv::Same),
];
const CPU: &[(&str, Field, Conv)] = &[("usage_idle", Field::CpuRatio, Conv::IdleToRatio)];
const TEMP: &[(&str, Field, Conv)] = &[("temp", Field::SystemTemperatureC, Conv::Same)];

fn table<V: AsVal>(m: &Metric<'_, '_, V>) -> Option<Table> {
    let t = |measurement, key_tag, canonical, fields| Table {
        measurement,
        key_tag,
        canonical,
        fields,
    };
    Some(match m.name {
        "net" if m.tag("interface").is_some_and(|i| i == "all") => return None,
        "net" => t(Measurement::Interface, Some("interface"), false, NET),
        "ping" => t(Measurement::Probe, Some("url"), false, PING),
        "system" => t(Measurement::System, None, true, SYSTEM),
        "mem" => t(Measurement::System, None, false, MEM),
        "cpu" if m.tag("cpu").is_some_and(|c| c == "cpu-total") => {
            t(Measurement::System, None, false, CPU)
        }
        "temp" => t(Measurement::System, None, false, TEMP),
        name => {
            let measurement = Measurement::parse(name)?;
            t(measurement, measurement.key_tag(), true, &[])
        }
    })
}

/// Maps one metric; `Ok(None)` when it is not one schoolnet stores (unknown
/// input, `net` interface `all`, per-core `cpu`, no mapped field present).
pub(in crate::decode) fn map_metric<'a, V: AsVal>(
    ctx: &DecodeContext<'a>,
    m: &Metric<'_, 'a, V>,
) -> Result<Option<Observation<'a>>, Reject> {
    // SNMP metrics carry the poller as `host`: their identity is their own.
    if let Some(shape) = snmp::shape(m) {
        return snmp::map(ctx, m, shape);
    }
    check_identity(ctx, m)?;
    let Some(table) = table(m) else {
        return Ok(None);
    };
    let mut values = Values::new();
    for &(name, field, conv) in table.fields {
        if let Some(v) = m.field(name) {
            readings::put(
                &mut values,
                field,
                convert(ctx, m.name, name, field, conv, v)?,
            );
        }
    }
    if table.canonical {
        for (name, v) in m.fields {
            if let Some(field) = Field::lookup(table.measurement, name) {
                readings::put(
                    &mut values,
                    field,
                    convert(ctx, m.name, name, field, Conv::Same, v.as_val())?,
                );
            }
        }
    }
    if values.is_empty() {
        return Ok(None);
    }
    let key = match table.key_tag {
        None => None,
        Some(tag) => match m.tag(tag) {
            Some(k) if !k.is_empty() => Some(k.clone()),
            _ => {
                return Err(reject(
                    RejectReason::ParseError,
                    format!("`{}` metric without `{tag}` tag", echo(m.name)),
                ))
            }
        },
    };
    Ok(Some(Observation {
        device: device(ctx, m)?,
        time_ns: m.time_ns,
        measurement: table.measurement,
        key,
        values,
    }))
}

/// Every tag by which `m` names its device must name the topic's device.
fn check_identity<V: AsVal>(ctx: &DecodeContext<'_>, m: &Metric<'_, '_, V>) -> Result<(), Reject> {
    let Some(topic) = identity::topic_device(ctx) else {
        return Ok(());
    };
    // `device` is schoolnet's own tag; in Telegraf inputs (`disk`, `diskio`)
    // it names a disk, not the host.
    let canonical = Measurement::parse(m.name).is_some();
    for (k, v) in m.tags {
        let (k, v) = (&**k, &**v);
        if !v.is_empty() && (k == "host" || (canonical && k == "device")) {
            identity::same_device(topic, v, &DisplayFn(|f| write!(f, "tag `{k}`")))?;
        }
    }
    Ok(())
}

fn device<'a, V: AsVal>(
    ctx: &DecodeContext<'a>,
    m: &Metric<'_, 'a, V>,
) -> Result<Cow<'a, str>, Reject> {
    if let Some(d) = identity::topic_device(ctx) {
        return Ok(Cow::Borrowed(d));
    }
    [m.tag("host"), m.tag("device")]
        .into_iter()
        .flatten()
        .find(|d| !d.is_empty())
        .cloned()
        .ok_or_else(|| {
            reject(
                RejectReason::ParseError,
                format!(
                    "no device: `{}` metric has no `host` tag and the topic no `device`",
                    echo(m.name)
                ),
            )
        })
}

fn convert(
    ctx: &DecodeContext<'_>,
    metric: &str,
    name: &str,
    field: Field,
    conv: Conv,
    v: Val<'_>,
) -> Result<Reading, Reject> {
    let what = DisplayFn(|f| write!(f, "{}.{}", echo(metric), echo(name)));
    let wrong = |ty: &str| {
        reject(
            RejectReason::WrongType,
            format!("field `{}` is {ty}, expected a number", what),
        )
    };
    let x = match v {
        Val::Str(s) => return Err(wrong(&format!("a string (\"{}\")", echo(s)))),
        Val::Other(ty) => return Err(wrong(ty)),
        Val::Bool(_) if field.kind() == FieldKind::Counter => return Err(wrong("a boolean")),
        Val::Bool(b) => f64::from(u8::from(b)),
        Val::I(i) if field.kind() == FieldKind::Counter => {
            return readings::counter_i64(&what, i, ctx.counter_width)
        }
        Val::U(u) if field.kind() == FieldKind::Counter => {
            return readings::counter_u64(&what, u, ctx.counter_width)
        }
        Val::F(f) if field.kind() == FieldKind::Counter => {
            return match readings::counter_f64(&what, f, ctx.counter_width)? {
                Reading::Counter { raw, width } => Ok(Reading::FloatCounter { raw, width }),
                other => Ok(other),
            };
        }
        Val::I(i) => i as f64,
        Val::U(u) => u as f64,
        Val::F(f) => readings::finite(&what, f)?,
    };
    let x = match conv {
        Conv::Same => x,
        Conv::Div(d) => x / d,
        Conv::IdleToRatio => (1.0 - x / 100.0).clamp(0.0, 1.0),
    };
    Ok(Reading::Gauge(x))
}
