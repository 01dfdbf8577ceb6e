//! `-it` through a real pseudo-terminal (tmux): raw mode, the size at start and after a
//! resize, exit codes, detach with ctrl-p ctrl-q, and the terminal restored afterwards.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Daemon, IMG};

/// One session on a tmux server of this test's own (`-L`), so that the user's tmux is
/// left alone and ending one session never races the server's exit.
struct Tmux(String);

fn tmux() -> Command {
    let mut c = Command::new("tmux");
    c.args(["-L", &format!("berth-test-{}", std::process::id())]);
    c
}

impl Tmux {
    fn start(name: &str, cmd: &str) -> Tmux {
        let s = format!("berth-{name}-{}", std::process::id());
        let st = tmux()
            .args(["new-session", "-d", "-s", &s, "-x", "80", "-y", "24", cmd])
            .status()
            .unwrap();
        assert!(st.success());
        Tmux(s)
    }

    fn keys(&self, keys: &[&str]) {
        let st = tmux()
            .args(["send-keys", "-t", &self.0])
            .args(keys)
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn screen(&self) -> String {
        let o = tmux()
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Types `keys` until `want` shows (up to 15 s): for answers that depend on a resize
    /// having travelled berth → berthd → shim.
    fn until_shown(&self, keys: &[&str], want: &str) {
        let t0 = Instant::now();
        loop {
            self.keys(keys);
            std::thread::sleep(Duration::from_millis(300));
            if self.screen().contains(want) {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "{want:?} never appeared: {}",
                self.screen()
            );
        }
    }

    /// Waits up to 15 s for `want` on the screen.
    fn expect(&self, want: &str) {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(15) {
            if self.screen().contains(want) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{want:?} never appeared; screen:\n{}", self.screen());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = tmux().args(["kill-session", "-t", &self.0]).status();
    }
}

fn have_tmux() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: needs tmux");
    }
    ok
}

/// A shell line that runs berth against `d`, then shows its exit code and the terminal
/// mode left behind (`stty -a` prints `icanon` when cooked), and keeps the pane open.
fn berth_line(d: &Daemon, args: &str) -> String {
    format!(
        "BERTH_HOST={} BERTH_NO_AUTOSTART=1 {} {args}; echo EXIT=$?; stty -a | grep -o ' icanon' ; sleep 60",
        d.host(),
        common::BERTH
    )
}

#[test]
fn run_it_is_a_terminal_that_resizes_exits_and_detaches() {
    if !common::have_prereqs() || !have_tmux() {
        return;
    }
    let d = Daemon::start();
    // Exit code through the terminal, and the terminal restored.
    let t = Tmux::start(
        "exit",
        &berth_line(&d, &format!("run -it --rm --network none {IMG} sh")),
    );
    t.expect("/ #");
    t.until_shown(&["clear; stty size", "Enter"], "24 80");
    t.keys(&["tty", "Enter"]);
    t.expect("/dev/pts/");
    t.keys(&["exit 7", "Enter"]);
    t.expect("EXIT=7");
    t.expect(" icanon");
    let _keep = t;

    // Resize, then detach: berth ends with 0 and the container keeps running.
    let t = Tmux::start(
        "detach",
        &berth_line(&d, &format!("run -it --name tt --network none {IMG} sh")),
    );
    t.expect("/ #");
    let st = tmux()
        .args(["resize-window", "-t", &t.0, "-x", "100", "-y", "30"])
        .status()
        .unwrap();
    assert!(st.success());
    // SIGWINCH → resize travels berth → berthd → shim: ask until the new size shows.
    t.until_shown(&["clear; stty size", "Enter"], "30 100");
    t.keys(&["C-p", "C-q"]);
    t.expect("EXIT=0");
    t.expect(" icanon");
    assert_eq!(
        d.bok(&["inspect", "-f", "{{.State.Running}}", "tt"]),
        "true"
    );
    drop(t);

    // exec -it into it: a terminal too, with the exec's exit code.
    let t = Tmux::start("exec", &berth_line(&d, "exec -it tt sh"));
    t.expect("/ #");
    t.keys(&["echo $((6*7))", "Enter"]);
    t.expect("42");
    // Ctrl-C reaches the container's foreground process, not berth.
    t.keys(&["sleep 100", "Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["C-c"]);
    t.keys(&["echo after-$((2+3))", "Enter"]);
    t.expect("after-5");
    t.keys(&["exit 4", "Enter"]);
    t.expect("EXIT=4");
    let _keep3 = t;

    // attach to the detached container's terminal, then detach again.
    let t = Tmux::start("attach", &berth_line(&d, "attach tt"));
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["echo attached-$((1+1))", "Enter"]);
    t.expect("attached-2");
    t.keys(&["C-p", "C-q"]);
    t.expect("EXIT=0");
    assert_eq!(
        d.bok(&["inspect", "-f", "{{.State.Running}}", "tt"]),
        "true"
    );
    d.bok(&["rm", "-f", "tt"]);
    let _ = tmux().arg("kill-server").status();
}
