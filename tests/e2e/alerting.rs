//! Outages end to end on real servers: the simulator takes school N1 down
//! by its MQTT last will and school S1 down by going silent; `schoolnet run`
//! detects both; a real Prometheus (1 s scrape, the project's rule files
//! with test-only short `for:`) evaluates the alerts; a real Alertmanager
//! (the project's config, receivers pointed at a webhook in this test)
//! delivers them. Then both recover, and finally an OLT takes a whole
//! district down: one UpstreamDown page, no per-school pages.
//!
//! Detection latencies are printed (run with `--nocapture`), not asserted
//! beyond sanity: numbers belong to measurements, not to timed tests.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use collector::inventory::Inventory;
use serde_json::Value;
use simulator::{Fleet, FleetOptions};
use support::{sum_metric, Collector, ROOT};
use testkit::{wait_until, Alertmanager, InfluxDb1, Mosquitto, Prometheus};

const SCHOOLS: &str = "school_id,name,district,lat,lon,uplink_mbps\n\
    N1,North Lyceum One,North,39.10,45.10,100\nN2,North School Two,North,39.11,45.11,100\n\
    N3,North School Three,North,39.12,45.12,100\nS1,South Lyceum One,South,39.00,45.50,100\n\
    S2,South School Two,South,39.01,45.51,100\nS3,South School Three,South,39.02,45.52,100\n";

/// `[exporter] grafana_url` and `runbook_url` of the run.
const GRAFANA: &str = "https://grafana.example.org";
const RUNBOOK: &str =
    "https://git.example.org/schoolnet/src/branch/main/docs/health-and-alerting.md";

/// One OLT per district; every device reports every second, so a device is
/// stale after 3 s (the default stale_factor of 3).
fn devices_csv() -> String {
    let mut out =
        String::from("device_id,school_id,role,expected_interval_s,parent,wan_interface\n");
    for (district, first) in [("north", "N"), ("south", "S")] {
        out += &format!("olt-{district},{first}1,olt,1,,\n");
        for i in 1..=3 {
            let s = format!("{first}{i}");
            let l = s.to_lowercase();
            out +=
                &format!("ont-{l},{s},ont,1,olt-{district},\nrtr-{l},{s},router,1,ont-{l},wan\n");
        }
    }
    out
}

/// Alerts delivered to the webhook: (receiver, alert JSON).
type Received = Arc<Mutex<Vec<(String, Value)>>>;

async fn webhook() -> (String, Received) {
    async fn receive(
        Path(receiver): Path<String>,
        State(got): State<Received>,
        Json(body): Json<Value>,
    ) {
        let mut got = got.lock().unwrap();
        for alert in body["alerts"].as_array().into_iter().flatten() {
            got.push((receiver.clone(), alert.clone()));
        }
    }
    let received: Received = Arc::default();
    let app = Router::new()
        .route("/{receiver}", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// The project's file with every `for:` shortened (and Alertmanager's
/// group timers, and its receivers pointed at `webhook`).
///
/// CollectorDown keeps a `for:` longer than Prometheus's start-up: its
/// discovery hands over the first targets only after 5 s, so `up` is
/// absent for 5–6 s while the rules already run (the shipped 1 m covers
/// that in production; 5 s here paged once on a loaded machine).
fn for_test(path: &str, webhook: &str) -> String {
    let text = std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap();
    let mut alert = "";
    text.lines()
        .map(|line| {
            let key = line.trim_start();
            let indent = &line[..line.len() - key.len()];
            if let Some(name) = key.strip_prefix("- alert:") {
                alert = name.trim();
            }
            if key.starts_with("for:") {
                let wait = if alert == "CollectorDown" {
                    "30s"
                } else {
                    "5s"
                };
                format!("{indent}for: {wait}")
            } else if key.starts_with("interval:") {
                // A rule group's own (slower) evaluation interval.
                format!("{indent}interval: 1s")
            } else if key.starts_with("group_wait:") || key.starts_with("group_interval:") {
                format!("{indent}{} 1s", &key[..key.find(':').unwrap() + 1])
            } else {
                line.replace("http://127.0.0.1:9095", webhook)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Firing alerts received so far, as (alertname, school or device).
fn firing(received: &Received) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = received
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, a)| a["status"] == "firing")
        .map(|(_, a)| {
            let l = &a["labels"];
            let who = l["school"]
                .as_str()
                .or(l["device"].as_str())
                .unwrap_or("")
                .to_string();
            (l["alertname"].as_str().unwrap_or("").to_string(), who)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn find<'a>(
    alerts: &'a [(String, Value)],
    status: &str,
    name: &str,
    who: &str,
) -> Option<&'a Value> {
    alerts.iter().map(|(_, a)| a).find(|a| {
        a["status"] == status
            && a["labels"]["alertname"] == name
            && (a["labels"]["school"] == who || a["labels"]["device"] == who)
    })
}

async fn school_up(collector: &Collector, school: &str) -> f64 {
    sum_metric(
        &collector.metrics().await,
        "schoolnet_school_up",
        &[&format!("school=\"{school}\"")],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn outages_page_the_right_schools_once_and_resolve() {
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
        &format!("[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\n", influx.url),
        &[
            ("SCHOOLNET_EXPORTER__UNKNOWN_GRACE_S", "5"),
            // The alert links start from the running config.
            ("SCHOOLNET_EXPORTER__GRAFANA_URL", GRAFANA),
            ("SCHOOLNET_EXPORTER__RUNBOOK_URL", RUNBOOK),
        ],
    )
    .await;

    let (hook, received) = webhook().await;
    let am = Alertmanager::builder()
        .config(for_test("deploy/alertmanager/alertmanager.yml", &hook))
        .start()
        .await;
    let target = collector.exporter.trim_start_matches("http://").to_string();
    let prometheus = Prometheus::builder()
        .scrape("schoolnet", [target.as_str()])
        .rule_file(
            "alerts.yml",
            for_test("deploy/prometheus/rules/schoolnet-alerts.yml", &hook),
        )
        .rule_file(
            "recording.yml",
            for_test("deploy/prometheus/rules/schoolnet-recording.yml", &hook),
        )
        .alertmanager(am.url.trim_start_matches("http://"))
        .start()
        .await;

    // A seed whose simulated schools are all healthy (no lossy line, no weak
    // fiber), so every alert in this test is caused by the test.
    let fleet = (1..)
        .map(|seed| {
            Fleet::new(
                &inventory,
                FleetOptions {
                    schools: None,
                    seed,
                    start: SystemTime::now(),
                },
            )
        })
        .find(|f| f.profiles().iter().all(|p| !p.lossy && !p.weak_optical))
        .unwrap();
    let sim = support::InProcessFleet::start(fleet, &broker.url);
    let control = &sim.control;

    prometheus
        .wait_for_value(
            "count(schoolnet_school_up == 1)",
            6.0,
            Duration::from_secs(30),
        )
        .await;

    // --- N1 announces itself offline, S1 goes silent ---
    let t_lwt = Instant::now();
    assert!(control.publish_offline("rtr-n1"));
    wait_until("N1 down in /metrics", Duration::from_secs(10), || async {
        school_up(&collector, "N1").await == 0.0
    })
    .await;
    let lwt_latency = t_lwt.elapsed();
    let t_silent = Instant::now();
    assert!(control.set_silent("rtr-s1", true));
    wait_until("S1 down in /metrics", Duration::from_secs(15), || async {
        school_up(&collector, "S1").await == 0.0
    })
    .await;
    let silent_latency = t_silent.elapsed();
    eprintln!(
        "detection latency: LWT offline -> school_up 0 in /metrics: {lwt_latency:.2?}; \
         silent router -> school_up 0: {silent_latency:.2?} after its last publish slot (stale_after 3 s, device interval 1 s)"
    );
    assert!(lwt_latency < Duration::from_secs(5), "{lwt_latency:?}");

    wait_until(
        "SchoolDown pages for N1 and S1",
        Duration::from_secs(60),
        || async {
            let got = received.lock().unwrap().clone();
            find(&got, "firing", "SchoolDown", "N1").is_some()
                && find(&got, "firing", "SchoolDown", "S1").is_some()
        },
    )
    .await;
    {
        let got = received.lock().unwrap().clone();
        let n1 = find(&got, "firing", "SchoolDown", "N1").unwrap();
        assert_eq!(n1["labels"]["district"], "North");
        assert_eq!(n1["labels"]["severity"], "page");
        assert_eq!(n1["labels"]["cause"], "lwt_offline");
        let summary = n1["annotations"]["summary"].as_str().unwrap();
        assert!(
            summary.contains("North Lyceum One"),
            "the page names the school: {summary}"
        );
        assert_eq!(
            n1["annotations"]["runbook_url"],
            format!("{RUNBOOK}#schooldown-lwt_offline")
        );
        let s1 = find(&got, "firing", "SchoolDown", "S1").unwrap();
        assert_eq!(s1["labels"]["district"], "South");
        assert_eq!(s1["labels"]["cause"], "stale");
        // Texts and links from the running config, through Prometheus'
        // template queries of the exporter's own metrics.
        let description = s1["annotations"]["description"].as_str().unwrap();
        assert!(
            description.contains("no telemetry from its router for 3 x its expected interval"),
            "the stale factor in force: {description}"
        );
        assert_eq!(
            s1["annotations"]["runbook_url"],
            format!("{RUNBOOK}#schooldown-stale")
        );
        assert_eq!(
            s1["annotations"]["dashboard_url"],
            format!("{GRAFANA}/d/schoolnet-school?var-district=South&var-school=S1")
        );
        assert!(
            got.iter()
                .any(|(r, a)| r == "noc-pager" && a["labels"]["school"] == "N1"),
            "pages go to the pager"
        );
    }
    // Give any wrong alert time to fire too, then check there is none.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let schools_alerted: Vec<(String, String)> = firing(&received);
    assert_eq!(
        schools_alerted,
        vec![
            ("SchoolDown".to_string(), "N1".to_string()),
            ("SchoolDown".to_string(), "S1".to_string())
        ],
        "alerts for exactly N1 and S1"
    );

    // The journal tells the same story, one line per change, at INFO.
    let log = || std::fs::read_to_string(collector.process.stderr_path()).unwrap();
    wait_until(
        "the outages in the log",
        Duration::from_secs(10),
        || async {
            let log = log();
            log.contains("school N1 down: lwt_offline") && log.contains("school S1 down: stale")
        },
    )
    .await;

    // --- Both come back: resolved notifications, closed outages ---
    assert!(control.publish_online("rtr-n1"));
    assert!(control.set_silent("rtr-s1", false));
    wait_until(
        "SchoolDown resolved for N1 and S1",
        Duration::from_secs(60),
        || async {
            let got = received.lock().unwrap().clone();
            find(&got, "resolved", "SchoolDown", "N1").is_some()
                && find(&got, "resolved", "SchoolDown", "S1").is_some()
        },
    )
    .await;
    wait_until(
        "closed outages in InfluxDB",
        Duration::from_secs(20),
        || async {
            let r = influx
                .try_query(
                    "schoolnet",
                    "SELECT duration_s, cause, open FROM outage GROUP BY school",
                )
                .await
                .map_err(|e| e.to_string())?;
            let mut closed = Vec::new();
            for s in r["results"][0]["series"].as_array().into_iter().flatten() {
                for row in s["values"].as_array().into_iter().flatten() {
                    if row[3] == false {
                        closed.push((
                            s["tags"]["school"].as_str().unwrap().to_string(),
                            row[2].as_str().unwrap().to_string(),
                        ));
                    }
                }
            }
            closed.sort();
            if closed
                == [
                    ("N1".to_string(), "lwt_offline".to_string()),
                    ("S1".to_string(), "stale".to_string()),
                ]
            {
                Ok(())
            } else {
                Err(format!("closed outages so far: {closed:?}"))
            }
        },
    )
    .await;

    // --- The North OLT fails: everything behind it goes silent ---
    let before = received.lock().unwrap().len();
    for school in ["N1", "N2", "N3"] {
        control.set_school_silent(school, true);
    }
    wait_until(
        "UpstreamDown page for olt-north",
        Duration::from_secs(60),
        || async {
            let got = received.lock().unwrap()[before..].to_vec();
            find(&got, "firing", "UpstreamDown", "olt-north").is_some()
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after: Vec<(String, Value)> = received.lock().unwrap()[before..].to_vec();
    let pages: Vec<String> = after
        .iter()
        .filter(|(_, a)| a["status"] == "firing" && a["labels"]["severity"] == "page")
        .map(|(_, a)| {
            format!(
                "{} {}",
                a["labels"]["alertname"],
                a["labels"]["school"]
                    .as_str()
                    .or(a["labels"]["device"].as_str())
                    .unwrap_or("")
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        pages,
        vec!["\"UpstreamDown\" olt-north".to_string()],
        "one page for the OLT, none per school"
    );
    let log = log();
    assert!(log.contains("school N1 recovered after"), "{log}");
    assert!(log.contains("school S1 recovered after"), "{log}");
    let up = prometheus
        .query_f64("count(schoolnet_school_state{state=\"down\",cause=\"upstream_down\"} == 1)")
        .await;
    assert_eq!(
        up,
        Some(3.0),
        "the three North schools are down because of their OLT"
    );

    let report = sim.stop().await;
    assert_eq!(report.errors, 0);
}
