//! The sink's loop: take sample vectors from the pipeline channel, encode them
//! into a [`Batch`], flush it when it is full or its oldest point is
//! `batch_max_age_ms` old, and hand it to a writing task (see `flush`:
//! retrying, splitting on 413, dropping what the server rejects) — up to
//! `max_in_flight` batches at once — then drain on shutdown.
//!
//! Several writes in flight hide InfluxDB's response time: with one, a server
//! answering in 5 s allowed one batch per 5 s. Batches may finish out of
//! order, but the spool is acknowledged in order (see `ack`): a batch's
//! high-water mark only once every earlier batch is delivered.
//!
//! Backpressure: while `max_in_flight` batches are being written (or
//! retried), the loop does not read the channel. The channel is bounded (the
//! pipeline sizes it), so upstream slows down instead of this task buffering
//! without limit while InfluxDB is down or slow.
//!
//! Shutdown: the pipeline drops its senders. Everything still queued is
//! written; failing writes are given up [`SHUTDOWN_BUDGET`] after the closed
//! channel was noticed (also noticed while every writer is busy retrying, so
//! a long outage cannot hold shutdown hostage), and the number of points not
//! written is logged.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::Receiver;
use tokio::task::{JoinError, JoinSet};
use tokio::time::{sleep_until, Instant};
use tracing::{error, info};

use super::batch::Batch;
use super::error::WriteError;
use super::writer::InfluxWriter;
use crate::line_protocol::LineEncoder;
use crate::metrics::PipelineMetrics;
use crate::sample::InfluxRecord;
use ack::AckOrder;
use flush::{GaveUp, Shared};

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
    /// Batches being written at once (at least 1).
    pub max_in_flight: usize,
}

/// A writing task's result, with its batch back for reuse.
struct Finished {
    seq: u64,
    spool_upto: Option<u64>,
    result: Result<(), GaveUp>,
    batch: Batch,
}

/// A batch was given up during shutdown: the loop stops taking input.
struct Stopped;

pub(crate) struct Deliverer<T> {
    shared: Arc<Shared<T>>,
    in_flight: JoinSet<Finished>,
    acks: AckOrder,
    /// Encodes the records that arrive unencoded (keeps each device's tags).
    encoder: LineEncoder,
    /// Cleared batches of finished writes, reused to keep allocations.
    spare: Vec<Batch>,
    /// Points of batches given up at shutdown; `Some` stops the loop.
    gave_up: Option<usize>,
    /// Told the highest spool record id delivered so far, in order (see
    /// `ack`): a batch is delivered when written, or refused by the server
    /// as bad data. Never told about a batch given up at shutdown, nor about
    /// any batch after it: those records stay in the spool.
    on_delivered: Option<DeliveredHook>,
}

/// See [`Deliverer::on_delivered`].
pub(crate) type DeliveredHook = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

impl<T: Transport + Send + Sync + 'static> Deliverer<T> {
    pub fn new(transport: T, limits: Limits, metrics: PipelineMetrics) -> Deliverer<T> {
        let limits = Limits {
            max_in_flight: limits.max_in_flight.max(1),
            ..limits
        };
        Deliverer {
            shared: Arc::new(Shared::new(transport, limits, metrics)),
            in_flight: JoinSet::new(),
            acks: AckOrder::new(),
            encoder: LineEncoder::new(),
            spare: Vec::new(),
            gave_up: None,
            on_delivered: None,
        }
    }

    /// Calls `hook` with the spool high-water mark delivered so far.
    pub fn on_delivered(mut self, hook: Option<DeliveredHook>) -> Deliverer<T> {
        self.on_delivered = hook;
        self
    }

    fn metrics(&self) -> &PipelineMetrics {
        &self.shared.metrics
    }

    pub async fn run(mut self, mut rx: Receiver<Vec<InfluxRecord>>) {
        let limits = self.shared.limits;
        let mut batch = Batch::new();
        loop {
            if rx.is_closed() {
                self.shared.begin_shutdown();
            }
            let busy = self.in_flight.len() >= limits.max_in_flight;
            let deadline = batch.deadline(limits.max_age);
            let samples = tokio::select! {
                msg = rx.recv(), if !busy => match msg {
                    Some(samples) => samples,
                    None => break,
                },
                Some(joined) = self.in_flight.join_next(), if !self.in_flight.is_empty() => {
                    self.finished(joined);
                    if self.gave_up.is_some() {
                        return self.abandon(batch.len(), &mut rx).await;
                    }
                    continue;
                }
                () = sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() && !busy => {
                    if self.send(&mut batch, &rx).await.is_err() {
                        return self.abandon(batch.len(), &mut rx).await;
                    }
                    continue;
                }
                () = tokio::time::sleep(CLOSE_POLL), if busy => {
                    self.metrics().influx_queue_batches.set(gauge(rx.len()));
                    continue;
                }
            };
            self.metrics().influx_queue_batches.set(gauge(rx.len()));
            for (i, sample) in samples.iter().enumerate() {
                let full = batch.push(&mut self.encoder, sample, Instant::now())
                    && batch.len() >= limits.max_points;
                if full && self.send(&mut batch, &rx).await.is_err() {
                    let rest = samples.len() - i - 1;
                    return self.abandon(batch.len() + rest, &mut rx).await;
                }
            }
            // With a busy channel `recv` always wins the select; the age
            // limit must hold anyway.
            let due = batch.deadline(limits.max_age);
            if due.is_some_and(|d| d <= Instant::now()) && self.send(&mut batch, &rx).await.is_err()
            {
                return self.abandon(batch.len(), &mut rx).await;
            }
        }
        // Senders gone and the channel empty: write what is left.
        self.shared.begin_shutdown();
        if self.send(&mut batch, &rx).await.is_err() {
            return self.abandon(batch.len(), &mut rx).await;
        }
        while let Some(joined) = self.in_flight.join_next().await {
            self.finished(joined);
        }
        if self.gave_up.is_some() {
            return self.abandon(0, &mut rx).await;
        }
        self.metrics().influx_queue_batches.set(0);
        self.metrics().influx_writes_in_flight.set(0);
        info!("InfluxDB sink drained and stopped");
    }

    /// Hands the batch (if it holds anything) to a writing task, after
    /// waiting for a free slot; `batch` is left empty. `Err` (batch
    /// untouched) once a batch was given up at shutdown.
    async fn send(
        &mut self,
        batch: &mut Batch,
        rx: &Receiver<Vec<InfluxRecord>>,
    ) -> Result<(), Stopped> {
        while self.in_flight.len() >= self.shared.limits.max_in_flight && self.gave_up.is_none() {
            tokio::select! {
                Some(joined) = self.in_flight.join_next() => self.finished(joined),
                () = tokio::time::sleep(CLOSE_POLL) => {
                    // Every writer busy (retrying, or a slow server): watch
                    // for shutdown so its budget starts on time.
                    if rx.is_closed() {
                        self.shared.begin_shutdown();
                    }
                    self.metrics().influx_queue_batches.set(gauge(rx.len()));
                }
            }
        }
        if self.gave_up.is_some() {
            return Err(Stopped);
        }
        if batch.is_empty() && batch.spool_upto().is_none() {
            return Ok(());
        }
        let seq = self.acks.dispatch();
        let full = std::mem::replace(batch, self.spare.pop().unwrap_or_default());
        let shared = Arc::clone(&self.shared);
        self.in_flight.spawn(async move {
            let result = shared.deliver(&full).await;
            Finished {
                seq,
                spool_upto: full.spool_upto(),
                result,
                batch: full,
            }
        });
        self.metrics()
            .influx_writes_in_flight
            .set(gauge(self.in_flight.len()));
        Ok(())
    }

    /// Books a finished write: acknowledges what became contiguous, or
    /// remembers a batch given up.
    fn finished(&mut self, joined: Result<Finished, JoinError>) {
        let mut done = match joined {
            Ok(done) => done,
            // A panicking write is a bug: fail the sink as the single-write
            // loop did, rather than acknowledge around a hole.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                error!(error = %e, "InfluxDB write task cancelled; its records stay in the spool");
                self.gave_up.get_or_insert(0);
                return;
            }
        };
        self.metrics()
            .influx_writes_in_flight
            .set(gauge(self.in_flight.len()));
        match done.result {
            Ok(()) => {
                if let (Some(upto), Some(hook)) = (
                    self.acks.delivered(done.seq, done.spool_upto),
                    &self.on_delivered,
                ) {
                    hook(upto);
                }
            }
            Err(GaveUp { unwritten }) => *self.gave_up.get_or_insert(0) += unwritten,
        }
        if self.spare.len() < self.shared.limits.max_in_flight {
            done.batch.clear();
            self.spare.push(done.batch);
        }
    }

    /// Gives up during shutdown: waits for the other writes (bounded by the
    /// same deadline), counts what will not be written, logs it.
    async fn abandon(mut self, unwritten: usize, rx: &mut Receiver<Vec<InfluxRecord>>) {
        self.shared.begin_shutdown();
        while let Some(joined) = self.in_flight.join_next().await {
            self.finished(joined);
        }
        let mut unwritten = unwritten + self.gave_up.unwrap_or(0);
        while let Ok(samples) = rx.try_recv() {
            unwritten += samples.len();
        }
        self.metrics().influx_queue_batches.set(0);
        self.metrics().influx_writes_in_flight.set(0);
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

mod ack;
mod flush;

#[cfg(test)]
mod tests;
