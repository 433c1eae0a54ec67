//! Shared harness for the fuzz targets in `fuzz_targets/`.
//!
//! # Input layout of the decoder targets
//!
//! `<topic>\n<payload>` or just `<payload>`:
//! if the input's first line is a topic that the built-in routes send to the
//! target's format, it picks the route (and so its topic variables: collectd
//! plugin/type, probe target, the JSON mapping of `ont/…` vs `mikrotik/…`) and
//! the rest is the payload. Otherwise the whole input is the payload of the
//! target's default topic. So a bare payload is a valid seed, and the fuzzer
//! can still explore topic variables.
//!
//! # Invariants checked on every decoder output
//!
//! - decoding never panics (libFuzzer reports a panic as a crash);
//! - every [`Observation`] has at least one value;
//! - every field belongs to the observation's measurement;
//! - gauges and rates are finite, rates are also non-negative
//!   (documented on [`Reading`]).

use std::sync::{Arc, OnceLock};

use collector::config::{compile_routes, default_routes, LimitsConfig};
use collector::decode::{self, DecodeContext, Decoded, Format, Observation, Reading};
use collector::inventory::Inventory;
use collector::line_protocol::{encode_record, stored_value};
use collector::normalize::Normalizer;
use collector::route::{Route, RouteTable, TopicVars};
use collector::sample::{FieldValue, InfluxRecord, Sample};

/// The built-in routes, compiled once per process.
pub fn routes() -> &'static RouteTable {
    static ROUTES: OnceLock<RouteTable> = OnceLock::new();
    ROUTES.get_or_init(|| compile_routes(&default_routes()).expect("built-in routes compile"))
}

/// Picks route, topic variables and payload for a decoder target whose
/// format is `format` (as in the config: `collectd`, `json`, …); see the
/// module docs for the input layout.
pub fn route_input<'a>(
    format: &str,
    default_topic: &'a str,
    data: &'a [u8],
) -> (&'a Route, TopicVars<'a>, &'a [u8]) {
    let table = routes();
    if let Some(nl) = data.iter().position(|&b| b == b'\n') {
        if let Ok(topic) = std::str::from_utf8(&data[..nl]) {
            if let Some((route, vars)) = table.find(topic) {
                if route.format.name() == format {
                    return (route, vars, &data[nl + 1..]);
                }
            }
        }
    }
    let (route, vars) = table
        .find(default_topic)
        .expect("default topic matches a built-in route");
    assert_eq!(route.format.name(), format, "default topic {default_topic}");
    (route, vars, data)
}

/// Decodes `payload` with `format` and checks the output invariants.
pub fn decode_checked<'a>(
    format: &Format,
    route: &Route,
    vars: &'a TopicVars<'a>,
    payload: &'a [u8],
) -> Option<Decoded<'a>> {
    let ctx = DecodeContext {
        vars,
        counter_width: route.counter_width,
    };
    let decoded = decode::decode(format, ctx, payload).ok()?;
    check_decoded(&decoded, payload);
    Some(decoded)
}

/// The whole decoder target: route the input, decode, check.
pub fn fuzz_decoder(format: &str, default_topic: &str, data: &[u8]) {
    let (route, vars, payload) = route_input(format, default_topic, data);
    decode_checked(&route.format, route, &vars, payload);
}

pub fn check_decoded(decoded: &Decoded, payload: &[u8]) {
    if let Decoded::Observations(observations) = decoded {
        for obs in observations {
            check_observation(obs, payload);
        }
    }
}

fn check_observation(obs: &Observation, payload: &[u8]) {
    assert!(
        !obs.values.is_empty(),
        "observation without values: {obs:?} from {payload:?}"
    );
    for (field, reading) in &obs.values {
        assert_eq!(
            field.measurement(),
            obs.measurement,
            "field {field:?} outside its measurement: {obs:?} from {payload:?}"
        );
        match *reading {
            Reading::Gauge(v) => {
                assert!(v.is_finite(), "non-finite gauge: {obs:?} from {payload:?}")
            }
            Reading::Rate(v) => assert!(
                v.is_finite() && v >= 0.0,
                "rate not finite and non-negative: {obs:?} from {payload:?}"
            ),
            Reading::Counter { .. } | Reading::FloatCounter { .. } => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Whole pipeline

const SCHOOLS_CSV: &str = "\
school_id,name,district,lat,lon,uplink_mbps
S-1,\"School 1, Town\",Town,39.1,45.4,100
S-2,School 2,Village,39.2,45.5,20
";

const DEVICES_CSV: &str = "\
device_id,school_id,role,expected_interval_s,parent,wan_interface,counter_bits
olt-1,S-1,olt,60,,,
ont-1,S-1,ont,30,olt-1,,
rtr-1,S-1,router,10,ont-1,wan,32
rtr-2,S-2,router,10,,eth0,
ap-2,S-2,ap,60,rtr-2,,
";

/// The small inventory the `pipeline` target normalizes against
/// (devices `olt-1`, `ont-1`, `rtr-1`, `rtr-2`, `ap-2`).
pub fn inventory() -> Arc<Inventory> {
    static INVENTORY: OnceLock<Arc<Inventory>> = OnceLock::new();
    INVENTORY
        .get_or_init(|| {
            Arc::new(Inventory::from_csv_text(SCHOOLS_CSV, DEVICES_CSV).expect("fuzz inventory"))
        })
        .clone()
}

/// Receive time of the first message: 2023-11-14T22:13:20Z, so seeds with a
/// device time of `1700000000` pass the clock-skew check.
pub const BASE_NS: i64 = 1_700_000_000_000_000_000;
/// Receive time advances this much per message.
pub const STEP_NS: i64 = 10_000_000_000;
/// Messages in one input are separated by this byte (never in UTF-8 text).
pub const MESSAGE_SEPARATOR: u8 = 0xFF;
/// At most this many messages per input are processed.
pub const MAX_MESSAGES: usize = 32;

/// The `pipeline` target. The input is up to [`MAX_MESSAGES`] messages
/// separated by `0xFF`, each `<topic>\n<payload>`, received 10 s apart by
/// one normalizer (so counter state, wraps and resets are exercised). Each
/// message is routed by the built-in routes, size-limited, decoded,
/// normalized against [`inventory`] and encoded to line protocol, as
/// `collector::pipeline` does. Checks the decoder invariants, the sample
/// invariants, and that every encoded line parses back with
/// `influxdb_line_protocol` into the same measurement, timestamp, field keys
/// and key tag (as [`stored_value`] says a server stores it).
pub fn fuzz_pipeline(data: &[u8]) {
    let limits = LimitsConfig::default();
    let max_payload = limits.max_payload_bytes;
    let mut normalizer = Normalizer::new(inventory(), limits);
    let table = routes();
    for (i, msg) in data
        .split(|&b| b == MESSAGE_SEPARATOR)
        .take(MAX_MESSAGES)
        .enumerate()
    {
        let received_ns = BASE_NS + i as i64 * STEP_NS;
        let (topic, payload) = match msg.iter().position(|&b| b == b'\n') {
            Some(nl) => (&msg[..nl], &msg[nl + 1..]),
            None => (msg, &msg[msg.len()..]),
        };
        // MQTT topics are UTF-8 (the client library hands them over as String).
        let Ok(topic) = std::str::from_utf8(topic) else {
            continue;
        };
        let Some((route, vars)) = table.find(topic) else {
            continue;
        };
        if payload.len() > max_payload {
            continue;
        }
        let Some(decoded) = decode_checked(&route.format, route, &vars, payload) else {
            continue;
        };
        let normalized = normalizer.normalize(decoded, received_ns);
        for sample in normalized.samples {
            check_sample(&sample);
            check_encoding(sample);
        }
    }
}

fn check_sample(s: &Sample) {
    assert!(!s.fields.is_empty(), "sample without fields: {s:?}");
    assert!(
        s.fields.windows(2).all(|w| w[0].0 < w[1].0),
        "fields not sorted and unique: {s:?}"
    );
    for (field, value) in &s.fields {
        assert_eq!(field.measurement(), s.measurement, "{s:?}");
        if let FieldValue::Float(v) = value {
            assert!(v.is_finite(), "non-finite float field: {s:?}");
        }
    }
}

fn check_encoding(sample: Sample) {
    let mut out = Vec::new();
    let record = InfluxRecord::Sample(sample);
    let written = encode_record(&record, &mut out);
    let InfluxRecord::Sample(sample) = record else {
        unreachable!()
    };
    if !written {
        assert!(
            out.is_empty(),
            "nothing written but bytes appended: {out:?}"
        );
        return;
    }
    let text = std::str::from_utf8(&out)
        .unwrap_or_else(|e| panic!("encoded line is not UTF-8 ({e}): {out:?}"));
    assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "{text:?}"
    );
    let lines: Vec<_> = influxdb_line_protocol::parse_lines(text).collect();
    assert_eq!(lines.len(), 1, "one sample, one line: {text:?}");
    let line = match lines.into_iter().next().unwrap() {
        Ok(line) => line,
        Err(e) => panic!("encoded line does not parse: {e}: {text:?} from {sample:?}"),
    };
    assert_eq!(
        line.series.measurement.as_str(),
        sample.measurement.as_str(),
        "{text:?}"
    );
    assert_eq!(line.timestamp, Some(sample.time_ns), "{text:?}");
    assert!(!line.field_set.is_empty(), "{text:?}");
    for (key, _) in &line.field_set {
        assert!(
            sample.fields.iter().any(|(f, _)| f.key() == key.as_str()),
            "field `{key}` not in the sample: {text:?} from {sample:?}"
        );
    }
    if let (Some(tag), Some(raw)) = (sample.measurement.key_tag(), sample.key.as_deref()) {
        let got = line
            .series
            .tag_set
            .iter()
            .flatten()
            .find(|(k, _)| k.as_str() == tag)
            .map(|(_, v)| v.to_string());
        let expected = (!raw.is_empty()).then(|| stored_value(raw));
        assert_eq!(got, expected, "key tag `{tag}` of {raw:?}: {text:?}");
    }
}

// ---------------------------------------------------------------------------
// Line protocol: the decoder's parser against the crate it replaced

/// A parsed line in a form both parsers map to: measurement, tags, fields
/// (typed values as text, floats by their bits) and timestamp.
type Parsed = (
    String,
    Vec<(String, String)>,
    Vec<(String, String)>,
    Option<i64>,
);

fn ours_parsed(l: &collector::line_protocol::parse::Line<'_>) -> Parsed {
    use collector::line_protocol::parse::LineValue;
    let tags = l.tags.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let fields = l.fields.iter().map(|(k, v)| {
        let v = match v {
            LineValue::I64(i) => format!("{i}i"),
            LineValue::U64(u) => format!("{u}u"),
            LineValue::F64(f) => format!("{:#x}f", f.to_bits()),
            LineValue::Bool(b) => b.to_string(),
            LineValue::Str(s) => format!("{s:?}"),
        };
        (k.to_string(), v)
    });
    let m = l.measurement.to_string();
    (m, tags.collect(), fields.collect(), l.timestamp)
}

fn their_parsed(l: &influxdb_line_protocol::ParsedLine<'_>) -> Parsed {
    use influxdb_line_protocol::FieldValue;
    let tags = (l.series.tag_set.iter().flatten()).map(|(k, v)| (k.to_string(), v.to_string()));
    let fields = l.field_set.iter().map(|(k, v)| {
        let v = match v {
            FieldValue::I64(i) => format!("{i}i"),
            FieldValue::U64(u) => format!("{u}u"),
            FieldValue::F64(f) => format!("{:#x}f", f.to_bits()),
            FieldValue::Boolean(b) => b.to_string(),
            FieldValue::String(s) => format!("{:?}", s.as_str()),
        };
        (k.to_string(), v)
    });
    let m = l.series.measurement.to_string();
    (m, tags.collect(), fields.collect(), l.timestamp)
}

/// The `line_protocol_diff` target: `collector::line_protocol::parse` and
/// the `influxdb-line-protocol` crate (as the `influx` decoder used it:
/// `split_lines`, then `parse_lines` per piece) must reject the same lines
/// and parse the others to the same measurement, tags, typed field values
/// and timestamp, at the same physical line numbers. The one documented
/// difference (a `,` after the first field at the line's end or before the
/// timestamp, accepted by the crate only; see
/// `collector/src/line_protocol/parse/tests.rs`) is checked instead: such a
/// line parses as the crate's once that comma is removed.
pub fn line_protocol_diff(text: &str) {
    use collector::line_protocol::parse as line_protocol;

    let ours: Vec<_> = line_protocol::lines(text).collect();
    let mut theirs = Vec::new();
    let mut number = 1;
    for chunk in influxdb_line_protocol::split_lines(text) {
        for r in influxdb_line_protocol::parse_lines(chunk) {
            theirs.push((number, chunk, r.ok().map(|l| their_parsed(&l))));
        }
        number += 1 + chunk.matches('\n').count();
    }

    assert_eq!(ours.len(), theirs.len(), "line count differs for {text:?}");
    for (ours, (number, chunk, theirs)) in ours.into_iter().zip(theirs) {
        let ours = match ours {
            Ok(line) => (line.number, Some(ours_parsed(&line))),
            Err(e) if theirs.is_some() && e.to_string().starts_with("trailing `,`") => {
                // The documented difference: the crate ignored that comma.
                let comma =
                    (chunk.char_indices().nth(e.column - 1)).map_or(chunk.len(), |(i, _)| i);
                assert_eq!(chunk.get(comma..comma + 1), Some(","), "{e} in {chunk:?}");
                let fixed = format!("{}{}", &chunk[..comma], &chunk[comma + 1..]);
                let mut again = line_protocol::lines(&fixed);
                let line = again.next().expect("one line").unwrap_or_else(|e| {
                    panic!("{chunk:?} without its trailing comma is rejected: {e}")
                });
                assert!(again.next().is_none(), "{fixed:?}");
                (number, Some(ours_parsed(&line)))
            }
            Err(e) => (e.line, None),
        };
        assert_eq!(
            ours,
            (number, theirs),
            "parsers disagree on {chunk:?} in {text:?}"
        );
    }
}
