//! InfluxDB line protocol encoding of canonical [`Sample`]s: one sample is one
//! line, `measurement,tags fields timestamp_ns\n`.
//!
//! # Shape
//! - Tags in sorted key order (what InfluxDB would sort them into anyway, so
//!   the server does no extra work): `device, district, [interface], [role],
//!   school, [target]`. `role` is written for interface/optical/system only; the
//!   key tag (`interface` / `target`, [`Measurement::key_tag`]) only where the
//!   measurement has one. Empty tag values are omitted: InfluxDB rejects them.
//! - Fields in [`Field`] enum order. The *field's* kind decides the line type,
//!   not the value's variant, so a field key never changes type between points
//!   (InfluxDB 1.x drops points with a "field type conflict"): counter fields
//!   are integers (`123i`), gauge fields floats. A value that cannot be written
//!   (non-finite float, counter above `i64::MAX`, fractional counter) skips
//!   that field; a sample left without fields writes nothing.
//! - Floats use the shortest representation that round-trips (Rust's `{}` /
//!   `{:e}`, written by the `number` module without `core::fmt`); a number without `i`
//!   suffix is a float, so `5` is fine.
//!
//! # Escaping (measurement, tag keys, tag values, field keys)
//! Servers disagree on backslashes, so the encoder only emits sequences every
//! parser reads the same way (checked against InfluxDB 1.6, VictoriaMetrics
//! and the `influxdb_line_protocol` crate used by InfluxDB 3):
//! 1. `,` `=` and space are escaped with a backslash (`,` and space only in the
//!    measurement). These round-trip exactly everywhere.
//! 2. ASCII control characters (`\n`, `\r`, `\t`, NUL, …) become a space (then
//!    escaped by rule 1): a newline would split the line, and tab is a field
//!    separator for InfluxDB 3. We chose a space over a textual `\n` because
//!    no server would unescape it back, and a space reads naturally in Grafana.
//! 3. A backslash followed by an ordinary character is written as-is (every
//!    parser keeps it literally). A backslash at the end of the value or before
//!    another backslash or a character of rule 1 is written as `/`: InfluxDB
//!    1.x/2.x read `\\` as two backslashes, VictoriaMetrics and InfluxDB 3 as
//!    one, and a trailing backslash would escape the following delimiter.
//!
//! [`stored_value`] gives the value a server stores for a given input, which
//! is what queries (and the tests) must use.
//!
//! # Speed (every sample passes here)
//! A [`LineEncoder`] keeps each device's escaped tags (`tags`), field keys
//! are in a table; numbers are written digit by digit into room the line
//! makes once (`number`). Size buffers with [`max_encoded_len`] and they
//! never grow. The free functions ([`encode_sample`], [`encode_record`])
//! escape the tags anew on every call: for tools, tests and the rare
//! outage record, not for a stream of samples.

use crate::sample::{
    Field, FieldKind, FieldValue, InfluxRecord, Measurement, OutageRecord, Sample,
};
use number::Text;
use tags::Pieces;

/// Characters escaped in tag keys, tag values and field keys.
const KEY_SPECIALS: &[char] = &[',', '=', ' '];

/// Appends one line for `sample` to `out`. Returns `false` (and appends
/// nothing) when no field of the sample can be written. Escapes the
/// device's tags anew: a stream of samples goes through a [`LineEncoder`].
pub fn encode_sample(sample: &Sample, out: &mut Vec<u8>) -> bool {
    write_sample(sample, &Pieces::new(&sample.device), out)
}

/// [`encode_sample`] with the device's tag pieces at hand.
fn write_sample(sample: &Sample, tags: &Pieces, out: &mut Vec<u8>) -> bool {
    let m = sample.measurement;
    let key = sample.key.as_deref().unwrap_or("");
    let start = out.len();
    // One growth at most per line (none in a buffer sized with
    // `max_encoded_len`).
    out.reserve(max_line_len(sample, tags.len()));

    // Measurement names and tag keys are plain words: nothing to escape
    // (checked by the tests).
    let name = m.as_str().as_bytes();
    out.extend_from_slice(&MEASUREMENT_NAMES[m as usize]);
    out.truncate(start + name.len());
    // Tags in sorted key order: device, district, [interface], [role],
    // school, [target].
    let key_tag = m.key_tag().filter(|_| !key.is_empty());
    match m {
        Measurement::Interface => {
            tags.put_device_district(out);
            if let Some(tag) = key_tag {
                write_key_tag(tag, key, out);
            }
            tags.put_role_school(out);
        }
        Measurement::Optical | Measurement::System => tags.put_all(out),
        Measurement::Probe | Measurement::Clients => {
            tags.put_device_district(out);
            tags.put_school(out);
            if let Some(tag) = key_tag {
                write_key_tag(tag, key, out);
            }
        }
    }

    // Fields and timestamp are written into room made for the longest
    // (one `memset`), through a slice: one length check per write, no
    // capacity check, no Vec length to keep up to date.
    let fields_at = out.len();
    out.resize(fields_at + fields_room(sample.fields.len()), 0);
    let room = &mut out[fields_at..];
    let (written, mut len) = if is_sorted_unique(&sample.fields) {
        write_fields(m, &sample.fields, room)
    } else {
        let mut fields = sample.fields.clone();
        fields.sort_by_key(|(f, _)| *f);
        // Duplicates violate the `Sample` contract; keep the first rather
        // than send a line InfluxDB would resolve arbitrarily.
        fields.dedup_by_key(|(f, _)| *f);
        write_fields(m, &fields, room)
    };
    if written == 0 {
        out.truncate(start);
        return false;
    }
    // Every field was written as `,key=value`; the first one's comma is
    // the space between tags and fields.
    room[0] = b' ';
    let mut time = Text::new(&mut room[len..]);
    time.push(b' ');
    time.push_i64(sample.time_ns);
    time.push(b'\n');
    len += time.len();
    out.truncate(fields_at + len);
    true
}

/// `,key=` of the longest field key, and the longest number: `-` and 17
/// digits with `0.0000` or `.` and `e-308`, or 19 digits and `i`.
const MAX_FIELD: usize = 17 + 24;

/// Room for the fields and timestamp of a line: the longest fields, and
/// a whole [`Text`] at the start of the last piece.
fn fields_room(fields: usize) -> usize {
    fields * MAX_FIELD + number::TEXT_CAPACITY
}

/// Bytes [`encode_record`] may need in its buffer for `record`: the
/// longest line it can write and the room it writes numbers in. A buffer
/// with that much spare capacity is not reallocated while encoding, so
/// size a buffer with the sum over its records (it is about twice what
/// a line of measurements takes).
pub fn max_encoded_len(record: &InfluxRecord) -> usize {
    match record {
        InfluxRecord::Sample(s) => max_sample_len(s),
        InfluxRecord::Outage(o) => {
            // Tag values escaped (at most 2 bytes a byte), the fixed text
            // and two floats, then the timestamp's room.
            let values = o.cause.len() + o.school.district.len() + o.school.id.len();
            let fixed = "outage,cause=,district=,school= duration_s=,open=false,started_at=".len();
            fixed + 2 * values + 2 * 24 + number::TEXT_CAPACITY
        }
        InfluxRecord::Lines { lines, .. } => lines.len() + 1,
    }
}

/// [`max_encoded_len`] of a sample.
pub fn max_sample_len(sample: &Sample) -> usize {
    // The escaped tags from the raw ones (cheaper than the device's tag
    // pieces): a byte becomes at most two (`\,`, a control character `\ `).
    let d = &sample.device;
    let raw = d.id.len() + d.district().len() + d.school_id().len();
    let tags = ",device=,district=,role=,school=".len() + 2 * raw + d.role.as_str().len();
    max_line_len(sample, tags)
}

/// Room `encode_sample` needs for `sample` with `tags` bytes of tags.
fn max_line_len(sample: &Sample, tags: usize) -> usize {
    // The measurement name is copied as 16 bytes, then cut back.
    let m = sample.measurement.as_str().len().max(16);
    let key = sample.key.as_deref().map_or(0, str::len);
    let key_tag = ",interface=".len() + 2 * key;
    m + tags + key_tag + fields_room(sample.fields.len())
}

/// `,key=value`, both escaped; nothing for an empty value (InfluxDB
/// rejects empty tags).
fn write_tag(key: &str, value: &str, out: &mut Vec<u8>) {
    if value.is_empty() {
        return;
    }
    out.push(b',');
    write_escaped(key, KEY_SPECIALS, out);
    out.push(b'=');
    write_escaped(value, KEY_SPECIALS, out);
}

/// `,tag=value` for the key tag (`interface` or `target`).
fn write_key_tag(tag: &str, value: &str, out: &mut Vec<u8>) {
    out.push(b',');
    out.extend_from_slice(tag.as_bytes());
    out.push(b'=');
    write_escaped(value, KEY_SPECIALS, out);
}

/// Appends the line for any [`InfluxRecord`]; `false` if nothing could be written.
pub fn encode_record(record: &InfluxRecord, out: &mut Vec<u8>) -> bool {
    match record {
        InfluxRecord::Sample(s) => encode_sample(s, out),
        InfluxRecord::Outage(o) => encode_outage(o, out),
        InfluxRecord::Lines { lines, .. } => {
            out.extend_from_slice(lines);
            if !lines.is_empty() && !lines.ends_with(b"\n") {
                out.push(b'\n');
            }
            !lines.is_empty()
        }
    }
}

/// `outage,cause=…,district=…,school=… duration_s=…,open=…,started_at=<outage start s> <stretch start ns>`
pub fn encode_outage(outage: &OutageRecord, out: &mut Vec<u8>) -> bool {
    if !outage.duration_s.is_finite() {
        return false;
    }
    out.extend_from_slice(b"outage");
    for (k, v) in [
        ("cause", outage.cause),
        ("district", &*outage.school.district),
        ("school", &*outage.school.id),
    ] {
        write_tag(k, v, out);
    }
    out.extend_from_slice(b" duration_s=");
    write_float(outage.duration_s.max(0.0), out);
    out.extend_from_slice(if outage.open {
        b",open=true"
    } else {
        b",open=false"
    });
    out.extend_from_slice(b",started_at=");
    write_float(outage.outage_started_ns as f64 / 1e9, out);
    Text::append(out, |time| {
        time.push(b' ');
        time.push_i64(outage.started_ns);
        time.push(b'\n');
        true
    })
}

/// [`stored_value`] without a copy in the common case (no backslash, no
/// control character: stored as is). Whatever shows a tag's value elsewhere
/// (the exporter's `/metrics` labels) uses this, so a value reads the same
/// in Prometheus and in InfluxDB.
pub fn stored_tag_value(raw: &str) -> std::borrow::Cow<'_, str> {
    if raw.bytes().any(|b| b == b'\\' || b.is_ascii_control()) {
        std::borrow::Cow::Owned(stored_value(raw))
    } else {
        std::borrow::Cow::Borrowed(raw)
    }
}

/// The value a server stores for tag value (or key) `raw` after the escaping
/// rules above: control characters become spaces, ambiguous backslashes `/`.
pub fn stored_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().map(sanitize_char).peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && backslash_is_ambiguous(chars.peek().copied(), KEY_SPECIALS) {
            out.push('/');
        } else {
            out.push(c);
        }
    }
    out
}

fn is_sorted_unique(fields: &[(Field, FieldValue)]) -> bool {
    fields.windows(2).all(|w| w[0].0 < w[1].0)
}

/// Every measurement's name (index: the `Measurement` discriminant),
/// padded to a fixed size for a fixed-size copy.
static MEASUREMENT_NAMES: [[u8; 16]; Measurement::ALL.len()] = {
    let mut names = [[0; 16]; Measurement::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        let name = Measurement::ALL[i].as_str().as_bytes();
        let mut j = 0;
        while j < name.len() {
            names[i][j] = name[j];
            j += 1;
        }
        i += 1;
    }
    names
};

/// Every field's `,key=` (index: the `Field` discriminant), padded to a
/// fixed size so that it is copied into a [`Text`] without a `memcpy` call.
static FIELD_KEYS: [([u8; 24], usize); Field::ALL.len()] = {
    let mut keys = [([0; 24], 0); Field::ALL.len()];
    let mut i = 0;
    while i < keys.len() {
        let key = Field::ALL[i].line_key();
        let mut j = 0;
        while j < key.len() {
            keys[i].0[j] = key[j];
            j += 1;
        }
        keys[i].1 = key.len();
        i += 1;
    }
    keys
};

/// Writes the fields, each as `,key=value`, into `room` (at least
/// [`fields_room`]); returns how many, and their length.
fn write_fields(m: Measurement, fields: &[(Field, FieldValue)], room: &mut [u8]) -> (usize, usize) {
    let (mut written, mut len) = (0, 0);
    for &(field, value) in fields {
        if field.measurement() != m {
            // Violates the `Sample` contract; a stray column would outlive
            // the bug that wrote it.
            continue;
        }
        let (key, key_len) = &FIELD_KEYS[field as usize];
        let mut text = Text::with_prefix(&mut room[len..], key, *key_len);
        if write_value(field.kind(), value, &mut text) {
            written += 1;
            len += text.len();
        }
    }
    (written, len)
}

/// Writes one field value in the line type of `kind`; `false` if the value
/// cannot be represented (then `out` is not to be kept).
fn write_value(kind: FieldKind, value: FieldValue, out: &mut Text<'_>) -> bool {
    match (kind, value) {
        (FieldKind::Counter, FieldValue::Counter(v)) => match i64::try_from(v) {
            // Line protocol integers are i64; `u` needs a server flag in 1.x.
            // 2^63 bytes is not reachable by a real counter, so skipping is
            // safer than writing a wrong (saturated) number.
            Ok(v) => {
                out.push_i64(v);
                out.push(b'i');
                true
            }
            Err(_) => false,
        },
        (FieldKind::Counter, FieldValue::Float(v)) => {
            // Keep the column an integer column; only exact integers qualify.
            if v.is_finite() && v.fract() == 0.0 && v >= 0.0 && v < i64::MAX as f64 {
                out.push_i64(v as i64);
                out.push(b'i');
                true
            } else {
                false
            }
        }
        (FieldKind::Gauge, value) => float_text(value.as_f64(), out),
    }
}

/// Shortest round-trip float text; `false` for NaN and infinities, which no
/// InfluxDB accepts.
fn write_float(v: f64, out: &mut Vec<u8>) -> bool {
    Text::append(out, |text| float_text(v, text))
}

/// [`write_float`] into a [`Text`].
fn float_text(v: f64, out: &mut Text<'_>) -> bool {
    if !v.is_finite() {
        return false;
    }
    let a = v.abs();
    if a == 0.0 {
        // Also turns -0 into 0, which reads better and compares equal anyway.
        out.push(b'0');
        true
    } else {
        // `{}` never uses an exponent: 1e300 would be 301 digits.
        number::write_float(v, !(1e-5..1e16).contains(&a), out);
        true
    }
}

fn sanitize_char(c: char) -> char {
    if c.is_ascii_control() {
        ' '
    } else {
        c
    }
}

fn backslash_is_ambiguous(next: Option<char>, specials: &[char]) -> bool {
    match next {
        None | Some('\\') => true,
        Some(n) => specials.contains(&n),
    }
}

/// Appends `s` escaped per the module rules, `specials` being the characters
/// that need a backslash in this position.
fn write_escaped(s: &str, specials: &[char], out: &mut Vec<u8>) {
    debug_assert!(specials.iter().all(|c| matches!(c, ',' | '=' | ' ')));
    // Fast check for the common case (every special of either position is
    // tested, so a `=` in a measurement name just takes the slow path).
    let clean = !s
        .bytes()
        .any(|b| matches!(b, b',' | b'=' | b' ' | b'\\') || b.is_ascii_control());
    if clean {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let mut buf = [0u8; 4];
    let mut chars = s.chars().map(sanitize_char).peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let ambiguous = backslash_is_ambiguous(chars.peek().copied(), specials);
            out.push(if ambiguous { b'/' } else { b'\\' });
        } else {
            if specials.contains(&c) {
                out.push(b'\\');
            }
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

mod encoder;
mod number;
mod tags;

pub use encoder::LineEncoder;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
