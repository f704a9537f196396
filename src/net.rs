//! Listening sockets for the crate's HTTP servers (the simulator and the webhook listener).

use std::io;
use std::net::{TcpListener, ToSocketAddrs};

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
