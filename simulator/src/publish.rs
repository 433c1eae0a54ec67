//! The send side of the simulator: pacing, the fleet's messages spread
//! over one or more MQTT connections ([`super::connection`]; each device
//! always on the same one, so its messages stay in order), progress, and a
//! clean end (every connection waits for its acks, then disconnects).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::bail;
use rumqttc::QoS;

use super::connection::{qos_of, Connection};
use super::fleet::{Fleet, SimMessage};
use super::report::SimulateReport;
use super::SimulateOptions;

pub use super::connection::parse_broker;

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
    let connections = (0..opts.connections)
        .map(|i| {
            let id = if opts.connections == 1 {
                opts.client_id.clone()
            } else {
                format!("{}-{i}", opts.client_id)
            };
            Connection::open(&opts.broker, &id)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for c in &connections {
        if !c.wait_connected(&opts.broker, &mut shutdown).await? {
            return Ok(SimulateReport {
                elapsed: started.elapsed(),
                ..Default::default()
            });
        }
    }
    let t0 = Instant::now();
    let mut sender = Sender::new(fleet, opts, t0, connections.len());
    let publish_errors = sender.run(&connections, qos, &mut shutdown).await;
    let mut report = std::mem::take(&mut sender.report);
    // One after the other: the acks of all connections arrive meanwhile
    // (each event loop runs on its own task), so this waits about as long
    // as the slowest one.
    for (c, sent) in connections
        .into_iter()
        .zip(sender.sent_per_connection.clone())
    {
        let (acked, errors) = c.close(qos, sent).await;
        report.acked += acked;
        report.errors += errors;
    }
    report.errors += publish_errors;
    report.elapsed = t0.elapsed();
    if opts.progress {
        eprintln!("{}", report.progress_line(report.rate()));
    }
    Ok(report)
}

fn check_options(fleet: &Fleet, opts: &SimulateOptions) -> anyhow::Result<()> {
    if opts.connections == 0 {
        bail!("connections must be at least 1");
    }
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
    /// Which connection each device publishes on (first-seen order, round-robin).
    connection_of: HashMap<Arc<str>, usize>,
    sent_per_connection: Vec<u64>,
}

/// What to do after refilling an empty buffer.
enum Refill {
    Continue,
    Stop,
}

impl<'a> Sender<'a> {
    fn new(
        mut fleet: Fleet,
        opts: &'a SimulateOptions,
        t0: Instant,
        connections: usize,
    ) -> Sender<'a> {
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
            connection_of: HashMap::new(),
            sent_per_connection: vec![0; connections],
        }
    }

    fn sim_now(&self) -> SystemTime {
        self.sim_start + self.t0.elapsed()
    }

    /// Sends until the count or duration is reached, `shutdown` completes
    /// or the client fails; returns the number of failed publishes.
    async fn run(
        &mut self,
        connections: &[Connection],
        qos: QoS,
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
                let errors = connections
                    .iter()
                    .map(|c| c.shared.errors.load(Ordering::Relaxed))
                    .sum();
                self.progress(errors);
            }
            let Some(mut msg) = self.buffer.pop_front() else {
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
            let next = self.connection_of.len() % connections.len();
            let c = *self.connection_of.entry(msg.device.clone()).or_insert(next);
            // The message is ours: hand its topic and payload over, no copies.
            let topic = std::mem::take(&mut msg.topic);
            let payload = std::mem::take(&mut msg.payload);
            let result = tokio::select! {
                biased;
                _ = &mut *shutdown => return 0,
                r = connections[c].client.publish(topic, qos, msg.retain, payload) => r,
            };
            if let Err(e) = result {
                // The request channel only fails when the event loop is gone.
                tracing::error!(device = %msg.device, error = %e, "simulator publish failed; stopping");
                return 1;
            }
            self.report.record(&msg);
            self.sent_per_connection[c] += 1;
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
