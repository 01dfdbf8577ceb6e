//! A container's cgroup across every hierarchy of the host: resolving `linux.cgroupsPath`,
//! creating, attaching processes, applying resources, and removing it again.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::detect::{CgroupMount, Hierarchy, Mode};
use crate::{Error, devices, devices_bpf, freezer, fsutil, stats, v1, v2};

/// One hierarchy's directory for this cgroup.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// v1 controllers of the hierarchy (`name=systemd` included); empty for v2.
    pub(crate) controllers: Vec<String>,
    pub(crate) v2: bool,
    pub(crate) mount_point: PathBuf,
    /// The cgroup directory on the host.
    pub(crate) dir: PathBuf,
}

/// A cgroup (one directory per mounted hierarchy). Creating the value touches nothing on
/// disk, so the runtime can compute paths (e.g. for `state`) without side effects.
#[derive(Debug, Clone)]
pub struct Cgroup {
    path: String,
    mode: Mode,
    nodes: Vec<Node>,
}

impl Cgroup {
    /// `path` is OCI `linux.cgroupsPath`: absolute paths are taken from each hierarchy's
    /// mount point (as runc does); a relative path is placed under the caller's own cgroup
    /// of that hierarchy. Empty paths, `..` components and the bare root are refused,
    /// because every later operation (and `delete` above all) would hit the wrong cgroup.
    pub fn new(h: &Hierarchy, path: &str) -> Result<Cgroup, Error> {
        let invalid = |reason: &str| Error::InvalidPath {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if path.trim().is_empty() {
            return Err(invalid("empty"));
        }
        if path.contains('\0') {
            return Err(invalid("contains a NUL byte"));
        }
        let comps = components(path).ok_or_else(|| invalid("'..' is not allowed"))?;
        if comps.is_empty() {
            return Err(invalid("refers to the root cgroup"));
        }
        let absolute = path.starts_with('/');
        let nodes = h
            .mounts()
            .iter()
            .map(|m| Node {
                controllers: m.controllers.clone(),
                v2: m.v2,
                mount_point: m.mount_point.clone(),
                dir: node_dir(h, m, absolute, &comps),
            })
            .collect();
        Ok(Cgroup {
            path: path.to_owned(),
            mode: h.mode(),
            nodes,
        })
    }

    /// The path this cgroup was created from (`linux.cgroupsPath`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Host layout this cgroup lives on.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Host directory of this cgroup for a v1 controller (`"memory"`, `"pids"`,
    /// `"name=systemd"`), or for the cgroup2 hierarchy when `controller` is `""`. On a pure
    /// v2 host every controller name maps to the single v2 directory.
    pub fn dir(&self, controller: &str) -> Option<PathBuf> {
        if controller.is_empty() || self.mode == Mode::V2 {
            return self.v2_node().map(|n| n.dir.clone());
        }
        self.v1_node(controller).map(|n| n.dir.clone())
    }

    /// Creates the cgroup in every hierarchy (like `mkdir -p`). On a pure v2 host it enables
    /// the available controllers in each ancestor's `cgroup.subtree_control`, since a v2
    /// child only gets the controllers its parent delegates (on hybrid hosts the cgroup2
    /// side only tracks processes and is delegated to lazily, see `apply`). On v1 `cpuset` it copies
    /// `cpuset.cpus`/`cpuset.mems` down from the parent, because a cpuset cgroup with empty
    /// sets refuses every task.
    pub fn create(&self) -> Result<(), Error> {
        let span = tracing::debug_span!("cgroup_create", path = %self.path);
        let _g = span.enter();
        for n in &self.nodes {
            if n.v2 && self.mode == Mode::Hybrid {
                // Only process tracking lives there; a read-only or foreign cgroup2 mount
                // must not keep containers from starting.
                if let Err(e) = v2::create(&n.mount_point, &n.dir, false) {
                    tracing::warn!(error = %e, "hybrid cgroup2 side not created");
                }
            } else if n.v2 {
                v2::create(&n.mount_point, &n.dir, true)?;
            } else {
                mkdir_all(&n.dir)?;
                if n.controllers.iter().any(|c| c == "cpuset") {
                    v1::cpuset_inherit(&n.mount_point, &n.dir)?;
                }
            }
        }
        Ok(())
    }

    /// Applies `linux.resources`. On v1 and hybrid hosts the v1 controllers get the limits;
    /// the hybrid cgroup2 mount only receives what no v1 controller covers (hugetlb or
    /// rdma when they sit on cgroup2, and the `unified` map).
    ///
    /// Inputs that can be checked without the kernel (device rules, page sizes, `unified`
    /// keys, values v2 cannot express) are checked before anything is written, so a bad
    /// spec does not leave a half-applied cgroup behind.
    pub fn apply(&self, r: &LinuxResources) -> Result<(), Error> {
        let span = tracing::debug_span!("cgroup_apply", path = %self.path);
        let _g = span.enter();
        let policy = validate(r, self.mode)?;
        match self.mode {
            Mode::V2 => {
                let n = self.v2_node().ok_or_else(|| no_v2(&self.path))?;
                v2::apply(&n.dir, r)?;
                if let Some(policy) = policy {
                    devices_bpf::apply(&n.dir, &policy)?;
                }
                Ok(())
            }
            Mode::V1 | Mode::Hybrid => {
                v1::apply(self, r, policy.as_ref())?;
                let v2n = self.v2_node();
                if let Some(h) = r.hugepage_limits()
                    && !h.is_empty()
                    && self.v1_node("hugetlb").is_none()
                {
                    match v2n {
                        Some(n) => {
                            v2::delegate(&n.mount_point, &n.dir, &["hugetlb"])?;
                            v2::hugetlb(&n.dir, h)?
                        }
                        None => return Err(missing("hugetlb", "hugepageLimits")),
                    }
                }
                if let Some(m) = r.rdma()
                    && !m.is_empty()
                {
                    match (self.v1_node("rdma"), v2n) {
                        (Some(n), _) => v2::rdma(&n.dir, m)?,
                        (None, Some(n)) => {
                            v2::delegate(&n.mount_point, &n.dir, &["rdma"])?;
                            v2::rdma(&n.dir, m)?
                        }
                        (None, None) => return Err(missing("rdma", "rdma")),
                    }
                }
                if let Some(u) = r.unified()
                    && !u.is_empty()
                {
                    match v2n {
                        Some(n) => {
                            let mut ctrls: Vec<&str> =
                                u.keys().filter_map(|k| k.split('.').next()).collect();
                            ctrls.sort_unstable();
                            ctrls.dedup();
                            v2::delegate(&n.mount_point, &n.dir, &ctrls)?;
                            v2::unified(&n.dir, u)?
                        }
                        None => {
                            return Err(Error::invalid(
                                "unified",
                                "cgroup v2 is not mounted on this host",
                            ));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Moves `pid` into this cgroup in every hierarchy, including `name=systemd` and the
    /// hybrid cgroup2 mount, so tools that track processes by any hierarchy see it.
    pub fn add_process(&self, pid: i32) -> Result<(), Error> {
        if pid <= 0 {
            return Err(Error::invalid("pid", format!("{pid} is not a process id")));
        }
        let value = pid.to_string();
        for n in &self.nodes {
            let res = fsutil::write(&n.dir.join("cgroup.procs"), &value);
            match res {
                Err(e) if n.v2 && self.mode == Mode::Hybrid => {
                    tracing::warn!(pid, error = %e, "not tracked in the hybrid cgroup2 side");
                }
                r => r?,
            }
        }
        tracing::debug!(path = %self.path, pid, "process added to cgroup");
        Ok(())
    }

    /// On a pure v2 host, an `O_PATH` descriptor of the cgroup directory for
    /// `clone3(CLONE_INTO_CGROUP)`, which starts the child inside the cgroup and so avoids
    /// the window where it runs unlimited. `None` elsewhere: v1 has no such thing.
    pub fn v2_dir_fd(&self) -> Result<Option<OwnedFd>, Error> {
        if self.mode != Mode::V2 {
            return Ok(None);
        }
        let n = self.v2_node().ok_or_else(|| no_v2(&self.path))?;
        use rustix::fs::{Mode as FsMode, OFlags, open};
        let fd = open(
            &n.dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            FsMode::empty(),
        )
        .map_err(|e| Error::Open {
            path: n.dir.clone(),
            source: e.into(),
        })?;
        Ok(Some(fd))
    }

    /// Every process in this cgroup and its descendants (the container may create child
    /// cgroups of its own), across all hierarchies, sorted and without duplicates.
    pub fn procs(&self) -> Result<Vec<i32>, Error> {
        let mut pids = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            collect_procs(&n.dir, &mut pids, i == 0)?;
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Freezes every process (v2 `cgroup.freeze`, v1 `freezer.state`) and waits until the
    /// kernel reports the cgroup frozen, so a caller that then reads state sees no runner.
    pub fn freeze(&self) -> Result<(), Error> {
        match self.freezer()? {
            Freezer::V1(d) => freezer::freeze_v1(d),
            Freezer::V2(d) => freezer::freeze_v2(d),
        }
    }

    /// Undoes `freeze`.
    pub fn thaw(&self) -> Result<(), Error> {
        match self.freezer()? {
            Freezer::V1(d) => freezer::thaw_v1(d),
            Freezer::V2(d) => freezer::thaw_v2(d),
        }
    }

    /// Whether the cgroup is (fully) frozen.
    pub fn is_frozen(&self) -> Result<bool, Error> {
        match self.freezer()? {
            Freezer::V1(d) => freezer::is_frozen_v1(d),
            Freezer::V2(d) => freezer::is_frozen_v2(d),
        }
    }

    /// Sends `signal` to every process in the cgroup. For SIGKILL on cgroup2 with
    /// `cgroup.kill` the kernel does it atomically; otherwise the cgroup is frozen first
    /// (when a freezer exists) so no process can fork a child that escapes the signal.
    pub fn kill_all(&self, signal: i32) -> Result<(), Error> {
        if signal == libc::SIGKILL
            && let Some(n) = self.v2_node()
        {
            let kill = n.dir.join("cgroup.kill");
            if self.mode == Mode::V2 && kill.exists() {
                fsutil::write(&kill, "1")?;
                tracing::debug!(path = %self.path, "killed via cgroup.kill");
                return Ok(());
            }
        }
        let frozen = match self.freeze() {
            Ok(()) => true,
            Err(e @ Error::Timeout { .. }) => {
                // A stuck freeze must not keep a kill from happening; signal anyway.
                tracing::warn!(path = %self.path, error = %e, "freeze before kill failed");
                false
            }
            Err(Error::Unsupported { .. }) => false,
            Err(e) => return Err(e),
        };
        let res = self.signal_all(signal);
        if frozen {
            self.thaw()?;
        }
        res
    }

    fn signal_all(&self, signal: i32) -> Result<(), Error> {
        for pid in self.procs()? {
            // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions.
            let rc = unsafe { libc::kill(pid, signal) };
            if rc != 0 {
                let e = io::Error::last_os_error();
                // The process may have exited between reading cgroup.procs and now.
                if e.raw_os_error() != Some(libc::ESRCH) {
                    return Err(Error::Signal {
                        pid,
                        signal,
                        source: e,
                    });
                }
            }
        }
        Ok(())
    }

    /// Usage numbers for `docker stats` and `runtime events --stats`.
    pub fn stats(&self) -> Result<stats::Stats, Error> {
        let v2dir = self.v2_node().map(|n| n.dir.as_path());
        if self.mode == Mode::V2 {
            let d = v2dir.ok_or_else(|| no_v2(&self.path))?;
            return stats::collect_v2(d);
        }
        let dir = |c: &str| self.v1_node(c).map(|n| n.dir.as_path());
        stats::collect_v1(
            &stats::V1Dirs {
                memory: dir("memory"),
                cpu: dir("cpu"),
                cpuacct: dir("cpuacct"),
                pids: dir("pids"),
                blkio: dir("blkio"),
            },
            v2dir,
        )
    }

    /// How many processes the OOM killer has killed in this cgroup (and its children)
    /// so far. The shim compares it before and after the main process exits to report
    /// Docker's `State.OOMKilled`; 0 when the kernel does not count (v1 before 4.13).
    pub fn oom_kills(&self) -> Result<u64, Error> {
        let (dir, file) = match self.mode {
            Mode::V2 => (self.v2_node().map(|n| &n.dir), "memory.events"),
            _ => (self.v1_node("memory").map(|n| &n.dir), "memory.oom_control"),
        };
        let Some(dir) = dir else { return Ok(0) };
        let path = dir.join(file);
        let Some(text) = fsutil::read_opt(&path)? else {
            return Ok(0);
        };
        Ok(fsutil::parse_flat_keyed(&text)
            .into_iter()
            .find(|(k, _)| *k == "oom_kill")
            .map_or(0, |(_, v)| v))
    }

    /// Removes the cgroup (and any child cgroups created inside it) from every hierarchy,
    /// deepest first. A cgroup stays busy for a moment after its last process exits, so
    /// `EBUSY` is retried briefly; a directory that is already gone is fine.
    pub fn delete(&self) -> Result<(), Error> {
        let span = tracing::debug_span!("cgroup_delete", path = %self.path);
        let _g = span.enter();
        let mut first_err = None;
        for n in &self.nodes {
            if let Err(e) = remove_tree(&n.dir)
                && first_err.is_none()
            {
                first_err = Some(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(crate) fn v2_node(&self) -> Option<&Node> {
        self.nodes.iter().find(|n| n.v2)
    }

    pub(crate) fn v1_node(&self, controller: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| !n.v2 && n.controllers.iter().any(|c| c == controller))
    }

    fn freezer(&self) -> Result<Freezer<'_>, Error> {
        if self.mode != Mode::V2
            && let Some(n) = self.v1_node("freezer")
        {
            return Ok(Freezer::V1(&n.dir));
        }
        if let Some(n) = self.v2_node()
            && (self.mode == Mode::V2 || n.dir.join("cgroup.freeze").exists())
        {
            return Ok(Freezer::V2(&n.dir));
        }
        Err(Error::Unsupported {
            what: "freezing".into(),
            reason: "no v1 freezer hierarchy and no cgroup2 cgroup.freeze".into(),
        })
    }
}

/// Checks what can be checked before writing; returns the device policy when the spec
/// has device rules.
fn validate(r: &LinuxResources, mode: Mode) -> Result<Option<devices::DevicePolicy>, Error> {
    for l in r.hugepage_limits().iter().flatten() {
        v2::check_page_size(l.page_size())?;
    }
    for d in r.rdma().iter().flat_map(|m| m.keys()) {
        v2::check_rdma_device(d)?;
    }
    for k in r.unified().iter().flat_map(|u| u.keys()) {
        v2::check_unified_key(k)?;
    }
    if mode == Mode::V2
        && let Some(c) = r.cpu()
        && (c.realtime_runtime().is_some_and(|v| v != 0)
            || c.realtime_period().is_some_and(|v| v != 0))
    {
        return Err(Error::invalid(
            "cpu.realtime",
            "real-time scheduling limits do not exist in cgroup v2",
        ));
    }
    r.devices()
        .as_deref()
        .map(devices::DevicePolicy::from_oci)
        .transpose()
}

enum Freezer<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

fn no_v2(path: &str) -> Error {
    Error::InvalidPath {
        path: path.to_owned(),
        reason: "host reports cgroup v2 but no cgroup2 mount was found".into(),
    }
}

pub(crate) fn missing(controller: &str, resource: &str) -> Error {
    Error::ControllerMissing {
        controller: controller.into(),
        resource: resource.into(),
    }
}

/// Splits a cgroup path into normal components; `None` when it contains `..`.
fn components(path: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Host directory of the cgroup in hierarchy `m`.
fn node_dir(h: &Hierarchy, m: &CgroupMount, absolute: bool, comps: &[&str]) -> PathBuf {
    let mut dir = m.mount_point.clone();
    if !absolute {
        let own = h.own_cgroup(m).unwrap_or("/");
        // /proc/self/cgroup paths are relative to the hierarchy root; the mount shows the
        // subtree named by the mountinfo root field.
        let own = Path::new(own);
        let rel = own.strip_prefix(&m.root).unwrap_or(own);
        if let Some(own_comps) = components(&rel.to_string_lossy()) {
            dir.extend(own_comps);
        }
    }
    dir.extend(comps);
    dir
}

pub(crate) fn mkdir_all(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Mkdir {
        path: dir.to_owned(),
        source,
    })
}

fn collect_procs(dir: &Path, out: &mut Vec<i32>, strict: bool) -> Result<(), Error> {
    let p = dir.join("cgroup.procs");
    let s = match fsutil::read_opt(&p)? {
        Some(s) => s,
        // A missing top-level directory in the first hierarchy is an error; in the others
        // (or for a child that vanished meanwhile) it just has no processes.
        None if strict => {
            return Err(Error::Read {
                path: p,
                source: io::Error::from_raw_os_error(libc::ENOENT),
            });
        }
        None => return Ok(()),
    };
    out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Read {
                path: dir.to_owned(),
                source,
            });
        }
    };
    for ent in rd.flatten() {
        if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect_procs(&ent.path(), out, false)?;
        }
    }
    Ok(())
}

/// rmdir `dir` after its child cgroups. cgroupfs control files cannot (and need not) be
/// unlinked: rmdir of a cgroup succeeds with them in place.
fn remove_tree(dir: &Path) -> Result<(), Error> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Rmdir {
                path: dir.to_owned(),
                source,
            });
        }
    };
    for ent in rd.flatten() {
        if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&ent.path())?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut wait = Duration::from_millis(2);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(100));
            }
            Err(source) => {
                return Err(Error::Rmdir {
                    path: dir.to_owned(),
                    source,
                });
            }
        }
    }
}
