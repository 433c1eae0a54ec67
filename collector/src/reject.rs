//! Why a message (or part of one) was not turned into samples.
//!
//! Every reject is counted by route and reason
//! (`schoolnet_collector_rejected_total{route,reason}`), logged at a
//! rate-limited level and kept in the dead-letter list. The reason strings are
//! a stable interface: alert rules and dashboards select on them.

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
}

impl RejectReason {
    pub const ALL: [RejectReason; 10] = [
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
