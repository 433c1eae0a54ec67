//! `schoolnet simulate`: publish a simulated fleet to any broker.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use collector::config::Config;
use collector::inventory::Inventory;

use crate::cli::SimulateArgs;
use simulator::SimulateOptions;

pub async fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let inventory = match (args.inventory.as_deref(), args.config.path()) {
        (Some(path), _) | (None, Some(path)) => load_inventory(path)?,
        (None, None) => simulator::sample_inventory().context("built-in sample inventory")?,
    };
    let opts = SimulateOptions {
        broker: args.broker.clone(),
        schools: args.schools,
        rate: args.rate,
        duration: args.duration.map(Duration::from_secs_f64),
        count: args.count,
        qos: args.qos,
        client_id: args.client_id.clone(),
        connections: usize::from(args.connections),
        progress: !args.quiet,
        seed: args.seed,
        start_time: None,
    };
    let shutdown = crate::shutdown::on_signals();
    let report = simulator::run(Arc::new(inventory), opts, shutdown.cancelled_owned()).await?;
    report
        .print_table(&mut std::io::stdout().lock())
        .context("cannot print the report")?;
    if let Some(path) = &args.report_json {
        let file = std::fs::File::create(path)
            .with_context(|| format!("--report-json {}", path.display()))?;
        serde_json::to_writer_pretty(file, &report).context("cannot write the JSON report")?;
    }
    Ok(if report.errors == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "{} message(s) were not confirmed by the broker",
            report.errors
        );
        ExitCode::FAILURE
    })
}

/// `--inventory`: a directory with schools.csv + devices.csv, a schools.csv
/// with devices.csv beside it, or a schoolnet config file (so also
/// `-c/--config`).
fn load_inventory(path: &Path) -> anyhow::Result<Inventory> {
    let (schools, devices) = if path.is_dir() {
        (path.join("schools.csv"), path.join("devices.csv"))
    } else if path.extension().is_some_and(|e| e == "toml") {
        let config =
            Config::load(path).with_context(|| format!("--inventory {}", path.display()))?;
        (config.inventory.schools, config.inventory.devices)
    } else {
        let dir = path.parent().unwrap_or(Path::new("."));
        (path.to_path_buf(), dir.join("devices.csv"))
    };
    Inventory::load(&schools, &devices).with_context(|| format!("--inventory {}", path.display()))
}
