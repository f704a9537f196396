//! The validation handshake Graph performs before creating a subscription:
//! `POST {url}?validationToken={token}`; the endpoint must answer 200 with the token.

use std::io::Read;
use std::time::Duration;

/// Graph gives the endpoint this long to answer the validation request.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// Longer replies cannot equal any token we send.
const MAX_REPLY_BYTES: u64 = 4096;

/// Percent-encodes everything but RFC 3986 unreserved characters (so spaces become `%20`).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL the validation request goes to: `url` plus the encoded token as a query parameter.
fn validation_url(url: &str, token: &str) -> String {
    let base = url.split('#').next().unwrap_or(url);
    let joiner = if base.contains('?') { '&' } else { '?' };
    format!("{base}{joiner}validationToken={}", percent_encode(token))
}

/// Sends the validation request to `url` and checks the reply; the error says what was wrong.
pub(crate) fn validate_endpoint(agent: &ureq::Agent, url: &str, token: &str) -> Result<(), String> {
    let reply = agent
        .post(&validation_url(url, token))
        .timeout(HANDSHAKE_DEADLINE)
        .set("Content-Type", "text/plain; charset=utf-8")
        .send_string("");
    let reply = match reply {
        Ok(r) => r,
        Err(ureq::Error::Status(code, _)) => return Err(format!("{url} answered {code}")),
        Err(e) => return Err(format!("{url} could not be reached: {e}")),
    };
    if reply.status() != 200 {
        return Err(format!("{url} answered {} instead of 200", reply.status()));
    }
    if !reply.content_type().eq_ignore_ascii_case("text/plain") {
        log::warn!(
            "validation reply from {url} has Content-Type {:?}; Graph expects text/plain",
            reply.content_type()
        );
    }
    let mut body = Vec::new();
    if let Err(e) = reply
        .into_reader()
        .take(MAX_REPLY_BYTES)
        .read_to_end(&mut body)
    {
        return Err(format!("reading the reply of {url} failed: {e}"));
    }
    if body != token.as_bytes() {
        return Err(format!("{url} did not echo the validation token"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_percent_encoded() {
        assert_eq!(
            percent_encode("a b:c/d?e&f=g+h~"),
            "a%20b%3Ac%2Fd%3Fe%26f%3Dg%2Bh~"
        );
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn token_goes_into_the_query() {
        assert_eq!(
            validation_url("http://h/x", "a b"),
            "http://h/x?validationToken=a%20b"
        );
        assert_eq!(
            validation_url("http://h/x?k=1", "t"),
            "http://h/x?k=1&validationToken=t"
        );
        assert_eq!(
            validation_url("http://h/x#frag", "t"),
            "http://h/x?validationToken=t"
        );
    }
}
