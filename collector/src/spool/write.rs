//! The append path's disk writes, and what a full disk does.
//!
//! Appended records are encoded into the append buffer of the active
//! segment and written with one `write` per [`WRITE_BUFFER`](super::WRITE_BUFFER)
//! (or at `sync`, `status`, a segment change).
//!
//! # A full disk is a full spool
//!
//! When the filesystem refuses a write (ENOSPC, EDQUOT) before `max_bytes`:
//! 1. The active segment is cut back to where its file ended before the
//!    write ([`write_out`](Inner::write_out)): a partly written record would
//!    otherwise be a torn tail in the middle of the log. Truncating never
//!    needs space.
//! 2. The buffered records keep their ids and wait in memory (*unplaced*:
//!    in no segment, not durable, their MQTT messages not acknowledged).
//!    At most a buffer's worth: further appends are refused until they are
//!    placed.
//! 3. Room is made ([`make_room`](Inner::make_room)): the active segment is
//!    sealed (a new, empty segment file needs no data block), so that it can
//!    be deleted once every sink has passed it; segments every sink passed
//!    are deleted; with `overflow = drop_oldest` the oldest sealed segment is
//!    dropped (its unsent records counted). Then the unplaced records are
//!    written again.
//! 4. If that fails too, appends are refused: `overflow = block` and
//!    `drop_oldest` with nothing left to drop wait ([`Spool::append`]
//!    polls every [`ROOM_POLL`] and wakes when a sink's acknowledgement
//!    deletes a segment) — backpressure to the broker, as at `max_bytes`.
//!
//! Deleted segment files are truncated to zero first, so their blocks are
//! freed even while a reader still has the file open.
//!
//! [`Spool::append`]: super::Spool::append

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use super::episode::{self, FullCause};
use super::record::{self, RecordId};
use super::segment::SegmentMeta;
use super::{open, Inner, Overflow, SpoolError, State};

/// How often a full spool retries while waiting for room that nothing in
/// this process announces (space freed on the filesystem by others).
pub const ROOM_POLL: Duration = Duration::from_millis(200);

/// ENOSPC or EDQUOT: the filesystem (or the quota) is full.
pub fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

impl Inner {
    /// Writes the append buffer to the active segment. `Ok(false)`: the disk
    /// is full; the file was cut back and the buffered records are unplaced.
    pub(super) fn write_out(&self, st: &mut State) -> Result<bool, SpoolError> {
        if st.buf.is_empty() {
            return Ok(true);
        }
        let path = st.active().path.clone();
        match (&*st.file).write_all(&st.buf) {
            Ok(()) => {
                st.buf.clear();
                st.on_file = st.active().mark();
                Ok(true)
            }
            Err(e) if is_no_space(&e) => {
                if let Err(cut) = st.file.set_len(st.on_file.valid_bytes) {
                    return Err(st.fail(&path, cut));
                }
                let mark = st.on_file;
                let active = st.segments.last_mut().expect("never empty");
                st.bytes -= active.valid_bytes - mark.valid_bytes;
                active.rollback(mark);
                let mut unplaced = std::mem::take(&mut st.buf);
                unplaced.extend_from_slice(&st.unplaced);
                st.unplaced = unplaced;
                episode::hit(&self.config, st, FullCause::Disk, &e.to_string());
                Ok(false)
            }
            Err(e) => Err(st.fail(&path, e)),
        }
    }

    /// Puts record `id` (`len` bytes, written by `encode`) at the end of the
    /// log, starting a segment first if it would overflow the active one.
    /// `Ok(false)`: the disk is full and the record is unplaced (accepted,
    /// in memory).
    pub(super) fn place(
        &self,
        st: &mut State,
        id: RecordId,
        time_ns: i64,
        len: u64,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<bool, SpoolError> {
        let active = st.active();
        if active.records() > 0
            && active.file_bytes + len > self.config.segment_bytes
            && !self.rotate(st)?
        {
            encode(&mut st.unplaced);
            return Ok(false);
        }
        encode(&mut st.buf);
        st.segments
            .last_mut()
            .expect("never empty")
            .push(id, time_ns, len);
        st.bytes += len;
        if st.buf.len() >= super::WRITE_BUFFER {
            return self.write_out(st);
        }
        Ok(true)
    }

    /// Writes the unplaced records, making room as needed. `Ok(false)`: no
    /// room could be made; they still wait.
    pub(super) fn place_unplaced(&self, st: &mut State) -> Result<bool, SpoolError> {
        while !st.unplaced.is_empty() {
            let pending = std::mem::take(&mut st.unplaced);
            let mut at = 0usize;
            let mut placed_all = true;
            while at < pending.len() {
                let rest = &pending[at..];
                let header = match record::read_header(&mut &rest[..], rest.len() as u64) {
                    Ok(Ok(Some(h))) => h,
                    _ => unreachable!("unplaced records are whole records the spool encoded"),
                };
                let len = header.record_len();
                let rec = &rest[..len as usize];
                at += len as usize;
                if !self.place(st, header.id, header.time_ns, len, |b| {
                    b.extend_from_slice(rec)
                })? {
                    st.unplaced.extend_from_slice(&pending[at..]);
                    placed_all = false;
                    break;
                }
            }
            if placed_all && self.write_out(st)? {
                return Ok(true);
            }
            if !self.make_room(st)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// After the disk refused a write: seals the active segment if it holds
    /// records, deletes what every sink passed, and with `drop_oldest` drops
    /// the oldest sealed segment. True if a segment was deleted.
    fn make_room(&self, st: &mut State) -> Result<bool, SpoolError> {
        let oldest = st.segments[0].first_id;
        if st.active().records() > 0 {
            // Fails only if not even an empty file can be created; deleting
            // and dropping may still help.
            self.rotate(st)?;
        }
        self.delete_acked(st);
        if st.segments[0].first_id != oldest {
            return Ok(true);
        }
        if self.config.overflow == Overflow::DropOldest {
            return self.drop_oldest_segment(st);
        }
        Ok(false)
    }

    /// Refuses an append: intake is blocked, the episode goes on.
    pub(super) fn refuse(&self, st: &mut State, cause: FullCause) -> SpoolError {
        episode::refused(st);
        episode::hit(&self.config, st, cause, "no space left on device");
        match cause {
            FullCause::MaxBytes => SpoolError::Full {
                bytes: st.bytes,
                max_bytes: self.config.max_bytes,
            },
            FullCause::Disk => SpoolError::NoSpace {
                dir: self.config.dir.clone(),
                records: st.next_id - st.active().end_id,
            },
        }
    }

    /// Seals the active segment (written out, fsynced) and starts a new,
    /// empty one. `Ok(false)`: the disk is full (nothing changed, or the
    /// buffered records became unplaced).
    pub(super) fn rotate(&self, st: &mut State) -> Result<bool, SpoolError> {
        if !self.write_out(st)? {
            return Ok(false);
        }
        let old = st.active().path.clone();
        if self.config.fsync {
            if let Err(e) = st.file.sync_data() {
                return Err(st.fail(&old, e));
            }
            self.fsyncs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let meta = SegmentMeta::new(&self.config.dir, st.active().end_id);
        let file = match open::create_segment(&meta.path) {
            Ok(file) => file,
            Err(e) if is_no_space(&e) => {
                episode::hit(&self.config, st, FullCause::Disk, &e.to_string());
                return Ok(false);
            }
            Err(e) => return Err(st.fail(&meta.path, e)),
        };
        st.file = Arc::new(file);
        st.on_file = meta.mark();
        st.segments.push(meta);
        st.dir_dirty = true;
        Ok(true)
    }

    /// Overflow = drop_oldest at `max_bytes`: drops sealed segments, oldest
    /// first, until `len` more bytes fit; false if they still do not.
    pub(super) fn drop_to_fit(&self, st: &mut State, len: u64) -> Result<bool, SpoolError> {
        while st.bytes + len > self.config.max_bytes {
            if !self.drop_oldest_segment(st)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Deletes the oldest sealed segment although sinks have not passed it.
    /// A sink loses exactly the records of it that it has neither
    /// acknowledged nor read (records its reader handed out are delivered
    /// from memory): those are counted as dropped, and its cursor moves
    /// past the segment (persisted before the file goes). False if there is
    /// no sealed segment or it could not be deleted.
    fn drop_oldest_segment(&self, st: &mut State) -> Result<bool, SpoolError> {
        let Some(last) = st.oldest_sealed_last_id() else {
            return Ok(false);
        };
        let (first, end) = (st.segments[0].first_id, st.segments[0].end_id);
        for i in 0..st.sinks.len() {
            let s = &mut st.sinks[i];
            let passed = s.acked.max(s.read);
            let lost = end.saturating_sub((passed + 1).max(first));
            if lost > 0 {
                s.dropped += lost;
                s.dropped_upto = s.dropped_upto.max(last);
                tracing::info!(sink = %s.name, records = lost, first_id = first, last_id = last,
                    "spool full (overflow = drop_oldest): dropped unsent records of the oldest segment");
            }
            s.acked = s.acked.max(last);
            if s.persisted < last {
                self.persist(st, i)?;
            }
        }
        self.delete_acked(st);
        Ok(st.segments[0].first_id != first)
    }
}
