//! Container tools that are one request each: top, diff, export, commit, rename, update,
//! port and container prune — plus the prompt and output helpers the prune commands share.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Value, json};

use crate::Exit;
use crate::args::{
    CommitArgs, ContainerArg, ExportArgs, PortArgs, PruneArgs, RenameArgs, TopArgs, UpdateArgs,
};
use crate::client::{Client, enc};
use crate::container::{each, prune_filters_query, st};
use crate::format;

/// Go's tabwriter settings docker uses for its fixed tables (minwidth, padding).
pub fn table(minwidth: usize, text: &str) -> Result<()> {
    let mut tw = tabwriter::TabWriter::new(Vec::new())
        .minwidth(minwidth.saturating_sub(3))
        .padding(3);
    tw.write_all(text.as_bytes())?;
    let out = tw.into_inner().map_err(|e| anyhow!("table layout: {e}"))?;
    let mut o = std::io::stdout().lock();
    o.write_all(&out)?;
    o.flush()?;
    Ok(())
}

pub fn top(c: &Client, a: &TopArgs) -> Result<()> {
    let mut path = format!("/containers/{}/top", enc(&a.container));
    if !a.ps_args.is_empty() {
        path.push_str(&format!("?ps_args={}", enc(&a.ps_args.join(" "))));
    }
    let v = c.get_json(&path)?;
    let strs = |x: &Value| -> Vec<String> {
        x.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut text = strs(v.get("Titles").unwrap_or(&Value::Null)).join("\t");
    text.push('\n');
    for p in v
        .get("Processes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        text.push_str(&strs(p).join("\t"));
        text.push('\n');
    }
    table(20, &text)
}

pub fn diff(c: &Client, a: &ContainerArg) -> Result<()> {
    if a.container.is_empty() {
        return Err(crate::client::StreamError("Container name cannot be empty".into()).into());
    }
    let v = c.get_json(&format!("/containers/{}/changes", enc(&a.container)))?;
    let mut o = String::new();
    for ch in v.as_array().into_iter().flatten() {
        let kind = match ch.get("Kind").and_then(Value::as_i64) {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        o.push_str(&format!("{kind} {}\n", st(ch, "Path")));
    }
    print!("{o}");
    Ok(())
}

/// Where a tar stream goes: `-o FILE` (docker's checks and atomic replace, its errors
/// after `what`), else stdout unless that is a terminal (docker refuses those).
pub enum TarSink {
    Stdout,
    File(crate::outfile::OutFile),
}

impl TarSink {
    pub fn open(output: Option<&str>, what: &str) -> Result<TarSink> {
        match output {
            Some(p) if !p.is_empty() => crate::outfile::OutFile::create(p)
                .map(TarSink::File)
                .map_err(|e| anyhow!("{what}: {e}")),
            _ if std::io::stdout().is_terminal() => {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect")
            }
            _ => Ok(TarSink::Stdout),
        }
    }

    /// Copies the whole archive, then makes it the destination file.
    pub fn copy_from(self, r: &mut impl std::io::Read) -> Result<()> {
        match self {
            TarSink::Stdout => {
                let mut out = std::io::stdout().lock();
                std::io::copy(r, &mut out)?;
                out.flush()?;
            }
            TarSink::File(mut f) => {
                std::io::copy(r, &mut f)?;
                f.commit()?;
            }
        }
        Ok(())
    }
}

pub fn export(c: &Client, a: &ExportArgs) -> Result<()> {
    let out = TarSink::open(a.output.as_deref(), "failed to export container")?;
    let mut r = c.get(&format!("/containers/{}/export", enc(&a.container)))?;
    out.copy_from(&mut r.body)
}

/// `repo[:tag]` → (repo, tag) the way the API takes them (tag empty when absent).
pub fn repo_tag(r: &str) -> (String, String) {
    let last = r.rsplit('/').next().unwrap_or(r);
    match last.rsplit_once(':') {
        Some((_, t)) if !r.contains('@') => (r[..r.len() - t.len() - 1].to_owned(), t.to_owned()),
        _ => (r.to_owned(), String::new()),
    }
}

/// Appends `&key=value` (escaped) for every value present; `repo[:tag]` as repo and tag.
pub fn add_query(q: &mut String, repo: Option<&str>, pairs: &[(&str, Option<&str>)]) {
    if let Some(r) = repo {
        let (repo, tag) = repo_tag(r);
        q.push_str(&format!("&repo={}&tag={}", enc(&repo), enc(&tag)));
    }
    for (k, v) in pairs {
        if let Some(v) = v {
            q.push_str(&format!("&{k}={}", enc(v)));
        }
    }
}

pub fn commit(c: &Client, a: &CommitArgs) -> Result<()> {
    // As docker: the new name is checked before the daemon is asked, in
    // reference.ParseNormalizedNamed's words.
    if let Some(r) = &a.repository {
        check_reference(r).map_err(|e| anyhow!("{e}"))?;
    }
    crate::client::check_name("container", &a.container)?;
    let mut q = format!("/commit?container={}&pause={}", enc(&a.container), a.pause);
    let mut pairs = vec![
        ("comment", a.message.as_deref()),
        ("author", a.author.as_deref()),
    ];
    pairs.extend(a.change.iter().map(|c| ("changes", Some(c.as_str()))));
    add_query(&mut q, a.repository.as_deref(), &pairs);
    let v = c.post_json(&q, Some(&json!({})))?;
    println!("{}", st(&v, "Id"));
    Ok(())
}

pub fn rename(c: &Client, a: &RenameArgs) -> Result<()> {
    // As docker: both names trimmed, and neither may be empty.
    let (old, new) = (a.container.trim(), a.new_name.trim());
    if old.is_empty() || new.is_empty() {
        bail!("Error: Neither old nor new names may be empty");
    }
    let r = c.post(
        &format!("/containers/{}/rename?name={}", enc(old), enc(new)),
        None,
    );
    if let Err(e) = r.and_then(|r| r.bytes()) {
        eprintln!("{e}");
        eprintln!("Error: failed to rename container named {}", a.container);
        return Err(crate::Exit(1).into());
    }
    Ok(())
}

/// `--cpus 1.5` → NanoCpus.
fn nano_cpus(s: &str) -> Result<i64> {
    let f: f64 = s.parse().map_err(|_| {
        crate::run::flag_value_error(
            "--cpus",
            s,
            format!("failed to parse {s} as a rational number"),
        )
    })?;
    Ok((f * 1e9).round() as i64)
}

/// `--memory-swap -1` is unlimited, else a size.
fn swap(s: &str) -> Result<i64> {
    if s.trim() == "-1" {
        Ok(-1)
    } else {
        crate::run::flag_bytes("--memory-swap", s)
    }
}

pub fn update_body(a: &UpdateArgs) -> Result<Value> {
    let mut b = Map::new();
    let mut put = |k: &str, v: Value| {
        b.insert(k.to_owned(), v);
    };
    if let Some(x) = a.blkio_weight {
        put("BlkioWeight", json!(x));
    }
    if let Some(x) = a.cpu_period {
        put("CpuPeriod", json!(x));
    }
    if let Some(x) = a.cpu_quota {
        put("CpuQuota", json!(x));
    }
    if let Some(x) = a.cpu_rt_period {
        put("CpuRealtimePeriod", json!(x));
    }
    if let Some(x) = a.cpu_rt_runtime {
        put("CpuRealtimeRuntime", json!(x));
    }
    if let Some(x) = a.cpu_shares {
        put("CpuShares", json!(x));
    }
    if let Some(x) = &a.cpus {
        put("NanoCpus", json!(nano_cpus(x)?));
    }
    if let Some(x) = &a.cpuset_cpus {
        put("CpusetCpus", json!(x));
    }
    if let Some(x) = &a.cpuset_mems {
        put("CpusetMems", json!(x));
    }
    if let Some(x) = &a.memory {
        put("Memory", json!(crate::run::flag_bytes("-m, --memory", x)?));
    }
    if let Some(x) = &a.memory_reservation {
        put(
            "MemoryReservation",
            json!(crate::run::flag_bytes("--memory-reservation", x)?),
        );
    }
    if let Some(x) = &a.memory_swap {
        put("MemorySwap", json!(swap(x)?));
    }
    if let Some(x) = &a.kernel_memory {
        put(
            "KernelMemory",
            json!(crate::run::flag_bytes("--kernel-memory", x)?),
        );
    }
    if let Some(x) = a.pids_limit {
        put("PidsLimit", json!(x));
    }
    if let Some(r) = &a.restart {
        let (name, count) = match r.split_once(':') {
            // docker's opts.ParseRestartPolicy, before the daemon is asked.
            Some(("", _)) => {
                bail!("invalid restart policy format: no policy provided before colon")
            }
            Some((n, "")) => (n, 0),
            Some((n, c)) => (
                n,
                c.parse::<i64>().map_err(|_| {
                    anyhow!("invalid restart policy format: maximum retry count must be an integer")
                })?,
            ),
            None => (r.as_str(), 0),
        };
        put(
            "RestartPolicy",
            json!({"Name": if name == "no" { "" } else { name }, "MaximumRetryCount": count}),
        );
    }
    if b.is_empty() {
        bail!("you must provide one or more flags when using this command");
    }
    Ok(Value::Object(b))
}

pub fn update(c: &Client, a: &UpdateArgs) -> Result<()> {
    let body = update_body(a)?;
    each(&a.containers, |n| {
        let v = c.post_json(&format!("/containers/{}/update", enc(n)), Some(&body))?;
        for w in v
            .get("Warnings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            eprintln!("{}", w.as_str().unwrap_or(""));
        }
        Ok(())
    })
}

fn host_port(b: &Value) -> String {
    let ip = st(b, "HostIp");
    let ip = if ip.is_empty() { "0.0.0.0".into() } else { ip };
    let ip = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip
    };
    format!("{ip}:{}", st(b, "HostPort"))
}

pub fn port(c: &Client, a: &PortArgs) -> Result<()> {
    let v = c.get_json(&format!("/containers/{}/json", enc(&a.container)))?;
    let ports = v
        .pointer("/NetworkSettings/Ports")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let bindings = |k: &str| -> Vec<Value> {
        ports
            .get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if let Some(p) = &a.port {
        // As docker: `80/` is `80/tcp`, and the number is checked as Go's
        // strconv.ParseUint(port, 10, 16) checks it, in its words.
        let (num, proto) = p.split_once('/').unwrap_or((p, ""));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            bail!(
                "Error: invalid port ({num}): strconv.ParseUint: parsing {num:?}: invalid syntax"
            );
        }
        if num.parse::<u16>().is_err() {
            bail!(
                "Error: invalid port ({num}): strconv.ParseUint: parsing {num:?}: value out of range"
            );
        }
        let key = format!("{num}/{proto}");
        let b = bindings(&key);
        if b.is_empty() {
            bail!("Error: No public port '{p}' published for {}", a.container);
        }
        for x in &b {
            println!("{}", host_port(x));
        }
        return Ok(());
    }
    let mut lines = Vec::new();
    for k in ports.keys() {
        for x in bindings(k) {
            lines.push(format!("{k} -> {}", host_port(&x)));
        }
    }
    // Docker sorts numerically by port, then protocol.
    lines.sort_by_key(|l| {
        let port: u32 = l
            .split('/')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        (port, l.clone())
    });
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// Docker's `[y/N]` prompt (on stdout); a non-terminal stdin counts as what it reads.
/// Interrupted (SIGINT/SIGTERM) while it waits, it ends the line and exits 0, as docker's.
pub fn confirm(warning: &str) -> Result<bool> {
    extern "C" fn interrupted(_: libc::c_int) {
        // Only async-signal-safe calls here.
        unsafe {
            libc::write(1, b"\n".as_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    let handler: extern "C" fn(libc::c_int) = interrupted;
    let old: Vec<_> = [libc::SIGINT, libc::SIGTERM]
        .into_iter()
        .map(|sig| {
            (sig, unsafe {
                libc::signal(sig, handler as libc::sighandler_t)
            })
        })
        .collect();
    let restore = || {
        for (sig, h) in &old {
            unsafe { libc::signal(*sig, *h) };
        }
    };
    // (the handler is in place before the question is seen)
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    if let Err(e) = std::io::stdout().flush() {
        restore();
        return Err(e.into());
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    restore();
    read?;
    let ans = line.trim().to_lowercase();
    Ok(ans == "y" || ans == "yes")
}

/// The prune commands' summary: `Deleted X:` and the IDs, then reclaimed space.
pub fn prune_report(title: &str, items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut o = format!("Deleted {title}:\n");
    for i in items {
        o.push_str(i);
        o.push('\n');
    }
    o.push('\n');
    o
}

pub fn str_list(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub fn reclaimed(v: &Value) -> f64 {
    v.get("SpaceReclaimed")
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
}

/// `POST /containers/prune`: (report text, bytes reclaimed).
pub fn prune_containers(c: &Client, filters: &[String]) -> Result<(String, f64)> {
    let q = prune_filters_query(filters)?;
    let v = c.post_json(
        &format!("/containers/prune?{}", q.trim_start_matches('&')),
        None,
    )?;
    Ok((
        prune_report("Containers", &str_list(&v, "ContainersDeleted")),
        reclaimed(&v),
    ))
}

/// A prune command: docker's question unless forced, then the report and the total.
pub fn run_prune(
    force: bool,
    warning: &str,
    prune: impl FnOnce() -> Result<(String, f64)>,
) -> Result<()> {
    if !force && !confirm(warning)? {
        return Err(Exit(0).into());
    }
    let (text, space) = prune()?;
    print!("{text}");
    println!("Total reclaimed space: {}", format::human_size(space));
    Ok(())
}

pub fn prune(c: &Client, a: &PruneArgs) -> Result<()> {
    run_prune(
        a.force,
        "WARNING! This will remove all stopped containers.",
        || prune_containers(c, &a.filter),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_and_tag_split_like_the_api_wants() {
        assert_eq!(repo_tag("a/b:v1"), ("a/b".into(), "v1".into()));
        assert_eq!(
            repo_tag("localhost:5000/a"),
            ("localhost:5000/a".into(), "".into())
        );
        assert_eq!(repo_tag("x"), ("x".into(), "".into()));
    }

    #[test]
    fn update_flags_become_resources() {
        use clap::Parser;
        let c = crate::cli::Cli::try_parse_from([
            "berth",
            "update",
            "--cpus",
            "1.5",
            "-m",
            "64m",
            "--restart",
            "on-failure:3",
            "c",
        ])
        .unwrap();
        let crate::cli::Cmd::Update(u) = c.cmd else {
            panic!()
        };
        let b = update_body(&u).unwrap();
        assert_eq!(b["NanoCpus"], 1_500_000_000i64);
        assert_eq!(b["Memory"], 64 << 20);
        assert_eq!(b["RestartPolicy"]["MaximumRetryCount"], 3);
    }
}

/// Checks an image reference as the docker CLI does before it asks the daemon
/// (distribution/reference's ParseNormalizedNamed): Go's error text when it is not one.
pub fn check_reference(r: &str) -> Result<(), String> {
    const BAD: &str = "invalid reference format";
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    if let Some(d) = digest {
        // The reference grammar's digest: `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*`,
        // a colon, at least 32 hex digits.
        let ok = d.split_once(':').is_some_and(|(alg, hex)| {
            alg.split(['+', '.', '_', '-']).all(|p| {
                p.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                    && p.bytes().all(|b| b.is_ascii_alphanumeric())
            }) && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !ok {
            return Err(BAD.into());
        }
    }
    let (name, tag) = match name.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (name, None),
    };
    if let Some(t) = tag {
        let b = t.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
        if !ok {
            return Err(BAD.into());
        }
    }
    // A first component with a dot or port, or localhost, is a registry host.
    let (domain, path) = match name.split_once('/') {
        Some((d, p)) if d.contains(['.', ':']) || d == "localhost" || d != d.to_lowercase() => {
            (Some(d), p)
        }
        _ => (None, name),
    };
    if let Some(d) = domain {
        let host = d.rsplit_once(':').map_or(d, |(h, port)| {
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                "!"
            } else {
                h
            }
        });
        let ok = !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !ok {
            return Err(BAD.into());
        }
    }
    let component = |c: &str| {
        let b = c.as_bytes();
        if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric()
        {
            return false;
        }
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let sep = &c[start..i];
            if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
                return false;
            }
        }
        true
    };
    if path.is_empty() || !path.split('/').all(|p| component(&p.to_lowercase())) {
        return Err(BAD.into());
    }
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        let remote = match domain {
            None | Some("docker.io") if !path.contains('/') => format!("library/{path}"),
            _ => path.to_owned(),
        };
        return Err(format!(
            "{BAD}: repository name ({remote}) must be lowercase"
        ));
    }
    digest.map_or(Ok(()), check_digest)
}

/// go-digest's Digest.Validate, as reference.Parse applies it to a well-formed digest.
fn check_digest(d: &str) -> Result<(), String> {
    let (alg, hex) = d.split_once(':').unwrap_or((d, ""));
    let size = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        // (An algorithm go-digest would call malformed is refused earlier: the reference
        // grammar or the lowercase check.)
        _ => return Err("unsupported digest algorithm".into()),
    };
    if hex.len() != size {
        return Err("invalid checksum digest length".into());
    }
    if !hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("invalid checksum digest format".into());
    }
    Ok(())
}

#[cfg(test)]
mod reference_tests {
    use super::check_reference;

    #[test]
    fn references_are_checked_as_docker_checks_them() {
        for ok in [
            "busybox",
            "bbtest:latest",
            "localhost:5000/a/b:1.0",
            "a_b.c-d__e",
            "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "My.Registry/x",
        ] {
            assert_eq!(check_reference(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_reference("BAD").unwrap_err(),
            "invalid reference format: repository name (library/BAD) must be lowercase"
        );
        assert_eq!(
            check_reference("Bad:Name").unwrap_err(),
            "invalid reference format: repository name (library/Bad) must be lowercase"
        );
        let h = "0123456789abcdef0123456789abcdef";
        for (bad, why) in [
            (format!("x@sha256:{h}"), "invalid checksum digest length"),
            (format!("x@foo:{h}"), "unsupported digest algorithm"),
            (
                format!("x@sha256:{}", h.repeat(2).to_uppercase()),
                "invalid checksum digest format",
            ),
        ] {
            assert_eq!(check_reference(&bad).unwrap_err(), why, "{bad}");
        }
        for bad in ["bad@@", "a:b:c", "-a", "a//b", "a:", "x:-t", "x@sha256:abc"] {
            assert_eq!(
                check_reference(bad).unwrap_err(),
                "invalid reference format",
                "{bad}"
            );
        }
    }
}
