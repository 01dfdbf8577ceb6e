//! Real cgroups on the machine running the tests (root only; skipped otherwise). The tests
//! detect the host layout and check whatever it is, so the same binary covers the v1/hybrid
//! development hosts and, through `tests/v2-vm.sh`, a pure cgroup v2 guest.
//!
//! Each test works in its own cgroup (`berth-test-<pid>-<n>`, relative, so it nests under
//! the test's own cgroup and stays inside any limits the caller lives under), kills only
//! the processes it spawned, and removes its cgroup in a Drop guard even when it fails.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use berth_cgroups::{Cgroup, Error, Hierarchy, Mode};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

static SEQ: AtomicU32 = AtomicU32::new(0);

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

/// A test cgroup plus the children spawned into it; cleans both up on drop.
struct Guard {
    h: Hierarchy,
    cg: Cgroup,
    name: String,
    children: Vec<Child>,
}

impl Guard {
    fn new() -> Guard {
        let h = Hierarchy::detect().expect("detect cgroup hierarchy");
        let name = format!(
            "berth-test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let cg = Cgroup::new(&h, &name).unwrap();
        let g = Guard {
            h,
            cg,
            name,
            children: Vec::new(),
        };
        g.cg.create().expect("create cgroup");
        g
    }

    /// Starts `sh -c script` outside the cgroup, blocked on reading one line of stdin,
    /// moves it in, and lets it go; so everything after `read` runs inside the cgroup.
    fn spawn_inside(&mut self, script: &str) -> i32 {
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("read _go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn sh");
        let pid = child.id() as i32;
        self.children.push(child);
        self.cg.add_process(pid).expect("add_process");
        let stdin = self.children.last_mut().unwrap().stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
        pid
    }

    fn wait(&mut self, pid: i32) -> ExitStatus {
        let c = self
            .children
            .iter_mut()
            .find(|c| c.id() as i32 == pid)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "pid {pid} did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn file(&self, controller: &str, name: &str) -> String {
        let d = self
            .cg
            .dir(controller)
            .unwrap_or_else(|| panic!("no dir for {controller:?}"));
        std::fs::read_to_string(d.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", d.join(name).display()))
            .trim()
            .to_string()
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.h
            .mounts()
            .iter()
            .map(|m| if m.v2 { "" } else { m.controllers[0].as_str() })
            .filter_map(|c| self.cg.dir(c))
            .collect()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Frozen tasks cannot die on v1, so thaw before killing.
        let _ = self.cg.thaw();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Err(e) = self.cg.delete() {
            eprintln!("cleanup of {} failed: {e}", self.name);
        }
    }
}

fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn limits() -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000i64)
                .period(100_000u64)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(32i64).build().unwrap())
        .build()
        .unwrap()
}

#[test]
fn detected_mode_matches_the_filesystem_at_sys_fs_cgroup() {
    require_root!();
    let h = Hierarchy::detect().unwrap();
    let fs = rustix::fs::statfs("/sys/fs/cgroup").unwrap();
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    let is_cgroup2 = fs.f_type as i64 == CGROUP2_SUPER_MAGIC;
    eprintln!("mode {:?}, {} mounts", h.mode(), h.mounts().len());
    assert_eq!(h.mode() == Mode::V2, is_cgroup2);
    if h.mode() != Mode::V2 {
        assert!(
            h.mounts()
                .iter()
                .any(|m| m.controllers.iter().any(|c| c == "memory"))
        );
    }
}

#[test]
fn limits_freeze_stats_kill_and_delete_a_real_process() {
    require_root!();
    let mut g = Guard::new();
    g.cg.apply(&limits()).unwrap();
    match g.h.mode() {
        Mode::V2 => {
            assert_eq!(g.file("", "memory.max"), "67108864");
            assert_eq!(g.file("", "cpu.max"), "50000 100000");
            assert_eq!(g.file("", "cpu.weight"), "20");
            assert_eq!(g.file("", "pids.max"), "32");
        }
        Mode::V1 | Mode::Hybrid => {
            assert_eq!(g.file("memory", "memory.limit_in_bytes"), "67108864");
            assert_eq!(g.file("cpu", "cpu.cfs_quota_us"), "50000");
            assert_eq!(g.file("cpu", "cpu.cfs_period_us"), "100000");
            assert_eq!(g.file("cpu", "cpu.shares"), "512");
            assert_eq!(g.file("pids", "pids.max"), "32");
            assert!(
                !g.file("cpuset", "cpuset.cpus").is_empty(),
                "cpuset.cpus inherited"
            );
        }
    }

    let pid = g.spawn_inside("exec sleep 1000");
    until("exec of sleep", 30, || comm(pid) == "sleep");
    assert!(g.cg.procs().unwrap().contains(&pid));
    // Every hierarchy (name=systemd and the hybrid cgroup2 mount included) has it.
    let pc = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in pc.lines() {
        assert!(line.ends_with(&format!("/{}", g.name)), "{line:?} in\n{pc}");
    }

    let mut stats = g.cg.stats().unwrap();
    until("memory usage", 10, || {
        stats = g.cg.stats().unwrap();
        stats.memory.usage > 0
    });
    assert!(stats.pids.current >= 1, "{stats:?}");
    assert_eq!(stats.pids.limit, Some(32));
    assert_eq!(stats.memory.limit, 64 << 20);
    assert!(!stats.memory.raw.is_empty());
    eprintln!(
        "usage {} bytes, cpu {} ns",
        stats.memory.usage, stats.cpu.usage_total_ns
    );

    assert!(!g.cg.is_frozen().unwrap());
    g.cg.freeze().unwrap();
    assert!(g.cg.is_frozen().unwrap());
    match g.h.mode() {
        Mode::V2 => assert!(g.file("", "cgroup.events").contains("frozen 1")),
        _ => assert_eq!(g.file("freezer", "freezer.state"), "FROZEN"),
    }
    eprintln!(
        "frozen: {}",
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("State"))
            .unwrap_or("")
    );
    g.cg.thaw().unwrap();
    assert!(!g.cg.is_frozen().unwrap());

    g.cg.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(g.wait(pid).signal(), Some(libc::SIGKILL));
    until("empty cgroup", 10, || g.cg.procs().unwrap().is_empty());

    g.cg.delete().unwrap();
    for d in g.dirs() {
        assert!(!d.exists(), "{} still exists", d.display());
    }
}

#[test]
fn sigterm_reaches_every_process_through_the_freezer() {
    require_root!();
    let mut g = Guard::new();
    let a = g.spawn_inside("exec sleep 1000");
    let b = g.spawn_inside("exec sleep 1000");
    until("both in place", 30, || {
        comm(a) == "sleep" && comm(b) == "sleep"
    });
    g.cg.kill_all(libc::SIGTERM).unwrap();
    assert_eq!(g.wait(a).signal(), Some(libc::SIGTERM));
    assert_eq!(g.wait(b).signal(), Some(libc::SIGTERM));
    assert!(!g.cg.is_frozen().unwrap(), "kill_all thaws again");
}

#[test]
fn memory_limit_below_current_usage_is_refused() {
    require_root!();
    let mut g = Guard::new();
    let pid = g.spawn_inside("exec sleep 1000");
    until("exec of sleep", 30, || comm(pid) == "sleep");
    until("memory usage", 10, || {
        g.cg.stats().unwrap().memory.usage > 4096
    });
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(4096i64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = g.cg.apply(&r).unwrap_err();
    assert!(matches!(e, Error::InvalidResource { .. }), "{e}");
    eprintln!("{e}");
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
    assert!(matches!(g.cg.apply(&r), Err(Error::InvalidResource { .. })));
}

fn null_only() -> LinuxResources {
    LinuxResourcesBuilder::default()
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
        ])
        .build()
        .unwrap()
}

#[test]
fn device_allowlist_permits_dev_null_and_blocks_dev_zero() {
    require_root!();
    let mut g = Guard::new();
    g.cg.apply(&null_only()).unwrap();
    // Re-applying must replace our filter, not stack a second one.
    g.cg.apply(&null_only()).unwrap();
    if g.h.mode() == Mode::V2 {
        let ids = berth_cgroups::devices_bpf::attached_program_ids(&g.cg.dir("").unwrap()).unwrap();
        assert_eq!(ids.len(), 1, "{ids:?}");
    } else {
        assert_eq!(g.file("devices", "devices.list"), "c 1:3 rwm");
    }
    let pid = g.spawn_inside(
        "head -c1 /dev/null || exit 10; \
         if head -c1 /dev/zero >/dev/null 2>&1; then exit 11; fi; \
         if echo x 2>/dev/null >/dev/full; then exit 12; fi; exit 0",
    );
    let st = g.wait(pid);
    assert_eq!(
        st.code(),
        Some(0),
        "10: /dev/null refused, 11: /dev/zero allowed, 12: /dev/full allowed; got {st:?}"
    );

    // Outside the cgroup the same script fails at the /dev/zero check.
    let st = Command::new("sh")
        .arg("-c")
        .arg("if head -c1 /dev/zero >/dev/null; then exit 11; fi; exit 0")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(11));
}

#[test]
fn delete_removes_child_cgroups_made_inside() {
    require_root!();
    let g = Guard::new();
    for d in g.dirs() {
        std::fs::create_dir_all(d.join("inner/deeper")).unwrap();
    }
    g.cg.delete().unwrap();
    for d in g.dirs() {
        assert!(!d.exists(), "{}", d.display());
    }
    // Deleting again is fine.
    g.cg.delete().unwrap();
}

#[test]
fn dir_fd_for_clone_into_cgroup_only_on_pure_v2() {
    require_root!();
    let g = Guard::new();
    let fd = g.cg.v2_dir_fd().unwrap();
    assert_eq!(fd.is_some(), g.h.mode() == Mode::V2);
    if let Some(fd) = fd {
        let link = std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
        .unwrap();
        assert_eq!(link, g.cg.dir("").unwrap());
    }
}

#[test]
fn relative_path_lands_under_own_cgroup() {
    require_root!();
    let g = Guard::new();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    for m in g.h.mounts() {
        let key = if m.v2 { "" } else { m.controllers[0].as_str() };
        let dir = g.cg.dir(key).unwrap();
        assert!(dir.starts_with(&m.mount_point));
        assert!(dir.ends_with(Path::new(&g.name)));
        assert!(dir.is_dir(), "{}", dir.display());
    }
    assert!(!own.is_empty());
}

fn dev_rule(
    allow: bool,
    t: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> oci_spec::runtime::LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(t)
        .access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().unwrap()
}

/// Opens each device for reading in a process inside the cgroup; returns which opened.
fn probe(g: &mut Guard, devs: &[&str]) -> Vec<bool> {
    let mut script = String::new();
    for (i, d) in devs.iter().enumerate() {
        // Bit i of the exit code: the open of devs[i] failed.
        script.push_str(&format!(
            "( : <{d} ) 2>/dev/null || r=$((r | {})); ",
            1 << i
        ));
    }
    let pid = g.spawn_inside(&format!("r=0; {script} exit $r"));
    let code = g.wait(pid).code().expect("probe exited normally");
    (0..devs.len()).map(|i| code & (1 << i) == 0).collect()
}

#[test]
fn device_policies_replace_each_other_on_reapply() {
    require_root!();
    use LinuxDeviceType::*;
    let devs = ["/dev/null", "/dev/zero", "/dev/full", "/dev/urandom"];
    let mut g = Guard::new();
    let apply = |g: &Guard, rules: Vec<oci_spec::runtime::LinuxDeviceCgroup>| {
        let r = LinuxResourcesBuilder::default()
            .devices(rules)
            .build()
            .unwrap();
        g.cg.apply(&r).unwrap();
    };
    // Docker's defaults minus /dev/full and /dev/urandom.
    apply(
        &g,
        vec![
            dev_rule(false, A, None, None, "rwm"),
            dev_rule(true, C, None, None, "m"),
            dev_rule(true, B, None, None, "m"),
            dev_rule(true, C, Some(1), Some(3), "rwm"),
            dev_rule(true, C, Some(1), Some(5), "rwm"),
            dev_rule(true, C, Some(136), None, "rwm"),
            dev_rule(true, C, Some(5), Some(2), "rwm"),
        ],
    );
    assert_eq!(probe(&mut g, &devs), [true, true, false, false]);
    // Privileged: everything.
    apply(&g, vec![dev_rule(true, A, None, None, "rwm")]);
    assert_eq!(probe(&mut g, &devs), [true, true, true, true]);
    // Deny list on top of allow-all; write-only denial leaves reads alone.
    apply(
        &g,
        vec![
            dev_rule(true, A, None, None, "rwm"),
            dev_rule(false, C, Some(1), Some(5), "r"),
            dev_rule(false, C, Some(1), Some(7), "w"),
        ],
    );
    assert_eq!(probe(&mut g, &devs), [true, false, true, true]);
    if g.h.mode() == Mode::V2 {
        let ids = berth_cgroups::devices_bpf::attached_program_ids(&g.cg.dir("").unwrap()).unwrap();
        assert_eq!(ids.len(), 1, "{ids:?}");
    }
}

#[test]
fn hugepage_limit_lands_where_the_hugetlb_controller_lives() {
    require_root!();
    if !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        eprintln!("skipped: no 2MB huge pages");
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let v1_hugetlb = h
        .mounts()
        .iter()
        .any(|m| !m.v2 && m.controllers.iter().any(|c| c == "hugetlb"));
    let v2 = h.v2_mount().cloned();
    if !v1_hugetlb
        && !v2
            .as_ref()
            .is_some_and(|m| m.controllers.iter().any(|c| c == "hugetlb"))
    {
        eprintln!("skipped: no hugetlb controller");
        return;
    }
    // On a hybrid host this delegates hugetlb in the cgroup2 root; put that back after.
    let sc = v2
        .as_ref()
        .map(|m| m.mount_point.join("cgroup.subtree_control"));
    let before = sc
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    {
        let g = Guard::new();
        let r = LinuxResourcesBuilder::default()
            .hugepage_limits(vec![
                oci_spec::runtime::LinuxHugepageLimitBuilder::default()
                    .page_size("2MB")
                    .limit(4i64 << 21)
                    .build()
                    .unwrap(),
            ])
            .build()
            .unwrap();
        g.cg.apply(&r).unwrap();
        let got = if v1_hugetlb {
            g.file("hugetlb", "hugetlb.2MB.limit_in_bytes")
        } else {
            g.file("", "hugetlb.2MB.max")
        };
        assert_eq!(got, (4u64 << 21).to_string());
    }
    if h.mode() == Mode::Hybrid
        && !before.split_whitespace().any(|c| c == "hugetlb")
        && let Some(p) = sc
    {
        let _ = std::fs::write(p, "-hugetlb");
    }
}

#[test]
fn swap_limit_is_written_in_each_versions_terms() {
    require_root!();
    let g = Guard::new();
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .swap(96i64 << 20)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let swap_file = match g.h.mode() {
        Mode::V2 => g.cg.dir("").unwrap().join("memory.swap.max"),
        _ => {
            g.cg.dir("memory")
                .unwrap()
                .join("memory.memsw.limit_in_bytes")
        }
    };
    if !swap_file.exists() {
        // No swap accounting: the request must fail loudly, not be dropped.
        assert!(g.cg.apply(&r).is_err());
        eprintln!("skipped: no swap accounting");
        return;
    }
    g.cg.apply(&r).unwrap();
    let got = std::fs::read_to_string(&swap_file)
        .unwrap()
        .trim()
        .to_string();
    match g.h.mode() {
        // v2 counts swap alone: 96M - 64M.
        Mode::V2 => assert_eq!(got, (32u64 << 20).to_string()),
        _ => assert_eq!(got, (96u64 << 20).to_string()),
    }
}

#[test]
fn unified_values_need_a_cgroup2_controller() {
    require_root!();
    let g = Guard::new();
    let mut u = std::collections::HashMap::new();
    u.insert("memory.high".to_string(), "104857600".to_string());
    let r = LinuxResourcesBuilder::default().unified(u).build().unwrap();
    match g.h.mode() {
        Mode::V2 => {
            g.cg.apply(&r).unwrap();
            assert_eq!(g.file("", "memory.high"), "104857600");
        }
        // memory is a v1 controller here, so cgroup2 has no memory.high to write.
        Mode::Hybrid => assert!(
            matches!(g.cg.apply(&r), Err(Error::ControllerMissing { .. })),
            "{:?}",
            g.cg.apply(&r)
        ),
        Mode::V1 => assert!(matches!(g.cg.apply(&r), Err(Error::InvalidResource { .. }))),
    }
}

#[test]
fn oom_kill_inside_the_cgroup_is_counted() {
    require_root!();
    let mut g = Guard::new();
    let mem = LinuxMemoryBuilder::default().limit(16i64 << 20);
    // Where swap is accounted, forbid it, or the hog just swaps.
    let swap_accounted = match g.h.mode() {
        Mode::V2 => g.cg.dir("").unwrap().join("memory.swap.max").exists(),
        _ => {
            g.cg.dir("memory")
                .unwrap()
                .join("memory.memsw.limit_in_bytes")
                .exists()
        }
    };
    let mem = if swap_accounted {
        mem.swap(16i64 << 20)
    } else {
        mem
    };
    let r = LinuxResourcesBuilder::default()
        .memory(mem.build().unwrap())
        .build()
        .unwrap();
    g.cg.apply(&r).unwrap();
    assert_eq!(g.cg.oom_kills().unwrap(), 0);
    // tail keeps a newline-free input in memory until it ends: 256M of it cannot fit.
    let pid = g.spawn_inside("head -c 268435456 /dev/zero | tail -n1 >/dev/null; exit 0");
    g.wait(pid);
    until("oom_kill counted", 10, || g.cg.oom_kills().unwrap() >= 1);
    assert!(g.cg.stats().unwrap().memory.oom_kills >= 1);
}

/// `favordynmods` goes on and off the host's cgroup2 mount and the mount's other
/// superblock options survive both remounts; the host's setting is restored at the end.
#[test]
fn favordynmods_toggles_and_keeps_the_other_mount_options() {
    require_root!();
    use berth_cgroups::tuning;
    let Some((mp, before)) = tuning::cgroup2_mount().unwrap() else {
        return; // no cgroup2 mount on this host
    };
    struct Restore(PathBuf, String);
    impl Drop for Restore {
        fn drop(&mut self) {
            let on = self.1.split(',').any(|o| o == "favordynmods");
            let _ = berth_cgroups::tuning::set_favordynmods(&self.0, &self.1, on);
        }
    }
    let _restore = Restore(mp.clone(), before.clone());
    let others = |o: &str| {
        let mut v: Vec<String> = o
            .split(',')
            .filter(|x| *x != "favordynmods")
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    };
    tuning::set_favordynmods(&mp, &before, false).unwrap();
    assert!(!tuning::favordynmods().unwrap());
    let off = tuning::cgroup2_mount().unwrap().unwrap().1;
    assert!(
        tuning::enable_favordynmods().unwrap(),
        "it was off: enabling changes it"
    );
    assert!(tuning::favordynmods().unwrap());
    assert!(
        !tuning::enable_favordynmods().unwrap(),
        "already on: nothing to do"
    );
    let on = tuning::cgroup2_mount().unwrap().unwrap().1;
    assert_eq!(
        others(&on),
        others(&before),
        "other options kept: {before} → {on}"
    );
    assert_eq!(others(&off), others(&before));
}
