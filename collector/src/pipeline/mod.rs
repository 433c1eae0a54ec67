//! The pipeline task: message → route → decode → normalize → sinks.
//!
//! One task owns the normalizer's state, so counters need no locks. Every
//! message ends in exactly one outcome (`ok`, `partial`, `ignored`,
//! `rejected`, `not_owned`) counted in
//! `schoolnet_collector_messages_total{route,outcome}`; every rejected item
//! (a whole message, one line or metric of several, an observation, the
//! mapped paths a `json` payload lacked) is counted by reason in
//! `schoolnet_collector_rejected_total`, logged (rate-limited) and kept as a
//! dead letter. A message with something stored and something rejected is
//! `partial`; see docs/data-model.md for the exact relation.
//! Samples go to the live view synchronously and to InfluxDB through a
//! bounded channel, which is how a slow database slows intake instead of
//! growing memory.

mod commit;
mod history;
mod hot_metrics;
mod reject_log;
mod startup_metrics;

pub use history::{History, HistoryError};

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::LimitsConfig;
use crate::deadletter::DeadLetters;
use crate::decode::json::MissingField;
use crate::decode::{self, DecodeContext, Decoded};
use crate::inventory::Inventory;
use crate::metrics::{outcome, PipelineMetrics};
use crate::normalize::{Normalized, Normalizer};
use crate::reject::{Reject, RejectReason};
use crate::route::{RouteTable, TopicVars};
use crate::sample::{Sample, StatusEvent};
use crate::shard::Ownership;
use crate::source::mqtt::MqttMessage;
use hot_metrics::HotMetrics;
use reject_log::RejectLog;

/// Route label for messages that matched no route.
pub const NO_ROUTE: &str = "none";

/// Samples handed to InfluxDB in one channel send, at most.
const SINK_CHUNK: usize = 1_000;

/// Where live (latest-value) state goes: the exporter implements this.
pub trait LiveView: Send + Sync {
    fn record(&self, samples: &[Sample], status: Option<&StatusEvent>);
}

/// The decode/normalize stage and its outputs.
pub struct Pipeline {
    routes: RouteTable,
    normalizer: Normalizer,
    limits: LimitsConfig,
    metrics: PipelineMetrics,
    hot: HotMetrics,
    dead_letters: Arc<DeadLetters>,
    live: Arc<dyn LiveView>,
    outbox: history::Outbox,
    reject_log: RejectLog,
    /// Which devices' messages are this instance's (see [`crate::shard`]).
    ownership: Ownership,
    /// Reloaded routes and inventory, applied between two messages.
    reconfigure: Option<mpsc::Receiver<Reconfigure>>,
    /// The normalizer's output, reused from message to message (emptied
    /// after each) so its vectors are allocated once, not per message.
    normalized: Normalized,
    /// Mapped `json` paths the current message lacked (emptied after each).
    missing: Vec<MissingField>,
}

/// A reloaded configuration for a running pipeline (`SIGHUP`).
#[derive(Debug)]
pub struct Reconfigure {
    pub routes: RouteTable,
    /// This instance's part of the inventory.
    pub inventory: Arc<Inventory>,
    pub ownership: Ownership,
}

impl Pipeline {
    pub fn new(
        routes: RouteTable,
        inventory: Arc<Inventory>,
        limits: LimitsConfig,
        metrics: PipelineMetrics,
        dead_letters: Arc<DeadLetters>,
        live: Arc<dyn LiveView>,
        history: History,
    ) -> Pipeline {
        metrics
            .series_budget_per_device
            .set(i64::try_from(limits.max_series_per_device).unwrap_or(i64::MAX));
        startup_metrics::register_route_counters(&metrics, &routes);
        Pipeline {
            hot: HotMetrics::new(routes.routes().len()),
            routes,
            normalizer: Normalizer::new(inventory, limits.clone()),
            limits,
            metrics,
            dead_letters,
            live,
            outbox: history::Outbox::new(history),
            reject_log: RejectLog::new(),
            ownership: Ownership::everything(),
            reconfigure: None,
            normalized: Normalized::default(),
            missing: Vec::new(),
        }
    }

    /// Takes reloaded routes and inventory from `rx` while running. They
    /// apply between two messages: counter state of the devices that remain
    /// is kept, so a reload neither loses nor double-counts traffic.
    pub fn with_reconfigure(mut self, rx: mpsc::Receiver<Reconfigure>) -> Pipeline {
        self.reconfigure = Some(rx);
        self
    }

    /// Messages of devices another instance owns are counted as
    /// `not_owned` and acknowledged, neither decoded, stored nor rejected.
    /// They arrive through the routes' wildcard subscriptions (`[shard]
    /// subscribe = "wildcard"`), or per-device subscriptions a persistent
    /// session kept from before the instances were re-partitioned.
    pub fn with_ownership(mut self, ownership: Ownership) -> Pipeline {
        self.ownership = ownership;
        self
    }

    /// Processes messages until `rx` closes, then flushes what is pending and
    /// returns; dropping the history sender lets the writer drain and stop.
    /// An error means history can no longer be stored (the spool failed):
    /// the caller must stop, and the unacknowledged messages stay with the
    /// broker.
    pub async fn run(mut self, mut rx: mpsc::Receiver<MqttMessage>) -> Result<(), HistoryError> {
        let mut reconfigure = self.reconfigure.take();
        loop {
            let next = tokio::select! {
                biased;
                Some(change) = next_change(&mut reconfigure) => {
                    self.apply(change);
                    continue;
                }
                next = rx.recv() => next,
            };
            let Some(mut msg) = next else { break };
            let ack = msg.ack.take();
            self.handle(&msg);
            self.outbox.add_ack(ack);
            // Store (and acknowledge) in groups — one fsync per group — but
            // never hold a group back while the input is idle: latency to
            // the database and to the broker's ack stays low.
            if self.outbox.len() >= SINK_CHUNK || rx.is_empty() {
                self.outbox.flush().await?;
            }
        }
        self.outbox.flush().await?;
        self.outbox.finish().await?;
        tracing::info!("pipeline drained");
        Ok(())
    }

    fn apply(&mut self, change: Reconfigure) {
        tracing::info!(
            routes = change.routes.routes().len(),
            devices = change.inventory.devices().len(),
            "pipeline: reloaded routes and inventory"
        );
        self.hot = HotMetrics::new(change.routes.routes().len());
        startup_metrics::register_route_counters(&self.metrics, &change.routes);
        self.routes = change.routes;
        self.normalizer.set_inventory(change.inventory);
        self.ownership = change.ownership;
    }

    /// Routes, decodes and normalizes one message; live state is updated at
    /// once, samples for history are queued for the next flush.
    pub fn handle(&mut self, msg: &MqttMessage) {
        let payload = &msg.payload[..];
        let Some((index, route, vars)) = self.routes.find_indexed(&msg.topic) else {
            let reject = Reject::new(RejectReason::NoRoute, "topic matches no route pattern");
            self.reject(NO_ROUTE, msg, &reject);
            self.hot
                .message(&self.metrics, None, NO_ROUTE, outcome::REJECTED);
            return;
        };
        let route_name = route.name.clone();
        // Before any other check: another instance's message costs this
        // one a route match and a hash lookup, nothing more.
        let normalizer = &self.normalizer;
        if vars.get("device").is_some_and(|d| {
            !self
                .ownership
                .owns(d, || normalizer.inventory().device(d).is_some())
        }) {
            self.count(index, &route_name, outcome::NOT_OWNED);
            return;
        }
        // `payload_len`: the source may have cut an oversize payload already.
        if msg.payload_len.max(payload.len()) > self.limits.max_payload_bytes {
            let reject = Reject::new(
                RejectReason::TooLarge,
                format!(
                    "{} bytes > limit {}",
                    msg.payload_len.max(payload.len()),
                    self.limits.max_payload_bytes
                ),
            );
            self.reject(&route_name, msg, &reject);
            self.count(index, &route_name, outcome::REJECTED);
            return;
        }
        if let Some(reject) = long_topic_var(&vars, &self.limits) {
            self.reject(&route_name, msg, &reject);
            self.count(index, &route_name, outcome::REJECTED);
            return;
        }
        // Taken (an empty `Normalized` allocates nothing) so `self` stays free.
        let mut out = std::mem::take(&mut self.normalized);
        let mut missing = std::mem::take(&mut self.missing);
        // The decoded message borrows the topic, the payload and (through
        // the topic variables) `self.routes`; this block ends that borrow
        // before `self` is changed.
        let decoded = {
            let ctx = DecodeContext {
                vars: &vars,
                counter_width: route.counter_width,
            };
            decode::decode_noting_missing(&route.format, ctx, payload, &mut missing).map(
                |mut decoded| {
                    let ignored = matches!(decoded, Decoded::Ignored(_));
                    self.normalizer
                        .normalize_into(&mut decoded, msg.received_ns, &mut out);
                    ignored
                },
            )
        };
        if !missing.is_empty() {
            self.note_missing(&route_name, &missing, decoded.is_ok(), &mut out);
            missing.clear();
        }
        self.missing = missing;
        match decoded {
            Ok(ignored) => self.route_normalized(index, &route_name, msg, &mut out, ignored),
            Err(reject) => {
                self.reject(&route_name, msg, &reject);
                self.count(index, &route_name, outcome::REJECTED);
            }
        }
        self.normalized = out;
    }

    /// Counts, logs and forwards what `msg` normalized into (`out`, drained).
    fn route_normalized(
        &mut self,
        index: usize,
        route_name: &str,
        msg: &MqttMessage,
        out: &mut Normalized,
        ignored: bool,
    ) {
        let Normalized {
            samples,
            status,
            rejects,
        } = out;
        let rejected = !rejects.is_empty();
        for reject in rejects.drain(..) {
            self.reject(route_name, msg, &reject);
        }
        self.note_series();
        let status = status.take();
        let produced = !samples.is_empty() || status.is_some();
        let result = if produced && rejected {
            outcome::PARTIAL
        } else if produced {
            outcome::OK
        } else if ignored || !rejected {
            outcome::IGNORED
        } else {
            outcome::REJECTED
        };
        self.count(index, route_name, result);
        if !produced {
            return;
        }
        for s in samples.iter() {
            self.hot.sample(&self.metrics, s.measurement);
            let lag = (msg.received_ns - s.time_ns) as f64 / 1e9;
            self.metrics.lag_seconds.observe(lag.max(0.0));
        }
        if let Some(ev) = &status {
            self.hot.status_event(&self.metrics, ev.online);
        }
        self.live.record(samples, status.as_ref());
        self.outbox.add_samples(msg.received_ns, samples);
    }

    /// Counts the mapped paths a payload lacked, per field; when the rest of
    /// it was stored, one `missing_field` reject naming them makes the
    /// message `partial` (a message rejected outright already has a dead
    /// letter naming its mapped paths).
    fn note_missing(
        &mut self,
        route: &str,
        missing: &[MissingField],
        decoded: bool,
        out: &mut Normalized,
    ) {
        for m in missing {
            self.metrics
                .mapping_missing
                .with_label_values(&[route, m.field.key()])
                .inc();
        }
        if decoded && !out.samples.is_empty() {
            let names: Vec<String> = missing
                .iter()
                .map(|m| format!("{} (`{}`)", m.field.key(), m.path))
                .collect();
            out.rejects.push(Reject::new(
                RejectReason::MissingField,
                format!(
                    "mapped path(s) absent from the payload: {}; the other fields were stored",
                    names.join(", ")
                ),
            ));
        }
    }

    /// Brings the series metrics up to date with the normalizer.
    fn note_series(&mut self) {
        let m = &self.metrics;
        m.series
            .set(i64::try_from(self.normalizer.tracked_series()).unwrap_or(i64::MAX));
        m.series_limit_hits
            .inc_by(self.normalizer.take_series_limit_hits());
    }

    fn count(&mut self, index: usize, route: &str, result: &str) {
        self.hot.message(&self.metrics, Some(index), route, result);
    }

    fn reject(&mut self, route: &str, msg: &MqttMessage, reject: &Reject) {
        self.metrics
            .rejected
            .with_label_values(&[route, reject.reason.as_str()])
            .inc();
        self.dead_letters
            .push_received(route, &msg.topic, &msg.payload, msg.payload_len, reject);
        self.reject_log.log(route, &msg.topic, reject);
    }
}

/// `tag_too_long` if a topic level captured by a `{variable}` of the route's
/// pattern exceeds `limits.max_tag_value_bytes` (MQTT allows 64 KiB topics,
/// and the payload size limit does not cover them). Checked before decoding,
/// so an oversized device id or interface never reaches a decoder or a map.
fn long_topic_var(vars: &TopicVars, limits: &LimitsConfig) -> Option<Reject> {
    let max = limits.max_tag_value_bytes;
    vars.iter()
        .find(|(_, level)| level.len() > max)
        .map(|(name, level)| {
            let shown: String = level
                .chars()
                .take(32)
                .flat_map(char::escape_debug)
                .collect();
            Reject::new(
                RejectReason::TagTooLong,
                format!(
                    "topic variable {{{name}}} `{shown}…` is {} bytes > limit {max}",
                    level.len()
                ),
            )
        })
}

/// The next reload, or never once its sender is gone.
async fn next_change(rx: &mut Option<mpsc::Receiver<Reconfigure>>) -> Option<Reconfigure> {
    if let Some(r) = rx {
        if let Some(change) = r.recv().await {
            return Some(change);
        }
        *rx = None;
    }
    std::future::pending().await
}

#[cfg(test)]
mod mapping_tests;
#[cfg(test)]
mod tests;
