//! Pipeline unit tests: outcomes, reject accounting and dead letters for
//! every malformed-input class, and that bad input never stops the pipeline.

use std::sync::Mutex;

use bytes::Bytes;

use super::*;
use crate::config::{compile_routes, default_routes};
use crate::sample::Field;

#[derive(Default)]
struct Recorder {
    samples: Mutex<Vec<Sample>>,
    statuses: Mutex<Vec<StatusEvent>>,
}

impl LiveView for Recorder {
    fn record(&self, samples: &[Sample], status: Option<&StatusEvent>) {
        self.samples.lock().unwrap().extend_from_slice(samples);
        if let Some(s) = status {
            self.statuses.lock().unwrap().push(s.clone());
        }
    }
}

struct Harness {
    pipeline: Pipeline,
    live: Arc<Recorder>,
    metrics: PipelineMetrics,
    dead: Arc<DeadLetters>,
}

const NOW_NS: i64 = 1_700_000_000_000_000_000;

fn harness() -> Harness {
    let inventory = Inventory::from_csv_text(
        "school_id,name,district,lat,lon,uplink_mbps\nNX-001,One,Babek,39.2,45.4,100\n",
        "device_id,school_id,role,expected_interval_s,parent,wan_interface\n\
         rtr-001,NX-001,router,10,,wan\nont-001,NX-001,ont,30,,\n",
    )
    .unwrap();
    let live = Arc::new(Recorder::default());
    let metrics = PipelineMetrics::unregistered();
    let dead = Arc::new(DeadLetters::new(100));
    let pipeline = Pipeline::new(
        compile_routes(&default_routes()).unwrap(),
        Arc::new(inventory),
        LimitsConfig::default(),
        metrics.clone(),
        dead.clone(),
        live.clone(),
        None,
    );
    Harness {
        pipeline,
        live,
        metrics,
        dead,
    }
}

impl Harness {
    fn send(&mut self, topic: &str, payload: &[u8]) {
        self.pipeline.handle(&MqttMessage {
            topic: topic.into(),
            payload: Bytes::copy_from_slice(payload),
            received_ns: NOW_NS,
        });
    }

    fn outcome(&self, route: &str, outcome: &str) -> u64 {
        self.metrics
            .messages
            .with_label_values(&[route, outcome])
            .get()
    }

    fn rejected(&self, route: &str, reason: RejectReason) -> u64 {
        self.metrics
            .rejected
            .with_label_values(&[route, reason.as_str()])
            .get()
    }
}

#[test]
fn good_messages_reach_the_live_view() {
    let mut h = harness();
    h.send(
        "collectd/rtr-001/interface-wan/if_octets",
        b"1700000000.000:1250000:250000\0",
    );
    h.send("tele/rtr-001/LWT", b"Offline");
    h.send(
        "ont/ont-001/optical",
        br#"{"rxpower":"-18.5","txpower":"2.1"}"#,
    );
    assert_eq!(h.outcome("collectd", "ok"), 1);
    assert_eq!(h.outcome("lwt", "ok"), 1);
    assert_eq!(h.outcome("ont-optical", "ok"), 1);
    let samples = h.live.samples.lock().unwrap();
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[0].device.school_id(), "NX-001");
    assert!(samples[1]
        .fields
        .iter()
        .any(|(f, v)| *f == Field::RxDbm && v.as_f64() == -18.5));
    assert!(!h.live.statuses.lock().unwrap()[0].online);
}

/// Each malformed class is counted by reason, dead-lettered with the topic,
/// and the next good message still goes through.
#[test]
fn every_malformed_class_is_counted_dead_lettered_and_survived() {
    let cases: &[(&str, &[u8], &str, RejectReason)] = &[
        (
            "collectd/rtr-001/interface-wan/if_octets",
            b"1700000000.000:12",
            "collectd",
            RejectReason::WrongArity,
        ),
        (
            "collectd/rtr-001/interface-wan/if_octets",
            b"1700000000.000:abc:1",
            "collectd",
            RejectReason::WrongType,
        ),
        (
            "collectd/rtr-001/interface-wan/if_octets",
            b"17000",
            "collectd",
            RejectReason::ParseError,
        ),
        (
            "collectd/rtr-001/interface-wan/if_octets",
            b"1700000000.000:inf:1",
            "collectd",
            RejectReason::NonFinite,
        ),
        (
            "collectd/rtr-999/interface-wan/if_octets",
            b"1700000000.000:1:1",
            "collectd",
            RejectReason::UnknownDevice,
        ),
        (
            "telegraf/rtr-001/net",
            b"net,host=rtr-001,interface=wan bytes_recv=",
            "telegraf",
            RejectReason::ParseError,
        ),
        (
            "ont/ont-001/optical",
            br#"{"rxpower":"low"}"#,
            "ont-optical",
            RejectReason::WrongType,
        ),
        (
            "ont/ont-001/optical",
            br#"{"rxpower":"#,
            "ont-optical",
            RejectReason::ParseError,
        ),
        (
            "ont/ont-001/optical",
            br#"{"rxpower":"NaN"}"#,
            "ont-optical",
            RejectReason::NonFinite,
        ),
        (
            "probe/rtr-001/8.8.8.8/rtt_ms",
            b"fast",
            "probe-rtt",
            RejectReason::WrongType,
        ),
        (
            "tele/rtr-001/LWT",
            b"maybe",
            "lwt",
            RejectReason::ParseError,
        ),
        ("unknown/topic", b"1", NO_ROUTE, RejectReason::NoRoute),
    ];
    let mut h = harness();
    for (i, (topic, payload, route, reason)) in cases.iter().enumerate() {
        h.send(topic, payload);
        assert_eq!(
            h.rejected(route, *reason),
            1,
            "case {i}: {topic} {:?}",
            String::from_utf8_lossy(payload)
        );
        let newest = &h.dead.snapshot()[0];
        assert_eq!(newest.topic, *topic, "case {i}");
        assert_eq!(newest.reason, reason.as_str(), "case {i}");
        // The pipeline keeps going: a good message right after is accepted.
        let before = h.outcome("lwt", "ok");
        h.send("tele/rtr-001/LWT", b"Online");
        assert_eq!(
            h.outcome("lwt", "ok"),
            before + 1,
            "case {i}: pipeline stalled"
        );
    }
    assert_eq!(h.dead.total(), cases.len() as u64);
}

#[test]
fn huge_payloads_are_rejected_before_decoding() {
    let mut h = harness();
    let huge = vec![b'1'; LimitsConfig::default().max_payload_bytes + 1];
    h.send("probe/rtr-001/8.8.8.8/rtt_ms", &huge);
    assert_eq!(h.rejected("probe-rtt", RejectReason::TooLarge), 1);
    let dl = &h.dead.snapshot()[0];
    assert_eq!(dl.payload_bytes, huge.len());
    assert!(dl.payload_excerpt.len() < 300, "excerpt is bounded");
}

#[test]
fn first_nan_sample_is_ignored_not_rejected() {
    let mut h = harness();
    h.send(
        "collectd/rtr-001/interface-wan/if_octets",
        b"1700000000.000:nan:nan\0",
    );
    assert_eq!(h.outcome("collectd", "ignored"), 1);
    assert_eq!(h.dead.total(), 0);
}

#[tokio::test]
async fn history_receives_samples_and_drains_on_close() {
    let mut h = harness();
    let (tx, mut rx) = mpsc::channel(8);
    h.pipeline.history = Some(tx);
    let (msg_tx, msg_rx) = mpsc::channel(8);
    let task = tokio::spawn(h.pipeline.run(msg_rx));
    for i in 0..3 {
        msg_tx
            .send(MqttMessage {
                topic: "probe/rtr-001/8.8.8.8/rtt_ms".into(),
                payload: Bytes::from(format!("{}", 10 + i)),
                received_ns: NOW_NS + i,
            })
            .await
            .unwrap();
    }
    drop(msg_tx);
    task.await.unwrap();
    let mut got = 0;
    while let Some(batch) = rx.recv().await {
        got += batch.len();
    }
    assert_eq!(got, 3);
}
