//! `/metrics` scrapes over a real socket: scrapes that come together share
//! one render (counted by `schoolnet_exporter_renders_total` and
//! `schoolnet_exporter_scrape_shared_total`), the gzip and the plain page
//! of one render are the same text, and the page is sent with its length.

mod common;

use std::fmt::Write as _;
use std::io::Read as _;
use std::sync::Arc;

use collector::config::ExporterConfig;
use collector::deadletter::DeadLetters;
use collector::inventory::Inventory;
use collector::metrics::PipelineMetrics;
use exporter::{Exporter, ManualClock};
use prometheus::Registry;

/// `schools` schools with a router and an ONT each: large enough that a
/// render takes a while (tens of milliseconds and more in a debug build),
/// so scrapes sent together arrive while it runs.
fn inventory(schools: usize) -> Inventory {
    let mut s = String::from("school_id,name,district,lat,lon,uplink_mbps\n");
    let mut d = String::from("device_id,school_id,role,expected_interval_s,parent\n");
    for i in 0..schools {
        let _ = writeln!(s, "S{i:05},School {i},District {},38.5,45.5,100", i / 100);
        let _ = writeln!(d, "ont-{i:05},S{i:05},ont,60,");
        let _ = writeln!(d, "rtr-{i:05},S{i:05},router,10,ont-{i:05}");
    }
    Inventory::from_csv_text(&s, &d).expect("generated inventory")
}

fn counter(registry: &Registry, name: &str) -> f64 {
    registry
        .gather()
        .iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("{name} is not registered"))
        .get_metric()[0]
        .get_counter()
        .get_value()
}

async fn serve(exporter: &Exporter) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(exporter.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    (url, stop)
}

/// Four scrapes at once (two asking for gzip, like an HA pair of
/// Prometheus servers, two plain): one render answers all of them, and
/// every body is the same text, process metrics and scrape duration
/// included (they come from the one render).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scrapes_share_one_render() {
    let registry = Registry::new();
    let exporter = Exporter::with_clock(
        Arc::new(inventory(6_000)),
        registry.clone(),
        PipelineMetrics::unregistered(),
        Arc::new(DeadLetters::new(3)),
        ExporterConfig::default(),
        Arc::new(ManualClock::new(common::T0)),
    );
    assert_eq!(counter(&registry, "schoolnet_exporter_renders_total"), 0.0);
    assert_eq!(
        counter(&registry, "schoolnet_exporter_scrape_shared_total"),
        0.0
    );
    let (url, _stop) = serve(&exporter).await;

    let scrapes: Vec<_> = [true, false, true, false]
        .into_iter()
        .map(|gzip| {
            let url = url.clone();
            tokio::spawn(async move {
                // A client each: four connections, as four scrapers have.
                let mut request = reqwest::Client::new().get(&url);
                if gzip {
                    request = request.header("Accept-Encoding", "gzip");
                }
                let r = request.send().await.unwrap();
                assert_eq!(r.status(), 200);
                let encoding = r.headers().get("content-encoding").cloned();
                let length: usize = r.headers()["content-length"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let body = r.bytes().await.unwrap();
                assert_eq!(body.len(), length, "Content-Length is the body's");
                if gzip {
                    assert_eq!(encoding.unwrap(), "gzip");
                    let mut text = String::new();
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_string(&mut text)
                        .unwrap();
                    assert!(body.len() * 4 < text.len(), "compressed");
                    text
                } else {
                    assert_eq!(encoding, None);
                    String::from_utf8(body.to_vec()).unwrap()
                }
            })
        })
        .collect();
    let mut pages = Vec::new();
    for s in scrapes {
        pages.push(s.await.unwrap());
    }

    assert_eq!(counter(&registry, "schoolnet_exporter_renders_total"), 1.0);
    assert_eq!(
        counter(&registry, "schoolnet_exporter_scrape_shared_total"),
        3.0
    );
    assert!(
        pages[0].contains("schoolnet_school_up{school=\"S05999\",district=\"District 59\"} 0\n")
    );
    for (i, page) in pages.iter().enumerate() {
        assert!(page == &pages[0], "page {i} differs from page 0");
    }
}

/// A scrape after the sharing window renders anew and sees what changed.
#[tokio::test]
async fn a_later_scrape_sees_new_data() {
    let registry = Registry::new();
    let f = common::fixture(registry.clone(), PipelineMetrics::unregistered());
    let (url, _stop) = serve(&f.exporter).await;
    let client = reqwest::Client::new();
    let first = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(first.contains("schoolnet_school_up{school=\"NX-001\",district=\"Babek\"} 0\n"));
    f.feed();
    // Past the longest window (the fixture's renders take far less).
    tokio::time::sleep(exporter::http::scrape::MAX_SHARE_AFTER).await;
    let second = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        second.contains("schoolnet_school_up{school=\"NX-001\",district=\"Babek\"} 1\n"),
        "{second}"
    );
    assert_eq!(counter(&registry, "schoolnet_exporter_renders_total"), 2.0);
    assert_eq!(
        counter(&registry, "schoolnet_exporter_scrape_shared_total"),
        0.0
    );
}
