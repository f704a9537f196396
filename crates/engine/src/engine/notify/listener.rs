//! The built-in notification listener: the workspace's HTTP server ([`m365sync_http`],
//! hyper underneath) and the checks of [`Intake`].
//!
//! Each request is answered (202 for a notification batch) before its signals are
//! dispatched, and dispatching only marks drives dirty: no Graph call ever happens on
//! a request thread. Path, method and validation token are checked from the head
//! alone, so a wrong request is answered without its body being read.
//!
//! Hostile clients: a request's head and then its body must each arrive within
//! `read_timeout` (else 408), a connection idle for as long is closed, bodies over
//! `max_body_bytes` get 413 (at once when `Content-Length` announces it), oversized
//! heads 414/431. At most [`MAX_CONNECTIONS`] connections are open; at the cap the one
//! that has waited longest for its request is closed, so idle or trickling clients
//! cannot keep Graph out. Every refusal is counted in the notification stats.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use log::info;

use super::intake::Intake;
use super::stats::Rejection;
use crate::error::{Error, Result};
use m365sync_http::urlcode;
use m365sync_http::{Head, Refusal, Reply, Request, Response, Server, ServerOptions};

/// Connections the webhook listener keeps open at once; at the cap the longest-waiting
/// one is closed, so idle or trickling clients cannot lock Graph out.
pub const MAX_CONNECTIONS: usize = 64;

/// How the listener treats requests.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    /// The only path notifications and validation requests are accepted on.
    pub path: String,
    /// Largest body read; larger ones get 413.
    pub max_body_bytes: usize,
    /// Time for a request's head, again for its body, and the longest idle wait.
    pub read_timeout: Duration,
    /// Requests handled at once (checking a body takes microseconds).
    pub threads: usize,
    /// Serve HTTPS with this certificate.
    pub tls: Option<TlsIdentity>,
}

/// A PEM certificate chain and its private key; `Debug` never shows the key.
#[derive(Clone)]
pub struct TlsIdentity {
    /// PEM certificate chain.
    pub certificate: Vec<u8>,
    /// PEM private key (PKCS#8, RSA or EC, unencrypted).
    pub private_key: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity(***)")
    }
}

/// A running listener. Dropping it stops it.
pub struct Listener {
    server: Server,
}

impl Listener {
    /// Binds `listen` (e.g. `127.0.0.1:0`) and starts accepting.
    pub fn start(listen: &str, options: ListenerOptions, intake: Arc<Intake>) -> Result<Listener> {
        let tls = options.tls.as_ref().map(tls_config).transpose()?;
        let server_options = ServerOptions {
            name: "m365sync-webhook".into(),
            max_connections: MAX_CONNECTIONS,
            max_active: options.threads,
            idle_timeout: options.read_timeout,
            read_timeout: options.read_timeout,
            write_timeout: options.read_timeout,
            max_body_bytes: options.max_body_bytes,
            tls,
            ..ServerOptions::default()
        };
        let path = options.path.clone();
        let front = Arc::new(Front { options, intake });
        let server = Server::start(listen, server_options, front)
            .map_err(|e| Error::Config(format!("field `webhook.listen`: {listen}: {e}")))?;
        info!("webhook listener on {}{path}", server.local_addr());
        Ok(Listener { server })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Closes every connection and waits for the threads. Idempotent.
    pub fn stop(&mut self) {
        self.server.stop();
    }
}

/// The rustls configuration of `identity`; what is wrong names the config field.
fn tls_config(identity: &TlsIdentity) -> Result<m365sync_http::TlsConfig> {
    m365sync_http::TlsConfig::from_pem(&identity.certificate, &identity.private_key).map_err(|e| {
        let field = match e {
            m365sync_http::TlsError::Certificate(_) => "webhook.tls_cert_file",
            m365sync_http::TlsError::PrivateKey(_) => "webhook.tls_key_file",
            m365sync_http::TlsError::Rejected(_) => {
                "webhook.tls_cert_file` / `webhook.tls_key_file"
            }
        };
        Error::Config(format!("field `{field}`: {e}"))
    })
}

/// The listener's rules on top of the HTTP server.
struct Front {
    options: ListenerOptions,
    intake: Arc<Intake>,
}

impl m365sync_http::Handler for Front {
    fn head(&self, head: &Head) -> Option<Response> {
        match check_head(head, &self.options, &self.intake) {
            Ok(answer) => answer,
            Err(why) => {
                self.intake.refused(why);
                Some(rejection_answer(why))
            }
        }
    }

    fn handle(&self, request: Request) -> Reply {
        Reply::Respond(match self.intake.verify(&request.body) {
            Ok(verified) => {
                let intake = self.intake.clone();
                // Only once Graph has its answer does the engine hear about it.
                answer(202, "").then(move || intake.dispatch(verified))
            }
            Err(why) => rejection_answer(why),
        })
    }

    fn refused(&self, why: Refusal) {
        self.intake.refused(match why {
            Refusal::Malformed | Refusal::HeadTooLarge => Rejection::Malformed,
            Refusal::BodyTooLarge => Rejection::TooLarge,
            Refusal::Timeout => Rejection::Timeout,
            Refusal::Busy => Rejection::Busy,
        });
    }
}

/// A short `text/plain` answer; `nosniff` so that no browser ever takes an echoed
/// token for markup.
fn answer(status: u16, body: &str) -> Response {
    Response::new(status)
        .with_header("Content-Type", "text/plain")
        .with_header("X-Content-Type-Options", "nosniff")
        .with_body(body.as_bytes().to_vec())
}

/// Checks path, method and validation token: `Some` answer when the request is
/// settled without its body, `None` when the body must be read.
fn check_head(
    head: &Head,
    options: &ListenerOptions,
    intake: &Intake,
) -> std::result::Result<Option<Response>, Rejection> {
    if head.path() != options.path {
        return Err(Rejection::WrongPath);
    }
    if head.method != "POST" {
        return Err(Rejection::WrongMethod);
    }
    Ok(validation_token(head.query()).map(|token| {
        // An undecodable token is refused like an empty one (and counted once, there).
        match intake.validation_response(token.as_deref().unwrap_or_default()) {
            Ok(echo) => answer(200, &echo),
            Err(why) => rejection_answer(why),
        }
    }))
}

/// The `validationToken` query parameter if present: decoded, or `None` when its
/// percent-encoding is broken.
fn validation_token(query: &str) -> Option<Option<String>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == "validationToken").then(|| urlcode::decode(value, true))
    })
}

fn rejection_answer(why: Rejection) -> Response {
    match why {
        Rejection::WrongPath => answer(404, "not found"),
        Rejection::WrongMethod => answer(405, "method not allowed").with_header("Allow", "POST"),
        Rejection::TooLarge => answer(413, "request body too large"),
        Rejection::Timeout => answer(408, "request timeout"),
        Rejection::Busy => answer(503, "busy"),
        Rejection::Malformed
        | Rejection::BadValidationToken
        | Rejection::UnknownSubscription
        | Rejection::BadClientState => answer(400, "bad request"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_tokens_are_found_and_decoded() {
        assert_eq!(validation_token(""), None);
        assert_eq!(validation_token("a=1"), None);
        assert_eq!(
            validation_token("a=1&validationToken=x%20y+z"),
            Some(Some("x y z".into()))
        );
        assert_eq!(validation_token("validationToken=%zz"), Some(None));
    }
}
