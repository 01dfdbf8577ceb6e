//! The shim's error type: what failed, on which object.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("usage: {0}")]
    Usage(String),
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        source: std::io::Error,
    },
    #[error("{op} {}: {source}", path.display())]
    Path {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn sys(op: &'static str, source: impl Into<std::io::Error>) -> Error {
        Error::Sys {
            op,
            source: source.into(),
        }
    }

    pub fn path(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Path {
            op,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
