//! `schoolnet-load`: schoolnet's end-to-end load harness.
//!
//! Starts real servers on loopback (testkit: mosquitto, VictoriaMetrics or
//! InfluxDB 1.x), runs `schoolnet run` (the release binary next to this
//! one) and drives it with `schoolnet simulate --rate 0` for a fixed count,
//! (or with its own pre-encoded generator, `publish`, the default), then
//! prints one table from the same run: `mosquitto_sub`'s rate through the
//! same broker (the limit), the rumqttc counting subscriber's, the
//! collector's sustained rate at QoS 0 and QoS 1 with and without the
//! spool, their ratios to `mosquitto_sub`, the generator's own rate and
//! how busy the broker was,
//! publish → `/metrics` and publish → database latency at 1,000 msg/s,
//! CPU seconds per million messages and peak RSS; optionally Node-RED as a
//! peer, the demo's RSS and a soak. See docs/performance.md.
//!
//! Modules: [`throughput`] (one rate measurement), [`generator`] (the
//! `publish` subcommand) and [`mqtt_wire`] (its framing), [`c_subscriber`]
//! (`mosquitto_sub`), [`baseline`] (the rumqttc subscriber, also the
//! `subscribe` subcommand), [`collector`], [`peer`]
//! (Node-RED), [`latency`], [`memory`] (soak, demo), [`writer`] (the
//! InfluxDB writer behind a slow database), [`servers`],
//! [`procstat`] (/proc), [`pin`] (`--pin`), [`report`], [`stats`].

mod baseline;
mod c_subscriber;
mod collector;
mod generator;
mod latency;
mod memory;
mod mqtt_wire;
mod peer;
mod pin;
mod procstat;
mod report;
mod servers;
mod stats;
mod throughput;
mod writer;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use servers::{BrokerTuning, Db, DbKind};
use throughput::{ConsumerKind, GeneratorKind, RunContext};

#[derive(Debug, Parser)]
#[command(
    name = "schoolnet-load",
    about = "schoolnet's end-to-end load harness (see docs/performance.md)",
    // A later --count overrides an earlier one (scripts/bench-ceiling.sh
    // puts its defaults first).
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Internal: the baseline subscriber (counts messages, prints JSON).
    Subscribe(baseline::SubscribeArgs),
    /// The load generator: the simulator's stream pre-encoded, published
    /// over N parallel raw MQTT connections as fast as the broker accepts.
    Publish(generator::PublishArgs),
    /// The InfluxDB writer alone behind a delaying proxy (200 ms, 5 s):
    /// points/s drained with 1 and 4 writes in flight, and intake while it
    /// lags. See docs/performance.md.
    Writer(writer::WriterArgs),
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Messages the generator publishes per throughput run.
    #[arg(long, default_value_t = 200_000)]
    count: u64,
    /// Runs per consumer and QoS; the table shows medians.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// QoS levels to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [0u8, 1])]
    qos: Vec<u8>,
    /// Where history is written in the throughput runs and the soak.
    #[arg(long, value_enum, default_value_t = DbKind::Victoria)]
    db: DbKind,
    /// mosquitto's max_inflight_messages (its default is 20).
    #[arg(long, default_value_t = 1000)]
    max_inflight: u32,
    /// What publishes the load: raw (pre-encoded, --connections parallel
    /// raw MQTT connections) or simulate (`schoolnet simulate --rate 0
    /// --connections N`, rumqttc; with --connections 1 the generator used
    /// before issue #21).
    #[arg(long, value_enum, default_value_t = GeneratorKind::Raw)]
    generator: GeneratorKind,
    /// Parallel connections of the generator (default: one per core).
    #[arg(long)]
    connections: Option<usize>,
    /// Publish at this rate, msg/s, instead of as fast as the broker
    /// accepts (0): CPU per message compared at one rate (the spool's cost,
    /// issue #21 C). Needs `--generator simulate`, which paces.
    #[arg(long, default_value_t = 0.0)]
    publish_rate: f64,
    /// Measure only these consumers (default: all; node-red needs --peer).
    #[arg(long, value_enum, value_delimiter = ',')]
    consumers: Option<Vec<ConsumerKind>>,
    /// MQTT connections the rumqttc subscriber's intake is split over, each
    /// device's topics on exactly one (issue #21 D); a list runs each
    /// variant in every repeat, interleaved (e.g. 1,2,4). Other consumers
    /// keep one connection.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize])]
    consumer_connections: Vec<usize>,
    /// Pin the broker to core 0 and the consumer to core 1 (taskset-like;
    /// the generator and the database stay unpinned).
    #[arg(long)]
    pin: bool,
    /// Also measure a peer: node-red (installed by scripts/setup-node-red.sh).
    #[arg(long, value_parser = ["node-red"])]
    peer: Option<String>,
    /// Where Node-RED is installed (default: target/node-red).
    #[arg(long)]
    node_red_dir: Option<PathBuf>,
    /// Length of the latency phase in seconds (0: skip).
    #[arg(long, default_value_t = 60.0)]
    latency_secs: f64,
    /// Background load during the latency phase, msg/s.
    #[arg(long, default_value_t = 1000.0)]
    latency_rate: f64,
    /// Seconds `schoolnet demo` runs before its peak RSS is read (0: skip).
    #[arg(long, default_value_t = 45.0)]
    demo_secs: f64,
    /// Soak: run the production setup this long (e.g. 10m, 600s) and sample RSS.
    #[arg(long, value_parser = parse_duration)]
    soak: Option<f64>,
    /// Load during the soak, msg/s.
    #[arg(long, default_value_t = 5000.0)]
    soak_rate: f64,
    /// A quick run that checks the harness works (2,000 messages, one run,
    /// 3 s of latency, 3 s of demo); numbers are not meaningful.
    #[arg(long)]
    smoke: bool,
    /// Also write everything measured as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<f64, String> {
    let (num, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| c.is_alphabetic())
            .unwrap_or(s.trim().len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}`: expected e.g. 600s or 10m"))?;
    match unit {
        "" | "s" => Ok(n),
        "m" => Ok(n * 60.0),
        "h" => Ok(n * 3600.0),
        _ => Err(format!("`{s}`: unit must be s, m or h")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The generator and a subscriber with several connections run them in
    // parallel, one thread per core at most; everything else needs one
    // worker.
    let workers = match &cli.command {
        Some(Command::Publish(args)) => args
            .connections
            .unwrap_or_else(generator::default_connections)
            .clamp(1, generator::default_connections()),
        Some(Command::Subscribe(args)) => args.threads.clamp(1, generator::default_connections()),
        _ => 1,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(async {
        match cli.command {
            Some(Command::Subscribe(args)) => baseline::subscribe(args).await,
            Some(Command::Publish(args)) => generator::run(args).await,
            Some(Command::Writer(args)) => writer::run(args).await,
            None => bench(cli.bench).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("schoolnet-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(mut args: BenchArgs) -> anyhow::Result<()> {
    if args.smoke {
        args.count = 2_000;
        args.repeat = 1;
        args.latency_secs = args.latency_secs.min(3.0);
        args.demo_secs = args.demo_secs.min(3.0);
        args.soak = args.soak.map(|s| s.min(5.0));
    }
    if args.consumer_connections.contains(&0) {
        anyhow::bail!("--consumer-connections: every entry must be at least 1");
    }
    if args.publish_rate > 0.0 && args.generator != GeneratorKind::Simulate {
        anyhow::bail!(
            "--publish-rate needs --generator simulate (the raw generator does not pace)"
        );
    }
    let connections = args
        .connections
        .unwrap_or_else(generator::default_connections);
    let tuning = BrokerTuning {
        max_inflight_messages: args.max_inflight,
    };
    let node_red_dir = args.node_red_dir.clone().unwrap_or_else(peer::default_dir);
    let peer = match &args.peer {
        Some(_) => Some(format!(
            "Node-RED {}",
            peer::installed_version(&node_red_dir).with_context(|| format!(
                "Node-RED is not installed in {}: run scripts/setup-node-red.sh",
                node_red_dir.display()
            ))?
        )),
        None => None,
    };
    let work = tempfile::Builder::new()
        .prefix("schoolnet-load-")
        .tempdir_in(
            // On disk, not tmpfs: the spool's fsyncs must cost what they cost.
            collector::repo_root().join("target"),
        )?;
    eprintln!("starting {:?} ...", args.db);
    let db = Db::start(args.db).await;
    let ctx = RunContext {
        tuning,
        db: &db,
        work: work.path(),
        count: args.count,
        node_red_dir: peer.is_some().then_some(node_red_dir.as_path()),
        generator: args.generator,
        connections,
        pin: args.pin,
        target_rate: args.publish_rate,
    };
    let mut runs = Vec::new();
    for i in 0..args.repeat {
        for &qos in &args.qos {
            let mut consumers = vec![
                ConsumerKind::MosquittoSub,
                ConsumerKind::Baseline,
                ConsumerKind::Collector,
            ];
            // QoS 1 without the spool: what the spool costs (issue #21 C).
            if qos == 1 {
                consumers.push(ConsumerKind::CollectorNoSpool);
            }
            if peer.is_some() {
                consumers.push(ConsumerKind::NodeRed);
            }
            if let Some(only) = &args.consumers {
                consumers.retain(|k| only.contains(k));
            }
            let variants = consumers.iter().flat_map(|&kind| {
                let splits = if kind.splits_intake() {
                    args.consumer_connections.clone()
                } else {
                    vec![1]
                };
                splits.into_iter().map(move |n| (kind, n))
            });
            for (kind, n) in variants {
                eprint!(
                    "run {}/{} QoS {qos} {:?} ×{n} ... ",
                    i + 1,
                    args.repeat,
                    kind
                );
                let r = throughput::run(kind, qos, n, &ctx).await?;
                eprintln!(
                    "{:.0} msg/s ({} of {} received; generator {:.0} msg/s), {:.1} MiB; \
                     CPU s: consumer {:.2}, generator {:.2}, broker {:.2} ({:.0}% of a core), \
                     db {:.2}; machine busy {:.2} of {:.2}",
                    r.rate,
                    r.received,
                    r.sent,
                    r.publish_rate,
                    r.peak_rss_mib,
                    r.cpu_s,
                    r.sim_cpu_s,
                    r.broker_cpu_s,
                    r.broker_core_share * 100.0,
                    r.db_cpu_s,
                    r.machine_busy_s,
                    r.machine_total_s
                );
                runs.push(r);
            }
        }
    }
    // The phases after the rates report a failure and go on, so one bad
    // phase (a full disk, a port race) does not throw the rates away.
    let latency = if args.latency_secs > 0.0 {
        eprintln!(
            "latency: {} s at {} msg/s ...",
            args.latency_secs, args.latency_rate
        );
        latency::run(tuning, args.latency_secs, args.latency_rate)
            .await
            .map_err(|e| eprintln!("latency phase failed: {e:#}"))
            .ok()
    } else {
        None
    };
    let demo_peak_rss_mib = if args.demo_secs > 0.0 {
        eprintln!("demo: {} s ...", args.demo_secs);
        memory::demo_peak_rss(work.path(), args.demo_secs)
            .await
            .map_err(|e| eprintln!("demo phase failed: {e:#}"))
            .ok()
    } else {
        None
    };
    let soak = match args.soak {
        Some(secs) => {
            eprintln!("soak: {secs} s at {} msg/s ...", args.soak_rate);
            memory::soak(tuning, &db, work.path(), secs, args.soak_rate)
                .await
                .map_err(|e| eprintln!("soak failed: {e:#}"))
                .ok()
        }
        None => None,
    };
    let report = report::Report {
        machine: report::Machine::probe(),
        commit: report::commit(),
        generator: match args.generator {
            GeneratorKind::Raw => format!(
                "schoolnet-load publish --connections {connections} (pre-encoded, raw MQTT)"
            ),
            GeneratorKind::Simulate => {
                format!("schoolnet simulate --rate 0 --connections {connections} (rumqttc)")
            }
        },
        pinned: args.pin,
        broker: tuning.describe(),
        database: db.describe().to_string(),
        count: args.count,
        repeat: args.repeat,
        rows: report::rows(&runs),
        runs,
        peer,
        latency,
        demo_peak_rss_mib,
        soak,
    };
    report.print(&mut std::io::stdout())?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
