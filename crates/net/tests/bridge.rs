//! Bridge driver over netlink: bridges, veth pairs born in the container netns, addresses,
//! routes. Traffic only crosses the bridges and namespaces each test makes.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use berth_net::bridge::{BridgeConfig, delete_bridge, ensure_bridge};
use berth_net::veth::{self, VethConfig};
use berth_net::{NetNs, Netlink};
use common::*;

fn cfg(host: &str, bridge: &str, addr: &str, gw: &str) -> VethConfig {
    VethConfig {
        host_name: host.into(),
        container_ifname: "eth0".into(),
        bridge: bridge.into(),
        address: addr.parse().unwrap(),
        gateway: Some(gw.parse().unwrap()),
        address6: None,
        gateway6: None,
        mac: None,
        mtu: Some(1400),
        hairpin: false,
        link_local: vec![],
    }
}

#[tokio::test]
async fn containers_on_one_bridge_reach_each_other_and_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let br = unique("bt");
    let _bg = LinkGuard(br.clone());
    let nl = Netlink::host().unwrap();
    let bcfg = BridgeConfig {
        name: br.clone(),
        mtu: Some(1400),
        gateway: Some("10.213.1.1/24".parse().unwrap()),
        gateway6: None,
    };
    ensure_bridge(&nl, &bcfg).await.unwrap();
    // Idempotent: a second call (daemon restart) is fine.
    ensure_bridge(&nl, &bcfg).await.unwrap();

    let p1 = dir.path().join("n1");
    let p2 = dir.path().join("n2");
    let _g1 = NetnsGuard(p1.clone());
    let _g2 = NetnsGuard(p2.clone());
    let ns1 = NetNs::create(&p1).unwrap();
    let ns2 = NetNs::create(&p2).unwrap();
    let v1 = unique("vt");
    let v2 = unique("vt");
    let _vg1 = LinkGuard(v1.clone());
    let _vg2 = LinkGuard(v2.clone());
    let e1 = veth::attach(&nl, &ns1, &cfg(&v1, &br, "10.213.1.2/24", "10.213.1.1"))
        .await
        .unwrap();
    veth::attach(&nl, &ns2, &cfg(&v2, &br, "10.213.1.3/24", "10.213.1.1"))
        .await
        .unwrap();
    assert_eq!(e1.mac, [0x02, 0x42, 10, 213, 1, 2]);
    let found = nl
        .links_with_prefix(&format!("vt{}", std::process::id() % 100_000))
        .await
        .unwrap();
    assert!(found.contains(&v1) && found.contains(&v2), "{found:?}");

    // What the container sees: eth0 with its MAC, MTU and address, lo up, default route.
    let link = ip_in(&p1, &["-o", "link", "show", "eth0"]);
    assert!(link.contains("02:42:0a:d5:01:02"), "{link}");
    assert!(link.contains("mtu 1400"), "{link}");
    assert!(ip_in(&p1, &["-o", "addr", "show", "eth0"]).contains("10.213.1.2/24"));
    assert!(ip_in(&p1, &["-o", "link", "show", "lo"]).contains("UP"));
    let routes = ip_in(&p1, &["route"]);
    assert!(
        routes.contains("default via 10.213.1.1 dev eth0"),
        "{routes}"
    );
    // The host end is enslaved to the bridge and up; the host has no new default route.
    let host_link = std::process::Command::new("ip")
        .args(["-o", "link", "show", &v1])
        .output()
        .unwrap();
    let host_link = String::from_utf8_lossy(&host_link.stdout);
    assert!(host_link.contains(&format!("master {br}")), "{host_link}");
    assert!(
        host_link.contains("state UP") || host_link.contains(",UP"),
        "{host_link}"
    );

    // Container to container across the bridge.
    let listener = ns2
        .run(|| TcpListener::bind("10.213.1.3:0").unwrap())
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        s.write_all(b"hi").unwrap();
        peer.ip()
    });
    let got = ns1
        .run(move || {
            let addr = SocketAddr::new("10.213.1.3".parse().unwrap(), port);
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
            let mut buf = String::new();
            s.read_to_string(&mut buf).unwrap();
            buf
        })
        .unwrap();
    assert_eq!(got, "hi");
    assert_eq!(
        server.join().unwrap(),
        "10.213.1.2".parse::<IpAddr>().unwrap()
    );

    // Container to the gateway address on the host.
    let gw_listener = TcpListener::bind("10.213.1.1:0").unwrap();
    let gw_port = gw_listener.local_addr().unwrap().port();
    ns1.run(move || {
        let addr = SocketAddr::new("10.213.1.1".parse().unwrap(), gw_port);
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    })
    .unwrap();
    gw_listener.accept().unwrap();

    // Teardown: deleting the host end removes the pair; the bridge goes when asked.
    veth::detach(&nl, &v1).await.unwrap();
    assert!(!link_exists(&v1));
    assert!(!ip_in(&p1, &["-o", "link"]).contains("eth0"));
    veth::detach(&nl, &v1).await.unwrap();
    ns2.delete().unwrap();
    // The netns going away takes the veth with it.
    for _ in 0..100 {
        if !link_exists(&v2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!link_exists(&v2));
    ns1.delete().unwrap();
    delete_bridge(&nl, &br).await.unwrap();
    assert!(!link_exists(&br));
}

#[tokio::test]
async fn failed_attach_leaves_no_veth() {
    let dir = tempfile::tempdir().unwrap();
    let br = unique("bt");
    let _bg = LinkGuard(br.clone());
    let nl = Netlink::host().unwrap();
    ensure_bridge(
        &nl,
        &BridgeConfig {
            name: br.clone(),
            mtu: None,
            gateway: Some("10.213.2.1/24".parse().unwrap()),
            gateway6: None,
        },
    )
    .await
    .unwrap();
    let p = dir.path().join("n");
    let _g = NetnsGuard(p.clone());
    let ns = NetNs::create(&p).unwrap();
    let v = unique("vt");
    let _vg = LinkGuard(v.clone());
    // A gateway outside the subnet cannot be routed: the attach fails and cleans up.
    let err = veth::attach(&nl, &ns, &cfg(&v, &br, "10.213.2.2/24", "10.99.0.1"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("default route"), "{err}");
    assert!(!link_exists(&v));
    // An unknown bridge is named in the error.
    let err = veth::attach(
        &nl,
        &ns,
        &cfg(&v, "nosuchbr0", "10.213.2.2/24", "10.213.2.1"),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("nosuchbr0"), "{err}");
    ns.delete().unwrap();
}

#[test]
fn host_veth_names_fit_ifnamsiz() {
    let n = veth::host_veth_name("0123456789abcdef0123", 3);
    assert_eq!(n, "veth0123456783");
    assert!(n.len() <= 15);
    assert_eq!(
        veth::format_mac(&[2, 0x42, 10, 0, 0, 255]),
        "02:42:0a:00:00:ff"
    );
}

/// The global addresses on `dev`, as `ip -o addr` shows them.
fn global_addrs(dev: &str) -> Vec<String> {
    let o = std::process::Command::new("ip")
        .args(["-o", "addr", "show", "dev", dev, "scope", "global"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_bridge_keeps_only_the_addresses_of_its_network() {
    let br = unique("bt");
    let _bg = LinkGuard(br.clone());
    let nl = Netlink::host().unwrap();
    let mut bcfg = BridgeConfig {
        name: br.clone(),
        mtu: None,
        gateway: Some("10.213.20.1/24".parse().unwrap()),
        gateway6: Some("fd00:213:20::1/64".parse().unwrap()),
    };
    ensure_bridge(&nl, &bcfg).await.unwrap();
    assert_eq!(
        global_addrs(&br),
        vec!["10.213.20.1/24", "fd00:213:20::1/64"]
    );
    // A restart with another IPv4 subnet and another IPv6 one: only the new ones.
    bcfg.gateway = Some("10.213.21.1/24".parse().unwrap());
    bcfg.gateway6 = Some("fd00:213:21::1/64".parse().unwrap());
    ensure_bridge(&nl, &bcfg).await.unwrap();
    assert_eq!(
        global_addrs(&br),
        vec!["10.213.21.1/24", "fd00:213:21::1/64"]
    );
    // IPv6 off: no global IPv6 address left (the kernel's link-local one may stay).
    bcfg.gateway6 = None;
    ensure_bridge(&nl, &bcfg).await.unwrap();
    assert_eq!(global_addrs(&br), vec!["10.213.21.1/24"]);
    delete_bridge(&nl, &br).await.unwrap();
}
