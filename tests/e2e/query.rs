//! `schoolnet query` against a real InfluxDB 1.x with the deployed
//! retention policies (`deploy/influxdb/influxdb1-setup.iql`): three days of
//! simulated router traffic (WAN and LAN interfaces, 30-s samples, a counter
//! restart, a gap, points just outside the range) written as line protocol
//! into `raw`; the binary's numbers compared with values computed here
//! independently by the documented rules — volume = sum of the counters'
//! non-negative increases between consecutive samples inside the range, each
//! in the interval of its later sample; pN = InfluxQL's PERCENTILE (rank
//! round(n × N / 100) of the sorted samples). Also: district totals, `top`,
//! the `--source auto` choice, a config with its own WAN interface names,
//! and the errors (unknown school or district, bad range, unreachable
//! InfluxDB).

use std::collections::BTreeMap;
use std::process::{Command, Output};

use serde_json::Value;
use testkit::{free_port, InfluxDb1, TestPki};

const STEP: i64 = 30;
const DAY: i64 = 86_400;
const DB: &str = "schoolnet";

fn schoolnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_schoolnet"))
        .arg("query")
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("SCHOOLNET_INFLUX_TOKEN")
        .output()
        .expect("run schoolnet")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok_json(args: &[&str]) -> Value {
    let out = schoolnet(args);
    assert!(
        out.status.success(),
        "schoolnet query {args:?} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn err(args: &[&str]) -> String {
    let out = schoolnet(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?}: {}",
        text(&out.stdout)
    );
    assert!(out.stdout.is_empty());
    text(&out.stderr)
}

/// One router interface's samples: (time s, rx counter, tx counter, rx bit/s, tx bit/s).
struct Iface {
    tags: String,
    school: &'static str,
    wan: bool,
    samples: Vec<(i64, i64, i64, f64, f64)>,
}

/// Deterministic traffic of up to `peak` bit/s every 30 s in `[start, end)`;
/// the counter restarts from 0 at `reset`, nothing is sent during `gap` (the
/// counter keeps counting).
#[allow(clippy::too_many_arguments)]
fn iface(
    school: &'static str,
    district: &str,
    device: &str,
    name: &str,
    peak: f64,
    seed: u64,
    (start, end): (i64, i64),
    reset: Option<i64>,
    gap: Option<(i64, i64)>,
) -> Iface {
    let mut state = seed;
    let mut rnd = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let (mut rx, mut tx) = (7_000_000_000_i64, 900_000_000_i64);
    let mut samples = Vec::new();
    let mut t = start;
    while t < end {
        let rx_bps = (peak * (0.05 + 0.95 * rnd()) * 1000.0).round() / 1000.0;
        let tx_bps = (rx_bps * (0.1 + 0.2 * rnd())).round();
        rx += (rx_bps * STEP as f64 / 8.0) as i64;
        tx += (tx_bps * STEP as f64 / 8.0) as i64;
        if reset == Some(t) {
            (rx, tx) = (0, 0);
        }
        if !gap.is_some_and(|(a, b)| t >= a && t < b) {
            samples.push((t, rx, tx, rx_bps, tx_bps));
        }
        t += STEP;
    }
    Iface {
        tags: format!(
            "device={device},district={district},interface={name},role=router,school={school}"
        ),
        school,
        wan: name == "wan",
        samples,
    }
}

fn lines(ifaces: &[Iface]) -> Vec<String> {
    let mut out = Vec::new();
    for i in ifaces {
        for (t, rx, tx, rb, tb) in &i.samples {
            out.push(format!(
                "interface,{} rx_bytes={rx}i,tx_bytes={tx}i,rx_bps={rb},tx_bps={tb},utilization={} {}",
                i.tags,
                rb / 100e6,
                t * 1_000_000_000
            ));
        }
    }
    out
}

/// InfluxQL PERCENTILE: sorted ascending, rank round(n × p / 100), 1-based.
fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = (v.len() as f64 * p / 100.0 + 0.5).floor() as usize;
    (rank > 0).then(|| v[rank - 1])
}

#[derive(Debug, Default, Clone)]
struct Expected {
    rx: u64,
    tx: u64,
    rates: Vec<f64>,
    tx_rates: Vec<f64>,
}

/// Per interval start (and the total under `i64::MIN`) for the WAN samples
/// of `school` in `[from, to)`.
fn expected(
    ifaces: &[Iface],
    school: &str,
    from: i64,
    to: i64,
    every: i64,
) -> BTreeMap<i64, Expected> {
    let mut out: BTreeMap<i64, Expected> = BTreeMap::new();
    for i in ifaces.iter().filter(|i| i.wan && i.school == school) {
        let inside: Vec<_> = i
            .samples
            .iter()
            .filter(|s| s.0 >= from && s.0 < to)
            .collect();
        for (k, s) in inside.iter().enumerate() {
            for key in [s.0.div_euclid(every) * every, i64::MIN] {
                let e = out.entry(key).or_default();
                e.rates.push(s.3);
                e.tx_rates.push(s.4);
                if k > 0 {
                    let prev = inside[k - 1];
                    e.rx += u64::try_from(s.1 - prev.1).unwrap_or(0);
                    e.tx += u64::try_from(s.2 - prev.2).unwrap_or(0);
                }
            }
        }
    }
    out
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

#[track_caller]
fn check(stats: &Value, e: &Expected, what: &str) {
    assert_eq!(stats["rx_bytes"].as_u64(), Some(e.rx), "{what} rx_bytes");
    assert_eq!(stats["tx_bytes"].as_u64(), Some(e.tx), "{what} tx_bytes");
    assert_eq!(
        stats["samples"].as_u64(),
        Some(e.rates.len() as u64),
        "{what} samples"
    );
    let mean = e.rates.iter().sum::<f64>() / e.rates.len() as f64;
    close(&stats["rx_bps_mean"], mean, &format!("{what} rx mean"));
    let max = e.rates.iter().cloned().fold(f64::MIN, f64::max);
    close(&stats["rx_bps_max"], max, &format!("{what} rx max"));
    close(
        &stats["rx_bps_p"],
        percentile(&e.rates, 95.0).unwrap(),
        &format!("{what} rx p95"),
    );
    close(
        &stats["tx_bps_p"],
        percentile(&e.tx_rates, 95.0).unwrap(),
        &format!("{what} tx p95"),
    );
}

async fn apply_setup(influx: &InfluxDb1) {
    let iql = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/influxdb/influxdb1-setup.iql"
    ))
    .unwrap();
    let body: String = iql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    for statement in body.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        influx.query("", statement).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bandwidth_and_top_match_independent_computations() {
    let influx = InfluxDb1::start().await;
    apply_setup(&influx).await;
    let now = chrono::Utc::now().timestamp();
    let d0 = (now / DAY - 5) * DAY;
    let (from, to) = (d0, d0 + 3 * DAY);
    let span = (d0 - 3600, d0 + 3 * DAY + 3600);
    let ifaces = vec![
        iface(
            "NX-001",
            "Babek",
            "rtr-nx-001",
            "wan",
            8e6,
            1,
            span,
            Some(d0 + DAY + 12 * 3600),
            None,
        ),
        iface(
            "NX-001",
            "Babek",
            "rtr-nx-001",
            "lan",
            50e6,
            2,
            span,
            None,
            None,
        ),
        iface(
            "NX-002",
            "Babek",
            "rtr-nx-002",
            "wan",
            4e6,
            3,
            span,
            None,
            Some((d0 + 2 * DAY + 3 * 3600, d0 + 2 * DAY + 6 * 3600 + 7 * STEP)),
        ),
        iface(
            "NX-002",
            "Babek",
            "rtr-nx-002",
            "lan",
            50e6,
            4,
            span,
            None,
            None,
        ),
        iface(
            "NX-037",
            "Julfa",
            "rtr-nx-037",
            "wan",
            20e6,
            5,
            span,
            None,
            None,
        ),
        iface(
            "NX-037",
            "Julfa",
            "rtr-nx-037",
            "lan",
            1e6,
            6,
            span,
            None,
            None,
        ),
    ];
    for chunk in lines(&ifaces).chunks(5000) {
        influx.write(DB, &chunk.join("\n")).await;
    }
    let probes =
        "probe,device=rtr-nx-001,district=Babek,school=NX-001,target=8.8.8.8 loss_ratio=0.02";
    let probes2 =
        "probe,device=rtr-nx-002,district=Babek,school=NX-002,target=8.8.8.8 loss_ratio=0.1";
    let t = (d0 + 3600) * 1_000_000_000;
    let probes3 = probes2.replace("0.1", "0.3");
    influx
        .write(
            DB,
            &format!(
                "{probes} {t}\n{probes2} {t}\n{probes3} {}",
                t + 1_000_000_000
            ),
        )
        .await;
    let day = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string()
    };
    let (f, tt) = (day(from), day(to));
    let conn = [
        "--influx-url",
        &influx.url,
        "--influx-api",
        "v1",
        "--influx-db",
        DB,
    ];
    let args = |extra: &[&str]| -> Vec<String> {
        extra.iter().chain(&conn).map(|s| s.to_string()).collect()
    };
    let run = |extra: &[&str]| ok_json(&args(extra).iter().map(String::as_str).collect::<Vec<_>>());

    // --- One school, daily, raw samples.
    let base = [
        "bandwidth",
        "--from",
        &f,
        "--to",
        &tt,
        "--every",
        "1d",
        "--percentile",
        "95",
        "--format",
        "json",
    ];
    let doc = run(&[&base[..], &["--school", "nx-001", "--source", "raw"]].concat());
    assert_eq!(doc["source"]["name"], "raw");
    assert_eq!(
        doc["schools"][0]["wan"],
        serde_json::json!(["rtr-nx-001/wan"])
    );
    let want = expected(&ifaces, "NX-001", from, to, DAY);
    let intervals = doc["schools"][0]["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 3);
    for (k, iv) in intervals.iter().enumerate() {
        check(
            iv,
            &want[&(d0 + k as i64 * DAY)],
            &format!("NX-001 day {k}"),
        );
    }
    check(
        &doc["schools"][0]["total"],
        &want[&i64::MIN],
        "NX-001 total",
    );
    // The restart day counts less than the sum of its rates would suggest, but
    // every increase before and after the restart is counted.
    assert!(want[&(d0 + DAY)].rx > 0);

    // --- auto: 1d intervals → rollup_5m; 30m intervals → raw, same totals.
    let auto = run(&[&base[..], &["--school", "NX-001"]].concat());
    assert_eq!(auto["source"]["name"], "rollup_5m");
    let mut b30 = base.to_vec();
    b30[6] = "30m";
    let auto = run(&[&b30[..], &["--school", "NX-001"]].concat());
    assert_eq!(auto["source"]["name"], "raw");
    assert_eq!(
        auto["schools"][0]["intervals"].as_array().unwrap().len(),
        144
    );
    check(
        &auto["schools"][0]["total"],
        &want[&i64::MIN],
        "NX-001 total by 30m",
    );

    // --- A district: per school, and the total.
    let doc = run(&[&base[..], &["--district", "babek", "--source", "raw"]].concat());
    let schools = doc["schools"].as_array().unwrap();
    assert_eq!(schools.len(), 36);
    let w2 = expected(&ifaces, "NX-002", from, to, DAY);
    check(&schools[1]["total"], &w2[&i64::MIN], "NX-002 total");
    // 2513 samples on the gap day: rank round(2387.35) = 2387, where a
    // ceil-based nearest rank would take the 2388th.
    let gap_day = &w2[&(d0 + 2 * DAY)];
    assert_eq!(gap_day.rates.len(), 2513);
    check(&schools[1]["intervals"][2], gap_day, "NX-002 gap day");
    assert!(schools[2]["total"]["rx_bytes"].is_null());
    let district = &doc["district"];
    assert_eq!(district["schools"], 36);
    assert_eq!(district["rate_bucket_s"], 300);
    for (k, iv) in district["intervals"].as_array().unwrap().iter().enumerate() {
        let key = d0 + k as i64 * DAY;
        assert_eq!(
            iv["rx_bytes"].as_u64(),
            Some(want[&key].rx + w2[&key].rx),
            "district day {k}"
        );
    }
    // Aggregate rate: per 5 minutes the sum of the schools' mean rates.
    let mut buckets: BTreeMap<i64, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    for i in ifaces.iter().filter(|i| i.wan && i.school != "NX-037") {
        for s in i.samples.iter().filter(|s| s.0 >= from && s.0 < to) {
            buckets
                .entry(s.0 / 300 * 300)
                .or_default()
                .entry(i.school)
                .or_default()
                .push(s.3);
        }
    }
    let sums: Vec<f64> = buckets
        .values()
        .map(|by| {
            by.values()
                .map(|v| v.iter().sum::<f64>() / v.len() as f64)
                .sum()
        })
        .collect();
    let total = &district["total"];
    assert_eq!(
        total["rx_bytes"].as_u64(),
        Some(want[&i64::MIN].rx + w2[&i64::MIN].rx)
    );
    assert_eq!(total["samples"].as_u64(), Some(sums.len() as u64));
    close(
        &total["rx_bps_max"],
        sums.iter().cloned().fold(f64::MIN, f64::max),
        "district max",
    );
    close(
        &total["rx_bps_p"],
        percentile(&sums, 95.0).unwrap(),
        "district p95",
    );
    close(
        &total["rx_bps_mean"],
        sums.iter().sum::<f64>() / sums.len() as f64,
        "district mean",
    );

    // --- Table and CSV: the source, humanized units, exact CSV numbers.
    let out = schoolnet(
        &args(&[
            "bandwidth",
            "--school",
            "NX-001",
            "--from",
            &f,
            "--to",
            &tt,
            "--source",
            "raw",
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    let table = text(&out.stdout);
    assert!(table.contains("source: raw (--source)"), "{table}");
    assert!(
        table.contains("1 GB = 10^9 bytes") && table.contains("Mbit/s") && table.contains(" GB"),
        "{table}"
    );
    assert!(table.contains("note: no config:"), "{table}");
    let out = schoolnet(
        &args(&[
            "bandwidth",
            "--school",
            "NX-001",
            "--from",
            &f,
            "--to",
            &tt,
            "--source",
            "raw",
            "--format",
            "csv",
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    let csv = text(&out.stdout);
    assert!(
        csv.starts_with(
            "row,school,district,start,end,rx_bytes,tx_bytes,rx_bps_mean,rx_bps_max,rx_bps_p95"
        ),
        "{csv}"
    );
    let total_row = csv.lines().find(|l| l.starts_with("total,")).unwrap();
    assert_eq!(
        total_row.split(',').nth(5),
        Some(want[&i64::MIN].rx.to_string().as_str())
    );

    // --- top: WAN only (NX-001's busy LAN must not count), ranked.
    let top = run(&[
        "top", "--by", "volume", "-n", "2", "--from", &f, "--to", &tt, "--source", "raw",
        "--format", "json",
    ]);
    let rows = top["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let w37 = expected(&ifaces, "NX-037", from, to, DAY);
    assert_eq!(rows[0]["school"], "NX-037");
    assert_eq!(
        rows[0]["total_bytes"].as_u64(),
        Some(w37[&i64::MIN].rx + w37[&i64::MIN].tx)
    );
    assert_eq!(rows[1]["school"], "NX-001");
    assert_eq!(rows[1]["rx_bytes"].as_u64(), Some(want[&i64::MIN].rx));
    let top = run(&[
        "top", "--by", "loss", "--from", &f, "--to", &tt, "--source", "raw", "--format", "json",
    ]);
    assert_eq!(top["rows"][0]["school"], "NX-002");
    close(&top["rows"][0]["mean"], 0.2, "NX-002 loss");
    let top = run(&[
        "top",
        "--by",
        "utilization",
        "-n",
        "1",
        "--from",
        &f,
        "--to",
        &tt,
        "--source",
        "raw",
        "--format",
        "json",
    ]);
    assert_eq!(top["rows"][0]["school"], "NX-037");
    let u: Vec<f64> = w37[&i64::MIN].rates.iter().map(|r| r / 100e6).collect();
    close(
        &top["rows"][0]["p"],
        percentile(&u, 95.0).unwrap(),
        "NX-037 p95 utilization",
    );

    // --- An InfluxDB error is shown with the URL.
    let e = err(&[
        "bandwidth",
        "--school",
        "NX-001",
        "--influx-url",
        &influx.url,
        "--influx-api",
        "v1",
        "--influx-db",
        "nope",
        "--last",
        "1d",
        "--every",
        "1h",
    ]);
    assert!(
        e.contains("database not found: nope") && e.contains(&influx.url),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_brings_its_inventory_and_wan_interface_names() {
    let influx = InfluxDb1::start().await;
    influx.create_database("history").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("schools.csv"),
        "school_id,name,district,lat,lon,uplink_mbps\nT-1,First,North,39,45,100\nT-2,Second,North,39,45,100\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("devices.csv"),
        "device_id,school_id,role,expected_interval_s,parent,wan_interface\ngw-1,T-1,router,10,,eth0.2\ngw-2,T-2,router,10,,\n",
    )
    .unwrap();
    let config = dir.path().join("schoolnet.toml");
    std::fs::write(
        &config,
        format!(
            "[inventory]\nschools = \"schools.csv\"\ndevices = \"devices.csv\"\n\n[influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"history\"\n",
            influx.url
        ),
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let span = (now - 7200, now - 60);
    let ifaces = vec![
        iface("T-1", "North", "gw-1", "eth0.2", 5e6, 7, span, None, None),
        // A port that happens to be called `wan` but is not T-1's WAN.
        iface("T-1", "North", "gw-1", "wan", 90e6, 8, span, None, None),
        iface("T-2", "North", "gw-2", "wan", 3e6, 9, span, None, None),
    ];
    influx.write("history", &lines(&ifaces).join("\n")).await;
    let out = schoolnet(&[
        "bandwidth",
        "--district",
        "north",
        "--last",
        "3h",
        "--every",
        "30m",
        "--format",
        "json",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("sample inventory"),
        "{}",
        text(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["source"]["name"], "raw");
    assert_eq!(doc["database"], "history");
    assert_eq!(doc["schools"][0]["wan"], serde_json::json!(["gw-1/eth0.2"]));
    let t1: u64 = ifaces[0]
        .samples
        .windows(2)
        .map(|w| (w[1].1 - w[0].1) as u64)
        .sum();
    let t2: u64 = ifaces[2]
        .samples
        .windows(2)
        .map(|w| (w[1].1 - w[0].1) as u64)
        .sum();
    assert_eq!(doc["schools"][0]["total"]["rx_bytes"].as_u64(), Some(t1));
    assert_eq!(doc["schools"][1]["total"]["rx_bytes"].as_u64(), Some(t2));
    assert_eq!(doc["district"]["total"]["rx_bytes"].as_u64(), Some(t1 + t2));
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_the_configs_private_ca() {
    let pki = TestPki::generate();
    let influx = InfluxDb1::builder()
        .tls(&pki.server_cert, &pki.server_key, &pki.ca)
        .start()
        .await;
    influx.create_database("history").await;
    let now = chrono::Utc::now().timestamp();
    let wan = iface(
        "NX-001",
        "Babek",
        "rtr-nx-001",
        "wan",
        5e6,
        3,
        (now - 1800, now - 60),
        None,
        None,
    );
    influx
        .write("history", &lines(std::slice::from_ref(&wan)).join("\n"))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = |ca: &str| {
        let path = dir.path().join("schoolnet.toml");
        let inventory = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/inventory");
        std::fs::write(
            &path,
            format!(
                "[inventory]\nschools = \"{inventory}/schools.csv\"\ndevices = \"{inventory}/devices.csv\"\n\n\
                 [influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"history\"\n{ca}",
                influx.url
            ),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    };
    let cfg = config(&format!("ca_file = \"{}\"\n", pki.ca.display()));
    let doc = ok_json(&[
        "top", "--by", "volume", "--last", "1h", "--source", "raw", "--format", "json", "--config",
        &cfg,
    ]);
    let want: u64 = wan
        .samples
        .windows(2)
        .map(|w| (w[1].1 - w[0].1) as u64)
        .sum();
    assert_eq!(doc["rows"][0]["school"], "NX-001");
    assert_eq!(doc["rows"][0]["rx_bytes"].as_u64(), Some(want));
    // Without the CA the server is not trusted: a clear error, exit 1.
    let cfg = config("");
    let e = err(&["top", "--by", "volume", "--last", "1h", "--config", &cfg]);
    assert!(
        e.contains(&format!("cannot reach InfluxDB at {}", influx.url)),
        "{e}"
    );
    assert!(e.to_lowercase().contains("certificate"), "{e}");
}

#[test]
fn unknown_names_and_bad_ranges_are_clear_errors() {
    let conn = ["--influx-url", "http://127.0.0.1:1", "--influx-api", "v1"];
    let e = err(&[&["bandwidth", "--school", "NX-42"][..], &conn].concat());
    assert!(
        e.contains("unknown school `NX-42`") && e.contains("did you mean NX-042"),
        "{e}"
    );
    let e = err(&[&["bandwidth", "--district", "Atlantis"][..], &conn].concat());
    assert!(
        e.contains("unknown district `Atlantis`; known districts: Babek, Julfa"),
        "{e}"
    );
    let e = err(&[
        &[
            "bandwidth",
            "--school",
            "NX-042",
            "--from",
            "2026-11-20",
            "--to",
            "2026-11-10",
        ][..],
        &conn,
    ]
    .concat());
    assert!(
        e.contains("bad time range") && e.contains("is not before --to"),
        "{e}"
    );
    let e = err(&[
        &["bandwidth", "--school", "NX-042", "--from", "last tuesday"][..],
        &conn,
    ]
    .concat());
    assert!(
        e.contains("--from `last tuesday`") && e.contains("YYYY-MM-DD"),
        "{e}"
    );
    let e = err(&[
        &["bandwidth", "--school", "NX-042", "--last", "3 days"][..],
        &conn,
    ]
    .concat());
    assert!(
        e.contains("--last") && e.contains("expected a duration"),
        "{e}"
    );
    let e = err(&[
        &[
            "bandwidth",
            "--school",
            "NX-042",
            "--every",
            "10s",
            "--from",
            "2020-01-01",
        ][..],
        &conn,
    ]
    .concat());
    assert!(
        e.contains("nothing is kept that long") || e.contains("beyond raw"),
        "{e}"
    );
}

#[test]
fn the_help_explains_the_flags_and_the_rules() {
    for (cmd, flags) in [
        (
            "bandwidth",
            &[
                "--school",
                "--district",
                "--every",
                "--percentile",
                "--source",
                "--last",
                "--month",
            ][..],
        ),
        (
            "top",
            &[
                "--by",
                "-n",
                "--district",
                "--source",
                "--format",
                "--config",
            ][..],
        ),
    ] {
        let out = schoolnet(&[cmd, "--help"]);
        assert!(out.status.success());
        let help = text(&out.stdout);
        for flag in flags {
            assert!(
                help.contains(flag),
                "`query {cmd} --help` lacks {flag}:\n{help}"
            );
        }
        assert!(
            help.contains("rollup_5m") && help.contains("PERCENTILE"),
            "{help}"
        );
    }
}

#[test]
fn an_unreachable_influxdb_names_the_url_and_the_cause() {
    let url = format!("http://127.0.0.1:{}", free_port());
    for cmd in [
        &["bandwidth", "--school", "NX-042"][..],
        &["top", "--by", "loss"][..],
    ] {
        let e = err(&[cmd, &["--influx-url", &url, "--influx-api", "v1"]].concat());
        assert!(
            e.contains(&format!("cannot reach InfluxDB at {url}")),
            "{e}"
        );
        assert!(e.contains("refused"), "{e}");
        assert!(!e.contains("panicked"), "{e}");
    }
}
