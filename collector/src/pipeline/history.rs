//! Where a message's samples go after the live view, and when the message
//! may be acknowledged to the broker.
//!
//! - [`History::Spool`]: each message's samples become one spool record (its
//!   line protocol). A flush appends them, commits (one fsync for the
//!   group), and only then sends the MQTT acknowledgements of every message
//!   in the group, in arrival order: nothing the broker considers delivered
//!   can be lost by a crash.
//! - [`History::Queue`]: samples go to the InfluxDB writer through a bounded
//!   channel (no durability; a crash loses what is queued).
//! - [`History::None`]: live metrics only.
//!
//! Acknowledgements of messages that produced nothing to store (rejects,
//! status messages) wait in the same queue, so acks stay in arrival order.
//!
//! Acks are handed to a forwarder task (in order, through an unbounded
//! channel) instead of being awaited here. Awaiting them deadlocked the
//! collector: an ack goes through rumqttc's bounded request channel, which
//! only the MQTT source drains, by polling its event loop; the source
//! stops polling while the pipeline's input queue is full; and the
//! pipeline, stuck on the ack, stopped draining that queue. The broker's
//! inflight window was supposed to keep the queue from filling, but
//! mosquitto 2.0.11 does not hold it (measured: 13,357 unacknowledged
//! messages sent with `max_inflight_messages 1000`). The forwarder's queue
//! holds at most the acks of messages already received.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::sample::{Record, Sample};
use crate::sink::influx::encode_record;
use crate::source::mqtt::Ack;
use crate::spool::{Spool, SpoolError};

/// The storage behind the pipeline.
pub enum History {
    None,
    Queue(mpsc::Sender<Vec<Record>>),
    Spool(Spool),
}

/// What a flush could not do.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("spool: {0}")]
    Spool(#[from] SpoolError),
}

/// Samples and acknowledgements waiting for the next flush.
pub(super) struct Outbox {
    pub(super) history: History,
    records: Vec<Record>,
    spooled: Vec<(i64, Vec<u8>)>,
    acks: Vec<Ack>,
    /// The ack forwarder, started with the first acks to send.
    forwarder: Option<(mpsc::UnboundedSender<Vec<Ack>>, JoinHandle<()>)>,
}

impl Outbox {
    pub(super) fn new(history: History) -> Outbox {
        Outbox {
            history,
            records: Vec::new(),
            spooled: Vec::new(),
            acks: Vec::new(),
            forwarder: None,
        }
    }

    /// Messages (or records) waiting.
    pub(super) fn len(&self) -> usize {
        self.records.len() + self.spooled.len() + self.acks.len()
    }

    /// Queues the samples of one message received at `received_ns`.
    pub(super) fn add_samples(&mut self, received_ns: i64, samples: Vec<Sample>) {
        match &self.history {
            History::None => {}
            History::Queue(_) => self.records.extend(samples.into_iter().map(Record::Sample)),
            History::Spool(_) => {
                let mut lines = Vec::with_capacity(samples.len() * 160);
                for s in samples {
                    encode_record(&Record::Sample(s), &mut lines);
                }
                if !lines.is_empty() {
                    self.spooled.push((received_ns, lines));
                }
            }
        }
    }

    /// Queues a message's acknowledgement (sent after the next durable flush).
    pub(super) fn add_ack(&mut self, ack: Option<Ack>) {
        self.acks.extend(ack);
    }

    /// Stores what is queued, then acknowledges the messages it came from.
    /// On a spool error nothing is acknowledged: the broker keeps those
    /// messages and redelivers them after a restart.
    pub(super) async fn flush(&mut self) -> Result<(), HistoryError> {
        match &mut self.history {
            History::None => {}
            History::Queue(tx) => {
                if !self.records.is_empty() {
                    let batch = std::mem::take(&mut self.records);
                    if tx.send(batch).await.is_err() {
                        tracing::error!("InfluxDB writer stopped; history is no longer written");
                        self.history = History::None;
                    }
                }
            }
            History::Spool(spool) => {
                if !self.spooled.is_empty() {
                    for (time_ns, lines) in self.spooled.drain(..) {
                        // Waits while the spool is full (overflow = block).
                        spool.append(time_ns, &lines).await?;
                    }
                    spool.commit().await?;
                }
            }
        }
        if !self.acks.is_empty() {
            let (tx, _) = self.forwarder.get_or_insert_with(|| {
                let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Ack>>();
                let task = tokio::spawn(async move {
                    while let Some(acks) = rx.recv().await {
                        for ack in acks {
                            ack.send().await;
                        }
                    }
                });
                (tx, task)
            });
            // Fails only when the forwarder is gone (a panic in rumqttc):
            // the broker then redelivers the messages after a reconnect.
            let _ = tx.send(std::mem::take(&mut self.acks));
        }
        Ok(())
    }

    /// Waits until every ack handed to the forwarder has been passed to
    /// the MQTT client (for a clean stop, and for tests).
    pub(super) async fn finish_acks(&mut self) {
        if let Some((tx, task)) = self.forwarder.take() {
            drop(tx);
            let _ = task.await;
        }
    }
}
