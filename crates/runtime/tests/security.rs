//! Container-escape attacks against the runtime, each tried for real and asserted to fail with
//! the host left untouched. Grouped by the CVE class they reproduce (FIELD-NOTES §4.1).
//!
//! Attacks that aim at the runtime binary run a private copy of it, so a regression can never
//! damage the build output. Probes that check whether a host file is writable open it with
//! `>>` in a subshell and write nothing, so even a successful probe changes nothing.

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, Bundle};
use serde_json::json;

/// A copy of the runtime binary in a temp dir of its own: attacks aim at it, never at target/.
struct RuntimeCopy {
    _dir: tempfile::TempDir,
    path: PathBuf,
    original: Vec<u8>,
}

impl RuntimeCopy {
    fn new() -> RuntimeCopy {
        let dir = tempfile::Builder::new()
            .prefix("berth-rt-copy")
            .tempdir()
            .unwrap();
        let path = dir.path().join("berth-runtime");
        std::fs::copy(BIN, &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let original = std::fs::read(&path).unwrap();
        RuntimeCopy {
            _dir: dir,
            path,
            original,
        }
    }

    /// `<copy> --root <bundle's state root>`; containers it makes are cleaned up by the bundle.
    fn cmd(&self, b: &Bundle) -> Command {
        let mut c = Command::new(&self.path);
        c.arg("--root").arg(&b.root);
        c
    }

    /// `create` through the copy, container stdio to files; returns the id.
    fn create(&self, b: &Bundle) -> String {
        b.write_config();
        let id = b.new_id();
        let out = std::fs::File::create(b.path().join(format!("{id}.out"))).unwrap();
        let o = self
            .cmd(b)
            .args(["create", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "create failed: {}",
            b.container_stdout(&id)
        );
        id
    }

    fn assert_intact(&self) {
        let now = std::fs::read(&self.path).unwrap();
        assert!(
            now == self.original,
            "the runtime binary was modified ({} bytes, was {})",
            now.len(),
            self.original.len()
        );
    }
}

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Copies the runtime's shared libraries into the rootfs (as any glibc-based image has them), so
/// the runtime binary can really run inside the container, as in the published exploits.
fn install_libs(rootfs: &Path) {
    let o = Command::new("ldd").arg(BIN).output().unwrap();
    for word in String::from_utf8_lossy(&o.stdout).split_whitespace() {
        if word.starts_with('/') {
            let dst = rootfs.join(word.trim_start_matches('/'));
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(word, &dst).unwrap();
        }
    }
}

/// A bundle whose rootfs the container can write (so results come back in files) and in
/// which the runtime binary can run.
fn attack_bundle() -> Bundle {
    let mut b = Bundle::new();
    b.config["root"]["readonly"] = json!(false);
    install_libs(&b.rootfs());
    b
}

/// Waits (bounded) until `path` exists.
fn wait_for(path: &Path, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A pipe whose buffer is already full: a process writing to the write end blocks until the
/// read end is drained. Used to hold a runtime process alive inside the container.
fn full_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: freshly created, owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let fd = w.as_raw_fd();
    // SAFETY: flag changes and writes on our own pipe.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        let buf = [0u8; 4096];
        while libc::write(fd, buf.as_ptr().cast(), buf.len()) > 0 {}
        // Partial pages: fill byte by byte until EAGAIN.
        while libc::write(fd, buf.as_ptr().cast(), 1) > 0 {}
        libc::fcntl(fd, libc::F_SETFL, fl);
    }
    (r, w)
}

fn statvfs_readonly(path: &str) -> bool {
    rustix::fs::statvfs(path)
        .map(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
        .unwrap_or(false)
}

fn host_core_pattern() -> String {
    std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap()
}

fn out(o: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// CVE-2019-5736: overwriting the runtime binary through /proc/PID/exe
// ---------------------------------------------------------------------------------------------

/// The attacker, pid 1 of the container: waits for the runtime binary to show up as a process
/// in the container (an `exec` whose command is a `#!/proc/self/exe` script), keeps a descriptor
/// of its /proc/PID/exe, and once that process has exited (no more ETXTBSY) reopens the
/// descriptor for writing, exactly like the published exploit.
const EXE_ATTACK: &str = r#"#!/bin/sh
pid=
n=0
while [ -z "$pid" ]; do
  for p in /proc/[0-9]*; do
    # argv of the runtime started by the kernel for the shebang; the runtime's own exec child
    # (still the `exec` command line before its execve) is not dumpable and is skipped.
    case "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" in
      "@CMDLINE@") pid=${p#/proc/} ;;
    esac
  done
  n=$((n+1))
  if [ $n -gt 3000 ]; then echo "no runtime process appeared" > /tmp/result; exit 1; fi
  [ -z "$pid" ] && sleep 0.01
done
exec 3< "/proc/$pid/exe" || { echo "cannot open /proc/$pid/exe" > /tmp/result; exit 1; }
ls -l "/proc/$pid/exe" > /tmp/exe-link 2>&1
if ( printf PWNED >> "/proc/$pid/exe" ) 2>/tmp/err-running; then echo "WROTE-WHILE-RUNNING" >> /tmp/log; fi
touch /tmp/opened
n=0
while readlink "/proc/$pid/exe" >/dev/null 2>&1; do
  n=$((n+1)); [ $n -gt 3000 ] && break
  sleep 0.01
done
if ( printf PWNED >> /proc/self/fd/3 ) 2>/tmp/err-after; then echo "WROTE-AFTER-EXIT" >> /tmp/log; fi
if ( printf PWNED > /proc/self/fd/3 ) 2>>/tmp/err-after; then echo "TRUNCATED-AFTER-EXIT" >> /tmp/log; fi
{ cat /tmp/log 2>/dev/null; echo "running: $(cat /tmp/err-running)"; echo "after: $(cat /tmp/err-after)"; } > /tmp/result.tmp
mv /tmp/result.tmp /tmp/result
"#;

#[test]
fn container_cannot_overwrite_the_runtime_through_proc_exe_of_a_shebang_exec() {
    // The CVE's entry point: a command in the image whose interpreter is /proc/self/exe, so the
    // kernel runs the runtime's own binary inside the container.
    exe_attack(
        |rootfs| write_exec(&rootfs.join("evil"), "#!/proc/self/exe\n"),
        &["/evil"],
        "/proc/self/exe /evil ",
    );
}

#[test]
fn container_cannot_overwrite_the_runtime_through_a_symlink_to_proc_self_exe() {
    // The same through a symlink in the image: exec of /evil runs whatever /proc/self/exe is.
    exe_attack(
        |rootfs| symlink("/proc/self/exe", rootfs.join("evil")).unwrap(),
        &["/evil", "bogus"],
        "/evil bogus ",
    );
}

/// Runs EXE_ATTACK as the container's process, then `exec`s `exec_args` (which the kernel turns
/// into the runtime binary, argv `cmdline`) into it, and checks the binary was never written.
fn exe_attack(make_entry: impl Fn(&Path), exec_args: &[&str], cmdline: &str) {
    let rt = RuntimeCopy::new();
    let mut b = attack_bundle();
    let rootfs = b.rootfs();
    make_entry(&rootfs);
    write_exec(
        &rootfs.join("attack.sh"),
        &EXE_ATTACK.replace("@CMDLINE@", cmdline),
    );
    b.args(&["sh", "/attack.sh"]);
    let id = rt.create(&b);
    assert!(
        rt.cmd(&b)
            .args(["start", &id])
            .output()
            .unwrap()
            .status
            .success()
    );

    // The runtime binary started through the shebang prints a usage error to stderr and exits;
    // with stderr on a full pipe it blocks there, alive, until we drain the pipe.
    let (rd, wr) = full_pipe();
    let mut exec = rt
        .cmd(&b)
        .args(["exec", &id])
        .args(exec_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(wr))
        .spawn()
        .unwrap();
    let opened = wait_for(&rootfs.join("tmp/opened"), 30);
    let drain = std::thread::spawn(move || {
        let mut f = std::fs::File::from(rd);
        let mut v = Vec::new();
        let _ = f.read_to_end(&mut v);
        v
    });
    let got_result = wait_for(&rootfs.join("tmp/result"), 30);
    let _ = exec.kill();
    let _ = exec.wait();
    let stderr = drain.join().unwrap();
    let result = std::fs::read_to_string(rootfs.join("tmp/result")).unwrap_or_default();
    let link = std::fs::read_to_string(rootfs.join("tmp/exe-link")).unwrap_or_default();
    assert!(
        opened && got_result,
        "attack did not run: result {result:?}, container output {:?}",
        b.container_stdout(&id)
    );
    // The process it attacked really was the runtime (its usage error came out of the pipe).
    let tail = String::from_utf8_lossy(&stderr[stderr.len().saturating_sub(2000)..]).into_owned();
    assert!(
        tail.contains("Usage") || tail.contains("usage") || tail.contains("error"),
        "runtime did not run via the shebang: {tail:?}"
    );
    assert!(
        !result.contains("WROTE") && !result.contains("TRUNCATED"),
        "attack wrote the runtime binary: {result}\n{link}"
    );
    // After the process exited, reopening its exe for writing hits the read-only mount.
    assert!(
        result.contains("after: ") && result.contains("Read-only file system"),
        "unexpected failure mode: {result}"
    );
    eprintln!("attack result:\n{result}{link}");
    rt.assert_intact();
}

#[test]
fn container_cannot_overwrite_the_runtime_run_as_its_own_process() {
    // process.args = ["/proc/self/exe", ...]: the container's init re-executes the runtime, so
    // the container's pid 1 *is* the runtime binary, running inside the container.
    let rt = RuntimeCopy::new();
    let mut b = attack_bundle();
    b.args(&["/proc/self/exe", "--version"]);
    b.write_config();
    let id = b.new_id();
    let o = rt
        .cmd(&b)
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("berth-runtime"),
        "{}",
        out(&o)
    );

    // Held alive (its usage error blocks on a full stderr pipe): its exe is on a read-only
    // mount, and a descriptor of it kept past its exit still cannot be opened for writing.
    b.args(&["/proc/self/exe", "bogus-command"]);
    b.write_config();
    let id = b.new_id();
    let (rd, wr) = full_pipe();
    let o = rt
        .cmd(&b)
        .args(["create", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(wr))
        .status()
        .unwrap();
    assert!(o.success());
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    assert!(
        rt.cmd(&b)
            .args(["start", &id])
            .output()
            .unwrap()
            .status
            .success()
    );
    let mut seen = false;
    for _ in 0..500 {
        if std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
            == b"/proc/self/exe\0bogus-command\0"
        {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(seen, "the container's init never became the runtime binary");
    let exe = format!("/proc/{pid}/exe");
    assert!(
        statvfs_readonly(&exe),
        "the runtime running as the container's init is on a writable mount"
    );
    let held = std::fs::File::open(&exe).unwrap();
    let drain = std::thread::spawn(move || {
        std::io::copy(&mut std::fs::File::from(rd), &mut std::io::sink())
    });
    b.wait_stopped(&id);
    let _ = drain.join();
    let err = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/self/fd/{}", held.as_raw_fd()))
        .expect_err("the runtime binary was opened for writing");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    rt.assert_intact();
}

#[test]
fn runtime_processes_that_enter_the_container_run_from_a_read_only_binary() {
    let rt = RuntimeCopy::new();
    let mut b = attack_bundle();
    b.args(&["sleep", "100"]);
    let id = rt.create(&b);
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    // The created (not yet started) init is the runtime, inside the container's namespaces.
    let exe = format!("/proc/{pid}/exe");
    assert!(
        statvfs_readonly(&exe),
        "{exe} of a created container is on a writable mount"
    );
    // A process exec'd into the created container goes for the held init's exe directly.
    let o = rt.cmd(&b).args(["exec", &id, "sh", "-c", "( exec 3</proc/1/exe ) 2>&1 && echo OPENED; ( printf PWNED >> /proc/1/exe ) 2>&1 && echo WROTE; true"]).stdin(Stdio::null()).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && !text.contains("WROTE"), "{}", out(&o));
    eprintln!("exec into a created container, against /proc/1/exe: {text}");
    // Keep a handle on it, let it exec the user's process, then try to write through the handle.
    let held = std::fs::File::open(&exe).unwrap();
    assert!(
        rt.cmd(&b)
            .args(["start", &id])
            .output()
            .unwrap()
            .status
            .success()
    );
    for _ in 0..200 {
        if std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim()
            == "sleep"
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let reopen = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/self/fd/{}", held.as_raw_fd()));
    let err = reopen
        .expect_err("the runtime binary was opened for writing through a held exe descriptor");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");

    // A foreground `exec` stays alive while its process runs: its exe must be read-only too.
    let mut exec = rt
        .cmd(&b)
        .args(["exec", &id, "sleep", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let exe = format!("/proc/{}/exe", exec.id());
    let end = Instant::now() + Duration::from_secs(2);
    let mut ro = false;
    while Instant::now() < end && !ro {
        ro = statvfs_readonly(&exe);
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = exec.wait();
    assert!(ro, "runtime exec never ran from a read-only binary");
    rt.assert_intact();
}

// ---------------------------------------------------------------------------------------------
// CVE-2024-21626: host descriptors and host working directories leaking into the container
// ---------------------------------------------------------------------------------------------

/// A host directory with a marker file the container must never see.
fn host_secret() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("berth-host-secret")
        .tempdir()
        .unwrap();
    std::fs::write(d.path().join("HOST-SECRET"), "host-secret-content\n").unwrap();
    d
}

/// `cmd` with a host directory open, without close-on-exec, as descriptors `fds` in the child.
fn leak_dir(cmd: &mut Command, dir: &Path, fds: &'static [i32]) -> std::fs::File {
    let f = std::fs::File::open(dir).unwrap();
    let raw = f.as_raw_fd();
    // SAFETY: only dup2 (async-signal-safe) between fork and exec; `f` outlives the spawn.
    unsafe {
        cmd.pre_exec(move || {
            for &n in fds {
                // dup2 onto itself would keep close-on-exec; clear it instead.
                let r = if raw == n {
                    libc::fcntl(n, libc::F_SETFD, 0)
                } else {
                    libc::dup2(raw, n)
                };
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    f
}

fn run_with_leak(
    b: &Bundle,
    dir: &Path,
    fds: &'static [i32],
    extra: &[&str],
) -> std::process::Output {
    b.write_config();
    let id = b.new_id();
    let mut c = b.cmd();
    c.arg("run")
        .args(extra)
        .arg("--bundle")
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null());
    let _f = leak_dir(&mut c, dir, fds);
    c.output().unwrap()
}

#[test]
fn host_descriptors_do_not_leak_into_the_container() {
    let secret = host_secret();
    let mut b = Bundle::new();
    // `ls` runs as a child of the shell, so its own directory descriptor is not in the listing.
    b.sh("ls /proc/$$/fd; exit 0");
    let o = run_with_leak(&b, secret.path(), &[3, 7, 42], &[]);
    assert!(o.status.success(), "{}", out(&o));
    let fds: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(fds, ["0", "1", "2"], "{}", out(&o));

    // --preserve-fds 1 passes exactly fd 3 on, nothing above it.
    b.sh("ls /proc/$$/fd; ls -l /proc/$$/fd/3; ls /proc/self/fd/3/; exit 0");
    let o = run_with_leak(&b, secret.path(), &[3, 7, 42], &["--preserve-fds", "1"]);
    assert!(o.status.success(), "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let mut lines = text.lines();
    let fds: Vec<&str> = lines.by_ref().take(4).collect();
    assert_eq!(fds, ["0", "1", "2", "3"], "{}", out(&o));
    assert!(
        text.contains("HOST-SECRET"),
        "preserved fd 3 does not reach the container: {}",
        out(&o)
    );
}

#[test]
fn host_descriptors_do_not_leak_into_an_exec() {
    let secret = host_secret();
    let mut b = Bundle::new();
    b.args(&["sleep", "100"]);
    let id = b.create();
    assert!(b.rt(&["start", &id]).status.success());
    let mut c = b.cmd();
    c.args(["exec", &id, "sh", "-c", "ls /proc/$$/fd; exit 0"])
        .stdin(Stdio::null());
    let _f = leak_dir(&mut c, secret.path(), &[3, 7, 42]);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
    let fds: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(fds, ["0", "1", "2"], "{}", out(&o));
    // --preserve-fds with nothing open at 3..6: /dev/null there, never the runtime's own.
    let o = b.rt(&[
        "exec",
        "--preserve-fds",
        "4",
        &id,
        "sh",
        "-c",
        "for n in 3 4 5 6; do readlink /proc/$$/fd/$n; done; exit 0",
    ]);
    assert!(o.status.success(), "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().count(), 4, "{}", out(&o));
    for l in text.lines() {
        assert_eq!(
            l,
            "/dev/null",
            "runtime descriptor leaked into an exec: {}",
            out(&o)
        );
    }
}

#[test]
fn preserve_fds_never_hands_over_the_runtimes_own_descriptors() {
    // The caller asks for 3..9 but holds none of them open: the runtime's own descriptors (the
    // host /proc handle, the exec fifo, sync sockets) must not take those numbers and leak.
    let mut b = Bundle::new();
    b.sh("for n in 3 4 5 6 7 8; do echo \"$n $(readlink /proc/$$/fd/$n)\"; done; ls /proc/$$/fd; exit 0");
    b.write_config();
    let id = b.new_id();
    let o = b
        .cmd()
        .args(["run", "--preserve-fds", "6", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for line in text.lines().take(6) {
        let target = line.split_once(' ').map(|x| x.1).unwrap_or("");
        assert!(
            target.is_empty() || target == "/dev/null",
            "runtime descriptor leaked into the container: {line}\n{text}"
        );
    }
    let fds: Vec<&str> = text.lines().skip(6).collect();
    assert!(
        fds.iter()
            .all(|f| f.parse::<u32>().map(|n| n <= 8).unwrap_or(false)),
        "{text}"
    );
}

/// Run inside a container whose pid 1 is a created (held) init: every way into that init.
const HELD_INIT_PROBE: &str = r#"for n in $(seq 0 20) 251 252 253 254 255; do
  [ -e /proc/1/fd/$n ] && echo "FD $n $(readlink /proc/1/fd/$n)"
  ( exec 3>>/proc/1/fd/$n/sys/kernel/core_pattern ) 2>&1 && echo "WRITABLE via fd $n"
done
( exec 3</proc/1/exe ) 2>&1 && echo EXE-OPENED
ls /proc/1/root/ 2>&1 | head -n 1 | grep -q . && ls /proc/1/root/ >/dev/null 2>&1 && echo ROOT-LISTED
( exec 3</proc/1/environ ) 2>&1 && echo ENVIRON-OPENED
echo probe-done"#;

fn assert_held_init_sealed(o: &std::process::Output, what: &str) {
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("probe-done"), "{what}: {}", out(o));
    for bad in [
        "FD ",
        "WRITABLE",
        "EXE-OPENED",
        "ROOT-LISTED",
        "ENVIRON-OPENED",
    ] {
        assert!(
            !text.contains(bad),
            "{what}: the held init is reachable ({bad}): {text}"
        );
    }
}

#[test]
fn a_created_containers_init_is_sealed_from_processes_in_its_pid_namespace() {
    // Before `start` the init is still the runtime, holding host descriptors (among them a
    // handle on the host's /proc, whose sys/kernel/core_pattern is not read-only).
    let core = host_core_pattern();
    let mut b = Bundle::new();
    b.args(&["sleep", "100"]);
    let id = b.create();
    // 1. `exec` into the created container.
    let o = b.rt(&["exec", &id, "sh", "-c", HELD_INIT_PROBE]);
    assert_held_init_sealed(&o, "exec into a created container");
    // 2. Another container sharing its pid namespace (as pod containers do).
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    let mut other = Bundle::new();
    for n in other.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if n["type"] == "pid" {
            n["path"] = json!(format!("/proc/{pid}/ns/pid"));
        }
    }
    other.sh(HELD_INIT_PROBE);
    let o = other.run();
    assert_held_init_sealed(&o, "container sharing the pid namespace");
    assert_eq!(host_core_pattern(), core);
}

/// From a cwd that is outside the root, `..` climbs to the host's `/`; from inside it stops at
/// the container's. Reading the host marker by that path tells the two apart.
fn escape_probe(secret: &Path) -> String {
    let rel = secret.strip_prefix("/").unwrap().display().to_string();
    format!(
        "pwd; cat {}{rel}/HOST-SECRET 2>&1; cat HOST-SECRET 2>&1; exit 0",
        "../".repeat(20)
    )
}

fn assert_no_host_cwd(o: &std::process::Output, what: &str) {
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        !stdout.contains("host-secret-content"),
        "{what}: container read the host through its cwd: {}",
        out(o)
    );
    if o.status.success() {
        let pwd = stdout.lines().next().unwrap_or("");
        assert!(
            pwd.starts_with('/') && !pwd.contains("unreachable"),
            "{what}: started with cwd {pwd:?}"
        );
    }
}

#[test]
fn a_cwd_through_a_leaked_descriptor_never_reaches_the_host() {
    let secret = host_secret();
    let mut b = Bundle::new();
    b.sh(&escape_probe(secret.path()));
    // Our leaked fds (7, 42) and whatever the runtime itself holds open during setup (3..20).
    let mut tried: Vec<u32> = (3..20).collect();
    tried.push(42);
    for n in tried {
        b.config["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        let o = run_with_leak(&b, secret.path(), &[7, 42], &[]);
        assert_no_host_cwd(&o, &format!("process.cwd /proc/self/fd/{n}"));
    }
    // The same through `exec --cwd` into a running container.
    b.config["process"]["cwd"] = json!("/");
    b.args(&["sleep", "100"]);
    let id = b.create();
    assert!(b.rt(&["start", &id]).status.success());
    let probe = escape_probe(secret.path());
    for n in (3..20).chain([42]) {
        let mut c = b.cmd();
        c.args([
            "exec",
            "--cwd",
            &format!("/proc/self/fd/{n}"),
            &id,
            "sh",
            "-c",
            &probe,
        ])
        .stdin(Stdio::null());
        let _f = leak_dir(&mut c, secret.path(), &[7, 42]);
        let o = c.output().unwrap();
        assert_no_host_cwd(&o, &format!("exec --cwd /proc/self/fd/{n}"));
    }
}

#[test]
fn a_cwd_symlink_out_of_the_rootfs_stays_inside() {
    let secret = host_secret();
    let mut b = Bundle::new();
    symlink(secret.path(), b.rootfs().join("hostdir")).unwrap();
    symlink(
        "../../../../../../../../../../../../../../../..".to_string()
            + secret.path().to_str().unwrap(),
        b.rootfs().join("updir"),
    )
    .unwrap();
    for cwd in ["/hostdir", "/updir", "/../../../../.."] {
        b.config["process"]["cwd"] = json!(cwd);
        b.sh("pwd; cat HOST-SECRET 2>&1; exit 0");
        let o = b.run();
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("host-secret-content"),
            "cwd {cwd}: {}",
            out(&o)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// CVE-2021-30465: mount destinations that are, or race into, symlinks out of the rootfs
// ---------------------------------------------------------------------------------------------

/// Lines of the host's (our own) mountinfo that mention `path`.
fn host_mounts_under(path: &Path) -> Vec<String> {
    let p = path.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|mp| mp.starts_with(p)))
        .map(str::to_string)
        .collect()
}

fn assert_empty_dir(dir: &Path, what: &str) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        names.is_empty(),
        "{what}: the runtime wrote outside the rootfs: {names:?} in {}",
        dir.display()
    );
}

#[test]
fn symlinked_mount_destinations_resolve_inside_the_rootfs() {
    let outside = tempfile::Builder::new()
        .prefix("berth-outside")
        .tempdir()
        .unwrap();
    let payload = tempfile::Builder::new()
        .prefix("berth-payload")
        .tempdir()
        .unwrap();
    std::fs::write(payload.path().join("PAYLOAD"), "payload\n").unwrap();
    let mut b = Bundle::new();
    let o = outside.path().to_str().unwrap().to_string();
    // The links' in-root targets exist, so the mounts succeed and show where they landed.
    std::fs::create_dir_all(b.rootfs().join(o.trim_start_matches('/'))).unwrap();
    symlink(&o, b.rootfs().join("abs")).unwrap();
    symlink(
        format!("{}{}", "../".repeat(16), o.trim_start_matches('/')),
        b.rootfs().join("rel"),
    )
    .unwrap();
    std::fs::create_dir(b.rootfs().join("sub")).unwrap();
    symlink("../../../../../../../..", b.rootfs().join("sub/up")).unwrap();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    for dest in [
        "/abs",
        "/abs/deeper/dir",
        "/rel",
        "/rel/x",
        "/sub/up/escaped",
    ] {
        mounts.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    }
    for dest in ["/abs/bound", "/rel/bound2", "/sub/up/bound3"] {
        mounts.push(json!({"destination": dest, "type": "bind", "source": payload.path(), "options": ["rbind", "ro"]}));
    }
    // The container sees every mount at the in-root resolution of its destination.
    b.sh(&format!("cat {o}/bound/PAYLOAD {o}/bound2/PAYLOAD /escaped/../bound3/PAYLOAD; grep -c tmpfs /proc/self/mountinfo"));
    let (code, stdout, stderr) = b.run_out();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("payload\npayload\npayload\n"),
        "{stdout}"
    );
    assert_empty_dir(outside.path(), "symlinked destinations");
    assert!(host_mounts_under(outside.path()).is_empty());

    // Dangling links (their in-root target missing): refused or confined, never followed out.
    let mut b = Bundle::new();
    symlink(&o, b.rootfs().join("abs")).unwrap();
    symlink(
        format!("{}{}", "../".repeat(16), o.trim_start_matches('/')),
        b.rootfs().join("rel"),
    )
    .unwrap();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    for dest in ["/abs/deeper/dir", "/rel/x"] {
        mounts.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    }
    mounts.push(json!({"destination": "/abs/bound", "type": "bind", "source": payload.path(), "options": ["rbind", "ro"]}));
    b.args(&["true"]);
    let _ = b.run_out();
    assert_empty_dir(outside.path(), "dangling symlinked destinations");
    assert!(host_mounts_under(outside.path()).is_empty());
    assert!(
        host_mounts_under(b.path()).is_empty(),
        "mounts left on the host: {:?}",
        host_mounts_under(b.path())
    );
}

/// A thread racing the runtime until stopped. Dropping it (also when an assertion fails) stops
/// and joins the thread, so it never races the temp dir cleanup and leaves files behind.
struct Racer {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<u64>>,
}

impl Racer {
    /// Runs `step` in a loop on its own thread; counts the steps that returned true.
    fn spawn(mut step: impl FnMut() -> bool + Send + 'static) -> Racer {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut n = 0;
            while !s.load(Ordering::Relaxed) {
                n += u64::from(step());
            }
            n
        });
        Racer {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops the thread; returns how many steps succeeded.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .map(|h| h.join().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for Racer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Swaps the names `a` and `b` in `dir` as fast as it can (RENAME_EXCHANGE, so the destination
/// is always either the directory or the symlink, never missing).
fn swapper(dir: PathBuf, a: &'static str, b: &'static str) -> Racer {
    let d = std::fs::File::open(&dir).unwrap();
    let (ca, cb) = (
        std::ffi::CString::new(a).unwrap(),
        std::ffi::CString::new(b).unwrap(),
    );
    Racer::spawn(move || {
        // SAFETY: renameat2 on names inside a directory we hold open.
        unsafe {
            libc::renameat2(
                d.as_raw_fd(),
                ca.as_ptr(),
                d.as_raw_fd(),
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            ) == 0
        }
    })
}

#[test]
fn racing_a_symlink_into_a_mount_destination_never_escapes() {
    let outside = tempfile::Builder::new()
        .prefix("berth-outside")
        .tempdir()
        .unwrap();
    let payload = tempfile::Builder::new()
        .prefix("berth-payload")
        .tempdir()
        .unwrap();
    std::fs::write(payload.path().join("PAYLOAD"), "payload\n").unwrap();
    let mut b = Bundle::new();
    // `race` flips between a real directory and a symlink to a host directory.
    std::fs::create_dir(b.rootfs().join("race")).unwrap();
    symlink(outside.path(), b.rootfs().join("race.link")).unwrap();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/race/vol", "type": "bind", "source": payload.path(), "options": ["rbind"]}));
    mounts.push(json!({"destination": "/race/tmp/deep", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    mounts.push(
        json!({"destination": "/race", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    b.args(&["true"]);
    b.write_config();
    let racer = swapper(b.rootfs(), "race", "race.link");
    let end = Instant::now() + Duration::from_secs(10);
    let (mut ok, mut failed, mut i) = (0, 0, 0);
    while i < 200 && Instant::now() < end {
        i += 1;
        let id = b.new_id();
        let o = b
            .cmd()
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if o.status.success() {
            ok += 1
        } else {
            failed += 1
        }
        assert_empty_dir(outside.path(), &format!("iteration {i}"));
        assert!(
            host_mounts_under(outside.path()).is_empty(),
            "iteration {i}: mount on the host"
        );
    }
    let swaps = racer.finish();
    eprintln!("{i} containers ({ok} ran, {failed} refused) against {swaps} swaps");
    assert!(
        host_mounts_under(b.path()).is_empty(),
        "{:?}",
        host_mounts_under(b.path())
    );
    assert!(swaps > 0 && i > 10);
}

// ---------------------------------------------------------------------------------------------
// 2025 runc advisories: CVE-2025-31133 (/dev/null), CVE-2025-52565 (/dev/console),
// CVE-2025-52881 (redirected procfs writes)
// ---------------------------------------------------------------------------------------------

/// Masked files must be the null device; /proc/sys and sysrq-trigger must not open for writing.
/// (Errors go to stdout, not /dev/null: a broken /dev/null must not hide a successful probe.)
const PROC_PROBE: &str = r#"for f in /proc/kcore /proc/keys /proc/timer_list; do [ -e $f ] && echo "mask $f $(stat -c '%F %t:%T' $f)"; done
for f in /proc/sys/kernel/core_pattern /proc/sysrq-trigger /proc/sys/kernel/modprobe; do ( exec 3>>$f ) 2>&1 && echo "WRITABLE $f"; done
echo probe-done"#;

fn assert_proc_protected(stdout: &str, what: &str) {
    assert!(stdout.contains("probe-done"), "{what}: {stdout}");
    assert!(
        !stdout.contains("WRITABLE"),
        "{what}: a host procfs file is writable: {stdout}"
    );
    for l in stdout.lines().filter(|l| l.starts_with("mask ")) {
        assert!(
            l.ends_with("character special file 1:3"),
            "{what}: masked path is not /dev/null: {l}"
        );
    }
}

fn without_mount(b: &mut Bundle, dest: &str) {
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != dest);
}

#[test]
fn a_dev_null_symlink_to_procfs_never_unmasks_anything() {
    let core = host_core_pattern();
    for with_dev_tmpfs in [true, false] {
        let mut b = Bundle::new();
        let dev = b.rootfs().join("dev");
        symlink("/proc/sys/kernel/core_pattern", dev.join("null")).unwrap();
        if !with_dev_tmpfs {
            // The image's own /dev is used as is: its /dev/null symlink is what the runtime meets.
            without_mount(&mut b, "/dev");
        }
        b.sh(PROC_PROBE);
        let (code, stdout, stderr) = b.run_out();
        let what = format!("/dev tmpfs: {with_dev_tmpfs}");
        if code == 0 {
            assert_proc_protected(&stdout, &what);
            assert!(stdout.contains("mask /proc/keys"), "{what}: {stdout}");
        } else {
            assert!(!stdout.contains("WRITABLE"), "{what}: {stdout} {stderr}");
        }
    }
    assert_eq!(host_core_pattern(), core);
}

#[test]
fn racing_dev_null_into_a_symlink_never_unmasks_anything() {
    let core = host_core_pattern();
    let mut b = Bundle::new();
    without_mount(&mut b, "/dev");
    let dev = b.rootfs().join("dev");
    b.sh(PROC_PROBE);
    b.write_config();
    // Another container sharing this /dev keeps putting a fresh symlink in place of the null
    // device the runtime creates (rename over it: atomic, as in the published exploit).
    let racer = Racer::spawn(move || {
        let _ = std::fs::remove_file(dev.join("null.tmp"));
        symlink("/proc/sys/kernel/core_pattern", dev.join("null.tmp")).is_ok()
            && std::fs::rename(dev.join("null.tmp"), dev.join("null")).is_ok()
    });
    let end = Instant::now() + Duration::from_secs(8);
    let (mut ok, mut i) = (0, 0);
    while i < 150 && Instant::now() < end {
        i += 1;
        let id = b.new_id();
        let o = b
            .cmd()
            .args(["run", "--bundle"])
            .arg(b.path())
            .arg(&id)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(!stdout.contains("WRITABLE"), "iteration {i}: {stdout}");
        if o.status.success() {
            ok += 1;
            assert_proc_protected(&stdout, &format!("iteration {i}"));
        }
    }
    let swaps = racer.finish();
    eprintln!("{i} containers ({ok} ran) against {swaps} replacements of /dev/null");
    assert_eq!(host_core_pattern(), core);
}

/// Accepts one console-socket connection and hands it back through the join handle, unread:
/// the pty master it carries stays queued on it (reading it without taking the descriptor would
/// close the master and hang up the container's terminal). Joining needs a connection, so the
/// caller connects once itself after create, in case create failed before connecting.
fn console_socket(
    dir: &Path,
) -> (
    PathBuf,
    std::thread::JoinHandle<Option<std::os::unix::net::UnixStream>>,
) {
    let path = dir.join("console.sock");
    let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let h = std::thread::spawn(move || l.accept().ok().map(|(s, _)| s));
    (path, h)
}

/// `create --console-socket` of a terminal container whose image has the symlinks `links`
/// (name under the rootfs -> target). A createContainer hook (run in the container's mount
/// namespace after every mount, the console included, before pivot_root) saves the mount
/// table, so what the runtime mounted is known even when create fails afterwards. Returns
/// (create succeeded, mount points as seen from the host side).
fn console_setup_mounts(
    links: &[(&str, &str)],
    drop_mounts: &[&str],
) -> (bool, Vec<String>, String) {
    let mut b = Bundle::new();
    for d in drop_mounts {
        without_mount(&mut b, d);
    }
    std::fs::create_dir_all(b.rootfs().join("dev/pts")).unwrap();
    for (name, target) in links {
        symlink(target, b.rootfs().join(name)).unwrap();
    }
    let snapshot = b.path().join("mountinfo.hook");
    b.config["hooks"] = json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", format!("cat /proc/self/mountinfo > {}", snapshot.display())]}]});
    b.config["process"]["terminal"] = json!(true);
    b.args(&["sleep", "100"]);
    b.write_config();
    let (sock, h) = console_socket(b.path());
    let id = b.new_id();
    let o = b
        .cmd()
        .args(["create", "--console-socket"])
        .arg(&sock)
        .arg("--bundle")
        .arg(b.path())
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = b.rt(&["delete", "--force", &id]);
    drop(std::os::unix::net::UnixStream::connect(&sock));
    let _ = h.join();
    let mps = std::fs::read_to_string(&snapshot)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect();
    (o.status.success(), mps, out(&o))
}

#[test]
fn a_dev_console_or_ptmx_symlink_never_redirects_the_console_mount() {
    let core = host_core_pattern();
    let on_proc = |mps: &[String]| {
        mps.iter()
            .filter(|m| m.contains("/proc/sys/kernel"))
            .cloned()
            .collect::<Vec<_>>()
    };
    // 1. /dev/console in the image is a symlink into procfs (no /dev tmpfs hides it).
    let (ok, mps, o) = console_setup_mounts(
        &[("dev/console", "/proc/sys/kernel/core_pattern")],
        &["/dev"],
    );
    assert!(!mps.is_empty(), "createContainer hook did not run: {o}");
    assert!(
        on_proc(&mps).is_empty(),
        "console mounted over the symlink's target: {:?}",
        on_proc(&mps)
    );
    assert!(ok, "{o}");
    assert!(
        mps.iter().any(|m| m.ends_with("/rootfs/dev/console")),
        "no /dev/console mount: {mps:?}"
    );
    // The same with a relative link climbing out, and through an absolute link to the host.
    for target in [
        "../../../../../../../../proc/sys/kernel/core_pattern",
        "/proc/self/root/proc/sys/kernel/core_pattern",
    ] {
        let (_, mps, _) = console_setup_mounts(&[("dev/console", target)], &["/dev"]);
        assert!(
            on_proc(&mps).is_empty(),
            "console via {target}: {:?}",
            on_proc(&mps)
        );
    }

    // 2. No devpts instance, and /dev/pts/ptmx + /dev/ptmx are symlinks into procfs.
    let links = [
        ("dev/pts/ptmx", "/proc/sys/kernel/core_pattern"),
        ("dev/pts/0", "/proc/sys/kernel/core_pattern"),
        ("dev/ptmx", "/proc/sys/kernel/core_pattern"),
    ];
    let (_, mps, _) = console_setup_mounts(&links, &["/dev", "/dev/pts"]);
    assert!(
        on_proc(&mps).is_empty(),
        "console mounted over the symlink's target: {:?}",
        on_proc(&mps)
    );
    assert_eq!(host_core_pattern(), core);
}

#[test]
fn sysctl_names_cannot_reach_other_procfs_files() {
    let core = host_core_pattern();
    // Values equal to what is there now: even a wrongly accepted write would change nothing.
    for (key, value) in [
        ("../sysrq-trigger", "x"),
        ("kernel/../../sysrq-trigger", "x"),
        ("net/../../../sys/kernel/core_pattern", core.trim()),
        ("/proc/sys/kernel/core_pattern", core.trim()),
        ("kernel..core_pattern", core.trim()),
        // Not namespaced: writing it would change the host for everyone.
        ("kernel.core_pattern", core.trim()),
        ("kernel/core_pattern", core.trim()),
    ] {
        let mut b = Bundle::new();
        b.config["linux"]["sysctl"] = json!({ key: value });
        b.args(&["true"]);
        let (code, _, stderr) = b.run_out();
        assert_ne!(code, 0, "sysctl {key:?} was accepted");
        assert!(stderr.contains("sysctl"), "sysctl {key:?}: {stderr}");
    }
    // A namespaced one still works.
    let mut b = Bundle::new();
    b.config["linux"]["sysctl"] = json!({ "net.ipv4.ip_forward": "1", "kernel.shmmni": "1000" });
    b.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni");
    let (code, stdout, stderr) = b.run_out();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "1\n1000\n");
    assert_eq!(host_core_pattern(), core);
}

#[test]
fn a_proc_or_sys_symlink_in_the_image_does_not_bypass_masking() {
    let core = host_core_pattern();
    for (name, target) in [
        ("proc", "/tmp/fakeproc"),
        ("proc", "tmp"),
        ("sys", "/tmp/fakesys"),
    ] {
        let mut b = Bundle::new();
        let p = b.rootfs().join(name);
        std::fs::remove_dir(&p).unwrap();
        symlink(target, &p).unwrap();
        std::fs::create_dir_all(b.rootfs().join("tmp/fakeproc")).unwrap();
        std::fs::create_dir_all(b.rootfs().join("tmp/fakesys")).unwrap();
        b.sh(&format!("{PROC_PROBE}\nfor d in /tmp/fakeproc /tmp; do ( exec 3>>$d/sys/kernel/core_pattern ) 2>&1 && echo WRITABLE $d; ( exec 3>>$d/sysrq-trigger ) 2>&1 && echo WRITABLE $d; done\n( exec 3>>/tmp/fakesys/kernel/uevent_helper ) 2>&1 && echo WRITABLE sys; true"));
        let (code, stdout, stderr) = b.run_out();
        let what = format!("/{name} -> {target}");
        assert!(!stdout.contains("WRITABLE"), "{what}: {stdout}");
        if code == 0 {
            assert_proc_protected(&stdout, &what);
        } else {
            assert!(stderr.contains(name), "{what}: {stderr}");
        }
    }
    assert_eq!(host_core_pattern(), core);
}

#[test]
fn a_dev_symlink_in_the_image_gives_no_procfs_or_host_writes() {
    // CVE-2026-41579 class: the image's /dev is a symlink, so everything the runtime does
    // "in /dev" (the tmpfs, device nodes, links, the console) follows it.
    let core = host_core_pattern();
    let outside = tempfile::Builder::new()
        .prefix("berth-outside")
        .tempdir()
        .unwrap();
    for (target, dev_tmpfs) in [
        ("/proc/sys/kernel", true),
        ("/proc/sys/kernel", false),
        ("/proc/self/root/../../", false),
        (outside.path().to_str().unwrap(), false),
        ("../../../../../../tmp", true),
    ] {
        let mut b = Bundle::new();
        let dev = b.rootfs().join("dev");
        std::fs::remove_dir(&dev).unwrap();
        symlink(target, &dev).unwrap();
        if !dev_tmpfs {
            without_mount(&mut b, "/dev");
        }
        b.sh(PROC_PROBE);
        let (code, stdout, stderr) = b.run_out();
        let what = format!("/dev -> {target} (tmpfs: {dev_tmpfs})");
        assert!(!stdout.contains("WRITABLE"), "{what}: {stdout}");
        if code == 0 {
            assert_proc_protected(&stdout, &what);
        }
        eprintln!(
            "{what}: exit {code} {}",
            stderr.lines().last().unwrap_or("")
        );
        assert_empty_dir(outside.path(), &what);
        assert!(host_mounts_under(outside.path()).is_empty(), "{what}");
    }
    assert_eq!(host_core_pattern(), core);
}

// ---------------------------------------------------------------------------------------------
// CVE-2022-0492: cgroup v1 release_agent
// ---------------------------------------------------------------------------------------------

fn host_release_agents() -> Vec<(PathBuf, String)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = e.path().join("release_agent");
        if let Ok(s) = std::fs::read_to_string(&p) {
            v.push((p, s));
        }
    }
    v
}

#[test]
fn cgroup_release_agent_cannot_be_written_from_the_container() {
    let before = host_release_agents();
    let mut b = Bundle::new();
    b.config["root"]["readonly"] = json!(false);
    // Docker's default capabilities (FIELD-NOTES §4.3), not the minimal `spec` set: with
    // SETUID/SETGID the container can map itself as root in a new user namespace, the first
    // step of the published exploit.
    let docker_caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE"
    ]);
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set] = docker_caps.clone();
    }
    b.sh(r#"for f in /sys/fs/cgroup/*/release_agent /sys/fs/cgroup/*/notify_on_release /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/*/tasks; do
  [ -e "$f" ] || continue
  echo "seen $f"
  ( exec 3>>"$f" ) 2>&1 && echo "WRITABLE $f"
done
mkdir -p /tmp/cg
for c in memory rdma cpu; do mount -t cgroup -o $c cgroup /tmp/cg 2>&1 && { echo "MOUNTED $c"; ls /tmp/cg/release_agent; umount /tmp/cg; }; done
unshare -U -r -m sh -c '
  mkdir -p /tmp/cg2
  for c in memory rdma cpu; do mount -t cgroup -o $c cgroup /tmp/cg2 2>&1 && { echo "MOUNTED-USERNS $c"; ( exec 3>>/tmp/cg2/release_agent ) 2>&1 && echo "WRITABLE-USERNS $c"; umount /tmp/cg2; }; done
  for f in /sys/fs/cgroup/*/release_agent /sys/fs/cgroup/*/notify_on_release; do [ -e "$f" ] && ( exec 3>>"$f" ) 2>&1 && echo "WRITABLE-USERNS $f"; done
  for d in /sys/fs/cgroup /sys/fs/cgroup/memory /sys/fs/cgroup/pids; do
    mount -o remount,bind,rw $d 2>&1 && echo "MOUNTED-RW $d"
    umount -l $d/ 2>&1 && [ -e $d/release_agent ] && echo "MOUNTED-UNCOVERED $d"
  done
  echo userns-done' 2>&1
echo done"#);
    let (code, stdout, stderr) = b.run_out();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("seen /sys/fs/cgroup/"),
        "no cgroup files visible: {stdout}"
    );
    assert!(stdout.contains("done"), "{stdout}");
    for bad in ["WRITABLE", "MOUNTED"] {
        assert!(
            !stdout.contains(bad),
            "cgroupfs is writable from the container: {stdout}"
        );
    }
    // busybox's unshare has no -C; a new user + mount namespace is the closest it gets. Where
    // unsharing a user namespace is refused, only the direct attempts above ran.
    eprintln!("{stdout}");
    if !stdout.contains("userns-done") {
        eprintln!("note: unshare -U -r -m was refused in the container: {stdout}");
    }
    assert_eq!(host_release_agents(), before);
}

#[test]
fn net_sysctls_are_refused_in_a_joined_namespace_that_is_the_hosts() {
    // "Joining" the runtime's own network namespace by path must not let a net.* sysctl
    // through: it would change the host's value.
    let mut b = Bundle::new();
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let want = if host.trim() == "1" { "0" } else { "1" };
    let ns: Vec<serde_json::Value> = b.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "network")
        .cloned()
        .chain([serde_json::json!({"type": "network", "path": "/proc/self/ns/net"})])
        .collect();
    b.config["linux"]["namespaces"] = serde_json::Value::Array(ns);
    b.config["linux"]["sysctl"] = serde_json::json!({ "net.ipv4.ip_forward": want });
    b.args(&["true"]);
    let (code, _, err) = b.run_out();
    assert_ne!(code, 0, "the host's net namespace took a sysctl");
    assert!(err.contains("host's"), "{err}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host
    );
}

#[test]
fn mounts_landing_inside_procfs_are_refused() {
    // Directly under /proc, and through a symlink in the image that leads there.
    let mut b = Bundle::new();
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(
        serde_json::json!({"destination": "/proc/sys/kernel", "type": "tmpfs", "source": "tmpfs"}),
    );
    b.config["mounts"] = serde_json::Value::Array(mounts.clone());
    b.args(&["true"]);
    let (code, _, err) = b.run_out();
    assert_ne!(code, 0);
    assert!(err.contains("inside procfs"), "{err}");

    let mut b = Bundle::new();
    std::os::unix::fs::symlink("/proc/sys/kernel", b.rootfs().join("kern")).unwrap();
    let mut mounts = b.config["mounts"].as_array().unwrap().clone();
    mounts.push(serde_json::json!({"destination": "/kern", "type": "tmpfs", "source": "tmpfs"}));
    b.config["mounts"] = serde_json::Value::Array(mounts);
    b.args(&["true"]);
    let (code, _, err) = b.run_out();
    assert_ne!(code, 0);
    assert!(err.contains("inside procfs"), "{err}");
}
