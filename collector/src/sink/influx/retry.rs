//! How long to wait before sending a failed batch again.
//!
//! Capped exponential backoff with "equal jitter" (half fixed, half random),
//! so a fleet of collectors that lost InfluxDB at the same moment does not
//! come back in lockstep. A server's `Retry-After` is a floor, not a
//! replacement: if our own backoff already says wait longer, we do (as
//! Telegraf does). Everything is capped at `max_retry_backoff_s`, so an
//! absurd `Retry-After: 86400` cannot stall the writer for a day.

use std::time::Duration;

/// First retry delay; doubles per attempt up to the cap.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct Backoff {
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(max: Duration) -> Backoff {
        Backoff {
            // A cap below the first step would make the first step the cap.
            max: max.max(Duration::from_millis(1)),
            attempt: 0,
        }
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Called after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt; `jitter` in `[0, 1)` (random in
    /// production, fixed in tests).
    pub fn next_delay(&mut self, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let exp = INITIAL_BACKOFF.saturating_mul(1u32 << self.attempt.min(20));
        self.attempt = self.attempt.saturating_add(1);
        let capped = exp.min(self.max);
        let jittered = capped / 2 + capped.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        jittered.max(retry_after.unwrap_or_default()).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(2));
        let delays: Vec<Duration> = (0..6).map(|_| b.next_delay(None, 1.0)).collect();
        assert_eq!(
            delays,
            [ms(250), ms(500), ms(1000), ms(2000), ms(2000), ms(2000)]
        );
        assert_eq!(b.attempts(), 6);
        b.reset();
        assert_eq!(b.next_delay(None, 0.0), ms(125));
    }

    #[test]
    fn jitter_stays_within_half_to_full() {
        let mut b = Backoff::new(Duration::from_secs(30));
        for _ in 0..3 {
            b.next_delay(None, 0.0);
        }
        assert_eq!(b.clone().next_delay(None, 0.0), ms(1000));
        assert_eq!(b.clone().next_delay(None, 0.5), ms(1500));
        let d = b.next_delay(None, 0.999_999);
        assert!(d > ms(1999) && d < ms(2000), "{d:?}");
    }

    #[test]
    fn retry_after_is_a_floor_under_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(30));
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(7)), 0.0),
            Duration::from_secs(7)
        );
        assert_eq!(b.next_delay(Some(Duration::ZERO), 1.0), ms(500));
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(86_400)), 0.0),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn many_attempts_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(30));
        for _ in 0..1000 {
            assert!(b.next_delay(None, 0.5) <= Duration::from_secs(30));
        }
    }
}
