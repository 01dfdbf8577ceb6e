//! Name resolution for containers: a small DNS responder per user-defined network, and
//! the `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` each container gets.
//!
//! The responder answers A/AAAA for the container names and aliases of its network from
//! memory and forwards every other query, unchanged, to the host's resolvers. It is
//! hand-written over hickory-proto's message codec rather than built on hickory-server: the
//! whole job is one lookup table plus a forwarder, and a full authority/catalog server
//! would be more code to configure than this is to read. berthd binds it on the network's
//! gateway address, port 53 (UDP and TCP), where containers on the bridge reach it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("dns: binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("dns: invalid name {0:?}")]
    BadName(String),
    #[error("dns: invalid --add-host {0:?}: expected NAME:IP")]
    BadAddHost(String),
}

/// TTL of answers for container names: short, because containers come and go.
const TTL: u32 = 600;
/// How long one upstream gets before the next is tried.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The names of one network: name or alias → addresses. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct Records {
    inner: Arc<RwLock<HashMap<String, Vec<IpAddr>>>>,
    /// Address → the first name added for it (the container name, by the daemon's
    /// convention of adding it before aliases), for PTR queries.
    reverse: Arc<RwLock<HashMap<IpAddr, String>>>,
    /// Names only one container resolves (legacy `--link NAME:ALIAS` on a user-defined
    /// network): its address → alias → the linked container's name.
    links: Arc<RwLock<HashMap<IpAddr, HashMap<String, String>>>>,
}

impl Records {
    /// Adds `ip` under `name` (a container name or alias). Names are case-insensitive.
    pub fn add(&self, name: &str, ip: IpAddr) -> Result<(), DnsError> {
        Name::from_ascii(name).map_err(|_| DnsError::BadName(name.to_string()))?;
        let mut m = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let v = m.entry(key(name)).or_default();
        if !v.contains(&ip) {
            v.push(ip);
        }
        drop(m);
        let mut r = self.reverse.write().unwrap_or_else(|p| p.into_inner());
        r.entry(ip).or_insert_with(|| key(name));
        Ok(())
    }

    /// Removes `ip` from `name`.
    pub fn remove(&self, name: &str, ip: IpAddr) {
        let k = key(name);
        {
            let mut r = self.reverse.write().unwrap_or_else(|p| p.into_inner());
            if r.get(&ip) == Some(&k) {
                r.remove(&ip);
            }
        }
        let mut m = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = m.get_mut(&k) {
            v.retain(|a| *a != ip);
            if v.is_empty() {
                m.remove(&k);
            }
        }
    }

    /// Makes `alias` resolve to the addresses of `target` for queries from `source` only
    /// (Docker's links on user-defined networks: the linking container's own alias).
    pub fn add_link(&self, source: IpAddr, alias: &str, target: &str) -> Result<(), DnsError> {
        Name::from_ascii(alias).map_err(|_| DnsError::BadName(alias.to_string()))?;
        self.links
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(source)
            .or_default()
            .insert(key(alias), key(target));
        Ok(())
    }

    /// The addresses of `name` as `source` sees them: its link aliases first.
    pub fn lookup_from(&self, source: Option<IpAddr>, name: &str) -> Option<Vec<IpAddr>> {
        let target = source.and_then(|s| {
            let l = self.links.read().unwrap_or_else(|p| p.into_inner());
            l.get(&s)?.get(&key(name)).cloned()
        });
        match target {
            Some(t) => self.lookup(&t).or_else(|| self.lookup(name)),
            None => self.lookup(name),
        }
    }

    /// Removes every name pointing at `ip` (a container leaving the network), and the
    /// link aliases it had.
    pub fn remove_ip(&self, ip: IpAddr) {
        self.links
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
        self.reverse
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
        let mut m = self.inner.write().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, v| {
            v.retain(|a| *a != ip);
            !v.is_empty()
        });
    }

    /// The name of `ip`, if it is one of this network's containers.
    pub fn reverse_lookup(&self, ip: IpAddr) -> Option<String> {
        let r = self.reverse.read().unwrap_or_else(|p| p.into_inner());
        r.get(&ip).cloned()
    }

    /// The addresses of `name`, if it is one of this network's names.
    pub fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        let m = self.inner.read().unwrap_or_else(|p| p.into_inner());
        m.get(&key(name)).cloned()
    }
}

/// A running responder; stops when dropped.
pub struct DnsServer {
    records: Records,
    udp_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl DnsServer {
    /// Binds UDP and TCP on `addr` (port 0 picks one, the same for both where possible)
    /// and serves `records`, forwarding other names to `upstreams` in order.
    pub async fn start(
        addr: SocketAddr,
        records: Records,
        upstreams: Vec<SocketAddr>,
    ) -> Result<Self, DnsError> {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| DnsError::Bind { addr, source })?;
        let udp_addr = udp
            .local_addr()
            .map_err(|source| DnsError::Bind { addr, source })?;
        let tcp = TcpListener::bind(udp_addr)
            .await
            .map_err(|source| DnsError::Bind {
                addr: udp_addr,
                source,
            })?;
        let upstreams = Arc::new(upstreams);
        let udp = Arc::new(udp);
        let mut tasks = Vec::new();
        {
            let (records, upstreams, udp) = (records.clone(), upstreams.clone(), udp.clone());
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                        continue;
                    };
                    let query = buf[..n].to_vec();
                    let (records, upstreams, udp) =
                        (records.clone(), upstreams.clone(), udp.clone());
                    tokio::spawn(async move {
                        let from = Some(peer.ip());
                        if let Some(resp) = answer(&records, &upstreams, &query, false, from).await
                        {
                            let _ = udp.send_to(&resp, peer).await;
                        }
                    });
                }
            }));
        }
        {
            let (records, upstreams) = (records.clone(), upstreams.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((mut s, peer)) = tcp.accept().await else {
                        continue;
                    };
                    let (records, upstreams) = (records.clone(), upstreams.clone());
                    tokio::spawn(async move {
                        loop {
                            let Ok(len) = s.read_u16().await else { return };
                            let mut q = vec![0u8; len as usize];
                            if s.read_exact(&mut q).await.is_err() {
                                return;
                            }
                            let from = Some(peer.ip());
                            let Some(resp) = answer(&records, &upstreams, &q, true, from).await
                            else {
                                return;
                            };
                            let Ok(len) = u16::try_from(resp.len()) else {
                                return;
                            };
                            if s.write_u16(len).await.is_err() || s.write_all(&resp).await.is_err()
                            {
                                return;
                            }
                        }
                    });
                }
            }));
        }
        tracing::debug!(%udp_addr, "dns responder started");
        Ok(Self {
            records,
            udp_addr,
            tasks,
        })
    }

    /// Where it listens (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The records it serves; changes are seen by the next query.
    pub fn records(&self) -> &Records {
        &self.records
    }
}

/// The reply to one query message, or `None` if it is not worth an answer (unparsable).
/// Forwarded queries keep their transport: a client that retries over TCP after a
/// truncated UDP answer gets the full answer over TCP from the upstream. `from` is the
/// client's address, for its link aliases.
async fn answer(
    records: &Records,
    upstreams: &[SocketAddr],
    query: &[u8],
    tcp: bool,
    from: Option<IpAddr>,
) -> Option<Vec<u8>> {
    let msg = Message::from_vec(query).ok()?;
    if msg.message_type() != MessageType::Query {
        return None;
    }
    let q = match (msg.op_code(), msg.queries()) {
        (OpCode::Query, [q]) => q.clone(),
        _ => {
            return Message::error_msg(msg.id(), msg.op_code(), ResponseCode::NotImp)
                .to_vec()
                .ok();
        }
    };
    let name = q.name().to_ascii();
    if q.query_type() == RecordType::PTR
        && let Some(target) = q
            .name()
            .parse_arpa_name()
            .ok()
            .filter(|n| n.prefix_len() == n.max_prefix_len())
            .and_then(|n| records.reverse_lookup(n.addr()))
            .and_then(|t| Name::from_ascii(format!("{t}.")).ok())
    {
        let mut resp = response_to(&msg, &q);
        resp.add_answer(Record::from_rdata(
            q.name().clone(),
            TTL,
            RData::PTR(PTR(target)),
        ));
        return resp.to_vec().ok();
    }
    if let Some(ips) = records.lookup_from(from, &name) {
        let mut resp = response_to(&msg, &q);
        for ip in ips {
            let rdata = match (q.query_type(), ip) {
                (RecordType::A, IpAddr::V4(v4)) => RData::A(A(v4)),
                (RecordType::AAAA, IpAddr::V6(v6)) => RData::AAAA(AAAA(v6)),
                _ => continue,
            };
            resp.add_answer(Record::from_rdata(q.name().clone(), TTL, rdata));
        }
        return resp.to_vec().ok();
    }
    for up in upstreams {
        let r = if tcp {
            forward_tcp(*up, query).await
        } else {
            forward(*up, query).await
        };
        if let Some(r) = r {
            return Some(r);
        }
    }
    Message::error_msg(msg.id(), OpCode::Query, ResponseCode::ServFail)
        .to_vec()
        .ok()
}

/// An authoritative NOERROR answer skeleton for `q`.
fn response_to(msg: &Message, q: &hickory_proto::op::Query) -> Message {
    let mut resp = Message::new();
    resp.set_id(msg.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(msg.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(ResponseCode::NoError)
        .add_query(q.clone());
    resp
}

/// Sends the query as is to one upstream over UDP and returns its reply (same ID).
async fn forward(upstream: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let local: SocketAddr = if upstream.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let sock = UdpSocket::bind(local).await.ok()?;
    sock.connect(upstream).await.ok()?;
    sock.send(query).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(UPSTREAM_TIMEOUT, sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    if n < 2 || buf[..2] != query[..2] {
        return None;
    }
    buf.truncate(n);
    Some(buf)
}

/// Sends the query to one upstream over TCP and returns its reply (same ID).
async fn forward_tcp(upstream: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(upstream).await.ok()?;
        s.write_u16(u16::try_from(query.len()).ok()?).await.ok()?;
        s.write_all(query).await.ok()?;
        let len = s.read_u16().await.ok()?;
        let mut buf = vec![0u8; len as usize];
        s.read_exact(&mut buf).await.ok()?;
        Some(buf)
    };
    let buf = tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .ok()??;
    (buf.len() >= 2 && buf[..2] == query[..2]).then_some(buf)
}

/// The parts of a resolv.conf berth uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Parses resolv.conf text (the last `search`/`domain` line wins, as in glibc).
    pub fn parse(text: &str) -> Self {
        let mut rc = Self::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // Zone indexes (fe80::1%eth0) are dropped rather than failing the file.
                    if let Some(ip) = words
                        .next()
                        .and_then(|w| w.split('%').next())
                        .and_then(|w| w.parse().ok())
                    {
                        rc.nameservers.push(ip);
                    }
                }
                Some("search") | Some("domain") => {
                    rc.search = words.map(str::to_string).collect();
                }
                Some("options") => rc.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        rc
    }

    /// The host's `/etc/resolv.conf` (empty if unreadable).
    pub fn host() -> Self {
        Self::parse(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
    }

    /// Upstreams for the responder: the nameservers on port 53.
    pub fn upstreams(&self) -> Vec<SocketAddr> {
        self.nameservers
            .iter()
            .map(|ip| SocketAddr::new(*ip, 53))
            .collect()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for ns in &self.nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.search.is_empty() {
            out.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

/// `--dns`, `--dns-search`, `--dns-option` of one container.
#[derive(Clone, Debug, Default)]
pub struct DnsOptions {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// The container's `/etc/resolv.conf`. On a user-defined network (`embedded` = the
/// network's responder address) the container asks the responder, which forwards for it;
/// `--dns` servers then become the responder's upstreams (the caller passes them to
/// [`DnsServer::start`]), as in Docker. Otherwise `--dns` or the host's servers are used,
/// minus loopback ones the container cannot reach; with none left, Docker's fallback of
/// Google's public resolvers applies.
pub fn resolv_conf(opts: &DnsOptions, host: &ResolvConf, embedded: Option<IpAddr>) -> String {
    let nameservers = if let Some(ip) = embedded {
        vec![ip]
    } else if !opts.servers.is_empty() {
        opts.servers.clone()
    } else {
        let v: Vec<IpAddr> = host
            .nameservers
            .iter()
            .copied()
            .filter(|ip| !ip.is_loopback())
            .collect();
        if v.is_empty() {
            vec![IpAddr::from([8, 8, 8, 8]), IpAddr::from([8, 8, 4, 4])]
        } else {
            v
        }
    };
    let rc = ResolvConf {
        nameservers,
        search: if opts.search.is_empty() {
            host.search.clone()
        } else if opts.search == ["."] {
            // `--dns-search .`: no search domains at all (not even the host's).
            Vec::new()
        } else {
            opts.search.clone()
        },
        options: if opts.options.is_empty() {
            host.options.clone()
        } else {
            opts.options.clone()
        },
    };
    rc.render()
}

/// `/etc/hostname`.
pub fn hostname_file(hostname: &str) -> String {
    format!("{hostname}\n")
}

/// Parses `--add-host NAME:IP`; `host-gateway` as the IP becomes `host_gateway`.
pub fn parse_add_host(
    spec: &str,
    host_gateway: Option<IpAddr>,
) -> Result<(String, IpAddr), DnsError> {
    let bad = || DnsError::BadAddHost(spec.to_string());
    // Docker also accepts NAME=IP; the IP may be IPv6 (with colons, optionally bracketed).
    let (name, ip) = spec
        .split_once('=')
        .or_else(|| spec.split_once(':'))
        .ok_or_else(bad)?;
    if name.is_empty() {
        return Err(bad());
    }
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip = if ip == "host-gateway" {
        host_gateway.ok_or_else(bad)?
    } else {
        ip.parse().map_err(|_| bad())?
    };
    Ok((name.to_string(), ip))
}

/// What goes into a container's `/etc/hosts`.
#[derive(Clone, Debug, Default)]
pub struct HostsConfig {
    pub hostname: String,
    /// `--domainname`; when set, `hostname.domainname` is listed first.
    pub domainname: Option<String>,
    /// The container's own addresses (one per network).
    pub addresses: Vec<IpAddr>,
    /// `--add-host` entries, in order.
    pub extra: Vec<(String, IpAddr)>,
}

/// `/etc/hosts` in Docker's layout: loopback and IPv6 boilerplate, `--add-host` entries,
/// then the container's own addresses with its hostname.
pub fn hosts_file(cfg: &HostsConfig) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, ip) in &cfg.extra {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    let names = match &cfg.domainname {
        Some(d) if !d.is_empty() => format!("{}.{d} {}", cfg.hostname, cfg.hostname),
        _ => cfg.hostname.clone(),
    };
    for ip in &cfg.addresses {
        out.push_str(&format!("{ip}\t{names}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_parses_and_renders() {
        let rc = ResolvConf::parse(
            "# c\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver fe80::1%eth0\nsearch a.example b.example\noptions ndots:2 edns0\n",
        );
        assert_eq!(rc.nameservers.len(), 3);
        assert_eq!(rc.search, vec!["a.example", "b.example"]);
        assert_eq!(rc.options, vec!["ndots:2", "edns0"]);
        // Default network: loopback servers are dropped.
        let out = resolv_conf(&DnsOptions::default(), &rc, None);
        assert_eq!(
            out,
            "nameserver 192.0.2.1\nnameserver fe80::1\nsearch a.example b.example\noptions ndots:2 edns0\n"
        );
        // User network: the responder, with --dns-search overriding the host's.
        let opts = DnsOptions {
            servers: vec!["192.0.2.9".parse().unwrap()],
            search: vec!["corp.example".into()],
            options: vec![],
        };
        let out = resolv_conf(&opts, &rc, Some("10.213.9.1".parse().unwrap()));
        assert!(
            out.starts_with("nameserver 10.213.9.1\nsearch corp.example\n"),
            "{out}"
        );
        // --dns on the default network.
        let out = resolv_conf(&opts, &rc, None);
        assert!(out.starts_with("nameserver 192.0.2.9\n"), "{out}");
        // Only loopback on the host: Docker's fallback.
        let lo = ResolvConf::parse("nameserver 127.0.0.1\n");
        assert!(resolv_conf(&DnsOptions::default(), &lo, None).contains("nameserver 8.8.8.8"));
    }

    #[test]
    fn hosts_and_hostname_files() {
        let extra = vec![
            parse_add_host("db:192.0.2.5", None).unwrap(),
            parse_add_host("v6:2001:db8::1", None).unwrap(),
            parse_add_host("gw:host-gateway", Some("10.0.0.1".parse().unwrap())).unwrap(),
        ];
        assert!(parse_add_host("nohost", None).is_err());
        assert!(parse_add_host("x:host-gateway", None).is_err());
        assert!(parse_add_host(":1.2.3.4", None).is_err());
        let h = hosts_file(&HostsConfig {
            hostname: "web".into(),
            domainname: Some("example".into()),
            addresses: vec!["172.18.0.2".parse().unwrap()],
            extra,
        });
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(
            h.contains("192.0.2.5\tdb\n2001:db8::1\tv6\n10.0.0.1\tgw\n"),
            "{h}"
        );
        assert!(h.ends_with("172.18.0.2\tweb.example web\n"), "{h}");
        assert_eq!(hostname_file("web"), "web\n");
    }

    #[test]
    fn records_are_case_insensitive_and_removable() {
        let r = Records::default();
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        r.add("Web", ip).unwrap();
        r.add("web-alias", ip).unwrap();
        assert_eq!(r.lookup("web."), Some(vec![ip]));
        r.remove_ip(ip);
        assert_eq!(r.lookup("web"), None);
        assert_eq!(r.lookup("web-alias"), None);
    }

    #[test]
    fn link_aliases_resolve_only_for_their_container() {
        let r = Records::default();
        let (db, me, other): (IpAddr, IpAddr, IpAddr) = (
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
            "10.0.0.4".parse().unwrap(),
        );
        r.add("db", db).unwrap();
        r.add("db", "fd00::2".parse().unwrap()).unwrap();
        r.add_link(me, "Store", "db").unwrap();
        assert_eq!(
            r.lookup_from(Some(me), "store."),
            Some(vec![db, "fd00::2".parse().unwrap()])
        );
        assert_eq!(r.lookup_from(Some(other), "store"), None);
        assert_eq!(r.lookup_from(None, "store"), None);
        assert_eq!(r.lookup_from(Some(me), "db"), r.lookup("db"));
        r.remove_ip(me);
        assert_eq!(r.lookup_from(Some(me), "store"), None);
    }
}
