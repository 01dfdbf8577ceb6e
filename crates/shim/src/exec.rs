//! Exec processes: registered by `exec`, started by `exec_start` (a child of the shim, in the
//! container's namespaces and cgroup), their output only to attached clients (Docker does
//! not log exec output), their exit code kept for `exec_wait`.

use std::path::PathBuf;
use std::time::Instant;

use berth_runtime::exec::{self, ExecOpts};
use berth_runtime::state::Store;
use oci_spec::runtime::{BoxBuilder, Process};

use crate::io::Io;

#[derive(Debug)]
pub enum ExecState {
    Registered(Box<Process>),
    Running {
        pid: i32,
    },
    /// Reaped; output still draining.
    Exiting {
        code: i32,
        since: Instant,
    },
    Exited {
        code: i32,
    },
}

pub struct Exec {
    pub key: u64,
    pub id: String,
    pub tty: bool,
    pub stdin: bool,
    pub state: ExecState,
    pub io: Io,
    /// Terminal size asked for before the start.
    pub size: Option<(u16, u16)>,
}

impl Exec {
    pub fn new(key: u64, id: String, process: Box<Process>, tty: bool, stdin: bool) -> Exec {
        Exec {
            key,
            id,
            tty,
            stdin,
            state: ExecState::Registered(process),
            io: Io::default(),
            size: None,
        }
    }

    pub fn finished(&self) -> bool {
        matches!(self.state, ExecState::Exited { .. })
    }

    /// The exit code once the process has exited and its output is drained.
    pub fn exit_code(&self) -> Option<i32> {
        match self.state {
            ExecState::Exited { code } => Some(code),
            _ => None,
        }
    }

    /// Starts the process; returns its pid once it has called execve. A failed start is
    /// recorded as exited with 126, whatever the cause, as dockerd records a failed exec.
    pub fn spawn(
        &mut self,
        store: &Store,
        container: &str,
        seccomp_cache: Option<PathBuf>,
    ) -> Result<i32, String> {
        let process = match &self.state {
            ExecState::Registered(p) => p,
            _ => return Err(format!("exec {} was already started", self.id)),
        };
        let mut p = (**process).clone();
        p.set_terminal(Some(self.tty));
        if self.tty
            && let Some((w, h)) = self.size
        {
            let b = BoxBuilder::default()
                .width(w as u64)
                .height(h as u64)
                .build()
                .ok();
            p.set_console_size(b);
        }
        let r = (|| -> Result<(Io, i32), String> {
            let (io, ends) = if self.tty {
                (None, None)
            } else {
                let (io, ends) = Io::pipes(self.stdin).map_err(|e| e.to_string())?;
                (Some(io), Some(ends))
            };
            let opts = ExecOpts {
                id: container.to_string(),
                tty: self.tty,
                seccomp_cache,
                stdio: ends.as_ref().map(|e| e.each_ref().map(crate::sys::raw)),
                process: Some(p),
                ..ExecOpts::default()
            };
            let sp = exec::spawn(store, &opts).map_err(|e| e.to_string())?;
            drop(ends);
            let io = match (io, sp.master) {
                (Some(io), _) => io,
                (None, Some(m)) => Io::pty(m, self.stdin).map_err(|e| e.to_string())?,
                (None, None) => Io::default(),
            };
            Ok((io, sp.pid))
        })();
        match r {
            Ok((io, pid)) => {
                self.io = io;
                self.state = ExecState::Running { pid };
                Ok(pid)
            }
            Err(e) => {
                self.state = ExecState::Exited { code: 126 };
                Err(e)
            }
        }
    }

    /// Exited and drained.
    pub fn finish(&mut self) {
        if let ExecState::Exiting { code, .. } = self.state {
            self.state = ExecState::Exited { code };
            self.io.close();
        }
    }
}
