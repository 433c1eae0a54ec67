//! What the MQTT source hands the pipeline: one [`MqttMessage`] per
//! received publish, with its [`Ack`] when the pipeline acknowledges
//! (manual acks). A payload over the source's limit is cut to an excerpt
//! here, on receipt, so the queue to the pipeline never holds it whole.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rumqttc::{AsyncClient, QoS};
use tracing::debug;

use crate::deadletter::EXCERPT_BYTES;

/// One received publish.
#[derive(Debug, Clone)]
pub struct MqttMessage {
    pub topic: String,
    /// The payload, or for one over the source's payload limit its first
    /// bytes only (see [`MqttMessage::payload_len`]).
    pub payload: Bytes,
    /// The payload's length as received: larger than `payload.len()` when
    /// the source cut an oversize payload to an excerpt.
    pub payload_len: usize,
    /// Unix nanoseconds at receipt.
    pub received_ns: i64,
    /// With manual acknowledgements: what acknowledges this message to the
    /// broker. The pipeline sends it only once the message's samples are
    /// durable; until then the broker keeps the message (and redelivers it
    /// to a reconnecting persistent session).
    pub ack: Option<Ack>,
}

/// The PUBACK of one received QoS 1 message, to send when it is safe.
pub struct Ack {
    client: AsyncClient,
    /// Only the packet id and QoS make the PUBACK; a whole `Publish` here
    /// made every message ~100 bytes larger to move through the queue.
    pkid: u16,
    qos: QoS,
    /// The broker session the message came in, and the current one.
    epoch: u64,
    session: SessionEpoch,
}

/// Counts the broker sessions of one source. A packet id names a message
/// only within the session that sent it: after the broker started a new
/// session (`session_present = false`: a lost session, or a clean one), an
/// ack of a message from the old session could acknowledge an unrelated
/// new message with the same id, which the broker would then never
/// redeliver although it is not yet durable. Such acks are dropped.
#[derive(Clone, Debug, Default)]
pub(super) struct SessionEpoch(Arc<AtomicU64>);

impl SessionEpoch {
    fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// The broker has no state from before: acks of earlier messages are void.
    pub(super) fn new_session(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack").field("pkid", &self.pkid).finish()
    }
}

impl Clone for Ack {
    fn clone(&self) -> Ack {
        Ack {
            client: self.client.clone(),
            pkid: self.pkid,
            qos: self.qos,
            epoch: self.epoch,
            session: self.session.clone(),
        }
    }
}

impl Ack {
    /// Sends the acknowledgement (through the event loop). Acks must be sent
    /// in the order the messages arrived, which the pipeline preserves.
    pub async fn send(self) {
        if !self.of_current_session() {
            debug!(
                pkid = self.pkid,
                "MQTT ack dropped: its message came in a session the broker no longer has"
            );
            return;
        }
        let mut publish = rumqttc::Publish::new("", self.qos, Vec::new());
        publish.pkid = self.pkid;
        if let Err(e) = self.client.ack(&publish).await {
            // Only when the event loop is gone (shutdown): the broker will
            // redeliver the message to the persistent session.
            debug!(error = %e, "MQTT ack not sent");
        }
    }
}

impl Ack {
    fn of_current_session(&self) -> bool {
        self.session.current() == self.epoch
    }
}

impl MqttMessage {
    /// The message for `publish`, received now. With `manual_ack` (the
    /// client to send it through and the session count) a QoS 1 message
    /// carries its [`Ack`]. A
    /// payload longer than `payload_limit` becomes a copy of its first
    /// bytes (a copy, not a slice: a slice would keep the whole read buffer
    /// alive in the queue); `payload_len` keeps its real length.
    pub(super) fn received(
        publish: rumqttc::Publish,
        manual_ack: Option<(&AsyncClient, &SessionEpoch)>,
        payload_limit: usize,
    ) -> MqttMessage {
        let ack = manual_ack
            .filter(|_| publish.qos != QoS::AtMostOnce)
            .map(|(client, session)| Ack {
                client: client.clone(),
                pkid: publish.pkid,
                qos: publish.qos,
                epoch: session.current(),
                session: session.clone(),
            });
        let payload_len = publish.payload.len();
        let payload = if payload_len <= payload_limit {
            publish.payload
        } else {
            Bytes::copy_from_slice(&publish.payload[..EXCERPT_BYTES.min(payload_limit)])
        };
        MqttMessage {
            topic: publish.topic,
            payload,
            payload_len,
            received_ns: now_ns(),
            ack,
        }
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

    fn publish(payload: Vec<u8>) -> rumqttc::Publish {
        let mut p =
            rumqttc::Publish::new("probe/rtr-001/8.8.8.8/rtt_ms", QoS::AtLeastOnce, payload);
        p.pkid = 7;
        p
    }

    #[test]
    fn a_payload_within_the_limit_is_kept_whole() {
        let msg = MqttMessage::received(publish(b"12.5".to_vec()), None, 4);
        assert_eq!(&msg.payload[..], b"12.5");
        assert_eq!(msg.payload_len, 4);
        assert!(msg.ack.is_none(), "no manual acks: no Ack");
    }

    #[test]
    fn an_oversize_payload_is_cut_to_an_excerpt_with_its_length_kept() {
        let big = vec![b'1'; 10_000_000];
        let msg = MqttMessage::received(publish(big), None, 65_536);
        assert_eq!(msg.payload.len(), EXCERPT_BYTES);
        assert_eq!(msg.payload_len, 10_000_000);
        assert_eq!(msg.topic, "probe/rtr-001/8.8.8.8/rtt_ms");
    }

    #[test]
    fn acks_of_a_session_the_broker_no_longer_has_are_void() {
        let (client, _eventloop) =
            AsyncClient::new(rumqttc::MqttOptions::new("t", "127.0.0.1", 1), 4);
        let session = SessionEpoch::default();
        let old = MqttMessage::received(publish(b"1".to_vec()), Some((&client, &session)), 64);
        let old = old.ack.expect("QoS 1 with manual acks");
        assert!(old.of_current_session());
        session.new_session();
        let new = MqttMessage::received(publish(b"2".to_vec()), Some((&client, &session)), 64);
        assert!(!old.of_current_session(), "same pkid, another session");
        assert!(new.ack.unwrap().of_current_session());
    }
}
