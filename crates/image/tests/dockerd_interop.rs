//! Image interop with dockerd (Debian docker.io): berth save → docker load, docker save →
//! berth load, berth push → docker pull and docker push → berth pull through a local
//! docker-registry, each keeping the image ID. The scenario is the script
//! `tests/interop/images-dockerd.sh` (usable by hand too), run against this build's
//! `berth-image-tool`. Without dockerd the test says so and passes, except in CI (`CI` set),
//! which installs it.

use std::path::PathBuf;
use std::process::Command;

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

#[test]
fn images_round_trip_with_dockerd_keep_their_ids() {
    let missing: Vec<&str> = ["dockerd", "docker-registry"]
        .into_iter()
        .filter(|c| !on_path(c))
        .collect();
    if !missing.is_empty() {
        let msg = format!(
            "{} not installed (apt-get install docker.io docker-registry)",
            missing.join(", ")
        );
        if std::env::var_os("CI").is_some() {
            panic!("{msg}; CI must install it");
        }
        eprintln!("SKIPPED: {msg}");
        return;
    }
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/images-dockerd.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_berth-image-tool"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed:\n{stderr}",
        script.display()
    );
    assert!(
        stderr.contains("all image interop checks passed"),
        "{stderr}"
    );
}
