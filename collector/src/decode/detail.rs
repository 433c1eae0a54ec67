//! Reject details: what a decoder says about a bad payload. Every token of
//! the payload a detail quotes goes through [`echo`] (bounded, control
//! characters escaped), so a hostile payload cannot flood the logs; the
//! subject (`what`, a field or key) is a [`Display`] formatted only when a
//! reject is made, so good messages, the common case, build no strings
//! for it ([`DisplayFn`]).

use std::fmt::{self, Display};

use crate::reject::{Reject, RejectReason};

/// A [`Display`] that runs its closure when formatted: a reject detail's
/// subject (`net.bytes_recv`, ``rx_dbm (`rxpower`)``) that costs nothing
/// unless a reject is actually made.
pub(super) struct DisplayFn<F>(pub F)
where
    F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result;

impl<F> Display for DisplayFn<F>
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

/// A reject with `detail`, for the decoders.
pub(super) fn reject(reason: RejectReason, detail: impl Into<String>) -> Reject {
    Reject::new(reason, detail)
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
}
