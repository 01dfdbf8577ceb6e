//! Finding the cgroup hierarchies of this host from `/proc/self/mountinfo`.
//!
//! Hosts differ: pure v2 (`/sys/fs/cgroup` is cgroup2), pure v1, and hybrid (v1 controllers
//! plus a cgroup2 mount, usually `/sys/fs/cgroup/unified`). v1 controllers may share a
//! hierarchy (`cpu,cpuacct`) or not, so nothing here assumes a layout: every hierarchy is
//! taken from mountinfo and every caller cgroup from `/proc/self/cgroup`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{Error, fsutil};

/// The v1 controller names the kernel knows; other super options of a `cgroup` mount
/// (`rw`, `noprefix`, `release_agent=`...) are mount flags, not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// Which cgroup layout the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only v1 hierarchies.
    V1,
    /// Everything on cgroup2 (`/sys/fs/cgroup` is cgroup2, no v1 controllers).
    V2,
    /// v1 controllers plus a cgroup2 mount used for process tracking.
    Hybrid,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where the hierarchy is mounted on this host (re-based by `with_root_override`).
    pub mount_point: PathBuf,
    /// The mountinfo root field: which cgroup of the hierarchy is visible at `mount_point`.
    pub root: PathBuf,
    /// v1: the controllers bound to the hierarchy (`["cpu"]`, `["cpu","cpuacct"]`,
    /// `["name=systemd"]`); v2: the root's `cgroup.controllers`.
    pub controllers: Vec<String>,
    /// Whether this is the cgroup2 (unified) hierarchy.
    pub v2: bool,
}

/// The set of hierarchies of this host plus where the calling process sits in each.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    mode: Mode,
    mounts: Vec<CgroupMount>,
    /// Own cgroup per controller from `/proc/self/cgroup`; the v2 entry uses key `""`.
    own: BTreeMap<String, String>,
}

/// See [`Hierarchy::layout_for_child`].
pub const LAYOUT_ENV: &str = "_BERTH_CGROUP_LAYOUT";

/// [`Hierarchy::detect`]'s answer for the process whose pid it holds (0: this process and
/// its forks, see [`Hierarchy::adopt_layout_from_env`]).
static LAYOUT_CACHE: std::sync::Mutex<Option<(u32, Hierarchy)>> = std::sync::Mutex::new(None);

impl Hierarchy {
    /// Reads the live host layout, once per process: `/proc/self/mountinfo` grows with every
    /// mount on the host (each running container's overlay, whose options the kernel formats
    /// for every read), and a container start asked for it three times. A forked child reads
    /// it again (it may have moved to another cgroup).
    pub fn detect() -> Result<Hierarchy, Error> {
        let pid = std::process::id();
        let mut cache = LAYOUT_CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((p, h)) = cache.as_ref()
            && (*p == pid || *p == 0)
        {
            return Ok(h.clone());
        }
        let h = Self::detect_uncached()?;
        *cache = Some((pid, h.clone()));
        Ok(h)
    }

    /// The layout a process hands to a child it starts in its own cgroup (berthd to its
    /// shims) through [`LAYOUT_ENV`]: the cgroup lines of its mountinfo, then a `---` line,
    /// then its `/proc/self/cgroup`. The child then reads neither file.
    pub fn layout_for_child() -> Result<String, Error> {
        let mi = fsutil::read(Path::new("/proc/self/mountinfo"))?;
        let sc = fsutil::read(Path::new("/proc/self/cgroup"))?;
        let mut out = String::new();
        for line in mi.lines().filter(|l| {
            l.split_once(" - ")
                .and_then(|(_, post)| post.split_whitespace().next())
                .is_some_and(|t| t == "cgroup" || t == "cgroup2")
        }) {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("---\n");
        out.push_str(&sc);
        Ok(out)
    }

    /// Makes the layout in [`LAYOUT_ENV`] (if any) this process's [`Hierarchy::detect`]
    /// answer, and removes the variable so it goes no further. Call it while the process is
    /// single-threaded.
    pub fn adopt_layout_from_env() {
        let Some(text) = std::env::var_os(LAYOUT_ENV) else {
            return;
        };
        // SAFETY: the caller is single-threaded (see above).
        unsafe { std::env::remove_var(LAYOUT_ENV) };
        let text = text.to_string_lossy();
        let Some((mi, sc)) = text.split_once("---\n") else {
            return;
        };
        let Ok(mut h) = Hierarchy::from_mountinfo(mi, sc) else {
            return;
        };
        h.load_v2_controllers();
        // Pid 0: good for the forks of this process too (the shim creates containers from
        // a fork), which stay in its cgroup.
        *LAYOUT_CACHE.lock().unwrap_or_else(|p| p.into_inner()) = Some((0, h));
    }

    fn detect_uncached() -> Result<Hierarchy, Error> {
        let mi = fsutil::read(Path::new("/proc/self/mountinfo"))?;
        let sc = fsutil::read(Path::new("/proc/self/cgroup"))?;
        let mut h = Hierarchy::from_mountinfo(&mi, &sc)?;
        h.load_v2_controllers();
        tracing::debug!(mode = ?h.mode, mounts = h.mounts.len(), "detected cgroup hierarchy");
        Ok(h)
    }

    /// Pure parser over the text of `/proc/self/mountinfo` and `/proc/self/cgroup`. v2
    /// controller lists stay empty here because they live on disk; `detect` and
    /// `with_root_override` fill them.
    pub fn from_mountinfo(mountinfo: &str, self_cgroup: &str) -> Result<Hierarchy, Error> {
        let mut v1: Vec<CgroupMount> = Vec::new();
        let mut v2: Option<CgroupMount> = None;
        for (n, line) in mountinfo.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some(m) = parse_mountinfo_line(line).map_err(|reason| Error::Parse {
                path: PathBuf::from("/proc/self/mountinfo"),
                reason: format!("line {}: {reason}", n + 1),
            })?
            else {
                continue;
            };
            if m.v2 {
                // Several cgroup2 mounts can exist (bind mounts); prefer the canonical one.
                let better = match &v2 {
                    None => true,
                    Some(old) => {
                        !old.mount_point.starts_with("/sys/fs/cgroup")
                            && m.mount_point.starts_with("/sys/fs/cgroup")
                    }
                };
                if better {
                    v2 = Some(m);
                }
            } else if m.controllers.is_empty() {
                continue;
            } else if let Some(i) = v1.iter().position(|o| o.controllers == m.controllers) {
                if !v1[i].mount_point.starts_with("/sys/fs/cgroup")
                    && m.mount_point.starts_with("/sys/fs/cgroup")
                {
                    v1[i] = m;
                }
            } else {
                v1.push(m);
            }
        }
        let has_v1_controllers = v1
            .iter()
            .any(|m| m.controllers.iter().any(|c| !c.starts_with("name=")));
        let mode = match (has_v1_controllers, v2.is_some(), v1.is_empty()) {
            (false, true, _) => Mode::V2,
            (true, true, _) => Mode::Hybrid,
            (true, false, _) => Mode::V1,
            (false, false, false) => Mode::V1,
            (false, false, true) => return Err(Error::NoHierarchy),
        };
        let mut mounts = v1;
        mounts.extend(v2);
        Ok(Hierarchy {
            mode,
            mounts,
            own: parse_self_cgroup(self_cgroup)?,
        })
    }

    /// Re-bases every mount point under `root` (tests lay out a fake cgroupfs there) and
    /// re-reads the v2 controller list from the new location when it exists.
    pub fn with_root_override(mut self, root: &Path) -> Hierarchy {
        for m in &mut self.mounts {
            let rel = m.mount_point.strip_prefix("/").unwrap_or(&m.mount_point);
            m.mount_point = root.join(rel);
        }
        self.load_v2_controllers();
        self
    }

    /// The host layout.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Every mounted hierarchy, v1 ones first, the cgroup2 one (if any) last.
    pub fn mounts(&self) -> &[CgroupMount] {
        &self.mounts
    }

    /// The cgroup2 mount, if any.
    pub fn v2_mount(&self) -> Option<&CgroupMount> {
        self.mounts.iter().find(|m| m.v2)
    }

    /// The calling process's cgroup in the hierarchy of `m` (from `/proc/self/cgroup`).
    pub fn own_cgroup(&self, m: &CgroupMount) -> Option<&str> {
        if m.v2 {
            return self.own.get("").map(String::as_str);
        }
        m.controllers
            .first()
            .and_then(|c| self.own.get(c))
            .map(String::as_str)
    }

    pub(crate) fn load_v2_controllers(&mut self) {
        for m in self.mounts.iter_mut().filter(|m| m.v2) {
            let p = m.mount_point.join("cgroup.controllers");
            match std::fs::read_to_string(&p) {
                Ok(s) => m.controllers = s.split_whitespace().map(str::to_owned).collect(),
                Err(e) => tracing::debug!(path = %p.display(), error = %e, "no cgroup.controllers"),
            }
        }
    }
}

/// Parses one mountinfo line; `Ok(None)` for mounts that are not cgroup hierarchies.
fn parse_mountinfo_line(line: &str) -> Result<Option<CgroupMount>, String> {
    let (pre, post) = line
        .split_once(" - ")
        .ok_or_else(|| "missing ' - ' separator".to_string())?;
    let mut post_it = post.split_whitespace();
    let fstype = post_it.next().ok_or("missing filesystem type")?;
    let v2 = match fstype {
        "cgroup2" => true,
        "cgroup" => false,
        _ => return Ok(None),
    };
    let _source = post_it.next();
    let super_opts = post_it.next().unwrap_or("");
    let fields: Vec<&str> = pre.split_whitespace().collect();
    if fields.len() < 5 {
        return Err(format!(
            "expected at least 5 fields before ' - ', found {}",
            fields.len()
        ));
    }
    let root = PathBuf::from(unescape(fields[3]));
    let mount_point = PathBuf::from(unescape(fields[4]));
    let controllers = if v2 {
        Vec::new()
    } else {
        let mut c: Vec<String> = super_opts
            .split(',')
            .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
            .map(str::to_owned)
            .collect();
        c.sort();
        c
    };
    Ok(Some(CgroupMount {
        mount_point,
        root,
        controllers,
        v2,
    }))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/self/cgroup` (`ID:controllers:path` per line) into controller → path,
/// with the v2 line (`0::path`) under the key `""`.
pub(crate) fn parse_self_cgroup(s: &str) -> Result<BTreeMap<String, String>, Error> {
    let mut own = BTreeMap::new();
    for (n, line) in s.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut it = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            return Err(Error::Parse {
                path: PathBuf::from("/proc/self/cgroup"),
                reason: format!(
                    "line {}: expected ID:controllers:path, found {line:?}",
                    n + 1
                ),
            });
        };
        if id == "0" && ctrls.is_empty() {
            own.insert(String::new(), path.to_owned());
            continue;
        }
        for c in ctrls.split(',').filter(|c| !c.is_empty()) {
            own.insert(c.to_owned(), path.to_owned());
        }
    }
    Ok(own)
}
