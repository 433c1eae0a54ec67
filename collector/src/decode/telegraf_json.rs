//! `telegraf-json` format: Telegraf's JSON serializer (`data_format = "json"`).
//!
//! Accepts a single metric
//! `{"fields":{…},"name":"net","tags":{…},"timestamp":1700000000}` or a batch
//! `{"metrics":[{…},…]}` (`json_batch`). `name` and `fields` (an object) are
//! required, `tags` (an object of strings; other tag values are ignored) and
//! `timestamp` (a number) are optional. Telegraf writes seconds by default;
//! since `json_timestamp_units` may be set to ms/us/ns, the unit is inferred
//! from the magnitude (< 1e11 s, < 1e14 ms, < 1e17 µs, else ns), which is
//! unambiguous for any date between 1973 and 5138. Floats keep sub-second
//! precision.
//!
//! Metrics are mapped by `telegraf_map` exactly like the `influx`
//! format; metrics that do not map are skipped, and a message in which none
//! maps is ignored. Invalid JSON is a `parse_error`; a mapped field of the
//! wrong JSON type is `wrong_type` naming the field. A `host` tag naming
//! another device than the topic's `{device}` rejects the whole message
//! (`identity_mismatch`, see `telegraf_map`).

use std::borrow::Cow;

use smallvec::SmallVec;

use super::common::{self, echo, reject};
use super::json_doc::Node;
use super::line_protocol::{INLINE_FIELDS, INLINE_TAGS};
use super::telegraf_map::{map_metric, Metric, Val};
use crate::decode::{DecodeContext, Decoded, Observations};
use crate::reject::{Reject, RejectReason};

pub fn decode<'a>(ctx: DecodeContext<'a>, payload: &'a [u8]) -> Result<Decoded<'a>, Reject> {
    let text = common::text(payload)?;
    let doc = Node::parse(text).map_err(|e| {
        reject(
            RejectReason::ParseError,
            format!("invalid JSON: {}", echo(&e.to_string())),
        )
    })?;
    if !doc.is_object() {
        return Err(reject(
            RejectReason::ParseError,
            "top level is not a JSON object",
        ));
    }
    let batch = match doc.get("metrics") {
        Some(Node::Arr(metrics)) => Some(metrics),
        Some(other) => {
            return Err(reject(
                RejectReason::WrongType,
                format!("`metrics` is {}, expected an array", other.type_name()),
            ))
        }
        None => None,
    };

    let mut observations = Observations::new();
    let mut one = |m: &Node<'a>| -> Result<(), Reject> {
        observations.extend(map_metric(&ctx, &to_metric(m)?.view())?);
        Ok(())
    };
    match batch {
        Some(metrics) => {
            for (i, m) in metrics.iter().enumerate() {
                one(m).map_err(|e| Reject::new(e.reason, format!("metrics[{i}]: {}", e.detail)))?;
            }
        }
        None => one(&doc)?,
    }
    if observations.is_empty() {
        return Ok(Decoded::Ignored("unmapped telegraf metric"));
    }
    Ok(Decoded::Observations(observations))
}

/// One metric of the document (`'d`, borrowing the payload for `'a`), its
/// tags and fields collected for a [`Metric`] to borrow.
struct JsonMetric<'d, 'a> {
    name: &'d str,
    tags: SmallVec<[(Cow<'a, str>, Cow<'a, str>); INLINE_TAGS]>,
    fields: SmallVec<[(Cow<'a, str>, Val<'d>); INLINE_FIELDS]>,
    time_ns: Option<i64>,
}

impl<'d, 'a> JsonMetric<'d, 'a> {
    fn view(&self) -> Metric<'_, 'a, Val<'d>> {
        Metric {
            name: self.name,
            tags: &self.tags,
            fields: &self.fields,
            time_ns: self.time_ns,
        }
    }
}

fn to_metric<'d, 'a>(m: &'d Node<'a>) -> Result<JsonMetric<'d, 'a>, Reject> {
    if !m.is_object() {
        return Err(reject(
            RejectReason::ParseError,
            "metric is not a JSON object",
        ));
    }
    let name = match m.get("name") {
        Some(Node::Str(s)) => &**s,
        Some(other) => return Err(wrong("name", other, "a string")),
        None => return Err(reject(RejectReason::ParseError, "metric has no `name`")),
    };
    let tags = match m.get("tags") {
        // Cloning a borrowed `Cow` copies a pointer, not the text.
        Some(tags @ Node::Obj(_)) => tags.entries_map(|k, v| match v {
            Node::Str(v) => Some((k.clone(), v.clone())),
            _ => None,
        }),
        None | Some(Node::Null) => SmallVec::new(),
        Some(other) => return Err(wrong("tags", other, "an object")),
    };
    let fields = match m.get("fields") {
        Some(fields @ Node::Obj(_)) => fields_of(fields),
        Some(other) => return Err(wrong("fields", other, "an object")),
        None => {
            return Err(reject(
                RejectReason::ParseError,
                format!("`{}` metric has no `fields`", echo(name)),
            ))
        }
    };
    let time_ns = match m.get("timestamp") {
        None | Some(Node::Null) => None,
        Some(n @ (Node::U(_) | Node::I(_) | Node::F(_))) => Some(timestamp_ns(n)?),
        Some(other) => return Err(wrong("timestamp", other, "a number")),
    };
    Ok(JsonMetric {
        name,
        tags,
        fields,
        time_ns,
    })
}

fn fields_of<'d, 'a>(fields: &'d Node<'a>) -> SmallVec<[(Cow<'a, str>, Val<'d>); INLINE_FIELDS]> {
    fields.entries_map(|k, v| {
        let v = match v {
            Node::U(u) => Val::U(*u),
            Node::I(i) => Val::I(*i),
            Node::F(f) => Val::F(*f),
            Node::Bool(b) => Val::Bool(*b),
            Node::Str(s) => Val::Str(s),
            other => Val::Other(other.type_name()),
        };
        Some((k.clone(), v))
    })
}

/// A timestamp in s, ms, µs or ns (by magnitude) → ns.
fn timestamp_ns(n: &Node<'_>) -> Result<i64, Reject> {
    const WHAT: &str = "timestamp";
    let ns_per_unit = |magnitude: f64| match magnitude {
        m if m < 1e11 => 1_000_000_000,
        m if m < 1e14 => 1_000_000,
        m if m < 1e17 => 1_000,
        _ => 1,
    };
    if let Some(i) = n.as_i64() {
        return common::int_to_ns(&WHAT, i, ns_per_unit(i.unsigned_abs() as f64));
    }
    // A u64 beyond i64 arrives here as a float and overflows: bad timestamp.
    let f = n.as_f64().unwrap_or(f64::INFINITY);
    common::f64_to_ns(&WHAT, f, ns_per_unit(f.abs())).map_err(|e| match e.reason {
        RejectReason::NonFinite => Reject::new(RejectReason::BadTimestamp, e.detail),
        _ => e,
    })
}

fn wrong(key: &str, v: &Node<'_>, expected: &str) -> Reject {
    reject(
        RejectReason::WrongType,
        format!("`{key}` is {}, expected {expected}", v.type_name()),
    )
}

#[cfg(test)]
#[path = "telegraf_json_tests.rs"]
mod tests;
