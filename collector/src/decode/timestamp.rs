//! Device timestamps → Unix nanoseconds, from integers or (possibly
//! fractional) floats in any unit, without overflow: a time out of range
//! is a `bad_timestamp` reject naming it.

use std::fmt::Display;

use crate::decode::detail::{echo, num, reject};
use crate::decode::readings::finite;
use crate::reject::{Reject, RejectReason};

/// A (possibly fractional) timestamp in units of `ns_per_unit` → nanoseconds.
pub(super) fn f64_to_ns(what: &dyn Display, v: f64, ns_per_unit: i64) -> Result<i64, Reject> {
    let v = finite(what, v)?;
    // Whole and fractional units apart: `secs * 1e9` would round the ns to a
    // multiple of 256 at today's epoch.
    let whole = v.trunc();
    let frac_ns = ((v - whole) * ns_per_unit as f64).round() as i64;
    // ±2^63: the range where `as i64` is exact rather than saturating.
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&whole) {
        return Err(out_of_range(what, &num(v)));
    }
    (whole as i64)
        .checked_mul(ns_per_unit)
        .and_then(|ns| ns.checked_add(frac_ns))
        .ok_or_else(|| out_of_range(what, &num(v)))
}

/// An integer timestamp multiplied by `ns_per_unit`, checked for overflow.
pub(super) fn int_to_ns(what: &dyn Display, v: i64, ns_per_unit: i64) -> Result<i64, Reject> {
    v.checked_mul(ns_per_unit)
        .ok_or_else(|| out_of_range(what, &v.to_string()))
}

fn out_of_range(what: &dyn Display, v: &str) -> Reject {
    reject(
        RejectReason::BadTimestamp,
        format!(
            "{}: timestamp {} is out of range",
            echo(&what.to_string()),
            echo(v)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_convert_without_overflow() {
        assert_eq!(f64_to_ns(&"t", 1.5, 1_000_000_000).unwrap(), 1_500_000_000);
        assert_eq!(
            f64_to_ns(&"t", 1_700_000_000.25, 1_000_000_000).unwrap(),
            1_700_000_000_250_000_000
        );
        assert_eq!(
            f64_to_ns(&"t", -1.5, 1_000_000_000).unwrap(),
            -1_500_000_000
        );
        assert_eq!(
            f64_to_ns(&"t", 9.3e9, 1_000_000_000).unwrap_err().reason,
            RejectReason::BadTimestamp
        );
        assert_eq!(
            f64_to_ns(&"t", 1e12, 1_000_000_000).unwrap_err().reason,
            RejectReason::BadTimestamp
        );
        assert_eq!(
            f64_to_ns(&"t", 1_700_000_000_000.5, 1_000_000).unwrap(),
            1_700_000_000_000_500_000
        );
        assert_eq!(
            f64_to_ns(&"t", 1e300, 1).unwrap_err().reason,
            RejectReason::BadTimestamp
        );
        assert_eq!(
            f64_to_ns(&"t", 9.25e18, 1).unwrap_err().reason,
            RejectReason::BadTimestamp
        );
        assert_eq!(
            int_to_ns(&"t", i64::MAX, 1000).unwrap_err().reason,
            RejectReason::BadTimestamp
        );
    }
}
