//! Test images built from /bin/busybox (busybox-static) straight into a content store.

use berth_image::digest::Digest;
use berth_image::manifest::{self, Descriptor};
use berth_image::store::ContentStore;

use super::{RawTar, gzip, zstd};

pub struct Built {
    pub manifest: Digest,
    pub manifest_bytes: Vec<u8>,
    pub config: Digest,
    pub layers: Vec<Digest>,
    pub diff_ids: Vec<Digest>,
}

pub enum Comp {
    Gzip,
    Zstd,
    Plain,
}

/// Stores the layers (uncompressed tars, each compressed as asked), a config and an OCI
/// manifest. `arch` and `marker` make configs (and so image IDs) distinct.
pub fn build(store: &ContentStore, layers: &[(Vec<u8>, Comp)], arch: &str, marker: &str) -> Built {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    let mut digests = Vec::new();
    for (tar, comp) in layers {
        let (data, mt) = match comp {
            Comp::Gzip => (gzip(tar), manifest::OCI_LAYER_GZIP),
            Comp::Zstd => (zstd(tar), manifest::OCI_LAYER_ZSTD),
            Comp::Plain => (tar.clone(), manifest::OCI_LAYER),
        };
        let d = store.put(&data).unwrap();
        diff_ids.push(Digest::of(tar));
        digests.push(d.clone());
        descs.push(serde_json::json!({"mediaType": mt, "digest": d, "size": data.len()}));
    }
    let config = serde_json::json!({
        "created": "2026-11-28T00:00:00Z",
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin", format!("MARKER={marker}")], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().map(|_| serde_json::json!({"created_by": "test"})).collect::<Vec<_>>(),
    });
    let cfg_bytes = serde_json::to_vec(&config).unwrap();
    let cfg = store.put(&cfg_bytes).unwrap();
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": manifest::OCI_CONFIG, "digest": cfg, "size": cfg_bytes.len()},
        "layers": descs,
    });
    let manifest_bytes = serde_json::to_vec(&m).unwrap();
    let md = store.put(&manifest_bytes).unwrap();
    Built {
        manifest: md,
        manifest_bytes,
        config: cfg,
        layers: digests,
        diff_ids,
    }
}

/// An index over `(manifest digest, size, arch)`.
pub fn index(store: &ContentStore, entries: &[(&Digest, usize, &str)]) -> Digest {
    let ms: Vec<Descriptor> = entries
        .iter()
        .map(|(d, size, arch)| Descriptor {
            media_type: manifest::OCI_MANIFEST.into(),
            digest: (*d).clone(),
            size: *size as u64,
            platform: Some(manifest::Platform {
                os: "linux".into(),
                architecture: (*arch).into(),
                variant: None,
                os_version: None,
            }),
            urls: vec![],
            annotations: Default::default(),
        })
        .collect();
    let idx =
        serde_json::json!({"schemaVersion": 2, "mediaType": manifest::OCI_INDEX, "manifests": ms});
    store.put(&serde_json::to_vec(&idx).unwrap()).unwrap()
}

/// Three layers: busybox (gzip), config files (zstd), a whiteout and data (plain).
pub fn busybox_layers(extra: &[u8]) -> Vec<(Vec<u8>, Comp)> {
    let bb = std::fs::read("/bin/busybox").expect("busybox-static installed");
    let l1 = RawTar::new()
        .dir("bin")
        .entry(super::Entry {
            name: b"bin/busybox",
            data: &bb,
            mode: 0o755,
            ..Default::default()
        })
        .symlink("bin/sh", "busybox")
        .symlink("bin/cat", "busybox")
        .dir("etc")
        .file("etc/old", b"old")
        .finish();
    let l2 = RawTar::new()
        .dir("etc")
        .file("etc/hello", b"hello from layer 2\n")
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        .finish();
    let l3 = RawTar::new()
        .file("etc/.wh.old", b"")
        .file("data", extra)
        .finish();
    vec![(l1, Comp::Gzip), (l2, Comp::Zstd), (l3, Comp::Plain)]
}

/// Builds an image in `store`'s own content store, unpacks it and records it.
pub fn add_local(
    store: &berth_image::images::ImageStore,
    data: &[u8],
    marker: &str,
    tag: Option<&str>,
) -> Built {
    add_local_with(store, busybox_layers(data), marker, tag)
}

/// As [`add_local`], with the layers given.
pub fn add_local_with(
    store: &berth_image::images::ImageStore,
    layers: Vec<(Vec<u8>, Comp)>,
    marker: &str,
    tag: Option<&str>,
) -> Built {
    use berth_image::reference::Reference;
    let img = build(store.content(), &layers, "amd64", marker);
    let mut parent: Option<Digest> = None;
    for (i, d) in img.diff_ids.iter().enumerate() {
        let blob = store.content().open_blob(&img.layers[i]).unwrap();
        let (info, _) = store
            .snapshots()
            .apply(
                parent.as_ref(),
                d,
                blob,
                &berth_image::unpack::UnpackOptions::default(),
            )
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
