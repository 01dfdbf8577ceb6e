//! A pull killed with SIGKILL leaves no partial blob under a digest name, and the next
//! pull completes (the test drives the `berth-image-tool` binary in a child process).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use berth_image::digest::Digest;
use berth_image::push::{PushOptions, push};
use berth_image::reference::Reference;
use berth_image::registry::{RegistryClient, RegistryConfig};
use berth_image::store::ContentStore;
use common::image::{build, busybox_layers};
use common::registry::Registry;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_pull_leaves_no_partial_blob_and_next_pull_completes() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let src = ContentStore::open(&t.path().join("src")).unwrap();
    let img = build(
        &src,
        &busybox_layers(&common::noise(40 << 20, 9)),
        "amd64",
        "k",
    );
    let c = RegistryClient::new(RegistryConfig::default()).unwrap();
    // A 40 MiB incompressible layer, so the child can be killed in the middle of it.
    let r = Reference::parse(&format!("{}/crash/img:1", reg.addr)).unwrap();
    push(&c, &src, &r, &img.manifest, &PushOptions::default())
        .await
        .unwrap();

    // Slowed down (~3 s for the big layer) so the kill reliably lands mid-download.
    let proxy = common::proxy::FlakyProxy::start_with(
        reg.addr.clone(),
        0,
        usize::MAX,
        std::time::Duration::from_millis(1),
    )
    .await;
    let r = Reference::parse(&format!("{}/crash/img:1", proxy.addr)).unwrap();
    let root = t.path().join("dst");
    let tool = env!("CARGO_BIN_EXE_berth-image-tool");
    let mut child = Command::new(tool)
        .args([
            "--root",
            root.to_str().unwrap(),
            "pull",
            "--progress",
            &r.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let big = img.layers[2].short().to_owned();
    let killed = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.starts_with(&big)
                && let Some(rest) = line.split("Downloading ").nth(1)
                && rest.split('/').next().unwrap().parse::<u64>().unwrap() > 1 << 20
            {
                // SIGKILL the child we started, by its PID.
                return rustix::process::kill_process(
                    rustix::process::Pid::from_raw(pid as i32).unwrap(),
                    rustix::process::Signal::KILL,
                )
                .is_ok();
            }
        }
        false
    })
    .await
    .unwrap();
    let status = child.wait().unwrap();
    assert!(
        killed,
        "the child was killed mid-download (status {status:?})"
    );
    assert!(!status.success());

    // Every blob under a digest name is exactly that digest.
    let store = ContentStore::open(&root).unwrap();
    for (d, _) in store.list().unwrap() {
        assert_eq!(Digest::of(&std::fs::read(store.blob_path(&d)).unwrap()), d);
    }
    assert!(
        !store.contains(&img.layers[2]),
        "the interrupted layer is not visible"
    );

    // The next pull (a fresh process opening the store) completes and cleans up.
    let out = Command::new(tool)
        .args(["--root", root.to_str().unwrap(), "pull", &r.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["id"], img.config.to_string());
    assert!(store.contains(&img.layers[2]));
    assert_eq!(
        std::fs::read_dir(root.join("content/ingest"))
            .unwrap()
            .count(),
        0
    );
    let snaps: Vec<_> = std::fs::read_dir(root.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "index.json")
        .collect();
    assert_eq!(snaps.len(), 3, "no debris snapshot dirs: {snaps:?}");
}
