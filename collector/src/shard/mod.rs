//! Scale-out: which schools and devices this collector instance owns when
//! several instances share one broker (`[shard] index`, `count`).
//!
//! Why partitions and not MQTT 5 shared subscriptions: a shared
//! subscription hands each message to whichever member is next, so two
//! reports of one router could land on two instances. Counter state (the
//! monotonic counters, wrap and reboot detection) must stay with one owner,
//! and so must a school's health, which needs all of its devices and the
//! OLT feeding it (`upstream_down`). So each instance owns whole *failure
//! domains*, subscribes only to the topics of its devices, and its exporter
//! lists only its schools: together the instances expose each school once.
//!
//! - A failure domain is a connected part of the inventory: schools joined
//!   by parent links between their devices (an OLT and every school behind
//!   it). Its key is its smallest school id, which stays the same as long
//!   as the domain keeps that school.
//! - The owner of a domain is chosen by rendezvous hashing (highest random
//!   weight): every instance computes the same owner from the key and the
//!   instance count alone, and going from N to N+1 instances moves only the
//!   domains the new instance wins (about 1/(N+1) of them).
//! - The hash is FNV-1a with a splitmix64 finalizer, fixed here so that the
//!   partition never changes with the Rust version or the platform.
//!
//! Balance depends on the number of domains: the sample inventory has 8
//! (one OLT per district); a national network has hundreds of OLTs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;

use crate::config::ConfigError;
use crate::inventory::{DeviceInfo, Inventory, School};
use crate::route::RouteTable;

/// `[shard]`: this instance's place among `count` instances.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ShardConfig {
    /// This instance, `0 ≤ index < count` (`SCHOOLNET_SHARD__INDEX`).
    pub index: u32,
    /// How many instances share the inventory (`SCHOOLNET_SHARD__COUNT`).
    pub count: u32,
}

impl Default for ShardConfig {
    fn default() -> ShardConfig {
        ShardConfig { index: 0, count: 1 }
    }
}

impl ShardConfig {
    pub fn is_sharded(&self) -> bool {
        self.count > 1
    }

    /// A sharded instance subscribes per device, so every route must name the
    /// device in its topic and no device id may be an MQTT wildcard.
    pub fn validate(&self, routes: &RouteTable, inventory: &Inventory) -> Result<(), ConfigError> {
        let shard = self;
        if shard.count == 0 {
            return Err(ConfigError::invalid("shard.count", "must be at least 1"));
        }
        if shard.index >= shard.count {
            return Err(ConfigError::invalid(
                "shard.index",
                format!(
                    "{} is not below shard.count = {} (instances are numbered from 0)",
                    shard.index, shard.count
                ),
            ));
        }
        if !shard.is_sharded() {
            return Ok(());
        }
        if let Some(route) = routes
            .routes()
            .iter()
            .find(|r| !r.pattern.has_var("device"))
        {
            return Err(ConfigError::invalid(
                "shard.count",
                format!(
                    "route `{}` (pattern `{}`) has no {{device}}: sharded instances subscribe per device",
                    route.name,
                    route.pattern.as_str()
                ),
            ));
        }
        if let Some(d) = inventory
            .devices()
            .iter()
            .find(|d| d.id.contains(['+', '#', '/']))
        {
            return Err(ConfigError::invalid(
                "shard.count",
                format!(
                    "device id `{}` contains an MQTT wildcard or `/`: it cannot be subscribed to",
                    d.id
                ),
            ));
        }
        Ok(())
    }
}

/// What one instance owns.
#[derive(Debug, Clone)]
pub struct Partition {
    /// The owned schools and their devices (the whole inventory when not
    /// sharded).
    pub owned: Inventory,
    /// Devices owned by other instances: their messages (from a subscription
    /// left over in a persistent session, or a broad route filter) are
    /// counted as `not_owned`, not rejected as unknown.
    pub foreign_devices: HashSet<Arc<str>>,
    /// Failure domains owned, and in all.
    pub domains_owned: usize,
    pub domains_total: usize,
}

/// Splits `inventory` for `shard`.
pub fn partition(inventory: &Inventory, shard: ShardConfig) -> Partition {
    let domains = failure_domains(inventory);
    let domains_total = domains.values().collect::<HashSet<_>>().len();
    let owned_schools: HashSet<&str> = domains
        .iter()
        .filter(|(_, key)| owner(key, shard.count) == shard.index)
        .map(|(school, _)| *school)
        .collect();
    let domains_owned = domains
        .iter()
        .filter(|(school, _)| owned_schools.contains(*school))
        .map(|(_, key)| *key)
        .collect::<HashSet<_>>()
        .len();
    let schools: Vec<School> = inventory
        .schools()
        .iter()
        .filter(|s| owned_schools.contains(&*s.id))
        .map(|s| School::clone(s))
        .collect();
    let (mine, theirs): (Vec<&Arc<DeviceInfo>>, Vec<&Arc<DeviceInfo>>) = inventory
        .devices()
        .iter()
        .partition(|d| owned_schools.contains(d.school_id()));
    Partition {
        owned: Inventory::from_parts(schools, mine.into_iter().map(|d| (**d).clone()).collect()),
        foreign_devices: theirs.into_iter().map(|d| d.id.clone()).collect(),
        domains_owned,
        domains_total,
    }
}

/// Each school's failure domain key (the smallest school id of its
/// connected part of the inventory), in school order.
pub fn failure_domains(inventory: &Inventory) -> BTreeMap<&str, &str> {
    let schools = inventory.schools();
    let index: HashMap<&str, usize> = schools
        .iter()
        .enumerate()
        .map(|(i, s)| (&*s.id, i))
        .collect();
    let mut sets = DisjointSets::new(schools.len());
    for device in inventory.devices() {
        let Some(parent) = device.parent.as_deref().and_then(|p| inventory.device(p)) else {
            continue;
        };
        if let (Some(&a), Some(&b)) = (index.get(device.school_id()), index.get(parent.school_id()))
        {
            sets.union(a, b);
        }
    }
    let mut key_of_root: HashMap<usize, &str> = HashMap::new();
    for (i, s) in schools.iter().enumerate() {
        let key = key_of_root.entry(sets.find(i)).or_insert(&s.id);
        if *s.id < **key {
            *key = &s.id;
        }
    }
    schools
        .iter()
        .enumerate()
        .map(|(i, s)| (&*s.id, key_of_root[&sets.find(i)]))
        .collect()
}

/// The instance (of `count`) that owns domain `key`.
pub fn owner(key: &str, count: u32) -> u32 {
    (0..count.max(1))
        .max_by_key(|&i| (weight(key, i), std::cmp::Reverse(i)))
        .unwrap_or(0)
}

/// The MQTT filters for the owned devices: each route's pattern with
/// `{device}` set to the device id and every other variable as `+`, so the
/// broker sends this instance its devices' topics and nothing else.
pub fn device_filters(routes: &RouteTable, devices: &[Arc<DeviceInfo>]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for device in devices {
        for route in routes.routes() {
            if let Some(filter) = route.pattern.filter_for("device", &device.id) {
                if seen.insert(filter.clone()) {
                    out.push(filter);
                }
            }
        }
    }
    out
}

/// Registers `schoolnet_shard_info{index,count}` (always 1),
/// `schoolnet_shards` and `schoolnet_shard_schools` (schools owned), so
/// that alert rules can check that the instances together cover every
/// school exactly once.
pub fn register_metrics(
    registry: &prometheus::Registry,
    shard: ShardConfig,
    partition: &Partition,
) -> prometheus::Result<()> {
    let info = prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "schoolnet_shard_info",
            "This collector's shard: index among count instances ([shard]).",
        ),
        &["index", "count"],
    )?;
    info.with_label_values(&[&shard.index.to_string(), &shard.count.to_string()])
        .set(1);
    let count = prometheus::IntGauge::new(
        "schoolnet_shards",
        "Collector instances this one was configured to share the inventory with (itself included).",
    )?;
    count.set(i64::from(shard.count));
    let schools = prometheus::IntGauge::new(
        "schoolnet_shard_schools",
        "Schools this collector owns and exports.",
    )?;
    schools.set(partition.owned.schools().len() as i64);
    registry.register(Box::new(info))?;
    registry.register(Box::new(count))?;
    registry.register(Box::new(schools))
}

fn weight(key: &str, instance: u32) -> u64 {
    // FNV-1a over key, a separator and the instance number.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes().chain([0xff]).chain(instance.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finalizer spreads FNV's weak low bits.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Union-find with path halving.
struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(n: usize) -> DisjointSets {
        DisjointSets {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

#[cfg(test)]
mod tests;
