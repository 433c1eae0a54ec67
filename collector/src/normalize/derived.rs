//! Values the normalizer derives rather than copies: a device's reboots
//! (from its uptime), monotonic counters integrated from device-computed
//! rates (collectd `StoreRates`), the plausible counter rate that tells a
//! wrap from a reset, and the WAN uplink's utilization.

use super::counters::IntegratedState;
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
/// series' monotonic counter; `None` if the sample is out of order.
pub(super) fn integrate(
    group: &mut SeriesGroup,
    field: Field,
    rate: f64,
    time_ns: i64,
) -> Option<u64> {
    match group.counter(field) {
        Some(SeriesState::Integrated(state)) => state.advance(rate, time_ns),
        other => {
            let state = SeriesState::Integrated(IntegratedState::start(time_ns));
            match other {
                Some(slot) => *slot = state,
                None => group.counters.push((field, state)),
            }
            Some(0)
        }
    }
}

/// The largest increase per second a counter can plausibly show: at least a
/// 10 Gbit/s port (or twice the school's uplink, if larger), in the counter's
/// unit. Anything faster than that after wrap correction is a reset.
pub(super) fn max_plausible_rate(device: &DeviceInfo, field: Field) -> f64 {
    let bits_per_s = (device.school.uplink_mbps * 2e6).max(10e9);
    match field {
        Field::RxBytes | Field::TxBytes => bits_per_s / 8.0,
        // Minimum-size Ethernet frames at that speed.
        _ => bits_per_s / (84.0 * 8.0),
    }
}

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
