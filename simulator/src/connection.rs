//! One MQTT connection of the simulator: a rumqttc client, the task that
//! owns its event loop (counting acks and errors, reconnecting with
//! backoff), and a clean end (wait for acks, then disconnect). `schoolnet
//! simulate --connections N` opens N of them; [`super::publish`] assigns
//! each device to one, so a device's messages keep their order.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};

/// How long to wait for the broker at start, and for outstanding acks at the end.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests (publishes) queued per connection before `publish` waits: a
/// fast sender stays ahead of the event loop without unbounded memory.
const REQUEST_CHANNEL: usize = 16_384;

/// Splits `mqtt://host:port` (also `tcp://…` or bare `host[:port]`, port
/// default 1883) into host and port.
pub fn parse_broker(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = match url.split_once("://") {
        Some(("mqtt" | "tcp", rest)) => rest,
        Some((scheme, _)) => {
            bail!("broker URL `{url}`: scheme `{scheme}` is not supported (use mqtt://host:port)")
        }
        None => url,
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        bail!("broker URL `{url}` is not of the form mqtt://host:port");
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, tail) = v6
            .split_once(']')
            .with_context(|| format!("broker URL `{url}`: unclosed `[`"))?;
        (host, tail.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        bail!("broker URL `{url}` has no host");
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .with_context(|| format!("broker URL `{url}`: `{p}` is not a port"))?,
        None => 1883,
    };
    Ok((host.to_string(), port))
}

pub fn qos_of(qos: u8) -> anyhow::Result<QoS> {
    Ok(match qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        n => bail!("QoS must be 0, 1 or 2, not {n}"),
    })
}

/// Counters shared with the event-loop task.
#[derive(Debug, Default)]
pub struct Shared {
    pub connected: AtomicBool,
    /// PUBACKs (QoS 1) / PUBCOMPs (QoS 2) received.
    pub acked: AtomicU64,
    /// Publish packets written to the socket.
    pub written: AtomicU64,
    /// Connection errors (each logged).
    pub errors: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    pub stop: AtomicBool,
}

async fn drive(mut eventloop: EventLoop, shared: Arc<Shared>, broker: String) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(%broker, session_present = ack.session_present, "simulator connected");
                shared.connected.store(true, Ordering::SeqCst);
                backoff = Duration::from_millis(100);
            }
            Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_))) => {
                shared.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Outgoing(Outgoing::Publish(_))) => {
                shared.written.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => break,
            Err(e) => {
                shared.connected.store(false, Ordering::SeqCst);
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                shared.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%broker, error = %e, retry_in_ms = backoff.as_millis() as u64, "simulator MQTT connection error");
                *shared.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The client, the task driving its event loop and what that task counts.
pub struct Connection {
    pub client: AsyncClient,
    pub shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Connection {
    /// Starts connecting to `broker` as `client_id` (see [`Connection::wait_connected`]).
    pub fn open(broker: &str, client_id: &str) -> anyhow::Result<Connection> {
        let (host, port) = parse_broker(broker)?;
        let mut mqtt = MqttOptions::new(client_id, host, port);
        mqtt.set_keep_alive(Duration::from_secs(30))
            // A persistent session lets unacked QoS 1 publishes survive a reconnect.
            .set_clean_session(false)
            .set_inflight(1000)
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, eventloop) = AsyncClient::new(mqtt, REQUEST_CHANNEL);
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(drive(eventloop, shared.clone(), broker.to_string()));
        Ok(Connection {
            client,
            shared,
            task,
        })
    }

    /// Waits for the first CONNACK; `false` if `shutdown` came first.
    pub async fn wait_connected(
        &self,
        broker: &str,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> anyhow::Result<bool> {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        while !self.shared.connected.load(Ordering::SeqCst) {
            if Instant::now() >= deadline {
                self.shared.stop.store(true, Ordering::SeqCst);
                self.task.abort();
                let why = self
                    .shared
                    .last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                bail!(
                    "cannot connect to MQTT broker {} within {}s: {}",
                    broker,
                    CONNECT_TIMEOUT.as_secs(),
                    why.unwrap_or_else(|| "no answer".into())
                );
            }
            tokio::select! {
                biased;
                _ = &mut *shutdown => {
                    self.shared.stop.store(true, Ordering::SeqCst);
                    self.task.abort();
                    return Ok(false);
                }
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        Ok(true)
    }

    /// Waits for the broker to acknowledge the `sent` messages (or, at QoS
    /// 0, for them to be written), then disconnects; returns (acked,
    /// errors: connection errors + messages left unacknowledged).
    pub async fn close(self, qos: QoS, sent: u64) -> (u64, u64) {
        let shared = &self.shared;
        let confirmed = || {
            if qos == QoS::AtMostOnce {
                shared.written.load(Ordering::Relaxed)
            } else {
                shared.acked.load(Ordering::Relaxed)
            }
        };
        let ack_deadline = Instant::now() + ACK_TIMEOUT;
        while confirmed() < sent && Instant::now() < ack_deadline && !self.task.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let acked = confirmed();
        let unacked = sent.saturating_sub(acked);
        if unacked > 0 {
            tracing::error!(
                unacked,
                sent = sent,
                "simulator: messages not acknowledged by the broker"
            );
        }
        shared.stop.store(true, Ordering::SeqCst);
        match tokio::time::timeout(Duration::from_secs(2), self.client.disconnect()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "simulator: disconnect request failed"),
            Err(_) => tracing::warn!("simulator: disconnect request timed out"),
        }
        drop(self.client);
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(2), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
        (
            acked.min(sent),
            shared.errors.load(Ordering::Relaxed) + unacked,
        )
    }
}
