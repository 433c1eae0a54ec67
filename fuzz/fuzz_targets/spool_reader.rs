//! Spool (write-ahead log) segment bytes read back record by record, as the
//! spool's segment scan does: `collector::spool::record::read` from the start
//! of a segment, expecting consecutive ids from the first record's id.
//! Checks: never an I/O error from memory and never a panic; every accepted
//! record has the expected id and its payload length, consumed exactly its
//! `record_len` bytes, and re-encodes (`record::write`) to the same bytes; the
//! end is only reported with no bytes left.
#![no_main]

use collector::spool::record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A segment is named after its first record's id (ids start at 1).
    let mut expected = data
        .get(9..17)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        .filter(|&id| id > 0)
        .unwrap_or(1);
    let mut reader: &[u8] = data;
    let mut payload = Vec::new();
    let mut rewritten = Vec::new();
    loop {
        let remaining = reader.len() as u64;
        let result = record::read(&mut reader, remaining, expected, &mut payload)
            .expect("reading from memory is never an I/O error");
        match result {
            Ok(Some(header)) => {
                assert_eq!(header.id, expected);
                assert_eq!(header.len as usize, payload.len());
                assert_eq!(remaining - reader.len() as u64, header.record_len());
                let n = record::write(&mut rewritten, header.id, header.time_ns, &payload)
                    .expect("write to a Vec");
                assert_eq!(n, header.record_len());
                let Some(next) = expected.checked_add(1) else {
                    break;
                };
                expected = next;
            }
            Ok(None) => {
                assert_eq!(remaining, 0, "end reported with bytes left");
                break;
            }
            Err(_problem) => break,
        }
    }
    assert_eq!(
        rewritten[..],
        data[..rewritten.len()],
        "valid records re-encode to other bytes"
    );
});
