//! `influx` format: InfluxDB line protocol as Telegraf `outputs.mqtt`
//! publishes it (default topic `telegraf/<host>/<name>`).
//!
//! Accepts one or more lines (`\n`-separated; blank lines and `#` comments
//! skipped), parsed with the `influxdb-line-protocol` crate; timestamps are
//! nanoseconds (Telegraf's serializer always writes ns), a missing timestamp
//! means receive time. Lines are mapped by `telegraf_map` (Telegraf
//! `net`, `ping`, `system`, `mem`, `cpu`, `temp` and schoolnet's canonical
//! measurements); lines of other measurements are skipped, and a message in
//! which no line maps is ignored (`unmapped telegraf metric`).
//!
//! Any line that does not parse rejects the whole message as `parse_error`
//! naming the (1-based, physical) line number and the parser's message, so a
//! half-applied batch never happens.
//!
//! Identity: on a route with a `{device}` topic variable, a line whose `host`
//! tag (or, for schoolnet's own measurements, `device` tag) names another
//! device rejects the whole message as `identity_mismatch` rather than
//! being silently overridden by the topic. See `telegraf_map`.

use influxdb_line_protocol::{parse_lines, split_lines, FieldValue};

use super::common::{self, echo, reject};
use super::telegraf_map::{map_metric, Metric, Val};
use crate::decode::{DecodeContext, Decoded};
use crate::reject::{Reject, RejectReason};

pub fn decode(ctx: DecodeContext<'_>, payload: &[u8]) -> Result<Decoded, Reject> {
    // Untrimmed, so line numbers count from the payload's first line.
    let text = common::utf8(payload)?;
    if text.trim().is_empty() {
        return Err(reject(RejectReason::ParseError, "empty payload"));
    }
    let mut observations = Vec::new();
    let mut lineno = 1;
    for line in split_lines(text) {
        // `parse_lines` on one split line yields that line (or nothing for a
        // blank or comment line): the same parse as on the whole text.
        for parsed in parse_lines(line) {
            let parsed = parsed.map_err(|e| {
                reject(
                    RejectReason::ParseError,
                    format!("line {lineno}: {}", echo(&e.to_string())),
                )
            })?;
            let tags = parsed
                .series
                .tag_set
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let fields = parsed
                .field_set
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        FieldValue::I64(i) => Val::I(*i),
                        FieldValue::U64(u) => Val::U(*u),
                        FieldValue::F64(f) => Val::F(*f),
                        FieldValue::Boolean(b) => Val::Bool(*b),
                        FieldValue::String(s) => Val::Str(s.as_str()),
                    };
                    (k.as_str(), v)
                })
                .collect();
            let metric = Metric {
                name: parsed.series.measurement.as_str(),
                tags,
                fields,
                time_ns: parsed.timestamp,
            };
            if let Some(obs) = map_metric(&ctx, &metric).map_err(|e| at_line(e, lineno))? {
                observations.push(obs);
            }
        }
        // A quoted string field may span physical lines.
        lineno += 1 + line.bytes().filter(|&b| b == b'\n').count();
    }
    if observations.is_empty() {
        return Ok(Decoded::Ignored("unmapped telegraf metric"));
    }
    Ok(Decoded::Observations(observations))
}

fn at_line(mut e: Reject, lineno: usize) -> Reject {
    e.detail = format!("line {lineno}: {}", e.detail);
    e
}

#[cfg(test)]
#[path = "influx_tests.rs"]
mod tests;
