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
    /// Availability report: uptime %, outages, downtime and MTTR per school and district over a window.
    ///
    /// Reads the `outage` measurement that `schoolnet run` writes to InfluxDB and prints, for
    /// every school of the inventory (also those without any outage, at 100 %): availability
    /// over the window, number of outages, total downtime and MTTR; then per district (schools,
    /// mean and minimum availability, outages, downtime) and a total.
    ///
    /// Example: schoolnet availability --month 2026-01 --config /etc/schoolnet/schoolnet.toml
    Availability(AvailabilityArgs),
    /// Historical queries: WAN bandwidth per school or district per interval (volume, mean, max,
    /// 95th percentile), and top schools by volume, utilization or probe loss.
    ///
    /// Example: schoolnet query bandwidth --school NX-042 --month 2026-10 --every 1d --config /etc/schoolnet/schoolnet.toml
    Query(commands::query::QueryArgs),
    /// Inspect the spool (the on-disk write-ahead log): backlog per sink, oldest unsent, damage.
    Spool(commands::spool::SpoolArgs),
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
    /// Where the demo spools history (bounded to 256 MB, oldest dropped first).
    #[arg(long, value_name = "DIR", default_value_os_t = std::env::temp_dir().join("schoolnet-demo-spool"))]
    pub spool_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ApiArg {
    V1,
    V2,
}

/// How `schoolnet availability` counts; shown by `schoolnet availability --help`.
pub const AVAILABILITY_HELP: &str = "\
Window: [--from, --to) in UTC; --to is exclusive (--from 2026-01-01 --to 2026-02-01 is January).
DATE is YYYY-MM-DD (00:00 UTC) or RFC 3339 (2026-01-15T08:00:00+04:00). --month 2026-01 sets
both. --to defaults to now; a window reaching past now ends now.

Counting:
  - an outage counts with the part inside the window (clipped at both ends);
  - an open outage lasts until now (or the window's end); if schoolnet stopped while it was
    open and the school has a later outage, it ends where that one starts;
  - overlapping outages of one school count once (union of the intervals);
  - availability = 1 - downtime / window length; a school without outages has 100 %;
  - MTTR = mean full duration of the outages restored (closed) within the window, so every
    outage is in the MTTR of exactly one window (one still open at the end counts later);
  - outages that started more than 370 days before --from are not read.

Schools and districts come from the inventory of --config; without --config, from the
built-in sample inventory (a note says so). Outages of schools not in the inventory are
named in a note and not counted.

Data: InfluxQL over GET <url>/query (InfluxDB 1.x, or the v1-compatible endpoint of InfluxDB
2.x/3.x, where the database name is the bucket's DBRP mapping). The token (or the v1 password
of --influx-username / influx.username) comes from SCHOOLNET_INFLUX_TOKEN or influx.token_file,
never from the command line.

Output: table (durations like 3h 12m, percentages truncated to 3 decimals so 100.000 % means
no downtime at all); csv (one row per school) and json (also districts, total and downtime by
cause) with exact numbers: seconds and ratios 0-1. Notes go to stderr with csv and json.
Exit status: 0 with a report, 1 on any error (InfluxDB unreachable or answering an error,
bad dates, unknown district).";

#[derive(Debug, Args)]
#[command(after_long_help = AVAILABILITY_HELP)]
pub struct AvailabilityArgs {
    /// Start of the window (inclusive): YYYY-MM-DD (00:00 UTC) or RFC 3339.
    #[arg(long, value_name = "DATE", required_unless_present = "month")]
    pub from: Option<String>,
    /// End of the window (exclusive): YYYY-MM-DD (00:00 UTC) or RFC 3339. Default: now.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// A calendar month (UTC) instead of --from/--to: 2026-01 = 2026-01-01 to 2026-02-01.
    #[arg(long, value_name = "YYYY-MM", conflicts_with_all = ["from", "to"])]
    pub month: Option<String>,
    /// Only this district's schools (as spelled in the inventory; case does not matter).
    #[arg(long, value_name = "NAME")]
    pub district: Option<String>,
    /// table: aligned, for people; csv: one row per school; json: everything.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Config file: InfluxDB from its [influx] section (url, api, database or bucket,
    /// username, token_file), schools and districts from its inventory.
    #[arg(long, short, value_name = "FILE", conflicts_with_all = ["influx_url", "influx_api", "influx_db", "influx_username"])]
    pub config: Option<PathBuf>,
    /// InfluxDB base URL, e.g. http://127.0.0.1:8086 (without --config; the sample inventory is used).
    #[arg(long, value_name = "URL", required_unless_present = "config")]
    pub influx_url: Option<String>,
    /// v1: with --influx-username, Basic auth; v2: the token as `Authorization: Token`.
    #[arg(long, value_enum, default_value_t = ApiArg::V2)]
    pub influx_api: ApiArg,
    /// v1 database, or the v2 bucket (queried through its v1 DBRP mapping).
    #[arg(long, default_value = "schoolnet", value_name = "NAME")]
    pub influx_db: String,
    /// v1 username; the password comes from SCHOOLNET_INFLUX_TOKEN.
    #[arg(long, value_name = "NAME")]
    pub influx_username: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
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
    /// MQTT connections to publish over; each device stays on one (client ids
    /// `<client-id>-<i>` when more than one). More than one helps only for load.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub connections: u16,
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
    crate::logging::init(cli.log_format);
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
            Command::Availability(args) => commands::availability(args).await,
            Command::Query(args) => commands::query::run(args).await,
            Command::Spool(args) => commands::spool::run(args),
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
