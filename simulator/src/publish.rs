//! The MQTT side of the simulator: one rumqttc connection for the whole
//! fleet, a task that owns its event loop (counting acks and errors), pacing,
//! progress, and a clean end (wait for acks, then disconnect).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};

use super::fleet::{Fleet, SimMessage};
use super::report::SimulateReport;
use super::SimulateOptions;

/// How long to wait for the broker at start, and for outstanding acks at the end.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

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

fn qos_of(qos: u8) -> anyhow::Result<QoS> {
    Ok(match qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        n => bail!("QoS must be 0, 1 or 2, not {n}"),
    })
}

/// Spaces messages `1/rate` seconds apart on average. A sender that falls
/// more than a second behind forgets the backlog instead of bursting.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate: f64,
    origin: Instant,
    sent: u64,
}

impl Pacer {
    /// `rate` in messages per second, > 0.
    pub fn new(rate: f64, origin: Instant) -> Pacer {
        Pacer {
            rate,
            origin,
            sent: 0,
        }
    }

    /// When the next message may go.
    pub fn deadline(&self) -> Instant {
        self.origin + Duration::from_secs_f64(self.sent as f64 / self.rate)
    }

    /// How long to wait at `now` before sending the next message.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        let d = self.deadline();
        (d > now).then(|| d - now)
    }

    /// Records a message sent at `now`.
    pub fn sent(&mut self, now: Instant) {
        let late = now.saturating_duration_since(self.deadline());
        self.sent += 1;
        if late > Duration::from_secs(1) {
            // Re-anchor so the next message is due now, not in the past.
            let since = Duration::from_secs_f64(self.sent as f64 / self.rate);
            self.origin = now.checked_sub(since).unwrap_or(now);
        }
    }
}

/// Counters shared with the event-loop task.
#[derive(Debug, Default)]
struct Shared {
    connected: AtomicBool,
    /// PUBACKs (QoS 1) / PUBCOMPs (QoS 2) received.
    acked: AtomicU64,
    /// Publish packets written to the socket.
    written: AtomicU64,
    /// Connection errors (each logged).
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    stop: AtomicBool,
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

enum Mode {
    /// Every device at its inventory interval.
    Realtime,
    /// `rate` messages per second in total.
    Paced(Pacer),
    Fast,
}

/// Publishes `fleet` per `opts` until the duration or count is reached or
/// `shutdown` completes. See [`super::run_fleet`]. Three phases: connect
/// (a wrong address fails fast and clearly), send, and close (wait for the
/// broker's acks, then disconnect).
pub async fn publish(
    fleet: Fleet,
    opts: &SimulateOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<SimulateReport> {
    let qos = qos_of(opts.qos)?;
    check_options(&fleet, opts)?;
    tokio::pin!(shutdown);
    let started = Instant::now();
    let connection = Connection::open(opts)?;
    if !connection.wait_connected(opts, &mut shutdown).await? {
        return Ok(SimulateReport {
            elapsed: started.elapsed(),
            ..Default::default()
        });
    }
    let t0 = Instant::now();
    let mut sender = Sender::new(fleet, opts, t0);
    let publish_errors = sender
        .run(&connection.client, qos, &connection.shared, &mut shutdown)
        .await;
    let mut report = sender.report;
    connection.close(qos, &mut report).await;
    report.errors += publish_errors;
    report.elapsed = t0.elapsed();
    if opts.progress {
        eprintln!("{}", report.progress_line(report.rate()));
    }
    Ok(report)
}

fn check_options(fleet: &Fleet, opts: &SimulateOptions) -> anyhow::Result<()> {
    if let Some(rate) = opts.rate {
        if !(rate.is_finite() && rate >= 0.0) {
            bail!("rate must be a non-negative number of messages per second, not {rate}");
        }
    }
    if fleet.device_count() == 0 {
        bail!("nothing to simulate: the inventory selection has no routers, ONTs or OLTs");
    }
    Ok(())
}

/// The client, the task driving its event loop and what that task counts.
struct Connection {
    client: AsyncClient,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Connection {
    fn open(opts: &SimulateOptions) -> anyhow::Result<Connection> {
        let (host, port) = parse_broker(&opts.broker)?;
        let mut mqtt = MqttOptions::new(opts.client_id.clone(), host, port);
        mqtt.set_keep_alive(Duration::from_secs(30))
            // A persistent session lets unacked QoS 1 publishes survive a reconnect.
            .set_clean_session(false)
            .set_inflight(1000)
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, eventloop) = AsyncClient::new(mqtt, 4096);
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(drive(eventloop, shared.clone(), opts.broker.clone()));
        Ok(Connection {
            client,
            shared,
            task,
        })
    }

    /// Waits for the first CONNACK; `false` if `shutdown` came first.
    async fn wait_connected(
        &self,
        opts: &SimulateOptions,
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
                    opts.broker,
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

    /// Waits for the broker to acknowledge everything sent (or, at QoS 0,
    /// for it to be written), then disconnects; fills in `report`'s acks
    /// and errors.
    async fn close(self, qos: QoS, report: &mut SimulateReport) {
        let shared = &self.shared;
        let confirmed = || {
            if qos == QoS::AtMostOnce {
                shared.written.load(Ordering::Relaxed)
            } else {
                shared.acked.load(Ordering::Relaxed)
            }
        };
        let ack_deadline = Instant::now() + ACK_TIMEOUT;
        while confirmed() < report.sent && Instant::now() < ack_deadline && !self.task.is_finished()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let acked = confirmed();
        let unacked = report.sent.saturating_sub(acked);
        if unacked > 0 {
            tracing::error!(
                unacked,
                sent = report.sent,
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
        report.acked = acked.min(report.sent);
        report.errors = shared.errors.load(Ordering::Relaxed) + unacked;
    }
}

/// The send phase: takes messages from the fleet as they fall due (or as
/// fast as the pacing allows) and publishes them, printing progress.
struct Sender<'a> {
    fleet: Fleet,
    opts: &'a SimulateOptions,
    t0: Instant,
    sim_start: SystemTime,
    mode: Mode,
    buffer: VecDeque<SimMessage>,
    empty_ticks: usize,
    report: SimulateReport,
    last_progress: Instant,
    sent_at_last_progress: u64,
}

/// What to do after refilling an empty buffer.
enum Refill {
    Continue,
    Stop,
}

impl<'a> Sender<'a> {
    fn new(mut fleet: Fleet, opts: &'a SimulateOptions, t0: Instant) -> Sender<'a> {
        let sim_start = opts.start_time.unwrap_or_else(SystemTime::now);
        let mode = match opts.rate {
            None => Mode::Realtime,
            Some(0.0) => Mode::Fast,
            Some(r) => Mode::Paced(Pacer::new(r, t0)),
        };
        let buffer = fleet.start_messages(sim_start + t0.elapsed()).into();
        Sender {
            fleet,
            opts,
            t0,
            sim_start,
            mode,
            buffer,
            empty_ticks: 0,
            report: SimulateReport::default(),
            last_progress: Instant::now(),
            sent_at_last_progress: 0,
        }
    }

    fn sim_now(&self) -> SystemTime {
        self.sim_start + self.t0.elapsed()
    }

    /// Sends until the count or duration is reached, `shutdown` completes
    /// or the client fails; returns the number of failed publishes.
    async fn run(
        &mut self,
        client: &AsyncClient,
        qos: QoS,
        shared: &Shared,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> u64 {
        loop {
            if self.opts.count.is_some_and(|c| self.report.sent >= c) {
                return 0;
            }
            let remaining = self
                .opts
                .duration
                .map(|d| d.saturating_sub(self.t0.elapsed()));
            if remaining == Some(Duration::ZERO) {
                return 0;
            }
            if self.opts.progress {
                self.progress(shared.errors.load(Ordering::Relaxed));
            }
            let Some(msg) = self.buffer.pop_front() else {
                match self.refill(remaining, shutdown).await {
                    Refill::Continue => continue,
                    Refill::Stop => return 0,
                }
            };
            if let Mode::Paced(pacer) = &self.mode {
                if let Some(wait) = pacer.wait(Instant::now()) {
                    tokio::select! {
                        biased;
                        _ = &mut *shutdown => return 0,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
            let result = tokio::select! {
                biased;
                _ = &mut *shutdown => return 0,
                r = client.publish(msg.topic.clone(), qos, msg.retain, msg.payload.clone()) => r,
            };
            if let Err(e) = result {
                // The request channel only fails when the event loop is gone.
                tracing::error!(topic = %msg.topic, error = %e, "simulator publish failed; stopping");
                return 1;
            }
            self.report.record(&msg);
            if let Mode::Paced(pacer) = &mut self.mode {
                pacer.sent(Instant::now());
            }
        }
    }

    /// Fills the empty buffer with what is due; idles while nothing is.
    async fn refill(
        &mut self,
        remaining: Option<Duration>,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> Refill {
        let now = self.sim_now();
        let wait = match &self.mode {
            Mode::Realtime => {
                self.buffer.extend(self.fleet.next_messages(now));
                if !self.buffer.is_empty() {
                    return Refill::Continue;
                }
                let until_due = self
                    .fleet
                    .next_due()
                    .and_then(|due| due.duration_since(self.sim_now()).ok())
                    .unwrap_or(Duration::from_millis(10));
                let wait = until_due.min(Duration::from_secs(1));
                remaining.map_or(wait, |r| wait.min(r))
            }
            Mode::Paced(_) | Mode::Fast => {
                self.buffer.extend(self.fleet.next_tick(now));
                if !self.buffer.is_empty() {
                    self.empty_ticks = 0;
                    return Refill::Continue;
                }
                // Silent devices: after a full round of nothing, idle a little.
                self.empty_ticks += 1;
                if self.empty_ticks < self.fleet.device_count() {
                    return Refill::Continue;
                }
                self.empty_ticks = 0;
                Duration::from_millis(50)
            }
        };
        tokio::select! {
            biased;
            _ = &mut *shutdown => Refill::Stop,
            _ = tokio::time::sleep(wait) => Refill::Continue,
        }
    }

    /// A progress line on stderr, at most once a second.
    fn progress(&mut self, connection_errors: u64) {
        let now = Instant::now();
        let secs = now.duration_since(self.last_progress).as_secs_f64();
        if secs >= 1.0 {
            let per_s = (self.report.sent - self.sent_at_last_progress) as f64 / secs;
            self.report.errors = connection_errors;
            eprintln!("{}", self.report.progress_line(per_s));
            self.last_progress = now;
            self.sent_at_last_progress = self.report.sent;
        }
    }
}
