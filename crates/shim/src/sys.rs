//! Thin syscall helpers on raw descriptors, for the event loop. Everything opened here is
//! close-on-exec: the container gets exactly the descriptors installed as its 0, 1 and 2.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// A pipe, both ends close-on-exec and blocking (the container's end must block; the
/// shim makes its own end non-blocking with [`set_nonblock`]). Returns (read, write).
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| Error::sys("pipe", e))
}

pub fn set_nonblock(fd: BorrowedFd<'_>) -> Result<()> {
    let fl = rustix::fs::fcntl_getfl(fd).map_err(|e| Error::sys("fcntl F_GETFL", e))?;
    rustix::fs::fcntl_setfl(fd, fl | OFlags::NONBLOCK).map_err(|e| Error::sys("fcntl F_SETFL", e))
}

pub fn dev_null(flags: OFlags) -> Result<OwnedFd> {
    rustix::fs::open("/dev/null", flags | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::path("open", "/dev/null", e.into()))
}

/// Points our own 0, 1, 2 at /dev/null (the shim has no terminal and no reader of its own
/// output once berthd has gone).
pub fn null_stdio() -> Result<()> {
    let null = dev_null(OFlags::RDWR)?;
    for target in 0..3 {
        // SAFETY: dup2 onto the standard descriptors of this process, which it owns.
        if unsafe { libc::dup2(null.as_raw_fd(), target) } < 0 {
            return Err(Error::sys(
                "dup2 /dev/null",
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

/// Closes every descriptor above stderr.
pub fn close_inherited() {
    // SAFETY: close_range on descriptors nothing in this process uses yet (called first
    // thing in main). Before Linux 5.9 this fails and the descriptors stay.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
}

fn sigset(sigs: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it.
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        for &sig in sigs {
            libc::sigaddset(&mut s, sig);
        }
        s
    }
}

/// Blocks SIGCHLD (delivered through the returned signalfd instead) and SIGPIPE (a write to
/// a closed pipe or socket then fails with EPIPE instead of killing the shim). Called after
/// the container's init exists, because the mask is inherited across clone and execve; exec
/// processes unblock everything before their execve.
pub fn block_signals() -> Result<OwnedFd> {
    let set = sigset(&[libc::SIGCHLD, libc::SIGPIPE]);
    // SAFETY: a valid, initialised sigset; the shim is single-threaded.
    unsafe {
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(Error::sys("sigprocmask", std::io::Error::last_os_error()));
        }
    }
    let chld = sigset(&[libc::SIGCHLD]);
    // SAFETY: a valid sigset; the descriptor returned is new and owned by us.
    let fd = unsafe { libc::signalfd(-1, &chld, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if fd < 0 {
        return Err(Error::sys("signalfd", std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just returned by signalfd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Puts every signal back to its default action. Ignored dispositions survive fork and
/// execve, so whatever berthd (or a shell) ignored, and the SIGPIPE Rust's runtime ignores,
/// would otherwise reach the container's processes (`yes | head` would spin). The raw
/// syscall also covers 32 and 33, which glibc's sigaction refuses to touch.
pub fn default_signals() {
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: 0, // SIG_DFL
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a valid, initialised struct in the kernel's layout (8-byte
        // signal mask) and no old-action pointer; SIG_DFL needs no restorer.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
}

/// Empties the signalfd (the signals only say "look at your children").
pub fn drain_signalfd(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 128 * 4];
    while let Ok(n) = rustix::io::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// One reaped child: (pid, raw wait status).
pub fn reap_any() -> Option<(i32, i32)> {
    let mut status = 0;
    // SAFETY: waitpid with a valid status pointer.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    (pid > 0).then_some((pid, status))
}

/// Reads into `buf`: Ok(Some(n)) with n = 0 at end of file, Ok(None) when it would block.
/// EIO is end of file too (a pty master whose last peer closed).
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(n) => return Ok(Some(n)),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Ok(None),
            Err(Errno::IO) => return Ok(Some(0)),
            Err(e) => return Err(e.into()),
        }
    }
}

/// `read` for a request connection, also taking one descriptor passed with the bytes
/// (SCM_RIGHTS; any more are closed).
pub fn recv_with_fd(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
) -> std::io::Result<Option<(usize, Option<OwnedFd>)>> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    loop {
        let mut anc = RecvAncillaryBuffer::new(&mut space);
        let r = rustix::net::recvmsg(
            fd,
            &mut [std::io::IoSliceMut::new(&mut *buf)],
            &mut anc,
            RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
        );
        match r {
            Ok(r) => {
                let mut passed = None;
                for m in anc.drain() {
                    if let RecvAncillaryMessage::ScmRights(fds) = m {
                        for f in fds {
                            passed.get_or_insert(f);
                        }
                    }
                }
                return Ok(Some((r.bytes, passed)));
            }
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes what it can without blocking: Ok(n) bytes taken (0 when full).
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> std::io::Result<usize> {
    loop {
        match rustix::io::write(fd, buf) {
            Ok(n) => return Ok(n),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Moves up to `len` bytes from `from` into the pipe `to` without copying them through
/// this process, never blocking: Ok(None) when either side would block.
pub fn splice_into_pipe(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    len: usize,
) -> std::io::Result<Option<usize>> {
    use rustix::pipe::SpliceFlags;
    loop {
        match rustix::pipe::splice(
            from,
            None,
            to,
            None,
            len,
            SpliceFlags::NONBLOCK | SpliceFlags::MOVE,
        ) {
            Ok(n) => return Ok(Some(n)),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends `a` then `b` on a socket in one call, without blocking and without SIGPIPE:
/// Ok(bytes taken), 0 when the socket buffer is full.
pub fn send(fd: BorrowedFd<'_>, a: &[u8], b: &[u8]) -> std::io::Result<usize> {
    let iov = [std::io::IoSlice::new(a), std::io::IoSlice::new(b)];
    let iov = if b.is_empty() { &iov[..1] } else { &iov[..] };
    loop {
        match rustix::net::sendmsg(
            fd,
            iov,
            &mut rustix::net::SendAncillaryBuffer::default(),
            rustix::net::SendFlags::NOSIGNAL | rustix::net::SendFlags::DONTWAIT,
        ) {
            Ok(n) => return Ok(n),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
    }
}

/// `poll(2)` over raw descriptors; `timeout_ms` < 0 waits forever.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> Result<()> {
    // SAFETY: the pointer and length describe a live, initialised slice of pollfd.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(Error::sys("poll", e));
        }
        for f in fds.iter_mut() {
            f.revents = 0;
        }
    }
    Ok(())
}

pub fn pollfd(fd: RawFd, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

pub fn raw(fd: &impl AsFd) -> RawFd {
    fd.as_fd().as_raw_fd()
}

/// Writes `data` to `path` so that a reader sees nothing or all of it: temp file, then
/// rename. No fsync: these files live in the exec root, which is runtime state (tmpfs on
/// most hosts, meaningless after a reboot); atomicity against a crashed process is what
/// matters, and the page cache gives it. An fsync here was on every start's critical path.
pub fn write_atomic(path: &std::path::Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).map_err(|e| Error::path("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::path("rename", path, e))
}

/// A file's identity (device, inode), to remove it later only if it is still the same file.
pub fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Removes `path` if it is still the file `id` names: a file put there since (by a shim
/// started for the same container after this one was given up) is left alone.
pub fn remove_if_same(path: &std::path::Path, id: Option<(u64, u64)>) {
    if id.is_some() && file_id(path) == id {
        let _ = std::fs::remove_file(path);
    }
}

/// A buffer whose pages exist only once written (an anonymous mapping), and can be handed
/// back to the kernel when the shim goes idle: a shim lives as long as its container, and
/// a 64 KiB buffer kept dirty after one burst of output would be a fifth of its memory.
pub struct PageBuf {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl PageBuf {
    pub fn new(len: usize) -> Result<PageBuf> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::sys("mmap", std::io::Error::last_os_error()));
        }
        let ptr = std::ptr::NonNull::new(p.cast::<u8>())
            .ok_or_else(|| Error::Other("mmap returned null".into()))?;
        Ok(PageBuf { ptr, len })
    }

    pub fn get(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is our mapping, readable, alive until drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn get_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `get`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Gives the pages back; they read as zeros (and cost nothing) until written again.
    pub fn release(&mut self) {
        // SAFETY: MADV_DONTNEED on our own private anonymous mapping; `&mut self` means no
        // slice into it is alive.
        unsafe { libc::madvise(self.ptr.as_ptr().cast(), self.len, libc::MADV_DONTNEED) };
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping; no reference into it outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Gives back the stack pages below the current frame. Creating a container (OCI config
/// parsing, seccomp compilation) runs deep; afterwards the shim's loop needs a few KiB, and
/// the dirty pages below would stay resident for the container's life.
#[inline(never)]
pub fn release_unused_stack() {
    const PAGE: usize = 4096;
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    let Some(low) = stack_low() else { return };
    // A margin below our own frame for whatever madvise itself and its callers push.
    let top = (sp & !(PAGE - 1)).saturating_sub(2 * PAGE);
    if top <= low {
        return;
    }
    // SAFETY: [low, top) is inside this thread's stack mapping and below the current stack
    // pointer by a margin: no live frame is there (no signal handlers run on this stack;
    // signals are read from a signalfd). The pages read as zeros when touched again.
    unsafe { libc::madvise(low as *mut libc::c_void, top - low, libc::MADV_DONTNEED) };
}

/// The lowest address of the main thread's stack mapping, from /proc/self/maps.
fn stack_low() -> Option<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let line = maps.lines().find(|l| l.ends_with("[stack]"))?;
    let start = line.split('-').next()?;
    usize::from_str_radix(start, 16).ok()
}

/// Rewrites the command line that `ps` shows (the memory /proc/self/cmdline is read from)
/// within its original length, cut at a whole argument. A standby shim gets its arguments
/// on stdin; this shows them as if they had been on its command line.
pub fn set_cmdline(args: &[&str]) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return;
    };
    // `rest` starts at field 3; arg_start and arg_end are fields 48 and 49.
    let f: Vec<&str> = rest.split(' ').collect();
    let num = |i: usize| f.get(i).and_then(|v| v.trim().parse::<usize>().ok());
    let (Some(start), Some(end)) = (num(45), num(46)) else {
        return;
    };
    if end <= start || end - start > 1 << 16 {
        return;
    }
    let len = end - start;
    let mut text = Vec::with_capacity(len);
    for a in args {
        if text.len() + a.len() + 1 > len {
            break;
        }
        text.extend_from_slice(a.as_bytes());
        text.push(0);
    }
    text.resize(len, 0);
    // SAFETY: [start, end) is this process's own argument area (initial stack), mapped
    // writable; nothing holds a reference to it (the arguments were copied out before).
    unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), start as *mut u8, len) };
}
