use std::collections::HashSet;
use std::path::Path;

use super::*;
use crate::config::{compile_routes, default_routes};

fn sample() -> Inventory {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/inventory");
    Inventory::load(&dir.join("schools.csv"), &dir.join("devices.csv")).unwrap()
}

fn shard(index: u32, count: u32) -> ShardConfig {
    ShardConfig {
        index,
        count,
        ..ShardConfig::default()
    }
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
    assert_eq!(p.ownership.foreign_devices(), 0);
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
                assert!(p.ownership.owns(&d.id, || true));
            }
            assert_eq!(
                p.owned.devices().len() + p.ownership.foreign_devices(),
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

#[test]
fn wildcard_subscriptions_are_the_routes_filters_and_per_device_ones_name_devices() {
    let routes = compile_routes(&default_routes()).unwrap();
    let inv = sample();
    let wildcard = shard(1, 3);
    assert_eq!(filters(wildcard, &routes, inv.devices()), routes.filters());
    let per_device = ShardConfig {
        subscribe: Subscribe::PerDevice,
        ..wildcard
    };
    assert_eq!(
        filters(per_device, &routes, inv.devices()),
        device_filters(&routes, inv.devices())
    );
    // Unsharded, the setting changes nothing.
    let alone = ShardConfig {
        subscribe: Subscribe::PerDevice,
        ..ShardConfig::default()
    };
    assert_eq!(filters(alone, &routes, inv.devices()), routes.filters());
}

#[test]
fn each_device_is_owned_by_exactly_one_instance_listed_or_not() {
    let inv = sample();
    let count = 4;
    let parts: Vec<Partition> = (0..count)
        .map(|i| partition(&inv, shard(i, count)))
        .collect();
    let unknown = (0..200).map(|i| format!("rtr-unlisted-{i}"));
    let listed = inv.devices().iter().map(|d| d.id.to_string());
    let mut per_instance = vec![0; count as usize];
    for device in listed.chain(unknown) {
        let owners: Vec<usize> = parts
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.ownership
                    .owns(&device, || p.owned.device(&device).is_some())
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(owners.len(), 1, "{device}: {owners:?}");
        if device.contains("unlisted") {
            per_instance[owners[0]] += 1;
        } else {
            assert!(parts[owners[0]].owned.device(&device).is_some());
        }
    }
    // Unknown devices spread by hash: every instance rejects some.
    assert!(per_instance.iter().all(|&n| n > 20), "{per_instance:?}");
}

/// A generated inventory: `districts` failure domains (one OLT each) of
/// unequal size, `schools` schools with an ONT and a router each, in an
/// order that interleaves the districts (as a real export might).
fn generated(schools: usize, districts: usize, seed: u64) -> Inventory {
    // Skewed sizes: district d gets a share ∝ 1 + (d * 7919 + seed) % 10,
    // i.e. the largest about ten times the smallest.
    let shares: Vec<usize> = (0..districts)
        .map(|d| 1 + (d * 7919 + seed as usize) % 10)
        .collect();
    let total: usize = shares.iter().sum();
    let mut sizes: Vec<usize> = shares.iter().map(|s| s * schools / total).collect();
    let short = schools - sizes.iter().sum::<usize>();
    for size in sizes.iter_mut().take(short) {
        *size += 1;
    }
    let mut school_rows = String::from("school_id,name,district,lat,lon,uplink_mbps\n");
    let mut device_rows = String::from("device_id,school_id,role,expected_interval_s,parent\n");
    let mut left = sizes.clone();
    let mut n = 0;
    while n < schools {
        for (d, left) in left.iter_mut().enumerate() {
            if *left == 0 {
                continue;
            }
            let school = format!("S{d:03}-{:05}", sizes[d] - *left);
            school_rows.push_str(&format!("{school},s,D{d:03},0,0,100\n"));
            if *left == sizes[d] {
                device_rows.push_str(&format!("olt-{d},{school},olt,60,\n"));
            }
            device_rows.push_str(&format!("ont-{school},{school},ont,30,olt-{d}\n"));
            device_rows.push_str(&format!("rtr-{school},{school},router,10,ont-{school}\n"));
            *left -= 1;
            n += 1;
        }
    }
    Inventory::from_csv_text(&school_rows, &device_rows).unwrap()
}

#[test]
fn thirty_thousand_schools_in_a_hundred_unequal_districts_balance_within_1_2() {
    let inv = generated(30_000, 100, 3);
    assert_eq!(inv.devices().len(), 60_100);
    let domains = failure_domains(&inv);
    let weighed = plan::weigh(&inv, &domains);
    assert_eq!(weighed.len(), 100);
    let heaviest = weighed.iter().map(|d| d.weight).max().unwrap();
    let lightest = weighed.iter().map(|d| d.weight).min().unwrap();
    assert!(
        heaviest > 8 * lightest,
        "{heaviest} vs {lightest}: not skewed"
    );
    for count in 2..=6 {
        let parts: Vec<Partition> = (0..count)
            .map(|i| partition(&inv, shard(i, count)))
            .collect();
        let schools: Vec<usize> = parts.iter().map(|p| p.owned.schools().len()).collect();
        let devices: Vec<usize> = parts.iter().map(|p| p.owned.devices().len()).collect();
        assert_eq!(schools.iter().sum::<usize>(), 30_000);
        assert_eq!(
            parts[0].loads,
            devices.iter().map(|&d| d as u64).collect::<Vec<_>>()
        );
        let ratio = |v: &[usize]| *v.iter().max().unwrap() as f64 / *v.iter().min().unwrap() as f64;
        eprintln!(
            "{count} instances: schools {schools:?} ({:.3}×), devices {devices:?} ({:.3}×)",
            ratio(&schools),
            ratio(&devices)
        );
        assert!(ratio(&devices) <= 1.2, "{count}: devices {devices:?}");
        assert!(ratio(&schools) <= 1.2, "{count}: schools {schools:?}");
    }
}

#[test]
fn lpt_bound_the_heaviest_exceeds_the_lightest_by_at_most_its_smallest_domain() {
    for seed in 0..20u64 {
        // Weights from a small LCG, 1..=1000.
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let keys: Vec<String> = (0..100).map(|i| format!("K{i:03}")).collect();
        let domains: Vec<plan::Domain> = keys
            .iter()
            .map(|k| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                plan::Domain {
                    key: k,
                    weight: 1 + (x >> 33) % 1000,
                }
            })
            .collect();
        for count in 1..=8u32 {
            let (owners, loads) = plan::assign(&domains, count);
            let heaviest = (0..count as usize).max_by_key(|&i| loads[i]).unwrap();
            let smallest_there = domains
                .iter()
                .filter(|d| owners[d.key] as usize == heaviest)
                .map(|d| d.weight)
                .min()
                .unwrap();
            let spread = loads[heaviest] - loads.iter().min().unwrap();
            assert!(
                spread <= smallest_there,
                "seed {seed}, {count}: {loads:?}, smallest on the heaviest {smallest_there}"
            );
            assert_eq!(
                loads.iter().sum::<u64>(),
                domains.iter().map(|d| d.weight).sum::<u64>()
            );
        }
    }
}

#[test]
fn the_plan_does_not_depend_on_file_order() {
    let inv = generated(3_000, 40, 1);
    let mut schools: Vec<School> = inv.schools().iter().map(|s| School::clone(s)).collect();
    let mut devices: Vec<_> = inv.devices().iter().map(|d| (**d).clone()).collect();
    schools.reverse();
    devices.reverse();
    let reversed = Inventory::from_parts(schools, devices);
    for index in 0..3 {
        let a = partition(&inv, shard(index, 3));
        let b = partition(&reversed, shard(index, 3));
        let ids = |p: &Partition| {
            let mut v: Vec<String> = p.owned.schools().iter().map(|s| s.id.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(ids(&a), ids(&b), "instance {index}");
    }
}

#[test]
fn per_device_subscriptions_refuse_device_ids_with_wildcards_wildcard_ones_do_not() {
    let routes = compile_routes(&default_routes()).unwrap();
    let inv = Inventory::from_csv_text(
        "school_id,name,district,lat,lon,uplink_mbps\nA,a,D,0,0,100\n",
        "device_id,school_id,role,expected_interval_s,parent\nrtr+a,A,router,10,\n",
    )
    .unwrap();
    let wildcard = shard(0, 2);
    wildcard.validate(&routes, &inv).unwrap();
    let per_device = ShardConfig {
        subscribe: Subscribe::PerDevice,
        ..wildcard
    };
    let e = per_device.validate(&routes, &inv).unwrap_err().to_string();
    assert!(e.contains("rtr+a") && e.contains("per_device"), "{e}");
}
