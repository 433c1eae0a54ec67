//! Where a message's samples go after the live view, and when the message
//! may be acknowledged to the broker.
//!
//! - [`History::Spool`]: each message's samples become one spool record (its
//!   line protocol). A flush appends them and queues the messages' MQTT
//!   acknowledgements with the committer (see [`commit`](super::commit)),
//!   which commits in groups (one fsync per group, a few milliseconds or
//!   1,000 messages) and only then releases the acks, in arrival order:
//!   nothing the broker considers delivered can be lost by a crash. The
//!   pipeline goes on with the next messages during the fsync, so the live
//!   view never waits for the disk (it did, and the load harness's publish
//!   → `/metrics` latency was mostly fsyncs). A bounded number of messages
//!   wait for a commit; beyond that the pipeline waits, so a slow disk
//!   still slows intake. A full spool (or a full disk under it) makes
//!   `append` and the committer wait for room (see `spool::write`): intake
//!   stops, nothing is acknowledged, the broker keeps the messages.
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

use super::commit::{Committer, GroupPolicy};
use crate::line_protocol::{max_sample_len, LineEncoder};
use crate::sample::{InfluxRecord, Sample};
use crate::source::mqtt::Ack;
use crate::spool::{Spool, SpoolError};

/// Where the pipeline sends history: its end of the storage the binary starts
/// (`schoolnet`'s `app::history::HistoryService` owns the spool, the writer and
/// the tasks between them and hands the pipeline this).
pub enum History {
    None,
    Queue(mpsc::Sender<Vec<InfluxRecord>>),
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
    /// Encodes samples into spool records (keeps each device's tags).
    encoder: LineEncoder,
    records: Vec<InfluxRecord>,
    spooled: Vec<(i64, Vec<u8>)>,
    acks: Vec<Ack>,
    /// The ack forwarder, started with the first acks to send.
    forwarder: Option<Forwarder>,
    /// The spool committer, started with the first spool flush.
    committer: Option<Committer<Ack>>,
}

/// The ack forwarder task and its input.
type Forwarder = (mpsc::UnboundedSender<Vec<Ack>>, JoinHandle<()>);

impl Outbox {
    pub(super) fn new(history: History) -> Outbox {
        Outbox {
            history,
            encoder: LineEncoder::new(),
            records: Vec::new(),
            spooled: Vec::new(),
            acks: Vec::new(),
            forwarder: None,
            committer: None,
        }
    }

    /// Messages (or records) waiting.
    pub(super) fn len(&self) -> usize {
        self.records.len() + self.spooled.len() + self.acks.len()
    }

    /// Queues the samples of one message received at `received_ns`,
    /// leaving `samples` empty (its allocation is the caller's to reuse).
    pub(super) fn add_samples(&mut self, received_ns: i64, samples: &mut Vec<Sample>) {
        match &self.history {
            History::None => samples.clear(),
            History::Queue(_) => self
                .records
                .extend(samples.drain(..).map(InfluxRecord::Sample)),
            History::Spool(_) => {
                // Never reallocated while encoding (a fixed 160 bytes per
                // sample was too little for interface points).
                let mut lines = Vec::with_capacity(samples.iter().map(max_sample_len).sum());
                for s in samples.drain(..) {
                    self.encoder.encode_sample(&s, &mut lines);
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

    /// Stores what is queued; its messages are acknowledged once durable.
    /// On a spool error nothing more is acknowledged: the broker keeps
    /// those messages and redelivers them after a restart.
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
                if self.spooled.is_empty() && self.acks.is_empty() {
                    return Ok(());
                }
                let records = self.spooled.len();
                for (time_ns, lines) in self.spooled.drain(..) {
                    // Waits while the spool is full: at max_bytes with
                    // overflow = block, or its filesystem is (ENOSPC) and
                    // nothing can be dropped. The committer waits too, so
                    // the broker keeps the unacknowledged messages.
                    spool.append(time_ns, &lines).await?;
                }
                let committer = match &mut self.committer {
                    Some(c) => c,
                    None => {
                        let acks = ack_forwarder(&mut self.forwarder).clone();
                        self.committer.insert(Committer::start(
                            spool.clone(),
                            GroupPolicy::DEFAULT,
                            move |group| {
                                let _ = acks.send(group);
                            },
                        ))
                    }
                };
                let queued = committer
                    .queue(records, &mut self.acks, &GroupPolicy::DEFAULT)
                    .await;
                if queued.is_err() {
                    // The committer stopped: only on a spool error.
                    return self.finish_commits().await;
                }
                return Ok(());
            }
        }
        if !self.acks.is_empty() {
            let _ = ack_forwarder(&mut self.forwarder).send(std::mem::take(&mut self.acks));
        }
        Ok(())
    }

    /// Waits for the last commit and its acks (the pipeline's drain). A
    /// spool error of any earlier commit is returned here or by a flush.
    pub(super) async fn finish(&mut self) -> Result<(), HistoryError> {
        let committed = self.finish_commits().await;
        if let Some((tx, task)) = self.forwarder.take() {
            drop(tx);
            let _ = task.await;
        }
        committed
    }

    async fn finish_commits(&mut self) -> Result<(), HistoryError> {
        if let Some(committer) = self.committer.take() {
            committer.finish().await?;
        }
        Ok(())
    }
}

/// The ack forwarder's sender, starting it on first use. Acks go through
/// an unbounded channel to a task that hands them to the MQTT client in
/// order; nothing upstream ever waits for the client (see module docs).
fn ack_forwarder(slot: &mut Option<Forwarder>) -> &mpsc::UnboundedSender<Vec<Ack>> {
    &slot
        .get_or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Ack>>();
            let task = tokio::spawn(async move {
                while let Some(acks) = rx.recv().await {
                    for ack in acks {
                        ack.send().await;
                    }
                }
            });
            (tx, task)
        })
        .0
}
