//! `docker save`/`docker load` between berthd and a private dockerd (Debian docker.io),
//! both ways, keeping image IDs, and the json-file logs both daemons write of the same
//! output, compared byte for byte, rotated and compressed files included
//! (`tests/interop/berthd-images-dockerd.sh`). In the serial
//! `interop` test group: the private dockerd shares fixed host paths with the other interop
//! tests. Without dockerd the test says so and passes, except in CI (`CI` set).

mod common;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn save_and_load_interoperate_with_dockerd_both_ways() {
    if !common::have_prereqs() {
        return;
    }
    let on_path = |c: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(c).is_file()))
    };
    if !on_path("dockerd") {
        assert!(
            std::env::var_os("CI").is_none(),
            "dockerd not installed; CI must install docker.io"
        );
        eprintln!("SKIPPED: dockerd not installed (apt-get install docker.io)");
        return;
    }
    let d = common::Daemon::start();
    let tar = common::busybox_tarball(d.dir.path());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop/berthd-images-dockerd.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&d.sock)
        .arg(&tar)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed:\n{stderr}\n--- berthd log tail ---\n{}",
        script.display(),
        common::tail(&d.log(), 30)
    );
    assert!(
        stderr.contains("all berthd image interop checks passed")
            && stderr.contains("json-file log: berthd wrote dockerd's")
            && stderr.contains(
                "json-file rotation: the same files and entries as dockerd's, compressed"
            ),
        "{stderr}"
    );
}
