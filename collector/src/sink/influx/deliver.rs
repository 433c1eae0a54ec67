//! The sink's loop: take sample vectors from the pipeline channel, encode them
//! into a [`Batch`], flush it when it is full or its oldest point is
//! `batch_max_age_ms` old, and deliver it — retrying, splitting on 413,
//! dropping what the server rejects — then drain on shutdown.
//!
//! Backpressure: while a batch is being retried, the loop does not read the
//! channel. The channel is bounded (the pipeline sizes it), so upstream slows
//! down instead of this task buffering without limit while InfluxDB is down.
//!
//! Shutdown: the pipeline drops its senders. Everything still queued is
//! written; failing writes are given up [`SHUTDOWN_BUDGET`] after the closed
//! channel was noticed (also noticed *during* a retry wait, so a long outage
//! cannot hold shutdown hostage), and the number of points not written is
//! logged.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc::Receiver;
use tokio::time::{sleep_until, Instant};
use tracing::{debug, error, info, warn};

use super::batch::{Batch, SplitPlan};
use super::error::WriteError;
use super::retry::Backoff;
use super::writer::InfluxWriter;
use crate::metrics::PipelineMetrics;
use crate::sample::Record;

/// How long failing writes are retried once shutdown has begun.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(10);
/// Shortest request timeout during the shutdown drain, so the last attempt
/// still has a chance against a slow but working server.
const MIN_SHUTDOWN_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a retry wait checks whether shutdown began.
const CLOSE_POLL: Duration = Duration::from_millis(250);

/// Sends one request. A seam for the loop's tests (which run on paused time,
/// where real sockets would see spurious timeouts); [`InfluxWriter`] is the
/// only production implementation.
pub(crate) trait Transport {
    /// `timeout`: a tighter per-request timeout than the configured one.
    fn write(
        &self,
        body: &[u8],
        points: usize,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;
}

impl Transport for InfluxWriter {
    async fn write(
        &self,
        body: &[u8],
        points: usize,
        timeout: Option<Duration>,
    ) -> Result<(), WriteError> {
        match timeout {
            Some(t) => self.write_within(body, points, t).await,
            None => InfluxWriter::write(self, body, points).await,
        }
    }
}

/// Batching limits, from `InfluxConfig`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_points: usize,
    pub max_age: Duration,
    pub max_backoff: Duration,
}

/// A flush that could not finish during shutdown.
struct GaveUp {
    unwritten: usize,
}

pub(crate) struct Deliverer<T> {
    transport: T,
    limits: Limits,
    metrics: PipelineMetrics,
    backoff: Backoff,
    /// Set once the channel is seen closed: failing writes stop at this time.
    shutdown_deadline: Option<Instant>,
    /// Told the highest spool record id of every batch that was delivered
    /// (written, or refused by the server as bad data). Never told about a
    /// batch given up at shutdown: those records stay in the spool.
    on_delivered: Option<DeliveredHook>,
}

/// See [`Deliverer::on_delivered`].
pub(crate) type DeliveredHook = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

impl<T: Transport> Deliverer<T> {
    pub fn new(transport: T, limits: Limits, metrics: PipelineMetrics) -> Deliverer<T> {
        Deliverer {
            transport,
            limits,
            metrics,
            backoff: Backoff::new(limits.max_backoff),
            shutdown_deadline: None,
            on_delivered: None,
        }
    }

    /// Calls `hook` with the spool high-water mark of each delivered batch.
    pub fn on_delivered(mut self, hook: Option<DeliveredHook>) -> Deliverer<T> {
        self.on_delivered = hook;
        self
    }

    pub async fn run(mut self, mut rx: Receiver<Vec<Record>>) {
        let mut batch = Batch::new();
        loop {
            let deadline = batch.deadline(self.limits.max_age);
            let samples = tokio::select! {
                msg = rx.recv() => match msg {
                    Some(samples) => samples,
                    None => break,
                },
                () = sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                    if let Err(g) = self.flush(&mut batch, &rx).await {
                        return self.abandon(g.unwritten, &mut rx);
                    }
                    continue;
                }
            };
            self.metrics.influx_queue_batches.set(gauge(rx.len()));
            for (i, sample) in samples.iter().enumerate() {
                if batch.push(sample, Instant::now()) && batch.len() >= self.limits.max_points {
                    if let Err(g) = self.flush(&mut batch, &rx).await {
                        let rest = samples.len() - i - 1;
                        return self.abandon(g.unwritten + rest, &mut rx);
                    }
                }
            }
            // With a busy channel `recv` always wins the select; the age
            // limit must hold anyway.
            let due = batch.deadline(self.limits.max_age);
            if due.is_some_and(|d| d <= Instant::now()) {
                if let Err(g) = self.flush(&mut batch, &rx).await {
                    return self.abandon(g.unwritten, &mut rx);
                }
            }
        }
        // Senders gone and the channel empty: write what is left.
        self.begin_shutdown();
        if let Err(g) = self.flush(&mut batch, &rx).await {
            return self.abandon(g.unwritten, &mut rx);
        }
        self.metrics.influx_queue_batches.set(0);
        info!("InfluxDB sink drained and stopped");
    }

    /// Writes the whole batch (in pieces after a 413) and empties it. Only
    /// returns `Err` during shutdown, when the retry budget is spent.
    async fn flush(&mut self, batch: &mut Batch, rx: &Receiver<Vec<Record>>) -> Result<(), GaveUp> {
        let spool_upto = batch.spool_upto();
        let mut plan = SplitPlan::new(batch.len());
        let result = loop {
            let Some(range) = plan.next() else {
                break Ok(());
            };
            let points = range.len();
            let timeout = self.shutdown_deadline.map(|d| {
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
                    if self.backoff.attempts() > 0 {
                        info!(
                            failed_attempts = self.backoff.attempts(),
                            "InfluxDB writes succeed again"
                        );
                    }
                    self.backoff.reset();
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
                    if let Err(g) = self.wait_before_retry(&e, plan.remaining(), rx).await {
                        break Err(g);
                    }
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
                    self.backoff.reset();
                    plan.done();
                }
            }
        };
        batch.clear();
        if let (Ok(()), Some(upto), Some(hook)) = (&result, spool_upto, &self.on_delivered) {
            hook(upto);
        }
        result
    }

    /// Sleeps the backoff delay for a retryable error, watching for shutdown.
    /// `Err` when the shutdown budget is spent.
    async fn wait_before_retry(
        &mut self,
        e: &WriteError,
        pending: usize,
        rx: &Receiver<Vec<Record>>,
    ) -> Result<(), GaveUp> {
        if rx.is_closed() {
            self.begin_shutdown();
        }
        if self.shutdown_deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(GaveUp { unwritten: pending });
        }
        let retry_after = match e {
            WriteError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        };
        let delay = self.backoff.next_delay(retry_after, rand::random::<f64>());
        let attempt = self.backoff.attempts();
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
            self.metrics.influx_queue_batches.set(gauge(rx.len()));
            if rx.is_closed() {
                self.begin_shutdown();
            }
            if let Some(deadline) = self.shutdown_deadline {
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

    fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_none() {
            debug!(budget = ?SHUTDOWN_BUDGET, "InfluxDB sink input closed; draining");
            self.shutdown_deadline = Some(Instant::now() + SHUTDOWN_BUDGET);
        }
    }

    /// Gives up during shutdown: counts what will not be written, logs it.
    fn abandon(self, unwritten: usize, rx: &mut Receiver<Vec<Record>>) {
        let mut unwritten = unwritten;
        while let Ok(samples) = rx.try_recv() {
            unwritten += samples.len();
        }
        self.metrics.influx_queue_batches.set(0);
        error!(
            points = unwritten,
            budget = ?SHUTDOWN_BUDGET,
            "InfluxDB sink stopped with points NOT written: writes kept failing during shutdown"
        );
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

#[cfg(test)]
mod tests;
