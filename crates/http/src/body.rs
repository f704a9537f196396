//! A response body as hyper sends it, telling its connection when the response is
//! done with (sent, or dropped unsent).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::connection::Conn;
use crate::message::After;

/// The body of one response; its end (or drop) hands the response's follow-up work
/// to the connection, which runs it once the bytes are flushed.
pub(crate) struct ResponseBody {
    data: Option<Bytes>,
    done: Option<Done>,
}

/// Told once, when the response's body is finished with.
struct Done {
    conn: Arc<Conn>,
    after: Option<After>,
}

impl Drop for Done {
    fn drop(&mut self) {
        self.conn.response_done(self.after.take());
    }
}

impl ResponseBody {
    pub(crate) fn new(data: Vec<u8>, conn: Arc<Conn>, after: Option<After>) -> ResponseBody {
        ResponseBody {
            data: (!data.is_empty()).then(|| Bytes::from(data)),
            done: Some(Done { conn, after }),
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.data.take() {
            Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
            None => {
                self.done.take();
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
