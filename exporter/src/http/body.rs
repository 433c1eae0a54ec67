//! The bodies of `/metrics`, both with their exact length (so a
//! `Content-Length` header, not chunked encoding):
//!
//! - [`PiecesBody`]: pieces already in memory (the gzip a render keeps),
//!   one frame per piece, no copy;
//! - [`GunzipBody`]: the plain text of such a gzip, inflated one 64 KB
//!   frame at a time as the client reads, for a scrape that does not take
//!   gzip: the plain page never exists whole after the render.

use std::convert::Infallible;
use std::io::Read as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::render::chunks::CHUNK;
use crate::render::Exposition;

/// The pieces of an [`Exposition`], sent in order.
pub(crate) struct PiecesBody {
    pieces: std::vec::IntoIter<Bytes>,
    remaining: u64,
}

impl PiecesBody {
    pub(crate) fn new(page: Exposition) -> PiecesBody {
        PiecesBody {
            remaining: page.len() as u64,
            pieces: page.into_chunks().into_iter(),
        }
    }
}

impl http_body::Body for PiecesBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.pieces.next() {
            Some(piece) => {
                self.remaining -= piece.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(piece))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// The text of a gzipped [`Exposition`] of `len` bytes, inflated frame by
/// frame.
pub(crate) struct GunzipBody {
    text: flate2::bufread::GzDecoder<PiecesReader>,
    remaining: u64,
}

impl GunzipBody {
    pub(crate) fn new(gzip: Exposition, len: usize) -> GunzipBody {
        GunzipBody {
            text: flate2::bufread::GzDecoder::new(PiecesReader {
                pieces: gzip.into_chunks().into_iter(),
                current: Bytes::new(),
            }),
            remaining: len as u64,
        }
    }
}

impl http_body::Body for GunzipBody {
    type Data = Bytes;
    type Error = std::io::Error;

    /// Inflates the next frame here, on the connection's task: 64 KB of
    /// output costs well under a millisecond.
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = self.remaining.min(CHUNK as u64) as usize;
        let mut frame = vec![0; want];
        let mut filled = 0;
        while filled < want {
            match self.text.read(&mut frame[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
        if filled < want {
            // Our own gzip, of the length the render counted: a bug.
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the /metrics gzip inflated to {} bytes fewer than the page",
                    self.remaining - filled as u64
                ),
            ))));
        }
        self.remaining -= want as u64;
        if self.remaining == 0 {
            // Reading on to the end checks the gzip's CRC-32 and length.
            match self.text.read(&mut [0; 1]) {
                Ok(0) => {}
                Ok(_) => return Poll::Ready(Some(Err(too_long()))),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(frame)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

fn too_long() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "the /metrics gzip inflated to more bytes than the page",
    )
}

/// Pieces read in turn as one stream (in place: `BufRead` hands the
/// decoder each piece itself).
struct PiecesReader {
    pieces: std::vec::IntoIter<Bytes>,
    current: Bytes,
}

impl std::io::Read for PiecesReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = std::io::BufRead::fill_buf(self)?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        std::io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl std::io::BufRead for PiecesReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.current.is_empty() {
            match self.pieces.next() {
                Some(piece) => self.current = piece,
                None => break,
            }
        }
        Ok(&self.current)
    }

    fn consume(&mut self, n: usize) {
        bytes::Buf::advance(&mut self.current, n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    /// Every frame of `body`, polled as a server would.
    fn frames<B: http_body::Body<Data = Bytes> + Unpin>(
        mut body: B,
    ) -> (Vec<Bytes>, Option<B::Error>) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut out = Vec::new();
        loop {
            let hint = body.size_hint().exact();
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let data = frame.into_data().unwrap_or_default();
                    assert!(
                        hint.unwrap() >= data.len() as u64,
                        "size hint before a frame"
                    );
                    out.push(data);
                }
                Poll::Ready(Some(Err(e))) => return (out, Some(e)),
                Poll::Ready(None) => {
                    assert!(body.is_end_stream());
                    assert_eq!(body.size_hint().exact(), Some(0));
                    return (out, None);
                }
                Poll::Pending => panic!("bodies in memory never wait"),
            }
        }
    }

    fn text() -> String {
        (0..40_000)
            .map(|i| {
                format!(
                    "schoolnet_device_up{{device=\"rtr-{i:05}\",role=\"router\"}} {}\n",
                    i % 2
                )
            })
            .collect()
    }

    fn gzipped(text: &str) -> Exposition {
        let pieces = text
            .as_bytes()
            .chunks(CHUNK - 100)
            .map(Bytes::copy_from_slice)
            .collect();
        super::super::gzip::compress(pieces)
    }

    #[test]
    fn gunzip_body_is_the_text_byte_for_byte_in_frames_of_at_most_a_piece() {
        let text = text();
        let body = GunzipBody::new(gzipped(&text), text.len());
        assert_eq!(body.size_hint().exact(), Some(text.len() as u64));
        let (frames, error) = frames(body);
        assert!(error.is_none(), "{error:?}");
        assert!(frames.len() > 1 && frames.iter().all(|f| f.len() <= CHUNK));
        assert!(frames.concat() == text.as_bytes(), "inflated text differs");
    }

    #[test]
    fn gunzip_body_of_the_wrong_length_fails_instead_of_sending_a_wrong_page() {
        let text = text();
        let (_, error) = frames(GunzipBody::new(gzipped(&text), text.len() + 1));
        assert_eq!(error.unwrap().kind(), std::io::ErrorKind::UnexpectedEof);
        let (_, error) = frames(GunzipBody::new(gzipped(&text), text.len() - 1));
        assert_eq!(error.unwrap().kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn gunzip_body_checks_the_crc() {
        let text = text();
        let mut gz = gzipped(&text).into_chunks().concat();
        // The trailer's CRC-32: the text inflates fine, its checksum does not match.
        let crc = gz.len() - 8;
        gz[crc] ^= 1;
        let (frames, error) = frames(GunzipBody::new(
            Exposition::new(vec![Bytes::from(gz)]),
            text.len(),
        ));
        // The last frame is withheld: the client sees a broken response.
        assert!(frames.concat().len() < text.len());
        assert!(error.is_some(), "a corrupt CRC-32 is an error");
    }

    #[test]
    fn pieces_body_sends_the_pieces_as_they_are() {
        let page = Exposition::new(vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cde")]);
        let (frames, error) = frames(PiecesBody::new(page));
        assert!(error.is_none());
        assert_eq!(
            frames,
            [Bytes::from_static(b"ab"), Bytes::from_static(b"cde")]
        );
    }
}
