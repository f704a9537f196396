//! One connection's life: TLS, hyper serving its requests, then the end hyper does
//! not do itself: a refusal answered (`408`/`414`), a reset, or a linger that keeps
//! an error answer from being destroyed by one.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::guard::{Guard, Line, Stream};
use crate::message::After;
use crate::server::{Command, Phase, ServerOptions, Shared};
use crate::service::Service;
use crate::{Refusal, Response};

/// How long a closing connection drains what the client still sends, so that the
/// error answer is not destroyed by a reset (closing with unread data resets).
const LINGER: Duration = Duration::from_secs(1);
/// Most bytes drained while lingering.
const LINGER_BYTES: usize = 1024 * 1024;

/// What a connection's parts (transport, service, body, task) share.
pub(crate) struct Conn {
    shared: Arc<Shared>,
    id: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Set while a request head is awaited.
    head: Option<HeadWait>,
    /// A request refused before hyper had it: the answer to send.
    refusal: Option<(u16, Refusal)>,
    /// The connection ends with an error answer: drain before closing.
    linger: bool,
    /// The handler asked for a reset.
    reset: bool,
    /// Follow-up work of responses handed to hyper.
    after: Vec<After>,
}

/// A request head being awaited.
struct HeadWait {
    since: Instant,
    first_byte: Option<Instant>,
    line: Line,
}

impl HeadWait {
    fn new() -> HeadWait {
        HeadWait {
            since: Instant::now(),
            first_byte: None,
            line: Line::Leading,
        }
    }
}

impl Conn {
    pub(crate) fn new(shared: Arc<Shared>, id: u64) -> Conn {
        Conn {
            shared,
            id,
            state: Mutex::new(State {
                head: Some(HeadWait::new()),
                ..State::default()
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn options(&self) -> &ServerOptions {
        &self.shared.options
    }

    /// While a head is awaited: its deadline, and whether its first byte came.
    pub(crate) fn head_deadline(&self) -> Option<(Instant, bool)> {
        let options = self.options();
        self.state.lock().head.as_ref().map(|h| match h.first_byte {
            None => (h.since + options.idle_timeout, false),
            Some(first) => (first + options.read_timeout, true),
        })
    }

    /// Follows bytes read off the wire; true when the awaited request line is over
    /// its limit.
    pub(crate) fn head_bytes(&self, bytes: &[u8]) -> bool {
        let mut state = self.state.lock();
        let Some(head) = state.head.as_mut() else {
            return false;
        };
        if head.first_byte.is_none() {
            head.first_byte = Some(Instant::now());
            self.shared.set_phase(self.id, Phase::Reading);
        }
        head.line.follow(bytes, self.options().max_request_line)
    }

    /// Records a refusal the connection answers once hyper has let go of it.
    pub(crate) fn refuse(&self, status: u16, why: Refusal) {
        self.state.lock().refusal = Some((status, why));
    }

    /// hyper has a request head.
    pub(crate) fn request_arrived(&self) {
        self.state.lock().head = None;
        self.shared.set_phase(self.id, Phase::Reading);
    }

    /// The handler has the request.
    pub(crate) fn handling(&self) {
        self.shared.set_phase(self.id, Phase::Handling);
    }

    /// The connection ends with an error answer.
    pub(crate) fn linger(&self) {
        self.state.lock().linger = true;
    }

    /// The handler asked for a reset.
    pub(crate) fn reset(&self) {
        self.state.lock().reset = true;
    }

    /// A response's body is finished with: its follow-up work waits for the flush,
    /// and the next request head is awaited.
    pub(crate) fn response_done(&self, after: Option<After>) {
        let mut state = self.state.lock();
        state.after.extend(after);
        state.head = Some(HeadWait::new());
        self.shared.set_phase(self.id, Phase::Idle);
    }

    /// Runs the follow-up work of the responses written so far.
    pub(crate) fn run_after(&self) {
        let after = std::mem::take(&mut self.state.lock().after);
        for work in after {
            work();
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Work of a response that could not be written runs all the same.
        for work in self.state.get_mut().after.drain(..) {
            work();
        }
    }
}

/// How hyper's part of a connection ended.
enum Ended {
    /// hyper is done, well or not.
    Served(hyper::Result<()>),
    /// The server closed the connection (stop, or room made at the cap).
    Closed,
}

/// Serves `socket` until it closes.
pub(crate) async fn run(
    socket: TcpStream,
    conn: Arc<Conn>,
    mut commands: watch::Receiver<Command>,
) {
    let shared = conn.shared().clone();
    let options = &shared.options;
    let stream = match &options.tls {
        None => Stream::Plain(socket),
        Some(tls) => {
            let handshake =
                tokio::time::timeout(options.idle_timeout, tls.acceptor().accept(socket));
            tokio::select! {
                accepted = handshake => match accepted {
                    Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
                    Ok(Err(e)) => return log::debug!("{}: TLS handshake failed: {e}", options.name),
                    Err(_) => return log::debug!("{}: TLS handshake timed out", options.name),
                },
                _ = commands.changed() => return,
            }
        }
    };
    let service = Service::new(conn.clone());
    let mut http = shared
        .http
        .serve_connection(TokioIo::new(Guard::new(stream, conn.clone())), service);
    let mut graceful = false;
    let ended = loop {
        tokio::select! {
            served = poll_fn(|cx| http.poll_without_shutdown(cx)) => break Ended::Served(served),
            changed = commands.changed(), if !graceful => match changed.map(|()| *commands.borrow_and_update()) {
                Ok(Command::Graceful) => {
                    // A request being handled is answered first (Connection: close).
                    graceful = true;
                    std::pin::Pin::new(&mut http).graceful_shutdown();
                }
                Ok(Command::Run) => {}
                Ok(Command::Now) | Err(_) => break Ended::Closed,
            },
        }
    };
    let mut stream = http.into_parts().io.into_inner().into_stream();
    conn.run_after();
    let Ended::Served(served) = ended else {
        return;
    };
    let (refusal, reset, linger) = {
        let mut state = conn.state.lock();
        (state.refusal.take(), state.reset, state.linger)
    };
    if reset {
        return reset_now(&stream);
    }
    let linger = match (&served, refusal) {
        (_, Some((status, why))) => {
            log::debug!("{}: refused a request: {status}", options.name);
            shared.handler.refused(why);
            send_whole(
                &mut stream,
                Response::refusal(status),
                options.write_timeout,
            )
            .await
        }
        (Err(e), None) if e.is_parse() => {
            // hyper has answered 400 or 431 (nothing for an HTTP/2 preface).
            let why = if e.is_parse_too_large() {
                Refusal::HeadTooLarge
            } else {
                Refusal::Malformed
            };
            log::debug!("{}: refused a request: {e}", options.name);
            shared.handler.refused(why);
            true
        }
        (Err(e), None) => {
            log::debug!("{}: connection ended: {e}", options.name);
            false
        }
        (Ok(()), None) => linger,
    };
    if linger {
        shared.closing(conn.id);
        tokio::select! {
            () = drain(&mut stream) => {}
            _ = commands.changed() => {}
        }
    }
}

/// Writes `response` whole (hyper is not there to do it) within `timeout`; false
/// when the client does not take it.
pub(crate) async fn send_whole(stream: &mut Stream, response: Response, timeout: Duration) -> bool {
    let bytes = response.wire_bytes();
    matches!(
        tokio::time::timeout(timeout, stream.write_all(&bytes)).await,
        Ok(Ok(()))
    )
}

/// Half-closes, then reads and drops what the client still sends for a moment.
pub(crate) async fn drain(stream: &mut Stream) {
    let _ = tokio::time::timeout(LINGER, stream.shutdown()).await;
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 8192];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match tokio::time::timeout_at(deadline, stream.tcp_mut().read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// Drops the connection with a TCP reset (`SO_LINGER` 0, then close).
fn reset_now(stream: &Stream) {
    if let Err(e) = socket2::SockRef::from(stream.tcp()).set_linger(Some(Duration::ZERO)) {
        log::debug!("cannot arm a reset: {e}");
    }
}
