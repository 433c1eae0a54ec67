//! [`Tmpfs`]: a real, small filesystem for tests that fill a disk.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// A tmpfs of a given size mounted on a temporary directory by the test,
/// unmounted when dropped (also when the test panics; lazily if files are
/// still open). Mounting needs root: CI runs the tests as root, and
/// without it [`Tmpfs::mount`] fails the test with the reason — never a
/// skip.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `mount -t tmpfs -o size=<size> tmpfs <tempdir>`; `size` as mount
    /// takes it (`4m`, `512k`).
    pub fn mount(size: &str) -> Tmpfs {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "this test fills a real filesystem: it mounts a {size} tmpfs, which needs root \
             (CI runs the tests as root); run it with sudo -E"
        );
        let dir = tempfile::tempdir().expect("temp dir for the tmpfs");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs -o size={size} tmpfs {}: {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left with `<mount>/filler` until ENOSPC; returns the
    /// bytes written.
    pub fn fill(&self) -> u64 {
        let mut f = fs::File::create(self.path().join("filler")).expect("create filler");
        let chunk = [0u8; 4096];
        let mut n = 0;
        loop {
            match f.write(&chunk) {
                Ok(k) => n += k as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return n,
                Err(e) => panic!("filler: {e}"),
            }
        }
    }

    /// Bytes still free.
    pub fn free(&self) -> u64 {
        let p = std::ffi::CString::new(self.path().as_os_str().as_encoded_bytes())
            .expect("no NUL in a temp path");
        // SAFETY: a zeroed statvfs is a valid out-parameter; `p` is a
        // NUL-terminated string that outlives the call.
        unsafe {
            let mut s: libc::statvfs = std::mem::zeroed();
            assert_eq!(libc::statvfs(p.as_ptr(), &mut s), 0, "statvfs");
            s.f_bavail as u64 * s.f_frsize as u64
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a panic left files open): detach it.
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}
