//! Container routes beyond the lifecycle: top, stats, archive (`docker cp`), export,
//! changes, rename, update, prune, and the list's `size` and extra filters.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use berth_engine::Engine;
use berth_engine::archive::{ChanWriter, ExtractOptions};
use serde_json::{Value, json};

use crate::containers::{Q, accepted, filters, filters_of, flag};
use crate::error::{ApiError, ApiResult};

fn body_of(rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>) -> Body {
    let mut rx = rx;
    Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

fn path_param(q: &HashMap<String, String>) -> ApiResult<String> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .cloned()
        .ok_or_else(|| ApiError::bad_request("path is required"))
}

fn stat_header(stat: &Value) -> HeaderMap {
    let mut h = HeaderMap::new();
    let enc = base64::engine::general_purpose::STANDARD.encode(stat.to_string());
    if let Ok(v) = HeaderValue::from_str(&enc) {
        h.insert("X-Docker-Container-Path-Stat", v);
    }
    h
}

/// `HEAD /containers/{id}/archive`.
pub async fn archive_head(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let path = path_param(&q)?;
    let stat = e.archive_stat(&id, &path).await?;
    Ok((stat_header(&stat), "").into_response())
}

/// `GET /containers/{id}/archive`: the stat header and a tar stream.
pub async fn archive_get(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let path = path_param(&q)?;
    let (w, rx) = ChanWriter::new();
    let stat = e.archive_get(&id, &path, w).await?;
    let mut h = stat_header(&stat);
    h.insert(
        "Content-Type",
        HeaderValue::from_static("application/x-tar"),
    );
    Ok((h, body_of(rx)).into_response())
}

/// `PUT /containers/{id}/archive`: extracts the request's tar into `path`.
pub async fn archive_put(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
    body: Body,
) -> ApiResult<StatusCode> {
    let path = path_param(&q)?;
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: flag(&q, "noOverwriteDirNonDir"),
        copy_uid_gid: flag(&q, "copyUIDGID"),
    };
    let stream = futures_util::TryStreamExt::map_err(body.into_data_stream(), |err| {
        std::io::Error::other(err.to_string())
    });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    e.archive_put(&id, &path, opts, reader).await?;
    Ok(StatusCode::OK)
}

/// `GET /containers/{id}/export`.
pub async fn export(State(e): State<Arc<Engine>>, Path(id): Path<String>) -> ApiResult<Response> {
    let (w, rx) = ChanWriter::new();
    e.get(&id)?;
    tokio::spawn(async move {
        if let Err(err) = e.export(&id, w).await {
            tracing::warn!(container = %id, error = %err, "export failed");
        }
    });
    Ok(([("Content-Type", "application/x-tar")], body_of(rx)).into_response())
}

/// `GET /containers/{id}/changes`.
pub async fn changes(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(e.changes(&id).await?))
}

/// `GET /containers/{id}/top`.
pub async fn top(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Json<Value>> {
    let args = q.get("ps_args").map(String::as_str).unwrap_or("");
    Ok(Json(e.top(&id, args).await?))
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let name = q.get("name").map(String::as_str).unwrap_or("");
    e.rename(&id, name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/prune`.
pub async fn prune(State(e): State<Arc<Engine>>, Query(q): Q) -> ApiResult<Json<Value>> {
    let f = filters_of(&q, accepted::CONTAINER_PRUNE)?;
    let (ids, reclaimed) = e.prune_containers(&f).await?;
    Ok(Json(json!({
        "ContainersDeleted": if ids.is_empty() { Value::Null } else { json!(ids) },
        "SpaceReclaimed": reclaimed,
    })))
}

/// The list's filters the engine does not apply itself (`before`, `since`, `health`)
/// and `size`, applied to its result.
pub fn list_extra(
    e: &Engine,
    q: &HashMap<String, String>,
    mut list: Vec<Value>,
    limit: Option<usize>,
) -> ApiResult<Vec<Value>> {
    let f = filters(q)?;
    // Creation times to the nanosecond: containers made within one second keep their order
    // (the list's `Created` is in whole seconds).
    let created_ns = |key: &str| -> Option<i128> {
        let c = e.get(key).ok()?;
        berth_engine::logs::rfc3339_nanos(&c.rec().created)
    };
    let entry_ns = |c: &Value| c["Id"].as_str().and_then(created_ns).unwrap_or(0);
    if let Some(b) = f.get("before").and_then(|v| v.first()) {
        e.get(b)
            .map_err(|_| ApiError(StatusCode::NOT_FOUND, format!("no such container {b}")))?;
        let t = created_ns(b).unwrap_or(0);
        list.retain(|c| entry_ns(c) < t);
    }
    if let Some(s) = f.get("since").and_then(|v| v.first()) {
        e.get(s)
            .map_err(|_| ApiError(StatusCode::NOT_FOUND, format!("no such container {s}")))?;
        let t = created_ns(s).unwrap_or(0);
        list.retain(|c| entry_ns(c) > t);
    }
    if let Some(h) = f.get("health").filter(|v| !v.is_empty()) {
        for v in h {
            if !matches!(v.as_str(), "starting" | "healthy" | "unhealthy" | "none") {
                return Err(ApiError::bad_request(format!(
                    "Unrecognised filter value for health: {v}"
                )));
            }
        }
        list.retain(|c| {
            let st = c["Id"]
                .as_str()
                .and_then(|id| e.get(id).ok())
                .map(|c| e.health_status(&c))
                .unwrap_or_else(|| "none".into());
            h.contains(&st)
        });
    }
    if let Some(v) = f.get("volume").filter(|v| !v.is_empty()) {
        list.retain(|c| {
            c["Mounts"].as_array().is_some_and(|ms| {
                ms.iter().any(|m| {
                    v.iter()
                        .any(|x| m["Name"] == x.as_str() || m["Destination"] == x.as_str())
                })
            })
        });
    }
    if let Some(v) = f.get("network").filter(|v| !v.is_empty()) {
        list.retain(|c| {
            let nets = c["NetworkSettings"]["Networks"].as_object();
            v.iter().any(|x| {
                c["HostConfig"]["NetworkMode"] == x.as_str()
                    || nets.is_some_and(|n| {
                        n.iter().any(|(name, ep)| {
                            name == x
                                || ep["NetworkID"]
                                    .as_str()
                                    .is_some_and(|id| !x.is_empty() && id.starts_with(x.as_str()))
                        })
                    })
            })
        });
    }
    if let Some(n) = limit {
        list.truncate(n);
    }
    if flag(q, "size") {
        for c in &mut list {
            if let Some(ct) = c["Id"].as_str().and_then(|id| e.get(id).ok()) {
                let (rw, rootfs) = e.sizes(&ct);
                c["SizeRw"] = json!(rw);
                c["SizeRootFs"] = json!(rootfs);
            }
        }
    }
    Ok(list)
}

/// `GET /containers/{id}/stats`: JSON lines every second (`stream`, the default), or one
/// object (`stream=false`; `one-shot=true` skips the second sample).
pub async fn stats(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let stream = q.get("stream").is_none_or(|_| flag(&q, "stream"));
    let one_shot = flag(&q, "one-shot");
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Value>(2);
    e.stats(&id, stream, one_shot, tx).await?;
    let s = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let s = futures_util::StreamExt::map(s, |v| {
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.push(b'\n');
        Ok::<_, std::io::Error>(Bytes::from(b))
    });
    Ok(([("Content-Type", "application/json")], Body::from_stream(s)).into_response())
}

/// `POST /containers/{id}/update`.
pub async fn update(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))?;
    let warnings = e.update(&id, &v).await?;
    Ok(Json(json!({ "Warnings": warnings })))
}
