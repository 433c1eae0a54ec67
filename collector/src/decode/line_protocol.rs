//! InfluxDB line protocol syntax for the `influx` decoder: splits a payload
//! into lines and each line into measurement, tags, fields and timestamp,
//! borrowing from the payload. What the lines *mean* is `telegraf_map`'s.
//!
//! It accepts what the `influxdb-line-protocol` crate (InfluxDB 3's parser,
//! after InfluxDB's Go scanner) accepts, with the same values, except a
//! trailing `,` after the first field, which the crate lets pass and we
//! reject (see `line_protocol_tests.rs`). That crate is the test oracle
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
use std::fmt;

use super::common::echo_max;

/// One line of line protocol. Names and string values borrow from the
/// payload unless they held an escape that drops a backslash.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Line<'a> {
    /// 1-based physical line of the payload where this line starts.
    pub number: usize,
    pub measurement: Cow<'a, str>,
    /// In payload order; duplicates are kept (as the crate keeps them).
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
    pub timestamp: Option<i64>,
}

/// A field value as line protocol types it.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
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

impl Line<'_> {
    /// An empty line whose vectors hold `tags` and `fields` without growing.
    pub fn with_capacity(tags: usize, fields: usize) -> Self {
        Line {
            tags: Vec::with_capacity(tags),
            fields: Vec::with_capacity(fields),
            ..Line::default()
        }
    }
}

impl<'a> Lines<'a> {
    /// Parses the next line into `line`, reusing its vectors (the decoder
    /// keeps one `Line` per payload, so a message allocates them once).
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

/// The parts of a line that are names, for their scanning rules and messages.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    Measurement,
    TagKey,
    TagValue,
    FieldKey,
}

impl Part {
    /// This part's bit in [`CLASS`].
    fn bit(self) -> u8 {
        match self {
            Part::Measurement => 1,
            Part::TagKey | Part::FieldKey => 2,
            Part::TagValue => 4,
        }
    }

    fn missing(self) -> &'static str {
        match self {
            Part::Measurement => "missing measurement",
            Part::TagKey => "missing tag key",
            Part::TagValue => "missing value of tag",
            Part::FieldKey => "missing field key",
        }
    }

    fn ends_with_backslash(self) -> &'static str {
        match self {
            Part::Measurement => "measurement ends with a backslash",
            Part::TagKey => "tag key ends with a backslash",
            Part::TagValue => "value of tag ends with a backslash",
            Part::FieldKey => "field key ends with a backslash",
        }
    }

    /// Whether a backslash before `c` escapes it (and is dropped).
    fn drops_backslash_before(self, c: u8) -> bool {
        matches!(c, b',' | b' ' | b'\\') || (c == b'=' && self != Part::Measurement)
    }
}

/// [`CLASS`] bit of the backslash, special in every part.
const BACKSLASH: u8 = 8;

/// Per byte: the [`Part::bit`]s of the parts it ends, or [`BACKSLASH`]; one
/// table lookup per byte keeps the name scan a tight loop.
static CLASS: [u8; 256] = {
    let mut t = [0; 256];
    t[b' ' as usize] = 1 | 2 | 4;
    t[b'\t' as usize] = 1 | 2 | 4;
    t[b'\n' as usize] = 1 | 2 | 4;
    t[b',' as usize] = 1 | 4;
    t[0] = 1;
    t[b'=' as usize] = 2;
    t[b'\\' as usize] = BACKSLASH;
    t
};

/// Scans the name of `part` at `start`: its end and its unescaped value.
fn name(chunk: &str, start: usize, part: Part) -> Result<(usize, Cow<'_, str>), Fault<'_>> {
    let b = chunk.as_bytes();
    let mask = part.bit() | BACKSLASH;
    let mut i = start;
    let mut escaped = false;
    while i < b.len() {
        match CLASS[usize::from(b[i])] & mask {
            0 => i += 1,
            BACKSLASH => {
                // The escaped byte is taken whatever it is (TAB, LF, a
                // delimiter); after a UTF-8 lead byte the loop takes the
                // continuation bytes, which end nothing.
                let Some(&c) = b.get(i + 1) else {
                    i += 1;
                    break;
                };
                escaped |= part.drops_backslash_before(c);
                i += 2;
            }
            _ => break,
        }
    }
    if i == start {
        return Err(Fault::new(start, part.missing()));
    }
    // A raw name ends with a backslash exactly when its value does: `\\` at
    // the end, or a lone backslash at the end of the line.
    if b[i - 1] == b'\\' {
        return Err(Fault::new(start, part.ends_with_backslash()));
    }
    let raw = &chunk[start..i];
    let value = if escaped {
        Cow::Owned(unescape(raw, |c| part.drops_backslash_before(c)))
    } else {
        Cow::Borrowed(raw)
    };
    Ok((i, value))
}

/// `raw` with the backslash of every escape that `drops` dropped.
fn unescape(raw: &str, drops: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(p) = rest.find('\\') {
        out.push_str(&rest[..p]);
        match rest.as_bytes().get(p + 1) {
            Some(&c) if drops(c) => {
                out.push(char::from(c));
                rest = &rest[p + 2..];
            }
            _ => {
                out.push('\\');
                rest = &rest[p + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A field value at `start`: its end and value.
fn field_value(chunk: &str, start: usize) -> Result<(usize, FieldValue<'_>), Fault<'_>> {
    let b = chunk.as_bytes();
    if b.get(start) == Some(&b'"') {
        return string(chunk, start);
    }
    // Any other value ends at `,` or SP: whatever comes after a valid
    // prefix (`1.5x`, `tru`) is rejected by the crate too.
    let end = b[start..]
        .iter()
        .position(|&c| c == b',' || c == b' ')
        .map_or(b.len(), |p| start + p);
    let token = &chunk[start..end];
    let what = match token.as_bytes() {
        [] => "missing value of field",
        [body @ .., b'i'] if is_int(body, true) => match token[..body.len()].parse() {
            Ok(v) => return Ok((end, FieldValue::I64(v))),
            Err(_) => "integer out of range in field",
        },
        [body @ .., b'u'] if is_int(body, false) => match token[..body.len()].parse() {
            Ok(v) => return Ok((end, FieldValue::U64(v))),
            Err(_) => "unsigned integer out of range in field",
        },
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => return Ok((end, FieldValue::Bool(true))),
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => return Ok((end, FieldValue::Bool(false))),
        // Always parses: `1e400` is infinite, as in the crate (the decoder
        // rejects it as non-finite). No text form of NaN or inf is valid.
        t if is_float(t) => match token.parse() {
            Ok(v) => return Ok((end, FieldValue::F64(v))),
            Err(_) => "invalid value (not a number, boolean or string) of field",
        },
        _ => "invalid value (not a number, boolean or string) of field",
    };
    Err(Fault::new(start, what))
}

/// A quoted string at `start` (its opening quote): `\"` and `\\` are
/// escapes, any other backslash is literal; it may span lines.
fn string(chunk: &str, start: usize) -> Result<(usize, FieldValue<'_>), Fault<'_>> {
    let b = chunk.as_bytes();
    let mut i = start + 1;
    let mut escaped = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let raw = &chunk[start + 1..i];
                let value = if escaped {
                    Cow::Owned(unescape(raw, |c| c == b'"' || c == b'\\'))
                } else {
                    Cow::Borrowed(raw)
                };
                return Ok((i + 1, FieldValue::Str(value)));
            }
            b'\\' if matches!(b.get(i + 1), Some(b'"' | b'\\')) => {
                escaped = true;
                i += 2;
            }
            _ => i += 1,
        }
    }
    Err(Fault::new(start, "unterminated string in field"))
}

fn skip_spaces(b: &[u8], i: usize) -> usize {
    i + b[i..].iter().take_while(|&&c| c == b' ').count()
}

fn digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// `["-"] digits` (the sign only if `signed`).
fn is_int(b: &[u8], signed: bool) -> bool {
    let sign = usize::from(signed && b.first() == Some(&b'-'));
    b.len() > sign && digits(&b[sign..]) == b.len() - sign
}

/// `["-"] digits ["." digits] [("e" | "E") ["+" | "-"] digits]`.
fn is_float(b: &[u8]) -> bool {
    let mut i = usize::from(b.first() == Some(&b'-'));
    if !run(b, &mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !run(b, &mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !run(b, &mut i) {
            return false;
        }
    }
    i == b.len()
}

/// Advances `i` over digits; whether there was any.
fn run(b: &[u8], i: &mut usize) -> bool {
    let n = digits(&b[*i..]);
    *i += n;
    n > 0
}

/// The message of a comma ending the fields (see [`parse`]).
const TRAILING_COMMA: &str = "trailing `,` after field";

/// What is wrong at a byte offset of the chunk, with the key it concerns;
/// turned into an [`Error`] (which allocates) only once the line is rejected.
struct Fault<'a> {
    at: usize,
    what: &'static str,
    key: Option<&'a str>,
}

impl<'a> Fault<'a> {
    fn new(at: usize, what: &'static str) -> Self {
        Fault {
            at,
            what,
            key: None,
        }
    }

    fn key(mut self, key: &'a str) -> Self {
        self.key = Some(key);
        self
    }

    fn error(self, chunk: &str, line: usize) -> Error {
        let rest = &chunk[self.at..];
        Error {
            line,
            offset: self.at,
            column: chunk[..self.at].chars().count() + 1,
            what: self.what,
            key: self.key.map(|k| echo_max(k, 32)),
            found: (!rest.is_empty()).then(|| echo_max(rest, 20)),
        }
    }
}

/// Why a line was rejected and where: the line, the column (in characters,
/// from the line's start) and the text found there. Payload text in it is
/// bounded and has control characters escaped (`common::echo`).
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// 1-based physical line where the rejected line starts.
    pub line: usize,
    pub column: usize,
    /// Byte offset of the column in the line's text (for the tests).
    offset: usize,
    what: &'static str,
    key: Option<String>,
    found: Option<String>,
}

impl fmt::Display for Error {
    /// `<what> at column <n>, found <text>` (the decoder prefixes `line <n>: `).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)?;
        if let Some(key) = &self.key {
            write!(f, " `{key}`")?;
        }
        write!(f, " at column {}, found ", self.column)?;
        match &self.found {
            Some(text) => write!(f, "`{text}`"),
            None => write!(f, "end of line"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
#[path = "line_protocol_tests.rs"]
mod tests;
