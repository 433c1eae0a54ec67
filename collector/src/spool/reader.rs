//! A sink's reader: durable records in id order from the sink's cursor.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use super::record::{Record, RecordId};
use super::segment::{SegmentMeta, SegmentReader};
use super::{io_err, Inner, SpoolError};

/// Reads one sink's backlog. Created by [`Spool::reader`](super::Spool::reader)
/// at the record after the sink's acknowledged cursor; reading does not
/// acknowledge (call [`Spool::ack`](super::Spool::ack) once written), so a new
/// reader after a sink restart starts again from the cursor.
pub struct Reader {
    inner: Arc<Inner>,
    sink: usize,
    name: String,
    /// The next id to return.
    next: RecordId,
    seg: Option<SegmentReader>,
}

/// What to read next, decided under the lock.
struct Plan {
    /// The last id to read in this segment now (durable and valid).
    upto: RecordId,
    valid_bytes: u64,
    first_id: RecordId,
    path: PathBuf,
    /// Set when the open segment reader must be (re)positioned.
    meta: Option<SegmentMeta>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("sink", &self.name)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Reader {
    pub(super) fn new(inner: Arc<Inner>, sink: usize, name: String, next: RecordId) -> Reader {
        Reader {
            inner,
            sink,
            name,
            next,
            seg: None,
        }
    }

    pub fn sink(&self) -> &str {
        &self.name
    }

    /// The id of the next record this reader will return (or a later one
    /// if records in between were dropped or damaged).
    pub fn position(&self) -> RecordId {
        self.next
    }

    /// Up to `max_records` durable records, stopping after the one that
    /// brings the payload total to `max_bytes` (at least one record if any is
    /// available). Empty: nothing durable beyond the position; see
    /// [`wait_for_more`](Self::wait_for_more). Records deleted by
    /// `drop_oldest` are skipped (counted by the spool); a record damaged on
    /// disk after the spool was opened is skipped with the rest of its
    /// segment, logged and counted in `SpoolStatus::corrupt_skipped`.
    /// Blocking file I/O.
    pub fn next_batch(
        &mut self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, SpoolError> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while out.len() < max_records && bytes < max_bytes.max(1) {
            let Some(plan) = self.plan() else { break };
            if let Some(meta) = &plan.meta {
                if let Err(e) = self.position_at(meta) {
                    self.seg = None;
                    // Deleted, or emptied just before deletion.
                    if self.dropped_meanwhile(meta.first_id) {
                        continue;
                    }
                    return Err(io_err(&meta.path)(e));
                }
            }
            while self.next <= plan.upto && out.len() < max_records && bytes < max_bytes.max(1) {
                let r = self.seg.as_mut().expect("positioned");
                match r.read(plan.valid_bytes) {
                    Ok(Ok(record)) => {
                        bytes += record.payload.len();
                        self.next = record.id + 1;
                        out.push(record);
                    }
                    Ok(Err(_)) if self.dropped_meanwhile(plan.first_id) => {
                        // Emptied by `drop_oldest` while being read: the
                        // rest of it was counted as dropped.
                        self.seg = None;
                        break;
                    }
                    Ok(Err(problem)) => {
                        let skipped = plan.upto + 1 - self.next;
                        tracing::error!(sink = %self.name, segment = %plan.path.display(), offset = problem.offset,
                            problem = problem.kind.describe(), skipped,
                            "spool record damaged after open; skipping to the next segment");
                        self.inner.lock().corrupt_skipped += skipped;
                        self.next = plan.upto + 1;
                        self.seg = None;
                        break;
                    }
                    Err(e) => {
                        self.seg = None;
                        return Err(io_err(&plan.path)(e));
                    }
                }
            }
        }
        self.hand_out(&mut out);
        Ok(out)
    }

    /// Records the batch as handed out (its records are delivered from
    /// memory from now on, whatever happens to their segment), leaving out
    /// those `drop_oldest` counted as dropped while they were being read.
    fn hand_out(&mut self, out: &mut Vec<Record>) {
        let mut st = self.inner.lock();
        let s = &mut st.sinks[self.sink];
        let (read, dropped_upto) = (s.read, s.dropped_upto);
        out.retain(|r| r.id <= read || r.id > dropped_upto);
        if let Some(last) = out.last() {
            s.read = s.read.max(last.id);
        }
    }

    /// Waits until a record at or after the position is durable.
    pub async fn wait_for_more(&self) {
        let mut durable = self.inner.durable_tx.subscribe();
        let next = self.next;
        // The sender lives in `inner`, which `self` keeps alive.
        let _ = durable.wait_for(|&d| d >= next).await;
    }

    fn plan(&mut self) -> Option<Plan> {
        let st = self.inner.lock();
        debug_assert_eq!(st.sinks[self.sink].name, self.name);
        loop {
            self.next = self.next.max(st.segments[0].first_id);
            let i = st.segments.partition_point(|s| s.first_id <= self.next) - 1;
            let seg = &st.segments[i];
            if self.next >= seg.end_id {
                // Past the valid records: a gap left by damage, or the end.
                self.next = st.segments.get(i + 1)?.first_id;
                continue;
            }
            if self.next > st.durable {
                return None;
            }
            let positioned = self
                .seg
                .as_ref()
                .is_some_and(|r| r.first_id == seg.first_id && r.next == self.next);
            return Some(Plan {
                upto: st.durable.min(seg.end_id - 1),
                valid_bytes: seg.valid_bytes,
                first_id: seg.first_id,
                path: seg.path.clone(),
                meta: (!positioned).then(|| seg.clone()),
            });
        }
    }

    fn position_at(&mut self, meta: &SegmentMeta) -> io::Result<()> {
        match &mut self.seg {
            Some(r) if r.first_id == meta.first_id => r.reposition(meta, self.next),
            _ => {
                self.seg = Some(SegmentReader::open(meta, self.next)?);
                Ok(())
            }
        }
    }

    /// The segment starting at `first_id` was deleted (drop_oldest) after
    /// it was planned.
    fn dropped_meanwhile(&self, first_id: RecordId) -> bool {
        self.inner.lock().segments[0].first_id > first_id
    }
}
