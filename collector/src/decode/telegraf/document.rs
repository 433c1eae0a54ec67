//! Telegraf's JSON document read straight into its metrics, for the
//! `telegraf-json` decoder: no document tree in between.
//!
//! Building a [`json::tree::Node`](crate::decode::json::tree::Node) tree and then
//! searching it was half of the decoder's instructions (callgrind). Here
//! serde_json's parser calls visitors that know the document's shape: a
//! metric's `name`, `tags`, `fields` and `timestamp` (and, at the top
//! level, `metrics`) are written into a [`MetricDoc`] as they are read;
//! every other value is walked without being kept ([`Skip`]). Nothing is
//! checked while reading, so a syntax error anywhere still wins over a
//! wrong type, as with a tree.
//!
//! Semantics kept from the tree (the decoder's tests and the oracle test
//! in `telegraf::tests` pin them):
//! - a repeated key's last value wins, at every level;
//! - tags and fields are in key order, a repeated key once
//!   ([`sort_last_wins`]); a tag whose (last) value is not a string is
//!   dropped;
//! - numbers are `u64` when non-negative integers, `i64` when negative
//!   integers, else `f64`; strings borrow the payload unless escaped.
//! - what is an error, and its message: every value is read through
//!   serde_json's `deserialize_any`, as the tree's were (so `1e400` and
//!   nesting deeper than 128 fail wherever they are).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use smallvec::SmallVec;

use super::mapping::{AsVal, Val};
use crate::decode::json::tree::KeySeed;
use crate::line_protocol::parse::{INLINE_FIELDS, INLINE_TAGS};

/// A JSON value the decoder needs the type or the scalar of.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar<'a> {
    Null,
    Bool(bool),
    /// A non-negative integer.
    U(u64),
    /// A negative integer.
    I(i64),
    /// Any other number (always finite: JSON has no NaN).
    F(f64),
    Str(Cow<'a, str>),
    /// An array or object (read, not kept), by type name.
    Composite(&'static str),
}

impl Scalar<'_> {
    /// What kind of value this is, for error messages.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "a boolean",
            Scalar::U(_) | Scalar::I(_) | Scalar::F(_) => "a number",
            Scalar::Str(_) => "a string",
            Scalar::Composite(name) => name,
        }
    }

    /// The number as `i64`, if it is an integer that fits.
    pub(super) fn as_i64(&self) -> Option<i64> {
        match *self {
            Scalar::U(u) => i64::try_from(u).ok(),
            Scalar::I(i) => Some(i),
            _ => None,
        }
    }

    /// The number as `f64` (`None` for other values).
    pub(super) fn as_f64(&self) -> Option<f64> {
        match *self {
            Scalar::U(u) => Some(u as f64),
            Scalar::I(i) => Some(i as f64),
            Scalar::F(f) => Some(f),
            _ => None,
        }
    }
}

impl AsVal for Scalar<'_> {
    fn as_val(&self) -> Val<'_> {
        match self {
            Scalar::U(u) => Val::U(*u),
            Scalar::I(i) => Val::I(*i),
            Scalar::F(f) => Val::F(*f),
            Scalar::Bool(b) => Val::Bool(*b),
            Scalar::Str(s) => Val::Str(s.as_ref()),
            other => Val::Other(other.type_name()),
        }
    }
}

/// Whether a key was present, and as the expected type.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) enum Presence<'a> {
    #[default]
    Absent,
    /// The expected type; its content is in the metric's storage.
    Expected,
    /// Another type: this value.
    Other(Scalar<'a>),
}

pub(super) type Tags<'a> = SmallVec<[(Cow<'a, str>, Cow<'a, str>); INLINE_TAGS]>;
pub(super) type Fields<'a> = SmallVec<[(Cow<'a, str>, Scalar<'a>); INLINE_FIELDS]>;

/// One metric object as read, before any check.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct MetricDoc<'a> {
    pub name: Option<Scalar<'a>>,
    pub tags_as: Presence<'a>,
    /// The tags object's string entries in key order (Telegraf's tags are
    /// strings; others are ignored).
    pub tags: Tags<'a>,
    pub fields_as: Presence<'a>,
    /// The fields object's entries in key order.
    pub fields: Fields<'a>,
    pub timestamp: Option<Scalar<'a>>,
    /// The top level's `metrics` (batch); never read inside a batch.
    pub metrics_as: Presence<'a>,
    /// The batch's items in order; `None` for one that is not an object.
    pub metrics: Vec<Option<MetricDoc<'a>>>,
}

/// Reads `text` (all of the document) into `doc` (a default one), with
/// serde_json: `Ok(false)` when the top level is valid JSON but not an
/// object. Errors are serde_json's, unchanged. (A hand-written reader of
/// the documents Telegraf writes was measured to save nothing end to end
/// and was dropped; see docs/performance.md "Fast paths: keep or drop".)
pub(super) fn parse<'a>(text: &'a str, doc: &mut MetricDoc<'a>) -> Result<bool, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let is_object = MetricSeed { doc, top: true }.deserialize(&mut de)?;
    de.end()?;
    Ok(is_object)
}

/// One entry of a tags object, as read: strings are kept; last wins, so a non-string value
/// drops the key's earlier string (and a later string wins over it, by
/// [`sort_last_wins`]).
#[inline]
fn add_tag<'a>(tags: &mut Tags<'a>, key: Cow<'a, str>, value: Scalar<'a>) {
    match value {
        Scalar::Str(value) => tags.push((key, value)),
        _ => tags.retain(|(k, _)| *k != key),
    }
}

/// Sorts `entries` by key, keeping of a repeated key only its last value
/// (as `serde_json::Map` does). Telegraf (Go's encoding/json) writes keys
/// sorted, so the usual case is one pass that finds nothing to do.
fn sort_last_wins<'a, T, A>(entries: &mut SmallVec<A>)
where
    A: smallvec::Array<Item = (Cow<'a, str>, T)>,
{
    if entries.windows(2).all(|w| w[0].0 < w[1].0) {
        return;
    }
    // Reversed, then a stable sort: of equal keys the last comes first,
    // and `dedup` keeps the first of a run.
    entries.reverse();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|later, first| later.0 == first.0);
}

/// Visitor methods for JSON's scalar types, each value wrapped by `$wrap`.
macro_rules! scalar_visits {
    ($wrap:expr) => {
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($wrap(Scalar::Null))
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($wrap(Scalar::Null))
        }
        fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
            Ok($wrap(Scalar::Bool(b)))
        }
        fn visit_u64<E>(self, u: u64) -> Result<Self::Value, E> {
            Ok($wrap(Scalar::U(u)))
        }
        fn visit_i64<E>(self, i: i64) -> Result<Self::Value, E> {
            // serde_json calls this only for negative integers, as `Value`.
            Ok($wrap(match u64::try_from(i) {
                Ok(u) => Scalar::U(u),
                Err(_) => Scalar::I(i),
            }))
        }
        fn visit_f64<E>(self, x: f64) -> Result<Self::Value, E> {
            Ok($wrap(Scalar::F(x)))
        }
        fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
            Ok($wrap(Scalar::Str(Cow::Borrowed(s))))
        }
        fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
            Ok($wrap(Scalar::Str(Cow::Owned(s.to_owned()))))
        }
        fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
            Ok($wrap(Scalar::Str(Cow::Owned(s))))
        }
    };
}

/// Any value, read and dropped. Not serde's `IgnoredAny`: serde_json skips
/// that with a faster scanner that words its errors differently ("EOF
/// while parsing an object" for "… a value"), checks no nesting limit and
/// takes `1e400`; this reads what it skips exactly as a tree would.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalar_visits!(drop);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        skip_seq(seq).map(drop)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        skip_map(map).map(drop)
    }
}

/// Skips an array's items.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Scalar<'de>, A::Error> {
    while seq.next_element_seed(Skip)?.is_some() {}
    Ok(Scalar::Composite("an array"))
}

/// Skips an object's entries.
fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Scalar<'de>, A::Error> {
    while map.next_key_seed(KeySeed)?.is_some() {
        map.next_value_seed(Skip)?;
    }
    Ok(Scalar::Composite("an object"))
}

/// Any value as a [`Scalar`].
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalar_visits!(std::convert::identity);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map)
    }
}

/// Defines a seed that reads an object into `$out` (cleared first) and
/// returns [`Presence::Expected`], or any other value as
/// [`Presence::Other`].
macro_rules! object_seed {
    ($seed:ident, $out:ty, |$map:ident, $key:ident, $entries:ident| $entry:block) => {
        struct $seed<'o, 'de>(&'o mut $out);

        impl<'de> DeserializeSeed<'de> for $seed<'_, 'de> {
            type Value = Presence<'de>;

            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
        }

        impl<'de> Visitor<'de> for $seed<'_, 'de> {
            type Value = Presence<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }

            scalar_visits!(Presence::Other);

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                skip_seq(seq).map(Presence::Other)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut $map: A) -> Result<Self::Value, A::Error> {
                let $entries = self.0;
                $entries.clear();
                while let Some($key) = $map.next_key_seed(KeySeed)? {
                    $entry
                }
                sort_last_wins($entries);
                Ok(Presence::Expected)
            }
        }
    };
}

object_seed!(TagsSeed, Tags<'de>, |map, key, tags| {
    add_tag(tags, key, map.next_value_seed(ScalarSeed)?);
});

object_seed!(FieldsSeed, Fields<'de>, |map, key, fields| {
    fields.push((key, map.next_value_seed(ScalarSeed)?));
});

/// One metric object into `doc` (`true`), or `false` for another value.
struct MetricSeed<'o, 'de> {
    doc: &'o mut MetricDoc<'de>,
    /// The top level, where `metrics` holds a batch.
    top: bool,
}

impl<'de> DeserializeSeed<'de> for MetricSeed<'_, 'de> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MetricSeed<'_, 'de> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalar_visits!(|_| false);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        skip_seq(seq).map(|_| false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let doc = self.doc;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match &*key {
                "name" => doc.name = Some(map.next_value_seed(ScalarSeed)?),
                "tags" => doc.tags_as = map.next_value_seed(TagsSeed(&mut doc.tags))?,
                "fields" => doc.fields_as = map.next_value_seed(FieldsSeed(&mut doc.fields))?,
                "timestamp" => doc.timestamp = Some(map.next_value_seed(ScalarSeed)?),
                "metrics" if self.top => {
                    doc.metrics_as = map.next_value_seed(BatchSeed(&mut doc.metrics))?
                }
                _ => map.next_value_seed(Skip)?,
            }
        }
        Ok(true)
    }
}

/// A batch's `metrics` array into `.0` (cleared first).
struct BatchSeed<'o, 'de>(&'o mut Vec<Option<MetricDoc<'de>>>);

impl<'de> DeserializeSeed<'de> for BatchSeed<'_, 'de> {
    type Value = Presence<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BatchSeed<'_, 'de> {
    type Value = Presence<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalar_visits!(Presence::Other);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let batch = self.0;
        batch.clear();
        let mut doc = MetricDoc::default();
        while let Some(is_object) = seq.next_element_seed(MetricSeed {
            doc: &mut doc,
            top: false,
        })? {
            batch.push(is_object.then(|| std::mem::take(&mut doc)));
        }
        Ok(Presence::Expected)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(Presence::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (bool, MetricDoc<'_>) {
        let mut doc = MetricDoc::default();
        let is_object = parse(text, &mut doc).unwrap();
        (is_object, doc)
    }

    #[test]
    fn sorted_keys_are_kept_in_order_and_borrowed() {
        let (is_object, doc) = read(
            r#"{"fields":{"a":1,"b":-2,"c":1.5,"d":"x","e":null,"f":[1]},"name":"net","tags":{"host":"h","n":3},"timestamp":7}"#,
        );
        assert!(is_object);
        assert_eq!(doc.name, Some(Scalar::Str("net".into())));
        assert_eq!(doc.fields_as, Presence::Expected);
        let fields: Vec<_> = doc.fields.iter().map(|(k, v)| (&**k, v.clone())).collect();
        assert_eq!(
            fields,
            [
                ("a", Scalar::U(1)),
                ("b", Scalar::I(-2)),
                ("c", Scalar::F(1.5)),
                ("d", Scalar::Str("x".into())),
                ("e", Scalar::Null),
                ("f", Scalar::Composite("an array")),
            ]
        );
        assert!(matches!(doc.fields[3].1, Scalar::Str(Cow::Borrowed(_))));
        assert_eq!(doc.tags.to_vec(), [("host".into(), "h".into())]);
        assert_eq!(doc.timestamp, Some(Scalar::U(7)));
        assert_eq!(doc.metrics_as, Presence::Absent);
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        let (_, doc) = read(
            r#"{"name":1,"tags":{"b":"1","a":"2","b":3},"name":"cpu","fields":{"x":1},"fields":{"y":2,"x":3,"y":4}}"#,
        );
        assert_eq!(doc.name, Some(Scalar::Str("cpu".into())));
        assert_eq!(doc.tags.to_vec(), [("a".into(), "2".into())]);
        assert_eq!(
            doc.fields.to_vec(),
            [("x".into(), Scalar::U(3)), ("y".into(), Scalar::U(4))]
        );
    }

    #[test]
    fn other_types_and_batches() {
        assert!(!read("[1,{}]").0);
        assert!(!read("\"x\"").0);
        let (_, doc) = read(r#"{"tags":[],"fields":"f","metrics":[{"name":"a"},2]}"#);
        assert_eq!(doc.tags_as, Presence::Other(Scalar::Composite("an array")));
        assert_eq!(doc.fields_as, Presence::Other(Scalar::Str("f".into())));
        assert_eq!(doc.metrics.len(), 2);
        assert_eq!(
            doc.metrics[0].as_ref().unwrap().name,
            Some(Scalar::Str("a".into()))
        );
        assert_eq!(doc.metrics[1], None);
        // Inside a batch, `metrics` is just another key.
        let (_, doc) = read(r#"{"metrics":[{"metrics":[{"name":"x"}]}]}"#);
        assert_eq!(
            doc.metrics[0].as_ref().unwrap().metrics_as,
            Presence::Absent
        );
    }

    #[test]
    fn syntax_errors_are_serde_json_s() {
        for text in [r#"{"a":1,}"#, "[1,2", "", r#"{"fields":{"a" 1}}"#, "{} x"] {
            let mut doc = MetricDoc::default();
            let ours = parse(text, &mut doc).unwrap_err().to_string();
            let theirs = serde_json::from_str::<serde_json::Value>(text)
                .unwrap_err()
                .to_string();
            assert_eq!(ours, theirs, "{text}");
        }
    }
}
