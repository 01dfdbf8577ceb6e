//! The rest of `run`/`create`'s flags (healthchecks, resources, mounts, DNS, devices,
//! logging, namespaces, network aliases): docker's names, mapped onto the create body.

use anyhow::{Result, anyhow, bail};
use clap::Args;
use serde_json::{Map, Value, json};

use crate::run::parse_bytes;

#[derive(Args, Debug, Default)]
pub struct RunMore {
    /// Command to run to check health
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long)]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)
    #[arg(long)]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long)]
    pub health_start_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long)]
    pub health_retries: Option<i64>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub no_healthcheck: bool,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    pub ip6: Option<String>,
    /// Container IPv4/IPv6 link-local addresses
    #[arg(long)]
    pub link_local_ip: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long)]
    pub mac_address: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long)]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long)]
    pub dns_option: Vec<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<i64>,
    /// CPU count (Windows only)
    ///
    /// Accepted as docker accepts it; like docker's help for a Linux daemon, berth's leaves
    /// this and the other Windows-only options out.
    #[arg(long, hide = true)]
    pub cpu_count: Option<i64>,
    /// CPU percent (Windows only)
    #[arg(long, hide = true)]
    pub cpu_percent: Option<i64>,
    /// Maximum IO bandwidth limit for the system drive (Windows only)
    #[arg(long, hide = true)]
    pub io_maxbandwidth: Option<String>,
    /// Maximum IOps limit for the system drive (Windows only)
    #[arg(long, hide = true)]
    pub io_maxiops: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long)]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long, allow_negative_numbers = true)]
    pub memory_swappiness: Option<i64>,
    /// Disable OOM Killer
    #[arg(long)]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long, allow_negative_numbers = true)]
    pub oom_score_adj: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Block IO weight (relative device weight)
    #[arg(long)]
    pub blkio_weight_device: Vec<String>,
    /// Limit read rate (bytes per second) from a device
    #[arg(long)]
    pub device_read_bps: Vec<String>,
    /// Limit write rate (bytes per second) to a device
    #[arg(long)]
    pub device_write_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device
    #[arg(long)]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (IO per second) to a device
    #[arg(long)]
    pub device_write_iops: Vec<String>,
    /// GPU devices to add to the container ('all' to pass all GPUs)
    #[arg(long)]
    pub gpus: Option<String>,
    /// Size of /dev/shm
    #[arg(long)]
    pub shm_size: Option<String>,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long)]
    pub volumes_from: Vec<String>,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Security Options
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Add additional groups to join
    #[arg(long)]
    pub group_add: Vec<String>,
    /// Add a host device to the container
    #[arg(long)]
    pub device: Vec<String>,
    /// Logging driver for the container
    #[arg(long)]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long)]
    pub log_opt: Vec<String>,
    /// IPC mode to use
    #[arg(long)]
    pub ipc: Option<String>,
    /// PID namespace to use
    #[arg(long)]
    pub pid: Option<String>,
    /// UTS namespace to use
    #[arg(long)]
    pub uts: Option<String>,
    /// User namespace to use
    #[arg(long)]
    pub userns: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(
        long,
        help = "Cgroup namespace to use (host|private)\n'host':    Run the container in the Docker host's cgroup namespace\n'private': Run the container in its own private cgroup namespace\n'':        Use the cgroup namespace as configured by the\n           default-cgroupns-mode option on the daemon (default)"
    )]
    pub cgroupns: Option<String>,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Read in a line delimited file of labels
    #[arg(long)]
    pub label_file: Vec<String>,
    /// Write the container ID to the file
    #[arg(long)]
    pub cidfile: Option<String>,
    /// Optional parent cgroup for the container
    #[arg(long)]
    pub cgroup_parent: Option<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long)]
    pub device_cgroup_rule: Vec<String>,
    /// Add link to another container
    #[arg(long)]
    pub link: Vec<String>,
    /// Limit CPU real-time period in microseconds
    #[arg(long)]
    pub cpu_rt_period: Option<i64>,
    /// Limit CPU real-time runtime in microseconds
    #[arg(long)]
    pub cpu_rt_runtime: Option<i64>,
    /// Kernel memory limit
    #[arg(long)]
    pub kernel_memory: Option<String>,
    /// Storage driver options for the container
    #[arg(long)]
    pub storage_opt: Vec<String>,
    /// Optional volume driver for the container
    #[arg(long)]
    pub volume_driver: Option<String>,
    /// Container isolation technology
    #[arg(long)]
    pub isolation: Option<String>,
    /// Add an annotation to the container (passed through to the OCI runtime)
    #[arg(long)]
    pub annotation: Vec<String>,
    /// Skip image verification
    ///
    /// berth verifies no signatures: the flag is accepted for docker's sake.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::cli::go_bool)]
    pub disable_content_trust: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short, long)]
    pub quiet: bool,
}

/// A Go duration (`1m30s`, `500ms`, `2h`) in nanoseconds.
pub fn duration_ns(s: &str) -> Result<i64> {
    // Go's time.ParseDuration, in its words (less the `time: ` its callers add).
    let bad = || anyhow!("invalid duration {s:?}");
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body == "0" {
        return Ok(0);
    }
    if body.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        // digits, and a fraction after one dot
        let digits = |r: &str| r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        let mut n = digits(rest);
        if rest[n..].starts_with('.') {
            n += 1 + digits(&rest[n + 1..]);
        }
        let num = &rest[..n];
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..u];
        rest = &rest[u..];
        let scale = match unit {
            "" => bail!("missing unit in duration {s:?}"),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => bail!("unknown unit {unit:?} in duration {s:?}"),
        };
        total += num.parse::<f64>().map_err(|_| bad())? * scale;
    }
    Ok(if neg { -total } else { total } as i64)
}

fn kv(list: &[String]) -> Map<String, Value> {
    list.iter()
        .map(|x| {
            let (k, v) = x.split_once('=').unwrap_or((x, ""));
            (k.to_owned(), json!(v))
        })
        .collect()
}

/// `--mount type=bind,source=/a,target=/b,readonly` → a Mount object, read as docker's
/// MountOpt reads it: keys in any case, untrimmed; a bare `readonly`, `volume-nocopy` or
/// `bind-nonrecursive`; boolean and size values checked; options of another mount type
/// refused.
fn mount(spec: &str) -> Result<Value> {
    let mut m = Map::new();
    let mut ty = "volume".to_owned();
    let mut bind = Map::new();
    let mut vol = Map::new();
    let mut tmpfs = Map::new();
    let (mut any_bind, mut any_vol, mut any_tmpfs) = (false, false, false);
    let mut vol_opts = Map::new();
    let mut labels = Map::new();
    let mut read_only = false;
    if spec.is_empty() {
        bail!("EOF");
    }
    for field in csv_fields(spec).map_err(|e| crate::run::flag_value_error("--mount", spec, e))? {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), v),
            None => {
                match field.to_lowercase().as_str() {
                    "readonly" | "ro" => read_only = true,
                    "volume-nocopy" => {
                        any_vol = true;
                        vol.insert("NoCopy".into(), json!(true));
                    }
                    "bind-nonrecursive" => {
                        any_bind = true;
                        bind.insert("NonRecursive".into(), json!(true));
                    }
                    _ => bail!("invalid field '{field}' must be a key=value pair"),
                }
                continue;
            }
        };
        let boolean = |what: &str| {
            crate::cli::go_bool(v).map_err(|_| anyhow!("invalid value for {what}: {v}"))
        };
        // `key=value` into a map (volume labels and driver options), an empty key skipped.
        let set_on = |map: &mut Map<String, Value>| {
            let (mk, mv) = v.split_once('=').unwrap_or((v, ""));
            if !mk.is_empty() {
                map.insert(mk.to_owned(), json!(mv));
            }
        };
        match k.as_str() {
            "type" => ty = v.to_lowercase(),
            "source" | "src" => {
                // (docker 28 makes `.`, `..` and what starts with them absolute)
                let src = if v.starts_with('.') {
                    crate::run::go_abs(v)
                } else {
                    v.to_owned()
                };
                m.insert("Source".into(), json!(src));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(v));
            }
            "readonly" | "ro" => read_only = boolean(&k)?,
            "consistency" => {
                m.insert("Consistency".into(), json!(v.to_lowercase()));
            }
            "bind-propagation" => {
                any_bind = true;
                bind.insert("Propagation".into(), json!(v.to_lowercase()));
            }
            "bind-nonrecursive" => {
                any_bind = true;
                if boolean(&k)? {
                    bind.insert("NonRecursive".into(), json!(true));
                }
            }
            "bind-recursive" => {
                any_bind = true;
                let key = match v {
                    "enabled" => None,
                    "disabled" => Some("NonRecursive"),
                    "writable" => Some("ReadOnlyNonRecursive"),
                    "readonly" => Some("ReadOnlyForceRecursive"),
                    _ => bail!(
                        "invalid value for {k}: {v} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                    ),
                };
                if let Some(key) = key {
                    bind.insert(key.into(), json!(true));
                }
            }
            "volume-subpath" => {
                any_vol = true;
                if !v.is_empty() {
                    vol.insert("Subpath".into(), json!(v));
                }
            }
            "volume-nocopy" => {
                any_vol = true;
                let b = crate::cli::go_bool(v)
                    .map_err(|_| anyhow!("invalid value for volume-nocopy: {v}"))?;
                if b {
                    vol.insert("NoCopy".into(), json!(true));
                } else {
                    vol.remove("NoCopy");
                }
            }
            "volume-driver" => {
                any_vol = true;
                vol.insert("DriverName".into(), json!(v));
            }
            "volume-opt" => {
                any_vol = true;
                set_on(&mut vol_opts);
            }
            "volume-label" => {
                any_vol = true;
                set_on(&mut labels);
            }
            "tmpfs-size" => {
                any_tmpfs = true;
                let size = parse_bytes(v).map_err(|_| anyhow!("invalid value for {k}: {v}"))?;
                tmpfs.insert("SizeBytes".into(), json!(size));
            }
            "tmpfs-mode" => {
                any_tmpfs = true;
                let mode = u32::from_str_radix(v, 8)
                    .ok()
                    .filter(|_| !v.starts_with(['+', '-']))
                    .ok_or_else(|| anyhow!("invalid value for {k}: {v}"))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            _ => bail!("unexpected key '{k}' in '{field}'"),
        }
    }
    if ty.is_empty() {
        bail!("type is required");
    }
    if m.get("Target")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        bail!("target is required");
    }
    for (used, kind, wanted) in [
        (any_vol, "volume", "volume"),
        (any_bind, "bind", "bind"),
        (any_tmpfs, "tmpfs", "tmpfs"),
    ] {
        if used && ty != wanted {
            bail!("cannot mix '{kind}-*' options with mount type '{ty}'");
        }
    }
    if bind.contains_key("ReadOnlyNonRecursive") && !read_only {
        bail!(
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
        );
    }
    if bind.contains_key("ReadOnlyForceRecursive") {
        if !read_only {
            bail!(
                "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction"
            );
        }
        if bind.get("Propagation").and_then(Value::as_str) != Some("rprivate") {
            bail!(
                "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction"
            );
        }
    }
    if read_only {
        m.insert("ReadOnly".into(), json!(true));
    }
    if !labels.is_empty() {
        vol.insert("Labels".into(), Value::Object(labels));
    }
    // The driver's name and options, as one DriverConfig (docker's CLI makes it, empty
    // if need be, with any `volume-*` option).
    let name = vol.remove("DriverName");
    if any_vol {
        let mut dc = Map::new();
        if let Some(n) = name.filter(|n| n != "") {
            dc.insert("Name".into(), n);
        }
        if !vol_opts.is_empty() {
            dc.insert("Options".into(), Value::Object(vol_opts));
        }
        vol.insert("DriverConfig".into(), Value::Object(dc));
    }
    m.insert("Type".into(), json!(ty));
    for (k, o) in [
        ("BindOptions", bind),
        ("VolumeOptions", vol),
        ("TmpfsOptions", tmpfs),
    ] {
        if !o.is_empty() {
            m.insert(k.into(), Value::Object(o));
        }
    }
    Ok(Value::Object(m))
}

/// `nofile=1024:2048` → {Name, Soft, Hard}, as go-units' ParseUlimit reads it.
pub fn ulimit(spec: &str) -> Result<Value> {
    const NAMES: &[&str] = &[
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    let (name, vals) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid ulimit argument: {spec}"))?;
    if !NAMES.contains(&name) {
        bail!("invalid ulimit type: {name}");
    }
    let parts: Vec<&str> = vals.splitn(3, ':').collect();
    if parts.len() > 2 {
        bail!("too many limit value arguments - {vals}, can only have up to two, `soft[:hard]`");
    }
    let n = |x: &str| -> Result<i64> {
        if !x.is_empty()
            && x.trim_start_matches(['-', '+'])
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            if let Ok(v) = x.parse::<i64>() {
                return Ok(v);
            }
            if x.len() > 1 {
                bail!("strconv.ParseInt: parsing {x:?}: value out of range");
            }
        }
        bail!("strconv.ParseInt: parsing {x:?}: invalid syntax")
    };
    // (go-units reads the hard limit first: its error is the one shown when both are bad)
    let hard = parts.get(1).map(|h| n(h)).transpose()?;
    let soft = n(parts[0])?;
    let hard = hard.unwrap_or(soft);
    if soft > hard {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok(json!({"Name": name, "Soft": soft, "Hard": hard}))
}

/// `/dev/x[:/dev/y][:rwm]` → a device mapping.
fn device(spec: &str) -> Value {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, cont, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if p.chars().all(|c| "rwm".contains(c)) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p, ..] => (*h, *c, *p),
        [] => (spec, spec, "rwm"),
    };
    json!({"PathOnHost": host, "PathInContainer": cont, "CgroupPermissions": perms})
}

/// The docker CLI refuses its Windows-only options against a Linux daemon (after their
/// values parse), one line per option in name order, exit 1; berthd is always Linux.
fn windows_only(m: &RunMore) -> Result<()> {
    if let Some(b) = &m.io_maxbandwidth {
        crate::run::flag_bytes("--io-maxbandwidth", b)?;
    }
    let set = [
        ("cpu-count", m.cpu_count.is_some()),
        ("cpu-percent", m.cpu_percent.is_some()),
        ("io-maxbandwidth", m.io_maxbandwidth.is_some()),
        ("io-maxiops", m.io_maxiops.is_some()),
    ];
    let mut refused = false;
    for (flag, _) in set.iter().filter(|(_, on)| *on) {
        eprintln!(
            "\"--{flag}\" is only supported on a Docker daemon running on windows, but the Docker daemon is running on linux"
        );
        refused = true;
    }
    if refused {
        return Err(crate::Exit(1).into());
    }
    Ok(())
}

/// docker's ValidateDeviceCgroupRule: `TYPE MAJOR:MINOR ACCESS`, type one of `a`, `b`,
/// `c`, numbers or `*`, access one to three of `r`, `w`, `m`.
fn is_device_cgroup_rule(r: &str) -> bool {
    let num = |x: &str| x == "*" || (!x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()));
    let mut parts = r.split(' ');
    let (Some(ty), Some(dev), Some(access), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    matches!(ty, "a" | "b" | "c")
        && dev.split_once(':').is_some_and(|(a, b)| num(a) && num(b))
        && (1..=3).contains(&access.len())
        && access.bytes().all(|b| b"rwm".contains(&b))
}

/// Go's net.ParseMAC: 6, 8 or 20 two-digit hex groups split by `:` or `-`, or
/// 4-digit groups split by `.`.
fn is_mac(s: &str) -> bool {
    let hex = |g: &str, n: usize| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit());
    let groups = |sep: char, n: usize| {
        let g: Vec<&str> = s.split(sep).collect();
        let bytes = g.len() * n / 2;
        matches!(bytes, 6 | 8 | 20) && g.iter().all(|x| hex(x, n))
    };
    (s.contains(':') && groups(':', 2))
        || (s.contains('-') && groups('-', 2))
        || (s.contains('.') && groups('.', 4))
}

/// A CDI device name (`vendor.com/class=name`): docker asks for it as a device request.
fn is_cdi(d: &str) -> bool {
    d.split_once('=').is_some_and(|(vc, name)| {
        !name.is_empty()
            && !vc.starts_with('/')
            && vc
                .split_once('/')
                .is_some_and(|(v, c)| !v.is_empty() && !c.is_empty())
    })
}

/// A `--device` as docker's validateLinuxPath checks it (CDI names, `vendor/class=name`,
/// pass as they are).
fn check_device(d: &str) -> Result<()> {
    if is_cdi(d) {
        return Ok(());
    }
    let mode_ok = |m: &str| {
        !m.is_empty()
            && m.len() <= 3
            && m.chars().all(|c| "rwm".contains(c))
            && m.chars().collect::<std::collections::HashSet<_>>().len() == m.len()
    };
    let split: Vec<&str> = d.splitn(3, ':').collect();
    if d.matches(':').count() > 2 || split[0].is_empty() {
        bail!("bad format for path: {d}");
    }
    let container_path = match split.as_slice() {
        [p] => *p,
        [p, m] if mode_ok(m) => *p,
        [_, c] => *c,
        [_, c, m] => {
            if !mode_ok(m) {
                bail!("bad mode specified: {m}");
            }
            *c
        }
        _ => d,
    };
    if !container_path.starts_with('/') {
        bail!("{container_path} is not an absolute path");
    }
    Ok(())
}

/// An `--add-host` value as docker's opts.ValidateExtraHost checks it (a flag error).
pub fn check_add_host(h: &str) -> Result<()> {
    use crate::run::flag_value_error as bad;
    let (k, v) = h
        .split_once('=')
        .or_else(|| h.split_once(':'))
        .unwrap_or(("", ""));
    if k.is_empty() {
        return Err(bad(
            "--add-host",
            h,
            format!("bad format for add-host: {h:?}"),
        ));
    }
    let ip = v
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .filter(|_| v.len() > 2)
        .unwrap_or(v);
    if v != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(bad(
            "--add-host",
            h,
            format!("invalid IP address in add-host: {ip:?}"),
        ));
    }
    Ok(())
}

/// An `--add-host` value as sent: `host=ip` spelled `host:ip`.
pub fn extra_host(h: &str) -> String {
    match h.split_once('=') {
        Some((n, ip)) if !h.contains(':') || h.find('=') < h.find(':') => format!("{n}:{ip}"),
        _ => h.to_owned(),
    }
}

/// The values docker's flag parsing checks (each refused as a flag error: usage, 125),
/// then those its parse of the options checks (`docker: ...`, 125), in docker's words.
/// docker's ValidateDNSSearch: `.`, or a domain with a letter somewhere, of labels of
/// letters, digits and inner `-`, shorter than 255 bytes; what is sent is the domain
/// without its spaces around and a final dot.
fn dns_search(v: &str) -> Option<String> {
    let v = v.trim_matches(' ');
    if v == "." {
        return Some(v.to_owned());
    }
    if !v.bytes().any(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let body = v.trim_end_matches(|c: char| c.is_ascii_whitespace());
    let body = body.strip_suffix('.').unwrap_or(body);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (body.len() < 255 && body.split('.').all(label_ok)).then(|| body.to_owned())
}

fn check(m: &RunMore) -> Result<()> {
    use crate::run::flag_value_error as bad;
    for h in &m.add_host {
        check_add_host(h)?;
    }
    for d in &m.dns {
        if d.trim().parse::<std::net::IpAddr>().is_err() {
            return Err(bad(
                "--dns",
                d,
                format!("IP address is not correctly formatted: {d}"),
            ));
        }
    }
    for x in &m.dns_search {
        if dns_search(x).is_none() {
            return Err(bad(
                "--dns-search",
                x,
                format!("{} is not a valid domain", x.trim_matches(' ')),
            ));
        }
    }
    for l in &m.link {
        if l.is_empty() {
            return Err(bad("--link", l, "empty string specified for links"));
        }
        if l.splitn(3, ':').count() > 2 {
            return Err(bad("--link", l, format!("bad format for links: {l}")));
        }
    }
    for x in &m.sysctl {
        const NAMES: &[&str] = &[
            "kernel.msgmax",
            "kernel.msgmnb",
            "kernel.msgmni",
            "kernel.sem",
            "kernel.shmall",
            "kernel.shmmax",
            "kernel.shmmni",
            "kernel.shm_rmid_forced",
        ];
        let key = x.split('=').next().unwrap_or("");
        let ok = x.contains('=')
            && (NAMES.contains(&key) || key.starts_with("net.") || key.starts_with("fs.mqueue."));
        if !ok {
            return Err(bad("--sysctl", x, format!("sysctl '{x}' is not allowed")));
        }
    }
    for u in &m.ulimit {
        ulimit(u).map_err(|e| bad("--ulimit", u, e))?;
    }
    for r in &m.device_cgroup_rule {
        if !is_device_cgroup_rule(r) {
            return Err(bad(
                "--device-cgroup-rule",
                r,
                format!("invalid device cgroup format '{r}'"),
            ));
        }
    }
    for v in &m.mount {
        mount(v).map_err(|e| {
            if e.is::<crate::run::FlagValueError>() {
                e
            } else {
                bad("--mount", v, e)
            }
        })?;
    }
    for (flag, v) in [
        ("--health-interval", &m.health_interval),
        ("--health-timeout", &m.health_timeout),
        ("--health-start-period", &m.health_start_period),
        ("--health-start-interval", &m.health_start_interval),
    ] {
        if let Some(v) = v {
            duration_ns(v).map_err(|e| bad(flag, v, format!("time: {e}")))?;
        }
    }
    // (from here on docker's parse of the options, after the flags)
    let nonzero = |v: &Option<String>| {
        v.as_deref()
            .is_some_and(|v| duration_ns(v).unwrap_or(1) != 0)
    };
    if m.no_healthcheck
        && (m.health_cmd.as_deref().is_some_and(|c| !c.is_empty())
            || nonzero(&m.health_interval)
            || nonzero(&m.health_timeout)
            || nonzero(&m.health_start_period)
            || nonzero(&m.health_start_interval)
            || m.health_retries.is_some_and(|r| r != 0))
    {
        bail!("--no-healthcheck conflicts with --health-* options");
    }
    for (flag, v) in [
        ("--health-interval", &m.health_interval),
        ("--health-timeout", &m.health_timeout),
        ("--health-start-period", &m.health_start_period),
        ("--health-start-interval", &m.health_start_interval),
    ] {
        if v.as_deref()
            .is_some_and(|v| duration_ns(v).unwrap_or(0) < 0)
        {
            bail!("{flag} cannot be negative");
        }
    }
    if m.health_retries.is_some_and(|r| r < 0) {
        bail!("--health-retries cannot be negative");
    }
    if m.log_driver.as_deref() == Some("none") && !m.log_opt.is_empty() {
        bail!("invalid logging opts for driver none");
    }
    if let Some(mac) = &m.mac_address
        && !is_mac(mac)
    {
        bail!("{mac} is not a valid mac address");
    }
    if let Some(s) = m.memory_swappiness
        && s != -1
        && !(0..=100).contains(&s)
    {
        bail!("invalid value: {s}. Valid memory swappiness range is 0-100");
    }
    for (flag, v, ok) in [
        ("pid", &m.pid, "PID"),
        ("uts", &m.uts, "UTS"),
        ("userns", &m.userns, "USER"),
        ("cgroupns", &m.cgroupns, "CGROUP"),
    ] {
        let Some(v) = v else { continue };
        let valid = match flag {
            "pid" => {
                v.is_empty()
                    || v == "host"
                    || v.strip_prefix("container:").is_some_and(|c| !c.is_empty())
            }
            "cgroupns" => matches!(v.as_str(), "" | "host" | "private"),
            _ => matches!(v.as_str(), "" | "host"),
        };
        if !valid {
            bail!("--{flag}: invalid {ok} mode");
        }
    }
    for o in &m.security_opt {
        if o != "no-new-privileges"
            && o != "systempaths=unconfined"
            && !o.contains('=')
            && !o.contains(':')
        {
            bail!("Invalid --security-opt: {o:?}");
        }
    }
    for d in &m.device {
        check_device(d)?;
    }
    if m.storage_opt.iter().any(|o| !o.contains('=')) {
        bail!("invalid storage option");
    }
    Ok(())
}

/// Adds these flags to the create body's Config (`cfg`) and HostConfig (`host`); returns
/// the NetworkingConfig for aliases and static addresses (if any).
pub fn apply(
    m: &RunMore,
    networks: &[NetAttach],
    cfg: &mut Map<String, Value>,
    host: &mut Map<String, Value>,
) -> Result<Option<Value>> {
    check(m)?;
    windows_only(m)?;
    // Healthcheck
    if m.no_healthcheck {
        cfg.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
    } else {
        // As docker: only settings that are not zero make a healthcheck (an empty
        // --health-cmd or a 0s interval alone make none; its fields are omitempty).
        let mut hc = Map::new();
        if let Some(c) = m.health_cmd.as_ref().filter(|c| !c.is_empty()) {
            hc.insert("Test".into(), json!(["CMD-SHELL", c]));
        }
        for (k, v) in [
            ("Interval", &m.health_interval),
            ("Timeout", &m.health_timeout),
            ("StartPeriod", &m.health_start_period),
            ("StartInterval", &m.health_start_interval),
        ] {
            if let Some(v) = v {
                let ns = duration_ns(v)?;
                if ns != 0 {
                    hc.insert(k.into(), json!(ns));
                }
            }
        }
        if let Some(r) = m.health_retries.filter(|r| *r != 0) {
            hc.insert("Retries".into(), json!(r));
        }
        if !hc.is_empty() {
            cfg.insert("Healthcheck".into(), Value::Object(hc));
        }
    }
    if !m.expose.is_empty() {
        let ports = cfg.entry("ExposedPorts").or_insert_with(|| json!({}));
        for e in &m.expose {
            if e.contains(':') {
                bail!("invalid port format for --expose: {e}");
            }
            // nat.SplitProtoPort and nat.ParsePortRange, in their words.
            let parts: Vec<&str> = e.split('/').collect();
            let (p, proto) = match parts.as_slice() {
                [p] => (*p, "tcp"),
                [p, ""] | [p, "", ..] => (*p, "tcp"),
                [p, proto, ..] => (*p, *proto),
                [] => ("", ""),
            };
            let uint = |x: &str| -> Result<u16, String> {
                if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("strconv.ParseUint: parsing {x:?}: invalid syntax"));
                }
                x.parse::<u16>()
                    .map_err(|_| format!("strconv.ParseUint: parsing {x:?}: value out of range"))
            };
            let range = || -> Result<(u16, u16), String> {
                if p.is_empty() {
                    return Err("empty string specified for ports".into());
                }
                let Some((a, rest)) = p.split_once('-') else {
                    let n = uint(p)?;
                    return Ok((n, n));
                };
                let (lo, hi) = (uint(a)?, uint(rest.split('-').next().unwrap_or(""))?);
                if hi < lo {
                    return Err(format!("invalid range specified for port: {p}"));
                }
                Ok((lo, hi))
            };
            let (lo, hi) = range()
                .map_err(|err| anyhow!("invalid range format for --expose: {e}, error: {err}"))?;
            for n in lo..=hi {
                ports[format!("{n}/{proto}")] = json!({});
            }
        }
    }
    if let Some(v) = &m.domainname {
        cfg.insert("Domainname".into(), json!(v));
    }
    if !m.label_file.is_empty() {
        let labels = cfg.entry("Labels").or_insert_with(|| json!({}));
        // A later file wins over an earlier one, and flags given with -l over files.
        let mut from_files = Map::new();
        for f in &m.label_file {
            for l in crate::run::kv_file(f, false)? {
                let (k, v) = l.split_once('=').unwrap_or((&l, ""));
                from_files.insert(k.to_owned(), json!(v));
            }
        }
        for (k, v) in from_files {
            if labels.get(&k).is_none() {
                labels[&k] = v;
            }
        }
    }
    // HostConfig
    let mut put = |k: &str, v: Value| {
        host.insert(k.to_owned(), v);
    };
    if m.publish_all {
        put("PublishAllPorts", json!(true));
    }
    if !m.add_host.is_empty() {
        let hosts: Vec<String> = m.add_host.iter().map(|h| extra_host(h)).collect();
        put("ExtraHosts", json!(hosts));
    }
    for (k, v) in [
        ("Dns", &m.dns),
        (
            "DnsSearch",
            &m.dns_search.iter().filter_map(|x| dns_search(x)).collect(),
        ),
        ("DnsOptions", &m.dns_option),
        ("SecurityOpt", &security_opts(&m.security_opt)?),
        ("GroupAdd", &m.group_add),
        ("VolumesFrom", &m.volumes_from),
    ] {
        if !v.is_empty() {
            put(k, json!(v));
        }
    }
    if let Some(c) = &m.cpus {
        let f: f64 = c.parse().map_err(|_| {
            crate::run::flag_value_error(
                "--cpus",
                c,
                format!("failed to parse {c} as a rational number"),
            )
        })?;
        put("NanoCpus", json!((f * 1e9).round() as i64));
    }
    for (k, v) in [
        ("CpuShares", m.cpu_shares),
        ("CpuPeriod", m.cpu_period),
        ("CpuQuota", m.cpu_quota),
        ("MemorySwappiness", m.memory_swappiness),
        ("OomScoreAdj", m.oom_score_adj),
    ] {
        if let Some(v) = v {
            put(k, json!(v));
        }
    }
    if let Some(w) = m.blkio_weight {
        put("BlkioWeight", json!(w));
    }
    if !m.blkio_weight_device.is_empty() {
        let v = m
            .blkio_weight_device
            .iter()
            .map(|x| weight_device(x))
            .collect::<Result<Vec<_>>>()?;
        put("BlkioWeightDevice", json!(v));
    }
    for (k, flag, list, bytes) in [
        (
            "BlkioDeviceReadBps",
            "device-read-bps",
            &m.device_read_bps,
            true,
        ),
        (
            "BlkioDeviceWriteBps",
            "device-write-bps",
            &m.device_write_bps,
            true,
        ),
        (
            "BlkioDeviceReadIOps",
            "device-read-iops",
            &m.device_read_iops,
            false,
        ),
        (
            "BlkioDeviceWriteIOps",
            "device-write-iops",
            &m.device_write_iops,
            false,
        ),
    ] {
        if !list.is_empty() {
            let v = list
                .iter()
                .map(|x| throttle_device(x, flag, bytes))
                .collect::<Result<Vec<_>>>()?;
            put(k, json!(v));
        }
    }
    // --gpus's request, then one "cdi" request with every CDI name given to --device.
    let mut requests = Vec::new();
    if let Some(g) = &m.gpus {
        requests.push(gpu_request(g)?);
    }
    let cdi: Vec<&String> = m.device.iter().filter(|d| is_cdi(d)).collect();
    if !cdi.is_empty() {
        requests.push(json!({"Driver": "cdi", "Count": 0, "DeviceIDs": cdi,
            "Capabilities": null, "Options": null}));
    }
    if !requests.is_empty() {
        put("DeviceRequests", json!(requests));
    }
    for (k, v) in [
        ("CpusetCpus", &m.cpuset_cpus),
        ("CpusetMems", &m.cpuset_mems),
        ("IpcMode", &m.ipc),
        ("PidMode", &m.pid),
        ("UTSMode", &m.uts),
        ("UsernsMode", &m.userns),
        ("CgroupnsMode", &m.cgroupns),
        ("Runtime", &m.runtime),
    ] {
        if let Some(v) = v {
            put(k, json!(v));
        }
    }
    if let Some(s) = &m.memory_swap {
        put(
            "MemorySwap",
            json!(if s.trim() == "-1" {
                -1
            } else {
                crate::run::flag_bytes("--memory-swap", s)?
            }),
        );
    }
    if let Some(s) = &m.memory_reservation {
        put(
            "MemoryReservation",
            json!(crate::run::flag_bytes("--memory-reservation", s)?),
        );
    }
    if let Some(s) = &m.shm_size {
        put("ShmSize", json!(crate::run::flag_bytes("--shm-size", s)?));
    }
    if m.oom_kill_disable {
        put("OomKillDisable", json!(true));
    }
    for (k, v) in [
        ("CgroupParent", &m.cgroup_parent),
        ("VolumeDriver", &m.volume_driver),
        ("Isolation", &m.isolation),
    ] {
        if let Some(v) = v {
            put(k, json!(v));
        }
    }
    for (k, v) in [
        ("DeviceCgroupRules", &m.device_cgroup_rule),
        ("Links", &m.link),
    ] {
        if !v.is_empty() {
            put(k, json!(v));
        }
    }
    for (k, v) in [
        ("CpuRealtimePeriod", m.cpu_rt_period),
        ("CpuRealtimeRuntime", m.cpu_rt_runtime),
    ] {
        if let Some(v) = v {
            put(k, json!(v));
        }
    }
    if let Some(s) = &m.kernel_memory {
        // Checked as a size, but not sent: docker's client drops KernelMemory from API
        // 1.42 on (berth speaks 1.45).
        crate::run::flag_bytes("--kernel-memory", s)?;
    }
    if !m.storage_opt.is_empty() {
        put("StorageOpt", Value::Object(kv(&m.storage_opt)));
    }
    if !m.annotation.is_empty() {
        put("Annotations", Value::Object(kv(&m.annotation)));
    }
    if !m.tmpfs.is_empty() {
        let t: Map<String, Value> = m
            .tmpfs
            .iter()
            .map(|x| {
                let (p, o) = x.split_once(':').unwrap_or((x, ""));
                (p.to_owned(), json!(o))
            })
            .collect();
        put("Tmpfs", Value::Object(t));
    }
    if !m.mount.is_empty() {
        let mounts = m
            .mount
            .iter()
            .map(|s| mount(s))
            .collect::<Result<Vec<_>>>()?;
        put("Mounts", json!(mounts));
    }
    if !m.ulimit.is_empty() {
        let u = m
            .ulimit
            .iter()
            .map(|s| ulimit(s))
            .collect::<Result<Vec<_>>>()?;
        put("Ulimits", json!(u));
    }
    if !m.sysctl.is_empty() {
        put("Sysctls", Value::Object(kv(&m.sysctl)));
    }
    if !m.device.is_empty() {
        put(
            "Devices",
            json!(
                m.device
                    .iter()
                    .filter(|d| !is_cdi(d))
                    .map(|d| device(d))
                    .collect::<Vec<_>>()
            ),
        );
    }
    if m.log_driver.is_some() || !m.log_opt.is_empty() {
        put(
            "LogConfig",
            json!({"Type": m.log_driver.clone().unwrap_or_default(), "Config": kv(&m.log_opt)}),
        );
    }
    endpoints(m, networks)
}

/// One `--network` value: a network's name, or docker's advanced form
/// `name=NET[,alias=A][,ip=IP][,ip6=IP][,mac-address=MAC][,link-local-ip=IP]
/// [,driver-opt=K=V][,gw-priority=N]` (fields may repeat where they are lists).
#[derive(Debug, Default, Clone)]
pub struct NetAttach {
    pub target: String,
    aliases: Vec<String>,
    ip: Option<String>,
    ip6: Option<String>,
    mac: Option<String>,
    link_local: Vec<String>,
    links: Vec<String>,
    driver_opts: Map<String, Value>,
    gw_priority: i64,
}

/// The `--network` values, parsed as docker parses them.
pub fn parse_networks(values: &[String]) -> Result<Vec<NetAttach>> {
    values.iter().map(|v| parse_network(v)).collect()
}

fn parse_network(v: &str) -> Result<NetAttach> {
    if !v.contains('=') {
        return Ok(NetAttach {
            target: v.to_owned(),
            ..Default::default()
        });
    }
    let bad = |why: String| crate::run::flag_value_error("--network", v, why);
    let mut n = NetAttach::default();
    // (the docker CLI lower-cases the whole advanced form: names, aliases, options)
    let lower = v.to_lowercase();
    for field in csv_fields(&lower).map_err(&bad)? {
        let field = field.as_str();
        let (k, val) = field
            .split_once('=')
            .ok_or_else(|| bad(format!("invalid field {field}")))?;
        match k.trim() {
            "name" => n.target = val.to_owned(),
            "alias" => n.aliases.push(val.to_owned()),
            "ip" => n.ip = Some(val.to_owned()),
            "ip6" => n.ip6 = Some(val.to_owned()),
            "mac-address" => n.mac = Some(val.to_owned()),
            "link-local-ip" => n.link_local.push(val.to_owned()),
            "driver-opt" => {
                let (dk, dv) = val
                    .split_once('=')
                    .ok_or_else(|| bad("invalid key value pair format in driver options".into()))?;
                n.driver_opts.insert(dk.to_owned(), json!(dv));
            }
            "gw-priority" => {
                n.gw_priority = val
                    .parse()
                    .map_err(|_| bad(format!("invalid gw-priority ({val}): invalid syntax")))?;
            }
            other => return Err(bad(format!("invalid field key {other}"))),
        }
    }
    Ok(n)
}

/// `--security-opt` as the docker CLI sends it: a `seccomp=FILE` profile goes as the
/// file's JSON, compacted (the daemon may not see the client's files).
fn security_opts(opts: &[String]) -> Result<Vec<String>> {
    opts.iter()
        .map(|o| match o.split_once(['=', ':']) {
            Some(("seccomp", v)) if !matches!(v, "builtin" | "unconfined") => {
                let data = std::fs::read(v).map_err(|e| {
                    anyhow!(
                        "opening seccomp profile ({v}) failed: open {v}: {}",
                        crate::cp::io_text(&e)
                    )
                })?;
                let json = json_compact(&data).ok_or_else(|| {
                    anyhow!("compacting json for seccomp profile ({v}) failed: invalid JSON")
                })?;
                Ok(format!("seccomp={json}"))
            }
            _ => Ok(o.clone()),
        })
        .collect()
}

/// JSON with the whitespace between tokens removed and nothing else changed (Go's
/// json.Compact: key order and number spelling kept); None when it is not valid JSON.
fn json_compact(data: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde::de::IgnoredAny>(data).ok()?;
    let text = std::str::from_utf8(data).ok()?;
    let mut out = String::with_capacity(text.len());
    let (mut in_str, mut escaped) = (false, false);
    for c in text.chars() {
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    Some(out)
}

/// The comma-separated fields of a flag value as Go's encoding/csv reads one line (what
/// docker uses for `--mount` and `--network`): a field may be double-quoted to hold commas,
/// `""` inside quotes being one quote.
pub fn csv_fields(s: &str) -> std::result::Result<Vec<String>, String> {
    // Errors as Go words them, with the 1-based column where they were found.
    let err = |col: usize, what: &str| format!("parse error on line 1, column {col}: {what}");
    let (quoted_err, bare_err) = (
        "extraneous or missing \" in quoted-field",
        "bare \" in non-quoted-field",
    );
    let mut out = Vec::new();
    let mut chars = s.chars().enumerate().peekable();
    loop {
        let mut f = String::new();
        if chars.peek().is_some_and(|&(_, c)| c == '"') {
            chars.next();
            loop {
                match chars.next() {
                    Some((_, '"')) if chars.peek().is_some_and(|&(_, c)| c == '"') => {
                        chars.next();
                        f.push('"');
                    }
                    Some((_, '"')) => break,
                    Some((_, c)) => f.push(c),
                    None => return Err(err(s.chars().count() + 1, quoted_err)),
                }
            }
            match chars.next() {
                None => {
                    out.push(f);
                    return Ok(out);
                }
                Some((_, ',')) => {}
                // (Go points at the closing quote)
                Some((i, _)) => return Err(err(i, quoted_err)),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(f);
                        return Ok(out);
                    }
                    Some((_, ',')) => break,
                    Some((i, '"')) => return Err(err(i + 1, bare_err)),
                    Some((_, c)) => f.push(c),
                }
            }
        }
        out.push(f);
    }
}

/// Docker's user-defined networks: not `default`, `bridge`, `host`, `none` or
/// `container:ID`.
fn user_defined(target: &str) -> bool {
    !matches!(target, "default" | "bridge" | "host" | "none") && !target.starts_with("container:")
}

/// The endpoint of each network as the docker CLI sends it: the plain flags
/// (`--network-alias`, `--ip`, `--ip6`, `--mac-address`, `--link-local-ip`, and `--link`
/// on a user-defined network) apply to the first one, with docker's errors where they
/// clash with its advanced fields; a lone network with nothing to say has no endpoint.
fn endpoints(m: &RunMore, networks: &[NetAttach]) -> Result<Option<Value>> {
    let implicit = [NetAttach {
        target: "default".into(),
        ..Default::default()
    }];
    let list = if networks.is_empty() {
        &implicit[..]
    } else {
        networks
    };
    let mut out = Map::new();
    for (i, n) in list.iter().enumerate() {
        let mut n = n.clone();
        if i == 0 {
            apply_plain_flags(m, &mut n)?;
        }
        if let Some(mac) = &n.mac
            && parse_mac(mac).is_none()
        {
            bail!("{mac} is not a valid mac address");
        }
        if !n.aliases.is_empty() && !user_defined(&n.target) {
            bail!("network-scoped aliases are only supported for user-defined networks");
        }
        if out.contains_key(&n.target) {
            bail!("network {:?} is specified multiple times", n.target);
        }
        let (ep, sets_something) = endpoint_json(&n);
        // (the implicit `default` one is always sent, an explicit lone one only if it says
        // something, as docker does)
        if i == 0 && networks.len() == 1 && !sets_something {
            continue;
        }
        out.insert(n.target.clone(), ep);
    }
    let user = networks.iter().filter(|n| user_defined(&n.target)).count();
    if user > 0 && user < networks.len() {
        bail!(
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
    }
    Ok(Some(json!({ "EndpointsConfig": out })))
}

fn apply_plain_flags(m: &RunMore, n: &mut NetAttach) -> Result<()> {
    let clash = |per: bool, plain: bool, flag: &str, what: &str| {
        if per && plain {
            bail!("conflicting options: cannot specify both {flag} and per-network {what}");
        }
        Ok(())
    };
    clash(
        !n.aliases.is_empty(),
        !m.network_alias.is_empty(),
        "--network-alias",
        "alias",
    )?;
    clash(!n.links.is_empty(), !m.link.is_empty(), "--link", "links")?;
    clash(n.ip.is_some(), m.ip.is_some(), "--ip", "IPv4 address")?;
    clash(n.ip6.is_some(), m.ip6.is_some(), "--ip6", "IPv6 address")?;
    clash(
        n.mac.is_some(),
        m.mac_address.is_some(),
        "--mac-address",
        "MAC address",
    )?;
    clash(
        !n.link_local.is_empty(),
        !m.link_local_ip.is_empty(),
        "--link-local-ip",
        "link-local IP addresses",
    )?;
    if !m.network_alias.is_empty() {
        n.aliases = m.network_alias.clone();
    }
    // On a user-defined network `--link` is an alias of the endpoint; on the default
    // bridge a legacy link only (HostConfig.Links).
    if user_defined(&n.target) && !m.link.is_empty() {
        n.links = m.link.clone();
    }
    n.ip = n.ip.take().or_else(|| m.ip.clone());
    n.ip6 = n.ip6.take().or_else(|| m.ip6.clone());
    n.mac = n.mac.take().or_else(|| m.mac_address.clone());
    if !m.link_local_ip.is_empty() {
        n.link_local = m.link_local_ip.clone();
    }
    Ok(())
}

/// A network's EndpointSettings with every field, as the docker CLI sends it, and whether
/// it sets anything.
fn endpoint_json(n: &NetAttach) -> (Value, bool) {
    let mut ep = Map::new();
    if !n.aliases.is_empty() {
        ep.insert("Aliases".into(), json!(n.aliases));
    }
    if !n.links.is_empty() {
        ep.insert("Links".into(), json!(n.links));
    }
    if let Some(mac) = &n.mac {
        ep.insert("MacAddress".into(), json!(mac));
    }
    if !n.driver_opts.is_empty() {
        ep.insert("DriverOpts".into(), Value::Object(n.driver_opts.clone()));
    }
    if n.gw_priority != 0 {
        ep.insert("GwPriority".into(), json!(n.gw_priority));
    }
    let mut ipam = Map::new();
    if let Some(ip) = &n.ip {
        ipam.insert("IPv4Address".into(), json!(ip));
    }
    if let Some(ip) = &n.ip6 {
        ipam.insert("IPv6Address".into(), json!(ip));
    }
    if !n.link_local.is_empty() {
        ipam.insert("LinkLocalIPs".into(), json!(n.link_local));
    }
    if !ipam.is_empty() {
        ep.insert("IPAMConfig".into(), Value::Object(ipam));
    }
    let sets_something = !ep.is_empty();
    let mut full = json!({
        "Aliases": null, "DNSNames": null, "DriverOpts": null, "EndpointID": "",
        "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "GwPriority": 0,
        "IPAMConfig": null, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
        "Links": null, "MacAddress": "", "NetworkID": "",
    });
    for (k, v) in ep {
        full[k] = v;
    }
    (full, sets_something)
}

/// A MAC address as Go's net.ParseMAC takes the common 6-byte forms.
fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let mut out = [0u8; 6];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

/// `PATH:RATE` of `--device-{read,write}-{bps,iops}` (a size with an optional kb/mb/gb
/// unit for bps, a plain count for iops), checked as docker checks it.
fn throttle_device(x: &str, flag: &str, bytes: bool) -> Result<Value> {
    let bad = |why: String| crate::run::flag_value_error(&format!("--{flag}"), x, why);
    let (path, rate) = match x.split_once(':') {
        Some((p, r)) if !p.is_empty() => (p, r),
        _ => return Err(bad(format!("bad format: {x}"))),
    };
    if !path.starts_with("/dev/") {
        return Err(bad(format!("bad format for device path: {x}")));
    }
    let rate = if bytes {
        crate::run::parse_bytes(rate).map_err(|_| {
            bad(format!(
                "invalid rate for device: {x}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb"
            ))
        })? as u64
    } else {
        rate.parse::<u64>().map_err(|_| {
            bad(format!(
                "invalid rate for device: {x}. The correct format is <device-path>:<number>. Number must be a positive integer"
            ))
        })?
    };
    Ok(json!({ "Path": path, "Rate": rate }))
}

/// `PATH:WEIGHT` of `--blkio-weight-device` (10 to 1000, or 0).
fn weight_device(x: &str) -> Result<Value> {
    let bad = |why: String| crate::run::flag_value_error("--blkio-weight-device", x, why);
    let (path, w) = match x.split_once(':') {
        Some((p, w)) if !p.is_empty() => (p, w),
        _ => return Err(bad(format!("bad format: {x}"))),
    };
    if !path.starts_with("/dev/") {
        return Err(bad(format!("bad format for device path: {x}")));
    }
    match w.parse::<u16>() {
        Ok(w) if w == 0 || (10..=1000).contains(&w) => Ok(json!({ "Path": path, "Weight": w })),
        _ => Err(bad(format!("invalid weight for device: {x}"))),
    }
}

/// `--gpus`: `all`, a count, or `key=value` fields (count, device, driver,
/// capabilities), as a DeviceRequest asking for the `gpu` capability.
fn gpu_request(g: &str) -> Result<Value> {
    let bad = |why: String| crate::run::flag_value_error("--gpus", g, why);
    let count = |v: &str| -> Result<i64> {
        if v == "all" {
            return Ok(-1);
        }
        v.parse::<i64>().map_err(|e| {
            let why = if matches!(
                e.kind(),
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
            ) {
                "value out of range"
            } else {
                "invalid syntax"
            };
            bad(format!(
                "invalid count ({v}): value must be either \"all\" or an integer: {why}"
            ))
        })
    };
    if g.is_empty() {
        return Err(bad("EOF".into()));
    }
    let fields = csv_fields(g).map_err(bad)?;
    let mut req = json!({"Driver": "", "Count": 0, "DeviceIDs": null,
        "Capabilities": [["gpu"]], "Options": {}});
    let mut seen = std::collections::HashSet::new();
    let mut counted = false;
    for f in &fields {
        let (k, v) = match f.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (f.as_str(), None),
        };
        if !seen.insert(k.to_owned()) {
            return Err(bad(format!(
                "gpu request key '{k}' can be specified only once"
            )));
        }
        let Some(v) = v else {
            seen.insert("count".to_owned());
            counted = true;
            req["Count"] = json!(count(k)?);
            continue;
        };
        match k {
            "driver" => req["Driver"] = json!(v),
            "count" => {
                counted = true;
                req["Count"] = json!(count(v)?);
            }
            "device" => req["DeviceIDs"] = json!(v.split(',').collect::<Vec<_>>()),
            "capabilities" => {
                let mut caps: Vec<&str> = v.split(',').collect();
                caps.push("gpu");
                req["Capabilities"] = json!([caps]);
            }
            "options" => {
                let opts =
                    csv_fields(v).map_err(|e| bad(format!("failed to read gpu options: {e}")))?;
                req["Options"] = Value::Object(kv(&opts));
            }
            _ => return Err(bad(format!("unexpected key '{k}' in '{f}'"))),
        }
    }
    if !counted && req["DeviceIDs"].is_null() {
        req["Count"] = json!(1);
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_become_nanoseconds() {
        assert_eq!(duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(duration_ns("500ms").unwrap(), 500_000_000);
        assert_eq!(duration_ns("0").unwrap(), 0);
        assert!(duration_ns("5").is_err());
        assert_eq!(duration_ns("-1.5s").unwrap(), -1_500_000_000);
        assert_eq!(
            duration_ns("1q").unwrap_err().to_string(),
            "unknown unit \"q\" in duration \"1q\""
        );
        assert_eq!(
            duration_ns("1").unwrap_err().to_string(),
            "missing unit in duration \"1\""
        );
        assert_eq!(
            duration_ns("x").unwrap_err().to_string(),
            "invalid duration \"x\""
        );
    }

    #[test]
    fn mounts_ulimits_and_devices_parse_like_docker() {
        let m = mount("type=bind,source=/a,target=/b,readonly").unwrap();
        assert_eq!(
            m,
            json!({"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": true})
        );
        let m = mount("type=tmpfs,dst=/t,tmpfs-size=1m").unwrap();
        assert_eq!(m["TmpfsOptions"]["SizeBytes"], 1 << 20);
        assert!(mount("type=bind,source=/a").is_err());
        assert_eq!(
            ulimit("nofile=1024:2048").unwrap(),
            json!({"Name": "nofile", "Soft": 1024, "Hard": 2048})
        );
        assert_eq!(device("/dev/fuse")["PathInContainer"], "/dev/fuse");
        assert_eq!(device("/dev/a:r")["CgroupPermissions"], "r");
        assert_eq!(device("/dev/a:/dev/b")["PathInContainer"], "/dev/b");
    }

    #[test]
    fn csv_fields_read_as_go_reads_them() {
        assert_eq!(csv_fields("a=1,b=2").unwrap(), ["a=1", "b=2"]);
        assert_eq!(
            csv_fields(r#"a,"b=1,2","c""d""#).unwrap(),
            ["a", "b=1,2", r#"c"d"#]
        );
        assert_eq!(csv_fields("").unwrap(), [""]);
        assert_eq!(
            csv_fields(r#"a,b"c"#).unwrap_err(),
            r#"parse error on line 1, column 4: bare " in non-quoted-field"#
        );
        assert_eq!(
            csv_fields(r#"a,"b"#).unwrap_err(),
            r#"parse error on line 1, column 5: extraneous or missing " in quoted-field"#
        );
        assert_eq!(
            csv_fields(r#""b"x"#).unwrap_err(),
            r#"parse error on line 1, column 3: extraneous or missing " in quoted-field"#
        );
    }

    #[test]
    fn network_values_parse_as_docker_parses_them() {
        let n = parse_network("Front").unwrap();
        assert_eq!(n.target, "Front");
        let n = parse_network(
            r#"name=Front,alias=A,alias=b,"driver-opt=k=1,2",gw-priority=-3,mac-address=02:42:AC:11:00:02"#,
        )
        .unwrap();
        assert_eq!(n.target, "front");
        assert_eq!(n.aliases, ["a", "b"]);
        assert_eq!(n.driver_opts["k"], "1,2");
        assert_eq!(n.gw_priority, -3);
        assert_eq!(n.mac.as_deref(), Some("02:42:ac:11:00:02"));
        for (bad, why) in [
            ("name=a,bogus=1", "invalid field key bogus"),
            ("name=a,ip", "invalid field ip"),
            (
                "name=a,gw-priority=x",
                "invalid gw-priority (x): invalid syntax",
            ),
            (
                "name=a,driver-opt=x",
                "invalid key value pair format in driver options",
            ),
        ] {
            let e = parse_network(bad).unwrap_err().to_string();
            assert!(e.ends_with(why), "{bad}: {e}");
        }
    }
}
