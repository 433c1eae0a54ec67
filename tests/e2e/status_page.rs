//! The status page at `/` in a real browser: mosquitto → `schoolnet run` ←
//! the fleet simulator, 11 schools in 3 districts in every state: N1 down by
//! its MQTT last will, S1 down by going silent, one school degraded by a
//! weak fiber (the simulator's `weak_optical`, always below −25 dBm), E4
//! never reporting (unknown, past the grace period), the rest up. Once
//! `/metrics` shows exactly that, headless Chromium loads `/` and the test
//! reads the DOM the page's script built: one tile per school with the
//! state and cause of `schoolnet_school_state`, under its district's heading
//! with the right counts, "down 12s, stale" with the outage's duration on
//! the tiles that are not up; `/?q=…` filters. A screenshot is saved to
//! `target/test-artifacts/status-page.png` (the path is printed).

use crate::support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use collector::inventory::Inventory;
use simulator::{run_fleet, Fleet, FleetOptions, SimulateOptions};
use support::dom::{element_text, start_tags};
use support::{sum_metric, Collector};
use testkit::{wait_until, Chromium, Mosquitto};
use tokio_util::sync::CancellationToken;

/// E4, last, is not simulated: it never reports.
const SCHOOLS: &str = "school_id,name,district,lat,lon,uplink_mbps\n\
    N1,North Lyceum One,North,39.21,45.41,100\nN2,North School Two,North,39.22,45.43,50\n\
    N3,North School Three,North,39.24,45.40,50\nN4,North School Four,North,39.25,45.44,100\n\
    S1,South Lyceum One,South,38.95,45.60,100\nS2,South School Two,South,38.96,45.62,50\n\
    S3,South School Three,South,38.94,45.63,50\n\
    E1,East Lyceum One,East,39.05,45.90,100\nE2,East School Two,East,39.06,45.92,50\n\
    E3,East School Three,East,39.04,45.93,50\nE4,East Village School,East,39.10,45.95,20\n";
const DISTRICTS: [&str; 3] = ["North", "South", "East"];
const STATES: [&str; 4] = ["down", "degraded", "unknown", "up"];

/// One OLT per district (recorded at its first school), an ONT and a router
/// per school, every 2 s: stale after 6 s, so a busy machine does not open
/// outages of its own.
fn devices_csv() -> String {
    let mut out =
        String::from("device_id,school_id,role,expected_interval_s,parent,wan_interface\n");
    for (district, p, n) in [("north", "N", 4), ("south", "S", 3), ("east", "E", 4)] {
        out += &format!("olt-{district},{p}1,olt,2,,\n");
        for i in 1..=n {
            let (s, l) = (format!("{p}{i}"), format!("{p}{i}").to_lowercase());
            out +=
                &format!("ont-{l},{s},ont,2,olt-{district},\nrtr-{l},{s},router,2,ont-{l},wan\n");
        }
    }
    out
}

/// State and cause ("" when none) per school, from `schoolnet_school_state`.
type States = BTreeMap<String, (String, String)>;

fn school_states(metrics: &str) -> States {
    metrics
        .lines()
        .filter(|l| l.starts_with("schoolnet_school_state{") && l.ends_with("} 1"))
        .map(|l| {
            let label = |k: &str| {
                let from = l.find(&format!("{k}=\"")).unwrap() + k.len() + 2;
                l[from..from + l[from..].find('"').unwrap()].to_string()
            };
            (label("school"), (label("state"), label("cause")))
        })
        .collect()
}

fn count_by_state<'a>(states: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = STATES.iter().map(|s| (s.to_string(), 0)).collect();
    for s in states {
        *counts.entry(s.to_string()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn status_page_shows_every_school_by_district_with_state_and_cause() {
    let test_started = Instant::now();
    let inv_dir = tempfile::tempdir().unwrap();
    std::fs::write(inv_dir.path().join("schools.csv"), SCHOOLS).unwrap();
    std::fs::write(inv_dir.path().join("devices.csv"), devices_csv()).unwrap();
    let inventory = Inventory::load(
        &inv_dir.path().join("schools.csv"),
        &inv_dir.path().join("devices.csv"),
    )
    .unwrap();
    let district_of = |school: &str| -> String {
        let s = inventory.schools().iter().find(|s| &*s.id == school);
        s.unwrap().district.to_string()
    };

    let broker = Mosquitto::start().await;
    // E4 counts as down 5 s after start (default 120 s): its tile then shows
    // how long it has been unknown.
    let collector = Collector::start_with_env(
        &broker.url,
        Some(inv_dir.path()),
        "",
        &[("SCHOOLNET_EXPORTER__UNKNOWN_GRACE_S", "5")],
    )
    .await;

    // A seed with exactly one weak fiber and no lossy line among the
    // simulated schools, neither at a school this test takes down: every
    // state on the page is one the test chose.
    let fleet = (1..)
        .map(|seed| {
            let options = FleetOptions {
                schools: Some(10),
                seed,
                start: SystemTime::now(),
            };
            Fleet::new(&inventory, options)
        })
        .find(|f| {
            let weak: Vec<&str> = f
                .profiles()
                .iter()
                .filter(|p| p.weak_optical)
                .map(|p| &*p.school.id)
                .collect();
            f.profiles().iter().all(|p| !p.lossy)
                && weak.len() == 1
                && !["N1", "S1"].contains(&weak[0])
        })
        .unwrap();
    let weak = fleet.profiles().iter().find(|p| p.weak_optical).unwrap();
    let degraded = weak.school.id.to_string();
    let control = fleet.control();
    let stop = CancellationToken::new();
    let opts = SimulateOptions {
        broker: broker.url.clone(),
        ..SimulateOptions::default()
    };
    let sim = tokio::spawn(run_fleet(fleet, opts, stop.clone().cancelled_owned()));

    let mut expected: States = inventory
        .schools()
        .iter()
        .map(|s| (s.id.to_string(), ("up".to_string(), String::new())))
        .collect();
    expected.insert("E4".into(), ("unknown".into(), String::new()));
    expected.insert(
        degraded.clone(),
        ("degraded".into(), "optical_power".into()),
    );
    let wait_for = |want: States, what: &'static str| {
        let collector = &collector;
        async move {
            wait_until(what, Duration::from_secs(30), || async {
                let got = school_states(&collector.metrics().await);
                if got == want {
                    Ok(())
                } else {
                    Err(format!("want {want:?}\n got {got:?}"))
                }
            })
            .await
        }
    };
    wait_for(expected.clone(), "every simulated school reporting").await;

    assert!(control.publish_offline("rtr-n1"));
    assert!(control.set_silent("rtr-s1", true));
    expected.insert("N1".into(), ("down".into(), "lwt_offline".into()));
    expected.insert("S1".into(), ("down".into(), "stale".into()));
    wait_for(expected.clone(), "N1 down by its will, S1 stale").await;

    // --- The whole page: compared with a /metrics that did not change
    // while Chromium loaded it (states only change when the test acts, so
    // one attempt should do; a slow machine gets three). ---
    let chromium = Chromium::new();
    let page = format!("{}/", collector.exporter);
    let (dom, metrics, loaded) = {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let metrics = collector.metrics().await;
            let loading = Instant::now();
            let started = unix_now();
            let dom = chromium.dump_dom(&page, 3_000).await;
            let loaded = started..=unix_now();
            eprintln!("chromium --dump-dom {page}: {:.2?}", loading.elapsed());
            let after = school_states(&collector.metrics().await);
            if school_states(&metrics) == after {
                break (dom, metrics, loaded);
            }
            assert!(
                attempt < 3,
                "school states keep changing:\n{:?}\n{after:?}",
                school_states(&metrics)
            );
        }
    };
    let states = school_states(&metrics);
    assert_eq!(states, expected, "/metrics");
    let page_view = PageView::parse(&dom);
    let tiles = &page_view.tiles;

    let ids: Vec<&str> = tiles.iter().map(|t| t.school.as_str()).collect();
    let inventory_ids: Vec<&str> = inventory.schools().iter().map(|s| &*s.id).collect();
    assert_eq!(ids, inventory_ids, "one tile per school, inventory order");
    assert_eq!(
        count_by_state(tiles.iter().map(|t| t.state.as_str())),
        count_by_state(states.values().map(|(s, _)| s.as_str())),
        "tiles per state = schoolnet_school_state per state"
    );
    for t in tiles {
        let (state, cause) = &states[&t.school];
        assert_eq!((&t.state, &t.cause), (state, cause), "tile {}", t.school);
        assert_eq!(
            t.district,
            district_of(&t.school),
            "data-district of {}",
            t.school
        );
        assert_eq!(
            t.section, t.district,
            "{} is under its district's heading",
            t.school
        );
    }
    assert_eq!(
        page_view.summary,
        count_by_state(states.values().map(|(s, _)| s.as_str())),
        "counts per state at the top"
    );

    // Sections: one per district, inventory order, heading with counts.
    let sections: Vec<&str> = page_view.sections.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(sections, DISTRICTS, "district sections");
    for (district, heading) in &page_view.sections {
        let in_district: Vec<&str> = states
            .iter()
            .filter(|(school, _)| district_of(school) == *district)
            .map(|(_, (state, _))| state.as_str())
            .collect();
        let counts = count_by_state(in_district.iter().copied());
        let detail: Vec<String> = STATES
            .iter()
            .filter(|s| counts[**s] > 0)
            .map(|s| format!("{} {s}", counts[*s]))
            .collect();
        let want = format!(
            "{district} {} schools: {}",
            in_district.len(),
            detail.join(", ")
        );
        assert_eq!(heading, &want, "heading of {district}");
    }

    // Cause and duration on every tile that is not up. A down or unknown
    // school's duration is the time since the exporter's outage start
    // (`schoolnet_school_outage_started_timestamp_seconds`), taken while
    // Chromium loaded the page; the page shows whole seconds.
    let why = |school: &str| {
        let t = tiles.iter().find(|t| t.school == school).unwrap();
        t.why
            .clone()
            .unwrap_or_else(|| panic!("no cause line on {school}"))
    };
    for (school, state, cause) in [
        ("N1", "down", "lwt_offline"),
        ("S1", "down", "stale"),
        ("E4", "unknown", "never reported"),
    ] {
        let shown = parse_why(&why(school), state, cause);
        let since = sum_metric(
            &metrics,
            "schoolnet_school_outage_started_timestamp_seconds",
            &[&format!("school=\"{school}\"")],
        );
        assert!(since > 0.0, "{school} has an open outage");
        let (earliest, latest) = (loaded.start() - since, loaded.end() - since);
        assert!(
            shown >= earliest.floor() - 1.0 && shown <= latest + 1.0,
            "{school}: the page says {shown} s, the outage started {earliest:.1}..{latest:.1} s before"
        );
    }
    let degraded_for = parse_why(&why(&degraded), "degraded", "optical_power");
    assert!(
        degraded_for <= test_started.elapsed().as_secs_f64(),
        "{degraded} degraded for {degraded_for} s, longer than this test ran"
    );
    assert!(
        tiles
            .iter()
            .filter(|t| t.state == "up")
            .all(|t| t.why.is_none()),
        "up tiles need no cause line"
    );
    eprintln!(
        "tiles: N1 \"{}\", S1 \"{}\", {degraded} \"{}\"",
        why("N1"),
        why("S1"),
        why(&degraded)
    );

    check_filter(&chromium, &page).await;
    save_screenshot(&chromium, &page).await;

    stop.cancel();
    let report = sim.await.unwrap().unwrap();
    assert_eq!(report.errors, 0);
    eprintln!("status page test: {:.1?}", test_started.elapsed());
}

/// `/?q=…`: the filter box's words, from the URL.
async fn check_filter(chromium: &Chromium, page: &str) {
    let filtered = |q: &'static str| async move {
        PageView::parse(&chromium.dump_dom(&format!("{page}?q={q}"), 3_000).await)
    };
    let south = filtered("South").await;
    let ids: Vec<&str> = south.tiles.iter().map(|t| t.school.as_str()).collect();
    assert_eq!(ids, ["S1", "S2", "S3"], "?q=South");
    let sections: Vec<&str> = south.sections.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(sections, ["South"], "?q=South: only that district");
    assert_eq!(
        south.summary,
        count_by_state(["down", "up", "up"].into_iter()),
        "?q=South: counts of what is shown"
    );
    let down = filtered("down").await;
    let ids: Vec<&str> = down.tiles.iter().map(|t| t.school.as_str()).collect();
    assert_eq!(ids, ["N1", "S1"], "?q=down: the state, exactly");
    let one = filtered("lyceum%20stale").await;
    let ids: Vec<&str> = one.tiles.iter().map(|t| t.school.as_str()).collect();
    assert_eq!(ids, ["S1"], "?q=lyceum stale: every word must match");
}

/// Saves the page to `target/test-artifacts/status-page.png` (next to
/// `CARGO_TARGET_TMPDIR`, so a custom target dir is honoured).
async fn save_screenshot(chromium: &Chromium, page: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("status-page.png");
    chromium.screenshot(page, &png, (1280, 900), 3_000).await;
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let size = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!((size(16), size(20)), (1280, 900), "IHDR width and height");
    assert!(
        bytes.len() > 10_000,
        "a page with tiles, not a blank image: {} bytes",
        bytes.len()
    );
    eprintln!(
        "status page screenshot: {} ({} bytes)",
        png.display(),
        bytes.len()
    );
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// "down 4m 12s, stale" → seconds, after checking state and cause.
fn parse_why(text: &str, state: &str, cause: &str) -> f64 {
    let duration = text
        .strip_prefix(&format!("{state} "))
        .and_then(|t| t.strip_suffix(&format!(", {cause}")))
        .unwrap_or_else(|| panic!("{text:?} is not \"{state} <duration>, {cause}\""));
    duration
        .split(' ')
        .map(|part| {
            let (n, unit) = part.split_at(part.len() - 1);
            let n: f64 = n
                .parse()
                .unwrap_or_else(|_| panic!("duration {duration:?}"));
            n * match unit {
                "d" => 86_400.0,
                "h" => 3_600.0,
                "m" => 60.0,
                "s" => 1.0,
                _ => panic!("unit of {duration:?}"),
            }
        })
        .sum()
}

// ------------------------------------------------------------ DOM reading

/// What the test reads from the page's DOM (as `chromium --dump-dom`
/// serializes it: double-quoted attributes, entities escaped).
#[derive(Debug)]
struct PageView {
    tiles: Vec<Tile>,
    /// (data-district, heading text) per section, in page order.
    sections: Vec<(String, String)>,
    /// data-count per data-count-state of the summary chips.
    summary: BTreeMap<String, usize>,
}

#[derive(Debug)]
struct Tile {
    school: String,
    state: String,
    cause: String,
    district: String,
    /// data-district of the enclosing section.
    section: String,
    /// Text of the "why" line (state, duration, cause), if any.
    why: Option<String>,
}

impl PageView {
    /// A scan of start tags in document order: sections are not nested, so
    /// a tile belongs to the last section opened before it.
    fn parse(dom: &str) -> PageView {
        let mut view = PageView {
            tiles: Vec::new(),
            sections: Vec::new(),
            summary: BTreeMap::new(),
        };
        for tag in start_tags(dom) {
            let attr = |k: &str| tag.attrs.get(k).cloned().unwrap_or_default();
            if tag.name == "section" {
                let heading = element_text(dom, tag.end, "</h2>");
                view.sections.push((attr("data-district"), heading));
            } else if tag.attrs.contains_key("data-school") {
                let inner = &dom[tag.end..tag.end + dom[tag.end..].find("</div>").unwrap()];
                let why = inner
                    .find("<span class=\"why\">")
                    .map(|at| element_text(inner, at, "</span>"));
                view.tiles.push(Tile {
                    school: attr("data-school"),
                    state: attr("data-state"),
                    cause: attr("data-cause"),
                    district: attr("data-district"),
                    section: view
                        .sections
                        .last()
                        .map(|s| s.0.clone())
                        .unwrap_or_default(),
                    why,
                });
            } else if let Some(state) = tag.attrs.get("data-count-state") {
                view.summary
                    .insert(state.clone(), attr("data-count").parse().unwrap());
            }
        }
        assert!(
            !view.summary.is_empty(),
            "no summary: did the page load its data?\n{dom}"
        );
        view
    }
}
