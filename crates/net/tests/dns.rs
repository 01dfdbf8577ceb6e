//! The per-network DNS responder. Upstreams are stubs on 127.0.0.1 started by the tests;
//! no query ever leaves the machine.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use berth_net::bridge::{BridgeConfig, ensure_bridge};
use berth_net::dns::{DnsServer, Records};
use berth_net::veth::{self, VethConfig};
use berth_net::{NetNs, Netlink};
use common::*;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

fn query_bytes(id: u16, name: &str, ty: RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), ty));
    m.to_vec().unwrap()
}

fn a_records(m: &Message) -> Vec<IpAddr> {
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

fn stub_reply(query: &[u8], last_octet: u8) -> Vec<u8> {
    let q = Message::from_vec(query).unwrap();
    let mut r = Message::new();
    r.set_id(q.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .add_query(q.queries()[0].clone())
        .add_answer(Record::from_rdata(
            q.queries()[0].name().clone(),
            60,
            RData::A(A::new(192, 0, 2, last_octet)),
        ));
    r.to_vec().unwrap()
}

/// A stub upstream on 127.0.0.1 answering every A query with 192.0.2.123 (TEST-NET-1)
/// over UDP, and 192.0.2.124 over TCP on the same port, so tests see which transport
/// was used.
async fn stub_upstream() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
    // Both tasks end with the test's runtime.
    tokio::spawn(async move {
        loop {
            let (mut s, _) = tcp.accept().await.unwrap();
            let len = s.read_u16().await.unwrap();
            let mut q = vec![0u8; len as usize];
            s.read_exact(&mut q).await.unwrap();
            let r = stub_reply(&q, 124);
            s.write_u16(r.len() as u16).await.unwrap();
            s.write_all(&r).await.unwrap();
        }
    });
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let (n, peer) = sock.recv_from(&mut buf).await.unwrap();
            sock.send_to(&stub_reply(&buf[..n], 123), peer)
                .await
                .unwrap();
        }
    });
    (addr, task)
}

async fn udp_ask(server: SocketAddr, name: &str, ty: RecordType) -> Message {
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(&query_bytes(0x1234, name, ty), server)
        .await
        .unwrap();
    let mut buf = [0u8; 1500];
    let n = tokio::time::timeout(Duration::from_secs(10), s.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(m.id(), 0x1234);
    m
}

#[tokio::test]
async fn names_resolve_locally_and_others_are_forwarded() {
    let (up, _stub) = stub_upstream().await;
    let records = Records::default();
    let web: IpAddr = "10.213.9.2".parse().unwrap();
    records.add("web", web).unwrap();
    records.add("web-alias", web).unwrap();
    records.add("v6", "fd00::2".parse().unwrap()).unwrap();
    let srv = DnsServer::start("127.0.0.1:0".parse().unwrap(), records.clone(), vec![up])
        .await
        .unwrap();
    let at = srv.local_addr();

    let m = udp_ask(at, "web", RecordType::A).await;
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.authoritative());
    assert_eq!(a_records(&m), vec![web]);
    assert_eq!(
        a_records(&udp_ask(at, "WEB-Alias.", RecordType::A).await),
        vec![web]
    );
    // A known name without an address of the asked family: NOERROR, no answers.
    let m = udp_ask(at, "web", RecordType::AAAA).await;
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
    assert_eq!(
        a_records(&udp_ask(at, "v6", RecordType::AAAA).await),
        vec!["fd00::2".parse::<IpAddr>().unwrap()]
    );
    // Reverse lookups of container addresses give the container name.
    let m = udp_ask(at, "2.9.213.10.in-addr.arpa.", RecordType::PTR).await;
    let ptrs: Vec<String> = m
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        })
        .collect();
    assert_eq!(ptrs, vec!["web.".to_string()]);
    // Anything else goes to the upstream.
    let m = udp_ask(at, "elsewhere.example", RecordType::A).await;
    assert_eq!(
        a_records(&m),
        vec!["192.0.2.123".parse::<IpAddr>().unwrap()]
    );

    // TCP, two queries on one connection.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(at).await.unwrap();
    for (name, want) in [("web", "10.213.9.2"), ("elsewhere.example", "192.0.2.124")] {
        let q = query_bytes(0x1234, name, RecordType::A);
        s.write_u16(q.len() as u16).await.unwrap();
        s.write_all(&q).await.unwrap();
        let len = s.read_u16().await.unwrap();
        let mut buf = vec![0u8; len as usize];
        s.read_exact(&mut buf).await.unwrap();
        // Forwarded over TCP too (the stub answers .124 on TCP).
        assert_eq!(
            a_records(&Message::from_vec(&buf).unwrap()),
            vec![want.parse::<IpAddr>().unwrap()]
        );
    }

    // Records change live: a container leaving disappears from DNS.
    records.remove_ip(web);
    let m = udp_ask(at, "web", RecordType::A).await;
    assert_eq!(
        a_records(&m),
        vec!["192.0.2.123".parse::<IpAddr>().unwrap()]
    );
}

#[tokio::test]
async fn unreachable_upstreams_give_servfail() {
    // A port on 127.0.0.1 that nobody listens on.
    let dead = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let srv = DnsServer::start(
        "127.0.0.1:0".parse().unwrap(),
        Records::default(),
        vec![dead],
    )
    .await
    .unwrap();
    let m = udp_ask(srv.local_addr(), "nowhere.example", RecordType::A).await;
    assert_eq!(m.response_code(), ResponseCode::ServFail);
}

#[tokio::test]
async fn containers_query_the_responder_on_the_gateway_port_53() {
    let dir = tempfile::tempdir().unwrap();
    let br = unique("bt");
    let _bg = LinkGuard(br.clone());
    let nl = Netlink::host().unwrap();
    ensure_bridge(
        &nl,
        &BridgeConfig {
            name: br.clone(),
            mtu: None,
            gateway: Some("10.213.10.1/24".parse().unwrap()),
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
            address: "10.213.10.2/24".parse().unwrap(),
            gateway: Some("10.213.10.1".parse().unwrap()),
            address6: None,
            gateway6: None,
            mac: None,
            mtu: None,
            hairpin: false,
            link_local: vec![],
        },
    )
    .await
    .unwrap();
    let records = Records::default();
    records.add("db", "10.213.10.3".parse().unwrap()).unwrap();
    let srv = DnsServer::start("10.213.10.1:53".parse().unwrap(), records, vec![])
        .await
        .unwrap();
    assert_eq!(srv.local_addr().port(), 53);
    let sock = ns
        .run(|| std::net::UdpSocket::bind("10.213.10.2:0").unwrap())
        .unwrap();
    sock.set_nonblocking(true).unwrap();
    let sock = tokio::net::UdpSocket::from_std(sock).unwrap();
    // Like a stub resolver: retry a lost datagram after a second.
    let mut buf = [0u8; 512];
    let mut got = None;
    for _ in 0..10 {
        sock.send_to(&query_bytes(7, "db", RecordType::A), "10.213.10.1:53")
            .await
            .unwrap();
        if let Ok(r) = tokio::time::timeout(Duration::from_secs(1), sock.recv(&mut buf)).await {
            got = Some(r.unwrap());
            break;
        }
    }
    let n = got.expect("no answer from the responder on the gateway");
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(
        a_records(&m),
        vec!["10.213.10.3".parse::<IpAddr>().unwrap()]
    );
    drop(srv);
    ns.delete().unwrap();
}
