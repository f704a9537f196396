//! Request dispatch: control API, token endpoint, and Graph with auth, metering and faults.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crate::control;
use crate::faults::Injected;
use crate::graph::{self, Route};
use crate::hub::Hub;
use crate::request::SimRequest;
use crate::response::SimResponse;
use crate::state::Shared;
use crate::stats::Counters;
use crate::throttle::Verdict;

/// What to do with the connection.
#[derive(Debug)]
pub enum Outcome {
    /// Send this response.
    Reply(SimResponse),
    /// Drop the connection without a response (an injected reset).
    Reset,
}

/// `http://host:port` for links: the request's Host when it looks sane, else the listener's.
fn base_url(shared: &Shared, req: &SimRequest) -> String {
    match req.header("host") {
        Some(h)
            if !h.is_empty()
                && h.len() < 256
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) =>
        {
            let scheme = shared.base_url.split("://").next().unwrap_or("http");
            format!("{scheme}://{h}")
        }
        _ => shared.base_url.clone(),
    }
}

fn throttled(retry_after: u64) -> SimResponse {
    let mut r = SimResponse::graph_error(
        429,
        "activityLimitReached",
        "The request has been throttled: the app exceeded its resource-unit budget for this tenant.",
    );
    if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&r.body) {
        v["error"]["innerError"]["code"] = "throttledRequest".into();
        r.body = v.to_string().into_bytes();
    }
    r.with_header("Retry-After", retry_after.to_string())
}

/// Routes one request to its tenant (see [`crate::hub`]).
pub(crate) fn dispatch(hub: &Hub, req: &SimRequest) -> Outcome {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["_sim", "tenants"] => {
            hub.first()
                .counters
                .request(control::label(&req.method, &["tenants"]));
            Outcome::Reply(control::tenants(hub, req))
        }
        ["_sim", "tenants", k, rest @ ..] => match hub.by_segment(k) {
            Some(shared) => control_request(shared, req, rest),
            None => {
                hub.first().counters.request("unknown /_sim/tenants/{k}");
                Outcome::Reply(SimResponse::graph_error(
                    404,
                    "itemNotFound",
                    &format!(
                        "no tenant {k:?}: tenants are numbered 0 to {}",
                        hub.tenants().len() - 1
                    ),
                ))
            }
        },
        ["_sim", rest @ ..] => control_request(hub.first(), req, rest),
        [tenant, "oauth2", "v2.0", "token"] if req.method == "POST" => {
            let shared = hub.by_tenant_id(tenant);
            shared.counters.request("POST /{tenant}/oauth2/v2.0/token");
            Outcome::Reply(shared.auth.token(tenant, req))
        }
        ["metadata", "identity", "oauth2", "token"] if req.method == "GET" => {
            // A managed identity lives in one tenant: tenant 0.
            let shared = hub.first();
            shared
                .counters
                .request("GET /metadata/identity/oauth2/token");
            Outcome::Reply(crate::identity::managed_identity_token(&shared.auth, req))
        }
        [tenant, "oauth2", "token"] if req.method == "POST" => {
            let shared = hub.by_tenant_id(tenant);
            shared.counters.request("POST /{tenant}/oauth2/token");
            Outcome::Reply(shared.auth.token_v1(tenant, req))
        }
        // A drive of another tenant is simply not found (404 itemNotFound), as in
        // Graph: ids resolve only in the caller's tenant, and a 403 would tell the
        // caller that the id exists elsewhere.
        ["v1.0", rest @ ..] => graph_request(hub.by_token(req), req, rest),
        _ => {
            hub.first().counters.request("unknown");
            Outcome::Reply(SimResponse::graph_error(
                404,
                "itemNotFound",
                &format!("Resource not found: {}", req.path),
            ))
        }
    }
}

/// A control API request (`segs` after `/_sim` or `/_sim/tenants/{k}`) for one tenant.
fn control_request(shared: &Shared, req: &SimRequest, segs: &[&str]) -> Outcome {
    shared.counters.request(control::label(&req.method, segs));
    Outcome::Reply(control::serve(shared, req, segs))
}

/// Charges `cost` RU on the tenant's budget: the RateLimit headers for the answer, or
/// the 429 to send (counted, with the violation when a Retry-After was in force).
pub(crate) fn charge(
    shared: &Shared,
    req: &SimRequest,
    cost: u64,
) -> Result<Vec<(String, String)>, SimResponse> {
    let c = &shared.counters;
    c.ru_used.fetch_add(cost, Relaxed);
    match shared.throttle.charge(cost, Instant::now()) {
        Verdict::Allow(headers) => Ok(headers),
        Verdict::Throttle {
            retry_after_secs,
            violation,
        } => Err(refuse(shared, req, retry_after_secs, violation)),
    }
}

/// The 429 for a request over a budget, counted.
pub(crate) fn refuse(
    shared: &Shared,
    req: &SimRequest,
    retry_after_secs: u64,
    violation: bool,
) -> SimResponse {
    let c = &shared.counters;
    Counters::bump(&c.throttled);
    if violation {
        Counters::bump(&c.violations);
        log::warn!(
            "violation: {} {} arrived while a Retry-After was in force",
            req.method,
            req.path
        );
    }
    throttled(retry_after_secs)
}

/// The injected failure the fault dice chose for this request, counted, if any.
pub(crate) fn inject(shared: &Shared) -> Option<Outcome> {
    let c = &shared.counters;
    match shared.faults.roll() {
        Injected::None => None,
        Injected::Error503 => {
            Counters::bump(&c.errors_injected);
            Some(Outcome::Reply(
                SimResponse::graph_error(
                    503,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable (injected).",
                )
                .with_header("Retry-After", "1"),
            ))
        }
        Injected::Error500 => {
            Counters::bump(&c.errors_injected);
            Some(Outcome::Reply(SimResponse::graph_error(
                500,
                "generalException",
                "An internal error occurred (injected).",
            )))
        }
        Injected::Reset => {
            Counters::bump(&c.resets_injected);
            Some(Outcome::Reset)
        }
    }
}

fn graph_request(shared: &Shared, req: &SimRequest, segs: &[&str]) -> Outcome {
    let c = &shared.counters;
    let Some(route) = Route::parse(segs) else {
        c.request("unknown /v1.0");
        return Outcome::Reply(SimResponse::graph_error(
            404,
            "itemNotFound",
            &format!("Resource not found for the segment in {}", req.path),
        ));
    };
    c.request(route.label(req));
    if !route.allows(&req.method) {
        return Outcome::Reply(SimResponse::graph_error(
            405,
            "methodNotAllowed",
            &format!("{} is not allowed here", req.method),
        ));
    }
    if let Err(denied) = shared.auth.check(req) {
        return Outcome::Reply(denied);
    }
    let cost = route.cost(req, &shared.throttle.config().costs);
    let rate_headers = match charge(shared, req, cost) {
        Ok(headers) => headers,
        Err(throttled) => return Outcome::Reply(throttled),
    };
    if let Some(injected) = inject(shared) {
        return injected;
    }
    let mut resp = graph::serve(shared, route, req, &base_url(shared, req));
    resp.headers.extend(rate_headers);
    Outcome::Reply(resp)
}
