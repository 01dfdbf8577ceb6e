//! berth-image owns everything berth does with images: parsing and normalizing
//! references, the content store (blobs by digest), safe layer unpacking, overlay
//! snapshots keyed by chain ID, registry pull and push, image metadata, archives and GC.
//!
//! Nothing here depends on the daemon: the daemon wraps these types and serves them.
//!
//! How the pieces fit, bottom up:
//!
//! - [`reference`](mod@reference), [`digest`]: names and content addresses, normalized as Docker does.
//! - [`store`]: blobs under `content/blobs/sha256/<hex>`, written through a temp file and
//!   verified before they become visible.
//! - [`unpack`] (with [`fsutil`]): the layer applier. Attacker-controlled tars are applied
//!   fd-relative with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS …)`, never through a
//!   symlink, with strict header checks, whiteouts, a size cap and the diffID computed on
//!   the way.
//! - [`snapshot`]: one directory per layer keyed by chain ID; overlay mounts through the
//!   new mount API (`lowerdir+`, so hundreds of layers mount); [`diff`] turns an upper dir
//!   back into a layer and a change list.
//! - [`manifest`], [`registry`], [`auth`], [`pull`], [`push`]: the distribution protocol;
//!   pulls stream every layer straight from the socket into its snapshot, in parallel.
//! - [`images`]: tags, inspect, remove, prune, GC, disk usage; [`archive`]: save/load,
//!   import/export ([`fetch`] downloads what `import URL` names); [`commit`]: a
//!   container's root filesystem from an image, and its changes back into a new image.
//!
//! Blocking work (unpacking, hashing files) is synchronous; async callers run it with
//! `spawn_blocking`, as [`pull`] does.

pub mod archive;
pub mod auth;
pub mod commit;
pub mod diff;
pub mod digest;
pub mod fetch;
pub mod fsutil;
pub mod images;
pub mod manifest;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod snapshot;
pub mod store;
pub mod timefmt;
pub mod unpack;
