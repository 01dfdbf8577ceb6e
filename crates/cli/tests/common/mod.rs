//! Test fixture (adapted from crates/daemon/tests/common): a real berthd on a temporary
//! data root, exec root and socket, a busybox image imported with the stock `docker` CLI,
//! the same commands run through `berth` and through `docker`, and cleanup (containers,
//! shims, mounts, cgroups, temp dirs) that runs even when the test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");
pub const IMG: &str = "bbtest:latest";

/// berthd (with berth-shim beside it): `BERTH_TEST_BERTHD` if set; under CI the
/// workspace build's (`make test` builds everything first); else built from the current
/// sources into a target dir of these tests' own (cargo does not build other packages'
/// binaries for this package's tests, and a shared `target/debug` may be replaced by
/// other builds while tests run).
pub fn berthd() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        if let Ok(p) = std::env::var("BERTH_TEST_BERTHD") {
            return PathBuf::from(p);
        }
        // CI builds the whole (clean) workspace before testing: its berthd is current.
        let beside = Path::new(BERTH).parent().unwrap();
        if std::env::var_os("CI").is_some()
            && beside.join("berthd").exists()
            && beside.join("berth-shim").exists()
        {
            return beside.join("berthd");
        }
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = ws.join("target/berth-cli-tests");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .current_dir(&ws)
            .args([
                "build",
                "-q",
                "-p",
                "berthd",
                "-p",
                "berth-shim",
                "--target-dir",
            ])
            .arg(&target)
            .status()
            .expect("run cargo build -p berthd -p berth-shim");
        assert!(st.success(), "building berthd/berth-shim failed");
        target.join("debug/berthd")
    })
    .clone()
}

/// berth-image-tool (seeds a local registry): `BERTH_TEST_IMAGE_TOOL`, the workspace
/// build's under CI, else built like [`berthd`].
pub fn image_tool() -> PathBuf {
    if let Ok(p) = std::env::var("BERTH_TEST_IMAGE_TOOL") {
        return PathBuf::from(p);
    }
    let beside = Path::new(BERTH).parent().unwrap().join("berth-image-tool");
    if std::env::var_os("CI").is_some() && beside.exists() {
        return beside;
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = ws.join("target/berth-cli-tests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .current_dir(&ws)
        .args([
            "build",
            "-q",
            "-p",
            "berth-image",
            "--bin",
            "berth-image-tool",
            "--target-dir",
        ])
        .arg(&target)
        .status()
        .expect("run cargo build -p berth-image");
    assert!(st.success(), "building berth-image-tool failed");
    target.join("debug/berth-image-tool")
}

#[path = "../../../../tests/support/busybox.rs"]
mod busybox;
#[path = "../../../../tests/support/leftovers.rs"]
pub mod leftovers;
#[path = "../../../../tests/support/netiso.rs"]
pub mod netiso;
pub use busybox::{busybox_tar, have_prereqs};

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub exec: PathBuf,
    pub sock: PathBuf,
    pub pid: Option<u32>,
    /// Extra berthd flags, used by every (re)start.
    pub args: Vec<String>,
    child: Option<std::process::Child>,
}

impl Daemon {
    /// Starts berthd and imports the busybox image as [`IMG`].
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    /// [`Self::start`] with extra berthd flags.
    pub fn start_with(args: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("b")
            .tempdir_in("/tmp")
            .unwrap();
        let mut d = Daemon {
            data: dir.path().join("data"),
            exec: dir.path().join("e"),
            sock: dir.path().join("s.sock"),
            dir,
            pid: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        d.spawn();
        let tar = busybox_tar(d.dir.path());
        let out = d.docker(&["import", tar.to_str().unwrap(), IMG]);
        assert!(out.status.success(), "import: {}", stderr(&out));
        d
    }

    /// (Re)starts the berthd process on the same roots.
    pub fn spawn(&mut self) {
        let cfg = self.dir.path().join("daemon.toml");
        if !cfg.exists() {
            std::fs::write(
                &cfg,
                format!(
                    "# every key optional\n{}[log-opts]\nmax-size = \"20m\"\n",
                    netiso::daemon_config()
                ),
            )
            .unwrap();
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("berthd.log"))
            .unwrap();
        let child = Command::new(berthd())
            .arg("--data-root")
            .arg(&self.data)
            .arg("--exec-root")
            .arg(&self.exec)
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--config-file")
            .arg(self.dir.path().join("daemon.toml"))
            .arg("--log-level")
            .arg("debug")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.pid = Some(child.id());
        self.child = Some(child);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if std::os::unix::net::UnixStream::connect(&self.sock).is_ok() {
                return;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("berthd exited ({st}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("berthd did not listen: {}", self.log());
    }

    /// SIGKILLs berthd (containers and shims live on).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.pid = None;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    /// A new directory under the test's own, as a string for command lines.
    pub fn subdir(&self, name: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p.display().to_string()
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// Runs the docker CLI against this daemon (60 s limit).
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_stdin(args, None)
    }

    pub fn docker_stdin(&self, args: &[&str], input: Option<&[u8]>) -> Output {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "2", "60", "docker"])
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env_remove("DOCKER_API_VERSION")
            .env("DOCKER_CONFIG", self.dir.path().join("dockercfg"))
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run docker");
        if let Some(data) = input {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(data).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// Runs berth against this daemon (60 s limit, never auto-starting another).
    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_stdin(args, None)
    }

    pub fn berth_stdin(&self, args: &[&str], input: Option<&[u8]>) -> Output {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "2", "60", BERTH])
            .args(args)
            .env("BERTH_HOST", self.host())
            .env("BERTH_NO_AUTOSTART", "1")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_API_VERSION")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run berth");
        if let Some(data) = input {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(data).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// Runs berth and returns trimmed stdout, asserting success.
    pub fn bok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({:?}): {}\n--- berthd log tail ---\n{}",
            out.status.code(),
            stderr(&out),
            tail(&self.log(), 40)
        );
        stdout(&out).trim().to_owned()
    }

    /// Runs docker and returns trimmed stdout, asserting success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({:?}): {}\n--- berthd log tail ---\n{}",
            out.status.code(),
            stderr(&out),
            tail(&self.log(), 40)
        );
        stdout(&out).trim().to_owned()
    }

    pub fn inspect(&self, name: &str, fmt: &str) -> String {
        self.ok(&["inspect", "-f", fmt, name])
    }

    /// Polls `cond` for up to `secs` seconds.
    pub fn eventually(&self, secs: u64, mut cond: impl FnMut() -> bool) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(secs) {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn container_ids(&self) -> Vec<String> {
        std::fs::read_dir(self.data.join("containers"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let ids = self.container_ids();
        if self.child.is_some() && !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.docker(&args);
        }
        if self.child.is_some() {
            let _ = self.docker(&["network", "prune", "-f"]);
        }
        self.kill9();
        netiso::cleanup(&self.dir.path().join("daemon.toml"));
        leftovers::remove(&ids, &self.data, &self.exec, self.dir.path());
    }
}

/// The same stdout, stderr (berth's name read as docker's) and exit code.
/// [`same_all`] for output with a relative time (`1 second ago`): the two clients run one
/// after the other and may straddle a second, so a difference is retried twice first.
#[allow(dead_code)]
pub fn same_all_clocked(d: &Daemon, args: &[&str]) {
    for _ in 0..2 {
        let (ours, theirs) = (d.berth(args), d.docker(args));
        if stdout(&ours) == stdout(&theirs) {
            return same_outputs(args, &ours, &theirs);
        }
    }
    same_all(d, args);
}

pub fn same_all(d: &Daemon, args: &[&str]) {
    let (ours, theirs) = (d.berth(args), d.docker(args));
    same_outputs(args, &ours, &theirs);
}

/// berth's and docker's outputs of `args`: the same stdout, stderr (but the program's name)
/// and exit code.
pub fn same_outputs(args: &[&str], ours: &Output, theirs: &Output) {
    assert_eq!(stdout(ours), stdout(theirs), "stdout of {args:?}");
    assert_eq!(
        stderr(ours).replace("berth", "docker"),
        // (docker's cp also logs, at random, that its tar writer found the pipe closed)
        stderr(theirs)
            .lines()
            .filter(|l| !l.contains(" level=error msg=\"Can't "))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
        "stderr of {args:?}"
    );
    assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
}
