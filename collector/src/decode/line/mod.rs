//! The line-protocol decoder (route `format = "influx"`): line protocol as
//! Telegraf `outputs.mqtt` publishes it (default topic
//! `telegraf/<host>/<name>`). Named by what it decodes, the text format,
//! not by the database that defined it: `sink::influx` is the one that
//! talks to InfluxDB.
//!
//! Accepts one or more lines (`\n`-separated; blank lines and `#` comments
//! skipped), parsed by [`crate::line_protocol::parse`] (zero-copy; it accepts what
//! the `influxdb-line-protocol` crate used here before accepted, but for a
//! trailing comma after the fields, see there); timestamps are
//! nanoseconds (Telegraf's serializer always writes ns), a missing timestamp
//! means receive time (unless the series has carried timestamps: then the
//! line was cut short, `missing_timestamp`, see `normalize::damage`). Lines
//! are mapped by `telegraf::mapping` (Telegraf `net`, `ping`, `system`,
//! `mem`, `cpu`, `temp` and schoolnet's canonical measurements); lines of other measurements are skipped, and a message in
//! which no line maps is ignored (`unmapped telegraf metric`).
//!
//! Any line that does not parse rejects the whole message as `parse_error`
//! naming the (1-based, physical) line number and the parser's message, so a
//! half-applied batch never happens.
//!
//! Identity: on a route with a `{device}` topic variable, a line whose `host`
//! tag (or, for schoolnet's own measurements, `device` tag) names another
//! device rejects the whole message as `identity_mismatch` rather than
//! being silently overridden by the topic. See `telegraf::mapping`.

use super::telegraf::mapping::{map_metric, AsVal, Metric, Val};
use crate::decode::detail::reject;
use crate::decode::payload;
use crate::decode::{DecodeContext, Decoded, Observations};
use crate::line_protocol::parse::{self, Line, LineValue};
use crate::reject::{Reject, RejectReason};

pub fn decode<'a>(ctx: DecodeContext<'a>, payload: &'a [u8]) -> Result<Decoded<'a>, Reject> {
    // Untrimmed, so line numbers count from the payload's first line.
    let text = payload::utf8(payload)?;
    if text.trim().is_empty() {
        return Err(reject(RejectReason::ParseError, "empty payload"));
    }
    // Telegraf's MQTT output sends one metric per message unless batching.
    let mut observations = Observations::new();
    let mut lines = parse::lines(text);
    // One line buffer for the whole message, on the stack (see `Line`).
    let mut line = Line::default();
    while let Some(parsed) = lines.next_into(&mut line) {
        // The parser's message echoes payload text bounded and escaped.
        parsed.map_err(|e| reject(RejectReason::ParseError, format!("line {}: {e}", e.line)))?;
        let metric = Metric {
            name: &line.measurement,
            tags: &line.tags,
            fields: &line.fields,
            time_ns: line.timestamp,
        };
        if let Some(obs) = map_metric(&ctx, &metric).map_err(|e| at_line(e, line.number))? {
            observations.push(obs);
        }
    }
    if observations.is_empty() {
        return Ok(Decoded::Ignored("unmapped telegraf metric"));
    }
    Ok(Decoded::Observations(observations))
}

impl AsVal for LineValue<'_> {
    fn as_val(&self) -> Val<'_> {
        match self {
            LineValue::I64(i) => Val::I(*i),
            LineValue::U64(u) => Val::U(*u),
            LineValue::F64(f) => Val::F(*f),
            LineValue::Bool(b) => Val::Bool(*b),
            LineValue::Str(s) => Val::Str(s),
        }
    }
}

fn at_line(mut e: Reject, lineno: usize) -> Reject {
    e.detail = format!("line {lineno}: {}", e.detail);
    e
}

#[cfg(test)]
mod tests;
