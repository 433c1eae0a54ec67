//! The InfluxDB sink against real servers: InfluxDB 1.x (`influxd`, v1 write
//! API, InfluxQL read-back) and VictoriaMetrics (`/api/v2/write`, the v2 write
//! API). Each test starts its own server with `testkit` (a child process on
//! free loopback ports with a temporary data directory, killed on drop).
//!
//! Hostile tag values (spaces, commas, `=`, quotes, backslashes, newlines,
//! tabs, unicode) are written and read back; the expected stored value is
//! `stored_value(raw)`, the escaping rules of `line_protocol::encode`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use collector::inventory::{DeviceInfo, Role, School};
use collector::line_protocol::stored_value;
use collector::metrics::PipelineMetrics;
use collector::sample::{Field, FieldValue, Measurement, Sample};
use collector::sink::influx::{Gzip, InfluxApi, InfluxConfig, InfluxSink};
use reqwest::Url;
use testkit::{wait_until, InfluxDb1, VictoriaMetrics};

/// School ids a spreadsheet export might produce, and worse.
const HOSTILE_SCHOOLS: &[&str] = &[
    "s001",
    "Məktəb № 5, Şərur",
    "a=b c",
    "quote\"d 'single'",
    "back\\slash",
    "trail\\",
    "double\\\\back",
    "esc\\,comma\\ space\\=eq",
    "new\nline\r\n",
    "tab\there",
    "日本語🙂",
    ",,==  ",
    "#hash",
];

/// `SELECT count(f) … GROUP BY school` as `{school: count}`.
async fn counts_by_school(influx: &InfluxDb1, db: &str, q: &str) -> BTreeMap<String, u64> {
    let v = influx.query(db, q).await;
    let series = v["results"][0]["series"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    series
        .iter()
        .map(|s| {
            let school = s["tags"]["school"].as_str().unwrap().to_string();
            (school, s["values"][0][1].as_u64().unwrap())
        })
        .collect()
}

/// Interface points per school.
async fn interface_counts(influx: &InfluxDb1, db: &str) -> BTreeMap<String, u64> {
    let q = "SELECT count(rx_bytes) FROM interface GROUP BY school";
    counts_by_school(influx, db, q).await
}

async fn tag_values(influx: &InfluxDb1, db: &str, measurement: &str, key: &str) -> Vec<String> {
    let q = format!("SHOW TAG VALUES FROM {measurement} WITH KEY = \"{key}\"");
    let v = influx.query(db, &q).await;
    let mut out: Vec<String> = v["results"][0]["series"][0]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|row| row[1].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

/// The sink's write outcomes counted under `outcome` (`ok`, `split`, ...).
fn writes(metrics: &PipelineMetrics, outcome: &str) -> u64 {
    metrics.influx_writes.with_label_values(&[outcome]).get()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn device(school: &str, role: Role) -> Arc<DeviceInfo> {
    Arc::new(DeviceInfo {
        id: format!("dev {school}").into(),
        school: Arc::new(School {
            id: school.into(),
            name: school.into(),
            district: "Şərur, \"north\"".into(),
            lat: 39.5,
            lon: 44.9,
            uplink_mbps: 100.0,
        }),
        role,
        expected_interval: Duration::from_secs(10),
        parent: None,
        wan_interface: None,
        counter_width: None,
    })
}

/// School `i` gets `i + 1` interface points (distinct times) plus one point
/// of every other measurement.
fn samples(schools: &[&str], t0: i64) -> (Vec<Sample>, BTreeMap<String, u64>) {
    use FieldValue::{Counter, Float};
    let mut out = Vec::new();
    let mut expected = BTreeMap::new();
    for (i, school) in schools.iter().enumerate() {
        let router = device(school, Role::Router);
        let ont = device(&format!("{school}-ont"), Role::Ont);
        for k in 0..=i {
            out.push(Sample {
                measurement: Measurement::Interface,
                time_ns: t0 - (k as i64) * 1_000_000_000,
                device: router.clone(),
                key: Some(format!("wan {school}").into()),
                fields: vec![
                    (Field::RxBytes, Counter(1_000 * k as u64)),
                    (Field::TxBytes, Counter(7)),
                    (Field::RxBps, Float(8.0 * k as f64)),
                    (Field::TxBps, Float(f64::NAN)),
                    (Field::Utilization, Float(0.125)),
                ],
            });
        }
        expected.insert(stored_value(school), i as u64 + 1);
        for (measurement, device, key, field, value) in [
            (Measurement::Optical, &ont, None, Field::RxDbm, -21.5),
            (Measurement::System, &router, None, Field::CpuRatio, 0.25),
            (
                Measurement::Probe,
                &router,
                Some("8.8.8.8"),
                Field::RttS,
                0.012,
            ),
            (
                Measurement::Clients,
                &router,
                None,
                Field::WifiClients,
                12.0,
            ),
        ] {
            out.push(Sample {
                measurement,
                time_ns: t0,
                device: device.clone(),
                key: key.map(Into::into),
                fields: vec![(field, Float(value))],
            });
        }
    }
    (out, expected)
}

/// Runs a sink over `samples` (sent in chunks, like the pipeline does) until
/// it has drained, returning its metrics.
async fn run_sink(
    config: InfluxConfig,
    token: Option<&str>,
    samples: Vec<Sample>,
) -> PipelineMetrics {
    let metrics = PipelineMetrics::unregistered();
    let sink = InfluxSink::new(config, token.map(Into::into), metrics.clone()).unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let task = tokio::spawn(sink.run(rx));
    for chunk in samples.chunks(10) {
        tx.send(chunk.iter().cloned().map(Into::into).collect())
            .await
            .unwrap();
    }
    drop(tx);
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("sink drains within 60 s")
        .unwrap();
    metrics
}

fn v1_config(influx: &InfluxDb1, db: &str) -> InfluxConfig {
    InfluxConfig {
        url: influx.url.clone(),
        api: InfluxApi::V1,
        database: db.into(),
        batch_max_points: 17,
        batch_max_age_ms: 50,
        max_retry_backoff_s: 1.0,
        // The default (`auto`) sends plain bodies to a loopback server; the
        // gzip path is the one used across a network, so it is the one
        // InfluxDB must accept here. VictoriaMetrics below gets plain ones.
        gzip: Gzip::Always,
        ..InfluxConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn influxdb_v1_stores_every_point_with_exact_tags() {
    let influx = InfluxDb1::start().await;
    influx.create_database("sn").await;
    let (samples, expected) = samples(HOSTILE_SCHOOLS, now_ns());
    let total = samples.len() as u64;

    let metrics = run_sink(v1_config(&influx, "sn"), None, samples).await;
    assert_eq!(metrics.influx_points_written.get(), total);
    assert_eq!(metrics.influx_points_rejected.get(), 0);
    assert!(writes(&metrics, "ok") >= total / 17);

    assert_eq!(interface_counts(&influx, "sn").await, expected);
    let ones: BTreeMap<String, u64> = expected.keys().map(|k| (k.clone(), 1)).collect();
    for (m, f) in [
        ("system", "cpu_ratio"),
        ("probe", "rtt_s"),
        ("clients", "wifi_clients"),
    ] {
        let q = format!("SELECT count({f}) FROM {m} GROUP BY school");
        assert_eq!(counts_by_school(&influx, "sn", &q).await, ones, "{m}");
    }

    let mut interfaces: Vec<String> = HOSTILE_SCHOOLS
        .iter()
        .map(|s| stored_value(&format!("wan {s}")))
        .collect();
    interfaces.sort();
    assert_eq!(
        tag_values(&influx, "sn", "interface", "interface").await,
        interfaces
    );
    assert_eq!(
        tag_values(&influx, "sn", "interface", "district").await,
        ["Şərur, \"north\""]
    );
    assert!(tag_values(&influx, "sn", "probe", "role").await.is_empty());

    // Counters are integer columns, gauges float columns; NaN was skipped.
    let v = influx.query("sn", "SHOW FIELD KEYS FROM interface").await;
    let types: BTreeMap<String, String> = v["results"][0]["series"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    let want: BTreeMap<String, String> = [
        ("rx_bps", "float"),
        ("rx_bytes", "integer"),
        ("tx_bytes", "integer"),
        ("utilization", "float"),
    ]
    .into_iter()
    .map(|(k, t)| (k.into(), t.into()))
    .collect();
    assert_eq!(types, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn influxdb_413_splits_the_batch_until_it_fits() {
    let influx = InfluxDb1::builder().max_body_size(2_000).start().await;
    influx.create_database("sn").await;
    let (samples, expected) = samples(HOSTILE_SCHOOLS, now_ns());
    let total = samples.len() as u64;
    let config = InfluxConfig {
        gzip: Gzip::Never,
        batch_max_points: 500,
        batch_max_age_ms: 10_000,
        ..v1_config(&influx, "sn")
    };
    let metrics = run_sink(config, None, samples).await;
    assert!(writes(&metrics, "split") >= 3);
    assert_eq!(metrics.influx_points_rejected.get(), 0);
    assert_eq!(metrics.influx_points_written.get(), total);
    assert_eq!(interface_counts(&influx, "sn").await, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn points_wait_for_a_server_that_is_down_or_lacks_the_database() {
    // Down: stopped, so its port refuses connections until `start_again`.
    let mut influx = InfluxDb1::start().await;
    influx.stop();
    let config = InfluxConfig {
        url: influx.url.clone(),
        api: InfluxApi::V1,
        database: "late".into(),
        batch_max_points: 1000,
        batch_max_age_ms: 50,
        max_retry_backoff_s: 0.5,
        ..InfluxConfig::default()
    };
    let (samples, expected) = samples(&HOSTILE_SCHOOLS[..3], now_ns());
    let total = samples.len() as u64;
    let metrics = PipelineMetrics::unregistered();
    let sink = InfluxSink::new(config, None, metrics.clone()).unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let task = tokio::spawn(sink.run(rx));
    tx.send(samples.into_iter().map(Into::into).collect())
        .await
        .unwrap();

    // Connection refused for a while, then 404 "database not found"…
    tokio::time::sleep(Duration::from_millis(1500)).await;
    influx.start_again().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // …then the database appears and the same points go through.
    influx.create_database("late").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while metrics.influx_points_written.get() < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(tx);
    task.await.unwrap();
    assert_eq!(metrics.influx_points_written.get(), total);
    assert!(writes(&metrics, "retryable") >= 1);
    assert!(writes(&metrics, "misconfigured") >= 1);
    assert_eq!(interface_counts(&influx, "late").await, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn influxdb_v1_basic_auth_and_a_wrong_password() {
    let influx = InfluxDb1::builder().auth_enabled(true).start().await;
    // The first admin user may be created without credentials.
    influx
        .query(
            "",
            "CREATE USER admin WITH PASSWORD 'pä ss:w0rd' WITH ALL PRIVILEGES",
        )
        .await;
    let mut url = Url::parse(&format!("{}/query", influx.url)).unwrap();
    url.query_pairs_mut().append_pair("q", "CREATE DATABASE sn");
    let resp = reqwest::Client::new()
        .post(url)
        .basic_auth("admin", Some("pä ss:w0rd"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());

    let (samples, _) = samples(&HOSTILE_SCHOOLS[..2], now_ns());
    let total = samples.len() as u64;
    let config = InfluxConfig {
        username: Some("admin".into()),
        ..v1_config(&influx, "sn")
    };
    let metrics = run_sink(config.clone(), Some("pä ss:w0rd"), samples.clone()).await;
    assert_eq!(metrics.influx_points_written.get(), total);

    // A wrong password is a configuration problem: retried (loudly), never
    // dropped as bad data; shutdown gives up after its budget.
    let started = Instant::now();
    let metrics = run_sink(config, Some("wrong"), samples).await;
    assert!(started.elapsed() >= collector::sink::influx::SHUTDOWN_BUDGET);
    assert_eq!(metrics.influx_points_written.get(), 0);
    assert_eq!(metrics.influx_points_rejected.get(), 0);
    assert!(writes(&metrics, "misconfigured") >= 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn victoria_metrics_accepts_the_v2_api_with_exact_labels() {
    let vm = VictoriaMetrics::start().await;
    let (samples, expected) = samples(HOSTILE_SCHOOLS, now_ns());
    let total = samples.len() as u64;
    let config = InfluxConfig {
        url: vm.url.clone(),
        api: InfluxApi::V2,
        org: "ministry".into(),
        bucket: "schoolnet".into(),
        batch_max_points: 23,
        batch_max_age_ms: 50,
        ..InfluxConfig::default()
    };
    let metrics = run_sink(config, Some("any-token"), samples).await;
    assert_eq!(metrics.influx_points_written.get(), total);

    // VictoriaMetrics names series `<measurement>_<field>`; data becomes
    // searchable after a short flush delay, so poll.
    let timeout = Duration::from_secs(30);
    wait_until("the interface points per school", timeout, || async {
        let got = vm_counts_by_school(&vm, "interface_rx_bytes").await;
        if got == expected {
            Ok(())
        } else {
            Err(format!("got {got:?}, want {expected:?}"))
        }
    })
    .await;
    let clients = vm_counts_by_school(&vm, "clients_wifi_clients").await;
    assert_eq!(clients.len(), HOSTILE_SCHOOLS.len());
}

/// `/api/v1/export` of one metric, values counted per `school` label.
async fn vm_counts_by_school(vm: &VictoriaMetrics, metric: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for v in vm.export(&format!("{{__name__=\"{metric}\"}}")).await {
        let school = v["metric"]["school"].as_str().unwrap().to_string();
        *out.entry(school).or_default() += v["values"].as_array().unwrap().len() as u64;
    }
    out
}
