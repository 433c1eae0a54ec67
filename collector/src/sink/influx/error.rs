//! What can go wrong writing to InfluxDB, and what to do about it.
//!
//! Classification follows Telegraf's `outputs.influxdb_v2`, with two
//! deliberate differences noted below. The question each class answers is
//! "may the same bytes succeed later?":
//!
//! | response | class | the sink |
//! |---|---|---|
//! | connection error, timeout, 5xx | [`Retryable`](WriteError::Retryable) | retries with backoff |
//! | 429, 503 with `Retry-After` | [`Throttled`](WriteError::Throttled) | waits as told (capped), retries |
//! | 413 | [`TooLarge`](WriteError::TooLarge) | splits the batch in halves |
//! | 401, 403, 404, 501 | [`Misconfigured`](WriteError::Misconfigured) | logs an error, retries |
//! | 400, 422, other 4xx | [`Rejected`](WriteError::Rejected) | drops the points, counts them |
//!
//! Differences from Telegraf: 404 (InfluxDB 1.x "database not found", 2.x
//! "bucket not found") and 501 mean the URL, database or bucket is wrong —
//! like a bad token (401/403) that is a configuration problem of the *server
//! side* that an operator fixes, after which the very same points succeed.
//! Dropping data because someone has not created the database yet would be
//! the wrong trade, so these retry (loudly) and the bounded queue applies
//! backpressure until fixed.
//!
//! A 400 from InfluxDB 1.x is usually a *partial* write ("partial write:
//! field type conflict: … dropped=2"): the valid points of the batch were
//! stored. [`WriteError::Rejected::dropped`] carries that count so only the
//! dropped points are counted as rejected.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

/// Longest server message kept (logs and errors); servers may echo whole lines.
pub const BODY_EXCERPT_CHARS: usize = 512;

/// A failed write (or a sink that could not be set up).
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum WriteError {
    /// Transient: the server or network may recover (connection refused,
    /// timeout, 5xx).
    #[error("InfluxDB write failed, will retry: {reason}")]
    Retryable { reason: String },
    /// The server asked us to slow down (429, 503 with `Retry-After`).
    #[error("InfluxDB is throttling writes (HTTP {status}), retry after {retry_after:?}")]
    Throttled {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// 413: the body exceeds the server's limit; the batch must be split.
    #[error("InfluxDB refused the request body as too large (HTTP 413)")]
    TooLarge,
    /// The server will never accept these points: drop them.
    #[error("InfluxDB rejected points (HTTP {status}): {body}")]
    Rejected {
        status: u16,
        body: String,
        /// Points the server reported as dropped (`dropped=N` of an InfluxDB
        /// 1.x partial write); `None`: assume the whole request.
        dropped: Option<usize>,
    },
    /// Wrong token, database, bucket or URL (401, 403, 404, 501): retried,
    /// because the points are fine and an operator will fix the setup.
    #[error("InfluxDB refused the write as misconfigured (HTTP {status}): {body}; check url, token, database/org/bucket")]
    Misconfigured { status: u16, body: String },
    /// The sink's configuration cannot work (bad URL, unusable token).
    #[error("invalid InfluxDB sink setup: {0}")]
    Setup(String),
}

impl WriteError {
    /// Whether the same request should be sent again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            WriteError::Retryable { .. }
                | WriteError::Throttled { .. }
                | WriteError::Misconfigured { .. }
        )
    }

    /// Every `result` label of `schoolnet_influx_writes_total`: `ok` and
    /// each [`class`](Self::class). The writer creates them at 0 so
    /// InfluxWritesFailing's ratio sees the first failure of each class.
    pub const RESULTS: [&'static str; 7] = [
        "ok",
        "retryable",
        "throttled",
        "split",
        "rejected",
        "misconfigured",
        "setup",
    ];

    /// `result` label of `schoolnet_influx_writes_total` and of the latency
    /// histogram (a fixed set, so cardinality stays bounded).
    pub fn class(&self) -> &'static str {
        match self {
            WriteError::Retryable { .. } => "retryable",
            WriteError::Throttled { .. } => "throttled",
            WriteError::TooLarge => "split",
            WriteError::Rejected { .. } => "rejected",
            WriteError::Misconfigured { .. } => "misconfigured",
            WriteError::Setup(_) => "setup",
        }
    }

    /// Classifies a transport-level failure (no HTTP response).
    pub fn from_transport(e: &reqwest::Error) -> WriteError {
        let kind = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "transport error"
        };
        // reqwest's message names the URL, which holds no secret (auth is in
        // headers), and the cause chain (e.g. "connection refused").
        let mut reason = format!("{kind}: {e}");
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        WriteError::Retryable { reason }
    }
}

/// Maps an HTTP response to `Ok` or a classified error. Pure, so the table in
/// the module docs is unit-tested; `now` resolves a `Retry-After` date.
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    now: SystemTime,
) -> Result<(), WriteError> {
    if status.is_success() {
        return Ok(());
    }
    let code = status.as_u16();
    let body = excerpt(body, headers);
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    Err(match code {
        413 => WriteError::TooLarge,
        429 => WriteError::Throttled {
            status: code,
            retry_after,
        },
        503 if retry_after.is_some() => WriteError::Throttled {
            status: code,
            retry_after,
        },
        401 | 403 | 404 | 501 => WriteError::Misconfigured { status: code, body },
        400..=499 => WriteError::Rejected {
            status: code,
            dropped: parse_dropped(&body),
            body,
        },
        _ => WriteError::Retryable {
            reason: format!("HTTP {code}: {body}"),
        },
    })
}

/// The server's message, shortened: the JSON `error`/`message` member when the
/// body is JSON (InfluxDB 1.x and 2.x), else the text; `X-Influxdb-Error` as
/// a fallback for empty bodies.
fn excerpt(body: &str, headers: &HeaderMap) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            ["error", "message"]
                .iter()
                .find_map(|k| v.get(k)?.as_str().map(str::to_owned))
        });
    let mut text = from_json.unwrap_or_else(|| body.trim().to_owned());
    if text.is_empty() {
        text = headers
            .get("x-influxdb-error")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
    }
    match text.char_indices().nth(BODY_EXCERPT_CHARS) {
        Some((i, _)) => {
            text.truncate(i);
            text.push('…');
            text
        }
        None => text,
    }
}

/// `dropped=N` of an InfluxDB 1.x partial write.
fn parse_dropped(body: &str) -> Option<usize> {
    let rest = &body[body.rfind("dropped=")? + "dropped=".len()..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[..digits].parse().ok()
}

/// `Retry-After`: delay-seconds or an IMF-fixdate (RFC 9110 §10.2.3). A date
/// in the past means "now" (zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // Not allowed by the RFC, but cheap to honour (some proxies send it).
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = parse_imf_fixdate(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`. The obsolete RFC 850 and asctime forms
/// are not accepted (they return `None`, i.e. our own backoff applies).
fn parse_imf_fixdate(s: &str) -> Option<SystemTime> {
    let rest = s.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let hms = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let mut t = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (t.next()??, t.next()??, t.next()??);
    if t.next().is_some() || h > 23 || m > 59 || sec > 60 || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + m * 60 + sec;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
