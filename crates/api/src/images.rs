//! Images: pull (`POST /images/create?fromImage=`) with Docker's JSON progress stream,
//! import (`fromSrc=-`), list and inspect.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use berth_engine::{Engine, EngineError};
use berth_image::pull::{LayerStatus, Progress, PullOptions};
use berth_image::reference::Reference;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};

fn line(v: Value) -> Bytes {
    let mut b = serde_json::to_vec(&v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

fn short(d: &berth_image::digest::Digest) -> String {
    d.hex().chars().take(12).collect()
}

fn progress_line(p: &Progress) -> Value {
    let id = short(&p.layer);
    match &p.status {
        LayerStatus::Waiting => json!({"status": "Waiting", "progressDetail": {}, "id": id}),
        LayerStatus::AlreadyExists => {
            json!({"status": "Already exists", "progressDetail": {}, "id": id})
        }
        LayerStatus::Downloading { current, total } => {
            let width = 50u64;
            let filled = if *total > 0 {
                (current * width / total).min(width)
            } else {
                0
            };
            let bar = format!(
                "[{}>{}] {}/{}",
                "=".repeat(filled as usize),
                " ".repeat((width - filled) as usize),
                current,
                total
            );
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

fn stream_response(rx: mpsc::UnboundedReceiver<Bytes>) -> Response {
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
    req: Request,
) -> ApiResult<Response> {
    if let Some(src) = q.get("fromSrc") {
        return import(e, &q, src, req).await;
    }
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
    let _ = tx.send(line(json!({"status": format!("Pulling from {}", reference.familiar_name()), "id": reference.tag().unwrap_or("latest")})));
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
        match e.images.pull(&e.registry, &reference, &opts).await {
            Ok((rec, res)) => {
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

async fn import(
    e: Arc<Engine>,
    q: &HashMap<String, String>,
    src: &str,
    req: Request,
) -> ApiResult<Response> {
    if src != "-" {
        return Err(ApiError::bad_request(
            "import from a URL is not supported; use fromSrc=-",
        ));
    }
    let repo = q.get("repo").cloned().unwrap_or_default();
    let tag = q.get("tag").cloned().unwrap_or_default();
    let reference = if repo.is_empty() {
        None
    } else {
        let r = Reference::parse(&repo).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Some(if tag.is_empty() {
            r
        } else {
            r.with_tag(&tag)
                .map_err(|e| ApiError::bad_request(e.to_string()))?
        })
    };
    let changes: Vec<String> = q
        .get("changes")
        .map(|c| vec![c.clone()])
        .unwrap_or_default();
    let message = q.get("message").cloned();
    // Spool the body to a temp file: the importer is synchronous.
    let tmpdir = e.cfg.data_root.join("tmp");
    tokio::fs::create_dir_all(&tmpdir)
        .await
        .map_err(|err| ApiError::from(EngineError::internal("tmp dir", err)))?;
    let tmp = tmpdir.join(format!("import-{}", berth_engine::ids::random_hex(8)));
    let mut f = tokio::fs::File::create(&tmp)
        .await
        .map_err(|err| ApiError::from(EngineError::internal("spool import", err)))?;
    let mut body = req.into_body().into_data_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|err| ApiError::bad_request(format!("read body: {err}")))?;
        f.write_all(&chunk)
            .await
            .map_err(|err| ApiError::from(EngineError::internal("spool import", err)))?;
    }
    f.flush().await.ok();
    drop(f);
    let e2 = e.clone();
    let tmp2 = tmp.clone();
    let res = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&tmp2)?;
        berth_image::archive::import(
            &e2.images,
            f,
            &changes,
            reference.as_ref(),
            message.as_deref(),
        )
        .map_err(|err| std::io::Error::other(err.to_string()))
    })
    .await;
    let _ = std::fs::remove_file(&tmp);
    let (tx, rx) = mpsc::unbounded_channel();
    match res {
        Ok(Ok(rec)) => {
            let _ = tx.send(line(json!({"status": rec.id.to_string()})));
        }
        Ok(Err(err)) => {
            let _ = tx.send(err_line(&err.to_string()));
        }
        Err(err) => {
            let _ = tx.send(err_line(&err.to_string()));
        }
    }
    drop(tx);
    Ok(stream_response(rx))
}

/// `GET /images/json`.
pub async fn list(State(e): State<Arc<Engine>>) -> ApiResult<Json<Value>> {
    let l = e.images.list().map_err(EngineError::from)?;
    let out: Vec<Value> = l
        .into_iter()
        .map(|s| {
            let mut v = serde_json::to_value(&s).unwrap_or_default();
            v["ParentId"] = json!("");
            v["SharedSize"] = json!(-1);
            v["VirtualSize"] = json!(s.size);
            v["Containers"] = json!(-1);
            v
        })
        .collect();
    Ok(Json(json!(out)))
}

/// `GET /images/{name}/json` (names contain slashes, so this takes the whole rest).
pub async fn get(State(e): State<Arc<Engine>>, Path(rest): Path<String>) -> ApiResult<Json<Value>> {
    let Some(name) = rest.strip_suffix("/json") else {
        return Err(ApiError(
            axum::http::StatusCode::NOT_FOUND,
            format!("page not found: /images/{rest}"),
        ));
    };
    let i = e.images.inspect(name).map_err(EngineError::from)?;
    Ok(Json(serde_json::to_value(i).unwrap_or_default()))
}
