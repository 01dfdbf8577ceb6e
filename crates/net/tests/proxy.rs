//! Published ports on IPv6 loopback through the userland proxy: a container without an
//! IPv6 address (whose eth0 has IPv6 disabled) answers on `[::1]` and on every IPv6
//! address, a dual-stack container's `[::1]` ports (TCP and UDP) go through the proxy while
//! its other IPv6 addresses are DNAT'd, and dropping the proxy closes its listeners. All
//! traffic stays on loopback and on the test's own bridges.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use berth_net::firewall::{Chains, Firewall, parse_publish};
use berth_net::ipam::{Ipam, JsonFileStore, Pool};
use berth_net::proxy::{self, PortProxy};
use berth_net::{BridgeDriver, BridgeNetwork, EndpointRequest, NetNs};
use common::*;

/// Serves one TCP connection in `ns` on `port`: writes the peer's address and closes.
fn serve_once(ns: &NetNs, port: u16) -> std::thread::JoinHandle<()> {
    let l = ns
        .run(move || TcpListener::bind(("::", port)).unwrap())
        .unwrap();
    std::thread::spawn(move || {
        let (mut s, peer) = l.accept().unwrap();
        s.write_all(peer.ip().to_canonical().to_string().as_bytes())
            .unwrap();
    })
}

fn fetch(addr: SocketAddr) -> String {
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = String::new();
    c.read_to_string(&mut got).unwrap();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_loopback_reaches_v4_only_and_dual_stack_containers() {
    if !proxy::host_has_ipv6() {
        eprintln!("skipped: no IPv6 on this host");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ipam = Arc::new(Ipam::new(JsonFileStore::new(
        dir.path().join("leases.json"),
    )));
    let fw = Firewall::new(Chains::with_suffix(&format!("-{}", unique("px"))));
    let _fg = FirewallGuard(fw.clone());
    let drv = BridgeDriver::new(ipam.clone(), fw.clone()).await.unwrap();
    let (br4, br6) = (unique("bt"), unique("bt"));
    let _bg = (LinkGuard(br4.clone()), LinkGuard(br6.clone()));
    let v4net = BridgeNetwork {
        id: "px4".into(),
        bridge: br4,
        pool: Pool::new("px4", "10.213.17.0/24".parse().unwrap(), None, None).unwrap(),
        pool6: None,
        mtu: None,
        internal: false,
        default_gateway: None,
        default_gateway6: None,
    };
    let dsnet = BridgeNetwork {
        id: "px6".into(),
        bridge: br6,
        pool: Pool::new("px6", "10.213.18.0/24".parse().unwrap(), None, None).unwrap(),
        pool6: Some(Pool::new("px6", "fd00:213:18::/64".parse().unwrap(), None, None).unwrap()),
        mtu: None,
        internal: false,
        default_gateway: None,
        default_gateway6: None,
    };
    let s4 = drv.create_network(&v4net).await.unwrap();
    let s6 = drv.create_network(&dsnet).await.unwrap();

    let (pa, pb, pu) = (free_port(false), free_port(false), free_port(true));
    let mut guards = Vec::new();
    let mut nss = Vec::new();
    let mut eps = Vec::new();
    for (i, (net, ports)) in [
        (&v4net, parse_publish(&format!("{pa}:80")).unwrap()),
        (&dsnet, {
            let mut v = parse_publish(&format!("{pb}:80")).unwrap();
            v.extend(parse_publish(&format!("[::1]:{pu}:53/udp")).unwrap());
            v
        }),
    ]
    .into_iter()
    .enumerate()
    {
        let p = dir.path().join(format!("c{i}"));
        let host_veth = unique("vt");
        guards.push((NetnsGuard(p.clone()), LinkGuard(host_veth.clone())));
        let ns = NetNs::create(&p).unwrap();
        let ep = drv
            .connect(
                net,
                &ns,
                &EndpointRequest {
                    container_id: format!("px{i}"),
                    link_local: vec![],
                    ifname: "eth0".into(),
                    host_veth,
                    ip: None,
                    ip6: None,
                    mac: None,
                    default_route: true,
                    ports,
                },
            )
            .await
            .unwrap();
        nss.push(ns);
        eps.push(ep);
    }
    // The v4-only container has no IPv6 on eth0 at all; the dual-stack one has it.
    let disabled = |ns: &NetNs| {
        ns.run(|| std::fs::read_to_string("/proc/sys/net/ipv6/conf/eth0/disable_ipv6").unwrap())
            .unwrap()
    };
    assert_eq!(disabled(&nss[0]).trim(), "1");
    assert_eq!(disabled(&nss[1]).trim(), "0");
    assert!(
        !ip_in(&guards[0].0.0, &["-6", "addr", "show", "eth0"]).contains("inet6"),
        "no link-local address either"
    );

    let proxies: Vec<PortProxy> = eps
        .iter()
        .map(|ep| {
            let specs = proxy::plan(
                &ep.ports,
                ep.address.addr(),
                ep.address6.map(|a| a.addr()),
                true,
            );
            PortProxy::start(&specs).unwrap()
        })
        .collect();
    let gw4: IpAddr = "10.213.17.1".parse().unwrap();
    let gw6: IpAddr = "fd00:213:18::1".parse().unwrap();

    // v4-only: [::1] through the proxy, 127.0.0.1 through the kernel's DNAT; the container
    // sees the gateway as the source either way.
    for host in ["[::1]", "127.0.0.1"] {
        let srv = serve_once(&nss[0], 80);
        let got = fetch(format!("{host}:{pa}").parse().unwrap());
        assert_eq!(got, gw4.to_string(), "{host}");
        srv.join().unwrap();
    }
    // Dual stack: [::1] through the proxy (from the IPv6 gateway), the gateway's own IPv6
    // address through ip6tables DNAT (the connection keeps its source, the gateway).
    for host in [format!("[::1]:{pb}"), format!("[{gw6}]:{pb}")] {
        let srv = serve_once(&nss[1], 80);
        assert_eq!(fetch(host.parse().unwrap()), gw6.to_string(), "{host}");
        srv.join().unwrap();
    }
    // UDP on [::1] to the dual-stack container's port 53, echoed back.
    let echo = nss[1].run(|| UdpSocket::bind("[::]:53").unwrap()).unwrap();
    echo.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let echo_thread = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (n, peer) = echo.recv_from(&mut buf).unwrap();
        echo.send_to(&buf[..n], peer).unwrap();
    });
    let c = UdpSocket::bind("[::1]:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.send_to(b"udp6", ("::1", pu)).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = c.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"udp6");
    echo_thread.join().unwrap();

    // Dropping the proxies closes their listeners.
    drop(proxies);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(TcpStream::connect(("::1", pa)).is_err());
    assert!(TcpListener::bind(("::1", pb)).is_ok());

    for ep in &eps {
        drv.disconnect(ep).await.unwrap();
    }
    drv.remove_network(&v4net, &s4).await.unwrap();
    drv.remove_network(&dsnet, &s6).await.unwrap();
    for ns in nss {
        ns.delete().unwrap();
    }
}
