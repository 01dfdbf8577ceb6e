//! Container commands that are one request each (or one per named container): ps, stop,
//! restart, kill, rm, pause, unpause, wait, logs, inspect.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};
use serde_json::{Value, json};

use crate::Exit;
use crate::cli::{InspectArgs, KillArgs, LogsArgs, NamesArgs, PsArgs, RmArgs, StopArgs};
use crate::client::{Client, DaemonError, enc};
use crate::format::{self, Format};

const PS_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub fn st(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// `--filter k=v` flags → the API's `filters` JSON, read as docker's FilterOpt reads
/// them: an empty one ignored, name and value trimmed, the name lowercased; one without
/// `=` is a bad flag value (the prune commands spell the flag `--filter`, the others
/// `-f, --filter`).
pub fn filters_query(flags: &[String]) -> Result<String> {
    filters_query_of(flags, "-f, --filter")
}

/// The same for the prune commands, whose filter flag has no short form (`--filter` in their
/// errors; `-f` is `--force` there).
pub fn prune_filters_query(flags: &[String]) -> Result<String> {
    filters_query_of(flags, "--filter")
}

fn filters_query_of(flags: &[String], flag: &str) -> Result<String> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in flags.iter().filter(|f| !f.is_empty()) {
        let Some((k, v)) = f.split_once('=') else {
            return Err(crate::run::flag_value_error(
                flag,
                f,
                "bad format of filter (expected name=value)",
            ));
        };
        m.entry(k.trim().to_lowercase())
            .or_default()
            .push(v.trim().to_owned());
    }
    if m.is_empty() {
        return Ok(String::new());
    }
    Ok(format!("&filters={}", enc(&serde_json::to_string(&m)?)))
}

/// One `ps` row as docker's template context sees it (strings, already formatted).
pub fn ps_row(c: &Value, trunc: bool) -> Value {
    let id = st(c, "Id");
    let names: Vec<String> = c
        .get("Names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|n| n.trim_start_matches('/').to_owned())
                // Docker hides link aliases (names with a further slash) unless --no-trunc.
                .filter(|n| !trunc || !n.contains('/'))
                .collect()
        })
        .unwrap_or_default();
    let command = st(c, "Command");
    let command = if trunc {
        format::ellipsis(&command, 20)
    } else {
        command
    };
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let labels = c
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let networks = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    let ports = display_ports(c.get("Ports").and_then(Value::as_array).map_or(&[], |a| a));
    let mounts = c
        .get("Mounts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|m| {
                    let n = st(m, "Name");
                    let n = if n.is_empty() { st(m, "Source") } else { n };
                    if trunc { format::ellipsis(&n, 15) } else { n }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    // Docker counts the mounts of the local volume driver.
    let local_volumes = c.get("Mounts").and_then(Value::as_array).map_or(0, |m| {
        m.iter().filter(|x| st(x, "Driver") == "local").count()
    });
    let image = st(c, "Image");
    json!({
        "ID": if trunc { id.chars().take(12).collect::<String>() } else { id },
        "Image": image,
        "Command": format!("{command:?}"),
        "CreatedAt": created_at(created),
        "RunningFor": format!("{} ago", format::human_duration(format::now() - created)),
        "Ports": ports,
        "State": st(c, "State"),
        "Status": st(c, "Status"),
        "Size": size_text(c),
        "Names": names.join(","),
        "Labels": labels,
        "Mounts": mounts,
        "Networks": networks,
        "LocalVolumes": local_volumes.to_string(),
        "Platform": null,
    })
}

/// Docker's PORTS cell: ports sorted (private port, IP, public port, type); runs of
/// consecutive private ports per IP and type grouped (`80-82/tcp`,
/// `0.0.0.0:80-81->80-81/tcp`); ports published on another host port last.
pub fn display_ports(ports: &[Value]) -> String {
    let num = |p: &Value, k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut ps: Vec<(u64, String, u64, String)> = ports
        .iter()
        .map(|p| {
            (
                num(p, "PrivatePort"),
                st(p, "IP"),
                num(p, "PublicPort"),
                st(p, "Type"),
            )
        })
        .collect();
    ps.sort();
    let group = |key: &(String, String), first: u64, last: u64| {
        let range = if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        };
        match key.0.as_str() {
            "" => format!("{range}/{}", key.1),
            ip => format!("{ip}:{range}->{range}/{}", key.1),
        }
    };
    let mut groups: Vec<((String, String), u64, u64)> = Vec::new();
    let mut out = Vec::new();
    let mut mapped = Vec::new();
    for (private, ip, public, ty) in ps {
        if !ip.is_empty() && public != private {
            let host = if ip.contains(':') {
                format!("[{ip}]:{public}")
            } else {
                format!("{ip}:{public}")
            };
            mapped.push(format!("{host}->{private}/{ty}"));
            continue;
        }
        let key = (ip, ty);
        match groups.iter_mut().find(|g| g.0 == key) {
            None => groups.push((key, private, private)),
            Some(g) if private == g.2 + 1 => g.2 = private,
            Some(g) => {
                out.push(group(&g.0, g.1, g.2));
                (g.1, g.2) = (private, private);
            }
        }
    }
    out.extend(groups.iter().map(|g| group(&g.0, g.1, g.2)));
    out.extend(mapped);
    out.join(", ")
}

/// Docker's SIZE cell: the writable layer, and the whole root filesystem when known.
fn size_text(c: &Value) -> String {
    let rw = format::human_size(c.get("SizeRw").and_then(Value::as_f64).unwrap_or(0.0));
    match c.get("SizeRootFs").and_then(Value::as_f64) {
        Some(v) if v > 0.0 => format!("{rw} (virtual {})", format::human_size(v)),
        _ => rw,
    }
}

/// Docker's CreatedAt: `2006-01-02 15:04:05 -0700 MST` in the local time zone, as Go's
/// `time.Time.String` prints it.
pub fn created_at(t: i64) -> String {
    let (off, name) = format::local_zone(t);
    let a = off.abs();
    format!(
        "{} {}{:02}{:02} {name}",
        format::civil(t + off),
        if off < 0 { '-' } else { '+' },
        a / 3600,
        a / 60 % 60
    )
}

/// docker ps's `raw` format (a row per block; empty state, status, labels and ports
/// leave no space after their key).
macro_rules! ps_raw {
    () => {
        "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n"
    };
}
const PS_RAW: &str = ps_raw!();
const PS_RAW_SIZE: &str = concat!(ps_raw!(), "size: {{.Size}}\n");

pub fn ps(c: &Client, a: &PsArgs) -> Result<()> {
    // -n/-l are the daemon's `limit` (it orders newest first), as docker sends them.
    let limit = if a.latest { 1 } else { a.last };
    let mut path = format!("/containers/json?all={}", a.all as u8);
    if limit > 0 {
        path.push_str(&format!("&limit={limit}"));
    }
    // As docker: sizes are fetched when asked for, or when the template shows them.
    let fmt = a.format.as_deref().unwrap_or("");
    // (`--format json` is not a template: docker leaves sizes out of it.)
    if a.size || fmt.contains(".Size") || fmt.contains("json .") {
        path.push_str("&size=1");
    }
    path.push_str(&filters_query(&a.filter)?);
    let list = c.get_json(&path)?;
    let items: Vec<Value> = list.as_array().cloned().unwrap_or_default();
    if a.quiet {
        // docker ps: -q wins over any format, with a warning.
        if a.format.as_deref().is_some_and(|f| !f.is_empty()) {
            eprintln!(
                "WARNING: Ignoring custom format, because both --format and --quiet are set."
            );
        }
        let key = if a.format.as_deref() == Some("raw") {
            "container_id: "
        } else {
            ""
        };
        for x in &items {
            let id = st(x, "Id");
            println!(
                "{key}{}",
                if a.no_trunc {
                    &id[..]
                } else {
                    &id[..id.len().min(12)]
                }
            );
        }
        return Ok(());
    }
    let default = if a.size {
        format!("{PS_TABLE}\t{{{{.Size}}}}")
    } else {
        PS_TABLE.to_owned()
    };
    let raw = if a.size { PS_RAW_SIZE } else { PS_RAW };
    let user = format::raw(a.format.as_deref(), false, raw, "");
    let f = Format::new(user, &default).go_type("*formatter.ContainerContext");
    let rows: Vec<Value> = items
        .iter()
        .map(|x| {
            let row = format::with_label_map(ps_row(x, !a.no_trunc), x.get("Labels"));
            format::with_go(row, "ps", x)
        })
        .collect();
    let headers = json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
        "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
        "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM",
    });
    f.render(&rows, &headers)
}

/// Runs `op` for each name; prints the name on success and docker's error otherwise;
/// exit 1 if any failed.
pub fn each(names: &[String], mut op: impl FnMut(&str) -> Result<()>) -> Result<()> {
    report(names, names.iter().map(|n| op(n)))
}

/// Prints each name whose result is a success, in order, and the errors; exit 1 if any.
fn report(names: &[String], results: impl Iterator<Item = Result<()>>) -> Result<()> {
    let mut failed = false;
    for (n, r) in names.iter().zip(results) {
        match r {
            Ok(()) => println!("{n}"),
            Err(e) => {
                failed = true;
                eprintln!("{e}");
            }
        }
    }
    if failed { Err(Exit(1).into()) } else { Ok(()) }
}

/// As [`each`], with the requests made at once, at most 50 in flight (docker's
/// `parallelOperation` for stop, kill, pause, unpause and rm): `stop a b c` waits one
/// timeout, not three. Results are reported in the order of the names.
pub fn each_parallel(
    c: &Client,
    names: &[String],
    op: impl Fn(&Client, &str) -> Result<()> + Sync,
) -> Result<()> {
    report(names, in_parallel(c, names, op).into_iter())
}

/// `op` for every name, each on a clone of `c` in a thread of its own (50 at a time);
/// the results in the order of `names`. One name runs here, on `c`.
fn in_parallel(
    c: &Client,
    names: &[String],
    op: impl Fn(&Client, &str) -> Result<()> + Sync,
) -> Vec<Result<()>> {
    if names.len() < 2 {
        return names.iter().map(|n| op(c, n)).collect();
    }
    if let Err(e) = c.settle_version() {
        let e = e.to_string();
        return names.iter().map(|_| Err(anyhow!("{e}"))).collect();
    }
    let op = &op;
    let mut out = Vec::with_capacity(names.len());
    for batch in names.chunks(50) {
        std::thread::scope(|s| {
            let running: Vec<_> = batch
                .iter()
                .map(|n| {
                    let c = c.clone();
                    s.spawn(move || op(&c, n))
                })
                .collect();
            out.extend(running.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("request thread panicked")))
            }));
        });
    }
    out
}

fn stop_query(a: &StopArgs) -> Result<String> {
    // docker's deprecated --time: a notice (on stdout, as cobra prints it), and not
    // with --timeout.
    if a.time.is_some() {
        println!("Flag --time has been deprecated, use --timeout instead");
        if a.timeout.is_some() {
            anyhow::bail!("conflicting options: cannot specify both --timeout and --time");
        }
    }
    let mut q = Vec::new();
    if let Some(t) = a.timeout.or(a.time) {
        q.push(format!("t={t}"));
    }
    if let Some(s) = &a.signal {
        q.push(format!("signal={}", enc(s)));
    }
    Ok(if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    })
}

pub fn stop(c: &Client, a: &StopArgs) -> Result<()> {
    let q = stop_query(a)?;
    each_parallel(c, &a.containers, |c, n| {
        c.post(&format!("/containers/{}/stop{q}", enc(n)), None)?
            .bytes()?;
        Ok(())
    })
}

pub fn restart(c: &Client, a: &StopArgs) -> Result<()> {
    let q = stop_query(a)?;
    each(&a.containers, |n| {
        c.post(&format!("/containers/{}/restart{q}", enc(n)), None)?
            .bytes()?;
        Ok(())
    })
}

pub fn kill(c: &Client, a: &KillArgs) -> Result<()> {
    let q = a
        .signal
        .as_ref()
        .map(|s| format!("?signal={}", enc(s)))
        .unwrap_or_default();
    each_parallel(c, &a.containers, |c, n| {
        c.post(&format!("/containers/{}/kill{q}", enc(n)), None)?
            .bytes()?;
        Ok(())
    })
}

pub fn rm(c: &Client, a: &RmArgs) -> Result<()> {
    let q = format!(
        "?force={}&v={}&link={}",
        a.force as u8, a.volumes as u8, a.link as u8
    );
    // docker rm -f reports containers that do not exist as it meets them, but does not
    // fail for them; other errors come together at the end.
    let mut errs = Vec::new();
    let results = in_parallel(c, &a.containers, |c, n| {
        // As docker: the name without leading or trailing slashes (`/name` as inspect
        // shows it), and not empty.
        let name = n.trim_matches('/');
        if name.is_empty() {
            anyhow::bail!("container name cannot be empty");
        }
        c.delete(&format!("/containers/{}{q}", enc(name)))
    });
    for (n, r) in a.containers.iter().zip(results) {
        match r {
            Ok(()) => println!("{n}"),
            Err(e) => {
                if a.force
                    && e.downcast_ref::<DaemonError>()
                        .is_some_and(|d| d.status == 404)
                {
                    eprintln!("{e}");
                } else {
                    errs.push(e.to_string());
                }
            }
        }
    }
    for e in &errs {
        eprintln!("{e}");
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Exit(1).into())
    }
}

pub fn pause(c: &Client, a: &NamesArgs, pause: bool) -> Result<()> {
    let verb = if pause { "pause" } else { "unpause" };
    each_parallel(c, &a.containers, |c, n| {
        c.post(&format!("/containers/{}/{verb}", enc(n)), None)?
            .bytes()?;
        Ok(())
    })
}

/// Waits for one container; returns its exit code.
pub fn wait_one(c: &Client, name: &str, condition: &str) -> Result<i64> {
    let v = c.post_json(
        &format!("/containers/{}/wait?condition={condition}", enc(name)),
        None,
    )?;
    if let Some(msg) = v.pointer("/Error/Message").and_then(Value::as_str)
        && !msg.is_empty()
    {
        return Err(anyhow!("{msg}"));
    }
    Ok(v.get("StatusCode").and_then(Value::as_i64).unwrap_or(-1))
}

pub fn wait(c: &Client, a: &NamesArgs) -> Result<()> {
    let mut failed = false;
    for n in &a.containers {
        match wait_one(c, n, "not-running") {
            Ok(code) => println!("{code}"),
            Err(e) => {
                failed = true;
                eprintln!("{e}");
            }
        }
    }
    if failed { Err(Exit(1).into()) } else { Ok(()) }
}

/// A logs `--since`/`--until` value for the API, its error worded as docker's.
fn flag_time(flag: &str, v: &str) -> Result<String> {
    crate::timestamp::get_timestamp(v).map_err(|e| anyhow!("invalid value for {flag:?}: {e}"))
}

pub fn logs(c: &Client, a: &LogsArgs) -> Result<()> {
    let info = c.get_json(&format!("/containers/{}/json", enc(&a.container)))?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut path = format!(
        "/containers/{}/logs?stdout=1&stderr=1&follow={}&timestamps={}&tail={}",
        enc(&a.container),
        a.follow as u8,
        a.timestamps as u8,
        enc(&a.tail)
    );
    if let Some(s) = &a.since {
        path.push_str(&format!("&since={}", enc(&flag_time("since", s)?)));
    }
    if let Some(u) = &a.until {
        path.push_str(&format!("&until={}", enc(&flag_time("until", u)?)));
    }
    if a.details {
        path.push_str("&details=1");
    }
    let r = c.get(&path)?;
    let raw = tty
        || r.header("Content-Type")
            .is_some_and(|t| t.contains("raw-stream"));
    crate::stream::copy_output(r.body, raw)?;
    Ok(())
}

/// `inspect`: containers first, then images (docker's order), unless `--type` says.
pub fn inspect(c: &Client, a: &InspectArgs, kind: Option<&str>) -> Result<()> {
    let kind = kind.or(a.kind.as_deref());
    let kinds: &[&str] = match kind {
        Some("container") => &["container"],
        Some("image") => &["image"],
        Some("network") => &["network"],
        Some("volume") => &["volume"],
        Some(other) => {
            return Err(anyhow!(
                "unknown type: \"{other}\": must be one of \"config\", \"container\", \"image\", \"network\", \"node\", \"plugin\", \"secret\", \"service\", \"task\", \"volume\""
            ));
        }
        None => &["container", "image", "network", "volume"],
    };
    check_format(a.format.as_deref())?;
    let mut found = Vec::new();
    for n in &a.names {
        let mut last_err = None;
        let mut hit = None;
        let mut refused = None;
        for k in kinds {
            let (path, root) = match *k {
                "container" => {
                    let size = if a.size { "?size=1" } else { "" };
                    (format!("/containers/{}/json{size}", enc(n)), "Container")
                }
                "image" => (format!("/images/{}/json", enc(n)), "Image"),
                "network" => (format!("/networks/{}", enc(n)), "Network"),
                _ => (format!("/volumes/{}", enc(n)), "Volume"),
            };
            match c.get(&path).and_then(|r| r.bytes()) {
                Ok(raw) => {
                    hit = Some(Doc { raw, root });
                    break;
                }
                Err(e) => match e.downcast_ref::<DaemonError>() {
                    Some(d) if d.status == 404 => last_err = Some(e),
                    // (an empty name: the client's refusal ends the search, as docker's)
                    _ if e.downcast_ref::<crate::client::StreamError>().is_some() => {
                        refused = Some(e.to_string());
                        break;
                    }
                    _ => return Err(e),
                },
            }
        }
        found.push(match hit {
            Some(d) => Ok(d),
            None if refused.is_some() => Err(refused.unwrap_or_default()),
            None if kind.is_none() => Err(format!("Error: No such object: {n}")),
            None => Err(last_err.map(|e| e.to_string()).unwrap_or_default()),
        });
    }
    print_docs(&found, a.format.as_deref())
}

/// One inspected object: the daemon's JSON as sent, and the Go struct the docker CLI
/// decodes it into (a [`crate::gotypes`] name).
pub struct Doc {
    pub raw: Vec<u8>,
    pub root: &'static str,
}

/// An inspect template that does not parse ends the command before anything is asked of
/// the daemon, with docker's usage-error status.
fn check_format(f: Option<&str>) -> Result<()> {
    if let Some(f) = f.filter(|f| !f.is_empty() && *f != "json")
        && let Err(e) = crate::tmpl::parse(f, None)
    {
        eprintln!("template parsing error: {e}");
        return Err(Exit(64).into());
    }
    Ok(())
}

/// Inspect output as docker writes it: each document through `-f` (shaped as docker's
/// Go struct), else the daemon's documents as sent in a JSON array indented as docker
/// indents it; then the errors (objects not found, templates that failed on a
/// document), in the order of the names, and exit 1 if there were any.
pub fn print_docs(items: &[Result<Doc, String>], f: Option<&str>) -> Result<()> {
    let mut errors: Vec<String> = Vec::new();
    let mut out = String::new();
    match f {
        Some(f) if !f.is_empty() && f != "json" => {
            for item in items {
                let d = match item {
                    Ok(d) => d,
                    Err(e) => {
                        errors.push(e.clone());
                        continue;
                    }
                };
                let v: Value =
                    serde_json::from_slice(&d.raw).context("decoding the daemon's JSON")?;
                // docker falls back to the plain JSON for what it inspects by reference
                // with the raw body kept: containers, images and networks.
                let raw = d.root != "Volume";
                match format::render_typed(f, &v, d.root, raw) {
                    Ok(s) => {
                        out.push_str(&s);
                        out.push('\n');
                    }
                    Err(e) => errors.push(format!("template parsing error: {e}")),
                }
            }
            if out.is_empty() {
                out.push('\n');
            }
        }
        _ => {
            let mut all = b"[".to_vec();
            let mut first = true;
            for item in items {
                match item {
                    Ok(d) => {
                        if !first {
                            all.push(b',');
                        }
                        first = false;
                        all.extend_from_slice(&d.raw);
                    }
                    Err(e) => errors.push(e.clone()),
                }
            }
            all.push(b']');
            // `--format json`: docker's JSON inspector, the same documents compacted.
            let shaped = if f == Some("json") {
                format::compact_json(&all)
            } else {
                format::indent_json(&all)
            };
            out = String::from_utf8_lossy(&shaped).into_owned();
            out.push('\n');
        }
    }
    {
        use std::io::Write;
        let mut so = std::io::stdout().lock();
        so.write_all(out.as_bytes())?;
        so.flush()?;
    }
    for e in &errors {
        eprintln!("{e}");
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Exit(1).into())
    }
}

/// Inspects each name at `path(name)`; docker's errors for the missing ones (exit 1).
pub fn inspect_each(
    c: &Client,
    names: &[String],
    f: Option<&str>,
    root: &'static str,
    path: impl Fn(&str) -> String,
) -> Result<()> {
    check_format(f)?;
    let mut found = Vec::new();
    for n in names {
        match c.get(&path(n)).and_then(|r| r.bytes()) {
            Ok(raw) => found.push(Ok(Doc { raw, root })),
            // (the daemon's refusal, or the client's of an empty name: one object's error)
            Err(e)
                if e.downcast_ref::<DaemonError>().is_some()
                    || e.downcast_ref::<crate::client::StreamError>().is_some() =>
            {
                found.push(Err(e.to_string()))
            }
            Err(e) => return Err(e),
        }
    }
    print_docs(&found, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_api_json() {
        let q = filters_query(&["status=exited".into(), "name=a".into()]).unwrap();
        assert_eq!(
            q,
            format!("&filters={}", enc(r#"{"name":["a"],"status":["exited"]}"#))
        );
        let e = filters_query(&["nonsense".into()]).unwrap_err().to_string();
        assert!(e.contains(r#"for "-f, --filter" flag"#), "{e}");
        let e = prune_filters_query(&["nonsense".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains(r#"for "--filter" flag: bad format"#), "{e}");
    }

    #[test]
    fn created_at_is_a_civil_date() {
        assert_eq!(format::civil(0), "1970-01-01 00:00:00");
        assert_eq!(format::civil(1_795_000_000), "2026-11-18 11:06:40");
        assert_eq!(
            format::rfc3339_local(1_795_000_000, 0),
            "2026-11-18T11:06:40Z"
        );
        assert_eq!(
            format::rfc3339_local(1_795_000_000, -5400),
            "2026-11-18T09:36:40-01:30"
        );
    }

    #[test]
    fn ps_rows_are_shaped_like_docker() {
        let c = json!({"Id": "0123456789abcdef0123", "Names": ["/web"], "Image": "bb", "Command": "sleep 1000000000 && true", "Created": 0, "State": "running", "Status": "Up 1 second"});
        let r = ps_row(&c, true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Command"], "\"sleep 1000000000 &&…\"");
    }

    #[test]
    fn ports_are_grouped_like_docker() {
        let p = |private: u64, ip: &str, public: u64| {
            if ip.is_empty() {
                json!({"PrivatePort": private, "Type": "tcp"})
            } else {
                json!({"PrivatePort": private, "IP": ip, "PublicPort": public, "Type": "tcp"})
            }
        };
        let ports = [
            p(80, "0.0.0.0", 8080),
            p(90, "", 0),
            p(91, "", 0),
            p(93, "", 0),
            p(443, "0.0.0.0", 443),
            p(444, "0.0.0.0", 444),
            p(80, "::", 8080),
        ];
        assert_eq!(
            display_ports(&ports),
            "90-91/tcp, 93/tcp, 0.0.0.0:443-444->443-444/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
    }
}
