//! berth-runtime: turns an OCI bundle (a root filesystem plus `config.json`) into a running,
//! isolated, limited container, and manages it afterwards (state, signals, exec, pause, delete).
//!
//! The same library backs the runc-compatible `berth-runtime` command line and berth's
//! per-container shim. The process that calls [`container::create`] must be single-threaded:
//! the container's init is a `clone3` of the caller (no self re-exec), and joining user
//! namespaces or doing ordinary work after `clone` is only sound in a single-threaded process.
//!
//! Root filesystem preparation works on file descriptors, not path strings: every target inside
//! the container root is resolved with `openat2(RESOLVE_IN_ROOT)` and mounted through the new
//! mount API, procfs writes go through a private, verified procfs handle, and the console is the
//! `TIOCGPTPEER` of a pty opened inside the container. That closes the symlink-race family of
//! runtime escapes by construction (see `FIELD-NOTES.md` §4.1).

pub mod console;
pub mod container;
pub mod default_spec;
pub mod error;
pub mod exe_guard;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod init;
pub mod inroot;
pub mod logging;
pub mod mounts;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod signals;
pub mod state;
pub mod sync;

pub use error::{Error, Result};
