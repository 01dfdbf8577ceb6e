//! `/_ping`, `/version`, `/info`, `/events`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use berth_engine::Engine;
use bytes::Bytes;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::version::{API_VERSION, ENGINE_VERSION, MIN_API_VERSION};

pub async fn ping(method: Method) -> Response {
    let mut h = HeaderMap::new();
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
    h.insert(
        "Content-Type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if method == Method::HEAD {
        return (h, "").into_response();
    }
    (h, "OK").into_response()
}

fn kernel() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

pub async fn version() -> Json<serde_json::Value> {
    let v = env!("CARGO_PKG_VERSION");
    Json(json!({
        "Platform": { "Name": "berth" },
        "Components": [{
            "Name": "Engine",
            "Version": v,
            "Details": {
                "ApiVersion": API_VERSION,
                "MinAPIVersion": MIN_API_VERSION,
                "Os": "linux",
                "Arch": go_arch(),
                "KernelVersion": kernel(),
                "Experimental": "false",
            }
        }],
        "Version": ENGINE_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "n/a (rust)",
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel(),
        "BuildTime": "",
    }))
}

/// A field of the host's /etc/os-release (dockerd's "Operating System").
fn os_release(key: &str) -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .ok()?;
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim_matches('"').to_owned())
    })
}

/// `RegistryConfig` as dockerd shows it: mirrors as `https://host/` URLs (also Docker
/// Hub's), insecure registries named by address range or by host.
fn registry_config(r: &berth_image::registry::RegistryConfig) -> serde_json::Value {
    let mirrors: Vec<String> = r
        .mirrors
        .iter()
        .map(|m| {
            let mut u = if m.contains("://") {
                m.clone()
            } else {
                format!("https://{m}")
            };
            if !u.ends_with('/') {
                u.push('/');
            }
            u
        })
        .collect();
    let mut cidrs = vec!["::1/128".to_owned(), "127.0.0.0/8".to_owned()];
    let mut index = serde_json::Map::new();
    index.insert(
        "docker.io".into(),
        json!({ "Name": "docker.io", "Mirrors": mirrors, "Secure": true, "Official": true }),
    );
    for i in &r.insecure {
        if berth_image::registry::parse_cidr(i).is_some() {
            if !cidrs.contains(i) {
                cidrs.push(i.clone());
            }
        } else {
            index.insert(
                i.clone(),
                json!({ "Name": i, "Mirrors": [], "Secure": false, "Official": false }),
            );
        }
    }
    json!({ "IndexConfigs": index, "InsecureRegistryCIDRs": cidrs, "Mirrors": mirrors })
}

pub async fn info(State(e): State<Arc<Engine>>) -> Json<serde_json::Value> {
    let recs: Vec<_> = e.all().iter().map(|c| c.rec()).collect();
    let running = recs
        .iter()
        .filter(|r| r.state.running && !r.state.paused)
        .count();
    let paused = recs.iter().filter(|r| r.state.paused).count();
    let images = e.images.list().map(|l| l.len()).unwrap_or(0);
    let v2 = berth_engine::spec::cgroup_v2_host();
    let hostname = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    Json(json!({
        "ID": e.engine_id,
        "Containers": recs.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": recs.len() - running - paused,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "overlay"]],
        "Plugins": { "Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": ["json-file", "none"] },
        "MemoryLimit": true,
        "SwapLimit": std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() || v2,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "IPv4Forwarding": std::fs::read("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.starts_with(b"1")),
        "Debug": false,
        "NFd": std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0),
        "NGoroutines": 0,
        "SystemTime": berth_engine::now_rfc3339(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": if v2 { "2" } else { "1" },
        "KernelVersion": kernel(),
        "OperatingSystem": os_release("PRETTY_NAME").unwrap_or_else(|| "Linux".into()),
        "OSVersion": os_release("VERSION_ID").unwrap_or_default(),
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config(&e.cfg.registry),
        "NCPU": ncpu,
        "MemTotal": berth_engine::stats::host_memory(),
        "DockerRootDir": e.cfg.data_root,
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": ENGINE_VERSION,
        "Runtimes": { "berth": { "path": "berth-runtime" } },
        "DefaultRuntime": "berth",
        "Swarm": { "LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false, "Error": "", "RemoteManagers": null },
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "berth-init",
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        // Nothing to warn about (a stale note said bridge networking was missing).
        "Warnings": null,
    }))
}

/// `GET /events`: past events from the ring when `since`/`until` ask for them, then live
/// ones until `until` passes or the client goes away (as dockerd: an `until` in the past
/// ends the stream after the replay).
pub async fn events(
    State(e): State<Arc<Engine>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    use berth_engine::events::{EventFilter, now_nanos, parse_event_time};
    let time = |k: &str| -> ApiResult<Option<i64>> {
        match q.get(k).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(v) => parse_event_time(v)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid value for {k}: {v}"))),
        }
    };
    let since = time("since")?;
    let until = time("until")?;
    if let (Some(s), Some(u)) = (since, until)
        && u < s
    {
        // dockerd names both values as they were sent.
        let raw = |k: &str| q.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
        return Err(ApiError::bad_request(format!(
            "`since` time ({}) cannot be after `until` time ({})",
            raw("since"),
            raw("until")
        )));
    }
    let filter = EventFilter::new(crate::containers::filters(&q)?);
    let (past, rx) = e.events.subscribe(since, until);
    let rx = Subscriber(rx);
    let line = |ev: &berth_engine::events::Event| {
        let mut b = serde_json::to_vec(&ev.to_json()).unwrap_or_default();
        b.push(b'\n');
        Bytes::from(b)
    };
    let past: Vec<Bytes> = past
        .iter()
        .filter(|ev| filter.matches(ev))
        .map(|ev| line(ev))
        .collect();
    let only_past = until.is_some_and(|u| u <= now_nanos());
    let deadline = until.map(|u| {
        let left = u.saturating_sub(now_nanos()).max(0) as u64;
        tokio::time::Instant::now() + std::time::Duration::from_nanos(left)
    });
    let live = futures_util::stream::unfold(
        (rx, filter, only_past),
        move |(mut sub, filter, done)| async move {
            let rx = &mut sub.0;
            if done {
                return None;
            }
            loop {
                let next = match deadline {
                    Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                        Ok(r) => r,
                        Err(_) => return None,
                    },
                    None => rx.recv().await,
                };
                match next {
                    Ok(ev) => {
                        if until.is_some_and(|u| ev.time_nano > u) {
                            return None;
                        }
                        if filter.matches(&ev) {
                            return Some((line(&ev), (sub, filter, false)));
                        }
                    }
                    // A slow reader lost some events; carry on with the newest.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "events subscriber lagged");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    let s = futures_util::StreamExt::map(
        futures_util::StreamExt::chain(futures_util::stream::iter(past), live),
        Ok::<_, std::io::Error>,
    );
    Ok((
        [("Content-Type", "application/json")],
        axum::body::Body::from_stream(s),
    )
        .into_response())
}

/// A live `/events` subscription; logs when the client has gone and it is dropped.
struct Subscriber(tokio::sync::broadcast::Receiver<Arc<berth_engine::events::Event>>);

impl Drop for Subscriber {
    fn drop(&mut self) {
        tracing::debug!("events subscriber gone");
    }
}
