//! `POST /build`: the classic builder's API (what the docker CLI uses without BuildKit).
//! The body is the build context as a tar; the answer is a stream of JSON messages
//! (`stream` text, pull `status` lines, `aux` with the image ID, `errorDetail` on failure).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Query, RawQuery, Request, State};
use axum::response::Response;
use base64::Engine as _;
use berth_build::builder::Options;
use berth_engine::Engine;
use berth_engine::build::{BuildRequest, Sink};
use berth_engine::types::HostConfig;
use berth_image::auth::RegistryAuth;
use berth_image::pull::Progress;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::error::{ApiError, ApiResult};
use crate::images::{line, progress_line, query_all, spool, stream_response, tmp_path};

fn flag(q: &HashMap<String, String>, k: &str, default: bool) -> bool {
    match q.get(k).map(String::as_str) {
        None | Some("") => default,
        Some(v) => matches!(v, "1" | "true" | "True" | "TRUE"),
    }
}

fn num(q: &HashMap<String, String>, k: &str) -> ApiResult<i64> {
    match q.get(k).filter(|v| !v.is_empty()) {
        None => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v}"))),
    }
}

/// A JSON object parameter (`buildargs`, `labels`).
fn json_map<T: serde::de::DeserializeOwned + Default>(
    q: &HashMap<String, String>,
    k: &str,
) -> ApiResult<T> {
    match q.get(k).filter(|v| !v.is_empty()) {
        None => Ok(T::default()),
        Some(v) => serde_json::from_str(v)
            .map_err(|err| ApiError::bad_request(format!("invalid {k} value: {err}"))),
    }
}

/// The registry client with every credential of `X-Registry-Config` (the CLI sends all
/// it has, keyed by registry).
fn client_for_build(
    e: &Engine,
    headers: &axum::http::HeaderMap,
) -> berth_image::registry::RegistryClient {
    let mut client = e.registry.clone();
    let decoded = headers
        .get("X-Registry-Config")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            base64::engine::general_purpose::URL_SAFE
                .decode(v.trim())
                .or_else(|_| base64::engine::general_purpose::STANDARD.decode(v.trim()))
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<HashMap<String, RegistryAuth>>(&b).ok())
        .unwrap_or_default();
    for (host, mut auth) in decoded {
        if auth.serveraddress.is_empty() {
            auth.serveraddress = host;
        }
        if let Some(c) = auth.credential() {
            client = client.with_credential(&auth.registry_host(), c);
        }
    }
    client
}

/// `remote=URL`: the context downloaded by berthd. A tarball (plain, gzip or zstd) is the
/// context; anything else is the Dockerfile of an empty context, as with dockerd.
async fn remote_context(
    e: &Arc<Engine>,
    url: &str,
    dockerfile: &str,
) -> ApiResult<std::path::PathBuf> {
    let fail = |err: &dyn std::fmt::Display| {
        ApiError::bad_request(format!("failed to download the build context {url}: {err}"))
    };
    let u = berth_image::fetch::parse_url(url).map_err(|e| fail(&e))?;
    let dl = berth_image::fetch::open(&e.registry, &u)
        .await
        .map_err(|e| fail(&e))?;
    let path = tmp_path(e, "build").await?;
    dl.save_to(&path, &mut |_| true)
        .await
        .map_err(|e| fail(&e))?;
    let p2 = path.clone();
    let name = if dockerfile.is_empty() {
        "Dockerfile".to_owned()
    } else {
        dockerfile.to_owned()
    };
    let res = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Read;
        let mut head = [0u8; 512];
        let mut f = std::fs::File::open(&p2)?;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        let archive = head[..n].starts_with(&[0x1f, 0x8b])
            || head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
            || (n >= 262 && &head[257..262] == b"ustar");
        if archive {
            return Ok(());
        }
        // A Dockerfile: wrapped as the only file of a context.
        let text = std::fs::read(&p2)?;
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, name.trim_start_matches('/'), &text[..])?;
        std::fs::write(&p2, b.into_inner()?)
    })
    .await;
    match res {
        Ok(Ok(())) => Ok(path),
        Ok(Err(err)) => {
            let _ = tokio::fs::remove_file(&path).await;
            Err(fail(&err))
        }
        Err(err) => {
            let _ = tokio::fs::remove_file(&path).await;
            Err(fail(&err))
        }
    }
}

pub async fn build(
    State(e): State<Arc<Engine>>,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<Response> {
    if q.get("version").is_some_and(|v| v == "2") {
        return Err(ApiError::bad_request(
            "BuildKit is not supported by berthd; use the classic builder (version=1)",
        ));
    }
    let remote = q.get("remote").filter(|r| !r.is_empty()).cloned();
    if let Some(r) = &remote
        && !(r.starts_with("http://") || r.starts_with("https://"))
    {
        return Err(ApiError::bad_request(format!(
            "remote build context {r:?}: berthd downloads http(s) URLs only (clone a git repository on the client)"
        )));
    }
    if let Some(p) = q.get("platform").filter(|p| !p.is_empty()) {
        let p = berth_image::manifest::Platform::parse(p)
            .map_err(|err| ApiError::bad_request(err.to_string()))?;
        if p.os != "linux" {
            return Err(ApiError::bad_request("operating system is not supported"));
        }
    }
    let mut tags = Vec::new();
    for t in query_all(raw.as_deref(), "t") {
        berth_image::reference::Reference::parse(&t)
            .map_err(|err| ApiError::bad_request(format!("invalid reference format: {err}")))?;
        tags.push(t);
    }
    let build_args: BTreeMap<String, Option<String>> = json_map(&q, "buildargs")?;
    let labels: BTreeMap<String, String> = json_map(&q, "labels")?;
    let mut host_config = HostConfig {
        memory: num(&q, "memory")?,
        memory_swap: num(&q, "memswap")?,
        cpu_shares: num(&q, "cpushares")?,
        cpu_period: num(&q, "cpuperiod")?,
        cpu_quota: num(&q, "cpuquota")?,
        shm_size: num(&q, "shmsize")?,
        cpuset_cpus: q.get("cpusetcpus").cloned().unwrap_or_default(),
        cpuset_mems: q.get("cpusetmems").cloned().unwrap_or_default(),
        ..Default::default()
    };
    let hosts: Vec<String> = query_all(raw.as_deref(), "extrahosts")
        .iter()
        .flat_map(|h| h.split(',').map(str::to_owned).collect::<Vec<_>>())
        .filter(|h| !h.is_empty())
        .collect();
    if !hosts.is_empty() {
        host_config.extra_hosts = Some(hosts);
    }
    if let Some(u) = q.get("ulimits").filter(|u| !u.is_empty()) {
        host_config.ulimits = Some(
            serde_json::from_str(u)
                .map_err(|err| ApiError::bad_request(format!("invalid ulimits: {err}")))?,
        );
    }
    // RUN output is read back from the container's log.
    host_config.log_config.kind = "json-file".into();
    let network_mode = match q.get("networkmode").map(String::as_str) {
        None | Some("") | Some("default") => "bridge".to_owned(),
        Some(m) => m.to_owned(),
    };
    let client = client_for_build(&e, req.headers());
    let dockerfile = q.get("dockerfile").cloned().unwrap_or_default();
    let context_tar = match &remote {
        Some(url) => remote_context(&e, url, &dockerfile).await?,
        None => spool(&e, "build", req).await?,
    };
    let options = Options {
        tags,
        build_args,
        labels,
        target: q.get("target").filter(|t| !t.is_empty()).cloned(),
        no_cache: flag(&q, "nocache", false),
        pull: flag(&q, "pull", false),
        rm: flag(&q, "rm", true),
        force_rm: flag(&q, "forcerm", false),
        quiet: flag(&q, "q", false),
        ..Default::default()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    // dockerd answers with an HTTP error when a build fails before it wrote anything (a
    // bad Dockerfile, a missing target): the CLI then prints `Error response from daemon:`.
    let sent = Arc::new(AtomicBool::new(false));
    let (etx, erx) = oneshot::channel::<String>();
    let tx2 = tx.clone();
    let sent2 = sent.clone();
    let out: Sink = Arc::new(move |v: Value| {
        sent2.store(true, Ordering::SeqCst);
        let _ = tx2.send(line(v));
    });
    let tx3 = tx.clone();
    let sent3 = sent.clone();
    let progress: berth_image::pull::ProgressSink = Arc::new(move |p: Progress| {
        sent3.store(true, Ordering::SeqCst);
        let _ = tx3.send(line(progress_line(&p)));
    });
    let breq = BuildRequest {
        context_tar,
        dockerfile,
        options,
        network_mode,
        host_config,
        client,
        progress: Some(progress),
    };
    tokio::spawn(async move {
        if let Err(f) = e.build(breq, out).await {
            if !sent.load(Ordering::SeqCst) && f.code <= 1 {
                let _ = etx.send(f.message);
                return;
            }
            let mut detail = json!({ "message": f.message });
            if f.code != 0 {
                detail["code"] = json!(f.code);
            }
            let _ = tx.send(line(json!({ "errorDetail": detail, "error": f.message })));
        }
    });
    let mut erx = Some(erx);
    let first = loop {
        tokio::select! {
            biased;
            r = async { erx.as_mut().expect("guarded").await }, if erx.is_some() => match r {
                Ok(msg) => return Err(ApiError::bad_request(msg)),
                Err(_) => erx = None,
            },
            l = rx.recv() => match (l, erx.take()) {
                // The stream ended with nothing in it: the error, if any, came the other way.
                (None, Some(erx)) => match erx.await {
                    Ok(msg) => return Err(ApiError::bad_request(msg)),
                    Err(_) => break None,
                },
                (l, _) => break l,
            },
        }
    };
    let (ftx, frx) = mpsc::unbounded_channel();
    if let Some(l) = first {
        let _ = ftx.send(l);
        tokio::spawn(async move {
            while let Some(l) = rx.recv().await {
                if ftx.send(l).is_err() {
                    break;
                }
            }
        });
    }
    Ok(stream_response(frx))
}

/// `POST /build/prune` (`docker builder prune`, and `system prune`): forgets the build
/// cache's step records. The images the steps made stay until they are removed (they are
/// the parents of the images built on them, as with dockerd's classic builder).
pub async fn prune(State(e): State<Arc<Engine>>) -> axum::Json<Value> {
    let keys = e.build_cache_clear();
    axum::Json(json!({ "CachesDeleted": keys, "SpaceReclaimed": 0 }))
}
