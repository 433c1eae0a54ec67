//! Numbers for line protocol, exactly as Rust's formatting writes them:
//! integers as `{}` (through itoa), floats as `{}` (positional) or `{:e}`
//! (scientific) with the shortest digits that round-trip (through zmij,
//! [`via_zmij`], with `core::fmt` for the rare values where the two would
//! round differently). A hand-written digit writer was measured to save
//! about 1 % of the collector's CPU end to end and was dropped for the
//! crates (docs/performance.md, "Fast paths: keep or drop").
//!
//! Everything is written in place into room the line made beforehand (a
//! [`Text`]): copying a number's text from elsewhere was a `memcpy` call.

use std::fmt;

/// Room for one piece of a line: the longest `{:e}` of a double is 24
/// bytes, an `i64` 20.
pub(super) const TEXT_CAPACITY: usize = 48;

/// A short piece of a line (a field, a timestamp) written in place, into
/// room the line was grown by beforehand ([`Text::append`] for one piece;
/// `encode_sample` grows a line once for all its fields).
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
        self.extend(itoa::Buffer::new().format(v).as_bytes());
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
    write_float_general(v, exp, text);
}

/// [`write_float`] for any finite, non-zero `v`, into any [`Out`].
fn write_float_general(v: f64, exp: bool, out: &mut impl Out) {
    if !zmij_write(v, exp, out) {
        out.display(v, exp);
    }
}

mod via_zmij;

use via_zmij::zmij_write;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Through a [`Text`] where a line may ask for it, else into a `Vec` (`{}` of 1e300 needs more room than a [`Text`]).
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
        // Around every power of ten in `{}`'s range, where the digit count
        // and the layout change.
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

        /// Decimals of up to 15 digits (most measurements) and of 16–17.
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
