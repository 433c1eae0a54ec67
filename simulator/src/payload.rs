//! Wire formats as real devices publish them; pure functions, no state.
//!
//! - collectd 5.12 `write_mqtt`: `<epoch.ms>:<v1>[:<v2>…]` plus a trailing NUL.
//! - Telegraf `outputs.mqtt` (influx serializer): one line-protocol metric per
//!   message, integer fields with `i`, nanosecond timestamp, trailing newline.
//! - MikroTik-style JSON: numbers as strings, uptime like `4d22:16:08`.
//! - bare numbers (`value`) and Tasmota-style `Online` / `Offline`.

use std::fmt::Write as _;

/// The label each format is counted under in the report.
pub const COLLECTD: &str = "collectd";
pub const INFLUX: &str = "influx";
pub const JSON: &str = "json";
pub const VALUE: &str = "value";
pub const STATUS: &str = "status";

/// All format labels, in report order.
pub const FORMATS: [&str; 5] = [COLLECTD, INFLUX, JSON, VALUE, STATUS];

/// A number the way collectd's `%.15g`-ish formatting shows it, trimmed:
/// at most 6 decimals, no trailing zeros, never NaN (callers never pass one).
pub fn num(v: f64) -> String {
    debug_assert!(v.is_finite(), "simulator never sends non-finite values");
    let mut s = format!("{v:.6}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// collectd payload: `<secs>.<ms>:<v1>:<v2>…\0`.
pub fn collectd(time_ms: i64, values: &[f64]) -> Vec<u8> {
    let mut s = format!(
        "{}.{:03}",
        time_ms.div_euclid(1000),
        time_ms.rem_euclid(1000)
    );
    for v in values {
        s.push(':');
        s.push_str(&num(*v));
    }
    let mut out = s.into_bytes();
    out.push(0);
    out
}

/// A line-protocol field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LpValue {
    Int(i64),
    Float(f64),
}

/// Escapes a measurement name, tag key/value or field key (`,`, ` `, `=`).
fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(c, ',' | ' ' | '=' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// One line-protocol metric with a trailing newline (Telegraf's output).
pub fn line(
    measurement: &str,
    tags: &[(&str, &str)],
    fields: &[(&str, LpValue)],
    time_ns: i64,
) -> Vec<u8> {
    let mut s = String::with_capacity(160);
    escape(measurement, &mut s);
    for (k, v) in tags {
        s.push(',');
        escape(k, &mut s);
        s.push('=');
        escape(v, &mut s);
    }
    for (i, (k, v)) in fields.iter().enumerate() {
        s.push(if i == 0 { ' ' } else { ',' });
        escape(k, &mut s);
        s.push('=');
        match v {
            LpValue::Int(n) => {
                let _ = write!(s, "{n}i");
            }
            LpValue::Float(f) => s.push_str(&num(*f)),
        }
    }
    let _ = writeln!(s, " {time_ns}");
    s.into_bytes()
}

/// MikroTik `/system resource` uptime: `4d22:16:08`, or `22:16:08` under a day.
/// (RouterOS would write `1w2d…` past a week; scripts in the field often
/// print days only, which is what is sent here.)
pub fn mikrotik_uptime(secs: u64) -> String {
    let (d, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if d > 0 {
        format!("{d}d{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// A JSON object whose values are all strings (MikroTik scripts, ONT pollers).
pub fn json_strings(pairs: &[(&str, String)]) -> Vec<u8> {
    let map: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::to_vec(&serde_json::Value::Object(map)).expect("a map of strings serializes")
}

/// A decimal with `places` digits, as MikroTik scripts print them.
pub fn fixed(v: f64, places: usize) -> String {
    let s = format!("{v:.places$}");
    if s.starts_with("-0") && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s[1..].to_string()
    } else {
        s
    }
}

/// Tasmota-style LWT payload.
pub fn status(online: bool) -> Vec<u8> {
    if online {
        b"Online".to_vec()
    } else {
        b"Offline".to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_trimmed() {
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(0.000_000_1), "0");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(123_456_789.123_456_7), "123456789.123457");
        assert_eq!(fixed(-0.001, 2), "0.00");
        assert_eq!(fixed(-18.456, 2), "-18.46");
    }

    #[test]
    fn collectd_payload_shape() {
        let p = collectd(1_700_000_000_042, &[1.5, 2.0]);
        assert_eq!(p, b"1700000000.042:1.5:2\0");
    }

    #[test]
    fn line_escapes_and_types() {
        let l = line(
            "net",
            &[("host", "a b"), ("interface", "wan")],
            &[("bytes_recv", LpValue::Int(5)), ("x", LpValue::Float(0.25))],
            7,
        );
        assert_eq!(
            String::from_utf8(l).unwrap(),
            "net,host=a\\ b,interface=wan bytes_recv=5i,x=0.25 7\n"
        );
    }

    #[test]
    fn uptime_formats() {
        assert_eq!(
            mikrotik_uptime(4 * 86_400 + 22 * 3600 + 16 * 60 + 8),
            "4d22:16:08"
        );
        assert_eq!(mikrotik_uptime(59), "00:00:59");
        assert_eq!(mikrotik_uptime(20 * 86_400), "20d00:00:00");
    }
}
