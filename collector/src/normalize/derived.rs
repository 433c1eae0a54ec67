//! Values the normalizer derives rather than copies: a device's reboots
//! (from its uptime), monotonic counters integrated from device-computed
//! rates (collectd `StoreRates`), the plausible counter rate that tells a
//! wrap from a reset, and the WAN uplink's utilization.

use super::counters::{IntegratedState, Step};
use super::damage::Damaged;
use super::{DeviceFacts, SeriesGroup, SeriesState};
use crate::decode::Reading;
use crate::inventory::{DeviceInfo, Role};
use crate::sample::{Field, FieldValue};

/// Notes a device's uptime; an uptime lower than the last one is a reboot.
pub(super) fn note_uptime(facts: &mut DeviceFacts, values: &[(Field, Reading)], time_ns: i64) {
    let Some(uptime) = values.iter().find_map(|(f, r)| match (f, r) {
        (Field::UptimeS, Reading::Gauge(v)) => Some(*v),
        _ => None,
    }) else {
        return;
    };
    if facts.last_uptime_s.is_some_and(|last| uptime < last) {
        facts.last_reboot_ns = Some(time_ns);
    }
    facts.last_uptime_s = Some(uptime);
}

/// Integrates a device-computed rate (collectd StoreRates) into the
/// series' monotonic counter. A rate above `max_rate` is never integrated
/// (nor stored), not even on a series' first sample.
pub(super) fn integrate(
    group: &mut SeriesGroup,
    field: Field,
    rate: f64,
    time_ns: i64,
    max_rate: f64,
) -> Step {
    match group.counter(field) {
        Some(SeriesState::Integrated(state)) => state.advance(rate, time_ns, max_rate),
        other => {
            let state = SeriesState::Integrated(IntegratedState::start(time_ns));
            match other {
                Some(slot) => *slot = state,
                None => group.counters.push((field, state)),
            }
            if rate > max_rate {
                Step::Implausible { rate }
            } else {
                // The device computed the rate: it holds from the first sample.
                Step::Advanced {
                    monotonic: 0,
                    rate,
                    wrapped: false,
                }
            }
        }
    }
}

/// Turns a counter's [`Step`] into its fields: the monotonic value, and the
/// derived rate (bits per second) where there is one; an out-of-order or
/// implausible step (with its bound, from `max_rate`) is noted instead.
pub(super) fn push_step(
    fields: &mut Vec<(Field, FieldValue)>,
    field: Field,
    step: Step,
    out_of_order: &mut Vec<&'static str>,
    damaged: &mut Damaged,
    max_rate: impl FnOnce() -> f64,
) {
    match step {
        Step::First { monotonic }
        | Step::Reset { monotonic }
        | Step::Suspect { monotonic }
        | Step::Duplicate { monotonic } => fields.push((field, FieldValue::Counter(monotonic))),
        Step::Advanced {
            monotonic, rate, ..
        } => {
            fields.push((field, FieldValue::Counter(monotonic)));
            if let Some(rate_field) = field.derived_rate() {
                fields.push((rate_field, FieldValue::Float(rate * 8.0)));
            }
        }
        Step::Implausible { rate } => damaged.implausible.push((field.key(), rate, max_rate())),
        Step::OutOfOrder => out_of_order.push(field.key()),
    }
}

/// The largest increase per second a counter can plausibly show, in the
/// counter's unit; anything faster is a damaged value (or, for a decrease
/// after wrap correction, a reset):
/// - bytes: a 10 Gbit/s port, or twice the school's uplink if that is more
///   (no school port is faster; twice, so bursts above a shaped contract
///   pass);
/// - packets: that many bits in minimum-size Ethernet frames, 84 bytes on
///   the wire each (64-byte frame + 8 preamble + 12 inter-frame gap):
///   14.9 Mpps at 10 Gbit/s, the most any port can carry;
/// - errors and drops: the packets' bound, since each is a frame that was
///   (or would have been) received or sent.
///
/// Loose on purpose: it must never refuse real traffic (a 32-bit counter
/// wrapping at line rate is still a wrap), yet it catches what damage does
/// to a counter: a value cut short or grown by digits is off by a factor of
/// ten or more of a counter that has run for days.
pub(super) fn max_plausible_rate(device: &DeviceInfo, field: Field) -> f64 {
    let bits_per_s = (device.school.uplink_mbps * 2e6).max(10e9);
    match field {
        Field::RxBytes | Field::TxBytes => bits_per_s / 8.0,
        _ => bits_per_s / (MIN_FRAME_ON_WIRE_BYTES * 8.0),
    }
}

/// A minimum Ethernet frame (64 bytes) with its preamble and inter-frame gap.
const MIN_FRAME_ON_WIRE_BYTES: f64 = 84.0;

/// Adds `utilization` for the router's WAN interface: the busier direction
/// over the school's contracted uplink.
pub(super) fn add_utilization(
    device: &DeviceInfo,
    key: Option<&str>,
    fields: &mut Vec<(Field, FieldValue)>,
) {
    let is_wan = device.role == Role::Router
        && match (&device.wan_interface, key) {
            (Some(wan), Some(k)) => &**wan == k,
            (None, Some(k)) => k == "wan",
            _ => false,
        };
    if !is_wan || device.school.uplink_mbps <= 0.0 {
        return;
    }
    let bps = fields
        .iter()
        .filter(|(f, _)| matches!(f, Field::RxBps | Field::TxBps))
        .map(|(_, v)| v.as_f64())
        .fold(None, |acc: Option<f64>, v| {
            Some(acc.map_or(v, |a| a.max(v)))
        });
    if let Some(bps) = bps {
        fields.push((
            Field::Utilization,
            FieldValue::Float(bps / (device.school.uplink_mbps * 1e6)),
        ));
    }
}
