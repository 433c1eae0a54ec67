//! Opening a spool: the directory lock, recovery of the segments (torn
//! tails, damaged records) and of the cursors, and the [`Recovery`] report.
//!
//! Opening needs no new disk space when the spool exists: cutting a torn
//! tail shrinks a file, the pid in `LOCK` and moved cursors are rewritten
//! in place. So a collector whose spool filled the disk starts, drains to
//! the sinks and frees segments (it used to exit, every restart).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use serde::Serialize;
use tokio::sync::watch;

use super::cursor::CursorFile;
use super::record::{ProblemKind, RecordId};
use super::segment::{self, SegmentMeta};
use super::write::is_no_space;
use super::{cursor, io_err, Inner, SinkState, Spool, SpoolConfig, SpoolError, State};

/// What [`Spool::open`] found and repaired.
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

pub(super) fn open(config: &SpoolConfig, sinks: &[&str]) -> Result<(Spool, Recovery), SpoolError> {
    config.validate()?;
    check_sinks(sinks)?;
    let dir = config.dir.as_path();
    let cursors_dir = cursor::dir(dir);
    fs::create_dir_all(&cursors_dir).map_err(io_err(&cursors_dir))?;
    let lock = lock(dir)?;
    cursor::remove_temporaries(&cursors_dir).map_err(io_err(&cursors_dir))?;

    let mut rec = Recovery::default();
    let files = segment::list(dir).map_err(io_err(dir))?;
    let mut segments = Vec::with_capacity(files.len() + 1);
    for (i, (first_id, path)) in files.iter().enumerate() {
        let next_first = files.get(i + 1).map(|f| f.0);
        let (mut meta, problem) =
            segment::scan(path, *first_id, next_first).map_err(io_err(path))?;
        match (problem, next_first) {
            (None, _) => {}
            (Some(p), None) => {
                truncate(path, meta.valid_bytes, config.fsync).map_err(io_err(path))?;
                meta.file_bytes = meta.valid_bytes;
                rec.truncated = Some(Truncation {
                    segment: path.clone(),
                    offset: p.offset,
                    bytes: p.bytes,
                    kind: p.kind,
                });
            }
            (Some(p), Some(next)) => rec.corrupt.push(Corruption {
                segment: path.clone(),
                offset: p.offset,
                kind: p.kind,
                bytes: p.bytes,
                records_skipped: next - meta.end_id,
            }),
        }
        rec.segments
            .push((meta.first_id, meta.records(), meta.file_bytes));
        segments.push(meta);
    }

    let stored = cursor::list(&cursors_dir).map_err(io_err(&cursors_dir))?;
    let max_cursor = stored
        .iter()
        .filter_map(|(_, v)| v.as_ref().ok())
        .max()
        .copied();
    let next_id = segments
        .last()
        .map_or(1, |s| s.end_id)
        .max(max_cursor.map_or(1, |c| c + 1));
    rec.next_id = next_id;

    // The active segment: the last one, unless a cursor is ahead of it
    // (records lost without fsync): then a new one, so ids never repeat.
    let mut dir_dirty = rec.truncated.is_some();
    if segments.last().is_none_or(|s| s.end_id != next_id) {
        let meta = SegmentMeta::new(dir, next_id);
        create_segment(&meta.path).map_err(io_err(&meta.path))?;
        segments.push(meta);
        dir_dirty = true;
    }
    let active = segments.last().expect("just ensured").path.clone();
    let file = OpenOptions::new()
        .append(true)
        .open(&active)
        .map_err(io_err(&active))?;
    if config.fsync {
        // What the previous process flushed but did not fsync is durable now.
        file.sync_data().map_err(io_err(&active))?;
        if dir_dirty {
            cursor::sync_dir(dir).map_err(io_err(dir))?;
        }
    }
    let on_file = segments.last().expect("just ensured").mark();

    let first_retained = segments[0].first_id;
    let mut sink_states = Vec::with_capacity(sinks.len());
    for &name in sinks {
        let on_disk = stored.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let acked = match on_disk {
            Some(Ok(c)) if *c + 1 < first_retained => {
                rec.missing.push((name.to_owned(), first_retained - 1 - c));
                first_retained - 1
            }
            Some(Ok(c)) => *c,
            Some(Err(why)) => {
                rec.bad_cursors.push((name.to_owned(), why.clone()));
                first_retained - 1
            }
            None => first_retained - 1,
        };
        let path = cursors_dir.join(name);
        let cursor_file = if on_disk.is_none() {
            // A new file (so `inspect` sees every sink): needs space, and
            // is not needed to start: created on the first persist then.
            match CursorFile::create(&cursors_dir, name, acked, config.fsync) {
                Ok(f) => Some(f),
                Err(e) if is_no_space(&e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot create a cursor file on the full disk; retried when progress is saved");
                    None
                }
                Err(e) => return Err(io_err(&path)(e)),
            }
        } else {
            let mut f = CursorFile::open(&cursors_dir, name).map_err(io_err(&path))?;
            if on_disk.and_then(|v| v.as_ref().ok()) != Some(&acked) {
                // Unreadable or moved forward: rewritten in place.
                f.write(acked, config.fsync).map_err(io_err(&path))?;
            }
            Some(f)
        };
        sink_states.push(SinkState {
            name: name.to_owned(),
            acked,
            persisted: acked,
            cursor: cursor_file,
            last_persist: None,
            read: acked,
            dropped_upto: 0,
            dropped: 0,
        });
    }
    rec.unknown_sinks = stored
        .iter()
        .filter(|(n, _)| !sinks.contains(&n.as_str()))
        .map(|(n, _)| n.clone())
        .collect();

    let bytes = segments.iter().map(|s| s.file_bytes).sum();
    let durable = next_id - 1;
    let state = State {
        segments,
        file: Arc::new(file),
        buf: Vec::with_capacity(super::WRITE_BUFFER),
        on_file,
        unplaced: Vec::new(),
        next_id,
        durable,
        bytes,
        syncing: false,
        dir_dirty: false,
        failed: None,
        sinks: sink_states,
        corrupt_skipped: 0,
        episodes: Default::default(),
    };
    let inner = Inner {
        config: config.clone(),
        cursors_dir,
        state: Mutex::new(state),
        synced: Condvar::new(),
        durable_tx: watch::Sender::new(durable),
        space_tx: watch::Sender::new(0),
        _lock: lock,
    };
    inner.delete_acked(&mut inner.lock());
    if !rec.is_clean() {
        tracing::warn!(dir = %dir.display(), "spool recovered: {rec}");
    }
    Ok((
        Spool {
            inner: Arc::new(inner),
        },
        rec,
    ))
}

fn check_sinks(sinks: &[&str]) -> Result<(), SpoolError> {
    if sinks.is_empty() {
        return Err(SpoolError::Sinks("at least one sink is needed".into()));
    }
    for (i, s) in sinks.iter().enumerate() {
        if !cursor::valid_name(s) {
            return Err(SpoolError::Sinks(format!(
                "`{s}`: 1-64 of A-Z a-z 0-9 _ - . (not starting with a dot, not ending in .tmp)"
            )));
        }
        if sinks[..i].contains(s) {
            return Err(SpoolError::Sinks(format!("`{s}` listed twice")));
        }
    }
    Ok(())
}

/// Creates a new, empty segment file, open for appending.
pub(super) fn create_segment(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create_new(true).open(path)
}

fn truncate(path: &Path, len: u64, fsync: bool) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    if fsync {
        f.sync_all()?;
    }
    Ok(())
}

/// Takes the exclusive lock of a spool directory and writes our pid in it.
fn lock(dir: &Path) -> Result<File, SpoolError> {
    let path = dir.join("LOCK");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    if !try_flock(&f, libc::LOCK_EX).map_err(io_err(&path))? {
        return Err(SpoolError::Locked {
            dir: dir.to_path_buf(),
            pid: locking_pid(dir),
        });
    }
    // In place, padded to a fixed width: truncating first would free the
    // file's block and need a new one, which a full disk refuses.
    let pid = format!("{:<10}\n", std::process::id());
    match f
        .write_all_at(pid.as_bytes(), 0)
        .and_then(|()| f.set_len(pid.len() as u64))
    {
        Ok(()) => {}
        // Only informational (`inspect` names the holder): start anyway.
        Err(e) if is_no_space(&e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the pid into the lock file on the full disk");
        }
        Err(e) => return Err(io_err(&path)(e)),
    }
    Ok(f)
}

/// Whether a running process holds the spool (for `inspect`): the pid in
/// `LOCK` if it is locked. Does not create anything.
pub(super) fn holder(dir: &Path) -> io::Result<Option<Option<u32>>> {
    let f = match File::open(dir.join("LOCK")) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if try_flock(&f, libc::LOCK_SH)? {
        return Ok(None); // released when `f` closes
    }
    Ok(Some(locking_pid(dir)))
}

fn locking_pid(dir: &Path) -> Option<u32> {
    fs::read_to_string(dir.join("LOCK"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `flock(op | LOCK_NB)`: `Ok(false)` if another open file holds it.
fn try_flock(f: &File, op: libc::c_int) -> io::Result<bool> {
    // SAFETY: flock only reads the descriptor, which `f` keeps open.
    let rc = unsafe { libc::flock(f.as_raw_fd(), op | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(e)
    }
}
