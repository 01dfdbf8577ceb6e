//! What a test daemon may leave behind once it is gone (included by the berthd and berth
//! CLI fixtures with `#[path]`): container processes found by cgroup, shims, rootfs mounts,
//! the containers' cgroups, and anything still mounted under the test's temp dir.

use std::path::Path;
use std::time::Duration;

/// Where berth's containers have cgroups on a v1/hybrid host ("" is a pure v2 root).
pub const CONTROLLERS: [&str; 11] = [
    "pids", "memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "systemd",
    "unified", "",
];

pub fn kill_pid(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid read from our own state files; no memory involved.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// SIGKILLs every process in a container's cgroups (thawing a frozen one first).
pub fn kill_cgroup(id: &str) {
    let _ = std::fs::write(
        Path::new("/sys/fs/cgroup/freezer/berth")
            .join(id)
            .join("freezer.state"),
        "THAWED",
    );
    for ctl in CONTROLLERS {
        let cg = Path::new("/sys/fs/cgroup").join(ctl).join("berth").join(id);
        if let Ok(procs) = std::fs::read_to_string(cg.join("cgroup.procs")) {
            for p in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                kill_pid(p, libc::SIGKILL);
            }
        }
    }
}

/// After the daemon is gone: kills the containers `ids` (and their shims, from the exec
/// root's pid files), unmounts their rootfs in `data`, removes their cgroups, then detaches
/// whatever is still mounted under `root`.
pub fn remove(ids: &[String], data: &Path, exec: &Path, root: &Path) {
    for id in ids {
        kill_cgroup(id);
        if let Ok(p) = std::fs::read_to_string(exec.join("containers").join(id).join("shim.pid"))
            && let Ok(p) = p.trim().parse::<i32>()
        {
            kill_pid(p, libc::SIGKILL);
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    for id in ids {
        let merged = data.join("containers").join(id).join("merged");
        let _ = rustix::mount::unmount(&merged, rustix::mount::UnmountFlags::DETACH);
        for ctl in CONTROLLERS {
            let _ =
                std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(ctl).join("berth").join(id));
        }
    }
    if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
        let root = root.to_string_lossy().into_owned();
        let mut mps: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .collect();
        mps.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mps {
            let _ = rustix::mount::unmount(m, rustix::mount::UnmountFlags::DETACH);
        }
    }
}
