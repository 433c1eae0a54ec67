//! The hand-written parser against the `influxdb-line-protocol` crate it
//! replaced (the oracle), plus the cases that matter to the decoder.
//!
//! Every property below asserts exact agreement with the crate on which
//! lines are rejected and, for accepted lines, on measurement, tags, fields
//! (type and value, floats bit for bit), timestamp and the physical line
//! number each line is reported at, with one documented difference:
//!
//! - A `,` right after the first field, followed by the end of the line or
//!   by the timestamp (`m a=1,` or `m a=1, 5`): the crate's field list
//!   (nom `separated_list1`) consumes the separator before failing on the
//!   second field and then accepts the line as if the comma were absent.
//!   InfluxDB rejects it, and it is what a payload cut after a comma looks
//!   like, so we reject it (`trailing `,` after field`). [`agree`] checks
//!   that such a line, with that comma removed, parses to exactly what the
//!   crate returned.

use std::borrow::Cow;

use influxdb_line_protocol as oracle;
use proptest::prelude::*;

use super::*;

/// A parsed line in a form both parsers map to; `Err` holds the line number.
#[derive(Debug, PartialEq)]
struct Parsed {
    number: usize,
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, Value)>,
    timestamp: Option<i64>,
}

#[derive(Debug, PartialEq)]
enum Value {
    I(i64),
    U(u64),
    /// Bits, so `-0.0` and `0.0` differ and infinities compare.
    F(u64),
    B(bool),
    S(String),
}

fn ours(text: &str) -> Vec<Result<Parsed, usize>> {
    lines(text)
        .map(|r| match r {
            Ok(l) => Ok(Parsed {
                number: l.number,
                measurement: l.measurement.into_owned(),
                tags: l
                    .tags
                    .into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
                fields: l
                    .fields
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            LineValue::I64(i) => Value::I(i),
                            LineValue::U64(u) => Value::U(u),
                            LineValue::F64(f) => Value::F(f.to_bits()),
                            LineValue::Bool(b) => Value::B(b),
                            LineValue::Str(s) => Value::S(s.into_owned()),
                        };
                        (k.into_owned(), v)
                    })
                    .collect(),
                timestamp: l.timestamp,
            }),
            Err(e) => Err(e.line),
        })
        .collect()
}

/// The crate as the decoder used it: `split_lines`, then `parse_lines` on
/// each piece, counting physical lines per piece.
fn theirs(text: &str) -> Vec<Result<Parsed, usize>> {
    let mut out = Vec::new();
    let mut number = 1;
    for chunk in oracle::split_lines(text) {
        for r in oracle::parse_lines(chunk) {
            out.push(match r {
                Ok(l) => Ok(Parsed {
                    number,
                    measurement: l.series.measurement.to_string(),
                    tags: (l.series.tag_set.iter().flatten())
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    fields: (l.field_set.iter())
                        .map(|(k, v)| {
                            let v = match v {
                                oracle::FieldValue::I64(i) => Value::I(*i),
                                oracle::FieldValue::U64(u) => Value::U(*u),
                                oracle::FieldValue::F64(f) => Value::F(f.to_bits()),
                                oracle::FieldValue::Boolean(b) => Value::B(*b),
                                oracle::FieldValue::String(s) => Value::S(s.to_string()),
                            };
                            (k.to_string(), v)
                        })
                        .collect(),
                    timestamp: l.timestamp,
                }),
                Err(_) => Err(number),
            });
        }
        number += 1 + chunk.matches('\n').count();
    }
    out
}

fn agree(text: &str) {
    let (mut ours, theirs) = (ours(text), theirs(text));
    assert_eq!(
        ours.len(),
        theirs.len(),
        "payload {text:?}: {ours:?} vs {theirs:?}"
    );
    for (i, line) in lines(text).enumerate() {
        let Err(e) = line else { continue };
        if e.what != TRAILING_COMMA || theirs[i].is_err() {
            continue;
        }
        // The documented difference: without the comma we must agree.
        let mut number = 1;
        let chunk = oracle::split_lines(text)
            .find(|c| {
                let here = number;
                number += 1 + c.matches('\n').count();
                here == e.line
            })
            .expect("the rejected line's chunk");
        let fixed = format!("{}{}", &chunk[..e.offset], &chunk[e.offset + 1..]);
        let mut again = self::ours(&fixed);
        assert_eq!(again.len(), 1, "{fixed:?}");
        let mut again = again.remove(0);
        if let Ok(p) = &mut again {
            p.number = e.line;
        }
        ours[i] = again;
    }
    assert_eq!(ours, theirs, "payload {text:?}");
}

fn one(text: &str) -> Line<'_> {
    let mut all: Vec<_> = lines(text).collect();
    assert_eq!(all.len(), 1, "{text:?}: {all:?}");
    all.remove(0).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn fails(text: &str) -> String {
    agree(text);
    match lines(text).next() {
        Some(Err(e)) => e.to_string(),
        other => panic!("{text:?} parsed: {other:?}"),
    }
}

#[allow(clippy::ptr_arg)] // which variant it is, is the question
fn borrowed(c: &Cow<'_, str>) -> bool {
    matches!(c, Cow::Borrowed(_))
}

#[test]
fn telegraf_line_borrows_everything() {
    let text = "net,host=rtr-001,interface=wan bytes_recv=123i,bytes_sent=456u,drop_in=0.5,up=true,name=\"wan 1\" 1795420800000000000\n";
    agree(text);
    let l = one(text);
    assert_eq!(l.number, 1);
    assert_eq!(l.measurement, "net");
    assert_eq!(l.tags.len(), 2);
    assert_eq!((&*l.tags[1].0, &*l.tags[1].1), ("interface", "wan"));
    assert_eq!(
        l.fields.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        [
            LineValue::I64(123),
            LineValue::U64(456),
            LineValue::F64(0.5),
            LineValue::Bool(true),
            LineValue::Str("wan 1".into()),
        ]
    );
    assert_eq!(l.timestamp, Some(1_795_420_800_000_000_000));
    assert!(borrowed(&l.measurement));
    assert!(l.tags.iter().all(|(k, v)| borrowed(k) && borrowed(v)));
    assert!(l
        .fields
        .iter()
        .all(|(k, v)| borrowed(k) && !matches!(v, LineValue::Str(Cow::Owned(_)))));
}

#[test]
fn escapes_drop_the_backslash_only_where_the_crate_does() {
    let text = r"m\,x\ y\=z,t\=k\,\ =v\,w\ z\=\\x f\=g\,\ =1i";
    agree(text);
    let l = one(text);
    // `\=` is no escape in a measurement.
    assert_eq!(l.measurement, r"m,x y\=z");
    assert_eq!((&*l.tags[0].0, &*l.tags[0].1), ("t=k, ", r"v,w z=\x"));
    assert_eq!(&*l.fields[0].0, "f=g, ");
    assert!(!borrowed(&l.measurement) && !borrowed(&l.fields[0].0));
    // Any other escaped character keeps its backslash, and needs no copy.
    let l = one(r"m\x,t=a\b\é f\t=1");
    assert_eq!(l.measurement, r"m\x");
    assert_eq!(l.tags[0].1, r"a\b\é");
    assert_eq!(l.fields[0].0, r"f\t");
    assert!(borrowed(&l.measurement) && borrowed(&l.tags[0].1) && borrowed(&l.fields[0].0));
    // Even TAB and LF are taken literally after a backslash.
    agree("m\\\tx,t=a\\\nb f=1\nm f=2");
    let l = one("m\\\tx,t=a\\\nb f=1");
    assert_eq!(l.measurement, "m\\\tx");
    assert_eq!(l.tags[0].1, "a\\\nb");
}

#[test]
fn names_may_not_end_with_a_backslash() {
    for text in [
        r"m\\ f=1",
        r"m\",
        r"m,t\\=v f=1",
        r"m,t=v\\ f=1",
        r"m f\\=1",
        "m,t=v f=1,g\\",
    ] {
        let e = fails(text);
        assert!(e.contains("ends with a backslash"), "{text:?}: {e}");
    }
    // Escaped twice is fine: the value ends with an escaped comma.
    assert_eq!(one(r"m\\\, f=1").measurement, r"m\,");
}

#[test]
fn names_take_the_crates_delimiters() {
    // Keys end only at `=`, tag values only at `,`: a comma in a key and an
    // equals sign in a value are part of them.
    let text = "m,a,b=c=d e,f=1";
    agree(text);
    let l = one(text);
    assert_eq!((&*l.tags[0].0, &*l.tags[0].1), ("a,b", "c=d"));
    assert_eq!(l.fields[0].0, "e,f");
    // So are doubled commas.
    let text = "m,,t=a f=1,,g=2";
    agree(text);
    let l = one(text);
    assert_eq!(l.tags[0].0, ",t");
    assert_eq!(l.fields[1].0, ",g");
    // Duplicate tags are kept for the decoder's identity check.
    assert_eq!(one("m,host=a,host=b f=1").tags.len(), 2);
    // NUL ends a measurement only.
    agree("m,t\0=\0 f\0=1");
    fails("m\0 f=1");
}

#[test]
fn quoted_strings() {
    let text = "m s=\"a b,c=d\\\"e\\\\f\\g\",t=\"\",u=\"x\\\\\" 1";
    agree(text);
    let l = one(text);
    assert_eq!(l.fields[0].1, LineValue::Str(r#"a b,c=d"e\f\g"#.into()));
    assert_eq!(l.fields[1].1, LineValue::Str("".into()));
    assert_eq!(l.fields[2].1, LineValue::Str(r"x\".into()));
    assert_eq!(l.timestamp, Some(1));
    // A string spans lines; line numbers stay physical.
    let text = "m s=\"a\nb\",t=1 1\n\nm f=\"x\"\nm,t=v f=\"a\n\nb\"\nm f=1";
    agree(text);
    let numbers: Vec<_> = lines(text).map(|l| l.unwrap().number).collect();
    assert_eq!(numbers, [1, 4, 5, 8]);
    assert!(fails("m f=\"abc").starts_with("unterminated string in field `f` at column 5"));
    fails("m f=\"abc\\\"");
    fails("m f=\"a\"b");
    fails("m f=\"a\"\"b\"");
}

#[test]
fn the_scanners_quote_guess_decides_where_lines_end() {
    // The scanner counts `=` against `,` to guess whether a quote opens a
    // string; with a comma in the field key it guesses wrong and splits the
    // string, so both halves are rejected, on lines 1 and 2.
    let text = "m a,b=\"x\ny\"";
    agree(text);
    assert_eq!(ours(text), [Err(1), Err(2)]);
    // And a quote in a comment can swallow the next line.
    agree("# a=\"x\nm f=1\"\nm f=2");
    agree("m f=1 \"x\ny\"\nm f=2");
}

#[test]
fn field_types() {
    fn v(text: &str) -> LineValue<'static> {
        agree(text);
        match one(text).fields.remove(0).1 {
            LineValue::I64(i) => LineValue::I64(i),
            LineValue::U64(u) => LineValue::U64(u),
            LineValue::F64(f) => LineValue::F64(f),
            LineValue::Bool(b) => LineValue::Bool(b),
            LineValue::Str(s) => LineValue::Str(Cow::Owned(s.into_owned())),
        }
    }
    assert_eq!(v("m f=-9223372036854775808i"), LineValue::I64(i64::MIN));
    assert_eq!(v("m f=18446744073709551615u"), LineValue::U64(u64::MAX));
    assert_eq!(v("m f=007i"), LineValue::I64(7));
    assert_eq!(v("m f=1"), LineValue::F64(1.0));
    assert_eq!(v("m f=-1.5E-3"), LineValue::F64(-1.5e-3));
    assert_eq!(v("m f=2e+3"), LineValue::F64(2e3));
    assert!(matches!(v("m f=-0"), LineValue::F64(z) if z == 0.0 && z.is_sign_negative()));
    // Overflowing floats are infinite (the decoder rejects them as non-finite).
    assert_eq!(v("m f=1e400"), LineValue::F64(f64::INFINITY));
    for (t, b) in [
        ("t", true),
        ("T", true),
        ("true", true),
        ("True", true),
        ("TRUE", true),
        ("f", false),
        ("F", false),
        ("false", false),
        ("False", false),
        ("FALSE", false),
    ] {
        assert_eq!(v(&format!("m x={t}")), LineValue::Bool(b), "{t}");
    }
    for bad in [
        "NaN", "nan", "inf", "-inf", "Infinity", "+1", ".5", "1.", "1.5.5", "1e", "1e+", "tru",
        "tRUE", "yes", "1i5", "-5u", "1.5i", "0x10", "1_000", "-", "i", "u",
    ] {
        let e = fails(&format!("m f={bad}"));
        assert!(e.contains("field `f`"), "{bad}: {e}");
    }
    let e = fails("net,host=a bytes=9223372036854775808i");
    assert_eq!(
        e,
        "integer out of range in field `bytes` at column 18, found `9223372036854775808i`"
    );
    assert!(fails("m f=18446744073709551616u").starts_with("unsigned integer out of range"));
    assert!(fails("m f=").starts_with("missing value of field `f` at column 5, found end"));
    assert!(fails("m f=,g=1").starts_with("missing value of field `f`"));
}

#[test]
fn timestamps() {
    let ts = |text: &str| {
        agree(text);
        one(text).timestamp
    };
    assert_eq!(ts("m f=1"), None);
    assert_eq!(ts("m f=1 -5"), Some(-5));
    assert_eq!(ts("m f=1   5  "), Some(5));
    assert_eq!(ts("m f=1 9223372036854775807"), Some(i64::MAX));
    assert!(fails("m f=1 9223372036854775808").starts_with("timestamp out of range"));
    // A space after the fields promises a timestamp.
    assert!(fails("m f=1 ").starts_with("invalid timestamp at column 7, found end of line"));
    assert!(fails("m f=1 5 6").starts_with("unexpected text after the timestamp at column 9"));
    for bad in [
        "m f=1 -",
        "m f=1 5x",
        "m f=1 +5",
        "m f=1\t5",
        "m f=1 1.5",
        "m f=1 5\t",
    ] {
        fails(bad);
    }
}

#[test]
fn blank_lines_comments_and_crlf() {
    let text = "\n  # comment\n\t\n#\nm f=1\n\n# m f=\n  m f=2 3\n";
    agree(text);
    let numbers: Vec<_> = lines(text).map(|l| l.unwrap().number).collect();
    assert_eq!(numbers, [5, 8]);
    assert_eq!(ours("# only\n\n"), []);
    // `\r` is no line end for the crate nor InfluxDB: CRLF payloads are
    // rejected on their first line (Telegraf writes LF).
    let e = fails("m f=1\r\nm f=2\r\n");
    assert!(e.contains(r"found `1\r`"), "{e}");
    fails("m f=1 5\r\n");
}

#[test]
fn broken_structure_is_rejected_with_its_place() {
    let cases = [
        ("", None),
        (
            ",t=a f=1",
            Some("missing measurement at column 1, found `,t=a f=1`"),
        ),
        (
            "m",
            Some("expected a space before the fields at column 2, found end of line"),
        ),
        (
            "m ",
            Some("missing field key at column 3, found end of line"),
        ),
        (
            "m 5",
            Some("expected `=` after field key `5` at column 4, found end of line"),
        ),
        (
            "m,t=a",
            Some("expected a space before the fields at column 6"),
        ),
        (
            "m,=a f=1",
            Some("missing tag key at column 3, found `=a f=1`"),
        ),
        ("m,t=a,=b f=1", Some("missing tag key at column 7")),
        ("m,t=a, f=1", Some("missing tag key at column 7")),
        (
            "m,t f=1",
            Some("expected `=` after tag key `t` at column 4, found ` f=1`"),
        ),
        ("m,t= f=1", Some("missing value of tag `t` at column 5")),
        (
            "m,t=a\tf=1",
            Some("expected a space before the fields at column 6, found `\\tf=1`"),
        ),
        ("m f=1,=2", Some("missing field key at column 7")),
        (
            "m f=1, g=2",
            Some("trailing `,` after field `f` at column 6"),
        ),
        (
            "m f=1,g=2,",
            Some("trailing `,` after field `g` at column 10, found `,`"),
        ),
        ("m f=1,", Some("trailing `,` after field `f` at column 6")),
        ("m f=1, 5", Some("trailing `,` after field `f` at column 6")),
        (
            "m f==1",
            Some("invalid value (not a number, boolean or string) of field `f`"),
        ),
        (
            "m f=\"a\"x",
            Some("expected `,` or a space after field `f` at column 8, found `x`"),
        ),
        (
            "m\tf=1",
            Some("expected a space before the fields at column 2"),
        ),
    ];
    for (text, want) in cases {
        agree(text);
        match want {
            None => assert!(lines(text).next().is_none(), "{text:?}"),
            Some(want) => {
                let e = fails(text);
                assert!(e.starts_with(want), "{text:?}: {e}");
            }
        }
    }
    // Multiple spaces between the parts are fine.
    agree("m,t=a   f=1    2");
    assert_eq!(one("m,t=a   f=1    2").timestamp, Some(2));
}

#[test]
fn errors_echo_payload_text_bounded_and_escaped() {
    let long = format!("m f=\"{}", "x\n".repeat(200));
    let e = fails(&long);
    assert!(
        e.len() < 120 && e.contains(r"\n") && !e.contains('\n'),
        "{e}"
    );
    let key = "k".repeat(100);
    let e = fails(&format!("m {key}=nope"));
    assert!(e.len() < 150 && e.contains('…'), "{e}");
    // Columns count characters, not bytes.
    assert!(fails("mé f=x").contains("column 6"));
}

#[test]
fn next_into_reuses_the_line() {
    let text = "a,x=1,y=2 f=1,g=2,h=3\nb,z=3 k=4";
    let mut it = lines(text);
    let mut line = Line::default();
    it.next_into(&mut line).unwrap().unwrap();
    let (tags, fields) = (line.tags.as_ptr(), line.fields.as_ptr());
    it.next_into(&mut line).unwrap().unwrap();
    assert_eq!(line.measurement, "b");
    assert_eq!(line.tags.len(), 1);
    assert_eq!(line.fields.len(), 1);
    assert_eq!((line.tags.as_ptr(), line.fields.as_ptr()), (tags, fields));
    assert!(it.next_into(&mut line).is_none());
    // After an error the next line parses as usual, as with the crate.
    agree("m f=x\nm f=1");
    assert_eq!(ours("m f=x\nm f=1").len(), 2);
}

// ---------------------------------------------------------------------------
// Differential properties against the crate.

/// A name with a fair chance of escapes and delimiters.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_]{1,4}",
        2 => "[a-z\\\\,= \"\t#0\n]{0,4}",
        1 => "[a-zé\\\\]{0,3}(\\\\[,= \\\\])?",
    ]
}

fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,20}[iu]",
        "-?[0-9]{1,4}(\\.[0-9]{0,3})?([eE][-+]?[0-9]{0,3})?",
        "(t|T|true|True|TRUE|f|F|false|False|FALSE|tRUE|fals|NaN|nan|inf|-inf|\\+1|\\.5|1\\.)",
        "\"([a-z ,=\n#]|\\\\\"|\\\\\\\\|\\\\)*\"?",
        "[-0-9.eEiu+tf\"]{0,5}",
    ]
}

prop_compose! {
    fn lp_line()(
        measurement in name(),
        tags in proptest::collection::vec((name(), name()), 0..3),
        fields in proptest::collection::vec((name(), field_value()), 0..4),
        gap in "( {1,2}|\t|)",
        timestamp in "( -?[0-9]{1,20}| | {2}[0-9]{1,3} {0,2}|)",
    ) -> String {
        let mut s = measurement;
        for (k, v) in tags {
            s += &format!(",{k}={v}");
        }
        s += &gap;
        let fields: Vec<_> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s += &fields.join(",");
        s + &timestamp
    }
}

prop_compose! {
    /// Lines joined by LF (sometimes CRLF, blank or comment lines), then
    /// damaged: characters inserted, the end cut off.
    fn payload()(
        lines in proptest::collection::vec(lp_line(), 1..4),
        joins in proptest::collection::vec("(\n|\r\n|\n\n|\n# c \"x=\n|\n  \t)", 3),
        inserts in proptest::collection::vec((any::<prop::sample::Index>(), "[ ,=\"\\\\\n#\t0-9ie.a\r-]"), 0..3),
        cut in proptest::option::weighted(0.2, any::<prop::sample::Index>()),
    ) -> String {
        let mut s = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                s += &joins[i - 1];
            }
            s += line;
        }
        for (at, text) in inserts {
            let at = floor_char_boundary(&s, at.index(s.len() + 1));
            s.insert_str(at, &text);
        }
        if let Some(cut) = cut {
            let at = floor_char_boundary(&s, cut.index(s.len() + 1));
            s.truncate(at);
        }
        s
    }
}

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn agrees_with_the_crate_on_line_protocol_like_payloads(text in payload()) {
        agree(&text);
    }

    /// Short strings over the characters that matter, to reach the corners
    /// no line-shaped generator thinks of.
    #[test]
    fn agrees_with_the_crate_on_dense_strings(
        text in "[ab=, \"\\\\\n#\t0-9iuetfTF.+-]{0,40}",
    ) {
        agree(&text);
    }

    #[test]
    fn agrees_with_the_crate_on_any_text(text in any::<String>()) {
        agree(&text);
    }
}
