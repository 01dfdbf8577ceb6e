//! `docker pull` from a local registry (Debian's docker-registry on 127.0.0.1), then run.

mod common;

use std::process::Command;

use common::{Daemon, stdout};

#[path = "common/registry.rs"]
mod registry;

#[test]
fn pull_from_a_local_registry_then_run() {
    if !common::have_prereqs() || !registry::available(false) {
        return;
    }
    let reg = registry::start(None);
    let seed = tempfile::tempdir().unwrap();
    let tar = common::busybox_tarball(seed.path());
    let tool = common::image_tool();
    let root = seed.path().join("root");
    let name = format!("{}/test/busybox:1", reg.addr);
    let st = Command::new(&tool)
        .arg("--root")
        .arg(&root)
        .args(["import", "-c", "CMD [\"echo\", \"from-registry\"]"])
        .arg(&tar)
        .arg(&name)
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new(&tool)
        .arg("--root")
        .arg(&root)
        .args(["push", &name, &name])
        .status()
        .unwrap();
    assert!(st.success());

    let d = Daemon::start();
    let out = d.docker(&["pull", &name]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Pull complete") || text.contains("Downloaded newer image"),
        "{text}"
    );
    assert!(text.contains("Digest: sha256:"), "{text}");
    assert!(
        d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .contains(&format!("{}/test/busybox:1", reg.addr))
    );
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", &name]),
        "from-registry"
    );
    // A second pull finds the layers already there.
    assert!(stdout(&d.docker(&["pull", &name])).contains("up to date"));
    // An unknown tag is an error with Docker's exit code.
    let missing = d.docker(&["pull", &format!("{}/test/busybox:nope", reg.addr)]);
    assert!(!missing.status.success());
}
