//! Backpressure on the production path (QoS 1, manual acks after the
//! spool commit) on a real mosquitto: a full intake queue must slow the
//! collector down, never stop it.
//!
//! Regression test for a deadlock found by the load harness: the pipeline
//! awaited each ack on rumqttc's bounded request channel, which only the
//! MQTT source drains; the source had stopped polling because the
//! pipeline's input queue was full. mosquitto 2.0.11 sends far more
//! unacknowledged messages than `max_inflight_messages` after a burst of
//! acks, so the queue does fill. A tiny queue makes it fill at once.

use crate::support;

use std::time::{Duration, Instant};

use support::{simulate, sum_metric, Collector};
use testkit::{free_port, Mosquitto};

#[tokio::test(flavor = "multi_thread")]
async fn full_intake_queue_slows_down_but_never_deadlocks() {
    let broker = Mosquitto::builder()
        .config_line("max_inflight_messages 1000")
        .start()
        .await;
    // No database: history waits in the spool; intake must not care.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let collector = Collector::start_with_env(
        &broker.url,
        None,
        &format!(
            "[influx]\nurl = \"{dead}\"\napi = \"v1\"\ndatabase = \"schoolnet\"\n\n[spool]\ndir = \"{}\"\n",
            std::env::temp_dir()
                .join(format!("backpressure-spool-{}", free_port()))
                .display()
        ),
        &[("SCHOOLNET_MQTT__QUEUE_CAPACITY", "8")],
    )
    .await;
    let count = 20_000u64;
    let report = simulate(
        &broker.url,
        &["--rate", "0", "--count", &count.to_string(), "--qos", "1"],
    )
    .await;
    assert_eq!(report.acked, count);

    let start = Instant::now();
    let mut last = (0.0, Instant::now());
    loop {
        let done = sum_metric(
            &collector.metrics().await,
            "schoolnet_collector_messages_total",
            &[],
        );
        if done >= count as f64 {
            break;
        }
        if done > last.0 {
            last = (done, Instant::now());
        }
        assert!(
            last.1.elapsed() < Duration::from_secs(15),
            "collector stuck at {done} of {count} messages for 15 s (deadlock)\n{}",
            collector.process.log_tail()
        );
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "too slow: {done} of {count}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{count} messages through an 8-message intake queue, done {:.1}s after the simulator",
        start.elapsed().as_secs_f64()
    );
}
