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
use serde_json::{Value, json};

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
    case "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" in
      *" /evil"*) pid=${p#/proc/} ;;
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
    let rt = RuntimeCopy::new();
    let mut b = attack_bundle();
    let rootfs = b.rootfs();
    // The CVE's entry point: a command in the image whose interpreter is /proc/self/exe, so the
    // kernel runs the runtime's own binary inside the container.
    write_exec(&rootfs.join("evil"), "#!/proc/self/exe\n");
    write_exec(&rootfs.join("attack.sh"), EXE_ATTACK);
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
        .args(["exec", &id, "/evil"])
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
    // process.args = ["/proc/self/exe", ...]: the container's init re-executes the runtime.
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
    // The same, with a shell that tries to write through its parent's exe and its own.
    b.sh("exec 3</proc/self/exe; ( printf PWNED >> /proc/self/fd/3 ) 2>&1; ( printf PWNED >> /bin/busybox ) && echo BUSYBOX-WRITABLE; true");
    let (code, stdout, stderr) = b.run_out();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Text file busy") || stdout.contains("Read-only"),
        "{stdout}"
    );
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

/// From a cwd that is outside the root, `..` climbs to the host's `/`; from inside it stops at
/// the container's. Reading the host marker by that path tells the two apart.
fn escape_probe(secret: &Path) -> String {
    let rel = secret.strip_prefix("/").unwrap().display().to_string();
    format!(
        "pwd; cat {}{rel}/HOST-SECRET 2>/dev/null; cat HOST-SECRET 2>/dev/null; exit 0",
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
        b.sh("pwd; cat HOST-SECRET 2>/dev/null; exit 0");
        let o = b.run();
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("host-secret-content"),
            "cwd {cwd}: {}",
            out(&o)
        );
    }
}
