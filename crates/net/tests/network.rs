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
        mtu: None,
        internal: false,
    };
    let nstate = drv.create_network(&net).await.unwrap();

    let mut nss = Vec::new();
    let mut eps: Vec<EndpointState> = Vec::new();
    let mut guards = Vec::new();
    let mut link_guards = Vec::new();
    for (i, (ip, ports)) in [
        (Some("10.213.11.50"), vec![]),
        (None, parse_publish("127.0.0.1::8080").unwrap()),
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
                    ifname: "eth0".into(),
                    host_veth,
                    ip: ip.map(|s| s.parse().unwrap()),
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
