//! berth-net owns container networking for berthd: network namespace files, the built-in
//! bridge driver (bridge, veth pairs, addresses and routes over netlink), IPAM with
//! pluggable lease storage, NAT and published ports through iptables, the CNI driver, and
//! per-network DNS plus the `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` files of
//! each container.
//!
//! Nothing here forks a container or knows about the engine's store: the daemon passes
//! netns paths in, backs [`ipam::LeaseStore`] with SQLite, and maps the results into the
//! Docker API's `NetworkSettings`.

pub mod bridge;
pub mod cni;
pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod network;
pub mod veth;

pub use netlink::{Netlink, NetlinkError};
pub use netns::{NetNs, NetnsError};
pub use network::{
    BridgeDriver, BridgeNetwork, EndpointRequest, EndpointState, NetError, NetworkState,
};
