//! A one-line summary in the log every minute, so a journal read on its own
//! shows how the collector is doing without a Prometheus at hand: message
//! rate by outcome, schools in an outage, and the spool's backlog.

use std::collections::BTreeMap;
use std::time::Duration;

use collector::metrics::PipelineMetrics;
use exporter::Exporter;
use prometheus::core::Collector;
use tokio_util::sync::CancellationToken;

/// How often the summary is logged.
pub const EVERY: Duration = Duration::from_secs(60);

/// Logs [`line`] every `every` until `shutdown`.
pub async fn run(
    exporter: Exporter,
    metrics: PipelineMetrics,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await; // the first tick is immediate: nothing to say yet
    let mut before = messages_by_outcome(&metrics);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = messages_by_outcome(&metrics);
        let (down, schools) = exporter.schools_down();
        let backlog = spool_backlog(&metrics);
        tracing::info!(
            "{}",
            line(&before, &now, every.as_secs_f64(), down, schools, backlog)
        );
        before = now;
    }
}

/// `schoolnet_collector_messages_total` summed over routes, by outcome.
fn messages_by_outcome(metrics: &PipelineMetrics) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for family in metrics.messages.collect() {
        for m in family.get_metric() {
            let outcome = m
                .get_label()
                .iter()
                .find(|l| l.name() == "outcome")
                .map(|l| l.value().to_string())
                .unwrap_or_default();
            *out.entry(outcome).or_default() += m.get_counter().get_value() as u64;
        }
    }
    out
}

/// Records the spool holds for its sinks; `None` without a spool.
fn spool_backlog(metrics: &PipelineMetrics) -> Option<i64> {
    let families = metrics.spool_backlog_records.collect();
    let values: Vec<i64> = families
        .iter()
        .flat_map(|f| f.get_metric())
        .map(|m| m.get_gauge().get_value() as i64)
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// `summary: 148.2 msg/s (ok 140.1, partial 0.5, rejected 2.0), 3 of 216
/// schools down, spool backlog 0 records`.
fn line(
    before: &BTreeMap<String, u64>,
    now: &BTreeMap<String, u64>,
    secs: f64,
    down: usize,
    schools: usize,
    backlog: Option<i64>,
) -> String {
    let rates: Vec<(&str, f64)> = now
        .iter()
        .map(|(outcome, n)| {
            let then = before.get(outcome).copied().unwrap_or(0);
            (outcome.as_str(), n.saturating_sub(then) as f64 / secs)
        })
        .filter(|(_, r)| *r > 0.0)
        .collect();
    let total = rates.iter().fold(0.0, |sum, (_, r)| sum + r);
    let by_outcome: Vec<String> = rates.iter().map(|(o, r)| format!("{o} {r:.1}")).collect();
    let spool = match backlog {
        Some(n) => format!(", spool backlog {n} records"),
        None => String::new(),
    };
    format!(
        "summary: {total:.1} msg/s ({}), {down} of {schools} schools down{spool}",
        if by_outcome.is_empty() {
            "none".to_string()
        } else {
            by_outcome.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_gives_rates_by_outcome_schools_down_and_the_backlog() {
        let before = BTreeMap::from([("ok".to_string(), 1_000), ("rejected".to_string(), 10)]);
        let now = BTreeMap::from([
            ("ok".to_string(), 7_000),
            ("rejected".to_string(), 70),
            ("ignored".to_string(), 0),
        ]);
        assert_eq!(
            line(&before, &now, 60.0, 3, 216, Some(12)),
            "summary: 101.0 msg/s (ok 100.0, rejected 1.0), 3 of 216 schools down, spool backlog 12 records"
        );
        assert_eq!(
            line(&now, &now, 60.0, 0, 216, None),
            "summary: 0.0 msg/s (none), 0 of 216 schools down"
        );
    }
}
