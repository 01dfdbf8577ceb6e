//! The built-in bridge driver as the daemon uses it: one call per network lifecycle step
//! (create, connect, disconnect, remove), composed from [`crate::bridge`],
//! [`crate::veth`], [`crate::ipam`] and [`crate::firewall`].
//!
//! The driver keeps no state of its own: what it made comes back in [`NetworkState`] and
//! [`EndpointState`], which are serializable so berthd stores them in SQLite and can undo
//! exactly that after a restart.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bridge::{BridgeConfig, delete_bridge, ensure_bridge};
use crate::firewall::{Firewall, FirewallError, NetworkRules, PortMapping, Proto, RuleSet};
use crate::ipam::{Ipam, IpamError, LeaseStore, Pool};
use crate::netlink::{Netlink, NetlinkError};
use crate::netns::NetNs;
use crate::veth::{self, VethConfig};

/// Any failure of the bridge driver; each wraps the typed error of the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error(transparent)]
    Ipam(#[from] IpamError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    #[error("net: background task failed: {0}")]
    Join(String),
}

/// A bridge network's definition (from `network create`).
#[derive(Clone, Debug)]
pub struct BridgeNetwork {
    /// Network ID: the IPAM namespace of its leases.
    pub id: String,
    /// Bridge interface name (`berth0` for the default network, `br-<id12>` otherwise).
    pub bridge: String,
    pub pool: Pool,
    /// IPv6 pool of a dual-stack network (`--ipv6 --subnet <v6>`).
    pub pool6: Option<Pool>,
    pub mtu: Option<u32>,
    pub internal: bool,
    /// The containers' default route when it is not the bridge's address
    /// (`--default-gateway`, `--default-gateway-v6`).
    pub default_gateway: Option<IpAddr>,
    pub default_gateway6: Option<Ipv6Addr>,
}

impl BridgeNetwork {
    fn rules(&self) -> NetworkRules {
        NetworkRules {
            bridge: self.bridge.clone(),
            subnet: self.pool.subnet,
            subnet6: self.pool6.as_ref().map(|p| p.subnet),
            internal: self.internal,
        }
    }
}

/// What [`BridgeDriver::create_network`] added.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkState {
    pub rules: RuleSet,
}

/// A container's wish to join a network.
#[derive(Clone, Debug)]
pub struct EndpointRequest {
    pub container_id: String,
    /// Interface name in the container: `eth0`, `eth1`, ... one per network.
    pub ifname: String,
    /// Host veth name; see [`veth::host_veth_name`].
    pub host_veth: String,
    /// `--ip`.
    pub ip: Option<IpAddr>,
    /// `--ip6`, on dual-stack networks.
    pub ip6: Option<IpAddr>,
    /// `--mac-address`.
    pub mac: Option<[u8; 6]>,
    /// Whether this network provides the container's default route (the first one does).
    pub default_route: bool,
    /// Published ports; a `host_port` of 0 gets a free port (as with `-P`).
    pub ports: Vec<PortMapping>,
    /// `--link-local-ip` addresses, with their prefix (see [`VethConfig::link_local`]).
    pub link_local: Vec<ipnet::IpNet>,
}

/// What [`BridgeDriver::connect`] made: for NetworkSettings, and to disconnect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointState {
    pub network_id: String,
    pub container_id: String,
    pub host_veth: String,
    pub ifname: String,
    pub address: ipnet::IpNet,
    pub gateway: Option<IpAddr>,
    #[serde(default)]
    pub address6: Option<ipnet::IpNet>,
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
    pub mac: String,
    /// The published ports with their host ports filled in.
    pub ports: Vec<PortMapping>,
    pub rules: RuleSet,
}

/// The bridge driver. Cheap to share behind an `Arc`.
pub struct BridgeDriver<S: LeaseStore> {
    nl: Netlink,
    ipam: Arc<Ipam<S>>,
    fw: Firewall,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NetError> + Send + 'static,
) -> Result<T, NetError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NetError::Join(e.to_string()))?
}

impl<S: LeaseStore + 'static> BridgeDriver<S> {
    /// Opens a host netlink connection and makes sure berth's iptables chains exist.
    pub async fn new(ipam: Arc<Ipam<S>>, fw: Firewall) -> Result<Self, NetError> {
        let nl = Netlink::host()?;
        let f = fw.clone();
        blocking(move || Ok(f.ensure_base()?)).await?;
        Ok(Self { nl, ipam, fw })
    }

    /// Like [`Self::new`] without checking berth's chains (ten-odd `iptables` runs): for
    /// tools and benchmarks where a previous `new` already made them.
    pub fn with_existing_chains(ipam: Arc<Ipam<S>>, fw: Firewall) -> Result<Self, NetError> {
        Ok(Self {
            nl: Netlink::host()?,
            ipam,
            fw,
        })
    }

    pub fn ipam(&self) -> &Ipam<S> {
        &self.ipam
    }

    /// Creates (or re-creates after a reboot) the bridge and the network's rules.
    pub async fn create_network(&self, net: &BridgeNetwork) -> Result<NetworkState, NetError> {
        ensure_bridge(
            &self.nl,
            &BridgeConfig {
                name: net.bridge.clone(),
                mtu: net.mtu,
                gateway: Some(net.pool.gateway_net()),
                gateway6: net.pool6.as_ref().map(Pool::gateway_net),
            },
        )
        .await?;
        let (fw, rules) = (self.fw.clone(), net.rules());
        let rules = blocking(move || Ok(fw.add_network(&rules)?)).await?;
        Ok(NetworkState { rules })
    }

    /// Removes the network's rules, bridge and leases.
    pub async fn remove_network(
        &self,
        net: &BridgeNetwork,
        state: &NetworkState,
    ) -> Result<(), NetError> {
        let (fw, rules) = (self.fw.clone(), state.rules.clone());
        blocking(move || Ok(fw.remove(&rules)?)).await?;
        delete_bridge(&self.nl, &net.bridge).await?;
        let (ipam, id) = (self.ipam.clone(), net.id.clone());
        blocking(move || Ok(ipam.remove_network(&id)?)).await
    }

    /// Leases an address, creates the veth pair into `ns`, and publishes the ports. On
    /// failure everything done so far is undone.
    pub async fn connect(
        &self,
        net: &BridgeNetwork,
        ns: &NetNs,
        req: &EndpointRequest,
    ) -> Result<EndpointState, NetError> {
        let (ipam, id, pool, owner, want) = (
            self.ipam.clone(),
            net.id.clone(),
            net.pool.clone(),
            req.container_id.clone(),
            req.ip,
        );
        let ip = blocking(move || Ok(ipam.allocate(&id, &pool, &owner, want)?)).await?;
        let release = || {
            let (ipam, id, owner) = (self.ipam.clone(), net.id.clone(), req.container_id.clone());
            blocking(move || Ok(ipam.release(&id, &owner).map(|_| ())?))
        };
        // Cannot fail: the prefix comes from the pool's subnet of the same family.
        let address = ipnet::IpNet::new(ip, net.pool.subnet.prefix_len()).expect("valid prefix");
        let gateway = req
            .default_route
            .then_some(net.default_gateway.unwrap_or(net.pool.gateway));
        let (address6, gateway6) = match &net.pool6 {
            Some(p6) => {
                let (ipam, id, pool, owner, want) = (
                    self.ipam.clone(),
                    net.id.clone(),
                    p6.clone(),
                    req.container_id.clone(),
                    req.ip6,
                );
                let ip6 = match blocking(move || Ok(ipam.allocate(&id, &pool, &owner, want)?)).await
                {
                    Ok(ip) => ip,
                    Err(e) => {
                        let _ = release().await;
                        return Err(e);
                    }
                };
                let gw6 = match (net.default_gateway6, p6.gateway) {
                    _ if !req.default_route => None,
                    (Some(g), _) | (None, IpAddr::V6(g)) => Some(g),
                    _ => None,
                };
                // Cannot fail: same family and prefix as the pool's subnet.
                let net6 = ipnet::IpNet::new(ip6, p6.subnet.prefix_len()).expect("valid prefix");
                (Some(net6), gw6)
            }
            None => (None, None),
        };
        let ep = match veth::attach(
            &self.nl,
            ns,
            &VethConfig {
                host_name: req.host_veth.clone(),
                container_ifname: req.ifname.clone(),
                bridge: net.bridge.clone(),
                address,
                gateway,
                address6,
                gateway6,
                mac: req.mac,
                mtu: net.mtu,
                hairpin: !net.internal,
                link_local: req.link_local.clone(),
            },
        )
        .await
        {
            Ok(ep) => ep,
            Err(e) => {
                let _ = release().await;
                return Err(e.into());
            }
        };
        let mut ports = req.ports.clone();
        for p in &mut ports {
            if p.host_port == 0 {
                p.host_port = free_host_port(p.proto, p.host_ip)?;
            }
        }
        let (fw, rules, ports2) = (self.fw.clone(), net.rules(), ports.clone());
        let ip6 = address6.map(|a| a.addr());
        let rules = match blocking(move || Ok(fw.publish(&rules, ip, ip6, &ports2)?)).await {
            Ok(r) => r,
            Err(e) => {
                let _ = veth::detach(&self.nl, &req.host_veth).await;
                let _ = release().await;
                return Err(e);
            }
        };
        Ok(EndpointState {
            network_id: net.id.clone(),
            container_id: req.container_id.clone(),
            host_veth: ep.host_name,
            ifname: ep.container_ifname,
            address,
            gateway,
            address6,
            gateway6,
            mac: veth::format_mac(&ep.mac),
            ports,
            rules,
        })
    }

    /// Removes the endpoint's rules, its veth pair and its lease. Each step runs even if
    /// an earlier one failed; the first error is returned.
    pub async fn disconnect(&self, ep: &EndpointState) -> Result<(), NetError> {
        // Both steps mostly wait for an RCU grace period in the kernel (nf_tables commit,
        // netdev unregister; ~20 ms each here), so they run concurrently.
        let (fw, rules) = (self.fw.clone(), ep.rules.clone());
        let (r1, r2) = tokio::join!(blocking(move || Ok(fw.remove(&rules)?)), async {
            veth::detach(&self.nl, &ep.host_veth)
                .await
                .map_err(NetError::from)
        });
        let (ipam, id, owner) = (
            self.ipam.clone(),
            ep.network_id.clone(),
            ep.container_id.clone(),
        );
        let r3 = blocking(move || Ok(ipam.release(&id, &owner).map(|_| ())?)).await;
        r1.and(r2).and(r3)
    }
}

impl<S: LeaseStore + 'static> BridgeDriver<S> {
    /// Fast teardown of a container that goes away together with its namespace, all in a
    /// background task: the netns file is removed first (the kernel then destroys the
    /// namespace, and with it the veth pairs, asynchronously and batched across
    /// containers), then the rules, then each host veth is awaited (deleted explicitly if it
    /// is still there after a second, e.g. because a process still holds the namespace),
    /// and only then the lease released, so an address is never handed out while its old
    /// rules or interface exist. The caller may await the handle (before the same
    /// container starts again, or `network rm`) or drop it.
    ///
    /// Measured on this machine's kernel, deleting a rule and a veth each wait ~20 ms for an
    /// RCU grace period, and unmounting the netns file 0.1-4 ms; this keeps all of them off
    /// the caller's path.
    pub fn teardown(
        self: &Arc<Self>,
        eps: Vec<EndpointState>,
        ns: NetNs,
    ) -> tokio::task::JoinHandle<Result<(), NetError>> {
        let this = self.clone();
        tokio::spawn(async move {
            let netns = blocking(move || {
                ns.delete()
                    .map_err(|e| NetError::Netlink(NetlinkError::from(e)))
            })
            .await;
            let mut rules = RuleSet::default();
            for ep in &eps {
                rules.rules.extend(ep.rules.rules.iter().cloned());
            }
            let fw = this.fw.clone();
            let mut result = blocking(move || Ok(fw.remove(&rules)?)).await;
            for ep in &eps {
                let mut gone = false;
                for _ in 0..100 {
                    match this.nl.link_by_name(&ep.host_veth).await {
                        Ok(None) => {
                            gone = true;
                            break;
                        }
                        Ok(Some(_)) => {
                            tokio::time::sleep(std::time::Duration::from_millis(10)).await
                        }
                        Err(e) => {
                            result = result.and(Err(e.into()));
                            break;
                        }
                    }
                }
                if !gone && let Err(e) = veth::detach(&this.nl, &ep.host_veth).await {
                    result = result.and(Err(e.into()));
                }
                let (ipam, id, owner) = (
                    this.ipam.clone(),
                    ep.network_id.clone(),
                    ep.container_id.clone(),
                );
                let r = blocking(move || Ok(ipam.release(&id, &owner).map(|_| ())?)).await;
                result = result.and(r);
            }
            netns.and(result)
        })
    }
}

/// `--network` as the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// Own namespace with only `lo` (a [`NetNs`] and nothing else).
    None,
    /// The host's namespace: no netns file, no files rewritten but hosts/hostname.
    Host,
    /// The default bridge network (`bridge`, or `default`).
    Bridge,
    /// Another container's namespace: join its netns file.
    Container(String),
    /// A user-defined network by name or ID.
    Named(String),
}

impl std::str::FromStr for NetworkMode {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "" | "bridge" | "default" => Self::Bridge,
            "none" => Self::None,
            "host" => Self::Host,
            _ => match s.strip_prefix("container:") {
                Some(id) => Self::Container(id.to_string()),
                None => Self::Named(s.to_string()),
            },
        })
    }
}

impl NetworkMode {
    /// Whether the container gets a netns file of its own.
    pub fn owns_netns(&self) -> bool {
        matches!(self, Self::None | Self::Bridge | Self::Named(_))
    }

    /// Whether names resolve through a network DNS responder (user-defined networks only,
    /// as in Docker).
    pub fn has_embedded_dns(&self) -> bool {
        matches!(self, Self::Named(_))
    }
}

/// A currently free host port for `proto` on `host_ip` (all addresses when `None`: free on
/// `::` too where the host has IPv6, since [`crate::proxy`] may listen there), from the
/// kernel's ephemeral range, for `-P` and `-p containerPort`.
pub fn free_host_port(proto: Proto, host_ip: Option<IpAddr>) -> Result<u16, FirewallError> {
    let ip = host_ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let err = |e: std::io::Error| {
        FirewallError::Invalid(format!("no free {} port on {ip}: {e}", proto.as_str()))
    };
    let bind = |ip: IpAddr, port: u16| match proto {
        Proto::Tcp => std::net::TcpListener::bind((ip, port))
            .and_then(|l| l.local_addr())
            .map(|a| a.port()),
        Proto::Udp => std::net::UdpSocket::bind((ip, port))
            .and_then(|s| s.local_addr())
            .map(|a| a.port()),
    };
    let mut last = None;
    for _ in 0..20 {
        let port = bind(ip, 0).map_err(err)?;
        let any6 = IpAddr::from(Ipv6Addr::UNSPECIFIED);
        // With the IPv4 socket closed, `::` (dual-stack) binding the port shows it free on
        // both families; a host without IPv6 fails with another error than "in use".
        match (host_ip, bind(any6, port)) {
            (None, Err(e)) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            _ => return Ok(port),
        }
    }
    Err(err(
        last.unwrap_or_else(|| std::io::ErrorKind::AddrInUse.into())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_modes_parse_like_docker() {
        let m = |s: &str| s.parse::<NetworkMode>().unwrap();
        assert_eq!(m("default"), NetworkMode::Bridge);
        assert_eq!(m("bridge"), NetworkMode::Bridge);
        assert_eq!(m("none"), NetworkMode::None);
        assert_eq!(m("host"), NetworkMode::Host);
        assert_eq!(m("container:abc"), NetworkMode::Container("abc".into()));
        assert_eq!(m("mynet"), NetworkMode::Named("mynet".into()));
        assert!(m("none").owns_netns() && !m("host").owns_netns());
        assert!(!m("container:x").owns_netns());
        assert!(m("mynet").has_embedded_dns() && !m("bridge").has_embedded_dns());
    }
}
