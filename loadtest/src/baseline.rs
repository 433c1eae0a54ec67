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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::{Deserialize, Serialize};
use testkit::ChildProcess;

/// How often the subscriber samples its counter (the same interval the
/// harness polls the collector's `/metrics` at).
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

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
}

/// `schoolnet-load subscribe`: subscribes to `#` and counts.
pub async fn subscribe(args: SubscribeArgs) -> anyhow::Result<()> {
    let rest = args.broker.trim_start_matches("mqtt://");
    let (host, port) = rest
        .rsplit_once(':')
        .context("broker must be mqtt://host:port")?;
    let mut opts = MqttOptions::new(
        format!("baseline-{}", std::process::id()),
        host,
        port.parse()?,
    );
    // As the collector: 1 MiB incoming packets, 1000 inflight, 30 s keep-alive.
    opts.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_max_packet_size(1024 * 1024, 64 * 1024)
        .set_inflight(1000);
    let qos = if args.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (count, samples) = (count.clone(), samples.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tick.tick().await;
                let s = (start.elapsed().as_secs_f64(), count.load(Ordering::Relaxed));
                samples.lock().unwrap_or_else(|p| p.into_inner()).push(s);
            }
        })
    };
    let mut last_msg: Option<Instant> = None;
    let idle = Duration::from_secs_f64(args.idle_exit_s);
    loop {
        let wait = last_msg.map_or(Duration::from_secs(600), |t| {
            idle.saturating_sub(t.elapsed())
        });
        let event = match tokio::time::timeout(wait, eventloop.poll()).await {
            Err(_) => break,
            Ok(e) => e.context("baseline subscriber: MQTT connection")?,
        };
        match event {
            Event::Incoming(Packet::ConnAck(_)) => client.subscribe("#", qos).await?,
            Event::Incoming(Packet::SubAck(_)) => println!("ready"),
            Event::Incoming(Packet::Publish(_)) => {
                last_msg = Some(Instant::now());
                if count.fetch_add(1, Ordering::Relaxed) + 1 >= args.expect {
                    break;
                }
            }
            _ => {}
        }
    }
    let received = count.load(Ordering::Relaxed);
    sampler.abort();
    let mut samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
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
pub async fn spawn(broker_url: &str, qos: u8, expect: u64) -> anyhow::Result<ChildProcess> {
    let exe = std::env::current_exe()?;
    let mut child = ChildProcess::builder(exe)
        .name("baseline-subscriber")
        .args(["subscribe", "--broker", broker_url, "--qos"])
        .arg(qos.to_string())
        .args(["--expect", &expect.to_string()])
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
