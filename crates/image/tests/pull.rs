//! Pull and push against a real registry (docker-registry on 127.0.0.1).

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use berth_image::digest::Digest;
use berth_image::manifest::Platform;
use berth_image::pull::{LayerStatus, Progress, PullError, PullOptions, pull};
use berth_image::push::{PushOptions, push};
use berth_image::reference::Reference;
use berth_image::registry::{RegistryClient, RegistryConfig};
use berth_image::snapshot::{SnapshotError, Snapshotter};
use berth_image::store::ContentStore;
use common::image::{build, busybox_layers, index};
use common::registry::Registry;

struct Local {
    _t: tempfile::TempDir,
    root: std::path::PathBuf,
    content: ContentStore,
    snaps: Arc<Snapshotter>,
}

fn local() -> Local {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().to_owned();
    Local {
        content: ContentStore::open(&root).unwrap(),
        snaps: Arc::new(Snapshotter::open(&root).unwrap()),
        root,
        _t: t,
    }
}

fn client() -> RegistryClient {
    RegistryClient::new(RegistryConfig::default()).unwrap()
}

fn collector() -> (Arc<Mutex<Vec<Progress>>>, PullOptions) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    let opts = PullOptions {
        progress: Some(Arc::new(move |p| e.lock().unwrap().push(p))),
        ..Default::default()
    };
    (events, opts)
}

/// Mounts the image read-only and runs a shell command in it with chroot.
fn run_in(snaps: &Snapshotter, chain: &Digest, root: &Path, script: &str) -> String {
    let target = root.join("mnt");
    std::fs::create_dir_all(&target).unwrap();
    let lowers = snaps.lower_dirs(chain).unwrap();
    let _m = berth_image::snapshot::mount_overlay(&lowers, None, &target).unwrap();
    let out = std::process::Command::new("chroot")
        .arg(&target)
        .args(["/bin/sh", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_image_pulls_back_and_runs() {
    let reg = Registry::start();
    let src = local();
    let img = build(&src.content, &busybox_layers(b"payload"), "amd64", "a");
    let r = Reference::parse(&format!("{}/test/busybox:1", reg.addr)).unwrap();
    let c = client();
    let rep = push(&c, &src.content, &r, &img.manifest, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(rep.uploaded.len(), 4, "3 layers + config");

    let dst = local();
    let (events, opts) = collector();
    let res = pull(&c, &dst.content, &dst.snaps, &r, &opts).await.unwrap();
    assert_eq!(res.digest, img.manifest);
    assert_eq!(res.manifest_digest, img.manifest);
    assert_eq!(res.config_digest, img.config);
    assert_eq!((res.layers_fetched, res.layers_skipped), (3, 0));
    for d in &img.layers {
        assert!(dst.content.contains(d), "compressed layer {d} stored");
        let ev: Vec<_> = events
            .lock()
            .unwrap()
            .iter()
            .filter(|p| &p.layer == d)
            .map(|p| p.status.clone())
            .collect();
        assert_eq!(ev.first(), Some(&LayerStatus::Waiting), "{ev:?}");
        assert_eq!(ev.last(), Some(&LayerStatus::Done), "{ev:?}");
        assert!(
            ev.iter().any(
                |s| matches!(s, LayerStatus::Downloading { current, total } if current == total)
            )
        );
        assert!(ev.contains(&LayerStatus::Extracting));
    }
    let chain = res.chain_id.clone().unwrap();
    let out = run_in(
        &dst.snaps,
        &chain,
        &dst.root,
        "cat /etc/hello; ls /etc; cat /data",
    );
    assert_eq!(out, "hello from layer 2\nhello\npasswd\npayload");

    // Nothing is fetched twice.
    let (events, opts) = collector();
    let again = pull(&c, &dst.content, &dst.snaps, &r, &opts).await.unwrap();
    assert_eq!((again.layers_fetched, again.layers_skipped), (0, 3));
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .all(|p| p.status == LayerStatus::AlreadyExists)
    );
    // Pushing it to another repository of the same registry mounts the blobs.
    let store = berth_image::images::ImageStore::open(&dst.root.join("store")).unwrap();
    let (rec, _) = store.pull(&c, &r, &PullOptions::default()).await.unwrap();
    let other = Reference::parse(&format!("{}/test/copy:1", reg.addr)).unwrap();
    let rep = store
        .push(&c, &rec.id.to_string(), &other, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(rep.mounted.len(), 4, "{rep:?}");
    // Pushing again uploads nothing.
    let rep = push(&c, &src.content, &r, &img.manifest, &PushOptions::default())
        .await
        .unwrap();
    assert!(rep.uploaded.is_empty());
    assert_eq!(rep.existed.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_selects_platform_and_pulls_by_digest() {
    let reg = Registry::start();
    let src = local();
    let amd = build(&src.content, &busybox_layers(b"x"), "amd64", "amd");
    let arm = build(&src.content, &busybox_layers(b"y"), "arm64", "arm");
    let idx = index(
        &src.content,
        &[
            (&amd.manifest, amd.manifest_bytes.len(), "amd64"),
            (&arm.manifest, arm.manifest_bytes.len(), "arm64"),
        ],
    );
    let c = client();
    let r = Reference::parse(&format!("{}/multi/app:v1", reg.addr)).unwrap();
    push(&c, &src.content, &r, &idx, &PushOptions::default())
        .await
        .unwrap();

    let dst = local();
    let res = pull(&c, &dst.content, &dst.snaps, &r, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(res.digest, idx);
    assert_eq!(res.config_digest, amd.config);

    let opts = PullOptions {
        platform: Some(Platform::parse("linux/arm64").unwrap()),
        ..Default::default()
    };
    let by_digest = Reference::parse(&format!("{}/multi/app@{idx}", reg.addr)).unwrap();
    let res = pull(&c, &dst.content, &dst.snaps, &by_digest, &opts)
        .await
        .unwrap();
    assert_eq!(res.config_digest, arm.config);
    assert_eq!(res.manifest_digest, arm.manifest);

    let opts = PullOptions {
        platform: Some(Platform::parse("linux/s390x").unwrap()),
        ..Default::default()
    };
    let err = pull(&c, &dst.content, &dst.snaps, &r, &opts)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("linux/s390x"), "{err}");

    let missing = Reference::parse(&format!("{}/multi/app:nope", reg.addr)).unwrap();
    let err = pull(
        &c,
        &dst.content,
        &dst.snaps,
        &missing,
        &PullOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_push_and_cross_repository_mount() {
    let reg = Registry::start();
    let src = local();
    let img = build(
        &src.content,
        &busybox_layers(&common::noise(300_000, 7)),
        "amd64",
        "c",
    );
    let c = client();
    let a = Reference::parse(&format!("{}/team/a:1", reg.addr)).unwrap();
    let opts = PushOptions {
        chunk_size: Some(64 * 1024),
        ..Default::default()
    };
    push(&c, &src.content, &a, &img.manifest, &opts)
        .await
        .unwrap();
    let b = Reference::parse(&format!("{}/team/b:1", reg.addr)).unwrap();
    let opts = PushOptions {
        mount_from: Some("team/a".into()),
        ..Default::default()
    };
    let rep = push(&c, &src.content, &b, &img.manifest, &opts)
        .await
        .unwrap();
    assert_eq!(rep.mounted.len(), 4, "{rep:?}");
    assert!(rep.uploaded.is_empty());
    let dst = local();
    let res = pull(&c, &dst.content, &dst.snaps, &b, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(res.config_digest, img.config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_are_resumed() {
    let reg = Registry::start();
    let src = local();
    let payload = common::noise(3 << 20, 42);
    let img = build(&src.content, &busybox_layers(&payload), "amd64", "r");
    let c = client();
    let r = Reference::parse(&format!("{}/flaky/img:1", reg.addr)).unwrap();
    push(&c, &src.content, &r, &img.manifest, &PushOptions::default())
        .await
        .unwrap();

    let proxy = common::proxy::FlakyProxy::start(reg.addr.clone(), 3, 700_000).await;
    let via = Reference::parse(&format!("{}/flaky/img:1", proxy.addr)).unwrap();
    let dst = local();
    let (events, opts) = collector();
    let res = pull(&c, &dst.content, &dst.snaps, &via, &opts)
        .await
        .unwrap();
    assert!(proxy.cuts_done.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|p| matches!(p.status, LayerStatus::Retrying { .. })),
        "a retry was reported"
    );
    let top = dst
        .snaps
        .get(res.chain_id.as_ref().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        std::fs::read(dst.snaps.fs_path(&top).join("data")).unwrap(),
        payload
    );
    // Nothing half-written is left in the ingest area.
    assert_eq!(
        std::fs::read_dir(dst.root.join("content/ingest"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_not_matching_its_diff_id_is_refused() {
    let reg = Registry::start();
    let src = local();
    let mut layers = busybox_layers(b"z");
    // Config claims a different diff ID for the last layer than its content has.
    let good = build(&src.content, &layers, "amd64", "d");
    layers[2].0 = common::RawTar::new().file("evil", b"1").finish();
    let bad_cfg_src = build(&src.content, &layers, "amd64", "d");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&src.content.read(&bad_cfg_src.config).unwrap()).unwrap();
    cfg["rootfs"]["diff_ids"][2] = serde_json::json!(good.diff_ids[2]);
    let cfg_bytes = serde_json::to_vec(&cfg).unwrap();
    let cfg_d = src.content.put(&cfg_bytes).unwrap();
    let mut m: serde_json::Value = serde_json::from_slice(&bad_cfg_src.manifest_bytes).unwrap();
    m["config"]["digest"] = serde_json::json!(cfg_d);
    m["config"]["size"] = serde_json::json!(cfg_bytes.len());
    let md = src.content.put(&serde_json::to_vec(&m).unwrap()).unwrap();
    let c = client();
    let r = Reference::parse(&format!("{}/bad/img:1", reg.addr)).unwrap();
    push(&c, &src.content, &r, &md, &PushOptions::default())
        .await
        .unwrap();

    let dst = local();
    let err = pull(&c, &dst.content, &dst.snaps, &r, &PullOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PullError::Snapshot(SnapshotError::Unpack { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("diffID"), "{err}");
    assert!(
        !dst.content.contains(&bad_cfg_src.layers[2]),
        "the bad layer's blob is not kept"
    );
    assert_eq!(
        dst.snaps.list().unwrap().len(),
        2,
        "the two good layers remain usable"
    );
    assert_eq!(
        std::fs::read_dir(dst.root.join("content/ingest"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_fetch_each_layer_once() {
    let reg = Registry::start();
    let src = local();
    let img = build(
        &src.content,
        &busybox_layers(&common::noise(2 << 20, 5)),
        "amd64",
        "cc",
    );
    let c = client();
    let a = Reference::parse(&format!("{}/same/a:1", reg.addr)).unwrap();
    let b = Reference::parse(&format!("{}/same/b:1", reg.addr)).unwrap();
    for r in [&a, &b] {
        push(&c, &src.content, r, &img.manifest, &PushOptions::default())
            .await
            .unwrap();
    }
    let dst = local();
    let o = PullOptions::default();
    let (ra, rb) = tokio::join!(
        pull(&c, &dst.content, &dst.snaps, &a, &o),
        pull(&c, &dst.content, &dst.snaps, &b, &o)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.layers_fetched + rb.layers_fetched, 3, "{ra:?} {rb:?}");
    assert_eq!(ra.layers_skipped + rb.layers_skipped, 3);
    assert_eq!(dst.snaps.list().unwrap().len(), 3);
}
