//! A real `docker-registry` (Debian's distribution 2.8) on a free 127.0.0.1 port with a
//! temporary storage dir, killed by its PID when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with("", false)
    }

    /// With `extra_http` appended under `http:` (e.g. a `tls:` block); a TLS registry is
    /// considered up once it accepts TCP connections.
    pub fn start_with(extra_http: &str, tls: bool) -> Registry {
        Registry::start_full("", extra_http, tls)
    }

    /// With `extra_top` appended as top-level configuration (e.g. an `auth:` block).
    pub fn start_full(extra_top: &str, extra_http: &str, tls: bool) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{extra_http}{extra_top}",
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
            .expect("docker-registry is installed");
        let reg = Registry {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if tls && TcpStream::connect(&reg.addr).is_ok() {
                return reg;
            }
            if let Ok(mut s) = TcpStream::connect(&reg.addr) {
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                // 401: up, and asking for credentials.
                let status = buf.split(' ').nth(1).unwrap_or("");
                if buf.starts_with("HTTP/1.") && (status == "200" || status == "401") {
                    return reg;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("registry on {} did not come up", reg.addr);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Only the process this helper started, by its own handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
