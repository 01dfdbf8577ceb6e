//! `docker pull` from a local registry (Debian's docker-registry on 127.0.0.1), then run.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, stdout};

struct Registry {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry() -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reg = Registry {
        child,
        addr,
        _dir: dir,
    };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        if let Ok(mut s) = std::net::TcpStream::connect(&reg.addr) {
            let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.") {
                return reg;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("registry did not come up");
}

#[test]
fn pull_from_a_local_registry_then_run() {
    if !common::have_prereqs() || !std::path::Path::new("/usr/bin/docker-registry").exists() {
        return;
    }
    let reg = registry();
    let seed = tempfile::tempdir().unwrap();
    let tar = common::busybox_tarball(seed.path());
    let tool = common::image_tool();
    let root = seed.path().join("root");
    let name = format!("{}/test/busybox:1", reg.addr);
    let st = Command::new(&tool)
        .arg("--root")
        .arg(&root)
        .args(["import", "-c", "CMD [\"echo\", \"from-registry\"]"])
        .arg(&tar)
        .arg(&name)
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new(&tool)
        .arg("--root")
        .arg(&root)
        .args(["push", &name, &name])
        .status()
        .unwrap();
    assert!(st.success());

    let d = Daemon::start();
    let out = d.docker(&["pull", &name]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Pull complete") || text.contains("Downloaded newer image"),
        "{text}"
    );
    assert!(text.contains("Digest: sha256:"), "{text}");
    assert!(
        d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .contains(&format!("{}/test/busybox:1", reg.addr))
    );
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", &name]),
        "from-registry"
    );
    // A second pull finds the layers already there.
    assert!(stdout(&d.docker(&["pull", &name])).contains("up to date"));
    // An unknown tag is an error with Docker's exit code.
    let missing = d.docker(&["pull", &format!("{}/test/busybox:nope", reg.addr)]);
    assert!(!missing.status.success());
}
