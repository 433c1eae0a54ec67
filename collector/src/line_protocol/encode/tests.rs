use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::inventory::{DeviceInfo, Role};
use crate::sink::influx::testutil::device;

const T: i64 = 1_700_000_000_123_456_789;

fn sample(
    m: Measurement,
    dev: Arc<DeviceInfo>,
    key: Option<&str>,
    fields: Vec<(Field, FieldValue)>,
) -> Sample {
    Sample {
        measurement: m,
        time_ns: T,
        device: dev,
        key: key.map(Into::into),
        fields,
    }
}

fn encode(s: &Sample) -> String {
    let mut out = Vec::new();
    let wrote = encode_sample(s, &mut out);
    assert_eq!(wrote, !out.is_empty());
    String::from_utf8(out).unwrap()
}

fn router() -> Arc<DeviceInfo> {
    device("r-s001", "s001", "Babek", Role::Router)
}

#[test]
fn golden_outage() {
    let school = device("r-s001", "s 001", "Babek", Role::Router)
        .school
        .clone();
    let outage = |open, duration_s| OutageRecord {
        school: school.clone(),
        cause: "upstream_down",
        started_ns: T,
        outage_started_ns: T,
        duration_s,
        open,
    };
    // The same outage after its cause changed 30 s later: a point of its
    // own, timestamped at the change, that names the outage's start.
    let changed = OutageRecord {
        cause: "stale",
        started_ns: T + 30_000_000_000,
        ..outage(true, 0.0)
    };
    let mut out = Vec::new();
    assert!(encode_record(
        &InfluxRecord::Outage(outage(true, 12.5)),
        &mut out
    ));
    assert!(encode_outage(&outage(false, 3600.0), &mut out));
    assert!(encode_outage(&changed, &mut out));
    assert!(
        !encode_outage(&outage(false, f64::NAN), &mut out),
        "never NaN"
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "outage,cause=upstream_down,district=Babek,school=s\\ 001 duration_s=12.5,open=true,started_at=1700000000.1234567 1700000000123456789\n\
         outage,cause=upstream_down,district=Babek,school=s\\ 001 duration_s=3600,open=false,started_at=1700000000.1234567 1700000000123456789\n\
         outage,cause=stale,district=Babek,school=s\\ 001 duration_s=0,open=true,started_at=1700000000.1234567 1700000030123456789\n"
    );
}

#[test]
fn golden_interface() {
    use FieldValue::*;
    let s = sample(
        Measurement::Interface,
        router(),
        Some("wan"),
        vec![
            (Field::RxBytes, Counter(123)),
            (Field::TxBytes, Counter(456)),
            (Field::RxBps, Float(1.5)),
            (Field::TxBps, Float(5.0)),
            (Field::OperUp, Float(1.0)),
            (Field::Utilization, Float(0.25)),
        ],
    );
    assert_eq!(
        encode(&s),
        "interface,device=r-s001,district=Babek,interface=wan,role=router,school=s001 \
         rx_bytes=123i,tx_bytes=456i,rx_bps=1.5,tx_bps=5,oper_up=1,utilization=0.25 \
         1700000000123456789\n"
    );
}

#[test]
fn golden_optical_and_system() {
    use FieldValue::*;
    let ont = device("ont-s001", "s001", "Julfa", Role::Ont);
    let s = sample(
        Measurement::Optical,
        ont.clone(),
        None,
        vec![
            (Field::RxDbm, Float(-21.3)),
            (Field::TxDbm, Float(2.1)),
            (Field::OpticalTemperatureC, Float(47.0)),
            (Field::VoltageV, Float(3.3)),
            (Field::BiasMa, Float(12.0)),
        ],
    );
    assert_eq!(
        encode(&s),
        "optical,device=ont-s001,district=Julfa,role=ont,school=s001 \
         rx_dbm=-21.3,tx_dbm=2.1,temperature_c=47,voltage_v=3.3,bias_ma=12 1700000000123456789\n"
    );
    let s = sample(
        Measurement::System,
        ont,
        None,
        vec![
            (Field::CpuRatio, Float(0.07)),
            (Field::MemUsedBytes, Float(52_428_800.0)),
            (Field::UptimeS, Float(86_400.5)),
            (Field::Load1, Float(0.0)),
        ],
    );
    assert_eq!(
        encode(&s),
        "system,device=ont-s001,district=Julfa,role=ont,school=s001 \
         cpu_ratio=0.07,mem_used_bytes=52428800,uptime_s=86400.5,load1=0 1700000000123456789\n"
    );
}

#[test]
fn golden_probe_and_clients_have_no_role() {
    use FieldValue::*;
    let s = sample(
        Measurement::Probe,
        router(),
        Some("8.8.8.8"),
        vec![
            (Field::RttS, Float(0.0123)),
            (Field::LossRatio, Float(0.0)),
            (Field::JitterS, Float(0.000_004)),
        ],
    );
    assert_eq!(
        encode(&s),
        "probe,device=r-s001,district=Babek,school=s001,target=8.8.8.8 \
         rtt_s=0.0123,loss_ratio=0,jitter_s=4e-6 1700000000123456789\n"
    );
    let s = sample(
        Measurement::Clients,
        router(),
        None,
        vec![
            (Field::WifiClients, Float(31.0)),
            (Field::DhcpLeases, Float(40.0)),
        ],
    );
    assert_eq!(
        encode(&s),
        "clients,device=r-s001,district=Babek,school=s001 wifi_clients=31,dhcp_leases=40 \
         1700000000123456789\n"
    );
}

#[test]
fn fields_are_written_in_enum_order_and_types_follow_the_field_kind() {
    use FieldValue::*;
    let s = sample(
        Measurement::Interface,
        router(),
        Some("wan"),
        vec![
            (Field::Utilization, Counter(1)), // gauge field: written as a float
            (Field::RxBytes, Float(42.0)),    // counter field: written as an integer
            (Field::RxBytes, Float(7.0)),     // duplicate: first (in input order) wins
        ],
    );
    assert!(encode(&s).ends_with(" rx_bytes=42i,utilization=1 1700000000123456789\n"));
}

#[test]
fn unwritable_values_are_skipped_and_empty_samples_write_nothing() {
    use FieldValue::*;
    let s = sample(
        Measurement::Interface,
        router(),
        Some("wan"),
        vec![
            (Field::RxBytes, Counter(u64::MAX)),
            (Field::TxBytes, Float(1.5)),
            (Field::RxBps, Float(f64::NAN)),
            (Field::TxBps, Float(f64::INFINITY)),
            (Field::OperUp, Float(f64::NEG_INFINITY)),
            (Field::Utilization, Float(-0.0)),
        ],
    );
    assert!(encode(&s).contains(" utilization=0 "), "{}", encode(&s));

    let s = sample(
        Measurement::Interface,
        router(),
        Some("wan"),
        vec![
            (Field::RxBps, Float(f64::NAN)),
            (Field::RxBytes, Counter(1 << 63)),
        ],
    );
    let mut out = b"previous line\n".to_vec();
    assert!(!encode_sample(&s, &mut out));
    assert_eq!(out, b"previous line\n");
}

#[test]
fn floats_round_trip_in_short_form() {
    for (v, text) in [
        (5.0, "5"),
        (-21.37, "-21.37"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e21, "1e21"),
        (1.5e-7, "1.5e-7"),
        (123_456_789_012_345.0, "123456789012345"),
        (f64::MAX, "1.7976931348623157e308"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
    ] {
        let mut out = Vec::new();
        assert!(write_float(v, &mut out));
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s, text);
        assert_eq!(s.parse::<f64>().unwrap(), v);
    }
}

/// The longest numbers after every field key fit the room a line makes
/// for its fields (`fields_room`, `Text`'s capacity).
#[test]
fn longest_numbers_fit_after_every_field_key() {
    for &field in Field::ALL {
        let m = field.measurement();
        let key = field.key();
        let cases: Vec<(FieldValue, String)> = match field.kind() {
            FieldKind::Counter => [0, 7, 12_345_678, i64::MAX as u64]
                .into_iter()
                .map(|v| (FieldValue::Counter(v), format!("{v}i")))
                .collect(),
            FieldKind::Gauge => [
                -f64::MIN_POSITIVE,
                -1.234_567_890_123_456_7e-5,
                -4_503_599_627_370_495.5,
                -123_456_789_012_345.6,
                -9.0,
            ]
            .into_iter()
            .map(|v| {
                let text = if (1e-5..1e16).contains(&v.abs()) {
                    format!("{v}")
                } else {
                    format!("{v:e}")
                };
                (FieldValue::Float(v), text)
            })
            .collect(),
        };
        for (value, text) in cases {
            let s = sample(m, router(), Some("k"), vec![(field, value)]);
            let line = encode(&s);
            let want = format!(" {key}={text} {T}\n");
            assert!(line.ends_with(&want), "{line:?} should end with {want:?}");
        }
    }
}

#[test]
fn hostile_tag_values_are_escaped() {
    let dev = device(
        "r 1,x=y",
        "Məktəb \"No 5\", Şərur=1",
        "a\\b\\",
        Role::Router,
    );
    let s = sample(
        Measurement::Interface,
        dev,
        Some("eth0\nfake,line=1 x=1i 0\r\t\0"),
        vec![(Field::RxBytes, FieldValue::Counter(1))],
    );
    assert_eq!(
        encode(&s),
        "interface,device=r\\ 1\\,x\\=y,district=a\\b/,\
         interface=eth0\\ fake\\,line\\=1\\ x\\=1i\\ 0\\ \\ \\ ,role=router,\
         school=Məktəb\\ \"No\\ 5\"\\,\\ Şərur\\=1 rx_bytes=1i 1700000000123456789\n"
    );
}

#[test]
fn backslashes_are_kept_only_where_every_parser_agrees() {
    let cases = [
        ("a\\b", "a\\b", "a\\b"),
        ("a\\\\b", "a/\\b", "a/\\b"),
        ("end\\", "end/", "end/"),
        ("\\,", "/\\,", "/,"),
        ("\\ \\=", "/\\ /\\=", "/ /="),
        ("\\\n", "/\\ ", "/ "),
    ];
    for (raw, escaped, stored) in cases {
        let mut out = Vec::new();
        write_escaped(raw, KEY_SPECIALS, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), escaped, "escaping {raw:?}");
        assert_eq!(stored_value(raw), stored, "storing {raw:?}");
    }
}

#[test]
fn empty_tag_values_are_omitted() {
    let dev = device("", "s001", "", Role::Router);
    let s = sample(
        Measurement::Interface,
        dev,
        Some(""),
        vec![(Field::RxBytes, FieldValue::Counter(1))],
    );
    assert_eq!(
        encode(&s),
        "interface,role=router,school=s001 rx_bytes=1i 1700000000123456789\n"
    );
    let s = sample(
        Measurement::Interface,
        router(),
        None,
        vec![(Field::RxBytes, FieldValue::Counter(1))],
    );
    assert!(encode(&s).starts_with("interface,device=r-s001,district=Babek,role=router,"));
}

fn tag_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z ,=\\\\\"'\n\r\t\0#üŞ日]{0,12}",
        Just(String::new()),
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        -1e6f64..1e6
    ]
}

proptest! {
    #[test]
    fn encoded_lines_parse_back(
        school in tag_value(),
        district in tag_value(),
        id in tag_value(),
        key in tag_value(),
        rx in any::<u64>(),
        bps in float(),
        util in float(),
        probe in any::<bool>(),
    ) {
        let dev = device(&id, &school, &district, Role::Router);
        let (m, fields) = if probe {
            (Measurement::Probe, vec![(Field::RttS, FieldValue::Float(bps)),
                                      (Field::LossRatio, FieldValue::Float(util))])
        } else {
            (Measurement::Interface, vec![(Field::RxBytes, FieldValue::Counter(rx)),
                                          (Field::RxBps, FieldValue::Float(bps)),
                                          (Field::Utilization, FieldValue::Float(util))])
        };
        let expected_fields = fields.iter().filter(|(_, v)| match v {
            FieldValue::Counter(c) => *c <= i64::MAX as u64,
            FieldValue::Float(f) => f.is_finite(),
        }).count();
        let s = sample(m, dev, Some(&key), fields);
        let text = encode(&s);
        if expected_fields == 0 {
            prop_assert!(text.is_empty());
            return Ok(());
        }
        let lines: Vec<_> = influxdb_line_protocol::parse_lines(&text).collect();
        prop_assert_eq!(lines.len(), 1, "{:?}", text);
        let line = lines.into_iter().next().unwrap();
        let line = line.map_err(|e| TestCaseError::fail(format!("{e}: {text:?}")))?;
        prop_assert_eq!(line.series.measurement.as_str(), m.as_str());
        let mut expected: Vec<(String, String)> = vec![
            ("device".into(), id.clone()),
            ("district".into(), district.clone()),
            ("school".into(), school.clone()),
            (m.key_tag().unwrap().into(), key.clone()),
        ];
        if !probe {
            expected.push(("role".into(), "router".into()));
        }
        expected.retain(|(_, v)| !v.is_empty());
        expected.iter_mut().for_each(|(_, v)| *v = stored_value(v));
        expected.sort();
        let got: Vec<(String, String)> = line.series.tag_set.iter().flatten()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        prop_assert_eq!(got, expected, "{:?}", text);
        prop_assert_eq!(line.field_set.len(), expected_fields);
        prop_assert_eq!(line.timestamp, Some(T));
    }
}
