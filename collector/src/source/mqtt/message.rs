//! What the MQTT source hands the pipeline: one [`MqttMessage`] per
//! received publish, with its [`Ack`] when the pipeline acknowledges
//! (manual acks). A payload over the source's limit is cut to an excerpt
//! here, on receipt, so the queue to the pipeline never holds it whole.

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
    publish: rumqttc::Publish,
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack")
            .field("pkid", &self.publish.pkid)
            .finish()
    }
}

impl Clone for Ack {
    fn clone(&self) -> Ack {
        Ack {
            client: self.client.clone(),
            publish: self.publish.clone(),
        }
    }
}

impl Ack {
    /// Sends the acknowledgement (through the event loop). Acks must be sent
    /// in the order the messages arrived, which the pipeline preserves.
    pub async fn send(self) {
        if let Err(e) = self.client.ack(&self.publish).await {
            // Only when the event loop is gone (shutdown): the broker will
            // redeliver the message to the persistent session.
            debug!(error = %e, "MQTT ack not sent");
        }
    }
}

impl MqttMessage {
    /// The message for `publish`, received now. With `manual_ack` (the
    /// client to send it through) a QoS 1 message carries its [`Ack`]. A
    /// payload longer than `payload_limit` becomes a copy of its first
    /// bytes (a copy, not a slice: a slice would keep the whole read buffer
    /// alive in the queue); `payload_len` keeps its real length.
    pub(super) fn received(
        publish: rumqttc::Publish,
        manual_ack: Option<&AsyncClient>,
        payload_limit: usize,
    ) -> MqttMessage {
        let ack = manual_ack
            .filter(|_| publish.qos != QoS::AtMostOnce)
            .map(|client| {
                // Only pkid and QoS matter for the PUBACK.
                let mut p = rumqttc::Publish::new("", publish.qos, Vec::new());
                p.pkid = publish.pkid;
                Ack {
                    client: client.clone(),
                    publish: p,
                }
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
}
