//! Test fixture: a real berthd on a temporary data root, exec root and socket, a busybox
//! image imported with the stock `docker` CLI, and cleanup (containers, shims, mounts,
//! cgroups, temp dirs) that runs even when the test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BERTHD: &str = env!("CARGO_BIN_EXE_berthd");
pub const IMG: &str = "bbtest:latest";

/// The berth-shim binary, built from the current sources into a target dir of the tests'
/// own (cargo does not build other packages' binaries for this package's tests, and a
/// shared `target/debug/berth-shim` may be replaced by other builds while tests run).
pub fn shim_binary() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = ws.join("target/berthd-tests");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .current_dir(&ws)
            .args(["build", "-q", "-p", "berth-shim", "--target-dir"])
            .arg(&target)
            .status()
            .expect("run cargo build -p berth-shim");
        assert!(st.success(), "building berth-shim failed");
        target.join("debug/berth-shim")
    })
    .clone()
}

/// berth-image-tool (to seed a registry), built like [`shim_binary`].
pub fn image_tool() -> PathBuf {
    shim_binary();
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = ws.join("target/berthd-tests");
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
    })
    .clone()
}

/// The busybox rootfs tarball of [`Daemon::start`], made in `dir`.
pub fn busybox_tarball(dir: &Path) -> PathBuf {
    busybox_tar(dir)
}

#[path = "../../../../tests/support/busybox.rs"]
mod busybox;
#[path = "../../../../tests/support/leftovers.rs"]
pub mod leftovers;
pub mod net;
pub use leftovers::{CONTROLLERS, kill_cgroup, kill_pid};
#[path = "../../../../tests/support/netiso.rs"]
mod netiso;
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

    /// [`Self::start`] with extra berthd flags (kept in [`Self::args`] for restarts).
    pub fn start_with(args: &[&str]) -> Daemon {
        let mut d = Self::prepared(args);
        d.spawn();
        let tar = busybox_tar(d.dir.path());
        let out = d.docker(&["import", tar.to_str().unwrap(), IMG]);
        assert!(out.status.success(), "import: {}", stderr(&out));
        d
    }

    /// Temporary roots for a berthd with extra flags `args`, not started yet (see
    /// [`Self::try_spawn`]); no image.
    pub fn prepared(args: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("b")
            .tempdir_in("/tmp")
            .unwrap();
        Daemon {
            data: dir.path().join("data"),
            exec: dir.path().join("e"),
            sock: dir.path().join("s.sock"),
            dir,
            pid: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            child: None,
        }
    }

    /// (Re)starts the berthd process on the same roots.
    pub fn spawn(&mut self) {
        if let Err(log) = self.try_spawn() {
            panic!("{log}");
        }
    }

    /// Like [`Self::spawn`]; when berthd exits instead of listening, its log.
    pub fn try_spawn(&mut self) -> Result<(), String> {
        let cfg = self.dir.path().join("daemon.toml");
        if !cfg.exists() {
            std::fs::write(
                &cfg,
                format!(
                    "# every key optional\nshim-binary = {:?}\n{}[log-opts]\nmax-size = \"20m\"\n",
                    shim_binary(),
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
        let child = Command::new(BERTHD)
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
        // (generous: under tests/v2-vm.sh's emulated VM a start takes seconds)
        while t0.elapsed() < Duration::from_secs(60) {
            if std::os::unix::net::UnixStream::connect(&self.sock).is_ok() {
                return Ok(());
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                self.pid = None;
                return Err(format!("berthd exited ({st}): {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("berthd did not listen: {}", self.log());
    }

    /// Sets (or, with `None`, removes) a top-level key of this daemon's `daemon.toml`;
    /// the next (re)start reads it. `value` is TOML (`true`, `"text"`).
    pub fn set_config(&self, key: &str, value: Option<&str>) {
        let path = self.dir.path().join("daemon.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} =")))
            .map(str::to_owned)
            .collect();
        if let Some(v) = value {
            // Before any [table], so the key stays top-level.
            lines.insert(0, format!("{key} = {v}"));
        }
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }

    /// SIGTERMs berthd and waits (10 s) for it to exit; false if it did not.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        kill_pid(c.id() as i32, libc::SIGTERM);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = c.try_wait() {
                self.pid = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(c);
        false
    }

    /// SIGKILLs berthd (containers and shims live on).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.pid = None;
    }

    /// A reboot: berthd, every shim and container process gone, the exec root wiped,
    /// container rootfs mounts gone. The data root stays.
    pub fn simulate_reboot(&mut self) {
        self.kill9();
        let ids = self.container_ids();
        for id in &ids {
            if let Ok(p) =
                std::fs::read_to_string(self.exec.join("containers").join(id).join("shim.pid"))
                && let Ok(p) = p.trim().parse::<i32>()
            {
                kill_pid(p, libc::SIGKILL);
            }
            kill_cgroup(id);
        }
        std::thread::sleep(Duration::from_millis(300));
        for id in &ids {
            let merged = self.data.join("containers").join(id).join("merged");
            let _ = rustix::mount::unmount(&merged, rustix::mount::UnmountFlags::DETACH);
            // A reboot empties the cgroup hierarchy too.
            for ctl in CONTROLLERS {
                let _ = std::fs::remove_dir(
                    Path::new("/sys/fs/cgroup").join(ctl).join("berth").join(id),
                );
            }
        }
        std::fs::remove_dir_all(&self.exec).unwrap();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
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
        std::thread::scope(|s| {
            if let Some(data) = input {
                // From a thread: output the container echoes must be read while it is fed.
                let mut stdin = child.stdin.take().unwrap();
                s.spawn(move || {
                    use std::io::Write;
                    let _ = stdin.write_all(data);
                });
            }
            child.wait_with_output().unwrap()
        })
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

    /// `docker run -d --network none --name NAME OPTS... IMG CMD...`: the container's id.
    pub fn run_detached(&self, name: &str, opts: &[&str], cmd: &[&str]) -> String {
        let mut args = vec!["run", "-d", "--network", "none", "--name", name];
        args.extend_from_slice(opts);
        args.push(IMG);
        args.extend_from_slice(cmd);
        self.ok(&args)
    }

    /// Runs docker, asserting that it fails with `needle` in its stderr; returns stderr.
    pub fn fails(&self, args: &[&str], needle: &str) -> String {
        let out = self.docker(args);
        let err = stderr(&out);
        assert!(
            !out.status.success() && err.contains(needle),
            "docker {args:?}: want a failure with {needle:?}, got {:?}: {err}",
            out.status.code()
        );
        err
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

impl Daemon {
    /// The paths in the top layer of `image` (from `docker save`, as `tar -t` lists them,
    /// `./` prefixes and the root entry left out).
    pub fn top_layer_entries(&self, image: &str) -> Vec<String> {
        let dir = tempfile::tempdir_in(self.dir.path()).unwrap();
        let file = dir.path().join("saved.tar");
        self.ok(&["save", "-o", file.to_str().unwrap(), image]);
        let st = Command::new("tar")
            .arg("-C")
            .arg(dir.path())
            .arg("-xf")
            .arg(&file)
            .status()
            .unwrap();
        assert!(st.success());
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap())
                .unwrap();
        let layers = manifest[0]["Layers"].as_array().unwrap();
        let top = layers.last().unwrap().as_str().unwrap();
        // tar reads the layer compressed or not.
        let out = Command::new("tar")
            .arg("-tf")
            .arg(dir.path().join(top))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
            .lines()
            .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_owned())
            .filter(|l| !l.is_empty() && l != ".")
            .collect()
    }
}
