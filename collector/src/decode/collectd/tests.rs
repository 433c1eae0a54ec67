use proptest::prelude::*;
use smallvec::smallvec;

use super::*;
use crate::route::TopicVars;
use crate::sample::CounterWidth;

const T: i64 = 1_700_000_000_123_000_000;

fn run_w(
    plugin: &str,
    typ: &str,
    rates: bool,
    width: CounterWidth,
    payload: &[u8],
) -> Result<Decoded<'static>, Reject> {
    let vars = TopicVars::from_pairs([("device", "rtr-001"), ("plugin", plugin), ("type", typ)]);
    decode(
        DecodeContext {
            vars: &vars,
            counter_width: width,
        },
        rates,
        payload,
    )
    .map(Decoded::into_owned)
}

fn run(plugin: &str, typ: &str, payload: &[u8]) -> Result<Decoded<'static>, Reject> {
    run_w(plugin, typ, true, CounterWidth::Bits64, payload)
}

fn obs(
    m: Measurement,
    key: Option<&str>,
    time_ns: Option<i64>,
    values: Vec<(Field, Reading)>,
) -> Decoded<'static> {
    Decoded::Observations(smallvec![Observation {
        device: "rtr-001".into(),
        time_ns,
        measurement: m,
        key: key.map(|k| k.to_string().into()),
        values: values.into(),
    }])
}

fn reason(r: Result<Decoded<'static>, Reject>) -> RejectReason {
    r.unwrap_err().reason
}

#[test]
fn if_octets_rates_with_trailing_nul() {
    assert_eq!(
        run(
            "interface-wan",
            "if_octets",
            b"1700000000.123:1234.5:987.25\0"
        )
        .unwrap(),
        obs(
            Measurement::Interface,
            Some("wan"),
            Some(T),
            vec![
                (Field::RxBytes, Reading::Rate(1234.5)),
                (Field::TxBytes, Reading::Rate(987.25))
            ]
        )
    );
}

#[test]
fn interface_types_map_to_rx_tx_pairs() {
    for (typ, rx, tx) in [
        ("if_packets", Field::RxPackets, Field::TxPackets),
        ("if_errors", Field::RxErrors, Field::TxErrors),
        ("if_dropped", Field::RxDrops, Field::TxDrops),
    ] {
        assert_eq!(
            run("interface-br-lan", typ, b"1700000000.123:10:0.5").unwrap(),
            obs(
                Measurement::Interface,
                Some("br-lan"),
                Some(T),
                vec![(rx, Reading::Rate(10.0)), (tx, Reading::Rate(0.5))]
            ),
            "{typ}"
        );
    }
}

#[test]
fn raw_counters_without_store_rates_are_exact() {
    let w = CounterWidth::Bits64;
    assert_eq!(
        run_w(
            "interface-eth0.2",
            "if_octets",
            false,
            w,
            b"1700000000.123:18446744073709551615:42\0"
        )
        .unwrap(),
        obs(
            Measurement::Interface,
            Some("eth0.2"),
            Some(T),
            vec![
                (
                    Field::RxBytes,
                    Reading::Counter {
                        raw: u64::MAX,
                        width: w
                    }
                ),
                (Field::TxBytes, Reading::Counter { raw: 42, width: w }),
            ]
        )
    );
    let w32 = CounterWidth::Bits32;
    assert_eq!(
        run_w(
            "interface-wan",
            "if_packets",
            false,
            w32,
            b"1700000000.123:4294967295:1e3"
        )
        .unwrap(),
        obs(
            Measurement::Interface,
            Some("wan"),
            Some(T),
            vec![
                (
                    Field::RxPackets,
                    Reading::Counter {
                        raw: 4_294_967_295,
                        width: w32
                    }
                ),
                (
                    Field::TxPackets,
                    Reading::Counter {
                        raw: 1000,
                        width: w32
                    }
                ),
            ]
        )
    );
}

#[test]
fn system_metrics() {
    let sys = |typ_plugin: (&str, &str), payload: &[u8], field: Field, v: f64| {
        assert_eq!(
            run(typ_plugin.0, typ_plugin.1, payload).unwrap(),
            obs(
                Measurement::System,
                None,
                Some(T),
                vec![(field, Reading::Gauge(v))]
            ),
            "{typ_plugin:?}"
        );
    };
    sys(
        ("load", "load"),
        b"1700000000.123:0.25:0.10:0.05\0",
        Field::Load1,
        0.25,
    );
    sys(
        ("memory", "memory-used"),
        b"1700000000.123:52428800\0",
        Field::MemUsedBytes,
        52_428_800.0,
    );
    sys(
        ("cpu", "percent-active"),
        b"1700000000.123:12.5",
        Field::CpuRatio,
        0.125,
    );
    sys(
        ("cpu-total", "percent-active"),
        b"1700000000.123:50",
        Field::CpuRatio,
        0.5,
    );
    sys(
        ("uptime", "uptime"),
        b"1700000000.123:86400",
        Field::UptimeS,
        86_400.0,
    );
    sys(
        ("thermal-thermal_zone0", "temperature"),
        b"1700000000.123:-4.5",
        Field::SystemTemperatureC,
        -4.5,
    );
}

#[test]
fn ping_metrics_are_probe_keyed_by_host() {
    let probe = |typ: &str, payload: &[u8], field: Field, v: f64| {
        assert_eq!(
            run("ping", typ, payload).unwrap(),
            obs(
                Measurement::Probe,
                Some("8.8.8.8"),
                Some(T),
                vec![(field, Reading::Gauge(v))]
            ),
            "{typ}"
        );
    };
    probe(
        "ping-8.8.8.8",
        b"1700000000.123:12.5\0",
        Field::RttS,
        0.0125,
    );
    probe(
        "ping_droprate-8.8.8.8",
        b"1700000000.123:0.25",
        Field::LossRatio,
        0.25,
    );
    probe(
        "ping_stddev-8.8.8.8",
        b"1700000000.123:1.5",
        Field::JitterS,
        0.0015,
    );
}

#[test]
fn client_metrics() {
    assert_eq!(
        run("iwinfo-wlan0", "stations", b"1700000000.123:17\0").unwrap(),
        obs(
            Measurement::Clients,
            None,
            Some(T),
            vec![(Field::WifiClients, Reading::Gauge(17.0))]
        )
    );
    assert_eq!(
        run("dhcpleases", "count", b"1700000000.123:42").unwrap(),
        obs(
            Measurement::Clients,
            None,
            Some(T),
            vec![(Field::DhcpLeases, Reading::Gauge(42.0))]
        )
    );
}

#[test]
fn now_timestamp_and_integer_epoch() {
    assert_eq!(
        run("uptime", "uptime", b"N:60").unwrap(),
        obs(
            Measurement::System,
            None,
            None,
            vec![(Field::UptimeS, Reading::Gauge(60.0))]
        )
    );
    assert_eq!(
        run("uptime", "uptime", b"1700000000:60").unwrap(),
        obs(
            Measurement::System,
            None,
            Some(1_700_000_000_000_000_000),
            vec![(Field::UptimeS, Reading::Gauge(60.0))]
        )
    );
    // More than 9 fractional digits are truncated to ns.
    assert_eq!(
        run("uptime", "uptime", b"1.0000000019:60").unwrap(),
        obs(
            Measurement::System,
            None,
            Some(1_000_000_001),
            vec![(Field::UptimeS, Reading::Gauge(60.0))]
        )
    );
}

#[test]
fn nan_values_are_skipped_and_all_nan_is_ignored() {
    assert_eq!(
        run("interface-wan", "if_octets", b"1700000000.123:nan:987.25\0").unwrap(),
        obs(
            Measurement::Interface,
            Some("wan"),
            Some(T),
            vec![(Field::TxBytes, Reading::Rate(987.25))]
        )
    );
    for p in [
        &b"1700000000.123:nan:nan\0"[..],
        b"1700000000.123:-nan:U",
        b"N:NaN:nan",
    ] {
        assert_eq!(
            run("interface-wan", "if_octets", p).unwrap(),
            Decoded::Ignored("nan sample")
        );
    }
    assert_eq!(
        run_w(
            "interface-wan",
            "if_octets",
            false,
            CounterWidth::Bits64,
            b"1700000000.123:nan:nan"
        )
        .unwrap(),
        Decoded::Ignored("nan sample")
    );
}

#[test]
fn unmapped_metrics_are_ignored_but_checked() {
    for (plugin, typ) in [
        ("memory", "memory-free"),
        ("cpu-0", "percent-active"),
        ("conntrack", "conntrack"),
        ("interface-wan", "if_speed"),
    ] {
        assert_eq!(
            run(plugin, typ, b"1700000000.123:1:2:3\0").unwrap(),
            Decoded::Ignored("unmapped collectd metric"),
            "{plugin}/{typ}"
        );
    }
    assert_eq!(
        reason(run("conntrack", "conntrack", b"1700000000.123:x")),
        RejectReason::WrongType
    );
    assert_eq!(
        reason(run("conntrack", "conntrack", b"yesterday:1")),
        RejectReason::ParseError
    );
}

#[test]
fn truncated_payloads() {
    assert_eq!(
        reason(run("interface-wan", "if_octets", b"1700000000.123:1234.5")),
        RejectReason::WrongArity
    );
    let e = run("interface-wan", "if_octets", b"1700000000.123:1234.5:").unwrap_err();
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(e.detail.contains("value 2 is empty"), "{e}");
    let e = run("uptime", "uptime", b"1700000000.123").unwrap_err();
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(e.detail.contains("no values"), "{e}");
}

#[test]
fn wrong_types_name_the_token() {
    let e = run("interface-wan", "if_octets", b"1700000000.123:12abc:1").unwrap_err();
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(e.detail.contains("`12abc`"), "{e}");
    let e = run("interface-wan", "if_octets", b"17x0.5:1:1").unwrap_err();
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(e.detail.contains("`17x0.5`"), "{e}");
    assert_eq!(
        reason(run("uptime", "uptime", b"-5:1")),
        RejectReason::ParseError
    );
    assert_eq!(
        reason(run("uptime", "uptime", b":1")),
        RejectReason::ParseError
    );
    let e = run("interface-wan", "if_octets", b"1700000000.123:-1:1").unwrap_err();
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(e.detail.contains("negative rate"), "{e}");
    let no_rates = |p: &[u8]| {
        reason(run_w(
            "interface-wan",
            "if_octets",
            false,
            CounterWidth::Bits64,
            p,
        ))
    };
    assert_eq!(no_rates(b"1700000000.123:1.5:1"), RejectReason::WrongType);
    assert_eq!(no_rates(b"1700000000.123:-1:1"), RejectReason::WrongType);
}

#[test]
fn non_finite_values() {
    for p in [
        &b"1700000000.123:inf:1"[..],
        b"1700000000.123:1:-inf",
        b"1700000000.123:1:Infinity",
    ] {
        let e = run("interface-wan", "if_octets", p).unwrap_err();
        assert_eq!(e.reason, RejectReason::NonFinite, "{p:?}");
    }
    assert_eq!(
        reason(run("uptime", "uptime", b"1700000000.123:inf")),
        RejectReason::NonFinite
    );
}

#[test]
fn huge_values() {
    assert_eq!(
        reason(run("uptime", "uptime", b"1700000000.123:1e400")),
        RejectReason::NonFinite
    );
    let rates = |p: &[u8], w| reason(run_w("interface-wan", "if_octets", false, w, p));
    let e = run_w(
        "interface-wan",
        "if_octets",
        false,
        CounterWidth::Bits64,
        b"1:18446744073709551616:0",
    )
    .unwrap_err();
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(
        e.detail.contains("rx_bytes") && e.detail.contains("64 bits"),
        "{e}"
    );
    assert_eq!(
        rates(b"1:1e20:0", CounterWidth::Bits64),
        RejectReason::WrongType
    );
    assert_eq!(
        rates(b"1:4294967296:0", CounterWidth::Bits32),
        RejectReason::WrongType
    );
    assert_eq!(
        reason(run("uptime", "uptime", b"99999999999999999999:1")),
        RejectReason::BadTimestamp
    );
    assert_eq!(
        reason(run("uptime", "uptime", b"9999999999999.5:1")),
        RejectReason::BadTimestamp
    );
}

#[test]
fn wrong_arity() {
    let e = run("load", "load", b"1700000000.123:0.25:0.1").unwrap_err();
    assert_eq!(e.reason, RejectReason::WrongArity);
    assert!(e.detail.contains("`load` takes 3 value(s), got 2"), "{e}");
    assert_eq!(
        reason(run("interface-wan", "if_octets", b"1:1:2:3")),
        RejectReason::WrongArity
    );
    assert_eq!(
        reason(run("uptime", "uptime", b"1:1:2")),
        RejectReason::WrongArity
    );
}

#[test]
fn empty_and_non_utf8_payloads() {
    for p in [&b""[..], b"\0", b"  \n"] {
        assert_eq!(
            reason(run("uptime", "uptime", p)),
            RejectReason::ParseError,
            "{p:?}"
        );
    }
    assert_eq!(
        reason(run("uptime", "uptime", b"1700000000.1:\xff\0")),
        RejectReason::ParseError
    );
}

#[test]
fn missing_topic_variables() {
    let vars = TopicVars::from_pairs([("device", "rtr-001"), ("plugin", "uptime")]);
    let ctx = DecodeContext {
        vars: &vars,
        counter_width: CounterWidth::Bits64,
    };
    let e = decode(ctx, true, b"1:1").unwrap_err();
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(e.detail.contains("`type`"), "{e}");
}

fn check_invariants(r: &Result<Decoded<'static>, Reject>) {
    match r {
        Ok(Decoded::Observations(obs)) => {
            assert!(!obs.is_empty());
            for o in obs {
                assert!(!o.values.is_empty());
                for (f, v) in &o.values {
                    assert_eq!(f.measurement(), o.measurement);
                    match v {
                        Reading::Gauge(x) => assert!(x.is_finite()),
                        Reading::Rate(x) => assert!(x.is_finite() && *x >= 0.0),
                        Reading::Counter { .. } => {}
                        Reading::FloatCounter { .. } => panic!("collectd has no typed floats"),
                    }
                }
            }
        }
        Ok(Decoded::Status(_)) => panic!("collectd never yields status"),
        Ok(Decoded::Ignored(_)) => {}
        Err(e) => assert!(e.detail.chars().count() < 200, "{e}"),
    }
}

const TOPICS: [(&str, &str); 8] = [
    ("interface-wan", "if_octets"),
    ("interface-wan", "if_packets"),
    ("load", "load"),
    ("memory", "memory-used"),
    ("ping", "ping-8.8.8.8"),
    ("cpu", "percent-active"),
    ("x", "y"),
    ("iwinfo-wlan0", "stations"),
];

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..256), t in 0usize..8, rates: bool) {
        let (p, ty) = TOPICS[t];
        check_invariants(&run_w(p, ty, rates, CounterWidth::Bits32, &payload));
    }

    #[test]
    fn near_valid_payloads_never_panic(payload in "[0-9N.:naUif+e-]{0,48}\0?", t in 0usize..8, rates: bool) {
        let (p, ty) = TOPICS[t];
        check_invariants(&run_w(p, ty, rates, CounterWidth::Bits64, payload.as_bytes()));
    }

    #[test]
    fn arbitrary_topic_parts_never_panic(plugin in "[a-z_-]{0,12}", typ in "[a-z_-]{0,12}", payload in "[0-9.:]{0,24}") {
        check_invariants(&run(&plugin, &typ, payload.as_bytes()));
    }
}
