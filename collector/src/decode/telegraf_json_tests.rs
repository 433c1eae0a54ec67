use proptest::prelude::*;
use smallvec::smallvec;

use super::*;
use crate::decode::{CounterWidth, Observation, Reading};
use crate::route::TopicVars;
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
