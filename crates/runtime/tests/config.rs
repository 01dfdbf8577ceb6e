//! config.json features (OCI runtime spec 1.2), each observed from inside a busybox container
//! as a user would: through what the container prints or writes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Bundle;
use serde_json::{Value, json};

/// A mount made on the host by a test; detached (with everything below it) on drop.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path) -> HostMount {
        std::fs::create_dir_all(at).unwrap();
        rustix::mount::mount(
            "tmpfs",
            at,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            None,
        )
        .unwrap();
        HostMount(at.to_path_buf())
    }

    /// Binds `at` onto itself and makes it a shared mount, so mounts below it propagate.
    fn shared_bind(at: &Path) -> HostMount {
        std::fs::create_dir_all(at).unwrap();
        rustix::mount::mount_bind(at, at).unwrap();
        let g = HostMount(at.to_path_buf());
        rustix::mount::mount_change(at, rustix::mount::MountPropagationFlags::SHARED).unwrap();
        g
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

/// The mountinfo line of `dest` as the container sees it: prints it (last one wins, as in the
/// kernel's view of stacked mounts).
fn mountinfo_of(dest: &str) -> String {
    format!("awk '$5==\"{dest}\"' /proc/self/mountinfo | tail -1")
}

/// The host directory of a process's cgroup for a v1 controller (from /proc/PID/cgroup).
fn host_cgroup_dir(pid: i64, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for l in text.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        if ctrls.split(',').any(|c| c == controller) {
            return Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(path.trim_start_matches('/'));
        }
    }
    panic!("no {controller} cgroup in /proc/{pid}/cgroup:\n{text}");
}

fn read_trim(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// create + start + wait; returns what the container printed.
fn create_start_wait(b: &Bundle) -> (String, String) {
    let id = b.create();
    assert!(b.rt(&["start", &id]).status.success());
    b.wait_stopped(&id);
    (id.clone(), b.container_stdout(&id))
}

fn pid_of(b: &Bundle, id: &str) -> i64 {
    b.state(id)["pid"].as_i64().unwrap()
}

// ---------------------------------------------------------------------------------------- root

#[test]
fn root_path_relative_to_the_bundle() {
    let mut b = Bundle::new();
    std::fs::write(b.rootfs().join("etc/marker"), "relative-root\n").unwrap();
    assert_eq!(b.config["root"]["path"], "rootfs");
    b.sh("cat /etc/marker");
    assert_eq!(b.run_ok(), "relative-root\n");
}

#[test]
fn root_path_absolute() {
    let mut b = Bundle::new();
    // A root outside the bundle, named by absolute path.
    let elsewhere = tempfile::Builder::new()
        .prefix("berth-rt-absroot")
        .tempdir()
        .unwrap();
    let abs = elsewhere.path().join("myroot");
    std::fs::rename(b.rootfs(), &abs).unwrap();
    std::fs::write(abs.join("etc/marker"), "absolute-root\n").unwrap();
    b.config["root"]["path"] = json!(abs.to_str().unwrap());
    // Relative bind sources still name paths in the bundle, not next to the rootfs.
    std::fs::create_dir(b.path().join("data")).unwrap();
    std::fs::write(b.path().join("data/f"), "from-bundle\n").unwrap();
    b.mount(
        json!({"destination": "/data", "type": "bind", "source": "data", "options": ["rbind"]}),
    );
    b.sh("cat /etc/marker /data/f");
    assert_eq!(b.run_ok(), "absolute-root\nfrom-bundle\n");
}

#[test]
fn readonly_root_refuses_writes_but_a_tmpfs_stays_writable() {
    let mut b = Bundle::new();
    assert_eq!(b.config["root"]["readonly"], true);
    b.mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}));
    b.sh("touch /newfile 2>&1; echo rc=$?; echo hi > /tmp/ok && cat /tmp/ok");
    let out = b.run_ok();
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("rc=1") && out.ends_with("hi\n"), "{out}");
}

#[test]
fn writable_root_when_not_readonly() {
    let mut b = Bundle::new();
    b.config["root"]["readonly"] = json!(false);
    b.sh("echo data > /written && cat /written");
    assert_eq!(b.run_ok(), "data\n");
    assert_eq!(read_trim(b.rootfs().join("written")), "data");
}

// -------------------------------------------------------------------------------------- mounts

#[test]
fn bind_mount_of_a_host_dir_into_a_missing_nested_target() {
    let mut b = Bundle::new();
    let src = b.path().join("hostdir");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("from-host"), "host says hi\n").unwrap();
    b.mount(json!({"destination": "/a/b/c", "type": "bind", "source": src, "options": ["bind"]}));
    b.sh("cat /a/b/c/from-host; echo container > /a/b/c/from-container");
    assert_eq!(b.run_ok(), "host says hi\n");
    assert_eq!(read_trim(src.join("from-container")), "container");
    // The target was created in the rootfs, as directories.
    assert!(b.rootfs().join("a/b/c").is_dir());
}

#[test]
fn bind_mount_of_a_single_file_creates_a_file_target() {
    let mut b = Bundle::new();
    let src = b.path().join("app.conf");
    std::fs::write(&src, "key=value\n").unwrap();
    b.mount(json!({"destination": "/etc/app/conf.d/app.conf", "type": "bind", "source": src, "options": ["rbind", "ro"]}));
    b.sh("cat /etc/app/conf.d/app.conf; test -f /etc/app/conf.d/app.conf && echo is-file");
    assert_eq!(b.run_ok(), "key=value\nis-file\n");
    assert!(b.rootfs().join("etc/app/conf.d/app.conf").is_file());
}

#[test]
fn mount_target_through_a_dangling_symlink_is_created_at_its_target() {
    let mut b = Bundle::new();
    // Debian-style /var/run -> /run, with /run not in the image yet.
    std::fs::create_dir_all(b.rootfs().join("var")).unwrap();
    std::os::unix::fs::symlink("../run", b.rootfs().join("var/run")).unwrap();
    b.mount(json!({"destination": "/var/run/app", "type": "tmpfs", "source": "tmpfs"}));
    b.sh(&format!(
        "echo x > /run/app/pid && cat /var/run/app/pid; {}",
        mountinfo_of("/run/app")
    ));
    let out = b.run_ok();
    assert!(
        out.starts_with("x\n") && out.contains(" /run/app ") && out.contains(" - tmpfs "),
        "{out}"
    );
    assert!(b.rootfs().join("run/app").is_dir());
}

#[test]
fn relative_bind_source_is_taken_from_the_bundle() {
    let mut b = Bundle::new();
    std::fs::create_dir(b.path().join("rel")).unwrap();
    std::fs::write(b.path().join("rel/f"), "rel\n").unwrap();
    b.mount(
        json!({"destination": "/mnt/rel", "type": "bind", "source": "rel", "options": ["bind"]}),
    );
    b.sh("cat /mnt/rel/f");
    assert_eq!(b.run_ok(), "rel\n");
}

#[test]
fn rbind_carries_submounts_and_plain_bind_does_not() {
    let mut b = Bundle::new();
    let src = b.path().join("tree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let _m = HostMount::tmpfs(&src.join("sub"));
    std::fs::write(src.join("sub/inside-submount"), "sub\n").unwrap();
    b.mount(json!({"destination": "/r", "type": "bind", "source": src, "options": ["rbind"]}));
    b.mount(json!({"destination": "/p", "type": "bind", "source": src, "options": ["bind"]}));
    b.sh("cat /r/sub/inside-submount; ls -A /p/sub | wc -l");
    assert_eq!(b.run_ok(), "sub\n0\n");
}

#[test]
fn ro_bind_refuses_writes() {
    let mut b = Bundle::new();
    let src = b.path().join("rodir");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "keep\n").unwrap();
    b.mount(
        json!({"destination": "/ro", "type": "bind", "source": src, "options": ["rbind", "ro"]}),
    );
    b.sh(&format!(
        "cat /ro/f; (echo x > /ro/f) 2>&1; echo rc=$?; {}",
        mountinfo_of("/ro")
    ));
    let out = b.run_ok();
    assert!(out.starts_with("keep\n"), "{out}");
    assert!(
        out.contains("Read-only file system") && out.contains("rc=1"),
        "{out}"
    );
    let mi = out.lines().last().unwrap();
    assert!(mi.split(' ').nth(5).unwrap().starts_with("ro"), "{mi}");
    assert_eq!(read_trim(src.join("f")), "keep");
}

#[test]
fn rro_makes_submounts_of_an_rbind_read_only_too() {
    let mut b = Bundle::new();
    let src = b.path().join("rrotree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let _m = HostMount::tmpfs(&src.join("sub"));
    b.mount(json!({"destination": "/ro-all", "type": "bind", "source": src, "options": ["rbind", "rro"]}));
    b.mount(json!({"destination": "/ro-top", "type": "bind", "source": src, "options": ["rbind", "ro"]}));
    b.sh(
        "(touch /ro-all/sub/x) 2>&1; (touch /ro-top/x) 2>&1; touch /ro-top/sub/y && echo top-only",
    );
    assert_eq!(
        b.run_ok(),
        "touch: /ro-all/sub/x: Read-only file system\ntouch: /ro-top/x: Read-only file system\ntop-only\n"
    );
}

#[test]
fn proc_and_sysfs_are_mounted() {
    let mut b = Bundle::new();
    b.sh(&format!(
        "{}; {}; grep -c '^Name:' /proc/self/status; test -d /sys/kernel && echo sys-ok",
        mountinfo_of("/proc"),
        mountinfo_of("/sys")
    ));
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains(" - proc proc "), "{out}");
    assert!(lines[1].contains(" - sysfs sysfs "), "{out}");
    // The default spec mounts sysfs read-only, nosuid, nodev, noexec.
    let opts = lines[1].split(' ').nth(5).unwrap();
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(opts.split(',').any(|x| x == o), "{o} missing in {opts}");
    }
    assert_eq!(&lines[2..], ["1", "sys-ok"]);
}

#[test]
fn tmpfs_size_and_mode_are_applied() {
    let mut b = Bundle::new();
    b.mount(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1770", "nosuid"]}));
    b.sh(&format!(
        "stat -c %a /scratch; {}; dd if=/dev/zero of=/scratch/big bs=4096 count=1024 2>&1 | grep -o 'No space left on device'",
        mountinfo_of("/scratch")
    ));
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1770");
    assert!(
        lines[1].contains(" - tmpfs ")
            && lines[1].contains("size=1024k")
            && lines[1].contains("mode=1770"),
        "{out}"
    );
    assert_eq!(lines[2], "No space left on device");
}

#[test]
fn tmpcopyup_fills_the_tmpfs_with_what_the_image_had_there() {
    use std::os::unix::fs::PermissionsExt;
    let mut b = Bundle::new();
    let app = b.rootfs().join("etc/app");
    std::fs::create_dir_all(app.join("d")).unwrap();
    std::fs::write(app.join("conf"), "image content\n").unwrap();
    std::fs::set_permissions(app.join("conf"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(app.join("conf"), Some(0), Some(1001)).unwrap();
    std::fs::write(app.join("d/f"), "nested\n").unwrap();
    std::os::unix::fs::symlink("conf", app.join("link")).unwrap();
    b.mount(json!({"destination": "/etc/app", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "nosuid"]}));
    b.sh(&format!(
        "cat /etc/app/conf /etc/app/d/f; stat -c '%a %u:%g' /etc/app/conf; readlink /etc/app/link; \
         echo new > /etc/app/new && echo written; {}",
        mountinfo_of("/etc/app")
    ));
    let out = b.run_ok();
    assert!(
        out.starts_with("image content\nnested\n640 0:1001\nconf\nwritten\n"),
        "{out}"
    );
    assert!(out.contains(" - tmpfs "), "{out}");
    // The image itself is untouched.
    assert!(!app.join("new").exists());
}

#[test]
fn devpts_and_mqueue_are_mounted() {
    let mut b = Bundle::new();
    b.sh(&format!(
        "{}; {}; readlink /dev/ptmx; stat -c '%t:%T %a' /dev/pts/ptmx",
        mountinfo_of("/dev/pts"),
        mountinfo_of("/dev/mqueue")
    ));
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains(" - devpts devpts ") && lines[0].contains("ptmxmode=666"),
        "{out}"
    );
    assert!(
        lines[0].contains("gid=5") && lines[0].contains("mode=620"),
        "{out}"
    );
    assert!(lines[1].contains(" - mqueue mqueue "), "{out}");
    assert_eq!(lines[2], "pts/ptmx");
    assert_eq!(lines[3], "5:2 666");
}

#[test]
fn cgroup_mount_is_readonly_and_shows_the_containers_own_hierarchies() {
    let mut b = Bundle::new();
    let cg = b.config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "cgroup")
        .cloned()
        .unwrap();
    assert!(
        cg["options"].as_array().unwrap().contains(&json!("ro")),
        "spec: cgroup mount is ro by default"
    );
    b.sh(&format!(
        "{}; {}; ls /sys/fs/cgroup | sort | xargs; cat /sys/fs/cgroup/pids/cgroup.procs; \
         echo 1 > /sys/fs/cgroup/pids/pids.max 2>&1; touch /sys/fs/cgroup/x 2>&1; \
         test -e /sys/fs/cgroup/memory/release_agent || echo no-release-agent",
        mountinfo_of("/sys/fs/cgroup"),
        mountinfo_of("/sys/fs/cgroup/memory")
    ));
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].split(' ').nth(5).unwrap().starts_with("ro"),
        "{out}"
    );
    assert!(
        lines[1].split(' ').nth(5).unwrap().starts_with("ro") && lines[1].contains(" - cgroup "),
        "{out}"
    );
    let dirs: Vec<&str> = lines[2].split(' ').collect();
    for h in [
        "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
    ] {
        assert!(dirs.contains(&h), "{h} missing in {dirs:?}");
    }
    // The container's own cgroup: only its init is there (pid 1 in its pid namespace).
    assert_eq!(lines[3], "1");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.ends_with("no-release-agent\n"), "{out}");
}

#[test]
fn noexec_nodev_nosuid_are_honoured() {
    let mut b = Bundle::new();
    b.caps(&["CAP_MKNOD", "CAP_DAC_OVERRIDE"]);
    b.mount(json!({"destination": "/noexec", "type": "tmpfs", "source": "tmpfs", "options": ["noexec", "nosuid", "nodev"]}));
    b.mount(json!({"destination": "/exec", "type": "tmpfs", "source": "tmpfs", "options": ["exec", "dev"]}));
    b.sh(&format!(
        "cp /bin/busybox /noexec/true; /noexec/true 2>&1; echo noexec=$?; \
         cp /bin/busybox /exec/true; /exec/true; echo exec=$?; \
         mknod /noexec/null c 1 3; (echo x > /noexec/null) 2>&1; echo nodev=$?; \
         mknod /exec/null c 1 3; echo x > /exec/null; echo dev=$?; {}",
        mountinfo_of("/noexec")
    ));
    let out = b.run_ok();
    assert!(out.contains("Permission denied"), "{out}");
    for want in ["noexec=126", "exec=0", "nodev=1", "dev=0"] {
        assert!(out.lines().any(|l| l == want), "{want} missing in {out}");
    }
    let opts = out
        .lines()
        .last()
        .unwrap()
        .split(' ')
        .nth(5)
        .unwrap()
        .to_string();
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(opts.split(',').any(|x| x == o), "{o} missing in {opts}");
    }
}

#[test]
fn atime_options_show_in_mountinfo() {
    let mut b = Bundle::new();
    b.mount(
        json!({"destination": "/rel", "type": "tmpfs", "source": "tmpfs", "options": ["relatime"]}),
    );
    b.mount(
        json!({"destination": "/noa", "type": "tmpfs", "source": "tmpfs", "options": ["noatime"]}),
    );
    b.mount(json!({"destination": "/strict", "type": "tmpfs", "source": "tmpfs", "options": ["strictatime"]}));
    b.sh(&format!(
        "{}; {}; {}",
        mountinfo_of("/rel"),
        mountinfo_of("/noa"),
        mountinfo_of("/strict")
    ));
    let out = b.run_ok();
    let opts: Vec<String> = out
        .lines()
        .map(|l| l.split(' ').nth(5).unwrap().to_string())
        .collect();
    assert!(opts[0].split(',').any(|o| o == "relatime"), "{opts:?}");
    assert!(opts[1].split(',').any(|o| o == "noatime"), "{opts:?}");
    assert!(
        !opts[2].contains("atime"),
        "strictatime shows no atime flag: {opts:?}"
    );
}

/// Sets up a shared host mount, a container binding it with `prop`, then (after create) mounts
/// a tmpfs below the source on the host; returns what the container saw at start.
fn host_mount_seen_through(prop: &str) -> String {
    let mut b = Bundle::new();
    let src = b.path().join("shared-src");
    let _shared = HostMount::shared_bind(&src);
    std::fs::create_dir(src.join("sub")).unwrap();
    b.mount(
        json!({"destination": "/mnt/s", "type": "bind", "source": src, "options": ["rbind", prop]}),
    );
    b.sh("cat /mnt/s/sub/marker 2>/dev/null || echo not-there");
    let id = b.create();
    // The container's mounts exist now; a mount made on the host from here on only reaches
    // the container through propagation.
    let _sub = HostMount::tmpfs(&src.join("sub"));
    std::fs::write(src.join("sub/marker"), "propagated\n").unwrap();
    assert!(b.rt(&["start", &id]).status.success());
    b.wait_stopped(&id);
    b.container_stdout(&id)
}

#[test]
fn rslave_bind_receives_mounts_made_on_the_host() {
    assert_eq!(host_mount_seen_through("rslave"), "propagated\n");
}

#[test]
fn rprivate_bind_does_not_receive_host_mounts() {
    assert_eq!(host_mount_seen_through("rprivate"), "not-there\n");
}

#[test]
fn rshared_bind_is_a_shared_mount_inside() {
    let mut b = Bundle::new();
    let src = b.path().join("s");
    std::fs::create_dir(&src).unwrap();
    b.mount(json!({"destination": "/sh", "type": "bind", "source": src, "options": ["rbind", "rshared"]}));
    b.mount(json!({"destination": "/pr", "type": "bind", "source": src, "options": ["rbind", "rprivate"]}));
    b.sh(&format!("{}; {}", mountinfo_of("/sh"), mountinfo_of("/pr")));
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains(" shared:"), "{out}");
    assert!(
        !lines[1].contains(" shared:") && !lines[1].contains(" master:"),
        "{out}"
    );
}

#[test]
fn rshared_bind_under_a_shared_root_carries_container_mounts_to_the_host() {
    let mut b = Bundle::new();
    let src = b.path().join("bidir");
    let _shared = HostMount::shared_bind(&src);
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    b.caps(&["CAP_SYS_ADMIN"]);
    b.mount(json!({"destination": "/mnt/b", "type": "bind", "source": src, "options": ["rbind", "rshared"]}));
    b.sh("mkdir /mnt/b/inner && mount -t tmpfs tmpfs /mnt/b/inner && echo from-container > /mnt/b/inner/f && echo mounted");
    assert_eq!(b.run_ok(), "mounted\n");
    // The container's mount reached the host (and outlives the container there) ...
    assert_eq!(read_trim(src.join("inner/f")), "from-container");
    // ... but nothing else did: not the root bind, not /proc, /dev or /sys on it.
    let rootfs = std::fs::canonicalize(b.rootfs()).unwrap();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let leaked: Vec<&str> = mi
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|m| Path::new(m).starts_with(&rootfs))
        })
        .collect();
    assert!(leaked.is_empty(), "leaked to the host: {leaked:?}");
}

// ------------------------------------------------------------------------------------- process

#[test]
fn process_args_env_and_cwd() {
    let mut b = Bundle::new();
    b.args(&[
        "sh",
        "-c",
        "echo \"$0|$1|$GREETING|$(pwd)|$HOME\"",
        "arg0",
        "arg one",
    ]);
    b.config["process"]["env"] = json!(["PATH=/bin", "GREETING=hello world"]);
    b.config["process"]["cwd"] = json!("/etc");
    assert_eq!(b.run_ok(), "arg0|arg one|hello world|/etc|/root\n");
}

#[test]
fn user_uid_gid_and_additional_gids() {
    let mut b = Bundle::new();
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20]});
    b.sh("id; grep -E '^(Uid|Gid|Groups):' /proc/self/status | tr -s '\\t ' ' '");
    let out = b.run_ok();
    assert_eq!(
        out,
        "uid=1000 gid=1001 groups=10,20\nUid: 1000 1000 1000 1000\nGid: 1001 1001 1001 1001\nGroups: 10 20 \n"
    );
}

#[test]
fn umask_sets_the_mode_of_new_files() {
    let mut b = Bundle::new();
    b.config["process"]["user"]["umask"] = json!(0o027);
    b.mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
    b.sh("umask; touch /tmp/f; mkdir /tmp/d; stat -c %a /tmp/f /tmp/d");
    assert_eq!(b.run_ok(), "0027\n640\n750\n");
}

fn cap_mask(bits: &[u32]) -> String {
    format!("{:016x}", bits.iter().fold(0u64, |a, b| a | (1u64 << b)))
}

#[test]
fn all_five_capability_sets() {
    let mut b = Bundle::new();
    // CHOWN=0 DAC_OVERRIDE=1 KILL=5 NET_BIND_SERVICE=10 NET_RAW=13.
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    });
    // With no_new_privs, execve as root cannot gain beyond the permitted set we configured,
    // so every set is observable as configured.
    assert_eq!(b.config["process"]["noNewPrivileges"], true);
    b.sh("grep '^Cap' /proc/self/status | tr -s '\\t ' ' '");
    let out = b.run_ok();
    let want = format!(
        "CapInh: {}\nCapPrm: {}\nCapEff: {}\nCapBnd: {}\nCapAmb: {}\n",
        cap_mask(&[5, 10]),
        cap_mask(&[0, 5, 10]),
        cap_mask(&[0, 5, 10]),
        cap_mask(&[0, 1, 5, 10, 13]),
        cap_mask(&[10])
    );
    assert_eq!(out, want);
}

#[test]
fn ambient_capabilities_reach_a_non_root_process() {
    let mut b = Bundle::new();
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
        "permitted": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
        "effective": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    });
    b.sh("grep '^Cap' /proc/self/status | tr -s '\\t ' ' '");
    let out = b.run_ok();
    let nbs = cap_mask(&[10]);
    let want = format!(
        "CapInh: {nbs}\nCapPrm: {nbs}\nCapEff: {nbs}\nCapBnd: {}\nCapAmb: {nbs}\n",
        cap_mask(&[5, 10])
    );
    assert_eq!(out, want);
}

#[test]
fn rlimits_apply() {
    let mut b = Bundle::new();
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ]);
    b.sh(
        "ulimit -n; ulimit -Hn; ulimit -c; grep 'Max open files' /proc/self/limits | tr -s ' ' ' '",
    );
    assert_eq!(
        b.run_ok(),
        "1000\n2000\n0\nMax open files 1000 2000 files \n"
    );
}

#[test]
fn a_nofile_limit_below_what_the_runtime_needs_still_starts_the_container() {
    // runc fails these: it sets the limit before opening the exec fifo and the seccomp pipe.
    // Root and a user, seccomp loaded early and last (no_new_privileges).
    for (user, nnp) in [(0, false), (1000, false), (1000, true)] {
        for (soft, hard) in [(10, 10), (8, 100), (5, 5000)] {
            let mut b = Bundle::new();
            b.config["process"]["rlimits"] =
                json!([{"type": "RLIMIT_NOFILE", "soft": soft, "hard": hard}]);
            b.config["process"]["user"] = json!({"uid": user, "gid": user});
            b.config["process"]["noNewPrivileges"] = json!(nnp);
            b.sh("ulimit -n; ulimit -Hn");
            assert_eq!(
                b.run_ok(),
                format!("{soft}\n{hard}\n"),
                "uid {user}, no_new_privileges {nnp}"
            );
        }
    }
}

#[test]
fn no_new_privileges_sets_the_flag() {
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let mut b = Bundle::new();
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.sh("grep NoNewPrivs /proc/self/status | cut -f2");
        assert_eq!(b.run_ok().trim(), want, "noNewPrivileges={nnp}");
    }
}

#[test]
fn oom_score_adj_is_set() {
    let mut b = Bundle::new();
    b.config["process"]["oomScoreAdj"] = json!(421);
    b.sh("cat /proc/self/oom_score_adj");
    assert_eq!(b.run_ok(), "421\n");
}

#[test]
fn apparmor_and_selinux_are_accepted_with_a_warning_on_this_host() {
    if Path::new("/sys/kernel/security/apparmor").exists()
        || Path::new("/sys/fs/selinux/enforce").exists()
    {
        eprintln!("skipped: this host has an LSM enabled");
        return;
    }
    let mut b = Bundle::new();
    b.config["process"]["apparmorProfile"] = json!("berth-default");
    b.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    b.sh("echo ran");
    let (code, out, err) = b.run_out();
    assert_eq!((code, out.as_str()), (0, "ran\n"), "{err}");
    assert!(
        err.contains("AppArmor") && err.contains("apparmorProfile ignored"),
        "{err}"
    );
    assert!(
        err.contains("SELinux") && err.contains("selinuxLabel ignored"),
        "{err}"
    );
}

// ------------------------------------------------------------------------ hostname, domainname

#[test]
fn hostname_and_domainname() {
    let mut b = Bundle::new();
    b.config["hostname"] = json!("box-one");
    b.config["domainname"] = json!("example.test");
    b.sh("hostname; uname -n; cat /proc/sys/kernel/domainname");
    assert_eq!(b.run_ok(), "box-one\nbox-one\nexample.test\n");
    let host = rustix::system::uname();
    assert_ne!(host.nodename().to_str().unwrap(), "box-one");
}

/// Puts the host's NIS domain name back if a test (through a bug) changed it.
struct DomainGuard(String);

impl Drop for DomainGuard {
    fn drop(&mut self) {
        if read_trim("/proc/sys/kernel/domainname") != self.0 {
            let _ = std::fs::write("/proc/sys/kernel/domainname", &self.0);
        }
    }
}

#[test]
fn hostname_or_domainname_without_a_uts_namespace_is_refused() {
    let _restore = DomainGuard(read_trim("/proc/sys/kernel/domainname"));
    let host_name = read_trim("/proc/sys/kernel/hostname");
    for (key, value) in [("hostname", "not-the-host"), ("domainname", "not.the.host")] {
        let mut b = Bundle::new();
        b.namespaces(&["pid", "network", "ipc", "mount"]);
        b.config.as_object_mut().unwrap().remove("hostname");
        b.config[key] = json!(value);
        b.sh("true");
        let (code, _, err) = b.run_out();
        assert_ne!(code, 0, "{key} without a UTS namespace was accepted");
        assert!(err.contains("no UTS namespace"), "{err}");
    }
    assert_eq!(read_trim("/proc/sys/kernel/hostname"), host_name);
    assert_eq!(read_trim("/proc/sys/kernel/domainname"), _restore.0);
}

// ---------------------------------------------------------------------------------- namespaces

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

const NS_FILES: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("mount", "mnt"),
    ("uts", "uts"),
    ("ipc", "ipc"),
    ("network", "net"),
    ("cgroup", "cgroup"),
    ("time", "time"),
];

#[test]
fn each_namespace_is_new_only_when_asked() {
    // Mount is needed for the rootfs (the others are not); each run adds one more kind.
    for (kind, file) in NS_FILES.iter().filter(|(k, _)| *k != "mount") {
        let mut b = Bundle::new();
        b.namespaces(&["mount", kind]);
        if *kind != "uts" {
            b.config.as_object_mut().unwrap().remove("hostname");
        }
        let script: String = NS_FILES
            .iter()
            .map(|(_, f)| format!("readlink /proc/self/ns/{f}; "))
            .collect();
        b.sh(&script);
        let out = b.run_ok();
        for ((_, f), seen) in NS_FILES.iter().zip(out.lines()) {
            let new = *f == "mnt" || f == file;
            assert_eq!(
                seen != host_ns(f),
                new,
                "with {kind}: /proc/self/ns/{f} is {seen}"
            );
        }
    }
}

#[test]
fn pid_namespace_makes_the_process_pid_1() {
    let mut b = Bundle::new();
    b.sh("echo $$; ps -o pid,comm | wc -l");
    // A header, pid 1 (sh), and the pipeline's ps and wc: nothing of the host.
    assert_eq!(b.run_ok(), "1\n4\n");
}

#[test]
fn network_namespace_has_only_loopback() {
    let mut b = Bundle::new();
    b.sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
    assert_eq!(b.run_ok(), "lo\n");
}

#[test]
fn new_network_namespace_has_loopback_up() {
    // As runc: a network namespace the runtime makes gets `lo` up (IFF_UP | IFF_LOOPBACK).
    let mut b = Bundle::new();
    b.sh("cat /sys/class/net/lo/flags");
    assert_eq!(b.run_ok(), "0x9\n");
}

#[test]
fn ipc_namespace_hides_host_message_queues() {
    // A SysV shared memory segment made on the host is not visible in the container.
    // SAFETY: shmget/shmctl with IPC_PRIVATE create and remove our own segment.
    let shm = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
    assert!(shm >= 0);
    struct Rm(i32);
    impl Drop for Rm {
        fn drop(&mut self) {
            // SAFETY: removes the segment this test created.
            unsafe { libc::shmctl(self.0, libc::IPC_RMID, std::ptr::null_mut()) };
        }
    }
    let _rm = Rm(shm);
    assert!(read_trim("/proc/sysvipc/shm").lines().count() >= 2);
    let mut b = Bundle::new();
    b.sh("tail -n +2 /proc/sysvipc/shm | wc -l");
    assert_eq!(b.run_ok(), "0\n");
}

#[test]
fn user_namespace_maps_uids_and_gids() {
    let mut b = Bundle::new();
    // The mapped root (host uid 100000) must be able to reach the rootfs through the bundle.
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(b.path()).unwrap().permissions(),
        0o711,
    );
    std::fs::set_permissions(
        b.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    b.namespaces(&["pid", "network", "ipc", "uts", "mount", "user"]);
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.sh(
        "cat /proc/self/uid_map /proc/self/gid_map | tr -s ' ' ' '; id -u; stat -c %u /bin/busybox",
    );
    let id = b.create();
    let pid = pid_of(&b, &id);
    let st = read_trim(format!("/proc/{pid}/status"));
    assert!(st.lines().any(|l| l.starts_with("Uid:\t100000\t")), "{st}");
    assert_ne!(
        std::fs::read_link(format!("/proc/{pid}/ns/user"))
            .unwrap()
            .to_string_lossy(),
        host_ns("user")
    );
    assert!(b.rt(&["start", &id]).status.success());
    b.wait_stopped(&id);
    // Host root is not mapped: the rootfs files show up as the overflow uid.
    assert_eq!(
        b.container_stdout(&id),
        " 0 100000 65536\n 0 200000 65536\n0\n65534\n"
    );
}

#[test]
fn cgroup_namespace_roots_the_container_at_its_cgroup() {
    let mut b = Bundle::new();
    b.namespaces(&["pid", "network", "ipc", "uts", "mount", "cgroup"]);
    b.sh("grep -E ':(pids|memory):' /proc/self/cgroup");
    let (_, out) = create_start_wait(&b);
    let mut want = vec![
        format!("{}:memory:/", hierarchy_index("memory")),
        format!("{}:pids:/", hierarchy_index("pids")),
    ];
    let mut got: Vec<&str> = out.lines().collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

fn hierarchy_index(ctrl: &str) -> String {
    let t = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    t.lines()
        .find(|l| l.split(':').nth(1).unwrap().split(',').any(|c| c == ctrl))
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn time_namespace_applies_offsets() {
    let mut b = Bundle::new();
    b.namespaces(&["pid", "network", "ipc", "uts", "mount", "time"]);
    b.config["linux"]["timeOffsets"] = json!({
        "boottime": {"secs": 1_000_000, "nanosecs": 0},
        "monotonic": {"secs": 2_000_000, "nanosecs": 0},
    });
    b.sh("cut -d' ' -f1 /proc/uptime; cat /proc/self/timens_offsets | tr -s ' ' ' '");
    let host_up: f64 = read_trim("/proc/uptime")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let out = b.run_ok();
    let mut lines = out.lines();
    let up: f64 = lines.next().unwrap().parse().unwrap();
    assert!(
        (up - host_up - 1_000_000.0).abs() < 60.0,
        "uptime {up} vs host {host_up}"
    );
    let offsets: Vec<&str> = lines.collect();
    assert!(
        offsets.contains(&"monotonic 2000000 0") && offsets.contains(&"boottime 1000000 0"),
        "{offsets:?}"
    );
}

#[test]
fn exec_joins_the_time_namespace_with_its_offsets() {
    let mut b = Bundle::new();
    b.namespaces(&["pid", "network", "ipc", "uts", "mount", "time"]);
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 3_000_000, "nanosecs": 0}});
    b.args(&["sleep", "100"]);
    let id = b.create();
    assert!(b.rt(&["start", &id]).status.success());
    let host_up: f64 = read_trim("/proc/uptime")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let o = b.rt(&["exec", &id, "cut", "-d", " ", "-f1", "/proc/uptime"]);
    let up: f64 = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    assert!(
        (up - host_up - 3_000_000.0).abs() < 60.0,
        "uptime {up} vs host {host_up}"
    );
}

#[test]
fn user_namespace_container_accepts_exec() {
    let mut b = Bundle::new();
    std::fs::set_permissions(
        b.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    b.namespaces(&["pid", "network", "ipc", "uts", "mount", "user"]);
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    b.args(&["sleep", "100"]);
    let id = b.create();
    assert!(b.rt(&["start", &id]).status.success());
    let o = b.rt(&[
        "exec",
        "--user",
        "1000:1000",
        &id,
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map | tr -s ' ' ' '",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "1000\n 0 300000 65536\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let pid: i64 = String::from_utf8_lossy(&b.rt(&["ps", "--format", "json", &id]).stdout)
        .trim_matches(|c| c == '[' || c == ']' || c == '\n')
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let st = read_trim(format!("/proc/{pid}/status"));
    assert!(st.lines().any(|l| l.starts_with("Uid:\t300000\t")), "{st}");
}

#[test]
fn joining_another_containers_pid_ipc_and_uts_namespaces() {
    // A pod: the first container owns the namespaces, the second joins them by path.
    let mut a = Bundle::new();
    a.config["hostname"] = json!("pod-host");
    a.args(&["sleep", "100"]);
    let ida = a.create();
    assert!(a.rt(&["start", &ida]).status.success());
    let pa = pid_of(&a, &ida);
    let mut b = Bundle::new();
    b.config.as_object_mut().unwrap().remove("hostname");
    b.config["linux"]["namespaces"] = json!([
        {"type": "pid", "path": format!("/proc/{pa}/ns/pid")},
        {"type": "ipc", "path": format!("/proc/{pa}/ns/ipc")},
        {"type": "uts", "path": format!("/proc/{pa}/ns/uts")},
        {"type": "network", "path": format!("/proc/{pa}/ns/net")},
        {"type": "mount"},
        {"type": "cgroup"},
    ]);
    b.sh("hostname; cat /proc/1/comm; echo $$; grep ':pids:' /proc/self/cgroup | cut -d: -f3");
    let out = b.run_ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pod-host");
    // pid 1 of the pod is the first container's process; we are another pid in it.
    assert_eq!(lines[1], "sleep");
    assert_ne!(lines[2], "1");
    // Its own cgroup namespace is rooted at its own cgroup even though it needed two stages.
    assert_eq!(lines[3], "/");
}

/// `ip netns add NAME`, deleted on drop.
struct NetNs(String);

impl NetNs {
    fn new() -> NetNs {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "berth-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let o = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "ip netns add: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        NetNs(name)
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.0)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .output();
    }
}

#[test]
fn joining_a_network_namespace_by_path() {
    let ns = NetNs::new();
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(ns.path()).unwrap());
    let mut b = Bundle::new();
    b.config["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
        {"type": "network", "path": ns.path()},
    ]);
    b.sh("readlink /proc/self/ns/net");
    assert_eq!(b.run_ok(), format!("net:[{ino}]\n"));
}

#[test]
fn joining_a_namespace_that_is_not_one_fails() {
    let mut b = Bundle::new();
    let not_ns = b.path().join("config.json");
    b.config["linux"]["namespaces"] =
        json!([{"type": "mount"}, {"type": "network", "path": not_ns}]);
    b.sh("true");
    let (code, _, err) = b.run_out();
    assert_ne!(code, 0);
    assert!(err.contains("setns net"), "{err}");
}

// ------------------------------------------------------------------------------------- devices

#[test]
fn default_devices_exist_with_the_right_numbers_and_modes() {
    let mut b = Bundle::new();
    b.sh(
        "stat -c '%n %F %t:%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; \
         for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done; \
         test -d /dev/pts && test -d /dev/shm && echo dirs; stat -c %a /dev/shm; \
         echo hi > /dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c",
    );
    let out = b.run_ok();
    let want = "\
/dev/null character special file 1:3 666
/dev/zero character special file 1:5 666
/dev/full character special file 1:7 666
/dev/random character special file 1:8 666
/dev/urandom character special file 1:9 666
/dev/tty character special file 5:0 666
pts/ptmx
/proc/self/fd
/proc/self/fd/0
/proc/self/fd/1
/proc/self/fd/2
dirs
1777
4
4
";
    assert_eq!(out, want);
}

#[test]
fn configured_device_gets_its_mode_and_owner() {
    let mut b = Bundle::new();
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 1000, "gid": 1001},
        {"path": "/dev/sub/myzero", "type": "c", "major": 1, "minor": 5},
    ]);
    // The owner may write to it (root without CAP_DAC_OVERRIDE may not).
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.sh("stat -c '%F %t:%T %a %u:%g' /dev/mynull /dev/sub/myzero; echo x > /dev/mynull && echo writable");
    let out = b.run_ok();
    assert_eq!(
        out,
        "character special file 1:3 600 1000:1001\ncharacter special file 1:5 666 0:0\nwritable\n"
    );
}

#[test]
fn device_allowlist_blocks_devices_not_allowed() {
    let mut b = Bundle::new();
    b.caps(&["CAP_MKNOD"]);
    // Deny everything, then allow only mknod (not read/write) of 10:200 (/dev/net/tun).
    b.config["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "m"},
    ]);
    b.sh("mknod /dev/tun c 10 200 && echo made; cat /dev/tun 2>&1; \
         mknod /dev/fuse c 10 229 2>&1; echo rc=$?; head -c 1 /dev/zero | wc -c");
    let id = b.create();
    let list = read_trim(host_cgroup_dir(pid_of(&b, &id), "devices").join("devices.list"));
    assert!(list.lines().any(|l| l == "c 10:200 m"), "{list}");
    assert!(!list.lines().any(|l| l.starts_with("a ")), "{list}");
    assert!(b.rt(&["start", &id]).status.success());
    b.wait_stopped(&id);
    let out = b.container_stdout(&id);
    assert_eq!(
        out,
        "made\ncat: can't open '/dev/tun': Operation not permitted\nmknod: /dev/fuse: Operation not permitted\nrc=1\n1\n"
    );
}

// ----------------------------------------------------------------------------------- resources

#[test]
fn memory_limits_apply_and_the_oom_killer_enforces_them() {
    let mut b = Bundle::new();
    let mib = 1024 * 1024;
    b.config["linux"]["resources"]["memory"] =
        json!({"limit": 32 * mib, "reservation": 16 * mib, "swap": 48 * mib});
    b.sh("cat /sys/fs/cgroup/memory/memory.limit_in_bytes; dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo rc=$?");
    let id = b.create();
    let dir = host_cgroup_dir(pid_of(&b, &id), "memory");
    assert_eq!(
        read_trim(dir.join("memory.limit_in_bytes")),
        (32 * mib).to_string()
    );
    assert_eq!(
        read_trim(dir.join("memory.soft_limit_in_bytes")),
        (16 * mib).to_string()
    );
    if dir.join("memory.memsw.limit_in_bytes").exists() {
        assert_eq!(
            read_trim(dir.join("memory.memsw.limit_in_bytes")),
            (48 * mib).to_string()
        );
    }
    assert!(b.rt(&["start", &id]).status.success());
    b.wait_stopped(&id);
    // dd needs a 64 MiB buffer: it is killed (SIGKILL: 128+9) by the cgroup's OOM killer.
    assert_eq!(b.container_stdout(&id), format!("{}\nrc=137\n", 32 * mib));
}

#[test]
fn cpu_limits_apply() {
    let mut b = Bundle::new();
    b.config["linux"]["resources"]["cpu"] =
        json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"});
    b.sh("nproc; grep Cpus_allowed_list /proc/self/status | cut -f2; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares");
    let id = b.create();
    let pid = pid_of(&b, &id);
    let cpu = host_cgroup_dir(pid, "cpu");
    assert_eq!(read_trim(cpu.join("cpu.shares")), "512");
    assert_eq!(read_trim(cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read_trim(cpu.join("cpu.cfs_period_us")), "100000");
    let cpuset = host_cgroup_dir(pid, "cpuset");
    assert_eq!(read_trim(cpuset.join("cpuset.cpus")), "0");
    assert_eq!(read_trim(cpuset.join("cpuset.mems")), "0");
    assert!(b.rt(&["start", &id]).status.success());
    b.wait_stopped(&id);
    assert_eq!(b.container_stdout(&id), "1\n0\n50000\n512\n");
}

#[test]
fn pids_limit_bounds_a_fork_bomb() {
    let mut b = Bundle::new();
    b.config["linux"]["resources"]["pids"] = json!({"limit": 10});
    b.sh("cat /sys/fs/cgroup/pids/pids.max; i=0; while [ $i -lt 40 ]; do sleep 3 & i=$((i+1)); done; echo survived");
    let id = b.create();
    assert_eq!(
        read_trim(host_cgroup_dir(pid_of(&b, &id), "pids").join("pids.max")),
        "10"
    );
    let err_file = b.path().join(format!("{id}.out"));
    assert!(b.rt(&["start", &id]).status.success());
    b.wait_stopped(&id);
    let out = std::fs::read_to_string(err_file).unwrap();
    assert!(out.starts_with("10\n"), "{out}");
    // The shell cannot fork the 11th process and gives up.
    assert!(!out.contains("survived"), "{out}");
}

#[test]
fn blkio_weight_is_applied_or_refused_clearly() {
    let mut b = Bundle::new();
    b.config["linux"]["resources"]["blockIO"] = json!({"weight": 500});
    b.sh("true");
    b.write_config();
    let id = b.new_id();
    let o = b.create_raw(&id);
    let blkio = Path::new("/sys/fs/cgroup/blkio").join(&id);
    if o.status.success() {
        let w = ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .map(|f| blkio.join(f))
            .find(|p| p.exists())
            .unwrap();
        assert!(read_trim(w).contains("500"));
    } else {
        // This host's blkio controller has no weight files (no CFQ/BFQ): a clear error, and
        // nothing left behind.
        let err = String::from_utf8_lossy(&o.stderr);
        eprintln!("blkio weight unsupported here: {err}");
        assert!(err.contains("blockIO weight"), "{err}");
        assert!(!b.rt(&["state", &id]).status.success());
        assert!(!blkio.exists());
    }
}

#[test]
fn cgroups_path_absolute_and_relative() {
    let pid = std::process::id();
    for (path, rel) in [
        (format!("/berth-cfgtest-{pid}-abs"), false),
        (format!("berth-cfgtest-{pid}-rel"), true),
    ] {
        let mut b = Bundle::new();
        b.config["linux"]["cgroupsPath"] = json!(path);
        b.sh("cat /proc/self/cgroup");
        let id = b.create();
        let init = pid_of(&b, &id);
        for ctrl in ["memory", "pids", "cpu"] {
            let dir = host_cgroup_dir(init, ctrl);
            let base = if rel {
                host_cgroup_dir(std::process::id() as i64, ctrl)
            } else {
                Path::new("/sys/fs/cgroup").join(ctrl)
            };
            assert_eq!(dir, base.join(path.trim_start_matches('/')), "{ctrl}");
            assert!(dir.is_dir());
        }
        let dir = host_cgroup_dir(init, "pids");
        assert!(b.rt(&["start", &id]).status.success());
        b.wait_stopped(&id);
        assert!(b.rt(&["delete", &id]).status.success());
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

// -------------------------------------------------------------------------------------- sysctl

#[test]
fn sysctls_apply_inside_new_namespaces_only() {
    let host_fwd = read_trim("/proc/sys/net/ipv4/ip_forward");
    let host_shm = read_trim("/proc/sys/kernel/shmmax");
    let mut b = Bundle::new();
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789"});
    b.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax");
    assert_eq!(b.run_ok(), "1\n123456789\n");
    assert_eq!(read_trim("/proc/sys/net/ipv4/ip_forward"), host_fwd);
    assert_eq!(read_trim("/proc/sys/kernel/shmmax"), host_shm);
}

// ------------------------------------------------------------------- masked and readonly paths

#[test]
fn masked_paths_hide_files_and_directories() {
    let mut b = Bundle::new();
    b.config["root"]["readonly"] = json!(false);
    std::fs::write(b.rootfs().join("etc/secret"), "top secret\n").unwrap();
    std::fs::create_dir_all(b.rootfs().join("data/hidden")).unwrap();
    std::fs::write(b.rootfs().join("data/hidden/f"), "hidden\n").unwrap();
    let masked = b.config["linux"]["maskedPaths"].as_array_mut().unwrap();
    masked.push(json!("/etc/secret"));
    masked.push(json!("/data/hidden"));
    masked.push(json!("/no/such/path"));
    b.sh(
        "cat /etc/secret | wc -c; ls -A /data/hidden | wc -l; touch /data/hidden/x 2>&1; \
         touch /data/ok && echo rest-writable; cat /proc/kcore | wc -c; ls -A /sys/firmware | wc -l",
    );
    let out = b.run_ok();
    assert_eq!(
        out,
        "0\n0\ntouch: /data/hidden/x: Read-only file system\nrest-writable\n0\n0\n"
    );
    assert_eq!(read_trim(b.rootfs().join("etc/secret")), "top secret");
}

#[test]
fn readonly_paths_refuse_writes() {
    let mut b = Bundle::new();
    b.config["root"]["readonly"] = json!(false);
    std::fs::create_dir_all(b.rootfs().join("data/ro")).unwrap();
    std::fs::write(b.rootfs().join("data/ro/f"), "ro\n").unwrap();
    b.config["linux"]["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/data/ro"));
    b.caps(&["CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE"]);
    b.sh(
        "cat /data/ro/f; touch /data/ro/x 2>&1; touch /data/rw && echo rw-ok; \
         (echo berth > /proc/sys/kernel/hostname) 2>&1; echo rc=$?",
    );
    let out = b.run_ok();
    assert!(
        out.starts_with("ro\ntouch: /data/ro/x: Read-only file system\nrw-ok\n"),
        "{out}"
    );
    assert!(out.contains("Read-only file system\nrc=1"), "{out}");
}

// ---------------------------------------------------------------------------- rootfsPropagation

#[test]
fn rootfs_propagation_is_applied_to_the_root_mount() {
    for (prop, check) in [
        ("shared", " shared:"),
        ("private", ""),
        ("unbindable", " unbindable"),
    ] {
        let mut b = Bundle::new();
        b.config["linux"]["rootfsPropagation"] = json!(prop);
        b.sh(&mountinfo_of("/"));
        let out = b.run_ok();
        let optional: String = out
            .split(" - ")
            .next()
            .unwrap()
            .split(' ')
            .skip(6)
            .map(|s| format!(" {s}"))
            .collect();
        if check.is_empty() {
            assert_eq!(optional, "", "{prop}: {out}");
        } else {
            assert!(optional.contains(check), "{prop}: {out}");
        }
    }
}

// ------------------------------------------------------------------------------------- seccomp

fn mkdir_errno_profile() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV}],
    })
}

#[test]
fn seccomp_rule_returns_the_configured_errno() {
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = mkdir_errno_profile();
    b.mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
    b.sh("mkdir /tmp/d 2>&1; echo rc=$?; touch /tmp/f && echo others-allowed; grep Seccomp: /proc/self/status | cut -f2");
    assert_eq!(
        b.run_ok(),
        "mkdir: can't create directory '/tmp/d': Invalid cross-device link\nrc=1\nothers-allowed\n2\n"
    );
}

#[test]
fn seccomp_applies_to_a_non_root_process_without_no_new_privileges() {
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = mkdir_errno_profile();
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}));
    b.sh("mkdir /tmp/d 2>&1; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | cut -f2 | xargs");
    assert_eq!(
        b.run_ok(),
        "mkdir: can't create directory '/tmp/d': Invalid cross-device link\n0 2\n"
    );
}

#[test]
fn seccomp_argument_conditions_select_which_calls_fail() {
    let mut b = Bundle::new();
    // kill(2) fails only when its second argument is SIGUSR1.
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["kill"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": libc::EPERM,
            "args": [{"index": 1, "value": libc::SIGUSR1, "op": "SCMP_CMP_EQ"}],
        }],
    });
    b.sh("kill -0 $$ && echo probe-allowed; kill -USR1 $$ 2>&1 | grep -o 'Operation not permitted'; kill -USR2 $$ && echo usr2-allowed");
    assert_eq!(
        b.run_ok(),
        "probe-allowed\nOperation not permitted\nusr2-allowed\n"
    );
}

// ---------------------------------------------------------------------------------------- exec

fn running(b: &mut Bundle) -> String {
    b.args(&["sleep", "100"]);
    let id = b.create();
    assert!(b.rt(&["start", &id]).status.success());
    id
}

#[test]
fn exec_process_file() {
    let mut b = Bundle::new();
    let id = running(&mut b);
    let pf = b.path().join("process.json");
    let p = json!({
        "args": ["sh", "-c", "echo $FOO $(pwd) $(id -u):$(id -g)"],
        "env": ["PATH=/bin", "FOO=from-process-file"],
        "cwd": "/etc",
        "user": {"uid": 1000, "gid": 1002},
        "terminal": false,
    });
    std::fs::write(&pf, serde_json::to_vec(&p).unwrap()).unwrap();
    let o = b.rt(&["exec", "--process", pf.to_str().unwrap(), &id]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "from-process-file /etc 1000:1002\n"
    );
}

#[test]
fn exec_detach_writes_the_pid_file() {
    let mut b = Bundle::new();
    let id = running(&mut b);
    let pf = b.path().join("exec.pid");
    // No pipes: the detached process would hold them open for its whole life.
    let st = b
        .cmd()
        .args([
            "exec",
            "--detach",
            "--pid-file",
            pf.to_str().unwrap(),
            &id,
            "sleep",
            "50",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let pid: i64 = read_trim(&pf).parse().unwrap();
    assert_eq!(read_trim(format!("/proc/{pid}/comm")), "sleep");
    let init = pid_of(&b, &id);
    for ns in ["pid", "mnt", "net"] {
        assert_eq!(
            std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap(),
            std::fs::read_link(format!("/proc/{init}/ns/{ns}")).unwrap()
        );
    }
    let o = b.rt(&["ps", "--format", "json", &id]);
    let pids: Vec<i64> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(pids.contains(&pid) && pids.contains(&init), "{pids:?}");
}

#[test]
fn exec_no_new_privs_and_seccomp() {
    let mut b = Bundle::new();
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.config["linux"]["seccomp"] = mkdir_errno_profile();
    let id = running(&mut b);
    let script = "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | cut -f2 | xargs; mkdir /d 2>&1 | grep -o 'cross-device'";
    let o = b.rt(&["exec", &id, "sh", "-c", script]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "0 2\ncross-device\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = b.rt(&["exec", "--no-new-privs", &id, "sh", "-c", script]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "1 2\ncross-device\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn exec_preserve_fds_passes_descriptor_3() {
    let mut b = Bundle::new();
    let id = running(&mut b);
    let secret = b.path().join("exec-fd3.txt");
    std::fs::write(&secret, "exec fd 3\n").unwrap();
    let o = Command::new("/bin/sh")
        .arg("-c")
        .arg(
            "exec 3<\"$1\"; exec \"$2\" --root \"$3\" exec --preserve-fds 1 \"$4\" sh -c 'cat <&3'",
        )
        .arg("sh")
        .args([
            secret.as_os_str(),
            Path::new(common::BIN).as_os_str(),
            b.root.as_os_str(),
        ])
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "exec fd 3\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn preserve_fds_passes_descriptor_3_on_create() {
    let mut b = Bundle::new();
    let secret = b.path().join("fd3.txt");
    std::fs::write(&secret, "through fd 3\n").unwrap();
    b.sh("cat <&3; test -e /proc/self/fd/4 || echo no-fd-4");
    b.write_config();
    let id = b.new_id();
    // A host shell opens fd 3 (and 4, which is not preserved) and execs the runtime.
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg("exec 3<\"$1\" 4<\"$1\"; exec \"$2\" --root \"$3\" create --bundle \"$4\" --preserve-fds 1 \"$5\" >\"$4/$5.out\" 2>\"$4/$5.create.err\"")
        .arg("sh")
        .args([secret.as_os_str(), Path::new(common::BIN).as_os_str(), b.root.as_os_str(), b.path().as_os_str()])
        .arg(&id)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(b.path().join(format!("{id}.create.err"))).unwrap_or_default()
    );
    assert!(b.rt(&["start", &id]).status.success());
    b.wait_stopped(&id);
    assert_eq!(b.container_stdout(&id), "through fd 3\nno-fd-4\n");
}
