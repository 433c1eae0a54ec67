//! The spool on a really full filesystem: each test mounts a 4 MiB tmpfs
//! (root needed, as in CI: without it the test fails and says why, it is
//! never skipped) and drives the spool into ENOSPC with `max_bytes` far
//! above the filesystem's size.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use testkit::Tmpfs;

use super::*;

/// The spool's directory on the tmpfs.
fn spool_dir(fs: &Tmpfs) -> PathBuf {
    fs.path().join("spool")
}

fn config(dir: &Path, overflow: Overflow) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_path_buf(),
        max_bytes: 1 << 30, // far beyond the 4 MiB filesystem
        segment_bytes: 256 * 1024,
        overflow,
        fsync: true,
        cursor_persist_ms: 0,
    }
}

fn payload(id: u64) -> Vec<u8> {
    let mut p = format!("if,school=s{id} rx_bytes={id}i ").into_bytes();
    p.resize(1000, b'x');
    p
}

/// Every segment file is a valid log: no torn or damaged record.
fn assert_segments_valid(dir: &Path) {
    let files = segment::list(dir).unwrap();
    for (i, (first, path)) in files.iter().enumerate() {
        let next = files.get(i + 1).map(|f| f.0);
        let (_, problem) = segment::scan(path, *first, next).unwrap();
        assert_eq!(problem, None, "{}", path.display());
    }
}

/// Appends until the spool refuses; returns the ids accepted.
fn append_until_refused(spool: &Spool) -> (Vec<RecordId>, SpoolError) {
    let mut ids = Vec::new();
    loop {
        let id = spool.next_id();
        match spool.try_append(id as i64, &payload(id)) {
            Ok(got) => ids.push(got),
            Err(e) => return (ids, e),
        }
        assert!(ids.len() < 100_000, "never refused");
    }
}

#[test]
fn full_disk_blocks_like_a_full_spool_and_resumes_when_a_sink_frees_segments() {
    let fs = Tmpfs::mount("4m");
    let (spool, _) = Spool::open(&config(&spool_dir(&fs), Overflow::Block), &["influx"]).unwrap();
    let (accepted, refused) = append_until_refused(&spool);
    assert!(matches!(refused, SpoolError::NoSpace { .. }), "{refused}");
    assert!(refused.is_full());
    // Accepted records the disk had no room for wait in memory, not durable.
    let err = spool.sync().unwrap_err();
    assert!(matches!(err, SpoolError::NoSpace { .. }), "{err}");
    let s = spool.status().unwrap();
    assert_eq!(s.failed, None, "a full disk must not fail the spool");
    assert_eq!(s.full, Some(FullCause::Disk));
    assert!(s.blocked);
    assert!(s.unplaced_records > 0);
    assert_eq!(s.last_id, *accepted.last().unwrap());
    assert_eq!(s.durable_id + s.unplaced_records, s.last_id);
    assert_segments_valid(&spool_dir(&fs));

    // The sink delivers what is durable; acknowledging frees segments and
    // the waiting records go to disk.
    let mut reader = spool.reader("influx").unwrap();
    let mut delivered = Vec::new();
    for round in 0.. {
        assert!(round < 10_000, "never drained");
        let batch = reader.next_batch(500, usize::MAX).unwrap();
        if let Some(last) = batch.last() {
            for r in &batch {
                assert_eq!(r.payload, payload(r.id));
            }
            delivered.extend(batch.iter().map(|r| r.id));
            spool.ack("influx", last.id).unwrap();
            continue;
        }
        // Caught up with what is durable: the waiting records go to disk
        // now that segments were freed.
        match spool.sync() {
            Err(e) if !e.is_full() => panic!("{e}"),
            _ => {}
        }
        let s = spool.status().unwrap();
        if s.unplaced_records == 0 && reader.position() > s.durable_id {
            break;
        }
    }
    assert_eq!(
        delivered, accepted,
        "every accepted record delivered once, in order"
    );
    let s = spool.status().unwrap();
    assert_eq!(
        (s.unplaced_records, s.sinks[0].dropped_records),
        (0, Some(0))
    );
    // Intake flows again.
    let id = spool.try_append(0, &payload(0)).unwrap();
    assert_eq!(id, accepted.len() as u64 + 1);
    assert!(!spool.status().unwrap().blocked);
    spool.close().unwrap();
    assert_segments_valid(&spool_dir(&fs));
}

#[test]
fn full_disk_with_drop_oldest_drops_exactly_what_is_never_delivered() {
    let fs = Tmpfs::mount("4m");
    let (spool, _) =
        Spool::open(&config(&spool_dir(&fs), Overflow::DropOldest), &["influx"]).unwrap();
    let mut reader = spool.reader("influx").unwrap();
    let mut delivered: Vec<RecordId> = Vec::new();
    let total = 12_000u64; // ~12 MB through a 4 MiB filesystem
    for i in 1..=total {
        let id = spool
            .try_append(i as i64, &payload(i))
            .unwrap_or_else(|e| panic!("append {i}: {e}"));
        assert_eq!(id, i);
        if i % 1000 == 0 {
            spool.sync().unwrap();
        }
        if i == 1500 {
            // The writer reads a batch it has not delivered yet: those
            // records are delivered from memory, never counted as dropped.
            let batch = reader.next_batch(700, usize::MAX).unwrap();
            assert_eq!(batch.len(), 700);
            delivered.extend(batch.iter().map(|r| r.id));
        }
    }
    spool.sync().unwrap();
    loop {
        let batch = reader.next_batch(1000, usize::MAX).unwrap();
        if batch.is_empty() {
            break;
        }
        for r in &batch {
            assert_eq!(r.payload, payload(r.id));
        }
        delivered.extend(batch.iter().map(|r| r.id));
    }
    spool.ack("influx", *delivered.last().unwrap()).unwrap();
    let s = spool.status().unwrap();
    let dropped = s.sinks[0].dropped_records.unwrap();
    eprintln!(
        "appended {total}, delivered {}, dropped {dropped}",
        delivered.len()
    );
    assert!(dropped > 0, "the filesystem holds less than was appended");
    assert!(
        delivered.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicates"
    );
    assert_eq!(
        delivered.len() as u64 + dropped,
        total,
        "appended = delivered + dropped (delivered {}, dropped {dropped})",
        delivered.len()
    );
    assert_eq!(
        delivered[..700],
        (1..=700).collect::<Vec<_>>()[..],
        "the batch read before the drops"
    );
    assert_eq!(s.full, Some(FullCause::Disk));
    assert!(!s.blocked, "drop_oldest keeps intake flowing");
    assert_eq!(s.failed, None);
    assert_segments_valid(&spool_dir(&fs));
    spool.close().unwrap();
}

#[test]
fn restart_on_a_full_disk_drains_and_frees_segments() {
    let fs = Tmpfs::mount("4m");
    let c = config(&spool_dir(&fs), Overflow::Block);
    let (spool, _) = Spool::open(&c, &["influx"]).unwrap();
    let (accepted, _) = append_until_refused(&spool);
    let _ = spool.sync();
    let durable = spool.durable_id();
    // The process dies (what was in memory is lost, never acknowledged to
    // MQTT), and something else takes the last free block.
    spool.crash();
    fs.fill();
    assert!(fs.free() < 4096, "{} bytes still free", fs.free());

    let (spool, rec) = Spool::open(&c, &["influx"]).expect("a spool on a full disk must open");
    assert_eq!(rec.next_id, durable + 1);
    assert!(accepted.len() as u64 > durable);
    let mut reader = spool.reader("influx").unwrap();
    let mut delivered = 0;
    loop {
        let batch = reader.next_batch(500, usize::MAX).unwrap();
        let Some(last) = batch.last() else { break };
        delivered += batch.len() as u64;
        // Saving progress needs no new space; it lets segments go.
        spool.ack("influx", last.id).unwrap();
    }
    assert_eq!(delivered, durable, "everything durable delivered");
    assert!(
        fs.free() > 1 << 20,
        "segments freed: {} bytes free",
        fs.free()
    );
    assert_eq!(
        fs::read_to_string(spool_dir(&fs).join("cursors/influx")).unwrap(),
        format!("{durable:020}\n")
    );
    spool.try_append(0, &payload(0)).unwrap();
    spool.close().unwrap();
}

#[test]
fn full_episode_clears_after_room_returns() {
    let fs = Tmpfs::mount("4m");
    let (spool, _) = Spool::open(&config(&spool_dir(&fs), Overflow::Block), &["influx"]).unwrap();
    spool.inner.lock().episodes.clears_after = Duration::from_secs(1);
    let (accepted, _) = append_until_refused(&spool);
    std::thread::sleep(Duration::from_millis(120));
    let s = spool.status().unwrap();
    assert!(s.blocked && s.full == Some(FullCause::Disk), "{s:?}");
    let mut reader = spool.reader("influx").unwrap();
    let _ = spool.sync();
    while let Some(last) = reader.next_batch(500, usize::MAX).unwrap().last() {
        spool.ack("influx", last.id).unwrap();
    }
    spool.sync().unwrap(); // the waiting records now fit
    spool.try_append(0, &payload(0)).unwrap();
    let s = spool.status().unwrap();
    assert!(!s.blocked);
    assert!(s.blocked_ms >= 100, "{}", s.blocked_ms);
    assert_eq!(s.full, Some(FullCause::Disk), "not before clears_after");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(spool.status().unwrap().full, None);
    assert_eq!(spool.status().unwrap().last_id, accepted.len() as u64 + 1);
}
