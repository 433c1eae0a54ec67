//! Why a message (or part of one) was not turned into samples.
//!
//! Every reject is counted by route and reason
//! (`schoolnet_collector_rejected_total{route,reason}`), logged at a
//! rate-limited level and kept in the dead-letter list. The reason strings are
//! a stable interface: alert rules and dashboards select on them.
//!
//! # Limits and identity
//!
//! Hostile or broken input is bounded before it can cost memory or reach
//! storage; each bound is a `[limits]` key (see `config::LimitsConfig`):
//! payload size (`too_large`), values per message (`too_many_fields`), length
//! of every value that becomes a tag or a lookup key (`tag_too_long`), device
//! clock skew (`bad_timestamp`) and distinct series per device
//! (`series_limit`).
//!
//! # Damaged values
//!
//! A payload cut short (or otherwise damaged) can still parse. What gives it
//! away is checked against the series' history in the normalizer: a counter
//! jump beyond the plausible rate (`implausible_rate`), a counter that lost
//! its integer type (`counter_type_changed`) and a line that lost its
//! timestamp (`missing_timestamp`).
//!
//! A device may only report for itself: where a payload names its device
//! (Telegraf's `host` tag, a canonical line's `device` tag, a `json` route's
//! `device` path) and the topic names one too (`{device}`), both must be the
//! same id, else the whole message is rejected as `identity_mismatch`.
//! Which client may publish on which topic is the broker's business (its
//! ACL): MQTT 3.1.1 does not tell a subscriber the publisher's client id or
//! username, so the collector can only compare the payload with the topic.
//! (MQTT 5 user properties could carry the publisher's identity; not used.)

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The topic matched no route's pattern.
    NoRoute,
    /// The payload is not valid for the route's format (truncated, bad syntax).
    ParseError,
    /// A value has the wrong type (text where a number belongs, negative counter).
    WrongType,
    /// The number of values does not match what the metric type defines.
    WrongArity,
    /// A value is NaN or infinite where a finite number is required.
    NonFinite,
    /// The payload exceeds the size limit.
    TooLarge,
    /// The device is not in the inventory.
    UnknownDevice,
    /// A timestamp is too far in the future or the past.
    BadTimestamp,
    /// A counter sample older than the last one seen for its series.
    OutOfOrder,
    /// The message decoded but carried no value schoolnet knows how to use.
    NoUsableValues,
    /// The message carries more values than `limits.max_fields_per_message`
    /// (mapped values, counted over all its lines / metrics); nothing of it
    /// is used.
    TooManyFields,
    /// A device id, interface name, probe target or topic variable is longer
    /// than `limits.max_tag_value_bytes`; checked before any lookup.
    TagTooLong,
    /// The device already has `limits.max_series_per_device` distinct
    /// (measurement, key, field) series; the new ones are dropped (its known
    /// series keep being written).
    SeriesLimit,
    /// The payload names another device than the topic (`host` tag ≠
    /// `{device}`); the whole message is dropped.
    IdentityMismatch,
    /// A counter increase implying more than the plausible rate (bytes: 10
    /// Gbit/s or twice the school's uplink; packets, errors, drops: that in
    /// minimum-size frames), or a device-computed rate (collectd
    /// `StoreRates`) above it: a damaged value. That field gets no value and
    /// no rate and its monotonic counter does not move; the rest is kept.
    ImplausibleRate,
    /// A counter field that arrived as an integer before now arrives as a
    /// float (line protocol `123i` → `12`: a line cut inside its last number
    /// loses its `i`); that field is dropped, the rest is kept.
    CounterTypeChanged,
    /// A line without a timestamp for a series whose earlier lines carried
    /// one (a line cut before or inside its timestamp); the receive time
    /// would misplace its values, so the whole observation is dropped.
    MissingTimestamp,
    /// A `json` route's configured path is absent from a payload whose
    /// other fields were stored (message outcome `partial`; the per-field
    /// count is `schoolnet_collector_mapping_missing_total`).
    MissingField,
}

impl RejectReason {
    pub const ALL: [RejectReason; 18] = [
        RejectReason::NoRoute,
        RejectReason::ParseError,
        RejectReason::WrongType,
        RejectReason::WrongArity,
        RejectReason::NonFinite,
        RejectReason::TooLarge,
        RejectReason::UnknownDevice,
        RejectReason::BadTimestamp,
        RejectReason::OutOfOrder,
        RejectReason::NoUsableValues,
        RejectReason::TooManyFields,
        RejectReason::TagTooLong,
        RejectReason::SeriesLimit,
        RejectReason::IdentityMismatch,
        RejectReason::ImplausibleRate,
        RejectReason::CounterTypeChanged,
        RejectReason::MissingTimestamp,
        RejectReason::MissingField,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NoRoute => "no_route",
            RejectReason::ParseError => "parse_error",
            RejectReason::WrongType => "wrong_type",
            RejectReason::WrongArity => "wrong_arity",
            RejectReason::NonFinite => "non_finite",
            RejectReason::TooLarge => "too_large",
            RejectReason::UnknownDevice => "unknown_device",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::OutOfOrder => "out_of_order",
            RejectReason::NoUsableValues => "no_usable_values",
            RejectReason::TooManyFields => "too_many_fields",
            RejectReason::TagTooLong => "tag_too_long",
            RejectReason::SeriesLimit => "series_limit",
            RejectReason::IdentityMismatch => "identity_mismatch",
            RejectReason::ImplausibleRate => "implausible_rate",
            RejectReason::CounterTypeChanged => "counter_type_changed",
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::MissingField => "missing_field",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reject with a human-readable detail naming the offending key or value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Reject {
    pub reason: RejectReason,
    pub detail: String,
}

impl Reject {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Reject {
        Reject {
            reason,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for r in RejectReason::ALL {
            let s = r.as_str();
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            assert!(seen.insert(s), "{s} twice");
        }
    }
}
