//! Transport security and access control, end to end on real servers with
//! certificates generated when the test runs ([`TestPki`], rcgen):
//!
//! - `schoolnet run` ↔ mosquitto over TLS (`mqtts://` + `mqtt.ca_file`), also
//!   with a client certificate the broker requires; a wrong CA or a missing
//!   certificate keeps it disconnected;
//! - deploy/mosquitto/acl: a device publishes only on its own topics (and
//!   its last will cannot fake another device's status);
//! - the exporter over HTTPS with basic auth from a Prometheus web config,
//!   scraped by a real Prometheus; credentials never reach the logs;
//! - the InfluxDB writer over HTTPS with `influx.ca_file`.

use crate::support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use collector::tls::{client_config, ClientCert};
use rumqttc::{
    AsyncClient, Event, LastWill, MqttOptions, Packet, QoS, TlsConfiguration, Transport,
};
use support::{sum_metric, Collector, BIN, ROOT};
use testkit::{free_port, wait_until, ChildProcess, InfluxDb1, Mosquitto, Prometheus, TestPki};

const WAIT: Duration = Duration::from_secs(20);

/// A valid collectd message for an inventory router (one `system` point).
fn uptime(device: &str) -> (String, String) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (
        format!("collectd/{device}/uptime/uptime"),
        format!("{:.3}:12345", now.as_secs_f64()),
    )
}

/// A connected MQTT client (the test's "device"). Dropping it aborts its
/// event loop: the socket closes without DISCONNECT, so its will fires.
struct Device {
    client: AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Device {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn device(
    host_port: (&str, u16),
    id: &str,
    tls: Option<(&Path, Option<&TestPki>)>,
    credentials: Option<(&str, &str)>,
    will: Option<LastWill>,
) -> Result<Device, String> {
    let mut options = MqttOptions::new(id, host_port.0, host_port.1);
    options.set_keep_alive(Duration::from_secs(5));
    if let Some((user, password)) = credentials {
        options.set_credentials(user, password);
    }
    if let Some(will) = will {
        options.set_last_will(will);
    }
    if let Some((ca, client)) = tls {
        let cert = client.map(|pki| ClientCert {
            cert_key: "client cert",
            cert_file: &pki.client_cert,
            key_key: "client key",
            key_file: &pki.client_key,
        });
        let config = client_config(Some(("test ca", ca)), cert).unwrap();
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        )));
    }
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    loop {
        match tokio::time::timeout(WAIT, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no CONNACK".into()),
        }
    }
    let task = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    Ok(Device { client, task })
}

async fn publish(device: &Device, (topic, payload): (String, String), qos: QoS) {
    device
        .client
        .publish(topic, qos, false, payload)
        .await
        .unwrap();
}

/// `schoolnet run` without waiting for readiness (for runs that must not
/// get ready), exporter on plain HTTP.
fn spawn_run(
    broker_url: &str,
    extra: &str,
    env: &[(&str, &str)],
) -> (ChildProcess, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = dir.path().join("schoolnet.toml");
    std::fs::write(&path, support::config(broker_url, None, port, extra)).unwrap();
    let mut b = ChildProcess::builder(BIN)
        .name("schoolnet-run")
        .args(["run", "--config", path.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        b = b.env(k, v);
    }
    (b.spawn(), format!("http://127.0.0.1:{port}"), dir)
}

async fn metrics(exporter: &str) -> String {
    match reqwest::get(format!("{exporter}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits until the sum of `name{labels}` in `exporter`'s /metrics is `want`.
async fn wait_metric(exporter: &str, name: &str, labels: &[&str], want: f64) {
    wait_until(
        &format!("{name}{labels:?} == {want}"),
        WAIT,
        || async move {
            let got = sum_metric(&metrics(exporter).await, name, labels);
            if got == want {
                Ok(())
            } else {
                Err(format!("got {got}"))
            }
        },
    )
    .await;
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn collector_reads_the_broker_over_tls_and_refuses_an_untrusted_one() {
    let pki = TestPki::generate();
    let broker = Mosquitto::builder()
        .tls(&pki.server_cert, &pki.server_key, &pki.ca, false)
        .start()
        .await;
    let collector = Collector::start_with_env(
        &broker.tls_url,
        None,
        "",
        &[("SCHOOLNET_MQTT__CA_FILE", path(&pki.ca))],
    )
    .await;
    let dev = device(
        ("127.0.0.1", broker.tls_port),
        "rtr-nx-001",
        Some((&pki.ca, None)),
        None,
        None,
    )
    .await
    .unwrap();
    publish(&dev, uptime("rtr-nx-001"), QoS::AtLeastOnce).await;
    let ok = ["route=\"collectd\"", "outcome=\"ok\""];
    wait_metric(
        &collector.exporter,
        "schoolnet_collector_messages_total",
        &ok,
        1.0,
    )
    .await;

    // Trusting another CA: the handshake fails, counted as kind="tls".
    let (mut run, exporter, _dir) = spawn_run(
        &broker.tls_url,
        "",
        &[("SCHOOLNET_MQTT__CA_FILE", path(&pki.other_ca))],
    );
    wait_metric(
        &exporter,
        "schoolnet_mqtt_connection_errors_total",
        &["kind=\"tls\""],
        1.0,
    )
    .await;
    assert_eq!(
        sum_metric(&metrics(&exporter).await, "schoolnet_mqtt_connected", &[]),
        0.0
    );
    run.stop(Duration::from_secs(10));

    // TLS files with a plain mqtt:// URL stop startup with the key named.
    let (mut run, _, _dir) = spawn_run(
        &broker.url,
        "",
        &[("SCHOOLNET_MQTT__CA_FILE", path(&pki.ca))],
    );
    let status = run.wait_exit(WAIT).await;
    assert!(!status.success());
    assert!(
        run.stderr().contains("mqtt.ca_file is set but mqtt.url"),
        "{}",
        run.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn collector_presents_the_client_certificate_the_broker_requires() {
    let pki = TestPki::generate();
    let broker = Mosquitto::builder()
        .tls(&pki.server_cert, &pki.server_key, &pki.ca, true)
        .start()
        .await;
    let collector = Collector::start_with_env(
        &broker.tls_url,
        None,
        "",
        &[
            ("SCHOOLNET_MQTT__CA_FILE", path(&pki.ca)),
            ("SCHOOLNET_MQTT__CLIENT_CERT_FILE", path(&pki.client_cert)),
            ("SCHOOLNET_MQTT__CLIENT_KEY_FILE", path(&pki.client_key)),
        ],
    )
    .await;
    let dev = device(
        ("127.0.0.1", broker.tls_port),
        "rtr-nx-001",
        Some((&pki.ca, Some(&pki))),
        None,
        None,
    )
    .await
    .unwrap();
    publish(&dev, uptime("rtr-nx-001"), QoS::AtLeastOnce).await;
    let ok = ["route=\"collectd\"", "outcome=\"ok\""];
    wait_metric(
        &collector.exporter,
        "schoolnet_collector_messages_total",
        &ok,
        1.0,
    )
    .await;

    // Without a certificate mosquitto ends every handshake.
    assert!(device(
        ("127.0.0.1", broker.tls_port),
        "anon",
        Some((&pki.ca, None)),
        None,
        None
    )
    .await
    .is_err());
    let (mut run, exporter, _dir) = spawn_run(
        &broker.tls_url,
        "",
        &[("SCHOOLNET_MQTT__CA_FILE", path(&pki.ca))],
    );
    wait_until(
        "connection errors without a client certificate",
        WAIT,
        || {
            let exporter = exporter.clone();
            async move {
                let m = metrics(&exporter).await;
                match sum_metric(&m, "schoolnet_mqtt_connection_errors_total", &[]) {
                    n if n >= 1.0 => Ok(()),
                    n => Err(format!("{n} errors")),
                }
            }
        },
    )
    .await;
    assert_eq!(
        sum_metric(&metrics(&exporter).await, "schoolnet_mqtt_connected", &[]),
        0.0
    );
    run.stop(Duration::from_secs(10));
    let logs = format!("{}{}", run.stdout(), run.stderr());
    assert!(!logs.contains("PRIVATE KEY"), "a key reached the logs");
}

/// deploy/mosquitto/acl on a real broker: `rtr-nx-001` reaches the
/// collector on its own topics only.
#[tokio::test(flavor = "multi_thread")]
async fn acl_lets_a_device_publish_only_on_its_own_topics() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl");
    std::fs::copy(Path::new(ROOT).join("deploy/mosquitto/acl"), &acl).unwrap();
    let passwd = dir.path().join("passwd");
    for (i, (user, password)) in [
        ("schoolnet-collector", "collector-pw"),
        ("rtr-nx-001", "device-1-pw"),
        ("rtr-nx-002", "device-2-pw"),
    ]
    .iter()
    .enumerate()
    {
        let mut cmd = std::process::Command::new("/usr/bin/mosquitto_passwd");
        cmd.arg("-b");
        if i == 0 {
            cmd.arg("-c");
        }
        let out = cmd.arg(&passwd).arg(user).arg(password).output().expect(
            "mosquitto_passwd (Debian package mosquitto): run sudo scripts/setup-test-deps.sh",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let broker = Mosquitto::builder()
        .password_file(&passwd)
        .acl_file(&acl)
        .start()
        .await;
    let collector = Collector::start_with_env(
        &broker.url,
        None,
        "",
        &[
            ("SCHOOLNET_MQTT__USERNAME", "schoolnet-collector"),
            ("SCHOOLNET_MQTT_PASSWORD", "collector-pw"),
        ],
    )
    .await;
    let at = ("127.0.0.1", broker.port);

    // No credentials, or a wrong password: refused at CONNECT.
    assert!(device(at, "anon", None, None, None).await.is_err());
    assert!(device(at, "x", None, Some(("rtr-nx-001", "wrong")), None)
        .await
        .is_err());

    // rtr-nx-001 connects with a last will on rtr-nx-002's status topic,
    // publishes on rtr-nx-002's topics (QoS 1 and 0), then on its own.
    let forged_will = LastWill::new("tele/rtr-nx-002/LWT", "Offline", QoS::AtLeastOnce, false);
    let dev = device(
        at,
        "rtr-nx-001",
        None,
        Some(("rtr-nx-001", "device-1-pw")),
        Some(forged_will),
    )
    .await
    .unwrap();
    publish(&dev, uptime("rtr-nx-002"), QoS::AtLeastOnce).await;
    publish(&dev, uptime("rtr-nx-002"), QoS::AtMostOnce).await;
    publish(
        &dev,
        ("tele/rtr-nx-002/LWT".into(), "Offline".into()),
        QoS::AtLeastOnce,
    )
    .await;
    let line = (
        "telegraf/rtr-nx-002/system".into(),
        "system uptime=1i".into(),
    );
    publish(&dev, line, QoS::AtLeastOnce).await;
    publish(&dev, uptime("rtr-nx-001"), QoS::AtLeastOnce).await;
    // Same connection, so the broker handled the forbidden ones first: once
    // the allowed sentinel is in, nothing else came or will come.
    let ok = ["route=\"collectd\"", "outcome=\"ok\""];
    wait_metric(
        &collector.exporter,
        "schoolnet_collector_messages_total",
        &ok,
        1.0,
    )
    .await;
    // The forged will fires now: the device vanishes without DISCONNECT.
    drop(dev);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // rtr-nx-002 itself may publish there, and its own will does arrive
    // (so wills do fire here, and the forged one was dropped by the ACL).
    let own_will = LastWill::new("tele/rtr-nx-002/LWT", "Offline", QoS::AtLeastOnce, false);
    let dev2 = device(
        at,
        "rtr-nx-002",
        None,
        Some(("rtr-nx-002", "device-2-pw")),
        Some(own_will),
    )
    .await
    .unwrap();
    publish(&dev2, uptime("rtr-nx-002"), QoS::AtLeastOnce).await;
    wait_metric(
        &collector.exporter,
        "schoolnet_collector_messages_total",
        &ok,
        2.0,
    )
    .await;
    drop(dev2);
    let lwt = ["route=\"lwt\"", "outcome=\"ok\""];
    wait_metric(
        &collector.exporter,
        "schoolnet_collector_messages_total",
        &lwt,
        1.0,
    )
    .await;
    let m = metrics(&collector.exporter).await;
    assert_eq!(
        sum_metric(&m, "schoolnet_collector_messages_total", &[]),
        3.0,
        "only the three allowed messages reached the collector:\n{}",
        m.lines()
            .filter(|l| l.starts_with("schoolnet_collector_messages_total"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A web config with TLS and one user, as Prometheus' exporter-toolkit
/// reads it (checked by `promtool check web-config`).
fn web_config(pki: &TestPki, dir: &Path, password: &str) -> std::path::PathBuf {
    let hash = bcrypt::hash(password, 4).unwrap();
    let path = dir.join("web-config.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  prometheus: '{hash}'\n",
            pki.server_cert.display(),
            pki.server_key.display()
        ),
    )
    .unwrap();
    path
}

fn https_client(pki: &TestPki) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&pki.ca_pem()).unwrap();
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn exporter_serves_https_with_basic_auth_and_logs_no_password() {
    const PASSWORD: &str = "correct horse: battery staple";
    let pki = TestPki::generate();
    let dir = tempfile::tempdir().unwrap();
    let web = web_config(&pki, dir.path(), PASSWORD);
    let promtool = Path::new("/usr/bin/promtool");
    assert!(
        promtool.exists(),
        "promtool (Debian package prometheus): run sudo scripts/setup-test-deps.sh"
    );
    let check = std::process::Command::new(promtool)
        .args(["check", "web-config"])
        .arg(&web)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool check web-config: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    let broker = Mosquitto::start().await;
    let (mut run, plain, _run_dir) = spawn_run(
        &broker.url,
        "",
        &[("SCHOOLNET_EXPORTER__WEB_CONFIG_FILE", path(&web))],
    );
    let base = plain.replace("http://", "https://");
    let client = https_client(&pki);
    let get = |path: &'static str, auth: Option<(&'static str, &'static str)>| {
        let mut req = client.get(format!("{base}{path}"));
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        req.send()
    };
    let good = Some(("prometheus", PASSWORD));
    wait_until("the exporter to answer over https", WAIT, || async {
        match get("/readyz", good).await {
            Ok(r) if r.status() == 200 => Ok(()),
            Ok(r) => Err(format!("{}", r.status())),
            Err(e) => Err(format!("{e:#}")),
        }
    })
    .await;

    let r = get("/metrics", good).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("schoolnet_school_up{"));
    for (path, auth) in [
        ("/metrics", None),
        ("/metrics", Some(("prometheus", "wrong"))),
        ("/metrics", Some(("grafana", PASSWORD))),
        ("/healthz", None),
        ("/api/schools", None),
        ("/", None),
    ] {
        let r = get(path, auth).await.unwrap();
        assert_eq!(r.status(), 401, "{path} with {auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"schoolnet\"");
    }
    // No plain-HTTP fallback; and a client that does not trust the CA fails.
    assert!(reqwest::get(format!("{plain}/metrics")).await.is_err());
    let untrusting = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(untrusting
        .get(format!("{base}/metrics"))
        .send()
        .await
        .is_err());

    // A real Prometheus scrapes it with the right password, not the wrong one.
    let pw_ok = dir.path().join("pw-ok");
    let pw_bad = dir.path().join("pw-bad");
    std::fs::write(&pw_ok, PASSWORD).unwrap();
    std::fs::write(&pw_bad, "guess").unwrap();
    let target = base.trim_start_matches("https://").to_string();
    let job = |name: &str, pw: &Path| {
        serde_json::json!({
            "job_name": name,
            "scheme": "https",
            "tls_config": {"ca_file": pki.ca},
            "basic_auth": {"username": "prometheus", "password_file": pw},
            "static_configs": [{"targets": [target]}],
        })
    };
    let prom = Prometheus::builder()
        .scrape_config(job("schoolnet-tls", &pw_ok))
        .scrape_config(job("schoolnet-wrong-password", &pw_bad))
        .start()
        .await;
    prom.wait_for_value("up{job=\"schoolnet-tls\"}", 1.0, WAIT)
        .await;
    prom.wait_for_value("up{job=\"schoolnet-wrong-password\"}", 0.0, WAIT)
        .await;
    prom.wait_for_value(
        "count(schoolnet_school_up{job=\"schoolnet-tls\"})",
        216.0,
        WAIT,
    )
    .await;

    run.stop(Duration::from_secs(10));
    let logs = format!("{}{}", run.stdout(), run.stderr());
    assert!(logs.contains("exporter listening on https://"), "{logs}");
    for secret in [PASSWORD, "correct horse", "$2b$", "$2y$", "PRIVATE KEY"] {
        assert!(!logs.contains(secret), "`{secret}` in the logs:\n{logs}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn influx_writer_uses_https_with_ca_file() {
    let pki = TestPki::generate();
    let influx = InfluxDb1::builder()
        .tls(&pki.server_cert, &pki.server_key, &pki.ca)
        .start()
        .await;
    assert!(influx.url.starts_with("https://"));
    influx.create_database("schoolnet").await;
    let broker = Mosquitto::start().await;
    let section = |ca: &Path| {
        format!(
            "[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\nbatch_max_age_ms = 200\nmax_retry_backoff_s = 1.0\nca_file = \"{}\"\n",
            influx.url,
            ca.display()
        )
    };
    let trusting = Collector::start(&broker.url, None, &section(&pki.ca)).await;
    // Same traffic to a writer that trusts another CA: nothing gets through.
    let untrusting = Collector::start(&broker.url, None, &section(&pki.other_ca)).await;

    let dev = device(("127.0.0.1", broker.port), "rtr-nx-001", None, None, None)
        .await
        .unwrap();
    publish(&dev, uptime("rtr-nx-001"), QoS::AtLeastOnce).await;
    wait_until("the system point in InfluxDB over https", WAIT, || async {
        match influx
            .count("schoolnet", "SELECT count(uptime_s) FROM system")
            .await
        {
            1 => Ok(()),
            n => Err(format!("{n} points")),
        }
    })
    .await;
    wait_metric(
        &trusting.exporter,
        "schoolnet_influx_writes_total",
        &["result=\"ok\""],
        1.0,
    )
    .await;
    wait_until("the untrusting writer to fail", WAIT, || async {
        let m = untrusting.metrics().await;
        let failed = sum_metric(
            &m,
            "schoolnet_influx_writes_total",
            &["result=\"retryable\""],
        );
        let ok = sum_metric(&m, "schoolnet_influx_writes_total", &["result=\"ok\""]);
        if failed >= 1.0 && ok == 0.0 {
            Ok(())
        } else {
            Err(format!("failed {failed}, ok {ok}"))
        }
    })
    .await;
    assert!(
        untrusting.process.stderr().contains("certificate")
            || untrusting.process.stdout().contains("certificate"),
        "the failure names the certificate problem:\n{}",
        untrusting.process.log_tail()
    );
}
