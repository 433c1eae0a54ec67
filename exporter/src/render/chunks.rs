//! Output written in fixed-size pieces instead of one growing buffer.
//!
//! A national exposition is over 100 MB. Grown as one `String` (or one per
//! family) it is reallocated by doubling: up to twice its size is mapped at
//! the peak, every doubling copies it, and the freed mid-size buffers stay
//! in glibc's per-thread arenas after the scrape (the RSS "ratchet" of issue
//! #22). Written in [`CHUNK`]-byte pieces it is never copied, never holds
//! more than one partly filled piece per writer, and is served as it is: an
//! HTTP body of the pieces ([`Exposition`]), and gzip reads them in turn.

use std::io;

use bytes::Bytes;

/// Size of one piece: large enough that per-piece overhead (an HTTP frame,
/// a `Bytes` header) is negligible, small enough to stay below glibc's
/// mmap threshold and be reused from the heap.
pub const CHUNK: usize = 64 * 1024;

/// Room kept for one line before it is started: a line that would not fit
/// starts a new piece, so lines are not split and pieces are rarely
/// reallocated (a longer line still fits: the piece just grows).
const LINE_ROOM: usize = 512;

/// A text written piece by piece.
#[derive(Default)]
pub struct ChunkedText {
    done: Vec<Bytes>,
    done_len: usize,
    current: Vec<u8>,
}

impl ChunkedText {
    /// Makes sure the next line goes into a piece with room for it.
    pub fn start_line(&mut self) {
        if self.current.capacity() - self.current.len() < LINE_ROOM {
            self.roll();
        }
    }

    fn roll(&mut self) {
        let full = std::mem::replace(&mut self.current, Vec::with_capacity(CHUNK));
        if !full.is_empty() {
            self.done_len += full.len();
            // No copy: `Bytes` takes the vector's allocation.
            self.done.push(Bytes::from(full));
        }
    }

    pub fn push_str(&mut self, s: &str) {
        self.current.extend_from_slice(s.as_bytes());
    }

    pub fn push_byte(&mut self, b: u8) {
        self.current.push(b);
    }

    /// The number as `f64`'s `Display` writes it (what
    /// `prometheus::TextEncoder` writes): integers through `itoa`, which is
    /// several times faster and gives the same digits; anything else
    /// (fractions, `-0`, `NaN`, infinities, beyond 2^53) through `Display`.
    pub fn push_f64(&mut self, v: f64) {
        const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
        if v.fract() == 0.0 && v.abs() < EXACT && !(v == 0.0 && v.is_sign_negative()) {
            let mut buf = itoa::Buffer::new();
            self.current
                .extend_from_slice(buf.format(v as i64).as_bytes());
        } else {
            use io::Write as _;
            let _ = write!(self.current, "{v}");
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.done_len + self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pieces, in order.
    pub fn finish(mut self) -> Vec<Bytes> {
        if !self.current.is_empty() {
            self.current.shrink_to_fit();
            self.done.push(Bytes::from(self.current));
        }
        self.done
    }
}

impl io::Write for ChunkedText {
    /// Fills the current piece, then starts the next (gzip output).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.current.capacity() - self.current.len();
        if room == 0 {
            self.roll();
            return self.write(buf);
        }
        let n = buf.len().min(room);
        self.current.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A finished text in pieces: the `/metrics` page, or its gzip.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    chunks: Vec<Bytes>,
    len: usize,
}

impl Exposition {
    pub fn new(chunks: Vec<Bytes>) -> Exposition {
        let len = chunks.iter().map(Bytes::len).sum();
        Exposition { chunks, len }
    }

    /// Appends `more` pieces.
    pub fn extend(&mut self, more: impl IntoIterator<Item = Bytes>) {
        for b in more {
            if !b.is_empty() {
                self.len += b.len();
                self.chunks.push(b);
            }
        }
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    pub fn into_chunks(self) -> Vec<Bytes> {
        self.chunks
    }

    /// The whole text in one `String` (tests, benches, `Exporter::render`).
    pub fn to_text(&self) -> String {
        let mut out = Vec::with_capacity(self.len);
        for c in &self.chunks {
            out.extend_from_slice(c);
        }
        String::from_utf8(out).expect("the exposition is written from &str")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        let values = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -2.5,
            1e15,
            9_007_199_254_740_991.0,
            9_007_199_254_740_992.0,
            -9_007_199_254_740_993.0,
            1e21,
            1.5e-7,
            123456789012.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
        ];
        for v in values {
            let mut t = ChunkedText::default();
            t.start_line();
            t.push_f64(v);
            let got = String::from_utf8(t.finish().concat()).unwrap();
            assert_eq!(got, v.to_string(), "{v:?}");
        }
    }

    #[test]
    fn lines_fill_pieces_without_being_split() {
        let mut t = ChunkedText::default();
        let line = "schoolnet_school_up{school=\"NX-001\",district=\"Babek\"} 1\n";
        for _ in 0..10_000 {
            t.start_line();
            t.push_str(line);
        }
        let total = t.len();
        let pieces = t.finish();
        assert!(pieces.len() > 1);
        assert!(pieces
            .iter()
            .all(|p| p.len() <= CHUNK && p.ends_with(b"\n")));
        assert_eq!(pieces.iter().map(Bytes::len).sum::<usize>(), total);
        assert_eq!(Exposition::new(pieces).to_text(), line.repeat(10_000));
    }

    #[test]
    fn written_bytes_go_into_full_pieces() {
        let mut t = ChunkedText::default();
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        t.write_all(&data).unwrap();
        let pieces = t.finish();
        assert_eq!(pieces.len(), 4);
        assert!(pieces[..3].iter().all(|p| p.len() == CHUNK));
        assert_eq!(pieces.concat(), data);
    }
}
