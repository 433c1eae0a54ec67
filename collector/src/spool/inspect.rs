//! Read-only inspection of a spool directory, for `schoolnet spool status`
//! and `inspect`: works on the spool of a stopped or crashed process (and of
//! a running one, whose last segment may then end in a not yet written,
//! "torn", record). Changes nothing: no lock taken, nothing truncated.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::record::{Record, RecordId};
use super::segment::{self, Problem, SegmentMeta, SegmentReader};
use super::status::{self, SinkStatus};
use super::{cursor, io_err, open, SpoolError};

/// What a spool directory holds.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub dir: PathBuf,
    /// A process holds the spool's lock (with its pid if known): the numbers
    /// move, and a torn tail of the last segment is probably being written.
    pub in_use: Option<Option<u32>>,
    /// All segment files together.
    pub bytes: u64,
    pub segments: Vec<SegmentReport>,
    /// One per cursor file.
    pub sinks: Vec<SinkStatus>,
    /// Cursor files that cannot be read, with the reason.
    pub bad_cursors: Vec<(String, String)>,
    #[serde(skip)]
    metas: Vec<SegmentMeta>,
}

/// One segment file.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentReport {
    pub file: PathBuf,
    /// From the file name.
    pub first_id: RecordId,
    /// Ids of the first and last valid record (`None`: no valid record).
    pub first_record: Option<RecordId>,
    pub last_record: Option<RecordId>,
    /// Valid records.
    pub records: u64,
    /// File length, and where the valid records end.
    pub bytes: u64,
    pub valid_bytes: u64,
    pub first_time_ns: Option<i64>,
    pub last_time_ns: Option<i64>,
    /// The first torn or damaged record, if any (scanning stops there).
    pub problem: Option<Problem>,
    /// Ids between the last valid record and the next segment: lost to
    /// damage (0 for the last segment).
    pub lost_ids: u64,
    pub last: bool,
}

impl Inspection {
    /// Records lost to damage in segments before the last: each such
    /// segment counts. A torn tail of the last segment does not (it is what
    /// a crash during a write leaves, and `open` cuts it).
    pub fn damaged_segments(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| !s.last && s.problem.is_some())
            .count()
    }

    /// The first `n` records after `sink`'s cursor (as on disk).
    pub fn records(&self, sink: &str, n: usize) -> Result<Vec<Record>, SpoolError> {
        let cursor = self
            .sinks
            .iter()
            .find(|s| s.name == sink)
            .map(|s| s.cursor)
            .ok_or_else(|| SpoolError::UnknownSink(sink.to_owned()))?;
        let mut out = Vec::new();
        for meta in &self.metas {
            let from = (cursor + 1).max(meta.first_id);
            if from >= meta.end_id {
                continue;
            }
            let mut r = SegmentReader::open(meta, from).map_err(io_err(&meta.path))?;
            while out.len() < n && r.next < meta.end_id {
                match r.read(meta.valid_bytes).map_err(io_err(&meta.path))? {
                    Ok(record) => out.push(record),
                    Err(_) => break, // changed since the scan
                }
            }
            if out.len() >= n {
                break;
            }
        }
        Ok(out)
    }
}

/// Scans `dir` without changing it.
pub fn inspect(dir: &Path) -> Result<Inspection, SpoolError> {
    let files = segment::list(dir).map_err(io_err(dir))?;
    if files.is_empty() {
        return Err(SpoolError::NotASpool(dir.to_path_buf()));
    }
    let in_use = open::holder(dir).map_err(io_err(dir))?;
    let mut segments = Vec::with_capacity(files.len());
    let mut metas = Vec::with_capacity(files.len());
    for (i, (first_id, path)) in files.iter().enumerate() {
        let next_first = files.get(i + 1).map(|f| f.0);
        let (meta, problem) = match segment::scan(path, *first_id, next_first) {
            Ok(scanned) => scanned,
            // Deleted by the running process since the listing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(path)(e)),
        };
        let any = meta.records() > 0;
        segments.push(SegmentReport {
            file: path.clone(),
            first_id: *first_id,
            first_record: any.then_some(meta.first_id),
            last_record: any.then_some(meta.end_id - 1),
            records: meta.records(),
            bytes: meta.file_bytes,
            valid_bytes: meta.valid_bytes,
            first_time_ns: meta.first_time_ns,
            last_time_ns: meta.last_time_ns,
            problem,
            lost_ids: next_first.map_or(0, |n| n - meta.end_id),
            last: next_first.is_none(),
        });
        metas.push(meta);
    }
    let cursors_dir = cursor::dir(dir);
    let mut sinks = Vec::new();
    let mut bad_cursors = Vec::new();
    for (name, value) in cursor::list(&cursors_dir).map_err(io_err(&cursors_dir))? {
        let cursor = match value {
            Ok(c) => c,
            Err(why) => {
                bad_cursors.push((name, why));
                continue;
            }
        };
        let (backlog_records, backlog_bytes, oldest_unsent_ns) =
            status::backlog(&metas, cursor).map_err(io_err(dir))?;
        sinks.push(SinkStatus {
            name,
            cursor,
            backlog_records,
            backlog_bytes,
            oldest_unsent_ns,
            dropped_records: None,
        });
    }
    Ok(Inspection {
        dir: dir.to_path_buf(),
        in_use,
        bytes: metas.iter().map(|m| m.file_bytes).sum(),
        segments,
        sinks,
        bad_cursors,
        metas,
    })
}
