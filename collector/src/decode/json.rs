//! `json` format: arbitrary JSON objects mapped onto canonical fields by the
//! route's configuration (MikroTik scripts, ONT/SFP pollers).
//!
//! TODO(decoders helper): implement `decode`.

use crate::decode::{DecodeContext, Decoded};
use crate::reject::Reject;
use crate::sample::{Field, Measurement};

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

/// One canonical field and the JSON path it is read from.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMap {
    pub field: Field,
    pub path: String,
    /// Multiplier applied after parsing (`0.01` turns percent into a ratio).
    pub scale: f64,
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

pub fn decode(_ctx: DecodeContext<'_>, _mapping: &JsonMapping, _payload: &[u8]) -> Result<Decoded, Reject> {
    todo!("json decoder")
}
