//! Where history goes: the spool feeding the InfluxDB writer (durable), a
//! direct queue to the writer (no `[spool]`), or nowhere (no `[influx]`;
//! with a spool, history waits there for an InfluxDB to be configured).
//!
//! Stop order matters: the pipeline and the outage tracker finish first
//! (their last records committed), then the feeder stops reading the spool,
//! the writer delivers what it was given, and the spool is closed (cursors
//! persisted). Whatever was not delivered stays in the spool and is
//! replayed on the next start.

use std::time::Duration;

use anyhow::Context;
use collector::config::{read_secret, Config};
use collector::line_protocol::encode_record;
use collector::metrics::PipelineMetrics;
use collector::pipeline::History;
use collector::sample::InfluxRecord;
use collector::sink::influx::{feed_from_spool, InfluxSink, SHUTDOWN_BUDGET, TOKEN_ENV};
use collector::spool::{FullCause, Spool};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// The spool's one sink.
pub const INFLUX_SINK: &str = "influx";
/// Slack on top of the writer's own shutdown budget and request timeout.
const DRAIN_SLACK: Duration = Duration::from_secs(2);
/// How often spool metrics are refreshed.
const SPOOL_METRICS_EVERY: Duration = Duration::from_secs(1);

/// What stores history, running: the spool, the InfluxDB writer and the tasks
/// between them. It hands the pipeline its sending end, a [`History`], and
/// the outage tracker its queue.
pub struct HistoryService {
    /// What the pipeline stores into.
    pub history: Option<History>,
    /// Where the outage tracker sends its records.
    pub outages: Option<mpsc::Sender<Vec<InfluxRecord>>>,
    /// One line for operators: where history goes.
    pub describe: String,
    spool: Option<Spool>,
    writer: Option<JoinHandle<()>>,
    feeder: Option<JoinHandle<()>>,
    forwarder: Option<JoinHandle<()>>,
    spool_metrics: Option<JoinHandle<()>>,
    feed_stop: CancellationToken,
    drain_timeout: Duration,
}

impl HistoryService {
    pub async fn start(
        config: &Config,
        metrics: &PipelineMetrics,
    ) -> anyhow::Result<HistoryService> {
        let spool = match &config.spool {
            Some(sc) => {
                let sc2 = sc.clone();
                let (spool, recovery) =
                    tokio::task::spawn_blocking(move || Spool::open(&sc2, &[INFLUX_SINK]))
                        .await?
                        .with_context(|| format!("spool {}", sc.dir.display()))?;
                metrics
                    .spool_recovered_torn_bytes
                    .set(recovery.torn_bytes() as i64);
                metrics
                    .spool_recovered_lost_records
                    .set(recovery.lost_records() as i64);
                if recovery.is_clean() {
                    info!(dir = %sc.dir.display(), "spool opened");
                } else {
                    warn!(dir = %sc.dir.display(), "spool recovered after a crash or damage: {recovery}");
                }
                Some(spool)
            }
            None => None,
        };
        let feed_stop = CancellationToken::new();
        let (writer_tx, writer, drain_timeout) = match &config.influx {
            Some(influx) => {
                let token = read_secret(TOKEN_ENV, influx.token_file.as_deref())?;
                let mut sink = InfluxSink::new(influx.clone(), token, metrics.clone())
                    .context("influx: cannot set up the InfluxDB writer")?;
                if let Some(spool) = &spool {
                    sink = sink.acking(spool.clone(), INFLUX_SINK);
                }
                let (tx, rx) = mpsc::channel(influx.queue_batches);
                // The writer gives up on its own after SHUTDOWN_BUDGET of
                // failing retries; a request in flight may add one timeout.
                let drain =
                    SHUTDOWN_BUDGET + Duration::from_secs_f64(influx.timeout_s) + DRAIN_SLACK;
                (Some(tx), Some(tokio::spawn(sink.run(rx))), drain)
            }
            None => (None, None, Duration::ZERO),
        };
        let influx_url = config.influx.as_ref().map(|i| i.url.as_str());
        let mut service = HistoryService {
            history: None,
            outages: None,
            describe: String::new(),
            spool: spool.clone(),
            writer,
            feeder: None,
            forwarder: None,
            spool_metrics: None,
            feed_stop: feed_stop.clone(),
            drain_timeout,
        };
        match (spool, writer_tx) {
            (Some(spool), tx) => {
                let dir = config
                    .spool
                    .as_ref()
                    .map(|s| s.dir.display().to_string())
                    .unwrap_or_default();
                if let Some(tx) = tx {
                    let feed = feed_from_spool(spool.clone(), INFLUX_SINK, tx, feed_stop);
                    service.feeder = Some(tokio::spawn(async move {
                        if let Err(e) = feed.await {
                            tracing::error!(error = %e, "spool reader failed; history is kept in the spool");
                        }
                    }));
                }
                // Alerted on: present from startup, before the first tick.
                metrics
                    .spool_dropped_records
                    .with_label_values(&[INFLUX_SINK])
                    .inc_by(0);
                if let Some(sc) = &config.spool {
                    metrics.spool_max_bytes.set(sc.max_bytes as i64);
                }
                let (otx, orx) = mpsc::channel(16);
                service.forwarder = Some(tokio::spawn(spool_outages(spool.clone(), orx)));
                service.outages = Some(otx);
                service.spool_metrics =
                    Some(tokio::spawn(spool_metrics(spool.clone(), metrics.clone())));
                service.history = Some(History::Spool(spool));
                service.describe = match influx_url {
                    Some(url) => format!("spooled durably in {dir}, written to InfluxDB at {url}"),
                    None => format!("spooled in {dir}; no [influx] configured, so it waits there"),
                };
            }
            (None, Some(tx)) => {
                service.outages = Some(tx.clone());
                service.history = Some(History::Queue(tx));
                service.describe = format!(
                    "written to InfluxDB at {} from a memory queue (no [spool]: a crash or a long outage loses it)",
                    influx_url.unwrap_or_default()
                );
            }
            (None, None) => {
                service.history = Some(History::None);
                service.describe =
                    "NOT stored: no [influx] and no [spool], only live metrics are served".into();
            }
        }
        Ok(service)
    }

    /// Whether history is kept anywhere.
    pub fn stores_history(&self) -> bool {
        self.spool.is_some() || self.writer.is_some()
    }

    /// Stops after the pipeline and the outage tracker have finished.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.outages.take());
        if let Some(f) = self.forwarder.take() {
            f.await.context("outage forwarder panicked")?;
        }
        self.feed_stop.cancel();
        if let Some(f) = self.feeder.take() {
            f.await.context("spool feeder panicked")?;
        }
        if let Some(writer) = self.writer.take() {
            match tokio::time::timeout(self.drain_timeout, writer).await {
                Ok(joined) => joined.context("InfluxDB writer task panicked")?,
                Err(_) => warn!(
                    "InfluxDB writer did not finish within {}s{}",
                    self.drain_timeout.as_secs(),
                    if self.spool.is_some() {
                        "; the spool keeps what it did not write"
                    } else {
                        "; unwritten points are lost"
                    }
                ),
            }
        }
        if let Some(m) = self.spool_metrics.take() {
            m.abort();
        }
        if let Some(spool) = self.spool.take() {
            tokio::task::spawn_blocking(move || spool.close())
                .await?
                .context("closing the spool")?;
        }
        Ok(())
    }
}

/// Outage records into the spool (they are history too).
async fn spool_outages(spool: Spool, mut rx: mpsc::Receiver<Vec<InfluxRecord>>) {
    while let Some(records) = rx.recv().await {
        let mut lines = Vec::new();
        for r in &records {
            encode_record(r, &mut lines);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let stored = async {
            spool.append(now, &lines).await?;
            spool.commit().await
        };
        if let Err(e) = stored.await {
            tracing::error!(error = %e, "cannot spool outage records");
        }
    }
}

/// Keeps the spool gauges current (and lets a full episode end: the spool
/// checks that when its status is taken).
async fn spool_metrics(spool: Spool, metrics: PipelineMetrics) {
    let mut dropped_seen = 0u64;
    let mut blocked_ms_seen = 0u64;
    let mut damaged_seen = 0u64;
    let mut tick = tokio::time::interval(SPOOL_METRICS_EVERY);
    loop {
        tick.tick().await;
        let s = spool.clone();
        let Ok(Ok(status)) = tokio::task::spawn_blocking(move || s.status()).await else {
            continue;
        };
        metrics.spool_bytes.set(status.bytes as i64);
        metrics.spool_segments.set(status.segments as i64);
        metrics.spool_max_bytes.set(status.max_bytes as i64);
        for cause in FullCause::ALL {
            let on = status.full == Some(cause);
            metrics
                .spool_full
                .with_label_values(&[cause.as_str()])
                .set(i64::from(on));
        }
        metrics.spool_blocked.set(i64::from(status.blocked));
        if status.corrupt_skipped > damaged_seen {
            metrics
                .spool_damaged_records
                .inc_by(status.corrupt_skipped - damaged_seen);
            damaged_seen = status.corrupt_skipped;
        }
        if status.blocked_ms > blocked_ms_seen {
            let delta = status.blocked_ms - blocked_ms_seen;
            metrics.spool_blocked_seconds.inc_by(delta as f64 / 1000.0);
            blocked_ms_seen = status.blocked_ms;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        for sink in &status.sinks {
            metrics
                .spool_backlog_records
                .with_label_values(&[&sink.name])
                .set(sink.backlog_records as i64);
            let age = sink
                .oldest_unsent_ns
                .map_or(0.0, |t| ((now - t) as f64 / 1e9).max(0.0));
            metrics
                .spool_oldest_unsent_age_seconds
                .with_label_values(&[&sink.name])
                .set(age);
            let dropped = sink.dropped_records.unwrap_or(0);
            if dropped > dropped_seen {
                metrics
                    .spool_dropped_records
                    .with_label_values(&[&sink.name])
                    .inc_by(dropped - dropped_seen);
                dropped_seen = dropped;
            }
        }
    }
}
