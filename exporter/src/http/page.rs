//! The status page at `/`: one self-contained HTML file (no external assets,
//! works offline in a NOC), tiles per school grouped by district, colored by
//! state, refreshed from `api/schools` every 5 s.

pub(crate) const STATUS_PAGE: &str = include_str!("status.html");

#[cfg(test)]
mod tests {
    use super::STATUS_PAGE;

    #[test]
    fn page_is_self_contained() {
        assert!(STATUS_PAGE.starts_with("<!doctype html>"));
        assert!(STATUS_PAGE.contains("api/schools"));
        for external in ["src=\"http", "href=\"http", "@import", "<link"] {
            assert!(
                !STATUS_PAGE.contains(external),
                "external asset: {external}"
            );
        }
        // Names come from a spreadsheet: text only, never parsed as HTML.
        assert!(!STATUS_PAGE.contains("innerHTML"));
    }
}
