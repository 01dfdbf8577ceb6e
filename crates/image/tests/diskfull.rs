//! A full disk during a pull gives a clear error and leaves a consistent store: no blob
//! under a digest it does not hash to, no snapshot indexed for a layer that did not fit,
//! nothing left in the ingest area. The store lives on a small tmpfs mounted by the test
//! (and unmounted by a guard, also on failure).

mod common;

use std::path::PathBuf;

use berth_image::digest::Digest;
use berth_image::images::ImageStore;
use berth_image::pull::PullOptions;
use berth_image::push::PushOptions;
use berth_image::reference::Reference;
use berth_image::registry::{RegistryClient, RegistryConfig};
use common::image::add_local;
use common::registry::Registry;

struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_fails_cleanly_and_leaves_a_consistent_store() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let src = ImageStore::open(&t.path().join("src")).unwrap();
    // busybox (~1 MiB gzip, ~2 MiB unpacked) plus 6 MiB of noise: more than the disk.
    add_local(&src, &common::noise(6 << 20, 3), "full", Some("big:1"));
    let c = RegistryClient::new(RegistryConfig::default()).unwrap();
    let r = Reference::parse(&format!("{}/full/big:1", reg.addr)).unwrap();
    src.push(&c, "big:1", &r, &PushOptions::default())
        .await
        .unwrap();

    let mnt = t.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    rustix::mount::mount(
        "tmpfs",
        &mnt,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        c"size=8m",
    )
    .unwrap();
    let _guard = Tmpfs(mnt.clone());
    let store = ImageStore::open(&mnt).unwrap();
    let err = store
        .pull(&c, &r, &PullOptions::default())
        .await
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("full disk error: {msg}");
    assert!(msg.contains("No space left on device"), "{msg}");

    for (d, _) in store.content().list().unwrap() {
        let data = std::fs::read(store.content().blob_path(&d)).unwrap();
        assert_eq!(Digest::of(&data), d, "blob {d} is complete");
    }
    assert_eq!(
        std::fs::read_dir(mnt.join("content/ingest"))
            .unwrap()
            .count(),
        0
    );
    // Every indexed snapshot is one whose layer applied completely.
    for s in store.snapshots().list().unwrap() {
        assert!(store.snapshots().fs_path(&s).is_dir());
    }
    assert!(store.list().unwrap().is_empty(), "no image recorded");
    // Reopening (what the daemon does after the operator frees space) sweeps debris.
    drop(store);
    let store = ImageStore::open(&mnt).unwrap();
    let known: Vec<String> = store
        .snapshots()
        .list()
        .unwrap()
        .iter()
        .map(|s| s.id.to_string())
        .collect();
    for e in std::fs::read_dir(mnt.join("snapshots")).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        assert!(n == "index.json" || known.contains(&n), "debris {n}");
    }
}
