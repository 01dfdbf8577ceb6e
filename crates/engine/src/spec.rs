//! From Docker's container options to an OCI `config.json`.
//!
//! The base is berth-runtime's runc-like template; on top go Docker's defaults (its
//! capability set, masked and read-only paths, device rules, the default seccomp profile)
//! and then the user's options. `--privileged` lifts the confinement as Docker's does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{EngineError, Result};
use crate::types::{Config, HostConfig};

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel defines (up to CAP_CHECKPOINT_RESTORE), for `ALL`.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

pub(crate) const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub(crate) const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where berth's init is bind-mounted in containers run with `--init`.
pub const INIT_PATH: &str = "/sbin/berth-init";

fn norm_cap(c: &str) -> String {
    let c = c.trim().to_ascii_uppercase();
    if c == "ALL" || c.starts_with("CAP_") {
        c
    } else {
        format!("CAP_{c}")
    }
}

/// The capabilities berthd itself may grant: its bounding set (a sandbox or an older
/// kernel may lack some; asking for those makes capset fail).
pub fn grantable_caps() -> Vec<&'static str> {
    let bnd = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| bnd & (1u64 << i) != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// The capability set after `CapAdd`/`CapDrop` (Docker's order: drop, then add).
pub fn capabilities(host: &HostConfig) -> Result<Vec<String>> {
    if host.privileged {
        return Ok(grantable_caps().iter().map(|s| s.to_string()).collect());
    }
    let adds: Vec<String> = host.cap_add.iter().flatten().map(|c| norm_cap(c)).collect();
    let drops: Vec<String> = host
        .cap_drop
        .iter()
        .flatten()
        .map(|c| norm_cap(c))
        .collect();
    for (list, caps) in [("CapAdd", &adds), ("CapDrop", &drops)] {
        if let Some(c) = caps
            .iter()
            .find(|c| *c != "ALL" && !ALL_CAPS.contains(&c.as_str()))
        {
            return Err(EngineError::InvalidArgument(format!(
                "invalid {list}: unknown capability: {c:?}"
            )));
        }
    }
    let mut caps: Vec<String> = if drops.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drops.contains(c))
            .collect()
    };
    if adds.iter().any(|c| c == "ALL") {
        caps = grantable_caps()
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drops.contains(c) || adds.contains(c))
            .collect();
    }
    for c in adds {
        if c != "ALL" && !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

/// The effective command and environment after merging the image's config.
#[derive(Debug, Clone)]
pub struct Merged {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
}

/// Docker's merge of the user's Config with the image's: a user Entrypoint discards the
/// image's Cmd; env entries override by key.
pub fn merge(
    user: &Config,
    image: Option<&berth_image::manifest::ContainerConfig>,
) -> Result<Merged> {
    let empty = berth_image::manifest::ContainerConfig::default();
    let img = image.unwrap_or(&empty);
    let (entrypoint, cmd) = match &user.entrypoint {
        Some(ep) => (ep.clone(), user.cmd.clone().unwrap_or_default()),
        None => (
            img.entrypoint.clone().unwrap_or_default(),
            user.cmd
                .clone()
                .or_else(|| img.cmd.clone())
                .unwrap_or_default(),
        ),
    };
    let entrypoint: Vec<String> = if entrypoint.len() == 1 && entrypoint[0].is_empty() {
        Vec::new()
    } else {
        entrypoint
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(EngineError::InvalidArgument("No command specified".into()));
    }
    let mut env: Vec<String> = img.env.clone().unwrap_or_default();
    for e in user.env.iter().flatten() {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_owned());
    }
    let cwd = if !user.working_dir.is_empty() {
        user.working_dir.clone()
    } else {
        img.working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    };
    let user_s = if !user.user.is_empty() {
        user.user.clone()
    } else {
        img.user.clone().unwrap_or_default()
    };
    Ok(Merged {
        args,
        env,
        cwd,
        user: user_s,
    })
}

/// Everything [`build`] needs besides the Docker options.
pub struct SpecInput<'a> {
    pub id: &'a str,
    pub config: &'a Config,
    pub host: &'a HostConfig,
    pub merged: &'a Merged,
    pub rootfs: &'a Path,
    /// Mounts in OCI form (binds, volumes, tmpfs, /etc files), in order.
    pub mounts: Vec<Value>,
    /// Namespace paths for `container:ID` modes, by OCI namespace type.
    pub ns_paths: BTreeMap<&'static str, PathBuf>,
    pub hostname: String,
    pub cgroups_path: String,
    /// Host path of berth-init when `--init` is asked.
    pub init: Option<PathBuf>,
}

/// A size as Docker's `units.FromHumanSize` reads it, which is what dockerd's json-file
/// `max-size` takes: decimal units (`2k` is 2000 bytes, `20m` 20 000 000), `k`/`m`/`g`/`t`/`p`
/// in either case with an optional `i` and `b`, one optional space, a fractional number.
pub fn human_size(s: &str) -> Option<i64> {
    let unit_at = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(unit_at);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mul = match unit {
        "" => 1e0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "p" => 1e15,
        _ => return None,
    };
    Some((n * mul) as i64)
}

fn rlimit_host_hard(resource: &str) -> Option<u64> {
    let r = match resource {
        "nofile" => libc::RLIMIT_NOFILE,
        "nproc" => libc::RLIMIT_NPROC,
        "core" => libc::RLIMIT_CORE,
        "memlock" => libc::RLIMIT_MEMLOCK,
        "stack" => libc::RLIMIT_STACK,
        "fsize" => libc::RLIMIT_FSIZE,
        "cpu" => libc::RLIMIT_CPU,
        "data" => libc::RLIMIT_DATA,
        "as" => libc::RLIMIT_AS,
        "locks" => libc::RLIMIT_LOCKS,
        "sigpending" => libc::RLIMIT_SIGPENDING,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        "nice" => libc::RLIMIT_NICE,
        "rtprio" => libc::RLIMIT_RTPRIO,
        "rttime" => libc::RLIMIT_RTTIME,
        "rss" => libc::RLIMIT_RSS,
        _ => return None,
    };
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; `r` is a valid resource constant.
    let rc = unsafe { libc::getrlimit(r, &mut rl) };
    (rc == 0).then_some(rl.rlim_max)
}

fn swap_accounting() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() || cgroup_v2_host()
}

/// `linux.resources.blockIO` from HostConfig's Blkio* fields (device paths resolved to
/// their numbers); None when none is set.
fn block_io(host: &HostConfig) -> Result<Option<Value>> {
    let mut b = json!({});
    if let Some(w) = host.extra.get("BlkioWeight").and_then(Value::as_u64)
        && w > 0
    {
        b["weight"] = json!(w);
    }
    let lists = [
        ("BlkioWeightDevice", "weightDevice", "Weight", "weight"),
        (
            "BlkioDeviceReadBps",
            "throttleReadBpsDevice",
            "Rate",
            "rate",
        ),
        (
            "BlkioDeviceWriteBps",
            "throttleWriteBpsDevice",
            "Rate",
            "rate",
        ),
        (
            "BlkioDeviceReadIOps",
            "throttleReadIOPSDevice",
            "Rate",
            "rate",
        ),
        (
            "BlkioDeviceWriteIOps",
            "throttleWriteIOPSDevice",
            "Rate",
            "rate",
        ),
    ];
    for (field, key, value, oci) in lists {
        let mut out = Vec::new();
        for d in host
            .extra
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let path = d.get("Path").and_then(Value::as_str).unwrap_or("");
            let st = rustix::fs::stat(path).map_err(|e| {
                EngineError::InvalidArgument(format!("{field}: cannot stat {path}: {e}"))
            })?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::BlockDevice
            {
                return Err(EngineError::InvalidArgument(format!(
                    "{field}: {path} is not a block device"
                )));
            }
            let (maj, min) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
            let n = d.get(value).and_then(Value::as_u64).unwrap_or(0);
            out.push(json!({ "major": maj, "minor": min, oci: n }));
        }
        if !out.is_empty() {
            b[key] = json!(out);
        }
    }
    Ok(b.as_object().is_some_and(|o| !o.is_empty()).then_some(b))
}

/// berthd has no device drivers (GPUs): a container asking for devices through
/// `DeviceRequests` (`--gpus`) cannot start, with dockerd's words for it.
pub fn check_device_requests(host: &HostConfig) -> Result<()> {
    let Some(first) = host
        .extra
        .get("DeviceRequests")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    else {
        return Ok(());
    };
    let caps: Vec<String> = first
        .get("Capabilities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|set| {
            let words: Vec<&str> = set
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!("[{}]", words.join(" "))
        })
        .collect();
    Err(EngineError::Internal(format!(
        "could not select device driver {:?} with capabilities: [{}]",
        first.get("Driver").and_then(Value::as_str).unwrap_or(""),
        caps.join(" ")
    )))
}

/// The value of security option `key` (`key=v` or `key:v`; "" for a bare `key`). Only the
/// first separator splits: a seccomp profile sent inline is JSON with its own.
fn has_opt(host: &HostConfig, key: &str) -> Option<String> {
    host.security_opt.iter().flatten().find_map(|o| {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o, ""));
        (k == key).then(|| v.to_owned())
    })
}

/// Whether the host's cgroups are v2 only (a unified hierarchy at /sys/fs/cgroup).
pub fn cgroup_v2_host() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Builds the OCI config for a container.
pub fn build(i: SpecInput<'_>) -> Result<Value> {
    let host = i.host;
    let mut spec = berth_runtime::default_spec::default_spec(false);
    let caps = capabilities(host)?;

    // Process.
    let (uid, gid, mut extra_gids, home) = crate::rootfs::resolve_user(i.rootfs, &i.merged.user)
        .map_err(EngineError::InvalidArgument)?;
    for g in host.group_add.iter().flatten() {
        let n = crate::rootfs::resolve_group(i.rootfs, g).map_err(EngineError::InvalidArgument)?;
        if !extra_gids.contains(&n) {
            extra_gids.push(n);
        }
    }
    let mut env = i.merged.env.clone();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.insert(1.min(env.len()), format!("HOSTNAME={}", i.hostname));
    }
    if i.config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    // An empty HOME counts as none (runc sets the user's home then).
    env.retain(|e| e != "HOME=");
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    let mut args = i.merged.args.clone();
    if i.init.is_some() {
        args.splice(0..0, [INIT_PATH.to_owned(), "--".to_owned()]);
    }
    let no_new_privs = has_opt(host, "no-new-privileges")
        .map(|v| v.is_empty() || v == "true")
        .unwrap_or(false);
    let mut process = json!({
        "terminal": i.config.tty,
        "user": { "uid": uid, "gid": gid, "additionalGids": extra_gids },
        "args": args,
        "env": env,
        "cwd": i.merged.cwd,
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
        },
        "noNewPrivileges": no_new_privs,
        "oomScoreAdj": host.oom_score_adj,
    });
    if let Some(cs) = &host.console_size
        && cs.len() == 2
        && cs[0] > 0
    {
        process["consoleSize"] = json!({ "height": cs[0], "width": cs[1] });
    }
    let mut rlimits = Vec::new();
    for u in host.ulimits.iter().flatten() {
        let Some(max) = rlimit_host_hard(&u.name) else {
            return Err(EngineError::InvalidArgument(format!(
                "invalid ulimit type: {}",
                u.name
            )));
        };
        let hard = (u.hard.max(0) as u64).min(max);
        let soft = (u.soft.max(0) as u64).min(hard);
        rlimits.push(json!({ "type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()), "hard": hard, "soft": soft }));
    }
    process["rlimits"] = json!(rlimits);
    spec["process"] = process;

    spec["root"] = json!({ "path": i.rootfs, "readonly": host.readonly_rootfs });
    if host.uts_mode != "host" {
        spec["hostname"] = json!(i.hostname);
        if !i.config.domainname.is_empty() {
            spec["domainname"] = json!(i.config.domainname);
        }
    } else if let Some(o) = spec.as_object_mut() {
        o.remove("hostname");
    }

    // Mounts: the template's, adjusted, then the user's.
    let shm = if host.shm_size > 0 {
        host.shm_size
    } else {
        64 << 20
    };
    let mut mounts: Vec<Value> = spec["mounts"].as_array().cloned().unwrap_or_default();
    for m in &mut mounts {
        match m["destination"].as_str() {
            // Docker's default spec (runc's template has no options for it).
            Some("/proc") => m["options"] = json!(["nosuid", "noexec", "nodev"]),
            Some("/dev/shm") => {
                m["options"] = json!([
                    "nosuid",
                    "noexec",
                    "nodev",
                    "mode=1777",
                    format!("size={shm}")
                ]);
            }
            Some("/sys") | Some("/sys/fs/cgroup") if host.privileged => {
                if let Some(opts) = m["options"].as_array_mut() {
                    opts.retain(|o| o != "ro");
                    opts.push(json!("rw"));
                }
            }
            _ => {}
        }
    }
    if host.ipc_mode == "none" {
        // `--ipc none`: no /dev/shm at all, as with dockerd.
        mounts.retain(|m| m["destination"] != "/dev/shm");
    }
    let user_dests: Vec<String> = i
        .mounts
        .iter()
        .filter_map(|m| m["destination"].as_str().map(str::to_owned))
        .collect();
    mounts.retain(|m| {
        !user_dests
            .iter()
            .any(|d| Some(d.as_str()) == m["destination"].as_str())
    });
    mounts.extend(i.mounts);
    if let Some(init) = &i.init {
        mounts.push(json!({
            "destination": INIT_PATH, "type": "bind", "source": init,
            "options": ["bind", "ro", "nosuid", "nodev"],
        }));
    }
    spec["mounts"] = json!(mounts);

    // Linux: namespaces.
    let mut namespaces = Vec::new();
    let modes = [
        ("pid", host.pid_mode.as_str()),
        ("network", host.network_mode.as_str()),
        ("ipc", host.ipc_mode.as_str()),
        ("uts", host.uts_mode.as_str()),
    ];
    for (ns, mode) in modes {
        if mode == "host" {
            continue;
        }
        match i.ns_paths.get(ns) {
            Some(p) => namespaces.push(json!({ "type": ns, "path": p })),
            None => namespaces.push(json!({ "type": ns })),
        }
    }
    namespaces.push(json!({ "type": "mount" }));
    // (Empty for a container made before berth recorded the mode: the default then.)
    if host.cgroupns_mode == "private" || (host.cgroupns_mode.is_empty() && cgroup_v2_host()) {
        namespaces.push(json!({ "type": "cgroup" }));
    }
    let linux = &mut spec["linux"];
    linux["namespaces"] = json!(namespaces);
    linux["cgroupsPath"] = json!(i.cgroups_path);
    if host.privileged {
        linux["maskedPaths"] = json!([]);
        linux["readonlyPaths"] = json!([]);
    } else {
        linux["maskedPaths"] = json!(
            host.masked_paths
                .clone()
                .unwrap_or_else(|| MASKED_PATHS.iter().map(|s| s.to_string()).collect())
        );
        linux["readonlyPaths"] = json!(
            host.readonly_paths
                .clone()
                .unwrap_or_else(|| READONLY_PATHS.iter().map(|s| s.to_string()).collect())
        );
    }
    if let Some(s) = &host.sysctls
        && !s.is_empty()
    {
        linux["sysctl"] = json!(s);
    }

    // Resources.
    let mut res = json!({});
    let mut devrules = if host.privileged {
        vec![json!({ "allow": true, "access": "rwm" })]
    } else {
        let mut v = vec![json!({ "allow": false, "access": "rwm" })];
        for t in ["c", "b"] {
            v.push(json!({ "allow": true, "type": t, "access": "m" }));
        }
        for (maj, min) in [
            (1, Some(3)),
            (1, Some(5)),
            (1, Some(7)),
            (1, Some(8)),
            (1, Some(9)),
            (5, Some(0)),
            (5, Some(1)),
            (5, Some(2)),
            (136, None),
            (10, Some(200)),
        ] {
            let mut r = json!({ "allow": true, "type": "c", "major": maj, "access": "rwm" });
            if let Some(m) = min {
                r["minor"] = json!(m);
            }
            v.push(r);
        }
        v
    };
    let mut devices = Vec::new();
    for d in host.devices.iter().flatten() {
        let st = rustix::fs::stat(d.path_on_host.as_str()).map_err(|e| {
            // Go's words for the errno (the docker CLI picks exit code 127 from them).
            let text = crate::error::go_errno(&e.into());
            EngineError::InvalidArgument(format!(
                "error gathering device information while adding custom device \"{}\": {text}",
                d.path_on_host
            ))
        })?;
        let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
        let t = match kind {
            rustix::fs::FileType::CharacterDevice => "c",
            rustix::fs::FileType::BlockDevice => "b",
            _ => {
                return Err(EngineError::InvalidArgument(format!(
                    "error gathering device information while adding custom device \"{}\": not a device node",
                    d.path_on_host
                )));
            }
        };
        let (maj, min) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
        let dest = if d.path_in_container.is_empty() {
            &d.path_on_host
        } else {
            &d.path_in_container
        };
        devices.push(json!({
            "path": dest, "type": t, "major": maj, "minor": min,
            "fileMode": st.st_mode & 0o7777, "uid": st.st_uid, "gid": st.st_gid,
        }));
        let perms = if d.cgroup_permissions.is_empty() {
            "rwm"
        } else {
            &d.cgroup_permissions
        };
        devrules
            .push(json!({ "allow": true, "type": t, "major": maj, "minor": min, "access": perms }));
    }
    if !devices.is_empty() {
        linux["devices"] = json!(devices);
    }
    res["devices"] = json!(devrules);
    let mut mem = json!({});
    if host.memory > 0 {
        mem["limit"] = json!(host.memory);
        if swap_accounting() {
            if host.memory_swap > 0 || host.memory_swap == -1 {
                mem["swap"] = json!(host.memory_swap);
            } else if host.memory_swap == 0 {
                mem["swap"] = json!(host.memory * 2);
            }
        }
    }
    if host.memory_reservation > 0 {
        mem["reservation"] = json!(host.memory_reservation);
    }
    if mem.as_object().is_some_and(|o| !o.is_empty()) {
        res["memory"] = mem;
    }
    let mut cpu = json!({});
    if host.cpu_shares > 0 {
        cpu["shares"] = json!(host.cpu_shares);
    }
    if host.nano_cpus > 0 {
        cpu["period"] = json!(100_000);
        cpu["quota"] = json!(host.nano_cpus * 100_000 / 1_000_000_000);
    } else {
        if host.cpu_period > 0 {
            cpu["period"] = json!(host.cpu_period);
        }
        if host.cpu_quota > 0 {
            cpu["quota"] = json!(host.cpu_quota);
        }
    }
    if !host.cpuset_cpus.is_empty() {
        cpu["cpus"] = json!(host.cpuset_cpus);
    }
    if !host.cpuset_mems.is_empty() {
        cpu["mems"] = json!(host.cpuset_mems);
    }
    if cpu.as_object().is_some_and(|o| !o.is_empty()) {
        res["cpu"] = cpu;
    }
    if let Some(p) = host.pids_limit
        && p > 0
    {
        res["pids"] = json!({ "limit": p });
    }
    if let Some(b) = block_io(host)? {
        res["blockIO"] = b;
    }
    linux["resources"] = res;

    // Seccomp.
    let seccomp = has_opt(host, "seccomp");
    if !host.privileged && seccomp.as_deref() != Some("unconfined") {
        let profile = match seccomp.as_deref() {
            None | Some("") | Some("builtin") => crate::seccomp::DEFAULT_PROFILE.to_owned(),
            Some(p) if p.trim_start().starts_with('{') => p.to_owned(),
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                EngineError::InvalidArgument(format!(
                    "opening seccomp profile ({path}) failed: {e}"
                ))
            })?,
        };
        linux["seccomp"] =
            crate::seccomp::to_oci(&profile, &caps, crate::seccomp::kernel_version())?;
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_drop_all_then_add_keeps_only_the_added() {
        let h = HostConfig {
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(vec!["net_admin".into()]),
            ..Default::default()
        };
        assert_eq!(capabilities(&h).unwrap(), vec!["CAP_NET_ADMIN".to_string()]);
        let h = HostConfig {
            cap_drop: Some(vec!["CHOWN".into()]),
            ..Default::default()
        };
        let c = capabilities(&h).unwrap();
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(c.len(), DEFAULT_CAPS.len() - 1);
        let bad = HostConfig {
            cap_add: Some(vec!["NOPE".into()]),
            ..Default::default()
        };
        assert!(capabilities(&bad).is_err());
    }

    #[test]
    fn user_entrypoint_discards_image_cmd_and_env_overrides_by_key() {
        let img = berth_image::manifest::ContainerConfig {
            entrypoint: Some(vec!["/ep".into()]),
            cmd: Some(vec!["img-cmd".into()]),
            env: Some(vec!["A=1".into(), "PATH=/x".into()]),
            ..Default::default()
        };
        let user = Config {
            entrypoint: Some(vec!["/mine".into()]),
            env: Some(vec!["A=2".into()]),
            ..Default::default()
        };
        let m = merge(&user, Some(&img)).unwrap();
        assert_eq!(m.args, vec!["/mine"]);
        assert!(m.env.contains(&"A=2".to_string()) && !m.env.contains(&"A=1".to_string()));
        let user = Config {
            cmd: Some(vec!["x".into()]),
            ..Default::default()
        };
        assert_eq!(merge(&user, Some(&img)).unwrap().args, vec!["/ep", "x"]);
        assert!(merge(&Config::default(), None).is_err());
    }

    #[test]
    fn log_sizes_parse_like_dockers_from_human_size() {
        assert_eq!(human_size("64m"), Some(64_000_000));
        assert_eq!(human_size("2k"), Some(2000));
        assert_eq!(human_size("2KB"), Some(2000));
        assert_eq!(human_size("2 kib"), Some(2000));
        assert_eq!(human_size("1.5g"), Some(1_500_000_000));
        assert_eq!(human_size("512"), Some(512));
        for bad in ["", "m", "1x", "-1k", "1..5m", " 1k", "1k ", "1  k", ".5k"] {
            assert_eq!(human_size(bad), None, "{bad:?}");
        }
    }
}
