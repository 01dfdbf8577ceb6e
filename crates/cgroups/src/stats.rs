//! Usage statistics (`docker stats`, `runtime events --stats`), read from v1 or v2 files
//! into one shape. Files a kernel or controller does not provide leave their numbers at
//! zero: stats are best effort, while a missing cgroup is still an error.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::{Error, fsutil};

/// All statistics of a cgroup.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Memory controller numbers.
    pub memory: MemoryStats,
    /// CPU time and throttling.
    pub cpu: CpuStats,
    /// Process counts.
    pub pids: PidsStats,
    /// Block I/O per device.
    pub blkio: BlkioStats,
}

/// Memory usage, in bytes unless noted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryStats {
    /// Current usage (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    pub usage: u64,
    /// Peak usage (v1 `max_usage_in_bytes`, v2 `memory.peak` where the kernel has it).
    pub max_usage: u64,
    /// Limit; `u64::MAX` when unlimited.
    pub limit: u64,
    /// Times the limit was hit (v1 `failcnt`, v2 `memory.events` `max`).
    pub failcnt: u64,
    /// Processes killed by the OOM killer in this cgroup.
    pub oom_kills: u64,
    /// Page cache (v1 `total_cache`/`cache`, v2 `file`).
    pub cache: u64,
    /// Anonymous memory (v1 `total_rss`/`rss`, v2 `anon`).
    pub rss: u64,
    /// Swap in use.
    pub swap_usage: u64,
    /// Every counter of `memory.stat`.
    pub raw: BTreeMap<String, u64>,
}

/// CPU time in nanoseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuStats {
    /// Total CPU time.
    pub usage_total_ns: u64,
    /// User-mode CPU time.
    pub usage_user_ns: u64,
    /// Kernel-mode CPU time.
    pub usage_system_ns: u64,
    /// Per-CPU totals (v1 only; empty on v2).
    pub per_cpu_ns: Vec<u64>,
    /// Periods in which the cgroup was throttled.
    pub throttled_periods: u64,
    /// Time spent throttled.
    pub throttled_time_ns: u64,
    /// Enforcement periods elapsed.
    pub nr_periods: u64,
}

/// Process counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PidsStats {
    /// Tasks in the cgroup.
    pub current: u64,
    /// `pids.max`, `None` when unlimited.
    pub limit: Option<u64>,
}

/// Block I/O counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BlkioStats {
    /// One entry per device and counter.
    pub entries: Vec<BlkioEntry>,
}

/// One I/O counter of one device. `op` uses the v2 `io.stat` names on both versions:
/// `rbytes`, `wbytes`, `rios`, `wios`, `dbytes`, `dios` (v1 `Read`/`Write`/`Discard` of
/// `io_service_bytes_recursive` and `io_serviced_recursive` map onto these).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BlkioEntry {
    /// Device major.
    pub major: u64,
    /// Device minor.
    pub minor: u64,
    /// Counter name.
    pub op: String,
    /// Value.
    pub value: u64,
}

/// Directories of the v1 hierarchies stats read from.
pub(crate) struct V1Dirs<'a> {
    pub(crate) memory: Option<&'a Path>,
    pub(crate) cpu: Option<&'a Path>,
    pub(crate) cpuacct: Option<&'a Path>,
    pub(crate) pids: Option<&'a Path>,
    pub(crate) blkio: Option<&'a Path>,
}

fn read_u64(dir: &Path, f: &str) -> Result<u64, Error> {
    Ok(fsutil::read_u64_opt(dir, f)?.unwrap_or(0))
}

fn keyed(dir: &Path, f: &str) -> Result<BTreeMap<String, u64>, Error> {
    Ok(fsutil::read_opt(&dir.join(f))?
        .map(|s| {
            fsutil::parse_flat_keyed(&s)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect()
        })
        .unwrap_or_default())
}

fn ensure_dir(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(Error::Read {
            path: dir.to_owned(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        })
    }
}

/// v1 (and hybrid, where `v2` fills in what no v1 hierarchy provides).
pub(crate) fn collect_v1(d: &V1Dirs<'_>, v2: Option<&Path>) -> Result<Stats, Error> {
    let mut s = Stats::default();
    if let Some(m) = d.memory {
        ensure_dir(m)?;
        s.memory = memory_v1(m)?;
    } else if let Some(v) = v2 {
        s.memory = memory_v2(v)?;
    }
    if let Some(a) = d.cpuacct {
        ensure_dir(a)?;
        s.cpu.usage_total_ns = read_u64(a, "cpuacct.usage")?;
        s.cpu.usage_user_ns = read_u64(a, "cpuacct.usage_user")?;
        s.cpu.usage_system_ns = read_u64(a, "cpuacct.usage_sys")?;
        if let Some(p) = fsutil::read_opt(&a.join("cpuacct.usage_percpu"))? {
            s.cpu.per_cpu_ns = parse_percpu(&p);
        }
    } else if let Some(v) = v2 {
        s.cpu = cpu_v2(v)?;
    }
    if let Some(c) = d.cpu {
        let k = keyed(c, "cpu.stat")?;
        s.cpu.nr_periods = k.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttled_periods = k.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttled_time_ns = k.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(p) = d.pids.or(v2) {
        s.pids = pids(p)?;
    }
    if let Some(b) = d.blkio {
        for (f, bytes) in [
            ("blkio.throttle.io_service_bytes_recursive", true),
            ("blkio.throttle.io_serviced_recursive", false),
        ] {
            if let Some(t) = fsutil::read_opt(&b.join(f))? {
                s.blkio.entries.extend(parse_blkio_v1(&t, bytes));
            }
        }
    } else if let Some(v) = v2 {
        s.blkio = io_v2(v)?;
    }
    Ok(s)
}

pub(crate) fn collect_v2(dir: &Path) -> Result<Stats, Error> {
    ensure_dir(dir)?;
    Ok(Stats {
        memory: memory_v2(dir)?,
        cpu: cpu_v2(dir)?,
        pids: pids(dir)?,
        blkio: io_v2(dir)?,
    })
}

fn memory_v1(dir: &Path) -> Result<MemoryStats, Error> {
    let raw = keyed(dir, "memory.stat")?;
    let pick = |a: &str, b: &str| raw.get(a).or_else(|| raw.get(b)).copied().unwrap_or(0);
    let usage = read_u64(dir, "memory.usage_in_bytes")?;
    let memsw = read_u64(dir, "memory.memsw.usage_in_bytes")?;
    let oom = keyed(dir, "memory.oom_control")?;
    Ok(MemoryStats {
        usage,
        max_usage: read_u64(dir, "memory.max_usage_in_bytes")?,
        // v1 spells "unlimited" as a page-rounded i64::MAX; report it as v2 does.
        limit: fsutil::read_u64_opt(dir, "memory.limit_in_bytes")?
            .filter(|l| *l < 1 << 62)
            .unwrap_or(u64::MAX),
        failcnt: read_u64(dir, "memory.failcnt")?,
        oom_kills: oom.get("oom_kill").copied().unwrap_or(0),
        cache: pick("total_cache", "cache"),
        rss: pick("total_rss", "rss"),
        swap_usage: memsw.saturating_sub(usage),
        raw,
    })
}

fn memory_v2(dir: &Path) -> Result<MemoryStats, Error> {
    let raw = keyed(dir, "memory.stat")?;
    let ev = keyed(dir, "memory.events")?;
    Ok(MemoryStats {
        usage: read_u64(dir, "memory.current")?,
        max_usage: read_u64(dir, "memory.peak")?,
        limit: fsutil::read_u64_opt(dir, "memory.max")?.unwrap_or(u64::MAX),
        failcnt: ev.get("max").copied().unwrap_or(0),
        oom_kills: ev.get("oom_kill").copied().unwrap_or(0),
        cache: raw.get("file").copied().unwrap_or(0),
        rss: raw.get("anon").copied().unwrap_or(0),
        swap_usage: read_u64(dir, "memory.swap.current")?,
        raw,
    })
}

fn cpu_v2(dir: &Path) -> Result<CpuStats, Error> {
    let k = keyed(dir, "cpu.stat")?;
    let us = |key: &str| k.get(key).copied().unwrap_or(0).saturating_mul(1000);
    Ok(CpuStats {
        usage_total_ns: us("usage_usec"),
        usage_user_ns: us("user_usec"),
        usage_system_ns: us("system_usec"),
        per_cpu_ns: Vec::new(),
        throttled_periods: k.get("nr_throttled").copied().unwrap_or(0),
        throttled_time_ns: us("throttled_usec"),
        nr_periods: k.get("nr_periods").copied().unwrap_or(0),
    })
}

fn pids(dir: &Path) -> Result<PidsStats, Error> {
    Ok(PidsStats {
        current: read_u64(dir, "pids.current")?,
        limit: fsutil::read_u64_opt(dir, "pids.max")?.filter(|v| *v != u64::MAX),
    })
}

fn io_v2(dir: &Path) -> Result<BlkioStats, Error> {
    Ok(BlkioStats {
        entries: fsutil::read_opt(&dir.join("io.stat"))?
            .map(|s| parse_io_stat(&s))
            .unwrap_or_default(),
    })
}

/// `cpuacct.usage_percpu`: space-separated nanoseconds.
pub fn parse_percpu(s: &str) -> Vec<u64> {
    s.split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

fn parse_dev(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// v1 `blkio.*io_service*_recursive`: `MAJ:MIN Op value` lines plus a `Total` line.
/// `bytes` says whether the file counts bytes (else operations).
pub fn parse_blkio_v1(s: &str, bytes: bool) -> Vec<BlkioEntry> {
    let mut out = Vec::new();
    for l in s.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [dev, op, value] = f[..] else { continue };
        let (Some((major, minor)), Ok(value)) = (parse_dev(dev), value.parse::<u64>()) else {
            continue;
        };
        let prefix = match op {
            "Read" => 'r',
            "Write" => 'w',
            "Discard" => 'd',
            _ => continue,
        };
        let op = format!("{prefix}{}", if bytes { "bytes" } else { "ios" });
        out.push(BlkioEntry {
            major,
            minor,
            op,
            value,
        });
    }
    out
}

/// v2 `io.stat`: `MAJ:MIN key=value ...` per device.
pub fn parse_io_stat(s: &str) -> Vec<BlkioEntry> {
    let mut out = Vec::new();
    for l in s.lines() {
        let mut it = l.split_whitespace();
        let Some((major, minor)) = it.next().and_then(parse_dev) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            if !matches!(k, "rbytes" | "wbytes" | "rios" | "wios" | "dbytes" | "dios") {
                continue;
            }
            if let Ok(value) = v.parse() {
                out.push(BlkioEntry {
                    major,
                    minor,
                    op: k.to_owned(),
                    value,
                });
            }
        }
    }
    out
}
