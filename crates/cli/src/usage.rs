//! Command-line errors in the docker CLI's words: cobra's argument-count messages with
//! docker's usage line for each command (exit 1), and pflag's unknown or incomplete flag
//! messages (exit 125), in place of clap's.

/// How many arguments a docker command takes (cobra's PositionalArgs checks).
enum Arity {
    None,
    Exact(usize),
    Min(usize),
    Max(usize),
    Range(usize, usize),
}

/// Docker's usage line (cobra `Use`) and argument count of each command, by its path
/// without the binary (`rm`, `volume create`); container and image commands are listed
/// by their own names and serve their management forms too.
const USAGE: &[(&str, &str, Arity)] = {
    use Arity::*;
    &[
        ("attach", "[OPTIONS] CONTAINER", Exact(1)),
        ("build", "[OPTIONS] PATH | URL | -", Exact(1)),
        (
            "commit",
            "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
            Range(1, 2),
        ),
        (
            "cp",
            "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tdocker cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
            Exact(2),
        ),
        ("create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", Min(1)),
        ("diff", "CONTAINER", Exact(1)),
        ("events", "[OPTIONS]", None),
        ("exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", Min(2)),
        ("export", "[OPTIONS] CONTAINER", Exact(1)),
        ("history", "[OPTIONS] IMAGE", Exact(1)),
        ("images", "[OPTIONS] [REPOSITORY[:TAG]]", Max(1)),
        ("import", "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]", Min(1)),
        ("info", "[OPTIONS]", None),
        ("inspect", "[OPTIONS] NAME|ID [NAME|ID...]", Min(1)),
        ("kill", "[OPTIONS] CONTAINER [CONTAINER...]", Min(1)),
        ("load", "[OPTIONS]", None),
        ("logs", "[OPTIONS] CONTAINER", Exact(1)),
        ("ls", "[OPTIONS]", None),
        ("pause", "CONTAINER [CONTAINER...]", Min(1)),
        ("port", "CONTAINER [PRIVATE_PORT[/PROTO]]", Range(1, 2)),
        ("ps", "[OPTIONS]", None),
        ("pull", "[OPTIONS] NAME[:TAG|@DIGEST]", Exact(1)),
        ("push", "[OPTIONS] NAME[:TAG]", Exact(1)),
        ("rename", "CONTAINER NEW_NAME", Exact(2)),
        ("restart", "[OPTIONS] CONTAINER [CONTAINER...]", Min(1)),
        ("rm", "[OPTIONS] CONTAINER [CONTAINER...]", Min(1)),
        ("rmi", "[OPTIONS] IMAGE [IMAGE...]", Min(1)),
        ("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", Min(1)),
        ("save", "[OPTIONS] IMAGE [IMAGE...]", Min(1)),
        ("start", "[OPTIONS] CONTAINER [CONTAINER...]", Min(1)),
        ("stats", "[OPTIONS] [CONTAINER...]", Min(0)),
        ("stop", "[OPTIONS] CONTAINER [CONTAINER...]", Min(1)),
        ("tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", Exact(2)),
        ("top", "CONTAINER [ps OPTIONS]", Min(1)),
        ("unpause", "CONTAINER [CONTAINER...]", Min(1)),
        ("update", "[OPTIONS] CONTAINER [CONTAINER...]", Min(1)),
        ("version", "[OPTIONS]", None),
        ("wait", "CONTAINER [CONTAINER...]", Min(1)),
        ("login", "[OPTIONS] [SERVER]", Max(1)),
        ("logout", "[SERVER]", Max(1)),
        ("prune", "[OPTIONS]", None),
        (
            "container inspect",
            "[OPTIONS] CONTAINER [CONTAINER...]",
            Min(1),
        ),
        ("image inspect", "[OPTIONS] IMAGE [IMAGE...]", Min(1)),
        ("context create", "[OPTIONS] CONTEXT", Exact(1)),
        ("context inspect", "[OPTIONS] [CONTEXT] [CONTEXT...]", None),
        ("context ls", "[OPTIONS]", None),
        ("context rm", "CONTEXT [CONTEXT...]", Min(1)),
        ("context show", "", None),
        ("context use", "CONTEXT", Exact(1)),
        ("volume create", "[OPTIONS] [VOLUME]", Max(1)),
        ("volume inspect", "[OPTIONS] VOLUME [VOLUME...]", Min(1)),
        ("volume ls", "[OPTIONS]", None),
        ("volume prune", "[OPTIONS]", None),
        ("volume rm", "[OPTIONS] VOLUME [VOLUME...]", Min(1)),
        ("network connect", "[OPTIONS] NETWORK CONTAINER", Exact(2)),
        ("network create", "[OPTIONS] NETWORK", Exact(1)),
        (
            "network disconnect",
            "[OPTIONS] NETWORK CONTAINER",
            Exact(2),
        ),
        ("network inspect", "[OPTIONS] NETWORK [NETWORK...]", Min(1)),
        ("network ls", "[OPTIONS]", None),
        ("network prune", "[OPTIONS]", None),
        ("network rm", "NETWORK [NETWORK...]", Min(1)),
        ("system df", "[OPTIONS]", None),
        ("system events", "[OPTIONS]", None),
        ("system info", "[OPTIONS]", None),
        ("system prune", "[OPTIONS]", None),
        ("builder prune", "", None),
    ]
};

/// Global options that take a value (skipped when finding the command's path).
const GLOBAL_VALUED: &[&str] = &[
    "-H",
    "--host",
    "-l",
    "--log-level",
    "--config",
    "-c",
    "--context",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
];

/// The docker command path of `args` (binary first): what docker prints (`container
/// ls`) and the key of its [`USAGE`] entry.
fn command_path(args: &[String]) -> Option<(String, String, &'static str, &'static Arity)> {
    let words = command_words(args);
    fn alias(w: &str) -> &str {
        match w {
            "list" => "ls",
            "remove" => "rm",
            other => other,
        }
    }
    let (shown, key) = match words.as_slice() {
        ["container", sub] => {
            let sub = match alias(sub) {
                "ps" => "ls",
                s => s,
            };
            (
                format!("container {sub}"),
                if sub == "ls" { "ps" } else { sub }.to_owned(),
            )
        }
        ["image", sub] => {
            let sub = alias(sub);
            let key = match sub {
                "ls" => "images",
                "rm" => "rmi",
                s => s,
            };
            (format!("image {sub}"), key.to_owned())
        }
        ["builder", "build"] => ("builder build".to_owned(), "build".to_owned()),
        [
            g @ ("builder" | "context" | "volume" | "network" | "system"),
            sub,
        ] => {
            let s = format!("{g} {}", alias(sub));
            (s.clone(), s)
        }
        [cmd]
            if !matches!(
                *cmd,
                "builder" | "container" | "context" | "image" | "volume" | "network" | "system"
            ) =>
        {
            (cmd.to_string(), cmd.to_string())
        }
        _ => return None,
    };
    let (_, usage, arity) = USAGE
        .iter()
        .find(|(k, _, _)| *k == shown)
        .or_else(|| USAGE.iter().find(|(k, _, _)| *k == key))?;
    Some((shown, key, usage, arity))
}

/// A command-line error as the docker CLI reports it, with its exit status: a wrong
/// number of arguments (1) or an unknown or incomplete flag (125). None for what docker
/// words differently (clap's own message is printed then).
/// pflag's name of a flag: `-c, --cpu-shares` when it has a shorthand, else `--name`.
fn flag_names(long: &str) -> String {
    fn find(c: &clap::Command, long: &str) -> Option<char> {
        c.get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| a.get_short())
            .or_else(|| c.get_subcommands().find_map(|s| find(s, long)))
    }
    let name = long.trim_start_matches('-');
    match find(&<crate::cli::Cli as clap::CommandFactory>::command(), name) {
        Some(short) => format!("-{short}, --{name}"),
        None => format!("--{name}"),
    }
}

/// The command as invoked (`berth run`, the program named as it was called), its usage
/// and its arity.
fn invoked(args: &[String]) -> Option<(String, &'static str, &'static Arity)> {
    let bin = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned())
        .unwrap_or_else(|| "berth".into());
    let (shown, _, usage, arity) = command_path(args)?;
    Some((format!("{bin} {shown}"), usage, arity))
}

/// For `--help`: the command as invoked (`berth container ls`), docker's usage of it,
/// and the name it is listed under (`ps`).
pub fn help_head(args: &[String]) -> Option<(String, &'static str, String)> {
    let (path, usage, _) = invoked(args)?;
    let (_, key, _, _) = command_path(args)?;
    Some((path, usage, key))
}

/// A flag error as docker prints it: the message, the command's usage line, the pointer
/// to `--help` (status 125).
pub fn flag_error_text(msg: &str, args: &[String]) -> Option<String> {
    let (path, usage, _) = invoked(args)?;
    Some(format!(
        "{msg}\n\nUsage:  {}\n\nRun '{path} --help' for more information",
        format!("{path} {usage}").trim_end()
    ))
}

/// The words of the command line that name commands (global flags and their values
/// skipped), up to the first word that is not a known command group.
pub fn command_words(args: &[String]) -> Vec<&str> {
    let mut words = Vec::new();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a.starts_with('-') {
            if words.is_empty() && GLOBAL_VALUED.contains(&a.as_str()) {
                it.next();
            }
            continue;
        }
        words.push(a.as_str());
        if !matches!(
            words[0],
            "builder" | "container" | "context" | "image" | "volume" | "network" | "system"
        ) || words.len() == 2
        {
            break;
        }
    }
    words
}

/// An unknown command as docker reports it (exit 1): `docker: unknown command: docker
/// foo`, with the group's usage line when it was a group's subcommand; a missing
/// subcommand shows the help on stderr and exits 0, as `docker` and `docker volume` do.
fn command_error(e: &clap::Error, args: &[String]) -> Option<(String, i32)> {
    use clap::error::ErrorKind;
    let bin = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned())
        .unwrap_or_else(|| "berth".into());
    let words = command_words(args);
    match e.kind() {
        ErrorKind::InvalidSubcommand => {
            let path = format!("{bin} {}", words.join(" "));
            let usage = match words.as_slice() {
                [_] => String::new(),
                ["volume", _] => format!("\n\nUsage:  {bin} volume COMMAND"),
                [group, _] => format!("\n\nUsage:  {bin} {group}"),
                _ => return None,
            };
            let help = match words.as_slice() {
                [group, _] => format!("{bin} {group}"),
                _ => bin.clone(),
            };
            Some((
                format!(
                    "{bin}: unknown command: {path}{usage}\n\nRun '{help} --help' for more information"
                ),
                1,
            ))
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let group: Vec<&str> = words
                .iter()
                .copied()
                .take_while(|w| crate::help::GROUPS.contains(w))
                .take(1)
                .collect();
            let text = crate::help::group(args, &group);
            Some((text.trim_end_matches('\n').to_owned(), 0))
        }
        _ => None,
    }
}

/// A bad global flag before any command (`berth -H`, `berth --bogus`): pflag's message
/// with the program's usage line, status 125.
fn global_flag_error(e: &clap::Error, args: &[String]) -> Option<(String, i32)> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let bin = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned())
        .unwrap_or_else(|| "berth".into());
    let invalid = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let last = args.last().map(String::as_str).unwrap_or("");
    let msg = match e.kind() {
        ErrorKind::UnknownArgument if invalid.starts_with("--") => {
            format!("unknown flag: {}", invalid.split('=').next().unwrap_or(""))
        }
        ErrorKind::UnknownArgument if invalid.starts_with('-') && invalid.len() > 1 => format!(
            "unknown shorthand flag: '{}' in {invalid}",
            invalid.chars().nth(1).unwrap_or('-')
        ),
        ErrorKind::InvalidValue | ErrorKind::NoEquals if last.starts_with("--") => {
            format!("flag needs an argument: {last}")
        }
        ErrorKind::InvalidValue | ErrorKind::NoEquals if last.starts_with('-') => format!(
            "flag needs an argument: '{}' in {last}",
            last.chars().last().unwrap_or('-')
        ),
        _ => return None,
    };
    Some((
        format!(
            "{msg}\n\nUsage:  {bin} [OPTIONS] COMMAND [ARG...]\n\nRun '{bin} --help' for more information"
        ),
        125,
    ))
}

pub fn docker_usage_error(e: &clap::Error, args: &[String]) -> Option<(String, i32)> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if let Some(r) = command_error(e, args) {
        return Some(r);
    }
    // A flag before the command word is the program's (pflag parses it there).
    let first_word = command_words(args).first().and_then(|w| {
        args.iter()
            .skip(1)
            .position(|a| std::ptr::eq(a.as_str(), *w))
    });
    let flag_at = match e.get(clap::error::ContextKind::InvalidArg) {
        Some(clap::error::ContextValue::String(s)) => {
            let name = s.split([' ', '=']).next().unwrap_or("");
            args.iter()
                .skip(1)
                .position(|a| a.split('=').next() == Some(name))
        }
        _ => None,
    };
    match (first_word, flag_at) {
        (None, _) => return global_flag_error(e, args),
        (Some(w), Some(f)) if f < w => return global_flag_error(e, args),
        _ => {}
    }
    let (path, usage, arity) = invoked(args)?;
    let bin = path.split(' ').next().unwrap_or("berth").to_owned();
    let usage_line = format!("{path} {usage}").trim_end().to_owned();
    let invalid = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.first().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let flag_error = |msg: String| Some((flag_error_text(&msg, args)?, 125));
    match e.kind() {
        ErrorKind::UnknownArgument if invalid.starts_with("--") => flag_error(format!(
            "unknown flag: {}",
            invalid.split('=').next().unwrap_or("")
        )),
        ErrorKind::UnknownArgument if invalid.starts_with('-') && invalid.len() > 1 => {
            let c = invalid.chars().nth(1).unwrap_or('-');
            flag_error(format!("unknown shorthand flag: '{c}' in {invalid}"))
        }
        ErrorKind::ValueValidation => {
            let value = match e.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => return None,
            };
            let long = invalid.split([' ', '[']).next().unwrap_or("");
            let why = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            // The integer options are the ones clap parses; Go's words for their errors.
            let why = if why.contains("too large") || why.contains("too small") {
                format!("strconv.ParseInt: parsing {value:?}: value out of range")
            } else if why.contains("digit") || why.contains("empty string") {
                format!("strconv.ParseInt: parsing {value:?}: invalid syntax")
            } else {
                why
            };
            flag_error(format!(
                "invalid argument {value:?} for \"{}\" flag: {why}",
                flag_names(long)
            ))
        }
        ErrorKind::InvalidValue | ErrorKind::NoEquals
            if args.last().is_some_and(|l| l.starts_with('-')) =>
        {
            let last = args.last().map(String::as_str).unwrap_or("");
            let msg = match last.strip_prefix("--") {
                Some(_) => format!("flag needs an argument: {last}"),
                None => format!(
                    "flag needs an argument: '{}' in {last}",
                    last.chars().last().unwrap_or('-')
                ),
            };
            flag_error(msg)
        }
        ErrorKind::MissingRequiredArgument
        | ErrorKind::UnknownArgument
        | ErrorKind::TooManyValues
        | ErrorKind::WrongNumberOfValues => {
            let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
            let (what, see) = match arity {
                Arity::None => ("accepts no arguments".to_owned(), "Run"),
                Arity::Exact(n) => (format!("requires {n} {}", plural(*n)), "Run"),
                Arity::Min(n) => (format!("requires at least {n} {}", plural(*n)), "See"),
                // (sic: docker 28 prints "SRun" here)
                Arity::Max(n) => (format!("requires at most {n} {}", plural(*n)), "SRun"),
                Arity::Range(a, b) => (
                    format!("requires at least {a} and at most {b} {}", plural(*b)),
                    "Run",
                ),
            };
            Some((
                format!(
                    "{bin}: '{path}' {what}\n\nUsage:  {usage_line}\n\n{see} '{path} --help' for more information"
                ),
                1,
            ))
        }
        _ => None,
    }
}
