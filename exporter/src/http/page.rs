//! The status page at `/`: one self-contained HTML page (`status.html`
//! with the script of `status.js` and `status_map.js` inline, compiled in)
//! for a NOC screen in a data center without internet access,
//! usable at tens of thousands of schools.
//!
//! This module owns the page and its contract; the data comes from
//! `api/status` ([`super::api::StatusView`], compact rows), fetched every
//! 5 s, and a school's devices from `api/schools/{id}` when it is opened.
//! The page shows:
//! - problems first: tiles of the down, then degraded, then unknown schools
//!   (inventory order within a state, at most 500; the rest is counted),
//!   each with its state, duration and cause ("down 4m 12s, stale");
//! - every district as one collapsed line with its counts per state; opening
//!   it builds the tiles of its up schools (never before: at 30,000 schools
//!   those are most of the page);
//! - chips with the counts per state at the top; a chip is a link that
//!   toggles its state in `?state=` (show only those);
//! - a map: every school's lat/lon as a dot colored by state, one SVG path
//!   per state (problems drawn on top), no tiles from the network;
//! - a school's devices when its tile or its dot is clicked (`#school=ID`);
//! - a link per school to its Grafana dashboard when `exporter.grafana_url`
//!   is set.
//!
//! A filter box (also `?q=` in the URL) narrows everything to schools whose
//! id, name or district contain every word, or whose state or cause is one
//! of them. The whole view is in the URL, so any view can be linked.
//!
//! Tiles carry `data-school`, `data-state`, `data-district` and
//! `data-cause`, district lines `data-district` and `data-up`, the chips
//! `data-count-state` and `data-count`, map paths `data-state` (the map
//! `data-kx`, its projection), the detail `data-school` and its rows
//! `data-device`; `<html>` gets `data-content-ms` and `data-painted-ms`
//! (ms from navigation to the first list, and to the frame after it). The
//! end-to-end test (`tests/e2e/status_page.rs`, headless Chromium) and
//! `scripts/bench-status-page.sh` read those, so they are part of the
//! contract.

/// The page as served: the markup and style, then the script (in two files
/// by responsibility), inline.
pub(crate) const STATUS_PAGE: &str = concat!(
    include_str!("status.html"),
    include_str!("status.js"),
    include_str!("status_map.js"),
    "</script>\n</body>\n</html>\n"
);

#[cfg(test)]
mod tests {
    use super::STATUS_PAGE;

    #[test]
    fn page_is_self_contained() {
        assert!(STATUS_PAGE.starts_with("<!doctype html>"));
        assert!(STATUS_PAGE.contains("fetch(\"api/status\""), "relative URL");
        for external in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "@import",
            "@font-face",
            "url(",
            "<link",
            "fetch(\"http",
        ] {
            assert!(
                !STATUS_PAGE.contains(external),
                "external asset: {external}"
            );
        }
        // Names come from a spreadsheet: text only, never parsed as HTML.
        assert!(!STATUS_PAGE.contains("innerHTML"));
    }

    #[test]
    fn tiles_carry_the_attributes_the_browser_test_counts() {
        for attribute in [
            "dataset.school",
            "dataset.state",
            "dataset.district",
            "dataset.cause",
            "dataset.countState",
            "dataset.count ",
            "dataset.up",
            "dataset.kx",
            "dataset.device",
            "root.contentMs",
            "root.paintedMs",
        ] {
            assert!(STATUS_PAGE.contains(attribute), "missing {attribute}");
        }
        assert!(STATUS_PAGE.contains("params.get(\"q\")"), "honours ?q=");
        assert!(
            STATUS_PAGE.contains("params.get(\"state\")"),
            "honours ?state="
        );
        assert!(
            STATUS_PAGE.contains("/d/schoolnet-school?var-school="),
            "links to the school dashboard by uid, with its school variable"
        );
        // Read at run time, not include_str!: the container build compiles
        // this crate without dashboards/ in its context.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../dashboards/schoolnet-school.json"
        );
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(dashboard["uid"], "schoolnet-school");
        let variables = dashboard["templating"]["list"].as_array().unwrap();
        assert!(
            variables.iter().any(|v| v["name"] == "school"),
            "the dashboard's $school variable"
        );
    }
}
