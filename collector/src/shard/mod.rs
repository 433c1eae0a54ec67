//! Scale-out: which schools and devices this collector instance owns when
//! several instances share one broker (`[shard] index`, `count`,
//! `subscribe`).
//!
//! Why partitions and not MQTT 5 shared subscriptions: a shared
//! subscription hands each message to whichever member is next, so two
//! reports of one router could land on two instances. Counter state (the
//! monotonic counters, wrap and reboot detection) must stay with one owner,
//! and so must a school's health, which needs all of its devices and the
//! OLT feeding it (`upstream_down`). So each instance owns whole *failure
//! domains* ([`plan`]: what they are and how they are balanced), processes
//! only its devices' messages ([`ownership`]: what it subscribes to and
//! what it drops as `not_owned`), and its exporter lists only its schools:
//! together the instances expose each school once.
//!
//! An instance keeps only its share of the inventory: the whole one is
//! needed to find the domains and their sizes, then dropped by the caller;
//! of the other instances' devices only the ids stay, to tell their
//! messages from unknown devices'.

pub mod ownership;
pub mod plan;

use std::sync::Arc;

use serde::Deserialize;

use crate::config::ConfigError;
use crate::inventory::{DeviceInfo, Inventory, School};
use crate::route::RouteTable;

pub use ownership::{device_filters, filters, Ownership};
pub use plan::failure_domains;

/// `[shard]`: this instance's place among `count` instances.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ShardConfig {
    /// This instance, `0 ≤ index < count` (`SCHOOLNET_SHARD__INDEX`).
    pub index: u32,
    /// How many instances share the inventory (`SCHOOLNET_SHARD__COUNT`).
    pub count: u32,
    /// What a sharded instance subscribes to (`SCHOOLNET_SHARD__SUBSCRIBE`).
    pub subscribe: Subscribe,
}

/// `[shard] subscribe`: who filters the other instances' messages out.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Subscribe {
    /// Each route's filter once; the collector drops the messages of
    /// devices it does not own before decoding them (`not_owned`).
    #[default]
    Wildcard,
    /// One filter per owned device and route: the broker sends only owned
    /// devices' messages, but holds devices × routes subscriptions.
    PerDevice,
}

impl Subscribe {
    pub fn as_str(self) -> &'static str {
        match self {
            Subscribe::Wildcard => "wildcard",
            Subscribe::PerDevice => "per_device",
        }
    }
}

impl Default for ShardConfig {
    fn default() -> ShardConfig {
        ShardConfig {
            index: 0,
            count: 1,
            subscribe: Subscribe::Wildcard,
        }
    }
}

impl ShardConfig {
    pub fn is_sharded(&self) -> bool {
        self.count > 1
    }

    /// A sharded instance tells its messages by the device in the topic, so
    /// every route must name it; subscribing per device, no device id may be
    /// an MQTT wildcard.
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
                    "route `{}` (pattern `{}`) has no {{device}}: sharded instances tell their messages by the device in the topic",
                    route.name,
                    route.pattern.as_str()
                ),
            ));
        }
        if shard.subscribe != Subscribe::PerDevice {
            return Ok(());
        }
        if let Some(d) = inventory
            .devices()
            .iter()
            .find(|d| d.id.contains(['+', '#', '/']))
        {
            return Err(ConfigError::invalid(
                "shard.count",
                format!(
                    "device id `{}` contains an MQTT wildcard or `/`: it cannot be subscribed to (shard.subscribe = \"per_device\")",
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
    /// Which messages are this instance's: those of devices owned by other
    /// instances are counted as `not_owned`, not rejected as unknown.
    pub ownership: Ownership,
    /// Failure domains owned, and in all.
    pub domains_owned: usize,
    pub domains_total: usize,
    /// Every instance's weight (devices) under the plan, by index.
    pub loads: Vec<u64>,
}

/// Splits `inventory` for `shard` (see [`plan`]).
pub fn partition(inventory: &Inventory, shard: ShardConfig) -> Partition {
    let domains = failure_domains(inventory);
    let weighed = plan::weigh(inventory, &domains);
    let (owners, loads) = plan::assign(&weighed, shard.count);
    let is_mine = |school: &str| {
        domains
            .get(school)
            .is_some_and(|key| owners[key] == shard.index)
    };
    let domains_owned = owners.values().filter(|&&o| o == shard.index).count();
    let schools: Vec<School> = inventory
        .schools()
        .iter()
        .filter(|s| is_mine(&s.id))
        .map(|s| School::clone(s))
        .collect();
    let (mine, theirs): (Vec<&Arc<DeviceInfo>>, Vec<&Arc<DeviceInfo>>) = inventory
        .devices()
        .iter()
        .partition(|d| is_mine(d.school_id()));
    // Owned devices are rebuilt around the owned schools; of the others
    // only the ids stay (shared with the whole inventory, which the caller
    // drops).
    let foreign = theirs.into_iter().map(|d| d.id.clone()).collect();
    Partition {
        owned: Inventory::from_parts(schools, mine.into_iter().map(|d| (**d).clone()).collect()),
        ownership: Ownership::new(shard, foreign),
        domains_owned,
        domains_total: weighed.len(),
        loads,
    }
}

/// Gives the heap the caller freed after [`partition`] (the whole
/// inventory) back to the operating system: glibc keeps freed small
/// allocations in its arenas, so without this a shard's resident memory
/// would stay that of the whole inventory.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages; no precondition.
    unsafe {
        libc::malloc_trim(0);
    }
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

#[cfg(test)]
mod tests;
