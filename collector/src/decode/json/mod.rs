//! `json` format: arbitrary JSON objects mapped onto canonical fields by the
//! route's configuration (MikroTik scripts, ONT/SFP pollers).
//!
//! Accepts a JSON object (anything else is a `parse_error`). Each mapped field
//! is read by its dot-separated path (`stats.rx`; a segment may index an
//! array, `ports.0.rx`; a key that itself contains dots matches when it is the
//! whole remaining path). Values may be:
//!
//! - JSON numbers; booleans (1/0);
//! - strings holding numbers (`"-18.52"`, as MikroTik scripts send them),
//!   `"true"`/`"false"`, or durations in seconds: RouterOS `4d22:16:08`,
//!   `1w2d03:04:05`, `22:16:08` and unit forms `5m30s`, `4d22h16m8s`, `250ms`;
//! - `null` or `""`, which count as absent (a sensor the device lacks).
//!
//! A field may also be derived from several paths (a sum or a difference,
//! see `fields`). The value is multiplied by the
//! field's `scale`. Counter fields become [`Reading::Counter`](crate::decode::Reading::Counter) (non-negative
//! integers, exact for integer text when unscaled), others
//! [`Reading::Gauge`](crate::decode::Reading::Gauge). Absent fields are skipped, and a configured path the
//! payload lacks is reported as missing ([`decode_noting_missing`]); if no
//! field is present the message is `no_usable_values`. `"NaN"`/`"inf"` are
//! `non_finite`, other text or arrays/objects `wrong_type`.
//!
//! Device and key come from a topic variable or a JSON path (string or
//! number); a missing device or configured key is a `parse_error`. When the
//! device comes from a JSON path and the topic also has a `{device}`
//! variable, both must name the same device, else the message is rejected as
//! `identity_mismatch` (a device may only report for itself; MQTT 3.1.1
//! does not tell us the publisher, see [`crate::reject`]). The
//! timestamp, if configured, is a number (or numeric string) in the configured
//! unit; absent or `null` means receive time.
//!
//! The folder: this decoder and its mapping's config types, `fields` (how
//! each mapped field is read, derived fields, missing paths) and `tree`
//! (the payload as a zero-copy JSON tree, which the paths search).

mod fields;
pub(in crate::decode) mod tree;

use std::borrow::Cow;

use smallvec::smallvec;

use crate::decode::detail::DisplayFn;
use crate::decode::detail::{echo, reject};
use crate::decode::{identity, payload, readings, timestamp};
use crate::decode::{DecodeContext, Decoded, Observation, Values};
use crate::reject::{Reject, RejectReason};
use crate::sample::Measurement;
use fields::Outcome;
use tree::Node;

pub use fields::{FieldMap, Input, MissingField};

/// Where a value comes from: a topic variable (`{iface}`) or a JSON path
/// (dot-separated keys, `stats.rx`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    TopicVar(String),
    JsonPath(String),
}

impl Source {
    /// Parses `{name}` as a topic variable, anything else as a JSON path.
    pub fn parse(text: &str) -> Source {
        match text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(var) => Source::TopicVar(var.to_string()),
            None => Source::JsonPath(text.to_string()),
        }
    }
}

/// Unit of a numeric JSON timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    S,
    Ms,
    Us,
    Ns,
}

/// A route's mapping from JSON onto one measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonMapping {
    pub measurement: Measurement,
    /// Device id; default: topic variable `device`.
    pub device: Source,
    /// Interface name or probe target, for measurements that have one.
    pub key: Option<Source>,
    /// Device timestamp, if the payload carries one; otherwise receive time.
    pub time: Option<(String, TimeUnit)>,
    pub fields: Vec<FieldMap>,
}

impl TimeUnit {
    fn ns_per_unit(self) -> i64 {
        match self {
            TimeUnit::S => 1_000_000_000,
            TimeUnit::Ms => 1_000_000,
            TimeUnit::Us => 1_000,
            TimeUnit::Ns => 1,
        }
    }
}

pub fn decode<'a>(
    ctx: DecodeContext<'a>,
    mapping: &JsonMapping,
    payload: &'a [u8],
) -> Result<Decoded<'a>, Reject> {
    decode_noting_missing(ctx, mapping, payload, &mut Vec::new())
}

/// [`decode`], and the configured paths the payload lacked go to `missing`
/// (appended; required fields only), also when the message is rejected as
/// `no_usable_values` (and those before a field that rejects the message).
/// Nothing is appended for a payload that is not a JSON object or lacks
/// its device or key: those reject the whole message first.
pub fn decode_noting_missing<'a>(
    ctx: DecodeContext<'a>,
    mapping: &JsonMapping,
    payload: &'a [u8],
    missing: &mut Vec<MissingField>,
) -> Result<Decoded<'a>, Reject> {
    let text = payload::text(payload)?;
    let doc = Node::parse(text).map_err(|e| payload::invalid_json(&e))?;
    if !doc.is_object() {
        return Err(payload::not_an_object());
    }
    let device = resolve(&ctx, &doc, &mapping.device, "device")?;
    if let (Source::JsonPath(path), Some(topic)) = (&mapping.device, identity::topic_device(&ctx)) {
        let source = DisplayFn(|f| write!(f, "path `{}`", echo(path)));
        identity::same_device(topic, &device, &source)?;
    }
    let key = match &mapping.key {
        Some(source) => Some(resolve(&ctx, &doc, source, "key")?),
        None => None,
    };
    let time_ns = match &mapping.time {
        Some((path, unit)) => time(&doc, path, *unit)?,
        None => None,
    };

    let mut values = Values::new();
    for fm in &mapping.fields {
        if fm.field.measurement() != mapping.measurement {
            continue; // config validation prevents this; never emit a foreign field
        }
        match fields::read(&ctx, &doc, fm)? {
            Outcome::Value(reading) => readings::put(&mut values, fm.field, reading),
            Outcome::Empty => {}
            Outcome::Missing if !fm.optional => missing.push(MissingField {
                field: fm.field,
                path: fields::absent(&doc, fm),
            }),
            Outcome::Missing => {}
        }
    }
    if values.is_empty() {
        let inputs: Vec<String> = mapping.fields.iter().map(|f| f.input.to_string()).collect();
        return Err(reject(
            RejectReason::NoUsableValues,
            format!(
                "none of the mapped paths present ({})",
                echo(&inputs.join(", "))
            ),
        ));
    }
    Ok(Decoded::Observations(smallvec![Observation {
        device,
        time_ns,
        measurement: mapping.measurement,
        key,
        values,
    }]))
}

/// One path segment: an object key or an array index.
fn child<'d, 'a>(v: &'d Node<'a>, seg: &str) -> Option<&'d Node<'a>> {
    match v {
        Node::Obj(_) => v.get(seg),
        Node::Arr(a) => a.get(seg.parse::<usize>().ok()?),
        _ => None,
    }
}

/// The value at a dot-separated path.
pub(super) fn lookup<'d, 'a>(v: &'d Node<'a>, path: &str) -> Option<&'d Node<'a>> {
    if let Some(x) = child(v, path) {
        return Some(x);
    }
    let (head, rest) = path.split_once('.')?;
    lookup(child(v, head)?, rest)
}

/// The device id or key from a topic variable or a JSON path.
fn resolve<'a>(
    ctx: &DecodeContext<'a>,
    doc: &Node<'a>,
    source: &Source,
    role: &str,
) -> Result<Cow<'a, str>, Reject> {
    let missing = |what: &str| reject(RejectReason::ParseError, format!("no {role}: {what}"));
    match source {
        Source::TopicVar(var) => match ctx.vars.get(var) {
            Some(v) if !v.is_empty() => Ok(Cow::Borrowed(v)),
            _ => Err(missing(&format!("topic variable `{}` missing", echo(var)))),
        },
        Source::JsonPath(path) => match lookup(doc, path) {
            // A borrowed string stays borrowed; only an escaped one is copied.
            Some(Node::Str(s)) if !s.is_empty() => Ok(s.clone()),
            Some(n @ (Node::U(_) | Node::I(_) | Node::F(_))) => Ok(Cow::Owned(n.to_string())),
            None | Some(Node::Null) | Some(Node::Str(_)) => {
                Err(missing(&format!("`{}` absent or empty", echo(path))))
            }
            Some(_) => Err(reject(
                RejectReason::WrongType,
                format!("{role} `{}` is not a string", echo(path)),
            )),
        },
    }
}

fn time(doc: &Node<'_>, path: &str, unit: TimeUnit) -> Result<Option<i64>, Reject> {
    let what = DisplayFn(|f| write!(f, "time `{}`", echo(path)));
    let wrong = || reject(RejectReason::WrongType, format!("{what} is not a number"));
    let (int, float) = match lookup(doc, path) {
        None | Some(Node::Null) => return Ok(None),
        Some(n @ (Node::U(_) | Node::I(_) | Node::F(_))) => (n.as_i64(), n.as_f64()),
        Some(Node::Str(s)) => {
            let s = payload::trim(s);
            match s.parse::<i64>() {
                // Integer text is a float too: no need to read it twice.
                Ok(i) => (Some(i), None),
                Err(_) => (None, Some(s.parse::<f64>().ok().ok_or_else(wrong)?)),
            }
        }
        Some(_) => return Err(wrong()),
    };
    if let Some(i) = int {
        return timestamp::int_to_ns(&what, i, unit.ns_per_unit()).map(Some);
    }
    let f = float.ok_or_else(wrong)?;
    timestamp::f64_to_ns(&what, f, unit.ns_per_unit()).map(Some)
}

/// A duration in seconds: `[<n>w][<n>d][<n>h][<n>m][<n>s][<n>ms][<n>us]`
/// optionally followed by a clock `H:MM:SS[.frac]` (RouterOS `4d22:16:08`).
///
/// Scanned by bytes (every delimiter is ASCII): the `char` searches this
/// replaced cost half of a MikroTik message's uptime field. The old
/// version is the tests' oracle.
pub(super) fn parse_duration(s: &str) -> Option<f64> {
    // The clock starts at the digits before the first `:`.
    let (units, clock) = match find(s, |c| c == b':') {
        Some(colon) => {
            let hours = s.as_bytes()[..colon]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .count();
            let (units, clock) = s.split_at(colon - hours);
            (units, Some(clock))
        }
        None => (s, None),
    };
    let mut total = 0.0;
    let mut rest = units;
    while !rest.is_empty() {
        let n_end = find(rest, |c| !(c.is_ascii_digit() || c == b'.')).unwrap_or(rest.len());
        if n_end == 0 || n_end == rest.len() {
            return None; // a unit without a number, or a number without a unit
        }
        let n = rest[..n_end].parse::<f64>().ok()?;
        let after = &rest[n_end..];
        let (mult, len) = match after.as_bytes() {
            [b'm', b's', ..] => (0.001, 2),
            [b'u', b's', ..] => (0.000_001, 2),
            [b'w', ..] => (604_800.0, 1),
            [b'd', ..] => (86_400.0, 1),
            [b'h', ..] => (3_600.0, 1),
            [b'm', ..] => (60.0, 1),
            [b's', ..] => (1.0, 1),
            _ => return None,
        };
        total += n * mult;
        rest = &after[len..];
    }
    match clock {
        Some(clock) => {
            let (h, m_sec) = split_at_byte(clock, b':')?;
            let (m, sec) = split_at_byte(m_sec, b':')?;
            let digits = |p: &str, max: usize| {
                !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit())
            };
            let (sec_int, sec_frac) = split_at_byte(sec, b'.').unwrap_or((sec, "0"));
            if find(sec, |c| c == b':').is_some()
                || !digits(h, 20)
                || !digits(m, 2)
                || !digits(sec_int, 2)
                || !digits(sec_frac, 9)
            {
                return None;
            }
            let (m, sec) = (m.parse::<f64>().ok()?, sec.parse::<f64>().ok()?);
            if m >= 60.0 || sec >= 60.0 {
                return None;
            }
            Some(total + h.parse::<f64>().ok()? * 3600.0 + m * 60.0 + sec)
        }
        None if units.is_empty() => None,
        None => Some(total),
    }
}

/// Index of the first byte of `s` that `is` picks. `is` must pick only
/// ASCII bytes, or every non-ASCII byte: either way the first byte picked
/// starts a character, so the index is a char boundary.
fn find(s: &str, is: impl Fn(u8) -> bool) -> Option<usize> {
    s.bytes().position(is)
}

/// `s` split around the first `delimiter` (an ASCII byte).
fn split_at_byte(s: &str, delimiter: u8) -> Option<(&str, &str)> {
    let i = find(s, |c| c == delimiter)?;
    Some((&s[..i], &s[i + 1..]))
}

#[cfg(test)]
mod tests;
