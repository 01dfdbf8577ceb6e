//! `docker cp`: `GET`/`HEAD`/`PUT /containers/{id}/archive`.
//!
//! berthd reads and writes the container's files itself, from the host, and never runs or
//! loads anything of the container (CVE-2019-14271: a chrooted helper loading the
//! container's NSS libraries). Every path is resolved fd-relative against the container's
//! root with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so a symlink in the
//! container resolves inside the container however it is changed meanwhile
//! (CVE-2018-15664), and each file is then read, created, chowned and chmodded through its
//! own fd or with no-follow `*at` calls. The root is `/proc/PID/root` of a running
//! container (its mounts and volumes included); a stopped one's layers are mounted for the
//! call: read-only on a scratch dir to read, read-write at its rootfs (under the
//! container's operation lock) to write.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::container::Container;
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// A `Write` that hands 64 KiB chunks to an async receiver (an HTTP body). Writing fails
/// with `BrokenPipe` once the receiver is gone, which stops the producer.
pub struct ChanWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChanWriter {
    pub fn new() -> (ChanWriter, mpsc::Receiver<io::Result<Bytes>>) {
        let (tx, rx) = mpsc::channel(8);
        (
            ChanWriter {
                tx,
                buf: Vec::with_capacity(64 << 10),
            },
            rx,
        )
    }

    /// Ends the stream with an error the receiver sees (a truncated body).
    pub fn fail(self, e: io::Error) {
        let _ = self.tx.blocking_send(Err(e));
    }
}

impl Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 64 << 10 {
            self.flush()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(64 << 10),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Drop for ChanWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// The container's root as seen from the host, for the length of one call.
struct RootView {
    path: PathBuf,
    mount: Option<berth_image::snapshot::OverlayMount>,
    scratch: Option<PathBuf>,
}

impl Drop for RootView {
    fn drop(&mut self) {
        drop(self.mount.take());
        if let Some(s) = &self.scratch {
            let _ = std::fs::remove_dir(s);
        }
    }
}

fn io_err(what: &str, path: &str, e: io::Error, container: &str) -> EngineError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => EngineError::NotFound(format!(
            "Could not find the file {path} in container {container}"
        )),
        Some(libc::ENOTDIR) => {
            EngineError::InvalidArgument(format!("{what} {path}: not a directory"))
        }
        Some(libc::ELOOP) => {
            EngineError::InvalidArgument(format!("{what} {path}: too many levels of symlinks"))
        }
        _ => EngineError::Internal(format!("{what} {path}: {e}")),
    }
}

use crate::rootfs::open_root;

/// Opens `path` (absolute in the container) below `root`, symlinks resolved in the root.
fn open_in(root: BorrowedFd<'_>, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
    crate::rootfs::open_in(root, path, flags)
}

/// `path` with every symlink resolved inside the container (at most 40), as an absolute
/// container path: what Docker reports as `linkTarget`.
fn resolve_path(root: BorrowedFd<'_>, path: &str) -> io::Result<String> {
    let mut done: Vec<String> = Vec::new();
    let mut todo: std::collections::VecDeque<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let mut links = 0;
    while let Some(comp) = todo.pop_front() {
        match comp.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        // Below a missing directory nothing can be a symlink: the rest is lexical.
        let parent = match open_in(root, &done.join("/"), OFlags::PATH | OFlags::DIRECTORY) {
            Ok(p) => p,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                done.push(comp);
                continue;
            }
            Err(e) => return Err(e),
        };
        match rustix::fs::readlinkat(&parent, comp.as_str(), Vec::new()) {
            Ok(target) => {
                links += 1;
                if links > 40 {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    done.clear();
                }
                for c in t.split('/').rev().filter(|c| !c.is_empty()) {
                    todo.push_front(c.to_owned());
                }
            }
            Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => done.push(comp),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(format!("/{}", done.join("/")))
}

/// Splits a container path as Docker does: the directory part is resolved in the
/// container, the last component is taken as it is (a symlink is not followed) unless
/// the path ends in `/` (then the directory itself is meant, with the name of its last
/// component) or is `.`.
fn split_path(path: &str) -> (String, String, String) {
    let abs = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    if abs.ends_with('/') {
        let trimmed = abs.trim_end_matches('/');
        let name = trimmed.rsplit('/').next().unwrap_or("").to_owned();
        let name = if name.is_empty() { "/".into() } else { name };
        return (trimmed.to_owned(), String::new(), name);
    }
    let (dir, base) = abs.rsplit_once('/').unwrap_or(("", &abs));
    (dir.to_owned(), base.to_owned(), base.to_owned())
}

/// Go's `os.FileMode` bits, which the docker CLI reads from the stat header.
fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    if st_mode & libc::S_ISUID != 0 {
        m |= 1 << 23;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= 1 << 22;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= 1 << 20;
    }
    m | match FileType::from_raw_mode(st_mode) {
        FileType::Directory => 1 << 31,
        FileType::Symlink => 1 << 27,
        FileType::BlockDevice => 1 << 26,
        FileType::CharacterDevice => (1 << 26) | (1 << 21),
        FileType::Fifo => 1 << 25,
        FileType::Socket => 1 << 24,
        _ => 0,
    }
}

fn rfc3339(secs: i64, nanos: i64) -> String {
    let s = berth_image::timefmt::format_rfc3339(secs);
    format!("{}.{nanos:09}Z", s.trim_end_matches('Z'))
}

/// The entry a GET/HEAD names: an O_PATH fd on it (not followed), its stat, the name it
/// gets in the archive, and Docker's stat JSON.
struct Target {
    fd: OwnedFd,
    stat: rustix::fs::Stat,
    name: String,
    json: Value,
}

fn stat_target(root: BorrowedFd<'_>, path: &str) -> io::Result<Target> {
    let (dir, base, name) = split_path(path);
    let fd = if base.is_empty() || base == "." {
        open_in(root, &dir, OFlags::PATH | OFlags::DIRECTORY)?
    } else {
        let parent = open_in(root, &dir, OFlags::PATH | OFlags::DIRECTORY)?;
        if base == ".." {
            open_in(root, &format!("{dir}/.."), OFlags::PATH | OFlags::DIRECTORY)?
        } else {
            rustix::fs::openat(
                &parent,
                base.as_str(),
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?
        }
    };
    let stat = rustix::fs::fstat(&fd)?;
    let link_target = if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink {
        resolve_path(root, &format!("{dir}/{base}"))?
    } else {
        String::new()
    };
    let json = json!({
        "name": name,
        "size": stat.st_size,
        "mode": go_mode(stat.st_mode),
        "mtime": rfc3339(stat.st_mtime, stat.st_mtime_nsec as i64),
        "linkTarget": link_target,
    });
    Ok(Target {
        fd,
        stat,
        name,
        json,
    })
}

/// Filesystems never copied out of a running container's root (`/proc`, `/sys`, cgroups).
fn is_virtual(fd: BorrowedFd<'_>) -> bool {
    const PROC: i64 = 0x9fa0;
    const SYSFS: i64 = 0x6265_6572;
    const CGROUP: i64 = 0x0027_e0eb;
    const CGROUP2: i64 = 0x6367_7270;
    // f_type's integer type differs between architectures.
    #[allow(clippy::unnecessary_cast)]
    rustix::fs::fstatfs(fd)
        .map(|s| matches!(s.f_type as i64, PROC | SYSFS | CGROUP | CGROUP2))
        .unwrap_or(false)
}

struct TarOut<W: Write> {
    b: tar::Builder<W>,
    /// (dev, ino) → first archive path of multiply-linked files.
    links: HashMap<(u64, u64), String>,
}

impl<W: Write> TarOut<W> {
    fn header(st: &rustix::fs::Stat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid as u64);
        h.set_gid(st.st_gid as u64);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    /// Appends an entry named exactly `name` (and `link`): the tar crate's own path setters
    /// drop a leading `./`, which the docker CLI needs to rebase the entries of a
    /// `SRC/.` copy. Names longer than the header's 100 bytes go in GNU long-name records.
    fn put(
        &mut self,
        h: &mut tar::Header,
        name: &str,
        link: Option<&[u8]>,
        data: impl Read,
    ) -> io::Result<()> {
        berth_image::diff::append_named(&mut self.b, h, name.as_bytes(), link, data)
    }

    /// Writes the entry `name` of directory `dir` (or `fd` itself for the top entry).
    fn entry(&mut self, fd: OwnedFd, st: &rustix::fs::Stat, path: &str) -> io::Result<()> {
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let mut h = Self::header(st, tar::EntryType::Directory);
                self.put(&mut h, &format!("{path}/"), None, io::empty())?;
                let dir = rustix::fs::openat(
                    &fd,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                if is_virtual(dir.as_fd()) {
                    return Ok(());
                }
                let mut names: Vec<OsString> = Vec::new();
                for e in rustix::fs::Dir::read_from(&dir)? {
                    let e = e?;
                    let n = e.file_name().to_bytes();
                    if n != b"." && n != b".." {
                        names.push(OsStr::from_bytes(n).to_owned());
                    }
                }
                names.sort();
                for n in names {
                    let child = match rustix::fs::openat(
                        &dir,
                        n.as_os_str(),
                        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    ) {
                        Ok(f) => f,
                        // Gone meanwhile: the container is running.
                        Err(rustix::io::Errno::NOENT) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    let cst = rustix::fs::fstat(&child)?;
                    let p = format!("{path}/{}", n.to_string_lossy());
                    self.entry(child, &cst, &p)?;
                }
                Ok(())
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        let mut h = Self::header(st, tar::EntryType::Link);
                        let first = first.clone();
                        return self.put(&mut h, path, Some(first.as_bytes()), io::empty());
                    }
                    self.links.insert(key, path.to_owned());
                }
                // Reopen the O_PATH fd for reading: the same inode, no path lookup.
                let f = File::from(rustix::fs::openat(
                    rustix::fs::CWD,
                    format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)),
                    OFlags::RDONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?);
                let mut h = Self::header(st, tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                self.put(&mut h, path, None, f.take(st.st_size as u64))
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(&fd, "", Vec::new())?;
                let mut h = Self::header(st, tar::EntryType::Symlink);
                self.put(&mut h, path, Some(target.as_bytes()), io::empty())
            }
            k @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                let kind = match k {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = Self::header(st, kind);
                h.set_device_major(rustix::fs::major(st.st_rdev))?;
                h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
                self.put(&mut h, path, None, io::empty())
            }
            // Sockets are not archived (as with Docker).
            _ => Ok(()),
        }
    }
}

/// Binds a stopped container's volumes and bind mounts over their destinations in a view
/// of its root, as dockerd mounts them for `cp`: what is copied in lands in the volume,
/// as the container will see it. Each destination is resolved in the root and mounted on
/// through its fd (never by a path a symlink could redirect); one that does not exist in a
/// read-only view is left out. Unmounting the view (detached) takes these along.
/// The container's own `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` (files in its
/// directory, bound there while it runs) are bound the same way, unless a mount of the user's
/// covers them: a stopped container's copy shows the files it had, not the init layer's
/// empty placeholders.
fn bind_volumes(root: &Path, dir: &Path, mounts: &[crate::types::MountPoint], read_only: bool) {
    let Ok(rfd) = open_root(root) else {
        return;
    };
    let etc = ["hostname", "hosts", "resolv.conf"].map(|f| (format!("/etc/{f}"), dir.join(f)));
    let binds = mounts
        .iter()
        .filter(|m| matches!(m.kind.as_str(), "volume" | "bind"))
        .map(|m| (m.destination.as_str(), Path::new(&m.source), m.rw))
        .chain(
            etc.iter()
                .filter(|(d, src)| src.is_file() && !mounts.iter().any(|m| m.destination == *d))
                .map(|(d, src)| (d.as_str(), src.as_path(), true)),
        );
    for (dest, src, rw) in binds {
        let is_dir = src.is_dir();
        if !read_only && is_dir {
            let _ = crate::rootfs::mkdir_all(root, dest);
        }
        let Ok(fd) = open_in(rfd.as_fd(), dest, OFlags::PATH) else {
            continue;
        };
        let target = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        if let Err(e) = rustix::mount::mount_bind_recursive(src, target.as_str()) {
            tracing::warn!(dest, error = %e, "cp: volume not mounted");
            continue;
        }
        // The fd still names the covered directory: the new mount is reached anew.
        if (read_only || !rw)
            && let Ok(top) = open_in(rfd.as_fd(), dest, OFlags::PATH)
        {
            let t = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&top));
            let _ = rustix::mount::mount_remount(
                t.as_str(),
                rustix::mount::MountFlags::BIND | rustix::mount::MountFlags::RDONLY,
                "",
            );
        }
    }
}

/// What `PUT /containers/{id}/archive` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Refuse to replace a directory with a non-directory or the other way round.
    pub no_overwrite_dir_non_dir: bool,
    /// Own everything by the container's user instead of the archive's uid/gid.
    pub copy_uid_gid: bool,
}

fn invalid(m: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, m.into())
}

/// Splits an archive entry name into checked components: leading `/` and `./` dropped,
/// `..` refused (an entry may never leave the extraction directory).
fn entry_components(p: &Path) -> io::Result<Vec<OsString>> {
    let mut out = Vec::new();
    for c in p.as_os_str().as_bytes().split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(invalid(format!(
                    "archive entry {:?} points outside the extraction directory",
                    p
                )));
            }
            c => out.push(OsStr::from_bytes(c).to_owned()),
        }
    }
    Ok(out)
}

fn remove_all_at(parent: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match rustix::fs::unlinkat(parent, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::ISDIR) => {}
        Err(e) => return Err(e.into()),
    }
    let d = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for e in rustix::fs::Dir::read_from(&d)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_owned());
        }
    }
    for n in names {
        remove_all_at(d.as_fd(), &n)?;
    }
    Ok(rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?)
}

struct Extractor<'a> {
    root: BorrowedFd<'a>,
    /// The extraction directory, resolved, absolute in the container.
    dest: String,
    opts: ExtractOptions,
    owner: Option<(u32, u32)>,
    /// Directories extracted and their modification times, set once everything is in
    /// (what goes into a directory changes its times), as dockerd does.
    dir_times: std::cell::RefCell<Vec<(Vec<OsString>, rustix::fs::Timespec)>>,
}

impl Extractor<'_> {
    /// Gives the extracted directories their archive times back (deepest first).
    fn finish(&self) -> io::Result<()> {
        for (comps, mtime) in self.dir_times.borrow().iter().rev() {
            let Some((name, parents)) = comps.split_last() else {
                continue;
            };
            let parent = self.parent(parents)?;
            let times = rustix::fs::Timestamps {
                last_access: *mtime,
                last_modification: *mtime,
            };
            rustix::fs::utimensat(&parent, name.as_os_str(), &times, AtFlags::SYMLINK_NOFOLLOW)?;
        }
        Ok(())
    }

    /// The directory an entry goes into, created (0755, root's) where it is missing, as
    /// dockerd's extraction does: an archive need not list its directories (the docker
    /// CLI's `--use-api-socket` sends `run/secrets/docker/config.json` alone).
    fn parent(&self, comps: &[OsString]) -> io::Result<OwnedFd> {
        let mut p = self.dest.clone();
        let mut dir = open_in(self.root, &p, OFlags::PATH | OFlags::DIRECTORY)?;
        for c in comps {
            p.push('/');
            p.push_str(&c.to_string_lossy());
            dir = match open_in(self.root, &p, OFlags::PATH | OFlags::DIRECTORY) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // (made fd-relative in its parent, itself opened inside the root)
                    rustix::fs::mkdirat(&dir, c.as_os_str(), Mode::from_raw_mode(0o700))?;
                    let d = rustix::fs::openat(
                        &dir,
                        c.as_os_str(),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    rustix::fs::fchown(
                        &d,
                        Some(rustix::fs::Uid::from_raw(0)),
                        Some(rustix::fs::Gid::from_raw(0)),
                    )?;
                    rustix::fs::fchmod(&d, Mode::from_raw_mode(0o755))?;
                    open_in(self.root, &p, OFlags::PATH | OFlags::DIRECTORY)?
                }
                other => other?,
            };
        }
        Ok(dir)
    }

    fn entry<R: Read>(&self, e: &mut tar::Entry<'_, R>) -> io::Result<()> {
        let path = e.path()?.into_owned();
        let comps = entry_components(&path)?;
        let Some((name, parents)) = comps.split_last() else {
            return Ok(()); // the "." entry: the extraction directory itself
        };
        let h = e.header().clone();
        let kind = h.entry_type();
        let parent = self.parent(parents)?;
        let is_dir = kind == tar::EntryType::Directory;
        let existing = rustix::fs::statat(&parent, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
            .ok()
            .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
        match (existing, is_dir) {
            (Some(true), true) => {}
            (Some(was_dir), _) => {
                if self.opts.no_overwrite_dir_non_dir && was_dir != is_dir {
                    let (a, b) = if was_dir {
                        ("directory", "non-directory")
                    } else {
                        ("non-directory", "directory")
                    };
                    return Err(invalid(format!(
                        "cannot overwrite {a} {:?} with {b} {:?}",
                        format!("{}/{}", self.dest, path.display()),
                        path
                    )));
                }
                remove_all_at(parent.as_fd(), name)?;
            }
            (None, _) => {}
        }
        let n = berth_image::unpack::tar_numbers(e).map_err(invalid)?;
        let mode = n.mode & 0o7777;
        let (uid, gid) = match self.owner {
            Some(o) => o,
            None => (
                u32::try_from(n.uid).map_err(|_| invalid(format!("uid {} out of range", n.uid)))?,
                u32::try_from(n.gid).map_err(|_| invalid(format!("gid {} out of range", n.gid)))?,
            ),
        };
        let chown = |fd: BorrowedFd<'_>| {
            rustix::fs::fchown(
                fd,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
        };
        let mtime = rustix::fs::Timespec {
            tv_sec: i64::try_from(n.mtime).unwrap_or(i64::MAX),
            tv_nsec: 0,
        };
        let times = rustix::fs::Timestamps {
            last_access: mtime,
            last_modification: mtime,
        };
        let nofollow = OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match kind {
            tar::EntryType::Directory => {
                if existing.is_none() {
                    rustix::fs::mkdirat(&parent, name.as_os_str(), Mode::from_raw_mode(0o700))?;
                }
                let d = rustix::fs::openat(
                    &parent,
                    name.as_os_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | nofollow,
                    Mode::empty(),
                )?;
                chown(d.as_fd())?;
                rustix::fs::fchmod(&d, Mode::from_raw_mode(mode))?;
                self.dir_times.borrow_mut().push((comps.clone(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let f = rustix::fs::openat(
                    &parent,
                    name.as_os_str(),
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | nofollow,
                    Mode::from_raw_mode(0o600),
                )?;
                let mut f = File::from(f);
                io::copy(e, &mut f)?;
                chown(f.as_fd())?;
                rustix::fs::fchmod(&f, Mode::from_raw_mode(mode))?;
                rustix::fs::futimens(&f, &times)?;
            }
            tar::EntryType::Symlink => {
                let target = h
                    .link_name()?
                    .ok_or_else(|| invalid("symlink without a target"))?;
                rustix::fs::symlinkat(target.as_os_str(), &parent, name.as_os_str())?;
                rustix::fs::chownat(
                    &parent,
                    name.as_os_str(),
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
                rustix::fs::utimensat(
                    &parent,
                    name.as_os_str(),
                    &times,
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
            tar::EntryType::Link => {
                let target = h
                    .link_name()?
                    .ok_or_else(|| invalid("hard link without a target"))?;
                let tcomps = entry_components(&target)?;
                let Some((tname, tparents)) = tcomps.split_last() else {
                    return Err(invalid("hard link to the extraction directory"));
                };
                let tparent = self.parent(tparents)?;
                rustix::fs::linkat(
                    &tparent,
                    tname.as_os_str(),
                    &parent,
                    name.as_os_str(),
                    AtFlags::empty(),
                )?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rustix::fs::makedev(
                    h.device_major()?.unwrap_or(0),
                    h.device_minor()?.unwrap_or(0),
                );
                rustix::fs::mknodat(
                    &parent,
                    name.as_os_str(),
                    ft,
                    Mode::from_raw_mode(0o600),
                    dev,
                )?;
                let f = rustix::fs::openat(
                    &parent,
                    name.as_os_str(),
                    OFlags::PATH | nofollow,
                    Mode::empty(),
                )?;
                // chown/chmod through the fd's own inode, never by a name that could change.
                let p = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&f));
                rustix::fs::chown(
                    p.as_str(),
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                )?;
                rustix::fs::chmod(p.as_str(), Mode::from_raw_mode(mode))?;
            }
            // PAX/GNU metadata entries are consumed by the tar reader; others are skipped.
            _ => {}
        }
        Ok(())
    }
}

impl Engine {
    /// The root of a container for reading: `/proc/PID/root` when it runs, else its
    /// layers mounted read-only on a scratch dir.
    fn read_root(&self, c: &Container) -> Result<RootView> {
        let (running, pid) = {
            let r = c.lock();
            (r.state.running, r.state.pid)
        };
        if running && pid > 0 {
            return Ok(RootView {
                path: PathBuf::from(format!("/proc/{pid}/root")),
                mount: None,
                scratch: None,
            });
        }
        let upper = self.container_dir(&c.id).join("upper");
        let mut lowers = vec![upper.clone()];
        lowers.extend(self.lower_dirs(c)?);
        // Volume mountpoints a container that never ran does not have yet are made in its
        // layer (as its start would), so the read-only view can mount the volumes there.
        for m in c.lock().mounts.iter().filter(|m| {
            matches!(m.kind.as_str(), "volume" | "bind") && Path::new(&m.source).is_dir()
        }) {
            let found = lowers.iter().any(|l| {
                open_root(l)
                    .and_then(|r| open_in(r.as_fd(), &m.destination, OFlags::PATH))
                    .is_ok()
            });
            if !found {
                let _ = crate::rootfs::mkdir_all(&upper, &m.destination);
            }
        }
        let scratch = self.scratch_dir()?;
        match berth_image::snapshot::mount_overlay(&lowers, None, &scratch) {
            Ok(m) => {
                bind_volumes(&scratch, &self.container_dir(&c.id), &c.lock().mounts, true);
                Ok(RootView {
                    path: scratch.clone(),
                    mount: Some(m),
                    scratch: Some(scratch),
                })
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&scratch);
                Err(EngineError::internal("mount container filesystem", e))
            }
        }
    }

    /// `HEAD /containers/{id}/archive`: Docker's path stat (for `X-Docker-Container-Path-Stat`).
    pub async fn archive_stat(&self, name: &str, path: &str) -> Result<Value> {
        let c = self.get(name)?;
        let view = self.read_root(&c)?;
        let (path, name) = (path.to_owned(), name.to_owned());
        tokio::task::spawn_blocking(move || {
            let root = open_root(&view.path).map_err(|e| EngineError::internal("open root", e))?;
            stat_target(root.as_fd(), &path)
                .map(|t| t.json)
                .map_err(|e| io_err("stat", &path, e, &name))
        })
        .await
        .map_err(|e| EngineError::internal("stat", e))?
    }

    /// `GET /containers/{id}/archive`: the stat, then a tar of the path written to `out`
    /// from a blocking thread (the file contents are read through fds, never by name).
    pub async fn archive_get(&self, name: &str, path: &str, out: ChanWriter) -> Result<Value> {
        let c = self.get(name)?;
        let view = self.read_root(&c)?;
        let root = open_root(&view.path).map_err(|e| EngineError::internal("open root", e))?;
        let t = stat_target(root.as_fd(), path).map_err(|e| io_err("stat", path, e, name))?;
        let stat = t.json.clone();
        self.emit_container(&c, "archive-path", &[]);
        tokio::task::spawn_blocking(move || {
            let _view = view;
            let mut w = TarOut {
                b: tar::Builder::new(out),
                links: HashMap::new(),
            };
            let res = w.entry(t.fd, &t.stat, &t.name).and_then(|_| w.b.finish());
            if let Err(e) = res {
                tracing::warn!(error = %e, "archive stream ended early");
                if let Ok(out) = w.b.into_inner() {
                    out.fail(e);
                }
            }
        });
        Ok(stat)
    }

    /// `PUT /containers/{id}/archive`: extracts a tar into the directory `path` of the
    /// container, every entry created below it fd-relative (see the module comment).
    pub async fn archive_put(
        self: &Arc<Self>,
        name: &str,
        path: &str,
        opts: ExtractOptions,
        input: impl Read + Send + 'static,
    ) -> Result<()> {
        let c = self.get(name)?;
        // Where the files may go is decided once the destination is resolved: on a
        // read-only rootfs only into a read-write mount (dockerd's checks).
        let (readonly_rootfs, mounts) = {
            let r = c.lock();
            let m: Vec<(String, bool)> = r
                .mounts
                .iter()
                .map(|m| (m.destination.clone(), m.rw))
                .collect();
            (r.host_config.readonly_rootfs, m)
        };
        // A stopped container's layers are mounted read-write at its rootfs for the call;
        // the operation lock keeps a start from mounting them at the same time. A running
        // one is written through /proc/PID/root without holding up stop or restart.
        let _op = if c.lock().state.running {
            None
        } else {
            Some(c.op.lock().await)
        };
        let (running, pid) = {
            let r = c.lock();
            (r.state.running, r.state.pid)
        };
        let mut mounted_here = false;
        let root_path = if running && pid > 0 {
            PathBuf::from(format!("/proc/{pid}/root"))
        } else {
            let rootfs = self.rootfs(&c.id);
            if !crate::mounts::is_mounted(&rootfs) {
                self.mount_rootfs(&c, false)?;
                mounted_here = true;
                bind_volumes(&rootfs, &self.container_dir(&c.id), &c.lock().mounts, false);
            }
            rootfs
        };
        let user = c.lock().config.user.clone();
        let (path_s, name_s, rp) = (path.to_owned(), name.to_owned(), root_path.clone());
        let res = tokio::task::spawn_blocking(move || -> Result<()> {
            let mut input = input;
            let res = (|| -> Result<()> {
                let input = &mut input;
                let root = open_root(&rp).map_err(|e| EngineError::internal("open root", e))?;
                let owner = if opts.copy_uid_gid {
                    let spec = if user.is_empty() {
                        "0:0"
                    } else {
                        user.as_str()
                    };
                    let (u, g, _, _) = crate::rootfs::resolve_user(&rp, spec)
                        .map_err(EngineError::InvalidArgument)?;
                    Some((u, g))
                } else {
                    None
                };
                let dest = resolve_path(root.as_fd(), &path_s)
                    .map_err(|e| io_err("resolve", &path_s, e, &name_s))?;
                writable_at(&dest, readonly_rootfs, &mounts)?;
                let d = open_in(root.as_fd(), &dest, OFlags::PATH)
                    .map_err(|e| io_err("open", &path_s, e, &name_s))?;
                let st = rustix::fs::fstat(&d).map_err(|e| EngineError::internal("stat", e))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    return Err(EngineError::InvalidArgument(format!(
                        "extraction point is not a directory: {path_s}"
                    )));
                }
                let x = Extractor {
                    root: root.as_fd(),
                    dest,
                    opts,
                    owner,
                    dir_times: Default::default(),
                };
                let mut ar = tar::Archive::new(input);
                for e in ar
                    .entries()
                    .map_err(|e| EngineError::InvalidArgument(format!("read archive: {e}")))?
                {
                    let mut e =
                        e.map_err(|e| EngineError::InvalidArgument(format!("read archive: {e}")))?;
                    x.entry(&mut e).map_err(|err| {
                        let p = e
                            .path()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default();
                        if err.kind() == io::ErrorKind::InvalidInput {
                            EngineError::InvalidArgument(err.to_string())
                        } else {
                            EngineError::Internal(format!("extract {p}: {err}"))
                        }
                    })?;
                }
                x.finish()
                    .map_err(|e| EngineError::Internal(format!("extract: directory times: {e}")))
            })();
            // Read what the client still sends (the end-of-archive blocks, or the rest
            // after a refusal, up to a bound) so it gets this answer, not a reset.
            let cap = if res.is_ok() { u64::MAX } else { 64 << 20 };
            let _ = io::copy(&mut input.take(cap), &mut io::sink());
            res
        })
        .await
        .map_err(|e| EngineError::internal("extract", e));
        if mounted_here {
            crate::mounts::unmount(&root_path);
        }
        res??;
        self.emit_container(&c, "extract-to-dir", &[]);
        Ok(())
    }
}

/// dockerd's refusals of a copy into `dest`: into a read-only mount (the innermost one
/// holding `dest`), or outside every mount of a container with a read-only rootfs.
fn writable_at(dest: &str, readonly_rootfs: bool, mounts: &[(String, bool)]) -> Result<()> {
    let under = |m: &str| {
        let m = m.trim_end_matches('/');
        m.is_empty()
            || dest == m
            || dest
                .strip_prefix(m)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    match mounts
        .iter()
        .filter(|(m, _)| under(m))
        .max_by_key(|(m, _)| m.trim_end_matches('/').len())
    {
        Some((_, false)) => Err(EngineError::Conflict(
            "mounted volume is marked read-only".into(),
        )),
        Some((_, true)) => Ok(()),
        None if readonly_rootfs => Err(EngineError::Conflict(
            "container rootfs is marked read-only".into(),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_into_read_only_places_are_refused() {
        let m = vec![("/data".to_string(), true), ("/data/ro".to_string(), false)];
        assert!(writable_at("/data/x", true, &m).is_ok());
        assert!(writable_at("/data/ro/x", false, &m).is_err());
        assert!(writable_at("/database", true, &m).is_err());
        assert!(writable_at("/tmp", false, &m).is_ok());
    }

    #[test]
    fn paths_split_like_docker() {
        assert_eq!(split_path("/a/b"), ("/a".into(), "b".into(), "b".into()));
        assert_eq!(split_path("a/b/"), ("/a/b".into(), "".into(), "b".into()));
        assert_eq!(split_path("/a/."), ("/a".into(), ".".into(), ".".into()));
        assert_eq!(split_path("/"), ("".into(), "".into(), "/".into()));
    }

    #[test]
    fn entries_with_dotdot_are_refused() {
        assert!(entry_components(Path::new("a/../../etc")).is_err());
        assert_eq!(
            entry_components(Path::new("/./a//b")).unwrap(),
            [OsString::from("a"), OsString::from("b")]
        );
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("x/y")).unwrap();
        std::os::unix::fs::symlink("/x", d.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", d.path().join("x/up")).unwrap();
        let root = open_root(d.path()).unwrap();
        assert_eq!(resolve_path(root.as_fd(), "/abs/y").unwrap(), "/x/y");
        assert_eq!(
            resolve_path(root.as_fd(), "/x/up/passwd").unwrap(),
            "/etc/passwd"
        );
        // Opening through the symlinks stays inside too.
        assert!(open_in(root.as_fd(), "/x/up/passwd", OFlags::RDONLY).is_err());
    }

    /// An extractor into `root` at "/", as `docker cp` into a container uses it.
    fn extractor_at(root: BorrowedFd<'_>) -> Extractor<'_> {
        Extractor {
            root,
            dest: "/".into(),
            opts: ExtractOptions {
                no_overwrite_dir_non_dir: true,
                copy_uid_gid: false,
            },
            owner: None,
            dir_times: Default::default(),
        }
    }

    fn extract_all(x: &Extractor<'_>, tar: &[u8]) {
        for e in tar::Archive::new(tar).entries().unwrap() {
            x.entry(&mut e.unwrap()).unwrap();
        }
    }

    #[test]
    fn missing_parents_of_an_entry_are_created_as_dockerd_creates_them() {
        use std::os::unix::fs::PermissionsExt;
        if !rustix::process::geteuid().is_root() {
            return; // (the directories are made root's)
        }
        let d = tempfile::tempdir().unwrap();
        let root = open_root(d.path()).unwrap();
        let x = extractor_at(root.as_fd());
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_path("run/secrets/docker/config.json").unwrap();
        h.set_size(2);
        h.set_mode(0o600);
        h.set_uid(rustix::process::getuid().as_raw().into());
        h.set_gid(rustix::process::getgid().as_raw().into());
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, &b"{}"[..]).unwrap();
        extract_all(&x, &b.into_inner().unwrap());
        let f = d.path().join("run/secrets/docker/config.json");
        assert_eq!(std::fs::read(&f).unwrap(), b"{}");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&f), 0o600);
        assert_eq!(mode(&d.path().join("run/secrets")), 0o755);
    }

    #[test]
    fn blank_owner_fields_and_pax_owners_are_read_as_go_reads_them() {
        use std::os::unix::fs::MetadataExt;
        if !rustix::process::geteuid().is_root() {
            return; // (chown)
        }
        let d = tempfile::tempdir().unwrap();
        let root = open_root(d.path()).unwrap();
        let x = extractor_at(root.as_fd());
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_path("blank").unwrap();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_mtime(5);
        h.as_old_mut().uid = [0; 8];
        h.as_old_mut().gid = *b"        ";
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        b.append_pax_extensions([("uid", &b"70000"[..]), ("mtime", &b"9.5"[..])])
            .unwrap();
        h.set_path("big").unwrap();
        h.set_cksum();
        b.append(&h, &b"y"[..]).unwrap();
        extract_all(&x, &b.into_inner().unwrap());
        x.finish().unwrap();
        let m = |n: &str| std::fs::symlink_metadata(d.path().join(n)).unwrap();
        assert_eq!(
            (m("blank").uid(), m("blank").gid(), m("blank").mtime()),
            (0, 0, 5)
        );
        assert_eq!(
            (m("big").uid(), m("big").gid(), m("big").mtime()),
            (70000, 0, 9)
        );
    }

    #[test]
    fn go_modes() {
        assert_eq!(go_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(go_mode(libc::S_IFREG | 0o4755), (1 << 23) | 0o755);
    }
}
