use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How many lines of each log [`ChildProcess::log_tail`] shows.
const TAIL_LINES: usize = 40;
/// How much of the end of each log file is read for a tail.
const TAIL_BYTES: u64 = 64 * 1024;

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

/// Builder for [`ChildProcess`]; from [`ChildProcess::builder`].
pub struct ChildBuilder {
    program: PathBuf,
    name: Option<String>,
    cmd: Command,
    log_dir: Option<PathBuf>,
    extra_logs: Vec<PathBuf>,
}

/// Byte offsets of a child's logs at one moment; see
/// [`ChildProcess::wait_for_line_after`].
#[derive(Clone, Debug, Default)]
pub struct LogMark {
    offsets: BTreeMap<PathBuf, u64>,
}

impl LogMark {
    /// The current ends of `paths` (0 for missing files).
    pub(crate) fn of_paths<'a>(paths: impl IntoIterator<Item = &'a PathBuf>) -> LogMark {
        LogMark {
            offsets: paths
                .into_iter()
                .map(|p| {
                    (
                        p.clone(),
                        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
                    )
                })
                .collect(),
        }
    }
}

impl ChildBuilder {
    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable (the test's environment is inherited).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Removes an inherited environment variable.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.cmd.env_remove(key);
        self
    }

    /// Working directory of the child.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Name used in log file names and messages (default: program file name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Directory for `<name>.stdout.log` / `<name>.stderr.log` (appended
    /// to, so a restarted process keeps one log). Default: a new temp dir
    /// owned by the [`ChildProcess`].
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = Some(dir.into());
        self
    }

    /// Another log file the program writes itself; included in
    /// [`ChildProcess::log_tail`] and searched by `wait_for_line`.
    pub fn extra_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_logs.push(path.into());
        self
    }

    /// Starts the process; panics if it cannot be started.
    pub fn spawn(self) -> ChildProcess {
        self.try_spawn()
            .unwrap_or_else(|e| panic!("testkit: {e:#}"))
    }

    /// Starts the process.
    pub fn try_spawn(mut self) -> anyhow::Result<ChildProcess> {
        let name = self.name.clone().unwrap_or_else(|| {
            self.program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "child".into())
        });
        let (own_dir, log_dir) = match self.log_dir.take() {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                (None, dir)
            }
            None => {
                let dir = tempfile::Builder::new()
                    .prefix(&format!("testkit-{name}-"))
                    .tempdir()?;
                let path = dir.path().to_path_buf();
                (Some(dir), path)
            }
        };
        let (stdout_path, stderr_path) = log_paths(&log_dir, &name);
        let open = |p: &Path| OpenOptions::new().create(true).append(true).open(p);
        self.cmd
            .stdin(Stdio::null())
            .stdout(open(&stdout_path)?)
            .stderr(open(&stderr_path)?);
        let parent = std::process::id();
        // SAFETY: the closure only calls async-signal-safe functions.
        unsafe {
            self.cmd.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                if libc::getppid() as u32 != parent {
                    // The test process is already gone.
                    return Err(io::Error::other("parent exited"));
                }
                Ok(())
            });
        }
        let child = spawn_on_helper_thread(self.cmd).map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::NotFound && self.program.starts_with("/usr") {
                format!("; {}", crate::SETUP_HINT)
            } else {
                String::new()
            };
            anyhow::anyhow!(
                "cannot start {} ({name}): {e}{hint}",
                self.program.display()
            )
        })?;
        Ok(ChildProcess {
            name,
            program: self.program,
            child,
            status: None,
            stdout_path,
            stderr_path,
            extra_logs: self.extra_logs,
            log_dir,
            own_dir,
        })
    }
}

struct SpawnRequest {
    cmd: Command,
    reply: mpsc::Sender<io::Result<Child>>,
}

/// Spawns from one thread that lives as long as the process, because
/// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits
/// (a tokio blocking-pool thread may exit while the child should live).
fn spawn_on_helper_thread(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("testkit-spawner".into())
            .spawn(move || {
                for mut req in rx {
                    let _ = req.reply.send(req.cmd.spawn());
                }
            })
            .expect("testkit: spawn helper thread");
        Mutex::new(tx)
    });
    let (reply, answer) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(SpawnRequest { cmd, reply })
        .map_err(|_| io::Error::other("testkit spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| io::Error::other("testkit spawner thread is gone"))?
}

impl ChildProcess {
    /// A builder for `program`.
    /// `NO_COLOR=1` is set (log lines stay greppable); override with `.env`.
    pub fn builder(program: impl AsRef<OsStr>) -> ChildBuilder {
        let program = PathBuf::from(program.as_ref());
        let mut cmd = Command::new(&program);
        cmd.env("NO_COLOR", "1");
        ChildBuilder {
            cmd,
            program,
            name: None,
            log_dir: None,
            extra_logs: Vec::new(),
        }
    }

    /// Starts `program` with `args`, output to files in a new temp dir.
    pub fn spawn<I, S>(program: impl AsRef<OsStr>, args: I) -> ChildProcess
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::builder(program).args(args).spawn()
    }

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

    /// Everything the child wrote to stdout so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr_path)
    }

    fn logs(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.stderr_path, &self.stdout_path]
            .into_iter()
            .chain(self.extra_logs.iter())
    }

    /// The last lines of stderr, stdout and the extra logs, labelled, plus
    /// the exit status if the child has exited.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        if let Some(status) = self.status {
            out.push_str(&format!(
                "[{} (pid {}) exited: {status}]\n",
                self.name,
                self.pid()
            ));
        }
        for path in self.logs() {
            out.push_str(&tail_of_file(path, TAIL_LINES));
        }
        out
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

    /// The current end of every log, for [`Self::wait_for_line_after`].
    pub fn log_mark(&self) -> LogMark {
        LogMark::of_paths(self.logs())
    }

    /// Number of log lines (stderr, stdout, extra logs) containing `pattern`.
    pub fn count_lines(&self, pattern: &str) -> usize {
        self.logs()
            .map(|p| {
                read_lossy(p)
                    .lines()
                    .filter(|l| l.contains(pattern))
                    .count()
            })
            .sum()
    }

    /// Waits until a line containing `pattern` (plain substring) appears in
    /// stderr, stdout or an extra log, and returns that line. Panics with
    /// the log tail on timeout or if the child exits first.
    pub async fn wait_for_line(&mut self, pattern: &str, timeout: Duration) -> String {
        self.wait_for_line_after(&LogMark::default(), pattern, timeout)
            .await
    }

    /// Like [`Self::wait_for_line`], but only looks at what was written
    /// after `mark` (from [`Self::log_mark`]).
    pub async fn wait_for_line_after(
        &mut self,
        mark: &LogMark,
        pattern: &str,
        timeout: Duration,
    ) -> String {
        let start = Instant::now();
        loop {
            let exited = self.try_wait();
            if let Some(line) = self.find_line_after(mark, pattern) {
                return line;
            }
            if let Some(status) = exited {
                panic!(
                    "testkit: {} exited ({status}) before logging a line containing {pattern:?}\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if start.elapsed() >= timeout {
                panic!(
                    "testkit: timed out after {timeout:?} waiting for {} to log a line containing {pattern:?}\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The first line after `mark` that contains `pattern`.
    pub fn find_line_after(&self, mark: &LogMark, pattern: &str) -> Option<String> {
        for path in self.logs() {
            let from = mark.offsets.get(path).copied().unwrap_or(0);
            let text = read_from(path, from);
            if let Some(line) = text.lines().find(|l| l.contains(pattern)) {
                return Some(line.to_string());
            }
        }
        None
    }

    /// Keeps the log dir on drop (if this process owns one) and returns it.
    pub fn keep_log_dir(&mut self) -> PathBuf {
        if let Some(dir) = self.own_dir.take() {
            let _ = dir.keep();
        }
        self.log_dir.clone()
    }

    /// Everything written to any log after `mark`.
    pub(crate) fn text_after(&self, mark: &LogMark) -> String {
        self.logs()
            .map(|p| read_from(p, mark.offsets.get(p).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("\n")
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

/// Where a child named `name` with logs in `dir` writes stdout and stderr.
pub(crate) fn log_paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.stdout.log")),
        dir.join(format!("{name}.stderr.log")),
    )
}

pub(crate) fn read_lossy(path: &Path) -> String {
    read_from(path, 0)
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(path) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.read_to_end(&mut buf);
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// `--- path (last N lines) ---` followed by the lines; empty logs say so.
pub(crate) fn tail_of_file(path: &Path, lines: usize) -> String {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let text = read_from(path, len.saturating_sub(TAIL_BYTES));
    let all: Vec<&str> = text.lines().collect();
    let shown = &all[all.len().saturating_sub(lines)..];
    if shown.is_empty() {
        return format!("--- {} (empty) ---\n", path.display());
    }
    let mut out = format!("--- {} (last {} lines) ---\n", path.display(), shown.len());
    for line in shown {
        out.push_str(line);
        out.push('\n');
    }
    out
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
