//! Images: pull (`POST /images/create?fromImage=`) and push with Docker's JSON progress
//! streams, import (`fromSrc=-` or a URL berthd downloads, with `changes`), list
//! (filters), inspect, history, tag, delete, prune, save (`/get`), load, commit, and
//! `POST /auth` (registry login check).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_engine::{Engine, EngineError};
use berth_image::auth::RegistryAuth;
use berth_image::images::RemoveAction;
use berth_image::pull::{LayerStatus, Progress, PullOptions};
use berth_image::push::PushOptions;
use berth_image::reference::Reference;
use berth_image::registry::RegistryClient;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::containers::{accepted, filters_of, flag};
use crate::error::{ApiError, ApiResult};

pub(crate) fn line(v: Value) -> Bytes {
    let mut b = serde_json::to_vec(&v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

fn short(d: &berth_image::digest::Digest) -> String {
    d.hex().chars().take(12).collect()
}

pub(crate) fn progress_line(p: &Progress) -> Value {
    let id = short(&p.layer);
    match &p.status {
        LayerStatus::Waiting => json!({"status": "Waiting", "progressDetail": {}, "id": id}),
        LayerStatus::AlreadyExists => {
            json!({"status": "Already exists", "progressDetail": {}, "id": id})
        }
        LayerStatus::Downloading { current, total } => {
            let bar = progress_bar(*current, Some(*total));
            json!({"status": "Downloading", "progressDetail": {"current": current, "total": total}, "progress": bar, "id": id})
        }
        LayerStatus::Retrying { attempt, error } => {
            json!({"status": format!("Retrying in 1 second (attempt {attempt}: {error})"), "progressDetail": {}, "id": id})
        }
        LayerStatus::Verifying => {
            json!({"status": "Verifying Checksum", "progressDetail": {}, "id": id})
        }
        LayerStatus::Extracting => json!({"status": "Extracting", "progressDetail": {}, "id": id}),
        LayerStatus::Done => json!({"status": "Pull complete", "progressDetail": {}, "id": id}),
    }
}

fn err_line(m: &str) -> Bytes {
    line(json!({"errorDetail": {"message": m}, "error": m}))
}

pub(crate) fn stream_response(rx: mpsc::UnboundedReceiver<Bytes>) -> Response {
    let s = tokio_stream_from(rx).map(Ok::<_, std::io::Error>);
    ([("Content-Type", "application/json")], Body::from_stream(s)).into_response()
}

fn tokio_stream_from(
    mut rx: mpsc::UnboundedReceiver<Bytes>,
) -> impl futures_util::Stream<Item = Bytes> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `POST /images/create`.
pub async fn create(
    State(e): State<Arc<Engine>>,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<Response> {
    if let Some(src) = q.get("fromSrc") {
        let changes = query_all(raw.as_deref(), "changes");
        return import(e, &q, src, changes, req).await;
    }
    let client = client_for(&e, req.headers());
    let from = q.get("fromImage").cloned().unwrap_or_default();
    if from.is_empty() {
        return Err(ApiError::bad_request("fromImage or fromSrc is required"));
    }
    let tag = q.get("tag").cloned().unwrap_or_default();
    let full = if tag.is_empty() {
        from.clone()
    } else if tag.starts_with("sha256:") {
        format!("{from}@{tag}")
    } else {
        format!("{from}:{tag}")
    };
    let reference = Reference::parse(&full).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(line(json!({"status": format!("Pulling from {}", reference.path()), "id": reference.tag().unwrap_or("latest")})));
    let tx2 = tx.clone();
    let sink: berth_image::pull::ProgressSink = Arc::new(move |p: Progress| {
        let _ = tx2.send(line(progress_line(&p)));
    });
    let before = e.images.resolve(&reference.to_string()).ok().map(|r| r.id);
    tokio::spawn(async move {
        let opts = PullOptions {
            progress: Some(sink),
            ..Default::default()
        };
        match e.images.pull(&client, &reference, &opts).await {
            Ok((rec, res)) => {
                e.emit_image("pull", &reference.familiar(), &reference.familiar_name());
                let _ = tx.send(line(json!({"status": format!("Digest: {}", res.digest)})));
                let what = if before.as_ref() == Some(&rec.id) {
                    format!("Status: Image is up to date for {}", reference.familiar())
                } else {
                    format!(
                        "Status: Downloaded newer image for {}",
                        reference.familiar()
                    )
                };
                let _ = tx.send(line(json!({"status": what})));
            }
            Err(err) => {
                let msg = EngineError::from(err).to_string();
                let _ = tx.send(err_line(&msg));
            }
        }
    });
    Ok(stream_response(rx))
}

/// What an import records besides the layer: `repo`/`tag`, `changes` (Docker also splits
/// one value on newlines), `message`, `platform`.
struct ImportParams {
    reference: Option<Reference>,
    changes: Vec<String>,
    message: Option<String>,
    platform: Option<berth_image::manifest::Platform>,
}

impl ImportParams {
    fn from_query(q: &HashMap<String, String>, changes: Vec<String>) -> ApiResult<ImportParams> {
        let bad = |err: &dyn std::fmt::Display| ApiError::bad_request(err.to_string());
        let repo = q.get("repo").cloned().unwrap_or_default();
        let tag = q.get("tag").cloned().unwrap_or_default();
        let reference = if repo.is_empty() {
            None
        } else {
            let r = Reference::parse(&repo).map_err(|e| bad(&e))?;
            Some(if tag.is_empty() {
                r
            } else {
                r.with_tag(&tag).map_err(|e| bad(&e))?
            })
        };
        let platform = match q.get("platform").filter(|p| !p.is_empty()) {
            Some(p) => {
                let p = berth_image::manifest::Platform::parse(p).map_err(|e| bad(&e))?;
                if p.os != "linux" {
                    return Err(ApiError::bad_request("operating system is not supported"));
                }
                Some(p)
            }
            None => None,
        };
        Ok(ImportParams {
            reference,
            changes: changes
                .iter()
                .flat_map(|c| c.lines())
                .filter(|c| !c.trim().is_empty())
                .map(str::to_owned)
                .collect(),
            message: q.get("message").filter(|m| !m.is_empty()).cloned(),
            platform,
        })
    }
}

/// `fromSrc=-` (the request body) or `fromSrc=URL` (downloaded by berthd, with Docker's
/// `Downloading from` and `Importing` progress lines).
async fn import(
    e: Arc<Engine>,
    q: &HashMap<String, String>,
    src: &str,
    changes: Vec<String>,
    req: Request,
) -> ApiResult<Response> {
    let mut params = ImportParams::from_query(q, changes)?;
    let (tx, rx) = mpsc::unbounded_channel();
    if src == "-" {
        let tmp = spool(&e, "import", req).await?;
        import_file(&e, params, tmp, &tx).await;
        drop(tx);
        return Ok(stream_response(rx));
    }
    // As dockerd: a URL that cannot be fetched is an error status, not a stream.
    let fetch_err = |err: berth_image::fetch::FetchError| {
        let status =
            StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError(status, err.to_string())
    };
    let url = berth_image::fetch::parse_url(src).map_err(fetch_err)?;
    let dl = berth_image::fetch::open(&e.registry, &url)
        .await
        .map_err(fetch_err)?;
    params
        .message
        .get_or_insert_with(|| format!("Imported from {}", dl.url()));
    let tmp = tmp_path(&e, "import").await?;
    let _ = tx.send(line(
        json!({"status": format!("Downloading from {}", dl.url())}),
    ));
    tokio::spawn(async move {
        let total = dl.total();
        let url = dl.url().to_owned();
        let mut sent = Throttle::default();
        let mut progress = |n: u64| {
            if sent.due(n, total) {
                let _ = tx.send(line(import_progress(n, total)));
            }
            !tx.is_closed()
        };
        match dl.save_to(&tmp, &mut progress).await {
            Ok(n) => {
                tracing::info!(url, bytes = n, "downloaded for import");
                if sent.bytes != n {
                    let _ = tx.send(line(import_progress(n, total)));
                }
            }
            Err(err) => {
                tracing::warn!(url, error = %err, "import download failed");
                let _ = tx.send(err_line(&err.to_string()));
                return;
            }
        }
        import_file(&e, params, tmp, &tx).await;
    });
    Ok(stream_response(rx))
}

/// Imports the tarball at `tmp` (removed afterwards) and sends the new image ID, or the
/// error, to `tx`.
async fn import_file(
    e: &Arc<Engine>,
    p: ImportParams,
    tmp: std::path::PathBuf,
    tx: &mpsc::UnboundedSender<Bytes>,
) {
    let name = p
        .reference
        .as_ref()
        .map(|r| r.familiar())
        .unwrap_or_default();
    let e2 = e.clone();
    let tmp2 = tmp.clone();
    let res = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&tmp2)?;
        berth_image::archive::import_for(
            &e2.images,
            f,
            &p.changes,
            p.reference.as_ref(),
            p.message.as_deref(),
            p.platform.as_ref(),
        )
        .map_err(|err| std::io::Error::other(err.to_string()))
    })
    .await;
    let _ = tokio::fs::remove_file(&tmp).await;
    match res {
        Ok(Ok(rec)) => {
            e.emit_image("import", &rec.id.to_string(), &name);
            let _ = tx.send(line(json!({"status": rec.id.to_string()})));
        }
        Ok(Err(err)) => {
            let _ = tx.send(err_line(&err.to_string()));
        }
        Err(err) => {
            let _ = tx.send(err_line(&err.to_string()));
        }
    }
}

/// When a byte count is worth a progress line, as dockerd's progress reader decides: the
/// first, then every 512 KiB at most every 100 ms, and the last.
#[derive(Default)]
struct Throttle {
    bytes: u64,
    at: Option<std::time::Instant>,
}

impl Throttle {
    fn due(&mut self, n: u64, total: Option<u64>) -> bool {
        let now = std::time::Instant::now();
        let due = match self.at {
            None => true,
            Some(_) if total == Some(n) => true,
            Some(t) => {
                n - self.bytes >= 512 * 1024
                    && now.duration_since(t) >= std::time::Duration::from_millis(100)
            }
        };
        if due {
            (self.bytes, self.at) = (n, Some(now));
        }
        due
    }
}

/// An `Importing` line: `total` -1 when the server did not say.
fn import_progress(current: u64, total: Option<u64>) -> Value {
    json!({
        "status": "Importing",
        "progressDetail": {"current": current, "total": total.map_or(-1, |t| t as i64)},
        "progress": progress_bar(current, total),
    })
}

/// Docker's JSONProgress string as dockerd renders it (a 50-wide bar, sizes in decimal
/// units: `[==>   ]  32.77kB/1.997MB`; the size alone when the total is unknown).
fn progress_bar(current: u64, total: Option<u64>) -> String {
    let Some(total) = total.filter(|t| *t > 0) else {
        return format!("{:>8}", human_size(current));
    };
    let filled = ((current as f64 / total as f64 * 100.0) as usize / 2).min(50);
    let bar = format!("[{}>{}] ", "=".repeat(filled), " ".repeat(50 - filled));
    if current > total {
        return format!("{bar}{:>8}", human_size(current));
    }
    format!("{bar}{:>8}/{}", human_size(current), human_size(total))
}

/// go-units' HumanSize: decimal units, 4 significant digits, trailing zeros dropped.
fn human_size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let decimals = match v {
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let s = format!("{v:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{}", UNITS[i])
}

/// Every value of `key` in a raw query string (`changes` and `names` repeat).
pub fn query_all(raw: Option<&str>, key: &str) -> Vec<String> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                    match u8::from_str_radix(hex, 16) {
                        Ok(v) => {
                            out.push(v);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    raw.unwrap_or("")
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k) == key).then(|| decode(v))
        })
        .collect()
}

/// A new temp file name under the data root (`what-<random>`).
pub(crate) async fn tmp_path(e: &Engine, what: &str) -> ApiResult<std::path::PathBuf> {
    let tmpdir = e.cfg.data_root.join("tmp");
    tokio::fs::create_dir_all(&tmpdir)
        .await
        .map_err(|err| ApiError::from(EngineError::internal("tmp dir", err)))?;
    Ok(tmpdir.join(format!("{what}-{}", berth_engine::ids::random_hex(8))))
}

/// Streams the request body into a temp file under the data root (the archive readers
/// are synchronous). The caller removes it.
pub(crate) async fn spool(e: &Engine, what: &str, req: Request) -> ApiResult<std::path::PathBuf> {
    let tmp = tmp_path(e, what).await?;
    let mut f = tokio::fs::File::create(&tmp)
        .await
        .map_err(|err| ApiError::from(EngineError::internal("spool upload", err)))?;
    let mut body = req.into_body().into_data_stream();
    let res: ApiResult<()> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|err| ApiError::bad_request(format!("read body: {err}")))?;
            f.write_all(&chunk)
                .await
                .map_err(|err| ApiError::from(EngineError::internal("spool upload", err)))?;
        }
        f.flush().await.ok();
        Ok(())
    }
    .await;
    if let Err(err) = res {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(err);
    }
    Ok(tmp)
}

/// The registry client for a request: the daemon's, or one answering with the request's
/// `X-Registry-Auth` credentials.
fn client_for(e: &Engine, headers: &HeaderMap) -> RegistryClient {
    let auth = headers
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .and_then(RegistryAuth::decode_header);
    match auth.as_ref().and_then(|a| a.credential().map(|c| (a, c))) {
        Some((a, c)) => e.registry.with_credential(&a.registry_host(), c),
        None => e.registry.clone(),
    }
}

fn summary_json(e: &Engine, s: &berth_image::images::ImageSummary, shared: Option<u64>) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    let users = berth_image::digest::Digest::parse(&s.id)
        .map(|d| e.image_users(&d).len())
        .unwrap_or(0);
    v["SharedSize"] = shared.map_or(json!(-1), |n| json!(n));
    v["VirtualSize"] = json!(s.size);
    v["Containers"] = json!(users);
    v
}

/// Per image ID, the bytes of its layers that other images share.
pub fn shared_sizes(e: &Engine) -> HashMap<String, u64> {
    e.images
        .disk_usage()
        .map(|u| {
            u.per_image
                .into_iter()
                .map(|i| (i.id.to_string(), i.shared_size))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /images/json` (`filters`, `shared-size`, `all` for intermediate images).
pub async fn list(
    State(e): State<Arc<Engine>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let f = filters_of(&q, accepted::IMAGES)?;
    let l = e.image_list(&f, flag(&q, "all"))?;
    let shared = flag(&q, "shared-size").then(|| shared_sizes(&e));
    let out: Vec<Value> = l
        .iter()
        .map(|s| {
            let sh = shared.as_ref().map(|m| m.get(&s.id).copied().unwrap_or(0));
            summary_json(&e, s, sh)
        })
        .collect();
    Ok(Json(json!(out)))
}

/// Every key of Docker's container config, for image configs that set only some (Go
/// templates such as `{{.Config.Entrypoint}}` fail on a missing key).
fn full_config(v: &Value) -> Value {
    let mut out = json!({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
        "AttachStdout": false, "AttachStderr": false, "Tty": false, "OpenStdin": false,
        "StdinOnce": false, "Env": null, "Cmd": null, "Image": "", "Volumes": null,
        "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null,
    });
    if let (Some(o), Some(src)) = (out.as_object_mut(), v.as_object()) {
        for (k, val) in src {
            o.insert(k.clone(), val.clone());
        }
    }
    out
}

/// `GET /images/{name}/json` with the fields dockerd 20.10 also shows.
fn inspect_json(e: &Engine, i: berth_image::images::ImageInspect) -> Value {
    let size = i.size;
    let dirs = layer_dirs(e, &i.root_fs.layers);
    let mut v = serde_json::to_value(i).unwrap_or_default();
    v["Config"] = full_config(&v["Config"]);
    v["ContainerConfig"] = full_config(&json!({}));
    v["Container"] = json!("");
    v["DockerVersion"] = json!("");
    v["VirtualSize"] = json!(size);
    v["GraphDriver"] = json!({ "Name": "overlay2", "Data": dirs });
    v
}

/// Where the image's layers are on disk, as dockerd's overlay2 shows them: the top layer's
/// contents as `UpperDir`, the ones below it (top first) as `LowerDir`, and the merged and
/// work paths beside the top layer (which an image never mounts). Null for an image
/// without layers, as dockerd's.
fn layer_dirs(e: &Engine, diff_ids: &[String]) -> Value {
    let digests: Option<Vec<berth_image::digest::Digest>> = diff_ids
        .iter()
        .map(|d| berth_image::digest::Digest::parse(d).ok())
        .collect();
    let dirs = digests
        .and_then(|d| berth_image::snapshot::chain_ids(&d).pop())
        .and_then(|top| e.images.snapshots().lower_dirs(&top).ok())
        .unwrap_or_default();
    let Some((upper, lower)) = dirs.split_first() else {
        return Value::Null;
    };
    let beside = |name: &str| upper.parent().unwrap_or(upper).join(name);
    let mut data = json!({
        "MergedDir": beside("merged"),
        "UpperDir": upper,
        "WorkDir": beside("work"),
    });
    if !lower.is_empty() {
        let joined: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
        data["LowerDir"] = json!(joined.join(":"));
    }
    data
}

/// A missing image named as dockerd names it (`No such image: name:latest`).
fn missing_image(name: &str) -> impl FnOnce(berth_image::images::ImageError) -> EngineError {
    let full = berth_engine::images::familiar_or(name);
    move |err| match err {
        berth_image::images::ImageError::NotFound(_) => {
            EngineError::NotFound(format!("No such image: {full}"))
        }
        other => other.into(),
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("page not found: {path}"))
}

/// `GET /images/{name}/json|history|get` and `GET /images/get?names=` (names contain
/// slashes, so this takes the whole rest).
pub async fn get(
    State(e): State<Arc<Engine>>,
    Path(rest): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    if rest == "get" {
        return save(e, query_all(raw.as_deref(), "names")).await;
    }
    if let Some(name) = rest.strip_suffix("/json") {
        let i = e.images.inspect(name).map_err(|err| match err {
            berth_image::images::ImageError::NotFound(_) => EngineError::NotFound(format!(
                "no such image: {name}: No such image: {}",
                berth_engine::images::familiar_or(name)
            )),
            other => other.into(),
        })?;
        return Ok(Json(inspect_json(&e, i)).into_response());
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let h = e.images.history(name).map_err(missing_image(name))?;
        return Ok(Json(json!(h)).into_response());
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return save(e, vec![name.to_owned()]).await;
    }
    Err(not_found(&format!("/images/{rest}")))
}

/// `POST /images/{name}/tag|push`, `POST /images/load`, `POST /images/prune`.
pub async fn post(
    State(e): State<Arc<Engine>>,
    Path(rest): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> ApiResult<Response> {
    match rest.as_str() {
        "load" => return load(e, flag(&q, "quiet"), req).await,
        "prune" => return prune(e, &q).await,
        _ => {}
    }
    if let Some(name) = rest.strip_suffix("/tag") {
        let repo = q.get("repo").cloned().unwrap_or_default();
        if repo.is_empty() {
            return Err(ApiError::bad_request(
                "repository name must have at least one component",
            ));
        }
        let tag = q.get("tag").cloned().unwrap_or_default();
        let target = if tag.is_empty() {
            repo
        } else {
            format!("{repo}:{tag}")
        };
        e.images.tag(name, &target).map_err(missing_image(name))?;
        if let (Ok(rec), Ok(r)) = (e.images.resolve(&target), Reference::parse(&target)) {
            let t = if r.tag().is_some() {
                r.familiar()
            } else {
                format!("{}:latest", r.familiar())
            };
            e.emit_image("tag", &rec.id.to_string(), &t);
        }
        return Ok(StatusCode::CREATED.into_response());
    }
    if let Some(name) = rest.strip_suffix("/push") {
        let tag = q.get("tag").cloned().unwrap_or_default();
        let client = client_for(&e, req.headers());
        return push(e, client, name, &tag).await;
    }
    Err(not_found(&format!("/images/{rest}")))
}

/// `DELETE /images/{name}` (`force`, `noprune`: keep the untagged parents).
pub async fn delete(
    State(e): State<Arc<Engine>>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    // dockerd's words for `docker rmi " "`.
    if name.trim().is_empty() {
        return Err(EngineError::InvalidArgument("image name cannot be blank".into()).into());
    }
    let actions = e
        .image_remove(&name, flag(&q, "force"), flag(&q, "noprune"))
        .await?;
    Ok(Json(actions_json(&actions)))
}

fn actions_json(actions: &[RemoveAction]) -> Value {
    json!(
        actions
            .iter()
            .map(|a| match a {
                RemoveAction::Untagged(t) => json!({ "Untagged": t }),
                RemoveAction::Deleted(d) | RemoveAction::DeletedLayer(d) =>
                    json!({ "Deleted": d.to_string() }),
            })
            .collect::<Vec<_>>()
    )
}

async fn prune(e: Arc<Engine>, q: &HashMap<String, String>) -> ApiResult<Response> {
    let f = filters_of(q, accepted::IMAGE_PRUNE)?;
    let (actions, freed) = e.image_prune(&f).await?;
    Ok(
        Json(json!({ "ImagesDeleted": actions_json(&actions), "SpaceReclaimed": freed }))
            .into_response(),
    )
}

/// A `Write` that hands its bytes to an async body through a bounded channel, so a
/// synchronous archive writer streams without buffering the whole tar.
struct ChannelWriter(mpsc::Sender<Bytes>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `docker save`: a docker-archive tar of the named images, streamed.
async fn save(e: Arc<Engine>, names: Vec<String>) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no images named"));
    }
    for n in &names {
        // A bare repository name stands for all its tags, `latest` or not.
        let last = n.rsplit('/').next().unwrap_or(n);
        let repo_tags = match berth_image::reference::Reference::parse(n) {
            Ok(r) if r.digest().is_none() && !last.contains(':') => e.images.tags_named(&r.name()),
            _ => Vec::new(),
        };
        if repo_tags.is_empty() {
            let rec = e.images.resolve(n).map_err(EngineError::from)?;
            e.emit_image("save", &rec.id.to_string(), n);
        }
        for (t, id) in repo_tags {
            e.emit_image("save", &id.to_string(), &t.familiar());
        }
    }
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let w = std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter(tx));
        match berth_image::archive::save(&e.images, &refs, w) {
            Ok(mut w) => {
                let _ = std::io::Write::flush(&mut w);
            }
            Err(err) => tracing::warn!(error = %err, "image save failed mid-stream"),
        }
    });
    let s = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(Ok::<_, std::io::Error>);
    Ok((
        [("Content-Type", "application/x-tar")],
        Body::from_stream(s),
    )
        .into_response())
}

/// `docker load`: `{"stream":"Loaded image: …"}` per image.
async fn load(e: Arc<Engine>, _quiet: bool, req: Request) -> ApiResult<Response> {
    let tmp = spool(&e, "load", req).await?;
    let e2 = e.clone();
    let tmp2 = tmp.clone();
    let res = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&tmp2).map_err(|err| err.to_string())?;
        berth_image::archive::load(&e2.images, f).map_err(|err| err.to_string())
    })
    .await
    .map_err(|err| err.to_string())
    .and_then(|r| r);
    let _ = std::fs::remove_file(&tmp);
    let loaded = res.map_err(|m| ApiError::bad_request(format!("load: {m}")))?;
    let mut out = Vec::new();
    for l in &loaded {
        let id = l.id.to_string();
        e.emit_image("load", &id, l.tags.first().unwrap_or(&id));
        if l.tags.is_empty() {
            out.extend_from_slice(&line(
                json!({"stream": format!("Loaded image ID: {}\n", l.id)}),
            ));
        }
        for t in &l.tags {
            out.extend_from_slice(&line(json!({"stream": format!("Loaded image: {t}\n")})));
        }
    }
    Ok(([("Content-Type", "application/json")], out).into_response())
}

fn push_line(p: &Progress) -> Value {
    let id = short(&p.layer);
    match &p.status {
        LayerStatus::AlreadyExists => {
            json!({"status": "Layer already exists", "progressDetail": {}, "id": id})
        }
        LayerStatus::Done => json!({"status": "Pushed", "progressDetail": {}, "id": id}),
        LayerStatus::Downloading { current, total } => {
            let mut v = progress_line(p);
            v["status"] = json!("Pushing");
            v["progressDetail"] = json!({"current": current, "total": total});
            v
        }
        _ => progress_line(p),
    }
}

/// `docker push`: every local tag of `name` (or just `tag`), with Docker's progress stream.
async fn push(
    e: Arc<Engine>,
    client: RegistryClient,
    name: &str,
    tag: &str,
) -> ApiResult<Response> {
    let repo = Reference::parse(name).map_err(|err| ApiError::bad_request(err.to_string()))?;
    let mut local: Vec<Reference> = e
        .images
        .list()
        .map_err(EngineError::from)?
        .iter()
        .flat_map(|s| s.repo_tags.clone())
        .filter_map(|t| Reference::parse(&t).ok())
        .filter(|r| r.name() == repo.name())
        .collect();
    local.sort_by_key(|r| r.to_string());
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(line(
        json!({"status": format!("The push refers to repository [{}]", repo.name())}),
    ));
    // As dockerd: the errors come in the stream, after the first line.
    let targets = if tag.is_empty() {
        local.clone()
    } else {
        vec![
            repo.with_tag(tag)
                .map_err(|err| ApiError::bad_request(err.to_string()))?,
        ]
    };
    if local.is_empty() {
        let _ = tx.send(err_line(&format!(
            "An image does not exist locally with the tag: {}",
            repo.name()
        )));
        return Ok(stream_response(rx));
    }
    if let Some(t) = targets.iter().find(|t| !local.contains(t)) {
        let _ = tx.send(err_line(&format!("tag does not exist: {}", t.familiar())));
        return Ok(stream_response(rx));
    }
    tokio::spawn(async move {
        for t in targets {
            let Ok(rec) = e.images.resolve(&t.to_string()) else {
                continue;
            };
            if let Ok((m, _)) = e.images.manifest_and_config(&rec) {
                for l in &m.layers {
                    let _ = tx.send(line(json!({"status": "Preparing", "progressDetail": {}, "id": short(&l.digest)})));
                }
            }
            let tx2 = tx.clone();
            let config = rec.id.clone();
            let opts = PushOptions {
                progress: Some(Arc::new(move |p: Progress| {
                    // dockerd reports layers only, not the config blob.
                    if p.layer != config {
                        let _ = tx2.send(line(push_line(&p)));
                    }
                })),
                ..Default::default()
            };
            match e.images.push(&client, &t.to_string(), &t, &opts).await {
                Ok(_) => {
                    e.emit_image("push", &t.familiar(), &t.familiar_name());
                    let size = e.images.content().size(&rec.manifest).unwrap_or(0);
                    let tag = t.tag().unwrap_or("latest").to_owned();
                    let _ = tx.send(line(
                        json!({"status": format!("{tag}: digest: {} size: {size}", rec.manifest)}),
                    ));
                    let _ = tx.send(line(json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": rec.manifest.to_string(), "Size": size}})));
                }
                Err(err) => {
                    let _ = tx.send(err_line(&EngineError::from(err).to_string()));
                    return;
                }
            }
        }
    });
    Ok(stream_response(rx))
}

/// `POST /commit`.
pub async fn commit(
    State(e): State<Arc<Engine>>,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let config = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<Option<berth_engine::types::Config>>(&body)
            .map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))?
    };
    let container = q.get("container").cloned().unwrap_or_default();
    if container.is_empty() {
        return Err(ApiError::bad_request("container is required"));
    }
    let repo = q.get("repo").cloned().unwrap_or_default();
    let tag = q.get("tag").cloned().unwrap_or_default();
    let reference = match (repo.is_empty(), tag.is_empty()) {
        (true, _) => None,
        (false, true) => Some(repo),
        (false, false) => Some(format!("{repo}:{tag}")),
    };
    let req = berth_engine::images::CommitRequest {
        container,
        reference,
        comment: q.get("comment").cloned(),
        author: q.get("author").cloned(),
        pause: q.get("pause").is_none_or(|_| flag(&q, "pause")),
        changes: query_all(raw.as_deref(), "changes")
            .iter()
            .flat_map(|c| c.lines().map(str::to_owned).collect::<Vec<_>>())
            .filter(|c| !c.trim().is_empty())
            .collect(),
        config,
    };
    let id = e.commit(req).await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))))
}

/// `POST /auth`: checks the credentials against the registry; nothing is stored (the
/// client keeps them and sends them with each pull and push).
pub async fn auth(State(e): State<Arc<Engine>>, body: Bytes) -> ApiResult<Json<Value>> {
    let a: RegistryAuth = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))?;
    let host = a.registry_host();
    let client = match a.credential() {
        Some(c) => e.registry.with_credential(&host, c),
        None => e.registry.clone(),
    };
    match client.login(&host).await {
        Ok(()) => Ok(Json(
            json!({"Status": "Login Succeeded", "IdentityToken": ""}),
        )),
        Err(err @ berth_image::registry::RegistryError::Auth { .. }) => {
            Err(ApiError(StatusCode::UNAUTHORIZED, err.to_string()))
        }
        Err(err) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())),
    }
}
