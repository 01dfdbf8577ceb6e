//! Protection of the runtime binary against CVE-2019-5736: a process in the container that
//! gets hold of `/proc/PID/exe` of a runtime process (or runs `/proc/self/exe` itself) must
//! not be able to open the host binary for writing.
//!
//! Before any process enters a container we re-execute ourselves from a read-only view of our
//! own binary: an `open_tree` clone of the file, made read-only with `mount_setattr` and never
//! attached anywhere. `/proc/self/exe` then names a file on a read-only mount, so every write
//! through it fails with EROFS — without copying the binary into a memfd. When the binary
//! already lives on a read-only mount (or is a sealed memfd) nothing is done.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;

use crate::error::{Error, Result};

const GUARD_ENV: &str = "_BERTH_RUNTIME_EXE_GUARD";

/// Whether writes through /proc/self/exe are already impossible.
pub fn is_protected() -> bool {
    if let Ok(st) = rustix::fs::statvfs("/proc/self/exe")
        && st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY)
    {
        return true;
    }
    if let Ok(fd) = rustix::fs::open(
        "/proc/self/exe",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) && let Ok(seals) = rustix::fs::fcntl_get_seals(&fd)
        && seals.contains(rustix::fs::SealFlags::WRITE)
    {
        return true;
    }
    false
}

/// A read-only, never attached clone of the file at `path`: a binary executed from it (by
/// `execveat` or `/proc/self/fd/N`) is protected as [`ensure`] wants, so a parent that spawns
/// many such processes (berthd its shims) can open it once and spare each child its re-exec.
pub fn readonly_clone(path: impl rustix::path::Arg) -> Result<std::os::fd::OwnedFd> {
    let tree = rustix::mount::open_tree(
        rustix::fs::CWD,
        path,
        rustix::mount::OpenTreeFlags::OPEN_TREE_CLONE
            | rustix::mount::OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(|e| Error::sys("open_tree of the binary", e))?;
    crate::mounts::setattr(
        tree.as_fd(),
        false,
        crate::mounts::MOUNT_ATTR_RDONLY
            | crate::mounts::MOUNT_ATTR_NOSUID
            | crate::mounts::MOUNT_ATTR_NODEV,
        0,
        0,
    )?;
    Ok(tree)
}

/// Re-executes the current process from a read-only view of its binary unless it is
/// protected already. Returns only when no re-exec was needed (or possible).
pub fn ensure() -> Result<()> {
    if is_protected() {
        name_from_argv0();
        return Ok(());
    }
    if std::env::var_os(GUARD_ENV).is_some() {
        return Err(Error::Other(
            "re-executed from a read-only binary but /proc/self/exe is still writable".into(),
        ));
    }
    let tree = readonly_clone("/proc/self/exe")?;
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.push(CString::new(format!("{GUARD_ENV}=1")).expect("no NUL"));
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // The tree fd is close-on-exec: an ELF binary is mapped before descriptors are closed.
    // SAFETY: valid fd, empty path with AT_EMPTY_PATH, NUL-terminated argv/envp arrays.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            tree.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(Error::sys(
        "re-exec from read-only binary",
        std::io::Error::last_os_error(),
    ))
}

/// A binary executed through a descriptor (`execveat` on the read-only view, or
/// /proc/self/fd/N) is named after the descriptor's number in `ps`, `top` and `pgrep`:
/// take the name from `argv[0]` again.
fn name_from_argv0() {
    let Some(a0) = std::env::args_os().next() else {
        return;
    };
    let base = a0
        .as_bytes()
        .rsplit(|&b| b == b'/')
        .next()
        .unwrap_or_default();
    // The kernel keeps 15 bytes of a task's name.
    if let Ok(name) = CString::new(&base[..base.len().min(15)])
        && !name.is_empty()
    {
        let _ = rustix::thread::set_name(&name);
    }
}

/// Drops the guard marker so it does not leak into containers' environments.
pub fn clear_marker() {
    if std::env::var_os(GUARD_ENV).is_some() {
        // SAFETY: single-threaded at this point (called first thing in main).
        unsafe { std::env::remove_var(GUARD_ENV) };
    }
}
