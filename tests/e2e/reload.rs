//! Hot reload on real servers: SIGHUP mid-stream swaps in a new inventory
//! without dropping the MQTT session or losing a point; a broken config is
//! refused with a clear error while the old one keeps running; `POST
//! /-/reload` does the same when enabled and is refused (403) when not.

use crate::support::{self, mosquitto_pub};

use std::path::Path;
use std::time::Duration;

use support::{
    expected_points, spawn_simulate, sum_metric, wait_for_points, Accounting, Collector, ROOT,
};
use testkit::{signal, wait_until, InfluxDb1, Mosquitto};

const NEW_SCHOOL: &str = "NX-900,\"School No. 900, Julfa\",Julfa,38.95,45.63,100\n";
const NEW_DEVICE: &str = "rtr-nx-900,NX-900,router,10,olt-julfa,wan,\n";

/// A copy of the sample inventory in `dir` (so that the test can edit it).
fn copy_inventory(dir: &Path) {
    for f in ["schools.csv", "devices.csv"] {
        std::fs::copy(
            Path::new(ROOT).join("deploy/inventory").join(f),
            dir.join(f),
        )
        .unwrap();
    }
}

fn append(path: &Path, text: &str) {
    let mut all = std::fs::read_to_string(path).unwrap();
    all.push_str(text);
    std::fs::write(path, all).unwrap();
}

fn schools_listed(metrics: &str) -> usize {
    metrics
        .lines()
        .filter(|l| l.starts_with("schoolnet_school_up{"))
        .count()
}

async fn reloads(c: &Collector, result: &str) -> f64 {
    c.metric_sum(
        "schoolnet_config_reloads_total",
        &[&format!("result=\"{result}\"")],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_swaps_the_inventory_mid_stream_and_refuses_a_broken_one() {
    let broker = Mosquitto::builder().persistence(true).start().await;
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    let dir = tempfile::tempdir().unwrap();
    copy_inventory(dir.path());
    let extra = format!(
        "[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\n\n\
         [spool]\ndir = \"{}\"\n",
        influx.url,
        dir.path().join("spool").display()
    );
    let mut c = Collector::start_in(
        tempfile::tempdir().unwrap(),
        &broker.url,
        Some(dir.path()),
        &extra,
        &[],
    )
    .await;
    assert_eq!(schools_listed(&c.metrics().await), 216);

    // A new school and router appear in the inventory; SIGHUP mid-stream.
    let sim = spawn_simulate(
        &broker.url,
        &["--schools", "6", "--rate", "400", "--count", "2000"],
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    append(&dir.path().join("schools.csv"), NEW_SCHOOL);
    append(&dir.path().join("devices.csv"), NEW_DEVICE);
    c.kill(signal::SIGHUP);
    wait_until("the reload", Duration::from_secs(10), || async {
        (reloads(&c, "ok").await == 1.0).then_some(())
    })
    .await;
    let m = c.metrics().await;
    assert_eq!(schools_listed(&m), 217, "the new school is listed");
    assert!(m.contains("school=\"NX-900\""));
    let report = sim.await.unwrap();
    wait_for_points(
        &influx,
        &expected_points(&report),
        Accounting::Exact,
        Duration::from_secs(30),
    )
    .await;
    let m = c.metrics().await;
    assert_eq!(
        sum_metric(&m, "schoolnet_mqtt_connections_total", &[]),
        1.0,
        "the MQTT session was kept"
    );
    let log = c.process.stderr();
    assert!(log.contains("config reloaded"), "{log}");

    // The new device is accepted right away.
    mosquitto_pub(&broker.url, "probe/rtr-nx-900/8.8.8.8/rtt_ms", "12.5");
    wait_until("NX-900 heard from", Duration::from_secs(10), || async {
        let m = c.metrics().await;
        m.lines()
            .any(|l| {
                l.starts_with("schoolnet_school_last_seen_timestamp_seconds{")
                    && l.contains("school=\"NX-900\"")
            })
            .then_some(())
    })
    .await;

    // A broken inventory is refused, naming the file and line; the running
    // one stays.
    append(
        &dir.path().join("devices.csv"),
        "rtr-broken,NX-404,router,10,,wan,\n",
    );
    c.kill(signal::SIGHUP);
    wait_until("the refused reload", Duration::from_secs(10), || async {
        (reloads(&c, "failed").await == 1.0).then_some(())
    })
    .await;
    let log = c.process.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("config reload from") && l.contains("refused"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("devices.csv") && line.contains("NX-404"),
        "{line}"
    );
    assert_eq!(schools_listed(&c.metrics().await), 217);
    assert!(c.is_ready().await, "still connected and serving");

    // Reload over HTTP is off by default.
    let r = reqwest::Client::new()
        .post(format!("{}/-/reload", c.exporter))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("enable_reload"));
}

#[tokio::test(flavor = "multi_thread")]
async fn post_reload_answers_with_the_outcome_when_enabled() {
    let broker = Mosquitto::start().await;
    let dir = tempfile::tempdir().unwrap();
    copy_inventory(dir.path());
    // The helper writes [exporter]; enable reload through the environment.
    let c = Collector::start_with_env(
        &broker.url,
        Some(dir.path()),
        "",
        &[("SCHOOLNET_EXPORTER__ENABLE_RELOAD", "true")],
    )
    .await;
    let post = || async {
        let r = reqwest::Client::new()
            .post(format!("{}/-/reload", c.exporter))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    append(&dir.path().join("schools.csv"), NEW_SCHOOL);
    append(&dir.path().join("devices.csv"), NEW_DEVICE);
    let (status, body) = post().await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("217 schools"), "{body}");
    assert_eq!(schools_listed(&c.metrics().await), 217);

    std::fs::write(dir.path().join("schools.csv"), "school_id,name\nNX-1,x\n").unwrap();
    let (status, body) = post().await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("schools.csv"), "{body}");
    assert_eq!(
        schools_listed(&c.metrics().await),
        217,
        "the old inventory stays"
    );
}
