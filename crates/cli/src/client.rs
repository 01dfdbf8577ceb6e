//! The transport: HTTP/1.1 over berthd's unix socket (or a `tcp://` address, plain HTTP),
//! written by hand on a blocking `std::os::unix::net::UnixStream` / `std::net::TcpStream`.
//!
//! Why not hyper: the CLI makes one or two requests per run, and a tokio runtime plus
//! hyper's connection machinery cost more to start than the round trips themselves (the
//! issue asks for `berth version` to be several times faster than `docker version`). The
//! protocol surface we need is small: requests with a JSON body, responses framed by
//! `Content-Length`, chunked encoding or connection close, and the `Upgrade: tcp`
//! hijack for attach and exec.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The newest API version this client speaks; lower if the daemon says so.
pub const CLIENT_API_VERSION: &str = "1.45";

/// An error answer from the daemon; printed as docker does.
#[derive(Debug)]
pub struct DaemonError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for DaemonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Error response from daemon: {}", self.message)
    }
}

impl std::error::Error for DaemonError {}

/// An error reported inside a progress stream (pull); docker prints it as it is.
#[derive(Debug)]
pub struct StreamError(pub String);

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StreamError {}

/// Cannot reach the daemon at all (docker's wording, so scripts matching it keep working).
#[derive(Debug)]
pub struct ConnectError {
    pub host: String,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Cannot connect to the Berth daemon at {}. Is the berth daemon running?",
            self.host
        )
    }
}

impl std::error::Error for ConnectError {}

pub struct Client {
    pub endpoint: Endpoint,
    pub host: String,
    /// `/v1.NN` once negotiated.
    prefix: std::cell::RefCell<String>,
    api_version: std::cell::RefCell<String>,
    /// The version is our own until the daemon refuses it (then `/_ping` negotiates):
    /// one round trip fewer per command against any daemon that speaks ours.
    optimistic: std::cell::Cell<bool>,
    /// The ping's connection, kept open for the command's first request: one connect
    /// and one server-side accept fewer per invocation.
    idle: std::cell::RefCell<Option<BufReader<Conn>>>,
}

impl Clone for Client {
    fn clone(&self) -> Client {
        Client {
            endpoint: self.endpoint.clone(),
            host: self.host.clone(),
            prefix: self.prefix.clone(),
            api_version: self.api_version.clone(),
            optimistic: std::cell::Cell::new(false),
            idle: std::cell::RefCell::new(None),
        }
    }
}

/// Where berthd answers: a unix socket, or a TCP address (`HOST:PORT`, plain HTTP).
#[derive(Clone, Debug, PartialEq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

/// One connection to berthd.
#[derive(Debug)]
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    pub fn try_clone(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
        })
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.shutdown(how),
            Conn::Tcp(s) => s.shutdown(how),
        }
    }
}

impl std::os::fd::AsFd for Conn {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Conn::Unix(s) => s.as_fd(),
            Conn::Tcp(s) => s.as_fd(),
        }
    }
}

impl Read for &Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => (&*s).read(buf),
            Conn::Tcp(s) => (&*s).read(buf),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for &Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => (&*s).write(buf),
            Conn::Tcp(s) => (&*s).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A response whose body is read lazily (logs -f, pull progress stream).
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Box<dyn Read + Send>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn bytes(mut self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.body.read_to_end(&mut v).context("reading response")?;
        Ok(v)
    }

    pub fn json(self) -> Result<Value> {
        let b = self.bytes()?;
        if b.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&b).context("decoding the daemon's JSON")
    }

    /// Turns a non-2xx answer into a [`DaemonError`].
    pub fn check(self) -> Result<Response> {
        if (200..300).contains(&self.status) || self.status == 101 || self.status == 304 {
            return Ok(self);
        }
        let status = self.status;
        let b = self.bytes().unwrap_or_default();
        let message = serde_json::from_slice::<Value>(&b)
            .ok()
            // (trimmed, as docker's client trims it)
            .and_then(|v| {
                v.get("message")
                    .and_then(Value::as_str)
                    .map(|m| m.trim().to_owned())
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&b).trim().to_owned());
        Err(DaemonError { status, message }.into())
    }
}

/// Percent-encodes a query value.
/// The docker client's own check of a container, network or volume name in a request
/// path: an empty (or blank) one is refused before anything is sent, in its words.
fn check_object_id(path: &str) -> Result<()> {
    // (an image's inspect with no name: docker's client answers "not found" itself)
    if path == "/images//json" || path.starts_with("/images//json?") {
        return Err(StreamError("Error: No such image: ".into()).into());
    }
    for (prefix, kind) in [
        ("/containers/", "container"),
        ("/networks/", "network"),
        ("/volumes/", "volume"),
    ] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let id = rest.split(['/', '?']).next().unwrap_or("");
            check_name(kind, &id.replace("%20", " ").replace("%09", "\t"))?;
        }
    }
    Ok(())
}

/// A `kind` (container, network, volume) name the docker client refuses: empty or blank.
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(StreamError(format!("invalid {kind} name or ID: value is empty")).into());
    }
    Ok(())
}

pub fn enc(s: &str) -> String {
    escape(s, false)
}

/// Go's url.QueryEscape (what docker's client sends): [`enc`], but a space is `+`.
pub fn query_escape(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, space_plus: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' if space_plus => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Client {
    pub fn new(endpoint: Endpoint, host: String) -> Client {
        Client {
            endpoint,
            host,
            prefix: std::cell::RefCell::new(String::new()),
            api_version: std::cell::RefCell::new(CLIENT_API_VERSION.to_owned()),
            optimistic: std::cell::Cell::new(false),
            idle: std::cell::RefCell::new(None),
        }
    }

    pub fn connect(&self) -> Result<Conn> {
        let c = match &self.endpoint {
            Endpoint::Unix(p) => UnixStream::connect(p).map(Conn::Unix),
            Endpoint::Tcp(a) => TcpStream::connect(a.as_str()).map(|s| {
                // Requests are small and each one is awaited: no Nagle delay.
                let _ = s.set_nodelay(true);
                Conn::Tcp(s)
            }),
        };
        c.map_err(|_| {
            ConnectError {
                host: self.host.clone(),
            }
            .into()
        })
    }

    pub fn api_version(&self) -> String {
        self.api_version.borrow().clone()
    }

    /// Refuses a flag that needs a newer API than the daemon's, in docker's words and
    /// with its status 1 (docker 28 hides such flags from help, too).
    pub fn require_api(&self, flag: &str, min: &str) -> Result<()> {
        let v = self.api_version();
        if version_lt(&v, min) {
            eprintln!(
                "\"{flag}\" requires API version {min}, but the Docker daemon API version is {v}"
            );
            return Err(crate::Exit(1).into());
        }
        Ok(())
    }

    /// Connects (so a missing daemon shows now) and keeps the connection for the first
    /// request, which goes out with our API version (or DOCKER_API_VERSION's); a daemon
    /// that refuses it makes [`Client::raw`] negotiate with `/_ping` and retry.
    pub fn negotiate(&mut self) -> Result<()> {
        let s = self.connect()?;
        *self.idle.borrow_mut() = Some(BufReader::new(s));
        if let Ok(pinned) = std::env::var("DOCKER_API_VERSION")
            && !pinned.is_empty()
        {
            *self.api_version.borrow_mut() = pinned.trim_start_matches('v').to_owned();
        } else {
            self.optimistic.set(true);
        }
        *self.prefix.borrow_mut() = format!("/v{}", self.api_version.borrow());
        Ok(())
    }

    /// Settles the API version now (a `/_ping` if it is still our optimistic guess), so
    /// clones made for parallel requests share it.
    pub fn settle_version(&self) -> Result<()> {
        if self.optimistic.replace(false) {
            // (the connection kept for the first request is closed: the ping has its own)
            drop(self.idle.borrow_mut().take());
            self.ping_negotiate()?;
        }
        Ok(())
    }

    /// `GET /_ping`: the daemon's `API-Version` caps ours (docker's negotiation).
    fn ping_negotiate(&self) -> Result<()> {
        *self.prefix.borrow_mut() = String::new();
        let mut s = self.connect()?;
        self.write_request(
            &mut s,
            "GET",
            "/_ping",
            None,
            &[("Connection", "keep-alive")],
        )?;
        let mut r = BufReader::new(s);
        let (status, headers) = read_head(&mut r)?;
        let len = header_len(&headers);
        let theirs = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
            .map(|(_, v)| v.clone());
        let mut body = vec![0u8; len.unwrap_or(0) as usize];
        r.read_exact(&mut body)
            .context("reading the daemon's ping")?;
        if !(200..300).contains(&status) {
            let body = Box::new(io::Cursor::new(body));
            Response {
                status,
                headers: headers.clone(),
                body,
            }
            .check()?;
        }
        let closes = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
        if len.is_some() && !closes {
            *self.idle.borrow_mut() = Some(r);
        }
        if let Some(v) = theirs
            && version_lt(&v, CLIENT_API_VERSION)
        {
            *self.api_version.borrow_mut() = v;
        }
        *self.prefix.borrow_mut() = format!("/v{}", self.api_version.borrow());
        Ok(())
    }

    /// A request's head up to its body's headers: request line, host, agent, `extra`,
    /// and `Connection: close` unless `extra` says otherwise.
    fn head(&self, method: &str, path: &str, extra: &[(&str, &str)]) -> String {
        let mut req = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: api\r\nUser-Agent: berth/{}\r\n",
            self.prefix.borrow(),
            env!("CARGO_PKG_VERSION")
        );
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !extra
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("connection"))
        {
            req.push_str("Connection: close\r\n");
        }
        req
    }

    fn write_request(
        &self,
        s: &mut Conn,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        extra: &[(&str, &str)],
    ) -> Result<()> {
        let mut req = self.head(method, path, extra);
        match body {
            Some(b) => {
                if !extra
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                {
                    req.push_str("Content-Type: application/json\r\n");
                }
                req.push_str(&format!("Content-Length: {}\r\n\r\n", b.len()));
                let mut buf = req.into_bytes();
                buf.extend_from_slice(b);
                s.write_all(&buf)?;
            }
            None => {
                if method == "POST" || method == "PUT" {
                    req.push_str("Content-Length: 0\r\n");
                }
                req.push_str("\r\n");
                s.write_all(req.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Sends a request and reads the answer's head: on the ping's idle connection when
    /// there is one (a fresh one if the daemon had closed it before reading anything),
    /// else on a new connection.
    #[allow(clippy::type_complexity)]
    fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        extra: &[(&str, &str)],
    ) -> Result<(BufReader<Conn>, u16, Vec<(String, String)>)> {
        if let Some(mut r) = self.idle.borrow_mut().take()
            && self
                .write_request(r.get_mut(), method, path, body, extra)
                .is_ok()
            && let Ok((status, headers)) = read_head(&mut r)
        {
            return Ok((r, status, headers));
        }
        let mut s = self.connect()?;
        self.write_request(&mut s, method, path, body, extra)?;
        let mut r = BufReader::new(s);
        let (status, headers) = read_head(&mut r)?;
        Ok((r, status, headers))
    }

    /// One request (the body is streamed).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        extra: &[(&str, &str)],
    ) -> Result<Response> {
        check_object_id(path)?;
        let (mut r, status, headers) = self.exchange(method, path, body, extra)?;
        // (a HEAD answer has no body to read, whatever its Content-Length says)
        if self.optimistic.replace(false) && status == 400 && method != "HEAD" {
            let mut b = vec![0u8; header_len(&headers).unwrap_or(0) as usize];
            r.read_exact(&mut b)?;
            if String::from_utf8_lossy(&b).contains("is too new") {
                self.ping_negotiate()?;
                return self.raw(method, path, body, extra);
            }
            return Ok(Response {
                status,
                headers,
                body: Box::new(io::Cursor::new(b)),
            });
        }
        Ok(response(r, method, status, headers))
    }

    /// A POST whose body is streamed (`Transfer-Encoding: chunked`, as docker sends a
    /// build context) as `body` yields it. The API version is settled first: a stream
    /// cannot be sent twice. A daemon that answers before reading it all (a refusal)
    /// is heard: its answer is returned.
    pub fn post_stream(
        &self,
        path: &str,
        body: &mut dyn Read,
        extra: &[(&str, &str)],
    ) -> Result<Response> {
        self.settle_version()?;
        let idle = self.idle.borrow_mut().take();
        let s = match idle {
            Some(r) if r.buffer().is_empty() => r.into_inner(),
            _ => self.connect()?,
        };
        let mut req = self.head("POST", path, extra);
        req.push_str("Transfer-Encoding: chunked\r\n\r\n");
        // (send(2) with MSG_NOSIGNAL: a daemon that hangs up must not kill us with SIGPIPE)
        let send = |mut b: &[u8]| -> io::Result<()> {
            while !b.is_empty() {
                let n = rustix::net::send(&s, b, rustix::net::SendFlags::NOSIGNAL)?;
                b = &b[n..];
            }
            Ok(())
        };
        let mut sent = send(req.as_bytes());
        let mut buf = vec![0u8; 64 * 1024];
        while sent.is_ok() {
            let n = match body.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("reading the request body"),
            };
            let mut chunk = format!("{n:x}\r\n").into_bytes();
            chunk.extend_from_slice(&buf[..n]);
            chunk.extend_from_slice(b"\r\n");
            if n == 0 {
                chunk.extend_from_slice(b"\r\n");
            }
            sent = send(&chunk);
            if n == 0 {
                break;
            }
        }
        let mut r = BufReader::new(s);
        match read_head(&mut r) {
            Ok((status, headers)) => Ok(response(r, "POST", status, headers)),
            Err(e) => Err(sent.err().map(anyhow::Error::from).unwrap_or(e)),
        }
    }

    pub fn get(&self, path: &str) -> Result<Response> {
        self.raw("GET", path, None, &[])?.check()
    }

    pub fn get_json(&self, path: &str) -> Result<Value> {
        self.get(path)?.json()
    }

    pub fn post(&self, path: &str, body: Option<&Value>) -> Result<Response> {
        let b = body.map(|v| serde_json::to_vec(v).unwrap_or_default());
        self.raw("POST", path, b.as_deref(), &[])?.check()
    }

    pub fn post_json(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        self.post(path, body)?.json()
    }

    pub fn delete(&self, path: &str) -> Result<()> {
        self.raw("DELETE", path, None, &[])?.check()?.bytes()?;
        Ok(())
    }

    /// Hijacks a connection (`Upgrade: tcp`): on success the socket is a raw byte pipe,
    /// plus whatever bytes the reader had already buffered past the header.
    pub fn hijack(&self, path: &str, body: Option<&Value>) -> Result<(Conn, Vec<u8>)> {
        check_object_id(path)?;
        let mut s = self.connect()?;
        let b = body.map(|v| serde_json::to_vec(v).unwrap_or_default());
        self.write_request(
            &mut s,
            "POST",
            path,
            b.as_deref(),
            &[("Connection", "Upgrade"), ("Upgrade", "tcp")],
        )?;
        let mut r = BufReader::new(s.try_clone()?);
        let (status, headers) = read_head(&mut r)?;
        if status != 101 && !(200..300).contains(&status) {
            let len = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<u64>().ok());
            let body: Box<dyn Read + Send> = match len {
                Some(n) => Box::new(r.take(n)),
                None => Box::new(r),
            };
            Response {
                status,
                headers,
                body,
            }
            .check()?;
            bail!("unexpected status {status} for {path}");
        }
        let pending = r.buffer().to_vec();
        Ok((s, pending))
    }
}

/// The answer whose head was read from `r`, its body framed as the head says.
fn response(
    r: BufReader<Conn>,
    method: &str,
    status: u16,
    headers: Vec<(String, String)>,
) -> Response {
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let len = header_len(&headers);
    let body: Box<dyn Read + Send> = if method == "HEAD" || status == 204 || status == 304 {
        Box::new(io::empty())
    } else if chunked {
        Box::new(Chunked {
            r,
            left: 0,
            done: false,
        })
    } else if let Some(n) = len {
        Box::new(r.take(n))
    } else {
        Box::new(r)
    };
    Response {
        status,
        headers,
        body,
    }
}

fn header_len(headers: &[(String, String)]) -> Option<u64> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<u64>().ok())
}

/// Compares dotted API versions numerically.
pub fn version_lt(a: &str, b: &str) -> bool {
    let p = |s: &str| -> Vec<u32> { s.split('.').map(|x| x.parse().unwrap_or(0)).collect() };
    p(a) < p(b)
}

fn read_head<R: BufRead>(r: &mut R) -> Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    r.read_line(&mut line)
        .context("reading the daemon's answer")?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("malformed status line from daemon: {line:?}"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            break;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    Ok((status, headers))
}

/// `Transfer-Encoding: chunked` decoder that yields data as it arrives.
struct Chunked<R> {
    r: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            if self.r.read_line(&mut line)? == 0 {
                self.done = true;
                return Ok(0);
            }
            let hex = line.trim().split(';').next().unwrap_or("");
            let n = usize::from_str_radix(hex, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if n == 0 {
                self.done = true;
                return Ok(0);
            }
            self.left = n;
        }
        let want = buf.len().min(self.left);
        let got = self.r.read(&mut buf[..want])?;
        if got == 0 {
            self.done = true;
            return Ok(0);
        }
        self.left -= got;
        if self.left == 0 {
            let mut crlf = String::new();
            self.r.read_line(&mut crlf)?;
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_body_is_reassembled() {
        let raw = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let mut c = Chunked {
            r: &raw[..],
            left: 0,
            done: false,
        };
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello world");
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_lt("1.9", "1.45"));
        assert!(!version_lt("1.45", "1.45"));
        assert!(version_lt("1.44", "1.45"));
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(
            enc("{\"a\":[\"b c\"]}"),
            "%7B%22a%22%3A%5B%22b%20c%22%5D%7D"
        );
    }
}
