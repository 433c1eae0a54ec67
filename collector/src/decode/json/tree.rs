//! A JSON document borrowed from the payload, for the `json` decoder
//! (whose mapped paths may point anywhere in it). `telegraf-json` knows its
//! document's shape and reads it without a tree (`telegraf::document`), with this
//! module's [`KeySeed`].
//!
//! `serde_json::Value` copies every key and string into its own `String`
//! and every object into a `BTreeMap`: for a MikroTik message that was two
//! thirds of the decode time. [`Node`] keeps strings as slices
//! of the payload (copied only when they contain an escape) and objects as
//! one `Vec` of entries in document order. serde_json still does the
//! parsing, so what is valid JSON, the nesting limit (128) and the error
//! messages are unchanged.
//!
//! Semantics kept from `Value` (the decoders' tests pin them): a duplicate
//! key's last value wins ([`Node::get`]); numbers are `u64` when
//! non-negative integers, `i64` when negative integers, else `f64`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON value, borrowing from the text it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::decode) enum Node<'a> {
    Null,
    Bool(bool),
    /// A non-negative integer.
    U(u64),
    /// A negative integer.
    I(i64),
    /// Any other number (always finite: JSON has no NaN).
    F(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Node<'a>>),
    /// Entries in document order, duplicates included.
    Obj(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// Parses `text` (which must be all of the document).
    pub(in crate::decode) fn parse(text: &'a str) -> Result<Node<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// An object's value for `key` (the last one if repeated).
    pub(in crate::decode) fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Obj(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// An object's entries in key order, a repeated key once with its last
    /// value (as `serde_json::Map` iterates); empty for other values.
    #[cfg(test)]
    pub(in crate::decode) fn entries(&self) -> Vec<(&Cow<'a, str>, &Node<'a>)> {
        let Node::Obj(entries) = self else {
            return Vec::new();
        };
        // Reversed, then a stable sort: of equal keys the last comes first,
        // and `dedup` keeps the first of a run.
        let mut sorted: Vec<_> = entries.iter().rev().map(|(k, v)| (k, v)).collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        sorted.dedup_by(|later, first| later.0 == first.0);
        sorted
    }

    pub(in crate::decode) fn is_object(&self) -> bool {
        matches!(self, Node::Obj(_))
    }

    /// The number as `f64` (`None` for other values).
    pub(in crate::decode) fn as_f64(&self) -> Option<f64> {
        match *self {
            Node::U(u) => Some(u as f64),
            Node::I(i) => Some(i as f64),
            Node::F(f) => Some(f),
            _ => None,
        }
    }

    /// The number as `i64`, if it is an integer that fits.
    pub(in crate::decode) fn as_i64(&self) -> Option<i64> {
        match *self {
            Node::U(u) => i64::try_from(u).ok(),
            Node::I(i) => Some(i),
            _ => None,
        }
    }

    /// What kind of value this is, for error messages.
    pub(in crate::decode) fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::U(_) | Node::I(_) | Node::F(_) => "a number",
            Node::Str(_) => "a string",
            Node::Arr(_) => "an array",
            Node::Obj(_) => "an object",
        }
    }
}

/// A number as `serde_json::Number` displays it.
impl fmt::Display for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Node::U(u) => write!(f, "{u}"),
            Node::I(i) => write!(f, "{i}"),
            Node::F(x) => match serde_json::Number::from_f64(x) {
                Some(n) => write!(f, "{n}"),
                None => write!(f, "{x}"), // unreachable: JSON numbers are finite
            },
            _ => f.write_str(self.type_name()),
        }
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(b))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Node<'de>, E> {
        Ok(Node::U(u))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Node<'de>, E> {
        // serde_json calls this only for negative integers, as `Value` does.
        Ok(match u64::try_from(i) {
            Ok(u) => Node::U(u),
            Err(_) => Node::I(i),
        })
    }

    fn visit_f64<E>(self, x: f64) -> Result<Node<'de>, E> {
        Ok(Node::F(x))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8).min(64));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Obj(entries))
    }
}

/// An object key, borrowed unless it contains an escape.
pub(in crate::decode) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// `node` holds what `value` holds, with `Value`'s semantics.
    fn same(node: &Node<'_>, value: &Value) -> bool {
        match (node, value) {
            (Node::Null, Value::Null) => true,
            (Node::Bool(a), Value::Bool(b)) => a == b,
            (Node::U(u), Value::Number(n)) => n.as_u64() == Some(*u),
            (Node::I(i), Value::Number(n)) => n.as_u64().is_none() && n.as_i64() == Some(*i),
            (Node::F(f), Value::Number(n)) => {
                n.as_i64().is_none() && n.as_u64().is_none() && n.as_f64() == Some(*f)
            }
            (Node::Str(a), Value::String(b)) => a == b,
            (Node::Arr(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
            }
            (Node::Obj(_), Value::Object(m)) => {
                let entries = node.entries();
                entries.len() == m.len()
                    && entries
                        .iter()
                        .zip(m)
                        .all(|((k, v), (mk, mv))| *k == mk && same(v, mv))
                    && m.iter()
                        .all(|(k, v)| node.get(k).is_some_and(|n| same(n, v)))
            }
            _ => false,
        }
    }

    fn check(text: &str) {
        let node = Node::parse(text);
        let value: Result<Value, _> = serde_json::from_str(text);
        match (&node, &value) {
            (Ok(n), Ok(v)) => assert!(same(n, v), "{text:?}: {n:?} vs {v:?}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text:?}"),
            _ => panic!("{text:?}: {node:?} vs {value:?}"),
        }
    }

    #[test]
    fn agrees_with_serde_json_value() {
        for text in [
            r#"{"a":1,"b":-2,"c":1.5,"d":"x","e":null,"f":true,"g":[1,{"h":"i"}]}"#,
            r#"{"k":"a\"b\u00e9","esc\\aped":"\n"}"#,
            r#"{"dup":1,"dup":"last","a":0}"#,
            r#"{"big":18446744073709551615,"neg":-9223372036854775808,"over":18446744073709551616}"#,
            r#"{"e":1e400}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            "[1,2",
            "",
            "  {} ",
            &("[".repeat(200) + &"]".repeat(200)),
        ] {
            check(text);
        }
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let node = Node::parse(r#"{"key":"value","esc":"a\nb"}"#).unwrap();
        let Node::Obj(entries) = &node else { panic!() };
        assert!(matches!(entries[0].0, Cow::Borrowed("key")));
        assert!(matches!(&entries[0].1, Node::Str(Cow::Borrowed("value"))));
        assert!(matches!(&entries[1].1, Node::Str(Cow::Owned(s)) if s == "a\nb"));
    }

    #[test]
    fn numbers_display_like_serde_json() {
        for text in [
            "0",
            "42",
            "-7",
            "1.5",
            "1e21",
            "-0.000001",
            "18446744073709551615",
        ] {
            let node = Node::parse(text).unwrap();
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(node.to_string(), value.to_string(), "{text}");
        }
    }

    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|i| i.to_string()),
            any::<u64>().prop_map(|u| u.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| f.to_string()),
            "[a-z\\\\\"é\n]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-c\\\\]{0,2}", inner), 0..6).prop_map(|v| {
                    let body: Vec<String> = v
                        .into_iter()
                        .map(|(k, x)| format!("{}:{x}", serde_json::to_string(&k).unwrap()))
                        .collect();
                    format!("{{{}}}", body.join(","))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_document_reads_like_value(text in json_text()) {
            check(&text);
        }

        #[test]
        fn any_damaged_document_fails_like_value(text in json_text(), cut in any::<prop::sample::Index>()) {
            let end = cut.index(text.len() + 1);
            if text.is_char_boundary(end) {
                check(&text[..end]);
            }
        }
    }
}
