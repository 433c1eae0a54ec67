//! One record on disk: encoding, decoding and the checksum.
//!
//! ```text
//! offset  size  field
//!      0     1  magic 0xA7 (format version 1; a zero-filled tail fails here)
//!      1     4  payload length, u32 little-endian
//!      5     4  CRC-32 (IEEE) of bytes 1..5 ‖ 9..25 ‖ payload, u32 LE
//!      9     8  record id, u64 LE
//!     17     8  append time, unix nanoseconds, i64 LE
//!     25     …  payload
//! ```

use std::io::{self, Read, Write};

use serde::Serialize;

/// Global, strictly increasing record number; the first record is 1 and 0
/// means "none" (a cursor at 0 has acknowledged nothing).
pub type RecordId = u64;

/// The record format's magic byte (also its version).
pub const MAGIC: u8 = 0xA7;
/// Bytes in front of every payload.
pub const HEADER_LEN: u64 = 25;

/// A record as the spool returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: RecordId,
    /// When it was appended (unix nanoseconds, as given to `append`).
    pub time_ns: i64,
    pub payload: Vec<u8>,
}

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub crc: u32,
    pub id: RecordId,
    pub time_ns: i64,
}

impl Header {
    /// Bytes of the whole record (header and payload).
    pub fn record_len(&self) -> u64 {
        HEADER_LEN + u64::from(self.len)
    }
}

/// Why the bytes at some offset are not a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The file ends inside the header or the payload: an interrupted write.
    Torn,
    /// The first byte is not the magic byte (zeros after a crash, or garbage).
    BadMagic,
    /// The checksum does not match: some byte of the record changed.
    BadChecksum,
    /// A valid record, but not the id expected at this position.
    BadId,
}

impl ProblemKind {
    pub fn describe(self) -> &'static str {
        match self {
            ProblemKind::Torn => "torn write: the file ends inside the record",
            ProblemKind::BadMagic => "bad magic byte",
            ProblemKind::BadChecksum => "checksum mismatch",
            ProblemKind::BadId => "unexpected record id",
        }
    }
}

fn crc(len: u32, id: RecordId, time_ns: i64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&id.to_le_bytes());
    h.update(&time_ns.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Writes one record (header and payload) to `w`; returns its length.
/// The caller guarantees `payload.len() <= u32::MAX`.
pub fn write(w: &mut impl Write, id: RecordId, time_ns: i64, payload: &[u8]) -> io::Result<u64> {
    let len = u32::try_from(payload.len()).expect("checked by the caller");
    let mut h = [0u8; HEADER_LEN as usize];
    h[0] = MAGIC;
    h[1..5].copy_from_slice(&len.to_le_bytes());
    h[5..9].copy_from_slice(&crc(len, id, time_ns, payload).to_le_bytes());
    h[9..17].copy_from_slice(&id.to_le_bytes());
    h[17..25].copy_from_slice(&time_ns.to_le_bytes());
    w.write_all(&h)?;
    w.write_all(payload)?;
    Ok(HEADER_LEN + u64::from(len))
}

/// Reads a header, `remaining` being the bytes left in the file from here.
/// `Ok(Err(kind))` is a damaged or torn record; `Ok(Ok(None))` the end.
pub fn read_header(
    r: &mut impl Read,
    remaining: u64,
) -> io::Result<Result<Option<Header>, ProblemKind>> {
    if remaining == 0 {
        return Ok(Ok(None));
    }
    if remaining < HEADER_LEN {
        return Ok(Err(ProblemKind::Torn));
    }
    let mut h = [0u8; HEADER_LEN as usize];
    if let Err(e) = r.read_exact(&mut h) {
        return eof_is_torn(e);
    }
    if h[0] != MAGIC {
        return Ok(Err(ProblemKind::BadMagic));
    }
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
    let header = Header {
        len: u32_at(1),
        crc: u32_at(5),
        id: u64_at(9),
        time_ns: u64_at(17) as i64,
    };
    if header.record_len() > remaining {
        return Ok(Err(ProblemKind::Torn));
    }
    Ok(Ok(Some(header)))
}

/// Reads and verifies the record at the reader's position: the payload goes
/// to `payload` (reused between calls). `expected` is the id that must be
/// there.
pub fn read(
    r: &mut impl Read,
    remaining: u64,
    expected: RecordId,
    payload: &mut Vec<u8>,
) -> io::Result<Result<Option<Header>, ProblemKind>> {
    let header = match read_header(r, remaining)? {
        Ok(Some(h)) => h,
        other => return Ok(other),
    };
    payload.clear();
    payload.resize(header.len as usize, 0);
    if let Err(e) = r.read_exact(payload) {
        return eof_is_torn(e);
    }
    if crc(header.len, header.id, header.time_ns, payload) != header.crc {
        return Ok(Err(ProblemKind::BadChecksum));
    }
    if header.id != expected {
        return Ok(Err(ProblemKind::BadId));
    }
    Ok(Ok(Some(header)))
}

fn eof_is_torn<T>(e: io::Error) -> io::Result<Result<T, ProblemKind>> {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Ok(Err(ProblemKind::Torn))
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_flipped_byte_is_detected() {
        let mut buf = Vec::new();
        let n = write(&mut buf, 7, -3, b"cpu value=1 1").unwrap();
        assert_eq!(n as usize, buf.len());
        let mut p = Vec::new();
        let h = read(&mut &buf[..], n, 7, &mut p).unwrap().unwrap().unwrap();
        assert_eq!((h.id, h.time_ns, &p[..]), (7, -3, &b"cpu value=1 1"[..]));
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            let got = read(&mut &bad[..], n, 7, &mut p).unwrap();
            assert!(got.is_err(), "flip at byte {i} not detected");
        }
        assert_eq!(
            read(&mut &buf[..], n, 8, &mut p).unwrap(),
            Err(ProblemKind::BadId)
        );
        assert_eq!(
            read(&mut &buf[..5], 5, 7, &mut p).unwrap(),
            Err(ProblemKind::Torn)
        );
        assert_eq!(
            read(&mut &buf[..30], 30, 7, &mut p).unwrap(),
            Err(ProblemKind::Torn)
        );
        assert_eq!(read(&mut &buf[..0], 0, 7, &mut p).unwrap(), Ok(None));
    }
}
