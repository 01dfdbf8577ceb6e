//! berth: the docker-compatible command line. It talks only to berthd's Docker Engine API
//! over a unix socket (never links the engine) and starts berthd on first use when
//! nothing answers at the default socket.
//!
//! Exit codes follow docker: flag and daemon errors are 125 for `run`/`create`, 1 for
//! other commands; `run`, `start -a` and `wait` pass the container's own code through.

mod cli;
mod client;
mod container;
mod daemon;
mod format;
mod image;
mod run;
mod stream;
mod system;
mod tty;

use clap::Parser;

use crate::cli::{Cli, Cmd, ContainerCmd, ImageCmd};
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
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
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
    let code = match dispatch(cli) {
        Ok(()) => 0,
        Err(e) => {
            if let Some(Exit(c)) = e.downcast_ref::<Exit>() {
                *c
            } else if engine_cmd == Some("create")
                && e.downcast_ref::<client::StreamError>().is_some()
            {
                // docker create reports a failed implicit pull as it is, with exit 1.
                eprintln!("{e}");
                1
            } else if let Some(cmd) = engine_cmd {
                let _ = run::run_failure(cmd, &e, 125);
                125
            } else {
                if e.downcast_ref::<client::DaemonError>().is_some()
                    || e.downcast_ref::<client::ConnectError>().is_some()
                    || e.downcast_ref::<client::StreamError>().is_some()
                {
                    eprintln!("{e}");
                } else {
                    eprintln!("Error: {e:#}");
                }
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

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match &cli.cmd {
        Cmd::Daemon(a) => return daemon::exec_foreground(&a.args),
        Cmd::Completion(a) => return cli::completion(a),
        Cmd::Man => return cli::man(),
        _ => {}
    }
    let c = client(&cli)?;
    match cli.cmd {
        Cmd::Version(a) => system::version(&c, &a),
        Cmd::Info(a) => system::info(&c, &a),
        Cmd::Ps(a) => container::ps(&c, &a),
        Cmd::Images(a) => image::list(&c, &a),
        Cmd::Pull(a) => image::pull(&c, &a),
        Cmd::Run(a) => run::run(&c, &a),
        Cmd::Create(a) => run::create_cmd(&c, &a),
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
        Cmd::Container(sub) => match sub {
            ContainerCmd::Ls(a) => container::ps(&c, &a),
            ContainerCmd::Run(a) => run::run(&c, &a),
            ContainerCmd::Create(a) => run::create_cmd(&c, &a),
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
        },
        Cmd::Image(sub) => match sub {
            ImageCmd::Ls(a) => image::list(&c, &a),
            ImageCmd::Pull(a) => image::pull(&c, &a),
            ImageCmd::Inspect(a) => container::inspect(&c, &a, Some("image")),
        },
        Cmd::Daemon(_) | Cmd::Completion(_) | Cmd::Man => Ok(()),
    }
}
