//! berth: the docker-compatible command line. It talks only to berthd's Docker Engine API
//! over a unix socket (never links the engine) and starts berthd on first use when
//! nothing answers at the default socket.
//!
//! Exit codes follow docker: flag and daemon errors are 125 for `run`/`create`, 1 for
//! other commands; `run`, `start -a` and `wait` pass the container's own code through.

mod args;
mod auth;
mod buildctx;
mod cli;
mod client;
mod container;
mod context;
mod cp;
mod daemon;
mod format;
mod gofuncs;
mod gotypes;
mod help;
mod image;
mod imgbuild;
mod imgops;
mod network;
mod ops;
mod outfile;
mod platform;
mod ports;
mod request;
mod run;
mod runflags;
mod stats;
mod stream;
mod system;
mod timestamp;
mod tmpl;
mod tty;
mod typename;
mod usage;
mod volume;

use crate::args::{NetworkCmd, SystemCmd, VolumeCmd};
use crate::cli::{BuilderCmd, Cli, Cmd, ContainerCmd, ImageCmd};
use crate::client::Client;

/// Ends the process with a code and no message (the container's exit status).
#[derive(Debug)]
pub struct Exit(pub i32);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

fn main() {
    // Like docker (and any Unix filter), end quietly when the reader of our output goes
    // away (`berth ps | head -1`) instead of failing on EPIPE.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    {
        let args: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        match help::help_command(&args) {
            Some(Ok(text)) => {
                print!("{text}");
                std::process::exit(0);
            }
            Some(Err((msg, code))) => {
                eprintln!("{msg}");
                std::process::exit(code);
            }
            None => {}
        }
    }
    let parsed = match cli::fast_parse(std::env::args_os().skip(1)) {
        Some(c) => Ok(c),
        None => {
            let mut root = cli::command();
            let args = cli::end_run_flags_at_image(&root, std::env::args_os().collect());
            match cli::bool_values(&root, args) {
                Ok(args) => cli::parse(&mut root, args),
                Err(msg) => {
                    let args: Vec<String> = std::env::args_os()
                        .map(|a| a.to_string_lossy().into_owned())
                        .collect();
                    eprintln!(
                        "{}",
                        usage::flag_error_text(&msg, &args).unwrap_or(msg.clone())
                    );
                    std::process::exit(125);
                }
            }
        }
    };
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let args: Vec<String> = std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            if e.kind() == clap::error::ErrorKind::DisplayHelp
                && let Some(text) = help::render(&args)
            {
                print!("{text}");
                std::process::exit(0);
            }
            if let Some((msg, code)) = usage::docker_usage_error(&e, &args) {
                eprintln!("{msg}");
                std::process::exit(code);
            }
            if e.kind() == clap::error::ErrorKind::DisplayVersion {
                // docker's `Docker version X, build Y`
                println!(
                    "Berth version {}, build {}",
                    env!("CARGO_PKG_VERSION"),
                    option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown")
                );
                std::process::exit(0);
            }
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 125,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    // run/create report failures docker's way and exit 125 ("the engine could not do
    // it"); other commands exit 1.
    let engine_cmd = match &cli.cmd {
        Cmd::Run(_) | Cmd::Container(ContainerCmd::Run(_)) => Some("run"),
        Cmd::Create(_) | Cmd::Container(ContainerCmd::Create(_)) => Some("create"),
        _ => None,
    };
    // The docker CLI's global options: a log level logrus knows (berth logs nothing
    // more at any level), debug mode (nothing more either) and the config directory.
    if let Some(l) = &cli.log_level
        && !matches!(
            l.to_lowercase().as_str(),
            "panic" | "fatal" | "error" | "warn" | "warning" | "info" | "debug" | "trace"
        )
    {
        eprintln!("Unable to parse logging level: {l}");
        std::process::exit(1);
    }
    if let Some(dir) = &cli.config {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var("DOCKER_CONFIG", dir) };
    }
    // Contexts, as docker's: the one in force gives the daemon's host (see context.rs);
    // one that is not there ends any command but `context`'s own.
    if cli.context.as_deref().is_some_and(|c| !c.is_empty()) && cli.host.is_some() {
        eprintln!("conflicting options: cannot specify both --host and --context");
        std::process::exit(1);
    }
    if !matches!(cli.cmd, Cmd::Context(_)) {
        context::init(&cli);
    }
    // run/create's request is built, and its option values checked, before the daemon is
    // asked (or started): a bad value is the user's error, reported as docker reports it.
    // The request built here is the one sent.
    let body = match &cli.cmd {
        Cmd::Run(a)
        | Cmd::Container(ContainerCmd::Run(a))
        | Cmd::Create(a)
        | Cmd::Container(ContainerCmd::Create(a)) => match run::create_body(a) {
            Ok(b) => Some(b),
            Err(e) => {
                let args: Vec<String> = std::env::args_os()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                if let Some(Exit(c)) = e.downcast_ref::<Exit>() {
                    // Reported already, in docker's words and with its status.
                    std::process::exit(*c);
                }
                match e
                    .downcast_ref::<run::FlagValueError>()
                    .and_then(|f| usage::flag_error_text(&f.0, &args))
                {
                    Some(text) => eprintln!("{text}"),
                    None => {
                        let _ = run::run_failure(engine_cmd.unwrap_or("run"), &e, 125);
                    }
                }
                std::process::exit(125);
            }
        },
        _ => None,
    };
    // --use-api-socket needs a unix socket to mount: refused, in docker's words, before
    // the daemon is asked (run: status 125, create: the message as it is, status 1).
    if let Cmd::Run(a)
    | Cmd::Container(ContainerCmd::Run(a))
    | Cmd::Create(a)
    | Cmd::Container(ContainerCmd::Create(a)) = &cli.cmd
        && a.use_api_socket
        && let Err(e) = run::check_api_socket_host(&daemon::chosen_host(&cli).0)
    {
        if engine_cmd == Some("run") {
            let _ = run::run_failure("run", &e, 125);
            std::process::exit(125);
        }
        eprintln!("{e}");
        std::process::exit(1);
    }
    let code = match dispatch(cli, body) {
        Ok(()) => 0,
        Err(e) => {
            if let Some(Exit(c)) = e.downcast_ref::<Exit>() {
                *c
            } else if let Some(cmd) = engine_cmd
                && (cmd == "run"
                    || (e.downcast_ref::<client::DaemonError>().is_none()
                        && e.downcast_ref::<client::StreamError>().is_none()))
            {
                // run's errors, and create's own checks of its options: status 125.
                let _ = run::run_failure(cmd, &e, 125);
                125
            } else if let Some(text) = e.downcast_ref::<run::FlagValueError>().and_then(|f| {
                let args: Vec<String> = std::env::args_os()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                usage::flag_error_text(&f.0, &args)
            }) {
                // A bad flag value of another command (update's sizes, --cpus): docker's
                // flag error, its usage line, status 125.
                eprintln!("{text}");
                125
            } else {
                // The docker CLI prints other errors as they are (the daemon's refusal
                // of a create too), exit 1.
                eprintln!("{e:#}");
                1
            }
        }
    };
    std::process::exit(code);
}

/// The API client for this invocation: host from -H, BERTH_HOST, DOCKER_HOST or the
/// default socket (auto-starting berthd there when allowed).
fn client(cli: &Cli) -> anyhow::Result<Client> {
    daemon::connect(cli)
}

/// `body`: the create request of run/create, built (and checked) before the daemon is asked.
fn dispatch(cli: Cli, body: Option<serde_json::Value>) -> anyhow::Result<()> {
    let body = || body.ok_or_else(|| anyhow::anyhow!("no create request built"));
    match &cli.cmd {
        Cmd::Daemon(a) => return daemon::exec_foreground(&a.args),
        Cmd::Completion(a) => return cli::completion(a),
        Cmd::Man => return cli::man(),
        Cmd::Logout(a) => return auth::logout(a),
        Cmd::Context(sub) => return context::run(&cli, sub),
        Cmd::Build(a) | Cmd::Image(ImageCmd::Build(a)) | Cmd::Builder(BuilderCmd::Build(a)) => {
            // The flags and the context are checked before the daemon is asked (or
            // started), as docker does.
            let b = imgbuild::prepare(a, &daemon::chosen_host(&cli).0)?;
            return imgbuild::build(&client(&cli)?, a, b);
        }
        _ => {}
    }
    let info = match &cli.cmd {
        Cmd::Info(a) | Cmd::System(SystemCmd::Info(a)) => Some(a.format.is_none()),
        _ => None,
    };
    if info == Some(true) {
        system::info_client_section();
    }
    let c = match (client(&cli), &cli.cmd) {
        (Err(e), Cmd::Version(a)) => return system::version_unreachable(a, e),
        (c, _) => c,
    };
    let c = c.inspect_err(|_| {
        // (`info --format` prints its empty result even so, as docker does)
        if info == Some(false) {
            println!();
        }
    })?;
    match cli.cmd {
        Cmd::Version(a) => system::version(&c, &a),
        Cmd::Info(a) => system::info(&c, &a),
        Cmd::Ps(a) => container::ps(&c, &a),
        Cmd::Images(a) => image::list(&c, &a),
        Cmd::Pull(a) => image::pull(&c, &a),
        Cmd::Build(_) | Cmd::Context(_) => Ok(()),
        Cmd::Builder(sub) => match sub {
            BuilderCmd::Build(_) => Ok(()),
            BuilderCmd::Prune(a) => volume::builder_prune(&c, &a),
        },
        Cmd::Run(a) => run::run(&c, &a, body()?),
        Cmd::Create(a) => run::create_cmd(&c, &a, body()?),
        Cmd::Start(a) => run::start(&c, &a),
        Cmd::Stop(a) => container::stop(&c, &a),
        Cmd::Restart(a) => container::restart(&c, &a),
        Cmd::Kill(a) => container::kill(&c, &a),
        Cmd::Rm(a) => container::rm(&c, &a),
        Cmd::Logs(a) => container::logs(&c, &a),
        Cmd::Exec(a) => run::exec(&c, &a),
        Cmd::Attach(a) => run::attach(&c, &a),
        Cmd::Inspect(a) => container::inspect(&c, &a, None),
        Cmd::Wait(a) => container::wait(&c, &a),
        Cmd::Pause(a) => container::pause(&c, &a, true),
        Cmd::Unpause(a) => container::pause(&c, &a, false),
        Cmd::Top(a) => ops::top(&c, &a),
        Cmd::Stats(a) => stats::stats(&c, &a),
        Cmd::Cp(a) => cp::cp(&c, &a),
        Cmd::Diff(a) => ops::diff(&c, &a),
        Cmd::Export(a) => ops::export(&c, &a),
        Cmd::Import(a) => imgops::import(&c, &a),
        Cmd::Commit(a) => ops::commit(&c, &a),
        Cmd::Rename(a) => ops::rename(&c, &a),
        Cmd::Update(a) => ops::update(&c, &a),
        Cmd::Port(a) => ops::port(&c, &a),
        Cmd::Push(a) => imgops::push(&c, &a),
        Cmd::Rmi(a) => imgops::rmi(&c, &a),
        Cmd::Tag(a) => imgops::tag(&c, &a),
        Cmd::Save(a) => imgops::save(&c, &a),
        Cmd::Load(a) => imgops::load(&c, &a),
        Cmd::History(a) => imgops::history(&c, &a),
        Cmd::Login(a) => auth::login(&c, &a),
        Cmd::Events(a) => network::events(&c, &a),
        Cmd::Volume(sub) => match sub {
            VolumeCmd::Create(a) => volume::create(&c, &a),
            VolumeCmd::Ls(a) => volume::ls(&c, &a),
            VolumeCmd::Inspect(a) => volume::inspect(&c, &a),
            VolumeCmd::Rm(a) => volume::rm(&c, &a),
            VolumeCmd::Prune(a) => volume::prune(&c, &a),
        },
        Cmd::Network(sub) => match sub {
            NetworkCmd::Create(a) => network::create(&c, &a),
            NetworkCmd::Ls(a) => network::ls(&c, &a),
            NetworkCmd::Inspect(a) => network::inspect(&c, &a),
            NetworkCmd::Rm(a) => network::rm(&c, &a),
            NetworkCmd::Connect(a) => network::connect(&c, &a),
            NetworkCmd::Disconnect(a) => network::disconnect(&c, &a),
            NetworkCmd::Prune(a) => network::prune(&c, &a),
        },
        Cmd::System(sub) => match sub {
            SystemCmd::Df(a) => volume::df(&c, &a),
            SystemCmd::Prune(a) => volume::system_prune(&c, &a),
            SystemCmd::Info(a) => system::info(&c, &a),
            SystemCmd::Events(a) => network::events(&c, &a),
        },
        Cmd::Container(sub) => match sub {
            ContainerCmd::Ls(a) => container::ps(&c, &a),
            ContainerCmd::Run(a) => run::run(&c, &a, body()?),
            ContainerCmd::Create(a) => run::create_cmd(&c, &a, body()?),
            ContainerCmd::Start(a) => run::start(&c, &a),
            ContainerCmd::Stop(a) => container::stop(&c, &a),
            ContainerCmd::Restart(a) => container::restart(&c, &a),
            ContainerCmd::Kill(a) => container::kill(&c, &a),
            ContainerCmd::Rm(a) => container::rm(&c, &a),
            ContainerCmd::Logs(a) => container::logs(&c, &a),
            ContainerCmd::Exec(a) => run::exec(&c, &a),
            ContainerCmd::Attach(a) => run::attach(&c, &a),
            ContainerCmd::Inspect(a) => container::inspect(&c, &a, Some("container")),
            ContainerCmd::Wait(a) => container::wait(&c, &a),
            ContainerCmd::Pause(a) => container::pause(&c, &a, true),
            ContainerCmd::Unpause(a) => container::pause(&c, &a, false),
            ContainerCmd::Top(a) => ops::top(&c, &a),
            ContainerCmd::Stats(a) => stats::stats(&c, &a),
            ContainerCmd::Cp(a) => cp::cp(&c, &a),
            ContainerCmd::Diff(a) => ops::diff(&c, &a),
            ContainerCmd::Export(a) => ops::export(&c, &a),
            ContainerCmd::Commit(a) => ops::commit(&c, &a),
            ContainerCmd::Rename(a) => ops::rename(&c, &a),
            ContainerCmd::Update(a) => ops::update(&c, &a),
            ContainerCmd::Port(a) => ops::port(&c, &a),
            ContainerCmd::Prune(a) => ops::prune(&c, &a),
        },
        Cmd::Image(sub) => match sub {
            ImageCmd::Ls(a) => image::list(&c, &a),
            ImageCmd::Pull(a) => image::pull(&c, &a),
            ImageCmd::Build(_) => Ok(()),
            ImageCmd::Inspect(a) => container::inspect(&c, &a, Some("image")),
            ImageCmd::History(a) => imgops::history(&c, &a),
            ImageCmd::Import(a) => imgops::import(&c, &a),
            ImageCmd::Load(a) => imgops::load(&c, &a),
            ImageCmd::Prune(a) => imgops::prune(&c, &a),
            ImageCmd::Push(a) => imgops::push(&c, &a),
            ImageCmd::Rm(a) => imgops::rmi(&c, &a),
            ImageCmd::Save(a) => imgops::save(&c, &a),
            ImageCmd::Tag(a) => imgops::tag(&c, &a),
        },
        Cmd::Daemon(_) | Cmd::Completion(_) | Cmd::Man | Cmd::Logout(_) => Ok(()),
    }
}
