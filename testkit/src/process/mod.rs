//! [`ChildProcess`]: a child whose stdout and stderr go to files, killed
//! and reaped on drop. This file owns the handle and its lifecycle (signals,
//! waiting, stopping, reaping); `spawn` owns starting one ([`ChildBuilder`]),
//! `logs` owns reading its logs ([`LogMark`], tails, waiting for a line).

mod logs;
mod spawn;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub(crate) use logs::log_paths;
pub use logs::LogMark;
pub use spawn::ChildBuilder;

/// A child process whose stdout and stderr go to files, killed (SIGKILL)
/// and reaped on drop.
///
/// Children are spawned from one long-lived helper thread with
/// `PR_SET_PDEATHSIG = SIGKILL`, so they also die when the test process dies
/// without running destructors (a test runner's timeout kill).
///
/// ```no_run
/// # async fn example(cfg: &str) {
/// use std::time::Duration;
/// use testkit::ChildProcess;
/// // In the root package's tests: env!("CARGO_BIN_EXE_schoolnet").
/// let mut app = ChildProcess::spawn(testkit::schoolnet_bin(), ["run", "--config", cfg]);
/// app.wait_for_line("listening", Duration::from_secs(10)).await;
/// app.kill(testkit::signal::SIGTERM);
/// let status = app.wait_exit(Duration::from_secs(10)).await;
/// assert!(status.success(), "{}", app.log_tail());
/// # }
/// ```
pub struct ChildProcess {
    name: String,
    program: PathBuf,
    child: Child,
    status: Option<ExitStatus>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    extra_logs: Vec<PathBuf>,
    log_dir: PathBuf,
    // Last: dropped after the child is killed.
    own_dir: Option<TempDir>,
}

impl ChildProcess {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The name used in messages and log file names.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program that was started.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Directory holding the stdout/stderr log files.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    pub fn stdout_path(&self) -> &Path {
        &self.stdout_path
    }

    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// Sends `signal` (see [`crate::signal`]) to the child. A no-op once the
    /// child has been reaped (its pid may have been reused).
    pub fn kill(&mut self, signal: i32) {
        if self.try_wait().is_some() {
            return;
        }
        // SAFETY: plain syscall on a pid we own and have not reaped.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ESRCH) {
                panic!("testkit: kill({}, {signal}) failed: {err}", self.pid());
            }
        }
    }

    /// The exit status, if the child has exited (reaps it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
            }
        }
        self.status
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// Waits for the child to exit; panics with the log tail after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            if start.elapsed() >= timeout {
                panic!(
                    "testkit: {} (pid {}) did not exit within {timeout:?}\n{}",
                    self.name,
                    self.pid(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Graceful stop: SIGTERM, wait up to `grace`, then SIGKILL. Blocks the
    /// calling thread (at most `grace`). Returns the exit status.
    pub fn stop(&mut self, grace: Duration) -> ExitStatus {
        if let Some(status) = self.try_wait() {
            return status;
        }
        self.kill(libc::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Some(status) = self.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill_now()
    }

    /// SIGKILL and reap (a crash, as far as the child can tell).
    pub fn kill_now(&mut self) -> ExitStatus {
        if let Some(status) = self.try_wait() {
            return status;
        }
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .unwrap_or_else(|_| ExitStatus::from_raw(libc::SIGKILL));
        self.status = Some(status);
        status
    }

    /// Keeps the log dir on drop (if this process owns one) and returns it.
    pub fn keep_log_dir(&mut self) -> PathBuf {
        if let Some(dir) = self.own_dir.take() {
            let _ = dir.keep();
        }
        self.log_dir.clone()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let was_running = self.try_wait().is_none();
        self.kill_now();
        if std::thread::panicking() {
            eprintln!(
                "testkit: test panicked; {} (pid {}, {}) log tail:\n{}",
                self.name,
                self.pid(),
                if was_running { "killed" } else { "had exited" },
                self.log_tail()
            );
        }
        if crate::keep_dirs() && self.own_dir.is_some() {
            let dir = self.keep_log_dir();
            eprintln!("testkit: kept {} logs in {}", self.name, dir.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn captures_output_and_waits_for_lines() {
        let mut p = ChildProcess::spawn("/bin/sh", ["-c", "echo hello; echo oops >&2; sleep 30"]);
        let line = p.wait_for_line("oops", Duration::from_secs(5)).await;
        assert_eq!(line, "oops");
        assert!(p.is_running());
        let mark = p.log_mark();
        assert!(p.find_line_after(&mark, "hello").is_none());
        assert_eq!(p.count_lines("hello"), 1);
        p.kill(crate::signal::SIGTERM);
        let status = p.wait_exit(Duration::from_secs(5)).await;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert!(p.log_tail().contains("hello"));
    }

    #[tokio::test]
    #[should_panic(expected = "exited")]
    async fn wait_for_line_fails_fast_when_child_exits() {
        let mut p = ChildProcess::spawn("/bin/sh", ["-c", "echo bye; exit 3"]);
        p.wait_for_line("never", Duration::from_secs(30)).await;
    }

    #[test]
    fn drop_kills_the_child() {
        let p = ChildProcess::spawn("/bin/sleep", ["60"]);
        let pid = p.pid() as libc::pid_t;
        drop(p);
        // Reaped: the pid no longer exists as our child.
        let rc = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        assert_eq!(rc, -1);
    }

    #[test]
    fn missing_program_names_setup_command() {
        let err = ChildProcess::builder("/usr/sbin/definitely-not-installed")
            .try_spawn()
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(crate::SETUP_HINT), "{err}");
    }
}
