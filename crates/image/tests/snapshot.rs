//! Snapshots with real overlay mounts (root). Mounts are `OverlayMount` guards declared
//! after the temp dir, so they are detached before it is removed, even on panic.

mod common;

use std::collections::HashSet;
use std::path::Path;

use berth_image::diff::{Change, ChangeKind, changes, write_diff};
use berth_image::digest::Digest;
use berth_image::snapshot::{Snapshotter, chain_ids, mount_overlay};
use berth_image::unpack::UnpackOptions;
use common::RawTar;

fn is_mounted(target: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let t = target.to_str().unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(t))
}

fn layer1() -> Vec<u8> {
    RawTar::new()
        .file("a", b"1")
        .dir("d")
        .file("d/x", b"x")
        .file("d/y", b"y")
        .file("gone", b"bye")
        .dir("keep")
        .file("keep/k", b"k")
        .finish()
}

fn layer2() -> Vec<u8> {
    RawTar::new()
        .file("a", b"2")
        .file(".wh.gone", b"")
        .dir("d")
        .file("d/.wh..wh..opq", b"")
        .file("d/z", b"z")
        .finish()
}

#[test]
fn layers_stack_with_whiteouts_and_opaque_dirs() {
    let t = tempfile::tempdir().unwrap();
    let s = Snapshotter::open(t.path()).unwrap();
    let (l1, l2) = (layer1(), layer2());
    let diffs = [Digest::of(&l1), Digest::of(&l2)];
    let chains = chain_ids(&diffs);
    let (s1, st1) = s
        .apply(None, &diffs[0], &l1[..], &UnpackOptions::default())
        .unwrap();
    assert!(st1.is_some());
    assert_eq!(s1.chain_id, chains[0]);
    let (s2, _) = s
        .apply(
            Some(&chains[0]),
            &diffs[1],
            &l2[..],
            &UnpackOptions::default(),
        )
        .unwrap();
    assert_eq!(s2.chain_id, chains[1]);
    assert!(s.fs_path(&s2).ends_with(format!("snapshots/{}/fs", s2.id)));

    let c = t.path().join("c");
    for d in ["upper", "work", "merged"] {
        std::fs::create_dir_all(c.join(d)).unwrap();
    }
    let merged = c.join("merged");
    let m = s
        .mount(Some(&chains[1]), &c.join("upper"), &c.join("work"), &merged)
        .unwrap();
    assert!(is_mounted(&merged));
    assert_eq!(std::fs::read(merged.join("a")).unwrap(), b"2");
    assert!(!merged.join("gone").exists());
    let mut names: Vec<_> = std::fs::read_dir(merged.join("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["z"], "opaque dir hides the lower layer's entries");
    assert_eq!(std::fs::read(merged.join("keep/k")).unwrap(), b"k");

    // The container changes things.
    std::fs::write(merged.join("new"), b"n").unwrap();
    std::fs::write(merged.join("d/z"), b"zz").unwrap();
    std::fs::remove_file(merged.join("a")).unwrap();
    std::fs::remove_dir_all(merged.join("keep")).unwrap();
    std::fs::create_dir(merged.join("keep")).unwrap();
    std::fs::write(merged.join("keep/fresh"), b"f").unwrap();
    m.unmount().unwrap();
    assert!(!is_mounted(&merged));

    let lowers = s.lower_dirs(&chains[1]).unwrap();
    let got = changes(&lowers, &c.join("upper")).unwrap();
    let want = vec![
        Change {
            path: "/a".into(),
            kind: ChangeKind::Deleted,
        },
        Change {
            path: "/d".into(),
            kind: ChangeKind::Modified,
        },
        Change {
            path: "/d/z".into(),
            kind: ChangeKind::Modified,
        },
        Change {
            path: "/keep".into(),
            kind: ChangeKind::Modified,
        },
        Change {
            path: "/keep/fresh".into(),
            kind: ChangeKind::Added,
        },
        Change {
            path: "/new".into(),
            kind: ChangeKind::Added,
        },
    ];
    assert_eq!(got, want);

    // The diff is a layer: applied on top, it reproduces the container's view.
    let (diff_changes, tar3) = write_diff(&lowers, &c.join("upper"), Vec::new()).unwrap();
    assert_eq!(diff_changes, want);
    let d3 = Digest::of(&tar3);
    let (s3, _) = s
        .apply(Some(&chains[1]), &d3, &tar3[..], &UnpackOptions::default())
        .unwrap();
    let ro = t.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let lowers3 = s.lower_dirs(&s3.chain_id).unwrap();
    assert_eq!(lowers3.len(), 3);
    let m = mount_overlay(&lowers3, None, &ro).unwrap();
    assert!(!ro.join("a").exists());
    assert_eq!(std::fs::read(ro.join("new")).unwrap(), b"n");
    assert_eq!(std::fs::read(ro.join("d/z")).unwrap(), b"zz");
    assert!(ro.join("keep/fresh").exists());
    assert!(!ro.join("keep/k").exists(), "recreated dir is opaque");
    assert!(
        std::fs::write(ro.join("x"), b"").is_err(),
        "read-only mount"
    );
    drop(m);
    assert!(!is_mounted(&ro));
}

#[test]
fn existing_chain_is_not_unpacked_twice() {
    let t = tempfile::tempdir().unwrap();
    let s = Snapshotter::open(t.path()).unwrap();
    let l1 = layer1();
    let d = Digest::of(&l1);
    let (a, stats) = s
        .apply(None, &d, &l1[..], &UnpackOptions::default())
        .unwrap();
    assert!(stats.is_some());
    // The reader is never touched the second time.
    let (b, stats) = s
        .apply(None, &d, std::io::empty(), &UnpackOptions::default())
        .unwrap();
    assert!(stats.is_none());
    assert_eq!(a, b);
    // And the index survives reopening.
    drop(s);
    let s = Snapshotter::open(t.path()).unwrap();
    assert_eq!(s.get(&d).unwrap(), Some(a));
}

#[test]
fn failed_layer_leaves_no_snapshot_behind() {
    let t = tempfile::tempdir().unwrap();
    let s = Snapshotter::open(t.path()).unwrap();
    let bad = RawTar::new()
        .file("ok", b"1")
        .file("../escape", b"x")
        .finish();
    let err = s
        .apply(None, &Digest::of(&bad), &bad[..], &UnpackOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains(".."), "{err}");
    assert!(s.list().unwrap().is_empty());
    let dirs: Vec<_> = std::fs::read_dir(t.path().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "index.json")
        .collect();
    assert!(dirs.is_empty(), "{dirs:?}");
    // A diffID that does not match the content is also refused.
    let good = layer1();
    assert!(
        s.apply(
            None,
            &Digest::of(b"other"),
            &good[..],
            &UnpackOptions::default()
        )
        .is_err()
    );
    assert!(s.list().unwrap().is_empty());
}

#[test]
fn image_with_120_layers_mounts() {
    let t = tempfile::tempdir().unwrap();
    // A long root makes the classic lowerdir=a:b:... string far longer than a page.
    let root = t
        .path()
        .join("a-rather-long-directory-name-to-stress-the-option-limit");
    let s = Snapshotter::open(&root).unwrap();
    let mut parent: Option<Digest> = None;
    for i in 0..120 {
        let tar = RawTar::new()
            .file(&format!("f{i}"), format!("{i}").as_bytes())
            .file("top", format!("{i}").as_bytes())
            .finish();
        let (info, _) = s
            .apply(
                parent.as_ref(),
                &Digest::of(&tar),
                &tar[..],
                &UnpackOptions::default(),
            )
            .unwrap();
        parent = Some(info.chain_id);
    }
    let top = parent.unwrap();
    let lowers = s.lower_dirs(&top).unwrap();
    let classic: usize = lowers.iter().map(|p| p.as_os_str().len() + 1).sum();
    assert!(
        classic > 4096,
        "the test must exceed the old option limit ({classic})"
    );
    for d in ["upper", "work", "merged"] {
        std::fs::create_dir_all(t.path().join(d)).unwrap();
    }
    let merged = t.path().join("merged");
    let _m = s
        .mount(
            Some(&top),
            &t.path().join("upper"),
            &t.path().join("work"),
            &merged,
        )
        .unwrap();
    for i in 0..120 {
        assert_eq!(
            std::fs::read_to_string(merged.join(format!("f{i}"))).unwrap(),
            i.to_string()
        );
    }
    assert_eq!(std::fs::read_to_string(merged.join("top")).unwrap(), "119");
    drop(_m);

    // The fallback for kernels without `lowerdir+` mounts the same stack in one option page.
    let ro = t.path().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let m = berth_image::snapshot::mount_overlay_legacy(&lowers, None, &ro).unwrap();
    assert_eq!(std::fs::read_to_string(ro.join("f0")).unwrap(), "0");
    assert_eq!(std::fs::read_to_string(ro.join("top")).unwrap(), "119");
    drop(m);
    assert!(!is_mounted(&ro));
}

#[test]
fn a_container_of_an_image_without_layers_mounts_and_writes() {
    // FROM scratch with nothing added (a build's COPY into it, first of all): no lower dir,
    // so one empty dir stands in, with the `lowerdir+` mount and with the option string of
    // older kernels alike (tests/v2-vm.sh runs this on 6.1).
    let t = tempfile::tempdir().unwrap();
    for (i, mount) in [
        (|l: &[std::path::PathBuf], up, m: &Path| mount_overlay(l, Some(up), m))
            as fn(&[std::path::PathBuf], (&Path, &Path), &Path) -> _,
        |l, up, m| berth_image::snapshot::mount_overlay_legacy(l, Some(up), m),
    ]
    .into_iter()
    .enumerate()
    {
        let (up, work, merged) = (
            t.path().join(format!("u{i}")),
            t.path().join(format!("w{i}")),
            t.path().join(format!("m{i}")),
        );
        for d in [&up, &work, &merged] {
            std::fs::create_dir_all(d).unwrap();
        }
        let m = mount(&[], (&up, &work), &merged).unwrap();
        std::fs::write(merged.join("new"), "x").unwrap();
        assert_eq!(std::fs::read_to_string(up.join("new")).unwrap(), "x");
        drop(m);
        assert!(!is_mounted(&merged));
    }
}

#[test]
fn gc_removes_debris_and_unreferenced_snapshots() {
    let t = tempfile::tempdir().unwrap();
    let s = Snapshotter::open(t.path()).unwrap();
    let (l1, l2) = (layer1(), layer2());
    let (a, _) = s
        .apply(None, &Digest::of(&l1), &l1[..], &UnpackOptions::default())
        .unwrap();
    let (b, _) = s
        .apply(
            Some(&a.chain_id),
            &Digest::of(&l2),
            &l2[..],
            &UnpackOptions::default(),
        )
        .unwrap();
    let other = RawTar::new().file("o", b"o").finish();
    let (c, _) = s
        .apply(
            None,
            &Digest::of(&other),
            &other[..],
            &UnpackOptions::default(),
        )
        .unwrap();
    std::fs::create_dir_all(t.path().join("snapshots/999/fs")).unwrap();
    // Removing a parent that is still used is refused.
    assert!(s.remove(&a.chain_id).is_err());
    let keep: HashSet<Digest> = [b.chain_id.clone()].into();
    assert_eq!(s.gc(Some(&keep)).unwrap(), 1);
    assert!(!t.path().join("snapshots/999").exists());
    assert!(s.get(&c.chain_id).unwrap().is_none());
    assert!(!s.fs_path(&c).exists());
    assert!(
        s.get(&a.chain_id).unwrap().is_some(),
        "parent of a kept chain stays"
    );
    assert!(s.disk_usage().unwrap() > 0);
    s.remove(&b.chain_id).unwrap();
    s.remove(&a.chain_id).unwrap();
    assert!(s.list().unwrap().is_empty());
}

#[test]
fn mount_is_undone_when_the_guard_drops_during_a_panic() {
    let t = tempfile::tempdir().unwrap();
    let s = Snapshotter::open(t.path()).unwrap();
    let l1 = layer1();
    let (a, _) = s
        .apply(None, &Digest::of(&l1), &l1[..], &UnpackOptions::default())
        .unwrap();
    for d in ["upper", "work", "merged"] {
        std::fs::create_dir_all(t.path().join(d)).unwrap();
    }
    let merged = t.path().join("merged");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _m = s
            .mount(
                Some(&a.chain_id),
                &t.path().join("upper"),
                &t.path().join("work"),
                &merged,
            )
            .unwrap();
        assert!(is_mounted(&merged));
        panic!("test failure while mounted");
    }));
    assert!(r.is_err());
    assert!(!is_mounted(&merged));
}
