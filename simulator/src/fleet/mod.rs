//! The simulated fleet: one state machine per inventory device, a schedule,
//! and the messages each device publishes. No MQTT here: [`Fleet`] hands out
//! [`SimMessage`]s and whoever drains it (the MQTT publisher, the embedded
//! demo, a test) sends or inspects them.
//!
//! Two ways to drain it:
//! - [`Fleet::next_messages`]: the natural schedule — every device at its
//!   inventory `expected_interval_s` (routers 10 s, ONTs 30 s, OLTs 60 s),
//!   stamped with its slot time. Real-time runs and the demo.
//! - [`Fleet::next_tick`]: the next device in schedule order (a round-robin
//!   that keeps the devices' relative frequencies), stamped with the caller's
//!   `now`. Paced and as-fast-as-possible load runs.
//!
//! Timestamps are unique and strictly increasing per device (at least 1 ms
//! apart), so no two messages of a device ever land on the same InfluxDB point.
//!
//! Submodules: `device` (one device's state and the message generator),
//! `router` and `ont_olt` (what each kind publishes), `counters` (raw
//! interface counters), `control` ([`FleetControl`]).

mod control;
mod counters;
mod device;
mod ont_olt;
mod router;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use collector::inventory::{DeviceInfo, Inventory, Role};
use collector::sample::CounterWidth;
use collector::sample::Measurement;

use super::model::{from_unix_ms, unix_ms, RouterStyle, SchoolProfile};
use super::payload;
use device::{messages_per_tick, Gen, Kind, SimDevice};

pub use control::FleetControl;
pub use counters::counter_add;

/// The probe target every router pings.
pub const PROBE_TARGET: &str = "8.8.8.8";

/// Probability that a router reboots on a given tick (about once a week at 10 s).
const REBOOT_PROBABILITY: f64 = 1.0 / 60_480.0;

/// One MQTT message the fleet wants published.
#[derive(Debug, Clone, PartialEq)]
pub struct SimMessage {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Publish with the retain flag (LWT status messages).
    pub retain: bool,
    /// Report label: `collectd`, `influx`, `json`, `value` or `status`.
    pub format: &'static str,
    pub device: Arc<str>,
    /// The device's school in the inventory (an OLT: its recorded site).
    pub school: Arc<str>,
    /// The device timestamp. Carried in the payload by `collectd` and
    /// `influx`; `json`, `value` and `status` payloads carry none, so the
    /// collector stamps those with its receive time.
    pub time: SystemTime,
    /// The canonical measurement of the one point this message produces in
    /// InfluxDB (tags of `device`/`school`), or `None` for messages that
    /// produce no point (status). See [`super::SimulateReport`].
    pub expected: Option<Measurement>,
}

/// How to build a [`Fleet`].
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Simulate only the first N schools of the inventory (and their OLTs).
    pub schools: Option<usize>,
    /// Same seed → same fleet traits, same noise, same messages.
    pub seed: u64,
    /// Origin of the natural schedule (simulated time of the first slot).
    pub start: SystemTime,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            schools: None,
            seed: 42,
            start: SystemTime::now(),
        }
    }
}
#[derive(Debug)]
pub struct Fleet {
    profiles: Vec<SchoolProfile>,
    devices: Vec<SimDevice>,
    /// (due offset from `start` in ms, device index), earliest first.
    schedule: BinaryHeap<Reverse<(i64, usize)>>,
    start_ms: i64,
    control: FleetControl,
}

impl Fleet {
    /// Builds the fleet for the first `opts.schools` schools of `inventory`:
    /// their routers and ONTs, and the OLTs those ONTs hang off. Devices of
    /// other roles (switch, ap) are not simulated.
    pub fn new(inventory: &Inventory, opts: FleetOptions) -> Fleet {
        let n = opts
            .schools
            .unwrap_or(usize::MAX)
            .min(inventory.schools().len());
        let mut profiles: Vec<SchoolProfile> = inventory.schools()[..n]
            .iter()
            .enumerate()
            .map(|(i, s)| SchoolProfile::new(opts.seed, i, s.clone()))
            .collect();
        let mut profile_of: HashMap<Arc<str>, usize> = profiles
            .iter()
            .enumerate()
            .map(|(i, p)| (p.school.id.clone(), i))
            .collect();

        // Devices of the selected schools, plus the parents (transitively) of those.
        let mut wanted: HashSet<&str> = inventory
            .devices()
            .iter()
            .filter(|d| profile_of.contains_key(d.school_id()))
            .map(|d| &*d.id)
            .collect();
        let mut frontier: Vec<&str> = wanted.iter().copied().collect();
        while let Some(id) = frontier.pop() {
            if let Some(parent) = inventory.device(id).and_then(|d| d.parent.as_deref()) {
                if wanted.insert(parent) {
                    frontier.push(parent);
                }
            }
        }

        // Counter width is a fact of the inventory, so the simulator and the
        // collector agree on which routers wrap at 2^32.
        for profile in &mut profiles {
            let bits32 = inventory
                .devices_of(&profile.school.id)
                .any(|d| d.role == Role::Router && d.counter_width == Some(CounterWidth::Bits32));
            profile.counter_bits = if bits32 { 32 } else { 64 };
        }

        let inventory_index: HashMap<&str, usize> = inventory
            .schools()
            .iter()
            .enumerate()
            .map(|(i, s)| (&*s.id, i))
            .collect();
        let mut devices = Vec::new();
        for info in inventory.devices() {
            if !wanted.contains(&*info.id) {
                continue;
            }
            let school_index = inventory_index[info.school_id()];
            let profile = *profile_of.entry(info.school.id.clone()).or_insert_with(|| {
                // A parent recorded under a school outside the selection.
                profiles.push(SchoolProfile::new(
                    opts.seed,
                    school_index,
                    info.school.clone(),
                ));
                profiles.len() - 1
            });
            let kind = match info.role {
                Role::Router => Kind::Router(RouterStyle::for_index(school_index)),
                Role::Ont => Kind::Ont,
                Role::Olt => Kind::Olt,
                Role::Switch | Role::Ap => continue,
            };
            devices.push(SimDevice::new(info.clone(), profile, kind, opts.seed));
        }

        // Stagger first reports over one interval so the fleet does not
        // report in lockstep.
        let mut schedule = BinaryHeap::with_capacity(devices.len());
        for (i, d) in devices.iter_mut().enumerate() {
            let phase = d.rng.below(d.interval_ms as u64) as i64;
            schedule.push(Reverse((phase, i)));
        }
        Fleet {
            control: FleetControl::new(&devices),
            profiles,
            devices,
            schedule,
            start_ms: unix_ms(opts.start),
        }
    }

    /// Profiles of the simulated schools, in inventory order (an OLT recorded
    /// under a school outside the selection adds that school at the end).
    pub fn profiles(&self) -> &[SchoolProfile] {
        &self.profiles
    }

    pub fn profile(&self, school: &str) -> Option<&SchoolProfile> {
        self.profiles.iter().find(|p| &*p.school.id == school)
    }

    /// The simulated devices, in inventory order.
    pub fn devices(&self) -> impl Iterator<Item = &Arc<DeviceInfo>> {
        self.devices.iter().map(|d| &d.info)
    }

    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// Messages per second on the natural schedule (for a `--rate` default
    /// or to size a test).
    pub fn natural_rate(&self) -> f64 {
        self.devices
            .iter()
            .map(|d| messages_per_tick(d.kind) as f64 * 1000.0 / d.interval_ms as f64)
            .sum()
    }

    /// A handle to steer the fleet while it runs elsewhere.
    pub fn control(&self) -> FleetControl {
        self.control.clone()
    }

    /// See [`FleetControl::set_silent`].
    pub fn set_silent(&self, device: &str, silent: bool) -> bool {
        self.control.set_silent(device, silent)
    }

    /// Silences or resumes every simulated device recorded under `school`.
    pub fn set_school_silent(&self, school: &str, silent: bool) -> usize {
        self.control.set_school_silent(school, silent)
    }

    /// See [`FleetControl::publish_offline`].
    pub fn publish_offline(&self, device: &str) -> bool {
        self.control.publish_offline(device)
    }

    /// See [`FleetControl::publish_online`].
    pub fn publish_online(&self, device: &str) -> bool {
        self.control.publish_online(device)
    }

    /// See [`FleetControl::reboot`].
    pub fn reboot(&self, device: &str) -> bool {
        self.control.reboot(device)
    }

    /// What every router and OLT publishes when it connects: `Online` on
    /// `tele/<device>/LWT`, retained. (One MQTT connection carries the whole
    /// fleet, so no will is set; [`Fleet::publish_offline`] plays the will.)
    pub fn start_messages(&mut self, now: SystemTime) -> Vec<SimMessage> {
        self.devices
            .iter()
            .filter(|d| matches!(d.kind, Kind::Router(_) | Kind::Olt))
            .map(|d| status_message(&d.info, true, now))
            .collect()
    }

    /// Simulated time of the next slot on the natural schedule.
    pub fn next_due(&self) -> Option<SystemTime> {
        self.schedule
            .peek()
            .map(|Reverse((due, _))| from_unix_ms(self.start_ms + due))
    }

    /// Natural schedule: every device whose slot is at or before `now`
    /// reports once, stamped with its slot time. A device that missed
    /// several slots (the caller fell behind) reports once, for the latest.
    pub fn next_messages(&mut self, now: SystemTime) -> Vec<SimMessage> {
        let now_ms = unix_ms(now);
        let mut out = self.drain_control(now);
        while let Some(&Reverse((due, idx))) = self.schedule.peek() {
            if self.start_ms + due > now_ms {
                break;
            }
            self.schedule.pop();
            let interval = self.devices[idx].interval_ms;
            let behind = (now_ms - (self.start_ms + due)) / interval;
            let slot = due + behind * interval;
            self.schedule.push(Reverse((slot + interval, idx)));
            self.tick(idx, self.start_ms + slot, &mut out);
        }
        out
    }

    /// Round-robin: the next device in schedule order reports now (stamped
    /// `now`, or just after its previous message). Empty if that device is
    /// silent; pending status messages come first.
    pub fn next_tick(&mut self, now: SystemTime) -> Vec<SimMessage> {
        let mut out = self.drain_control(now);
        if let Some(Reverse((due, idx))) = self.schedule.pop() {
            self.schedule
                .push(Reverse((due + self.devices[idx].interval_ms, idx)));
            self.tick(idx, unix_ms(now), &mut out);
        }
        out
    }

    fn drain_control(&mut self, now: SystemTime) -> Vec<SimMessage> {
        self.control
            .take_pending()
            .into_iter()
            .map(|(idx, online)| status_message(&self.devices[idx].info, online, now))
            .collect()
    }

    /// One report of device `idx` at `at_ms` (before uniqueness stamping).
    fn tick(&mut self, idx: usize, at_ms: i64, out: &mut Vec<SimMessage>) {
        let dev = &mut self.devices[idx];
        let (silent, reboot) = self.control.take_tick_flags(&dev.info.id);
        if silent {
            return;
        }
        if matches!(dev.kind, Kind::Router(_)) {
            let random_reboot = dev.rng.chance(REBOOT_PROBABILITY);
            if (reboot || random_reboot) && dev.boot_ms.is_some() {
                dev.reboot(at_ms);
            }
        }
        let profile = &self.profiles[dev.profile];
        let mut g = Gen { dev, profile, out };
        match g.dev.kind {
            Kind::Router(style) => g.router(style, at_ms),
            Kind::Ont => g.ont(at_ms),
            Kind::Olt => g.olt(at_ms),
        }
    }
}

/// `tele/<device>/LWT` = `Online` / `Offline`, retained: no InfluxDB point.
fn status_message(info: &Arc<DeviceInfo>, online: bool, now: SystemTime) -> SimMessage {
    SimMessage {
        topic: format!("tele/{}/LWT", info.id),
        payload: payload::status(online),
        retain: true,
        format: payload::STATUS,
        device: info.id.clone(),
        school: info.school.id.clone(),
        time: now,
        expected: None,
    }
}
