//! Time for the live state: wall-clock receive time in Unix seconds.
//!
//! Staleness and `last_seen` use the time a message was *received*, never the
//! device's own timestamp (device clocks drift, and a device that reports an
//! old timestamp is still alive). Tests use [`ManualClock`] to step time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of "now" in Unix seconds (fractional).
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> f64;
}

/// The system wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// A clock that only moves when told to (tests, simulations).
#[derive(Debug)]
pub struct ManualClock {
    /// `f64` bits, so the clock can be shared without a lock.
    bits: AtomicU64,
}

impl ManualClock {
    pub fn new(now: f64) -> ManualClock {
        ManualClock {
            bits: AtomicU64::new(now.to_bits()),
        }
    }

    pub fn set(&self, now: f64) {
        self.bits.store(now.to_bits(), Ordering::SeqCst);
    }

    pub fn advance(&self, seconds: f64) {
        self.set(self.now() + seconds);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(100.0);
        assert_eq!(c.now(), 100.0);
        c.advance(2.5);
        assert_eq!(c.now(), 102.5);
        c.set(7.0);
        assert_eq!(c.now(), 7.0);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now() > 1_577_836_800.0);
    }
}
