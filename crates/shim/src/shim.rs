//! The shim's state and its single poll(2) loop: the container's output pipes (or pty
//! master), a signalfd for SIGCHLD, the listening socket and the client connections. No
//! threads: the runtime library forks the container's init and exec processes from this
//! process, which is only sound while it is single-threaded.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_runtime::container::{self, CreateOpts};
use berth_runtime::state::Store;

use crate::args::Args;
use crate::conn::{Client, Role, Target};
use crate::error::{Error, Result};
use crate::exec::{Exec, ExecState};
use crate::io::{Io, Spliced};
use crate::logfile::{Lines, LogFile, Stream};
use crate::proto;
use crate::sys;

mod exit;
mod ops;

/// After the init (or an exec process) is reaped, how long its output pipes may stay open
/// (held by a process outside its pid namespace) before the exit is recorded anyway.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long after answering an exit's waiters the runtime state and cgroup are deleted
/// (unless a `shutdown` comes first): long enough for berthd and its client to finish
/// the exit without sharing a CPU with that work.
const DELETE_DELAY: Duration = Duration::from_millis(10);
/// An attach client with this much unsent output stops the reading of the process's
/// output (back-pressure, as Docker's attach) until it catches up.
const CLIENT_HIGH_WATER: usize = 256 * 1024;
const MAX_CLIENTS: usize = 1000;
/// Finished execs remembered for `exec_wait`.
const MAX_FINISHED_EXECS: usize = 64;
/// One read of a process's output or a client's input (the size of a default pipe: bigger
/// reads measured slower, their frames overrun the attach socket's buffer).
const READ_BUF: usize = 64 * 1024;
/// Bytes of traffic after which the shim gives its buffers back once it goes idle.
const RELEASE_AFTER: usize = 256 * 1024;
/// How often a log stalled on a full file system tries again.
const LOG_RETRY: Duration = Duration::from_millis(500);

/// How the container's init ended.
#[derive(Debug, Clone)]
pub struct ExitInfo {
    pub code: i32,
    pub finished_at: String,
    pub oom_killed: bool,
}

impl ExitInfo {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "exit_code": self.code,
            "finished_at": self.finished_at,
            "oom_killed": self.oom_killed,
        })
    }
}

#[derive(Debug)]
enum Phase {
    Created,
    Running,
    /// Reaped; output still draining.
    Exiting {
        code: i32,
        finished_at: String,
        since: Instant,
    },
    Exited(ExitInfo),
}

pub struct Shim {
    args: Args,
    store: Store,
    pub init_pid: i32,
    phase: Phase,
    io: Io,
    log: Option<LogFile>,
    lines: [Lines; 2],
    cgroup: Option<berth_cgroups::Cgroup>,
    oom_before: u64,
    listener: OwnedFd,
    sigfd: OwnedFd,
    clients: Vec<Client>,
    execs: Vec<Exec>,
    next_exec_key: u64,
    buf: sys::PageBuf,
    /// Bytes moved since memory was last given back (see [`Shim::release_memory`]).
    busy_bytes: usize,
    /// A heavy request ran (start, exec): give memory back before sleeping.
    trim_pending: bool,
    /// When the exited container's runtime state and cgroup are to be deleted (see
    /// [`Shim::delete_container`]).
    delete_at: Option<Instant>,
    shutdown: Option<Instant>,
    idle_since: Option<Instant>,
    sock_path: PathBuf,
    pid_path: PathBuf,
    /// The files at `sock_path` and `pid_path` as this shim made them: it removes only
    /// those (see [`sys::remove_if_same`]).
    sock_id: Option<(u64, u64)>,
    pid_id: Option<(u64, u64)>,
    exit_path: PathBuf,
    /// The container's poststart hooks, kept from `create` for `start`.
    poststart: Vec<oci_spec::runtime::Hook>,
}

/// What a pollfd entry stands for.
#[derive(Clone, Copy)]
enum Slot {
    Signal,
    Listener,
    Out(Target, usize),
    Stdin(Target),
    Client(usize),
}

impl Shim {
    /// Listens, creates the container (held before exec), opens the log and writes
    /// `shim.pid`. On error nothing of the container is left behind.
    pub fn start(args: Args) -> Result<Shim> {
        let dir = &args.state_dir;
        std::fs::create_dir_all(dir).map_err(|e| Error::path("create state dir", dir, e))?;
        let sock_path = dir.join("shim.sock");
        let listener = listen(&sock_path)?;
        let sock_id = sys::file_id(&sock_path);
        let log = match &args.log_path {
            Some(p) => Some(LogFile::open(
                p,
                args.log_max_size,
                args.log_max_file,
                args.log_attrs.as_deref(),
                args.log_compress,
            )?),
            None => None,
        };
        let store = Store::new(&args.runtime_root);
        let (io, child_ends) = if args.tty {
            (None, None)
        } else {
            let (io, ends) = Io::pipes(args.open_stdin)?;
            (Some(io), Some(ends))
        };
        let opts = CreateOpts {
            id: args.id.clone(),
            bundle: args.bundle.clone(),
            console_to_parent: args.tty,
            seccomp_cache: args.seccomp_cache.clone(),
            stdio: child_ends.as_ref().map(|e| e.each_ref().map(sys::raw)),
            ..CreateOpts::default()
        };
        let created = container::create(&store, &opts)?;
        drop(child_ends);
        let cleanup = |e: Error| {
            let _ = container::delete(&store, &args.id, true);
            e
        };
        let io = match (io, created.master) {
            (Some(io), _) => io,
            (None, Some(master)) => {
                if let Some((w, h)) = args.console_size {
                    set_winsize(&master, w, h);
                }
                Io::pty(master, args.open_stdin).map_err(cleanup)?
            }
            (None, None) => {
                return Err(cleanup(Error::Other(
                    "--tty, but the container has no terminal (process.terminal is false)".into(),
                )));
            }
        };
        let cgroup = berth_cgroups::Hierarchy::detect()
            .ok()
            .and_then(|h| berth_cgroups::Cgroup::new(&h, &created.saved.cgroup_path).ok());
        let oom_before = cgroup
            .as_ref()
            .and_then(|c| c.oom_kills().ok())
            .unwrap_or(0);
        let sigfd = sys::block_signals().map_err(cleanup)?;
        let pid_path = dir.join("shim.pid");
        sys::write_atomic(&pid_path, std::process::id().to_string().as_bytes()).map_err(cleanup)?;
        let pid_id = sys::file_id(&pid_path);
        let buf = sys::PageBuf::new(READ_BUF).map_err(cleanup)?;
        let exit_path = dir.join("exit");
        let _ = std::fs::remove_file(&exit_path);
        let mut shim = Shim {
            poststart: container::poststart_hooks(&created.spec).to_vec(),
            init_pid: created.pid,
            store,
            phase: Phase::Created,
            io,
            log,
            lines: Default::default(),
            cgroup,
            oom_before,
            listener,
            sigfd,
            clients: Vec::new(),
            execs: Vec::new(),
            next_exec_key: 1,
            buf,
            busy_bytes: 0,
            trim_pending: false,
            delete_at: None,
            shutdown: None,
            idle_since: None,
            sock_path,
            pid_path,
            sock_id,
            pid_id,
            exit_path,
            args,
        };
        // The init may have died before SIGCHLD was blocked: look once.
        shim.reap();
        trim_heap();
        Ok(shim)
    }

    /// The event loop; returns when the shim should exit.
    pub fn run(mut self) {
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut slots: Vec<Slot> = Vec::new();
        // The frames of `start` (config parsing, seccomp compilation) were below this one.
        sys::release_unused_stack();
        loop {
            let now = Instant::now();
            if self.delete_at.is_some_and(|t| now >= t) {
                self.delete_container();
            }
            self.clients.retain(|c| !c.finished(now));
            self.progress(now);
            self.clients.retain(|c| !c.finished(now));
            if self.clients.is_empty() && self.exited().is_some() {
                self.idle_since.get_or_insert(now);
            }
            if self.should_exit(now) {
                break;
            }
            fds.clear();
            slots.clear();
            self.poll_set(&mut fds, &mut slots);
            let timeout = self.timeout(now);
            if std::mem::take(&mut self.trim_pending) {
                // From this shallow frame, so the stack the request used is given back too.
                trim_heap();
            }
            let polled = if self.busy_bytes >= RELEASE_AFTER {
                // After a burst: if nothing is ready now, give the buffers back before sleeping.
                match sys::poll(&mut fds, 0) {
                    Ok(()) if fds.iter().all(|f| f.revents == 0) => {
                        self.release_memory();
                        sys::poll(&mut fds, timeout)
                    }
                    r => r,
                }
            } else {
                sys::poll(&mut fds, timeout)
            };
            if polled.is_err() {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            for (pfd, slot) in fds.iter().zip(slots.iter()) {
                if pfd.revents != 0 {
                    self.ready(*slot, pfd.revents);
                }
            }
            if let Some(l) = &mut self.log {
                l.flush();
            }
        }
        if let Some(l) = &mut self.log {
            l.flush();
        }
        self.delete_container();
        sys::remove_if_same(&self.sock_path, self.sock_id);
        sys::remove_if_same(&self.pid_path, self.pid_id);
    }

    /// Hands idle buffers back to the kernel (the shim sleeps for most of a container's life).
    fn release_memory(&mut self) {
        self.busy_bytes = 0;
        self.buf.release();
        if let Some(l) = &mut self.log {
            l.release();
        }
        trim_heap();
    }

    fn exited(&self) -> Option<&ExitInfo> {
        match &self.phase {
            Phase::Exited(e) => Some(e),
            _ => None,
        }
    }

    fn should_exit(&self, now: Instant) -> bool {
        if self.exited().is_none() {
            return false;
        }
        if let Some(t) = self.shutdown {
            return self.clients.iter().all(|c| c.pending() == 0) || now >= t;
        }
        self.idle_since
            .is_some_and(|t| now >= t + self.args.idle_exit)
    }

    fn timeout(&self, now: Instant) -> i32 {
        let mut deadline: Option<Instant> = None;
        let mut at = |t: Instant| deadline = Some(deadline.map_or(t, |d| d.min(t)));
        if let Phase::Exiting { since, .. } = &self.phase {
            at(*since + DRAIN_GRACE);
        }
        for e in &self.execs {
            if let ExecState::Exiting { since, .. } = &e.state {
                at(*since + DRAIN_GRACE);
            }
        }
        if let Some(t) = self.idle_since {
            at(t + self.args.idle_exit);
        }
        if let Some(t) = self.shutdown {
            at(t);
        }
        if let Some(t) = self.delete_at {
            at(t);
        }
        if self.log_stalled() {
            at(now + LOG_RETRY);
        }
        for c in &self.clients {
            if let Some(t) = c.closing {
                at(t);
            }
        }
        match deadline {
            None => -1,
            Some(d) => d.saturating_duration_since(now).as_millis().min(60_000) as i32 + 1,
        }
    }

    fn io_of(&mut self, t: Target) -> Option<&mut Io> {
        io_in(&mut self.io, &mut self.execs, t)
    }

    /// Whether an attached client is too far behind to read more output for `t`, or (for
    /// the container's own output) the log waits for disk space.
    fn backlogged(&self, t: Target) -> bool {
        (t == Target::Main && self.log_stalled())
            || self
                .clients
                .iter()
                .any(|c| c.attached_to(t).is_some() && c.pending() > CLIENT_HIGH_WATER)
    }

    fn log_stalled(&self) -> bool {
        self.log.as_ref().is_some_and(LogFile::stalled)
    }

    fn poll_set(&self, fds: &mut Vec<libc::pollfd>, slots: &mut Vec<Slot>) {
        let mut add = |fd: &OwnedFd, ev: i16, s: Slot| {
            fds.push(sys::pollfd(sys::raw(fd), ev));
            slots.push(s);
        };
        add(&self.sigfd, libc::POLLIN, Slot::Signal);
        if self.clients.len() < MAX_CLIENTS {
            add(&self.listener, libc::POLLIN, Slot::Listener);
        }
        let targets = std::iter::once((Target::Main, &self.io))
            .chain(self.execs.iter().map(|e| (Target::Exec(e.key), &e.io)));
        let mut stdin_busy = Vec::new();
        for (t, io) in targets {
            if !self.backlogged(t) {
                for (i, o) in io.out.iter().enumerate() {
                    if let Some(fd) = o {
                        add(fd, libc::POLLIN, Slot::Out(t, i));
                    }
                }
            }
            if let Some(fd) = &io.stdin
                && io.stdin_busy()
            {
                add(fd, libc::POLLOUT, Slot::Stdin(t));
                stdin_busy.push(t);
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            let mut ev = 0;
            if c.pending() > 0 {
                ev |= libc::POLLOUT;
            }
            let wants_input = match &c.role {
                Role::Request => true,
                Role::Attached(a) => !(a.stdin && stdin_busy.contains(&a.target)),
                Role::Respond | Role::Wait(_) => true,
            };
            if wants_input && !c.read_eof {
                ev |= libc::POLLIN;
            }
            // POLLHUP and POLLERR are reported even with no events asked for.
            add(&c.fd, ev, Slot::Client(i));
        }
    }

    fn ready(&mut self, slot: Slot, revents: i16) {
        match slot {
            Slot::Signal => {
                sys::drain_signalfd(self.sigfd.as_fd());
                self.reap();
            }
            Slot::Listener => self.accept(),
            Slot::Out(t, i) => {
                self.read_output(t, i);
            }
            Slot::Stdin(t) => {
                if let Some(io) = self.io_of(t) {
                    io.flush_stdin();
                }
            }
            Slot::Client(i) => self.client_ready(i, revents),
        }
    }

    fn accept(&mut self) {
        for _ in 0..64 {
            match rustix::net::accept_with(
                &self.listener,
                rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
            ) {
                Ok(fd) => {
                    self.idle_since = None;
                    if self.clients.len() >= MAX_CLIENTS {
                        continue;
                    }
                    self.clients.push(Client::new(fd));
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }

    /// Reads one chunk of a process's output and hands it to the log (the container's
    /// own output only) and to the attached clients. Returns whether it read anything.
    fn read_output(&mut self, t: Target, i: usize) -> bool {
        let Some(io) = io_in(&mut self.io, &mut self.execs, t) else {
            return false;
        };
        let Some(fd) = &io.out[i] else { return false };
        let n = match sys::read(fd.as_fd(), self.buf.get_mut()) {
            Ok(Some(0)) | Err(_) => {
                io.out[i] = None;
                return false;
            }
            Ok(None) => return false,
            Ok(Some(n)) => n,
        };
        self.busy_bytes += n;
        let data = &self.buf.get()[..n];
        let stream = if i == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        if t == Target::Main
            && let Some(log) = &mut self.log
        {
            let mut ts = [0u8; 40];
            let tl = crate::clock::format_now(&mut ts);
            self.lines[i].feed(data, |a, b| log.entry(stream, a, b, &ts[..tl]));
        }
        for c in &mut self.clients {
            if c.attached_to(t).is_some_and(|a| a.streams[i]) {
                c.frame(i as u8 + 1, data);
            }
        }
        true
    }

    fn client_ready(&mut self, i: usize, revents: i16) {
        if revents & libc::POLLOUT != 0 {
            self.clients[i].flush();
        }
        if revents & libc::POLLIN != 0 {
            self.client_read(i);
        } else if revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            // Gone entirely (POLLHUP without POLLIN: nothing left to read).
            self.client_gone(i);
        }
    }

    fn client_gone(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.dead = true;
        if let Role::Attached(a) = &c.role
            && a.stdin
            && !c.read_eof
        {
            c.read_eof = true;
            let t = a.target;
            self.stdin_eof(t);
        }
    }

    fn client_read(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if let Role::Attached(a) = &c.role
            && a.stdin
            && let Some(io) = io_in(&mut self.io, &mut self.execs, a.target)
        {
            let t = a.target;
            match io.splice_stdin(c.fd.as_fd(), READ_BUF) {
                Spliced::Moved(n) => {
                    self.busy_bytes += n;
                    return;
                }
                Spliced::End => {
                    c.read_eof = true;
                    return self.stdin_eof(t);
                }
                Spliced::Failed => return self.client_gone(i),
                Spliced::Copy => {}
            }
        }
        let r = if matches!(c.role, Role::Request) {
            sys::recv_with_fd(c.fd.as_fd(), self.buf.get_mut()).map(|r| {
                r.map(|(n, fd)| {
                    if fd.is_some() {
                        c.passed = fd;
                    }
                    n
                })
            })
        } else {
            sys::read(c.fd.as_fd(), self.buf.get_mut())
        };
        let n = match r {
            Ok(None) => return,
            Ok(Some(n)) => n,
            Err(_) => return self.client_gone(i),
        };
        let c = &mut self.clients[i];
        match &c.role {
            Role::Request => {
                if n == 0 {
                    c.read_eof = true;
                    if c.inbuf.is_empty() {
                        c.dead = true;
                        return;
                    }
                    let line = std::mem::take(&mut c.inbuf);
                    self.request(i, &line, &[]);
                    return;
                }
                let data = &self.buf.get()[..n];
                match data.iter().position(|&b| b == b'\n') {
                    Some(p) => {
                        let mut line = std::mem::take(&mut c.inbuf);
                        line.extend_from_slice(&data[..p]);
                        let rest = data[p + 1..].to_vec();
                        self.request(i, &line, &rest);
                    }
                    None if c.inbuf.len() + n > proto::MAX_REQUEST => {
                        c.inbuf = Vec::new();
                        c.respond(&proto::error_line("request too long"));
                    }
                    None => c.inbuf.extend_from_slice(data),
                }
            }
            Role::Attached(a) => {
                let (t, stdin) = (a.target, a.stdin);
                if n == 0 {
                    c.read_eof = true;
                    if stdin {
                        self.stdin_eof(t);
                    }
                } else if stdin {
                    self.busy_bytes += n;
                    if let Some(io) = io_in(&mut self.io, &mut self.execs, t) {
                        io.write_stdin(&self.buf.get()[..n]);
                    }
                }
            }
            Role::Respond | Role::Wait(_) => {
                if n == 0 {
                    c.read_eof = true;
                }
            }
        }
    }

    /// An attached client ended its input: the process's stdin closes with `--stdin-once`
    /// or when no other attached client still sends input. (With a terminal the master
    /// stays open; only our copy for input is dropped.)
    fn stdin_eof(&mut self, t: Target) {
        let others = self
            .clients
            .iter()
            .any(|c| !c.dead && !c.read_eof && c.attached_to(t).is_some_and(|a| a.stdin));
        let once = match t {
            Target::Main => self.args.stdin_once,
            Target::Exec(_) => true,
        };
        if (once || !others)
            && let Some(io) = self.io_of(t)
        {
            io.close_stdin();
        }
    }
}

fn io_in<'a>(io: &'a mut Io, execs: &'a mut [Exec], t: Target) -> Option<&'a mut Io> {
    match t {
        Target::Main => Some(io),
        Target::Exec(k) => execs.iter_mut().find(|e| e.key == k).map(|e| &mut e.io),
    }
}

/// Binds and listens on `path` (a stale socket from an earlier shim is replaced; a live
/// one is an error), 0600.
fn listen(path: &std::path::Path) -> Result<OwnedFd> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        // A live shim owns this container; taking its socket would orphan it from berthd.
        return Err(Error::Other(format!(
            "another shim is listening on {}",
            path.display()
        )));
    }
    let _ = std::fs::remove_file(path);
    let addr =
        SocketAddrUnix::new(path).map_err(|e| Error::path("socket address", path, e.into()))?;
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|e| Error::sys("socket", e))?;
    rustix::net::bind(&fd, &addr).map_err(|e| Error::path("bind", path, e.into()))?;
    rustix::fs::chmod(path, rustix::fs::Mode::from_raw_mode(0o600))
        .map_err(|e| Error::path("chmod", path, e.into()))?;
    rustix::net::listen(&fd, 128).map_err(|e| Error::path("listen", path, e.into()))?;
    Ok(fd)
}

pub fn set_winsize(fd: &OwnedFd, width: u16, height: u16) {
    let ws = rustix::termios::Winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let _ = rustix::termios::tcsetwinsize(fd, ws);
}

/// Returns freed heap pages to the kernel: creating a container or an exec parses the OCI
/// config and compiles a seccomp filter, and the shim lives on for the container's life.
pub fn trim_heap() {
    // SAFETY: malloc_trim only releases free memory of the allocator; no pointers change.
    unsafe {
        libc::malloc_trim(0);
    }
    sys::release_unused_stack();
}
