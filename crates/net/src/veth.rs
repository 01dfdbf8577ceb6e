//! veth pairs joining a container's namespace to a bridge.
//!
//! The pair is made by one `RTM_NEWLINK` whose peer carries `IFLA_NET_NS_FD`: the container
//! end is born in the container's namespace under its final name (`eth0`) with its MAC and
//! MTU (not up: kernels answer ENOTCONN to IFF_UP on a peer created in another namespace, so
//! it is brought up from inside with its address), and the host end is born enslaved to the bridge and up. Moving a link
//! between namespaces after creation is the kernel's slow path (it unregisters and
//! re-registers the device), so it is never done here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use ipnet::IpNet;
use netlink_packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::netlink::{Netlink, NetlinkError, req_err};
use crate::netns::NetNs;

/// One container interface on a bridge network.
#[derive(Clone, Debug)]
pub struct VethConfig {
    /// Host end name (at most 15 bytes), see [`host_veth_name`].
    pub host_name: String,
    /// Name inside the container, `eth0` for the first network.
    pub container_ifname: String,
    /// Bridge the host end joins.
    pub bridge: String,
    /// Container address with the subnet's prefix length.
    pub address: IpNet,
    /// Default route inside the container; `None` for no default route (e.g. a second
    /// network, or an internal one).
    pub gateway: Option<IpAddr>,
    /// Second, IPv6 address for dual-stack networks, with its default route.
    pub address6: Option<IpNet>,
    pub gateway6: Option<Ipv6Addr>,
    /// MAC of the container end; `None` derives it from the address ([`mac_from_ip`]).
    pub mac: Option<[u8; 6]>,
    /// MTU of both ends; `None` for the kernel default.
    pub mtu: Option<u32>,
    /// Hairpin mode on the bridge port, so a container reaching its own published port
    /// through the host is bridged back to itself (with br_netfilter the DNAT happens at
    /// the bridge, and the frame must leave by the port it came in). Docker does the same
    /// when it runs without its userland proxy.
    pub hairpin: bool,
    /// Extra link-local addresses (`--link-local-ip`), 169.254.0.0/16 or fe80::/64 ones.
    pub link_local: Vec<IpNet>,
}

/// What [`attach`] made, for NetworkSettings and for [`detach`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host_name: String,
    pub container_ifname: String,
    pub address: IpNet,
    pub gateway: Option<IpAddr>,
    pub address6: Option<IpNet>,
    pub gateway6: Option<Ipv6Addr>,
    pub mac: [u8; 6],
}

/// Docker's MAC scheme: `02:42` (locally administered, unicast) followed by the IPv4
/// address, so a container's MAC is stable across restarts with the same address. For IPv6
/// the last four bytes of the address are used.
pub fn mac_from_ip(ip: IpAddr) -> [u8; 6] {
    let tail = match ip {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            [o[12], o[13], o[14], o[15]]
        }
    };
    [0x02, 0x42, tail[0], tail[1], tail[2], tail[3]]
}

/// `aa:bb:cc:dd:ee:ff` text form of a MAC.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A host-side veth name from the container ID and the network's position: `veth` plus 11
/// characters, unique while IDs are (Docker uses random ones; deriving it lets a restarted
/// daemon find the link without storing it).
pub fn host_veth_name(container_id: &str, net_index: usize) -> String {
    let id: String = container_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(9)
        .collect();
    format!("veth{id}{net_index:x}").chars().take(15).collect()
}

/// Creates the veth pair, configures the container end (address, default route, `lo` up)
/// inside `ns`, and returns the endpoint. On failure the pair is removed again.
pub async fn attach(
    host: &Netlink,
    ns: &NetNs,
    cfg: &VethConfig,
) -> Result<Endpoint, NetlinkError> {
    let bridge_index = host.index_of(&cfg.bridge).await?;
    let mac = cfg.mac.unwrap_or_else(|| mac_from_ip(cfg.address.addr()));

    let mut peer = LinkUnspec::new_with_name(&cfg.container_ifname)
        .setns_by_fd(ns.fd().as_raw_fd())
        .address(mac.to_vec());
    let mut host_end = LinkVeth::new(&cfg.host_name, &cfg.container_ifname)
        .controller(bridge_index)
        .up();
    if let Some(mtu) = cfg.mtu {
        peer = peer.mtu(mtu);
        host_end = host_end.mtu(mtu);
    }
    let msg = host_end
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
        .build();
    host.handle
        .link()
        .add(msg)
        .execute()
        .await
        .map_err(req_err(
            "create veth",
            format!(
                "{} (peer {} in {})",
                cfg.host_name,
                cfg.container_ifname,
                ns.path().display()
            ),
        ))?;

    if cfg.hairpin {
        let port = LinkBridgePort::new(0)
            .name(cfg.host_name.clone())
            .hairpin(true);
        if let Err(e) = host.handle.link().set_port(port.build()).execute().await {
            let _ = host.delete_link(&cfg.host_name).await;
            return Err(req_err("set hairpin", &cfg.host_name)(e));
        }
    }
    match configure_container_end(ns, cfg).await {
        Ok(()) => Ok(Endpoint {
            host_name: cfg.host_name.clone(),
            container_ifname: cfg.container_ifname.clone(),
            address: cfg.address,
            gateway: cfg.gateway,
            address6: cfg.address6,
            gateway6: cfg.gateway6,
            mac,
        }),
        Err(e) => {
            let _ = host.delete_link(&cfg.host_name).await;
            Err(e)
        }
    }
}

async fn configure_container_end(ns: &NetNs, cfg: &VethConfig) -> Result<(), NetlinkError> {
    // A container interface without an IPv6 address gets no IPv6 at all (no link-local
    // address, no multicast groups, no router advertisements), as Docker does; written
    // on the thread that makes the namespace's netlink socket, so it costs no extra thread.
    let v4_only = (cfg.address6.is_none() && cfg.link_local.iter().all(|a| a.addr().is_ipv4()))
        .then(|| cfg.container_ifname.clone());
    let (inner, sysctl) = Netlink::in_netns_with(ns, move || match v4_only {
        Some(ifname) => disable_ipv6(&ifname),
        None => Ok(()),
    })?;
    sysctl.map_err(|e| {
        NetlinkError::Invalid(format!(
            "disabling IPv6 on {} in {}: {e}",
            cfg.container_ifname,
            ns.path().display()
        ))
    })?;
    let lo = inner.index_of("lo").await?;
    inner.set_up(lo, "lo").await?;
    let index = inner.index_of(&cfg.container_ifname).await?;
    let addrs = std::iter::once(cfg.address)
        .chain(cfg.address6)
        .chain(cfg.link_local.iter().copied());
    for addr in addrs {
        inner
            .add_address(index, &cfg.container_ifname, addr)
            .await?;
    }
    inner.set_up(index, &cfg.container_ifname).await?;
    let gateways = cfg.gateway.into_iter().chain(cfg.gateway6.map(IpAddr::V6));
    for gw in gateways {
        match inner
            .handle
            .route()
            .add(default_route(gw, index))
            .execute()
            .await
        {
            Ok(()) => {}
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc::EEXIST => {}
            Err(e) => {
                return Err(req_err(
                    "add default route",
                    format!(
                        "via {gw} dev {} in {}",
                        cfg.container_ifname,
                        ns.path().display()
                    ),
                )(e));
            }
        }
    }
    Ok(())
}

/// The default route of `gw`'s family via `gw` through interface `index`.
fn default_route(gw: IpAddr, index: u32) -> rtnetlink::packet_route::route::RouteMessage {
    match gw {
        IpAddr::V4(v4) => RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(v4)
            .output_interface(index)
            .build(),
        IpAddr::V6(v6) => RouteMessageBuilder::<Ipv6Addr>::new()
            .gateway(v6)
            .output_interface(index)
            .build(),
    }
}

/// Points the default route of `gw`'s family in `ns` at `gw` through `ifname`, replacing
/// the one there (another network's): what moves a running container's default gateway
/// to the network of the highest `--gw-priority`.
pub async fn replace_default_route(
    ns: &NetNs,
    ifname: &str,
    gw: IpAddr,
) -> Result<(), NetlinkError> {
    let inner = Netlink::in_netns(ns)?;
    let index = inner.index_of(ifname).await?;
    match inner
        .handle
        .route()
        .add(default_route(gw, index))
        .replace()
        .execute()
        .await
    {
        // The kernel's answer when this very route exists behind another default route of
        // the same metric, one a CNI chain added: both stay.
        Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc::EEXIST => Ok(()),
        r => r.map_err(req_err(
            "replace default route",
            format!("via {gw} dev {ifname} in {}", ns.path().display()),
        )),
    }
}

/// Sets `net.ipv6.conf.IFNAME.disable_ipv6` in the calling thread's namespace; a kernel
/// without IPv6 has nothing to disable.
fn disable_ipv6(ifname: &str) -> std::io::Result<()> {
    match std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"),
        "1",
    ) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::path::Path::new("/proc/sys/net/ipv6").exists() {
                Err(e)
            } else {
                Ok(())
            }
        }
        r => r,
    }
}

/// Removes a container's interface: deleting the host end takes the peer with it. A
/// missing link is not an error (the namespace may already be gone, which also removes it).
pub async fn detach(host: &Netlink, host_name: &str) -> Result<(), NetlinkError> {
    host.delete_link(host_name).await
}
