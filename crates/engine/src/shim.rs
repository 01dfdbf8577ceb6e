//! berthd's side of the berth-shim contract (crates/shim/PROTOCOL.md): spawning a shim and
//! speaking its one-request-per-connection JSON protocol on `shim.sock`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::error::{EngineError, Result};

/// How to launch one container's shim.
#[derive(Debug, Clone)]
pub struct SpawnOpts {
    pub binary: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub runtime_root: PathBuf,
    pub state_dir: PathBuf,
    pub log_path: Option<PathBuf>,
    pub log_max_size: u64,
    pub log_max_file: u32,
    /// The `attrs` object of every log entry (`logs::json_file_attrs`).
    pub log_attrs: Option<String>,
    /// Rotated log files are gzipped (the `compress` log option).
    pub log_compress: bool,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub console: Option<(u16, u16)>,
    /// Compiled seccomp filters by profile hash: the default profile compiles once.
    pub seccomp_cache: Option<PathBuf>,
}

/// berthd's read-only clone of the shim binary (`exe_guard::readonly_clone`), opened once:
/// a shim executed from it starts protected against CVE-2019-5736 and skips the re-exec it
/// would otherwise do on every container start. Opened again when the file at the path
/// changes (an upgrade replaces it).
struct ShimExe {
    path: PathBuf,
    stamp: FileStamp,
    fd: Arc<OwnedFd>,
}

type FileStamp = (u64, u64, i64, i64, i64);

fn stamp(st: &rustix::fs::Stat) -> FileStamp {
    (
        st.st_dev,
        st.st_ino,
        st.st_mtime,
        st.st_mtime_nsec as i64,
        st.st_ctime,
    )
}

static SHIM_EXE: Mutex<Option<ShimExe>> = Mutex::new(None);

/// The clone of `binary` to execute, or None (a bare name, or cloning refused: the shim then
/// protects itself).
fn shim_exe(binary: &Path) -> Option<Arc<OwnedFd>> {
    if !binary.is_absolute() {
        return None;
    }
    let now = stamp(&rustix::fs::stat(binary).ok()?);
    let mut cached = SHIM_EXE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = cached.as_ref()
        && c.path == binary
        && c.stamp == now
    {
        return Some(c.fd.clone());
    }
    let fd = match berth_runtime::exe_guard::readonly_clone(binary) {
        Ok(fd) => Arc::new(fd),
        Err(e) => {
            tracing::debug!(binary = %binary.display(), error = %e, "no read-only clone of the shim");
            return None;
        }
    };
    // The clone is of what the path named when it was opened: stamp that file, not the path.
    let stamp = stamp(&rustix::fs::fstat(&*fd).ok()?);
    *cached = Some(ShimExe {
        path: binary.to_owned(),
        stamp,
        fd: fd.clone(),
    });
    Some(fd)
}

/// The shim's arguments for one container (crates/shim/src/args.rs).
fn shim_args(o: &SpawnOpts) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> = Vec::with_capacity(24);
    let mut push = |k: &str, v: &std::ffi::OsStr| {
        a.push(k.into());
        a.push(v.to_owned());
    };
    push("--id", o.id.as_ref());
    push("--bundle", o.bundle.as_os_str());
    push("--runtime-root", o.runtime_root.as_os_str());
    push("--state-dir", o.state_dir.as_os_str());
    match &o.log_path {
        Some(p) => {
            push("--log-path", p.as_os_str());
            push("--log-max-size", o.log_max_size.to_string().as_ref());
            push("--log-max-file", o.log_max_file.to_string().as_ref());
            if let Some(a) = &o.log_attrs {
                push("--log-attrs", a.as_ref());
            }

            push("--log-driver", "json-file".as_ref());
        }
        None => push("--log-driver", "none".as_ref()),
    }
    if let Some((w, h)) = o.console {
        push("--console-width", w.to_string().as_ref());
        push("--console-height", h.to_string().as_ref());
    }
    if let Some(dir) = &o.seccomp_cache {
        push("--seccomp-cache", dir.as_os_str());
    }
    for (on, flag) in [
        (o.tty, "--tty"),
        (o.open_stdin, "--open-stdin"),
        (o.stdin_once, "--stdin-once"),
        (o.log_compress && o.log_path.is_some(), "--log-compress"),
    ] {
        if on {
            a.push(flag.into());
        }
    }
    a
}

/// A shim process started before it is needed (`berth-shim --standby`), waiting for its
/// arguments on stdin: a container start then skips the process creation (~1 ms of a
/// `run --rm`). One is kept, made after each start; a berthd that never starts a container
/// has none, and one whose berthd is gone sees end of file and exits.
struct Standby {
    binary: PathBuf,
    /// The binary clone it was executed from (None: the plain path).
    exe: Option<Arc<OwnedFd>>,
    child: tokio::process::Child,
}

static STANDBY: Mutex<Option<Standby>> = Mutex::new(None);

/// Starts `binary` with `args`, from berthd's read-only clone when there is one.
fn launch(
    binary: &Path,
    args: &[std::ffi::OsString],
    stdin: std::process::Stdio,
) -> Result<(tokio::process::Child, Option<Arc<OwnedFd>>)> {
    // Held until spawn() returns, which is after the exec: the descriptor stays open that long.
    let exe = shim_exe(binary);
    let mut cmd = match &exe {
        Some(fd) => {
            let mut c = tokio::process::Command::new(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            c.arg0("berth-shim");
            c
        }
        None => tokio::process::Command::new(binary),
    };
    static LAYOUT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(l) = LAYOUT.get_or_init(|| berth_cgroups::Hierarchy::layout_for_child().ok()) {
        cmd.env(berth_cgroups::LAYOUT_ENV, l);
    }
    cmd.args(args)
        .stdin(stdin)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(false);
    let child = cmd
        .spawn()
        .map_err(|e| EngineError::internal(format!("spawn {}", binary.display()), e))?;
    Ok((child, exe))
}

/// Reaps a child in the background.
fn reap(mut child: tokio::process::Child) {
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
}

/// Makes the next start's standby shim, unless there is one.
fn refill_standby(binary: PathBuf) {
    tokio::spawn(async move {
        if STANDBY.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return;
        }
        // The blank argument is room for the real arguments in `ps` (sys::set_cmdline).
        let room = " ".repeat(400);
        match launch(
            &binary,
            &["--standby".into(), room.into()],
            std::process::Stdio::piped(),
        ) {
            Ok((child, exe)) => {
                let old = STANDBY
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .replace(Standby { binary, exe, child });
                // Closing its stdin ends a second one made by a concurrent refill.
                if let Some(s) = old {
                    reap(s.child);
                }
            }
            Err(e) => tracing::debug!(error = %e, "no standby shim"),
        }
    });
}

/// Takes the standby shim and gives it `args`; None when there is none that is current
/// (made from another binary, or from a file since replaced) or it is gone.
async fn use_standby(binary: &Path, args: &[std::ffi::OsString]) -> Option<tokio::process::Child> {
    let s = STANDBY.lock().unwrap_or_else(|p| p.into_inner()).take()?;
    let current = s.binary == binary
        && match (&s.exe, shim_exe(binary)) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, &b),
            (None, None) => true,
            _ => false,
        };
    let mut child = s.child;
    let Some(mut stdin) = child.stdin.take().filter(|_| current) else {
        reap(child);
        return None;
    };
    let mut buf = Vec::new();
    for a in args {
        buf.extend_from_slice(a.as_encoded_bytes());
        buf.push(0);
    }
    if stdin.write_all(&buf).await.is_err() {
        reap(child);
        return None;
    }
    drop(stdin);
    Some(child)
}

/// Starts the shim; returns the container's init pid once it is created (held before exec).
pub async fn spawn(o: &SpawnOpts) -> Result<i64> {
    let args = shim_args(o);
    let mut child = match use_standby(&o.binary, &args).await {
        Some(c) => c,
        None => launch(&o.binary, &args, std::process::Stdio::null())?.0,
    };
    // One line, not end-of-file: a descendant may hold the pipe a little longer.
    let mut out = String::new();
    if let Some(stdout) = child.stdout.take() {
        BufReader::new(stdout)
            .read_line(&mut out)
            .await
            .map_err(|e| EngineError::internal("read shim start-up line", e))?;
    }
    reap(child);
    refill_standby(o.binary.clone());
    let line = out.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let v: Value = serde_json::from_str(line).map_err(|_| {
        EngineError::Internal(format!("shim for {} failed to start: {line:?}", o.id))
    })?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        // The container's process could not be started: dockerd's words around the
        // runtime's (berthd's own check before the start says the same).
        if let Some(m) = e
            .strip_prefix("container init: ")
            .filter(|m| m.starts_with("exec: "))
        {
            return Err(crate::error::process_start_failed(m));
        }
        return Err(EngineError::Internal(e.to_owned()));
    }
    v.get("pid")
        .and_then(Value::as_i64)
        .ok_or_else(|| EngineError::Internal(format!("shim start-up line: {line}")))
}

/// Path of the shim's socket in a state dir.
pub fn socket(state_dir: &Path) -> PathBuf {
    state_dir.join("shim.sock")
}

async fn connect(state_dir: &Path) -> Result<UnixStream> {
    UnixStream::connect(socket(state_dir))
        .await
        .map_err(|e| EngineError::internal(format!("connect {}", socket(state_dir).display()), e))
}

/// Sends one request and reads the one-line answer; a shim `error` becomes `Internal`.
pub async fn request(state_dir: &Path, req: Value) -> Result<Value> {
    let s = connect(state_dir).await?;
    let (v, _) = exchange(s, req).await?;
    Ok(v)
}

async fn exchange(mut s: UnixStream, req: Value) -> Result<(Value, BufReader<UnixStream>)> {
    let mut line = serde_json::to_vec(&req).map_err(|e| EngineError::internal("encode", e))?;
    line.push(b'\n');
    s.write_all(&line)
        .await
        .map_err(|e| EngineError::internal("write to shim", e))?;
    let mut r = BufReader::new(s);
    let v = answer(&mut r).await?;
    Ok((v, r))
}

/// Reads a shim's one-line answer; a shim `error` becomes `Internal`.
async fn answer(r: &mut BufReader<UnixStream>) -> Result<Value> {
    let mut answer = String::new();
    r.read_line(&mut answer)
        .await
        .map_err(|e| EngineError::internal("read from shim", e))?;
    if answer.is_empty() {
        return Err(EngineError::Internal("shim closed the connection".into()));
    }
    let v: Value =
        serde_json::from_str(answer.trim()).map_err(|e| EngineError::internal("shim answer", e))?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Err(EngineError::Internal(e.to_owned()));
    }
    Ok(v)
}

/// Opens an attach stream (container or exec). The returned reader may hold bytes
/// already read past the answer line, so callers must read through it.
pub async fn attach(
    state_dir: &Path,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    exec_id: Option<&str>,
) -> Result<BufReader<UnixStream>> {
    let s = connect(state_dir).await?;
    let mut req = json!({"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr});
    if let Some(x) = exec_id {
        req["exec_id"] = json!(x);
    }
    let (_, r) = exchange(s, req).await?;
    Ok(r)
}

/// Hands a client's connection to the shim as an attach stream (the `handoff` attach of
/// PROTOCOL.md): the descriptor goes with the request line, then the bytes already read
/// from the client.
pub async fn attach_handoff(
    state_dir: &Path,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    h: crate::container::Handoff,
) -> Result<()> {
    let s = connect(state_dir).await?;
    let req = json!({"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr,
        "handoff": true});
    let mut msg = serde_json::to_vec(&req).map_err(|e| EngineError::internal("encode", e))?;
    msg.push(b'\n');
    msg.extend_from_slice(&h.early);
    let sent = loop {
        s.writable()
            .await
            .map_err(|e| EngineError::internal("write to shim", e))?;
        let r = s.try_io(tokio::io::Interest::WRITABLE, || {
            let fds = [std::os::fd::AsFd::as_fd(&h.fd)];
            let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut anc = rustix::net::SendAncillaryBuffer::new(&mut space);
            anc.push(rustix::net::SendAncillaryMessage::ScmRights(&fds));
            rustix::net::sendmsg(
                &s,
                &[std::io::IoSlice::new(&msg)],
                &mut anc,
                rustix::net::SendFlags::NOSIGNAL | rustix::net::SendFlags::DONTWAIT,
            )
            .map_err(std::io::Error::from)
        });
        match r {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(EngineError::internal("pass the client to the shim", e)),
        }
    };
    drop(h.fd);
    let mut s = s;
    s.write_all(&msg[sent..])
        .await
        .map_err(|e| EngineError::internal("write to shim", e))?;
    answer(&mut BufReader::new(s)).await.map(drop)
}

/// The exit record a shim writes (`exit` file, `wait` answer).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Exit {
    pub exit_code: i64,
    #[serde(default)]
    pub finished_at: String,
    #[serde(default)]
    pub oom_killed: bool,
}

/// Blocks until the container exits.
pub async fn wait(state_dir: &Path) -> Result<Exit> {
    let v = request(state_dir, json!({"op": "wait"})).await?;
    serde_json::from_value(v).map_err(|e| EngineError::internal("shim wait answer", e))
}

/// Reads the `exit` file a shim left, if any.
pub fn read_exit_file(state_dir: &Path) -> Option<Exit> {
    let b = std::fs::read(state_dir.join("exit")).ok()?;
    serde_json::from_slice(&b).ok()
}
