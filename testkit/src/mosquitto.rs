use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::server::{boot, Core, LaunchSpec, Launchable, Probe, DEFAULT_STARTUP_TIMEOUT};
use crate::{free_port, require_binary, LOCALHOST};

/// The broker binary (Debian package `mosquitto`, 2.0.x).
pub const MOSQUITTO_BIN: &str = "/usr/sbin/mosquitto";

/// A real mosquitto broker on `127.0.0.1:<port>`, anonymous access, logging
/// to `mosquitto.log` in its temp dir. Killed on drop.
///
/// ```no_run
/// # async fn example() {
/// use testkit::Mosquitto;
/// let mut broker = Mosquitto::builder().persistence(true).start().await;
/// assert_eq!(broker.url, format!("mqtt://127.0.0.1:{}", broker.port));
/// broker.restart().await; // same port, same persistence dir
/// # }
/// ```
pub struct Mosquitto {
    /// The MQTT listener's port (stays the same across restarts).
    pub port: u16,
    /// `mqtt://127.0.0.1:<port>`.
    pub url: String,
    opts: MosquittoBuilder,
    core: Core,
}

/// Options for [`Mosquitto`]; from [`Mosquitto::builder`].
#[derive(Clone, Debug)]
pub struct MosquittoBuilder {
    persistence: bool,
    autosave_interval: Option<u32>,
    max_queued_messages: u64,
    extra_config: Vec<String>,
    startup_timeout: Duration,
}

impl Default for MosquittoBuilder {
    fn default() -> Self {
        MosquittoBuilder {
            persistence: false,
            autosave_interval: None,
            max_queued_messages: 1_000_000,
            extra_config: Vec::new(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
        }
    }
}

impl MosquittoBuilder {
    /// `persistence true` with `persistence_location` in the temp dir
    /// (kept across [`Mosquitto::restart`]). Default: off.
    pub fn persistence(mut self, on: bool) -> Self {
        self.persistence = on;
        self
    }

    /// `autosave_interval <secs>` (with persistence; mosquitto's default
    /// is 1800 s, i.e. in practice only on a clean shutdown).
    pub fn autosave_interval(mut self, secs: u32) -> Self {
        self.autosave_interval = Some(secs);
        self
    }

    /// `max_queued_messages` per client (default here: 1,000,000).
    pub fn max_queued_messages(mut self, n: u64) -> Self {
        self.max_queued_messages = n;
        self
    }

    /// Extra lines appended to mosquitto.conf verbatim (TLS listeners, ACL
    /// files, `per_listener_settings`, ...). Paths may point into
    /// [`Mosquitto::dir`] only after start, so put files elsewhere or use a
    /// restart.
    pub fn config_line(mut self, line: impl Into<String>) -> Self {
        self.extra_config.push(line.into());
        self
    }

    /// How long to wait for readiness (default 60 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts the broker and waits until it accepts TCP connections.
    pub async fn start(self) -> Mosquitto {
        require_binary(MOSQUITTO_BIN, "mosquitto");
        let port = free_port();
        let mut m = Mosquitto {
            port,
            url: String::new(),
            core: Core::new("mosquitto", self.startup_timeout),
            opts: self,
        };
        boot(&mut m, false).await;
        m.url = format!("mqtt://{LOCALHOST}:{}", m.port);
        m
    }
}

impl Mosquitto {
    /// A broker with default options.
    pub async fn start() -> Mosquitto {
        Self::builder().start().await
    }

    pub fn builder() -> MosquittoBuilder {
        MosquittoBuilder::default()
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        LOCALHOST
    }

    /// The temp dir (config, logs, persistence).
    pub fn dir(&self) -> &Path {
        self.core.path()
    }

    /// The generated config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir().join("mosquitto.conf")
    }

    /// mosquitto's own log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("mosquitto.log")
    }

    /// Last lines of the broker's log, stdout and stderr.
    pub fn log_tail(&self) -> String {
        self.core.log_tail()
    }

    pub fn pid(&self) -> Option<u32> {
        self.core.pid()
    }

    pub fn is_running(&mut self) -> bool {
        self.core.is_running()
    }

    /// Clean shutdown (SIGTERM; mosquitto saves persistence), SIGKILL after
    /// a grace period.
    pub fn stop(&mut self) {
        self.core.stop();
    }

    /// SIGKILL: a crash (persistence is not saved).
    pub fn kill(&mut self) {
        self.core.kill();
    }

    /// Starts the broker again after [`Self::stop`] / [`Self::kill`], on the
    /// same port with the same config and persistence dir.
    pub async fn start_again(&mut self) {
        boot(self, true).await;
    }

    /// [`Self::stop`] then [`Self::start_again`].
    pub async fn restart(&mut self) {
        self.stop();
        self.start_again().await;
    }

    fn config_text(&self) -> String {
        let dir = self.dir();
        let mut c = String::from("# generated by testkit\n");
        c.push_str(&format!("listener {} {LOCALHOST}\n", self.port));
        c.push_str("allow_anonymous true\n");
        // As root, mosquitto 2 drops to user `mosquitto`, which cannot write
        // to the test's temp dir (mode 0700): stay root.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            c.push_str("user root\n");
        }
        c.push_str(&format!(
            "log_dest file {}\n",
            dir.join("mosquitto.log").display()
        ));
        c.push_str("log_type error\nlog_type warning\nlog_type notice\nlog_type information\n");
        c.push_str("log_timestamp true\nlog_timestamp_format %Y-%m-%dT%H:%M:%S\n");
        c.push_str("connection_messages true\n");
        c.push_str(&format!(
            "max_queued_messages {}\n",
            self.opts.max_queued_messages
        ));
        c.push_str("max_queued_bytes 0\n");
        c.push_str("set_tcp_nodelay true\n");
        if self.opts.persistence {
            c.push_str("persistence true\n");
            // The trailing slash is required.
            c.push_str(&format!(
                "persistence_location {}/\n",
                dir.join("persistence").display()
            ));
            if let Some(secs) = self.opts.autosave_interval {
                c.push_str(&format!("autosave_interval {secs}\n"));
            }
        } else {
            c.push_str("persistence false\n");
        }
        for line in &self.opts.extra_config {
            c.push_str(line);
            c.push('\n');
        }
        c
    }
}

impl Launchable for Mosquitto {
    fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    fn pick_ports(&mut self) {
        self.port = free_port();
    }

    fn prepare(&mut self) -> LaunchSpec {
        if self.opts.persistence {
            std::fs::create_dir_all(self.dir().join("persistence"))
                .expect("testkit: persistence dir");
        }
        let config = self.config_path();
        std::fs::write(&config, self.config_text())
            .unwrap_or_else(|e| panic!("testkit: write {}: {e}", config.display()));
        LaunchSpec {
            program: MOSQUITTO_BIN,
            args: vec!["-c".into(), config.display().to_string()],
            extra_logs: vec![self.log_path()],
            // Logged once the listeners are open.
            ready_line: Some(" running"),
        }
    }

    fn probe(&self) -> Probe {
        let port = self.port;
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
                    .is_ok()
            })
            .await
            .unwrap_or(false)
        })
    }
}
