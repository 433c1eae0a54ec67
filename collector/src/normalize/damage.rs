//! Damage that still parses: a payload cut short inside its last number
//! (or otherwise mangled) can be valid syntax with wrong content. What gives
//! it away is the series' own history, kept here per (device, measurement,
//! key) group:
//! - a line without a timestamp in a series whose lines carry one
//!   (`missing_timestamp`): Telegraf always writes one, so its absence means
//!   the line was cut before or inside it, and the receive time would
//!   misplace the values (and any rate derived from them). Checked for
//!   every format, not only line protocol: a series that mixes the device's
//!   clock with the collector's gets wrong intervals whenever the device
//!   clock is skewed (within the accepted skew: a rate over 5 min instead
//!   of 10 s, then the next stamped sample out of order), so a `json` route
//!   whose optional `time` is sometimes absent is refused too. After
//!   [`UNTIMED_BEFORE_ACCEPTED`] such observations in a row the series is
//!   taken to have stopped sending timestamps (a changed client), and they
//!   are accepted with the receive time again;
//! - a counter field typed as a float in a series where it came as an
//!   integer (`counter_type_changed`): a line protocol `123i` cut inside the
//!   number loses its `i`. Only that field is dropped; a series that always
//!   sends floats is not affected, and integers after floats are fine;
//! - a counter step beyond the plausible rate (`implausible_rate`, decided in
//!   [`super::counters`]), collected here per observation into one reject.

use super::SeriesGroup;
use crate::reject::{Reject, RejectReason};
use crate::sample::{Field, Measurement};

/// Observations without a timestamp refused in a row before a series that
/// carried timestamps is taken to have stopped sending them.
pub(super) const UNTIMED_BEFORE_ACCEPTED: u8 = 3;

impl SeriesGroup {
    /// `missing_timestamp` if this observation has no timestamp but the
    /// group's observations carry one; notes which it is.
    pub(super) fn check_timestamp(
        &mut self,
        has_timestamp: bool,
        device: &str,
        measurement: Measurement,
    ) -> Result<(), Reject> {
        if has_timestamp {
            self.timestamped = true;
            self.untimed_in_a_row = 0;
            return Ok(());
        }
        if !self.timestamped {
            return Ok(());
        }
        self.untimed_in_a_row += 1;
        if self.untimed_in_a_row > UNTIMED_BEFORE_ACCEPTED {
            tracing::warn!(
                device,
                %measurement,
                key = %self.key,
                "series stopped sending timestamps; using the receive time from now on"
            );
            self.timestamped = false;
            self.untimed_in_a_row = 0;
            return Ok(());
        }
        let key = if self.key.is_empty() {
            String::new()
        } else {
            format!(" `{}`", self.key.escape_debug())
        };
        Err(Reject::new(
            RejectReason::MissingTimestamp,
            format!(
                "{measurement}{key} of device `{device}` has no timestamp, \
                 but its earlier lines had one (cut short?)"
            ),
        ))
    }

    /// Notes the type a counter `field` arrived as; `false` (refuse it) for
    /// a float where the series has carried integers.
    pub(super) fn note_counter_type(&mut self, field: Field, is_float: bool) -> bool {
        let bit = super::field_bit(field);
        if !is_float {
            self.integer_counters |= bit;
            return true;
        }
        self.integer_counters & bit == 0
    }
}

/// The counter fields of one observation refused as damaged.
#[derive(Debug, Default)]
pub(super) struct Damaged {
    /// Field key, implied rate and the bound it exceeds (per second, in
    /// the counter's unit).
    pub implausible: Vec<(&'static str, f64, f64)>,
    pub type_changed: Vec<&'static str>,
}

impl Damaged {
    /// One reject per kind of damage found, naming the fields, into `out`.
    pub(super) fn report(
        self,
        device: &str,
        measurement: Measurement,
        key: Option<&str>,
        out: &mut Vec<Reject>,
    ) {
        // Nearly every observation is undamaged: name the series only when
        // there is something to say (formatting it always cost 3 % of the
        // collector's CPU at full load).
        if self.implausible.is_empty() && self.type_changed.is_empty() {
            return;
        }
        let series = match key {
            Some(k) => format!("{measurement} `{}` of device `{device}`", k.escape_debug()),
            None => format!("{measurement} of device `{device}`"),
        };
        if !self.implausible.is_empty() {
            let fields: Vec<String> = self
                .implausible
                .iter()
                .map(|(f, rate, max)| format!("{f} at {rate:.3e}/s > {max:.3e}/s"))
                .collect();
            out.push(Reject::new(
                RejectReason::ImplausibleRate,
                format!(
                    "{series}: counter step beyond the plausible rate: {}; \
                     not stored, counter not moved",
                    fields.join(", ")
                ),
            ));
        }
        if !self.type_changed.is_empty() {
            out.push(Reject::new(
                RejectReason::CounterTypeChanged,
                format!(
                    "{series}: counter {} arrived as a float after integers \
                     (a line cut inside its number loses its `i`); not stored",
                    self.type_changed.join(",")
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests;
