//! Command-line interface: argument definitions (with the help text operators
//! read) and dispatch. Each subcommand's work lives in its own module.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::commands::args::{time_range_help, ConfigArgs, InfluxArgs, TimeRangeArgs};

#[derive(Debug, Parser)]
#[command(
    name = "schoolnet",
    version,
    about = "Telemetry pipeline for a school network: MQTT → InfluxDB history + Prometheus metrics",
    long_about = "Telemetry pipeline for a school network.\n\n\
        Routers, ONTs and OLTs publish metrics over MQTT; schoolnet normalizes them per school, \
        writes history to InfluxDB and serves live per-school metrics for Prometheus.\n\n\
        Start with `schoolnet demo` (no setup: embedded broker and a simulated 216-school fleet), \
        then `schoolnet check-config -c FILE` and `schoolnet run -c FILE` for a real deployment.\n\n\
        Every command that reads the config takes it as -c/--config FILE or from \
        SCHOOLNET_CONFIG (the command line wins), with SCHOOLNET_<SECTION>__<KEY> overriding \
        single keys.",
    after_help = "Config: -c/--config FILE or SCHOOLNET_CONFIG=FILE, for run, check-config, \
        availability, query, spool and simulate.\n\
        Logging: RUST_LOG=info (default), debug, or per module (collector=debug). \
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
    /// Example: schoolnet availability --month 2026-01 -c /etc/schoolnet/schoolnet.toml
    Availability(AvailabilityArgs),
    /// Historical queries: WAN bandwidth per school or district per interval (volume, mean, max,
    /// 95th percentile), and top schools by volume, utilization or probe loss.
    ///
    /// Example: schoolnet query bandwidth --school NX-042 --month 2026-10 --every 1d -c /etc/schoolnet/schoolnet.toml
    Query(commands::query::QueryArgs),
    /// Inspect the spool (the on-disk write-ahead log): backlog per sink, oldest unsent, damage.
    Spool(commands::spool::SpoolArgs),
}

#[derive(Debug, Args)]
#[command(
    mut_arg("config", |a| a.required(true)),
    after_help = "Example: schoolnet run -c /etc/schoolnet/schoolnet.toml\n\
        (or SCHOOLNET_CONFIG=/etc/schoolnet/schoolnet.toml schoolnet run)"
)]
pub struct RunArgs {
    /// See deploy/schoolnet.example.toml for every key.
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
#[command(
    mut_arg("config", |a| a.required_unless_present("file")),
    after_help = "Example: schoolnet check-config -c /etc/schoolnet/schoolnet.toml\n\
        With the same SCHOOLNET_* variables as `run`, it checks what `run` would use."
)]
pub struct CheckConfigArgs {
    /// The config to validate, with the inventory CSVs it names.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The older spelling of -c FILE (still accepted).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
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

/// `-h` ends with these examples (a macro so that `--help` can `concat!` them).
macro_rules! availability_examples {
    () => {
        "

Examples:
  schoolnet availability --month 2026-01 -c /etc/schoolnet/schoolnet.toml
  schoolnet availability --last 7d --district Julfa
  schoolnet availability --from 2026-01-01 --to 2026-04-01 --format csv > q1.csv
  schoolnet availability --last 24h --influx-url http://127.0.0.1:8086 --influx-api v1
  (the second and third with SCHOOLNET_CONFIG=/etc/schoolnet/schoolnet.toml in the environment)"
    };
}

/// How `schoolnet availability` counts; shown by `schoolnet availability --help`.
pub const AVAILABILITY_HELP: &str = concat!(
    time_range_help!(),
    "
Default: --last 30d. Example: --from 2026-01-01 --to 2026-02-01 is January, as is --month 2026-01.

Counting:
  - an outage counts with the part inside the window (clipped at both ends);
  - an open outage lasts until now (or the window's end); if schoolnet stopped while it was
    open and the school has a later outage, it ends where that one starts;
  - overlapping outages of one school count once (union of the intervals);
  - an outage starts at the school's last sign of life; one whose cause changed (stale, then
    upstream_down) is one outage, each second under the cause shown then (downtime by cause);
  - availability = 1 - downtime / window length; a school without outages has 100 %;
  - MTTR = mean full duration of the outages restored (closed) within the window, so every
    outage is in the MTTR of exactly one window (one still open at the end counts later);
  - outages that started more than 370 days before the window are not read.

Schools and districts come from the inventory of the config (-c/--config FILE or
SCHOOLNET_CONFIG); without a config, from the built-in sample inventory (a note says so).
Outages of schools not in the inventory are named in a note and not counted.

Data: InfluxQL over GET <url>/query (InfluxDB 1.x, or the v1-compatible endpoint of InfluxDB
2.x/3.x, where the database name is the bucket's DBRP mapping), from the config's [influx]
section or --influx-url (which wins over SCHOOLNET_CONFIG). The token (or the v1 password
of --influx-username / influx.username) comes from SCHOOLNET_INFLUX_TOKEN or influx.token_file,
never from the command line.

Output: table (durations like 3h 12m, percentages truncated to 3 decimals so 100.000 % means
no downtime at all); csv (one row per school) and json (also districts, total and downtime by
cause) with exact numbers: seconds and ratios 0-1. Notes go to stderr with csv and json.
Exit status: 0 with a report, 1 on any error (InfluxDB unreachable or answering an error,
bad dates, unknown district).",
    availability_examples!()
);

#[derive(Debug, Args)]
#[command(
    after_help = availability_examples!().trim_start(),
    after_long_help = AVAILABILITY_HELP
)]
pub struct AvailabilityArgs {
    #[command(flatten)]
    pub range: TimeRangeArgs,
    /// Only this district's schools (as spelled in the inventory; case does not matter).
    #[arg(long, value_name = "NAME")]
    pub district: Option<String>,
    /// table: aligned, for people; csv: one row per school; json: everything.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// InfluxDB from its [influx] section (url, api, database or bucket,
    /// username, token_file), schools and districts from its inventory.
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub influx: InfluxArgs,
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
    /// schoolnet config file (its [inventory] is used). Wins over -c/--config.
    /// Default: the config's inventory, else the built-in 216-school sample.
    #[arg(long, value_name = "PATH")]
    pub inventory: Option<PathBuf>,
    /// Simulate this config's [inventory] (only the inventory is read).
    #[command(flatten)]
    pub config: ConfigArgs,
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

impl Command {
    /// The `-c/--config` of the command, for those that read the config.
    fn config_args_mut(&mut self) -> Option<&mut ConfigArgs> {
        use crate::commands::query::QueryCommand;
        use crate::commands::spool::SpoolCommand;
        match self {
            Command::Run(a) => Some(&mut a.config),
            Command::CheckConfig(a) => Some(&mut a.config),
            Command::Simulate(a) => Some(&mut a.config),
            Command::Availability(a) => Some(&mut a.config),
            Command::Query(q) => match &mut q.command {
                QueryCommand::Bandwidth(a) => Some(&mut a.common.config),
                QueryCommand::Top(a) => Some(&mut a.common.config),
            },
            Command::Spool(s) => match &mut s.command {
                SpoolCommand::Status(a) => Some(&mut a.target.config),
                SpoolCommand::Inspect(a) => Some(&mut a.target.config),
            },
            Command::Demo(_) => None,
        }
    }
}

/// Whether the (innermost) subcommand's `--config` came from
/// `SCHOOLNET_CONFIG` rather than the command line.
fn config_from_env(matches: &ArgMatches) -> bool {
    let mut m = matches;
    while let Some((_, sub)) = m.subcommand() {
        m = sub;
    }
    m.ids().any(|id| id.as_str() == "config")
        && m.value_source("config") == Some(ValueSource::EnvVariable)
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(config) = cli.command.config_args_mut() {
        config.from_env = config_from_env(&matches);
    }
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
