//! The InfluxDB sink: canonical samples in, line protocol batches out over
//! HTTP to InfluxDB 1.x (`/write`) or a v2-compatible server
//! (`/api/v2/write`: InfluxDB 2.x/3.x, VictoriaMetrics).
//!
//! - [`line_protocol`]: one sample → one line, escaping rules.
//! - [`batch`]: the batch buffer and the 413 split plan.
//! - [`writer`]: one HTTP request (gzip, auth, timeout, metrics).
//! - [`error`]: response classification (retry, throttle, split, reject).
//! - [`retry`]: backoff schedule.
//! - `deliver`: the loop — batching by size and age, retries with
//!   backpressure, shutdown drain.
//!
//! Device timestamps make a replayed point overwrite itself in InfluxDB
//! (same series and time), so retrying a batch that was in fact stored is
//! harmless: the sink prefers duplicates to loss.

pub mod batch;
pub mod config;
mod deliver;
pub mod error;
pub mod line_protocol;
pub mod retry;
pub mod writer;

use std::time::Duration;

use tokio::sync::mpsc::Receiver;
use tracing::info;

pub use batch::encode_batch;
pub use config::{InfluxApi, InfluxConfig, TOKEN_ENV};
pub use deliver::SHUTDOWN_BUDGET;
pub use error::WriteError;
pub use line_protocol::{encode_sample, stored_value};
pub use writer::InfluxWriter;

use crate::metrics::PipelineMetrics;
use crate::sample::Record;
use deliver::{Deliverer, Limits};

/// Writes samples to InfluxDB. Build with [`InfluxSink::new`], then spawn
/// [`InfluxSink::run`] with the receiving end of the pipeline's bounded channel.
#[derive(Debug)]
pub struct InfluxSink {
    writer: InfluxWriter,
    limits: Limits,
    metrics: PipelineMetrics,
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
            },
            metrics,
        })
    }

    /// Runs until `rx` is closed (all senders dropped) and everything
    /// received has been written, or, if InfluxDB keeps failing during
    /// shutdown, for at most about [`SHUTDOWN_BUDGET`] longer (the loss is
    /// logged). Never returns early otherwise: write failures are retried,
    /// and while they are, `rx` is not read (backpressure).
    pub async fn run(self, rx: Receiver<Vec<Record>>) {
        info!(
            url = %self.writer.url(),
            max_points = self.limits.max_points,
            max_age = ?self.limits.max_age,
            "InfluxDB sink started"
        );
        Deliverer::new(self.writer, self.limits, self.metrics)
            .run(rx)
            .await;
    }
}

#[cfg(test)]
pub(crate) mod testutil;
