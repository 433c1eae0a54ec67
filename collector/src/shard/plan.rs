//! The shard plan: the inventory's failure domains and which instance owns
//! each, computed identically by every instance from the same inventory and
//! `count`, without talking to the others.
//!
//! - A failure domain is a connected part of the inventory: schools joined
//!   by parent links between their devices (an OLT and every school behind
//!   it). Its key is its smallest school id.
//! - Domains are assigned by *longest processing time first* (LPT): sorted
//!   by weight (devices; the work is their messages and series) from the
//!   heaviest, ties by key, each goes to the least-loaded instance (ties:
//!   the lowest index). Bound: the heaviest instance exceeds the lightest by
//!   at most the weight of the last domain LPT gave it, which is the
//!   smallest domain on that instance. With 100 domains over 4 instances
//!   that is a few percent of a share (30,000 schools in 100 districts of
//!   54–546 schools: within 1.011×, see the tests), where hashing the
//!   domains (rendezvous, the previous rule) gave 1.5×.
//! - The price: the plan depends on every domain's size, so an inventory
//!   edit that changes sizes can move domains between instances, and a new
//!   `count` reshuffles rather than moving only 1/(N+1). Hence every
//!   instance must reload (or restart) with the same inventory; the
//!   ShardOverlap and ShardMissing alerts catch one that did not.
//! - Devices the inventory does not know are attributed by rendezvous
//!   hashing of their id ([`unknown_device_owner`]), so that exactly one
//!   instance rejects (and dead-letters) them when every instance receives
//!   every topic. The hash is FNV-1a with a splitmix64 finalizer, fixed here
//!   so it never changes with the Rust version or the platform.

use std::collections::{BTreeMap, HashMap};

use crate::inventory::Inventory;

/// One failure domain: its key and weight (devices, at least 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain<'a> {
    pub key: &'a str,
    pub weight: u64,
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

/// The domains of `inventory` with their weights (devices; a domain of
/// schools without devices weighs 1), by key.
pub fn weigh<'a>(
    inventory: &'a Inventory,
    domains: &BTreeMap<&'a str, &'a str>,
) -> Vec<Domain<'a>> {
    let mut weights: BTreeMap<&str, u64> = domains.values().map(|k| (*k, 0)).collect();
    for device in inventory.devices() {
        if let Some(key) = domains.get(device.school_id()) {
            *weights.get_mut(key).expect("every domain key is weighed") += 1;
        }
    }
    weights
        .into_iter()
        .map(|(key, weight)| Domain {
            key,
            weight: weight.max(1),
        })
        .collect()
}

/// The owner (of `count` instances) of each domain, keyed by domain key,
/// and each instance's total weight.
pub fn assign<'a>(domains: &[Domain<'a>], count: u32) -> (HashMap<&'a str, u32>, Vec<u64>) {
    let count = count.max(1) as usize;
    let mut order: Vec<&Domain> = domains.iter().collect();
    order.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.key.cmp(b.key)));
    let mut loads = vec![0u64; count];
    let mut owners = HashMap::with_capacity(domains.len());
    for d in order {
        let lightest = (0..count)
            .min_by_key(|&i| (loads[i], i))
            .expect("count ≥ 1");
        loads[lightest] += d.weight;
        owners.insert(d.key, lightest as u32);
    }
    (owners, loads)
}

/// The instance (of `count`) that handles messages of `device` when the
/// inventory does not list it: rendezvous hashing of the id.
pub fn unknown_device_owner(device: &str, count: u32) -> u32 {
    (0..count.max(1))
        .max_by_key(|&i| (hash_weight(device, i), std::cmp::Reverse(i)))
        .unwrap_or(0)
}

fn hash_weight(key: &str, instance: u32) -> u64 {
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
