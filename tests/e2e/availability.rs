//! `schoolnet availability` against a real InfluxDB 1.x: outage points
//! written exactly as the exporter writes them (`encode_outage`), the binary
//! run with each output format, and the numbers compared with values worked
//! out by hand below. Also: an InfluxDB error, an unreachable InfluxDB, an
//! unknown district, and the `--config` path with its own inventory.

use std::process::{Command, Output};
use std::sync::Arc;

use collector::inventory::{Inventory, School};
use collector::line_protocol::encode_outage;
use collector::sample::OutageRecord;
use serde_json::Value;
use testkit::{free_port, InfluxDb1};

const H: f64 = 3600.0;
const DAY: f64 = 86_400.0;
/// 2026-01-01T00:00:00Z; the window is January 2026.
const T0: f64 = 1_767_225_600.0;
const WINDOW: f64 = 31.0 * DAY;
const T1: f64 = T0 + WINDOW;

fn schoolnet(args: &[&str]) -> Output {
    schoolnet_with_token(args, None)
}

fn schoolnet_with_token(args: &[&str], token: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_schoolnet"));
    cmd.arg("availability")
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("SCHOOLNET_INFLUX_TOKEN");
    if let Some(t) = token {
        cmd.env("SCHOOLNET_INFLUX_TOKEN", t);
    }
    cmd.output().expect("run schoolnet")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "schoolnet availability failed ({}):\n{}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

/// One line of line protocol, as the exporter's outage tracker writes it.
fn line(
    school: &Arc<School>,
    cause: &'static str,
    start_s: f64,
    duration_s: f64,
    open: bool,
) -> String {
    let record = OutageRecord {
        school: school.clone(),
        cause,
        started_ns: (start_s * 1e9) as i64,
        outage_started_ns: (start_s * 1e9) as i64,
        duration_s,
        open,
    };
    let mut out = Vec::new();
    assert!(encode_outage(&record, &mut out));
    String::from_utf8(out).unwrap()
}

fn close_to(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-6)
}

#[track_caller]
fn assert_num(doc: &Value, pointer: &str, expected: f64) {
    let actual = doc.pointer(pointer).unwrap_or(&Value::Null);
    assert!(
        close_to(actual, expected),
        "{pointer}: {actual} != {expected}"
    );
}

fn school_index(doc: &Value, id: &str) -> usize {
    doc["schools"]
        .as_array()
        .unwrap()
        .iter()
        .position(|s| s["school"] == id)
        .unwrap_or_else(|| panic!("{id} missing from the report"))
}

/// Writes the January scenario (see the comments) into `db`.
async fn write_scenario(influx: &InfluxDb1, db: &str, inv: &Inventory) {
    let s = |id: &str| inv.school(id).unwrap().clone();
    let mut lines = String::new();
    // NX-001 (Babek): from 2 h before the window for 3 h (1 h inside), and
    // two overlapping outages on Jan 10 10:00–10:30 and 10:15–10:45.
    lines += &line(&s("NX-001"), "stale", T0 - 2.0 * H, 3.0 * H, false);
    lines += &line(
        &s("NX-001"),
        "link_down",
        T0 + 9.0 * DAY + 10.0 * H,
        0.5 * H,
        false,
    );
    lines += &line(
        &s("NX-001"),
        "stale",
        T0 + 9.0 * DAY + 10.25 * H,
        0.5 * H,
        false,
    );
    // NX-002 (Babek): the open point, then its close point (same series and
    // time) overwrites it: one outage of 2 h.
    lines += &line(&s("NX-002"), "lwt_offline", T0 + 14.0 * DAY, 0.5, true);
    influx.write(db, &lines).await;
    let mut lines = line(&s("NX-002"), "lwt_offline", T0 + 14.0 * DAY, 2.0 * H, false);
    // NX-037 (Julfa): open since Jan 31 20:00: down until the window's end.
    lines += &line(&s("NX-037"), "upstream_down", T1 - 4.0 * H, 1.0, true);
    // NX-038 (Julfa): Jan 31 23:00 for 3 h: 1 h inside, restored in February.
    lines += &line(&s("NX-038"), "stale", T1 - H, 3.0 * H, false);
    // NX-039 (Julfa): in December and in February only: nothing inside.
    lines += &line(&s("NX-039"), "stale", T0 - 10.0 * DAY, H, false);
    lines += &line(&s("NX-039"), "stale", T1 + 4.0 * DAY, H, false);
    // NX-040 (Julfa): never closed (schoolnet stopped), then a later outage:
    // the first ends where the second starts.
    lines += &line(&s("NX-040"), "lwt_offline", T0 + 4.0 * DAY, 2.0, true);
    lines += &line(&s("NX-040"), "stale", T0 + 5.0 * DAY, 600.0, false);
    // Not in the inventory: named in a note, not counted.
    let ghost = Arc::new(School {
        id: "ZZ-999".into(),
        ..(**inv.schools().first().unwrap()).clone()
    });
    lines += &line(&ghost, "stale", T0 + DAY, H, false);
    influx.write(db, &lines).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn monthly_report_matches_hand_computed_numbers_in_every_format() {
    let influx = InfluxDb1::start().await;
    influx.create_database("schoolnet").await;
    let inv = simulator::sample_inventory().unwrap();
    write_scenario(&influx, "schoolnet", &inv).await;
    let source = [
        "--influx-url",
        &influx.url,
        "--influx-api",
        "v1",
        "--influx-db",
        "schoolnet",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        source.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let run = |extra: &[&str]| {
        let args = with(extra);
        ok(schoolnet(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        ))
    };

    // --- JSON: every number.
    let out = run(&[
        "--from",
        "2026-01-01",
        "--to",
        "2026-02-01",
        "--format",
        "json",
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert!(
        stderr(&out).contains("built-in sample inventory"),
        "{}",
        stderr(&out)
    );
    assert_num(&doc, "/window/seconds", WINDOW);
    assert_num(&doc, "/window/from_unix_s", T0);
    assert_eq!(doc["window"]["to"], "2026-02-01T00:00:00Z");
    assert_eq!(doc["schools"].as_array().unwrap().len(), 216);
    assert_eq!(doc["unknown_schools"], serde_json::json!(["ZZ-999"]));

    struct Expected {
        id: &'static str,
        downtime: f64,
        outages: u64,
        restored: u64,
        mttr: Option<f64>,
        down_at_end: bool,
    }
    let e = |id, downtime, outages, restored, mttr, down_at_end| Expected {
        id,
        downtime,
        outages,
        restored,
        mttr,
        down_at_end,
    };
    let expected = [
        e(
            "NX-001",
            H + 0.75 * H,
            3,
            3,
            Some((3.0 * H + 0.5 * H + 0.5 * H) / 3.0),
            false,
        ),
        e("NX-002", 2.0 * H, 1, 1, Some(2.0 * H), false),
        e("NX-037", 4.0 * H, 1, 0, None, true),
        e("NX-038", H, 1, 0, None, true),
        e("NX-039", 0.0, 0, 0, None, false),
        e("NX-040", DAY + 600.0, 2, 1, Some(600.0), false),
    ];
    for Expected {
        id,
        downtime,
        outages,
        restored,
        mttr,
        down_at_end: down,
    } in expected
    {
        let p = format!("/schools/{}", school_index(&doc, id));
        assert_num(&doc, &format!("{p}/downtime_s"), downtime);
        assert_num(&doc, &format!("{p}/availability"), 1.0 - downtime / WINDOW);
        assert_eq!(
            doc.pointer(&format!("{p}/outages")).unwrap(),
            outages,
            "{id}"
        );
        assert_eq!(
            doc.pointer(&format!("{p}/restored")).unwrap(),
            restored,
            "{id}"
        );
        match mttr {
            Some(m) => assert_num(&doc, &format!("{p}/mttr_s"), m),
            None => assert!(
                doc.pointer(&format!("{p}/mttr_s")).unwrap().is_null(),
                "{id}"
            ),
        }
        assert_eq!(
            doc.pointer(&format!("{p}/down_at_end")).unwrap(),
            down,
            "{id}"
        );
    }
    let nx001 = school_index(&doc, "NX-001");
    assert_num(
        &doc,
        &format!("/schools/{nx001}/downtime_by_cause_s/stale"),
        H + 0.5 * H,
    );
    assert_num(
        &doc,
        &format!("/schools/{nx001}/downtime_by_cause_s/link_down"),
        0.5 * H,
    );
    // A school without outages: 100 %.
    let nx100 = school_index(&doc, "NX-100");
    assert_eq!(doc["schools"][nx100]["availability"], 1.0);
    // Sorted by district (inventory order), then inventory order.
    let ids: Vec<&str> = doc["schools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["school"].as_str().unwrap())
        .collect();
    let inventory_order: Vec<&str> = inv.schools().iter().map(|s| &*s.id).collect();
    assert_eq!(
        ids, inventory_order,
        "the sample inventory is already grouped by district"
    );

    let babek_down = 1.75 * H + 2.0 * H;
    let julfa_down = 4.0 * H + H + DAY + 600.0;
    let district = |name: &str| {
        doc["districts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .unwrap()
            .clone()
    };
    let babek = district("Babek");
    assert_eq!(
        (babek["schools"].as_u64(), babek["outages"].as_u64()),
        (Some(36), Some(4))
    );
    assert!(close_to(&babek["downtime_s"], babek_down));
    assert!(close_to(
        &babek["mean_availability"],
        1.0 - babek_down / (36.0 * WINDOW)
    ));
    assert!(close_to(&babek["min_availability"], 1.0 - 2.0 * H / WINDOW));
    assert_eq!(babek["min_school"], "NX-002");
    let julfa = district("Julfa");
    assert_eq!(
        (julfa["schools"].as_u64(), julfa["outages"].as_u64()),
        (Some(22), Some(4))
    );
    assert!(close_to(&julfa["downtime_s"], julfa_down));
    assert_eq!(julfa["min_school"], "NX-040");
    assert_eq!(julfa["down_at_end"], 2);
    let sharur = district("Sharur");
    assert_eq!(
        (
            sharur["outages"].as_u64(),
            sharur["mean_availability"].as_f64()
        ),
        (Some(0), Some(1.0))
    );
    let total = &doc["total"];
    assert_eq!(
        (total["schools"].as_u64(), total["outages"].as_u64()),
        (Some(216), Some(8))
    );
    assert_eq!(total["restored"], 5);
    assert!(close_to(&total["downtime_s"], babek_down + julfa_down));
    assert!(close_to(
        &total["mean_availability"],
        1.0 - (babek_down + julfa_down) / (216.0 * WINDOW)
    ));
    assert!(close_to(
        &total["mttr_s"],
        (3.0 * H + 0.5 * H + 0.5 * H + 2.0 * H + 600.0) / 5.0
    ));

    // --month is the same window.
    let month = run(&["--month", "2026-01", "--format", "json"]);
    let month_doc: Value = serde_json::from_slice(&month.stdout).unwrap();
    assert_eq!(month_doc["total"], doc["total"]);

    // --- CSV: header and exact rows.
    let out = run(&[
        "--month",
        "2026-01",
        "--format",
        "csv",
        "--district",
        "julfa",
    ]);
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "school",
            "name",
            "district",
            "availability",
            "downtime_s",
            "outages",
            "restored",
            "mttr_s",
            "down_at_end",
            "window_s"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 22, "only Julfa's schools");
    let nx040 = rows.iter().find(|r| &r[0] == "NX-040").unwrap();
    assert_eq!(&nx040[2], "Julfa");
    let num = |s: &str| s.parse::<f64>().unwrap();
    assert!((num(&nx040[3]) - (1.0 - (DAY + 600.0) / WINDOW)).abs() < 1e-9);
    assert!((num(&nx040[4]) - (DAY + 600.0)).abs() < 1e-6);
    assert_eq!(
        (&nx040[5], &nx040[6], &nx040[7], &nx040[8]),
        ("2", "1", "600", "false")
    );
    assert_eq!(num(&nx040[9]), WINDOW);
    let nx037 = rows.iter().find(|r| &r[0] == "NX-037").unwrap();
    assert_eq!((&nx037[7], &nx037[8]), ("", "true"));

    // --- Table: readable and aligned.
    let out = run(&["--month", "2026-01"]);
    let table = stdout(&out);
    assert!(
        table.starts_with(
            "Availability 2026-01-01 00:00:00 UTC → 2026-02-01 00:00:00 UTC (31d), 216 schools"
        ),
        "{table}"
    );
    assert!(table.contains("note: no config:"), "{table}");
    assert!(
        table.contains("not in the inventory are not counted: ZZ-999"),
        "{table}"
    );
    let row = table.lines().find(|l| l.starts_with("NX-001")).unwrap();
    assert!(
        row.contains("99.764 %") && row.contains("1h 45m") && row.contains("1h 20m"),
        "{row}"
    );
    let row = table.lines().find(|l| l.starts_with("NX-100")).unwrap();
    assert!(row.contains("100.000 %"), "{row}");
    let header = table.lines().find(|l| l.starts_with("SCHOOL")).unwrap();
    let col = header.find("AVAILABILITY").unwrap() + "AVAILABILITY".len();
    for l in table.lines().filter(|l| l.starts_with("NX-")) {
        assert_eq!(l.chars().nth(col - 1), Some('%'), "misaligned: {l}");
    }
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("total") && l.contains("216")),
        "{table}"
    );

    // --- Errors that InfluxDB reports are shown.
    let mut args = with(&["--month", "2026-01"]);
    args[5] = "nope".into();
    let out = schoolnet(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("database not found: nope"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(&influx.url), "{}", stderr(&out));

    // --- An unknown district lists the known ones.
    let out = schoolnet(
        &with(&["--month", "2026-01", "--district", "Atlantis"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("known districts: Babek, Julfa"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unreachable_influxdb_is_a_clear_error_naming_the_url() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = schoolnet(&[
        "--influx-url",
        &url,
        "--influx-api",
        "v1",
        "--month",
        "2026-01",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot reach InfluxDB at {url}")),
        "{err}"
    );
    assert!(
        err.contains("refused"),
        "the underlying error is shown: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn from_after_to_is_an_error() {
    let out = schoolnet(&[
        "--influx-url",
        "http://127.0.0.1:1",
        "--from",
        "2026-02-01",
        "--to",
        "2026-01-01",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not before --to"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_config_its_influx_section_and_inventory_are_used() {
    let influx = InfluxDb1::start().await;
    influx.create_database("history").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("schools.csv"),
        "school_id,name,district,lat,lon,uplink_mbps\n\
         S-1,First School,North,39,45,100\nS-2,Second School,South,39,45,100\nS-3,Third School,North,39,45,100\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("devices.csv"),
        "device_id,school_id,role,expected_interval_s,parent\nr1,S-1,router,10,\n",
    )
    .unwrap();
    let config = dir.path().join("schoolnet.toml");
    std::fs::write(
        &config,
        format!(
            "[inventory]\nschools = \"schools.csv\"\ndevices = \"devices.csv\"\n\n\
             [influx]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"history\"\n",
            influx.url
        ),
    )
    .unwrap();
    let inv = Inventory::load(
        &dir.path().join("schools.csv"),
        &dir.path().join("devices.csv"),
    )
    .unwrap();
    let s2 = inv.school("S-2").unwrap();
    influx
        .write("history", &line(s2, "stale", T0 + DAY, 6.0 * H, false))
        .await;

    let out = ok(schoolnet(&[
        "--config",
        config.to_str().unwrap(),
        "--month",
        "2026-01",
        "--format",
        "json",
    ]));
    assert!(
        !stderr(&out).contains("sample inventory"),
        "{}",
        stderr(&out)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = doc["schools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["school"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["S-1", "S-3", "S-2"],
        "by district, then inventory order"
    );
    assert_eq!(doc["schools"][0]["availability"], 1.0);
    assert_num(&doc, "/schools/2/downtime_s", 6.0 * H);
    assert_num(&doc, "/total/min_availability", 1.0 - 6.0 * H / WINDOW);
    assert_eq!(doc["database"], "history");
}

#[tokio::test(flavor = "multi_thread")]
async fn v1_credentials_come_from_the_environment_and_a_refusal_is_explained() {
    let influx = InfluxDb1::builder().auth_enabled(true).start().await;
    // Allowed without credentials while no user exists.
    influx
        .query(
            "",
            "CREATE USER admin WITH PASSWORD 's3cret' WITH ALL PRIVILEGES",
        )
        .await;
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/query?q=CREATE%20DATABASE%20schoolnet",
            influx.url
        ))
        .basic_auth("admin", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
    let args = [
        "--influx-url",
        &influx.url,
        "--influx-api",
        "v1",
        "--influx-username",
        "admin",
        "--month",
        "2026-01",
        "--format",
        "json",
    ];
    let out = ok(schoolnet_with_token(&args, Some("s3cret")));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["total"]["mean_availability"], 1.0);
    assert!(
        stderr(&out).contains("no `outage` points"),
        "{}",
        stderr(&out)
    );

    let out = schoolnet_with_token(&args, Some("wrong"));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("HTTP 401") && err.contains("SCHOOLNET_INFLUX_TOKEN"),
        "{err}"
    );
    assert!(!err.contains("wrong"), "the secret is never printed: {err}");
}
