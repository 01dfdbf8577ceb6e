//! `exec`: a new process in a running container's namespaces and cgroup, with the container's
//! (or the given) capabilities, user, seccomp filter, environment and working directory.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Process};
use rustix::fs::{Mode, OFlags};

use crate::container::{self, clone3};
use crate::error::{Context, Error, Result};
use crate::namespaces;
use crate::state::{Status, Store};
use crate::sync::{self, Msg};

#[derive(Debug, Default, Clone)]
pub struct ExecOpts {
    pub id: String,
    /// A full process.json; otherwise the container's process with the overrides below.
    pub process_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub tty: bool,
    pub detach: bool,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    /// `uid[:gid]`
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub cap_add: Vec<String>,
    pub no_new_privs: bool,
    pub preserve_fds: u32,
    pub seccomp_cache: Option<PathBuf>,
    /// Descriptors for the process's stdin/stdout/stderr (see `CreateOpts::stdio`).
    pub stdio: Option<[i32; 3]>,
    /// The process description itself (wins over `process_file` and `args`): the shim and
    /// the engine pass it directly.
    pub process: Option<Process>,
}

/// A started exec process: its pid (a child of the caller) and, with a tty and no console
/// socket, the pty master.
pub struct Spawned {
    pub pid: i32,
    pub master: Option<OwnedFd>,
}

fn build_process(base: Option<&Process>, o: &ExecOpts) -> Result<Process> {
    if let Some(p) = &o.process {
        return Ok(p.clone());
    }
    if let Some(f) = &o.process_file {
        let data = std::fs::read(f).at("read", f)?;
        return serde_json::from_slice(&data)
            .map_err(|e| Error::Config(format!("{}: {e}", f.display())));
    }
    if o.args.is_empty() {
        return Err(Error::Config("exec needs a command (or --process)".into()));
    }
    let mut p = base
        .cloned()
        .ok_or_else(|| Error::Config("container config has no process".into()))?;
    p.set_args(Some(o.args.clone()));
    p.set_terminal(Some(o.tty));
    p.set_console_size(None);
    if let Some(c) = &o.cwd {
        p.set_cwd(c.clone());
    }
    if !o.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for kv in &o.env {
            let key = kv.split('=').next().unwrap_or("");
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(u) = &o.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let user = p.user_mut();
        user.set_uid(
            uid.parse()
                .map_err(|_| Error::Config(format!("bad --user {u:?}: want uid[:gid]")))?,
        );
        if let Some(g) = gid {
            user.set_gid(
                g.parse()
                    .map_err(|_| Error::Config(format!("bad --user {u:?}: want uid[:gid]")))?,
            );
        }
    }
    if !o.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(o.additional_gids.clone()));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !o.cap_add.is_empty()
        && let Some(mut caps) = p.capabilities().clone()
    {
        for name in &o.cap_add {
            let c: oci_spec::runtime::Capability = name
                .trim_start_matches("CAP_")
                .parse()
                .map_err(|_| Error::Config(format!("unknown capability {name}")))?;
            for set in [
                caps.bounding().clone(),
                caps.effective().clone(),
                caps.permitted().clone(),
            ] {
                let _ = set;
            }
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(c);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// Runs the exec; returns the process's exit code in the foreground, 0 when detached.
pub fn exec(store: &Store, o: &ExecOpts) -> Result<i32> {
    let sp = spawn(store, o)?;
    if o.detach {
        return Ok(0);
    }
    let sfd = crate::console::signal_fd()?;
    crate::console::supervise(sp.pid, sfd, sp.master)
}

/// Starts the exec process and returns once it has called execve (or failed).
pub fn spawn(store: &Store, o: &ExecOpts) -> Result<Spawned> {
    let s = store.load(&o.id)?;
    let st = container::status(store, &s);
    if st == Status::Stopped || st == Status::Paused {
        return Err(Error::BadState {
            id: o.id.clone(),
            status: st.to_string(),
            wanted: "cannot exec in it",
        });
    }
    let spec = container::load_spec(&s.bundle)?;
    let process = build_process(spec.process().as_ref(), o)?;
    if !process.cwd().is_absolute() {
        return Err(Error::Config(format!(
            "cwd {:?} is not absolute",
            process.cwd()
        )));
    }
    let caps = crate::process::Caps::from_process(&process)?;
    let linux = spec.linux().clone().unwrap_or_default();
    let seccomp = match linux.seccomp() {
        Some(sc) => Some(
            crate::seccomp::compile(sc, o.seccomp_cache.as_deref())
                .map_err(|e| Error::Seccomp(e.to_string()))?,
        ),
        None => None,
    };
    let terminal = process.terminal().unwrap_or(false);
    if terminal && o.detach && o.console_socket.is_none() {
        return Err(Error::Config(
            "exec --tty --detach needs --console-socket".into(),
        ));
    }
    let console_sock = match (&o.console_socket, terminal) {
        (Some(p), true) => Some(crate::console::connect(p)?),
        _ => None,
    };

    // The container's namespaces, opened through the init's /proc entries while it is alive.
    let mut kinds: Vec<LinuxNamespaceType> = linux
        .namespaces()
        .iter()
        .flatten()
        .map(|n| n.typ())
        .collect();
    kinds.sort_by_key(|t| {
        if *t == LinuxNamespaceType::User {
            0
        } else if *t == LinuxNamespaceType::Mount {
            2
        } else {
            1
        }
    });
    let mut ns_fds: Vec<(LinuxNamespaceType, OwnedFd)> = Vec::new();
    for t in &kinds {
        let p = format!("/proc/{}/ns/{}", s.pid, namespaces::proc_name(*t));
        let fd =
            rustix::fs::open(&p, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).at("open", &p)?;
        ns_fds.push((*t, fd));
    }
    if !s.init_alive() {
        return Err(Error::BadState {
            id: o.id.clone(),
            status: "stopped".into(),
            wanted: "cannot exec in it",
        });
    }
    let user_ns = kinds.contains(&LinuxNamespaceType::User);
    let cgroup = berth_cgroups::Hierarchy::detect()
        .ok()
        .and_then(|h| berth_cgroups::Cgroup::new(&h, &s.cgroup_path).ok());
    let into = cgroup.as_ref().and_then(|c| c.v2_dir_fd().ok().flatten());

    // pid namespaces apply to children: enter the container's for the fork, then come back.
    let own_pid_ns = rustix::fs::open(
        "/proc/self/ns/pid",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open", "/proc/self/ns/pid")?;
    let pid_ns = ns_fds
        .iter()
        .find(|(t, _)| *t == LinuxNamespaceType::Pid)
        .map(|(_, f)| f);
    if let Some(f) = pid_ns {
        namespaces::join(LinuxNamespaceType::Pid, f)?;
    }
    let (parent_chan, child_chan) = sync::pair()?;
    let pid = clone3(0, into.as_ref());
    if let Some(_f) = pid_ns
        && !matches!(pid, Ok(0))
    {
        namespaces::join(LinuxNamespaceType::Pid, &own_pid_ns)?;
    }
    let pid = pid?;
    if pid == 0 {
        drop(parent_chan);
        let r = child(
            &process,
            &ns_fds,
            user_ns,
            caps.as_ref(),
            seccomp.as_ref(),
            terminal,
            console_sock.as_ref(),
            &child_chan,
            o.preserve_fds,
            o.stdio,
        );
        let msg = match r {
            Ok(never) => match never {},
            Err(e) => e.to_string(),
        };
        let _ = child_chan.send(&Msg::Error(msg));
        // SAFETY: leave the child without running the parent's destructors.
        unsafe { libc::_exit(255) }
    }
    drop(child_chan);
    drop(console_sock);
    // The child enters the namespaces and prepares while we move it into the cgroup (a v1
    // cgroup join waits for an RCU grace period); it execs only after the second message.
    parent_chan.send(&Msg::Go)?;
    if let Some(cg) = &cgroup
        && into.is_none()
        && let Err(e) = cg.add_process(pid)
    {
        // SAFETY: our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        crate::console::wait_blocking(pid);
        return Err(e.into());
    }
    // The child may already have failed (PATH lookup, cwd) and exited: its error message is
    // then waiting in the channel, and that, not EPIPE, is what the caller must see.
    let sent = parent_chan.send(&Msg::HooksDone);
    let mut master = None;
    // The channel is close-on-exec in the child: end-of-stream means execve succeeded.
    loop {
        match parent_chan.recv_with_fd() {
            Ok((Msg::Console, fd)) => master = fd,
            Ok((Msg::Error(m), _)) => {
                crate::console::wait_blocking(pid);
                return Err(Error::Init(m));
            }
            Ok((other, _)) => {
                return Err(Error::Init(format!("unexpected sync message {other:?}")));
            }
            // A child that exits with our HooksDone unread resets the connection; the error
            // it sent before exiting is still queued behind that.
            Err(Error::Sys { source, .. }) if source.raw_os_error() == Some(libc::ECONNRESET) => {}
            Err(_) => break,
        }
    }
    sent?;
    if let Some(pf) = &o.pid_file {
        let tmp = pf.with_extension("tmp-berth");
        std::fs::write(&tmp, pid.to_string()).at("write", &tmp)?;
        std::fs::rename(&tmp, pf).at("rename", pf)?;
    }
    Ok(Spawned { pid, master })
}

#[allow(clippy::too_many_arguments)]
fn child(
    process: &Process,
    ns_fds: &[(LinuxNamespaceType, OwnedFd)],
    user_ns: bool,
    caps: Option<&crate::process::Caps>,
    seccomp: Option<&crate::seccomp::Filter>,
    terminal: bool,
    console_sock: Option<&OwnedFd>,
    chan: &sync::Channel,
    preserve_fds: u32,
    stdio: Option<[i32; 3]>,
) -> Result<std::convert::Infallible> {
    // In the container's pid namespace from here on, with the caller's descriptors.
    crate::init::set_nondumpable();
    match chan.recv()? {
        Msg::Go => {}
        other => return Err(Error::Init(format!("unexpected sync message {other:?}"))),
    }
    if let Some(fds) = stdio {
        crate::init::install_stdio(fds)?;
    }
    for (t, fd) in ns_fds {
        if *t != LinuxNamespaceType::Pid {
            namespaces::join(*t, fd)?;
        }
    }
    if user_ns {
        let g = rustix::process::Gid::ROOT;
        let u = rustix::process::Uid::ROOT;
        rustix::thread::set_thread_res_gid(g, g, g).ctx(|| "setresgid 0".into())?;
        rustix::thread::set_thread_res_uid(u, u, u).ctx(|| "setresuid 0".into())?;
    }
    rustix::process::setsid().ok();
    if terminal {
        let root = rustix::fs::open(
            "/",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| "open /".into())?;
        let (master, peer) = crate::rootfs::open_console(
            root.as_fd(),
            process
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16)),
        )?;
        match console_sock {
            Some(sock) => sync::send_fd(sock.as_fd(), master.as_fd(), b"/dev/ptmx")?,
            None => chan.send_with_fd(&Msg::Console, master.as_fd())?,
        }
        drop(master);
        crate::process::take_terminal(&peer)?;
    }
    let prepared = crate::process::prepare(process)?;
    match chan.recv()? {
        Msg::HooksDone => {}
        other => return Err(Error::Init(format!("unexpected sync message {other:?}"))),
    }
    let nnp = process.no_new_privileges().unwrap_or(false);
    if !nnp && let Some(f) = seccomp {
        f.load().map_err(|e| Error::Seccomp(e.to_string()))?;
    }
    let may_setgroups = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    crate::process::set_identity(process, caps, !user_ns || may_setgroups)?;
    crate::process::set_no_new_privs(process)?;
    crate::init::close_range_cloexec(3 + preserve_fds);
    crate::process::set_late_rlimits(process)?;
    if nnp && let Some(f) = seccomp {
        f.load().map_err(|e| Error::Seccomp(e.to_string()))?;
    }
    crate::console::unblock_all();
    Err(crate::process::execve(
        &prepared.exe,
        &prepared.args,
        &prepared.env,
    ))
}
