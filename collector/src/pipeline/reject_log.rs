//! Rate-limited reject logging: the first rejects of each window are logged
//! with topic and detail, the rest are summed up when the window closes, so a
//! misconfigured fleet of 30,000 devices cannot flood the journal while the
//! counters and the dead-letter list still see everything.

use std::time::{Duration, Instant};

use crate::reject::Reject;

const WINDOW: Duration = Duration::from_secs(10);
const PER_WINDOW: u32 = 20;

#[derive(Debug)]
pub(super) struct RejectLog {
    window_start: Instant,
    logged: u32,
    suppressed: u64,
}

impl RejectLog {
    pub(super) fn new() -> RejectLog {
        RejectLog {
            window_start: Instant::now(),
            logged: 0,
            suppressed: 0,
        }
    }

    pub(super) fn log(&mut self, route: &str, topic: &str, reject: &Reject) {
        if self.window_start.elapsed() >= WINDOW {
            if self.suppressed > 0 {
                tracing::warn!(
                    suppressed = self.suppressed,
                    "{} more rejects in the last {}s not logged; see schoolnet_collector_rejected_total and /api/dead-letters",
                    self.suppressed,
                    WINDOW.as_secs()
                );
            }
            self.window_start = Instant::now();
            self.logged = 0;
            self.suppressed = 0;
        }
        if self.logged < PER_WINDOW {
            self.logged += 1;
            tracing::warn!(route, topic, reason = %reject.reason, detail = %reject.detail, "rejected message");
        } else {
            self.suppressed += 1;
        }
    }
}
