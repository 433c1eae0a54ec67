use std::collections::HashSet;
use std::path::Path;

use super::*;
use crate::config::{compile_routes, default_routes};

fn sample() -> Inventory {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/inventory");
    Inventory::load(&dir.join("schools.csv"), &dir.join("devices.csv")).unwrap()
}

fn shard(index: u32, count: u32) -> ShardConfig {
    ShardConfig { index, count }
}

#[test]
fn the_sample_has_one_failure_domain_per_district() {
    let inv = sample();
    let domains = failure_domains(&inv);
    assert_eq!(domains.len(), 216);
    let keys: HashSet<&str> = domains.values().copied().collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
    for s in inv.schools() {
        let first = inv
            .schools()
            .iter()
            .find(|o| o.district == s.district)
            .unwrap();
        assert_eq!(domains[&*s.id], domains[&*first.id], "{}", s.id);
    }
}

#[test]
fn one_instance_owns_everything() {
    let inv = sample();
    let p = partition(&inv, ShardConfig::default());
    assert_eq!(p.owned.schools().len(), 216);
    assert_eq!(p.owned.devices().len(), inv.devices().len());
    assert!(p.foreign_devices.is_empty());
    assert_eq!((p.domains_owned, p.domains_total), (8, 8));
}

#[test]
fn instances_split_schools_without_overlap_or_gap_and_keep_devices_with_their_school() {
    let inv = sample();
    for count in [2, 3, 5] {
        let mut seen = HashSet::new();
        let mut devices = 0;
        for index in 0..count {
            let p = partition(&inv, shard(index, count));
            for s in p.owned.schools() {
                assert!(seen.insert(s.id.clone()), "{} owned twice", s.id);
            }
            for d in p.owned.devices() {
                assert!(p.owned.school(d.school_id()).is_some());
                assert!(!p.foreign_devices.contains(&d.id));
            }
            assert_eq!(
                p.owned.devices().len() + p.foreign_devices.len(),
                inv.devices().len()
            );
            devices += p.owned.devices().len();
        }
        assert_eq!(seen.len(), 216, "count {count}");
        assert_eq!(devices, inv.devices().len());
    }
}

#[test]
fn every_instance_of_two_or_three_gets_part_of_the_sample() {
    // The scale-out test runs three instances on the sample inventory.
    for count in [2, 3] {
        for index in 0..count {
            let p = partition(&sample(), shard(index, count));
            assert!(
                p.domains_owned > 0,
                "instance {index} of {count} owns nothing"
            );
        }
    }
}

#[test]
fn a_school_behind_another_schools_olt_shares_its_domain() {
    let inv = Inventory::from_csv_text(
        "school_id,name,district,lat,lon,uplink_mbps\n\
         A,a,D,0,0,100\nB,b,D,0,0,100\nC,c,E,0,0,100\n",
        "device_id,school_id,role,expected_interval_s,parent\n\
         olt-a,A,olt,60,\nrtr-b,B,router,10,olt-a\nrtr-c,C,router,10,\n",
    )
    .unwrap();
    let d = failure_domains(&inv);
    assert_eq!((d["A"], d["B"], d["C"]), ("A", "A", "C"));
}

#[test]
fn owners_are_fixed_and_growing_moves_keys_only_to_the_new_instance() {
    // Golden: a hash change would silently move every school on upgrade.
    // (The sample's three-instance split is 66 / 74 / 76 schools.)
    let sample_keys = ["NX-001", "NX-075", "NX-107", "NX-133"];
    assert_eq!(sample_keys.map(|k| owner(k, 3)), [1, 0, 2, 2]);
    let keys: Vec<String> = (0..1000).map(|i| format!("NX-{i:05}")).collect();
    for count in 1..6 {
        let mut per = vec![0; count as usize];
        for k in &keys {
            let before = owner(k, count);
            let after = owner(k, count + 1);
            assert!(after == before || after == count, "{k}: {before} → {after}");
            per[before as usize] += 1;
        }
        let fair = 1000 / count as usize;
        assert!(
            per.iter().all(|&n| n > fair * 7 / 10 && n < fair * 13 / 10),
            "{count}: {per:?}"
        );
    }
}

#[test]
fn device_filters_name_each_owned_device_in_each_route() {
    let routes = compile_routes(&default_routes()).unwrap();
    let inv = sample();
    let rtr = inv.device("rtr-nx-001").unwrap().clone();
    let filters = device_filters(&routes, &[rtr]);
    assert!(
        filters.contains(&"collectd/rtr-nx-001/+/+".to_string()),
        "{filters:?}"
    );
    assert!(
        filters.contains(&"tele/rtr-nx-001/LWT".to_string()),
        "{filters:?}"
    );
    assert_eq!(
        filters.len(),
        routes.routes().len(),
        "one per route: {filters:?}"
    );
    for f in &filters {
        crate::route::validate_filter(f).unwrap();
    }
}
