//! The HTTP server on a real socket: every endpoint, status codes, content
//! types, JSON shape, and graceful shutdown.

mod common;

use std::time::Duration;

use collector::reject::{Reject, RejectReason};
use serde_json::Value;

struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(f: &common::Fixture) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(f.exporter.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    Server {
        base,
        stop: Some(stop),
        task,
    }
}

async fn get(client: &reqwest::Client, url: String) -> (u16, String, String) {
    let r = client
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test]
async fn every_endpoint_answers() {
    let f = common::isolated();
    f.feed();
    f.dead_letters.push(
        "collectd",
        "collectd/ghost/interface-wan/if_octets",
        b"1700000000.000:1:2\0",
        &Reject::new(
            RejectReason::UnknownDevice,
            "device `ghost` is not in the inventory",
        ),
    );
    let mut server = start(&f).await;
    let client = reqwest::Client::new();
    let base = server.base.clone();

    let (status, ct, body) = get(&client, format!("{base}/healthz")).await;
    assert_eq!((status, body.trim()), (200, "ok"), "{ct}");

    // Not connected to the broker yet.
    let (status, _, body) = get(&client, format!("{base}/readyz")).await;
    assert_eq!(status, 503);
    assert!(body.contains("MQTT"), "{body}");
    f.metrics.mqtt_connected.set(1);
    let (status, _, _) = get(&client, format!("{base}/readyz")).await;
    assert_eq!(status, 200);

    let (status, ct, body) = get(&client, format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    assert!(
        body.contains("schoolnet_school_up{school=\"NX-001\",district=\"Babek\"} 1\n"),
        "{body}"
    );

    let (status, ct, body) = get(&client, format!("{base}/api/schools")).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/json"), "{ct}");
    let schools: Value = serde_json::from_str(&body).unwrap();
    let schools = schools.as_array().expect("array");
    let ids: Vec<&str> = schools.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["NX-001", "NX-002", "NX-003"], "inventory order");
    let s1 = &schools[0];
    for key in [
        "id",
        "name",
        "district",
        "lat",
        "lon",
        "uplink_mbps",
        "state",
        "up",
        "last_seen",
        "devices",
    ] {
        assert!(s1.get(key).is_some(), "missing {key} in {s1}");
    }
    assert_eq!(s1["state"], "up");
    assert_eq!(s1["up"], true);
    assert_eq!(s1["last_seen"], common::T0 + 5.0);
    assert_eq!(s1["uplink_mbps"], 100.0);
    let devices = s1["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[0]["id"], "ont-001");
    assert_eq!(devices[1]["role"], "router");
    for key in ["id", "role", "up", "last_seen"] {
        assert!(
            devices[0].get(key).is_some(),
            "missing {key} in {}",
            devices[0]
        );
    }
    assert_eq!(schools[1]["name"], "Julfa \"Star\" School \\ East");
    assert_eq!(schools[1]["state"], "down");
    assert_eq!(schools[1]["cause"], "lwt_offline");
    assert_eq!(schools[1]["up"], false);
    // The outage opened at the first assessment after the will (the
    // /metrics scrape above, at T0+10 s), starting at the school's last
    // sign of life before it (T0+5 s).
    assert_eq!(schools[1]["since"], common::T0 + 5.0);
    assert_eq!(schools[1]["duration_s"], 5.0);
    assert_eq!(s1["since"], Value::Null, "up: no outage");
    assert_eq!(s1["duration_s"], Value::Null);
    assert_eq!(schools[2]["state"], "unknown");
    assert_eq!(schools[2]["since"], Value::Null, "unknown within grace");
    assert_eq!(schools[2]["last_seen"], Value::Null);
    assert_eq!(schools[2]["devices"][0]["last_seen"], Value::Null);
    f.clock.set(common::T0 + 12.5);
    let (_, _, body) = get(&client, format!("{base}/api/schools")).await;
    let later: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(later[1]["since"], common::T0 + 5.0, "the outage's start");
    assert_eq!(later[1]["duration_s"], 7.5, "on the exporter's clock");

    let (status, ct, body) = get(&client, format!("{base}/api/dead-letters")).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/json"), "{ct}");
    let dl: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(dl["capacity"], 3);
    assert_eq!(dl["total"], 1);
    let entries = dl["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["reason"], "unknown_device");
    assert_eq!(entries[0]["payload_excerpt"], "1700000000.000:1:2\\0");

    // School 2 is down (LWT offline): an open outage with its cause.
    let (status, ct, body) = get(&client, format!("{base}/api/outages")).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/json"), "{ct}");
    let outages: Value = serde_json::from_str(&body).unwrap();
    let open = outages["open"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{outages}");
    assert_eq!(open[0]["school"], schools[1]["id"]);
    assert_eq!(open[0]["cause"], "lwt_offline");
    assert_eq!(open[0]["ended_at"], Value::Null);
    assert_eq!(outages["recent"].as_array().unwrap().len(), 0);

    let (status, ct, body) = get(&client, format!("{base}/")).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(body.contains("api/schools"));

    let (status, _, _) = get(&client, format!("{base}/no-such-page")).await;
    assert_eq!(status, 404);
    let status = client
        .post(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 405);

    // Graceful shutdown: serve() returns Ok once the future resolves.
    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), &mut server.task)
        .await
        .expect("server stops")
        .unwrap()
        .expect("serve returns Ok");
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn dead_letters_are_newest_first() {
    let f = common::isolated();
    for i in 0..5 {
        f.dead_letters.push(
            "r",
            &format!("t/{i}"),
            b"x",
            &Reject::new(RejectReason::ParseError, "bad"),
        );
    }
    let mut server = start(&f).await;
    let dl: Value = reqwest::get(format!("{}/api/dead-letters", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dl["total"], 5);
    let topics: Vec<&str> = dl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics, ["t/4", "t/3", "t/2"]);
    server.stop.take().unwrap().send(()).unwrap();
    server.task.await.unwrap().unwrap();
}

/// Prometheus asks for gzip: the page comes compressed, and decompresses to
/// the same exposition a plain request gets (but for the scrape's own
/// duration and the process metrics, which differ from render to render).
#[tokio::test]
async fn metrics_are_gzipped_when_the_scraper_asks() {
    use std::io::Read;
    // detail = "full": the page this compression ratio was measured on.
    let config = collector::config::ExporterConfig {
        detail: collector::config::Detail::Full,
        ..Default::default()
    };
    let f = common::fixture_with(
        prometheus::Registry::new(),
        collector::metrics::PipelineMetrics::unregistered(),
        config,
    );
    f.feed();
    let server = start(&f).await;
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", server.base);
    let plain = client.get(&url).send().await.unwrap();
    assert_eq!(plain.headers().get("content-encoding"), None);
    let plain = plain.text().await.unwrap();
    let r = client
        .get(&url)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let gz = r.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    // Compressed at the fastest level, as gzip.rs promises: no larger than
    // flate2's own fast gzip of the same text (a header's bytes aside), and
    // a fraction of the plain page (this small fixture compresses about 4.7x).
    let mut fast = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut fast, text.as_bytes()).unwrap();
    let fast = fast.finish().unwrap();
    assert!(
        gz.len() <= fast.len() + 32,
        "{} bytes, flate2 fast: {}",
        gz.len(),
        fast.len()
    );
    assert!(gz.len() * 4 < text.len(), "{} of {}", gz.len(), text.len());
    // Scrape duration and process_* differ from render to render.
    assert_eq!(
        common::without_scrape_duration(&text),
        common::without_scrape_duration(&plain)
    );
    let refused = client
        .get(&url)
        .header("Accept-Encoding", "gzip;q=0")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers().get("content-encoding"), None);
}
