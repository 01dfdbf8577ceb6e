//! berthd's side of the berth-shim contract (crates/shim/PROTOCOL.md): spawning a shim and
//! speaking its one-request-per-connection JSON protocol on `shim.sock`.

use std::path::{Path, PathBuf};

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
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub console: Option<(u16, u16)>,
    /// Compiled seccomp filters by profile hash: the default profile compiles once.
    pub seccomp_cache: Option<PathBuf>,
}

/// Starts the shim; returns the container's init pid once it is created (held before exec).
pub async fn spawn(o: &SpawnOpts) -> Result<i64> {
    let mut cmd = tokio::process::Command::new(&o.binary);
    cmd.arg("--id")
        .arg(&o.id)
        .arg("--bundle")
        .arg(&o.bundle)
        .arg("--runtime-root")
        .arg(&o.runtime_root)
        .arg("--state-dir")
        .arg(&o.state_dir);
    match &o.log_path {
        Some(p) => {
            cmd.arg("--log-path")
                .arg(p)
                .arg("--log-max-size")
                .arg(o.log_max_size.to_string())
                .arg("--log-max-file")
                .arg(o.log_max_file.to_string())
                .arg("--log-driver")
                .arg("json-file");
        }
        None => {
            cmd.arg("--log-driver").arg("none");
        }
    }
    if o.tty {
        cmd.arg("--tty");
    }
    if o.open_stdin {
        cmd.arg("--open-stdin");
    }
    if o.stdin_once {
        cmd.arg("--stdin-once");
    }
    if let Some((w, h)) = o.console {
        cmd.arg("--console-width")
            .arg(w.to_string())
            .arg("--console-height")
            .arg(h.to_string());
    }
    if let Some(dir) = &o.seccomp_cache {
        cmd.arg("--seccomp-cache").arg(dir);
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(false);
    let mut child = cmd
        .spawn()
        .map_err(|e| EngineError::internal(format!("spawn {}", o.binary.display()), e))?;
    // One line, not end-of-file: a descendant may hold the pipe a little longer.
    let mut out = String::new();
    if let Some(stdout) = child.stdout.take() {
        BufReader::new(stdout)
            .read_line(&mut out)
            .await
            .map_err(|e| EngineError::internal("read shim start-up line", e))?;
    }
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    let line = out.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let v: Value = serde_json::from_str(line).map_err(|_| {
        EngineError::Internal(format!("shim for {} failed to start: {line:?}", o.id))
    })?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
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
