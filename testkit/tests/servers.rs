//! Smoke tests: every server starts on a free loopback port, is ready when
//! `start()` returns and does its basic job. A failure here usually means
//! the machine is not set up: run `sudo scripts/setup-test-deps.sh`.

use std::time::{Duration, Instant};

use testkit::{
    first_value, wait_until, ChildProcess, Collectd, InfluxDb1, Mosquitto, Prometheus,
    VictoriaMetrics,
};

const T: Duration = Duration::from_secs(30);

fn mosquitto_sub(broker: &Mosquitto, args: &[&str]) -> ChildProcess {
    ChildProcess::builder("/usr/bin/mosquitto_sub")
        .args(["-h", broker.host(), "-p", &broker.port.to_string()])
        .args(args)
        .spawn()
}

async fn mosquitto_pub(broker: &Mosquitto, args: &[&str]) {
    let mut p = ChildProcess::builder("/usr/bin/mosquitto_pub")
        .args(["-h", broker.host(), "-p", &broker.port.to_string()])
        .args(args)
        .spawn();
    let status = p.wait_exit(T).await;
    assert!(
        status.success(),
        "mosquitto_pub failed: {status}\n{}",
        p.log_tail()
    );
}

#[tokio::test]
async fn mosquitto_relays_and_keeps_sessions_across_restart() {
    let t0 = Instant::now();
    let mut broker = Mosquitto::builder().persistence(true).start().await;
    eprintln!("mosquitto ready in {:?} on {}", t0.elapsed(), broker.url);
    assert_eq!(broker.url, format!("mqtt://127.0.0.1:{}", broker.port));

    // Plain relay (retained, so the subscriber's timing does not matter).
    mosquitto_pub(&broker, &["-t", "smoke/a", "-m", "hello", "-r"]).await;
    let mut sub = mosquitto_sub(&broker, &["-t", "smoke/#", "-v", "-C", "1", "-W", "20"]);
    let status = sub.wait_exit(T).await;
    assert!(status.success(), "{}", sub.log_tail());
    assert_eq!(sub.stdout().trim(), "smoke/a hello");

    // A persistent session's queued QoS 1 message survives a clean restart.
    let mut reg = mosquitto_sub(
        &broker,
        &["-c", "-i", "durable", "-q", "1", "-t", "q/x", "-E"],
    );
    assert!(reg.wait_exit(T).await.success(), "{}", reg.log_tail());
    mosquitto_pub(&broker, &["-q", "1", "-t", "q/x", "-m", "kept"]).await;
    let port = broker.port;
    broker.restart().await;
    assert_eq!(broker.port, port);
    assert!(broker.dir().join("persistence/mosquitto.db").exists());
    let mut again = mosquitto_sub(
        &broker,
        &[
            "-c", "-i", "durable", "-q", "1", "-t", "q/x", "-C", "1", "-W", "20",
        ],
    );
    assert!(again.wait_exit(T).await.success(), "{}", again.log_tail());
    assert_eq!(again.stdout().trim(), "kept");

    // Crash and start again on the same port.
    broker.kill();
    assert!(!broker.is_running());
    broker.start_again().await;
    assert_eq!(broker.port, port);
    assert!(broker.is_running());
}

#[tokio::test]
async fn influxdb_writes_and_counts() {
    let t0 = Instant::now();
    let influx = InfluxDb1::builder().max_body_size(1_000_000).start().await;
    eprintln!("influxd ready in {:?} on {}", t0.elapsed(), influx.url);
    influx.create_database("smoke").await;
    influx
        .write(
            "smoke",
            "wifi,ap=a1 clients=3i 1700000000000000000\nwifi,ap=a2 clients=5i 1700000000000000000",
        )
        .await;
    for (q, want) in [
        ("SELECT count(clients) FROM wifi", 2),
        ("SELECT count(clients) FROM wifi GROUP BY ap", 2),
        ("SELECT count(clients) FROM nothing", 0),
    ] {
        assert_eq!(influx.count("smoke", q).await, want, "{q}");
    }
    let body = influx
        .query("smoke", "SELECT clients FROM wifi WHERE ap = 'a2'")
        .await;
    assert_eq!(
        body["results"][0]["series"][0]["values"][0],
        serde_json::json!([1700000000000000000u64, 5])
    );
    let err = influx
        .try_query("smoke", "SELEC nonsense")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("error parsing query"), "{err:#}");
}

#[tokio::test]
async fn victoria_metrics_accepts_line_protocol() {
    let t0 = Instant::now();
    let vm = VictoriaMetrics::start().await;
    eprintln!("victoria-metrics ready in {:?} on {}", t0.elapsed(), vm.url);
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    vm.write_lines(&format!("wifi,ap=a1 clients=3 {now_ns}"))
        .await;
    let series = vm
        .wait_for_export("{__name__=\"wifi_clients\"}", T, |s| !s.is_empty())
        .await;
    assert_eq!(series[0]["metric"]["ap"], "a1");
    assert_eq!(series[0]["values"][0], 3.0);
    wait_until("the sample to be queryable", T, || async {
        vm.query_f64("wifi_clients{ap=\"a1\"}").await == Some(3.0)
    })
    .await;
}

#[tokio::test]
async fn prometheus_scrapes_a_real_target() {
    let vm = VictoriaMetrics::start().await;
    let target = format!("127.0.0.1:{}", vm.port);
    let t0 = Instant::now();
    let prom = Prometheus::builder()
        .scrape("vm", [target])
        .rule_file(
            "rules.yml",
            "groups:\n- name: smoke\n  rules:\n  - record: smoke:up\n    expr: up\n",
        )
        .start()
        .await;
    eprintln!("prometheus ready in {:?} on {}", t0.elapsed(), prom.url);
    assert_eq!(prom.query_f64("1 + 1").await, Some(2.0));
    prom.wait_for_value("up{job=\"vm\"}", 1.0, T).await;
    let result = prom
        .wait_for("smoke:up", |r| first_value(r) == Some(1.0), T)
        .await;
    assert_eq!(result[0]["metric"]["job"], "vm");
    prom.reload().await;
}

#[tokio::test]
async fn collectd_publishes_to_mosquitto() {
    let broker = Mosquitto::start().await;
    let mut sub = mosquitto_sub(
        &broker,
        &[
            "-q",
            "1",
            "-t",
            "collectd/ap-smoke-01/#",
            "-F",
            "%t %x",
            "-C",
            "6",
            "-W",
            "30",
        ],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    let collectd = Collectd::builder()
        .hostname("ap-smoke-01")
        .mqtt(&broker)
        .start()
        .await;
    eprintln!("collectd ready in {:?}", t0.elapsed());
    assert_eq!(collectd.topic_prefix(), "collectd/ap-smoke-01");
    let status = sub.wait_exit(T).await;
    assert!(
        status.success(),
        "{}\n{}",
        sub.log_tail(),
        collectd.log_tail()
    );
    let out = sub.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    for line in lines {
        let (topic, hex) = line.split_once(' ').unwrap();
        let parts: Vec<&str> = topic.split('/').collect();
        assert_eq!(parts.len(), 4, "{topic}");
        assert_eq!(&parts[..2], ["collectd", "ap-smoke-01"]);
        assert!(
            hex.ends_with("00"),
            "payload of {topic} must end with a NUL byte: {hex}"
        );
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let text = std::str::from_utf8(&bytes[..bytes.len() - 1]).unwrap();
        let mut fields = text.split(':');
        let ts: f64 = fields.next().unwrap().parse().unwrap();
        assert!(ts > 1.6e9, "{text}");
        assert!(fields.count() >= 1, "{text}");
    }
}

#[tokio::test]
async fn restart_waits_for_its_port_to_be_free_again() {
    let mut broker = Mosquitto::start().await;
    let port = broker.port;
    broker.stop();
    // Someone else holds the port for a while: start_again retries on the
    // same port instead of failing or moving.
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let release = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(1500));
        drop(squatter);
    });
    broker.start_again().await;
    release.await.unwrap();
    assert_eq!(broker.port, port);
    assert!(
        broker
            .log_tail()
            .to_lowercase()
            .contains("address already in use"),
        "{}",
        broker.log_tail()
    );
}

#[tokio::test]
#[should_panic(expected = "exited before it was ready")]
async fn a_server_that_cannot_start_fails_with_its_log() {
    let _broker = Mosquitto::builder()
        .config_line("this_is_not_an_option 1")
        .start()
        .await;
}

#[tokio::test]
async fn alertmanager_accepts_its_config_and_answers() {
    let am = testkit::Alertmanager::builder()
        .config("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
        .start()
        .await;
    assert!(am.alerts().await.is_empty());
}
