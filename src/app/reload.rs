//! Hot reload: SIGHUP or `POST /-/reload` re-reads the config file and
//! swaps the inventory and routes into the running process, without
//! dropping the MQTT session or losing a sample.
//!
//! The new file is validated exactly as at startup; if it is bad, the error
//! is logged (and answered to `/-/reload`) and the running config stays.
//! What a reload changes, in this order:
//! 1. the exporter's inventory (so samples of new devices are kept; known
//!    devices keep their live state, schools their outage history);
//! 2. the pipeline's routes and inventory, applied between two messages
//!    (counter state of remaining devices is kept);
//! 3. the MQTT subscriptions (only the difference is sent, on the same
//!    connection).
//!
//! Other sections (`[mqtt]`, `[influx]`, `[spool]`, `[exporter]`,
//! `[limits]`, `[shard]`) need a restart: a reload that changes them says
//! so in its answer and in the log, and keeps the running values.

use std::path::PathBuf;
use std::sync::Arc;

use collector::config::{Config, Validated};
use collector::pipeline::Reconfigure;
use exporter::{Exporter, ReloadRequest};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// What a reload needs to reach the running parts.
pub struct Reloader {
    pub path: PathBuf,
    /// The config the process started with (the sections a reload cannot change).
    pub running: Config,
    pub exporter: Exporter,
    pub pipeline: mpsc::Sender<Reconfigure>,
    pub source: mpsc::Sender<Vec<String>>,
    pub metrics: ReloadMetrics,
}

/// `schoolnet_config_reloads_total{result}` and the time of the last good one.
#[derive(Clone)]
pub struct ReloadMetrics {
    reloads: IntCounterVec,
    last_success: IntGauge,
}

impl ReloadMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<ReloadMetrics> {
        let reloads = IntCounterVec::new(
            Opts::new(
                "schoolnet_config_reloads_total",
                "Config reloads (SIGHUP, POST /-/reload), by result (ok, failed).",
            ),
            &["result"],
        )?;
        let last_success = IntGauge::new(
            "schoolnet_config_last_reload_success_timestamp_seconds",
            "When the running config was last loaded successfully (start or reload).",
        )?;
        last_success.set(chrono::Utc::now().timestamp());
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(last_success.clone()))?;
        Ok(ReloadMetrics {
            reloads,
            last_success,
        })
    }
}

impl Reloader {
    /// Serves reload requests until `shutdown`.
    pub async fn run(
        self,
        mut requests: mpsc::Receiver<ReloadRequest>,
        shutdown: CancellationToken,
    ) {
        loop {
            let request = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = requests.recv() => match r {
                    Some(r) => r,
                    None => return,
                },
            };
            let outcome = self.reload().await;
            match &outcome {
                Ok(summary) => {
                    self.metrics.reloads.with_label_values(&["ok"]).inc();
                    self.metrics
                        .last_success
                        .set(chrono::Utc::now().timestamp());
                    info!("config reloaded from {}: {summary}", self.path.display());
                }
                Err(e) => {
                    self.metrics.reloads.with_label_values(&["failed"]).inc();
                    error!(
                        "config reload from {} refused, the running config stays: {e}",
                        self.path.display()
                    );
                }
            }
            if let Some(reply) = request.reply {
                let _ = reply.send(outcome);
            }
        }
    }

    async fn reload(&self) -> Result<String, String> {
        let path = self.path.clone();
        let validated =
            tokio::task::spawn_blocking(move || Config::load(&path).and_then(Config::validate))
                .await
                .map_err(|e| format!("reload task failed: {e}"))?
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let Validated {
            config,
            inventory,
            routes,
        } = validated;
        let kept = self.restart_needed(&config);
        let partition = collector::shard::partition(&inventory, self.running.shard);
        let owned = Arc::new(partition.owned);
        let filters = collector::shard::filters(self.running.shard, &routes, owned.devices());
        let summary = format!(
            "{} schools, {} devices, {} routes, {} topic filters",
            owned.schools().len(),
            owned.devices().len(),
            routes.routes().len(),
            filters.len()
        );
        self.exporter.set_inventory(owned.clone());
        let change = Reconfigure {
            routes,
            inventory: owned,
            ownership: partition.ownership,
        };
        self.pipeline
            .send(change)
            .await
            .map_err(|_| "the pipeline has stopped".to_string())?;
        self.source
            .send(filters)
            .await
            .map_err(|_| "the MQTT source has stopped".to_string())?;
        if kept.is_empty() {
            Ok(summary)
        } else {
            let note = format!(
                "changes to [{}] need a restart; the running values stay",
                kept.join("], [")
            );
            warn!("{note}");
            Ok(format!("{summary}; {note}"))
        }
    }

    /// Sections that differ from the running config but only apply at start.
    fn restart_needed(&self, new: &Config) -> Vec<&'static str> {
        let r = &self.running;
        let mut out = Vec::new();
        if new.mqtt != r.mqtt {
            out.push("mqtt");
        }
        if new.influx != r.influx {
            out.push("influx");
        }
        if new.spool != r.spool {
            out.push("spool");
        }
        if new.exporter != r.exporter {
            out.push("exporter");
        }
        if new.limits != r.limits {
            out.push("limits");
        }
        if new.shard != r.shard {
            out.push("shard");
        }
        out
    }
}

/// Reload requests from SIGHUP (unix), forwarded into `tx` until it closes.
pub fn forward_sighup(tx: mpsc::Sender<ReloadRequest>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "cannot listen for SIGHUP: reload needs a restart");
                return;
            }
        };
        while hup.recv().await.is_some() {
            info!("SIGHUP: reloading the config");
            if tx.send(ReloadRequest { reply: None }).await.is_err() {
                return;
            }
        }
    });
}
