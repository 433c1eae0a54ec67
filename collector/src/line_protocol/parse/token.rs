//! The tokens of a line: names (measurement, tag keys and values, field
//! keys) with their escapes, and field values (numbers, booleans, strings).
//! Each scanner takes the chunk and a start offset and returns the end
//! offset with the value, borrowing unless an escape dropped a backslash.

use std::borrow::Cow;

use super::{Fault, LineValue};

/// The parts of a line that are names, for their scanning rules and messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Part {
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
pub(super) fn name(
    chunk: &str,
    start: usize,
    part: Part,
) -> Result<(usize, Cow<'_, str>), Fault<'_>> {
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
pub(super) fn field_value(chunk: &str, start: usize) -> Result<(usize, LineValue<'_>), Fault<'_>> {
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
            Ok(v) => return Ok((end, LineValue::I64(v))),
            Err(_) => "integer out of range in field",
        },
        [body @ .., b'u'] if is_int(body, false) => match token[..body.len()].parse() {
            Ok(v) => return Ok((end, LineValue::U64(v))),
            Err(_) => "unsigned integer out of range in field",
        },
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => return Ok((end, LineValue::Bool(true))),
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => return Ok((end, LineValue::Bool(false))),
        // Always parses: `1e400` is infinite, as in the crate (the decoder
        // rejects it as non-finite). No text form of NaN or inf is valid.
        t if is_float(t) => match token.parse::<f64>().ok() {
            Some(v) => return Ok((end, LineValue::F64(v))),
            None => "invalid value (not a number, boolean or string) of field",
        },
        _ => "invalid value (not a number, boolean or string) of field",
    };
    Err(Fault::new(start, what))
}

/// A quoted string at `start` (its opening quote): `\"` and `\\` are
/// escapes, any other backslash is literal; it may span lines.
fn string(chunk: &str, start: usize) -> Result<(usize, LineValue<'_>), Fault<'_>> {
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
                return Ok((i + 1, LineValue::Str(value)));
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

pub(super) fn skip_spaces(b: &[u8], i: usize) -> usize {
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
pub(super) fn run(b: &[u8], i: &mut usize) -> bool {
    let n = digits(&b[*i..]);
    *i += n;
    n > 0
}
