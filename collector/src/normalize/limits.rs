//! The input limits normalization enforces per observation (see the
//! module docs of [`super`]): tag lengths (`tag_too_long`), the per-device
//! series budget (`series_limit`) and the accepted device clock skew
//! (`bad_timestamp`).

use super::*;
use crate::decode::Values;

impl Normalizer {
    /// `tag_too_long` if `value` (a device id, interface or probe target)
    /// exceeds `limits.max_tag_value_bytes`.
    pub(super) fn check_tag(&self, what: &str, value: &str) -> Result<(), Reject> {
        let max = self.limits.max_tag_value_bytes;
        if value.len() <= max {
            return Ok(());
        }
        let shown: String = value
            .chars()
            .take(32)
            .flat_map(char::escape_debug)
            .collect();
        Err(Reject::new(
            RejectReason::TagTooLong,
            format!("{what} `{shown}…` is {} bytes > limit {max}", value.len()),
        ))
    }

    pub(super) fn check_time(&self, time_ns: i64, received_ns: i64) -> Result<(), Reject> {
        let future = self.limits.max_future().as_nanos() as i64;
        let past = self.limits.max_past().as_nanos() as i64;
        if time_ns > received_ns.saturating_add(future) {
            return Err(Reject::new(
                RejectReason::BadTimestamp,
                format!(
                    "timestamp {time_ns} is more than {}s in the future",
                    self.limits.max_future_s
                ),
            ));
        }
        if time_ns < received_ns.saturating_sub(past) {
            return Err(Reject::new(
                RejectReason::BadTimestamp,
                format!(
                    "timestamp {time_ns} is more than {}s in the past",
                    self.limits.max_past_s
                ),
            ));
        }
        Ok(())
    }
}

/// One device's share of the `max_series_per_device` budget, with the
/// normalizer-wide totals it updates.
pub(super) struct Budget<'a> {
    pub max: usize,
    pub device_used: &'a mut usize,
    pub total_used: &'a mut usize,
    pub refused_total: &'a mut u64,
}

impl Budget<'_> {
    /// Applies the budget to `values` of one (measurement, key) `group`:
    /// known series pass, new ones are admitted while the budget lasts, the
    /// rest are removed from `values` and named in the returned
    /// `series_limit` reject.
    pub(super) fn admit(
        self,
        device: &str,
        measurement: Measurement,
        group: &mut SeriesGroup,
        values: &mut Values,
    ) -> Option<Reject> {
        let mut refused: Vec<&'static str> = Vec::new();
        values.retain(|(field, _)| {
            let bit = field_bit(*field);
            if group.admitted & bit != 0 {
                return true;
            }
            if *self.device_used < self.max {
                group.admitted |= bit;
                *self.device_used += 1;
                *self.total_used += 1;
                true
            } else {
                refused.push(field.key());
                false
            }
        });
        if refused.is_empty() {
            return None;
        }
        *self.refused_total += refused.len() as u64;
        let shown_key = if group.key.is_empty() {
            String::new()
        } else {
            format!(" `{}`", group.key.escape_debug())
        };
        Some(Reject::new(
            RejectReason::SeriesLimit,
            format!(
                "device `{device}` reached its budget of {} series: new {measurement}{shown_key} series {} dropped",
                self.max,
                refused.join(",")
            ),
        ))
    }
}
