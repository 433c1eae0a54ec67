//! Payload decoders: wire formats seen in the field → format-neutral
//! [`Observation`]s named in canonical fields, still keyed by the device id
//! as the device reported it (the inventory join happens in `normalize`).
//!
//! Decoders are pure functions of (route options, topic variables, payload):
//! no state, no I/O, no allocation beyond their output, so they can be fuzzed
//! and property-tested in isolation. Counter state (wraps, resets, rates) is
//! not their business either: they report raw counters as [`Reading::Counter`]
//! and device-computed rates as [`Reading::Rate`].
//!
//! One folder per format (the route's `format` string in brackets), its
//! tests beside it in `tests.rs`:
//! - [`collectd`] (`collectd`): OpenWrt `collectd-mod-mqtt`, `<epoch>:<v1>[:<v2>…]`, trailing NUL.
//! - [`line`](mod@line) (`influx`): line protocol as Telegraf `outputs.mqtt` publishes
//!   it (syntax: [`crate::line_protocol::parse`]), mapped like any Telegraf metric.
//! - [`telegraf`] (`telegraf-json`): Telegraf's JSON serializer, single and
//!   batch; the folder also holds its readers and the Telegraf → canonical
//!   mapping both Telegraf formats use.
//! - [`json`] (`json`): arbitrary JSON with a configured field mapping (MikroTik, ONTs).
//! - [`value`] (`value`): one bare number per topic.
//! - [`status`] (`status`): will / status topics (Tasmota `Online`/`Offline`, Homie `$state`).
//!
//! Beside them, what every decoder uses: `payload` (the payload as text),
//! `readings` (numbers → checked [`Reading`]s), `timestamp` (device
//! times → ns), `identity` (topic variables, whose device a message is),
//! `detail` (bounded reject details). Number text is read by `str::parse`.

pub mod collectd;
// Also read by `crate::line_protocol::parse`.
pub(crate) mod detail;
mod identity;
pub mod json;
pub mod line;
mod payload;
mod readings;
pub mod status;
pub mod telegraf;
mod timestamp;
pub mod value;

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::reject::Reject;
use crate::route::TopicVars;
use crate::sample::{CounterWidth, Field, Measurement};

pub use json::JsonMapping;
pub use value::ValueMapping;

/// A value as the device reported it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// A point-in-time value in the field's canonical unit. Always finite.
    Gauge(f64),
    /// A raw cumulative counter as the device holds it (may wrap or reset).
    Counter { raw: u64, width: CounterWidth },
    /// A raw counter the wire format typed as a float (line protocol without
    /// the `i`/`u` suffix, a JSON number with a fraction or exponent), still
    /// integral. Telegraf types counters as integers, so the normalizer
    /// rejects this on a series that has carried integers
    /// (`counter_type_changed`: a line cut inside its last number lost its
    /// suffix); a series that always sends floats is a plain counter.
    FloatCounter { raw: u64, width: CounterWidth },
    /// A per-second rate of a counter field, in the counter's unit per second
    /// (bytes/s for `rx_bytes`), as sent by collectd with StoreRates on.
    /// Always finite and non-negative.
    Rate(f64),
}

/// One decoded reading set for one device, measurement and key. Names are
/// borrowed from the message's topic or payload (`'a`) where they appear
/// verbatim, so decoding copies no text; the normalizer interns what it keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation<'a> {
    /// Device id as reported (topic variable `device` or the payload's host tag).
    pub device: Cow<'a, str>,
    /// Device timestamp in Unix nanoseconds, when the payload carries one.
    pub time_ns: Option<i64>,
    pub measurement: Measurement,
    /// Interface name (interface) or probe target (probe).
    pub key: Option<Cow<'a, str>>,
    /// Non-empty; each field belongs to `measurement`.
    pub values: Values,
}

/// A device's online/offline announcement.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport<'a> {
    pub device: Cow<'a, str>,
    pub online: bool,
}

/// The readings of one observation: inline up to 8 (an interface's eight
/// counters, Telegraf's `net`), so most observations allocate nothing.
pub type Values = SmallVec<[(Field, Reading); 8]>;

/// The observations of one message: one inline (most messages carry one),
/// more (a Telegraf batch) on the heap.
pub type Observations<'a> = SmallVec<[Observation<'a>; 1]>;

/// What one MQTT message decoded into.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per message, on the stack: boxing the inline observation \
              would bring back the allocation it saves"
)]
pub enum Decoded<'a> {
    Observations(Observations<'a>),
    Status(StatusReport<'a>),
    /// Valid input that carries nothing schoolnet stores (a collectd plugin we
    /// do not map, a first `nan` rate sample). Counted as outcome `ignored`,
    /// with the reason as a short static label for logs.
    Ignored(&'static str),
}

#[cfg(test)]
impl Decoded<'_> {
    /// This result with its borrowed names copied: for keeping it beyond
    /// the message it was decoded from (the decoders' tests compare such
    /// results with expected values built from literals).
    pub(crate) fn into_owned(self) -> Decoded<'static> {
        let own = |s: Cow<'_, str>| Cow::Owned(s.into_owned());
        match self {
            Decoded::Observations(observations) => Decoded::Observations(
                observations
                    .into_iter()
                    .map(|o| Observation {
                        device: own(o.device),
                        time_ns: o.time_ns,
                        measurement: o.measurement,
                        key: o.key.map(own),
                        values: o.values,
                    })
                    .collect(),
            ),
            Decoded::Status(s) => Decoded::Status(StatusReport {
                device: own(s.device),
                online: s.online,
            }),
            Decoded::Ignored(why) => Decoded::Ignored(why),
        }
    }
}

/// A route's payload format and its options.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// collectd `write_mqtt`; `store_rates` mirrors the plugin's `StoreRates`.
    Collectd { store_rates: bool },
    /// Line protocol as Telegraf publishes it (config `format = "influx"`).
    LineProtocol,
    /// Telegraf's JSON serializer, single metric or `{"metrics":[…]}`.
    TelegrafJson,
    /// JSON with a configured mapping onto canonical fields.
    Json(JsonMapping),
    /// One bare number per message.
    Value(ValueMapping),
    /// Will / status messages.
    Status,
}

impl Format {
    /// The `format` value in the config.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Collectd { .. } => "collectd",
            Format::LineProtocol => "influx",
            Format::TelegrafJson => "telegraf-json",
            Format::Json(_) => "json",
            Format::Value(_) => "value",
            Format::Status => "status",
        }
    }
}

/// Everything a decoder may look at besides the payload.
#[derive(Debug, Clone, Copy)]
pub struct DecodeContext<'a> {
    /// Variables captured from the topic by the route's pattern.
    pub vars: &'a TopicVars<'a>,
    /// Width of raw counters from this route's devices.
    pub counter_width: CounterWidth,
}

/// Decodes one payload according to `format`.
pub fn decode<'a>(
    format: &Format,
    ctx: DecodeContext<'a>,
    payload: &'a [u8],
) -> Result<Decoded<'a>, Reject> {
    decode_noting_missing(format, ctx, payload, &mut Vec::new())
}

/// [`decode`], and for a `json` mapping the configured paths the payload
/// lacked are appended to `missing` (see [`json::decode_noting_missing`]);
/// the other formats have no configured paths and append nothing.
pub fn decode_noting_missing<'a>(
    format: &Format,
    ctx: DecodeContext<'a>,
    payload: &'a [u8],
    missing: &mut Vec<json::MissingField>,
) -> Result<Decoded<'a>, Reject> {
    match format {
        Format::Collectd { store_rates } => collectd::decode(ctx, *store_rates, payload),
        Format::LineProtocol => line::decode(ctx, payload),
        Format::TelegrafJson => telegraf::decode(ctx, payload),
        Format::Json(mapping) => json::decode_noting_missing(ctx, mapping, payload, missing),
        Format::Value(mapping) => value::decode(ctx, mapping, payload),
        Format::Status => status::decode(ctx, payload),
    }
}
