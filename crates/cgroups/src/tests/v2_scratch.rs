use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxHugepageLimitBuilder, LinuxMemoryBuilder,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
    LinuxWeightDeviceBuilder,
};

use super::*;
use crate::v2::{blkio_weight_to_io_weight, shares_to_weight, swap_max};
use crate::{Cgroup, Error, Hierarchy, Mode};

/// A fake pure-v2 host under `tmp` with a prepared leaf `/berth/c1`.
fn host(tmp: &Path) -> (Hierarchy, PathBuf) {
    let root = tmp.join("sys/fs/cgroup");
    touch(
        &root,
        &[
            ("cgroup.controllers", "cpuset cpu io memory hugetlb pids\n"),
            ("cgroup.subtree_control", ""),
        ],
    );
    touch(
        &root.join("berth"),
        &[
            ("cgroup.controllers", "cpu memory pids\n"),
            ("cgroup.subtree_control", "memory\n"),
        ],
    );
    let h = Hierarchy::from_mountinfo(V2_MOUNTINFO, "0::/\n")
        .unwrap()
        .with_root_override(tmp);
    (h, root)
}

fn leaf(root: &Path, files: &[(&str, &str)]) -> PathBuf {
    let d = root.join("berth/c1");
    touch(&d, files);
    d
}

#[test]
fn create_delegates_controllers_down_every_ancestor() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    assert_eq!(h.mode(), Mode::V2);
    assert_eq!(
        h.mounts()[0].controllers,
        ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"]
    );
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    take_writes();
    cg.create().unwrap();
    assert!(root.join("berth/c1").is_dir());
    assert_eq!(
        writes_under(&root),
        [
            (
                "cgroup.subtree_control".to_string(),
                "+cpuset +cpu +io +memory +hugetlb +pids".to_string()
            ),
            // Only what is not enabled yet.
            (
                "berth/cgroup.subtree_control".to_string(),
                "+cpu +pids".to_string()
            ),
        ]
    );
    assert_eq!(cg.dir(""), Some(root.join("berth/c1")));
    assert_eq!(cg.dir("memory"), Some(root.join("berth/c1")));
}

fn full_resources() -> LinuxResources {
    let mut unified = HashMap::new();
    unified.insert("memory.high".to_string(), "50331648".to_string());
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .swap(128i64 << 20)
                .reservation(32i64 << 20)
                .swappiness(10u64)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(50_000i64)
                .period(100_000u64)
                .cpus("0-1")
                .mems("0")
                .idle(0i64)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(100i64).build().unwrap())
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .weight_device(vec![
                    LinuxWeightDeviceBuilder::default()
                        .major(8i64)
                        .minor(0i64)
                        .weight(100u16)
                        .build()
                        .unwrap(),
                ])
                .throttle_read_bps_device(vec![
                    LinuxThrottleDeviceBuilder::default()
                        .major(8i64)
                        .minor(0i64)
                        .rate(1_048_576u64)
                        .build()
                        .unwrap(),
                ])
                .throttle_write_iops_device(vec![
                    LinuxThrottleDeviceBuilder::default()
                        .major(8i64)
                        .minor(16i64)
                        .rate(0u64)
                        .build()
                        .unwrap(),
                ])
                .build()
                .unwrap(),
        )
        .hugepage_limits(vec![
            LinuxHugepageLimitBuilder::default()
                .page_size("2MB")
                .limit(-1i64)
                .build()
                .unwrap(),
        ])
        .unified(unified)
        .build()
        .unwrap()
}

const V2_FILES: &[(&str, &str)] = &[
    ("memory.current", "1000\n"),
    ("memory.max", "max\n"),
    ("memory.swap.max", "max\n"),
    ("memory.low", "0\n"),
    ("memory.high", "max\n"),
    ("cpu.weight", "100\n"),
    ("cpu.max", "max 100000\n"),
    ("cpu.idle", "0\n"),
    ("cpuset.cpus", ""),
    ("cpuset.mems", ""),
    ("pids.max", "max\n"),
    ("io.weight", "default 100\n"),
    ("io.max", ""),
    ("hugetlb.2MB.max", "max\n"),
];

#[test]
fn apply_converts_oci_resources_to_v2_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    let dir = leaf(&root, V2_FILES);
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    take_writes();
    cg.apply(&full_resources()).unwrap();
    let w = writes_under(&dir);
    let got: Vec<(&str, &str)> = w.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        got,
        [
            ("memory.max", "67108864"),
            ("memory.swap.max", "67108864"),
            ("memory.low", "33554432"),
            ("cpu.weight", "39"),
            ("cpu.max", "50000 100000"),
            ("cpu.idle", "0"),
            ("cpuset.cpus", "0-1"),
            ("cpuset.mems", "0"),
            ("pids.max", "100"),
            ("io.weight", "4950"),
            ("io.weight", "8:0 910"),
            ("io.max", "8:0 rbps=1048576"),
            ("io.max", "8:16 wiops=max"),
            ("hugetlb.2MB.max", "max"),
            ("memory.high", "50331648"),
        ]
    );
    assert_eq!(read(&dir.join("memory.max")), "67108864");
}

#[test]
fn bfq_weight_takes_the_v1_scale_unconverted() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    let dir = leaf(&root, &[("io.bfq.weight", "100\n")]);
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    let r = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    cg.apply(&r).unwrap();
    assert_eq!(read(&dir.join("io.bfq.weight")), "500");
}

#[test]
fn changing_only_the_cpu_period_keeps_the_quota() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    let dir = leaf(&root, &[("cpu.max", "20000 100000\n")]);
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    let r = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .period(50_000u64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    cg.apply(&r).unwrap();
    assert_eq!(read(&dir.join("cpu.max")), "20000 50000");
    let r = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().quota(-1i64).build().unwrap())
        .build()
        .unwrap();
    cg.apply(&r).unwrap();
    assert_eq!(read(&dir.join("cpu.max")), "max");
}

#[test]
fn unlimited_memory_also_lifts_swap() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    let dir = leaf(&root, &[("memory.max", "1000"), ("memory.swap.max", "0")]);
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    let r = LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().limit(-1i64).build().unwrap())
        .build()
        .unwrap();
    cg.apply(&r).unwrap();
    assert_eq!(read(&dir.join("memory.max")), "max");
    assert_eq!(read(&dir.join("memory.swap.max")), "max");
}

#[test]
fn memory_limit_below_usage_is_refused_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    let dir = leaf(
        &root,
        &[("memory.current", "104857600\n"), ("memory.max", "max\n")],
    );
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = cg.apply(&r).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidResource { resource, .. } if resource == "memory.limit"),
        "{e}"
    );
    assert!(e.to_string().contains("104857600"), "{e}");
    assert_eq!(read(&dir.join("memory.max")), "max\n");
}

#[test]
fn swap_below_memory_limit_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    leaf(&root, V2_FILES);
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .swap(32i64 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = cg.apply(&r).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidResource { resource, .. } if resource == "memory.swap"),
        "{e}"
    );
}

#[test]
fn swap_conversion_follows_oci_semantics() {
    assert_eq!(swap_max(None, None).unwrap(), None);
    assert_eq!(swap_max(Some(100), None).unwrap(), None);
    assert_eq!(swap_max(Some(-1), None).unwrap().as_deref(), Some("max"));
    assert_eq!(
        swap_max(Some(100), Some(-1)).unwrap().as_deref(),
        Some("max")
    );
    assert_eq!(
        swap_max(Some(100), Some(100)).unwrap().as_deref(),
        Some("0")
    );
    assert_eq!(
        swap_max(Some(100), Some(300)).unwrap().as_deref(),
        Some("200")
    );
    assert!(swap_max(Some(100), Some(50)).is_err());
    assert!(swap_max(None, Some(50)).is_err());
    assert!(swap_max(Some(-1), Some(50)).is_err());
    assert!(swap_max(Some(100), Some(-5)).is_err());
}

#[test]
fn weight_conversions_cover_the_whole_range() {
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(shares_to_weight(1), 1);
    assert_eq!(shares_to_weight(1 << 40), 10_000);
    assert_eq!(blkio_weight_to_io_weight(10), 1);
    assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    assert_eq!(blkio_weight_to_io_weight(500), 4950);
    assert_eq!(blkio_weight_to_io_weight(0), 1);
}

#[test]
fn unified_keys_cannot_escape_the_cgroup_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    leaf(&root, V2_FILES);
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    for key in ["../cgroup.procs", "a/b", "..", "", "memory..max"] {
        let mut u = HashMap::new();
        u.insert(key.to_string(), "1".to_string());
        let r = LinuxResourcesBuilder::default().unified(u).build().unwrap();
        assert!(
            matches!(cg.apply(&r), Err(Error::InvalidResource { .. })),
            "{key:?}"
        );
    }
}

#[test]
fn resource_without_its_controller_names_the_controller() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    leaf(&root, &[]);
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(10i64).build().unwrap())
        .build()
        .unwrap();
    let e = cg.apply(&r).unwrap_err();
    assert!(
        matches!(&e, Error::ControllerMissing { controller, .. } if controller == "pids"),
        "{e}"
    );
    let r = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .realtime_runtime(1000i64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(matches!(cg.apply(&r), Err(Error::InvalidResource { .. })));
    let r = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![
            LinuxHugepageLimitBuilder::default()
                .page_size("../2MB")
                .limit(1i64)
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    assert!(matches!(cg.apply(&r), Err(Error::InvalidResource { .. })));
}

#[test]
fn freeze_writes_cgroup_freeze_and_waits_for_events() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    let dir = leaf(
        &root,
        &[
            ("cgroup.freeze", "0\n"),
            ("cgroup.events", "populated 1\nfrozen 1\n"),
        ],
    );
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    cg.freeze().unwrap();
    assert_eq!(read(&dir.join("cgroup.freeze")), "1");
    assert!(cg.is_frozen().unwrap());
    std::fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    cg.thaw().unwrap();
    assert_eq!(read(&dir.join("cgroup.freeze")), "0");
    assert!(!cg.is_frozen().unwrap());
}

#[test]
fn sigkill_uses_cgroup_kill_on_v2() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    let dir = leaf(&root, &[("cgroup.kill", ""), ("cgroup.procs", "")]);
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    cg.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(read(&dir.join("cgroup.kill")), "1");
}

#[test]
fn procs_include_child_cgroups() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    let dir = leaf(&root, &[("cgroup.procs", "10\n3\n")]);
    touch(&dir.join("sub"), &[("cgroup.procs", "7\n3\n")]);
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    assert_eq!(cg.procs().unwrap(), [3, 7, 10]);
    assert!(cg.v2_dir_fd().unwrap().is_some());
    let gone = Cgroup::new(&h, "/berth/nope").unwrap();
    assert!(matches!(gone.procs(), Err(Error::Read { .. })));
}

#[test]
fn delete_removes_nested_dirs_and_tolerates_missing_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    std::fs::create_dir_all(root.join("berth/c1/a/b")).unwrap();
    std::fs::create_dir_all(root.join("berth/c1/c")).unwrap();
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    cg.delete().unwrap();
    assert!(!root.join("berth/c1").exists());
    assert!(root.join("berth").exists());
    cg.delete().unwrap();
}

#[test]
fn stats_read_v2_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    leaf(
        &root,
        &[
            ("memory.current", "4096000\n"),
            ("memory.peak", "8192000\n"),
            ("memory.max", "max\n"),
            ("memory.swap.current", "4096\n"),
            ("memory.stat", "anon 1000\nfile 2000\nkernel 300\n"),
            (
                "memory.events",
                "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n",
            ),
            (
                "cpu.stat",
                "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 2\nthrottled_usec 30\n",
            ),
            ("pids.current", "3\n"),
            ("pids.max", "max\n"),
            (
                "io.stat",
                "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
            ),
        ],
    );
    let s = Cgroup::new(&h, "/berth/c1").unwrap().stats().unwrap();
    assert_eq!(s.memory.usage, 4_096_000);
    assert_eq!(s.memory.max_usage, 8_192_000);
    assert_eq!(s.memory.limit, u64::MAX);
    assert_eq!(s.memory.failcnt, 5);
    assert_eq!(s.memory.oom_kills, 1);
    assert_eq!(
        (s.memory.rss, s.memory.cache, s.memory.swap_usage),
        (1000, 2000, 4096)
    );
    assert_eq!(s.memory.raw["kernel"], 300);
    assert_eq!(s.cpu.usage_total_ns, 1_500_000);
    assert_eq!(s.cpu.usage_user_ns, 1_000_000);
    assert_eq!(s.cpu.usage_system_ns, 500_000);
    assert_eq!(
        (
            s.cpu.nr_periods,
            s.cpu.throttled_periods,
            s.cpu.throttled_time_ns
        ),
        (10, 2, 30_000)
    );
    assert_eq!(s.pids.current, 3);
    assert_eq!(s.pids.limit, None);
    assert_eq!(s.blkio.entries.len(), 6);
    assert_eq!(s.blkio.entries[1].op, "wbytes");
    assert_eq!(s.blkio.entries[1].value, 8192);
}

#[test]
fn bad_device_rule_fails_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    let dir = leaf(&root, V2_FILES);
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .build()
                .unwrap(),
        )
        .devices(vec![
            oci_spec::runtime::LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .access("rwz")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    take_writes();
    assert!(matches!(cg.apply(&r), Err(Error::InvalidResource { .. })));
    assert!(take_writes().is_empty());
    assert_eq!(read(&dir.join("memory.max")), "max\n");
}

#[test]
fn oom_kills_come_from_memory_events() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    leaf(&root, &[]);
    assert_eq!(cg.oom_kills().unwrap(), 0);
    leaf(
        &root,
        &[("memory.events", "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n")],
    );
    assert_eq!(cg.oom_kills().unwrap(), 2);
}

#[test]
fn rdma_limits_become_rdma_max_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, root) = host(tmp.path());
    let dir = leaf(&root, &[("rdma.max", "")]);
    let cg = Cgroup::new(&h, "/berth/c1").unwrap();
    let mut m = HashMap::new();
    m.insert(
        "mlx4_0".to_string(),
        oci_spec::runtime::LinuxRdmaBuilder::default()
            .hca_handles(2u32)
            .hca_objects(2000u32)
            .build()
            .unwrap(),
    );
    m.insert(
        "mlx5_1".to_string(),
        oci_spec::runtime::LinuxRdmaBuilder::default()
            .hca_objects(5u32)
            .build()
            .unwrap(),
    );
    take_writes();
    cg.apply(
        &LinuxResourcesBuilder::default()
            .rdma(m.clone())
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        writes_under(&dir),
        [
            (
                "rdma.max".to_string(),
                "mlx4_0 hca_handle=2 hca_object=2000".to_string()
            ),
            ("rdma.max".to_string(), "mlx5_1 hca_object=5".to_string()),
        ]
    );
    m.insert("bad dev".to_string(), Default::default());
    assert!(matches!(
        cg.apply(&LinuxResourcesBuilder::default().rdma(m).build().unwrap()),
        Err(Error::InvalidResource { .. })
    ));
}
