//! Floats through zmij's shortest digits, for those [`positional_short`]
//! leaves: 16–17 significant digits, and `{:e}`'s magnitudes. zmij writes
//! its own notation per magnitude, so its text is laid out again where
//! that differs from `core::fmt`'s; and where the exact value is a tie
//! (`core::fmt` rounds half up, shortest-digit algorithms like zmij and
//! ryu to even), `core::fmt` writes it.
//!
//! zmij, not ryu: it takes about half ryu's time on 17-digit values (as
//! measured here), and an interface point has several.
//!
//! [`positional_short`]: super::positional_short

use super::{Out, Text};

/// `{v}` straight from zmij's text where that is already `{}`'s layout
/// (`d.ddd` / `0.000ddd`: non-integral `1e-5 ≤ |v| < 2^52`), unless the
/// exact value is a tie ([`exact_tie`]); `false` (nothing written)
/// otherwise.
pub(super) fn positional_zmij(v: f64, text: &mut Text<'_>) -> bool {
    /// 2^52: from there on every double is an integer.
    const ALL_INTS: f64 = 4_503_599_627_370_496.0;
    let a = v.abs();
    if !(1e-5..ALL_INTS).contains(&a) || (a as i64) as f64 == a {
        return false;
    }
    let mut buf = zmij::Buffer::new();
    let zmij_text = buf.format_finite(v).as_bytes();
    let unsigned = zmij_text.strip_prefix(b"-").unwrap_or(zmij_text);
    // zmij uses an exponent only outside 1e-5..1e16, and since `v` is not
    // integral its text has a point and no `.0`.
    let digits = match unsigned {
        [b'0', b'.', frac @ ..] => frac.iter().skip_while(|&&d| d == b'0').count(),
        _ if unsigned.contains(&b'e') => return false,
        _ => unsigned.len() - 1,
    };
    if exact_tie(v, digits) {
        return false;
    }
    text.extend(zmij_text);
    true
}

/// True if non-integral `v` lies exactly halfway between two candidates
/// of `shortest` significant digits, the one case where zmij (round half
/// to even) and `core::fmt` (half up) may differ. Exact, unlike [`may_tie`]:
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

/// [`write_float`] through zmij; `false` (nothing written) where zmij and
/// `core::fmt` may pick different digits.
pub(super) fn zmij_write(v: f64, exp: bool, out: &mut impl Out) -> bool {
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(v).as_bytes();
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    // zmij writes `d.ddd`, `ddd.d`, `0.000ddd` or `d.ddde±x`: collect the
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
            out.extend(&digits[1..]);
        }
        out.push(b'e');
        out.push_i64(i64::from(point - 1));
    } else if point <= 0 {
        out.extend(b"0.");
        for _ in 0..point.unsigned_abs() {
            out.push(b'0');
        }
        out.extend(digits);
    } else if (point as usize) < digits.len() {
        let (int, frac) = digits.split_at(point as usize);
        out.extend(int);
        out.push(b'.');
        out.extend(frac);
    } else {
        out.extend(digits);
        for _ in digits.len()..point as usize {
            out.push(b'0');
        }
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

/// zmij's exponent: `-x` or `+x`.
fn parse_exponent(text: &[u8]) -> i32 {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
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
