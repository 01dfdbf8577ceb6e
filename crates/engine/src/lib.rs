//! berth-engine owns containers and their lifecycle for berthd: the SQLite metadata store,
//! OCI spec generation from Docker's options (capabilities, seccomp, masked paths,
//! resources, mounts), shim control (one berth-shim per container, see
//! `crates/shim/PROTOCOL.md`), attach, exec, logs, named volumes, restart policies and
//! live restore. It knows nothing about HTTP: berth-api maps the Docker API onto it.

pub mod archive;
pub mod build;
pub mod container;
pub mod container_ops;
pub mod db;
pub mod engine;
pub mod error;
pub mod events;
pub mod exec;
pub mod health;
pub mod ids;
pub mod images;
pub(crate) mod initlayer;
pub mod lifecycle;
pub mod logs;
pub mod mounts;
pub mod network;
pub mod reserve;
pub mod rootfs;
pub mod seccomp;
pub mod shim;
pub mod spec;
pub mod stats;
pub mod types;
pub mod update;
pub mod verify;
pub mod volumes;

pub use container::Handoff;
pub use engine::{Engine, EngineConfig};
pub use error::{EngineError, Result};
pub use lifecycle::{AttachHandle, WaitCondition};

/// The current time as RFC 3339 with nanoseconds (Docker's time format).
pub fn now_rfc3339() -> String {
    berth_runtime::state::now_rfc3339()
}
