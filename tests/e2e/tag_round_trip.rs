//! Hostile tag values read the same in InfluxDB and in `/metrics` (#17 G).
//!
//! School ids, districts, device ids and interface names come from
//! spreadsheets and devices. Each hostile value goes through the real
//! InfluxDB writer into a real InfluxDB 1.x and through the exporter; the
//! values InfluxDB returns (`SHOW TAG VALUES`) must equal the label values
//! of `/metrics`, after Prometheus text unescaping. InfluxDB 1.x cannot
//! store some of them as sent (a backslash before `,`/`=`/space or at the
//! end is an escape, and `\\` is kept as two), so both sides show the
//! encoder's substitute (`stored_value`): the same string either way.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use collector::config::ExporterConfig;
use collector::deadletter::DeadLetters;
use collector::inventory::Inventory;
use collector::line_protocol::stored_value;
use collector::metrics::PipelineMetrics;
use collector::sample::{Field, FieldValue, InfluxRecord, Measurement, Sample};
use collector::sink::influx::{InfluxApi, InfluxConfig, InfluxSink};
use exporter::{Exporter, ManualClock};
use testkit::InfluxDb1;

/// Values as a spreadsheet or a device may send them. A newline cannot be
/// in an inventory id (one CSV record per line is what operators edit), so
/// it is tried only where devices put it: interface names.
const HOSTILE: &[&str] = &[
    "plain",
    "trail\\",
    "two trailing\\\\",
    "back\\slash",
    "double\\\\back",
    "esc\\ space",
    "esc\\,comma",
    "esc\\=eq",
    "three\\\\\\,before comma",
    "quote\"d 'single'",
    "a=b c,d",
    "Məktəb № 5, Şərur",
    "日本語🙂",
    "tab\there",
];
const INTERFACE_ONLY: &[&str] = &["new\nline", "cr\r\nlf", "\\"];

const T0: f64 = 1_700_000_000.0;

fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn inventory() -> Inventory {
    let mut schools = String::from("school_id,name,district,lat,lon,uplink_mbps\n");
    let mut devices = String::from("device_id,school_id,role,expected_interval_s,parent\n");
    for (i, h) in HOSTILE.iter().enumerate() {
        let district = format!("district {h}");
        schools.push_str(&format!(
            "{},School {i},{},39.2,45.4,100\n",
            csv_field(h),
            csv_field(&district)
        ));
        devices.push_str(&format!(
            "{},{},router,10,\n",
            csv_field(&format!("rtr {h}")),
            csv_field(h)
        ));
    }
    Inventory::from_csv_text(&schools, &devices).expect("hostile inventory loads")
}

/// One interface sample per device and interface name.
fn samples(inv: &Inventory) -> Vec<Sample> {
    let mut out = Vec::new();
    for (i, h) in HOSTILE.iter().enumerate() {
        let device = inv.device(&format!("rtr {h}")).expect("device").clone();
        let names = HOSTILE.iter().chain(INTERFACE_ONLY);
        for (j, name) in names.enumerate() {
            out.push(Sample {
                measurement: Measurement::Interface,
                time_ns: (T0 as i64) * 1_000_000_000 + (i * 100 + j) as i64,
                device: device.clone(),
                key: Some(Arc::from(*name)),
                fields: vec![(Field::RxBytes, FieldValue::Counter(1_000 + j as u64))],
            });
        }
    }
    out
}

/// Prometheus text label values of `label` on the lines of `family`.
fn label_values(text: &str, family: &str, label: &str) -> BTreeSet<String> {
    let prefix = format!("{family}{{");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let mut labels = rest;
            while !labels.is_empty() {
                let eq = labels.find("=\"")?;
                let name = labels[..eq].trim_start_matches(',');
                let mut value = String::new();
                let mut chars = labels[eq + 2..].char_indices();
                let end = loop {
                    match chars.next()? {
                        (i, '"') => break eq + 2 + i + 1,
                        (_, '\\') => match chars.next()?.1 {
                            'n' => value.push('\n'),
                            c => value.push(c),
                        },
                        (_, c) => value.push(c),
                    }
                };
                if name == label {
                    return Some(value);
                }
                labels = &labels[end..];
                if labels.starts_with('}') {
                    return None;
                }
            }
            None
        })
        .collect()
}

async fn influx_tag_values(influx: &InfluxDb1, key: &str) -> BTreeSet<String> {
    let q = format!("SHOW TAG VALUES FROM interface WITH KEY = \"{key}\"");
    let v = influx.query("sn", &q).await;
    v["results"][0]["series"][0]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|row| row[1].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_tag_values_read_the_same_in_influxdb_and_metrics() {
    let influx = InfluxDb1::start().await;
    influx.create_database("sn").await;
    let inv = Arc::new(inventory());
    let samples = samples(&inv);

    // The real writer into the real InfluxDB 1.x.
    let config = InfluxConfig {
        url: influx.url.clone(),
        api: InfluxApi::V1,
        database: "sn".into(),
        batch_max_age_ms: 50,
        ..InfluxConfig::default()
    };
    let metrics = PipelineMetrics::unregistered();
    let sink = InfluxSink::new(config, None, metrics.clone()).unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let writer = tokio::spawn(sink.run(rx));
    tx.send(samples.iter().cloned().map(InfluxRecord::from).collect())
        .await
        .unwrap();
    drop(tx);
    tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("writer drains")
        .unwrap();
    assert_eq!(metrics.influx_points_written.get(), samples.len() as u64);
    assert_eq!(metrics.influx_points_rejected.get(), 0);

    // The exporter's /metrics for the same samples.
    let exporter = Exporter::with_clock(
        inv.clone(),
        prometheus::Registry::new(),
        PipelineMetrics::unregistered(),
        Arc::new(DeadLetters::new(3)),
        ExporterConfig::default(),
        Arc::new(ManualClock::new(T0)),
    );
    exporter.record_samples(&samples);
    let text = exporter.render();

    let family = "schoolnet_interface_receive_bytes_total";
    for (tag, from) in [
        ("school", HOSTILE.to_vec()),
        ("district", HOSTILE.to_vec()),
        ("device", HOSTILE.to_vec()),
        (
            "interface",
            HOSTILE.iter().chain(INTERFACE_ONLY).copied().collect(),
        ),
    ] {
        let stored = influx_tag_values(&influx, tag).await;
        let labels = label_values(&text, family, tag);
        assert_eq!(stored, labels, "tag `{tag}`: InfluxDB vs /metrics");
        // And both are the documented substitute of what was sent.
        let raw: BTreeSet<String> = from
            .iter()
            .map(|h| match tag {
                "district" => stored_value(&format!("district {h}")),
                "device" => stored_value(&format!("rtr {h}")),
                _ => stored_value(h),
            })
            .collect();
        assert_eq!(stored, raw, "tag `{tag}`");
        assert_eq!(
            stored.len(),
            from.len(),
            "tag `{tag}`: distinct values merged"
        );
    }
    // Plain values are untouched everywhere.
    assert!(label_values(&text, "schoolnet_school_up", "school").contains("plain"));
    assert!(label_values(&text, "schoolnet_school_up", "school").contains("日本語🙂"));
}
