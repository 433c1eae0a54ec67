//! Segment files: names, the in-memory summary of one ([`SegmentMeta`]), the
//! full scan that verifies every record, and a sequential reader.

use std::fs::File;
use std::io::{self, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::record::{self, ProblemKind, Record, RecordId, HEADER_LEN};

/// A checkpoint is kept every this many bytes, so finding a record by id
/// reads at most this much (plus one record) of headers.
const CHECKPOINT_BYTES: u64 = 64 * 1024;
const READ_BUFFER: usize = 256 * 1024;

/// `<first_id:020>.seg`: lexical order is id order.
pub fn file_name(first_id: RecordId) -> String {
    format!("{first_id:020}.seg")
}

/// The first id of a segment file name, `None` if it is not one (ids start at 1).
pub fn parse_name(name: &str) -> Option<RecordId> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&id| id > 0)
}

/// The segment files of `dir`, oldest first.
pub fn list(dir: &Path) -> io::Result<Vec<(RecordId, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(id) = entry.file_name().to_str().and_then(parse_name) {
            out.push((id, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Where a record starts (every [`CHECKPOINT_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub id: RecordId,
    pub offset: u64,
}

/// What the spool knows about one segment without reading it.
#[derive(Debug, Clone)]
pub struct SegmentMeta {
    pub path: PathBuf,
    /// From the file name; the first record's id if it has any.
    pub first_id: RecordId,
    /// One past the last valid record (`first_id` when empty).
    pub end_id: RecordId,
    /// Offset just past the last valid record.
    pub valid_bytes: u64,
    /// Length of the file (the active segment: including buffered bytes).
    pub file_bytes: u64,
    pub first_time_ns: Option<i64>,
    pub last_time_ns: Option<i64>,
    pub index: Vec<Checkpoint>,
}

/// How far a segment's file was written at some point, to forget what was
/// buffered after it ([`SegmentMeta::rollback`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMark {
    pub end_id: RecordId,
    pub valid_bytes: u64,
    last_time_ns: Option<i64>,
    index_len: usize,
}

impl SegmentMeta {
    /// Where this segment ends now.
    pub fn mark(&self) -> FileMark {
        FileMark {
            end_id: self.end_id,
            valid_bytes: self.valid_bytes,
            last_time_ns: self.last_time_ns,
            index_len: self.index.len(),
        }
    }

    /// Forgets the records pushed after `mark` (they never reached the file).
    pub fn rollback(&mut self, mark: FileMark) {
        self.end_id = mark.end_id;
        self.valid_bytes = mark.valid_bytes;
        self.file_bytes = mark.valid_bytes;
        self.last_time_ns = mark.last_time_ns;
        self.index.truncate(mark.index_len);
        if self.records() == 0 {
            self.first_time_ns = None;
        }
    }

    pub fn new(dir: &Path, first_id: RecordId) -> SegmentMeta {
        SegmentMeta {
            path: dir.join(file_name(first_id)),
            first_id,
            end_id: first_id,
            valid_bytes: 0,
            file_bytes: 0,
            first_time_ns: None,
            last_time_ns: None,
            index: Vec::new(),
        }
    }

    pub fn records(&self) -> u64 {
        self.end_id - self.first_id
    }

    /// Accounts for a record of `len` bytes appended at `valid_bytes`.
    pub fn push(&mut self, id: RecordId, time_ns: i64, len: u64) {
        let last = self.index.last().map_or(0, |c| c.offset);
        if self.index.is_empty() || self.valid_bytes - last >= CHECKPOINT_BYTES {
            self.index.push(Checkpoint {
                id,
                offset: self.valid_bytes,
            });
        }
        self.first_time_ns.get_or_insert(time_ns);
        self.last_time_ns = Some(time_ns);
        self.end_id = id + 1;
        self.valid_bytes += len;
        self.file_bytes = self.file_bytes.max(self.valid_bytes);
    }

    /// The last checkpoint at or before `id` (which must be a valid record).
    fn checkpoint(&self, id: RecordId) -> Checkpoint {
        let i = self.index.partition_point(|c| c.id <= id);
        self.index[i.saturating_sub(1)]
    }

    /// Counts the records and bytes from `id` (in this segment) to its end,
    /// and the time of record `id`.
    pub fn tail_from(&self, id: RecordId) -> io::Result<(u64, u64, i64)> {
        let mut r = BufReader::with_capacity(8 * 1024, File::open(&self.path)?);
        let offset = seek_to(&mut r, self, id)?;
        let header = match record::read_header(&mut r, self.valid_bytes - offset)? {
            Ok(Some(h)) => h,
            _ => {
                return Err(io::Error::other(format!(
                    "no record {id} at offset {offset}"
                )))
            }
        };
        Ok((self.end_id - id, self.valid_bytes - offset, header.time_ns))
    }
}

/// Positions `r` (on `meta`'s file) at record `id`, skipping headers from
/// the nearest checkpoint; returns the offset.
fn seek_to(r: &mut BufReader<File>, meta: &SegmentMeta, id: RecordId) -> io::Result<u64> {
    let cp = meta.checkpoint(id);
    r.seek(SeekFrom::Start(cp.offset))?;
    let mut offset = cp.offset;
    for _ in cp.id..id {
        match record::read_header(r, meta.valid_bytes - offset)? {
            Ok(Some(h)) => {
                r.seek_relative(i64::from(h.len))?;
                offset += h.record_len();
            }
            _ => {
                return Err(io::Error::other(format!(
                    "no record {id} in {}",
                    meta.path.display()
                )))
            }
        }
    }
    Ok(offset)
}

/// A damaged or torn region found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub offset: u64,
    pub kind: ProblemKind,
    /// From `offset` to the end of the file.
    pub bytes: u64,
}

/// Reads and verifies every record of a segment, stopping at the first
/// problem. `id_limit`: ids at or beyond it belong to the next segment.
pub fn scan(
    path: &Path,
    first_id: RecordId,
    id_limit: Option<RecordId>,
) -> io::Result<(SegmentMeta, Option<Problem>)> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut meta = SegmentMeta::new(path.parent().unwrap_or(Path::new(".")), first_id);
    meta.path = path.to_path_buf();
    meta.file_bytes = len;
    let mut r = BufReader::with_capacity(READ_BUFFER, file);
    let mut payload = Vec::new();
    loop {
        let id = meta.end_id;
        let offset = meta.valid_bytes;
        let kind = match record::read(&mut r, len - offset, id, &mut payload)? {
            Ok(None) => return Ok((meta, None)),
            Ok(Some(_)) if id_limit.is_some_and(|l| id >= l) => ProblemKind::BadId,
            Ok(Some(h)) => {
                meta.push(id, h.time_ns, h.record_len());
                continue;
            }
            Err(kind) => kind,
        };
        let bytes = len - offset;
        return Ok((
            meta,
            Some(Problem {
                offset,
                kind,
                bytes,
            }),
        ));
    }
}

/// Reads records of one segment in order from a given id.
pub struct SegmentReader {
    pub first_id: RecordId,
    r: BufReader<File>,
    /// The id at the current position, and its offset.
    pub next: RecordId,
    offset: u64,
    payload: Vec<u8>,
}

impl SegmentReader {
    /// Opens `meta`'s file positioned at record `id` (a valid record of it).
    pub fn open(meta: &SegmentMeta, id: RecordId) -> io::Result<SegmentReader> {
        let mut r = BufReader::with_capacity(READ_BUFFER, File::open(&meta.path)?);
        let offset = seek_to(&mut r, meta, id)?;
        Ok(SegmentReader {
            first_id: meta.first_id,
            r,
            next: id,
            offset,
            payload: Vec::new(),
        })
    }

    /// Moves to record `id` of the same segment (forward or back).
    pub fn reposition(&mut self, meta: &SegmentMeta, id: RecordId) -> io::Result<()> {
        if id != self.next {
            self.offset = seek_to(&mut self.r, meta, id)?;
            self.next = id;
        }
        Ok(())
    }

    /// The record at the position; `valid_bytes`: where valid data ends.
    pub fn read(&mut self, valid_bytes: u64) -> io::Result<Result<Record, Problem>> {
        let remaining = valid_bytes.saturating_sub(self.offset);
        let got = record::read(&mut self.r, remaining, self.next, &mut self.payload)?;
        let problem = |kind| Problem {
            offset: self.offset,
            kind,
            bytes: remaining,
        };
        match got {
            Ok(Some(h)) => {
                self.offset += h.record_len();
                self.next += 1;
                Ok(Ok(Record {
                    id: h.id,
                    time_ns: h.time_ns,
                    payload: std::mem::take(&mut self.payload),
                }))
            }
            Ok(None) => Ok(Err(problem(ProblemKind::Torn))),
            Err(kind) => Ok(Err(problem(kind))),
        }
    }
}

/// Bytes a record with this payload takes on disk.
pub fn record_len(payload_len: usize) -> u64 {
    HEADER_LEN + payload_len as u64
}
