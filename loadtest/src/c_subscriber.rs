//! The limit: `mosquitto_sub` (the C client from mosquitto-clients)
//! subscribed to `#` at the run's QoS, printing one short line per message
//! (`-F %t`, the topic), counted by the harness from its stdout. Nothing
//! receives faster through this broker on this machine, so every other
//! consumer's rate is also given as a ratio to it.
//!
//! mosquitto_sub has no "subscribed" signal; [`CSubscriber::start`]
//! publishes a probe on [`READY_TOPIC`] until a line comes out, and the
//! counter leaves the probe lines out.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::mqtt_wire;

pub const MOSQUITTO_SUB_BIN: &str = "mosquitto_sub";
const READY_TOPIC: &[u8] = b"schoolnet-load/ready";

/// A running `mosquitto_sub` and its live message count.
pub struct CSubscriber {
    child: tokio::process::Child,
    count: Arc<AtomicU64>,
    reader: tokio::task::JoinHandle<()>,
}

impl CSubscriber {
    /// Starts `mosquitto_sub` on `broker` (host, port) and returns once it
    /// is subscribed.
    pub async fn start(host: &str, port: u16, qos: u8) -> anyhow::Result<CSubscriber> {
        let mut child = tokio::process::Command::new(MOSQUITTO_SUB_BIN)
            .args(["-h", host, "-p", &port.to_string(), "-t", "#", "-F", "%t"])
            .args(["-q", &qos.to_string(), "-i"])
            .arg(format!("schoolnet-load-c-{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {MOSQUITTO_SUB_BIN} (package mosquitto-clients; run scripts/setup-test-deps.sh)"
                )
            })?;
        let mut stdout = child.stdout.take().context("mosquitto_sub stdout")?;
        let count = Arc::new(AtomicU64::new(0));
        let probes_seen = Arc::new(AtomicU64::new(0));
        let reader = {
            let (count, probes_seen) = (count.clone(), probes_seen.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 256 * 1024];
                let mut line_start = true;
                let mut probe_match = 0usize; // bytes of READY_TOPIC matched at line start
                loop {
                    let n = match stdout.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let mut lines = 0u64;
                    let mut probes = 0u64;
                    for &b in &buf[..n] {
                        if b == b'\n' {
                            if probe_match == READY_TOPIC.len() {
                                probes += 1;
                            } else {
                                lines += 1;
                            }
                            line_start = true;
                            probe_match = 0;
                            continue;
                        }
                        if line_start || probe_match > 0 {
                            probe_match = if READY_TOPIC.get(probe_match) == Some(&b) {
                                probe_match + 1
                            } else {
                                usize::MAX / 2 // not a probe line
                            };
                        }
                        line_start = false;
                    }
                    count.fetch_add(lines, Ordering::Relaxed);
                    probes_seen.fetch_add(probes, Ordering::Relaxed);
                }
            })
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while probes_seen.load(Ordering::Relaxed) == 0 {
            if Instant::now() > deadline {
                bail!("{MOSQUITTO_SUB_BIN} did not receive a probe within 20 s");
            }
            if let Some(status) = child.try_wait()? {
                bail!("{MOSQUITTO_SUB_BIN} exited early: {status}");
            }
            publish_probe(host, port).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(CSubscriber {
            child,
            count,
            reader,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Messages printed so far (probes left out).
    pub fn received(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        self.reader.abort();
    }
}

/// One QoS 0 message on [`READY_TOPIC`] through its own connection.
async fn publish_probe(host: &str, port: u16) -> anyhow::Result<()> {
    let mut s = TcpStream::connect((host, port)).await?;
    s.write_all(&mqtt_wire::connect("schoolnet-load-probe", 10))
        .await?;
    let mut buf = [0u8; 16];
    let mut got = 0;
    while mqtt_wire::parse(&buf[..got])?.is_none() {
        let n = s.read(&mut buf[got..]).await?;
        if n == 0 {
            bail!("broker closed the probe connection");
        }
        got += n;
    }
    let mut out = Vec::new();
    let topic = std::str::from_utf8(READY_TOPIC).expect("ASCII");
    mqtt_wire::put_publish(&mut out, topic, b"", 0, false, None);
    out.extend_from_slice(&mqtt_wire::DISCONNECT);
    s.write_all(&out).await?;
    Ok(())
}
