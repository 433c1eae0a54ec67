//! Opening a spool: the directory lock, recovery of the segments (torn
//! tails, damaged records) and of the cursors, reported in a
//! [`Recovery`] (see [`super::recovery`]).
//!
//! Opening needs no new disk space when the spool exists: cutting a torn
//! tail shrinks a file, the pid in `LOCK` and moved cursors are rewritten
//! in place. So a collector whose spool filled the disk starts, drains to
//! the sinks and frees segments (it used to exit, every restart).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::watch;

use super::cursor::CursorFile;
use super::record::RecordId;
use super::recovery::{Corruption, Recovery, Truncation};
use super::segment::{self, FileMark, SegmentMeta};
use super::write::is_no_space;
use super::{cursor, io_err, Inner, SinkState, Spool, SpoolConfig, SpoolError, State};

pub(super) fn open(config: &SpoolConfig, sinks: &[&str]) -> Result<(Spool, Recovery), SpoolError> {
    config.validate()?;
    check_sinks(sinks)?;
    let dir = config.dir.as_path();
    let cursors_dir = cursor::dir(dir);
    fs::create_dir_all(&cursors_dir).map_err(io_err(&cursors_dir))?;
    let lock = lock(dir)?;
    cursor::remove_temporaries(&cursors_dir).map_err(io_err(&cursors_dir))?;

    let mut rec = Recovery::default();
    let mut segments = recover_segments(dir, config.fsync, &mut rec)?;
    let stored = cursor::list(&cursors_dir).map_err(io_err(&cursors_dir))?;
    let next_id = next_id(&segments, &stored);
    rec.next_id = next_id;
    let (file, on_file) = open_active(dir, &mut segments, next_id, &rec, config.fsync)?;
    let first_retained = segments[0].first_id;
    let sink_states = recover_sinks(
        &cursors_dir,
        sinks,
        &stored,
        first_retained,
        config,
        &mut rec,
    )?;
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
        fsyncs: std::sync::atomic::AtomicU64::new(0),
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

/// Scans every segment, oldest first: the last one's torn tail is cut off,
/// damage in an older one is reported (its records from there are skipped).
fn recover_segments(
    dir: &Path,
    fsync: bool,
    rec: &mut Recovery,
) -> Result<Vec<SegmentMeta>, SpoolError> {
    let files = segment::list(dir).map_err(io_err(dir))?;
    let mut segments = Vec::with_capacity(files.len() + 1);
    for (i, (first_id, path)) in files.iter().enumerate() {
        let next_first = files.get(i + 1).map(|f| f.0);
        let (mut meta, problem) =
            segment::scan(path, *first_id, next_first).map_err(io_err(path))?;
        match (problem, next_first) {
            (None, _) => {}
            (Some(p), None) => {
                truncate(path, meta.valid_bytes, fsync).map_err(io_err(path))?;
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
    Ok(segments)
}

/// The id the next append gets: after the last record on disk and after
/// every readable cursor (a cursor ahead of the segments means records were
/// lost without fsync, and ids must never repeat).
fn next_id(segments: &[SegmentMeta], stored: &[(String, Result<RecordId, String>)]) -> RecordId {
    let max_cursor = stored
        .iter()
        .filter_map(|(_, v)| v.as_ref().ok())
        .max()
        .copied();
    segments
        .last()
        .map_or(1, |s| s.end_id)
        .max(max_cursor.map_or(1, |c| c + 1))
}

/// Opens the segment appends go to, and where its file ends.
fn open_active(
    dir: &Path,
    segments: &mut Vec<SegmentMeta>,
    next_id: RecordId,
    rec: &Recovery,
    fsync: bool,
) -> Result<(File, FileMark), SpoolError> {
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
    if fsync {
        // What the previous process flushed but did not fsync is durable now.
        file.sync_data().map_err(io_err(&active))?;
        if dir_dirty {
            cursor::sync_dir(dir).map_err(io_err(dir))?;
        }
    }
    let on_file = segments.last().expect("just ensured").mark();
    Ok((file, on_file))
}

/// Each configured sink's state from its cursor file: missing, unreadable
/// or behind the oldest retained record, it starts there (and is reported).
fn recover_sinks(
    cursors_dir: &Path,
    sinks: &[&str],
    stored: &[(String, Result<RecordId, String>)],
    first_retained: RecordId,
    config: &SpoolConfig,
    rec: &mut Recovery,
) -> Result<Vec<SinkState>, SpoolError> {
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
        let cursor_file = cursor_file(cursors_dir, name, on_disk, acked, config.fsync)?;
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
    Ok(sink_states)
}

/// The sink's cursor file, saying `acked`: created if there was none
/// (`None` if the disk is full: it is not needed to start), rewritten in
/// place if unreadable or moved forward.
fn cursor_file(
    cursors_dir: &Path,
    name: &str,
    on_disk: Option<&Result<RecordId, String>>,
    acked: RecordId,
    fsync: bool,
) -> Result<Option<CursorFile>, SpoolError> {
    let path = cursors_dir.join(name);
    if on_disk.is_none() {
        // A new file (so `inspect` sees every sink): needs space, and
        // is not needed to start: created on the first persist then.
        return match CursorFile::create(cursors_dir, name, acked, fsync) {
            Ok(f) => Ok(Some(f)),
            Err(e) if is_no_space(&e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot create a cursor file on the full disk; retried when progress is saved");
                Ok(None)
            }
            Err(e) => Err(io_err(&path)(e)),
        };
    }
    let mut f = CursorFile::open(cursors_dir, name).map_err(io_err(&path))?;
    if on_disk.and_then(|v| v.as_ref().ok()) != Some(&acked) {
        // Unreadable or moved forward: rewritten in place.
        f.write(acked, fsync).map_err(io_err(&path))?;
    }
    Ok(Some(f))
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
