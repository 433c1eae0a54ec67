//! The simulator as a child process: `schoolnet simulate` with a JSON
//! report, awaited or in the background.

use simulator::SimulateReport;
use tokio::task::JoinHandle;

use super::BIN;

/// Runs `schoolnet simulate` to completion and returns its report; fails
/// the test unless it exited 0 with no errors.
pub async fn simulate(broker_url: &str, args: &[&str]) -> SimulateReport {
    let (report, out) = simulate_unchecked(broker_url, args).await;
    assert!(
        out.status.success(),
        "schoolnet simulate failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report.errors, 0, "simulator reported errors");
    report
}

/// Runs `schoolnet simulate` to completion: its report (it exits 1 when the
/// report counts errors, e.g. connection errors during a broker restart)
/// and its output. Fails the test only when there is no report.
pub async fn simulate_unchecked(
    broker_url: &str,
    args: &[&str],
) -> (SimulateReport, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let mut all = vec![
        "simulate",
        "--broker",
        broker_url,
        "--quiet",
        "--report-json",
        report.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = tokio::process::Command::new(BIN)
        .args(&all)
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let text = std::fs::read(&report).unwrap_or_else(|e| {
        panic!(
            "schoolnet simulate wrote no report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (serde_json::from_slice(&text).unwrap(), out)
}

/// [`simulate`] in the background, so that a test can break things while
/// it publishes.
pub fn spawn_simulate(broker_url: &str, args: &[&str]) -> JoinHandle<SimulateReport> {
    let (url, args) = owned(broker_url, args);
    tokio::spawn(async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        simulate(&url, &args).await
    })
}

/// [`simulate_unchecked`] in the background.
pub fn spawn_simulate_unchecked(
    broker_url: &str,
    args: &[&str],
) -> JoinHandle<(SimulateReport, std::process::Output)> {
    let (url, args) = owned(broker_url, args);
    tokio::spawn(async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        simulate_unchecked(&url, &args).await
    })
}

fn owned(url: &str, args: &[&str]) -> (String, Vec<String>) {
    (
        url.to_string(),
        args.iter().map(|a| a.to_string()).collect(),
    )
}

/// A fleet simulated in this process (not a child), so that the test keeps
/// its [`simulator::FleetControl`] to make devices go silent or offline.
pub struct InProcessFleet {
    pub control: simulator::FleetControl,
    stop: tokio_util::sync::CancellationToken,
    task: JoinHandle<anyhow::Result<SimulateReport>>,
}

impl InProcessFleet {
    /// Starts publishing `fleet` to `broker_url` with the default options.
    pub fn start(fleet: simulator::Fleet, broker_url: &str) -> InProcessFleet {
        let control = fleet.control();
        let stop = tokio_util::sync::CancellationToken::new();
        let opts = simulator::SimulateOptions {
            broker: broker_url.to_string(),
            ..simulator::SimulateOptions::default()
        };
        let task = tokio::spawn(simulator::run_fleet(
            fleet,
            opts,
            stop.clone().cancelled_owned(),
        ));
        InProcessFleet {
            control,
            stop,
            task,
        }
    }

    /// Stops publishing; the report, or a failure if the simulator failed.
    pub async fn stop(self) -> SimulateReport {
        self.stop.cancel();
        self.task.await.unwrap().unwrap()
    }
}
