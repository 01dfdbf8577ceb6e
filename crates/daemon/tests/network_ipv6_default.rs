//! IPv6 on the default `bridge` network through berthd's `--ipv6 --fixed-cidr-v6` (and the
//! same `daemon.toml` keys), driven with the stock docker CLI: containers get an address of
//! the subnet, a route and a hosts line, inspect shows what dockerd shows, two containers
//! reach each other over IPv6, published ports answer on `[::1]`, a restart with other
//! flags reconfigures the network (unless a running container uses it), a bad subnet stops
//! berthd. Traffic stays on loopback and on the test daemon's own bridge.

mod common;

use common::net::*;
use common::*;

/// A ULA /64 of this test's own: fd00:bee6:<pid>:<n>::/64.
fn subnet6(n: u32) -> String {
    format!("fd00:bee6:{:x}:{n:x}::/64", std::process::id() % 0xffff)
}

/// `fd00:…::/64` → `fd00:…::`.
fn prefix(sub6: &str) -> &str {
    sub6.trim_end_matches("/64")
}

/// The default network's `EnableIPv6` and IPAM configs as `true sub/range/gw sub/range/gw`.
fn bridge_ipam(d: &Daemon) -> String {
    d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.EnableIPv6}}{{range .IPAM.Config}} {{.Subnet}}/{{.IPRange}}/{{.Gateway}}{{end}}",
        "bridge",
    ])
}

/// The global IPv6 addresses on `dev` (`ip -6 -o addr` lines).
fn global6(dev: &str) -> Vec<String> {
    sh(
        "ip",
        &["-6", "-o", "addr", "show", "dev", dev, "scope", "global"],
    )
    .lines()
    .filter_map(|l| l.split_whitespace().nth(3).map(str::to_owned))
    .collect()
}

#[test]
fn default_bridge_with_fixed_cidr_v6_gives_containers_ipv6() {
    if !have_prereqs() {
        return;
    }
    let sub6 = subnet6(1);
    let p6 = prefix(&sub6).to_owned();
    let gw6 = format!("{p6}1");
    let d = Daemon::start_with(&["--ipv6", "--fixed-cidr-v6", &sub6]);
    let (bridge, suffix) = identity(&d);
    let before = (leases(&d), rules(&suffix), rules6(&suffix));

    // The network: dual-stack, both IPAM configs (fixed-cidr-v6 is subnet and range, as
    // dockerd 28 shows it), the gateway on the bridge.
    let v = bridge_ipam(&d);
    let (v4, v6) = v
        .split_once(&format!(" {sub6}"))
        .unwrap_or_else(|| panic!("{v}"));
    assert!(v4.starts_with("true 10.") && v4.ends_with(".1"), "{v}");
    assert_eq!(v6, format!("/{sub6}/{gw6}"));
    assert_eq!(global6(&bridge), vec![format!("{gw6}/64")]);

    // A --rm container: an address of the subnet (usable at once), the default route to the
    // gateway, a hosts line.
    let out = d.ok(&[
        "run",
        "--rm",
        "--hostname",
        "h6",
        IMG,
        "sh",
        "-c",
        "ip -6 -o addr show eth0 scope global; ip -6 route; cat /etc/hosts",
    ]);
    let addr = format!("{p6}2");
    assert!(out.contains(&format!("inet6 {addr}/64")), "{out}");
    assert!(!out.contains("tentative"), "{out}");
    assert!(
        out.contains(&format!("default via {gw6} dev eth0")),
        "{out}"
    );
    assert!(out.contains(&format!("{addr}\th6")), "{out}");

    // Two containers: a web server publishing on [::1] and on all addresses, a client.
    let (lo_port, any_port) = (free_port(), free_port());
    run_web(
        &d,
        &[
            "--name",
            "web6",
            "--hostname",
            "web6host",
            "-p",
            &format!("[::1]:{lo_port}:80"),
            "-p",
            &format!("{any_port}:80"),
        ],
    );
    d.ok(&["run", "-d", "--name", "cli6", IMG, "sleep", "60"]);
    let ip6 = d.inspect("web6", "{{.NetworkSettings.GlobalIPv6Address}}");
    assert!(ip6.starts_with(&p6), "{ip6} in {sub6}");
    assert_eq!(
        d.inspect(
            "web6",
            "{{.NetworkSettings.GlobalIPv6PrefixLen}} {{.NetworkSettings.IPv6Gateway}}"
        ),
        format!("64 {gw6}")
    );
    assert_eq!(
        d.inspect(
            "web6",
            "{{with .NetworkSettings.Networks.bridge}}{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}}{{end}}"
        ),
        format!("{ip6}/64 {gw6}")
    );
    let members = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}}={{.IPv6Address}} {{end}}",
        "bridge",
    ]);
    assert!(members.contains(&format!("web6={ip6}/64")), "{members}");
    let hosts = d.ok(&["exec", "web6", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip6}\tweb6host")), "{hosts}");

    // Container to container over IPv6, inside the test's bridge.
    let ping = d.ok(&["exec", "cli6", "ping", "-c", "2", "-W", "3", &ip6]);
    assert!(ping.contains("2 packets received"), "{ping}");
    let page = d.ok(&[
        "exec",
        "cli6",
        "sh",
        "-c",
        &format!("for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- 'http://[{ip6}]/hostname' && exit 0; sleep 0.3; done; exit 1"),
    ]);
    assert!(page.contains("web6host"), "{page}");

    // The host over IPv6 loopback (berthd's proxy) for both ports, and the gateway's
    // address (ip6tables DNAT) for the port on all addresses.
    for addr in [
        format!("[::1]:{lo_port}"),
        format!("[::1]:{any_port}"),
        format!("[{gw6}]:{any_port}"),
    ] {
        assert!(
            d.eventually(5, || http_get_at(&addr, "/hostname")
                .is_ok_and(|r| r.contains("web6host"))),
            "{addr}"
        );
    }
    // Rules in the daemon's ip6tables chains: masquerade of the subnet, the port's DNAT.
    assert_nat6(&suffix, &sub6, &ip6);
    // As dockerd: no static address on the default network, IPv6 included.
    d.fails(
        &["run", "--rm", "--ip6", &format!("{p6}99"), IMG, "true"],
        "user specified IP address is supported on user defined networks only",
    );

    d.ok(&["rm", "-f", "web6", "cli6"]);
    assert!(
        d.eventually(10, || (leases(&d), rules(&suffix), rules6(&suffix))
            == before),
        "leaked: {:?}",
        (leases(&d), rules(&suffix), rules6(&suffix))
    );
}

#[test]
fn restarts_reconfigure_the_default_bridge_ipv6() {
    if !have_prereqs() {
        return;
    }
    let (sub_a, sub_b) = (subnet6(2), subnet6(3));
    let (pa, pb) = (prefix(&sub_a).to_owned(), prefix(&sub_b).to_owned());
    let mut d = Daemon::start_with(&["--ipv6", "--fixed-cidr-v6", &sub_a]);
    let (bridge, suffix) = identity(&d);
    let addr6 = |d: &Daemon| {
        d.ok(&[
            "run", "--rm", IMG, "ip", "-6", "-o", "addr", "show", "eth0", "scope", "global",
        ])
    };
    assert!(addr6(&d).contains(&format!("{pa}2/64")));

    // Without --ipv6: IPv4 only again, the bridge's IPv6 address and rules gone, containers
    // with IPv6 off on eth0.
    assert!(d.terminate());
    d.args.clear();
    d.spawn();
    let v = bridge_ipam(&d);
    assert!(v.starts_with("false 10.") && !v.contains(':'), "{v}");
    assert!(global6(&bridge).is_empty(), "{:?}", global6(&bridge));
    assert!(
        !rules6(&suffix).iter().any(|r| r.contains(&sub_a)),
        "{:?}",
        rules6(&suffix)
    );
    let out = d.ok(&[
        "run",
        "--rm",
        IMG,
        "sh",
        "-c",
        "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6; ip -6 -o addr show eth0 | wc -l",
    ]);
    assert_eq!(out, "1\n0");
    let hosts = d.ok(&["run", "--rm", IMG, "cat", "/etc/hosts"]);
    assert!(!hosts.contains("fd00:bee6:"), "{hosts}");

    // The daemon.toml keys, with another subnet: the new one replaces the old everywhere.
    assert!(d.terminate());
    d.set_config("ipv6", Some("true"));
    d.set_config("fixed-cidr-v6", Some(&format!("{sub_b:?}")));
    d.spawn();
    assert!(bridge_ipam(&d).ends_with(&format!(" {sub_b}/{sub_b}/{pb}1")));
    assert_eq!(global6(&bridge), vec![format!("{pb}1/64")]);
    assert!(addr6(&d).contains(&format!("{pb}2/64")));

    // While a container runs on it, a restart with other settings keeps the network as it
    // is (dockerd does not reconfigure it either); once none runs, they apply.
    d.ok(&["run", "-d", "--name", "keep6", IMG, "sleep", "120"]);
    let ip6 = d.inspect("keep6", "{{.NetworkSettings.GlobalIPv6Address}}");
    assert!(ip6.starts_with(&pb), "{ip6}");
    assert!(d.terminate());
    d.set_config("ipv6", None);
    d.set_config("fixed-cidr-v6", None);
    d.spawn();
    assert!(bridge_ipam(&d).starts_with("true "), "kept while in use");
    assert_eq!(global6(&bridge), vec![format!("{pb}1/64")]);
    assert!(
        d.log()
            .contains("there are running containers on the default bridge network")
    );
    let ping = d.ok(&["run", "--rm", IMG, "ping", "-c", "1", "-W", "3", &ip6]);
    assert!(ping.contains("1 packets received"), "{ping}");
    d.ok(&["rm", "-f", "keep6"]);
    assert!(d.terminate());
    d.spawn();
    assert!(bridge_ipam(&d).starts_with("false "));
    assert!(global6(&bridge).is_empty());

    // --ipv6 alone: a unique-local /64 derived from the network (dockerd 28 takes one from
    // its ULA pool), the same at every start.
    assert!(d.terminate());
    d.args = vec!["--ipv6".into()];
    d.spawn();
    let v = bridge_ipam(&d);
    let ula = v.split_whitespace().nth(2).unwrap_or_default().to_owned();
    assert!(ula.starts_with("fd") && ula.contains("::/64//"), "{v}");
    let sub = ula.split("//").next().unwrap().to_owned();
    assert!(addr6(&d).contains(&format!("{}2/64", prefix(&sub))));
    assert!(d.terminate());
    d.spawn();
    assert_eq!(
        bridge_ipam(&d).split_whitespace().nth(2),
        Some(ula.as_str())
    );

    // A fixed-cidr-v6 that overlaps a user network's IPv6 subnet stops the start before
    // the rules in place are touched. (berthd runs again before anything is asserted, so
    // the network is removed even when an assertion fails.)
    let sub_c = subnet6(4);
    let net = net_name("v6o");
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &subnet(30),
        "--subnet",
        &sub_c,
        &net,
    ]);
    let before = rules6(&suffix);
    assert!(d.terminate());
    d.args = vec!["--ipv6".into(), "--fixed-cidr-v6".into(), sub_c.clone()];
    let err = d.try_spawn().err();
    let kept = rules6(&suffix) == before;
    d.args = vec!["--ipv6".into()];
    d.spawn();
    d.ok(&["network", "rm", &net]);
    let err = err.expect("an overlapping fixed-cidr-v6 stops berthd");
    assert!(
        err.contains(&format!(
            "fixed-cidr-v6 {sub_c} overlaps the IPv6 subnet {sub_c} of network {net}"
        )),
        "{err}"
    );
    assert!(kept, "the rules stay while berthd is refused");
}

#[test]
fn bad_fixed_cidr_v6_stops_berthd_with_a_clear_error() {
    if !have_prereqs() {
        return;
    }
    for bad in [
        "fd00::1::/64",
        "10.20.30.0/24",
        "ff02::/64",
        "fe80::/64",
        "fd00::",
    ] {
        let mut d = Daemon::prepared(&["--ipv6", "--fixed-cidr-v6", bad]);
        let err = d.try_spawn().expect_err(bad);
        assert!(
            err.contains(&format!("invalid fixed-cidr-v6 {bad}")),
            "{bad}: {err}"
        );
        assert!(
            !d.sock.exists() && !d.data.join("berth.db").exists(),
            "{bad}"
        );
    }
    // The same from daemon.toml, and checked even without ipv6 (as dockerd does).
    let mut d = Daemon::prepared(&[]);
    assert!(d.try_spawn().is_ok());
    assert!(d.terminate());
    d.set_config("fixed-cidr-v6", Some("\"ff02::/64\""));
    let err = d.try_spawn().expect_err("multicast from daemon.toml");
    assert!(
        err.contains("invalid fixed-cidr-v6 ff02::/64") && err.contains("multicast"),
        "{err}"
    );
}

/// dockerd's other default-bridge flags: `--fixed-cidr` and `--fixed-cidr-v6` narrow where
/// container addresses come from, `--bip6` puts its address on the bridge, and
/// `--default-gateway(-v6)` become the containers' default routes, shown by `network
/// inspect` as dockerd shows them (`IPRange`, `AuxiliaryAddresses`) and in the
/// container's `Gateway`/`IPv6Gateway`. A default gateway outside the subnet stops berthd.
#[test]
fn fixed_cidr_bip6_and_default_gateways_shape_the_default_bridge() {
    if !have_prereqs() {
        return;
    }
    let mut d = Daemon::prepared(&[]);
    // The per-test bip of the generated daemon.toml (10.A.B.1/24), made by the first spawn.
    let _ = d.try_spawn();
    let cfg = std::fs::read_to_string(d.dir.path().join("daemon.toml")).unwrap();
    let bip = cfg
        .lines()
        .find_map(|l| l.strip_prefix("bip = \"")?.strip_suffix('"'))
        .unwrap()
        .to_owned();
    let p4 = bip.trim_end_matches("1/24").to_owned();
    let sub6 = subnet6(5);
    let p6 = prefix(&sub6).to_owned();
    let (fixed, gw) = (format!("{p4}128/25"), format!("{p4}254"));
    // fd00:…:5:8::/80, the range; fd00:…:5::1/64 on the bridge.
    let q6 = p6.trim_end_matches("::").to_owned();
    let (bip6, fixed6, gw6) = (
        format!("{p6}1/64"),
        format!("{q6}:8::/80"),
        format!("{p6}fe"),
    );
    d.terminate();
    d.args = [
        "--fixed-cidr",
        &fixed,
        "--default-gateway",
        &gw,
        "--ipv6",
        "--bip6",
        &bip6,
        "--fixed-cidr-v6",
        &fixed6,
        "--default-gateway-v6",
        &gw6,
    ]
    .map(String::from)
    .to_vec();
    d.spawn();
    let tar = busybox_tarball(d.dir.path());
    d.ok(&["import", tar.to_str().unwrap(), IMG]);
    let (bridge, _) = identity(&d);
    let v = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}} {{.IPRange}} {{.Gateway}} {{json .AuxiliaryAddresses}};{{end}}",
        "bridge",
    ]);
    assert_eq!(
        v,
        format!(
            "{p4}0/24 {fixed} {p4}1 {{\"DefaultGatewayIPv4\":\"{gw}\"}};{sub6} {fixed6} {p6}1 {{\"DefaultGatewayIPv6\":\"{gw6}\"}};"
        )
    );
    assert_eq!(global6(&bridge), vec![bip6.clone()]);
    let out = d.ok(&[
        "run",
        "--rm",
        IMG,
        "sh",
        "-c",
        "ip -o addr show eth0 scope global; ip route; ip -6 route",
    ]);
    assert!(out.contains(&format!("inet {p4}128/24")), "{out}");
    assert!(out.contains(&format!("inet6 {q6}:8::")), "{out}");
    assert!(out.contains(&format!("default via {gw} dev eth0")), "{out}");
    assert!(
        out.contains(&format!("default via {gw6} dev eth0")),
        "{out}"
    );
    d.ok(&["run", "-d", "--name", "gw", IMG, "sleep", "60"]);
    assert_eq!(
        d.inspect(
            "gw",
            "{{.NetworkSettings.Gateway}} {{.NetworkSettings.IPv6Gateway}}"
        ),
        format!("{gw} {gw6}")
    );
    d.ok(&["rm", "-f", "gw"]);
    // A default gateway outside the subnet stops the start.
    d.terminate();
    d.args = ["--default-gateway", "192.0.2.1"]
        .map(String::from)
        .to_vec();
    let err = d
        .try_spawn()
        .expect_err("a gateway outside the subnet stops berthd");
    assert!(err.contains("192.0.2.1"), "{err}");
}
