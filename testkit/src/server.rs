//! Shared plumbing of the server helpers: the temp dir and child ([`Core`]),
//! the start loop (readiness, retry on a lost port race), config-file
//! helpers, and `server_methods!`, the accessors and lifecycle methods
//! (`log_tail`, `stop`, `start_again`, ...) every helper shares.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::ports::is_bind_conflict;
use crate::process::{log_paths, ChildProcess, LogMark};

pub(crate) const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(15);
const MAX_ATTEMPTS: u32 = 8;

pub(crate) type Probe = Pin<Box<dyn Future<Output = bool> + Send>>;

/// A server's temp dir and child process.
pub(crate) struct Core {
    pub name: &'static str,
    // Field order: the child is killed before the dir is removed.
    pub child: Option<ChildProcess>,
    dir: Option<TempDir>,
    path: PathBuf,
    pub startup_timeout: Duration,
}

impl Core {
    pub fn new(name: &'static str, startup_timeout: Duration) -> Core {
        let dir = tempfile::Builder::new()
            .prefix(&format!("testkit-{name}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("testkit: cannot create a temp dir for {name}: {e}"));
        Core {
            name,
            child: None,
            path: dir.path().to_path_buf(),
            dir: Some(dir),
            startup_timeout,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn log_tail(&self) -> String {
        match &self.child {
            Some(child) => child.log_tail(),
            None => format!("[{} not started]\n", self.name),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(ChildProcess::pid)
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(ChildProcess::is_running)
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        if let Some(child) = &mut self.child {
            child.stop(STOP_GRACE);
        }
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(child) = &mut self.child {
            child.kill_now();
        }
    }

    fn ensure_stopped(&mut self) {
        if let Some(child) = &mut self.child {
            assert!(
                child.try_wait().is_some(),
                "testkit: {} is still running; call stop() or kill() before start_again()",
                self.name
            );
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        drop(self.child.take());
        if crate::keep_dirs() {
            if let Some(dir) = self.dir.take() {
                let path = dir.keep();
                eprintln!("testkit: kept {} dir {}", self.name, path.display());
            }
        }
    }
}

/// What one start attempt runs.
pub(crate) struct LaunchSpec {
    pub program: &'static str,
    pub args: Vec<String>,
    /// Log files the server writes itself.
    pub extra_logs: Vec<PathBuf>,
    /// A line that must appear in the logs (after this start) before the
    /// probe is tried.
    pub ready_line: Option<&'static str>,
}

impl LaunchSpec {
    /// `program args`, ready once the probe answers.
    pub fn new(program: &'static str, args: Vec<String>) -> LaunchSpec {
        LaunchSpec {
            program,
            args,
            extra_logs: Vec::new(),
            ready_line: None,
        }
    }

    /// A log file the server writes itself.
    pub fn extra_log(mut self, path: PathBuf) -> LaunchSpec {
        self.extra_logs.push(path);
        self
    }

    /// Waits for a log line containing `line` before probing.
    pub fn ready_line(mut self, line: &'static str) -> LaunchSpec {
        self.ready_line = Some(line);
        self
    }
}

/// Access to a server helper's [`Core`]; implemented by [`server_methods`].
pub(crate) trait HasCore {
    fn core(&mut self) -> &mut Core;
}

/// A server helper the generic start loop can drive.
pub(crate) trait Launchable: HasCore {
    /// Chooses free ports (and sets the URL): before the first start and
    /// after a lost port race.
    fn pick_ports(&mut self);
    /// Writes the config files for the current ports and returns the command.
    fn prepare(&mut self) -> LaunchSpec;
    /// One readiness probe (owned future).
    fn probe(&self) -> Probe;
}

enum LaunchError {
    PortInUse(String),
    Failed(String),
}

/// First start of a new server helper: picks its ports, then [`boot`]s it.
pub(crate) async fn start_new<T: Launchable>(mut server: T) -> T {
    server.pick_ports();
    boot(&mut server, false).await;
    server
}

/// Starts the server and waits until it is ready. With `fixed_ports` (a
/// restart) a port conflict is retried on the same ports; otherwise new
/// ports are picked. Panics with the log tail on failure.
pub(crate) async fn boot<T: Launchable>(server: &mut T, fixed_ports: bool) {
    server.core().ensure_stopped();
    let mut last = String::new();
    for attempt in 1..=MAX_ATTEMPTS {
        match launch(server).await {
            Ok(child) => {
                server.core().child = Some(child);
                return;
            }
            Err(LaunchError::PortInUse(tail)) => {
                last = tail;
                if fixed_ports {
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                } else {
                    server.pick_ports();
                }
            }
            Err(LaunchError::Failed(msg)) => {
                panic!("testkit: {} failed to start: {msg}", server.core().name)
            }
        }
    }
    panic!(
        "testkit: {} failed to start: its port stayed in use over {MAX_ATTEMPTS} attempts\n{last}",
        server.core().name
    );
}

async fn launch<T: Launchable>(server: &mut T) -> Result<ChildProcess, LaunchError> {
    let spec = server.prepare();
    let core = server.core();
    let (name, timeout) = (core.name, core.startup_timeout);
    let dir = core.path().to_path_buf();
    let (stdout, stderr) = log_paths(&dir, name);
    let mut watched = vec![stdout, stderr];
    watched.extend(spec.extra_logs.iter().cloned());
    let mark = LogMark::of_paths(&watched);

    let mut builder = ChildProcess::builder(spec.program)
        .name(name)
        .log_dir(&dir)
        .current_dir(&dir)
        .args(&spec.args);
    for log in &spec.extra_logs {
        builder = builder.extra_log(log);
    }
    let mut child = builder
        .try_spawn()
        .map_err(|e| LaunchError::Failed(format!("{e:#}")))?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait() {
            let fresh = child.text_after(&mark);
            let tail = child.log_tail();
            return Err(if is_bind_conflict(&fresh) {
                LaunchError::PortInUse(tail)
            } else {
                LaunchError::Failed(format!(
                    "{} exited before it was ready ({status}); command: {} {}\n{tail}",
                    name,
                    spec.program,
                    spec.args.join(" ")
                ))
            });
        }
        let line_seen = spec
            .ready_line
            .is_none_or(|line| child.find_line_after(&mark, line).is_some());
        if line_seen && server.probe().await && child.try_wait().is_none() {
            return Ok(child);
        }
        if start.elapsed() >= timeout {
            child.kill_now();
            return Err(LaunchError::Failed(format!(
                "not ready within {timeout:?}; command: {} {}\n{}",
                spec.program,
                spec.args.join(" "),
                child.log_tail()
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Writes a config file; panics on error.
pub(crate) fn write_file(path: &Path, contents: impl AsRef<[u8]>) {
    std::fs::write(path, contents)
        .unwrap_or_else(|e| panic!("testkit: write {}: {e}", path.display()));
}

/// `http://127.0.0.1:<port>`.
pub(crate) fn http_url(port: u16) -> String {
    format!("http://{}:{port}", crate::LOCALHOST)
}

/// Config-file string literal with `"` and `\` escaped.
pub(crate) fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A path as a config-file string (`"..."`).
pub(crate) fn quoted_path(p: &Path) -> String {
    quoted(&p.to_string_lossy())
}

/// The accessors and lifecycle methods every server helper shares, written
/// once. `$server` has a `core: Core` field and implements [`Launchable`];
/// `$builder` implements `Default` and has a `startup_timeout` field.
/// They are inherent methods, so tests need no trait import. With
/// `start_with_defaults`, also `$server::start()`: `builder().start()`.
macro_rules! server_methods {
    ($server:ident, $builder:ident, start_with_defaults) => {
        impl $server {
            /// Starts one with default options (see [`Self::builder`]).
            pub async fn start() -> $server {
                Self::builder().start().await
            }
        }

        $crate::server::server_methods!($server, $builder);
    };
    ($server:ident, $builder:ident) => {
        impl $builder {
            /// How long to wait for readiness (default 60 s).
            pub fn startup_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.startup_timeout = timeout;
                self
            }
        }

        impl $crate::server::HasCore for $server {
            fn core(&mut self) -> &mut $crate::server::Core {
                &mut self.core
            }
        }

        impl $server {
            #[doc = concat!("Options for a new [`", stringify!($server), "`]; then `.start().await`.")]
            pub fn builder() -> $builder {
                $builder::default()
            }

            /// The temp dir (config, data, logs); removed on drop unless
            /// `TESTKIT_KEEP_DIRS=1`.
            pub fn dir(&self) -> &std::path::Path {
                self.core.path()
            }

            /// The last lines of the server's stderr, stdout and own log
            /// files, labelled, plus its exit status once it has exited.
            pub fn log_tail(&self) -> String {
                self.core.log_tail()
            }

            /// The process id of the last start.
            pub fn pid(&self) -> Option<u32> {
                self.core.pid()
            }

            /// Whether the process is still running (reaps it once exited).
            pub fn is_running(&mut self) -> bool {
                self.core.is_running()
            }

            /// Clean shutdown: SIGTERM, then SIGKILL after a grace period
            /// (15 s). Blocks the calling thread meanwhile.
            pub fn stop(&mut self) {
                self.core.stop();
            }

            /// SIGKILL: a crash.
            pub fn kill(&mut self) {
                self.core.kill();
            }

            /// Starts the server again after [`Self::stop`] / [`Self::kill`]:
            /// same ports (a port still in use is waited for), same config
            /// and data. Returns once it is ready.
            pub async fn start_again(&mut self) {
                $crate::server::boot(self, true).await;
            }

            /// [`Self::stop`] then [`Self::start_again`].
            pub async fn restart(&mut self) {
                self.stop();
                self.start_again().await;
            }
        }
    };
}
pub(crate) use server_methods;
