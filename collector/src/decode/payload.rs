//! The payload as text: UTF-8 without collectd's trailing NUL, trimmed
//! cheaply, words (`true`/`false`), and the rejects both JSON formats give
//! a payload that is not a JSON object.

use crate::decode::detail::{echo, reject};
use crate::reject::{Reject, RejectReason};

/// The payload as UTF-8 with trailing NUL bytes removed (collectd 5.12
/// appends one); may be empty.
pub(super) fn utf8(payload: &[u8]) -> Result<&str, Reject> {
    let end = payload.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    std::str::from_utf8(&payload[..end]).map_err(|e| {
        reject(
            RejectReason::ParseError,
            format!(
                "payload is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// [`utf8`], surrounding whitespace trimmed, not empty.
pub(super) fn text(payload: &[u8]) -> Result<&str, Reject> {
    let s = trim(utf8(payload)?);
    if s.is_empty() {
        return Err(reject(RejectReason::ParseError, "empty payload"));
    }
    Ok(s)
}

/// The reject for a payload that is not JSON (both JSON formats word it
/// alike): serde_json's message, echoed.
#[cold]
pub(super) fn invalid_json(e: &serde_json::Error) -> Reject {
    reject(
        RejectReason::ParseError,
        format!("invalid JSON: {}", echo(&e.to_string())),
    )
}

/// The reject for JSON whose top level is not an object.
#[cold]
pub(super) fn not_an_object() -> Reject {
    reject(RejectReason::ParseError, "top level is not a JSON object")
}

/// `s.trim()`, without its char-by-char decoding when both ends are
/// visible ASCII (never whitespace): every number in a string and every
/// payload passes here.
#[inline]
pub(super) fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        [only] if only.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// `true`/`false` in any case.
#[inline]
pub(super) fn bool_word(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_strips_nul_and_rejects_bad_utf8() {
        assert_eq!(text(b" 1:2\0").unwrap(), "1:2");
        assert_eq!(text(b"\0\0").unwrap_err().detail, "empty payload");
        assert!(text(b"\xff\xfe").unwrap_err().detail.contains("offset 0"));
    }

    proptest::proptest! {
        /// `trim` is `str::trim`, its shortcut included.
        #[test]
        fn trim_is_str_trim(s in "[ \t\n\r\x0b\x0c\x01a-z0-9\u{a0}\u{3000}é]{0,6}") {
            proptest::prop_assert_eq!(trim(&s), s.trim());
        }
    }
}
