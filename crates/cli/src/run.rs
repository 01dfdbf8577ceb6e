//! run, create, start and exec: the commands that build a container config from flags
//! and/or stream a container's stdio (attach → start → wait, as docker does it).

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Value, json};

use crate::Exit;
use crate::cli::{AttachArgs, ExecArgs, PullArgs, RunArgs, StartArgs};
use crate::client::{Client, DaemonError, enc};
use crate::stream::{self, DetachKeys, Prefixed};
use crate::tty;

/// Docker's `RAMInBytes` (go-units): a number, an optional space, then an optional binary
/// unit `k`, `m`, `g`, `t` or `p` with an optional `b` or `ib` (any case), or `b` alone;
/// its error messages too.
pub fn parse_bytes(s: &str) -> Result<i64> {
    let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        bail!("invalid size: '{s}'");
    };
    let (num, sfx) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..=sep], &s[sep + 1..])
    };
    let size: f64 = num
        .parse()
        .map_err(|_| anyhow!("strconv.ParseFloat: parsing {num:?}: invalid syntax"))?;
    if size < 0.0 {
        bail!("invalid size: '{s}'");
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    if sfx.len() > 3 {
        bail!("invalid suffix: '{sfx}'");
    }
    let l = sfx.to_lowercase();
    let bad = || anyhow!("invalid suffix: '{l}'");
    let mult: i64 = match l.as_bytes()[0] {
        b'b' if l.len() == 1 => return Ok(size as i64),
        b'k' => 1 << 10,
        b'm' => 1 << 20,
        b'g' => 1 << 30,
        b't' => 1 << 40,
        b'p' => 1 << 50,
        _ => return Err(bad()),
    };
    if (l.len() == 2 && &l[1..] != "b") || (l.len() == 3 && &l[1..] != "ib") {
        return Err(bad());
    }
    Ok((size * mult as f64) as i64)
}

/// A flag whose value does not parse: docker (pflag) reports these before it contacts the
/// daemon, as `invalid argument "V" for "FLAG" flag: WHY` with the usage line, status 125.
#[derive(Debug)]
pub struct FlagValueError(pub String);

impl std::fmt::Display for FlagValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FlagValueError {}

/// A [`FlagValueError`] for `value` of `flag` (docker's spelling, e.g. `-m, --memory`).
pub fn flag_value_error(flag: &str, value: &str, why: impl std::fmt::Display) -> anyhow::Error {
    FlagValueError(format!(
        "invalid argument {value:?} for \"{flag}\" flag: {why}"
    ))
    .into()
}

/// A size flag's value (`--memory`, `--shm-size`, ...).
pub fn flag_bytes(flag: &str, value: &str) -> Result<i64> {
    parse_bytes(value).map_err(|e| flag_value_error(flag, value, e))
}

fn restart_policy(s: &str) -> Result<Value> {
    // docker's opts.ParseRestartPolicy, in its words.
    let (name, count) = match s.split_once(':') {
        Some(("", _)) => bail!("invalid restart policy format: no policy provided before colon"),
        Some((n, "")) => (n, 0),
        Some((n, c)) => (
            n,
            c.parse::<i64>().map_err(|_| {
                anyhow!("invalid restart policy format: maximum retry count must be an integer")
            })?,
        ),
        None => (s, 0),
    };
    // The daemon judges the policy (its message is the one docker users see).
    Ok(json!({"Name": name, "MaximumRetryCount": count}))
}

fn env_list(flags: &[String], files: &[String]) -> Result<Vec<String>> {
    // -e values are checked as the flag is parsed (opts.ValidateEnv), before any file.
    if let Some(e) = flags.iter().find(|e| e.split('=').next() == Some("")) {
        return Err(flag_value_error(
            "-e, --env",
            e,
            format!("invalid environment variable: {e}"),
        ));
    }
    let mut out = Vec::new();
    // A file's `NAME` alone takes the client's value, and is dropped when it has none.
    for f in files {
        out.extend(kv_file(f, true)?);
    }
    // A `-e NAME` that the client's environment does not set is sent as it is (docker's
    // ValidateEnv).
    for e in flags {
        if e.contains('=') {
            out.push(e.clone());
        } else {
            out.push(std::env::var(e).map_or_else(|_| e.clone(), |v| format!("{e}={v}")));
        }
    }
    Ok(out)
}

/// Label flags as docker's opts.ValidateLabel checks them: each needs a name.
pub fn check_labels(flag: &str, labels: &[String]) -> Result<()> {
    match labels.iter().find(|l| l.split('=').next() == Some("")) {
        Some(l) => Err(flag_value_error(
            flag,
            l,
            format!("invalid label '{l}': empty name"),
        )),
        None => Ok(()),
    }
}

/// A file of `key=value` lines as docker's opts package reads env and label files (a
/// name alone passes the client's value through for env files, and is dropped from
/// label files; its errors in its words).
pub fn kv_file(f: &str, pass_through: bool) -> Result<Vec<String>> {
    let mut file =
        std::fs::File::open(f).map_err(|e| anyhow!("open {f}: {}", crate::cp::io_text(&e)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| {
        anyhow!(
            "invalid env file ({f}): read {f}: {}",
            crate::cp::io_text(&e)
        )
    })?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut out = Vec::new();
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for (n, raw) in lines.into_iter().enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(raw) = std::str::from_utf8(raw) else {
            let shown: Vec<String> = raw.iter().map(u8::to_string).collect();
            bail!(
                "invalid env file ({f}): invalid utf8 bytes at line {}: [{}]",
                n + 1,
                shown.join(" ")
            );
        };
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (var, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        let var = var.trim_start_matches([' ', '\t']);
        if var.contains([' ', '\t']) {
            bail!("invalid env file ({f}): variable '{var}' contains whitespaces");
        }
        if var.is_empty() {
            bail!("invalid env file ({f}): no variable name on line '{line}'");
        }
        match value {
            Some(v) => out.push(format!("{var}={v}")),
            None => {
                if let Some(v) = std::env::var(var).ok().filter(|_| pass_through) {
                    out.push(format!("{var}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// Docker's capability spelling: upper case with the `CAP_` prefix (`ALL` stays).
fn caps(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|c| {
            let u = c.to_uppercase();
            if u == "ALL" || u.starts_with("CAP_") {
                u
            } else {
                format!("CAP_{u}")
            }
        })
        .collect()
}

/// A `-v` spec's source as the docker CLI's compose loader (ParseVolume) reads it: None
/// for an anonymous volume (the spec goes to Config.Volumes), else the source of a bind
/// or named volume (the spec goes to Binds). Its errors in its words.
fn volume_source(spec: &str) -> Result<Option<String>> {
    let chars: Vec<char> = spec.chars().collect();
    match chars.len() {
        0 => bail!("invalid empty volume spec"),
        1 | 2 => return Ok(None),
        _ => {}
    }
    let (mut source, mut target) = (None::<String>, None::<String>);
    let mut buf = String::new();
    let end = chars.len();
    for i in 0..=end {
        let c = chars.get(i).copied();
        // A drive letter (`c:`) stays in its section, as on Windows.
        let drive =
            c == Some(':') && buf.chars().count() == 1 && buf.chars().all(char::is_alphabetic);
        if drive {
            buf.push(':');
            continue;
        }
        if c == Some(':') || c.is_none() {
            if buf.is_empty() {
                bail!("invalid spec: {spec}: empty section between colons");
            }
            if source.is_none() && c.is_none() {
                target = Some(std::mem::take(&mut buf));
            } else if source.is_none() {
                source = Some(std::mem::take(&mut buf));
            } else if target.is_none() {
                target = Some(std::mem::take(&mut buf));
            } else if c == Some(':') {
                bail!("invalid spec: {spec}: too many colons");
            } else {
                buf.clear();
            }
            continue;
        }
        buf.extend(c);
    }
    let _ = target;
    Ok(source)
}

/// docker's run: a bind whose host path starts with `.` is made absolute (Go's
/// filepath.Abs: joined to the working directory and cleaned).
fn bind_with_abs_host(spec: &str, source: &str) -> String {
    let Some((host, rest)) = spec.split_once(':') else {
        return spec.to_owned();
    };
    let is_bind = source.starts_with(['.', '/', '~']);
    if !is_bind || host.starts_with('/') || !host.starts_with('.') {
        return spec.to_owned();
    }
    format!("{}:{rest}", go_abs(host))
}

/// Go's filepath.Abs: `p` joined to the working directory and cleaned.
pub fn go_abs(p: &str) -> String {
    let Ok(cwd) = std::env::current_dir() else {
        return p.to_owned();
    };
    let mut parts: Vec<String> = Vec::new();
    for comp in cwd.join(p).components() {
        match comp {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

/// The `POST /containers/create` body for run/create flags.
pub fn create_body(a: &RunArgs) -> Result<Value> {
    if let Some(bad) = a
        .attach
        .iter()
        .find(|s| !matches!(s.to_lowercase().as_str(), "stdin" | "stdout" | "stderr"))
    {
        return Err(flag_value_error(
            "-a, --attach",
            bad,
            "valid streams are STDIN, STDOUT and STDERR",
        ));
    }
    check_labels("-l, --label", &a.label)?;
    if a.rm && a.restart != "no" && !a.restart.is_empty() {
        bail!("conflicting options: cannot specify both --restart and --rm");
    }
    let networks = crate::runflags::parse_networks(&a.network)?;
    let attach_all = !a.detach && a.attach.is_empty();
    let attached = |s: &str| a.attach.iter().any(|x| x.eq_ignore_ascii_case(s));
    let stdin = !a.detach && a.interactive && (a.attach.is_empty() || attached("stdin"));
    let mut labels = Map::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_owned(), json!(v));
    }
    let mut binds = Vec::new();
    let mut volumes = Map::new();
    for v in &a.volume {
        match volume_source(v)? {
            None => {
                volumes.insert(v.clone(), json!({}));
            }
            Some(src) => binds.push(json!(bind_with_abs_host(v, &src))),
        }
    }
    let (exposed, port_bindings) = crate::ports::publish(&a.publish)?;
    let mut cfg = json!({
        "Image": a.image,
        "Env": env_list(&a.env, &a.env_file)?,
        "Tty": a.tty,
        "OpenStdin": a.interactive,
        "StdinOnce": stdin,
        "AttachStdin": stdin,
        "AttachStdout": attach_all || attached("stdout"),
        "AttachStderr": attach_all || attached("stderr"),
        "Labels": labels,
        "Volumes": volumes,
        "ExposedPorts": exposed,
    });
    let o = cfg.as_object_mut().ok_or_else(|| anyhow!("config"))?;
    if !a.command.is_empty() {
        o.insert("Cmd".into(), json!(a.command));
    }
    if let Some(e) = &a.entrypoint {
        o.insert("Entrypoint".into(), json!([e]));
    }
    for (k, v) in [
        ("WorkingDir", &a.workdir),
        ("User", &a.user),
        ("Hostname", &a.hostname),
        ("StopSignal", &a.stop_signal),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    }
    if let Some(t) = a.stop_timeout {
        o.insert("StopTimeout".into(), json!(t));
    }
    let mut host = json!({
        "Binds": binds,
        "NetworkMode": networks.first().map_or("default", |n| n.target.as_str()),
        "AutoRemove": a.rm,
        "RestartPolicy": restart_policy(&a.restart)?,
        "CapAdd": caps(&a.cap_add),
        "CapDrop": caps(&a.cap_drop),
        "ReadonlyRootfs": a.read_only,
        "Privileged": a.privileged,
        "PortBindings": port_bindings,
    });
    let h = host.as_object_mut().ok_or_else(|| anyhow!("host config"))?;
    if let Some(init) = a.init {
        h.insert("Init".into(), json!(init));
    }
    if let Some(m) = &a.memory {
        h.insert("Memory".into(), json!(flag_bytes("-m, --memory", m)?));
    }
    if let Some(p) = a.pids_limit {
        h.insert("PidsLimit".into(), json!(p));
    }
    let net = crate::runflags::apply(&a.more, &networks, o, h)?;
    o.insert("HostConfig".into(), host);
    if let Some(n) = net {
        o.insert("NetworkingConfig".into(), n);
    }
    if a.detach && !a.attach.is_empty() {
        // (docker's runContainer, after the options parsed: printed as it is, status 1)
        eprintln!("conflicting options: cannot specify both --attach and --detach");
        return Err(Exit(1).into());
    }
    Ok(crate::request::docker_shape(cfg))
}

/// `--cidfile`'s path: an empty one is none, as in docker.
fn cidfile(a: &RunArgs) -> Option<&str> {
    a.more.cidfile.as_deref().filter(|f| !f.is_empty())
}

fn is_no_such_image(e: &anyhow::Error) -> bool {
    e.downcast_ref::<DaemonError>()
        .is_some_and(|d| d.status == 404 && d.message.to_lowercase().contains("no such image"))
}

/// Creates the container (pulling the image first when the daemon lacks it); returns
/// the ID. Warnings go to stderr as docker prints them.
/// `body`: [`create_body`]'s request for `a`.
pub fn create(c: &Client, a: &RunArgs, body: Value) -> Result<String> {
    // docker's warnOnLocalhostDNS: the first loopback server named, as the daemon will
    // have it (Go's canonical form).
    if let Some(ip) = a
        .more
        .dns
        .iter()
        .filter_map(|d| d.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| ip.to_string())
        .find(|ip| ip.starts_with("127.") || ip == "::1")
    {
        eprintln!("WARNING: Localhost DNS ({ip}) may fail in containers.");
    }
    if let Some(f) = cidfile(a)
        && std::path::Path::new(f).exists()
    {
        // Printed as it is with exit 1 by create (125 by run), as docker does.
        return Err(crate::client::StreamError(format!(
            "container ID file found, make sure the other container isn't running or delete {f}"
        ))
        .into());
    }
    // As docker's newCIDFile: the file is made before the container, and removed
    // again if no container comes of it.
    if let Some(f) = cidfile(a)
        && let Err(e) = std::fs::File::create(f)
    {
        return Err(crate::client::StreamError(format!(
            "failed to create the container ID file: open {f}: {}",
            crate::cp::io_text(&e)
        ))
        .into());
    }
    let made = create_inner(c, a, body);
    if made.is_err()
        && let Some(f) = cidfile(a)
    {
        let _ = std::fs::remove_file(f);
    }
    made
}

fn create_inner(c: &Client, a: &RunArgs, body: Value) -> Result<String> {
    let mut body = body;
    let api_config = if a.use_api_socket {
        api_socket(c, &mut body)?
    } else {
        None
    };
    let mut q = Vec::new();
    if let Some(n) = &a.name {
        q.push(format!("name={}", enc(n)));
    }
    if let Some(p) = &a.more.platform {
        // (create prints this as it is, with status 1; run as its other failures)
        let p = crate::platform::parse(p).map_err(|e| {
            crate::client::StreamError(format!("error parsing specified platform: {e}"))
        })?;
        q.push(format!("platform={}", enc(&p)));
    }
    let path = if q.is_empty() {
        "/containers/create".to_owned()
    } else {
        format!("/containers/create?{}", q.join("&"))
    };
    let pull = |c: &Client| -> Result<()> {
        let pa = PullArgs {
            all_tags: false,
            quiet: a.more.quiet,
            platform: a.more.platform.clone(),
            disable_content_trust: true,
            image: a.image.clone(),
        };
        let term = std::io::IsTerminal::is_terminal(&std::io::stderr());
        crate::image::pull_to(c, &pa, &mut std::io::stderr(), term, false)
    };
    match a.more.pull.as_str() {
        "missing" | "never" => {}
        "always" => pull(c)?,
        other => bail!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        ),
    }
    let resp = match c.post_json(&path, Some(&body)) {
        Ok(v) => v,
        Err(e) if is_no_such_image(&e) && a.more.pull == "missing" => {
            if !a.more.quiet {
                eprintln!("Unable to find image '{}' locally", with_tag(&a.image));
            }
            pull(c)?;
            c.post_json(&path, Some(&body))?
        }
        Err(e) => return Err(e),
    };
    for w in resp
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        eprintln!("WARNING: {w}");
    }
    let id = resp
        .get("Id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("daemon returned no container ID"))?;
    if let Some(f) = cidfile(a) {
        std::fs::write(f, &id)
            .map_err(|e| anyhow!("failed to write the container ID to the file: {e}"))?;
    }
    if let Some(cfg) = api_config {
        copy_api_config(c, &id, &cfg).map_err(|e| {
            crate::client::StreamError(format!(
                "injecting docker config.json into container failed: {e:#}"
            ))
        })?;
    }
    Ok(id)
}

/// Where `--use-api-socket` puts the socket and the credentials in the container.
const API_SOCKET_TARGET: &str = "/var/run/docker.sock";
const API_CONFIG_DIR: &str = "/run/secrets/docker";

/// `--use-api-socket`'s refusal of a daemon address that is not a unix socket (docker's
/// words), before anything is asked of the daemon.
pub fn check_api_socket_host(host: &str) -> Result<()> {
    if host.starts_with("unix://") || host.starts_with('/') {
        return Ok(());
    }
    bail!(
        "flag --use-api-socket can only be used with unix sockets: docker endpoint {host} incompatible"
    )
}

/// `--use-api-socket`, as docker 28 does it: the socket this client talks to bind-mounted
/// at /var/run/docker.sock, and, unless the command sets DOCKER_CONFIG itself and when
/// the client holds registry credentials, DOCKER_CONFIG pointing at
/// /run/secrets/docker; returns the config.json to copy there once the container exists.
fn api_socket(c: &Client, body: &mut Value) -> Result<Option<String>> {
    let host = body
        .as_object_mut()
        .and_then(|o| o.get_mut("HostConfig"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| anyhow!("create request without a HostConfig"))?;
    let crate::client::Endpoint::Unix(sock) = &c.endpoint else {
        bail!(
            "flag --use-api-socket can only be used with unix sockets: docker endpoint {} incompatible",
            c.host
        );
    };
    let mount = json!({
        "Type": "bind",
        "Source": sock.to_string_lossy(),
        "Target": API_SOCKET_TARGET,
        "BindOptions": {},
    });
    match host.get_mut("Mounts").and_then(Value::as_array_mut) {
        Some(m) => m.push(mount),
        None => {
            host.insert("Mounts".into(), json!([mount]));
        }
    }
    let env_sets_config = body
        .get("Env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|e| e.starts_with("DOCKER_CONFIG="));
    if env_sets_config {
        return Ok(None);
    }
    let cfg = crate::auth::api_socket_config()
        .map_err(|e| anyhow!("resolving credentials failed: {e:#}"))?;
    if cfg.is_some() {
        let env = format!("DOCKER_CONFIG={API_CONFIG_DIR}");
        match body.get_mut("Env").and_then(Value::as_array_mut) {
            Some(list) => list.push(json!(env)),
            None => {
                if let Some(o) = body.as_object_mut() {
                    o.insert("Env".into(), json!([env]));
                }
            }
        }
    }
    Ok(cfg)
}

/// Copies `cfg` into the new container as /run/secrets/docker/config.json (mode 0600,
/// owned by root), through the archive endpoint `cp` uses.
fn copy_api_config(c: &Client, id: &str, cfg: &str) -> Result<()> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_path(format!(
        "{}/config.json",
        API_CONFIG_DIR.trim_start_matches('/')
    ))?;
    h.set_size(cfg.len() as u64);
    h.set_mode(0o600);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    tar.append(&h, cfg.as_bytes())?;
    let body = tar.into_inner()?;
    c.raw(
        "PUT",
        &format!(
            "/containers/{}/archive?noOverwriteDirNonDir=true&path=%2F",
            enc(id)
        ),
        Some(&body),
        &[("Content-Type", "application/x-tar")],
    )?
    .check()
    .map_err(|e| anyhow!("copying config.json into container failed: {e:#}"))?
    .bytes()?;
    Ok(())
}

pub fn create_cmd(c: &Client, a: &RunArgs, body: Value) -> Result<()> {
    if let Err(e) = crate::ops::check_reference(&a.image) {
        eprintln!("{e}");
        return Err(Exit(1).into());
    }
    let id = create(c, a, body)?;
    println!("{id}");
    Ok(())
}

/// A reference as docker echoes it: `:latest` added when it names no tag or digest.
fn with_tag(r: &str) -> String {
    let last = r.rsplit('/').next().unwrap_or(r);
    if r.contains('@') || last.contains(':') {
        r.to_owned()
    } else {
        format!("{r}:latest")
    }
}

/// A run/create failure as docker reports it; the process exits with `code`.
pub fn run_failure(cmd: &str, e: &anyhow::Error, code: i32) -> anyhow::Error {
    // The program's name as invoked (docker's messages name `docker`).
    let bin = std::env::args()
        .next()
        .map(|a| a.rsplit('/').next().unwrap_or(&a).to_owned())
        .unwrap_or_else(|| "berth".into());
    eprintln!("{bin}: {e:#}\n\nRun '{bin} {cmd} --help' for more information");
    Exit(code).into()
}

/// `-it` with stdin not a terminal: docker's message, unprefixed, and exit 1.
fn not_a_tty() -> anyhow::Error {
    eprintln!("the input device is not a TTY");
    Exit(1).into()
}

/// Docker's mapping of start failures to exit codes.
/// docker's runStartContainerErr: 127 for a command not found, 126 for one that cannot
/// be run, 125 for anything else (a network or mount failure that says "not found" too).
fn start_error_code(e: &anyhow::Error) -> i32 {
    let m = e.to_string();
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("system cannot find the file specified")
    {
        127
    } else if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else {
        125
    }
}

pub fn run(c: &Client, a: &RunArgs, body: Value) -> Result<()> {
    crate::ops::check_reference(&a.image).map_err(|e| anyhow::anyhow!("{e}"))?;
    if a.tty && a.interactive && !a.detach && !tty::stdin_is_tty() {
        return Err(not_a_tty());
    }
    let id = create(c, a, body).map_err(|e| {
        // docker's toStatusError for the ID file it could not make.
        let m = e.to_string();
        if !m.starts_with("failed to create the container ID file") {
            return e;
        }
        let code = if m.contains("no such file or directory") {
            127
        } else if m.contains("permission denied") || m.contains("is a directory") {
            126
        } else {
            125
        };
        run_failure("run", &e, code)
    })?;
    if a.detach {
        if let Err(e) = c.post(&format!("/containers/{id}/start"), None) {
            let code = start_error_code(&e);
            return Err(run_failure("run", &e, code));
        }
        println!("{id}");
        return Ok(());
    }
    let attach_all = a.attach.is_empty();
    let has = |s: &str| attach_all || a.attach.iter().any(|x| x.eq_ignore_ascii_case(s));
    let stdin = a.interactive && (attach_all || has("stdin"));
    let mut q = format!(
        "/containers/{id}/attach?stream=1&stdin={}&stdout={}&stderr={}",
        stdin as u8,
        has("stdout") as u8,
        has("stderr") as u8
    );
    if let Some(k) = &a.detach_keys {
        q.push_str(&format!("&detachKeys={}", enc(k)));
    }
    let (sock, pending) = c.hijack(&q, None)?;
    let cond = if a.rm { "removed" } else { "next-exit" };
    let wait = c
        .raw(
            "POST",
            &format!("/containers/{id}/wait?condition={cond}"),
            None,
            &[],
        )?
        .check()?;
    if let Err(e) = c.post(&format!("/containers/{id}/start"), None) {
        if a.rm {
            let _ = c.delete(&format!("/containers/{id}?force=1"));
        }
        let code = start_error_code(&e);
        return Err(run_failure("run", &e, code));
    }
    let session = Session {
        sock,
        pending,
        tty: a.tty,
        stdin,
        detach_keys: a.detach_keys.clone(),
        resize: a.tty.then(|| format!("/containers/{id}/resize")),
        proxy_signals: (!a.tty && a.sig_proxy.unwrap_or(true))
            .then(|| format!("/containers/{id}/kill")),
    };
    if session.pump(c)? {
        return Ok(());
    }
    let v: Value = serde_json::from_slice(&wait.bytes()?).unwrap_or(Value::Null);
    let code = v.get("StatusCode").and_then(Value::as_i64).unwrap_or(125);
    if code != 0 {
        return Err(Exit(code as i32).into());
    }
    Ok(())
}

pub fn start(c: &Client, a: &StartArgs) -> Result<()> {
    if !a.attach && !a.interactive {
        let mut failed = Vec::new();
        for n in &a.containers {
            match c.post(&format!("/containers/{}/start", enc(n)), None) {
                Ok(r) => {
                    r.bytes()?;
                    println!("{n}");
                }
                Err(e) => {
                    failed.push(n.as_str());
                    eprintln!("{e}");
                }
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        eprintln!("Error: failed to start containers: {}", failed.join(", "));
        return Err(Exit(1).into());
    }
    if a.containers.len() > 1 {
        bail!("you cannot start and attach multiple containers at once");
    }
    let name = &a.containers[0];
    let info = c.get_json(&format!("/containers/{}/json", enc(name)))?;
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(name)
        .to_owned();
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stdin = a.interactive
        && info
            .pointer("/Config/OpenStdin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let mut q = format!(
        "/containers/{id}/attach?stream=1&stdin={}&stdout=1&stderr=1",
        stdin as u8
    );
    if let Some(k) = &a.detach_keys {
        q.push_str(&format!("&detachKeys={}", enc(k)));
    }
    let (sock, pending) = c.hijack(&q, None)?;
    let wait = c
        .raw(
            "POST",
            &format!("/containers/{id}/wait?condition=next-exit"),
            None,
            &[],
        )?
        .check()?;
    c.post(&format!("/containers/{id}/start"), None)?.bytes()?;
    let session = Session {
        sock,
        pending,
        tty,
        stdin,
        detach_keys: a.detach_keys.clone(),
        resize: tty.then(|| format!("/containers/{id}/resize")),
        proxy_signals: (!tty).then(|| format!("/containers/{id}/kill")),
    };
    if session.pump(c)? {
        return Ok(());
    }
    let v: Value = serde_json::from_slice(&wait.bytes()?).unwrap_or(Value::Null);
    let code = v.get("StatusCode").and_then(Value::as_i64).unwrap_or(1);
    if code != 0 {
        return Err(Exit(code as i32).into());
    }
    Ok(())
}

/// `attach`: the running container's stdio here until it exits (its exit code) or the
/// user detaches (0).
pub fn attach(c: &Client, a: &AttachArgs) -> Result<()> {
    let info = c.get_json(&format!("/containers/{}/json", enc(&a.container)))?;
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(&a.container)
        .to_owned();
    if !info
        .pointer("/State/Running")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if info
        .pointer("/State/Paused")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stdin = !a.no_stdin
        && info
            .pointer("/Config/OpenStdin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    if tty && stdin && !tty::stdin_is_tty() {
        return Err(not_a_tty());
    }
    let mut q = format!(
        "/containers/{id}/attach?stream=1&stdin={}&stdout=1&stderr=1",
        stdin as u8
    );
    if let Some(k) = &a.detach_keys {
        q.push_str(&format!("&detachKeys={}", enc(k)));
    }
    // The wait is asked before the stream (as docker does): a `--rm` container is gone
    // by the time its stream ends, and its exit code with it.
    let wait = c
        .raw(
            "POST",
            &format!("/containers/{id}/wait?condition=not-running"),
            None,
            &[],
        )?
        .check()?;
    let (sock, pending) = c.hijack(&q, None)?;
    let session = Session {
        sock,
        pending,
        tty,
        stdin,
        detach_keys: a.detach_keys.clone(),
        resize: tty.then(|| format!("/containers/{id}/resize")),
        proxy_signals: (!tty && a.sig_proxy).then(|| format!("/containers/{id}/kill")),
    };
    if session.pump(c)? {
        return Ok(());
    }
    let v: Value = serde_json::from_slice(&wait.bytes()?).unwrap_or(Value::Null);
    if let Some(msg) = v.pointer("/Error/Message").and_then(Value::as_str)
        && !msg.is_empty()
    {
        bail!("{msg}");
    }
    let code = v.get("StatusCode").and_then(Value::as_i64).unwrap_or(-1);
    if code != 0 {
        return Err(Exit(code as i32).into());
    }
    Ok(())
}

pub fn exec(c: &Client, a: &ExecArgs) -> Result<()> {
    // As docker: the container is looked up before the terminal is checked.
    c.get_json(&format!("/containers/{}/json", enc(&a.container)))?;
    if a.tty && a.interactive && !a.detach && !tty::stdin_is_tty() {
        return Err(not_a_tty());
    }
    let mut cfg = json!({
        "AttachStdin": a.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Tty": a.tty,
        "Env": env_list(&a.env, &a.env_file)?,
        "Cmd": a.command,
        "Privileged": a.privileged,
    });
    if let Some(o) = cfg.as_object_mut() {
        for (k, v) in [
            ("WorkingDir", &a.workdir),
            ("User", &a.user),
            ("DetachKeys", &a.detach_keys),
        ] {
            if let Some(v) = v {
                o.insert(k.into(), json!(v));
            }
        }
    }
    let created = c.post_json(
        &format!("/containers/{}/exec", enc(&a.container)),
        Some(&cfg),
    )?;
    let eid = created
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("daemon returned no exec ID"))?
        .to_owned();
    if a.detach {
        c.post(
            &format!("/exec/{eid}/start"),
            Some(&json!({"Detach": true, "Tty": a.tty})),
        )?
        .bytes()?;
        return Ok(());
    }
    let (sock, pending) = c.hijack(
        &format!("/exec/{eid}/start"),
        Some(&json!({"Detach": false, "Tty": a.tty})),
    )?;
    let session = Session {
        sock,
        pending,
        tty: a.tty,
        stdin: a.interactive,
        detach_keys: a.detach_keys.clone(),
        resize: a.tty.then(|| format!("/exec/{eid}/resize")),
        proxy_signals: None,
    };
    if session.pump(c)? {
        return Ok(());
    }
    let v = c.get_json(&format!("/exec/{eid}/json"))?;
    let code = v.get("ExitCode").and_then(Value::as_i64).unwrap_or(126);
    if code != 0 {
        return Err(Exit(code as i32).into());
    }
    Ok(())
}

/// One attached stream: stdin → socket on a thread, socket → stdout/stderr here, raw
/// mode and resizes for a tty, signals passed on for a non-tty.
struct Session {
    sock: crate::client::Conn,
    pending: Vec<u8>,
    tty: bool,
    stdin: bool,
    detach_keys: Option<String>,
    resize: Option<String>,
    proxy_signals: Option<String>,
}

impl Session {
    /// Returns true when the user detached (the container keeps running).
    fn pump(self, c: &Client) -> Result<bool> {
        let raw = if self.tty && self.stdin {
            tty::RawMode::enter()
        } else {
            None
        };
        if let Some(path) = &self.resize {
            resize(c, path);
            let (c2, p2) = (c.clone(), path.clone());
            if let Ok(mut sig) =
                signal_hook::iterator::Signals::new([signal_hook::consts::SIGWINCH])
            {
                std::thread::spawn(move || {
                    for _ in sig.forever() {
                        resize(&c2, &p2);
                    }
                });
            }
        }
        if let Some(path) = &self.proxy_signals {
            use signal_hook::consts::*;
            let (c2, p2) = (c.clone(), path.clone());
            if let Ok(mut sig) = signal_hook::iterator::Signals::new([
                SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
            ]) {
                std::thread::spawn(move || {
                    for s in sig.forever() {
                        let _ = c2.post(&format!("{p2}?signal={s}"), None);
                    }
                });
            }
        }
        let detached = Arc::new(AtomicBool::new(false));
        if self.stdin {
            let mut w = self.sock.try_clone()?;
            let det = detached.clone();
            let tty = self.tty;
            let keys = self.detach_keys.clone();
            std::thread::spawn(move || {
                let mut scan = tty.then(|| DetachKeys::new(keys.as_deref()));
                let mut buf = [0u8; 4096];
                let mut input = std::io::stdin().lock();
                loop {
                    let n = match input.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let (data, done) = match scan.as_mut() {
                        Some(s) => s.feed(&buf[..n]),
                        None => (buf[..n].to_vec(), false),
                    };
                    if !data.is_empty() && w.write_all(&data).is_err() {
                        return;
                    }
                    if done {
                        det.store(true, Ordering::SeqCst);
                        let _ = w.shutdown(Shutdown::Both);
                        return;
                    }
                }
                // stdin EOF: half-close so the container sees EOF too.
                let _ = w.shutdown(Shutdown::Write);
            });
        }
        let reader = Prefixed {
            pending: self.pending,
            pos: 0,
            inner: &self.sock,
        };
        let res = stream::copy_output(reader, self.tty);
        drop(raw);
        if detached.load(Ordering::SeqCst) {
            // Docker leaves the cursor on a fresh line after a detach.
            eprintln!();
            return Ok(true);
        }
        res?;
        Ok(false)
    }
}

fn resize(c: &Client, path: &str) {
    if let Some((w, h)) = tty::size() {
        let _ = c.post(&format!("{path}?h={h}&w={w}"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512kb").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_bytes("2 GiB").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("7b").unwrap(), 7);
        for (bad, msg) in [
            ("bogus", "invalid size: 'bogus'"),
            ("1q", "invalid suffix: 'q'"),
            ("1mbb", "invalid suffix: 'mbb'"),
            ("1kx", "invalid suffix: 'kx'"),
            ("-1", "invalid size: '-1'"),
            (
                "1.2.3m",
                "strconv.ParseFloat: parsing \"1.2.3\": invalid syntax",
            ),
        ] {
            assert_eq!(parse_bytes(bad).unwrap_err().to_string(), msg, "{bad}");
        }
    }

    #[test]
    fn restart_policies_are_validated() {
        assert_eq!(
            restart_policy("on-failure:3").unwrap()["MaximumRetryCount"],
            3
        );
        // Sent as docker sends it (the daemon keeps it, inspect shows it).
        assert_eq!(restart_policy("no").unwrap()["Name"], "no");
        assert!(restart_policy("on-failure:x").is_err());
    }
}
