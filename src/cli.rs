//! Command-line interface: argument definitions (with the help text operators
//! read) and dispatch. Each subcommand's work lives in its own module.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;

#[derive(Debug, Parser)]
#[command(
    name = "schoolnet",
    version,
    about = "Telemetry pipeline for a school network: MQTT → InfluxDB history + Prometheus metrics",
    long_about = "Telemetry pipeline for a school network.\n\n\
        Routers, ONTs and OLTs publish metrics over MQTT; schoolnet normalizes them per school, \
        writes history to InfluxDB and serves live per-school metrics for Prometheus.\n\n\
        Start with `schoolnet demo` (no setup: embedded broker and a simulated 216-school fleet), \
        then `schoolnet check-config FILE` and `schoolnet run --config FILE` for a real deployment.",
    after_help = "Logging: RUST_LOG=info (default), debug, or per module (collector=debug). \
        Secrets: SCHOOLNET_MQTT_PASSWORD, SCHOOLNET_INFLUX_TOKEN (or *_file keys in the config)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SCHOOLNET_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline: MQTT → decode → normalize → InfluxDB, plus the exporter's HTTP server.
    Run(RunArgs),
    /// Zero-setup demo: embedded broker, simulated 216-school fleet, collector and exporter in one process.
    Demo(DemoArgs),
    /// Publish a simulated fleet's telemetry to an MQTT broker (load tests, end-to-end tests).
    Simulate(SimulateArgs),
    /// Validate a config file and its inventory without connecting anywhere.
    CheckConfig(CheckConfigArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (TOML). See deploy/schoolnet.example.toml for every key.
    #[arg(long, short, env = "SCHOOLNET_CONFIG", value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Config file (TOML) to validate, including the inventory CSVs it names.
    #[arg(value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the exporter serves /metrics, /api/schools and the status page.
    #[arg(long, default_value = "127.0.0.1:9740", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Where the embedded MQTT broker listens (other publishers may connect too).
    #[arg(long, default_value = "127.0.0.1:1883", value_name = "ADDR")]
    pub mqtt_listen: SocketAddr,
    /// Store history in this InfluxDB (e.g. http://127.0.0.1:8086). Without it, history is not stored.
    #[arg(long, value_name = "URL")]
    pub influx_url: Option<String>,
    /// Write API of --influx-url: v1 (/write?db=) or v2 (/api/v2/write).
    #[arg(long, value_enum, default_value_t = ApiArg::V2)]
    pub influx_api: ApiArg,
    /// v1 database or v2 bucket to write to (org for v2: "schoolnet"; token from SCHOOLNET_INFLUX_TOKEN).
    #[arg(long, default_value = "schoolnet", value_name = "NAME")]
    pub influx_db: String,
    /// Simulate only the first N schools of the sample inventory.
    #[arg(long, value_name = "N")]
    pub schools: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ApiArg {
    V1,
    V2,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Broker to publish to, e.g. mqtt://127.0.0.1:1883.
    #[arg(long, value_name = "URL")]
    pub broker: String,
    /// Inventory to simulate: a directory with schools.csv and devices.csv, or a
    /// schoolnet config file (its [inventory] is used). Default: the built-in 216-school sample.
    #[arg(long, value_name = "PATH")]
    pub inventory: Option<PathBuf>,
    /// Simulate only the first N schools.
    #[arg(long, value_name = "N")]
    pub schools: Option<usize>,
    /// Total messages per second across the fleet; 0 publishes as fast as the broker accepts.
    /// Default: each device at its inventory interval (real time).
    #[arg(long, value_name = "MSG_PER_S")]
    pub rate: Option<f64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "S", conflicts_with = "count")]
    pub duration: Option<f64>,
    /// Stop after this many messages.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// MQTT QoS for publishes (0 or 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// MQTT client id of the simulator.
    #[arg(long, default_value = "schoolnet-simulator")]
    pub client_id: String,
    /// Random seed: the same seed gives the same fleet and traffic.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write the final report as JSON to this file (for scripts and tests).
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Do not print the progress line.
    #[arg(long)]
    pub quiet: bool,
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => commands::run(args).await,
            Command::Demo(args) => crate::demo::run(args).await,
            Command::Simulate(args) => commands::simulate(args).await,
            Command::CheckConfig(args) => commands::check_config(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rumqttd=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
