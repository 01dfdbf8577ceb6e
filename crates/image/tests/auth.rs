//! Registry authentication (basic and bearer-token challenges) and Docker Hub mirrors.

mod common;

use std::sync::Arc;

use berth_image::auth::{Credential, Credentials};
use berth_image::pull::{PullError, PullOptions, pull};
use berth_image::push::{PushOptions, push};
use berth_image::reference::Reference;
use berth_image::registry::{RegistryClient, RegistryConfig, RegistryError};
use berth_image::snapshot::Snapshotter;
use berth_image::store::ContentStore;
use common::gateway::{Gateway, Mode};
use common::image::{build, busybox_layers};
use common::registry::Registry;

fn client_with(host: &str, user: &str, pass: &str) -> RegistryClient {
    let mut creds = Credentials::new();
    creds.insert(
        host,
        Credential {
            username: user.into(),
            password: pass.into(),
        },
    );
    RegistryClient::new(RegistryConfig {
        credentials: creds,
        ..Default::default()
    })
    .unwrap()
}

async fn round_trip(mode: Mode) {
    let reg = Registry::start();
    let gw = Gateway::start(reg.addr.clone(), mode, "alice", "s3cret").await;
    let t = tempfile::tempdir().unwrap();
    let src = ContentStore::open(&t.path().join("src")).unwrap();
    let img = build(&src, &busybox_layers(b"auth"), "amd64", "auth");
    let r = Reference::parse(&format!("{}/private/app:1", gw.addr)).unwrap();

    // Anonymous: refused with an error that says why.
    let anon = RegistryClient::new(RegistryConfig::default()).unwrap();
    let err = push(&anon, &src, &r, &img.manifest, &PushOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("auth") || err.to_string().contains("401"),
        "{err}"
    );

    // Wrong password: refused.
    let wrong = client_with(&gw.addr, "alice", "nope");
    assert!(
        push(&wrong, &src, &r, &img.manifest, &PushOptions::default())
            .await
            .is_err()
    );

    let c = client_with(&gw.addr, "alice", "s3cret");
    push(&c, &src, &r, &img.manifest, &PushOptions::default())
        .await
        .unwrap();
    let dst_root = t.path().join("dst");
    let content = ContentStore::open(&dst_root).unwrap();
    let snaps = Arc::new(Snapshotter::open(&dst_root).unwrap());
    let res = pull(&c, &content, &snaps, &r, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(res.config_digest, img.config);

    let anon_pull = pull(&anon, &content, &snaps, &r, &PullOptions::default()).await;
    assert!(
        matches!(
            anon_pull,
            Err(PullError::Registry(
                RegistryError::Auth { .. } | RegistryError::Status { .. }
            ))
        ),
        "{anon_pull:?}"
    );
    if mode == Mode::Bearer {
        let scopes = gw.token_requests.lock().unwrap().clone();
        assert!(
            scopes
                .iter()
                .any(|s| s == "repository:private/app:pull,push"),
            "{scopes:?}"
        );
        assert!(
            scopes.iter().any(|s| s == "repository:private/app:pull"),
            "{scopes:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_challenge_uses_configured_credentials() {
    round_trip(Mode::Basic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_flow_uses_realm_service_and_scope() {
    round_trip(Mode::Bearer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_hub_names_are_pulled_from_a_mirror() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let src = ContentStore::open(&t.path().join("src")).unwrap();
    let img = build(&src, &busybox_layers(b"mirror"), "amd64", "m");
    let plain = RegistryClient::new(RegistryConfig::default()).unwrap();
    let on_mirror = Reference::parse(&format!("{}/library/busybox:1", reg.addr)).unwrap();
    push(
        &plain,
        &src,
        &on_mirror,
        &img.manifest,
        &PushOptions::default(),
    )
    .await
    .unwrap();

    let c = RegistryClient::new(RegistryConfig {
        mirrors: vec![reg.addr.clone()],
        retries: 1,
        ..Default::default()
    })
    .unwrap();
    let dst_root = t.path().join("dst");
    let content = ContentStore::open(&dst_root).unwrap();
    let snaps = Arc::new(Snapshotter::open(&dst_root).unwrap());
    let hub = Reference::parse("busybox:1").unwrap();
    let res = pull(&c, &content, &snaps, &hub, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(res.config_digest, img.config);
    assert_eq!(res.reference.to_string(), "docker.io/library/busybox:1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_htpasswd_auth_with_docker_config_credentials() {
    let Ok(out) = std::process::Command::new("htpasswd")
        .args(["-Bbn", "bob", "hunter2"])
        .output()
    else {
        eprintln!("htpasswd (apache2-utils) not installed: skipped");
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let pw = t.path().join("htpasswd");
    std::fs::write(&pw, &out.stdout).unwrap();
    let reg = Registry::start_full(
        &format!(
            "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
            pw.display()
        ),
        "",
        false,
    );
    // Credentials the way `docker login` leaves them.
    let cfg_path = t.path().join("config.json");
    std::fs::write(
        &cfg_path,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"Ym9iOmh1bnRlcjI="}}}}}}"#,
            reg.addr
        ),
    )
    .unwrap();
    let mut creds = Credentials::new();
    creds.merge_file(&cfg_path).unwrap();
    let c = RegistryClient::new(RegistryConfig {
        credentials: creds,
        ..Default::default()
    })
    .unwrap();
    let src = ContentStore::open(&t.path().join("src")).unwrap();
    let img = build(&src, &busybox_layers(b"htpasswd"), "amd64", "h");
    let r = Reference::parse(&format!("{}/locked/app:1", reg.addr)).unwrap();
    let anon = RegistryClient::new(RegistryConfig::default()).unwrap();
    assert!(
        push(&anon, &src, &r, &img.manifest, &PushOptions::default())
            .await
            .is_err()
    );
    push(&c, &src, &r, &img.manifest, &PushOptions::default())
        .await
        .unwrap();
    let dst_root = t.path().join("dst");
    let content = ContentStore::open(&dst_root).unwrap();
    let snaps = Arc::new(Snapshotter::open(&dst_root).unwrap());
    let res = pull(&c, &content, &snaps, &r, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(res.config_digest, img.config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_registry_errors_are_retried() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let src = ContentStore::open(&t.path().join("src")).unwrap();
    let img = build(&src, &busybox_layers(b"503"), "amd64", "503");
    let plain = RegistryClient::new(RegistryConfig::default()).unwrap();
    let direct = Reference::parse(&format!("{}/flaky/app:1", reg.addr)).unwrap();
    push(
        &plain,
        &src,
        &direct,
        &img.manifest,
        &PushOptions::default(),
    )
    .await
    .unwrap();
    let gw = Gateway::start(reg.addr.clone(), Mode::Flaky, "", "").await;
    let via = Reference::parse(&format!("{}/flaky/app:1", gw.addr)).unwrap();
    let dst_root = t.path().join("dst");
    let content = ContentStore::open(&dst_root).unwrap();
    let snaps = Arc::new(Snapshotter::open(&dst_root).unwrap());
    let res = pull(&plain, &content, &snaps, &via, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(res.config_digest, img.config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_token_auth_with_a_token_server() {
    let t = tempfile::tempdir().unwrap();
    let ts = common::token::TokenServer::start(t.path(), "carol", "pw").await;
    let reg = Registry::start_full(
        &format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: test-registry\n    issuer: berth-test\n    rootcertbundle: {}\n",
            ts.addr,
            ts.cert.display()
        ),
        "",
        false,
    );
    let src = ContentStore::open(&t.path().join("src")).unwrap();
    let img = build(&src, &busybox_layers(b"token"), "amd64", "tok");
    let r = Reference::parse(&format!("{}/private/app:1", reg.addr)).unwrap();
    let anon = RegistryClient::new(RegistryConfig::default()).unwrap();
    assert!(
        push(&anon, &src, &r, &img.manifest, &PushOptions::default())
            .await
            .is_err()
    );
    let c = client_with(&reg.addr, "carol", "pw");
    push(&c, &src, &r, &img.manifest, &PushOptions::default())
        .await
        .unwrap();
    let dst_root = t.path().join("dst");
    let content = ContentStore::open(&dst_root).unwrap();
    let snaps = Arc::new(Snapshotter::open(&dst_root).unwrap());
    let res = pull(&c, &content, &snaps, &r, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(res.config_digest, img.config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_altered_in_transit_is_refused() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap();
    let src = ContentStore::open(&t.path().join("src")).unwrap();
    let img = build(&src, &busybox_layers(b"tamper"), "amd64", "tamper");
    let plain = RegistryClient::new(RegistryConfig::default()).unwrap();
    let direct = Reference::parse(&format!("{}/t/app:1", reg.addr)).unwrap();
    push(
        &plain,
        &src,
        &direct,
        &img.manifest,
        &PushOptions::default(),
    )
    .await
    .unwrap();
    let gw = Gateway::start(reg.addr.clone(), Mode::Tamper, "", "").await;
    let via = Reference::parse(&format!("{}/t/app:1", gw.addr)).unwrap();
    let dst_root = t.path().join("dst");
    let content = ContentStore::open(&dst_root).unwrap();
    let snaps = Arc::new(Snapshotter::open(&dst_root).unwrap());
    let err = pull(&plain, &content, &snaps, &via, &PullOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PullError::Registry(RegistryError::DigestMismatch { .. })
        ),
        "{err}"
    );
    assert!(content.list().unwrap().is_empty(), "nothing stored");
}
