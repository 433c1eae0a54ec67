//! The per-route counters alerts and recording rules read, created at 0 for
//! every label value they can take as soon as the routes are known (start
//! and reload): `rate()`/`increase()` see a series' first event only when
//! the series existed before it, so a counter born with its first reject
//! would hide exactly that reject from DeadLettersRising.
//!
//! - `schoolnet_collector_messages_total{route,outcome}`: every route (and
//!   the `none` route of unmatched topics) × every outcome;
//! - `schoolnet_collector_rejected_total{route,reason}`: × every reject
//!   reason (a few hundred series for the built-in routes);
//! - `schoolnet_collector_mapping_missing_total{route,field}`: every
//!   required field of every `json` route.

use crate::decode::Format;
use crate::metrics::PipelineMetrics;
use crate::reject::RejectReason;
use crate::route::RouteTable;

use super::hot_metrics::OUTCOMES;
use super::NO_ROUTE;

pub(super) fn register_route_counters(metrics: &PipelineMetrics, routes: &RouteTable) {
    let names = routes.routes().iter().map(|r| &*r.name).chain([NO_ROUTE]);
    for route in names {
        for outcome in OUTCOMES {
            metrics.messages.with_label_values(&[route, outcome]);
        }
        for reason in RejectReason::ALL {
            metrics
                .rejected
                .with_label_values(&[route, reason.as_str()]);
        }
    }
    for route in routes.routes() {
        if let Format::Json(mapping) = &route.format {
            for fm in mapping.fields.iter().filter(|f| !f.optional) {
                metrics
                    .mapping_missing
                    .with_label_values(&[&route.name, fm.field.key()]);
            }
        }
    }
}
