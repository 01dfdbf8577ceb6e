use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    LinuxThrottleDeviceBuilder,
};

use super::*;
use crate::{Cgroup, Error, Hierarchy, Mode};

/// A fake hybrid host (the development machines' layout) under `tmp`.
fn host(tmp: &Path) -> (Hierarchy, PathBuf) {
    let base = tmp.join("sys/fs/cgroup");
    touch(
        &base.join("cpuset"),
        &[("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n")],
    );
    touch(
        &base.join("unified"),
        &[
            ("cgroup.controllers", "hugetlb\n"),
            ("cgroup.subtree_control", ""),
        ],
    );
    let h = Hierarchy::from_mountinfo(HYBRID_MOUNTINFO, HYBRID_SELF_CGROUP)
        .unwrap()
        .with_root_override(tmp);
    (h, base)
}

#[test]
fn create_makes_every_hierarchy_and_fills_cpuset() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, base) = host(tmp.path());
    assert_eq!(h.mode(), Mode::Hybrid);
    // The new cpuset cgroup's files, as the kernel would create them: empty.
    touch(
        &base.join("cpuset/b/c"),
        &[("cpuset.cpus", ""), ("cpuset.mems", "")],
    );
    touch(
        &base.join("cpuset/b"),
        &[("cpuset.cpus", "\n"), ("cpuset.mems", "")],
    );
    let cg = Cgroup::new(&h, "/b/c").unwrap();
    cg.create().unwrap();
    for c in [
        "cpu", "cpuacct", "memory", "devices", "freezer", "blkio", "pids", "systemd", "unified",
    ] {
        assert!(base.join(c).join("b/c").is_dir(), "{c}");
    }
    assert_eq!(read(&base.join("cpuset/b/c/cpuset.cpus")), "0-3");
    assert_eq!(read(&base.join("cpuset/b/c/cpuset.mems")), "0");
    // Hybrid: the cgroup2 side only tracks processes, nothing is delegated up front.
    assert_eq!(read(&base.join("unified/cgroup.subtree_control")), "");
}

#[test]
fn apply_writes_v1_files_in_their_hierarchies() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, base) = host(tmp.path());
    let mem = base.join("memory/process_api/abc/c");
    touch(
        &mem,
        &[
            ("memory.usage_in_bytes", "1000\n"),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
        ],
    );
    let devices = base.join("devices/c");
    touch(&devices, &[]);
    let cg = Cgroup::new(&h, "c").unwrap();
    assert_eq!(cg.dir("memory"), Some(mem.clone()));
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .swap(96i64 << 20)
                .reservation(32i64 << 20)
                .swappiness(0u64)
                .disable_oom_killer(true)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(20_000i64)
                .period(100_000u64)
                .cpus("1")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(0i64).build().unwrap())
        .block_io(
            LinuxBlockIoBuilder::default()
                .throttle_write_bps_device(vec![
                    LinuxThrottleDeviceBuilder::default()
                        .major(8i64)
                        .minor(0i64)
                        .rate(1000u64)
                        .build()
                        .unwrap(),
                ])
                .build()
                .unwrap(),
        )
        .hugepage_limits(vec![
            LinuxHugepageLimitBuilder::default()
                .page_size("2MB")
                .limit(1i64 << 21)
                .build()
                .unwrap(),
        ])
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1i64)
                .minor(3i64)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(136i64)
                .access("rw")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap();
    // Control files the kernel would provide.
    touch(
        &base.join("cpu/c"),
        &[
            ("cpu.shares", ""),
            ("cpu.cfs_period_us", ""),
            ("cpu.cfs_quota_us", ""),
        ],
    );
    touch(&base.join("cpuset/c"), &[("cpuset.cpus", "")]);
    touch(&base.join("pids/c"), &[("pids.max", "")]);
    touch(
        &base.join("blkio/c"),
        &[("blkio.throttle.write_bps_device", "")],
    );
    touch(&base.join("unified/c"), &[("hugetlb.2MB.max", "")]);
    touch(
        &mem,
        &[
            ("memory.soft_limit_in_bytes", ""),
            ("memory.swappiness", ""),
            ("memory.oom_control", ""),
        ],
    );
    touch(&devices, &[("devices.allow", ""), ("devices.deny", "")]);
    take_writes();
    cg.apply(&r).unwrap();
    let w = writes_under(&base);
    let got: Vec<(&str, &str)> = w.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        got,
        [
            // Limits shrink from "unlimited": memory first, then memory+swap.
            ("memory/process_api/abc/c/memory.limit_in_bytes", "67108864"),
            (
                "memory/process_api/abc/c/memory.memsw.limit_in_bytes",
                "100663296"
            ),
            (
                "memory/process_api/abc/c/memory.soft_limit_in_bytes",
                "33554432"
            ),
            ("memory/process_api/abc/c/memory.swappiness", "0"),
            ("memory/process_api/abc/c/memory.oom_control", "1"),
            ("cpu/c/cpu.shares", "512"),
            ("cpu/c/cpu.cfs_period_us", "100000"),
            ("cpu/c/cpu.cfs_quota_us", "20000"),
            ("cpuset/c/cpuset.cpus", "1"),
            ("pids/c/pids.max", "max"),
            ("blkio/c/blkio.throttle.write_bps_device", "8:0 1000"),
            ("devices/c/devices.deny", "a"),
            ("devices/c/devices.allow", "c 1:3 rwm"),
            ("devices/c/devices.allow", "c 136:* rw"),
            // No v1 hugetlb hierarchy on this host: the hybrid cgroup2 mount has it, and
            // it is delegated only now that it is needed.
            ("unified/cgroup.subtree_control", "+hugetlb"),
            ("unified/c/hugetlb.2MB.max", "2097152"),
        ]
    );
}

#[test]
fn growing_memory_limits_write_memsw_first() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, base) = host(tmp.path());
    let mem = base.join("memory/c");
    touch(
        &mem,
        &[
            ("memory.usage_in_bytes", "0\n"),
            ("memory.limit_in_bytes", "1000000\n"),
            ("memory.memsw.limit_in_bytes", "2000000\n"),
        ],
    );
    let cg = Cgroup::new(&h, "/c").unwrap();
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(3_000_000i64)
                .swap(4_000_000i64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    take_writes();
    cg.apply(&r).unwrap();
    let files: Vec<String> = writes_under(&mem).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        files,
        ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    );
}

#[test]
fn v1_memory_validation_names_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, base) = host(tmp.path());
    touch(
        &base.join("memory/c"),
        &[
            ("memory.usage_in_bytes", "50000000\n"),
            ("memory.limit_in_bytes", "100000000\n"),
        ],
    );
    let cg = Cgroup::new(&h, "/c").unwrap();
    let apply = |limit: Option<i64>, swap: Option<i64>| {
        let mut m = LinuxMemoryBuilder::default();
        if let Some(l) = limit {
            m = m.limit(l);
        }
        if let Some(s) = swap {
            m = m.swap(s);
        }
        cg.apply(
            &LinuxResourcesBuilder::default()
                .memory(m.build().unwrap())
                .build()
                .unwrap(),
        )
    };
    let e = apply(Some(1 << 20), None).unwrap_err();
    assert!(e.to_string().contains("below the current usage"), "{e}");
    let e = apply(None, Some(60_000_000)).unwrap_err();
    assert!(e.to_string().contains("below the memory limit"), "{e}");
    let e = apply(Some(-1), Some(1 << 30)).unwrap_err();
    assert!(e.to_string().contains("needs a memory limit"), "{e}");
    let e = apply(Some(-5), None).unwrap_err();
    assert!(matches!(e, Error::InvalidResource { .. }));
    // Swap accounting off: a swap limit cannot be honoured.
    let e = apply(Some(200_000_000), Some(300_000_000)).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[test]
fn missing_v1_controller_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let mi = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
    let h = Hierarchy::from_mountinfo(mi, "")
        .unwrap()
        .with_root_override(tmp.path());
    let cg = Cgroup::new(&h, "/c").unwrap();
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(5i64).build().unwrap())
        .build()
        .unwrap();
    let e = cg.apply(&r).unwrap_err();
    assert!(
        matches!(&e, Error::ControllerMissing { controller, .. } if controller == "pids"),
        "{e}"
    );
    let mut u = std::collections::HashMap::new();
    u.insert("pids.max".to_string(), "5".to_string());
    let r = LinuxResourcesBuilder::default().unified(u).build().unwrap();
    assert!(matches!(cg.apply(&r), Err(Error::InvalidResource { .. })));
    assert!(matches!(cg.freeze(), Err(Error::Unsupported { .. })));
    assert!(cg.v2_dir_fd().unwrap().is_none());
}

#[test]
fn v1_freezer_polls_until_frozen() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, base) = host(tmp.path());
    let dir = base.join("freezer/c");
    touch(&dir, &[("freezer.state", "THAWED\n")]);
    let cg = Cgroup::new(&h, "/c").unwrap();
    // A plain file reads back what we wrote, as a freezer that froze at once.
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    cg.thaw().unwrap();
    assert_eq!(read(&dir.join("freezer.state")), "THAWED");
}

#[test]
fn stats_read_v1_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, base) = host(tmp.path());
    touch(
        &base.join("memory/c"),
        &[
            ("memory.usage_in_bytes", "10000\n"),
            ("memory.max_usage_in_bytes", "20000\n"),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.failcnt", "4\n"),
            ("memory.memsw.usage_in_bytes", "10500\n"),
            (
                "memory.stat",
                "cache 100\nrss 200\ntotal_cache 300\ntotal_rss 400\n",
            ),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
            ),
        ],
    );
    touch(
        &base.join("cpuacct/c"),
        &[
            ("cpuacct.usage", "3000\n"),
            ("cpuacct.usage_user", "2000\n"),
            ("cpuacct.usage_sys", "1000\n"),
            ("cpuacct.usage_percpu", "1000 2000 \n"),
        ],
    );
    touch(
        &base.join("cpu/c"),
        &[(
            "cpu.stat",
            "nr_periods 7\nnr_throttled 3\nthrottled_time 99\n",
        )],
    );
    touch(
        &base.join("pids/c"),
        &[("pids.current", "2\n"), ("pids.max", "50\n")],
    );
    touch(
        &base.join("blkio/c"),
        &[
            (
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 4096\n8:0 Write 0\n8:0 Sync 1\n8:0 Async 2\n8:0 Discard 0\n8:0 Total 4096\nTotal 4096\n",
            ),
            (
                "blkio.throttle.io_serviced_recursive",
                "8:0 Read 1\n8:0 Write 0\nTotal 1\n",
            ),
        ],
    );
    let s = Cgroup::new(&h, "/c").unwrap().stats().unwrap();
    assert_eq!(
        (s.memory.usage, s.memory.max_usage, s.memory.failcnt),
        (10000, 20000, 4)
    );
    assert_eq!(
        s.memory.limit,
        u64::MAX,
        "unlimited reads as u64::MAX on both versions"
    );
    assert_eq!(
        (
            s.memory.cache,
            s.memory.rss,
            s.memory.swap_usage,
            s.memory.oom_kills
        ),
        (300, 400, 500, 2)
    );
    assert_eq!(
        (
            s.cpu.usage_total_ns,
            s.cpu.usage_user_ns,
            s.cpu.usage_system_ns
        ),
        (3000, 2000, 1000)
    );
    assert_eq!(s.cpu.per_cpu_ns, [1000, 2000]);
    assert_eq!(
        (
            s.cpu.nr_periods,
            s.cpu.throttled_periods,
            s.cpu.throttled_time_ns
        ),
        (7, 3, 99)
    );
    assert_eq!((s.pids.current, s.pids.limit), (2, Some(50)));
    let ops: Vec<(&str, u64)> = s
        .blkio
        .entries
        .iter()
        .map(|e| (e.op.as_str(), e.value))
        .collect();
    assert_eq!(
        ops,
        [
            ("rbytes", 4096),
            ("wbytes", 0),
            ("dbytes", 0),
            ("rios", 1),
            ("wios", 0)
        ]
    );
    // The cgroup must exist.
    assert!(Cgroup::new(&h, "/nope").unwrap().stats().is_err());
}
