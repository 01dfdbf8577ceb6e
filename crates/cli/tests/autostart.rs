//! The embedded default: with nothing at the default socket, berth starts berthd there
//! (default roots) and answers; `BERTH_NO_AUTOSTART=1` turns that off. Runs only on a
//! machine where the default socket and roots are unused, and removes what it created.

mod common;

use std::path::Path;
use std::process::Command;

use common::{stderr, stdout};

fn berth(args: &[&str], no_autostart: bool) -> std::process::Output {
    let dir = common::berthd().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("timeout");
    c.args(["-k", "2", "60", common::BERTH])
        .args(args)
        .env("PATH", path)
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .env_remove("BERTH_NO_AUTOSTART");
    if no_autostart {
        c.env("BERTH_NO_AUTOSTART", "1");
    }
    c.output().unwrap()
}

/// Kills the berthd we started and removes the default dirs it made, and the default
/// network's bridge and iptables chains when they did not exist before, even on failure.
struct Cleanup {
    pid: Option<i32>,
    net_was_there: bool,
}

/// Whether the default daemon's bridge or chains exist.
fn default_network_exists() -> bool {
    Path::new("/sys/class/net/berth0").exists()
        || Command::new("iptables")
            .args(["-n", "-L", "BERTH-FORWARD"])
            .output()
            .is_ok_and(|o| o.status.success())
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            // SAFETY: kill(2) on the pid berth reported for the berthd it started.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            for _ in 0..100 {
                // SAFETY: signal 0 only probes for the process.
                if unsafe { libc::kill(pid, 0) } != 0 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        for d in ["/run/berth", "/var/lib/berth", "/var/log/berth"] {
            let _ = std::fs::remove_dir_all(d);
        }
        if !self.net_was_there {
            let cfg = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(
                cfg.path(),
                "bridge = \"berth0\"\niptables-chain-suffix = \"\"\n",
            )
            .unwrap();
            common::netiso::cleanup(cfg.path());
        }
    }
}

#[test]
fn berth_starts_berthd_when_nothing_answers_at_the_default_socket() {
    if !common::have_prereqs() {
        return;
    }
    if ["/run/berth", "/var/lib/berth", "/var/log/berth"]
        .iter()
        .any(|d| Path::new(d).exists())
    {
        eprintln!("skipping: the default berth roots are in use on this machine");
        return;
    }
    let mut cleanup = Cleanup {
        pid: None,
        net_was_there: default_network_exists(),
    };
    let off = berth(&["version"], true);
    assert_eq!(off.status.code(), Some(1));
    assert!(
        stderr(&off).contains("Cannot connect to the Berth daemon at unix:///run/berth/berth.sock")
    );
    assert!(
        !Path::new("/run/berth/berth.sock").exists(),
        "BERTH_NO_AUTOSTART started a daemon"
    );

    // A bad option value is the user's error: reported without starting a daemon.
    let bad = berth(&["run", "-m", "bogus", "img", "true"], false);
    assert_eq!(bad.status.code(), Some(125), "{}", stderr(&bad));
    assert!(stderr(&bad).starts_with("invalid argument \"bogus\" for \"-m, --memory\" flag"));
    assert!(
        !Path::new("/run/berth").exists(),
        "a bad flag value started a daemon"
    );

    let on = berth(&["ps", "-a"], false);
    let msg = stderr(&on);
    cleanup.pid = msg
        .split("started berthd (pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse().ok());
    assert!(on.status.success(), "{msg}");
    assert!(cleanup.pid.is_some(), "{msg}");
    assert!(stdout(&on).starts_with("CONTAINER ID"));
    // Now it answers without starting another.
    let again = berth(&["version"], true);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(!stderr(&again).contains("started berthd"));
}
