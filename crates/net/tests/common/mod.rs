//! Test scaffolding: unique names and Drop guards that remove whatever a test made, even
//! when it fails. Guards shell out to `ip`, so they work outside any async runtime.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test process and call, at most 15 bytes: `<prefix><pid><n>`.
pub fn unique(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{}{n}", std::process::id() % 100_000);
    assert!(name.len() <= 15, "{name} too long");
    name
}

/// Deletes a host link on drop.
pub struct LinkGuard(pub String);
impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Removes a netns file (unmount + unlink) on drop.
pub struct NetnsGuard(pub PathBuf);
impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = berth_net::netns::remove(&self.0);
    }
}

pub fn link_exists(name: &str) -> bool {
    std::process::Command::new("ip")
        .args(["link", "show", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Output of `ip ARGS` run inside the namespace file `ns`.
pub fn ip_in(ns: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .arg("ip")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Removes a test's iptables chains (and the jumps to them) on drop.
pub struct FirewallGuard(pub berth_net::firewall::Firewall);
impl Drop for FirewallGuard {
    fn drop(&mut self) {
        let _ = self.0.remove_base();
    }
}

/// Kills and reaps a child on drop.
pub struct ChildGuard(pub std::process::Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on all addresses for TCP or UDP at the time of the call, from below the
/// kernel's ephemeral range (32768+), so no other test's `bind(0)` can be handed the same
/// port while our DNAT rule for it exists.
pub fn free_port(udp: bool) -> u16 {
    let seed = std::process::id() as u64 * 7919
        + SEQ.fetch_add(1, Ordering::Relaxed) as u64 * 104_729
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
    for i in 0..5000u64 {
        let port = 20_000 + ((seed + i * 7) % 12_000) as u16;
        let free = if udp {
            std::net::UdpSocket::bind(("0.0.0.0", port)).is_ok()
        } else {
            std::net::TcpListener::bind(("0.0.0.0", port)).is_ok()
        };
        if free {
            return port;
        }
    }
    panic!("no free port in 20000..32000");
}
