//! berth-net owns container networking for berthd: network namespace files, the built-in
//! bridge driver (bridge, veth pairs, addresses and routes over netlink), IPAM with
//! pluggable lease storage, NAT and published ports through iptables, the CNI driver, and
//! per-network DNS plus the `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` of each
//! container.
//!
//! Nothing here forks a container or knows about the engine's store: the daemon passes
//! netns paths in, backs [`ipam::LeaseStore`] with SQLite, stores the serializable states
//! the drivers return, and maps results into the Docker API's `NetworkSettings`.
//!
//! # Modules
//!
//! | module | concept |
//! | --- | --- |
//! | [`netns`] | `<exec-root>/netns/<id>` files: create (lo up), open, run a closure inside, delete, list |
//! | [`netlink`] | rtnetlink connections on the host or bound to a container netns |
//! | [`bridge`] | the network's Linux bridge with its gateway address |
//! | [`veth`] | one container interface: a veth pair born with its peer in the netns |
//! | [`ipam`] | pools, leases, the lease store trait, default pools and subnet picking |
//! | [`firewall`] | berth's iptables chains: masquerade, published ports, `--internal` |
//! | [`proxy`] | the userland proxy for `[::1]` (and IPv6 host addresses of IPv4-only containers) |
//! | [`network`] | [`BridgeDriver`]: the above composed into create/connect/disconnect/remove |
//! | [`cni`] | the `cni` driver: conflists run ADD/CHECK/DEL with cached results |
//! | [`dns`] | the per-network DNS responder and the per-container resolver files |
//!
//! # How berthd uses it
//!
//! ```text
//! start:      Firewall::ensure_base (via BridgeDriver::new); enable_ip_forward;
//!             for each stored network: BridgeDriver::create_network (idempotent),
//!             DnsServer::start(gateway:53) for user-defined ones
//! run:        NetNs::create(netns::path_for(exec_root, id)) → put its path in the OCI spec
//!             (--network none stops here; host/container:ID use no file of their own)
//!             BridgeDriver::connect per network → EndpointState (store it);
//!             PortProxy::start(proxy::plan(..)) for [::1] ports (keep it while running);
//!             Records::add(name/aliases, ip) on the network's DnsServer;
//!             write dns::hosts_file / hostname_file / resolv_conf into the container dir
//! cni:        CniDriver::add(ConfList::load(..), Attachment { netns path, .. }) → CniResult
//! stop/rm:    Records::remove_ip; BridgeDriver::disconnect(EndpointState) or
//!             CniDriver::del; NetNs::delete
//! network rm: BridgeDriver::remove_network(NetworkState); drop its DnsServer
//! restart:    netns::list + Netlink::links_with_prefix("veth") against the store;
//!             stored RuleSets of dead containers go to Firewall::remove
//! ```
//!
//! The async functions need a tokio runtime; [`firewall`] and [`cni`] block (they run
//! `iptables-restore` or plugins) and are wrapped in `spawn_blocking` by
//! [`BridgeDriver`]; call `CniDriver` from `spawn_blocking` too.

pub mod bridge;
pub mod cni;
pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod network;
pub mod proxy;
pub mod veth;

pub use netlink::{Netlink, NetlinkError};
pub use netns::{NetNs, NetnsError};
pub use network::{
    BridgeDriver, BridgeNetwork, EndpointRequest, EndpointState, NetError, NetworkMode,
    NetworkState,
};
