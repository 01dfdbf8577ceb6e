//! Docker Engine API shapes the engine consumes and reports (container `Config`,
//! `HostConfig`, mount points, state). They live here rather than in berth-api because the
//! engine must read every option; berth-api re-exports them. Fields berth does not act on
//! are kept in `extra` so `inspect` returns what the client sent.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `Cmd`, `Entrypoint`, `CapAdd`, `CapDrop`: Docker accepts a string or an array.
fn str_or_vec<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum SV {
        S(String),
        V(Vec<String>),
    }
    Ok(match Option::<SV>::deserialize(d)? {
        None => None,
        // Docker's strslice: a string is a list of one (no shell).
        Some(SV::S(s)) => Some(vec![s]),
        Some(SV::V(v)) => Some(v),
    })
}

/// The container's `Config` (`docker create` body minus HostConfig).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    #[serde(default, deserialize_with = "null_default")]
    pub hostname: String,
    #[serde(default, deserialize_with = "null_default")]
    pub domainname: String,
    #[serde(default, deserialize_with = "null_default")]
    pub user: String,
    #[serde(default, deserialize_with = "null_default")]
    pub attach_stdin: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub attach_stdout: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub attach_stderr: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub tty: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub open_stdin: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub stdin_once: bool,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default, deserialize_with = "str_or_vec")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub image: String,
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default, deserialize_with = "null_default")]
    pub working_dir: String,
    #[serde(default, deserialize_with = "str_or_vec")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub maximum_retry_count: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(default, rename = "Type", deserialize_with = "null_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub soft: i64,
    #[serde(default)]
    pub hard: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    #[serde(default)]
    pub path_on_host: String,
    #[serde(default)]
    pub path_in_container: String,
    #[serde(default)]
    pub cgroup_permissions: String,
}

/// One entry of `HostConfig.Mounts` (`--mount`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountSpec {
    #[serde(default, rename = "Type")]
    pub kind: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `HostConfig`, resources included (Docker flattens `Resources` into it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    #[serde(default)]
    pub binds: Option<Vec<String>>,
    #[serde(default)]
    pub log_config: LogConfig,
    #[serde(default, deserialize_with = "null_default")]
    pub network_mode: String,
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    #[serde(default, deserialize_with = "null_default")]
    pub auto_remove: bool,
    #[serde(default)]
    pub mounts: Option<Vec<MountSpec>>,
    #[serde(default, deserialize_with = "str_or_vec")]
    pub cap_add: Option<Vec<String>>,
    #[serde(default, deserialize_with = "str_or_vec")]
    pub cap_drop: Option<Vec<String>>,
    #[serde(default)]
    pub extra_hosts: Option<Vec<String>>,
    #[serde(default)]
    pub group_add: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub ipc_mode: String,
    #[serde(default, deserialize_with = "null_default")]
    pub oom_score_adj: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub pid_mode: String,
    #[serde(default, deserialize_with = "null_default")]
    pub privileged: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub readonly_rootfs: bool,
    #[serde(default)]
    pub security_opt: Option<Vec<String>>,
    #[serde(default)]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "UTSMode", deserialize_with = "null_default")]
    pub uts_mode: String,
    /// `host` or `private`; set at create (the daemon's default when empty).
    #[serde(default, deserialize_with = "null_default")]
    pub cgroupns_mode: String,
    #[serde(default, deserialize_with = "null_default")]
    pub shm_size: i64,
    #[serde(default)]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub init: Option<bool>,
    #[serde(default)]
    pub console_size: Option<Vec<u16>>,
    #[serde(default, deserialize_with = "null_default")]
    pub cpu_shares: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub memory: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub nano_cpus: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub cpu_period: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub cpu_quota: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub cpuset_cpus: String,
    #[serde(default, deserialize_with = "null_default")]
    pub cpuset_mems: String,
    #[serde(default)]
    pub devices: Option<Vec<DeviceMapping>>,
    #[serde(default, deserialize_with = "null_default")]
    pub memory_reservation: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub memory_swap: i64,
    #[serde(default)]
    pub pids_limit: Option<i64>,
    #[serde(default)]
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(default)]
    pub masked_paths: Option<Vec<String>>,
    #[serde(default)]
    pub readonly_paths: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `State` of `docker inspect`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Health>,
}

/// An entry of `Mounts` in `docker inspect`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    /// A volume's driver; none for a bind (dockerd omits it then).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// The create request: Config with HostConfig (and NetworkingConfig, ignored) inline.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    #[serde(flatten)]
    pub config: Config,
    #[serde(default)]
    pub host_config: HostConfig,
    #[serde(default)]
    pub networking_config: Option<Value>,
}

/// `POST /containers/{id}/exec` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    #[serde(default, deserialize_with = "null_default")]
    pub attach_stdin: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub attach_stdout: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub attach_stderr: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub tty: bool,
    #[serde(default)]
    pub console_size: Option<Vec<u16>>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub cmd: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub privileged: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub user: String,
    #[serde(default, deserialize_with = "null_default")]
    pub working_dir: String,
    #[serde(default, skip_serializing)]
    pub detach_keys: Option<String>,
}
