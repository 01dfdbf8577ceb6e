//! The network part of starting and stopping a container, alone, through the same
//! `BridgeDriver` calls berthd makes: netns file, lease, veth pair into the netns with
//! address, default route and lo, one published port's rules; then teardown.
//! Driven by benches/network.sh.
//!
//! `netbench setup` makes the bench bridge and chains, `netbench cycle` does one
//! container's worth of work (what hyperfine times), `netbench loop N` does N cycles in
//! one process and prints the mean of each step, `netbench teardown` removes everything.
//! Leases live in memory here (berthd keeps them in SQLite).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_net::firewall::{Chains, Firewall, parse_publish};
use berth_net::ipam::{Ipam, IpamError, Lease, LeaseStore, Pool};
use berth_net::{BridgeDriver, BridgeNetwork, EndpointRequest, NetNs};

const BRIDGE: &str = "btbench0";

#[derive(Default)]
struct MemStore(Mutex<HashMap<String, Vec<Lease>>>);

impl LeaseStore for MemStore {
    fn load(&self, network: &str) -> Result<Vec<Lease>, IpamError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .get(network)
            .cloned()
            .unwrap_or_default())
    }
    fn insert(&self, network: &str, lease: &Lease) -> Result<(), IpamError> {
        let mut m = self.0.lock().unwrap();
        let v = m.entry(network.to_string()).or_default();
        if let Some(l) = v.iter().find(|l| l.address == lease.address) {
            return Err(IpamError::InUse {
                network: network.into(),
                address: lease.address,
                owner: l.owner.clone(),
            });
        }
        v.push(lease.clone());
        Ok(())
    }
    fn remove_owner(&self, network: &str, owner: &str) -> Result<Vec<IpAddr>, IpamError> {
        let mut m = self.0.lock().unwrap();
        let v = m.entry(network.to_string()).or_default();
        let freed = v
            .iter()
            .filter(|l| l.owner == owner)
            .map(|l| l.address)
            .collect();
        v.retain(|l| l.owner != owner);
        Ok(freed)
    }
    fn remove_network(&self, network: &str) -> Result<(), IpamError> {
        self.0.lock().unwrap().remove(network);
        Ok(())
    }
}

fn network() -> BridgeNetwork {
    BridgeNetwork {
        id: "bench".into(),
        bridge: BRIDGE.into(),
        pool: Pool::new("bench", "10.213.250.0/24".parse().unwrap(), None, None).unwrap(),
        pool6: None,
        mtu: None,
        internal: false,
        default_gateway: None,
        default_gateway6: None,
    }
}

#[derive(Default)]
struct Times {
    netns: Duration,
    connect: Duration,
    teardown: Duration,
    background: Duration,
}

async fn cycle(drv: &Arc<BridgeDriver<MemStore>>, n: u32, background: bool, t: &mut Times) {
    let net = network();
    let path = std::env::temp_dir()
        .join("berth-netbench")
        .join(format!("{}-{n}", std::process::id()));
    let t0 = Instant::now();
    let ns = NetNs::create(&path).unwrap();
    let t1 = Instant::now();
    let ep = drv
        .connect(
            &net,
            &ns,
            &EndpointRequest {
                container_id: format!("c{n}"),
                link_local: vec![],
                ifname: "eth0".into(),
                host_veth: format!("vb{}{n}", std::process::id() % 100_000),
                ip: None,
                ip6: None,
                mac: None,
                default_route: true,
                ports: parse_publish(&format!("127.0.0.1:{}:80", 40000 + n % 1000)).unwrap(),
            },
        )
        .await
        .unwrap();
    let t2 = Instant::now();
    if background {
        let bg = drv.teardown(vec![ep], ns);
        let t3 = Instant::now();
        bg.await.unwrap().unwrap();
        t.teardown += t3 - t2;
        t.background += t3.elapsed();
    } else {
        drv.disconnect(&ep).await.unwrap();
        ns.delete().unwrap();
        t.teardown += t2.elapsed();
    }
    t.netns += t1 - t0;
    t.connect += t2 - t1;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let args: Vec<String> = std::env::args().collect();
    rt.block_on(async {
        let fw = Firewall::new(Chains::with_suffix("-BENCH"));
        let ipam = Arc::new(Ipam::new(MemStore::default()));
        let drv = Arc::new(if args.get(1).map(String::as_str) == Some("setup") {
            BridgeDriver::new(ipam, fw.clone()).await.unwrap()
        } else {
            BridgeDriver::with_existing_chains(ipam, fw.clone()).unwrap()
        });
        match args.get(1).map(String::as_str) {
            Some("setup") => {
                drv.create_network(&network()).await.unwrap();
            }
            Some("teardown") => {
                let net = network();
                let state = berth_net::NetworkState::default();
                drv.remove_network(&net, &state).await.unwrap();
                fw.remove_base().unwrap();
            }
            Some("cycle") => cycle(&drv, 0, true, &mut Times::default()).await,
            Some("loop") => {
                let n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
                let per = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
                for background in [false, true] {
                    let mut t = Times::default();
                    for i in 0..n {
                        cycle(&drv, i, background, &mut t).await;
                    }
                    println!(
                        "{n} cycles ({}): netns {:.2} ms, connect (lease+veth+addr+route+rules) {:.2} ms, teardown seen by the caller {:.2} ms{}",
                        if background { "teardown" } else { "disconnect + netns delete" },
                        per(t.netns),
                        per(t.connect),
                        per(t.teardown),
                        if background {
                            format!(", background part {:.2} ms", per(t.background))
                        } else {
                            String::new()
                        }
                    );
                }
            }
            _ => {
                eprintln!("usage: netbench setup|cycle|loop N|teardown");
                std::process::exit(2);
            }
        }
    });
}
