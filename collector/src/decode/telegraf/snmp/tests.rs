use std::sync::Arc;

use crate::config::LimitsConfig;
use crate::decode::{line, telegraf, DecodeContext, Decoded, Observation, Reading};
use crate::inventory::Inventory;
use crate::normalize::Normalizer;
use crate::reject::{Reject, RejectReason};
use crate::route::TopicVars;
use crate::sample::CounterWidth;
use crate::sample::{Field, FieldValue, Measurement};

const T: i64 = 1_575_509_815_000_000_000;
const C32: CounterWidth = CounterWidth::Bits32;
const C64: CounterWidth = CounterWidth::Bits64;

/// Line protocol on `telegraf/<device>/<name>`; the route's own width is 64
/// bits, so any 32-bit reading below comes from the column's type.
fn lp(device: &str, payload: &str) -> Result<Decoded<'static>, Reject> {
    let vars = TopicVars::from_pairs([("device", device), ("name", "interface")]);
    let ctx = DecodeContext {
        vars: &vars,
        counter_width: C64,
    };
    line::decode(ctx, payload.as_bytes()).map(Decoded::into_owned)
}

fn observations(d: Decoded<'static>) -> Vec<Observation<'static>> {
    match d {
        Decoded::Observations(o) => o.into_vec(),
        other => panic!("expected observations, got {other:?}"),
    }
}

fn iface(
    device: &str,
    key: &str,
    time_ns: i64,
    values: Vec<(Field, Reading)>,
) -> Observation<'static> {
    Observation {
        device: device.to_string().into(),
        time_ns: Some(time_ns),
        measurement: Measurement::Interface,
        key: Some(key.to_string().into()),
        values: values.into(),
    }
}

fn c(raw: u64, width: CounterWidth) -> Reading {
    Reading::Counter { raw, width }
}

/// Telegraf's inputs.snmp README, "Example Output", verbatim (the `eth0` row).
const README_ETH0: &str = "interface,agent_host=127.0.0.1,ifDescr=eth0,ifIndex=2,source=example.org ifAdminStatus=1i,ifInDiscards=0i,ifInErrors=0i,ifInNUcastPkts=21i,ifInOctets=3852386380i,ifInUcastPkts=3634004i,ifInUnknownProtos=0i,ifLastChange=9088763i,ifMtu=1500i,ifOperStatus=1i,ifOutDiscards=0i,ifOutErrors=0i,ifOutNUcastPkts=0i,ifOutOctets=434865441i,ifOutQLen=0i,ifOutUcastPkts=2110394i,ifPhysAddress=\"c8:5b:76:c9:e6:8c\",ifSpecific=\".0.0\",ifSpeed=1000000000i,ifType=6i 1575509815000000000";

#[test]
fn readme_if_table_row_maps_32_bit_counters_and_status() {
    let got = observations(lp("example.org", README_ETH0).unwrap());
    assert_eq!(
        got,
        vec![iface(
            "example.org",
            "eth0",
            T,
            vec![
                (Field::RxBytes, c(3_852_386_380, C32)),
                (Field::TxBytes, c(434_865_441, C32)),
                (Field::RxErrors, c(0, C32)),
                (Field::TxErrors, c(0, C32)),
                (Field::RxDrops, c(0, C32)),
                (Field::TxDrops, c(0, C32)),
                (Field::OperUp, Reading::Gauge(1.0)),
            ]
        )]
    );
}

#[test]
fn readme_scalar_uptime_is_timeticks() {
    let got = observations(
        lp(
            "loaner",
            "snmp,agent_host=127.0.0.1,source=loaner uptime=11331974i 1575509815000000000",
        )
        .unwrap(),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].measurement, Measurement::System);
    assert_eq!(
        got[0].values.as_slice(),
        &[(Field::UptimeS, Reading::Gauge(113_319.74))]
    );
}

#[test]
fn hc_octets_are_preferred_and_64_bit() {
    let row = "ifTable,agent_host=rtr-001,ifName=ether1,ifDescr=Ethernet\\ 1,host=poller \
               ifInOctets=5i,ifOutOctets=6i,ifHCInOctets=21474836485i,ifHCOutOctets=6u,ifInErrors=1i \
               1575509815000000000";
    let got = observations(lp("rtr-001", row).unwrap());
    assert_eq!(
        got,
        vec![iface(
            "rtr-001",
            "ether1",
            T,
            vec![
                (Field::RxBytes, c(21_474_836_485, C64)),
                (Field::TxBytes, c(6, C64)),
                (Field::RxErrors, c(1, C32)),
            ]
        )],
        "ifName is the key (over ifDescr); HC columns win over the 32-bit ones"
    );
}

#[test]
fn counter32_beyond_its_width_is_rejected() {
    let e = lp(
        "rtr-001",
        "interface,agent_host=rtr-001,ifDescr=eth0 ifInOctets=4294967296i 1",
    )
    .unwrap_err();
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(e.detail.contains("interface.ifInOctets"), "{}", e.detail);
    let e = lp(
        "rtr-001",
        "interface,agent_host=rtr-001,ifDescr=eth0 ifInOctets=\"12\" 1",
    )
    .unwrap_err();
    assert_eq!(e.reason, RejectReason::WrongType);
}

/// A row cut inside a counter loses the `i` suffix and the timestamp; the
/// digits left would be a smaller counter (a false wrap or reset).
#[test]
fn rows_cut_inside_a_counter_are_rejected() {
    let cut = &README_ETH0[..README_ETH0.find("ifOutOctets=434865").unwrap() + 18];
    assert!(cut.ends_with("ifOutOctets=434865"), "{cut}");
    let e = lp("example.org", cut).unwrap_err();
    assert_eq!(e.reason, RejectReason::WrongType);
    assert!(e.detail.contains("interface.ifOutOctets"), "{}", e.detail);
    assert!(e.detail.contains("truncated"), "{}", e.detail);
    // Every other prefix of the row either parses to the same or fewer
    // values, or is rejected: never a counter different from the row's.
    let full = observations(lp("example.org", README_ETH0).unwrap());
    for end in 0..README_ETH0.len() {
        if let Ok(Decoded::Observations(o)) = lp("example.org", &README_ETH0[..end]) {
            for (field, reading) in o[0].values.iter() {
                if matches!(reading, Reading::Counter { .. }) {
                    assert!(
                        full[0].values.contains(&(*field, *reading)),
                        "prefix {end}: {field:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn oper_status_codes_and_names() {
    let status = |v: &str| {
        lp(
            "rtr-001",
            &format!("interface,agent_host=rtr-001,ifName=eth0 ifOperStatus={v} 1"),
        )
        .map(|d| match d {
            Decoded::Observations(o) => o[0].values.to_vec(),
            Decoded::Ignored(_) => vec![],
            other => panic!("{other:?}"),
        })
    };
    let up = |x: f64| Ok(vec![(Field::OperUp, Reading::Gauge(x))]);
    assert_eq!(status("1i"), up(1.0));
    for down in ["2i", "3i", "5i", "6i", "7i", "2u"] {
        assert_eq!(status(down), up(0.0), "{down}");
    }
    assert_eq!(status("4i"), Ok(vec![]), "unknown carries no value");
    assert_eq!(status("\"up\""), up(1.0));
    assert_eq!(status("\"down(2)\""), up(0.0));
    assert_eq!(status("\"lowerLayerDown\""), up(0.0));
    for bad in ["0i", "8i", "\"sideways\"", "true", "1.5"] {
        let e = status(bad).unwrap_err();
        assert_eq!(e.reason, RejectReason::WrongType, "{bad}");
        assert!(e.detail.contains("ifOperStatus"), "{}", e.detail);
    }
}

#[test]
fn identity_is_agent_host_or_sysname_never_the_poller() {
    // The poller's `host` tag differs from the topic: fine for SNMP rows.
    let row = |tags: &str| format!("interface,{tags},ifName=eth0 ifInOctets=1i 1");
    assert!(lp("rtr-001", &row("host=poller,agent_host=rtr-001")).is_ok());
    // sysName matches although agent_host is an address.
    assert!(lp(
        "rtr-001",
        &row("host=poller,agent_host=10.0.0.1,sysName=rtr-001")
    )
    .is_ok());
    // Nothing names the polled device: `host` must be the topic's device.
    assert!(lp("rtr-001", &row("host=rtr-001")).is_ok());
    assert!(lp("rtr-001", &row("ifAlias=uplink")).is_ok());
    let e = lp("rtr-001", &row("host=poller")).unwrap_err();
    assert_eq!(e.reason, RejectReason::IdentityMismatch);
    // Published under the poller's name (Telegraf's default topic): caught.
    let e = lp(
        "poller",
        &row("host=poller,agent_host=10.0.0.1,sysName=OpenWrt"),
    )
    .unwrap_err();
    assert_eq!(e.reason, RejectReason::IdentityMismatch);
    assert!(e.detail.contains("agent_host=`10.0.0.1`"), "{}", e.detail);
    assert!(e.detail.contains("sysName=`OpenWrt`"), "{}", e.detail);
    // Without a topic device the row names itself: sysName before agent_host.
    let vars = TopicVars::from_pairs([("name", "interface")]);
    let ctx = DecodeContext {
        vars: &vars,
        counter_width: C64,
    };
    let line = row("agent_host=10.0.0.1,sysName=rtr-002");
    let d = line::decode(ctx, line.as_bytes()).unwrap();
    assert_eq!(observations(d.into_owned())[0].device, "rtr-002");
}

#[test]
fn rows_need_an_interface_name() {
    let e = lp(
        "rtr-001",
        "interface,agent_host=rtr-001,ifIndex=3 ifInOctets=1i 1",
    )
    .unwrap_err();
    assert_eq!(e.reason, RejectReason::ParseError);
    assert!(e.detail.contains("ifName"), "{}", e.detail);
}

#[test]
fn json_rows_map_alike() {
    let doc = r#"{"fields":{"ifHCInOctets":123,"ifHCOutOctets":456,"ifInDiscards":2,"ifOutDiscards":3,"ifOperStatus":2},"name":"interfaceX","tags":{"agent_host":"rtr-001","host":"poller","ifName":"wan"},"timestamp":1575509815}"#;
    let vars = TopicVars::from_pairs([("device", "rtr-001"), ("name", "interfaceX")]);
    let ctx = DecodeContext {
        vars: &vars,
        counter_width: C64,
    };
    let got = observations(telegraf::decode(ctx, doc.as_bytes()).unwrap().into_owned());
    assert_eq!(
        got,
        vec![iface(
            "rtr-001",
            "wan",
            T,
            vec![
                (Field::RxBytes, c(123, C64)),
                (Field::TxBytes, c(456, C64)),
                (Field::RxDrops, c(2, C32)),
                (Field::TxDrops, c(3, C32)),
                (Field::OperUp, Reading::Gauge(0.0)),
            ]
        )]
    );
}

#[test]
fn non_snmp_metrics_keep_their_mapping() {
    // `net` has no IF-MIB columns; canonical `interface` lines neither.
    let d = lp(
        "rtr-001",
        "interface,device=rtr-001,interface=wan rx_bytes=5i 1",
    )
    .unwrap();
    assert_eq!(observations(d)[0].key.as_deref(), Some("wan"));
    // A `snmp` metric without agent_host is not the SNMP plugin's.
    assert_eq!(
        lp("rtr-001", "snmp,host=rtr-001 uptime=5i 1").unwrap(),
        Decoded::Ignored("unmapped telegraf metric")
    );
}

/// Through the normalizer: a Counter32 that wraps between two polls gives a
/// monotonic counter and the true rate (the width decides the modulus).
#[test]
fn counter32_wrap_through_the_normalizer() {
    let inventory = Inventory::from_csv_text(
        "school_id,name,district,lat,lon,uplink_mbps\nNX-001,One,Babek,39.2,45.4,100\n",
        "device_id,school_id,role,expected_interval_s,parent,wan_interface\nrtr-001,NX-001,router,10,,eth0\n",
    )
    .unwrap();
    let mut n = Normalizer::new(Arc::new(inventory), LimitsConfig::default());
    let t0 = 1_700_000_000_000_000_000i64;
    let poll = |raw: u64, t: i64| {
        format!("interface,agent_host=rtr-001,ifDescr=eth0 ifInOctets={raw}i {t}")
    };
    let first = lp("rtr-001", &poll(4_294_967_000, t0)).unwrap();
    n.normalize(first, t0);
    // 10 s later: 296 bytes to the wrap, then 12_499_704 more = 12.5 MB.
    let t1 = t0 + 10_000_000_000;
    let next = lp("rtr-001", &poll(12_499_704, t1)).unwrap();
    let out = n.normalize(next, t1);
    let s = &out.samples[0];
    let f = |k| s.fields.iter().find(|(x, _)| *x == k).map(|(_, v)| *v);
    assert_eq!(f(Field::RxBytes), Some(FieldValue::Counter(12_500_000)));
    assert_eq!(f(Field::RxBps), Some(FieldValue::Float(10e6)));
}

proptest::proptest! {
    /// Whatever a row carries: rx_bytes is the 64-bit column when present,
    /// else the 32-bit one with 32-bit width; ifOperStatus follows RFC 2863
    /// (1 up, 4 unknown, 2/3/5/6/7 not passing packets, anything else rejected).
    #[test]
    fn rows_map_by_rfc_2863(
        hc in proptest::option::of(proptest::num::u64::ANY),
        c32 in proptest::option::of(proptest::num::u32::ANY),
        status in proptest::option::of(-2i64..12),
        by_name in proptest::bool::ANY,
    ) {
        let mut fields = Vec::new();
        if let Some(v) = hc { fields.push(format!("ifHCInOctets={v}u")); }
        if let Some(v) = c32 { fields.push(format!("ifInOctets={v}i")); }
        if let Some(s) = status { fields.push(format!("ifOperStatus={s}i")); }
        fields.push("ifMtu=1500i".into());
        let tag = if by_name { "ifName" } else { "ifDescr" };
        let line = format!("interface,agent_host=rtr-001,{tag}=ge-0/0/1 {} 1", fields.join(","));
        let got = lp("rtr-001", &line);
        if let Some(s) = status.filter(|s| !(1..=7).contains(s)) {
            let e = got.unwrap_err();
            proptest::prop_assert_eq!(e.reason, RejectReason::WrongType, "status {}", s);
            return Ok(());
        }
        let values = match got.unwrap() {
            Decoded::Observations(o) => {
                proptest::prop_assert_eq!(o[0].key.as_deref(), Some("ge-0/0/1"));
                o[0].values.to_vec()
            }
            Decoded::Ignored(_) => vec![],
            other => panic!("{other:?}"),
        };
        let find = |f: Field| values.iter().find(|(k, _)| *k == f).map(|(_, r)| *r);
        let want_rx = hc.map(|v| c(v, C64)).or(c32.map(|v| c(u64::from(v), C32)));
        proptest::prop_assert_eq!(find(Field::RxBytes), want_rx);
        let want_up = match status {
            Some(1) => Some(Reading::Gauge(1.0)),
            Some(4) | None => None,
            Some(_) => Some(Reading::Gauge(0.0)),
        };
        proptest::prop_assert_eq!(find(Field::OperUp), want_up);
    }
}
