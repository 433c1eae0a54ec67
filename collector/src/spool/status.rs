//! [`SpoolStatus`]: sizes and per-sink backlogs, from a running spool's
//! memory ([`Spool::status`](super::Spool::status)) or, for `inspect`, from
//! a scan of the files.

use std::io;
use std::path::PathBuf;

use serde::Serialize;

use super::episode::FullCause;
use super::record::RecordId;
use super::segment::SegmentMeta;
use super::{io_err, SpoolConfig, SpoolError, State};

/// A running spool's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpoolStatus {
    pub dir: PathBuf,
    /// All segment files together.
    pub bytes: u64,
    pub max_bytes: u64,
    pub segments: usize,
    /// The id the oldest retained segment starts at.
    pub first_id: RecordId,
    /// The last appended id (0: none ever).
    pub last_id: RecordId,
    /// The last durable id; readers see records up to here.
    pub durable_id: RecordId,
    /// Records skipped by readers because they were damaged after opening.
    pub corrupt_skipped: u64,
    /// Set when a write failed: the spool must be reopened.
    pub failed: Option<String>,
    /// Set during a full episode (see [`episode`](super::episode)): why.
    pub full: Option<FullCause>,
    /// Appends are being refused: intake waits.
    pub blocked: bool,
    /// Milliseconds intake spent blocked since the spool was opened.
    pub blocked_ms: u64,
    /// Records accepted but waiting in memory for the full disk.
    pub unplaced_records: u64,
    pub sinks: Vec<SinkStatus>,
}

/// One sink's position and backlog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SinkStatus {
    pub name: String,
    /// The last acknowledged id (for `inspect`: as persisted on disk).
    pub cursor: RecordId,
    /// Records after the cursor (appended, including not yet synced ones).
    pub backlog_records: u64,
    /// Their bytes on disk, headers included.
    pub backlog_bytes: u64,
    /// Append time of the first record after the cursor (unix ns).
    pub oldest_unsent_ns: Option<i64>,
    /// Records deleted by `overflow = drop_oldest` before this sink's
    /// reader handed them out (never delivered), since the spool was opened (`None` for `inspect`:
    /// only the running process counts them).
    pub dropped_records: Option<u64>,
}

/// `(records, bytes, time of the first)` after `cursor`.
pub(super) fn backlog(
    segments: &[SegmentMeta],
    cursor: RecordId,
) -> io::Result<(u64, u64, Option<i64>)> {
    let (mut records, mut bytes, mut oldest) = (0, 0, None);
    for seg in segments {
        let from = (cursor + 1).max(seg.first_id);
        if from >= seg.end_id {
            continue;
        }
        if oldest.is_none() {
            let (r, b, t) = seg.tail_from(from)?;
            records += r;
            bytes += b;
            oldest = Some(t);
        } else {
            records += seg.records();
            bytes += seg.valid_bytes;
        }
    }
    Ok((records, bytes, oldest))
}

pub(super) fn live(config: &SpoolConfig, st: &State) -> Result<SpoolStatus, SpoolError> {
    let mut sinks = Vec::with_capacity(st.sinks.len());
    for s in &st.sinks {
        let (backlog_records, backlog_bytes, oldest_unsent_ns) =
            backlog(&st.segments, s.acked).map_err(io_err(&config.dir))?;
        sinks.push(SinkStatus {
            name: s.name.clone(),
            cursor: s.acked,
            backlog_records,
            backlog_bytes,
            oldest_unsent_ns,
            dropped_records: Some(s.dropped),
        });
    }
    Ok(SpoolStatus {
        dir: config.dir.clone(),
        bytes: st.bytes,
        max_bytes: config.max_bytes,
        segments: st.segments.len(),
        first_id: st.segments[0].first_id,
        last_id: st.next_id - 1,
        durable_id: st.durable,
        corrupt_skipped: st.corrupt_skipped,
        failed: st.failed.clone(),
        full: st.episodes.full(),
        blocked: st.episodes.blocked(),
        blocked_ms: st.episodes.blocked_total().as_millis() as u64,
        unplaced_records: st.next_id - st.active().end_id,
        sinks,
    })
}
