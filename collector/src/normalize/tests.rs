use smallvec::smallvec;

use super::*;
use crate::decode::{Reading, StatusReport};
use crate::sample::{CounterWidth, FieldKind, FieldValue};

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;

fn inventory() -> Arc<Inventory> {
    Arc::new(
        Inventory::from_csv_text(
            "school_id,name,district,lat,lon,uplink_mbps\nNX-001,One,Babek,39.2,45.4,100\n",
            "device_id,school_id,role,expected_interval_s,parent,wan_interface\n\
             rtr-001,NX-001,router,10,,wan\nont-001,NX-001,ont,30,,\n",
        )
        .unwrap(),
    )
}

fn normalizer() -> Normalizer {
    Normalizer::new(inventory(), LimitsConfig::default())
}

fn octets(raw_rx: u64, raw_tx: u64, t: i64, width: CounterWidth) -> Decoded<'static> {
    Decoded::Observations(smallvec![Observation {
        device: "rtr-001".into(),
        time_ns: Some(t),
        measurement: Measurement::Interface,
        key: Some("wan".into()),
        values: smallvec![
            (Field::RxBytes, Reading::Counter { raw: raw_rx, width }),
            (Field::TxBytes, Reading::Counter { raw: raw_tx, width }),
        ],
    }])
}

fn uptime(secs: f64, t: i64) -> Decoded<'static> {
    Decoded::Observations(smallvec![Observation {
        device: "rtr-001".into(),
        time_ns: Some(t),
        measurement: Measurement::System,
        key: None,
        values: smallvec![(Field::UptimeS, Reading::Gauge(secs))],
    }])
}

fn field(sample: &Sample, f: Field) -> Option<FieldValue> {
    sample.fields.iter().find(|(k, _)| *k == f).map(|(_, v)| *v)
}

#[test]
fn joins_inventory_and_derives_rate_and_utilization() {
    let mut n = normalizer();
    let first = n.normalize(octets(1_000, 500, T0, CounterWidth::Bits64), T0);
    let s = &first.samples[0];
    assert_eq!(s.device.school_id(), "NX-001");
    assert_eq!(s.device.district(), "Babek");
    assert_eq!(field(s, Field::RxBytes), Some(FieldValue::Counter(0)));
    assert_eq!(field(s, Field::RxBps), None, "no rate on the first sample");

    // 12.5 MB in 10 s = 10 Mbit/s on a 100 Mbit/s uplink.
    let next = n.normalize(
        octets(12_501_000, 500, T0 + 10 * S, CounterWidth::Bits64),
        T0 + 10 * S,
    );
    let s = &next.samples[0];
    assert_eq!(
        field(s, Field::RxBytes),
        Some(FieldValue::Counter(12_500_000))
    );
    assert_eq!(field(s, Field::RxBps), Some(FieldValue::Float(10e6)));
    assert_eq!(field(s, Field::TxBps), Some(FieldValue::Float(0.0)));
    assert_eq!(field(s, Field::Utilization), Some(FieldValue::Float(0.1)));
    // Fields come out in canonical order, without duplicates.
    let order: Vec<Field> = s.fields.iter().map(|(f, _)| *f).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
}

#[test]
fn wraps_32_bit_counters_through_the_pipeline() {
    let mut n = normalizer();
    let near = u64::from(u32::MAX) - 999;
    n.normalize(octets(near, 0, T0, CounterWidth::Bits32), T0);
    let out = n.normalize(
        octets(1_000, 0, T0 + 10 * S, CounterWidth::Bits32),
        T0 + 10 * S,
    );
    let s = &out.samples[0];
    assert_eq!(field(s, Field::RxBytes), Some(FieldValue::Counter(2_000)));
    assert_eq!(field(s, Field::RxBps), Some(FieldValue::Float(1_600.0)));
}

#[test]
fn wraps_64_bit_counters() {
    let mut n = normalizer();
    n.normalize(octets(u64::MAX - 499, 0, T0, CounterWidth::Bits64), T0);
    let out = n.normalize(
        octets(500, 0, T0 + 10 * S, CounterWidth::Bits64),
        T0 + 10 * S,
    );
    assert_eq!(
        field(&out.samples[0], Field::RxBytes),
        Some(FieldValue::Counter(1_000))
    );
}

#[test]
fn reboot_resets_counters_without_a_rate_spike() {
    let mut n = normalizer();
    n.normalize(uptime(86_400.0, T0), T0);
    n.normalize(
        octets(u64::from(u32::MAX) - 10, 0, T0, CounterWidth::Bits32),
        T0,
    );
    // The router rebooted: uptime went down, counter restarted from zero.
    n.normalize(uptime(5.0, T0 + 9 * S), T0 + 9 * S);
    let out = n.normalize(
        octets(300, 0, T0 + 10 * S, CounterWidth::Bits32),
        T0 + 10 * S,
    );
    let s = &out.samples[0];
    assert_eq!(field(s, Field::RxBytes), Some(FieldValue::Counter(300)));
    assert_eq!(field(s, Field::RxBps), None, "no rate across a reset");
    let out = n.normalize(
        octets(1_300, 0, T0 + 20 * S, CounterWidth::Bits32),
        T0 + 20 * S,
    );
    assert_eq!(
        field(&out.samples[0], Field::RxBytes),
        Some(FieldValue::Counter(1_300))
    );
    assert_eq!(
        field(&out.samples[0], Field::RxBps),
        Some(FieldValue::Float(800.0))
    );
}

#[test]
fn out_of_order_counter_is_rejected_but_duplicates_are_idempotent() {
    let mut n = normalizer();
    n.normalize(
        octets(1_000, 0, T0 + 10 * S, CounterWidth::Bits64),
        T0 + 10 * S,
    );
    let out = n.normalize(octets(900, 0, T0, CounterWidth::Bits64), T0 + 11 * S);
    assert!(out.samples.is_empty());
    assert_eq!(out.rejects[0].reason, RejectReason::OutOfOrder);
    assert!(
        out.rejects[0].detail.contains("rx_bytes"),
        "{}",
        out.rejects[0].detail
    );

    let dup = n.normalize(
        octets(1_000, 0, T0 + 10 * S, CounterWidth::Bits64),
        T0 + 12 * S,
    );
    assert_eq!(
        field(&dup.samples[0], Field::RxBytes),
        Some(FieldValue::Counter(0))
    );
    assert!(dup.rejects.is_empty());
}

#[test]
fn collectd_rates_are_integrated_into_counters() {
    let mut n = normalizer();
    let rates = |rx: f64, t: i64| {
        Decoded::Observations(smallvec![Observation {
            device: "rtr-001".into(),
            time_ns: Some(t),
            measurement: Measurement::Interface,
            key: Some("wan".into()),
            values: smallvec![(Field::RxBytes, Reading::Rate(rx))],
        }])
    };
    let first = n.normalize(rates(1_000.0, T0), T0);
    assert_eq!(
        field(&first.samples[0], Field::RxBytes),
        Some(FieldValue::Counter(0))
    );
    assert_eq!(
        field(&first.samples[0], Field::RxBps),
        Some(FieldValue::Float(8_000.0))
    );
    let next = n.normalize(rates(2_000.0, T0 + 10 * S), T0 + 10 * S);
    assert_eq!(
        field(&next.samples[0], Field::RxBytes),
        Some(FieldValue::Counter(20_000))
    );
}

#[test]
fn unknown_devices_and_bad_times_are_rejected() {
    let mut n = normalizer();
    let mut d = octets(1, 1, T0, CounterWidth::Bits64);
    if let Decoded::Observations(obs) = &mut d {
        obs[0].device = "rtr-999".into();
    }
    let out = n.normalize(d, T0);
    assert_eq!(out.rejects[0].reason, RejectReason::UnknownDevice);
    assert!(out.rejects[0].detail.contains("rtr-999"));

    let out = n.normalize(octets(1, 1, T0 + 3_600 * S, CounterWidth::Bits64), T0);
    assert_eq!(out.rejects[0].reason, RejectReason::BadTimestamp);
    let out = n.normalize(octets(1, 1, T0 - 30 * 86_400 * S, CounterWidth::Bits64), T0);
    assert_eq!(out.rejects[0].reason, RejectReason::BadTimestamp);

    let out = n.normalize(
        Decoded::Status(StatusReport {
            device: "ghost".into(),
            online: false,
        }),
        T0,
    );
    assert_eq!(out.rejects[0].reason, RejectReason::UnknownDevice);
}

#[test]
fn status_events_carry_the_device() {
    let mut n = normalizer();
    let out = n.normalize(
        Decoded::Status(StatusReport {
            device: "rtr-001".into(),
            online: false,
        }),
        T0,
    );
    let ev = out.status.unwrap();
    assert_eq!(ev.device.school_id(), "NX-001");
    assert!(!ev.online);
}

#[test]
fn inventory_reload_keeps_state_of_remaining_devices() {
    let mut n = normalizer();
    n.normalize(octets(1_000, 0, T0, CounterWidth::Bits64), T0);
    assert_eq!(n.tracked_series(), 2);
    n.set_inventory(inventory());
    assert_eq!(n.tracked_series(), 2);
}

fn limited(f: impl FnOnce(&mut LimitsConfig)) -> Normalizer {
    let mut limits = LimitsConfig::default();
    f(&mut limits);
    Normalizer::new(inventory(), limits)
}

fn iface<'a>(device: &'a str, key: &'a str, fields: &[Field]) -> Observation<'a> {
    Observation {
        device: device.into(),
        time_ns: Some(T0),
        measurement: Measurement::Interface,
        key: Some(key.into()),
        values: fields
            .iter()
            .map(|f| (*f, Reading::Gauge(1.0)))
            .map(|(f, r)| match f.kind() {
                FieldKind::Counter => (
                    f,
                    Reading::Counter {
                        raw: 1,
                        width: CounterWidth::Bits64,
                    },
                ),
                FieldKind::Gauge => (f, r),
            })
            .collect(),
    }
}

#[test]
fn too_many_values_reject_the_whole_message() {
    let mut n = limited(|l| l.max_fields_per_message = 3);
    let two = || iface("rtr-001", "wan", &[Field::RxBytes, Field::TxBytes]);
    let out = n.normalize(Decoded::Observations(smallvec![two(), two()]), T0);
    assert!(out.samples.is_empty());
    assert_eq!(out.rejects.len(), 1);
    assert_eq!(out.rejects[0].reason, RejectReason::TooManyFields);
    assert!(
        out.rejects[0].detail.contains("4 values"),
        "{:?}",
        out.rejects
    );
    assert_eq!(n.tracked_series(), 0, "nothing of it was looked at");
    let out = n.normalize(Decoded::Observations(smallvec![two()]), T0);
    assert_eq!(out.samples.len(), 1);
}

#[test]
fn long_ids_and_keys_are_rejected_before_lookup() {
    let mut n = limited(|l| l.max_tag_value_bytes = 16);
    let long = "x".repeat(17);
    let longest = "y".repeat(16);
    let out = n.normalize(
        Decoded::Observations(smallvec![
            iface(&long, "wan", &[Field::RxBytes]),
            iface("rtr-001", &long, &[Field::RxBytes]),
            iface("rtr-001", &longest, &[Field::RxBytes]),
        ]),
        T0,
    );
    let reasons: Vec<_> = out.rejects.iter().map(|r| r.reason).collect();
    assert_eq!(reasons, [RejectReason::TagTooLong; 2], "{:?}", out.rejects);
    assert!(out.rejects[0].detail.contains("device id"));
    assert!(out.rejects[1].detail.contains("interface"));
    assert!(out.rejects[1].detail.contains("17 bytes > limit 16"));
    assert_eq!(out.samples.len(), 1, "the 16-byte key is fine");
    let out = n.normalize(
        Decoded::Status(StatusReport {
            device: "z".repeat(1 << 20).into(),
            online: true,
        }),
        T0,
    );
    assert_eq!(out.rejects[0].reason, RejectReason::TagTooLong);
    assert!(out.rejects[0].detail.len() < 200);
}

#[test]
fn series_budget_keeps_known_series_and_drops_new_ones() {
    let mut n = limited(|l| l.max_series_per_device = 3);
    let out = n.normalize(
        Decoded::Observations(smallvec![iface(
            "rtr-001",
            "wan",
            &[Field::RxBytes, Field::TxBytes],
        )]),
        T0,
    );
    assert!(out.rejects.is_empty());
    assert_eq!(n.tracked_series(), 2);
    // One more fits; the fourth and fifth are dropped, the rest written.
    let out = n.normalize(
        Decoded::Observations(smallvec![iface(
            "rtr-001",
            "lan",
            &[Field::RxBytes, Field::TxBytes, Field::OperUp],
        )]),
        T0,
    );
    assert_eq!(out.rejects.len(), 1);
    let r = &out.rejects[0];
    assert_eq!(r.reason, RejectReason::SeriesLimit);
    assert!(
        r.detail.contains("rtr-001")
            && r.detail.contains("`lan`")
            && r.detail.contains("tx_bytes,oper_up"),
        "{r:?}"
    );
    let fields: Vec<Field> = out.samples[0].fields.iter().map(|(f, _)| *f).collect();
    assert_eq!(fields, [Field::RxBytes]);
    assert_eq!(n.tracked_series(), 3);
    assert_eq!(n.take_series_limit_hits(), 2);
    assert_eq!(n.take_series_limit_hits(), 0, "taken");
    // Known series keep flowing; an observation of only new ones is dropped.
    let out = n.normalize(
        Decoded::Observations(smallvec![
            iface("rtr-001", "wan", &[Field::RxBytes, Field::TxBytes]),
            iface("rtr-001", "eth9", &[Field::RxBytes]),
        ]),
        T0 + S,
    );
    assert_eq!(out.samples.len(), 1);
    assert_eq!(out.samples[0].key.as_deref(), Some("wan"));
    assert_eq!(out.rejects[0].reason, RejectReason::SeriesLimit);
    // The budget is per device.
    let out = n.normalize(
        Decoded::Observations(smallvec![Observation {
            device: "ont-001".into(),
            time_ns: Some(T0),
            measurement: Measurement::Optical,
            key: None,
            values: smallvec![(Field::RxDbm, Reading::Gauge(-18.0))],
        }]),
        T0,
    );
    assert!(out.rejects.is_empty());
    assert_eq!(n.tracked_series(), 4);
    // Devices that leave the inventory free their series.
    n.set_inventory(Arc::new(
        Inventory::from_csv_text(
            "school_id,name,district,lat,lon,uplink_mbps\nNX-001,One,Babek,39.2,45.4,100\n",
            "device_id,school_id,role,expected_interval_s,parent\nont-001,NX-001,ont,30,\n",
        )
        .unwrap(),
    ));
    assert_eq!(n.tracked_series(), 1);
}
