//! The commands of `m365sync_sim_apply`: one JSON object per request of the
//! simulator's HTTP control API (`/_sim/...`), served in process without HTTP so
//! that both paths behave the same.

use serde_json::{Map, Value};

use m365sync_ffi_support::{FfiError, m365sync_result};

use crate::Outcome;
use crate::request::SimRequest;

/// The operations, for error messages.
const OPS: &str = "create, update, delete, share, unshare, permissions, grant, create_link, \
                   revoke, break_inheritance, restore_inheritance, permission_roots, add_site, \
                   add_library, add_user, users, groups, faults, expire_delta_tokens, \
                   expire_download_urls, expire_subscriptions, stats, snapshot";

/// What the control request's body is made of.
enum Body {
    /// The command's remaining keys, as a JSON object.
    Rest,
    /// Nothing: any remaining key is an error.
    Empty,
}

fn invalid(message: String) -> FfiError {
    FfiError::new(m365sync_result::InvalidArgument, message)
}

/// Translates `{"op": ..., ...}` into the control request it stands for.
pub(crate) fn control_request(command: &str) -> Result<SimRequest, FfiError> {
    let mut fields = match serde_json::from_str::<Value>(command) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => {
            return Err(FfiError::new(
                m365sync_result::InvalidJson,
                "the command must be a JSON object",
            ));
        }
        Err(e) => {
            return Err(FfiError::new(
                m365sync_result::InvalidJson,
                format!("the command is not valid JSON: {e}"),
            ));
        }
    };
    let op = take_str(&mut fields, "op")?;
    let tenant = match fields.remove("tenant") {
        None => None,
        Some(k) => Some(
            k.as_u64()
                .filter(|&k| k <= u64::from(u32::MAX))
                .ok_or_else(|| {
                    invalid("key `tenant` must be a tenant number (0, 1, ...)".to_string())
                })?,
        ),
    };
    let mut query = Vec::new();
    let (method, path, body) = match op.as_str() {
        "create" => {
            let drive = take_segment(&mut fields, "drive")?;
            ("POST", format!("/_sim/drives/{drive}/items"), Body::Rest)
        }
        "update"
        | "delete"
        | "share"
        | "unshare"
        | "permissions"
        | "grant"
        | "create_link"
        | "revoke"
        | "break_inheritance"
        | "restore_inheritance" => {
            let drive = take_segment(&mut fields, "drive")?;
            let item = take_segment(&mut fields, "item")?;
            let item_path = format!("/_sim/drives/{drive}/items/{item}");
            let (method, suffix, body) = match op.as_str() {
                "update" => ("PATCH", String::new(), Body::Rest),
                "delete" => ("DELETE", String::new(), Body::Empty),
                "share" => ("POST", "/share".into(), Body::Empty),
                "unshare" => ("DELETE", "/share".into(), Body::Empty),
                "permissions" => ("GET", "/permissions".into(), Body::Empty),
                "grant" => ("POST", "/permissions".into(), Body::Rest),
                "create_link" => ("POST", "/links".into(), Body::Rest),
                "revoke" => {
                    let permission = take_segment(&mut fields, "permission")?;
                    ("DELETE", format!("/permissions/{permission}"), Body::Empty)
                }
                "break_inheritance" => ("POST", "/break-inheritance".into(), Body::Empty),
                _ => ("POST", "/restore-inheritance".into(), Body::Empty),
            };
            (method, format!("{item_path}{suffix}"), body)
        }
        "permission_roots" => {
            let drive = take_segment(&mut fields, "drive")?;
            let path = format!("/_sim/drives/{drive}/permission-roots");
            ("GET", path, Body::Empty)
        }
        "users" => ("GET", "/_sim/users".to_string(), Body::Empty),
        "groups" => ("GET", "/_sim/groups".to_string(), Body::Empty),
        "add_site" => ("POST", "/_sim/sites".to_string(), Body::Rest),
        "add_library" => {
            let site = take_segment(&mut fields, "site")?;
            ("POST", format!("/_sim/sites/{site}/drives"), Body::Rest)
        }
        "add_user" => ("POST", "/_sim/users".to_string(), Body::Rest),
        "faults" => ("POST", "/_sim/faults".to_string(), Body::Rest),
        "expire_delta_tokens" => ("POST", "/_sim/expire-delta-tokens".to_string(), Body::Empty),
        "expire_download_urls" => (
            "POST",
            "/_sim/expire-download-urls".to_string(),
            Body::Empty,
        ),
        "expire_subscriptions" => ("POST", "/_sim/expire-subscriptions".to_string(), Body::Rest),
        "stats" => ("GET", "/_sim/stats".to_string(), Body::Empty),
        "snapshot" => {
            query.push(("drive".to_string(), take_segment(&mut fields, "drive")?));
            ("GET", "/_sim/snapshot".to_string(), Body::Empty)
        }
        other => {
            return Err(invalid(format!(
                "unknown op `{other}`; expected one of {OPS}"
            )));
        }
    };
    let body = match body {
        Body::Rest => Value::Object(fields).to_string().into_bytes(),
        Body::Empty => match fields.keys().next() {
            Some(key) => return Err(invalid(format!("unknown key `{key}` for op `{op}`"))),
            None => Vec::new(),
        },
    };
    let path = match tenant {
        // `/_sim/...` → `/_sim/tenants/{k}/...`.
        Some(k) => format!("/_sim/tenants/{k}{}", &path["/_sim".len()..]),
        None => path,
    };
    Ok(SimRequest {
        method: method.to_string(),
        path,
        query,
        headers: vec![("Content-Type".to_string(), "application/json".to_string())],
        body,
    })
}

/// The JSON result of a served command (`null` when the reply has no body), or the
/// simulator's refusal as an error.
pub(crate) fn reply_json(outcome: Outcome) -> Result<String, FfiError> {
    let response = match outcome {
        Outcome::Reply(response) => response,
        Outcome::Reset => {
            return Err(FfiError::new(
                m365sync_result::Transport,
                "the simulator dropped the request",
            ));
        }
    };
    let text = String::from_utf8_lossy(&response.body).into_owned();
    if (200..300).contains(&response.status) {
        return Ok(if text.trim().is_empty() {
            "null".to_string()
        } else {
            text
        });
    }
    let error = serde_json::from_str::<Value>(&text).ok();
    let field = |name: &str| {
        error
            .as_ref()
            .and_then(|v| v["error"][name].as_str())
            .unwrap_or_default()
            .to_string()
    };
    Err(invalid(format!(
        "the simulator refused the command: {} {}: {}",
        response.status,
        field("code"),
        field("message")
    )))
}

fn take_str(fields: &mut Map<String, Value>, key: &str) -> Result<String, FfiError> {
    match fields.remove(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(format!("key `{key}` must be a string"))),
        None => Err(invalid(format!("missing key `{key}`"))),
    }
}

/// A string that becomes one path segment: non-empty and without `/`.
fn take_segment(fields: &mut Map<String, Value>, key: &str) -> Result<String, FfiError> {
    let s = take_str(fields, key)?;
    if s.is_empty() || s.contains('/') {
        return Err(invalid(format!(
            "key `{key}` must be a non-empty id without `/`"
        )));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::SimResponse;

    fn request(command: &str) -> SimRequest {
        control_request(command).unwrap()
    }

    fn error(command: &str) -> FfiError {
        control_request(command).unwrap_err()
    }

    #[test]
    fn commands_map_to_control_routes() {
        let r = request(r#"{"op":"create","drive":"b!x","parent_id":"root","name":"a.txt"}"#);
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/_sim/drives/b!x/items")
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body, serde_json::json!({"parent_id":"root","name":"a.txt"}));
        let r = request(r#"{"op":"unshare","drive":"d","item":"i"}"#);
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("DELETE", "/_sim/drives/d/items/i/share")
        );
        assert!(r.body.is_empty());
        let r = request(r#"{"op":"revoke","drive":"d","item":"i","permission":"p"}"#);
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("DELETE", "/_sim/drives/d/items/i/permissions/p")
        );
        let r = request(
            r#"{"op":"grant","drive":"d","item":"i","principal":"guest:a@b.example","roles":["read"]}"#,
        );
        assert_eq!(r.path, "/_sim/drives/d/items/i/permissions");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["roles"], serde_json::json!(["read"]));
        let r = request(r#"{"op":"restore_inheritance","drive":"d","item":"i"}"#);
        assert_eq!(r.path, "/_sim/drives/d/items/i/restore-inheritance");
        let r = request(r#"{"op":"permission_roots","drive":"d"}"#);
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("GET", "/_sim/drives/d/permission-roots")
        );
        let r = request(r#"{"op":"snapshot","drive":"d"}"#);
        assert_eq!(r.query("drive"), Some("d"));
        let r = request(r#"{"op":"expire_delta_tokens"}"#);
        assert_eq!(r.path, "/_sim/expire-delta-tokens");
        let r = request(r#"{"op":"expire_download_urls"}"#);
        assert_eq!(r.path, "/_sim/expire-download-urls");
        let r = request(r#"{"op":"delete","drive":"d","item":"i","tenant":3}"#);
        assert_eq!(r.path, "/_sim/tenants/3/drives/d/items/i");
        let r = request(r#"{"op":"stats","tenant":0}"#);
        assert_eq!(r.path, "/_sim/tenants/0/stats");
        let r = request(r#"{"op":"update","drive":"d","item":"i","size":1073741824}"#);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body, serde_json::json!({"size": 1_073_741_824u64}));
    }

    #[test]
    fn bad_commands_are_refused_with_the_reason() {
        assert_eq!(error("{").code, m365sync_result::InvalidJson);
        assert_eq!(error("[1]").code, m365sync_result::InvalidJson);
        let e = error(r#"{"drive":"d"}"#);
        assert!(e.message.contains("`op`"), "{}", e.message);
        let e = error(r#"{"op":"explode"}"#);
        assert!(e.message.contains("explode") && e.message.contains("create"));
        let e = error(r#"{"op":"delete","drive":"d","item":"i","force":true}"#);
        assert!(e.message.contains("force"));
        let e = error(r#"{"op":"delete","drive":"d/../x","item":"i"}"#);
        assert!(e.message.contains("drive"));
        assert_eq!(error(r#"{"op":7}"#).code, m365sync_result::InvalidArgument);
        for bad in [r#""1""#, "-1", "1.5", "4294967296"] {
            let e = error(&format!(r#"{{"op":"stats","tenant":{bad}}}"#));
            assert!(e.message.contains("`tenant`"), "{}", e.message);
        }
    }

    #[test]
    fn replies_become_json_or_errors() {
        assert_eq!(
            reply_json(Outcome::Reply(SimResponse::empty(204))).unwrap(),
            "null"
        );
        let ok = SimResponse::json(201, &serde_json::json!({"id": "x"}));
        assert_eq!(reply_json(Outcome::Reply(ok)).unwrap(), r#"{"id":"x"}"#);
        let refused = SimResponse::graph_error(404, "itemNotFound", "no item q");
        let e = reply_json(Outcome::Reply(refused)).unwrap_err();
        assert_eq!(e.code, m365sync_result::InvalidArgument);
        assert!(
            e.message.contains("404 itemNotFound: no item q"),
            "{}",
            e.message
        );
        assert_eq!(
            reply_json(Outcome::Reset).unwrap_err().code,
            m365sync_result::Transport
        );
    }
}
