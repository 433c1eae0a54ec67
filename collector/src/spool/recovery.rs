//! What [`Spool::open`](super::Spool::open) found and repaired: the
//! [`Recovery`] report (segments, the torn tail cut off, damage skipped,
//! cursors missing or unreadable) and its one-line form for the log.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::record::{ProblemKind, RecordId};

/// What [`Spool::open`](super::Spool::open) found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// `(first id, whole records, bytes)` of every segment, oldest first.
    pub segments: Vec<(RecordId, u64, u64)>,
    /// The last segment's torn tail, cut off: records appended but never
    /// synced when the previous process died.
    pub truncated: Option<Truncation>,
    /// Damage in older segments: records from there to the segment's end
    /// are skipped.
    pub corrupt: Vec<Corruption>,
    /// Sinks whose cursor was behind the oldest retained record, and how
    /// many ids they missed (deleted while this process was not running).
    pub missing: Vec<(String, u64)>,
    /// Unreadable cursor files: the sink starts at the oldest retained record.
    pub bad_cursors: Vec<(String, String)>,
    /// Cursor files of sinks not configured: ignored (they hold nothing back).
    pub unknown_sinks: Vec<String>,
    /// The id the next append gets.
    pub next_id: RecordId,
}

/// A torn tail cut off the last segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Truncation {
    pub segment: PathBuf,
    /// The file now ends here.
    pub offset: u64,
    /// Bytes removed.
    pub bytes: u64,
    pub kind: ProblemKind,
}

/// A damaged record in a segment that is not the last one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Corruption {
    pub segment: PathBuf,
    pub offset: u64,
    pub kind: ProblemKind,
    /// Bytes from the damage to the end of the file.
    pub bytes: u64,
    /// Ids between the damage and the next segment: lost.
    pub records_skipped: u64,
}

impl Recovery {
    /// Whole records retained.
    pub fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.1).sum()
    }

    /// Bytes cut off the torn tail (0: none).
    pub fn torn_bytes(&self) -> u64 {
        self.truncated.as_ref().map_or(0, |t| t.bytes)
    }

    /// Records never to be delivered: skipped for damage, or deleted
    /// before a sink's cursor reached them (counted once per sink).
    pub fn lost_records(&self) -> u64 {
        let skipped: u64 = self.corrupt.iter().map(|c| c.records_skipped).sum();
        let missed: u64 = self.missing.iter().map(|(_, n)| n).sum();
        skipped + missed
    }

    /// Nothing was cut, skipped, missing or unreadable.
    pub fn is_clean(&self) -> bool {
        self.truncated.is_none()
            && self.corrupt.is_empty()
            && self.missing.is_empty()
            && self.bad_cursors.is_empty()
    }
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records in {} segments, next id {}",
            self.records(),
            self.segments.len(),
            self.next_id
        )?;
        if let Some(t) = &self.truncated {
            let (path, kind) = (t.segment.display(), t.kind.describe());
            write!(f, "; cut {} bytes at {path}:{} ({kind})", t.bytes, t.offset)?;
        }
        for c in &self.corrupt {
            let (path, kind) = (c.segment.display(), c.kind.describe());
            let n = c.records_skipped;
            write!(
                f,
                "; DAMAGED {path}:{} ({kind}): {n} records skipped",
                c.offset
            )?;
        }
        for (sink, n) in &self.missing {
            write!(f, "; sink `{sink}` missed {n} deleted records")?;
        }
        for (sink, why) in &self.bad_cursors {
            write!(f, "; cursor of `{sink}` unreadable ({why}): replaying all")?;
        }
        if !self.unknown_sinks.is_empty() {
            write!(f, "; ignored cursors of {}", self.unknown_sinks.join(", "))?;
        }
        Ok(())
    }
}
