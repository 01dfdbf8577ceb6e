//! An authenticating front for the test registry: answers 401 with a Basic or Bearer
//! challenge, runs a token endpoint (which wants basic credentials), and forwards
//! authorized requests to the real registry.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Basic,
    Bearer,
    /// No auth; the first three manifest requests get 503.
    Flaky,
    /// No auth; manifest bodies are altered in transit (headers kept).
    Tamper,
}

pub struct Gateway {
    pub addr: String,
    /// Scopes the token endpoint was asked for.
    pub token_requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    mode: Mode,
    upstream: String,
    me: String,
    user: String,
    pass: String,
    token_requests: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
    failures_left: std::sync::atomic::AtomicUsize,
}

impl Gateway {
    pub async fn start(upstream: String, mode: Mode, user: &str, pass: &str) -> Gateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let token_requests = Arc::new(Mutex::new(Vec::new()));
        let st = Arc::new(State {
            mode,
            upstream,
            me: addr.clone(),
            user: user.into(),
            pass: pass.into(),
            token_requests: token_requests.clone(),
            failures_left: 3.into(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(handle(&st, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        Gateway {
            addr,
            token_requests,
            task,
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

fn basic_ok(st: &State, req: &Request<Incoming>) -> bool {
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", st.user, st.pass))
    );
    req.headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == want.as_bytes())
}

async fn handle(st: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if path == "/token" {
        if !basic_ok(st, &req) {
            return reply(StatusCode::UNAUTHORIZED, "bad credentials");
        }
        let q = req.uri().query().unwrap_or("").to_owned();
        let scope = q
            .split('&')
            .find_map(|kv| kv.strip_prefix("scope="))
            .unwrap_or("")
            .replace("%3A", ":")
            .replace("%2F", "/")
            .replace("%2C", ",");
        st.token_requests.lock().unwrap().push(scope);
        return reply(StatusCode::OK, r#"{"token":"secret-token"}"#);
    }
    if st.mode == Mode::Flaky
        && path.contains("/manifests/")
        && st
            .failures_left
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok()
    {
        return reply(StatusCode::SERVICE_UNAVAILABLE, "try later");
    }
    let authorized = match st.mode {
        Mode::Flaky | Mode::Tamper => true,
        Mode::Basic => basic_ok(st, &req),
        Mode::Bearer => req
            .headers()
            .get("authorization")
            .is_some_and(|v| v.as_bytes() == b"Bearer secret-token"),
    };
    if !authorized {
        let mut r = reply(StatusCode::UNAUTHORIZED, "{}");
        let challenge = match st.mode {
            Mode::Basic | Mode::Flaky | Mode::Tamper => r#"Basic realm="test""#.to_owned(),
            Mode::Bearer => {
                let repo = path
                    .strip_prefix("/v2/")
                    .and_then(|p| p.split("/manifests/").next())
                    .and_then(|p| p.split("/blobs/").next())
                    .unwrap_or("");
                format!(
                    r#"Bearer realm="http://{}/token",service="test-registry",scope="repository:{repo}:pull""#,
                    st.me
                )
            }
        };
        r.headers_mut()
            .insert("www-authenticate", challenge.parse().unwrap());
        return r;
    }
    // Forward to the registry.
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let url = format!(
        "http://{}{}",
        st.upstream,
        req.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let mut fwd = st.http.request(method, &url);
    for (k, v) in req.headers() {
        if k != "host" && k != "authorization" {
            fwd = fwd.header(k.as_str(), v.as_bytes());
        }
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let resp = fwd.body(body).send().await.unwrap();
    let mut out = Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers() {
        // hyper sets the length of the body it sends.
        if k == "content-length" || k == "transfer-encoding" {
            continue;
        }
        let mut val = v.to_str().unwrap_or("").to_owned();
        if k == "location" {
            val = val.replace(&st.upstream, &st.me);
        }
        out = out.header(k.as_str(), val);
    }
    let mut bytes = resp.bytes().await.unwrap();
    if st.mode == Mode::Tamper && path.contains("/manifests/") && !bytes.is_empty() {
        let mut v = bytes.to_vec();
        v.push(b' ');
        bytes = Bytes::from(v);
    }
    out.body(Full::new(bytes)).unwrap()
}
