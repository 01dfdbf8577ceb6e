//! `docker import URL`: a root filesystem tarball fetched over HTTP(S) into a local file,
//! which is then imported like an uploaded one. The errors read as dockerd's (`failed to
//! GET … with status …`, `Get "…": …`), which users and scripts match on.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::registry::RegistryClient;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The source is not a URL berth can fetch.
    #[error("parse \"{url}\": {reason}")]
    BadUrl { url: String, reason: String },
    /// No answer: refused, unresolvable, TLS failure, timeout before the headers.
    #[error("Get \"{url}\": {reason}")]
    Connect { url: String, reason: String },
    /// The server answered with an error status; `status` as `404 Not Found`, `body` the
    /// start of what it sent with it.
    #[error("failed to GET {url} with status {status}: {body}")]
    Status {
        url: String,
        code: u16,
        status: String,
        body: String,
    },
    /// The connection failed or closed before the whole body came.
    #[error("Get \"{url}\": connection lost after {received}{} bytes: {reason}", expected.map(|e| format!(" of {e}")).unwrap_or_default())]
    Body {
        url: String,
        received: u64,
        expected: Option<u64>,
        reason: String,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("download of {url} cancelled")]
    Cancelled { url: String },
}

impl FetchError {
    /// The HTTP status dockerd answers with when this happens before any output.
    pub fn http_status(&self) -> u16 {
        match self {
            FetchError::BadUrl { .. } => 400,
            FetchError::Status { code, .. } if matches!(code, 400 | 401 | 403 | 404) => *code,
            _ => 500,
        }
    }
}

/// `src` as dockerd takes it: `http://` is assumed when no scheme is given; only http and
/// https are fetched.
pub fn parse_url(src: &str) -> Result<reqwest::Url, FetchError> {
    let full = if src.contains("://") {
        src.to_owned()
    } else {
        format!("http://{src}")
    };
    let bad = |reason: String| FetchError::BadUrl {
        url: full.clone(),
        reason,
    };
    let url = reqwest::Url::parse(&full).map_err(|e| bad(e.to_string()))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        "http" | "https" => Err(bad("no host".into())),
        other => Err(bad(format!("unsupported protocol scheme \"{other}\""))),
    }
}

/// A download whose headers have arrived with a success status.
pub struct Fetch {
    url: String,
    resp: reqwest::Response,
}

/// Most of an error page worth repeating in a message.
const MAX_ERROR_BODY: usize = 4096;

/// GETs `url` with the registry client's settings (CA certificates, timeouts, user agent,
/// redirects followed). An error status is an error, with the start of the body.
pub async fn open(client: &RegistryClient, url: &reqwest::Url) -> Result<Fetch, FetchError> {
    let shown = url.to_string();
    let mut resp =
        client
            .http()
            .get(url.clone())
            .send()
            .await
            .map_err(|e| FetchError::Connect {
                url: shown.clone(),
                reason: causes(&e),
            })?;
    let st = resp.status();
    if st.is_client_error() || st.is_server_error() {
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            match resp.chunk().await {
                Ok(Some(c)) => body.extend_from_slice(&c),
                _ => break,
            }
        }
        body.truncate(MAX_ERROR_BODY);
        return Err(FetchError::Status {
            url: shown,
            code: st.as_u16(),
            status: format!("{} {}", st.as_u16(), st.canonical_reason().unwrap_or(""))
                .trim_end()
                .to_owned(),
            body: String::from_utf8_lossy(&body).trim().to_owned(),
        });
    }
    Ok(Fetch { url: shown, resp })
}

impl Fetch {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The body's length when the server said (`Content-Length`).
    pub fn total(&self) -> Option<u64> {
        self.resp.content_length()
    }

    /// Streams the body into a new file at `dest`, calling `progress` with the bytes
    /// received so far after each piece; `progress` returning false cancels. On any
    /// failure `dest` is removed. Returns the size.
    pub async fn save_to(
        mut self,
        dest: &Path,
        progress: &mut (dyn FnMut(u64) -> bool + Send),
    ) -> Result<u64, FetchError> {
        let res = self.copy(dest, progress).await;
        if res.is_err() {
            let _ = tokio::fs::remove_file(dest).await;
        }
        res
    }

    async fn copy(
        &mut self,
        dest: &Path,
        progress: &mut (dyn FnMut(u64) -> bool + Send),
    ) -> Result<u64, FetchError> {
        let write_err = |source| FetchError::Write {
            path: dest.to_owned(),
            source,
        };
        let mut f = tokio::fs::File::create(dest).await.map_err(write_err)?;
        let expected = self.total();
        let mut received = 0u64;
        let lost = |received, reason: String| FetchError::Body {
            url: self.url.clone(),
            received,
            expected,
            reason,
        };
        loop {
            match self.resp.chunk().await {
                Ok(Some(c)) => {
                    f.write_all(&c).await.map_err(write_err)?;
                    received += c.len() as u64;
                    if !progress(received) {
                        return Err(FetchError::Cancelled {
                            url: self.url.clone(),
                        });
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(lost(received, causes(&e))),
            }
        }
        if let Some(n) = expected.filter(|n| *n != received) {
            return Err(lost(received, format!("expected {n} bytes")));
        }
        f.flush().await.map_err(write_err)?;
        Ok(received)
    }
}

/// An error's causes, outermost first, without the outermost (reqwest's repeats the URL).
fn causes(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        parts.push(c.to_string());
        cur = c.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_default_to_http_and_other_schemes_are_refused() {
        assert_eq!(
            parse_url("127.0.0.1:8000/x.tar").unwrap().as_str(),
            "http://127.0.0.1:8000/x.tar"
        );
        assert!(parse_url("https://example.com/r.tar.gz").is_ok());
        let e = parse_url("ftp://example.com/x").unwrap_err();
        assert_eq!(e.http_status(), 400);
        assert!(e.to_string().contains("unsupported protocol scheme"), "{e}");
        assert!(parse_url("http://bad host/x").is_err());
        assert!(parse_url("http://").is_err());
    }
}
