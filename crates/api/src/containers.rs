//! Container routes (everything but the hijacked attach, which is in `hijack.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::logs::LogOptions;
use berth_engine::types::CreateRequest;
use berth_engine::{Engine, WaitCondition};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};

pub type Q = Query<HashMap<String, String>>;

/// Docker's query booleans: `1`, `true`, `True`.
pub fn flag(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

fn int(q: &HashMap<String, String>, k: &str) -> ApiResult<Option<i64>> {
    match q.get(k).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v}"))),
    }
}

/// The filters each listing and prune takes, as dockerd accepts them: any other is a 400
/// (`invalid filter 'k'`).
pub mod accepted {
    pub const CONTAINERS: &[&str] = &[
        "ancestor",
        "before",
        "exited",
        "id",
        "isolation",
        "label",
        "name",
        "status",
        "health",
        "since",
        "volume",
        "network",
        "is-task",
        "publish",
        "expose",
    ];
    pub const CONTAINER_PRUNE: &[&str] = &["label", "label!", "until"];
    pub const IMAGES: &[&str] = &["dangling", "label", "before", "since", "reference", "until"];
    pub const IMAGE_PRUNE: &[&str] = &["dangling", "label", "label!", "until"];
    pub const VOLUMES: &[&str] = &["dangling", "name", "driver", "label"];
    pub const VOLUME_PRUNE: &[&str] = &["label", "label!", "all"];
    pub const NETWORKS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];
    pub const NETWORK_PRUNE: &[&str] = &["label", "label!", "until"];
}

/// [`filters`], refusing keys not in `accepted` as dockerd does.
pub fn filters_of(
    q: &HashMap<String, String>,
    accepted: &[&str],
) -> ApiResult<HashMap<String, Vec<String>>> {
    let f = filters(q)?;
    if let Some(k) = f.keys().find(|k| !accepted.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
    }
    Ok(f)
}

/// Parses `filters` JSON: `{"k":["v"]}` or the older `{"k":{"v":true}}`.
pub fn filters(q: &HashMap<String, String>) -> ApiResult<HashMap<String, Vec<String>>> {
    let Some(raw) = q.get("filters").filter(|s| !s.is_empty()) else {
        return Ok(HashMap::new());
    };
    let v: Value = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid filters: {e}")))?;
    let mut out = HashMap::new();
    for (k, val) in v.as_object().into_iter().flatten() {
        let list: Vec<String> = match val {
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            Value::Object(o) => o
                .iter()
                .filter(|(_, b)| b.as_bool() == Some(true))
                .map(|(k, _)| k.clone())
                .collect(),
            _ => Vec::new(),
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

pub async fn create(State(e): State<Arc<Engine>>, Query(q): Q, body: Bytes) -> ApiResult<Response> {
    let mut v: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))?;
    lift_host_config(&mut v);
    let req: CreateRequest = serde_json::from_value(v)
        .map_err(|err| ApiError::bad_request(format!("invalid JSON: {err}")))?;
    let (id, warnings) = e.create(q.get("name").map(String::as_str), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": id, "Warnings": warnings})),
    )
        .into_response())
}

/// HostConfig's fields, which old clients (and moby's tests) send at the top level of a
/// create body.
const HOST_CONFIG_KEYS: &[&str] = &[
    "Binds",
    "ContainerIDFile",
    "LogConfig",
    "NetworkMode",
    "PortBindings",
    "RestartPolicy",
    "AutoRemove",
    "VolumeDriver",
    "VolumesFrom",
    "CapAdd",
    "CapDrop",
    "CgroupnsMode",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "IpcMode",
    "Cgroup",
    "Links",
    "OomScoreAdj",
    "PidMode",
    "Privileged",
    "PublishAllPorts",
    "ReadonlyRootfs",
    "SecurityOpt",
    "StorageOpt",
    "Tmpfs",
    "UTSMode",
    "UsernsMode",
    "ShmSize",
    "Sysctls",
    "Runtime",
    "Isolation",
    "CpuShares",
    "Memory",
    "NanoCpus",
    "CgroupParent",
    "BlkioWeight",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpusetCpus",
    "CpusetMems",
    "Devices",
    "DeviceCgroupRules",
    "DeviceRequests",
    "KernelMemory",
    "KernelMemoryTCP",
    "MemoryReservation",
    "MemorySwap",
    "MemorySwappiness",
    "OomKillDisable",
    "PidsLimit",
    "Ulimits",
    "Mounts",
    "Init",
    "MaskedPaths",
    "ReadonlyPaths",
];

/// dockerd's create wrapper: without a `HostConfig` object, HostConfig fields at the top
/// level are the host config; with one, only the top-level Memory, MemorySwap, CpuShares
/// and CpusetCpus fill its unset fields. The top-level copies never reach `Config`.
fn lift_host_config(v: &mut Value) {
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    let mut top = serde_json::Map::new();
    for k in HOST_CONFIG_KEYS {
        if let Some(x) = obj.remove(*k) {
            top.insert((*k).to_owned(), x);
        }
    }
    if top.is_empty() {
        return;
    }
    match obj.get_mut("HostConfig") {
        Some(Value::Object(hc)) => {
            let unset = |x: Option<&Value>| {
                x.is_none_or(|x| x.is_null() || x == &json!(0) || x == &json!(""))
            };
            for k in ["Memory", "MemorySwap", "CpuShares", "CpusetCpus"] {
                if let Some(x) = top.remove(k)
                    && unset(hc.get(k))
                {
                    hc.insert(k.to_owned(), x);
                }
            }
        }
        _ => {
            obj.insert("HostConfig".into(), Value::Object(top));
        }
    }
}

pub async fn list(State(e): State<Arc<Engine>>, Query(q): Q) -> ApiResult<Json<Value>> {
    let all = flag(&q, "all");
    let limit = int(&q, "limit")?.filter(|n| *n > 0).map(|n| n as usize);
    let f = filters_of(&q, accepted::CONTAINERS)?;
    // The values dockerd checks before listing, in its words.
    for s in f.get("status").into_iter().flatten() {
        if !matches!(
            s.as_str(),
            "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
        ) {
            return Err(ApiError::bad_request(format!(
                "invalid filter 'status={s}'"
            )));
        }
    }
    if let Some(v) = f
        .get("is-task")
        .filter(|v| !v.is_empty() && !v.iter().all(|x| matches!(x.as_str(), "true" | "false")))
    {
        return Err(ApiError::bad_request(format!(
            "invalid filter 'is-task=[{}]'",
            v.join(" ")
        )));
    }
    for s in f.get("exited").into_iter().flatten() {
        if s.parse::<i32>().is_err() {
            return Err(ApiError::bad_request(format!(
                "strconv.Atoi: parsing {s:?}: invalid syntax"
            )));
        }
    }
    let list = e.list(all || limit.is_some(), None, &f)?;
    Ok(Json(json!(crate::containers_more::list_extra(
        &e, &q, list, limit
    )?)))
}

pub async fn inspect(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Json<Value>> {
    let mut v = e.inspect(&id)?;
    if flag(&q, "size") {
        let c = e.get(&id)?;
        let (rw, rootfs) = e.sizes(&c);
        v["SizeRw"] = json!(rw);
        v["SizeRootFs"] = json!(rootfs);
    }
    Ok(Json(v))
}

pub async fn start(State(e): State<Arc<Engine>>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    e.start(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn stop(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    e.stop(
        &id,
        q.get("signal")
            .map(String::as_str)
            .filter(|s| !s.is_empty()),
        int(&q, "t")?,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn restart(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    e.restart(
        &id,
        q.get("signal")
            .map(String::as_str)
            .filter(|s| !s.is_empty()),
        int(&q, "t")?,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn kill(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    e.kill(&id, q.get("signal").map(String::as_str)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn pause(State(e): State<Arc<Engine>>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    e.pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unpause(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    e.unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    if flag(&q, "link") {
        e.remove_link(&id).await?;
    } else {
        e.remove(&id, flag(&q, "force"), flag(&q, "v")).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn resize(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let h = int(&q, "h")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let w = int(&q, "w")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    e.resize(&id, h, w).await?;
    Ok(StatusCode::OK)
}

/// `POST /containers/{id}/wait`: headers at once (the client starts the container after
/// it has them), the body when the condition is met.
pub async fn wait(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let cond = match q.get("condition").map(String::as_str).unwrap_or("") {
        "" | "not-running" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid condition: {other:?}"
            )));
        }
    };
    let fut = e.wait(&id, cond)?;
    let s = futures_util::stream::once(async move {
        let code = fut.await;
        let mut b =
            serde_json::to_vec(&json!({"StatusCode": code, "Error": null})).unwrap_or_default();
        b.push(b'\n');
        Ok::<_, std::io::Error>(Bytes::from(b))
    });
    Ok(([("Content-Type", "application/json")], Body::from_stream(s)).into_response())
}

pub async fn logs(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    // dockerd refuses a since/until that is not `SECONDS[.NANOS]` in Go's words.
    for k in ["since", "until"] {
        if let Some(v) = q.get(k).filter(|v| !v.is_empty()) {
            let sec = v.split_once('.').map_or(v.as_str(), |(s, _)| s);
            if sec.parse::<i64>().is_err() {
                return Err(ApiError::bad_request(format!(
                    "strconv.ParseInt: parsing {sec:?}: invalid syntax"
                )));
            }
        }
    }
    let opts = LogOptions {
        follow: flag(&q, "follow"),
        stdout: flag(&q, "stdout"),
        stderr: flag(&q, "stderr"),
        since: q
            .get("since")
            .and_then(|s| berth_engine::logs::parse_unix_time(s)),
        until: q
            .get("until")
            .and_then(|s| berth_engine::logs::parse_unix_time(s)),
        timestamps: flag(&q, "timestamps"),
        details: flag(&q, "details"),
        tail: q.get("tail").and_then(|t| t.parse().ok()),
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let (mut rx, tty) = e.logs(&id, opts)?;
    let s = futures_util::StreamExt::map(
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)),
        Ok::<_, std::io::Error>,
    );
    let ct = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(([("Content-Type", ct)], Body::from_stream(s)).into_response())
}
