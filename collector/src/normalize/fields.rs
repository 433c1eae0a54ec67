//! One observation's readings → the fields of its sample: gauges copied,
//! counters advanced through their series state (wraps, resets, device
//! rates integrated), derived rates added, and what cannot be stored noted
//! (out of order, damaged) for the rejects.

use super::counters::{CounterState, Step};
use super::damage::Damaged;
use super::derived::{integrate, max_plausible_rate, push_step};
use super::{DeviceFacts, SeriesGroup, SeriesState};
use crate::decode::Reading;
use crate::inventory::DeviceInfo;
use crate::sample::{Field, FieldKind, FieldValue};

/// The fields made from one observation, and what was left out.
pub(super) struct Converted {
    pub fields: Vec<(Field, FieldValue)>,
    /// Keys of counters older than the series' last sample.
    pub out_of_order: Vec<&'static str>,
    pub damaged: Damaged,
}

/// Converts the (admitted) `values` of one observation of `group`, taken
/// at `time_ns`.
pub(super) fn convert(
    group: &mut SeriesGroup,
    device: &DeviceInfo,
    facts: DeviceFacts,
    values: &[(Field, Reading)],
    time_ns: i64,
) -> Converted {
    let mut out = Converted {
        fields: Vec::with_capacity(values.len() + 3),
        out_of_order: Vec::new(),
        damaged: Damaged::default(),
    };
    for &(field, reading) in values {
        let step = match (field.kind(), reading) {
            (_, Reading::Gauge(v)) | (FieldKind::Gauge, Reading::Rate(v)) if v.is_finite() => {
                out.fields.push((field, FieldValue::Float(v)));
                continue;
            }
            (FieldKind::Counter, Reading::Rate(rate)) if rate.is_finite() && rate >= 0.0 => {
                let max_rate = max_plausible_rate(device, field);
                integrate(group, field, rate, time_ns, max_rate)
            }
            (
                FieldKind::Counter,
                Reading::Counter { raw, width } | Reading::FloatCounter { raw, width },
            ) => {
                let is_float = matches!(reading, Reading::FloatCounter { .. });
                if !group.note_counter_type(field, is_float) {
                    out.damaged.type_changed.push(field.key());
                    continue;
                }
                // The inventory knows a device's counter width better than its route.
                let width = device.counter_width.unwrap_or(width);
                let max_rate = max_plausible_rate(device, field);
                let rebooted_since = |since: i64| facts.last_reboot_ns.is_some_and(|r| r > since);
                match group.counter(field) {
                    Some(SeriesState::Raw(state)) => {
                        state.advance(raw, time_ns, width, max_rate, rebooted_since)
                    }
                    other => {
                        let (state, step) = CounterState::start(raw, time_ns);
                        match other {
                            Some(slot) => *slot = SeriesState::Raw(state),
                            None => group.counters.push((field, SeriesState::Raw(state))),
                        }
                        step
                    }
                }
            }
            // Decoders never emit these; dropping them keeps the invariant
            // that every written value is finite and of the field's kind.
            _ => continue,
        };
        out.push(field, step, device);
    }
    out
}

impl Converted {
    fn push(&mut self, field: Field, step: Step, device: &DeviceInfo) {
        push_step(
            &mut self.fields,
            field,
            step,
            &mut self.out_of_order,
            &mut self.damaged,
            || max_plausible_rate(device, field),
        );
    }
}
