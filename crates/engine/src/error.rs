//! The engine's error type. Each variant maps onto one Docker API status code, so the API
//! layer never has to guess from message text.

/// What went wrong, classified the way Docker's API reports it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// 404: no such container, image, exec or volume.
    #[error("{0}")]
    NotFound(String),
    /// 409: the object is in a state that forbids the operation.
    #[error("{0}")]
    Conflict(String),
    /// 400: the request is invalid.
    #[error("{0}")]
    InvalidArgument(String),
    /// 403: valid, but not something this driver does (dockerd's ForbiddenErrorf).
    #[error("{0}")]
    Forbidden(String),
    /// 304: nothing to do (start of a running container, stop of a stopped one).
    #[error("{0}")]
    NotModified(String),
    /// 500: a failure inside the engine, with what it was doing.
    #[error("{0}")]
    Internal(String),
}

impl EngineError {
    pub fn internal(what: impl std::fmt::Display, e: impl std::fmt::Display) -> EngineError {
        EngineError::Internal(format!("{what}: {e}"))
    }
}

/// A container process that could not be started, in dockerd's words around the runtime's
/// (`m`: `exec: "x": executable file not found in $PATH` and the like).
pub fn process_start_failed(m: &str) -> EngineError {
    EngineError::InvalidArgument(format!(
        "failed to create task for container: failed to create shim task: OCI runtime create failed: unable to start container process: {m}: unknown"
    ))
}

/// An errno in Go's words, as dockerd's messages have it (`invalid argument`, not
/// `Invalid argument (os error 22)`).
pub fn go_errno(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.split(" (os error")
        .next()
        .unwrap_or(&text)
        .to_lowercase()
}

impl From<rusqlite::Error> for EngineError {
    fn from(e: rusqlite::Error) -> Self {
        EngineError::Internal(format!("metadata store: {e}"))
    }
}

impl From<berth_image::images::ImageError> for EngineError {
    fn from(e: berth_image::images::ImageError) -> Self {
        use berth_image::images::ImageError as I;
        match e {
            I::NotFound(n) => EngineError::NotFound(format!("No such image: {n}")),
            I::Reference(r) => EngineError::InvalidArgument(r.to_string()),
            I::DigestAlgorithmName => EngineError::InvalidArgument(e.to_string()),
            I::Ambiguous { .. } | I::InUse { .. } | I::MultipleTags { .. } => {
                EngineError::Conflict(e.to_string())
            }
            other => EngineError::Internal(other.to_string()),
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
