//! `value` format: one bare number per topic (`probe/rtr-001/8.8.8.8/rtt` → `0.012`).
//!
//! TODO(decoders helper): implement `decode`.

use crate::decode::json::Source;
use crate::decode::{DecodeContext, Decoded};
use crate::reject::Reject;
use crate::sample::Field;

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

pub fn decode(_ctx: DecodeContext<'_>, _mapping: &ValueMapping, _payload: &[u8]) -> Result<Decoded, Reject> {
    todo!("value decoder")
}
