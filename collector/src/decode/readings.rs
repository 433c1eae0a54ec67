//! Numbers → checked [`Reading`]s: gauges are finite; counters are
//! non-negative, integral and fit the declared [`CounterWidth`] (exactly,
//! from integer text, beyond 2^53). Each reject names the value's subject
//! (`what`) and the offending number, echoed.

use std::fmt::Display;

use crate::decode::detail::{echo, num, reject};
use crate::decode::{CounterWidth, Reading, Values};
use crate::reject::{Reject, RejectReason};
use crate::sample::{Field, FieldKind};

/// `v` if finite, else a `NonFinite` reject naming `what`.
///
/// Inlined, the reject out of line: every number of every message passes
/// here, some twice, and as a call it cost more than the check.
#[inline]
pub(super) fn finite(what: &dyn Display, v: f64) -> Result<f64, Reject> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(not_finite(what, v))
    }
}

#[cold]
fn not_finite(what: &dyn Display, v: f64) -> Reject {
    reject(
        RejectReason::NonFinite,
        format!(
            "{}: value {} is not finite",
            echo(&what.to_string()),
            num(v)
        ),
    )
}

/// Checks a raw counter against the route's declared width.
pub(super) fn counter_u64(
    what: &dyn Display,
    raw: u64,
    width: CounterWidth,
) -> Result<Reading, Reject> {
    if u128::from(raw) >= width.modulus() {
        return Err(reject(
            RejectReason::WrongType,
            format!(
                "{}: counter {raw} exceeds the declared 32-bit width",
                echo(&what.to_string())
            ),
        ));
    }
    Ok(Reading::Counter { raw, width })
}

/// A signed integer as a raw counter (must be non-negative).
pub(super) fn counter_i64(
    what: &dyn Display,
    raw: i64,
    width: CounterWidth,
) -> Result<Reading, Reject> {
    match u64::try_from(raw) {
        Ok(raw) => counter_u64(what, raw, width),
        Err(_) => Err(reject(
            RejectReason::WrongType,
            format!("{}: counter {raw} is negative", echo(&what.to_string())),
        )),
    }
}

/// A float as a raw counter: finite, non-negative, integral, below 2^64.
pub(super) fn counter_f64(
    what: &dyn Display,
    v: f64,
    width: CounterWidth,
) -> Result<Reading, Reject> {
    let v = finite(what, v)?;
    let bad = |why: &str| {
        reject(
            RejectReason::WrongType,
            format!("{}: counter {} {why}", echo(&what.to_string()), num(v)),
        )
    };
    if v < 0.0 {
        return Err(bad("is negative"));
    }
    if v.fract() != 0.0 {
        return Err(bad("is not an integer"));
    }
    // 2^64 is exactly representable; anything at or above it does not fit.
    if v >= 18_446_744_073_709_551_616.0 {
        return Err(bad("does not fit 64 bits"));
    }
    counter_u64(what, v as u64, width)
}

/// A number for `field`: a counter for counter fields, a gauge otherwise.
/// Integral values that arrived as integers should use [`counter_u64`]
/// directly to stay exact beyond 2^53.
pub(super) fn reading(
    field: Field,
    what: &dyn Display,
    v: f64,
    width: CounterWidth,
) -> Result<Reading, Reject> {
    match field.kind() {
        FieldKind::Counter => counter_f64(what, v, width),
        FieldKind::Gauge => finite(what, v).map(Reading::Gauge),
    }
}

/// `x * scale` for `field`, both finite (a scale can overflow a finite value).
pub(super) fn scaled(
    field: Field,
    what: &dyn Display,
    x: f64,
    scale: f64,
    width: CounterWidth,
) -> Result<Reading, Reject> {
    let x = finite(what, x)?;
    reading(field, what, finite(what, x * scale)?, width)
}

/// Integral text for a counter field with scale 1, parsed exactly (floats
/// lose precision beyond 2^53); `None` when that does not apply.
///
/// Inlined (the parse out of line): asked of every number in a string,
/// and most are gauges, for which the answer is a comparison.
#[inline]
pub(super) fn exact_counter(
    field: Field,
    what: &dyn Display,
    s: &str,
    scale: f64,
    width: CounterWidth,
) -> Option<Result<Reading, Reject>> {
    #[allow(clippy::float_cmp)] // exactly 1.0 is the "no scale" default
    let unscaled = scale == 1.0;
    if field.kind() != FieldKind::Counter
        || !unscaled
        || s.is_empty()
        || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some(counter_text(what, s, width))
}

/// [`exact_counter`] of digits `s`.
fn counter_text(what: &dyn Display, s: &str, width: CounterWidth) -> Result<Reading, Reject> {
    match s.parse::<u64>() {
        Ok(raw) => counter_u64(what, raw, width),
        Err(_) => Err(reject(
            RejectReason::WrongType,
            format!(
                "{}: counter {} does not fit 64 bits",
                echo(&what.to_string()),
                echo(s)
            ),
        )),
    }
}

/// Pushes `(field, reading)`, replacing an earlier reading of the same field
/// (observations never carry duplicate fields).
pub(super) fn put(values: &mut Values, field: Field, reading: Reading) {
    match values.iter_mut().find(|(f, _)| *f == field) {
        Some(slot) => slot.1 = reading,
        None => values.push((field, reading)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_checked() {
        let w = CounterWidth::Bits64;
        assert_eq!(
            counter_f64(&"x", 5.0, w).unwrap(),
            Reading::Counter { raw: 5, width: w }
        );
        assert_eq!(
            counter_f64(&"x", -1.0, w).unwrap_err().reason,
            RejectReason::WrongType
        );
        assert_eq!(
            counter_f64(&"x", 1.5, w).unwrap_err().reason,
            RejectReason::WrongType
        );
        assert_eq!(
            counter_f64(&"x", 2e19, w).unwrap_err().reason,
            RejectReason::WrongType
        );
        assert_eq!(
            counter_f64(&"x", f64::NAN, w).unwrap_err().reason,
            RejectReason::NonFinite
        );
        assert_eq!(
            counter_u64(&"x", 1 << 32, CounterWidth::Bits32)
                .unwrap_err()
                .reason,
            RejectReason::WrongType
        );
        assert!(counter_u64(&"x", u32::MAX.into(), CounterWidth::Bits32).is_ok());
        assert_eq!(
            counter_i64(&"x", -3, w).unwrap_err().reason,
            RejectReason::WrongType
        );
    }
}
