//! Counter handling: raw device counters (which wrap at 2^32 or 2^64 and
//! restart from zero when a device reboots) become monotonic counters plus a
//! per-second rate, and no damaged value moves them by more than a plausible
//! amount.
//!
//! Every step is checked against `max_rate`, the largest increase per second
//! the counter can plausibly show (see `derived::max_plausible_rate`):
//! - An increase within it advances the counter and gives a rate.
//! - A decrease is a *wrap* when the wrap-corrected delta is within it and
//!   the device has not rebooted since the previous sample.
//! - A decrease after a reboot (the uptime went down) is a *reset*: the new
//!   raw value, counted since the reboot, is added (if it is itself within
//!   `max_rate` × interval) and no rate is derived.
//! - Any other decrease is *suspect*: a reset the device did not announce,
//!   or a damaged value (a payload cut short inside a number, `12345678` →
//!   `1234`). The counter holds still, without a rate, and the next sample
//!   decides: if it continues plausibly from the last trusted value, the
//!   suspect one was damaged and is skipped; if it continues from the suspect
//!   one, it was a reset and its raw value is credited then.
//! - An increase beyond `max_rate` is *implausible*: no value, no rate, the
//!   counter does not move (the normalizer rejects it as `implausible_rate`).
//!   The raw value becomes the base the next sample is compared with (a
//!   rebase, as for a reset), while the last trusted value is kept: a next
//!   sample that continues plausibly from it shows the jump was damage.
//!
//! So whatever order damaged and good values arrive in, the monotonic counter
//! never grows by more than `max_rate` × the time since the last trusted
//! sample, and every rate is at most `max_rate`.
//!
//! The monotonic value counts from zero when the collector first sees a
//! series, so it fits an InfluxDB integer for centuries even when the device's
//! raw 64-bit counter starts near 2^64.

use crate::sample::CounterWidth;

/// What happened between the previous sample of a series and this one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// First sample of the series: counter 0, no rate.
    First { monotonic: u64 },
    /// Normal increase (including a corrected wrap, a resolved suspect value
    /// or a confirmed reset), with the rate per second.
    Advanced {
        monotonic: u64,
        rate: f64,
        wrapped: bool,
    },
    /// The device rebooted and reset its counter; no rate for this interval.
    Reset { monotonic: u64 },
    /// A decrease that is neither a wrap nor announced by a reboot: the
    /// counter holds still (no rate) until the next sample tells a reset
    /// from a damaged value.
    Suspect { monotonic: u64 },
    /// An increase (or a reset's raw value) implying more than `max_rate`:
    /// no value, no rate, the counter does not move.
    Implausible { rate: f64 },
    /// Same timestamp and value as the previous sample (an MQTT redelivery):
    /// the same monotonic value again, so rewriting it is idempotent.
    Duplicate { monotonic: u64 },
    /// Older than the previous sample; the counter cannot go back in time.
    OutOfOrder,
}

/// The last value of a series that was trusted, kept while later values are
/// in doubt (after a suspect decrease or an implausible increase).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Trusted {
    raw: u64,
    time_ns: i64,
    /// Whether the doubtful base is a possible reset (a suspect decrease),
    /// whose raw value, counted since the reset, is credited when the next
    /// sample confirms it; not after an implausible jump. A bool, not the
    /// amount: the base is `last_raw`, and `Option<Trusted>` then fits in
    /// the bool's niche (24 bytes a series, not 32).
    reset: bool,
}

/// State of one raw counter series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CounterState {
    last_raw: u64,
    last_time_ns: i64,
    monotonic: u64,
    /// Set while the last value is in doubt.
    trusted: Option<Trusted>,
}

/// The increase from `from` to `to` over `dt_s` seconds, if plausible:
/// `(delta, wrapped)`. A decrease counts as a wrap of `width` unless
/// `rebooted`.
fn plausible_delta(
    from: u64,
    to: u64,
    dt_s: f64,
    width: CounterWidth,
    max_rate: f64,
    rebooted: bool,
) -> Option<(u64, bool)> {
    let (delta, wrapped) = if to >= from {
        (u128::from(to - from), false)
    } else if rebooted {
        return None;
    } else {
        (width.modulus() - u128::from(from) + u128::from(to), true)
    };
    // Fits u64: a wrapped delta is below the modulus ≤ 2^64.
    (delta as f64 <= max_rate * dt_s).then_some((delta as u64, wrapped))
}

impl CounterState {
    /// Starts a series at its first sample.
    pub fn start(raw: u64, time_ns: i64) -> (CounterState, Step) {
        let state = CounterState {
            last_raw: raw,
            last_time_ns: time_ns,
            monotonic: 0,
            trusted: None,
        };
        (state, Step::First { monotonic: 0 })
    }

    /// Applies the next raw sample. `max_rate` is the largest plausible
    /// increase per second; `rebooted_since` tells whether the device's
    /// uptime went down after the given device time.
    pub fn advance(
        &mut self,
        raw: u64,
        time_ns: i64,
        width: CounterWidth,
        max_rate: f64,
        rebooted_since: impl Fn(i64) -> bool,
    ) -> Step {
        if time_ns < self.last_time_ns {
            return Step::OutOfOrder;
        }
        if time_ns == self.last_time_ns {
            return if raw == self.last_raw {
                Step::Duplicate {
                    monotonic: self.monotonic,
                }
            } else {
                Step::OutOfOrder
            };
        }
        let secs = |since: i64| (time_ns - since) as f64 / 1e9;
        let dt = secs(self.last_time_ns);
        let step = self.classify(raw, time_ns, dt, width, max_rate, &rebooted_since);
        self.last_raw = raw;
        self.last_time_ns = time_ns;
        step
    }

    fn classify(
        &mut self,
        raw: u64,
        time_ns: i64,
        dt: f64,
        width: CounterWidth,
        max_rate: f64,
        rebooted_since: &impl Fn(i64) -> bool,
    ) -> Step {
        let secs = |since: i64| (time_ns - since) as f64 / 1e9;
        if rebooted_since(self.last_time_ns) {
            // Counted since the reboot, which came after the last sample.
            self.trusted = None;
            if raw as f64 > max_rate * dt {
                return Step::Implausible {
                    rate: raw as f64 / dt,
                };
            }
            self.monotonic = self.monotonic.saturating_add(raw);
            return Step::Reset {
                monotonic: self.monotonic,
            };
        }
        // A value in doubt: does this one continue from the trusted one?
        if let Some(t) = self.trusted {
            let since = secs(t.time_ns);
            let rebooted = rebooted_since(t.time_ns);
            if let Some((delta, wrapped)) =
                plausible_delta(t.raw, raw, since, width, max_rate, rebooted)
            {
                self.trusted = None;
                return self.advanced(delta, delta as f64 / since, wrapped);
            }
        }
        if let Some((delta, wrapped)) =
            plausible_delta(self.last_raw, raw, dt, width, max_rate, false)
        {
            // The base was a reset after all (or a rebase): a reset's raw
            // value is credited if it could have been counted since the
            // trusted sample (the reset came after it).
            let credit = match self.trusted.take() {
                Some(t) if t.reset => {
                    let since = (self.last_time_ns - t.time_ns) as f64 / 1e9;
                    if self.last_raw as f64 <= max_rate * since {
                        self.last_raw
                    } else {
                        0
                    }
                }
                _ => 0,
            };
            self.monotonic = self.monotonic.saturating_add(credit);
            return self.advanced(delta, delta as f64 / dt, wrapped);
        }
        let trusted = self.trusted.unwrap_or(Trusted {
            raw: self.last_raw,
            time_ns: self.last_time_ns,
            reset: false,
        });
        if raw >= self.last_raw {
            self.trusted = Some(Trusted {
                reset: false,
                ..trusted
            });
            return Step::Implausible {
                rate: (raw - self.last_raw) as f64 / dt,
            };
        }
        self.trusted = Some(Trusted {
            reset: true,
            ..trusted
        });
        Step::Suspect {
            monotonic: self.monotonic,
        }
    }

    fn advanced(&mut self, delta: u64, rate: f64, wrapped: bool) -> Step {
        self.monotonic = self.monotonic.saturating_add(delta);
        Step::Advanced {
            monotonic: self.monotonic,
            rate,
            wrapped,
        }
    }
}

/// State of a series reported as a rate (collectd `StoreRates true`): the
/// counter is rebuilt by integrating rate × interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntegratedState {
    last_time_ns: i64,
    total: f64,
}

impl IntegratedState {
    pub fn start(time_ns: i64) -> IntegratedState {
        IntegratedState {
            last_time_ns: time_ns,
            total: 0.0,
        }
    }

    /// Adds `rate` over the time since the previous sample: `Advanced`, or
    /// `OutOfOrder` if the sample is older than the previous one, or
    /// `Implausible` if `rate` exceeds `max_rate` — then the interval is
    /// skipped, not integrated (its traffic is unknown, not the bogus rate).
    pub fn advance(&mut self, rate: f64, time_ns: i64, max_rate: f64) -> Step {
        if time_ns < self.last_time_ns {
            return Step::OutOfOrder;
        }
        let dt = (time_ns - self.last_time_ns) as f64 / 1e9;
        self.last_time_ns = time_ns;
        if rate > max_rate {
            return Step::Implausible { rate };
        }
        self.total += rate * dt;
        Step::Advanced {
            monotonic: self.total as u64,
            rate,
            wrapped: false,
        }
    }
}

#[cfg(test)]
mod tests;
