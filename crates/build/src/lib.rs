//! `docker build` for berth: the Dockerfile read into stages and steps, Docker's variable
//! expansion, `.dockerignore` patterns, and the builder that runs the steps through a
//! [`builder::Backend`] (berthd's engine implements it: containers for `RUN`, commits for
//! each step, the image store for `FROM`).
//!
//! This crate has no dependency on the engine or the image store, so the CLI can use its
//! `.dockerignore` matcher when it packs a build context.

pub mod builder;
pub mod config;
pub mod copy;
pub mod dockerfile;
pub mod gofmt;
pub mod healthcheck;
pub mod ignore;
pub mod words;

/// Why a build stopped. The text is what the client prints.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile could not be read.
    #[error("{0}")]
    Parse(String),
    /// An instruction's arguments are wrong (bad flag, missing source, ...).
    #[error("{0}")]
    Invalid(String),
    /// A `RUN` ended with a non-zero code.
    #[error("The command '{cmd}' returned a non-zero code: {code}")]
    Run { cmd: String, code: i64 },
    /// The engine failed (container, image store, pull).
    #[error("{0}")]
    Backend(String),
    #[error("{0}")]
    Words(#[from] words::WordsError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl BuildError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
        let what = what.into();
        move |source| BuildError::Io { what, source }
    }
}
