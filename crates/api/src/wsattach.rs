//! `GET /containers/{id}/attach/ws`: a container's attach stream over a WebSocket, for
//! browser-side clients. As dockerd sends it, the output is never multiplexed (stdout and
//! stderr are both raw bytes, one message per chunk the container wrote; the `logs=1`
//! history is unwrapped the same way), each message the client sends goes to the
//! container's stdin, and a close from the client is the end of stdin (for a container
//! without a terminal). Messages are binary from API 1.42 on, text before (dockerd's
//! switch).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use berth_engine::{AttachHandle, Engine};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc::Receiver;

use crate::containers::flag;
use crate::error::ApiResult;
use crate::hijack::{history_options, pump_stdin, read_frame};
use crate::version::RequestVersion;

pub async fn attach_ws(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    version: Option<axum::Extension<RequestVersion>>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    e.get(&id)?;
    let (stdin, stdout, stderr) = (flag(&q, "stdin"), flag(&q, "stdout"), flag(&q, "stderr"));
    let history = if flag(&q, "logs") {
        e.logs(&id, history_options(stdout, stderr)).ok()
    } else {
        None
    };
    let live = if flag(&q, "stream") {
        Some(e.attach(&id, stdin, stdout, stderr).await?)
    } else {
        None
    };
    let out = Out {
        binary: version.is_none_or(|v| v.0.0 >= 42),
    };
    let detach_keys = q.get("detachKeys").cloned();
    Ok(ws.on_upgrade(move |socket| async move {
        let (mut tx, rx) = socket.split();
        if let Some((h, tty)) = history
            && out.history(&mut tx, h, tty).await.is_err()
        {
            return;
        }
        if let Some((handle, tty)) = live {
            out.live(&mut tx, rx, handle, tty, stdin, detach_keys).await;
        }
        let _ = tx.send(Message::Close(None)).await;
    }))
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

struct Out {
    binary: bool,
}

impl Out {
    fn msg(&self, data: Vec<u8>) -> Message {
        if self.binary {
            Message::Binary(data.into())
        } else {
            Message::Text(String::from_utf8_lossy(&data).into_owned().into())
        }
    }

    /// What the container logged so far, unwrapped from the log reader's frames.
    async fn history(&self, tx: &mut Sink, mut h: Receiver<Bytes>, tty: bool) -> Result<(), ()> {
        let mut pending = Vec::new();
        while let Some(b) = h.recv().await {
            if tty {
                tx.send(self.msg(b.to_vec())).await.map_err(drop)?;
                continue;
            }
            pending.extend_from_slice(&b);
            while let Some((payload, used)) = split_frame(&pending) {
                let payload = payload.to_vec();
                pending.drain(..used);
                tx.send(self.msg(payload)).await.map_err(drop)?;
            }
        }
        Ok(())
    }

    /// The live stream: the shim's output to the socket, the socket's messages to stdin,
    /// until the container's output ends or (with a terminal) the detach keys are typed.
    async fn live(
        &self,
        tx: &mut Sink,
        rx: futures_util::stream::SplitStream<WebSocket>,
        handle: AttachHandle,
        tty: bool,
        stdin: bool,
        detach_keys: Option<String>,
    ) {
        let shim = match handle {
            AttachHandle::Ready(s) => s,
            AttachHandle::Pending(started) => match started.await {
                Ok(Ok(s)) => s,
                _ => return,
            },
        };
        let buffered = shim.buffer().to_vec();
        let (sr, sw) = shim.into_inner().into_split();
        let mut sr = std::io::Cursor::new(buffered).chain(sr);
        let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
        // The client's messages up to its close, as bytes.
        let chunks = rx
            .take_while(|m| {
                std::future::ready(matches!(m, Ok(m) if !matches!(m, Message::Close(_))))
            })
            .map(|m| match m {
                Ok(Message::Binary(b)) => b,
                Ok(Message::Text(t)) => Bytes::copy_from_slice(t.as_bytes()),
                _ => Bytes::new(),
            });
        let input = tokio::spawn(pump_stdin(
            Box::pin(chunks),
            sw,
            tty,
            stdin,
            detach_keys,
            detach_tx,
        ));
        loop {
            tokio::select! {
                f = read_frame(&mut sr) => {
                    let Some((_, data)) = f else { break };
                    if tx.send(self.msg(data)).await.is_err() {
                        break;
                    }
                }
                _ = &mut detach_rx => break,
            }
        }
        input.abort();
    }
}

/// One whole multiplexed frame at the start of `buf`: its payload and the bytes it takes.
fn split_frame(buf: &[u8]) -> Option<(&[u8], usize)> {
    let h = buf.get(..8)?;
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let payload = buf.get(8..8 + len)?;
    Some((payload, 8 + len))
}

#[cfg(test)]
mod tests {
    use super::split_frame;

    #[test]
    fn frames_split_only_when_whole() {
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 3];
        assert_eq!(split_frame(&b), None);
        b.extend_from_slice(b"abc");
        b.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(split_frame(&b), Some((&b"abc"[..], 11)));
        assert_eq!(split_frame(&b[11..]), None);
        assert_eq!(split_frame(&[2, 0, 0]), None);
    }
}
