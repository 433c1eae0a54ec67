//! A batch of encoded lines waiting to be written, and the plan for sending it
//! in pieces when the server says 413.
//!
//! The batch is one contiguous line protocol buffer plus the end offset of
//! every line, so any run of lines is a zero-copy slice: splitting after a 413
//! costs no re-encoding. [`SplitPlan`] is the pure part of the split logic
//! (which line ranges remain, in order), tested without a server.

use std::ops::Range;
use std::time::Duration;

use tokio::time::Instant;

use crate::line_protocol::LineEncoder;
use crate::sample::InfluxRecord;

/// Encoded lines plus bookkeeping for the age-based flush.
#[derive(Debug, Default)]
pub struct Batch {
    body: Vec<u8>,
    /// `line_ends[i]` is the offset one past line `i`'s newline.
    line_ends: Vec<usize>,
    /// When the first (oldest) line entered the batch.
    oldest: Option<Instant>,
    /// Highest spool record id in the batch (records arrive in id order).
    spool_upto: Option<u64>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Encodes `record` into the batch with `encoder`. `false` if it had
    /// nothing writable (see [`LineEncoder::encode_record`]); the batch is then
    /// unchanged.
    pub fn push(&mut self, encoder: &mut LineEncoder, record: &InfluxRecord, now: Instant) -> bool {
        let start = self.body.len();
        if !encoder.encode_record(record, &mut self.body) {
            if let InfluxRecord::Lines { spool_id, .. } = record {
                // Nothing to write, but delivered all the same.
                self.spool_upto = Some(*spool_id);
            }
            return false;
        }
        match record {
            // A spooled record holds all lines of one message: each line is
            // its own point, so a 413 split can still cut between them.
            InfluxRecord::Lines { spool_id, .. } => {
                let lines = memchr::memchr_iter(b'\n', &self.body[start..]);
                self.line_ends.extend(lines.map(|i| start + i + 1));
                self.spool_upto = Some(*spool_id);
            }
            _ => self.line_ends.push(self.body.len()),
        }
        self.oldest.get_or_insert(now);
        true
    }

    /// Highest spool record id in the batch, to acknowledge once delivered.
    pub fn spool_upto(&self) -> Option<u64> {
        self.spool_upto
    }

    /// Points (lines) in the batch.
    pub fn len(&self) -> usize {
        self.line_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.line_ends.is_empty()
    }

    /// When the batch must be flushed because its oldest point waited `max_age`.
    pub fn deadline(&self, max_age: Duration) -> Option<Instant> {
        self.oldest.map(|t| t + max_age)
    }

    /// The whole body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The bytes of lines `range` (each ending in `\n`).
    ///
    /// # Panics
    /// If `range` is out of bounds.
    pub fn lines(&self, range: Range<usize>) -> &[u8] {
        if range.is_empty() {
            return &[];
        }
        let start = match range.start {
            0 => 0,
            i => self.line_ends[i - 1],
        };
        &self.body[start..self.line_ends[range.end - 1]]
    }

    /// Empties the batch, keeping its allocations for the next one.
    pub fn clear(&mut self) {
        self.body.clear();
        self.line_ends.clear();
        self.spool_upto = None;
        self.oldest = None;
    }
}

/// Encodes records into one line protocol body; returns it with the number of
/// lines (samples without writable fields are skipped). For benchmarks and
/// tools; the sink itself encodes incrementally into a [`Batch`].
pub fn encode_batch(records: &[InfluxRecord]) -> (Vec<u8>, usize) {
    let mut body = Vec::with_capacity(records.len() * 160);
    let mut encoder = LineEncoder::new();
    let points = records
        .iter()
        .filter(|r| encoder.encode_record(r, &mut body))
        .count();
    (body, points)
}

/// Splits a line range in two halves; `None` for a single line (which can
/// not be split further) or an empty range.
pub fn split_halves(range: Range<usize>) -> Option<(Range<usize>, Range<usize>)> {
    if range.len() < 2 {
        return None;
    }
    let mid = range.start + range.len() / 2;
    Some((range.start..mid, mid..range.end))
}

/// The line ranges of a batch still to be sent, front first. Starts as the
/// whole batch; a 413 replaces the front range by its halves, so lines are
/// still sent in order (InfluxDB does not care, but logs and tests read
/// better) and a batch of `n` lines needs at most `2n - 1` requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitPlan {
    /// Back of the vector = next range to send.
    stack: Vec<Range<usize>>,
}

impl SplitPlan {
    pub fn new(points: usize) -> SplitPlan {
        let mut stack = Vec::with_capacity(8);
        if points > 0 {
            stack.push(0..points);
        }
        SplitPlan { stack }
    }

    /// The range to send next.
    pub fn next(&self) -> Option<Range<usize>> {
        self.stack.last().cloned()
    }

    /// The front range was written (or dropped): move on.
    pub fn done(&mut self) {
        self.stack.pop();
    }

    /// The front range was too large: replace it by its halves. `false` if it
    /// is a single line, which then stays at the front for the caller to drop.
    pub fn split(&mut self) -> bool {
        let Some(front) = self.stack.last().cloned() else {
            return false;
        };
        match split_halves(front) {
            Some((first, second)) => {
                self.stack.pop();
                self.stack.push(second);
                self.stack.push(first);
                true
            }
            None => false,
        }
    }

    /// Points not yet written or dropped.
    pub fn remaining(&self) -> usize {
        self.stack.iter().map(|r| r.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves() {
        assert_eq!(split_halves(0..0), None);
        assert_eq!(split_halves(3..4), None);
        assert_eq!(split_halves(0..2), Some((0..1, 1..2)));
        assert_eq!(split_halves(10..15), Some((10..12, 12..15)));
    }

    /// Simulates a server that accepts at most `limit` lines per request:
    /// returns the ranges written, the single lines dropped, and the request
    /// count.
    fn deliver(points: usize, limit: usize) -> (Vec<Range<usize>>, Vec<usize>, usize) {
        let mut plan = SplitPlan::new(points);
        let (mut written, mut dropped, mut requests) = (vec![], vec![], 0);
        while let Some(r) = plan.next() {
            requests += 1;
            if r.len() <= limit {
                written.push(r);
                plan.done();
            } else if !plan.split() {
                dropped.push(r.start);
                plan.done();
            }
            assert!(requests <= 2 * points, "no progress");
        }
        (written, dropped, requests)
    }

    #[test]
    fn split_plan_delivers_every_line_once_in_order() {
        for points in [1, 2, 3, 7, 100, 1001] {
            for limit in [1, 2, 3, 50, 5000] {
                let (written, dropped, requests) = deliver(points, limit);
                assert!(dropped.is_empty());
                let lines: Vec<usize> = written.iter().flat_map(|r| r.clone()).collect();
                assert_eq!(lines, (0..points).collect::<Vec<_>>(), "{points}/{limit}");
                assert!(written.iter().all(|r| r.len() <= limit));
                assert!(requests < 2 * points, "{points}/{limit}: {requests}");
            }
        }
        assert_eq!(deliver(8, 2).2, 7); // 8 -> 4+4 -> 2+2+2+2: 1 + 2 + 4
    }

    #[test]
    fn a_single_line_still_too_large_is_dropped() {
        let (written, dropped, _) = deliver(5, 0);
        assert!(written.is_empty());
        assert_eq!(dropped, vec![0, 1, 2, 3, 4]);
        let mut plan = SplitPlan::new(1);
        assert!(!plan.split());
        assert_eq!(plan.next(), Some(0..1));
        assert_eq!(plan.remaining(), 1);
        assert_eq!(SplitPlan::new(0).next(), None);
    }

    #[test]
    fn lines_are_contiguous_slices() {
        use crate::sink::influx::testutil::clients;
        let s = |v: f64| InfluxRecord::Sample(clients("s1", v, 1));
        let samples = [s(1.0), s(f64::NAN), s(2.0), s(3.0)];
        let now = Instant::now();
        let mut b = Batch::new();
        let mut encoder = LineEncoder::new();
        let pushed: Vec<bool> = samples
            .iter()
            .map(|x| b.push(&mut encoder, x, now))
            .collect();
        assert_eq!(pushed, [true, false, true, true]);
        assert_eq!(b.len(), 3);
        let line = |v| format!("clients,device=r1,district=D,school=s1 wifi_clients={v} 1\n");
        assert_eq!(b.lines(1..3), format!("{}{}", line(2), line(3)).as_bytes());
        assert_eq!(b.lines(0..1), line(1).as_bytes());
        assert_eq!(b.lines(2..2), b"");
        assert_eq!(
            b.deadline(Duration::from_secs(1)),
            Some(now + Duration::from_secs(1))
        );
        assert_eq!(encode_batch(&samples), (b.body().to_vec(), 3));
        b.clear();
        assert!(b.is_empty() && b.deadline(Duration::ZERO).is_none());
    }
}
