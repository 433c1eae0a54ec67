//! The running MQTT source task.
//!
//! Connection errors are never swallowed: each one is logged with its cause,
//! counted in `schoolnet_mqtt_connection_errors_total{kind}`, and followed by
//! the delay of [`retry`](super::retry) before rumqttc reconnects. On every
//! ConnAck the source subscribes again (a broker that lost its state, or a
//! clean session, would otherwise leave the collector connected but deaf)
//! and [`session`](super::session) tells whether the broker lost the
//! persistent session.
//!
//! Any packet a broker may send is accepted (up to MQTT's maximum remaining
//! length): a packet over the client's limit makes rumqttc drop the
//! connection, and a persistent session redelivers the same message on
//! every reconnect, wedging intake for good (issue #17). A payload over
//! `limits.max_payload_bytes` is cut to an excerpt here, before the queue
//! to the pipeline (see [`MqttMessage::received`]), which rejects it as
//! `too_large` and acknowledges it.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS, TlsConfiguration,
    Transport,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::config::MqttConfig;
use super::message::{MqttMessage, SessionEpoch};
use super::retry::RetryPolicy;
use super::session::{Session, SessionWatch};
use super::subscriptions;
use crate::metrics::PipelineMetrics;
use crate::tls::{self, ClientCert, TlsError};

/// The largest packet MQTT can frame (remaining length 268,435,455 bytes):
/// the client accepts whatever the broker lets through. What bounds the
/// memory is the broker's `message_size_limit`/`max_packet_size` (the
/// shipped mosquitto config sets 256 KiB) and the cut in
/// [`MqttSource::with_payload_limit`].
pub const MAX_INCOMING_PACKET: usize = 268_435_455;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("mqtt.url `{0}`: expected mqtt://host:port or mqtts://host:port")]
    BadUrl(String),
    /// A TLS file is unreadable or not PEM, or TLS keys are inconsistent.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A configured, not yet connected MQTT source.
pub struct MqttSource {
    options: MqttOptions,
    filters: Vec<String>,
    qos: QoS,
    max_backoff: Duration,
    metrics: PipelineMetrics,
    url: String,
    manual_acks: bool,
    /// Payloads longer than this are cut to an excerpt before the queue.
    payload_limit: usize,
    session: SessionWatch,
    /// Which broker session acks belong to (see [`SessionEpoch`]).
    session_epoch: SessionEpoch,
    /// New filter sets after a reload.
    filter_updates: Option<mpsc::Receiver<Vec<String>>>,
}

impl MqttSource {
    /// Acknowledge QoS 1 messages only when the pipeline says so (see
    /// [`MqttMessage::ack`]) instead of on receipt. The broker then holds
    /// every message that is not yet durable. Its inflight window
    /// (mosquitto `max_inflight_messages`) is meant to bound how many are
    /// in the collector, but mosquitto 2.0.11 does not hold it after a
    /// burst of acks: what bounds memory is the queue to the pipeline
    /// (`mqtt.queue_capacity`); while it is full this task stops reading
    /// the socket and the broker buffers. The pipeline therefore never
    /// waits for an ack to be taken (see `pipeline::history`).
    pub fn with_manual_acks(mut self, on: bool) -> MqttSource {
        self.manual_acks = on;
        self.options.set_manual_acks(on);
        self
    }

    /// Payloads longer than `max_payload_bytes` (`limits.max_payload_bytes`,
    /// which the pipeline rejects as `too_large`) are replaced by a copy of
    /// their first bytes before they enter the queue to the pipeline, so
    /// the queue holds at most `mqtt.queue_capacity` × `max_payload_bytes`
    /// of payload whatever the broker lets through. Default: no cut.
    pub fn with_payload_limit(mut self, max_payload_bytes: usize) -> MqttSource {
        self.payload_limit = max_payload_bytes;
        self
    }

    /// Remembers the persistent session in `dir` (the spool directory), so
    /// that a session the broker lost while the collector was stopped is
    /// noticed at the next start (see [`super::session`]).
    pub fn with_session_marker(mut self, dir: &std::path::Path) -> MqttSource {
        self.session = SessionWatch::new(
            !self.options.clean_session(),
            self.options.client_id().as_str(),
            &self.url,
            Some(dir),
        );
        self
    }

    /// Takes new filter sets (a reloaded config) while running: the
    /// difference is subscribed and unsubscribed on the same connection, so
    /// the session and its queued messages stay.
    pub fn with_filter_updates(mut self, rx: mpsc::Receiver<Vec<String>>) -> MqttSource {
        self.filter_updates = Some(rx);
        self
    }

    pub fn new(
        config: &MqttConfig,
        password: Option<String>,
        filters: Vec<String>,
        metrics: PipelineMetrics,
    ) -> Result<MqttSource, SourceError> {
        let (tls, host, port) = parse_url(&config.url)?;
        let mut options = MqttOptions::new(&config.client_id, host.clone(), port);
        options
            .set_keep_alive(Duration::from_secs(config.keep_alive_s))
            .set_clean_session(config.clean_session)
            .set_max_packet_size(MAX_INCOMING_PACKET, 64 * 1024)
            .set_inflight(1000)
            .set_request_channel_capacity(64);
        if let Some(user) = &config.username {
            options.set_credentials(user, password.unwrap_or_default());
        }
        if tls {
            options.set_transport(tls_transport(config)?);
        } else {
            refuse_tls_settings_without_tls(config)?;
            if config.username.is_some() && !is_loopback(&host) {
                warn!(url = %config.url, "the MQTT password is sent unencrypted: use mqtts:// for a broker on another host");
            }
        }
        Ok(MqttSource {
            options,
            filters,
            qos: if config.qos == 0 {
                QoS::AtMostOnce
            } else {
                QoS::AtLeastOnce
            },
            max_backoff: Duration::from_secs_f64(config.max_backoff_s),
            metrics,
            url: config.url.clone(),
            manual_acks: false,
            payload_limit: usize::MAX,
            session_epoch: SessionEpoch::default(),
            session: SessionWatch::new(!config.clean_session, &config.client_id, &config.url, None),
            filter_updates: None,
        })
    }

    /// Runs until `shutdown` fires or the pipeline hangs up; then disconnects.
    /// Dropping `tx` on return is what tells the pipeline to drain.
    pub async fn run(mut self, tx: mpsc::Sender<MqttMessage>, shutdown: CancellationToken) {
        let mut updates = self.filter_updates.take();
        let (client, mut eventloop) = AsyncClient::new(self.options.clone(), 1024);
        let mut retry = RetryPolicy::new(self.max_backoff);
        let mut pending_subacks = 0usize;
        // A ConnAck since the last error or DISCONNECT.
        let mut connected = false;
        if self.filters.len() <= 16 {
            info!(url = %self.url, filters = ?self.filters, "connecting to MQTT broker");
        } else {
            info!(url = %self.url, filters = self.filters.len(), first = %self.filters[0], "connecting to MQTT broker");
        }
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(filters) = subscriptions::next_filters(&mut updates) => {
                    self.change_filters(&client, filters);
                    continue;
                }
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let manual_ack = self.manual_acks.then_some((&client, &self.session_epoch));
                    let msg = MqttMessage::received(publish, manual_ack, self.payload_limit);
                    // Awaiting here is the backpressure: while the pipeline is
                    // full we stop reading from the socket and the broker queues.
                    let sent = tokio::select! {
                        _ = shutdown.cancelled() => break,
                        sent = tx.send(msg) => sent,
                    };
                    if sent.is_err() {
                        warn!("pipeline stopped; closing MQTT source");
                        break;
                    }
                }
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    connected = true;
                    if !ack.session_present {
                        self.session_epoch.new_session();
                    }
                    retry.reset();
                    self.metrics.mqtt_connections.inc();
                    info!(
                        session_present = ack.session_present,
                        "connected to MQTT broker"
                    );
                    if self.session.connected(ack.session_present) == Session::Lost {
                        self.metrics.mqtt_sessions_lost.inc();
                    }
                    // Ready (`schoolnet_mqtt_connected` 1, /readyz) once
                    // every SUBSCRIBE is acknowledged: until then a new
                    // session would miss messages.
                    pending_subacks = self.subscribe(&client).await;
                    if pending_subacks == 0 {
                        self.metrics.mqtt_connected.set(1);
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    pending_subacks = pending_subacks.saturating_sub(1);
                    if pending_subacks == 0 {
                        self.metrics.mqtt_connected.set(1);
                    }
                    let failed = ack
                        .return_codes
                        .iter()
                        .filter(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                        .count();
                    if failed > 0 {
                        error!(failed, "broker refused {failed} subscription(s): check the broker ACL for the collector's user");
                        self.metrics
                            .mqtt_connection_errors
                            .with_label_values(&["subscribe_refused"])
                            .inc();
                    }
                }
                Ok(Event::Incoming(Packet::Disconnect)) => {
                    self.session.disconnected(connected);
                    connected = false;
                    self.metrics.mqtt_connected.set(0);
                    warn!("broker sent DISCONNECT");
                }
                Ok(_) => {}
                Err(e) => {
                    self.session.disconnected(connected);
                    connected = false;
                    self.metrics.mqtt_connected.set(0);
                    let kind = error_kind(&e);
                    self.metrics
                        .mqtt_connection_errors
                        .with_label_values(&[kind])
                        .inc();
                    let delay = retry.delay_after(&e);
                    if let Some(not_logged) = retry.should_log(&e, std::time::Instant::now()) {
                        warn!(error = %e, kind, retry_in_ms = delay.as_millis() as u64, not_logged, url = %self.url, "MQTT connection error");
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        self.disconnect(client, eventloop).await;
    }

    /// Subscribes what is new and unsubscribes what is gone (see
    /// [`subscriptions::change`]); a reconnect subscribes the new set.
    fn change_filters(&mut self, client: &AsyncClient, filters: Vec<String>) {
        subscriptions::change(client, &self.filters, &filters, self.qos);
        self.filters = filters;
    }

    /// Queues the SUBSCRIBE packets; returns how many were queued.
    async fn subscribe(&self, client: &AsyncClient) -> usize {
        subscriptions::subscribe_all(client, &self.filters, self.qos, &self.metrics)
    }

    async fn disconnect(&self, client: AsyncClient, mut eventloop: EventLoop) {
        self.metrics.mqtt_connected.set(0);
        if client.try_disconnect().is_ok() {
            // Drive the event loop until the DISCONNECT is flushed (bounded).
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while eventloop.poll().await.is_ok() {}
            })
            .await;
        }
        info!("MQTT source stopped");
    }
}

/// The rustls transport for `mqtts://`: `ca_file` (or the system roots)
/// and the optional client certificate, all read and checked now so a bad
/// file stops startup with its key and path instead of failing every
/// reconnect.
fn tls_transport(config: &MqttConfig) -> Result<Transport, SourceError> {
    let client = ClientCert::pair(
        "mqtt.client_cert_file",
        config.client_cert_file.as_deref(),
        "mqtt.client_key_file",
        config.client_key_file.as_deref(),
    )?;
    let ca = config.ca_file.as_deref().map(|p| ("mqtt.ca_file", p));
    let tls = tls::client_config(ca, client)?;
    Ok(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(tls),
    )))
}

/// TLS files with a plain `mqtt://` URL are a mistake that would leave the
/// operator believing the link is encrypted.
fn refuse_tls_settings_without_tls(config: &MqttConfig) -> Result<(), SourceError> {
    let set = [
        ("mqtt.ca_file", config.ca_file.is_some()),
        ("mqtt.client_cert_file", config.client_cert_file.is_some()),
        ("mqtt.client_key_file", config.client_key_file.is_some()),
    ];
    match set.iter().find(|(_, on)| *on) {
        Some((key, _)) => Err(SourceError::Tls(TlsError::Setup(format!(
            "{key} is set but mqtt.url `{}` is not mqtts://: the connection would not be encrypted",
            config.url
        )))),
        None => Ok(()),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn parse_url(url: &str) -> Result<(bool, String, u16), SourceError> {
    let bad = || SourceError::BadUrl(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let tls = match scheme {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" => true,
        _ => return Err(bad()),
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (rest, if tls { 8883 } else { 1883 }),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((tls, host.trim_matches(['[', ']']).to_string(), port))
}

/// Stable `kind` label for a connection error.
fn error_kind(e: &ConnectionError) -> &'static str {
    match e {
        ConnectionError::Io(_) => "io",
        ConnectionError::NetworkTimeout | ConnectionError::FlushTimeout => "timeout",
        ConnectionError::ConnectionRefused(_) => "refused",
        ConnectionError::MqttState(_) => "protocol",
        ConnectionError::Tls(_) => "tls",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports() {
        assert_eq!(
            parse_url("mqtt://broker").unwrap(),
            (false, "broker".into(), 1883)
        );
        assert_eq!(
            parse_url("mqtts://broker").unwrap(),
            (true, "broker".into(), 8883)
        );
        assert_eq!(
            parse_url("tcp://127.0.0.1:18830").unwrap(),
            (false, "127.0.0.1".into(), 18830)
        );
        assert!(parse_url("http://x").is_err());
        assert!(parse_url("mqtt://:1883").is_err());
        assert!(parse_url("mqtt://h:port").is_err());
    }

    fn source(config: &MqttConfig) -> Result<MqttSource, SourceError> {
        MqttSource::new(config, None, vec![], PipelineMetrics::unregistered())
    }

    #[test]
    fn tls_files_with_a_plain_url_are_refused() {
        let config = MqttConfig {
            url: "mqtt://broker:1883".into(),
            ca_file: Some("/etc/schoolnet/ca.pem".into()),
            ..MqttConfig::default()
        };
        let e = source(&config).err().unwrap().to_string();
        assert!(
            e.contains("mqtt.ca_file is set but mqtt.url `mqtt://broker:1883` is not mqtts://"),
            "{e}"
        );
    }

    #[test]
    fn bad_tls_files_stop_startup_with_key_and_file() {
        let pki = testkit::TestPki::generate();
        let config = MqttConfig {
            url: "mqtts://broker".into(),
            ca_file: Some(pki.dir().join("missing-ca.pem")),
            ..MqttConfig::default()
        };
        let e = source(&config).err().unwrap().to_string();
        assert!(
            e.contains("mqtt.ca_file") && e.contains("missing-ca.pem"),
            "{e}"
        );

        let config = MqttConfig {
            url: "mqtts://broker".into(),
            ca_file: Some(pki.ca.clone()),
            client_cert_file: Some(pki.client_cert.clone()),
            ..MqttConfig::default()
        };
        let e = source(&config).err().unwrap().to_string();
        assert!(e.contains("mqtt.client_key_file"), "{e}");
        let config = MqttConfig {
            client_key_file: Some(pki.client_cert.clone()),
            ..config
        };
        let e = source(&config).err().unwrap().to_string();
        assert!(
            e.contains("mqtt.client_key_file") && e.contains("no PEM private key"),
            "{e}"
        );
        let config = MqttConfig {
            client_key_file: Some(pki.client_key.clone()),
            ..config
        };
        assert!(source(&config).is_ok());
    }
}
