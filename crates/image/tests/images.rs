//! Store operations: list, inspect, tag, remove, history, prune, gc, disk usage.

mod common;

use std::collections::HashSet;

use berth_image::digest::Digest;
use berth_image::images::{ImageError, ImageStore, RemoveAction};
use berth_image::reference::Reference;
use berth_image::snapshot::chain_ids;
use berth_image::unpack::UnpackOptions;
use common::image::{Built, build, busybox_layers};

/// Builds an image in the store's own content store, unpacks it, and records it.
fn add(store: &ImageStore, data: &[u8], marker: &str, tag: Option<&str>) -> Built {
    let layers = busybox_layers(data);
    let img = build(store.content(), &layers, "amd64", marker);
    let mut parent: Option<Digest> = None;
    for (i, d) in img.diff_ids.iter().enumerate() {
        let blob = store.content().open_blob(&img.layers[i]).unwrap();
        let (info, _) = store
            .snapshots()
            .apply(parent.as_ref(), d, blob, &UnpackOptions::default())
            .unwrap();
        parent = Some(info.chain_id);
    }
    let t = tag.map(|t| Reference::parse(t).unwrap());
    let rd = Reference::parse("example.com/app")
        .unwrap()
        .with_digest(img.manifest.clone());
    store
        .record(&img.manifest, &img.config, t.as_ref(), Some(&rd))
        .unwrap();
    img
}

fn never(_: &Digest) -> bool {
    false
}

#[test]
fn list_inspect_and_history_show_docker_fields() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    let img = add(&s, b"data", "one", Some("example.com/app:1"));
    s.tag("example.com/app:1", "busybox").unwrap();

    let list = s.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, img.config.to_string());
    assert_eq!(list[0].repo_tags, ["busybox:latest", "example.com/app:1"]);
    assert_eq!(
        list[0].repo_digests,
        [format!("example.com/app@{}", img.manifest)]
    );
    assert_eq!(list[0].created, 1_795_824_000);
    assert!(list[0].size > 1_000_000, "busybox is in there");

    let i = s.inspect("busybox").unwrap();
    assert_eq!(i.id, img.config.to_string());
    assert_eq!((i.os.as_str(), i.architecture.as_str()), ("linux", "amd64"));
    assert_eq!(i.config.cmd.as_deref(), Some(&["/bin/sh".to_owned()][..]));
    assert_eq!(i.root_fs.layers.len(), 3);
    assert_eq!(i.size, list[0].size);
    let json = serde_json::to_value(&i).unwrap();
    for key in [
        "Id",
        "RepoTags",
        "RepoDigests",
        "Created",
        "Size",
        "Config",
        "RootFS",
        "Architecture",
        "Os",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    assert_eq!(json["RootFS"]["Type"], "layers");
    assert_eq!(json["Config"]["Cmd"][0], "/bin/sh");

    // Every way of naming it resolves to the same image.
    for name in [
        img.config.to_string(),
        img.config.short().to_owned(),
        "docker.io/library/busybox:latest".to_owned(),
        format!("example.com/app@{}", img.manifest),
    ] {
        assert_eq!(s.resolve(&name).unwrap().id, img.config, "{name}");
    }
    assert!(matches!(s.resolve("nothere"), Err(ImageError::NotFound(_))));

    let h = s.history("busybox").unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(h[0].id, img.config.to_string());
    assert_eq!(h[1].id, "<missing>");
    assert!(h[2].size > 1_000_000, "oldest row is the busybox layer");
    assert_eq!(h[0].tags, ["busybox:latest", "example.com/app:1"]);

    // Metadata survives reopening.
    drop(s);
    let s = ImageStore::open(t.path()).unwrap();
    assert_eq!(s.list().unwrap().len(), 1);
}

#[test]
fn remove_untags_then_deletes_and_respects_in_use() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    let img = add(&s, b"data", "one", Some("app:1"));
    s.tag("app:1", "app:2").unwrap();

    // By ID with two tags: refused unless forced.
    let err = s.remove(img.config.short(), false, &never).unwrap_err();
    assert!(matches!(err, ImageError::MultipleTags { .. }), "{err}");
    // By tag: only untags.
    let a = s.remove("app:2", false, &never).unwrap();
    assert_eq!(a, [RemoveAction::Untagged("app:2".into())]);
    assert!(s.resolve("app:1").is_ok());
    // In use: refused, and forced only untags (the container keeps its image).
    let used = |d: &Digest| d == &img.config;
    let err = s.remove("app:1", false, &used).unwrap_err();
    assert!(matches!(err, ImageError::InUse { .. }), "{err}");
    let a = s.remove("app:1", true, &used).unwrap();
    assert_eq!(a, [RemoveAction::Untagged("app:1".into())]);
    let list = s.list().unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].repo_tags.is_empty(), "dangling now");
    assert_eq!(s.snapshots().list().unwrap().len(), 3);
    // Once unused, deleting by ID removes it.
    let a = s.remove(&img.config.to_string(), false, &never).unwrap();
    assert_eq!(a.last(), Some(&RemoveAction::Deleted(img.config.clone())));
    // Everything it owned is gone.
    assert!(s.list().unwrap().is_empty());
    assert!(s.content().list().unwrap().is_empty());
    assert!(s.snapshots().list().unwrap().is_empty());
}

#[test]
fn prune_removes_dangling_images_but_keeps_shared_layers() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    let a = add(&s, b"same", "a", Some("keep:1"));
    let b = add(&s, b"same", "b", None);
    let c = add(&s, b"other", "c", None);
    assert_eq!(a.diff_ids, b.diff_ids, "a and b share all layers");
    let du = s.disk_usage().unwrap();
    assert_eq!(du.images, 3);
    assert!(du.content_bytes > 0 && du.snapshots_bytes > 0);
    assert!(du.reclaimable > 0);
    let usage = |id: &Digest| du.per_image.iter().find(|u| &u.id == id).unwrap().clone();
    let (ua, uc) = (usage(&a.config), usage(&c.config));
    assert_eq!(ua.shared_size, ua.size, "a shares every layer with b");
    assert_eq!(ua.unique_size, 0);
    assert!(uc.unique_size > 0, "c's own data layer");
    assert!(uc.shared_size > 0, "c shares the busybox layer");

    let in_use = |d: &Digest| d == &c.config;
    let removed = s.prune_dangling(&in_use).unwrap();
    assert_eq!(removed, std::slice::from_ref(&b.config));
    assert!(!s.content().contains(&b.config));
    assert!(s.content().contains(&c.config), "in use: kept");
    for chain in chain_ids(&a.diff_ids) {
        assert!(s.snapshots().get(&chain).unwrap().is_some());
    }
    // Removing c (by ID, untagged) then a leaves nothing, and gc finds nothing more.
    s.remove(&c.config.to_string(), true, &never).unwrap();
    s.remove("keep:1", false, &never).unwrap();
    assert!(s.snapshots().list().unwrap().is_empty());
    let r = s.gc(&HashSet::new()).unwrap();
    assert_eq!((r.blobs_removed, r.snapshots_removed), (0, 0));
}

#[test]
fn delete_names_the_layers_that_went_and_children_their_parent() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    let parent = add(&s, b"shared", "parent", None);
    let child = add(&s, b"shared", "child", Some("child:1"));
    s.set_parent(&child.config, &parent.config).unwrap();
    assert_eq!(
        s.children(&parent.config),
        std::slice::from_ref(&child.config)
    );
    assert!(s.children(&child.config).is_empty());
    // The child's layers are all its parent's too: only the image goes.
    let a = s.delete(&child.config, &HashSet::new()).unwrap();
    assert_eq!(a.first(), Some(&RemoveAction::Untagged("child:1".into())));
    assert_eq!(a.last(), Some(&RemoveAction::Deleted(child.config.clone())));
    assert!(s.children(&parent.config).is_empty());
    // The parent was the last user of its layers: each is named, top first.
    let a = s.delete(&parent.config, &HashSet::new()).unwrap();
    let mut chains = chain_ids(&parent.diff_ids);
    chains.reverse();
    let layers: Vec<RemoveAction> = chains.into_iter().map(RemoveAction::DeletedLayer).collect();
    assert_eq!(
        a[a.len() - layers.len() - 1],
        RemoveAction::Deleted(parent.config.clone())
    );
    assert_eq!(a[a.len() - layers.len()..], layers[..]);
    assert!(s.snapshots().list().unwrap().is_empty());
}

#[test]
fn gc_keeps_chains_of_running_containers_and_sweeps_debris() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    add(&s, b"x", "a", Some("a:1"));
    // A stray blob and a stray snapshot directory.
    let stray = s.content().put(b"stray").unwrap();
    std::fs::create_dir_all(t.path().join("snapshots/777/fs")).unwrap();
    let r = s.gc(&HashSet::new()).unwrap();
    assert_eq!(r.blobs_removed, 1);
    assert!(!s.content().contains(&stray));
    assert!(!t.path().join("snapshots/777").exists());
    // Snapshots no image references survive a gc only while a container's chain needs them.
    s.remove("a:1", false, &never).unwrap();
    assert!(s.snapshots().list().unwrap().is_empty());
    let layer = common::RawTar::new().file("f", b"1").finish();
    let (info, _) = s
        .snapshots()
        .apply(
            None,
            &Digest::of(&layer),
            &layer[..],
            &UnpackOptions::default(),
        )
        .unwrap();
    let keep: HashSet<Digest> = [info.chain_id.clone()].into();
    s.gc(&keep).unwrap();
    assert!(s.snapshots().get(&info.chain_id).unwrap().is_some());
    let r = s.gc(&HashSet::new()).unwrap();
    assert_eq!(r.snapshots_removed, 1);
    assert!(!s.snapshots().fs_path(&info).exists());
}

/// A pull, load, import or commit in progress has blobs no image references yet: a
/// collection meanwhile (an `rmi` of another image, a prune) must leave them.
#[test]
fn gc_waits_for_writers_to_record_their_image() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    add(&s, b"x", "a", Some("a:1"));
    let writing = s.writing();
    let fresh = s.content().put(b"a layer being pulled").unwrap();
    // Another thread's rmi collects while the write is in progress.
    let r = std::thread::scope(|sc| sc.spawn(|| s.gc(&HashSet::new())).join().unwrap()).unwrap();
    assert!(r.deferred);
    assert_eq!(r.blobs_removed, 0);
    assert!(s.content().contains(&fresh));
    // Removing an image defers its sweep too; the image itself is gone.
    s.remove("a:1", false, &never).unwrap();
    assert!(s.resolve("a:1").is_err());
    drop(writing);
    // The next collection takes what the deferred ones left.
    let r = s.gc(&HashSet::new()).unwrap();
    assert!(!r.deferred);
    assert!(!s.content().contains(&fresh));
    assert!(s.snapshots().list().unwrap().is_empty());
}

/// A metadata store that can be told to fail, to check memory never runs ahead of disk.
struct Flaky {
    inner: berth_image::images::JsonImageMeta,
    fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl berth_image::images::ImageMetaStore for Flaky {
    fn load(&self) -> Result<berth_image::images::ImageMeta, ImageError> {
        self.inner.load()
    }
    fn save(&self, m: &berth_image::images::ImageMeta) -> Result<(), ImageError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ImageError::Meta {
                path: "/dev/full".into(),
                source: std::io::Error::from_raw_os_error(28), // ENOSPC,
            });
        }
        self.inner.save(m)
    }
}

#[test]
fn failed_metadata_write_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let meta = Flaky {
        inner: berth_image::images::JsonImageMeta::new(&t.path().join("meta.json")),
        fail: fail.clone(),
    };
    let s = ImageStore::with_meta(t.path(), Box::new(meta)).unwrap();
    add(&s, b"m", "m", Some("kept:1"));
    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(s.tag("kept:1", "new:1").is_err());
    assert!(s.remove("kept:1", false, &never).is_err());
    fail.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(s.resolve("new:1").is_err(), "the failed tag is not visible");
    assert_eq!(
        s.list().unwrap()[0].repo_tags,
        ["kept:1"],
        "the failed removal changed nothing"
    );
}
