//! `value` format: one bare number per topic (`probe/rtr-001/8.8.8.8/rtt` → `0.012`).
//!
//! Accepts one ASCII number (`12.5`, `-3`, `1e3`), surrounding whitespace and
//! trailing NULs trimmed, optionally in double quotes (`"12.5"`); `true` /
//! `false` read as 1/0 for gauge fields (Homie booleans, `oper_up`). The
//! number is multiplied by the route's `scale`. A counter field yields
//! [`Reading::Counter`](crate::decode::Reading::Counter) (non-negative integer; integer text is exact), any
//! other field [`Reading::Gauge`](crate::decode::Reading::Gauge). The device and key come from topic
//! variables; there is no device timestamp.
//!
//! Empty payload: `parse_error`; `nan`/`inf` or an overflowing scale:
//! `non_finite`; anything else that is not a number: `wrong_type`.

use std::borrow::Cow;

use smallvec::smallvec;

use crate::decode::detail::{echo, reject};
use crate::decode::json::Source;
use crate::decode::{identity, payload, readings};
use crate::decode::{DecodeContext, Decoded, Observation};
use crate::reject::{Reject, RejectReason};
use crate::sample::{Field, FieldKind};

/// A route's mapping of a bare number onto one canonical field.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueMapping {
    /// The field (and through it the measurement) the number is.
    pub field: Field,
    /// Device id; default: topic variable `device`.
    pub device: Source,
    /// Interface name or probe target (topic variable), if the measurement has one.
    pub key: Option<Source>,
    /// Multiplier applied to the number (`0.001` for milliseconds → seconds).
    pub scale: f64,
}

pub fn decode<'a>(
    ctx: DecodeContext<'a>,
    mapping: &ValueMapping,
    payload: &[u8],
) -> Result<Decoded<'a>, Reject> {
    let device = topic_source(&ctx, &mapping.device, "device")?;
    let key = match &mapping.key {
        Some(source) => Some(topic_source(&ctx, source, "key")?),
        None => None,
    };
    let text = payload::text(payload)?;
    let s = payload::trim(
        text.strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(text),
    );
    if s.is_empty() {
        return Err(reject(RejectReason::ParseError, "empty payload"));
    }
    let field = mapping.field;
    let what = field.key();
    let reading = match readings::exact_counter(field, &what, s, mapping.scale, ctx.counter_width) {
        Some(r) => r?,
        None => {
            let x = match payload::bool_word(s) {
                Some(b) if field.kind() == FieldKind::Gauge => f64::from(u8::from(b)),
                Some(_) => {
                    return Err(reject(
                        RejectReason::WrongType,
                        format!("{what}: a boolean is not a counter"),
                    ))
                }
                None => s.parse::<f64>().ok().ok_or_else(|| {
                    reject(
                        RejectReason::WrongType,
                        format!("{what}: `{}` is not a number", echo(s)),
                    )
                })?,
            };
            readings::scaled(field, &what, x, mapping.scale, ctx.counter_width)?
        }
    };
    Ok(Decoded::Observations(smallvec![Observation {
        device: Cow::Borrowed(device),
        time_ns: None,
        measurement: field.measurement(),
        key: key.map(Cow::Borrowed),
        values: smallvec![(field, reading)],
    }]))
}

/// Device and key come from topic variables only: a bare number has no paths.
fn topic_source<'a>(
    ctx: &DecodeContext<'a>,
    source: &Source,
    role: &str,
) -> Result<&'a str, Reject> {
    match source {
        Source::TopicVar(var) => identity::topic_var(ctx, var, role),
        Source::JsonPath(path) => Err(reject(
            RejectReason::ParseError,
            format!(
                "no {role}: `{}` is a JSON path, but a value payload has none",
                echo(path)
            ),
        )),
    }
}

#[cfg(test)]
mod tests;
