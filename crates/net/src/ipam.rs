//! IP address management for bridge networks: a pool (subnet, gateway, optional
//! `--ip-range`) and leases kept in a [`LeaseStore`].
//!
//! The store is a trait because leases must survive a daemon restart in berthd's SQLite
//! database, which this crate does not own; [`JsonFileStore`] is a small file-backed
//! implementation for tests and tools. Uniqueness is enforced twice: [`Ipam`] serializes
//! allocations within the process, and [`LeaseStore::insert`] must refuse an address that
//! is already leased (a UNIQUE constraint in SQLite), so even two processes sharing a store
//! cannot hand out one address twice.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    #[error("ipam: network {network}: gateway {gateway} is not a usable address of {subnet}")]
    GatewayOutsideSubnet {
        network: String,
        gateway: IpAddr,
        subnet: IpNet,
    },
    #[error("ipam: network {network}: ip-range {range} is not inside subnet {subnet}")]
    RangeOutsideSubnet {
        network: String,
        range: IpNet,
        subnet: IpNet,
    },
    #[error("ipam: network {network}: address {address} is not a usable address of {subnet}")]
    AddressOutsideSubnet {
        network: String,
        address: IpAddr,
        subnet: IpNet,
    },
    #[error("ipam: network {network}: address {address} is already in use by {owner}")]
    InUse {
        network: String,
        address: IpAddr,
        owner: String,
    },
    #[error("ipam: {subnet} cannot be an IPv6 subnet: {reason}")]
    BadSubnet6 { subnet: IpNet, reason: &'static str },
    #[error("ipam: network {network}: no free address left in {pool}")]
    Exhausted { network: String, pool: IpNet },
    #[error("ipam: lease store {path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ipam: lease store: {0}")]
    Backend(String),
}

/// One leased address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub address: IpAddr,
    /// Who holds it: the daemon uses `<container-id>` (one lease per network and container).
    pub owner: String,
}

/// Persistence for leases, one namespace of addresses per network.
pub trait LeaseStore: Send + Sync {
    /// All leases of `network`.
    fn load(&self, network: &str) -> Result<Vec<Lease>, IpamError>;
    /// Records `lease`; must fail with [`IpamError::InUse`] if its address is leased.
    fn insert(&self, network: &str, lease: &Lease) -> Result<(), IpamError>;
    /// Removes the leases of `owner` in `network`, returning the addresses freed.
    fn remove_owner(&self, network: &str, owner: &str) -> Result<Vec<IpAddr>, IpamError>;
    /// Removes every lease of `network` (on `network rm`).
    fn remove_network(&self, network: &str) -> Result<(), IpamError>;
}

/// The addresses a network may hand out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub subnet: IpNet,
    pub gateway: IpAddr,
    /// `--ip-range`: dynamic allocation only draws from here; static `--ip` requests may use
    /// any usable address of the subnet, as with Docker.
    pub range: Option<IpNet>,
    /// Auxiliary addresses (`--aux-address`, the default gateway of `--default-gateway`):
    /// never given to a container.
    pub reserved: Vec<IpAddr>,
}

impl Pool {
    /// Validates a pool; `gateway` defaults to the first usable address of the subnet.
    pub fn new(
        network: &str,
        subnet: IpNet,
        gateway: Option<IpAddr>,
        range: Option<IpNet>,
    ) -> Result<Self, IpamError> {
        let subnet = subnet.trunc();
        let gateway = gateway.unwrap_or_else(|| nth(subnet.network(), 1));
        if !usable(&subnet, gateway) {
            return Err(IpamError::GatewayOutsideSubnet {
                network: network.into(),
                gateway,
                subnet,
            });
        }
        if let Some(r) = range
            && !subnet.contains(&r)
        {
            return Err(IpamError::RangeOutsideSubnet {
                network: network.into(),
                range: r,
                subnet,
            });
        }
        Ok(Self {
            subnet,
            gateway,
            range: range.map(|r| r.trunc()),
            reserved: Vec::new(),
        })
    }

    /// The pool with these auxiliary addresses kept out of allocation; each must be a
    /// usable address of the subnet.
    pub fn with_reserved(
        mut self,
        network: &str,
        reserved: impl IntoIterator<Item = IpAddr>,
    ) -> Result<Self, IpamError> {
        for a in reserved {
            if !usable(&self.subnet, a) {
                return Err(IpamError::AddressOutsideSubnet {
                    network: network.into(),
                    address: a,
                    subnet: self.subnet,
                });
            }
            self.reserved.push(a);
        }
        Ok(self)
    }

    /// The gateway with the subnet's prefix, as put on the bridge.
    pub fn gateway_net(&self) -> IpNet {
        // Cannot fail: the prefix comes from a valid net of the same family.
        IpNet::new(self.gateway, self.subnet.prefix_len()).expect("prefix of the subnet")
    }
}

/// Whether `a` may be given to a container or gateway: inside the subnet and, for IPv4
/// subnets larger than /31, neither the network nor the broadcast address.
fn usable(subnet: &IpNet, a: IpAddr) -> bool {
    if !subnet.contains(&a) {
        return false;
    }
    match subnet {
        IpNet::V4(n) if n.prefix_len() < 31 => a != subnet.network() && a != subnet.broadcast(),
        IpNet::V6(_) => a != subnet.network(),
        _ => true,
    }
}

fn nth(base: IpAddr, n: u128) -> IpAddr {
    match base {
        IpAddr::V4(b) => IpAddr::V4(Ipv4Addr::from(u32::from(b).wrapping_add(n as u32))),
        IpAddr::V6(b) => IpAddr::V6(Ipv6Addr::from(u128::from(b).wrapping_add(n))),
    }
}

fn as_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

/// The allocator. One per daemon, shared by all networks.
pub struct Ipam<S: LeaseStore> {
    store: S,
    lock: Mutex<()>,
}

impl<S: LeaseStore> Ipam<S> {
    pub fn new(store: S) -> Self {
        Self {
            store,
            lock: Mutex::new(()),
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Leases an address of `pool` in `network` to `owner`: `requested` (a static `--ip`)
    /// if given, else the lowest free address of the range (or subnet). An owner that
    /// already holds a lease in the network gets the same address back, so a retried
    /// attach does not leak.
    pub fn allocate(
        &self,
        network: &str,
        pool: &Pool,
        owner: &str,
        requested: Option<IpAddr>,
    ) -> Result<IpAddr, IpamError> {
        // A poisoned lock only means another allocation panicked; the store is still
        // consistent because every change is one insert.
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let leases = self.store.load(network)?;
        // One lease per owner and family: a dual-stack network leases both.
        if let Some(l) = leases
            .iter()
            .find(|l| l.owner == owner && pool.subnet.contains(&l.address))
            && requested.is_none_or(|r| r == l.address)
        {
            return Ok(l.address);
        }
        let taken = |a: IpAddr| leases.iter().find(|l| l.address == a);
        let address = match requested {
            Some(a) => {
                if !usable(&pool.subnet, a) {
                    return Err(IpamError::AddressOutsideSubnet {
                        network: network.into(),
                        address: a,
                        subnet: pool.subnet,
                    });
                }
                if a == pool.gateway || pool.reserved.contains(&a) {
                    return Err(IpamError::InUse {
                        network: network.into(),
                        address: a,
                        owner: if a == pool.gateway {
                            "the gateway"
                        } else {
                            "an auxiliary address"
                        }
                        .into(),
                    });
                }
                if let Some(l) = taken(a) {
                    return Err(IpamError::InUse {
                        network: network.into(),
                        address: a,
                        owner: l.owner.clone(),
                    });
                }
                a
            }
            None => {
                let from = pool.range.unwrap_or(pool.subnet);
                let used: std::collections::HashSet<u128> = leases
                    .iter()
                    .map(|l| as_u128(l.address))
                    .chain(pool.reserved.iter().map(|a| as_u128(*a)))
                    .collect();
                let start = as_u128(from.network());
                let end = as_u128(from.broadcast());
                let mut found = None;
                let mut n = start;
                // The first free address is among the first used+3 candidates (network,
                // gateway and broadcast are the only other skips; `used` has the
                // reserved ones), so huge IPv6 ranges are never walked.
                let limit = end.min(start.saturating_add(used.len() as u128 + 3));
                while n <= limit {
                    let a = nth(from.network(), n - start);
                    if usable(&pool.subnet, a) && a != pool.gateway && !used.contains(&n) {
                        found = Some(a);
                        break;
                    }
                    n += 1;
                }
                found.ok_or_else(|| IpamError::Exhausted {
                    network: network.into(),
                    pool: from,
                })?
            }
        };
        self.store.insert(
            network,
            &Lease {
                address,
                owner: owner.into(),
            },
        )?;
        tracing::debug!(network, owner, %address, "leased");
        Ok(address)
    }

    /// Frees the leases of `owner` in `network` (on detach).
    pub fn release(&self, network: &str, owner: &str) -> Result<Vec<IpAddr>, IpamError> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.store.remove_owner(network, owner)
    }

    /// Forgets a network's leases (on `network rm`).
    pub fn remove_network(&self, network: &str) -> Result<(), IpamError> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.store.remove_network(network)
    }
}

/// Leases in one JSON file, rewritten whole through a temp file, fsync and rename, so a
/// crash leaves either the old or the new file. Fine for tests and small hosts; berthd
/// keeps leases in SQLite instead.
pub struct JsonFileStore {
    path: PathBuf,
    lock: Mutex<()>,
}

type FileData = BTreeMap<String, Vec<Lease>>;

impl JsonFileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    fn err(&self) -> impl FnOnce(std::io::Error) -> IpamError + '_ {
        |source| IpamError::Store {
            path: self.path.clone(),
            source,
        }
    }

    fn read(&self) -> Result<FileData, IpamError> {
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| self.err()(e.into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileData::new()),
            Err(e) => Err(self.err()(e)),
        }
    }

    fn write(&self, data: &FileData) -> Result<(), IpamError> {
        use std::io::Write;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile_in(dir, &self.path).map_err(self.err())?;
        let bytes = serde_json::to_vec_pretty(data).map_err(|e| self.err()(e.into()))?;
        tmp.1.write_all(&bytes).map_err(self.err())?;
        tmp.1.sync_all().map_err(self.err())?;
        std::fs::rename(&tmp.0, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp.0);
            self.err()(e)
        })
    }

    fn update<T>(
        &self,
        f: impl FnOnce(&mut FileData) -> Result<T, IpamError>,
    ) -> Result<T, IpamError> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut data = self.read()?;
        let out = f(&mut data)?;
        self.write(&data)?;
        Ok(out)
    }
}

fn tempfile_in(dir: &Path, target: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    Ok((tmp, f))
}

impl LeaseStore for JsonFileStore {
    fn load(&self, network: &str) -> Result<Vec<Lease>, IpamError> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        Ok(self.read()?.remove(network).unwrap_or_default())
    }

    fn insert(&self, network: &str, lease: &Lease) -> Result<(), IpamError> {
        self.update(|d| {
            let v = d.entry(network.to_string()).or_default();
            if let Some(l) = v.iter().find(|l| l.address == lease.address) {
                return Err(IpamError::InUse {
                    network: network.into(),
                    address: lease.address,
                    owner: l.owner.clone(),
                });
            }
            v.push(lease.clone());
            Ok(())
        })
    }

    fn remove_owner(&self, network: &str, owner: &str) -> Result<Vec<IpAddr>, IpamError> {
        self.update(|d| {
            let mut freed = Vec::new();
            if let Some(v) = d.get_mut(network) {
                v.retain(|l| {
                    let keep = l.owner != owner;
                    if !keep {
                        freed.push(l.address);
                    }
                    keep
                });
                if v.is_empty() {
                    d.remove(network);
                }
            }
            Ok(freed)
        })
    }

    fn remove_network(&self, network: &str) -> Result<(), IpamError> {
        self.update(|d| {
            d.remove(network);
            Ok(())
        })
    }
}

/// Docker's default address pools, in its order: 172.17.0.0/16 to 172.31.0.0/16, then
/// 192.168.0.0/20 to 192.168.240.0/20. Networks created without `--subnet` take the first
/// one that overlaps nothing in use ([`pick_subnet`]).
pub fn default_pools() -> Vec<IpNet> {
    let mut v: Vec<IpNet> = (17..=31)
        .map(|b| {
            IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).expect("valid /16"))
        })
        .collect();
    v.extend((0..16).map(|i| {
        IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20).expect("valid /20"))
    }));
    v
}

/// Whether two subnets share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Checks that `subnet` can be a bridge network's IPv6 subnet, as dockerd checks
/// `--fixed-cidr-v6` and `network create --ipv6 --subnet`: IPv6 (not an IPv4-mapped
/// address), not multicast, clear of the link-local prefix `fe80::/64` that every
/// interface already uses. (dockerd also takes exactly `fe80::/64` for a default bridge
/// with link-local addresses only; berth does not.)
pub fn check_ipv6_subnet(subnet: &IpNet) -> Result<(), IpamError> {
    let reason = match subnet {
        IpNet::V4(_) => "it is not an IPv6 subnet",
        IpNet::V6(n) if n.addr().to_ipv4_mapped().is_some() => "it is an IPv4-mapped prefix",
        IpNet::V6(n) if n.addr().is_multicast() => "multicast subnets are not allowed",
        IpNet::V6(_) if overlaps(subnet, &"fe80::/64".parse().expect("a valid prefix")) => {
            "it clashes with the link-local prefix fe80::/64"
        }
        IpNet::V6(_) => return Ok(()),
    };
    Err(IpamError::BadSubnet6 {
        subnet: *subnet,
        reason,
    })
}

/// The first of `candidates` that overlaps none of `taken` (other networks' subnets and
/// the host's routes, see [`host_ipv4_routes`]).
pub fn pick_subnet(candidates: &[IpNet], taken: &[IpNet]) -> Option<IpNet> {
    candidates
        .iter()
        .find(|c| !taken.iter().any(|t| overlaps(c, t)))
        .copied()
}

/// The host's IPv4 routes other than default routes, from `/proc/net/route` (of the
/// caller's namespace), so a new network does not shadow a LAN the host can reach.
pub fn host_ipv4_routes() -> Vec<IpNet> {
    parse_proc_net_route(&std::fs::read_to_string("/proc/net/route").unwrap_or_default())
}

/// The IPv4 subnets routed on interface `dev` (e.g. a bridge an earlier daemon left, whose
/// subnet a new default network adopts).
pub fn ipv4_routes_on(dev: &str) -> Vec<IpNet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let lines = text
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(dev));
    parse_proc_net_route(&format!("header\n{}", lines.collect::<Vec<_>>().join("\n")))
}

fn parse_proc_net_route(text: &str) -> Vec<IpNet> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dst = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel prints the network-order bytes as a native-endian u32.
            let dst = Ipv4Addr::from(dst.to_ne_bytes());
            let prefix = mask.count_ones() as u8;
            (prefix > 0)
                .then(|| ipnet::Ipv4Net::new(dst, prefix).ok().map(IpNet::V4))
                .flatten()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pool(s: &str, gw: Option<&str>, range: Option<&str>) -> Pool {
        Pool::new(
            "n",
            s.parse().unwrap(),
            gw.map(|g| g.parse().unwrap()),
            range.map(|r| r.parse().unwrap()),
        )
        .unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_subnets_are_checked_as_dockerd_checks_fixed_cidr_v6() {
        let check = |s: &str| check_ipv6_subnet(&s.parse().unwrap()).map_err(|e| e.to_string());
        assert!(check("fd00:1::/64").is_ok());
        assert!(check("2001:db8::/80").is_ok());
        assert!(check("fe80:0:0:1::/64").is_ok());
        for (bad, why) in [
            ("10.0.0.0/24", "not an IPv6 subnet"),
            ("::ffff:10.0.0.0/120", "IPv4-mapped"),
            ("ff02::/64", "multicast"),
            ("fe80::/64", "link-local"),
            ("fe80::/10", "link-local"),
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn allocates_after_the_gateway_and_skips_taken_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(JsonFileStore::new(dir.path().join("leases.json")));
        let p = pool("172.30.0.0/24", None, None);
        assert_eq!(p.gateway, ip("172.30.0.1"));
        assert_eq!(p.gateway_net().to_string(), "172.30.0.1/24");
        assert_eq!(ipam.allocate("n", &p, "a", None).unwrap(), ip("172.30.0.2"));
        assert_eq!(ipam.allocate("n", &p, "b", None).unwrap(), ip("172.30.0.3"));
        // Same owner again: same address (retried attach).
        assert_eq!(ipam.allocate("n", &p, "a", None).unwrap(), ip("172.30.0.2"));
        assert_eq!(ipam.release("n", "a").unwrap(), vec![ip("172.30.0.2")]);
        assert_eq!(ipam.allocate("n", &p, "c", None).unwrap(), ip("172.30.0.2"));
        // The same owner in another family of the same network gets a second lease.
        let p6 = pool("fd00:213::/64", None, None);
        assert_eq!(
            ipam.allocate("n", &p6, "c", None).unwrap(),
            ip("fd00:213::2")
        );
        assert_eq!(ipam.allocate("n", &p, "c", None).unwrap(), ip("172.30.0.2"));
        assert_eq!(
            ipam.release("n", "c").unwrap(),
            vec![ip("172.30.0.2"), ip("fd00:213::2")]
        );
        // Another network is another address space.
        assert_eq!(ipam.allocate("m", &p, "a", None).unwrap(), ip("172.30.0.2"));
    }

    #[test]
    fn auxiliary_addresses_are_never_leased() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(JsonFileStore::new(dir.path().join("leases.json")));
        let p = pool("172.31.0.0/29", None, None)
            .with_reserved("n", [ip("172.31.0.2"), ip("172.31.0.4")])
            .unwrap();
        let got: Vec<IpAddr> = ["a", "b", "c"]
            .iter()
            .map(|o| ipam.allocate("n", &p, o, None).unwrap())
            .collect();
        assert_eq!(got, [ip("172.31.0.3"), ip("172.31.0.5"), ip("172.31.0.6")]);
        assert!(matches!(
            ipam.allocate("n", &p, "d", None),
            Err(IpamError::Exhausted { .. })
        ));
        let e = ipam
            .allocate("n", &p, "e", Some(ip("172.31.0.4")))
            .unwrap_err();
        assert!(e.to_string().contains("auxiliary address"), "{e}");
        // An auxiliary address must be a usable one of the subnet.
        assert!(
            pool("172.31.0.0/29", None, None)
                .with_reserved("n", [ip("172.31.0.7")])
                .is_err()
        );
        assert!(
            pool("172.31.0.0/29", None, None)
                .with_reserved("n", [ip("10.0.0.1")])
                .is_err()
        );
    }

    #[test]
    fn static_requests_and_their_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(JsonFileStore::new(dir.path().join("l.json")));
        let p = pool("10.0.0.0/24", Some("10.0.0.254"), Some("10.0.0.128/25"));
        // Dynamic allocation draws from the range.
        assert_eq!(ipam.allocate("n", &p, "a", None).unwrap(), ip("10.0.0.128"));
        // Static requests may be anywhere usable in the subnet.
        assert_eq!(
            ipam.allocate("n", &p, "b", Some(ip("10.0.0.5"))).unwrap(),
            ip("10.0.0.5")
        );
        let e = ipam
            .allocate("n", &p, "c", Some(ip("10.0.0.5")))
            .unwrap_err();
        assert!(
            matches!(e, IpamError::InUse { ref owner, .. } if owner == "b"),
            "{e}"
        );
        assert!(ipam.allocate("n", &p, "c", Some(ip("10.0.0.254"))).is_err());
        assert!(ipam.allocate("n", &p, "c", Some(ip("10.0.0.255"))).is_err());
        assert!(ipam.allocate("n", &p, "c", Some(ip("10.0.0.0"))).is_err());
        assert!(ipam.allocate("n", &p, "c", Some(ip("10.0.1.3"))).is_err());
    }

    #[test]
    fn bad_pools_are_refused() {
        let s: IpNet = "10.0.0.0/24".parse().unwrap();
        assert!(Pool::new("n", s, Some(ip("10.0.1.1")), None).is_err());
        assert!(Pool::new("n", s, Some(ip("10.0.0.255")), None).is_err());
        assert!(Pool::new("n", s, None, Some("10.0.0.0/16".parse().unwrap())).is_err());
    }

    #[test]
    fn exhaustion_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(JsonFileStore::new(dir.path().join("l.json")));
        let p = pool("10.0.0.0/30", None, None);
        assert_eq!(ipam.allocate("n", &p, "a", None).unwrap(), ip("10.0.0.2"));
        let e = ipam.allocate("n", &p, "b", None).unwrap_err();
        assert!(matches!(e, IpamError::Exhausted { .. }), "{e}");
    }

    #[test]
    fn concurrent_allocations_are_unique_and_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.json");
        let ipam = Arc::new(Ipam::new(JsonFileStore::new(&path)));
        let p = pool("10.1.0.0/16", None, None);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let ipam = ipam.clone();
                let p = p.clone();
                std::thread::spawn(move || {
                    (0..25)
                        .map(|i| ipam.allocate("n", &p, &format!("c{t}-{i}"), None).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<IpAddr> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(all.len(), 200);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 200);
        // A new store over the same file (daemon restart) sees every lease.
        let reopened = JsonFileStore::new(&path);
        assert_eq!(reopened.load("n").unwrap().len(), 200);
        let ipam2 = Ipam::new(reopened);
        ipam2.remove_network("n").unwrap();
        assert!(ipam2.store().load("n").unwrap().is_empty());
    }

    #[test]
    fn subnets_are_picked_around_what_is_in_use() {
        let pools = default_pools();
        assert_eq!(pools[0].to_string(), "172.17.0.0/16");
        assert_eq!(pools.last().unwrap().to_string(), "192.168.240.0/20");
        let taken: Vec<IpNet> = vec![
            "172.17.0.0/16".parse().unwrap(),
            "172.18.5.0/24".parse().unwrap(),
        ];
        assert_eq!(
            pick_subnet(&pools, &taken).unwrap().to_string(),
            "172.19.0.0/16"
        );
        assert_eq!(
            pick_subnet(&pools, &["172.16.0.0/12".parse().unwrap()])
                .unwrap()
                .to_string(),
            "192.168.0.0/20"
        );
        let routes = parse_proc_net_route(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
             eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
             br0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n",
        );
        assert_eq!(
            routes.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            vec!["10.0.0.0/24", "172.17.0.0/16"]
        );
        // Whatever this host has, parsing its table works.
        let _ = host_ipv4_routes();
    }

    #[test]
    fn ipv6_pools_allocate() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::new(JsonFileStore::new(dir.path().join("l.json")));
        let p = pool("fd00:dead::/64", None, None);
        assert_eq!(p.gateway, ip("fd00:dead::1"));
        assert_eq!(
            ipam.allocate("n", &p, "a", None).unwrap(),
            ip("fd00:dead::2")
        );
    }
}
