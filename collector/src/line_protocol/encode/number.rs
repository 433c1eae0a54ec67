//! Numbers for line protocol, fast and exactly as Rust's formatting writes
//! them: integers as `{}`, floats as `{}` (positional) or `{:e}`
//! (scientific), with the shortest digits that round-trip.
//!
//! `core::fmt` costs several times more per number, and an interface point
//! has 12 of them (figures: docs/performance.md). So:
//! - Integers, and floats of up to 15 significant digits in `{}`'s range
//!   (most measurements), are written here, two digits per multiply.
//! - Other floats take zmij's shortest digits ([`via_zmij`]; zmij is in
//!   the tree through serde_json), with `core::fmt` for the rare values
//!   where the two would round differently.
//!
//! Everything is written in place into room the line made beforehand (a
//! [`Text`]): copying a number's text from elsewhere was a `memcpy` call,
//! which costs more than a short number's digits.

use std::fmt;

/// Two-digit pairs `00`..`99`, for writing digits two at a time.
const PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// 10^0 ..= 10^19, the powers of ten a u64 holds.
const POW10_U64: [u64; 20] = {
    let mut pow = [1; 20];
    let mut i = 1;
    while i < pow.len() {
        pow[i] = pow[i - 1] * 10;
        i += 1;
    }
    pow
};

/// `ceil(2^64 / 100^p)` for `p` in 1..=4 (index 0 unused): `v / 100^p`
/// as a 64.64 fixed-point number is `v × RECIPROCALS[p]`.
const RECIPROCALS: [u64; 5] = {
    let mut r = [0; 5];
    let mut p = 1;
    while p < r.len() {
        let divisor = 100u128.pow(p as u32);
        r[p] = ((1u128 << 64).div_ceil(divisor)) as u64;
        p += 1;
    }
    r
};

/// 10^0 ..= 10^22, the powers of ten a double holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Bytes a [`Text`] takes: a field's `,key=` (17 at most) and the longest
/// number (24: `-`, 17 digits, `.`, `e-308`), or a timestamp (22).
pub(super) const TEXT_CAPACITY: usize = 48;

/// A short piece of a line (a field, a timestamp) written in place, into
/// room the line was grown by beforehand ([`Text::append`] for one piece;
/// `encode_sample` grows a line once for all its fields), byte by byte.
/// Building it in a local buffer and copying that was slower: the copy
/// reads 16 bytes at a time what was just stored a byte at a time, which
/// the CPU cannot forward.
pub(super) struct Text<'a> {
    /// At least [`TEXT_CAPACITY`] bytes.
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Text<'a> {
    /// A text at the start of `buf`, which has room for [`TEXT_CAPACITY`] bytes.
    pub(super) fn new(buf: &'a mut [u8]) -> Text<'a> {
        Text { buf, len: 0 }
    }

    /// A text starting with the first `len` bytes of `prefix`.
    pub(super) fn with_prefix(buf: &'a mut [u8], prefix: &[u8; 24], len: usize) -> Text<'a> {
        buf[..24].copy_from_slice(prefix);
        Text { buf, len }
    }

    /// Appends what `write` writes into a text to `out` (if it returns
    /// `true`).
    pub(super) fn append(out: &mut Vec<u8>, write: impl FnOnce(&mut Text<'_>) -> bool) -> bool {
        let start = out.len();
        out.extend_from_slice(&[0; TEXT_CAPACITY]);
        let mut text = Text::new(&mut out[start..]);
        let written = write(&mut text);
        let len = if written { text.len } else { 0 };
        out.truncate(start + len);
        written
    }

    /// Bytes written.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn extend(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Appends `v` as `{v}` writes it.
    pub(super) fn push_i64(&mut self, v: i64) {
        if v < 0 {
            self.push(b'-');
        }
        self.push_u64(v.unsigned_abs());
    }

    /// Appends the decimal digits of `v`.
    pub(super) fn push_u64(&mut self, v: u64) {
        let n = v.checked_ilog10().unwrap_or(0) as usize + 1;
        self.push_padded(n, v);
    }

    /// Appends `v` as `n` digits, zero-padded (`v < 10^n`, `n ≤ 20`).
    fn push_padded(&mut self, n: usize, v: u64) {
        debug_assert!(n <= 20 && (n == 20 || v < POW10_U64[n]));
        if n > 10 {
            // Ten digits at most per multiply chain (see `push_short`):
            // the quotient is one multiply and shift.
            const TEN_DIGITS: u64 = 10_000_000_000;
            self.push_short(n - 10, v / TEN_DIGITS);
            self.push_short(10, v % TEN_DIGITS);
        } else {
            self.push_short(n, v);
        }
    }

    /// [`Text::push_padded`] for `n ≤ 10`: `v / 10^k` as a 64.64
    /// fixed-point number, `k` even and leaving one digit (`n` odd) or a
    /// pair (`n` even) in the integer part; each multiply of the fraction
    /// by 100 then moves the next pair into the integer part. One
    /// multiply per pair instead of a chain of divisions (James Anhalt's
    /// method, as `jeaiii` writes it).
    ///
    /// Exact: the fraction starts at most `v / 2^64 < 10^10 / 2^64`
    /// above the true `r / 10^k` (`v = q × 10^k + r`, from the rounded-up
    /// reciprocal), and multiplying by 100 is exact in 128 bits. After
    /// `t` pairs the excess is below `10^10 × 100^t / 2^64`, while the
    /// true value sits at least `100^t / 10^k ≥ 100^t / 10^8` below the
    /// next integer: `10^18 < 2^64`, so no digit is ever rounded up.
    fn push_short(&mut self, n: usize, v: u64) {
        let at = self.len;
        self.len += n;
        let digits = &mut self.buf[at..at + n];
        let pairs_after = (n - 1) / 2;
        let (lead, mut fraction) = if pairs_after == 0 {
            (v, 0)
        } else {
            let product = u128::from(v) * u128::from(RECIPROCALS[pairs_after]);
            ((product >> 64) as u64, product as u64)
        };
        let mut i = if n % 2 == 1 {
            digits[0] = b'0' + lead as u8;
            1
        } else {
            let pair = lead as usize * 2;
            digits[..2].copy_from_slice(&PAIRS[pair..pair + 2]);
            2
        };
        while i < n {
            let product = u128::from(fraction) * 100;
            let pair = (product >> 64) as usize * 2;
            fraction = product as u64;
            digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
            i += 2;
        }
    }

    /// Drops trailing `0`s (there must be another digit before them).
    fn trim_zeros(&mut self) {
        while self.buf[self.len - 1] == b'0' {
            self.len -= 1;
        }
    }
}

/// Where [`write_float`]'s general path writes: a [`Text`] when encoding,
/// a `Vec` in the tests that try layouts no line uses (`{}` of 1e300).
trait Out {
    fn push(&mut self, b: u8);
    fn extend(&mut self, bytes: &[u8]);
    fn push_i64(&mut self, v: i64);
    /// Appends `{v}` / `{v:e}` through `core::fmt`.
    fn display(&mut self, v: f64, exp: bool);
}

impl Out for Text<'_> {
    fn push(&mut self, b: u8) {
        Text::push(self, b);
    }

    fn extend(&mut self, bytes: &[u8]) {
        Text::extend(self, bytes);
    }

    fn push_i64(&mut self, v: i64) {
        Text::push_i64(self, v);
    }

    fn display(&mut self, v: f64, exp: bool) {
        use fmt::Write as _;
        // Fits: `write_float`'s callers ask for at most 24 bytes.
        let _ = if exp {
            write!(self, "{v:e}")
        } else {
            write!(self, "{v}")
        };
    }
}

impl fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > self.buf.len() {
            return Err(fmt::Error);
        }
        self.extend(s.as_bytes());
        Ok(())
    }
}

impl Out for Vec<u8> {
    fn push(&mut self, b: u8) {
        Vec::push(self, b);
    }

    fn extend(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn push_i64(&mut self, v: i64) {
        Text::append(self, |text| {
            text.push_i64(v);
            true
        });
    }

    fn display(&mut self, v: f64, exp: bool) {
        use std::io::Write as _;
        // Writing into a Vec cannot fail.
        let _ = if exp {
            write!(self, "{v:e}")
        } else {
            write!(self, "{v}")
        };
    }
}

/// Appends finite, non-zero `v` as `{v}` (`exp == false`, for `1e-5 ≤ |v|
/// < 1e16` only) or `{v:e}` (`exp == true`) writes it: 24 bytes at most.
pub(super) fn write_float(v: f64, exp: bool, text: &mut Text<'_>) {
    debug_assert!(v.is_finite() && v != 0.0);
    debug_assert!(exp || (1e-5..1e16).contains(&v.abs()));
    let start = text.len;
    if !exp {
        if positional_short(v, text) {
            return;
        }
        text.len = start;
        if positional_zmij(v, text) {
            return;
        }
    }
    write_float_general(v, exp, text);
}

/// [`write_float`] for any finite, non-zero `v`, without the fast paths.
fn write_float_general(v: f64, exp: bool, out: &mut impl Out) {
    if !zmij_write(v, exp, out) {
        out.display(v, exp);
    }
}

/// `{v}` for integral values below 2^53 and values of at most 15
/// significant digits below 1e14; `false` (`text` to be cut back)
/// otherwise.
///
/// - An integral `|v| < 2^53` is written by `{}` as its integer: every
///   integer there is a double, so no shorter digits round-trip.
/// - Otherwise, if some decimal `s × 10^-j` of at most 15 significant
///   digits reads back as `v`, it is the shortest form, and the only one
///   of its length: two decimals of up to 15 digits never read as the
///   same double (that is what `f64::DIGITS == 15` means). So any such
///   candidate that checks out is `{}`'s digits; `s` is `v × 10^j`
///   rounded, and the check is exact: `s` and `10^j` are exact doubles, so
///   the division is rounded once, as a parser rounds.
fn positional_short(v: f64, text: &mut Text<'_>) -> bool {
    /// 2^53: below it integral doubles convert to `i64` and back exactly.
    const EXACT_INTS: f64 = 9_007_199_254_740_992.0;
    let a = v.abs();
    if !(1e-5..EXACT_INTS).contains(&a) {
        return false;
    }
    if v < 0.0 {
        text.push(b'-');
    }
    // Conversions through `i64`, not `u64`: x86-64 converts signed
    // integers in one instruction, unsigned ones in several.
    let int = a as i64;
    if int as f64 == a {
        text.push_u64(int as u64);
        return true;
    }
    // floor(log10 a), or one less: log10(2) ≈ 78913 / 2^18.
    let binary_exponent = ((a.to_bits() >> 52) as i32) - 1023;
    let decimal_exponent = (binary_exponent * 78_913) >> 18;
    // Fraction digits for 15 significant digits (16 if the estimate was
    // low: then `scaled` reaches 1e15 and one comes off).
    let mut j = 14 - decimal_exponent;
    if !(1..=20).contains(&j) {
        return false; // ≥ 1e14: no fraction digit left at 15 digits
    }
    let mut scaled = a * POW10[j as usize];
    if scaled >= 1e15 {
        j -= 1;
        scaled = a * POW10[j as usize];
    }
    // `a ≥ 1e-5` keeps the point within 19 digits (10^j fits a u64).
    let j = j as usize;
    let s = (scaled + 0.5) as i64;
    if j > 19 || s >= 1_000_000_000_000_000 || s as f64 / POW10[j] != a {
        return false;
    }
    // The decimal's integer part is `a`'s (no division needed): an integer
    // between the two would be a double nearer to the decimal than `a`.
    let (s, int) = (s as u64, int as u64);
    let frac = match int.checked_mul(POW10_U64[j]).and_then(|i| s.checked_sub(i)) {
        Some(frac) if frac > 0 => frac,
        _ => return false, // cannot happen, as just said
    };
    text.push_u64(int);
    text.push(b'.');
    text.push_padded(j, frac);
    // `{}` writes no trailing zeros; the fraction has a non-zero digit.
    text.trim_zeros();
    true
}

mod via_zmij;

use via_zmij::{positional_zmij, zmij_write};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Through the fast paths where a line may ask for it, else the
    /// general path alone (`{}` of 1e300 needs more room than a [`Text`]).
    fn ours(v: f64, exp: bool) -> String {
        let mut out = Vec::new();
        if exp || (1e-5..1e16).contains(&v.abs()) {
            Text::append(&mut out, |text| {
                write_float(v, exp, text);
                true
            });
        } else {
            write_float_general(v, exp, &mut out);
        }
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
            // (1.00000762939453125): zmij would round to even.
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
        // Where the decimal exponent estimate and `positional_short`'s
        // digit count change: around every power of ten in `{}`'s range.
        for k in -6..=17 {
            let p = 10f64.powi(k);
            for bits in p.to_bits() - 2..=p.to_bits() + 2 {
                check(f64::from_bits(bits));
                check(-f64::from_bits(bits));
            }
        }
        for v in [
            0,
            1,
            -1,
            9,
            10,
            42,
            99,
            100,
            101,
            i64::MAX,
            i64::MIN,
            1_700_000_000_000_000_000,
        ] {
            let mut out = b"x".to_vec();
            Text::append(&mut out, |text| {
                text.push_i64(v);
                true
            });
            assert_eq!(out, format!("x{v}").as_bytes());
        }
    }

    fn padded(n: usize, v: u64) -> String {
        let mut out = Vec::new();
        Text::append(&mut out, |text| {
            text.push_padded(n, v);
            true
        });
        String::from_utf8(out).unwrap()
    }

    /// Every value of up to six digits, and every width's edges: where a
    /// digit could be rounded up by the fixed-point fraction (`…99`
    /// endings), and the split at ten digits.
    #[test]
    fn padded_digits_match_core_fmt() {
        for v in 0..1_000_000u64 {
            assert_eq!(padded(6, v), format!("{v:06}"));
        }
        for n in 1..=20usize {
            let top = POW10_U64.get(n).map_or(u64::MAX, |p| p - 1);
            let mut values = vec![0, 1, 9, top, top - 1, top / 2, top / 3, top / 7];
            for &p in &POW10_U64[..n.min(19)] {
                values.extend([p, p - 1, p + 1, top - p + 1, (top / p) * p - 1]);
            }
            for v in values.into_iter().filter(|&v| v <= top) {
                let width = n;
                assert_eq!(padded(n, v), format!("{v:0width$}"), "{n} digits");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn any_i64_matches_core_fmt(v in any::<i64>(), shift in 0u32..64) {
            for v in [v, v >> shift] {
                let mut out = Vec::new();
                Text::append(&mut out, |text| {
                    text.push_i64(v);
                    true
                });
                prop_assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
            }
        }

        #[test]
        fn any_integer_matches_core_fmt(v in any::<u64>(), n in 1usize..=20) {
            let v = if n == 20 { v } else { v % POW10_U64[n] };
            let width = n;
            prop_assert_eq!(padded(n, v), format!("{v:0width$}"));
        }

        #[test]
        fn any_float_matches_core_fmt(bits in any::<u64>()) {
            check(f64::from_bits(bits));
        }

        /// Binary fractions with short exact expansions: where ties are
        /// (`1 + 2^-17` is one), and what `via_zmij::exact_tie` must find.
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

        /// Decimals of up to 15 digits (what `positional_short` writes) and
        /// of 16–17 (what it must leave to zmij).
        #[test]
        fn decimal_floats_match_core_fmt(
            n in 1u64..100_000_000_000_000_000,
            digits in 1u32..18,
            point in 0i32..23,
        ) {
            let n = n % 10u64.pow(digits);
            check(n as f64 / 10f64.powi(point));
            check(-(n as f64) / 10f64.powi(point));
        }

        #[test]
        fn measured_floats_match_core_fmt(v in -1e12f64..1e12, scale in -12i32..12) {
            check(v * 10f64.powi(scale));
            check((v * 1000.0).round() / 1000.0);
        }
    }
}
