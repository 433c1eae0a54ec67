//! The series budget (issue #22 A): at the default detail level the live
//! families of a national-scale exporter stay within 20 series per school.
//!
//! Measured on the inventory the issue measured: 30,000 schools in 100
//! districts (one OLT each), a router and an ONT per school (60,100
//! devices), fed by the fleet simulator through the collector's pipeline
//! until every series exists (`benches/support`). Prints the count per
//! family, so a change that grows one shows where.

#[allow(dead_code)] // the benches use the rest
#[path = "../benches/support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use collector::config::{Detail, ExporterConfig};

const SCHOOLS: usize = 30_000;
const BUDGET_PER_SCHOOL: f64 = 20.0;

/// Series per family name in a rendered exposition (comments skipped).
fn series_per_family(text: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        *out.entry(name.to_string()).or_default() += 1;
    }
    out
}

fn report(what: &str, families: &BTreeMap<String, usize>, schools: usize) -> usize {
    let total: usize = families.values().sum();
    eprintln!(
        "{what}: {total} series, {:.2} per school",
        total as f64 / schools as f64
    );
    for (name, n) in families {
        eprintln!("  {name:60} {n:>9} {:>6.2}", *n as f64 / schools as f64);
    }
    total
}

#[test]
fn national_inventory_stays_within_the_series_budget_at_standard_detail() {
    let fed = support::fed_exporter_with(
        support::generated_inventory(SCHOOLS),
        ExporterConfig::default(),
    );
    let standard = series_per_family(&fed.exporter.render());
    let total = report("detail = standard", &standard, SCHOOLS);
    let per_school = total as f64 / SCHOOLS as f64;
    assert!(
        per_school <= BUDGET_PER_SCHOOL,
        "{total} series for {SCHOOLS} schools = {per_school:.2} per school, over the budget of {BUDGET_PER_SCHOOL}"
    );
    // Every school is there, with its current state only.
    assert_eq!(standard["schoolnet_school_info"], SCHOOLS);
    assert_eq!(standard["schoolnet_school_state"], SCHOOLS);
    // What the alerts read is kept (the simulator's routers send no
    // oper status: schoolnet_interface_oper_up is checked in the catalogue's
    // unit test; in the field it adds one series per router interface).
    for family in [
        "schoolnet_school_up",
        "schoolnet_school_outages_total",
        "schoolnet_device_up",
        "schoolnet_interface_utilization_ratio",
        "schoolnet_interface_receive_bytes_total",
        "schoolnet_optical_receive_power_dbm",
        "schoolnet_probe_loss_ratio",
    ] {
        assert!(
            standard.contains_key(family),
            "{family} missing at standard"
        );
    }
}

#[test]
fn full_detail_exports_every_family() {
    // A smaller inventory: the point is which families appear, not scale.
    let schools = 600;
    let config = ExporterConfig {
        detail: Detail::Full,
        ..ExporterConfig::default()
    };
    let fed = support::fed_exporter_with(support::generated_inventory(schools), config);
    let full = series_per_family(&fed.exporter.render());
    report("detail = full", &full, schools);
    let standard = series_per_family(
        &support::fed_exporter_with(
            support::generated_inventory(schools),
            ExporterConfig::default(),
        )
        .exporter
        .render(),
    );
    for (name, n) in &standard {
        assert!(
            full.get(name).is_some_and(|f| f >= n),
            "{name}: full must export at least what standard does"
        );
    }
    assert_eq!(
        full["schoolnet_school_state"],
        schools * 9,
        "one-hot at full"
    );
    for family in [
        "schoolnet_interface_receive_bytes_per_second",
        "schoolnet_optical_temperature_celsius",
        "schoolnet_device_memory_total_bytes",
    ] {
        assert!(full.contains_key(family), "{family} missing at full");
        assert!(
            !standard.contains_key(family),
            "{family} exported at standard"
        );
    }
}
