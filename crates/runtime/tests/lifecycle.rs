//! The runc-compatible lifecycle as a caller (containerd, Docker, Podman) drives it.

mod common;
use common::Bundle;

#[test]
fn run_exits_with_the_container_exit_code() {
    let mut b = Bundle::new();
    b.sh("echo out; echo err >&2; exit 7");
    let (code, out, err) = b.run_out();
    assert_eq!(code, 7, "stderr: {err}");
    assert_eq!(out, "out\n");
    assert!(err.contains("err"));
}

#[test]
fn run_reports_128_plus_signal_when_killed() {
    let mut b = Bundle::new();
    // Outside a pid namespace the shell is not pid 1, which ignores signals it has no handler for.
    let ns = b.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "pid")
        .cloned()
        .collect();
    b.config["linux"]["namespaces"] = serde_json::Value::Array(ns);
    b.sh("kill -TERM $$; sleep 5");
    let (code, _, err) = b.run_out();
    assert_eq!(code, 128 + 15, "stderr: {err}");
}

#[test]
fn create_start_state_kill_delete() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100"]);
    let id = b.create();
    let st = b.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["ociVersion"], "1.2.0");
    let pid = st["pid"].as_i64().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    // A created container's process is still the runtime, held before exec.
    assert!(b.rt(&["start", &id]).status.success());
    assert_eq!(b.status(&id), "running");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");
    // Cannot delete a running container without --force.
    assert!(!b.rt(&["delete", &id]).status.success());
    assert!(b.rt(&["kill", &id, "KILL"]).status.success());
    b.wait_stopped(&id);
    assert!(b.rt(&["delete", &id]).status.success());
    assert!(!b.rt(&["state", &id]).status.success());
}

#[test]
fn create_fails_cleanly_when_the_executable_is_missing() {
    let mut b = Bundle::new();
    b.args(&["/no/such/binary"]);
    b.write_config();
    let id = b.new_id();
    let o = b.create_raw(&id);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no such file"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Nothing is left behind.
    assert!(!b.rt(&["state", &id]).status.success());
}

#[test]
fn duplicate_ids_are_refused() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100"]);
    let id = b.create();
    let o = b.create_raw(&id);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
}

#[test]
fn kill_takes_names_and_numbers_and_all() {
    let mut b = Bundle::new();
    // pid 1 only receives signals it handles (the kernel drops the rest, KILL aside), so the
    // shell says when its trap is in place before it is signalled.
    b.sh("trap 'exit 0' TERM; echo ready; while true; do sleep 0.05; done");
    for sig in ["SIGTERM", "9", "KILL"] {
        let id = b.create();
        assert!(b.rt(&["start", &id]).status.success());
        for _ in 0..1000 {
            if b.container_stdout(&id).contains("ready") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let args: Vec<&str> = if sig == "KILL" {
            vec!["kill", "--all", &id, sig]
        } else {
            vec!["kill", &id, sig]
        };
        assert!(b.rt(&args).status.success(), "kill {sig}");
        b.wait_stopped(&id);
    }
    assert!(!b.rt(&["kill", "nonexistent", "9"]).status.success());
}

#[test]
fn pause_and_resume_freeze_the_container() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100"]);
    let id = b.create();
    assert!(b.rt(&["start", &id]).status.success());
    assert!(b.rt(&["pause", &id]).status.success());
    assert_eq!(b.status(&id), "paused");
    assert!(b.rt(&["resume", &id]).status.success());
    assert_eq!(b.status(&id), "running");
    assert!(
        !b.rt(&["resume", &id]).status.success(),
        "resume of a running container must fail"
    );
}

#[test]
fn list_and_ps_show_the_container() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100"]);
    let id = b.create();
    assert!(b.rt(&["start", &id]).status.success());
    let o = b.rt(&["list"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("ID"), "{text}");
    assert!(text.contains(&id) && text.contains("running"));
    let o = b.rt(&["list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["id"], id.as_str());
    let o = b.rt(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pids, vec![b.state(&id)["pid"].as_i64().unwrap() as i32]);
    let o = b.rt(&["ps", &id]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("sleep 100"));
}

#[test]
fn exec_runs_in_the_container_and_returns_its_code() {
    let mut b = Bundle::new();
    b.args(&["sleep", "100"]);
    let id = b.create();
    assert!(b.rt(&["start", &id]).status.success());
    let o = b.rt(&[
        "exec",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        &id,
        "sh",
        "-c",
        "echo $FOO $(pwd) $(hostname); cat /proc/1/comm; exit 3",
    ]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "bar /tmp berth\nsleep\n"
    );
    let o = b.rt(&["exec", "--user", "65534:65534", &id, "id"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "uid=65534(nobody) gid=65534(nogroup)"
    );
    let o = b.rt(&["exec", &id, "no-such-command"]);
    assert!(!o.status.success());
}

#[test]
fn features_and_version_answer() {
    let o = std::process::Command::new(common::BIN)
        .arg("features")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["linux"]["namespaces"].as_array().unwrap().len(), 8);
    let o = std::process::Command::new(common::BIN)
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("berth-runtime version"));
}

#[test]
fn systemd_cgroup_is_a_clear_error() {
    let o = std::process::Command::new(common::BIN)
        .args(["--systemd-cgroup", "list"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("systemd"));
}
