//! Hijacked streams: container attach and exec start. The HTTP connection is upgraded
//! (`Upgrade: tcp` → 101) and becomes a raw byte pipe to the shim's attach stream; a
//! client that does not ask for the upgrade gets a plain 200 with the output only.
//!
//! The shim always sends Docker's multiplexed frames; for a tty they are unwrapped, as
//! Docker sends raw bytes then. A half-close from the client (stdin EOF) is passed on
//! for non-tty streams only; with a tty the terminal's input stays open (detach).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::{AttachHandle, Engine};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::containers::flag;
use crate::error::{ApiError, ApiResult};

fn wants_upgrade(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"))
}

fn upgrade_response(tty: bool) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(header::CONTENT_TYPE, stream_type(tty));
    r
}

/// The stream's media type, as dockerd names it: raw bytes with a terminal, Docker's
/// multiplexed frames without.
fn stream_type(tty: bool) -> HeaderValue {
    HeaderValue::from_static(if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    })
}

/// A 200 whose body is the stream (for a client that did not ask for the upgrade).
fn stream_response(mut rx: tokio::sync::mpsc::Receiver<Bytes>, tty: bool) -> Response {
    let s = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let s = futures_util::StreamExt::map(s, Ok::<_, std::io::Error>);
    let mut r = Body::from_stream(s).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, stream_type(tty));
    r
}

/// Reads one frame: (stream, payload); None at a clean end.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 8];
    r.read_exact(&mut h).await.ok()?;
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await.ok()?;
    Some((h[0], buf))
}

/// Ctrl-P Ctrl-Q (or `--detach-keys`) seen in a tty's input ends the attach, not the
/// container. Returns the bytes to forward and whether the sequence completed.
pub(crate) struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    pub(crate) fn new(spec: Option<&str>) -> DetachScanner {
        let keys = spec
            .and_then(parse_detach_keys)
            .unwrap_or_else(|| vec![0x10, 0x11]);
        DetachScanner { keys, matched: 0 }
    }

    pub(crate) fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// Docker's detach-key syntax: `ctrl-p,ctrl-q`, `a,b`.
fn parse_detach_keys(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for k in s.split(',') {
        let k = k.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let c = c.as_bytes();
            if c.len() != 1 {
                return None;
            }
            let v = match c[0] {
                b'a'..=b'z' => c[0] - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return None,
            };
            out.push(v);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Feeds the client's input chunks to the shim's stdin until the client ends them (then,
/// without a terminal, stdin is closed) or types the detach keys in a terminal (then
/// `detached` fires). With `stdin` off the input is read and dropped.
pub(crate) async fn pump_stdin<S, B>(
    mut chunks: S,
    mut sw: tokio::net::unix::OwnedWriteHalf,
    tty: bool,
    stdin: bool,
    detach_keys: Option<String>,
    detached: tokio::sync::oneshot::Sender<()>,
) where
    S: futures_util::Stream<Item = B> + Unpin,
    B: AsRef<[u8]>,
{
    let mut scanner = tty.then(|| DetachScanner::new(detach_keys.as_deref()));
    while let Some(chunk) = futures_util::StreamExt::next(&mut chunks).await {
        if !stdin {
            continue;
        }
        let (data, done) = match scanner.as_mut() {
            Some(s) => s.feed(chunk.as_ref()),
            None => (chunk.as_ref().to_vec(), false),
        };
        if !data.is_empty() && sw.write_all(&data).await.is_err() {
            break;
        }
        if done {
            let _ = detached.send(());
            return;
        }
    }
    if stdin && !tty {
        let _ = sw.shutdown().await;
    }
    // With a tty, keep the write half (the terminal's input) open: dropping it would
    // look like EOF to the shim.
    std::future::pending::<()>().await;
    drop(sw);
}

/// What an attach with `logs=1` replays: everything logged so far on the streams asked for.
pub(crate) fn history_options(stdout: bool, stderr: bool) -> berth_engine::logs::LogOptions {
    berth_engine::logs::LogOptions {
        follow: false,
        stdout,
        stderr,
        since: None,
        until: None,
        timestamps: false,
        details: false,
        tail: None,
    }
}

/// Pumps bytes both ways until the shim ends the output (or the client detaches).
type Closing = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

async fn bridge<C>(
    client: C,
    shim: BufReader<UnixStream>,
    tty: bool,
    stdin: bool,
    detach_keys: Option<String>,
    before_close: Option<Closing>,
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let buffered = shim.buffer().to_vec();
    let (sr, sw) = shim.into_inner().into_split();
    let mut sr = std::io::Cursor::new(buffered).chain(sr);
    let (cr, mut cw) = tokio::io::split(client);
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let chunks = futures_util::StreamExt::take_while(
        tokio_util::io::ReaderStream::with_capacity(cr, 32 * 1024),
        |r| std::future::ready(r.is_ok()),
    );
    let chunks = futures_util::StreamExt::map(chunks, Result::unwrap_or_default);
    let input = tokio::spawn(pump_stdin(chunks, sw, tty, stdin, detach_keys, detach_tx));
    if tty {
        // A tty's output is one stream: unwrap the shim's frames.
        loop {
            tokio::select! {
                f = read_frame(&mut sr) => {
                    let Some((_, data)) = f else { break };
                    if cw.write_all(&data).await.is_err() {
                        break;
                    }
                }
                _ = &mut detach_rx => break,
            }
        }
    } else {
        // The shim already speaks Docker's multiplexed framing: pass the bytes through.
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            tokio::select! {
                n = sr.read(&mut buf) => {
                    let n = match n { Ok(0) | Err(_) => break, Ok(n) => n };
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                _ = &mut detach_rx => break,
            }
        }
    }
    if let Some(f) = before_close {
        f.await;
    }
    let _ = cw.flush().await;
    let _ = cw.shutdown().await;
    input.abort();
}

/// `POST /containers/{id}/attach`: a refusal is written as dockerd writes it on the
/// connection it took over, the message as raw text with a CRLF, not as JSON.
pub async fn attach(
    state: State<Arc<Engine>>,
    id: Path<String>,
    q: Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    match attach_inner(state, id, q, req).await {
        Ok(r) => r,
        Err(ApiError(code, msg)) => (
            code,
            [("Content-Type", "application/vnd.docker.raw-stream")],
            format!("{msg}\r\n"),
        )
            .into_response(),
    }
}

async fn attach_inner(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    mut req: Request,
) -> ApiResult<Response> {
    e.get(&id)?;
    let stream = flag(&q, "stream");
    let (stdin, stdout, stderr) = (flag(&q, "stdin"), flag(&q, "stdout"), flag(&q, "stderr"));
    // `logs=1`: what the container already logged goes first (json-file only).
    let history = if flag(&q, "logs") {
        match e.logs(&id, history_options(stdout, stderr)) {
            Ok(h) => Some(h),
            Err(err @ berth_engine::EngineError::NotFound(_)) => return Err(err.into()),
            Err(_) => None,
        }
    } else {
        None
    };
    if !stream {
        let Some((mut rx, tty)) = history else {
            // Neither logs nor a live stream: nothing to send.
            return Ok(StatusCode::OK.into_response());
        };
        if wants_upgrade(&req) {
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(u) = on_upgrade.await {
                    let mut io = TokioIo::new(u);
                    while let Some(b) = rx.recv().await {
                        if io.write_all(&b).await.is_err() {
                            return;
                        }
                    }
                    let _ = io.shutdown().await;
                }
            });
            return Ok(upgrade_response(tty));
        }
        return Ok(stream_response(rx, tty));
    }
    let mut history = history.map(|(rx, _)| rx);
    if wants_upgrade(&req) && !e.is_tty(&id)? {
        // The client's connection itself becomes the stream, served by the shim.
        let (tx, rx) = tokio::sync::oneshot::channel();
        e.attach_handoff(&id, stdin, stdout, stderr, rx).await?;
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(u) => handoff(u, history, tx).await,
                Err(err) => tracing::debug!(error = %err, "attach upgrade failed"),
            }
        });
        return Ok(upgrade_response(false));
    }
    let (handle, tty) = e.attach(&id, stdin, stdout, stderr).await?;
    let detach_keys = q.get("detachKeys").cloned();
    if !wants_upgrade(&req) {
        let shim = match handle {
            AttachHandle::Ready(s) => s,
            AttachHandle::Pending(rx) => rx
                .await
                .map_err(|_| ApiError::bad_request("container did not start"))??,
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        tokio::spawn(async move {
            if let Some(h) = history.as_mut() {
                while let Some(b) = h.recv().await {
                    if tx.send(b).await.is_err() {
                        return;
                    }
                }
            }
            forward_frames(shim, tty, &tx).await;
        });
        return Ok(stream_response(rx, tty));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(err) => {
                tracing::debug!(error = %err, "attach upgrade failed");
                return;
            }
        };
        let mut io = TokioIo::new(upgraded);
        if let Some(h) = history.as_mut() {
            while let Some(b) = h.recv().await {
                if io.write_all(&b).await.is_err() {
                    return;
                }
            }
        }
        let shim = match handle {
            AttachHandle::Ready(s) => s,
            AttachHandle::Pending(rx) => match rx.await {
                Ok(Ok(s)) => s,
                _ => return,
            },
        };
        bridge(io, shim, tty, stdin, detach_keys, None).await;
    });
    Ok(upgrade_response(tty))
}

/// Gives an upgraded attach connection to the shim (after the `logs=1` history, which
/// berthd writes itself). berthd serves plain unix and TCP streams, so the connection is
/// one; were it not, a socket pair stands in for it and berthd copies between the two.
async fn handoff(
    u: hyper::upgrade::Upgraded,
    history: Option<tokio::sync::mpsc::Receiver<Bytes>>,
    tx: tokio::sync::oneshot::Sender<berth_engine::Handoff>,
) {
    let u = match u.downcast::<TokioIo<UnixStream>>() {
        Ok(parts) => return hand_socket(parts, history, tx, |s| Ok(s.into_std()?.into())).await,
        Err(u) => u,
    };
    // A client of a TCP listener (`-H tcp://`).
    let u = match u.downcast::<TokioIo<tokio::net::TcpStream>>() {
        Ok(parts) => return hand_socket(parts, history, tx, |s| Ok(s.into_std()?.into())).await,
        Err(u) => u,
    };
    let Ok((ours, theirs)) = UnixStream::pair() else {
        return;
    };
    let mut client = TokioIo::new(u);
    if replay(&mut client, history).await.is_err() {
        return;
    }
    let Ok(theirs) = theirs.into_std() else {
        return;
    };
    let handed = berth_engine::Handoff {
        fd: theirs.into(),
        early: Vec::new(),
    };
    if tx.send(handed).is_ok() {
        let mut ours = ours;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut ours).await;
    }
}

/// Writes the history on the client's own socket, then sends the socket itself (and what
/// hyper had already read from it) to the shim.
async fn hand_socket<S: tokio::io::AsyncWrite + Unpin>(
    parts: hyper::upgrade::Parts<TokioIo<S>>,
    history: Option<tokio::sync::mpsc::Receiver<Bytes>>,
    tx: tokio::sync::oneshot::Sender<berth_engine::Handoff>,
    into_fd: impl FnOnce(S) -> std::io::Result<std::os::fd::OwnedFd>,
) {
    let mut io = parts.io.into_inner();
    if replay(&mut io, history).await.is_err() {
        return;
    }
    let Ok(fd) = into_fd(io) else { return };
    let _ = tx.send(berth_engine::Handoff {
        fd,
        early: parts.read_buf.to_vec(),
    });
}

async fn replay(
    io: &mut (impl tokio::io::AsyncWrite + Unpin),
    history: Option<tokio::sync::mpsc::Receiver<Bytes>>,
) -> std::io::Result<()> {
    if let Some(mut h) = history {
        while let Some(b) = h.recv().await {
            io.write_all(&b).await?;
        }
    }
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ExecStart {
    #[serde(default)]
    detach: bool,
    #[serde(default)]
    tty: bool,
}

/// `POST /exec/{id}/start`.
pub async fn exec_start(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let upgrade = wants_upgrade(&req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|err| ApiError::bad_request(format!("read body: {err}")))?;
    let opts: ExecStart = if body.is_empty() {
        ExecStart::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))?
    };
    let exec = e.exec_get(&id)?;
    let tty = exec.config.tty || opts.tty;
    let stdin = exec.config.attach_stdin;
    if upgrade && !opts.detach {
        // As dockerd: the connection is taken over first, and a process that cannot be
        // started (no such command) is reported on the stream, its exit code (126/127) left
        // for the client to read from inspect.
        let detach_keys = exec.config.detach_keys.clone();
        tokio::spawn(async move {
            let started = e.exec_start(&id, true).await;
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let mut client = TokioIo::new(upgraded);
            let shim = match started {
                Ok(Some(shim)) => shim,
                Ok(None) => return,
                Err(err) => {
                    let msg = format!("{err}\r\n");
                    let out = if tty {
                        Bytes::from(msg)
                    } else {
                        berth_engine::logs::frame(1, msg.as_bytes())
                    };
                    let _ = client.write_all(&out).await;
                    let _ = client.shutdown().await;
                    return;
                }
            };
            // The client reads ExitCode right after the stream ends: record it first.
            let before_close: Closing = Box::pin(async move {
                e.exec_wait(&id, Duration::from_secs(5)).await;
            });
            bridge(client, shim, tty, stdin, detach_keys, Some(before_close)).await;
        });
        return Ok(upgrade_response(tty));
    }
    let stream = e.exec_start(&id, !opts.detach).await?;
    let Some(shim) = stream else {
        return Ok(StatusCode::OK.into_response());
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let e2 = e.clone();
    tokio::spawn(async move {
        forward_frames(shim, tty, &tx).await;
        e2.exec_wait(&id, Duration::from_secs(5)).await;
    });
    Ok(stream_response(rx, tty))
}

/// Copies the shim's frames to a streamed (non-upgraded) response: raw with a tty,
/// multiplexed without; stops when either side ends.
async fn forward_frames(
    mut shim: BufReader<UnixStream>,
    tty: bool,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
) {
    while let Some((stream, data)) = read_frame(&mut shim).await {
        let b = if tty {
            Bytes::from(data)
        } else {
            berth_engine::logs::frame(stream, &data)
        };
        if tx.send(b).await.is_err() {
            break;
        }
    }
}

/// `POST /exec/{id}/resize`.
pub async fn exec_resize(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    let h = q.get("h").and_then(|v| v.parse().ok()).unwrap_or(0);
    let w = q.get("w").and_then(|v| v.parse().ok()).unwrap_or(0);
    e.exec_resize(&id, h, w).await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_sequence_is_consumed_and_ends_the_attach() {
        let mut s = DetachScanner::new(None);
        assert_eq!(s.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(s.feed(b"\x11"), (Vec::new(), true));
        let mut s = DetachScanner::new(None);
        assert_eq!(s.feed(b"\x10x"), (b"\x10x".to_vec(), false));
        assert_eq!(parse_detach_keys("ctrl-a,b"), Some(vec![1, b'b']));
    }
}
