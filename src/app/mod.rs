//! Wiring: one process running the MQTT source, the pipeline, the InfluxDB
//! writer and the exporter's HTTP server, with one shutdown token for all.
//!
//! Shutdown order is what makes it lossless: the source stops first (and
//! disconnects cleanly), closing the pipeline's input; the pipeline drains
//! (committing its last group to the spool) and the outage tracker writes
//! its last records; then the history service stops (see [`history`]); the HTTP server
//! stops last so `/metrics` shows the drain.

mod history;
mod reload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use collector::config::{read_secret, Validated};
use collector::deadletter::DeadLetters;
use collector::inventory::Inventory;
use collector::metrics::PipelineMetrics;
use collector::pipeline::History;
use collector::pipeline::{LiveView, Pipeline};
use collector::sample::{Sample, StatusEvent};
use collector::source::mqtt::{config::PASSWORD_ENV, MqttSource};
use exporter::http::web_config::WebConfig;
use exporter::Exporter;
use history::HistoryService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// How often health is re-assessed for outage tracking.
const OUTAGE_TICK: Duration = Duration::from_secs(1);

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
    /// Where history goes, in words.
    pub history: String,
}

/// Runs the pipeline until `shutdown` is cancelled and everything drained.
/// `started` (if given) receives the bound addresses once listening. With
/// `reload_from`, SIGHUP (and `POST /-/reload` when enabled) re-reads that
/// config file (see [`reload`]).
pub async fn run(
    validated: Validated,
    shutdown: CancellationToken,
    started: Option<oneshot::Sender<Started>>,
    reload_from: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let Validated {
        config,
        inventory,
        routes,
    } = validated;
    let shard = config.shard;
    let partition = collector::shard::partition(&inventory, shard);
    drop(inventory);
    let registry = prometheus::Registry::new();
    let metrics = PipelineMetrics::new(&registry);
    collector::shard::register_metrics(&registry, shard, &partition)
        .context("registering the shard metrics")?;
    let reloads = reload::ReloadMetrics::new(&registry).context("registering reload metrics")?;
    if shard.is_sharded() {
        info!(
            index = shard.index,
            count = shard.count,
            schools = partition.owned.schools().len(),
            domains = format!("{} of {}", partition.domains_owned, partition.domains_total),
            "shard: this instance owns part of the inventory"
        );
    }
    let foreign_devices = partition.foreign_devices;
    let inventory: Arc<Inventory> = Arc::new(partition.owned);
    let dead_letters = Arc::new(DeadLetters::new(config.exporter.dead_letters));
    let exporter = Exporter::new(
        inventory.clone(),
        registry,
        metrics.clone(),
        dead_letters.clone(),
        config.exporter.clone(),
    );
    // TLS and basic auth of the exporter: read and checked before anything
    // listens, so a bad file stops startup naming the key and file.
    let web = match &config.exporter.web_config_file {
        Some(path) => WebConfig::load(path)?,
        None => WebConfig::default(),
    };
    let listener = TcpListener::bind(config.exporter.listen)
        .await
        .with_context(|| format!("exporter.listen {}: cannot listen", config.exporter.listen))?;
    let exporter_addr = listener.local_addr()?;
    let scheme = if web.tls.is_some() { "https" } else { "http" };
    info!(
        schools = inventory.schools().len(),
        devices = inventory.devices().len(),
        basic_auth = web.auth_required(),
        "exporter listening on {scheme}://{exporter_addr}/metrics"
    );

    let mut history_service = HistoryService::start(&config, &metrics).await?;
    info!("history is {}", history_service.describe);
    let history = history_service.history.take().unwrap_or(History::None);
    let manual_acks = matches!(history, History::Spool(_)) && config.mqtt.qos == 1;

    let password = read_secret(PASSWORD_ENV, config.mqtt.password_file.as_deref())?;
    let mut mqtt = config.mqtt.clone();
    let filters = if shard.is_sharded() {
        // Each instance keeps its own persistent session.
        mqtt.client_id = format!("{}-{}", mqtt.client_id, shard.index);
        collector::shard::device_filters(&routes, inventory.devices())
    } else {
        routes.filters()
    };
    let (filters_tx, filters_rx) = mpsc::channel(1);
    let mut source = MqttSource::new(&mqtt, password, filters, metrics.clone())?
        .with_manual_acks(manual_acks)
        .with_payload_limit(config.limits.max_payload_bytes)
        .with_filter_updates(filters_rx);
    if let Some(spool) = &config.spool {
        source = source.with_session_marker(&spool.dir);
    }
    let (pipeline_tx, pipeline_rx) = mpsc::channel(1);
    let (msg_tx, msg_rx) = mpsc::channel(config.mqtt.queue_capacity);
    let pipeline = Pipeline::new(
        routes,
        inventory,
        config.limits.clone(),
        metrics,
        dead_letters,
        Arc::new(ExporterView(exporter.clone())),
        history,
    )
    .with_foreign_devices(foreign_devices)
    .with_reconfigure(pipeline_rx);
    if let Some(path) = reload_from {
        let (tx, rx) = mpsc::channel(4);
        reload::forward_sighup(tx.clone());
        exporter.set_reload_handler(tx);
        let reloader = reload::Reloader {
            path,
            running: config.clone(),
            exporter: exporter.clone(),
            pipeline: pipeline_tx,
            source: filters_tx,
            metrics: reloads,
        };
        tokio::spawn(reloader.run(rx, shutdown.clone()));
    }

    // Health is re-assessed every second so outages open and close (and are
    // written to InfluxDB) even when nobody scrapes.
    let outages = tokio::spawn(exporter.clone().track_outages(
        OUTAGE_TICK,
        history_service.outages.take(),
        shutdown.clone().cancelled_owned(),
    ));
    let http_stop = CancellationToken::new();
    let http =
        tokio::spawn(exporter.serve_with(listener, web, http_stop.clone().cancelled_owned()));
    let source = tokio::spawn(source.run(msg_tx, shutdown.clone()));
    let pipeline = tokio::spawn(pipeline.run(msg_rx));
    if let Some(tx) = started {
        let _ = tx.send(Started {
            exporter_addr,
            storing_history: history_service.stores_history(),
            history: history_service.describe.clone(),
        });
    }

    // Either a signal, or the pipeline stopping on its own (its history
    // failed): then everything else stops too, and the run is an error.
    let mut pipeline = pipeline;
    let failed = tokio::select! {
        _ = shutdown.cancelled() => None,
        done = &mut pipeline => Some(done),
    };
    shutdown.cancel();
    source.await.context("MQTT source task panicked")?;
    let pipeline_result = match failed {
        Some(done) => done,
        None => pipeline.await,
    }
    .context("pipeline task panicked")?;
    outages.await.context("outage tracker task panicked")?;
    history_service.stop().await?;
    http_stop.cancel();
    http.await.context("HTTP server task panicked")??;
    pipeline_result
        .context("history could not be stored; unacknowledged messages stay with the broker")?;
    info!("stopped cleanly");
    Ok(())
}
