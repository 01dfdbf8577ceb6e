//! The end of processes: reaping, draining their output, recording the container's exit,
//! and answering whoever waits for it.

use std::time::Instant;

use berth_runtime::container;

use super::{DELETE_DELAY, DRAIN_GRACE, ExitInfo, Phase, Shim};
use crate::conn::{Role, Target};
use crate::exec::{Exec, ExecState};
use crate::logfile::Stream;
use crate::{proto, sys};

impl Shim {
    /// Reaps every child that has exited: the init, exec processes, and orphans that were
    /// re-parented to us (we are a child subreaper).
    pub(super) fn reap(&mut self) {
        while let Some((pid, status)) = sys::reap_any() {
            let code = berth_runtime::console::exit_code(status);
            if pid == self.init_pid && matches!(self.phase, Phase::Created | Phase::Running) {
                self.phase = Phase::Exiting {
                    code,
                    finished_at: crate::clock::now_rfc3339_nano(),
                    since: Instant::now(),
                };
            } else if let Some(e) = self
                .execs
                .iter_mut()
                .find(|e| matches!(e.state, ExecState::Running { pid: p } if p == pid))
            {
                e.state = ExecState::Exiting {
                    code,
                    since: Instant::now(),
                };
            }
        }
    }

    /// Moves exits forward once their output is drained (or the grace time is over).
    pub(super) fn progress(&mut self, now: Instant) {
        if let Phase::Exiting { since, .. } = &self.phase
            && (!self.io.outputs_open() || now >= *since + DRAIN_GRACE)
        {
            self.finish_main();
        }
        let ready: Vec<u64> = self
            .execs
            .iter()
            .filter(|e| match e.state {
                ExecState::Exiting { since, .. } => {
                    !e.io.outputs_open() || now >= since + DRAIN_GRACE
                }
                _ => false,
            })
            .map(|e| e.key)
            .collect();
        for k in ready {
            self.drain(Target::Exec(k));
            if let Some(e) = self.execs.iter_mut().find(|e| e.key == k) {
                e.finish();
            }
            self.finish_waiters(Target::Exec(k));
        }
        if self.exited().is_some() && self.shutdown.is_none() {
            if self.clients.is_empty() {
                self.idle_since.get_or_insert(now);
            } else {
                self.idle_since = None;
            }
        }
    }

    /// Reads what is left in a process's pipes, ignoring back-pressure.
    pub(super) fn drain(&mut self, t: Target) {
        for i in 0..2 {
            for _ in 0..64 {
                if !self.read_output(t, i) {
                    break;
                }
            }
        }
    }

    /// The init has exited and its output is drained: log the last partial lines, check
    /// for an OOM kill, record the exit, answer the waiters, delete the container.
    pub(super) fn finish_main(&mut self) {
        let Phase::Exiting {
            code, finished_at, ..
        } = &self.phase
        else {
            return;
        };
        let (code, finished_at) = (*code, finished_at.clone());
        self.drain(Target::Main);
        if let Some(log) = &mut self.log {
            let mut ts = [0u8; 40];
            let tl = crate::clock::format_now(&mut ts);
            for (i, s) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
                self.lines[i].finish(|a, b| log.entry(s, a, b, &ts[..tl]));
            }
            log.flush();
        }
        let oom_killed = self
            .cgroup
            .as_ref()
            .and_then(|c| c.oom_kills().ok())
            .is_some_and(|n| n > self.oom_before);
        let info = ExitInfo {
            code,
            finished_at,
            oom_killed,
        };
        let _ = sys::write_atomic(&self.exit_path, &proto::line(&info.json()));
        self.io.close();
        self.phase = Phase::Exited(info);
        // The waiters learn the exit first, and the runtime state and cgroup are deleted
        // a little later (a v1 cgroup's directories alone take ~0.3 ms): done at once, that
        // work held the CPU that the woken berthd thread had been queued on, and every `run
        // --rm` waited for it. berthd's `shutdown` (which it awaits before it reuses or
        // removes the container) is answered only after the delete.
        self.finish_waiters(Target::Main);
        self.delete_at = Some(Instant::now() + DELETE_DELAY);
    }

    /// Deletes the exited container's runtime state and cgroup, once.
    pub(super) fn delete_container(&mut self) {
        if self.delete_at.take().is_none() {
            return;
        }
        let _ = container::delete(&self.store, &self.args.id, true);
        // delete() killed whatever was left in the cgroup (exec processes included).
        self.reap();
        self.trim_pending = true;
    }

    /// Answers the parked waits for `t` and ends its attach streams.
    pub(super) fn finish_waiters(&mut self, t: Target) {
        let answer = match t {
            Target::Main => self.exited().map(|e| proto::line(&e.json())),
            Target::Exec(k) => self
                .execs
                .iter()
                .find(|e| e.key == k)
                .and_then(Exec::exit_code)
                .map(|code| proto::line(&serde_json::json!({ "exit_code": code }))),
        };
        for c in &mut self.clients {
            match &c.role {
                Role::Wait(w) if *w == t => match &answer {
                    Some(a) => c.respond(a),
                    None => c.respond(&proto::error_line("process is gone")),
                },
                Role::Attached(a) if a.target == t => c.close_after_flush(),
                _ => {}
            }
        }
    }
}
