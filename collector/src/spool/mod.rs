//! The spool: a write-ahead log on disk between intake and the sinks, so
//! that nothing accepted from MQTT is lost when InfluxDB, the broker or
//! schoolnet itself fails.
//!
//! Intake [`append`](Spool::append)s a record (opaque bytes: the line
//! protocol of one MQTT message) and calls [`sync`](Spool::sync) before it
//! acknowledges the message to the broker. Each sink has a [`Reader`] and
//! [`ack`](Spool::ack)s what it has written. Segments every sink has passed
//! are deleted.
//!
//! # On-disk format
//!
//! ```text
//! <dir>/LOCK                       flock(LOCK_EX) of the owning process; holds its pid
//! <dir>/<first_id:020>.seg         segments, oldest first; the last one is appended to
//! <dir>/cursors/<sink>             last id the sink acknowledged, 20 digits + "\n", rewritten in place
//! ```
//!
//! A segment is a sequence of records with consecutive ids starting at the id
//! in its name, no file header, no padding. A record (see [`record`]) is a
//! 25-byte header — magic `0xA7`, payload length (u32 LE), CRC-32 (u32 LE)
//! of length ‖ id ‖ time ‖ payload, id (u64 LE), append time in unix ns
//! (i64 LE) — and the payload. A new segment is started when the next record
//! would make the current one larger than `segment_bytes`.
//!
//! # Invariants
//!
//! 1. Ids are global, start at 1 and strictly increase, across segments and
//!    across restarts (a reopened spool continues after the highest id in a
//!    segment or a cursor).
//! 2. A record is visible to readers only once it is durable: `sync` has
//!    flushed and fsynced it (with `fsync = false`: flushed to the kernel).
//! 3. A segment is deleted only when every sink's *persisted* cursor is at or
//!    past its last id — or by `overflow = drop_oldest`, which first moves
//!    the lagging cursors past it (persisted) and counts as dropped, for
//!    each sink, exactly the records its reader had not yet handed out
//!    (those it did are delivered from memory): for every sink, records
//!    appended = records handed out + records dropped.
//! 4. Cursors never move backwards, in memory or on disk, and never past the
//!    durable id.
//! 5. After a crash at most the records appended after the last `sync` are
//!    lost (intake acknowledges MQTT only after `sync`, so nothing the broker
//!    considers delivered is lost), and at most the records acknowledged
//!    since the last cursor persist (`cursor_persist_ms`, sooner when an ack
//!    frees a segment, always on [`close`](Spool::close)) are replayed:
//!    duplicates, harmless because points carry device timestamps.
//! 6. A reader never returns a record whose checksum or id does not match.
//!
//! # Recovery ([`Spool::open`])
//!
//! Every segment is read and verified (a sequential read of the spool:
//! about a second per GiB). The last segment is cut at the first record
//! that is torn (the file ends inside it), has a bad magic byte, a bad
//! checksum or an unexpected id: those bytes were being written when the
//! process or machine died. In an older segment such a record means damage:
//! the rest of that segment is skipped (the file is kept for `inspect`) and
//! the ids up to the next segment are reported as lost. Everything is
//! reported in [`Recovery`]. A sink whose cursor is behind the oldest
//! retained record starts there (reported as missing); a sink without a
//! cursor file starts at the oldest retained record.
//!
//! # Costs
//!
//! `append` copies the record into a 256 KiB buffer (a `write` per 256 KiB,
//! no fsync); `sync` is a group commit: one flush and one `fdatasync` for
//! everything appended so far, concurrent callers wait for and share it, and
//! appends continue while it runs. Starting a segment fsyncs the previous one.
//! Readers use their own file handles and do not block appends. Blocking
//! calls (`try_append`, `sync`, `ack`) do file I/O: from async code, use
//! [`commit`](Spool::commit) or `spawn_blocking` for `sync`.
//!
//! A failed write, flush or fsync leaves the spool failed: every later
//! append or sync returns [`SpoolError::Failed`] (after a failed fsync the
//! page cache cannot be trusted); reopening recovers from what is on disk.
//! Except a full filesystem (ENOSPC, EDQUOT), which is a full spool: see
//! [`write`]. Saving progress (cursors) and opening need no new disk
//! space, so a spool on a full disk starts, drains and frees segments.
//! Full and blocked episodes are logged and counted: see [`episode`].

mod config;
mod cursor;
mod episode;
mod inspect;
mod open;
mod reader;
pub mod record;
mod recovery;
mod retention;
mod segment;
mod status;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_full;
mod write;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::watch;

pub use config::{Overflow, SpoolConfig};
pub use episode::FullCause;
pub use inspect::{inspect, Inspection, SegmentReport};
pub use reader::Reader;
pub use record::{ProblemKind, Record, RecordId};
pub use recovery::{Corruption, Recovery, Truncation};
pub use segment::Problem;
pub use status::{SinkStatus, SpoolStatus};

use crate::config::ConfigError;
use cursor::CursorFile;
use episode::Episodes;
use segment::{FileMark, SegmentMeta};

const WRITE_BUFFER: usize = 256 * 1024;

/// Why a spool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// (`error` is part of the message, not a `source`: no repetition
    /// when printed as a chain.)
    #[error("spool {}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    #[error(
        "spool is full ({bytes} of {max_bytes} bytes, overflow = block): the sinks are behind"
    )]
    Full { bytes: u64, max_bytes: u64 },
    #[error(
        "spool {}: its filesystem is full (ENOSPC/EDQUOT) before max_bytes; {records} records wait in memory",
        dir.display()
    )]
    NoSpace { dir: PathBuf, records: u64 },
    #[error("a record of {len} bytes does not fit in a segment of {segment_bytes} bytes")]
    TooLarge { len: u64, segment_bytes: u64 },
    #[error("unknown sink `{0}`")]
    UnknownSink(String),
    #[error("bad sink list: {0}")]
    Sinks(String),
    #[error("sink `{sink}` acknowledged record {upto}, beyond the last durable record {durable}")]
    AckBeyondDurable {
        sink: String,
        upto: RecordId,
        durable: RecordId,
    },
    #[error("spool {} is in use by another process{}", dir.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { dir: PathBuf, pid: Option<u32> },
    #[error("spool failed and must be reopened: {0}")]
    Failed(String),
    #[error("{} is not a spool directory (no segment files)", .0.display())]
    NotASpool(PathBuf),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl SpoolError {
    /// The spool is full (at `max_bytes` or its filesystem is): wait for room.
    pub fn is_full(&self) -> bool {
        matches!(self, SpoolError::Full { .. } | SpoolError::NoSpace { .. })
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |error| SpoolError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// A write-ahead log shared by intake and the sinks' readers (cheap to
/// clone; `Send + Sync`).
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

struct Inner {
    config: SpoolConfig,
    cursors_dir: PathBuf,
    state: Mutex<State>,
    /// Signalled when a group commit ends.
    synced: Condvar,
    /// The durable id, for readers waiting for more.
    durable_tx: watch::Sender<RecordId>,
    /// Bumped whenever segments are deleted, for appenders waiting for room.
    space_tx: watch::Sender<u64>,
    /// `fdatasync`s of segment files since open (group commits and seals).
    fsyncs: AtomicU64,
    _lock: File,
}

struct State {
    /// Oldest first, never empty; the last one is the active segment.
    segments: Vec<SegmentMeta>,
    /// The active segment's file (append mode; fsynced outside the lock).
    file: Arc<File>,
    /// Whole records of the active segment not yet written to `file`.
    buf: Vec<u8>,
    /// Where the active segment's file ends: `buf` comes after it.
    on_file: FileMark,
    /// Records the full disk refused: ids from the active segment's
    /// `end_id` to `next_id`, encoded, in no segment yet (see [`write`]).
    unplaced: Vec<u8>,
    next_id: RecordId,
    durable: RecordId,
    /// All segment files (the active one including buffered bytes).
    bytes: u64,
    syncing: bool,
    /// A segment was created since the directory was last fsynced.
    dir_dirty: bool,
    failed: Option<String>,
    sinks: Vec<SinkState>,
    corrupt_skipped: u64,
    episodes: Episodes,
}

struct SinkState {
    name: String,
    acked: RecordId,
    persisted: RecordId,
    /// The cursor file, rewritten in place (`None`: not created yet).
    cursor: Option<CursorFile>,
    last_persist: Option<Instant>,
    /// The highest id a reader handed out: delivered from memory even if
    /// `drop_oldest` deletes its segment.
    read: RecordId,
    /// Every id after `read` up to here was counted as dropped.
    dropped_upto: RecordId,
    dropped: u64,
}

impl State {
    fn check(&self) -> Result<(), SpoolError> {
        match &self.failed {
            Some(why) => Err(SpoolError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    /// Marks the spool failed (see the module docs) and returns the error.
    fn fail(&mut self, path: &Path, error: io::Error) -> SpoolError {
        self.failed = Some(format!("{}: {error}", path.display()));
        tracing::error!(path = %path.display(), %error, "spool write failed; reopen to recover");
        SpoolError::Io {
            path: path.to_path_buf(),
            error,
        }
    }

    fn active(&self) -> &SegmentMeta {
        self.segments.last().expect("never empty")
    }

    fn sink(&self, name: &str) -> Result<usize, SpoolError> {
        self.sinks
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| SpoolError::UnknownSink(name.to_owned()))
    }

    /// The last id of the oldest segment, if it is not the active one.
    fn oldest_sealed_last_id(&self) -> Option<RecordId> {
        self.segments.get(1).map(|s| s.first_id - 1)
    }
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.inner.config.dir)
            .finish_non_exhaustive()
    }
}

impl Spool {
    /// Opens (or creates) the spool in `config.dir` for these sinks, recovering
    /// from whatever a previous process left; see the module docs.
    pub fn open(config: &SpoolConfig, sinks: &[&str]) -> Result<(Spool, Recovery), SpoolError> {
        open::open(config, sinks)
    }

    /// Appends a record (buffered: durable only after [`sync`](Self::sync)).
    /// When the spool is full: `overflow = block` returns
    /// [`SpoolError::Full`]; `drop_oldest` deletes the oldest segments first.
    /// When its filesystem is full: see [`write`] ([`SpoolError::NoSpace`]
    /// while records wait for the disk).
    pub fn try_append(&self, time_ns: i64, payload: &[u8]) -> Result<RecordId, SpoolError> {
        let inner = &*self.inner;
        let cfg = &inner.config;
        let len = segment::record_len(payload.len());
        if len > cfg.segment_bytes {
            return Err(SpoolError::TooLarge {
                len,
                segment_bytes: cfg.segment_bytes,
            });
        }
        let mut guard = inner.lock();
        let st = &mut *guard;
        st.check()?;
        if !st.unplaced.is_empty() && !inner.place_unplaced(st)? {
            return Err(inner.refuse(st, FullCause::Disk));
        }
        if st.bytes + len > cfg.max_bytes {
            if cfg.overflow == Overflow::Block || !inner.drop_to_fit(st, len)? {
                return Err(inner.refuse(st, FullCause::MaxBytes));
            }
            episode::hit(cfg, st, FullCause::MaxBytes, "");
        }
        let id = st.next_id;
        st.next_id += 1;
        // Ok(false): the disk is full and the record waits in memory; it is
        // accepted all the same (not durable: `sync` reports it).
        inner.place(st, id, time_ns, len, |buf| {
            record::write(buf, id, time_ns, payload).expect("writing to memory");
        })?;
        episode::accepted(cfg, st);
        Ok(id)
    }

    /// [`try_append`](Self::try_append), waiting while the spool is full.
    /// Before waiting it commits what is appended (sinks can only read and
    /// acknowledge durable records, so an unsynced full spool would never
    /// drain).
    pub async fn append(&self, time_ns: i64, payload: &[u8]) -> Result<RecordId, SpoolError> {
        loop {
            let mut freed = self.inner.space_tx.subscribe();
            match self.try_append(time_ns, payload) {
                Err(e) if e.is_full() => {
                    let before = self.durable_id();
                    match self.sync_on_pool().await {
                        Err(e) if !e.is_full() => return Err(e),
                        _ => {}
                    }
                    if self.durable_id() == before {
                        wait_for_room(&mut freed).await;
                    }
                }
                other => return other,
            }
        }
    }

    /// Group commit: makes every record appended so far durable and visible
    /// to readers; returns the highest durable id. Blocks for the fsync.
    /// On a full filesystem: makes what is on disk durable and returns
    /// [`SpoolError::NoSpace`] while records wait in memory.
    pub fn sync(&self) -> Result<RecordId, SpoolError> {
        let inner = &*self.inner;
        let mut st = inner.lock();
        st.check()?;
        // Room is made (segments sealed, deleted or dropped) at most once
        // per call; then what is on disk is made durable.
        let mut made_room = !st.unplaced.is_empty();
        if made_room {
            inner.place_unplaced(&mut st)?;
        }
        // What this call owes: the records appended before it. Records
        // appended while it syncs are written along if they are there, but
        // not waited for with another fdatasync: they belong to the next
        // group (chasing them gave a group two or more syncs under load).
        let owed = st.next_id - 1;
        loop {
            st.check()?;
            // Records after the active segment's end are unplaced.
            let target = st.active().end_id - 1;
            if st.durable >= owed.min(target) {
                break;
            }
            if st.syncing {
                st = inner
                    .synced
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            if !inner.write_out(&mut st)? {
                // The disk is full: the buffered records are unplaced.
                if !std::mem::replace(&mut made_room, true) {
                    inner.place_unplaced(&mut st)?;
                }
                continue; // `target` is smaller unless they were placed
            }
            st.syncing = true;
            let path = st.active().path.clone();
            let file = Arc::clone(&st.file);
            let dir_dirty = std::mem::take(&mut st.dir_dirty);
            drop(st);
            let fsync = inner.config.fsync;
            let result = (|| -> io::Result<()> {
                if fsync {
                    file.sync_data()?;
                    inner.fsyncs.fetch_add(1, Ordering::Relaxed);
                    if dir_dirty {
                        cursor::sync_dir(&inner.config.dir)?;
                    }
                }
                Ok(())
            })();
            st = inner.lock();
            st.syncing = false;
            inner.synced.notify_all();
            if let Err(e) = result {
                return Err(st.fail(&path, e));
            }
            st.durable = st.durable.max(target);
            inner.durable_tx.send_replace(st.durable);
        }
        inner.persist_due(&mut st, false)?;
        if !st.unplaced.is_empty() {
            return Err(SpoolError::NoSpace {
                dir: inner.config.dir.clone(),
                records: st.next_id - st.active().end_id,
            });
        }
        Ok(st.durable)
    }

    /// [`sync`](Self::sync) on tokio's blocking pool, waiting while the
    /// filesystem is full (records wait in memory; retried when a segment
    /// is deleted, at least every [`write::ROOM_POLL`]).
    pub async fn commit(&self) -> Result<RecordId, SpoolError> {
        loop {
            let mut freed = self.inner.space_tx.subscribe();
            match self.sync_on_pool().await {
                Err(e) if e.is_full() => wait_for_room(&mut freed).await,
                other => return other,
            }
        }
    }

    async fn sync_on_pool(&self) -> Result<RecordId, SpoolError> {
        let spool = self.clone();
        match tokio::task::spawn_blocking(move || spool.sync()).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// A reader for `sink`, starting after its acknowledged cursor.
    pub fn reader(&self, sink: &str) -> Result<Reader, SpoolError> {
        let st = self.inner.lock();
        let i = st.sink(sink)?;
        let next = st.sinks[i].acked + 1;
        drop(st);
        Ok(Reader::new(
            Arc::clone(&self.inner),
            i,
            sink.to_owned(),
            next,
        ))
    }

    /// `sink` has written every record up to `upto`. Persists the cursor
    /// when `cursor_persist_ms` has passed since the last persist or when
    /// it lets a segment be deleted, then deletes what every sink passed.
    pub fn ack(&self, sink: &str, upto: RecordId) -> Result<(), SpoolError> {
        let inner = &*self.inner;
        let mut guard = inner.lock();
        let st = &mut *guard;
        let i = st.sink(sink)?;
        if upto > st.durable {
            return Err(SpoolError::AckBeyondDurable {
                sink: sink.to_owned(),
                upto,
                durable: st.durable,
            });
        }
        if upto <= st.sinks[i].acked {
            return Ok(());
        }
        st.sinks[i].acked = upto;
        let min_acked = st.sinks.iter().map(|s| s.acked).min().unwrap_or(upto);
        let frees = st.oldest_sealed_last_id().is_some_and(|l| l <= min_acked);
        inner.persist_due(st, frees)
    }

    /// Syncs and persists every cursor: call on shutdown. On a full disk
    /// the records waiting in memory are lost (their MQTT messages were
    /// never acknowledged: the broker delivers them again).
    pub fn close(&self) -> Result<(), SpoolError> {
        let synced = self.sync();
        let mut st = self.inner.lock();
        self.inner.persist_due(&mut st, true)?;
        synced.map(|_| ())
    }

    /// Sizes, backlogs and counters. Flushes the append buffer (no fsync) so
    /// the oldest unsent record can be read.
    pub fn status(&self) -> Result<SpoolStatus, SpoolError> {
        let mut guard = self.inner.lock();
        let st = &mut *guard;
        if st.failed.is_none() {
            self.inner.write_out(st)?;
        }
        episode::maybe_clear(&self.inner.config, st);
        status::live(&self.inner.config, st)
    }

    /// The highest durable id (0: none yet).
    pub fn durable_id(&self) -> RecordId {
        *self.inner.durable_tx.borrow()
    }

    /// Test helper: the id the next append gets (without flushing, unlike
    /// `status`).
    #[cfg(test)]
    fn next_id(&self) -> RecordId {
        self.inner.lock().next_id
    }

    /// `fdatasync`s of segment files since open: group commits and sealed
    /// segments (none with `fsync = false`). For tests and benchmarks of
    /// how commits are grouped.
    pub fn fsyncs(&self) -> u64 {
        self.inner.fsyncs.load(Ordering::Relaxed)
    }

    /// Test helper: "kill -9": buffered, unflushed bytes are lost and
    /// nothing is persisted on the way out.
    #[cfg(test)]
    pub(crate) fn crash(self) {
        let mut st = self.inner.lock();
        st.buf.clear();
        st.unplaced.clear();
    }
}

/// Until a segment is deleted, or [`write::ROOM_POLL`] (room made by others).
async fn wait_for_room(freed: &mut watch::Receiver<u64>) {
    // The sender lives in `inner`, which the caller keeps alive.
    let _ = tokio::time::timeout(write::ROOM_POLL, freed.changed()).await;
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
