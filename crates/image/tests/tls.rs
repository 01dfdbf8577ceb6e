//! HTTPS registries: a registry with a certificate from a private CA works once the CA is
//! configured, and is refused without it (HTTPS is tried first even for 127.0.0.1).

mod common;

use std::path::Path;
use std::process::Command;

use berth_image::images::ImageStore;
use berth_image::pull::PullOptions;
use berth_image::push::PushOptions;
use berth_image::reference::Reference;
use berth_image::registry::{RegistryClient, RegistryConfig};
use common::image::add_local;
use common::registry::Registry;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=berth test CA",
            "-days",
            "2",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_registry_with_private_ca() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let tls = format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        certs.path().join("server.crt").display(),
        certs.path().join("server.key").display()
    );
    let reg = Registry::start_with(&tls, true);
    let t = tempfile::tempdir().unwrap();
    let s = ImageStore::open(&t.path().join("a")).unwrap();
    let img = add_local(&s, b"tls", "tls", Some("tls/app:1"));
    let target = Reference::parse(&format!("{}/secure/app:1", reg.addr)).unwrap();

    // Without the CA: the certificate is not trusted and plain HTTP is not spoken.
    let untrusting = RegistryClient::new(RegistryConfig::default()).unwrap();
    assert!(
        s.push(&untrusting, "tls/app:1", &target, &PushOptions::default())
            .await
            .is_err()
    );

    // With the CA from a certs.d-style directory.
    let certs_d = t.path().join("certs.d");
    std::fs::create_dir_all(certs_d.join(&reg.addr)).unwrap();
    std::fs::copy(
        certs.path().join("ca.crt"),
        certs_d.join(&reg.addr).join("ca.crt"),
    )
    .unwrap();
    let mut cfg = RegistryConfig::default();
    cfg.add_certs_dir(&certs_d).unwrap();
    let c = RegistryClient::new(cfg).unwrap();
    s.push(&c, "tls/app:1", &target, &PushOptions::default())
        .await
        .unwrap();
    let d = ImageStore::open(&t.path().join("b")).unwrap();
    let (rec, _) = d.pull(&c, &target, &PullOptions::default()).await.unwrap();
    assert_eq!(rec.id, img.config);
}
