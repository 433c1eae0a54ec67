//! A 10 MB QoS 1 message on a real mosquitto with no size limit (issue
//! #17 A): once it wedged intake for good (the client dropped the
//! connection on the oversize packet and the persistent session redelivered
//! it on every reconnect). Now it is acknowledged, rejected as `too_large`
//! exactly once with a dead letter, and the good messages around it are
//! stored — both while the collector runs and while it is stopped (the
//! message waits in its persistent session).
//!
//! Exact counts throughout: probe points are stamped on receipt, so a
//! redelivered good message would be a second point in InfluxDB.

use crate::support;

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use support::{influx_points, sum_metric, Collector};
use testkit::{signal, wait_until, InfluxDb1, Mosquitto};

/// The probe route: one bare number, the device's RTT in ms.
const TOPIC: &str = "probe/rtr-nx-001/8.8.8.8/rtt_ms";
/// Larger than any limit the collector had (1 MiB packets) or has (64 KiB
/// payloads).
const OVERSIZE: usize = 10_000_000;

/// Publishes `payloads` to [`TOPIC`] at QoS 1, in order, and returns once
/// the broker acknowledged every one.
async fn publish_qos1(broker: &Mosquitto, payloads: &[Vec<u8>]) {
    let mut options = MqttOptions::new("oversize-publisher", broker.host(), broker.port);
    options
        .set_clean_session(true)
        .set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    for p in payloads {
        client
            .publish(TOPIC, QoS::AtLeastOnce, false, p.clone())
            .await
            .unwrap();
    }
    let mut acked = 0;
    tokio::time::timeout(Duration::from_secs(30), async {
        while acked < payloads.len() {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => panic!("publisher: {e}"),
            }
        }
    })
    .await
    .expect("the broker acknowledged every publish");
    client.disconnect().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while eventloop.poll().await.is_ok() {}
    })
    .await;
}

/// Good, 10 MB, good.
fn sandwich(first_rtt: &str, second_rtt: &str) -> Vec<Vec<u8>> {
    vec![
        first_rtt.as_bytes().to_vec(),
        vec![b'1'; OVERSIZE],
        second_rtt.as_bytes().to_vec(),
    ]
}

/// Waits until the probe route has counted `n` messages.
async fn wait_for_messages(collector: &Collector, n: f64) {
    wait_until(
        &format!("{n} probe-rtt messages counted"),
        Duration::from_secs(20),
        || async {
            let got = collector
                .metric_sum(
                    "schoolnet_collector_messages_total",
                    &["route=\"probe-rtt\""],
                )
                .await;
            (got >= n).then_some(())
        },
    )
    .await;
}

/// Two good messages stored, the oversize one rejected once as `too_large`
/// with its dead letter, and the MQTT connection never dropped.
async fn assert_one_oversize_handled(collector: &Collector) {
    let m = collector.metrics().await;
    let route = ["route=\"probe-rtt\""];
    let count = |name: &str, labels: &[&str]| sum_metric(&m, name, labels);
    assert_eq!(
        count(
            "schoolnet_collector_messages_total",
            &[route[0], "outcome=\"ok\""]
        ),
        2.0
    );
    assert_eq!(
        count(
            "schoolnet_collector_messages_total",
            &[route[0], "outcome=\"rejected\""]
        ),
        1.0
    );
    assert_eq!(count("schoolnet_collector_messages_total", &[]), 3.0);
    assert_eq!(
        count(
            "schoolnet_collector_rejected_total",
            &["reason=\"too_large\""]
        ),
        1.0
    );
    assert_eq!(count("schoolnet_collector_rejected_total", &[]), 1.0);
    assert_eq!(count("schoolnet_mqtt_connection_errors_total", &[]), 0.0);
    assert_eq!(count("schoolnet_mqtt_connections_total", &[]), 1.0);
    assert_eq!(count("schoolnet_mqtt_connected", &[]), 1.0);

    let dead = collector.dead_letters().await;
    let entries = dead["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{dead}");
    let e = &entries[0];
    assert_eq!(e["reason"], "too_large", "{e}");
    assert_eq!(e["topic"], TOPIC, "{e}");
    assert_eq!(e["payload_bytes"], OVERSIZE, "{e}");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("10000000 bytes > limit 65536"),
        "{e}"
    );
}

/// The probe points InfluxDB holds for school NX-001.
async fn probe_points(influx: &InfluxDb1) -> u64 {
    influx_points(influx, "schoolnet")
        .await
        .unwrap()
        .get("probe")
        .and_then(|s| s.get("NX-001"))
        .copied()
        .unwrap_or(0)
}

async fn wait_for_probe_points(influx: &InfluxDb1, n: u64) {
    wait_until(
        &format!("{n} probe points in InfluxDB"),
        Duration::from_secs(20),
        || async { (probe_points(influx).await >= n).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_10mb_qos1_message_is_rejected_once_running_and_queued() {
    // testkit's mosquitto sets no message_size_limit: it passes 10 MB on.
    let broker = Mosquitto::start().await;
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    let mut collector = Collector::start_spooled(&broker.url, &influx.url, "").await;

    // 1. While the collector runs.
    publish_qos1(&broker, &sandwich("11.5", "12.5")).await;
    wait_for_messages(&collector, 3.0).await;
    wait_for_probe_points(&influx, 2).await;
    assert_one_oversize_handled(&collector).await;
    let log = collector.process.stderr();
    assert!(
        !log.contains("MQTT connection error"),
        "the oversize message broke the connection:\n{log}"
    );

    // 2. While it is stopped: the broker queues the three messages in its
    // persistent session and delivers them on restart.
    collector.kill(signal::SIGTERM);
    let status = collector.process.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{}", collector.process.log_tail());
    publish_qos1(&broker, &sandwich("13.5", "14.5")).await;
    collector.restart().await;
    wait_for_messages(&collector, 3.0).await;
    wait_for_probe_points(&influx, 4).await;
    assert_one_oversize_handled(&collector).await;
    let log = collector.process.stderr();
    assert!(!log.contains("MQTT connection error"), "{log}");

    // 3. Every one of them was acknowledged, the rejected one included:
    // another restart gets nothing redelivered.
    collector.kill(signal::SIGTERM);
    let status = collector.process.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{}", collector.process.log_tail());
    collector.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m = collector.metrics().await;
    assert_eq!(
        sum_metric(&m, "schoolnet_collector_messages_total", &[]),
        0.0,
        "redelivered after a restart: an ack was not sent"
    );
    assert_eq!(
        sum_metric(&m, "schoolnet_mqtt_sessions_lost_total", &[]),
        0.0
    );
    assert_eq!(
        probe_points(&influx).await,
        4,
        "each good message stored once"
    );
    eprintln!(
        "oversize: 2 × {OVERSIZE} B QoS 1 (running, queued while stopped): 2 too_large rejects, \
         4 good points stored, 0 connection errors, 0 redeliveries"
    );
}
