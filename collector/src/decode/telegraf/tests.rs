use proptest::prelude::*;
use smallvec::smallvec;

use super::*;
use crate::decode::{Observation, Reading};
use crate::route::TopicVars;
use crate::sample::CounterWidth;
use crate::sample::{Field, Measurement};

const T: i64 = 1_700_000_000_000_000_000;
const W: CounterWidth = CounterWidth::Bits64;

fn run_w(width: CounterWidth, payload: &str) -> Result<Decoded<'static>, Reject> {
    let vars = TopicVars::from_pairs([("device", "rtr-001"), ("name", "net")]);
    decode(
        DecodeContext {
            vars: &vars,
            counter_width: width,
        },
        payload.as_bytes(),
    )
    .map(Decoded::into_owned)
}

fn run(payload: &str) -> Result<Decoded<'static>, Reject> {
    run_w(W, payload)
}

fn ob(
    m: Measurement,
    key: Option<&str>,
    time_ns: Option<i64>,
    values: Vec<(Field, Reading)>,
) -> Observation<'static> {
    Observation {
        device: "rtr-001".into(),
        time_ns,
        measurement: m,
        key: key.map(|k| k.to_string().into()),
        values: values.into(),
    }
}

fn c(raw: u64) -> Reading {
    Reading::Counter { raw, width: W }
}

fn err(payload: &str) -> Reject {
    run(payload).unwrap_err()
}

const NET: &str = r#"{"fields":{"bytes_recv":123456789,"bytes_sent":987654321,"drop_in":5,"drop_out":0,"err_in":0,"err_out":1,"packets_recv":1000,"packets_sent":2000,"speed":1000},"name":"net","tags":{"host":"rtr-001","interface":"eth0"},"timestamp":1700000000}"#;

fn net_obs(time_ns: Option<i64>) -> Observation<'static> {
    ob(
        Measurement::Interface,
        Some("eth0"),
        time_ns,
        vec![
            (Field::RxBytes, c(123_456_789)),
            (Field::TxBytes, c(987_654_321)),
            (Field::RxPackets, c(1000)),
            (Field::TxPackets, c(2000)),
            (Field::RxErrors, c(0)),
            (Field::TxErrors, c(1)),
            (Field::RxDrops, c(5)),
            (Field::TxDrops, c(0)),
        ],
    )
}

#[test]
fn single_net_metric() {
    assert_eq!(
        run(NET).unwrap(),
        Decoded::Observations(smallvec![net_obs(Some(T))])
    );
}

#[test]
fn batch_with_ping_cpu_and_unmapped_metrics() {
    let payload = format!(
        r#"{{"metrics":[{NET},
        {{"fields":{{"average_response_ms":12.5,"percent_packet_loss":0,"standard_deviation_ms":1.5,"result_code":0}},"name":"ping","tags":{{"host":"rtr-001","url":"8.8.8.8"}},"timestamp":1700000000.5}},
        {{"fields":{{"usage_idle":87.5}},"name":"cpu","tags":{{"cpu":"cpu-total","host":"rtr-001"}},"timestamp":1700000000}},
        {{"fields":{{"reads":5}},"name":"diskio","tags":{{"name":"sda"}},"timestamp":1700000000}}
        ]}}"#
    );
    assert_eq!(
        run(&payload).unwrap(),
        Decoded::Observations(smallvec![
            net_obs(Some(T)),
            ob(
                Measurement::Probe,
                Some("8.8.8.8"),
                Some(T + 500_000_000),
                vec![
                    (Field::RttS, Reading::Gauge(0.0125)),
                    (Field::LossRatio, Reading::Gauge(0.0)),
                    (Field::JitterS, Reading::Gauge(0.0015)),
                ]
            ),
            ob(
                Measurement::System,
                None,
                Some(T),
                vec![(Field::CpuRatio, Reading::Gauge(0.125))]
            ),
        ])
    );
}

#[test]
fn timestamp_units_are_inferred_and_optional() {
    let with_ts = |ts: &str| {
        let p = format!(r#"{{"name":"system","fields":{{"uptime":60}},"timestamp":{ts}}}"#);
        match run(&p).unwrap() {
            Decoded::Observations(o) => o[0].time_ns,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(with_ts("1700000000"), Some(T));
    assert_eq!(with_ts("1700000000000"), Some(T));
    assert_eq!(with_ts("1700000000000000"), Some(T));
    assert_eq!(with_ts("1700000000000000000"), Some(T));
    assert_eq!(with_ts("1700000000.25"), Some(T + 250_000_000));
    assert_eq!(with_ts("null"), None);
    assert_eq!(
        run(r#"{"name":"mem","fields":{"used":1024,"total":4096}}"#).unwrap(),
        Decoded::Observations(smallvec![ob(
            Measurement::System,
            None,
            None,
            vec![
                (Field::MemUsedBytes, Reading::Gauge(1024.0)),
                (Field::MemTotalBytes, Reading::Gauge(4096.0))
            ]
        )])
    );
}

#[test]
fn unmapped_metrics_are_ignored() {
    let ignored = Decoded::Ignored("unmapped telegraf metric");
    assert_eq!(
        run(r#"{"name":"diskio","fields":{"reads":5},"tags":{}}"#).unwrap(),
        ignored
    );
    assert_eq!(run(r#"{"metrics":[]}"#).unwrap(), ignored);
    assert_eq!(
        run(r#"{"name":"net","fields":{"icmp_inerrors":0},"tags":{"interface":"all"}}"#).unwrap(),
        ignored
    );
}

#[test]
fn truncated_and_invalid_json() {
    let e = err(&NET[..NET.len() / 2]);
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(e.detail.starts_with("invalid JSON"), "{e}");
    assert_eq!(err("[1,2]").reason, RejectReason::ParseError);
    assert_eq!(err(r#"{"metrics":[1]}"#).reason, RejectReason::ParseError);
    let e = err(
        r#"{"metrics":[{"name":"system","fields":{"load1":1}},{"name":"net","fields":{"bytes_recv":"x"}}]}"#,
    );
    assert!(
        e.detail.starts_with("metrics[1]: field `net.bytes_recv`"),
        "{e}"
    );
    let e = err(r#"{"fields":{"load1":1}}"#);
    assert!(e.detail.contains("no `name`"), "{e}");
    let e = err(r#"{"metrics":[{"name":"system","fields":{"load1":1}},{"name":"system"}]}"#);
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(
        e.detail.starts_with("metrics[1]:") && e.detail.contains("no `fields`"),
        "{e}"
    );
}

#[test]
fn wrong_types_name_the_field() {
    let e = err(r#"{"name":"net","tags":{"interface":"eth0"},"fields":{"bytes_recv":"123"}}"#);
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(e.detail.contains("net.bytes_recv"), "{e}");
    let e = err(r#"{"name":"system","fields":{"load1":[1]}}"#);
    assert!(
        e.detail.contains("system.load1") && e.detail.contains("an array"),
        "{e}"
    );
    for p in [
        r#"{"name":"net","tags":{"interface":"eth0"},"fields":{"bytes_recv":-1}}"#,
        r#"{"name":"net","tags":{"interface":"eth0"},"fields":{"bytes_recv":1.5}}"#,
        r#"{"name":"system","fields":{"load1":null}}"#,
        r#"{"name":"system","fields":{"load1":1},"timestamp":"now"}"#,
        r#"{"name":"system","fields":[]}"#,
        r#"{"name":7,"fields":{}}"#,
        r#"{"name":"system","fields":{"load1":1},"tags":[]}"#,
        r#"{"metrics":{}}"#,
    ] {
        assert_eq!(err(p).reason, RejectReason::WrongType, "{p}");
    }
}

#[test]
fn non_finite_and_huge_values() {
    // serde_json refuses numbers that overflow f64.
    assert_eq!(
        err(r#"{"name":"system","fields":{"load1":1e400}}"#).reason,
        RejectReason::ParseError
    );
    assert_eq!(
        err(r#"{"name":"system","fields":{"load1":NaN}}"#).reason,
        RejectReason::ParseError
    );
    let net = |v: &str| {
        format!(r#"{{"name":"net","tags":{{"interface":"e"}},"fields":{{"bytes_recv":{v}}}}}"#)
    };
    assert_eq!(
        err(&net("18446744073709551616")).reason,
        RejectReason::WrongType
    );
    assert_eq!(
        run(&net("18446744073709551615")).unwrap(),
        Decoded::Observations(smallvec![ob(
            Measurement::Interface,
            Some("e"),
            None,
            vec![(Field::RxBytes, c(u64::MAX))]
        )])
    );
    assert_eq!(
        run_w(CounterWidth::Bits32, &net("4294967296"))
            .unwrap_err()
            .reason,
        RejectReason::WrongType
    );
    let e = err(r#"{"name":"system","fields":{"load1":1},"timestamp":1e300}"#);
    assert_eq!(e.reason, RejectReason::BadTimestamp);
    let e = err(r#"{"name":"system","fields":{"load1":1},"timestamp":18446744073709551615}"#);
    assert_eq!(e.reason, RejectReason::BadTimestamp);
}

#[test]
fn missing_key_tag_is_an_error() {
    // Telegraf's arity analogue: a keyed metric without its key tag.
    let e = err(r#"{"name":"ping","fields":{"percent_packet_loss":0}}"#);
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(e.detail.contains("`url` tag"), "{e}");
}

#[test]
fn empty_and_non_utf8_payloads() {
    assert_eq!(err("").detail, "empty payload");
    assert_eq!(err("\0").reason, RejectReason::ParseError);
    let vars = TopicVars::default();
    let ctx = DecodeContext {
        vars: &vars,
        counter_width: W,
    };
    assert_eq!(
        decode(ctx, b"{\"name\":\"\xff\"}").unwrap_err().reason,
        RejectReason::ParseError
    );
}

fn check(r: &Result<Decoded<'_>, Reject>) {
    match r {
        Ok(Decoded::Observations(obs)) => {
            for o in obs {
                assert!(!o.values.is_empty());
                assert!(o
                    .values
                    .iter()
                    .all(|(f, _)| f.measurement() == o.measurement));
            }
        }
        Ok(Decoded::Ignored(_)) => {}
        Ok(other) => panic!("{other:?}"),
        Err(e) => assert!(e.detail.chars().count() < 300, "{e}"),
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
        let vars = TopicVars::default();
        let ctx = DecodeContext { vars: &vars, counter_width: CounterWidth::Bits32 };
        check(&decode(ctx, &payload));
    }

    #[test]
    fn near_valid_metrics_never_panic(
        name in "(net|ping|system|cpu|probe|x)",
        field in "(bytes_recv|average_response_ms|load1|usage_idle|rtt_s)",
        value in "(-?[0-9]{1,22}(\\.[0-9]{0,3})?(e[0-9]{1,3})?|true|null|\"x\"|\\[\\])",
        ts in "(-?[0-9]{1,21}(\\.[0-9])?|null|\"x\")",
        tag in "(interface|url|cpu|target)",
    ) {
        let p = format!(r#"{{"metrics":[{{"name":"{name}","tags":{{"{tag}":"cpu-total"}},"fields":{{"{field}":{value}}},"timestamp":{ts}}}]}}"#);
        check(&run(&p));
    }
}

/// A device may only report for itself: a `host` tag naming another device
/// than the topic rejects the whole message, also from inside a batch.
#[test]
fn payload_device_must_match_the_topic() {
    let e = err(&NET.replace(r#""host":"rtr-001""#, r#""host":"rtr-002""#));
    assert_eq!(e.reason, RejectReason::IdentityMismatch);
    assert!(
        e.detail.contains("`rtr-002`") && e.detail.contains("`rtr-001`"),
        "{e}"
    );
    let batch = format!(
        r#"{{"metrics":[{NET},{{"name":"cpu","tags":{{"cpu":"cpu-total","host":"evil"}},"fields":{{"usage_idle":1}}}}]}}"#
    );
    let e = err(&batch);
    assert_eq!(e.reason, RejectReason::IdentityMismatch);
    assert!(e.detail.starts_with("metrics[1]"), "{e}");
    // Matching, absent or empty host tags are fine.
    assert!(run(NET).is_ok());
    assert!(run(&NET.replace(r#""host":"rtr-001","#, "")).is_ok());
    assert!(run(&NET.replace(r#""host":"rtr-001""#, r#""host":"""#)).is_ok());
}

/// The tree-based reader this decoder had before `document`: the whole
/// document as a [`Node`] tree, then searched. Kept as the oracle the
/// streaming reader must agree with, result for result.
mod tree_oracle {
    use std::borrow::Cow;

    use super::*;
    use crate::decode::json::tree::Node;
    use crate::decode::telegraf::mapping::Val;

    pub fn decode<'a>(ctx: DecodeContext<'a>, payload: &'a [u8]) -> Result<Decoded<'a>, Reject> {
        let text = payload::text(payload)?;
        let doc = Node::parse(text).map_err(|e| {
            reject(
                RejectReason::ParseError,
                format!("invalid JSON: {}", echo(&e.to_string())),
            )
        })?;
        if !doc.is_object() {
            return Err(reject(
                RejectReason::ParseError,
                "top level is not a JSON object",
            ));
        }
        let batch = match doc.get("metrics") {
            Some(Node::Arr(metrics)) => Some(metrics),
            Some(other) => {
                return Err(reject(
                    RejectReason::WrongType,
                    format!("`metrics` is {}, expected an array", other.type_name()),
                ))
            }
            None => None,
        };
        let mut observations = Observations::new();
        let mut one = |m: &Node<'a>| -> Result<(), Reject> {
            let (name, tags, fields, time_ns) = to_metric(m)?;
            let metric = Metric {
                name,
                tags: &tags,
                fields: &fields,
                time_ns,
            };
            observations.extend(map_metric(&ctx, &metric)?);
            Ok(())
        };
        match batch {
            Some(metrics) => {
                for (i, m) in metrics.iter().enumerate() {
                    one(m).map_err(|e| {
                        Reject::new(e.reason, format!("metrics[{i}]: {}", e.detail))
                    })?;
                }
            }
            None => one(&doc)?,
        }
        if observations.is_empty() {
            return Ok(Decoded::Ignored("unmapped telegraf metric"));
        }
        Ok(Decoded::Observations(observations))
    }

    type Parts<'d, 'a> = (
        &'d str,
        Vec<(Cow<'a, str>, Cow<'a, str>)>,
        Vec<(Cow<'a, str>, Val<'d>)>,
        Option<i64>,
    );

    fn to_metric<'d, 'a>(m: &'d Node<'a>) -> Result<Parts<'d, 'a>, Reject> {
        let wrong = |key: &str, v: &Node<'_>, expected: &str| {
            reject(
                RejectReason::WrongType,
                format!("`{key}` is {}, expected {expected}", v.type_name()),
            )
        };
        if !m.is_object() {
            return Err(reject(
                RejectReason::ParseError,
                "metric is not a JSON object",
            ));
        }
        let name = match m.get("name") {
            Some(Node::Str(s)) => &**s,
            Some(other) => return Err(wrong("name", other, "a string")),
            None => return Err(reject(RejectReason::ParseError, "metric has no `name`")),
        };
        let tags = match m.get("tags") {
            Some(tags @ Node::Obj(_)) => tags
                .entries()
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Node::Str(v) => Some((k.clone(), v.clone())),
                    _ => None,
                })
                .collect(),
            None | Some(Node::Null) => Vec::new(),
            Some(other) => return Err(wrong("tags", other, "an object")),
        };
        let fields = match m.get("fields") {
            Some(fields @ Node::Obj(_)) => fields
                .entries()
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Node::U(u) => Val::U(*u),
                        Node::I(i) => Val::I(*i),
                        Node::F(f) => Val::F(*f),
                        Node::Bool(b) => Val::Bool(*b),
                        Node::Str(s) => Val::Str(s),
                        other => Val::Other(other.type_name()),
                    };
                    (k.clone(), v)
                })
                .collect(),
            Some(other) => return Err(wrong("fields", other, "an object")),
            None => {
                return Err(reject(
                    RejectReason::ParseError,
                    format!("`{}` metric has no `fields`", echo(name)),
                ))
            }
        };
        let time_ns = match m.get("timestamp") {
            None | Some(Node::Null) => None,
            Some(Node::U(u)) => Some(timestamp_ns(&Scalar::U(*u))?),
            Some(Node::I(i)) => Some(timestamp_ns(&Scalar::I(*i))?),
            Some(Node::F(f)) => Some(timestamp_ns(&Scalar::F(*f))?),
            Some(other) => return Err(wrong("timestamp", other, "a number")),
        };
        Ok((name, tags, fields, time_ns))
    }
}

/// Documents shaped like Telegraf's, with every way to get them wrong:
/// repeated and unsorted keys, values of each type where others belong,
/// batches holding non-objects, keys the decoder ignores.
fn telegraf_like() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        (0u64..3000).prop_map(|u| u.to_string()),
        Just("18446744073709551616".to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        Just("1.7e9".to_string()),
        "(net|system|cpu|ping|probe|cpu-total|all|eth0|rtr-001|evil|)"
            .prop_map(|s| format!("\"{s}\"")),
        Just(r#""e\u0074h0""#.to_string()),
        Just("[1,{\"a\":2}]".to_string()),
    ];
    let object = |keys: &'static str, value: BoxedStrategy<String>| {
        prop::collection::vec((keys, value), 0..6).prop_map(|entries| {
            let body: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            format!("{{{}}}", body.join(","))
        })
    };
    let scalar = scalar.boxed();
    let tags = object("(host|interface|url|cpu|device|a)", scalar.clone());
    let fields = object(
        "(bytes_recv|bytes_sent|load1|uptime|usage_idle|average_response_ms|rx_bytes|x)",
        scalar.clone(),
    );
    let value = prop_oneof![scalar.clone(), tags.clone(), fields.clone()].boxed();
    let metric = prop::collection::vec(
        prop_oneof![
            ("(name)", scalar.clone()),
            ("(tags)", prop_oneof![tags, scalar.clone()]),
            ("(fields)", prop_oneof![fields, scalar.clone()]),
            ("(timestamp|other)", value.clone()),
        ],
        0..6,
    )
    .prop_map(|entries| {
        let body: Vec<String> = entries
            .into_iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", body.join(","))
    })
    .boxed();
    let batch = prop::collection::vec(prop_oneof![4 => metric.clone(), 1 => scalar.clone()], 0..4)
        .prop_map(|items| format!("[{}]", items.join(",")));
    prop_oneof![
        3 => metric.clone(),
        2 => (metric.clone(), prop_oneof![batch, scalar]).prop_map(|(m, b)| {
            let rest = m.strip_prefix('{').expect("an object");
            let sep = if rest == "}" { "" } else { "," };
            format!("{{\"metrics\":{b}{sep}{rest}")
        }),
        1 => metric.prop_map(|m| format!("[{m}]")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The streaming reader decodes every document exactly as the tree did.
    #[test]
    fn agrees_with_the_tree_based_reader(text in telegraf_like(), cut in any::<prop::sample::Index>()) {
        let vars = TopicVars::from_pairs([("device", "rtr-001"), ("name", "net")]);
        let ctx = DecodeContext { vars: &vars, counter_width: W };
        for text in [&text[..], &text[..cut.index(text.len() + 1)]] {
            let ours = decode(ctx, text.as_bytes()).map(Decoded::into_owned);
            let tree = tree_oracle::decode(ctx, text.as_bytes()).map(Decoded::into_owned);
            prop_assert_eq!(ours, tree, "{}", text);
        }
    }
}
