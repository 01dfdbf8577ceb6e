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
    let mut out = Out {
        binary: version.is_none_or(|v| v.0.0 >= 42),
        carry: Vec::new(),
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
    /// Text frames: the start of a UTF-8 character cut at the end of the last chunk.
    carry: Vec<u8>,
}

impl Out {
    fn msg(&mut self, data: Vec<u8>) -> Message {
        if self.binary {
            return Message::Binary(data.into());
        }
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(&data);
        // A character split between two reads goes whole into the next message.
        if let Err(e) = std::str::from_utf8(&bytes)
            && e.error_len().is_none()
        {
            self.carry = bytes.split_off(e.valid_up_to());
        }
        Message::Text(String::from_utf8_lossy(&bytes).into_owned().into())
    }

    /// What the container logged so far, unwrapped from the log reader's frames.
    async fn history(
        &mut self,
        tx: &mut Sink,
        mut h: Receiver<Bytes>,
        tty: bool,
    ) -> Result<(), ()> {
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
        &mut self,
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
        // The client's messages up to its close, as bytes; then word that it is gone, which
        // ends the session (its tasks and the shim connection) whether or not the
        // container's output goes on.
        let (gone_tx, mut gone_rx) = tokio::sync::oneshot::channel::<()>();
        let chunks = rx
            .take_while(|m| {
                std::future::ready(matches!(m, Ok(m) if !matches!(m, Message::Close(_))))
            })
            .map(|m| match m {
                Ok(Message::Binary(b)) => b,
                Ok(Message::Text(t)) => Bytes::copy_from_slice(t.as_bytes()),
                _ => Bytes::new(),
            })
            .chain(futures_util::stream::once(async move {
                let _ = gone_tx.send(());
                Bytes::new()
            }));
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
                _ = &mut gone_rx => break,
            }
        }
        // Dropping the shim connection's write half (with the task) is the client's end
        // of input, which the shim passes on as its attach rules say.
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
    use super::{Out, split_frame};
    use axum::extract::ws::Message;

    #[test]
    fn text_frames_keep_characters_cut_between_reads_whole() {
        let mut out = Out {
            binary: false,
            carry: Vec::new(),
        };
        let e = "é".as_bytes();
        assert_eq!(out.msg(vec![b'a', e[0]]), Message::Text("a".into()));
        assert_eq!(out.msg(vec![e[1], b'b']), Message::Text("éb".into()));
        // Bytes that are not UTF-8 at all are replaced, not held back.
        assert_eq!(out.msg(vec![0xff, b'c']), Message::Text("\u{fffd}c".into()));
        assert!(out.carry.is_empty());
    }

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
