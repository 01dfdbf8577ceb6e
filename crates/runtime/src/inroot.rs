//! Paths inside the container's root, resolved on file descriptors.
//!
//! Every lookup is `openat2` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` from a descriptor of
//! the root: a symlink (planted in the image, or swapped in by a racing container) is resolved
//! as if the root were `/`, and `/proc/self/...` style magic links are refused. What comes back
//! is a descriptor of the object itself, and mounts go onto that descriptor, so there is no
//! window between the check and the use (the CVE-2021-30465 family).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// `path` made relative (leading `/` dropped) and checked for `..` that would climb (RESOLVE_IN_ROOT
/// would clamp it anyway; we refuse it so configuration mistakes are loud).
pub fn relative(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                if !out.pop() {
                    return Err(Error::Config(format!(
                        "path {path:?} climbs out of the container root"
                    )));
                }
            }
            Component::Prefix(_) => return Err(Error::Config(format!("bad path {path:?}"))),
        }
    }
    Ok(out)
}

fn rel_or_dot(p: &Path) -> &Path {
    if p.as_os_str().is_empty() {
        Path::new(".")
    } else {
        p
    }
}

/// Opens `path` inside `root` with `flags` (O_CLOEXEC is always added).
pub fn open(root: BorrowedFd<'_>, path: &Path, flags: OFlags) -> Result<OwnedFd> {
    let rel = relative(path)?;
    open_rel(root, &rel, flags).map_err(|e| Error::path("open in container root", path, e))
}

fn open_rel(root: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    loop {
        match rustix::fs::openat2(
            root,
            rel_or_dot(rel),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        ) {
            Err(Errno::AGAIN) | Err(Errno::INTR) => continue,
            r => return r,
        }
    }
}

/// Like `mkdir -p` inside the root; returns an `O_PATH` descriptor of the final directory.
/// A dangling symlink on the way (`/var/run -> /run` before `/run` exists, or an absolute link
/// to a host path) is followed as the kernel would inside the root, and its target created.
pub fn mkdir_all(root: BorrowedFd<'_>, path: &Path, mode: u32) -> Result<OwnedFd> {
    let mut rel = relative(path)?;
    // Symlinks followed by hand, bounded like the kernel's MAXSYMLINKS.
    let mut hops = 0;
    'walk: loop {
        let comps: Vec<std::ffi::OsString> =
            rel.components().map(|c| c.as_os_str().to_owned()).collect();
        let mut cur = PathBuf::new();
        let mut fd = open_rel(root, Path::new("."), OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|e| Error::path("open container root", path, e))?;
        for (i, comp) in comps.iter().enumerate() {
            cur.push(comp);
            match open_rel(root, &cur, OFlags::PATH | OFlags::DIRECTORY) {
                Ok(next) => fd = next,
                Err(Errno::NOENT) => {
                    // Create the component relative to the (already verified) parent, then open
                    // it again through the root so a symlink raced in at this name is confined.
                    match rustix::fs::mkdirat(&fd, comp.as_os_str(), Mode::from_raw_mode(mode)) {
                        Ok(()) => {}
                        Err(Errno::EXIST) => {
                            if let Ok(target) = rustix::fs::readlinkat(&fd, comp.as_os_str(), []) {
                                hops += 1;
                                if hops > 40 {
                                    return Err(Error::path(
                                        "mkdir in container root",
                                        &cur,
                                        Errno::LOOP,
                                    ));
                                }
                                let target =
                                    PathBuf::from(std::ffi::OsStr::from_bytes(target.as_bytes()));
                                let mut next = if target.is_absolute() {
                                    target
                                } else {
                                    Path::new("/")
                                        .join(cur.parent().unwrap_or(Path::new("")))
                                        .join(target)
                                };
                                next.extend(&comps[i + 1..]);
                                rel = clamp(&next);
                                continue 'walk;
                            }
                        }
                        Err(e) => return Err(Error::path("mkdir in container root", &cur, e)),
                    }
                    fd = open_rel(root, &cur, OFlags::PATH | OFlags::DIRECTORY)
                        .map_err(|e| Error::path("open in container root", &cur, e))?;
                }
                Err(e) => return Err(Error::path("open in container root", &cur, e)),
            }
        }
        return Ok(fd);
    }
}

/// `path` made relative to the root with `..` stopping at the root, as RESOLVE_IN_ROOT does
/// for symlink targets.
fn clamp(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Splits into (parent, final name); the root itself has no name.
pub fn split(path: &Path) -> Result<(PathBuf, std::ffi::OsString)> {
    let rel = relative(path)?;
    let name = rel
        .file_name()
        .ok_or_else(|| Error::Config(format!("{path:?} names the container root")))?
        .to_owned();
    Ok((
        rel.parent().map(Path::to_path_buf).unwrap_or_default(),
        name,
    ))
}

/// Makes sure a mount target exists: a directory, or (for binds of files and devices) an empty
/// regular file. Returns an `O_PATH` descriptor of it.
pub fn ensure_target(root: BorrowedFd<'_>, path: &Path, dir: bool) -> Result<OwnedFd> {
    if dir {
        return mkdir_all(root, path, 0o755);
    }
    if let Ok(fd) = open(root, path, OFlags::PATH) {
        return Ok(fd);
    }
    let (parent, name) = split(path)?;
    let pfd = mkdir_all(root, &parent, 0o755)?;
    match rustix::fs::openat(
        &pfd,
        &name,
        OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    ) {
        Ok(_) | Err(Errno::EXIST) => {}
        Err(e) => return Err(Error::path("create mount target", path, e)),
    }
    open(root, path, OFlags::PATH)
}

/// `/proc/self/fd/N`: the path form of a descriptor, for the few syscalls without a dirfd.
pub fn fd_path(fd: impl AsFd) -> String {
    use std::os::fd::AsRawFd;
    format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn relative_refuses_climbing() {
        assert_eq!(
            relative(Path::new("/a/./b/../c")).unwrap(),
            PathBuf::from("a/c")
        );
        assert!(relative(Path::new("/../etc")).is_err());
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        // An absolute symlink in the image pointing at the host's directory.
        symlink(outside.path(), root.path().join("evil")).unwrap();
        symlink("../../../../", root.path().join("up")).unwrap();
        let rootfd =
            rustix::fs::open(root.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        mkdir_all(rootfd.as_fd(), Path::new("/evil/sub"), 0o755).unwrap();
        mkdir_all(rootfd.as_fd(), Path::new("/up/x"), 0o755).unwrap();
        ensure_target(rootfd.as_fd(), Path::new("/up/file"), false).unwrap();
        assert!(
            std::fs::read_dir(outside.path()).unwrap().next().is_none(),
            "wrote outside the root"
        );
        // The links were followed as if the root were `/`.
        assert!(
            root.path()
                .join(outside.path().strip_prefix("/").unwrap())
                .join("sub")
                .is_dir()
        );
        assert!(root.path().join("x").is_dir());
        assert!(root.path().join("file").is_file());
    }

    #[test]
    fn magic_links_are_refused() {
        let root = tempfile::tempdir().unwrap();
        symlink("/proc/self/root", root.path().join("p")).unwrap();
        std::fs::create_dir(root.path().join("proc")).unwrap();
        let rootfd =
            rustix::fs::open(root.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        // Inside the root there is no procfs, and the host's is never reached.
        assert!(open(rootfd.as_fd(), Path::new("/p/etc/passwd"), OFlags::RDONLY).is_err());
    }
}
