//! berth-cgroups: control groups on cgroup v1, v2 and hybrid hosts (cgroupfs driver).
//!
//! This crate owns everything berth does with cgroups: finding the host's hierarchies
//! ([`Hierarchy`]), creating a container's cgroup in each of them, applying OCI
//! `linux.resources` (including the v2 device allowlist as an eBPF program), moving
//! processes in, freezing, killing, reading statistics and removing it again ([`Cgroup`]).
//! It talks to the kernel only through cgroupfs files and `bpf(2)`; no systemd driver.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_cgroups::Error> {
//! use berth_cgroups::{Cgroup, Hierarchy};
//! let h = Hierarchy::detect()?;
//! let cg = Cgroup::new(&h, "/berth/0123abcd")?; // linux.cgroupsPath
//! cg.create()?;
//! cg.apply(&oci_spec::runtime::LinuxResources::default())?;
//! cg.add_process(std::process::id() as i32)?;
//! // ... later
//! cg.kill_all(libc::SIGKILL)?;
//! cg.delete()?;
//! # Ok(()) }
//! ```

mod cgroup;
mod detect;
pub mod devices;
pub mod devices_bpf;
mod error;
mod freezer;
mod fsutil;
mod stats;
pub mod tuning;
mod v1;
pub mod v2;

pub use cgroup::Cgroup;
pub use detect::{CgroupMount, Hierarchy, LAYOUT_ENV, Mode};
pub use error::Error;
pub use stats::{BlkioEntry, BlkioStats, CpuStats, MemoryStats, PidsStats, Stats};

/// Parsers for statistics files, public so callers can reuse them on saved files.
pub mod parse {
    pub use crate::stats::{parse_blkio_v1, parse_io_stat, parse_percpu};
}

#[cfg(test)]
mod tests;
