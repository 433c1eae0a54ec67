//! The outage log against a scripted ground truth: real live state, real
//! health assessment and the tracker, driven by a scripted clock the way
//! the exporter drives them (telemetry as it arrives, an assessment every
//! second). Every start, end and cause is asserted exactly.

use std::collections::{BTreeMap, BTreeSet};

use collector::sample::{Field, FieldValue, Measurement, Sample};

use super::*;
use crate::health::assess;
use crate::state::LiveState;

const T0: f64 = 1_700_000_000.0;
/// Every device reports every 10 s (default `stale_factor` 3: stale after 30 s).
const INTERVAL: u32 = 10;

/// `HUB` hosts the OLT (its only device); `S1`..`S9` hang off it (ONT, then
/// router); `X` is elsewhere and never fails.
fn inventory() -> Arc<Inventory> {
    let mut schools = String::from("school_id,name,district,lat,lon,uplink_mbps\n");
    let mut devices =
        String::from("device_id,school_id,role,expected_interval_s,parent,wan_interface\n");
    schools.push_str("HUB,Hub,North,39,45,1000\nX,Elsewhere,South,39,45,100\n");
    devices.push_str(&format!(
        "olt,HUB,olt,{INTERVAL},,\nrtr-x,X,router,{INTERVAL},,wan\n"
    ));
    for k in 1..=9 {
        schools.push_str(&format!("S{k},School {k},North,39,45,100\n"));
        devices.push_str(&format!(
            "ont-{k},S{k},ont,{INTERVAL},olt,\nrtr-{k},S{k},router,{INTERVAL},ont-{k},wan\n"
        ));
    }
    Arc::new(Inventory::from_csv_text(&schools, &devices).unwrap())
}

/// Seconds after `T0` at which a device reports, within each interval: the
/// OLT and X at 0, school k's ONT and router at k.
fn offset(device: &str) -> u32 {
    device
        .rsplit('-')
        .next()
        .and_then(|k| k.parse().ok())
        .unwrap_or(0)
}

/// What a device says at one report.
#[derive(Clone, Copy, PartialEq)]
enum Says {
    Nothing,
    Alive,
    /// A router reporting its WAN link down.
    LinkDown,
}

struct Run {
    state: LiveState,
    policy: HealthPolicy,
    tracker: OutageTracker,
    records: Vec<OutageRecord>,
    /// Per tick, per school: what `/metrics` showed (`None` when up).
    shown: Vec<(f64, Vec<Option<&'static str>>)>,
    /// Per device: the times it reported.
    reports: BTreeMap<Arc<str>, Vec<f64>>,
}

impl Run {
    fn new() -> Run {
        let inventory = inventory();
        let config = collector::config::ExporterConfig::default();
        Run {
            state: LiveState::new(inventory.clone()),
            policy: HealthPolicy::new(&config, T0),
            tracker: OutageTracker::new(inventory),
            records: Vec::new(),
            shown: Vec::new(),
            reports: BTreeMap::new(),
        }
    }

    /// Seconds `from..=to` after `T0`: the reports due each second (as
    /// `script` says), then the assessment of that second.
    fn play(&mut self, from: u32, to: u32, script: impl Fn(&str, f64) -> Says) {
        let inventory = self.state.inventory().clone();
        for s in from..=to {
            let now = T0 + f64::from(s);
            for device in inventory.devices() {
                if s % INTERVAL != offset(&device.id) {
                    continue;
                }
                let fields = match script(&device.id, now) {
                    Says::Nothing => continue,
                    Says::Alive => vec![(Field::OperUp, FieldValue::Float(1.0))],
                    Says::LinkDown => vec![(Field::OperUp, FieldValue::Float(0.0))],
                };
                let sample = Sample {
                    measurement: Measurement::Interface,
                    time_ns: (now * 1e9) as i64,
                    device: device.clone(),
                    key: Some("wan".into()),
                    fields,
                };
                self.state.record_samples(&[sample], now);
                self.reports.entry(device.id.clone()).or_default().push(now);
            }
            let assessments = assess(&self.state, &self.policy, now);
            self.tracker.update(&assessments, &self.policy, now);
            self.records.extend(self.tracker.take_records());
            let shown = assessments
                .iter()
                .map(|a| {
                    a.health
                        .counts_as_down
                        .then(|| a.health.cause.map_or("unknown", Cause::as_str))
                })
                .collect();
            self.shown.push((now, shown));
        }
    }

    /// The `outage` points as InfluxDB keeps them: one per series (school,
    /// cause) and timestamp, the last write winning.
    fn stored(&self) -> Vec<Point> {
        let mut points: BTreeMap<(String, &str, i64), &OutageRecord> = BTreeMap::new();
        for r in &self.records {
            points.insert((r.school.id.to_string(), r.cause, r.started_ns), r);
        }
        let mut out: Vec<Point> = points
            .values()
            .map(|r| Point {
                school: r.school.id.to_string(),
                cause: r.cause,
                outage_start: r.outage_started_ns as f64 / 1e9 - T0,
                since: r.started_ns as f64 / 1e9 - T0,
                until: (!r.open).then(|| r.started_ns as f64 / 1e9 + r.duration_s - T0),
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.school, a.since)
                .partial_cmp(&(&b.school, b.since))
                .unwrap()
        });
        out
    }

    /// The school's points, as `(cause, since, until)` seconds after `T0`.
    fn stretches(&self, school: &str) -> Vec<(&'static str, f64, Option<f64>)> {
        self.stored()
            .into_iter()
            .filter(|p| p.school == school)
            .map(|p| (p.cause, p.since, p.until))
            .collect()
    }

    /// Ground truth: the device's last report before `t` and first after.
    fn silence_around(&self, device: &str, t: f64) -> (f64, f64) {
        let r = &self.reports[device];
        let last = r
            .iter()
            .copied()
            .filter(|&x| x < T0 + t)
            .fold(f64::MIN, f64::max);
        let first = r
            .iter()
            .copied()
            .filter(|&x| x > T0 + t)
            .fold(f64::MAX, f64::min);
        (last - T0, first - T0)
    }

    /// Every tick at which a school was shown down lies in a stored stretch
    /// of the cause shown, and every stored stretch covers only such ticks
    /// (from the outage's start: before detection, the opening cause).
    fn assert_causes_follow_what_was_shown(&self) {
        let stored = self.stored();
        let schools = self.state.inventory().schools();
        for (now, shown) in &self.shown {
            let t = now - T0;
            for (i, cause) in shown.iter().enumerate() {
                let id = &*schools[i].id;
                let covering: Vec<&Point> = stored
                    .iter()
                    .filter(|p| p.school == id && p.since <= t && p.until.is_none_or(|u| t < u))
                    .collect();
                match cause {
                    Some(cause) => assert!(
                        covering.len() == 1 && covering[0].cause == *cause,
                        "{id} at +{t}s showed {cause}, stored {covering:?}"
                    ),
                    None => assert!(
                        covering.iter().all(|p| p.since == p.outage_start),
                        "{id} at +{t}s was up, stored {covering:?}"
                    ),
                }
            }
        }
    }
}

#[derive(Debug)]
struct Point {
    school: String,
    cause: &'static str,
    outage_start: f64,
    since: f64,
    until: Option<f64>,
}

/// The OLT and every device behind it say nothing for 120 s from +100.5 s.
fn olt_silent(device: &str, now: f64) -> Says {
    let behind_olt = device != "rtr-x";
    if behind_olt && now > T0 + 100.5 && now < T0 + 220.5 {
        Says::Nothing
    } else {
        Says::Alive
    }
}

#[test]
fn an_olt_and_its_nine_schools_silent_for_120_s_are_logged_as_they_happened() {
    let mut run = Run::new();
    run.play(0, 300, olt_silent);

    // Ground truth from the script: school k last spoke at +90+k, the OLT
    // at +100; school k spoke again at +220+k, the OLT at +230. Router k's
    // silence is noticed at +121+k (after 30 s, at the next tick); the ninth
    // completes "every school behind the OLT is dark" at +130.
    for k in 1..=9 {
        let school = format!("S{k}");
        let (last, first) = run.silence_around(&format!("rtr-{k}"), 150.0);
        assert_eq!((last, first), (90.0 + f64::from(k), 220.0 + f64::from(k)));
        let expected = if k < 9 {
            vec![
                ("stale", last, Some(130.0)),
                ("upstream_down", 130.0, Some(first)),
            ]
        } else {
            // Opened as upstream_down, yet dark since its last report.
            vec![("upstream_down", last, Some(first))]
        };
        assert_eq!(run.stretches(&school), expected, "{school}");
    }
    let (last, first) = run.silence_around("olt", 150.0);
    assert_eq!(run.stretches("HUB"), [("stale", last, Some(first))]);
    assert_eq!((last, first), (100.0, 230.0));
    assert!(run.stretches("X").is_empty());

    // One outage per school: every stretch names its outage's start, and
    // the counter counted each outage once.
    let stored = run.stored();
    let outages: BTreeSet<(&str, i64)> = stored
        .iter()
        .map(|p| (p.school.as_str(), p.outage_start as i64))
        .collect();
    assert_eq!(outages.len(), 10, "{outages:?}");
    for p in &stored {
        let first = stored.iter().find(|q| q.school == p.school).unwrap();
        assert_eq!(p.outage_start, first.since, "{p:?}");
    }
    for i in 0..run.state.inventory().schools().len() {
        let id = &*run.state.inventory().schools()[i].id;
        assert_eq!(run.tracker.total(i), u64::from(id != "X"), "{id}");
    }
    run.assert_causes_follow_what_was_shown();

    // /api/outages: the cause history, and the cause that covered most.
    let (open, recent) = run.tracker.snapshot(T0 + 300.0);
    assert!(open.is_empty());
    let s1 = recent.iter().find(|o| &*o.school == "S1").unwrap();
    assert_eq!(s1.cause, "upstream_down", "91 s of 130 were upstream_down");
    assert_eq!(
        s1.causes,
        [
            CauseSpan {
                cause: "stale",
                since: T0 + 91.0
            },
            CauseSpan {
                cause: "upstream_down",
                since: T0 + 130.0
            }
        ]
    );
    assert_eq!((s1.started_at, s1.ended_at), (T0 + 91.0, Some(T0 + 221.0)));

    // Availability over [+0, +300): downtime is the silence, to the second.
    for k in 1..=9 {
        let school = format!("S{k}");
        let (last, first) = run.silence_around(&format!("rtr-{k}"), 150.0);
        let downtime: f64 = stored
            .iter()
            .filter(|p| p.school == school)
            .map(|p| p.until.unwrap() - p.since)
            .sum();
        assert_eq!(downtime, first - last, "{school}");
        assert_eq!(downtime, 130.0);
    }
}

#[test]
fn stale_then_link_down_then_recovery_is_one_outage_in_two_causes() {
    let mut run = Run::new();
    // School 3's router: silent from +40.5 to +100.5, then back reporting
    // its WAN link down until +150.5, then fine.
    let script = |device: &str, now: f64| match device {
        "rtr-3" if now > T0 + 40.5 && now < T0 + 100.5 => Says::Nothing,
        "rtr-3" if now > T0 + 100.5 && now < T0 + 150.5 => Says::LinkDown,
        _ => Says::Alive,
    };
    run.play(0, 200, script);
    assert_eq!(
        run.stretches("S3"),
        [
            ("stale", 33.0, Some(103.0)),
            ("link_down", 103.0, Some(153.0)),
        ]
    );
    assert_eq!(run.tracker.total(run.index("S3")), 1);
    run.assert_causes_follow_what_was_shown();
    let (_, recent) = run.tracker.snapshot(T0 + 200.0);
    assert_eq!(recent.len(), 1);
    assert_eq!(
        (recent[0].started_at, recent[0].ended_at),
        (T0 + 33.0, Some(T0 + 153.0))
    );
    assert_eq!(recent[0].cause, "stale", "70 s stale, 50 s link down");
}

#[test]
fn a_school_still_dark_when_its_olt_is_back_stays_in_the_same_outage_as_stale() {
    let mut run = Run::new();
    // Everything behind the OLT silent from +100.5 to +220.5, but school 4
    // stays silent until +300.5.
    let script = |device: &str, now: f64| {
        let school_4 = device.ends_with("-4") && now > T0 + 100.5 && now < T0 + 300.5;
        if school_4 {
            Says::Nothing
        } else {
            olt_silent(device, now)
        }
    };
    run.play(0, 330, script);
    // The OLT reports again at +230: from then on school 4 is dark on its
    // own, which is what /metrics shows.
    assert_eq!(
        run.stretches("S4"),
        [
            ("stale", 94.0, Some(130.0)),
            ("upstream_down", 130.0, Some(230.0)),
            ("stale", 230.0, Some(304.0)),
        ]
    );
    assert_eq!(run.tracker.total(run.index("S4")), 1);
    run.assert_causes_follow_what_was_shown();
    let (_, recent) = run.tracker.snapshot(T0 + 330.0);
    let s4 = recent.iter().find(|o| &*o.school == "S4").unwrap();
    assert_eq!(s4.cause, "stale", "110 s of 210 (upstream_down 100 s)");
    assert_eq!(s4.causes.len(), 3);
}

impl Run {
    fn index(&self, school: &str) -> usize {
        self.state
            .inventory()
            .schools()
            .iter()
            .position(|s| &*s.id == school)
            .unwrap()
    }
}
