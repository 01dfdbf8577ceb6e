//! `docker exec`: sessions registered with the container's shim, which spawns and reaps
//! them, so their exit codes survive berthd. A user's sessions are also recorded in
//! berth.db (the `execs` table: created, started with its pid, ended with its code): a
//! restarted berthd shows them again and waits again for the ones still running. Health
//! probes are not recorded. The last [`KEEP_FINISHED`] finished sessions of a container
//! are kept (as many as its shim remembers), in memory and in the table, for `exec
//! inspect`; `ExecIDs` lists only the unfinished ones, as dockerd does. A session never
//! started goes, from memory and the table, when the run of its container it was made in
//! ends (dockerd forgets such sessions when the container stops).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::sync::watch;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::shim;
use crate::types::ExecConfig;

#[derive(Debug, Clone, Default)]
pub struct ExecState {
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

pub struct Exec {
    pub id: String,
    pub container: String,
    pub config: ExecConfig,
    pub state: Mutex<ExecState>,
    pub done: watch::Sender<bool>,
    /// A user's session, recorded in berth.db (a health probe's is not).
    recorded: bool,
    /// Creation order, to drop a container's oldest finished sessions first.
    seq: u64,
    /// The container's `StartedAt` when the session was made: a session never started
    /// goes with the run it was made in (dockerd drops those when the container stops).
    run: String,
}

/// Finished sessions kept per container.
const KEEP_FINISHED: usize = 64;

static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What berth.db keeps of a session.
#[derive(serde::Serialize, serde::Deserialize)]
struct ExecRecord {
    config: ExecConfig,
    started: bool,
    pid: i64,
    exit_code: Option<i64>,
    /// The run of its container the session was made in (its `StartedAt`).
    #[serde(default)]
    run: String,
}

impl Exec {
    fn new(id: String, container: String, config: ExecConfig, recorded: bool, run: String) -> Exec {
        Exec {
            run,
            id,
            container,
            config,
            state: Mutex::new(ExecState::default()),
            done: watch::Sender::new(false),
            recorded,
            seq: SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }
}

impl Engine {
    /// `POST /containers/{id}/exec`.
    pub fn exec_create(&self, name: &str, cfg: ExecConfig) -> Result<String> {
        self.exec_new(name, cfg, true)
    }

    /// A health probe's exec: like a user's, not recorded.
    pub(crate) fn exec_create_probe(&self, name: &str, cfg: ExecConfig) -> Result<String> {
        self.exec_new(name, cfg, false)
    }

    fn exec_new(&self, name: &str, cfg: ExecConfig, recorded: bool) -> Result<String> {
        let c = self.get(name)?;
        let run = {
            let r = c.lock();
            if !r.state.running {
                return Err(EngineError::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )));
            }
            if r.state.paused {
                return Err(EngineError::Conflict(format!(
                    "Container {name} is paused, unpause the container before exec"
                )));
            }
            r.state.started_at.clone()
        };
        if cfg.cmd.is_empty() {
            return Err(EngineError::InvalidArgument(
                "No exec command specified".into(),
            ));
        }
        let id = crate::ids::random_hex(32);
        let e = Arc::new(Exec::new(id.clone(), c.id.clone(), cfg, recorded, run));
        // (a session not recorded still runs; only a berthd restart would forget it)
        if let Err(err) = self.record_exec(&e) {
            tracing::warn!(exec = %id, error = %err, "exec session not recorded");
        }
        self.execs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), e.clone());
        // The run may have ended since the check above, its never-started sessions dropped
        // before this one was in the map: drop it too rather than keep it until a restart.
        let ended = {
            let r = c.lock();
            !r.state.running || r.state.started_at != e.run
        };
        if ended {
            self.drop_unstarted_execs(&c.id);
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        self.emit_exec(&e, "exec_create", None);
        Ok(id)
    }

    pub fn exec_get(&self, id: &str) -> Result<Arc<Exec>> {
        self.execs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .filter(|e| !self.exec_outlived(e))
            .ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))
    }

    /// A session made but never started in a run of its container that has ended: gone,
    /// as dockerd forgets such sessions when the container stops.
    fn exec_outlived(&self, e: &Exec) -> bool {
        {
            let s = e.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.running || s.exit_code.is_some() {
                return false;
            }
        }
        self.get(&e.container).is_ok_and(|c| {
            let r = c.lock();
            !r.state.running || r.state.started_at != e.run
        })
    }

    /// The container's sessions `ExecIDs` lists: those not finished, as dockerd lists
    /// them (a finished one can still be inspected by its ID).
    pub(crate) fn exec_ids_of(&self, container: &str) -> Vec<String> {
        let execs: Vec<Arc<Exec>> = self
            .execs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|e| e.container == container)
            .cloned()
            .collect();
        let mut live: Vec<&Arc<Exec>> = execs
            .iter()
            .filter(|e| {
                e.state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .exit_code
                    .is_none()
                    && !self.exec_outlived(e)
            })
            .collect();
        live.sort_by_key(|e| e.seq);
        live.iter().map(|e| e.id.clone()).collect()
    }

    /// The OCI process for an exec: the container's, with the exec's overrides.
    fn exec_process(&self, e: &Exec) -> Result<Value> {
        let dir = self.container_dir(&e.container);
        let spec: Value = std::fs::read(dir.join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| EngineError::Internal("container config.json unreadable".into()))?;
        let mut p = spec["process"].clone();
        let rootfs = self.rootfs(&e.container);
        let mut env: Vec<String> = p["env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for x in e.config.env.iter().flatten() {
            let key = x.split('=').next().unwrap_or(x);
            env.retain(|y| y.split('=').next() != Some(key));
            env.push(x.clone());
        }
        if e.config.tty && !env.iter().any(|x| x.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        // The user first, then the working directory and the command, in dockerd's order
        // (its user lookup comes before the runtime's checks).
        if !e.config.user.is_empty() {
            let (uid, gid, extra, _) = crate::rootfs::resolve_user(&rootfs, &e.config.user)
                .map_err(EngineError::InvalidArgument)?;
            p["user"] = json!({ "uid": uid, "gid": gid, "additionalGids": extra });
        }
        if !e.config.working_dir.is_empty() {
            crate::rootfs::check_workdir(&rootfs, &e.config.working_dir).map_err(|m| {
                // (dockerd's hint after a runtime error that says "not a directory")
                let hint = if m.ends_with("not a directory") {
                    ": Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type"
                } else {
                    ""
                };
                EngineError::InvalidArgument(format!("OCI runtime exec failed: exec failed: unable to start container process: {m}: unknown{hint}"))
            })?;
        }
        crate::rootfs::check_executable(&rootfs, &e.config.cmd[0], &env).map_err(|m| {
            EngineError::InvalidArgument(format!("OCI runtime exec failed: exec failed: unable to start container process: {m}: unknown"))
        })?;
        p["args"] = json!(e.config.cmd);
        p["env"] = json!(env);
        p["terminal"] = json!(e.config.tty);
        if !e.config.working_dir.is_empty() {
            p["cwd"] = json!(e.config.working_dir);
        }
        if e.config.privileged {
            let all = crate::spec::grantable_caps();
            p["capabilities"] = json!({ "bounding": all, "effective": all, "permitted": all });
        }
        if let Some(cs) = &e.config.console_size
            && cs.len() == 2
            && cs[0] > 0
        {
            p["consoleSize"] = json!({ "height": cs[0], "width": cs[1] });
        }
        // The container's rlimits stay, as Docker's exec keeps them (`--ulimit`).
        if let Some(o) = p.as_object_mut() {
            o.remove("oomScoreAdj");
        }
        Ok(p)
    }

    /// `POST /exec/{id}/start`: registers and starts the process; when `attach`, returns
    /// its stream (connected before the process runs).
    pub async fn exec_start(
        self: &Arc<Self>,
        id: &str,
        attach: bool,
    ) -> Result<Option<BufReader<UnixStream>>> {
        let e = self.exec_get(id)?;
        // dockerd's checks that leave the session startable later (a paused container).
        if let Ok(c) = self.get(&e.container) {
            let r = c.lock();
            if r.state.running && r.state.paused {
                return Err(EngineError::Conflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    c.id
                )));
            }
        }
        {
            let mut s = e.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.running || s.exit_code.is_some() {
                return Err(EngineError::Conflict(format!(
                    "Error: Exec command {id} has already run"
                )));
            }
            s.running = true;
        }
        let res = self.exec_start_inner(&e, attach).await;
        if res.is_err() {
            // dockerd records 126 for an exec that could not start, whatever the cause (a
            // container's main process gets 127 for a missing command; an exec does not).
            let mut s = e.state.lock().unwrap_or_else(|p| p.into_inner());
            s.running = false;
            s.exit_code = Some(126);
            drop(s);
            self.exec_ended(&e);
        }
        res
    }

    /// Writes a user's session to berth.db (not a probe's).
    fn record_exec(&self, e: &Exec) -> Result<()> {
        if !e.recorded {
            return Ok(());
        }
        let s = e.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let rec = ExecRecord {
            config: e.config.clone(),
            started: s.running || s.exit_code.is_some(),
            pid: s.pid,
            exit_code: s.exit_code,
            run: e.run.clone(),
        };
        let json =
            serde_json::to_string(&rec).map_err(|err| EngineError::internal("encode", err))?;
        self.db.put_exec(&e.id, &e.container, &json)
    }

    /// An exec's end: recorded, its waiters woken, the container's oldest finished
    /// sessions beyond [`KEEP_FINISHED`] dropped.
    fn exec_ended(&self, e: &Exec) {
        if let Err(err) = self.record_exec(e) {
            tracing::warn!(exec = %e.id, error = %err, "exec end not recorded");
        }
        e.done.send_replace(true);
        let mut finished: Vec<(u64, String, bool)> = self
            .execs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|x| x.container == e.container)
            .filter(|x| {
                x.state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .exit_code
                    .is_some()
            })
            .map(|x| (x.seq, x.id.clone(), x.recorded))
            .collect();
        if finished.len() <= KEEP_FINISHED {
            return;
        }
        finished.sort_unstable();
        let old = &finished[..finished.len() - KEEP_FINISHED];
        let mut map = self.execs.write().unwrap_or_else(|p| p.into_inner());
        for (_, id, recorded) in old {
            map.remove(id);
            if *recorded {
                let _ = self.db.delete_execs(Some(id), None);
            }
        }
    }

    /// At start: the sessions berth.db recorded. One still running in a running container
    /// is waited for again through its shim; one whose container stopped meanwhile ended
    /// with it (code 137 unless it had been recorded).
    pub(crate) fn restore_execs(self: &Arc<Self>) {
        let rows = match self.db.execs() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "exec sessions not restored");
                return;
            }
        };
        for (id, container, json) in rows {
            let Ok(rec) = serde_json::from_str::<ExecRecord>(&json) else {
                tracing::warn!(exec = %id, "unreadable exec record dropped");
                let _ = self.db.delete_execs(Some(&id), None);
                continue;
            };
            let Ok(c) = self.get(&container) else {
                let _ = self.db.delete_execs(None, Some(&container));
                continue;
            };
            let running = rec.started && rec.exit_code.is_none();
            let (alive, run, current) = {
                let r = c.lock();
                let current =
                    r.state.running && (rec.run.is_empty() || rec.run == r.state.started_at);
                (
                    running && r.state.running,
                    r.state.started_at.clone(),
                    current,
                )
            };
            // One never started in a run that has ended went with that run.
            if !rec.started && !current {
                let _ = self.db.delete_execs(Some(&id), None);
                continue;
            }
            let e = Arc::new(Exec::new(id.clone(), container, rec.config, true, run));
            {
                let mut s = e.state.lock().unwrap_or_else(|p| p.into_inner());
                s.pid = rec.pid;
                s.exit_code = rec.exit_code.or((running && !alive).then_some(137));
                s.running = alive;
            }
            if !alive {
                e.done.send_replace(rec.started || rec.exit_code.is_some());
            }
            self.execs
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, e.clone());
            if alive {
                self.spawn_exec_waiter(e);
            } else if running {
                let _ = self.record_exec(&e);
            }
        }
    }

    /// When a run of a container ends: the sessions made and never started go, from memory
    /// and berth.db, as dockerd forgets them when the container stops.
    pub(crate) fn drop_unstarted_execs(&self, container: &str) {
        let gone: Vec<Arc<Exec>> = {
            let mut map = self.execs.write().unwrap_or_else(|p| p.into_inner());
            let ids: Vec<String> = map
                .values()
                .filter(|e| e.container == container)
                .filter(|e| {
                    let s = e.state.lock().unwrap_or_else(|p| p.into_inner());
                    !s.running && s.exit_code.is_none()
                })
                .map(|e| e.id.clone())
                .collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for e in gone.iter().filter(|e| e.recorded) {
            if let Err(err) = self.db.delete_execs(Some(&e.id), None) {
                tracing::warn!(exec = %e.id, error = %err, "exec session not deleted");
            }
        }
    }

    /// Waits in the background for an exec's exit code from the shim, then records it.
    fn spawn_exec_waiter(self: &Arc<Self>, e: Arc<Exec>) {
        let state_dir = self.state_dir(&e.container);
        let engine = self.clone();
        tokio::spawn(async move {
            let code = match shim::request(&state_dir, json!({"op": "exec_wait", "exec_id": e.id}))
                .await
            {
                Ok(v) => v.get("exit_code").and_then(Value::as_i64).unwrap_or(255),
                Err(err) => {
                    tracing::warn!(exec = %e.id, error = %err, "exec wait failed");
                    255
                }
            };
            {
                let mut s = e.state.lock().unwrap_or_else(|p| p.into_inner());
                s.running = false;
                s.exit_code = Some(code);
            }
            engine.emit_exec(&e, "exec_die", Some(code));
            engine.exec_ended(&e);
        });
    }

    async fn exec_start_inner(
        self: &Arc<Self>,
        e: &Arc<Exec>,
        attach: bool,
    ) -> Result<Option<BufReader<UnixStream>>> {
        let c = self.get(&e.container)?;
        if !c.lock().state.running {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let process = self.exec_process(e)?;
        let state_dir = self.state_dir(&c.id);
        let cfg = &e.config;
        shim::request(
            &state_dir,
            json!({"op": "exec", "exec_id": e.id, "process": process, "tty": cfg.tty, "stdin": cfg.attach_stdin}),
        )
        .await?;
        let stream = if attach {
            Some(
                shim::attach(
                    &state_dir,
                    cfg.attach_stdin,
                    cfg.attach_stdout,
                    cfg.attach_stderr,
                    Some(&e.id),
                )
                .await?,
            )
        } else {
            None
        };
        let v = shim::request(&state_dir, json!({"op": "exec_start", "exec_id": e.id})).await?;
        e.state.lock().unwrap_or_else(|p| p.into_inner()).pid =
            v.get("pid").and_then(Value::as_i64).unwrap_or(0);
        if let Err(err) = self.record_exec(e) {
            tracing::warn!(exec = %e.id, error = %err, "exec start not recorded");
        }
        self.emit_exec(e, "exec_start", None);
        self.spawn_exec_waiter(e.clone());
        Ok(stream)
    }

    /// Waits (bounded) for an exec's exit to be recorded, so `docker exec` reads the
    /// code from inspect right after its stream ends.
    pub async fn exec_wait(&self, id: &str, timeout: Duration) {
        if let Ok(e) = self.exec_get(id) {
            let mut rx = e.done.subscribe();
            let _ = tokio::time::timeout(timeout, rx.wait_for(|d| *d)).await;
        }
    }

    /// `POST /exec/{id}/resize`.
    pub async fn exec_resize(&self, id: &str, h: u16, w: u16) -> Result<()> {
        let e = self.exec_get(id)?;
        shim::request(
            &self.state_dir(&e.container),
            json!({"op": "resize", "width": w, "height": h, "exec_id": e.id}),
        )
        .await?;
        Ok(())
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, id: &str) -> Result<Value> {
        let e = self.exec_get(id)?;
        let s = e.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut v = json!({
            "ID": e.id,
            "Running": s.running,
            "ExitCode": s.exit_code,
            "ProcessConfig": {
                "tty": e.config.tty,
                "entrypoint": e.config.cmd.first(),
                "arguments": e.config.cmd.get(1..).unwrap_or(&[]),
                "privileged": e.config.privileged,
            },
            "OpenStdin": e.config.attach_stdin,
            "OpenStderr": e.config.attach_stderr,
            "OpenStdout": e.config.attach_stdout,
            "CanRemove": false,
            "ContainerID": e.container,
            "DetachKeys": "",
            "Pid": s.pid,
        });
        // An exec without its own user runs as the container's, which dockerd shows; it
        // leaves an empty one out.
        let user = if e.config.user.is_empty() {
            self.get(&e.container)
                .map(|c| c.lock().config.user.clone())
                .unwrap_or_default()
        } else {
            e.config.user.clone()
        };
        if !user.is_empty() {
            v["ProcessConfig"]["user"] = json!(user);
        }
        Ok(v)
    }
}
