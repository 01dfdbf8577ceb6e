//! Network routes: list, inspect, create, remove, connect, disconnect, prune. The engine's
//! `network.rs` does the work; these map bodies and status codes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use berth_engine::Engine;
use serde_json::{Value, json};

use crate::containers::{Q, accepted, filters_of};
use crate::error::{ApiError, ApiResult};

fn body_json(body: &Bytes) -> ApiResult<Value> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

pub async fn list(State(e): State<Arc<Engine>>, Query(q): Q) -> ApiResult<Json<Value>> {
    Ok(Json(json!(
        e.network_list(&filters_of(&q, accepted::NETWORKS)?)?
    )))
}

pub async fn inspect(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(e.network_inspect(&id)?))
}

pub async fn create(
    State(e): State<Arc<Engine>>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let v = body_json(&body)?;
    let id = e.network_create(&v).await?;
    Ok((StatusCode::CREATED, Json(json!({"Id": id, "Warning": ""}))))
}

pub async fn remove(State(e): State<Arc<Engine>>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    e.network_remove(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn container_of(v: &Value) -> ApiResult<String> {
    v["Container"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("no container specified"))
}

pub async fn connect(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let v = body_json(&body)?;
    let c = container_of(&v)?;
    e.network_connect(&id, &c, &v["EndpointConfig"]).await?;
    Ok(StatusCode::OK)
}

pub async fn disconnect(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let v = body_json(&body)?;
    let c = container_of(&v)?;
    e.network_disconnect(&id, &c).await?;
    Ok(StatusCode::OK)
}

pub async fn prune(State(e): State<Arc<Engine>>, Query(q): Q) -> ApiResult<Json<Value>> {
    let names = e
        .network_prune(&filters_of(&q, accepted::NETWORK_PRUNE)?)
        .await?;
    Ok(Json(json!({ "NetworksDeleted": names })))
}
