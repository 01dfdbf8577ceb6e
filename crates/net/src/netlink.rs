//! rtnetlink connections, on the host or bound to a container's namespace.
//!
//! A netlink socket belongs to the network namespace it was created in, whatever thread
//! later uses it. So a connection "inside" a container is made by creating the socket on a
//! thread that joined the namespace ([`NetNs::run`]) and then driving it from the tokio
//! runtime as usual: no thread of the daemon ever stays in a container namespace.

use futures_util::TryStreamExt;
use netlink_packet_route::link::LinkMessage;
use rtnetlink::Handle;

use crate::netns::{NetNs, NetnsError};

/// A failed netlink operation, naming the object (interface, address, route) concerned.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink: {op} {object}: {source}")]
    Request {
        op: &'static str,
        object: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("netlink: interface {0} not found")]
    NoSuchLink(String),
    #[error("netlink: opening a connection: {0}")]
    Connect(#[source] std::io::Error),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("netlink: {0}")]
    Invalid(String),
}

impl NetlinkError {
    /// The errno the kernel answered with, if the error came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Request {
                source: rtnetlink::Error::NetlinkError(m),
                ..
            } => Some(-m.raw_code()),
            _ => None,
        }
    }
}

pub(crate) fn req_err(
    op: &'static str,
    object: impl Into<String>,
) -> impl FnOnce(rtnetlink::Error) -> NetlinkError {
    let object = object.into();
    move |source| NetlinkError::Request { op, object, source }
}

/// An rtnetlink connection (its I/O task runs on the current tokio runtime and ends when
/// the last clone of the handle is dropped).
#[derive(Clone, Debug)]
pub struct Netlink {
    pub(crate) handle: Handle,
}

impl Netlink {
    /// A connection in the caller's (host) namespace. Must be called within a tokio runtime.
    pub fn host() -> Result<Self, NetlinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Connect)?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// A connection whose socket lives in `ns`. Must be called within a tokio runtime.
    pub fn in_netns(ns: &NetNs) -> Result<Self, NetlinkError> {
        Self::in_netns_with(ns, || ()).map(|(nl, ())| nl)
    }

    /// Like [`Self::in_netns`], also running `f` in the namespace on the same thread (one
    /// thread and one `setns` for both), e.g. to write the namespace's sysctls.
    pub fn in_netns_with<T: Send>(
        ns: &NetNs,
        f: impl FnOnce() -> T + Send,
    ) -> Result<(Self, T), NetlinkError> {
        let rt = tokio::runtime::Handle::current();
        let (conn, out) = ns.run(move || {
            // The socket registers with the runtime's reactor at creation.
            let _guard = rt.enter();
            (rtnetlink::new_connection(), f())
        })?;
        let (conn, handle, _) = conn.map_err(NetlinkError::Connect)?;
        tokio::spawn(conn);
        Ok((Self { handle }, out))
    }

    /// The link called `name`, if it exists.
    pub async fn link_by_name(&self, name: &str) -> Result<Option<LinkMessage>, NetlinkError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(l) => Ok(l),
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc::ENODEV => Ok(None),
            Err(e) => Err(req_err("get link", name)(e)),
        }
    }

    /// The index of the link called `name`.
    pub async fn index_of(&self, name: &str) -> Result<u32, NetlinkError> {
        self.link_by_name(name)
            .await?
            .map(|l| l.header.index)
            .ok_or_else(|| NetlinkError::NoSuchLink(name.to_string()))
    }

    /// Names of all links starting with `prefix` (e.g. `veth` or `br-`), for finding
    /// what a crashed daemon left behind.
    pub async fn links_with_prefix(&self, prefix: &str) -> Result<Vec<String>, NetlinkError> {
        use netlink_packet_route::link::LinkAttribute;
        let mut links = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(l) = links
            .try_next()
            .await
            .map_err(req_err("list links", prefix))?
        {
            for a in l.attributes {
                if let LinkAttribute::IfName(n) = a
                    && n.starts_with(prefix)
                {
                    out.push(n);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Deletes the link called `name`; a missing link is not an error.
    pub async fn delete_link(&self, name: &str) -> Result<(), NetlinkError> {
        let Some(link) = self.link_by_name(name).await? else {
            return Ok(());
        };
        match self.handle.link().del(link.header.index).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc::ENODEV => Ok(()),
            Err(e) => Err(req_err("delete link", name)(e)),
        }
    }

    /// Adds `addr` to link `index` (called `name` in errors); an existing identical
    /// address is accepted so a retried attach is harmless.
    pub async fn add_address(
        &self,
        index: u32,
        name: &str,
        addr: ipnet::IpNet,
    ) -> Result<(), NetlinkError> {
        let mut req = self
            .handle
            .address()
            .add(index, addr.addr(), addr.prefix_len());
        if addr.addr().is_ipv6() {
            // No duplicate address detection: the address is ours by IPAM, and DAD would
            // keep it unusable ("tentative") for a second or more after every start.
            use netlink_packet_route::address::{
                AddressAttribute, AddressFlags, AddressHeaderFlags,
            };
            let m = req.message_mut();
            m.header.flags |= AddressHeaderFlags::Nodad;
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc::EEXIST => Ok(()),
            Err(e) => Err(req_err("add address", format!("{addr} on {name}"))(e)),
        }
    }

    /// Removes the global-scope addresses of link `index` (called `name` in errors) that are
    /// not in `keep`; link-local addresses (the kernel's `fe80::`) stay. A bridge whose
    /// network changed its subnet (`--bip`, `--fixed-cidr-v6`) or lost IPv6 so carries only
    /// what its network now has, and the host stops routing the old subnet to it.
    pub async fn remove_addresses_except(
        &self,
        index: u32,
        name: &str,
        keep: &[ipnet::IpNet],
    ) -> Result<(), NetlinkError> {
        use netlink_packet_route::address::{AddressAttribute, AddressScope};
        let mut stale = Vec::new();
        let mut addrs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        while let Some(m) = addrs
            .try_next()
            .await
            .map_err(req_err("list addresses", name))?
        {
            if m.header.scope != AddressScope::Universe {
                continue;
            }
            let addr = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            });
            let Some(net) = addr.and_then(|a| ipnet::IpNet::new(a, m.header.prefix_len).ok())
            else {
                continue;
            };
            if !keep.contains(&net) {
                stale.push((net, m));
            }
        }
        for (net, m) in stale {
            match self.handle.address().del(m).execute().await {
                Ok(()) => tracing::info!(link = name, address = %net, "stale address removed"),
                Err(rtnetlink::Error::NetlinkError(e)) if -e.raw_code() == libc::EADDRNOTAVAIL => {}
                Err(e) => return Err(req_err("delete address", format!("{net} on {name}"))(e)),
            }
        }
        Ok(())
    }

    /// Brings link `index` up.
    pub async fn set_up(&self, index: u32, name: &str) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .set(rtnetlink::LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(req_err("set up", name))
    }
}
