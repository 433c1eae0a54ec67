//! Log lines as they reach a file, a pipe or systemd's journal: no colour
//! codes where no terminal reads them, and under journald the syslog
//! priority in front of each line instead of a timestamp (journald stamps
//! lines itself and reads the `<N>` prefix as the priority).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::free_port;

/// Runs `schoolnet run` against a broker port nothing listens on (so it
/// logs its start and a connection WARN) for a moment, its stderr appended
/// to `log`, with `env` added; returns what it logged.
fn run_briefly(dir: &Path, log: &Path, env: &[(&str, String)]) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let config = dir.join("schoolnet.toml");
    std::fs::write(
        &config,
        format!(
            "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\n\n[inventory]\nschools = \"{root}/deploy/inventory/schools.csv\"\ndevices = \"{root}/deploy/inventory/devices.csv\"\n\n[exporter]\nlisten = \"127.0.0.1:0\"\n",
            free_port()
        ),
    )
    .unwrap();
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_schoolnet"))
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env_remove("JOURNAL_STREAM")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start schoolnet run");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    // Until the first connection WARN (the broker port is closed).
    while !std::fs::read_to_string(log).unwrap().contains("WARN") {
        assert!(
            std::time::Instant::now() < deadline,
            "no WARN logged:\n{}",
            std::fs::read_to_string(log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::read_to_string(log).unwrap()
}

#[test]
fn a_log_file_gets_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let text = run_briefly(dir.path(), &log, &[]);
    assert!(!text.contains('\u{1b}'), "ANSI escape in a file:\n{text}");
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("20") && first.contains("Z  INFO"),
        "timestamped lines: {first}"
    );
}

#[test]
fn under_journald_lines_carry_their_priority_and_no_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("journal");
    std::fs::write(&log, "").unwrap();
    let meta = std::fs::metadata(&log).unwrap();
    // What systemd sets for StandardError=journal: the stream's dev:inode.
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    let text = run_briefly(dir.path(), &log, &[("JOURNAL_STREAM", stream)]);
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escape in the journal:\n{text}"
    );
    for line in text.lines() {
        assert!(
            line.starts_with("<6>") || line.starts_with("<4>") || line.starts_with("<3>"),
            "no syslog priority: {line}"
        );
        assert!(
            !line.starts_with("<6>20"),
            "timestamp under journald: {line}"
        );
    }
    assert!(text.lines().any(|l| l.starts_with("<4>")), "{text}");
}
