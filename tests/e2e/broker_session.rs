//! The broker side of intake on a real mosquitto (issue #18 C and D):
//! a broker crash that loses the collector's persistent session is a WARN
//! and `schoolnet_mqtt_sessions_lost_total` (also when the collector was
//! stopped meanwhile: the spool directory remembers the session), and after
//! a long broker outage the collector is subscribed again within 1 s of the
//! broker accepting connections.

use crate::support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{sum_metric, Collector};
use testkit::{free_port, signal, wait_until, Mosquitto};

const LOST: &str = "schoolnet_mqtt_sessions_lost_total";

/// The collector with a spool (so it remembers its session across its own
/// restarts) and no InfluxDB: nothing here needs history delivered.
async fn spooled_collector(broker: &Mosquitto) -> Collector {
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    Collector::start_spooled(&broker.url, &nowhere, "").await
}

async fn wait_for_lost(collector: &Collector, n: f64) {
    wait_until(
        &format!("{LOST} = {n}"),
        Duration::from_secs(10),
        || async { (collector.metric_sum(LOST, &[]).await >= n).then_some(()) },
    )
    .await;
}

fn lost_warnings(collector: &Collector) -> usize {
    collector
        .process
        .stderr()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("MQTT session lost"))
        .count()
}

/// mosquitto without persistence SIGKILLed and started again on the same
/// port: the reconnect finds no session. Exactly one loss, one WARN; a
/// clean broker restart with persistence is no loss (the control).
#[tokio::test(flavor = "multi_thread")]
async fn a_broker_crash_that_loses_the_session_is_counted_and_warned() {
    let mut broker = Mosquitto::start().await;
    let mut collector = spooled_collector(&broker).await;
    let m = collector.metrics().await;
    assert!(
        m.lines().any(|l| l == format!("{LOST} 0")),
        "{LOST} is exported at 0 from the start"
    );

    // 1. Within one process.
    broker.kill();
    broker.start_again().await;
    collector.wait_ready(Duration::from_secs(10)).await;
    wait_for_lost(&collector, 1.0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = collector.metrics().await;
    assert_eq!(sum_metric(&m, LOST, &[]), 1.0);
    assert_eq!(sum_metric(&m, "schoolnet_mqtt_connections_total", &[]), 2.0);
    assert_eq!(
        lost_warnings(&collector),
        1,
        "{}",
        collector.process.stderr()
    );
    let log = collector.process.stderr();
    let warning = log
        .lines()
        .find(|l| l.contains("MQTT session lost"))
        .unwrap();
    assert!(
        warning.contains("messages published while the collector had no session")
            && warning.contains("away_s="),
        "{warning}"
    );
    eprintln!("session lost: {warning}");

    // 2. The broker crashes while the collector is stopped: the restarted
    // collector knows from its spool directory that it had a session.
    collector.kill(signal::SIGTERM);
    let status = collector.process.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{}", collector.process.log_tail());
    broker.kill();
    broker.start_again().await;
    collector.restart().await;
    wait_for_lost(&collector, 1.0).await;
    assert_eq!(
        lost_warnings(&collector),
        1,
        "{}",
        collector.process.stderr()
    );
    let log = collector.process.stderr();
    assert!(
        log.contains("at most those since the previous run disconnected"),
        "{log}"
    );

    // 3. Control: a collector restart with the broker untouched resumes
    // the session — no loss.
    collector.kill(signal::SIGTERM);
    collector.process.wait_exit(Duration::from_secs(20)).await;
    collector.restart().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(collector.metric_sum(LOST, &[]).await, 0.0);
    assert_eq!(lost_warnings(&collector), 0);
    eprintln!("session lost: broker SIGKILL (no persistence) → 1 loss, 1 WARN, in-process and across a collector restart; collector restart alone → 0");
}

/// A broker restart with persistence is not a loss, and after an outage
/// long enough for a doubling backoff to reach 8 s the collector is
/// subscribed (`/readyz` 200, every SUBACK in) within 1 s of the broker
/// accepting TCP connections.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_long_broker_outage_the_collector_is_subscribed_within_1s() {
    let mut broker = Mosquitto::builder().persistence(true).start().await;
    let collector = spooled_collector(&broker).await;
    tokio::task::block_in_place(|| broker.stop());
    wait_until(
        "the collector to notice",
        Duration::from_secs(10),
        || async { (!collector.is_ready().await).then_some(()) },
    )
    .await;
    // The old policy's delays: 0.5 + 1 + 2 + 4 s, then 8 s.
    tokio::time::sleep(Duration::from_secs(8)).await;

    // Watch both from before the broker starts: the first TCP connection
    // it accepts and the first 200 of /readyz.
    let port = broker.port;
    let accepting = tokio::task::spawn_blocking(move || loop {
        let addr = ([127, 0, 0, 1], port).into();
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Instant::now();
        }
        std::thread::sleep(Duration::from_millis(5));
    });
    let ready_url = format!("{}/readyz", collector.exporter);
    let ready = tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        loop {
            if let Ok(r) = client.get(&ready_url).send().await {
                if r.status().is_success() {
                    return Instant::now();
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    broker.start_again().await;
    let accepting = accepting.await.unwrap();
    let ready = tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("ready again within 30 s")
        .unwrap();
    let took = ready.saturating_duration_since(accepting);
    eprintln!(
        "reconnect: subscribed {:.0} ms after mosquitto accepted TCP connections (after a 8 s+ outage)",
        took.as_secs_f64() * 1000.0
    );
    assert!(took <= Duration::from_secs(1), "took {took:?}");

    let m = collector.metrics().await;
    assert_eq!(
        sum_metric(&m, LOST, &[]),
        0.0,
        "persistence kept the session"
    );
    assert_eq!(sum_metric(&m, "schoolnet_mqtt_connections_total", &[]), 2.0);
    assert_eq!(sum_metric(&m, "schoolnet_mqtt_connected", &[]), 1.0);
    let refused = sum_metric(
        &m,
        "schoolnet_mqtt_connection_errors_total",
        &["kind=\"io\""],
    );
    assert!(
        refused >= 10.0,
        "retried while the port was closed: {refused}"
    );
}
