//! berthd: the berth daemon. Parses dockerd-style flags and `daemon.toml`, opens the
//! engine (SQLite metadata, images, live restore of running containers) and serves the
//! Docker Engine API on a unix socket. Containers are children of their shims, not of
//! berthd, so stopping or killing berthd leaves them running.

mod config;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use berth_engine::types::Ulimit;
use berth_engine::{Engine, EngineConfig};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "berthd",
    version,
    about = "berth daemon: a Docker-compatible container engine"
)]
struct Args {
    /// Root of persistent state (images, containers, volumes, berth.db).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Root of runtime state (shim sockets, runtime state); wiped by a reboot.
    #[arg(long)]
    exec_root: Option<PathBuf>,
    /// Address to listen on: unix:///path, or tcp://HOST:PORT (plain HTTP, no TLS);
    /// repeatable.
    #[arg(short = 'H', long = "host")]
    host: Vec<String>,
    /// `--tls=false` allows a tcp:// host on an address other than loopback (berthd has no
    /// TLS: anyone who reaches that address controls this machine).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    tls: Option<bool>,
    /// Configuration file (TOML; every key optional).
    #[arg(long, default_value = "/etc/berth/daemon.toml")]
    config_file: PathBuf,
    /// debug, info, warn, error.
    #[arg(short = 'l', long)]
    log_level: Option<String>,
    /// Group owning the socket (default: `berth` where it exists).
    #[arg(short = 'G', long)]
    group: Option<String>,
    /// Default bridge network's gateway address and prefix (e.g. 172.17.0.1/16).
    #[arg(long)]
    bip: Option<String>,
    /// Bridge interface of the default network (default berth0).
    #[arg(short = 'b', long)]
    bridge: Option<String>,
    /// IPv6 on the default bridge network (`--ipv6=false` overrides the config file).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    ipv6: Option<bool>,
    /// IPv6 allocation range of the default bridge network, and its subnet without
    /// --bip6 (e.g. fd00:1::/64; with --ipv6).
    #[arg(long)]
    fixed_cidr_v6: Option<String>,
    /// Default bridge's IPv6 address and prefix (e.g. fd00:1::1/64; with --ipv6).
    #[arg(long)]
    bip6: Option<String>,
    /// IPv4 allocation range of the default bridge network, inside --bip's subnet.
    #[arg(long)]
    fixed_cidr: Option<String>,
    /// Containers' default IPv4 gateway on the default bridge network.
    #[arg(long)]
    default_gateway: Option<String>,
    /// Containers' default IPv6 gateway on the default bridge network.
    #[arg(long)]
    default_gateway_v6: Option<String>,
}

/// berth-init, statically linked by build.rs.
const BERTH_INIT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-init"));

/// Writes the embedded berth-init under the exec root (atomically) and returns its path.
fn install_init(exec_root: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(exec_root)?;
    let dst = exec_root.join("berth-init");
    let tmp = exec_root.join(".berth-init.tmp");
    std::fs::write(&tmp, BERTH_INIT).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, &dst)?;
    Ok(dst)
}

fn sibling(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.join(name);
    p.exists().then_some(p)
}

fn in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn parse_ulimits(m: &std::collections::BTreeMap<String, String>) -> Result<Vec<Ulimit>> {
    m.iter()
        .map(|(name, v)| {
            let (s, h) = v.split_once(':').unwrap_or((v, v));
            Ok(Ulimit {
                name: name.clone(),
                soft: s.parse().with_context(|| format!("ulimit {name}"))?,
                hard: h.parse().with_context(|| format!("ulimit {name}"))?,
            })
        })
        .collect()
}

fn group_gid(name: &str) -> Option<u32> {
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[0] == name)
        .and_then(|f| f[2].parse().ok())
}

/// One `-H` address.
enum Host {
    Unix(PathBuf),
    /// `HOST:PORT`, as `TcpListener::bind` takes it.
    Tcp(String),
}

impl Host {
    /// `unix:///path` (or a bare path) and `tcp://HOST[:PORT]` (port 2375 when left out,
    /// dockerd's plain-HTTP port). berthd has no TLS, so a TCP address other than
    /// loopback needs `--tls=false`, as an explicit statement that this is meant.
    fn parse(h: &str, tls: Option<bool>) -> Result<Host> {
        if let Some(p) = h.strip_prefix("unix://") {
            if p.is_empty() {
                bail!("invalid host {h:?}: no socket path");
            }
            return Ok(Host::Unix(PathBuf::from(p)));
        }
        if h.starts_with('/') {
            return Ok(Host::Unix(PathBuf::from(h)));
        }
        let Some(rest) = h.strip_prefix("tcp://") else {
            bail!("invalid host {h:?}: berthd listens on unix:///PATH or tcp://HOST:PORT");
        };
        let rest = rest.trim_end_matches('/');
        let addr = match rest.rsplit_once(':') {
            Some((_, port)) if !rest.ends_with(']') => {
                port.parse::<u16>()
                    .map_err(|_| anyhow::anyhow!("invalid host {h:?}: bad port {port:?}"))?;
                rest.to_owned()
            }
            _ => format!("{rest}:2375"),
        };
        // `tcp://:2375`: every address, as dockerd reads it.
        let addr = match addr.strip_prefix(':') {
            Some(port) => format!("0.0.0.0:{port}"),
            None => addr,
        };
        let host_part = addr.rsplit_once(':').map_or("", |(a, _)| a);
        let ip = host_part.trim_start_matches('[').trim_end_matches(']');
        let loopback = ip == "localhost"
            || ip
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback());
        if !loopback && tls != Some(false) {
            bail!(
                "refusing to listen on {h}: berthd has no TLS, and its API gives root on this \
                 machine to anyone who reaches that address; pass --tls=false to do it anyway, \
                 or listen on 127.0.0.1"
            );
        }
        if !loopback {
            tracing::warn!(
                host = h,
                "listening on TCP without TLS: anyone who can reach this address controls this machine"
            );
        }
        Ok(Host::Tcp(addr))
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

fn bind_socket(path: &Path, group: Option<&str>) -> Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    if path.exists() {
        // A live daemon on this socket answers a connect; a stale file does not.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another daemon is listening on {}", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("remove stale {}", path.display()))?;
    }
    let l =
        tokio::net::UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    let gname = group.unwrap_or("berth");
    match group_gid(gname) {
        Some(gid) => {
            rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid)))
                .with_context(|| format!("chown {} to group {gname}", path.display()))?;
        }
        None if group.is_some() => bail!("group {gname} does not exist"),
        None => {}
    }
    Ok(l)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let explicit = std::env::args().any(|a| a.starts_with("--config-file"));
    let file = config::load(&args.config_file, explicit)?;
    let level = args
        .log_level
        .clone()
        .or(file.log_level.clone())
        .unwrap_or_else(|| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTHD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let data_root = args
        .data_root
        .clone()
        .or(file.data_root.clone())
        .unwrap_or_else(|| "/var/lib/berth".into());
    let exec_root = args
        .exec_root
        .clone()
        .or(file.exec_root.clone())
        .unwrap_or_else(|| "/run/berth".into());
    let hosts = if !args.host.is_empty() {
        args.host.clone()
    } else {
        file.hosts
            .clone()
            .unwrap_or_else(|| vec![format!("unix://{}", exec_root.join("berth.sock").display())])
    };
    if hosts.is_empty() {
        bail!("no host to listen on");
    }
    if args.tls == Some(true) {
        bail!("--tls: berthd has no TLS support; use a unix socket, or tcp:// on loopback");
    }
    let hosts = hosts
        .iter()
        .map(|h| Host::parse(h, args.tls))
        .collect::<Result<Vec<_>>>()?;

    let mut netcfg = berth_engine::network::NetConfig::default();
    if let Some(b) = args.bridge.clone().or(file.bridge.clone()) {
        netcfg.bridge = b;
    }
    netcfg.bip = args.bip.clone().or(file.bip.clone());
    netcfg.ipv6 = args.ipv6.or(file.ipv6).unwrap_or(false);
    netcfg.fixed_cidr_v6 = args.fixed_cidr_v6.clone().or(file.fixed_cidr_v6.clone());
    netcfg.bip6 = args.bip6.clone().or(file.bip6.clone());
    netcfg.fixed_cidr = args.fixed_cidr.clone().or(file.fixed_cidr.clone());
    netcfg.default_gateway = args
        .default_gateway
        .clone()
        .or(file.default_gateway.clone());
    netcfg.default_gateway_v6 = args
        .default_gateway_v6
        .clone()
        .or(file.default_gateway_v6.clone());
    netcfg.ip_forward = file.ip_forward.unwrap_or(true);
    netcfg.chain_suffix = file.iptables_chain_suffix.clone().unwrap_or_default();
    // Before anything is written: a bad address flag stops berthd here, as
    // dockerd's configuration check stops dockerd.
    netcfg.validate()?;

    let mut cfg = EngineConfig::new(data_root.clone(), exec_root.clone());
    cfg.shim_binary = file
        .shim_binary
        .clone()
        .or_else(|| sibling("berth-shim"))
        .or_else(|| in_path("berth-shim"))
        .unwrap_or_else(|| "berth-shim".into());
    cfg.init_binary = match file.init_binary.clone() {
        Some(p) => Some(p),
        None => Some(install_init(&exec_root)?),
    };
    cfg.registry.mirrors = file.registry_mirrors.clone().unwrap_or_default();
    cfg.registry.insecure = file.insecure_registries.clone().unwrap_or_default();
    if let Some(u) = &file.default_ulimits {
        cfg.default_ulimits = parse_ulimits(u)?;
    }
    if let Some(m) = &file.default_cgroupns_mode {
        if m != "host" && m != "private" {
            anyhow::bail!("default-cgroupns-mode {m:?}: must be \"host\" or \"private\"");
        }
        cfg.default_cgroupns_mode = Some(m.clone());
    }
    if let Some(lo) = &file.log_opts {
        if let Some(v) = lo.max_size.as_deref() {
            cfg.log_max_size = berth_engine::spec::human_size(v)
                .filter(|n| *n > 0)
                .ok_or_else(|| anyhow::anyhow!("log-opts.max-size {v:?}: not a positive size"))?
                as u64;
        }
        if let Some(n) = lo.max_file {
            cfg.log_max_file = n.max(1);
        }
    }
    let group = args.group.clone().or(file.group.clone());

    if file.cgroup_favordynmods == Some(true) {
        match berth_cgroups::tuning::enable_favordynmods() {
            Ok(true) => tracing::info!("favordynmods set on the host's cgroup2 mount"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cgroup-favordynmods: could not set it"),
        }
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        tracing::info!(data_root = %data_root.display(), exec_root = %exec_root.display(), shim = %cfg.shim_binary.display(), "berthd starting");
        let engine = Engine::open(cfg).context("open engine")?;
        engine.start_networks(netcfg).await.context("start networking")?;
        engine.restore().await;
        engine.reconcile_networks().await;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
        let mut servers = tokio::task::JoinSet::new();
        for h in &hosts {
            let mut stop = stop_rx.clone();
            let shutdown = async move {
                let _ = stop.changed().await;
            };
            match h {
                Host::Unix(path) => {
                    let l = bind_socket(path, group.as_deref())?;
                    servers.spawn(berth_api::serve(l, engine.clone(), shutdown));
                }
                Host::Tcp(addr) => {
                    let l = tokio::net::TcpListener::bind(addr.as_str())
                        .await
                        .with_context(|| format!("listen on tcp://{addr}"))?;
                    servers.spawn(berth_api::serve(l, engine.clone(), shutdown));
                }
            }
            tracing::info!(host = %h, api = berth_api::version::API_VERSION, "API listening");
        }
        std::fs::write(exec_root.join("berthd.pid"), std::process::id().to_string()).ok();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("install SIGTERM handler")?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down");
        let _ = stop_tx.send(());
        // Streaming requests (logs -f, wait, events) would hold a graceful shutdown open
        // forever; containers do not depend on berthd, so a short grace period is enough.
        let all = async { while servers.join_next().await.is_some() {} };
        if tokio::time::timeout(std::time::Duration::from_secs(2), all).await.is_err() {
            tracing::info!("open API streams closed at shutdown");
        }
        engine.shutdown();
        for h in &hosts {
            if let Host::Unix(path) = h {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::Host;

    fn parse(h: &str, tls: Option<bool>) -> Result<String, String> {
        Host::parse(h, tls)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn hosts_parse_as_dockerd_reads_them() {
        assert_eq!(parse("unix:///a/b.sock", None).unwrap(), "unix:///a/b.sock");
        assert_eq!(parse("/a/b.sock", None).unwrap(), "unix:///a/b.sock");
        assert_eq!(
            parse("tcp://127.0.0.1:2390", None).unwrap(),
            "tcp://127.0.0.1:2390"
        );
        assert_eq!(
            parse("tcp://localhost", None).unwrap(),
            "tcp://localhost:2375"
        );
        assert_eq!(parse("tcp://[::1]:9", None).unwrap(), "tcp://[::1]:9");
        assert_eq!(parse("tcp://[::1]", None).unwrap(), "tcp://[::1]:2375");
        assert!(parse("unix://", None).is_err());
        assert!(
            parse("tcp://127.0.0.1:http", None)
                .unwrap_err()
                .contains("bad port")
        );
        assert!(parse("ssh://me@host", None).is_err());
        assert!(parse("fd://", None).is_err());
    }

    #[test]
    fn tcp_beyond_loopback_needs_tls_false() {
        let e = parse("tcp://0.0.0.0:2375", None).unwrap_err();
        assert!(e.contains("--tls=false"), "{e}");
        assert!(
            parse("tcp://:2375", None)
                .unwrap_err()
                .contains("--tls=false")
        );
        assert_eq!(
            parse("tcp://:2375", Some(false)).unwrap(),
            "tcp://0.0.0.0:2375"
        );
        assert!(parse("tcp://10.1.2.3:2375", Some(true)).is_err());
    }
}
