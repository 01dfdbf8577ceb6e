//! A container's filesystem from an image, and `commit` of its changes as a new image.

mod common;

use berth_image::commit::CommitOptions;
use berth_image::diff::ChangeKind;
use berth_image::images::ImageStore;
use berth_image::reference::Reference;
use common::image::add_local;

#[test]
fn committed_container_changes_become_a_new_layer() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(&t.path().join("root")).unwrap();
    add_local(&s, b"base", "base", Some("base:1"));
    let cdir = t.path().join("containers/c1");
    let (fs, m) = s.mount_container("base:1", &cdir).unwrap();
    std::fs::write(fs.merged.join("etc/added"), b"new\n").unwrap();
    std::fs::remove_file(fs.merged.join("etc/hello")).unwrap();
    m.unmount().unwrap();

    let opts = CommitOptions {
        changes: vec!["CMD [\"/bin/cat\", \"/etc/added\"]".into()],
        comment: Some("test commit".into()),
        created_by: Some("berth commit".into()),
        reference: Some(Reference::parse("committed:1").unwrap()),
        ..Default::default()
    };
    let (rec, changes) = s.commit("base:1", &fs, &opts).unwrap();
    let kinds: Vec<(String, ChangeKind)> =
        changes.iter().map(|c| (c.path.clone(), c.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("/etc".to_owned(), ChangeKind::Modified),
            ("/etc/added".to_owned(), ChangeKind::Added),
            ("/etc/hello".to_owned(), ChangeKind::Deleted),
        ]
    );
    let i = s.inspect("committed:1").unwrap();
    assert_eq!(i.id, rec.id.to_string());
    assert_eq!(i.root_fs.layers.len(), 4);
    assert_eq!(i.config.cmd.as_deref().unwrap(), ["/bin/cat", "/etc/added"]);
    assert!(
        i.config
            .env
            .as_ref()
            .unwrap()
            .iter()
            .any(|e| e == "MARKER=base")
    );
    assert_eq!(i.comment, "test commit");
    let h = s.history("committed:1").unwrap();
    assert_eq!(h[0].created_by, "berth commit");

    // A container of the new image sees the committed state.
    let (fs2, m2) = s
        .mount_container("committed:1", &t.path().join("containers/c2"))
        .unwrap();
    assert_eq!(
        std::fs::read(fs2.merged.join("etc/added")).unwrap(),
        b"new\n"
    );
    assert!(!fs2.merged.join("etc/hello").exists());
    assert_eq!(std::fs::read(fs2.merged.join("data")).unwrap(), b"base");
    drop(m2);
}

#[test]
fn a_commit_that_changed_nothing_adds_no_layer() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(&t.path().join("root")).unwrap();
    add_local(&s, b"base", "base", Some("base:1"));
    let (fs, m) = s
        .mount_container("base:1", &t.path().join("containers/c1"))
        .unwrap();
    m.unmount().unwrap();
    let opts = CommitOptions {
        created_by: Some("true".into()),
        reference: Some(Reference::parse("same:1").unwrap()),
        ..Default::default()
    };
    let (_, changes) = s.commit("base:1", &fs, &opts).unwrap();
    assert!(changes.is_empty());
    let base = s.inspect("base:1").unwrap();
    let same = s.inspect("same:1").unwrap();
    assert_eq!(same.root_fs.layers, base.root_fs.layers);
    assert_ne!(same.id, base.id);
    let h = s.history("same:1").unwrap();
    assert_eq!(h[0].created_by, "true");
    assert_eq!(h[0].size, 0);
    // Its containers stand on the parent's layers.
    let (fs2, m2) = s
        .mount_container("same:1", &t.path().join("containers/c2"))
        .unwrap();
    assert_eq!(std::fs::read(fs2.merged.join("data")).unwrap(), b"base");
    drop(m2);
}
