//! `version` and `info`.

use std::fmt::Write as _;

use anyhow::Result;
use serde_json::{Value, json};

use crate::cli::VersionArgs;
use crate::client::{CLIENT_API_VERSION, Client};

fn st<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

/// `version`/`info` `--format`: a template that does not parse is a usage error (64);
/// one that fails prints what it has and a newline, then Go's error (exit 1). Errors
/// name the template `name` as docker's do.
fn print_template(f: &str, data: &Value, name: &str, root: &'static str) -> Result<()> {
    render_template(f, data, name, root, true)
}

/// Prints the template's output; an execution error is reported only when `report`
/// (docker's version drops it when the daemon did not answer). A parse error always is.
fn render_template(
    f: &str,
    data: &Value,
    name: &str,
    root: &'static str,
    report: bool,
) -> Result<()> {
    let named = |e: String| {
        e.replacen("template: :", &format!("template: {name}:"), 1)
            .replacen("executing \"\"", &format!("executing \"{name}\""), 1)
    };
    // (`json` is docker's name for `{{json .}}`)
    let f = if f == "json" { "{{json .}}" } else { f };
    // (no escapes: docker gives info and version templates as typed)
    let t = match crate::tmpl::parse(f, crate::gotypes::type_name(root)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("template parsing error: {}", named(e.0));
            return Err(crate::Exit(64).into());
        }
    };
    // The data is the docker CLI's Go struct `root` (a [`crate::gotypes`] name): its
    // fields in order, zero values for what the daemon left out, Go's field names.
    let run = || crate::gotypes::with_typed(data, Some(root), |v| t.exec_partial(v, false));
    // (what the template wrote before it failed is printed, as Go's writes as it goes)
    let out = match t.unknown_field(None, crate::gotypes::go_name(root)) {
        Some(e) => match run() {
            Err((part, x)) if crate::tmpl::first_failure(e.clone(), Err(x.clone())) == x => {
                Err((part, x))
            }
            _ => {
                // (Go stops at the field: what came before it was written)
                let part = crate::tmpl::source_before(f, &e)
                    .and_then(|b| crate::tmpl::parse(b, crate::gotypes::type_name(root)).ok())
                    .and_then(|p| {
                        crate::gotypes::with_typed(data, Some(root), |v| p.exec(v, false)).ok()
                    })
                    .unwrap_or_default();
                Err((part, e))
            }
        },
        None => run(),
    };
    match out {
        Ok(s) => {
            println!("{s}");
            Ok(())
        }
        Err(_) if !report => Err(crate::Exit(1).into()),
        Err((part, e)) => {
            println!("{part}");
            eprintln!("{}", named(e));
            Err(crate::Exit(1).into())
        }
    }
}

pub fn version(c: &Client, a: &VersionArgs) -> Result<()> {
    let answer = c.get_json("/version");
    report_version(a, &c.api_version(), answer)
}

/// `version` when no daemon answers: the client's part, then the error (as docker).
pub fn version_unreachable(a: &VersionArgs, e: anyhow::Error) -> Result<()> {
    report_version(a, CLIENT_API_VERSION, Err(e))
}

fn report_version(a: &VersionArgs, api_version: &str, answer: Result<Value>) -> Result<()> {
    // As docker: without an answer from the daemon, the client's part is printed all
    // the same, then the error.
    let (server, server_err) = match answer {
        Ok(v) => (v, None),
        Err(e) => (Value::Null, Some(e)),
    };
    let pinned = std::env::var("DOCKER_API_VERSION").is_ok_and(|v| !v.is_empty());
    let api = if api_version != CLIENT_API_VERSION && !pinned {
        format!("{api_version} (downgraded from {CLIENT_API_VERSION})")
    } else {
        api_version.to_owned()
    };
    let client = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": api_version,
        "DefaultAPIVersion": CLIENT_API_VERSION,
        "GitCommit": "",
        "GoVersion": "n/a (rust)",
        "Os": "linux",
        "Arch": go_arch(),
        "BuildTime": "",
        "Context": "default",
    });
    if let Some(f) = &a.format {
        let data = json!({"Client": client, "Server": server});
        let printed = render_template(f, &data, "version", "VersionInfo", server_err.is_none());
        return match server_err {
            // (a template that does not parse is docker's first error: status 64)
            Some(_)
                if printed
                    .as_ref()
                    .is_err_and(|e| e.downcast_ref::<crate::Exit>().is_some_and(|x| x.0 == 64)) =>
            {
                printed
            }
            Some(e) => Err(e),
            None => printed,
        };
    }
    let mut o = String::new();
    let _ = writeln!(o, "Client:");
    let _ = writeln!(o, " Version:           {}", st(&client, "Version"));
    let _ = writeln!(o, " API version:       {api}");
    let _ = writeln!(o, " Go version:        {}", st(&client, "GoVersion"));
    let _ = writeln!(o, " Git commit:        ");
    let _ = writeln!(o, " Built:             ");
    let _ = writeln!(o, " OS/Arch:           linux/{}", go_arch());
    let _ = writeln!(o, " Context:           default");
    if let Some(e) = server_err {
        print!("{o}");
        return Err(e);
    }
    let _ = writeln!(o);
    let platform = server
        .pointer("/Platform/Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let _ = writeln!(o, "Server: {platform}");
    let components = server
        .get("Components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for comp in &components {
        let d = comp.get("Details").cloned().unwrap_or(Value::Null);
        let _ = writeln!(o, " {}:", st(comp, "Name"));
        let _ = writeln!(o, "  Version:          {}", st(comp, "Version"));
        if st(comp, "Name") == "Engine" {
            let _ = writeln!(
                o,
                "  API version:      {} (minimum version {})",
                st(&d, "ApiVersion"),
                st(&d, "MinAPIVersion")
            );
            let _ = writeln!(o, "  Go version:       {}", st(&d, "GoVersion"));
            let _ = writeln!(o, "  Git commit:       {}", st(&d, "GitCommit"));
            let _ = writeln!(o, "  Built:            {}", st(&d, "BuildTime"));
            let _ = writeln!(o, "  OS/Arch:          {}/{}", st(&d, "Os"), st(&d, "Arch"));
            let _ = writeln!(o, "  Experimental:     {}", st(&d, "Experimental"));
        } else if let Some(gc) = d.get("GitCommit").and_then(Value::as_str) {
            let _ = writeln!(o, "  GitCommit:        {gc}");
        }
    }
    print!("{o}");
    Ok(())
}

/// The client half of `info`, which docker prints before it asks the daemon anything
/// (so it shows even when the daemon cannot be reached).
pub fn info_client_section() {
    print!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n\nServer:\n",
        env!("CARGO_PKG_VERSION")
    );
    let _ = std::io::Write::flush(&mut std::io::stdout());
}

/// `info`; without `--format`, [`info_client_section`] has been printed already.
pub fn info(c: &Client, a: &VersionArgs) -> Result<()> {
    let i = match c.get_json("/info") {
        Ok(i) => i,
        // docker's words when the daemon answers with an error
        Err(e)
            if a.format.is_none() && e.downcast_ref::<crate::client::DaemonError>().is_some() =>
        {
            return Err(crate::client::StreamError(format!(
                "ERROR: {e:#}\nerrors pretty printing info"
            ))
            .into());
        }
        // docker renders the template without the server's part and, when the daemon
        // answered with an error, prints it and succeeds.
        Err(e) if e.downcast_ref::<crate::client::DaemonError>().is_some() => {
            println!();
            eprintln!("{e:#}");
            return Ok(());
        }
        Err(e) => {
            println!();
            return Err(e);
        }
    };
    if let Some(f) = &a.format {
        // The client's part, as docker's info context has it (no API version there).
        let mut data = i.clone();
        data["ClientInfo"] = json!({
            "Debug": false,
            "Version": env!("CARGO_PKG_VERSION"),
            "DefaultAPIVersion": CLIENT_API_VERSION,
            "GitCommit": "",
            "GoVersion": "n/a (rust)",
            "Os": "linux",
            "Arch": go_arch(),
            "BuildTime": "",
            "Context": "default",
            "Plugins": [],
            "Warnings": null,
        });
        return print_template(f, &data, "", "Info");
    }
    let n = |k: &str| i.get(k).and_then(Value::as_i64).unwrap_or(0);
    let b = |k: &str| i.get(k).and_then(Value::as_bool).unwrap_or(false);
    // A list of strings at a JSON pointer (`/Plugins/Volume`).
    let words = |p: &str| -> Vec<String> {
        let (parent, key) = p.rsplit_once('/').unwrap_or(("", p));
        i.pointer(parent)
            .map(|v| crate::ops::str_list(v, key))
            .unwrap_or_default()
    };
    // docker's prettyPrintServerInfo: the same lines, in its order; a label whose
    // value is empty is left out where docker leaves it out.
    let mut o = String::new();
    let line = |o: &mut String, label: &str, v: &str| {
        if !v.is_empty() {
            let _ = writeln!(o, " {label}: {v}");
        }
    };
    let _ = writeln!(o, " Containers: {}", n("Containers"));
    let _ = writeln!(o, "  Running: {}", n("ContainersRunning"));
    let _ = writeln!(o, "  Paused: {}", n("ContainersPaused"));
    let _ = writeln!(o, "  Stopped: {}", n("ContainersStopped"));
    let _ = writeln!(o, " Images: {}", n("Images"));
    line(&mut o, "Server Version", st(&i, "ServerVersion"));
    line(&mut o, "Storage Driver", st(&i, "Driver"));
    for (key, indent) in [("DriverStatus", "  "), ("SystemStatus", " ")] {
        for pair in i.get(key).and_then(Value::as_array).into_iter().flatten() {
            let at = |k: usize| pair.get(k).and_then(Value::as_str).unwrap_or("");
            let _ = writeln!(o, "{indent}{}: {}", at(0), at(1));
        }
    }
    line(&mut o, "Logging Driver", st(&i, "LoggingDriver"));
    line(&mut o, "Cgroup Driver", st(&i, "CgroupDriver"));
    line(&mut o, "Cgroup Version", st(&i, "CgroupVersion"));
    let _ = writeln!(o, " Plugins:");
    let _ = writeln!(o, "  Volume: {}", words("/Plugins/Volume").join(" "));
    let _ = writeln!(o, "  Network: {}", words("/Plugins/Network").join(" "));
    let authz = words("/Plugins/Authorization");
    if !authz.is_empty() {
        let _ = writeln!(o, "  Authorization: {}", authz.join(" "));
    }
    let _ = writeln!(o, "  Log: {}", words("/Plugins/Log").join(" "));
    let cdi = words("/CDISpecDirs");
    if !cdi.is_empty() {
        let _ = writeln!(o, " CDI spec directories:");
        for d in cdi {
            let _ = writeln!(o, "  {d}");
        }
    }
    let _ = writeln!(
        o,
        " Swarm: {}",
        i.pointer("/Swarm/LocalNodeState")
            .and_then(Value::as_str)
            .unwrap_or("")
    );
    if let Some(rt) = i.get("Runtimes").and_then(Value::as_object)
        && !rt.is_empty()
    {
        let names: Vec<&str> = rt.keys().map(String::as_str).collect();
        let _ = writeln!(o, " Runtimes: {}", names.join(" "));
        let _ = writeln!(o, " Default Runtime: {}", st(&i, "DefaultRuntime"));
    }
    if st(&i, "OSType") == "linux" {
        let commit = |k: &str| {
            i.pointer(&format!("/{k}/ID"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let _ = writeln!(o, " Init Binary: {}", st(&i, "InitBinary"));
        let _ = writeln!(o, " containerd version: {}", commit("ContainerdCommit"));
        let _ = writeln!(o, " runc version: {}", commit("RuncCommit"));
        let _ = writeln!(o, " init version: {}", commit("InitCommit"));
        let opts = words("/SecurityOptions");
        if !opts.is_empty() {
            let _ = writeln!(o, " Security Options:");
            for so in opts {
                let mut name = "";
                let mut profile = None;
                for kv in so.split(',') {
                    match kv.split_once('=') {
                        Some(("name", v)) => name = v,
                        Some(("profile", v)) => profile = Some(v),
                        _ => {}
                    }
                }
                let _ = writeln!(o, "  {name}");
                if let Some(p) = profile {
                    let _ = writeln!(o, "   Profile: {p}");
                }
            }
        }
    }
    line(&mut o, "Kernel Version", st(&i, "KernelVersion"));
    line(&mut o, "Operating System", st(&i, "OperatingSystem"));
    line(&mut o, "OSType", st(&i, "OSType"));
    line(&mut o, "Architecture", st(&i, "Architecture"));
    let _ = writeln!(o, " CPUs: {}", n("NCPU"));
    let mem = i.get("MemTotal").and_then(Value::as_f64).unwrap_or(0.0);
    let _ = writeln!(o, " Total Memory: {}", crate::format::bytes_size(mem));
    line(&mut o, "Name", st(&i, "Name"));
    line(&mut o, "ID", st(&i, "ID"));
    let _ = writeln!(o, " Docker Root Dir: {}", st(&i, "DockerRootDir"));
    let _ = writeln!(o, " Debug Mode: {}", b("Debug"));
    if b("Debug") {
        let _ = writeln!(o, "  File Descriptors: {}", n("NFd"));
        let _ = writeln!(o, "  Goroutines: {}", n("NGoroutines"));
        let _ = writeln!(o, "  System Time: {}", st(&i, "SystemTime"));
        let _ = writeln!(o, "  EventsListeners: {}", n("NEventsListener"));
    }
    line(&mut o, "HTTP Proxy", st(&i, "HttpProxy"));
    line(&mut o, "HTTPS Proxy", st(&i, "HttpsProxy"));
    line(&mut o, "No Proxy", st(&i, "NoProxy"));
    let labels = words("/Labels");
    if !labels.is_empty() {
        let _ = writeln!(o, " Labels:");
        for l in labels {
            let _ = writeln!(o, "  {l}");
        }
    }
    let _ = writeln!(o, " Experimental: {}", b("ExperimentalBuild"));
    let cidrs = words("/RegistryConfig/InsecureRegistryCIDRs");
    let index = i
        .pointer("/RegistryConfig/IndexConfigs")
        .and_then(Value::as_object);
    if !cidrs.is_empty() || index.is_some_and(|x| !x.is_empty()) {
        let _ = writeln!(o, " Insecure Registries:");
        for (name, cfg) in index.into_iter().flatten() {
            if !cfg.get("Secure").and_then(Value::as_bool).unwrap_or(false) {
                let _ = writeln!(o, "  {name}");
            }
        }
        for c in cidrs {
            let _ = writeln!(o, "  {c}");
        }
    }
    let mirrors = words("/RegistryConfig/Mirrors");
    if !mirrors.is_empty() {
        let _ = writeln!(o, " Registry Mirrors:");
        for m in mirrors {
            let _ = writeln!(o, "  {m}");
        }
    }
    let _ = writeln!(o, " Live Restore Enabled: {}", b("LiveRestoreEnabled"));
    line(&mut o, "Product License", st(&i, "ProductLicense"));
    if let Some(pools) = i.get("DefaultAddressPools").and_then(Value::as_array)
        && !pools.is_empty()
    {
        let _ = writeln!(o, " Default Address Pools:");
        for p in pools {
            let _ = writeln!(
                o,
                "   Base: {}, Size: {}",
                p.get("Base").and_then(Value::as_str).unwrap_or(""),
                p.get("Size").and_then(Value::as_i64).unwrap_or(0)
            );
        }
    }
    o.push('\n');
    print!("{o}");
    if let Some(w) = i.get("Warnings").and_then(Value::as_array)
        && !w.is_empty()
    {
        for x in w.iter().filter_map(Value::as_str) {
            eprintln!("{x}");
        }
    }
    Ok(())
}
