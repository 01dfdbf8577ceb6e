//! Networking through berthd with the stock docker CLI: the default bridge, published
//! ports on 127.0.0.1 (tcp and udp), user-defined networks with DNS names and aliases,
//! `--internal`, `-P`, many containers on one network, `network rm` of a network in use,
//! the cni driver, and leak checks (host veths, berth's iptables chains, leases, netns
//! files) including after berthd is SIGKILLed and restarted. All traffic stays on
//! loopback or on the test daemon's own bridges.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::net::*;
use common::*;

#[test]
fn published_tcp_and_udp_ports_on_localhost_answer_and_nothing_leaks() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let before = snapshot(&d);
    let (tport, uport) = (free_port(), free_port());
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--hostname",
        "webhost",
        "-p",
        &format!("127.0.0.1:{tport}:80"),
        "-p",
        &format!("127.0.0.1:{uport}:9999/udp"),
        IMG,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    // The UDP echo runs in the container's network namespace on a thread of this test
    // (busybox has no UDP server).
    let key = d.inspect("web", "{{.NetworkSettings.SandboxKey}}");
    let ns = std::fs::File::open(&key).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        // SAFETY: setns(2) moves only this thread, which does nothing else afterwards.
        assert_eq!(
            unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let s = UdpSocket::bind("0.0.0.0:9999").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        tx.send(()).unwrap();
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], peer);
        }
    });
    rx.recv().unwrap();
    let ip = d.inspect("web", "{{.NetworkSettings.IPAddress}}");
    assert!(
        !ip.is_empty(),
        "the container has an address on the default bridge"
    );
    let got = (0..50)
        .find_map(|_| {
            let r = http_get(tport, "/hostname")
                .ok()
                .filter(|r| r.contains("200 OK"));
            if r.is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
            r
        })
        .expect("httpd answers through 127.0.0.1");
    assert!(got.contains("webhost"), "{got}");
    // UDP echo: each try from a fresh source port (see berth-net's firewall tests).
    let mut echoed = false;
    for _ in 0..50 {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s.send_to(b"ping-udp", ("127.0.0.1", uport)).unwrap();
        let mut buf = [0u8; 64];
        if let Ok((n, _)) = s.recv_from(&mut buf)
            && &buf[..n] == b"ping-udp"
        {
            echoed = true;
            break;
        }
    }
    assert!(echoed, "udp echo through the published port");
    // ps, inspect and port show the bindings.
    let ps = d.ok(&["ps", "--format", "{{.Ports}}", "-f", "name=web"]);
    assert!(ps.contains(&format!("127.0.0.1:{tport}->80/tcp")), "{ps}");
    let port = d.ok(&["port", "web", "80"]);
    assert_eq!(port, format!("127.0.0.1:{tport}"));
    // The container's files.
    let hosts = d.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip}\twebhost")), "{hosts}");
    // A second publisher of the same host port is refused.
    let out = d.docker(&[
        "run",
        "--rm",
        "-p",
        &format!("127.0.0.1:{tport}:80"),
        IMG,
        "true",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already allocated"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "-f", "web"]);
    assert_back_to(&d, &before, 10);
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_alias() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let net = net_name("un");
    let _g = Nets(&d, vec![net.clone()]);
    let sub = subnet(1);
    d.ok(&[
        "network", "create", "--subnet", &sub, "--label", "k=v", &net,
    ]);
    let v = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Labels.k}} {{.Driver}}",
        &net,
    ]);
    assert_eq!(v, format!("{sub} v bridge"));
    d.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        &net,
        "--network-alias",
        "web-alias",
        IMG,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let ip = d.inspect(
        "srv",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    assert!(ip.starts_with(&sub[..sub.len() - 4]), "{ip} in {sub}");
    for name in ["srv", "web-alias"] {
        let out = fetch_on(&d, &net, name);
        assert!(!out.is_empty(), "{name} answered");
    }
    // `network inspect` lists the container; `network rm` while in use is a 409.
    let cs = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}}{{end}}",
        &net,
    ]);
    assert_eq!(cs, "srv");
    assert_eq!(api_status(&d, "DELETE", &format!("/networks/{net}")), 409);
    // connect/disconnect a second network at runtime.
    let net2 = net_name("un2-");
    let _g2 = Nets(&d, vec![net2.clone()]);
    d.ok(&["network", "create", "--subnet", &subnet(2), &net2]);
    d.ok(&["network", "connect", "--alias", "second", &net2, "srv"]);
    let links = d.ok(&["exec", "srv", "ip", "-o", "-4", "addr"]);
    assert!(links.contains("eth1"), "{links}");
    d.ok(&["network", "disconnect", &net2, "srv"]);
    let links = d.ok(&["exec", "srv", "ip", "-o", "-4", "addr"]);
    assert!(!links.contains("eth1"), "{links}");
    d.ok(&["rm", "-f", "srv"]);
    d.ok(&["network", "rm", &net, &net2]);
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!ls.contains(&net), "{ls}");
    // The network's life in the event stream.
    std::thread::sleep(Duration::from_millis(1100));
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let ev = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "type=network",
        "--filter",
        &format!("network={net}"),
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = ev.lines().collect();
    for a in ["create", "connect", "disconnect", "destroy"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

#[test]
fn internal_network_has_no_way_out() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let (inet, onet) = (net_name("in"), net_name("out"));
    let _g = Nets(&d, vec![inet.clone(), onet.clone()]);
    d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &subnet(3),
        &inet,
    ]);
    d.ok(&["network", "create", "--subnet", &subnet(4), &onet]);
    // The target: the other network's gateway, a host address on a bridge of this test.
    let gw = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        &onet,
    ]);
    let listener = std::net::TcpListener::bind((gw.as_str(), 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts and closes at once, so a connected nc ends; the thread ends with the test.
    std::thread::spawn(move || {
        for c in listener.incoming() {
            drop(c);
        }
    });
    let probe = format!("nc -w 2 {gw} {port} </dev/null && echo reached || echo blocked");
    let from_out = d.ok(&["run", "--rm", "--network", &onet, IMG, "sh", "-c", &probe]);
    assert_eq!(from_out, "reached", "a normal network reaches the host");
    let from_in = d.ok(&["run", "--rm", "--network", &inet, IMG, "sh", "-c", &probe]);
    assert_eq!(from_in, "blocked", "an internal network does not");
    // Inside the internal network, containers still talk to each other by name.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "isrv",
        "--network",
        &inet,
        IMG,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let out = fetch_on(&d, &inet, "isrv");
    assert!(!out.is_empty());
    d.ok(&["rm", "-f", "isrv"]);
}

#[test]
fn publish_all_picks_free_ports_shown_by_docker_port() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run", "-d", "--name", "pub", "-P", "--expose", "80", "--expose", "81", IMG, "httpd", "-f",
        "-p", "80", "-h", "/etc",
    ]);
    let out = d.ok(&["port", "pub"]);
    let mut hostports = Vec::new();
    // Each port is on 0.0.0.0 and on [::] (the same host port), as dockerd lists it.
    for line in out.lines().filter(|l| l.contains("0.0.0.0:")) {
        // 80/tcp -> 0.0.0.0:NNNNN
        let hp: u16 = line.rsplit(':').next().unwrap().parse().unwrap();
        assert!(hp > 1024, "{line}");
        hostports.push((line.split('/').next().unwrap().trim().to_owned(), hp));
    }
    assert_eq!(hostports.len(), 2, "{out}");
    for (c, hp) in &hostports {
        assert!(out.contains(&format!("{c}/tcp -> [::]:{hp}")), "{out}");
    }
    assert_ne!(hostports[0].1, hostports[1].1);
    let p80 = hostports.iter().find(|(c, _)| c == "80").unwrap().1;
    assert!(
        d.eventually(5, || http_get(p80, "/hostname")
            .is_ok_and(|r| r.contains("200 OK"))),
        "the -P port answers on 127.0.0.1"
    );
    let ps = d.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!(":{p80}->80/tcp")), "{ps}");
}

#[test]
fn many_containers_on_one_network_get_unique_addresses_and_resolve_each_other() {
    if !have_prereqs() {
        return;
    }
    const N: usize = 100;
    let d = Daemon::start();
    let net = net_name("many");
    let _g = Nets(&d, vec![net.clone()]);
    // A /24 holds them all.
    d.ok(&["network", "create", "--subnet", &subnet(5), &net]);
    let before = snapshot(&d);
    let names: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    std::thread::scope(|s| {
        for chunk in names.chunks(N / 4) {
            let (d, net) = (&d, &net);
            s.spawn(move || {
                for n in chunk {
                    d.ok(&[
                        "run",
                        "-d",
                        "--name",
                        n,
                        "--network",
                        net,
                        IMG,
                        "sleep",
                        "600",
                    ]);
                }
            });
        }
    });
    let fmt = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
    let mut args = vec!["inspect", "-f", fmt.as_str()];
    args.extend(names.iter().map(String::as_str));
    let ips: Vec<String> = d.ok(&args).lines().map(str::to_owned).collect();
    let uniq: std::collections::HashSet<&String> = ips.iter().collect();
    assert_eq!(uniq.len(), N, "unique addresses: {ips:?}");
    // One container resolves every other's name to the address inspect shows.
    let script = names
        .iter()
        .map(|n| format!("nslookup {n} | tail -n +3 | grep -m1 Address | sed 's/.* //'"))
        .collect::<Vec<_>>()
        .join("; ");
    let got = d.ok(&["exec", "m0", "sh", "-c", &script]);
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got.len(), N, "{got:?}");
    for (i, ip) in ips.iter().enumerate() {
        assert_eq!(got[i], ip, "{} resolves", names[i]);
    }
    let mut rm = vec!["rm", "-f"];
    rm.extend(names.iter().map(String::as_str));
    d.ok(&rm);
    assert_back_to(&d, &before, 20);
    let cs = d.ok(&["network", "inspect", "-f", "{{len .Containers}}", &net]);
    assert_eq!(cs, "0");
}

#[test]
fn berthd_sigkill_and_restart_reconciles_networking() {
    if !have_prereqs() {
        return;
    }
    let mut d = Daemon::start();
    let before = snapshot(&d);
    let port = free_port();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "keep",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        IMG,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let gone = d.ok(&[
        "run",
        "-d",
        "--name",
        "gone",
        "-p",
        "127.0.0.1::80",
        IMG,
        "sleep",
        "600",
    ]);
    let gone_ip = d.inspect("gone", "{{.NetworkSettings.IPAddress}}");
    assert!(d.eventually(5, || {
        http_get(port, "/hostname").is_ok_and(|r| r.contains("200 OK"))
    }));
    d.kill9();
    // While berthd is down, one container dies with everything it had.
    kill_cgroup(&gone);
    std::thread::sleep(Duration::from_millis(300));
    d.spawn();
    assert!(
        d.eventually(10, || d.inspect("gone", "{{.State.Status}}") == "exited"),
        "the dead container is seen as exited"
    );
    // The survivor still answers; the dead one holds nothing.
    assert!(d.eventually(5, || {
        http_get(port, "/hostname").is_ok_and(|r| r.contains("200 OK"))
    }));
    let (br, suffix) = identity(&d);
    assert!(
        d.eventually(10, || ports_of(&br).len() == 1),
        "{:?}",
        ports_of(&br)
    );
    assert!(!netns_files(&d).contains(&gone), "{:?}", netns_files(&d));
    assert_eq!(leases(&d).len(), 1, "{:?}", leases(&d));
    assert!(
        !rules(&suffix)
            .iter()
            .any(|r| r.contains(&format!("{gone_ip}/32")) || r.contains(&format!("{gone_ip}:"))),
        "{:?}",
        rules(&suffix)
    );
    d.ok(&["rm", "-f", "keep", "gone"]);
    assert_back_to(&d, &before, 10);
}

#[test]
fn network_rm_in_use_is_a_conflict_and_prune_removes_unused() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let (a, b) = (net_name("pa"), net_name("pb"));
    let _g = Nets(&d, vec![a.clone(), b.clone()]);
    d.ok(&["network", "create", "--subnet", &subnet(6), &a]);
    d.ok(&["network", "create", "--subnet", &subnet(7), &b]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "user1",
        "--network",
        &a,
        IMG,
        "sleep",
        "600",
    ]);
    let out = d.docker(&["network", "rm", &a]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("active endpoints"),
        "{}",
        stderr(&out)
    );
    assert_eq!(api_status(&d, "DELETE", &format!("/networks/{a}")), 409);
    assert_eq!(api_status(&d, "DELETE", "/networks/bridge"), 400);
    assert_eq!(api_status(&d, "GET", "/networks/nonexistent-net"), 404);
    let out = d.docker(&["network", "create", &a]);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    // Two subnets of one family: refused as dockerd's bridge driver refuses them (403).
    let c = net_name("pc");
    let out = d.docker(&[
        "network",
        "create",
        "--subnet",
        &subnet(8),
        "--subnet",
        &subnet(9),
        &c,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "Error response from daemon: bridge driver doesn't support multiple subnets"
    );
    assert!(!d.docker(&["network", "inspect", &c]).status.success());
    let pruned = d.ok(&["network", "prune", "-f"]);
    assert!(pruned.contains(&b) && !pruned.contains(&a), "{pruned}");
    d.ok(&["rm", "-f", "user1"]);
    d.ok(&["network", "rm", &a]);
}

/// A conflist of the Debian `bridge` plugin on a bridge of its own with `host-local` IPAM
/// on `subnet(n)`, keeping its leases under the test's directory (never /var/lib/cni);
/// the bridge the plugin makes is deleted on drop, also when the test fails.
struct CniConf {
    conf: std::path::PathBuf,
    /// host-local's lease directory of this conflist.
    leases: std::path::PathBuf,
    bridge: String,
    sub: String,
}

impl CniConf {
    /// `None` (and a note) when the plugins are not installed. `ips`: the bridge plugin
    /// declares the `ips` capability (what `--ip` needs).
    fn new(d: &Daemon, n: u32, tag: &str, ips: bool) -> Option<Self> {
        if !["bridge", "host-local"]
            .iter()
            .all(|p| Path::new("/usr/lib/cni").join(p).is_file())
        {
            eprintln!("skipped: containernetworking-plugins not installed");
            return None;
        }
        let key = std::process::id() % 100_000;
        let bridge = format!("cni{tag}{key}");
        let sub = subnet(n);
        let data = d.dir.path().join(format!("cni-ipam{tag}"));
        let name = format!("cnitest{tag}{key}");
        let conf = d.dir.path().join(format!("test{tag}.conflist"));
        std::fs::write(
            &conf,
            serde_json::json!({
                "cniVersion": "1.0.0",
                "name": name,
                "plugins": [{
                    "type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
                    "capabilities": {"ips": ips},
                    "ipam": {"type": "host-local", "dataDir": data, "ranges": [[{"subnet": sub}]],
                             "routes": [{"dst": "0.0.0.0/0"}]}
                }]
            })
            .to_string(),
        )
        .unwrap();
        Some(Self {
            conf,
            leases: data.join(name),
            bridge,
            sub,
        })
    }

    /// `docker network create --driver cni` of this conflist, with `extra` flags.
    fn create(&self, d: &Daemon, net: &str, extra: &[&str]) {
        let opt = format!("config={}", self.conf.display());
        let mut args = vec!["network", "create", "--driver", "cni", "--opt", &opt];
        args.extend_from_slice(extra);
        args.push(net);
        d.ok(&args);
    }

    /// Address `host` of the subnet (`10.x.y.{host}`).
    fn ip(&self, host: u8) -> String {
        format!("{}.{host}", &self.sub[..self.sub.len() - 5])
    }

    /// The addresses host-local holds a lease file for.
    fn leased(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.leases)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|f| f.starts_with("10."))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for CniConf {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

#[test]
fn cni_network_runs_the_debian_plugins() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let Some(c) = CniConf::new(&d, 8, "", false) else {
        return;
    };
    let net = net_name("cni");
    let _g = Nets(&d, vec![net.clone()]);
    c.create(&d, &net, &[]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        &net,
        IMG,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let ip = d.inspect(
        "c1",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    assert!(
        ip.starts_with(&c.ip(0)[..c.ip(0).len() - 1]),
        "{ip} in {}",
        c.sub
    );
    let inside = d.ok(&["exec", "c1", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(inside.contains(&ip), "{inside}");
    let got = fetch_on(&d, &net, &ip);
    assert!(!got.is_empty());
    d.ok(&["rm", "-f", "c1"]);
    // host-local keeps one file per leased address: none left.
    assert_eq!(c.leased(), Vec::<String>::new());
    d.ok(&["network", "rm", &net]);
}

/// A container's addresses on one interface (`ip -o addr show`).
fn addrs(d: &Daemon, name: &str, ifname: &str) -> String {
    d.ok(&["exec", name, "ip", "-o", "addr", "show", ifname])
}

/// The template of a container's `IPAMConfig` on `net`.
fn ipam_config(net: &str) -> String {
    format!("{{{{json (index .NetworkSettings.Networks \"{net}\").IPAMConfig}}}}")
}

/// `run --link-local-ip 169.254.10.10 --link-local-ip fe80::10` on `net` as `ll`: both
/// addresses on its eth0 (/16 and /64, as dockerd) and in its IPAMConfig. Returns eth0's
/// addresses.
fn run_link_local(d: &Daemon, net: &str) -> String {
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ll",
        "--network",
        net,
        "--link-local-ip",
        "169.254.10.10",
        "--link-local-ip",
        "fe80::10",
        IMG,
        "sleep",
        "600",
    ]);
    let a = addrs(d, "ll", "eth0");
    assert!(a.contains("inet 169.254.10.10/16"), "{a}");
    assert!(a.contains("inet6 fe80::10/64"), "{a}");
    assert_eq!(
        d.inspect("ll", &ipam_config(net)),
        r#"{"LinkLocalIPs":["169.254.10.10","fe80::10"]}"#
    );
    a
}

/// `network connect --link-local-ip 169.254.30.30 net name`: the address on its eth1.
fn connect_link_local(d: &Daemon, net: &str, name: &str) {
    d.ok(&[
        "network",
        "connect",
        "--link-local-ip",
        "169.254.30.30",
        net,
        name,
    ]);
    let a = addrs(d, name, "eth1");
    assert!(a.contains("inet 169.254.30.30/16"), "{a}");
}

/// `--link-local-ip` on a cni network: the addresses (IPv4 /16, IPv6 /64) go on the
/// interface the CNI chain made, inspect shows them as on a bridge network, at `run` and
/// at `network connect`; they go with the interface at disconnect.
#[test]
fn cni_network_takes_link_local_ips() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let Some(c) = CniConf::new(&d, 50, "l", false) else {
        return;
    };
    let net = net_name("cnil");
    let _g = Nets(&d, vec![net.clone()]);
    c.create(&d, &net, &[]);
    let a = run_link_local(&d, &net);
    assert!(a.contains(&format!("inet {}/24", c.ip(2))), "{a}");
    let fmt = ipam_config(&net);
    // Through `network connect` to a container on the default network.
    d.ok(&["run", "-d", "--name", "llc", IMG, "sleep", "600"]);
    connect_link_local(&d, &net, "llc");
    assert_eq!(
        d.inspect("llc", &fmt),
        r#"{"LinkLocalIPs":["169.254.30.30"]}"#
    );
    d.ok(&["network", "disconnect", &net, "llc"]);
    let all = d.ok(&["exec", "llc", "ip", "-o", "addr"]);
    assert!(!all.contains("169.254.30.30"), "{all}");
    d.ok(&["rm", "-f", "ll", "llc"]);
    assert_eq!(c.leased(), Vec::<String>::new());
}

/// `network create --driver cni --aux-address`: host-local never hands the addresses out
/// (a lease file each, made at create, gone at `network rm`); `network inspect` shows them
/// in IPAM.Config with the conflist's subnet and gateway. What cannot be honoured is
/// refused: an address outside the subnets, the default-gateway names, an IPAM other than
/// host-local.
#[test]
fn cni_network_keeps_aux_addresses_from_containers() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let Some(c) = CniConf::new(&d, 51, "a", true) else {
        return;
    };
    let net = net_name("cnia");
    let _g = Nets(&d, vec![net.clone()]);
    let (r2, r3) = (c.ip(2), c.ip(3));
    c.create(
        &d,
        &net,
        &[
            "--subnet",
            &c.sub,
            "--aux-address",
            &format!("router={r2}"),
            "--aux-address",
            &format!("nas={r3}"),
        ],
    );
    assert_eq!(
        d.ok(&["network", "inspect", "-f", "{{json .IPAM.Config}}", &net]),
        format!(
            r#"[{{"Subnet":"{}","Gateway":"{}","AuxiliaryAddresses":{{"nas":"{r3}","router":"{r2}"}}}}]"#,
            c.sub,
            c.ip(1)
        )
    );
    assert_eq!(c.leased(), vec![r2.clone(), r3.clone()]);
    // host-local hands out addresses in order from .2: the first container gets .4.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "a1",
        "--network",
        &net,
        IMG,
        "sleep",
        "600",
    ]);
    let fmt = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
    assert_eq!(d.inspect("a1", &fmt), c.ip(4));
    d.fails(
        &["run", "--rm", "--network", &net, "--ip", &r2, IMG, "true"],
        &format!("requested IP address {r2} is not available"),
    );
    d.ok(&["rm", "-f", "a1"]);
    assert_eq!(c.leased(), vec![r2.clone(), r3.clone()]);
    d.ok(&["network", "rm", &net]);
    assert_eq!(c.leased(), Vec::<String>::new());
    // Refused.
    let opt = format!("config={}", c.conf.display());
    let refused = |subnet: &str, aux: &str, needle: &str| {
        d.fails(
            &[
                "network",
                "create",
                "--driver",
                "cni",
                "--opt",
                &opt,
                "--subnet",
                subnet,
                "--aux-address",
                aux,
                &net,
            ],
            needle,
        );
    };
    refused(
        "192.0.2.0/24",
        "x=192.0.2.9",
        &format!(
            "--subnet 192.0.2.0/24 is not a subnet of the cni network's host-local IPAM ({})",
            c.sub
        ),
    );
    refused(
        &c.sub,
        &format!("DefaultGatewayIPv4={r2}"),
        "auxiliary address DefaultGatewayIPv4 is not supported on cni networks",
    );
    let stat = d.dir.path().join("static.conflist");
    std::fs::write(
        &stat,
        serde_json::json!({
            "cniVersion": "1.0.0", "name": "cnistatic",
            "plugins": [{"type": "bridge", "bridge": c.bridge,
                         "ipam": {"type": "static", "addresses": [{"address": format!("{r2}/24")}]}}]
        })
        .to_string(),
    )
    .unwrap();
    d.fails(
        &[
            "network",
            "create",
            "--driver",
            "cni",
            "--opt",
            &format!("config={}", stat.display()),
            "--subnet",
            &c.sub,
            "--aux-address",
            &format!("x={r3}"),
            &net,
        ],
        "a cni network's addresses come from its plugins, and its CNI config has no host-local IPAM",
    );
    assert!(!d.docker(&["network", "inspect", &net]).status.success());
    assert_eq!(c.leased(), Vec::<String>::new());
}

/// Endpoint driver options on a cni network: the interface name becomes the chain's
/// `CNI_IFNAME` and the interface sysctls are written as on a bridge network; the other
/// options reach the plugins as `CNI_ARGS` (host-local's `IP` picks the address), at
/// `run --network name=...,driver-opt=` and at `network connect --driver-opt`. An option
/// that cannot be written as `CNI_ARGS` is refused.
#[test]
fn cni_network_takes_endpoint_driver_options() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let Some(c) = CniConf::new(&d, 52, "o", false) else {
        return;
    };
    let net = net_name("cnio");
    let _g = Nets(&d, vec![net.clone()]);
    c.create(&d, &net, &[]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "o1",
        "--network",
        &format!(
            "name={net},driver-opt=com.docker.network.endpoint.ifname=front0,driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.conf.IFNAME.log_martians=1"
        ),
        IMG,
        "sleep",
        "600",
    ]);
    let out = d.ok(&[
        "exec",
        "o1",
        "sh",
        "-c",
        "ip -o -4 addr show front0; cat /proc/sys/net/ipv4/conf/front0/log_martians",
    ]);
    assert!(out.contains(&format!("inet {}/24", c.ip(2))), "{out}");
    assert!(out.ends_with("\n1"), "{out}");
    let fmt = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
    assert_eq!(d.inspect("o1", &fmt), c.ip(2));
    d.ok(&["run", "-d", "--name", "o2", IMG, "sleep", "600"]);
    let want = c.ip(77);
    d.ok(&[
        "network",
        "connect",
        "--driver-opt",
        &format!("IP={want}"),
        &net,
        "o2",
    ]);
    assert_eq!(d.inspect("o2", &fmt), want);
    let a = d.ok(&["exec", "o2", "ip", "-o", "-4", "addr", "show", "eth1"]);
    assert!(a.contains(&format!("inet {want}/24")), "{a}");
    assert_eq!(
        d.inspect(
            "o2",
            &format!("{{{{json (index .NetworkSettings.Networks \"{net}\").DriverOpts}}}}")
        ),
        format!(r#"{{"IP":"{want}"}}"#)
    );
    d.ok(&["network", "disconnect", &net, "o2"]);
    assert_eq!(c.leased(), vec![c.ip(2)]);
    // `--ip` goes to plugins under the `ips` capability, which this conflist does not give.
    d.fails(
        &[
            "run",
            "--rm",
            "--network",
            &net,
            "--ip",
            &c.ip(9),
            IMG,
            "true",
        ],
        &format!(
            "network {net}: --ip needs a plugin with the \"ips\" capability in the CNI config"
        ),
    );
    d.fails(
        &["network", "connect", "--driver-opt", "A;B=1", &net, "o2"],
        "driver option A;B=1 cannot be passed to the CNI plugins as CNI_ARGS",
    );
    d.ok(&["rm", "-f", "o1", "o2"]);
    assert_eq!(c.leased(), Vec::<String>::new());
}

#[test]
fn compose_builds_the_client_which_reaches_the_server_by_name_and_down_removes_everything() {
    if !have_prereqs() {
        return;
    }
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("skipped: docker-compose (Debian package) not installed");
        return;
    }
    let d = Daemon::start();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compose/docker-compose.yml");
    let proj = format!("cp{}", std::process::id());
    let compose = |args: &[&str]| {
        Command::new("timeout")
            .args(["-k", "2", "120", "docker-compose", "-f"])
            .arg(&file)
            .args(["-p", &proj])
            .args(args)
            .env("DOCKER_HOST", d.host())
            .env("SUBNET", subnet(9))
            .output()
            .unwrap()
    };
    struct Down<F: Fn(&[&str]) -> std::process::Output>(F);
    impl<F: Fn(&[&str]) -> std::process::Output> Drop for Down<F> {
        fn drop(&mut self) {
            let _ = (self.0)(&["down", "-v", "--rmi", "local"]);
        }
    }
    let _down = Down(&compose);
    let up = compose(&["up", "-d"]);
    assert!(up.status.success(), "{}", stderr(&up));
    let client = format!("{proj}_client_1");
    assert_eq!(
        d.ok(&["wait", &client]),
        "0",
        "{}",
        d.ok(&["logs", &client])
    );
    assert_eq!(d.ok(&["logs", &client]), "hello-from-server");
    let vol = format!("{proj}_data");
    assert!(d.ok(&["volume", "ls", "-q"]).lines().any(|v| v == vol));
    let built = format!("{proj}_client:latest");
    assert_eq!(d.inspect(&built, "{{json .Config.Cmd}}"), r#"["fetch"]"#);
    let down = compose(&["down", "-v", "--rmi", "local"]);
    assert!(down.status.success(), "{}", stderr(&down));
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert!(
        !d.ok(&["network", "ls", "--format", "{{.Name}}"])
            .contains(&proj)
    );
    assert!(!d.ok(&["volume", "ls", "-q"]).contains(&proj));
    assert!(
        !d.ok(&["images", "--format", "{{.Repository}}"])
            .contains(&proj)
    );
}

#[test]
fn dns_options_static_ip_mac_and_container_network_mode() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    // The default bridge: --dns/--dns-search/--add-host land in the container's files.
    let out = d.ok(&[
        "run",
        "--rm",
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "example.test",
        "--add-host",
        "db:192.0.2.7",
        "--add-host",
        "gw:host-gateway",
        IMG,
        "sh",
        "-c",
        "cat /etc/resolv.conf /etc/hosts",
    ]);
    assert!(out.contains("nameserver 192.0.2.53"), "{out}");
    assert!(out.contains("search example.test"), "{out}");
    assert!(out.contains("192.0.2.7\tdb"), "{out}");
    let gw = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        "bridge",
    ]);
    assert!(out.contains(&format!("{gw}\tgw")), "{out}");
    // A user network: --ip and --mac-address are honoured, and the embedded DNS is used.
    let net = net_name("ipn");
    let _g = Nets(&d, vec![net.clone()]);
    let sub = subnet(10);
    let ip = format!("{}.77", &sub[..sub.len() - 5]);
    d.ok(&["network", "create", "--subnet", &sub, &net]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "fixed",
        "--network",
        &net,
        "--ip",
        &ip,
        "--mac-address",
        "02:42:de:ad:be:ef",
        IMG,
        "sleep",
        "600",
    ]);
    let fmt = format!(
        "{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}} {{{{(index .NetworkSettings.Networks \"{net}\").MacAddress}}}}"
    );
    assert_eq!(d.inspect("fixed", &fmt), format!("{ip} 02:42:de:ad:be:ef"));
    let link = d.ok(&["exec", "fixed", "ip", "-o", "link", "show", "eth0"]);
    assert!(link.contains("02:42:de:ad:be:ef"), "{link}");
    let rc = d.ok(&["exec", "fixed", "cat", "/etc/resolv.conf"]);
    assert!(
        rc.starts_with(&format!("nameserver {}.1", &sub[..sub.len() - 5])),
        "{rc}"
    );
    // The same address twice is refused.
    let out = d.docker(&["run", "--rm", "--network", &net, "--ip", &ip, IMG, "true"]);
    assert!(!out.status.success());
    // container:ID shares the namespace, so the same address shows there.
    let shared = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:fixed",
        IMG,
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(shared.contains(&ip), "{shared}");
    d.ok(&["rm", "-f", "fixed"]);
}

/// `--link-local-ip` adds its addresses to the container's interface, IPv4 with a /16 and
/// IPv6 with a /64 as dockerd does, on a user network and on the default one (where only
/// `--ip` and aliases are refused); inspect shows them under `IPAMConfig.LinkLocalIPs`;
/// `network connect --link-local-ip` does the same; an unspecified address is refused.
/// (And `--aux-address` keeps its address from containers.)
#[test]
fn link_local_addresses_are_added_to_the_interface() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let net = net_name("lln");
    let _g = Nets(&d, vec![net.clone()]);
    let sub = subnet(11);
    let aux = format!("{}.2", &sub[..sub.len() - 5]);
    d.ok(&[
        "network",
        "create",
        "--subnet",
        &sub,
        "--aux-address",
        &format!("router={aux}"),
        &net,
    ]);
    // An auxiliary address is shown and never given to a container.
    let fmt = "{{range .IPAM.Config}}{{json .AuxiliaryAddresses}}{{end}}";
    assert_eq!(
        d.ok(&["network", "inspect", "-f", fmt, &net]),
        format!("{{\"router\":\"{aux}\"}}")
    );
    d.fails(
        &["run", "--rm", "--network", &net, "--ip", &aux, IMG, "true"],
        "auxiliary address",
    );
    run_link_local(&d, &net);
    // On the default network, and through `network connect`.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "lld",
        "--link-local-ip",
        "169.254.20.20",
        IMG,
        "sleep",
        "600",
    ]);
    let a = addrs(&d, "lld", "eth0");
    assert!(a.contains("inet 169.254.20.20/16"), "{a}");
    assert!(!a.contains("inet6"), "no IPv6 was asked for: {a}");
    connect_link_local(&d, &net, "lld");
    d.fails(
        &["run", "--rm", "--link-local-ip", "0.0.0.0", IMG, "true"],
        "invalid link-local IP address: 0.0.0.0",
    );
    d.fails(
        &["run", "--rm", "--ip", "172.17.0.9", IMG, "true"],
        "user specified IP address is supported on user defined networks only",
    );
    d.ok(&["rm", "-f", "ll", "lld"]);
}

/// `--gw-priority`: the network with the highest priority gives the container its default
/// route (the first attached one when none is set). Endpoint driver options: the
/// interface's name and sysctls are made, others refused rather than dropped.
#[test]
fn gw_priority_and_endpoint_driver_options() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let (a, b) = (net_name("gwa"), net_name("gwb"));
    let _g = Nets(&d, vec![a.clone(), b.clone()]);
    let (sa, sb) = (subnet(12), subnet(13));
    d.ok(&["network", "create", "--subnet", &sa, &a]);
    d.ok(&["network", "create", "--subnet", &sb, &b]);
    let gw = |s: &str| format!("default via {}.1 ", &s[..s.len() - 5]);
    let route = |extra: &str| {
        d.ok(&[
            "run",
            "--rm",
            "--network",
            &format!("name={a}"),
            "--network",
            &format!("name={b}{extra}"),
            IMG,
            "ip",
            "route",
            "show",
            "default",
        ])
    };
    let r = route("");
    assert!(r.starts_with(&gw(&sa)), "{r}");
    let r = route(",gw-priority=5");
    assert!(r.starts_with(&gw(&sb)), "{r}");
    // A running container: a connect with a higher priority takes the default route, a
    // disconnect of the network that has it hands it to the next one.
    let c = net_name("gwc");
    let _g2 = Nets(&d, vec![c.clone()]);
    let sc = subnet(14);
    d.ok(&["network", "create", "--subnet", &sc, &c]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "gwr",
        "--network",
        &a,
        "--network",
        &b,
        IMG,
        "sleep",
        "600",
    ]);
    let now = || d.ok(&["exec", "gwr", "ip", "route", "show", "default"]);
    assert!(now().starts_with(&gw(&sa)), "{}", now());
    d.ok(&["network", "connect", "--gw-priority", "10", &c, "gwr"]);
    assert!(now().starts_with(&gw(&sc)), "{}", now());
    d.ok(&["network", "disconnect", &c, "gwr"]);
    assert!(now().starts_with(&gw(&sa)), "{}", now());
    d.ok(&["network", "disconnect", &a, "gwr"]);
    assert!(now().starts_with(&gw(&sb)), "{}", now());
    d.ok(&["rm", "-f", "gwr"]);
    // Endpoint driver options: the interface's name and its sysctls.
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        &format!(
            "name={a},driver-opt=com.docker.network.endpoint.ifname=front0,driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.conf.IFNAME.log_martians=1"
        ),
        IMG,
        "sh",
        "-c",
        "ip -o link show front0 | wc -l; cat /proc/sys/net/ipv4/conf/front0/log_martians",
    ]);
    assert_eq!(out, "1\n1");
    d.ok(&[
        "create",
        "--name",
        "dopt",
        "--network",
        &format!("name={a},driver-opt=com.docker.network.endpoint.ifname=front1"),
        IMG,
        "true",
    ]);
    assert_eq!(
        d.inspect(
            "dopt",
            &format!("{{{{json (index .NetworkSettings.Networks \"{a}\").DriverOpts}}}}")
        ),
        r#"{"com.docker.network.endpoint.ifname":"front1"}"#
    );
    d.ok(&["rm", "dopt"]);
    d.fails(
        &[
            "run",
            "--rm",
            "--network",
            &format!(
                "name={a},driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.ip_forward=1"
            ),
            IMG,
            "true",
        ],
        "unrecognised network interface sysctl",
    );
    d.fails(
        &[
            "run",
            "--rm",
            "--network",
            &format!("name={a},driver-opt=x=y"),
            IMG,
            "true",
        ],
        "endpoint driver options (--driver-opt) are not supported by berth: x",
    );
}

/// The pre-defined networks are listed and inspected as dockerd's (`bridge`, `host`,
/// `none` with the `null` driver), a `--network host` container shows in `host`'s
/// members, and none of them can be removed.
#[test]
fn predefined_networks_are_listed_inspected_and_kept() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let ls = d.ok(&[
        "network",
        "ls",
        "--format",
        "{{.Name}} {{.Driver}} {{.Scope}}",
    ]);
    let mut rows: Vec<&str> = ls.lines().collect();
    rows.sort();
    assert_eq!(
        rows,
        ["bridge bridge local", "host host local", "none null local"]
    );
    assert_eq!(
        d.ok(&["network", "ls", "-q", "--filter", "type=custom"]),
        "",
        "the pre-defined networks are builtin"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "onhost",
        "--network",
        "host",
        IMG,
        "sleep",
        "300",
    ]);
    assert_eq!(
        d.ok(&[
            "network",
            "inspect",
            "host",
            "--format",
            "{{range .Containers}}{{.Name}}{{end}}"
        ]),
        "onhost"
    );
    let id = d.ok(&["network", "inspect", "none", "--format", "{{.Id}}"]);
    assert_eq!(id.len(), 64);
    assert_eq!(
        d.ok(&["network", "inspect", &id[..12], "--format", "{{.Name}}"]),
        "none"
    );
    for n in ["bridge", "host", "none"] {
        let out = d.docker(&["network", "rm", n]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("pre-defined network"),
            "{}",
            stderr(&out)
        );
    }
    d.ok(&["rm", "-f", "onhost"]);
}
