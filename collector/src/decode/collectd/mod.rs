//! `collectd` format: OpenWrt `collectd-mod-mqtt` / collectd 5.12 `write_mqtt`.
//!
//! Accepts topic variables `device`, `plugin` (`<plugin>[-<instance>]`) and
//! `type` (`<type>[-<instance>]`), each split at the first `-`, and a payload
//! `<epoch>:<v1>[:<v2>…]` with the values in `types.db` order:
//!
//! - `<epoch>` is decimal seconds (`1700000000.123`, up to ns precision kept
//!   exactly) or `N` ("now": no device time);
//! - values are decimal numbers; `nan`, `-nan` and `U` are "unknown" and are
//!   skipped (collectd's first rate sample is all `nan`: outcome ignored);
//! - one optional trailing NUL byte (5.12 appends it) and surrounding
//!   whitespace are stripped.
//!
//! Mapped metrics (anything else with a well-formed payload is ignored):
//!
//! | plugin / type | fields |
//! |---|---|
//! | `interface-<if>/if_octets` | rx_bytes, tx_bytes (key `<if>`) |
//! | `interface-<if>/if_packets` | rx_packets, tx_packets |
//! | `interface-<if>/if_errors` | rx_errors, tx_errors |
//! | `interface-<if>/if_dropped` | rx_drops, tx_drops |
//! | `load/load` | load1 (= shortterm; midterm, longterm unused) |
//! | `memory/memory-used` | mem_used_bytes |
//! | `cpu/percent-active`, `cpu-total/percent-active` | cpu_ratio (= % / 100) |
//! | `uptime/uptime` | uptime_s |
//! | `thermal-<zone>/temperature` | system temperature_c |
//! | `ping/ping-<host>` | rtt_s (ms / 1000, key `<host>`) |
//! | `ping/ping_droprate-<host>` | loss_ratio |
//! | `ping/ping_stddev-<host>` | jitter_s (ms / 1000) |
//! | `iwinfo-<wlan>/stations` | wifi_clients |
//! | `dhcpleases/count` | dhcp_leases |
//!
//! Interface values are per-second rates ([`Reading::Rate`], must be ≥ 0)
//! when the route says `store_rates = true` (collectd's default), raw
//! counters ([`Reading::Counter`], non-negative integers) otherwise.

use std::borrow::Cow;

use smallvec::{smallvec, SmallVec};

use crate::decode::detail::{echo, reject};
use crate::decode::{identity, payload, readings};
use crate::decode::{DecodeContext, Decoded, Observation, Reading, Values};
use crate::reject::{Reject, RejectReason};
use crate::sample::{Field, Measurement};

/// How a metric's values become readings.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Interface counters: rates with StoreRates, raw counters without.
    Traffic,
    /// Point-in-time values, divided by the slot's divisor (exact for `/1000`,
    /// unlike `* 0.001`).
    Gauge,
}

/// Where the observation key comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KeyFrom {
    None,
    PluginInstance,
    TypeInstance,
}

/// A mapped collectd metric: one slot (field, divisor) per value in `types.db` order.
#[derive(Debug)]
struct Spec {
    measurement: Measurement,
    kind: Kind,
    key: KeyFrom,
    slots: &'static [Option<(Field, f64)>],
}

const fn traffic(rx: Field, tx: Field) -> [Option<(Field, f64)>; 2] {
    [Some((rx, 1.0)), Some((tx, 1.0))]
}

const OCTETS: [Option<(Field, f64)>; 2] = traffic(Field::RxBytes, Field::TxBytes);
const PACKETS: [Option<(Field, f64)>; 2] = traffic(Field::RxPackets, Field::TxPackets);
const ERRORS: [Option<(Field, f64)>; 2] = traffic(Field::RxErrors, Field::TxErrors);
const DROPPED: [Option<(Field, f64)>; 2] = traffic(Field::RxDrops, Field::TxDrops);

const fn gauge(
    measurement: Measurement,
    key: KeyFrom,
    slots: &'static [Option<(Field, f64)>],
) -> Spec {
    Spec {
        measurement,
        kind: Kind::Gauge,
        key,
        slots,
    }
}

/// The mapping table (see the module docs).
fn lookup(plugin: &str, pinst: Option<&str>, typ: &str, tinst: Option<&str>) -> Option<Spec> {
    use Field as F;
    use KeyFrom::{PluginInstance, TypeInstance};
    use Measurement::{Clients, Probe, System};
    let spec = match (plugin, pinst, typ, tinst) {
        ("interface", Some(_), _, None) => Spec {
            measurement: Measurement::Interface,
            kind: Kind::Traffic,
            key: PluginInstance,
            slots: match typ {
                "if_octets" => &OCTETS,
                "if_packets" => &PACKETS,
                "if_errors" => &ERRORS,
                "if_dropped" => &DROPPED,
                _ => return None,
            },
        },
        ("load", None, "load", None) => {
            gauge(System, KeyFrom::None, &[Some((F::Load1, 1.0)), None, None])
        }
        ("memory", None, "memory", Some("used")) => {
            gauge(System, KeyFrom::None, &[Some((F::MemUsedBytes, 1.0))])
        }
        ("cpu", None | Some("total"), "percent", Some("active")) => {
            gauge(System, KeyFrom::None, &[Some((F::CpuRatio, 100.0))])
        }
        ("uptime", None, "uptime", None) => {
            gauge(System, KeyFrom::None, &[Some((F::UptimeS, 1.0))])
        }
        ("thermal", Some(_), "temperature", None) => {
            gauge(System, KeyFrom::None, &[Some((F::SystemTemperatureC, 1.0))])
        }
        ("ping", None, "ping", Some(_)) => gauge(Probe, TypeInstance, &[Some((F::RttS, 1000.0))]),
        ("ping", None, "ping_droprate", Some(_)) => {
            gauge(Probe, TypeInstance, &[Some((F::LossRatio, 1.0))])
        }
        ("ping", None, "ping_stddev", Some(_)) => {
            gauge(Probe, TypeInstance, &[Some((F::JitterS, 1000.0))])
        }
        ("iwinfo", Some(_), "stations", None) => {
            gauge(Clients, KeyFrom::None, &[Some((F::WifiClients, 1.0))])
        }
        ("dhcpleases", None, "count", None) => {
            gauge(Clients, KeyFrom::None, &[Some((F::DhcpLeases, 1.0))])
        }
        _ => return None,
    };
    Some(spec)
}

/// `name[-instance]`, split at the first `-`; an empty instance is none.
fn split_instance(s: &str) -> (&str, Option<&str>) {
    match s.split_once('-') {
        Some((name, inst)) if !inst.is_empty() => (name, Some(inst)),
        Some((name, _)) => (name, None),
        None => (s, None),
    }
}

pub fn decode<'a>(
    ctx: DecodeContext<'a>,
    store_rates: bool,
    payload: &[u8],
) -> Result<Decoded<'a>, Reject> {
    let device = identity::topic_var(&ctx, "device", "device")?;
    let plugin_full = identity::topic_var(&ctx, "plugin", "plugin")?;
    let type_full = identity::topic_var(&ctx, "type", "type")?;
    let text = payload::text(payload)?;

    let mut tokens = text.split(':');
    let time_ns = parse_time(tokens.next().unwrap_or_default())?;
    // Inline: collectd types have at most a few values (`if_octets`: 2).
    let values: SmallVec<[&str; 8]> = tokens.collect();
    if values.is_empty() {
        return Err(reject(
            RejectReason::ParseError,
            "no values after the timestamp",
        ));
    }

    let (plugin, pinst) = split_instance(plugin_full);
    let (typ, tinst) = split_instance(type_full);
    let Some(spec) = lookup(plugin, pinst, typ, tinst) else {
        // Still insist on a well-formed payload, so garbage is not "ignored".
        for (i, tok) in values.iter().enumerate() {
            parse_value(typ, i, tok)?;
        }
        return Ok(Decoded::Ignored("unmapped collectd metric"));
    };
    if values.len() != spec.slots.len() {
        return Err(reject(
            RejectReason::WrongArity,
            format!(
                "`{}` takes {} value(s), got {}",
                echo(typ),
                spec.slots.len(),
                values.len()
            ),
        ));
    }

    let mut readings = Values::new();
    for (i, (tok, slot)) in values.iter().zip(spec.slots).enumerate() {
        let Some((field, divisor)) = *slot else {
            parse_value(typ, i, tok)?;
            continue;
        };
        let reading = match spec.kind {
            Kind::Traffic if !store_rates => parse_counter(&ctx, typ, i, field, tok)?,
            Kind::Traffic => {
                let v = parse_value(typ, i, tok)?;
                if v.is_nan() {
                    None
                } else if readings::finite(&field.key(), v)? < 0.0 {
                    return Err(reject(
                        RejectReason::WrongType,
                        format!("{}: negative rate {}", field.key(), echo(tok)),
                    ));
                } else {
                    Some(Reading::Rate(v))
                }
            }
            Kind::Gauge => {
                let v = parse_value(typ, i, tok)?;
                if v.is_nan() {
                    None
                } else {
                    Some(Reading::Gauge(readings::finite(&field.key(), v)? / divisor))
                }
            }
        };
        if let Some(reading) = reading {
            readings::put(&mut readings, field, reading);
        }
    }
    if readings.is_empty() {
        return Ok(Decoded::Ignored("nan sample"));
    }

    let key = match spec.key {
        KeyFrom::None => None,
        KeyFrom::PluginInstance => pinst.map(Cow::Borrowed),
        KeyFrom::TypeInstance => tinst.map(Cow::Borrowed),
    };
    Ok(Decoded::Observations(smallvec![Observation {
        device: Cow::Borrowed(device),
        time_ns,
        measurement: spec.measurement,
        key,
        values: readings,
    }]))
}

/// `N` → no device time; `<secs>[.<frac>]` → exact nanoseconds.
fn parse_time(tok: &str) -> Result<Option<i64>, Reject> {
    if tok == "N" {
        return Ok(None);
    }
    let bad = || {
        reject(
            RejectReason::ParseError,
            format!("bad timestamp `{}`", echo(tok)),
        )
    };
    let (int, frac) = tok.split_once('.').unwrap_or((tok, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) {
        return Err(bad());
    }
    let out_of_range = || {
        reject(
            RejectReason::BadTimestamp,
            format!("timestamp `{}` is out of range", echo(tok)),
        )
    };
    let secs: i64 = int.parse().map_err(|_| out_of_range())?;
    let frac_ns = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
    secs.checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(frac_ns))
        .map(Some)
        .ok_or_else(out_of_range)
}

/// One value token as a float; NaN for collectd's unknown (`nan`, `-nan`, `U`).
/// Infinities are returned as such (the caller rejects them as non-finite).
fn parse_value(typ: &str, i: usize, tok: &str) -> Result<f64, Reject> {
    if tok.is_empty() {
        return Err(reject(
            RejectReason::ParseError,
            format!(
                "`{}` value {} is empty (truncated payload?)",
                echo(typ),
                i + 1
            ),
        ));
    }
    let t = tok.strip_prefix(['-', '+']).unwrap_or(tok);
    if t.eq_ignore_ascii_case("nan") || tok == "U" {
        return Ok(f64::NAN);
    }
    tok.parse::<f64>().ok().ok_or_else(|| {
        reject(
            RejectReason::WrongType,
            format!(
                "`{}` value {} `{}` is not a number",
                echo(typ),
                i + 1,
                echo(tok)
            ),
        )
    })
}

/// A raw counter token (StoreRates off): exact for integer tokens, `None` for unknown.
fn parse_counter(
    ctx: &DecodeContext<'_>,
    typ: &str,
    i: usize,
    field: Field,
    tok: &str,
) -> Result<Option<Reading>, Reject> {
    if !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit()) {
        let raw = tok.parse::<u64>().map_err(|_| {
            reject(
                RejectReason::WrongType,
                format!(
                    "{}: counter {} does not fit 64 bits",
                    field.key(),
                    echo(tok)
                ),
            )
        })?;
        return readings::counter_u64(&field.key(), raw, ctx.counter_width).map(Some);
    }
    let v = parse_value(typ, i, tok)?;
    if v.is_nan() {
        return Ok(None);
    }
    readings::counter_f64(&field.key(), v, ctx.counter_width).map(Some)
}

#[cfg(test)]
mod tests;
