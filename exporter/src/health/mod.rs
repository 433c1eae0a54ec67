//! School health: the state machine that decides, for every device and
//! school at one instant, `up`, `degraded`, `down` (with a cause) or
//! `unknown`.
//!
//! Device verdicts, strongest first:
//! - `down`/`lwt_offline`: its last will/status message is a newer `offline`
//!   than its last sign of life;
//! - `unknown`: never heard from;
//! - `down`/`stale`: no telemetry for `stale_factor` × its expected interval;
//! - `down`/`link_down`: a router whose WAN interface reports oper status down;
//! - `degraded`: reporting, but probe loss, optical power or WAN errors are
//!   past their thresholds (`probe_loss`, `optical_power`, `interface_errors`);
//! - `up`.
//!
//! A school follows its router(s) (with no router: any device but an OLT) and
//! is degraded when any of its devices is. When a school is down and a device
//! upstream of it (its OLT) is *dark*, the cause is `upstream_down`: the OLT
//! is paged once instead of every school behind it. A device is dark when it
//! is down itself, or when it has children and all of them are dark; so an
//! OLT that publishes nothing is still recognised as down the moment every
//! school behind it goes silent.
//!
//! `up` is 1 only on a sign of life: up or degraded. Unknown is never up
//! (a device never heard from is not known to work). What an unknown device
//! or school is *counted as* is another matter: within `unknown_grace_s`
//! after start it is not an outage (a restart must not page), afterwards it
//! is ([`Health::counts_as_down`]; the alert rules read the same grace from
//! `schoolnet_exporter_startup_grace`). Pure functions of the live state and
//! `now`; outage history is kept by `crate::outage`.

mod school;

use collector::config::ExporterConfig;
use collector::inventory::{DeviceInfo, Role};

use crate::state::{HealthInputs, LiveState};
pub use school::assess;

/// Health state of a device or school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Up,
    Degraded,
    Down,
    Unknown,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Degraded => "degraded",
            State::Down => "down",
            State::Unknown => "unknown",
        }
    }
}

/// Why a device or school is degraded or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    ProbeLoss,
    InterfaceErrors,
    OpticalPower,
    LwtOffline,
    Stale,
    LinkDown,
    UpstreamDown,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ProbeLoss => "probe_loss",
            Cause::InterfaceErrors => "interface_errors",
            Cause::OpticalPower => "optical_power",
            Cause::LwtOffline => "lwt_offline",
            Cause::Stale => "stale",
            Cause::LinkDown => "link_down",
            Cause::UpstreamDown => "upstream_down",
        }
    }
}

/// Every (state, cause) pair `schoolnet_school_state` is one-hot over, in
/// exposition order.
pub const STATE_SERIES: [(State, Option<Cause>); 9] = [
    (State::Up, None),
    (State::Degraded, Some(Cause::ProbeLoss)),
    (State::Degraded, Some(Cause::InterfaceErrors)),
    (State::Degraded, Some(Cause::OpticalPower)),
    (State::Down, Some(Cause::LwtOffline)),
    (State::Down, Some(Cause::Stale)),
    (State::Down, Some(Cause::LinkDown)),
    (State::Down, Some(Cause::UpstreamDown)),
    (State::Unknown, None),
];

/// The verdict for one device or school at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Health {
    pub state: State,
    /// Set exactly when `state` is degraded or down.
    pub cause: Option<Cause>,
    /// The exported 0/1: up or degraded (a sign of life); never unknown.
    pub up: bool,
    /// Down, or unknown past the start-up grace period: an outage.
    pub counts_as_down: bool,
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
    pub degraded_loss_ratio: f64,
    pub optical_low_dbm: f64,
    pub optical_high_dbm: f64,
    pub degraded_error_rate: f64,
}

impl HealthPolicy {
    pub fn new(config: &ExporterConfig, started_at: f64) -> HealthPolicy {
        HealthPolicy {
            stale_factor: config.stale_factor,
            unknown_grace_s: config.unknown_grace_s,
            started_at,
            degraded_loss_ratio: config.degraded_loss_ratio,
            optical_low_dbm: config.optical_low_dbm,
            optical_high_dbm: config.optical_high_dbm,
            degraded_error_rate: config.degraded_error_rate,
        }
    }

    /// Within the start-up grace period, when unknown is not yet an outage.
    pub fn in_grace(&self, now: f64) -> bool {
        now - self.started_at < self.unknown_grace_s
    }

    pub(crate) fn verdict(
        &self,
        state: State,
        cause: Option<Cause>,
        last_seen: Option<f64>,
        now: f64,
    ) -> Health {
        let counts_as_down = match state {
            State::Up | State::Degraded => false,
            State::Down => true,
            State::Unknown => !self.in_grace(now),
        };
        Health {
            state,
            cause,
            up: matches!(state, State::Up | State::Degraded),
            counts_as_down,
            last_seen,
        }
    }

    /// Seconds without telemetry after which `device` is stale.
    pub fn stale_after(&self, device: &DeviceInfo) -> f64 {
        self.stale_factor * device.expected_interval.as_secs_f64()
    }

    /// Health of one device from its own health inputs.
    pub fn device(&self, device: &DeviceInfo, inputs: HealthInputs, now: f64) -> Health {
        let offline = matches!(inputs.status, Some(s) if !s.online && inputs.last_seen.is_none_or(|seen| seen <= s.at));
        let sig = inputs.signals;
        let (state, cause) = match inputs.last_seen {
            _ if offline => (State::Down, Some(Cause::LwtOffline)),
            None => (State::Unknown, None),
            Some(seen) if now - seen > self.stale_after(device) => {
                (State::Down, Some(Cause::Stale))
            }
            Some(_) if device.role == Role::Router && sig.wan_oper_up == Some(false) => {
                (State::Down, Some(Cause::LinkDown))
            }
            Some(_) if sig.loss_ratio.is_some_and(|l| l > self.degraded_loss_ratio) => {
                (State::Degraded, Some(Cause::ProbeLoss))
            }
            Some(_)
                if sig
                    .rx_dbm
                    .is_some_and(|p| p < self.optical_low_dbm || p > self.optical_high_dbm) =>
            {
                (State::Degraded, Some(Cause::OpticalPower))
            }
            Some(_)
                if sig
                    .wan_error_rate
                    .is_some_and(|r| r > self.degraded_error_rate) =>
            {
                (State::Degraded, Some(Cause::InterfaceErrors))
            }
            Some(_) => (State::Up, None),
        };
        self.verdict(state, cause, inputs.last_seen, now)
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

/// Every device's own verdict, by slot (inventory order).
pub(crate) fn device_verdicts(state: &LiveState, policy: &HealthPolicy, now: f64) -> Vec<Health> {
    (0..state.inventory().devices().len())
        .map(|slot| policy.device(state.device(slot), state.health_inputs(slot), now))
        .collect()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tree_tests;
