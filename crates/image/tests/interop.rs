//! Interoperability with podman (a containers/image + containers/storage peer): images
//! berth pushes or saves are read by podman, and images podman pushes (Docker schema 2)
//! or saves (docker-archive, oci-archive) are read by berth. Skipped when podman is absent.
//! Every podman image a test creates is removed by name when the test ends.

mod common;

use std::process::Command;

use berth_image::archive;
use berth_image::images::ImageStore;
use berth_image::pull::PullOptions;
use berth_image::push::PushOptions;
use berth_image::reference::Reference;
use berth_image::registry::{RegistryClient, RegistryConfig};
use common::image::{Comp, add_local_with, busybox_layers};

/// Docker-format images cannot carry zstd layers: gzip everything for podman.
fn gzip_layers(data: &[u8]) -> Vec<(Vec<u8>, Comp)> {
    busybox_layers(data)
        .into_iter()
        .map(|(t, _)| (t, Comp::Gzip))
        .collect()
}
use common::registry::Registry;

fn podman() -> bool {
    Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn pm(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Removes the podman images named when dropped.
struct PodmanImages(Vec<String>);

impl Drop for PodmanImages {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("podman").args(["rmi", "-f", n]).output();
        }
    }
}

fn client() -> RegistryClient {
    RegistryClient::new(RegistryConfig::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_pulls_what_berth_pushes_and_berth_pulls_what_podman_pushes() {
    if !podman() {
        eprintln!("podman not installed: skipped");
        return;
    }
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(t.path()).unwrap();
    let img = add_local_with(&s, gzip_layers(b"interop"), "i", Some("local/app:1"));
    let ours = format!("{}/berth/app:1", reg.addr);
    let theirs = format!("{}/podman/app:2", reg.addr);
    let _cleanup = PodmanImages(vec![ours.clone(), theirs.clone()]);
    let c = client();
    s.push(
        &c,
        "local/app:1",
        &Reference::parse(&ours).unwrap(),
        &PushOptions::default(),
    )
    .await
    .unwrap();

    pm(&["pull", "-q", "--tls-verify=false", &ours]);
    let id = pm(&["image", "inspect", &ours, "--format", "{{.Id}}"]);
    assert_eq!(id, img.config.hex(), "podman sees the same image ID");
    // (podman run is not possible in this sandbox: crun cannot set rlimits here.)

    // podman re-pushes it as Docker schema 2 with gzip layers; berth pulls that.
    pm(&[
        "push",
        "-q",
        "--tls-verify=false",
        "--format",
        "v2s2",
        &ours,
        &theirs,
    ]);
    let t2 = tempfile::tempdir().unwrap();
    let s2 = ImageStore::open(t2.path()).unwrap();
    let r = Reference::parse(&theirs).unwrap();
    let (rec, res) = s2.pull(&c, &r, &PullOptions::default()).await.unwrap();
    let m = s2.content().read(&res.manifest_digest).unwrap();
    assert!(
        String::from_utf8_lossy(&m).contains(berth_image::manifest::DOCKER_MANIFEST),
        "the manifest is Docker schema 2"
    );
    let i = s2.inspect(&theirs).unwrap();
    assert_eq!(i.root_fs.layers.len(), 3);
    assert_eq!(i.config.cmd.as_deref(), Some(&["/bin/sh".to_owned()][..]));
    let chain = s2.chain_id(&rec).unwrap().unwrap();
    let top = s2.snapshots().get(&chain).unwrap().unwrap();
    assert_eq!(
        std::fs::read(s2.snapshots().fs_path(&top).join("data")).unwrap(),
        b"interop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_cross_between_berth_and_podman() {
    if !podman() {
        eprintln!("podman not installed: skipped");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(&t.path().join("a")).unwrap();
    let tag = format!("berth-interop-{}:1", std::process::id());
    let img = add_local_with(&s, gzip_layers(b"archived"), "arch", Some(&tag));
    let _cleanup = PodmanImages(vec![
        format!("localhost/{tag}"),
        format!("docker.io/library/{tag}"),
    ]);

    // berth save → podman load.
    let path = t.path().join("berth.tar");
    let data = archive::save(&s, &[&tag], Vec::new()).unwrap();
    std::fs::write(&path, data).unwrap();
    pm(&["load", "-q", "-i", path.to_str().unwrap()]);
    let id = pm(&[
        "image",
        "inspect",
        &format!("docker.io/library/{tag}"),
        "--format",
        "{{.Id}}",
    ]);
    assert_eq!(id, img.config.hex());

    // podman save (docker-archive and oci-archive) → berth load.
    for fmt in ["docker-archive", "oci-archive"] {
        let out = t.path().join(format!("{fmt}.tar"));
        pm(&[
            "save",
            "-q",
            "--format",
            fmt,
            "-o",
            out.to_str().unwrap(),
            &format!("docker.io/library/{tag}"),
        ]);
        let dst = ImageStore::open(&t.path().join(fmt)).unwrap();
        let loaded = archive::load(&dst, std::fs::File::open(&out).unwrap()).unwrap();
        assert_eq!(loaded.len(), 1, "{fmt}");
        let i = dst.inspect(&loaded[0].id.to_string()).unwrap();
        assert_eq!(i.root_fs.layers.len(), 3, "{fmt}");
        assert_eq!(
            i.config.cmd.as_deref(),
            Some(&["/bin/sh".to_owned()][..]),
            "{fmt}"
        );
    }
}
