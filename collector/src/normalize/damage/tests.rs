use smallvec::smallvec;

use super::super::*;
use super::UNTIMED_BEFORE_ACCEPTED;
use crate::decode::{Reading, Values};
use crate::sample::{CounterWidth, FieldValue};

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;
/// The bound for a router on a 100 Mbit/s uplink: a 10 Gbit/s port.
const MAX_BYTES_PER_S: f64 = 10e9 / 8.0;
const MAX_PACKETS_PER_S: f64 = 10e9 / (84.0 * 8.0);
/// A counter that has run for a while, and 10 s at 100 Mbit/s.
const BIG: u64 = 12_345_678_901_234;
const STEP: u64 = 125_000_000;

fn normalizer() -> Normalizer {
    let inventory = Inventory::from_csv_text(
        "school_id,name,district,lat,lon,uplink_mbps\nNX-001,One,Babek,39.2,45.4,100\n",
        "device_id,school_id,role,expected_interval_s,parent,wan_interface\n\
         rtr-001,NX-001,router,10,,wan\n",
    )
    .unwrap();
    Normalizer::new(Arc::new(inventory), LimitsConfig::default())
}

fn wan(time_ns: Option<i64>, values: Values) -> Decoded<'static> {
    Decoded::Observations(smallvec![Observation {
        device: "rtr-001".into(),
        time_ns,
        measurement: Measurement::Interface,
        key: Some("wan".into()),
        values,
    }])
}

fn int(raw: u64) -> Reading {
    Reading::Counter {
        raw,
        width: CounterWidth::Bits64,
    }
}

fn float(raw: u64) -> Reading {
    Reading::FloatCounter {
        raw,
        width: CounterWidth::Bits64,
    }
}

fn field(out: &Normalized, f: Field) -> Option<FieldValue> {
    let s = out.samples.first()?;
    s.fields.iter().find(|(k, _)| *k == f).map(|(_, v)| *v)
}

fn reasons(out: &Normalized) -> Vec<RejectReason> {
    out.rejects.iter().map(|r| r.reason).collect()
}

#[test]
fn line_without_timestamp_is_refused_where_the_series_carries_them() {
    let mut n = normalizer();
    let rx = |raw| smallvec![(Field::RxBytes, int(raw))];
    n.normalize(wan(Some(T0), rx(BIG)), T0);
    let out = n.normalize(wan(None, rx(BIG + STEP)), T0 + 10 * S);
    assert!(out.samples.is_empty());
    assert_eq!(reasons(&out), [RejectReason::MissingTimestamp]);
    assert!(
        out.rejects[0].detail.contains("`wan`"),
        "{}",
        out.rejects[0].detail
    );
    // The refused line did not disturb the series.
    let out = n.normalize(wan(Some(T0 + 20 * S), rx(BIG + 2 * STEP)), T0 + 20 * S);
    assert_eq!(
        field(&out, Field::RxBytes),
        Some(FieldValue::Counter(2 * STEP))
    );

    // A client that stopped sending timestamps is accepted after a few.
    for i in 1..=UNTIMED_BEFORE_ACCEPTED {
        let t = T0 + (20 + i64::from(i) * 10) * S;
        let out = n.normalize(wan(None, rx(BIG + 3 * STEP)), t);
        assert_eq!(reasons(&out), [RejectReason::MissingTimestamp], "{i}");
    }
    let out = n.normalize(wan(None, rx(BIG + 3 * STEP)), T0 + 60 * S);
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    assert_eq!(
        field(&out, Field::RxBytes),
        Some(FieldValue::Counter(3 * STEP))
    );
}

#[test]
fn series_without_timestamps_uses_the_receive_time() {
    let mut n = normalizer();
    let rx = |raw| smallvec![(Field::RxBytes, int(raw))];
    n.normalize(wan(None, rx(1_000)), T0);
    let out = n.normalize(wan(None, rx(2_000)), T0 + 10 * S);
    assert!(out.rejects.is_empty());
    assert_eq!(out.samples[0].time_ns, T0 + 10 * S);
}

#[test]
fn counter_that_lost_its_integer_type_is_refused_the_rest_kept() {
    let mut n = normalizer();
    n.normalize(
        wan(
            Some(T0),
            smallvec![(Field::RxBytes, int(BIG)), (Field::TxBytes, int(BIG))],
        ),
        T0,
    );
    // `bytes_recv=1234` where `bytes_recv=12345678…i` belongs.
    let out = n.normalize(
        wan(
            Some(T0 + 10 * S),
            smallvec![
                (Field::RxBytes, float(1234)),
                (Field::TxBytes, int(BIG + STEP))
            ],
        ),
        T0 + 10 * S,
    );
    assert_eq!(reasons(&out), [RejectReason::CounterTypeChanged]);
    assert!(
        out.rejects[0].detail.contains("rx_bytes"),
        "{}",
        out.rejects[0].detail
    );
    assert_eq!(field(&out, Field::RxBytes), None);
    assert_eq!(field(&out, Field::TxBytes), Some(FieldValue::Counter(STEP)));
    assert_eq!(field(&out, Field::TxBps), Some(FieldValue::Float(1e8)));

    // A series that always sends floats is a plain counter; so are
    // integers after floats.
    let mut n = normalizer();
    let rx = |r| smallvec![(Field::RxBytes, r)];
    n.normalize(wan(Some(T0), rx(float(1_000))), T0);
    let out = n.normalize(wan(Some(T0 + 10 * S), rx(float(2_000))), T0 + 10 * S);
    assert!(out.rejects.is_empty());
    let out = n.normalize(wan(Some(T0 + 20 * S), rx(int(3_000))), T0 + 20 * S);
    assert!(out.rejects.is_empty());
    assert_eq!(
        field(&out, Field::RxBytes),
        Some(FieldValue::Counter(2_000))
    );
}

#[test]
fn implausible_increase_is_refused_without_rate_or_counter_jump() {
    let mut n = normalizer();
    let both = |rx, tx| smallvec![(Field::RxBytes, int(rx)), (Field::TxBytes, int(tx))];
    n.normalize(wan(Some(T0), both(BIG, BIG)), T0);
    // 250 GB in 10 s (200 Gbit/s) on rx; tx is fine.
    let out = n.normalize(
        wan(Some(T0 + 10 * S), both(BIG + 250_000_000_000, BIG + STEP)),
        T0 + 10 * S,
    );
    assert_eq!(reasons(&out), [RejectReason::ImplausibleRate]);
    let detail = &out.rejects[0].detail;
    assert!(
        detail.contains("rx_bytes") && detail.contains("`wan`"),
        "{detail}"
    );
    assert_eq!(field(&out, Field::RxBytes), None);
    assert_eq!(field(&out, Field::RxBps), None);
    assert_eq!(field(&out, Field::TxBytes), Some(FieldValue::Counter(STEP)));
    // Utilization from the direction that is fine: 100 Mbit/s of 100.
    assert_eq!(
        field(&out, Field::Utilization),
        Some(FieldValue::Float(1.0))
    );
    // The next good value continues from the last trusted one.
    let out = n.normalize(
        wan(Some(T0 + 20 * S), both(BIG + 2 * STEP, BIG + 2 * STEP)),
        T0 + 20 * S,
    );
    assert!(out.rejects.is_empty());
    assert_eq!(
        field(&out, Field::RxBytes),
        Some(FieldValue::Counter(2 * STEP))
    );
    assert_eq!(field(&out, Field::RxBps), Some(FieldValue::Float(1e8)));
}

#[test]
fn truncated_smaller_value_holds_the_counter_then_the_truth_resumes() {
    // The field's case as collectd or a bare value shows it (no type, no
    // timestamp lost): 12345678901234 cut to 1234567.
    let mut n = normalizer();
    let rx = |raw| smallvec![(Field::RxBytes, int(raw))];
    n.normalize(wan(Some(T0), rx(BIG)), T0);
    let out = n.normalize(wan(Some(T0 + 10 * S), rx(1_234_567)), T0 + 10 * S);
    assert!(out.rejects.is_empty());
    assert_eq!(field(&out, Field::RxBytes), Some(FieldValue::Counter(0)));
    assert_eq!(field(&out, Field::RxBps), None);
    let out = n.normalize(wan(Some(T0 + 20 * S), rx(BIG + 2 * STEP)), T0 + 20 * S);
    assert!(out.rejects.is_empty());
    assert_eq!(
        field(&out, Field::RxBytes),
        Some(FieldValue::Counter(2 * STEP))
    );
    assert_eq!(field(&out, Field::RxBps), Some(FieldValue::Float(1e8)));
}

#[test]
fn each_counter_kind_has_its_bound() {
    let cases = [
        (Field::RxBytes, MAX_BYTES_PER_S),
        (Field::TxPackets, MAX_PACKETS_PER_S),
        (Field::RxErrors, MAX_PACKETS_PER_S),
        (Field::TxDrops, MAX_PACKETS_PER_S),
    ];
    for (f, max) in cases {
        let mut n = normalizer();
        let v = |raw| smallvec![(f, int(raw))];
        n.normalize(wan(Some(T0), v(1_000)), T0);
        // At the bound: accepted.
        let at = 1_000 + (max * 10.0) as u64;
        let out = n.normalize(wan(Some(T0 + 10 * S), v(at)), T0 + 10 * S);
        assert!(out.rejects.is_empty(), "{f:?} {:?}", out.rejects);
        // 10 % above it: refused.
        let above = at + (max * 11.0) as u64;
        let out = n.normalize(wan(Some(T0 + 20 * S), v(above)), T0 + 20 * S);
        assert_eq!(reasons(&out), [RejectReason::ImplausibleRate], "{f:?}");
        assert!(out.samples.is_empty(), "{f:?}");
    }
}

#[test]
fn device_computed_rate_above_the_bound_is_not_integrated() {
    let mut n = normalizer();
    let rate = |r| smallvec![(Field::RxBytes, Reading::Rate(r))];
    // Refused even as the first sample of the series.
    let out = n.normalize(wan(Some(T0), rate(25e9)), T0);
    assert_eq!(reasons(&out), [RejectReason::ImplausibleRate]);
    assert!(out.samples.is_empty());
    let out = n.normalize(wan(Some(T0 + 10 * S), rate(1_000.0)), T0 + 10 * S);
    assert_eq!(
        field(&out, Field::RxBytes),
        Some(FieldValue::Counter(10_000))
    );
    let out = n.normalize(wan(Some(T0 + 20 * S), rate(25e9)), T0 + 20 * S);
    assert_eq!(reasons(&out), [RejectReason::ImplausibleRate]);
    assert_eq!(field(&out, Field::RxBps), None);
    // The refused interval is skipped, not integrated at any rate.
    let out = n.normalize(wan(Some(T0 + 30 * S), rate(1_000.0)), T0 + 30 * S);
    assert_eq!(
        field(&out, Field::RxBytes),
        Some(FieldValue::Counter(20_000))
    );
}

#[test]
fn wrap_at_line_rate_and_reboot_are_still_accepted() {
    // A 32-bit counter wrapping at 1 Gbit/s over 30 s, then a reboot.
    let mut n = normalizer();
    let w32 = |raw| {
        smallvec![(
            Field::RxBytes,
            Reading::Counter {
                raw,
                width: CounterWidth::Bits32
            }
        )]
    };
    n.normalize(wan(Some(T0), w32(4_000_000_000)), T0);
    let out = n.normalize(
        wan(
            Some(T0 + 30 * S),
            w32((4_000_000_000 + 3_750_000_000) % (1 << 32)),
        ),
        T0 + 30 * S,
    );
    assert!(out.rejects.is_empty());
    assert_eq!(
        field(&out, Field::RxBytes),
        Some(FieldValue::Counter(3_750_000_000))
    );
    let up = |secs| {
        Decoded::Observations(smallvec![Observation {
            device: "rtr-001".into(),
            time_ns: Some(T0 + 35 * S),
            measurement: Measurement::System,
            key: None,
            values: smallvec![(Field::UptimeS, Reading::Gauge(secs))],
        }])
    };
    n.normalize(up(86_400.0), T0 + 31 * S);
    let mut later = up(3.0);
    if let Decoded::Observations(o) = &mut later {
        o[0].time_ns = Some(T0 + 38 * S);
    }
    n.normalize(later, T0 + 38 * S);
    let out = n.normalize(wan(Some(T0 + 40 * S), w32(500)), T0 + 40 * S);
    assert!(out.rejects.is_empty());
    assert_eq!(
        field(&out, Field::RxBytes),
        Some(FieldValue::Counter(3_750_000_500))
    );
    assert_eq!(field(&out, Field::RxBps), None);
}
