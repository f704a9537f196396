//! What the network tests share: a forward HTTP proxy (CONNECT tunnels for HTTPS,
//! absolute-form requests for plain HTTP, one request per connection) that records
//! what it was asked for, and a self-signed certificate for 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread;

use parking_lot::Mutex;

/// A running proxy on 127.0.0.1 (its threads end with the test process).
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    /// Starts the proxy.
    pub fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = log.clone();
                thread::spawn(move || serve(client, &log));
            }
        });
        Proxy { url, seen }
    }

    /// What clients asked for: `CONNECT host:port`, or `GET http://host:port/path`.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().clone()
    }
}

fn serve(client: TcpStream, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().expect("clone the socket"));
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let end = line == "\r\n";
        head.push(line);
        if end {
            break;
        }
    }
    let request_line = head[0].trim_end().to_string();
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    log.lock().push(format!("{method} {target}"));
    let mut client = client;
    if method == "CONNECT" {
        let Ok(upstream) = TcpStream::connect(target) else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
            return;
        };
        let _ = client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n");
        return pipe(reader, client, upstream);
    }
    // Absolute form: forward in origin form, asking the server to close afterwards so
    // that every request comes through here on its own connection.
    let rest = target.strip_prefix("http://").unwrap_or(target);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut upstream) = TcpStream::connect(authority) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let path = if path.is_empty() { "/" } else { path };
    let mut forwarded = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for line in &head[1..] {
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        if name != "connection" && name != "proxy-connection" {
            forwarded.push_str(line);
        }
    }
    if upstream.write_all(forwarded.as_bytes()).is_err() {
        return;
    }
    pipe(reader, client, upstream);
}

/// Copies both ways until either side closes (`from_client` may hold buffered bytes).
fn pipe(mut from_client: BufReader<TcpStream>, mut client: TcpStream, upstream: TcpStream) {
    let mut to_upstream = upstream.try_clone().expect("clone the socket");
    let up = thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_upstream);
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    let mut from_upstream = upstream;
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from_upstream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if client.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = up.join();
}

/// A self-signed certificate for 127.0.0.1 and its key, made with the openssl CLI.
pub fn make_certificate(dir: &Path) -> (String, String) {
    let path = |name: &str| dir.join(name).display().to_string();
    let (cert, key) = (path("cert.pem"), path("key.pem"));
    self_signed(
        dir,
        "/CN=127.0.0.1",
        &["-addext", "subjectAltName=IP:127.0.0.1"],
        &key,
        &cert,
    );
    (cert, key)
}

/// A self-signed certificate for `subject` (with `extra` arguments of `openssl req`),
/// valid for a day, written to `cert` with its unencrypted key in `key`.
fn self_signed(dir: &Path, subject: &str, extra: &[&str], key: &str, cert: &str) {
    let mut args = vec![
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", subject,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-keyout", key, "-out", cert]);
    openssl(dir, &args);
}

/// Runs openssl with `args` in `dir`; returns its standard output, or panics with its
/// standard error when it fails.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is needed by this test (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A CA, and a certificate for 127.0.0.1 it signed with its key: (CA file, certificate
/// file, key file). Unlike [`make_certificate`]'s, the certificate is no CA itself, as
/// webpki requires of a server's.
pub fn make_ca_and_certificate(dir: &Path) -> (String, String, String) {
    let path = |name: &str| dir.join(name).display().to_string();
    let (ca, ca_key, csr, cert, key, ext) = (
        path("ca.pem"),
        path("ca.key"),
        path("leaf.csr"),
        path("leaf.pem"),
        path("leaf.key"),
        path("leaf.ext"),
    );
    self_signed(dir, "/CN=m365sync test CA", &[], &ca_key, &ca);
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    );
    (ca, cert, key)
}

/// Writes the PEM files `parts` one after the other into `out` (a certificate and its
/// key in one file, as `client_certificate_file` takes them) and returns `out`.
pub fn concat_pem(out: PathBuf, parts: &[&Path]) -> PathBuf {
    let text: String = parts
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("a PEM file"))
        .collect();
    std::fs::write(&out, text).expect("write the PEM file");
    out
}
