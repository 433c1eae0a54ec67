//! Live state: the latest value of every series, when each device was last
//! heard from, and its last will/status (LWT) message.
//!
//! One slot per inventory device, in inventory order, each behind its own
//! mutex. A call to [`LiveState::record_samples`] locks each device it touches
//! once (an MQTT message comes from one device, so in practice one lock per
//! call), and a scrape locks one device at a time, so ingest never waits for a
//! whole render. Iteration is always in inventory order (schools, then their
//! devices) and, within a device, in [`SeriesKey`] order: never in hash order.
//!
//! Series of a silent device are kept with their last value; health (see
//! `crate::health`) marks the device and its school down instead. Vanishing
//! series would look like counter resets to Prometheus.

pub mod clock;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use collector::inventory::{DeviceInfo, Inventory};
use collector::sample::{Field, FieldValue, Measurement, Sample, StatusEvent};

/// Distinct series one device may have (interfaces × fields + probe targets ×
/// fields + …). A device inventing interface names cannot grow memory or the
/// scrape without bound; further series are dropped and counted.
pub const MAX_SERIES_PER_DEVICE: usize = 1_024;

/// Identifies a series within a device: measurement, interface or probe
/// target, field. Ordered, so a device's series render in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesKey {
    pub measurement: Measurement,
    /// Interface (`interface`) or probe target (`probe`).
    pub key: Option<Arc<str>>,
    pub field: Field,
}

/// The last will/status message of a device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LwtStatus {
    pub online: bool,
    /// Receive time, Unix seconds.
    pub at: f64,
}

/// What health judges a device by (last sign of life, last will/status and the
/// latest signals): a small copy taken under its lock.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HealthInputs {
    /// Receive time of the last telemetry or `online` status, Unix seconds.
    pub last_seen: Option<f64>,
    pub status: Option<LwtStatus>,
    pub signals: Signals,
}

/// The latest readings health judges a device by, kept up to date as samples
/// arrive so an assessment never scans series.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Signals {
    /// Worst probe loss ratio over the device's probe targets (latest values).
    pub loss_ratio: Option<f64>,
    /// Latest optical receive power, dBm.
    pub rx_dbm: Option<f64>,
    /// Latest operational status of the WAN interface (routers).
    pub wan_oper_up: Option<bool>,
    /// WAN errors (rx + tx) per second between the last two samples.
    pub wan_error_rate: Option<f64>,
    /// Device time (ns) and total of the last WAN error counter sample.
    wan_errors: Option<(i64, u64)>,
}

impl Signals {
    fn note(&mut self, sample: &Sample, probe_loss: impl Fn() -> Option<f64>) {
        match sample.measurement {
            Measurement::Probe if sample.fields.iter().any(|(f, _)| *f == Field::LossRatio) => {
                self.loss_ratio = probe_loss();
            }
            Measurement::Optical => {
                if let Some(v) = value_of(sample, Field::RxDbm) {
                    self.rx_dbm = Some(v);
                }
            }
            Measurement::Interface if is_wan(sample) => {
                if let Some(v) = value_of(sample, Field::OperUp) {
                    self.wan_oper_up = Some(v >= 0.5);
                }
                let errors = [Field::RxErrors, Field::TxErrors]
                    .iter()
                    .filter_map(|f| match sample.fields.iter().find(|(k, _)| k == f) {
                        Some((_, FieldValue::Counter(c))) => Some(*c),
                        _ => None,
                    })
                    .reduce(|a, b| a + b);
                if let Some(total) = errors {
                    if let Some((t0, e0)) = self.wan_errors {
                        let dt = (sample.time_ns - t0) as f64 / 1e9;
                        if dt > 0.0 && total >= e0 {
                            self.wan_error_rate = Some((total - e0) as f64 / dt);
                        }
                    }
                    self.wan_errors = Some((sample.time_ns, total));
                }
            }
            _ => {}
        }
    }
}

fn value_of(sample: &Sample, field: Field) -> Option<f64> {
    sample
        .fields
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, v)| v.as_f64())
}

/// The router's WAN interface: the inventory's `wan_interface`, else `wan`.
fn is_wan(sample: &Sample) -> bool {
    match (&sample.device.wan_interface, &sample.key) {
        (Some(wan), Some(key)) => wan == key,
        (None, Some(key)) => &**key == "wan",
        _ => false,
    }
}

#[derive(Debug, Clone, Copy)]
struct Point {
    value: FieldValue,
    time_ns: i64,
}

/// Everything known about one device.
#[derive(Debug, Default, Clone)]
pub struct DeviceState {
    health_inputs: HealthInputs,
    series: BTreeMap<SeriesKey, Point>,
}

impl DeviceState {
    pub fn health_inputs(&self) -> HealthInputs {
        self.health_inputs
    }

    /// Latest value of each series, in [`SeriesKey`] order.
    pub fn series(&self) -> impl Iterator<Item = (&SeriesKey, FieldValue)> {
        self.series.iter().map(|(k, p)| (k, p.value))
    }

    fn record(&mut self, sample: &Sample, dropped: &mut Dropped) {
        for &(field, value) in &sample.fields {
            let key = SeriesKey {
                measurement: sample.measurement,
                key: sample.key.clone(),
                field,
            };
            let full = self.series.len() >= MAX_SERIES_PER_DEVICE;
            match self.series.get_mut(&key) {
                Some(point) => {
                    // Latest by device time; a late (replayed, reordered)
                    // point must not move the series backwards.
                    if sample.time_ns < point.time_ns {
                        continue;
                    }
                    point.time_ns = sample.time_ns;
                    point.value = match (point.value, value) {
                        // Defensive: an exported counter never decreases.
                        (FieldValue::Counter(old), FieldValue::Counter(new)) => {
                            FieldValue::Counter(old.max(new))
                        }
                        (_, new) => new,
                    };
                }
                None if full => dropped.series_limit += 1,
                None => {
                    self.series.insert(
                        key,
                        Point {
                            value,
                            time_ns: sample.time_ns,
                        },
                    );
                }
            }
        }
    }
}

/// Samples [`LiveState`] could not keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Field values of devices not in this inventory (a reload race).
    pub unknown_device: u64,
    /// Field values that would have exceeded [`MAX_SERIES_PER_DEVICE`].
    pub series_limit: u64,
}

/// The live state of all inventory devices.
#[derive(Debug)]
pub struct LiveState {
    inventory: Arc<Inventory>,
    /// Inventory device order.
    slots: Vec<Mutex<DeviceState>>,
    /// Device id → slot. Only looked up, never iterated.
    index: HashMap<Arc<str>, usize>,
    /// Per inventory school: its device slots, inventory order.
    school_devices: Vec<Vec<usize>>,
}

impl LiveState {
    pub fn new(inventory: Arc<Inventory>) -> LiveState {
        let school_pos: HashMap<&str, usize> = inventory
            .schools()
            .iter()
            .enumerate()
            .map(|(i, s)| (&*s.id, i))
            .collect();
        let mut school_devices = vec![Vec::new(); inventory.schools().len()];
        let mut index = HashMap::with_capacity(inventory.devices().len());
        for (slot, d) in inventory.devices().iter().enumerate() {
            index.insert(d.id.clone(), slot);
            if let Some(&s) = school_pos.get(d.school_id()) {
                school_devices[s].push(slot);
            }
        }
        let slots = (0..inventory.devices().len())
            .map(|_| Mutex::new(DeviceState::default()))
            .collect();
        LiveState {
            inventory,
            slots,
            index,
            school_devices,
        }
    }

    /// A state for a reloaded inventory: the devices that remain keep what
    /// is known about them (series, last seen, will), new ones start empty.
    pub fn rebuilt(&self, inventory: Arc<Inventory>) -> LiveState {
        let next = LiveState::new(inventory);
        for (id, &slot) in &next.index {
            if let Some(&old) = self.index.get(id) {
                *lock(&next.slots[slot]) = lock(&self.slots[old]).clone();
            }
        }
        next
    }

    pub fn inventory(&self) -> &Arc<Inventory> {
        &self.inventory
    }

    /// Slots of the `school`-th inventory school.
    pub fn school_devices(&self, school: usize) -> &[usize] {
        &self.school_devices[school]
    }

    pub fn device(&self, slot: usize) -> &Arc<DeviceInfo> {
        &self.inventory.devices()[slot]
    }

    /// Runs `f` with the device's state locked. Keep `f` short.
    pub fn with_device<R>(&self, slot: usize, f: impl FnOnce(&DeviceState) -> R) -> R {
        f(&lock(&self.slots[slot]))
    }

    pub fn health_inputs(&self, slot: usize) -> HealthInputs {
        self.with_device(slot, DeviceState::health_inputs)
    }

    /// Stores the samples of one message received at `now` (Unix seconds).
    pub fn record_samples(&self, samples: &[Sample], now: f64) -> Dropped {
        let mut dropped = Dropped::default();
        // Consecutive samples of the same device share one lock.
        let mut current: Option<(&str, MutexGuard<'_, DeviceState>)> = None;
        for sample in samples {
            let id = &*sample.device.id;
            if current.as_ref().map(|(cur, _)| *cur) != Some(id) {
                current = None;
                match self.index.get(id) {
                    Some(&slot) => current = Some((id, lock(&self.slots[slot]))),
                    None => {
                        dropped.unknown_device += sample.fields.len() as u64;
                        continue;
                    }
                }
            }
            if let Some((_, state)) = current.as_mut() {
                state.health_inputs.last_seen = Some(now);
                state.record(sample, &mut dropped);
                let DeviceState {
                    health_inputs,
                    series,
                } = &mut **state;
                health_inputs.signals.note(sample, || worst_loss(series));
            }
        }
        dropped
    }

    /// Stores a will/status message received at `now`. `online` also counts
    /// as a sign of life; `offline` (usually the broker publishing the will)
    /// does not. Returns false if the device is not in this inventory.
    pub fn record_status(&self, event: &StatusEvent, now: f64) -> bool {
        let Some(&slot) = self.index.get(&*event.device.id) else {
            return false;
        };
        let mut state = lock(&self.slots[slot]);
        state.health_inputs.status = Some(LwtStatus {
            online: event.online,
            at: now,
        });
        if event.online {
            state.health_inputs.last_seen = Some(now);
        }
        true
    }
}

/// The worst latest loss ratio over all probe targets of a device.
fn worst_loss(series: &BTreeMap<SeriesKey, Point>) -> Option<f64> {
    series
        .iter()
        .filter(|(k, _)| k.measurement == Measurement::Probe && k.field == Field::LossRatio)
        .map(|(_, p)| p.value.as_f64())
        .reduce(f64::max)
}

/// A poisoned slot only means a panic elsewhere mid-update of plain data;
/// the data is still usable, so keep serving it.
fn lock(m: &Mutex<DeviceState>) -> MutexGuard<'_, DeviceState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHOOLS: &str = "school_id,name,district,lat,lon,uplink_mbps\n\
        S1,One,Babek,39.2,45.4,100\n\
        S2,Two,Julfa,38.9,45.6,50\n";
    const DEVICES: &str = "device_id,school_id,role,expected_interval_s,parent\n\
        r2,S2,router,10,\n\
        r1,S1,router,10,\n\
        o1,S1,ont,60,\n";

    fn state() -> LiveState {
        LiveState::new(Arc::new(
            Inventory::from_csv_text(SCHOOLS, DEVICES).unwrap(),
        ))
    }

    fn sample(
        state: &LiveState,
        device: &str,
        key: Option<&str>,
        time_ns: i64,
        fields: Vec<(Field, FieldValue)>,
    ) -> Sample {
        Sample {
            measurement: fields[0].0.measurement(),
            time_ns,
            device: state.inventory().device(device).unwrap().clone(),
            key: key.map(Arc::from),
            fields,
        }
    }

    fn values(state: &LiveState, slot: usize) -> Vec<(Field, Option<String>, FieldValue)> {
        state.with_device(slot, |d| {
            d.series()
                .map(|(k, v)| (k.field, k.key.as_deref().map(str::to_string), v))
                .collect()
        })
    }

    #[test]
    fn schools_list_their_devices_in_inventory_order() {
        let s = state();
        assert_eq!(s.school_devices(0), &[1, 2]);
        assert_eq!(s.school_devices(1), &[0]);
    }

    #[test]
    fn keeps_latest_by_device_time_and_counters_never_decrease() {
        let s = state();
        let c = |v| vec![(Field::RxBytes, FieldValue::Counter(v))];
        s.record_samples(&[sample(&s, "r1", Some("wan"), 20, c(500))], 1.0);
        // Older device time: ignored.
        s.record_samples(&[sample(&s, "r1", Some("wan"), 10, c(100))], 2.0);
        assert_eq!(
            values(&s, 1),
            vec![(Field::RxBytes, Some("wan".into()), FieldValue::Counter(500))]
        );
        // Newer time but lower counter: counter held.
        s.record_samples(&[sample(&s, "r1", Some("wan"), 30, c(400))], 3.0);
        assert_eq!(values(&s, 1)[0].2, FieldValue::Counter(500));
        s.record_samples(&[sample(&s, "r1", Some("wan"), 40, c(900))], 4.0);
        assert_eq!(values(&s, 1)[0].2, FieldValue::Counter(900));
        assert_eq!(s.health_inputs(1).last_seen, Some(4.0));
        assert_eq!(s.health_inputs(0).last_seen, None);
    }

    #[test]
    fn series_are_ordered_by_key_not_arrival() {
        let s = state();
        let g = |f, v| vec![(f, FieldValue::Float(v))];
        s.record_samples(
            &[
                sample(&s, "r1", Some("wan"), 1, g(Field::RxBps, 1.0)),
                sample(&s, "r1", Some("lan"), 1, g(Field::RxBps, 2.0)),
                sample(&s, "r1", None, 1, g(Field::CpuRatio, 0.5)),
            ],
            1.0,
        );
        let keys: Vec<_> = values(&s, 1).into_iter().map(|(f, k, _)| (f, k)).collect();
        assert_eq!(
            keys,
            vec![
                (Field::RxBps, Some("lan".into())),
                (Field::RxBps, Some("wan".into())),
                (Field::CpuRatio, None),
            ]
        );
    }

    #[test]
    fn unknown_devices_and_series_limit_are_counted() {
        let s = state();
        let other = Inventory::from_csv_text(
            SCHOOLS,
            "device_id,school_id,role,expected_interval_s,parent\nx9,S1,router,10,\n",
        )
        .unwrap();
        let stranger = Sample {
            measurement: Measurement::System,
            time_ns: 1,
            device: other.device("x9").unwrap().clone(),
            key: None,
            fields: vec![
                (Field::CpuRatio, FieldValue::Float(0.1)),
                (Field::Load1, FieldValue::Float(1.0)),
            ],
        };
        assert_eq!(s.record_samples(&[stranger], 1.0).unknown_device, 2);

        let many: Vec<Sample> = (0..MAX_SERIES_PER_DEVICE + 3)
            .map(|i| {
                sample(
                    &s,
                    "o1",
                    Some(&format!("if{i:05}")),
                    1,
                    vec![(Field::OperUp, FieldValue::Float(1.0))],
                )
            })
            .collect();
        let dropped = s.record_samples(&many, 1.0);
        assert_eq!(dropped.series_limit, 3);
        assert_eq!(values(&s, 2).len(), MAX_SERIES_PER_DEVICE);
        // Existing series still update when full.
        let again = sample(
            &s,
            "o1",
            Some("if00000"),
            2,
            vec![(Field::OperUp, FieldValue::Float(0.0))],
        );
        assert_eq!(s.record_samples(&[again], 2.0), Dropped::default());
    }

    #[test]
    fn status_online_counts_as_seen_offline_does_not() {
        let s = state();
        let dev = s.inventory().device("r2").unwrap().clone();
        assert!(s.record_status(
            &StatusEvent {
                device: dev.clone(),
                online: false,
                time_ns: 0
            },
            5.0
        ));
        assert_eq!(
            s.health_inputs(0),
            HealthInputs {
                last_seen: None,
                status: Some(LwtStatus {
                    online: false,
                    at: 5.0
                }),
                signals: Signals::default(),
            }
        );
        s.record_status(
            &StatusEvent {
                device: dev,
                online: true,
                time_ns: 0,
            },
            6.0,
        );
        assert_eq!(s.health_inputs(0).last_seen, Some(6.0));
    }
}
