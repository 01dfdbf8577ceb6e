//! A small client for the OCI distribution API: manifests, blobs (ranged, for resumed
//! downloads), uploads (monolithic, chunked, cross-repository mount) and manifest puts,
//! with Bearer-token and Basic authentication from the registry's challenge.
//!
//! Written on reqwest rather than a registry crate so that blob bodies stay streams (the
//! puller hashes and unpacks them as they arrive) and so that resuming with `Range` after a
//! dropped connection is under our control.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use reqwest::{Method, StatusCode, header};
use serde::Deserialize;

use crate::auth::{Challenge, Credentials};
use crate::digest::Digest;
use crate::manifest::ACCEPT;
use crate::reference::{DEFAULT_DOMAIN, Reference};

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Registries (`host[:port]`) spoken to over plain HTTP. localhost, 127.0.0.0/8 and ::1
    /// always are.
    pub insecure: Vec<String>,
    /// Mirrors tried before Docker Hub, as `host[:port]` or full `http(s)://` URLs.
    pub mirrors: Vec<String>,
    pub credentials: Credentials,
    /// Attempts per blob before a pull fails (each attempt resumes where the last stopped).
    pub retries: u32,
    pub user_agent: String,
    /// Extra CA certificates (PEM) trusted for registries, next to the system roots (what
    /// Docker reads from `/etc/docker/certs.d/<host>/ca.crt`).
    pub ca_pem: Vec<Vec<u8>>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure: Vec::new(),
            mirrors: Vec::new(),
            credentials: Credentials::default(),
            retries: 5,
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
            ca_pem: Vec::new(),
        }
    }
}

impl RegistryConfig {
    /// Adds every `*.crt` under `dir/<host>/` (Docker's `certs.d` layout) to `ca_pem`.
    /// A missing directory is not an error.
    pub fn add_certs_dir(&mut self, dir: &std::path::Path) -> std::io::Result<()> {
        let hosts = match std::fs::read_dir(dir) {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for host in hosts {
            let host = host?;
            if !host.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(host.path())? {
                let p = f?.path();
                if p.extension().is_some_and(|e| e == "crt") {
                    self.ca_pem.push(std::fs::read(&p)?);
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{method} {url}: {source}")]
    Http {
        method: Method,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("{what} not found: {url}")]
    NotFound { what: &'static str, url: String },
    #[error("authentication to {registry} failed: {reason}")]
    Auth { registry: String, reason: String },
    #[error("{what} from {url}: digest mismatch (expected {expected}, got {actual})")]
    DigestMismatch {
        what: &'static str,
        url: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{what} from {url} is larger than {limit} bytes")]
    TooLarge {
        what: &'static str,
        url: String,
        limit: u64,
    },
    #[error("upload to {url}: registry sent no Location header")]
    NoLocation { url: String },
    #[error("reading blob {digest} for upload: {source}")]
    Read {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
}

/// Manifests and configs are small; anything bigger is refused before it is buffered.
const MAX_DOCUMENT: u64 = 8 << 20;

/// Where requests for one registry go.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `http://127.0.0.1:5000` or `https://registry-1.docker.io`.
    pub base: String,
    /// The host the credentials and token cache are keyed by.
    pub host: String,
    pub mirror: bool,
}

/// A registry client; cheap to clone (shares its connection pool and tokens).
#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    cfg: Arc<RegistryConfig>,
    /// Authorization header values by (host, scope).
    tokens: Arc<Mutex<HashMap<(String, String), String>>>,
    /// Scheme found to work for insecure/local registries (HTTPS is tried first).
    schemes: Arc<Mutex<HashMap<String, &'static str>>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// A blob body being received.
pub struct BlobResponse {
    pub response: reqwest::Response,
    /// Bytes of the blob before the first byte of `response` (0 unless resumed).
    pub offset: u64,
    /// Bytes at the start of `response` to discard: the registry ignored our `Range`.
    pub skip: u64,
}

fn is_local(host: &str) -> bool {
    let h = host_part(host);
    h == "localhost" || h.starts_with("127.") || h == "[::1]" || h == "::1"
}

/// `host` without its `:port`.
fn host_part(host: &str) -> &str {
    host.rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// `a.b.c.d/n` or `x::/n` as (address, prefix length); None for anything else (a host).
pub fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u32)> {
    let (a, n) = s.split_once('/')?;
    let ip: std::net::IpAddr = a.parse().ok()?;
    let n: u32 = n.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (n <= max).then_some((ip, n))
}

/// Whether the registry at `host` (`addr[:port]`, IPv6 in brackets) is in the range.
fn in_cidr(host: &str, cidr: &str) -> bool {
    let Some((net, n)) = parse_cidr(cidr) else {
        return false;
    };
    let h = host_part(host);
    let h = h
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h);
    // Both kinds as the top bits of a u128, so a prefix is the same mask for either.
    let bits = |ip: std::net::IpAddr| match ip {
        std::net::IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
        std::net::IpAddr::V6(a) => u128::from(a),
    };
    let mask = u128::MAX.checked_shl(128 - n).unwrap_or(0);
    match h.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_ipv4() == net.is_ipv4() => bits(ip) & mask == bits(net) & mask,
        _ => false,
    }
}

impl RegistryClient {
    pub fn new(cfg: RegistryConfig) -> Result<RegistryClient, RegistryError> {
        let setup_err = |source| RegistryError::Http {
            method: Method::GET,
            url: "(client setup)".into(),
            source,
        };
        let mut certs = Vec::new();
        for pem in &cfg.ca_pem {
            certs.extend(reqwest::Certificate::from_pem_bundle(pem).map_err(setup_err)?);
        }
        let http = reqwest::Client::builder()
            .tls_certs_merge(certs)
            .user_agent(cfg.user_agent.clone())
            .pool_max_idle_per_host(16)
            .connect_timeout(std::time::Duration::from_secs(30))
            .read_timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(setup_err)?;
        Ok(RegistryClient {
            http,
            cfg: Arc::new(cfg),
            tokens: Arc::default(),
            schemes: Arc::default(),
        })
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.cfg
    }

    /// The HTTP client, for downloads that are not registry requests ([`crate::fetch`]).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A client that answers challenges from `host` with `cred` (a request's own
    /// credentials, as the Docker API's `X-Registry-Auth` carries them). It shares the
    /// connection pool but not the token cache: tokens belong to whoever obtained them.
    pub fn with_credential(&self, host: &str, cred: crate::auth::Credential) -> RegistryClient {
        let mut cfg = (*self.cfg).clone();
        cfg.credentials.insert(host, cred);
        RegistryClient {
            http: self.http.clone(),
            cfg: Arc::new(cfg),
            tokens: Arc::default(),
            schemes: self.schemes.clone(),
        }
    }

    /// Checks this client's credentials for `domain` the way `docker login` does: the
    /// registry's `/v2/` with whatever authentication it asks for. A registry that asks for
    /// none accepts anyone. Rejected credentials are [`RegistryError::Auth`].
    pub async fn login(&self, domain: &str) -> Result<(), RegistryError> {
        self.probe(domain).await;
        let ep = self
            .endpoints(domain)
            .pop()
            .ok_or_else(|| RegistryError::Auth {
                registry: domain.to_owned(),
                reason: "no endpoint".into(),
            })?;
        let url = format!("{}/v2/", ep.base);
        let resp = self.send(&ep, Method::GET, &url, "", &[], None).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(RegistryError::Auth {
                registry: ep.host.clone(),
                reason: "unauthorized: incorrect username or password".into(),
            }),
            status => Err(RegistryError::Status {
                method: Method::GET,
                url,
                status,
                body: resp.text().await.unwrap_or_default(),
            }),
        }
    }

    fn insecure(&self, host: &str) -> bool {
        is_local(host)
            || self
                .cfg
                .insecure
                .iter()
                .any(|h| h == host || in_cidr(host, h))
    }

    fn scheme(&self, host: &str) -> &'static str {
        if !self.insecure(host) {
            return "https";
        }
        self.schemes
            .lock()
            .ok()
            .and_then(|s| s.get(host).copied())
            .unwrap_or("http")
    }

    /// For registries allowed to be insecure, finds out once whether they speak HTTPS (as
    /// Docker does: TLS first, plain HTTP as the fallback). Secure registries are always
    /// HTTPS and are not probed.
    async fn probe(&self, domain: &str) {
        let mut hosts = vec![domain.to_owned()];
        if domain == DEFAULT_DOMAIN {
            hosts.extend(
                self.cfg
                    .mirrors
                    .iter()
                    .filter(|m| !m.contains("://"))
                    .cloned(),
            );
        }
        for host in hosts {
            let known = self.schemes.lock().map_or(true, |s| s.contains_key(&host));
            if known || !self.insecure(&host) {
                continue;
            }
            let url = format!("https://{host}/v2/");
            let ok = self
                .http
                .get(&url)
                .timeout(std::time::Duration::from_secs(5))
                .send()
                .await
                .is_ok();
            let scheme = if ok { "https" } else { "http" };
            tracing::debug!(host = host.as_str(), scheme, "registry scheme");
            if let Ok(mut s) = self.schemes.lock() {
                s.insert(host, scheme);
            }
        }
    }

    /// Endpoints for a registry domain, mirrors (Docker Hub only, as Docker does) first.
    pub fn endpoints(&self, domain: &str) -> Vec<Endpoint> {
        let mut out = Vec::new();
        if domain == DEFAULT_DOMAIN {
            for m in &self.cfg.mirrors {
                let (base, host) = if let Some(rest) = m.strip_prefix("http://") {
                    (
                        format!("http://{}", rest.trim_end_matches('/')),
                        rest.trim_end_matches('/'),
                    )
                } else if let Some(rest) = m.strip_prefix("https://") {
                    (
                        format!("https://{}", rest.trim_end_matches('/')),
                        rest.trim_end_matches('/'),
                    )
                } else {
                    (format!("{}://{}", self.scheme(m), m), m.as_str())
                };
                out.push(Endpoint {
                    base,
                    host: host.split('/').next().unwrap_or(host).to_owned(),
                    mirror: true,
                });
            }
            out.push(Endpoint {
                base: "https://registry-1.docker.io".into(),
                host: DEFAULT_DOMAIN.into(),
                mirror: false,
            });
        } else {
            out.push(Endpoint {
                base: format!("{}://{}", self.scheme(domain), domain),
                host: domain.to_owned(),
                mirror: false,
            });
        }
        out
    }

    /// Sends a request, answering one authentication challenge if the registry asks.
    /// `body` is a function so the request can be rebuilt after a 401.
    pub async fn send(
        &self,
        ep: &Endpoint,
        method: Method,
        url: &str,
        scope: &str,
        headers: &[(header::HeaderName, String)],
        body: Option<&(dyn Fn() -> reqwest::Body + Send + Sync)>,
    ) -> Result<reqwest::Response, RegistryError> {
        let key = (ep.host.clone(), scope.to_owned());
        for attempt in 0..2 {
            let mut req = self.http.request(method.clone(), url);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let cached = self.tokens.lock().ok().and_then(|t| t.get(&key).cloned());
            if let Some(auth) = cached {
                req = req.header(header::AUTHORIZATION, auth);
            }
            if let Some(b) = body {
                req = req.body(b());
            }
            let resp = req.send().await.map_err(|source| RegistryError::Http {
                method: method.clone(),
                url: url.to_owned(),
                source,
            })?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse)
                .ok_or_else(|| RegistryError::Auth {
                    registry: ep.host.clone(),
                    reason: "401 without a usable WWW-Authenticate challenge".into(),
                })?;
            let auth = self.authorize(ep, &challenge, scope).await?;
            if let Ok(mut t) = self.tokens.lock() {
                t.insert(key.clone(), auth);
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Turns a challenge into an Authorization header value.
    async fn authorize(
        &self,
        ep: &Endpoint,
        challenge: &Challenge,
        scope: &str,
    ) -> Result<String, RegistryError> {
        let cred = self.cfg.credentials.get(&ep.host);
        match challenge {
            Challenge::Basic { .. } => {
                let c = cred.as_ref().ok_or_else(|| RegistryError::Auth {
                    registry: ep.host.clone(),
                    reason: "registry wants basic auth and no credentials are configured".into(),
                })?;
                let raw = format!("{}:{}", c.username, c.password);
                Ok(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
            }
            Challenge::Bearer {
                realm,
                service,
                scope: ch_scope,
            } => {
                let mut req = self.http.get(realm);
                let mut q: Vec<(&str, &str)> = Vec::new();
                if let Some(s) = service {
                    q.push(("service", s));
                }
                // Ask for what this request needs; the challenge's scope may be narrower.
                let want = if scope.is_empty() {
                    ch_scope.as_deref().unwrap_or("")
                } else {
                    scope
                };
                if !want.is_empty() {
                    q.push(("scope", want));
                }
                req = req.query(&q);
                if let Some(c) = &cred {
                    req = req.basic_auth(&c.username, Some(&c.password));
                }
                let resp = req.send().await.map_err(|source| RegistryError::Http {
                    method: Method::GET,
                    url: realm.clone(),
                    source,
                })?;
                if !resp.status().is_success() {
                    return Err(RegistryError::Auth {
                        registry: ep.host.clone(),
                        reason: format!("token server {realm} answered {}", resp.status()),
                    });
                }
                let tok: TokenResponse =
                    resp.json().await.map_err(|source| RegistryError::Http {
                        method: Method::GET,
                        url: realm.clone(),
                        source,
                    })?;
                let t = tok
                    .token
                    .or(tok.access_token)
                    .ok_or_else(|| RegistryError::Auth {
                        registry: ep.host.clone(),
                        reason: "token response has no token".into(),
                    })?;
                Ok(format!("Bearer {t}"))
            }
        }
    }

    /// A GET retried (with backoff, up to `retries` attempts) on connection errors, 429 and
    /// 5xx answers. Mirrors get one attempt: the next endpoint is the fallback.
    async fn get_retrying(
        &self,
        ep: &Endpoint,
        url: &str,
        scope: &str,
        headers: &[(header::HeaderName, String)],
    ) -> Result<reqwest::Response, RegistryError> {
        let attempts = if ep.mirror {
            1
        } else {
            self.cfg.retries.max(1)
        };
        let mut attempt = 0;
        loop {
            let r = self.send(ep, Method::GET, url, scope, headers, None).await;
            attempt += 1;
            let transient = match &r {
                Err(RegistryError::Http { .. }) => true,
                Ok(resp) => {
                    resp.status().is_server_error()
                        || resp.status() == StatusCode::TOO_MANY_REQUESTS
                }
                Err(_) => false,
            };
            if !transient || attempt >= attempts {
                return r;
            }
            tracing::info!(url, attempt, "retrying registry request");
            tokio::time::sleep(std::time::Duration::from_millis(100 << attempt.min(6))).await;
        }
    }

    fn pull_scope(r: &Reference) -> String {
        format!("repository:{}:pull", r.path())
    }

    fn push_scope(r: &Reference) -> String {
        format!("repository:{}:pull,push", r.path())
    }

    /// Fetches a manifest by tag or digest. Returns the exact bytes, the content type and
    /// their digest; when `key` is a digest the bytes are verified against it.
    pub async fn get_manifest(
        &self,
        r: &Reference,
        key: &str,
    ) -> Result<(Bytes, Option<String>, Digest, Endpoint), RegistryError> {
        self.probe(r.domain()).await;
        let mut last_err = None;
        for ep in self.endpoints(r.domain()) {
            let url = format!("{}/v2/{}/manifests/{}", ep.base, r.path(), key);
            let res = self
                .get_retrying(
                    &ep,
                    &url,
                    &Self::pull_scope(r),
                    &[(header::ACCEPT, ACCEPT.to_owned())],
                )
                .await;
            let resp = match res {
                Ok(resp) if resp.status().is_success() => resp,
                Ok(resp) if ep.mirror => {
                    tracing::debug!(mirror = ep.base.as_str(), status = %resp.status(), "mirror miss");
                    continue;
                }
                Err(e) if ep.mirror => {
                    tracing::debug!(mirror = ep.base.as_str(), error = %e, "mirror failed");
                    last_err = Some(e);
                    continue;
                }
                Ok(resp) => return Err(status_error(resp, Method::GET, &url, "manifest").await),
                Err(e) => return Err(e),
            };
            let ct = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let claimed = resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| Digest::parse(v).ok());
            let body = read_limited(resp, &url, "manifest").await?;
            let actual = Digest::of(&body);
            // What the registry says it sent must be what arrived (a proxy rewriting
            // manifests would otherwise go unnoticed when pulling by tag).
            if let Some(claimed) = claimed
                && claimed != actual
            {
                return Err(RegistryError::DigestMismatch {
                    what: "manifest",
                    url,
                    expected: claimed,
                    actual,
                });
            }
            if let Ok(expected) = Digest::parse(key)
                && expected != actual
            {
                return Err(RegistryError::DigestMismatch {
                    what: "manifest",
                    url,
                    expected,
                    actual,
                });
            }
            return Ok((body, ct, actual, ep));
        }
        Err(last_err.unwrap_or(RegistryError::NotFound {
            what: "manifest",
            url: format!("{}/{}", r.name(), key),
        }))
    }

    /// Fetches a small blob (a config) whole, verified against its digest.
    pub async fn get_blob_bytes(
        &self,
        ep: &Endpoint,
        r: &Reference,
        digest: &Digest,
    ) -> Result<Bytes, RegistryError> {
        let resp = self.get_blob(ep, r, digest, 0).await?;
        let url = resp.response.url().to_string();
        let body = read_limited(resp.response, &url, "blob").await?;
        let actual = Digest::of(&body);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: "blob",
                url,
                expected: digest.clone(),
                actual,
            });
        }
        Ok(body)
    }

    /// Starts (or resumes from `offset`) a blob download. Follows the registry's redirect to
    /// storage. If the registry ignores `Range`, the response starts at 0 and `skip` says
    /// how much of it the caller already has.
    pub async fn get_blob(
        &self,
        ep: &Endpoint,
        r: &Reference,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobResponse, RegistryError> {
        let url = format!("{}/v2/{}/blobs/{}", ep.base, r.path(), digest);
        let mut headers = Vec::new();
        if offset > 0 {
            headers.push((header::RANGE, format!("bytes={offset}-")));
        }
        let resp = self
            .send(ep, Method::GET, &url, &Self::pull_scope(r), &headers, None)
            .await?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => Ok(BlobResponse {
                response: resp,
                offset,
                skip: 0,
            }),
            s if s.is_success() => Ok(BlobResponse {
                response: resp,
                offset,
                skip: offset,
            }),
            _ => Err(status_error(resp, Method::GET, &url, "blob").await),
        }
    }

    /// Whether the repository already has the blob.
    pub async fn blob_exists(&self, r: &Reference, digest: &Digest) -> Result<bool, RegistryError> {
        let ep = self.push_endpoint(r).await;
        let url = format!("{}/v2/{}/blobs/{}", ep.base, r.path(), digest);
        let resp = self
            .send(&ep, Method::HEAD, &url, &Self::push_scope(r), &[], None)
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(status_error(resp, Method::HEAD, &url, "blob").await),
        }
    }

    async fn push_endpoint(&self, r: &Reference) -> Endpoint {
        self.probe(r.domain()).await;
        // Never push to a mirror.
        self.endpoints(r.domain())
            .into_iter()
            .rfind(|e| !e.mirror)
            .expect("endpoints always ends with the registry itself")
    }

    fn absolute(ep: &Endpoint, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{}", ep.base, location)
        }
    }

    async fn start_upload(
        &self,
        ep: &Endpoint,
        r: &Reference,
        query: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let url = format!("{}/v2/{}/blobs/uploads/{}", ep.base, r.path(), query);
        let resp = self
            .send(ep, Method::POST, &url, &Self::push_scope(r), &[], None)
            .await?;
        if !resp.status().is_success() {
            return Err(status_error(resp, Method::POST, &url, "upload").await);
        }
        Ok(resp)
    }

    fn location(ep: &Endpoint, resp: &reqwest::Response) -> Result<String, RegistryError> {
        resp.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| Self::absolute(ep, l))
            .ok_or_else(|| RegistryError::NoLocation {
                url: resp.url().to_string(),
            })
    }

    fn with_digest(location: &str, digest: &Digest) -> String {
        let sep = if location.contains('?') { '&' } else { '?' };
        format!("{location}{sep}digest={digest}")
    }

    /// Tries a cross-repository mount of `digest` from `from` (a repository path on the same
    /// registry). Returns whether the registry mounted it.
    pub async fn mount_blob(
        &self,
        r: &Reference,
        digest: &Digest,
        from: &str,
    ) -> Result<bool, RegistryError> {
        let ep = self.push_endpoint(r).await;
        let resp = self
            .start_upload(&ep, r, &format!("?mount={digest}&from={from}"))
            .await?;
        if resp.status() == StatusCode::CREATED {
            return Ok(true);
        }
        // 202: the registry opened an ordinary upload instead; abandon it.
        if let Ok(loc) = Self::location(&ep, &resp) {
            let _ = self
                .send(&ep, Method::DELETE, &loc, &Self::push_scope(r), &[], None)
                .await;
        }
        Ok(false)
    }

    /// Uploads a blob in one PUT. `body` is called again if authentication forces a retry.
    pub async fn push_blob_monolithic(
        &self,
        r: &Reference,
        digest: &Digest,
        size: u64,
        body: &(dyn Fn() -> reqwest::Body + Send + Sync),
    ) -> Result<(), RegistryError> {
        let ep = self.push_endpoint(r).await;
        let resp = self.start_upload(&ep, r, "").await?;
        let loc = Self::with_digest(&Self::location(&ep, &resp)?, digest);
        let resp = self
            .send(
                &ep,
                Method::PUT,
                &loc,
                &Self::push_scope(r),
                &[
                    (header::CONTENT_TYPE, "application/octet-stream".into()),
                    (header::CONTENT_LENGTH, size.to_string()),
                ],
                Some(body),
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(resp, Method::PUT, &loc, "blob upload").await);
        }
        Ok(())
    }

    /// Uploads a blob in PATCH chunks of `chunk` bytes, then closes it with a PUT.
    /// Reads `data` one chunk at a time, so a large layer is never held in memory whole.
    pub async fn push_blob_chunked<R: tokio::io::AsyncRead + Unpin + Send>(
        &self,
        r: &Reference,
        digest: &Digest,
        mut data: R,
        chunk: usize,
    ) -> Result<(), RegistryError> {
        use tokio::io::AsyncReadExt;
        let ep = self.push_endpoint(r).await;
        let resp = self.start_upload(&ep, r, "").await?;
        let mut loc = Self::location(&ep, &resp)?;
        let mut off = 0usize;
        loop {
            let mut buf = Vec::with_capacity(chunk.max(1));
            (&mut data)
                .take(chunk.max(1) as u64)
                .read_to_end(&mut buf)
                .await
                .map_err(|e| RegistryError::Read {
                    digest: digest.clone(),
                    source: e,
                })?;
            if buf.is_empty() {
                break;
            }
            let piece = Bytes::from(buf);
            let end = off + piece.len() - 1;
            let body = move || reqwest::Body::from(piece.clone());
            let resp = self
                .send(
                    &ep,
                    Method::PATCH,
                    &loc,
                    &Self::push_scope(r),
                    &[
                        (header::CONTENT_TYPE, "application/octet-stream".into()),
                        (header::CONTENT_RANGE, format!("{off}-{end}")),
                    ],
                    Some(&body),
                )
                .await?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(status_error(resp, Method::PATCH, &loc, "blob chunk").await);
            }
            loc = Self::location(&ep, &resp)?;
            off = end + 1;
        }
        let url = Self::with_digest(&loc, digest);
        let resp = self
            .send(
                &ep,
                Method::PUT,
                &url,
                &Self::push_scope(r),
                &[(header::CONTENT_LENGTH, "0".into())],
                None,
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(resp, Method::PUT, &url, "blob upload").await);
        }
        Ok(())
    }

    /// Puts a manifest under a tag or digest.
    pub async fn put_manifest(
        &self,
        r: &Reference,
        key: &str,
        media_type: &str,
        data: Bytes,
    ) -> Result<(), RegistryError> {
        let ep = self.push_endpoint(r).await;
        let url = format!("{}/v2/{}/manifests/{}", ep.base, r.path(), key);
        let body = move || reqwest::Body::from(data.clone());
        let resp = self
            .send(
                &ep,
                Method::PUT,
                &url,
                &Self::push_scope(r),
                &[(header::CONTENT_TYPE, media_type.to_owned())],
                Some(&body),
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(resp, Method::PUT, &url, "manifest").await);
        }
        Ok(())
    }
}

async fn status_error(
    resp: reqwest::Response,
    method: Method,
    url: &str,
    what: &'static str,
) -> RegistryError {
    let status = resp.status();
    if status == StatusCode::NOT_FOUND {
        return RegistryError::NotFound {
            what,
            url: url.to_owned(),
        };
    }
    let mut body = resp.text().await.unwrap_or_default();
    body.truncate(512);
    RegistryError::Status {
        method,
        url: url.to_owned(),
        status,
        body,
    }
}

async fn read_limited(
    mut resp: reqwest::Response,
    url: &str,
    what: &'static str,
) -> Result<Bytes, RegistryError> {
    if resp.content_length().is_some_and(|l| l > MAX_DOCUMENT) {
        return Err(RegistryError::TooLarge {
            what,
            url: url.to_owned(),
            limit: MAX_DOCUMENT,
        });
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|source| RegistryError::Http {
        method: Method::GET,
        url: url.to_owned(),
        source,
    })? {
        buf.extend_from_slice(&chunk);
        if buf.len() as u64 > MAX_DOCUMENT {
            return Err(RegistryError::TooLarge {
                what,
                url: url.to_owned(),
                limit: MAX_DOCUMENT,
            });
        }
    }
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_registries_may_be_address_ranges_as_dockerds() {
        let c = RegistryClient::new(RegistryConfig {
            insecure: vec!["10.1.0.0/16".into(), "fd00:1::/32".into(), "reg.lan".into()],
            ..Default::default()
        })
        .unwrap();
        for (host, want) in [
            ("10.1.2.3:5000", true),
            ("10.1.255.255", true),
            ("10.2.0.1:5000", false),
            ("[fd00:1:2::5]:5000", true),
            ("[fd00:2::5]:5000", false),
            ("reg.lan", true),
            ("reg.lan:5000", false),
            ("10.1.0.0.evil.example", false),
            ("example.com", false),
        ] {
            assert_eq!(c.insecure(host), want, "{host}");
        }
        assert!(in_cidr("1.2.3.4", "0.0.0.0/0"));
        assert!(!in_cidr("1.2.3.4", "1.2.3.5/32"));
        assert!(in_cidr("1.2.3.5", "1.2.3.5/32"));
        assert!(parse_cidr("10.0.0.0/33").is_none() && parse_cidr("reg:5000").is_none());
    }

    #[test]
    fn local_registries_use_plain_http_and_hub_uses_mirrors_first() {
        let c = RegistryClient::new(RegistryConfig {
            insecure: vec!["reg.lan:5000".into()],
            mirrors: vec!["http://mirror.lan:5000/".into(), "m2.lan".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            c.endpoints("127.0.0.1:5000")[0].base,
            "http://127.0.0.1:5000"
        );
        assert_eq!(c.endpoints("localhost")[0].base, "http://localhost");
        assert_eq!(c.endpoints("reg.lan:5000")[0].base, "http://reg.lan:5000");
        assert_eq!(c.endpoints("quay.io")[0].base, "https://quay.io");
        let hub = c.endpoints("docker.io");
        let bases: Vec<_> = hub.iter().map(|e| e.base.as_str()).collect();
        assert_eq!(
            bases,
            [
                "http://mirror.lan:5000",
                "https://m2.lan",
                "https://registry-1.docker.io"
            ]
        );
        assert!(hub[0].mirror && !hub[2].mirror);
        assert_eq!(hub[2].host, "docker.io");
    }
}
