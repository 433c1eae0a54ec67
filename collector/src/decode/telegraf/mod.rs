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
//! Metrics are mapped by `mapping` exactly like the `influx` format's
//! ([`decode::line`](crate::decode::line)); metrics that do not map are
//! skipped, and a message in which none maps is ignored. Invalid JSON is a `parse_error`; a mapped field of the
//! wrong JSON type is `wrong_type` naming the field. A `host` tag naming
//! another device than the topic's `{device}` rejects the whole message
//! (`identity_mismatch`, see `mapping`).
//!
//! The folder holds everything Telegraf-specific: this decoder,
//! `document` (the document read straight into its metrics through
//! serde_json), `mapping` (Telegraf metrics → canonical
//! observations, for both Telegraf formats) and `snmp` (its `inputs.snmp`
//! rows).

mod document;
pub(in crate::decode) mod mapping;
mod snmp;

use crate::decode::detail::{echo, reject};
use crate::decode::{payload, timestamp};
use crate::decode::{DecodeContext, Decoded, Observations};
use crate::reject::{Reject, RejectReason};
use document::{MetricDoc, Presence, Scalar};
use mapping::{map_metric, Metric};

pub fn decode<'a>(ctx: DecodeContext<'a>, payload: &'a [u8]) -> Result<Decoded<'a>, Reject> {
    let text = payload::text(payload)?;
    let mut doc = MetricDoc::default();
    let is_object = document::parse(text, &mut doc).map_err(|e| payload::invalid_json(&e))?;
    if !is_object {
        return Err(payload::not_an_object());
    }
    let mut observations = Observations::new();
    let mut one = |m: &MetricDoc<'a>| -> Result<(), Reject> {
        observations.extend(map_metric(&ctx, &to_metric(m)?)?);
        Ok(())
    };
    match &doc.metrics_as {
        Presence::Expected => {
            for (i, m) in doc.metrics.iter().enumerate() {
                let m = m
                    .as_ref()
                    .ok_or_else(|| reject(RejectReason::ParseError, "metric is not a JSON object"));
                m.and_then(&mut one)
                    .map_err(|e| Reject::new(e.reason, format!("metrics[{i}]: {}", e.detail)))?;
            }
        }
        Presence::Other(other) => {
            return Err(reject(
                RejectReason::WrongType,
                format!("`metrics` is {}, expected an array", other.type_name()),
            ))
        }
        Presence::Absent => one(&doc)?,
    }
    if observations.is_empty() {
        return Ok(Decoded::Ignored("unmapped telegraf metric"));
    }
    Ok(Decoded::Observations(observations))
}

/// Checks `m`'s keys (in the order the tree-based reader did, so the same
/// problem is named first) and views it as a [`Metric`].
fn to_metric<'m, 'a>(m: &'m MetricDoc<'a>) -> Result<Metric<'m, 'a, Scalar<'a>>, Reject> {
    let name = match &m.name {
        Some(Scalar::Str(s)) => &**s,
        Some(other) => return Err(wrong("name", other, "a string")),
        None => return Err(reject(RejectReason::ParseError, "metric has no `name`")),
    };
    let tags: &[_] = match &m.tags_as {
        Presence::Expected => &m.tags,
        Presence::Absent | Presence::Other(Scalar::Null) => &[],
        Presence::Other(other) => return Err(wrong("tags", other, "an object")),
    };
    match &m.fields_as {
        Presence::Expected => {}
        Presence::Other(other) => return Err(wrong("fields", other, "an object")),
        Presence::Absent => {
            return Err(reject(
                RejectReason::ParseError,
                format!("`{}` metric has no `fields`", echo(name)),
            ))
        }
    }
    let time_ns = match &m.timestamp {
        None | Some(Scalar::Null) => None,
        Some(n @ (Scalar::U(_) | Scalar::I(_) | Scalar::F(_))) => Some(timestamp_ns(n)?),
        Some(other) => return Err(wrong("timestamp", other, "a number")),
    };
    Ok(Metric {
        name,
        tags,
        fields: &m.fields,
        time_ns,
    })
}

/// A timestamp in s, ms, µs or ns (by magnitude) → ns.
fn timestamp_ns(n: &Scalar<'_>) -> Result<i64, Reject> {
    const WHAT: &str = "timestamp";
    let ns_per_unit = |magnitude: f64| match magnitude {
        m if m < 1e11 => 1_000_000_000,
        m if m < 1e14 => 1_000_000,
        m if m < 1e17 => 1_000,
        _ => 1,
    };
    if let Some(i) = n.as_i64() {
        return timestamp::int_to_ns(&WHAT, i, ns_per_unit(i.unsigned_abs() as f64));
    }
    // A u64 beyond i64 arrives here as a float and overflows: bad timestamp.
    let f = n.as_f64().unwrap_or(f64::INFINITY);
    timestamp::f64_to_ns(&WHAT, f, ns_per_unit(f.abs())).map_err(|e| match e.reason {
        RejectReason::NonFinite => Reject::new(RejectReason::BadTimestamp, e.detail),
        _ => e,
    })
}

fn wrong(key: &str, v: &Scalar<'_>, expected: &str) -> Reject {
    reject(
        RejectReason::WrongType,
        format!("`{key}` is {}, expected {expected}", v.type_name()),
    )
}

#[cfg(test)]
mod tests;
