//! Floats through zmij's shortest digits. zmij writes
//! its own notation per magnitude, so its text is laid out again where
//! that differs from `core::fmt`'s; and where the exact value is a tie
//! (`core::fmt` rounds half up, shortest-digit algorithms like zmij and
//! ryu to even), `core::fmt` writes it.
//!
//! zmij, not ryu: it takes about half ryu's time on 17-digit values (as
//! measured here), and an interface point has several.

use super::Out;

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
