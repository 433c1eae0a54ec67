use proptest::prelude::*;

use super::*;
use crate::decode::telegraf::document::fast_path_disagreement;

/// The fast reader's document, or `None` where it hands over.
fn fast(text: &str) -> Option<String> {
    let mut doc = MetricDoc::default();
    read(text, &mut doc).map(|()| format!("{doc:?}"))
}

/// Whenever the fast reader answers, serde_json reads the same object.
fn same_as_serde_json(text: &str) -> Result<(), TestCaseError> {
    match fast_path_disagreement(text) {
        None => Ok(()),
        Some(both) => Err(TestCaseError::fail(both)),
    }
}

#[test]
fn telegraf_s_own_documents_take_the_fast_path() {
    for text in [
        r#"{"fields":{"bytes_recv":1795420860,"drop_in":0,"err_in":0,"speed":-1,"load":0.25},"name":"net","tags":{"host":"rtr-001","interface":"eth0"},"timestamp":1700000000}"#,
        r#"{"metrics":[{"fields":{"a":1},"name":"cpu","tags":{},"timestamp":1700000000},{"fields":{"b":true,"c":"up","d":null},"name":"system","tags":{"host":"h"},"timestamp":1700000000}]}"#,
        // Pretty-printed, with every whitespace byte JSON has.
        "{\r\n\t\"name\" : \"net\" ,\n  \"fields\": { \"x\" : -12.5 } ,\"tags\":{ }\n}\n",
        // Handed to serde_json one token at a time, still read here.
        r#"{"name":"n\u00e9t","fields":{"big":18446744073709551616,"e":1.5e-7,"long":0.30000000000000004,"neg0":-0},"tags":{"a\"b":"\\"}}"#,
    ] {
        assert!(fast(text).is_some(), "fast path declined {text}");
        same_as_serde_json(text).unwrap();
    }
}

#[test]
fn numbers_are_serde_json_s_values() {
    for n in [
        "0",
        "-0",
        "-0.0",
        "0.1",
        "1.50",
        "-18.52",
        "123456789012345678",
        "-123456789012345678",
        "1234567890123456789",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "9007199254740993",
        "9007199254740993.5",
        "900719925474099.35",
        "0.000000000000000001",
        "0.0000000000000000000000001",
        "1e5",
        "1E+5",
        "2.5e-3",
    ] {
        let text = format!(r#"{{"fields":{{"x":{n}}}}}"#);
        assert!(fast(&text).is_some(), "{n} should be read");
        same_as_serde_json(&text).unwrap();
    }
}

#[test]
fn what_serde_json_rejects_is_left_to_it() {
    for text in [
        "",
        "[1]",
        "\"x\"",
        "{",
        "{}x",
        // A NUL byte is what the reader's peek returns at the end: found by
        // the differential fuzz target after the object, then anywhere.
        "{}\0",
        "{\"m\":1}\0\0",
        "{\"m\":\0 1}",
        "{\"fields\":{\"x\":1\0}}",
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        r#"{"fields":{"x":01}}"#,
        r#"{"fields":{"x":1.}}"#,
        r#"{"fields":{"x":.5}}"#,
        r#"{"fields":{"x":-}}"#,
        r#"{"fields":{"x":1e400}}"#,
        r#"{"fields":{"x":+1}}"#,
        r#"{"fields":{"x":tru}}"#,
        r#"{"fields":{"x":"a\x"}}"#,
        "{\"fields\":{\"x\":\"tab\there\"}}",
        r#"{"fields":{"x":"unterminated}}"#,
        r#"{"fields":{"x":"\"#,
        "\u{feff}{}",
    ] {
        assert_eq!(fast(text), None, "{text:?}");
    }
    // Arrays and objects where a scalar goes are serde_json's to read.
    for text in [
        r#"{"other":[1]}"#,
        r#"{"fields":{"x":{}}}"#,
        r#"{"tags":[]}"#,
    ] {
        assert_eq!(fast(text), None, "{text:?}");
    }
}

/// JSON's whitespace, often none.
fn ws() -> impl Strategy<Value = String> {
    prop_oneof![4 => Just(String::new()), 1 => "[ \t\r\n]{1,3}"]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,25})?([eE][-+]?[0-9]{1,3})?",
        "[-+0-9.eE]{1,6}",
        any::<f64>().prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<u64>().prop_map(|u| u.to_string()),
    ]
}

fn string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => "[a-z_]{1,4}",
        1 => Just("é".to_string()),
        1 => "\\\\[\"\\\\/bfnrtux]",
        1 => "\\\\u[0-9a-fA-F]{4}",
        1 => Just("\t".to_string()),
        1 => Just("\\".to_string()),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "(name|tags|fields|timestamp|metrics|host|x|y)".prop_map(|k| format!("\"{k}\"")),
        1 => string(),
    ]
}

/// Any JSON value, shallow, made of the tokens above with whitespace.
fn value() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        4 => number(),
        3 => string(),
        1 => "(true|false|null|tru|nul)",
    ];
    scalar.prop_recursive(3, 24, 5, |inner| {
        let member = (ws(), key(), ws(), ws(), inner.clone(), ws())
            .prop_map(|(a, k, b, c, v, d)| format!("{a}{k}{b}:{c}{v}{d}"));
        prop_oneof![
            prop::collection::vec(member, 0..5).prop_map(|m| format!("{{{}}}", m.join(","))),
            prop::collection::vec(inner, 0..4).prop_map(|items| format!("[{}]", items.join(","))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Generated documents, cut short and with one byte changed: whatever
    /// the fast reader reads, serde_json reads the same way.
    #[test]
    fn reads_what_serde_json_reads(
        text in value(),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in prop::sample::select(b"{}[],:\"\\ 0-.eE\0".to_vec()),
    ) {
        same_as_serde_json(&text)?;
        let mut cut = cut.index(text.len() + 1);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        same_as_serde_json(&text[..cut])?;
        let mut changed = text.into_bytes();
        let at = at.index(changed.len().max(1));
        if at < changed.len() {
            changed[at] = byte;
        }
        if let Ok(changed) = String::from_utf8(changed) {
            same_as_serde_json(&changed)?;
        }
    }
}

#[test]
fn string_stop_checks_every_byte_value_at_every_lane() {
    let is_stop = |c: u8| c == b'"' || c == b'\\' || c < 0x20;
    for c in 0..=u8::MAX {
        for at in 0..20 {
            // A filler on both sides that sits next to the stop bytes' values.
            for filler in [b'a', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff] {
                let mut bytes = vec![filler; 20];
                bytes[at] = c;
                let expected = if is_stop(c) { at } else { bytes.len() };
                assert_eq!(string_stop(&bytes, 0), expected, "{c:#x} at {at}");
            }
        }
    }
}

proptest! {
    /// The eight-byte scan stops where a byte-at-a-time scan stops.
    #[test]
    fn string_stop_finds_the_first_stop_byte(
        bytes in prop::collection::vec(
            prop_oneof![4 => 0x20u8..0x7f, 2 => prop::sample::select(b"\"\\\x1f\x20\x21\x5b\x5d".to_vec()), 1 => 0u8..0x20, 1 => 0x7fu8..],
            0..40,
        ),
        from in any::<prop::sample::Index>(),
    ) {
        let from = from.index(bytes.len() + 1);
        let expected = bytes[from..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .map_or(bytes.len(), |p| from + p);
        prop_assert_eq!(string_stop(&bytes, from), expected);
    }
}
