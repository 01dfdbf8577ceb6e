//! Host tuning that berthd applies only when configured to.
//!
//! Moving a process into a cgroup takes the kernel's `cgroup_threadgroup_rwsem` for
//! writing, and by default every such write first waits for an RCU grace period: 1 ms on
//! an idle machine, 10–20 ms on a busy one, on every container start (runc and crun pay it
//! too). The cgroup2 mount option `favordynmods` (Linux 6.0+) keeps that lock in its
//! writer-friendly mode instead, at the price of slightly slower fork and exit; the switch
//! is global, so setting it on the host's cgroup2 mount (the unified one on a hybrid host)
//! speeds up joins in v1 hierarchies as well.

use std::path::{Path, PathBuf};

use crate::Error;

/// The cgroup2 mount of this host and its superblock options (`rw,nsdelegate,...`).
pub fn cgroup2_mount() -> Result<Option<(PathBuf, String)>, Error> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").map_err(|source| Error::Read {
        path: "/proc/self/mountinfo".into(),
        source,
    })?;
    Ok(parse_cgroup2_mount(&info))
}

fn parse_cgroup2_mount(mountinfo: &str) -> Option<(PathBuf, String)> {
    mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut post = post.split(' ');
        if post.next()? != "cgroup2" {
            return None;
        }
        let super_opts = post.nth(1)?.to_owned();
        let mp = pre.split(' ').nth(4)?;
        mp.starts_with("/sys/fs/cgroup")
            .then(|| (PathBuf::from(mp), super_opts))
    })
}

/// Whether `favordynmods` is set on the host's cgroup2 mount (false without one).
pub fn favordynmods() -> Result<bool, Error> {
    Ok(cgroup2_mount()?.is_some_and(|(_, o)| o.split(',').any(|x| x == "favordynmods")))
}

/// Sets (`on`) or clears `favordynmods` on the cgroup2 mount at `mount`, keeping its other
/// superblock options (a cgroup2 remount replaces all of them).
pub fn set_favordynmods(mount: &Path, super_opts: &str, on: bool) -> Result<(), Error> {
    let mut opts: Vec<&str> = super_opts
        .split(',')
        .filter(|o| !matches!(*o, "rw" | "ro" | "favordynmods" | ""))
        .collect();
    if on {
        opts.push("favordynmods");
    }
    let data = opts.join(",");
    rustix::mount::mount_remount(mount, rustix::mount::MountFlags::empty(), data.as_str()).map_err(
        |e| Error::Write {
            path: mount.to_owned(),
            value: format!("remount {data:?}"),
            source: e.into(),
        },
    )
}

/// Turns `favordynmods` on for the host's cgroup2 mount. Returns whether it changed
/// anything; `Ok(false)` when it was already on or the host has no cgroup2 mount.
pub fn enable_favordynmods() -> Result<bool, Error> {
    match cgroup2_mount()? {
        Some((mp, opts)) if !opts.split(',').any(|o| o == "favordynmods") => {
            set_favordynmods(&mp, &opts, true)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_on_hybrid_and_pure_v2_hosts() {
        let hybrid = "31 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
                      41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                      42 31 0:39 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        assert_eq!(
            parse_cgroup2_mount(hybrid),
            Some(("/sys/fs/cgroup/unified".into(), "rw".into()))
        );
        let v2 = "30 25 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 \
                  rw,nsdelegate,memory_recursiveprot\n";
        assert_eq!(
            parse_cgroup2_mount(v2),
            Some((
                "/sys/fs/cgroup".into(),
                "rw,nsdelegate,memory_recursiveprot".into()
            ))
        );
        // A container's own cgroup2 mount elsewhere is not the host's.
        assert_eq!(
            parse_cgroup2_mount("50 1 0:40 / /tmp/x rw - cgroup2 cgroup2 rw\n"),
            None
        );
    }
}
