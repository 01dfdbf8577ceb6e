//! OCI hooks: each gets the container state on stdin, its own args and env, and a timeout
//! after which it is killed and counted as failed.

use std::io::Write;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;
use rustix::event::{PollFd, PollFlags};

use crate::error::{Error, Result};

/// Runs hooks in order; the first failure stops the rest.
pub fn run_all(hooks: Option<&Vec<Hook>>, state_json: &[u8], kind: &'static str) -> Result<()> {
    for h in hooks.into_iter().flatten() {
        run(h, state_json, kind)?;
    }
    Ok(())
}

/// Runs hooks in order, logging failures but going on (poststart, poststop).
pub fn run_all_warn(hooks: &[Hook], state_json: &[u8], kind: &'static str) {
    for h in hooks {
        if let Err(e) = run(h, state_json, kind) {
            tracing::warn!(kind, error = %e, "hook failed");
        }
    }
}

pub fn run(h: &Hook, state_json: &[u8], kind: &'static str) -> Result<()> {
    let path = h.path();
    let herr = |msg: String| Error::Hook {
        kind,
        path: path.clone(),
        msg,
    };
    let mut cmd = Command::new(path);
    if let Some((first, rest)) = h.args().as_deref().and_then(<[String]>::split_first) {
        use std::os::unix::process::CommandExt;
        cmd.arg0(first);
        cmd.args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| herr(format!("cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not block us (EPIPE is fine).
        let _ = stdin.write_all(state_json);
    }
    let timeout = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(child.id() as i32).expect("spawned child has a pid"),
        rustix::process::PidfdFlags::empty(),
    )
    .map_err(|e| herr(format!("pidfd_open: {e}")))?;
    let start = Instant::now();
    loop {
        let left = match timeout {
            Some(t) => match t.checked_sub(start.elapsed()) {
                Some(l) => Some(l),
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(herr(format!("timed out after {}s", t.as_secs())));
                }
            },
            None => None,
        };
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        let ts = left.map(|l| rustix::time::Timespec {
            tv_sec: l.as_secs() as i64,
            tv_nsec: l.subsec_nanos() as i64,
        });
        match rustix::event::poll(&mut fds, ts.as_ref()) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => break,
            Err(e) => return Err(herr(format!("poll: {e}"))),
        }
    }
    let _ = pidfd.as_fd();
    let out = child
        .wait_with_output()
        .map_err(|e| herr(format!("wait: {e}")))?;
    if !out.status.success() {
        return Err(herr(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn hook_gets_state_on_stdin_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let h = hook(
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}; echo \"$X\" >> {}", out.display(), out.display())], "env": ["X=hello"]}),
        );
        run(&h, b"{\"id\":\"c1\"}", "prestart").unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\":\"c1\"}hello\n"
        );
    }

    #[test]
    fn failing_and_slow_hooks_are_errors() {
        let h = hook(
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "echo bad >&2; exit 3"]}),
        );
        let e = run(&h, b"{}", "createRuntime").unwrap_err().to_string();
        assert!(e.contains("bad"), "{e}");
        assert!(e.starts_with("createRuntime hook \"/bin/sh\""), "{e}");
        let h =
            hook(serde_json::json!({"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}));
        let t = Instant::now();
        assert!(
            run(&h, b"{}", "prestart")
                .unwrap_err()
                .to_string()
                .contains("timed out")
        );
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
