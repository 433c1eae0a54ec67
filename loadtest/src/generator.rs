//! The load generator that saturates the broker (`schoolnet-load publish`):
//! the fleet simulator's own stream, pre-encoded, written by N parallel
//! MQTT connections with minimal work per message.
//!
//! 1. **Prepare** (not timed): the simulator's [`Fleet`] (216-school
//!    sample, all five formats) is drained with `next_tick`, exactly as
//!    `schoolnet simulate --rate 0` drains it, for `--count` messages. Each
//!    device is assigned to one connection (first-seen order, round-robin),
//!    so a device's messages keep their order and its counters and
//!    timestamps only increase, as the collector's plausibility rules
//!    expect. Every message is framed once as an MQTT PUBLISH into its
//!    connection's contiguous buffer (QoS 1: packet ids 1..=65535 in turn).
//! 2. **Publish** (timed): all connections connect, wait at a barrier, then
//!    each writes runs of `--batch` pre-framed messages with one `write`
//!    each. At QoS 1 a reader task counts PUBACKs and a semaphore keeps at
//!    most `--window` messages unacknowledged per connection; the phase
//!    ends when every message is acknowledged. At QoS 0 it ends when the
//!    broker, having read everything before the DISCONNECT that follows
//!    the last message, closes the connection. The phase runs from the
//!    first connection's start to the last connection's end.
//!
//! It prints nothing on success; `--report-json` gets the same `sent` and
//! `elapsed` fields `schoolnet simulate --report-json` writes, plus the
//! publish phase's own CPU seconds and the preparation time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use serde::Serialize;
use simulator::{Fleet, FleetOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Barrier, Semaphore};

use crate::mqtt_wire::{self, PUBACK};

/// More than this many pre-framed messages would not fit in memory
/// comfortably (~200 bytes each).
const MAX_COUNT: u64 = 5_000_000;
/// How long to wait for the broker's last PUBACKs.
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, clap::Args)]
pub struct PublishArgs {
    /// mqtt://host:port
    #[arg(long)]
    pub broker: String,
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// Messages to publish in total.
    #[arg(long)]
    pub count: u64,
    /// Parallel MQTT connections (default: one per core).
    #[arg(long)]
    pub connections: Option<usize>,
    /// QoS 1: unacknowledged messages allowed per connection.
    #[arg(long, default_value_t = 2000)]
    pub window: usize,
    /// Messages per socket write.
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Fleet seed (as `schoolnet simulate --seed`).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub report_json: Option<std::path::PathBuf>,
}

/// What `--report-json` holds.
#[derive(Debug, Serialize)]
pub struct PublishReport {
    pub sent: u64,
    /// PUBACKs at QoS 1; at QoS 0 the messages written to the sockets.
    pub acked: u64,
    /// Seconds of the publish phase.
    pub elapsed: f64,
    pub connections: usize,
    pub qos: u8,
    /// Seconds spent generating and framing before the publish phase.
    pub prepare_s: f64,
    /// This process's CPU seconds during the publish phase only.
    pub publish_cpu_s: f64,
}

pub fn default_connections() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// One connection's pre-framed messages: `ends[i]` is where message `i`
/// ends in `bytes`.
#[derive(Debug, Default)]
struct Frames {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

/// Drains the fleet for `count` messages and frames them per connection.
fn prepare(args: &PublishArgs, connections: usize) -> anyhow::Result<Vec<Frames>> {
    let inventory = simulator::sample_inventory().context("sample inventory")?;
    let mut fleet = Fleet::new(
        &inventory,
        FleetOptions {
            schools: None,
            seed: args.seed,
            start: SystemTime::now(),
        },
    );
    let mut frames: Vec<Frames> = (0..connections).map(|_| Frames::default()).collect();
    let mut conn_of: std::collections::HashMap<Arc<str>, usize> = Default::default();
    let mut next_id = vec![0u16; connections];
    let mut made = 0u64;
    let mut empty_ticks = 0usize;
    while made < args.count {
        let msgs = fleet.next_tick(SystemTime::now());
        if msgs.is_empty() {
            empty_ticks += 1;
            if empty_ticks > fleet.device_count() * 2 {
                bail!("the fleet stopped producing messages after {made}");
            }
            continue;
        }
        empty_ticks = 0;
        for m in msgs {
            if made == args.count {
                break;
            }
            let n = conn_of.len();
            let c = *conn_of.entry(m.device.clone()).or_insert(n % connections);
            let id = (args.qos > 0).then(|| {
                next_id[c] = next_id[c] % u16::MAX + 1;
                next_id[c]
            });
            let f = &mut frames[c];
            mqtt_wire::put_publish(&mut f.bytes, &m.topic, &m.payload, args.qos, m.retain, id);
            f.ends.push(f.bytes.len());
            made += 1;
        }
    }
    Ok(frames)
}

/// `schoolnet-load publish`.
pub async fn run(args: PublishArgs) -> anyhow::Result<()> {
    if args.count == 0 || args.count > MAX_COUNT {
        bail!("--count must be 1..={MAX_COUNT}, not {}", args.count);
    }
    let connections = args.connections.unwrap_or_else(default_connections).max(1);
    if args.window == 0 || args.window >= u16::MAX as usize || args.batch == 0 {
        bail!("--window must be 1..65535 and --batch at least 1");
    }
    let batch = args.batch.min(args.window);
    let addr = args.broker.trim_start_matches("mqtt://").to_string();
    let t_prepare = Instant::now();
    let frames = prepare(&args, connections)?;
    let prepare_s = t_prepare.elapsed().as_secs_f64();

    let barrier = Arc::new(Barrier::new(connections + 1));
    let acked = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (i, f) in frames.into_iter().enumerate() {
        let conn = Conn {
            addr: addr.clone(),
            client_id: format!("schoolnet-load-gen-{}-{i}", std::process::id()),
            qos: args.qos,
            window: args.window,
            batch,
        };
        let (barrier, acked) = (barrier.clone(), acked.clone());
        tasks.push(tokio::spawn(
            async move { conn.run(f, &barrier, &acked).await },
        ));
    }
    let cpu0 = crate::baseline::own_usage().0;
    // Everyone connected (or failed: a failed task still reaches the barrier).
    barrier.wait().await;
    let mut sent = 0;
    let mut phase: Option<(Instant, Instant)> = None;
    for t in tasks {
        let (n, start, end) = t.await.context("connection task")??;
        sent += n;
        phase = Some(phase.map_or((start, end), |(s, e)| (s.min(start), e.max(end))));
    }
    let publish_cpu_s = crate::baseline::own_usage().0 - cpu0;
    let elapsed = phase.map_or(0.0, |(s, e)| (e - s).as_secs_f64());
    let report = PublishReport {
        sent,
        acked: acked.load(Ordering::Relaxed),
        elapsed,
        connections,
        qos: args.qos,
        prepare_s,
        publish_cpu_s,
    };
    if let Some(path) = &args.report_json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

struct Conn {
    addr: String,
    client_id: String,
    qos: u8,
    window: usize,
    batch: usize,
}

impl Conn {
    /// Connects, waits at `barrier`, writes every frame; returns the
    /// messages written (and, at QoS 1, acknowledged), and when this
    /// connection started writing and was done (see the module docs).
    async fn run(
        self,
        f: Frames,
        barrier: &Barrier,
        acked: &AtomicU64,
    ) -> anyhow::Result<(u64, Instant, Instant)> {
        let connected = self.connect().await;
        barrier.wait().await;
        let start = Instant::now();
        let (mut rd, mut wr) = connected?.into_split();
        let total = f.ends.len();
        let window = Arc::new(Semaphore::new(self.window));
        let mine = Arc::new(AtomicU64::new(0));
        // The reader: counts PUBACKs and reopens the window.
        let mut reader = {
            let (window, mine) = (window.clone(), mine.clone());
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(64 * 1024);
                let mut chunk = vec![0u8; 64 * 1024];
                loop {
                    let n = match rd.read(&mut chunk).await {
                        Ok(n) => n,
                        // A reset after our DISCONNECT is a close too.
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                        Err(e) => return Err(e.into()),
                    };
                    if n == 0 {
                        return anyhow::Ok(());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let mut used = 0;
                    let mut acks = 0;
                    while let Some((p, len)) = mqtt_wire::parse(&buf[used..])? {
                        if p.kind == PUBACK {
                            acks += 1;
                        }
                        used += len;
                    }
                    buf.drain(..used);
                    mine.fetch_add(acks, Ordering::Relaxed);
                    window.add_permits(acks as usize);
                }
            })
        };
        let mut next = 0;
        while next < total {
            let take = (total - next).min(self.batch);
            if self.qos > 0 {
                window.acquire_many(take as u32).await?.forget();
            }
            let start = if next == 0 { 0 } else { f.ends[next - 1] };
            wr.write_all(&f.bytes[start..f.ends[next + take - 1]])
                .await
                .with_context(|| format!("{}: writing to {}", self.client_id, self.addr))?;
            next += take;
        }
        if self.qos > 0 {
            let deadline = Instant::now() + ACK_TIMEOUT;
            while (mine.load(Ordering::Relaxed) as usize) < total {
                if Instant::now() > deadline || reader.is_finished() {
                    bail!(
                        "{}: {} of {total} messages acknowledged",
                        self.client_id,
                        mine.load(Ordering::Relaxed)
                    );
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        wr.write_all(&mqtt_wire::DISCONNECT).await?;
        if self.qos == 0 {
            // The broker closes the connection once it has read up to the
            // DISCONNECT, i.e. every message.
            tokio::time::timeout(ACK_TIMEOUT, &mut reader)
                .await
                .with_context(|| {
                    format!(
                        "{}: the broker did not close the connection",
                        self.client_id
                    )
                })?
                .context("reader task")??;
            mine.store(total as u64, Ordering::Relaxed);
        }
        let end = Instant::now();
        acked.fetch_add(mine.load(Ordering::Relaxed), Ordering::Relaxed);
        let _ = wr.shutdown().await;
        reader.abort();
        Ok((total as u64, start, end))
    }

    async fn connect(&self) -> anyhow::Result<TcpStream> {
        let mut s = TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        s.set_nodelay(true)?;
        s.write_all(&mqtt_wire::connect(&self.client_id, 60))
            .await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 64];
        loop {
            if let Some((p, _)) = mqtt_wire::parse(&buf)? {
                mqtt_wire::check_connack(&p)?;
                return Ok(s);
            }
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
                .await
                .context("no CONNACK within 10 s")??;
            if n == 0 {
                bail!("{} closed the connection before CONNACK", self.addr);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(count: u64, qos: u8) -> PublishArgs {
        PublishArgs {
            broker: "mqtt://127.0.0.1:1".into(),
            qos,
            count,
            connections: None,
            window: 2000,
            batch: 200,
            seed: 42,
            report_json: None,
        }
    }

    /// (topic, packet id) of every PUBLISH in one connection's buffer.
    fn publishes(f: &Frames) -> Vec<(String, Option<u16>)> {
        let mut out = Vec::new();
        let mut at = 0;
        for &end in &f.ends {
            let (p, len) = mqtt_wire::parse(&f.bytes[at..end]).unwrap().unwrap();
            assert_eq!(at + len, end, "one whole packet per message");
            assert_eq!(p.kind, mqtt_wire::PUBLISH);
            let qos = (f.bytes[at] >> 1) & 3;
            let tlen = u16::from_be_bytes([p.body[0], p.body[1]]) as usize;
            let topic = String::from_utf8(p.body[2..2 + tlen].to_vec()).unwrap();
            let id = (qos > 0).then(|| u16::from_be_bytes([p.body[2 + tlen], p.body[3 + tlen]]));
            out.push((topic, id));
            at = end;
        }
        out
    }

    #[test]
    fn every_device_stays_on_one_connection_and_ids_never_repeat_in_a_window() {
        let frames = prepare(&args(5_000, 1), 3).unwrap();
        assert_eq!(frames.iter().map(|f| f.ends.len()).sum::<usize>(), 5_000);
        let mut device_conn = std::collections::HashMap::new();
        for (c, f) in frames.iter().enumerate() {
            assert!(!f.ends.is_empty(), "connection {c} got no devices");
            let msgs = publishes(f);
            for (i, (topic, id)) in msgs.iter().enumerate() {
                // Topics are <prefix>/<device>/...: the device is the 2nd level.
                let device = topic.split('/').nth(1).unwrap().to_string();
                assert_eq!(*device_conn.entry(device).or_insert(c), c, "{topic}");
                assert_eq!(*id, Some((i % 65_535 + 1) as u16));
            }
        }
    }

    #[test]
    fn qos0_frames_carry_no_packet_id() {
        let frames = prepare(&args(300, 0), 1).unwrap();
        let msgs = publishes(&frames[0]);
        assert_eq!(msgs.len(), 300);
        assert!(msgs.iter().all(|(t, id)| id.is_none() && !t.is_empty()));
    }
}
