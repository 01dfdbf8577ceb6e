//! Unit tests: parsers, conversions, and the v1/v2 logic on scratch directory trees laid
//! out like cgroupfs (via `Hierarchy::with_root_override`). Nothing here needs root.

mod detect;
mod devices;
mod stats;
mod v1_scratch;
mod v2_scratch;

use std::fs;
use std::path::{Path, PathBuf};

use crate::fsutil::WRITES;

/// mountinfo of the development hosts: hybrid, with `cpu` and `cpuacct` as separate
/// hierarchies.
pub(super) const HYBRID_MOUNTINFO: &str = "\
23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

pub(super) const HYBRID_SELF_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/abc
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

pub(super) const V2_MOUNTINFO: &str = "\
25 1 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

/// Writes `files` (name, content) into `dir`, creating it.
pub(super) fn touch(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (n, c) in files {
        fs::write(dir.join(n), c).unwrap();
    }
}

pub(super) fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Takes the writes this thread made so far.
pub(super) fn take_writes() -> Vec<(PathBuf, String)> {
    WRITES.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

/// Writes below `dir`, with paths relative to it.
pub(super) fn writes_under(dir: &Path) -> Vec<(String, String)> {
    take_writes()
        .into_iter()
        .filter_map(|(p, v)| {
            p.strip_prefix(dir)
                .ok()
                .map(|r| (r.to_string_lossy().into_owned(), v))
        })
        .collect()
}
