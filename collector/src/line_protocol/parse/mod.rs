//! InfluxDB line protocol syntax, read for the `influx` decoder: splits a payload
//! into lines and each line into measurement, tags, fields and timestamp,
//! borrowing from the payload. What the lines *mean* is `telegraf::mapping`'s.
//!
//! It accepts what the `influxdb-line-protocol` crate (InfluxDB 3's parser,
//! after InfluxDB's Go scanner) accepts, with the same values, except a
//! trailing `,` after the first field, which the crate lets pass and we
//! reject (see `tests.rs`). That crate is the test oracle
//! (those tests, fuzz target `line_protocol_diff`). It replaced the crate in
//! the decoder because the crate's nom combinators allocate per token and
//! per error and alone cost more than the whole per-message budget.
//!
//! # Grammar
//! ```text
//! payload   = chunk *(LF chunk)      ; LF inside a quoted field value (by the
//!                                    ; scanner's count of `=` vs `,`) or right
//!                                    ; after a backslash does not split
//! chunk     = *(SP / TAB / LF / "#" *not-LF) [line]   ; blank and comments skipped
//! line      = measurement *("," tag-key "=" tag-value) 1*SP
//!             field *("," field) [1*SP timestamp *SP]
//! field     = field-key "=" (int "i" / digits "u" / float / bool / string)
//! int       = ["-"] digits           ; i64, `u` values u64
//! float     = int ["." digits] [("e" / "E") ["+" / "-"] digits]
//! bool      = t / T / true / True / TRUE / f / F / false / False / FALSE
//! string    = DQUOTE *(`\"` / `\\` / any other char but DQUOTE) DQUOTE
//! timestamp = int                    ; i64
//! ```
//! A name (measurement, tag key or value, field key) is not empty and ends
//! at SP, TAB, LF or its delimiter (measurement: `,` and NUL; keys: `=`; tag
//! values: `,`). A backslash before `,`, SP or `\` (and `=` outside the
//! measurement) escapes it and is dropped; before any other character both
//! are kept, even before TAB or LF. A name may not end with a backslash
//! after unescaping. `\r` is an ordinary character, so CRLF line endings are
//! rejected, as the crate (and InfluxDB) reject them.

use std::borrow::Cow;

use smallvec::SmallVec;

mod error;
mod token;

pub use error::Error;
use error::{Fault, TRAILING_COMMA};
use token::{field_value, name, run, skip_spaces, Part};

/// One line of line protocol. Names and string values borrow from the
/// payload unless they held an escape that drops a backslash.
///
/// Tags and fields are kept inline up to [`INLINE_TAGS`] and
/// [`INLINE_FIELDS`] (Telegraf's widest common lines, `net` and `mem`, fit),
/// so parsing a typical line allocates nothing; more spill to the heap.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Line<'a> {
    /// 1-based physical line of the payload where this line starts.
    pub number: usize,
    pub measurement: Cow<'a, str>,
    /// In payload order; duplicates are kept (as the crate keeps them).
    pub tags: SmallVec<[(Cow<'a, str>, Cow<'a, str>); INLINE_TAGS]>,
    pub fields: SmallVec<[(Cow<'a, str>, LineValue<'a>); INLINE_FIELDS]>,
    pub timestamp: Option<i64>,
}

/// Tags a [`Line`] holds without allocating.
pub const INLINE_TAGS: usize = 8;
/// Fields a [`Line`] holds without allocating.
pub const INLINE_FIELDS: usize = 16;

/// A field value as line protocol types it (named apart from
/// [`crate::sample::FieldValue`], the normalized value).
#[derive(Debug, Clone, PartialEq)]
pub enum LineValue<'a> {
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Str(Cow<'a, str>),
}

/// The lines of one payload, in order; blank and comment lines are skipped.
/// A line that does not parse yields an error and the next line is parsed
/// as usual (the decoder stops at the first error, the oracle does not).
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    text: &'a str,
    /// Start of the next chunk; `None` once the last has been read.
    pos: Option<usize>,
    /// Physical line number of the next chunk.
    number: usize,
}

/// Parses `text` line by line; see [`Lines`].
pub fn lines(text: &str) -> Lines<'_> {
    Lines {
        text,
        pos: Some(0),
        number: 1,
    }
}

impl<'a> Lines<'a> {
    /// Parses the next line into `line`, reusing it (the decoder keeps one
    /// `Line` per payload, so lines beyond the inline sizes spill once).
    /// `None` when no line is left.
    pub fn next_into(&mut self, line: &mut Line<'a>) -> Option<Result<(), Error>> {
        loop {
            let start = self.pos?;
            let (end, newlines) = chunk_end(self.text.as_bytes(), start);
            self.pos = (end < self.text.len()).then_some(end + 1);
            let number = self.number;
            self.number += 1 + newlines;
            let chunk = &self.text[start..end];
            let first = skip_blank(chunk.as_bytes());
            if first == chunk.len() {
                continue;
            }
            line.number = number;
            line.tags.clear();
            line.fields.clear();
            line.timestamp = None;
            return Some(parse(chunk, first, line).map_err(|f| f.error(chunk, number)));
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<Line<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut line = Line::default();
        Some(self.next_into(&mut line)?.map(|()| line))
    }
}

/// End of the chunk that starts at `start` (its LF or the end of `b`) and
/// the number of LFs inside it: InfluxDB's `scanLine` as the crate ports it,
/// quirks included, so lines (and so line numbers) split exactly as before.
fn chunk_end(b: &[u8], start: usize) -> (usize, usize) {
    // Only a quote or a backslash can keep an LF inside a chunk; typical
    // Telegraf lines have neither, so one SIMD search finds the end (a byte
    // loop here cost as much as the rest of the line's parse).
    match memchr::memchr3(b'\n', b'"', b'\\', &b[start..]) {
        Some(p) if b[start + p] == b'\n' => (start + p, 0),
        Some(_) => chunk_end_scanner(b, start),
        None => (b.len(), 0),
    }
}

fn chunk_end_scanner(b: &[u8], start: usize) -> (usize, usize) {
    let (mut quoted, mut fields, mut escaped) = (false, false, false);
    // The scanner's guess at "inside a string value": more `=` than `,`
    // seen after the first space, outside quotes.
    let (mut equals, mut commas, mut newlines) = (0usize, 0usize, 0);
    for (i, &c) in b.iter().enumerate().skip(start) {
        if escaped {
            escaped = false;
            newlines += usize::from(c == b'\n');
            continue;
        }
        match c {
            b'\\' => escaped = true,
            b' ' => fields = true,
            b'=' if fields && !quoted => equals += 1,
            b',' if fields && !quoted => commas += 1,
            b'"' if fields && equals > commas => quoted = !quoted,
            b'\n' if quoted => newlines += 1,
            b'\n' => return (i, newlines),
            _ => {}
        }
    }
    (b.len(), newlines)
}

/// Index of the first byte of `b` after leading SP/TAB/LF and `#` comments
/// (a comment ends at an LF, which only an escape or quote leaves in a chunk).
fn skip_blank(b: &[u8]) -> usize {
    let mut i = 0;
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n') {
            i += 1;
        }
        if b.get(i) != Some(&b'#') {
            return i;
        }
        while i < b.len() && b[i] != b'\n' {
            i += 1;
        }
    }
}

fn parse<'a>(chunk: &'a str, start: usize, out: &mut Line<'a>) -> Result<(), Fault<'a>> {
    let b = chunk.as_bytes();
    let (mut i, measurement) = name(chunk, start, Part::Measurement)?;
    out.measurement = measurement;
    if b.get(i) == Some(&b',') {
        loop {
            let (j, key) = name(chunk, i + 1, Part::TagKey)?;
            if b.get(j) != Some(&b'=') {
                return Err(Fault::new(j, "expected `=` after tag key").key(&chunk[i + 1..j]));
            }
            let (k, value) =
                name(chunk, j + 1, Part::TagValue).map_err(|f| f.key(&chunk[i + 1..j]))?;
            out.tags.push((key, value));
            i = k;
            if b.get(i) != Some(&b',') {
                break;
            }
        }
    }
    let j = skip_spaces(b, i);
    if j == i {
        return Err(Fault::new(i, "expected a space before the fields"));
    }
    i = j;
    loop {
        let (j, key) = name(chunk, i, Part::FieldKey)?;
        let raw_key = &chunk[i..j];
        if b.get(j) != Some(&b'=') {
            return Err(Fault::new(j, "expected `=` after field key").key(raw_key));
        }
        let (k, value) = field_value(chunk, j + 1).map_err(|f| f.key(raw_key))?;
        out.fields.push((key, value));
        i = k;
        match b.get(i) {
            // The crate takes a `,` right after the *first* field followed
            // by the line's end or timestamp as if it were not there: a
            // line cut after that comma would pass with fields missing.
            // InfluxDB rejects it ("invalid field format"); so do we, after
            // any field.
            Some(b',') if matches!(b.get(i + 1), None | Some(b' ')) => {
                return Err(Fault::new(i, TRAILING_COMMA).key(raw_key));
            }
            Some(b',') => i += 1,
            Some(b' ') => break,
            None => return Ok(()),
            Some(_) => {
                return Err(Fault::new(i, "expected `,` or a space after field").key(raw_key))
            }
        }
    }
    // A space after the fields must be followed by a timestamp: the crate
    // rejects a trailing space without one.
    let start = skip_spaces(b, i);
    let mut end = start + usize::from(b.get(start) == Some(&b'-'));
    if !run(b, &mut end) {
        return Err(Fault::new(start, "invalid timestamp"));
    }
    let ts = chunk[start..end]
        .parse()
        .map_err(|_| Fault::new(start, "timestamp out of range"))?;
    let tail = skip_spaces(b, end);
    if tail != b.len() {
        return Err(Fault::new(tail, "unexpected text after the timestamp"));
    }
    out.timestamp = Some(ts);
    Ok(())
}

#[cfg(test)]
mod tests;
