//! Interoperability with skopeo (containers/image): it reads what berth pushes and saves,
//! and berth reads what it copies into a registry, a docker-archive or an OCI layout.
//! Skipped when skopeo is absent.

mod common;

use std::process::Command;

use berth_image::archive;
use berth_image::images::ImageStore;
use berth_image::pull::PullOptions;
use berth_image::push::PushOptions;
use berth_image::reference::Reference;
use berth_image::registry::{RegistryClient, RegistryConfig};
use common::image::{Comp, add_local_with, busybox_layers};
use common::registry::Registry;

fn skopeo(args: &[&str]) -> Option<String> {
    let out = Command::new("skopeo").args(args).output().ok()?;
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

fn tar_dir(dir: &std::path::Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_and_berth_read_each_others_images() {
    if Command::new("skopeo").arg("--version").output().is_err() {
        eprintln!("skopeo not installed: skipped");
        return;
    }
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(&t.path().join("a")).unwrap();
    let layers: Vec<_> = busybox_layers(b"skopeo")
        .into_iter()
        .map(|(l, _)| (l, Comp::Gzip))
        .collect();
    let img = add_local_with(&s, layers, "sk", Some("sk/app:1"));
    let c = RegistryClient::new(RegistryConfig::default()).unwrap();
    let pushed = format!("{}/berth/app:1", reg.addr);
    s.push(
        &c,
        "sk/app:1",
        &Reference::parse(&pushed).unwrap(),
        &PushOptions::default(),
    )
    .await
    .unwrap();

    // skopeo reads the pushed image: same manifest digest.
    let inspect = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{pushed}"),
    ])
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v["Digest"], img.manifest.to_string());
    assert_eq!(v["Layers"].as_array().unwrap().len(), 3);

    // berth save → skopeo copies the docker-archive into the registry → berth pulls it.
    let saved = t.path().join("berth.tar");
    std::fs::write(
        &saved,
        archive::save(&s, &["sk/app:1"], Vec::new()).unwrap(),
    )
    .unwrap();
    let from_archive = format!("{}/from/archive:1", reg.addr);
    skopeo(&[
        "copy",
        "-q",
        "--dest-tls-verify=false",
        &format!("docker-archive:{}", saved.display()),
        &format!("docker://{from_archive}"),
    ]);
    let b = ImageStore::open(&t.path().join("b")).unwrap();
    let (rec, _) = b
        .pull(
            &c,
            &Reference::parse(&from_archive).unwrap(),
            &PullOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(rec.id, img.config, "same image ID after the round trip");

    // skopeo copies the registry image into an OCI layout and a docker-archive; berth loads both.
    let oci = t.path().join("oci");
    skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{pushed}"),
        &format!("oci:{}:app", oci.display()),
    ]);
    let c1 = ImageStore::open(&t.path().join("c1")).unwrap();
    let loaded = archive::load(&c1, &tar_dir(&oci)[..]).unwrap();
    assert_eq!(loaded[0].id, img.config);
    let da = t.path().join("skopeo.tar");
    skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{pushed}"),
        &format!("docker-archive:{}:sk/copied:2", da.display()),
    ]);
    let c2 = ImageStore::open(&t.path().join("c2")).unwrap();
    let loaded = archive::load(&c2, std::fs::File::open(&da).unwrap()).unwrap();
    assert_eq!(loaded[0].id, img.config);
    assert_eq!(loaded[0].tags, ["sk/copied:2"]);
}
