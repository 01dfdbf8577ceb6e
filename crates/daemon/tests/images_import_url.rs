//! `docker import URL`: berthd downloads the tarball itself, with dockerd's progress
//! lines and errors, from a small HTTP server this test runs on 127.0.0.1 (a whole file,
//! a gzip one without a length, a 404, and one that drops the connection mid-body).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Daemon, stderr, stdout};

/// A one-thread HTTP/1.1 server on 127.0.0.1, stopped (and joined) on drop.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(tar: Vec<u8>, gz: Vec<u8>) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in l.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    let _ = serve(c, &tar, &gz);
                }
            }
        });
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut c: TcpStream, tar: &[u8], gz: &[u8]) -> std::io::Result<()> {
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut r = BufReader::new(c.try_clone()?);
    let mut request = String::new();
    r.read_line(&mut request)?;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let head = |status: &str, len: Option<usize>| {
        let len = len
            .map(|n| format!("Content-Length: {n}\r\n"))
            .unwrap_or_default();
        format!("HTTP/1.1 {status}\r\n{len}Connection: close\r\n\r\n")
    };
    match path {
        "/x.tar" => {
            c.write_all(head("200 OK", Some(tar.len())).as_bytes())?;
            c.write_all(tar)?;
        }
        // No length: the body ends when the connection does.
        "/x.tar.gz" => {
            c.write_all(head("200 OK", None).as_bytes())?;
            c.write_all(gz)?;
        }
        "/drop" => {
            c.write_all(head("200 OK", Some(tar.len())).as_bytes())?;
            c.write_all(&tar[..tar.len() / 2])?;
            c.flush()?;
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        _ => {
            let body = b"no such file here\n";
            c.write_all(head("404 Not Found", Some(body.len())).as_bytes())?;
            c.write_all(body)?;
        }
    }
    c.shutdown(Shutdown::Both)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&input));
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    w.join().unwrap().unwrap();
    assert!(child.wait().unwrap().success());
    out
}

/// What an import must not leave behind when it fails: no image, no spooled file.
fn assert_nothing_left(d: &Daemon, images_before: &str) {
    assert_eq!(d.ok(&["images", "-a", "-q", "--no-trunc"]), images_before);
    let tmp: Vec<_> = std::fs::read_dir(d.data.join("tmp"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "left behind: {tmp:?}");
}

/// A raw `POST /images/create` on berthd's socket; returns the whole response.
fn api_post(d: &Daemon, path: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: berth\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn import_from_a_url_downloads_with_progress_and_fails_cleanly() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let tar = std::fs::read(common::busybox_tarball(d.dir.path())).unwrap();
    let srv = Server::start(tar.clone(), gzip(&tar));

    // docker's plain output: where from, then the ID; the image runs.
    let url = srv.url("/x.tar");
    let out = d.ok(&["import", "-c", "ENV FROM=url", &url, "fromurl:1"]);
    let out: Vec<&str> = out.lines().collect();
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0], format!("Downloading from {url}"));
    let id = out[1];
    assert_eq!(d.ok(&["images", "-q", "--no-trunc", "fromurl:1"]), id);
    let f = |fmt: &str| d.ok(&["image", "inspect", "-f", fmt, "fromurl:1"]);
    assert_eq!(f("{{.Comment}}"), format!("Imported from {url}"));
    assert!(f("{{json .Config.Env}}").contains("FROM=url"));
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "fromurl:1",
            "sh",
            "-c",
            "echo $FROM"
        ]),
        "url"
    );

    // Compressed, no Content-Length, with a message and a platform.
    d.ok(&[
        "import",
        "-m",
        "zipped",
        "--platform",
        "linux/arm64",
        &srv.url("/x.tar.gz"),
        "fromurl:gz",
    ]);
    let f = |fmt: &str| d.ok(&["image", "inspect", "-f", fmt, "fromurl:gz"]);
    assert_eq!(
        f("{{.Comment}}|{{.Os}}/{{.Architecture}}"),
        "zipped|linux/arm64"
    );
    assert_eq!(f("{{len .RootFS.Layers}}"), "1");

    // The stream itself: Docker's progress lines, total -1 when unknown.
    let resp = api_post(
        &d,
        &format!(
            "/v1.45/images/create?fromSrc={}&repo=raw",
            srv.url("/x.tar")
        ),
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.contains(&format!(
            r#""progressDetail":{{"current":{n},"total":{n}}}"#,
            n = tar.len()
        )),
        "{resp}"
    );
    assert!(resp.contains(r#""status":"Importing""#), "{resp}");
    assert!(resp.contains(r#""progress":"[====="#), "{resp}");
    let resp = api_post(
        &d,
        &format!("/v1.45/images/create?fromSrc={}", srv.url("/x.tar.gz")),
    );
    assert!(resp.contains(r#""total":-1"#), "{resp}");
    // No scheme: http, as dockerd assumes.
    let resp = api_post(
        &d,
        &format!(
            "/v1.45/images/create?fromSrc=127.0.0.1:{}/x.tar&repo=noscheme",
            srv.port
        ),
    );
    assert!(resp.contains(r#"{"status":"sha256:"#), "{resp}");
    d.ok(&["rmi", "raw", "noscheme"]);
    let untagged = d.ok(&["images", "-q", "-f", "dangling=true"]);
    d.ok(&["rmi", &untagged]);

    // Failures: dockerd's messages, exit 1, nothing left behind.
    let before = d.ok(&["images", "-a", "-q", "--no-trunc"]);
    let missing = srv.url("/missing.tar");
    let out = d.docker(&["import", &missing, "bad:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "Error response from daemon: failed to GET {missing} with status 404 Not Found: no such file here"
        )
    );
    assert_nothing_left(&d, &before);

    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}/x.tar", l.local_addr().unwrap().port())
    };
    let out = d.docker(&["import", &closed, "bad:1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!("Error response from daemon: Get \"{closed}\": "))
            && err.contains("Connection refused"),
        "{err}"
    );
    assert_nothing_left(&d, &before);

    let out = d.docker(&["import", &srv.url("/drop"), "bad:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out).trim(),
        format!("Downloading from {}", srv.url("/drop"))
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Get \"{}\": connection lost after ",
            srv.url("/drop")
        )) && err.contains(&format!(" of {} bytes", tar.len())),
        "{err}"
    );
    assert_nothing_left(&d, &before);

    let out = d.docker(&["import", "http://bad host/x.tar", "bad:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("parse \"http://bad host/x.tar\""),
        "{}",
        stderr(&out)
    );
    let resp = api_post(&d, "/v1.45/images/create?fromSrc=ftp://127.0.0.1/x.tar");
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert_nothing_left(&d, &before);
}
