//! The `run`, `check-config`, `simulate` and `availability` subcommands
//! (`demo` has its own module because it also embeds a broker).

mod availability;
pub mod query;
mod simulate;
pub mod spool;

use std::process::ExitCode;

use anyhow::Context;
use collector::config::Config;

use crate::cli::{CheckConfigArgs, RunArgs};
pub use availability::availability;
pub use simulate::simulate;

/// `schoolnet run --config FILE`
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let validated = Config::load(&args.config)
        .and_then(Config::validate)
        .with_context(|| format!("config {}", args.config.display()))?;
    let shutdown = crate::shutdown::on_signals();
    crate::app::run(validated, shutdown, None, Some(args.config.clone())).await?;
    Ok(ExitCode::SUCCESS)
}

/// `schoolnet check-config FILE`: everything `run` checks before connecting.
pub fn check_config(args: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let validated = match Config::load(&args.config).and_then(Config::validate) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{}: INVALID\n  {e}", args.config.display());
            return Ok(ExitCode::from(2));
        }
    };
    let c = &validated.config;
    println!("{}: OK", args.config.display());
    println!(
        "  inventory: {} schools in {} districts, {} devices",
        validated.inventory.schools().len(),
        validated.inventory.districts().len(),
        validated.inventory.devices().len()
    );
    let mut client_id = c.mqtt.client_id.clone();
    if c.shard.is_sharded() {
        let p = collector::shard::partition(&validated.inventory, c.shard);
        let filters = collector::shard::device_filters(&validated.routes, p.owned.devices());
        println!(
            "  shard: instance {} of {} (0-based) owns {} schools, {} devices, {} of {} failure domains; {} topic filters",
            c.shard.index,
            c.shard.count,
            p.owned.schools().len(),
            p.owned.devices().len(),
            p.domains_owned,
            p.domains_total,
            filters.len()
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
