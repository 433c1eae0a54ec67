use proptest::prelude::*;
use smallvec::smallvec;

use super::*;
use crate::decode::{Observation, Reading};
use crate::route::TopicVars;
use crate::sample::CounterWidth;
use crate::sample::{Field, Measurement};

const T: i64 = 1_700_000_000_000_000_000;
const W: CounterWidth = CounterWidth::Bits64;

fn run_with(
    vars: &[(&str, &str)],
    width: CounterWidth,
    payload: &str,
) -> Result<Decoded<'static>, Reject> {
    let vars = TopicVars::from_pairs(vars.iter().copied());
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
    run_with(&[("device", "rtr-001"), ("name", "x")], W, payload)
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

fn g(v: f64) -> Reading {
    Reading::Gauge(v)
}

fn err(r: Result<Decoded<'static>, Reject>) -> Reject {
    r.unwrap_err()
}

#[test]
fn telegraf_net_lines_are_raw_counters() {
    let payload = "net,host=rtr-001,interface=eth0 bytes_recv=123456789i,bytes_sent=987654321i,packets_recv=1000i,\
packets_sent=2000i,err_in=0i,err_out=1i,drop_in=5i,drop_out=0i,speed=1000i 1700000000000000000\n\
net,host=rtr-001,interface=all icmp_inerrors=0i,tcp_activeopens=5i 1700000000000000000\n";
    assert_eq!(
        run(payload).unwrap(),
        Decoded::Observations(smallvec![ob(
            Measurement::Interface,
            Some("eth0"),
            Some(T),
            vec![
                (Field::RxBytes, c(123_456_789)),
                (Field::TxBytes, c(987_654_321)),
                (Field::RxPackets, c(1000)),
                (Field::TxPackets, c(2000)),
                (Field::RxErrors, c(0)),
                (Field::TxErrors, c(1)),
                (Field::RxDrops, c(5)),
                (Field::TxDrops, c(0)),
            ]
        )])
    );
}

#[test]
fn unsigned_and_float_counters_are_accepted() {
    assert_eq!(
        run("net,interface=wan bytes_recv=18446744073709551615u,bytes_sent=42").unwrap(),
        Decoded::Observations(smallvec![ob(
            Measurement::Interface,
            Some("wan"),
            None,
            vec![
                (Field::RxBytes, c(u64::MAX)),
                // Typed as a float, so the normalizer can tell a lost `i`.
                (
                    Field::TxBytes,
                    Reading::FloatCounter {
                        raw: 42,
                        width: CounterWidth::Bits64
                    }
                )
            ]
        )])
    );
}

#[test]
fn a_line_cut_inside_its_last_number_parses_without_timestamp_or_suffix() {
    // What the normalizer has to catch (`missing_timestamp`,
    // `counter_type_changed`): the decoder alone cannot tell.
    let full = "net,interface=wan bytes_recv=123456789i 1700000000000000000";
    let cut = &full[..full.find("6789i").unwrap()];
    let Decoded::Observations(obs) = run(cut).unwrap() else {
        panic!("not observations")
    };
    assert_eq!(obs[0].time_ns, None);
    assert_eq!(
        obs[0].values[0],
        (
            Field::RxBytes,
            Reading::FloatCounter {
                raw: 12345,
                width: CounterWidth::Bits64
            }
        )
    );
}

#[test]
fn telegraf_ping_system_mem_cpu_temp() {
    let payload = "\
ping,host=rtr-001,url=8.8.8.8 average_response_ms=12.5,maximum_response_ms=15.1,packets_received=5i,\
packets_transmitted=5i,percent_packet_loss=20,result_code=0i,standard_deviation_ms=1.5,ttl=117i 1700000000000000000
system,host=rtr-001 load1=0.25,load15=0.05,load5=0.1,n_cpus=4i,n_users=0i 1700000000000000000
system,host=rtr-001 uptime=86400i 1700000000000000000
system,host=rtr-001 uptime_format=\"1 day,  0:00\" 1700000000000000000
mem,host=rtr-001 available=81788928i,used=52428800i,total=134217728i,used_percent=39.06 1700000000000000000
cpu,cpu=cpu0,host=rtr-001 usage_idle=50,usage_user=50 1700000000000000000
cpu,cpu=cpu-total,host=rtr-001 usage_idle=87.5,usage_user=10,usage_system=2.5 1700000000000000000
temp,host=rtr-001,sensor=coretemp_package_id_0 temp=45.5 1700000000000000000
";
    assert_eq!(
        run(payload).unwrap(),
        Decoded::Observations(smallvec![
            ob(
                Measurement::Probe,
                Some("8.8.8.8"),
                Some(T),
                vec![
                    (Field::RttS, g(0.0125)),
                    (Field::LossRatio, g(0.2)),
                    (Field::JitterS, g(0.0015))
                ]
            ),
            ob(
                Measurement::System,
                None,
                Some(T),
                vec![(Field::Load1, g(0.25))]
            ),
            ob(
                Measurement::System,
                None,
                Some(T),
                vec![(Field::UptimeS, g(86400.0))]
            ),
            ob(
                Measurement::System,
                None,
                Some(T),
                vec![
                    (Field::MemUsedBytes, g(52_428_800.0)),
                    (Field::MemTotalBytes, g(134_217_728.0))
                ]
            ),
            ob(
                Measurement::System,
                None,
                Some(T),
                vec![(Field::CpuRatio, g(0.125))]
            ),
            ob(
                Measurement::System,
                None,
                Some(T),
                vec![(Field::SystemTemperatureC, g(45.5))]
            ),
        ])
    );
}

#[test]
fn ping_with_all_packets_lost_has_only_loss() {
    assert_eq!(
        run("ping,url=10.0.0.1 packets_received=0i,packets_transmitted=5i,percent_packet_loss=100,result_code=0i").unwrap(),
        Decoded::Observations(smallvec![ob(Measurement::Probe, Some("10.0.0.1"), None, vec![(Field::LossRatio, g(1.0))])])
    );
}

#[test]
fn canonical_line_protocol_round_trips() {
    let payload = "\
interface,school=s001,district=Babek,device=rtr-001,role=router,interface=wan rx_bytes=123u,tx_bytes=456u,rx_bps=1000,oper_up=true 1700000000000000000
optical,device=rtr-001 rx_dbm=-18.52,tx_dbm=2.25,olt_rx_dbm=-20.5,temperature_c=45,voltage_v=3.3,bias_ma=12.5 1700000000000000000
probe,device=rtr-001,target=8.8.8.8 rtt_s=0.012,loss_ratio=0,jitter_s=0.001 1700000000000000000
clients,device=rtr-001 wifi_clients=17i,dhcp_leases=42i 1700000000000000000
system,device=rtr-001 cpu_ratio=0.125,mem_used_bytes=1024i,mem_total_bytes=4096i,uptime_s=60,temperature_c=50.5,load1=0.5 1700000000000000000
";
    // No `device` topic variable: the canonical `device` tag names it.
    let r = run_with(&[], W, payload).unwrap();
    assert_eq!(
        r,
        Decoded::Observations(smallvec![
            ob(
                Measurement::Interface,
                Some("wan"),
                Some(T),
                vec![
                    (Field::RxBytes, c(123)),
                    (Field::TxBytes, c(456)),
                    (Field::RxBps, g(1000.0)),
                    (Field::OperUp, g(1.0))
                ]
            ),
            ob(
                Measurement::Optical,
                None,
                Some(T),
                vec![
                    (Field::RxDbm, g(-18.52)),
                    (Field::TxDbm, g(2.25)),
                    (Field::OltRxDbm, g(-20.5)),
                    (Field::OpticalTemperatureC, g(45.0)),
                    (Field::VoltageV, g(3.3)),
                    (Field::BiasMa, g(12.5)),
                ]
            ),
            ob(
                Measurement::Probe,
                Some("8.8.8.8"),
                Some(T),
                vec![
                    (Field::RttS, g(0.012)),
                    (Field::LossRatio, g(0.0)),
                    (Field::JitterS, g(0.001))
                ]
            ),
            ob(
                Measurement::Clients,
                None,
                Some(T),
                vec![(Field::WifiClients, g(17.0)), (Field::DhcpLeases, g(42.0))]
            ),
            ob(
                Measurement::System,
                None,
                Some(T),
                vec![
                    (Field::Load1, g(0.5)),
                    (Field::CpuRatio, g(0.125)),
                    (Field::MemUsedBytes, g(1024.0)),
                    (Field::MemTotalBytes, g(4096.0)),
                    (Field::UptimeS, g(60.0)),
                    (Field::SystemTemperatureC, g(50.5)),
                ]
            ),
        ])
    );
}

#[test]
fn device_is_topic_then_host_then_device_tag() {
    let line = "system,host=from-host,device=from-tag load1=1";
    let dev = |r: Result<Decoded<'static>, Reject>| match r.unwrap() {
        Decoded::Observations(o) => o[0].device.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        dev(run_with(&[("device", "from-topic")], W, "system load1=1")),
        "from-topic"
    );
    assert_eq!(
        dev(run_with(
            &[("device", "d")],
            W,
            "system,host=d,device=d load1=1"
        )),
        "d"
    );
    assert_eq!(dev(run_with(&[], W, line)), "from-host");
    assert_eq!(
        dev(run_with(&[], W, "system,device=from-tag load1=1")),
        "from-tag"
    );
    let e = err(run_with(&[], W, "system load1=1"));
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(e.detail.contains("no device"), "{e}");
}

#[test]
fn unmapped_and_comment_only_payloads_are_ignored() {
    let ignored = Decoded::Ignored("unmapped telegraf metric");
    assert_eq!(
        run("diskio,host=rtr-001,name=sda reads=5i 1700000000000000000").unwrap(),
        ignored
    );
    assert_eq!(run("# just a comment\n\n").unwrap(), ignored);
    assert_eq!(run("cpu,cpu=cpu1 usage_idle=10").unwrap(), ignored);
    assert_eq!(run("net,interface=all icmp_inerrors=0i").unwrap(), ignored);
}

#[test]
fn truncated_payloads_name_the_line() {
    let e = err(run("net,host=rtr-001,interface=eth0 bytes_recv="));
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(e.detail.starts_with("line 1:"), "{e}");
    let e = err(run(
        "\nsystem load1=1 1700000000000000000\nnet,host=rtr-001,inter",
    ));
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(e.detail.starts_with("line 3:"), "{e}");
}

#[test]
fn wrong_types_name_the_field() {
    let e = err(run("net,interface=eth0 bytes_recv=\"lots\""));
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(
        e.detail.contains("net.bytes_recv") && e.detail.contains("lots"),
        "{e}"
    );
    for line in [
        "net,interface=eth0 bytes_recv=-5i",
        "net,interface=eth0 bytes_recv=1.5",
        "net,interface=eth0 bytes_recv=true",
    ] {
        assert_eq!(err(run(line)).reason, RejectReason::WrongType, "{line}");
    }
    // Wrong-typed fields that are not mapped do not matter.
    assert!(run("ping,url=x percent_packet_loss=0,errors=\"timeout\"").is_ok());
    let e = err(run("system load1=1\nnet,host=rtr-001 bytes_recv=1i"));
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(
        e.detail.contains("line 2") && e.detail.contains("`interface` tag"),
        "{e}"
    );
}

#[test]
fn non_finite_values() {
    let e = err(run("ping,url=x average_response_ms=1e400"));
    assert_eq!(e.reason, RejectReason::NonFinite);
    assert!(e.detail.contains("ping.average_response_ms"), "{e}");
    assert_eq!(
        err(run("ping,url=x average_response_ms=NaN")).reason,
        RejectReason::ParseError
    );
}

#[test]
fn huge_values() {
    assert_eq!(
        err(run("net,interface=e bytes_recv=18446744073709551616u")).reason,
        RejectReason::ParseError
    );
    assert_eq!(
        err(run("net,interface=e bytes_recv=9223372036854775808i")).reason,
        RejectReason::ParseError
    );
    assert_eq!(
        err(run("net,interface=e bytes_recv=1e20")).reason,
        RejectReason::WrongType
    );
    let e = err(run_with(
        &[],
        CounterWidth::Bits32,
        "net,interface=e bytes_recv=4294967296i",
    ));
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(e.detail.contains("32-bit"), "{e}");
}

#[test]
fn lines_without_fields() {
    // Line protocol's arity: a series needs at least one field.
    let e = err(run("net,interface=eth0 1700000000000000000"));
    assert_eq!(e.reason, RejectReason::ParseError);
}

#[test]
fn empty_and_non_utf8_payloads() {
    assert_eq!(err(run("")).detail, "empty payload");
    assert_eq!(err(run(" \n\n")).reason, RejectReason::ParseError);
    let vars = TopicVars::default();
    let ctx = DecodeContext {
        vars: &vars,
        counter_width: W,
    };
    assert_eq!(
        decode(ctx, b"system load1=\xff").unwrap_err().reason,
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
                assert!(o
                    .values
                    .iter()
                    .all(|(_, v)| !matches!(v, Reading::Gauge(x) if !x.is_finite())));
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
    fn near_valid_lines_never_panic(
        name in "(net|ping|system|cpu|interface|probe|x)",
        tags in "(,(interface|url|cpu|host|target)=[a-z0-9\\\\ -]{0,6}){0,3}",
        fields in "(bytes_recv|average_response_ms|load1|usage_idle|rx_bytes|rtt_s)=[-0-9.eiu\"tT]{0,12}",
        rest in "[ 0-9\n#,=\"\\\\]{0,16}",
    ) {
        check(&run(&format!("{name}{tags} {fields}{rest}")));
    }
}

/// A device may only report for itself: a `host` tag (on any line, mapped or
/// not) or a canonical `device` tag naming another device than the topic
/// rejects the whole message, naming both ids.
#[test]
fn payload_device_must_match_the_topic() {
    let on_topic = |payload: &str| run_with(&[("device", "rtr-001"), ("name", "net")], W, payload);
    let mismatch = |payload: &str| {
        let e = err(on_topic(payload));
        assert_eq!(e.reason, RejectReason::IdentityMismatch, "{payload}: {e}");
        e
    };
    let e = mismatch("net,host=rtr-002,interface=wan bytes_recv=1i 1700000000000000000");
    assert!(
        e.detail.contains("`rtr-002`")
            && e.detail.contains("`rtr-001`")
            && e.detail.contains("`host`"),
        "{e}"
    );
    // The second line claims another host: nothing of the message is used.
    mismatch(
        "net,host=rtr-001,interface=wan bytes_recv=1i\nnet,host=rtr-002,interface=wan bytes_recv=1i",
    );
    // Also on a line schoolnet does not map.
    mismatch("net,host=rtr-001,interface=wan bytes_recv=1i\ndiskio,host=evil reads=1i");
    // Duplicate host tags: every one must match.
    mismatch("net,host=rtr-001,host=evil,interface=wan bytes_recv=1i");
    // The canonical `device` tag names the device too.
    let e = mismatch("interface,device=rtr-002,interface=wan rx_bytes=1i");
    assert!(e.detail.contains("`device`"), "{e}");
    // A hostile id is echoed bounded.
    let long = format!("net,host={},interface=wan bytes_recv=1i", "x".repeat(5_000));
    assert!(mismatch(&long).detail.len() < 300);

    // Same device, a Telegraf `device` tag naming a disk, no host tag: fine.
    assert!(on_topic("net,host=rtr-001,interface=wan bytes_recv=1i").is_ok());
    assert!(on_topic("interface,device=rtr-001,interface=wan rx_bytes=1i").is_ok());
    assert!(on_topic("net,interface=wan bytes_recv=1i").is_ok());
    assert!(on_topic(
        "net,host=rtr-001,interface=wan bytes_recv=1i\ndisk,host=rtr-001,device=sda1 used=1i"
    )
    .is_ok());
    // Without a `{device}` in the topic the payload names the device.
    assert!(run_with(&[], W, "net,host=rtr-002,interface=wan bytes_recv=1i").is_ok());
}

#[test]
fn device_and_key_borrow_the_topic_and_payload_unless_escaped() {
    use std::borrow::Cow;
    let with_topic = TopicVars::from_pairs([("device", "rtr-001"), ("name", "net")]);
    let without = TopicVars::from_pairs([("name", "net")]);
    let ctx = |vars| DecodeContext {
        vars,
        counter_width: W,
    };
    let plain = "net,host=rtr-001,interface=wan bytes_recv=1i";
    let escaped = r"net,host=rtr\ 001,interface=wan\,0 bytes_recv=1i";
    fn first(d: Decoded<'_>) -> Observation<'_> {
        match d {
            Decoded::Observations(mut o) => o.remove(0),
            other => panic!("{other:?}"),
        }
    }
    // From the topic variable and the payload's tag: nothing copied.
    let o = first(decode(ctx(&with_topic), plain.as_bytes()).unwrap());
    assert!(matches!(o.device, Cow::Borrowed("rtr-001")), "{o:?}");
    assert!(matches!(o.key, Some(Cow::Borrowed("wan"))), "{o:?}");
    // From the `host` tag when the topic has no device.
    let o = first(decode(ctx(&without), plain.as_bytes()).unwrap());
    assert!(matches!(o.device, Cow::Borrowed("rtr-001")), "{o:?}");
    // An escape that drops a backslash needs a copy.
    let o = first(decode(ctx(&without), escaped.as_bytes()).unwrap());
    assert!(
        matches!(&o.device, Cow::Owned(d) if d == "rtr 001"),
        "{o:?}"
    );
    assert!(
        matches!(&o.key, Some(Cow::Owned(k)) if k == "wan,0"),
        "{o:?}"
    );
}
