//! Settings of the running config that the alert rules' texts need, as
//! metrics: Prometheus only knows what it scrapes, so an annotation that
//! says "3 x the expected interval" or links to Grafana reads them with the
//! template function `query` (deploy/prometheus/rules/schoolnet-alerts.yml).
//!
//! - `schoolnet_exporter_stale_factor`: `[exporter] stale_factor`.
//! - `schoolnet_exporter_links_info{grafana_url, runbook_url}` = 1:
//!   `[exporter] grafana_url` and `runbook_url`, empty when not set (the
//!   rules then fall back to relative links).

use collector::config::ExporterConfig;
use prometheus::core::Collector;
use prometheus::{Gauge, IntGaugeVec, Opts};

/// The alert-context metrics of one exporter config (fixed until restart:
/// `[exporter]` changes need one).
pub(crate) fn collectors(config: &ExporterConfig) -> Vec<Box<dyn Collector>> {
    let stale_factor = Gauge::new(
        "schoolnet_exporter_stale_factor",
        "exporter.stale_factor: a device is stale after this many times its expected interval (read by the alert texts).",
    )
    .expect("valid metric");
    stale_factor.set(config.stale_factor);
    let links = IntGaugeVec::new(
        Opts::new(
            "schoolnet_exporter_links_info",
            "Base URLs the alert annotations link to (exporter.grafana_url, exporter.runbook_url; empty when not set); always 1.",
        ),
        &["grafana_url", "runbook_url"],
    )
    .expect("valid metric");
    links
        .with_label_values(&[
            // The rules append `/d/<uid>`: no doubled slash.
            config
                .grafana_url
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('/'),
            config.runbook_url.as_deref().unwrap_or(""),
        ])
        .set(1);
    vec![Box::new(stale_factor), Box::new(links)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_config_is_exported() {
        let config = ExporterConfig {
            stale_factor: 5.0,
            grafana_url: Some("https://grafana.example.org/".into()),
            ..ExporterConfig::default()
        };
        let registry = prometheus::Registry::new();
        for c in collectors(&config) {
            registry.register(c).unwrap();
        }
        let mut text = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&registry.gather(), &mut text)
            .unwrap();
        assert!(
            text.contains("schoolnet_exporter_stale_factor 5\n"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"schoolnet_exporter_links_info{grafana_url="https://grafana.example.org",runbook_url=""} 1"#
            ),
            "{text}"
        );
    }
}
