//! The committer on a real, fsynced spool in a temporary directory: acks
//! are released only after the fdatasync that covers their records, groups
//! share one fdatasync, the size and time triggers, and a crash between
//! append and commit loses only messages that were never acknowledged.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::spool::{Overflow, RecordId, SpoolConfig};

fn config(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_path_buf(),
        max_bytes: 64 << 20,
        segment_bytes: 1 << 20,
        overflow: Overflow::Block,
        fsync: true,
        cursor_persist_ms: 0,
    }
}

/// One released group: its acks (the record ids of their messages), the
/// durable id and the count of fdatasyncs when it was released.
#[derive(Debug)]
struct Release {
    acks: Vec<RecordId>,
    durable: RecordId,
    fsyncs: u64,
    at: Instant,
}

type Log = Arc<Mutex<Vec<Release>>>;

/// A committer whose acks are the messages' record ids; every release is
/// logged with what was durable at that moment (the release runs in the
/// committer, so nothing can commit between it and the check).
fn committer(spool: &Spool, policy: GroupPolicy) -> (Committer<RecordId>, Log) {
    let log: Log = Arc::default();
    let (s, l) = (spool.clone(), Arc::clone(&log));
    let c = Committer::start(spool.clone(), policy, move |acks: Vec<RecordId>| {
        l.lock().unwrap().push(Release {
            acks,
            durable: s.durable_id(),
            fsyncs: s.fsyncs(),
            at: Instant::now(),
        });
    });
    (c, log)
}

/// Appends one message's record and queues its ack.
async fn message(spool: &Spool, c: &Committer<RecordId>, policy: &GroupPolicy) -> RecordId {
    let id = spool.append(0, b"m,school=s1 v=1i 1").await.unwrap();
    c.queue(1, &mut vec![id], policy).await.unwrap();
    id
}

fn released(log: &Log) -> Vec<RecordId> {
    log.lock()
        .unwrap()
        .iter()
        .flat_map(|r| r.acks.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_are_released_only_after_the_fdatasync_that_covers_them() {
    let d = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(&config(d.path()), &["influx"]).unwrap();
    let policy = GroupPolicy {
        linger: Duration::from_millis(20),
        max_messages: 50,
        max_pending: 200,
    };
    let (c, log) = committer(&spool, policy);
    let mut ids = Vec::new();
    for i in 0..2_000u32 {
        ids.push(message(&spool, &c, &policy).await);
        // Bursts and pauses, so groups end by size and by time.
        if i % 197 == 0 {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    // Messages without a record (rejected ones) are acknowledged in order too.
    c.queue(0, &mut vec![0], &policy).await.unwrap();
    c.finish().await.unwrap();

    let log = log.lock().unwrap();
    let mut order: Vec<RecordId> = Vec::new();
    let (mut fsyncs_before, mut durable_before) = (0, 0);
    for r in log.iter() {
        let newest = *r.acks.iter().max().unwrap();
        assert!(
            newest <= r.durable,
            "ack of record {newest} released while only {} was durable",
            r.durable
        );
        if newest > durable_before {
            assert!(
                r.fsyncs > fsyncs_before,
                "a group with new records released without an fdatasync: {r:?}"
            );
        }
        (fsyncs_before, durable_before) = (r.fsyncs, r.durable);
        order.extend(&r.acks);
    }
    ids.push(0);
    assert_eq!(order, ids, "every ack released once, in arrival order");
    let fsyncs = spool.fsyncs();
    assert!(
        fsyncs <= log.len() as u64,
        "at most one fdatasync per group: {fsyncs} fdatasyncs, {} groups",
        log.len()
    );
    // Groups end at 50 messages or 20 ms: ≥ 40 groups; many more only if
    // the committer synced (nearly) per message.
    assert!(
        log.len() < 2_000 / 4,
        "{} groups for 2,000 messages",
        log.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_committed_when_full_or_when_its_first_message_waited_the_linger() {
    let d = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(&config(d.path()), &["influx"]).unwrap();
    // Size: the linger is far away, a full group goes at once.
    let long = GroupPolicy {
        linger: Duration::from_secs(600),
        max_messages: 10,
        max_pending: 100,
    };
    let (c, log) = committer(&spool, long);
    let start = Instant::now();
    for _ in 0..10 {
        message(&spool, &c, &long).await;
    }
    let deadline = start + Duration::from_secs(30);
    while released(&log).len() < 10 {
        assert!(Instant::now() < deadline, "a full group was not committed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(released(&log), (1..=10).collect::<Vec<_>>());
    // One more waits for the linger (600 s): not released before close.
    message(&spool, &c, &long).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        released(&log).len(),
        10,
        "a lone message went before its linger"
    );
    c.finish().await.unwrap();
    assert_eq!(
        released(&log),
        (1..=11).collect::<Vec<_>>(),
        "close commits the rest"
    );

    // Time: a lone message is committed once its linger has passed.
    let short = GroupPolicy {
        linger: Duration::from_millis(50),
        ..long
    };
    let (c, log) = committer(&spool, short);
    let queued = Instant::now();
    let id = message(&spool, &c, &short).await;
    let deadline = queued + Duration::from_secs(30);
    while released(&log).is_empty() {
        assert!(
            Instant::now() < deadline,
            "a lone message was never committed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = &log.lock().unwrap()[0];
    assert_eq!(r.acks, vec![id]);
    assert!(r.at - queued >= short.linger, "released before its linger");
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_append_and_commit_loses_only_unacknowledged_messages() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path());
    let (spool, _) = Spool::open(&cfg, &["influx"]).unwrap();
    let policy = GroupPolicy {
        linger: Duration::from_secs(600),
        max_messages: 100,
        max_pending: 1_000,
    };
    let (c, log) = committer(&spool, policy);
    for _ in 0..100 {
        message(&spool, &c, &policy).await; // a full group: committed
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while released(&log).len() < 100 {
        assert!(
            Instant::now() < deadline,
            "the full group was not committed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..30 {
        message(&spool, &c, &policy).await; // appended, lingering: not durable
    }
    // kill -9: the committer stops, the append buffer is lost.
    c.kill().await;
    spool.crash();

    let acked = released(&log);
    assert_eq!(acked, (1..=100).collect::<Vec<_>>());
    let (spool, recovery) = Spool::open(&cfg, &["influx"]).unwrap();
    let on_disk: Vec<RecordId> = spool
        .reader("influx")
        .unwrap()
        .next_batch(usize::MAX, usize::MAX)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert!(
        acked.iter().all(|id| on_disk.contains(id)),
        "an acknowledged message was lost: acked {acked:?}, on disk {on_disk:?}"
    );
    // The lingering 30 were never acknowledged: the broker redelivers them.
    assert_eq!(on_disk, acked);
    assert_eq!(recovery.next_id, 101);
}
