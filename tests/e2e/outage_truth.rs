//! The outage log against a scripted ground truth, with the real binary:
//! `schoolnet run` fed by the simulator over mosquitto, writing to InfluxDB
//! 1.x. An OLT and the 9 schools behind it go silent for 40 s (schools'
//! devices every 2 s, stale after 6 s; the OLT every 10 s), the schools'
//! last reports a few seconds apart as their phases would be, so 8 go stale
//! before the ninth completes "every school behind the OLT is dark": the
//! pattern of issue #20. Asserted: each school's stored outage starts
//! at its router's last sign of life (as `/metrics` reported it), ends when
//! it spoke again, is one outage (counter and `started_at`) and carries
//! `stale` then `upstream_down` exactly as `/metrics` showed; and
//! `schoolnet availability` reports that downtime, split by cause.

use crate::support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, SystemTime};

use collector::inventory::Inventory;
use serde_json::Value;
use simulator::{Fleet, FleetOptions};
use support::{school_states, sum_metric, Collector};
use testkit::{wait_until, InfluxDb1, Mosquitto};

const SCHOOLS: usize = 9;
const INTERVAL_S: f64 = 2.0;
const SILENT_S: f64 = 40.0;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `HUB` hosts the OLT (its only device); `S1`..`S9` hang off the OLT;
/// `X` has its own uplink and never fails.
fn write_inventory(dir: &std::path::Path) -> Inventory {
    let mut schools = String::from("school_id,name,district,lat,lon,uplink_mbps\n");
    let mut devices =
        String::from("device_id,school_id,role,expected_interval_s,parent,wan_interface\n");
    schools += "HUB,Hub,North,39,45,1000\nX,Elsewhere,South,39,45,100\n";
    devices += "olt,HUB,olt,10,,\nrtr-x,X,router,2,,wan\n";
    for k in 1..=SCHOOLS {
        schools += &format!("S{k},School {k},North,39,45,100\n");
        devices += &format!("ont-{k},S{k},ont,2,olt,\nrtr-{k},S{k},router,2,ont-{k},wan\n");
    }
    std::fs::write(dir.join("schools.csv"), schools).unwrap();
    std::fs::write(dir.join("devices.csv"), devices).unwrap();
    Inventory::load(&dir.join("schools.csv"), &dir.join("devices.csv")).unwrap()
}

fn last_seen(metrics: &str, device: &str) -> f64 {
    sum_metric(
        metrics,
        "schoolnet_device_last_seen_timestamp_seconds",
        &[&format!("device=\"{device}\"")],
    )
}

/// The school's router (the OLT for `HUB`): what it is judged by.
fn judged_device(school: &str) -> String {
    match school {
        "HUB" => "olt".into(),
        s => format!("rtr-{}", &s[1..]),
    }
}

/// One stored `outage` point.
#[derive(Debug, Clone)]
struct Stretch {
    cause: String,
    since: f64,
    outage_start: f64,
    duration_s: f64,
    open: bool,
}

/// The stored points per school, in time order.
async fn stored(influx: &InfluxDb1) -> BTreeMap<String, Vec<Stretch>> {
    let body = influx
        .query(
            "schoolnet",
            "SELECT \"duration_s\", \"open\", \"started_at\", \"school\", \"cause\" FROM \"outage\"",
        )
        .await;
    let mut out: BTreeMap<String, Vec<Stretch>> = BTreeMap::new();
    let series = &body["results"][0]["series"][0];
    let Some(columns) = series["columns"].as_array() else {
        return out;
    };
    let col = |name: &str| columns.iter().position(|c| c == name).unwrap();
    for row in series["values"].as_array().into_iter().flatten() {
        out.entry(row[col("school")].as_str().unwrap().to_string())
            .or_default()
            .push(Stretch {
                cause: row[col("cause")].as_str().unwrap().to_string(),
                since: row[col("time")].as_i64().unwrap() as f64 / 1e9,
                outage_start: row[col("started_at")].as_f64().unwrap(),
                duration_s: row[col("duration_s")].as_f64().unwrap(),
                open: row[col("open")].as_bool().unwrap(),
            });
    }
    out
}

fn close(a: f64, b: f64, tolerance: f64, what: &str) {
    assert!(
        (a - b).abs() <= tolerance,
        "{what}: {a} vs {b} (± {tolerance})"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_olt_and_its_nine_schools_silent_are_stored_and_reported_as_they_happened() {
    let inv_dir = tempfile::tempdir().unwrap();
    let inventory = write_inventory(inv_dir.path());
    let broker = Mosquitto::start().await;
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    let extra = format!(
        "[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\n",
        influx.url
    );
    // Per-device last_seen of routers and ONTs: detail = "full".
    let collector = Collector::start_with_env(
        &broker.url,
        Some(inv_dir.path()),
        &extra,
        &[("SCHOOLNET_EXPORTER__DETAIL", "full")],
    )
    .await;
    let fleet = Fleet::new(
        &inventory,
        FleetOptions {
            schools: None,
            seed: 7,
            start: SystemTime::now(),
        },
    );
    let sim = support::InProcessFleet::start(fleet, &broker.url);
    let control = &sim.control;

    let ids: Vec<String> = inventory
        .schools()
        .iter()
        .map(|s| s.id.to_string())
        .collect();
    let all_up = |metrics: &str| {
        let states = school_states(metrics);
        ids.iter().all(|id| {
            states
                .get(id)
                .is_some_and(|(s, _)| s == "up" || s == "degraded")
        })
    };
    wait_until(
        "every school reporting",
        Duration::from_secs(30),
        || async {
            let m = collector.metrics().await;
            if all_up(&m) {
                Ok(())
            } else {
                Err(format!("{:?}", school_states(&m)))
            }
        },
    )
    .await;
    let window_from = unix_now().floor();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // --- The failure: the OLT and everything behind it go silent; the
    // schools' last reports are spread over 3 report slots (S1-S4, S5-S8,
    // S9), as their phases would spread them. ---
    let school_devices = |k: usize| [format!("ont-{k}"), format!("rtr-{k}")];
    let groups: [(f64, Vec<String>); 3] = [
        (
            0.0,
            std::iter::once("olt".to_string())
                .chain((1..=4).flat_map(school_devices))
                .collect(),
        ),
        (2.2, (5..=8).flat_map(school_devices).collect()),
        (4.4, school_devices(9).to_vec()),
    ];
    let silenced = unix_now();
    for (after, devices) in &groups {
        let wait = silenced + after - unix_now();
        tokio::time::sleep(Duration::from_secs_f64(wait.max(0.0))).await;
        for d in devices {
            assert!(control.set_silent(d, true), "{d}");
        }
    }
    let behind_olt: Vec<&String> = groups.iter().flat_map(|(_, d)| d).collect();
    let dark: Vec<&String> = ids.iter().filter(|id| *id != "X").collect();
    wait_until(
        "the OLT's schools upstream_down, HUB stale",
        Duration::from_secs(30),
        || async {
            let states = school_states(&collector.metrics().await);
            let want = |id: &str| match id {
                "X" => states[id].0 != "down",
                "HUB" => states[id] == ("down".into(), "stale".into()),
                _ => states[id] == ("down".into(), "upstream_down".into()),
            };
            if ids.iter().all(|id| want(id)) {
                Ok(())
            } else {
                Err(format!("{states:?}"))
            }
        },
    )
    .await;
    // Silent devices' last signs of life, as /metrics reports them.
    let metrics = collector.metrics().await;
    let last: BTreeMap<&str, f64> = dark
        .iter()
        .map(|id| (id.as_str(), last_seen(&metrics, &judged_device(id))))
        .collect();
    for (id, l) in &last {
        assert!(*l > 0.0 && *l <= silenced + 4.9, "{id} last seen {l}");
    }
    // A school's part of the tree is dark once its ONT or its router is
    // stale (the ONT's only child then is): from the earlier of the two.
    let subtree_last: Vec<f64> = (1..=SCHOOLS)
        .map(|k| {
            let ont = last_seen(&metrics, &format!("ont-{k}"));
            ont.min(last_seen(&metrics, &format!("rtr-{k}")))
        })
        .collect();
    let remaining = silenced + SILENT_S - unix_now();
    tokio::time::sleep(Duration::from_secs_f64(remaining.max(0.0))).await;

    // --- The OLT is back: note each device's first sign of life. ---
    for d in &behind_olt {
        assert!(control.set_silent(d, false), "{d}");
    }
    let mut first: BTreeMap<&str, f64> = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let m = collector.metrics().await;
        for id in &dark {
            let seen = last_seen(&m, &judged_device(id));
            if seen > last[id.as_str()] {
                first.entry(id.as_str()).or_insert(seen);
            }
        }
        if all_up(&m) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every school back: {:?}",
            school_states(&m)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(first.len(), dark.len(), "{first:?}");

    // Every school's outage closed and stored.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let points = loop {
        let points = stored(&influx).await;
        let done = dark.iter().all(|id| {
            points
                .get(id.as_str())
                .is_some_and(|p| p.iter().all(|s| !s.open))
        });
        if done {
            break points;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "outages not closed in InfluxDB: {points:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(!points.contains_key("X"), "X never failed: {points:?}");

    // --- The stored log: start, end and causes of each school. ---
    // The moment every school behind the OLT was dark: when /metrics
    // switched the stale schools to upstream_down.
    let mut all_dark_at: Option<f64> = None;
    let metrics = collector.metrics().await;
    for id in &dark {
        let p = &points[id.as_str()];
        let start = p[0].since;
        close(
            start,
            last[id.as_str()],
            1e-3,
            &format!("{id} starts at its last sign of life"),
        );
        for s in p {
            // `started_at` is a float field: equal to the nanosecond
            // timestamp within a float's precision.
            close(
                s.outage_start,
                start,
                1e-6,
                &format!("{id}: one outage: {p:?}"),
            );
        }
        for w in p.windows(2) {
            close(
                w[0].since + w[0].duration_s,
                w[1].since,
                1e-3,
                &format!("{id}: contiguous"),
            );
        }
        let end = p.last().map(|s| s.since + s.duration_s).unwrap();
        let back = first[id.as_str()];
        assert!(
            end >= back - 1e-3 && end <= back + 1.5,
            "{id}: ends at {end}, spoke again at {back}"
        );
        assert_eq!(
            sum_metric(
                &metrics,
                "schoolnet_school_outages_total",
                &[&format!("school=\"{id}\"")]
            ),
            1.0,
            "{id}: counted once"
        );
        let causes: Vec<&str> = p.iter().map(|s| s.cause.as_str()).collect();
        eprintln!("{id}: {:.3} s down, {causes:?}", end - start);
        if id.as_str() == "HUB" {
            assert_eq!(causes, ["stale"], "the OLT's own school");
            continue;
        }
        // stale until every school behind the OLT was dark (not for the
        // school that completed it), upstream_down while the OLT was, and
        // stale again if the OLT spoke before the school's router did:
        // each as /metrics showed it.
        let mut rest = &p[..];
        let completed_it = id.as_str() == "S9";
        assert_eq!(
            causes[0],
            if completed_it {
                "upstream_down"
            } else {
                "stale"
            },
            "{id}: {causes:?}"
        );
        if !completed_it {
            let at = p[1].since;
            let same = all_dark_at.get_or_insert(at);
            close(
                at,
                *same,
                1e-6,
                &format!("{id}: one switch to upstream_down"),
            );
            rest = &p[1..];
        }
        assert_eq!(rest[0].cause, "upstream_down", "{id}: {causes:?}");
        match rest {
            [_] => {}
            [_, tail] if tail.cause == "stale" => {
                let olt_back = first["HUB"];
                assert!(
                    tail.since >= olt_back - 1e-3 && tail.since <= olt_back + 1.5,
                    "{id}: stale again at {}, the OLT spoke again at {olt_back}",
                    tail.since
                );
                assert!(back > olt_back, "{id} spoke before the OLT: {causes:?}");
            }
            _ => panic!("{id}: causes {causes:?}"),
        }
    }
    // The switch came when the last school's part of the tree went dark:
    // 3 intervals after its last report, within the one-second tick.
    let latest_last = subtree_last.iter().copied().fold(f64::MIN, f64::max);
    let at = all_dark_at.expect("S1-S8 switched to upstream_down");
    let after = at - (latest_last + 3.0 * INTERVAL_S);
    assert!(
        after > 0.0 && after <= 1.5,
        "all dark {after} s after the last staleness"
    );

    // --- schoolnet availability over the window: the same numbers. ---
    tokio::time::sleep(Duration::from_secs(1)).await;
    let window_to = unix_now().floor();
    let rfc3339 = |t: f64| {
        chrono::DateTime::from_timestamp(t as i64, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let out = Command::new(support::BIN)
        .args(["availability", "--config"])
        .arg(collector.config_path())
        .args(["--from", &rfc3339(window_from), "--to", &rfc3339(window_to)])
        .args(["--format", "json"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let window = window_to - window_from;
    for row in doc["schools"].as_array().unwrap() {
        let id = row["school"].as_str().unwrap();
        let f = |k: &str| row[k].as_f64().unwrap();
        if id == "X" {
            assert_eq!((f("availability"), f("outages")), (1.0, 0.0), "{row}");
            continue;
        }
        let p = &points[id];
        let downtime: f64 = p.iter().map(|s| s.duration_s).sum();
        close(f("downtime_s"), downtime, 1e-6, &format!("{id} downtime"));
        // Ground truth: silent from its last report until it spoke again.
        let truth = first[id] - last[id];
        assert!(
            downtime >= truth - 1e-3 && downtime <= truth + 1.5,
            "{id}: {downtime} s down, silent {truth} s"
        );
        // Within what the downtime is (1e-6 s), over the window.
        close(
            f("availability"),
            1.0 - downtime / window,
            1e-6 / window,
            id,
        );
        assert_eq!((f("outages"), f("restored")), (1.0, 1.0), "{id}: {row}");
        for s in p {
            let by_cause = row["downtime_by_cause_s"][&s.cause].as_f64().unwrap();
            let of_cause: f64 = p
                .iter()
                .filter(|q| q.cause == s.cause)
                .map(|q| q.duration_s)
                .sum();
            close(by_cause, of_cause, 1e-6, &format!("{id} {}", s.cause));
        }
    }

    sim.stop().await;
}
