//! Group commit on intake's side of the spool: when to fsync, and when the
//! messages of what was appended may be acknowledged.
//!
//! The pipeline appends each message's record to the spool itself and then
//! [`queue`](Committer::queue)s the message's acknowledgement here: a push
//! under a mutex, which wakes the committer task only when it was idle
//! (the first item after a commit) or when a group is full. The committer
//! lets a group grow for at most [`GroupPolicy::linger`] after its first
//! item or up to [`GroupPolicy::max_messages`], takes the acks queued so far,
//! commits the spool once (one `fdatasync` for every record appended before
//! it, see `Spool::sync`) and only then releases those acks, in arrival
//! order. Every record of a taken ack was appended before the ack was
//! queued, so the commit that follows the take covers it: nothing the
//! broker considers delivered can be lost by a crash.
//!
//! Why a linger rather than "commit whenever the committer is free": on
//! this project's VMs an `fdatasync` of a few KiB takes 0.15–3.6 ms, so a
//! committer that syncs as soon as the previous sync ends runs hundreds to
//! thousands of syncs a second at a moderate rate, each with its kernel
//! work (journal commit, block I/O), a blocking-pool hand-off and a
//! wake-up of the pipeline for every message (issue #21: `fdatasync`
//! 16.6 %, futex 11.3 % of the collector's CPU at QoS 1 with the spool).
//! Waiting a few milliseconds bounds the syncs to a few hundred a second
//! whatever the rate; it delays acks and the InfluxDB writer by as much,
//! nothing else (the live view never waits for the spool).
//!
//! Backpressure: at most [`GroupPolicy::max_pending`] messages wait for a
//! commit to start; beyond that [`queue`](Committer::queue) waits, so a
//! slow disk slows intake (and the acks, which hold their messages, stay
//! bounded in memory).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::spool::{Spool, SpoolError};

/// When the committer commits a group.
#[derive(Debug, Clone, Copy)]
pub(super) struct GroupPolicy {
    /// How long the first message of a group waits for others.
    pub linger: Duration,
    /// A group of this many messages is committed at once.
    pub max_messages: usize,
    /// Messages waiting for a commit to start, at most; `queue` waits
    /// beyond.
    pub max_pending: usize,
}

impl GroupPolicy {
    /// 5 ms: at most ~200 syncs a second, well inside the 1 s publish →
    /// database target and invisible to the live view; 1,000 messages: the
    /// pipeline's chunk (a few hundred KiB of records). 8,000 pending: what
    /// the earlier 8 queued groups of ≤ 1,000 allowed (an ack holds its
    /// message's payload until it is sent).
    /// Not configuration: nothing an operator would tune these for that
    /// `fsync = false` does not already cover (measured in
    /// docs/performance.md, "The spool's group commit").
    pub(super) const DEFAULT: GroupPolicy = GroupPolicy {
        linger: Duration::from_millis(5),
        max_messages: 1_000,
        max_pending: 8_000,
    };
}

/// Queued work the committer has not taken yet.
struct Pending<A> {
    acks: Vec<A>,
    /// Messages queued since the last take.
    messages: usize,
    /// When the first of them was queued.
    since: Option<Instant>,
    /// The pipeline is done: commit what is left and stop.
    closed: bool,
    /// The committer stopped on a spool error: nothing more is committed.
    failed: bool,
}

struct Shared<A> {
    pending: Mutex<Pending<A>>,
    /// Wakes the committer: the first item after a take, a full group, close.
    work: Notify,
    /// Wakes a pipeline waiting for room (after a take or a failure).
    room: Notify,
}

impl<A> Shared<A> {
    fn lock(&self) -> MutexGuard<'_, Pending<A>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The committer task and the pipeline's handle on it.
pub(super) struct Committer<A> {
    shared: Arc<Shared<A>>,
    /// `None` once awaited (`finish`, `kill`).
    task: Option<JoinHandle<Result<(), SpoolError>>>,
}

impl<A> Committer<A> {
    fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_one();
    }
}

/// Dropped without `finish` (the pipeline returned early on an error): the
/// committer still commits what was queued, releases it and stops.
impl<A> Drop for Committer<A> {
    fn drop(&mut self) {
        self.close();
    }
}

/// [`Committer::queue`] failed: the committer stopped on a spool error,
/// which [`Committer::finish`] returns.
#[derive(Debug)]
pub(super) struct Stopped;

impl<A: Send + 'static> Committer<A> {
    /// Starts the committer for `spool`; `release` gets each committed
    /// group's acks, in order, after the commit that covers them.
    pub(super) fn start(
        spool: Spool,
        policy: GroupPolicy,
        release: impl FnMut(Vec<A>) + Send + 'static,
    ) -> Committer<A> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                acks: Vec::new(),
                messages: 0,
                since: None,
                closed: false,
                failed: false,
            }),
            work: Notify::new(),
            room: Notify::new(),
        });
        let task = tokio::spawn(run(Arc::clone(&shared), spool, policy, release));
        Committer {
            shared,
            task: Some(task),
        }
    }

    /// Hands over `records` records already appended to the spool and the
    /// acks of their messages (and of messages without records), leaving
    /// `acks` empty. Waits while too much is pending.
    pub(super) async fn queue(
        &self,
        records: usize,
        acks: &mut Vec<A>,
        policy: &GroupPolicy,
    ) -> Result<(), Stopped> {
        // A message has a record, an ack or both (QoS 0: no ack; a
        // rejected message: no record).
        let messages = records.max(acks.len());
        if messages == 0 {
            return Ok(());
        }
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            // Registered before looking, so a take in between is not missed.
            room.as_mut().enable();
            {
                let mut p = self.shared.lock();
                if p.failed {
                    return Err(Stopped);
                }
                if p.messages < policy.max_pending {
                    let before = p.messages;
                    p.messages += messages;
                    p.acks.append(acks);
                    if before == 0 {
                        p.since = Some(Instant::now());
                    }
                    // The committer sleeps through everything in between:
                    // no wake-up per message.
                    if before == 0
                        || (before < policy.max_messages && p.messages >= policy.max_messages)
                    {
                        self.shared.work.notify_one();
                    }
                    return Ok(());
                }
            }
            room.await;
        }
    }

    /// Commits what is queued, releases its acks and stops; a spool error
    /// of any commit is returned here.
    pub(super) async fn finish(mut self) -> Result<(), SpoolError> {
        self.close();
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Ok(()), // cancelled: the runtime is shutting down
        }
    }

    /// Test helper: stops the committer at once, committing nothing more
    /// (with `Spool::crash`, a process killed between append and commit).
    #[cfg(test)]
    pub(super) async fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// The committer: waits for a first item, lets the group grow, commits,
/// releases.
async fn run<A>(
    shared: Arc<Shared<A>>,
    spool: Spool,
    policy: GroupPolicy,
    mut release: impl FnMut(Vec<A>),
) -> Result<(), SpoolError> {
    loop {
        let since = loop {
            let work = shared.work.notified();
            {
                let p = shared.lock();
                if let Some(since) = p.since {
                    break since;
                }
                if p.closed {
                    return Ok(());
                }
            }
            work.await; // notify_one keeps a permit: no lost wake-up
        };
        let deadline = since + policy.linger;
        loop {
            let work = shared.work.notified();
            {
                let p = shared.lock();
                if p.closed || p.messages >= policy.max_messages {
                    break;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                _ = work => {}
            }
        }
        let group = {
            let mut p = shared.lock();
            p.messages = 0;
            p.since = None;
            std::mem::take(&mut p.acks)
        };
        shared.room.notify_waiters();
        // Covers every record appended before the take above, so every
        // record of `group`'s messages.
        if let Err(e) = spool.commit().await {
            shared.lock().failed = true;
            shared.room.notify_waiters();
            return Err(e);
        }
        if !group.is_empty() {
            release(group);
        }
    }
}

#[cfg(test)]
#[path = "commit_tests.rs"]
mod tests;
