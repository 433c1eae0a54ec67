//! The JSON Telegraf writes, read by hand into a [`MetricDoc`]: the fast
//! path of [`document::parse`](super::document::parse).
//!
//! Through serde_json, more than half of a `telegraf-json` message's
//! instructions were serde_json's (callgrind): a `deserialize_any`
//! dispatch, a visitor call and a `MapAccess` round per value, for
//! documents of a dozen short keys and plain numbers. This reader walks
//! the document's known shape directly.
//!
//! It is a fast path, not a second parser: it answers only for a document
//! it read completely, and only with what serde_json's reader would have
//! filled in. Anything else returns `None` and the document is read again
//! through serde_json, so what is valid JSON, the error messages and every
//! value are serde_json's. What it reads itself:
//! - objects of `"key": value` members and the batch's array, with JSON's
//!   four whitespace bytes anywhere between tokens;
//! - strings without escapes or control bytes (borrowed, as serde_json
//!   borrows them);
//! - `true`, `false`, `null`;
//! - integers of up to 18 digits, and decimals of up to 18 digits whose
//!   value [`exact_decimal`] computes: serde_json computes
//!   `mantissa / 10^k` for those too, with the same single rounding.
//!
//! Escaped strings and other numbers (exponents, 19+ digits) are handed,
//! as one token, to serde_json with the slow path's own seeds, so their
//! values are serde_json's too. Arrays or objects where a scalar is
//! expected, and every syntax error, fall back to the whole slow path.
//! The property tests in `telegraf::tests` hold the two readers to
//! the same result on generated and mutated documents.

use std::borrow::Cow;

use serde::de::DeserializeSeed;
use smallvec::SmallVec;

use super::document::{
    add_tag, sort_last_wins, Fields, MetricDoc, Presence, Scalar, ScalarSeed, Tags,
};
use crate::decode::decimal::{digits, exact_decimal};
use crate::decode::json::tree::KeySeed;

/// Reads all of `text` into `doc` (a default one) and returns `Some` if it
/// is a JSON object this reader covers. On `None`, `doc` holds whatever
/// was read before the reader gave up.
pub(super) fn read<'a>(text: &'a str, doc: &mut MetricDoc<'a>) -> Option<()> {
    let mut reader = Reader { text, pos: 0 };
    if reader.peek() != b'{' {
        return None;
    }
    reader.metric(doc, true)?;
    // Not `peek() == END`: the text may hold a NUL byte of its own.
    reader.peek();
    (reader.pos == text.len()).then_some(())
}

/// What [`Reader::peek`] returns at the end of the text. A NUL byte in
/// the text looks the same, and no JSON token starts with one, so only
/// the end-of-document check must tell them apart (by position).
const END: u8 = 0;

struct Reader<'a> {
    text: &'a str,
    /// Index of the next unread byte.
    pos: usize,
}

impl<'a> Reader<'a> {
    /// The next byte after whitespace, not consumed ([`END`] at the end).
    #[inline]
    fn peek(&mut self) -> u8 {
        let bytes = self.text.as_bytes();
        while let Some(&c) = bytes.get(self.pos) {
            if !matches!(c, b' ' | b'\n' | b'\t' | b'\r') {
                return c;
            }
            self.pos += 1;
        }
        END
    }

    /// Consumes `c` if it is the next byte after whitespace.
    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek() == c).then(|| self.pos += 1)
    }

    /// An object: `member` is called with each key and the reader at the
    /// key's value, which it must consume.
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, Cow<'a, str>) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            if self.peek() != b'"' {
                return None;
            }
            let key = self.string()?;
            self.eat(b':')?;
            member(self, key)?;
            match self.peek() {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// One metric object, as `document`'s `MetricSeed` reads it.
    fn metric(&mut self, doc: &mut MetricDoc<'a>, top: bool) -> Option<()> {
        self.object(|r, key| {
            match &*key {
                "name" => doc.name = Some(r.scalar()?),
                "tags" => doc.tags_as = r.tags(&mut doc.tags)?,
                "fields" => doc.fields_as = r.fields(&mut doc.fields)?,
                "timestamp" => doc.timestamp = Some(r.scalar()?),
                "metrics" if top => doc.metrics_as = r.batch(&mut doc.metrics)?,
                _ => drop(r.scalar()?),
            }
            Some(())
        })
    }

    /// A `tags` value, as `document`'s `TagsSeed` reads it.
    fn tags(&mut self, tags: &mut Tags<'a>) -> Option<Presence<'a>> {
        self.entries(tags, add_tag)
    }

    /// A `fields` value, as `document`'s `FieldsSeed` reads it.
    fn fields(&mut self, fields: &mut Fields<'a>) -> Option<Presence<'a>> {
        self.entries(fields, |fields, key, value| fields.push((key, value)))
    }

    /// An object of scalars into `entries` (cleared first), each entry
    /// through `add`, then in key order: [`Presence::Expected`]; another
    /// scalar is [`Presence::Other`].
    fn entries<T, A>(
        &mut self,
        entries: &mut SmallVec<A>,
        mut add: impl FnMut(&mut SmallVec<A>, Cow<'a, str>, Scalar<'a>),
    ) -> Option<Presence<'a>>
    where
        A: smallvec::Array<Item = (Cow<'a, str>, T)>,
    {
        if self.peek() != b'{' {
            return self.scalar().map(Presence::Other);
        }
        entries.clear();
        self.object(|r, key| {
            add(entries, key, r.scalar()?);
            Some(())
        })?;
        sort_last_wins(entries);
        Some(Presence::Expected)
    }

    /// The top level's `metrics` value, as `document`'s `BatchSeed`
    /// reads it.
    fn batch(&mut self, batch: &mut Vec<Option<MetricDoc<'a>>>) -> Option<Presence<'a>> {
        if self.peek() != b'[' {
            return self.scalar().map(Presence::Other);
        }
        self.pos += 1;
        batch.clear();
        if self.eat(b']').is_some() {
            return Some(Presence::Expected);
        }
        loop {
            if self.peek() == b'{' {
                let mut doc = MetricDoc::default();
                self.metric(&mut doc, false)?;
                batch.push(Some(doc));
            } else {
                self.scalar()?;
                batch.push(None);
            }
            match self.peek() {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(Presence::Expected);
                }
                _ => return None,
            }
        }
    }

    /// A string, number, boolean or null (`None` for anything else).
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        match self.peek() {
            b'"' => self.string().map(Scalar::Str),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.word("true", Scalar::Bool(true)),
            b'f' => self.word("false", Scalar::Bool(false)),
            b'n' => self.word("null", Scalar::Null),
            _ => None,
        }
    }

    fn word(&mut self, word: &str, value: Scalar<'a>) -> Option<Scalar<'a>> {
        let found = self.text.as_bytes()[self.pos..].starts_with(word.as_bytes());
        found.then(|| {
            self.pos += word.len();
            value
        })
    }

    /// The string starting at the `"` under the reader.
    #[inline]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let bytes = self.text.as_bytes();
        let start = self.pos + 1;
        let end = string_stop(bytes, start);
        match bytes.get(end) {
            Some(b'"') => {}
            Some(b'\\') => return self.escaped_string(),
            _ => return None,
        }
        self.pos = end + 1;
        // Both ends are ASCII quotes, so char boundaries.
        Some(Cow::Borrowed(&self.text[start..end]))
    }

    /// A string with an escape: its end found here, its text decoded by
    /// serde_json, as the slow path's `KeySeed` and `ScalarSeed` do.
    #[cold]
    fn escaped_string(&mut self) -> Option<Cow<'a, str>> {
        let bytes = self.text.as_bytes();
        let mut end = self.pos + 1;
        loop {
            match *bytes.get(end)? {
                b'"' => break,
                // The escaped byte is skipped; if it starts a multi-byte
                // character, its continuation bytes are never `"` or `\`.
                b'\\' => end += 2,
                _ => end += 1,
            }
        }
        let value = by_serde_json(&self.text[self.pos..=end], KeySeed)?;
        self.pos = end + 1;
        Some(value)
    }

    /// The number under the reader: `[-]digits[.digits]` read here when
    /// serde_json's value is [`exact_decimal`]'s, others by serde_json.
    #[inline]
    fn number(&mut self) -> Option<Scalar<'a>> {
        let bytes = self.text.as_bytes();
        let negative = bytes[self.pos] == b'-';
        let int_start = self.pos + usize::from(negative);
        let (int, mantissa) = digits(&bytes[int_start..], 0);
        let mut end = int_start + int;
        let (frac, mantissa) = match bytes.get(end) {
            Some(b'.') => digits(&bytes[end + 1..], mantissa),
            _ => (0, mantissa),
        };
        if frac > 0 {
            end += 1 + frac;
        }
        let leading_zero = int > 1 && bytes[int_start] == b'0';
        let plain = int > 0 && !leading_zero && int + frac <= 18;
        if !plain || matches!(bytes.get(end), Some(b'.' | b'e' | b'E' | b'+' | b'-')) {
            return self.number_by_serde_json();
        }
        let value = match (frac, negative) {
            (0, false) => Scalar::U(mantissa),
            // serde_json reads `-0` as a float.
            (0, true) if mantissa == 0 => Scalar::F(-0.0),
            (0, true) => Scalar::I(-(mantissa as i64)),
            _ => match exact_decimal(negative, mantissa, frac) {
                Some(v) => Scalar::F(v),
                None => return self.number_by_serde_json(),
            },
        };
        self.pos = end;
        Some(value)
    }

    /// Any other number token, read by serde_json as the slow path reads it.
    #[cold]
    fn number_by_serde_json(&mut self) -> Option<Scalar<'a>> {
        let len = self.text.as_bytes()[self.pos..]
            .iter()
            .take_while(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .count();
        let value = by_serde_json(&self.text[self.pos..self.pos + len], ScalarSeed)?;
        self.pos += len;
        Some(value)
    }
}

/// Where a plain string's text stops, from `i` on: the index of the first
/// `"`, `\` or control byte (below 0x20), or `bytes.len()` if none.
/// Eight bytes a step: a byte-at-a-time loop was a tenth of the decode.
#[inline]
fn string_stop(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // Each term sets a byte's high bit if the byte is zero (after the
        // xor: `"`, `\`) or below 0x20; a borrow can also flag bytes after
        // a hit, never before one, so the lowest flag is the first hit.
        let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w;
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let hits = (below(quote, 1) | below(backslash, 1) | below(word, 0x20)) & HIGH_BITS;
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = bytes.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

/// `token`, all of it, read by serde_json with `seed`.
fn by_serde_json<'a, S: DeserializeSeed<'a>>(token: &'a str, seed: S) -> Option<S::Value> {
    let mut de = serde_json::Deserializer::from_str(token);
    let value = seed.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

#[cfg(test)]
mod tests;
