//! berth-image owns everything berth does with images: parsing and normalizing
//! references, the content store (blobs by digest), safe layer unpacking, overlay
//! snapshots keyed by chain ID, registry pull and push, and image metadata.
//!
//! Nothing here depends on the daemon: the daemon wraps these types and serves them.

pub mod archive;
pub mod auth;
pub mod diff;
pub mod digest;
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
