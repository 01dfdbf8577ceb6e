//! The container lifecycle as the runtime's commands see it: create, start, state, kill,
//! pause/resume, ps, delete, run. The parent side of setup lives here; the child side is
//! [`crate::init`].

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Hook, LinuxNamespaceType, Spec};
use rustix::fs::{Mode, OFlags};

use crate::error::{Context, Error, Result};
use crate::init::{self, ConsoleTo, Init};
use crate::namespaces::Plan;
use crate::state::{self, Saved, Status, Store};
use crate::sync::{self, Msg};

/// Options of `create` (and `run`).
#[derive(Debug, Default, Clone)]
pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    /// Foreground run: the pty master comes back to us instead of a console socket.
    pub console_to_parent: bool,
    /// Directory for the compiled-seccomp cache (None: no cache).
    pub seccomp_cache: Option<PathBuf>,
    /// Descriptors (owned by the caller) to become the container's stdin, stdout and stderr;
    /// None keeps the caller's own. The shim passes pipes here.
    pub stdio: Option<[i32; 3]>,
}

/// A created container, still held at the exec fifo.
pub struct Created {
    pub pid: i32,
    pub master: Option<OwnedFd>,
    pub saved: Saved,
    /// The parsed config and the cgroup, so `run` need not read them again.
    pub spec: Spec,
    pub cgroup: Option<berth_cgroups::Cgroup>,
}

/// Loads and checks `config.json` from the bundle.
pub fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).at("read", &path)?;
    let spec: Spec = serde_json::from_slice(&data)
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    let v = spec.version();
    if !v.starts_with("1.") {
        return Err(Error::Config(format!(
            "unsupported ociVersion {v:?} (want 1.x)"
        )));
    }
    if spec.root().is_none() {
        return Err(Error::Config("config has no root".into()));
    }
    let p = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("config has no process".into()))?;
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Config("process.args must not be empty".into()));
    }
    if !p.cwd().is_absolute() {
        return Err(Error::Config(format!(
            "process.cwd {:?} is not absolute",
            p.cwd()
        )));
    }
    if let Some(l) = spec.linux() {
        if let Some(lsm) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty())
            && !Path::new("/sys/kernel/security/apparmor").exists()
        {
            tracing::warn!(
                profile = lsm,
                "AppArmor is not enabled on this host; apparmorProfile ignored"
            );
        }
        if let Some(lbl) = p.selinux_label().as_deref().filter(|s| !s.is_empty())
            && !Path::new("/sys/fs/selinux/enforce").exists()
        {
            tracing::warn!(
                label = lbl,
                "SELinux is not enabled on this host; selinuxLabel ignored"
            );
        }
        let _ = l;
    }
    Ok(spec)
}

/// clone3 with namespace flags (and CLONE_INTO_CGROUP when given a v2 cgroup fd). Returns the
/// child's pid in the parent and 0 in the child, like fork. Falls back to clone(2) when
/// clone3 is unavailable (old kernels, or seccomp profiles that answer ENOSYS).
pub fn clone3(flags: u64, cgroup: Option<&OwnedFd>) -> Result<i32> {
    let mut args: libc::clone_args = unsafe {
        // SAFETY: clone_args is plain data; all-zero is its documented default.
        std::mem::zeroed()
    };
    args.flags = flags;
    args.exit_signal = libc::SIGCHLD as u64;
    if let Some(fd) = cgroup {
        args.flags |= 0x2_0000_0000; // CLONE_INTO_CGROUP
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: clone3 without CLONE_VM duplicates the address space like fork; the caller is
    // single-threaded, so the child may keep running ordinary Rust code.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    if r >= 0 {
        return Ok(r as i32);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOSYS)
        || (cgroup.is_some() && e.raw_os_error() == Some(libc::EINVAL))
    {
        if cgroup.is_some() {
            return Err(e).ctx(|| "clone3 into cgroup".into());
        }
        // SAFETY: raw clone with a null stack behaves like fork in a single-threaded process.
        let r = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags as libc::c_ulong) | libc::SIGCHLD as libc::c_ulong,
                0,
                0,
                0,
                0,
            )
        };
        if r >= 0 {
            return Ok(r as i32);
        }
        return Err(std::io::Error::last_os_error()).ctx(|| "clone".into());
    }
    Err(e).ctx(|| format!("clone3 flags={flags:#x}"))
}

fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let Some(l) = spec.linux() else { return Ok(()) };
    let fmt = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| -> String {
        m.iter()
            .flatten()
            .map(|x| format!("{} {} {}\n", x.container_id(), x.host_id(), x.size()))
            .collect()
    };
    let uid = fmt(l.uid_mappings());
    let gid = fmt(l.gid_mappings());
    if uid.is_empty() || gid.is_empty() {
        return Err(Error::Config(
            "a new user namespace needs uidMappings and gidMappings".into(),
        ));
    }
    if !rustix::process::geteuid().is_root() {
        let _ = std::fs::write(format!("/proc/{pid}/setgroups"), "deny");
    }
    std::fs::write(format!("/proc/{pid}/uid_map"), uid)
        .at("write", format!("/proc/{pid}/uid_map"))?;
    std::fs::write(format!("/proc/{pid}/gid_map"), gid)
        .at("write", format!("/proc/{pid}/gid_map"))?;
    Ok(())
}

/// `linux.timeOffsets` into the (not yet entered) time namespace of `pid`'s children.
fn write_time_offsets(pid: i32, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let Some(offsets) = linux.time_offsets() else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, o) in offsets {
        if clock != "monotonic" && clock != "boottime" {
            return Err(Error::Config(format!(
                "timeOffsets: unknown clock {clock:?} (monotonic or boottime)"
            )));
        }
        let (secs, nanos) = (o.secs().unwrap_or(0), o.nanosecs().unwrap_or(0));
        text.push_str(&format!("{clock} {secs} {nanos}\n"));
    }
    let path = format!("/proc/{pid}/timens_offsets");
    std::fs::write(&path, text).at("write", &path)
}

/// The device allowlist as the container needs it: the configured rules, then allow rules for
/// the default devices, the pty devices and each `linux.devices` node (as runc does), so a
/// "deny all" rule does not stop the runtime from creating the container's own /dev.
fn with_default_device_rules(
    r: &oci_spec::runtime::LinuxResources,
    linux: &oci_spec::runtime::Linux,
) -> oci_spec::runtime::LinuxResources {
    let Some(rules) = r.devices() else {
        return r.clone();
    };
    let mut rules = rules.clone();
    let rule = |typ: &str,
                major: Option<i64>,
                minor: Option<i64>|
     -> Option<oci_spec::runtime::LinuxDeviceCgroup> {
        serde_json::from_value(serde_json::json!({"allow": true, "type": typ, "major": major, "minor": minor, "access": "rwm"})).ok()
    };
    for (_, ma, mi) in crate::rootfs::DEFAULT_DEVICES {
        rules.extend(rule("c", Some(*ma as i64), Some(*mi as i64)));
    }
    rules.extend(rule("c", Some(5), Some(1))); // /dev/console
    rules.extend(rule("c", Some(5), Some(2))); // /dev/ptmx
    rules.extend(rule("c", Some(136), None)); // /dev/pts/*
    for d in linux.devices().iter().flatten() {
        let t = match d.typ() {
            oci_spec::runtime::LinuxDeviceType::B => "b",
            oci_spec::runtime::LinuxDeviceType::P => continue,
            _ => "c",
        };
        rules.extend(rule(t, Some(d.major()), Some(d.minor())));
    }
    let mut out = r.clone();
    out.set_devices(Some(rules));
    out
}

/// Inodes of the caller's net, ipc and uts namespaces (see `Init::host_ns`).
fn own_namespaces() -> Vec<(LinuxNamespaceType, u64)> {
    use std::os::unix::fs::MetadataExt;
    [
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
    ]
    .into_iter()
    .filter_map(|t| {
        let m =
            std::fs::metadata(format!("/proc/self/ns/{}", crate::namespaces::proc_name(t))).ok()?;
        Some((t, m.ino()))
    })
    .collect()
}

/// Sends to the init; if it has already failed (its end is closed), its own error message
/// (still queued on the socket) is the one worth reporting, not EPIPE.
fn send_to_init(chan: &sync::Channel, m: &Msg) -> Result<()> {
    chan.send(m).map_err(|e| match chan.recv() {
        Ok(Msg::Error(msg)) => Error::Init(
            msg.strip_prefix("container init: ")
                .map(str::to_string)
                .unwrap_or(msg),
        ),
        _ => e,
    })
}

/// The cgroup path: `linux.cgroupsPath`, or `/<id>` like runc.
fn cgroup_path(spec: &Spec, id: &str) -> String {
    spec.linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("/{id}"))
}

/// The state document given to hooks that run inside the init (createContainer with
/// `creating`, startContainer with `created`): the one prepared before the clone, plus our pid
/// as the host sees it (read through the runtime's /proc, which belongs to the host's pid
/// namespace; the copy made before the clone says 0).
pub fn state_for_hooks(a: &Init<'_>, status: Status) -> Vec<u8> {
    let raw = HOOK_STATE.with(|s| s.borrow().clone());
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&raw) else {
        return raw;
    };
    if let Ok(link) = rustix::fs::readlinkat(&a.host_proc, "self", Vec::new())
        && let Ok(pid) = link.to_string_lossy().parse::<i64>()
    {
        v["pid"] = pid.into();
    }
    v["status"] = status.to_string().into();
    serde_json::to_vec(&v).unwrap_or(raw)
}

thread_local! {
    static HOOK_STATE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Cleanup<'a> {
    store: &'a Store,
    id: String,
    pid: i32,
    cgroup: Option<berth_cgroups::Cgroup>,
    armed: bool,
    /// poststop hooks and the `stopped` state they get: a failed create is a stop, after
    /// which the spec wants them run (as runc's destroy does).
    poststop: Option<(Vec<oci_spec::runtime::Hook>, Vec<u8>)>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if self.pid > 0 {
            // SAFETY: kill + waitpid on the child we just made.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
            }
            crate::console::wait_blocking(self.pid);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill_all(libc::SIGKILL);
            let _ = cg.delete();
        }
        if let Some((hooks, st)) = &self.poststop {
            crate::hooks::run_all_warn(hooks, st, "poststop");
        }
        let _ = self.store.remove(&self.id);
    }
}

/// `create`: sets the container up to the point where only `start` is missing.
pub fn create(store: &Store, o: &CreateOpts) -> Result<Created> {
    let bundle = std::fs::canonicalize(&o.bundle).at("resolve bundle", &o.bundle)?;
    let t0 = std::time::Instant::now();
    let spec = load_spec(&bundle)?;
    tracing::debug!(us = t0.elapsed().as_micros() as u64, "config loaded");
    let root = spec.root().as_ref().expect("checked in load_spec");
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let rootfs = std::fs::canonicalize(&rootfs).at("resolve rootfs", &rootfs)?;
    let linux = spec.linux().clone().unwrap_or_default();
    let plan = Plan::from_spec(linux.namespaces().as_deref().unwrap_or(&[]))?;
    let process = spec.process().as_ref().expect("checked in load_spec");
    if process.terminal().unwrap_or(false) && o.console_socket.is_none() && !o.console_to_parent {
        return Err(Error::Config(
            "terminal: true needs --console-socket".into(),
        ));
    }
    let caps = crate::process::Caps::from_process(process)?;
    let seccomp = match linux.seccomp() {
        Some(s) => Some(
            crate::seccomp::compile(s, o.seccomp_cache.as_deref())
                .map_err(|e| Error::Seccomp(e.to_string()))?,
        ),
        None => None,
    };
    let joins = crate::namespaces::open_joins(&plan)?;
    let console = match &o.console_socket {
        Some(p) if process.terminal().unwrap_or(false) => {
            ConsoleTo::Socket(crate::console::connect(p)?)
        }
        _ if o.console_to_parent && process.terminal().unwrap_or(false) => ConsoleTo::Parent,
        _ => ConsoleTo::None,
    };

    let dir = store.create_dir(&o.id)?;
    let mut guard = Cleanup {
        store,
        id: o.id.clone(),
        pid: 0,
        cgroup: None,
        armed: true,
        poststop: None,
    };

    let hierarchy = berth_cgroups::Hierarchy::detect().ok();
    let cg_path = cgroup_path(&spec, &o.id);
    let cgroup = match &hierarchy {
        Some(h) => {
            let cg = berth_cgroups::Cgroup::new(h, &cg_path)?;
            guard.cgroup = Some(cg.clone());
            Some(cg)
        }
        None => None,
    };
    let user_new = plan.creates(LinuxNamespaceType::User);
    let two_stage = plan.joins(LinuxNamespaceType::User)
        || plan.joins(LinuxNamespaceType::Pid)
        || (user_new && !plan.join.is_empty());
    // The directories are made before the init's cgroup mount binds them (it waits for
    // CgroupReady), and the limits are written before it joins.
    let make_cgroup = || -> Result<()> {
        if let Some(cg) = &cgroup {
            cg.create()?;
        }
        Ok(())
    };
    let limit_cgroup = || -> Result<()> {
        if let (Some(cg), Some(r)) = (&cgroup, linux.resources()) {
            cg.apply(&with_default_device_rules(r, &linux))?;
        }
        Ok(())
    };
    // On a pure v2 host the init is cloned straight into its cgroup, limited by then.
    // Elsewhere the cgroup is limited and joined while the init builds its mounts (below).
    let early_cgroup = two_stage
        || hierarchy
            .as_ref()
            .is_some_and(|h| h.mode() == berth_cgroups::Mode::V2);
    if early_cgroup {
        make_cgroup()?;
        limit_cgroup()?;
    }

    let fifo_path = dir.join(state::EXEC_FIFO);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo_path,
        rustix::fs::FileType::Fifo,
        Mode::from_raw_mode(0o622),
        0,
    )
    .at("mkfifo", &fifo_path)?;
    // mknod applies our umask (0622 & ~022 = 0600): make it exactly 0622 again, or an init
    // that runs as a non-root user cannot open it for writing and dies before `start`.
    rustix::fs::chmod(&fifo_path, Mode::from_raw_mode(0o622)).at("chmod", &fifo_path)?;
    let fifo = rustix::fs::open(&fifo_path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .at("open", &fifo_path)?;
    let host_proc = rustix::fs::open(
        "/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open", "/proc")?;
    crate::rootfs::verify_proc_root(host_proc.as_fd())?;

    let into_cgroup = if two_stage {
        None
    } else {
        cgroup.as_ref().and_then(|c| c.v2_dir_fd().ok().flatten())
    };
    let (parent_chan, child_chan) = sync::pair()?;

    let mut saved = Saved {
        oci_version: spec.version().clone(),
        id: o.id.clone(),
        status: Status::Creating,
        pid: 0,
        bundle: bundle.clone(),
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<HashMap<_, _>>(),
        created: state::now_rfc3339(),
        owner: String::new(),
        init_start_time: 0,
        cgroup_path: cg_path.clone(),
        rootfs: rootfs.clone(),
        use_systemd: false,
    };
    HOOK_STATE.with(|s| {
        *s.borrow_mut() = serde_json::to_vec(&saved.oci(Status::Creating)).unwrap_or_default()
    });
    if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststop().clone()) {
        let st = serde_json::to_vec(&saved.oci(Status::Stopped)).unwrap_or_default();
        guard.poststop = Some((h, st));
    }

    // Time and cgroup namespaces are unshared by the init itself (init.rs): time offsets can
    // only be written before any process lives in the namespace, and a cgroup namespace must
    // be rooted at the container's cgroup, which the init may join only after the clone.
    let deferred = (libc::CLONE_NEWTIME | libc::CLONE_NEWCGROUP) as u64;
    let clone_flags = if two_stage { 0 } else { plan.new & !deferred };
    tracing::debug!(
        us = t0.elapsed().as_micros() as u64,
        "cgroup ready, cloning init"
    );
    // Read before the clone: the child is already in its new namespaces.
    let host_ns = own_namespaces();
    let pid = clone3(clone_flags, into_cgroup.as_ref())?;
    if pid == 0 {
        drop(parent_chan);
        init::main(Init {
            spec: &spec,
            rootfs: rootfs.clone(),
            bundle: bundle.clone(),
            plan: &plan,
            joins,
            chan: child_chan,
            fifo,
            console,
            seccomp,
            caps,
            cgroup: cgroup.clone(),
            hierarchy: hierarchy.clone(),
            host_proc,
            host_ns,
            no_pivot: o.no_pivot,
            preserve_fds: o.preserve_fds,
            two_stage,
            stdio: o.stdio,
            created: false,
        });
    }
    drop(child_chan);
    drop(console);
    guard.pid = pid;
    let mut init_pid = pid;

    // The init reports its own errors already prefixed: keep one "container init:".
    let fail = |m: String| {
        Err(Error::Init(
            m.strip_prefix("container init: ")
                .map(str::to_string)
                .unwrap_or(m),
        ))
    };
    match parent_chan.recv()? {
        Msg::NsReady => {}
        Msg::Error(m) => return fail(m),
        other => return fail(format!("unexpected sync message {other:?}")),
    }
    if user_new {
        write_id_maps(pid, &spec)?;
    }
    if plan.creates(LinuxNamespaceType::Time) {
        write_time_offsets(pid, &linux)?;
    }
    let join_cgroup = || -> Result<()> {
        if !early_cgroup {
            limit_cgroup()?;
        }
        if let Some(cg) = &cgroup
            && into_cgroup.is_none()
        {
            cg.add_process(pid)?;
        }
        if let Some(adj) = process.oom_score_adj() {
            std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string())
                .at("write", format!("/proc/{pid}/oom_score_adj"))?;
        }
        Ok(())
    };
    if two_stage {
        // The intermediate forks the init right after Go: it must be in the cgroup by then.
        join_cgroup()?;
        send_to_init(&parent_chan, &Msg::Go)?;
        send_to_init(&parent_chan, &Msg::CgroupReady)?;
    } else {
        // Joining a v1 cgroup waits for an RCU grace period (milliseconds): do it while the
        // child builds its mounts. The child cannot get past RunHooks (before any hook,
        // pivot_root or exec) until we answer, and we answer only after this.
        send_to_init(&parent_chan, &Msg::Go)?;
        if !early_cgroup {
            make_cgroup()?;
        }
        send_to_init(&parent_chan, &Msg::CgroupReady)?;
        join_cgroup()?;
        tracing::debug!(
            us = t0.elapsed().as_micros() as u64,
            "init joined its cgroup"
        );
    }
    let mut master = None;
    loop {
        let (m, fd) = parent_chan.recv_with_fd()?;
        match m {
            Msg::Pid(p) => {
                crate::console::wait_blocking(pid);
                init_pid = p;
                guard.pid = p;
            }
            Msg::Console => master = fd,
            Msg::SeccompListener => {
                let (Some(fd), Some(sc)) = (fd, linux.seccomp()) else {
                    continue;
                };
                // Without a listenerPath nobody can answer the notifications: the fd is dropped
                // and the trapped syscalls fail with ENOSYS, as the kernel does then.
                if let Some(path) = sc.listener_path() {
                    saved.pid = init_pid;
                    let st: oci_spec::runtime::State = serde_json::from_slice(
                        &serde_json::to_vec(&saved.oci(Status::Creating)).unwrap_or_default(),
                    )
                    .map_err(|e| Error::Other(format!("state for seccomp listener: {e}")))?;
                    let msg = crate::seccomp::listener_state(
                        &st,
                        init_pid,
                        sc.listener_metadata().as_deref(),
                    )
                    .map_err(|e| Error::Seccomp(e.to_string()))?;
                    crate::seccomp::send_listener(fd.as_fd(), path, &msg)
                        .map_err(|e| Error::Seccomp(e.to_string()))?;
                }
            }
            Msg::RunHooks => {
                tracing::debug!(
                    us = t0.elapsed().as_micros() as u64,
                    "init mounted its rootfs"
                );
                saved.pid = init_pid;
                let st = serde_json::to_vec(&saved.oci(Status::Creating)).unwrap_or_default();
                let hooks = spec.hooks().as_ref();
                #[allow(deprecated)]
                crate::hooks::run_all(hooks.and_then(|h| h.prestart().as_ref()), &st, "prestart")?;
                crate::hooks::run_all(
                    hooks.and_then(|h| h.create_runtime().as_ref()),
                    &st,
                    "createRuntime",
                )?;
                send_to_init(&parent_chan, &Msg::HooksDone)?;
            }
            Msg::Ready => {
                tracing::debug!(us = t0.elapsed().as_micros() as u64, "init ready");
                break;
            }
            Msg::Error(m) => return fail(m),
            other => return fail(format!("unexpected sync message {other:?}")),
        }
    }
    saved.pid = init_pid;
    saved.status = Status::Created;
    saved.init_start_time = state::proc_start_time(init_pid).map(|t| t.0).unwrap_or(0);
    store.save(&saved)?;
    if let Some(pf) = &o.pid_file {
        write_pid_file(pf, init_pid)?;
    }
    guard.armed = false;
    Ok(Created {
        pid: init_pid,
        master,
        saved,
        spec,
        cgroup,
    })
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("tmp-berth");
    std::fs::write(&tmp, pid.to_string()).at("write", &tmp)?;
    std::fs::rename(&tmp, path).at("rename", path)
}

/// The status as it is now, derived from the init process, the fifo and the freezer.
pub fn status(store: &Store, s: &Saved) -> Status {
    if !s.init_alive() {
        return Status::Stopped;
    }
    if store.dir(&s.id).join(state::EXEC_FIFO).exists() {
        return Status::Created;
    }
    if let Some(cg) = open_cgroup(s)
        && cg.is_frozen().unwrap_or(false)
    {
        return Status::Paused;
    }
    Status::Running
}

fn open_cgroup(s: &Saved) -> Option<berth_cgroups::Cgroup> {
    let h = berth_cgroups::Hierarchy::detect().ok()?;
    berth_cgroups::Cgroup::new(&h, &s.cgroup_path).ok()
}

/// `start`: releases the init held at the exec fifo, then runs poststart hooks: `poststart`
/// when the caller kept them from `create` (the shim: config.json is then not parsed again
/// on the start path), else those of the bundle's config.json.
pub fn start(store: &Store, id: &str, poststart: Option<&[Hook]>) -> Result<()> {
    let mut s = store.load(id)?;
    let st = status(store, &s);
    if st != Status::Created {
        return Err(Error::BadState {
            id: id.into(),
            status: st.to_string(),
            wanted: "cannot start a container that is not created",
        });
    }
    release(store, &mut s, poststart)
}

/// Opens the exec fifo of a created container (which lets its init exec), records it as
/// running and runs the poststart hooks (None: those of the bundle's config.json).
fn release(store: &Store, s: &mut Saved, poststart: Option<&[Hook]>) -> Result<()> {
    let fifo_path = store.dir(&s.id).join(state::EXEC_FIFO);
    // Non-blocking open and poll: a blocking open (or read) would wait forever if the init
    // died after `create` (it is then never going to open its end).
    let fifo = rustix::fs::open(
        &fifo_path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open", &fifo_path)?;
    let mut b = [0u8; 1];
    let n = loop {
        let mut fds = [rustix::event::PollFd::new(
            &fifo,
            rustix::event::PollFlags::IN,
        )];
        let ts = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        };
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => {
                if !s.init_alive() {
                    break 0;
                }
            }
            Ok(_) => match rustix::io::read(&fifo, &mut b) {
                Err(rustix::io::Errno::AGAIN) => {}
                r => break r.ctx(|| "read exec fifo".into())?,
            },
            Err(e) => return Err(Error::sys("poll exec fifo", e)),
        }
    };
    let _ = std::fs::remove_file(&fifo_path);
    if n == 0 {
        return Err(Error::Init("container init exited before start".into()));
    }
    s.status = Status::Running;
    store.save(s)?;
    let loaded;
    let hooks = match poststart {
        Some(h) => h,
        None => {
            loaded = load_spec(&s.bundle)
                .ok()
                .map(|sp| poststart_hooks(&sp).to_vec());
            loaded.as_deref().unwrap_or_default()
        }
    };
    if !hooks.is_empty() {
        let st = serde_json::to_vec(&s.oci(Status::Running)).unwrap_or_default();
        crate::hooks::run_all_warn(hooks, &st, "poststart");
    }
    Ok(())
}

/// The poststart hooks of a spec (none: empty).
pub fn poststart_hooks(spec: &Spec) -> &[Hook] {
    spec.hooks()
        .as_ref()
        .and_then(|h| h.poststart().as_deref())
        .unwrap_or_default()
}

/// `state`: the OCI state JSON.
pub fn state(store: &Store, id: &str) -> Result<state::OciState> {
    let s = store.load(id)?;
    let st = status(store, &s);
    Ok(s.oci(st))
}

/// `kill`: a signal to the init (through a pidfd, so a recycled pid is never hit), or with
/// `all` to every process in the container's cgroup.
pub fn kill(store: &Store, id: &str, sig: i32, all: bool) -> Result<()> {
    let s = store.load(id)?;
    let st = status(store, &s);
    if all && let Some(cg) = open_cgroup(&s) {
        return Ok(cg.kill_all(sig)?);
    }
    if st == Status::Stopped {
        return Err(Error::BadState {
            id: id.into(),
            status: st.to_string(),
            wanted: "cannot signal it",
        });
    }
    let pid =
        rustix::process::Pid::from_raw(s.pid).ok_or_else(|| Error::Other("bad pid".into()))?;
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .ctx(|| format!("pidfd_open {}", s.pid))?;
    if !s.init_alive() {
        return Err(Error::BadState {
            id: id.into(),
            status: "stopped".into(),
            wanted: "cannot signal it",
        });
    }
    // SAFETY: pidfd_send_signal with a valid pidfd and a null siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(Error::sys(
            format!("signal {sig} to {}", s.pid),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

pub fn pause(store: &Store, id: &str) -> Result<()> {
    let s = store.load(id)?;
    let st = status(store, &s);
    if st != Status::Running && st != Status::Created {
        return Err(Error::BadState {
            id: id.into(),
            status: st.to_string(),
            wanted: "cannot pause it",
        });
    }
    open_cgroup(&s)
        .ok_or_else(|| Error::Other("no cgroup".into()))?
        .freeze()?;
    Ok(())
}

pub fn resume(store: &Store, id: &str) -> Result<()> {
    let s = store.load(id)?;
    let st = status(store, &s);
    if st != Status::Paused {
        return Err(Error::BadState {
            id: id.into(),
            status: st.to_string(),
            wanted: "cannot resume it (not paused)",
        });
    }
    open_cgroup(&s)
        .ok_or_else(|| Error::Other("no cgroup".into()))?
        .thaw()?;
    Ok(())
}

/// Pids in the container's cgroup.
pub fn pids(store: &Store, id: &str) -> Result<Vec<i32>> {
    let s = store.load(id)?;
    match open_cgroup(&s) {
        Some(cg) => Ok(cg.procs()?),
        None => Ok(if s.init_alive() { vec![s.pid] } else { vec![] }),
    }
}

/// `delete`: removes a stopped container (or, with `force`, kills it first), runs poststop
/// hooks, removes its cgroup and state.
pub fn delete(store: &Store, id: &str, force: bool) -> Result<()> {
    let s = match store.load(id) {
        Ok(s) => s,
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let st = status(store, &s);
    let cg = open_cgroup(&s);
    match st {
        Status::Stopped => {}
        Status::Created => kill_and_wait(&s, cg.as_ref()),
        _ if force => kill_and_wait(&s, cg.as_ref()),
        _ => {
            return Err(Error::BadState {
                id: id.into(),
                status: st.to_string(),
                wanted: "cannot delete it (use --force)",
            });
        }
    }
    remove_stopped(store, &s, cg.as_ref(), load_spec(&s.bundle).ok().as_ref())
}

/// The end of a stopped container: stragglers killed, cgroup removed, poststop hooks, state
/// removed.
fn remove_stopped(
    store: &Store,
    s: &Saved,
    cg: Option<&berth_cgroups::Cgroup>,
    spec: Option<&Spec>,
) -> Result<()> {
    if let Some(cg) = cg {
        // Stragglers (e.g. exec'd processes) go too; a cgroup with processes cannot be removed.
        if cg.procs().map(|p| !p.is_empty()).unwrap_or(false) {
            let _ = cg.kill_all(libc::SIGKILL);
            wait_empty(cg);
        }
        cg.delete()?;
    }
    if let Some(spec) = spec {
        let stj = serde_json::to_vec(&s.oci(Status::Stopped)).unwrap_or_default();
        crate::hooks::run_all_warn(
            spec.hooks()
                .as_ref()
                .and_then(|h| h.poststop().as_deref())
                .unwrap_or_default(),
            &stj,
            "poststop",
        );
    }
    store.remove(&s.id)
}

fn kill_and_wait(s: &Saved, cg: Option<&berth_cgroups::Cgroup>) {
    if let Some(cg) = cg {
        let frozen = cg.is_frozen().unwrap_or(false);
        let _ = cg.kill_all(libc::SIGKILL);
        if frozen {
            let _ = cg.thaw();
        }
    }
    if s.init_alive() {
        // SAFETY: the pid is verified alive with the recorded start time just above.
        unsafe { libc::kill(s.pid, libc::SIGKILL) };
    }
    for _ in 0..2000 {
        if !s.init_alive() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    if let Some(cg) = cg {
        wait_empty(cg);
    }
}

fn wait_empty(cg: &berth_cgroups::Cgroup) {
    for _ in 0..2000 {
        if cg.procs().map(|p| p.is_empty()).unwrap_or(true) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Every container under the root with its current status.
pub fn list(store: &Store) -> Result<Vec<(Saved, Status)>> {
    let mut out = Vec::new();
    for id in store.ids()? {
        if let Ok(s) = store.load(&id) {
            let st = status(store, &s);
            out.push((s, st));
        }
    }
    Ok(out)
}

/// `run`: create + start; in the foreground, waits and returns the exit code (128+N when
/// killed by signal N), bridging the terminal when the config asks for one.
/// With `keep`, the stopped container's state stays for `state`/`delete` (runc's --keep).
pub fn run(store: &Store, o: &CreateOpts, detach: bool, keep: bool) -> Result<i32> {
    let mut o = o.clone();
    if !detach {
        // Orphans of a two-stage setup (and the init itself) re-parent to us.
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .ctx(|| "PR_SET_CHILD_SUBREAPER".into())?;
        o.console_to_parent = o.console_socket.is_none();
    }
    let mut created = create(store, &o)?;
    let sfd = if detach {
        None
    } else {
        Some(crate::console::signal_fd()?)
    };
    // The caller's window size, before the process can ask for it (supervise keeps it in sync
    // from then on, but only once the process runs).
    if let Some(m) = &created.master {
        crate::console::inherit_winsize(m.as_fd());
    }
    if let Err(e) = release(
        store,
        &mut created.saved,
        Some(poststart_hooks(&created.spec)),
    ) {
        let _ = delete(store, &o.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = crate::console::supervise(created.pid, sfd.expect("foreground"), created.master)?;
    if !keep {
        // The init was our child and is reaped: what is left is already known in memory.
        remove_stopped(
            store,
            &created.saved,
            created.cgroup.as_ref(),
            Some(&created.spec),
        )?;
    }
    Ok(code)
}
