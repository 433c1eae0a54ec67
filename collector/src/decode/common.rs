//! Helpers shared by the decoders: payload text, echoing offending values,
//! number checks (finite gauges, non-negative integral counters that fit the
//! declared width), timestamp conversion and topic variables.
//!
//! Every helper returns a [`Reject`] whose detail names the offending key or
//! token, echoed through [`echo`] so a hostile payload cannot flood the logs.
//! The name (`what`) is a [`Display`], formatted only when a reject is made:
//! good messages, the common case, build no strings for it ([`Lazy`]).

use std::fmt::{self, Display};

use crate::decode::{DecodeContext, Reading, Values};
use crate::reject::{Reject, RejectReason};
use crate::sample::CounterWidth;
use crate::sample::{Field, FieldKind};

/// A [`Display`] that runs its closure when formatted: a reject detail's
/// subject (`net.bytes_recv`, ``rx_dbm (`rxpower`)``) that costs nothing
/// unless a reject is actually made.
pub(super) struct Lazy<F>(pub F)
where
    F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result;

impl<F> Display for Lazy<F>
where
    F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

/// Longest echo of a payload token in a reject detail, in characters.
pub(super) const ECHO_MAX: usize = 64;

/// `s` truncated to [`ECHO_MAX`] characters, control characters escaped.
pub(super) fn echo(s: &str) -> String {
    echo_max(s, ECHO_MAX)
}

/// [`echo`] truncated to `max` characters instead.
pub(crate) fn echo_max(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// A float for a reject detail: scientific notation when the plain form is
/// long, so `1e300` or `1e-300` do not print as 300 digits.
pub(super) fn num(v: f64) -> String {
    let plain = v.to_string();
    if plain.len() > 24 {
        format!("{v:e}")
    } else {
        plain
    }
}

pub(super) fn reject(reason: RejectReason, detail: impl Into<String>) -> Reject {
    Reject::new(reason, detail)
}

/// The payload as UTF-8 with trailing NUL bytes removed (collectd 5.12
/// appends one); may be empty.
pub(super) fn utf8(payload: &[u8]) -> Result<&str, Reject> {
    let end = payload.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    std::str::from_utf8(&payload[..end]).map_err(|e| {
        reject(
            RejectReason::ParseError,
            format!(
                "payload is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// [`utf8`], surrounding whitespace trimmed, not empty.
pub(super) fn text(payload: &[u8]) -> Result<&str, Reject> {
    let s = trim(utf8(payload)?);
    if s.is_empty() {
        return Err(reject(RejectReason::ParseError, "empty payload"));
    }
    Ok(s)
}

/// The reject for a payload that is not JSON (both JSON formats word it
/// alike): serde_json's message, echoed.
#[cold]
pub(super) fn invalid_json(e: &serde_json::Error) -> Reject {
    reject(
        RejectReason::ParseError,
        format!("invalid JSON: {}", echo(&e.to_string())),
    )
}

/// The reject for JSON whose top level is not an object.
#[cold]
pub(super) fn not_an_object() -> Reject {
    reject(RejectReason::ParseError, "top level is not a JSON object")
}

/// `s.trim()`, without its char-by-char decoding when both ends are
/// visible ASCII (never whitespace): every number in a string and every
/// payload passes here.
#[inline]
pub(super) fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        [only] if only.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

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

/// `true`/`false` in any case.
#[inline]
pub(super) fn bool_word(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

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

/// A topic variable that must be present (the device id, usually).
pub(super) fn topic_var<'a>(
    ctx: &DecodeContext<'a>,
    name: &str,
    role: &str,
) -> Result<&'a str, Reject> {
    match ctx.vars.get(name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(reject(
            RejectReason::ParseError,
            format!("no {role}: topic variable `{}` missing", echo(name)),
        )),
    }
}

/// The topic's `{device}` variable, when the route has one and it is set.
pub(super) fn topic_device<'a>(ctx: &DecodeContext<'a>) -> Option<&'a str> {
    ctx.vars.get("device").filter(|d| !d.is_empty())
}

/// `Ok` unless the payload names (`claimed`, read from `source`) another
/// device than the topic (`topic`): a device may only report for itself.
/// Both ids are echoed bounded, so a hostile id cannot flood the logs.
pub(super) fn same_device(topic: &str, claimed: &str, source: &dyn Display) -> Result<(), Reject> {
    if claimed == topic {
        return Ok(());
    }
    Err(reject(
        RejectReason::IdentityMismatch,
        format!(
            "payload names device `{}` ({source}) but the topic names `{}`",
            echo(claimed),
            echo(topic)
        ),
    ))
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
    fn echo_truncates_and_escapes() {
        assert_eq!(echo("a\0b"), "a\\0b");
        let long = "x".repeat(100);
        assert_eq!(echo(&long).chars().count(), ECHO_MAX + 1);
        assert_eq!(num(1e300), "1e300");
        assert_eq!(num(-1.5e-300), "-1.5e-300");
        assert_eq!(num(12.5), "12.5");
    }

    #[test]
    fn text_strips_nul_and_rejects_bad_utf8() {
        assert_eq!(text(b" 1:2\0").unwrap(), "1:2");
        assert_eq!(text(b"\0\0").unwrap_err().detail, "empty payload");
        assert!(text(b"\xff\xfe").unwrap_err().detail.contains("offset 0"));
    }

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

    proptest::proptest! {
        /// `trim` is `str::trim`, its shortcut included.
        #[test]
        fn trim_is_str_trim(s in "[ \t\n\r\x0b\x0c\x01a-z0-9\u{a0}\u{3000}é]{0,6}") {
            proptest::prop_assert_eq!(trim(&s), s.trim());
        }
    }
}
