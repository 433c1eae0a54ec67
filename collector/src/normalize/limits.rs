//! The input limits normalization enforces per observation (see the
//! module docs of [`super`]): tag lengths (`tag_too_long`), the per-device
//! series budget (`series_limit`) and the accepted device clock skew
//! (`bad_timestamp`).

use super::*;

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

    /// Applies the device's series budget to `values`: known series pass,
    /// new ones are admitted while the budget lasts, the rest are removed
    /// from `values` and named in the returned `series_limit` reject.
    pub(super) fn admit_series(
        &mut self,
        device: &Arc<str>,
        measurement: Measurement,
        key: &Option<Arc<str>>,
        values: &mut Vec<(Field, Reading)>,
    ) -> Option<Reject> {
        let budget = self.limits.max_series_per_device;
        let dev = self.budget.entry(device.clone()).or_default();
        let known = dev
            .fields
            .get(&(measurement, key.clone()))
            .copied()
            .unwrap_or(0);
        let mut admitted = known;
        let mut refused: Vec<&'static str> = Vec::new();
        values.retain(|(field, _)| {
            let bit = field_bit(*field);
            if admitted & bit != 0 {
                return true;
            }
            if dev.count < budget {
                admitted |= bit;
                dev.count += 1;
                self.budget_series += 1;
                true
            } else {
                refused.push(field.key());
                false
            }
        });
        if admitted != known {
            dev.fields.insert((measurement, key.clone()), admitted);
        }
        if refused.is_empty() {
            return None;
        }
        self.series_limit_hits += refused.len() as u64;
        let shown_key = key
            .as_deref()
            .map(|k| format!(" `{}`", k.escape_debug()))
            .unwrap_or_default();
        Some(Reject::new(
            RejectReason::SeriesLimit,
            format!(
                "device `{device}` reached its budget of {budget} series: new {measurement}{shown_key} series {} dropped",
                refused.join(",")
            ),
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
