//! Finding the daemon: `-H`, `BERTH_HOST`, `DOCKER_HOST`, else the default socket — and
//! starting berthd there when nothing answers (the embedded default), unless
//! `--no-autostart` / `BERTH_NO_AUTOSTART=1`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cli::Cli;
use crate::client::{Client, ConnectError, Endpoint};

pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// How long `berth` waits for an auto-started berthd to answer `/_ping`.
const AUTOSTART_WAIT: Duration = Duration::from_secs(20);

/// The daemon's address from a `-H`/`DOCKER_HOST` value: `unix://PATH` (or a bare path)
/// and `tcp://HOST[:PORT]` (plain HTTP; port 2375 when left out, as docker's default
/// without TLS).
fn endpoint(host: &str) -> Result<Endpoint> {
    if let Some(p) = host.strip_prefix("unix://") {
        if p.is_empty() {
            bail!("unsupported host {host:?}: no socket path");
        }
        return Ok(Endpoint::Unix(PathBuf::from(p)));
    }
    if host.starts_with('/') {
        return Ok(Endpoint::Unix(PathBuf::from(host)));
    }
    let Some(rest) = host.strip_prefix("tcp://") else {
        bail!(
            "unsupported host {host:?}: berth speaks to berthd over unix://PATH or tcp://HOST:PORT"
        );
    };
    if std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty()) {
        bail!(
            "DOCKER_TLS_VERIFY is set, but berth has no TLS: unset it to speak plain HTTP to {host}"
        );
    }
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        bail!("unsupported host {host:?}: no address");
    }
    let addr = match rest.rsplit_once(':') {
        Some((_, port)) if !rest.ends_with(']') => {
            if port.parse::<u16>().is_err() {
                bail!("unsupported host {host:?}: invalid port {port:?}");
            }
            rest.to_owned()
        }
        _ => format!("{rest}:2375"),
    };
    Ok(Endpoint::Tcp(addr))
}

/// The chosen host and whether it is the default one (only that one is auto-started).
pub fn chosen_host(cli: &Cli) -> (String, bool) {
    if let Some(h) = &cli.host {
        return (h.clone(), false);
    }
    // (a stored context in force: chosen over the environment only when named so)
    if let Some(h) = crate::context::selected_host() {
        return (h, false);
    }
    for var in ["BERTH_HOST", "DOCKER_HOST"] {
        if let Ok(h) = std::env::var(var)
            && !h.is_empty()
        {
            return (h, false);
        }
    }
    (DEFAULT_HOST.to_owned(), true)
}

pub fn connect(cli: &Cli) -> Result<Client> {
    let (host, default) = chosen_host(cli);
    let mut c = Client::new(endpoint(&host)?, host);
    match c.negotiate() {
        Ok(()) => Ok(c),
        Err(e) if e.downcast_ref::<ConnectError>().is_some() && default && !cli.no_autostart => {
            let Endpoint::Unix(sock) = &c.endpoint else {
                return Err(e);
            };
            autostart(sock)?;
            c.negotiate()?;
            Ok(c)
        }
        Err(e) => Err(e),
    }
}

/// berthd next to our own executable, then on PATH.
fn berthd_path() -> PathBuf {
    if let Ok(me) = std::env::current_exe()
        && let Some(dir) = me.parent()
    {
        let p = dir.join("berthd");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("berthd")
}

/// Starts berthd in the background with its default roots, detached from our session
/// and terminal, and waits (bounded) until the socket answers.
fn autostart(sock: &Path) -> Result<()> {
    let log_dir = Path::new("/var/log/berth");
    let _ = std::fs::create_dir_all(log_dir);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_dir.join("berthd.log"))
        .ok();
    let mut cmd = Command::new(berthd_path());
    cmd.stdin(Stdio::null());
    match log {
        Some(f) => {
            let f2 = f.try_clone()?;
            cmd.stdout(f).stderr(f2);
        }
        None => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .context("starting berthd (set BERTH_NO_AUTOSTART=1 to turn auto-start off)")?;
    eprintln!(
        "berth: started berthd (pid {}), waiting for it to answer",
        child.id()
    );
    let t0 = Instant::now();
    while t0.elapsed() < AUTOSTART_WAIT {
        if std::os::unix::net::UnixStream::connect(sock).is_ok() {
            return Ok(());
        }
        if let Ok(Some(st)) = child.try_wait() {
            bail!("berthd exited ({st}) before answering; see /var/log/berth/berthd.log");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!(
        "berthd did not answer on {} within {:?}",
        sock.display(),
        AUTOSTART_WAIT
    )
}

/// `berth daemon ARGS`: becomes berthd (exec), in the foreground.
pub fn exec_foreground(args: &[String]) -> Result<()> {
    let err = Command::new(berthd_path()).args(args).exec();
    Err(err).context("exec berthd")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_unix_paths_or_tcp_addresses() {
        assert_eq!(
            endpoint("unix:///a/b.sock").unwrap(),
            Endpoint::Unix(PathBuf::from("/a/b.sock"))
        );
        assert_eq!(
            endpoint("/a/b.sock").unwrap(),
            Endpoint::Unix(PathBuf::from("/a/b.sock"))
        );
        assert_eq!(
            endpoint("tcp://127.0.0.1:2390").unwrap(),
            Endpoint::Tcp("127.0.0.1:2390".into())
        );
        assert_eq!(
            endpoint("tcp://localhost/").unwrap(),
            Endpoint::Tcp("localhost:2375".into())
        );
        assert_eq!(
            endpoint("tcp://[::1]").unwrap(),
            Endpoint::Tcp("[::1]:2375".into())
        );
        assert!(endpoint("tcp://h:port").is_err());
        assert!(endpoint("tcp://").is_err());
        assert!(endpoint("ssh://me@h").is_err());
        assert!(endpoint("unix://").is_err());
    }
}
