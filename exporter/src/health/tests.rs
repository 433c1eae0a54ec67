//! Health transitions with a manual clock.

use std::sync::Arc;

use collector::inventory::Inventory;
use collector::sample::{Field, FieldValue, Measurement, Sample, StatusEvent};

use super::*;
use crate::state::clock::{Clock, ManualClock};
use crate::state::LiveState;

const T0: f64 = 1_700_000_000.0;
const SCHOOLS: &str = "school_id,name,district,lat,lon,uplink_mbps\n\
    S1,One,Babek,39.2,45.4,100\n\
    S2,Two,Julfa,38.9,45.6,50\n\
    S3,Hub,Julfa,38.9,45.6,50\n\
    S4,Empty,Julfa,38.9,45.6,50\n";
// S1: router + ONT; S2: ONT + OLT, no router; S3: only an OLT; S4: no devices.
const DEVICES: &str = "device_id,school_id,role,expected_interval_s,parent\n\
    r1,S1,router,10,\n\
    o1,S1,ont,60,\n\
    o2,S2,ont,10,\n\
    olt2,S2,olt,10,\n\
    olt3,S3,olt,10,\n";

fn policy() -> HealthPolicy {
    HealthPolicy {
        stale_factor: 3.0,
        unknown_grace_s: 120.0,
        started_at: T0,
        degraded_loss_ratio: 0.05,
        optical_low_dbm: -25.0,
        optical_high_dbm: -8.0,
        degraded_error_rate: 1.0,
    }
}

struct Fixture {
    clock: ManualClock,
    state: LiveState,
    policy: HealthPolicy,
}

impl Fixture {
    fn new() -> Fixture {
        let state = LiveState::new(Arc::new(
            Inventory::from_csv_text(SCHOOLS, DEVICES).unwrap(),
        ));
        let policy = policy();
        Fixture {
            clock: ManualClock::new(T0),
            state,
            policy,
        }
    }

    fn telemetry(&self, device: &str) {
        let device = self.state.inventory().device(device).unwrap().clone();
        let s = Sample {
            measurement: Measurement::System,
            time_ns: 1,
            device,
            key: None,
            fields: vec![(Field::CpuRatio, FieldValue::Float(0.1))],
        };
        self.state.record_samples(&[s], self.clock.now());
    }

    fn status(&self, device: &str, online: bool) {
        let device = self.state.inventory().device(device).unwrap().clone();
        self.state.record_status(
            &StatusEvent {
                device,
                online,
                time_ns: 0,
            },
            self.clock.now(),
        );
    }

    fn device(&self, id: &str) -> Health {
        let slot = self
            .state
            .inventory()
            .devices()
            .iter()
            .position(|d| &*d.id == id)
            .unwrap();
        self.policy.device(
            self.state.device(slot),
            self.state.health_inputs(slot),
            self.clock.now(),
        )
    }

    fn school(&self, index: usize) -> Health {
        let all = assess(&self.state, &self.policy, self.clock.now());
        assert_eq!(all[index].school, index);
        all[index].health
    }
}

fn summary(h: Health) -> (State, Option<Cause>, bool) {
    (h.state, h.cause, h.up)
}

#[test]
fn unknown_then_up_then_stale_then_up_again() {
    let f = Fixture::new();
    // Never heard from: not up, but not an outage during the grace period.
    assert_eq!(summary(f.school(0)), (State::Unknown, None, false));
    assert!(!f.school(0).counts_as_down);
    assert_eq!(f.school(0).last_seen, None);

    f.clock.advance(5.0);
    f.telemetry("r1");
    assert_eq!(summary(f.school(0)), (State::Up, None, true));
    assert_eq!(f.school(0).last_seen, Some(T0 + 5.0));

    // Router interval 10 s × factor 3: up at exactly 30 s, stale after.
    f.clock.advance(30.0);
    assert_eq!(f.school(0).state, State::Up);
    f.clock.advance(0.5);
    assert_eq!(
        summary(f.school(0)),
        (State::Down, Some(Cause::Stale), false)
    );
    assert_eq!(
        summary(f.device("r1")),
        (State::Down, Some(Cause::Stale), false)
    );

    f.telemetry("r1");
    assert_eq!(summary(f.school(0)), (State::Up, None, true));
}

#[test]
fn school_follows_its_router_not_its_ont() {
    let f = Fixture::new();
    f.telemetry("o1");
    assert_eq!(f.device("o1").state, State::Up);
    // ONT heard, router never: still unknown (router decides), but seen.
    assert_eq!(f.school(0).state, State::Unknown);
    assert_eq!(f.school(0).last_seen, Some(T0));
    f.telemetry("r1");
    f.clock.advance(31.0);
    f.telemetry("o1");
    assert_eq!(
        summary(f.school(0)),
        (State::Down, Some(Cause::Stale), false)
    );
}

#[test]
fn lwt_offline_is_down_until_a_newer_sign_of_life() {
    let f = Fixture::new();
    f.telemetry("r1");
    f.clock.advance(1.0);
    f.status("r1", false);
    assert_eq!(
        summary(f.school(0)),
        (State::Down, Some(Cause::LwtOffline), false)
    );
    assert_eq!(f.school(0).last_seen, Some(T0));

    // Telemetry after the will: alive again.
    f.clock.advance(1.0);
    f.telemetry("r1");
    assert_eq!(f.school(0).state, State::Up);

    f.clock.advance(1.0);
    f.status("r1", false);
    assert_eq!(f.school(0).cause, Some(Cause::LwtOffline));
    f.clock.advance(1.0);
    f.status("r1", true);
    assert_eq!(summary(f.school(0)), (State::Up, None, true));
}

#[test]
fn retained_offline_before_any_telemetry_is_down_not_unknown() {
    let f = Fixture::new();
    f.status("r1", false);
    assert_eq!(
        summary(f.school(0)),
        (State::Down, Some(Cause::LwtOffline), false)
    );
}

#[test]
fn unknown_is_never_up_and_counts_as_down_after_the_grace_period() {
    let f = Fixture::new();
    f.clock.advance(119.0);
    assert_eq!(summary(f.school(0)), (State::Unknown, None, false));
    assert!(!f.school(0).counts_as_down, "within the grace period");
    assert!(!f.device("r1").up && !f.device("r1").counts_as_down);
    assert!(f.policy.in_grace(f.clock.now()));
    f.clock.advance(1.0);
    assert_eq!(summary(f.school(0)), (State::Unknown, None, false));
    assert!(f.school(0).counts_as_down);
    assert!(!f.device("r1").up && f.device("r1").counts_as_down);
    assert!(!f.policy.in_grace(f.clock.now()));
    // A school without devices stays unknown forever.
    assert_eq!(summary(f.school(3)), (State::Unknown, None, false));
    // The first sign of life makes it up.
    f.telemetry("r1");
    assert_eq!(summary(f.school(0)), (State::Up, None, true));
    assert!(!f.school(0).counts_as_down);
}

#[test]
fn without_router_any_device_but_the_olt_decides() {
    let f = Fixture::new();
    f.telemetry("olt2");
    assert_eq!(f.school(1).state, State::Unknown);
    assert_eq!(f.school(1).last_seen, None);
    f.telemetry("o2");
    assert_eq!(f.school(1).state, State::Up);
    // A site with only an OLT follows the OLT.
    f.telemetry("olt3");
    assert_eq!(f.school(2).state, State::Up);
}

#[test]
fn names_are_stable() {
    let names: Vec<String> = STATE_SERIES
        .iter()
        .map(|(s, c)| format!("{}/{}", s.as_str(), c.map_or("", |c| c.as_str())))
        .collect();
    assert_eq!(
        names,
        [
            "up/",
            "degraded/probe_loss",
            "degraded/interface_errors",
            "degraded/optical_power",
            "down/lwt_offline",
            "down/stale",
            "down/link_down",
            "down/upstream_down",
            "unknown/"
        ]
    );
    assert_eq!(Cause::LwtOffline.as_str(), "lwt_offline");
    assert_eq!(Cause::Stale.as_str(), "stale");
}

#[test]
fn a_silent_router_behind_a_reporting_ont_was_last_seen_when_the_router_was() {
    let f = Fixture::new();
    f.telemetry("r1");
    f.telemetry("o1");
    // The ONT keeps reporting; the router falls silent at T0.
    f.clock.advance(20.0);
    f.telemetry("o1");
    f.clock.advance(15.0);
    f.telemetry("o1");
    let h = f.school(0);
    assert_eq!(summary(h), (State::Down, Some(Cause::Stale), false));
    assert_eq!(
        h.last_seen,
        Some(T0),
        "the outage starts at the router's silence"
    );
}
