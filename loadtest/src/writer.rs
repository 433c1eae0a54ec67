//! `schoolnet-load writer`: the InfluxDB writer against a slow database.
//!
//! A real InfluxDB 1.x sits behind `testkit::DelayProxy`, which answers each
//! request a fixed time late (200 ms and 5 s by default). The writer is the
//! collector's own, wired as in production (`src/app/storage.rs`): a spool
//! (fsync off: the disk is not what is measured), its reader feeding the
//! `InfluxSink`, which acknowledges the spool — with the shipped batching
//! defaults (5,000 points, gzip) and `max_in_flight` 1 and 4.
//!
//! Two measurements per repeat:
//! - **drain**: a spool prefilled with enough records for a few rounds of
//!   writes is written out; points/s = points ÷ time from the writer's start
//!   to the cursor reaching the last record (start-up included).
//! - **intake**: with the 5 s delay, a producer appends at a fixed offered
//!   rate while the writer lags: the rate the spool accepted (unaffected
//!   until `max_bytes`, when `overflow = "block"` stops it), the rate
//!   written, and the backlog's growth.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use collector::metrics::PipelineMetrics;
use collector::sink::influx::{feed_from_spool, InfluxApi, InfluxConfig, InfluxSink};
use collector::spool::{Spool, SpoolConfig};
use testkit::{DelayProxy, InfluxDb1};
use tokio_util::sync::CancellationToken;

use crate::stats::median;

const SINK: &str = "influx";
const DB: &str = "bench";
/// Lines per spool record: one MQTT message's worth (a router's interfaces).
const LINES_PER_RECORD: u64 = 10;
/// The shipped default.
const BATCH_POINTS: usize = 5_000;
const SPOOL_MAX_BYTES: u64 = 1 << 30;
/// Drain sizing: the most points/s expected here (well above what was
/// measured on the 2-core VM), so a run without delay stays bounded.
const SIZING_POINTS_PER_S: f64 = 100_000.0;

#[derive(Debug, clap::Args)]
pub struct WriterArgs {
    /// Response delays of the proxy, in milliseconds.
    #[arg(long, value_delimiter = ',', default_values_t = [200u64, 5000])]
    delays_ms: Vec<u64>,
    /// `influx.max_in_flight` values to compare.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 4])]
    in_flight: Vec<usize>,
    /// Runs of each measurement; the table shows medians.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Drain: rounds of `max_in_flight` batches prefilled (at least).
    #[arg(long, default_value_t = 10)]
    rounds: u64,
    /// Drain: at least this many seconds of writing are prefilled.
    #[arg(long, default_value_t = 10.0)]
    min_secs: f64,
    /// Intake: offered rate in points/s (0: skip the intake measurement).
    #[arg(long, default_value_t = 20_000.0)]
    intake_rate: f64,
    /// Intake: seconds the producer runs.
    #[arg(long, default_value_t = 20.0)]
    intake_secs: f64,
}

pub async fn run(args: WriterArgs) -> anyhow::Result<()> {
    let influx = InfluxDb1::start().await;
    influx.create_database(DB).await;
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], influx.port));
    println!(
        "InfluxDB writer behind a delaying proxy: InfluxDB 1.x on loopback, batch {BATCH_POINTS} points, gzip, \
         spool (fsync off), {LINES_PER_RECORD} lines per record; {} core(s); medians of {} run(s)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.repeat
    );
    println!(
        "{:>8} {:>9} {:>10} {:>12} {:>12}  runs (points/s)",
        "delay", "in flight", "points", "points/s", "ceiling"
    );
    for &delay_ms in &args.delays_ms {
        let delay = Duration::from_millis(delay_ms);
        let proxy = DelayProxy::start(upstream, delay).await;
        for &in_flight in &args.in_flight {
            let ceiling = (in_flight * BATCH_POINTS) as f64 / delay.as_secs_f64().max(1e-3);
            // Sized for `min_secs` at the ceiling, but never beyond what a
            // 2-core machine writes in that time (no delay: no ceiling).
            let expected = ceiling.min(SIZING_POINTS_PER_S);
            let rounds = args
                .rounds
                .max((args.min_secs * expected / (in_flight * BATCH_POINTS) as f64).ceil() as u64);
            let points = rounds * (in_flight * BATCH_POINTS) as u64;
            let mut rates = Vec::new();
            for _ in 0..args.repeat {
                rates.push(drain(&proxy, in_flight, points).await?);
            }
            let runs: Vec<String> = rates.iter().map(|r| thousands(*r)).collect();
            println!(
                "{:>8} {:>9} {:>10} {:>12} {:>12}  {}",
                format!("{delay:?}"),
                in_flight,
                thousands(points as f64),
                thousands(median(&rates).unwrap_or(f64::NAN)),
                thousands(ceiling),
                runs.join(" ")
            );
        }
    }
    if args.intake_rate > 0.0 {
        let delay = Duration::from_millis(args.delays_ms.iter().copied().max().unwrap_or(5_000));
        let in_flight = args.in_flight.iter().copied().max().unwrap_or(4);
        let proxy = DelayProxy::start(upstream, delay).await;
        println!(
            "intake while the writer lags ({delay:?} responses, {in_flight} in flight, offered {} points/s for {} s):",
            thousands(args.intake_rate),
            args.intake_secs
        );
        for _ in 0..args.repeat {
            let r = intake(&proxy, in_flight, args.intake_rate, args.intake_secs).await?;
            println!(
                "  accepted {:>8} points/s, written {:>8} points/s, backlog +{:.1} MiB/s: spool bound ({} MiB) in ~{:.0} s",
                thousands(r.accepted),
                thousands(r.written),
                r.backlog_bytes_per_s / (1 << 20) as f64,
                SPOOL_MAX_BYTES >> 20,
                SPOOL_MAX_BYTES as f64 / r.backlog_bytes_per_s.max(1.0)
            );
        }
    }
    Ok(())
}

fn spool_config(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_path_buf(),
        max_bytes: SPOOL_MAX_BYTES,
        fsync: false,
        ..SpoolConfig::default()
    }
}

fn influx_config(url: String, in_flight: usize) -> InfluxConfig {
    InfluxConfig {
        url,
        api: InfluxApi::V1,
        database: DB.into(),
        max_in_flight: in_flight,
        ..InfluxConfig::default()
    }
}

/// A realistic interface line; `n` makes series and timestamps vary.
fn record(n: u64, out: &mut Vec<u8>) {
    out.clear();
    let school = n % 216;
    let ts = 1_750_000_000_000_000_000i64 + n as i64 * 1_000;
    for i in 0..LINES_PER_RECORD {
        use std::io::Write as _;
        let _ = writeln!(
            out,
            "interface,device=r{school:04}-{i},district=D{:02},interface=wan{i},role=router,school=s{school:04} \
             rx_bytes={}i,tx_bytes={}i,rx_bps={}.5,utilization=0.{:03} {}",
            school % 12,
            n * 1_000 + i,
            n * 700 + i,
            n % 100_000,
            n % 1000,
            ts + i as i64
        );
    }
}

struct Writer {
    stop: CancellationToken,
    feeder: tokio::task::JoinHandle<()>,
    sink: tokio::task::JoinHandle<()>,
    metrics: PipelineMetrics,
}

fn start_writer(spool: &Spool, config: InfluxConfig) -> anyhow::Result<Writer> {
    let metrics = PipelineMetrics::unregistered();
    let (tx, rx) = tokio::sync::mpsc::channel(config.queue_batches);
    let sink = InfluxSink::new(config, None, metrics.clone())
        .context("writer setup")?
        .acking(spool.clone(), SINK);
    let stop = CancellationToken::new();
    let feed = feed_from_spool(spool.clone(), SINK, tx, stop.clone());
    Ok(Writer {
        feeder: tokio::spawn(async move {
            if let Err(e) = feed.await {
                eprintln!("spool reader failed: {e}");
            }
        }),
        sink: tokio::spawn(sink.run(rx)),
        stop,
        metrics,
    })
}

impl Writer {
    async fn stop(self) {
        self.stop.cancel();
        let _ = self.feeder.await;
        let _ = self.sink.await;
    }
}

/// (records, bytes) not yet acknowledged.
fn backlog(spool: &Spool) -> anyhow::Result<(u64, u64)> {
    let status = spool.status()?;
    let sink = status.sinks.iter().find(|s| s.name == SINK);
    Ok(sink.map_or((0, 0), |s| (s.backlog_records, s.backlog_bytes)))
}

/// Prefills `points`, writes them out; points/s.
async fn drain(proxy: &DelayProxy, in_flight: usize, points: u64) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let (spool, _) = Spool::open(&spool_config(dir.path()), &[SINK])?;
    let mut buf = Vec::new();
    let records = points / LINES_PER_RECORD;
    for n in 0..records {
        record(n, &mut buf);
        spool.append(0, &buf).await?;
    }
    spool.commit().await?;
    let started = Instant::now();
    let writer = start_writer(&spool, influx_config(proxy.url(), in_flight))?;
    let timeout = Duration::from_secs(600);
    while backlog(&spool)?.0 > 0 {
        anyhow::ensure!(started.elapsed() < timeout, "not drained in {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed().as_secs_f64();
    let written = writer.metrics.influx_points_written.get();
    writer.stop().await;
    spool.close()?;
    anyhow::ensure!(written >= points, "wrote {written} of {points} points");
    Ok(points as f64 / took)
}

struct Intake {
    accepted: f64,
    written: f64,
    backlog_bytes_per_s: f64,
}

/// Offers `rate` points/s for `secs` while the writer lags.
async fn intake(
    proxy: &DelayProxy,
    in_flight: usize,
    rate: f64,
    secs: f64,
) -> anyhow::Result<Intake> {
    let dir = tempfile::tempdir()?;
    let (spool, _) = Spool::open(&spool_config(dir.path()), &[SINK])?;
    let writer = start_writer(&spool, influx_config(proxy.url(), in_flight))?;
    let bytes_before = backlog(&spool)?.1;
    let started = Instant::now();
    let records_per_s = rate / LINES_PER_RECORD as f64;
    let mut buf = Vec::new();
    let mut n = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while started.elapsed().as_secs_f64() < secs {
        tick.tick().await;
        // Catch up to the offered rate: the count due by now.
        let due = (started.elapsed().as_secs_f64() * records_per_s) as u64;
        while n < due {
            record(n, &mut buf);
            spool.append(0, &buf).await?;
            n += 1;
        }
        spool.commit().await?;
    }
    let took = started.elapsed().as_secs_f64();
    let written = writer.metrics.influx_points_written.get() as f64;
    let bytes_after = backlog(&spool)?.1;
    writer.sink.abort();
    writer.feeder.abort();
    let _ = writer.sink.await;
    let _ = writer.feeder.await;
    spool.close()?;
    Ok(Intake {
        accepted: (n * LINES_PER_RECORD) as f64 / took,
        written: written / took,
        backlog_bytes_per_s: bytes_after.saturating_sub(bytes_before) as f64 / took,
    })
}

fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let s = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
