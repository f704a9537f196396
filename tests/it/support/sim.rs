//! Helpers shared by the simulator's integration tests: a small ureq client.

use std::time::Duration;

use m365sync_sim::{SimConfig, Simulator};
use serde_json::Value;

/// A response as the tests look at it.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP client bound to one simulator, with a bearer token.
pub struct Client {
    pub agent: ureq::Agent,
    pub token: String,
}

pub fn small_config() -> SimConfig {
    SimConfig {
        threads: 2,
        ..SimConfig::default()
    }
}

pub fn agent() -> ureq::Agent {
    // Generous hang guard only; no test asserts on timing.
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .redirects(0)
        .build()
}

fn into_reply(r: ureq::Response) -> Reply {
    let status = r.status();
    let headers = r
        .headers_names()
        .into_iter()
        .flat_map(|n| {
            r.all(&n)
                .into_iter()
                .map(|v| (n.clone(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut body).expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

/// Sends a request; HTTP error statuses are returned, transport errors are `Err`.
pub fn send(req: ureq::Request, body: Option<&[u8]>) -> Result<Reply, Box<ureq::Error>> {
    let result = match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    };
    match result {
        Ok(r) => Ok(into_reply(r)),
        Err(ureq::Error::Status(_, r)) => Ok(into_reply(r)),
        Err(e) => Err(Box::new(e)),
    }
}

pub fn fetch_token(agent: &ureq::Agent, sim: &Simulator) -> String {
    let url = format!("{}/{}/oauth2/v2.0/token", sim.login_url(), sim.tenant_id());
    let form = format!(
        "client_id={}&client_secret={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&grant_type=client_credentials",
        sim.client_id(),
        sim.client_secret()
    );
    let r = send(
        agent
            .post(&url)
            .set("Content-Type", "application/x-www-form-urlencoded"),
        Some(form.as_bytes()),
    )
    .expect("token request");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

impl Client {
    pub fn new(sim: &Simulator) -> Client {
        let agent = agent();
        let token = fetch_token(&agent, sim);
        Client { agent, token }
    }

    /// GET with the bearer token and extra headers.
    pub fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self
            .agent
            .get(url)
            .set("Authorization", &format!("Bearer {}", self.token));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        send(req, None).expect("transport")
    }

    pub fn get(&self, url: &str) -> Reply {
        self.get_with(url, &[])
    }

    /// Follows nextLinks to the deltaLink; returns every item and the deltaLink.
    pub fn delta_all(&self, first: &str, headers: &[(&str, &str)]) -> (Vec<Value>, String, usize) {
        let mut url = first.to_string();
        let mut items = Vec::new();
        let mut pages = 0;
        loop {
            let r = self.get_with(&url, headers);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let v = r.json();
            pages += 1;
            items.extend(v["value"].as_array().expect("value").iter().cloned());
            match (
                v["@odata.nextLink"].as_str(),
                v["@odata.deltaLink"].as_str(),
            ) {
                (Some(next), None) => url = next.to_string(),
                (None, Some(delta)) => return (items, delta.to_string(), pages),
                other => panic!("a page needs exactly one link, got {other:?}"),
            }
        }
    }
}

/// POST/PATCH/DELETE on the control API with a JSON body.
pub fn control(sim: &Simulator, method: &str, path: &str, body: Option<Value>) -> Reply {
    let req = agent().request(method, &format!("{}{path}", sim.url()));
    let bytes = body.map(|b| b.to_string().into_bytes());
    send(req, bytes.as_deref()).expect("transport")
}

/// Decodes `%XX` escapes and `+` of a query value (malformed escapes kept as sent).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// ISO-8601 UTC `secs` seconds from now, as Graph writes `expirationDateTime`.
pub fn iso_in(secs: i64) -> String {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs);
    at.strftime("%Y-%m-%dT%H:%M:%S%.7fZ").to_string()
}
