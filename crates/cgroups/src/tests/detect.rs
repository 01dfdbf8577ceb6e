use std::path::{Path, PathBuf};

use super::*;
use crate::{Cgroup, Error, Hierarchy, Mode};

#[test]
fn hybrid_host_with_separate_cpu_and_cpuacct_is_hybrid() {
    let h = Hierarchy::from_mountinfo(HYBRID_MOUNTINFO, HYBRID_SELF_CGROUP).unwrap();
    assert_eq!(h.mode(), Mode::Hybrid);
    assert_eq!(h.mounts().len(), 10);
    let cpu = h
        .mounts()
        .iter()
        .find(|m| m.controllers == ["cpu"])
        .unwrap();
    assert_eq!(cpu.mount_point, Path::new("/sys/fs/cgroup/cpu"));
    assert!(h.mounts().iter().any(|m| m.controllers == ["cpuacct"]));
    assert!(h.mounts().iter().any(|m| m.controllers == ["name=systemd"]));
    let v2 = h.v2_mount().unwrap();
    assert_eq!(v2.mount_point, Path::new("/sys/fs/cgroup/unified"));
    assert!(v2.v2);
    assert_eq!(
        h.own_cgroup(
            h.mounts()
                .iter()
                .find(|m| m.controllers == ["memory"])
                .unwrap()
        ),
        Some("/process_api/abc")
    );
}

#[test]
fn pure_cgroup2_host_is_v2() {
    let h = Hierarchy::from_mountinfo(V2_MOUNTINFO, "0::/user.slice/x.scope\n").unwrap();
    assert_eq!(h.mode(), Mode::V2);
    assert_eq!(h.mounts().len(), 1);
    assert_eq!(h.own_cgroup(&h.mounts()[0]), Some("/user.slice/x.scope"));
}

#[test]
fn combined_cpu_cpuacct_hierarchy_is_one_mount() {
    let mi = "\
30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio,clone_children
";
    let h = Hierarchy::from_mountinfo(mi, "3:cpu,cpuacct:/a\n2:memory:/a\n").unwrap();
    assert_eq!(h.mode(), Mode::V1);
    assert_eq!(h.mounts().len(), 3);
    assert_eq!(h.mounts()[0].controllers, ["cpu", "cpuacct"]);
    assert_eq!(h.mounts()[2].controllers, ["net_cls", "net_prio"]);
    let cg = Cgroup::new(&h, "/c").unwrap();
    assert_eq!(
        cg.dir("cpuacct"),
        Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/c"))
    );
    assert_eq!(cg.dir(""), None);
}

#[test]
fn systemd_named_hierarchy_alone_does_not_make_a_hybrid() {
    let mi = "\
25 1 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
26 25 0:24 / /run/systemd/v1 rw - cgroup cgroup rw,xattr,name=systemd
";
    let h = Hierarchy::from_mountinfo(mi, "1:name=systemd:/\n0::/\n").unwrap();
    assert_eq!(h.mode(), Mode::V2);
    assert_eq!(h.mounts().len(), 2);
}

#[test]
fn no_cgroup_mount_is_an_error() {
    let mi = "23 1 0:21 / /sys rw - sysfs sysfs rw\n";
    assert!(matches!(
        Hierarchy::from_mountinfo(mi, ""),
        Err(Error::NoHierarchy)
    ));
}

#[test]
fn bind_mounts_prefer_the_canonical_location() {
    let mi = "\
50 1 0:31 / /mnt/memory rw - cgroup cgroup rw,memory
51 1 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
52 1 0:38 / /mnt/unified rw - cgroup2 cgroup2 rw
53 1 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
    let h = Hierarchy::from_mountinfo(mi, "").unwrap();
    assert_eq!(h.mode(), Mode::Hybrid);
    assert_eq!(h.mounts().len(), 2);
    assert_eq!(
        h.mounts()[0].mount_point,
        Path::new("/sys/fs/cgroup/memory")
    );
    assert_eq!(
        h.mounts()[1].mount_point,
        Path::new("/sys/fs/cgroup/unified")
    );
}

#[test]
fn escaped_mount_points_and_roots_are_decoded() {
    let mi = "40 1 0:40 /docker/a\\040b /my\\040cgroup rw - cgroup2 cgroup2 rw\n";
    let h = Hierarchy::from_mountinfo(mi, "0::/docker/a b/x\n").unwrap();
    assert_eq!(h.mounts()[0].mount_point, Path::new("/my cgroup"));
    assert_eq!(h.mounts()[0].root, Path::new("/docker/a b"));
    // The own cgroup is reached through the mount root.
    let cg = Cgroup::new(&h, "child").unwrap();
    assert_eq!(cg.dir(""), Some(PathBuf::from("/my cgroup/x/child")));
}

#[test]
fn malformed_mountinfo_is_a_parse_error_not_a_panic() {
    for bad in [
        "garbage",
        "1 2 3 - cgroup2",
        "1 2 - cgroup cgroup rw,memory",
    ] {
        let r = Hierarchy::from_mountinfo(bad, "");
        assert!(
            matches!(r, Err(Error::Parse { .. }) | Err(Error::NoHierarchy)),
            "{bad}: {r:?}"
        );
    }
    assert!(matches!(
        Hierarchy::from_mountinfo(V2_MOUNTINFO, "no colons here\n"),
        Err(Error::Parse { .. })
    ));
}

#[test]
fn self_cgroup_paths_may_contain_colons() {
    let own = crate::detect::parse_self_cgroup("5:cpu,cpuacct:/a:b\n0::/x:y\n").unwrap();
    assert_eq!(own["cpu"], "/a:b");
    assert_eq!(own["cpuacct"], "/a:b");
    assert_eq!(own[""], "/x:y");
}

#[test]
fn absolute_paths_hang_off_each_hierarchy_root() {
    let h = Hierarchy::from_mountinfo(HYBRID_MOUNTINFO, HYBRID_SELF_CGROUP).unwrap();
    let cg = Cgroup::new(&h, "/berth/abc").unwrap();
    assert_eq!(cg.path(), "/berth/abc");
    assert_eq!(
        cg.dir("memory"),
        Some(PathBuf::from("/sys/fs/cgroup/memory/berth/abc"))
    );
    assert_eq!(
        cg.dir("name=systemd"),
        Some(PathBuf::from("/sys/fs/cgroup/systemd/berth/abc"))
    );
    assert_eq!(
        cg.dir(""),
        Some(PathBuf::from("/sys/fs/cgroup/unified/berth/abc"))
    );
    assert_eq!(cg.dir("net_cls"), None);
}

#[test]
fn relative_paths_go_under_the_callers_own_cgroup() {
    let h = Hierarchy::from_mountinfo(HYBRID_MOUNTINFO, HYBRID_SELF_CGROUP).unwrap();
    let cg = Cgroup::new(&h, "berth/abc").unwrap();
    assert_eq!(
        cg.dir("memory"),
        Some(PathBuf::from(
            "/sys/fs/cgroup/memory/process_api/abc/berth/abc"
        ))
    );
    assert_eq!(
        cg.dir("pids"),
        Some(PathBuf::from("/sys/fs/cgroup/pids/berth/abc"))
    );
}

#[test]
fn unusable_cgroup_paths_are_refused() {
    let h = Hierarchy::from_mountinfo(V2_MOUNTINFO, "0::/\n").unwrap();
    for bad in ["", "  ", "/", "//", "/a/../b", "..", "a\0b"] {
        assert!(
            matches!(Cgroup::new(&h, bad), Err(Error::InvalidPath { .. })),
            "{bad:?}"
        );
    }
    let cg = Cgroup::new(&h, "//a/./b/").unwrap();
    assert_eq!(cg.dir("memory"), Some(PathBuf::from("/sys/fs/cgroup/a/b")));
}

#[test]
fn root_override_rebases_mounts_and_reads_v2_controllers() {
    let tmp = tempfile::tempdir().unwrap();
    touch(
        &tmp.path().join("sys/fs/cgroup/unified"),
        &[("cgroup.controllers", "hugetlb\n")],
    );
    let h = Hierarchy::from_mountinfo(HYBRID_MOUNTINFO, HYBRID_SELF_CGROUP)
        .unwrap()
        .with_root_override(tmp.path());
    let v2 = h.v2_mount().unwrap();
    assert_eq!(v2.mount_point, tmp.path().join("sys/fs/cgroup/unified"));
    assert_eq!(v2.controllers, ["hugetlb"]);
    assert!(
        h.mounts()
            .iter()
            .all(|m| m.mount_point.starts_with(tmp.path()))
    );
}

#[test]
fn the_layout_handed_to_a_child_parses_to_the_live_hierarchy() {
    let live = Hierarchy::detect().unwrap();
    let text = Hierarchy::layout_for_child().unwrap();
    let (mi, sc) = text.split_once("---\n").unwrap();
    assert!(!mi.is_empty(), "no cgroup mounts in {text:?}");
    assert!(
        mi.lines().all(|l| l.contains(" - cgroup")),
        "only cgroup mounts go to the child: {mi:?}"
    );
    let mut h = Hierarchy::from_mountinfo(mi, sc).unwrap();
    h.load_v2_controllers();
    assert_eq!(format!("{h:?}"), format!("{live:?}"));
}
