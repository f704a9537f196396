//! What the crate's two HTTP servers (the simulator and the webhook listener) share:
//! a listening socket without Nagle delays and a pool of tiny_http request threads.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often idle request threads look at the stop flag.
const POLL: Duration = Duration::from_millis(200);

/// Handles one request; runs on a request thread.
pub(crate) type RequestHandler = Arc<dyn Fn(tiny_http::Request) + Send + Sync>;

/// A tiny_http server with `threads` request threads. Dropping it stops it.
pub(crate) struct RequestPool {
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// The bound address.
    pub addr: SocketAddr,
}

impl RequestPool {
    /// Binds `listen` (see [`listen_nodelay`]) and starts threads named `{name}-{i}`.
    /// With `tls` (PEM certificate chain and key) it serves HTTPS.
    pub(crate) fn start(
        listen: &str,
        threads: usize,
        name: &str,
        handler: RequestHandler,
        tls: Option<tiny_http::SslConfig>,
    ) -> io::Result<RequestPool> {
        let listener = listen_nodelay(listen)?;
        // tiny_http panics on some malformed keys instead of failing: catch that too.
        let server =
            std::panic::catch_unwind(move || tiny_http::Server::from_listener(listener, tls))
                .map_err(|_| io::Error::other("the TLS certificate or key cannot be used"))?
                .map_err(|e| io::Error::other(e.to_string()))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP address"))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let mut pool = RequestPool {
            server,
            workers: Vec::new(),
            stop,
            addr,
        };
        for i in 0..threads.max(1) {
            let (server, stop, handler) = (pool.server.clone(), pool.stop.clone(), handler.clone());
            let worker = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match server.recv_timeout(POLL) {
                            Ok(Some(rq)) => handler(rq),
                            Ok(None) => {}
                            Err(e) => {
                                log::warn!("HTTP listener failed: {e}");
                                std::thread::sleep(POLL);
                            }
                        }
                    }
                })?;
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    /// Stops the request threads and waits for them. Idempotent.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for RequestPool {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `listen` with `TCP_NODELAY` set, which accepted connections inherit.
///
/// tiny_http writes a response through a 1 KiB buffer, so a larger one leaves in
/// several segments; with Nagle's algorithm the last one waits for the client's
/// delayed ACK (40 ms on Linux) before it is sent.
pub(crate) fn listen_nodelay(listen: &str) -> io::Result<TcpListener> {
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
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
        assert!(listen_nodelay("not an address").is_err());
    }
}
