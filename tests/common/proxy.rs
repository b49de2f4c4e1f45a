//! A fault-injecting HTTP proxy to put in front of the real registry:
//! corrupted bytes, short bodies, connections dropped mid-body (of the
//! answer or of the request), error statuses, slow answers and redirects to
//! another host. It forwards `Content-Length` request bodies (uploads) and
//! logs every request so tests can check what the client sent (`Range`,
//! `Content-Range`, `Authorization`).

use super::http::{self, Server};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Fault {
    /// Flip the body byte at `offset`.
    Corrupt { offset: usize },
    /// Answer with only the first `bytes` of the body, announced as the
    /// whole (`Content-Length: bytes`).
    Truncate { bytes: usize },
    /// Announce the whole body, send `bytes` of it, drop the connection.
    Drop { bytes: usize },
    /// Answer with `code` instead of forwarding.
    Status { code: u16, retry_after: Option<u32> },
    /// Wait `delay` before answering, then send the body in `chunk`-byte
    /// pieces `pause` apart.
    Slow {
        delay: Duration,
        chunk: usize,
        pause: Duration,
    },
    /// Answer authenticated requests with a 307 to the same path on `to`
    /// (`host:port`), as Docker Hub sends blob downloads to its CDN.
    Redirect { to: String },
    /// Forward the request with only the first `bytes` of its body, then
    /// drop both connections once the registry has dealt with it: the
    /// registry keeps part of an upload chunk and the client never hears
    /// back. Applies only to requests with a longer body.
    DropRequest { bytes: usize },
    /// Forward the request without its query: a mount (`POST
    /// blobs/uploads/?mount=&from=`) becomes a plain upload start, which
    /// is how a registry answers a mount it will not do.
    DropQuery,
    /// Forward the request without its `Range` header: a server that
    /// ignores ranges answers 200 with the whole blob.
    IgnoreRange,
}

struct Rule {
    path_contains: String,
    fault: Fault,
    /// Matching requests still to let through untouched.
    skip: usize,
    remaining: usize,
}

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub target: String,
    pub range: Option<String>,
    pub content_range: Option<String>,
    pub authorization: Option<String>,
    pub fault: Option<Fault>,
}

pub struct Proxy {
    server: Server,
    rules: Arc<Mutex<Vec<Rule>>>,
    log: Arc<Mutex<Vec<Logged>>>,
    /// Each answer's target and the body bytes written to the client.
    served: Arc<Mutex<Vec<(String, u64)>>>,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Proxy {
        Proxy::start_with_auth(upstream, None)
    }

    /// A proxy that adds its own `Authorization` upstream: a stand-in for
    /// a CDN, which serves blobs without the registry's credentials.
    pub fn start_with_auth(upstream: &str, authorization: Option<String>) -> Proxy {
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let log: Arc<Mutex<Vec<Logged>>> = Arc::default();
        let served: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
        let upstream = upstream.to_string();
        let (r, l, b) = (rules.clone(), log.clone(), served.clone());
        let server = Server::start(move |client| {
            handle(client, &upstream, authorization.as_deref(), &r, &l, &b);
        });
        Proxy {
            server,
            rules,
            log,
            served,
        }
    }

    pub fn addr(&self) -> String {
        self.server.addr()
    }

    /// Applies `fault` to the next `times` requests whose path contains
    /// `path_contains`.
    pub fn add(&self, path_contains: &str, times: usize, fault: Fault) {
        self.add_after(path_contains, 0, times, fault);
    }

    /// Like [`Proxy::add`], once `skip` such requests have gone through
    /// untouched (the second chunk of an upload).
    pub fn add_after(&self, path_contains: &str, skip: usize, times: usize, fault: Fault) {
        self.rules.lock().unwrap().push(Rule {
            path_contains: path_contains.to_string(),
            fault,
            skip,
            remaining: times,
        });
    }

    pub fn log(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }

    /// The body bytes written in each answer, once it is over, to
    /// requests whose path contains `path_contains`.
    pub fn served(&self, path_contains: &str) -> Vec<u64> {
        self.served
            .lock()
            .unwrap()
            .iter()
            .filter(|(target, _)| target.contains(path_contains))
            .map(|(_, bytes)| *bytes)
            .collect()
    }
}

fn handle(
    mut client: TcpStream,
    upstream: &str,
    authorization: Option<&str>,
    rules: &Mutex<Vec<Rule>>,
    log: &Mutex<Vec<Logged>>,
    served: &Mutex<Vec<(String, u64)>>,
) {
    let Some(request) = http::accept_request(&client) else {
        return;
    };
    let client_auth = request.header("authorization").map(str::to_string);
    let authorization = authorization.or(client_auth.as_deref());
    let fault = {
        let mut rules = rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|rule| {
                rule.remaining > 0
                    && request.target.contains(&rule.path_contains)
                    && match rule.fault {
                        Fault::Redirect { .. } => client_auth.is_some(),
                        Fault::DropRequest { bytes } => request.body.len() > bytes,
                        _ => true,
                    }
            })
            .and_then(|rule| {
                if rule.skip > 0 {
                    rule.skip -= 1;
                    return None;
                }
                rule.remaining -= 1;
                Some(rule.fault.clone())
            })
    };
    log.lock().unwrap().push(Logged {
        method: request.method.clone(),
        target: request.target.clone(),
        range: request.header("range").map(str::to_string),
        content_range: request.header("content-range").map(str::to_string),
        authorization: client_auth.clone(),
        fault: fault.clone(),
    });
    match &fault {
        Some(Fault::Status { code, retry_after }) => {
            let mut headers = vec![("Content-Type", "application/json".to_string())];
            if let Some(seconds) = retry_after {
                headers.push(("Retry-After", seconds.to_string()));
            }
            let body = br#"{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}"#;
            http::respond(&mut client, &format!("{code} Injected"), &headers, body);
            return;
        }
        Some(Fault::Redirect { to }) => {
            let location = format!("http://{to}{}", request.target);
            http::respond(
                &mut client,
                "307 Temporary Redirect",
                &[("Location", location)],
                b"",
            );
            return;
        }
        Some(Fault::DropRequest { bytes }) => {
            let partial = &request.body[..*bytes];
            if let Some(stream) = send(&request, upstream, authorization, partial) {
                // Half-closed, the registry sees the body end early; its
                // answer (or hang-up) says it is done with the partial
                // chunk. Then `client` drops unanswered.
                let _ = stream.shutdown(std::net::Shutdown::Write);
                let _ = std::io::copy(&mut &stream, &mut std::io::sink());
            }
            return;
        }
        Some(Fault::Slow { delay, .. }) => std::thread::sleep(*delay),
        _ => {}
    }
    let mut request = request;
    match &fault {
        Some(Fault::DropQuery) => {
            let path = request.target.split('?').next().unwrap_or("/").to_string();
            request.target = path;
        }
        Some(Fault::IgnoreRange) => {
            request
                .headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("range"));
        }
        _ => {}
    }
    let Some(Answer {
        status,
        headers,
        mut body,
    }) = send(&request, upstream, authorization, &request.body)
        .and_then(|stream| read_answer(stream, &request.method))
    else {
        return;
    };
    let mut announced = body.len();
    match &fault {
        Some(Fault::Corrupt { offset }) if *offset < body.len() => body[*offset] ^= 0xff,
        Some(Fault::Truncate { bytes }) => {
            body.truncate(*bytes);
            announced = body.len();
        }
        Some(Fault::Drop { bytes }) => body.truncate(*bytes),
        _ => {}
    }
    let mut head = format!("{status}\r\nContent-Length: {announced}\r\nConnection: close\r\n");
    for (k, v) in &headers {
        if !["content-length", "connection", "transfer-encoding"]
            .contains(&k.to_ascii_lowercase().as_str())
        {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    if client.write_all(head.as_bytes()).is_err() {
        return;
    }
    let (chunk, pause) = match &fault {
        Some(Fault::Slow { chunk, pause, .. }) => ((*chunk).max(1), *pause),
        _ => (body.len().max(1), Duration::ZERO),
    };
    let mut written = 0;
    for piece in body.chunks(chunk) {
        if client.write_all(piece).is_err() {
            break;
        }
        written += piece.len() as u64;
        std::thread::sleep(pause);
    }
    served
        .lock()
        .unwrap()
        .push((request.target.clone(), written));
    let _ = client.flush();
    // Dropping `client` closes the connection, mid-body for `Drop`.
}

/// An upstream answer: status line, headers, whole body.
struct Answer {
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Sends the request upstream with `body` (all or part of its own).
fn send(
    request: &http::Request,
    upstream: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(upstream).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nConnection: close\r\n",
        request.method, request.target
    );
    // The client's `Host` goes along: the registry builds upload
    // `Location`s from it, and they must lead back through the proxy.
    for (k, v) in &request.headers {
        let lower = k.to_ascii_lowercase();
        if lower != "connection" && lower != "authorization" {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if let Some(auth) = authorization {
        head.push_str(&format!("Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    // A registry may answer before reading the body (a refused upload)
    // and close: that answer is still read and relayed.
    let _ = stream.write_all(body);
    Some(stream)
}

/// Reads the whole upstream answer to a `method` request.
fn read_answer(stream: TcpStream, method: &str) -> Option<Answer> {
    let mut reader = BufReader::new(stream);
    let (status, headers) = http::read_head(&mut reader)?;
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let mut body = Vec::new();
    if method == "HEAD" {
        // No body follows a HEAD answer.
    } else if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            if size == 0 {
                break;
            }
            let mut piece = vec![0; size + 2];
            reader.read_exact(&mut piece).ok()?;
            body.extend_from_slice(&piece[..size]);
        }
    } else {
        reader.read_to_end(&mut body).ok()?;
    }
    Some(Answer {
        status,
        headers,
        body,
    })
}
