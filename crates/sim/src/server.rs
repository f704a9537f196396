//! The HTTP front: the workspace's server ([`m365sync_http`], on hyper) turning requests into
//! [`SimRequest`]s and outcomes into responses or connection resets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::request::SimRequest;
use crate::response::SimResponse;
use crate::router::Outcome;
use crate::{Error, Result};
use m365sync_http::urlcode;
use m365sync_http::{Reply, Request, Response, Server, ServerOptions, TlsConfig};

/// Largest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Connections open at once: a test double must not be what limits a client.
const MAX_CONNECTIONS: usize = 1024;

/// Turns a request into an outcome; must not block for long.
pub(crate) type Handler = Arc<dyn Fn(&SimRequest) -> Outcome + Send + Sync>;

/// A running listener (stopped on drop).
pub(crate) struct HttpServer {
    server: Server,
    /// The bound address.
    pub addr: SocketAddr,
}

impl HttpServer {
    /// Binds `listen`; `threads` requests are handled at once; HTTPS with `tls`.
    pub fn start(
        listen: &str,
        threads: usize,
        tls: Option<TlsConfig>,
        handler: Handler,
    ) -> Result<HttpServer> {
        let options = ServerOptions {
            tls,
            name: "sim-http".into(),
            max_connections: MAX_CONNECTIONS,
            max_active: threads,
            idle_timeout: Duration::from_secs(120),
            max_body_bytes: MAX_BODY,
            ..ServerOptions::default()
        };
        let server = Server::start(listen, options, Arc::new(SimFront(handler)))
            .map_err(|e| Error::Config(format!("cannot listen on {listen}: {e}")))?;
        Ok(HttpServer {
            addr: server.local_addr(),
            server,
        })
    }

    /// Stops the server and waits for its threads.
    pub fn stop(&mut self) {
        self.server.stop();
    }
}

struct SimFront(Handler);

impl m365sync_http::Handler for SimFront {
    fn handle(&self, request: Request) -> Reply {
        let outcome = match sim_request(request) {
            Ok(req) => (self.0)(&req),
            Err(resp) => Outcome::Reply(resp),
        };
        match outcome {
            Outcome::Reply(resp) => {
                let mut out = match resp.stream {
                    Some(stream) => {
                        Response::new(resp.status).with_stream(stream.length, stream.chunks)
                    }
                    None => Response::new(resp.status).with_body(resp.body),
                };
                out.headers = resp.headers;
                Reply::Respond(out)
            }
            Outcome::Reset => Reply::Reset,
        }
    }
}

/// A [`SimRequest`] with decoded path and query, or the 400 to answer.
fn sim_request(request: Request) -> std::result::Result<SimRequest, SimResponse> {
    let malformed =
        || SimResponse::graph_error(400, "invalidRequest", "Malformed URL: bad percent-encoding");
    let head = request.head;
    let path = urlcode::decode(head.path(), false).ok_or_else(malformed)?;
    let query = urlcode::parse_pairs(head.query()).ok_or_else(malformed)?;
    Ok(SimRequest {
        method: head.method.to_ascii_uppercase(),
        path,
        query,
        headers: head.headers,
        body: request.body,
    })
}
