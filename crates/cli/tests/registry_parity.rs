//! login, logout, push and pull against a private registry with basic auth, through
//! berth and through the docker CLI: the same credentials file entries, the same output.

mod common;
mod registry;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Daemon, IMG, stderr, stdout};
use registry::registry;

/// berth with its own DOCKER_CONFIG directory.
fn berth_cfg(d: &Daemon, cfg: &Path, args: &[&str], input: Option<&[u8]>) -> Output {
    let mut child = Command::new("timeout")
        .args(["-k", "2", "60", common::BERTH])
        .args(args)
        .env("BERTH_HOST", d.host())
        .env("BERTH_NO_AUTOSTART", "1")
        .env("DOCKER_CONFIG", cfg)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(data) = input {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn auths(cfg: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(cfg.join("config.json")).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default()["auths"].clone()
}

/// Digests and sizes masked (two pushes of one image under two names differ in neither,
/// but the tag and repository do).
fn mask(s: &str, name: &str) -> String {
    s.replace(name, "NAME")
        .lines()
        .map(|l| match l.find("digest: sha256:") {
            Some(i) => format!("{}digest: X", &l[..i]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn login_push_pull_logout_like_docker() {
    if !common::have_prereqs()
        || !Path::new("/usr/bin/docker-registry").exists()
        || !Path::new("/usr/bin/htpasswd").exists()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("htpasswd");
    let out = Command::new("htpasswd")
        .args(["-Bbn", "alice", "s3cret"])
        .output()
        .unwrap();
    std::fs::write(&pw, &out.stdout).unwrap();
    let reg = registry(Some(&pw));
    let d = Daemon::start();
    let (bcfg, dcfg) = (dir.path().join("bcfg"), d.dir.path().join("dockercfg"));
    let server = reg.addr.as_str();

    // A wrong password: both refuse, exit 1, nothing stored.
    let args = ["login", "-u", "alice", "--password-stdin", server];
    let o = berth_cfg(&d, &bcfg, &args, Some(b"wrong\n"));
    let t = d.docker_stdin(&args, Some(b"wrong\n"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(o.status.code(), t.status.code());
    assert!(
        stderr(&o).starts_with("Error response from daemon: "),
        "{}",
        stderr(&o)
    );
    assert!(auths(&bcfg).is_null() || auths(&bcfg).get(server).is_none());
    // The right one: "Login Succeeded" and the same config.json entry as docker writes.
    let o = berth_cfg(&d, &bcfg, &args, Some(b"s3cret\n"));
    let t = d.docker_stdin(&args, Some(b"s3cret\n"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&t));
    assert_eq!(auths(&bcfg)[server], auths(&dcfg)[server]);
    assert_eq!(auths(&bcfg)[server]["auth"], "YWxpY2U6czNjcmV0");
    // push: the same progress lines (no terminal), the credentials sent along.
    let (ours, theirs) = (format!("{server}/b/img:v1"), format!("{server}/d/img:v1"));
    d.ok(&["tag", IMG, &ours]);
    d.ok(&["tag", IMG, &theirs]);
    let o = berth_cfg(&d, &bcfg, &["push", &ours], None);
    let t = d.docker(&["push", &theirs]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        mask(&stdout(&o), &format!("{server}/b/img")),
        mask(&stdout(&t), &format!("{server}/d/img"))
    );
    assert!(stdout(&o).contains("v1: digest: sha256:"), "{}", stdout(&o));
    // Again: the layers are there already.
    let o = berth_cfg(&d, &bcfg, &["image", "push", &ours], None);
    let t = d.docker(&["push", &theirs]);
    assert_eq!(
        mask(&stdout(&o), &format!("{server}/b/img")),
        mask(&stdout(&t), &format!("{server}/d/img"))
    );
    // -q prints the reference only.
    let o = berth_cfg(&d, &bcfg, &["push", "-q", &ours], None);
    assert_eq!(stdout(&o).trim(), ours);
    // pull with the stored credentials.
    d.ok(&["rmi", &ours]);
    let o = berth_cfg(&d, &bcfg, &["pull", "-q", &ours], None);
    assert!(o.status.success(), "{}", stderr(&o));
    // logout: the entry goes; push is refused like docker's is.
    let o = berth_cfg(&d, &bcfg, &["logout", server], None);
    assert_eq!(
        stdout(&o),
        format!("Removing login credentials for {server}\n")
    );
    assert!(auths(&bcfg).get(server).is_none());
    d.ok(&["logout", server]);
    let o = berth_cfg(&d, &bcfg, &["push", &ours], None);
    let t = d.docker(&["push", &theirs]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(o.status.code(), t.status.code());
}
