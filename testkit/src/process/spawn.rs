//! Starting a [`ChildProcess`]: the [`ChildBuilder`] options, log files,
//! `PR_SET_PDEATHSIG`, and the long-lived helper thread that forks.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};

use super::{log_paths, ChildProcess};

/// Builder for [`ChildProcess`]; from [`ChildProcess::builder`].
pub struct ChildBuilder {
    program: PathBuf,
    name: Option<String>,
    cmd: Command,
    log_dir: Option<PathBuf>,
    extra_logs: Vec<PathBuf>,
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
}
