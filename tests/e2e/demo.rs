//! `schoolnet demo` is the zero-setup path: within 15 s of start every
//! sample school is on /metrics and nearly all are up, and without an
//! InfluxDB it says plainly where history is spooled instead.

use std::time::{Duration, Instant};

use testkit::{free_port, wait_until, ChildProcess};

#[tokio::test(flavor = "multi_thread")]
async fn demo_serves_all_216_schools_within_15_seconds() {
    let http = free_port();
    let mqtt = free_port();
    let spool = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut demo = ChildProcess::builder(env!("CARGO_BIN_EXE_schoolnet"))
        .name("schoolnet-demo")
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{http}"),
            "--mqtt-listen",
            &format!("127.0.0.1:{mqtt}"),
            "--spool-dir",
            spool.path().to_str().unwrap(),
        ])
        .spawn();
    let said = format!(
        "history                spooled in {}",
        spool.path().display()
    );
    demo.wait_for_line(&said, Duration::from_secs(10)).await;

    let url = format!("http://127.0.0.1:{http}/metrics");
    let (listed, up) = wait_until(
        "216 schools listed and nearly all up",
        Duration::from_secs(15),
        || {
            let url = url.clone();
            async move {
                let text = reqwest::get(&url)
                    .await
                    .map_err(|e| e.to_string())?
                    .text()
                    .await
                    .map_err(|e| e.to_string())?;
                let values: Vec<&str> = text
                    .lines()
                    .filter(|l| l.starts_with("schoolnet_school_up{"))
                    .filter_map(|l| l.rsplit(' ').next())
                    .collect();
                let up = values.iter().filter(|v| **v == "1").count();
                // Up must come from data: require every school to have been heard.
                let heard = text
                    .lines()
                    .filter(|l| l.starts_with("schoolnet_school_last_seen_timestamp_seconds{"))
                    .count();
                if values.len() == 216 && heard >= 210 && up >= 210 {
                    Ok((values.len(), up))
                } else {
                    Err(format!(
                        "{} listed, {heard} heard from, {up} up",
                        values.len()
                    ))
                }
            }
        },
    )
    .await;
    assert_eq!(listed, 216);
    assert!(up >= 210, "{up} of 216 up");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        std::fs::read_dir(spool.path()).unwrap().count() > 0,
        "the demo spool directory holds the spool"
    );
    // Stopped as a user would, a moment after looking: the fleet's and the
    // collector's connections to the embedded broker are established.
    tokio::time::sleep(Duration::from_secs(1)).await;
    demo.kill(testkit::signal::SIGTERM);
    let status = demo.wait_exit(Duration::from_secs(20)).await;
    assert!(
        status.success(),
        "demo exits 0 on SIGTERM: {status:?}\n{}",
        demo.log_tail()
    );
    // A clean stop is no error: not ours, and not the embedded broker's
    // (rumqttd logs each client's disconnect as an ERROR).
    let log = std::fs::read_to_string(demo.stderr_path()).unwrap();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "ERROR lines on a clean stop:\n{}",
        errors.join("\n")
    );
}
