//! Test fixtures: a busybox-static bundle in a temp dir, a private state root, and a guard
//! that deletes (with --force) every container a test made, even when the test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A bundle (rootfs + config.json from `berth-runtime spec`) and a state root of its own.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub config: Value,
    ids: std::cell::RefCell<Vec<String>>,
}

/// The busybox applets tests use.
const APPLETS: &[&str] = &[
    "sh",
    "true",
    "false",
    "ls",
    "cat",
    "echo",
    "sleep",
    "id",
    "ps",
    "mount",
    "hostname",
    "touch",
    "mkdir",
    "stat",
    "readlink",
    "grep",
    "head",
    "wc",
    "test",
    "ln",
    "rm",
    "env",
    "pwd",
    "kill",
    "nproc",
    "ulimit",
    "umask",
    "dd",
    "printf",
    "domainname",
    "uname",
    "mknod",
    "chmod",
    "tr",
    "cut",
    "sed",
    "seq",
    "stty",
    "tty",
    "awk",
    "cp",
    "df",
    "sort",
    "xargs",
    "basename",
];

pub fn busybox() -> &'static str {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return p;
        }
    }
    panic!("busybox-static is not installed (apt-get install busybox-static)");
}

impl Bundle {
    pub fn new() -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-rt-test")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).unwrap();
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        let out = Command::new(BIN)
            .arg("spec")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        config["process"]["terminal"] = Value::Bool(false);
        let root = dir.path().join("state");
        Bundle {
            dir,
            root,
            config,
            ids: Default::default(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Sets process.args.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = serde_json::json!(args);
        self
    }

    /// `sh -c SCRIPT`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }

    pub fn write_config(&self) {
        std::fs::write(
            self.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// A fresh container id, remembered for cleanup.
    pub fn new_id(&self) -> String {
        let id = format!(
            "t{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// `berth-runtime --root <root> ARGS...`
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(&self.root);
        c
    }

    pub fn rt(&self, args: &[&str]) -> Output {
        self.cmd().args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Writes the config and runs the container in the foreground; returns its output.
    pub fn run(&self) -> Output {
        self.write_config();
        let id = self.new_id();
        self.cmd()
            .args(["run", "--bundle"])
            .arg(self.path())
            .arg(&id)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs and returns (exit code, stdout, stderr).
    pub fn run_out(&self) -> (i32, String, String) {
        let o = self.run();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// `create` a container; returns its id.
    pub fn create(&self) -> String {
        self.write_config();
        let id = self.new_id();
        let o = self.create_raw(&id);
        assert!(
            o.status.success(),
            "create failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        id
    }

    /// Writes the config, runs the container and asserts it exited 0; returns its stdout.
    pub fn run_ok(&self) -> String {
        let (code, out, err) = self.run_out();
        assert_eq!(code, 0, "container failed\nstdout: {out}\nstderr: {err}");
        out
    }

    /// Keeps only these namespaces (created fresh, in this order).
    pub fn namespaces(&mut self, types: &[&str]) -> &mut Self {
        self.config["linux"]["namespaces"] = Value::Array(
            types
                .iter()
                .map(|t| serde_json::json!({ "type": t }))
                .collect(),
        );
        self
    }

    /// Appends a `mounts[]` entry.
    pub fn mount(&mut self, m: Value) -> &mut Self {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts is an array")
            .push(m);
        self
    }

    /// Sets bounding, effective and permitted to `caps` (inheritable and ambient cleared).
    pub fn caps(&mut self, caps: &[&str]) -> &mut Self {
        self.config["process"]["capabilities"] =
            serde_json::json!({ "bounding": caps, "effective": caps, "permitted": caps });
        self
    }

    /// `create` with extra arguments (e.g. `--console-socket`), container stdio to files.
    pub fn create_raw_with(&self, id: &str, extra: &[&str]) -> Output {
        let err = self.path().join(format!("{id}.create.err"));
        let out = self.path().join(format!("{id}.out"));
        let status = self
            .cmd()
            .args(["create", "--bundle"])
            .arg(self.path())
            .args(extra)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: Vec::new(),
            stderr: std::fs::read(&err).unwrap_or_default(),
        }
    }

    /// `create` with the container's stdio going to files (a pipe would be held open by the
    /// container and `output()` would wait for it to exit); stderr of the runtime comes back.
    pub fn create_raw(&self, id: &str) -> Output {
        self.create_raw_with(id, &[])
    }

    /// What a created container wrote to its stdout so far.
    pub fn container_stdout(&self, id: &str) -> String {
        std::fs::read_to_string(self.path().join(format!("{id}.out"))).unwrap_or_default()
    }

    pub fn state(&self, id: &str) -> Value {
        let o = self.rt(&["state", id]);
        assert!(
            o.status.success(),
            "state: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    /// Waits until the container is stopped (bounded).
    pub fn wait_stopped(&self, id: &str) {
        for _ in 0..500 {
            if self.status(id) == "stopped" {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("container {id} did not stop");
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = Command::new(BIN)
                .arg("--root")
                .arg(&self.root)
                .args(["delete", "--force", id])
                .output();
        }
    }
}

/// Accepts one connection on a console socket and returns the pty master it carries
/// (SCM_RIGHTS), as containerd's shim and conmon receive it.
pub fn recv_console(listener: &std::os::unix::net::UnixListener) -> std::os::fd::OwnedFd {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let (stream, _) = listener.accept().expect("accept on the console socket");
    let mut buf = [0u8; 256];
    let mut space = [std::mem::MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    rustix::net::recvmsg(&stream, &mut iov, &mut anc, RecvFlags::CMSG_CLOEXEC).expect("recvmsg");
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = m
            && let Some(fd) = fds.next()
        {
            return fd;
        }
    }
    panic!("no descriptor came over the console socket");
}

/// Reads a pty master until the other side is closed everywhere (EIO) or `timeout` passes.
pub fn read_pty(master: &std::os::fd::OwnedFd, timeout: std::time::Duration) -> String {
    use rustix::event::{PollFd, PollFlags};
    let end = std::time::Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
        let mut fds = [PollFd::new(master, PollFlags::IN)];
        let ts = rustix::time::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: left.subsec_nanos() as i64,
        };
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(0) => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("poll pty: {e}"),
        }
        match rustix::io::read(master, &mut buf) {
            Ok(0) | Err(rustix::io::Errno::IO) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
            Err(e) => panic!("read pty: {e}"),
        }
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}
