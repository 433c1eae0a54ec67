//! In-order acknowledgement of batches that finish out of order.
//!
//! Several batches are written at once, and a small late batch may finish
//! before a large early one. The spool keeps one cursor per sink ("every
//! record up to here is delivered"), so a batch's high-water mark may only be
//! acknowledged once every batch dispatched before it is delivered too;
//! otherwise a crash would skip the earlier batch's records for good.
//! [`AckOrder`] numbers batches as they are dispatched and releases the
//! highest contiguous delivered prefix.

use std::collections::BTreeMap;

/// Dispatch order of batches and what of it may be acknowledged.
#[derive(Debug, Default)]
pub(crate) struct AckOrder {
    /// Sequence number of the next dispatched batch.
    next_seq: u64,
    /// Lowest sequence number not yet delivered.
    first_pending: u64,
    /// Delivered batches above `first_pending`, with their high-water mark
    /// (`None`: the batch held no spool records, e.g. the memory queue).
    delivered: BTreeMap<u64, Option<u64>>,
}

impl AckOrder {
    pub fn new() -> AckOrder {
        AckOrder::default()
    }

    /// Numbers the next batch handed to a writer.
    pub fn dispatch(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Batch `seq` was delivered. Returns the high-water mark to acknowledge
    /// now: the highest of the batches that became contiguous, or `None` if
    /// an earlier batch is still in flight (or none of them held records).
    pub fn delivered(&mut self, seq: u64, spool_upto: Option<u64>) -> Option<u64> {
        debug_assert!(seq < self.next_seq && seq >= self.first_pending, "{seq}");
        self.delivered.insert(seq, spool_upto);
        let mut upto = None;
        while let Some(mark) = self.delivered.remove(&self.first_pending) {
            // Records arrive in id order, so later batches hold higher ids.
            upto = mark.or(upto);
            self.first_pending += 1;
        }
        upto
    }

    #[cfg(test)]
    /// Batches dispatched and not yet released (in flight, or delivered but
    /// waiting for an earlier one).
    pub fn unreleased(&self) -> u64 {
        self.next_seq - self.first_pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_completions_ack_at_once() {
        let mut a = AckOrder::new();
        let (s0, s1) = (a.dispatch(), a.dispatch());
        assert_eq!(a.delivered(s0, Some(10)), Some(10));
        assert_eq!(a.delivered(s1, Some(20)), Some(20));
        assert_eq!(a.unreleased(), 0);
    }

    #[test]
    fn a_later_batch_waits_for_every_earlier_one() {
        let mut a = AckOrder::new();
        let seqs: Vec<u64> = (0..5).map(|_| a.dispatch()).collect();
        let marks = [100, 200, 300, 400, 500];
        // Finish order 3, 1, 4, 0, 2: nothing until 0, then 0..=1, then all.
        assert_eq!(a.delivered(seqs[3], Some(marks[3])), None);
        assert_eq!(a.delivered(seqs[1], Some(marks[1])), None);
        assert_eq!(a.delivered(seqs[4], Some(marks[4])), None);
        assert_eq!(a.unreleased(), 5);
        assert_eq!(a.delivered(seqs[0], Some(marks[0])), Some(200));
        assert_eq!(a.unreleased(), 3);
        assert_eq!(a.delivered(seqs[2], Some(marks[2])), Some(500));
        assert_eq!(a.unreleased(), 0);
    }

    #[test]
    fn batches_without_spool_records_keep_their_place() {
        let mut a = AckOrder::new();
        let (s0, s1, s2) = (a.dispatch(), a.dispatch(), a.dispatch());
        assert_eq!(a.delivered(s2, None), None);
        assert_eq!(a.delivered(s1, Some(7)), None);
        // The empty-marked last batch does not hide the mark of the one before.
        assert_eq!(a.delivered(s0, None), Some(7));
        let s3 = a.dispatch();
        assert_eq!(a.delivered(s3, None), None);
    }

    #[test]
    fn every_permutation_acks_a_prefix_only() {
        // All orders of 5 completions: each acknowledged mark is the mark of
        // a batch whose predecessors are all delivered, and marks only grow.
        let mut order: Vec<usize> = (0..5).collect();
        let mut count = 0;
        permute(&mut order, 0, &mut |perm| {
            count += 1;
            let mut a = AckOrder::new();
            let seqs: Vec<u64> = (0..5).map(|_| a.dispatch()).collect();
            let mut done = [false; 5];
            let mut last = 0;
            for &i in perm {
                done[i] = true;
                if let Some(mark) = a.delivered(seqs[i], Some(i as u64 + 1)) {
                    let k = mark as usize;
                    assert!(done[..k].iter().all(|d| *d), "{perm:?}: acked {mark}");
                    assert!(mark > last, "{perm:?}");
                    last = mark;
                }
            }
            assert_eq!(last, 5, "{perm:?}");
        });
        assert_eq!(count, 120);
    }

    fn permute(v: &mut Vec<usize>, k: usize, f: &mut impl FnMut(&[usize])) {
        if k == v.len() {
            return f(v);
        }
        for i in k..v.len() {
            v.swap(k, i);
            permute(v, k + 1, f);
            v.swap(k, i);
        }
    }
}
