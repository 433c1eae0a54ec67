//! The status page at `/`: one self-contained HTML file (`status.html`,
//! compiled in) for a NOC screen in a data center without internet access.
//!
//! This module owns the page and its contract; the data comes from
//! `api/schools` ([`super::api::SchoolView`]), fetched every 5 s. The page
//! shows every school as a tile colored by state (up, degraded, down,
//! unknown), grouped by district with counts per district, the counts per
//! state at the top, and on every tile that is not up its state, duration
//! and cause ("down 4m 12s, stale"). A filter box (also `?q=` in the URL)
//! narrows it to schools whose id, name or district contain every word, or
//! whose state or cause is one of them.
//!
//! Tiles carry `data-school`, `data-state`, `data-district` and
//! `data-cause`, sections `data-district`, the summary chips
//! `data-count-state` and `data-count`: the end-to-end test
//! (`tests/e2e/status_page.rs`, headless Chromium) counts those, so they
//! are part of the contract.

pub(crate) const STATUS_PAGE: &str = include_str!("status.html");

#[cfg(test)]
mod tests {
    use super::STATUS_PAGE;

    #[test]
    fn page_is_self_contained() {
        assert!(STATUS_PAGE.starts_with("<!doctype html>"));
        assert!(
            STATUS_PAGE.contains("fetch(\"api/schools\""),
            "relative URL"
        );
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
        ] {
            assert!(STATUS_PAGE.contains(attribute), "missing {attribute}");
        }
        assert!(STATUS_PAGE.contains("searchParams"), "honours ?q=");
    }
}
