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
    let named = |e: String| {
        e.replacen("template: :", &format!("template: {name}:"), 1)
            .replacen("executing \"\"", &format!("executing \"{name}\""), 1)
    };
    // (`json` is docker's name for `{{json .}}`)
    let f = if f == "json" { "{{json .}}" } else { f };
    let src = f.replace("\\t", "\t").replace("\\n", "\n");
    let t = match crate::tmpl::parse(&src, crate::gotypes::type_name(root)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("template parsing error: {}", named(e.0));
            return Err(crate::Exit(64).into());
        }
    };
    // The data is the docker CLI's Go struct `root` (a [`crate::gotypes`] name): its
    // fields in order, zero values for what the daemon left out, Go's field names.
    let out = match t.unknown_field(None, crate::gotypes::go_name(root)) {
        Some(e) => Err(e),
        None => crate::gotypes::with_typed(data, Some(root), |v| t.exec(v, false)),
    };
    match out {
        Ok(s) => {
            println!("{s}");
            Ok(())
        }
        Err(e) => {
            println!();
            eprintln!("{}", named(e));
            Err(crate::Exit(1).into())
        }
    }
}

pub fn version(c: &Client, a: &VersionArgs) -> Result<()> {
    let server = c.get_json("/version")?;
    let pinned = std::env::var("DOCKER_API_VERSION").is_ok_and(|v| !v.is_empty());
    let api = if c.api_version() != CLIENT_API_VERSION && !pinned {
        format!("{} (downgraded from {CLIENT_API_VERSION})", c.api_version())
    } else {
        c.api_version()
    };
    let client = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": c.api_version(),
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
        return print_template(f, &data, "version", "VersionInfo");
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
    let mut o = String::new();
    let _ = writeln!(o, " Containers: {}", n("Containers"));
    let _ = writeln!(o, "  Running: {}", n("ContainersRunning"));
    let _ = writeln!(o, "  Paused: {}", n("ContainersPaused"));
    let _ = writeln!(o, "  Stopped: {}", n("ContainersStopped"));
    let _ = writeln!(o, " Images: {}", n("Images"));
    let _ = writeln!(o, " Server Version: {}", st(&i, "ServerVersion"));
    let _ = writeln!(o, " Storage Driver: {}", st(&i, "Driver"));
    let _ = writeln!(o, " Logging Driver: {}", st(&i, "LoggingDriver"));
    let _ = writeln!(o, " Cgroup Driver: {}", st(&i, "CgroupDriver"));
    let _ = writeln!(o, " Cgroup Version: {}", st(&i, "CgroupVersion"));
    let _ = writeln!(o, " Default Runtime: {}", st(&i, "DefaultRuntime"));
    let _ = writeln!(o, " Kernel Version: {}", st(&i, "KernelVersion"));
    let _ = writeln!(o, " Operating System: {}", st(&i, "OperatingSystem"));
    let _ = writeln!(o, " OSType: {}", st(&i, "OSType"));
    let _ = writeln!(o, " Architecture: {}", st(&i, "Architecture"));
    let _ = writeln!(o, " CPUs: {}", n("NCPU"));
    let mem = i.get("MemTotal").and_then(Value::as_f64).unwrap_or(0.0);
    let _ = writeln!(o, " Total Memory: {:.2}GiB", mem / (1u64 << 30) as f64);
    let _ = writeln!(o, " Name: {}", st(&i, "Name"));
    let _ = writeln!(o, " ID: {}", st(&i, "ID"));
    let _ = writeln!(o, " Docker Root Dir: {}", st(&i, "DockerRootDir"));
    let _ = writeln!(
        o,
        " Debug Mode: {}",
        i.get("Debug").and_then(Value::as_bool).unwrap_or(false)
    );
    let _ = writeln!(
        o,
        " Live Restore Enabled: {}",
        i.get("LiveRestoreEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    );
    print!("{o}");
    if let Some(w) = i.get("Warnings").and_then(Value::as_array)
        && !w.is_empty()
    {
        eprintln!();
        for x in w.iter().filter_map(Value::as_str) {
            eprintln!("{x}");
        }
    }
    Ok(())
}
