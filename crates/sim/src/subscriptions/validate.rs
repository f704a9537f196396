//! Checks of subscription request bodies, with the rules Graph applies to drive roots,
//! `/sites` and groups.

use serde_json::{Map, Value};

use super::target::Target;
use super::time::parse_iso;
/// Longest `clientState` Graph accepts, in characters.
const MAX_CLIENT_STATE_CHARS: usize = 128;
/// TLS versions Graph accepts in `latestSupportedTlsVersion`.
const TLS_VERSIONS: [&str; 4] = ["v1_0", "v1_1", "v1_2", "v1_3"];

/// What a create request asks for, once it passed every check but the validation handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscriptionSpec {
    /// The resource as the client wrote it (echoed in replies and notifications).
    pub resource: String,
    /// What the resource resolves to.
    pub target: Target,
    /// `changeType` as the client wrote it (checked against the target).
    pub change_type: String,
    /// Where change notifications go.
    pub notification_url: String,
    /// Where lifecycle notifications go, if anywhere.
    pub lifecycle_url: Option<String>,
    /// Expiry, milliseconds since the epoch (changed by renewals).
    pub expires_ms: i64,
    /// Secret echoed in every notification.
    pub client_state: Option<String>,
    /// `latestSupportedTlsVersion`, `v1_2` unless the client chose another.
    pub tls_version: String,
}

/// Parses a request body that must be a JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the request body must be a JSON object".into()),
        Err(e) => Err(format!("the request body is not valid JSON: {e}")),
    }
}

/// A string field; `Ok(None)` when absent or null.
fn optional_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, String> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("'{field}' must be a string")),
    }
}

fn required_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, String> {
    optional_str(body, field)?.ok_or_else(|| format!("'{field}' is required"))
}

/// Checks a webhook URL: https, or http on a loopback host; no credentials or whitespace.
pub(crate) fn check_webhook_url(field: &str, url: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("'{field}' {why}: {url:?}"));
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain whitespace");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("must be an absolute URL");
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return bad("must use https");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return bad("must not contain credentials");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, tail)) => (&authority[..h.len() + 2], tail.strip_prefix(':')),
            None => return bad("has an unterminated IPv6 host"),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return bad("has no host");
    }
    if let Some(port) = port {
        if port.parse::<u16>().is_err() {
            return bad("has an invalid port");
        }
    }
    let loopback = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|l| host.eq_ignore_ascii_case(l));
    if scheme == "http" && !loopback {
        return bad("must use https (http is accepted only for loopback hosts)");
    }
    Ok(())
}

/// Parses `expirationDateTime` and checks it lies in `(now, now + the target's maximum]`.
pub(crate) fn parse_expiry(
    body: &Map<String, Value>,
    now_ms: i64,
    target: &Target,
) -> Result<i64, String> {
    let raw = required_str(body, "expirationDateTime")?;
    let expires = parse_iso(raw)
        .ok_or_else(|| format!("'expirationDateTime' is not an ISO-8601 UTC timestamp: {raw:?}"))?;
    if expires <= now_ms {
        return Err("Subscription expiration must be in the future".into());
    }
    let max = target.max_lifetime_ms();
    if expires - now_ms > max {
        return Err(format!(
            "Subscription expiration can only be {} minutes in the future for {} resources",
            max / 60_000,
            target.class()
        ));
    }
    Ok(expires)
}

/// Checks a create body; `resolve` maps the resource to what it watches.
pub(crate) fn parse_create(
    body: &[u8],
    now_ms: i64,
    resolve: &dyn Fn(&str) -> Option<Target>,
) -> Result<SubscriptionSpec, String> {
    let body = parse_object(body)?;
    let change_type = required_str(&body, "changeType")?;
    let resource = required_str(&body, "resource")?;
    let canonical = if resource.starts_with('/') {
        resource.to_string()
    } else {
        format!("/{resource}")
    };
    let target = resolve(&canonical).ok_or_else(|| {
        format!("resource '{resource}' is not a drive root, /sites, /groups or an existing group")
    })?;
    target.check_change_type(change_type)?;
    let notification_url = required_str(&body, "notificationUrl")?;
    check_webhook_url("notificationUrl", notification_url)?;
    let lifecycle_url = optional_str(&body, "lifecycleNotificationUrl")?;
    if let Some(url) = lifecycle_url {
        check_webhook_url("lifecycleNotificationUrl", url)?;
    }
    let expires_ms = parse_expiry(&body, now_ms, &target)?;
    let client_state = optional_str(&body, "clientState")?;
    if client_state.is_some_and(|s| s.chars().count() > MAX_CLIENT_STATE_CHARS) {
        return Err(format!(
            "'clientState' must not exceed {MAX_CLIENT_STATE_CHARS} characters"
        ));
    }
    let tls_version = optional_str(&body, "latestSupportedTlsVersion")?.unwrap_or("v1_2");
    if !TLS_VERSIONS.contains(&tls_version) {
        return Err(format!(
            "'latestSupportedTlsVersion' must be one of {TLS_VERSIONS:?}"
        ));
    }
    Ok(SubscriptionSpec {
        resource: resource.to_string(),
        target,
        change_type: change_type.to_string(),
        notification_url: notification_url.to_string(),
        lifecycle_url: lifecycle_url.map(str::to_string),
        expires_ms,
        client_state: client_state.map(str::to_string),
        tls_version: tls_version.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::time::format_iso;
    use proptest::prelude::*;
    use serde_json::json;

    const NOW: i64 = 1_795_456_800_000;
    const MAX_LIFETIME_MS: i64 = 42_300 * 60_000;

    fn resolve(resource: &str) -> Option<Target> {
        match resource {
            "/drives/d1/root" => Some(Target::Drive("d1".into())),
            "/groups" => Some(Target::Groups),
            _ => None,
        }
    }

    fn body(overrides: Value) -> Vec<u8> {
        let mut base = json!({
            "changeType": "updated",
            "resource": "/drives/d1/root",
            "notificationUrl": "https://hooks.example.com/graph",
            "expirationDateTime": format_iso(NOW + 3_600_000),
            "clientState": "secret",
            "someFutureField": {"ignored": true},
        });
        for (k, v) in overrides.as_object().unwrap() {
            base[k] = v.clone();
        }
        base.to_string().into_bytes()
    }

    #[test]
    fn a_good_body_is_accepted() {
        let s = parse_create(&body(json!({"resource": "drives/d1/root"})), NOW, &resolve).unwrap();
        assert_eq!(s.target, Target::Drive("d1".into()));
        assert_eq!(s.resource, "drives/d1/root");
        assert_eq!(s.expires_ms, NOW + 3_600_000);
        assert_eq!(s.client_state.as_deref(), Some("secret"));
        assert_eq!(s.lifecycle_url, None);
        assert_eq!(s.tls_version, "v1_2");
    }

    #[test]
    fn each_rule_is_enforced() {
        let cases = [
            json!({"changeType": "created"}),
            json!({"changeType": null}),
            json!({"resource": "/drives/nope/root"}),
            json!({"resource": 5}),
            json!({"notificationUrl": "http://hooks.example.com/graph"}),
            json!({"notificationUrl": "ftp://127.0.0.1/x"}),
            json!({"lifecycleNotificationUrl": "http://10.0.0.1/x"}),
            json!({"expirationDateTime": format_iso(NOW - 1)}),
            json!({"expirationDateTime": format_iso(NOW + MAX_LIFETIME_MS + 1)}),
            json!({"expirationDateTime": "tomorrow"}),
            json!({"clientState": "x".repeat(129)}),
            json!({"latestSupportedTlsVersion": "v9"}),
        ];
        for case in cases {
            assert!(
                parse_create(&body(case.clone()), NOW, &resolve).is_err(),
                "{case}"
            );
        }
        let limit = json!({"expirationDateTime": format_iso(NOW + MAX_LIFETIME_MS),
                           "clientState": "é".repeat(128)});
        assert!(parse_create(&body(limit), NOW, &resolve).is_ok());
    }

    #[test]
    fn group_subscriptions_have_their_own_lifetime_and_change_types() {
        let groups = |extra: Value| {
            let mut b = json!({"resource": "/groups", "changeType": "updated,deleted"});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            parse_create(&body(b), NOW, &resolve)
        };
        let max = 41_760 * 60_000;
        let s = groups(json!({"expirationDateTime": format_iso(NOW + max)})).unwrap();
        assert_eq!(s.target, Target::Groups);
        assert_eq!(s.change_type, "updated,deleted");
        let e = groups(json!({"expirationDateTime": format_iso(NOW + max + 1)})).unwrap_err();
        assert!(e.contains("41760 minutes"), "{e}");
        assert!(groups(json!({"changeType": "moved"})).is_err());
    }

    #[test]
    fn bodies_that_are_not_objects_are_rejected() {
        for bad in [&b"{"[..], b"[]", b"null", b"", b"\xff"] {
            assert!(parse_create(bad, NOW, &resolve).is_err());
        }
    }

    #[test]
    fn webhook_urls() {
        for ok in [
            "https://example.com/x?y=1",
            "HTTPS://example.com:8443",
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://[::1]:9/hook",
        ] {
            assert!(check_webhook_url("u", ok).is_ok(), "{ok}");
        }
        for bad in [
            "example.com/x",
            "http://example.com/x",
            "http://127.0.0.2/x",
            "http://localhost.evil.com/x",
            "https:///x",
            "https://user:pw@example.com/x",
            "https://example.com:99999/x",
            "https://[::1/x",
            "https://exa mple.com/x",
        ] {
            assert!(check_webhook_url("u", bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_create(&bytes, NOW, &resolve);
        }

        #[test]
        fn arbitrary_urls_never_panic(url in "\\PC{0,60}") {
            let _ = check_webhook_url("u", &url);
        }
    }
}
