//! gzip for `/metrics` when the scraper asks for it (Prometheus always
//! does): the exposition is repetitive text that gzip at its fastest level
//! shrinks about eleven times (the 216-school page: 937 KB → 58 KB; 30,000
//! schools: 58.7 MB → 5.1 MB), which is what crosses the network and what
//! a TLS proxy has to encrypt.
//!
//! It takes the page's 64 KB pieces and frees each one as soon as it is
//! deflated, writing its output in pieces too: no copy of the whole text is
//! made for it, the output is never reallocated, and the text is gone when
//! the gzip is done (the render keeps only the gzip, `scrape.rs`).
//!
//! A large page is compressed on several threads (up to the cores, at most
//! [`MAX_THREADS`]), as `pigz` does: each thread deflates a contiguous part
//! on its own and ends it with a sync flush (a byte-aligned empty stored
//! block, not a final one), so the parts joined are one valid deflate
//! stream, and the CRC-32s of the parts combine into the page's. The
//! result is one ordinary gzip member (what every client decodes, `curl
//! --compressed` included), a fraction of a per cent larger than a
//! single-threaded gzip. A hand-written fast path has to pay end to end:
//! weighed against plain single-threaded flate2 on the 30,000-school page
//! (`scripts/bench-scrape.sh --compare`, docs/performance.md "Scale"),
//! plain flate2 does not keep the scrape within 0.3 s with a margin, so
//! the parts stay.

use std::io::Write as _;

use axum::http::HeaderMap;
use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};

use crate::render::chunks::CHUNK;
use crate::render::Exposition;

/// Pages smaller than this are gzipped on the calling thread alone.
const PARALLEL_FROM: usize = 4 << 20;
/// Most threads one page is gzipped on.
pub const MAX_THREADS: usize = 4;

/// gzip header: deflate, no name or time, unknown OS (RFC 1952).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// Whether `Accept-Encoding` accepts gzip (`gzip` or `*`, not with `q=0`).
pub fn accepted(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// The text of `pieces` gzipped at the fastest level: a scrape wants it
/// soon more than small (level 1 is within a few per cent of the default's
/// size here). On several threads when it is large (see the module doc).
pub fn compress(pieces: Vec<Bytes>) -> Exposition {
    let plain = PLAIN_LEVEL.load(std::sync::atomic::Ordering::Relaxed);
    if plain > 0 {
        return compress_plain(pieces, plain);
    }
    let total: usize = pieces.iter().map(Bytes::len).sum();
    let threads = if total < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_THREADS)
    };
    compress_in_parts(pieces, threads)
}

/// What [`compress`] uses: 0, the parts (always, outside `scrape-bench
/// --compare`, which sets it to weigh the parts against plain flate2 in one
/// process, interleaved), or n: plain single-threaded flate2 at level n.
#[doc(hidden)]
pub static PLAIN_LEVEL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Plain flate2: one `GzEncoder` over the pieces, on the calling thread.
fn compress_plain(pieces: Vec<Bytes>, level: u32) -> Exposition {
    let mut gz = flate2::write::GzEncoder::new(
        crate::render::chunks::ChunkedText::default(),
        Compression::new(level),
    );
    for piece in pieces {
        gz.write_all(&piece).expect("gzip into memory cannot fail");
    }
    Exposition::new(gz.finish().expect("gzip into memory cannot fail").finish())
}

/// [`compress`] with the text cut into `parts` parts of about equal size
/// (at piece boundaries), each deflated on a thread of its own.
fn compress_in_parts(pieces: Vec<Bytes>, parts: usize) -> Exposition {
    let groups = split(pieces, parts.max(1));
    let last = groups.len() - 1;
    let deflated: Vec<Deflated> = std::thread::scope(|scope| {
        let mut groups = groups.into_iter();
        let first = groups.next().unwrap_or_default();
        let others: Vec<_> = groups
            .enumerate()
            .map(|(i, group)| scope.spawn(move || deflate(group, i + 1 == last)))
            .collect();
        let first = deflate(first, last == 0);
        std::iter::once(first)
            .chain(others.into_iter().map(|t| t.join().expect("gzip thread")))
            .collect()
    });
    let mut out = vec![Bytes::from_static(&HEADER)];
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    for part in deflated {
        out.extend(part.pieces);
        crc.combine(&part.crc);
        len += part.len;
    }
    let mut trailer = Vec::with_capacity(8);
    let _ = trailer.write_all(&crc.finalize().to_le_bytes());
    // ISIZE: the length modulo 2^32, as RFC 1952 has it.
    let _ = trailer.write_all(&(len as u32).to_le_bytes());
    out.push(Bytes::from(trailer));
    Exposition::new(out)
}

/// Contiguous runs of `pieces`, `parts` of them at most (at least one), of
/// about equal bytes.
fn split(mut pieces: Vec<Bytes>, parts: usize) -> Vec<Vec<Bytes>> {
    let total: usize = pieces.iter().map(Bytes::len).sum();
    let target = total.div_ceil(parts).max(1);
    let mut ends = Vec::with_capacity(parts);
    let mut bytes = 0;
    for (i, piece) in pieces.iter().enumerate() {
        bytes += piece.len();
        if bytes >= target && ends.len() + 1 < parts {
            ends.push(i + 1);
            bytes = 0;
        }
    }
    // Cut from the back so the indexes stay valid.
    let mut groups: Vec<Vec<Bytes>> = ends
        .iter()
        .rev()
        .map(|&end| pieces.split_off(end))
        .collect();
    groups.push(pieces);
    groups.reverse();
    groups
}

/// One part: raw deflate ending in a sync flush (or the final block for the
/// last part), its CRC-32 and its uncompressed length.
struct Deflated {
    pieces: Vec<Bytes>,
    crc: crc32fast::Hasher,
    len: u64,
}

/// Each piece of `input` is freed as soon as it is deflated.
fn deflate(input: Vec<Bytes>, last: bool) -> Deflated {
    let mut z = Compress::new(Compression::fast(), false);
    let mut out = Output::default();
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    for piece in input {
        crc.update(&piece);
        len += piece.len() as u64;
        let mut rest = &piece[..];
        while !rest.is_empty() {
            let before = z.total_in();
            z.compress_vec(rest, out.room(), FlushCompress::None)
                .expect("deflate of memory cannot fail");
            rest = &rest[(z.total_in() - before) as usize..];
        }
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        let buf = out.room();
        let status = z
            .compress_vec(&[], buf, flush)
            .expect("deflate of memory cannot fail");
        // Done: the final block is out, or the sync flush left room over.
        let done = if last {
            status == Status::StreamEnd
        } else {
            buf.len() < buf.capacity()
        };
        if done {
            break;
        }
    }
    Deflated {
        pieces: out.finish(),
        crc,
        len,
    }
}

/// Deflate output in [`CHUNK`]-byte pieces.
#[derive(Default)]
struct Output {
    done: Vec<Bytes>,
    current: Vec<u8>,
}

impl Output {
    /// The current piece, a fresh one if it is full.
    fn room(&mut self) -> &mut Vec<u8> {
        if self.current.len() == self.current.capacity() {
            let full = std::mem::replace(&mut self.current, Vec::with_capacity(CHUNK));
            if !full.is_empty() {
                self.done.push(Bytes::from(full));
            }
        }
        &mut self.current
    }

    fn finish(mut self) -> Vec<Bytes> {
        if !self.current.is_empty() {
            self.current.shrink_to_fit();
            self.done.push(Bytes::from(self.current));
        }
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn accept_encoding_is_read_as_http_says() {
        assert!(accepted(&headers("gzip")));
        assert!(accepted(&headers("deflate, gzip;q=0.5")));
        assert!(accepted(&headers("GZIP")));
        assert!(accepted(&headers("*")));
        assert!(!accepted(&headers("gzip;q=0")));
        assert!(!accepted(&headers("identity")));
        assert!(!accepted(&HeaderMap::new()));
    }

    fn gunzip(gz: &Exposition) -> String {
        // GzDecoder reads one member only: the parts must form one.
        let mut back = String::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&gz.chunks().concat()[..])
            .read_to_string(&mut back)
            .unwrap();
        back
    }

    #[test]
    fn parts_compressed_apart_make_one_gzip_member() {
        let line = |i: usize| format!("schoolnet_school_up{{school=\"NX-{i:05}\"}} {}\n", i % 2);
        let text: String = (0..60_000).map(line).collect();
        let pieces: Vec<Bytes> = text
            .as_bytes()
            .chunks(CHUNK - 17)
            .map(Bytes::copy_from_slice)
            .collect();
        let one = compress_in_parts(pieces.clone(), 1);
        assert_eq!(gunzip(&one), text);
        for parts in [2, 3, 4, 7] {
            let gz = compress_in_parts(pieces.clone(), parts);
            assert_eq!(gunzip(&gz), text, "{parts} parts");
            // The cost of cutting: a sync flush and a fresh dictionary per part.
            assert!(
                gz.len() < one.len() + parts * 2_000,
                "{parts} parts: {} vs {}",
                gz.len(),
                one.len()
            );
        }
        // More parts than pieces, and nothing at all.
        assert_eq!(
            gunzip(&compress_in_parts(pieces[..2].to_vec(), 4)),
            text[..2 * (CHUNK - 17)]
        );
        assert_eq!(gunzip(&compress_in_parts(Vec::new(), 3)), "");
    }

    /// A decoder other than flate2's own: GNU gzip checks the deflate
    /// stream, the CRC-32 and the length (it would also take several
    /// members; that there is one is the GzDecoder test above).
    #[test]
    fn parts_decode_with_gnu_gzip() {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let text: String = (0..200_000)
            .map(|i| format!("schoolnet_device_up{{device=\"rtr-{i:06}\"}} {}\n", i % 3))
            .collect();
        let pieces: Vec<Bytes> = text
            .as_bytes()
            .chunks(CHUNK)
            .map(Bytes::copy_from_slice)
            .collect();
        let gz = compress_in_parts(pieces, 4).chunks().concat();
        let mut child = Command::new("gzip")
            .arg("-dc")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("gzip(1) runs (Debian package gzip)");
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&gz));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == text.as_bytes(), "gzip -dc gave other text");
    }

    /// The plain variant `scrape-bench --compare` weighs the parts against.
    #[test]
    fn plain_flate2_gzip_comes_back_unchanged_too() {
        let text = "schoolnet_school_up{school=\"NX-001\"} 1\n".repeat(5000);
        let pieces: Vec<Bytes> = text
            .as_bytes()
            .chunks(3000)
            .map(Bytes::copy_from_slice)
            .collect();
        let plain = compress_plain(pieces.clone(), 1);
        assert_eq!(gunzip(&plain), text);
        // The parts cost a little size, not much.
        let parts = compress_in_parts(pieces, 4);
        assert!(parts.len() < plain.len() + 4 * 2_000);
    }

    #[test]
    fn compressed_text_comes_back_unchanged() {
        let text = "schoolnet_school_up{school=\"NX-001\"} 1\n".repeat(1000);
        // In pieces, as the render hands them over.
        let pieces: Vec<Bytes> = text
            .as_bytes()
            .chunks(1000)
            .map(Bytes::copy_from_slice)
            .collect();
        let gz = compress(pieces);
        assert!(gz.len() < text.len() / 10);
        assert_eq!(gunzip(&gz), text);
    }
}
