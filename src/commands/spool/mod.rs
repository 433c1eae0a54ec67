//! `schoolnet spool status|inspect [--dir DIR | -c FILE]`: what the spool
//! (the write-ahead log between MQTT and the sinks) holds, read from its
//! files. The directory is `--dir`, else the config's `[spool] dir`.
//! Read-only: works on the spool of a running, stopped or crashed
//! `schoolnet run` (see `collector::spool` for the format).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Args, Subcommand, ValueEnum};
use collector::config::Config;
use collector::spool::{self, Inspection};
use serde::Serialize;

use crate::commands::args::{ConfigArgs, CONFIG_ENV};
use text::{records_text, segments_text, status_text};

mod text;

/// Shown by `schoolnet spool --help`.
const SPOOL_HELP: &str = "\
Both subcommands scan every segment file (a sequential read of the spool) and change nothing:
they take no lock and cut no torn tail, so they are safe next to a running `schoolnet run`.
On a running spool the numbers move and the last segment may end in a record that is still
being written (shown as a torn tail); a crashed process's torn tail is cut when it restarts.

The spool directory: --dir DIR, else the `[spool] dir` of the config (-c/--config FILE or
SCHOOLNET_CONFIG, with SCHOOLNET_SPOOL__DIR applied). Example:
  schoolnet spool status -c /etc/schoolnet/schoolnet.toml
  schoolnet spool inspect --dir /var/lib/schoolnet/spool --records 5

Exit status: 0; 3 when a segment other than the last one is damaged (records were lost:
see the warnings); 1 on errors (no such directory, no segment files, unreadable files).";

#[derive(Debug, Args)]
#[command(after_long_help = SPOOL_HELP)]
pub struct SpoolArgs {
    #[command(subcommand)]
    pub command: SpoolCommand,
}

#[derive(Debug, Subcommand)]
pub enum SpoolCommand {
    /// Per sink: cursor, backlog (records, bytes) and the oldest unsent record; spool size.
    Status(StatusArgs),
    /// Every segment (first/last record id, records, bytes, torn or damaged records) and
    /// optionally the first records of a sink's backlog.
    Inspect(InspectArgs),
}

/// Which spool, and how to print it: what `status` and `inspect` share.
#[derive(Debug, Args)]
pub struct SpoolTarget {
    /// The spool directory. Default: the config's `[spool] dir`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The config whose `[spool] dir` to read (when --dir is not given).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// text: for people; json: every number, times in unix nanoseconds.
    #[arg(long, value_enum, default_value_t = SpoolFormat::Text)]
    pub format: SpoolFormat,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: SpoolTarget,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub target: SpoolTarget,
    /// Also print the first N records of a sink's backlog (payloads as text).
    #[arg(long, value_name = "N")]
    pub records: Option<usize>,
    /// The sink whose backlog --records prints (needed when the spool has several).
    #[arg(long, value_name = "NAME", requires = "records")]
    pub sink: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SpoolFormat {
    Text,
    Json,
}

/// `schoolnet spool …`
pub fn run(args: SpoolArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SpoolCommand::Status(a) => status(&a.target.spool_dir()?, a.target.format),
        SpoolCommand::Inspect(a) => inspect(
            &a.target.spool_dir()?,
            a.target.format,
            a.sink.as_deref(),
            a.records,
        ),
    }
}

impl SpoolTarget {
    /// `--dir`, else the config's `[spool] dir` (relative to the config file).
    fn spool_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        spool_dir_of(&self.config)
    }
}

/// The `[spool] dir` of the config `-c`/`SCHOOLNET_CONFIG` names.
fn spool_dir_of(config: &ConfigArgs) -> anyhow::Result<PathBuf> {
    let Some(path) = config.path() else {
        bail!("which spool? Give --dir DIR, or -c/--config FILE (or set {CONFIG_ENV}) to use its [spool] dir");
    };
    let loaded = Config::load(path).map_err(|e| anyhow::anyhow!("config: {e}"))?;
    match loaded.spool {
        Some(s) => Ok(s.dir),
        None => bail!(
            "config {} has no [spool] section (history is not spooled); give --dir DIR",
            path.display()
        ),
    }
}

/// `schoolnet spool status --dir DIR`
pub fn status(dir: &Path, format: SpoolFormat) -> anyhow::Result<ExitCode> {
    let i = scan(dir)?;
    match format {
        SpoolFormat::Json => {
            #[derive(Serialize)]
            struct Status<'a> {
                dir: &'a Path,
                in_use: bool,
                pid: Option<u32>,
                bytes: u64,
                segments: usize,
                first_id: Option<u64>,
                last_id: Option<u64>,
                damaged_segments: usize,
                sinks: &'a [spool::SinkStatus],
            }
            let s = Status {
                dir: &i.dir,
                in_use: i.in_use.is_some(),
                pid: i.in_use.flatten(),
                bytes: i.bytes,
                segments: i.segments.len(),
                first_id: i.segments.iter().find_map(|s| s.first_record),
                last_id: i.segments.iter().rev().find_map(|s| s.last_record),
                damaged_segments: i.damaged_segments(),
                sinks: &i.sinks,
            };
            println!("{}", serde_json::to_string_pretty(&s)?);
        }
        SpoolFormat::Text => print!("{}", status_text(&i, Utc::now())),
    }
    Ok(exit(&i))
}

/// `schoolnet spool inspect --dir DIR [--records N [--sink NAME]]`
pub fn inspect(
    dir: &Path,
    format: SpoolFormat,
    sink: Option<&str>,
    records: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let i = scan(dir)?;
    let backlog = match records {
        None => None,
        Some(n) => {
            let sink = pick_sink(&i, sink)?;
            let records = i
                .records(&sink, n)
                .with_context(|| format!("spool {}", dir.display()))?;
            Some((sink, records))
        }
    };
    match format {
        SpoolFormat::Json => {
            #[derive(Serialize)]
            struct JsonRecord {
                id: u64,
                time_ns: i64,
                payload: String,
            }
            #[derive(Serialize)]
            struct Out<'a> {
                #[serde(flatten)]
                inspection: &'a Inspection,
                damaged_segments: usize,
                backlog_sink: Option<&'a str>,
                records: Option<Vec<JsonRecord>>,
            }
            let out = Out {
                inspection: &i,
                damaged_segments: i.damaged_segments(),
                backlog_sink: backlog.as_ref().map(|b| b.0.as_str()),
                records: backlog.as_ref().map(|(_, rs)| {
                    rs.iter()
                        .map(|r| JsonRecord {
                            id: r.id,
                            time_ns: r.time_ns,
                            payload: String::from_utf8_lossy(&r.payload).into_owned(),
                        })
                        .collect()
                }),
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        SpoolFormat::Text => {
            let now = Utc::now();
            print!("{}", status_text(&i, now));
            println!("\n{}", segments_text(&i.segments));
            if let Some((sink, records)) = &backlog {
                print!("{}", records_text(&i, sink, records));
            }
        }
    }
    Ok(exit(&i))
}

fn scan(dir: &Path) -> anyhow::Result<Inspection> {
    spool::inspect(dir).with_context(|| format!("cannot inspect spool {}", dir.display()))
}

fn exit(i: &Inspection) -> ExitCode {
    if i.damaged_segments() > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

fn pick_sink(i: &Inspection, sink: Option<&str>) -> anyhow::Result<String> {
    let names: Vec<&str> = i.sinks.iter().map(|s| s.name.as_str()).collect();
    match (sink, names.as_slice()) {
        (Some(s), _) if names.contains(&s) => Ok(s.to_owned()),
        (Some(s), _) => bail!("no sink `{s}` in this spool (sinks: {})", list(&names)),
        (None, [one]) => Ok((*one).to_owned()),
        (None, _) => bail!("--records needs --sink NAME (sinks: {})", list(&names)),
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
