//! The life of segments: starting a new one ([`Inner::rotate`]), the
//! `drop_oldest` overflow policy, persisting cursors and deleting the
//! segments every sink has passed. All called with the state locked.

use std::io::{self, Write};
use std::time::Instant;

use super::segment::SegmentMeta;
use super::{cursor, io_err, open, Inner, SpoolError, State};

impl Inner {
    /// Seals the active segment (flush + fsync) and starts a new one.
    pub(super) fn rotate(&self, st: &mut State) -> Result<(), SpoolError> {
        let old = st.active().path.clone();
        let fsync = self.config.fsync;
        let sealed = st.writer.flush().and_then(|()| {
            if fsync {
                st.sync_file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = sealed {
            return Err(st.fail(&old, e));
        }
        let meta = SegmentMeta::new(&self.config.dir, st.next_id);
        let (writer, sync_file) = match open::create_segment(&meta.path) {
            Ok(files) => files,
            Err(e) => return Err(st.fail(&meta.path, e)),
        };
        st.writer = writer;
        st.sync_file = sync_file;
        st.segments.push(meta);
        st.dir_dirty = true;
        Ok(())
    }

    /// Overflow = drop_oldest: deletes sealed segments, oldest first, until
    /// `len` more bytes fit; false if they still do not.
    pub(super) fn drop_oldest(&self, st: &mut State, len: u64) -> Result<bool, SpoolError> {
        while st.bytes + len > self.config.max_bytes {
            let Some(last) = st.oldest_sealed_last_id() else {
                return Ok(false);
            };
            let (first, end) = (st.segments[0].first_id, st.segments[0].end_id);
            for i in 0..st.sinks.len() {
                let s = &mut st.sinks[i];
                if s.acked < last {
                    let lost = end.saturating_sub((s.acked + 1).max(first));
                    s.dropped += lost;
                    s.acked = last;
                    if lost > 0 {
                        tracing::warn!(sink = %s.name, records = lost, first_id = first, last_id = last,
                            "spool full (overflow = drop_oldest): dropped unsent records of the oldest segment");
                    }
                }
                if s.persisted < last {
                    self.persist(st, i)?;
                }
            }
            self.delete_acked(st);
            if st.segments[0].first_id == first {
                return Ok(false); // could not delete it (logged)
            }
        }
        Ok(true)
    }

    /// Persists the cursors that are due (or all changed ones with `all`),
    /// then deletes the segments every persisted cursor has passed.
    pub(super) fn persist_due(&self, st: &mut State, all: bool) -> Result<(), SpoolError> {
        let interval = self.config.cursor_persist_interval();
        for i in 0..st.sinks.len() {
            let s = &st.sinks[i];
            let due = s.last_persist.is_none_or(|t| t.elapsed() >= interval);
            if s.acked != s.persisted && (all || due) {
                self.persist(st, i)?;
            }
        }
        self.delete_acked(st);
        Ok(())
    }

    fn persist(&self, st: &mut State, i: usize) -> Result<(), SpoolError> {
        let s = &mut st.sinks[i];
        if s.acked != s.persisted {
            cursor::store(&self.cursors_dir, &s.name, s.acked, self.config.fsync)
                .map_err(io_err(&self.cursors_dir.join(&s.name)))?;
            s.persisted = s.acked;
        }
        s.last_persist = Some(Instant::now());
        Ok(())
    }

    /// Deletes sealed segments at or behind every persisted cursor.
    pub(super) fn delete_acked(&self, st: &mut State) {
        let min = st.sinks.iter().map(|s| s.persisted).min().unwrap_or(0);
        let mut freed = false;
        while let Some(last) = st.oldest_sealed_last_id().filter(|&l| l <= min) {
            let path = &st.segments[0].path;
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, last_id = last, "cannot delete spool segment; retrying later");
                    break;
                }
            }
            let seg = st.segments.remove(0);
            st.bytes -= seg.file_bytes;
            freed = true;
        }
        if freed {
            self.space_tx.send_modify(|n| *n += 1);
        }
    }
}
