//! Counter handling: raw device counters (which wrap at 2^32 or 2^64 and
//! restart from zero when a device reboots) become monotonic counters plus a
//! per-second rate.
//!
//! A decrease is a *wrap* when the wrap-corrected delta gives a plausible
//! rate (≤ `max_rate`) and the device has not rebooted since the previous
//! sample; otherwise it is a *reset* (reboot, counter cleared), and the new
//! raw value is taken as the increase since the reset. No rate is derived
//! across a reset, because the time the reset happened is unknown.
//!
//! The monotonic value counts from zero when the collector first sees a
//! series, so it fits an InfluxDB integer for centuries even when the device's
//! raw 64-bit counter starts near 2^64.

use crate::decode::CounterWidth;

/// What happened between the previous sample of a series and this one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// First sample of the series: counter 0, no rate.
    First { monotonic: u64 },
    /// Normal increase (including a corrected wrap), with the rate per second.
    Advanced {
        monotonic: u64,
        rate: f64,
        wrapped: bool,
    },
    /// The device reset its counter; no rate for this interval.
    Reset { monotonic: u64 },
    /// Same timestamp and value as the previous sample (an MQTT redelivery):
    /// the same monotonic value again, so rewriting it is idempotent.
    Duplicate { monotonic: u64 },
    /// Older than the previous sample; the counter cannot go back in time.
    OutOfOrder,
}

/// State of one raw counter series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CounterState {
    last_raw: u64,
    last_time_ns: i64,
    monotonic: u64,
}

impl CounterState {
    /// Starts a series at its first sample.
    pub fn start(raw: u64, time_ns: i64) -> (CounterState, Step) {
        let state = CounterState {
            last_raw: raw,
            last_time_ns: time_ns,
            monotonic: 0,
        };
        (state, Step::First { monotonic: 0 })
    }

    /// Applies the next raw sample. `max_rate` is the largest plausible
    /// increase per second; `rebooted_since` tells whether the device's
    /// uptime went down after the previous sample.
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
        let dt = (time_ns - self.last_time_ns) as f64 / 1e9;
        let step = if raw >= self.last_raw && !rebooted_since(self.last_time_ns) {
            let delta = raw - self.last_raw;
            self.monotonic = self.monotonic.saturating_add(delta);
            Step::Advanced {
                monotonic: self.monotonic,
                rate: delta as f64 / dt,
                wrapped: false,
            }
        } else {
            let wrapped_delta = width.modulus() - u128::from(self.last_raw) + u128::from(raw);
            let plausible = raw < self.last_raw
                && !rebooted_since(self.last_time_ns)
                && (wrapped_delta as f64 / dt) <= max_rate;
            if plausible {
                // Fits u64: wrapped_delta < modulus ≤ 2^64 and raw < last_raw.
                let delta = wrapped_delta as u64;
                self.monotonic = self.monotonic.saturating_add(delta);
                Step::Advanced {
                    monotonic: self.monotonic,
                    rate: delta as f64 / dt,
                    wrapped: true,
                }
            } else {
                self.monotonic = self.monotonic.saturating_add(raw);
                Step::Reset {
                    monotonic: self.monotonic,
                }
            }
        };
        self.last_raw = raw;
        self.last_time_ns = time_ns;
        step
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

    /// Adds `rate` over the time since the previous sample; `None` if the
    /// sample is older than the previous one.
    pub fn advance(&mut self, rate: f64, time_ns: i64) -> Option<u64> {
        if time_ns < self.last_time_ns {
            return None;
        }
        let dt = (time_ns - self.last_time_ns) as f64 / 1e9;
        self.total += rate * dt;
        self.last_time_ns = time_ns;
        Some(self.total as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const GBIT_BYTES: f64 = 1e9 / 8.0;

    fn never(_: i64) -> bool {
        false
    }

    #[test]
    fn first_sample_starts_at_zero_without_rate() {
        let (_, step) = CounterState::start(123_456, 0);
        assert_eq!(step, Step::First { monotonic: 0 });
    }

    #[test]
    fn normal_increase_gives_rate() {
        let (mut c, _) = CounterState::start(1000, 0);
        let step = c.advance(2000, 10 * S, CounterWidth::Bits64, GBIT_BYTES, never);
        assert_eq!(
            step,
            Step::Advanced {
                monotonic: 1000,
                rate: 100.0,
                wrapped: false
            }
        );
    }

    #[test]
    fn wrap_32_bit_is_corrected() {
        let max = u64::from(u32::MAX);
        let (mut c, _) = CounterState::start(max - 99, 0);
        // 100 bytes to reach the wrap, 400 after it.
        let step = c.advance(400, 10 * S, CounterWidth::Bits32, GBIT_BYTES, never);
        assert_eq!(
            step,
            Step::Advanced {
                monotonic: 500,
                rate: 50.0,
                wrapped: true
            }
        );
        // And the series goes on from the new raw value.
        let step = c.advance(1400, 20 * S, CounterWidth::Bits32, GBIT_BYTES, never);
        assert!(matches!(
            step,
            Step::Advanced {
                monotonic: 1500,
                ..
            }
        ));
    }

    #[test]
    fn wrap_32_bit_at_line_rate_is_still_a_wrap() {
        // 1 Gbit/s for 30 s is 3.75 GB: nearly a full 32-bit turn.
        let start = 4_000_000_000u64;
        let delta = 3_750_000_000u64;
        let raw = (start + delta) % (1 << 32);
        let (mut c, _) = CounterState::start(start, 0);
        let step = c.advance(raw, 30 * S, CounterWidth::Bits32, 1.25 * GBIT_BYTES, never);
        assert_eq!(
            step,
            Step::Advanced {
                monotonic: delta,
                rate: delta as f64 / 30.0,
                wrapped: true
            }
        );
    }

    #[test]
    fn wrap_64_bit_is_corrected() {
        let (mut c, _) = CounterState::start(u64::MAX - 9, 0);
        let step = c.advance(90, S, CounterWidth::Bits64, GBIT_BYTES, never);
        assert_eq!(
            step,
            Step::Advanced {
                monotonic: 100,
                rate: 100.0,
                wrapped: true
            }
        );
    }

    #[test]
    fn implausible_wrap_is_a_reset() {
        // A 64-bit counter dropping from 5e9 to 10 would need ~2^64 bytes: a reboot.
        let (mut c, _) = CounterState::start(5_000_000_000, 0);
        let step = c.advance(10, 10 * S, CounterWidth::Bits64, GBIT_BYTES, never);
        assert_eq!(step, Step::Reset { monotonic: 10 });
        let step = c.advance(1010, 20 * S, CounterWidth::Bits64, GBIT_BYTES, never);
        assert!(matches!(step, Step::Advanced { monotonic: 1010, rate, .. } if rate == 100.0));
    }

    #[test]
    fn reboot_makes_a_plausible_wrap_a_reset() {
        // Same numbers as a 32-bit wrap, but the uptime went down in between.
        let max = u64::from(u32::MAX);
        let (mut c, _) = CounterState::start(max - 99, 0);
        let step = c.advance(400, 10 * S, CounterWidth::Bits32, GBIT_BYTES, |_| true);
        assert_eq!(step, Step::Reset { monotonic: 400 });
    }

    #[test]
    fn reboot_with_higher_value_is_still_a_reset() {
        let (mut c, _) = CounterState::start(100, 0);
        let step = c.advance(5000, 10 * S, CounterWidth::Bits64, GBIT_BYTES, |_| true);
        assert_eq!(step, Step::Reset { monotonic: 5000 });
    }

    #[test]
    fn out_of_order_and_duplicates() {
        let (mut c, _) = CounterState::start(100, 10 * S);
        assert_eq!(
            c.advance(50, 5 * S, CounterWidth::Bits64, GBIT_BYTES, never),
            Step::OutOfOrder
        );
        assert_eq!(
            c.advance(100, 10 * S, CounterWidth::Bits64, GBIT_BYTES, never),
            Step::Duplicate { monotonic: 0 }
        );
        assert_eq!(
            c.advance(150, 10 * S, CounterWidth::Bits64, GBIT_BYTES, never),
            Step::OutOfOrder
        );
        // The rejected samples did not disturb the series.
        assert!(matches!(
            c.advance(200, 20 * S, CounterWidth::Bits64, GBIT_BYTES, never),
            Step::Advanced { monotonic: 100, .. }
        ));
    }

    #[test]
    fn integrated_rates_rebuild_a_counter() {
        let mut s = IntegratedState::start(0);
        assert_eq!(s.advance(100.0, 10 * S), Some(1000));
        assert_eq!(s.advance(50.0, 20 * S), Some(1500));
        assert_eq!(s.advance(50.0, 15 * S), None);
    }
}
