//! IPv6 through berthd with the stock docker CLI: a dual-stack user network (`--ipv6
//! --subnet fd00:…/64`) gives containers an IPv6 address, route, hosts line, AAAA record and
//! inspect fields, its bridge the gateway, ip6tables rules in the daemon's chains; a
//! container on an IPv4-only network has IPv6 off on eth0; ports published on `[::1]` (and
//! without a host address) answer from the host through berthd's proxy, also after a
//! berthd SIGKILL and restart. Traffic stays on loopback and on the test's own bridges.

mod common;

use common::net::*;
use common::*;

/// A ULA /64 of this test's own: fd00:beef:<pid>:<n>::/64.
fn subnet6(n: u32) -> String {
    format!("fd00:beef:{:x}:{n:x}::/64", std::process::id() % 0xffff)
}

fn net_field(d: &Daemon, c: &str, net: &str, field: &str) -> String {
    d.inspect(
        c,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").{field}}}}}"),
    )
}

#[test]
fn ipv6_network_gives_containers_addresses_routes_names_and_rules() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let (_, suffix) = identity(&d);
    let before = (leases(&d), rules(&suffix), rules6(&suffix));
    let net = net_name("v6n");
    let _g = Nets(&d, vec![net.clone()]);
    let (sub4, sub6) = (subnet(20), subnet6(1));
    let prefix6 = sub6.trim_end_matches("/64");
    d.ok(&[
        "network", "create", "--ipv6", "--subnet", &sub4, "--subnet", &sub6, &net,
    ]);
    let v = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.EnableIPv6}}{{range .IPAM.Config}} {{.Subnet}}/{{.Gateway}}{{end}}",
        &net,
    ]);
    let gw4 = format!("{}.1", &sub4[..sub4.len() - 5]);
    let gw6 = format!("{prefix6}1");
    assert_eq!(v, format!("true {sub4}/{gw4} {sub6}/{gw6}"));
    let id = d.ok(&["network", "inspect", "-f", "{{.Id}}", &net]);
    let bridge = format!("br-{}", &id[..12]);
    let br_addrs = sh("ip", &["-6", "-o", "addr", "show", "dev", &bridge]);
    assert!(br_addrs.contains(&format!("{gw6}/64")), "{br_addrs}");

    let port = free_port();
    run_web(
        &d,
        &[
            "--name",
            "srv6",
            "--hostname",
            "srv6host",
            "--network",
            &net,
            "-p",
            &format!("{port}:80"),
        ],
    );
    let ip6 = net_field(&d, "srv6", &net, "GlobalIPv6Address");
    assert_eq!(ip6, format!("{prefix6}2"));
    assert_eq!(net_field(&d, "srv6", &net, "GlobalIPv6PrefixLen"), "64");
    assert_eq!(net_field(&d, "srv6", &net, "IPv6Gateway"), gw6);
    assert_eq!(
        d.inspect("srv6", "{{.NetworkSettings.GlobalIPv6Address}}"),
        ip6
    );
    let members = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{.IPv6Address}}{{end}}",
        &net,
    ]);
    assert_eq!(members, format!("srv6 {ip6}/64"));
    // Inside: the address is usable at once (no DAD), the default route goes to the
    // gateway, /etc/hosts names it.
    let a6 = d.ok(&["exec", "srv6", "ip", "-6", "-o", "addr", "show", "eth0"]);
    let line = a6
        .lines()
        .find(|l| l.contains(&format!("{ip6}/64")))
        .unwrap_or_else(|| panic!("{a6}"));
    assert!(!line.contains("tentative"), "{line}");
    let r6 = d.ok(&["exec", "srv6", "ip", "-6", "route"]);
    assert!(r6.contains(&format!("default via {gw6} dev eth0")), "{r6}");
    let hosts = d.ok(&["exec", "srv6", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip6}\tsrv6host")), "{hosts}");
    // Another container finds it by name over IPv6 (AAAA from the embedded DNS), reaches
    // it there, and gets the static --ip6 it asked for.
    let static6 = format!("{prefix6}99");
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip6",
        &static6,
        IMG,
        "sh",
        "-c",
        &format!(
            "nslookup -type=AAAA srv6 | tail -n +3; ip -6 -o addr show eth0; \
             for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- 'http://[{ip6}]/hostname' && exit 0; sleep 0.3; done; exit 1"
        ),
    ]);
    assert!(out.contains(&format!("Address: {ip6}")), "{out}");
    assert!(out.contains(&format!("{static6}/64")), "{out}");
    assert!(out.contains("srv6host"), "{out}");
    // The host reaches the published port on the gateway's IPv6 address (ip6tables DNAT)
    // and on [::1] (berthd's proxy).
    for addr in [format!("[{gw6}]:{port}"), format!("[::1]:{port}")] {
        let mut last = String::new();
        let ok = d.eventually(10, || match http_get_at(&addr, "/hostname") {
            Ok(r) if r.contains("srv6host") => true,
            Ok(r) => {
                last = format!("answer: {r:?}");
                false
            }
            Err(e) => {
                last = format!("error: {e}");
                false
            }
        });
        // What a failure needs to be understood: the nat rules, the routes and the
        // listeners at that moment.
        assert!(
            ok,
            "{addr}: {last}\n{}\n{}\n{}",
            sh("ip6tables", &["-w", "-t", "nat", "-S"]),
            sh("ip", &["-6", "route", "get", &gw6]),
            sh(
                "ss",
                &["-Htanp", &format!("( sport = :{port} or dport = :{port} )")]
            ),
        );
    }
    // The daemon's ip6tables chains: masquerade of the subnet, the port's DNAT.
    assert_nat6(&suffix, &sub6, &ip6);
    // A container on an IPv4-only network has no IPv6 on eth0.
    let v4net = net_name("v4n");
    let _g4 = Nets(&d, vec![v4net.clone()]);
    d.ok(&["network", "create", "--subnet", &subnet(21), &v4net]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        &v4net,
        IMG,
        "sh",
        "-c",
        "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6; ip -6 -o addr show eth0 | wc -l",
    ]);
    assert_eq!(out, "1\n0");
    // --ip6 on a network without IPv6 is refused.
    d.fails(
        &[
            "run",
            "--rm",
            "--network",
            &v4net,
            "--ip6",
            &static6,
            IMG,
            "true",
        ],
        "no IPv6 subnet",
    );

    d.ok(&["rm", "-f", "srv6"]);
    d.ok(&["network", "rm", &net, &v4net]);
    assert!(
        d.eventually(10, || (leases(&d), rules(&suffix), rules6(&suffix))
            == before),
        "leaked: {:?}",
        (leases(&d), rules(&suffix), rules6(&suffix))
    );
    assert!(sh("ip", &["link", "show", &bridge]).is_empty());
}

#[test]
fn ports_published_on_ipv6_loopback_answer_for_ipv4_only_containers() {
    if !have_prereqs() {
        return;
    }
    let mut d = Daemon::start();
    let (lo_port, any_port) = (free_port(), free_port());
    run_web(
        &d,
        &[
            "--name",
            "web",
            "--hostname",
            "webhost",
            "-p",
            &format!("[::1]:{lo_port}:80"),
            "-p",
            &format!("{any_port}:80"),
        ],
    );
    assert_eq!(
        d.inspect("web", "{{.NetworkSettings.GlobalIPv6Address}}"),
        ""
    );
    let curl = |url: &str| {
        let o = std::process::Command::new("curl")
            .args(["-sg", "--max-time", "5", url])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    for url in [
        format!("http://[::1]:{lo_port}/hostname"),
        format!("http://[::1]:{any_port}/hostname"),
        format!("http://127.0.0.1:{any_port}/hostname"),
    ] {
        assert!(
            d.eventually(5, || curl(&url).contains("webhost")),
            "{url} answers"
        );
    }
    // docker port and ps show what dockerd shows: no host address is both 0.0.0.0 and ::.
    let mut port_lines: Vec<String> = d.ok(&["port", "web"]).lines().map(str::to_owned).collect();
    port_lines.sort();
    let mut want = vec![
        format!("80/tcp -> 0.0.0.0:{any_port}"),
        format!("80/tcp -> [::1]:{lo_port}"),
        format!("80/tcp -> [::]:{any_port}"),
    ];
    want.sort();
    assert_eq!(port_lines, want);
    let ps = d.ok(&["ps", "--format", "{{.Ports}}", "-f", "name=web"]);
    for p in [
        format!("0.0.0.0:{any_port}->80/tcp"),
        format!("[::]:{any_port}->80/tcp"),
        format!("[::1]:{lo_port}->80/tcp"),
    ] {
        assert!(ps.contains(&p), "{p} in {ps}");
    }
    // The same [::1] port twice is refused.
    d.fails(
        &[
            "run",
            "--rm",
            "-p",
            &format!("[::1]:{lo_port}:80"),
            IMG,
            "true",
        ],
        "already allocated",
    );
    // The proxy comes back with a restarted berthd.
    d.kill9();
    assert!(
        std::net::TcpStream::connect(("::1", lo_port)).is_err(),
        "the proxy ends with berthd"
    );
    d.spawn();
    let url = format!("http://[::1]:{lo_port}/hostname");
    assert!(
        d.eventually(10, || curl(&url).contains("webhost")),
        "{url} answers after a restart"
    );
    d.ok(&["rm", "-f", "web"]);
    assert!(
        d.eventually(5, || std::net::TcpListener::bind(("::1", lo_port)).is_ok()),
        "the [::1] port is free again"
    );
}
