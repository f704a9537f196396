//! The listener thread, the table of live connections (for the cap, eviction and
//! shutdown) and the handle that stops it all.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::gate::Gate;
use crate::wire::Stream;
use crate::{Handler, Refusal, TlsConfig, serve};

/// Limits and timeouts of a [`Server`]; every default in one place.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Prefix of thread names.
    pub name: String,
    /// Connections open at once, each with its own thread.
    pub max_connections: usize,
    /// Requests handled at once (the handler runs on at most this many threads).
    pub max_active: usize,
    /// How long a connection may wait for the first byte of a request.
    pub idle_timeout: Duration,
    /// Time for a request's head from its first byte, and again for its body.
    pub read_timeout: Duration,
    /// Time for each write of a response.
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

struct Entry {
    /// A second handle on the socket, to shut it down from another thread.
    socket: TcpStream,
    phase: Phase,
    since: Instant,
    closing: bool,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    live: HashMap<u64, Entry>,
    threads: Vec<JoinHandle<()>>,
}

/// What the listener and connection threads share.
pub(crate) struct Shared {
    pub(crate) options: ServerOptions,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) active: Gate,
    stopping: AtomicBool,
    table: Mutex<Table>,
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// A connection's row in the table, removed on drop.
pub(crate) struct Slot {
    shared: Arc<Shared>,
    id: u64,
}

impl Slot {
    /// Records what the connection does now.
    pub(crate) fn set(&self, phase: Phase) {
        if let Some(e) = self.shared.table.lock().live.get_mut(&self.id) {
            e.phase = phase;
            e.since = Instant::now();
        }
    }
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
    listener: Option<TcpListener>,
    acceptor: Option<JoinHandle<()>>,
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
        let shared = Arc::new(Shared {
            active: Gate::new(options.max_active),
            options,
            handler,
            stopping: AtomicBool::new(false),
            table: Mutex::new(Table::default()),
        });
        let acceptor = {
            let (listener, shared) = (listener.try_clone()?, shared.clone());
            std::thread::Builder::new()
                .name(format!("{}-accept", shared.options.name))
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(Server {
            addr,
            shared,
            listener: Some(listener),
            acceptor: Some(acceptor),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection (a request being handled finishes
    /// first) and joins every thread. Idempotent.
    pub fn stop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(listener) = self.listener.take() {
            // Wakes the blocked accept: on Linux shutting the socket down does it;
            // elsewhere the connection below does.
            let _ = socket2::SockRef::from(&listener).shutdown(Shutdown::Both);
            let mut wake = self.addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(match wake {
                    SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let threads = {
            let mut table = self.shared.table.lock();
            for entry in table.live.values() {
                // A request being handled still gets its answer (with the connection
                // closing); other connections are closed at once.
                let how = match entry.phase {
                    Phase::Handling => Shutdown::Read,
                    Phase::Idle | Phase::Reading => Shutdown::Both,
                };
                let _ = entry.socket.shutdown(how);
            }
            std::mem::take(&mut table.threads)
        };
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.stopping() {
            return;
        }
        match accepted {
            Ok((socket, _)) => admit(socket, shared),
            Err(e) => {
                // Out of file descriptors, most likely: let connections finish.
                log::warn!(
                    "{}: accepting a connection failed: {e}",
                    shared.options.name
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Gives a new connection its thread, making room at the cap first.
fn admit(socket: TcpStream, shared: &Arc<Shared>) {
    let mut table = shared.table.lock();
    let finished: Vec<_> = {
        let (done, running) = std::mem::take(&mut table.threads)
            .into_iter()
            .partition(|t: &JoinHandle<()>| t.is_finished());
        table.threads = running;
        done
    };
    for t in finished {
        let _ = t.join();
    }
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
                let _ = entry.socket.shutdown(Shutdown::Both);
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
                return refuse_busy(socket, shared.options.tls.is_some());
            }
        }
    }
    let Ok(second) = socket.try_clone() else {
        return;
    };
    let id = table.next_id;
    table.next_id += 1;
    table.live.insert(
        id,
        Entry {
            socket: second,
            phase: Phase::Idle,
            since: Instant::now(),
            closing: false,
        },
    );
    drop(table);
    let slot = Slot {
        shared: shared.clone(),
        id,
    };
    let thread_shared = shared.clone();
    // Spawned without the table lock: a slot dropped early (thread gone) takes it.
    let spawned = std::thread::Builder::new()
        .name(format!("{}-conn", shared.options.name))
        .spawn(move || {
            let stream = match &thread_shared.options.tls {
                None => Stream::Plain(socket),
                Some(tls) => match tls.accept() {
                    Ok(conn) => Stream::Tls(Box::new(rustls::StreamOwned::new(conn, socket))),
                    Err(e) => return log::warn!("cannot start a TLS session: {e}"),
                },
            };
            serve::connection(stream, &slot, &thread_shared);
        });
    match spawned {
        Ok(t) => shared.table.lock().threads.push(t),
        Err(e) => log::warn!(
            "{}: cannot start a connection thread: {e}",
            shared.options.name
        ),
    }
}

/// Answers `503` to a connection there is no room for and closes it.
fn refuse_busy(mut socket: TcpStream, tls: bool) {
    if !tls {
        let _ = socket.set_write_timeout(Some(Duration::from_millis(100)));
        let _ = socket.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n\
              Content-Length: 5\r\nConnection: close\r\n\r\nbusy\n",
        );
    }
    let _ = socket.shutdown(Shutdown::Write);
}

/// Binds `listen` with `TCP_NODELAY` set, which accepted connections inherit: a
/// response's last segment is not held back waiting for the client's delayed ACK.
fn listen_nodelay(listen: &str) -> io::Result<TcpListener> {
    let addr = listen
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "resolves to no address"))?;
    let listener = TcpListener::bind(addr)?;
    socket2::SockRef::from(&listener).set_tcp_nodelay(true)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_connections_inherit_nodelay() {
        let listener = listen_nodelay("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
        assert!(listen_nodelay("not an address").is_err());
    }
}
