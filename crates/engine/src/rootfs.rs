//! Looking inside a container's root filesystem from the host, without following its
//! symlinks out of it: every path is resolved with `openat2(RESOLVE_IN_ROOT)`, so an image
//! whose `/etc/passwd` or `/bin/sh` is a symlink to a host path still resolves in the image.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};

pub(crate) fn open_root(root: &Path) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        root,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens `path` of the container below `root`: symlinks resolve inside the root.
pub(crate) fn open_in(
    root: impl std::os::fd::AsFd,
    path: &str,
    flags: OFlags,
) -> std::io::Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    Ok(rustix::fs::openat2(
        root,
        rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )?)
}

/// Reads a file of the container (e.g. `/etc/passwd`); None if it does not exist.
pub fn read_file(root: &Path, path: &str) -> Option<String> {
    let r = open_root(root).ok()?;
    let fd = open_in(&r, path, OFlags::RDONLY).ok()?;
    let mut s = String::new();
    File::from(fd).read_to_string(&mut s).ok()?;
    Some(s)
}

/// runc's refusal of a working directory that is not one in the container's root
/// (`exec -w`), in its words.
pub fn check_workdir(root: &Path, dir: &str) -> Result<(), String> {
    let r = open_root(root).map_err(|e| format!("rootfs {}: {e}", root.display()))?;
    let why = match open_in(&r, dir, OFlags::PATH | OFlags::DIRECTORY) {
        Ok(_) => return Ok(()),
        Err(e) => match e.raw_os_error() {
            Some(libc::ENOENT) => "no such file or directory".to_owned(),
            Some(libc::ENOTDIR) => "not a directory".to_owned(),
            _ => e.to_string(),
        },
    };
    Err(format!(
        "chdir to cwd (\"{dir}\") set in config.json failed: {why}"
    ))
}

/// Why a command cannot be started, worded as runc words it: the docker CLI maps
/// "executable file not found" / "no such file or directory" to exit 127 and
/// "permission denied" to 126.
pub fn check_executable(root: &Path, cmd: &str, env: &[String]) -> Result<(), String> {
    let r = open_root(root).map_err(|e| format!("rootfs {}: {e}", root.display()))?;
    let is_exec = |p: &str| -> Result<(), std::io::Error> {
        let fd = open_in(&r, p, OFlags::PATH)?;
        let st = rustix::fs::fstat(&fd)?;
        let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
        if kind == rustix::fs::FileType::Directory {
            return Err(std::io::Error::from_raw_os_error(libc::EACCES));
        }
        if st.st_mode & 0o111 == 0 || kind != rustix::fs::FileType::RegularFile {
            return Err(std::io::Error::from_raw_os_error(libc::EACCES));
        }
        Ok(())
    };
    if cmd.contains('/') {
        return is_exec(cmd).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
                format!("exec: \"{cmd}\": stat {cmd}: no such file or directory")
            }
            Some(libc::EACCES) => format!("exec: \"{cmd}\": permission denied"),
            _ => format!("exec: \"{cmd}\": {e}"),
        });
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let mut denied = false;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        match is_exec(&format!("{dir}/{cmd}")) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => denied = true,
            Err(_) => {}
        }
    }
    if denied {
        return Err(format!("exec: \"{cmd}\": permission denied"));
    }
    Err(format!(
        "exec: \"{cmd}\": executable file not found in $PATH"
    ))
}

/// `mkdir -p` inside the container root (Docker creates a missing WorkingDir).
pub fn mkdir_all(root: &Path, path: &str) -> std::io::Result<()> {
    let r = open_root(root)?;
    let mut cur = String::new();
    for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let parent = open_in(&r, &cur, OFlags::DIRECTORY | OFlags::PATH)?;
        match rustix::fs::mkdirat(&parent, comp, Mode::from_raw_mode(0o755)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        cur.push('/');
        cur.push_str(comp);
    }
    // ENOTDIR when the path exists as something else.
    open_in(&r, &cur, OFlags::DIRECTORY | OFlags::PATH)?;
    Ok(())
}

/// runc's words for a numeric uid or gid out of range.
const ID_RANGE: &str = "uids and gids must be in range 0-2147483647";

/// Resolves `user[:group]` against the container's passwd/group files:
/// (uid, gid, supplementary gids, home). The supplementary gids start with the primary
/// one, as dockerd sets them (`id` then lists it under groups too); those of
/// `/etc/group` that name the user follow only when `spec` gives no group.
pub fn resolve_user(root: &Path, spec: &str) -> Result<(u32, u32, Vec<u32>, String), String> {
    let passwd = read_file(root, "/etc/passwd").unwrap_or_default();
    let group = read_file(root, "/etc/group").unwrap_or_default();
    // (`user:` names no group, as runc reads it)
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g).filter(|g| !g.is_empty())),
        None => (spec, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u)));
    let (uid, mut gid, name, home) = match (&entry, u.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            f[0].to_owned(),
            f.get(5).copied().unwrap_or("/").to_owned(),
        ),
        (None, Ok(n)) if n <= i32::MAX as u32 => (n, 0, String::new(), "/".to_owned()),
        (None, _) if u.parse::<i64>().is_ok() => return Err(ID_RANGE.into()),
        (None, _) => {
            return Err(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ));
        }
    };
    if let Some(g) = g {
        gid = match g.parse::<i64>() {
            Ok(n) if (0..=i32::MAX as i64).contains(&n) => n as u32,
            Ok(_) => return Err(ID_RANGE.into()),
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    format!("unable to find group {g}: no matching entries in group file")
                })?,
        };
    }
    let mut extra = vec![gid];
    // The groups that list the user are added only when no group was given (runc's
    // GetExecUser): `user:group` runs with that group alone, plus `--group-add`.
    if !name.is_empty() && g.is_none() {
        for f in group.lines().map(|l| l.split(':').collect::<Vec<_>>()) {
            if f.len() >= 4
                && f[3].split(',').any(|m| m == name)
                && let Ok(n) = f[2].parse::<u32>()
                && n != gid
            {
                extra.push(n);
            }
        }
    }
    Ok((uid, gid, extra, home))
}

/// Resolves a `GroupAdd` entry (name or number).
pub fn resolve_group(root: &Path, g: &str) -> Result<u32, String> {
    if let Ok(n) = g.parse() {
        return Ok(n);
    }
    read_file(root, "/etc/group")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[0] == g)
        .and_then(|f| f[2].parse().ok())
        .ok_or_else(|| format!("Unable to find group {g}: no matching entries in group file"))
}

/// Docker's volume copy-up: a new, empty volume mounted over a directory the image has
/// receives that directory's content (owner, modes, symlinks kept). The source is
/// resolved inside the root and copied through its `/proc/<pid>/fd` handle, so an image's
/// symlink cannot redirect the copy to a host path.
pub fn copy_up(root: &Path, path: &str, dest: &Path) -> std::io::Result<()> {
    let r = open_root(root)?;
    let fd = match open_in(&r, path, OFlags::DIRECTORY | OFlags::RDONLY) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    // The descriptor is close-on-exec, so cp reaches it through our pid, not its own.
    let src = format!(
        "/proc/{}/fd/{}/.",
        std::process::id(),
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    );
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(dest)
        .status()?;
    if !st.success() {
        return Err(std::io::Error::other(format!("cp -a {path} failed: {st}")));
    }
    Ok(())
}
