//! The status page's data on a real socket: `/api/status` (compact rows,
//! gzipped when asked, the Grafana base URL) and `/api/schools/{id}` (one
//! school's devices, 404 for an unknown id).

mod common;

use std::io::Read;

use collector::config::ExporterConfig;
use collector::metrics::PipelineMetrics;
use serde_json::{json, Value};

async fn serve(f: &common::Fixture) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        f.exporter
            .clone()
            .serve(listener, std::future::pending::<()>()),
    );
    base
}

#[tokio::test]
async fn status_rows_index_states_causes_and_districts() {
    let config = ExporterConfig {
        grafana_url: Some("https://grafana.example.net/sub/".into()),
        ..ExporterConfig::default()
    };
    let f = common::fixture_with(
        prometheus::Registry::new(),
        PipelineMetrics::unregistered(),
        config,
    );
    f.feed();
    // The first assessment opens NX-002's outage (its will came at T0+6 s).
    f.exporter.status();
    f.clock.set(common::T0 + 12.5);
    let base = serve(&f).await;
    let client = reqwest::Client::new();

    let r = client
        .get(format!("{base}/api/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(r.headers().get("content-encoding"), None);
    let plain = r.text().await.unwrap();
    let status: Value = serde_json::from_str(&plain).unwrap();
    assert_eq!(status["generated_at"], common::T0 + 12.5);
    assert_eq!(
        status["grafana_url"], "https://grafana.example.net/sub",
        "no trailing slash"
    );
    assert_eq!(
        status["states"],
        json!(["up", "degraded", "down", "unknown"])
    );
    assert_eq!(status["districts"], json!(["Babek", "Julfa", "Ordubad"]));
    assert_eq!(status["causes"], json!(["lwt_offline"]));
    assert_eq!(
        status["schools"],
        json!([
            ["NX-001", "Babek School 1", 0, 39.15, 45.45, 0, null, null],
            [
                "NX-002",
                "Julfa \"Star\" School \\ East",
                1,
                38.96,
                45.63,
                2,
                0,
                // Down since its last sign of life (T0 + 5.5), not since
                // the LWT that told: every outage starts there.
                7
            ],
            ["NX-003", "Ordubad School 3", 2, 38.91, 46.02, 3, null, null],
        ]),
        "[id, name, district, lat, lon, state, cause, whole seconds since]"
    );

    let r = client
        .get(format!("{base}/api/status"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&r.bytes().await.unwrap()[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, plain);

    let r = client
        .get(format!("{base}/api/schools/NX-002"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let school: Value = r.json().await.unwrap();
    assert_eq!(school["id"], "NX-002");
    assert_eq!(school["state"], "down");
    assert_eq!(school["duration_s"], 7.5, "since its last sign of life");
    let devices: Vec<(&str, &str)> = school["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap(), d["state"].as_str().unwrap()))
        .collect();
    assert_eq!(devices, [("ont-002", "degraded"), ("rtr-002", "down")]);

    let all: Value = client
        .get(format!("{base}/api/schools"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all[1], school, "the same view as in /api/schools");

    let r = client
        .get(format!("{base}/api/schools/NX-404"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("\"NX-404\""));
}

#[tokio::test]
async fn no_grafana_url_means_null() {
    let f = common::isolated();
    assert_eq!(f.exporter.status().grafana_url, None);
}
