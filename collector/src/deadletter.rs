//! The dead-letter list: the most recent rejected messages, kept in memory so
//! an operator can see *what* was rejected and why (`/api/dead-letters`)
//! without grepping logs. Bounded: the oldest entry is dropped when full, and
//! the total ever stored is kept so drops are visible.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::reject::Reject;

/// Bytes of payload kept per entry.
pub const EXCERPT_BYTES: usize = 256;

/// One rejected message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeadLetter {
    /// Unix time in seconds (fractional) when it was rejected.
    pub time: f64,
    pub route: String,
    pub topic: String,
    /// The payload's first bytes; invalid UTF-8 and control bytes escaped.
    pub payload_excerpt: String,
    /// Full payload length in bytes.
    pub payload_bytes: usize,
    pub reason: &'static str,
    pub detail: String,
}

/// A bounded, thread-safe ring of dead letters.
#[derive(Debug)]
pub struct DeadLetters {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<DeadLetter>,
    total: u64,
}

impl DeadLetters {
    pub fn new(capacity: usize) -> DeadLetters {
        DeadLetters {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn push(&self, route: &str, topic: &str, payload: &[u8], reject: &Reject) {
        self.push_received(route, topic, payload, payload.len(), reject);
    }

    /// [`DeadLetters::push`] for a payload of `payload_len` bytes of which
    /// only the first ones were kept (`payload`, an oversize payload cut
    /// by the MQTT source).
    pub fn push_received(
        &self,
        route: &str,
        topic: &str,
        payload: &[u8],
        payload_len: usize,
        reject: &Reject,
    ) {
        let entry = DeadLetter {
            time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            route: route.to_string(),
            topic: topic.to_string(),
            payload_excerpt: excerpt(payload),
            payload_bytes: payload_len.max(payload.len()),
            reason: reject.reason.as_str(),
            detail: reject.detail.clone(),
        };
        let mut inner = self.inner.lock().expect("dead-letter lock poisoned");
        if inner.entries.len() == self.capacity {
            inner.entries.pop_front();
        }
        inner.entries.push_back(entry);
        inner.total += 1;
    }

    /// Newest first.
    pub fn snapshot(&self) -> Vec<DeadLetter> {
        let inner = self.inner.lock().expect("dead-letter lock poisoned");
        inner.entries.iter().rev().cloned().collect()
    }

    /// Dead letters stored since start (including ones since dropped).
    pub fn total(&self) -> u64 {
        self.inner.lock().expect("dead-letter lock poisoned").total
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Printable excerpt: valid UTF-8 is kept, control characters and invalid
/// bytes are escaped (`\0`, `\x9f`), cut at [`EXCERPT_BYTES`].
pub fn excerpt(payload: &[u8]) -> String {
    let cut = &payload[..payload.len().min(EXCERPT_BYTES)];
    let mut out = String::with_capacity(cut.len());
    for chunk in cut.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\0' => out.push_str("\\0"),
                c if c.is_control() && c != '\n' && c != '\t' => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if payload.len() > EXCERPT_BYTES {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reject::RejectReason;

    #[test]
    fn ring_is_bounded_and_newest_first() {
        let dl = DeadLetters::new(2);
        let r = Reject::new(RejectReason::ParseError, "x");
        for i in 0..3 {
            dl.push("r", &format!("t/{i}"), b"p", &r);
        }
        let snap = dl.snapshot();
        assert_eq!(snap.len(), 2);
        assert_eq!(snap[0].topic, "t/2");
        assert_eq!(snap[1].topic, "t/1");
        assert_eq!(dl.total(), 3);
    }

    #[test]
    fn excerpt_escapes_and_truncates() {
        assert_eq!(excerpt(b"1.5:nan\0"), "1.5:nan\\0");
        assert_eq!(excerpt(&[b'a', 0xff, b'b']), "a\\xffb");
        let long = vec![b'x'; 1000];
        let e = excerpt(&long);
        assert!(e.ends_with('…') && e.len() < 300);
    }
}
