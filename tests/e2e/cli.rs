//! The command line as an operator meets it: help text, config validation
//! and its error messages; one `-c/--config` (or `SCHOOLNET_CONFIG`) for
//! every command that reads the config, one set of time-range flags for
//! `query` and `availability` (run against a real InfluxDB and broker).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use collector::inventory::{Inventory, School};
use collector::line_protocol::encode_outage;
use collector::sample::OutageRecord;
use serde_json::Value;
use testkit::{InfluxDb1, Mosquitto};

fn schoolnet(args: &[&str]) -> Output {
    schoolnet_env(args, &[])
}

/// The binary with only the given `SCHOOLNET_*` variables (none inherited).
fn schoolnet_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_schoolnet"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("SCHOOLNET_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run schoolnet")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_subcommand_has_help_that_explains_its_flags() {
    let expectations: &[(&str, &[&str])] = &[
        ("run", &["--config"]),
        ("demo", &["--listen", "--mqtt-listen", "--influx-url"]),
        (
            "simulate",
            &[
                "--broker",
                "--inventory",
                "--schools",
                "--rate",
                "--duration",
                "--count",
            ],
        ),
        ("run", &["-c, --config", "SCHOOLNET_CONFIG"]),
        (
            "check-config",
            &["-c, --config", "SCHOOLNET_CONFIG", "FILE"],
        ),
        (
            "availability",
            &[
                "--from",
                "--to",
                "--month",
                "--district",
                "--format",
                "--config",
                "--influx-url",
            ],
        ),
        (
            "query bandwidth",
            &[
                "--school",
                "--district",
                "--from",
                "--to",
                "--last",
                "--every",
                "--percentile",
                "--format",
                "--source",
            ],
        ),
        (
            "query top",
            &["--by", "--last", "-n", "--district", "--format"],
        ),
        ("spool status", &["--dir", "--format", "-c, --config"]),
        (
            "spool inspect",
            &["--dir", "--records", "--sink", "-c, --config"],
        ),
        ("simulate", &["-c, --config"]),
    ];
    for (cmd, flags) in expectations {
        let mut args: Vec<&str> = cmd.split(' ').collect();
        args.push("--help");
        let out = schoolnet(&args);
        assert!(out.status.success(), "{cmd} --help failed: {}", text(&out));
        let help = text(&out);
        for flag in *flags {
            assert!(
                help.contains(flag),
                "`{cmd} --help` does not mention {flag}:\n{help}"
            );
        }
    }
    let top = text(&schoolnet(&["--help"]));
    for cmd in [
        "run",
        "demo",
        "simulate",
        "check-config",
        "availability",
        "query",
        "spool",
    ] {
        assert!(top.contains(cmd), "top-level help lacks {cmd}:\n{top}");
    }
}

#[test]
fn the_example_config_is_valid() {
    let out = schoolnet(&["check-config", "deploy/schoolnet.example.toml"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("216 schools"), "{t}");
    assert!(t.contains("8 districts"), "{t}");
    // The example is the recommended production config: history is durable.
    assert!(
        t.contains("history: durable — spooled to /var/lib/schoolnet/spool"),
        "{t}"
    );
}

#[test]
fn the_example_config_routes_are_the_built_in_routes() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/schoolnet.example.toml"),
    )
    .unwrap();
    let config = collector::config::Config::parse(Path::new("example"), &text, Vec::new()).unwrap();
    assert_eq!(config.routes, collector::config::default_routes());
}

#[test]
fn bad_configs_are_rejected_naming_the_key_or_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let inventory = format!(
        "[inventory]\nschools = \"{root}/deploy/inventory/schools.csv\"\ndevices = \"{root}/deploy/inventory/devices.csv\"\n"
    );
    let cases = [
        (format!("{inventory}[mqtt]\nqos = 2\n"), "mqtt.qos"),
        (format!("{inventory}[mqtt]\nurl = \"broker\"\n"), "mqtt.url"),
        (format!("{inventory}[exporter]\nlisten = \"nowhere\"\n"), "listen"),
        (format!("{inventory}[influx]\nurl = \"http://x\"\nbatch_max_points = 0\n"), "influx.batch_max_points"),
        (format!("{inventory}[[routes]]\nname = \"r\"\npattern = \"a/{{device}}\"\nformat = \"xml\"\n"), "routes[0].format"),
        (format!("{inventory}[mqt]\nurl = \"mqtt://x\"\n"), "unknown key `mqt` in "),
        ("[inventory]\nschools = \"missing.csv\"\ndevices = \"missing.csv\"\n".to_string(), "missing.csv"),
    ];
    for (i, (toml, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, toml).unwrap();
        let out = schoolnet(&["check-config", path.to_str().unwrap()]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "case {i} should fail: {t}");
        assert!(
            t.contains(expected),
            "case {i}: expected `{expected}` in:\n{t}"
        );
    }
}

#[test]
fn inventory_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("schools.csv"),
        "school_id,name,district,lat,lon,uplink_mbps\nA,School A,North,39,45,fast\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("devices.csv"),
        "device_id,school_id,role,expected_interval_s,parent\n",
    )
    .unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[inventory]\nschools = \"schools.csv\"\ndevices = \"devices.csv\"\n",
    )
    .unwrap();
    let out = schoolnet(&["check-config", cfg.to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("schools.csv:2") && t.contains("uplink_mbps") && t.contains("fast"),
        "{t}"
    );
}

/// `availability --help` and `query --help` teach the same time-range flags
/// with examples; both refuse the same bad combinations the same way.
#[test]
fn query_and_availability_share_the_time_range_flags() {
    let conn = ["--influx-url", "http://127.0.0.1:1"];
    for cmd in [
        &["availability"][..],
        &["query", "bandwidth"],
        &["query", "top"],
    ] {
        let name = cmd.join(" ");
        let short = text(&schoolnet(&[cmd, &["-h"]].concat()));
        assert!(short.contains("Examples:"), "`{name} -h`:\n{short}");
        let long = text(&schoolnet(&[cmd, &["--help"]].concat()));
        for flag in [
            "--last DURATION [--to DATE]",
            "--from DATE [--to DATE]",
            "--month YYYY-MM",
            "-c, --config",
            "Examples:",
        ] {
            assert!(long.contains(flag), "`{name} --help` lacks {flag}:\n{long}");
        }
        let mut args = cmd.to_vec();
        if name == "query bandwidth" {
            args.extend(["--school", "NX-001"]);
        }
        args.extend(conn);
        for (bad, says) in [
            (
                &["--last", "7d", "--month", "2026-01"][..],
                "cannot be used with",
            ),
            (
                &["--from", "2026-01-01", "--last", "7d"],
                "cannot be used with",
            ),
            (
                &["--month", "2026-01", "--to", "2026-01-15"],
                "cannot be used with",
            ),
            (
                &["--to", "2026-01-15"],
                "--last <DURATION>|--from <DATE>|--month <YYYY-MM>",
            ),
        ] {
            let out = schoolnet(&[&args[..], bad].concat());
            assert_eq!(out.status.code(), Some(2), "{name} {bad:?}: {}", text(&out));
            assert!(text(&out).contains(says), "{name} {bad:?}:\n{}", text(&out));
        }
        for (bad, says) in [
            (
                &["--last", "5 days"][..],
                "--last: `5 days`: expected a duration like 30d",
            ),
            (&["--from", "yesterday"], "--from `yesterday`"),
            (
                &["--month", "2026-13"],
                "--month `2026-13`: expected YYYY-MM",
            ),
            (
                &["--from", "2026-02-01", "--to", "2026-01-01"],
                "is not before --to",
            ),
            (&["--from", "2999-01-01"], "starts in the future"),
        ] {
            let out = schoolnet(&[&args[..], bad].concat());
            assert_eq!(out.status.code(), Some(1), "{name} {bad:?}: {}", text(&out));
            assert!(text(&out).contains(says), "{name} {bad:?}:\n{}", text(&out));
        }
    }
}

/// A throwaway deployment: a two-school inventory and a config pointing at
/// `influx_url` (when given), with a `[spool]` next to it.
struct Site {
    dir: tempfile::TempDir,
    config: PathBuf,
    inventory: Inventory,
}

impl Site {
    fn new(influx_url: Option<&str>) -> Site {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("schools.csv"),
            "school_id,name,district,lat,lon,uplink_mbps\n\
             S-1,First School,North,39,45,100\nS-2,Second School,North,39,45,100\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("devices.csv"),
            "device_id,school_id,role,expected_interval_s,parent\nr1,S-1,router,10,\nr2,S-2,router,10,\n",
        )
        .unwrap();
        let influx = influx_url
            .map(|u| format!("[influx]\nurl = \"{u}\"\napi = \"v1\"\ndatabase = \"history\"\n\n"))
            .unwrap_or_default();
        let config = dir.path().join("schoolnet.toml");
        std::fs::write(
            &config,
            format!(
                "[inventory]\nschools = \"schools.csv\"\ndevices = \"devices.csv\"\n\n{influx}\
                 [spool]\ndir = \"spool\"\n"
            ),
        )
        .unwrap();
        let inventory = Inventory::load(
            &dir.path().join("schools.csv"),
            &dir.path().join("devices.csv"),
        )
        .unwrap();
        Site {
            dir,
            config,
            inventory,
        }
    }

    fn config(&self) -> &str {
        self.config.to_str().unwrap()
    }

    fn school(&self, id: &str) -> &Arc<School> {
        self.inventory.school(id).unwrap()
    }
}

fn ok_json(out: Output) -> Value {
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

fn row<'a>(doc: &'a Value, list: &str, school: &str) -> &'a Value {
    doc[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["school"] == school)
        .unwrap_or_else(|| panic!("{school} not in {doc}"))
}

fn rfc3339(unix_s: i64) -> String {
    Utc.timestamp_opt(unix_s, 0).unwrap().to_rfc3339()
}

#[tokio::test(flavor = "multi_thread")]
async fn availability_reads_the_config_from_dash_c_or_the_environment_with_every_range_form() {
    let influx = InfluxDb1::start().await;
    influx.create_database("history").await;
    let site = Site::new(Some(&influx.url));
    let now = Utc::now().timestamp();
    let january = Utc
        .with_ymd_and_hms(2026, 1, 10, 0, 0, 0)
        .unwrap()
        .timestamp();
    let outage = |start: i64, duration_s: f64| {
        let record = OutageRecord {
            school: site.school("S-2").clone(),
            cause: "stale",
            started_ns: start * 1_000_000_000,
            outage_started_ns: start * 1_000_000_000,
            duration_s,
            open: false,
        };
        let mut out = Vec::new();
        assert!(encode_outage(&record, &mut out));
        String::from_utf8(out).unwrap()
    };
    let lines = [outage(january, 7200.0), outage(now - 3 * 3600, 3600.0)].join("\n");
    influx.write("history", &lines).await;

    let downtime = |range: &[&str], env: &[(&str, &str)], with_c: bool| -> f64 {
        let mut args = vec!["availability", "--format", "json"];
        if with_c {
            args.extend(["-c", site.config()]);
        }
        args.extend(range);
        let doc = ok_json(schoolnet_env(&args, env));
        assert_eq!(doc["database"], "history", "{doc}");
        row(&doc, "schools", "S-2")["downtime_s"].as_f64().unwrap()
    };
    let env = [("SCHOOLNET_CONFIG", site.config())];
    let from = rfc3339(now - 9000);
    let to = rfc3339(now - 1800);
    for (env, with_c) in [(&[][..], true), (&env[..], false)] {
        assert_eq!(downtime(&["--month", "2026-01"], env, with_c), 7200.0);
        assert_eq!(downtime(&["--last", "1d"], env, with_c), 3600.0);
        // Clipped at --from: [now-2.5h, now-0.5h) holds the last 30 minutes of it.
        assert_eq!(
            downtime(&["--from", &from, "--to", &to], env, with_c),
            1800.0
        );
        // --last with --to: the 40 days before February hold January's outage.
        assert_eq!(
            downtime(&["--last", "40d", "--to", "2026-02-01"], env, with_c),
            7200.0
        );
        // No range: the last 30 days.
        assert_eq!(downtime(&[], env, with_c), 3600.0);
    }
    // --influx-url on the command line wins over SCHOOLNET_CONFIG (and says so).
    let out = schoolnet_env(
        &[
            "availability",
            "--last",
            "1d",
            "--influx-url",
            &influx.url,
            "--influx-api",
            "v1",
            "--influx-db",
            "history",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("SCHOOLNET_CONFIG=") && text(&out).contains("is not used"),
        "{}",
        text(&out)
    );
    // ... but with -c the two are contradictory.
    let out = schoolnet(&[
        "availability",
        "-c",
        site.config(),
        "--influx-url",
        &influx.url,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("alternatives"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn query_reads_the_config_from_dash_c_or_the_environment_with_every_range_form() {
    let influx = InfluxDb1::start().await;
    influx.create_database("history").await;
    let site = Site::new(Some(&influx.url));
    // S-1's WAN counter grows by 1000 bytes a minute: 60 samples recently
    // and 60 in January 2026.
    let now = Utc::now().timestamp() / 60 * 60;
    let january = Utc
        .with_ymd_and_hms(2026, 1, 20, 0, 0, 0)
        .unwrap()
        .timestamp();
    let mut lines = Vec::new();
    for start in [now - 3600, january] {
        for i in 0..60 {
            let t = start + i * 60;
            lines.push(format!(
                "interface,device=r1,district=North,interface=wan,role=router,school=S-1 \
                 rx_bytes={}i,tx_bytes={}i,rx_bps=133.3,tx_bps=13.3 {}",
                1_000_000 + i * 1000,
                500_000 + i * 100,
                t * 1_000_000_000
            ));
        }
    }
    influx.write("history", &lines.join("\n")).await;

    let rx = |range: &[&str], env: &[(&str, &str)], with_c: bool| -> u64 {
        let mut args = vec![
            "query", "top", "--by", "volume", "--source", "raw", "--format", "json",
        ];
        if with_c {
            args.extend(["-c", site.config()]);
        }
        args.extend(range);
        let doc = ok_json(schoolnet_env(&args, env));
        row(&doc, "rows", "S-1")["rx_bytes"].as_u64().unwrap()
    };
    let env = [("SCHOOLNET_CONFIG", site.config())];
    let (from, to) = (rfc3339(now - 1800), rfc3339(now - 600));
    for (env, with_c) in [(&[][..], true), (&env[..], false)] {
        // 60 samples inside: 59 increases.
        assert_eq!(rx(&["--month", "2026-01"], env, with_c), 59_000);
        assert_eq!(rx(&["--last", "2h"], env, with_c), 59_000);
        // [now-30m, now-10m): 20 samples, 19 increases.
        assert_eq!(rx(&["--from", &from, "--to", &to], env, with_c), 19_000);
        assert_eq!(rx(&["--last", "20m", "--to", &to], env, with_c), 19_000);
        assert_eq!(
            rx(&["--last", "7d", "--to", "2026-01-21"], env, with_c),
            59_000
        );
    }
    // --influx-url on the command line wins over SCHOOLNET_CONFIG (the
    // sample inventory then is used, a note says both).
    let out = schoolnet_env(
        &[
            "query",
            "top",
            "--by",
            "volume",
            "--last",
            "2h",
            "--source",
            "raw",
            "--format",
            "json",
            "--influx-url",
            &influx.url,
            "--influx-api",
            "v1",
            "--influx-db",
            "history",
        ],
        &env,
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("SCHOOLNET_CONFIG=") && t.contains("is not used"),
        "{t}"
    );
    assert!(t.contains("built-in sample inventory"), "{t}");
}

#[test]
fn bad_values_from_the_environment_name_the_variable_in_every_command() {
    let site = Site::new(Some("http://127.0.0.1:1"));
    let bad_url = [("SCHOOLNET_INFLUX__URL", "influx:8086")];
    for (args, code) in [
        (&["check-config", "-c", site.config()][..], 2),
        (&["run", "-c", site.config()], 1),
        (&["availability", "--last", "1d", "-c", site.config()], 1),
        (&["query", "top", "--last", "1d", "-c", site.config()], 1),
    ] {
        let out = schoolnet_env(args, &bad_url);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {t}");
        assert!(
            t.contains("environment variable SCHOOLNET_INFLUX__URL: `influx:8086` must start with http:// or https:// (it sets `influx.url`)"),
            "{args:?}: {t}"
        );
        assert!(!t.contains(" line "), "the file is not blamed: {t}");
    }
    for (var, value, says) in [
        ("SCHOOLNET_MQTT__QOS", "high", "environment variable SCHOOLNET_MQTT__QOS: `mqtt.qos`: invalid type"),
        ("SCHOOLNET_EXPORTER__STALE_FACTER", "3", "environment variable SCHOOLNET_EXPORTER__STALE_FACTER: unknown key `exporter.stale_facter`, did you mean `stale_factor`?"),
    ] {
        let out = schoolnet_env(&["check-config"], &[("SCHOOLNET_CONFIG", site.config()), (var, value)]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(says), "{}", text(&out));
    }
    // check-config says which variables are in effect.
    let out = schoolnet_env(
        &["check-config", "-c", site.config()],
        &[("SCHOOLNET_MQTT__KEEP_ALIVE_S", "45")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("environment: SCHOOLNET_MQTT__KEEP_ALIVE_S sets mqtt.keep_alive_s"),
        "{}",
        text(&out)
    );
}

#[test]
fn unknown_keys_name_file_line_column_and_the_nearest_key() {
    let site = Site::new(None);
    let base = std::fs::read_to_string(&site.config).unwrap();
    let lines_before = base.lines().count();
    for (extra, line, says) in [
        (
            "\n[exporter]\nlisten = \"127.0.0.1:9740\"\nstale_facter = 3\n",
            4,
            "unknown key `exporter.stale_facter`",
        ),
        (
            "\n[[routes]]\nname = \"a\"\npatern = \"a/{device}\"\n",
            4,
            "unknown key `routes[0].patern`",
        ),
    ] {
        std::fs::write(&site.config, format!("{base}{extra}")).unwrap();
        let out = schoolnet(&["check-config", "-c", site.config()]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{t}");
        let hint = if says.contains("patern") {
            "did you mean `pattern`?"
        } else {
            "did you mean `stale_factor`?"
        };
        let want = format!(
            "{says} in {} line {}, column 1, {hint}",
            site.config(),
            lines_before + line
        );
        assert!(t.contains(&want), "expected `{want}` in:\n{t}");
    }
}

#[test]
fn check_config_takes_dash_c_the_environment_or_the_older_positional_file() {
    let example = "deploy/schoolnet.example.toml";
    for (args, env) in [
        (&["check-config", "-c", example][..], &[][..]),
        (&["check-config", "--config", example], &[]),
        (&["check-config"], &[("SCHOOLNET_CONFIG", example)]),
        (&["check-config", example], &[]),
        // The command line wins over the environment.
        (
            &["check-config", example],
            &[("SCHOOLNET_CONFIG", "/nonexistent.toml")],
        ),
        (
            &["check-config", "-c", example],
            &[("SCHOOLNET_CONFIG", "/nonexistent.toml")],
        ),
    ] {
        let out = schoolnet_env(args, env);
        assert!(out.status.success(), "{args:?} {env:?}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("{example}: OK")),
            "{}",
            text(&out)
        );
    }
    let out = schoolnet(&["check-config", "-c", example, "/other.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("two configs given"), "{}", text(&out));
    for cmd in [&["check-config"][..], &["run"]] {
        let out = schoolnet(cmd);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("--config <FILE>"), "{}", text(&out));
    }
}

/// `run` reads the config it is given either way (a config it refuses
/// shows which file it read).
#[test]
fn run_takes_dash_c_or_the_environment() {
    let site = Site::new(None);
    std::fs::write(
        &site.config,
        "[inventory]\nschools = \"none.csv\"\ndevices = \"none.csv\"\n",
    )
    .unwrap();
    for (args, env) in [
        (&["run", "-c", site.config()][..], &[][..]),
        (&["run"], &[("SCHOOLNET_CONFIG", site.config())]),
    ] {
        let out = schoolnet_env(args, env);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("config {}", site.config()))
                && text(&out).contains("none.csv"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn spool_finds_the_directory_in_the_config() {
    let site = Site::new(None);
    let spool_dir = site.dir.path().join("spool");
    {
        let cfg = collector::spool::SpoolConfig::with_dir(spool_dir.clone());
        let (spool, _) = collector::spool::Spool::open(&cfg, &["influx"]).unwrap();
        for i in 0..3 {
            spool.try_append(i, b"m v=1 1").unwrap();
        }
        spool.sync().unwrap();
        spool.close().unwrap();
    }
    let backlog = |doc: &Value| doc["sinks"][0]["backlog_records"].as_u64();
    for (args, env) in [
        (
            &["spool", "status", "--format", "json", "-c", site.config()][..],
            &[][..],
        ),
        (
            &["spool", "status", "--format", "json"],
            &[("SCHOOLNET_CONFIG", site.config())],
        ),
        (
            &["spool", "inspect", "--format", "json", "-c", site.config()],
            &[],
        ),
        // --dir wins over the config.
        (
            &[
                "spool",
                "status",
                "--format",
                "json",
                "--dir",
                spool_dir.to_str().unwrap(),
            ],
            &[("SCHOOLNET_CONFIG", "/nonexistent.toml")],
        ),
    ] {
        let doc = ok_json(schoolnet_env(args, env));
        assert_eq!(doc["dir"], spool_dir.to_str().unwrap(), "{args:?}: {doc}");
        if args[1] == "status" {
            assert_eq!(backlog(&doc), Some(3), "{doc}");
        }
    }
    let without_spool = site.dir.path().join("plain.toml");
    std::fs::write(
        &without_spool,
        "[inventory]\nschools = \"schools.csv\"\ndevices = \"devices.csv\"\n",
    )
    .unwrap();
    let out = schoolnet(&["spool", "status", "-c", without_spool.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("has no [spool] section"),
        "{}",
        text(&out)
    );
    let out = schoolnet(&["spool", "status"]);
    assert!(
        text(&out).contains("Give --dir DIR, or -c/--config FILE"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn simulate_publishes_the_configs_inventory() {
    let broker = Mosquitto::start().await;
    let site = Site::new(None);
    let report = site.dir.path().join("report.json");
    let out = schoolnet_env(
        &[
            "simulate",
            "--broker",
            &broker.url,
            "--count",
            "20",
            "--quiet",
            "--report-json",
            report.to_str().unwrap(),
        ],
        &[("SCHOOLNET_CONFIG", site.config())],
    );
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let schools: Vec<&String> = doc["sent_by_school"].as_object().unwrap().keys().collect();
    assert!(
        !schools.is_empty() && schools.iter().all(|s| *s == "S-1" || *s == "S-2"),
        "{doc}"
    );
}
