//! Per-sink cursors: `cursors/<sink>` holds the id of the last record the
//! sink acknowledged, as 20 zero-padded decimal digits and a newline
//! (`cat` shows it; older spools wrote it unpadded, which still parses).
//!
//! A cursor file is created once, atomically (`cursors/<sink>.tmp`, fsync,
//! rename, fsync the directory), when the spool is opened. From then on
//! progress is saved by [`CursorFile::write`]: the same 21 bytes rewritten
//! in place at offset 0 and `fdatasync`ed. That needs no new disk block —
//! the file's one block is already allocated — so saving progress works on
//! a full disk, which is what lets a spool on a full disk drain (a
//! rename-based update needs a new file, and failed there). 21 bytes at
//! offset 0 lie within one 512-byte sector, which disks write atomically:
//! a crash leaves the old or the new value.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::record::RecordId;

/// The cursors directory of a spool directory.
pub fn dir(spool_dir: &Path) -> PathBuf {
    spool_dir.join("cursors")
}

/// Sink names become file names: 1–64 of `A-Z a-z 0-9 _ - .`, not starting
/// with a dot, not ending in `.tmp`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && !name.ends_with(".tmp")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Parses a cursor file's content.
pub fn parse(text: &str) -> Result<RecordId, String> {
    let t = text.strip_suffix('\n').unwrap_or(text);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("not a record id: {:?}", truncate(t)));
    }
    t.parse().map_err(|e| format!("{e}"))
}

fn truncate(t: &str) -> &str {
    t.char_indices().nth(32).map_or(t, |(i, _)| &t[..i])
}

/// Every cursor file of `cursors_dir` (temporary files excluded), by name:
/// `Ok(id)` or `Err(why it is unreadable)`.
pub fn list(cursors_dir: &Path) -> io::Result<Vec<(String, Result<RecordId, String>)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(cursors_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !valid_name(&name) {
            continue;
        }
        let value = match fs::read(entry.path()) {
            Ok(bytes) => String::from_utf8(bytes)
                .map_err(|_| "not UTF-8".to_owned())
                .and_then(|t| parse(&t)),
            Err(e) => Err(e.to_string()),
        };
        out.push((name, value));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Removes `*.tmp` files left by a crash during [`store`].
pub fn remove_temporaries(cursors_dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(cursors_dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(".tmp"))
        {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Bytes of a cursor file: 20 digits (any u64) and a newline.
pub const CURSOR_LEN: u64 = 21;

fn encode(id: RecordId) -> String {
    format!("{id:020}\n")
}

/// A sink's cursor file, kept open and rewritten in place (see the module
/// docs).
#[derive(Debug)]
pub struct CursorFile {
    file: File,
}

impl CursorFile {
    /// Opens the existing cursor file of `sink`.
    pub fn open(cursors_dir: &Path, sink: &str) -> io::Result<CursorFile> {
        let file = OpenOptions::new()
            .write(true)
            .open(cursors_dir.join(sink))?;
        Ok(CursorFile { file })
    }

    /// Creates the cursor file of `sink` atomically with `id` (needs a new
    /// file: only when the spool is opened) and opens it.
    pub fn create(
        cursors_dir: &Path,
        sink: &str,
        id: RecordId,
        fsync: bool,
    ) -> io::Result<CursorFile> {
        store(cursors_dir, sink, id, fsync)?;
        CursorFile::open(cursors_dir, sink)
    }

    /// Saves `id` in place: no new disk space needed.
    pub fn write(&mut self, id: RecordId, fsync: bool) -> io::Result<()> {
        self.file.write_all_at(encode(id).as_bytes(), 0)?;
        // An older, unpadded file is shorter: it now ends at the newline.
        // (A longer one cannot exist: 20 digits hold every u64.)
        if self.file.metadata()?.len() != CURSOR_LEN {
            self.file.set_len(CURSOR_LEN)?;
        }
        if fsync {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

/// Atomically replaces the cursor of `sink` (a new file: needs disk space).
pub fn store(cursors_dir: &Path, sink: &str, id: RecordId, fsync: bool) -> io::Result<()> {
    let tmp = cursors_dir.join(format!("{sink}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(encode(id).as_bytes())?;
    if fsync {
        f.sync_all()?;
    }
    fs::rename(&tmp, cursors_dir.join(sink))?;
    if fsync {
        sync_dir(cursors_dir)?;
    }
    Ok(())
}

/// fsync a directory (makes created, renamed and removed entries durable).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_list_parse() {
        let d = tempfile::tempdir().unwrap();
        store(d.path(), "influx", 42, true).unwrap();
        store(d.path(), "influx", 43, false).unwrap();
        fs::write(d.path().join("bad"), "x1\n").unwrap();
        fs::write(d.path().join("left.tmp"), "1\n").unwrap();
        let l = list(d.path()).unwrap();
        assert_eq!(l[1], ("influx".to_owned(), Ok(43)));
        assert!(l[0].1.is_err());
        assert_eq!(l.len(), 2);
        remove_temporaries(d.path()).unwrap();
        assert!(!d.path().join("left.tmp").exists());
        assert!(valid_name("influx-v2.main") && !valid_name("../x") && !valid_name(".x"));
        assert!(!valid_name("") && !valid_name("a/b"));
    }

    #[test]
    fn rewritten_in_place_at_a_fixed_size() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("influx"), "7\n").unwrap(); // an older spool
        let mut c = CursorFile::open(d.path(), "influx").unwrap();
        c.write(12345, true).unwrap();
        let text = fs::read_to_string(d.path().join("influx")).unwrap();
        assert_eq!(text, "00000000000000012345\n");
        assert_eq!(parse(&text), Ok(12345));
        c.write(u64::MAX, false).unwrap();
        let text = fs::read_to_string(d.path().join("influx")).unwrap();
        assert_eq!(text.len() as u64, CURSOR_LEN);
        assert_eq!(parse(&text), Ok(u64::MAX));
        let mut c = CursorFile::create(d.path(), "other", 3, true).unwrap();
        c.write(4, true).unwrap();
        assert_eq!(list(d.path()).unwrap()[1], ("other".to_owned(), Ok(4)));
    }
}
