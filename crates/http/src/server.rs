//! The server's thread and runtime, the accept loop, the table of live connections
//! (for the cap, eviction and shutdown) and the handle that stops it all.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::connection::{self, Conn};
use crate::guard::Stream;
use crate::{Handler, Refusal, Response, TlsConfig};

/// hyper's smallest read buffer (its `max_buf_size` may not be less).
const HYPER_MIN_BUF: usize = 8192;

/// Limits and timeouts of a [`Server`]; every default in one place.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Prefix of thread names.
    pub name: String,
    /// Connections open at once.
    pub max_connections: usize,
    /// Requests handled at once (the handler runs on at most this many threads).
    pub max_active: usize,
    /// How long a connection may wait for the first byte of a request.
    pub idle_timeout: Duration,
    /// Time for a request's head from its first byte, and again for its body.
    pub read_timeout: Duration,
    /// Longest a write of a response may make no progress.
    pub write_timeout: Duration,
    /// Longest request line.
    pub max_request_line: usize,
    /// Largest head (request line and header fields).
    pub max_head_bytes: usize,
    /// Most header fields.
    pub max_headers: usize,
    /// Largest body (after chunked decoding).
    pub max_body_bytes: usize,
    /// Serve HTTPS with this certificate.
    pub tls: Option<TlsConfig>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            name: "http".into(),
            max_connections: 256,
            max_active: 4,
            idle_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_request_line: 8 * 1024,
            max_head_bytes: 16 * 1024,
            max_headers: 64,
            max_body_bytes: 1024 * 1024,
            tls: None,
        }
    }
}

/// What a connection is doing, for choosing one to close at the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the first byte of a request.
    Idle,
    /// Reading a request.
    Reading,
    /// Handling a request or writing its response.
    Handling,
}

/// What the server tells a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// Go on serving.
    Run,
    /// Answer the request being handled (if any), then close.
    Graceful,
    /// Close at once.
    Now,
}

struct Entry {
    phase: Phase,
    since: Instant,
    /// Told to close, or lingering: no longer counted against the cap.
    closing: bool,
    commands: watch::Sender<Command>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    live: HashMap<u64, Entry>,
}

/// What the accept loop and the connections share.
pub(crate) struct Shared {
    pub(crate) options: ServerOptions,
    pub(crate) handler: Arc<dyn Handler>,
    /// hyper's settings for every connection.
    pub(crate) http: http1::Builder,
    stopping: AtomicBool,
    table: Mutex<Table>,
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Records what connection `id` does now.
    pub(crate) fn set_phase(&self, id: u64, phase: Phase) {
        if let Some(e) = self.table.lock().live.get_mut(&id) {
            e.phase = phase;
            e.since = Instant::now();
        }
    }

    /// Connection `id` only lingers now: it no longer takes a place.
    pub(crate) fn closing(&self, id: u64) {
        if let Some(e) = self.table.lock().live.get_mut(&id) {
            e.closing = true;
        }
    }

    /// Tells every connection to close: those handling a request once it is answered.
    fn close_all(&self) {
        for entry in self.table.lock().live.values() {
            entry.commands.send_replace(match entry.phase {
                Phase::Handling => Command::Graceful,
                Phase::Idle | Phase::Reading => Command::Now,
            });
        }
    }
}

/// A connection's row in the table, removed on drop.
struct Slot {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.table.lock().live.remove(&self.id);
    }
}

/// A running server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `listen` (e.g. `127.0.0.1:0`) and starts accepting connections.
    pub fn start(
        listen: &str,
        options: ServerOptions,
        handler: Arc<dyn Handler>,
    ) -> io::Result<Server> {
        let listener = listen_nodelay(listen)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .thread_name(format!("{}-handler", options.name))
            .max_blocking_threads(options.max_active.max(1))
            .build()?;
        let mut http = http1::Builder::new();
        // Half-closed clients still get their answer; names go out as
        // `Content-Type`, as most servers send them.
        http.half_close(true)
            .title_case_headers(true)
            .max_headers(options.max_headers)
            .max_buf_size(options.max_head_bytes.max(HYPER_MIN_BUF));
        let shared = Arc::new(Shared {
            options,
            handler,
            http,
            stopping: AtomicBool::new(false),
            table: Mutex::new(Table::default()),
        });
        let (stop, stopped) = watch::channel(false);
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("{}-io", shared.options.name))
                .spawn(move || {
                    runtime.block_on(accept_loop(listener, shared, stopped));
                    // Dropping the runtime joins its blocking pool: no handler outlives stop.
                })?
        };
        Ok(Server {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection (a request being handled is answered
    /// first, with the connection closing) and joins every thread. Idempotent.
    pub fn stop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("{}: the server thread panicked", self.shared.options.name);
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let name = &shared.options.name;
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => return log::error!("{name}: cannot listen: {e}"),
    };
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => admit(socket, &shared, &mut tasks),
                Err(e) => {
                    // Out of file descriptors, most likely: let connections finish.
                    log::warn!("{name}: accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => reap(name, done),
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    shared.close_all();
    while let Some(done) = tasks.join_next().await {
        reap(name, done);
    }
}

fn reap(name: &str, done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        log::error!("{name}: a connection task failed: {e}");
    }
}

/// Gives a new connection its task, making room at the cap first.
fn admit(socket: TcpStream, shared: &Arc<Shared>, tasks: &mut JoinSet<()>) {
    let mut table = shared.table.lock();
    let open = table.live.values().filter(|e| !e.closing).count();
    if open >= shared.options.max_connections {
        let oldest_waiting = table
            .live
            .values_mut()
            .filter(|e| !e.closing && e.phase != Phase::Handling)
            .min_by_key(|e| e.since);
        match oldest_waiting {
            Some(entry) => {
                entry.closing = true;
                entry.commands.send_replace(Command::Now);
                let cut_off = entry.phase == Phase::Reading;
                drop(table);
                if cut_off {
                    shared.handler.refused(Refusal::Busy);
                }
                table = shared.table.lock();
            }
            None => {
                drop(table);
                shared.handler.refused(Refusal::Busy);
                if shared.options.tls.is_none() {
                    tasks.spawn(refuse_busy(socket));
                }
                return;
            }
        }
    }
    let id = table.next_id;
    table.next_id += 1;
    let (commands, listen) = watch::channel(Command::Run);
    table.live.insert(
        id,
        Entry {
            phase: Phase::Idle,
            since: Instant::now(),
            closing: false,
            commands,
        },
    );
    drop(table);
    let slot = Slot {
        shared: shared.clone(),
        id,
    };
    let conn = Arc::new(Conn::new(shared.clone(), id));
    tasks.spawn(async move {
        connection::run(socket, conn, listen).await;
        drop(slot);
    });
}

/// Answers `503` to a plain connection there is no room for, and closes it.
async fn refuse_busy(socket: TcpStream) {
    let answer = Response::refusal(503).with_header("Retry-After", "1");
    let mut stream = Stream::Plain(socket);
    if connection::send_whole(&mut stream, answer, Duration::from_millis(100)).await {
        connection::drain(&mut stream).await;
    }
}

/// Binds `listen` with `TCP_NODELAY` set, which accepted connections inherit: a
/// response's last segment is not held back waiting for the client's delayed ACK.
fn listen_nodelay(listen: &str) -> io::Result<std::net::TcpListener> {
    let addr = listen
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "resolves to no address"))?;
    let listener = std::net::TcpListener::bind(addr)?;
    socket2::SockRef::from(&listener).set_tcp_nodelay(true)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_connections_inherit_nodelay() {
        let listener = listen_nodelay("127.0.0.1:0").unwrap();
        listener.set_nonblocking(false).unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
        assert!(listen_nodelay("not an address").is_err());
    }
}
