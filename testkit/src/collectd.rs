use std::path::PathBuf;
use std::time::Duration;

use crate::server::{
    self, quoted, quoted_path, server_methods, Core, LaunchSpec, Launchable, Probe,
};
use crate::{require_binary, Mosquitto, LOCALHOST};

/// The daemon (Debian package `collectd-core`, 5.12).
pub const COLLECTD_BIN: &str = "/usr/sbin/collectd";
/// Its MQTT publisher plugin (same package; links libmosquitto1).
pub const COLLECTD_MQTT_PLUGIN: &str = "/usr/lib/collectd/mqtt.so";

/// A real collectd (foreground, `-f -C <conf>`) publishing its readings to
/// an MQTT broker, like an OpenWrt device with collectd-mod-mqtt.
///
/// Topics are `<prefix>/<hostname>/<plugin>[-<plugin_instance>]/<type>[-<type_instance>]`
/// and payloads `<epoch secs.millis>:<v1>[:<v2>...]` followed by one NUL
/// byte, e.g. `collectd/ap-1/load/load` -> `1795420460.623:0.77:0.80:0.45\0`.
/// With `StoreRates true` (default here) the first reading of a counter is
/// `nan`.
pub struct Collectd {
    opts: CollectdBuilder,
    core: Core,
}

/// Options for [`Collectd`]; from [`Collectd::builder`].
#[derive(Clone, Debug)]
pub struct CollectdBuilder {
    hostname: String,
    interval: Duration,
    mqtt_port: Option<u16>,
    client_id: Option<String>,
    prefix: String,
    qos: u8,
    retain: bool,
    store_rates: bool,
    publish_options: Vec<String>,
    plugins: Vec<String>,
    interfaces: Vec<String>,
    extra_config: Vec<String>,
    /// A device's whole collectd.conf, run verbatim (see [`CollectdBuilder::device_config`]).
    device_config: Option<String>,
    startup_timeout: Duration,
}

impl Default for CollectdBuilder {
    fn default() -> Self {
        CollectdBuilder {
            hostname: "testkit-device".into(),
            interval: Duration::from_secs(1),
            mqtt_port: None,
            client_id: None,
            prefix: "collectd".into(),
            qos: 1,
            retain: false,
            store_rates: true,
            publish_options: Vec::new(),
            plugins: vec!["interface".into(), "load".into(), "memory".into()],
            interfaces: Vec::new(),
            extra_config: Vec::new(),
            device_config: None,
            startup_timeout: server::DEFAULT_STARTUP_TIMEOUT,
        }
    }
}

impl CollectdBuilder {
    /// `Hostname` (the device id in the topic). Default `testkit-device`.
    pub fn hostname(mut self, name: impl Into<String>) -> Self {
        self.hostname = name.into();
        self
    }

    /// `Interval` between readings (default 1 s; fractions allowed).
    pub fn interval(mut self, d: Duration) -> Self {
        self.interval = d;
        self
    }

    /// Publish to this broker.
    pub fn mqtt(mut self, broker: &Mosquitto) -> Self {
        self.mqtt_port = Some(broker.port);
        self
    }

    /// Publish to `127.0.0.1:<port>`.
    pub fn mqtt_port(mut self, port: u16) -> Self {
        self.mqtt_port = Some(port);
        self
    }

    /// MQTT `ClientId` (default `collectd-<hostname>`).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Topic `Prefix` (default `collectd`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Publish `QoS` (default 1).
    pub fn qos(mut self, qos: u8) -> Self {
        self.qos = qos;
        self
    }

    /// `Retain` (default false).
    pub fn retain(mut self, on: bool) -> Self {
        self.retain = on;
        self
    }

    /// `StoreRates` (default true: counters are published as rates).
    pub fn store_rates(mut self, on: bool) -> Self {
        self.store_rates = on;
        self
    }

    /// Extra line inside `<Publish>` (e.g. `User "x"`, `CACert "/path"`).
    pub fn publish_option(mut self, line: impl Into<String>) -> Self {
        self.publish_options.push(line.into());
        self
    }

    /// Read plugins to load (default `interface`, `load`, `memory`).
    pub fn plugins<I, S>(mut self, plugins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.plugins = plugins.into_iter().map(Into::into).collect();
        self
    }

    /// Restrict the `interface` plugin to these interfaces (default: all).
    pub fn interfaces<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.interfaces = names.into_iter().map(Into::into).collect();
        self
    }

    /// Extra collectd.conf text appended verbatim.
    pub fn extra_config(mut self, text: impl Into<String>) -> Self {
        self.extra_config.push(text.into());
        self
    }

    /// Runs `text`, a device's complete collectd.conf (e.g. the shipped
    /// deploy/devices/openwrt/collectd.conf with its broker substituted),
    /// verbatim instead of a generated config: testkit only wraps it with
    /// `BaseDir`, `PIDFile` and a log file (for the readiness line) and
    /// `Include`s it. Every other option of this builder but the startup
    /// timeout is then unused; the broker must be in `text`.
    pub fn device_config(mut self, text: impl Into<String>) -> Self {
        self.device_config = Some(text.into());
        self
    }

    /// Starts collectd and waits until it entered its read loop.
    pub async fn start(self) -> Collectd {
        require_binary(COLLECTD_BIN, "collectd-core");
        require_binary(COLLECTD_MQTT_PLUGIN, "collectd-core");
        assert!(
            self.mqtt_port.is_some() || self.device_config.is_some(),
            "testkit: Collectd needs a broker: .mqtt(&mosquitto) or .mqtt_port(port)"
        );
        let mut c = Collectd {
            core: Core::new("collectd", self.startup_timeout),
            opts: self,
        };
        // No ports to pick: like a restart, retry as is.
        server::boot(&mut c, true).await;
        c
    }
}

server_methods!(Collectd, CollectdBuilder);

impl Collectd {
    /// collectd with default options publishing to `broker`.
    pub async fn start(broker: &Mosquitto) -> Collectd {
        Self::builder().mqtt(broker).start().await
    }

    /// The configured `Hostname`.
    pub fn hostname(&self) -> &str {
        &self.opts.hostname
    }

    /// `<prefix>/<hostname>`: every topic starts with this.
    pub fn topic_prefix(&self) -> String {
        format!("{}/{}", self.opts.prefix, self.opts.hostname)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir().join("collectd.conf")
    }

    /// collectd's own log (logfile plugin).
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("collectd.log")
    }

    /// Where a [`CollectdBuilder::device_config`] is written.
    fn device_config_path(&self) -> PathBuf {
        self.dir().join("device.conf")
    }

    /// The wrapper around a device's own config: only what testkit needs.
    fn wrapper_text(&self) -> String {
        let dir = self.dir();
        format!(
            "# generated by testkit around device.conf\nBaseDir {}\nPIDFile {}\n\
             LoadPlugin logfile\n<Plugin logfile>\n  LogLevel info\n  File {}\n  \
             Timestamp true\n  PrintSeverity true\n</Plugin>\nInclude {}\n",
            quoted_path(dir),
            quoted_path(&dir.join("collectd.pid")),
            quoted_path(&self.log_path()),
            quoted_path(&self.device_config_path()),
        )
    }

    fn config_text(&self) -> String {
        if self.opts.device_config.is_some() {
            return self.wrapper_text();
        }
        let o = &self.opts;
        let dir = self.dir();
        let mut c = String::from("# generated by testkit\n");
        c.push_str(&format!(
            "Hostname {}\nFQDNLookup false\n",
            quoted(&o.hostname)
        ));
        c.push_str(&format!("BaseDir {}\n", quoted_path(dir)));
        c.push_str(&format!(
            "PIDFile {}\n",
            quoted_path(&dir.join("collectd.pid"))
        ));
        c.push_str("PluginDir \"/usr/lib/collectd\"\nTypesDB \"/usr/share/collectd/types.db\"\n");
        c.push_str(&format!("Interval {}\n", o.interval.as_secs_f64()));
        c.push_str("\nLoadPlugin logfile\n<Plugin logfile>\n  LogLevel info\n");
        c.push_str(&format!(
            "  File {}\n  Timestamp true\n  PrintSeverity true\n</Plugin>\n\n",
            quoted_path(&self.log_path())
        ));
        for plugin in &o.plugins {
            c.push_str(&format!("LoadPlugin {plugin}\n"));
        }
        if !o.interfaces.is_empty() {
            c.push_str("<Plugin interface>\n");
            for name in &o.interfaces {
                c.push_str(&format!("  Interface {}\n", quoted(name)));
            }
            c.push_str("  IgnoreSelected false\n</Plugin>\n");
        }
        let port = o.mqtt_port.expect("mqtt port");
        let client_id = o
            .client_id
            .clone()
            .unwrap_or_else(|| format!("collectd-{}", o.hostname));
        c.push_str("\nLoadPlugin mqtt\n<Plugin mqtt>\n  <Publish \"testkit\">\n");
        c.push_str(&format!("    Host \"{LOCALHOST}\"\n    Port \"{port}\"\n"));
        c.push_str(&format!(
            "    ClientId {}\n    Prefix {}\n",
            quoted(&client_id),
            quoted(&o.prefix)
        ));
        c.push_str(&format!(
            "    StoreRates {}\n    QoS {}\n    Retain {}\n",
            o.store_rates, o.qos, o.retain
        ));
        for line in &o.publish_options {
            c.push_str(&format!("    {line}\n"));
        }
        c.push_str("  </Publish>\n</Plugin>\n");
        for extra in &o.extra_config {
            c.push('\n');
            c.push_str(extra);
            c.push('\n');
        }
        c
    }
}

impl Launchable for Collectd {
    fn pick_ports(&mut self) {}

    fn prepare(&mut self) -> LaunchSpec {
        let config = self.config_path();
        if let Some(device) = &self.opts.device_config {
            server::write_file(&self.device_config_path(), device.clone());
        }
        server::write_file(&config, self.config_text());
        let args = vec!["-f".into(), "-C".into(), config.display().to_string()];
        LaunchSpec::new(COLLECTD_BIN, args)
            .extra_log(self.log_path())
            .ready_line("Initialization complete, entering read-loop")
    }

    fn probe(&self) -> Probe {
        Box::pin(async { true })
    }
}
