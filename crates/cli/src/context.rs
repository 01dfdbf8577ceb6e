//! `berth context`: docker's contexts, stored as docker stores them. A context names a
//! daemon endpoint; its metadata lives in `$DOCKER_CONFIG/contexts/meta/<sha256 of the
//! name>/meta.json` and the current one in config.json's `currentContext`. `default` is
//! the endpoint from `-H`, BERTH_HOST or DOCKER_HOST, else berth's own socket.
//!
//! The context in force is chosen as docker chooses it: `--context`, else `default` when
//! a host is given by flag or environment, else DOCKER_CONTEXT, else `currentContext`.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::Result;
use serde_json::{Map, Value as Json, json};

use crate::Exit;
use crate::args::{ContextCmd, ContextCreateArgs, ContextInspectArgs, ContextLsArgs};
use crate::cli::Cli;
use crate::format::{self, Format};

const DEFAULT: &str = "default";
const DEFAULT_DESCRIPTION: &str = "Current DOCKER_HOST based configuration";
const TABLE: &str =
    "table {{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}";
const NAME_RULE: &str = "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$";

/// The endpoint of the context in force when it is not `default` (set once, by main).
static HOST: OnceLock<String> = OnceLock::new();

/// The host of the context in force, when that is a stored context.
pub fn selected_host() -> Option<String> {
    HOST.get().cloned()
}

/// The environment variable that gives the host, if one does (berth's own first).
fn host_env() -> Option<&'static str> {
    ["BERTH_HOST", "DOCKER_HOST"]
        .into_iter()
        .find(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

/// The name of the context in force.
pub fn current_name(cli: &Cli) -> String {
    if let Some(c) = cli.context.as_deref().filter(|c| !c.is_empty()) {
        return c.to_owned();
    }
    if cli.host.is_some() || host_env().is_some() {
        return DEFAULT.into();
    }
    if let Ok(c) = std::env::var("DOCKER_CONTEXT")
        && !c.is_empty()
    {
        return c;
    }
    config_current().unwrap_or_else(|| DEFAULT.into())
}

/// config.json's `currentContext`.
fn config_current() -> Option<String> {
    crate::auth::load_config()
        .ok()?
        .get("currentContext")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Resolves the context in force before any command talks to the daemon: a stored
/// context's host is used from then on; one that is not there ends the command, in
/// docker's words.
pub fn init(cli: &Cli) {
    let name = current_name(cli);
    if name == DEFAULT {
        return;
    }
    match load(&name) {
        Ok(meta) => {
            // berth has no TLS: a context made for a TLS endpoint is refused rather than
            // spoken to in plain HTTP.
            let skip_verify = meta
                .pointer("/Endpoints/docker/SkipTLSVerify")
                .and_then(Json::as_bool)
                .unwrap_or(false);
            if skip_verify || tls_dir(&name).exists() {
                eprintln!(
                    "context {name:?} is set up for TLS, but berth has no TLS: use a context without TLS material"
                );
                std::process::exit(1);
            }
            // A context without a docker host uses the default one, as docker does.
            let host = endpoint_of(&meta);
            if !host.is_empty() {
                let _ = HOST.set(host);
            }
        }
        Err(e) => {
            eprintln!("Failed to initialize: unable to resolve docker endpoint: {e}");
            std::process::exit(1);
        }
    }
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn store_dir() -> PathBuf {
    crate::auth::config_path().with_file_name("contexts")
}

fn meta_dir(name: &str) -> PathBuf {
    store_dir().join("meta").join(sha256_hex(name))
}

fn tls_dir(name: &str) -> PathBuf {
    store_dir().join("tls").join(sha256_hex(name))
}

/// A stored context's meta.json, or docker's error for one that is not there.
fn load(name: &str) -> Result<Json, String> {
    let p = meta_dir(name).join("meta.json");
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| format!("context {name:?}: parsing {}: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "context {name:?}: context not found: open {}: no such file or directory",
            p.display()
        )),
        Err(e) => Err(format!("context {name:?}: open {}: {e}", p.display())),
    }
}

/// Every stored context's meta.json.
fn stored() -> Vec<Json> {
    let Ok(rd) = std::fs::read_dir(store_dir().join("meta")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| std::fs::read(e.path().join("meta.json")).ok())
        .filter_map(|b| serde_json::from_slice::<Json>(&b).ok())
        .filter(|m| m.get("Name").and_then(Json::as_str).is_some())
        .collect()
}

fn endpoint_of(meta: &Json) -> String {
    meta.pointer("/Endpoints/docker/Host")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_owned()
}

fn description_of(meta: &Json) -> String {
    meta.pointer("/Metadata/Description")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_owned()
}

/// The default context's endpoint: `-H`, BERTH_HOST or DOCKER_HOST, else berth's socket.
fn default_host(cli: &Cli) -> String {
    if let Some(h) = &cli.host {
        return h.clone();
    }
    match host_env().and_then(|k| std::env::var(k).ok()) {
        Some(h) => h,
        None => crate::daemon::DEFAULT_HOST.to_owned(),
    }
}

/// The default context's metadata, as docker shows it.
fn default_meta(cli: &Cli) -> Json {
    json!({
        "Name": DEFAULT,
        "Metadata": {},
        "Endpoints": {"docker": {"Host": default_host(cli), "SkipTLSVerify": false}},
    })
}

/// Go's json.Marshal escapes these in strings.
fn html_escape(s: &str) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

pub fn run(cli: &Cli, cmd: &ContextCmd) -> Result<()> {
    match cmd {
        ContextCmd::Ls(a) => ls(cli, a),
        ContextCmd::Show => {
            println!("{}", current_name(cli));
            Ok(())
        }
        ContextCmd::Inspect(a) => inspect(cli, a),
        ContextCmd::Use(a) => use_context(&a.name),
        ContextCmd::Create(a) => create(cli, a),
        ContextCmd::Rm(a) => rm(cli, &a.names, a.force),
    }
}

/// docker's natural order of names: digit runs compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let n = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let m = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (p, q) = (&x[..n], &y[..m]);
                let (pt, qt) = (
                    &p[p.iter().take_while(|c| **c == b'0').count()..],
                    &q[q.iter().take_while(|c| **c == b'0').count()..],
                );
                let o = pt.len().cmp(&qt.len()).then(pt.cmp(qt));
                if o != Ordering::Equal {
                    return o;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(c), Some(d)) if c != d => return c.cmp(d),
            _ => {
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn ls(cli: &Cli, a: &ContextLsArgs) -> Result<()> {
    let cur = current_name(cli);
    let mut rows: Vec<Json> = Vec::new();
    let row = |name: &str, desc: String, host: String, err: String| {
        json!({
            "Name": name,
            "Current": name == cur,
            "Description": desc,
            "DockerEndpoint": host,
            "Error": format::ellipsis(&err, 45),
        })
    };
    rows.push(row(
        DEFAULT,
        DEFAULT_DESCRIPTION.into(),
        default_host(cli),
        String::new(),
    ));
    for m in stored() {
        let name = m.get("Name").and_then(Json::as_str).unwrap_or("");
        rows.push(row(
            name,
            description_of(&m),
            endpoint_of(&m),
            String::new(),
        ));
    }
    if !rows.iter().any(|r| r["Current"] == true) {
        // The context in force is not there: a row with why.
        let err = load(&cur).err().unwrap_or_default();
        rows.push(row(&cur, String::new(), String::new(), err));
    }
    // (a row's `{{.}}` is its context's Error method in docker)
    let rows: Vec<Json> = rows
        .into_iter()
        .map(|r| {
            let raw = r.clone();
            format::with_go(r, "context", &raw)
        })
        .collect();
    let mut rows = rows;
    rows.sort_by(|x, y| {
        natural_cmp(
            x["Name"].as_str().unwrap_or(""),
            y["Name"].as_str().unwrap_or(""),
        )
    });
    if a.quiet {
        for r in &rows {
            println!("{}", r["Name"].as_str().unwrap_or(""));
        }
    } else {
        let headers = json!({
            "Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT",
            "Error": "ERROR",
        });
        Format::new(a.format.as_deref(), TABLE).render(&rows, &headers)?;
    }
    if let Some(var) = host_env() {
        eprintln!(
            "Warning: {var} environment variable overrides the active context. To use a context, either set the global --context flag, or unset {var} environment variable."
        );
    }
    Ok(())
}

/// A context as `context inspect` shows it: its metadata, TLS files and storage.
fn inspect_doc(name: &str, meta: &Json, stored: bool) -> String {
    let (mpath, tpath) = if stored {
        (
            meta_dir(name).display().to_string(),
            tls_dir(name).display().to_string(),
        )
    } else {
        ("<IN MEMORY>".to_owned(), "<IN MEMORY>".to_owned())
    };
    let q = |s: &str| html_escape(&Json::String(s.to_owned()).to_string());
    let metadata = match meta.get("Metadata") {
        Some(Json::Object(m)) if !m.is_empty() => html_escape(&Json::Object(m.clone()).to_string()),
        _ => "{}".to_owned(),
    };
    let skip = meta
        .pointer("/Endpoints/docker/SkipTLSVerify")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    format!(
        "{{\"Name\":{},\"Metadata\":{metadata},\"Endpoints\":{{\"docker\":{{\"Host\":{},\"SkipTLSVerify\":{skip}}}}},\"TLSMaterial\":{{}},\"Storage\":{{\"MetadataPath\":{},\"TLSPath\":{}}}}}",
        q(name),
        q(&endpoint_of(meta)),
        q(&mpath),
        q(&tpath)
    )
}

fn inspect(cli: &Cli, a: &ContextInspectArgs) -> Result<()> {
    let names = if a.names.is_empty() {
        vec![current_name(cli)]
    } else {
        a.names.clone()
    };
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for n in &names {
        if n == DEFAULT {
            docs.push(inspect_doc(n, &default_meta(cli), false));
            continue;
        }
        match load(n) {
            Ok(m) => docs.push(inspect_doc(n, &m, true)),
            Err(e) => errors.push(e),
        }
    }
    match a
        .format
        .as_deref()
        .filter(|f| !f.is_empty() && *f != "json")
    {
        Some(f) => {
            let t = crate::tmpl::parse(f, None).map_err(|e| {
                eprintln!("template parsing error: {e}");
                Exit(64)
            })?;
            for d in &docs {
                let v: Json = serde_json::from_str(d)?;
                match crate::gotypes::with_typed(&v, None, |v| t.exec(v, true)) {
                    Ok(s) => println!("{s}"),
                    Err(e) => errors.push(format!("template parsing error: {e}")),
                }
            }
        }
        None => {
            let arr = format!("[{}]", docs.join(","));
            let out = format::indent_json(arr.as_bytes());
            println!("{}", String::from_utf8_lossy(&out));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Err(Exit(1).into())
}

fn fail(msg: String) -> anyhow::Error {
    eprintln!("{msg}");
    Exit(1).into()
}

fn set_current(name: &str) -> Result<()> {
    let mut cfg = crate::auth::load_config()?;
    if !cfg.contains_key("auths") {
        cfg.insert("auths".into(), Json::Object(Map::new()));
    }
    if name == DEFAULT {
        cfg.remove("currentContext");
    } else {
        cfg.insert("currentContext".into(), Json::String(name.into()));
    }
    crate::auth::save_config(&cfg)
}

fn use_context(name: &str) -> Result<()> {
    if name != DEFAULT {
        load(name).map_err(fail)?;
    }
    set_current(name)?;
    println!("{name}");
    if let Some(var) = host_env() {
        eprintln!(
            "Warning: {var} environment variable overrides the active context. To use {name:?}, either set the global --context flag, or unset {var} environment variable."
        );
    }
    eprintln!("Current context is now {name:?}");
    Ok(())
}

fn valid_name(name: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-');
    let mut it = name.chars();
    matches!(it.next(), Some(c) if c.is_ascii_alphanumeric()) && name.len() >= 2 && it.all(ok)
}

/// `--docker host=...,skip-tls-verify=...`: the endpoint's fields.
fn docker_endpoint(spec: &str) -> Result<(String, bool), String> {
    let (mut host, mut skip) = (String::new(), false);
    for kv in spec.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "host" => host = v.to_owned(),
            "skip-tls-verify" => {
                skip = v
                    .parse()
                    .map_err(|_| format!("unable to create docker endpoint config: strconv.ParseBool: parsing {v:?}: invalid syntax"))?;
            }
            "ca" | "cert" | "key" => {
                return Err(format!(
                    "unable to create docker endpoint config: berth has no TLS: {k} is not supported"
                ));
            }
            other => {
                return Err(format!(
                    "unable to create docker endpoint config: unrecognized config key: {other}"
                ));
            }
        }
    }
    Ok((host, skip))
}

fn create(cli: &Cli, a: &ContextCreateArgs) -> Result<()> {
    let name = a.name.as_str();
    if name == DEFAULT {
        return Err(fail(format!("{name:?} is a reserved context name")));
    }
    if !valid_name(name) {
        return Err(fail(format!(
            "context name {name:?} is invalid, names are validated against regexp {NAME_RULE:?}"
        )));
    }
    if load(name).is_ok() {
        return Err(fail(format!("context {name:?} already exists")));
    }
    let mut description = String::new();
    let (host, skip) = match &a.docker {
        Some(spec) => docker_endpoint(spec).map_err(fail)?,
        None => {
            // (a copy of the named context, else of the one in force)
            let from = a.from.clone().unwrap_or_else(|| current_name(cli));
            if from == DEFAULT {
                description = DEFAULT_DESCRIPTION.into();
                (default_host(cli), false)
            } else {
                let m = load(&from).map_err(fail)?;
                let skip = m
                    .pointer("/Endpoints/docker/SkipTLSVerify")
                    .and_then(Json::as_bool)
                    .unwrap_or(false);
                description = description_of(&m);
                (endpoint_of(&m), skip)
            }
        }
    };
    if let Some(d) = a.description.as_deref().filter(|d| !d.is_empty()) {
        description = d.to_owned();
    }
    let metadata = if description.is_empty() {
        json!({})
    } else {
        json!({ "Description": description })
    };
    let meta = json!({
        "Name": name,
        "Metadata": metadata,
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}},
    });
    // (Go's field order: Name, Metadata, Endpoints)
    let text = format!(
        "{{\"Name\":{},\"Metadata\":{},\"Endpoints\":{}}}",
        meta["Name"], meta["Metadata"], meta["Endpoints"]
    );
    let dir = meta_dir(name);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("meta.json"), html_escape(&text))?;
    println!("{name}");
    eprintln!("Successfully created context {name:?}");
    Ok(())
}

fn rm(cli: &Cli, names: &[String], force: bool) -> Result<()> {
    let cur = current_name(cli);
    let mut errors = Vec::new();
    for name in names {
        if name == DEFAULT {
            errors.push(format!("context {name:?} cannot be removed"));
            continue;
        }
        if load(name).is_err() {
            errors.push(format!("context {name:?} does not exist"));
            continue;
        }
        if *name == cur && !force {
            errors.push(format!(
                "context {name:?} is in use, set -f flag to force remove"
            ));
            continue;
        }
        if *name == cur || config_current().as_deref() == Some(name.as_str()) {
            set_current(DEFAULT)?;
        }
        let _ = std::fs::remove_dir_all(meta_dir(name));
        let _ = std::fs::remove_dir_all(tls_dir(name));
        println!("{name}");
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(fail(errors.join("\n")))
}
