//! berth-shim: the per-container monitor (DESIGN.md, "Processes"; the contract with berthd
//! is PROTOCOL.md next to this crate).
//!
//! berthd starts one per container. The shim, not berthd, is the container's parent: it
//! holds the container's stdio (pipes or the pty master), writes the json-file log, serves
//! attach/resize/kill/exec on its own unix socket, reaps the container and its exec
//! processes, and records the exit status atomically. Killing or upgrading berthd therefore
//! leaves the container running and logging.
//!
//! It is small and synchronous on purpose: one poll(2) loop, no threads (the runtime
//! library forks container processes from this process), no async runtime, a few hundred
//! KiB of memory per container.

mod args;
mod clock;
mod compress;
mod conn;
mod error;
mod exec;
mod io;
mod logfile;
mod proto;
mod shim;
mod sys;

use std::io::{BufRead, Write};
use std::os::fd::OwnedFd;

fn main() {
    // Container processes are forks of this binary until they exec: run from a read-only view
    // of it, so nothing in a container can write the shim through /proc/PID/exe
    // (CVE-2019-5736; berth-runtime does the same).
    if let Err(e) = berth_runtime::exe_guard::ensure() {
        report_and_exit(
            &proto::error_line(&format!("protecting the shim binary: {e}")),
            1,
        );
    }
    berth_runtime::exe_guard::clear_marker();
    // berthd's cgroup layout, so that creating a container does not read /proc/self/mountinfo
    // (it grows with every running container's mounts).
    berth_cgroups::Hierarchy::adopt_layout_from_env();
    sys::default_signals();
    // Descriptors berthd (or a test harness) leaked to us would otherwise be held for the
    // container's whole life, and passed on to every process the runtime forks.
    sys::close_inherited();
    // `--standby`: berthd starts a shim before it is needed and sends the arguments on
    // stdin when a container starts (NUL-separated, then end of file), which takes the
    // process creation and everything above off the start's path.
    let argv: Vec<String> = if std::env::args().nth(1).as_deref() == Some("--standby") {
        match standby_args() {
            Some(a) => {
                let mut shown = vec!["berth-shim"];
                shown.extend(a.iter().map(String::as_str));
                sys::set_cmdline(&shown);
                a
            }
            // berthd went away (or discarded us) without using us.
            None => std::process::exit(0),
        }
    } else {
        std::env::args().skip(1).collect()
    };
    let args = match args::Args::parse(argv) {
        Ok(a) => a,
        Err(e) => report_and_exit(&proto::error_line(&e.to_string()), 1),
    };
    let (r, w) = match sys::pipe() {
        Ok(p) => p,
        Err(e) => report_and_exit(&proto::error_line(&e.to_string()), 1),
    };
    // SAFETY: the process is single-threaded here (nothing has spawned a thread), so the
    // child may go on running ordinary Rust code.
    match unsafe { libc::fork() } {
        -1 => report_and_exit(
            &proto::error_line(&format!("fork: {}", std::io::Error::last_os_error())),
            1,
        ),
        0 => {
            drop(r);
            child(args, w)
        }
        _ => {
            drop(w);
            parent(r)
        }
    }
}

/// The process berthd spawned: passes on the child's one-line report and exits, so berthd
/// is not the container's ancestor.
fn parent(r: OwnedFd) -> ! {
    // One line, not "until end of file": the container's init holds a copy of the pipe's
    // write end until its execve, which waits for `start`.
    let mut f = std::io::BufReader::new(std::fs::File::from(r));
    let mut line = Vec::new();
    let _ = f.read_until(b'\n', &mut line);
    let ok = line.starts_with(b"{\"pid\"");
    if line.is_empty() {
        line = proto::error_line("berth-shim exited during start-up");
    }
    report_and_exit(&line, if ok { 0 } else { 1 })
}

/// The arguments berthd writes on stdin to a standby shim; None at an empty end of file.
fn standby_args() -> Option<Vec<String>> {
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf).ok()?;
    if buf.is_empty() {
        return None;
    }
    let s = String::from_utf8(buf).ok()?;
    Some(
        s.strip_suffix('\0')
            .unwrap_or(&s)
            .split('\0')
            .map(str::to_owned)
            .collect(),
    )
}

fn report_and_exit(line: &[u8], code: i32) -> ! {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line);
    let _ = out.flush();
    std::process::exit(code)
}

/// The shim proper: its own session, a child subreaper (orphans of the container and of
/// two-stage setups are re-parented to it), stdio on /dev/null.
fn child(args: args::Args, report: OwnedFd) -> ! {
    let _ = rustix::process::setsid();
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    let mut report = std::fs::File::from(report);
    if let Err(e) = sys::null_stdio() {
        let _ = report.write_all(&proto::error_line(&e.to_string()));
        std::process::exit(1);
    }
    match shim::Shim::start(args) {
        Ok(s) => {
            let _ = report.write_all(&proto::line(&serde_json::json!({ "pid": s.init_pid })));
            drop(report);
            s.run();
            std::process::exit(0)
        }
        Err(e) => {
            let _ = report.write_all(&proto::error_line(&e.to_string()));
            std::process::exit(1)
        }
    }
}
