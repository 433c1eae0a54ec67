//! An HTTP body of pieces already in memory: `/metrics` is sent as the
//! render wrote it, one frame per 64 KB piece, with its exact length (so
//! a `Content-Length` header, not chunked encoding) and no copy.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

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
