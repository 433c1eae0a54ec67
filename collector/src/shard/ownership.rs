//! Which messages this instance processes, and what it subscribes to.
//!
//! With `subscribe = "wildcard"` (the default) every instance subscribes to
//! each route's filter once, like an unsharded collector, and receives every
//! device's messages; the pipeline drops the ones it does not own right
//! after matching the route, before any decoding: the topic's `{device}` →
//! a hash-set lookup → `not_owned` (counted, acknowledged, not a reject).
//! With `subscribe = "per_device"` the broker filters instead, at the cost
//! of one subscription per owned device and route (see docs/operations.md
//! "Scaling out" for the measured trade-off).

use std::collections::HashSet;
use std::sync::Arc;

use super::plan::unknown_device_owner;
use super::{ShardConfig, Subscribe};
use crate::inventory::DeviceInfo;
use crate::route::RouteTable;

/// The ownership test the pipeline applies to every routed message.
#[derive(Debug, Clone, Default)]
pub struct Ownership {
    shard: ShardConfig,
    /// Devices another instance owns.
    foreign: HashSet<Arc<str>, ahash::RandomState>,
}

impl Ownership {
    /// One instance: everything is its own.
    pub fn everything() -> Ownership {
        Ownership::default()
    }

    pub(super) fn new(
        shard: ShardConfig,
        foreign: HashSet<Arc<str>, ahash::RandomState>,
    ) -> Ownership {
        Ownership { shard, foreign }
    }

    /// Whether this instance processes messages of `device`. `listed_here`
    /// says whether this instance's inventory lists it (asked only for a
    /// device that is not another instance's): a device no inventory lists
    /// belongs to one instance by hash, which rejects it as unknown.
    #[inline]
    pub fn owns(&self, device: &str, listed_here: impl FnOnce() -> bool) -> bool {
        if !self.shard.is_sharded() {
            return true;
        }
        if self.foreign.contains(device) {
            return false;
        }
        listed_here() || unknown_device_owner(device, self.shard.count) == self.shard.index
    }

    /// How many devices other instances own.
    pub fn foreign_devices(&self) -> usize {
        self.foreign.len()
    }
}

/// The MQTT filters this instance subscribes to: the routes' own filters
/// when not sharded or with `subscribe = "wildcard"`, else one per owned
/// device and route ([`device_filters`]).
pub fn filters(shard: ShardConfig, routes: &RouteTable, owned: &[Arc<DeviceInfo>]) -> Vec<String> {
    match (shard.is_sharded(), shard.subscribe) {
        (true, Subscribe::PerDevice) => device_filters(routes, owned),
        _ => routes.filters(),
    }
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
