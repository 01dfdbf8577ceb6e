//! berth-runtime as the runtime of the engines that call runc: dockerd (`--add-runtime`),
//! Podman (`--runtime`) and containerd (`ctr run --runc-binary`). Each test runs a script from
//! `tests/interop/` at the repository root (usable by hand too) against this build's binary.
//!
//! The peers come from Debian packages (`docker.io containerd podman`, plus `busybox-static`
//! for the image). Where a peer is missing the test says so and passes, except in CI (`CI`
//! set), where a missing peer is a failure: CI installs them.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");

/// One at a time: the peers share a few fixed host paths (the containerd shims' socket dir)
/// that each script creates and removes when it was the one to create them.
static SERIAL: Mutex<()> = Mutex::new(());

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop")
        .join(format!("{name}.sh"))
}

fn run_interop(name: &str, needs: &[&str], package: &str) {
    let missing: Vec<&str> = needs.iter().copied().filter(|c| !on_path(c)).collect();
    if !missing.is_empty() {
        let msg = format!(
            "{name} interop: {} not installed (apt-get install {package})",
            missing.join(", ")
        );
        if std::env::var_os("CI").is_some() {
            panic!("{msg}; CI must install it");
        }
        eprintln!("SKIPPED {msg}");
        return;
    }
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new("bash")
        .arg(script(name))
        .arg(BIN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} interop failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    eprint!("{stderr}");
}

#[test]
fn dockerd_runs_busybox_with_berth_runtime() {
    run_interop(
        "docker",
        &[
            "dockerd",
            "docker",
            "containerd",
            "containerd-shim-runc-v2",
            "busybox",
        ],
        "docker.io containerd busybox-static",
    );
}

#[test]
fn podman_runs_busybox_with_berth_runtime() {
    run_interop(
        "podman",
        &["podman", "conmon", "busybox"],
        "podman busybox-static",
    );
}

#[test]
fn containerd_runs_busybox_with_berth_runtime() {
    run_interop(
        "containerd",
        &["containerd", "ctr", "containerd-shim-runc-v2", "busybox"],
        "containerd busybox-static",
    );
}
