//! cgroup v1: one directory per controller hierarchy, and the OCI resources map onto
//! these files almost one to one.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxNetwork, LinuxResources};

use crate::cgroup::{Cgroup, missing};
use crate::devices::DevicePolicy;
use crate::{Error, fsutil, v2};

/// Fills empty `cpuset.cpus`/`cpuset.mems` from the parent, top-down from the mount point:
/// a new v1 cpuset starts empty and refuses tasks until both are set.
pub(crate) fn cpuset_inherit(mount_point: &Path, dir: &Path) -> Result<(), Error> {
    let rel = dir.strip_prefix(mount_point).unwrap_or(Path::new(""));
    let mut parent = mount_point.to_path_buf();
    for comp in rel.components() {
        let cur = parent.join(comp);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let mine = fsutil::read_opt(&cur.join(f))?.unwrap_or_default();
            if mine.trim().is_empty() {
                let theirs = fsutil::read_opt(&parent.join(f))?.unwrap_or_default();
                if !theirs.trim().is_empty() {
                    fsutil::write(&cur.join(f), theirs.trim())?;
                }
            }
        }
        parent = cur;
    }
    Ok(())
}

/// Applies `r` to the v1 hierarchies of `cg`. A resource whose controller is not mounted
/// is an error rather than silently unlimited; hugetlb and `unified` are left to the caller,
/// which may route them to the hybrid cgroup2 mount.
pub(crate) fn apply(
    cg: &Cgroup,
    r: &LinuxResources,
    devices_policy: Option<&DevicePolicy>,
) -> Result<(), Error> {
    let dir = |c: &str, res: &str| {
        cg.v1_node(c)
            .map(|n| n.dir.clone())
            .ok_or_else(|| missing(c, res))
    };
    if let Some(m) = r.memory()
        && memory_requested(m)
    {
        memory(&dir("memory", "memory")?, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(cg, c)?;
    }
    if let Some(p) = r.pids() {
        let l = p.limit();
        let v = if l > 0 { l.to_string() } else { "max".into() };
        fsutil::write(&dir("pids", "pids.limit")?.join("pids.max"), &v)?;
    }
    if let Some(b) = r.block_io()
        && blkio_requested(b)
    {
        blkio(&dir("blkio", "blockIO")?, b)?;
    }
    if let Some(h) = r.hugepage_limits()
        && let Some(n) = cg.v1_node("hugetlb")
    {
        for l in h {
            v2::check_page_size(l.page_size())?;
            let f = n
                .dir
                .join(format!("hugetlb.{}.limit_in_bytes", l.page_size()));
            fsutil::write(&f, &l.limit().max(-1).to_string())?;
        }
    }
    if let Some(net) = r.network() {
        network(cg, net)?;
    }
    if let Some(policy) = devices_policy {
        devices(&dir("devices", "devices")?, policy)?;
    }
    Ok(())
}

#[allow(deprecated)] // `kernel` is deprecated in the spec, but still honoured on v1.
fn memory_requested(m: &LinuxMemory) -> bool {
    m.limit().is_some()
        || m.reservation().is_some()
        || m.swap().is_some()
        || m.kernel().is_some()
        || m.kernel_tcp().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer().is_some()
}

#[allow(deprecated)] // `kernel` is deprecated in the spec, but still honoured on v1.
fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), Error> {
    let limit = m.limit().filter(|l| *l != 0);
    let mut swap = m.swap().filter(|s| *s != 0);
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    if let Some(l) = limit {
        if l < -1 {
            return Err(Error::invalid("memory.limit", format!("{l} is negative")));
        }
        if l > 0
            && let Some(cur) = fsutil::read_u64_opt(dir, "memory.usage_in_bytes")?
            && cur > l as u64
        {
            return Err(Error::invalid(
                "memory.limit",
                format!("{l} bytes is below the current usage of {cur} bytes"),
            ));
        }
    }
    match swap {
        Some(s) if s < -1 => return Err(Error::invalid("memory.swap", format!("{s} is negative"))),
        Some(s) if s > 0 => {
            let eff_limit = match limit {
                Some(l) => l,
                None => fsutil::read_u64_opt(dir, "memory.limit_in_bytes")?
                    .map_or(-1, |v| i64::try_from(v).unwrap_or(-1)),
            };
            // v1 reports "unlimited" as a page-rounded i64::MAX.
            if eff_limit < 0 || eff_limit as u64 >= 1 << 62 {
                return Err(Error::invalid(
                    "memory.swap",
                    "a swap limit needs a memory limit (swap is memory+swap in OCI)",
                ));
            }
            if s < eff_limit {
                return Err(Error::invalid(
                    "memory.swap",
                    format!("memory+swap limit {s} is below the memory limit {eff_limit}"),
                ));
            }
            if !memsw.exists() {
                return Err(Error::Unsupported {
                    what: "memory.swap".into(),
                    reason: format!("{} is missing (swap accounting is off)", memsw.display()),
                });
            }
        }
        _ => {}
    }
    // Unlimited memory with swap unset: lift memsw too, or the old memsw caps memory.
    if limit == Some(-1) && swap.is_none() && memsw.exists() {
        swap = Some(-1);
    }
    let limit_file = dir.join("memory.limit_in_bytes");
    match (limit, swap) {
        (Some(l), Some(s)) => {
            // The kernel keeps memsw >= limit at every step, so the order depends on
            // whether the limits grow or shrink.
            let cur = fsutil::read_u64_opt(dir, "memory.limit_in_bytes")?.unwrap_or(u64::MAX);
            if s == -1 || cur < s as u64 {
                fsutil::write(&memsw, &s.to_string())?;
                fsutil::write(&limit_file, &l.to_string())?;
            } else {
                fsutil::write(&limit_file, &l.to_string())?;
                fsutil::write(&memsw, &s.to_string())?;
            }
        }
        (Some(l), None) => fsutil::write(&limit_file, &l.to_string())?,
        (None, Some(s)) => fsutil::write(&memsw, &s.to_string())?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        fsutil::write(
            &dir.join("memory.soft_limit_in_bytes"),
            &r.max(-1).to_string(),
        )?;
    }
    // Kernel memory limits are gone since 5.x (the files refuse writes or vanish); the
    // spec deprecates them, so failures are only logged.
    for (v, f) in [
        (m.kernel(), "memory.kmem.limit_in_bytes"),
        (m.kernel_tcp(), "memory.kmem.tcp.limit_in_bytes"),
    ] {
        if let Some(v) = v
            && let Err(e) = fsutil::write(&dir.join(f), &v.to_string())
        {
            tracing::warn!(error = %e, "kernel memory limit not applied");
        }
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::invalid(
                "memory.swappiness",
                format!("{s} is above 100"),
            ));
        }
        fsutil::write(&dir.join("memory.swappiness"), &s.to_string())?;
    }
    if let Some(d) = m.disable_oom_killer() {
        fsutil::write(&dir.join("memory.oom_control"), if d { "1" } else { "0" })?;
    }
    Ok(())
}

fn cpu(cg: &Cgroup, c: &LinuxCpu) -> Result<(), Error> {
    let wants_cpu = c.shares().is_some_and(|v| v != 0)
        || c.quota().is_some_and(|v| v != 0)
        || c.period().is_some_and(|v| v != 0)
        || c.burst().is_some()
        || c.idle().is_some()
        || c.realtime_runtime().is_some_and(|v| v != 0)
        || c.realtime_period().is_some_and(|v| v != 0);
    if wants_cpu {
        let d = cg
            .v1_node("cpu")
            .map(|n| n.dir.clone())
            .ok_or_else(|| missing("cpu", "cpu"))?;
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            let f = d.join("cpu.shares");
            fsutil::write(&f, &s.to_string())?;
            // The kernel clamps the value silently; as runc, refuse what it changed.
            if let Ok(got) = fsutil::read(&f).map(|t| t.trim().parse::<u64>()) {
                match got {
                    Ok(g) if g < s => {
                        return Err(Error::invalid(
                            "cpu.shares",
                            format!("the maximum allowed cpu-shares is {g}"),
                        ));
                    }
                    Ok(g) if g > s => {
                        return Err(Error::invalid(
                            "cpu.shares",
                            format!("the minimum allowed cpu-shares is {g}"),
                        ));
                    }
                    _ => {}
                }
            }
        }
        if let Some(p) = c.period().filter(|p| *p != 0) {
            fsutil::write(&d.join("cpu.cfs_period_us"), &p.to_string())?;
        }
        if let Some(q) = c.quota().filter(|q| *q != 0) {
            fsutil::write(&d.join("cpu.cfs_quota_us"), &q.max(-1).to_string())?;
        }
        if let Some(b) = c.burst() {
            fsutil::write(&d.join("cpu.cfs_burst_us"), &b.to_string())?;
        }
        if let Some(i) = c.idle() {
            fsutil::write(&d.join("cpu.idle"), &i.to_string())?;
        }
        rt(&d, c)?;
    }
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_some() || mems.is_some() {
        let d = cg
            .v1_node("cpuset")
            .map(|n| n.dir.clone())
            .ok_or_else(|| missing("cpuset", "cpu.cpus/mems"))?;
        if let Some(s) = cpus {
            fsutil::write(&d.join("cpuset.cpus"), s)?;
        }
        if let Some(s) = mems {
            fsutil::write(&d.join("cpuset.mems"), s)?;
        }
    }
    Ok(())
}

/// Real-time budget: runtime must fit the period at every step, so when one order is
/// refused the other is tried.
fn rt(d: &Path, c: &LinuxCpu) -> Result<(), Error> {
    let period = c.realtime_period().filter(|v| *v != 0);
    let runtime = c.realtime_runtime().filter(|v| *v != 0);
    let pf = d.join("cpu.rt_period_us");
    let rf = d.join("cpu.rt_runtime_us");
    match (period, runtime) {
        (Some(p), Some(r)) => {
            if fsutil::write(&pf, &p.to_string()).is_err() {
                fsutil::write(&rf, &r.to_string())?;
                fsutil::write(&pf, &p.to_string())?;
            } else {
                fsutil::write(&rf, &r.to_string())?;
            }
        }
        (Some(p), None) => fsutil::write(&pf, &p.to_string())?,
        (None, Some(r)) => fsutil::write(&rf, &r.to_string())?,
        (None, None) => {}
    }
    Ok(())
}

fn blkio_requested(b: &LinuxBlockIo) -> bool {
    b.weight().is_some()
        || b.leaf_weight().is_some()
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || b.throttle_read_bps_device()
            .as_ref()
            .is_some_and(|v| !v.is_empty())
        || b.throttle_write_bps_device()
            .as_ref()
            .is_some_and(|v| !v.is_empty())
        || b.throttle_read_iops_device()
            .as_ref()
            .is_some_and(|v| !v.is_empty())
        || b.throttle_write_iops_device()
            .as_ref()
            .is_some_and(|v| !v.is_empty())
}

/// Writes a weight to the CFQ file, or to the BFQ one on kernels without CFQ.
fn write_weight(dir: &Path, cfq: &str, bfq: &str, v: &str) -> Result<(), Error> {
    if fsutil::write_if_exists(&dir.join(cfq), v)? || fsutil::write_if_exists(&dir.join(bfq), v)? {
        Ok(())
    } else {
        Err(Error::Unsupported {
            what: format!("blockIO weight ({cfq})"),
            reason: format!("neither {cfq} nor {bfq} exists in {}", dir.display()),
        })
    }
}

fn blkio(dir: &Path, b: &LinuxBlockIo) -> Result<(), Error> {
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write_weight(dir, "blkio.weight", "blkio.bfq.weight", &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        fsutil::write(&dir.join("blkio.leaf_weight"), &w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let v = format!("{}:{} {w}", d.major(), d.minor());
            write_weight(dir, "blkio.weight_device", "blkio.bfq.weight_device", &v)?;
        }
        if let Some(w) = d.leaf_weight() {
            let v = format!("{}:{} {w}", d.major(), d.minor());
            fsutil::write(&dir.join("blkio.leaf_weight_device"), &v)?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for d in list.iter().flatten() {
            // Rate 0 removes the rule in v1, which is what OCI means by it.
            fsutil::write(
                &dir.join(file),
                &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

fn network(cg: &Cgroup, n: &LinuxNetwork) -> Result<(), Error> {
    if let Some(id) = n.class_id() {
        let d = cg
            .v1_node("net_cls")
            .ok_or_else(|| missing("net_cls", "network.classID"))?;
        fsutil::write(&d.dir.join("net_cls.classid"), &id.to_string())?;
    }
    for p in n.priorities().iter().flatten() {
        let d = cg
            .v1_node("net_prio")
            .ok_or_else(|| missing("net_prio", "network.priorities"))?;
        fsutil::write(
            &d.dir.join("net_prio.ifpriomap"),
            &format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}

/// Writes the policy: reset to deny-all, then the default and the exceptions. A v1
/// devices cgroup with children refuses a reset (EINVAL); then only the exceptions are
/// written, which still narrows or widens access as asked on top of the current state.
fn devices(dir: &Path, p: &DevicePolicy) -> Result<(), Error> {
    let deny = dir.join("devices.deny");
    let allow = dir.join("devices.allow");
    let reset = if p.default_allow { &allow } else { &deny };
    match fsutil::write(&deny, "a").and_then(|()| {
        if p.default_allow {
            fsutil::write(reset, "a")
        } else {
            Ok(())
        }
    }) {
        Ok(()) => {}
        Err(e) if e.errno() == Some(libc::EINVAL) => {
            tracing::warn!(dir = %dir.display(), error = %e, "device policy reset refused; applying exceptions only");
        }
        Err(e) => return Err(e),
    }
    let target = if p.default_allow { &deny } else { &allow };
    for line in p.v1_lines() {
        fsutil::write(target, &line)?;
    }
    Ok(())
}
