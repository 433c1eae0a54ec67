//! Normalization: decoded observations → canonical [`Sample`]s.
//!
//! Owns the inventory join (device id → school, district, role), timestamp
//! sanity checks, per-series counter state (wraps, resets, derived rates, see
//! [`counters`]) and utilization of the contracted uplink. It is the only
//! stateful step between decode and the sinks, so it runs on one task; a
//! later scale-out shards it by device.
//!
//! It also enforces the input limits that need no payload parsing
//! (`[limits]`, see [`LimitsConfig`]), in this order per message:
//! 1. values per message (`too_many_fields`, the whole message);
//! 2. per observation, device id and key length (`tag_too_long`), checked
//!    before the inventory lookup so an oversized id never reaches a map;
//! 3. the inventory join (`unknown_device`) and the timestamp (`bad_timestamp`);
//! 4. the per-device series budget (`series_limit`): a device may create at
//!    most `max_series_per_device` distinct (measurement, key, field) series,
//!    counted on the fields it reports (derived rates and utilization ride on
//!    their source field). Known series are always accepted; new ones beyond
//!    the budget are dropped and named in the reject, the rest of the
//!    observation is kept. The budget is held since start (or the device's
//!    last inventory reload), so it bounds memory, not just churn;
//! 5. damage that still parses (see [`damage`]): a line without the
//!    timestamp its series carries (`missing_timestamp`, the observation),
//!    a counter that lost its integer type (`counter_type_changed`) or jumps
//!    beyond the plausible rate (`implausible_rate`, see [`counters`]) —
//!    those fields only; the rest of the observation is kept.

pub mod counters;

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::LimitsConfig;
use crate::decode::{Decoded, Observation};
use crate::inventory::{DeviceInfo, Inventory};
use crate::reject::{Reject, RejectReason};
use crate::sample::{Field, Measurement, Sample, StatusEvent};
use counters::{CounterState, IntegratedState};

mod damage;
mod derived;
mod fields;
mod limits;

use derived::{add_utilization, note_uptime};
use fields::Converted;

/// The result of normalizing one message. A message may be partly usable:
/// `rejects` lists what was dropped (unknown device in a batch, an
/// out-of-order counter) while `samples` holds the rest.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Normalized {
    pub samples: Vec<Sample>,
    pub status: Option<StatusEvent>,
    pub rejects: Vec<Reject>,
}

#[derive(Debug, Clone, Copy)]
enum SeriesState {
    Raw(CounterState),
    Integrated(IntegratedState),
}

/// Per-device facts that outlive one message.
#[derive(Debug, Clone, Copy, Default)]
struct DeviceFacts {
    last_uptime_s: Option<f64>,
    /// Device time of the latest sample showing the uptime went down.
    last_reboot_ns: Option<i64>,
}

/// A HashMap with a fast keyed hash (aHash, randomly seeded per map, so a
/// device cannot pick keys that collide): std's SipHash was a tenth of the
/// per-message cost here.
type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// Everything kept about one device, found with one lookup per observation.
#[derive(Debug, Default)]
struct DeviceState {
    facts: DeviceFacts,
    /// One per (measurement, key) with admitted series, found by a linear
    /// scan: a device has a handful (bounded by its series budget), and a
    /// hash map per device or per measurement cost ~1 KB of mostly empty
    /// buckets per device, 57 MB more at 30,000 schools.
    groups: Vec<SeriesGroup>,
    /// Series admitted (bits set over all groups): the budget used.
    series: usize,
}

/// The series of one (device, measurement, key).
#[derive(Debug)]
struct SeriesGroup {
    measurement: Measurement,
    /// The interface or probe target as stored in samples (shared, not
    /// re-allocated per message); `""` where the measurement has none (line
    /// protocol omits an empty tag, so an empty key is no key).
    key: Arc<str>,
    /// Admitted fields as a bit mask (the `max_series_per_device` budget).
    admitted: u64,
    /// Counter state of the counter fields among them.
    counters: Vec<(Field, SeriesState)>,
    /// Counter fields (bits) that have arrived typed as integers.
    integer_counters: u64,
    /// Whether the group's observations carry device timestamps, and how
    /// many without one were refused in a row since (see `damage`).
    timestamped: bool,
    untimed_in_a_row: u8,
}

impl SeriesGroup {
    fn new(measurement: Measurement, key: Arc<str>) -> SeriesGroup {
        SeriesGroup {
            measurement,
            key,
            admitted: 0,
            counters: Vec::new(),
            integer_counters: 0,
            timestamped: false,
            untimed_in_a_row: 0,
        }
    }

    fn counter(&mut self, field: Field) -> Option<&mut SeriesState> {
        self.counters
            .iter_mut()
            .find(|(f, _)| *f == field)
            .map(|(_, s)| s)
    }
}

// One bit per field in `SeriesGroup::admitted`.
const _: () = assert!(Field::ALL.len() <= 64);

fn field_bit(field: Field) -> u64 {
    1 << (field as u32)
}

/// Stateful normalizer; one per pipeline (or per shard).
#[derive(Debug)]
pub struct Normalizer {
    inventory: Arc<Inventory>,
    limits: LimitsConfig,
    devices: FastMap<Arc<str>, DeviceState>,
    /// Sum of `devices[..].series`.
    budget_series: usize,
    /// Series refused by the budget, not yet taken.
    series_limit_hits: u64,
}

impl Normalizer {
    pub fn new(inventory: Arc<Inventory>, limits: LimitsConfig) -> Normalizer {
        Normalizer {
            inventory,
            limits,
            devices: FastMap::default(),
            budget_series: 0,
            series_limit_hits: 0,
        }
    }

    /// The inventory devices are joined with.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Swaps in a reloaded inventory; counter state of devices that remain is kept.
    pub fn set_inventory(&mut self, inventory: Arc<Inventory>) {
        self.devices.retain(|d, _| inventory.device(d).is_some());
        self.budget_series = self.devices.values().map(|d| d.series).sum();
        self.inventory = inventory;
    }

    /// Distinct (device, measurement, key, field) series seen and admitted,
    /// over all devices: the cardinality the collector writes and tracks.
    pub fn tracked_series(&self) -> usize {
        self.budget_series
    }

    /// Series refused by the per-device budget since the last call (each new
    /// series counts once per message that tried to create it); resets.
    pub fn take_series_limit_hits(&mut self) -> u64 {
        std::mem::take(&mut self.series_limit_hits)
    }

    /// Normalizes one decoded message received at `received_ns` (Unix ns).
    pub fn normalize(&mut self, mut decoded: Decoded, received_ns: i64) -> Normalized {
        let mut out = Normalized::default();
        self.normalize_into(&mut decoded, received_ns, &mut out);
        out
    }

    /// [`normalize`](Self::normalize) into `out`, which is cleared first:
    /// the pipeline reuses one, so a message allocates no result vectors.
    /// `decoded` is taken by reference (and may be changed: the series
    /// budget drops readings) so its inline observations are not copied.
    pub fn normalize_into(
        &mut self,
        decoded: &mut Decoded,
        received_ns: i64,
        out: &mut Normalized,
    ) {
        out.samples.clear();
        out.status = None;
        out.rejects.clear();
        match decoded {
            Decoded::Ignored(_) => {}
            Decoded::Status(report) => {
                let found = self.check_tag("device id", &report.device).and_then(|()| {
                    self.inventory
                        .device(&report.device)
                        .ok_or_else(|| unknown_device(&report.device))
                });
                match found {
                    Ok(device) => {
                        out.status = Some(StatusEvent {
                            device: device.clone(),
                            online: report.online,
                            time_ns: received_ns,
                        })
                    }
                    Err(reject) => out.rejects.push(reject),
                }
            }
            Decoded::Observations(observations) => {
                let values: usize = observations.iter().map(|o| o.values.len()).sum();
                if values > self.limits.max_fields_per_message {
                    out.rejects.push(Reject::new(
                        RejectReason::TooManyFields,
                        format!(
                            "{values} values in {} observation(s) > limit {}",
                            observations.len(),
                            self.limits.max_fields_per_message
                        ),
                    ));
                    return;
                }
                // By reference: an observation with its inline readings is
                // ~270 bytes, and moving it cost more than the work on it.
                for obs in observations.iter_mut() {
                    match self.observation(obs, received_ns, &mut out.rejects) {
                        Ok(Some(sample)) => out.samples.push(sample),
                        Ok(None) => {}
                        Err(reject) => out.rejects.push(reject),
                    }
                }
            }
        }
    }

    /// One observation → at most one sample. A reject that drops only part
    /// of it (the series budget, damaged fields) goes to `partial`.
    fn observation(
        &mut self,
        obs: &mut Observation,
        received_ns: i64,
        partial: &mut Vec<Reject>,
    ) -> Result<Option<Sample>, Reject> {
        let (device, time_ns) = self.identify(obs, received_ns)?;
        let state = self.devices.entry(device.id.clone()).or_default();
        let budget = limits::Budget {
            max: self.limits.max_series_per_device,
            device_used: &mut state.series,
            total_used: &mut self.budget_series,
            refused_total: &mut self.series_limit_hits,
        };
        let (group, refused) = admit_series(&mut state.groups, budget, &device.id, obs);
        if let Some(reject) = refused {
            partial.push(reject);
        }
        if obs.values.is_empty() {
            return Ok(None);
        }
        let group = group.expect("a group with admitted series");
        group.check_timestamp(obs.time_ns.is_some(), &device.id, obs.measurement)?;
        let key = obs.key.is_some().then(|| group.key.clone());
        if obs.measurement == Measurement::System {
            note_uptime(&mut state.facts, &obs.values, time_ns);
        }
        let Converted {
            mut fields,
            out_of_order,
            damaged,
        } = fields::convert(group, &device, state.facts, &obs.values, time_ns);
        damaged.report(&device.id, obs.measurement, key.as_deref(), partial);
        add_utilization(&device, key.as_deref(), &mut fields);
        fields.sort_by_key(|(f, _)| *f);
        fields.dedup_by_key(|(f, _)| *f);

        if fields.is_empty() {
            if !out_of_order.is_empty() {
                return Err(Reject::new(
                    RejectReason::OutOfOrder,
                    format!(
                        "{} counter(s) {} older than the last sample of device `{}`",
                        obs.measurement,
                        out_of_order.join(","),
                        device.id
                    ),
                ));
            }
            return Ok(None);
        }
        Ok(Some(Sample {
            measurement: obs.measurement,
            time_ns,
            device,
            key,
            fields,
        }))
    }

    /// The observation's device and time: tag lengths first (nothing
    /// oversized is hashed, looked up or stored), then the inventory join
    /// and the timestamp.
    fn identify(
        &self,
        obs: &Observation,
        received_ns: i64,
    ) -> Result<(Arc<DeviceInfo>, i64), Reject> {
        self.check_tag("device id", &obs.device)?;
        if let Some(k) = &obs.key {
            let what = obs.measurement.key_tag().unwrap_or("key");
            self.check_tag(what, k)?;
        }
        let device = self
            .inventory
            .device(&obs.device)
            .cloned()
            .ok_or_else(|| unknown_device(&obs.device))?;
        let time_ns = obs.time_ns.unwrap_or(received_ns);
        self.check_time(time_ns, received_ns)?;
        Ok((device, time_ns))
    }
}

/// Applies the series budget to the observation's values, finding (or
/// creating) the group of its (measurement, key). The group comes back if it
/// is kept; a new one is kept only if the budget admits one of its series,
/// so keys the budget refuses do not grow the state.
fn admit_series<'g>(
    groups: &'g mut Vec<SeriesGroup>,
    budget: limits::Budget<'_>,
    device_id: &str,
    obs: &mut Observation,
) -> (Option<&'g mut SeriesGroup>, Option<Reject>) {
    let key_text = obs.key.as_deref().unwrap_or("");
    let found = groups
        .iter()
        .position(|g| g.measurement == obs.measurement && *g.key == *key_text);
    match found {
        Some(i) => {
            let group = &mut groups[i];
            let refused = budget.admit(device_id, obs.measurement, group, &mut obs.values);
            (Some(group), refused)
        }
        None => {
            let mut group = SeriesGroup::new(obs.measurement, Arc::from(key_text));
            let refused = budget.admit(device_id, obs.measurement, &mut group, &mut obs.values);
            if group.admitted == 0 {
                return (None, refused);
            }
            groups.push(group);
            (groups.last_mut(), refused)
        }
    }
}

fn unknown_device(id: &str) -> Reject {
    let shown: String = id.chars().take(64).collect();
    Reject::new(
        RejectReason::UnknownDevice,
        format!("device `{shown}` is not in the inventory"),
    )
}

#[cfg(test)]
mod tests;
