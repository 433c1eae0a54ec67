//! `deploy/inventory/generate.py`, the synthetic inventory generator behind
//! the sample and the scale benchmark (`scripts/bench-scale.sh`): its
//! defaults reproduce the shipped sample byte for byte, a 30,000-school
//! inventory loads in the collector with the shape the benchmark needs, the
//! output is deterministic, and bad arguments are refused by name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use collector::inventory::{Inventory, Role};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn generate(out: &Path, args: &[&str]) -> Output {
    let python = testkit::tool("/usr/bin/python3", "python3");
    Command::new(python)
        .arg(repo().join("deploy/inventory/generate.py"))
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .expect("run deploy/inventory/generate.py")
}

fn generate_ok(out: &Path, args: &[&str]) {
    let o = generate(out, args);
    assert!(
        o.status.success(),
        "generate.py {args:?}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(dir: &Path) -> Inventory {
    Inventory::load(&dir.join("schools.csv"), &dir.join("devices.csv"))
        .unwrap_or_else(|e| panic!("generated inventory in {}: {e}", dir.display()))
}

#[test]
fn defaults_regenerate_the_shipped_sample_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    generate_ok(dir.path(), &[]);
    for file in ["schools.csv", "devices.csv"] {
        let shipped = read(repo().join("deploy/inventory").join(file));
        let regenerated = read(dir.path().join(file));
        if let Some((n, (a, b))) = shipped
            .lines()
            .zip(regenerated.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
        {
            panic!("{file} line {}: shipped {a:?}, regenerated {b:?}", n + 1);
        }
        assert_eq!(shipped, regenerated, "{file}: same lines, different bytes");
    }
    let sample = load(dir.path());
    assert_eq!(sample.schools().len(), 216);
    assert_eq!(sample.devices().len(), 440);
}

#[test]
fn thirty_thousand_schools_in_a_hundred_districts_load_with_the_benchmark_cadence() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--schools",
        "30000",
        "--districts",
        "100",
        "--router-interval",
        "60",
        "--ont-interval",
        "120",
        "--olt-interval",
        "120",
    ];
    generate_ok(dir.path(), &args);
    let inv = load(dir.path());
    assert_eq!(inv.schools().len(), 30_000);
    assert_eq!(
        inv.devices().len(),
        60_100,
        "a router and an ONT per school, an OLT per district"
    );
    assert_eq!(inv.schools()[0].id.as_ref(), "NX-00001");
    assert_eq!(inv.schools()[29_999].id.as_ref(), "NX-30000");

    let districts = inv.districts();
    assert_eq!(districts.len(), 100, "district names are unique");
    let slugs: BTreeSet<String> = districts
        .iter()
        .map(|d| d.to_lowercase().replace(' ', "-"))
        .collect();
    assert_eq!(slugs.len(), 100, "OLT ids (from district names) are unique");

    let mut per_district: BTreeMap<&str, usize> = BTreeMap::new();
    for s in inv.schools() {
        *per_district.entry(s.district.as_ref()).or_default() += 1;
        assert!(
            (38.80..=39.72).contains(&s.lat) && (44.80..=46.20).contains(&s.lon),
            "{} at {},{} is outside the region",
            s.id,
            s.lat,
            s.lon
        );
    }
    let (smallest, largest) = (
        per_district.values().min().unwrap(),
        per_district.values().max().unwrap(),
    );
    assert!(
        *smallest >= 50 && *largest <= 1_000,
        "district sizes {smallest}..{largest}"
    );
    // Spread: schools are not piled on a few points.
    let cells: BTreeSet<(i64, i64)> = inv
        .schools()
        .iter()
        .map(|s| ((s.lat * 20.0) as i64, (s.lon * 20.0) as i64))
        .collect();
    assert!(
        cells.len() > 200,
        "only {} 0.05° cells hold schools",
        cells.len()
    );

    let mut olts_by_district: BTreeMap<&str, usize> = BTreeMap::new();
    for d in inv.devices() {
        let (interval, parent_role) = match d.role {
            Role::Router => (60, Some(Role::Ont)),
            Role::Ont => (120, Some(Role::Olt)),
            Role::Olt => (120, None),
            other => panic!("{}: unexpected role {other:?}", d.id),
        };
        assert_eq!(
            d.expected_interval,
            Duration::from_secs(interval),
            "{}",
            d.id
        );
        let parent = d
            .parent
            .as_deref()
            .map(|p| inv.device(p).expect("parent exists").role);
        assert_eq!(parent, parent_role, "{}'s parent", d.id);
        if d.role == Role::Olt {
            *olts_by_district
                .entry(d.school.district.as_ref())
                .or_default() += 1;
        } else if d.role == Role::Ont {
            let olt = inv.device(d.parent.as_deref().unwrap()).unwrap();
            assert_eq!(
                olt.school.district, d.school.district,
                "{} is fed from its district",
                d.id
            );
        }
    }
    assert_eq!(olts_by_district.len(), 100);
    assert!(
        olts_by_district.values().all(|&n| n == 1),
        "one OLT per district"
    );
}

#[test]
fn olt_fanout_splits_districts_and_output_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = [
        "--schools",
        "1000",
        "--districts",
        "12",
        "--olt-fanout",
        "32",
        "--seed",
        "7",
    ];
    generate_ok(a.path(), &args);
    generate_ok(b.path(), &args);
    for file in ["schools.csv", "devices.csv"] {
        assert_eq!(
            read(a.path().join(file)),
            read(b.path().join(file)),
            "{file} differs between runs"
        );
    }
    let inv = load(a.path());
    assert_eq!(inv.schools().len(), 1000);
    assert_eq!(inv.districts().len(), 12);
    let mut fed: BTreeMap<&str, usize> = BTreeMap::new();
    for d in inv.devices().iter().filter(|d| d.role == Role::Ont) {
        *fed.entry(d.parent.as_deref().unwrap()).or_default() += 1;
    }
    assert!(
        fed.values().all(|&n| n <= 32),
        "an OLT feeds at most --olt-fanout schools: {fed:?}"
    );
    let olts = inv.devices().iter().filter(|d| d.role == Role::Olt).count();
    assert_eq!(olts, fed.len(), "every OLT feeds schools");
    assert!(
        olts >= 1000 / 32,
        "{olts} OLTs for 1,000 schools at fan-out 32"
    );
}

#[test]
fn bad_arguments_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (&["--schools", "5", "--districts", "9"][..], "--schools"),
        (&["--districts", "0"][..], "--districts"),
        (&["--olt-fanout", "-1"][..], "--olt-fanout"),
    ] {
        let o = generate(dir.path(), args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} accepted");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
    assert!(
        !dir.path().join("schools.csv").exists(),
        "nothing written on error"
    );
}
