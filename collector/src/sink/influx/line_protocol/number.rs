//! Numbers for line protocol, fast and exactly as Rust's formatting writes
//! them: integers as `{}` (through `itoa`), floats as `{}` (positional) or
//! `{:e}` (scientific), with the shortest digits that round-trip (through
//! `ryu`, laid out again: ryu picks its own notation per magnitude).
//!
//! `core::fmt` costs 50–100 ns per number; an interface point has 13 of
//! them. Both crates come with serde_json already.
//!
//! One difference is handled: when the exact value lies halfway between
//! two shortest candidates, ryu rounds to even and `core::fmt` up. Such a
//! value has an exact decimal expansion one digit longer than the shortest
//! form; those (rare: measured rates have ~40 exact digits) are written
//! with `core::fmt`.

/// Appends `v` as `{v}` writes it.
pub(super) fn write_int(v: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends finite, non-zero `v` as `{v}` (`exp == false`) or `{v:e}`
/// (`exp == true`) writes it.
pub(super) fn write_float(v: f64, exp: bool, out: &mut Vec<u8>) {
    debug_assert!(v.is_finite() && v != 0.0);
    if !exp && positional_fast(v, out) {
        return;
    }
    if !ryu_write(v, exp, out) {
        use std::io::Write as _;
        // Writing into a Vec cannot fail.
        let _ = if exp {
            write!(out, "{v:e}")
        } else {
            write!(out, "{v}")
        };
    }
}

/// `{v}` for the magnitudes measurements have, without re-laying ryu's
/// text out; `false` (nothing written) where the general path must decide.
///
/// - An integral `|v| < 2^53` is written by `{}` as its integer: every
///   integer there is a double, so no shorter digits round-trip.
/// - A non-integral one (`|v| < 2^52`, where doubles have fractions): ryu writes `d.ddd` / `0.000ddd` for `1e-5 ≤ |v| < 1e16`,
///   exactly `{}`'s layout, and its digits are `{}`'s unless the exact
///   value is a tie ([`exact_tie`]).
fn positional_fast(v: f64, out: &mut Vec<u8>) -> bool {
    /// 2^53: below it integral doubles convert to `i64` and back exactly.
    const EXACT_INTS: f64 = 9_007_199_254_740_992.0;
    let a = v.abs();
    if a >= EXACT_INTS {
        return false;
    }
    if (a as i64) as f64 == a {
        write_int(v as i64, out);
        return true;
    }
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(v).as_bytes();
    let unsigned = text.strip_prefix(b"-").unwrap_or(text);
    // Not integral, so ryu's text has a point and no `.0`; it uses an
    // exponent only outside 1e-5..1e16 (the general path's business).
    let digits = match unsigned {
        [b'0', b'.', frac @ ..] => frac.iter().skip_while(|&&d| d == b'0').count(),
        _ if unsigned.contains(&b'e') => return false,
        _ => unsigned.len() - 1,
    };
    if exact_tie(v, digits) {
        return false;
    }
    out.extend_from_slice(text);
    true
}

/// True if non-integral `v` lies exactly halfway between two candidates
/// of `shortest` significant digits, the one case where ryu (round half
/// to even) and `core::fmt` (half up) differ. Exact, unlike [`may_tie`]:
/// `|v| = m × 2^-q` (`m` odd, `q > 0`) is `m × 5^q × 10^-q`, whose digits
/// are those of the integer `m × 5^q`, ending in 5 (odd times 5). A
/// halfway point has `shortest + 1` digits ending in 5, so a tie needs
/// exactly that many.
fn exact_tie(v: f64, shortest: usize) -> bool {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (m, e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, biased - 1075)
    };
    let zeros = m.trailing_zeros();
    let (m, q) = (m >> zeros, -(e + zeros as i32));
    debug_assert!(q > 0, "integral values are not asked about");
    // Shortest digits are at most 17; 5^26 alone has 19 digits.
    if q >= 26 {
        return false;
    }
    let exact = u128::from(m) * 5u128.pow(q as u32);
    let low = 10u128.pow(shortest as u32);
    (low..low * 10).contains(&exact)
}

/// [`write_float`] through ryu; `false` (nothing written) where ryu and
/// `core::fmt` may pick different digits.
fn ryu_write(v: f64, exp: bool, out: &mut Vec<u8>) -> bool {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(v).as_bytes();
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    // ryu writes `d.ddd`, `ddd.d`, `0.000ddd` or `d.ddde±x`: collect the
    // significant digits and where the decimal point falls among them.
    let (mantissa, exponent) = match text.iter().position(|&b| b == b'e') {
        Some(e) => (&text[..e], parse_exponent(&text[e + 1..])),
        None => (text, 0),
    };
    let mut digits = [0u8; 32];
    let mut n = 0;
    let mut point = None;
    for &b in mantissa {
        if b == b'.' {
            point = Some(n);
        } else {
            digits[n] = b;
            n += 1;
        }
    }
    // The value is 0.d₁d₂…dₙ × 10^point.
    let mut point = point.unwrap_or(n) as i32 + exponent;
    let lead = digits[..n].iter().take_while(|&&d| d == b'0').count();
    point -= lead as i32;
    let mut digits = &digits[lead..n];
    while let Some((b'0', rest)) = digits.split_last() {
        digits = rest;
    }
    if may_tie(v, digits.len()) {
        return false;
    }

    if negative {
        out.push(b'-');
    }
    if exp {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        write_int(i64::from(point - 1), out);
    } else if point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', point.unsigned_abs() as usize));
        out.extend_from_slice(digits);
    } else if (point as usize) < digits.len() {
        let (int, frac) = digits.split_at(point as usize);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    } else {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', point as usize - digits.len()));
    }
    true
}

/// True if the exact decimal expansion of `v` may have `shortest + 1`
/// significant digits (ending in 5): only then can it lie halfway between
/// two candidates of `shortest` digits. Estimated with logarithms, with a
/// margin: a false "maybe" only costs the slow path.
fn may_tie(v: f64, shortest: usize) -> bool {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, biased - 1075)
    };
    let zeros = m.trailing_zeros();
    m >>= zeros;
    e += zeros as i32;
    if e > 0 {
        // An even integer: its last digit is even, never a 5.
        return false;
    }
    // |v| = m × 5^-e × 10^e exactly: count the digits of m × 5^-e.
    let digits = (m as f64).log10() + f64::from(-e) * 5f64.log10() + 1.0;
    (digits.floor() - (shortest as f64 + 1.0)).abs() < 1.5
}

fn parse_exponent(text: &[u8]) -> i32 {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let e = digits
        .iter()
        .fold(0i32, |acc, &d| acc * 10 + i32::from(d - b'0'));
    if negative {
        -e
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(v: f64, exp: bool) -> String {
        let mut out = Vec::new();
        write_float(v, exp, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn check(v: f64) {
        if !v.is_finite() || v == 0.0 {
            return;
        }
        assert_eq!(ours(v, false), format!("{v}"), "{v:e} positional");
        assert_eq!(ours(v, true), format!("{v:e}"), "{v:e} scientific");
    }

    #[test]
    fn edge_values_match_core_fmt() {
        for v in [
            1.0,
            -1.0,
            0.1,
            0.3,
            0.1 + 0.2,
            1e-5,
            9.999_999_999_999_999e-6,
            1e16,
            9_999_999_999_999_998.0,
            123_456_789_012.0,
            1.5e-7,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            2f64.powi(63),
            1e300,
            -123.456,
            100.0,
            1e21,
            1e22,
            1e23,
            // Exactly halfway between two shortest candidates
            // (1.00000762939453125): ryu would round to even.
            1.0 + 2f64.powi(-17),
            -(1.0 + 2f64.powi(-17)),
            2f64.powi(52) + 0.5,
            2f64.powi(53) - 1.0,
            2f64.powi(53),
            9_999_999_999_999_999.0,
            0.000_1,
            1.000_000_000_000_000_2,
        ] {
            check(v);
        }
        let mut w = Vec::new();
        for v in [0, 1, -1, 42, i64::MAX, i64::MIN, 1_700_000_000_000_000_000] {
            w.clear();
            write_int(v, &mut w);
            assert_eq!(w, v.to_string().as_bytes());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn any_float_matches_core_fmt(bits in any::<u64>()) {
            check(f64::from_bits(bits));
        }

        /// Binary fractions with short exact expansions: where ties are
        /// (`1 + 2^-17` is one), and what [`exact_tie`] must find.
        #[test]
        fn short_binary_fractions_match_core_fmt(
            m in 1u64..1 << 53,
            bits in 1u32..54,
            q in 1i32..70,
        ) {
            let m = (m >> (53 - bits)) | 1;
            check(m as f64 * 2f64.powi(-q));
            check(1.0 + m as f64 * 2f64.powi(-q - 53 + bits as i32));
        }

        #[test]
        fn measured_floats_match_core_fmt(v in -1e12f64..1e12, scale in -12i32..12) {
            check(v * 10f64.powi(scale));
            check((v * 1000.0).round() / 1000.0);
        }
    }
}
