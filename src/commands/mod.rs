//! The `run`, `check-config`, `simulate` and `availability` subcommands
//! (`demo` has its own module because it also embeds a broker), and the
//! arguments commands share ([`args`]).

pub mod args;
mod availability;
pub mod query;
mod simulate;
pub mod spool;

use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::{bail, Context};
use collector::config::Config;

use crate::cli::{CheckConfigArgs, RunArgs};
pub use availability::availability;
pub use simulate::simulate;

/// `schoolnet run -c FILE`
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let Some(path) = args.config.path() else {
        bail!(
            "no config: give -c/--config FILE or set {}",
            args::CONFIG_ENV
        );
    };
    let validated = Config::load(path)
        .and_then(Config::validate)
        .with_context(|| format!("config {}", path.display()))?;
    let shutdown = crate::shutdown::on_signals();
    crate::app::run(validated, shutdown, None, Some(path.to_path_buf())).await?;
    Ok(ExitCode::SUCCESS)
}

/// The file `check-config` checks: `-c FILE` / `SCHOOLNET_CONFIG`, or the
/// older positional `FILE` (which wins over the environment, as any
/// command-line argument does).
fn check_config_path(args: &CheckConfigArgs) -> anyhow::Result<PathBuf> {
    match (&args.file, args.config.path()) {
        (Some(file), Some(c)) if !args.config.from_env && c != file => bail!(
            "two configs given: -c {} and {}; give one (-c FILE)",
            c.display(),
            file.display()
        ),
        (Some(file), _) => Ok(file.clone()),
        (None, Some(c)) => Ok(c.to_path_buf()),
        (None, None) => bail!(
            "no config: give -c/--config FILE or set {}",
            args::CONFIG_ENV
        ),
    }
}

/// `schoolnet check-config -c FILE`: everything `run` checks before connecting.
pub fn check_config(args: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let path = check_config_path(&args)?;
    let validated = match Config::load(&path).and_then(Config::validate) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{}: INVALID\n  {e}", path.display());
            return Ok(ExitCode::from(2));
        }
    };
    let c = &validated.config;
    println!("{}: OK", path.display());
    for (key, var) in c.env_overrides.iter() {
        println!("  environment: {var} sets {key}");
    }
    println!(
        "  inventory: {} schools in {} districts, {} devices",
        validated.inventory.schools().len(),
        validated.inventory.districts().len(),
        validated.inventory.devices().len()
    );
    let mut client_id = c.mqtt.client_id.clone();
    if c.shard.is_sharded() {
        let p = collector::shard::partition(&validated.inventory, c.shard);
        let filters = collector::shard::filters(c.shard, &validated.routes, p.owned.devices());
        println!(
            "  shard: instance {} of {} (0-based) owns {} schools, {} devices, {} of {} failure domains; {} topic filters ({}); devices per instance {:?}",
            c.shard.index,
            c.shard.count,
            p.owned.schools().len(),
            p.owned.devices().len(),
            p.domains_owned,
            p.domains_total,
            filters.len(),
            c.shard.subscribe.as_str(),
            p.loads
        );
        client_id = format!("{client_id}-{}", c.shard.index);
    }
    println!(
        "  mqtt: {} as `{client_id}` (QoS {}, persistent session: {})",
        c.mqtt.url, c.mqtt.qos, !c.mqtt.clean_session
    );
    for r in validated.routes.routes() {
        println!(
            "  route {:<16} {:<14} filter {:<28} pattern {}",
            r.name,
            r.format.name(),
            r.filter,
            r.pattern.as_str()
        );
    }
    match &c.influx {
        Some(i) => println!(
            "  influx: {} ({:?}, batches of ≤{} points / ≤{} ms)",
            i.url, i.api, i.batch_max_points, i.batch_max_age_ms
        ),
        None => println!("  influx: not configured — history will NOT be stored"),
    }
    match (&c.influx, &c.spool) {
        (None, _) => {}
        (Some(_), Some(s)) => println!(
            "  history: durable — spooled to {} (≤ {} bytes, overflow {}, fsync {}) before the broker's ack",
            s.dir.display(),
            s.max_bytes,
            match s.overflow {
                collector::spool::Overflow::Block => "block",
                collector::spool::Overflow::DropOldest => "drop_oldest",
            },
            s.fsync
        ),
        (Some(_), None) => println!(
            "  history: NOT durable — no [spool]: queued in memory, a crash or a long InfluxDB outage loses it"
        ),
    }
    println!("  exporter: http://{}/metrics", c.exporter.listen);
    Ok(ExitCode::SUCCESS)
}
