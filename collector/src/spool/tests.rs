//! Tests of the spool: round trips, restarts, crashes, damage, retention,
//! overflow policies, inspection, and a property test over random histories.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

fn config(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_path_buf(),
        max_bytes: 1 << 20,
        segment_bytes: 1024,
        overflow: Overflow::Block,
        fsync: false,
        cursor_persist_ms: 0,
    }
}

fn payload(id: u64) -> Vec<u8> {
    format!("if,school=s{id} rx_bytes={id}i {id}000").into_bytes()
}

fn append_n(spool: &Spool, n: u64) -> Vec<RecordId> {
    (0..n)
        .map(|_| {
            let id = spool.next_id();
            spool.try_append(id as i64 * 10, &payload(id)).unwrap()
        })
        .collect()
}

fn read_all(spool: &Spool, sink: &str) -> Vec<Record> {
    spool
        .reader(sink)
        .unwrap()
        .next_batch(usize::MAX, usize::MAX)
        .unwrap()
}

fn ids(records: &[Record]) -> Vec<RecordId> {
    records.iter().map(|r| r.id).collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    segment::list(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

fn check_payloads(records: &[Record]) {
    for r in records {
        assert_eq!(r.payload, payload(r.id), "record {}", r.id);
        assert_eq!(r.time_ns, r.id as i64 * 10);
    }
}

#[test]
fn append_sync_read_ack_round_trip() {
    let d = tempfile::tempdir().unwrap();
    let (spool, rec) = Spool::open(&config(d.path()), &["influx"]).unwrap();
    assert!(rec.is_clean() && rec.next_id == 1);
    assert_eq!(append_n(&spool, 3), vec![1, 2, 3]);
    let mut reader = spool.reader("influx").unwrap();
    assert!(
        reader.next_batch(10, 1 << 20).unwrap().is_empty(),
        "not synced yet"
    );
    assert_eq!(spool.sync().unwrap(), 3);
    let batch = reader.next_batch(2, 1 << 20).unwrap();
    assert_eq!(ids(&batch), vec![1, 2]);
    check_payloads(&batch);
    assert_eq!(
        ids(&reader.next_batch(10, 1).unwrap()),
        vec![3],
        "at least one record"
    );
    assert!(reader.next_batch(10, 1 << 20).unwrap().is_empty());
    assert!(matches!(
        spool.ack("influx", 4),
        Err(SpoolError::AckBeyondDurable { .. })
    ));
    assert!(matches!(
        spool.ack("nope", 1),
        Err(SpoolError::UnknownSink(_))
    ));
    spool.ack("influx", 3).unwrap();
    spool.ack("influx", 1).unwrap(); // backwards: ignored
    let s = spool.status().unwrap();
    assert_eq!((s.sinks[0].cursor, s.sinks[0].backlog_records), (3, 0));
    assert_eq!(
        fs::read_to_string(d.path().join("cursors/influx")).unwrap(),
        "00000000000000000003\n"
    );
}

#[test]
fn restart_replays_from_persisted_cursors_and_ids_continue() {
    let d = tempfile::tempdir().unwrap();
    {
        let (spool, _) = Spool::open(&config(d.path()), &["a", "b"]).unwrap();
        append_n(&spool, 40);
        spool.sync().unwrap();
        spool.ack("a", 30).unwrap();
        spool.ack("b", 7).unwrap();
        spool.close().unwrap();
    }
    let (spool, rec) = Spool::open(&config(d.path()), &["a", "b"]).unwrap();
    assert!(rec.is_clean(), "{rec}");
    assert_eq!(rec.next_id, 41);
    let a = read_all(&spool, "a");
    assert_eq!(ids(&a), (31..=40).collect::<Vec<_>>());
    let b = read_all(&spool, "b");
    assert_eq!(ids(&b), (8..=40).collect::<Vec<_>>());
    check_payloads(&b);
    assert_eq!(spool.try_append(0, b"x").unwrap(), 41);
}

#[test]
fn ids_continue_when_every_segment_was_acknowledged() {
    let d = tempfile::tempdir().unwrap();
    {
        let (spool, _) = Spool::open(&config(d.path()), &["a"]).unwrap();
        append_n(&spool, 50);
        spool.sync().unwrap();
        spool.ack("a", 50).unwrap();
        assert_eq!(
            spool.status().unwrap().segments,
            1,
            "only the active one is left"
        );
        spool.close().unwrap();
    }
    let (spool, rec) = Spool::open(&config(d.path()), &["a"]).unwrap();
    assert_eq!(rec.next_id, 51);
    assert!(read_all(&spool, "a").is_empty());
    assert_eq!(spool.try_append(0, b"x").unwrap(), 51);
    spool.close().unwrap();
    drop(spool);
    // Even with the segments gone, the cursor keeps ids from repeating.
    for f in segment_files(d.path()) {
        fs::remove_file(f).unwrap();
    }
    let (spool, rec) = Spool::open(&config(d.path()), &["a"]).unwrap();
    assert_eq!(rec.next_id, 51);
    assert_eq!(spool.try_append(0, b"y").unwrap(), 51);
}

#[test]
fn torn_tail_is_cut_and_every_whole_record_recovered() {
    let d = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(&config(d.path()), &["a"]).unwrap();
    append_n(&spool, 5);
    spool.sync().unwrap();
    spool.crash();
    let last = segment_files(d.path()).pop().unwrap();
    let len = fs::metadata(&last).unwrap().len();
    let fifth = len - segment::record_len(payload(5).len());
    OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 3)
        .unwrap();

    let (spool, rec) = Spool::open(&config(d.path()), &["a"]).unwrap();
    let t = rec.truncated.clone().expect("torn tail reported");
    assert_eq!(
        (t.offset, t.bytes, t.kind),
        (fifth, len - 3 - fifth, ProblemKind::Torn)
    );
    assert_eq!(rec.records(), 4);
    assert_eq!(fs::metadata(&last).unwrap().len(), fifth, "file cut");
    let got = read_all(&spool, "a");
    assert_eq!(ids(&got), vec![1, 2, 3, 4]);
    check_payloads(&got);
    assert_eq!(spool.try_append(50, &payload(5)).unwrap(), 5);
}

#[test]
fn crash_loses_only_unsynced_records() {
    let d = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(&config(d.path()), &["a"]).unwrap();
    append_n(&spool, 3);
    spool.sync().unwrap();
    append_n(&spool, 2); // buffered, never synced
    assert_eq!(ids(&read_all(&spool, "a")), vec![1, 2, 3]);
    spool.crash();
    let (spool, rec) = Spool::open(&config(d.path()), &["a"]).unwrap();
    assert_eq!(rec.next_id, 4);
    assert_eq!(ids(&read_all(&spool, "a")), vec![1, 2, 3]);
}

#[test]
fn flipped_byte_is_detected_in_old_and_last_segments() {
    let d = tempfile::tempdir().unwrap();
    {
        let (spool, _) = Spool::open(&config(d.path()), &["a"]).unwrap();
        append_n(&spool, 60);
        spool.close().unwrap();
    }
    let files = segment_files(d.path());
    assert!(files.len() >= 3);
    let flip = |path: &Path, record: u64| {
        let mut bytes = fs::read(path).unwrap();
        let mut offset = 0usize;
        for _ in 0..record {
            let len = u32::from_le_bytes(bytes[offset + 1..offset + 5].try_into().unwrap());
            offset += 25 + len as usize;
        }
        bytes[offset + 30] ^= 0x01; // a payload byte
        fs::write(path, bytes).unwrap();
        offset as u64
    };
    let first_of_second =
        segment::parse_name(files[1].file_name().unwrap().to_str().unwrap()).unwrap();
    let off_old = flip(&files[0], 2);
    let off_last = flip(files.last().unwrap(), 1);

    let before = inspect(d.path()).unwrap();
    assert_eq!(before.damaged_segments(), 1);
    assert_eq!(
        before.segments[0].problem.as_ref().unwrap().kind,
        ProblemKind::BadChecksum
    );
    assert_eq!(before.segments[0].lost_ids, first_of_second - 3);

    let (spool, rec) = Spool::open(&config(d.path()), &["a"]).unwrap();
    assert_eq!(rec.corrupt.len(), 1);
    let c = &rec.corrupt[0];
    assert_eq!(
        (c.offset, c.kind, c.records_skipped),
        (off_old, ProblemKind::BadChecksum, first_of_second - 3)
    );
    let t = rec.truncated.as_ref().unwrap();
    assert_eq!((t.offset, t.kind), (off_last, ProblemKind::BadChecksum));
    // What the metrics report: the lost records, and the cut tail's bytes.
    assert_eq!(rec.lost_records(), first_of_second - 3);
    assert_eq!(rec.torn_bytes(), t.bytes);
    assert!(t.bytes > 0);
    let got = read_all(&spool, "a");
    check_payloads(&got);
    assert_eq!(&ids(&got)[..3], &[1, 2, first_of_second]);
    assert_eq!(got.len() as u64, rec.records());
    assert!(
        fs::metadata(&files[0]).unwrap().len() > off_old,
        "damaged old segment kept as evidence"
    );
}

#[test]
fn segments_rotate_and_are_deleted_only_after_every_sink_acked() {
    let d = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(&config(d.path()), &["a", "b"]).unwrap();
    append_n(&spool, 60);
    spool.sync().unwrap();
    let files = segment_files(d.path());
    assert!(files.len() >= 4, "{files:?}");
    assert!(files.iter().all(|f| fs::metadata(f).unwrap().len() <= 1024));
    spool.ack("a", 60).unwrap();
    assert_eq!(segment_files(d.path()), files, "b has acknowledged nothing");
    let second_first =
        segment::parse_name(files[1].file_name().unwrap().to_str().unwrap()).unwrap();
    spool.ack("b", second_first - 2).unwrap();
    assert_eq!(
        segment_files(d.path()),
        files,
        "one record of the first segment left"
    );
    spool.ack("b", second_first - 1).unwrap();
    assert_eq!(segment_files(d.path()), files[1..].to_vec());
    spool.ack("b", 60).unwrap();
    assert_eq!(
        segment_files(d.path()),
        files[files.len() - 1..].to_vec(),
        "the active one stays"
    );
    let s = spool.status().unwrap();
    assert_eq!(s.bytes, fs::metadata(files.last().unwrap()).unwrap().len());
}

#[test]
fn block_overflow_refuses_then_frees_after_ack() {
    let d = tempfile::tempdir().unwrap();
    let c = SpoolConfig {
        max_bytes: 2048,
        ..config(d.path())
    };
    let (spool, _) = Spool::open(&c, &["a"]).unwrap();
    let mut n = 0;
    let full = loop {
        match spool.try_append(0, &[b'x'; 75]) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(full, SpoolError::Full { .. }), "{full}");
    assert_eq!(n, 20, "100-byte records: 10 per segment, 2 segments");
    assert!(spool.status().unwrap().bytes <= 2048);
    spool.sync().unwrap();
    spool.ack("a", 5).unwrap();
    let full = spool.try_append(0, &[b'x'; 75]);
    assert!(
        matches!(full, Err(SpoolError::Full { .. })),
        "half a segment acked"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let waiting = {
        let spool = spool.clone();
        std::thread::spawn(move || rt.block_on(spool.append(0, &[b'w'; 75])))
    };
    std::thread::sleep(Duration::from_millis(50));
    assert!(!waiting.is_finished());
    spool.ack("a", 10).unwrap();
    assert_eq!(waiting.join().unwrap().unwrap(), 21);
    assert_eq!(spool.status().unwrap().sinks[0].dropped_records, Some(0));
}

#[test]
fn drop_oldest_overflow_drops_and_counts_per_sink() {
    let d = tempfile::tempdir().unwrap();
    let c = SpoolConfig {
        max_bytes: 3072,
        overflow: Overflow::DropOldest,
        ..config(d.path())
    };
    let (spool, _) = Spool::open(&c, &["a", "b"]).unwrap();
    for _ in 0..25 {
        spool.try_append(0, &[b'x'; 75]).unwrap();
    }
    spool.sync().unwrap();
    spool.ack("a", 15).unwrap();
    for _ in 0..75 {
        spool.try_append(0, &[b'y'; 75]).unwrap(); // never Full
    }
    spool.sync().unwrap();
    let s = spool.status().unwrap();
    assert!(s.bytes <= 3072);
    let retained: u64 = s.first_id;
    let (a, b) = (&s.sinks[0], &s.sinks[1]);
    assert_eq!(b.dropped_records, Some(retained - 1));
    assert_eq!(a.dropped_records, Some(retained - 1 - 15));
    assert_eq!(a.backlog_records, 100 - (retained - 1));
    assert_eq!(ids(&read_all(&spool, "b"))[0], retained);
    spool.close().unwrap();
    drop(spool);
    let (_, rec) = Spool::open(&c, &["a", "b"]).unwrap();
    assert!(
        rec.missing.is_empty(),
        "cursors were moved before the segments were deleted: {rec}"
    );
}

#[test]
fn drop_oldest_counts_only_records_never_handed_out() {
    // The issue: records the writer had already read (and delivered) were
    // counted as dropped too. Now appended = handed out + dropped, exactly.
    let d = tempfile::tempdir().unwrap();
    let c = SpoolConfig {
        max_bytes: 3072,
        overflow: Overflow::DropOldest,
        ..config(d.path())
    };
    let (spool, _) = Spool::open(&c, &["influx"]).unwrap();
    let mut reader = spool.reader("influx").unwrap();
    for _ in 0..25 {
        spool.try_append(0, &[b'x'; 75]).unwrap();
    }
    spool.sync().unwrap();
    // Read 17 (segment 1 whole, 7 of segment 2), acknowledge only 5.
    let mut handed_out = ids(&reader.next_batch(17, usize::MAX).unwrap());
    assert_eq!(handed_out, (1..=17).collect::<Vec<_>>());
    spool.ack("influx", 5).unwrap();
    for _ in 0..75 {
        spool.try_append(0, &[b'y'; 75]).unwrap();
    }
    spool.sync().unwrap();
    loop {
        let batch = reader.next_batch(7, usize::MAX).unwrap();
        if batch.is_empty() {
            break;
        }
        handed_out.extend(ids(&batch));
    }
    let s = spool.status().unwrap();
    let dropped = s.sinks[0].dropped_records.unwrap();
    assert!(handed_out.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(handed_out.len() as u64 + dropped, 100, "dropped {dropped}");
    // Ids 18 up to the first retained one were never handed out: dropped.
    assert_eq!(dropped, s.first_id - 18);
}

#[test]
fn readers_follow_syncs_and_wait_for_more() {
    let d = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(&config(d.path()), &["a"]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut reader = spool.reader("a").unwrap();
    rt.block_on(async {
        let writer = spool.clone();
        let task = tokio::spawn(async move {
            for _ in 0..30 {
                writer.append(1, b"r").await.unwrap();
                tokio::task::yield_now().await;
                writer.commit().await.unwrap();
            }
        });
        let mut seen = Vec::new();
        while seen.len() < 30 {
            reader.wait_for_more().await;
            let batch = reader.next_batch(7, 1 << 20).unwrap();
            assert!(batch.iter().all(|r| r.id <= spool.durable_id()));
            seen.extend(ids(&batch));
        }
        task.await.unwrap();
        assert_eq!(seen, (1..=30).collect::<Vec<_>>());
    });
}

#[test]
fn concurrent_syncs_share_commits() {
    let d = tempfile::tempdir().unwrap();
    let c = SpoolConfig {
        fsync: true,
        segment_bytes: 64 * 1024,
        ..config(d.path())
    };
    let (spool, _) = Spool::open(&c, &["a"]).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let spool = spool.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let id = spool.try_append(0, b"p").unwrap();
                    assert!(spool.sync().unwrap() >= id);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(spool.durable_id(), 200);
    assert_eq!(ids(&read_all(&spool, "a")), (1..=200).collect::<Vec<_>>());
}

#[test]
fn status_numbers() {
    let d = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(&config(d.path()), &["a", "b"]).unwrap();
    for i in 1..=30u64 {
        spool.try_append(1_000 + i as i64, &[b'z'; 75]).unwrap();
    }
    spool.sync().unwrap();
    spool.ack("a", 12).unwrap();
    let s = spool.status().unwrap();
    let on_disk: u64 = segment_files(d.path())
        .iter()
        .map(|f| fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(
        (s.bytes, s.segments, s.first_id, s.last_id, s.durable_id),
        (on_disk, 3, 1, 30, 30)
    );
    let (a, b) = (&s.sinks[0], &s.sinks[1]);
    assert_eq!(
        (
            a.cursor,
            a.backlog_records,
            a.backlog_bytes,
            a.oldest_unsent_ns
        ),
        (12, 18, 1800, Some(1013))
    );
    assert_eq!(
        (
            b.cursor,
            b.backlog_records,
            b.backlog_bytes,
            b.oldest_unsent_ns
        ),
        (0, 30, 3000, Some(1001))
    );
    spool.try_append(5, b"").unwrap(); // not synced: counted, readable by status
    let s = spool.status().unwrap();
    assert_eq!(
        (s.last_id, s.durable_id, s.sinks[0].backlog_records),
        (31, 30, 19)
    );
}

#[test]
fn cursor_persist_window_bounds_replays() {
    let d = tempfile::tempdir().unwrap();
    let c = SpoolConfig {
        cursor_persist_ms: 3_600_000,
        ..config(d.path())
    };
    let (spool, _) = Spool::open(&c, &["a"]).unwrap();
    append_n(&spool, 9);
    spool.sync().unwrap();
    spool.ack("a", 5).unwrap(); // first ack: persisted at once
    spool.ack("a", 8).unwrap(); // within the window: in memory only
    spool.crash();
    let (spool, _) = Spool::open(&c, &["a"]).unwrap();
    assert_eq!(
        ids(&read_all(&spool, "a")),
        vec![6, 7, 8, 9],
        "6..8 replayed"
    );
    spool.ack("a", 6).unwrap();
    spool.ack("a", 9).unwrap();
    spool.close().unwrap(); // persists every cursor
    drop(spool);
    let (spool, _) = Spool::open(&c, &["a"]).unwrap();
    assert!(read_all(&spool, "a").is_empty());
}

#[test]
fn one_process_per_directory_and_sink_checks() {
    let d = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(&config(d.path()), &["a"]).unwrap();
    match Spool::open(&config(d.path()), &["a"]) {
        Err(SpoolError::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
        other => panic!("{:?}", other.map(|_| ())),
    }
    let e = tempfile::tempdir().unwrap();
    for bad in [&[][..], &["a", "a"], &["../x"]] {
        assert!(matches!(
            Spool::open(&config(e.path()), bad),
            Err(SpoolError::Sinks(_))
        ));
    }
    let big = vec![0u8; 1024];
    assert!(matches!(
        spool.try_append(0, &big),
        Err(SpoolError::TooLarge { .. })
    ));
}

#[test]
fn unknown_and_bad_cursors_are_reported() {
    let d = tempfile::tempdir().unwrap();
    {
        let (spool, _) = Spool::open(&config(d.path()), &["a", "old"]).unwrap();
        append_n(&spool, 3);
        spool.close().unwrap();
    }
    fs::write(d.path().join("cursors/a"), "garbage").unwrap();
    let (spool, rec) = Spool::open(&config(d.path()), &["a"]).unwrap();
    assert_eq!(rec.unknown_sinks, vec!["old".to_owned()]);
    assert_eq!(rec.bad_cursors.len(), 1);
    assert_eq!(
        ids(&read_all(&spool, "a")),
        vec![1, 2, 3],
        "replays all retained"
    );
}

#[test]
fn inspect_a_crashed_spool() {
    let d = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(&config(d.path()), &["influx", "vm"]).unwrap();
    append_n(&spool, 25);
    spool.sync().unwrap();
    spool.ack("influx", 20).unwrap();
    let live = inspect(d.path()).unwrap();
    assert_eq!(live.in_use, Some(Some(std::process::id())));
    spool.crash();
    let last = segment_files(d.path()).pop().unwrap();
    OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap()
        .write_all(&[0xA7, 200, 0, 0])
        .unwrap();

    let i = inspect(d.path()).unwrap();
    assert_eq!(i.in_use, None);
    assert_eq!(i.segments.iter().map(|s| s.records).sum::<u64>(), 25);
    let tail = i.segments.last().unwrap();
    assert_eq!(tail.problem.as_ref().unwrap().kind, ProblemKind::Torn);
    assert_eq!(tail.problem.as_ref().unwrap().bytes, 4);
    assert_eq!(i.damaged_segments(), 0, "a torn tail is not damage");
    assert_eq!(i.segments[0].first_record, Some(1));
    let by_name = |n: &str| i.sinks.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!(
        (by_name("influx").cursor, by_name("influx").backlog_records),
        (20, 5)
    );
    assert_eq!(
        (
            by_name("vm").backlog_records,
            by_name("vm").oldest_unsent_ns
        ),
        (25, Some(10))
    );
    let recs = i.records("influx", 3).unwrap();
    assert_eq!(ids(&recs), vec![21, 22, 23]);
    check_payloads(&recs);
    assert_eq!(
        fs::metadata(&last).unwrap().len(),
        tail.bytes,
        "inspect changes nothing"
    );
    assert!(matches!(
        inspect(&d.path().join("nope")),
        Err(SpoolError::Io { .. })
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        inspect(empty.path()),
        Err(SpoolError::NotASpool(_))
    ));
}

// ---- property test ----

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Sync,
    Ack(usize, u8),
    Read(usize),
    /// Crash (having flushed the append buffer to the kernel or not), then
    /// cut the last segment anywhere after its synced part.
    Crash(u8, bool),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..200).prop_map(Op::Append),
        3 => Just(Op::Sync),
        2 => (0usize..2, any::<u8>()).prop_map(|(s, f)| Op::Ack(s, f)),
        2 => (0usize..2).prop_map(Op::Read),
        1 => (any::<u8>(), any::<bool>()).prop_map(|(c, f)| Op::Crash(c, f)),
        1 => Just(Op::Reopen),
    ]
}

fn body(id: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (id as usize * 31 + i) as u8).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn synced_unacked_records_survive_any_history(ops in prop::collection::vec(op(), 1..60)) {
        let d = tempfile::tempdir().unwrap();
        let c = config(d.path());
        let sinks = ["a", "b"];
        let mut spool = Some(Spool::open(&c, &sinks).unwrap().0);
        let mut model: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut synced = 0u64;
        let mut acked = [0u64; 2];
        // The last segment and its length when everything was last durable.
        let tail = |d: &Path| {
            let last = segment_files(d).pop().unwrap();
            let len = fs::metadata(&last).unwrap().len();
            (last, len)
        };
        let mut synced_tail = tail(d.path());
        for op in ops {
            let s = spool.as_ref().unwrap();
            match op {
                Op::Append(len) => {
                    let id = s.next_id();
                    prop_assert_eq!(s.try_append(id as i64, &body(id, len)).unwrap(), id);
                    model.insert(id, body(id, len));
                }
                Op::Sync => {
                    synced = s.sync().unwrap();
                    synced_tail = tail(d.path());
                }
                Op::Ack(i, f) => {
                    let upto = acked[i] + (synced.saturating_sub(acked[i])) * u64::from(f) / 255;
                    s.ack(sinks[i], upto).unwrap();
                    acked[i] = acked[i].max(upto);
                }
                Op::Read(i) => {
                    let got = read_all(s, sinks[i]);
                    for r in &got {
                        prop_assert_eq!(Some(&r.payload), model.get(&r.id), "record {}", r.id);
                        prop_assert_eq!(r.time_ns, r.id as i64);
                        prop_assert!(r.id > acked[i] && r.id <= synced);
                    }
                    let want: Vec<u64> = model.range(acked[i] + 1..).map(|(id, _)| *id).filter(|id| *id <= synced).collect();
                    prop_assert_eq!(ids(&got), want);
                }
                Op::Crash(cut, flushed) => {
                    if flushed {
                        s.status().unwrap(); // flushes
                    }
                    spool.take().unwrap().crash();
                    let last = segment_files(d.path()).pop().unwrap();
                    let len = fs::metadata(&last).unwrap().len();
                    let floor = if synced_tail.0 == last { synced_tail.1 } else { 0 };
                    let to = floor + (len - floor) * u64::from(cut) / 255;
                    OpenOptions::new().write(true).open(&last).unwrap().set_len(to).unwrap();
                    let (s, rec) = Spool::open(&c, &sinks).unwrap();
                    let last_id = rec.next_id - 1;
                    prop_assert!(last_id >= synced, "synced record lost: {} < {}", last_id, synced);
                    prop_assert!(rec.corrupt.is_empty());
                    model.retain(|id, _| *id <= last_id);
                    synced = last_id;
                    synced_tail = tail(d.path());
                    spool = Some(s);
                }
                Op::Reopen => {
                    let s = spool.take().unwrap();
                    s.close().unwrap();
                    drop(s);
                    let (s, rec) = Spool::open(&c, &sinks).unwrap();
                    prop_assert!(rec.is_clean(), "{}", rec);
                    prop_assert_eq!(rec.next_id, model.keys().last().map_or(1, |l| l + 1).max(acked[0].max(acked[1]) + 1));
                    synced = rec.next_id - 1;
                    synced_tail = tail(d.path());
                    spool = Some(s);
                }
            }
        }
    }
}

/// `cargo test -p collector --release --lib spool::tests::throughput -- --ignored --nocapture`
#[test]
#[ignore = "benchmark: prints numbers"]
fn throughput() {
    let payload = [b'x'; 100];
    let run = |name: &str, n: u64, sync_every: u64, threads: u64| {
        let d = tempfile::tempdir().unwrap();
        let c = SpoolConfig {
            dir: d.path().to_path_buf(),
            max_bytes: 4 << 30,
            ..SpoolConfig::default()
        };
        let (spool, _) = Spool::open(&c, &["a"]).unwrap();
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let spool = spool.clone();
                scope.spawn(move || {
                    for i in 1..=n / threads {
                        spool.try_append(0, &payload).unwrap();
                        if i % sync_every == 0 {
                            spool.sync().unwrap();
                        }
                    }
                    spool.sync().unwrap();
                });
            }
        });
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name:<44} {n:>8} records  {:>10.0} records/s  {:>7.1} MB/s",
            n as f64 / secs,
            n as f64 * 125.0 / secs / 1e6
        );
        let mut r = spool.reader("a").unwrap();
        let start = Instant::now();
        let mut read = 0;
        loop {
            let b = r.next_batch(5_000, 1 << 20).unwrap();
            if b.is_empty() {
                break;
            }
            read += b.len();
        }
        assert_eq!(read as u64, n);
        println!(
            "{:<44} {read:>8} records  {:>10.0} records/s",
            "  read back",
            read as f64 / start.elapsed().as_secs_f64()
        );
    };
    run("append only, one sync at the end", 1_000_000, u64::MAX, 1);
    run("fsync every 1000 records", 1_000_000, 1_000, 1);
    run("fsync every 100 records", 200_000, 100, 1);
    run("fsync every record, 1 thread", 3_000, 1, 1);
    run("fsync every record, 8 threads (group commit)", 8_000, 1, 8);
}
