//! The checks dockerd 20.10 makes of a create or update request before it looks at the
//! image (`verifyContainerSettings` and `verifyPlatformContainerResources`), with its words:
//! what a script sees for `--memory 1k`, `--cpus 64`, `--cpuset-cpus 9`, `--restart no:1`
//! is the same error, and the request is refused before anything else happens (no cgroup
//! write failing half way through a start).

use serde_json::Value;

use crate::error::{EngineError, Result};

const MIN_MEMORY: i64 = 6 * 1024 * 1024;
const MIN_KERNEL_MEMORY: i64 = 4 * 1024 * 1024;

fn bad(m: impl Into<String>) -> EngineError {
    EngineError::InvalidArgument(m.into())
}

fn int(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A Config's checks: the stop signal.
pub fn config(config: &Value) -> Result<()> {
    let sig = text(config, "StopSignal");
    if !sig.is_empty() {
        crate::lifecycle::parse_signal(sig)?;
    }
    Ok(())
}

/// The restart policy (create and update).
pub fn restart_policy(host: &Value) -> Result<()> {
    let Some(p) = host.get("RestartPolicy").filter(|p| !p.is_null()) else {
        return Ok(());
    };
    let name = text(p, "Name");
    let retries = int(p, "MaximumRetryCount");
    match name {
        "always" | "unless-stopped" | "no" if retries != 0 => Err(bad(format!(
            "maximum retry count cannot be used with restart policy '{name}'"
        ))),
        "on-failure" if retries < 0 => Err(bad("maximum retry count cannot be negative")),
        "" | "always" | "unless-stopped" | "no" | "on-failure" => Ok(()),
        other => Err(bad(format!("invalid restart policy '{other}'"))),
    }
}

/// A HostConfig's checks at create, in dockerd's order.
pub fn host_config(host: &Value) -> Result<()> {
    restart_policy(host)?;
    let isolation = text(host, "Isolation");
    if !isolation.is_empty() && isolation != "default" {
        return Err(bad(format!(
            "Invalid isolation: {isolation:?} - linux only supports 'default'"
        )));
    }
    resources(host, false)?;
    if int(host, "ShmSize") < 0 {
        return Err(bad("SHM size can not be less than 0"));
    }
    let oom = int(host, "OomScoreAdj");
    if !(-1000..=1000).contains(&oom) {
        return Err(bad(format!(
            "Invalid value {oom}, range for oom score adj is [-1000, 1000]"
        )));
    }
    let ipc = text(host, "IpcMode");
    let ipc_ok = match ipc.split_once(':') {
        Some(("container", c)) => !c.is_empty(),
        Some(_) => false,
        None => matches!(ipc, "" | "host" | "private" | "shareable" | "none"),
    };
    if !ipc_ok {
        return Err(bad(format!("Invalid IPC mode: {ipc}")));
    }
    if host
        .get("StorageOpt")
        .and_then(Value::as_object)
        .is_some_and(|o| !o.is_empty())
    {
        return Err(bad(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
        ));
    }
    let runtime = text(host, "Runtime");
    if !matches!(
        runtime,
        "" | "berth" | "runc" | "io.containerd.runc.v2" | "io.containerd.runtime.v1.linux"
    ) {
        return Err(bad(format!("Unknown runtime specified {runtime}")));
    }
    Ok(())
}

/// The logging driver and its options: dockerd's words for a driver it does not know and
/// for an option its driver does not take; berth's for the drivers dockerd has and it not.
pub fn log_config(lc: &crate::types::LogConfig) -> Result<()> {
    let name = lc.kind.as_str();
    let known: &[&str] = match name {
        "json-file" => &[
            "max-file",
            "max-size",
            "compress",
            "labels",
            "labels-regex",
            "env",
            "env-regex",
            "tag",
        ],
        "local" => &["max-file", "max-size", "compress"],
        "none" => return Ok(()),
        "awslogs" | "etwlogs" | "fluentd" | "gcplogs" | "gelf" | "journald" | "logentries"
        | "splunk" | "syslog" => {
            return Err(bad(format!(
                "logging driver {name:?} is not supported (json-file, local, none)"
            )));
        }
        _ => {
            return Err(bad(format!(
                "error looking up logging plugin {name}: plugin {name:?} not found"
            )));
        }
    };
    // `mode` and `max-buffer-size` are dockerd's own, taken by every driver.
    let unknown = lc.config.keys().find(|k| {
        !known.contains(&k.as_str()) && !matches!(k.as_str(), "mode" | "max-buffer-size")
    });
    if let Some(k) = unknown {
        return Err(bad(format!("unknown log opt '{k}' for {name} log driver")));
    }
    // The values, checked here rather than at start (where dockerd finds them, after it
    // has made the container), in its words.
    let init = |m: String| bad(format!("failed to initialize logging driver: {m}"));
    crate::logs::check_opts(&lc.config).map_err(init)?;
    if let Some(v) = lc.config.get("max-size") {
        match crate::spec::human_size(v) {
            None => return Err(init(format!("invalid size: '{v}'"))),
            Some(n) if n <= 0 => return Err(init("max-size must be a positive number".into())),
            Some(_) => {}
        }
    }
    if let Some(v) = lc.config.get("max-file") {
        match v.parse::<i64>() {
            Err(_) => {
                return Err(init(format!("strconv.Atoi: parsing {v:?}: invalid syntax")));
            }
            Ok(n) if n < 1 => return Err(init("max-file cannot be less than 1".into())),
            Ok(_) => {}
        }
    }
    Ok(())
}

/// The resource limits (`update`: an update, where a swap limit may come alone).
pub fn resources(r: &Value, update: bool) -> Result<()> {
    let memory = int(r, "Memory");
    let swap = int(r, "MemorySwap");
    let reservation = int(r, "MemoryReservation");
    if memory != 0 && memory < MIN_MEMORY {
        return Err(bad("Minimum memory limit allowed is 6MB"));
    }
    if memory > 0 && swap > 0 && swap < memory {
        return Err(bad(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if memory == 0 && swap > 0 && !update {
        return Err(bad(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if let Some(s) = r.get("MemorySwappiness").and_then(Value::as_i64)
        && s != -1
        && !(0..=100).contains(&s)
    {
        return Err(bad(format!(
            "Invalid value: {s}, valid memory swappiness range is 0-100"
        )));
    }
    if reservation > 0 && reservation < MIN_MEMORY {
        return Err(bad("Minimum memory reservation allowed is 6MB"));
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err(bad(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    let kernel = int(r, "KernelMemory");
    if kernel > 0 && kernel < MIN_KERNEL_MEMORY {
        return Err(bad("Minimum kernel memory limit allowed is 4MB"));
    }
    let nano = int(r, "NanoCpus");
    let period = int(r, "CpuPeriod");
    let quota = int(r, "CpuQuota");
    if nano > 0 && period > 0 {
        return Err(bad(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano > 0 && quota > 0 {
        return Err(bad(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    // (the host is read only for what the request sets: this runs at every create)
    if nano != 0 {
        let ncpu = num_cpu();
        if nano < 0 || nano > ncpu as i64 * 1_000_000_000 {
            return Err(bad(format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )));
        }
    }
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if quota > 0 && quota < 1000 {
        return Err(bad("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    }
    for (key, what, nodes) in [
        ("CpusetCpus", "cpus", "CPUs"),
        ("CpusetMems", "mems", "memory nodes"),
    ] {
        let want = text(r, key);
        if want.is_empty() {
            continue;
        }
        let avail = available(what);
        let requested = parse_list(want)
            .map_err(|e| bad(format!("Invalid value {want} for cpuset {what}: {e}")))?;
        let have = parse_list(&avail).unwrap_or_default();
        if !covered(&requested, &have) {
            return Err(bad(format!(
                "Requested {nodes} are not available - requested {want}, available: {avail}"
            )));
        }
    }
    let blkio = int(r, "BlkioWeight");
    if blkio > 0 && !(10..=1000).contains(&blkio) {
        return Err(bad("Range of blkio weight is from 10 to 1000"));
    }
    Ok(())
}

/// `0-3,5`: the inclusive ranges; moby's `parsers.ParseUintList` rules and error.
fn parse_list(s: &str) -> std::result::Result<Vec<(u64, u64)>, String> {
    let invalid = || format!("invalid format: {s}");
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let a: u64 = a.parse().map_err(|_| invalid())?;
            let b: u64 = b.parse().map_err(|_| invalid())?;
            if b < a { Err(invalid()) } else { Ok((a, b)) }
        })
        .collect()
}

/// Whether every number of `want` is in `have`.
fn covered(want: &[(u64, u64)], have: &[(u64, u64)]) -> bool {
    let max = have.iter().map(|r| r.1).max();
    want.iter().all(|&(a, b)| {
        max.is_some_and(|m| b <= m) && (a..=b).all(|n| have.iter().any(|&(x, y)| x <= n && n <= y))
    })
}

/// The CPUs (`cpus`) or memory nodes (`mems`) a cpuset may name: the root cpuset's, as
/// dockerd reads them (cgroup v2, then v1), else the system's online ones.
fn available(what: &str) -> String {
    let sys = if what == "cpus" {
        "/sys/devices/system/cpu/online"
    } else {
        "/sys/devices/system/node/online"
    };
    [
        format!("/sys/fs/cgroup/cpuset.{what}.effective"),
        format!("/sys/fs/cgroup/cpuset/cpuset.{what}"),
        sys.to_owned(),
    ]
    .iter()
    .find_map(|p| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    })
    .unwrap_or_else(|| "0".into())
}

/// Go's `runtime.NumCPU()`: the CPUs this process may run on.
fn num_cpu() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .and_then(|l| parse_list(l.trim()).ok())
        })
        .map(|r| r.iter().map(|(a, b)| (b - a + 1) as usize).sum())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Which of the blkio weight files the host's cgroups have: (weight, weight_device).
fn blkio_weight_support() -> (bool, bool) {
    static S: std::sync::OnceLock<(bool, bool)> = std::sync::OnceLock::new();
    *S.get_or_init(|| {
        let root = std::path::Path::new("/sys/fs/cgroup");
        if let Ok(c) = std::fs::read_to_string(root.join("cgroup.controllers")) {
            // cgroup v2: io.weight (and io.bfq.weight) come with the io controller.
            let io = c.split_whitespace().any(|x| x == "io");
            return (io, io);
        }
        let b = root.join("blkio");
        let has =
            |f: &str| b.join(f).exists() || b.join(f.replace("blkio.", "blkio.bfq.")).exists();
        (has("blkio.weight"), has("blkio.weight_device"))
    })
}

/// dockerd's create on a host whose blkio cgroup has no weight files: the weights are
/// dropped with a warning (and not range-checked), not refused at start.
pub fn discard_unsupported_blkio(host: &mut crate::types::HostConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    let (weight, weight_device) = blkio_weight_support();
    let set = |v: Option<&Value>| match v {
        Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        Some(Value::Array(a)) => !a.is_empty(),
        _ => false,
    };
    if !weight && set(host.extra.get("BlkioWeight")) {
        host.extra.insert("BlkioWeight".into(), Value::from(0));
        warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into());
    }
    if !weight_device && set(host.extra.get("BlkioWeightDevice")) {
        host.extra
            .insert("BlkioWeightDevice".into(), Value::Array(Vec::new()));
        warnings.push("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.".into());
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_parse_and_cover_as_moby_does() {
        assert_eq!(parse_list("0-2,5").unwrap(), vec![(0, 2), (5, 5)]);
        assert_eq!(parse_list("abc").unwrap_err(), "invalid format: abc");
        assert_eq!(parse_list("3-1").unwrap_err(), "invalid format: 3-1");
        assert!(covered(&parse_list("0-1").unwrap(), &[(0, 1)]));
        assert!(!covered(&parse_list("0-99").unwrap(), &[(0, 1)]));
        assert!(!covered(&parse_list("2").unwrap(), &[(0, 1), (3, 3)]));
        assert!(covered(&[], &[]));
    }

    #[test]
    fn restart_policies_as_dockerd_words_them() {
        let p = |n: &str, c: i64| {
            restart_policy(&json!({"RestartPolicy": {"Name": n, "MaximumRetryCount": c}}))
                .map_err(|e| e.to_string())
        };
        assert!(p("on-failure", 3).is_ok());
        assert_eq!(
            p("no", 1).unwrap_err(),
            "maximum retry count cannot be used with restart policy 'no'"
        );
        assert_eq!(
            p("on-failure", -1).unwrap_err(),
            "maximum retry count cannot be negative"
        );
        assert_eq!(p("bogus", 0).unwrap_err(), "invalid restart policy 'bogus'");
    }
}
