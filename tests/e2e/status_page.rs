//! The status page at `/` in a real browser: mosquitto → `schoolnet run` ←
//! the fleet simulator, 11 schools in 3 districts in every state: N1 down by
//! its MQTT last will, S1 down by going silent, one school degraded by a
//! weak fiber (the simulator's `weak_optical`, always below −25 dBm), E4
//! never reporting (unknown, past the grace period), the rest up. Once
//! `/metrics` shows exactly that, headless Chromium loads `/` and the test
//! reads the DOM the page's script built: problem tiles first (down,
//! degraded, unknown) with the state and cause of `schoolnet_school_state`
//! and "down 12s, stale" with the outage's duration; one collapsed line per
//! district with its counts; a map dot per school at its lat/lon in the
//! path of its state; Grafana links from `exporter.grafana_url`. Then the
//! chips' links (`?state=`), the device detail (`#school=N1`) and the
//! filter (`?q=`). A screenshot is saved to
//! `target/test-artifacts/status-page.png` (the path is printed).
//!
//! A second test loads the page at 30,000 schools (untimed: the time is
//! `scripts/bench-status-page.sh`'s).

use crate::support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use collector::inventory::Inventory;
use simulator::{Fleet, FleetOptions};
use support::dom::{element_text, start_tags};
use support::{school_states, sum_metric, Collector, States};
use testkit::{wait_until, Chromium, Mosquitto};

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
/// `exporter.grafana_url` (set with a trailing `/`, which the links drop).
const GRAFANA: &str = "https://grafana.example.net/g";

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

fn count_by_state<'a>(states: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = STATES.iter().map(|s| (s.to_string(), 0)).collect();
    for s in states {
        *counts.entry(s.to_string()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn status_page_lists_problems_first_with_districts_map_chips_detail_and_grafana_links() {
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
        &[
            ("SCHOOLNET_EXPORTER__UNKNOWN_GRACE_S", "5"),
            ("SCHOOLNET_EXPORTER__GRAFANA_URL", &format!("{GRAFANA}/")),
        ],
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
    let sim = support::InProcessFleet::start(fleet, &broker.url);
    let control = &sim.control;

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

    // Problems first: down (inventory order), then degraded, then unknown;
    // up schools have no tile until their district is opened.
    let ids: Vec<&str> = tiles.iter().map(|t| t.school.as_str()).collect();
    assert_eq!(
        ids,
        ["N1", "S1", degraded.as_str(), "E4"],
        "problem tiles: down, degraded, unknown"
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
            t.detail_href,
            format!("#school={}", t.school),
            "{} opens its detail",
            t.school
        );
        assert_eq!(
            t.grafana_href.as_deref(),
            Some(format!("{GRAFANA}/d/schoolnet-school?var-school={}", t.school).as_str()),
            "Grafana link of {} (base URL without its trailing /)",
            t.school
        );
    }
    let all_states = || states.values().map(|(s, _)| s.as_str());
    assert_eq!(
        page_view.summary(),
        count_by_state(all_states()),
        "counts per state at the top"
    );

    // Districts: one collapsed line each, inventory order, with counts.
    let lines: Vec<&str> = page_view.districts.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(lines, DISTRICTS, "district lines");
    for (district, heading, up) in &page_view.districts {
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
        assert_eq!(heading, &want, "line of {district}");
        assert_eq!(*up, counts["up"], "data-up of {district}");
    }

    check_map(&page_view, &inventory, &states);

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
    eprintln!(
        "tiles: N1 \"{}\", S1 \"{}\", {degraded} \"{}\"",
        why("N1"),
        why("S1"),
        why(&degraded)
    );

    check_chips(&chromium, &page, &page_view, &degraded).await;
    check_detail(&chromium, &page).await;
    check_filter(&chromium, &page).await;
    save_screenshot(&chromium, &page).await;

    let report = sim.stop().await;
    assert_eq!(report.errors, 0);
    eprintln!("status page test: {:.1?}", test_started.elapsed());
}

/// The map: one dot per school in the path of its state, at its lat/lon
/// through the page's projection (x = lon · kx, y = −lat, kx the cosine of
/// the mean latitude), 4 decimals.
fn check_map(view: &PageView, inventory: &Inventory, states: &States) {
    let schools = inventory.schools();
    let mean = schools.iter().map(|s| s.lat).sum::<f64>() / schools.len() as f64;
    assert!(
        (view.map_kx - mean.to_radians().cos()).abs() < 1e-9,
        "data-kx {} is cos(mean latitude {mean})",
        view.map_kx
    );
    let painted: Vec<&str> = view.map.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        painted,
        ["up", "unknown", "degraded", "down"],
        "problems painted last, on top"
    );
    for (state, points) in &view.map {
        let mut left: Vec<(f64, f64)> = points.clone();
        for s in schools.iter().filter(|s| states[&*s.id].0 == *state) {
            let at = left
                .iter()
                .position(|&(x, y)| {
                    (x / view.map_kx - s.lon).abs() < 1e-3 && (-y - s.lat).abs() < 1e-3
                })
                .unwrap_or_else(|| {
                    panic!(
                        "no {state} dot for {} at {}, {}: {points:?}",
                        s.id, s.lat, s.lon
                    )
                });
            left.remove(at);
        }
        assert!(left.is_empty(), "{state} dots of no school: {left:?}");
    }
}

/// A chip is a link to the same view with its state toggled in `?state=`:
/// following the down chip leaves only down schools, in the list and on
/// the map; following both problem chips, down then degraded.
async fn check_chips(chromium: &Chromium, page: &str, view: &PageView, degraded: &str) {
    let href = |view: &PageView, state: &str| {
        let chip = view.chips.iter().find(|c| c.state == state).unwrap();
        chip.href.clone()
    };
    assert!(
        view.chips.iter().all(|c| !c.pressed),
        "no chip selected at first"
    );
    assert_eq!(href(view, "down"), "?state=down");
    let down = PageView::parse(
        &chromium
            .dump_dom(&format!("{page}?state=down"), 3_000)
            .await,
    );
    let ids: Vec<&str> = down.tiles.iter().map(|t| t.school.as_str()).collect();
    assert_eq!(ids, ["N1", "S1"], "?state=down: only down schools");
    assert!(
        down.districts.is_empty(),
        "no up schools, no district lines"
    );
    let pressed: Vec<&str> = down
        .chips
        .iter()
        .filter(|c| c.pressed)
        .map(|c| c.state.as_str())
        .collect();
    assert_eq!(pressed, ["down"]);
    let dots: Vec<(&str, usize)> = down
        .map
        .iter()
        .map(|(s, p)| (s.as_str(), p.len()))
        .collect();
    assert_eq!(
        dots,
        [("up", 0), ("unknown", 0), ("degraded", 0), ("down", 2)],
        "?state=down: map"
    );
    assert_eq!(href(&down, "down"), "?", "clicked again: everything");
    let both = href(&down, "degraded");
    assert_eq!(both, "?state=down%2Cdegraded");
    let both = PageView::parse(&chromium.dump_dom(&format!("{page}{both}"), 3_000).await);
    let ids: Vec<&str> = both.tiles.iter().map(|t| t.school.as_str()).collect();
    assert_eq!(ids, ["N1", "S1", degraded], "down and degraded");
}

/// `#school=N1` (where a tile or a map dot leads): the school's devices
/// with their state and cause, from `/api/schools/N1`.
async fn check_detail(chromium: &Chromium, page: &str) {
    let view = PageView::parse(&chromium.dump_dom(&format!("{page}#school=N1"), 3_000).await);
    let detail = view.detail.expect("a detail panel for #school=N1");
    assert_eq!(detail.school, "N1");
    assert_eq!(
        detail.devices,
        [
            ("olt-north".to_string(), "up".to_string(), String::new()),
            ("ont-n1".to_string(), "up".to_string(), String::new()),
            (
                "rtr-n1".to_string(),
                "down".to_string(),
                "lwt_offline".to_string()
            ),
        ],
        "N1's devices, inventory order (its district's OLT is recorded at N1)"
    );
    assert_eq!(
        detail.grafana_href.as_deref(),
        Some(format!("{GRAFANA}/d/schoolnet-school?var-school=N1").as_str())
    );
}

/// `/?q=…`: the filter box's words, from the URL.
async fn check_filter(chromium: &Chromium, page: &str) {
    let filtered = |q: &'static str| async move {
        PageView::parse(&chromium.dump_dom(&format!("{page}?q={q}"), 3_000).await)
    };
    let south = filtered("South").await;
    let ids: Vec<&str> = south.tiles.iter().map(|t| t.school.as_str()).collect();
    assert_eq!(ids, ["S1"], "?q=South: its problem");
    let lines: Vec<&str> = south.districts.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(lines, ["South"], "?q=South: only that district");
    assert_eq!(
        south.summary(),
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
    /// Tiles in page order (only problems, as long as no district is open).
    tiles: Vec<Tile>,
    /// (data-district, line text, data-up) per district line, page order.
    districts: Vec<(String, String, usize)>,
    chips: Vec<Chip>,
    /// data-kx of the map.
    map_kx: f64,
    /// (data-state, dots as (x, y)) per map path, painting order.
    map: Vec<(String, Vec<(f64, f64)>)>,
    detail: Option<Detail>,
}

#[derive(Debug)]
struct Tile {
    school: String,
    state: String,
    cause: String,
    district: String,
    /// Text of the "why" line (state, duration, cause), if any.
    why: Option<String>,
    detail_href: String,
    grafana_href: Option<String>,
}

#[derive(Debug)]
struct Chip {
    state: String,
    count: usize,
    pressed: bool,
    href: String,
}

#[derive(Debug)]
struct Detail {
    school: String,
    /// (data-device, data-state, data-cause) per row.
    devices: Vec<(String, String, String)>,
    grafana_href: Option<String>,
}

impl PageView {
    /// A scan of start tags in document order: a tile's links follow its
    /// start tag before the next tile; detail rows follow the detail.
    fn parse(dom: &str) -> PageView {
        let mut view = PageView {
            tiles: Vec::new(),
            districts: Vec::new(),
            chips: Vec::new(),
            map_kx: f64::NAN,
            map: Vec::new(),
            detail: None,
        };
        let mut in_detail = false;
        for tag in start_tags(dom) {
            let attr = |k: &str| tag.attrs.get(k).cloned().unwrap_or_default();
            let class = attr("class");
            if tag.name == "details" {
                let heading = element_text(dom, tag.end, "</summary>");
                let up = attr("data-up").parse().unwrap();
                view.districts.push((attr("data-district"), heading, up));
            } else if tag.name == "div" && tag.attrs.contains_key("data-school") {
                let inner = &dom[tag.end..tag.end + dom[tag.end..].find("</div>").unwrap()];
                let why = inner
                    .find("<span class=\"why\">")
                    .map(|at| element_text(inner, at, "</span>"));
                view.tiles.push(Tile {
                    school: attr("data-school"),
                    state: attr("data-state"),
                    cause: attr("data-cause"),
                    district: attr("data-district"),
                    why,
                    detail_href: String::new(),
                    grafana_href: None,
                });
            } else if tag.name == "a" && class == "open" {
                view.tiles.last_mut().unwrap().detail_href = attr("href");
            } else if tag.name == "a" && class == "grafana" {
                let href = Some(attr("href").replace("&amp;", "&"));
                match (&mut view.detail, in_detail) {
                    (Some(detail), true) => detail.grafana_href = href,
                    _ => view.tiles.last_mut().unwrap().grafana_href = href,
                }
            } else if let Some(state) = tag.attrs.get("data-count-state") {
                view.chips.push(Chip {
                    state: state.clone(),
                    count: attr("data-count").parse().unwrap(),
                    pressed: attr("aria-pressed") == "true",
                    href: attr("href").replace("&amp;", "&"),
                });
            } else if tag.name == "svg" && attr("id") == "map" {
                view.map_kx = attr("data-kx").parse().unwrap();
            } else if tag.name == "path" && tag.attrs.contains_key("data-state") {
                view.map.push((attr("data-state"), dots(&attr("d"))));
            } else if tag.name == "section" && attr("id") == "detail" {
                in_detail = tag.attrs.contains_key("data-school");
                if in_detail {
                    view.detail = Some(Detail {
                        school: attr("data-school"),
                        devices: Vec::new(),
                        grafana_href: None,
                    });
                }
            } else if tag.name == "tr" && tag.attrs.contains_key("data-device") {
                let detail = view.detail.as_mut().expect("device rows in the detail");
                detail
                    .devices
                    .push((attr("data-device"), attr("data-state"), attr("data-cause")));
            }
        }
        assert!(
            !view.chips.is_empty() && view.map_kx.is_finite(),
            "no chips or map: did the page load its data?\n{dom}"
        );
        view
    }

    /// data-count per state of the chips.
    fn summary(&self) -> BTreeMap<String, usize> {
        self.chips
            .iter()
            .map(|c| (c.state.clone(), c.count))
            .collect()
    }
}

/// "M1.5 -2h0M3 -4h0" → [(1.5, -2), (3, -4)].
fn dots(d: &str) -> Vec<(f64, f64)> {
    d.split('M')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let p = p
                .strip_suffix("h0")
                .unwrap_or_else(|| panic!("dot {p:?} in {d:?}"));
            let (x, y) = p.split_once(' ').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

/// 30,000 schools in 60 districts, none reporting (all unknown): the page
/// still loads in Chromium with a bounded DOM: 500 problem tiles and the
/// rest counted, 60 district lines, every school a dot on the map (one
/// path). Untimed; `scripts/bench-status-page.sh` measures the time.
#[tokio::test(flavor = "multi_thread")]
async fn status_page_at_30000_schools_stays_bounded() {
    const N: usize = 30_000;
    let inv_dir = tempfile::tempdir().unwrap();
    let mut schools = String::from("school_id,name,district,lat,lon,uplink_mbps\n");
    let mut devices =
        String::from("device_id,school_id,role,expected_interval_s,parent,wan_interface\n");
    for i in 0..N {
        let (lat, lon) = (
            38.5 + (i % 300) as f64 * 0.01,
            44.5 + (i / 300) as f64 * 0.05,
        );
        schools += &format!(
            "S{i:05},School {i},District {:02},{lat:.5},{lon:.5},100\n",
            i / 500
        );
        devices += &format!("rtr-{i:05},S{i:05},router,60,,wan\n");
    }
    std::fs::write(inv_dir.path().join("schools.csv"), schools).unwrap();
    std::fs::write(inv_dir.path().join("devices.csv"), devices).unwrap();
    let broker = Mosquitto::start().await;
    let collector = Collector::start(&broker.url, Some(inv_dir.path()), "").await;

    let started = Instant::now();
    let dom = Chromium::new()
        .dump_dom(&format!("{}/", collector.exporter), 5_000)
        .await;
    eprintln!(
        "chromium --dump-dom at {N} schools: {:.2?}",
        started.elapsed()
    );
    let view = PageView::parse(&dom);
    assert_eq!(view.summary()["unknown"], N, "every school counted");
    assert_eq!(view.tiles.len(), 500, "at most 500 problem tiles");
    assert!(
        view.tiles.windows(2).all(|w| w[0].school < w[1].school),
        "inventory order within a state"
    );
    assert!(
        dom.contains(&format!("data-hidden=\"{}\"", N - 500)),
        "the others counted"
    );
    assert_eq!(view.districts.len(), 60, "one line per district");
    assert!(view.districts.iter().all(|d| d.2 == 0), "none up");
    let dots: Vec<(&str, usize)> = view
        .map
        .iter()
        .map(|(s, p)| (s.as_str(), p.len()))
        .collect();
    assert_eq!(
        dots,
        [("up", 0), ("unknown", N), ("degraded", 0), ("down", 0)],
        "every school on the map"
    );
}
