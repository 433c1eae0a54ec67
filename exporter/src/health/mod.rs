//! School health, simple form: is each device up, and therefore each school?
//!
//! A device is *up* when it was heard from within `stale_factor` × its
//! expected interval and its last will/status message is not a newer
//! `offline`. A school follows its router(s): up if any router is up; with no
//! router, any of its devices. OLTs are filed under a school but serve many,
//! so they do not count for that school unless it has nothing else.
//!
//! Before the first message a school is `unknown`. For the 0/1 `up` value an
//! unknown school (or device) counts as up during `unknown_grace_s` after
//! start, so a restart does not page, and as down afterwards.
//!
//! Pure functions of observations and `now`; the later state machine
//! (degraded, link_down, upstream_down, outage history) replaces this module.

use collector::config::ExporterConfig;
use collector::inventory::{DeviceInfo, Role};

use crate::state::{LiveState, Observation};

/// Health state of a device or school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Up,
    Down,
    Unknown,
}

impl State {
    /// Every state, in exposition order (`schoolnet_school_state` is one-hot over these).
    pub const ALL: [State; 3] = [State::Up, State::Down, State::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Down => "down",
            State::Unknown => "unknown",
        }
    }
}

/// Why a device or school is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DownCause {
    /// Its last will/status message said offline (the broker published its will).
    LwtOffline,
    /// No telemetry for `stale_factor` × expected interval.
    Stale,
}

impl DownCause {
    pub fn as_str(self) -> &'static str {
        match self {
            DownCause::LwtOffline => "lwt_offline",
            DownCause::Stale => "stale",
        }
    }
}

/// The verdict for one device or school at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Health {
    pub state: State,
    /// Set exactly when `state` is [`State::Down`].
    pub cause: Option<DownCause>,
    /// The exported 0/1: up, or unknown within the grace period.
    pub up: bool,
    /// Receive time of the last sign of life, Unix seconds.
    pub last_seen: Option<f64>,
}

/// The thresholds health is judged by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthPolicy {
    /// Stale after this many expected intervals without telemetry.
    pub stale_factor: f64,
    /// Unknown counts as down this many seconds after `started_at`.
    pub unknown_grace_s: f64,
    /// When the exporter started, Unix seconds.
    pub started_at: f64,
}

impl HealthPolicy {
    pub fn new(config: &ExporterConfig, started_at: f64) -> HealthPolicy {
        HealthPolicy {
            stale_factor: config.stale_factor,
            unknown_grace_s: config.unknown_grace_s,
            started_at,
        }
    }

    fn in_grace(&self, now: f64) -> bool {
        now - self.started_at < self.unknown_grace_s
    }

    fn verdict(
        &self,
        state: State,
        cause: Option<DownCause>,
        last_seen: Option<f64>,
        now: f64,
    ) -> Health {
        let up = match state {
            State::Up => true,
            State::Down => false,
            State::Unknown => self.in_grace(now),
        };
        Health {
            state,
            cause,
            up,
            last_seen,
        }
    }

    /// Health of one device.
    pub fn device(&self, device: &DeviceInfo, obs: Observation, now: f64) -> Health {
        let stale_after = self.stale_factor * device.expected_interval.as_secs_f64();
        let offline = matches!(obs.status, Some(s) if !s.online && obs.last_seen.is_none_or(|seen| seen <= s.at));
        let (state, cause) = match obs.last_seen {
            _ if offline => (State::Down, Some(DownCause::LwtOffline)),
            None => (State::Unknown, None),
            Some(seen) if now - seen > stale_after => (State::Down, Some(DownCause::Stale)),
            Some(_) => (State::Up, None),
        };
        self.verdict(state, cause, obs.last_seen, now)
    }

    /// Health of a school from the health of its devices (inventory order).
    pub fn school<'a>(
        &self,
        devices: impl IntoIterator<Item = (&'a DeviceInfo, Health)>,
        now: f64,
    ) -> Health {
        let all: Vec<(Role, Health)> = devices.into_iter().map(|(d, h)| (d.role, h)).collect();
        let members: Vec<&(Role, Health)> = if all.iter().any(|(r, _)| *r != Role::Olt) {
            all.iter().filter(|(r, _)| *r != Role::Olt).collect()
        } else {
            all.iter().collect()
        };
        let routers: Vec<&Health> = members
            .iter()
            .filter(|(r, _)| *r == Role::Router)
            .map(|(_, h)| h)
            .collect();
        let judged: Vec<&Health> = if routers.is_empty() {
            members.iter().map(|(_, h)| h).collect()
        } else {
            routers
        };
        let last_seen = members
            .iter()
            .filter_map(|(_, h)| h.last_seen)
            .fold(None, |acc: Option<f64>, t| {
                Some(acc.map_or(t, |a| a.max(t)))
            });
        let (state, cause) = if judged.iter().any(|h| h.state == State::Up) {
            (State::Up, None)
        } else if judged
            .iter()
            .any(|h| h.cause == Some(DownCause::LwtOffline))
        {
            (State::Down, Some(DownCause::LwtOffline))
        } else if judged.iter().any(|h| h.state == State::Down) {
            (State::Down, Some(DownCause::Stale))
        } else {
            (State::Unknown, None)
        };
        self.verdict(state, cause, last_seen, now)
    }
}

/// Health of one inventory school and of each of its devices.
#[derive(Debug, Clone, PartialEq)]
pub struct SchoolAssessment {
    /// Index into `Inventory::schools()`.
    pub school: usize,
    pub health: Health,
    /// `(slot, health)` per device of the school, inventory order.
    pub devices: Vec<(usize, Health)>,
}

/// Assesses every inventory school, in inventory order, at `now`.
pub fn assess(state: &LiveState, policy: &HealthPolicy, now: f64) -> Vec<SchoolAssessment> {
    (0..state.inventory().schools().len())
        .map(|school| {
            let devices: Vec<(usize, Health)> = state
                .school_devices(school)
                .iter()
                .map(|&slot| {
                    (
                        slot,
                        policy.device(state.device(slot), state.observe(slot), now),
                    )
                })
                .collect();
            let health = policy.school(
                devices.iter().map(|&(slot, h)| (&**state.device(slot), h)),
                now,
            );
            SchoolAssessment {
                school,
                health,
                devices,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
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
            let policy = HealthPolicy {
                stale_factor: 3.0,
                unknown_grace_s: 120.0,
                started_at: T0,
            };
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
                self.state.observe(slot),
                self.clock.now(),
            )
        }

        fn school(&self, index: usize) -> Health {
            let all = assess(&self.state, &self.policy, self.clock.now());
            assert_eq!(all[index].school, index);
            all[index].health
        }
    }

    fn summary(h: Health) -> (State, Option<DownCause>, bool) {
        (h.state, h.cause, h.up)
    }

    #[test]
    fn unknown_then_up_then_stale_then_up_again() {
        let f = Fixture::new();
        assert_eq!(summary(f.school(0)), (State::Unknown, None, true));
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
            (State::Down, Some(DownCause::Stale), false)
        );
        assert_eq!(
            summary(f.device("r1")),
            (State::Down, Some(DownCause::Stale), false)
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
            (State::Down, Some(DownCause::Stale), false)
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
            (State::Down, Some(DownCause::LwtOffline), false)
        );
        assert_eq!(f.school(0).last_seen, Some(T0));

        // Telemetry after the will: alive again.
        f.clock.advance(1.0);
        f.telemetry("r1");
        assert_eq!(f.school(0).state, State::Up);

        f.clock.advance(1.0);
        f.status("r1", false);
        assert_eq!(f.school(0).cause, Some(DownCause::LwtOffline));
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
            (State::Down, Some(DownCause::LwtOffline), false)
        );
    }

    #[test]
    fn unknown_counts_as_down_after_the_grace_period() {
        let f = Fixture::new();
        f.clock.advance(119.0);
        assert_eq!(summary(f.school(0)), (State::Unknown, None, true));
        assert!(f.device("r1").up);
        f.clock.advance(1.0);
        assert_eq!(summary(f.school(0)), (State::Unknown, None, false));
        assert!(!f.device("r1").up);
        // A school without devices stays unknown forever.
        assert_eq!(summary(f.school(3)), (State::Unknown, None, false));
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
        let names: Vec<_> = State::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["up", "down", "unknown"]);
        assert_eq!(DownCause::LwtOffline.as_str(), "lwt_offline");
        assert_eq!(DownCause::Stale.as_str(), "stale");
    }
}
