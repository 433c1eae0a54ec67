//! `schoolnet query`: historical questions answered from InfluxDB —
//! `bandwidth` (a school's or district's WAN traffic per interval) and
//! `top` (schools ranked by volume, utilization or probe loss).
//!
//! - this module: arguments, and the context every query shares (window,
//!   data source, inventory, InfluxDB connection);
//! - [`plan`]: the window and the raw/rollup choice (pure);
//! - [`scope`]: schools, districts and the WAN interfaces;
//! - [`bandwidth`], [`top`]: the InfluxQL and the numbers;
//! - [`grid`]: `bandwidth`'s intervals; [`rows`]: an answer's rows by school;
//! - [`format`]: tables with humanized units, CSV and JSON (`top`'s own in
//!   [`top`]).
//!
//! HTTP, auth and errors are shared with `availability`
//! ([`crate::influx_query`]). Semantics: [`HELP`] and the README
//! sections "Historical queries" and "Retention".

mod bandwidth;
mod format;
mod grid;
mod plan;
mod rows;
mod scope;
mod top;

use std::process::ExitCode;

use anyhow::{anyhow, Context};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use collector::inventory::Inventory;

use crate::cli::ReportFormat;
use crate::commands::args::{time_range_help, ConfigArgs, InfluxArgs, TimeRangeArgs};
use crate::influx_query::{self, nanos, Series, Source};
pub use plan::SourceArg;
use plan::{Choice, Data};

/// `-h` ends with these examples (a macro so that `--help` can `concat!` them).
macro_rules! examples {
    () => {
        "

Examples:
  schoolnet query bandwidth --school NX-042 --month 2026-10 --every 1d -c /etc/schoolnet/schoolnet.toml
  schoolnet query bandwidth --district Julfa --last 7d --every 1h --format csv
  schoolnet query bandwidth --school NX-042 --from 2026-10-01 --to 2026-10-08T12:00:00Z --every 6h
  schoolnet query top --by utilization --last 7d -n 10
  schoolnet query top --by loss --last 7d --to 2026-10-08
  (the last four with SCHOOLNET_CONFIG=/etc/schoolnet/schoolnet.toml in the environment)"
    };
}

/// How `schoolnet query` counts; shown by `schoolnet query --help`.
pub const HELP: &str = concat!(
    time_range_help!(),
    "
Default: --last 30d for bandwidth, --last 7d for top. Intervals of --every are aligned to UTC
(1d = calendar days); the first and last may be partial.

Source (--source auto): raw if the range starts within 30 days and --every is under 1h;
else rollup_5m if it starts within 395 days and --every is a multiple of 5m; else rollup_1h
if within 1825 days and a multiple of 1h; else raw if within 30 days. The output names the
source. Rollups are made by deploy/influxdb/influxdb1-setup.iql; with one, the range is
widened to whole buckets, and the newest 5 min (rollup_5m) or 1-2 h (rollup_1h) are missing.

WAN: the inventory's wan_interface of each router of the school (default `wan`); with
--config its inventory, else the built-in sample (a note says so).

Volume (bytes in = rx, out = tx on the router's WAN): raw: the sum of the increases of the
rx_bytes/tx_bytes counters between consecutive samples both inside the range (a decrease, the
counter restarting, adds nothing); rollups: the sum of the 5-minute increases they stored.
Rates (bit/s): mean and max of the rate samples; pN = InfluxQL PERCENTILE: the samples sorted
ascending, the one at rank round(count x N / 100) (no interpolation). The samples are the raw
rx_bps/tx_bps (one per router report, ~10 s), or the 5-minute (hourly) mean rates of a
rollup: p95 of rollup_5m is the usual \"95th percentile\" of 5-minute averages. A district's
total: volumes add up; its rate is the sum of its schools' mean rates per 5 minutes (per
hour with rollup_1h), and mean, max and pN are taken over those sums.

Output: table (1000-based units: 1 GB = 10^9 bytes, 1 Mbit/s = 10^6 bit/s), csv and json with
exact bytes and bit/s. Exit status 1 on any error (unknown school or district, bad range,
InfluxDB unreachable or answering an error).

Config: -c/--config FILE or SCHOOLNET_CONFIG (InfluxDB from its [influx] section, schools and
WAN interfaces from its inventory, SCHOOLNET_*__* overrides applied); without one,
--influx-url and the built-in sample inventory. --influx-url on the command line wins over
SCHOOLNET_CONFIG.",
    examples!()
);

#[derive(Debug, Args)]
#[command(
    after_help = examples!().trim_start(),
    after_long_help = HELP,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct QueryArgs {
    #[command(subcommand)]
    pub command: QueryCommand,
}

#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// WAN traffic of a school or district per interval: bytes in/out, mean, max and Nth-percentile rate.
    ///
    /// Example: schoolnet query bandwidth --school NX-042 --month 2026-10 --every 1d --config /etc/schoolnet/schoolnet.toml
    #[command(after_help = examples!().trim_start(), after_long_help = HELP)]
    Bandwidth(BandwidthArgs),
    /// Top schools by WAN volume, WAN utilization (pN of the rate / contracted uplink) or probe loss.
    ///
    /// Example: schoolnet query top --by utilization --last 7d -n 10 --config /etc/schoolnet/schoolnet.toml
    #[command(after_help = examples!().trim_start(), after_long_help = HELP)]
    Top(TopArgs),
}

#[derive(Debug, Args)]
pub struct BandwidthArgs {
    /// The school (inventory id; case does not matter).
    #[arg(
        long,
        value_name = "ID",
        required_unless_present = "district",
        conflicts_with = "district"
    )]
    pub school: Option<String>,
    /// Every school of this district, and the district's total.
    #[arg(long, value_name = "NAME")]
    pub district: Option<String>,
    #[command(flatten)]
    pub range: TimeRangeArgs,
    /// Interval length: 1d, 6h, 1h, 15m… (aligned to multiples of it since 1970-01-01 UTC)
    #[arg(long, value_name = "DURATION", default_value = "1d")]
    pub every: String,
    /// Which percentile of the rate samples to report (0 < N <= 100).
    #[arg(long, value_name = "N", default_value_t = 95.0, value_parser = percentile)]
    pub percentile: f64,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// volume: bytes in + out; utilization: pN (then mean) of the WAN utilization; loss: mean probe loss.
    #[arg(long, value_enum, default_value_t = top::By::Volume)]
    pub by: top::By,
    /// How many schools.
    #[arg(short = 'n', long = "limit", value_name = "N", default_value_t = 10)]
    pub n: usize,
    /// Only this district's schools.
    #[arg(long, value_name = "NAME")]
    pub district: Option<String>,
    #[command(flatten)]
    pub range: TimeRangeArgs,
    /// The percentile of the utilization samples to report and rank by.
    #[arg(long, value_name = "N", default_value_t = 95.0, value_parser = percentile)]
    pub percentile: f64,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Data to read: raw samples, 5-minute or hourly rollups, or auto (see --help).
    #[arg(long, value_enum, default_value_t = SourceArg::Auto)]
    pub source: SourceArg,
    /// table: for people (1000-based units); csv and json: exact numbers.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// InfluxDB from its [influx] section, schools and WAN interfaces from its inventory.
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub influx: InfluxArgs,
}

fn percentile(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(p),
        _ => Err(format!("`{s}`: expected a number above 0 and at most 100")),
    }
}

/// `schoolnet query …`
pub async fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let text = match args.command {
        QueryCommand::Bandwidth(a) => bandwidth::run(a).await?,
        QueryCommand::Top(a) => top::run(a).await?,
    };
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write the output")?;
    Ok(ExitCode::SUCCESS)
}

/// What every query needs: where to read, what, and over which range.
pub struct Ctx {
    pub source: Source,
    pub inventory: Inventory,
    /// `built-in sample` or the config's path.
    pub inventory_name: String,
    pub choice: Choice,
    /// The range as queried (widened to the rollup's buckets).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub format: ReportFormat,
    pub notes: Vec<String>,
}

impl Ctx {
    /// Window, connection and data source. `every_s`: the interval length,
    /// `None` for one interval over the whole range.
    pub fn new(
        common: &CommonArgs,
        range: &TimeRangeArgs,
        default_last: &str,
        every_s: Option<i64>,
    ) -> anyhow::Result<Ctx> {
        let now = Utc::now();
        let mut notes = Vec::new();
        let (from, to) = range.resolve(default_last, now, &mut notes)?;
        let age_s = (now - from).num_seconds();
        let span = every_s.unwrap_or((to - from).num_seconds().max(1));
        let choice = plan::choose(common.source, age_s, span, every_s.is_some())?;
        if choice.data == Data::Raw && age_s > Data::Raw.kept_s() {
            notes.push(format!(
                "the range starts {} days ago but raw data is kept 30 days: older samples are gone",
                age_s / plan::DAY
            ));
        }
        let (qf, qt) = plan::align(from, to, choice.data.resolution_s());
        if (qf, qt) != (from, to) {
            notes.push(format!(
                "range widened to whole {} buckets: {} → {}",
                choice.data.name(),
                influx_query::stamp(&qf),
                influx_query::stamp(&qt)
            ));
        }
        if choice.data != Data::Raw && (now - qt).num_seconds() < 2 * choice.data.resolution_s() {
            notes.push(format!(
                "{} is written when each bucket ends: the newest {} may be missing or partial",
                choice.data.name(),
                if choice.data == Data::Rollup1h {
                    "1-2 hours"
                } else {
                    "5-10 minutes"
                }
            ));
        }
        let conn = common.influx.connection(&common.config, &mut notes)?;
        let (source, inventory, inventory_name) =
            influx_query::resolve(conn, "history", &mut notes)?;
        Ok(Ctx {
            source,
            inventory,
            inventory_name,
            choice,
            from: qf,
            to: qt,
            format: common.format,
            notes,
        })
    }

    pub fn data(&self) -> Data {
        self.choice.data
    }

    /// The retention policy to read: the collector's (default: the
    /// database's default policy) for raw data, else the rollup's.
    pub fn retention_policy(&self) -> &str {
        match self.data() {
            Data::Raw => &self.source.retention_policy,
            d => d.name(),
        }
    }

    /// `rp."measurement"` for the chosen data.
    pub fn from_clause(&self, measurement: &str) -> String {
        scope::from(self.retention_policy(), measurement)
    }

    /// `time >= … AND time < …` (nanoseconds).
    pub fn time_condition(&self) -> anyhow::Result<String> {
        Ok(format!(
            "time >= {} AND time < {}",
            nanos(self.from)?,
            nanos(self.to)?
        ))
    }

    /// Runs the statements in one request; their series in order.
    pub async fn query(&self, statements: &[String]) -> anyhow::Result<Vec<Vec<Series>>> {
        let q = statements.join(";\n");
        tracing::debug!(query = %q, "InfluxQL");
        let body = influx_query::run(&self.source, &q).await?;
        let base = self.source.url.trim_end_matches('/');
        let mut results = influx_query::statements(&body);
        if matches!(&results, Err(e) if e == "not executed") && statements.len() > 1 {
            // InfluxDB 1.x refused the whole batch without saying why (e.g.
            // an unknown database): the first statement alone says it.
            let body = influx_query::run(&self.source, &statements[0]).await?;
            if let Err(e) = influx_query::statements(&body) {
                results = Err(e);
            }
        }
        let results = results.map_err(|e| {
            let hint = if e.contains("retention policy not found") {
                " (the retention policies and continuous queries come from \
                 deploy/influxdb/influxdb1-setup.iql; or choose --source raw)"
            } else if e.contains("database not found") {
                " (check --influx-db / influx.database)"
            } else {
                ""
            };
            anyhow!(
                "InfluxDB at {base}, database `{}`: {e}{hint}",
                self.source.db
            )
        })?;
        if results.len() != statements.len() {
            anyhow::bail!(
                "InfluxDB at {base}: {} results for {} statements",
                results.len(),
                statements.len()
            );
        }
        Ok(results)
    }

    /// Notes go to stderr with csv and json (stdout stays machine-readable).
    pub fn print_notes_for_machines(&self) {
        if !matches!(self.format, ReportFormat::Table) {
            for note in &self.notes {
                eprintln!("note: {note}");
            }
        }
    }
}
