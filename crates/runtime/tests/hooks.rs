//! OCI hooks: all six kinds, the state they get on stdin, their order, failures and timeouts.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Bundle;
use serde_json::{Value, json};

/// A hook that saves its stdin as `<dir>/<kind>.json` and appends `<kind>` to `<dir>/order`.
fn recorder(sh: &str, dir: &str, kind: &str) -> Value {
    json!({
        "path": sh,
        "args": ["sh", "-c", format!("cat > {dir}/{kind}.json; echo {kind}:$HOOK_KIND >> {dir}/order")],
        "env": [format!("HOOK_KIND={kind}"), "PATH=/usr/bin:/bin"],
    })
}

fn read_state(dir: &Path, kind: &str) -> Value {
    let p = dir.join(format!("{kind}.json"));
    let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{kind} hook left no state ({e})"));
    serde_json::from_slice(&data).unwrap_or_else(|e| panic!("{kind}: bad state JSON: {e}"))
}

#[test]
fn all_six_hooks_run_in_order_with_the_state_on_stdin() {
    let mut b = Bundle::new();
    let dir = b.path().join("hooklog");
    std::fs::create_dir(&dir).unwrap();
    let host = dir.to_str().unwrap();
    // startContainer runs in the container after pivot_root: it sees the log through a bind.
    b.mount(json!({"destination": "/hooks", "type": "bind", "source": dir, "options": ["rbind"]}));
    b.config["hooks"] = json!({
        "prestart": [recorder("/bin/sh", host, "prestart")],
        "createRuntime": [recorder("/bin/sh", host, "createRuntime")],
        "createContainer": [recorder("/bin/sh", host, "createContainer")],
        "startContainer": [recorder("/bin/sh", "/hooks", "startContainer")],
        "poststart": [recorder("/bin/sh", host, "poststart")],
        "poststop": [recorder("/bin/sh", host, "poststop")],
    });
    b.sh("echo main:process >> /hooks/order");
    let id = b.create();
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    assert!(b.rt(&["start", &id]).status.success());
    b.wait_stopped(&id);
    assert!(b.rt(&["delete", &id]).status.success());

    let order = std::fs::read_to_string(dir.join("order")).unwrap();
    let order: Vec<&str> = order
        .lines()
        .map(|l| l.split(':').next().unwrap())
        .collect();
    let at = |k: &str| {
        order
            .iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("{k} did not run: {order:?}"))
    };
    assert_eq!(order.len(), 7, "{order:?}");
    // The env each hook was given reached it.
    let raw = std::fs::read_to_string(dir.join("order")).unwrap();
    assert!(
        raw.lines().all(|l| {
            let (a, b) = l.split_once(':').unwrap();
            a == b || a == "main"
        }),
        "{raw}"
    );
    assert!(at("prestart") < at("createRuntime"));
    assert!(at("createRuntime") < at("createContainer"));
    assert!(at("createContainer") < at("startContainer"));
    assert!(at("startContainer") < at("main"));
    assert!(at("createContainer") < at("poststart"));
    assert_eq!(at("poststop"), 6);

    let bundle = std::fs::canonicalize(b.path()).unwrap();
    for (kind, status) in [
        ("prestart", "creating"),
        ("createRuntime", "creating"),
        ("createContainer", "creating"),
        ("startContainer", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let st = read_state(&dir, kind);
        assert_eq!(st["id"], id.as_str(), "{kind}: {st}");
        assert_eq!(st["status"], status, "{kind}: {st}");
        assert_eq!(st["bundle"], bundle.to_str().unwrap(), "{kind}: {st}");
        assert_eq!(st["ociVersion"], "1.2.0", "{kind}: {st}");
        if kind != "poststop" {
            assert_eq!(st["pid"].as_i64(), Some(pid), "{kind}: {st}");
        }
    }
}

#[test]
fn create_container_hooks_run_without_a_mount_namespace_too() {
    let mut b = Bundle::new();
    let dir = b.path().join("hooklog");
    std::fs::create_dir(&dir).unwrap();
    b.namespaces(&["pid", "network", "ipc", "uts"]);
    b.config["mounts"] = json!([]);
    b.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("maskedPaths");
    b.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("readonlyPaths");
    b.config["hooks"] =
        json!({"createContainer": [recorder("/bin/sh", dir.to_str().unwrap(), "createContainer")]});
    b.sh("echo chrooted");
    let id = b.create();
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    let st = read_state(&dir, "createContainer");
    assert_eq!(
        (st["status"].as_str(), st["pid"].as_i64()),
        (Some("creating"), Some(pid)),
        "{st}"
    );
    assert!(b.rt(&["start", &id]).status.success());
    b.wait_stopped(&id);
    assert_eq!(b.container_stdout(&id), "chrooted\n");
}

#[test]
fn a_failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let mut b = Bundle::new();
    let dir = b.path().join("hooklog");
    std::fs::create_dir(&dir).unwrap();
    b.config["hooks"] = json!({
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-refuses >&2; exit 3"]}],
        "createContainer": [recorder("/bin/sh", dir.to_str().unwrap(), "createContainer")],
        "poststop": [recorder("/bin/sh", dir.to_str().unwrap(), "poststop")],
    });
    b.args(&["sleep", "100"]);
    b.write_config();
    let id = b.new_id();
    let o = b.create_raw(&id);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("hook-refuses"), "{err}");
    assert!(
        !b.rt(&["state", &id]).status.success(),
        "state survives a failed create"
    );
    assert!(!b.root.join(&id).exists());
    for ctrl in ["pids", "memory", "devices"] {
        let cg = Path::new("/sys/fs/cgroup").join(ctrl).join(&id);
        assert!(!cg.exists(), "{} left behind", cg.display());
    }
    // The container never got further: no later hook ran, no process is left.
    assert!(!dir.join("createContainer.json").exists());
    // A failed create is a stop: the poststop hooks ran, with status stopped.
    let st: Value =
        serde_json::from_slice(&std::fs::read(dir.join("poststop.json")).unwrap()).unwrap();
    assert_eq!(
        (st["id"].as_str(), st["status"].as_str()),
        (Some(id.as_str()), Some("stopped"))
    );
    let left = std::process::Command::new("pgrep")
        .args(["-f", &format!("{id}( |$)")])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "processes left: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[test]
fn a_failing_start_container_hook_ends_the_container_with_the_reason_on_its_stderr() {
    // After `create` has returned nobody reads the sync channel: the container's stderr is
    // where its user (the log, an attached client) can see why it never ran.
    let mut b = Bundle::new();
    b.config["hooks"] = json!({
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 7"]}],
    });
    b.args(&["echo", "main-ran"]);
    let (code, out, err) = b.run_out();
    assert_ne!(code, 0);
    assert!(!out.contains("main-ran"), "{out}");
    assert!(
        err.contains("berth-runtime:") && err.contains("startContainer"),
        "{err}"
    );
}

#[test]
fn a_hook_that_outlives_its_timeout_fails_create() {
    let mut b = Bundle::new();
    b.config["hooks"] = json!({
        "prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}],
    });
    b.args(&["true"]);
    b.write_config();
    let id = b.new_id();
    let t = Instant::now();
    let o = b.create_raw(&id);
    assert!(!o.status.success());
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("timed out"), "{err}");
    assert!(!b.rt(&["state", &id]).status.success());
}
