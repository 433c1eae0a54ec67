//! Subscriptions: the SUBSCRIBE packets sent on every (re)connect, and the
//! difference sent when a reloaded config changes the filter set.
//!
//! Filters go 200 per SUBSCRIBE: a sharded instance has one per device and
//! route (thousands), more than the client's request channel holds as
//! single requests while the event loop is not being polled.

use std::collections::HashSet;

use rumqttc::{AsyncClient, QoS, SubscribeFilter};
use tokio::sync::mpsc;
use tracing::{debug, error, info};

use crate::metrics::PipelineMetrics;

/// Topic filters per SUBSCRIBE packet.
const SUBSCRIBE_CHUNK: usize = 200;

/// Queues SUBSCRIBEs for every filter; returns how many packets were queued
/// (each answered by one SUBACK).
pub(super) fn subscribe_all(
    client: &AsyncClient,
    filters: &[String],
    qos: QoS,
    metrics: &PipelineMetrics,
) -> usize {
    let mut queued = 0;
    for chunk in filters.chunks(SUBSCRIBE_CHUNK) {
        debug!(first = %chunk[0], filters = chunk.len(), "subscribing");
        let many = chunk.iter().map(|f| SubscribeFilter::new(f.clone(), qos));
        match client.try_subscribe_many(many) {
            Ok(()) => queued += 1,
            Err(e) => {
                error!(first = %chunk[0], error = %e, "cannot queue subscription");
                metrics
                    .mqtt_connection_errors
                    .with_label_values(&["subscribe_failed"])
                    .inc();
            }
        }
    }
    queued
}

/// Subscribes the filters in `new` that are not in `old` and unsubscribes
/// those gone, from a task: the event loop must keep running while the
/// requests queue up.
pub(super) fn change(client: &AsyncClient, old: &[String], new: &[String], qos: QoS) {
    let before: HashSet<&String> = old.iter().collect();
    let after: HashSet<&String> = new.iter().collect();
    let added: Vec<String> = new
        .iter()
        .filter(|f| !before.contains(f))
        .cloned()
        .collect();
    let removed: Vec<String> = old.iter().filter(|f| !after.contains(f)).cloned().collect();
    info!(
        added = added.len(),
        removed = removed.len(),
        "MQTT subscriptions follow the reloaded config"
    );
    let client = client.clone();
    tokio::spawn(async move {
        for chunk in added.chunks(SUBSCRIBE_CHUNK) {
            let many = chunk.iter().map(|f| SubscribeFilter::new(f.clone(), qos));
            if let Err(e) = client.subscribe_many(many).await {
                error!(error = %e, "cannot subscribe to the reloaded filters");
            }
        }
        for filter in removed {
            if let Err(e) = client.unsubscribe(filter).await {
                error!(error = %e, "cannot unsubscribe a filter the reload removed");
            }
        }
    });
}

/// The next filter set, or never once its sender is gone.
pub(super) async fn next_filters(
    rx: &mut Option<mpsc::Receiver<Vec<String>>>,
) -> Option<Vec<String>> {
    if let Some(r) = rx {
        if let Some(filters) = r.recv().await {
            return Some(filters);
        }
        *rx = None;
    }
    std::future::pending().await
}
