//! Start, exit handling, restart policies, stop, kill, pause, remove, wait, attach and
//! live restore. Every state change is persisted (one SQLite transaction) before it is
//! announced to waiters; start/stop/restart/remove of one container are serialized by
//! its `op` lock, while kill, pause and attach need no lock.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use crate::container::{AttachTo, Container, Handoff, PendingAttach};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::shim::{self, Exit};

/// `wait` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

/// An attach: connected now, or once the container starts.
pub enum AttachHandle {
    Ready(BufReader<UnixStream>),
    Pending(oneshot::Receiver<Result<BufReader<UnixStream>>>),
}

/// Parses `SIGTERM`, `TERM`, `15`.
pub fn parse_signal(s: &str) -> Result<i32> {
    let invalid = || EngineError::InvalidArgument(format!("Invalid signal: {s}"));
    // dockerd names the real-time signals RTMIN, RTMIN+1..15, RTMAX-14..1 and RTMAX only;
    // the names and numbers themselves are the runtime's (RTMIN is 34 with glibc, as Go's).
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let rt_ok = |p: &str, sign: char, max: i32| match name.strip_prefix(p) {
        None | Some("") => true,
        Some(k) => k
            .strip_prefix(sign)
            .and_then(|k| k.parse::<i32>().ok())
            .is_some_and(|k| (1..=max).contains(&k)),
    };
    if !rt_ok("RTMIN", '+', 15) || !rt_ok("RTMAX", '-', 14) {
        return Err(invalid());
    }
    berth_runtime::signals::parse(s).map_err(|_| invalid())
}

impl Engine {
    /// `POST /containers/{id}/start`.
    pub async fn start(self: &Arc<Self>, name: &str) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        {
            let r = c.lock();
            if r.state.paused {
                return Err(EngineError::Conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ));
            }
            if r.state.running {
                return Err(EngineError::NotModified("container already started".into()));
            }
        }
        {
            let mut r = c.lock();
            r.manually_stopped = false;
        }
        self.start_locked(&c).await
    }

    /// Starts a container whose `op` lock the caller holds.
    pub(crate) async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let span = tracing::info_span!("start", container = %c.id);
        let _g = span.enter();
        drop(_g);
        // An exit being handled (recorded, its cleanup not done yet, e.g. one seen as a
        // restarted berthd adopts the container): the start waits for that cleanup, which
        // would otherwise unmount what the start mounts.
        if !c.lock().state.running && c.life.borrow().running {
            let mut rx = c.life.subscribe();
            let _ =
                tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|l| !l.running)).await;
        }
        if c.cleanup_pending.swap(false, Ordering::AcqRel) {
            self.cleanup_after_exit(c).await;
        }
        let res = self.start_inner(c).await;
        if let Err(e) = &res {
            let code = start_error_code(&e.to_string()).unwrap_or(128);
            {
                let mut r = c.lock();
                r.state.error = e.to_string();
                r.state.exit_code = code;
                r.state.restarting = false;
                // A container whose first start failed stays `created`, as with Docker.
                if r.has_been_started {
                    r.state.finished_at = berth_runtime::state::now_rfc3339();
                }
            }
            let _ = self.persist(c);
            self.fail_pending(c, e);
            self.cleanup_after_exit(c).await;
            if c.lock().host_config.auto_remove {
                // The caller holds the op lock; removal waits for it in its own task.
                let engine = self.clone();
                let id = c.id.clone();
                tokio::spawn(async move {
                    if let Err(e) = engine.remove(&id, true, true).await {
                        tracing::warn!(container = %id, error = %e, "auto-remove after failed start");
                    }
                });
            }
        }
        res
    }

    fn fail_pending(&self, c: &Container, e: &EngineError) {
        let pend: Vec<PendingAttach> =
            std::mem::take(&mut *c.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for p in pend {
            if let AttachTo::Relay(tx) = p.to {
                let _ = tx.send(Err(EngineError::Internal(e.to_string())));
            }
            // A handed-off client's connection closes as its receiver is dropped.
        }
    }

    async fn start_inner(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let t0 = Instant::now();
        let rec = c.rec();
        crate::spec::check_device_requests(&rec.host_config)?;
        let id = rec.id.clone();
        let dir = self.container_dir(&id);
        let rootfs = self.rootfs(&id);
        // Root filesystem: the init layer and the image's chain under the container's
        // own upper dir. `--rm`: changes die with the container, so the overlay never
        // syncs (its unmount would otherwise sync the whole data-root filesystem).
        if !crate::mounts::is_mounted(&rootfs) {
            self.mount_rootfs(c, rec.host_config.auto_remove)?;
        }
        for m in &rec.mounts {
            if m.kind == "volume" {
                let data = self.mount_volume(m, &id)?;
                let marker = data.with_file_name(".initialized");
                if !marker.exists() {
                    let empty = std::fs::read_dir(&data)
                        .map(|mut d| d.next().is_none())
                        .unwrap_or(false);
                    if empty {
                        crate::rootfs::copy_up(&rootfs, &m.destination, &data).map_err(|e| {
                            EngineError::internal(
                                format!("copy image content into volume {}", m.name),
                                e,
                            )
                        })?;
                    }
                    let _ = std::fs::write(&marker, b"");
                }
            }
        }
        let host = &rec.host_config;
        let mut merged = crate::spec::Merged {
            args: std::iter::once(rec.path.clone())
                .chain(rec.args.clone())
                .collect(),
            env: rec.config.env.clone().unwrap_or_default(),
            cwd: if rec.config.working_dir.is_empty() {
                "/".into()
            } else {
                rec.config.working_dir.clone()
            },
            user: rec.config.user.clone(),
        };
        if merged.cwd != "/" {
            crate::rootfs::mkdir_all(&rootfs, &merged.cwd).map_err(|e| {
                if e.raw_os_error() == Some(libc::ENOTDIR) {
                    // dockerd's words.
                    EngineError::InvalidArgument(format!(
                        "Cannot mkdir: {} is not a directory",
                        merged.cwd
                    ))
                } else {
                    EngineError::internal(format!("create working dir {}", merged.cwd), e)
                }
            })?;
        }
        crate::rootfs::check_executable(&rootfs, &merged.args[0], &merged.env)
            .map_err(|m| crate::error::process_start_failed(&m))?;
        let root_propagation = crate::mounts::check_propagation(&rec.mounts)?;
        let mut ns_paths = BTreeMap::new();
        // `--network container:X`: the container uses X's hostname and X's hosts,
        // hostname and resolv.conf files, as dockerd's do.
        let mut net_owner: Option<(String, PathBuf)> = None;
        for (ns, mode) in [
            ("pid", &host.pid_mode),
            ("network", &host.network_mode),
            ("ipc", &host.ipc_mode),
            ("uts", &host.uts_mode),
        ] {
            if let Some(other) = mode.strip_prefix("container:") {
                let o = self.get(other)?;
                if o.id == id && ns == "network" {
                    return Err(EngineError::InvalidArgument(
                        "cannot join own network".into(),
                    ));
                }
                let (running, pid) = {
                    let r = o.lock();
                    (r.state.running, r.state.pid)
                };
                if !running {
                    // dockerd's words, per namespace.
                    let id = &o.id;
                    return Err(EngineError::Conflict(match ns {
                        "network" => {
                            format!("cannot join network of a non running container: {id}")
                        }
                        "ipc" => format!(
                            "can't join IPC of container {id}: container {id} is not running"
                        ),
                        _ => format!("container {id} is not running"),
                    }));
                }
                if ns == "network" {
                    let hostname = o.lock().hostname.clone();
                    net_owner = Some((hostname, self.container_dir(&o.id)));
                }
                let nsname = if ns == "network" { "net" } else { ns };
                ns_paths.insert(ns, PathBuf::from(format!("/proc/{pid}/ns/{nsname}")));
            }
        }
        let mut etc = crate::mounts::etc_files(
            &dir,
            &rec.hostname,
            &host.network_mode,
            host.extra_hosts.as_deref().unwrap_or(&[]),
        )?;
        // A `--network none` container's spare namespace, held until the runtime joined it.
        let mut netns_hold = None;
        let link_env = self
            .net_start(&rec, &dir, &mut ns_paths, &mut netns_hold)
            .await?;
        crate::network::add_link_env(link_env, &mut merged.env);
        if let Some((_, odir)) = &net_owner {
            for m in &mut etc {
                let name = m["destination"]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches("/etc/");
                m["source"] = json!(odir.join(name));
            }
        }
        // The files go over the container's volumes and binds (a volume at /etc keeps
        // them), except where the user mounts one of them; read-only with --read-only.
        let mut mounts = crate::mounts::oci_mounts(
            &rec.mounts,
            host.mounts.as_deref().unwrap_or(&[]),
            crate::mounts::kernel_rro_support(),
        )?;
        for mut m in etc {
            let dst = m["destination"].as_str().unwrap_or("").to_owned();
            if rec
                .mounts
                .iter()
                .any(|p| p.destination.trim_end_matches('/') == dst)
            {
                continue;
            }
            if host.readonly_rootfs {
                m["options"] = json!(["rbind", "rprivate", "ro"]);
            }
            mounts.push(m);
        }
        let mut host_eff = host.clone();
        if host_eff.ulimits.as_ref().is_none_or(|u| u.is_empty())
            && !self.cfg.default_ulimits.is_empty()
        {
            host_eff.ulimits = Some(self.cfg.default_ulimits.clone());
        }
        let mut spec = crate::spec::build(crate::spec::SpecInput {
            id: &id,
            config: &rec.config,
            host: &host_eff,
            merged: &merged,
            rootfs: &rootfs,
            mounts,
            ns_paths,
            hostname: net_owner
                .as_ref()
                .map(|o| o.0.clone())
                .unwrap_or_else(|| rec.hostname.clone()),
            cgroups_path: format!("/berth/{id}"),
            init: if host.init == Some(true) {
                self.cfg.init_binary.clone()
            } else {
                None
            },
        })?;
        // A shared bind mount needs a shared root to propagate out of the container.
        if let Some(p) = root_propagation {
            spec["linux"]["rootfsPropagation"] = json!(p);
        }
        let t_spec = t0.elapsed();
        let bytes =
            serde_json::to_vec(&spec).map_err(|e| EngineError::internal("encode spec", e))?;
        let cfg_path = dir.join("config.json");
        let tmp = dir.join(".config.json.tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, &cfg_path))
            .map_err(|e| EngineError::internal(format!("write {}", cfg_path.display()), e))?;

        // A previous run's shim, runtime state and shim files must not linger. A shim that
        // still answers here is one whose start was never recorded (berthd ended meanwhile):
        // left alive it would delete this start's socket and runtime state when it exits.
        let state_dir = self.state_dir(&id);
        if shim::socket(&state_dir).exists() {
            self.end_shim(&id).await;
        }
        self.delete_runtime_state(&id).await;
        let _ = std::fs::remove_dir_all(&state_dir);
        std::fs::create_dir_all(&state_dir)
            .map_err(|e| EngineError::internal(format!("create {}", state_dir.display()), e))?;
        let (max_size, max_file) = self.log_limits(&rec.host_config.log_config.config);
        let console = rec
            .host_config
            .console_size
            .as_ref()
            .filter(|v| v.len() == 2 && v[0] > 0)
            .map(|v| (v[1], v[0]));
        let opts = shim::SpawnOpts {
            binary: self.cfg.shim_binary.clone(),
            id: id.clone(),
            bundle: dir.clone(),
            runtime_root: self.runtime.root().to_owned(),
            state_dir: state_dir.clone(),
            log_path: (!rec.log_path.is_empty()).then(|| PathBuf::from(&rec.log_path)),
            log_max_size: max_size,
            log_max_file: max_file,
            log_attrs: crate::logs::json_file_attrs(&rec),
            log_compress: rec
                .host_config
                .log_config
                .config
                .get("compress")
                .and_then(|v| crate::logs::parse_bool(v))
                .unwrap_or(false),
            tty: rec.config.tty,
            open_stdin: rec.config.open_stdin,
            // With a tty, an attach ending (detach) must not close the terminal's input.
            stdin_once: rec.config.stdin_once && !rec.config.tty,
            console,
            seccomp_cache: Some(self.cfg.exec_root.join("seccomp-cache")),
        };
        let t_spawn = t0.elapsed();
        let pid = shim::spawn(&opts).await?;
        drop(netns_hold);
        let t_created = t0.elapsed();
        // Attaches that arrived before the start get their streams before the process runs.
        let pend: Vec<PendingAttach> =
            std::mem::take(&mut *c.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for p in pend {
            match p.to {
                AttachTo::Relay(tx) => {
                    let r = shim::attach(&state_dir, p.stdin, p.stdout, p.stderr, None).await;
                    let _ = tx.send(r);
                }
                AttachTo::Handoff(rx) => {
                    // Written right after the 101 answer, which the client waits for before
                    // it asks for this start: at once in practice.
                    let Ok(Ok(h)) = tokio::time::timeout(Duration::from_secs(5), rx).await else {
                        continue;
                    };
                    let r = shim::attach_handoff(&state_dir, p.stdin, p.stdout, p.stderr, h);
                    if let Err(e) = r.await {
                        tracing::warn!(container = %c.id, error = %e, "attach handoff");
                    }
                }
            }
        }
        shim::request(&state_dir, json!({"op": "start"})).await?;
        {
            let mut r = c.lock();
            r.state.running = true;
            r.state.paused = false;
            r.state.restarting = false;
            r.state.dead = false;
            r.state.oom_killed = false;
            r.state.pid = pid;
            r.state.exit_code = 0;
            r.state.error.clear();
            r.state.status = "running".into();
            r.state.started_at = berth_runtime::state::now_rfc3339();
            r.has_been_started = true;
        }
        self.persist(c)?;
        self.emit_container(c, "start", &[]);
        c.life.send_modify(|l| l.running = true);
        let us = |d: Duration| d.as_micros() as u64;
        tracing::info!(container = %id, pid, spec_us = us(t_spec), spawn_us = us(t_spawn), created_us = us(t_created), total_us = us(t0.elapsed()), "started");
        self.spawn_monitor(c.clone());
        self.health_start(c, false);
        Ok(())
    }

    fn log_limits(&self, opts: &std::collections::BTreeMap<String, String>) -> (u64, u32) {
        let size = opts
            .get("max-size")
            .and_then(|s| crate::spec::human_size(s))
            .map(|n| n.max(0) as u64)
            .unwrap_or(self.cfg.log_max_size);
        let files = opts
            .get("max-file")
            .and_then(|s| s.parse().ok())
            .unwrap_or(self.cfg.log_max_file);
        (size, files.max(1))
    }

    async fn delete_runtime_state(&self, id: &str) {
        // Usually there is none (a first start, or the shim deleted it): a stat, not a
        // trip through the blocking pool.
        if !self.runtime.dir(id).exists() {
            return;
        }
        let store = berth_runtime::state::Store::new(self.runtime.root().to_owned());
        let id = id.to_owned();
        let _ = tokio::task::spawn_blocking(move || {
            let _ = berth_runtime::container::delete(&store, &id, true);
        })
        .await;
    }

    pub(crate) fn spawn_monitor(self: &Arc<Self>, c: Arc<Container>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let state_dir = engine.state_dir(&c.id);
            let exit = loop {
                match shim::wait(&state_dir).await {
                    Ok(e) => break e,
                    Err(err) => {
                        if let Some(e) = shim::read_exit_file(&state_dir) {
                            break e;
                        }
                        // The shim is gone without an exit record: it was killed.
                        if tokio::net::UnixStream::connect(shim::socket(&state_dir))
                            .await
                            .is_err()
                        {
                            tracing::warn!(container = %c.id, error = %err, "shim lost; container considered dead");
                            break Exit {
                                exit_code: 255,
                                finished_at: berth_runtime::state::now_rfc3339(),
                                oom_killed: false,
                            };
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            };
            engine.on_exit(&c, exit).await;
        });
    }

    /// Records an exit, releases the container's resources, and applies the restart
    /// policy or AutoRemove.
    pub(crate) async fn on_exit(self: &Arc<Self>, c: &Arc<Container>, exit: Exit) {
        let started_at;
        {
            let mut r = c.lock();
            r.state.running = false;
            r.state.paused = false;
            r.state.pid = 0;
            r.state.exit_code = exit.exit_code;
            r.state.oom_killed = exit.oom_killed;
            r.state.status = "exited".into();
            r.state.finished_at = if exit.finished_at.is_empty() {
                berth_runtime::state::now_rfc3339()
            } else {
                exit.finished_at.clone()
            };
            started_at = r.state.started_at.clone();
        }
        let _ = self.persist(c);
        self.emit_exit(c, &exit, &started_at);
        tracing::info!(container = %c.id, exit_code = exit.exit_code, "exited");
        let (policy, max, manual, auto_remove, count) = {
            let r = c.lock();
            (
                r.host_config.restart_policy.name.clone(),
                r.host_config.restart_policy.maximum_retry_count,
                r.manually_stopped,
                r.host_config.auto_remove,
                r.restart_count,
            )
        };
        let restart = !manual
            && match policy.as_str() {
                "always" | "unless-stopped" => true,
                "on-failure" => exit.exit_code != 0 && (max <= 0 || count < max),
                _ => false,
            };
        // A container about to be removed is cleaned up by its removal.
        if restart || !auto_remove {
            self.cleanup_after_exit(c).await;
        } else {
            c.cleanup_pending.store(true, Ordering::Release);
        }
        if restart {
            {
                let mut r = c.lock();
                r.state.restarting = true;
                r.state.status = "restarting".into();
            }
            let _ = self.persist(c);
        }
        c.life.send_modify(|l| {
            l.running = false;
            l.exits += 1;
            l.exit_code = exit.exit_code;
        });
        if restart {
            // Back-off: 100 ms doubling per consecutive quick failure, at most a minute;
            // a run of 10 s or more resets it.
            let ran = berth_image::timefmt::parse_rfc3339(&started_at)
                .map(|s| berth_image::timefmt::now() - s)
                .unwrap_or(0);
            let delay = if ran >= 10 {
                Duration::from_millis(100)
            } else {
                Duration::from_millis(100u64 << count.clamp(0, 10) as u32)
                    .min(Duration::from_secs(60))
            };
            let engine = self.clone();
            let c = c.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _op = c.op.lock().await;
                let still = engine.get(&c.id).is_ok() && {
                    let r = c.lock();
                    !r.manually_stopped && r.state.restarting && !r.state.running
                };
                if !still {
                    return;
                }
                c.lock().restart_count += 1;
                if let Err(e) = engine.start_locked(&c).await {
                    tracing::warn!(container = %c.id, error = %e, "restart failed");
                    c.lock().state.restarting = false;
                    let _ = engine.persist(&c);
                }
            });
        } else if auto_remove {
            let engine = self.clone();
            let c = c.clone();
            tokio::spawn(async move {
                let _op = c.op.lock().await;
                // A `restart` holds the op lock across this exit and starts it again:
                // then the container stays (as with Docker).
                if c.lock().state.running {
                    return;
                }
                if let Err(e) = engine.remove_locked(&c, true, true).await {
                    tracing::warn!(container = %c.id, error = %e, "auto-remove failed");
                }
            });
        }
    }

    /// After the process is gone: tell the shim to exit, drop runtime state, unmount.
    async fn cleanup_after_exit(&self, c: &Container) {
        self.shim_teardown(&c.id).await;
        self.release_after_exit(c).await;
    }

    /// Ends a container's shim and deletes its runtime state (the shim deletes it itself
    /// when it sees the exit; this covers a shim that died). The shim answers `shutdown`
    /// only after that delete, so awaiting this orders any later use of the id after it.
    async fn shim_teardown(&self, id: &str) {
        let state_dir = self.state_dir(id);
        if tokio::time::timeout(
            Duration::from_secs(2),
            shim::request(&state_dir, json!({"op": "shutdown"})),
        )
        .await
        .is_err()
        {
            tracing::debug!(container = %id, "shim shutdown timed out");
        }
        self.delete_runtime_state(id).await;
    }

    /// What a stopped container still holds that others can see: its root filesystem
    /// mount, its volumes, its network endpoints.
    async fn release_after_exit(&self, c: &Container) {
        crate::mounts::unmount(&self.rootfs(&c.id));
        self.release_volumes(c);
        self.drop_unstarted_execs(&c.id);
        self.builtin_network_disconnect(c);
        self.net_release(&c.id).await;
    }

    /// The `network disconnect` event of a container in `none` or `host` mode (a bridge
    /// network's comes with its endpoint's release).
    fn builtin_network_disconnect(&self, c: &Container) {
        let mode = {
            let g = c.lock();
            // (`NetworkDisabled` ran as `none`, as its start chose)
            if crate::network::network_disabled(&g.config) {
                "none".to_owned()
            } else {
                g.host_config.network_mode.clone()
            }
        };
        if matches!(mode.as_str(), "none" | "host") {
            self.emit_builtin_network(&mode, &c.id, "disconnect");
        }
    }

    /// Waits until the exit counter passes `seen`; false on timeout.
    async fn wait_exit_after(&self, c: &Container, seen: u64, timeout: Duration) -> bool {
        let mut rx = c.life.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|l| l.exits > seen || l.removed))
            .await
            .is_ok()
    }

    /// `POST /containers/{id}/stop`.
    pub async fn stop(
        self: &Arc<Self>,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        self.stop_locked(&c, signal, timeout).await?;
        self.emit_container(&c, "stop", &[]);
        Ok(())
    }

    async fn stop_locked(
        &self,
        c: &Arc<Container>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let (running, restarting, stop_signal, stop_timeout) = {
            let mut r = c.lock();
            r.manually_stopped = true;
            let wasr = r.state.restarting;
            r.state.restarting = false;
            (
                r.state.running,
                wasr,
                r.config.stop_signal.clone(),
                r.config.stop_timeout,
            )
        };
        let _ = self.persist(c);
        if !running {
            if restarting {
                return Ok(());
            }
            return Err(EngineError::NotModified("container already stopped".into()));
        }
        let sig = parse_signal(signal.or(stop_signal.as_deref()).unwrap_or("SIGTERM"))?;
        let secs = timeout.or(stop_timeout).unwrap_or(10);
        let seen = c.life.borrow().exits;
        let state_dir = self.state_dir(&c.id);
        if c.lock().state.paused {
            let _ = self.unpause_inner(c).await;
        }
        if let Err(e) = shim::request(
            &state_dir,
            json!({"op": "kill", "signal": sig, "all": false}),
        )
        .await
        {
            tracing::debug!(container = %c.id, error = %e, "stop signal not delivered");
        }
        self.emit_container(c, "kill", &[("signal", &sig.to_string())]);
        let wait = if secs < 0 {
            Duration::from_secs(u64::MAX / 4)
        } else {
            Duration::from_secs(secs as u64)
        };
        if self.wait_exit_after(c, seen, wait).await {
            return Ok(());
        }
        tracing::info!(container = %c.id, timeout = secs, "stop timed out; killing");
        self.emit_container(c, "kill", &[("signal", "9")]);
        let _ = shim::request(
            &state_dir,
            json!({"op": "kill", "signal": libc::SIGKILL, "all": true}),
        )
        .await;
        if !self.wait_exit_after(c, seen, Duration::from_secs(30)).await {
            return Err(EngineError::Internal(format!(
                "container {} did not exit after SIGKILL",
                c.id
            )));
        }
        Ok(())
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill(&self, name: &str, signal: Option<&str>) -> Result<()> {
        let signal = signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL");
        // A number Linux has no signal for: dockerd parses it, finds the container, then
        // refuses the number.
        let unsupported = signal
            .parse::<u32>()
            .ok()
            .filter(|n| *n == 32 || *n == 33 || *n > 64);
        let sig = match unsupported {
            Some(_) => 0,
            None => parse_signal(signal)?,
        };
        let c = self.get(name).map_err(|e| match e {
            EngineError::NotFound(m) => {
                EngineError::NotFound(format!("Cannot kill container: {name}: {m}"))
            }
            e => e,
        })?;
        if let Some(n) = unsupported {
            return Err(EngineError::InvalidArgument(format!(
                "Cannot kill container: {name}: The linux daemon does not support signal {n}"
            )));
        }
        if !c.lock().state.running {
            return Err(EngineError::Conflict(format!(
                "Cannot kill container: {name}: Container {} is not running",
                c.id
            )));
        }
        if sig == libc::SIGKILL || sig == libc::SIGTERM || sig == libc::SIGINT {
            // A user's kill of the main process counts as a manual stop for restart policies.
            c.lock().manually_stopped = true;
            let _ = self.persist(&c);
        }
        shim::request(
            &self.state_dir(&c.id),
            json!({"op": "kill", "signal": sig, "all": false}),
        )
        .await?;
        self.emit_container(&c, "kill", &[("signal", &sig.to_string())]);
        // A paused container is thawed so the signal is delivered, as dockerd does.
        if c.lock().state.paused {
            match self.unpause_inner(&c).await {
                Ok(()) => self.emit_container(&c, "unpause", &[]),
                Err(e) => {
                    tracing::warn!(container = %c.id, error = %e, "unpause after kill failed")
                }
            }
        }
        // dockerd's kill with SIGKILL returns once the container is gone.
        if sig == libc::SIGKILL {
            // (a --rm container may already be gone: the kill still worked)
            if let Ok(exited) = self.wait(&c.id, WaitCondition::NotRunning) {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(30), exited).await;
            }
        }
        Ok(())
    }

    /// `POST /containers/{id}/restart`.
    pub async fn restart(
        self: &Arc<Self>,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        // Persisted by the stop: what a berthd killed before the start finishes.
        c.lock().restart_requested = true;
        let stopped = self.stop_locked(&c, signal, timeout).await;
        {
            let mut r = c.lock();
            r.manually_stopped = false;
            r.restart_requested = false;
        }
        match stopped {
            Ok(()) => self.emit_container(&c, "stop", &[]),
            Err(EngineError::NotModified(_)) => {}
            Err(e) => {
                let _ = self.persist(&c);
                return Err(e);
            }
        }
        if let Err(e) = self.start_locked(&c).await {
            let _ = self.persist(&c);
            return Err(e);
        }
        self.emit_container(&c, "restart", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/pause`.
    pub async fn pause(&self, name: &str) -> Result<()> {
        let c = self.get(name)?;
        {
            let r = c.lock();
            if !r.state.running {
                return Err(EngineError::Conflict(format!(
                    "Container {} is not running",
                    c.id
                )));
            }
            if r.state.paused {
                return Err(EngineError::Conflict(format!(
                    "Container {} is already paused",
                    c.id
                )));
            }
        }
        let store = berth_runtime::state::Store::new(self.runtime.root().to_owned());
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || berth_runtime::container::pause(&store, &id))
            .await
            .map_err(|e| EngineError::internal("pause", e))?
            .map_err(|e| EngineError::internal("pause", e))?;
        {
            let mut r = c.lock();
            r.state.paused = true;
            r.state.status = "paused".into();
        }
        self.persist(&c)?;
        self.emit_container(&c, "pause", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn unpause(&self, name: &str) -> Result<()> {
        let c = self.get(name)?;
        if !c.lock().state.paused {
            return Err(EngineError::Conflict(format!(
                "Container {} is not paused",
                c.id
            )));
        }
        self.unpause_inner(&c).await?;
        self.emit_container(&c, "unpause", &[]);
        Ok(())
    }

    async fn unpause_inner(&self, c: &Container) -> Result<()> {
        let store = berth_runtime::state::Store::new(self.runtime.root().to_owned());
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || berth_runtime::container::resume(&store, &id))
            .await
            .map_err(|e| EngineError::internal("unpause", e))?
            .map_err(|e| EngineError::internal("unpause", e))?;
        {
            let mut r = c.lock();
            r.state.paused = false;
            r.state.status = "running".into();
        }
        self.persist(c)
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove(self: &Arc<Self>, name: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        self.remove_locked(&c, force, volumes).await
    }

    /// Removes a container whose `op` lock the caller holds.
    pub(crate) async fn remove_locked(
        self: &Arc<Self>,
        c: &Arc<Container>,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        if self.get(&c.id).is_err() {
            return Ok(());
        }
        let (running, paused) = {
            let r = c.lock();
            (r.state.running, r.state.paused)
        };
        if running {
            if !force {
                return Err(EngineError::Conflict(if paused {
                    format!(
                        "You cannot remove a paused container {}. Unpause and then stop the container before attempting removal or force remove",
                        c.id
                    )
                } else {
                    format!(
                        "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                        c.id
                    )
                }));
            }
            self.stop_locked(c, Some("SIGKILL"), Some(0))
                .await
                .or_else(|e| match e {
                    EngineError::NotModified(_) => Ok(()),
                    e => Err(e),
                })?;
        }
        c.lock().manually_stopped = true;
        let id = c.id.clone();
        // What others can see goes before the answer: the mount, volumes, network, record,
        // name, directory. The shim and the runtime state of an id that no longer exists
        // are torn down after it (nothing can name that id again; restore sweeps what a
        // crash leaves), which takes ~1 ms off every `run --rm`. So is the root filesystem's
        // unmount (a kernel RCU grace period, 0.3-4 ms here): the mount goes to the trash
        // with the directory and is detached there (`discard_dir`).
        self.release_volumes(c);
        if c.cleanup_pending.load(Ordering::Acquire) {
            // An auto-removed container's exit left its release to this removal.
            self.builtin_network_disconnect(c);
        }
        self.net_release(&c.id).await;
        self.db.delete(&id)?;
        self.net_forget(&id);
        self.containers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        self.execs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, e| e.container != id);
        if let Err(e) = self.db.delete_execs(None, Some(&id)) {
            tracing::warn!(container = %id, error = %e, "exec sessions not deleted");
        }
        self.discard_dir(&self.container_dir(&id), &id);
        if volumes {
            // Anonymous volumes go with their container (see volumes.rs).
            let rec = c.rec();
            self.remove_anonymous_volumes(&rec.mounts, &rec.host_config);
        }
        c.life.send_modify(|l| l.removed = true);
        self.emit_container(c, "destroy", &[]);
        let engine = self.clone();
        let gone = id.clone();
        tokio::spawn(async move {
            engine.shim_teardown(&gone).await;
            let _ = std::fs::remove_dir_all(engine.state_dir(&gone));
        });
        tracing::info!(container = %id, "removed");
        Ok(())
    }

    /// `POST /containers/{id}/wait`: resolves to the exit code. The condition is taken
    /// at call time, so callers register before starting (as `docker run` does).
    pub fn wait(
        &self,
        name: &str,
        cond: WaitCondition,
    ) -> Result<impl std::future::Future<Output = i64> + Send + 'static> {
        let c = self.get(name)?;
        let mut rx = c.life.subscribe();
        let (seen, running, code) = {
            let l = rx.borrow();
            (l.exits, l.running, l.exit_code)
        };
        let restarting = c.lock().state.restarting;
        Ok(async move {
            if cond == WaitCondition::NotRunning && !running && !restarting {
                return code;
            }
            let r = rx
                .wait_for(|l| match cond {
                    WaitCondition::Removed => l.removed,
                    _ => l.exits > seen || l.removed,
                })
                .await;
            match r {
                Ok(l) => l.exit_code,
                Err(_) => code,
            }
        })
    }

    /// `POST /containers/{id}/attach`: the shim's stream (multiplexed frames).
    pub async fn attach(
        &self,
        name: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<(AttachHandle, bool)> {
        let c = self.get(name)?;
        let (running, tty) = {
            let r = c.lock();
            (r.state.running, r.config.tty)
        };
        self.emit_container(&c, "attach", &[]);
        if running {
            let s = shim::attach(&self.state_dir(&c.id), stdin, stdout, stderr, None).await?;
            return Ok((AttachHandle::Ready(s), tty));
        }
        let (tx, rx) = oneshot::channel();
        c.add_pending(PendingAttach {
            stdin,
            stdout,
            stderr,
            to: AttachTo::Relay(tx),
        });
        Ok((AttachHandle::Pending(rx), tty))
    }

    /// Whether a container has a terminal (its attach stream is then raw, not multiplexed).
    pub fn is_tty(&self, name: &str) -> Result<bool> {
        Ok(self.get(name)?.lock().config.tty)
    }

    /// `attach` where the client's own connection becomes the stream: once `conn` yields
    /// it, the shim writes the multiplexed frames to it and reads stdin from it, and
    /// berthd is out of the data path (and a restart of berthd does not end the attach).
    /// For containers without a terminal (the shim frames the output as the API does).
    pub async fn attach_handoff(
        &self,
        name: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        conn: oneshot::Receiver<Handoff>,
    ) -> Result<()> {
        let c = self.get(name)?;
        let running = c.lock().state.running;
        self.emit_container(&c, "attach", &[]);
        if running {
            let dir = self.state_dir(&c.id);
            tokio::spawn(async move {
                if let Ok(h) = conn.await
                    && let Err(e) = shim::attach_handoff(&dir, stdin, stdout, stderr, h).await
                {
                    tracing::debug!(error = %e, "attach handoff");
                }
            });
            return Ok(());
        }
        c.add_pending(PendingAttach {
            stdin,
            stdout,
            stderr,
            to: AttachTo::Handoff(conn),
        });
        Ok(())
    }

    /// `POST /containers/{id}/resize`.
    pub async fn resize(&self, name: &str, h: u16, w: u16) -> Result<()> {
        let c = self.get(name)?;
        if !c.lock().state.running {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        shim::request(
            &self.state_dir(&c.id),
            json!({"op": "resize", "width": w, "height": h}),
        )
        .await?;
        self.emit_container(
            &c,
            "resize",
            &[("height", &h.to_string()), ("width", &w.to_string())],
        );
        Ok(())
    }

    /// Reconnects to the shims of containers that were running when berthd stopped,
    /// records the exits that happened meanwhile, and brings back `always` /
    /// `unless-stopped` containers after a reboot.
    pub async fn restore(self: &Arc<Self>) {
        self.sweep_orphans().await;
        // Blobs and snapshots a crash left unreferenced (a load or pull cut short): a
        // collection now, keeping what containers sit on (a write that starts meanwhile
        // makes it wait, see `ImageStore::writing`).
        let (images, keep) = (self.images.clone(), self.container_chains());
        match tokio::task::spawn_blocking(move || images.gc(&keep)).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "image gc at start"),
            Ok(Ok(r)) if r.blobs_removed + r.snapshots_removed > 0 => tracing::info!(
                blobs = r.blobs_removed,
                snapshots = r.snapshots_removed,
                "removed unreferenced image data"
            ),
            _ => {}
        }
        for c in self.all() {
            let (was_running, policy, manual) = {
                let r = c.lock();
                (
                    r.state.running || r.state.restarting,
                    r.host_config.restart_policy.name.clone(),
                    r.manually_stopped,
                )
            };
            let state_dir = self.state_dir(&c.id);
            let adopt = if was_running {
                true
            } else {
                self.settle_unrecorded_start(&c).await
            };
            if adopt {
                match shim::request(&state_dir, json!({"op": "state"})).await {
                    Ok(v) => {
                        let status = v.get("status").and_then(|s| s.as_str()).unwrap_or("");
                        tracing::info!(container = %c.id, status, "reconnected to shim");
                        if status == "paused" {
                            c.lock().state.paused = true;
                        }
                        if let Some(pid) = v.get("pid").and_then(|p| p.as_i64()) {
                            c.lock().state.pid = pid;
                        }
                        c.lock().state.running = true;
                        if !was_running {
                            let _ = self.persist(&c);
                        }
                        c.life.send_modify(|l| l.running = true);
                        self.spawn_monitor(c.clone());
                        self.health_start(&c, true);
                        continue;
                    }
                    Err(_) => {
                        let exit = shim::read_exit_file(&state_dir).unwrap_or_else(|| Exit {
                            exit_code: 255,
                            finished_at: berth_runtime::state::now_rfc3339(),
                            oom_killed: false,
                        });
                        tracing::info!(container = %c.id, exit_code = exit.exit_code, "container ended while berthd was down");
                        self.on_exit(&c, exit).await;
                        continue;
                    }
                }
            }
            let boot_restart = policy == "always" || (policy == "unless-stopped" && !manual);
            if boot_restart && c.lock().has_been_started {
                tracing::info!(container = %c.id, policy = %policy, "restarting on daemon start");
                let _op = c.op.lock().await;
                if let Err(e) = self.start_locked(&c).await {
                    tracing::warn!(container = %c.id, error = %e, "restart on daemon start failed");
                }
            }
        }
        self.finish_restarts();
        self.restore_execs();
    }

    /// Finishes the `restart`s a killed berthd left between their stop and their start
    /// (the user's last word was that these containers run): each is restarted again, in
    /// the background, whether it ended meanwhile or is still stopping. A `--rm` one is
    /// left to its removal, as when it stops.
    fn finish_restarts(self: &Arc<Self>) {
        for c in self.all() {
            let pending = {
                let r = c.lock();
                r.restart_requested && !r.host_config.auto_remove
            };
            if !pending {
                continue;
            }
            tracing::info!(container = %c.id, "finishing a restart cut short by berthd's end");
            let engine = self.clone();
            tokio::spawn(async move {
                if let Err(e) = engine.restart(&c.id, None, None).await {
                    tracing::warn!(container = %c.id, error = %e, "finishing a restart failed");
                }
            });
        }
    }

    /// A container recorded as not running may still have a shim: berthd ended between
    /// starting the shim and recording the start. A process that has run is adopted (the
    /// start happened; returns true); one still held before exec is ended with its shim (the
    /// start did not happen), so that it cannot outlive a later start and remove that start's
    /// socket. What such a start left (runtime state, the rootfs mount) is released.
    async fn settle_unrecorded_start(&self, c: &Container) -> bool {
        let state_dir = self.state_dir(&c.id);
        if shim::socket(&state_dir).exists() {
            match shim::request(&state_dir, json!({"op": "state"})).await {
                Ok(v) if v.get("status").and_then(|s| s.as_str()) != Some("created") => {
                    tracing::info!(container = %c.id, "adopting a start berthd had not recorded");
                    let mut r = c.lock();
                    r.has_been_started = true;
                    r.state.status = "running".into();
                    r.state.started_at = berth_runtime::state::now_rfc3339();
                    return true;
                }
                Ok(_) => {
                    tracing::info!(container = %c.id, "ending a start berthd did not finish");
                    self.end_shim(&c.id).await;
                }
                Err(_) => {}
            }
        }
        self.delete_runtime_state(&c.id).await;
        crate::mounts::unmount(&self.rootfs(&c.id));
        false
    }

    /// Ends a shim whatever its container is doing: SIGKILL to all its processes, then
    /// `shutdown`, awaited (see [`Self::shim_teardown`]).
    async fn end_shim(&self, id: &str) {
        let state_dir = self.state_dir(id);
        let _ = shim::request(
            &state_dir,
            json!({"op": "kill", "signal": libc::SIGKILL, "all": true}),
        )
        .await;
        self.shim_teardown(id).await;
    }

    /// Shim state of containers that no longer exist: a removal tears it down after it
    /// answers, so a crash at that moment leaves it behind.
    async fn sweep_orphans(&self) {
        let known: std::collections::HashSet<String> =
            self.all().iter().map(|c| c.id.clone()).collect();
        let dir = self.cfg.exec_root.join("containers");
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Some(id) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if known.contains(&id) {
                continue;
            }
            tracing::info!(container = %id, "removing what is left of a removed container");
            self.shim_teardown(&id).await;
            let _ = std::fs::remove_dir_all(e.path());
        }
    }

    /// Stops waiting tasks cleanly at daemon shutdown: containers keep running (live
    /// restore); nothing to do but flush the store.
    pub fn shutdown(&self) {
        tracing::info!(
            containers = self.all().len(),
            "engine shutting down; containers keep running"
        );
    }
}

/// The exit code Docker gives a process that could not be started: 127 when the command
/// is not there, 126 when it may not be run; None for other failures.
pub(crate) fn start_error_code(msg: &str) -> Option<i64> {
    // A working directory that is not there is the runtime's failure, not the command's.
    if msg.contains("chdir to cwd") {
        Some(126)
    } else if msg.contains("executable file not found") || msg.contains("no such file") {
        Some(127)
    } else if msg.contains("permission denied") {
        Some(126)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_short_name_and_number() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("kill").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert!(parse_signal("SIGNOPE").is_err());
        // dockerd's real-time names.
        assert_eq!(parse_signal("RTMIN").unwrap(), 34);
        assert_eq!(parse_signal("SIGRTMIN+1").unwrap(), 35);
        assert_eq!(parse_signal("rtmin+15").unwrap(), 49);
        assert_eq!(parse_signal("RTMAX-14").unwrap(), 50);
        assert_eq!(parse_signal("RTMAX").unwrap(), 64);
        for bad in ["RTMIN+16", "RTMAX-15", "RTMIN+0", "RTMIN+", "RTMAX+1"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
        assert!(parse_signal("0").is_err());
    }
}
