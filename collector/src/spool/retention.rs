//! The end of segments: persisting cursors and deleting the segments every
//! sink has passed (starting segments and `drop_oldest` are in [`write`](super::write)).
//! All called with the state locked.

use std::fs::OpenOptions;
use std::io;
use std::time::Instant;

use super::cursor::CursorFile;
use super::write::is_no_space;
use super::{io_err, Inner, SpoolError, State};

impl Inner {
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

    pub(super) fn persist(&self, st: &mut State, i: usize) -> Result<(), SpoolError> {
        let s = &mut st.sinks[i];
        if s.acked != s.persisted {
            let path = self.cursors_dir.join(&s.name);
            let file = match &mut s.cursor {
                Some(f) => f,
                // Not created at open (the disk was full then): a new file.
                None => {
                    match CursorFile::create(&self.cursors_dir, &s.name, s.acked, self.config.fsync)
                    {
                        Ok(f) => s.cursor.insert(f),
                        Err(e) if is_no_space(&e) => {
                            // Still full: progress stays unsaved (replayed after
                            // a crash) and its segments stay; retried next time.
                            s.last_persist = Some(Instant::now());
                            return Ok(());
                        }
                        Err(e) => return Err(io_err(&path)(e)),
                    }
                }
            };
            file.write(s.acked, self.config.fsync)
                .map_err(io_err(&path))?;
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
            // Emptied first: a reader that still has the file open would
            // otherwise keep its blocks allocated (on a full disk, the
            // space this deletion is meant to free).
            if let Ok(f) = OpenOptions::new().write(true).open(path) {
                let _ = f.set_len(0);
            }
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
