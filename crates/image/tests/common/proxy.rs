//! A TCP proxy that drops connections mid-response, to test resumed downloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct FlakyProxy {
    pub addr: String,
    pub cuts_done: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FlakyProxy {
    /// Forwards to `upstream`; the first `cuts` connections that carry more than
    /// `after_bytes` towards the client are closed at that point.
    pub async fn start(upstream: String, cuts: usize, after_bytes: usize) -> FlakyProxy {
        FlakyProxy::start_with(upstream, cuts, after_bytes, std::time::Duration::ZERO).await
    }

    /// As [`FlakyProxy::start`], also pausing `delay` after every 16 KiB towards the client.
    pub async fn start_with(
        upstream: String,
        cuts: usize,
        after_bytes: usize,
        delay: std::time::Duration,
    ) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let cuts_done = Arc::new(AtomicUsize::new(0));
        let done = cuts_done.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let upstream = upstream.clone();
                let done = done.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    });
                    let mut sent = 0usize;
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if sent + n > after_bytes
                            && done
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                                    (c < cuts).then_some(c + 1)
                                })
                                .is_ok()
                        {
                            let keep = after_bytes.saturating_sub(sent);
                            let _ = cw.write_all(&buf[..keep]).await;
                            break;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        sent += n;
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                    }
                    up.abort();
                });
            }
        });
        FlakyProxy {
            addr,
            cuts_done,
            task,
        }
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
