//! The command definitions (docker's names, flags and defaults), plus the completion and
//! man page generators that read them.

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::args::*;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A self-sufficient runtime for containers",
    disable_help_subcommand = true,
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Cli {
    /// Print version information and quit
    #[arg(short = 'v', short_alias = 'V', long, action = clap::ArgAction::Version)]
    pub version: Option<bool>,
    /// Location of client config files (default "~/.docker")
    #[arg(long, value_name = "string")]
    pub config: Option<String>,
    /// Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and default context set with "docker context use")
    #[arg(short = 'c', long = "context", value_name = "string")]
    pub context: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Daemon socket to connect to (unix://PATH)
    #[arg(short = 'H', long = "host", global = true)]
    pub host: Option<String>,
    /// Set the logging level ("debug", "info", "warn", "error", "fatal") (default "info")
    #[arg(short = 'l', long = "log-level", value_name = "string")]
    pub log_level: Option<String>,
    /// Do not start berthd when nothing answers at the default socket
    #[arg(long, global = true, env = "BERTH_NO_AUTOSTART", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_autostart: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Show the Berth version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(VersionArgs),
    /// List containers
    Ps(PsArgs),
    /// List images
    Images(ImagesArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        mut_arg("detach", |a| a.hide(true).short(None).long("\u{0}detach")),
        mut_arg("detach_keys", |a| a.hide(true).long("\u{0}detach-keys")),
        mut_arg("sig_proxy", |a| a.hide(true).long("\u{0}sig-proxy")),
        mut_arg("pull", |a| a.help("Pull image before creating (\"always\", \"|missing\", \"never\")"))
    )]
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Return low-level information on Docker objects
    Inspect(InspectArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Copy files/folders between a container and the local filesystem
    #[command(long_about = CP_LONG)]
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(ContainerArg),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Authenticate to a registry
    #[command(
        long_about = "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified."
    )]
    Login(LoginArgs),
    /// Log out from a registry
    #[command(
        long_about = "Log out from a registry.\nIf no server is specified, the default is defined by the daemon."
    )]
    Logout(LogoutArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCmd),
    /// Manage contexts
    #[command(subcommand)]
    Context(ContextCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Manage Berth
    #[command(subcommand)]
    System(SystemCmd),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCmd),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCmd),
    /// Run berthd in the foreground (arguments, --help included, go to berthd)
    #[command(disable_help_flag = true)]
    Daemon(DaemonArgs),
    /// Generate a shell completion script (bash, zsh, fish, elvish, powershell)
    Completion(CompletionArgs),
    /// Print the berth(1) man page (roff) to stdout
    Man,
}

/// `cp`'s description, docker's words.
const CP_LONG: &str = "Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.";

#[derive(Subcommand, Debug)]
pub enum ContainerCmd {
    /// List containers
    #[command(visible_alias = "ps", visible_alias = "list")]
    Ls(PsArgs),
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container
    #[command(
        disable_help_flag = true,
        mut_arg("detach", |a| a.hide(true).short(None).long("\u{0}detach")),
        mut_arg("detach_keys", |a| a.hide(true).long("\u{0}detach-keys")),
        mut_arg("sig_proxy", |a| a.hide(true).long("\u{0}sig-proxy")),
        mut_arg("pull", |a| a.help("Pull image before creating (\"always\", \"|missing\", \"never\")"))
    )]
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Display detailed information on one or more containers
    #[command(
        mut_arg("size", |a| a.help("Display total file sizes")),
        mut_arg("kind", |a| a.hide(true))
    )]
    Inspect(InspectArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Copy files/folders between a container and the local filesystem
    #[command(long_about = CP_LONG)]
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(ContainerArg),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
}

#[derive(Subcommand, Debug)]
pub enum BuilderCmd {
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Display detailed information on one or more images
    #[command(mut_arg("size", |a| a.hide(true)), mut_arg("kind", |a| a.hide(true)))]
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
}

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, default_value_t = -1)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// List multi-platform images as a tree (docker 28: experimental, API 1.47)
    #[arg(long, hide = true)]
    pub tree: bool,
    /// Repository to list, optionally with a tag
    pub repository: Option<String>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short, long)]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Skip image verification
    ///
    /// berth verifies no signatures: the flag is accepted for docker's sake.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::cli::go_bool)]
    pub disable_content_trust: bool,
    pub image: String,
}

#[derive(Args, Debug, Default)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    pub env_file: Vec<String>,
    /// Set meta data on a container
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Bind mount a volume
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Connect a container to a network
    #[arg(long, alias = "net")]
    pub network: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    ///
    /// Sent when given (`--init=false` too), as docker's flags.Changed("init").
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::cli::go_bool)]
    pub init: Option<bool>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Add Linux capabilities
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Publish a container's port(s) to the host
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short, long = "attach")]
    pub attach: Vec<String>,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    pub stop_timeout: Option<i64>,
    /// Proxy received signals to the process
    ///
    /// On by default for `run` (when no terminal is allocated); `create` ignores it.
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::cli::go_bool)]
    pub sig_proxy: Option<bool>,
    /// Bind mount Docker API socket and required auth
    ///
    /// Mounts the socket of the daemon this command talks to at /var/run/docker.sock in
    /// the container and, when the client configuration holds registry credentials,
    /// copies them to /run/secrets/docker/config.json with DOCKER_CONFIG pointing there.
    #[arg(long)]
    pub use_api_socket: bool,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    #[command(flatten)]
    pub more: crate::runflags::RunMore,
    /// Image to run
    pub image: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<i64>,
    /// Deprecated spelling of --timeout
    #[arg(long = "time", hide = true)]
    pub time: Option<i64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short, long)]
    pub link: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    pub user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = crate::cli::go_bool)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only inspect objects of the given type
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DaemonArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CompletionArgs {
    pub shell: clap_complete::Shell,
}

/// `berth ps` and `berth version` with no further arguments (the forms typed most, and
/// benchmarked) parsed without clap: building clap's command tree costs more than the
/// rest of such a run. Anything else returns None and goes through clap.
pub fn fast_parse(mut args: impl Iterator<Item = std::ffi::OsString>) -> Option<Cli> {
    let first = args.next()?;
    if args.next().is_some() {
        return None;
    }
    let cmd = match first.to_str()? {
        "ps" => Cmd::Ps(PsArgs {
            all: false,
            quiet: false,
            no_trunc: false,
            filter: Vec::new(),
            format: None,
            last: -1,
            latest: false,
            size: false,
        }),
        "version" => Cmd::Version(VersionArgs { format: None }),
        _ => return None,
    };
    // clap's FalseyValueParser, as the --no-autostart flag reads BERTH_NO_AUTOSTART.
    let no_autostart = std::env::var("BERTH_NO_AUTOSTART").is_ok_and(|v| {
        !matches!(
            v.to_lowercase().as_str(),
            "" | "n" | "no" | "f" | "false" | "off" | "0"
        )
    });
    Some(Cli {
        version: None,
        config: None,
        context: None,
        debug: false,
        host: None,
        log_level: None,
        no_autostart,
        cmd,
    })
}

/// Parses the command line with the tree [`command`] built.
pub fn parse(root: &mut clap::Command, args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
    let mut m = root.try_get_matches_from_mut(args)?;
    <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut m)
}

/// The command tree, built once per invocation (it is the slowest part of a `berth run`'s
/// own work) and shared by the argument passes below and by [`parse`]. It reads the command
/// line as docker does: an option's value may be a negative number (`ps -n -1`, `logs
/// --tail -1`, `stop -t -1`, `--memory-swap -1`), which pflag takes as the value where clap
/// would read a flag.
pub fn command() -> clap::Command {
    fn negative_values(c: clap::Command) -> clap::Command {
        c.mut_args(|a| {
            if a.get_action().takes_values() && !a.is_positional() {
                a.allow_hyphen_values(true)
            } else {
                a
            }
        })
        .mut_subcommands(negative_values)
    }
    negative_values(Cli::command())
}

/// For `run`/`create` (`exec`): a `--` after the image (container), so that everything after it is the
/// container's command even when it looks like one of our flags (`run IMG -c true`), as
/// docker stops parsing flags at the image. For `history`: its `-H` is `--human`, as in
/// docker (where a command's own flag shadows the global `-H`).
pub fn end_run_flags_at_image(
    root: &clap::Command,
    mut args: Vec<std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let s = |i: usize| args.get(i).and_then(|a| a.to_str()).unwrap_or("");
    // Past the global flags to the subcommand.
    let mut i = 1;
    while s(i).starts_with('-') {
        if matches!(s(i), "-H" | "--host" | "-l" | "--log-level" | "--config") {
            i += 1;
        }
        i += 1;
    }
    let name = match s(i) {
        "container" | "image" => {
            i += 1;
            s(i)
        }
        n => n,
    };
    if name == "history" {
        for a in args.iter_mut().skip(i + 1) {
            match a.to_str() {
                Some("--") => break,
                Some("-H") => *a = "--human".into(),
                Some(t) if t.starts_with("-H=") => *a = format!("--human={}", &t[3..]).into(),
                _ => {}
            }
        }
        return args;
    }
    if !matches!(name, "run" | "create" | "exec") {
        return args;
    }
    let Some(cmd) = root.find_subcommand(name) else {
        return args;
    };
    // Does this flag consume the next argument?
    let consumes = |a: &clap::Arg| {
        a.get_action().takes_values() && a.get_num_args().is_none_or(|r| r.min_values() > 0)
    };
    i += 1;
    while i < args.len() {
        let t = s(i).to_owned();
        if t == "--" {
            return args;
        }
        if let Some(long) = t.strip_prefix("--") {
            if !long.contains('=')
                && (cmd
                    .get_arguments()
                    .any(|a| a.get_long() == Some(long) && consumes(a))
                    || long == "host")
            {
                i += 1;
            }
        } else if t.len() > 1 && t.starts_with('-') {
            for (k, ch) in t.char_indices().skip(1) {
                if cmd
                    .get_arguments()
                    .any(|a| a.get_short() == Some(ch) && consumes(a))
                    || ch == 'H'
                {
                    if k + ch.len_utf8() == t.len() {
                        i += 1;
                    }
                    break;
                }
            }
        } else {
            // The image: the rest is the command.
            if i + 1 < args.len() {
                args.insert(i + 1, "--".into());
            }
            return args;
        }
        i += 1;
    }
    args
}

/// pflag's boolean flags take a value after `=` (`--rm=false`, `-a=true`), as Go's
/// strconv.ParseBool reads it: the flag is given (true) or left out (false); any other
/// value is docker's flag error (the message returned). Words after `--` are the
/// container's.
pub fn bool_values(
    root: &clap::Command,
    mut args: Vec<std::ffi::OsString>,
) -> Result<Vec<std::ffi::OsString>, String> {
    let s = |args: &[std::ffi::OsString], i: usize| {
        args.get(i)
            .and_then(|a| a.to_str())
            .unwrap_or("")
            .to_owned()
    };
    let mut i = 1;
    let mut cmd = root;
    let mut global = true;
    let is_bool = |a: &&clap::Arg| matches!(a.get_action(), clap::ArgAction::SetTrue);
    while i < args.len() {
        let t = s(&args, i);
        if t == "--" {
            break;
        }
        if global && !t.starts_with('-') {
            // The command (and a group's subcommand): its own flags from here on.
            let Some(c) = root.find_subcommand(&t) else {
                return Ok(args);
            };
            cmd = c;
            if let Some(sub) = cmd.find_subcommand(s(&args, i + 1)) {
                cmd = sub;
                i += 1;
            }
            global = false;
            i += 1;
            continue;
        }
        if global
            && matches!(
                t.as_str(),
                "-H" | "--host" | "-l" | "--log-level" | "--config"
            )
        {
            i += 2;
            continue;
        }
        let found = if let Some(rest) = t.strip_prefix("--") {
            rest.split_once('=').and_then(|(name, v)| {
                cmd.get_arguments()
                    .filter(is_bool)
                    .find(|a| a.get_long() == Some(name))
                    .map(|a| (a, v.to_owned()))
            })
        } else if t.len() > 2 && t.starts_with('-') && t[1..].chars().nth(1) == Some('=') {
            let ch = t[1..].chars().next().unwrap_or('-');
            let v = t[1 + ch.len_utf8() + 1..].to_owned();
            cmd.get_arguments()
                .filter(is_bool)
                .find(|a| a.get_short() == Some(ch))
                .map(|a| (a, v))
        } else {
            None
        };
        if let Some((a, v)) = found {
            let long = a.get_long().unwrap_or("");
            let names = match a.get_short() {
                Some(c) => format!("-{c}, --{long}"),
                None => format!("--{long}"),
            };
            match v.as_str() {
                "1" | "t" | "T" | "TRUE" | "true" | "True" => {
                    args[i] = format!("--{long}").into();
                }
                "0" | "f" | "F" | "FALSE" | "false" | "False" => {
                    args.remove(i);
                    continue;
                }
                _ => {
                    return Err(format!(
                        "invalid argument {v:?} for \"{names}\" flag: strconv.ParseBool: parsing {v:?}: invalid syntax"
                    ));
                }
            }
        }
        i += 1;
    }
    Ok(args)
}

/// A boolean flag's value (`--rm=false`) as Go's strconv.ParseBool reads it, failing in
/// its words.
pub fn go_bool(v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {v:?}: invalid syntax")),
    }
}

pub fn completion(a: &CompletionArgs) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "berth", &mut std::io::stdout());
    Ok(())
}

pub fn man() -> anyhow::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_fast_path_parses_as_clap_does() {
        for cmd in ["ps", "version"] {
            let fast = fast_parse([cmd.into()].into_iter()).unwrap();
            let slow = Cli::try_parse_from(["berth", cmd]).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        }
        assert!(fast_parse(["ps".into(), "-a".into()].into_iter()).is_none());
        assert!(fast_parse(["images".into()].into_iter()).is_none());
        assert!(fast_parse(std::iter::empty()).is_none());
    }

    #[test]
    fn the_command_after_the_image_may_look_like_our_flags() {
        let parse = |v: &[&str]| {
            let args = end_run_flags_at_image(&Cli::command(), v.iter().map(Into::into).collect());
            Cli::try_parse_from(args).unwrap()
        };
        let c = parse(&[
            "berth", "run", "-e", "A=1", "--rm", "-c", "5", "img", "-c", "true",
        ]);
        let Cmd::Run(r) = c.cmd else { panic!() };
        assert_eq!(
            (r.image.as_str(), r.command.as_slice()),
            ("img", &["-c".to_owned(), "true".to_owned()][..])
        );
        assert_eq!(r.more.cpu_shares, Some(5));
        let c = parse(&[
            "berth",
            "-H",
            "unix:///x",
            "container",
            "create",
            "--name=x",
            "-it",
            "img",
            "-l",
        ]);
        let Cmd::Container(ContainerCmd::Create(r)) = c.cmd else {
            panic!()
        };
        assert_eq!(r.command, ["-l"]);
        assert!(r.tty && r.interactive);
        let c = parse(&["berth", "run", "--sig-proxy", "img", "x"]);
        let Cmd::Run(r) = c.cmd else { panic!() };
        assert_eq!(r.image, "img");
        assert_eq!(r.sig_proxy, Some(true));
    }

    #[test]
    fn run_h_is_hostname_as_in_docker() {
        let parse = |v: &[&str]| {
            let args = end_run_flags_at_image(&Cli::command(), v.iter().map(Into::into).collect());
            Cli::try_parse_from(args)
        };
        let c = parse(&["berth", "run", "-h", "box", "--rm", "img", "-h"]).unwrap();
        let Cmd::Run(r) = c.cmd else { panic!() };
        assert_eq!(r.hostname.as_deref(), Some("box"));
        assert_eq!(r.command, ["-h"]);
        let c = parse(&["berth", "container", "create", "-th", "box", "img"]).unwrap();
        let Cmd::Container(ContainerCmd::Create(r)) = c.cmd else {
            panic!()
        };
        assert!(r.tty && r.hostname.as_deref() == Some("box"));
        let e = parse(&["berth", "run", "--help"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
    }

    #[test]
    fn history_h_is_human() {
        let parse = |v: &[&str]| {
            let args = end_run_flags_at_image(&Cli::command(), v.iter().map(Into::into).collect());
            Cli::try_parse_from(args).unwrap()
        };
        let c = parse(&["berth", "-H", "unix:///x", "history", "-H=false", "img"]);
        assert_eq!(c.host.as_deref(), Some("unix:///x"));
        let Cmd::History(h) = c.cmd else { panic!() };
        assert!(!h.human);
        let c = parse(&["berth", "image", "history", "-H", "img"]);
        let Cmd::Image(ImageCmd::History(h)) = c.cmd else {
            panic!()
        };
        assert!(h.human && h.image == "img");
    }

    #[test]
    fn run_takes_the_command_after_the_image_verbatim() {
        let c = Cli::try_parse_from(["berth", "run", "--rm", "-it", "img", "sh", "-c", "ls -l"])
            .unwrap();
        let Cmd::Run(r) = c.cmd else { panic!() };
        assert!(r.rm && r.interactive && r.tty);
        assert_eq!(r.image, "img");
        assert_eq!(r.command, ["sh", "-c", "ls -l"]);
    }
}
