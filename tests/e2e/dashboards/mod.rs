//! The Grafana dashboards (`dashboards/*.json`) and their provisioning
//! (`deploy/grafana/provisioning/`).
//!
//! - Structure, no servers: every file parses, uids are unique, every data
//!   source a panel, target, variable or annotation names is a data source
//!   variable of its type (no literal uid), `__inputs`/`__requires` list
//!   what the dashboard uses, panels do not overlap, every `$variable` is
//!   defined, links point to existing dashboards.
//! - Both ways into a Grafana, no servers: provisioned as the file is (next
//!   to the provisioned data sources) and imported through the Import flow
//!   into a Grafana with data sources of other names and uids, every data
//!   source variable selects the right one, also where another of the same
//!   type is listed first.
//! - Data, on real servers: mosquitto → `schoolnet run` (InfluxDB 1.x, v1
//!   API) ← the fleet simulator (12 schools in 3 districts, one school taken
//!   down, brought back and taken down again, a 13th inventory school that
//!   never reports, some rejected messages), and a
//!   real Prometheus scraping the exporter every second with the project's
//!   rule files. Then, provisioned and imported, every variable, panel and
//!   annotation query of every dashboard is sent to the data source its
//!   variables select, interpolated the way Grafana does and run against
//!   Prometheus / InfluxDB; each must return data. Grafana itself is not
//!   needed: it only forwards these requests.
//!
//! Helpers: the dashboards and provisioning as data ([`model`]), structural
//! checks ([`structure`]), the Import flow, data source selection and the
//! portability rules ([`portable`]) and Grafana's query interpolation and execution
//! against real Prometheus and InfluxDB servers ([`grafana`]).

pub mod grafana;
pub mod model;
pub mod portable;
pub mod structure;

use crate::dashboards;
use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

use collector::inventory::Inventory;
use dashboards::grafana::{influx_rows, prom_rows, Env};
use dashboards::model::{
    datasource_refs, datasources_in, load_dashboards, provisioned_datasources, provisioning_files,
    queries, variables, Dashboard,
};
use dashboards::portable::{datasource_selection, import, Way, WAYS};
use dashboards::structure::check_dashboard;
use serde_json::Value;
use simulator::{Fleet, FleetOptions};
use support::{Collector, ROOT};
use testkit::{wait_until, InfluxDb1, Mosquitto, Prometheus};

const UIDS: [&str; 5] = [
    "schoolnet-overview",
    "schoolnet-school",
    "schoolnet-optics",
    "schoolnet-history",
    "schoolnet-pipeline",
];

#[test]
fn dashboards_and_provisioning_are_consistent() {
    let dashboards = load_dashboards();
    let mut errors = Vec::new();

    let uids: Vec<&str> = dashboards.iter().map(Dashboard::uid).collect();
    let unique: BTreeSet<&str> = uids.iter().copied().collect();
    assert_eq!(unique.len(), uids.len(), "dashboard uids repeat: {uids:?}");
    assert_eq!(unique, UIDS.into_iter().collect(), "the five dashboards");

    let sources = provisioned_datasources();
    let find = |uid: &str| sources.iter().find(|s| s.uid == uid).cloned();
    let prom = find("schoolnet-prometheus").expect("Prometheus data source provisioned");
    assert_eq!(prom.kind, "prometheus");
    let influx = find("schoolnet-influxdb").expect("InfluxDB data source provisioned");
    assert_eq!(
        (influx.kind.as_str(), influx.db_name.as_str()),
        ("influxdb", "schoolnet")
    );
    // deploy/compose provisions the same data sources for the dashboards:
    // the same names (what the dashboards select them by) and types.
    let compose = std::fs::read_to_string(format!("{ROOT}/deploy/compose/grafana-datasources.yml"))
        .expect("deploy/compose/grafana-datasources.yml");
    let named = |list: &[model::Datasource]| -> BTreeSet<(String, String)> {
        list.iter()
            .map(|d| (d.name.clone(), d.kind.clone()))
            .collect()
    };
    assert_eq!(
        named(&datasources_in(&compose)),
        named(&sources),
        "deploy/compose/grafana-datasources.yml names the data sources as deploy/grafana does"
    );
    let providers = provisioning_files("dashboards").join("\n");
    for key in ["type: file", "path:", "folder: schoolnet"] {
        assert!(providers.contains(key), "dashboard provider has `{key}`");
    }

    for d in &dashboards {
        check_dashboard(d, &dashboards, &mut errors);
    }
    assert!(
        errors.is_empty(),
        "{} problems:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

/// Both ways in, without servers: provisioned as the file is, and imported
/// into a Grafana whose data sources have other names and uids, every data
/// source variable selects schoolnet's (or the picked) data source, even
/// where another of the same type comes first; every reference then
/// resolves to it, and nothing of the import placeholders is left.
#[test]
fn dashboards_select_the_provisioned_or_the_imported_datasources() {
    let provisioned = provisioned_datasources();
    let urls = BTreeMap::new();
    let mut errors = Vec::new();
    for way in WAYS {
        let sources = way.instance(&provisioned, &urls);
        for d in load_dashboards() {
            let f = format!("{} ({way:?})", d.file);
            let json = match way.dashboard(&d.json) {
                Ok(j) => j,
                Err(e) => {
                    errors.push(format!("{f}: {e}"));
                    continue;
                }
            };
            if json.to_string().contains("${DS_") && matches!(way, Way::Imported) {
                errors.push(format!("{f}: an import placeholder is left"));
            }
            let selected = match datasource_selection(&json, &sources) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(format!("{f}: {e}"));
                    continue;
                }
            };
            for v in variables(&json).iter().filter(|v| v.kind == "datasource") {
                let want = way.expected_uid(&v.query, &provisioned);
                if selected.get(&v.name) != want.as_ref() {
                    errors.push(format!(
                        "{f}: ${} selects {:?}, want {want:?}",
                        v.name,
                        selected.get(&v.name)
                    ));
                }
            }
            for (at, ds) in datasource_refs(&json, "") {
                let (ty, uid) = (
                    ds["type"].as_str().unwrap_or(""),
                    ds["uid"].as_str().unwrap_or(""),
                );
                if ty == "grafana" {
                    continue;
                }
                let name = uid.trim_start_matches("${").trim_end_matches('}');
                let resolved = selected.get(name);
                let sends_to = resolved.and_then(|u| sources.iter().find(|s| &s.uid == u));
                if sends_to.is_none_or(|s| {
                    s.kind != ty || Some(&s.uid) != way.expected_uid(ty, &provisioned).as_ref()
                }) {
                    errors.push(format!("{f}: {at}: {ds} resolves to {sends_to:?}"));
                }
            }
        }
    }
    // The Import flow refuses a dashboard whose input was not answered.
    let d = &load_dashboards()[0];
    assert!(
        import(&d.json, &BTreeMap::new()).is_err_and(|e| e.contains("DS_")),
        "{}: import without picking a data source",
        d.file
    );
    assert!(
        errors.is_empty(),
        "{} problems:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

// ---------------------------------------------------------------- data run

/// 13 schools in 3 districts; one OLT per district (recorded at its first
/// school), an ONT and a router per school, all reporting every 2 s (stale
/// after 6 s: a busy test machine does not open outages of its own). The
/// last school, E5, is not simulated: it never reports.
const SCHOOLS: &str = "school_id,name,district,lat,lon,uplink_mbps\n\
    N1,North Lyceum One,North,39.21,45.41,100\nN2,North School Two,North,39.22,45.43,50\n\
    N3,North School Three,North,39.24,45.40,50\nN4,North School Four,North,39.25,45.44,100\n\
    S1,South Lyceum One,South,38.95,45.60,100\nS2,South School Two,South,38.96,45.62,50\n\
    S3,South School Three,South,38.94,45.63,50\nS4,South School Four,South,38.97,45.58,100\n\
    E1,East Lyceum One,East,39.05,45.90,100\nE2,East School Two,East,39.06,45.92,50\n\
    E3,East School Three,East,39.04,45.93,50\nE4,East School Four,East,39.07,45.88,100\n\
    E5,East Village School,East,39.10,45.95,20\n";

/// The school taken down: index 1, a Telegraf router (probe rtt, loss and
/// jitter, CPU, memory, uptime, clients: everything the detail dashboard shows).
const DOWN: &str = "N2";

fn devices_csv() -> String {
    let mut out =
        String::from("device_id,school_id,role,expected_interval_s,parent,wan_interface\n");
    for (district, p) in [("north", "N"), ("south", "S"), ("east", "E")] {
        out += &format!("olt-{district},{p}1,olt,2,,\n");
        for i in 1..=if p == "E" { 5 } else { 4 } {
            let (s, l) = (format!("{p}{i}"), format!("{p}{i}").to_lowercase());
            out +=
                &format!("ont-{l},{s},ont,2,olt-{district},\nrtr-{l},{s},router,2,ont-{l},wan\n");
        }
    }
    out
}

/// Messages the collector must reject (an unknown device, a bad payload).
async fn publish_rejects(port: u16) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    for (topic, payload) in [
        (
            "collectd/ghost-router/load/load".to_string(),
            format!("{}:0.5:0.4:0.3", now.as_secs()),
        ),
        ("ont/ont-s1/optical".to_string(), "not json".to_string()),
    ] {
        let status = tokio::process::Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
            .args(["-t", &topic, "-m", &payload])
            .status()
            .await
            .expect(
                "mosquitto_pub (package mosquitto-clients; run: sudo scripts/setup-test-deps.sh)",
            );
        assert!(status.success(), "mosquitto_pub {topic}");
    }
}

async fn school_up(prom: &Prometheus, want: f64) {
    let q = format!("schoolnet_school_up{{school=\"{DOWN}\"}}");
    prom.wait_for_value(&q, want, Duration::from_secs(20)).await;
}

/// The `open` field of the down school's outage points, oldest first.
async fn outages(influx: &InfluxDb1) -> Vec<bool> {
    let q = format!("SELECT \"open\" FROM \"outage\" WHERE \"school\" = '{DOWN}'");
    let r = influx.try_query("schoolnet", &q).await.unwrap_or_default();
    let rows = r["results"][0]["series"][0]["values"].as_array().cloned();
    rows.into_iter()
        .flatten()
        .map(|row| row[1] == true)
        .collect()
}

/// Answers of the panel queries, by `<file> <query description>`.
type Answers = BTreeMap<String, Value>;

/// Runs every variable, panel and annotation query of `d` with the variable
/// values `pick` chooses; returns the problems, answers go to `answers`.
async fn check_data(
    d: &Dashboard,
    env: &mut Env,
    pick: &dyn Fn(&model::Variable) -> Vec<String>,
    answers: &mut Answers,
) -> Vec<String> {
    let mut errors = Vec::new();
    let vars = variables(&d.json);
    env.selected.clear();
    let chosen = match datasource_selection(&d.json, &env.sources) {
        Ok(c) => c,
        Err(e) => return vec![format!("{}: {e}", d.file)],
    };
    for v in &vars {
        if v.kind == "datasource" {
            env.selected
                .insert(v.name.clone(), vec![chosen[&v.name].clone()]);
            continue;
        }
        let q = env.interpolate(&v.query, &v.ds_type, &vars);
        let want = pick(v);
        let options = match env.source(&v.ds_type, &v.ds_uid, &vars) {
            Ok(ds) => env.options(ds, &q).await,
            Err(e) => Err(e),
        };
        match options {
            Ok(opts) if opts.is_empty() => {
                errors.push(format!("variable {}: no options from {q}", v.name))
            }
            Ok(opts) => {
                let missing: Vec<&String> = want
                    .iter()
                    .filter(|w| *w != "$__all" && !opts.contains(w))
                    .collect();
                if !missing.is_empty() {
                    errors.push(format!(
                        "variable {}: {missing:?} not among {opts:?}",
                        v.name
                    ));
                }
            }
            Err(e) => errors.push(format!("variable {}: {q}: {e}", v.name)),
        }
        env.selected.insert(v.name.clone(), want);
    }
    let qs = queries(&d.json);
    for q in &qs {
        let text = env.interpolate(&q.text, &q.ds_type, &vars);
        let answer = match env.source(&q.ds_type, &q.ds_uid, &vars) {
            Ok(ds) => env.run(ds, &text, q.instant).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok((0, _)) => errors.push(format!("{}: no data from\n    {text}", q.what)),
            Ok((_, body)) => {
                answers.insert(format!("{} {}", d.file, q.what), body);
            }
            Err(e) => errors.push(format!("{}: {e}\n    {text}", q.what)),
        }
    }
    errors
        .into_iter()
        .map(|e| format!("{} ({:?}): {e}", d.file, env.selected))
        .collect()
}

/// Beyond "has data": the panels about the outages show them.
fn check_meaning(a: &Answers, way: Way) {
    let get = |k: &str| {
        let k = k.replacen(".json ", &format!(".json ({way:?}) "), 1);
        a.get(&k).unwrap_or_else(|| panic!("no answer for {k}"))
    };
    let down = prom_rows(get(
        "schoolnet-overview.json panel \"Schools down now\" target A",
    ));
    let mut down: Vec<[String; 3]> = down
        .iter()
        .map(|(l, _)| ["school", "cause", "name"].map(|k| l[k].as_str().unwrap().to_string()))
        .collect();
    down.sort();
    assert_eq!(
        down,
        [
            ["E5", "never_reported", "East Village School"],
            [DOWN, "lwt_offline", "North School Two"]
        ]
        .map(|r| r.map(String::from)),
        "schools down now"
    );
    let count = prom_rows(get("schoolnet-overview.json panel \"Down\" target A"));
    assert_eq!(count[0].1, 1.0, "the Down stat");
    let map = prom_rows(get(
        "schoolnet-overview.json panel \"Schools by state\" target A",
    ));
    assert_eq!(map.len(), 13, "every school on the map: {map:?}");
    let on_map = map.iter().find(|(l, _)| l["school"] == DOWN).unwrap();
    assert_eq!(
        (on_map.0["lat"].as_str(), on_map.1),
        (Some("39.22"), 2.0),
        "down = 2"
    );
    let key =
        "schoolnet-history.json panel \"Availability per school in the selected range\" target A";
    let avail = influx_rows(get(key));
    assert_eq!(avail.len(), 1, "{avail:?}");
    assert_eq!(
        (&avail[0]["school"], &avail[0]["outages"]),
        (&Value::from(DOWN), &Value::from(1))
    );
    let pct = avail[0]["availability"].as_f64().unwrap();
    assert!(
        pct > 90.0 && pct < 100.0,
        "availability over 5 min with one short outage: {pct}"
    );
    let key = "schoolnet-history.json panel \"Volume per school in the selected range\" target A";
    let volume = influx_rows(get(key));
    assert_eq!(
        volume.len(),
        12,
        "every school has a traffic volume: {volume:?}"
    );
    assert!(
        volume.iter().all(|r| r["download"].as_f64().unwrap() > 0.0),
        "{volume:?}"
    );
    let notes = influx_rows(get("schoolnet-school.json annotation \"Outages\""));
    assert_eq!(
        notes.len(),
        2,
        "two outage annotations (closed, open): {notes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_dashboard_query_returns_data_from_a_real_run() {
    let started = Instant::now();
    let inv_dir = tempfile::tempdir().unwrap();
    std::fs::write(inv_dir.path().join("schools.csv"), SCHOOLS).unwrap();
    std::fs::write(inv_dir.path().join("devices.csv"), devices_csv()).unwrap();
    let inventory = Inventory::load(
        &inv_dir.path().join("schools.csv"),
        &inv_dir.path().join("devices.csv"),
    )
    .unwrap();

    let broker = Mosquitto::start().await;
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    let collector = Collector::start_with_env(
        &broker.url,
        Some(inv_dir.path()),
        &format!(
            "[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\n",
            influx.url
        ),
        &[("SCHOOLNET_EXPORTER__UNKNOWN_GRACE_S", "5")],
    )
    .await;
    // Groups with their own `interval:` (slower than Prometheus's default)
    // evaluate every second here, like the rest: the test runs for seconds.
    let rules = |f: &str| {
        let text = std::fs::read_to_string(format!("{ROOT}/deploy/prometheus/rules/{f}")).unwrap();
        text.lines()
            .map(|line| match line.trim_start().strip_prefix("interval:") {
                Some(_) => format!(
                    "{}interval: 1s",
                    &line[..line.len() - line.trim_start().len()]
                ),
                None => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let prom = Prometheus::builder()
        .scrape(
            "schoolnet",
            [collector.exporter.trim_start_matches("http://")],
        )
        .rule_file("schoolnet-recording.yml", rules("schoolnet-recording.yml"))
        .rule_file("schoolnet-alerts.yml", rules("schoolnet-alerts.yml"))
        .start()
        .await;

    let fleet = Fleet::new(
        &inventory,
        FleetOptions {
            schools: Some(12),
            seed: 3,
            start: SystemTime::now(),
        },
    );
    let sim = support::InProcessFleet::start(fleet, &broker.url);
    let control = &sim.control;
    prom.wait_for_value(
        "count(schoolnet_school_up == 1)",
        12.0,
        Duration::from_secs(30),
    )
    .await;
    let sim_started = Instant::now();
    publish_rejects(broker.port).await;

    // Down, back (a closed outage for availability), down again (an open
    // one for "schools down now").
    assert!(control.publish_offline(&format!("rtr-{}", DOWN.to_lowercase())));
    school_up(&prom, 0.0).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(control.publish_online(&format!("rtr-{}", DOWN.to_lowercase())));
    school_up(&prom, 1.0).await;
    wait_until(
        "a closed outage in InfluxDB",
        Duration::from_secs(20),
        || async { outages(&influx).await == [false] },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    publish_rejects(broker.port).await;
    assert!(control.publish_offline(&format!("rtr-{}", DOWN.to_lowercase())));
    school_up(&prom, 0.0).await;
    wait_until(
        "the open outage in InfluxDB",
        Duration::from_secs(20),
        || async { outages(&influx).await == [false, true] },
    )
    .await;
    // At least 20 s of telemetry, and a few more rule evaluations.
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(sim_started.elapsed())).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let sources = provisioned_datasources();
    let interval = |uid: &str| -> i64 {
        let ds = sources.iter().find(|s| s.uid == uid).expect("provisioned");
        ds.time_interval
            .trim_end_matches('s')
            .parse()
            .expect("timeInterval in seconds")
    };
    let to_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut env = Env {
        client: reqwest::Client::new(),
        sources: Vec::new(),
        from_ms: to_ms - 5 * 60 * 1000,
        to_ms,
        prom_scrape_s: interval("schoolnet-prometheus"),
        influx_min_s: interval("schoolnet-influxdb"),
        selected: BTreeMap::new(),
    };
    // "All" everywhere (one school where a single one must be picked), then
    // two districts and the down school (multi-value regex formatting).
    let all = |v: &model::Variable| -> Vec<String> {
        if v.include_all {
            vec!["$__all".into()]
        } else {
            vec![DOWN.into()]
        }
    };
    let some = |v: &model::Variable| -> Vec<String> {
        match v.name.as_str() {
            "district" => vec!["North".into(), "South".into()],
            "school" => vec![DOWN.into()],
            _ => vec!["$__all".into()],
        }
    };
    // Provisioned as the files are, and imported into a Grafana whose data
    // sources have other names and uids: the same queries reach the same
    // servers through the data source variables.
    let urls = BTreeMap::from([
        ("prometheus", prom.url.clone()),
        ("influxdb", influx.url.clone()),
    ]);
    let mut problems = Vec::new();
    for way in WAYS {
        env.sources = way.instance(&sources, &urls);
        let (mut answers, mut filtered) = (Answers::new(), Answers::new());
        for d in load_dashboards() {
            let d = Dashboard {
                json: way.dashboard(&d.json).expect("import"),
                file: format!("{} ({way:?})", d.file),
            };
            problems.extend(check_data(&d, &mut env, &all, &mut answers).await);
            problems.extend(check_data(&d, &mut env, &some, &mut filtered).await);
        }
        eprintln!(
            "{way:?}: {} panel and annotation queries answered with data, twice; {:.1?} since start",
            answers.len(),
            started.elapsed()
        );
        assert!(
            problems.is_empty(),
            "{way:?}: {} queries without data:\n{}",
            problems.len(),
            problems.join("\n")
        );
        check_meaning(&answers, way);
    }

    let report = sim.stop().await;
    assert_eq!(report.errors, 0);
}
