//! The fields of a `json` mapping: where each canonical field's value comes
//! from (one path, or a sum or difference of several), how it is read, and
//! which configured paths a payload lacked.
//!
//! Derived fields exist because devices send different pairs of the same
//! quantity: RouterOS `/system resource` has `total-memory` and
//! `free-memory` (used = total − free), MikroTik's own MQTT example script
//! sends `umem` and `fmem` (total = used + free). A derived field is stored
//! when all its inputs are present; the scale applies to the result.
//!
//! A configured path the payload does not have is *missing*: the decoder
//! reports it (field and path) so the pipeline can count it per route and
//! field and mark the message `partial`, instead of storing the other fields
//! and saying nothing. A field marked `optional` (a sensor some models lack)
//! is never missing. `null` or `""` at a path is the device saying "no
//! value", not a mismatch of keys: absent, but not missing.

use super::tree::Node;
use super::{lookup, parse_duration};
use crate::decode::detail::DisplayFn;
use crate::decode::detail::{echo, reject};
use crate::decode::{detail, payload, readings};
use crate::decode::{DecodeContext, Reading};
use crate::reject::{Reject, RejectReason};
use crate::sample::{Field, FieldKind};

/// Where a mapped field's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The value at one JSON path.
    Path(String),
    /// The sum of the values at these paths (`total = used + free`).
    Sum(Vec<String>),
    /// The first path's value minus the others' (`used = total − free`).
    Difference(Vec<String>),
}

impl Input {
    /// Every path this input reads, in order.
    pub fn paths(&self) -> &[String] {
        match self {
            Input::Path(p) => std::slice::from_ref(p),
            Input::Sum(ps) | Input::Difference(ps) => ps,
        }
    }
}

impl std::fmt::Display for Input {
    /// `cpu-load`, `umem + fmem`, `total-memory − free-memory`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (paths, op) = match self {
            Input::Path(p) => return f.write_str(&echo(p)),
            Input::Sum(ps) => (ps, " + "),
            Input::Difference(ps) => (ps, " − "),
        };
        for (i, p) in paths.iter().enumerate() {
            if i > 0 {
                f.write_str(op)?;
            }
            f.write_str(&echo(p))?;
        }
        Ok(())
    }
}

/// One canonical field and where it is read from.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMap {
    pub field: Field,
    pub input: Input,
    /// Multiplier applied to the (derived) value (`0.01` turns percent into
    /// a ratio).
    pub scale: f64,
    /// Absent without complaint: not reported as missing.
    pub optional: bool,
}

impl FieldMap {
    /// A required field read from one path.
    pub fn path(field: Field, path: &str, scale: f64) -> FieldMap {
        FieldMap {
            field,
            input: Input::Path(path.to_string()),
            scale,
            optional: false,
        }
    }
}

/// A configured path the payload did not carry, and the field it feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingField {
    pub field: Field,
    /// The absent path; for a derived field its absent inputs, joined by
    /// `` `, ` `` (quoted in backticks they read as a list).
    pub path: String,
}

/// What reading one mapped field gave.
pub(super) enum Outcome {
    Value(Reading),
    /// `null` or `""` (at some input): the device has no value.
    Empty,
    /// A configured path is not in the payload ([`absent`] names it).
    Missing,
}

/// Reads `fm` from `doc`.
pub(super) fn read(
    ctx: &DecodeContext<'_>,
    doc: &Node<'_>,
    fm: &FieldMap,
) -> Result<Outcome, Reject> {
    let paths = match &fm.input {
        Input::Path(path) => {
            return Ok(match lookup(doc, path) {
                None => Outcome::Missing,
                Some(v) => field_reading(ctx, fm, path, v)?.map_or(Outcome::Empty, Outcome::Value),
            })
        }
        Input::Sum(ps) | Input::Difference(ps) => ps,
    };
    // Every input is looked for before any is read: a missing one is
    // reported as missing even when another holds a wrong value.
    if paths.iter().any(|p| lookup(doc, p).is_none()) {
        return Ok(Outcome::Missing);
    }
    let mut total = 0.0;
    for (i, path) in paths.iter().enumerate() {
        let Some(v) = lookup(doc, path) else {
            continue; // unreachable: every path was just found
        };
        let what =
            DisplayFn(|f| write!(f, "{} (`{}` of {})", fm.field.key(), echo(path), fm.input));
        let Some(x) = number(fm.field, &what, v)? else {
            return Ok(Outcome::Empty);
        };
        total += if i > 0 && matches!(fm.input, Input::Difference(_)) {
            -x
        } else {
            x
        };
    }
    let what = DisplayFn(|f| write!(f, "{} ({})", fm.field.key(), fm.input));
    if matches!(fm.input, Input::Difference(_)) && total < 0.0 {
        // used = total − free below zero: the inputs contradict each other.
        return Err(reject(
            RejectReason::WrongType,
            format!("{what} = {} is negative", detail::num(total)),
        ));
    }
    readings::scaled(fm.field, &what, total, fm.scale, ctx.counter_width).map(Outcome::Value)
}

/// The paths of `fm` that `doc` lacks, joined by `` `, ` `` (quoted in
/// backticks they read as a list): for reporting an [`Outcome::Missing`],
/// so only a payload that lacks one pays for the text.
pub(super) fn absent(doc: &Node<'_>, fm: &FieldMap) -> String {
    let absent: Vec<&str> = fm
        .input
        .paths()
        .iter()
        .filter(|p| lookup(doc, p).is_none())
        .map(String::as_str)
        .collect();
    absent.join("`, `")
}

/// One path's reading for `fm`; `None` for `null` / `""` (absent).
fn field_reading(
    ctx: &DecodeContext<'_>,
    fm: &FieldMap,
    path: &str,
    v: &Node<'_>,
) -> Result<Option<Reading>, Reject> {
    let what = DisplayFn(|f| write!(f, "{} (`{}`)", fm.field.key(), echo(path)));
    let width = ctx.counter_width;
    #[allow(clippy::float_cmp)] // exactly 1.0 is the "no scale" default
    let unscaled = fm.scale == 1.0;
    match v {
        // An unscaled counter stays exact (as `exact_counter` keeps
        // integer text exact): no detour through f64.
        Node::U(u) if fm.field.kind() == FieldKind::Counter && unscaled => {
            return readings::counter_u64(&what, *u, width).map(Some)
        }
        Node::Str(s) => {
            let s = payload::trim(s);
            if let Some(r) = readings::exact_counter(fm.field, &what, s, fm.scale, width) {
                return r.map(Some);
            }
        }
        _ => {}
    }
    match number(fm.field, &what, v)? {
        Some(x) => readings::scaled(fm.field, &what, x, fm.scale, width).map(Some),
        None => Ok(None),
    }
}

/// A JSON value as a number for `field`: numbers, numeric strings,
/// durations, booleans (gauges only); `None` for `null` / `""`.
fn number(field: Field, what: &dyn std::fmt::Display, v: &Node<'_>) -> Result<Option<f64>, Reject> {
    let wrong = |detail: String| reject(RejectReason::WrongType, format!("{what}: {detail}"));
    let boolean = |b: bool| {
        (field.kind() == FieldKind::Gauge)
            .then_some(f64::from(u8::from(b)))
            .ok_or_else(|| wrong("a boolean is not a counter".into()))
    };
    Ok(Some(match v {
        Node::Null => return Ok(None),
        Node::Bool(b) => boolean(*b)?,
        Node::U(u) => *u as f64,
        Node::I(i) => *i as f64,
        Node::F(f) => *f,
        Node::Str(s) => {
            let s = payload::trim(s);
            if s.is_empty() {
                return Ok(None);
            }
            match payload::bool_word(s) {
                Some(b) => boolean(b)?,
                None => s
                    .parse::<f64>()
                    .ok()
                    .or_else(|| parse_duration(s))
                    .ok_or_else(|| wrong(format!("`{}` is not a number or duration", echo(s))))?,
            }
        }
        Node::Arr(_) => return Err(wrong("an array, expected a number".into())),
        Node::Obj(_) => return Err(wrong("an object, expected a number".into())),
    }))
}
