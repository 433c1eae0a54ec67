use proptest::prelude::*;
use smallvec::smallvec;

use super::*;
use crate::decode::Reading;
use crate::route::TopicVars;
use crate::sample::CounterWidth;
use crate::sample::Field;

const W: CounterWidth = CounterWidth::Bits64;

fn fm(field: Field, path: &str, scale: f64) -> FieldMap {
    FieldMap::path(field, path, scale)
}

fn optical() -> JsonMapping {
    JsonMapping {
        measurement: Measurement::Optical,
        device: Source::parse("{device}"),
        key: None,
        time: None,
        fields: vec![
            fm(Field::RxDbm, "rxpower", 1.0),
            fm(Field::TxDbm, "txpower", 1.0),
            fm(Field::OpticalTemperatureC, "temperature", 1.0),
            fm(Field::VoltageV, "voltage", 1.0),
            fm(Field::BiasMa, "bcurr", 1.0),
        ],
    }
}

fn mikrotik() -> JsonMapping {
    JsonMapping {
        measurement: Measurement::System,
        device: Source::parse("{device}"),
        key: None,
        time: None,
        fields: vec![
            fm(Field::UptimeS, "uptime", 1.0),
            fm(Field::CpuRatio, "cpu-load", 0.01),
            fm(Field::MemUsedBytes, "used-memory", 1.0),
            fm(Field::MemTotalBytes, "total-memory", 1.0),
            fm(Field::SystemTemperatureC, "temperature", 1.0),
        ],
    }
}

fn counters() -> JsonMapping {
    JsonMapping {
        measurement: Measurement::Interface,
        device: Source::parse("host"),
        key: Some(Source::parse("{iface}")),
        time: Some(("ts".into(), TimeUnit::Ms)),
        fields: vec![
            fm(Field::RxBytes, "stats.rx", 1.0),
            fm(Field::TxBytes, "stats.tx", 1.0),
            fm(Field::OperUp, "stats.up", 1.0),
            fm(Field::RxPackets, "ports.0.rx_packets", 1.0),
            fm(Field::TxPackets, "tx.packets", 1.0),
        ],
    }
}

/// Topic `…/ont-001/sfp1`; a mapping that reads the device from the payload
/// runs on a topic without `{device}` (with one, identity is checked: see
/// `payload_device_must_match_the_topic`).
fn run_w(
    mapping: &JsonMapping,
    width: CounterWidth,
    payload: &str,
) -> Result<Decoded<'static>, Reject> {
    let vars = match mapping.device {
        Source::TopicVar(_) => TopicVars::from_pairs([("device", "ont-001"), ("iface", "sfp1")]),
        Source::JsonPath(_) => TopicVars::from_pairs([("iface", "sfp1")]),
    };
    decode(
        DecodeContext {
            vars: &vars,
            counter_width: width,
        },
        mapping,
        payload.as_bytes(),
    )
    .map(Decoded::into_owned)
}

fn run(mapping: &JsonMapping, payload: &str) -> Result<Decoded<'static>, Reject> {
    run_w(mapping, W, payload)
}

fn obs(
    device: &str,
    m: Measurement,
    key: Option<&str>,
    time_ns: Option<i64>,
    values: Vec<(Field, Reading)>,
) -> Decoded<'static> {
    Decoded::Observations(smallvec![Observation {
        device: device.to_string().into(),
        time_ns,
        measurement: m,
        key: key.map(|k| k.to_string().into()),
        values: values.into(),
    }])
}

fn g(v: f64) -> Reading {
    Reading::Gauge(v)
}

fn err(mapping: &JsonMapping, payload: &str) -> Reject {
    run(mapping, payload).unwrap_err()
}

#[test]
fn ont_optical_strings_are_numbers() {
    let p = r#"{"rxpower":"-18.52","txpower":"2.31","temperature":"45.5","voltage":"3.29","bcurr":12.5,"serial":"ZTEG1234"}"#;
    assert_eq!(
        run(&optical(), p).unwrap(),
        obs(
            "ont-001",
            Measurement::Optical,
            None,
            None,
            vec![
                (Field::RxDbm, g(-18.52)),
                (Field::TxDbm, g(2.31)),
                (Field::OpticalTemperatureC, g(45.5)),
                (Field::VoltageV, g(3.29)),
                (Field::BiasMa, g(12.5)),
            ]
        )
    );
}

#[test]
fn mikrotik_system_with_uptime_and_scaled_cpu() {
    let p = r#"{"uptime":"4d22:16:08","cpu-load":"12","used-memory":"52428800","total-memory":134217728,"temperature":null,"board-name":"hAP ac2"}"#;
    assert_eq!(
        run(&mikrotik(), p).unwrap(),
        obs(
            "ont-001",
            Measurement::System,
            None,
            None,
            vec![
                (Field::UptimeS, g(425_768.0)),
                (Field::CpuRatio, g(12.0 * 0.01)),
                (Field::MemUsedBytes, g(52_428_800.0)),
                (Field::MemTotalBytes, g(134_217_728.0)),
            ]
        )
    );
}

#[test]
fn durations() {
    for (s, secs) in [
        ("4d22:16:08", 425_768.0),
        ("1w2d03:04:05", 788_645.0),
        ("22:16:08", 80_168.0),
        ("100:00:00", 360_000.0),
        ("00:00:01.5", 1.5),
        ("5m30s", 330.0),
        ("4d22h16m8s", 425_768.0),
        ("250ms", 0.25),
        ("1w", 604_800.0),
    ] {
        assert_eq!(parse_duration(s), Some(secs), "{s}");
    }
    for s in [
        "",
        "4d",
        "d",
        "4x",
        "22:16",
        "22:61:00",
        "1:2:3:4",
        "4d 22:16:08",
        "12:00:00x",
        "1.2.3s",
        "5",
        "ms",
    ] {
        if s == "4d" {
            continue;
        }
        assert_eq!(parse_duration(s), None, "{s}");
    }
    assert_eq!(parse_duration("4d"), Some(345_600.0));
}

#[test]
fn counters_keys_paths_and_time() {
    let p = r#"{"host":"rtr-002","ts":1700000000123,"stats":{"rx":"18446744073709551615","tx":42,"up":true},
        "ports":[{"rx_packets":7}],"tx.packets":"9"}"#;
    assert_eq!(
        run(&counters(), p).unwrap(),
        obs(
            "rtr-002",
            Measurement::Interface,
            Some("sfp1"),
            Some(1_700_000_000_123_000_000),
            vec![
                (
                    Field::RxBytes,
                    Reading::Counter {
                        raw: u64::MAX,
                        width: W
                    }
                ),
                (Field::TxBytes, Reading::Counter { raw: 42, width: W }),
                (Field::OperUp, g(1.0)),
                (Field::RxPackets, Reading::Counter { raw: 7, width: W }),
                (Field::TxPackets, Reading::Counter { raw: 9, width: W }),
            ]
        )
    );
    // Absent, null and "" fields are skipped; numeric device ids and string times work.
    let p = r#"{"host":12345,"ts":"1700000000000.5","stats":{"rx":"","tx":1.0e3,"up":"false"}}"#;
    assert_eq!(
        run(&counters(), p).unwrap(),
        obs(
            "12345",
            Measurement::Interface,
            Some("sfp1"),
            Some(1_700_000_000_000_500_000),
            vec![
                (
                    Field::TxBytes,
                    Reading::Counter {
                        raw: 1000,
                        width: W
                    }
                ),
                (Field::OperUp, g(0.0))
            ]
        )
    );
}

#[test]
fn nothing_mapped_is_no_usable_values() {
    let e = err(&optical(), r#"{"serial":"x","rxpower":null}"#);
    assert_eq!(e.reason, RejectReason::NoUsableValues);
    assert!(e.detail.contains("rxpower"), "{e}");
    assert_eq!(err(&optical(), "{}").reason, RejectReason::NoUsableValues);
}

#[test]
fn truncated_and_non_object_payloads() {
    let e = err(&optical(), r#"{"rxpower":"-18.5"#);
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(e.detail.starts_with("invalid JSON"), "{e}");
    for p in ["[1]", "\"online\"", "-18.52"] {
        let e = err(&optical(), p);
        assert_eq!(e.reason, RejectReason::ParseError, "{p}");
    }
}

#[test]
fn wrong_types_name_field_and_value() {
    let e = err(&optical(), r#"{"rxpower":"-18.52dBm"}"#);
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(
        e.detail.contains("rx_dbm")
            && e.detail.contains("`rxpower`")
            && e.detail.contains("-18.52dBm"),
        "{e}"
    );
    assert_eq!(
        err(&optical(), r#"{"rxpower":[1]}"#).reason,
        RejectReason::WrongType
    );
    assert_eq!(
        err(&optical(), r#"{"rxpower":{"v":1}}"#).reason,
        RejectReason::WrongType
    );
    for p in [
        r#"{"host":"h","stats":{"rx":true}}"#,
        r#"{"host":"h","stats":{"rx":-1}}"#,
        r#"{"host":"h","stats":{"rx":"1.5"}}"#,
        r#"{"host":"h","stats":{"rx":1},"ts":"yesterday"}"#,
        r#"{"host":["h"],"stats":{"rx":1}}"#,
    ] {
        assert_eq!(err(&counters(), p).reason, RejectReason::WrongType, "{p}");
    }
}

#[test]
fn non_finite_values() {
    for v in ["NaN", "nan", "inf", "-Infinity"] {
        let e = err(&optical(), &format!(r#"{{"rxpower":"{v}"}}"#));
        assert_eq!(e.reason, RejectReason::NonFinite, "{v}");
        assert!(e.detail.contains("rx_dbm"), "{e}");
    }
}

#[test]
fn huge_values() {
    assert_eq!(
        err(&optical(), r#"{"rxpower":1e400}"#).reason,
        RejectReason::ParseError
    );
    assert_eq!(
        err(&optical(), r#"{"rxpower":"1e400"}"#).reason,
        RejectReason::NonFinite
    );
    let e = err(
        &counters(),
        r#"{"host":"h","stats":{"rx":"18446744073709551616"}}"#,
    );
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(e.detail.contains("64 bits"), "{e}");
    assert_eq!(
        err(&counters(), r#"{"host":"h","stats":{"rx":1e20}}"#).reason,
        RejectReason::WrongType
    );
    assert_eq!(
        run_w(
            &counters(),
            CounterWidth::Bits32,
            r#"{"host":"h","stats":{"rx":4294967296}}"#
        )
        .unwrap_err()
        .reason,
        RejectReason::WrongType
    );
    let mut scaled = optical();
    scaled.fields[0].scale = 1e10;
    assert_eq!(
        err(&scaled, r#"{"rxpower":1e300}"#).reason,
        RejectReason::NonFinite
    );
    let e = err(
        &counters(),
        r#"{"host":"h","stats":{"rx":1},"ts":9223372036854775807}"#,
    );
    assert_eq!(e.reason, RejectReason::BadTimestamp);
}

#[test]
fn missing_device_or_key() {
    let e = err(&counters(), r#"{"stats":{"rx":1}}"#);
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(
        e.detail.contains("no device") && e.detail.contains("`host`"),
        "{e}"
    );
    let mut m = counters();
    m.key = Some(Source::parse("{port}"));
    let e = err(&m, r#"{"host":"h","stats":{"rx":1}}"#);
    assert!(
        e.detail.contains("no key") && e.detail.contains("`port`"),
        "{e}"
    );
    let mut m = optical();
    m.device = Source::parse("{dev}");
    assert!(err(&m, r#"{"rxpower":1}"#).detail.contains("no device"));
}

#[test]
fn empty_and_non_utf8_payloads() {
    assert_eq!(err(&optical(), "").detail, "empty payload");
    let vars = TopicVars::from_pairs([("device", "d")]);
    let ctx = DecodeContext {
        vars: &vars,
        counter_width: W,
    };
    assert_eq!(
        decode(ctx, &optical(), b"{\"rxpower\":\"\xff\"}")
            .unwrap_err()
            .reason,
        RejectReason::ParseError
    );
}

fn check(r: &Result<Decoded<'_>, Reject>) {
    match r {
        Ok(Decoded::Observations(obs)) => {
            assert_eq!(obs.len(), 1);
            assert!(!obs[0].values.is_empty());
            assert!(obs[0]
                .values
                .iter()
                .all(|(f, _)| f.measurement() == obs[0].measurement));
            assert!(obs[0]
                .values
                .iter()
                .all(|(_, v)| !matches!(v, Reading::Gauge(x) if !x.is_finite())));
        }
        Ok(other) => panic!("{other:?}"),
        Err(e) => assert!(e.detail.chars().count() < 250, "{e}"),
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
        let vars = TopicVars::default();
        let ctx = DecodeContext { vars: &vars, counter_width: CounterWidth::Bits32 };
        for m in [optical(), mikrotik(), counters()] {
            check(&decode(ctx, &m, &payload));
        }
    }

    #[test]
    fn near_valid_objects_never_panic(
        v in "(\"[-0-9.:dwhmsuNaIfinty ]{0,16}\"|-?[0-9]{1,25}(\\.[0-9]{1,3})?(e-?[0-9]{1,3})?|true|null|\\[\\]|\\{\\})",
        ts in "(-?[0-9]{1,22}(\\.[0-9])?|\"[0-9.]{0,22}\"|null)",
    ) {
        let p = format!(r#"{{"host":"h","ts":{ts},"stats":{{"rx":{v},"tx":{v},"up":{v}}},"uptime":{v},"cpu-load":{v},"rxpower":{v}}}"#);
        for m in [optical(), mikrotik(), counters()] {
            check(&run(&m, &p));
        }
    }
}

#[test]
fn duration_parser_never_panics_on_odd_text() {
    for s in [
        ":",
        "::",
        "1:",
        ":1:2",
        "9999999999999999999999:00:00",
        "1d:00:00",
        "\u{e9}:00:00",
        "1\u{e9}",
    ] {
        let _ = parse_duration(s);
    }
}

#[test]
fn payload_device_must_match_the_topic() {
    let vars = TopicVars::from_pairs([("device", "rtr-001"), ("iface", "sfp1")]);
    let ctx = DecodeContext {
        vars: &vars,
        counter_width: W,
    };
    let m = counters();
    // Same device in topic and payload: accepted.
    let ok = decode(ctx, &m, br#"{"host":"rtr-001","stats":{"rx":1}}"#).unwrap();
    assert!(matches!(&ok, Decoded::Observations(o) if o[0].device == "rtr-001"));
    // Another device on this device's topic: the whole message is refused,
    // naming both ids.
    let e = decode(ctx, &m, br#"{"host":"rtr-002","stats":{"rx":1}}"#).unwrap_err();
    assert_eq!(e.reason, RejectReason::IdentityMismatch);
    assert!(
        e.detail.contains("`rtr-002`")
            && e.detail.contains("`rtr-001`")
            && e.detail.contains("host"),
        "{e}"
    );
    // Numeric ids compare as their text; hostile ids are echoed bounded.
    let e = decode(ctx, &m, br#"{"host":7,"stats":{"rx":1}}"#).unwrap_err();
    assert_eq!(e.reason, RejectReason::IdentityMismatch);
    let long = format!(r#"{{"host":"{}","stats":{{"rx":1}}}}"#, "x".repeat(10_000));
    let e = decode(ctx, &m, long.as_bytes()).unwrap_err();
    assert_eq!(e.reason, RejectReason::IdentityMismatch);
    assert!(e.detail.len() < 300, "{e}");
    // A device taken from the topic has nothing to compare with.
    let ok = decode(ctx, &optical(), br#"{"rxpower":-18}"#).unwrap();
    assert!(matches!(&ok, Decoded::Observations(o) if o[0].device == "rtr-001"));
}

/// The char-based `parse_duration` it replaced, as its oracle. A duration in seconds: `[<n>w][<n>d][<n>h][<n>m][<n>s][<n>ms][<n>us]`
/// optionally followed by a clock `H:MM:SS[.frac]` (RouterOS `4d22:16:08`).
fn parse_duration_reference(s: &str) -> Option<f64> {
    let (units, clock) = match s.find(':') {
        Some(colon) => {
            let start = s[..colon]
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .len();
            (&s[..start], Some(&s[start..]))
        }
        None => (s, None),
    };
    let mut total = 0.0;
    let mut rest = units;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n_end == 0 || n_end == rest.len() {
            return None; // a unit without a number, or a number without a unit
        }
        let n = rest[..n_end].parse::<f64>().ok()?;
        let after = &rest[n_end..];
        let (mult, len) = match after.as_bytes() {
            [b'm', b's', ..] => (0.001, 2),
            [b'u', b's', ..] => (0.000_001, 2),
            [b'w', ..] => (604_800.0, 1),
            [b'd', ..] => (86_400.0, 1),
            [b'h', ..] => (3_600.0, 1),
            [b'm', ..] => (60.0, 1),
            [b's', ..] => (1.0, 1),
            _ => return None,
        };
        total += n * mult;
        rest = &after[len..];
    }
    match clock {
        Some(clock) => {
            let mut parts = clock.split(':');
            let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
            let digits = |p: &str, max: usize| {
                !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit())
            };
            let (sec_int, sec_frac) = sec.split_once('.').unwrap_or((sec, "0"));
            if parts.next().is_some()
                || !digits(h, 20)
                || !digits(m, 2)
                || !digits(sec_int, 2)
                || !digits(sec_frac, 9)
            {
                return None;
            }
            let (m, sec) = (m.parse::<f64>().ok()?, sec.parse::<f64>().ok()?);
            if m >= 60.0 || sec >= 60.0 {
                return None;
            }
            Some(total + h.parse::<f64>().ok()? * 3600.0 + m * 60.0 + sec)
        }
        None if units.is_empty() => None,
        None => Some(total),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]
    /// The byte-scanning `parse_duration` reads durations, clocks and
    /// near misses as the char-based version before it did.
    #[test]
    fn durations_read_as_the_reference_reads_them(
        s in "[0-9]{0,3}(w|d|h|m|s|ms|us|x|\\.|:|é| ){0,2}[0-9]{0,3}(:[0-9]{0,3}){0,3}(\\.[0-9]{0,10})?[smh:é]?",
    ) {
        let ours = parse_duration(&s).map(f64::to_bits);
        let reference = parse_duration_reference(&s).map(f64::to_bits);
        prop_assert_eq!(ours, reference, "{:?}", s);
    }
}

/// A system mapping with every kind of input: one path, a difference, a
/// sum, an optional path.
fn derived() -> JsonMapping {
    JsonMapping {
        measurement: Measurement::System,
        device: Source::parse("{device}"),
        key: None,
        time: None,
        fields: vec![
            FieldMap {
                field: Field::MemUsedBytes,
                input: Input::Difference(vec!["total".into(), "free".into()]),
                scale: 1.0,
                optional: false,
            },
            FieldMap {
                field: Field::MemTotalBytes,
                input: Input::Sum(vec!["used".into(), "spare".into()]),
                scale: 1024.0,
                optional: false,
            },
            fm(Field::CpuRatio, "cpu", 0.01),
            FieldMap {
                optional: true,
                ..fm(Field::SystemTemperatureC, "temp", 1.0)
            },
        ],
    }
}

fn run_missing(
    mapping: &JsonMapping,
    payload: &str,
) -> (Result<Decoded<'static>, Reject>, Vec<MissingField>) {
    let vars = TopicVars::from_pairs([("device", "ont-001")]);
    let mut missing = Vec::new();
    let ctx = DecodeContext {
        vars: &vars,
        counter_width: W,
    };
    let decoded = decode_noting_missing(ctx, mapping, payload.as_bytes(), &mut missing)
        .map(Decoded::into_owned);
    (decoded, missing)
}

fn sys(values: Vec<(Field, Reading)>) -> Decoded<'static> {
    obs("ont-001", Measurement::System, None, None, values)
}

#[test]
fn derived_fields_difference_and_sum() {
    // Strings, numbers and the scale (on the sum, not on each input).
    let p = r#"{"total":"4000","free":1500,"used":3,"spare":"1","cpu":50,"temp":40}"#;
    let (decoded, missing) = run_missing(&derived(), p);
    assert_eq!(
        decoded.unwrap(),
        sys(vec![
            (Field::MemUsedBytes, g(2500.0)),
            (Field::MemTotalBytes, g(4096.0)),
            (Field::CpuRatio, g(0.5)),
            (Field::SystemTemperatureC, g(40.0)),
        ])
    );
    assert!(missing.is_empty(), "{missing:?}");
}

#[test]
fn absent_paths_are_reported_per_field_optional_and_null_are_not() {
    // `free` absent: mem_used missing; `spare` null: the device has no
    // value (absent, not missing); `temp` absent but optional.
    let p = r#"{"total":4000,"used":3,"spare":null,"cpu":"7"}"#;
    let (decoded, missing) = run_missing(&derived(), p);
    assert_eq!(decoded.unwrap(), sys(vec![(Field::CpuRatio, g(0.07))]));
    assert_eq!(
        missing,
        vec![MissingField {
            field: Field::MemUsedBytes,
            path: "free".into()
        }]
    );
    // Every input of a derived field absent: all named.
    let (_, missing) = run_missing(&derived(), r#"{"cpu":1}"#);
    let named: Vec<(Field, &str)> = missing.iter().map(|m| (m.field, m.path.as_str())).collect();
    assert_eq!(
        named,
        [
            (Field::MemUsedBytes, "total`, `free"),
            (Field::MemTotalBytes, "used`, `spare"),
        ]
    );
}

#[test]
fn nothing_present_still_reports_what_was_missing() {
    let (decoded, missing) = run_missing(&derived(), r#"{"other":1}"#);
    let e = decoded.unwrap_err();
    assert_eq!(e.reason, RejectReason::NoUsableValues);
    assert!(
        e.detail.contains("total − free") && e.detail.contains("used + spare"),
        "{}",
        e.detail
    );
    assert_eq!(
        missing.len(),
        3,
        "the optional one is not missing: {missing:?}"
    );
}

#[test]
fn derived_inputs_are_checked_like_fields() {
    let e = err(&derived(), r#"{"total":"lots","free":1}"#);
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(
        e.detail
            .contains("mem_used_bytes (`total` of total − free)"),
        "{}",
        e.detail
    );
    let e = err(&derived(), r#"{"total":1,"free":2}"#);
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(e.detail.contains("is negative"), "{}", e.detail);
    let e = err(&derived(), r#"{"used":1e308,"spare":1e308}"#);
    assert_eq!(e.reason, RejectReason::NonFinite, "{}", e.detail);
}

/// A derived counter (rx = unicast + multicast) stays a counter.
#[test]
fn derived_counters_are_counters() {
    let mapping = JsonMapping {
        measurement: Measurement::Interface,
        device: Source::parse("{device}"),
        key: Some(Source::parse("{iface}")),
        time: None,
        fields: vec![FieldMap {
            field: Field::RxPackets,
            input: Input::Sum(vec!["ucast".into(), "mcast".into()]),
            scale: 1.0,
            optional: false,
        }],
    };
    assert_eq!(
        run(&mapping, r#"{"ucast":"40","mcast":2}"#).unwrap(),
        obs(
            "ont-001",
            Measurement::Interface,
            Some("sfp1"),
            None,
            vec![(Field::RxPackets, Reading::Counter { raw: 42, width: W })]
        )
    );
}

proptest! {
    /// Any pair of numbers: used = total − free and total = used + free
    /// read back what was sent (or reject a negative difference).
    #[test]
    fn derived_pairs_round_trip(a in 0u32..=u32::MAX, b in 0u32..=u32::MAX) {
        let p = format!(r#"{{"total":{a},"free":{b},"used":"{a}","spare":{b},"cpu":1}}"#);
        let (decoded, missing) = run_missing(&derived(), &p);
        prop_assert!(missing.is_empty());
        match decoded {
            Ok(Decoded::Observations(o)) => {
                let v = &o[0].values;
                let get = |f: Field| v.iter().find(|(x, _)| *x == f).map(|(_, r)| *r);
                prop_assert!(a >= b);
                prop_assert_eq!(get(Field::MemUsedBytes), Some(g(f64::from(a) - f64::from(b))));
                prop_assert_eq!(get(Field::MemTotalBytes), Some(g((f64::from(a) + f64::from(b)) * 1024.0)));
            }
            Ok(other) => prop_assert!(false, "{other:?}"),
            Err(e) => {
                prop_assert!(a < b, "{e}");
                prop_assert_eq!(e.reason, RejectReason::WrongType);
            }
        }
    }
}
