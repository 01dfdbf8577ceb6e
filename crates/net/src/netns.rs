//! Named network namespaces as bind-mounted files (`<exec-root>/netns/<id>`).
//!
//! The file is what the OCI runtime joins through `linux.namespaces[type=network].path`,
//! and what CNI plugins receive as `CNI_NETNS`. A namespace is created on a short-lived
//! thread that unshares `CLONE_NEWNET` and bind-mounts `/proc/thread-self/ns/net` onto the
//! file (through a descriptor: one is made ahead of time, see [`take_spare`]): namespaces
//! are per thread, so the caller's threads (tokio workers included) never leave the host
//! namespace. The bind mount keeps the namespace alive after that thread
//! exits; deleting it is an unmount plus an unlink.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::mount::UnmountFlags;
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

/// Errors of namespace file handling; each names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("netns {path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("netns {path}: the helper thread panicked")]
    ThreadPanicked { path: PathBuf },
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> NetnsError + 'a {
    move |source| NetnsError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// A network namespace pinned by a bind mount on `path`.
///
/// Dropping the handle does not delete the namespace: its lifetime belongs to the container,
/// and a restarted daemon finds it again with [`NetNs::open`]. Call [`NetNs::delete`].
#[derive(Debug)]
pub struct NetNs {
    path: PathBuf,
    fd: OwnedFd,
}

impl NetNs {
    /// Creates a new empty network namespace pinned at `path` (parent directories are
    /// created). Fails if `path` already exists, so two containers never share one by
    /// accident.
    pub fn create(path: impl Into<PathBuf>) -> Result<Self, NetnsError> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(dir, "create directory"))?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path, "create mount point"))?;
        // A spare made ahead of time when there is one (see [`take_spare`]), else a new one.
        let res = match take_spare() {
            Some(fd) => Ok(fd),
            None => new_unpinned(&path),
        }
        .and_then(|fd| {
            rustix::mount::mount_bind(format!("/proc/self/fd/{}", fd.as_raw_fd()), &path)
                .map_err(|e| io_err(&path, "bind mount")(e.into()))
        });
        if let Err(e) = res {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        match Self::open(&path) {
            Ok(ns) => Ok(ns),
            Err(e) => {
                let _ = remove(&path);
                Err(e)
            }
        }
    }

    /// Opens an existing namespace file (e.g. after a daemon restart).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, NetnsError> {
        let path = path.into();
        let fd = File::open(&path).map_err(io_err(&path, "open"))?.into();
        Ok(Self { path, fd })
    }

    /// The file to put in the OCI spec and in `CNI_NETNS`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An open descriptor of the namespace, e.g. for `IFLA_NET_NS_FD`.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Runs `f` on a fresh thread that has joined this namespace, and returns its result.
    ///
    /// A separate thread is used because `setns` changes only the calling thread, and the
    /// caller's thread (often a tokio worker) must stay in the host namespace.
    pub fn run<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> Result<T, NetnsError> {
        let fd = self.fd.as_fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                rustix::thread::move_into_link_name_space(fd, Some(LinkNameSpaceType::Network))
                    .map_err(|e| io_err(&self.path, "setns")(e.into()))?;
                Ok(f())
            })
            .join()
            .map_err(|_| NetnsError::ThreadPanicked {
                path: self.path.clone(),
            })?
        })
    }

    /// Unmounts and unlinks the namespace file. Interfaces inside go away with the namespace
    /// once no process holds it (a veth's host end goes with its peer).
    pub fn delete(self) -> Result<(), NetnsError> {
        let Self { path, fd } = self;
        drop(fd);
        remove(&path)
    }
}

/// A new network namespace with `lo` up, held only by the returned descriptor, made on a
/// short-lived thread so that no thread of the caller leaves the host namespace. (`what`
/// names the file it is for, in errors.)
fn new_unpinned(what: &Path) -> Result<OwnedFd, NetnsError> {
    let target = what.to_path_buf();
    std::thread::spawn(move || in_new_netns(&target))
        .join()
        .map_err(|_| NetnsError::ThreadPanicked {
            path: what.to_path_buf(),
        })?
}

/// Moves the calling thread into a new network namespace, brings `lo` up and returns a
/// descriptor of the namespace. Only for a thread that exits right after.
fn in_new_netns(what: &Path) -> Result<OwnedFd, NetnsError> {
    // SAFETY: only CLONE_NEWNET is unshared, which changes no memory, file table or
    // filesystem state that other code in this process relies on; the caller's thread runs
    // nothing else before it exits.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }
        .map_err(|e| io_err(what, "unshare(CLONE_NEWNET)")(e.into()))?;
    // A fresh namespace has lo down; containers (and `--network none`) expect it up, and a
    // runtime that joins a namespace by path does not touch it.
    loopback_up().map_err(io_err(what, "bring lo up"))?;
    File::open("/proc/thread-self/ns/net")
        .map(OwnedFd::from)
        .map_err(io_err(what, "open /proc/thread-self/ns/net"))
}

/// The network namespace made ahead of time for the next container start (see
/// [`take_spare`]).
static SPARE: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);

/// Takes the spare network namespace (a new one with `lo` up, never handed out before) and
/// starts making the next one on a thread of its own: a namespace costs ~0.2 ms of
/// kernel work, which is then off the container start's path. None when there is no spare
/// yet (the first start, or two starts in a row faster than a namespace is made); the
/// caller makes its own then.
pub fn take_spare() -> Option<OwnedFd> {
    let fd = SPARE.lock().unwrap_or_else(|p| p.into_inner()).take();
    std::thread::spawn(|| {
        if SPARE.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return;
        }
        // (this thread is a short-lived one of its own)
        match in_new_netns(Path::new("(spare)")) {
            Ok(fd) => {
                // A concurrent refill may have put one there first: keep either, drop the other.
                let _ = SPARE
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(fd);
            }
            Err(e) => tracing::debug!(error = %e, "no spare network namespace"),
        }
    });
    fd
}

/// Sets IFF_UP on `lo` in the calling thread's network namespace.
fn loopback_up() -> std::io::Result<()> {
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    // SAFETY: ifreq is a plain C struct for which all-zero bytes are a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo") {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name from and writes the flags into
    // `ifr`, which lives for the whole call; the socket fd is open.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the ifru_flags member of the union.
    unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; SIOCSIFFLAGS only reads `ifr`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Unmounts and unlinks a namespace file by path; a missing file is not an error, so
/// cleanup after a crash can call it blindly.
pub fn remove(path: &Path) -> Result<(), NetnsError> {
    match rustix::mount::unmount(path, UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(io_err(path, "unmount")(e.into())),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path, "unlink")(e)),
    }
}

/// The container IDs that have a namespace file under `exec_root`, for reconciling after
/// a daemon restart: files whose container is gone are passed to [`remove`].
pub fn list(exec_root: &Path) -> Result<Vec<String>, NetnsError> {
    let dir = exec_root.join("netns");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&dir, "list")(e)),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// The namespace file of container `id` under `exec_root` (`<exec-root>/netns/<id>`).
pub fn path_for(exec_root: &Path, id: &str) -> PathBuf {
    exec_root.join("netns").join(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn created_netns_is_joined_by_run_and_removed_by_delete() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "c1");
        let ns = NetNs::create(&path).unwrap();
        let file_ino = std::fs::metadata(&path).unwrap().ino();
        let host_ino = std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino();
        assert_ne!(file_ino, host_ino, "the file pins a new namespace");
        let inside = ns
            .run(|| std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino())
            .unwrap();
        assert_eq!(inside, file_ino);
        // The caller's thread never moved.
        assert_eq!(
            std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino(),
            host_ino
        );
        // lo is up, so `--network none` containers have a working loopback.
        let lo = ns
            .run(|| {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                std::net::TcpStream::connect(l.local_addr().unwrap()).is_ok()
            })
            .unwrap();
        assert!(lo, "loopback usable in the new namespace");
        let again = NetNs::open(&path).unwrap();
        drop(again);
        assert_eq!(list(dir.path()).unwrap(), vec!["c1".to_string()]);
        ns.delete().unwrap();
        assert!(!path.exists());
        remove(&path).unwrap();
        assert!(list(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn create_refuses_an_existing_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(dir.path(), "dup");
        let ns = NetNs::create(&path).unwrap();
        assert!(NetNs::create(&path).is_err());
        ns.delete().unwrap();
    }
}
