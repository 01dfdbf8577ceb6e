//! A container: its persistent record (one row of `berth.db`) and its in-memory handle
//! (per-container operation lock, lifecycle notifications, attaches waiting for a start).

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::sync::{oneshot, watch};

use crate::error::Result;
use crate::types::{Config, HostConfig, MountPoint, State};

/// What is persisted per container.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    /// The merged config (image defaults filled in), as `inspect` shows it.
    pub config: Config,
    pub host_config: HostConfig,
    /// Image ID (`sha256:...`).
    pub image: String,
    /// Chain ID of the image's top layer (None for an empty image).
    pub chain_id: Option<String>,
    pub state: State,
    pub restart_count: i64,
    pub mounts: Vec<MountPoint>,
    pub log_path: String,
    pub hostname: String,
    /// Set by stop/kill from a user; `unless-stopped` and `always` honour it.
    pub manually_stopped: bool,
    pub has_been_started: bool,
    /// A `restart` between its stop and its start: a berthd killed there finishes it at
    /// its next start (the container is not left stopped).
    #[serde(default)]
    pub restart_requested: bool,
}

impl ContainerRecord {
    /// The mount points inspect and the list show: all but the `--tmpfs` ones
    /// (HostConfig.Tmpfs), which dockerd mounts without listing them (a `--mount
    /// type=tmpfs` is listed).
    pub fn shown_mounts(&self) -> Vec<&crate::types::MountPoint> {
        let flag_tmpfs = |dst: &str| {
            self.host_config
                .tmpfs
                .as_ref()
                .is_some_and(|t| t.keys().any(|k| crate::mounts::clean_path(k) == dst))
        };
        self.mounts
            .iter()
            .filter(|m| !(m.kind == "tmpfs" && flag_tmpfs(&m.destination)))
            .collect()
    }

    /// Docker's status word for the list and the `status` filter.
    pub fn status(&self) -> &'static str {
        let s = &self.state;
        if s.restarting {
            "restarting"
        } else if s.paused {
            "paused"
        } else if s.running {
            "running"
        } else if s.dead {
            "dead"
        } else if self.has_been_started
            || !(s.finished_at.is_empty() || s.finished_at.starts_with("0001-"))
        {
            "exited"
        } else {
            "created"
        }
    }

    #[cfg(test)]
    pub fn test_record(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            name: name.into(),
            ..Default::default()
        }
    }
}

/// Lifecycle counters waiters watch (`wait`, `stop`, `logs -f`).
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    pub running: bool,
    pub exits: u64,
    pub exit_code: i64,
    pub removed: bool,
}

/// An attach registered before the container started; served right after the shim has
/// created the container and before its process runs, so no output is missed.
pub struct PendingAttach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub to: AttachTo,
}

/// Where a pending attach's stream goes.
pub enum AttachTo {
    /// Back to berthd, which relays it to the client.
    Relay(oneshot::Sender<Result<BufReader<UnixStream>>>),
    /// To the client's own connection, handed to the shim (it arrives once the client's
    /// `101 Switching Protocols` is written).
    Handoff(oneshot::Receiver<Handoff>),
}

/// A client connection given to the shim for an attach stream, with the bytes berthd had
/// already read from it (they are the stream's first stdin bytes).
pub struct Handoff {
    pub fd: std::os::fd::OwnedFd,
    pub early: Vec<u8>,
}

pub struct Container {
    pub id: String,
    /// Serializes start, stop, restart and remove of this container.
    pub op: tokio::sync::Mutex<()>,
    rec: Mutex<ContainerRecord>,
    pub life: watch::Sender<Lifecycle>,
    pub pending: Mutex<Vec<PendingAttach>>,
    /// An `--rm` container whose exit left its cleanup to the removal: a start that wins
    /// the race with that removal does the cleanup first.
    pub(crate) cleanup_pending: std::sync::atomic::AtomicBool,
}

impl Container {
    /// Registers an attach to be served when the container starts.
    pub fn add_pending(&self, p: PendingAttach) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(p);
    }

    pub fn new(rec: ContainerRecord) -> Container {
        let life = Lifecycle {
            running: rec.state.running,
            exit_code: rec.state.exit_code,
            ..Default::default()
        };
        Container {
            id: rec.id.clone(),
            op: tokio::sync::Mutex::new(()),
            rec: Mutex::new(rec),
            life: watch::Sender::new(life),
            pending: Mutex::new(Vec::new()),
            cleanup_pending: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn rec(&self) -> ContainerRecord {
        self.lock().clone()
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, ContainerRecord> {
        // Plain field updates only happen under this lock; a panic cannot tear them.
        self.rec.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn name(&self) -> String {
        self.lock().name.clone()
    }
}
