//! Point accounting: what the simulator says it sent, what InfluxDB,
//! VictoriaMetrics or a spool record holds, per measurement and school.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use simulator::SimulateReport;
use testkit::{wait_until, InfluxDb1};

/// Expected points as `measurement → school → count`, without zero entries.
pub fn expected_points(report: &SimulateReport) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (m, schools) in &report.expected_points {
        for (school, n) in schools {
            if *n > 0 {
                out.entry(m.to_string())
                    .or_default()
                    .insert(school.clone(), *n);
            }
        }
    }
    out
}

/// Points per school in one InfluxDB measurement, counted as rows of
/// `SELECT *` (a point is a row whatever fields it carries).
pub fn rows_by_school(result: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for series in result["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let school = series["tags"]["school"].as_str().unwrap_or("").to_string();
        let rows = series["values"].as_array().map_or(0, |v| v.len() as u64);
        *out.entry(school).or_insert(0) += rows;
    }
    out
}

/// Points per school from VictoriaMetrics' export of one measurement: VM
/// stores each field as its own series `<measurement>_<field>`, so a point is
/// a distinct (device, key, timestamp) across the measurement's fields.
pub fn vm_points_by_school(lines: &[Value]) -> BTreeMap<String, u64> {
    let mut points: BTreeMap<String, std::collections::BTreeSet<(String, String, i64)>> =
        BTreeMap::new();
    for line in lines {
        let m = &line["metric"];
        let school = m["school"].as_str().unwrap_or("").to_string();
        let device = m["device"].as_str().unwrap_or("").to_string();
        let key = m["interface"]
            .as_str()
            .or(m["target"].as_str())
            .unwrap_or("")
            .to_string();
        for ts in line["timestamps"].as_array().into_iter().flatten() {
            points.entry(school.clone()).or_default().insert((
                device.clone(),
                key.clone(),
                ts.as_i64().unwrap(),
            ));
        }
    }
    points
        .into_iter()
        .map(|(k, v)| (k, v.len() as u64))
        .collect()
}

/// Points per measurement and school (`measurement → school → count`).
pub type Points = BTreeMap<String, BTreeMap<String, u64>>;

/// The measurements the simulator's points go to.
pub const MEASUREMENTS: [&str; 5] = ["interface", "optical", "system", "probe", "clients"];

/// The points InfluxDB holds in `db`, per measurement and school (rows of
/// `SELECT * … GROUP BY school`); an error while InfluxDB is down.
pub async fn influx_points(influx: &InfluxDb1, db: &str) -> anyhow::Result<Points> {
    let mut got = Points::new();
    for m in MEASUREMENTS {
        let q = format!("SELECT * FROM \"{m}\" GROUP BY school");
        let rows = rows_by_school(&influx.try_query(db, &q).await?);
        if !rows.is_empty() {
            got.insert(m.to_string(), rows);
        }
    }
    Ok(got)
}

/// All points of a [`Points`].
pub fn total_points(points: &Points) -> u64 {
    points.values().flat_map(|s| s.values()).sum()
}

/// How InfluxDB's points must match the simulator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accounting {
    /// Exactly the expected points.
    Exact,
    /// None missing. Surplus only in `probe`: after a broker redelivery a
    /// bare-value payload (MikroTik `probe/<d>/<target>/rtt_ms`, no device
    /// time, stamped on receipt) becomes a second point, while every other
    /// format carries a device timestamp and rewrites the same point.
    NoneMissing,
}

/// `Ok(surplus)` when `got` matches `expected` under `accounting`, else
/// what differs.
pub fn check_points(
    got: &Points,
    expected: &Points,
    accounting: Accounting,
) -> Result<u64, String> {
    let mut problems = Vec::new();
    let mut surplus = 0;
    let keys: std::collections::BTreeSet<(&String, &String)> = got
        .iter()
        .chain(expected.iter())
        .flat_map(|(m, s)| s.keys().map(move |k| (m, k)))
        .collect();
    for (m, school) in keys {
        let n = |p: &Points| p.get(m).and_then(|s| s.get(school)).copied().unwrap_or(0);
        let (g, e) = (n(got), n(expected));
        let extra_ok = accounting == Accounting::NoneMissing && m == "probe";
        if g < e || (g > e && !extra_ok) {
            problems.push(format!("{m}/{school}: got {g}, expected {e}"));
        }
        surplus += g.saturating_sub(e);
    }
    if problems.is_empty() {
        Ok(surplus)
    } else {
        Err(format!(
            "{} of {} points; {}",
            total_points(got),
            total_points(expected),
            problems.join(", ")
        ))
    }
}

/// Waits until InfluxDB's points match `expected` (see [`check_points`])
/// and returns them.
pub async fn wait_for_points(
    influx: &InfluxDb1,
    expected: &Points,
    accounting: Accounting,
    timeout: Duration,
) -> Points {
    wait_until("InfluxDB to hold the simulated points", timeout, || async {
        let got = influx_points(influx, "schoolnet").await?;
        check_points(&got, expected, accounting).map_err(anyhow::Error::msg)?;
        anyhow::Ok(got)
    })
    .await
}

/// Points per measurement and school in line protocol (a spool record's
/// payload): one per line, `school` tag, measurements of [`MEASUREMENTS`].
pub fn line_points(lines: &[u8]) -> Points {
    let mut out = Points::new();
    for line in String::from_utf8_lossy(lines).lines() {
        let Some(m) = line
            .split([',', ' '])
            .next()
            .filter(|m| MEASUREMENTS.contains(m))
        else {
            continue;
        };
        let school = line
            .split_once(",school=")
            .map(|(_, rest)| rest.split([',', ' ']).next().unwrap_or(""))
            .unwrap_or("");
        *out.entry(m.to_string())
            .or_default()
            .entry(school.to_string())
            .or_default() += 1;
    }
    out
}

/// `a − b` per measurement and school (zero entries removed).
pub fn minus(a: &Points, b: &Points) -> Points {
    let mut out = a.clone();
    for (m, schools) in b {
        for (school, n) in schools {
            let e = out
                .entry(m.clone())
                .or_default()
                .entry(school.clone())
                .or_default();
            *e = e
                .checked_sub(*n)
                .expect("subtracting more points than there are");
        }
    }
    out.values_mut().for_each(|s| s.retain(|_, n| *n > 0));
    out.retain(|_, s| !s.is_empty());
    out
}

/// The segment files of a spool directory, oldest first.
pub fn spool_segments(dir: &Path) -> Vec<PathBuf> {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    segs
}

/// The last whole record of a segment file, read from its 25-byte headers
/// (magic 0xA7, payload length u32 LE, crc u32 LE, id u64 LE, time i64 LE):
/// its offset, total length and payload.
pub fn last_spool_record(segment: &Path) -> (u64, u64, Vec<u8>) {
    let bytes = std::fs::read(segment).unwrap();
    let (mut at, mut last) = (0usize, None);
    while at + 25 <= bytes.len() {
        assert_eq!(bytes[at], 0xA7, "bad magic at {}:{at}", segment.display());
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        if at + 25 + len > bytes.len() {
            break;
        }
        last = Some((at, 25 + len));
        at += 25 + len;
    }
    let (at, len) = last.unwrap_or_else(|| panic!("no whole record in {}", segment.display()));
    let payload = bytes[at + 25..at + len].to_vec();
    (at as u64, len as u64, payload)
}
