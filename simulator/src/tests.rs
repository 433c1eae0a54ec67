use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use collector::config::{compile_routes, default_routes};
use collector::inventory::{Inventory, Role};
use collector::sample::Measurement;
use influxdb_line_protocol::{FieldValue, ParsedLine};

use super::fleet::counter_add;
use super::model::{activity, unix_ms};
use super::publish::parse_broker;
use super::*;

/// Monday 2026-11-16 10:00 local (06:00 UTC): school hours.
fn monday_10am() -> SystemTime {
    // 2026-11-16T06:00:00Z
    UNIX_EPOCH + Duration::from_secs(1_794_808_800)
}

fn sample() -> Arc<Inventory> {
    Arc::new(sample_inventory().expect("sample inventory loads"))
}

fn fleet(schools: Option<usize>, seed: u64, start: SystemTime) -> Fleet {
    Fleet::new(
        &sample(),
        FleetOptions {
            schools,
            seed,
            start,
        },
    )
}

/// Drains the natural schedule from `start` for `secs` seconds, in 1 s steps.
fn drain(fleet: &mut Fleet, start: SystemTime, secs: u64) -> Vec<SimMessage> {
    drain_every(
        fleet,
        start,
        Duration::from_secs(secs),
        Duration::from_secs(1),
    )
}

/// Drains the natural schedule from `start` for `span`, in `step`s.
fn drain_every(
    fleet: &mut Fleet,
    start: SystemTime,
    span: Duration,
    step: Duration,
) -> Vec<SimMessage> {
    let mut out = fleet.start_messages(start);
    let mut t = start;
    while t <= start + span {
        out.extend(fleet.next_messages(t));
        t += step;
    }
    out
}

#[test]
fn sample_inventory_is_complete_and_consistent() {
    let inv = sample();
    assert_eq!(inv.schools().len(), 216);
    let districts: Vec<String> = inv.districts().iter().map(|d| d.to_string()).collect();
    assert_eq!(
        districts,
        [
            "Babek",
            "Julfa",
            "Kangarli",
            "Ordubad",
            "Sadarak",
            "Shahbuz",
            "Sharur",
            "Nakhchivan city"
        ]
    );
    for (i, s) in inv.schools().iter().enumerate() {
        assert_eq!(&*s.id, format!("NX-{:03}", i + 1));
        assert!(
            (38.8..=39.75).contains(&s.lat) && (44.8..=46.2).contains(&s.lon),
            "{s:?}"
        );
        assert!(
            [50.0, 100.0, 200.0, 500.0, 1000.0].contains(&s.uplink_mbps),
            "{s:?}"
        );
        let n = s.id.to_lowercase();
        let ont = inv.device(&format!("ont-{n}")).expect("ont");
        let rtr = inv.device(&format!("rtr-{n}")).expect("router");
        assert_eq!((ont.role, rtr.role), (Role::Ont, Role::Router));
        assert_eq!(rtr.parent.as_deref(), Some(&*ont.id));
        assert_eq!(rtr.wan_interface.as_deref(), Some("wan"));
        assert_eq!(rtr.expected_interval, Duration::from_secs(10));
        assert_eq!(ont.expected_interval, Duration::from_secs(30));
        let olt = inv.device(ont.parent.as_deref().unwrap()).unwrap();
        assert_eq!(olt.role, Role::Olt);
        assert_eq!(olt.district(), s.district.as_ref());
    }
    let olts: Vec<_> = inv
        .devices()
        .iter()
        .filter(|d| d.role == Role::Olt)
        .collect();
    assert_eq!(olts.len(), 8);
    assert!(olts.iter().any(|d| &*d.id == "olt-nakhchivan-city"));
    assert_eq!(inv.devices().len(), 216 * 2 + 8);
    // Larger districts have more schools.
    let count = |d: &str| inv.schools().iter().filter(|s| &*s.district == d).count();
    assert!(count("Sharur") > count("Julfa") && count("Nakhchivan city") > count("Sadarak"));
    assert!(
        SAMPLE_SCHOOLS_CSV.starts_with("# SYNTHETIC")
            && SAMPLE_DEVICES_CSV.starts_with("# SYNTHETIC")
    );
}

#[test]
fn fleet_selection_includes_parent_olts() {
    let f = fleet(Some(40), 1, monday_10am());
    let ids: Vec<&str> = f.devices().map(|d| &*d.id).collect();
    // 40 schools × (ONT + router) + the Babek and Julfa OLTs.
    assert_eq!(f.device_count(), 82);
    assert!(ids.contains(&"olt-babek") && ids.contains(&"olt-julfa"));
    assert!(!ids.contains(&"olt-sharur"));
    assert!(!ids.contains(&"rtr-nx-041"));
    let full = fleet(None, 1, monday_10am());
    assert_eq!(full.device_count(), 440);
    let rate = full.natural_rate();
    assert!((140.0..150.0).contains(&rate), "natural rate {rate}");
}

/// Every message hits the collector's default route of its format, and its
/// payload is well-formed for that format.
#[test]
fn every_payload_is_well_formed_and_routed() {
    let routes = compile_routes(&default_routes()).unwrap();
    let start = monday_10am();
    let mut f = fleet(None, 7, start);
    let msgs = drain_every(
        &mut f,
        start,
        Duration::from_secs(120),
        Duration::from_millis(500),
    );
    let mut by_format: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &msgs {
        *by_format.entry(m.format).or_default() += 1;
        let (route, vars) = routes
            .find(&m.topic)
            .unwrap_or_else(|| panic!("no route for {}", m.topic));
        assert_eq!(route.format.name(), m.format, "{}", m.topic);
        assert_eq!(vars.get("device"), Some(&*m.device), "{}", m.topic);
        assert_eq!(m.retain, m.format == payload::STATUS);
        assert_eq!(m.expected.is_none(), m.format == payload::STATUS);
        match m.format {
            payload::COLLECTD => check_collectd(m),
            payload::INFLUX => check_line(m),
            payload::JSON => check_json(m),
            payload::VALUE => {
                let v: f64 = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
                assert!(v > 0.0 && v < 1000.0, "{v}");
                assert_eq!(m.expected, Some(Measurement::Probe));
            }
            payload::STATUS => assert_eq!(m.payload, b"Online"),
            other => panic!("unknown format {other}"),
        }
    }
    for f in payload::FORMATS {
        assert!(
            by_format.get(f).copied().unwrap_or(0) > 0,
            "no {f} messages: {by_format:?}"
        );
    }
}

fn check_collectd(m: &SimMessage) {
    let (body, nul) = m.payload.split_at(m.payload.len() - 1);
    assert_eq!(nul, b"\0", "collectd 5.12 appends a NUL");
    let text = std::str::from_utf8(body).unwrap();
    let mut parts = text.split(':');
    let time = parts.next().unwrap();
    let (secs, ms) = time.split_once('.').expect("epoch.ms");
    assert_eq!(ms.len(), 3, "{text}");
    assert_eq!(
        secs.parse::<i64>().unwrap() * 1000 + ms.parse::<i64>().unwrap(),
        unix_ms(m.time)
    );
    let values: Vec<f64> = parts.map(|v| v.parse::<f64>().unwrap()).collect();
    assert!(values.iter().all(|v| v.is_finite() && *v >= 0.0), "{text}");
    let typ = m.topic.rsplit('/').next().unwrap();
    let arity = match typ {
        "if_octets" => 2,
        "load" => 3,
        _ => 1,
    };
    assert_eq!(values.len(), arity, "{}: {text}", m.topic);
}

/// The one line-protocol metric of an `influx` message.
fn parse_line(m: &SimMessage) -> ParsedLine<'_> {
    let text = std::str::from_utf8(&m.payload).unwrap();
    assert!(text.ends_with('\n'));
    let mut lines: Vec<_> = influxdb_line_protocol::parse_lines(text)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(lines.len(), 1, "one metric per message: {text}");
    lines.pop().unwrap()
}

fn check_line(m: &SimMessage) {
    let l = parse_line(m);
    assert_eq!(l.timestamp, Some(unix_ms(m.time) * 1_000_000));
    let name = l.series.measurement.as_str();
    assert_eq!(m.topic.rsplit('/').next().unwrap(), name);
    let host = l
        .series
        .tag_set
        .iter()
        .flatten()
        .find(|(k, _)| k.as_str() == "host");
    assert_eq!(host.map(|(_, v)| v.as_str()), Some(&*m.device));
    let expected = match name {
        "net" => Measurement::Interface,
        "ping" => Measurement::Probe,
        "system" | "mem" | "cpu" => Measurement::System,
        "clients" => Measurement::Clients,
        other => panic!("unexpected metric {other}"),
    };
    assert_eq!(m.expected, Some(expected));
}

fn check_json(m: &SimMessage) {
    let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
    let obj = v.as_object().unwrap();
    let num = |k: &str| -> f64 {
        obj[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} as string"))
            .parse()
            .unwrap()
    };
    if m.topic.starts_with("ont/") {
        assert_eq!(m.expected, Some(Measurement::Optical));
        let rx = num("rxpower");
        assert!((-27.5..=-13.0).contains(&rx), "{rx}");
        assert!((1.8..=2.8).contains(&num("txpower")));
        assert!((35.0..=60.0).contains(&num("temperature")));
        assert!((3.2..=3.4).contains(&num("voltage")));
        assert!((9.0..=15.0).contains(&num("bcurr")));
    } else {
        assert!(m.topic.starts_with("mikrotik/") && m.topic.ends_with("/system"));
        assert_eq!(m.expected, Some(Measurement::System));
        let cpu = num("cpu-load");
        assert!((0.0..=100.0).contains(&cpu));
        assert!(num("used-memory") < num("total-memory"));
        num("temperature");
        let up = obj["uptime"].as_str().unwrap();
        let hms = up.split_once('d').map_or(up, |(d, rest)| {
            d.parse::<u64>().unwrap();
            rest
        });
        let parts: Vec<u32> = hms.split(':').map(|p| p.parse().unwrap()).collect();
        assert_eq!(parts.len(), 3, "{up}");
        assert!(parts[0] < 24 && parts[1] < 60 && parts[2] < 60, "{up}");
    }
}

/// The exactness contract: timestamps per device are strictly increasing,
/// so each expected point is distinct.
#[test]
fn device_timestamps_are_strictly_increasing() {
    let start = monday_10am();
    let mut f = fleet(Some(30), 3, start);
    let msgs = drain(&mut f, start, 300);
    let mut last: HashMap<&str, i64> = HashMap::new();
    for m in msgs.iter().filter(|m| m.expected.is_some()) {
        let t = unix_ms(m.time);
        if let Some(prev) = last.insert(&m.device, t) {
            assert!(t > prev, "{}: {t} after {prev}", m.device);
        }
    }
    // Paced mode: many ticks at the same wall-clock instant still get distinct times.
    let mut f = fleet(Some(2), 3, start);
    let mut last: HashMap<Arc<str>, i64> = HashMap::new();
    for _ in 0..200 {
        for m in f.next_tick(start) {
            let t = unix_ms(m.time);
            if let Some(prev) = last.insert(m.device.clone(), t) {
                assert!(t > prev);
            }
        }
    }
}

#[test]
fn router_styles_rotate_by_school_index() {
    let start = monday_10am();
    let mut f = fleet(Some(6), 11, start);
    let msgs = drain(&mut f, start, 30);
    let topics_of = |dev: &str| -> Vec<&str> {
        msgs.iter()
            .filter(|m| &*m.device == dev && m.expected.is_some())
            .map(|m| m.topic.as_str())
            .collect()
    };
    let collectd = topics_of("rtr-nx-001");
    assert!(collectd.contains(&"collectd/rtr-nx-001/interface-wan/if_octets"));
    assert!(collectd.contains(&"collectd/rtr-nx-001/ping/ping_droprate-8.8.8.8"));
    assert!(collectd.contains(&"collectd/rtr-nx-001/iwinfo-wlan0/stations"));
    let telegraf = topics_of("rtr-nx-002");
    assert!(
        telegraf.contains(&"telegraf/rtr-nx-002/net")
            && telegraf.contains(&"telegraf/rtr-nx-002/ping")
    );
    let mikrotik = topics_of("rtr-nx-003");
    assert!(mikrotik.contains(&"mikrotik/rtr-nx-003/system"));
    assert!(mikrotik.contains(&"probe/rtr-nx-003/8.8.8.8/rtt_ms"));
    assert!(mikrotik.contains(&"telegraf/rtr-nx-003/net"));
    assert!(topics_of("ont-nx-004").contains(&"ont/ont-nx-004/optical"));
    assert!(topics_of("olt-babek").contains(&"telegraf/olt-babek/system"));
    assert_eq!(f.profile("NX-004").unwrap().style, RouterStyle::Collectd);
}

fn net_counters(msgs: &[SimMessage], device: &str) -> Vec<(i64, u64)> {
    msgs.iter()
        .filter(|m| &*m.device == device && m.topic.ends_with("/net"))
        .map(|m| {
            let line = parse_line(m);
            let rx = line
                .field_set
                .iter()
                .find(|(k, _)| k.as_str() == "bytes_recv")
                .map(|(_, v)| match v {
                    FieldValue::I64(i) => *i as u64,
                    other => panic!("bytes_recv is {other:?}"),
                })
                .unwrap();
            (line.timestamp.unwrap() / 1_000_000, rx)
        })
        .collect()
}

#[test]
fn thirty_two_bit_counters_wrap_with_u32_arithmetic() {
    assert_eq!(counter_add(u64::from(u32::MAX) - 1, 5, true), 3);
    assert_eq!(
        counter_add(u64::from(u32::MAX) - 1, 5, false),
        u64::from(u32::MAX) + 4
    );

    let start = monday_10am();
    let mut f = fleet(None, 5, start);
    let wrap_school = f
        .profiles()
        .iter()
        .filter(|p| p.counter_bits == 32)
        .max_by(|a, b| a.school.uplink_mbps.total_cmp(&b.school.uplink_mbps))
        .unwrap()
        .clone();
    assert_ne!(wrap_school.style, RouterStyle::Collectd);
    let wide_school = f
        .profiles()
        .iter()
        .find(|p| p.counter_bits == 64 && p.style == RouterStyle::Telegraf)
        .unwrap()
        .clone();
    let msgs = drain_every(
        &mut f,
        start,
        Duration::from_secs(3600),
        Duration::from_secs(5),
    );
    let rtr = format!("rtr-{}", wrap_school.school.id.to_lowercase());
    let series = net_counters(&msgs, &rtr);
    assert!(series.len() > 300, "{}", series.len());
    assert!(series.iter().all(|(_, v)| *v <= u64::from(u32::MAX)));
    let mut wraps = 0;
    for w in series.windows(2) {
        let ((t0, a), (t1, b)) = (w[0], w[1]);
        if b < a {
            wraps += 1;
        }
        // The mod-2^32 delta is the real traffic: at most the uplink's rate.
        let delta = (b as u32).wrapping_sub(a as u32) as f64;
        let max = wrap_school.school.uplink_mbps * 1e6 / 8.0 * (t1 - t0) as f64 / 1000.0;
        assert!(delta <= max * 1.01, "{delta} > {max}");
    }
    assert!(
        wraps >= 1,
        "{rtr} ({} Mbit/s) never wrapped",
        wrap_school.school.uplink_mbps
    );

    let rtr = format!("rtr-{}", wide_school.school.id.to_lowercase());
    let series = net_counters(&msgs, &rtr);
    assert!(
        series.windows(2).all(|w| w[1].1 >= w[0].1),
        "64-bit counters never wrap"
    );
}

#[test]
fn reboot_resets_counters_and_uptime() {
    let start = monday_10am();
    let mut f = fleet(Some(3), 9, start);
    let mut msgs = drain(&mut f, start, 60);
    let before = *net_counters(&msgs, "rtr-nx-002").last().unwrap();
    assert!(f.reboot("rtr-nx-002"));
    assert!(!f.reboot("rtr-nx-999"));
    let t = start + Duration::from_secs(61);
    msgs.clear();
    for s in 0..20 {
        msgs.extend(f.next_messages(t + Duration::from_secs(s)));
    }
    let after = net_counters(&msgs, "rtr-nx-002")[0];
    assert!(
        after.1 < 3_000_000 && after.1 < before.1,
        "{before:?} → {after:?}"
    );
    let uptime = msgs
        .iter()
        .find(|m| m.topic == "telegraf/rtr-nx-002/system")
        .map(|m| std::str::from_utf8(&m.payload).unwrap().to_string())
        .unwrap();
    let up: i64 = uptime
        .split("uptime=")
        .nth(1)
        .unwrap()
        .split('i')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((40..=120).contains(&up), "{uptime}");
}

#[test]
fn control_offline_silent_and_back() {
    let start = monday_10am();
    let mut f = fleet(Some(3), 2, start);
    let ctl = f.control();
    drain(&mut f, start, 30);
    assert!(ctl.publish_offline("rtr-nx-001"));
    assert!(ctl.set_silent("rtr-nx-002", true));
    assert!(!ctl.set_silent("nope", true));
    let t = start + Duration::from_secs(31);
    let first = f.next_messages(t);
    assert_eq!(first[0].topic, "tele/rtr-nx-001/LWT");
    assert_eq!(first[0].payload, b"Offline");
    assert!(first[0].retain);
    let mut later = Vec::new();
    for s in 1..60 {
        later.extend(f.next_messages(t + Duration::from_secs(s)));
    }
    assert!(later
        .iter()
        .all(|m| &*m.device != "rtr-nx-001" && &*m.device != "rtr-nx-002"));
    assert!(
        later.iter().any(|m| &*m.device == "ont-nx-001"),
        "the ONT keeps reporting"
    );
    assert!(later.iter().any(|m| &*m.device == "rtr-nx-003"));

    assert_eq!(ctl.set_school_silent("NX-003", true), 2);
    assert!(ctl.publish_online("rtr-nx-001"));
    ctl.set_silent("rtr-nx-002", false);
    let t = t + Duration::from_secs(60);
    let back = f.next_messages(t);
    assert_eq!(back[0].payload, b"Online");
    let mut later = back;
    for s in 1..30 {
        later.extend(f.next_messages(t + Duration::from_secs(s)));
    }
    assert!(later
        .iter()
        .any(|m| &*m.device == "rtr-nx-001" && m.expected.is_some()));
    assert!(later.iter().any(|m| &*m.device == "rtr-nx-002"));
    assert!(later.iter().all(|m| &*m.school != "NX-003"));
}

#[test]
fn same_seed_same_messages() {
    let start = monday_10am();
    let run = |seed| drain(&mut fleet(Some(12), seed, start), start, 60);
    let (a, b, c) = (run(77), run(77), run(78));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn school_hours_drive_traffic_and_clients() {
    let monday = monday_10am();
    let ms = unix_ms(monday);
    assert_eq!(activity(ms), 1.0);
    assert!(activity(ms - 7 * 3600 * 1000) < 0.05, "03:00");
    assert!(activity(ms + 5 * 86_400 * 1000) < 0.1, "Saturday");
    assert!(activity(ms + 10 * 3600 * 1000) < 0.1, "20:00");

    let sum_rx = |start: SystemTime| -> f64 {
        let mut f = fleet(Some(9), 4, start);
        drain(&mut f, start, 60)
            .iter()
            .filter(|m| m.topic.ends_with("/if_octets"))
            .map(|m| {
                let text = std::str::from_utf8(&m.payload[..m.payload.len() - 1]).unwrap();
                text.split(':').nth(1).unwrap().parse::<f64>().unwrap()
            })
            .sum()
    };
    let day = sum_rx(monday);
    let night = sum_rx(monday - Duration::from_secs(7 * 3600));
    assert!(day > 10.0 * night, "day {day} night {night}");
}

#[test]
fn some_schools_have_weak_optics_or_loss() {
    let f = fleet(None, 42, monday_10am());
    let weak = f.profiles().iter().filter(|p| p.weak_optical).count();
    let lossy = f.profiles().iter().filter(|p| p.lossy).count();
    assert!((1..=25).contains(&weak), "{weak}");
    assert!((1..=25).contains(&lossy), "{lossy}");
    for p in f.profiles().iter().filter(|p| p.weak_optical) {
        assert!((-26.7..=-25.5).contains(&p.ont_rx_dbm));
    }
}

#[test]
fn round_robin_keeps_relative_frequencies() {
    let mut f = fleet(Some(6), 8, monday_10am());
    let mut ticks: HashMap<Role, usize> = HashMap::new();
    let roles: HashMap<Arc<str>, Role> = f.devices().map(|d| (d.id.clone(), d.role)).collect();
    let now = monday_10am();
    for i in 0..6000u64 {
        let msgs = f.next_tick(now + Duration::from_millis(i));
        if let Some(m) = msgs.first() {
            *ticks.entry(roles[&m.device]).or_default() += 1;
        }
    }
    let ratio = ticks[&Role::Router] as f64 / ticks[&Role::Ont] as f64;
    assert!(
        (2.8..3.2).contains(&ratio),
        "router/ONT ticks {ratio} ({ticks:?})"
    );
    assert!(ticks[&Role::Olt] > 0);
}

#[test]
fn pacer_spaces_messages() {
    let t0 = Instant::now();
    let mut p = Pacer::new(100.0, t0);
    assert_eq!(p.wait(t0), None);
    p.sent(t0);
    assert_eq!(p.wait(t0), Some(Duration::from_millis(10)));
    assert_eq!(p.wait(t0 + Duration::from_millis(10)), None);
    for _ in 1..100 {
        p.sent(t0);
    }
    // 100 messages at 100/s: the next is due 1 s after the start.
    assert_eq!(p.deadline(), t0 + Duration::from_secs(1));
    // Falling far behind does not cause a burst afterwards: re-anchored.
    let late = t0 + Duration::from_secs(10);
    p.sent(late);
    assert_eq!(p.deadline(), late);
    p.sent(late);
    assert_eq!(p.wait(late), Some(Duration::from_millis(10)));
}

#[test]
fn broker_urls() {
    for (url, host, port) in [
        ("mqtt://127.0.0.1:1884", "127.0.0.1", 1884),
        ("tcp://broker", "broker", 1883),
        ("localhost:2000", "localhost", 2000),
        ("mqtt://[::1]:1885/", "::1", 1885),
    ] {
        assert_eq!(parse_broker(url).unwrap(), (host.into(), port), "{url}");
    }
    for bad in ["mqtts://x:8883", "mqtt://x:http", "mqtt://:1883"] {
        assert!(parse_broker(bad).is_err(), "{bad}");
    }
}

#[test]
fn report_counts_points_per_measurement_and_school() {
    let start = monday_10am();
    let mut f = fleet(Some(4), 1, start);
    let msgs = drain(&mut f, start, 60);
    let mut r = SimulateReport::default();
    for m in &msgs {
        r.record(m);
    }
    assert_eq!(r.sent, msgs.len() as u64);
    let status = msgs.iter().filter(|m| m.expected.is_none()).count() as u64;
    assert_eq!(r.expected_points_total() + status, r.sent);
    assert_eq!(r.sent_of_format("status"), status);
    let probe_nx1 = msgs
        .iter()
        .filter(|m| m.expected == Some(Measurement::Probe) && &*m.school == "NX-001")
        .count() as u64;
    assert_eq!(r.expected(Measurement::Probe, "NX-001"), probe_nx1);
    // OLT points count under the school the OLT is recorded at.
    let olt_sys = msgs.iter().filter(|m| &*m.device == "olt-babek").count() as u64 - 1;
    assert!(olt_sys > 0);
    let nx1_sys = msgs
        .iter()
        .filter(|m| m.expected == Some(Measurement::System) && &*m.school == "NX-001")
        .count() as u64;
    assert_eq!(r.expected(Measurement::System, "NX-001"), nx1_sys);
    let json = serde_json::to_string(&r).unwrap();
    let back: SimulateReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    let mut table = Vec::new();
    r.print_table(&mut table).unwrap();
    let table = String::from_utf8(table).unwrap();
    assert!(
        table.contains("collectd") && table.contains("interface"),
        "{table}"
    );
    assert!(r
        .progress_line(10.0)
        .starts_with(&format!("sent {} msgs (10/s) collectd=", r.sent)));
}

/// The report's contract, checked against the collector's own default
/// routes, decoders and normalizer: every expected message yields exactly
/// one sample of the expected measurement for the expected device and
/// school, status messages yield none, nothing is rejected, and no two
/// samples share a point identity (measurement, device, key, timestamp).
#[test]
fn every_message_normalizes_to_exactly_the_expected_point() {
    use collector::config::LimitsConfig;
    use collector::decode::{decode, DecodeContext};
    use collector::normalize::Normalizer;
    use std::collections::HashSet;

    let inv = sample();
    let routes = compile_routes(&default_routes()).unwrap();
    let mut normalizer = Normalizer::new(inv.clone(), LimitsConfig::default());
    let start = monday_10am();
    let mut f = fleet(None, 42, start);
    let mut msgs = drain(&mut f, start, 300);
    // Reboots, an LWT offline and a paced burst at one instant.
    f.reboot("rtr-nx-002");
    f.reboot("rtr-nx-001");
    f.publish_offline("rtr-nx-005");
    let t = start + Duration::from_secs(301);
    msgs.extend(f.next_messages(t));
    for _ in 0..2000 {
        msgs.extend(f.next_tick(t));
    }

    let mut report = SimulateReport::default();
    let mut points = HashSet::new();
    for m in &msgs {
        report.record(m);
        let (route, vars) = routes.find(&m.topic).unwrap();
        let ctx = DecodeContext {
            vars: &vars,
            counter_width: route.counter_width,
        };
        let decoded =
            decode(&route.format, ctx, &m.payload).unwrap_or_else(|e| panic!("{}: {e:?}", m.topic));
        // Receive time: just after the device time (unique per device).
        let received_ns = unix_ms(m.time) * 1_000_000 + 1;
        let out = normalizer.normalize(decoded, received_ns);
        assert!(out.rejects.is_empty(), "{}: {:?}", m.topic, out.rejects);
        match m.expected {
            None => {
                let status = out
                    .status
                    .unwrap_or_else(|| panic!("{}: no status", m.topic));
                assert_eq!(&*status.device.id, &*m.device);
                assert!(out.samples.is_empty());
            }
            Some(measurement) => {
                assert_eq!(out.samples.len(), 1, "{}: {:?}", m.topic, out.samples);
                let s = &out.samples[0];
                assert_eq!(s.measurement, measurement, "{}", m.topic);
                assert_eq!(&*s.device.id, &*m.device);
                assert_eq!(s.device.school_id(), &*m.school);
                let key = (s.measurement, s.device.id.clone(), s.key.clone(), s.time_ns);
                assert!(points.insert(key), "{}: point identity reused", m.topic);
            }
        }
    }
    assert_eq!(points.len() as u64, report.expected_points_total());
    assert!(report.sent_of_format("status") > 216);
}
