//! Telegraf `inputs.snmp` → canonical: IF-MIB interface table rows and the
//! plugin's scalar `snmp` metric, as [`mapping`](super::mapping) hands them over
//! (both the `influx` and the `telegraf-json` route get them).
//!
//! Telegraf publishes one metric per table row, named after the table
//! (`interface` in its README, `ifTable`, `ifXTable`, `interfaceX` in other
//! configs), with the table's columns as fields and the `is_tag` columns
//! and the `agent_host` (the polled address) as tags. So a row is recognised
//! by its IF-MIB columns, not by its name:
//!
//! | IF-MIB column (field) | canonical |
//! |---|---|
//! | `ifHCInOctets` (64-bit), else `ifInOctets` (32-bit) | rx_bytes |
//! | `ifHCOutOctets` (64-bit), else `ifOutOctets` (32-bit) | tx_bytes |
//! | `ifInErrors` / `ifOutErrors` (32-bit) | rx_errors / tx_errors |
//! | `ifInDiscards` / `ifOutDiscards` (32-bit) | rx_drops / tx_drops |
//! | `ifOperStatus` | oper_up: 1 (up) → 1; 2 down, 3 testing, 5 dormant, 6 notPresent, 7 lowerLayerDown → 0; 4 unknown → no value |
//! | tag `ifName`, else `ifDescr` | the interface key |
//!
//! The width of a counter is the column's SMI type, not the route's
//! `counter_bits`: `Counter32` columns wrap at 2^32 (every ~34 s at
//! 1 Gbit/s), the `ifHC*` ones at 2^64; a `Counter32` value ≥ 2^32 is
//! rejected. When a row carries both octet columns the 64-bit one is used
//! and the 32-bit one not looked at. Packets are not mapped: IF-MIB splits
//! them by cast type (`ifInUcastPkts`, `ifHCInMulticastPkts`, …).
//! Counter columns must be integers: Telegraf never writes them as floats,
//! so a float is a line cut inside the number and is rejected.
//! `ifOperStatus` may also arrive translated (`up`, `down`, `up(1)`).
//!
//! The scalar metric `snmp` (fields of `[[inputs.snmp.field]]`) maps
//! `uptime` — `sysUpTime.0` in Telegraf's own sample config, TimeTicks in
//! hundredths of a second — to system uptime_s.
//!
//! Identity: the `host` tag of an SNMP metric names the machine running
//! Telegraf (the poller), not the router, so it is not the device. The tags
//! that name the router are `agent_host` (the polled address; `source` when
//! `agent_host_tag = "source"`), the `sysName.0` tag the configs call
//! `sysName`, `hostname` or `source`, and a `device` tag an operator adds.
//! When the topic names a device and the metric carries any of these, one
//! of them must equal the topic's device, else the message is rejected as
//! `identity_mismatch` (sysName is often a factory default such as
//! `OpenWrt`, so it cannot be required to match on its own). A metric with
//! none of them falls back to the Telegraf rule: its `host` must be the
//! topic's device.

use std::borrow::Cow;

use super::mapping::{AsVal, Metric, Val};
use crate::decode::detail::DisplayFn;
use crate::decode::detail::{echo, reject};
use crate::decode::{detail, identity, readings};
use crate::decode::{DecodeContext, Observation, Reading, Values};
use crate::reject::{Reject, RejectReason};
use crate::sample::CounterWidth;
use crate::sample::{Field, Measurement};

/// A counter column pair: the canonical field, its 64-bit (ifXTable)
/// column if IF-MIB has one, and its 32-bit (ifTable) column.
const COUNTERS: [(Field, Option<&str>, &str); 6] = [
    (Field::RxBytes, Some("ifHCInOctets"), "ifInOctets"),
    (Field::TxBytes, Some("ifHCOutOctets"), "ifOutOctets"),
    (Field::RxErrors, None, "ifInErrors"),
    (Field::TxErrors, None, "ifOutErrors"),
    (Field::RxDrops, None, "ifInDiscards"),
    (Field::TxDrops, None, "ifOutDiscards"),
];

const OPER_STATUS: &str = "ifOperStatus";

/// Tags that name the polled device (see the module docs), in the order
/// in which one becomes the device when the topic names none.
const DEVICE_TAGS: [&str; 5] = ["device", "sysName", "hostname", "source", "agent_host"];

/// Which SNMP metric a Telegraf metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// A row of an IF-MIB interface table.
    IfRow,
    /// The plugin's scalar metric `snmp`.
    Scalars,
}

/// `Some` when `m` came from `inputs.snmp` in a shape mapped here.
pub(super) fn shape<V: AsVal>(m: &Metric<'_, '_, V>) -> Option<Shape> {
    let is_column = |k: &str| {
        k.starts_with("if")
            && (k == OPER_STATUS
                || COUNTERS
                    .iter()
                    .any(|&(_, hc, c32)| k == c32 || hc == Some(k)))
    };
    if m.fields.iter().any(|(k, _)| is_column(k)) {
        return Some(Shape::IfRow);
    }
    let polled = m.tag("agent_host").is_some() || m.tag("source").is_some();
    (m.name == "snmp" && polled).then_some(Shape::Scalars)
}

/// Maps an SNMP metric of `shape`; `Ok(None)` when no mapped column has a
/// value (a row whose only status is `unknown`).
pub(super) fn map<'a, V: AsVal>(
    ctx: &DecodeContext<'a>,
    m: &Metric<'_, 'a, V>,
    shape: Shape,
) -> Result<Option<Observation<'a>>, Reject> {
    check_identity(ctx, m)?;
    let mut values = Values::new();
    let (measurement, key) = match shape {
        Shape::IfRow => {
            row_values(m, &mut values)?;
            (Measurement::Interface, Some(interface(m)?))
        }
        Shape::Scalars => {
            if let Some(v) = m.field("uptime") {
                let ticks = gauge(m.name, "uptime", v)?;
                readings::put(&mut values, Field::UptimeS, Reading::Gauge(ticks / 100.0));
            }
            (Measurement::System, None)
        }
    };
    if values.is_empty() {
        return Ok(None);
    }
    Ok(Some(Observation {
        device: device(ctx, m)?,
        time_ns: m.time_ns,
        measurement,
        key,
        values,
    }))
}

fn row_values<V: AsVal>(m: &Metric<'_, '_, V>, values: &mut Values) -> Result<(), Reject> {
    for (field, hc, c32) in COUNTERS {
        let hc = hc.and_then(|col| Some((col, m.field(col)?)));
        let column = match hc {
            Some((col, v)) => Some((col, v, CounterWidth::Bits64)),
            None => m.field(c32).map(|v| (c32, v, CounterWidth::Bits32)),
        };
        if let Some((col, v, width)) = column {
            readings::put(values, field, counter(m.name, col, v, width)?);
        }
    }
    if let Some(v) = m.field(OPER_STATUS) {
        if let Some(up) = oper_up(m.name, v)? {
            readings::put(values, Field::OperUp, Reading::Gauge(up));
        }
    }
    Ok(())
}

/// The interface key: `ifName`, else `ifDescr`.
fn interface<'a, V: AsVal>(m: &Metric<'_, 'a, V>) -> Result<Cow<'a, str>, Reject> {
    ["ifName", "ifDescr"]
        .into_iter()
        .filter_map(|t| m.tag(t))
        .find(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| {
            reject(
                RejectReason::ParseError,
                format!(
                    "IF-MIB row `{}` has no `ifName` or `ifDescr` tag (set `is_tag = true` on one)",
                    echo(m.name)
                ),
            )
        })
}

/// One of the device-naming tags must be the topic's device (module docs).
fn check_identity<V: AsVal>(ctx: &DecodeContext<'_>, m: &Metric<'_, '_, V>) -> Result<(), Reject> {
    let Some(topic) = identity::topic_device(ctx) else {
        return Ok(());
    };
    let named = || {
        m.tags
            .iter()
            .filter(|(k, v)| !v.is_empty() && DEVICE_TAGS.contains(&&**k))
    };
    if named().next().is_none() {
        // Nothing names the polled device (a renamed `agent_host_tag`):
        // then `host` is all there is, and must be the topic's device.
        return match m.tag("host").filter(|h| !h.is_empty()) {
            Some(host) => identity::same_device(topic, host, &"tag `host`"),
            None => Ok(()),
        };
    }
    if named().any(|(_, v)| v == topic) {
        return Ok(());
    }
    let claims: Vec<String> = named()
        .map(|(k, v)| format!("{}=`{}`", echo(k), echo(v)))
        .collect();
    Err(reject(
        RejectReason::IdentityMismatch,
        format!(
            "SNMP metric `{}` names device {} but the topic names `{}`",
            echo(m.name),
            claims.join(", "),
            echo(topic)
        ),
    ))
}

fn device<'a, V: AsVal>(
    ctx: &DecodeContext<'a>,
    m: &Metric<'_, 'a, V>,
) -> Result<Cow<'a, str>, Reject> {
    if let Some(d) = identity::topic_device(ctx) {
        return Ok(Cow::Borrowed(d));
    }
    DEVICE_TAGS
        .into_iter()
        .filter_map(|t| m.tag(t))
        .find(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| {
            reject(
                RejectReason::ParseError,
                format!(
                    "no device: SNMP metric `{}` has no `agent_host` tag and the topic no `device`",
                    echo(m.name)
                ),
            )
        })
}

fn wrong_type(metric: &str, column: &str, ty: &str) -> Reject {
    reject(
        RejectReason::WrongType,
        format!(
            "field `{}.{}` is {ty}, expected a number",
            echo(metric),
            echo(column)
        ),
    )
}

/// A counter column's value, checked against the column's width.
fn counter(metric: &str, column: &str, v: Val<'_>, width: CounterWidth) -> Result<Reading, Reject> {
    let what = DisplayFn(|f| write!(f, "{}.{}", echo(metric), column));
    match v {
        Val::I(i) => readings::counter_i64(&what, i, width),
        Val::U(u) => readings::counter_u64(&what, u, width),
        // Telegraf writes SNMP counters as integers (`123i`, `123u`); a float
        // here is a line cut inside the number (suffix and timestamp lost),
        // whose digits would pass for a counter that went backwards.
        Val::F(x) => Err(reject(
            RejectReason::WrongType,
            format!(
                "field `{}.{}` is a float ({}), but SNMP counters are integers: truncated line?",
                echo(metric),
                echo(column),
                detail::num(x)
            ),
        )),
        Val::Str(s) => Err(wrong_type(
            metric,
            column,
            &format!("a string (\"{}\")", echo(s)),
        )),
        Val::Bool(_) => Err(wrong_type(metric, column, "a boolean")),
        Val::Other(ty) => Err(wrong_type(metric, column, ty)),
    }
}

/// A finite gauge.
fn gauge(metric: &str, column: &str, v: Val<'_>) -> Result<f64, Reject> {
    let what = DisplayFn(|f| write!(f, "{}.{}", echo(metric), column));
    match v {
        Val::I(i) => Ok(i as f64),
        Val::U(u) => Ok(u as f64),
        Val::F(x) => readings::finite(&what, x),
        Val::Str(s) => Err(wrong_type(
            metric,
            column,
            &format!("a string (\"{}\")", echo(s)),
        )),
        Val::Bool(_) => Err(wrong_type(metric, column, "a boolean")),
        Val::Other(ty) => Err(wrong_type(metric, column, ty)),
    }
}

/// IF-MIB `ifOperStatus` names, in code order 1…7 (RFC 2863).
const OPER_NAMES: [&str; 7] = [
    "up",
    "down",
    "testing",
    "unknown",
    "dormant",
    "notPresent",
    "lowerLayerDown",
];

/// `ifOperStatus` → 1 (up), 0 (not passing packets), `None` (unknown).
fn oper_up(metric: &str, v: Val<'_>) -> Result<Option<f64>, Reject> {
    let bad = |shown: String| {
        reject(
            RejectReason::WrongType,
            format!(
                "field `{}.{OPER_STATUS}` is {shown}, not an IF-MIB status (1–7 or its name)",
                echo(metric)
            ),
        )
    };
    let code: Option<i64> = match v {
        Val::I(i) => Some(i),
        Val::U(u) => i64::try_from(u).ok(),
        Val::F(x) if x.fract() == 0.0 && x.abs() < 1e9 => Some(x as i64),
        // Translated values: `up`, or net-snmp's `up(1)`.
        Val::Str(s) => {
            let name = s.split_once('(').map_or(s, |(name, _)| name);
            OPER_NAMES
                .iter()
                .position(|n| *n == name)
                .map(|i| i as i64 + 1)
        }
        _ => None,
    };
    let shown = || match v {
        Val::Str(s) => format!("\"{}\"", echo(s)),
        Val::I(i) => i.to_string(),
        Val::U(u) => u.to_string(),
        Val::F(x) => detail::num(x),
        Val::Bool(b) => b.to_string(),
        Val::Other(ty) => ty.to_string(),
    };
    match code {
        Some(1) => Ok(Some(1.0)),
        Some(4) => Ok(None),
        Some(2 | 3 | 5 | 6 | 7) => Ok(Some(0.0)),
        _ => Err(bad(shown())),
    }
}

#[cfg(test)]
mod tests;
