//! NAT and published ports through iptables, in chains named for each test. Traffic goes
//! only to 127.0.0.1 and into the test's own bridges and namespaces.

mod common;

use std::io::ErrorKind;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use berth_net::bridge::{BridgeConfig, ensure_bridge};
use berth_net::firewall::{Chains, Firewall, NetworkRules, parse_publish};
use berth_net::veth::{self, VethConfig};
use berth_net::{NetNs, Netlink};
use common::*;

fn iptables_s(table: &str, chain: &str) -> String {
    let out = std::process::Command::new("iptables")
        .args(["-w", "-t", table, "-S", chain])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn ports_published_on_localhost_answer_tcp_and_udp_and_go_away_on_remove() {
    let dir = tempfile::tempdir().unwrap();
    let br = unique("bt");
    let _bg = LinkGuard(br.clone());
    let nl = Netlink::host().unwrap();
    ensure_bridge(
        &nl,
        &BridgeConfig {
            name: br.clone(),
            mtu: None,
            gateway: Some("10.213.3.1/24".parse().unwrap()),
            gateway6: None,
        },
    )
    .await
    .unwrap();
    let p = dir.path().join("c");
    let _ng = NetnsGuard(p.clone());
    let ns = NetNs::create(&p).unwrap();
    let v = unique("vt");
    let _vg = LinkGuard(v.clone());
    veth::attach(
        &nl,
        &ns,
        &VethConfig {
            host_name: v.clone(),
            container_ifname: "eth0".into(),
            bridge: br.clone(),
            address: "10.213.3.2/24".parse().unwrap(),
            gateway: Some("10.213.3.1".parse().unwrap()),
            address6: None,
            gateway6: None,
            mac: None,
            mtu: None,
            hairpin: true,
            link_local: vec![],
        },
    )
    .await
    .unwrap();

    // busybox httpd inside the container namespace, serving one file on port 80.
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from the container\n").unwrap();
    let _httpd = ChildGuard(
        std::process::Command::new("nsenter")
            .arg(format!("--net={}", p.display()))
            .args(["busybox", "httpd", "-f", "-p", "10.213.3.2:80", "-h"])
            .arg(&www)
            .spawn()
            .unwrap(),
    );
    // A UDP echo server in the same namespace that reports the source it saw.
    let udp = ns
        .run(|| UdpSocket::bind("10.213.3.2:5353").unwrap())
        .unwrap();
    // Generous: the timeout runs from here, through httpd start and rule setup, which
    // take seconds on a loaded machine.
    udp.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    // It echoes everything until "done" or the socket times out, and reports the sources
    // seen; an error on one datagram (an ICMP error noted on the socket) does not end it.
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let received2 = received.clone();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let mut seen = Vec::new();
        loop {
            let (n, peer) = match udp.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break;
                }
                Err(_) => continue,
            };
            received2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = udp.send_to(&buf[..n], peer);
            seen.push(peer.ip());
            if &buf[..n] == b"done" {
                break;
            }
        }
        seen
    });
    // Wait for httpd from inside the namespace (no NAT involved yet).
    let up = ns
        .run(|| {
            for _ in 0..200 {
                let a: SocketAddr = "10.213.3.2:80".parse().unwrap();
                if TcpStream::connect_timeout(&a, Duration::from_millis(100)).is_ok() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            false
        })
        .unwrap();
    assert!(up, "httpd did not start");

    let fw = Firewall::new(Chains::with_suffix(&format!("-{}", unique("t"))));
    let _fg = FirewallGuard(fw.clone());
    let net = NetworkRules {
        bridge: br.clone(),
        subnet: "10.213.3.0/24".parse().unwrap(),
        subnet6: None,
        internal: false,
    };
    let fw2 = fw.clone();
    let net2 = net.clone();
    let tcp_port = free_port(false);
    let udp_port = free_port(true);
    let (net_rules, port_rules) = tokio::task::spawn_blocking(move || {
        fw2.ensure_base().unwrap();
        fw2.ensure_base().unwrap();
        let n = fw2.add_network(&net2).unwrap();
        let mut ports = parse_publish(&format!("127.0.0.1:{tcp_port}:80")).unwrap();
        ports.extend(parse_publish(&format!("127.0.0.1:{udp_port}:5353/udp")).unwrap());
        let p = fw2
            .publish(&net2, "10.213.3.2".parse().unwrap(), None, &ports)
            .unwrap();
        (n, p)
    })
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{br}/route_localnet")).unwrap(),
        "1\n"
    );

    // Plain TCP from the host to 127.0.0.1:<port>.
    let mut s = TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.") && resp.contains(" 200 "),
        "{resp}"
    );
    assert!(resp.contains("hello from the container"), "{resp}");

    // UDP echo through 127.0.0.1:<port>; the container sees the gateway as the source.
    // UDP may lose a datagram (e.g. while the neighbour entry resolves): retry like a
    // client would.
    // Each try from a new socket (a new source port): a datagram that raced the neighbour
    // entry or the rules can leave a conntrack entry for that exact 4-tuple which later
    // datagrams of the same socket would keep following for UDP's conntrack timeout.
    let mut buf = [0u8; 16];
    let echoed = (0..40).any(|_| {
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        c.send_to(b"ping", ("127.0.0.1", udp_port)).unwrap();
        let ok = matches!(c.recv_from(&mut buf), Ok((4, _))) && &buf[..4] == b"ping";
        if !ok {
            // An ICMP error returns at once (Linux reports them on unconnected sockets).
            std::thread::sleep(Duration::from_millis(200));
        }
        ok
    });
    if !echoed {
        let diag = |args: &[&str]| {
            let o = std::process::Command::new(args[0])
                .args(&args[1..])
                .output();
            o.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        panic!(
            "no UDP echo through 127.0.0.1:{udp_port}; the echo server received {} datagrams\n\
             nat rules:\n{}\nneighbours:\n{}",
            received.load(std::sync::atomic::Ordering::SeqCst),
            diag(&["iptables", "-w", "-t", "nat", "-S", "-v"]),
            diag(&["ip", "neigh", "show", "dev", &br]),
        );
    }
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.send_to(b"done", ("127.0.0.1", udp_port)).unwrap();
    let seen = echo.join().unwrap();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|ip| ip.to_string() == "10.213.3.1"),
        "the container sees the gateway as the source: {seen:?}"
    );

    // Removal deletes exactly the rules added: the chains are empty again.
    fw.remove(&port_rules).unwrap();
    fw.remove(&net_rules).unwrap();
    for (table, chain) in [
        ("nat", &fw.chains.nat),
        ("nat", &fw.chains.postrouting),
        ("filter", &fw.chains.forward),
    ] {
        let s = iptables_s(table, chain);
        assert_eq!(s.lines().count(), 1, "{table} {chain}: {s}");
    }
    // Removing twice is harmless.
    fw.remove(&port_rules).unwrap();
    // flush empties the chains (daemon restart without records) and keeps the jumps.
    fw.apply(&port_rules, "again").unwrap();
    fw.flush().unwrap();
    assert_eq!(iptables_s("nat", &fw.chains.nat).lines().count(), 1);
    assert!(iptables_s("nat", "OUTPUT").contains(&fw.chains.nat));
    // The port is no longer forwarded: nothing listens on 127.0.0.1:<port>.
    assert!(TcpStream::connect(("127.0.0.1", tcp_port)).is_err());
    fw.remove_base().unwrap();
    assert!(!iptables_s("nat", "PREROUTING").contains(&fw.chains.nat));
    ns.delete().unwrap();
}

#[tokio::test]
async fn internal_networks_have_no_way_out() {
    // Everything happens inside a private "host" namespace with forwarding on, so routing
    // between the two test bridges is real but touches nothing of the machine's.
    let dir = tempfile::tempdir().unwrap();
    let hp = dir.path().join("host");
    let _hg = NetnsGuard(hp.clone());
    let host = NetNs::create(&hp).unwrap();
    let nl = Netlink::in_netns(&host).unwrap();
    host.run(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap())
        .unwrap();
    let lo = nl.index_of("lo").await.unwrap();
    nl.set_up(lo, "lo").await.unwrap();

    let mut nss = Vec::new();
    let mut guards = Vec::new();
    for (i, (brname, sub)) in [("bri", "10.213.4"), ("bre", "10.213.5")]
        .iter()
        .enumerate()
    {
        ensure_bridge(
            &nl,
            &BridgeConfig {
                name: brname.to_string(),
                mtu: None,
                gateway: Some(format!("{sub}.1/24").parse().unwrap()),
                gateway6: None,
            },
        )
        .await
        .unwrap();
        let p = dir.path().join(format!("c{i}"));
        guards.push(NetnsGuard(p.clone()));
        let ns = NetNs::create(&p).unwrap();
        veth::attach(
            &nl,
            &ns,
            &VethConfig {
                host_name: format!("veth{i}"),
                container_ifname: "eth0".into(),
                bridge: brname.to_string(),
                address: format!("{sub}.2/24").parse().unwrap(),
                gateway: Some(format!("{sub}.1").parse().unwrap()),
                address6: None,
                gateway6: None,
                mac: None,
                mtu: None,
                hairpin: true,
                link_local: vec![],
            },
        )
        .await
        .unwrap();
        nss.push(ns);
    }
    let listener = nss[1]
        .run(|| std::net::TcpListener::bind("10.213.5.2:0").unwrap())
        .unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let target: SocketAddr = format!("10.213.5.2:{port}").parse().unwrap();
    // One attempt with a timeout that covers a SYN retransmit (links just came up, and
    // the first SYN may wait on neighbour resolution).
    let connect_once = |ns: &NetNs| {
        ns.run(|| TcpStream::connect_timeout(&target, Duration::from_millis(1500)).is_ok())
            .unwrap()
    };
    // Positive checks retry: the path may take a moment to be ready.
    let connect = |ns: &NetNs| (0..8).any(|_| connect_once(ns));
    assert!(connect(&nss[0]), "routed between bridges before isolation");

    let fw = Firewall::new(Chains::default());
    let rules = host
        .run(|| {
            fw.ensure_base().unwrap();
            fw.add_network(&NetworkRules {
                bridge: "bri".into(),
                subnet: "10.213.4.0/24".parse().unwrap(),
                subnet6: None,
                internal: true,
            })
            .unwrap()
        })
        .unwrap();
    assert!(
        !connect_once(&nss[0]),
        "an internal network must not reach out"
    );
    host.run(|| fw.remove(&rules).unwrap()).unwrap();
    assert!(connect(&nss[0]), "rules removed: routed again");
    drop(listener);
    for ns in nss {
        ns.delete().unwrap();
    }
    drop(nl);
    host.delete().unwrap();
}

#[tokio::test]
async fn containers_reach_published_ports_through_the_gateway_hairpin() {
    // In a private "host" namespace with forwarding on: a container connecting to the
    // gateway's published port is sent back to itself (hairpin NAT).
    let dir = tempfile::tempdir().unwrap();
    let hp = dir.path().join("host");
    let _hg = NetnsGuard(hp.clone());
    let host = NetNs::create(&hp).unwrap();
    let nl = Netlink::in_netns(&host).unwrap();
    host.run(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap())
        .unwrap();
    ensure_bridge(
        &nl,
        &BridgeConfig {
            name: "brh".into(),
            mtu: None,
            gateway: Some("10.213.14.1/24".parse().unwrap()),
            gateway6: None,
        },
    )
    .await
    .unwrap();
    let mut nss = Vec::new();
    let mut guards = Vec::new();
    for (n, ip) in [("a", "10.213.14.2"), ("b", "10.213.14.3")] {
        let p = dir.path().join(n);
        guards.push(NetnsGuard(p.clone()));
        let ns = NetNs::create(&p).unwrap();
        veth::attach(
            &nl,
            &ns,
            &VethConfig {
                host_name: format!("veth{n}"),
                container_ifname: "eth0".into(),
                bridge: "brh".into(),
                address: format!("{ip}/24").parse().unwrap(),
                gateway: Some("10.213.14.1".parse().unwrap()),
                address6: None,
                gateway6: None,
                mac: None,
                mtu: None,
                hairpin: true,
                link_local: vec![],
            },
        )
        .await
        .unwrap();
        nss.push(ns);
    }
    let fw = Firewall::new(Chains::default());
    let net = NetworkRules {
        bridge: "brh".into(),
        subnet: "10.213.14.0/24".parse().unwrap(),
        subnet6: None,
        internal: false,
    };
    host.run(|| {
        fw.ensure_base().unwrap();
        fw.add_network(&net).unwrap();
        fw.publish(
            &net,
            "10.213.14.2".parse().unwrap(),
            None,
            &parse_publish("18081:8081").unwrap(),
        )
        .unwrap();
    })
    .unwrap();
    let l = nss[0]
        .run(|| std::net::TcpListener::bind("10.213.14.2:8081").unwrap())
        .unwrap();
    // With and without br_netfilter (the DNAT then happens at the bridge or at L3), from
    // the container itself and from its neighbour.
    for nf in ["1", "0"] {
        let have_br_nf = host
            .run(move || std::fs::write("/proc/sys/net/bridge/bridge-nf-call-iptables", nf).is_ok())
            .unwrap();
        if !have_br_nf && nf == "1" {
            continue;
        }
        for (from, ns) in nss.iter().enumerate() {
            let l = l.try_clone().unwrap();
            let srv = std::thread::spawn(move || {
                let (mut s, peer) = l.accept().unwrap();
                s.write_all(b"hello").unwrap();
                peer.ip()
            });
            let got = ns
                .run(|| {
                    let t: SocketAddr = "10.213.14.1:18081".parse().unwrap();
                    let mut s = TcpStream::connect_timeout(&t, Duration::from_secs(5)).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut buf = String::new();
                    s.read_to_string(&mut buf).unwrap();
                    buf
                })
                .unwrap();
            assert_eq!(got, "hello", "br_netfilter {nf}, from container {from}");
            // Masqueraded to the gateway, so the reply goes back through the NAT.
            assert_eq!(srv.join().unwrap().to_string(), "10.213.14.1");
        }
        // Direct traffic between containers keeps its source address.
        let l2 = l.try_clone().unwrap();
        let srv = std::thread::spawn(move || l2.accept().unwrap().1.ip());
        nss[1]
            .run(|| {
                let t: SocketAddr = "10.213.14.2:8081".parse().unwrap();
                TcpStream::connect_timeout(&t, Duration::from_secs(5)).unwrap();
            })
            .unwrap();
        assert_eq!(
            srv.join().unwrap().to_string(),
            "10.213.14.3",
            "br_netfilter {nf}"
        );
    }
    drop(l);
    for ns in nss {
        ns.delete().unwrap();
    }
    drop(nl);
    host.delete().unwrap();
}
