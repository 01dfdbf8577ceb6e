//! Typed errors. Every variant that touches the filesystem carries the path, because
//! "Permission denied" alone is useless when a container fails to start on someone's host.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// A cgroup control file or procfs file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File that was being read.
        path: PathBuf,
        /// Underlying error (carries the errno).
        #[source]
        source: io::Error,
    },
    /// A value could not be written to a control file.
    #[error("writing {value:?} to {path}: {source}")]
    Write {
        /// Control file.
        path: PathBuf,
        /// Value that the kernel refused.
        value: String,
        /// Underlying error (carries the errno).
        #[source]
        source: io::Error,
    },
    /// A cgroup directory could not be created.
    #[error("creating cgroup directory {path}: {source}")]
    Mkdir {
        /// Directory.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// A cgroup directory could not be removed.
    #[error("removing cgroup directory {path}: {source}")]
    Rmdir {
        /// Directory.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// A cgroup directory could not be opened.
    #[error("opening {path}: {source}")]
    Open {
        /// Directory.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// A file had content we do not understand.
    #[error("parsing {path}: {reason}")]
    Parse {
        /// File (or pseudo-name such as `mountinfo`) whose content was bad.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// No cgroup v1 or v2 hierarchy is mounted.
    #[error("no cgroup hierarchy found in /proc/self/mountinfo")]
    NoHierarchy,
    /// `linux.cgroupsPath` is not usable.
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// A resource value in `linux.resources` is out of range or inconsistent.
    #[error("invalid {resource}: {reason}")]
    InvalidResource {
        /// Which resource (e.g. `memory.limit`).
        resource: String,
        /// Why it was refused.
        reason: String,
    },
    /// A resource was requested, but its controller is not available for this cgroup.
    #[error("{resource} requested, but the {controller} cgroup controller is not available")]
    ControllerMissing {
        /// Controller name (`memory`, `hugetlb`, ...).
        controller: String,
        /// Resource that needed it.
        resource: String,
    },
    /// Something the host cannot do (e.g. freezing without a freezer).
    #[error("{what} is not supported on this host: {reason}")]
    Unsupported {
        /// Operation.
        what: String,
        /// Why not.
        reason: String,
    },
    /// Waiting for the kernel to reach a state took too long.
    #[error("timed out waiting for {what} on {path}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// Control file that was polled.
        path: PathBuf,
    },
    /// A bpf(2) call failed.
    #[error("bpf {op} for {path}: {source}{}", if log.is_empty() { String::new() } else { format!("; verifier log: {log}") })]
    Bpf {
        /// bpf command name.
        op: &'static str,
        /// Cgroup directory involved.
        path: PathBuf,
        /// Underlying error (carries the errno).
        #[source]
        source: io::Error,
        /// Verifier log, when loading failed.
        log: String,
    },
    /// A process could not be signalled.
    #[error("sending signal {signal} to pid {pid}: {source}")]
    Signal {
        /// Target.
        pid: i32,
        /// Signal number.
        signal: i32,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The errno behind this error, if it came from a system call.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Read { source, .. }
            | Error::Write { source, .. }
            | Error::Mkdir { source, .. }
            | Error::Rmdir { source, .. }
            | Error::Open { source, .. }
            | Error::Bpf { source, .. }
            | Error::Signal { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    pub(crate) fn invalid(resource: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidResource {
            resource: resource.into(),
            reason: reason.into(),
        }
    }
}
