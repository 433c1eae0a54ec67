//! [`FleetControl`]: steering a running fleet from another task — silence a
//! device or school, play its LWT will (`Offline`) or reconnect (`Online`),
//! reboot a router. The fleet reads the shared state on every tick.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::device::SimDevice;

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
    /// The handle of a fleet of `devices` (in fleet order), nothing steered yet.
    pub(super) fn new(devices: &[SimDevice]) -> FleetControl {
        let index: DeviceIndex = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.info.id.clone(), (i, d.info.school.id.clone())))
            .collect();
        FleetControl {
            devices: Arc::new(index),
            state: Arc::new(Mutex::new(ControlState::default())),
        }
    }

    /// Takes the status announcements to publish, as (fleet index, online).
    pub(super) fn take_pending(&self) -> Vec<(usize, bool)> {
        let pending = self.with(|s| std::mem::take(&mut s.pending));
        pending
            .into_iter()
            .filter_map(|(id, online)| Some((self.devices.get(&id)?.0, online)))
            .collect()
    }

    /// Whether `device` is silent, and whether a reboot was requested (the
    /// request is consumed either way).
    pub(super) fn take_tick_flags(&self, device: &str) -> (bool, bool) {
        self.with(|s| (s.silent.contains(device), s.reboot.remove(device)))
    }

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
