//! fd-relative filesystem helpers confined to a root directory.
//!
//! Layer contents are attacker-controlled, so every path below a layer root is resolved
//! with `openat2` and `RESOLVE_NO_SYMLINKS`: a symlink anywhere in a parent path makes the
//! operation fail with `ELOOP` instead of being followed, and `RESOLVE_IN_ROOT` /
//! `RESOLVE_BENEATH` keep `..` and absolute names from leaving the root even if a caller
//! forgot to normalize. Final components are always operated on with `*at` calls that do not
//! follow symlinks (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, or calls that never follow).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

/// Resolution for paths under a layer root: never through a symlink, never outside.
pub(crate) const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);
/// Resolution for one component below an already verified directory fd.
pub(crate) const BENEATH: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::RDONLY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// A relative path split into plain components (no `.`, `..` or empty parts).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelPath(pub(crate) Vec<OsString>);

impl RelPath {
    /// Splits archive path bytes. Leading `/` and `./` are dropped (the path is taken as
    /// relative to the root); a `..` component is refused outright rather than resolved,
    /// because no honest layer needs one.
    pub fn parse(bytes: &[u8]) -> Result<RelPath, &'static str> {
        let mut out = Vec::new();
        for comp in bytes.split(|&b| b == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => return Err("path contains a '..' component"),
                c => out.push(OsStr::from_bytes(c).to_owned()),
            }
        }
        Ok(RelPath(out))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Parent components and the final name; `None` for the root itself.
    pub fn split_last(&self) -> Option<(&[OsString], &OsStr)> {
        self.0
            .split_last()
            .map(|(last, parent)| (parent, last.as_os_str()))
    }

    pub fn depth(&self) -> usize {
        self.0.len()
    }

    pub fn to_path(&self) -> PathBuf {
        self.0.iter().collect()
    }
}

impl std::fmt::Display for RelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for c in &self.0 {
            write!(f, "/{}", c.to_string_lossy())?;
        }
        Ok(())
    }
}

fn join(comps: &[OsString]) -> OsString {
    if comps.is_empty() {
        return OsString::from(".");
    }
    let mut s = OsString::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            s.push("/");
        }
        s.push(c);
    }
    s
}

/// An open directory that every path below is resolved against.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Opens `path` (which must be a real directory, not a symlink).
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(path, DIR_FLAGS, Mode::empty())?;
        Ok(Root {
            fd,
            path: path.to_owned(),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens an existing directory below the root without following any symlink.
    pub fn open_dir(&self, comps: &[OsString]) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat2(
            &self.fd,
            join(comps),
            DIR_FLAGS,
            Mode::empty(),
            IN_ROOT,
        )?)
    }

    /// Opens a directory below the root, creating missing components (mode 0755), one
    /// component at a time so that nothing is created through a symlink.
    pub fn mkdir_all(&self, comps: &[OsString]) -> io::Result<OwnedFd> {
        if let Ok(fd) = self.open_dir(comps) {
            return Ok(fd);
        }
        // Slow path, one component at a time, so the failing component can be named.
        let mut cur = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)?;
        for c in comps {
            let next = match rustix::fs::openat2(&cur, c, DIR_FLAGS, Mode::empty(), BENEATH) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::NOENT) => {
                    match rustix::fs::mkdirat(&cur, c, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    rustix::fs::openat2(&cur, c, DIR_FLAGS, Mode::empty(), BENEATH)?
                }
                Err(e @ (rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP)) => {
                    // Report a symlink as ELOOP whichever way the kernel phrased it.
                    let st = rustix::fs::statat(&cur, c, AtFlags::SYMLINK_NOFOLLOW)?;
                    if rustix::fs::FileType::from_raw_mode(st.st_mode)
                        == rustix::fs::FileType::Symlink
                    {
                        return Err(rustix::io::Errno::LOOP.into());
                    }
                    return Err(e.into());
                }
                Err(e) => return Err(e.into()),
            };
            cur = next;
        }
        Ok(cur)
    }
}

/// Opens the directory `name` directly below `parent`, never through a symlink.
pub(crate) fn open_child_dir(parent: impl AsFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat2(
        parent,
        name,
        DIR_FLAGS,
        Mode::empty(),
        BENEATH,
    )?)
}

/// Removes `name` below `parent` (recursively for directories) without following symlinks.
pub(crate) fn remove_all_at(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let st = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
        rustix::fs::unlinkat(parent, name, AtFlags::empty())?;
        return Ok(());
    }
    let dir = open_child_dir(parent, name)?;
    for (child, _) in list_dir(dir.as_fd())? {
        remove_all_at(dir.as_fd(), &child)?;
    }
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

/// Names (without `.` and `..`) and types of a directory's entries. Collected up front so
/// callers may modify the directory while walking the result.
pub(crate) fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<(OsString, rustix::fs::FileType)>> {
    let mut d = rustix::fs::Dir::read_from(dir)?;
    let mut out = Vec::new();
    while let Some(ent) = d.read() {
        let ent = ent?;
        let name = ent.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        out.push((OsStr::from_bytes(name).to_owned(), ent.file_type()));
    }
    Ok(out)
}

/// A path naming `name` in the directory open as `parent`, for the few calls (`lsetxattr`,
/// `lgetxattr`) that have no `*at` form in rustix. `/proc/self/fd/N` is the already verified
/// directory, and the `l*` calls do not follow the final component.
pub(crate) fn proc_fd_path(parent: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", parent.as_raw_fd()));
    p.push(name);
    p
}

/// Recursively sums apparent sizes of regular files and counts directory entries.
pub fn disk_usage(path: &Path) -> io::Result<u64> {
    let root = Root::open(path)?;
    fn walk(dir: BorrowedFd<'_>) -> io::Result<u64> {
        let mut total = 0;
        for (name, ft) in list_dir(dir)? {
            if ft == rustix::fs::FileType::Directory {
                let d = open_child_dir(dir, &name)?;
                total += walk(d.as_fd())?;
            } else {
                let st = rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW)?;
                total += st.st_blocks as u64 * 512;
            }
        }
        Ok(total)
    }
    walk(root.fd())
}

/// Apparent size of what is under `path` as Docker counts it (`docker system df`, `ps -s`):
/// the `st_size` of every non-directory, a file with several links once.
pub fn apparent_size(path: &Path) -> io::Result<u64> {
    let root = Root::open(path)?;
    fn walk(
        dir: BorrowedFd<'_>,
        seen: &mut std::collections::HashSet<(u64, u64)>,
    ) -> io::Result<u64> {
        let mut total = 0;
        for (name, ft) in list_dir(dir)? {
            if ft == rustix::fs::FileType::Directory {
                let d = open_child_dir(dir, &name)?;
                total += walk(d.as_fd(), seen)?;
                continue;
            }
            let st = rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW)?;
            if st.st_nlink > 1 && !seen.insert((st.st_dev as u64, st.st_ino as u64)) {
                continue;
            }
            total += st.st_size as u64;
        }
        Ok(total)
    }
    walk(root.fd(), &mut std::collections::HashSet::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relpath_refuses_dotdot_and_strips_absolute() {
        assert!(RelPath::parse(b"a/../b").is_err());
        assert!(RelPath::parse(b"../x").is_err());
        assert_eq!(
            RelPath::parse(b"/etc/passwd").unwrap().to_string(),
            "/etc/passwd"
        );
        assert_eq!(RelPath::parse(b"./a//b/./").unwrap().depth(), 2);
        assert!(RelPath::parse(b"./").unwrap().is_root());
    }

    #[test]
    fn mkdir_all_does_not_follow_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let root_dir = t.path().join("root");
        let outside = t.path().join("outside");
        std::fs::create_dir_all(&root_dir).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root_dir.join("link")).unwrap();
        let root = Root::open(&root_dir).unwrap();
        let comps = RelPath::parse(b"link/sub").unwrap();
        let err = root.mkdir_all(&comps.0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        assert!(!outside.join("sub").exists());
    }
}
