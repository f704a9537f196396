//! A scripted HTTP server for client tests: it answers Graph requests from a queue of
//! canned answers, token requests from a second queue (or with a fresh token), and
//! records every request with the instant it arrived.
//!
//! Plain `TcpListener` rather than the crate's server ([`m365sync_http`]): tests need a
//! connection closed without any answer, at once or after a stall, and one request
//! per connection, which a real server does not do.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// What the server does with one request.
#[derive(Debug, Clone)]
pub(crate) enum Canned {
    /// Sends this answer.
    Answer {
        /// HTTP status.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Body (sent as JSON content type).
        body: String,
    },
    /// Writes these bytes as the whole answer (head and body, as given), then
    /// closes: for bodies shorter or longer than their Content-Length.
    Raw(Vec<u8>),
    /// Closes the connection without answering.
    Reset,
    /// Waits this long, then closes the connection without answering.
    Stall(Duration),
}

impl Canned {
    /// An answer with a body.
    pub fn json(status: u16, body: &str) -> Canned {
        Canned::Answer {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }

    /// Adds a header to an answer.
    pub fn header(mut self, name: &str, value: &str) -> Canned {
        if let Canned::Answer { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// Request method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers as sent.
    pub headers: Vec<(String, String)>,
    /// Body, lossily decoded.
    pub body: String,
    /// When its headers had arrived.
    pub at: Instant,
}

impl Recorded {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a request to the token endpoint.
    pub fn is_token(&self) -> bool {
        self.path.contains("/oauth2/v2.0/token")
    }
}

#[derive(Default)]
struct Script {
    graph: VecDeque<Canned>,
    token: VecDeque<Canned>,
    tokens_issued: u32,
    log: Vec<Recorded>,
}

/// The running server; stops accepting when dropped.
pub(crate) struct ScriptServer {
    /// `http://127.0.0.1:port`.
    pub url: String,
    script: Arc<Mutex<Script>>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl ScriptServer {
    /// A Graph client whose Graph and sign-in are this server: short timeouts and
    /// backoffs, `max_attempts` attempts per request.
    pub fn client(&self, max_attempts: u32) -> crate::graph::GraphClient {
        let config = crate::config::Config::from_json(&format!(
            r#"{{"tenant_id":"t","client_id":"c","client_secret":"s","database":"x.db",
                "graph_url":"{url}/v1.0","login_url":"{url}","http_timeout_secs":2,
                "throttle":{{"max_attempts":{max_attempts},"default_retry_after_secs":1,"max_backoff_secs":1}}}}"#,
            url = self.url
        ))
        .expect("test configuration");
        let gate = Arc::new(crate::graph::ThrottleGate::new(&config.throttle));
        crate::graph::GraphClient::new(&config, gate).expect("test client")
    }

    /// Starts a server on 127.0.0.1 with an ephemeral port.
    pub fn start() -> ScriptServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let script = Arc::new(Mutex::new(Script::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept_thread = {
            let (script, stop) = (Arc::clone(&script), Arc::clone(&stop));
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let script = Arc::clone(&script);
                    thread::spawn(move || serve(stream, &script));
                }
            })
        };
        ScriptServer {
            url,
            script,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    /// Queues an answer for the next Graph request.
    pub fn push(&self, canned: Canned) {
        self.script.lock().graph.push_back(canned);
    }

    /// Queues an answer for the next token request (default: a fresh token `token-N`).
    pub fn push_token(&self, canned: Canned) {
        self.script.lock().token.push_back(canned);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.script.lock().log.clone()
    }

    /// The Graph (non-token) requests so far.
    pub fn graph_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| !r.is_token())
            .collect()
    }

    /// The token requests so far.
    pub fn token_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_token)
            .collect()
    }
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request, records it and plays the next canned answer; one request per connection.
fn serve(stream: TcpStream, script: &Mutex<Script>) {
    let Some(recorded) = read_request(&stream) else {
        return;
    };
    let canned = {
        let mut s = script.lock();
        let canned = if recorded.is_token() {
            s.token.pop_front().unwrap_or_else(|| {
                let n = s.tokens_issued + 1;
                Canned::json(
                    200,
                    &format!(
                        r#"{{"access_token":"token-{n}","expires_in":3600,"token_type":"Bearer"}}"#
                    ),
                )
            })
        } else {
            s.graph
                .pop_front()
                .unwrap_or_else(|| Canned::json(418, r#"{"error":{"code":"scriptExhausted"}}"#))
        };
        if recorded.is_token() && matches!(&canned, Canned::Answer { status: 200, .. }) {
            s.tokens_issued += 1;
        }
        s.log.push(recorded);
        canned
    };
    match canned {
        Canned::Answer {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let mut stream = stream;
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
            let _ = stream.flush();
        }
        Canned::Raw(bytes) => {
            let mut stream = stream;
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
        }
        Canned::Reset => drop(stream),
        Canned::Stall(d) => {
            thread::sleep(d);
            drop(stream);
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Recorded> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let at = Instant::now();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at,
    })
}
