//! The engine's networks: the default `bridge` network, user-defined bridge networks and
//! `cni` networks, their persistence in `berth.db`, and each container's attachments
//! (netns file, endpoints, published ports, DNS names, `/etc/hosts` and
//! `/etc/resolv.conf`). berth-net does the work; this module decides what to ask of it and
//! remembers what it made, so a restarted berthd can undo it.
//!
//! Tables (migration v3): `networks` (record JSON per network, with the IPv6 pool of a
//! dual-stack network), `leases` (the IPAM
//! [`berth_net::ipam::LeaseStore`], `UNIQUE(network, address)`), `endpoints` (per container and network:
//! the wanted settings, and the live [`Active`] state while the container runs).
//!
//! Submodules: `store` (the tables and the lease store), `api` (the engine side of the
//! `/networks` routes, and network events), `default_bridge` (the default network as the
//! daemon's flags make it, at every start).
//!
//! Lifecycle hooks called from `engine.rs`/`lifecycle.rs`: [`Engine::net_prepare`]
//! (create), [`Engine::net_start`] (start), [`Engine::net_release`] (exit, failed start,
//! remove), [`Engine::net_forget`] (remove). At daemon start [`Engine::start_networks`]
//! runs before live restore and [`Engine::reconcile_networks`] after it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use berth_net::cni::{Attachment, CniDriver, CniPortMapping, CniResult, ConfList};
use berth_net::dns::{self, DnsServer, Records, ResolvConf};
use berth_net::firewall::{Chains, Firewall, PortMapping, Proto};
use berth_net::ipam::{self, Ipam, IpamError, Pool};
use berth_net::proxy::{self, PortProxy};
use berth_net::{BridgeDriver, BridgeNetwork, EndpointRequest, EndpointState, NetNs, NetworkState};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::container::ContainerRecord;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::types::{Config, HostConfig};

/// Daemon settings for networking (`daemon.toml` / dockerd-style flags).
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Bridge interface of the default network (dockerd's `--bridge`; `berth0`).
    pub bridge: String,
    /// `--bip`: the default bridge's gateway address with prefix, e.g. `172.17.0.1/16`.
    /// Unset: the first of Docker's default pools that overlaps no host route.
    pub bip: Option<String>,
    /// Suffix of berth's iptables chains (one set of chains per daemon sharing a host).
    pub chain_suffix: String,
    /// Turn on `net.ipv4.ip_forward` at start, as dockerd does (`--ip-forward`).
    pub ip_forward: bool,
    /// `--ipv6`: the default network is dual-stack, with the IPv6 subnet below or, without
    /// one, a unique-local /64 derived from its ID (dockerd 28 takes one from its ULA pool).
    pub ipv6: bool,
    /// `--fixed-cidr-v6`: the default network's IPv6 allocation range, and its subnet when
    /// there is no `bip6` (the gateway then is its first address). Checked even without
    /// `ipv6`, as dockerd does.
    pub fixed_cidr_v6: Option<String>,
    /// `--fixed-cidr`: the default network's IPv4 allocation range, inside `bip`'s subnet.
    pub fixed_cidr: Option<String>,
    /// `--bip6`: the default bridge's IPv6 address and prefix (with `ipv6`).
    pub bip6: Option<String>,
    /// `--default-gateway`, `--default-gateway-v6`: the containers' default route on the
    /// default network, when it is not the bridge's address.
    pub default_gateway: Option<String>,
    pub default_gateway_v6: Option<String>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            bridge: "berth0".into(),
            bip: None,
            chain_suffix: String::new(),
            ip_forward: true,
            ipv6: false,
            fixed_cidr_v6: None,
            fixed_cidr: None,
            bip6: None,
            default_gateway: None,
            default_gateway_v6: None,
        }
    }
}

impl NetConfig {
    /// Checks the default network's addresses. berthd calls it before it opens anything,
    /// so a bad value stops it with a clear error and nothing touched, as dockerd's config
    /// check does.
    pub fn validate(&self) -> Result<()> {
        self.default_addrs().map(|_| ())
    }

    /// `bip`, `fixed_cidr`, `default_gateway` and their IPv6 forms, parsed, each of its
    /// family.
    fn default_addrs(&self) -> Result<DefaultAddrs> {
        /// `v` parsed, of the family `v6`; `expected` words the error.
        fn parse<T: std::str::FromStr>(
            flag: &str,
            v: &Option<String>,
            v6: bool,
            family: impl Fn(&T) -> bool,
            expected: &str,
        ) -> Result<Option<T>> {
            let Some(s) = v else { return Ok(None) };
            match s.parse::<T>() {
                Ok(x) if family(&x) == v6 => Ok(Some(x)),
                _ => Err(EngineError::InvalidArgument(format!(
                    "invalid {flag} {s}: expected {expected}"
                ))),
            }
        }
        let net6 = |n: &IpNet| n.addr().is_ipv6();
        let ip6 = |a: &IpAddr| a.is_ipv6();
        let fixed6 = parse(
            "fixed-cidr-v6",
            &self.fixed_cidr_v6,
            true,
            net6,
            "an IPv6 subnet, e.g. fd00:1::/64",
        )?;
        if let Some(f) = &fixed6 {
            ipam::check_ipv6_subnet(f).map_err(|e| {
                EngineError::InvalidArgument(format!("invalid fixed-cidr-v6 {f}: {e}"))
            })?;
        }
        Ok(DefaultAddrs {
            bip: parse(
                "bip",
                &self.bip,
                false,
                net6,
                "an IPv4 address and prefix, e.g. 172.17.0.1/16",
            )?,
            fixed: parse(
                "fixed-cidr",
                &self.fixed_cidr,
                false,
                net6,
                "an IPv4 subnet, e.g. 172.17.1.0/24",
            )?
            .map(|n| n.trunc()),
            gateway: parse(
                "default-gateway",
                &self.default_gateway,
                false,
                ip6,
                "an IPv4 address, e.g. 172.17.0.254",
            )?,
            bip6: parse(
                "bip6",
                &self.bip6,
                true,
                net6,
                "an IPv6 address and prefix, e.g. fd00:1::1/64",
            )?,
            fixed6: fixed6.map(|n| n.trunc()),
            gateway6: parse(
                "default-gateway-v6",
                &self.default_gateway_v6,
                true,
                ip6,
                "an IPv6 address, e.g. fd00:1::fe",
            )?,
        })
    }
}

/// The default network's addresses from berthd's flags.
#[derive(Debug, Default)]
struct DefaultAddrs {
    /// `--bip`: the bridge's address and the subnet.
    bip: Option<IpNet>,
    /// `--fixed-cidr`: where containers' addresses are drawn from.
    fixed: Option<IpNet>,
    /// `--default-gateway`: the containers' default route.
    gateway: Option<IpAddr>,
    bip6: Option<IpNet>,
    fixed6: Option<IpNet>,
    gateway6: Option<IpAddr>,
}

/// A network as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// `bridge` or `cni`.
    pub driver: String,
    pub created: String,
    /// Bridge interface (bridge driver only).
    #[serde(default)]
    pub bridge: String,
    pub subnet: Option<IpNet>,
    pub gateway: Option<IpAddr>,
    pub ip_range: Option<IpNet>,
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub state: NetworkState,
    /// The default `bridge` network (no embedded DNS, cannot be removed).
    #[serde(default)]
    pub default: bool,
    /// `--ipv6`: a dual-stack network with the IPv6 pool below.
    #[serde(default)]
    pub enable_ipv6: bool,
    #[serde(default)]
    pub subnet6: Option<IpNet>,
    #[serde(default)]
    pub gateway6: Option<IpAddr>,
    #[serde(default)]
    pub ip_range6: Option<IpNet>,
    /// `IPAM.Config[].AuxiliaryAddresses` of both families (`network create
    /// --aux-address`): kept from containers. [`DEFAULT_GW4`]/[`DEFAULT_GW6`] also set the
    /// containers' default route (dockerd's `--default-gateway`, `--default-gateway-v6`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux: BTreeMap<String, IpAddr>,
    /// The host-local lease files that keep a cni network's auxiliary addresses from
    /// containers (made at create, removed at `network rm`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cni_aux_leases: Vec<PathBuf>,
}

/// The auxiliary address names that set the containers' default route (dockerd's).
pub(crate) const DEFAULT_GW4: &str = "DefaultGatewayIPv4";
pub(crate) const DEFAULT_GW6: &str = "DefaultGatewayIPv6";

impl NetworkRecord {
    fn bridge_network(&self) -> Result<BridgeNetwork> {
        let subnet = self
            .subnet
            .ok_or_else(|| EngineError::Internal(format!("network {} has no subnet", self.name)))?;
        let aux = |v6: bool| {
            self.aux
                .values()
                .copied()
                .filter(move |a| a.is_ipv6() == v6)
        };
        let pool = Pool::new(&self.id, subnet, self.gateway, self.ip_range)
            .and_then(|p| p.with_reserved(&self.id, aux(false)))
            .map_err(bad)?;
        let pool6 = match self.subnet6.filter(|_| self.enable_ipv6) {
            Some(s6) => Some(
                Pool::new(&self.id, s6, self.gateway6, self.ip_range6)
                    .and_then(|p| p.with_reserved(&self.id, aux(true)))
                    .map_err(bad)?,
            ),
            None => None,
        };
        let mtu = self
            .options
            .get("com.docker.network.driver.mtu")
            .and_then(|m| m.parse().ok());
        Ok(BridgeNetwork {
            id: self.id.clone(),
            bridge: self.bridge.clone(),
            pool,
            pool6,
            mtu,
            internal: self.internal,
            default_gateway: self.aux.get(DEFAULT_GW4).copied(),
            default_gateway6: match self.aux.get(DEFAULT_GW6) {
                Some(IpAddr::V6(g)) => Some(*g),
                _ => None,
            },
        })
    }

    /// Makes the network dual-stack with this IPv6 subnet (gateway: its first address
    /// unless given; `range`: where dynamic allocation draws from).
    fn set_pool6(
        &mut self,
        subnet: IpNet,
        gateway: Option<IpAddr>,
        range: Option<IpNet>,
    ) -> Result<()> {
        let pool6 = Pool::new(&self.id, subnet, gateway, range).map_err(bad)?;
        self.enable_ipv6 = true;
        self.subnet6 = Some(pool6.subnet);
        self.gateway6 = Some(pool6.gateway);
        self.ip_range6 = pool6.range;
        Ok(())
    }

    /// The addresses of the network (what `--bip`, `--fixed-cidr`, `--default-gateway`
    /// and their IPv6 forms change).
    fn addresses(&self) -> impl PartialEq + std::fmt::Debug {
        (
            (self.subnet, self.gateway, self.ip_range),
            (
                self.enable_ipv6,
                self.subnet6,
                self.gateway6,
                self.ip_range6,
            ),
            self.aux.clone(),
        )
    }

    fn embedded_dns(&self) -> bool {
        self.driver == "bridge" && !self.default
    }

    /// The ID written in the host-local lease files of the network's auxiliary addresses.
    fn cni_aux_owner(&self) -> String {
        format!("berth-aux-{}", self.id)
    }

    fn cni_conf(&self) -> Result<ConfList> {
        let path = self.options.get("config").ok_or_else(|| {
            EngineError::InvalidArgument("cni network needs --opt config=FILE".into())
        })?;
        ConfList::load(Path::new(path)).map_err(bad)
    }
}

/// What a container asked for on one network (`--network-alias`, `--ip`, `--mac-address`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EndpointConfig {
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ip: Option<IpAddr>,
    #[serde(default)]
    pub mac: Option<String>,
    /// `--ip6`, on dual-stack networks.
    #[serde(default)]
    pub ip6: Option<IpAddr>,
    /// `--link NAME[:ALIAS]` on a user-defined network: aliases only this container
    /// resolves (by the embedded DNS).
    #[serde(default)]
    pub links: Vec<String>,
    /// `--link-local-ip`: extra addresses on the bridge interface, as given (dockerd adds
    /// each with a /16 for IPv4, a /64 for IPv6, whatever the address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
    /// `--gw-priority`: of the networks a container starts on, the one with the highest
    /// gives its default route (the first of them on a tie).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gw_priority: i64,
    /// `--driver-opt`: the endpoint options berth's bridge driver makes, [`OPT_IFNAME`]
    /// (the interface's name in the container) and [`OPT_SYSCTLS`] (its sysctls).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}

/// dockerd's endpoint options for the interface name and its sysctls
/// (`net.ipv4.conf.IFNAME.forwarding=1,...`, IFNAME standing for the interface).
const OPT_IFNAME: &str = "com.docker.network.endpoint.ifname";
const OPT_SYSCTLS: &str = "com.docker.network.endpoint.sysctls";

impl EndpointConfig {
    /// The driver options that are not berth's own endpoint options, as `CNI_ARGS` pairs.
    fn cni_args(&self) -> impl Iterator<Item = (&String, &String)> {
        self.driver_opts
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), OPT_IFNAME | OPT_SYSCTLS))
    }

    /// The interface name asked for with [`OPT_IFNAME`].
    fn ifname(&self) -> Option<&str> {
        self.driver_opts.get(OPT_IFNAME).map(String::as_str)
    }

    /// The [`OPT_SYSCTLS`] as (path under /proc/sys, value) for interface `ifname`.
    fn sysctls(&self, ifname: &str) -> Vec<(String, String)> {
        self.driver_opts
            .get(OPT_SYSCTLS)
            .into_iter()
            .flat_map(|s| s.split(','))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| {
                let mut parts: Vec<&str> = k.trim().splitn(5, '.').collect();
                if parts.len() == 5 {
                    parts[3] = ifname;
                }
                (parts.join("/"), v.trim().to_owned())
            })
            .collect()
    }
}

/// Checks berth's endpoint driver options as dockerd does: a usable interface name,
/// interface sysctls written with IFNAME. Other keys are checked with the network (see
/// `check_endpoint_opts`).
fn check_driver_opts(opts: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in opts {
        match k.as_str() {
            OPT_IFNAME
                if v.is_empty()
                    || v.len() > 15
                    || v.contains(['/', ':', ' '])
                    || v == "."
                    || v == ".." =>
            {
                return Err(bad(format!("invalid interface name {v:?} ({OPT_IFNAME})")));
            }
            OPT_SYSCTLS => {
                for kv in v.split(',') {
                    let name = kv.split_once('=').map(|(n, _)| n.trim()).ok_or_else(|| {
                        bad(format!("invalid sysctl {kv:?}: expected NAME=VALUE"))
                    })?;
                    let p: Vec<&str> = name.splitn(5, '.').collect();
                    if p.len() != 5
                        || p[0] != "net"
                        || !matches!(p[1], "ipv4" | "ipv6" | "mpls")
                        || p[2] != "conf"
                        || !matches!(p[3], "IFNAME" | "ifname")
                        || p[4].contains(['/', '.'])
                    {
                        return Err(bad(format!(
                            "unrecognised network interface sysctl {name:?}: write it as net.(ipv4|ipv6|mpls).conf.IFNAME.NAME, for example net.ipv4.conf.IFNAME.forwarding"
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Endpoint driver options other than [`OPT_IFNAME`] and [`OPT_SYSCTLS`]: a cni network
/// passes them to its plugins as `CNI_ARGS` (`NAME=VALUE;...`), so they must fit that
/// form; the bridge driver has none.
fn check_endpoint_opts(n: &NetworkRecord, cfg: &EndpointConfig) -> Result<()> {
    for (k, v) in cfg.cni_args() {
        if n.driver != "cni" {
            return Err(EngineError::InvalidArgument(format!(
                "endpoint driver options (--driver-opt) are not supported by berth: {k}"
            )));
        }
        if k.is_empty() || k.contains(['=', ';']) || v.contains(';') {
            return Err(bad(format!(
                "network {}: driver option {k}={v} cannot be passed to the CNI plugins as CNI_ARGS (NAME=VALUE, no ';' in either, no '=' in the name)",
                n.name
            )));
        }
    }
    Ok(())
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl EndpointConfig {
    /// From the API's `EndpointSettings` JSON.
    pub fn from_api(v: &Value) -> Result<Self> {
        let aliases = strings(v.get("Aliases"));
        let links = strings(v.get("Links"));
        let ip_of = |k: &str| -> Result<Option<IpAddr>> {
            match v["IPAMConfig"][k].as_str().filter(|s| !s.is_empty()) {
                Some(s) => Ok(Some(s.parse().map_err(|_| {
                    EngineError::InvalidArgument(format!("invalid IP address: {s}"))
                })?)),
                None => Ok(None),
            }
        };
        let (ip, ip6) = (ip_of("IPv4Address")?, ip_of("IPv6Address")?);
        let mac = v["MacAddress"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        if let Some(m) = &mac {
            parse_mac(m)?;
        }
        let driver_opts: BTreeMap<String, String> = v["DriverOpts"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        check_driver_opts(&driver_opts)?;
        let link_local_ips = strings(v["IPAMConfig"].get("LinkLocalIPs"));
        for s in &link_local_ips {
            link_local_net(s)?;
        }
        Ok(Self {
            aliases,
            ip,
            mac,
            ip6,
            links,
            link_local_ips,
            gw_priority: v["GwPriority"].as_i64().unwrap_or(0),
            driver_opts,
        })
    }
}

/// A `--link-local-ip` address with the prefix dockerd gives it: /16 for IPv4, /64 for IPv6.
fn link_local_net(s: &str) -> Result<IpNet> {
    match s.parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() => {
            let prefix = if ip.is_ipv4() { 16 } else { 64 };
            // Cannot fail: the prefix fits the family.
            Ok(IpNet::new(ip, prefix).expect("valid prefix"))
        }
        _ => Err(EngineError::InvalidArgument(format!(
            "invalid link-local IP address: {s}"
        ))),
    }
}

/// A live attachment (while the container runs).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Active {
    pub endpoint_id: String,
    pub ifname: String,
    pub address: Option<IpNet>,
    pub gateway: Option<IpAddr>,
    /// The IPv6 address and gateway on a dual-stack network.
    #[serde(default)]
    pub address6: Option<IpNet>,
    #[serde(default)]
    pub gateway6: Option<IpAddr>,
    pub mac: String,
    pub ports: Vec<PortMapping>,
    /// What the bridge driver made; `None` on a cni network.
    pub bridge: Option<EndpointState>,
}

/// As dockerd: no aliases or static addresses (`--ip`, `--ip6`) on the default network
/// (link-local ones are allowed there); and the endpoint driver options the network's
/// driver can honour.
fn check_default_endpoint(n: &NetworkRecord, cfg: &EndpointConfig) -> Result<()> {
    check_endpoint_opts(n, cfg)?;
    if n.default {
        let mut errs = Vec::new();
        if cfg.ip.is_some() || cfg.ip6.is_some() {
            errs.push("user specified IP address is supported on user defined networks only");
        }
        if !cfg.aliases.is_empty() {
            errs.push("network-scoped aliases are only supported for user-defined networks");
        }
        if !errs.is_empty() {
            return Err(EngineError::InvalidArgument(errs.join("\n")));
        }
    }
    Ok(())
}

/// Writes interface sysctls (paths under /proc/sys) in `ns`; the error names the first
/// that failed.
fn write_sysctls(ns: &NetNs, sysctls: &[(String, String)]) -> std::result::Result<(), String> {
    if sysctls.is_empty() {
        return Ok(());
    }
    let written = ns.run(|| {
        sysctls.iter().try_for_each(|(path, v)| {
            std::fs::write(Path::new("/proc/sys").join(path), v)
                .map_err(|e| format!("interface sysctl {}={v}: {e}", path.replace('/', ".")))
        })
    });
    match written {
        Ok(r) => r,
        Err(e) => Err(format!("interface sysctl: {e}")),
    }
}

fn bad(e: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidArgument(e.to_string())
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| EngineError::InvalidArgument(format!("invalid MAC address: {s}")))?;
    parts
        .try_into()
        .map_err(|_| EngineError::InvalidArgument(format!("invalid MAC address: {s}")))
}

mod api;
mod default_bridge;
mod links;
mod store;

pub(crate) use links::add_link_env;
use links::parse_link;

use store::{DbLeases, NetDb};

/// The daemon's networks, once [`Engine::start_networks`] has run.
pub struct Networks {
    db: Arc<NetDb>,
    driver: Arc<BridgeDriver<DbLeases>>,
    fw: Firewall,
    cni: CniDriver,
    nets: RwLock<Vec<NetworkRecord>>,
    dns: Mutex<HashMap<String, DnsServer>>,
    /// Serializes network create/remove/connect bookkeeping (not the data path).
    op: tokio::sync::Mutex<()>,
    /// Background teardowns by container: a restart (same veth names, same lease owner)
    /// and `network rm` wait for them.
    pending: Mutex<HashMap<String, Vec<Teardown>>>,
    /// The userland proxies of published ports on IPv6 loopback, by (container, network).
    proxies: Mutex<HashMap<(String, String), PortProxy>>,
    /// Whether the host has IPv6 (ports without a host address are published on `::` too).
    host_ipv6: bool,
    /// `ip_forward` of the daemon's config: also IPv6 forwarding once a network has IPv6.
    ip_forward: bool,
}

impl Networks {
    fn all(&self) -> Vec<NetworkRecord> {
        self.nets.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// By full ID, name, or unique ID prefix.
    fn find(&self, key: &str) -> Result<NetworkRecord> {
        let key = if key == "default" { "bridge" } else { key };
        let nets = self.nets.read().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = nets.iter().find(|n| n.id == key || n.name == key) {
            return Ok(n.clone());
        }
        let hits: Vec<_> = nets
            .iter()
            .filter(|n| !key.is_empty() && n.id.starts_with(key))
            .collect();
        match hits.len() {
            1 => Ok(hits[0].clone()),
            0 => Err(EngineError::NotFound(format!("network {key} not found"))),
            _ => Err(EngineError::InvalidArgument(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                hits.len()
            ))),
        }
    }

    fn by_id(&self, id: &str) -> Option<NetworkRecord> {
        self.nets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|n| n.id == id)
            .cloned()
    }

    fn records(&self, net_id: &str) -> Option<Records> {
        self.dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(net_id)
            .map(|s| s.records().clone())
    }

    async fn start_dns(&self, n: &NetworkRecord) {
        if !n.embedded_dns() {
            return;
        }
        let Some(gw) = n.gateway else { return };
        let upstreams = ResolvConf::host().upstreams();
        match DnsServer::start(SocketAddr::new(gw, 53), Records::default(), upstreams).await {
            Ok(s) => {
                self.dns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(n.id.clone(), s);
            }
            Err(e) => tracing::warn!(network = %n.name, error = %e, "embedded DNS not started"),
        }
    }

    /// Removes the host-local lease files that kept a cni network's auxiliary addresses.
    async fn release_cni_aux(&self, n: &NetworkRecord) {
        if n.cni_aux_leases.is_empty() {
            return;
        }
        let (paths, owner) = (n.cni_aux_leases.clone(), n.cni_aux_owner());
        let _ = blocking(move || {
            for p in &paths {
                // The lease directory as it was at create, whatever the config says now.
                let hl = berth_net::cni::HostLocal {
                    lease_dir: p.parent().map(Path::to_path_buf).unwrap_or_default(),
                    ranges: Vec::new(),
                };
                if let Err(e) = hl.release(p, &owner) {
                    tracing::warn!(error = %e, "auxiliary address lease left");
                }
            }
        })
        .await;
    }

    /// Creates the bridge and rules of `n` and stores the rules made.
    async fn bring_up(&self, n: &mut NetworkRecord) -> Result<()> {
        if n.driver != "bridge" {
            return Ok(());
        }
        let bn = n.bridge_network()?;
        n.state = self
            .driver
            .create_network(&bn)
            .await
            .map_err(|e| EngineError::internal(format!("network {}", n.name), e))?;
        if bn.pool6.is_some()
            && self.ip_forward
            && let Err(e) = berth_net::firewall::enable_ipv6_forward()
        {
            tracing::warn!(error = %e, "IPv6 forwarding not enabled");
        }
        self.start_dns(n).await;
        Ok(())
    }

    /// Starts the userland proxies an endpoint's published ports need (see
    /// [`berth_net::proxy::plan`]); a port taken on the host is a 409 as with Docker.
    fn start_proxy(&self, cid: &str, st: &EndpointState) -> Result<()> {
        let specs = proxy::plan(
            &st.ports,
            st.address.addr(),
            st.address6.map(|a| a.addr()),
            self.host_ipv6,
        );
        if specs.is_empty() {
            return Ok(());
        }
        let p = PortProxy::start(&specs).map_err(|e| match e {
            e @ proxy::ProxyError::InUse { .. } => EngineError::Conflict(e.to_string()),
            e => EngineError::internal("published ports", e),
        })?;
        self.proxies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((cid.to_owned(), st.network_id.clone()), p);
        Ok(())
    }

    /// Stops the proxies of `cid` (on network `nid`, or all of them).
    fn stop_proxies(&self, cid: &str, nid: Option<&str>) {
        self.proxies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(c, n), _| c != cid || nid.is_some_and(|x| x != n));
    }

    /// Registers a container's name, aliases and link aliases (user-defined networks) with
    /// the network's DNS responder, for both of its addresses.
    fn dns_add(
        &self,
        nid: &str,
        name: &str,
        cfg: &EndpointConfig,
        a: &Active,
        links: &[(String, String)],
    ) {
        let Some(r) = self.records(nid) else { return };
        for addr in a.address.iter().chain(a.address6.iter()).map(IpNet::addr) {
            for n in std::iter::once(name).chain(cfg.aliases.iter().map(String::as_str)) {
                let _ = r.add(n, addr);
            }
            for (target, alias) in links {
                let _ = r.add_link(addr, alias, target);
            }
        }
    }

    /// Removes what [`Self::dns_add`] registered.
    fn dns_remove(&self, nid: &str, a: &Active) {
        if let Some(r) = self.records(nid) {
            for addr in a.address.iter().chain(a.address6.iter()) {
                r.remove_ip(addr.addr());
            }
        }
    }
}

type Teardown = tokio::task::JoinHandle<std::result::Result<(), berth_net::NetError>>;

impl Networks {
    /// Waits for the background teardowns of `container` (all containers when `None`).
    async fn settle(&self, container: Option<&str>) {
        let hs: Vec<Teardown> = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            match container {
                Some(c) => p.remove(c).unwrap_or_default(),
                None => p.drain().flat_map(|(_, v)| v).collect(),
            }
        };
        for h in hs {
            if let Ok(Err(e)) = h.await {
                tracing::warn!(error = %e, "network teardown");
            }
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EngineError::internal("background task", e))
}

/// Container ports as `80/tcp` keys of Docker's `PortBindings`/`ExposedPorts`.
fn port_key(p: u16, proto: Proto) -> String {
    format!("{p}/{}", proto.as_str())
}

fn parse_port_key(k: &str) -> Option<(u16, Proto)> {
    let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => return None,
    };
    Some((p.parse().ok()?, proto))
}

/// The container's published ports from `PortBindings`, and with `-P` its exposed ports on
/// free host ports (host port 0 here; chosen at connect).
fn wanted_ports(config: &Config, host: &HostConfig) -> Result<Vec<PortMapping>> {
    let mut out = Vec::new();
    let mut bound = HashSet::new();
    if let Some(pb) = host.extra.get("PortBindings").and_then(Value::as_object) {
        for (k, binds) in pb {
            let (cport, proto) = parse_port_key(k)
                .ok_or_else(|| EngineError::InvalidArgument(format!("invalid port {k}")))?;
            bound.insert((cport, proto));
            for b in binds.as_array().into_iter().flatten() {
                let ip = b["HostIp"].as_str().unwrap_or("");
                let host_ip = if ip.is_empty() {
                    None
                } else {
                    Some(ip.parse::<IpAddr>().map_err(|_| {
                        EngineError::InvalidArgument(format!("invalid host IP {ip}"))
                    })?)
                };
                let hp = b["HostPort"].as_str().unwrap_or("");
                // `8000-8010:80` gives a host range for one port: take its first port.
                let first = hp.split('-').next().unwrap_or("");
                let host_port = if first.is_empty() {
                    0
                } else {
                    first.parse::<u16>().map_err(|_| {
                        EngineError::InvalidArgument(format!("invalid host port {hp}"))
                    })?
                };
                out.push(PortMapping {
                    host_ip,
                    host_port,
                    container_port: cport,
                    proto,
                });
            }
        }
    }
    if host.extra.get("PublishAllPorts").and_then(Value::as_bool) == Some(true) {
        for k in config
            .extra
            .get("ExposedPorts")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.keys())
        {
            if let Some((cport, proto)) = parse_port_key(k)
                && bound.insert((cport, proto))
            {
                out.push(PortMapping {
                    host_ip: None,
                    host_port: 0,
                    container_port: cport,
                    proto,
                });
            }
        }
    }
    Ok(out)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Engine {
    /// After a rename: the embedded DNS answers for the new name, not the old one, and
    /// the legacy links that named the container by its old name follow it (dockerd's
    /// link graph is by container, so `HostConfig.Links` shows the new name).
    pub(crate) fn renamed(&self, id: &str, old: &str, new: &str) {
        if let Ok(net) = self.networks() {
            for (cid, nid, cfg, active) in net.db.endpoints(Some(id)).unwrap_or_default() {
                let Some(a) = active else { continue };
                if cid != id {
                    continue;
                }
                net.dns_remove(&nid, &a);
                net.dns_add(&nid, new, &cfg, &a, &self.link_targets(&cfg.links));
            }
        }
        for p in self.all() {
            let links = strings(p.lock().host_config.extra.get("Links"));
            if links.is_empty() {
                continue;
            }
            let mut changed = false;
            let moved: Vec<String> = links
                .into_iter()
                .map(|l| {
                    let (name, alias) = l.split_once(':').unwrap_or((&l, &l));
                    if name.trim_start_matches('/') == old {
                        changed = true;
                        format!("{new}:{alias}")
                    } else {
                        l.clone()
                    }
                })
                .collect();
            if changed {
                p.lock()
                    .host_config
                    .extra
                    .insert("Links".into(), json!(moved));
                if let Err(e) = self.persist(&p) {
                    tracing::warn!(container = %p.id, error = %e, "links not updated after rename");
                }
            }
        }
    }

    pub(crate) fn networks(&self) -> Result<&Arc<Networks>> {
        self.net
            .get()
            .ok_or_else(|| EngineError::Internal("networking is not started".into()))
    }

    /// Daemon start, before live restore: opens the network tables, makes berth's chains
    /// (emptied: what they held is re-added from the store), the default network, and
    /// every stored network's bridge, rules and DNS responder; running containers' DNS
    /// names and port rules come back from their stored endpoints.
    pub async fn start_networks(self: &Arc<Self>, cfg: NetConfig) -> Result<()> {
        cfg.validate()?;
        let db = Arc::new(NetDb::open(
            &self.cfg.data_root.join("berth.db"),
            self.db.reserve.clone(),
        )?);
        let ipam = Arc::new(Ipam::new(DbLeases(db.clone())));
        let fw = Firewall::new(Chains::with_suffix(&cfg.chain_suffix));
        let driver = BridgeDriver::new(ipam, fw.clone())
            .await
            .map_err(|e| EngineError::internal("networking", e))?;
        let net = Arc::new(Networks {
            db: db.clone(),
            driver: Arc::new(driver),
            fw,
            cni: CniDriver::new(self.cfg.exec_root.join("cni-cache")),
            nets: RwLock::new(db.networks()?),
            dns: Mutex::new(HashMap::new()),
            op: tokio::sync::Mutex::new(()),
            pending: Mutex::new(HashMap::new()),
            proxies: Mutex::new(HashMap::new()),
            host_ipv6: proxy::host_has_ipv6(),
            ip_forward: cfg.ip_forward,
        });
        // Before the chains are emptied: a default network that cannot be made (its IPv6
        // subnet overlaps another network's) stops the start with the rules still in place.
        let dflt = self.default_network(&net, &cfg)?;
        let f2 = net.fw.clone();
        blocking(move || f2.flush())
            .await?
            .map_err(|e| EngineError::internal("networking", e))?;
        if cfg.ip_forward
            && let Err(e) = berth_net::firewall::enable_ip_forward()
        {
            tracing::warn!(error = %e, "ip_forward not enabled");
        }
        {
            let mut nets = net.nets.write().unwrap_or_else(|p| p.into_inner());
            nets.retain(|n| !n.default);
            nets.insert(0, dflt);
        }
        for mut n in net.all() {
            match net.bring_up(&mut n).await {
                Ok(()) => {
                    db.put_network(&n, false)?;
                    let mut nets = net.nets.write().unwrap_or_else(|p| p.into_inner());
                    if let Some(slot) = nets.iter_mut().find(|x| x.id == n.id) {
                        *slot = n;
                    }
                }
                Err(e) => tracing::warn!(network = %n.name, error = %e, "network not brought up"),
            }
        }
        // Endpoints of containers recorded as running: their rules and names again.
        for (cid, nid, cfg, active) in db.endpoints(None)? {
            let Some(a) = active else { continue };
            let running = self
                .get(&cid)
                .map(|c| c.lock().state.running)
                .unwrap_or(false);
            if !running {
                continue;
            }
            if let Some(b) = &a.bridge {
                let (fw, rules) = (net.fw.clone(), b.rules.clone());
                if let Err(e) = blocking(move || fw.apply(&rules, "restore")).await? {
                    tracing::warn!(container = %cid, error = %e, "port rules not restored");
                }
                if let Err(e) = net.start_proxy(&cid, b) {
                    tracing::warn!(container = %cid, error = %e, "port proxy not restored");
                }
            }
            if let Ok(c) = self.get(&cid) {
                net.dns_add(&nid, &c.name(), &cfg, &a, &self.link_targets(&cfg.links));
            }
        }
        let _ = self.net.set(net);
        Ok(())
    }

    /// Daemon start, after live restore: whatever belongs to no running container goes
    /// (endpoints, leases, netns files, host veths of berth's naming).
    pub async fn reconcile_networks(self: &Arc<Self>) {
        let Ok(net) = self.networks() else { return };
        let running: HashSet<String> = self
            .all()
            .iter()
            .filter(|c| c.lock().state.running)
            .map(|c| c.id.clone())
            .collect();
        let known: HashSet<String> = self.all().iter().map(|c| c.id.clone()).collect();
        let eps = net.db.endpoints(None).unwrap_or_default();
        let stale: HashSet<String> = eps
            .iter()
            .filter(|(c, _, _, a)| a.is_some() && !running.contains(c))
            .map(|(c, ..)| c.clone())
            .collect();
        for c in stale {
            tracing::info!(container = %c, "releasing network endpoints of a stopped container");
            self.net_release_wait(&c).await;
        }
        for (c, ..) in eps.iter().filter(|(c, ..)| !known.contains(c)) {
            let _ = net.db.remove_endpoints(c, None);
        }
        self.settle_cut_short(net, &running, &eps).await;
        let active: HashSet<(String, String)> = net
            .db
            .endpoints(None)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, _, _, a)| a.is_some())
            .map(|(c, n, ..)| (n, c))
            .collect();
        for (nid, owner) in net.db.lease_owners().unwrap_or_default() {
            if !active.contains(&(nid.clone(), owner.clone())) {
                tracing::info!(network = %nid, owner = %owner, "stale lease released");
                let _ = net.driver.ipam().release(&nid, &owner);
            }
        }
        for id in berth_net::netns::list(&self.cfg.exec_root).unwrap_or_default() {
            if !running.contains(&id) {
                tracing::info!(container = %id, "stale netns file removed");
                let _ =
                    berth_net::netns::remove(&berth_net::netns::path_for(&self.cfg.exec_root, &id));
            }
        }
        // Host veths named after containers of this daemon that are not running.
        let nl = match berth_net::Netlink::host() {
            Ok(nl) => nl,
            Err(_) => return,
        };
        let links = nl.links_with_prefix("veth").await.unwrap_or_default();
        for id in known.iter().filter(|id| !running.contains(*id)) {
            for i in 0..16 {
                let name = berth_net::veth::host_veth_name(id, i);
                if links.contains(&name) {
                    tracing::info!(link = %name, "stale veth removed");
                    let _ = berth_net::veth::detach(&nl, &name).await;
                }
            }
        }
    }

    /// `network connect`/`disconnect` of running containers that berthd did not finish (it
    /// ended in between): a disconnect that removed the interface but not the record is
    /// finished; a connect that is not recorded as active is undone (its interface removed
    /// here, its lease by the stale-lease sweep), so inspect and the container agree.
    async fn settle_cut_short(
        &self,
        net: &Networks,
        running: &HashSet<String>,
        eps: &[(String, String, EndpointConfig, Option<Active>)],
    ) {
        let Ok(nl) = berth_net::Netlink::host() else {
            return;
        };
        let Ok(links) = nl.links_with_prefix("veth").await else {
            return;
        };
        let mut kept = HashSet::new();
        for (c, nid, _, a) in eps.iter().filter(|(c, ..)| running.contains(c)) {
            match a {
                Some(a) => match &a.bridge {
                    Some(st) if !links.contains(&st.host_veth) => {
                        tracing::info!(container = %c, network = %nid, "finishing a disconnect berthd did not finish");
                        net.dns_remove(nid, a);
                        net.stop_proxies(c, Some(nid));
                        let _ = net.driver.disconnect(st).await;
                        let _ = net.db.remove_endpoints(c, Some(nid));
                    }
                    Some(st) => {
                        kept.insert(st.host_veth.clone());
                    }
                    None => {}
                },
                None => {
                    tracing::info!(container = %c, network = %nid, "undoing a connect berthd did not finish");
                    let _ = net.db.remove_endpoints(c, Some(nid));
                }
            }
        }
        for id in running {
            for i in 0..16 {
                let name = berth_net::veth::host_veth_name(id, i);
                if links.contains(&name) && !kept.contains(&name) {
                    tracing::info!(link = %name, "removing the interface of an unrecorded connect");
                    let _ = berth_net::veth::detach(&nl, &name).await;
                }
            }
        }
    }

    /// Container create: normalizes the network mode, checks the networks exist, adds the
    /// image's exposed ports, and returns the endpoints to record.
    pub(crate) fn net_prepare(
        &self,
        config: &mut Config,
        host: &mut HostConfig,
        networking: Option<&Value>,
        image_exposed: Option<&BTreeMap<String, Value>>,
    ) -> Result<Vec<(String, EndpointConfig)>> {
        // The request's own exposed ports, before the image's join them (dockerd checks
        // these against a container: network mode).
        let exposes = config
            .extra
            .get("ExposedPorts")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty());
        let mac = config
            .extra
            .get("MacAddress")
            .and_then(Value::as_str)
            .is_some_and(|m| !m.is_empty())
            || networking
                .and_then(|v| v.get("EndpointsConfig"))
                .and_then(Value::as_object)
                .is_some_and(|m| {
                    m.values()
                        .any(|e| e["MacAddress"].as_str().is_some_and(|m| !m.is_empty()))
                });
        {
            let mode = host.network_mode.as_str();
            if mode == "container" || mode == "container:" {
                return Err(EngineError::InvalidArgument(
                    "Invalid network mode: invalid container format container:<name|id>".into(),
                ));
            }
        }
        if let Some(ports) = image_exposed.filter(|p| !p.is_empty()) {
            let e = config
                .extra
                .entry("ExposedPorts".to_string())
                .or_insert_with(|| json!({}));
            if let Some(m) = e.as_object_mut() {
                for k in ports.keys() {
                    m.entry(k.clone()).or_insert_with(|| json!({}));
                }
            }
        }
        if matches!(host.network_mode.as_str(), "" | "default") {
            host.network_mode = "bridge".into();
        }
        let ports = wanted_ports(config, host)?;
        if network_disabled(config) {
            // `NetworkDisabled`: no network at all, whatever the mode says.
            return Ok(Vec::new());
        }
        let mode = host.network_mode.clone();
        let dns_opts = ["Dns", "DnsSearch", "DnsOptions"];
        let links = strings(host.extra.get("Links"));
        if !links.is_empty() && mode == "host" {
            return Err(EngineError::InvalidArgument(
                "conflicting options: host type networking can't be used with links. This would result in undefined behavior".into(),
            ));
        }
        if mode == "host" && mac {
            return Err(EngineError::InvalidArgument(
                "conflicting options: mac-address and the network mode".into(),
            ));
        }
        match mode.as_str() {
            "none" | "host" => {
                if !ports.is_empty() && mode == "none" {
                    tracing::debug!("published ports ignored with --network none");
                }
                // dockerd resolves the links of every mode but user-defined networks: a
                // missing target is refused with --network none too.
                for l in &links {
                    self.link_target(&parse_link(l).0)?;
                }
                return Ok(Vec::new());
            }
            m if m.starts_with("container:") => {
                // dockerd's validateNetContainerMode, in its order.
                let conflict = if !config.hostname.is_empty() {
                    Some("hostname and the network mode")
                } else if !links.is_empty() {
                    Some(
                        "container type network can't be used with links. This would result in undefined behavior",
                    )
                } else if dns_opts
                    .iter()
                    .any(|k| !strings(host.extra.get(*k)).is_empty())
                {
                    Some("dns and the network mode")
                } else if host.extra_hosts.as_ref().is_some_and(|h| !h.is_empty()) {
                    Some("custom host-to-IP mapping and the network mode")
                } else if mac {
                    Some("mac-address and the network mode")
                } else if !ports.is_empty()
                    || host.extra.get("PublishAllPorts").and_then(Value::as_bool) == Some(true)
                {
                    Some("port publishing and the container type network mode")
                } else if exposes {
                    Some("port exposing and the container type network mode")
                } else {
                    None
                };
                if let Some(c) = conflict {
                    return Err(EngineError::InvalidArgument(format!(
                        "conflicting options: {c}"
                    )));
                }
                return Ok(Vec::new());
            }
            _ => {}
        }
        let net = self.networks()?;
        // A 404 here would make the docker CLI try to pull the image: 400 instead.
        let find = |k: &str| {
            net.find(k).map_err(|e| match e {
                EngineError::NotFound(m) => EngineError::InvalidArgument(m),
                e => e,
            })
        };
        let primary = find(&mode)?;
        let eps = networking
            .and_then(|v| v.get("EndpointsConfig"))
            .and_then(Value::as_object);
        let mut out: Vec<(String, EndpointConfig)> = Vec::new();
        let cfg_for = |key: &str, n: &NetworkRecord| -> Result<EndpointConfig> {
            let v = eps.and_then(|m| {
                m.get(key)
                    .or_else(|| m.get(&n.name))
                    .or_else(|| m.get(&n.id))
                    // The docker CLI keys the default network's settings `default`.
                    .or_else(|| m.get("default").filter(|_| n.default))
            });
            let cfg = v
                .map(EndpointConfig::from_api)
                .transpose()?
                .unwrap_or_default();
            check_endpoint_opts(n, &cfg)?;
            Ok(cfg)
        };
        let mut pc = cfg_for(&mode, &primary)?;
        if let Some(mac) = config.extra.get("MacAddress").and_then(Value::as_str)
            && !mac.is_empty()
            && pc.mac.is_none()
        {
            parse_mac(mac)?;
            pc.mac = Some(mac.to_owned());
        }
        check_default_endpoint(&primary, &pc)?;
        if primary.internal && !ports.is_empty() {
            tracing::debug!(network = %primary.name, "ports are not published on an internal network");
        }
        if primary.default {
            // Legacy links on the default bridge name existing containers (dockerd checks at
            // create; on user-defined networks a link is only a DNS alias, never checked).
            for l in &links {
                self.link_target(&parse_link(l).0)?;
            }
        } else if pc.links.is_empty() {
            pc.links = links;
        }
        out.push((primary.id.clone(), pc));
        for (k, _) in eps.into_iter().flatten() {
            let n = find(k)?;
            if out.iter().any(|(id, _)| *id == n.id) {
                continue;
            }
            out.push((n.id.clone(), cfg_for(k, &n)?));
        }
        Ok(out)
    }

    /// Container create, after the record is stored: remembers its networks.
    pub(crate) fn net_record(&self, id: &str, eps: &[(String, EndpointConfig)]) -> Result<()> {
        let net = self.networks()?;
        for (nid, cfg) in eps {
            net.db.add_endpoint(id, nid, cfg)?;
        }
        Ok(())
    }

    /// Container remove: forgets its networks (after [`Self::net_release`]).
    pub(crate) fn net_forget(&self, id: &str) {
        if let Ok(net) = self.networks() {
            let mut p = net.pending.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(v) = p.get_mut(id) {
                v.retain(|h| !h.is_finished());
                if v.is_empty() {
                    p.remove(id);
                }
            }
            drop(p);
            let _ = net.db.remove_endpoints(id, None);
        }
    }

    /// Container start: makes the netns file and joins every network, publishes the ports,
    /// registers the DNS names and rewrites `/etc/hosts` and `/etc/resolv.conf` in `dir`.
    /// Puts the netns path in `ns_paths`. `none`: a spare empty namespace when there is one
    /// (its descriptor in `hold`, to keep until the runtime has joined it), else nothing (the
    /// runtime makes one). Does nothing for host/container: modes. Returns the environment
    /// of the container's legacy links (default bridge), for [`add_link_env`].
    pub(crate) async fn net_start(
        &self,
        rec: &ContainerRecord,
        dir: &Path,
        ns_paths: &mut BTreeMap<&'static str, PathBuf>,
        hold: &mut Option<std::os::fd::OwnedFd>,
    ) -> Result<Vec<String>> {
        let mode = if network_disabled(&rec.config) {
            "none"
        } else {
            rec.host_config.network_mode.as_str()
        };
        if matches!(mode, "none" | "host") {
            // No network of berth's, but `--dns`, `--dns-search` and `--dns-option` still
            // shape the container's resolv.conf (the host's otherwise), as in dockerd.
            let opts = dns_options(rec)?;
            if !(opts.servers.is_empty() && opts.search.is_empty() && opts.options.is_empty()) {
                let p = dir.join("resolv.conf");
                std::fs::write(&p, dns::resolv_conf(&opts, &ResolvConf::host(), None))
                    .map_err(|e| EngineError::internal(format!("write {}", p.display()), e))?;
            }
            if mode == "none"
                && let Some(fd) = berth_net::netns::take_spare()
            {
                use std::os::fd::AsRawFd;
                // The runtime (in the shim, another process) opens it through berthd's fd.
                let path = format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd());
                ns_paths.insert("network", PathBuf::from(path));
                *hold = Some(fd);
            }
            self.emit_builtin_network(mode, &rec.id, "connect");
            return Ok(Vec::new());
        }
        if mode.starts_with("container:") {
            return Ok(Vec::new());
        }
        let t0 = std::time::Instant::now();
        let net = self.networks()?.clone();
        let link_env = self.legacy_links(rec)?.0;
        net.settle(Some(&rec.id)).await;
        let eps = net.db.endpoints(Some(&rec.id))?;
        // A fixed address may still be held by a container that just stopped (its
        // teardown runs in the background; dockerd's is done when stop returns): docker-compose
        // recreates a service with `ipv4_address` by stopping the old container and starting
        // the new one at once.
        if eps.iter().any(|e| e.2.ip.is_some() || e.2.ip6.is_some()) {
            net.settle(None).await;
        }
        if eps.iter().any(|e| e.3.is_some()) {
            // A previous run's endpoints that were not released (a crash): release first.
            self.net_release_wait(&rec.id).await;
        }
        let path = berth_net::netns::path_for(&self.cfg.exec_root, &rec.id);
        let _ = berth_net::netns::remove(&path);
        let p2 = path.clone();
        let ns = blocking(move || NetNs::create(p2))
            .await?
            .map_err(|e| EngineError::internal("network namespace", e))?;
        let ports = wanted_ports(&rec.config, &rec.host_config)?;
        let result = self.net_connect_all(&net, rec, &ns, &eps, &ports).await;
        if let Err(e) = result {
            self.net_release_wait(&rec.id).await;
            let _ = berth_net::netns::remove(&path);
            return Err(e);
        }
        ns_paths.insert("network", path);
        self.write_net_files(rec, dir)?;
        tracing::debug!(container = %rec.id, networks = eps.len(), net_us = t0.elapsed().as_micros() as u64, "networks attached");
        Ok(link_env)
    }

    async fn net_connect_all(
        &self,
        net: &Arc<Networks>,
        rec: &ContainerRecord,
        ns: &NetNs,
        eps: &[(String, String, EndpointConfig, Option<Active>)],
        ports: &[PortMapping],
    ) -> Result<()> {
        let nets = eps
            .iter()
            .map(|(_, nid, ..)| {
                net.by_id(nid)
                    .ok_or_else(|| EngineError::NotFound(format!("network {nid} not found")))
            })
            .collect::<Result<Vec<_>>>()?;
        // The default route: the highest --gw-priority of the networks that can give one,
        // the first of them on a tie.
        let gateway = (0..eps.len())
            .filter(|&i| !nets[i].internal)
            .rev()
            .max_by_key(|&i| eps[i].2.gw_priority);
        let mut ports_left = Some(ports.to_vec());
        for (i, ((_, nid, cfg, _), n)) in eps.iter().zip(nets).enumerate() {
            let default_route = gateway == Some(i);
            // Ports are published on the first network that can publish them.
            let p = if n.internal {
                Vec::new()
            } else {
                ports_left.take().unwrap_or_default()
            };
            self.check_port_conflicts(net, &rec.id, &p)?;
            let a = self
                .connect_one(net, &n, &rec.id, ns, i, cfg, default_route, p)
                .await?;
            net.db.set_active(&rec.id, nid, Some(&a))?;
            self.emit_network("connect", &n, Some(&rec.id));
            net.dns_add(nid, &rec.name, cfg, &a, &self.link_targets(&cfg.links));
        }
        // (one network gives its own routes; several may give each family's from another)
        if eps.len() > 1 {
            self.reselect_gateways(net, &rec.id, ns).await?;
        }
        Ok(())
    }

    fn check_port_conflicts(&self, net: &Networks, me: &str, ports: &[PortMapping]) -> Result<()> {
        let used: Vec<PortMapping> = net
            .db
            .endpoints(None)?
            .into_iter()
            .filter(|(c, ..)| c != me)
            .filter_map(|e| e.3)
            .flat_map(|a| a.ports)
            .collect();
        for p in ports.iter().filter(|p| p.host_port != 0) {
            let clash = used.iter().any(|u| {
                u.host_port == p.host_port
                    && u.proto == p.proto
                    && (u.host_ip.is_none() || p.host_ip.is_none() || u.host_ip == p.host_ip)
            });
            if clash {
                let ip = p
                    .host_ip
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "0.0.0.0".into());
                return Err(EngineError::Conflict(format!(
                    "Bind for {ip}:{} failed: port is already allocated",
                    p.host_port
                )));
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn connect_one(
        &self,
        net: &Arc<Networks>,
        n: &NetworkRecord,
        cid: &str,
        ns: &NetNs,
        index: usize,
        cfg: &EndpointConfig,
        default_route: bool,
        ports: Vec<PortMapping>,
    ) -> Result<Active> {
        let ifname = cfg
            .ifname()
            .map_or_else(|| format!("eth{index}"), str::to_owned);
        let endpoint_id = crate::ids::random_hex(32);
        if n.driver == "cni" {
            let conf = n.cni_conf()?;
            let mut caps = serde_json::Map::new();
            if let Some(ip) = cfg.ip {
                caps.insert("ips".into(), json!([ip.to_string()]));
            }
            if let Some(m) = &cfg.mac {
                caps.insert("mac".into(), json!(m));
            }
            // A value no plugin declares the capability for would never reach one: refused
            // rather than dropped.
            for (cap, flag) in [("ips", "--ip"), ("mac", "--mac-address")] {
                if caps.contains_key(cap) && !conf.has_capability(cap) {
                    return Err(bad(format!(
                        "network {}: {flag} needs a plugin with the {cap:?} capability in the CNI config (\"capabilities\": {{\"{cap}\": true}})",
                        n.name
                    )));
                }
            }
            let att = Attachment {
                container_id: cid.to_owned(),
                netns: ns.path().to_owned(),
                ifname: ifname.clone(),
                args: std::iter::once(("IgnoreUnknown".to_owned(), "1".to_owned()))
                    .chain(cfg.cni_args().map(|(k, v)| (k.clone(), v.clone())))
                    .collect(),
                port_mappings: ports
                    .iter()
                    .map(|p| CniPortMapping {
                        host_port: p.host_port,
                        container_port: p.container_port,
                        protocol: p.proto.as_str().into(),
                        host_ip: p.host_ip.map(|i| i.to_string()),
                    })
                    .collect(),
                capability_args: caps,
            };
            let drv = net.cni.clone();
            let (conf2, att2) = (conf.clone(), att.clone());
            let res: CniResult = blocking(move || drv.add(&conf2, &att2))
                .await?
                .map_err(|e| EngineError::internal(format!("network {}", n.name), e))?;
            // What the bridge driver does on its own interface, on the one the chain made:
            // `--link-local-ip` addresses and the interface's sysctls.
            if let Err(e) = self.cni_extras(ns, &ifname, cfg).await {
                let drv = net.cni.clone();
                if let Ok(Err(e)) = blocking(move || drv.del(&conf, &att)).await {
                    tracing::warn!(container = %cid, error = %e, "cni DEL failed");
                }
                return Err(bad(format!("network {}: {e}", n.name)));
            }
            let iface = res.container_interface(&ifname).map(|(i, _)| i);
            let ip = res
                .ips
                .iter()
                .find(|ip| ip.interface.is_none() || ip.interface == iface)
                .cloned();
            let mac = iface
                .and_then(|i| res.interfaces[i].mac.clone())
                .unwrap_or_default();
            return Ok(Active {
                endpoint_id,
                ifname,
                address: ip.as_ref().map(|i| i.address),
                gateway: ip.and_then(|i| i.gateway),
                address6: None,
                gateway6: None,
                mac,
                ports,
                bridge: None,
            });
        }
        let bn = n.bridge_network()?;
        if let Some(ip6) = cfg.ip6
            && bn.pool6.is_none()
        {
            return Err(EngineError::InvalidArgument(format!(
                "invalid IPv6 address {ip6}: network {} has no IPv6 subnet (network create --ipv6)",
                n.name
            )));
        }
        let req = EndpointRequest {
            container_id: cid.to_owned(),
            ifname: ifname.clone(),
            host_veth: berth_net::veth::host_veth_name(cid, index),
            ip: cfg.ip,
            ip6: cfg.ip6,
            mac: cfg.mac.as_deref().map(parse_mac).transpose()?,
            default_route,
            ports,
            link_local: cfg
                .link_local_ips
                .iter()
                .map(|s| link_local_net(s))
                .collect::<Result<_>>()?,
        };
        let st = net
            .driver
            .connect(&bn, ns, &req)
            .await
            .map_err(|e| match e {
                berth_net::NetError::Ipam(e @ IpamError::InUse { .. }) => {
                    EngineError::Conflict(e.to_string())
                }
                berth_net::NetError::Ipam(e) => EngineError::InvalidArgument(e.to_string()),
                e => EngineError::internal(format!("network {}", n.name), e),
            })?;
        if let Err(e) = write_sysctls(ns, &cfg.sysctls(&ifname)) {
            let _ = net.driver.disconnect(&st).await;
            return Err(bad(format!("network {}: {e}", n.name)));
        }
        if let Err(e) = net.start_proxy(cid, &st) {
            let _ = net.driver.disconnect(&st).await;
            return Err(e);
        }
        Ok(Active {
            endpoint_id,
            ifname,
            address: Some(st.address),
            // The containers' gateway (dockerd's endpoint Gateway), on every network.
            gateway: Some(bn.default_gateway.unwrap_or(bn.pool.gateway)),
            address6: st.address6,
            gateway6: bn
                .pool6
                .as_ref()
                .map(|p| bn.default_gateway6.map(IpAddr::V6).unwrap_or(p.gateway)),
            mac: st.mac.clone(),
            ports: st.ports.clone(),
            bridge: Some(st),
        })
    }

    /// The `--link-local-ip` addresses (with their /16 or /64) and the interface sysctls of
    /// `cfg` on interface `ifname` in `ns`, which a CNI chain made.
    async fn cni_extras(
        &self,
        ns: &NetNs,
        ifname: &str,
        cfg: &EndpointConfig,
    ) -> std::result::Result<(), String> {
        let addrs = cfg
            .link_local_ips
            .iter()
            .map(|s| link_local_net(s))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| e.to_string())?;
        if !addrs.is_empty() {
            let nl = berth_net::Netlink::in_netns(ns).map_err(|e| e.to_string())?;
            let index = nl.index_of(ifname).await.map_err(|e| {
                format!(
                    "the CNI plugins made no interface {ifname} for the link-local addresses: {e}"
                )
            })?;
            for a in addrs {
                nl.add_address(index, ifname, a)
                    .await
                    .map_err(|e| format!("link-local address {a}: {e}"))?;
            }
        }
        write_sysctls(ns, &cfg.sysctls(ifname))
    }

    /// `/etc/hosts` with the container's addresses and `--add-host`s, `/etc/resolv.conf`
    /// with the embedded DNS (user-defined networks) or `--dns`/the host's resolvers.
    fn write_net_files(&self, rec: &ContainerRecord, dir: &Path) -> Result<()> {
        let net = self.networks()?;
        let eps = net.db.endpoints(Some(&rec.id))?;
        let mut addresses = Vec::new();
        let mut gateway = None;
        let mut embedded = None;
        for (_, nid, _, a) in &eps {
            let Some(a) = a else { continue };
            addresses.extend(a.address.iter().chain(a.address6.iter()).map(IpNet::addr));
            gateway = gateway.or(a.gateway);
            if embedded.is_none()
                && let Some(n) = net.by_id(nid)
                && n.embedded_dns()
            {
                embedded = n.gateway;
            }
        }
        let host = &rec.host_config;
        let mut extra = host
            .extra_hosts
            .iter()
            .flatten()
            .map(|h| dns::parse_add_host(h, gateway).map_err(bad))
            .collect::<Result<Vec<_>>>()?;
        // Then the legacy links' names, as dockerd orders them.
        extra.extend(self.legacy_links(rec).map(|l| l.1).unwrap_or_default());
        let hosts = dns::hosts_file(&dns::HostsConfig {
            hostname: rec.hostname.clone(),
            domainname: Some(rec.config.domainname.clone()).filter(|d| !d.is_empty()),
            addresses,
            extra,
        });
        let opts = dns_options(rec)?;
        let resolv = dns::resolv_conf(&opts, &ResolvConf::host(), embedded);
        for (f, text) in [("hosts", hosts), ("resolv.conf", resolv)] {
            let p = dir.join(f);
            std::fs::write(&p, text)
                .map_err(|e| EngineError::internal(format!("write {}", p.display()), e))?;
        }
        Ok(())
    }

    /// A `connect` or `disconnect` event of the pre-defined network (`none`, `host`) a
    /// container in that mode is in, as dockerd sends at its start and exit.
    pub(crate) fn emit_builtin_network(&self, mode: &str, id: &str, action: &str) {
        if let Ok(net) = self.networks()
            && let Some(n) = self
                .builtin_networks(net)
                .into_iter()
                .find(|n| n.name == mode)
        {
            self.emit_network(action, &n, Some(id));
        }
    }

    /// Container exit / failed start / remove: names, rules, veths, leases and the netns
    /// file go. The netns file is removed now; interfaces, rules and leases in a background
    /// task (they mostly wait for RCU grace periods in the kernel), leases last.
    pub(crate) async fn net_release(&self, id: &str) {
        if let Some(h) = self.net_release_inner(id).await
            && let Ok(net) = self.networks()
        {
            let mut p = net.pending.lock().unwrap_or_else(|p| p.into_inner());
            let v = p.entry(id.to_owned()).or_default();
            v.retain(|h| !h.is_finished());
            v.push(h);
        }
    }

    /// Like [`Self::net_release`], waiting for the background part.
    pub(crate) async fn net_release_wait(&self, id: &str) {
        if let Some(h) = self.net_release_inner(id).await {
            let _ = h.await;
        }
    }

    async fn net_release_inner(&self, id: &str) -> Option<Teardown> {
        let net = self.networks().ok()?.clone();
        let path = berth_net::netns::path_for(&self.cfg.exec_root, id);
        let eps = net.db.endpoints(Some(id)).unwrap_or_default();
        let mut bridge_eps = Vec::new();
        net.stop_proxies(id, None);
        for (_, nid, _, a) in &eps {
            let Some(a) = a else { continue };
            net.dns_remove(nid, a);
            match &a.bridge {
                Some(st) => bridge_eps.push(st.clone()),
                None => {
                    if let Some(n) = net.by_id(nid)
                        && let Ok(conf) = n.cni_conf()
                    {
                        let att = Attachment {
                            container_id: id.to_owned(),
                            netns: path.clone(),
                            ifname: a.ifname.clone(),
                            args: vec![("IgnoreUnknown".into(), "1".into())],
                            port_mappings: Vec::new(),
                            capability_args: Default::default(),
                        };
                        let drv = net.cni.clone();
                        if let Ok(Err(e)) = blocking(move || drv.del(&conf, &att)).await {
                            tracing::warn!(container = %id, error = %e, "cni DEL failed");
                        }
                    }
                }
            }
            let _ = net.db.set_active(id, nid, None);
            if let Some(n) = net.by_id(nid) {
                self.emit_network("disconnect", &n, Some(id));
            }
        }
        let ns = NetNs::open(&path).ok();
        match ns {
            Some(ns) if !bridge_eps.is_empty() => Some(net.driver.teardown(bridge_eps, ns)),
            _ => {
                if bridge_eps.is_empty() && std::fs::symlink_metadata(&path).is_err() {
                    return None;
                }
                // The unmount of the netns file waits for the kernel (an RCU grace period):
                // in the background too; a start of the same container settles it first.
                let driver = net.driver.clone();
                Some(tokio::spawn(async move {
                    let _ =
                        tokio::task::spawn_blocking(move || berth_net::netns::remove(&path)).await;
                    for ep in &bridge_eps {
                        let _ = driver.disconnect(ep).await;
                    }
                    Ok(())
                }))
            }
        }
    }

    /// `NetworkSettings` of `docker inspect`.
    pub fn network_settings(&self, rec: &ContainerRecord) -> Value {
        let mut networks = serde_json::Map::new();
        let mut ports = serde_json::Map::new();
        let mut sandbox_key = String::new();
        let mut first: Option<Value> = None;
        // Ports exist while the container runs: dockerd has none for one created or
        // stopped (`ps -a` shows no ports for it, inspect `{}`).
        if let Some(k) = rec
            .config
            .extra
            .get("ExposedPorts")
            .and_then(Value::as_object)
            .filter(|_| rec.state.running)
        {
            for p in k.keys() {
                ports.insert(p.clone(), Value::Null);
            }
        }
        if let Ok(net) = self.networks() {
            let eps = net.db.endpoints(Some(&rec.id)).unwrap_or_default();
            for (_, nid, cfg, a) in eps {
                let Some(n) = net.by_id(&nid) else { continue };
                let text = |x: Option<IpAddr>| x.map(|i| i.to_string()).unwrap_or_default();
                let (ip, prefix, gw, mac, eid) = match &a {
                    Some(a) => (
                        text(a.address.map(|x| x.addr())),
                        a.address.map(|x| x.prefix_len()).unwrap_or(0),
                        text(a.gateway),
                        a.mac.clone(),
                        a.endpoint_id.clone(),
                    ),
                    None => Default::default(),
                };
                let (ip6, prefix6, gw6) = match &a {
                    Some(a) => (
                        text(a.address6.map(|x| x.addr())),
                        a.address6.map(|x| x.prefix_len()).unwrap_or(0),
                        text(a.gateway6),
                    ),
                    None => Default::default(),
                };
                if let Some(a) = &a {
                    sandbox_key = berth_net::netns::path_for(&self.cfg.exec_root, &rec.id)
                        .display()
                        .to_string();
                    for p in &a.ports {
                        let e = ports
                            .entry(port_key(p.container_port, p.proto))
                            .or_insert_with(|| json!([]));
                        if !e.is_array() {
                            *e = json!([]);
                        }
                        if let Some(arr) = e.as_array_mut() {
                            // No host address: both families, as dockerd lists them.
                            let ips = match p.host_ip {
                                Some(i) => vec![i.to_string()],
                                None if net.host_ipv6 => vec!["0.0.0.0".into(), "::".into()],
                                None => vec!["0.0.0.0".into()],
                            };
                            for ip in ips {
                                arr.push(
                                    json!({"HostIp": ip, "HostPort": p.host_port.to_string()}),
                                );
                            }
                        }
                    }
                }
                let mut aliases = cfg.aliases.clone();
                if !n.default && a.is_some() {
                    aliases.push(rec.id[..12].to_owned());
                }
                let ipam_cfg = match (cfg.ip, cfg.ip6, cfg.link_local_ips.is_empty()) {
                    (None, None, true) => Value::Null,
                    (v4, v6, _) => {
                        let mut m = serde_json::Map::new();
                        if let Some(ip) = v4 {
                            m.insert("IPv4Address".into(), json!(ip.to_string()));
                        }
                        if let Some(ip) = v6 {
                            m.insert("IPv6Address".into(), json!(ip.to_string()));
                        }
                        if !cfg.link_local_ips.is_empty() {
                            m.insert("LinkLocalIPs".into(), json!(cfg.link_local_ips));
                        }
                        Value::Object(m)
                    }
                };
                let v = json!({
                    "IPAMConfig": ipam_cfg,
                    "Links": if cfg.links.is_empty() { Value::Null } else { json!(cfg.links) },
                    "Aliases": if aliases.is_empty() { Value::Null } else { json!(aliases) },
                    "MacAddress": mac,
                    "DriverOpts": if cfg.driver_opts.is_empty() { Value::Null } else { json!(cfg.driver_opts) },
                    "NetworkID": n.id,
                    "EndpointID": eid,
                    "Gateway": gw,
                    "IPAddress": ip,
                    "IPPrefixLen": prefix,
                    "IPv6Gateway": gw6,
                    "GlobalIPv6Address": ip6,
                    "GlobalIPv6PrefixLen": prefix6,
                    "DNSNames": if n.default || a.is_none() { Value::Null } else {
                        let mut d = vec![rec.name.clone()];
                        d.extend(cfg.aliases.iter().cloned());
                        json!(d)
                    },
                });
                if first.is_none() {
                    first = Some(v.clone());
                }
                networks.insert(n.name.clone(), v);
            }
        }
        // A container in host or none mode is in that pre-defined network, as dockerd
        // shows it: an entry without addresses.
        let mode = rec.host_config.network_mode.as_str();
        if networks.is_empty()
            && matches!(mode, "host" | "none")
            && let Ok(net) = self.networks()
            && let Some(n) = self
                .builtin_networks(net)
                .into_iter()
                .find(|n| n.name == mode)
        {
            networks.insert(
                n.name.clone(),
                json!({
                    "IPAMConfig": null,
                    "Links": null,
                    "Aliases": null,
                    "MacAddress": "",
                    "DriverOpts": null,
                    "NetworkID": n.id,
                    "EndpointID": "",
                    "Gateway": "",
                    "IPAddress": "",
                    "IPPrefixLen": 0,
                    "IPv6Gateway": "",
                    "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0,
                    "DNSNames": null,
                }),
            );
        }
        let f = first.unwrap_or_else(|| json!({}));
        let s = |k: &str| f.get(k).cloned().unwrap_or(json!(""));
        json!({
            "Bridge": "",
            "SandboxID": if sandbox_key.is_empty() { String::new() } else { rec.id.clone() },
            "SandboxKey": sandbox_key,
            "Ports": ports,
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null,
            "EndpointID": s("EndpointID"),
            "Gateway": s("Gateway"),
            "GlobalIPv6Address": s("GlobalIPv6Address"),
            "GlobalIPv6PrefixLen": f.get("GlobalIPv6PrefixLen").cloned().unwrap_or(json!(0)),
            "IPAddress": s("IPAddress"),
            "IPPrefixLen": f.get("IPPrefixLen").cloned().unwrap_or(json!(0)),
            "IPv6Gateway": s("IPv6Gateway"),
            "MacAddress": s("MacAddress"),
            "Networks": networks,
        })
    }

    /// `Ports` and `NetworkSettings.Networks` of a `/containers/json` entry.
    pub fn network_summary(&self, rec: &ContainerRecord) -> (Value, Value) {
        let ns = self.network_settings(rec);
        let mut ports = Vec::new();
        for (k, v) in ns["Ports"].as_object().into_iter().flatten() {
            let Some((cport, proto)) = parse_port_key(k) else {
                continue;
            };
            match v.as_array() {
                Some(binds) if !binds.is_empty() => {
                    for b in binds {
                        ports.push(json!({
                            "IP": b["HostIp"],
                            "PrivatePort": cport,
                            "PublicPort": b["HostPort"].as_str().and_then(|p| p.parse::<u16>().ok()),
                            "Type": proto.as_str(),
                        }));
                    }
                }
                _ => ports.push(json!({"PrivatePort": cport, "Type": proto.as_str()})),
            }
        }
        (json!(ports), json!({ "Networks": ns["Networks"] }))
    }
}

/// The container's `--dns`, `--dns-search` and `--dns-option`.
fn dns_options(rec: &ContainerRecord) -> Result<dns::DnsOptions> {
    let host = &rec.host_config;
    Ok(dns::DnsOptions {
        servers: strings(host.extra.get("Dns"))
            .iter()
            .map(|s| s.parse().map_err(|_| bad(format!("invalid --dns {s}"))))
            .collect::<Result<_>>()?,
        search: strings(host.extra.get("DnsSearch")),
        options: strings(host.extra.get("DnsOptions")),
    })
}

/// `Config.NetworkDisabled`: the container gets a network namespace with only `lo`.
pub(crate) fn network_disabled(config: &Config) -> bool {
    config.extra.get("NetworkDisabled").and_then(Value::as_bool) == Some(true)
}
