//! NAT, published ports and isolation through iptables, in chains of berth's own.
//!
//! # Why iptables-restore and not `nft -j`
//!
//! Each container's rules go in with **one** `iptables-restore --noflush` run: a single
//! fork/exec and a single atomic kernel transaction per table, whatever the number of
//! ports. iptables (the nf_tables backend on current distributions, the legacy backend on
//! old ones) is what every Docker host already has, its rules share the built-in chains
//! with Docker's and firewalld's the way users expect, and the same text works on both
//! backends. The libnftables JSON route would need its own table and base chains at
//! priorities that interleave with iptables-nft's, and `nft` is not installed everywhere
//! iptables is. Rules are written as plain text lines and returned as a [`RuleSet`] the
//! daemon persists, so removal deletes exactly what was added, even after a restart.
//!
//! # Chains
//!
//! | table | chain | jumped from | holds |
//! | --- | --- | --- | --- |
//! | nat | `BERTH` | PREROUTING and OUTPUT (local destinations) | DNAT of published ports |
//! | nat | `BERTH-POSTROUTING` | POSTROUTING | MASQUERADE of subnets leaving by another interface, of DNAT'd connections from the network to its own containers (hairpin), and of 127.0.0.1 sources |
//! | filter | `BERTH-ISOLATION` | FORWARD (first) | DROP for `--internal` networks |
//! | filter | `BERTH-FORWARD` | FORWARD | ACCEPT for replies, bridge egress, published ports |
//!
//! The same chains exist in ip6tables when the kernel has IPv6 ([`Firewall::ipv6`]):
//! dual-stack networks get their IPv6 subnet masqueraded and forwarded the same way, and
//! ports published without a host address are published on both families, as Docker does.
//!
//! Tests give every chain a suffix of their own ([`Chains::with_suffix`]).
//!
//! # Published ports on 127.0.0.1
//!
//! Handled in the kernel, like Docker with `userland-proxy=false`: `route_localnet=1` on
//! the bridge (only there, not host-wide) lets the de-NATed replies addressed to 127.0.0.1
//! arrive through the bridge, DNAT in nat OUTPUT sends the connection to the container,
//! and `-s 127.0.0.0/8 -o BRIDGE -j MASQUERADE` rewrites the source to the gateway so the
//! container answers somewhere it can route to. No proxy process per port: nothing to
//! supervise, no extra copy, and UDP works the same as TCP. IPv6 has no `route_localnet`,
//! so `[::1]` is left to the userland proxy of [`crate::proxy`] (as Docker's proxy does),
//! and the IPv6 DNAT rules of ports without a host address exclude `::1`.

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("firewall: running {program}: {source}")]
    Spawn {
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("firewall: {program} failed for {what}: {stderr}")]
    Failed {
        program: &'static str,
        what: String,
        stderr: String,
    },
    #[error("firewall: {0}")]
    Invalid(String),
    #[error("firewall: setting {path}: {source}")]
    Sysctl {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The names of berth's chains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chains {
    pub nat: String,
    pub postrouting: String,
    pub isolation: String,
    pub forward: String,
}

impl Default for Chains {
    fn default() -> Self {
        Self::with_suffix("")
    }
}

impl Chains {
    /// berth's chain names with `suffix` appended (chain names are limited to 28 bytes).
    pub fn with_suffix(suffix: &str) -> Self {
        Self {
            nat: format!("BERTH{suffix}"),
            postrouting: format!("BERTH-POSTROUTING{suffix}"),
            isolation: format!("BERTH-ISOLATION{suffix}"),
            forward: format!("BERTH-FORWARD{suffix}"),
        }
    }

    fn all(&self) -> [(&'static str, &str); 4] {
        [
            ("nat", &self.nat),
            ("nat", &self.postrouting),
            ("filter", &self.isolation),
            ("filter", &self.forward),
        ]
    }

    /// The jumps from built-in chains: (table, built-in chain, match, target, insert first).
    fn jumps(&self) -> Vec<(&'static str, &'static str, &'static str, &str)> {
        vec![
            (
                "nat",
                "PREROUTING",
                "-m addrtype --dst-type LOCAL",
                &self.nat,
            ),
            ("nat", "OUTPUT", "-m addrtype --dst-type LOCAL", &self.nat),
            ("nat", "POSTROUTING", "", &self.postrouting),
            ("filter", "FORWARD", "", &self.forward),
            // Inserted last at position 1, so isolation is evaluated before forward.
            ("filter", "FORWARD", "", &self.isolation),
        ]
    }
}

/// One rule: table, chain and the match/target text after `-A CHAIN`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub table: String,
    pub chain: String,
    pub spec: String,
    /// An ip6tables rule.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub v6: bool,
}

/// Rules added together, to be removed together. Serializable so the daemon can store it
/// with the container or network and remove exactly these rules after a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

impl RuleSet {
    fn push(&mut self, table: &str, chain: &str, spec: String) {
        self.push_family(false, table, chain, spec);
    }

    fn push_family(&mut self, v6: bool, table: &str, chain: &str, spec: String) {
        self.rules.push(Rule {
            table: table.into(),
            chain: chain.into(),
            spec,
            v6,
        });
    }

    /// The `iptables-restore` (or, `v6`, `ip6tables-restore`) input that appends (`-A`)
    /// or deletes (`-D`) the rules of that family.
    pub fn restore_text(&self, op: &str, v6: bool) -> String {
        let mut out = String::new();
        for table in ["nat", "filter"] {
            let rules: Vec<_> = self
                .rules
                .iter()
                .filter(|r| r.table == table && r.v6 == v6)
                .collect();
            if rules.is_empty() {
                continue;
            }
            out.push_str(&format!("*{table}\n"));
            for r in rules {
                out.push_str(&format!("{op} {} {}\n", r.chain, r.spec));
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// Transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port, as in `-p [ip:]hostPort:containerPort[/proto]`. Ranges are
/// expanded by [`parse_publish`] into one mapping per port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// `None` for all host addresses.
    pub host_ip: Option<IpAddr>,
    /// `0` asks the caller to pick a free port before calling [`Firewall::publish`].
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

/// Parses Docker's `-p` syntax: `[ip:][hostPort:]containerPort[/proto]`, where each port
/// may be a range `a-b` (host and container ranges must have the same length; a single
/// host port with a container range is refused). A missing host port yields `host_port`
/// 0. IPv6 host addresses are written in brackets: `[::1]:8080:80`.
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, FirewallError> {
    let bad = |why: &str| FirewallError::Invalid(format!("invalid port spec {spec:?}: {why}"));
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, "tcp")) => (r, Proto::Tcp),
        Some((r, "udp")) => (r, Proto::Udp),
        Some(_) => return Err(bad("protocol must be tcp or udp")),
        None => (spec, Proto::Tcp),
    };
    let (host_ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, r) = r.split_once("]:").ok_or_else(|| bad("unclosed ["))?;
        (
            Some(ip.parse::<IpAddr>().map_err(|_| bad("bad host ip"))?),
            r,
        )
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (None, rest),
            3 => {
                let ip = if parts[0].is_empty() {
                    None
                } else {
                    Some(parts[0].parse::<IpAddr>().map_err(|_| bad("bad host ip"))?)
                };
                (ip, &rest[parts[0].len() + 1..])
            }
            _ => return Err(bad("too many colons")),
        }
    };
    let (host, container) = match rest.split_once(':') {
        Some((h, c)) => (h, c),
        None => ("", rest),
    };
    let range = |s: &str| -> Result<(u16, u16), FirewallError> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let a: u16 = a.parse().map_err(|_| bad("bad port"))?;
        let b: u16 = b.parse().map_err(|_| bad("bad port"))?;
        if a == 0 || b < a {
            return Err(bad("bad port range"));
        }
        Ok((a, b))
    };
    let (c0, c1) = range(container)?;
    let hosts: Vec<u16> = if host.is_empty() {
        vec![0; (c1 - c0 + 1) as usize]
    } else {
        let (h0, h1) = range(host)?;
        if h1 - h0 != c1 - c0 {
            return Err(bad("host and container ranges differ in length"));
        }
        (h0..=h1).collect()
    };
    Ok((c0..=c1)
        .zip(hosts)
        .map(|(c, h)| PortMapping {
            host_ip,
            host_port: h,
            container_port: c,
            proto,
        })
        .collect())
}

/// A network as the firewall sees it.
#[derive(Clone, Debug)]
pub struct NetworkRules {
    pub bridge: String,
    pub subnet: IpNet,
    /// The IPv6 subnet of a dual-stack network.
    pub subnet6: Option<IpNet>,
    /// `--internal`: no way in or out except between containers of the network.
    pub internal: bool,
}

/// The firewall driver. Its methods run `iptables`/`iptables-restore` (and the ip6tables
/// twins) and block for a few milliseconds: call them from `spawn_blocking` in async code.
#[derive(Clone, Debug)]
pub struct Firewall {
    pub chains: Chains,
    /// Whether to manage ip6tables too (on by default where the kernel has IPv6).
    pub ipv6: bool,
}

impl Default for Firewall {
    fn default() -> Self {
        Self::new(Chains::default())
    }
}

fn run(
    program: &'static str,
    args: &[&str],
    stdin: Option<&str>,
    what: &str,
) -> Result<(), FirewallError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|source| FirewallError::Spawn { program, source })?;
    if let Some(input) = stdin {
        // Cannot fail: stdin was configured as piped above.
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(input.as_bytes())
            .map_err(|source| FirewallError::Spawn { program, source })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| FirewallError::Spawn { program, source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(FirewallError::Failed {
            program,
            what: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn ipt(v6: bool, args: &[&str], what: &str) -> Result<(), FirewallError> {
    let mut a = vec!["-w"];
    a.extend_from_slice(args);
    run(if v6 { "ip6tables" } else { "iptables" }, &a, None, what)
}

fn restore(v6: bool, text: &str, what: &str) -> Result<(), FirewallError> {
    let program = if v6 {
        "ip6tables-restore"
    } else {
        "iptables-restore"
    };
    run(program, &["-w", "--noflush"], Some(text), what)
}

fn split(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

impl Firewall {
    pub fn new(chains: Chains) -> Self {
        // IPv6 rules only where both the kernel and the ip6tables tools have it.
        let tools = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join("ip6tables-restore").is_file()))
            .unwrap_or(false);
        Self {
            chains,
            ipv6: tools && std::path::Path::new("/proc/sys/net/ipv6").exists(),
        }
    }

    fn families(&self) -> &'static [bool] {
        if self.ipv6 { &[false, true] } else { &[false] }
    }

    /// Creates berth's chains and the jumps to them if missing, for IPv4 and (when
    /// enabled) IPv6. Idempotent; the daemon calls it at start.
    pub fn ensure_base(&self) -> Result<(), FirewallError> {
        for &v6 in self.families() {
            for (table, chain) in self.chains.all() {
                if ipt(v6, &["-t", table, "-S", chain], chain).is_err() {
                    ipt(v6, &["-t", table, "-N", chain], chain).or_else(|e| {
                        // Lost a race with another caller creating it: fine.
                        ipt(v6, &["-t", table, "-S", chain], chain).map_err(|_| e)
                    })?;
                }
            }
            for (table, builtin, matches, target) in self.chains.jumps() {
                let spec = format!("{matches} -j {target}");
                let mut check = vec!["-t", table, "-C", builtin];
                check.extend(split(&spec));
                if ipt(v6, &check, target).is_err() {
                    let mut ins = vec!["-t", table, "-I", builtin, "1"];
                    ins.extend(split(&spec));
                    ipt(v6, &ins, &format!("jump {builtin} -> {target}"))?;
                }
            }
        }
        Ok(())
    }

    /// Empties berth's chains, keeping the chains and the jumps. A daemon that lost track
    /// of what it added (crash between applying and storing a [`RuleSet`]) calls this at
    /// start and then re-adds the rules of its networks and running containers.
    pub fn flush(&self) -> Result<(), FirewallError> {
        let mut text = String::new();
        for table in ["nat", "filter"] {
            text.push_str(&format!("*{table}\n"));
            for (t, chain) in self.chains.all() {
                if t == table {
                    text.push_str(&format!("-F {chain}\n"));
                }
            }
            text.push_str("COMMIT\n");
        }
        for &v6 in self.families() {
            restore(v6, &text, "flush berth chains")?;
        }
        Ok(())
    }

    /// Removes the jumps and berth's chains (with their rules). For tests and for
    /// uninstalling; a running daemon keeps them.
    pub fn remove_base(&self) -> Result<(), FirewallError> {
        for &v6 in self.families() {
            for (table, builtin, matches, target) in self.chains.jumps() {
                let spec = format!("{matches} -j {target}");
                let mut del = vec!["-t", table, "-D", builtin];
                del.extend(split(&spec));
                while ipt(v6, &del, target).is_ok() {}
            }
            for (table, chain) in self.chains.all() {
                let _ = ipt(v6, &["-t", table, "-F", chain], chain);
                let _ = ipt(v6, &["-t", table, "-X", chain], chain);
            }
        }
        Ok(())
    }

    /// The rules of a network: masquerade of its subnet(s) leaving by other interfaces
    /// (or isolation for internal ones), replies and bridge egress accepted, and source
    /// NAT of 127.0.0.0/8 entering the bridge for ports published on localhost. Also sets
    /// `route_localnet` on the bridge. Returns what was added.
    pub fn add_network(&self, net: &NetworkRules) -> Result<RuleSet, FirewallError> {
        let c = &self.chains;
        let br = &net.bridge;
        let mut rs = RuleSet::default();
        let mut families = vec![(false, net.subnet)];
        if let Some(s6) = net.subnet6.filter(|_| self.ipv6) {
            families.push((true, s6));
        }
        for (v6, sub) in families {
            if net.internal {
                rs.push_family(
                    v6,
                    "filter",
                    &c.isolation,
                    format!("-i {br} ! -o {br} -j DROP"),
                );
                rs.push_family(
                    v6,
                    "filter",
                    &c.isolation,
                    format!("-o {br} ! -i {br} -j DROP"),
                );
                rs.push_family(
                    v6,
                    "filter",
                    &c.forward,
                    format!("-i {br} -o {br} -j ACCEPT"),
                );
                continue;
            }
            rs.push_family(
                v6,
                "nat",
                &c.postrouting,
                format!("-s {sub} ! -o {br} -j MASQUERADE"),
            );
            if !v6 {
                set_route_localnet(br)?;
                rs.push(
                    "nat",
                    &c.postrouting,
                    format!("-s 127.0.0.0/8 -o {br} -j MASQUERADE"),
                );
            }
            rs.push_family(
                v6,
                "filter",
                &c.forward,
                format!("-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
            );
            rs.push_family(v6, "filter", &c.forward, format!("-i {br} -j ACCEPT"));
        }
        self.apply(&rs, &format!("network on {br}"))?;
        Ok(rs)
    }

    /// DNAT, hairpin masquerade and forward-accept rules publishing `ports` of the
    /// container at `container_ip` (and `container_ip6` on dual-stack networks) on network
    /// `net`; one `iptables-restore` run per family. As with Docker, a port without a host
    /// address is published on both families. No rule is made for what
    /// [`crate::proxy::plan`] serves: `[::1]` (Linux cannot route IPv6 loopback traffic to
    /// another interface, and there is no `route_localnet` for IPv6) and IPv6 host
    /// addresses of a container without an IPv6 address.
    pub fn publish(
        &self,
        net: &NetworkRules,
        container_ip: IpAddr,
        container_ip6: Option<IpAddr>,
        ports: &[PortMapping],
    ) -> Result<RuleSet, FirewallError> {
        let c = &self.chains;
        let br = &net.bridge;
        let mut rs = RuleSet::default();
        if net.internal && !ports.is_empty() {
            return Err(FirewallError::Invalid(format!(
                "cannot publish ports on internal network bridge {br}"
            )));
        }
        let ip6 = container_ip6.filter(|_| self.ipv6);
        for p in ports {
            if p.host_port == 0 {
                return Err(FirewallError::Invalid(format!(
                    "port {}/{} has no host port chosen",
                    p.container_port,
                    p.proto.as_str()
                )));
            }
            // [::1] is never DNAT'd (the proxy listens there, see crate::proxy).
            let not_lo6 = "! -d ::1/128 ".to_string();
            let targets: Vec<(bool, IpAddr, String)> = match p.host_ip {
                None => std::iter::once((false, container_ip, String::new()))
                    .chain(ip6.map(|i| (true, i, not_lo6.clone())))
                    .collect(),
                // Served by the proxy: IPv6 loopback cannot be forwarded, and a container
                // without an IPv6 address has nothing to DNAT to.
                Some(IpAddr::V6(h)) if h.is_loopback() => vec![],
                Some(IpAddr::V6(_)) if ip6.is_none() => vec![],
                Some(h @ IpAddr::V6(_)) => {
                    let dst = if h.is_unspecified() {
                        not_lo6.clone()
                    } else {
                        format!("-d {h}/128 ")
                    };
                    ip6.map(|i| (true, i, dst)).into_iter().collect()
                }
                Some(h) => {
                    let dst = if h.is_unspecified() {
                        String::new()
                    } else {
                        format!("-d {h}/32 ")
                    };
                    vec![(false, container_ip, dst)]
                }
            };
            let proto = p.proto.as_str();
            for (v6, cip, dst) in targets {
                let (host_bits, to) = if v6 {
                    (128, format!("[{cip}]:{}", p.container_port))
                } else {
                    (32, format!("{cip}:{}", p.container_port))
                };
                rs.push_family(
                    v6,
                    "nat",
                    &c.nat,
                    format!(
                        "{dst}-p {proto} -m {proto} --dport {} -j DNAT --to-destination {to}",
                        p.host_port
                    ),
                );
                // Containers of the network reaching the port through a host address:
                // the reply must come back through the NAT, not straight over the bridge.
                let sub = if v6 {
                    net.subnet6.map(|s| s.to_string())
                } else {
                    Some(net.subnet.to_string())
                }
                .unwrap_or_else(|| format!("{cip}/{host_bits}"));
                rs.push_family(
                    v6,
                    "nat",
                    &c.postrouting,
                    format!(
                        "-s {sub} -d {cip}/{host_bits} -p {proto} -m {proto} --dport {} -m conntrack --ctstate DNAT -j MASQUERADE",
                        p.container_port
                    ),
                );
                rs.push_family(
                    v6,
                    "filter",
                    &c.forward,
                    format!(
                        "-d {cip}/{host_bits} ! -i {br} -o {br} -p {proto} -m {proto} --dport {} -j ACCEPT",
                        p.container_port
                    ),
                );
            }
        }
        if !rs.rules.is_empty() {
            self.apply(&rs, &format!("ports of {container_ip} on {br}"))?;
        }
        Ok(rs)
    }

    /// Adds `rs` with one `iptables-restore --noflush` run per family (atomic per table).
    /// If the IPv6 half fails, the IPv4 half is taken back out.
    pub fn apply(&self, rs: &RuleSet, what: &str) -> Result<(), FirewallError> {
        let has = |v6: bool| rs.rules.iter().any(|r| r.v6 == v6);
        if has(false) {
            restore(false, &rs.restore_text("-A", false), what)?;
        }
        if has(true)
            && let Err(e) = restore(true, &rs.restore_text("-A", true), what)
        {
            if has(false) {
                let _ = restore(false, &rs.restore_text("-D", false), what);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Deletes exactly the rules of `rs`: one batched run per family, or rule by rule when
    /// some are already gone (e.g. after a host firewall reload), ignoring the missing
    /// ones.
    pub fn remove(&self, rs: &RuleSet) -> Result<(), FirewallError> {
        for v6 in [false, true] {
            if !rs.rules.iter().any(|r| r.v6 == v6) {
                continue;
            }
            if restore(v6, &rs.restore_text("-D", v6), "remove").is_ok() {
                continue;
            }
            for r in rs.rules.iter().filter(|r| r.v6 == v6) {
                let mut a = vec!["-t", r.table.as_str(), "-D", r.chain.as_str()];
                a.extend(split(&r.spec));
                let _ = ipt(v6, &a, &r.chain);
            }
        }
        Ok(())
    }
}

/// Lets packets with 127.0.0.0/8 addresses be routed through `bridge` (only that
/// interface), needed for ports published on 127.0.0.1.
pub fn set_route_localnet(bridge: &str) -> Result<(), FirewallError> {
    let path = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    std::fs::write(&path, "1").map_err(|source| FirewallError::Sysctl { path, source })
}

/// Turns on IPv4 forwarding host-wide, which published ports reached from other hosts and
/// outbound NAT need. The daemon calls it once (as Docker does); tests never do.
pub fn enable_ip_forward() -> Result<(), FirewallError> {
    let path = "/proc/sys/net/ipv4/ip_forward".to_string();
    std::fs::write(&path, "1").map_err(|source| FirewallError::Sysctl { path, source })
}

/// Turns on IPv6 forwarding host-wide, as Docker does once a network has IPv6 (outbound
/// NAT and published ports reached from other hosts need it). Note that a host with
/// forwarding on ignores router advertisements on interfaces with `accept_ra=1`.
pub fn enable_ipv6_forward() -> Result<(), FirewallError> {
    let path = "/proc/sys/net/ipv6/conf/all/forwarding".to_string();
    std::fs::write(&path, "1").map_err(|source| FirewallError::Sysctl { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs_parse_like_docker() {
        let p = parse_publish("127.0.0.1:8080:80").unwrap();
        assert_eq!(
            p,
            vec![PortMapping {
                host_ip: Some("127.0.0.1".parse().unwrap()),
                host_port: 8080,
                container_port: 80,
                proto: Proto::Tcp
            }]
        );
        let p = parse_publish("8000-8002:9000-9002/udp").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!((p[2].host_port, p[2].container_port), (8002, 9002));
        assert_eq!(p[0].proto, Proto::Udp);
        let p = parse_publish("80").unwrap();
        assert_eq!((p[0].host_port, p[0].host_ip), (0, None));
        let p = parse_publish("[::1]:8080:80/tcp").unwrap();
        assert_eq!(p[0].host_ip, Some("::1".parse().unwrap()));
        let p = parse_publish(":8080:80").unwrap();
        assert_eq!((p[0].host_ip, p[0].host_port), (None, 8080));
        assert!(parse_publish("80/sctp").is_err());
        assert!(parse_publish("8000-8001:80").is_err());
        assert!(parse_publish("x:80").is_err());
        assert!(parse_publish("0").is_err());
    }

    #[test]
    fn ipv6_loopback_and_v4_only_containers_get_no_ipv6_rules() {
        let fw = Firewall::new(Chains::with_suffix("-unit"));
        let net = NetworkRules {
            bridge: "b".into(),
            subnet: "10.0.0.0/24".parse().unwrap(),
            subnet6: Some("fd00::/64".parse().unwrap()),
            internal: false,
        };
        let v4: IpAddr = "10.0.0.2".parse().unwrap();
        let v6: IpAddr = "fd00::2".parse().unwrap();
        // Nothing to add, so nothing runs (no iptables needed for these).
        let rs = fw
            .publish(&net, v4, Some(v6), &parse_publish("[::1]:80:80").unwrap())
            .unwrap();
        assert!(rs.rules.is_empty(), "{rs:?}");
        let rs = fw
            .publish(&net, v4, None, &parse_publish("[fd00::1]:80:80").unwrap())
            .unwrap();
        assert!(rs.rules.is_empty(), "{rs:?}");
        assert!(
            fw.publish(&net, v4, None, &parse_publish("80").unwrap())
                .is_err(),
            "no host port chosen"
        );
    }

    #[test]
    fn restore_text_groups_by_table() {
        let mut rs = RuleSet::default();
        rs.push("filter", "F", "-j ACCEPT".into());
        rs.push("nat", "N", "-j MASQUERADE".into());
        assert_eq!(
            rs.restore_text("-D", false),
            "*nat\n-D N -j MASQUERADE\nCOMMIT\n*filter\n-D F -j ACCEPT\nCOMMIT\n"
        );
        assert_eq!(rs.restore_text("-A", true), "");
    }
}
