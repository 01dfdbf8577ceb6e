//! The container's mounts: `-v` binds and named volumes, `--mount`, `--tmpfs`, and the
//! `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` files berth writes per container.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{EngineError, Result};
use crate::types::{HostConfig, MountPoint, MountSpec};

fn valid_volume_name(n: &str) -> bool {
    let mut it = n.chars();
    matches!(it.next(), Some(c) if c.is_ascii_alphanumeric())
        && it.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The propagation modes of a bind mount.
pub(crate) const PROPAGATIONS: [&str; 6] = [
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// moby's `linuxValidMountMode`: known options, at most one of each kind.
pub(crate) fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in mode.split(',') {
        let kind = match o {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => 2,
            "nocopy" => 3,
            "consistent" | "cached" | "delegated" => 4,
            _ => return false,
        };
        counts[kind] += 1;
    }
    counts.iter().all(|n| *n <= 1)
}

/// moby's checks of a mount's target: `(what is wrong)`, to be put in context.
fn target_error(target: &str) -> Option<String> {
    // (cleaned, as dockerd checks it: `/x/..` and `//` are the root too)
    if target.starts_with('/') && clean_path(target) == "/" {
        Some("invalid specification: destination can't be '/'".into())
    } else if !target.starts_with('/') {
        Some(format!(
            "invalid mount path: '{target}' mount path must be absolute"
        ))
    } else {
        None
    }
}

/// A mount destination as Go's `filepath.Clean` makes it: no `.` or empty components, no
/// trailing slash, `..` resolved lexically.
pub fn clean_path(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Parses binds and `--mount`s into mount points (volumes named but not created yet).
pub fn mount_points(host: &HostConfig, volumes_root: &Path) -> Result<Vec<MountPoint>> {
    let mut out = Vec::new();
    let bad = |m: String| EngineError::InvalidArgument(m);
    for b in host.binds.iter().flatten() {
        let parts: Vec<&str> = b.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [s, d] => (*s, *d, ""),
            [s, d, o] => (*s, *d, *o),
            _ => return Err(bad(format!("invalid volume specification: '{b}'"))),
        };
        if !valid_mode(opts) {
            return Err(bad(format!("invalid mode: {opts}")));
        }
        if let Some(e) = target_error(dst) {
            let kind = if src.starts_with('/') {
                "bind"
            } else {
                "volume"
            };
            return Err(bad(format!(
                "invalid volume specification: '{b}': invalid mount config for type \"{kind}\": {e}"
            )));
        }
        // dockerd turns `nocopy` into volume options and a propagation into bind options,
        // then refuses those that do not fit the mount's type.
        let has = |kinds: &[&str]| opts.split(',').any(|o| kinds.contains(&o));
        let foreign = if src.starts_with('/') {
            has(&["nocopy"]).then_some(("bind", "VolumeOptions"))
        } else {
            has(&PROPAGATIONS).then_some(("volume", "BindOptions"))
        };
        if let Some((kind, field)) = foreign {
            return Err(bad(format!(
                "invalid volume specification: '{b}': invalid mount config for type \"{kind}\": field {field} must not be specified"
            )));
        }
        let dst = &clean_path(dst);
        if out.iter().any(|p: &MountPoint| p.destination == *dst) {
            return Err(bad(format!("Duplicate mount point: {dst}")));
        }
        let rw = !opts.split(',').any(|o| o == "ro");
        let propagation = opts
            .split(',')
            .find(|o| PROPAGATIONS.contains(o))
            .unwrap_or("rprivate");
        if src.starts_with('/') {
            out.push(MountPoint {
                kind: "bind".into(),
                source: src.into(),
                destination: dst.into(),
                mode: opts.into(),
                rw,
                propagation: propagation.into(),
                ..Default::default()
            });
        } else {
            if !valid_volume_name(src) {
                return Err(bad(format!(
                    "create {src}: \"{src}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                )));
            }
            out.push(volume_point(src, dst, rw, opts, volumes_root));
        }
    }
    for m in host.mounts.iter().flatten() {
        let config_err =
            |e: &str| bad(format!("invalid mount config for type \"{}\": {e}", m.kind));
        if m.target.is_empty() {
            return Err(config_err("field Target must not be empty"));
        }
        if let Some(e) = target_error(&m.target) {
            return Err(config_err(&e));
        }
        let target = clean_path(&m.target);
        if out.iter().any(|p: &MountPoint| p.destination == target) {
            return Err(bad(format!("Duplicate mount point: {target}")));
        }
        // Options that belong to another mount type are refused, as dockerd refuses them
        // (in its order, after the checks of the source that come first).
        let given = |field: &str| match field {
            "TmpfsOptions" => m.tmpfs_options.is_some(),
            f => m.extra.get(f).is_some_and(|v| !v.is_null()),
        };
        let foreign = |fields: &[&str]| -> Result<()> {
            match fields.iter().find(|f| given(f)) {
                Some(f) => Err(config_err(&format!("field {f} must not be specified"))),
                None => Ok(()),
            }
        };
        match m.kind.as_str() {
            "bind" => {
                if m.source.is_empty() {
                    return Err(config_err("field Source must not be empty"));
                }
                // BindOptions.Propagation, as `-v src:dst:rshared` gives it.
                let propagation = m
                    .extra
                    .get("BindOptions")
                    .and_then(|o| o.get("Propagation"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !propagation.is_empty() && !PROPAGATIONS.contains(&propagation) {
                    return Err(config_err(&format!(
                        "invalid propagation mode: {propagation}"
                    )));
                }
                foreign(&["VolumeOptions", "TmpfsOptions"])?;
                if !m.source.starts_with('/') {
                    return Err(config_err(&format!(
                        "invalid mount path: '{}' mount path must be absolute",
                        m.source
                    )));
                }
                // With BindOptions.CreateMountpoint a missing source is made (as for `-v`).
                let create = m
                    .extra
                    .get("BindOptions")
                    .and_then(|o| o.get("CreateMountpoint"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if !create && !Path::new(&m.source).exists() {
                    return Err(bad(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        m.source
                    )));
                }
                out.push(MountPoint {
                    kind: "bind".into(),
                    source: m.source.clone(),
                    destination: target,
                    rw: !m.read_only,
                    propagation: if propagation.is_empty() {
                        "rprivate"
                    } else {
                        propagation
                    }
                    .into(),
                    ..Default::default()
                });
            }
            "volume" => {
                foreign(&["BindOptions", "TmpfsOptions"])?;
                let name = if m.source.is_empty() {
                    crate::ids::random_hex(32)
                } else {
                    m.source.clone()
                };
                // dockerd shows the mode of an API volume mount as "z".
                out.push(volume_point(
                    &name,
                    &target,
                    !m.read_only,
                    "z",
                    volumes_root,
                ));
            }
            "tmpfs" => {
                foreign(&["BindOptions", "VolumeOptions"])?;
                if !m.source.is_empty() {
                    return Err(config_err("field Source must not be specified"));
                }
                // TmpfsOptions: SizeBytes and Mode (octal) become the mount's options.
                let t = m.tmpfs_options.as_ref();
                let mut opts = Vec::new();
                if let Some(n) = t
                    .and_then(|t| t.get("SizeBytes"))
                    .and_then(Value::as_i64)
                    .filter(|n| *n > 0)
                {
                    opts.push(format!("size={n}"));
                }
                if let Some(n) = t
                    .and_then(|t| t.get("Mode"))
                    .and_then(Value::as_u64)
                    .filter(|n| *n > 0)
                {
                    opts.push(format!("mode={:o}", n & 0o7777));
                }
                out.push(MountPoint {
                    kind: "tmpfs".into(),
                    destination: target,
                    mode: opts.join(","),
                    rw: !m.read_only,
                    ..Default::default()
                })
            }
            _ => return Err(config_err("mount type unknown")),
        }
    }
    for (dst, opts) in host.tmpfs.iter().flatten() {
        if !dst.starts_with('/') {
            return Err(bad(format!(
                "invalid mount path: '{dst}' mount path must be absolute"
            )));
        }
        if let Some(e) = target_error(dst) {
            return Err(bad(format!("invalid mount config for type \"tmpfs\": {e}")));
        }
        let dst = clean_path(dst);
        if out.iter().any(|p| p.destination == dst) {
            return Err(bad(format!("Duplicate mount point: {dst}")));
        }
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            if !valid_tmpfs_option(o) {
                // dockerd quotes the option split at its `=`, as a Go list.
                let parts: Vec<String> = o.splitn(2, '=').map(|p| format!("{p:?}")).collect();
                return Err(bad(format!("invalid tmpfs option [{}]", parts.join(" "))));
            }
        }
        out.push(MountPoint {
            kind: "tmpfs".into(),
            destination: dst,
            mode: opts.clone(),
            rw: !opts.split(',').any(|o| o == "ro"),
            ..Default::default()
        });
    }
    Ok(out)
}

/// A `--tmpfs` option tmpfs takes: a mount flag, or one of tmpfs's `key=value` options.
fn valid_tmpfs_option(o: &str) -> bool {
    const FLAGS: &[&str] = &[
        "defaults",
        "ro",
        "rw",
        "suid",
        "nosuid",
        "dev",
        "nodev",
        "exec",
        "noexec",
        "sync",
        "async",
        "dirsync",
        "remount",
        "mand",
        "nomand",
        "atime",
        "noatime",
        "diratime",
        "nodiratime",
        "bind",
        "rbind",
        "unbindable",
        "runbindable",
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "relatime",
        "norelatime",
        "strictatime",
        "nostrictatime",
    ];
    const KEYS: &[&str] = &[
        "size",
        "mode",
        "uid",
        "gid",
        "nr_inodes",
        "nr_blocks",
        "mpol",
        "huge",
    ];
    match o.split_once('=') {
        Some((k, _)) => KEYS.contains(&k),
        None => FLAGS.contains(&o),
    }
}

fn volume_point(name: &str, dst: &str, rw: bool, mode: &str, root: &Path) -> MountPoint {
    MountPoint {
        kind: "volume".into(),
        name: name.into(),
        source: root.join(name).join("_data").display().to_string(),
        destination: dst.into(),
        driver: "local".into(),
        mode: mode.into(),
        rw,
        propagation: String::new(),
    }
}

/// How a `--mount` bind's `BindOptions` ask for it to be mounted (`bind-recursive=...`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BindRecursion {
    /// `NonRecursive` (`bind-recursive=disabled`): the mounts under the source are left out.
    pub non_recursive: bool,
    /// `ReadOnlyNonRecursive` (`writable`): read-only, the mounts under it stay writable.
    pub ro_non_recursive: bool,
    /// `ReadOnlyForceRecursive` (`readonly`): recursively read-only, or an error.
    pub ro_force_recursive: bool,
}

impl BindRecursion {
    fn of(spec: &MountSpec) -> BindRecursion {
        let o = spec.extra.get("BindOptions");
        let flag = |k: &str| {
            o.and_then(|o| o.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        BindRecursion {
            non_recursive: flag("NonRecursive"),
            ro_non_recursive: flag("ReadOnlyNonRecursive"),
            ro_force_recursive: flag("ReadOnlyForceRecursive"),
        }
    }
}

/// Whether the kernel makes a mount tree read-only at once (mount_setattr(2) with
/// AT_RECURSIVE, Linux 5.12): `Err` with dockerd's words when it does not. Probed once, with
/// a call that fails on its bad descriptor where the system call exists.
pub fn kernel_rro_support() -> std::result::Result<(), String> {
    static PROBE: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    PROBE
        .get_or_init(|| {
            // SAFETY: the path is a valid C string; the kernel rejects the descriptor -1
            // (or the null attribute) before it reads anything else.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_mount_setattr,
                    -1,
                    c"".as_ptr(),
                    libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
                    std::ptr::null::<u8>(),
                    0usize,
                )
            };
            let e = std::io::Error::last_os_error();
            match (r < 0).then(|| e.raw_os_error()).flatten() {
                Some(libc::ENOSYS) => Err("rro is not supported: failed to call mount_setattr: function not implemented (kernel is older than 5.12?)".to_string()),
                // A seccomp or LSM filter that denies the call would fail every start with
                // a read-only bind: then plain `ro` is used, as where the kernel lacks it.
                Some(libc::EPERM) | Some(libc::EACCES) => Err(format!(
                    "rro is not supported: failed to call mount_setattr: {e}"
                )),
                _ => Ok(()),
            }
        })
        .clone()
}

/// The mount points in OCI form, sorted so parents come before children. Read-only binds and
/// volumes are recursively read-only (`rro`) where the kernel can make them so, as with
/// dockerd 25+; `specs` (HostConfig.Mounts) give the `--mount` binds' `BindOptions`.
/// `rro` is [`kernel_rro_support`], given by the caller.
pub fn oci_mounts(
    points: &[MountPoint],
    specs: &[MountSpec],
    rro: std::result::Result<(), String>,
) -> Result<Vec<Value>> {
    let mut v: Vec<&MountPoint> = points.iter().collect();
    v.sort_by_key(|m| m.destination.matches('/').count());
    let mut out = Vec::with_capacity(v.len());
    for m in v {
        if m.kind == "tmpfs" {
            let mut opts = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
            opts.extend(
                m.mode
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned),
            );
            out.push(json!({ "destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": opts }));
            continue;
        }
        let b = if m.kind == "bind" {
            specs
                .iter()
                .find(|s| s.kind == "bind" && clean_path(&s.target) == m.destination)
                .map(BindRecursion::of)
                .unwrap_or_default()
        } else {
            BindRecursion::default()
        };
        // dockerd's checks at start (its CLI refuses these before they are sent).
        let conflict = |what: &str| {
            Err(EngineError::Internal(format!(
                "mount options conflict: {what}"
            )))
        };
        if m.rw && b.ro_non_recursive {
            return conflict("!ReadOnly && BindOptions.ReadOnlyNonRecursive");
        }
        if m.rw && b.ro_force_recursive {
            return conflict("!ReadOnly && BindOptions.ReadOnlyForceRecursive");
        }
        if b.ro_non_recursive && b.ro_force_recursive {
            return conflict("ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive");
        }
        let mut opts = vec![if b.non_recursive { "bind" } else { "rbind" }.to_string()];
        if m.rw {
            opts.push("rw".into());
        } else if b.ro_non_recursive {
            opts.push("ro".into());
        } else {
            match &rro {
                Ok(()) => opts.push("rro".into()),
                Err(e) if b.ro_force_recursive => {
                    return Err(EngineError::Internal(e.clone()));
                }
                Err(_) => opts.push("ro".into()),
            }
        }
        let prop = if m.propagation.is_empty() {
            "rprivate"
        } else {
            &m.propagation
        };
        opts.push(prop.to_owned());
        out.push(json!({ "destination": m.destination, "type": "bind", "source": m.source, "options": opts }));
    }
    Ok(out)
}

/// dockerd's checks, at start, of the bind mounts with a shared or slave propagation: the
/// source of a shared one must be on a shared mount, that of a slave one on a shared or
/// slave mount (else nothing could propagate). Returns the propagation the container's
/// root then needs for them to work (`shared`, or `rslave`), if any.
pub fn check_propagation(points: &[MountPoint]) -> Result<Option<&'static str>> {
    let mut root = None;
    for m in points.iter().filter(|m| m.kind == "bind") {
        let shared_wanted = match m.propagation.as_str() {
            "shared" | "rshared" => true,
            "slave" | "rslave" => false,
            _ => continue,
        };
        let (on, optional) = source_mount(&m.source)
            .map_err(|e| EngineError::InvalidArgument(format!("lstat {}: {e}", m.source)))?;
        let tagged = |t: &str| optional.iter().any(|o| o.starts_with(t));
        if shared_wanted {
            if !tagged("shared:") {
                return Err(EngineError::InvalidArgument(format!(
                    "path {} is mounted on {on} but it is not a shared mount",
                    m.source
                )));
            }
            root = Some("shared");
        } else {
            if !tagged("shared:") && !tagged("master:") {
                return Err(EngineError::InvalidArgument(format!(
                    "path {} is mounted on {on} but it is not a shared or slave mount",
                    m.source
                )));
            }
            root.get_or_insert("rslave");
        }
    }
    Ok(root)
}

/// The mount `path` (symlinks resolved) lies on, as dockerd finds it: the longest mount
/// point above it in this mount namespace, and that mount's optional fields.
fn source_mount(path: &str) -> std::io::Result<(String, Vec<String>)> {
    let real = std::fs::canonicalize(path)?;
    let real = real.to_string_lossy();
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut best: Option<(String, Vec<String>)> = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(mp) = fields.get(4).map(|m| unescape_mountinfo(m)) else {
            continue;
        };
        let above = mp == "/"
            || *real == *mp
            || real
                .strip_prefix(mp.as_str())
                .is_some_and(|r| r.starts_with('/'));
        // `>=`: of mounts stacked on one point, the last listed is the one in effect.
        if above && best.as_ref().is_none_or(|(b, _)| mp.len() >= b.len()) {
            let optional = fields
                .iter()
                .skip(6)
                .take_while(|f| **f != "-")
                .map(|f| f.to_string())
                .collect();
            best = Some((mp, optional));
        }
    }
    best.ok_or_else(|| std::io::Error::other(format!("no mount found for {real}")))
}

/// A path of /proc/self/mountinfo, its octal escapes (`\040` for a space) decoded.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) if b[i] == b'\\' => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes hostname, hosts and resolv.conf into the container dir and returns their
/// bind mounts.
pub fn etc_files(
    dir: &Path,
    hostname: &str,
    network_mode: &str,
    extra_hosts: &[String],
) -> Result<Vec<Value>> {
    let io = |p: &Path| {
        let p = p.to_owned();
        move |e: std::io::Error| EngineError::internal(format!("write {}", p.display()), e)
    };
    let hostname_p = dir.join("hostname");
    std::fs::write(&hostname_p, format!("{hostname}\n")).map_err(io(&hostname_p))?;
    let hosts_p = dir.join("hosts");
    let mut hosts = if network_mode == "host" {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t{hostname}\n"
        )
    };
    for h in extra_hosts {
        if let Some((name, ip)) = h.split_once(':').or_else(|| h.split_once('=')) {
            let ip = if ip == "host-gateway" {
                "127.0.0.1"
            } else {
                ip
            };
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    std::fs::write(&hosts_p, hosts).map_err(io(&hosts_p))?;
    let resolv_p = dir.join("resolv.conf");
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    std::fs::write(&resolv_p, host_resolv).map_err(io(&resolv_p))?;
    let bind = |dst: &str, src: &PathBuf| json!({ "destination": dst, "type": "bind", "source": src, "options": ["rbind", "rprivate"] });
    Ok(vec![
        bind("/etc/hostname", &hostname_p),
        bind("/etc/hosts", &hosts_p),
        bind("/etc/resolv.conf", &resolv_p),
    ])
}

/// Whether something is mounted exactly at `path`.
pub fn is_mounted(path: &Path) -> bool {
    // statx's mount-root attribute: constant time, where /proc/self/mountinfo grows with
    // every container's mount.
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags, statx};
    match statx(
        rustix::fs::CWD,
        path,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    ) {
        Ok(st) => {
            let mask = StatxAttributes::MOUNT_ROOT;
            if st.stx_attributes_mask.contains(mask) {
                st.stx_attributes.contains(mask)
            } else {
                is_mounted_slow(path)
            }
        }
        Err(_) => false,
    }
}

fn is_mounted_slow(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| mp == want)
}

/// Detaches whatever is mounted at `path` (lazy: a process may still hold it).
pub fn unmount(path: &Path) {
    while is_mounted(path) {
        if let Err(e) = rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH) {
            tracing::warn!(path = %path.display(), error = %e, "unmount failed");
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_and_named_volumes_parse_like_docker() {
        let h = HostConfig {
            binds: Some(vec!["/src:/dst:ro".into(), "data:/var/lib/x".into()]),
            tmpfs: Some([("/run".to_string(), "size=1m".to_string())].into()),
            ..Default::default()
        };
        let m = mount_points(&h, Path::new("/vols")).unwrap();
        assert_eq!(m[0].kind, "bind");
        assert!(!m[0].rw);
        assert_eq!(m[1].kind, "volume");
        assert_eq!(m[1].source, "/vols/data/_data");
        assert_eq!(m[2].kind, "tmpfs");
        let oci = oci_mounts(&m, &[], Ok(())).unwrap();
        assert!(oci.iter().any(|v| {
            v["type"] == "tmpfs"
                && v["options"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o == "size=1m")
        }));
        let bad = HostConfig {
            binds: Some(vec!["/src:relative".into()]),
            ..Default::default()
        };
        assert!(mount_points(&bad, Path::new("/vols")).is_err());
    }

    #[test]
    fn a_destination_that_cleans_to_the_root_is_refused() {
        for b in ["/src:/", "/src:/x/..", "/src://", "v:/./"] {
            let h = HostConfig {
                binds: Some(vec![b.into()]),
                ..Default::default()
            };
            let e = mount_points(&h, Path::new("/vols"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("destination can't be '/'"), "{b}: {e}");
        }
        for t in ["/", "/run/.."] {
            let h = HostConfig {
                tmpfs: Some([(t.to_string(), String::new())].into()),
                ..Default::default()
            };
            let e = mount_points(&h, Path::new("/vols"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("destination can't be '/'"), "{t}: {e}");
        }
    }

    #[test]
    fn read_only_binds_ask_for_rro_unless_told_otherwise() {
        let point = |dst: &str, rw: bool| MountPoint {
            kind: "bind".into(),
            source: "/src".into(),
            destination: dst.into(),
            rw,
            propagation: "rprivate".into(),
            ..Default::default()
        };
        let spec = |dst: &str, ro: bool, opts: Value| MountSpec {
            kind: "bind".into(),
            source: "/src".into(),
            target: dst.into(),
            read_only: ro,
            extra: [("BindOptions".to_string(), opts)].into_iter().collect(),
            ..Default::default()
        };
        let points = [
            point("/a", false),
            point("/b", false),
            point("/c", false),
            point("/d", true),
        ];
        let specs = [
            spec("/b", true, json!({"ReadOnlyNonRecursive": true})),
            spec(
                "/c",
                true,
                json!({"NonRecursive": true, "ReadOnlyForceRecursive": true}),
            ),
            spec("/d/", false, json!({"NonRecursive": true})),
        ];
        let opts = |r: std::result::Result<(), String>| {
            oci_mounts(&points, &specs, r).map(|v| {
                v.iter()
                    .map(|m| {
                        m["options"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|o| o.as_str().unwrap().to_owned())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            opts(Ok(())).unwrap(),
            [
                "rbind,rro,rprivate",
                "rbind,ro,rprivate",
                "bind,rro,rprivate",
                "bind,rw,rprivate"
            ]
        );
        // Without kernel support: plain `ro`, except where rro is forced.
        let e = opts(Err("rro is not supported: old kernel".into())).unwrap_err();
        assert_eq!(e.to_string(), "rro is not supported: old kernel");
        let no_force = &specs[..2];
        let v = oci_mounts(&points[..2], no_force, Err("x".into())).unwrap();
        assert_eq!(v[0]["options"], json!(["rbind", "ro", "rprivate"]));
        assert_eq!(v[1]["options"], json!(["rbind", "ro", "rprivate"]));
        assert!(
            kernel_rro_support().is_ok(),
            "this kernel has mount_setattr"
        );
    }
}
