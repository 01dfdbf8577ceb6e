//! Linux bridges for the built-in bridge driver (`berth0` and user-defined networks).
//!
//! The bridge carries the network's gateway address, so the host routes the subnet to it
//! and containers reach the host (and, through NAT, the outside) via that address.

use ipnet::IpNet;
use rtnetlink::LinkBridge;

use crate::netlink::{Netlink, NetlinkError, req_err};

/// What a bridge network needs on the host.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    /// Interface name (at most 15 bytes).
    pub name: String,
    /// MTU of the bridge; `None` leaves the kernel default (1500).
    pub mtu: Option<u32>,
    /// Gateway address with the subnet's prefix length, e.g. `172.18.0.1/16`; `None` for
    /// a bridge without an address on the host.
    pub gateway: Option<IpNet>,
    /// IPv6 gateway with prefix for dual-stack networks.
    pub gateway6: Option<IpNet>,
}

/// Creates the bridge if it does not exist, gives it the gateway address and brings it up.
/// Returns its interface index. Idempotent, so the daemon calls it at every start.
pub async fn ensure_bridge(nl: &Netlink, cfg: &BridgeConfig) -> Result<u32, NetlinkError> {
    if cfg.name.is_empty() || cfg.name.len() > 15 {
        return Err(NetlinkError::Invalid(format!(
            "bridge name {:?} must be 1 to 15 bytes",
            cfg.name
        )));
    }
    let index = match nl.link_by_name(&cfg.name).await? {
        Some(l) => l.header.index,
        None => {
            let mut b = LinkBridge::new(&cfg.name);
            if let Some(mtu) = cfg.mtu {
                b = b.mtu(mtu);
            }
            match nl.handle.link().add(b.build()).execute().await {
                Ok(()) => {}
                // Another attach raced us to it: fine, it is the same bridge.
                Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc::EEXIST => {}
                Err(e) => return Err(req_err("create bridge", &cfg.name)(e)),
            }
            nl.index_of(&cfg.name).await?
        }
    };
    let wanted: Vec<IpNet> = cfg
        .gateway
        .iter()
        .chain(cfg.gateway6.iter())
        .copied()
        .collect();
    nl.remove_addresses_except(index, &cfg.name, &wanted)
        .await?;
    for gw in &wanted {
        nl.add_address(index, &cfg.name, *gw).await?;
    }
    nl.set_up(index, &cfg.name).await?;
    tracing::debug!(bridge = %cfg.name, index, "bridge ready");
    Ok(index)
}

/// Deletes the bridge; a missing bridge is not an error.
pub async fn delete_bridge(nl: &Netlink, name: &str) -> Result<(), NetlinkError> {
    nl.delete_link(name).await
}
