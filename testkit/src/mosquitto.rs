use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::server::{self, server_methods, Core, LaunchSpec, Launchable, Probe};
use crate::{free_port, require_binary, LOCALHOST};

/// The broker binary (Debian package `mosquitto`, 2.0.x).
pub const MOSQUITTO_BIN: &str = "/usr/sbin/mosquitto";

/// A real mosquitto broker on `127.0.0.1:<port>`, anonymous access (unless
/// [`MosquittoBuilder::password_file`]), logging to `mosquitto.log` in its
/// temp dir. Killed on drop. With [`MosquittoBuilder::tls`] a second, TLS
/// listener runs on [`Mosquitto::tls_port`].
///
/// [`Self::stop`] is a clean shutdown (mosquitto saves its persistence
/// file); [`Self::kill`] a crash (it does not).
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
    /// The TLS listener's port (0 without [`MosquittoBuilder::tls`]).
    pub tls_port: u16,
    /// `mqtts://127.0.0.1:<tls_port>` (empty without TLS).
    pub tls_url: String,
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
    tls: Option<TlsListener>,
    password_file: Option<PathBuf>,
    acl_file: Option<PathBuf>,
}

/// The TLS listener's files (see [`MosquittoBuilder::tls`]).
#[derive(Clone, Debug)]
struct TlsListener {
    cert: PathBuf,
    key: PathBuf,
    /// `cafile`: verifies client certificates when they are required.
    ca: PathBuf,
    require_certificate: bool,
}

impl Default for MosquittoBuilder {
    fn default() -> Self {
        MosquittoBuilder {
            persistence: false,
            autosave_interval: None,
            max_queued_messages: 1_000_000,
            extra_config: Vec::new(),
            startup_timeout: server::DEFAULT_STARTUP_TIMEOUT,
            tls: None,
            password_file: None,
            acl_file: None,
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

    /// A second listener with TLS on [`Mosquitto::tls_port`]: server
    /// certificate `cert` with key `key` (PEM), `ca` as `cafile`, and
    /// `require_certificate` (clients must present a certificate signed by
    /// `ca`). The plain listener stays.
    pub fn tls(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
        ca: impl Into<PathBuf>,
        require_certificate: bool,
    ) -> Self {
        self.tls = Some(TlsListener {
            cert: cert.into(),
            key: key.into(),
            ca: ca.into(),
            require_certificate,
        });
        self
    }

    /// `password_file <path>` and `allow_anonymous false` (make the file
    /// with `mosquitto_passwd -b -c <path> <user> <password>`).
    pub fn password_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.password_file = Some(path.into());
        self
    }

    /// `acl_file <path>`.
    pub fn acl_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.acl_file = Some(path.into());
        self
    }

    /// Starts the broker and waits until it accepts TCP connections.
    pub async fn start(self) -> Mosquitto {
        require_binary(MOSQUITTO_BIN, "mosquitto");
        server::start_new(Mosquitto {
            port: 0,
            url: String::new(),
            tls_port: 0,
            tls_url: String::new(),
            core: Core::new("mosquitto", self.startup_timeout),
            opts: self,
        })
        .await
    }
}

server_methods!(Mosquitto, MosquittoBuilder, start_with_defaults);

impl Mosquitto {
    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        LOCALHOST
    }

    /// The generated config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir().join("mosquitto.conf")
    }

    /// mosquitto's own log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("mosquitto.log")
    }

    fn config_text(&self) -> String {
        let dir = self.dir();
        let mut c = String::from("# generated by testkit\n");
        c.push_str(&format!("listener {} {LOCALHOST}\n", self.port));
        match &self.opts.password_file {
            Some(path) => {
                c.push_str("allow_anonymous false\n");
                c.push_str(&format!("password_file {}\n", path.display()));
            }
            None => c.push_str("allow_anonymous true\n"),
        }
        if let Some(path) = &self.opts.acl_file {
            c.push_str(&format!("acl_file {}\n", path.display()));
        }
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
        // Last: the options after a `listener` line belong to it.
        if let Some(tls) = &self.opts.tls {
            c.push_str(&format!("\nlistener {} {LOCALHOST}\n", self.tls_port));
            c.push_str(&format!("certfile {}\n", tls.cert.display()));
            c.push_str(&format!("keyfile {}\n", tls.key.display()));
            c.push_str(&format!("cafile {}\n", tls.ca.display()));
            c.push_str(&format!(
                "require_certificate {}\n",
                tls.require_certificate
            ));
        }
        c
    }
}

impl Launchable for Mosquitto {
    fn pick_ports(&mut self) {
        self.port = free_port();
        self.url = format!("mqtt://{LOCALHOST}:{}", self.port);
        if self.opts.tls.is_some() {
            self.tls_port = free_port();
            self.tls_url = format!("mqtts://{LOCALHOST}:{}", self.tls_port);
        }
    }

    fn prepare(&mut self) -> LaunchSpec {
        if self.opts.persistence {
            std::fs::create_dir_all(self.dir().join("persistence"))
                .expect("testkit: persistence dir");
        }
        let config = self.config_path();
        server::write_file(&config, self.config_text());
        let args = vec!["-c".into(), config.display().to_string()];
        LaunchSpec::new(MOSQUITTO_BIN, args)
            .extra_log(self.log_path())
            // Logged once the listeners are open.
            .ready_line(" running")
    }

    fn probe(&self) -> Probe {
        let ports = [self.port, self.tls_port];
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                ports.iter().filter(|p| **p != 0).all(|&port| {
                    let addr = ([127, 0, 0, 1], port).into();
                    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
                })
            })
            .await
            .unwrap_or(false)
        })
    }
}
