//! The inventory: which schools exist, which devices belong to them, and what
//! each device is (role, expected reporting interval, parent in the fiber tree).
//!
//! Loaded from two CSV files (`schools.csv`, `devices.csv`, format in
//! `deploy/inventory/README.md`). Loading validates everything up front and
//! names the file, line and column of each problem, because an operator fixing
//! a 30,000-line spreadsheet export needs to know exactly where to look.
//! Lookups on the hot path are by device id and return a shared
//! [`DeviceInfo`], so samples carry identity without copying strings.

mod load;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::sample::CounterWidth;

pub use load::InventoryError;

/// What a device is in the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Router,
    Ont,
    Olt,
    Switch,
    Ap,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Router => "router",
            Role::Ont => "ont",
            Role::Olt => "olt",
            Role::Switch => "switch",
            Role::Ap => "ap",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "router" => Role::Router,
            "ont" => Role::Ont,
            "olt" => Role::Olt,
            "switch" => Role::Switch,
            "ap" => Role::Ap,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A school as listed in `schools.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct School {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub district: Arc<str>,
    pub lat: f64,
    pub lon: f64,
    /// Contracted uplink in Mbit/s; utilization is measured against it.
    pub uplink_mbps: f64,
}

/// A device as listed in `devices.csv`, joined with its school.
///
/// OLTs sit in the data center or a district hub and serve many schools; they
/// still carry a `school` (the site they are recorded under) so every sample
/// has the same tag set.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub id: Arc<str>,
    pub school: Arc<School>,
    pub role: Role,
    /// How often the device is expected to report; drives staleness.
    pub expected_interval: Duration,
    /// Upstream device (an ONT's OLT, a router's ONT), if any.
    pub parent: Option<Arc<str>>,
    /// The interface whose traffic counts against the school's uplink
    /// (routers only; e.g. `wan`, `eth0.2`, `pppoe-wan`).
    pub wan_interface: Option<Arc<str>>,
    /// Width of this device's raw counters when it differs from its route's
    /// `counter_bits` (a 32-bit router among 64-bit ones on one Telegraf topic).
    pub counter_width: Option<CounterWidth>,
}

impl DeviceInfo {
    pub fn school_id(&self) -> &str {
        &self.school.id
    }

    pub fn district(&self) -> &str {
        &self.school.district
    }
}

/// Id → position. aHash: the device lookup runs for every observation, and
/// SipHash was most of its cost; the seed is random per map, so ids from
/// payloads cannot be chosen to collide.
type IdIndex = HashMap<Arc<str>, usize, ahash::RandomState>;

/// The whole inventory, immutable once loaded (reload builds a new one).
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// In file order, which is also the order of all school-level output.
    schools: Vec<Arc<School>>,
    school_index: IdIndex,
    /// In file order.
    devices: Vec<Arc<DeviceInfo>>,
    device_index: IdIndex,
}

impl Inventory {
    /// Builds an inventory from already-validated parts.
    ///
    /// # Panics
    /// If ids are duplicated; use [`Inventory::load`] for untrusted input.
    pub fn from_parts(schools: Vec<School>, devices: Vec<DeviceInfo>) -> Inventory {
        let schools: Vec<Arc<School>> = schools.into_iter().map(Arc::new).collect();
        let school_index: IdIndex = schools
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        assert_eq!(school_index.len(), schools.len(), "duplicate school id");
        let devices: Vec<Arc<DeviceInfo>> = devices.into_iter().map(Arc::new).collect();
        let device_index: IdIndex = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.clone(), i))
            .collect();
        assert_eq!(device_index.len(), devices.len(), "duplicate device id");
        Inventory {
            schools,
            school_index,
            devices,
            device_index,
        }
    }

    pub fn schools(&self) -> &[Arc<School>] {
        &self.schools
    }

    pub fn devices(&self) -> &[Arc<DeviceInfo>] {
        &self.devices
    }

    pub fn school(&self, id: &str) -> Option<&Arc<School>> {
        self.school_index.get(id).map(|&i| &self.schools[i])
    }

    pub fn device(&self, id: &str) -> Option<&Arc<DeviceInfo>> {
        self.device_index.get(id).map(|&i| &self.devices[i])
    }

    /// Devices of one school, in file order.
    pub fn devices_of<'a>(&'a self, school: &'a str) -> impl Iterator<Item = &'a Arc<DeviceInfo>> {
        self.devices.iter().filter(move |d| &*d.school.id == school)
    }

    /// Distinct districts in order of first appearance.
    pub fn districts(&self) -> Vec<Arc<str>> {
        let mut out: Vec<Arc<str>> = Vec::new();
        for s in &self.schools {
            if !out.contains(&s.district) {
                out.push(s.district.clone());
            }
        }
        out
    }
}
