//! `berth-runtime`: the runc-compatible command line over the berth-runtime library, so
//! containerd, Docker and Podman can use it in place of runc.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use berth_runtime::container::{self, CreateOpts};
use berth_runtime::exec::{self, ExecOpts};
use berth_runtime::logging::{self, Format};
use berth_runtime::state::{self, Status, Store};
use lexopt::prelude::*;

/// An argument, detached from the parser's borrow: `-x`/`--long` or a value.
#[derive(Debug)]
enum O {
    Opt(String),
    Val(std::ffi::OsString),
}

fn next(p: &mut lexopt::Parser) -> Result<Option<O>> {
    Ok(match p.next()? {
        Some(Short(c)) => Some(O::Opt(format!("-{c}"))),
        Some(Long(l)) => Some(O::Opt(format!("--{l}"))),
        Some(Value(v)) => Some(O::Val(v)),
        None => None,
    })
}

fn unexpected(a: &O) -> anyhow::Error {
    match a {
        O::Opt(o) => anyhow::anyhow!("unknown option {o}"),
        O::Val(v) => anyhow::anyhow!("unexpected argument {v:?}"),
    }
}

const USAGE: &str = "berth-runtime: berth's OCI container runtime (runc-compatible command line)

usage: berth-runtime [global options] COMMAND [options] [arguments]

global options:
  --root DIR                state directory (default /run/berth-runtime)
  --log FILE                log file (default stderr)
  --log-format text|json    log format (default text)
  --debug                   debug logging
  --systemd-cgroup          use systemd for cgroups (not supported yet)
  --rootless [VALUE]        with `spec`: a rootless configuration
  -v, --version             print version information
  -h, --help                this help

commands:
  create [--bundle DIR] [--console-socket PATH] [--pid-file F] [--no-pivot] [--preserve-fds N] ID
  start ID
  state ID
  kill [--all] ID [SIGNAL]
  delete [--force] ID
  run [--detach] [--keep] [create options] ID
  exec [--tty] [--detach] [--process FILE] [--console-socket PATH] [--pid-file F] [--cwd DIR]
       [--env K=V]... [--user UID[:GID]] [--additional-gids GID]... [--cap CAP]...
       [--no-new-privs] [--preserve-fds N] ID [COMMAND [ARG...]]
  ps [--format table|json] ID [PS-ARGS...]
  pause ID | resume ID
  list [--format table|json] [--quiet]
  features
  spec [--bundle DIR] [--rootless]
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutFormat {
    Table,
    Json,
}

#[derive(Debug)]
struct Cli {
    root: PathBuf,
    log: Option<PathBuf>,
    log_format: Format,
    debug: bool,
    systemd_cgroup: bool,
    rootless: Option<String>,
    version: bool,
    help: bool,
    cmd: Option<Cmd>,
}

#[derive(Debug, Clone, Default)]
struct CreateArgs {
    bundle: PathBuf,
    console_socket: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    no_pivot: bool,
    preserve_fds: u32,
    id: String,
}

#[derive(Debug)]
enum Cmd {
    Create(CreateArgs),
    Start {
        id: String,
    },
    State {
        id: String,
    },
    Kill {
        all: bool,
        id: String,
        signal: String,
    },
    Delete {
        force: bool,
        id: String,
    },
    Run {
        detach: bool,
        keep: bool,
        create: CreateArgs,
    },
    Exec(Box<ExecOpts>),
    Ps {
        format: OutFormat,
        id: String,
        ps_args: Vec<String>,
    },
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    List {
        format: OutFormat,
        quiet: bool,
    },
    Features,
    Spec {
        bundle: PathBuf,
    },
}

fn string(v: std::ffi::OsString) -> Result<String> {
    v.into_string()
        .map_err(|v| anyhow::anyhow!("argument {v:?} is not valid UTF-8"))
}

fn out_format(v: std::ffi::OsString) -> Result<OutFormat> {
    match string(v)?.as_str() {
        "table" => Ok(OutFormat::Table),
        "json" => Ok(OutFormat::Json),
        other => bail!("invalid --format {other:?} (table or json)"),
    }
}

/// Global options, accepted before or after the command (as runc's).
fn global(cli: &mut Cli, arg: &O, p: &mut lexopt::Parser) -> Result<bool> {
    match arg {
        O::Opt(f) if f == "--root" => cli.root = p.value()?.into(),
        O::Opt(f) if f == "--log" => cli.log = Some(p.value()?.into()),
        O::Opt(f) if f == "--log-format" => {
            cli.log_format = match string(p.value()?)?.as_str() {
                "text" => Format::Text,
                "json" => Format::Json,
                other => bail!("invalid --log-format {other:?} (text or json)"),
            }
        }
        O::Opt(f) if f == "--debug" => cli.debug = true,
        O::Opt(f) if f == "--systemd-cgroup" => cli.systemd_cgroup = true,
        O::Opt(f) if f == "--criu" => {
            p.value()?;
        }
        O::Opt(f) if f == "--rootless" => {
            cli.rootless = Some(
                p.optional_value()
                    .map(string)
                    .transpose()?
                    .unwrap_or_else(|| "true".into()),
            )
        }
        O::Opt(f) if f == "-h" || f == "--help" => cli.help = true,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Options shared by `create` and `run`; returns false when `arg` is not one of them.
fn create_opt(c: &mut CreateArgs, arg: &O, p: &mut lexopt::Parser) -> Result<bool> {
    match arg {
        O::Opt(f) if f == "-b" || f == "--bundle" => c.bundle = p.value()?.into(),
        O::Opt(f) if f == "--console-socket" => c.console_socket = Some(p.value()?.into()),
        O::Opt(f) if f == "--pid-file" => c.pid_file = Some(p.value()?.into()),
        O::Opt(f) if f == "--no-pivot" => c.no_pivot = true,
        O::Opt(f) if f == "--no-new-keyring" => {}
        O::Opt(f) if f == "--preserve-fds" => c.preserve_fds = p.value()?.parse()?,
        O::Val(v) if c.id.is_empty() => c.id = string(v.clone())?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn need(id: &str, what: &str) -> Result<()> {
    if id.is_empty() {
        bail!("{what} needs a container id");
    }
    Ok(())
}

fn parse() -> Result<Cli> {
    let mut p = lexopt::Parser::from_env();
    let mut cli = Cli {
        root: PathBuf::from(state::DEFAULT_ROOT),
        log: None,
        log_format: Format::Text,
        debug: false,
        systemd_cgroup: false,
        rootless: None,
        version: false,
        help: false,
        cmd: None,
    };
    let name = loop {
        let Some(arg) = next(&mut p)? else {
            return Ok(cli);
        };
        if global(&mut cli, &arg, &mut p)? {
            continue;
        }
        match arg {
            O::Opt(f) if f == "-v" || f == "--version" => cli.version = true,
            O::Val(v) => break string(v)?,
            _ => return Err(unexpected(&arg)),
        }
    };
    let mut id = String::new();
    let cmd = match name.as_str() {
        "create" | "run" => {
            let mut c = CreateArgs {
                bundle: PathBuf::from("."),
                ..Default::default()
            };
            let (mut detach, mut keep) = (false, false);
            while let Some(arg) = next(&mut p)? {
                if global(&mut cli, &arg, &mut p)? || create_opt(&mut c, &arg, &mut p)? {
                    continue;
                }
                match arg {
                    O::Opt(ref f) if (f == "-d" || f == "--detach") && name == "run" => {
                        detach = true
                    }
                    O::Opt(ref f) if f == "--keep" && name == "run" => keep = true,
                    _ => return Err(unexpected(&arg)),
                }
            }
            need(&c.id, &name)?;
            if name == "create" {
                Cmd::Create(c)
            } else {
                Cmd::Run {
                    detach,
                    keep,
                    create: c,
                }
            }
        }
        "kill" => {
            let (mut all, mut signal) = (false, String::from("SIGTERM"));
            let mut n = 0;
            while let Some(arg) = next(&mut p)? {
                if global(&mut cli, &arg, &mut p)? {
                    continue;
                }
                match arg {
                    O::Opt(f) if f == "-a" || f == "--all" => all = true,
                    O::Val(v) if n == 0 => {
                        id = string(v)?;
                        n += 1;
                    }
                    O::Val(v) if n == 1 => {
                        signal = string(v)?;
                        n += 1;
                    }
                    _ => return Err(unexpected(&arg)),
                }
            }
            need(&id, "kill")?;
            Cmd::Kill { all, id, signal }
        }
        "delete" => {
            let mut force = false;
            while let Some(arg) = next(&mut p)? {
                if global(&mut cli, &arg, &mut p)? {
                    continue;
                }
                match arg {
                    O::Opt(f) if f == "-f" || f == "--force" => force = true,
                    O::Val(v) if id.is_empty() => id = string(v)?,
                    _ => return Err(unexpected(&arg)),
                }
            }
            need(&id, "delete")?;
            Cmd::Delete { force, id }
        }
        "exec" => {
            let mut o = ExecOpts::default();
            while let Some(arg) = next(&mut p)? {
                if global(&mut cli, &arg, &mut p)? {
                    continue;
                }
                match arg {
                    O::Opt(f) if f == "-t" || f == "--tty" => o.tty = true,
                    O::Opt(f) if f == "-d" || f == "--detach" => o.detach = true,
                    O::Opt(f) if f == "-p" || f == "--process" => {
                        o.process_file = Some(p.value()?.into())
                    }
                    O::Opt(f) if f == "--console-socket" => {
                        o.console_socket = Some(p.value()?.into())
                    }
                    O::Opt(f) if f == "--pid-file" => o.pid_file = Some(p.value()?.into()),
                    O::Opt(f) if f == "--cwd" => o.cwd = Some(p.value()?.into()),
                    O::Opt(f) if f == "-e" || f == "--env" => o.env.push(string(p.value()?)?),
                    O::Opt(f) if f == "-u" || f == "--user" => o.user = Some(string(p.value()?)?),
                    O::Opt(f) if f == "-g" || f == "--additional-gids" => {
                        o.additional_gids.push(p.value()?.parse()?)
                    }
                    O::Opt(f) if f == "-c" || f == "--cap" => o.cap_add.push(string(p.value()?)?),
                    O::Opt(f) if f == "--no-new-privs" => o.no_new_privs = true,
                    O::Opt(f) if f == "--preserve-fds" => o.preserve_fds = p.value()?.parse()?,
                    O::Opt(f) if f == "--process-label" || f == "--apparmor" => {
                        p.value()?;
                    }
                    O::Val(v) => {
                        o.id = string(v)?;
                        // Everything after the id is the command, flags included.
                        for a in p.raw_args()? {
                            o.args.push(string(a)?);
                        }
                    }
                    _ => return Err(unexpected(&arg)),
                }
            }
            need(&o.id, "exec")?;
            Cmd::Exec(Box::new(o))
        }
        "ps" => {
            let mut format = OutFormat::Table;
            let mut ps_args = Vec::new();
            while let Some(arg) = next(&mut p)? {
                if global(&mut cli, &arg, &mut p)? {
                    continue;
                }
                match arg {
                    O::Opt(f) if f == "-f" || f == "--format" => format = out_format(p.value()?)?,
                    O::Val(v) => {
                        id = string(v)?;
                        for a in p.raw_args()? {
                            ps_args.push(string(a)?);
                        }
                    }
                    _ => return Err(unexpected(&arg)),
                }
            }
            need(&id, "ps")?;
            if ps_args.first().map(String::as_str) == Some("--") {
                ps_args.remove(0);
            }
            Cmd::Ps {
                format,
                id,
                ps_args,
            }
        }
        "list" => {
            let (mut format, mut quiet) = (OutFormat::Table, false);
            while let Some(arg) = next(&mut p)? {
                if global(&mut cli, &arg, &mut p)? {
                    continue;
                }
                match arg {
                    O::Opt(f) if f == "-f" || f == "--format" => format = out_format(p.value()?)?,
                    O::Opt(f) if f == "-q" || f == "--quiet" => quiet = true,
                    _ => return Err(unexpected(&arg)),
                }
            }
            Cmd::List { format, quiet }
        }
        "spec" => {
            let mut bundle = PathBuf::from(".");
            while let Some(arg) = next(&mut p)? {
                if global(&mut cli, &arg, &mut p)? {
                    continue;
                }
                match arg {
                    O::Opt(f) if f == "-b" || f == "--bundle" => bundle = p.value()?.into(),
                    _ => return Err(unexpected(&arg)),
                }
            }
            Cmd::Spec { bundle }
        }
        "start" | "state" | "pause" | "resume" | "features" => {
            while let Some(arg) = next(&mut p)? {
                if global(&mut cli, &arg, &mut p)? {
                    continue;
                }
                match arg {
                    O::Val(v) if id.is_empty() && name != "features" => id = string(v)?,
                    _ => return Err(unexpected(&arg)),
                }
            }
            if name != "features" {
                need(&id, &name)?;
            }
            match name.as_str() {
                "start" => Cmd::Start { id },
                "state" => Cmd::State { id },
                "pause" => Cmd::Pause { id },
                "resume" => Cmd::Resume { id },
                _ => Cmd::Features,
            }
        }
        other => bail!("unknown command {other:?}; see --help"),
    };
    cli.cmd = Some(cmd);
    Ok(cli)
}

fn create_opts(a: &CreateArgs, root: &std::path::Path) -> CreateOpts {
    CreateOpts {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        console_to_parent: false,
        seccomp_cache: Some(root.join(".seccomp-cache")),
        stdio: None,
    }
}

/// Writes to stdout; a closed pipe (`berth-runtime features | head`) is not an error.
fn out(s: &str) {
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

fn version() -> String {
    format!(
        "berth-runtime version {}\nspec: 1.2.0\nlibseccomp: {}\n",
        env!("CARGO_PKG_VERSION"),
        berth_runtime::seccomp::libseccomp_version()
    )
}

fn real_main(cli: Cli) -> Result<i32> {
    if cli.help {
        out(USAGE);
        return Ok(0);
    }
    if cli.version {
        out(&version());
        return Ok(0);
    }
    let Some(cmd) = cli.cmd else {
        bail!("no command given; see --help");
    };
    if cli.systemd_cgroup {
        bail!(
            "--systemd-cgroup is not supported yet: berth-runtime manages cgroups through cgroupfs only"
        );
    }
    let store = Store::new(&cli.root);
    if matches!(cmd, Cmd::Create(_) | Cmd::Run { .. } | Cmd::Exec { .. }) {
        berth_runtime::exe_guard::ensure()
            .context("protecting the runtime binary (CVE-2019-5736)")?;
    }
    match cmd {
        Cmd::Create(a) => {
            container::create(&store, &create_opts(&a, &cli.root))?;
        }
        Cmd::Start { id } => container::start(&store, &id, None)?,
        Cmd::State { id } => {
            let st = container::state(&store, &id)?;
            out(&format!("{}\n", serde_json::to_string_pretty(&st)?));
        }
        Cmd::Kill { all, id, signal } => {
            let sig = berth_runtime::signals::parse(&signal)?;
            container::kill(&store, &id, sig, all)?;
        }
        Cmd::Delete { force, id } => container::delete(&store, &id, force)?,
        Cmd::Run {
            detach,
            keep,
            create,
        } => {
            let o = create_opts(&create, &cli.root);
            let code = container::run(&store, &o, detach, keep)?;
            return Ok(code);
        }
        Cmd::Exec(mut o) => {
            o.seccomp_cache = Some(cli.root.join(".seccomp-cache"));
            return Ok(exec::exec(&store, &o)?);
        }
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => {
            let pids = container::pids(&store, &id)?;
            if format == OutFormat::Json {
                out(&format!("{}\n", serde_json::to_string(&pids)?));
                return Ok(0);
            }
            let args = if ps_args.is_empty() {
                vec!["-ef".to_string()]
            } else {
                ps_args
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("running ps")?;
            if !out.status.success() {
                bail!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .context("ps output has no PID column")?;
            let mut o = std::io::stdout().lock();
            writeln!(o, "{header}")?;
            for l in lines {
                if let Some(p) = l
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok())
                    && pids.contains(&p)
                {
                    writeln!(o, "{l}")?;
                }
            }
        }
        Cmd::Pause { id } => container::pause(&store, &id)?,
        Cmd::Resume { id } => container::resume(&store, &id)?,
        Cmd::List { format, quiet } => {
            let list = container::list(&store)?;
            let mut o = std::io::stdout().lock();
            if quiet {
                for (s, _) in &list {
                    writeln!(o, "{}", s.id)?;
                }
            } else if format == OutFormat::Json {
                let v: Vec<serde_json::Value> = list
                    .iter()
                    .map(|(s, st)| {
                        serde_json::json!({
                            "ociVersion": s.oci_version, "id": s.id,
                            "pid": if *st == Status::Stopped { 0 } else { s.pid },
                            "status": st.to_string(), "bundle": s.bundle, "rootfs": s.rootfs,
                            "created": s.created, "owner": s.owner, "annotations": s.annotations,
                        })
                    })
                    .collect();
                writeln!(o, "{}", serde_json::to_string(&v)?)?;
            } else {
                let mut rows = vec![[
                    "ID".to_string(),
                    "PID".into(),
                    "STATUS".into(),
                    "BUNDLE".into(),
                    "CREATED".into(),
                    "OWNER".into(),
                ]];
                for (s, st) in &list {
                    let pid = if *st == Status::Stopped { 0 } else { s.pid };
                    rows.push([
                        s.id.clone(),
                        pid.to_string(),
                        st.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        if s.owner.is_empty() {
                            "root".into()
                        } else {
                            s.owner.clone()
                        },
                    ]);
                }
                let widths: Vec<usize> = (0..6)
                    .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
                    .collect();
                for r in rows {
                    let line: Vec<String> = r
                        .iter()
                        .enumerate()
                        .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                        .collect();
                    writeln!(o, "{}", line.join("   ").trim_end())?;
                }
            }
        }
        Cmd::Features => out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&berth_runtime::features::features())?
        )),
        Cmd::Spec { bundle } => {
            let rootless = cli.rootless.as_deref().is_some_and(|v| v != "false");
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("File {} exists. Remove it first", path.display());
            }
            let v = berth_runtime::default_spec::default_spec(rootless);
            std::fs::write(&path, serde_json::to_string_pretty(&v)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(0)
}

/// CVE-2024-21626 class: `--preserve-fds N` hands descriptors 3..3+N to the container as they
/// are. Any of them the caller left closed is filled with /dev/null here, first thing, so none
/// of our own descriptors (the host /proc handle, the exec fifo, sync sockets: all found at
/// those numbers in the container before this) can land in that range and leak.
fn reserve_preserved_fds(n: u32) {
    for fd in 3..3u32.saturating_add(n).min(65536) {
        // SAFETY: F_GETFD only queries whether the number is open.
        if unsafe { libc::fcntl(fd as i32, libc::F_GETFD) } >= 0 {
            continue;
        }
        // SAFETY: open/dup3/close on descriptors this process owns; the caller asked for `fd`.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
            if null < 0 {
                return;
            }
            if null != fd as i32 {
                // No O_CLOEXEC: like the caller's own descriptors, it must survive exec.
                libc::dup3(null, fd as i32, 0);
                libc::close(null);
            } else {
                libc::fcntl(null, libc::F_SETFD, 0);
            }
        }
    }
}

fn main() -> ExitCode {
    berth_runtime::exe_guard::clear_marker();
    let cli = match parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth-runtime: {e:#}\n\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    // Before anything is opened (the log file included): see reserve_preserved_fds.
    match &cli.cmd {
        Some(Cmd::Create(a)) | Some(Cmd::Run { create: a, .. }) => {
            reserve_preserved_fds(a.preserve_fds)
        }
        Some(Cmd::Exec(o)) => reserve_preserved_fds(o.preserve_fds),
        _ => {}
    }
    if let Err(e) = logging::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        eprintln!("berth-runtime: cannot open log file: {e}");
    }
    let to_file = cli.log.is_some();
    match real_main(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            let msg = format!("{e:#}");
            tracing::error!("{msg}");
            if to_file {
                eprintln!("berth-runtime: {msg}");
            }
            ExitCode::from(1)
        }
    }
}
