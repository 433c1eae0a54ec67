use proptest::prelude::*;
use smallvec::smallvec;

use super::*;
use crate::decode::Reading;
use crate::reject::RejectReason;
use crate::route::TopicVars;
use crate::sample::CounterWidth;
use crate::sample::Measurement;

const W: CounterWidth = CounterWidth::Bits64;

/// The default `probe-rtt` route: `probe/{device}/{target}/rtt_ms`, scale 0.001.
fn rtt() -> ValueMapping {
    ValueMapping {
        field: Field::RttS,
        device: Source::parse("{device}"),
        key: Some(Source::parse("{target}")),
        scale: 0.001,
    }
}

fn mapping(field: Field) -> ValueMapping {
    ValueMapping {
        field,
        device: Source::parse("{device}"),
        key: None,
        scale: 1.0,
    }
}

fn run_w(
    m: &ValueMapping,
    width: CounterWidth,
    payload: &[u8],
) -> Result<Decoded<'static>, Reject> {
    let vars = TopicVars::from_pairs([("device", "rtr-001"), ("target", "8.8.8.8")]);
    decode(
        DecodeContext {
            vars: &vars,
            counter_width: width,
        },
        m,
        payload,
    )
    .map(Decoded::into_owned)
}

fn run(m: &ValueMapping, payload: &[u8]) -> Result<Decoded<'static>, Reject> {
    run_w(m, W, payload)
}

fn one(m: Measurement, key: Option<&str>, field: Field, r: Reading) -> Decoded<'static> {
    Decoded::Observations(smallvec![Observation {
        device: "rtr-001".into(),
        time_ns: None,
        measurement: m,
        key: key.map(|k| k.to_string().into()),
        values: smallvec![(field, r)],
    }])
}

fn reason(r: Result<Decoded<'static>, Reject>) -> RejectReason {
    r.unwrap_err().reason
}

#[test]
fn scaled_probe_rtt() {
    assert_eq!(
        run(&rtt(), b"12.5\n").unwrap(),
        one(
            Measurement::Probe,
            Some("8.8.8.8"),
            Field::RttS,
            Reading::Gauge(12.5 * 0.001)
        )
    );
    assert_eq!(
        run(&rtt(), b" \"12.5\" ").unwrap(),
        one(
            Measurement::Probe,
            Some("8.8.8.8"),
            Field::RttS,
            Reading::Gauge(12.5 * 0.001)
        )
    );
}

#[test]
fn gauges_counters_and_booleans() {
    assert_eq!(
        run(&mapping(Field::RxDbm), b"-18.52\0").unwrap(),
        one(
            Measurement::Optical,
            None,
            Field::RxDbm,
            Reading::Gauge(-18.52)
        )
    );
    assert_eq!(
        run(&mapping(Field::RxBytes), b"18446744073709551615").unwrap(),
        one(
            Measurement::Interface,
            None,
            Field::RxBytes,
            Reading::Counter {
                raw: u64::MAX,
                width: W
            }
        )
    );
    assert_eq!(
        run(&mapping(Field::RxBytes), b"1e3").unwrap(),
        one(
            Measurement::Interface,
            None,
            Field::RxBytes,
            Reading::Counter {
                raw: 1000,
                width: W
            }
        )
    );
    assert_eq!(
        run(&mapping(Field::OperUp), b"true").unwrap(),
        one(
            Measurement::Interface,
            None,
            Field::OperUp,
            Reading::Gauge(1.0)
        )
    );
    assert_eq!(
        reason(run(&mapping(Field::RxBytes), b"false")),
        RejectReason::WrongType
    );
}

#[test]
fn truncated_and_empty_payloads() {
    for p in [&b""[..], b"   ", b"\0", b"\"\""] {
        let e = run(&rtt(), p).unwrap_err();
        assert_eq!(e.reason, RejectReason::ParseError, "{p:?}");
        assert_eq!(e.detail, "empty payload");
    }
    // A cut-off exponent is not a number.
    assert_eq!(reason(run(&rtt(), b"1.5e")), RejectReason::WrongType);
}

#[test]
fn wrong_types_name_the_value() {
    let e = run(&rtt(), b"twelve").unwrap_err();
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(
        e.detail.contains("rtt_s") && e.detail.contains("`twelve`"),
        "{e}"
    );
    assert_eq!(reason(run(&rtt(), b"12.5 ms")), RejectReason::WrongType);
    assert_eq!(reason(run(&rtt(), b"{\"v\":1}")), RejectReason::WrongType);
    assert_eq!(
        reason(run(&mapping(Field::RxBytes), b"-1")),
        RejectReason::WrongType
    );
    assert_eq!(
        reason(run(&mapping(Field::RxBytes), b"1.5")),
        RejectReason::WrongType
    );
    assert_eq!(reason(run(&rtt(), b"1\xff")), RejectReason::ParseError);
}

#[test]
fn non_finite_values() {
    for p in [&b"nan"[..], b"NaN", b"inf", b"-inf", b"Infinity"] {
        assert_eq!(reason(run(&rtt(), p)), RejectReason::NonFinite, "{p:?}");
    }
}

#[test]
fn huge_values() {
    assert_eq!(reason(run(&rtt(), b"1e400")), RejectReason::NonFinite);
    let mut m = mapping(Field::RxDbm);
    m.scale = 1e300;
    assert_eq!(reason(run(&m, b"1e300")), RejectReason::NonFinite);
    let e = run(&mapping(Field::RxBytes), b"18446744073709551616").unwrap_err();
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(e.detail.contains("64 bits"), "{e}");
    assert_eq!(
        reason(run_w(
            &mapping(Field::RxBytes),
            CounterWidth::Bits32,
            b"4294967296"
        )),
        RejectReason::WrongType
    );
}

#[test]
fn more_than_one_number_is_rejected() {
    // The arity of `value` is exactly one.
    assert_eq!(reason(run(&rtt(), b"12.5 13.5")), RejectReason::WrongType);
    assert_eq!(reason(run(&rtt(), b"12.5,13.5")), RejectReason::WrongType);
}

#[test]
fn device_and_key_come_from_topic_variables() {
    let mut m = rtt();
    m.key = Some(Source::parse("{host}"));
    let e = run(&m, b"1").unwrap_err();
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(e.detail.contains("no key"), "{e}");
    let mut m = rtt();
    m.device = Source::parse("device.id");
    let e = run(&m, b"1").unwrap_err();
    assert!(
        e.detail.contains("no device") && e.detail.contains("JSON path"),
        "{e}"
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        for m in [rtt(), mapping(Field::RxBytes), mapping(Field::OperUp)] {
            match run_w(&m, CounterWidth::Bits32, &payload) {
                Ok(Decoded::Observations(o)) => {
                    prop_assert_eq!(o.len(), 1);
                    prop_assert_eq!(o[0].values.len(), 1);
                    prop_assert!(!matches!(o[0].values[0].1, Reading::Gauge(x) if !x.is_finite()));
                }
                Ok(other) => prop_assert!(false, "{:?}", other),
                Err(e) => prop_assert!(e.detail.chars().count() < 200),
            }
        }
    }

    #[test]
    fn numbers_round_trip(x in -1e12f64..1e12) {
        let r = run(&mapping(Field::RxDbm), x.to_string().as_bytes()).unwrap();
        prop_assert_eq!(r, one(Measurement::Optical, None, Field::RxDbm, Reading::Gauge(x)));
    }
}
