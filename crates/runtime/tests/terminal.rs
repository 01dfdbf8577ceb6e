//! Terminals: the console-socket protocol (pty master over SCM_RIGHTS) for create and exec,
//! and `run` handing the caller's own terminal to the container.

mod common;

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::Duration;

use common::{Bundle, read_pty, recv_console};
use serde_json::json;

#[test]
fn console_socket_receives_the_pty_master_sized_by_console_size() {
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    b.sh("tty; stty size; test -t 0 && test -t 1 && test -t 2 && echo all-ttys; echo done");
    let sock = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    b.write_config();
    let id = b.new_id();
    let o = b.create_raw_with(&id, &["--console-socket", sock.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let master = recv_console(&listener);
    assert!(rustix::termios::isatty(&master));
    assert!(b.rt(&["start", &id]).status.success());
    let out = read_pty(&master, Duration::from_secs(20));
    b.wait_stopped(&id);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0] == "/dev/console" || lines[0].starts_with("/dev/pts/"),
        "{out:?}"
    );
    assert_eq!(&lines[1..], ["30 100", "all-ttys", "done"], "{out:?}");
}

#[test]
fn terminal_without_a_console_socket_is_refused_by_create() {
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.sh("true");
    b.write_config();
    let id = b.new_id();
    let o = b.create_raw(&id);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("console-socket"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A pty pair made by the test: (master, peer).
fn pty_pair(rows: u16, cols: u16) -> (OwnedFd, OwnedFd) {
    use rustix::pty::OpenptFlags;
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let peer =
        rustix::pty::ioctl_tiocgptpeer(&master, OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    let ws = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&master, ws).unwrap();
    (master, peer)
}

#[test]
fn run_with_terminal_gives_the_container_the_callers_terminal() {
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.sh("tty; stty size; echo hello-from-the-pty; exit 5");
    b.write_config();
    let id = b.new_id();
    let (master, peer) = pty_pair(40, 120);
    let io = |fd: &OwnedFd| Stdio::from(fd.as_fd().try_clone_to_owned().unwrap());
    let mut child = b
        .cmd()
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(io(&peer))
        .stdout(io(&peer))
        .stderr(io(&peer))
        .spawn()
        .unwrap();
    drop(peer);
    let out = read_pty(&master, Duration::from_secs(20));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5), "{out:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0] == "/dev/console" || lines[0].starts_with("/dev/pts/"),
        "{out:?}"
    );
    // The caller's window size reaches the container's terminal.
    assert_eq!(&lines[1..], ["40 120", "hello-from-the-pty"], "{out:?}");
}

#[test]
fn exec_tty_sends_its_pty_master_to_the_console_socket() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100"]);
    let id = b.create();
    assert!(b.rt(&["start", &id]).status.success());
    let sock = b.path().join("exec-console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let child = b
        .cmd()
        .args([
            "exec",
            "--tty",
            "--console-socket",
            sock.to_str().unwrap(),
            &id,
            "sh",
            "-c",
            "tty; test -t 0 && echo in-exec; exit 4",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let master = recv_console(&listener);
    let out = read_pty(&master, Duration::from_secs(20));
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{out:?}");
    assert_eq!(lines[1], "in-exec", "{out:?}");
}
