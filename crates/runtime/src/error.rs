//! Typed errors: each says what failed and on which path, container or syscall.

use std::path::PathBuf;

/// Everything the runtime library can fail with.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '.' (at most 1024)")]
    InvalidId(String),
    #[error("container {id:?} is {status}, {wanted}")]
    BadState {
        id: String,
        status: String,
        wanted: &'static str,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{op} {path:?}: {source}")]
    Path {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{op}: {source}")]
    Sys {
        op: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cgroups: {0}")]
    Cgroups(#[from] berth_cgroups::Error),
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("{kind} hook {path:?}: {msg}")]
    Hook {
        kind: &'static str,
        path: PathBuf,
        msg: String,
    },
    #[error("container init: {0}")]
    Init(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn path(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: impl Into<std::io::Error>,
    ) -> Self {
        Error::Path {
            op,
            path: path.into(),
            source: source.into(),
        }
    }

    pub fn sys(op: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        Error::Sys {
            op: op.into(),
            source: source.into(),
        }
    }
}

/// Adds an operation name to a raw `rustix`/`std` error.
pub trait Context<T> {
    fn ctx(self, op: impl FnOnce() -> String) -> Result<T>;
    fn at(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T, E: Into<std::io::Error>> Context<T> for std::result::Result<T, E> {
    fn ctx(self, op: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::sys(op(), e))
    }
    fn at(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::path(op, path, e))
    }
}
