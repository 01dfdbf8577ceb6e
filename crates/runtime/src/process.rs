//! The container process's identity and limits: rlimits, user and groups, the five capability
//! sets, no_new_privs, umask, environment and the executable lookup. Shared by the init and by
//! `exec`, both of which call it inside the container after its filesystem is in place.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{PosixRlimitType, Process};
use rustix::process::{Resource, Rlimit};

use crate::error::{Error, Result};

fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => Resource::Cpu,
        RlimitFsize => Resource::Fsize,
        RlimitData => Resource::Data,
        RlimitStack => Resource::Stack,
        RlimitCore => Resource::Core,
        RlimitRss => Resource::Rss,
        RlimitNproc => Resource::Nproc,
        RlimitNofile => Resource::Nofile,
        RlimitMemlock => Resource::Memlock,
        RlimitAs => Resource::As,
        RlimitLocks => Resource::Locks,
        RlimitSigpending => Resource::Sigpending,
        RlimitMsgqueue => Resource::Msgqueue,
        RlimitNice => Resource::Nice,
        RlimitRtprio => Resource::Rtprio,
        RlimitRttime => Resource::Rttime,
    }
}

fn limit(v: u64) -> Option<u64> {
    (v != u64::MAX).then_some(v)
}

/// An RLIMIT_NOFILE below this is applied last ([`set_late_rlimits`]): the runtime still
/// opens descriptors after the other limits are set (the exec fifo, /proc files), and a
/// container given `--ulimit nofile=10` must start all the same (runc fails it).
const NOFILE_LATE_BELOW: u64 = 64;

fn nofile_is_late(r: &oci_spec::runtime::PosixRlimit) -> bool {
    r.typ() == PosixRlimitType::RlimitNofile && r.soft() < NOFILE_LATE_BELOW
}

fn apply_rlimit(r: &oci_spec::runtime::PosixRlimit, soft: u64) -> Result<()> {
    let lim = Rlimit {
        current: limit(soft),
        maximum: limit(r.hard()),
    };
    rustix::process::setrlimit(resource(r.typ()), lim).map_err(|e| {
        Error::sys(
            format!(
                "setrlimit {:?} soft={} hard={}",
                r.typ(),
                r.soft(),
                r.hard()
            ),
            e,
        )
    })
}

/// Applies `process.rlimits`, but a low RLIMIT_NOFILE only as far as 64 (its hard limit is
/// set, unless that is below 64 too): [`set_late_rlimits`] finishes it. A hard limit above
/// the caller's own needs CAP_SYS_RESOURCE; the error then names the limit, so a
/// too-generous default is easy to spot.
pub fn set_rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().iter().flatten() {
        if !nofile_is_late(r) {
            apply_rlimit(r, r.soft())?;
        } else if r.hard() >= NOFILE_LATE_BELOW {
            apply_rlimit(r, NOFILE_LATE_BELOW)?;
        }
    }
    Ok(())
}

/// The low RLIMIT_NOFILE that [`set_rlimits`] left, just before execve: lowering a limit
/// needs no privilege, so it works after the identity has changed. (A seccomp profile may
/// be in force by then; Docker's allows `prlimit64`, and one that does not fails the start
/// with this error.)
pub fn set_late_rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().iter().flatten().filter(|r| nofile_is_late(r)) {
        apply_rlimit(r, r.soft())?;
    }
    Ok(())
}

fn cap_set(names: Option<&HashSet<oci_spec::runtime::Capability>>) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for c in names.into_iter().flatten() {
        let name = format!("CAP_{}", c.to_string().trim_start_matches("CAP_"));
        let cap: Capability = name
            .parse()
            .map_err(|_| Error::Config(format!("unknown capability {name}")))?;
        out.insert(cap);
    }
    Ok(out)
}

/// Capabilities resolved before any privilege is dropped.
pub struct Caps {
    bounding: Option<CapsHashSet>,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

impl Caps {
    pub fn from_process(p: &Process) -> Result<Option<Caps>> {
        let Some(c) = p.capabilities() else {
            return Ok(None);
        };
        Ok(Some(Caps {
            bounding: match c.bounding() {
                Some(b) => Some(cap_set(Some(b))?),
                None => None,
            },
            effective: cap_set(c.effective().as_ref())?,
            permitted: cap_set(c.permitted().as_ref())?,
            inheritable: cap_set(c.inheritable().as_ref())?,
            ambient: cap_set(c.ambient().as_ref())?,
        }))
    }
}

/// Drops the bounding set, switches to the configured user and groups keeping the permitted
/// set across the uid change, then sets effective/permitted/inheritable/ambient exactly.
pub fn set_identity(p: &Process, caps: Option<&Caps>, may_setgroups: bool) -> Result<()> {
    if let Some(c) = caps
        && let Some(b) = &c.bounding
    {
        for cap in caps::all() {
            if !b.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| Error::Other(format!("drop bounding {cap}: {e}")))?;
            }
        }
    }
    let user = p.user();
    rustix::thread::set_keep_capabilities(true).map_err(|e| Error::sys("PR_SET_KEEPCAPS", e))?;
    if may_setgroups {
        let gids: Vec<rustix::process::Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| rustix::process::Gid::from_raw(*g))
            .collect();
        rustix::thread::set_thread_groups(&gids).map_err(|e| Error::sys("setgroups", e))?;
    }
    // Raw syscalls on purpose: glibc's wrappers would broadcast to threads we do not have.
    let gid = rustix::process::Gid::from_raw(user.gid());
    rustix::thread::set_thread_res_gid(gid, gid, gid)
        .map_err(|e| Error::sys(format!("setresgid {}", user.gid()), e))?;
    let uid = rustix::process::Uid::from_raw(user.uid());
    rustix::thread::set_thread_res_uid(uid, uid, uid)
        .map_err(|e| Error::sys(format!("setresuid {}", user.uid()), e))?;
    rustix::thread::set_keep_capabilities(false).map_err(|e| Error::sys("PR_SET_KEEPCAPS", e))?;
    if let Some(c) = caps {
        // One capset(2) for all three sets: set one at a time and the kernel rejects the
        // intermediate states (effective must stay within permitted).
        let bits = |set: &CapsHashSet| -> rustix::thread::CapabilitySet {
            rustix::thread::CapabilitySet::from_bits_retain(
                set.iter().fold(0u64, |acc, c| acc | c.bitmask()),
            )
        };
        rustix::thread::set_capabilities(
            None,
            rustix::thread::CapabilitySets {
                effective: bits(&c.effective),
                permitted: bits(&c.permitted),
                inheritable: bits(&c.inheritable),
            },
        )
        .map_err(|e| Error::sys("capset", e))?;
        caps::clear(None, CapSet::Ambient).ok();
        for cap in &c.ambient {
            // Ambient needs the cap in permitted and inheritable; runc ignores failures here too.
            if let Err(e) = caps::raise(None, CapSet::Ambient, *cap) {
                tracing::debug!(cap = %cap, error = %e, "cannot raise ambient capability");
            }
        }
    }
    if let Some(mask) = user.umask() {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    }
    Ok(())
}

pub fn set_no_new_privs(p: &Process) -> Result<()> {
    if p.no_new_privileges().unwrap_or(false) {
        rustix::thread::set_no_new_privs(true).map_err(|e| Error::sys("PR_SET_NO_NEW_PRIVS", e))?;
    }
    Ok(())
}

/// The environment for execve; adds HOME from the container's /etc/passwd when missing, as
/// runc does.
pub fn environment(p: &Process, passwd_root: &Path) -> Vec<String> {
    let mut env: Vec<String> = p.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home = home_of(passwd_root, p.user().uid()).unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    env
}

fn home_of(root: &Path, uid: u32) -> Option<String> {
    let data = std::fs::read_to_string(root.join("etc/passwd")).ok()?;
    data.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
    })
}

/// Finds the executable as execvp would, with the container's PATH, and checks it is there
/// and executable, so "not found" is reported by `create` rather than lost after `start`.
pub fn lookup(arg0: &str, env: &[String], root: &Path, cwd: &Path) -> Result<PathBuf> {
    let is_exec = |p: &Path| {
        rustix::fs::access(p, rustix::fs::Access::EXEC_OK).is_ok()
            && std::fs::metadata(p).map(|m| m.is_file()).unwrap_or(false)
    };
    let under = |p: &Path| root.join(p.strip_prefix("/").unwrap_or(p));
    if arg0.is_empty() {
        return Err(Error::Config("process.args is empty".into()));
    }
    if arg0.contains('/') {
        let p = if arg0.starts_with('/') {
            PathBuf::from(arg0)
        } else {
            cwd.join(arg0)
        };
        if !under(&p).exists() {
            // runc's words (the docker CLI picks exit code 127 from them).
            return Err(Error::Init(format!(
                "exec: {arg0:?}: stat {}: no such file or directory",
                p.display()
            )));
        }
        return Ok(p);
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let cand = Path::new(dir).join(arg0);
        if is_exec(&under(&cand)) {
            return Ok(if cand.is_absolute() {
                cand
            } else {
                cwd.join(cand)
            });
        }
    }
    Err(Error::Init(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    )))
}

/// The container process, ready for execve: the executable found, argv and envp built.
pub struct Prepared {
    pub exe: PathBuf,
    pub args: Vec<CString>,
    pub env: Vec<CString>,
}

/// Inside the container (its root is `/`): rlimits, the working directory — verified to be
/// inside the root (CVE-2024-21626: a cwd reached through an inherited host descriptor or a
/// /proc/self/fd/N trick makes getcwd fail or say "(unreachable)") — and the executable
/// looked up with the container's PATH, so a missing command is reported before exec.
pub fn prepare(p: &Process) -> Result<Prepared> {
    set_rlimits(p)?;
    let cwd = p.cwd();
    rustix::process::chdir(cwd).map_err(|e| Error::path("chdir", cwd, e))?;
    match std::env::current_dir() {
        Ok(d) if d.is_absolute() => {}
        _ => {
            return Err(Error::Init(format!(
                "cwd {cwd:?} is outside the container root"
            )));
        }
    }
    let args = p.args().clone().unwrap_or_default();
    let env = environment(p, Path::new("/"));
    let exe = lookup(
        args.first().map(String::as_str).unwrap_or(""),
        &env,
        Path::new("/"),
        cwd,
    )?;
    Ok(Prepared {
        exe,
        args: cstrings(&args)?,
        env: cstrings(&env)?,
    })
}

/// Makes the pty peer the controlling terminal and the standard descriptors.
pub fn take_terminal(peer: &std::os::fd::OwnedFd) -> Result<()> {
    use std::os::fd::AsRawFd;
    rustix::process::ioctl_tiocsctty(peer).map_err(|e| Error::sys("TIOCSCTTY", e))?;
    for target in 0..3 {
        // SAFETY: dup2 onto this process's own standard descriptors.
        if unsafe { libc::dup2(peer.as_raw_fd(), target) } < 0 {
            return Err(Error::sys("dup2 console", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

pub fn cstrings<I: IntoIterator<Item = S>, S: AsRef<[u8]>>(it: I) -> Result<Vec<CString>> {
    it.into_iter()
        .map(|s| {
            CString::new(s.as_ref())
                .map_err(|_| Error::Config("NUL byte in argument or environment".into()))
        })
        .collect()
}

/// execve; returns only on failure.
pub fn execve(path: &Path, args: &[CString], env: &[CString]) -> Error {
    let Ok(cpath) = CString::new(path.as_os_str().as_bytes()) else {
        return Error::Config("NUL in executable path".into());
    };
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv/envp are NUL-terminated arrays of pointers into CStrings that outlive the call.
    unsafe { libc::execve(cpath.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let e = std::io::Error::last_os_error();
    Error::Init(format!("exec {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_uses_container_path_and_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("opt/bin")).unwrap();
        let exe = root.path().join("opt/bin/tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(&exe).unwrap().permissions(),
            0o755,
        );
        std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let env = vec!["PATH=/usr/bin:/opt/bin".to_string()];
        assert_eq!(
            lookup("tool", &env, root.path(), Path::new("/")).unwrap(),
            PathBuf::from("/opt/bin/tool")
        );
        assert!(lookup("nope", &env, root.path(), Path::new("/")).is_err());
        assert!(lookup("/missing", &env, root.path(), Path::new("/")).is_err());
    }

    #[test]
    fn home_comes_from_passwd() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n",
        )
        .unwrap();
        let mut p: Process = serde_json::from_value(serde_json::json!({"cwd": "/", "user": {"uid": 1000, "gid": 1000}, "args": ["sh"], "env": ["A=1"]})).unwrap();
        assert!(environment(&p, root.path()).contains(&"HOME=/home/u".to_string()));
        p.set_env(Some(vec!["HOME=/x".into()]));
        assert_eq!(environment(&p, root.path()), vec!["HOME=/x".to_string()]);
    }
}
