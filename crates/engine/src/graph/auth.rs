//! App-only authentication: the client-credentials token, cached and refreshed
//! before it expires or once Graph rejects it.
//!
//! The identity endpoint is not Graph's throttling domain, so token requests do not
//! pass through the [`ThrottleGate`]; they only borrow its interruptible sleep and
//! backoff for their own retries.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::graph::credential::{Credential, TokenRequest};
use crate::graph::network::Route;
use crate::graph::reply::{Reply, is_retryable_transport};
use crate::graph::throttle::{ThrottleGate, parse_retry_after};
use crate::graph::types::TokenResponse;

/// Lifetime assumed when the token endpoint omits `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// A token is refreshed when less than this (or 10 % of its lifetime, if smaller) remains.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A bearer token. Cheap to clone; its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AccessToken(Arc<str>);

impl AccessToken {
    /// The `Authorization` header value.
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

#[derive(Debug)]
struct CachedToken {
    token: AccessToken,
    refresh_at: Instant,
}

/// Fetches and caches the client-credentials token of one app registration.
pub(crate) struct TokenSource {
    route: Route,
    token_url: String,
    /// `{graph resource}/.default`.
    scope: String,
    client_id: String,
    credential: Credential,
    gate: Arc<ThrottleGate>,
    cached: Mutex<Option<CachedToken>>,
    /// Held while a token is being fetched, so that only one fetch runs at a time.
    fetching: Mutex<()>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.token_url)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field("credential", &self.credential.kind())
            .field("cached", &self.cached.lock().is_some())
            .finish()
    }
}

impl TokenSource {
    /// A token source for the app of `config`, its `credential` already resolved
    /// (`route` leads to the credential's endpoint).
    /// `gate` provides the interruptible sleep and the attempt bound of retries.
    pub(crate) fn new(
        config: &Config,
        credential: Credential,
        route: Route,
        gate: Arc<ThrottleGate>,
    ) -> TokenSource {
        TokenSource {
            route,
            token_url: credential.endpoint(config),
            scope: config.token_scope(),
            client_id: config.client_id.clone(),
            credential,
            gate,
            cached: Mutex::new(None),
            fetching: Mutex::new(()),
        }
    }

    /// A valid token: the cached one, or a fresh one when it is close to expiry or was rejected.
    pub(crate) fn token(&self) -> Result<AccessToken> {
        if let Some(token) = self.cached_token() {
            return Ok(token);
        }
        let _fetching = self.fetching.lock();
        // Another thread may have fetched one while we waited for the lock.
        if let Some(token) = self.cached_token() {
            return Ok(token);
        }
        let obtained_at = Instant::now();
        let reply = self.fetch()?;
        let token = AccessToken(Arc::from(reply.access_token));
        let lifetime = reply
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        *self.cached.lock() = Some(CachedToken {
            token: token.clone(),
            refresh_at: obtained_at + refresh_after(lifetime),
        });
        Ok(token)
    }

    /// Forgets `rejected` (Graph answered 401 with it) so that the next [`token`](Self::token)
    /// fetches a new one. A token other threads already replaced is left alone.
    pub(crate) fn invalidate(&self, rejected: &AccessToken) {
        let mut cached = self.cached.lock();
        if cached.as_ref().is_some_and(|c| &c.token == rejected) {
            *cached = None;
        }
    }

    fn cached_token(&self) -> Option<AccessToken> {
        let cached = self.cached.lock();
        let c = cached.as_ref()?;
        (Instant::now() < c.refresh_at).then(|| c.token.clone())
    }

    /// Sends one token request as the credential wants it.
    fn send(&self) -> Result<std::result::Result<ureq::Response, ureq::Error>> {
        let agent = &self.route.agent;
        Ok(
            match self
                .credential
                .request(&self.client_id, &self.scope, &self.token_url)?
            {
                TokenRequest::Form(fields) => {
                    let fields: Vec<(&str, &str)> =
                        fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    agent
                        .post(&self.token_url)
                        .set("Accept", "application/json")
                        .send_form(&fields)
                }
                TokenRequest::Get {
                    url,
                    query,
                    headers,
                } => {
                    let mut request = agent.get(&url).set("Accept", "application/json");
                    for (name, value) in &query {
                        request = request.query(name, value);
                    }
                    for (name, value) in &headers {
                        request = request.set(name, value);
                    }
                    request.call()
                }
            },
        )
    }

    /// Asks for a token, retrying transport failures, 429 and 5xx.
    fn fetch(&self) -> Result<TokenResponse> {
        let max_attempts = self.gate.max_attempts();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.send()?;
            let (wait, failure) = match outcome {
                Ok(response) => {
                    log::debug!("token request {} -> {}", self.token_url, response.status());
                    match Reply::read(response) {
                        Ok(reply) => return decode_token(&reply),
                        Err(e) => (None, e),
                    }
                }
                Err(ureq::Error::Status(status, response)) => {
                    log::debug!("token request {} -> {status}", self.token_url);
                    let retry_after = response
                        .header("Retry-After")
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    let body = Reply::read(response).map(|r| r.body).unwrap_or_default();
                    let failure = Error::Auth(self.describe_failure(status, &body));
                    if !(status == 429 || (500..=599).contains(&status)) {
                        return Err(failure);
                    }
                    (retry_after, failure)
                }
                Err(ureq::Error::Transport(t)) => {
                    log::debug!("token request {} failed: {t}", self.token_url);
                    let failure =
                        Error::Transport(format!("token endpoint: {}", self.route.failure(&t)));
                    if !is_retryable_transport(&t) {
                        return Err(failure);
                    }
                    (None, failure)
                }
            };
            if attempt >= max_attempts {
                return Err(failure);
            }
            self.gate
                .sleep(wait.unwrap_or_else(|| self.gate.retry_delay(attempt)))?;
        }
    }

    /// The OAuth `error_description` (or `error`) of a failed token request, without the secret.
    fn describe_failure(&self, status: u16, body: &[u8]) -> String {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let field = |name: &str| {
            json.get(name)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let text = match field("error_description").or_else(|| field("error")) {
            Some(description) => format!("token endpoint answered {status}: {description}"),
            None => format!("token endpoint answered {status}"),
        };
        match self.credential.secret_material() {
            Some(secret) => text.replace(&secret, "***"),
            None => text,
        }
    }
}

/// How long after it was obtained a token of `lifetime` is refreshed.
fn refresh_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(REFRESH_MARGIN.min(lifetime / 10))
}

/// Decodes a token reply. Errors never quote the body: it may hold a token.
fn decode_token(reply: &Reply) -> Result<TokenResponse> {
    serde_json::from_slice(&reply.body).map_err(|e| {
        Error::Protocol(format!(
            "token endpoint reply is not a token response ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_before_min_of_five_minutes_and_a_tenth_of_the_lifetime() {
        assert_eq!(
            refresh_after(Duration::from_secs(3600)),
            Duration::from_secs(3300)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(600)),
            Duration::from_secs(540)
        );
        assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn token_debug_is_redacted() {
        let token = AccessToken(Arc::from("eyJ-secret-token"));
        assert!(!format!("{token:?}").contains("eyJ"));
        assert_eq!(token.bearer(), "Bearer eyJ-secret-token");
    }
}
