//! Decimal text to `f64`, with exactly the result of `str::parse::<f64>`,
//! fast for the plain decimals devices send (`-18.52`, `12`, `1795420860`).
//!
//! core's parser reads every form (exponents, `inf`, hundreds of digits)
//! and pays for that generality even on `12`: by callgrind it was a tenth
//! of a MikroTik message's decode, whose values are all numbers in strings.
//! Here `[-]digits[.digits]` whose digits, read as an integer `m`, stay
//! below 2^53 with at most 22 of them after the point is `m / 10^k`, one
//! division of two exact doubles: IEEE division rounds once, so that is
//! the correctly rounded value core's parser returns too (Clinger's fast
//! path, which core takes for such input as well). Anything else goes to
//! core, except text with a byte no float syntax has, which fails at once.

/// 10^0 ..= 10^22, the powers of ten a double holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `s.parse::<f64>().ok()`, faster for plain decimals.
pub(crate) fn parse_f64(s: &str) -> Option<f64> {
    match plain(s.as_bytes()) {
        Plain::Value(v) => Some(v),
        Plain::Invalid => None,
        Plain::Other => s.parse().ok(),
    }
}

enum Plain {
    Value(f64),
    /// Not a float in any syntax core reads.
    Invalid,
    /// For core to read.
    Other,
}

/// `b` as `[-]digits[.digits]` with few enough digits for the fast path.
fn plain(b: &[u8]) -> Plain {
    let (negative, body) = match b {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, b),
    };
    let (int, mantissa) = digits(body, 0);
    let (frac, mantissa) = match body.get(int) {
        Some(b'.') => match digits(&body[int + 1..], mantissa) {
            // A digit on each side of a point (`1.`, `.5` are core's).
            (0, _) => return other_or_invalid(b),
            (frac, mantissa) => (frac, mantissa),
        },
        _ => (0, mantissa),
    };
    let len = int + usize::from(frac > 0) + frac;
    if int == 0 || len != body.len() {
        return other_or_invalid(b);
    }
    // Up to 19 digits fit a u64 (more wrapped around: core's to read).
    if int + frac > 19 {
        return Plain::Other;
    }
    match exact_decimal(negative, mantissa, frac) {
        Some(v) => Plain::Value(v),
        None => Plain::Other,
    }
}

/// `±mantissa / 10^frac` when both are exact doubles (`mantissa` ≤ 2^53,
/// `frac` ≤ 22): one IEEE division, so the correctly rounded value of the
/// decimal (Clinger's fast path). `None` for larger ones.
#[inline]
pub(super) fn exact_decimal(negative: bool, mantissa: u64, frac: usize) -> Option<f64> {
    if mantissa > 1 << 53 || frac >= POW10.len() {
        return None;
    }
    let v = mantissa as f64 / POW10[frac];
    Some(if negative { -v } else { v })
}

/// How many ASCII digits `b` starts with, and `m` with them appended
/// (wrapping around past 19 digits).
#[inline]
pub(super) fn digits(b: &[u8], mut m: u64) -> (usize, u64) {
    let mut n = 0;
    while let Some(&c) = b.get(n) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        n += 1;
    }
    (n, m)
}

/// [`Plain::Invalid`] if `b` has a byte no float syntax of core's has:
/// anything but digits, point, signs, exponent marks and the letters of
/// `inf`, `infinity` and `nan` in either case.
fn other_or_invalid(b: &[u8]) -> Plain {
    let foreign = |c: &u8| {
        !matches!(
            c.to_ascii_lowercase(),
            b'0'..=b'9' | b'.' | b'+' | b'-' | b'e' | b'i' | b'n' | b'f' | b't' | b'y' | b'a'
        )
    };
    if b.iter().any(foreign) {
        Plain::Invalid
    } else {
        Plain::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same_as_core(s: &str) {
        let core = s.parse::<f64>().ok();
        let ours = parse_f64(s);
        assert_eq!(
            ours.map(f64::to_bits),
            core.map(f64::to_bits),
            "{s:?}: {ours:?} vs core {core:?}"
        );
    }

    #[test]
    fn edge_texts_read_as_core_reads_them() {
        for s in [
            "0",
            "-0",
            "-0.0",
            "12",
            "-18.52",
            "1795420860",
            "0.1",
            "0.30000000000000004",
            "9007199254740992",
            "9007199254740993",
            "9007199254740993.5",
            "1234567890123456789",
            "12345678901234567890",
            "0.0000000000000000000001",
            "0.00000000000000000000001",
            "1.",
            ".5",
            "-",
            "",
            "+5",
            "1e5",
            "1E-5",
            "inf",
            "-Infinity",
            "NaN",
            "nan",
            "1.2.3",
            "--1",
            "1-",
            " 1",
            "1 ",
            "4d22:16:08",
            "12ms",
            "0x10",
            "١٢",
        ] {
            same_as_core(s);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn plain_decimals_read_as_core_reads_them(
            negative in any::<bool>(),
            int in "[0-9]{1,20}",
            frac in proptest::option::of("[0-9]{1,25}"),
        ) {
            let sign = if negative { "-" } else { "" };
            let s = match frac {
                Some(f) => format!("{sign}{int}.{f}"),
                None => format!("{sign}{int}"),
            };
            same_as_core(&s);
        }

        #[test]
        fn any_float_text_reads_back(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            same_as_core(&format!("{v}"));
            same_as_core(&format!("{v:e}"));
            same_as_core(&format!("{v:.3}"));
        }

        #[test]
        fn any_text_reads_as_core_reads_it(s in "[-+0-9.eEinfatyINFATYxd: ]{0,12}") {
            same_as_core(&s);
        }
    }
}
