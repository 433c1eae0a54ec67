//! Pipeline unit tests: outcomes, reject accounting and dead letters for
//! every malformed-input class, and that bad input never stops the pipeline.

use std::sync::Mutex;

use bytes::Bytes;

use super::*;
use crate::config::{compile_routes, default_routes};
use crate::sample::Field;

#[derive(Default)]
pub(super) struct Recorder {
    pub(super) samples: Mutex<Vec<Sample>>,
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

pub(super) struct Harness {
    pipeline: Pipeline,
    pub(super) live: Arc<Recorder>,
    pub(super) metrics: PipelineMetrics,
    pub(super) dead: Arc<DeadLetters>,
}

pub(super) const NOW_NS: i64 = 1_700_000_000_000_000_000;

pub(super) fn harness() -> Harness {
    harness_with(LimitsConfig::default())
}

/// The built-in routes plus two `json` routes that read the device from the
/// payload (`dev`): `sw-port` on a topic that names it too, `gw-port` on a
/// topic that does not (a gateway publishing for many devices).
fn harness_with(limits: LimitsConfig) -> Harness {
    let mut routes = default_routes();
    for (name, pattern) in [
        ("sw-port", "sw/{device}/port/{port}"),
        ("gw-port", "gw/port/{port}"),
    ] {
        routes.push(
            toml::from_str(&format!(
                r#"
                name = "{name}"
                pattern = "{pattern}"
                format = "json"
                measurement = "interface"
                device = "dev"
                key = "{{port}}"
                fields = {{ rx_bytes = "rx", tx_bytes = "tx" }}
                "#
            ))
            .unwrap(),
        );
    }
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
        compile_routes(&routes).unwrap(),
        Arc::new(inventory),
        limits,
        metrics.clone(),
        dead.clone(),
        live.clone(),
        History::None,
    );
    Harness {
        pipeline,
        live,
        metrics,
        dead,
    }
}

impl Harness {
    pub(super) fn send(&mut self, topic: &str, payload: &[u8]) {
        self.pipeline.handle(&MqttMessage {
            topic: topic.into(),
            payload: Bytes::copy_from_slice(payload),
            payload_len: payload.len(),
            received_ns: NOW_NS,
            ack: None,
        });
    }

    pub(super) fn outcome(&self, route: &str, outcome: &str) -> u64 {
        self.metrics
            .messages
            .with_label_values(&[route, outcome])
            .get()
    }

    pub(super) fn rejected(&self, route: &str, reason: RejectReason) -> u64 {
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
        br#"{"rxpower":"-18.5","txpower":"2.1","temperature":"41.5","voltage":"3.31","bcurr":"12.1"}"#,
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

/// The malformed-input matrix: every decoder × every class that applies to
/// it (truncated, wrong type, NaN/non-finite, huge value, wrong arity,
/// unknown device). Each case is counted by route and reason, dead-lettered
/// with its topic, and the next good message still goes through.
#[test]
fn every_malformed_class_is_counted_dead_lettered_and_survived() {
    use RejectReason::*;
    const IF: &str = "collectd/rtr-001/interface-wan/if_octets";
    const NET: &str = "telegraf/rtr-001/net";
    const TJ: &str = "telegraf-json/rtr-001/net";
    const ONT: &str = "ont/ont-001/optical";
    const RTT: &str = "probe/rtr-001/8.8.8.8/rtt_ms";
    let cases: &[(&str, &str, &[u8], &str, RejectReason)] = &[
        ("truncated", IF, b"1700000000.000:12", "collectd", WrongArity),
        ("truncated", IF, b"17000", "collectd", ParseError),
        ("wrong type", IF, b"1700000000.000:abc:1", "collectd", WrongType),
        ("non-finite", IF, b"1700000000.000:inf:1", "collectd", NonFinite),
        ("huge", IF, b"1700000000.000:1e400:1", "collectd", NonFinite),
        ("wrong arity", IF, b"1700000000.000:1:2:3", "collectd", WrongArity),
        ("unknown device", "collectd/rtr-999/interface-wan/if_octets", b"1700000000.000:1:1", "collectd", UnknownDevice),
        ("truncated", NET, b"net,host=rtr-001,interface=wan bytes_recv=", "telegraf", ParseError),
        ("wrong type", NET, b"net,host=rtr-001,interface=wan bytes_recv=\"lots\"", "telegraf", WrongType),
        ("non-finite", "telegraf/rtr-001/ping", b"ping,host=rtr-001,url=x average_response_ms=NaN", "telegraf", ParseError),
        ("huge", NET, b"net,host=rtr-001,interface=wan bytes_recv=99999999999999999999999i", "telegraf", ParseError),
        ("wrong arity", NET, b"net,host=rtr-001 bytes_recv=1i", "telegraf", ParseError),
        ("unknown device", "telegraf/rtr-999/net", b"net,host=rtr-999,interface=wan bytes_recv=1i", "telegraf", UnknownDevice),
        ("truncated", TJ, br#"{"name":"net","fields":{"#, "telegraf-json", ParseError),
        ("wrong type", TJ, br#"{"name":"net","tags":{"interface":"wan"},"fields":{"bytes_recv":"x"},"timestamp":1700000000}"#, "telegraf-json", WrongType),
        ("huge", TJ, br#"{"name":"net","tags":{"interface":"wan"},"fields":{"bytes_recv":1e400},"timestamp":1700000000}"#, "telegraf-json", ParseError),
        ("unknown device", "telegraf-json/rtr-999/net", br#"{"name":"net","tags":{"interface":"wan"},"fields":{"bytes_recv":1},"timestamp":1700000000}"#, "telegraf-json", UnknownDevice),
        ("truncated", ONT, br#"{"rxpower":"#, "ont-optical", ParseError),
        ("wrong type", ONT, br#"{"rxpower":"low"}"#, "ont-optical", WrongType),
        ("non-finite", ONT, br#"{"rxpower":"NaN"}"#, "ont-optical", NonFinite),
        ("huge", ONT, br#"{"rxpower":"1e400"}"#, "ont-optical", NonFinite),
        ("unknown device", "ont/ont-999/optical", br#"{"rxpower":"-18"}"#, "ont-optical", UnknownDevice),
        ("truncated", RTT, b"", "probe-rtt", ParseError),
        ("wrong type", RTT, b"fast", "probe-rtt", WrongType),
        ("non-finite", RTT, b"NaN", "probe-rtt", NonFinite),
        ("huge", RTT, b"1e400", "probe-rtt", NonFinite),
        ("unknown device", "probe/rtr-999/8.8.8.8/rtt_ms", b"12", "probe-rtt", UnknownDevice),
        ("truncated", "tele/rtr-001/LWT", b"", "lwt", ParseError),
        ("wrong type", "tele/rtr-001/LWT", b"maybe", "lwt", ParseError),
        ("unknown device", "tele/ghost/LWT", b"Offline", "lwt", UnknownDevice),
        ("no route", "unknown/topic", b"1", NO_ROUTE, NoRoute),
    ];
    let mut h = harness();
    let mut expected_per_key: std::collections::HashMap<(&str, RejectReason), u64> =
        Default::default();
    for (class, topic, payload, route, reason) in cases {
        let what = format!(
            "{class} on {route}: {topic} {:?}",
            String::from_utf8_lossy(payload)
        );
        h.send(topic, payload);
        let n = expected_per_key.entry((route, *reason)).or_insert(0);
        *n += 1;
        assert_eq!(
            h.rejected(route, *reason),
            *n,
            "{what}: counted as {reason}"
        );
        let newest = &h.dead.snapshot()[0];
        assert_eq!(newest.topic, *topic, "{what}: dead-lettered");
        assert_eq!(newest.reason, reason.as_str(), "{what}");
        assert!(
            !newest.detail.is_empty(),
            "{what}: detail explains the reject"
        );
        // The pipeline keeps going: a good message right after is accepted.
        let before = h.outcome("lwt", "ok");
        h.send("tele/rtr-001/LWT", b"Online");
        assert_eq!(
            h.outcome("lwt", "ok"),
            before + 1,
            "{what}: pipeline stalled"
        );
    }
    assert_eq!(h.dead.total(), cases.len() as u64);
}

/// Every limit and identity reject: counted by route and reason,
/// dead-lettered with a detail, and the pipeline goes on (a good message
/// right after is accepted).
#[test]
fn every_limit_and_identity_reject_is_counted_dead_lettered_and_survived() {
    use RejectReason::*;
    let long = "x".repeat(300);
    let net_lines = (0..3)
        .map(|i| format!("net,host=rtr-001,interface=e{i} bytes_recv=1i,bytes_sent=2i\n"))
        .collect::<String>();
    let cases: Vec<(&str, String, Vec<u8>, &str, RejectReason)> = vec![
        ("6 values > 5", "telegraf/rtr-001/net".into(), net_lines.into_bytes(), "telegraf", TooManyFields),
        ("long interface in the topic", format!("collectd/rtr-001/interface-{long}/if_octets"), b"1700000000:1:2".to_vec(), "collectd", TagTooLong),
        ("long device in the topic", format!("tele/{long}/LWT"), b"Online".to_vec(), "lwt", TagTooLong),
        ("long interface in the payload", "telegraf-json/rtr-001/net".into(),
            format!(r#"{{"name":"net","tags":{{"interface":"{long}"}},"fields":{{"bytes_recv":1}},"timestamp":1700000000}}"#).into_bytes(),
            "telegraf-json", TagTooLong),
        ("long device in the payload", "gw/port/1".into(), format!(r#"{{"dev":"{long}","rx":1}}"#).into_bytes(), "gw-port", TagTooLong),
        ("host tag of another device", "telegraf/rtr-001/net".into(),
            b"net,host=ont-001,interface=wan bytes_recv=1i 1700000000000000000".to_vec(), "telegraf", IdentityMismatch),
        ("telegraf-json host of another device", "telegraf-json/rtr-001/net".into(),
            br#"{"name":"net","tags":{"host":"ont-001","interface":"wan"},"fields":{"bytes_recv":1},"timestamp":1700000000}"#.to_vec(),
            "telegraf-json", IdentityMismatch),
        ("json device of another device", "sw/rtr-001/port/1".into(), br#"{"dev":"ont-001","rx":1,"tx":2}"#.to_vec(), "sw-port", IdentityMismatch),
        ("fifth series", "collectd/rtr-001/interface-lan3/if_octets".into(), b"1700000000:1:2".to_vec(), "collectd", SeriesLimit),
    ];
    let mut h = harness_with(LimitsConfig {
        max_fields_per_message: 5,
        max_series_per_device: 4,
        ..LimitsConfig::default()
    });
    // Use up rtr-001's series budget: 2 interfaces × rx/tx_bytes.
    for lan in ["lan1", "lan2"] {
        h.send(
            &format!("collectd/rtr-001/interface-{lan}/if_octets"),
            b"1700000000:1:2",
        );
    }
    assert_eq!(h.outcome("collectd", "ok"), 2);
    for (class, topic, payload, route, reason) in &cases {
        let what = format!(
            "{class} on {route}: {:.80} {:.80?}",
            topic,
            String::from_utf8_lossy(payload)
        );
        let before = h.rejected(route, *reason);
        let rejected_msgs = h.outcome(route, "rejected");
        h.send(topic, payload);
        assert_eq!(
            h.rejected(route, *reason),
            before + 1,
            "{what}: counted as {reason}"
        );
        assert_eq!(
            h.outcome(route, "rejected"),
            rejected_msgs + 1,
            "{what}: outcome"
        );
        let newest = &h.dead.snapshot()[0];
        assert_eq!(newest.topic, *topic, "{what}: dead-lettered");
        assert_eq!(newest.reason, reason.as_str(), "{what}");
        assert!(
            !newest.detail.is_empty() && newest.detail.len() < 300,
            "{what}: {}",
            newest.detail
        );
        if *reason == IdentityMismatch {
            assert!(
                newest.detail.contains("ont-001") && newest.detail.contains("rtr-001"),
                "{what}: names both ids: {}",
                newest.detail
            );
        }
        let before = h.outcome("lwt", "ok");
        h.send("tele/rtr-001/LWT", b"Online");
        assert_eq!(
            h.outcome("lwt", "ok"),
            before + 1,
            "{what}: pipeline stalled"
        );
    }
    assert_eq!(h.dead.total(), cases.len() as u64);

    // The series gauges: 4 admitted, 2 refused (rx and tx of lan3), budget 4.
    assert_eq!(h.metrics.series.get(), 4);
    assert_eq!(h.metrics.series_limit_hits.get(), 2);
    assert_eq!(h.metrics.series_budget_per_device.get(), 4);

    // Legitimate messages still pass, known series included.
    let samples_before = h.live.samples.lock().unwrap().len();
    h.send(
        "collectd/rtr-001/interface-lan1/if_octets",
        b"1700000010:1:2",
    );
    h.send(
        "telegraf/ont-001/net",
        b"net,host=ont-001,interface=wan bytes_recv=1i 1700000000000000000",
    );
    h.send(
        "telegraf-json/ont-001/net",
        br#"{"name":"net","tags":{"host":"ont-001","interface":"wan"},"fields":{"bytes_sent":1},"timestamp":1700000000}"#,
    );
    h.send("sw/ont-001/port/1", br#"{"dev":"ont-001","rx":1,"tx":2}"#);
    // ont-001 has used its 4 series; port 1 is one of them.
    h.send("gw/port/1", br#"{"dev":"ont-001","rx":1,"tx":2}"#);
    assert_eq!(h.outcome("collectd", "ok"), 3);
    assert_eq!(h.outcome("gw-port", "ok"), 1);
    assert_eq!(h.outcome("telegraf", "ok"), 1);
    assert_eq!(h.outcome("telegraf-json", "ok"), 1);
    assert_eq!(h.outcome("sw-port", "ok"), 1);
    assert_eq!(h.live.samples.lock().unwrap().len(), samples_before + 5);
    assert_eq!(h.dead.total(), cases.len() as u64, "nothing else rejected");
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

/// An oversize payload the MQTT source cut to its first bytes: rejected by
/// its full length, once, with that length in the dead letter.
#[test]
fn a_payload_cut_by_the_source_is_rejected_by_its_full_length() {
    let mut h = harness();
    h.pipeline.handle(&MqttMessage {
        topic: "probe/rtr-001/8.8.8.8/rtt_ms".into(),
        payload: Bytes::from_static(b"12.5"),
        payload_len: 10_000_000,
        received_ns: NOW_NS,
        ack: None,
    });
    assert_eq!(h.rejected("probe-rtt", RejectReason::TooLarge), 1);
    assert_eq!(h.outcome("probe-rtt", "rejected"), 1);
    assert_eq!(h.outcome("probe-rtt", "ok"), 0);
    let dl = &h.dead.snapshot()[0];
    assert_eq!(dl.payload_bytes, 10_000_000);
    assert_eq!(dl.reason, "too_large");
    assert!(
        dl.detail.contains("10000000 bytes > limit 65536"),
        "{}",
        dl.detail
    );
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
    h.pipeline.outbox = history::Outbox::new(History::Queue(tx));
    let (msg_tx, msg_rx) = mpsc::channel(8);
    let task = tokio::spawn(h.pipeline.run(msg_rx));
    for i in 0..3 {
        msg_tx
            .send(MqttMessage {
                topic: "probe/rtr-001/8.8.8.8/rtt_ms".into(),
                payload: Bytes::from(format!("{}", 10 + i)),
                payload_len: format!("{}", 10 + i).len(),
                received_ns: NOW_NS + i,
                ack: None,
            })
            .await
            .unwrap();
    }
    drop(msg_tx);
    task.await.unwrap().unwrap();
    let mut got = 0;
    while let Some(batch) = rx.recv().await {
        got += batch.len();
    }
    assert_eq!(got, 3);
}

#[test]
fn damaged_values_are_counted_and_dead_lettered_the_good_ones_stored() {
    // A Telegraf batch whose last line was cut inside its number (no
    // timestamp, no `i`), then a collectd counter grown beyond the bound.
    let mut h = harness();
    let t = NOW_NS / 1_000_000_000;
    let line = |iface: &str, rx: u64, ts: i64| {
        format!(
            "net,host=rtr-001,interface={iface} bytes_recv={rx}i,bytes_sent=1000i {ts}000000000\n"
        )
    };
    let good = format!(
        "{}{}",
        line("lan", 5_000, t - 20),
        line("wan", 12_345_678_901_234, t - 20)
    );
    h.send("telegraf/rtr-001/net", good.as_bytes());
    let next = format!(
        "{}{}",
        line("lan", 6_000, t - 10),
        line("wan", 12_345_678_911_234, t - 10)
    );
    let cut = &next[..next.rfind("11234i").unwrap()];
    h.send("telegraf/rtr-001/net", cut.as_bytes());
    // The lan line is stored: the message is `partial`, not rejected.
    assert_eq!(h.outcome("telegraf", "ok"), 1);
    assert_eq!(
        h.outcome("telegraf", "partial"),
        1,
        "the lan line is stored"
    );
    assert_eq!(h.rejected("telegraf", RejectReason::MissingTimestamp), 1);
    let newest = &h.dead.snapshot()[0];
    assert_eq!(newest.reason, "missing_timestamp");
    assert!(newest.detail.contains("`wan`"), "{}", newest.detail);
    {
        let samples = h.live.samples.lock().unwrap();
        let last = samples.last().unwrap();
        assert_eq!(last.key.as_deref(), Some("lan"));
        assert_eq!(last.time_ns, (t - 10) * 1_000_000_000);
    }

    // collectd (StoreRates true): a rate "1250000" grown to 200 Gbit/s.
    let topic = "collectd/rtr-001/interface-wan/if_octets";
    h.send(topic, format!("{}.000:1250000:250000\0", t - 20).as_bytes());
    h.send(
        topic,
        format!("{}.000:25000000000:250000\0", t - 10).as_bytes(),
    );
    assert_eq!(h.outcome("collectd", "ok"), 1);
    assert_eq!(h.outcome("collectd", "partial"), 1, "tx is stored");
    assert_eq!(h.rejected("collectd", RejectReason::ImplausibleRate), 1);
    let newest = &h.dead.snapshot()[0];
    assert_eq!(newest.reason, "implausible_rate");
    assert!(newest.detail.contains("rx_bytes"), "{}", newest.detail);
    let samples = h.live.samples.lock().unwrap();
    let last = samples.last().unwrap();
    assert!(last
        .fields
        .iter()
        .all(|(f, _)| !matches!(f, Field::RxBytes | Field::RxBps)));
    assert!(last.fields.iter().any(|(f, _)| *f == Field::TxBytes));
}
