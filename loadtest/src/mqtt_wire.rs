//! The few MQTT 3.1.1 packets the load generator writes and reads, framed
//! by hand: CONNECT, PUBLISH (QoS 0 and 1), DISCONNECT out; CONNACK and
//! PUBACK in. Why not rumqttc here: the generator pre-frames every PUBLISH
//! once and then only copies contiguous runs of them into the socket, one
//! `write` per batch, which a client library's per-message request channel,
//! encoder and allocation cannot do (measured gain in docs/performance.md,
//! "Load generator"). The product never uses this; only `schoolnet-load`.

use anyhow::{bail, Context};

pub const CONNECT: u8 = 0x10;
pub const CONNACK: u8 = 0x20;
pub const PUBLISH: u8 = 0x30;
pub const PUBACK: u8 = 0x40;
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

/// MQTT's variable-length "remaining length" (1–4 bytes, 7 bits each).
pub fn put_remaining_length(out: &mut Vec<u8>, mut len: usize) {
    assert!(len < 268_435_456, "MQTT packet too large: {len} bytes");
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// CONNECT with a clean session, no will, no credentials.
pub fn connect(client_id: &str, keep_alive_s: u16) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.push(4); // protocol level 3.1.1
    body.push(0x02); // clean session
    body.extend_from_slice(&keep_alive_s.to_be_bytes());
    put_str(&mut body, client_id.as_bytes());
    let mut out = vec![CONNECT];
    put_remaining_length(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// Appends one PUBLISH to `out`. `packet_id` is required at QoS 1 and must
/// be non-zero; at QoS 0 it must be `None`.
pub fn put_publish(
    out: &mut Vec<u8>,
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: bool,
    packet_id: Option<u16>,
) {
    assert!(topic.len() <= u16::MAX as usize, "topic too long");
    assert_eq!(qos > 0, packet_id.is_some(), "packet id iff QoS > 0");
    out.push(PUBLISH | (qos << 1) | u8::from(retain));
    let id_len = if packet_id.is_some() { 2 } else { 0 };
    put_remaining_length(out, 2 + topic.len() + id_len + payload.len());
    put_str(out, topic.as_bytes());
    if let Some(id) = packet_id {
        assert_ne!(id, 0, "packet id 0 is not allowed");
        out.extend_from_slice(&id.to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// One packet read from the broker: its type (high nibble of the first
/// byte) and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Incoming<'a> {
    pub kind: u8,
    pub body: &'a [u8],
}

/// The first whole packet in `buf` and its length, or `None` if `buf` holds
/// only part of one.
pub fn parse(buf: &[u8]) -> anyhow::Result<Option<(Incoming<'_>, usize)>> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    let mut shift = 0;
    let mut i = 1;
    loop {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        len |= usize::from(b & 0x7F) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            bail!("malformed remaining length in packet of type {first:#04x}");
        }
    }
    let total = i + len;
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some((
        Incoming {
            kind: first & 0xF0,
            body: &buf[i..total],
        },
        total,
    )))
}

/// Checks a CONNACK body: accepted, or the broker's reason.
pub fn check_connack(p: &Incoming<'_>) -> anyhow::Result<()> {
    if p.kind != CONNACK {
        bail!("expected CONNACK, got packet type {:#04x}", p.kind);
    }
    let code = *p.body.get(1).context("CONNACK too short")?;
    if code != 0 {
        bail!("broker refused the connection: CONNACK return code {code}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_matches_the_spec_examples() {
        for (n, want) in [
            (0usize, vec![0x00]),
            (127, vec![0x7F]),
            (128, vec![0x80, 0x01]),
            (16_383, vec![0xFF, 0x7F]),
            (16_384, vec![0x80, 0x80, 0x01]),
            (2_097_152, vec![0x80, 0x80, 0x80, 0x01]),
        ] {
            let mut out = Vec::new();
            put_remaining_length(&mut out, n);
            assert_eq!(out, want, "{n}");
        }
    }

    #[test]
    fn publish_frames_are_exact() {
        let mut out = Vec::new();
        put_publish(&mut out, "a/b", b"xy", 0, false, None);
        assert_eq!(out, [0x30, 7, 0, 3, b'a', b'/', b'b', b'x', b'y']);
        out.clear();
        put_publish(&mut out, "a", b"", 1, true, Some(0x0102));
        assert_eq!(out, [0x33, 5, 0, 1, b'a', 1, 2]);
    }

    #[test]
    fn connect_frame_is_exact() {
        assert_eq!(
            connect("c", 60),
            [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 1, b'c']
        );
    }

    #[test]
    fn parse_takes_whole_packets_only() {
        let buf = [0x40, 2, 0, 7, 0x20];
        let (p, n) = parse(&buf).unwrap().unwrap();
        assert_eq!((p.kind, p.body, n), (PUBACK, &[0u8, 7][..], 4));
        assert_eq!(parse(&buf[4..]).unwrap(), None);
        assert_eq!(parse(&[0x40, 2, 0]).unwrap(), None);
        assert!(parse(&[0x40, 0xFF, 0xFF, 0xFF, 0xFF, 0]).is_err());
        let ok = Incoming {
            kind: CONNACK,
            body: &[0, 0],
        };
        assert!(check_connack(&ok).is_ok());
        let refused = Incoming {
            kind: CONNACK,
            body: &[0, 5],
        };
        assert!(format!("{}", check_connack(&refused).unwrap_err()).contains("code 5"));
    }
}
