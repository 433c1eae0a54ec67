//! The InfluxDB sink against real servers: InfluxDB 1.x (`influxd`, v1 write
//! API, InfluxQL read-back) and VictoriaMetrics (`/api/v2/write`, the v2 write
//! API). Each test starts its own server as a child process on free loopback
//! ports with a temporary data directory; the server is killed on drop.
//!
//! Hostile tag values (spaces, commas, `=`, quotes, backslashes, newlines,
//! tabs, unicode) are written and read back; the expected stored value is
//! `stored_value(raw)`, the escaping rules of `sink::influx::line_protocol`.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use collector::inventory::{DeviceInfo, Role, School};
use collector::metrics::PipelineMetrics;
use collector::sample::{Field, FieldValue, Measurement, Sample};
use collector::sink::influx::{stored_value, InfluxApi, InfluxConfig, InfluxSink};
use reqwest::Url;
use serde_json::Value;
use tempfile::TempDir;

const SETUP_HINT: &str =
    "run `sudo scripts/setup-test-deps.sh` (installs the Debian packages the tests need)";

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

fn find_binary(name: &str) -> PathBuf {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found: {SETUP_HINT}"))
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// A server child process, killed on drop.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(bin: &Path, args: &[String], dir: TempDir, port: u16, ready_path: &str) -> Server {
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        server.wait_ready(ready_path);
        server
    }

    fn wait_ready(&mut self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited ({status}): {}", self.log_tail());
            }
            if http_get_ok(&format!("{}{path}", self.url)) {
                return;
            }
            if Instant::now() > deadline {
                panic!("server not ready after 30 s: {}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A tiny blocking HTTP GET (std only, no runtime needed) for readiness
/// checks: true on a 2xx status line.
fn http_get_ok(url: &str) -> bool {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") && buf[9] == b'2'
}

fn start_influxd(max_body_size: usize, http_port: Option<u16>, auth: bool) -> Server {
    let bin = find_binary("influxd");
    let dir = tempfile::tempdir().unwrap();
    let (http, rpc) = (http_port.unwrap_or_else(free_port), free_port());
    let d = dir.path().display();
    let conf = format!(
        r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
  max-body-size = {max_body_size}
  auth-enabled = {auth}
[monitor]
  store-enabled = false
"#
    );
    let conf_path = dir.path().join("influxdb.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let args = vec!["-config".to_string(), conf_path.display().to_string()];
    Server::start(&bin, &args, dir, http, "/ping")
}

fn start_victoria_metrics() -> Server {
    let bin = find_binary("victoria-metrics");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let args = vec![
        format!("-httpListenAddr=127.0.0.1:{port}"),
        format!("-storageDataPath={}", dir.path().join("data").display()),
        "-search.latencyOffset=1s".to_string(),
    ];
    Server::start(&bin, &args, dir, port, "/health")
}

async fn influxql(server: &Server, db: &str, q: &str) -> Value {
    let mut url = Url::parse(&format!("{}/query", server.url)).unwrap();
    url.query_pairs_mut()
        .append_pair("db", db)
        .append_pair("q", q);
    let resp = reqwest::Client::new().post(url).send().await.unwrap();
    assert!(resp.status().is_success(), "{q}: {}", resp.status());
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

/// `SELECT count(f) … GROUP BY school` as `{school: count}`.
async fn counts_by_school(server: &Server, db: &str, q: &str) -> BTreeMap<String, u64> {
    let v = influxql(server, db, q).await;
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

async fn tag_values(server: &Server, db: &str, measurement: &str, key: &str) -> Vec<String> {
    let q = format!("SHOW TAG VALUES FROM {measurement} WITH KEY = \"{key}\"");
    let v = influxql(server, db, &q).await;
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
        let one = |m, device: &Arc<DeviceInfo>, key: Option<&str>, f, v| Sample {
            measurement: m,
            time_ns: t0,
            device: device.clone(),
            key: key.map(Into::into),
            fields: vec![(f, Float(v))],
        };
        out.push(one(Measurement::Optical, &ont, None, Field::RxDbm, -21.5));
        out.push(one(
            Measurement::System,
            &router,
            None,
            Field::CpuRatio,
            0.25,
        ));
        out.push(one(
            Measurement::Probe,
            &router,
            Some("8.8.8.8"),
            Field::RttS,
            0.012,
        ));
        out.push(one(
            Measurement::Clients,
            &router,
            None,
            Field::WifiClients,
            12.0,
        ));
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
        tx.send(chunk.to_vec()).await.unwrap();
    }
    drop(tx);
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("sink drains within 60 s")
        .unwrap();
    metrics
}

fn v1_config(server: &Server, db: &str) -> InfluxConfig {
    InfluxConfig {
        url: server.url.clone(),
        api: InfluxApi::V1,
        database: db.into(),
        batch_max_points: 17,
        batch_max_age_ms: 50,
        max_retry_backoff_s: 1.0,
        ..InfluxConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn influxdb_v1_stores_every_point_with_exact_tags() {
    let server = start_influxd(25_000_000, None, false);
    influxql(&server, "", "CREATE DATABASE sn").await;
    let (samples, expected) = samples(HOSTILE_SCHOOLS, now_ns());
    let total = samples.len() as u64;

    let metrics = run_sink(v1_config(&server, "sn"), None, samples).await;
    assert_eq!(metrics.influx_points_written.get(), total);
    assert_eq!(metrics.influx_points_rejected.get(), 0);
    assert!(metrics.influx_writes.with_label_values(&["ok"]).get() >= total / 17);

    let got = counts_by_school(
        &server,
        "sn",
        "SELECT count(rx_bytes) FROM interface GROUP BY school",
    )
    .await;
    assert_eq!(got, expected);
    let ones: BTreeMap<String, u64> = expected.keys().map(|k| (k.clone(), 1)).collect();
    for (m, f) in [
        ("system", "cpu_ratio"),
        ("probe", "rtt_s"),
        ("clients", "wifi_clients"),
    ] {
        let q = format!("SELECT count({f}) FROM {m} GROUP BY school");
        assert_eq!(counts_by_school(&server, "sn", &q).await, ones, "{m}");
    }

    let mut interfaces: Vec<String> = HOSTILE_SCHOOLS
        .iter()
        .map(|s| stored_value(&format!("wan {s}")))
        .collect();
    interfaces.sort();
    assert_eq!(
        tag_values(&server, "sn", "interface", "interface").await,
        interfaces
    );
    assert_eq!(
        tag_values(&server, "sn", "interface", "district").await,
        ["Şərur, \"north\""]
    );
    assert!(tag_values(&server, "sn", "probe", "role").await.is_empty());

    // Counters are integer columns, gauges float columns; NaN was skipped.
    let v = influxql(&server, "sn", "SHOW FIELD KEYS FROM interface").await;
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
    let server = start_influxd(2_000, None, false);
    influxql(&server, "", "CREATE DATABASE sn").await;
    let (samples, expected) = samples(HOSTILE_SCHOOLS, now_ns());
    let total = samples.len() as u64;
    let config = InfluxConfig {
        gzip: false,
        batch_max_points: 500,
        batch_max_age_ms: 10_000,
        ..v1_config(&server, "sn")
    };
    let metrics = run_sink(config, None, samples).await;
    assert!(metrics.influx_writes.with_label_values(&["split"]).get() >= 3);
    assert_eq!(metrics.influx_points_rejected.get(), 0);
    assert_eq!(metrics.influx_points_written.get(), total);
    let got = counts_by_school(
        &server,
        "sn",
        "SELECT count(rx_bytes) FROM interface GROUP BY school",
    )
    .await;
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn points_wait_for_a_server_that_is_down_or_lacks_the_database() {
    let port = free_port();
    let config = InfluxConfig {
        url: format!("http://127.0.0.1:{port}"),
        ..v1_config_url()
    };
    let (samples, expected) = samples(&HOSTILE_SCHOOLS[..3], now_ns());
    let total = samples.len() as u64;
    let metrics = PipelineMetrics::unregistered();
    let sink = InfluxSink::new(config, None, metrics.clone()).unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let task = tokio::spawn(sink.run(rx));
    tx.send(samples).await.unwrap();

    // Connection refused for a while, then 404 "database not found"…
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let server = tokio::task::block_in_place(|| start_influxd(25_000_000, Some(port), false));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // …then the database appears and the same points go through.
    influxql(&server, "", "CREATE DATABASE late").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while metrics.influx_points_written.get() < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(tx);
    task.await.unwrap();
    assert_eq!(metrics.influx_points_written.get(), total);
    assert!(
        metrics
            .influx_writes
            .with_label_values(&["retryable"])
            .get()
            >= 1
    );
    assert!(
        metrics
            .influx_writes
            .with_label_values(&["misconfigured"])
            .get()
            >= 1
    );
    let got = counts_by_school(
        &server,
        "late",
        "SELECT count(rx_bytes) FROM interface GROUP BY school",
    )
    .await;
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn influxdb_v1_basic_auth_and_a_wrong_password() {
    let server = start_influxd(25_000_000, None, true);
    // The first admin user may be created without credentials.
    influxql(
        &server,
        "",
        "CREATE USER admin WITH PASSWORD 'pä ss:w0rd' WITH ALL PRIVILEGES",
    )
    .await;
    let mut url = Url::parse(&format!("{}/query", server.url)).unwrap();
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
        ..v1_config(&server, "sn")
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
    assert!(
        metrics
            .influx_writes
            .with_label_values(&["misconfigured"])
            .get()
            >= 3
    );
}

fn v1_config_url() -> InfluxConfig {
    InfluxConfig {
        api: InfluxApi::V1,
        database: "late".into(),
        batch_max_points: 1000,
        batch_max_age_ms: 50,
        max_retry_backoff_s: 0.5,
        ..InfluxConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn victoria_metrics_accepts_the_v2_api_with_exact_labels() {
    let server = start_victoria_metrics();
    let (samples, expected) = samples(HOSTILE_SCHOOLS, now_ns());
    let total = samples.len() as u64;
    let config = InfluxConfig {
        url: server.url.clone(),
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
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let got = vm_counts_by_school(&server, "interface_rx_bytes").await;
        if got == expected || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(got, expected);
    let clients = vm_counts_by_school(&server, "clients_wifi_clients").await;
    assert_eq!(clients.len(), HOSTILE_SCHOOLS.len());
}

/// `/api/v1/export` of one metric, values counted per `school` label.
async fn vm_counts_by_school(server: &Server, metric: &str) -> BTreeMap<String, u64> {
    let mut url = Url::parse(&format!("{}/api/v1/export", server.url)).unwrap();
    url.query_pairs_mut()
        .append_pair("match[]", &format!("{{__name__=\"{metric}\"}}"))
        .append_pair("start", "0");
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let school = v["metric"]["school"].as_str().unwrap().to_string();
        *out.entry(school).or_default() += v["values"].as_array().unwrap().len() as u64;
    }
    out
}
