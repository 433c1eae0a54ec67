//! The physical limit: a plain MQTT subscriber that only counts what the
//! broker delivers. It uses rumqttc, the client library the collector uses,
//! with the same inflight and packet settings and no work per message, so
//! `collector rate / baseline rate` is what the collector's own work costs
//! on the same broker, the same simulator stream and the same cores.
//!
//! It runs as a child process (`schoolnet-load subscribe`), so its CPU and
//! memory are measured from /proc like the collector's. It prints `ready`
//! once subscribed, then at the end one JSON line with its samples of
//! (seconds, messages received) every [`SAMPLE_EVERY`].
//!
//! With `--connections N` (the harness's `--consumer-connections`, issue
//! #21 D) it opens N connections whose filters split the sample
//! inventory's devices between them, each device on one connection
//! ([`intake_filters`]), on one runtime thread per connection up to the
//! number of cores (one when pinned), and counts over all of them: whether intake over
//! several connections raises the rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeFilter};
use serde::{Deserialize, Serialize};
use testkit::ChildProcess;

/// How often the subscriber samples its counter (the same interval the
/// harness polls the collector's `/metrics` at).
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// The subscriber gives up when nothing at all arrived for this long.
const NOTHING_ARRIVED: Duration = Duration::from_secs(600);

/// What `schoolnet-load subscribe` prints at the end.
#[derive(Debug, Serialize, Deserialize)]
pub struct SubscriberReport {
    pub received: u64,
    /// Its own user + system CPU seconds and peak RSS (`getrusage`): it has
    /// exited by the time the harness could read /proc.
    pub cpu_s: f64,
    pub peak_rss_mib: f64,
    /// (seconds since the subscriber started, messages received by then).
    pub samples: Vec<(f64, u64)>,
}

#[derive(Debug, clap::Args)]
pub struct SubscribeArgs {
    /// mqtt://host:port
    #[arg(long)]
    pub broker: String,
    #[arg(long, default_value_t = 1)]
    pub qos: u8,
    /// Exit after this many messages.
    #[arg(long)]
    pub expect: u64,
    /// Also exit when nothing arrived for this long after the first message.
    #[arg(long, default_value_t = 3.0)]
    pub idle_exit_s: f64,
    /// MQTT connections: 1 subscribes to `#`; more split the sample
    /// inventory's devices over them ([`intake_filters`]).
    #[arg(long, default_value_t = 1)]
    pub connections: u32,
    /// Runtime threads (at most one per core): the harness gives one per
    /// connection, or 1 with `--pin`, where the subscriber has one core
    /// and a second thread there only adds switches.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// The filter set of each of `connections` intake connections: `#` for
/// one; for more, the built-in routes' filters for each device of the
/// sample inventory (`collector::shard::device_filters`), each device on
/// exactly one connection chosen by rendezvous hashing of its id, so one
/// device's messages keep their order while the connections share the
/// load. The topics carry no level above the device (district, school,
/// bucket) a wildcard could split on, so the broker holds devices × routes
/// filters instead of the routes' 10.
pub fn intake_filters(connections: u32) -> anyhow::Result<Vec<Vec<String>>> {
    if connections <= 1 {
        return Ok(vec![vec!["#".to_string()]]);
    }
    let dir = crate::collector::inventory_dir();
    let inventory =
        collector::inventory::Inventory::load(&dir.join("schools.csv"), &dir.join("devices.csv"))?;
    let routes = collector::config::compile_routes(&collector::config::default_routes())?;
    let mut buckets = vec![Vec::new(); connections as usize];
    for device in inventory.devices() {
        let i = collector::shard::plan::unknown_device_owner(&device.id, connections);
        buckets[i as usize].push(device.clone());
    }
    Ok(buckets
        .iter()
        .map(|devices| collector::shard::device_filters(&routes, devices))
        .collect())
}

/// `schoolnet-load subscribe`: subscribes (to `#`, or split over
/// `--connections`) and counts.
pub async fn subscribe(args: SubscribeArgs) -> anyhow::Result<()> {
    let rest = args.broker.trim_start_matches("mqtt://");
    let (host, port) = rest
        .rsplit_once(':')
        .context("broker must be mqtt://host:port")?;
    let port: u16 = port.parse()?;
    let qos = if args.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let count = Arc::new(AtomicU64::new(0));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(16);
    let mut connections = tokio::task::JoinSet::new();
    for (i, filters) in intake_filters(args.connections)?.into_iter().enumerate() {
        let mut opts = MqttOptions::new(format!("baseline-{}-{i}", std::process::id()), host, port);
        // As the collector: 1 MiB incoming packets, 1000 inflight, 30 s keep-alive.
        opts.set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(1024 * 1024, 64 * 1024)
            .set_inflight(1000);
        connections.spawn(count_on_one_connection(
            opts,
            filters,
            qos,
            count.clone(),
            ready_tx.clone(),
        ));
    }
    drop(ready_tx);
    for _ in 0..args.connections.max(1) {
        ready_rx
            .recv()
            .await
            .context("a baseline connection ended before it was subscribed")?;
    }
    println!("ready");
    let start = Instant::now();
    let mut samples = Vec::new();
    let idle = Duration::from_secs_f64(args.idle_exit_s);
    let (mut last, mut last_change) = (0, Instant::now());
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tick.tick().await;
        let n = count.load(Ordering::Relaxed);
        samples.push((start.elapsed().as_secs_f64(), n));
        if n != last {
            (last, last_change) = (n, Instant::now());
        }
        if n >= args.expect || (n > 0 && last_change.elapsed() > idle) {
            break;
        }
        if n == 0 && start.elapsed() > NOTHING_ARRIVED {
            bail!("baseline subscriber: no message in {NOTHING_ARRIVED:?}");
        }
        if let Some(done) = connections.try_join_next() {
            done??;
            bail!("a baseline connection stopped");
        }
    }
    connections.abort_all();
    let received = count.load(Ordering::Relaxed);
    samples.push((start.elapsed().as_secs_f64(), received));
    let (cpu_s, peak_rss_mib) = own_usage();
    let report = SubscriberReport {
        received,
        cpu_s,
        peak_rss_mib,
        samples,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// One connection: subscribes `filters` (200 per SUBSCRIBE, as the
/// collector), says so on `ready` once every SUBACK is in, then counts
/// every PUBLISH into `count`.
async fn count_on_one_connection(
    opts: MqttOptions,
    filters: Vec<String>,
    qos: QoS,
    count: Arc<AtomicU64>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> anyhow::Result<()> {
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    let mut pending_subacks = 0usize;
    loop {
        match eventloop
            .poll()
            .await
            .context("baseline subscriber: MQTT connection")?
        {
            Event::Incoming(Packet::ConnAck(_)) => {
                for chunk in filters.chunks(200) {
                    let many = chunk.iter().map(|f| SubscribeFilter::new(f.clone(), qos));
                    client.try_subscribe_many(many)?;
                    pending_subacks += 1;
                }
            }
            Event::Incoming(Packet::SubAck(_)) => {
                pending_subacks -= 1;
                if pending_subacks == 0 {
                    let _ = ready.send(()).await;
                }
            }
            Event::Incoming(Packet::Publish(_)) => {
                count.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// CPU seconds and peak RSS (MiB) of this process so far.
pub(crate) fn own_usage() -> (f64, f64) {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (f64::NAN, f64::NAN);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        secs(ru.ru_utime) + secs(ru.ru_stime),
        ru.ru_maxrss as f64 / 1024.0,
    )
}

/// The subscriber as a child of the harness, subscribed when returned.
pub async fn spawn(
    broker_url: &str,
    qos: u8,
    expect: u64,
    connections: usize,
    threads: usize,
) -> anyhow::Result<ChildProcess> {
    let exe = std::env::current_exe()?;
    let mut child = ChildProcess::builder(exe)
        .name("baseline-subscriber")
        .args(["subscribe", "--broker", broker_url, "--qos"])
        .arg(qos.to_string())
        .args(["--expect", &expect.to_string()])
        .args(["--connections", &connections.to_string()])
        .args(["--threads", &threads.to_string()])
        .spawn();
    child.wait_for_line("ready", Duration::from_secs(20)).await;
    Ok(child)
}

/// The report of a finished subscriber.
pub fn report_of(child: &ChildProcess) -> anyhow::Result<SubscriberReport> {
    let out = child.stdout();
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| {
            format!(
                "baseline subscriber printed no report:\n{}",
                child.log_tail()
            )
        })?;
    Ok(serde_json::from_str(line)?)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn intake_filters_put_each_device_on_exactly_one_connection() {
        assert_eq!(intake_filters(1).unwrap(), vec![vec!["#".to_string()]]);
        let all: HashSet<String> = intake_filters(2).unwrap().concat().into_iter().collect();
        for n in [2u32, 4] {
            let split = intake_filters(n).unwrap();
            assert_eq!(split.len(), n as usize);
            let mut union = HashSet::new();
            for filters in &split {
                assert!(!filters.is_empty(), "{n} connections: one has no devices");
                for f in filters {
                    assert!(union.insert(f.clone()), "{f} on two connections");
                }
            }
            assert_eq!(union, all, "{n} connections cover the same filters");
            // Every filter names its device at the second level: one
            // device's filters, all routes, on one connection.
            let mut device_connection = std::collections::HashMap::new();
            for (i, filters) in split.iter().enumerate() {
                for f in filters {
                    let device = f.split('/').nth(1).unwrap();
                    assert_ne!(device, "+", "{f}");
                    let first = *device_connection.entry(device.to_string()).or_insert(i);
                    assert_eq!(first, i, "{device} on connections {first} and {i}");
                }
            }
            let dir = crate::collector::inventory_dir();
            let inventory = collector::inventory::Inventory::load(
                &dir.join("schools.csv"),
                &dir.join("devices.csv"),
            )
            .unwrap();
            assert_eq!(device_connection.len(), inventory.devices().len());
        }
    }
}
