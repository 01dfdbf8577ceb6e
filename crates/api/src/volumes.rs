//! Volumes: create, list, inspect, remove, prune (`local` driver; see
//! `berth_engine::volumes`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use berth_engine::Engine;
use berth_engine::volumes::CreateVolume;
use serde_json::{Value, json};

use crate::containers::{accepted, filters_of, flag};
use crate::error::{ApiError, ApiResult};

type Q = Query<HashMap<String, String>>;

/// `POST /volumes/create`.
pub async fn create(
    State(e): State<Arc<Engine>>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: CreateVolume = if body.iter().all(u8::is_ascii_whitespace) {
        CreateVolume::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))?
    };
    Ok((StatusCode::CREATED, Json(e.volume_create(req)?)))
}

/// `GET /volumes`.
pub async fn list(State(e): State<Arc<Engine>>, Query(q): Q) -> ApiResult<Json<Value>> {
    let f = filters_of(&q, accepted::VOLUMES)?;
    Ok(Json(
        json!({ "Volumes": e.volume_list(&f)?, "Warnings": [] }),
    ))
}

/// `GET /volumes/{name}`.
pub async fn inspect(
    State(e): State<Arc<Engine>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(e.volume_inspect(&name)?))
}

/// `DELETE /volumes/{name}`.
pub async fn remove(
    State(e): State<Arc<Engine>>,
    Path(name): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    e.volume_remove(&name, flag(&q, "force"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /volumes/prune`. Before API 1.42 prune took named volumes too (as dockerd still
/// does for such clients); since then only anonymous ones unless `all=true`.
pub async fn prune(
    State(e): State<Arc<Engine>>,
    version: Option<axum::Extension<crate::version::RequestVersion>>,
    Query(q): Q,
) -> ApiResult<Json<Value>> {
    let mut f = filters_of(&q, accepted::VOLUME_PRUNE)?;
    if version.is_some_and(|v| v.0.0 < 42) {
        f.insert("all".into(), vec!["true".into()]);
    }
    let (deleted, freed) = e.volume_prune(&f)?;
    Ok(Json(
        json!({ "VolumesDeleted": deleted, "SpaceReclaimed": freed }),
    ))
}

/// `GET /system/df`: images (with shared sizes and container counts), containers (with
/// `SizeRw`/`SizeRootFs`), volumes (with `UsageData`); berth keeps no build cache yet.
pub async fn system_df(State(e): State<Arc<Engine>>) -> ApiResult<Json<Value>> {
    let e2 = e.clone();
    let v = tokio::task::spawn_blocking(move || -> ApiResult<Value> {
        let e = e2;
        let usage = e
            .images
            .disk_usage()
            .map_err(berth_engine::EngineError::from)?;
        let shared: HashMap<String, u64> = usage
            .per_image
            .iter()
            .map(|i| (i.id.to_string(), i.shared_size))
            .collect();
        let images: Vec<Value> = e
            .images
            .list()
            .map_err(berth_engine::EngineError::from)?
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                let users = berth_image::digest::Digest::parse(&s.id)
                    .map(|d| e.image_users(&d).len())
                    .unwrap_or(0);
                v["SharedSize"] = json!(shared.get(&s.id).copied().unwrap_or(0));
                v["VirtualSize"] = json!(s.size);
                v["Containers"] = json!(users);
                v
            })
            .collect();
        let mut containers = e.list(true, None, &HashMap::new())?;
        for c in &mut containers {
            let id = c["Id"].as_str().unwrap_or_default().to_owned();
            let (rw, rootfs) = e.container_sizes(&id);
            c["SizeRw"] = json!(rw);
            c["SizeRootFs"] = json!(rootfs);
        }
        Ok(json!({
            "LayersSize": usage.layers_size,
            "Images": images,
            "Containers": containers,
            "Volumes": e.volume_usage()?,
            "BuildCache": [],
        }))
    })
    .await
    .map_err(|err| ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))??;
    Ok(Json(v))
}
