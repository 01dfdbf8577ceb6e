//! A token server for docker-registry's own `auth: token:` mode: it checks basic
//! credentials and answers with an ES256 JWT (signed with `openssl dgst`) carrying the
//! requested repository access and an `x5c` header with its certificate, which the registry
//! trusts through `rootcertbundle`.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

pub struct TokenServer {
    pub addr: String,
    pub cert: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    dir: PathBuf,
    cert_der_b64: String,
    basic: String,
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl TokenServer {
    pub async fn start(dir: &Path, user: &str, pass: &str) -> TokenServer {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "token.key",
                "-out",
                "token.crt",
                "-subj",
                "/CN=berth token",
                "-days",
                "2",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-in",
                "token.crt",
                "-outform",
                "DER",
                "-out",
                "token.der",
            ],
        );
        let der = std::fs::read(dir.join("token.der")).unwrap();
        let st = Arc::new(State {
            dir: dir.to_owned(),
            cert_der_b64: base64::engine::general_purpose::STANDARD.encode(der),
            basic: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
            ),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
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
        TokenServer {
            addr,
            cert: dir.join("token.crt"),
            task,
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` → the 64-byte `r || s` JOSE wants.
fn der_to_jose(der: &[u8]) -> Vec<u8> {
    let mut i = 2; // SEQUENCE tag + short length
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02);
        let len = der[i + 1] as usize;
        let int = &der[i + 2..i + 2 + len];
        let int = if int.len() > 32 {
            &int[int.len() - 32..]
        } else {
            int
        };
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        i += 2 + len;
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

async fn handle(st: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let authorized = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == st.basic.as_bytes());
    if !authorized {
        let mut r = Response::new(Full::new(Bytes::from_static(b"{}")));
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    let q = req.uri().query().unwrap_or("").to_owned();
    let mut service = String::new();
    let mut access = Vec::new();
    for kv in q.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = unescape(v);
        match k {
            "service" => service = v,
            "scope" => {
                for scope in v.split(' ') {
                    let parts: Vec<&str> = scope.split(':').collect();
                    if parts.len() == 3 {
                        access.push(serde_json::json!({
                            "type": parts[0], "name": parts[1],
                            "actions": parts[2].split(',').collect::<Vec<_>>(),
                        }));
                    }
                }
            }
            _ => {}
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [st.cert_der_b64]});
    let claims = serde_json::json!({
        "iss": "berth-test", "sub": "alice", "aud": service,
        "exp": now + 600, "nbf": now - 60, "iat": now, "jti": format!("{now}-{}", access.len()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(&header).unwrap()),
        b64url(&serde_json::to_vec(&claims).unwrap())
    );
    let input_path = st.dir.join(format!("input-{now}-{}", rand_suffix()));
    std::fs::write(&input_path, &signing_input).unwrap();
    let der = openssl(
        &st.dir,
        &[
            "dgst",
            "-sha256",
            "-sign",
            "token.key",
            input_path.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_file(&input_path);
    let jwt = format!("{signing_input}.{}", b64url(&der_to_jose(&der)));
    let body = serde_json::to_vec(&serde_json::json!({"token": jwt})).unwrap();
    Response::new(Full::new(Bytes::from(body)))
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
