//! The schoolnet exporter: live state of every device, per-school health,
//! Prometheus exposition rendered at scrape time, and the HTTP server
//! (`/metrics`, `/healthz`, `/readyz`, `/api/schools`, `/api/dead-letters`,
//! and a status page at `/`).
//!
//! - [`state`]: latest value per series, last seen and last will per device.
//! - [`health`]: device and school up/degraded/down/unknown with a cause.
//! - [`outage`]: outage history per school (for InfluxDB and `/api/outages`).
//! - [`render`]: the `prometheus` collector over the live state, and encoding.
//! - [`process`]: the standard `process_*` metrics, from `/proc`.
//! - [`http`]: the axum router, the JSON views, and optional TLS + basic
//!   auth from a Prometheus-style web config.
//!
//! The pipeline calls [`Exporter::record_samples`] / [`Exporter::record_status`]
//! for every decoded message and runs [`Exporter::serve`].

mod alert_context;
pub mod health;
pub mod http;
pub mod outage;
pub mod process;
pub mod render;
pub mod state;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use collector::config::ExporterConfig;
use collector::deadletter::DeadLetters;
use collector::inventory::Inventory;
use collector::metrics::PipelineMetrics;
use collector::sample::{InfluxRecord, Sample, StatusEvent};
use prometheus::{Gauge, IntCounter, IntCounterVec, Opts, Registry};

pub use state::clock::{Clock, ManualClock, SystemClock};

use health::HealthPolicy;
use outage::OutageTracker;
use state::{Dropped, LiveState};

/// What the scrape-time collector and the HTTP views read.
#[derive(Debug)]
pub(crate) struct Live {
    /// Swapped whole when the inventory is reloaded; recording holds the
    /// read lock, so no sample lands in a state that is being replaced.
    state: RwLock<Arc<LiveState>>,
    pub(crate) policy: HealthPolicy,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) outages: Mutex<OutageTracker>,
}

impl Live {
    /// The current live state (a reload swaps it; holders keep theirs).
    pub(crate) fn state(&self) -> Arc<LiveState> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn assess(&self) -> (Arc<LiveState>, Vec<health::SchoolAssessment>) {
        self.assess_at(self.clock.now())
    }

    /// Assesses every school and feeds the outage tracker, so a scrape and
    /// the outage history never disagree for longer than one assessment.
    /// Returns the state assessed: school and slot numbers refer to it.
    pub(crate) fn assess_at(&self, now: f64) -> (Arc<LiveState>, Vec<health::SchoolAssessment>) {
        // The tracker's lock first (as in a reload): state and tracker then
        // always describe the same inventory.
        let mut outages = self.outages();
        let state = self.state();
        let assessments = health::assess(&state, &self.policy, now);
        outages.update(&assessments, &self.policy, now);
        (state, assessments)
    }

    pub(crate) fn outages(&self) -> MutexGuard<'_, OutageTracker> {
        // Plain data: a panic elsewhere mid-update leaves it usable.
        self.outages.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The exporter: cheap to clone (one `Arc`), shared by the pipeline task
/// (which records) and the HTTP server (which reads).
#[derive(Clone)]
pub struct Exporter {
    inner: Arc<Inner>,
}

struct Inner {
    live: Arc<Live>,
    collector: render::LiveCollector,
    registry: Registry,
    metrics: PipelineMetrics,
    dead_letters: Arc<DeadLetters>,
    scrape_duration: Gauge,
    /// The render concurrent `/metrics` scrapes share.
    shared_render: Arc<http::scrape::SharedRender>,
    dropped: IntCounterVec,
    /// Where `POST /-/reload` sends its requests (when enabled).
    reload: Mutex<Option<tokio::sync::mpsc::Sender<ReloadRequest>>>,
    reload_enabled: bool,
    /// `exporter.grafana_url`, for the status page's links.
    grafana_url: Option<String>,
}

/// A request to re-read the config file (SIGHUP or `POST /-/reload`); the
/// answer is a summary of what changed, or why the new config was refused.
#[derive(Debug)]
pub struct ReloadRequest {
    pub reply: Option<tokio::sync::oneshot::Sender<Result<String, String>>>,
}

impl Exporter {
    /// Creates the exporter. In `registry` it registers its own metrics
    /// (scrape duration, dropped values, the standard `process_*` metrics
    /// and the config values alert texts read, see `alert_context`)
    /// and reserves the names of the live-state families (which are gathered
    /// next to the registry at scrape time, see [`render`]).
    ///
    /// # Panics
    /// If `registry` already holds an exporter (or metrics with its names):
    /// a wiring bug, like registering any metric twice.
    pub fn new(
        inventory: Arc<Inventory>,
        registry: prometheus::Registry,
        metrics: PipelineMetrics,
        dead_letters: Arc<DeadLetters>,
        config: ExporterConfig,
    ) -> Exporter {
        Exporter::with_clock(
            inventory,
            registry,
            metrics,
            dead_letters,
            config,
            Arc::new(SystemClock),
        )
    }

    /// [`Exporter::new`] with a given clock (tests: [`ManualClock`]). The
    /// clock's "now" at this call is the start of the unknown grace period.
    pub fn with_clock(
        inventory: Arc<Inventory>,
        registry: prometheus::Registry,
        metrics: PipelineMetrics,
        dead_letters: Arc<DeadLetters>,
        config: ExporterConfig,
        clock: Arc<dyn Clock>,
    ) -> Exporter {
        let live = Arc::new(Live {
            state: RwLock::new(Arc::new(LiveState::new(inventory.clone()))),
            policy: HealthPolicy::new(&config, clock.now()),
            clock,
            outages: Mutex::new(OutageTracker::new(inventory)),
        });
        let scrape_duration = Gauge::new(
            "schoolnet_exporter_scrape_duration_seconds",
            "Seconds the previous /metrics render took.",
        )
        .expect("valid metric");
        let renders = IntCounter::new(
            "schoolnet_exporter_renders_total",
            "/metrics renders made (scrapes that come together share one).",
        )
        .expect("valid metric");
        let shared = IntCounter::new(
            "schoolnet_exporter_scrape_shared_total",
            "/metrics scrapes answered by a render made for another scrape (arrived while it ran, or shortly after).",
        )
        .expect("valid metric");
        let dropped = IntCounterVec::new(
            Opts::new(
                "schoolnet_exporter_dropped_values_total",
                "Values the exporter's live state did not keep, by reason (unknown_device: not in the exporter's inventory; series_limit: too many series on one device).",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let mut collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(render::LiveCollector::reservation()),
            Box::new(scrape_duration.clone()),
            Box::new(renders.clone()),
            Box::new(shared.clone()),
            Box::new(dropped.clone()),
            Box::new(process::ProcessCollector::new()),
        ];
        collectors.extend(alert_context::collectors(&config));
        for c in collectors {
            if let Err(e) = registry.register(c) {
                panic!("cannot register the exporter's metrics (is an exporter already using this registry?): {e}");
            }
        }
        Exporter {
            inner: Arc::new(Inner {
                collector: render::LiveCollector::new(live.clone(), config.detail),
                live,
                registry,
                metrics,
                dead_letters,
                scrape_duration,
                shared_render: Arc::new(http::scrape::SharedRender::new(renders, shared)),
                dropped,
                reload: Mutex::new(None),
                reload_enabled: config.enable_reload,
                grafana_url: config.grafana_url.clone(),
            }),
        }
    }

    /// Stores the samples of one MQTT message. Locks each device touched once.
    pub fn record_samples(&self, samples: &[Sample]) {
        let live = &self.inner.live;
        let state = live.state.read().unwrap_or_else(|e| e.into_inner());
        let dropped = state.record_samples(samples, live.clock.now());
        drop(state);
        self.count_dropped(dropped);
    }

    /// Stores a device's will/status message.
    pub fn record_status(&self, event: &StatusEvent) {
        let live = &self.inner.live;
        let state = live.state.read().unwrap_or_else(|e| e.into_inner());
        let known = state.record_status(event, live.clock.now());
        drop(state);
        if !known {
            self.count_dropped(Dropped {
                unknown_device: 1,
                series_limit: 0,
            });
        }
    }

    /// Switches to a reloaded inventory: devices that remain keep their
    /// live state and schools their outage history; new ones start unknown.
    pub fn set_inventory(&self, inventory: Arc<Inventory>) {
        let live = &self.inner.live;
        let mut outages = live.outages();
        let mut state = live.state.write().unwrap_or_else(|e| e.into_inner());
        let next = Arc::new(state.rebuilt(inventory.clone()));
        *state = next;
        drop(state);
        outages.retarget(inventory, live.clock.now());
    }

    /// Where `POST /-/reload` sends requests (see `exporter.enable_reload`).
    pub fn set_reload_handler(&self, tx: tokio::sync::mpsc::Sender<ReloadRequest>) {
        *self.inner.reload.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
    }

    /// Asks for a reload and waits for its outcome; `Err` when reloading
    /// over HTTP is disabled or nothing handles it.
    pub async fn request_reload(&self) -> Result<Result<String, String>, &'static str> {
        if !self.inner.reload_enabled {
            return Err(
                "reload over HTTP is disabled: set exporter.enable_reload = true (or send SIGHUP)",
            );
        }
        let tx = self
            .inner
            .reload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let tx = tx.ok_or("this process cannot reload its configuration")?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        tx.send(ReloadRequest { reply: Some(reply) })
            .await
            .map_err(|_| "the reloader has stopped")?;
        answer.await.map_err(|_| "the reloader has stopped")
    }

    fn count_dropped(&self, d: Dropped) {
        if d.unknown_device > 0 {
            self.inner
                .dropped
                .with_label_values(&["unknown_device"])
                .inc_by(d.unknown_device);
        }
        if d.series_limit > 0 {
            self.inner
                .dropped
                .with_label_values(&["series_limit"])
                .inc_by(d.series_limit);
        }
    }

    /// The full `/metrics` text: live state, pipeline metrics and the
    /// exporter's own. CPU-bound; call from a blocking context at scale.
    /// (`/metrics` itself serves [`Exporter::render_pages`], shared.)
    pub fn render(&self) -> String {
        self.render_pages().to_text()
    }

    /// [`Exporter::render`] in the 64 KB pieces it is written in.
    pub fn render_pages(&self) -> render::Exposition {
        let started = Instant::now();
        let pages = render::encode(&self.inner.collector, &self.inner.registry);
        self.inner
            .scrape_duration
            .set(started.elapsed().as_secs_f64());
        pages
    }

    /// The render that answers a `/metrics` scrape which arrived at
    /// `arrived`, shared with the scrapes around it ([`http::scrape`]).
    pub(crate) async fn shared_render(
        &self,
        arrived: Instant,
    ) -> Result<Arc<http::scrape::Rendered>, tokio::task::JoinError> {
        let me = self.clone();
        self.inner
            .shared_render
            .get(arrived, move || me.render_pages())
            .await
    }

    /// Every inventory school with its health, as `/api/schools` serves it.
    pub fn schools(&self) -> Vec<http::api::SchoolView> {
        http::api::schools(&self.inner.live)
    }

    /// One school as `/api/schools/{id}` serves it; `None` if not in the
    /// inventory.
    pub fn school(&self, id: &str) -> Option<http::api::SchoolView> {
        http::api::school(&self.inner.live, id)
    }

    /// Every school in the compact form of `/api/status` (the status page).
    pub fn status(&self) -> http::api::StatusView {
        http::api::status(&self.inner.live, self.inner.grafana_url.as_deref())
    }

    /// `Ok` when the pipeline is connected to the broker, else why not.
    pub fn readiness(&self) -> Result<(), &'static str> {
        if self.inner.metrics.mqtt_connected.get() == 1 {
            Ok(())
        } else {
            Err("not connected to the MQTT broker")
        }
    }

    pub fn dead_letters(&self) -> &Arc<DeadLetters> {
        &self.inner.dead_letters
    }

    /// Open outages and recently closed ones, as `/api/outages` serves them.
    pub fn outages(&self) -> (Vec<outage::Outage>, Vec<outage::Outage>) {
        let live = &self.inner.live;
        live.assess();
        let now = live.clock.now();
        let snapshot = live.outages().snapshot(now);
        snapshot
    }

    /// How many schools are in an outage now, of how many, as of the last
    /// assessment (the outage tracker's one-second tick).
    pub fn schools_down(&self) -> (usize, usize) {
        self.inner.live.outages().open_count()
    }

    /// Re-assesses health every `period` until `shutdown`, so outages open
    /// and close even when nobody scrapes, and sends outage records to
    /// `history` (InfluxDB). Records still pending at shutdown are sent
    /// before returning; dropping `history` then lets the writer drain.
    pub async fn track_outages(
        self,
        period: Duration,
        history: Option<tokio::sync::mpsc::Sender<Vec<InfluxRecord>>>,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let stopping = tokio::select! {
                _ = &mut shutdown => true,
                _ = tick.tick() => false,
            };
            let live = self.inner.live.clone();
            let records = tokio::task::spawn_blocking(move || {
                live.assess();
                let records = live.outages().take_records();
                records
            })
            .await
            .unwrap_or_default();
            if let (Some(tx), false) = (&history, records.is_empty()) {
                let batch = records.into_iter().map(InfluxRecord::Outage).collect();
                if tx.send(batch).await.is_err() {
                    tracing::warn!("InfluxDB writer stopped; outage records are no longer stored");
                }
            }
            if stopping {
                return;
            }
        }
    }

    /// The HTTP routes; see [`http`].
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// Serves [`Exporter::router`] over plain HTTP on `listener` until
    /// `shutdown` resolves, then finishes in-flight requests and returns.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.serve_with(listener, http::web_config::WebConfig::default(), shutdown)
            .await
    }

    /// [`Exporter::serve`] with the TLS and basic auth of a web config
    /// (`exporter.web_config_file`): HTTPS when it has a
    /// `tls_server_config`, and every route behind basic auth when it has
    /// `basic_auth_users`.
    pub async fn serve_with(
        self,
        listener: tokio::net::TcpListener,
        web: http::web_config::WebConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let scheme = if web.tls.is_some() { "https" } else { "http" };
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, scheme, basic_auth = web.auth_required(), "exporter listening");
        }
        if web.auth_required() && web.tls.is_none() {
            tracing::warn!("exporter: basic auth without TLS sends passwords in clear text; add tls_server_config to the web config");
        }
        let mut router = self.router();
        if web.auth_required() {
            let auth = http::auth::BasicAuth::new(web.users.clone());
            router = router.layer(axum::middleware::from_fn_with_state(
                auth,
                http::auth::require,
            ));
        }
        http::serve::serve(router, listener, web.tls, shutdown).await
    }
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field(
                "schools",
                &self.inner.live.state().inventory().schools().len(),
            )
            .field(
                "devices",
                &self.inner.live.state().inventory().devices().len(),
            )
            .finish()
    }
}
