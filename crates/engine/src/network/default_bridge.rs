//! The default `bridge` network as berthd's flags make it (`--bridge`, `--bip`,
//! `--fixed-cidr`, `--default-gateway`, `--ipv6`, `--bip6`, `--fixed-cidr-v6`,
//! `--default-gateway-v6`): made on the first start of a data root, and brought in line with the
//! flags at every later start, as dockerd recreates its default network at every start.
//! While containers recorded as running are attached to it, its addresses stay as they
//! were (dockerd: "there are running containers, updated network configuration will not
//! take affect"), so their leases, routes and rules stay valid; the new ones apply at the
//! first start of berthd when none runs.

use super::*;

impl Engine {
    /// The default network record for this start, stored.
    pub(super) fn default_network(&self, net: &Networks, cfg: &NetConfig) -> Result<NetworkRecord> {
        let a = cfg.default_addrs()?;
        let bip = a.bip;
        let existing = net.all().into_iter().find(|n| n.default).map(with_gateway);
        let mut n = match &existing {
            Some(old) => {
                let mut n = old.clone();
                if let Some(b) = bip {
                    n.subnet = Some(b.trunc());
                    n.gateway = Some(b.addr());
                }
                n
            }
            None => new_default(cfg, bip)?,
        };
        n.bridge = cfg.bridge.clone();
        n.ip_range = a.fixed;
        set_ipv6(&mut n, cfg.ipv6, &a, &net.all())?;
        n.aux = [
            (DEFAULT_GW4, a.gateway),
            (DEFAULT_GW6, a.gateway6.filter(|_| cfg.ipv6)),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
        .collect();
        let mut n = with_gateway(n);
        // --fixed-cidr and the default gateways inside the subnets.
        n.bridge_network()
            .map_err(|e| EngineError::InvalidArgument(format!("default bridge network: {e}")))?;
        if let Some(old) = &existing
            && old.addresses() != n.addresses()
        {
            let users = self.running_on(net, &old.id)?;
            if users.is_empty() {
                tracing::info!(was = ?old.addresses(), now = ?n.addresses(), "default bridge network reconfigured");
            } else {
                tracing::warn!(
                    containers = users.len(),
                    "there are running containers on the default bridge network: its new configuration (bip, ipv6, fixed-cidr-v6) takes effect at a start of berthd when none runs"
                );
                n = Self::keep_addresses(old, n);
            }
        }
        net.db.put_network(&n, existing.is_none())?;
        Ok(n)
    }

    /// `new` with the addresses of `old`.
    fn keep_addresses(old: &NetworkRecord, new: NetworkRecord) -> NetworkRecord {
        NetworkRecord {
            subnet: old.subnet,
            gateway: old.gateway,
            ip_range: old.ip_range,
            enable_ipv6: old.enable_ipv6,
            subnet6: old.subnet6,
            gateway6: old.gateway6,
            ip_range6: old.ip_range6,
            aux: old.aux.clone(),
            ..new
        }
    }

    /// Containers recorded as running with an endpoint on network `id`.
    fn running_on(&self, net: &Networks, id: &str) -> Result<Vec<String>> {
        Ok(net
            .db
            .endpoints(None)?
            .into_iter()
            .filter(|(c, nid, _, a)| {
                nid == id && a.is_some() && self.get(c).is_ok_and(|c| c.lock().state.running)
            })
            .map(|(c, ..)| c)
            .collect())
    }
}

/// The default network of a new data root. A bridge left by an earlier daemon keeps its
/// subnet (as docker0 does), so fresh data roots do not pile addresses onto it.
fn new_default(cfg: &NetConfig, bip: Option<IpNet>) -> Result<NetworkRecord> {
    let subnet = match bip.or_else(|| ipam::ipv4_routes_on(&cfg.bridge).first().copied()) {
        Some(b) => b.trunc(),
        None => ipam::pick_subnet(&ipam::default_pools(), &ipam::host_ipv4_routes())
            .ok_or_else(|| EngineError::Internal("no free subnet for the default bridge".into()))?,
    };
    Ok(NetworkRecord {
        id: crate::ids::random_hex(32),
        name: "bridge".into(),
        driver: "bridge".into(),
        created: crate::now_rfc3339(),
        bridge: cfg.bridge.clone(),
        subnet: Some(subnet),
        gateway: bip.map(|b| b.addr()),
        ip_range: None,
        internal: false,
        labels: BTreeMap::new(),
        options: BTreeMap::from([("com.docker.network.bridge.name".into(), cfg.bridge.clone())]),
        state: NetworkState::default(),
        default: true,
        enable_ipv6: false,
        subnet6: None,
        gateway6: None,
        ip_range6: None,
        aux: BTreeMap::new(),
        cni_aux_leases: Vec::new(),
    })
}

/// The IPv4 gateway defaults to the subnet's first address.
fn with_gateway(mut n: NetworkRecord) -> NetworkRecord {
    if n.gateway.is_none() {
        n.gateway = n.bridge_network().ok().map(|b| b.pool.gateway);
    }
    n
}

/// `--ipv6`, `--bip6` and `--fixed-cidr-v6` on the default network. `bip6` is the bridge's
/// address and the subnet, `fixed-cidr-v6` the allocation range in it. Without `bip6`,
/// `fixed-cidr-v6` is the subnet and the range (`IPAM.Config`'s `Subnet` and `IPRange`, as
/// dockerd 28 shows them), the gateway its first address; `--ipv6` alone keeps the IPv6 subnet the network had (as
/// dockerd keeps the bridge's address) or derives a unique-local /64 from its ID (dockerd
/// 28 takes one from its host-ID-derived ULA pool; dockerd before 28 refused to start).
/// A subnet that overlaps another network's stops the start.
fn set_ipv6(
    n: &mut NetworkRecord,
    ipv6: bool,
    a: &DefaultAddrs,
    nets: &[NetworkRecord],
) -> Result<()> {
    if !ipv6 {
        n.enable_ipv6 = false;
        n.subnet6 = None;
        n.gateway6 = None;
        n.ip_range6 = None;
        return Ok(());
    }
    let id = n.id.clone();
    let clash = |s: &IpNet| {
        nets.iter()
            .filter(|o| o.id != id)
            .find_map(|o| o.subnet6.filter(|t| ipam::overlaps(t, s)).map(|t| (o, t)))
    };
    match (a.bip6, a.fixed6) {
        (Some(b), range) => {
            let s = b.trunc();
            if let Some((o, t)) = clash(&s) {
                return Err(EngineError::InvalidArgument(format!(
                    "bip6 {b} overlaps the IPv6 subnet {t} of network {}",
                    o.name
                )));
            }
            n.set_pool6(s, Some(b.addr()), range)
        }
        (None, Some(f)) => {
            if let Some((o, t)) = clash(&f) {
                return Err(EngineError::InvalidArgument(format!(
                    "fixed-cidr-v6 {f} overlaps the IPv6 subnet {t} of network {}",
                    o.name
                )));
            }
            n.set_pool6(f, None, Some(f))
        }
        (None, None) => {
            let s = match n.subnet6.filter(|s| n.enable_ipv6 && clash(s).is_none()) {
                Some(s) => s,
                None => api::ula_subnet(&id, |s| clash(s).is_some())?,
            };
            n.set_pool6(s, None, None)
        }
    }
}
