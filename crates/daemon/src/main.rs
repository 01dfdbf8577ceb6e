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
    /// Socket to listen on (unix:///path).
    #[arg(short = 'H', long = "host")]
    host: Vec<String>,
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
    let socket = match hosts.first().map(String::as_str) {
        Some(h) if h.starts_with("unix://") => PathBuf::from(&h["unix://".len()..]),
        Some(h) if h.starts_with('/') => PathBuf::from(h),
        Some(h) => bail!("only unix:// hosts are supported, got {h}"),
        None => bail!("no host to listen on"),
    };

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
    if let Some(lo) = &file.log_opts {
        if let Some(s) = lo.max_size.as_deref().and_then(berth_engine::spec::size) {
            cfg.log_max_size = s.max(0) as u64;
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
        tracing::info!(data_root = %data_root.display(), exec_root = %exec_root.display(), socket = %socket.display(), shim = %cfg.shim_binary.display(), "berthd starting");
        let engine = Engine::open(cfg).context("open engine")?;
        engine.start_networks(netcfg).await.context("start networking")?;
        engine.restore().await;
        engine.reconcile_networks().await;
        let listener = bind_socket(&socket, group.as_deref())?;
        std::fs::write(exec_root.join("berthd.pid"), std::process::id().to_string()).ok();
        tracing::info!(socket = %socket.display(), api = berth_api::version::API_VERSION, "API listening");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(berth_api::serve(listener, engine.clone(), async {
            let _ = stop_rx.await;
        }));
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
        if tokio::time::timeout(std::time::Duration::from_secs(2), server).await.is_err() {
            tracing::info!("open API streams closed at shutdown");
        }
        engine.shutdown();
        let _ = std::fs::remove_file(&socket);
        Ok(())
    })
}
