//! The running MQTT source task.
//!
//! Connection errors are never swallowed: each one is logged with its cause,
//! counted in `schoolnet_mqtt_connection_errors_total{kind}`, and followed by
//! a capped exponential backoff before rumqttc reconnects. On every ConnAck
//! the source subscribes again (a broker that lost its state, or a clean
//! session, would otherwise leave the collector connected but deaf).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS, Transport,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::config::MqttConfig;
use crate::metrics::PipelineMetrics;

/// One received publish.
#[derive(Debug, Clone)]
pub struct MqttMessage {
    pub topic: String,
    pub payload: Bytes,
    /// Unix nanoseconds at receipt.
    pub received_ns: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("mqtt.url `{0}`: expected mqtt://host:port or mqtts://host:port")]
    BadUrl(String),
    #[error("mqtt.ca_file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
}

/// A configured, not yet connected MQTT source.
pub struct MqttSource {
    options: MqttOptions,
    filters: Vec<String>,
    qos: QoS,
    max_backoff: Duration,
    metrics: PipelineMetrics,
    url: String,
}

impl MqttSource {
    pub fn new(
        config: &MqttConfig,
        password: Option<String>,
        filters: Vec<String>,
        metrics: PipelineMetrics,
    ) -> Result<MqttSource, SourceError> {
        let (tls, host, port) = parse_url(&config.url)?;
        let mut options = MqttOptions::new(&config.client_id, host, port);
        options
            .set_keep_alive(Duration::from_secs(config.keep_alive_s))
            .set_clean_session(config.clean_session)
            .set_max_packet_size(1024 * 1024, 64 * 1024)
            .set_inflight(1000)
            .set_request_channel_capacity(64);
        if let Some(user) = &config.username {
            options.set_credentials(user, password.unwrap_or_default());
        }
        if tls {
            let transport = match &config.ca_file {
                Some(path) => {
                    let ca = std::fs::read(path).map_err(|source| SourceError::CaFile {
                        path: path.display().to_string(),
                        source,
                    })?;
                    Transport::tls(ca, None, None)
                }
                None => Transport::tls_with_default_config(),
            };
            options.set_transport(transport);
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
        })
    }

    /// Runs until `shutdown` fires or the pipeline hangs up; then disconnects.
    /// Dropping `tx` on return is what tells the pipeline to drain.
    pub async fn run(self, tx: mpsc::Sender<MqttMessage>, shutdown: CancellationToken) {
        let (client, mut eventloop) = AsyncClient::new(self.options.clone(), 1024);
        let mut backoff = Backoff::new(self.max_backoff);
        info!(url = %self.url, filters = ?self.filters, "connecting to MQTT broker");
        loop {
            let event = tokio::select! {
                _ = shutdown.cancelled() => break,
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let msg = MqttMessage {
                        topic: publish.topic,
                        payload: publish.payload,
                        received_ns: now_ns(),
                    };
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
                    backoff.reset();
                    self.metrics.mqtt_connected.set(1);
                    self.metrics.mqtt_connections.inc();
                    info!(
                        session_present = ack.session_present,
                        "connected to MQTT broker"
                    );
                    self.subscribe(&client).await;
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
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
                    self.metrics.mqtt_connected.set(0);
                    warn!("broker sent DISCONNECT");
                }
                Ok(_) => {}
                Err(e) => {
                    self.metrics.mqtt_connected.set(0);
                    let kind = error_kind(&e);
                    self.metrics
                        .mqtt_connection_errors
                        .with_label_values(&[kind])
                        .inc();
                    let delay = backoff.next_delay();
                    warn!(error = %e, kind, retry_in_ms = delay.as_millis() as u64, url = %self.url, "MQTT connection error");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        self.disconnect(client, eventloop).await;
    }

    async fn subscribe(&self, client: &AsyncClient) {
        for filter in &self.filters {
            debug!(%filter, "subscribing");
            if let Err(e) = client.try_subscribe(filter.clone(), self.qos) {
                error!(%filter, error = %e, "cannot queue subscription");
                self.metrics
                    .mqtt_connection_errors
                    .with_label_values(&["subscribe_failed"])
                    .inc();
            }
        }
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

/// Capped exponential backoff: 0.5 s, 1 s, 2 s … up to `max`.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(500);

    fn new(max: Duration) -> Backoff {
        Backoff {
            next: Backoff::FIRST,
            max,
        }
    }

    fn next_delay(&mut self) -> Duration {
        let d = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        d
    }

    fn reset(&mut self) {
        self.next = Backoff::FIRST;
    }
}

pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
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

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(3));
        let delays: Vec<u64> = (0..5).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, vec![500, 1000, 2000, 3000, 3000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }
}
