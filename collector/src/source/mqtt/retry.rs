//! When to try the broker again after a connection error.
//!
//! Two kinds of failure cost the broker very different amounts:
//! - **Nothing listens** (`ECONNREFUSED`: the broker is restarting, or
//!   down; or `EHOSTUNREACH`/`ENETUNREACH`: no route to its host): the
//!   SYN never reaches a broker process, which spends nothing. Retried every [`RetryPolicy::NOTHING_LISTENS`], so
//!   the collector is subscribed again within a few hundred milliseconds
//!   of the broker accepting connections, however long it was away (with
//!   a doubling backoff it took up to the cap: 3.9 s measured, issue #18).
//! - **Everything else** (the broker refused the CONNECT, TLS failed, the
//!   connection broke, a timeout): each attempt may cost the broker a TLS
//!   handshake or a CONNECT (a timeout cannot tell an unanswered SYN from
//!   a broker too busy to answer the CONNECT). Capped
//!   exponential backoff, 0.5 s doubling up to `mqtt.max_backoff_s`.
//!
//! A ConnAck resets both.
//!
//! Retrying a closed port five times a second must not flood the log:
//! [`RetryPolicy::should_log`] lets the first such error through and then
//! one every [`RetryPolicy::NOTHING_LISTENS_LOG_EVERY`] (every error is
//! still counted in `schoolnet_mqtt_connection_errors_total`).

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use rumqttc::ConnectionError;

/// The delay before the next connection attempt.
#[derive(Debug)]
pub(super) struct RetryPolicy {
    backoff: Backoff,
    /// When a nothing-listens error was last logged, and how many were not
    /// logged since.
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl RetryPolicy {
    /// Delay between attempts while nothing listens on the broker's port.
    pub(super) const NOTHING_LISTENS: Duration = Duration::from_millis(200);
    /// While nothing listens, one log line per this interval.
    pub(super) const NOTHING_LISTENS_LOG_EVERY: Duration = Duration::from_secs(30);

    pub(super) fn new(max_backoff: Duration) -> RetryPolicy {
        RetryPolicy {
            backoff: Backoff::new(max_backoff),
            last_logged: None,
            unlogged: 0,
        }
    }

    /// Whether to log `error` now: `Some(n)` with the number of errors
    /// not logged since the last line, `None` to stay quiet.
    pub(super) fn should_log(&mut self, error: &ConnectionError, now: Instant) -> Option<u64> {
        if !nothing_listens(error) {
            return Some(std::mem::take(&mut self.unlogged));
        }
        let due = self
            .last_logged
            .is_none_or(|t| now.duration_since(t) >= Self::NOTHING_LISTENS_LOG_EVERY);
        if due {
            self.last_logged = Some(now);
            Some(std::mem::take(&mut self.unlogged))
        } else {
            self.unlogged += 1;
            None
        }
    }

    /// The delay after `error`.
    pub(super) fn delay_after(&mut self, error: &ConnectionError) -> Duration {
        if nothing_listens(error) {
            Self::NOTHING_LISTENS
        } else {
            self.backoff.next_delay()
        }
    }

    /// Connected: the next failure starts from the shortest delay.
    pub(super) fn reset(&mut self) {
        self.backoff.reset();
        self.last_logged = None;
        self.unlogged = 0;
    }
}

/// The TCP connect never reached a broker process: refused (nothing
/// listens on the port: restarting, stopped) or no route to the host
/// (rebooting, network down). An attempt costs the broker nothing.
fn nothing_listens(error: &ConnectionError) -> bool {
    matches!(error, ConnectionError::Io(e) if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable
    ))
}

/// Capped exponential backoff: 0.5 s, 1 s, 2 s … up to `max`.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(500);

    fn new(max: Duration) -> Backoff {
        Backoff {
            next: Backoff::FIRST,
            max,
        }
    }

    fn next_delay(&mut self) -> Duration {
        let d = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        d
    }

    fn reset(&mut self) {
        self.next = Backoff::FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::ConnectReturnCode;

    fn io(kind: ErrorKind) -> ConnectionError {
        ConnectionError::Io(std::io::Error::new(kind, "test"))
    }

    fn millis(d: Duration) -> u64 {
        d.as_millis() as u64
    }

    #[test]
    fn refusals_back_off_exponentially_up_to_the_cap_and_reset() {
        let mut p = RetryPolicy::new(Duration::from_secs(3));
        let refused = ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized);
        let delays: Vec<u64> = (0..5).map(|_| millis(p.delay_after(&refused))).collect();
        assert_eq!(delays, vec![500, 1000, 2000, 3000, 3000]);
        p.reset();
        assert_eq!(millis(p.delay_after(&refused)), 500);
    }

    #[test]
    fn a_closed_port_is_retried_quickly_however_long_it_lasts() {
        let mut p = RetryPolicy::new(Duration::from_secs(30));
        // The broker dropped the connection, then nothing listens for a minute.
        assert_eq!(millis(p.delay_after(&io(ErrorKind::ConnectionReset))), 500);
        for _ in 0..300 {
            assert_eq!(
                p.delay_after(&io(ErrorKind::ConnectionRefused)),
                RetryPolicy::NOTHING_LISTENS
            );
        }
        assert_eq!(
            p.delay_after(&io(ErrorKind::HostUnreachable)),
            RetryPolicy::NOTHING_LISTENS
        );
        // Broken connections and timeouts still back off where they were.
        assert_eq!(
            millis(p.delay_after(&ConnectionError::NetworkTimeout)),
            1000
        );
        assert_eq!(millis(p.delay_after(&io(ErrorKind::ConnectionReset))), 2000);
    }

    #[test]
    fn a_closed_port_is_logged_once_per_interval_with_what_was_not() {
        let mut p = RetryPolicy::new(Duration::from_secs(30));
        let refused = io(ErrorKind::ConnectionRefused);
        let t0 = Instant::now();
        assert_eq!(p.should_log(&refused, t0), Some(0));
        for i in 1..=149 {
            let t = t0 + RetryPolicy::NOTHING_LISTENS * i;
            assert_eq!(p.should_log(&refused, t), None);
        }
        let later = t0 + RetryPolicy::NOTHING_LISTENS_LOG_EVERY;
        assert_eq!(p.should_log(&refused, later), Some(149));
        // Any other error is always logged.
        assert_eq!(
            p.should_log(&ConnectionError::NetworkTimeout, later),
            Some(0)
        );
        assert_eq!(
            p.should_log(&ConnectionError::NetworkTimeout, later),
            Some(0)
        );
    }
}
