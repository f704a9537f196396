//! A response body as hyper sends it, whole or streamed, telling its connection
//! when the response is done with (sent, or dropped unsent).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;

use crate::connection::Conn;
use crate::message::{After, BodyStream, Chunks};

/// The body of one response; its end (or drop) hands the response's follow-up work
/// to the connection, which runs it once the bytes are flushed.
pub(crate) struct ResponseBody {
    content: Content,
    done: Option<Done>,
}

enum Content {
    /// All of it, until sent.
    Whole(Option<Bytes>),
    /// Chunks made on the blocking pool, one at a time.
    Stream {
        length: u64,
        chunks: Option<Chunks>,
        next: Option<JoinHandle<(Chunks, Option<Vec<u8>>)>>,
    },
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
    pub(crate) fn new(
        data: Vec<u8>,
        stream: Option<BodyStream>,
        conn: Arc<Conn>,
        after: Option<After>,
    ) -> ResponseBody {
        let content = match stream {
            Some(BodyStream { length, chunks }) => Content::Stream {
                length,
                chunks: Some(chunks),
                next: None,
            },
            None => Content::Whole((!data.is_empty()).then(|| Bytes::from(data))),
        };
        ResponseBody {
            content,
            done: Some(Done { conn, after }),
        }
    }
}

/// Why a streamed body stopped.
type BodyError = Box<dyn std::error::Error + Send + Sync>;

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let frame = match &mut self.content {
            Content::Whole(data) => data.take().map(|d| Ok(Frame::data(d))),
            Content::Stream { chunks, next, .. } => loop {
                let Some(pending) = next else {
                    let Some(mut rest) = chunks.take() else {
                        break None;
                    };
                    *next = Some(tokio::task::spawn_blocking(move || {
                        let chunk = rest.next();
                        (rest, chunk)
                    }));
                    continue;
                };
                let made = ready!(Pin::new(pending).poll(cx));
                *next = None;
                match made {
                    Ok((rest, Some(chunk))) => {
                        *chunks = Some(rest);
                        if !chunk.is_empty() {
                            break Some(Ok(Frame::data(Bytes::from(chunk))));
                        }
                    }
                    Ok((_, None)) => break None,
                    Err(e) => break Some(Err(format!("a body chunk failed: {e}").into())),
                }
            },
        };
        if frame.is_none() {
            self.done.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.content, Content::Whole(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.content {
            Content::Whole(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Content::Stream { length, .. } => SizeHint::with_exact(*length),
        }
    }
}
