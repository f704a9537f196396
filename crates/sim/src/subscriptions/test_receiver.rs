//! A webhook endpoint for tests: answers validation handshakes, records notification
//! POSTs, and can be told to fail, to answer late, or to hold replies until released.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver as Gate;
use parking_lot::{Condvar, Mutex};
use serde_json::Value;

use m365sync_http::urlcode;
use m365sync_http::{Request, Response, Server, ServerOptions};

/// Hang guard for every wait in tests.
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(30);

/// How the endpoint answers validation requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validation {
    /// 200 with the decoded token.
    Echo,
    /// 200 with something else.
    WrongToken,
    /// This status with the token.
    Status(u16),
}

/// What the endpoint does and what it has seen.
pub(crate) struct Behaviour {
    pub validation: Validation,
    /// The next this many notification POSTs are answered 500.
    pub fail_next: u32,
    /// Every notification POST is answered after this long.
    pub reply_delay: Duration,
    /// When set, each notification POST waits for a message (or disconnection) first.
    pub gate: Option<Gate<()>>,
    /// Decoded validation tokens received.
    pub tokens: Vec<String>,
    /// Bodies of notification POSTs received (including failed ones).
    pub posts: Vec<Value>,
}

/// An HTTP endpoint on 127.0.0.1:0 answering one request at a time, stopped on drop.
pub(crate) struct Endpoint {
    url: String,
    shared: Arc<(Mutex<Behaviour>, Condvar)>,
    server: Server,
}

impl Endpoint {
    /// Starts an endpoint that echoes tokens and accepts every notification.
    pub(crate) fn start() -> Endpoint {
        let shared = Arc::new((
            Mutex::new(Behaviour {
                validation: Validation::Echo,
                fail_next: 0,
                reply_delay: Duration::ZERO,
                gate: None,
                tokens: Vec::new(),
                posts: Vec::new(),
            }),
            Condvar::new(),
        ));
        let sh = Arc::clone(&shared);
        let options = ServerOptions {
            name: "test-endpoint".into(),
            max_active: 1,
            ..ServerOptions::default()
        };
        let server = Server::start(
            "127.0.0.1:0",
            options,
            Arc::new(move |request: Request| serve(&sh, request)),
        )
        .expect("bind 127.0.0.1:0");
        Endpoint {
            url: format!("http://{}/hook", server.local_addr()),
            shared,
            server,
        }
    }

    /// The endpoint's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Changes the behaviour.
    pub(crate) fn configure(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.shared.0.lock());
    }

    /// Validation tokens received so far.
    pub(crate) fn tokens(&self) -> Vec<String> {
        self.shared.0.lock().tokens.clone()
    }

    /// Notification POST bodies received so far.
    pub(crate) fn posts(&self) -> Vec<Value> {
        self.shared.0.lock().posts.clone()
    }

    /// Every notification entry received so far, across POSTs.
    pub(crate) fn notifications(&self) -> Vec<Value> {
        let posts = self.posts();
        posts
            .iter()
            .flat_map(|p| p["value"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits until `pred` holds for the received POSTs; panics after the hang guard.
    pub(crate) fn wait_until(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + HANG_GUARD;
        let (lock, cv) = &*self.shared;
        let mut b = lock.lock();
        while !pred(&b.posts) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            cv.wait_for(&mut b, Duration::from_millis(50));
        }
        b.posts.clone()
    }

    /// Waits for at least `n` notification entries in total.
    pub(crate) fn wait_notifications(&self, n: usize) -> Vec<Value> {
        self.wait_until(&format!("{n} notifications"), |posts| {
            posts
                .iter()
                .map(|p| p["value"].as_array().map_or(0, Vec::len))
                .sum::<usize>()
                >= n
        });
        self.notifications()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.configure(|b| b.gate = None);
        self.server.stop();
    }
}

fn serve(shared: &(Mutex<Behaviour>, Condvar), request: Request) -> Response {
    let token = request.head.query().split('&').find_map(|kv| {
        kv.strip_prefix("validationToken=")
            .map(|t| urlcode::decode(t, false).unwrap_or_else(|| t.to_string()))
    });
    let (lock, cv) = shared;
    if let Some(token) = token {
        let mut b = lock.lock();
        b.tokens.push(token.clone());
        let (status, text) = match b.validation {
            Validation::Echo => (200, token),
            Validation::WrongToken => (200, format!("{token}x")),
            Validation::Status(s) => (s, token),
        };
        Response::text(status, text)
    } else {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let (status, delay, gate) = {
            let mut b = lock.lock();
            b.posts
                .push(serde_json::from_str(&body).unwrap_or(Value::String(body)));
            cv.notify_all();
            let status = if b.fail_next > 0 {
                b.fail_next -= 1;
                500
            } else {
                202
            };
            (status, b.reply_delay, b.gate.clone())
        };
        if let Some(gate) = gate {
            let _ = gate.recv_timeout(HANG_GUARD);
        }
        std::thread::sleep(delay);
        Response::new(status)
    }
}
