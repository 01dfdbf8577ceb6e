//! A private Debian `docker-registry` on 127.0.0.1 (optionally behind htpasswd basic
//! auth), killed and removed on drop. Included with `#[path]` by the tests that push.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    child: std::process::Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the registry (and, for `htpasswd`, apache2-utils) is installed.
pub fn available(htpasswd: bool) -> bool {
    std::path::Path::new("/usr/bin/docker-registry").exists()
        && (!htpasswd || Command::new("htpasswd").arg("-h").output().is_ok())
}

/// Starts a registry; with `user` set, it asks for that user's password (basic auth).
pub fn start(user: Option<(&str, &str)>) -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut auth = String::new();
    if let Some((u, p)) = user {
        let out = Command::new("htpasswd")
            .args(["-Bbn", u, p])
            .output()
            .expect("htpasswd");
        let pw = dir.path().join("htpasswd");
        std::fs::write(&pw, &out.stdout).unwrap();
        auth = format!(
            "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
            pw.display()
        );
    }
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n{auth}",
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
