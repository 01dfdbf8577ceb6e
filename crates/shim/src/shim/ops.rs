//! The requests of PROTOCOL.md, one method per connection's request line.

use std::time::{Duration, Instant};

use berth_runtime::container;
use berth_runtime::state::Status;

use super::{MAX_FINISHED_EXECS, Phase, Shim, set_winsize};
use std::os::fd::AsFd;

use crate::conn::{Attach, Client, Role, Target};
use crate::exec::Exec;
use crate::proto::{self, Request};
use crate::sys;

impl Shim {
    pub(super) fn request(&mut self, i: usize, line: &[u8], rest: &[u8]) {
        let answer = match proto::parse(line) {
            Err(e) => Err(e),
            Ok(req) => self.handle(i, req, rest),
        };
        let c = &mut self.clients[i];
        match answer {
            Ok(Some(line)) => c.respond(&line),
            Ok(None) => {}
            Err(e) => c.respond(&proto::error_line(&e)),
        }
    }

    /// Runs one request. Ok(Some(line)): answer and close; Ok(None): the client was parked
    /// or attached (and already got what it needs).
    pub(super) fn handle(
        &mut self,
        i: usize,
        req: Request,
        rest: &[u8],
    ) -> std::result::Result<Option<Vec<u8>>, String> {
        let ok = || Ok(Some(proto::OK.to_vec()));
        let id = self.args.id.clone();
        match req {
            Request::Start => {
                self.trim_pending = true;
                self.reap();
                match self.phase {
                    Phase::Created => {}
                    Phase::Running => return Err("container is already running".into()),
                    _ => return Err("container has exited".into()),
                }
                container::start(&self.store, &id, Some(&self.poststart))
                    .map_err(|e| e.to_string())?;
                self.phase = Phase::Running;
                ok()
            }
            Request::State => {
                let (status, code) = match &self.phase {
                    Phase::Created => ("created", None),
                    Phase::Running | Phase::Exiting { .. } => {
                        let paused = self
                            .store
                            .load(&id)
                            .map(|s| container::status(&self.store, &s) == Status::Paused)
                            .unwrap_or(false);
                        (if paused { "paused" } else { "running" }, None)
                    }
                    Phase::Exited(e) => ("exited", Some(e.code)),
                };
                Ok(Some(proto::line(&serde_json::json!({
                    "pid": self.init_pid, "status": status, "exit_code": code,
                }))))
            }
            Request::Wait => match self.exited() {
                Some(e) => Ok(Some(proto::line(&e.json()))),
                None => {
                    self.clients[i].role = Role::Wait(Target::Main);
                    Ok(None)
                }
            },
            Request::Kill { signal, all } => {
                if !matches!(self.phase, Phase::Created | Phase::Running) {
                    return Err("container is not running".into());
                }
                container::kill(&self.store, &id, signal, all).map_err(|e| e.to_string())?;
                ok()
            }
            Request::Pause | Request::Resume => {
                if !matches!(self.phase, Phase::Created | Phase::Running) {
                    return Err("container is not running".into());
                }
                let r = if matches!(req, Request::Pause) {
                    container::pause(&self.store, &id)
                } else {
                    container::resume(&self.store, &id)
                };
                r.map_err(|e| e.to_string())?;
                ok()
            }
            Request::Resize {
                width,
                height,
                exec_id,
            } => {
                match exec_id {
                    None => match &self.io.master {
                        Some(m) => set_winsize(m, width, height),
                        None => return Err("container has no terminal".into()),
                    },
                    Some(x) => {
                        let e = self.exec_mut(&x)?;
                        if !e.tty {
                            return Err(format!("exec {x} has no terminal"));
                        }
                        e.size = Some((width, height));
                        if let Some(m) = &e.io.master {
                            set_winsize(m, width, height);
                        }
                    }
                }
                ok()
            }
            Request::Attach {
                stdin,
                stdout,
                stderr,
                exec_id,
                handoff,
            } => {
                let (target, done, tty) = match exec_id {
                    None => (Target::Main, self.exited().is_some(), self.args.tty),
                    Some(x) => {
                        let e = self.exec_mut(&x)?;
                        (Target::Exec(e.key), e.finished(), e.tty)
                    }
                };
                let attach = Attach {
                    target,
                    stdin,
                    // With a terminal everything is stream 1.
                    streams: [stdout || (tty && stderr), stderr && !tty],
                };
                let handed = if handoff {
                    let fd = self.clients[i]
                        .passed
                        .take()
                        .ok_or("attach handoff without a descriptor")?;
                    sys::set_nonblock(fd.as_fd()).map_err(|e| e.to_string())?;
                    Some(fd)
                } else {
                    None
                };
                let c = match handed {
                    Some(fd) => {
                        // The stream is the client's connection; this one is answered.
                        let mut c = Client::new(fd);
                        c.direct = true;
                        self.clients.push(c);
                        self.clients.last_mut().expect("just pushed")
                    }
                    None => &mut self.clients[i],
                };
                c.role = Role::Attached(attach);
                if !handoff {
                    c.send(proto::OK, &[]);
                }
                if done {
                    c.close_after_flush();
                } else if stdin
                    && !rest.is_empty()
                    && let Some(io) = self.io_of(target)
                {
                    io.write_stdin(rest);
                }
                if handoff { ok() } else { Ok(None) }
            }
            Request::Exec {
                exec_id,
                process,
                tty,
                stdin,
            } => {
                if !matches!(self.phase, Phase::Created | Phase::Running) {
                    return Err("container is not running".into());
                }
                if self.execs.iter().any(|e| e.id == exec_id) {
                    return Err(format!("exec {exec_id} already exists"));
                }
                let key = self.next_exec_key;
                self.next_exec_key += 1;
                self.execs
                    .push(Exec::new(key, exec_id, process, tty, stdin));
                self.prune_execs();
                ok()
            }
            Request::ExecStart { exec_id } => {
                self.reap();
                if !matches!(self.phase, Phase::Running) {
                    return Err("container is not running".into());
                }
                let cache = self.args.seccomp_cache.clone();
                let idx = self
                    .execs
                    .iter()
                    .position(|e| e.id == exec_id)
                    .ok_or_else(|| format!("no such exec {exec_id}"))?;
                let r = self.execs[idx].spawn(&self.store, &id, cache);
                self.trim_pending = true;
                match r {
                    Ok(pid) => Ok(Some(proto::line(&serde_json::json!({ "pid": pid })))),
                    Err(e) => {
                        let t = Target::Exec(self.execs[idx].key);
                        self.finish_waiters(t);
                        Err(e)
                    }
                }
            }
            Request::ExecWait { exec_id } => {
                let e = self.exec_mut(&exec_id)?;
                if let Some(code) = e.exit_code() {
                    return Ok(Some(proto::line(&serde_json::json!({ "exit_code": code }))));
                }
                let t = Target::Exec(e.key);
                self.clients[i].role = Role::Wait(t);
                Ok(None)
            }
            Request::Shutdown => {
                self.delete_container();
                self.shutdown = Some(Instant::now() + Duration::from_secs(5));
                ok()
            }
        }
    }

    pub(super) fn exec_mut(&mut self, id: &str) -> std::result::Result<&mut Exec, String> {
        self.execs
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or_else(|| format!("no such exec {id}"))
    }

    /// Drops the oldest finished execs beyond [`MAX_FINISHED_EXECS`].
    pub(super) fn prune_execs(&mut self) {
        let finished = self.execs.iter().filter(|e| e.finished()).count();
        let mut extra = finished.saturating_sub(MAX_FINISHED_EXECS);
        self.execs.retain(|e| {
            if extra > 0 && e.finished() {
                extra -= 1;
                false
            } else {
                true
            }
        });
    }
}
