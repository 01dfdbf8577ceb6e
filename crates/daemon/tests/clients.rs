//! Docker API clients other than the docker CLI, against berthd: docker-py (Debian's
//! python3-docker) runs the same scenario people script with it: pull from a registry, run
//! detached, logs, exec, stop, remove.

mod common;

use std::process::Command;

use common::{Daemon, IMG, stderr, stdout};

#[path = "common/registry.rs"]
mod registry;

fn have_docker_py() -> bool {
    Command::new("python3")
        .args(["-c", "import docker"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn docker_py_pull_run_logs_exec_stop_remove() {
    if !common::have_prereqs() || !registry::available(false) {
        return;
    }
    assert!(
        have_docker_py(),
        "python3-docker is missing (make deps-test installs it)"
    );
    let reg = registry::start(None);
    let d = Daemon::start();
    // Seed the registry from berthd itself, then forget the image locally.
    let name = format!("{}/clients/bb:1", reg.addr);
    d.ok(&["tag", IMG, &name]);
    d.ok(&["push", &name]);
    d.ok(&["rmi", &name]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/docker_py.py");
    let out = Command::new("timeout")
        .args(["120", "python3", script])
        .arg(&d.sock)
        .arg(&name)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker-py scenario failed:\n{}\n{}\nberthd log:\n{}",
        stdout(&out),
        stderr(&out),
        common::tail(&d.log(), 30)
    );
    assert!(stdout(&out).contains("docker-py scenario ok"));
}
