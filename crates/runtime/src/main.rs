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
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "berth-runtime",
    about = "berth's OCI container runtime (runc-compatible command line)",
    disable_version_flag = true
)]
struct Cli {
    /// Directory for container state (tmpfs recommended).
    #[arg(long, global = true, default_value = state::DEFAULT_ROOT)]
    root: PathBuf,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd to manage cgroups (not supported yet).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility; ignored.
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    /// With `spec`: a rootless configuration. Elsewhere accepted for runc compatibility.
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Print version information.
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OutFormat {
    Table,
    Json,
}

#[derive(clap::Args, Debug, Clone)]
struct CreateArgs {
    /// Path to the bundle directory (default: current directory).
    #[arg(short = 'b', long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master (SCM_RIGHTS).
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root (for ramfs roots).
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Accepted for runc compatibility; berth never creates a session keyring.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass N extra descriptors (3..3+N) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    id: String,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a container, held before its process starts.
    Create(CreateArgs),
    /// Start the process of a created container.
    Start { id: String },
    /// Print the OCI state of a container.
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's init, or with --all to all its processes.
    Kill {
        #[arg(short = 'a', long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container (--force kills it first).
    Delete {
        #[arg(short = 'f', long)]
        force: bool,
        id: String,
    },
    /// Create and start a container; waits for it unless --detach.
    Run {
        #[arg(short = 'd', long)]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
        #[command(flatten)]
        create: CreateArgs,
    },
    /// Run a new process in a running container.
    Exec {
        #[arg(short = 't', long)]
        tty: bool,
        #[arg(short = 'd', long)]
        detach: bool,
        /// A process.json describing the process.
        #[arg(short = 'p', long)]
        process: Option<PathBuf>,
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        #[arg(long)]
        cwd: Option<PathBuf>,
        #[arg(short = 'e', long)]
        env: Vec<String>,
        /// uid[:gid]
        #[arg(short = 'u', long)]
        user: Option<String>,
        #[arg(short = 'g', long = "additional-gids")]
        additional_gids: Vec<u32>,
        #[arg(short = 'c', long = "cap")]
        cap: Vec<String>,
        #[arg(long = "no-new-privs")]
        no_new_privs: bool,
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: u32,
        #[arg(long = "process-label", hide = true)]
        process_label: Option<String>,
        #[arg(long = "apparmor", hide = true)]
        apparmor: Option<String>,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List the processes of a container.
    Ps {
        #[arg(short = 'f', long, value_enum, default_value = "table")]
        format: OutFormat,
        id: String,
        /// Arguments for ps(1) (default: -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze all processes of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// List containers.
    List {
        #[arg(short = 'f', long, value_enum, default_value = "table")]
        format: OutFormat,
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Print the features this runtime supports (OCI features JSON).
    Features,
    /// Write a default config.json.
    Spec {
        #[arg(short = 'b', long, default_value = ".")]
        bundle: PathBuf,
    },
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

fn version() -> String {
    format!(
        "berth-runtime version {}\nspec: 1.2.0\nlibseccomp: {}\n",
        env!("CARGO_PKG_VERSION"),
        berth_runtime::seccomp::libseccomp_version()
    )
}

fn real_main(cli: Cli) -> Result<i32> {
    if cli.version {
        print!("{}", version());
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
        Cmd::Start { id } => container::start(&store, &id)?,
        Cmd::State { id } => {
            let st = container::state(&store, &id)?;
            println!("{}", serde_json::to_string_pretty(&st)?);
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
            let code = container::run(&store, &o, detach)?;
            let _ = keep;
            return Ok(code);
        }
        Cmd::Exec {
            tty,
            detach,
            process,
            console_socket,
            pid_file,
            cwd,
            env,
            user,
            additional_gids,
            cap,
            no_new_privs,
            preserve_fds,
            process_label: _,
            apparmor: _,
            id,
            command,
        } => {
            let o = ExecOpts {
                id,
                process_file: process,
                args: command,
                tty,
                detach,
                console_socket,
                pid_file,
                cwd,
                env,
                user,
                additional_gids,
                cap_add: cap,
                no_new_privs,
                preserve_fds,
                seccomp_cache: Some(cli.root.join(".seccomp-cache")),
                stdio: None,
                process: None,
            };
            return Ok(exec::exec(&store, &o)?);
        }
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => {
            let pids = container::pids(&store, &id)?;
            if format == OutFormat::Json {
                println!("{}", serde_json::to_string(&pids)?);
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
        Cmd::Features => println!(
            "{}",
            serde_json::to_string_pretty(&berth_runtime::features::features())?
        ),
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
    let cli = Cli::parse();
    // Before anything is opened (the log file included): see reserve_preserved_fds.
    match &cli.cmd {
        Some(Cmd::Create(a)) | Some(Cmd::Run { create: a, .. }) => {
            reserve_preserved_fds(a.preserve_fds)
        }
        Some(Cmd::Exec { preserve_fds, .. }) => reserve_preserved_fds(*preserve_fds),
        _ => {}
    }
    let fmt = match cli.log_format {
        LogFormat::Text => Format::Text,
        LogFormat::Json => Format::Json,
    };
    if let Err(e) = logging::init(cli.log.as_deref(), fmt, cli.debug) {
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
