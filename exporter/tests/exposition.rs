//! The `/metrics` text: golden files for the live-state families at each
//! detail level, and `promtool check metrics` on the full output (pipeline
//! metrics included).
//!
//! `UPDATE_GOLDEN=1 cargo test -p exporter --test exposition` rewrites the
//! golden files; review the diff before committing it.

mod common;

use std::path::{Path, PathBuf};

use collector::config::{Detail, ExporterConfig};
use collector::metrics::PipelineMetrics;
use prometheus::Registry;

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// The fixture's exposition at the default detail level.
#[test]
fn exposition_matches_golden_file() {
    let f = common::isolated();
    f.feed();
    assert_golden("exposition.prom", &f.exporter.render());
}

/// The same at `detail = "full"`: every family, the one-hot state set.
#[test]
fn full_detail_exposition_matches_golden_file() {
    let config = ExporterConfig {
        detail: Detail::Full,
        ..ExporterConfig::default()
    };
    let f = common::fixture_with(Registry::new(), PipelineMetrics::unregistered(), config);
    f.feed();
    assert_golden("exposition-full.prom", &f.exporter.render());
}

fn assert_golden(name: &str, rendered: &str) {
    let text = common::without_scrape_duration(rendered);
    let path = golden_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, &text).expect("write golden file");
        return;
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if text != golden {
        let first = text
            .lines()
            .zip(golden.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| text.lines().count().min(golden.lines().count()));
        panic!(
            "exposition differs from {} at line {}:\n  got:      {:?}\n  expected: {:?}\n\
             (UPDATE_GOLDEN=1 rewrites the file; review the diff)\n--- full output ---\n{text}",
            path.display(),
            first + 1,
            text.lines().nth(first),
            golden.lines().nth(first),
        );
    }
}

#[test]
fn rendering_is_deterministic_and_keeps_series_of_silent_devices() {
    let f = common::isolated();
    f.feed();
    let a = common::without_scrape_duration(&f.exporter.render());
    let b = common::without_scrape_duration(&f.exporter.render());
    assert_eq!(a, b);

    // An hour of silence: every device is stale, every series stays.
    f.clock.advance(3600.0);
    let later = common::without_scrape_duration(&f.exporter.render());
    let series = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| !l.contains("_up{") && !l.contains("_state{"))
            .count()
    };
    assert_eq!(series(&a), series(&later));
    assert!(later.contains("schoolnet_school_up{school=\"NX-001\",district=\"Babek\"} 0\n"));
    assert!(later.contains(
        "schoolnet_school_state{school=\"NX-001\",district=\"Babek\",state=\"down\",cause=\"stale\"} 1\n"
    ));
    assert!(later.contains(
        "schoolnet_school_outage_started_timestamp_seconds{school=\"NX-001\",district=\"Babek\"} "
    ));
    assert!(
        later.contains("schoolnet_school_outages_total{school=\"NX-001\",district=\"Babek\"} 1\n")
    );
    assert!(later.contains("schoolnet_interface_receive_bytes_total{school=\"NX-001\",district=\"Babek\",device=\"rtr-001\",interface=\"wan\"} 123456789012\n"));
}

#[test]
fn scrape_duration_is_exported() {
    let f = common::isolated();
    let first = f.exporter.render();
    assert!(first.contains("# TYPE schoolnet_exporter_scrape_duration_seconds gauge\n"));
    let second = f.exporter.render();
    let value: f64 = second
        .lines()
        .find_map(|l| l.strip_prefix("schoolnet_exporter_scrape_duration_seconds "))
        .expect("scrape duration sample")
        .parse()
        .unwrap();
    assert!(value > 0.0 && value < 10.0, "{value}");
}

#[test]
fn every_school_is_exported_before_any_message() {
    let f = common::isolated();
    let text = f.exporter.render();
    for school in ["NX-001", "NX-002", "NX-003"] {
        assert!(
            text.contains(&format!("schoolnet_school_info{{school=\"{school}\"")),
            "{school}"
        );
        assert!(
            text.contains(&format!("schoolnet_school_state{{school=\"{school}\"")),
            "{school}"
        );
    }
    // Never heard from: not up, even within the grace period (which the
    // alert rules read from schoolnet_exporter_startup_grace).
    assert!(
        text.contains("schoolnet_school_up{school=\"NX-003\",district=\"Ordubad\"} 0\n"),
        "unknown is not up"
    );
    assert!(text.contains("\nschoolnet_exporter_startup_grace 1\n"));
    assert!(text.contains("schoolnet_school_outage_started_timestamp_seconds{school=\"NX-003\",district=\"Ordubad\"} 0\n"));
    assert!(!text.contains("last_seen_timestamp_seconds{"));
    // After the grace period an unknown school counts as down (an outage).
    f.clock.advance(120.0);
    let text = f.exporter.render();
    assert!(text.contains("\nschoolnet_exporter_startup_grace 0\n"));
    assert!(!text.contains("schoolnet_school_outage_started_timestamp_seconds{school=\"NX-003\",district=\"Ordubad\"} 0\n"));
    assert!(text.contains("schoolnet_school_up{school=\"NX-003\",district=\"Ordubad\"} 0\n"));
    assert!(text.contains(
        "schoolnet_school_state{school=\"NX-003\",district=\"Ordubad\",state=\"unknown\",cause=\"\"} 1\n"
    ));
}

#[test]
fn promtool_check_metrics_reports_nothing() {
    // The real thing: pipeline metrics and the exporter's in one registry,
    // with a few pipeline series so their families are not empty.
    let registry = Registry::new();
    let metrics = PipelineMetrics::new(&registry);
    metrics
        .messages
        .with_label_values(&["collectd", "ok"])
        .inc();
    metrics
        .rejected
        .with_label_values(&["collectd", "parse_error"])
        .inc();
    metrics.lag_seconds.observe(0.2);
    let f = common::fixture(registry, metrics);
    f.feed();
    let text = f.exporter.render();
    assert!(
        text.contains("schoolnet_collector_messages_total{"),
        "pipeline metrics are rendered"
    );

    if let Err(report) = testkit::promtool_check_metrics(&text) {
        panic!("promtool check metrics:\n{report}\n--- input ---\n{text}");
    }
}

#[test]
#[should_panic(expected = "cannot register the exporter's metrics")]
fn a_pipeline_metric_clashing_with_a_live_family_fails_at_start() {
    let registry = Registry::new();
    let clash = prometheus::IntGauge::new("schoolnet_school_up", "clash").unwrap();
    registry.register(Box::new(clash)).unwrap();
    common::fixture(registry, PipelineMetrics::unregistered());
}

#[test]
fn values_of_devices_outside_the_inventory_are_counted() {
    let f = common::isolated();
    let other = collector::inventory::Inventory::from_csv_text(
        common::SCHOOLS,
        "device_id,school_id,role,expected_interval_s,parent\nghost,NX-001,router,10,\n",
    )
    .unwrap();
    let ghost = other.device("ghost").unwrap().clone();
    f.exporter.record_samples(&[collector::sample::Sample {
        measurement: collector::sample::Measurement::System,
        time_ns: 1,
        device: ghost.clone(),
        key: None,
        fields: vec![
            (
                collector::sample::Field::CpuRatio,
                collector::sample::FieldValue::Float(0.5),
            ),
            (
                collector::sample::Field::Load1,
                collector::sample::FieldValue::Float(0.5),
            ),
        ],
    }]);
    f.exporter.record_status(&collector::sample::StatusEvent {
        device: ghost,
        online: true,
        time_ns: 1,
    });
    let text = f.exporter.render();
    assert!(
        text.contains("schoolnet_exporter_dropped_values_total{reason=\"unknown_device\"} 3\n"),
        "{text}"
    );
    assert!(!text.contains("ghost"));
}

/// `schoolnet_device_parent_info` names a device's shared upstream parent
/// (its OLT, or another school's device), what UpstreamDown lists the
/// schools behind; a school's own chain (router → its ONT) is left out.
#[test]
fn parent_info_names_shared_upstream_devices_only() {
    use std::sync::Arc;

    use collector::config::ExporterConfig;
    use collector::deadletter::DeadLetters;
    use collector::inventory::Inventory;
    use exporter::{Exporter, ManualClock};

    let devices = "device_id,school_id,role,expected_interval_s,parent,wan_interface\n\
        olt-babek,NX-001,olt,60,,\n\
        ont-001,NX-001,ont,60,olt-babek,\n\
        rtr-001,NX-001,router,10,ont-001,wan\n\
        ont-002,NX-002,ont,60,olt-babek,\n\
        rtr-002,NX-002,router,10,ont-002,wan\n\
        rtr-003,NX-003,router,10,rtr-001,wan\n";
    let inventory = Arc::new(Inventory::from_csv_text(common::SCHOOLS, devices).unwrap());
    let exporter = Exporter::with_clock(
        inventory,
        Registry::new(),
        PipelineMetrics::unregistered(),
        Arc::new(DeadLetters::new(3)),
        ExporterConfig::default(),
        Arc::new(ManualClock::new(1_700_000_000.0)),
    );
    let text = exporter.render();
    let parents: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("schoolnet_device_parent_info{"))
        .collect();
    assert_eq!(
        parents,
        [
            r#"schoolnet_device_parent_info{school="NX-001",district="Babek",device="ont-001",parent="olt-babek"} 1"#,
            r#"schoolnet_device_parent_info{school="NX-002",district="Julfa",device="ont-002",parent="olt-babek"} 1"#,
            r#"schoolnet_device_parent_info{school="NX-003",district="Ordubad",device="rtr-003",parent="rtr-001"} 1"#,
        ]
    );
}
