//! The network part of starting and stopping a container, alone: netns file, veth pair
//! into it, address, default route, lo up, one published port's rules; then teardown.
//! Driven by benches/network.sh.
//!
//! `netbench setup` makes the bench bridge and chains, `netbench cycle` does one
//! container's worth of work (what hyperfine times), `netbench loop N` does N cycles in
//! one process and prints the mean of each step, `netbench teardown` removes everything.

use std::time::{Duration, Instant};

use berth_net::bridge::{BridgeConfig, delete_bridge, ensure_bridge};
use berth_net::firewall::{Chains, Firewall, NetworkRules, parse_publish};
use berth_net::veth::{self, VethConfig};
use berth_net::{NetNs, Netlink};

const BRIDGE: &str = "btbench0";
const SUBNET: &str = "10.213.250.0/24";

fn fw() -> Firewall {
    Firewall::new(Chains::with_suffix("-BENCH"))
}

fn net() -> NetworkRules {
    NetworkRules {
        bridge: BRIDGE.into(),
        subnet: SUBNET.parse().unwrap(),
        internal: false,
    }
}

#[derive(Default)]
struct Times {
    netns: Duration,
    veth: Duration,
    rules: Duration,
    teardown: Duration,
}

async fn cycle(nl: &Netlink, n: u32, t: &mut Times) {
    let dir = std::env::temp_dir().join("berth-netbench");
    let path = dir.join(format!("{}-{n}", std::process::id()));
    let host_veth = format!("vb{}{n}", std::process::id() % 100_000);
    let ip = format!("10.213.250.{}", 2 + (n % 250));
    let t0 = Instant::now();
    let ns = NetNs::create(&path).unwrap();
    let t1 = Instant::now();
    veth::attach(
        nl,
        &ns,
        &VethConfig {
            host_name: host_veth.clone(),
            container_ifname: "eth0".into(),
            bridge: BRIDGE.into(),
            address: format!("{ip}/24").parse().unwrap(),
            gateway: Some("10.213.250.1".parse().unwrap()),
            mac: None,
            mtu: None,
        },
    )
    .await
    .unwrap();
    let t2 = Instant::now();
    let fw = fw();
    let ports = parse_publish(&format!("127.0.0.1:{}:80", 40000 + n % 1000)).unwrap();
    let rules = fw.publish(&net(), ip.parse().unwrap(), &ports).unwrap();
    let t3 = Instant::now();
    // As BridgeDriver::disconnect: rules and veth removal concurrently, then the netns.
    // With NETBENCH_NETNS_ONLY=1 the veth is left to the kernel's asynchronous netns
    // cleanup instead (what happens when the netns file is removed with the container).
    let rm = tokio::task::spawn_blocking(move || fw.remove(&rules).unwrap());
    if std::env::var_os("NETBENCH_NETNS_ONLY").is_none() {
        veth::detach(nl, &host_veth).await.unwrap();
    }
    ns.delete().unwrap();
    rm.await.unwrap();
    let t4 = Instant::now();
    t.netns += t1 - t0;
    t.veth += t2 - t1;
    t.rules += t3 - t2;
    t.teardown += t4 - t3;
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let args: Vec<String> = std::env::args().collect();
    rt.block_on(async {
        let nl = Netlink::host().unwrap();
        match args.get(1).map(String::as_str) {
            Some("setup") => {
                ensure_bridge(
                    &nl,
                    &BridgeConfig {
                        name: BRIDGE.into(),
                        mtu: None,
                        gateway: Some("10.213.250.1/24".parse().unwrap()),
                    },
                )
                .await
                .unwrap();
                fw().ensure_base().unwrap();
            }
            Some("teardown") => {
                fw().remove_base().unwrap();
                delete_bridge(&nl, BRIDGE).await.unwrap();
            }
            Some("cycle") => cycle(&nl, 0, &mut Times::default()).await,
            Some("loop") => {
                let n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
                let mut t = Times::default();
                let start = Instant::now();
                for i in 0..n {
                    cycle(&nl, i, &mut t).await;
                }
                let per = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
                println!(
                    "{n} cycles, mean per cycle {:.2} ms: netns {:.2} ms, veth+addr+route {:.2} ms, rules {:.2} ms, teardown {:.2} ms",
                    per(start.elapsed()),
                    per(t.netns),
                    per(t.veth),
                    per(t.rules),
                    per(t.teardown)
                );
            }
            _ => {
                eprintln!("usage: netbench setup|cycle|loop N|teardown");
                std::process::exit(2);
            }
        }
    });
}
