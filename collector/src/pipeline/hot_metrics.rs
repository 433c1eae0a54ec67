//! The per-message metrics of the pipeline, with their label children
//! resolved once: `with_label_values` hashes the labels and takes a lock on
//! every call, which cost as much as decoding a small payload. Children are
//! still created on first use (as before), so /metrics shows the same
//! series; only the lookup moved out of the hot path.

use prometheus::IntCounter;

use crate::metrics::{outcome, PipelineMetrics};
use crate::sample::Measurement;

/// The outcomes of `schoolnet_collector_messages_total`, in index order.
pub(super) const OUTCOMES: [&str; 5] = [
    outcome::OK,
    outcome::PARTIAL,
    outcome::IGNORED,
    outcome::REJECTED,
    outcome::NOT_OWNED,
];

/// A label child of a counter vector, looked up on first use and kept here
/// (`None` until then).
type CachedChild = Option<IntCounter>;

pub(super) struct HotMetrics {
    /// Per route (by position in the route table; the last slot is "no
    /// route"), per outcome.
    messages: Vec<[CachedChild; OUTCOMES.len()]>,
    samples: [CachedChild; Measurement::ALL.len()],
    /// Offline, online.
    status_events: [CachedChild; 2],
}

impl HotMetrics {
    pub(super) fn new(routes: usize) -> HotMetrics {
        HotMetrics {
            messages: vec![Default::default(); routes + 1],
            samples: Default::default(),
            status_events: Default::default(),
        }
    }

    /// Counts one message of route `index` (`None`: no route) named `route`.
    pub(super) fn message(
        &mut self,
        m: &PipelineMetrics,
        index: Option<usize>,
        route: &str,
        result: &str,
    ) {
        let slot = index.unwrap_or(self.messages.len() - 1);
        let i = OUTCOMES
            .iter()
            .position(|o| *o == result)
            .expect("a known outcome");
        self.messages[slot][i]
            .get_or_insert_with(|| m.messages.with_label_values(&[route, result]))
            .inc();
    }

    pub(super) fn sample(&mut self, m: &PipelineMetrics, measurement: Measurement) {
        self.samples[measurement as usize]
            .get_or_insert_with(|| m.samples.with_label_values(&[measurement.as_str()]))
            .inc();
    }

    pub(super) fn status_event(&mut self, m: &PipelineMetrics, online: bool) {
        let state = if online { "online" } else { "offline" };
        self.status_events[usize::from(online)]
            .get_or_insert_with(|| m.status_events.with_label_values(&[state]))
            .inc();
    }
}
