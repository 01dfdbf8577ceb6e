//! `build`: the docker CLI's legacy builder client. The context is packed and streamed
//! as `POST /build` (docker's query parameters, `X-Registry-Config`), with docker's
//! `Sending build context to Docker daemon` counter, then the daemon's JSON messages are
//! shown as docker shows them: the build's own text, pull progress through the shared
//! renderer, the image ID from `aux` (for `-q` and `--iidfile`), and an error as the
//! message on stderr with the daemon's code as the exit status. (docker's DEPRECATED
//! notice about the legacy builder is not printed: berth has no other builder.)

use std::io::{self, IsTerminal, Read, Write};

use anyhow::{Result, anyhow};
use serde_json::{Map, Value, json};

use crate::Exit;
use crate::args::BuildArgs;
use crate::buildctx::{self, Prepared, Source};
use crate::client::{Client, query_escape};
use crate::run::{flag_bytes, flag_value_error};

/// The checked flags and the prepared context: everything known before the daemon is
/// asked (or started).
pub struct Build {
    query: String,
    context: Prepared,
}

/// Checks the flags as docker's flag parsing does (each a flag error, status 125), then
/// prepares the context (docker's errors, status 1).
pub fn prepare(a: &BuildArgs, host: &str) -> Result<Build> {
    let mut build_args: Vec<(String, Option<String>)> = Vec::new();
    for b in &a.build_arg {
        let (k, v) = match b.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (b.as_str(), std::env::var(b).ok()),
        };
        if k.is_empty() {
            return Err(flag_value_error(
                "--build-arg",
                b,
                format!("invalid environment variable: {b}"),
            ));
        }
        build_args.retain(|(x, _)| x != k);
        build_args.push((k.to_owned(), v));
    }
    crate::run::check_labels("--label", &a.label)?;
    for h in &a.add_host {
        crate::runflags::check_add_host(h)?;
    }
    let mut ulimits = Vec::new();
    for u in &a.ulimit {
        let v = crate::runflags::ulimit(u).map_err(|e| flag_value_error("--ulimit", u, e))?;
        // (a later value for the same limit replaces the earlier one)
        ulimits.retain(|x: &Value| x["Name"] != v["Name"]);
        ulimits.push(v);
    }
    let memory = a
        .memory
        .as_deref()
        .map(|m| flag_bytes("-m, --memory", m))
        .transpose()?;
    let swap = a
        .memory_swap
        .as_deref()
        .map(|m| {
            if m.trim() == "-1" {
                Ok(-1)
            } else {
                flag_bytes("--memory-swap", m)
            }
        })
        .transpose()?;
    let shm = a
        .shm_size
        .as_deref()
        .map(|m| flag_bytes("--shm-size", m))
        .transpose()?;

    if let Some(f) = &a.iidfile
        && let Err(e) = std::fs::remove_file(f)
        && e.kind() != io::ErrorKind::NotFound
    {
        return Err(anyhow!(
            "Removing image ID file: remove {f}: {}",
            crate::cp::io_text(&e)
        ));
    }
    let context = buildctx::prepare(&a.context, a.file.as_deref())?;

    // docker's query: url.Values, so sorted by name; only what differs from the defaults.
    let mut q: Vec<(&str, String)> = Vec::new();
    let mut args = Map::new();
    for (k, v) in crate::auth::proxy_build_args(host) {
        args.insert(k, json!(v));
    }
    for (k, v) in build_args {
        args.insert(k, v.map_or(Value::Null, Value::String));
    }
    if !args.is_empty() {
        q.push(("buildargs", Value::Object(args).to_string()));
    }
    if !a.cache_from.is_empty() {
        q.push(("cachefrom", json!(a.cache_from).to_string()));
    }
    let int = |v: Option<i64>| v.filter(|n| *n != 0).map(|n| n.to_string());
    let text = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    for (k, v) in [
        ("cgroupparent", text(&a.cgroup_parent)),
        ("cpuperiod", int(a.cpu_period)),
        ("cpuquota", int(a.cpu_quota)),
        ("cpusetcpus", text(&a.cpuset_cpus)),
        ("cpusetmems", text(&a.cpuset_mems)),
        ("cpushares", int(a.cpu_shares)),
        (
            "dockerfile",
            Some(context.dockerfile.clone()).filter(|d| !d.is_empty()),
        ),
    ] {
        if let Some(v) = v {
            q.push((k, v));
        }
    }
    for h in &a.add_host {
        q.push(("extrahosts", crate::runflags::extra_host(h)));
    }
    if a.force_rm {
        q.push(("forcerm", "1".into()));
    }
    if let Some(i) = text(&a.isolation).filter(|i| !i.eq_ignore_ascii_case("default")) {
        q.push(("isolation", i));
    }
    if !a.label.is_empty() {
        let labels: Map<String, Value> = a
            .label
            .iter()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap_or((l, ""));
                (k.to_owned(), json!(v))
            })
            .collect();
        q.push(("labels", Value::Object(labels).to_string()));
    }
    for (k, v) in [("memory", memory), ("memswap", swap)] {
        if let Some(v) = v.filter(|v| *v != 0) {
            q.push((k, v.to_string()));
        }
    }
    if a.network != "default" && !a.network.is_empty() {
        q.push(("networkmode", a.network.clone()));
    }
    if a.no_cache {
        q.push(("nocache", "1".into()));
    }
    let platform = a
        .platform
        .clone()
        .or_else(|| std::env::var("DOCKER_DEFAULT_PLATFORM").ok())
        .filter(|p| !p.is_empty());
    if let Some(p) = platform {
        q.push(("platform", p));
    }
    if a.pull {
        q.push(("pull", "1".into()));
    }
    if a.quiet {
        q.push(("q", "1".into()));
    }
    if let Source::Remote(url) = &context.source {
        q.push(("remote", url.clone()));
    }
    if !a.rm {
        q.push(("rm", "0".into()));
    }
    for s in &a.security_opt {
        q.push(("securityopt", s.clone()));
    }
    if let Some(s) = shm.filter(|s| *s != 0) {
        q.push(("shmsize", s.to_string()));
    }
    if a.squash {
        q.push(("squash", "1".into()));
    }
    for t in &a.tag {
        q.push(("t", t.clone()));
    }
    if let Some(t) = text(&a.target) {
        q.push(("target", t));
    }
    if !ulimits.is_empty() {
        // (Go's field order: Name, Hard, Soft)
        let list: Vec<String> = ulimits
            .iter()
            .map(|u| {
                format!(
                    "{{\"Name\":{},\"Hard\":{},\"Soft\":{}}}",
                    u["Name"], u["Hard"], u["Soft"]
                )
            })
            .collect();
        q.push(("ulimits", format!("[{}]", list.join(","))));
    }
    q.push(("version", "1".into()));
    q.sort_by_key(|(k, _)| *k);
    let query = q
        .iter()
        .map(|(k, v)| format!("{k}={}", query_escape(v)))
        .collect::<Vec<_>>()
        .join("&");
    Ok(Build { query, context })
}

/// `-t`'s values, checked as the flag is parsed (before the argument count, as pflag
/// does).
pub fn tag_value(t: &str) -> Result<String, String> {
    check_tag(t).map(|_| t.to_owned())
}

/// A tag as docker's validateTag checks it (reference.ParseNormalizedNamed).
fn check_tag(t: &str) -> Result<(), String> {
    if t.len() == 64 && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!(
            "invalid repository name ({t}), cannot specify 64-byte hexadecimal strings"
        ));
    }
    crate::ops::check_reference(t)
}

/// docker's progress reader around the context: counts what is sent and prints
/// `Sending build context to Docker daemon  SIZE`, redrawn (`\r`) every 512 kB on a
/// terminal, and its last value once the context is sent.
struct Counted<'a, R> {
    inner: R,
    out: &'a mut dyn Write,
    term: bool,
    sent: u64,
    shown: u64,
    done: bool,
}

impl<R: Read> Counted<'_, R> {
    fn show(&mut self, last: bool) {
        let size = crate::format::human_size4(self.sent as f64);
        let _ = write!(
            self.out,
            "Sending build context to Docker daemon {size:>8}\r"
        );
        if last {
            let _ = write!(self.out, "\r\n");
        }
        let _ = self.out.flush();
    }
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        match &r {
            Ok(0) | Err(_) if !self.done => {
                self.done = true;
                self.show(true);
            }
            Ok(n) => {
                self.sent += *n as u64;
                if self.term && self.sent - self.shown > 512 * 1024 {
                    self.shown = self.sent;
                    self.show(false);
                }
            }
            _ => {}
        }
        r
    }
}

pub fn build(c: &Client, a: &BuildArgs, b: Build) -> Result<()> {
    if a.squash {
        let ping = c.raw("GET", "/_ping", None, &[])?;
        if ping.header("Docker-Experimental") != Some("true") {
            return Err(anyhow!(
                "\"--squash\" is only supported on a Docker daemon with experimental features enabled"
            ));
        }
    }
    let stdout = io::stdout();
    let term = stdout.is_terminal();
    // -q: the counter and the build's text are kept, and shown only if it fails.
    let mut progress: Vec<u8> = Vec::new();
    let mut out_buf: Vec<u8> = Vec::new();
    let auth = crate::auth::registry_config();
    let headers = [
        ("Content-Type", "application/x-tar"),
        ("X-Registry-Config", auth.as_str()),
    ];
    let path = format!("/build?{}", b.query);
    let mut stdout_lock = stdout.lock();
    let prog_out: &mut dyn Write = if a.quiet {
        &mut progress
    } else {
        &mut stdout_lock
    };
    let sent = match b.context.source {
        Source::Remote(_) => c.raw("POST", &path, None, &headers),
        Source::Bytes { head, stdin } => {
            let rest: Box<dyn Read> = if stdin {
                Box::new(io::stdin().lock())
            } else {
                Box::new(io::empty())
            };
            let data = io::Cursor::new(head).chain(rest);
            let inner: Box<dyn Read> = if a.compress {
                Box::new(flate2::read::GzEncoder::new(
                    data,
                    flate2::Compression::default(),
                ))
            } else {
                Box::new(data)
            };
            let mut body = Counted {
                inner,
                out: prog_out,
                term,
                sent: 0,
                shown: 0,
                done: false,
            };
            c.post_stream(&path, &mut body, &headers)
        }
        Source::Dir(ctx) => {
            let (reader, writer) = io::pipe()?;
            let compress = a.compress;
            let packer = std::thread::spawn(move || -> io::Result<()> {
                if compress {
                    let mut gz =
                        flate2::write::GzEncoder::new(writer, flate2::Compression::default());
                    buildctx::write_tar(&ctx, &mut gz)?;
                    gz.finish()?.flush()
                } else {
                    buildctx::write_tar(&ctx, writer)
                }
            });
            let mut body = Counted {
                inner: reader,
                out: prog_out,
                term,
                sent: 0,
                shown: 0,
                done: false,
            };
            let r = c.post_stream(&path, &mut body, &headers);
            // (the packer must not write into a closed pipe: SIGPIPE would end us)
            let _ = io::copy(&mut body.inner, &mut io::sink());
            drop(body);
            match packer.join() {
                Ok(Err(e)) if r.is_err() => return Err(anyhow!("{}", crate::cp::io_text(&e))),
                _ => {}
            }
            r
        }
    };
    let r = match sent.and_then(|r| r.check()) {
        Ok(r) => r,
        Err(e) => {
            if a.quiet {
                eprint!("{}", String::from_utf8_lossy(&progress));
            }
            return Err(e);
        }
    };
    let mut image_id = String::new();
    let mut code = None;
    let shown = {
        let out: &mut dyn Write = if a.quiet {
            &mut out_buf
        } else {
            &mut stdout_lock
        };
        let mut on_message = |v: &Value| {
            if let Some(id) = v.pointer("/aux/ID").and_then(Value::as_str) {
                image_id = id.to_owned();
            }
            if let Some(c) = v.pointer("/errorDetail/code").and_then(Value::as_i64) {
                code = Some(c);
            }
        };
        crate::image::show_messages(r.body, out, term && !a.quiet, false, true, &mut on_message)
    };
    if let Err(e) = shown {
        if let Some(msg) = e.downcast_ref::<crate::client::StreamError>() {
            if a.quiet {
                eprint!(
                    "{}{}",
                    String::from_utf8_lossy(&progress),
                    String::from_utf8_lossy(&out_buf)
                );
            }
            eprintln!("{}", msg.0);
            let code = code.filter(|c| *c != 0).unwrap_or(1);
            return Err(Exit(i32::try_from(code).unwrap_or(1)).into());
        }
        return Err(e);
    }
    if a.quiet {
        // (what the daemon says in quiet mode is the ID, newline included: docker
        // prints it, and writes it to --iidfile, as it is)
        image_id = String::from_utf8_lossy(&out_buf).into_owned();
        write!(stdout_lock, "{image_id}")?;
        stdout_lock.flush()?;
    }
    if let Some(f) = &a.iidfile {
        if image_id.is_empty() {
            return Err(anyhow!(
                "Server did not provide an image ID. Cannot write {f}"
            ));
        }
        std::fs::write(f, &image_id)
            .map_err(|e| anyhow!("open {f}: {}", crate::cp::io_text(&e)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_escaped_as_go_escapes_them() {
        assert_eq!(query_escape("a b/c:d"), "a+b%2Fc%3Ad");
        assert_eq!(query_escape("{\"X\":\"1\"}"), "%7B%22X%22%3A%221%22%7D");
    }

    #[test]
    fn tags_are_checked_as_docker_checks_them() {
        assert!(check_tag("a/b:1").is_ok());
        assert_eq!(
            check_tag("Bad:x").unwrap_err(),
            "invalid reference format: repository name (library/Bad) must be lowercase"
        );
        assert!(check_tag(&"a".repeat(64)).is_err());
    }
}
