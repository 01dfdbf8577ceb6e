//! The userland proxy for published ports that the kernel cannot DNAT: `[::1]`, and IPv6
//! host addresses of a container that has no IPv6 address.
//!
//! IPv4 has `route_localnet`, so 127.0.0.1 is published in the kernel ([`crate::firewall`]).
//! IPv6 has no such switch: a packet from `::1` is never routed to another interface. So,
//! as Docker's `docker-proxy` does, berthd listens there itself and copies bytes to the
//! container (TCP: one upstream connection per client; UDP: one upstream socket per client
//! address, forgotten after [`UDP_IDLE`] without traffic). The container sees the
//! connection come from the bridge's gateway address. The proxy runs as tasks of the
//! daemon, not as a process per port: it ends with its [`PortProxy`] (when the container
//! stops), and a restarted daemon starts it again for its running containers.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use crate::firewall::{PortMapping, Proto};

/// How long a UDP client's upstream socket lives without traffic (Docker's figure).
pub const UDP_IDLE: Duration = Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("Bind for {addr} failed: port is already allocated")]
    InUse { addr: SocketAddr },
    #[error("proxy: listening on {addr}/{proto}: {source}")]
    Listen {
        addr: SocketAddr,
        proto: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// One listener: where on the host, which protocol, and where in the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxySpec {
    pub listen: SocketAddr,
    pub proto: Proto,
    pub target: SocketAddr,
}

/// The listeners `ports` need beyond the firewall's rules, for a container at `ip4` (and
/// `ip6` on a dual-stack network):
///
/// - no host address: `[::1]` to `ip6` when there is one (the other IPv6 addresses are
///   DNAT'd); without one, every IPv6 address (`[::]`) to `ip4`, as Docker's proxy does;
/// - `[::1]`: to `ip6`, else `ip4`; `[::]` as no host address, IPv6 only;
/// - another IPv6 host address: to `ip4` when the container has no IPv6 address.
///
/// `host_ipv6` is false on a host without IPv6: then no listener is planned for ports
/// without a host address.
pub fn plan(
    ports: &[PortMapping],
    ip4: IpAddr,
    ip6: Option<IpAddr>,
    host_ipv6: bool,
) -> Vec<ProxySpec> {
    let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    let mut out = Vec::new();
    for p in ports {
        let listen = match p.host_ip {
            None if !host_ipv6 => continue,
            None | Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)) => {
                if ip6.is_some() {
                    lo6
                } else {
                    any6
                }
            }
            Some(h @ IpAddr::V6(v6)) if v6.is_loopback() || ip6.is_none() => h,
            Some(_) => continue,
        };
        out.push(ProxySpec {
            listen: SocketAddr::new(listen, p.host_port),
            proto: p.proto,
            target: SocketAddr::new(ip6.unwrap_or(ip4), p.container_port),
        });
    }
    out
}

/// Whether this host has IPv6 (a kernel with it, and `::1` bindable).
pub fn host_has_ipv6() -> bool {
    std::path::Path::new("/proc/sys/net/ipv6").exists()
        && std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// Running listeners; they stop when this is dropped.
#[derive(Debug, Default)]
pub struct PortProxy {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for PortProxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl PortProxy {
    /// Binds every listener of `specs` (all or none: on failure the ones bound are
    /// closed again) and starts serving them. Must be called within a tokio runtime.
    pub fn start(specs: &[ProxySpec]) -> Result<Self, ProxyError> {
        let mut proxy = Self::default();
        for s in specs {
            let sock = bind(s)?;
            let target = s.target;
            proxy.tasks.push(match sock {
                Bound::Tcp(l) => tokio::spawn(serve_tcp(l, target)),
                Bound::Udp(u) => tokio::spawn(serve_udp(u, target)),
            });
            tracing::debug!(listen = %s.listen, proto = s.proto.as_str(), %target, "port proxy");
        }
        Ok(proxy)
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

enum Bound {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

fn bind(s: &ProxySpec) -> Result<Bound, ProxyError> {
    use rustix::net::{AddressFamily, SocketType, sockopt};
    let proto = s.proto.as_str();
    let err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            ProxyError::InUse { addr: s.listen }
        } else {
            ProxyError::Listen {
                addr: s.listen,
                proto,
                source,
            }
        }
    };
    let errno = |e: rustix::io::Errno| err(e.into());
    let family = if s.listen.is_ipv6() {
        AddressFamily::INET6
    } else {
        AddressFamily::INET
    };
    let ty = match s.proto {
        Proto::Tcp => SocketType::STREAM,
        Proto::Udp => SocketType::DGRAM,
    };
    let fd = rustix::net::socket_with(
        family,
        ty,
        rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
        None,
    )
    .map_err(errno)?;
    if s.listen.is_ipv6() {
        // `[::]` takes IPv6 only: IPv4 is published by the firewall's rules.
        sockopt::set_ipv6_v6only(&fd, true).map_err(errno)?;
    }
    if s.proto == Proto::Tcp {
        sockopt::set_socket_reuseaddr(&fd, true).map_err(errno)?;
    }
    rustix::net::bind(&fd, &s.listen).map_err(errno)?;
    Ok(match s.proto {
        Proto::Tcp => {
            rustix::net::listen(&fd, 1024).map_err(errno)?;
            Bound::Tcp(TcpListener::from_std(std::net::TcpListener::from(fd)).map_err(err)?)
        }
        Proto::Udp => Bound::Udp(UdpSocket::from_std(std::net::UdpSocket::from(fd)).map_err(err)?),
    })
}

async fn serve_tcp(l: TcpListener, target: SocketAddr) {
    loop {
        let Ok((mut client, peer)) = l.accept().await else {
            // EMFILE and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(async move {
            let mut up = match TcpStream::connect(target).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, %target, error = %e, "proxy: upstream refused");
                    return;
                }
            };
            let _ = client.set_nodelay(true);
            let _ = up.set_nodelay(true);
            // Each direction's EOF is passed on as a half-close.
            let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
        });
    }
}

async fn serve_udp(sock: UdpSocket, target: SocketAddr) {
    let sock = Arc::new(sock);
    let clients: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let known = clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&peer)
            .cloned();
        let up = match known {
            Some(u) => u,
            None => {
                let local: SocketAddr = if target.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let Ok(u) = UdpSocket::bind(local).await else {
                    continue;
                };
                if u.connect(target).await.is_err() {
                    continue;
                }
                let u = Arc::new(u);
                clients
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(peer, u.clone());
                let (u2, sock, clients) = (u.clone(), sock.clone(), clients.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65535];
                    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, u2.recv(&mut buf)).await {
                        let _ = sock.send_to(&buf[..n], peer).await;
                    }
                    clients
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&peer);
                });
                u
            }
        };
        let _ = up.send(&buf[..n]).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::parse_publish;

    fn ports(specs: &[&str]) -> Vec<PortMapping> {
        specs
            .iter()
            .flat_map(|s| parse_publish(s).unwrap())
            .collect()
    }

    #[test]
    fn plans_listeners_only_where_the_kernel_cannot_dnat() {
        let v4: IpAddr = "10.0.0.2".parse().unwrap();
        let v6: IpAddr = "fd00::2".parse().unwrap();
        let p = ports(&[
            "8080:80",
            "[::1]:8081:80/udp",
            "127.0.0.1:8082:80",
            "[fd00::1]:8083:80",
        ]);
        let s = |l: &str, proto, t: &str| ProxySpec {
            listen: l.parse().unwrap(),
            proto,
            target: t.parse().unwrap(),
        };
        // A v4-only container: every IPv6 address of the host through the proxy.
        assert_eq!(
            plan(&p, v4, None, true),
            vec![
                s("[::]:8080", Proto::Tcp, "10.0.0.2:80"),
                s("[::1]:8081", Proto::Udp, "10.0.0.2:80"),
                s("[fd00::1]:8083", Proto::Tcp, "10.0.0.2:80"),
            ]
        );
        // A dual-stack container: only loopback; the rest is DNAT'd.
        assert_eq!(
            plan(&p, v4, Some(v6), true),
            vec![
                s("[::1]:8080", Proto::Tcp, "[fd00::2]:80"),
                s("[::1]:8081", Proto::Udp, "[fd00::2]:80"),
            ]
        );
        // A host without IPv6 gets nothing for ports without an address.
        assert_eq!(plan(&p[..1], v4, None, false), vec![]);
    }
}
