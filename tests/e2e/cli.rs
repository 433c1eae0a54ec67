//! The command line as an operator meets it: help text, config validation
//! and its error messages. No servers needed.

use std::path::Path;
use std::process::Command;

fn schoolnet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_schoolnet"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .output()
        .expect("run schoolnet")
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
        ("check-config", &["FILE"]),
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
        ("spool status", &["--dir", "--format"]),
        ("spool inspect", &["--dir", "--records", "--sink"]),
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
        (format!("{inventory}[mqt]\nurl = \"mqtt://x\"\n"), "unknown field `mqt`"),
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
