//! Terminals and supervision of a foreground container process.
//!
//! With `--console-socket`, the pty master made inside the container is handed to the caller
//! over a unix socket (SCM_RIGHTS), which is how containerd's shim and conmon expect it. A
//! foreground `run`/`exec` without a socket keeps the master itself and bridges it to its own
//! terminal in raw mode, forwarding window size changes and signals.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use rustix::event::{PollFd, PollFlags};
use rustix::termios::Termios;

use crate::error::{Error, Result};

/// Connects to the caller's console socket.
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| Error::path("connect console socket", path, e))?;
    Ok(OwnedFd::from(s))
}

/// Restores the terminal when dropped, on every exit path.
pub struct RawGuard {
    fd: OwnedFd,
    saved: Termios,
}

impl RawGuard {
    pub fn new(tty: BorrowedFd<'_>) -> Option<RawGuard> {
        let saved = rustix::termios::tcgetattr(tty).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(tty, rustix::termios::OptionalActions::Now, &raw).ok()?;
        let fd = rustix::io::fcntl_dupfd_cloexec(tty, 3).ok()?;
        Some(RawGuard { fd, saved })
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            &self.fd,
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

const FORWARDED: &[i32] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGCONT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGALRM,
    libc::SIGPWR,
];

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

/// Blocks the signals the supervisor handles and returns a signalfd for them. Call this only
/// after the container process exists: the mask is inherited across fork and exec.
pub fn signal_fd() -> Result<OwnedFd> {
    let mut all = FORWARDED.to_vec();
    all.extend([libc::SIGCHLD, libc::SIGWINCH]);
    let set = sigset(&all);
    // SAFETY: valid sigset pointer; this process is single-threaded.
    unsafe {
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(Error::sys("sigprocmask", std::io::Error::last_os_error()));
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(Error::sys("signalfd", std::io::Error::last_os_error()));
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Unblocks everything (for children forked after [`signal_fd`]).
pub fn unblock_all() {
    // SAFETY: plain libc calls on a local, initialised sigset.
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        libc::sigprocmask(libc::SIG_SETMASK, &s, std::ptr::null_mut());
    }
}

/// Exit code as a shell reports it: the code, or 128+N when killed by signal N.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

fn copy_winsize(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok(ws) = rustix::termios::tcgetwinsize(from) {
        let _ = rustix::termios::tcsetwinsize(to, ws);
    }
}

/// Gives `master` the window size of our stdin, when that is a terminal.
pub fn inherit_winsize(master: BorrowedFd<'_>) {
    let stdin = rustix::stdio::stdin();
    if rustix::termios::isatty(stdin) {
        copy_winsize(stdin, master);
    }
}

/// Waits for `pid` (our child), forwarding signals to it and bridging `master` (if any) to our
/// stdin/stdout. Returns the process's exit code. Other children (re-parented to us as a
/// subreaper) are reaped along the way.
pub fn supervise(pid: i32, sfd: OwnedFd, master: Option<OwnedFd>) -> Result<i32> {
    let stdin = rustix::stdio::stdin();
    let stdout = rustix::stdio::stdout();
    let _raw = master.as_ref().and_then(|_| {
        if rustix::termios::isatty(stdin) {
            RawGuard::new(stdin)
        } else {
            None
        }
    });
    if let Some(m) = &master
        && rustix::termios::isatty(stdin)
    {
        copy_winsize(stdin, m.as_fd());
    }
    let mut stdin_open = master.is_some();
    // The child may have exited before the caller blocked SIGCHLD (that signal is then lost):
    // look once before waiting for signals.
    let mut status: Option<i32> = reap(pid);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if let Some(st) = status {
            // Drain what the process wrote before it exited, then report.
            if let Some(m) = &master {
                rustix::fs::fcntl_setfl(m, rustix::fs::OFlags::NONBLOCK).ok();
                while let Ok(n) = rustix::io::read(m, &mut buf) {
                    if n == 0 || write_all(stdout, &buf[..n]).is_err() {
                        break;
                    }
                }
            }
            return Ok(exit_code(st));
        }
        let mut fds = vec![PollFd::new(&sfd, PollFlags::IN)];
        if let Some(m) = &master {
            fds.push(PollFd::new(m, PollFlags::IN));
            if stdin_open {
                fds.push(PollFd::from_borrowed_fd(stdin, PollFlags::IN));
            }
        }
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::sys("poll", e)),
        }
        let ready: Vec<PollFlags> = fds.iter().map(|f| f.revents()).collect();
        drop(fds);
        if !ready[0].is_empty() {
            let mut si = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
            if let Ok(n) = rustix::io::read(&sfd, &mut si)
                && n == si.len()
            {
                // SAFETY: the kernel wrote a whole signalfd_siginfo into the buffer.
                let info: libc::signalfd_siginfo =
                    unsafe { std::ptr::read_unaligned(si.as_ptr().cast()) };
                match info.ssi_signo as i32 {
                    libc::SIGCHLD => status = reap(pid),
                    libc::SIGWINCH => {
                        if let Some(m) = &master {
                            copy_winsize(stdin, m.as_fd());
                        }
                    }
                    sig => {
                        // SAFETY: kill(2) on our own child's pid.
                        unsafe { libc::kill(pid, sig) };
                    }
                }
            }
        }
        if let Some(m) = &master {
            if ready.len() > 1 && !ready[1].is_empty() {
                match rustix::io::read(m, &mut buf) {
                    Ok(0) | Err(rustix::io::Errno::IO) => {
                        // The pty closed: the process is gone or about to be. If the SIGCHLD
                        // of this same poll round already reaped it, keep that status (a second
                        // wait would fail with ECHILD and report 255).
                        if status.is_none() {
                            status = Some(wait_blocking(pid));
                        }
                        continue;
                    }
                    Ok(n) => {
                        let _ = write_all(stdout, &buf[..n]);
                    }
                    Err(_) => {}
                }
            }
            if stdin_open && ready.len() > 2 && !ready[2].is_empty() {
                match rustix::io::read(stdin, &mut buf) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(n) => {
                        let _ = write_all(m.as_fd(), &buf[..n]);
                    }
                }
            }
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut b: &[u8]) -> rustix::io::Result<()> {
    while !b.is_empty() {
        match rustix::io::write(fd, b) {
            Ok(n) => b = &b[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reaps every exited child; returns the wait status of `pid` if it was among them.
pub fn reap(pid: i32) -> Option<i32> {
    let mut found = None;
    loop {
        let mut st = 0;
        // SAFETY: waitpid with a valid status pointer.
        let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if r <= 0 {
            return found;
        }
        if r == pid {
            found = Some(st);
        }
    }
}

/// Blocks until `pid` exits; returns its wait status.
pub fn wait_blocking(pid: i32) -> i32 {
    loop {
        let mut st = 0;
        // SAFETY: waitpid with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        if r == pid {
            return st;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 255 << 8;
        }
    }
}

/// The raw fd number, for messages.
pub fn raw(fd: &OwnedFd) -> i32 {
    fd.as_raw_fd()
}
