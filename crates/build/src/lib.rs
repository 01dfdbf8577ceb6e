//! `docker build` for berth: the Dockerfile read into stages and steps, Docker's variable
//! expansion, `.dockerignore` patterns, and the builder that runs the steps through a
//! [`builder::Backend`] (berthd's engine implements it: containers for `RUN`, commits for
//! each step, the image store for `FROM`).
//!
//! This crate has no dependency on the engine or the image store, so the CLI can use its
//! `.dockerignore` matcher when it packs a build context.

pub mod ignore;
pub mod words;
