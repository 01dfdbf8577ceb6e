//! The bridge driver end to end, as the daemon drives it: network create, two containers
//! connected (static and dynamic addresses, a published port with a picked host port),
//! disconnect, network remove, and nothing left behind.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::Arc;

use berth_net::firewall::{Chains, Firewall, parse_publish};
use berth_net::ipam::{Ipam, JsonFileStore, LeaseStore, Pool};
use berth_net::{BridgeDriver, BridgeNetwork, EndpointRequest, EndpointState, NetNs};
use common::*;

/// Two consecutive TCP ports free on all addresses, below the ephemeral range.
fn free_pair() -> u16 {
    loop {
        let p = free_port(false);
        if p < u16::MAX && TcpListener::bind(("0.0.0.0", p + 1)).is_ok() {
            return p;
        }
    }
}

#[tokio::test]
async fn connect_publish_disconnect_remove_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ipam = Arc::new(Ipam::new(JsonFileStore::new(
        dir.path().join("leases.json"),
    )));
    let fw = Firewall::new(Chains::with_suffix(&format!("-{}", unique("n"))));
    let _fg = FirewallGuard(fw.clone());
    let drv = BridgeDriver::new(ipam.clone(), fw.clone()).await.unwrap();
    let br = unique("bt");
    let _bg = LinkGuard(br.clone());
    let net = BridgeNetwork {
        id: "net1".into(),
        bridge: br.clone(),
        pool: Pool::new("net1", "10.213.11.0/24".parse().unwrap(), None, None).unwrap(),
        pool6: None,
        mtu: None,
        internal: false,
        default_gateway: None,
        default_gateway6: None,
    };
    let nstate = drv.create_network(&net).await.unwrap();

    let mut nss = Vec::new();
    let mut eps: Vec<EndpointState> = Vec::new();
    let mut guards = Vec::new();
    let mut link_guards = Vec::new();
    for (i, (ip, ports)) in [
        (Some("10.213.11.50"), vec![]),
        (None, {
            // A published range on all host addresses (no IP), next to a picked port.
            let mut v = parse_publish("127.0.0.1::8080").unwrap();
            let a = free_pair();
            v.extend(parse_publish(&format!("{a}-{}:8081-8082", a + 1)).unwrap());
            v
        }),
    ]
    .into_iter()
    .enumerate()
    {
        let p = dir.path().join(format!("c{i}"));
        guards.push(NetnsGuard(p.clone()));
        let ns = NetNs::create(&p).unwrap();
        let host_veth = unique("vt");
        link_guards.push(LinkGuard(host_veth.clone()));
        let ep = drv
            .connect(
                &net,
                &ns,
                &EndpointRequest {
                    container_id: format!("ctr{i}"),
                    link_local: vec![],
                    ifname: "eth0".into(),
                    host_veth,
                    ip: ip.map(|s| s.parse().unwrap()),
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
    assert_eq!(eps[0].address.to_string(), "10.213.11.50/24");
    assert_eq!(eps[1].address.to_string(), "10.213.11.2/24");
    assert_eq!(eps[1].gateway, Some("10.213.11.1".parse().unwrap()));
    assert_eq!(eps[1].mac, "02:42:0a:d5:0b:02");
    let host_port = eps[1].ports[0].host_port;
    assert_ne!(host_port, 0);
    // The state round-trips through JSON (the daemon stores it).
    let json = serde_json::to_string(&eps[1]).unwrap();
    assert_eq!(
        serde_json::from_str::<EndpointState>(&json).unwrap(),
        eps[1]
    );

    // The picked port on 127.0.0.1 reaches container 1's port 8080.
    let l = nss[1]
        .run(|| TcpListener::bind("10.213.11.2:8080").unwrap())
        .unwrap();
    let srv = std::thread::spawn(move || {
        let (mut s, peer) = l.accept().unwrap();
        s.write_all(b"ok").unwrap();
        peer.ip()
    });
    let mut c = TcpStream::connect(("127.0.0.1", host_port)).unwrap();
    let mut got = String::new();
    c.read_to_string(&mut got).unwrap();
    assert_eq!(got, "ok");
    assert_eq!(
        srv.join().unwrap(),
        "10.213.11.1".parse::<IpAddr>().unwrap()
    );

    // The range: each host port reaches its own container port, through 127.0.0.1 too.
    for (k, cport) in [(1, 8081u16), (2, 8082)] {
        let hport = eps[1].ports[k].host_port;
        assert_eq!(eps[1].ports[k].container_port, cport);
        let l = nss[1]
            .run(move || TcpListener::bind(("10.213.11.2", cport)).unwrap())
            .unwrap();
        let srv = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(cport.to_string().as_bytes()).unwrap();
        });
        let mut c = TcpStream::connect(("127.0.0.1", hport)).unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, cport.to_string());
        srv.join().unwrap();
    }

    for ep in &eps {
        drv.disconnect(ep).await.unwrap();
        assert!(!link_exists(&ep.host_veth));
    }
    assert!(ipam.store().load("net1").unwrap().is_empty());
    drv.remove_network(&net, &nstate).await.unwrap();
    assert!(!link_exists(&br));
    for ns in nss {
        ns.delete().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_connects_get_unique_addresses_and_clean_up() {
    const N: usize = 24;
    let dir = tempfile::tempdir().unwrap();
    let ipam = Arc::new(Ipam::new(JsonFileStore::new(
        dir.path().join("leases.json"),
    )));
    let fw = Firewall::new(Chains::with_suffix(&format!("-{}", unique("c"))));
    let _fg = FirewallGuard(fw.clone());
    let drv = Arc::new(BridgeDriver::new(ipam.clone(), fw.clone()).await.unwrap());
    let br = unique("bt");
    let _bg = LinkGuard(br.clone());
    let net = BridgeNetwork {
        id: "many".into(),
        bridge: br.clone(),
        pool: Pool::new("many", "10.213.12.0/24".parse().unwrap(), None, None).unwrap(),
        pool6: None,
        mtu: None,
        internal: false,
        default_gateway: None,
        default_gateway6: None,
    };
    let nstate = drv.create_network(&net).await.unwrap();
    let mut guards = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..N {
        let p = dir.path().join(format!("c{i}"));
        let host_veth = unique("vt");
        guards.push((NetnsGuard(p.clone()), LinkGuard(host_veth.clone())));
        let (drv, net) = (drv.clone(), net.clone());
        tasks.push(tokio::spawn(async move {
            let ns = NetNs::create(&p).unwrap();
            let ep = drv
                .connect(
                    &net,
                    &ns,
                    &EndpointRequest {
                        container_id: format!("ctr{i}"),
                        link_local: vec![],
                        ifname: "eth0".into(),
                        host_veth,
                        ip: None,
                        ip6: None,
                        mac: None,
                        default_route: true,
                        ports: parse_publish(&format!("127.0.0.1::{}", 1000 + i)).unwrap(),
                    },
                )
                .await
                .unwrap();
            (ns, ep)
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.unwrap());
    }
    let mut addrs: Vec<_> = done.iter().map(|(_, ep)| ep.address.addr()).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), N, "every container got its own address");
    assert_eq!(ipam.store().load("many").unwrap().len(), N);
    // Neighbours reach each other across the bridge.
    let (a, b) = (&done[0], &done[N - 1]);
    let l =
        b.0.run(|| TcpListener::bind((b.1.address.addr(), 0)).unwrap())
            .unwrap();
    let target = l.local_addr().unwrap();
    assert!(
        a.0.run(
            move || TcpStream::connect_timeout(&target, std::time::Duration::from_secs(5)).is_ok()
        )
        .unwrap()
    );
    drop(l);

    // Half leave through disconnect + netns delete, half through the background teardown.
    let mut tasks = Vec::new();
    for (i, (ns, ep)) in done.into_iter().enumerate() {
        let drv = drv.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                drv.disconnect(&ep).await.unwrap();
                ns.delete().unwrap();
            } else {
                let path = ns.path().to_path_buf();
                let bg = drv.teardown(vec![ep.clone()], ns);
                bg.await.unwrap().unwrap();
                assert!(!path.exists(), "the netns file is gone with the teardown");
            }
            ep.host_veth
        }));
    }
    for t in tasks {
        let v = t.await.unwrap();
        assert!(!link_exists(&v), "{v} left behind");
    }
    assert!(ipam.store().load("many").unwrap().is_empty());
    drv.remove_network(&net, &nstate).await.unwrap();
    for (table, chain) in [("nat", &fw.chains.nat), ("filter", &fw.chains.forward)] {
        let out = std::process::Command::new("iptables")
            .args(["-w", "-t", table, "-S", chain])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            1,
            "{chain}"
        );
    }
}

#[tokio::test]
async fn dual_stack_networks_give_both_addresses_and_default_routes() {
    let dir = tempfile::tempdir().unwrap();
    let ipam = Arc::new(Ipam::new(JsonFileStore::new(
        dir.path().join("leases.json"),
    )));
    let fw = Firewall::new(Chains::with_suffix(&format!("-{}", unique("d"))));
    let _fg = FirewallGuard(fw.clone());
    let drv = BridgeDriver::new(ipam.clone(), fw.clone()).await.unwrap();
    let br = unique("bt");
    let _bg = LinkGuard(br.clone());
    let net = BridgeNetwork {
        id: "ds".into(),
        bridge: br.clone(),
        pool: Pool::new("ds", "10.213.13.0/24".parse().unwrap(), None, None).unwrap(),
        pool6: Some(Pool::new("ds", "fd00:213:13::/64".parse().unwrap(), None, None).unwrap()),
        mtu: None,
        internal: false,
        default_gateway: None,
        default_gateway6: None,
    };
    let nstate = drv.create_network(&net).await.unwrap();
    let (p6, pboth) = (free_port(false), free_port(false));
    let mut nss = Vec::new();
    let mut eps = Vec::new();
    let mut guards = Vec::new();
    for i in 0..2 {
        let p = dir.path().join(format!("c{i}"));
        let host_veth = unique("vt");
        guards.push((NetnsGuard(p.clone()), LinkGuard(host_veth.clone())));
        let ns = NetNs::create(&p).unwrap();
        let ep = drv
            .connect(
                &net,
                &ns,
                &EndpointRequest {
                    container_id: format!("ctr{i}"),
                    link_local: vec![],
                    ifname: "eth0".into(),
                    host_veth,
                    ip: None,
                    ip6: (i == 1).then(|| "fd00:213:13::99".parse().unwrap()),
                    mac: None,
                    default_route: true,
                    // On the host's own IPv6 address of the bridge, and on every address
                    // of both families.
                    ports: if i == 1 {
                        let mut v = parse_publish(&format!("[fd00:213:13::1]:{p6}:8080")).unwrap();
                        v.extend(parse_publish(&format!("{pboth}:8081")).unwrap());
                        v
                    } else {
                        vec![]
                    },
                },
            )
            .await
            .unwrap();
        nss.push(ns);
        eps.push(ep);
    }
    assert_eq!(eps[0].address.to_string(), "10.213.13.2/24");
    assert_eq!(eps[0].address6.unwrap().to_string(), "fd00:213:13::2/64");
    assert_eq!(eps[1].address6.unwrap().to_string(), "fd00:213:13::99/64");
    assert_eq!(eps[1].gateway6, Some("fd00:213:13::1".parse().unwrap()));
    let p0 = dir.path().join("c0");
    let r6 = ip_in(&p0, &["-6", "route"]);
    assert!(r6.contains("default via fd00:213:13::1 dev eth0"), "{r6}");
    let a6 = ip_in(&p0, &["-6", "-o", "addr", "show", "eth0"]);
    let global = a6
        .lines()
        .find(|l| l.contains("fd00:213:13::2/64"))
        .unwrap_or_else(|| panic!("{a6}"));
    assert!(!global.contains("tentative"), "usable at once: {global}");

    // Container to container and container to gateway over IPv6.
    let l = nss[1]
        .run(|| TcpListener::bind("[fd00:213:13::99]:0").unwrap())
        .unwrap();
    let t1 = l.local_addr().unwrap();
    let gl = TcpListener::bind("[fd00:213:13::1]:0").unwrap();
    let t2 = gl.local_addr().unwrap();
    for t in [t1, t2] {
        let ok = nss[0]
            .run(move || {
                (0..5).any(|_| {
                    TcpStream::connect_timeout(&t, std::time::Duration::from_millis(1500)).is_ok()
                })
            })
            .unwrap();
        assert!(ok, "no IPv6 connection to {t}");
    }
    drop((l, gl));

    // Published ports over IPv6 (and the all-families one over 127.0.0.1 too).
    for (port, host) in [
        (8080u16, format!("[fd00:213:13::1]:{p6}")),
        (8081, format!("[fd00:213:13::1]:{pboth}")),
        (8081, format!("127.0.0.1:{pboth}")),
    ] {
        let l = nss[1]
            .run(move || TcpListener::bind(("::", port)).unwrap())
            .unwrap();
        let srv = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"v6").unwrap();
        });
        let mut c = TcpStream::connect(host.as_str()).unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, "v6", "{host}");
        srv.join().unwrap();
    }

    for ep in &eps {
        drv.disconnect(ep).await.unwrap();
    }
    assert!(
        ipam.store().load("ds").unwrap().is_empty(),
        "both families released"
    );
    drv.remove_network(&net, &nstate).await.unwrap();
    for (prog, table, chain) in [
        ("iptables", "nat", &fw.chains.nat),
        ("ip6tables", "nat", &fw.chains.nat),
        ("ip6tables", "nat", &fw.chains.postrouting),
        ("ip6tables", "filter", &fw.chains.forward),
    ] {
        let out = std::process::Command::new(prog)
            .args(["-w", "-t", table, "-S", chain])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            1,
            "{prog} {chain}"
        );
    }
    for ns in nss {
        ns.delete().unwrap();
    }
}

#[tokio::test]
async fn a_container_on_two_networks_gets_eth0_and_eth1_with_one_default_route() {
    let dir = tempfile::tempdir().unwrap();
    let ipam = Arc::new(Ipam::new(JsonFileStore::new(
        dir.path().join("leases.json"),
    )));
    let fw = Firewall::new(Chains::with_suffix(&format!("-{}", unique("m"))));
    let _fg = FirewallGuard(fw.clone());
    let drv = BridgeDriver::new(ipam.clone(), fw.clone()).await.unwrap();
    let mut nets = Vec::new();
    let mut guards = Vec::new();
    for (id, sub) in [("front", "10.213.15.0/24"), ("back", "10.213.16.0/24")] {
        let br = unique("bt");
        guards.push(LinkGuard(br.clone()));
        let net = BridgeNetwork {
            id: id.into(),
            bridge: br,
            pool: Pool::new(id, sub.parse().unwrap(), None, None).unwrap(),
            pool6: None,
            mtu: None,
            internal: id == "back",
            default_gateway: None,
            default_gateway6: None,
        };
        let st = drv.create_network(&net).await.unwrap();
        nets.push((net, st));
    }
    let p = dir.path().join("c");
    let _ng = NetnsGuard(p.clone());
    let ns = NetNs::create(&p).unwrap();
    let mut eps = Vec::new();
    for (i, (net, _)) in nets.iter().enumerate() {
        let host_veth = unique("vt");
        guards.push(LinkGuard(host_veth.clone()));
        eps.push(
            drv.connect(
                net,
                &ns,
                &EndpointRequest {
                    container_id: "multi".into(),
                    link_local: vec![],
                    ifname: format!("eth{i}"),
                    host_veth,
                    ip: None,
                    ip6: None,
                    mac: None,
                    default_route: i == 0,
                    ports: vec![],
                },
            )
            .await
            .unwrap(),
        );
    }
    assert!(ip_in(&p, &["-o", "addr", "show", "eth0"]).contains("10.213.15.2/24"));
    assert!(ip_in(&p, &["-o", "addr", "show", "eth1"]).contains("10.213.16.2/24"));
    let routes = ip_in(&p, &["route"]);
    assert_eq!(routes.matches("default").count(), 1, "{routes}");
    assert!(
        routes.contains("default via 10.213.15.1 dev eth0"),
        "{routes}"
    );
    assert_eq!(eps[1].gateway, None);
    // network disconnect of one network leaves the other.
    drv.disconnect(&eps[1]).await.unwrap();
    assert!(!ip_in(&p, &["-o", "link"]).contains("eth1"));
    assert!(ip_in(&p, &["-o", "link"]).contains("eth0"));
    drv.disconnect(&eps[0]).await.unwrap();
    for (net, st) in &nets {
        drv.remove_network(net, st).await.unwrap();
    }
    assert!(ipam.store().load("front").unwrap().is_empty());
    ns.delete().unwrap();
}
