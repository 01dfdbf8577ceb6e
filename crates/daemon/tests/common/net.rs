//! Helpers of the networking tests: this daemon's bridge and chains, subnets of a test's
//! own, the rules, leases and netns files it holds, HTTP over loopback, network guards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use super::{Daemon, IMG};

/// This daemon's default bridge and chain suffix (from its daemon.toml).
pub fn identity(d: &Daemon) -> (String, String) {
    let cfg = std::fs::read_to_string(d.dir.path().join("daemon.toml")).unwrap();
    let get = |k: &str| {
        cfg.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = \""))?.strip_suffix('"'))
            .unwrap()
            .to_owned()
    };
    (get("bridge"), get("iptables-chain-suffix"))
}

/// A subnet of this test's own: 10.<60..99>.<n>.0/24 from the pid and `n`.
pub fn subnet(n: u32) -> String {
    let pid = std::process::id();
    format!("10.{}.{}.0/24", 60 + (pid >> 8) % 40, (pid * 7 + n) % 256)
}

pub fn sh(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd).args(args).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Host veths enslaved to `bridge`.
pub fn ports_of(bridge: &str) -> Vec<String> {
    sh("ip", &["-o", "link", "show", "master", bridge])
        .lines()
        .filter_map(|l| {
            l.split(": ")
                .nth(1)
                .map(|n| n.split('@').next().unwrap().to_owned())
        })
        .collect()
}

/// The rules in this daemon's chains (iptables-save lines mentioning the suffix, minus
/// the chain declarations and the jumps from built-in chains).
pub fn rules(suffix: &str) -> Vec<String> {
    rules_of("iptables-save", suffix)
}

/// [`rules`] of ip6tables.
pub fn rules6(suffix: &str) -> Vec<String> {
    rules_of("ip6tables-save", suffix)
}

fn rules_of(save: &str, suffix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in ["nat", "filter"] {
        for l in sh(save, &["-t", t]).lines() {
            if l.starts_with("-A BERTH") && l.split_whitespace().nth(1).unwrap().ends_with(suffix) {
                out.push(l.to_owned());
            }
        }
    }
    out
}

/// Rows of the IPAM lease table in the daemon's berth.db.
pub fn leases(d: &Daemon) -> Vec<String> {
    let o = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro', uri=True); [print(*r) for r in c.execute('select network,address,owner from leases')]",
        ])
        .arg(d.data.join("berth.db"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn netns_files(d: &Daemon) -> Vec<String> {
    std::fs::read_dir(d.exec.join("netns"))
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What the leak checks compare: veths on the default bridge, rules, leases, netns files.
pub fn snapshot(d: &Daemon) -> Snapshot {
    let (br, suffix) = identity(d);
    (ports_of(&br), rules(&suffix), leases(d), netns_files(d))
}

pub type Snapshot = (Vec<String>, Vec<String>, Vec<String>, Vec<String>);

/// Waits up to `secs` for the leak snapshot to be `before` again.
pub fn assert_back_to(d: &Daemon, before: &Snapshot, secs: u64) {
    assert!(
        d.eventually(secs, || snapshot(d) == *before),
        "leaked: before {before:?} after {:?}",
        snapshot(d)
    );
}

/// `/hostname` of `host` fetched by a `--rm` container on `net` (retried while the server
/// starts); returns the body.
pub fn fetch_on(d: &Daemon, net: &str, host: &str) -> String {
    d.ok(&[
        "run", "--rm", "--network", net, IMG, "sh", "-c",
        &format!("for i in 1 2 3 4 5 6 7 8 9 10; do timeout 3 wget -q -O- http://{host}/hostname && exit 0; sleep 0.3; done; exit 1"),
    ])
}

/// `docker run -d OPTS IMG httpd` serving `/etc` on port 80 (so `/hostname` names the
/// container); returns the container ID.
pub fn run_web(d: &Daemon, opts: &[&str]) -> String {
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&[IMG, "httpd", "-f", "-p", "80", "-h", "/etc"]);
    d.ok(&args)
}

/// The IPv6 rules in the daemon's chains (suffix `suffix`) masquerade `sub6` and DNAT a
/// published port to `[ip6]:80`.
pub fn assert_nat6(suffix: &str, sub6: &str, ip6: &str) {
    let r6 = rules6(suffix);
    assert!(
        r6.iter()
            .any(|r| r.contains(&format!("-s {sub6}")) && r.contains("MASQUERADE")),
        "{r6:?}"
    );
    assert!(
        r6.iter()
            .any(|r| r.contains(&format!("--to-destination [{ip6}]:80"))),
        "{r6:?}"
    );
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    http_get_at(&format!("127.0.0.1:{port}"), path)
}

/// `GET path` over HTTP/1.0 to `addr` (`127.0.0.1:80`, `[::1]:80`); the whole response.
pub fn http_get_at(addr: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Raw HTTP on the daemon socket; returns the status code.
pub fn api_status(d: &Daemon, method: &str, path: &str) -> u16 {
    api_request_status(d, method, path, "")
}

/// A JSON `POST` on the daemon socket; returns the status code.
pub fn api_post_status(d: &Daemon, path: &str, json: &str) -> u16 {
    api_request_status(d, "POST", path, json)
}

fn api_request_status(d: &Daemon, method: &str, path: &str, body: &str) -> u16 {
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Removes networks by name even when the test fails.
pub struct Nets<'a>(pub &'a Daemon, pub Vec<String>);

impl Drop for Nets<'_> {
    fn drop(&mut self) {
        for n in &self.1 {
            let _ = self.0.docker(&["network", "rm", n]);
        }
    }
}

pub fn net_name(tag: &str) -> String {
    format!("{tag}{}", std::process::id())
}
