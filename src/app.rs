//! Wiring: one process running the MQTT source, the pipeline, the InfluxDB
//! writer and the exporter's HTTP server, with one shutdown token for all.
//!
//! Shutdown order is what makes it lossless within the process: the source
//! stops first (and disconnects cleanly), closing the pipeline's input; the
//! pipeline drains and drops its sender to the writer; the writer flushes
//! and returns; the HTTP server stops last so `/metrics` shows the drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use collector::config::{read_secret, Validated};
use collector::deadletter::DeadLetters;
use collector::inventory::Inventory;
use collector::metrics::PipelineMetrics;
use collector::pipeline::{LiveView, Pipeline};
use collector::sample::{Sample, StatusEvent};
use collector::sink::influx::{config::TOKEN_ENV, InfluxSink, SHUTDOWN_BUDGET};
use collector::source::mqtt::{config::PASSWORD_ENV, MqttSource};
use exporter::Exporter;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often health is re-assessed for outage tracking.
const OUTAGE_TICK: Duration = Duration::from_secs(1);

/// Slack on top of the writer's own shutdown budget and request timeout.
const DRAIN_SLACK: Duration = Duration::from_secs(2);

/// Adapts the exporter to the pipeline's live-view hook.
struct ExporterView(Exporter);

impl LiveView for ExporterView {
    fn record(&self, samples: &[Sample], status: Option<&StatusEvent>) {
        if !samples.is_empty() {
            self.0.record_samples(samples);
        }
        if let Some(ev) = status {
            self.0.record_status(ev);
        }
    }
}

/// What a started pipeline tells its caller.
#[derive(Debug, Clone)]
pub struct Started {
    /// Where the exporter actually listens (useful with port 0).
    pub exporter_addr: SocketAddr,
    pub storing_history: bool,
}

/// Runs the pipeline until `shutdown` is cancelled and everything drained.
/// `started` (if given) receives the bound addresses once listening.
pub async fn run(
    validated: Validated,
    shutdown: CancellationToken,
    started: Option<oneshot::Sender<Started>>,
) -> anyhow::Result<()> {
    let Validated {
        config,
        inventory,
        routes,
    } = validated;
    let inventory: Arc<Inventory> = Arc::new(inventory);
    let registry = prometheus::Registry::new();
    let metrics = PipelineMetrics::new(&registry);
    let dead_letters = Arc::new(DeadLetters::new(config.exporter.dead_letters));
    let exporter = Exporter::new(
        inventory.clone(),
        registry,
        metrics.clone(),
        dead_letters.clone(),
        config.exporter.clone(),
    );
    let listener = TcpListener::bind(config.exporter.listen)
        .await
        .with_context(|| format!("exporter.listen {}: cannot listen", config.exporter.listen))?;
    let exporter_addr = listener.local_addr()?;
    info!(
        schools = inventory.schools().len(),
        devices = inventory.devices().len(),
        "exporter listening on http://{exporter_addr}/metrics"
    );

    let (history_tx, writer) = match &config.influx {
        Some(influx) => {
            let token = read_secret(TOKEN_ENV, influx.token_file.as_deref())?;
            let sink = InfluxSink::new(influx.clone(), token, metrics.clone())
                .context("influx: cannot set up the InfluxDB writer")?;
            let (tx, rx) = mpsc::channel(influx.queue_batches);
            info!(url = %influx.url, api = ?influx.api, "writing history to InfluxDB");
            (Some(tx), Some(tokio::spawn(sink.run(rx))))
        }
        None => {
            warn!("no [influx] section: history is NOT being stored, only live metrics are served");
            (None, None)
        }
    };

    let password = read_secret(PASSWORD_ENV, config.mqtt.password_file.as_deref())?;
    let source = MqttSource::new(&config.mqtt, password, routes.filters(), metrics.clone())?;
    let (msg_tx, msg_rx) = mpsc::channel(config.mqtt.queue_capacity);
    let pipeline = Pipeline::new(
        routes,
        inventory,
        config.limits.clone(),
        metrics,
        dead_letters,
        Arc::new(ExporterView(exporter.clone())),
        history_tx.clone(),
    );

    // Health is re-assessed every second so outages open and close (and are
    // written to InfluxDB) even when nobody scrapes.
    let outages = tokio::spawn(exporter.clone().track_outages(
        OUTAGE_TICK,
        history_tx,
        shutdown.clone().cancelled_owned(),
    ));
    let http_stop = CancellationToken::new();
    let http = tokio::spawn(exporter.serve(listener, http_stop.clone().cancelled_owned()));
    let source = tokio::spawn(source.run(msg_tx, shutdown.clone()));
    let pipeline = tokio::spawn(pipeline.run(msg_rx));
    if let Some(tx) = started {
        let _ = tx.send(Started {
            exporter_addr,
            storing_history: writer.is_some(),
        });
    }

    shutdown.cancelled().await;
    source.await.context("MQTT source task panicked")?;
    pipeline.await.context("pipeline task panicked")?;
    outages.await.context("outage tracker task panicked")?;
    if let Some(writer) = writer {
        // The writer gives up on its own after SHUTDOWN_BUDGET of failing
        // retries (and logs what it could not write); a request in flight may
        // add one timeout. Waiting that long lets it report before we exit.
        let request_timeout = config.influx.as_ref().map_or(0.0, |i| i.timeout_s);
        let drain_timeout =
            SHUTDOWN_BUDGET + Duration::from_secs_f64(request_timeout) + DRAIN_SLACK;
        match tokio::time::timeout(drain_timeout, writer).await {
            Ok(joined) => joined.context("InfluxDB writer task panicked")?,
            Err(_) => warn!(
                "InfluxDB writer did not finish within {}s; unwritten points are lost",
                drain_timeout.as_secs()
            ),
        }
    }
    http_stop.cancel();
    http.await.context("HTTP server task panicked")??;
    info!("stopped cleanly");
    Ok(())
}
