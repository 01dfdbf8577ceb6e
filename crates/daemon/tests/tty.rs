//! `docker run -it` through a real pseudo-terminal (tmux): raw bridging, resize, the
//! detach keys, and attaching again.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Daemon, IMG};

struct Tmux {
    name: String,
}

impl Tmux {
    fn new(name: &str, cmd: &str) -> Tmux {
        let st = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "100",
                "-y",
                "30",
                cmd,
            ])
            .status()
            .unwrap();
        assert!(st.success());
        Tmux { name: name.into() }
    }

    fn keys(&self, keys: &[&str]) {
        let st = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn wait_for(&self, text: &str) -> bool {
        for _ in 0..100 {
            if self.screen().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

#[test]
fn interactive_tty_resize_detach_and_attach() {
    if !common::have_prereqs() || Command::new("tmux").arg("-V").output().is_err() {
        return;
    }
    let d = Daemon::start();
    let session = format!("berthd-tty-{}", std::process::id());
    let t = Tmux::new(
        &session,
        &format!(
            "DOCKER_HOST={} docker run -it --network none --name tty1 {IMG} sh; echo RUN-EXITED=$?; sleep 60",
            d.host()
        ),
    );
    assert!(t.wait_for("/ #"), "no prompt: {}", t.screen());
    t.keys(&["echo hello-$((40+2)); stty size", "Enter"]);
    assert!(t.wait_for("hello-42"), "{}", t.screen());
    assert!(t.wait_for("30 100"), "initial size: {}", t.screen());
    // The terminal is a tty inside the container.
    t.keys(&["tty", "Enter"]);
    assert!(t.wait_for("/dev/pts/"), "{}", t.screen());
    // Resize reaches the container.
    Command::new("tmux")
        .args(["resize-window", "-t", &session, "-x", "120", "-y", "40"])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    t.keys(&["stty size", "Enter"]);
    assert!(t.wait_for("40 120"), "after resize: {}", t.screen());
    // ctrl-p ctrl-q detaches; the container keeps running.
    t.keys(&["C-p", "C-q"]);
    assert!(t.wait_for("RUN-EXITED=0"), "detach: {}", t.screen());
    assert_eq!(d.inspect("tty1", "{{.State.Status}}"), "running");
    // Attach again from another terminal and end the shell.
    let t2 = Tmux::new(
        &format!("{session}-b"),
        &format!(
            "DOCKER_HOST={} docker attach tty1; echo ATTACH-EXITED=$?; sleep 60",
            d.host()
        ),
    );
    std::thread::sleep(Duration::from_millis(800));
    t2.keys(&["echo again-$((1+1))", "Enter"]);
    assert!(t2.wait_for("again-2"), "{}", t2.screen());
    t2.keys(&["exit 7", "Enter"]);
    assert!(t2.wait_for("ATTACH-EXITED=7"), "{}", t2.screen());
    assert_eq!(
        d.inspect("tty1", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 7"
    );
    // exec -it gets a terminal too.
    d.ok(&["start", "tty1"]);
    let t3 = Tmux::new(
        &format!("{session}-c"),
        &format!(
            "DOCKER_HOST={} docker exec -it tty1 sh; echo EXEC-EXITED=$?; sleep 60",
            d.host()
        ),
    );
    assert!(t3.wait_for("/ #"), "{}", t3.screen());
    t3.keys(&["tty; exit 3", "Enter"]);
    assert!(t3.wait_for("EXEC-EXITED=3"), "{}", t3.screen());
    assert!(t3.screen().contains("/dev/pts/"));
    d.ok(&["rm", "-f", "tty1"]);
}

/// `--init` with a terminal: berth-init hands the terminal to the command's process group
/// (a background group until then, which SIGTTOU would stop); the command runs on the
/// terminal and its exit code comes back. `script` gives the docker CLI its terminal.
#[test]
fn run_t_with_init_gives_the_command_the_terminal_and_its_exit_code() {
    if !common::have_prereqs() || Command::new("script").arg("-V").output().is_err() {
        return;
    }
    let d = Daemon::start();
    for flags in ["-t", "-it"] {
        let out = Command::new("timeout")
            .args(["-k", "2", "30", "script", "-qec"])
            .arg(format!(
                "docker run --rm {flags} --init {IMG} sh -c 'tty; exit 4'"
            ))
            .arg("/dev/null")
            .env("DOCKER_HOST", d.host())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(4), "{flags}: {text}");
        assert!(text.contains("/dev/pts/0"), "{flags}: {text}");
    }
}
