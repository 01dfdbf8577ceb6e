//! save/load (docker-archive + OCI layout), import with changes, export.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use berth_image::archive::{self, ArchiveError};
use berth_image::digest::Digest;
use berth_image::images::ImageStore;
use berth_image::reference::Reference;
use common::image::add_local;

fn tar_files(data: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(data);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).unwrap();
        out.insert(p, buf);
    }
    out
}

fn run(store: &ImageStore, name: &str, scratch: &Path, script: &str) -> String {
    let rec = store.resolve(name).unwrap();
    let chain = store.chain_id(&rec).unwrap().unwrap();
    let lowers = store.snapshots().lower_dirs(&chain).unwrap();
    std::fs::create_dir_all(scratch).unwrap();
    let _m = berth_image::snapshot::mount_overlay(&lowers, None, scratch).unwrap();
    let out = std::process::Command::new("chroot")
        .arg(scratch)
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

#[test]
fn save_then_load_round_trips_in_docker_and_oci_form() {
    let t = tempfile::tempdir().unwrap();
    let a = ImageStore::open(&t.path().join("a")).unwrap();
    let img = add_local(&a, b"saved", "s", Some("busybox:1.0"));
    let data = archive::save(&a, &["busybox:1.0"], Vec::new()).unwrap();
    let files = tar_files(&data);
    for f in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(files.contains_key(f), "{f} missing: {:?}", files.keys());
    }
    assert!(files.contains_key(&format!("blobs/sha256/{}", img.config.hex())));
    let mj: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(mj[0]["RepoTags"][0], "busybox:1.0");
    assert_eq!(
        mj[0]["Config"],
        format!("blobs/sha256/{}", img.config.hex())
    );
    assert_eq!(mj[0]["Layers"].as_array().unwrap().len(), 3);
    let repos: serde_json::Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert!(repos["busybox"]["1.0"].is_string());
    let idx: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    assert_eq!(idx["manifests"][0]["digest"], img.manifest.to_string());
    assert_eq!(
        idx["manifests"][0]["annotations"]["io.containerd.image.name"],
        "docker.io/library/busybox:1.0"
    );

    let b = ImageStore::open(&t.path().join("b")).unwrap();
    let loaded = archive::load(&b, &data[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, img.config);
    assert_eq!(loaded[0].tags, ["busybox:1.0"]);
    assert_eq!(
        b.resolve("busybox:1.0").unwrap().manifest,
        img.manifest,
        "manifest kept as is"
    );
    let out = run(
        &b,
        "busybox:1.0",
        &t.path().join("mnt"),
        "cat /etc/hello /data",
    );
    assert_eq!(out, "hello from layer 2\nsaved");

    // The same archive without manifest.json is a plain OCI layout and loads too.
    let c = ImageStore::open(&t.path().join("c")).unwrap();
    let mut oci = tar::Builder::new(Vec::new());
    for (p, d) in &files {
        if p != "manifest.json" && p != "repositories" {
            let mut h = tar::Header::new_ustar();
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            oci.append_data(&mut h, p, &d[..]).unwrap();
        }
    }
    let oci = oci.into_inner().unwrap();
    let loaded = archive::load(&c, &oci[..]).unwrap();
    assert_eq!(loaded[0].id, img.config);
    assert_eq!(loaded[0].tags, ["busybox:1.0"]);

    // Saving by ID leaves the image untagged in the archive, as Docker does.
    let by_id = archive::save(&a, &[img.config.short()], Vec::new()).unwrap();
    let mj: serde_json::Value =
        serde_json::from_slice(&tar_files(&by_id)["manifest.json"]).unwrap();
    assert!(mj[0]["RepoTags"].is_null());
}

#[test]
fn legacy_docker_archive_with_layer_tar_dirs_loads() {
    let t = tempfile::tempdir().unwrap();
    let layer = common::RawTar::new().file("hello", b"legacy").finish();
    let diff = Digest::of(&layer);
    let cfg = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [diff, diff]},
    });
    let cfg_bytes = serde_json::to_vec(&cfg).unwrap();
    let cfg_d = Digest::of(&cfg_bytes);
    let manifest = serde_json::json!([{
        "Config": format!("{}.json", cfg_d.hex()),
        "RepoTags": ["legacy:1"],
        "Layers": ["aaa/layer.tar", "bbb/layer.tar"],
    }]);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |p: &str, d: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, p, d).unwrap();
    };
    add("aaa/layer.tar", &layer);
    add(&format!("{}.json", cfg_d.hex()), &cfg_bytes);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "bbb/layer.tar", "../aaa/layer.tar")
        .unwrap();
    let data = b.into_inner().unwrap();

    let s = ImageStore::open(t.path()).unwrap();
    let loaded = archive::load(&s, &data[..]).unwrap();
    assert_eq!(loaded[0].id, cfg_d);
    let i = s.inspect("legacy:1").unwrap();
    assert_eq!(i.root_fs.layers.len(), 2);
    // Garbage is refused with a clear error.
    let err = archive::load(&s, &b"not a tar at all"[..]).unwrap_err();
    assert!(
        matches!(err, ArchiveError::Io { .. } | ArchiveError::Invalid(_)),
        "{err}"
    );
}

#[test]
fn import_applies_changes_and_export_flattens() {
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    let layers = common::image::busybox_layers(b"");
    let gz = common::gzip(&layers[0].0);
    let changes: Vec<String> = [
        r#"CMD ["/bin/sh", "-c", "echo hi"]"#,
        "ENV A=1 B=two",
        "ENV C three",
        "WORKDIR /w",
        "EXPOSE 80 53/udp",
        "LABEL x=y",
        "USER 1000",
        "ENTRYPOINT /bin/sh",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let r = Reference::parse("imported:1").unwrap();
    let rec = archive::import(&s, &gz[..], &changes, Some(&r), None).unwrap();
    let i = s.inspect("imported:1").unwrap();
    assert_eq!(i.id, rec.id.to_string());
    assert_eq!(i.root_fs.layers, [Digest::of(&layers[0].0).to_string()]);
    let c = &i.config;
    assert_eq!(c.cmd.as_deref().unwrap(), ["/bin/sh", "-c", "echo hi"]);
    assert_eq!(
        c.entrypoint.as_deref().unwrap(),
        ["/bin/sh", "-c", "/bin/sh"]
    );
    assert_eq!(c.env.as_deref().unwrap(), ["A=1", "B=two", "C=three"]);
    assert_eq!(c.working_dir.as_deref(), Some("/w"));
    assert_eq!(c.user.as_deref(), Some("1000"));
    assert!(c.exposed_ports.as_ref().unwrap().contains_key("80/tcp"));
    assert!(c.exposed_ports.as_ref().unwrap().contains_key("53/udp"));
    assert_eq!(c.labels.as_ref().unwrap()["x"], "y");
    assert_eq!(
        run(&s, "imported:1", &t.path().join("m1"), "echo ok"),
        "ok\n"
    );
    let err = archive::import(&s, &gz[..], &["FROM x".to_owned()], None, None).unwrap_err();
    // dockerd's words for an instruction --change does not take.
    assert!(matches!(err, ArchiveError::UnknownChange(_)), "{err}");
    assert_eq!(err.to_string(), "from is not a valid change command");

    // Export of a full image: whiteouts applied, no .wh. entries.
    add_local(&s, b"exported", "e", Some("full:1"));
    let rec = s.resolve("full:1").unwrap();
    let chain = s.chain_id(&rec).unwrap();
    let scratch = t.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let out = archive::export(&s, chain.as_ref(), None, &scratch, Vec::new()).unwrap();
    let files = tar_files(&out);
    assert_eq!(files["data"], b"exported");
    assert_eq!(files["etc/hello"], b"hello from layer 2\n");
    assert!(files.contains_key("bin/busybox"));
    assert!(!files.contains_key("etc/old"));
    assert!(files.keys().all(|k| !k.contains(".wh.")));

    // A container's upper dir on top: its additions and deletions show.
    let upper = t.path().join("upper");
    std::fs::create_dir_all(upper.join("etc")).unwrap();
    std::fs::write(upper.join("new"), b"n").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        upper.join("data"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();
    let out = archive::export(&s, chain.as_ref(), Some(&upper), &scratch, Vec::new()).unwrap();
    let files = tar_files(&out);
    assert_eq!(files["new"], b"n");
    assert!(!files.contains_key("data"));
    // Flat export re-imports to the same filesystem.
    let back = archive::import(&s, &out[..], &[], None, None).unwrap();
    let i = s.inspect(&back.id.to_string()).unwrap();
    assert_eq!(i.root_fs.layers.len(), 1);
}
