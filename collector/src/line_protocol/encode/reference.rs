//! The encoder as it was before the per-device tag pieces and the
//! precomputed field keys, kept as the reference the fast encoder must
//! match byte for byte: escapes every tag per line, sorts the tags by key,
//! writes field keys through `write_escaped` and numbers through
//! `core::fmt`.

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::inventory::{DeviceInfo, Role};
use crate::sink::influx::testutil::device;

/// Characters escaped in measurement names (the fast encoder writes only
/// names that need none).
const MEASUREMENT_SPECIALS: &[char] = &[',', ' '];

/// Straightforward [`encode_sample`].
fn reference_encode(sample: &Sample, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    write_escaped(sample.measurement.as_str(), MEASUREMENT_SPECIALS, out);

    let device = &sample.device;
    let mut tags: [(&str, &str); 5] = [("", ""); 5];
    tags[0] = ("device", &device.id);
    tags[1] = ("district", device.district());
    tags[2] = ("school", device.school_id());
    let mut n = 3;
    if has_role_tag(sample.measurement) {
        tags[n] = ("role", device.role.as_str());
        n += 1;
    }
    if let Some(key_tag) = sample.measurement.key_tag() {
        tags[n] = (key_tag, sample.key.as_deref().unwrap_or(""));
        n += 1;
    }
    let tags = &mut tags[..n];
    tags.sort_unstable_by_key(|t| t.0);
    for &(k, v) in tags.iter() {
        if v.is_empty() {
            continue;
        }
        out.push(b',');
        write_escaped(k, KEY_SPECIALS, out);
        out.push(b'=');
        write_escaped(v, KEY_SPECIALS, out);
    }

    let m = sample.measurement;
    let written = if is_sorted_unique(&sample.fields) {
        reference_fields(m, &sample.fields, out)
    } else {
        let mut fields = sample.fields.clone();
        fields.sort_by_key(|(f, _)| *f);
        // Duplicates violate the `Sample` contract; keep the first rather
        // than send a line InfluxDB would resolve arbitrarily.
        fields.dedup_by_key(|(f, _)| *f);
        reference_fields(m, &fields, out)
    };
    if written == 0 {
        out.truncate(start);
        return false;
    }
    out.extend_from_slice(format!(" {}\n", sample.time_ns).as_bytes());
    true
}

fn has_role_tag(m: Measurement) -> bool {
    matches!(
        m,
        Measurement::Interface | Measurement::Optical | Measurement::System
    )
}

fn reference_fields(m: Measurement, fields: &[(Field, FieldValue)], out: &mut Vec<u8>) -> usize {
    let mut written = 0;
    for &(field, value) in fields {
        if field.measurement() != m {
            // Violates the `Sample` contract; a stray column would outlive
            // the bug that wrote it.
            continue;
        }
        let mark = out.len();
        out.push(if written == 0 { b' ' } else { b',' });
        write_escaped(field.key(), KEY_SPECIALS, out);
        out.push(b'=');
        if reference_value(field.kind(), value, out) {
            written += 1;
        } else {
            out.truncate(mark);
        }
    }
    written
}

/// The field value through `core::fmt` (unlike the encoder's `number`).
fn reference_value(kind: FieldKind, value: FieldValue, out: &mut Vec<u8>) -> bool {
    let text = match (kind, value) {
        (FieldKind::Counter, FieldValue::Counter(v)) if v <= i64::MAX as u64 => format!("{v}i"),
        (FieldKind::Counter, FieldValue::Float(v))
            if v.is_finite() && v.fract() == 0.0 && v >= 0.0 && v < i64::MAX as f64 =>
        {
            format!("{}i", v as i64)
        }
        (FieldKind::Counter, _) => return false,
        (FieldKind::Gauge, value) => {
            let v = value.as_f64();
            if !v.is_finite() {
                return false;
            } else if v == 0.0 {
                "0".to_string()
            } else if (1e-5..1e16).contains(&v.abs()) {
                format!("{v}")
            } else {
                format!("{v:e}")
            }
        }
    };
    out.extend_from_slice(text.as_bytes());
    true
}

/// [`encode_sample`], checking that [`max_sample_len`] is room enough
/// and that a [`LineEncoder`] writes the same, on the device's first line
/// (tags escaped) and on its second (tags cached).
fn fast(s: &Sample) -> (bool, Vec<u8>) {
    let mut out = b"previous\n".to_vec();
    out.reserve_exact(max_sample_len(s));
    let capacity = out.capacity();
    let wrote = encode_sample(s, &mut out);
    assert_eq!(out.capacity(), capacity, "reallocated");
    let mut encoder = LineEncoder::new();
    for line in ["first", "cached"] {
        let mut again = b"previous\n".to_vec();
        let cached = encoder.encode_sample(s, &mut again);
        assert_eq!((cached, &again), (wrote, &out), "LineEncoder, {line} line");
    }
    (wrote, out)
}

fn reference(s: &Sample) -> (bool, Vec<u8>) {
    let mut out = b"previous\n".to_vec();
    let wrote = reference_encode(s, &mut out);
    (wrote, out)
}

#[test]
fn tag_and_field_keys_need_no_escaping() {
    for (i, m) in Measurement::ALL.into_iter().enumerate() {
        assert_eq!(
            m as usize, i,
            "MEASUREMENT_NAMES is indexed by discriminant"
        );
        let mut out = Vec::new();
        write_escaped(m.as_str(), MEASUREMENT_SPECIALS, &mut out);
        assert_eq!(out, m.as_str().as_bytes());
    }
    for (i, &f) in Field::ALL.iter().enumerate() {
        assert_eq!(f as usize, i, "FIELD_KEYS is indexed by discriminant");
        let mut out = b",".to_vec();
        write_escaped(f.key(), KEY_SPECIALS, &mut out);
        out.push(b'=');
        assert_eq!(out, f.line_key(), "{f:?}");
    }
}

/// Lines of `samples`, in order, through one encoder.
fn stream(encoder: &mut LineEncoder, samples: &[&Sample]) -> String {
    let mut out = Vec::new();
    for s in samples {
        assert!(encoder.encode_sample(s, &mut out));
    }
    String::from_utf8(out).unwrap()
}

fn system(device: Arc<DeviceInfo>) -> Sample {
    Sample {
        measurement: Measurement::System,
        time_ns: 1,
        device,
        key: None,
        fields: vec![(Field::CpuRatio, FieldValue::Float(0.5))],
    }
}

#[test]
fn a_device_changed_after_its_first_line_gets_new_tags() {
    let mut encoder = LineEncoder::new();
    let mut dev = device("r1", "s1", "D", Role::Router);
    let s = system(dev.clone());
    assert_eq!(
        stream(&mut encoder, &[&s]),
        "system,device=r1,district=D,role=router,school=s1 cpu_ratio=0.5 1\n"
    );
    drop(s);
    // Unique again: changed in place after the encoder cached its tags.
    let d = Arc::get_mut(&mut dev).expect("unique");
    d.id = "r 2".into();
    d.role = Role::Switch;
    let s = system(dev.clone());
    assert_eq!(fast(&s), reference(&s));
    let line = stream(&mut encoder, &[&s]);
    assert!(
        line.contains(",device=r\\ 2,district=D,role=switch,"),
        "{line}"
    );
    drop(s);
    // Same id, new school (as an inventory reload would give it).
    let d = Arc::get_mut(&mut dev).expect("unique");
    d.school = device("x", "s9", "E", Role::Router).school.clone();
    let s = system(dev);
    let line = stream(&mut encoder, &[&s]);
    assert!(
        line.contains(",district=E,role=switch,school=s9 "),
        "{line}"
    );
}

#[test]
fn interleaved_devices_keep_their_own_tags() {
    let mut encoder = LineEncoder::new();
    let a = system(device("a", "s1", "D", Role::Router));
    let b = system(device("b", "s2", "D", Role::Ont));
    let together = stream(&mut encoder, &[&a, &b, &a, &a, &b]);
    let apart: String = [&a, &b, &a, &a, &b]
        .into_iter()
        .map(|s| {
            String::from_utf8(reference(s).1)
                .unwrap()
                .replacen("previous\n", "", 1)
        })
        .collect();
    assert_eq!(together, apart);
    assert_eq!(encoder.tags.len(), 2, "one entry per device");
}

#[test]
fn devices_are_plain_data() {
    let dev = device("r1", "s1", "D", Role::Router);
    let mut encoder = LineEncoder::new();
    stream(&mut encoder, &[&system(dev.clone())]);
    let copy: DeviceInfo = (*dev).clone();
    assert_eq!(copy, *dev);
    let mut other = copy.clone();
    other.role = Role::Switch;
    assert_ne!(other, *dev, "PartialEq sees every field");
}

#[test]
fn max_encoded_len_is_room_enough_for_outages_and_lines() {
    let school = device("r", "s 1,\\", "=\n", Role::Router).school.clone();
    for duration_s in [f64::MAX, -1.0, 1e-300, 0.1 + 0.2] {
        let outage = InfluxRecord::Outage(OutageRecord {
            school: school.clone(),
            cause: "link down",
            started_ns: i64::MIN,
            outage_started_ns: i64::MIN,
            duration_s,
            open: false,
        });
        let mut out = Vec::with_capacity(max_encoded_len(&outage));
        let capacity = out.capacity();
        assert!(encode_record(&outage, &mut out));
        assert_eq!(out.capacity(), capacity);
    }
    let lines = InfluxRecord::Lines {
        spool_id: 1,
        lines: b"a x=1 1".to_vec(),
    };
    let mut out = Vec::with_capacity(max_encoded_len(&lines));
    encode_record(&lines, &mut out);
    assert_eq!(out.capacity(), 8);
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9-]{1,12}",
        2 => "[a-z ,=\\\\\"'\n\r\t\0\x7f#üŞ日]{0,12}",
        1 => any::<String>(),
        1 => Just(String::new()),
    ]
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(vec![
        Role::Router,
        Role::Ont,
        Role::Olt,
        Role::Switch,
        Role::Ap,
    ])
}

fn value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        any::<u64>().prop_map(FieldValue::Counter),
        (0u64..1 << 40).prop_map(FieldValue::Counter),
        Just(FieldValue::Counter(i64::MAX as u64)),
        Just(FieldValue::Counter(i64::MAX as u64 + 1)),
        any::<f64>().prop_map(FieldValue::Float),
        (-1e9f64..1e9).prop_map(FieldValue::Float),
        (0u32..1 << 20).prop_map(|v| FieldValue::Float(f64::from(v) / 16.0)),
        prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            1e16,
            9_223_372_036_854_775_807.0,
            -1.0,
            1.5,
        ])
        .prop_map(FieldValue::Float),
    ]
}

/// Mostly well-formed field sets of one measurement, sometimes out of
/// order, duplicated or with fields of other measurements.
fn fields(m: Measurement) -> impl Strategy<Value = Vec<(Field, FieldValue)>> {
    let own: Vec<Field> = Field::ALL
        .iter()
        .copied()
        .filter(|f| f.measurement() == m)
        .collect();
    let well_formed = prop::sample::subsequence(own.clone(), 0..=own.len())
        .prop_flat_map(|fs| {
            let n = fs.len();
            (Just(fs), prop::collection::vec(value(), n))
        })
        .prop_map(|(fs, vs)| fs.into_iter().zip(vs).collect::<Vec<_>>());
    let any_order =
        prop::collection::vec((prop::sample::select(Field::ALL.to_vec()), value()), 0..8);
    prop_oneof![4 => well_formed, 1 => any_order]
}

fn sample() -> impl Strategy<Value = Sample> {
    let device = (text(), text(), text(), role())
        .prop_map(|(id, school, district, role)| device(&id, &school, &district, role));
    (
        prop::sample::select(Measurement::ALL.to_vec()),
        device,
        prop::option::of(text()),
        any::<i64>(),
    )
        .prop_flat_map(|(m, device, key, time_ns)| {
            fields(m).prop_map(move |fields| Sample {
                measurement: m,
                time_ns,
                device: device.clone(),
                key: key.as_deref().map(Into::into),
                fields,
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]
    #[test]
    fn fast_encoder_matches_the_reference(s in sample()) {
        let expected = reference(&s);
        // The first line fills the device's pieces, the second uses them.
        prop_assert_eq!(fast(&s), expected.clone());
        prop_assert_eq!(fast(&s), expected);
    }
}
