//! The InfluxDB sink: canonical samples in, line protocol batches out over
//! HTTP to InfluxDB 1.x (`/write`) or a v2-compatible server
//! (`/api/v2/write`: InfluxDB 2.x/3.x, VictoriaMetrics).
//!
//! - line protocol encoding lives in [`crate::line_protocol`] (the pipeline
//!   encodes before the spool too).
//! - [`batch`]: the batch buffer and the 413 split plan.
//! - [`writer`]: one HTTP request (gzip, auth, timeout, metrics).
//! - [`error`]: response classification (retry, throttle, split, reject).
//! - [`retry`]: backoff schedule.
//! - `deliver`: the loop — batching by size and age, several writes in
//!   flight with in-order spool acknowledgement, retries with backpressure,
//!   shutdown drain.
//!
//! Device timestamps make a replayed point overwrite itself in InfluxDB
//! (same series and time), so retrying a batch that was in fact stored is
//! harmless: the sink prefers duplicates to loss.

pub mod batch;
pub mod config;
mod deliver;
pub mod error;
pub mod retry;
pub mod writer;

use std::time::Duration;

use tokio::sync::mpsc::Receiver;
use tracing::info;

pub use batch::encode_batch;
pub use config::{Gzip, InfluxApi, InfluxConfig, TOKEN_ENV};
pub use deliver::SHUTDOWN_BUDGET;
pub use error::WriteError;
pub use writer::InfluxWriter;

use crate::metrics::PipelineMetrics;
use crate::sample::InfluxRecord;
use crate::spool::{Spool, SpoolError};
use deliver::{DeliveredHook, Deliverer, Limits};

/// Highest `max_in_flight`: more concurrent writes only queue inside InfluxDB.
pub const MAX_IN_FLIGHT: usize = 64;

/// Writes samples to InfluxDB. Build with [`InfluxSink::new`], then spawn
/// [`InfluxSink::run`] with the receiving end of the pipeline's bounded channel.
pub struct InfluxSink {
    writer: InfluxWriter,
    limits: Limits,
    metrics: PipelineMetrics,
    on_delivered: Option<DeliveredHook>,
}

impl std::fmt::Debug for InfluxSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfluxSink")
            .field("url", &self.writer.url().as_str())
            .field("acks_spool", &self.on_delivered.is_some())
            .finish()
    }
}

impl InfluxSink {
    /// Checks the settings and builds the HTTP client; connects lazily (an
    /// unreachable server at startup is a retryable condition, not an error).
    ///
    /// `token`: the v2 token or the v1 password, as read by
    /// [`crate::config::read_secret`] from [`TOKEN_ENV`] or `token_file`.
    pub fn new(
        config: InfluxConfig,
        token: Option<String>,
        metrics: PipelineMetrics,
    ) -> Result<InfluxSink, WriteError> {
        if config.batch_max_points == 0 {
            return Err(WriteError::Setup(
                "batch_max_points must be at least 1".into(),
            ));
        }
        if config.batch_max_age_ms == 0 {
            return Err(WriteError::Setup(
                "batch_max_age_ms must be at least 1".into(),
            ));
        }
        if !(1..=MAX_IN_FLIGHT).contains(&config.max_in_flight) {
            return Err(WriteError::Setup(format!(
                "max_in_flight = {} must be between 1 and {MAX_IN_FLIGHT}",
                config.max_in_flight
            )));
        }
        let max_backoff = Duration::try_from_secs_f64(config.max_retry_backoff_s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                WriteError::Setup(format!(
                    "max_retry_backoff_s = {} is not a positive duration",
                    config.max_retry_backoff_s
                ))
            })?;
        let writer = InfluxWriter::new(&config, token, metrics.clone())?;
        Ok(InfluxSink {
            writer,
            limits: Limits {
                max_points: config.batch_max_points,
                max_age: Duration::from_millis(config.batch_max_age_ms),
                max_backoff,
                max_in_flight: config.max_in_flight,
            },
            metrics,
            on_delivered: None,
        })
    }

    /// Runs until `rx` is closed (all senders dropped) and everything
    /// received has been written, or, if InfluxDB keeps failing during
    /// shutdown, for at most about [`SHUTDOWN_BUDGET`] longer (the loss is
    /// logged). Never returns early otherwise: write failures are retried,
    /// and while they are, `rx` is not read (backpressure).
    pub async fn run(self, rx: Receiver<Vec<InfluxRecord>>) {
        info!(
            url = %self.writer.url(),
            max_points = self.limits.max_points,
            max_age = ?self.limits.max_age,
            max_in_flight = self.limits.max_in_flight,
            "InfluxDB sink started"
        );
        Deliverer::new(self.writer, self.limits, self.metrics)
            .on_delivered(self.on_delivered)
            .run(rx)
            .await;
    }

    /// Acknowledges delivered spool records as sink `sink` of `spool`.
    pub fn acking(mut self, spool: Spool, sink: &'static str) -> InfluxSink {
        self.on_delivered = Some(std::sync::Arc::new(move |upto| {
            if let Err(e) = spool.ack(sink, upto) {
                tracing::error!(error = %e, upto, "cannot record spool progress; records will be replayed");
            }
        }));
        self
    }
}

/// Feeds the sink from the spool: reads durable records from `sink`'s cursor
/// on and sends them as [`InfluxRecord::Lines`] until `shutdown`. What was sent but
/// not yet delivered at shutdown stays unacknowledged and is replayed on the
/// next start (idempotent: points carry device timestamps).
pub async fn feed_from_spool(
    spool: Spool,
    sink: &'static str,
    tx: tokio::sync::mpsc::Sender<Vec<InfluxRecord>>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), SpoolError> {
    let mut reader = spool.reader(sink)?;
    loop {
        // Caught up: wait for the next commit before reading, rather than
        // a blocking-pool round trip to learn that nothing is there (one
        // per group commit, issue #21).
        if reader.position() > spool.durable_id() {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = reader.wait_for_more() => {}
            }
        }
        let (back, batch) = tokio::task::spawn_blocking(move || {
            let batch = reader.next_batch(FEED_RECORDS, FEED_BYTES);
            (reader, batch)
        })
        .await
        .map_err(|e| SpoolError::Failed(format!("spool reader panicked: {e}")))?;
        reader = back;
        let batch = batch?;
        if batch.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = reader.wait_for_more() => continue,
            }
        }
        let records = batch
            .into_iter()
            .map(|r| InfluxRecord::Lines {
                spool_id: r.id,
                lines: r.payload,
            })
            .collect();
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            sent = tx.send(records) => if sent.is_err() { return Ok(()) },
        }
    }
}

/// Spool records per channel message, and their bytes at most.
const FEED_RECORDS: usize = 1_000;
const FEED_BYTES: usize = 4 << 20;

#[cfg(test)]
pub(crate) mod testutil;
