//! The container's init, from the moment `clone3` returns 0 until it becomes the user's process
//! with `execve`. It runs in the (single-threaded) copy of the runtime, talks to the parent over
//! the sync channel, and reports any failure as text before exiting.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rustix::fs::{Mode, OFlags};

use crate::error::{Context, Error, Result};
use crate::namespaces::{self, Plan};
use crate::process;
use crate::rootfs;
use crate::sync::{Channel, Msg};

/// Where the console master goes.
pub enum ConsoleTo {
    None,
    /// The caller's `--console-socket` (already connected).
    Socket(OwnedFd),
    /// Back to our parent over the sync channel (foreground `run`).
    Parent,
}

/// Everything the init needs, prepared by the parent before `clone3`.
pub struct Init<'a> {
    pub spec: &'a Spec,
    pub rootfs: PathBuf,
    /// The (canonical) bundle directory.
    pub bundle: PathBuf,
    pub plan: &'a Plan,
    pub joins: Vec<(LinuxNamespaceType, OwnedFd)>,
    pub chan: Channel,
    pub fifo: OwnedFd,
    pub console: ConsoleTo,
    pub seccomp: Option<crate::seccomp::Filter>,
    pub caps: Option<process::Caps>,
    pub cgroup: Option<berth_cgroups::Cgroup>,
    pub hierarchy: Option<berth_cgroups::Hierarchy>,
    pub host_proc: OwnedFd,
    /// Inodes of the runtime's own net, ipc and uts namespaces: a namespace "joined" by path
    /// that is really the host's must not take namespaced sysctls.
    pub host_ns: Vec<(LinuxNamespaceType, u64)>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    /// An intermediate process is needed (joined user/pid namespaces): it does the joins,
    /// then forks the real init into the new pid namespace.
    pub two_stage: bool,
    /// Descriptors to install as 0, 1, 2 before anything else.
    pub stdio: Option<[i32; 3]>,
    /// `Ready` was sent: `create` has returned and nobody reads the channel any more.
    pub created: bool,
}

/// Entry point in the child. Never returns.
pub fn main(mut a: Init<'_>) -> ! {
    set_nondumpable();
    let r = run(&mut a);
    let msg = match r {
        Ok(never) => match never {},
        Err(e) => e.to_string(),
    };
    if a.created {
        // Between `create` and the execve (the exec fifo, startContainer hooks, the last
        // limits): the container's own stderr is where its user can see why it ended.
        let line = format!("berth-runtime: {msg}\n");
        let _ = rustix::io::write(rustix::stdio::stderr(), line.as_bytes());
    } else {
        let _ = a.chan.send(&Msg::Error(msg));
    }
    // SAFETY: _exit is always safe; we skip destructors and atexit handlers of the parent's copy.
    unsafe { libc::_exit(1) }
}

fn run(a: &mut Init<'_>) -> Result<std::convert::Infallible> {
    if let Some(fds) = a.stdio {
        install_stdio(fds)?;
    }
    let spec = a.spec;
    let plan = a.plan;
    let user_ns = plan.creates(LinuxNamespaceType::User) || plan.joins(LinuxNamespaceType::User);
    if a.two_stage {
        for (t, fd) in &a.joins {
            namespaces::join(*t, fd)?;
        }
        // The cgroup namespace waits until we are in the container's cgroup (below).
        namespaces::unshare(plan.new & !((libc::CLONE_NEWPID | libc::CLONE_NEWCGROUP) as u64))?;
    } else if plan.creates(LinuxNamespaceType::Time) {
        // For our children and our execve: the parent writes its offsets before Go.
        namespaces::unshare(libc::CLONE_NEWTIME as u64)?;
    }
    // Our parent writes id maps, joins us to the cgroup and sets oom_score_adj now.
    a.chan.send(&Msg::NsReady)?;
    match a.chan.recv()? {
        Msg::Go => {}
        other => return Err(Error::Init(format!("unexpected sync message {other:?}"))),
    }
    if a.two_stage {
        let pid = crate::container::clone3(plan.new & libc::CLONE_NEWPID as u64, None)?;
        if pid > 0 {
            a.chan.send(&Msg::Pid(pid))?;
            // SAFETY: intermediate process done; skip destructors.
            unsafe { libc::_exit(0) }
        }
    } else {
        for (t, fd) in &a.joins {
            namespaces::join(*t, fd)?;
        }
    }
    // The cgroup namespace is rooted at the cgroup we are in when we make it: here when we
    // were cloned into it or joined before Go, otherwise once the parent answered RunHooks.
    let new_cgroupns = plan.creates(LinuxNamespaceType::Cgroup);
    let cgroup_joined = a.two_stage
        || a.cgroup.is_none()
        || a.hierarchy
            .as_ref()
            .is_some_and(|h| h.mode() == berth_cgroups::Mode::V2);
    if new_cgroupns && cgroup_joined {
        namespaces::unshare(libc::CLONE_NEWCGROUP as u64)?;
    }
    let late_cgroupns = || -> Result<()> {
        if new_cgroupns && !cgroup_joined {
            namespaces::unshare(libc::CLONE_NEWCGROUP as u64)?;
        }
        Ok(())
    };
    if user_ns {
        let root = rustix::process::Uid::ROOT;
        let g = rustix::process::Gid::ROOT;
        rustix::thread::set_thread_res_gid(g, g, g)
            .ctx(|| "setresgid 0 in user namespace".into())?;
        rustix::thread::set_thread_res_uid(root, root, root)
            .ctx(|| "setresuid 0 in user namespace".into())?;
    }
    // A network namespace made here (not joined by path) has only `lo`, down: as runc does,
    // bring it up so the container can use 127.0.0.1 (`docker run --network none`).
    if plan.creates(LinuxNamespaceType::Network) {
        loopback_up().ctx(|| "bring up the loopback interface".into())?;
    }
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !plan.creates(LinuxNamespaceType::Uts) && !plan.joins(LinuxNamespaceType::Uts) {
            return Err(Error::Config(
                "hostname is set but the container has no UTS namespace".into(),
            ));
        }
        rustix::system::sethostname(h.as_bytes()).ctx(|| format!("sethostname {h}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        // Without a UTS namespace of its own this would rename the host's NIS domain.
        if !plan.creates(LinuxNamespaceType::Uts) && !plan.joins(LinuxNamespaceType::Uts) {
            return Err(Error::Config(
                "domainname is set but the container has no UTS namespace".into(),
            ));
        }
        rustix::system::setdomainname(d.as_bytes()).ctx(|| format!("setdomainname {d}"))?;
    }

    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("config has no process".into()))?;
    let mut console_peer: Option<OwnedFd> = None;
    let cgroup_ready = std::cell::Cell::new(false);
    let wait_cgroup = || -> Result<()> {
        if !cgroup_ready.get() {
            match a.chan.recv()? {
                Msg::CgroupReady => cgroup_ready.set(true),
                other => return Err(Error::Init(format!("unexpected sync message {other:?}"))),
            }
        }
        Ok(())
    };
    let has_mount_ns = plan.creates(LinuxNamespaceType::Mount);
    if has_mount_ns {
        let root = rootfs::prepare_root(spec, &a.rootfs)?;
        let cx = rootfs::Context2 {
            rootfs: &a.rootfs,
            bundle: &a.bundle,
            cgroup: a.cgroup.as_ref(),
            hierarchy: a.hierarchy.as_ref(),
            new_cgroupns: plan.creates(LinuxNamespaceType::Cgroup),
            in_userns: user_ns,
            wait_cgroup: &wait_cgroup,
        };
        rootfs::mount_all(spec, root.as_fd(), &cx)?;
        rootfs::create_devices(spec, root.as_fd(), user_ns)?;
        if process.terminal().unwrap_or(false) {
            let size = process
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16));
            let (master, peer) = rootfs::open_console(root.as_fd(), size)?;
            rootfs::bind_console(root.as_fd(), peer.as_fd())?;
            send_console(a, master)?;
            console_peer = Some(peer);
        }
        wait_cgroup()?;
        hooks_stage(a, &late_cgroupns)?;
        rootfs::pivot(root.as_fd(), &a.rootfs, a.no_pivot)?;
    } else {
        if process.terminal().unwrap_or(false) {
            let master = rustix::pty::openpt(
                rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY,
            )
            .ctx(|| "openpt".into())?;
            rustix::pty::unlockpt(&master).ctx(|| "unlockpt".into())?;
            let peer = rustix::pty::ioctl_tiocgptpeer(
                &master,
                rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY,
            )
            .ctx(|| "TIOCGPTPEER".into())?;
            send_console(a, master)?;
            console_peer = Some(peer);
        }
        // createContainer hooks run here too, before the root changes (as with a mount ns).
        wait_cgroup()?;
        hooks_stage(a, &late_cgroupns)?;
        rustix::process::chroot(&a.rootfs).at("chroot", &a.rootfs)?;
        rustix::process::chdir("/").ctx(|| "chdir /".into())?;
    }

    let proc = rootfs::private_proc(Some(&a.host_proc))?;
    rootfs::write_sysctls(spec, proc.as_fd(), &a.host_ns)?;
    if has_mount_ns {
        let linux = spec.linux().as_ref();
        rootfs::mask_paths(
            linux
                .and_then(|l| l.masked_paths().as_deref())
                .unwrap_or(&[]),
        )?;
        rootfs::readonly_paths(
            linux
                .and_then(|l| l.readonly_paths().as_deref())
                .unwrap_or(&[]),
        )?;
        if spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false)
        {
            rootfs::readonly_root()?;
        }
        // Propagation that could not be set before the root was cloned (see prepare_root);
        // last, since an unbindable mount cannot be cloned for masked and read-only paths.
        let after = match spec
            .linux()
            .as_ref()
            .and_then(|l| l.rootfs_propagation().as_deref())
        {
            Some("shared") | Some("rshared") => rustix::mount::MountPropagationFlags::SHARED,
            Some("unbindable") | Some("runbindable") => {
                rustix::mount::MountPropagationFlags::UNBINDABLE
            }
            _ => rustix::mount::MountPropagationFlags::empty(),
        };
        if !after.is_empty() {
            rustix::mount::mount_change("/", after | rustix::mount::MountPropagationFlags::REC)
                .ctx(|| format!("rootfsPropagation {after:?} on /"))?;
        }
    }

    rustix::process::setsid().ctx(|| "setsid".into())?;
    if let Some(peer) = console_peer.take() {
        process::take_terminal(&peer)?;
    }

    let prepared = process::prepare(process)?;

    let nnp = process.no_new_privileges().unwrap_or(false);
    // A filter with SCMP_ACT_NOTIFY is loaded now whatever no_new_privs says: its listener
    // must reach the runtime (which hands it to `listenerPath`) before `create` returns.
    let early = !nnp || a.seccomp.as_ref().is_some_and(|f| f.uses_notify());
    if early
        && let Some(f) = &a.seccomp
        && let Some(listener) = f.load().map_err(|e| Error::Seccomp(e.to_string()))?
    {
        a.chan
            .send_with_fd(&Msg::SeccompListener, listener.as_fd())?;
    }
    process::set_identity(process, a.caps.as_ref(), !user_ns || can_setgroups())?;
    process::set_no_new_privs(process)?;

    // Every descriptor above the preserved ones is close-on-exec from here: nothing of the host
    // (cgroup dirs, the state directory, the caller's leaks) reaches the container process.
    let first = 3 + a.preserve_fds;
    close_range_cloexec(first);
    for fd in 3..first {
        let _ = rustix::io::fcntl_setfd(
            // SAFETY: checking and clearing flags on fds the caller asked us to pass on.
            unsafe { std::os::fd::BorrowedFd::borrow_raw(fd as i32) },
            rustix::io::FdFlags::empty(),
        );
    }

    a.chan.send(&Msg::Ready)?;
    a.created = true;
    // Block until `start` opens the other end of the fifo.
    let fifo = rootfs::open_proc(
        proc.as_fd(),
        &format!("thread-self/fd/{}", a.fifo.as_raw_fd()),
        OFlags::WRONLY,
    )
    .or_else(|_| {
        rustix::fs::openat(
            &proc,
            format!("self/fd/{}", a.fifo.as_raw_fd()),
            OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::sys("open exec fifo", e))
    })?;
    rustix::io::write(&fifo, b"0").ctx(|| "write exec fifo".into())?;
    drop(fifo);
    let state = crate::container::state_for_hooks(a, crate::state::Status::Created);
    crate::hooks::run_all(
        spec.hooks()
            .as_ref()
            .and_then(|h| h.start_container().as_ref()),
        &state,
        "startContainer",
    )?;
    process::set_late_rlimits(process)?;
    if !early && let Some(f) = &a.seccomp {
        f.load().map_err(|e| Error::Seccomp(e.to_string()))?;
    }
    Err(process::execve(
        &prepared.exe,
        &prepared.args,
        &prepared.env,
    ))
}

/// dup2 the given descriptors onto 0, 1, 2 (they arrive close-on-exec; the copies are not).
pub fn install_stdio(fds: [i32; 3]) -> Result<()> {
    for (target, fd) in fds.iter().enumerate() {
        if *fd == target as i32 {
            // SAFETY: clearing FD_CLOEXEC on a descriptor we were handed.
            unsafe { libc::fcntl(*fd, libc::F_SETFD, 0) };
            continue;
        }
        // SAFETY: dup2 onto our own standard descriptors.
        if unsafe { libc::dup2(*fd, target as i32) } < 0 {
            return Err(Error::sys("dup2 stdio", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn can_setgroups() -> bool {
    std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true)
}

/// The runtime runs prestart/createRuntime hooks (and joins us to our cgroup) while we wait;
/// then we enter our cgroup namespace and run createContainer hooks, before the root changes.
fn hooks_stage(a: &Init<'_>, late_cgroupns: &dyn Fn() -> Result<()>) -> Result<()> {
    a.chan.send(&Msg::RunHooks)?;
    match a.chan.recv()? {
        Msg::HooksDone => late_cgroupns()?,
        other => return Err(Error::Init(format!("unexpected sync message {other:?}"))),
    }
    let state = crate::container::state_for_hooks(a, crate::state::Status::Creating);
    crate::hooks::run_all(
        a.spec
            .hooks()
            .as_ref()
            .and_then(|h| h.create_container().as_ref()),
        &state,
        "createContainer",
    )
}

fn send_console(a: &Init<'_>, master: OwnedFd) -> Result<()> {
    match &a.console {
        ConsoleTo::None => Ok(()),
        ConsoleTo::Socket(sock) => crate::sync::send_fd(sock.as_fd(), master.as_fd(), b"/dev/ptmx"),
        ConsoleTo::Parent => a.chan.send_with_fd(&Msg::Console, master.as_fd()),
    }
}

/// Makes this process non-dumpable until its execve (which makes it dumpable again). Until
/// then it is the runtime inside the container's namespaces, holding host descriptors (the
/// host /proc handle, our private procfs, the exec fifo, sockets) with the container's
/// credentials: a process `exec`'d into a created container, or a container sharing its pid
/// namespace, could otherwise open /proc/PID/fd/N (either procfs: host core_pattern writable,
/// a host escape), /proc/PID/exe or /proc/PID/root. runc's init does the same (CVE-2016-9962 class). Only as root: a
/// rootless runtime must still reach its child's /proc files (uid_map) itself.
pub fn set_nondumpable() {
    if rustix::process::geteuid().is_root() {
        // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes a flag of this process.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    }
}

/// close_range(first, ~0, CLOSE_RANGE_CLOEXEC).
pub fn close_range_cloexec(first: u32) {
    // SAFETY: close_range only changes descriptor flags; CLOSE_RANGE_CLOEXEC = 4.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 4u32) };
    if r != 0 {
        // Old kernels: walk /proc/self/fd instead.
        if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
            let fds: Vec<i32> = rd
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect();
            for fd in fds.into_iter().filter(|fd| *fd >= first as i32) {
                // SAFETY: setting FD_CLOEXEC on an fd number; harmless if it was just closed.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
    }
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
