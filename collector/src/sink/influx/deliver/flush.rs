//! Delivering one batch: write it (in pieces after a 413), retry what may
//! succeed later with backoff, drop what the server refuses for good. Runs
//! as its own task, several at once; what they share (the transport, the
//! metrics and the shutdown deadline) is [`Shared`].

use std::sync::OnceLock;

use tokio::time::{sleep_until, Instant};
use tracing::{debug, error, info, warn};

use super::{Limits, Transport, CLOSE_POLL, MIN_SHUTDOWN_REQUEST_TIMEOUT, SHUTDOWN_BUDGET};
use crate::metrics::PipelineMetrics;
use crate::sink::influx::batch::{Batch, SplitPlan};
use crate::sink::influx::error::WriteError;
use crate::sink::influx::retry::Backoff;

/// What every writing task sees.
pub(super) struct Shared<T> {
    pub transport: T,
    pub limits: Limits,
    pub metrics: PipelineMetrics,
    /// Set once the input is seen closed: failing writes stop at this time.
    shutdown_deadline: OnceLock<Instant>,
}

/// A batch that could not be written before the shutdown deadline.
#[derive(Debug)]
pub(super) struct GaveUp {
    pub unwritten: usize,
}

impl<T: Transport> Shared<T> {
    pub fn new(transport: T, limits: Limits, metrics: PipelineMetrics) -> Shared<T> {
        Shared {
            transport,
            limits,
            metrics,
            shutdown_deadline: OnceLock::new(),
        }
    }

    /// Starts the shutdown budget (once; later calls keep the first deadline).
    pub fn begin_shutdown(&self) {
        self.shutdown_deadline.get_or_init(|| {
            debug!(budget = ?SHUTDOWN_BUDGET, "InfluxDB sink input closed; draining");
            Instant::now() + SHUTDOWN_BUDGET
        });
    }

    fn deadline(&self) -> Option<Instant> {
        self.shutdown_deadline.get().copied()
    }

    /// Writes the whole batch (in pieces after a 413). Only returns `Err`
    /// during shutdown, when the retry budget is spent.
    pub async fn deliver(&self, batch: &Batch) -> Result<(), GaveUp> {
        let mut backoff = Backoff::new(self.limits.max_backoff);
        let mut plan = SplitPlan::new(batch.len());
        while let Some(range) = plan.next() {
            let points = range.len();
            let timeout = self.deadline().map(|d| {
                d.saturating_duration_since(Instant::now())
                    .max(MIN_SHUTDOWN_REQUEST_TIMEOUT)
            });
            let result = self
                .transport
                .write(batch.lines(range), points, timeout)
                .await;
            match result {
                Ok(()) => {
                    self.metrics.influx_points_written.inc_by(points as u64);
                    if backoff.attempts() > 0 {
                        info!(
                            failed_attempts = backoff.attempts(),
                            "InfluxDB writes succeed again"
                        );
                    }
                    backoff.reset();
                    plan.done();
                }
                Err(WriteError::TooLarge) => {
                    if plan.split() {
                        debug!(
                            points,
                            "InfluxDB answered 413; splitting the request in halves"
                        );
                    } else {
                        self.metrics.influx_points_rejected.inc();
                        error!("InfluxDB refused a single line as too large (413); dropping it");
                        plan.done();
                    }
                }
                Err(e) if e.is_retryable() => {
                    self.wait_before_retry(&e, &mut backoff, plan.remaining())
                        .await?;
                }
                Err(e) => {
                    // Rejected: the server answered and will never take these
                    // points. Retrying would block everything behind them.
                    let dropped = match &e {
                        WriteError::Rejected {
                            dropped: Some(n), ..
                        } => (*n).min(points),
                        _ => points,
                    };
                    self.metrics.influx_points_rejected.inc_by(dropped as u64);
                    self.metrics
                        .influx_points_written
                        .inc_by((points - dropped) as u64);
                    error!(
                        points,
                        dropped,
                        error = %e,
                        "InfluxDB rejected points; dropping them (not retried)"
                    );
                    backoff.reset();
                    plan.done();
                }
            }
        }
        Ok(())
    }

    /// Sleeps the backoff delay for a retryable error, watching for shutdown
    /// (begun by the loop, which watches the input). `Err` when the shutdown
    /// budget is spent.
    async fn wait_before_retry(
        &self,
        e: &WriteError,
        backoff: &mut Backoff,
        pending: usize,
    ) -> Result<(), GaveUp> {
        if self.deadline().is_some_and(|d| Instant::now() >= d) {
            return Err(GaveUp { unwritten: pending });
        }
        let retry_after = match e {
            WriteError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        };
        let delay = backoff.next_delay(retry_after, rand::random::<f64>());
        let attempt = backoff.attempts();
        if matches!(e, WriteError::Misconfigured { .. }) {
            // Loud on every attempt: nothing will be stored until someone
            // fixes the token, database or URL.
            error!(attempt, class = e.class(), error = %e, retry_in = ?delay, pending,
                "InfluxDB refuses writes; points are kept and retried until the configuration is fixed");
        } else {
            warn!(attempt, class = e.class(), error = %e, retry_in = ?delay, pending,
                "InfluxDB write failed; retrying");
        }
        let mut until = Instant::now() + delay;
        loop {
            if let Some(deadline) = self.deadline() {
                // One last attempt at the deadline rather than none; if that
                // fails too, the check on entry gives up.
                until = until.min(deadline);
            }
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            sleep_until(until.min(now + CLOSE_POLL)).await;
        }
    }
}
