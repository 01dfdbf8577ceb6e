//! Test fixtures: a busybox-static bundle, temp state/runtime/log dirs, the real
//! `berth-shim` binary started the way berthd starts it, a client for its socket, and a
//! guard that kills the shim and force-deletes the container even when a test fails.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim");

static SEQ: AtomicU32 = AtomicU32::new(0);

const APPLETS: &[&str] = &[
    "sh", "true", "false", "ls", "cat", "echo", "sleep", "seq", "stty", "head", "tr", "wc",
    "printf", "kill", "yes", "dd", "env",
];

fn busybox() -> &'static str {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return p;
        }
    }
    panic!("busybox-static is not installed (apt-get install busybox-static)");
}

/// A bundle and the directories one shim uses.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub id: String,
    pub config: Value,
    /// Extra shim flags.
    pub flags: Vec<String>,
}

impl Fixture {
    pub fn new(args: &[&str]) -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("berth-shim-test")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("bundle/rootfs");
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).unwrap();
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
        let mut config = berth_runtime::default_spec::default_spec(false);
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        let id = format!(
            "shimt{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        Fixture {
            dir,
            id,
            config,
            flags: Vec::new(),
        }
    }

    /// `sh -c SCRIPT`.
    pub fn sh(script: &str) -> Fixture {
        Fixture::new(&["sh", "-c", script])
    }

    pub fn flag(&mut self, f: &str) -> &mut Self {
        self.flags.extend(f.split_whitespace().map(String::from));
        self
    }

    pub fn tty(&mut self) -> &mut Self {
        self.config["process"]["terminal"] = json!(true);
        self.flag("--tty")
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }
    pub fn runtime_root(&self) -> PathBuf {
        self.dir.path().join("runtime")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("logs/c-json.log")
    }
    pub fn sock(&self) -> PathBuf {
        self.state_dir().join("shim.sock")
    }

    /// The shim's command line, as berthd builds it.
    pub fn command(&self) -> Command {
        std::fs::write(
            self.bundle().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
        let mut c = Command::new(SHIM);
        c.arg("--id").arg(&self.id);
        c.arg("--bundle").arg(self.bundle());
        c.arg("--runtime-root").arg(self.runtime_root());
        c.arg("--state-dir").arg(self.state_dir());
        c.arg("--log-path").arg(self.log_path());
        c.args(&self.flags);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        c
    }

    /// Starts the shim and reads its `{"pid": N}` line; the container is created.
    pub fn spawn(self) -> Shim {
        let out = self.command().output().unwrap();
        let line: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("shim said {:?}: {e}", String::from_utf8_lossy(&out.stdout))
        });
        assert!(out.status.success(), "shim failed: {line}");
        let pid = line["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no pid in {line}")) as i32;
        let shim_pid = std::fs::read_to_string(self.state_dir().join("shim.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Shim {
            fx: self,
            pid,
            shim_pid,
        }
    }

    /// Starts the shim expecting a start-up error; returns the error line.
    pub fn spawn_err(&self) -> Value {
        let out = self.command().output().unwrap();
        assert!(!out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// A running shim; dropping it kills the shim and deletes the container.
pub struct Shim {
    pub fx: Fixture,
    /// The container's init.
    pub pid: i32,
    pub shim_pid: i32,
}

pub fn alive(pid: i32) -> bool {
    // A zombie is not alive for our purposes.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

pub fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

impl Drop for Shim {
    fn drop(&mut self) {
        if alive(self.shim_pid) && self.shim_pid > 1 {
            // SAFETY: a process this test started (through the shim binary).
            unsafe { libc::kill(self.shim_pid, libc::SIGKILL) };
        }
        let store = berth_runtime::state::Store::new(self.fx.runtime_root());
        let _ = berth_runtime::container::delete(&store, &self.fx.id, true);
    }
}

impl Shim {
    pub fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(self.fx.sock()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    /// One request, one answer.
    pub fn req(&self, v: Value) -> Value {
        let mut s = self.connect();
        s.write_all(format!("{v}\n").as_bytes()).unwrap();
        read_line(&mut s)
    }

    pub fn ok(&self, v: Value) {
        let r = self.req(v.clone());
        assert_eq!(r["ok"], json!(true), "{v} -> {r}");
    }

    pub fn start(&self) {
        self.ok(json!({"op": "start"}));
    }

    pub fn wait(&self) -> Value {
        self.req(json!({"op": "wait"}))
    }

    /// Attaches; returns the stream after the `{"ok":true}` line.
    pub fn attach(&self, req: Value) -> UnixStream {
        let mut s = self.connect();
        s.write_all(format!("{req}\n").as_bytes()).unwrap();
        let r = read_line(&mut s);
        assert_eq!(r["ok"], json!(true), "attach: {r}");
        s
    }

    pub fn log_lines(&self) -> Vec<Value> {
        read_log(&self.fx.log_path())
    }
}

/// Reads one line byte by byte (so nothing of a following stream is consumed).
pub fn read_line(s: &mut UnixStream) -> Value {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(1) if b[0] == b'\n' => break,
            Ok(1) => line.push(b[0]),
            Ok(_) => break,
            Err(e) => panic!(
                "reading answer: {e} (got {:?})",
                String::from_utf8_lossy(&line)
            ),
        }
    }
    serde_json::from_slice(&line)
        .unwrap_or_else(|e| panic!("bad answer {:?}: {e}", String::from_utf8_lossy(&line)))
}

/// Reads multiplexed frames until the shim closes the stream: (stdout, stderr).
pub fn read_frames(s: &mut UnixStream) -> (Vec<u8>, Vec<u8>) {
    let mut out = (Vec::new(), Vec::new());
    loop {
        let mut h = [0u8; 8];
        match s.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return out,
            Err(e) => panic!(
                "reading frames: {e}; so far {:?}",
                String::from_utf8_lossy(&out.0)
            ),
        }
        let n = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let mut data = vec![0u8; n];
        s.read_exact(&mut data).unwrap();
        match h[0] {
            1 => out.0.extend(data),
            2 => out.1.extend(data),
            other => panic!("bad stream {other}"),
        }
    }
}

pub fn read_log(path: &Path) -> Vec<Value> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    BufReader::new(f)
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

/// Polls `f` until it is true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The text of every log entry of `stream`, concatenated.
pub fn log_text(entries: &[Value], stream: &str) -> String {
    entries
        .iter()
        .filter(|e| e["stream"] == stream)
        .map(|e| e["log"].as_str().unwrap().to_string())
        .collect()
}

/// A child process of the test, killed and reaped when dropped.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
