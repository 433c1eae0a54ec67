//! Retention and downsampling on a real InfluxDB 1.x with continuous queries
//! enabled: `deploy/influxdb/influxdb1-setup.iql` applied statement by
//! statement over HTTP `/query`; its retention policies and continuous
//! queries checked; ~26-50 h of 10-second router samples (with a counter
//! restart), probes, optics, system, clients and an outage written to `raw`;
//! - the CQ scheduler runs the deployed `cq_interface_5m` SELECT (re-created
//!   with `RESAMPLE EVERY 1s` so the test need not wait for a 5-minute
//!   boundary) and its points match the rule computed here;
//! - every deployed CQ's SELECT … INTO, verbatim with a `WHERE time` range
//!   added (the README's backfill procedure), fills `rollup_5m`, then
//!   `rollup_1h`; the points match values computed here independently;
//! - `schoolnet query` picks `rollup_5m` for daily intervals and `rollup_1h`
//!   for a range starting 400 days ago, says so, and its numbers match.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use testkit::InfluxDb1;

const DB: &str = "schoolnet";
const STEP: i64 = 10;
const M5: i64 = 300;
const H1: i64 = 3600;
const DAY: i64 = 86_400;
const NS: i64 = 1_000_000_000;
const SETUP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/influxdb/influxdb1-setup.iql"
);

/// The file's statements: `--` comment lines dropped, split at `;`.
fn setup_statements() -> Vec<String> {
    let text = std::fs::read_to_string(SETUP).unwrap();
    let body: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect();
    body.join("\n")
        .split(';')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// (name, SELECT … INTO … text) of every continuous query in the file.
fn continuous_queries() -> Vec<(String, String)> {
    setup_statements()
        .iter()
        .filter(|s| s.starts_with("CREATE CONTINUOUS QUERY"))
        .map(|s| {
            let name = s.split('"').nth(1).unwrap().to_string();
            let select = &s[s.find(" BEGIN ").unwrap() + 7..s.rfind(" END").unwrap()];
            (name, select.trim().to_string())
        })
        .collect()
}

/// The CQ's SELECT with `WHERE time >= from AND time < to` (seconds).
fn bounded(select: &str, from: i64, to: i64) -> String {
    assert_eq!(select.matches(" GROUP BY time(").count(), 1, "{select}");
    select.replace(
        " GROUP BY time(",
        &format!(
            " WHERE time >= {} AND time < {} GROUP BY time(",
            from * NS,
            to * NS
        ),
    )
}

/// Deterministic samples (time, counter, bit/s) every 10 s in `[start, end)`;
/// the counter restarts from 0 at `reset`.
fn traffic(peak: f64, seed: u64, start: i64, end: i64, reset: Option<i64>) -> Vec<(i64, i64, f64)> {
    let mut state = seed;
    let mut out = Vec::new();
    let mut counter = 123_456_789_i64;
    let mut t = start;
    while t < end {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let bps = (peak * (0.05 + 0.95 * ((state >> 11) as f64 / (1u64 << 53) as f64))).round();
        counter += (bps * STEP as f64 / 8.0) as i64;
        if reset.is_some_and(|r| t == r) {
            counter = 0;
        }
        out.push((t, counter, bps));
        t += STEP;
    }
    out
}

/// One rollup bucket: counter increase (if any), mean and max of the rates.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    delta: Option<i64>,
    mean: f64,
    max: f64,
}

/// The deployed 5-minute rule over the backfill window: per bucket the last
/// counter minus the previous bucket's last (none for the first bucket or a
/// decrease), mean and max of the rates.
fn rollup_5m(samples: &[(i64, i64, f64)]) -> BTreeMap<i64, Bucket> {
    let mut by: BTreeMap<i64, Vec<&(i64, i64, f64)>> = BTreeMap::new();
    for s in samples {
        by.entry(s.0.div_euclid(M5) * M5).or_default().push(s);
    }
    let mut out = BTreeMap::new();
    let mut prev_last: Option<i64> = None;
    for (b, v) in by {
        let last = v.last().unwrap().1;
        let delta = prev_last.map(|p| last - p).filter(|d| *d >= 0);
        prev_last = Some(last);
        let rates: Vec<f64> = v.iter().map(|s| s.2).collect();
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        out.insert(
            b,
            Bucket {
                delta,
                mean,
                max: rates.iter().cloned().fold(f64::MIN, f64::max),
            },
        );
    }
    out
}

/// The deployed hourly rule: sums of the 5-minute deltas, mean of the means, max of the maxima.
fn rollup_1h(five: &BTreeMap<i64, Bucket>) -> BTreeMap<i64, Bucket> {
    let mut by: BTreeMap<i64, Vec<&Bucket>> = BTreeMap::new();
    for (b, v) in five {
        by.entry(b.div_euclid(H1) * H1).or_default().push(v);
    }
    by.into_iter()
        .map(|(h, v)| {
            let deltas: Vec<i64> = v.iter().filter_map(|b| b.delta).collect();
            let bucket = Bucket {
                delta: (!deltas.is_empty()).then(|| deltas.iter().sum()),
                mean: v.iter().map(|b| b.mean).sum::<f64>() / v.len() as f64,
                max: v.iter().map(|b| b.max).fold(f64::MIN, f64::max),
            };
            (h, bucket)
        })
        .collect()
}

fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = (v.len() as f64 * p / 100.0 + 0.5).floor() as usize;
    (rank > 0).then(|| v[rank - 1])
}

#[track_caller]
fn close(actual: &Value, want: f64, what: &str) {
    let a = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {actual} is not a number"));
    assert!(
        (a - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{what}: {a} != {want}"
    );
}

/// An interval of `schoolnet query` against the buckets starting in `[a, b)`.
#[track_caller]
fn check(iv: &Value, buckets: &BTreeMap<i64, Bucket>, a: i64, b: i64, what: &str) {
    let inside: Vec<&Bucket> = buckets.range(a..b).map(|(_, v)| v).collect();
    if inside.is_empty() {
        assert!(
            iv["rx_bytes"].is_null() && iv["rx_bps_mean"].is_null(),
            "{what}: {iv}"
        );
        return;
    }
    let deltas: Vec<i64> = inside.iter().filter_map(|b| b.delta).collect();
    let want = (!deltas.is_empty()).then(|| deltas.iter().sum::<i64>() as u64);
    assert_eq!(iv["rx_bytes"].as_u64(), want, "{what} rx_bytes");
    let means: Vec<f64> = inside.iter().map(|b| b.mean).collect();
    assert_eq!(
        iv["samples"].as_u64(),
        Some(means.len() as u64),
        "{what} samples"
    );
    close(
        &iv["rx_bps_mean"],
        means.iter().sum::<f64>() / means.len() as f64,
        &format!("{what} mean"),
    );
    close(
        &iv["rx_bps_max"],
        inside.iter().map(|b| b.max).fold(f64::MIN, f64::max),
        &format!("{what} max"),
    );
    close(
        &iv["rx_bps_p"],
        percentile(&means, 95.0).unwrap(),
        &format!("{what} p95"),
    );
}

/// The rows of a one-series answer: column name → values.
fn column(body: &Value, name: &str) -> Vec<Value> {
    let series = &body["results"][0]["series"][0];
    let Some(i) = series["columns"]
        .as_array()
        .and_then(|c| c.iter().position(|c| c == name))
    else {
        return Vec::new();
    };
    series["values"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r[i].clone())
        .collect()
}

/// `YYYY-MM-DD` of a Unix time.
fn utc_day(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

fn query_json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_schoolnet"))
        .arg("query")
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("SCHOOLNET_INFLUX_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "schoolnet query {args:?}: {err}");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn deployed_rollups_are_produced_and_used_by_query() {
    let influx = InfluxDb1::builder().continuous_queries(true).start().await;
    for statement in setup_statements() {
        influx.query("", &statement).await;
    }
    // --- What the file deploys.
    let rps = influx
        .query(DB, "SHOW RETENTION POLICIES ON \"schoolnet\"")
        .await;
    let names = column(&rps, "name");
    let durations = column(&rps, "duration");
    let defaults = column(&rps, "default");
    for (rp, duration, default) in [
        ("raw", "720h0m0s", true),
        ("rollup_5m", "9480h0m0s", false),
        ("rollup_1h", "43800h0m0s", false),
    ] {
        let i = names
            .iter()
            .position(|n| n == rp)
            .unwrap_or_else(|| panic!("{rp} missing: {rps}"));
        assert_eq!(
            (durations[i].as_str(), defaults[i].as_bool()),
            (Some(duration), Some(default)),
            "{rp}"
        );
    }
    let cqs = continuous_queries();
    assert_eq!(cqs.len(), 11);
    let shown = influx
        .query("", "SHOW CONTINUOUS QUERIES")
        .await
        .to_string();
    for (name, _) in &cqs {
        assert!(
            shown.contains(&format!("\"{name}\"")) || shown.contains(name.as_str()),
            "{name} not created: {shown}"
        );
    }
    let cq = |name: &str| cqs.iter().find(|c| c.0 == name).unwrap().1.clone();

    // --- Raw data: yesterday from 22:00 the day before, until a minute ago.
    let now = chrono::Utc::now().timestamp();
    let d1 = (now / DAY - 1) * DAY;
    let start = d1 - 2 * H1;
    let end = now - 60;
    let nx001 = traffic(8e6, 11, start, end, Some(d1 + 10 * H1 + 180));
    let nx037 = traffic(20e6, 12, start, end, None);
    let lan = traffic(90e6, 13, start, end, None);
    let mut lines = Vec::new();
    for (school, district, iface, samples) in [
        ("NX-001", "Babek", "wan", &nx001),
        ("NX-037", "Julfa", "wan", &nx037),
        ("NX-001", "Babek", "lan", &lan),
    ] {
        for (t, c, bps) in samples.iter() {
            lines.push(format!(
                "interface,device=rtr-{},district={district},interface={iface},role=router,school={school} \
                 rx_bytes={c}i,tx_bytes={}i,rx_bps={bps},tx_bps={},utilization={} {}",
                school.to_lowercase(),
                c / 10,
                bps / 10.0,
                bps / 100e6,
                t * NS
            ));
        }
    }
    let mut loss = Vec::new();
    for (k, t) in (start..end).step_by(60).enumerate() {
        let l = if k % 7 == 0 { 0.05 } else { 0.0 };
        loss.push((t, l));
        lines.push(format!("probe,device=rtr-nx-001,district=Babek,school=NX-001,target=1.1.1.1 rtt_s=0.02,loss_ratio={l},jitter_s=0.001 {}", t * NS));
    }
    let t_opt = d1 + 3 * H1 + 17;
    lines.push(format!("optical,device=ont-nx-001,district=Babek,role=ont,school=NX-001 rx_dbm=-19.5,tx_dbm=2.1 {}", t_opt * NS));
    lines.push(format!("system,device=rtr-nx-001,district=Babek,role=router,school=NX-001 cpu_ratio=0.25,mem_used_bytes=5e7 {}", t_opt * NS));
    lines.push(format!(
        "clients,device=rtr-nx-001,district=Babek,school=NX-001 wifi_clients=31,dhcp_leases=40 {}",
        t_opt * NS
    ));
    let outage_ns = (d1 + 5 * H1) * NS + 123_456_789;
    let outage = |open: bool, d: f64| {
        format!("outage,cause=stale,district=Babek,school=NX-001 duration_s={d},open={open},started_at={} {outage_ns}", outage_ns as f64 / 1e9)
    };
    lines.push(outage(true, 1.0));
    for chunk in lines.chunks(5000) {
        influx.write(DB, &chunk.join("\n")).await;
    }
    influx.write(DB, &outage(false, 600.0)).await; // the close point replaces the open one

    // --- The scheduler runs the deployed 5-minute SELECT.
    let fast = format!(
        "CREATE CONTINUOUS QUERY \"test_fast_5m\" ON \"schoolnet\" RESAMPLE EVERY 1s FOR 30m BEGIN {} END",
        cq("cq_interface_5m")
    );
    influx.query("", &fast).await;
    let mut written = 0;
    for _ in 0..60 {
        written = influx
            .count(
                DB,
                "SELECT count(\"rx_bps_mean\") FROM \"rollup_5m\".\"interface\"",
            )
            .await;
        if written > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        written > 0,
        "the continuous query never ran: {}",
        influx.log_tail()
    );
    let expected_5m = rollup_5m(&nx037);
    let last_full = (end / M5 - 1) * M5; // a complete bucket, not the window's first
    let body = influx
        .query(DB, &format!("SELECT \"rx_bytes_delta\", \"rx_bps_mean\" FROM \"rollup_5m\".\"interface\" WHERE \"school\" = 'NX-037' AND time = {}", last_full * NS))
        .await;
    assert_eq!(
        column(&body, "rx_bytes_delta")[0].as_i64(),
        expected_5m[&last_full].delta,
        "{body}"
    );
    close(
        &column(&body, "rx_bps_mean")[0],
        expected_5m[&last_full].mean,
        "scheduled bucket mean",
    );
    influx
        .query(
            "",
            "DROP CONTINUOUS QUERY \"test_fast_5m\" ON \"schoolnet\"",
        )
        .await;

    // --- Backfill with every deployed SELECT … INTO, 5-minute ones first.
    let (b5, e5) = (start.div_euclid(M5) * M5, (now / M5 + 1) * M5);
    let (bh, eh) = (start.div_euclid(H1) * H1, (now / H1 + 1) * H1);
    for (name, select) in cqs.iter().filter(|c| c.0.ends_with("_5m")) {
        influx
            .try_query(DB, &bounded(select, b5, e5))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
    for (name, select) in cqs.iter().filter(|c| !c.0.ends_with("_5m")) {
        let (from, to) = if name == "cq_outage_copy" {
            (now - 31 * DAY, now + H1)
        } else {
            (bh, eh)
        };
        influx
            .try_query(DB, &bounded(select, from, to))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
    let five_001 = rollup_5m(&nx001);
    let hour_001 = rollup_1h(&five_001);
    let reset_bucket = (d1 + 10 * H1 + 180) / M5 * M5;
    assert_eq!(
        five_001[&reset_bucket].delta, None,
        "the restart's bucket has no increase"
    );
    // Without a restart, the 5-minute increases add up to the counter's
    // growth from the end of the first bucket to the last sample.
    let first_last = nx037.iter().rfind(|s| s.0 < b5 + M5).unwrap().1;
    let sum: i64 = expected_5m.values().filter_map(|b| b.delta).sum();
    assert_eq!(sum, nx037.last().unwrap().1 - first_last);

    // Every measurement has its rollups.
    for (m, field, want) in [
        ("optical", "rx_dbm_mean", -19.5),
        ("system", "cpu_ratio_mean", 0.25),
        ("clients", "wifi_clients_max", 31.0),
    ] {
        for rp in ["rollup_5m", "rollup_1h"] {
            let body = influx
                .query(DB, &format!("SELECT \"{field}\" FROM \"{rp}\".\"{m}\""))
                .await;
            let values: Vec<Option<f64>> = column(&body, field).iter().map(Value::as_f64).collect();
            assert_eq!(values, vec![Some(want)], "{rp}.{m}: {body}");
        }
    }
    let body = influx.query(DB, "SELECT \"duration_s\", \"open\", \"started_at\", \"school\", \"cause\" FROM \"rollup_1h\".\"outage\"").await;
    assert_eq!(
        column(&body, "time"),
        vec![serde_json::json!(outage_ns / NS * NS)],
        "{body}"
    );
    close(&column(&body, "duration_s")[0], 600.0, "duration_s");
    assert_eq!(column(&body, "open"), vec![serde_json::json!(false)]);
    close(
        &column(&body, "started_at")[0],
        outage_ns as f64 / 1e9,
        "started_at",
    );
    assert_eq!(column(&body, "cause"), vec![serde_json::json!("stale")]);

    // --- availability reads the five-year copy for what raw no longer has:
    // an outage 45 days ago exists only in rollup_1h (raw keeps 30 days),
    // yesterday's is in both and counts once.
    let old_ns = (d1 - 45 * DAY + 3 * H1) * NS;
    influx
        .write_rp(
            DB,
            "rollup_1h",
            &format!("outage,cause=lwt_offline,district=Babek,school=NX-001 duration_s=3600,open=false,started_at={} {old_ns}", old_ns / NS),
        )
        .await;
    let out = Command::new(env!("CARGO_BIN_EXE_schoolnet"))
        .args([
            "availability",
            "--from",
            &utc_day(d1 - 50 * DAY),
            "--to",
            &utc_day(d1 + DAY),
        ])
        .args([
            "--district",
            "Babek",
            "--format",
            "json",
            "--influx-api",
            "v1",
        ])
        .args(["--influx-url", influx.url.as_str(), "--influx-db", DB])
        .env_remove("RUST_LOG")
        .env_remove("SCHOOLNET_INFLUX_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let nx001 = report["schools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["school"] == "NX-001")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(nx001["outages"], 2, "{nx001}");
    close(
        &nx001["downtime_s"],
        3600.0 + 600.0,
        "downtime from raw and the copy",
    );
    close(
        &nx001["downtime_by_cause_s"]["lwt_offline"],
        3600.0,
        "the old outage's cause",
    );

    // --- schoolnet query: daily intervals → rollup_5m.
    let conn = [
        "--influx-url",
        influx.url.as_str(),
        "--influx-api",
        "v1",
        "--influx-db",
        DB,
        "--format",
        "json",
    ];
    let day = utc_day;
    let from = day(d1);
    let doc = query_json(
        &[
            &[
                "bandwidth",
                "--school",
                "NX-001",
                "--from",
                &from,
                "--every",
                "1d",
            ][..],
            &conn,
        ]
        .concat(),
    );
    assert_eq!(doc["source"]["name"], "rollup_5m", "{doc}");
    assert_eq!(doc["source"]["rate_samples"], "the 5-minute mean rates");
    let iv = doc["schools"][0]["intervals"].as_array().unwrap();
    assert_eq!(iv.len(), 2);
    check(&iv[0], &five_001, d1, d1 + DAY, "rollup_5m yesterday");
    check(&iv[1], &five_001, d1 + DAY, e5 + M5, "rollup_5m today");
    check(
        &doc["schools"][0]["total"],
        &five_001,
        d1,
        e5 + M5,
        "rollup_5m total",
    );

    // --- A range starting 400 days ago → rollup_1h.
    let old = day(d1 - 400 * DAY);
    let doc = query_json(
        &[
            &[
                "bandwidth",
                "--school",
                "NX-001",
                "--from",
                &old,
                "--every",
                "1d",
            ][..],
            &conn,
        ]
        .concat(),
    );
    assert_eq!(doc["source"]["name"], "rollup_1h", "{doc}");
    assert!(
        doc["source"]["why"]
            .as_str()
            .unwrap()
            .contains("rollup_5m keeps 395 days"),
        "{doc}"
    );
    let iv = doc["schools"][0]["intervals"].as_array().unwrap();
    assert_eq!(iv.len(), 402);
    check(
        &iv[399],
        &hour_001,
        d1 - DAY,
        d1,
        "rollup_1h the day before",
    );
    check(&iv[400], &hour_001, d1, d1 + DAY, "rollup_1h yesterday");
    check(&iv[401], &hour_001, d1 + DAY, eh + H1, "rollup_1h today");
    assert!(iv[0]["rx_bytes"].is_null());

    // --- top from the rollups: volume and probe loss.
    let top = query_json(
        &[
            &[
                "top", "--by", "volume", "-n", "2", "--from", &from, "--source", "5m",
            ][..],
            &conn,
        ]
        .concat(),
    );
    assert_eq!(top["source"]["name"], "rollup_5m");
    assert_eq!(top["rows"][0]["school"], "NX-037");
    let want: i64 = expected_5m.range(d1..).filter_map(|(_, b)| b.delta).sum();
    assert_eq!(top["rows"][0]["rx_bytes"].as_i64(), Some(want));
    let top = query_json(
        &[
            &["top", "--by", "loss", "--from", &from, "--source", "5m"][..],
            &conn,
        ]
        .concat(),
    );
    let mut by: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (t, l) in loss.iter().filter(|(t, _)| *t >= d1) {
        by.entry(t / M5 * M5).or_default().push(*l);
    }
    let means: Vec<f64> = by
        .values()
        .map(|v| v.iter().sum::<f64>() / v.len() as f64)
        .collect();
    close(
        &top["rows"][0]["mean"],
        means.iter().sum::<f64>() / means.len() as f64,
        "loss from rollup_5m",
    );
}
