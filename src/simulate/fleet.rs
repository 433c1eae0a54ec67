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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use collector::decode::CounterWidth;
use collector::inventory::{DeviceInfo, Inventory, Role};
use collector::sample::Measurement;

use super::model::{activity, from_unix_ms, unix_ms, Rng, RouterStyle, SchoolProfile};
use super::payload::{self, LpValue};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Router(RouterStyle),
    Ont,
    Olt,
}

/// Raw interface counters as the device holds them (Telegraf `net`).
#[derive(Debug, Clone)]
struct NetCounters {
    at_ms: i64,
    bits32: bool,
    rx_bytes: u64,
    tx_bytes: u64,
    rx_packets: u64,
    tx_packets: u64,
    rx_errors: u64,
    tx_errors: u64,
    rx_drops: u64,
    tx_drops: u64,
}

/// Adds `delta` to a raw counter of the declared width (32-bit: `u32`
/// wrapping arithmetic, like the kernel's `unsigned long` on 32-bit MIPS).
pub fn counter_add(value: u64, delta: u64, bits32: bool) -> u64 {
    if bits32 {
        u64::from((value as u32).wrapping_add(delta as u32))
    } else {
        value.wrapping_add(delta)
    }
}

impl NetCounters {
    fn new(
        at_ms: i64,
        bits32: bool,
        rng: &mut Rng,
        uptime_s: f64,
        typical_bps: f64,
    ) -> NetCounters {
        // 32-bit counters start anywhere in their range so wraps come soon;
        // 64-bit ones at roughly what the uptime so far accumulated.
        let start = |rng: &mut Rng, scale: f64| -> u64 {
            if bits32 {
                rng.below(1u64 << 32)
            } else {
                (uptime_s * typical_bps * scale * rng.range(0.5, 1.5)) as u64
            }
        };
        NetCounters {
            at_ms,
            bits32,
            rx_bytes: start(rng, 1.0),
            tx_bytes: start(rng, 0.2),
            rx_packets: start(rng, 1.0 / 900.0),
            tx_packets: start(rng, 1.0 / 400.0),
            rx_errors: if bits32 {
                rng.below(50)
            } else {
                rng.below(500)
            },
            tx_errors: 0,
            rx_drops: rng.below(2000),
            tx_drops: rng.below(20),
        }
    }

    /// After a reboot the kernel counters start over.
    fn reset(&mut self, at_ms: i64, rng: &mut Rng) {
        self.at_ms = at_ms;
        self.rx_bytes = rng.range(20_000.0, 2_000_000.0) as u64;
        self.tx_bytes = rng.range(5_000.0, 400_000.0) as u64;
        self.rx_packets = self.rx_bytes / 900;
        self.tx_packets = self.tx_bytes / 400;
        self.rx_errors = 0;
        self.tx_errors = 0;
        self.rx_drops = 0;
        self.tx_drops = 0;
    }

    fn advance(&mut self, at_ms: i64, rx_bps: f64, tx_bps: f64, rng: &mut Rng) {
        let dt = ((at_ms - self.at_ms).max(0) as f64) / 1000.0;
        self.at_ms = at_ms;
        let rx = (rx_bps * dt) as u64;
        let tx = (tx_bps * dt) as u64;
        let w = self.bits32;
        self.rx_bytes = counter_add(self.rx_bytes, rx, w);
        self.tx_bytes = counter_add(self.tx_bytes, tx, w);
        self.rx_packets = counter_add(self.rx_packets, rx / 900 + 1, w);
        self.tx_packets = counter_add(self.tx_packets, tx / 400 + 1, w);
        if rng.chance(0.02) {
            self.rx_errors = counter_add(self.rx_errors, 1 + rng.below(3), w);
        }
        if rng.chance(0.05) {
            self.rx_drops = counter_add(self.rx_drops, 1 + rng.below(10), w);
        }
    }
}

#[derive(Debug, Clone)]
struct SimDevice {
    info: Arc<DeviceInfo>,
    /// Index into `Fleet::profiles` (an OLT: its recorded school).
    profile: usize,
    kind: Kind,
    interval_ms: i64,
    rng: Rng,
    /// Last timestamp handed out (ms), for strictly increasing timestamps.
    last_ms: Option<i64>,
    /// Boot time (ms); set on the first report from a random initial uptime.
    boot_ms: Option<i64>,
    net: Option<NetCounters>,
}

impl SimDevice {
    /// A timestamp ≥ `want_ms`, strictly after the previous one.
    fn stamp(&mut self, want_ms: i64) -> i64 {
        let t = match self.last_ms {
            Some(last) if want_ms <= last => last + 1,
            _ => want_ms,
        };
        self.last_ms = Some(t);
        t
    }

    fn uptime_s(&mut self, at_ms: i64) -> f64 {
        let boot = match self.boot_ms {
            Some(b) => b,
            None => {
                // Up between 2 hours and 60 days when the simulation starts.
                let up_ms = self.rng.range(2.0 * 3600.0, 60.0 * 86_400.0) * 1000.0;
                let b = at_ms - up_ms as i64;
                self.boot_ms = Some(b);
                b
            }
        };
        ((at_ms - boot).max(0) / 1000) as f64
    }
}

/// Device id → (index in the fleet, school id).
type DeviceIndex = HashMap<Arc<str>, (usize, Arc<str>)>;

#[derive(Debug, Default)]
struct ControlState {
    silent: HashSet<Arc<str>>,
    reboot: HashSet<Arc<str>>,
    /// Status announcements to publish: (device, online).
    pending: Vec<(Arc<str>, bool)>,
}

/// A handle to steer a running fleet from another task (tests: "school A
/// goes down via LWT, school B falls silent"). Cheap to clone; changes take
/// effect on the fleet's next `next_messages` / `next_tick` call.
#[derive(Debug, Clone)]
pub struct FleetControl {
    devices: Arc<DeviceIndex>,
    state: Arc<Mutex<ControlState>>,
}

impl FleetControl {
    fn known(&self, device: &str) -> Option<Arc<str>> {
        self.devices.get_key_value(device).map(|(k, _)| k.clone())
    }

    fn with<R>(&self, f: impl FnOnce(&mut ControlState) -> R) -> R {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Stops (`true`) or resumes (`false`) all telemetry of `device` without
    /// any status message: the "silent" failure that only staleness catches.
    /// Returns `false` if the device is not simulated.
    pub fn set_silent(&self, device: &str, silent: bool) -> bool {
        let Some(id) = self.known(device) else {
            return false;
        };
        self.with(|s| {
            if silent {
                s.silent.insert(id);
            } else {
                s.silent.remove(&id);
            }
        });
        true
    }

    /// Silences or resumes every simulated device recorded under `school`
    /// (router, ONT, and an OLT recorded there). Returns how many devices.
    pub fn set_school_silent(&self, school: &str, silent: bool) -> usize {
        let ids: Vec<Arc<str>> = self
            .devices
            .iter()
            .filter(|(_, (_, s))| &**s == school)
            .map(|(d, _)| d.clone())
            .collect();
        self.with(|s| {
            for id in &ids {
                if silent {
                    s.silent.insert(id.clone());
                } else {
                    s.silent.remove(id);
                }
            }
        });
        ids.len()
    }

    /// What the broker does when a device's connection dies: publishes its
    /// will, `tele/<device>/LWT` = `Offline` (retained), and the device stops
    /// reporting. Returns `false` if the device is not simulated.
    pub fn publish_offline(&self, device: &str) -> bool {
        let Some(id) = self.known(device) else {
            return false;
        };
        self.with(|s| {
            s.silent.insert(id.clone());
            s.pending.push((id, false));
        });
        true
    }

    /// The device reconnects: `Online` (retained) and telemetry resumes.
    pub fn publish_online(&self, device: &str) -> bool {
        let Some(id) = self.known(device) else {
            return false;
        };
        self.with(|s| {
            s.silent.remove(&id);
            s.pending.push((id, true));
        });
        true
    }

    /// Reboots a router on its next tick: uptime and raw counters start over.
    pub fn reboot(&self, device: &str) -> bool {
        let Some(id) = self.known(device) else {
            return false;
        };
        self.with(|s| s.reboot.insert(id));
        true
    }

    pub fn is_silent(&self, device: &str) -> bool {
        self.with(|s| s.silent.contains(device))
    }
}

/// The simulated fleet. See the module docs.
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
            let interval_ms = (info.expected_interval.as_millis() as i64).max(1);
            devices.push(SimDevice {
                rng: Rng::stream(opts.seed, &info.id),
                info: info.clone(),
                profile,
                kind,
                interval_ms,
                last_ms: None,
                boot_ms: None,
                net: None,
            });
        }

        // Stagger first reports over one interval so the fleet does not
        // report in lockstep.
        let mut schedule = BinaryHeap::with_capacity(devices.len());
        for (i, d) in devices.iter_mut().enumerate() {
            let phase = d.rng.below(d.interval_ms as u64) as i64;
            schedule.push(Reverse((phase, i)));
        }
        let index: DeviceIndex = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.info.id.clone(), (i, d.info.school.id.clone())))
            .collect();
        Fleet {
            profiles,
            devices,
            schedule,
            start_ms: unix_ms(opts.start),
            control: FleetControl {
                devices: Arc::new(index),
                state: Arc::new(Mutex::new(ControlState::default())),
            },
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
        let pending = self.control.with(|s| std::mem::take(&mut s.pending));
        pending
            .into_iter()
            .filter_map(|(id, online)| {
                let (idx, _) = *self.control.devices.get(&id)?;
                Some(status_message(&self.devices[idx].info, online, now))
            })
            .collect()
    }

    /// One report of device `idx` at `at_ms` (before uniqueness stamping).
    fn tick(&mut self, idx: usize, at_ms: i64, out: &mut Vec<SimMessage>) {
        let (silent, reboot) = {
            let id = &self.devices[idx].info.id;
            self.control
                .with(|s| (s.silent.contains(id), s.reboot.remove(id)))
        };
        if silent {
            return;
        }
        let profile = &self.profiles[self.devices[idx].profile];
        let dev = &mut self.devices[idx];
        let mut g = Gen { dev, profile, out };
        match g.dev.kind {
            Kind::Router(style) => {
                let random_reboot = g.dev.rng.chance(REBOOT_PROBABILITY);
                if (reboot || random_reboot) && g.dev.boot_ms.is_some() {
                    g.reboot(at_ms);
                }
                g.router(style, at_ms);
            }
            Kind::Ont => g.ont(at_ms),
            Kind::Olt => g.olt(at_ms),
        }
    }
}

/// Messages one device publishes per report.
fn messages_per_tick(kind: Kind) -> usize {
    match kind {
        Kind::Router(RouterStyle::Collectd) => 9,
        Kind::Router(RouterStyle::Telegraf) => 6,
        Kind::Router(RouterStyle::Mikrotik) => 4,
        Kind::Ont => 1,
        Kind::Olt => 2,
    }
}

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

/// The router's readings at one instant.
struct Readings {
    rx_bps: f64,
    tx_bps: f64,
    rtt_ms: f64,
    rtt_sd_ms: f64,
    loss: f64,
    cpu: f64,
    load1: f64,
    mem_used: u64,
    uptime_s: f64,
    clients: f64,
    leases: f64,
}

/// Generates one device's messages for one report.
struct Gen<'a> {
    dev: &'a mut SimDevice,
    profile: &'a SchoolProfile,
    out: &'a mut Vec<SimMessage>,
}

impl Gen<'_> {
    fn push(
        &mut self,
        topic: String,
        payload: Vec<u8>,
        format: &'static str,
        time_ms: i64,
        m: Measurement,
    ) {
        self.out.push(SimMessage {
            topic,
            payload,
            retain: false,
            format,
            device: self.dev.info.id.clone(),
            school: self.dev.info.school.id.clone(),
            time: from_unix_ms(time_ms),
            expected: Some(m),
        });
    }

    fn reboot(&mut self, at_ms: i64) {
        let up_ms = self.dev.rng.range(40_000.0, 90_000.0) as i64;
        self.dev.boot_ms = Some(at_ms - up_ms);
        if let Some(net) = &mut self.dev.net {
            net.reset(at_ms, &mut self.dev.rng);
        }
        tracing::debug!(device = %self.dev.info.id, "simulated reboot");
    }

    fn readings(&mut self, at_ms: i64) -> Readings {
        let p = self.profile;
        let rng = &mut self.dev.rng;
        let a = activity(at_ms);
        let uplink_bytes = p.school.uplink_mbps * 1e6 / 8.0;
        let util = (0.004 + a * p.peak_utilization * rng.noise(0.15)).clamp(0.001, 0.97);
        let rx_bps = util * uplink_bytes;
        let tx_bps = (rx_bps * p.tx_ratio * rng.noise(0.1)).min(0.97 * uplink_bytes);
        let rtt_ms = p.base_rtt_ms * (1.0 + 0.4 * a * util) * rng.noise(0.12);
        let loss = if p.lossy { rng.range(0.02, 0.10) } else { 0.0 };
        let cpu = (0.03 + 0.35 * a * rng.noise(0.2)).clamp(0.01, 0.99);
        let load1 = cpu * f64::from(p.n_cpus) * rng.noise(0.1);
        let mem_ratio = (0.35 + 0.15 * a + 0.03 * rng.normal()).clamp(0.2, 0.9);
        let clients = (p.max_clients * a * rng.noise(0.1)).round().max(0.0);
        let leases = clients + p.wired_clients;
        let rtt_sd_ms = rtt_ms * rng.range(0.02, 0.15);
        let uptime_s = self.dev.uptime_s(at_ms);
        Readings {
            rx_bps,
            tx_bps,
            rtt_ms,
            rtt_sd_ms,
            loss,
            cpu,
            load1,
            mem_used: (p.mem_total as f64 * mem_ratio) as u64,
            uptime_s,
            clients,
            leases,
        }
    }

    fn router(&mut self, style: RouterStyle, at_ms: i64) {
        let r = self.readings(at_ms);
        let id = self.dev.info.id.clone();
        let wan = self
            .dev
            .info
            .wan_interface
            .clone()
            .unwrap_or_else(|| Arc::from("wan"));
        match style {
            RouterStyle::Collectd => {
                let cd = |plugin: &str, typ: &str| format!("collectd/{id}/{plugin}/{typ}");
                let lf = f64::from(self.profile.n_cpus);
                let msgs: [(String, Vec<f64>, Measurement); 9] = [
                    (
                        cd(&format!("interface-{wan}"), "if_octets"),
                        vec![r.rx_bps, r.tx_bps],
                        Measurement::Interface,
                    ),
                    (
                        cd("load", "load"),
                        vec![r.load1, r.load1 * 0.9, (r.load1 * 0.8).min(lf)],
                        Measurement::System,
                    ),
                    (
                        cd("memory", "memory-used"),
                        vec![r.mem_used as f64],
                        Measurement::System,
                    ),
                    (
                        cd("cpu", "percent-active"),
                        vec![r.cpu * 100.0],
                        Measurement::System,
                    ),
                    (
                        cd("uptime", "uptime"),
                        vec![r.uptime_s],
                        Measurement::System,
                    ),
                    (
                        cd("ping", &format!("ping-{PROBE_TARGET}")),
                        vec![r.rtt_ms],
                        Measurement::Probe,
                    ),
                    (
                        cd("ping", &format!("ping_droprate-{PROBE_TARGET}")),
                        vec![(r.loss * 100.0).round() / 100.0],
                        Measurement::Probe,
                    ),
                    (
                        cd("iwinfo-wlan0", "stations"),
                        vec![r.clients],
                        Measurement::Clients,
                    ),
                    (
                        cd("dhcpleases", "count"),
                        vec![r.leases],
                        Measurement::Clients,
                    ),
                ];
                for (topic, values, m) in msgs {
                    let t = self.dev.stamp(at_ms);
                    self.push(
                        topic,
                        payload::collectd(t, &values),
                        payload::COLLECTD,
                        t,
                        m,
                    );
                }
            }
            RouterStyle::Telegraf => {
                self.telegraf_net(&wan, at_ms, &r);
                self.telegraf_ping(at_ms, &r);
                let t = self.dev.stamp(at_ms);
                let fields = [
                    ("load1", LpValue::Float(round2(r.load1))),
                    ("load5", LpValue::Float(round2(r.load1 * 0.9))),
                    ("load15", LpValue::Float(round2(r.load1 * 0.8))),
                    ("n_cpus", LpValue::Int(i64::from(self.profile.n_cpus))),
                    ("n_users", LpValue::Int(0)),
                    ("uptime", LpValue::Int(r.uptime_s as i64)),
                ];
                self.telegraf("system", &[], &fields, t, Measurement::System);
                let t = self.dev.stamp(at_ms);
                let total = self.profile.mem_total as i64;
                let used = r.mem_used as i64;
                let fields = [
                    ("total", LpValue::Int(total)),
                    ("used", LpValue::Int(used)),
                    ("free", LpValue::Int(total - used)),
                    ("available", LpValue::Int(total - used)),
                    (
                        "used_percent",
                        LpValue::Float(round2(used as f64 * 100.0 / total as f64)),
                    ),
                ];
                self.telegraf("mem", &[], &fields, t, Measurement::System);
                let t = self.dev.stamp(at_ms);
                let busy = r.cpu * 100.0;
                let fields = [
                    ("usage_idle", LpValue::Float(round2(100.0 - busy))),
                    ("usage_user", LpValue::Float(round2(busy * 0.6))),
                    ("usage_system", LpValue::Float(round2(busy * 0.3))),
                    ("usage_softirq", LpValue::Float(round2(busy * 0.1))),
                ];
                self.telegraf(
                    "cpu",
                    &[("cpu", "cpu-total")],
                    &fields,
                    t,
                    Measurement::System,
                );
                self.telegraf_clients(at_ms, &r);
            }
            RouterStyle::Mikrotik => {
                let t = self.dev.stamp(at_ms);
                let temp = 38.0 + 10.0 * r.cpu + self.dev.rng.range(0.0, 4.0);
                let total = self.profile.mem_total;
                let body = payload::json_strings(&[
                    ("uptime", payload::mikrotik_uptime(r.uptime_s as u64)),
                    ("cpu-load", format!("{}", (r.cpu * 100.0).round() as u32)),
                    ("free-memory", (total - r.mem_used).to_string()),
                    ("total-memory", total.to_string()),
                    ("used-memory", r.mem_used.to_string()),
                    ("temperature", format!("{}", temp.round() as i32)),
                    ("board-name", "hAP ac^2".to_string()),
                ]);
                self.push(
                    format!("mikrotik/{id}/system"),
                    body,
                    payload::JSON,
                    t,
                    Measurement::System,
                );
                self.telegraf_net(&wan, at_ms, &r);
                let t = self.dev.stamp(at_ms);
                self.push(
                    format!("probe/{id}/{PROBE_TARGET}/rtt_ms"),
                    payload::fixed(r.rtt_ms, 1).into_bytes(),
                    payload::VALUE,
                    t,
                    Measurement::Probe,
                );
                self.telegraf_clients(at_ms, &r);
            }
        }
    }

    fn telegraf(
        &mut self,
        name: &str,
        extra_tags: &[(&str, &str)],
        fields: &[(&str, LpValue)],
        t: i64,
        m: Measurement,
    ) {
        let id = self.dev.info.id.clone();
        let mut tags: Vec<(&str, &str)> = Vec::with_capacity(extra_tags.len() + 1);
        tags.extend_from_slice(extra_tags);
        tags.push(("host", &id));
        tags.sort_unstable();
        let body = payload::line(name, &tags, fields, t * 1_000_000);
        self.push(format!("telegraf/{id}/{name}"), body, payload::INFLUX, t, m);
    }

    fn telegraf_net(&mut self, wan: &str, at_ms: i64, r: &Readings) {
        let t = self.dev.stamp(at_ms);
        let bits32 = self.profile.counter_bits == 32;
        let uptime_s = r.uptime_s;
        let typical = self.profile.school.uplink_mbps * 1e6 / 8.0 * 0.05;
        let dev = &mut *self.dev;
        let net = match &mut dev.net {
            Some(net) => {
                net.advance(t, r.rx_bps, r.tx_bps, &mut dev.rng);
                net
            }
            None => dev
                .net
                .insert(NetCounters::new(t, bits32, &mut dev.rng, uptime_s, typical)),
        };
        let c = |v: u64| LpValue::Int(v as i64);
        let fields = [
            ("bytes_recv", c(net.rx_bytes)),
            ("bytes_sent", c(net.tx_bytes)),
            ("packets_recv", c(net.rx_packets)),
            ("packets_sent", c(net.tx_packets)),
            ("err_in", c(net.rx_errors)),
            ("err_out", c(net.tx_errors)),
            ("drop_in", c(net.rx_drops)),
            ("drop_out", c(net.tx_drops)),
        ];
        self.telegraf(
            "net",
            &[("interface", wan)],
            &fields,
            t,
            Measurement::Interface,
        );
    }

    fn telegraf_ping(&mut self, at_ms: i64, r: &Readings) {
        let t = self.dev.stamp(at_ms);
        // Telegraf pings 5 times per interval; never all lost (then the
        // response fields would be missing).
        let lost = (0..5)
            .filter(|_| self.dev.rng.chance(r.loss))
            .count()
            .min(4) as i64;
        let fields = [
            ("packets_transmitted", LpValue::Int(5)),
            ("packets_received", LpValue::Int(5 - lost)),
            ("percent_packet_loss", LpValue::Float(lost as f64 * 20.0)),
            ("ttl", LpValue::Int(117)),
            (
                "minimum_response_ms",
                LpValue::Float(round3(r.rtt_ms - r.rtt_sd_ms)),
            ),
            ("average_response_ms", LpValue::Float(round3(r.rtt_ms))),
            (
                "maximum_response_ms",
                LpValue::Float(round3(r.rtt_ms + 2.0 * r.rtt_sd_ms)),
            ),
            ("standard_deviation_ms", LpValue::Float(round3(r.rtt_sd_ms))),
            ("result_code", LpValue::Int(0)),
        ];
        self.telegraf(
            "ping",
            &[("url", PROBE_TARGET)],
            &fields,
            t,
            Measurement::Probe,
        );
    }

    /// Client counts in schoolnet's canonical line protocol (a Telegraf
    /// `exec` input on the router), since Telegraf has no such input.
    fn telegraf_clients(&mut self, at_ms: i64, r: &Readings) {
        let t = self.dev.stamp(at_ms);
        let fields = [
            ("wifi_clients", LpValue::Int(r.clients as i64)),
            ("dhcp_leases", LpValue::Int(r.leases as i64)),
        ];
        self.telegraf("clients", &[], &fields, t, Measurement::Clients);
    }

    fn ont(&mut self, at_ms: i64) {
        let t = self.dev.stamp(at_ms);
        let p = self.profile;
        let rng = &mut self.dev.rng;
        let a = activity(at_ms);
        let rx = p.ont_rx_dbm + 0.15 * rng.normal().clamp(-3.0, 3.0);
        let tx = p.ont_tx_dbm + 0.03 * rng.normal().clamp(-3.0, 3.0);
        let temp = p.ont_temp_c + 3.0 * a + 0.3 * rng.normal();
        let volt = p.ont_voltage_v + 0.005 * rng.normal().clamp(-3.0, 3.0);
        let bias = p.ont_bias_ma + 0.2 * rng.normal().clamp(-3.0, 3.0);
        let body = payload::json_strings(&[
            ("rxpower", payload::fixed(rx, 2)),
            ("txpower", payload::fixed(tx, 2)),
            ("temperature", payload::fixed(temp, 1)),
            ("voltage", payload::fixed(volt, 3)),
            ("bcurr", payload::fixed(bias, 2)),
        ]);
        let topic = format!("ont/{}/optical", self.dev.info.id);
        self.push(topic, body, payload::JSON, t, Measurement::Optical);
    }

    fn olt(&mut self, at_ms: i64) {
        let a = activity(at_ms);
        let uptime = self.dev.uptime_s(at_ms);
        let rng = &mut self.dev.rng;
        let load1 = (0.4 + 1.2 * a) * rng.noise(0.15);
        let total: i64 = 2 << 30;
        let used = (total as f64 * (0.45 + 0.05 * a) * rng.noise(0.03)) as i64;
        let t = self.dev.stamp(at_ms);
        let fields = [
            ("load1", LpValue::Float(round2(load1))),
            ("n_cpus", LpValue::Int(4)),
            ("uptime", LpValue::Int(uptime as i64)),
        ];
        self.telegraf("system", &[], &fields, t, Measurement::System);
        let t = self.dev.stamp(at_ms);
        let fields = [("total", LpValue::Int(total)), ("used", LpValue::Int(used))];
        self.telegraf("mem", &[], &fields, t, Measurement::System);
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
