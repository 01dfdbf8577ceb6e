//! cgroup v2 (unified hierarchy): creating a cgroup with its controllers delegated, and
//! translating OCI resources (whose numbers are v1-shaped) into v2 files.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxPids, LinuxRdma, LinuxResources,
};

use crate::cgroup::{missing, mkdir_all};
use crate::{Error, fsutil};

/// Creates `dir` below `mount_point`. With `delegate`, every available controller is
/// enabled down the path, since a v2 cgroup only has the controllers listed in its parent's
/// `subtree_control`; on hybrid hosts the cgroup2 mount only tracks processes, so nothing
/// is delegated there unless a resource needs it (see [`delegate`]).
pub(crate) fn create(mount_point: &Path, dir: &Path, delegate: bool) -> Result<(), Error> {
    let rel = dir.strip_prefix(mount_point).unwrap_or(Path::new(""));
    let mut cur = mount_point.to_path_buf();
    for comp in rel.components() {
        if delegate {
            enable_subtree_controllers(&cur, None)?;
        }
        cur.push(comp);
        if !cur.is_dir() {
            match std::fs::create_dir(&cur) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => return Err(Error::Mkdir { path: cur, source }),
            }
        }
    }
    if !dir.is_dir() {
        mkdir_all(dir)?;
    }
    Ok(())
}

/// Enables `controllers` in every ancestor of `dir` (up to `mount_point`), for hybrid
/// hosts where a resource (hugetlb, a `unified` key) must be set on the cgroup2 side.
pub(crate) fn delegate(mount_point: &Path, dir: &Path, controllers: &[&str]) -> Result<(), Error> {
    let rel = dir.strip_prefix(mount_point).unwrap_or(Path::new(""));
    let mut cur = mount_point.to_path_buf();
    for comp in rel.components() {
        enable_subtree_controllers(&cur, Some(controllers))?;
        cur.push(comp);
    }
    Ok(())
}

/// Enables in `dir/cgroup.subtree_control` every controller of `dir/cgroup.controllers`
/// (or only those of `only`) not already enabled. Failures are logged, not fatal: a parent with processes in it
/// (the "no internal processes" rule) or a threaded subtree refuses some controllers, and
/// then only the resources that need them fail, with a clear error, at `apply`.
fn enable_subtree_controllers(dir: &Path, only: Option<&[&str]>) -> Result<(), Error> {
    let Some(avail) = fsutil::read_opt(&dir.join("cgroup.controllers"))? else {
        return Ok(());
    };
    let sc_path = dir.join("cgroup.subtree_control");
    let enabled = fsutil::read_opt(&sc_path)?.unwrap_or_default();
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    let want: Vec<&str> = avail
        .split_whitespace()
        .filter(|c| !enabled.contains(c))
        .filter(|c| only.is_none_or(|o| o.contains(c)))
        .collect();
    if want.is_empty() {
        return Ok(());
    }
    let all = want
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    if fsutil::write(&sc_path, &all).is_ok() {
        return Ok(());
    }
    for c in want {
        if let Err(e) = fsutil::write(&sc_path, &format!("+{c}")) {
            tracing::warn!(dir = %dir.display(), controller = c, error = %e, "cannot enable controller");
        }
    }
    Ok(())
}

/// Applies every resource except devices (see `devices_bpf`).
pub(crate) fn apply(dir: &Path, r: &LinuxResources) -> Result<(), Error> {
    if let Some(m) = r.memory() {
        memory(dir, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(dir, c)?;
    }
    if let Some(p) = r.pids() {
        pids(dir, p)?;
    }
    if let Some(b) = r.block_io() {
        io(dir, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb(dir, h)?;
    }
    if let Some(m) = r.rdma() {
        rdma(dir, m)?;
    }
    if r.network().is_some() {
        tracing::warn!("linux.resources.network has no cgroup v2 equivalent; ignored");
    }
    // `unified` last, so raw values override the converted ones, as in runc.
    if let Some(u) = r.unified() {
        unified(dir, u)?;
    }
    Ok(())
}

/// Writes one v2 file; a missing file means the controller is not enabled here.
fn set(dir: &Path, file: &str, value: &str, resource: &str) -> Result<(), Error> {
    match fsutil::write(&dir.join(file), value) {
        Err(Error::Write { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            let controller = file.split('.').next().unwrap_or(file);
            Err(missing(controller, resource))
        }
        r => r,
    }
}

/// `-1` and other negatives mean "no limit" in OCI; v2 spells that `max`.
pub(crate) fn limit_str(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

/// OCI `swap` is memory+swap (v1 memsw); v2 `memory.swap.max` is swap alone. `None` when
/// nothing should be written.
pub fn swap_max(limit: Option<i64>, swap: Option<i64>) -> Result<Option<String>, Error> {
    let limit = limit.filter(|l| *l != 0);
    match swap.filter(|s| *s != 0) {
        // Unlimited memory with swap unset: swap follows (as on v1, where memsw is reset).
        None => Ok(if limit == Some(-1) {
            Some("max".into())
        } else {
            None
        }),
        Some(-1) => Ok(Some("max".into())),
        Some(s) if s < 0 => Err(Error::invalid("memory.swap", format!("{s} is negative"))),
        Some(s) => match limit {
            None | Some(-1) => Err(Error::invalid(
                "memory.swap",
                "a swap limit needs a memory limit (swap is memory+swap in OCI)",
            )),
            Some(l) if l < 0 => Err(Error::invalid("memory.limit", format!("{l} is negative"))),
            Some(l) if s < l => Err(Error::invalid(
                "memory.swap",
                format!("memory+swap limit {s} is below the memory limit {l}"),
            )),
            Some(l) => Ok(Some((s - l).to_string())),
        },
    }
}

/// cpu.shares (2..262144, default 1024) → cpu.weight (1..10000, default 100).
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// blkio.weight (10..1000) → io.weight (1..10000).
pub fn blkio_weight_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + ((w - 10) * 9999) / 990
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), Error> {
    let limit = m.limit().filter(|l| *l != 0);
    if let Some(l) = limit {
        if l < -1 {
            return Err(Error::invalid("memory.limit", format!("{l} is negative")));
        }
        if l > 0
            && let Some(cur) = fsutil::read_u64_opt(dir, "memory.current")?
            && cur > l as u64
        {
            return Err(Error::invalid(
                "memory.limit",
                format!("{l} bytes is below the current usage of {cur} bytes"),
            ));
        }
    }
    let swap = swap_max(limit, m.swap())?;
    if let Some(l) = limit {
        set(dir, "memory.max", &limit_str(l), "memory.limit")?;
    }
    if let Some(s) = swap {
        if s == "max" {
            // Without swap accounting the file is absent and "no limit" is already true.
            fsutil::write_if_exists(&dir.join("memory.swap.max"), &s)?;
        } else {
            set(dir, "memory.swap.max", &s, "memory.swap")?;
        }
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        set(dir, "memory.low", &limit_str(r), "memory.reservation")?;
    }
    if m.swappiness().is_some() {
        tracing::warn!("memory.swappiness has no cgroup v2 equivalent; ignored");
    }
    if m.disable_oom_killer() == Some(true) {
        tracing::warn!("memory.disableOOMKiller has no cgroup v2 equivalent; ignored");
    }
    Ok(())
}

fn cpu(dir: &Path, c: &LinuxCpu) -> Result<(), Error> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        set(
            dir,
            "cpu.weight",
            &shares_to_weight(s).to_string(),
            "cpu.shares",
        )?;
    }
    let quota = c.quota().filter(|q| *q != 0);
    let period = c.period().filter(|p| *p != 0);
    if quota.is_some() || period.is_some() {
        let q = match quota {
            Some(q) if q > 0 => q.to_string(),
            Some(_) => "max".to_string(),
            // Only the period changes: keep the current quota (cpu.max needs both).
            None => fsutil::read_opt(&dir.join("cpu.max"))?
                .and_then(|s| s.split_whitespace().next().map(str::to_owned))
                .unwrap_or_else(|| "max".into()),
        };
        let v = match period {
            Some(p) => format!("{q} {p}"),
            None => q,
        };
        set(dir, "cpu.max", &v, "cpu.quota")?;
    }
    if let Some(b) = c.burst() {
        set(dir, "cpu.max.burst", &b.to_string(), "cpu.burst")?;
    }
    if let Some(i) = c.idle() {
        set(dir, "cpu.idle", &i.to_string(), "cpu.idle")?;
    }
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(Error::invalid(
            "cpu.realtime",
            "real-time scheduling limits do not exist in cgroup v2",
        ));
    }
    if let Some(s) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        set(dir, "cpuset.cpus", s, "cpu.cpus")?;
    }
    if let Some(s) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        set(dir, "cpuset.mems", s, "cpu.mems")?;
    }
    Ok(())
}

fn pids(dir: &Path, p: &LinuxPids) -> Result<(), Error> {
    let l = p.limit();
    let v = if l > 0 { l.to_string() } else { "max".into() };
    set(dir, "pids.max", &v, "pids.limit")
}

fn io(dir: &Path, b: &LinuxBlockIo) -> Result<(), Error> {
    // BFQ takes the v1 scale directly; io.weight (the cost model) needs converting.
    let bfq = dir.join("io.bfq.weight").exists();
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            set(dir, "io.bfq.weight", &w.to_string(), "blockIO.weight")?;
        } else {
            set(
                dir,
                "io.weight",
                &blkio_weight_to_io_weight(w).to_string(),
                "blockIO.weight",
            )?;
        }
    }
    if b.leaf_weight().is_some() {
        tracing::warn!("blockIO.leafWeight has no cgroup v2 equivalent; ignored");
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let (file, v) = if bfq {
                ("io.bfq.weight", u64::from(w))
            } else {
                ("io.weight", blkio_weight_to_io_weight(w))
            };
            set(
                dir,
                file,
                &format!("{}:{} {v}", d.major(), d.minor()),
                "blockIO.weightDevice",
            )?;
        }
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for d in list.iter().flatten() {
            let rate = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            set(
                dir,
                "io.max",
                &format!("{}:{} {key}={rate}", d.major(), d.minor()),
                "blockIO.throttle",
            )?;
        }
    }
    Ok(())
}

/// Hugepage sizes come from the spec and become part of a file name: refuse anything but
/// `2MB`-style tokens.
pub(crate) fn check_page_size(s: &str) -> Result<(), Error> {
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            "hugepageLimits.pageSize",
            format!("{s:?} is not a page size like 2MB"),
        ));
    }
    Ok(())
}

pub(crate) fn hugetlb(dir: &Path, h: &[LinuxHugepageLimit]) -> Result<(), Error> {
    for l in h {
        check_page_size(l.page_size())?;
        let v = limit_str(l.limit());
        set(
            dir,
            &format!("hugetlb.{}.max", l.page_size()),
            &v,
            "hugepageLimits",
        )?;
        // Reservations are accounted separately since 5.7; keep them in step.
        fsutil::write_if_exists(&dir.join(format!("hugetlb.{}.rsvd.max", l.page_size())), &v)?;
    }
    Ok(())
}

/// Keys of `unified` name files in the cgroup directory: refuse anything that could
/// reach outside it.
pub(crate) fn check_unified_key(k: &str) -> Result<(), Error> {
    if k.is_empty()
        || k.contains('/')
        || k.contains('\0')
        || k == "."
        || k == ".."
        || k.contains("..")
    {
        return Err(Error::invalid(
            "unified",
            format!("key {k:?} is not a cgroup file name"),
        ));
    }
    Ok(())
}

pub(crate) fn unified(dir: &Path, u: &HashMap<String, String>) -> Result<(), Error> {
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for k in &keys {
        check_unified_key(k)?;
    }
    for k in keys {
        set(dir, k, &u[k], &format!("unified[{k}]"))?;
    }
    Ok(())
}

/// RDMA device names become part of a line the kernel splits on whitespace.
pub(crate) fn check_rdma_device(d: &str) -> Result<(), Error> {
    if d.is_empty() || d.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            "rdma",
            format!("device name {d:?} is not valid"),
        ));
    }
    Ok(())
}

/// `rdma.max` lines (`mlx4_0 hca_handle=2 hca_object=2000`); same format on v1 and v2.
pub(crate) fn rdma(dir: &Path, m: &HashMap<String, LinuxRdma>) -> Result<(), Error> {
    let mut devs: Vec<&String> = m.keys().collect();
    devs.sort();
    for d in devs {
        check_rdma_device(d)?;
        let l = &m[d];
        let mut line = d.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line.len() != d.len() {
            set(dir, "rdma.max", &line, "rdma")?;
        }
    }
    Ok(())
}
