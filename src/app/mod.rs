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
mod summary;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use collector::config::{read_secret, Config, Validated};
use collector::deadletter::DeadLetters;
use collector::inventory::Inventory;
use collector::metrics::PipelineMetrics;
use collector::pipeline::{History, HistoryError, LiveView, Pipeline};
use collector::route::RouteTable;
use collector::sample::{Sample, StatusEvent};
use collector::shard::Ownership;
use collector::source::mqtt::{config::PASSWORD_ENV, MqttSource};
use exporter::http::web_config::WebConfig;
use exporter::Exporter;
use history::HistoryService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
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
    let Share {
        registry,
        metrics,
        reloads,
        inventory,
        ownership,
    } = take_share(&config, inventory)?;
    let dead_letters = Arc::new(DeadLetters::new(config.exporter.dead_letters));
    let exporter = Exporter::new(
        inventory.clone(),
        registry,
        metrics.clone(),
        dead_letters.clone(),
        config.exporter.clone(),
    );
    let (web, listener, exporter_addr) = listen(&config, &inventory).await?;

    let mut history_service = HistoryService::start(&config, &metrics).await?;
    info!("history is {}", history_service.describe);
    let history = history_service.history.take().unwrap_or(History::None);
    let manual_acks = matches!(history, History::Spool(_)) && config.mqtt.qos == 1;

    let (source, filters_tx) = mqtt_source(&config, &routes, &inventory, manual_acks, &metrics)?;
    let (pipeline_tx, pipeline_rx) = mpsc::channel(1);
    let (msg_tx, msg_rx) = mpsc::channel(config.mqtt.queue_capacity);
    tokio::spawn(summary::run(
        exporter.clone(),
        metrics.clone(),
        summary::EVERY,
        shutdown.clone(),
    ));
    let pipeline = Pipeline::new(
        routes,
        inventory,
        config.limits.clone(),
        metrics,
        dead_letters,
        Arc::new(ExporterView(exporter.clone())),
        history,
    )
    .with_ownership(ownership)
    .with_reconfigure(pipeline_rx);
    if let Some(path) = reload_from {
        let reloader = reload::Reloader {
            path,
            running: config.clone(),
            exporter: exporter.clone(),
            pipeline: pipeline_tx,
            source: filters_tx,
            metrics: reloads,
        };
        start_reloader(reloader, &exporter, shutdown.clone());
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

    let running = Running {
        source,
        pipeline,
        outages,
        history_service,
        http,
        http_stop,
    };
    running.until_stopped(&shutdown).await?;
    info!("stopped cleanly");
    Ok(())
}

/// The part of the inventory this instance owns, and the metrics registry
/// that describes it.
struct Share {
    registry: prometheus::Registry,
    metrics: PipelineMetrics,
    reloads: reload::ReloadMetrics,
    inventory: Arc<Inventory>,
    /// Which messages are this shard's: the others' are skipped, not
    /// rejected.
    ownership: Ownership,
}

/// `schoolnet_build_info{version}` = 1, the convention by which dashboards
/// and alerts tell which release an instance runs (and a fleet mid-upgrade
/// shows two versions).
fn register_build_info(registry: &prometheus::Registry) -> prometheus::Result<()> {
    let info = prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "schoolnet_build_info",
            "The running schoolnet release (always 1).",
        ),
        &["version"],
    )?;
    info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    registry.register(Box::new(info))
}

/// Takes this instance's share of the inventory (all of it unless sharded)
/// and registers the pipeline, shard and reload metrics.
fn take_share(config: &Config, inventory: Inventory) -> anyhow::Result<Share> {
    let shard = config.shard;
    let partition = collector::shard::partition(&inventory, shard);
    drop(inventory);
    if shard.is_sharded() {
        collector::shard::release_freed_memory();
    }
    let registry = prometheus::Registry::new();
    let metrics = PipelineMetrics::new(&registry);
    collector::shard::register_metrics(&registry, shard, &partition)
        .context("registering the shard metrics")?;
    let reloads = reload::ReloadMetrics::new(&registry).context("registering reload metrics")?;
    register_build_info(&registry).context("registering schoolnet_build_info")?;
    if shard.is_sharded() {
        info!(
            index = shard.index,
            count = shard.count,
            schools = partition.owned.schools().len(),
            domains = format!("{} of {}", partition.domains_owned, partition.domains_total),
            devices_per_instance = ?partition.loads,
            subscribe = shard.subscribe.as_str(),
            "shard: this instance owns part of the inventory"
        );
    }
    Ok(Share {
        registry,
        metrics,
        reloads,
        inventory: Arc::new(partition.owned),
        ownership: partition.ownership,
    })
}

/// Reads the exporter's TLS and basic auth and binds its listener.
async fn listen(
    config: &Config,
    inventory: &Inventory,
) -> anyhow::Result<(WebConfig, TcpListener, SocketAddr)> {
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
    Ok((web, listener, exporter_addr))
}

/// The MQTT source, subscribed to what this instance routes, and the sender
/// a reload uses to change its subscriptions.
fn mqtt_source(
    config: &Config,
    routes: &RouteTable,
    inventory: &Inventory,
    manual_acks: bool,
    metrics: &PipelineMetrics,
) -> anyhow::Result<(MqttSource, mpsc::Sender<Vec<String>>)> {
    let password = read_secret(PASSWORD_ENV, config.mqtt.password_file.as_deref())?;
    let mut mqtt = config.mqtt.clone();
    if config.shard.is_sharded() {
        // Each instance keeps its own persistent session.
        mqtt.client_id = format!("{}-{}", mqtt.client_id, config.shard.index);
    }
    let filters = collector::shard::filters(config.shard, routes, inventory.devices());
    let (filters_tx, filters_rx) = mpsc::channel(1);
    let mut source = MqttSource::new(&mqtt, password, filters, metrics.clone())?
        .with_manual_acks(manual_acks)
        .with_payload_limit(config.limits.max_payload_bytes)
        .with_filter_updates(filters_rx);
    if let Some(spool) = &config.spool {
        source = source.with_session_marker(&spool.dir);
    }
    Ok((source, filters_tx))
}

/// Re-reads the config on SIGHUP and on `POST /-/reload`.
fn start_reloader(reloader: reload::Reloader, exporter: &Exporter, shutdown: CancellationToken) {
    let (tx, rx) = mpsc::channel(4);
    reload::forward_sighup(tx.clone());
    exporter.set_reload_handler(tx);
    tokio::spawn(reloader.run(rx, shutdown));
}

/// The tasks of a running instance, and the order they stop in.
struct Running {
    source: JoinHandle<()>,
    pipeline: JoinHandle<Result<(), HistoryError>>,
    outages: JoinHandle<()>,
    history_service: HistoryService,
    http: JoinHandle<std::io::Result<()>>,
    http_stop: CancellationToken,
}

impl Running {
    /// Waits for a signal, or for the pipeline to stop on its own (its
    /// history failed): then everything else stops too, and the run is an
    /// error.
    async fn until_stopped(self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let Running {
            source,
            mut pipeline,
            outages,
            history_service,
            http,
            http_stop,
        } = self;
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
        Ok(())
    }
}
