//! Network isolation of test daemons (included by the berthd and berth CLI fixtures with
//! `#[path]`): every test berthd gets a bridge name, default subnet and iptables chain
//! suffix of its own, so daemons running in parallel never share a bridge, an address or
//! a chain, and leaves ip_forward alone. [`cleanup`] removes what such a daemon made.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// `daemon.toml` lines (top-level keys) giving a new daemon its own network identity:
/// bridge `bt<key>`, subnet 10.<100..199>.<0..255>.0/24, chains `BERTH*-t<key>`.
pub fn daemon_config() -> String {
    let key = std::process::id() * 4 + SEQ.fetch_add(1, Ordering::Relaxed) % 4;
    format!(
        "bridge = \"bt{key}\"\nbip = \"10.{}.{}.1/24\"\nip-forward = false\niptables-chain-suffix = \"-t{key}\"\n",
        100 + (key >> 8) % 100,
        key % 256
    )
}

fn value<'a>(cfg: &'a str, k: &str) -> Option<&'a str> {
    cfg.lines().find_map(|l| {
        l.strip_prefix(k)?
            .trim_start()
            .strip_prefix('=')?
            .trim()
            .strip_prefix('"')?
            .strip_suffix('"')
    })
}

/// The bridge and chain suffix of a daemon configured by [`daemon_config`].
pub fn identity(config_file: &Path) -> Option<(String, String)> {
    let cfg = std::fs::read_to_string(config_file).ok()?;
    Some((
        value(&cfg, "bridge")?.to_owned(),
        value(&cfg, "iptables-chain-suffix")?.to_owned(),
    ))
}

/// Removes a stopped test daemon's default bridge and its iptables chains (jumps first).
pub fn cleanup(config_file: &Path) {
    let Some((bridge, suffix)) = identity(config_file) else {
        return;
    };
    let _ = Command::new("ip").args(["link", "del", &bridge]).output();
    let chains: Vec<String> = [
        "BERTH",
        "BERTH-POSTROUTING",
        "BERTH-ISOLATION",
        "BERTH-FORWARD",
    ]
    .iter()
    .map(|c| format!("{c}{suffix}"))
    .collect();
    for (save, bin) in [
        ("iptables-save", "iptables"),
        ("ip6tables-save", "ip6tables"),
    ] {
        let Ok(out) = Command::new(save).output() else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let mut table = String::new();
        let mut dels = Vec::new();
        let mut ours = Vec::new();
        for line in text.lines() {
            if let Some(t) = line.strip_prefix('*') {
                table = t.to_owned();
            } else if let Some(rest) = line.strip_prefix("-A ") {
                let words: Vec<&str> = rest.split_whitespace().collect();
                let target = words.windows(2).find(|w| w[0] == "-j").map(|w| w[1]);
                if target.is_some_and(|t| chains.iter().any(|c| c == t))
                    && !chains.iter().any(|c| c == words[0])
                {
                    dels.push((
                        table.clone(),
                        words.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
                    ));
                }
            } else if let Some(name) = line
                .strip_prefix(':')
                .and_then(|l| l.split_whitespace().next())
                && chains.iter().any(|c| c == name)
            {
                ours.push((table.clone(), name.to_owned()));
            }
        }
        for (t, words) in dels {
            let _ = Command::new(bin)
                .args(["-t", &t, "-D"])
                .args(&words)
                .output();
        }
        for (t, c) in &ours {
            let _ = Command::new(bin).args(["-t", t, "-F", c]).output();
        }
        for (t, c) in &ours {
            let _ = Command::new(bin).args(["-t", t, "-X", c]).output();
        }
    }
}
