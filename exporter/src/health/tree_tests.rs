//! Health in a fiber tree: degraded causes, link down, and `upstream_down`
//! when an OLT (reporting or not) takes every school behind it down.

use std::sync::Arc;

use collector::inventory::Inventory;
use collector::sample::{Field, FieldValue, Measurement, Sample, StatusEvent};

use super::*;
use crate::state::LiveState;

const T0: f64 = 1_700_000_000.0;
const SCHOOLS: &str = "school_id,name,district,lat,lon,uplink_mbps\n\
    A1,A One,North,39,45,100\nA2,A Two,North,39,45,100\nA3,A Three,North,39,45,100\n\
    B1,B One,South,39,45,100\n";
// olt-n serves A1..A3 (recorded at A1); B1 hangs off olt-s.
const DEVICES: &str = "device_id,school_id,role,expected_interval_s,parent,wan_interface\n\
    olt-n,A1,olt,60,,\n\
    ont-a1,A1,ont,30,olt-n,\nrtr-a1,A1,router,10,ont-a1,wan\n\
    ont-a2,A2,ont,30,olt-n,\nrtr-a2,A2,router,10,ont-a2,wan\n\
    ont-a3,A3,ont,30,olt-n,\nrtr-a3,A3,router,10,ont-a3,wan\n\
    olt-s,B1,olt,60,,\nont-b1,B1,ont,30,olt-s,\nrtr-b1,B1,router,10,ont-b1,wan\n";

struct Tree {
    state: LiveState,
    policy: HealthPolicy,
}

impl Tree {
    fn new() -> Tree {
        let inventory = Arc::new(Inventory::from_csv_text(SCHOOLS, DEVICES).unwrap());
        let config = collector::config::ExporterConfig::default();
        Tree {
            state: LiveState::new(inventory),
            policy: HealthPolicy::new(&config, T0),
        }
    }

    fn sample(
        &self,
        device: &str,
        m: Measurement,
        key: Option<&str>,
        fields: Vec<(Field, FieldValue)>,
        at: f64,
    ) {
        let device = self.state.inventory().device(device).unwrap().clone();
        let s = Sample {
            measurement: m,
            time_ns: (at * 1e9) as i64,
            device,
            key: key.map(Arc::from),
            fields,
        };
        self.state.record_samples(&[s], at);
    }

    fn alive(&self, device: &str, at: f64) {
        self.sample(
            device,
            Measurement::System,
            None,
            vec![(Field::CpuRatio, FieldValue::Float(0.1))],
            at,
        );
    }

    fn all_alive(&self, at: f64) {
        for d in self.state.inventory().devices() {
            self.alive(&d.id.clone(), at);
        }
    }

    fn schools(&self, now: f64) -> Vec<(State, Option<Cause>)> {
        assess(&self.state, &self.policy, now)
            .iter()
            .map(|a| (a.health.state, a.health.cause))
            .collect()
    }

    fn device_up(&self, id: &str, now: f64) -> bool {
        let a = assess(&self.state, &self.policy, now);
        let slot = self
            .state
            .inventory()
            .devices()
            .iter()
            .position(|d| &*d.id == id)
            .unwrap();
        a.iter()
            .flat_map(|s| s.devices.iter())
            .find(|(s, _)| *s == slot)
            .unwrap()
            .1
            .up
    }
}

const UP: (State, Option<Cause>) = (State::Up, None);

#[test]
fn degraded_causes_keep_the_school_up() {
    let t = Tree::new();
    t.all_alive(T0);
    t.sample(
        "rtr-a1",
        Measurement::Probe,
        Some("8.8.8.8"),
        vec![(Field::LossRatio, FieldValue::Float(0.2))],
        T0,
    );
    t.sample(
        "ont-a2",
        Measurement::Optical,
        None,
        vec![(Field::RxDbm, FieldValue::Float(-26.0))],
        T0,
    );
    let counters = |rx| {
        vec![
            (Field::RxErrors, FieldValue::Counter(rx)),
            (Field::TxErrors, FieldValue::Counter(0)),
        ]
    };
    t.sample(
        "rtr-a3",
        Measurement::Interface,
        Some("wan"),
        counters(0),
        T0,
    );
    t.sample(
        "rtr-a3",
        Measurement::Interface,
        Some("wan"),
        counters(500),
        T0 + 10.0,
    );
    let s = t.schools(T0 + 10.0);
    assert_eq!(s[0], (State::Degraded, Some(Cause::ProbeLoss)));
    assert_eq!(s[1], (State::Degraded, Some(Cause::OpticalPower)));
    assert_eq!(s[2], (State::Degraded, Some(Cause::InterfaceErrors)));
    assert_eq!(s[3], UP);
    assert!(assess(&t.state, &t.policy, T0 + 10.0)
        .iter()
        .all(|a| a.health.up));
    // Recovery: loss back to zero.
    t.sample(
        "rtr-a1",
        Measurement::Probe,
        Some("8.8.8.8"),
        vec![(Field::LossRatio, FieldValue::Float(0.0))],
        T0 + 11.0,
    );
    assert_eq!(t.schools(T0 + 11.0)[0], UP);
}

#[test]
fn wan_oper_down_is_link_down() {
    let t = Tree::new();
    t.all_alive(T0);
    t.sample(
        "rtr-b1",
        Measurement::Interface,
        Some("wan"),
        vec![(Field::OperUp, FieldValue::Float(0.0))],
        T0,
    );
    // A LAN port going down is not the school's link.
    t.sample(
        "rtr-a1",
        Measurement::Interface,
        Some("lan1"),
        vec![(Field::OperUp, FieldValue::Float(0.0))],
        T0,
    );
    let s = t.schools(T0 + 1.0);
    assert_eq!(s[3], (State::Down, Some(Cause::LinkDown)));
    assert_eq!(s[0], UP);
}

#[test]
fn silent_olt_subtree_is_one_upstream_outage() {
    let t = Tree::new();
    t.all_alive(T0);
    // Everything behind olt-n (and olt-n, which may not report at all) goes
    // silent; B1 keeps reporting. Routers are stale after 30 s, long before
    // the ONTs (90 s) or the OLT (180 s) would be.
    let now = T0 + 31.0;
    for d in ["olt-s", "ont-b1", "rtr-b1"] {
        t.alive(d, now);
    }
    let s = t.schools(now);
    assert_eq!(&s[..3], &[(State::Down, Some(Cause::UpstreamDown)); 3]);
    assert_eq!(s[3], UP);
    assert!(!t.device_up("olt-n", now), "the OLT is the one to page");
    assert!(t.device_up("olt-s", now));
}

#[test]
fn one_silent_school_behind_a_working_olt_is_its_own_outage() {
    let t = Tree::new();
    t.all_alive(T0);
    let now = T0 + 31.0;
    for d in [
        "olt-n", "ont-a1", "rtr-a1", "ont-a2", "rtr-a2", "ont-a3", "olt-s", "ont-b1", "rtr-b1",
    ] {
        t.alive(d, now);
    }
    let s = t.schools(now);
    assert_eq!(s[2], (State::Down, Some(Cause::Stale)));
    assert_eq!(&s[..2], &[UP, UP]);
    assert!(t.device_up("olt-n", now));
}

#[test]
fn olt_offline_by_lwt_makes_its_schools_upstream_down_at_once() {
    let t = Tree::new();
    t.all_alive(T0);
    let olt = t.state.inventory().device("olt-n").unwrap().clone();
    t.state.record_status(
        &StatusEvent {
            device: olt,
            online: false,
            time_ns: 0,
        },
        T0 + 1.0,
    );
    // Their routers went stale too (the OLT took them down).
    let now = T0 + 31.0;
    for d in ["olt-s", "ont-b1", "rtr-b1"] {
        t.alive(d, now);
    }
    let s = t.schools(now);
    assert_eq!(&s[..3], &[(State::Down, Some(Cause::UpstreamDown)); 3]);
    // Schools still reporting behind an offline OLT are simply up.
    t.all_alive(now);
    assert_eq!(t.schools(now)[0], UP);
}
