//! The json-file `compress` option: a rotated log file `F.1` becomes `F.1.gz` in a child
//! process (forked; the shim is single-threaded), so the event loop never waits for it
//! except before the next rotation, which must not rename `F.1` while it is being read.
//!
//! The gzip header's file name is `DEV:INO` of the file that was compressed: berthd's log
//! reader follows a file by that identity across its rotation and compression.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A compression running in a child process.
pub struct Pending {
    /// The child's pidfd: readable once it has exited, whoever reaps it (the shim's SIGCHLD
    /// handling reaps every child), so a recycled pid can never be waited for by mistake.
    pidfd: OwnedFd,
}

impl Pending {
    /// Waits until the child has exited.
    pub fn wait(self) {
        let mut fds = [crate::sys::pollfd(
            crate::sys::raw(&self.pidfd),
            libc::POLLIN,
        )];
        while crate::sys::poll(&mut fds, -1).is_ok() && fds[0].revents == 0 {}
    }
}

/// `path` + `.gz`.
pub fn gz_name(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".gz");
    PathBuf::from(p)
}

/// Compresses `src` into `src.gz` (through a temporary name, then renamed) and removes
/// `src`, in a child process. None when the child could not be made: `src` then stays as
/// it is (readers read it uncompressed).
pub fn start(src: &Path) -> Option<Pending> {
    // SAFETY: the shim is single-threaded, so the child may allocate and run Rust code; it
    // leaves through _exit without running the parent's destructors or atexit handlers.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // Only the two files it makes: no client socket or pipe stays open in it.
        // SAFETY: closes this process's own descriptors from 3 up.
        unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
        let ok = compress(src).is_ok();
        // SAFETY: ends the child at once (see above).
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    if pid < 0 {
        return None;
    }
    let pid = rustix::process::Pid::from_raw(pid)?;
    match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
        Ok(pidfd) => Some(Pending { pidfd }),
        Err(_) => {
            // Without a pidfd (kernels before 5.3): wait now.
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
            None
        }
    }
}

/// The work of the child (also usable in-process).
pub fn compress(src: &Path) -> std::io::Result<()> {
    let dst = gz_name(src);
    let mut tmp = dst.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut input = File::open(src)?;
    let meta = input.metadata()?;
    let result = (|| {
        let out = File::create(&tmp)?;
        let mut enc = flate2::GzBuilder::new()
            .filename(format!("{}:{}", meta.dev(), meta.ino()))
            .write(out, flate2::Compression::default());
        std::io::copy(&mut input, &mut enc)?;
        enc.finish()?.flush()?;
        std::fs::rename(&tmp, &dst)?;
        std::fs::remove_file(src)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
