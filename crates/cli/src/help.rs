//! `berth CMD --help` in the docker CLI's layout (cobra's template, pflag's option
//! table): `Usage:` with docker's usage line, the command's summary, its `Aliases:`, and
//! `Options:` sorted by name, each with pflag's type word (`string`, `int`, `list`,
//! `filter`), `(default X)` when not the zero value, descriptions aligned and wrapped to
//! the terminal (79 columns when stdin is none) as pflag wraps them. The global options
//! are left out, as docker lists them only in `docker --help`.

use std::any::TypeId;

use clap::CommandFactory;

/// The `Aliases:` line of each command (by its usage key), `docker` standing for the
/// program as invoked.
const ALIASES: &[(&str, &str)] = &[
    ("attach", "docker container attach, docker attach"),
    (
        "build",
        "docker image build, docker build, docker builder build",
    ),
    ("commit", "docker container commit, docker commit"),
    ("cp", "docker container cp, docker cp"),
    ("create", "docker container create, docker create"),
    ("diff", "docker container diff, docker diff"),
    ("events", "docker system events, docker events"),
    ("exec", "docker container exec, docker exec"),
    ("export", "docker container export, docker export"),
    ("history", "docker image history, docker history"),
    (
        "images",
        "docker image ls, docker image list, docker images",
    ),
    ("import", "docker image import, docker import"),
    ("info", "docker system info, docker info"),
    ("kill", "docker container kill, docker kill"),
    ("load", "docker image load, docker load"),
    ("logs", "docker container logs, docker logs"),
    ("pause", "docker container pause, docker pause"),
    ("port", "docker container port, docker port"),
    (
        "ps",
        "docker container ls, docker container list, docker container ps, docker ps",
    ),
    ("pull", "docker image pull, docker pull"),
    ("push", "docker image push, docker push"),
    ("rename", "docker container rename, docker rename"),
    ("restart", "docker container restart, docker restart"),
    (
        "rm",
        "docker container rm, docker container remove, docker rm",
    ),
    ("rmi", "docker image rm, docker image remove, docker rmi"),
    ("run", "docker container run, docker run"),
    ("save", "docker image save, docker save"),
    ("start", "docker container start, docker start"),
    ("stats", "docker container stats, docker stats"),
    ("stop", "docker container stop, docker stop"),
    ("tag", "docker image tag, docker tag"),
    ("top", "docker container top, docker top"),
    ("unpause", "docker container unpause, docker unpause"),
    ("update", "docker container update, docker update"),
    ("wait", "docker container wait, docker wait"),
    ("context ls", "docker context ls, docker context list"),
    ("context rm", "docker context rm, docker context remove"),
    ("volume ls", "docker volume ls, docker volume list"),
    ("volume rm", "docker volume rm, docker volume remove"),
    ("network ls", "docker network ls, docker network list"),
    ("network rm", "docker network rm, docker network remove"),
    ("system events", "docker system events, docker events"),
    ("system info", "docker system info, docker info"),
];

/// pflag's type word of docker's options whose Rust type does not tell it, and the
/// default pflag shows for them ("" for none): docker's option types print `[]`,
/// `map[]`, `0` or `0s` as their zero value where pflag's own types print nothing.
const TYPES: &[(&str, &str, &str)] = &[
    ("filter", "filter", ""),
    ("memory", "bytes", ""),
    ("memory-swap", "bytes", ""),
    ("memory-reservation", "bytes", ""),
    ("shm-size", "bytes", ""),
    ("kernel-memory", "bytes", ""),
    ("io-maxbandwidth", "bytes", ""),
    ("io-maxiops", "uint", ""),
    ("cpus", "decimal", ""),
    ("blkio-weight", "uint16", "0"),
    ("time", "int", ""),
    ("timeout", "int", ""),
    ("stop-timeout", "int", ""),
    ("memory-swappiness", "int", "-1"),
    ("annotation", "map", "map[]"),
    ("sysctl", "map", "map[]"),
    ("ulimit", "ulimit", "[]"),
    ("mount", "mount", ""),
    ("network", "network", ""),
    ("gpus", "gpu-request", ""),
    ("blkio-weight-device", "list", "[]"),
    ("device-read-bps", "list", "[]"),
    ("device-read-iops", "list", "[]"),
    ("device-write-bps", "list", "[]"),
    ("device-write-iops", "list", "[]"),
    ("health-interval", "duration", "0s"),
    ("health-timeout", "duration", "0s"),
    ("health-start-period", "duration", "0s"),
    ("health-start-interval", "duration", "0s"),
    ("sig-proxy", "", "true"),
    ("ipv4", "", "true"),
    ("opt", "map", "map[]"),
    ("aux-address", "map", "map[]"),
    ("ipam-opt", "map", "map[]"),
];

/// Type words of one command's option where it differs from the same option of others
/// (by command name, option): `build --network` is a plain string.
const COMMAND_TYPES: &[(&str, &str, &str)] = &[
    ("build", "network", "string"),
    ("prune", "keep-storage", "bytes"),
];

/// Shorthands docker shows that clap cannot hold (`history -H`: berth's -H is the
/// global --host, rewritten to --human after `history` before parsing), by command.
const SHORTS: &[(&str, &str, char)] = &[("history", "human", 'H')];

/// The commands whose `--format` defaults to a table.
const TABLES: &[&str] = &[
    "ps",
    "images",
    "history",
    "stats",
    "volume ls",
    "network ls",
    "system df",
    "context ls",
];

/// docker's description of `--format` (wrapped by pflag at its newlines and spaces).
fn format_help(table: bool) -> String {
    let mut t = String::from("Format output using a custom template:\n");
    if table {
        t.push_str("'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n");
    }
    t.push_str("'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates");
    t
}

/// The commands docker lists first, under "Common Commands:", in its order.
const COMMON: &[&str] = &[
    "run", "exec", "ps", "build", "pull", "push", "images", "login", "logout", "search", "version",
    "info",
];

/// The command groups (docker's management commands berth has).
pub const GROUPS: &[&str] = &[
    "builder",
    "container",
    "context",
    "image",
    "network",
    "system",
    "volume",
];

/// docker's help for the command line `args` (None for what it does not describe).
pub fn render(args: &[String]) -> Option<String> {
    let words = crate::usage::command_words(args);
    match words.as_slice() {
        [] => return Some(group(args, &[])),
        [g] if GROUPS.contains(g) => return Some(group(args, &words)),
        _ => {}
    }
    let (path, usage, key) = crate::usage::help_head(args)?;
    let bin = path.split(' ').next().unwrap_or("berth");
    let root = crate::cli::Cli::command();
    let mut cmd = &root;
    for w in path.split(' ').skip(1) {
        cmd = cmd.find_subcommand(w)?;
    }
    let mut out = String::new();
    if !cmd.is_disable_help_flag_set() && args.iter().skip(1).any(|a| a == "-h") {
        // (pflag's notice: docker keeps -h working but deprecates it)
        out.push_str("Flag shorthand -h has been deprecated, use --help\n");
    }
    let usage = usage.replace("docker ", &format!("{bin} "));
    out.push_str(&format!(
        "Usage:  {}\n",
        format!("{path} {usage}").trim_end()
    ));
    // (the long description where there is one, as cobra shows Long before Short)
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        out.push_str(&format!("\n{about}\n"));
    }
    if let Some((_, a)) = ALIASES.iter().find(|(k, _)| *k == key) {
        out.push_str(&format!(
            "\nAliases:\n  {}\n",
            a.replace("docker ", &format!("{bin} "))
        ));
    }
    let table = TABLES.contains(&key.as_str());
    let flags = options(cmd, table, width());
    if !flags.is_empty() {
        out.push_str(&format!("\nOptions:\n{}\n", flags.trim_end()));
    }
    Some(out)
}

/// The program's name as invoked.
fn program(args: &[String]) -> String {
    args.first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned())
        .unwrap_or_else(|| "berth".into())
}

/// The help of the program (`words` empty) or of a command group, in cobra's layout as
/// docker sets it: usage, description, the commands (the program's under docker's
/// headings), the global options, the pointer to each command's help.
pub fn group(args: &[String], words: &[&str]) -> String {
    let bin = program(args);
    let root = crate::cli::Cli::command();
    let mut cmd = &root;
    for w in words {
        match cmd.find_subcommand(w) {
            Some(c) => cmd = c,
            None => break,
        }
    }
    let mut out = String::new();
    if args.iter().skip(1).any(|a| a == "-h") {
        if words.is_empty() {
            // (the program's own notice goes to stderr, a command's with its help)
            eprintln!("Flag shorthand -h has been deprecated, use --help");
        } else {
            out.push_str("Flag shorthand -h has been deprecated, use --help\n");
        }
    }
    let path = std::iter::once(bin.as_str())
        .chain(words.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let opts = if words.is_empty() { " [OPTIONS]" } else { "" };
    out.push_str(&format!("Usage:  {path}{opts} COMMAND\n"));
    if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
        out.push_str(&format!("\n{about}\n"));
    }
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();
    // (cobra's name column: the longest name, at least 11, and a space)
    let pad = subs
        .iter()
        .map(|c| c.get_name().len())
        .max()
        .unwrap_or(0)
        .max(11)
        + 1;
    let line = |c: &clap::Command| {
        let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
        format!("  {:<pad$}{about}\n", c.get_name())
    };
    let mut sections: Vec<(&str, Vec<&clap::Command>)> = Vec::new();
    let mut rest: Vec<&clap::Command> = subs.clone();
    rest.sort_by_key(|c| c.get_name());
    if words.is_empty() {
        let common: Vec<&clap::Command> = COMMON
            .iter()
            .filter_map(|n| subs.iter().find(|c| c.get_name() == *n).copied())
            .collect();
        let management: Vec<&clap::Command> = rest
            .iter()
            .filter(|c| c.has_subcommands())
            .copied()
            .collect();
        rest.retain(|c| !COMMON.contains(&c.get_name()) && !c.has_subcommands());
        sections.push(("Common Commands", common));
        sections.push(("Management Commands", management));
    }
    sections.push(("Commands", rest));
    for (title, cmds) in sections {
        if cmds.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{title}:\n"));
        for c in cmds {
            out.push_str(&line(c));
        }
    }
    if words.is_empty() {
        let flags = options(cmd, false, width());
        if !flags.is_empty() {
            out.push_str(&format!("\nGlobal Options:\n{}\n", flags.trim_end()));
        }
    }
    out.push_str(&format!(
        "\nRun '{path} COMMAND --help' for more information on a command.\n"
    ));
    out
}

/// `berth help [COMMAND...]` (the global options before `help` skipped): the
/// program's help, or the named command's, on stdout; `unknown help topic: X` on
/// stderr, status 1 (an unknown flag: 125). None when the command line is not a `help` command.
pub fn help_command(args: &[String]) -> Option<Result<String, (String, i32)>> {
    let mut it = args.iter().enumerate().skip(1);
    let at = loop {
        let (i, a) = it.next()?;
        if matches!(
            a.as_str(),
            "-H" | "--host" | "-l" | "--log-level" | "--config"
        ) {
            it.next();
        } else if !a.starts_with('-') {
            break i;
        }
    };
    if args[at] != "help" {
        return None;
    }
    let bin = program(args);
    let topic = &args[at + 1..];
    let own = format!("Usage:  {bin} help [command]\n\nHelp about the command\n");
    if let Some(flag) = topic.iter().find(|t| t.starts_with('-')) {
        return Some(match flag.as_str() {
            "--help" => Ok(own),
            "-h" => Ok(format!(
                "Flag shorthand -h has been deprecated, use --help\n{own}"
            )),
            f => Err((
                format!(
                    "unknown flag: {f}\n\nUsage:  {bin} help [command]\n\nRun '{bin} help --help' for more information"
                ),
                125,
            )),
        });
    }
    if topic.first().is_some_and(|t| t == "help") {
        return Some(Ok(own));
    }
    let root = crate::cli::Cli::command();
    let mut cmd = &root;
    for t in topic {
        match cmd.find_subcommand(t) {
            Some(c) => cmd = c,
            None => return Some(Err((format!("unknown help topic: {t}"), 1))),
        }
    }
    let mut line = vec![args[0].clone()];
    line.extend(topic.iter().cloned());
    line.push("--help".into());
    Some(Ok(render(&line).unwrap_or_else(|| {
        let name = std::iter::once(bin.as_str())
            .chain(topic.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        cmd.clone().bin_name(name).render_help().to_string()
    })))
}

/// docker's wrap width: the terminal's on stdin, less one; 79 without one.
fn width() -> usize {
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass and nothing else.
    let cols = unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
            ws.ws_col as usize
        } else {
            80
        }
    };
    cols - 1
}

/// pflag's type word for an option ("" for a switch).
fn type_word(a: &clap::Arg) -> String {
    let long = a.get_long().unwrap_or("");
    if !a.get_action().takes_values() {
        return String::new();
    }
    if let Some((_, t, _)) = TYPES.iter().find(|(l, _, _)| *l == long) {
        return (*t).into();
    }
    if matches!(a.get_action(), clap::ArgAction::Append) {
        // (pflag's string slices split their values at commas; docker's lists do not)
        return if a.get_value_delimiter() == Some(',') {
            "strings".into()
        } else {
            "list".into()
        };
    }
    let id = a.get_value_parser().type_id();
    if id == TypeId::of::<bool>() {
        String::new()
    } else if id == TypeId::of::<i64>() || id == TypeId::of::<i32>() || id == TypeId::of::<isize>()
    {
        "int".into()
    } else {
        "string".into()
    }
}

/// pflag's option table (FlagUsagesWrapped): names and type, then the description in a
/// column two past the longest, wrapped to `cols`.
fn options(cmd: &clap::Command, table: bool, cols: usize) -> String {
    let mut args: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set() && a.get_long().is_some())
        // (clap's own --help is not listed; a --help of the command's own, where -h
        // means something else, is, as docker lists it)
        .filter(|a| a.get_id() != "help" || cmd.is_disable_help_flag_set())
        .collect();
    args.sort_by_key(|a| a.get_long().unwrap_or(""));
    let mut lines = Vec::new();
    for a in args {
        let long = a.get_long().unwrap_or("");
        let short = a.get_short().or_else(|| {
            SHORTS
                .iter()
                .find(|(c, l, _)| *c == cmd.get_name() && *l == long)
                .map(|(_, _, s)| *s)
        });
        let mut head = match short {
            Some(s) => format!("  -{s}, --{long}"),
            None => format!("      --{long}"),
        };
        let ty = COMMAND_TYPES
            .iter()
            .find(|(c, l, _)| *c == cmd.get_name() && *l == long)
            .map_or_else(|| type_word(a), |(_, _, t)| (*t).to_owned());
        if !ty.is_empty() {
            head.push(' ');
            head.push_str(&ty);
        }
        let mut text = a.get_help().map(|h| h.to_string()).unwrap_or_default();
        if long == "format" && text.starts_with("Format output using a custom template") {
            text = format_help(table);
        }
        let default: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let shown = match TYPES.iter().find(|(l, _, _)| *l == long) {
            Some((_, _, d)) if !d.is_empty() => Some((*d).to_owned()),
            _ => match default.as_slice() {
                [d] if !matches!(d.as_str(), "" | "0" | "false")
                    && a.get_action().takes_values() =>
                {
                    Some(if ty == "string" {
                        format!("{d:?}")
                    } else {
                        d.clone()
                    })
                }
                _ => None,
            },
        };
        if let Some(d) = shown {
            text.push_str(&format!(" (default {d})"));
        }
        lines.push((head, text));
    }
    // (pflag counts a separator character after the names)
    let maxlen = lines.iter().map(|(h, _)| h.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (head, text) in lines {
        let pad = " ".repeat(maxlen - head.len());
        out.push_str(&format!("{head} {pad} {}\n", wrap(maxlen + 2, cols, &text)));
    }
    out
}

/// pflag's wrap: `s` in lines of at most `w - i` columns (less some slop that spares a
/// short last word), continued at indent `i`; the first line's indent is the caller's.
fn wrap(i: usize, w: usize, s: &str) -> String {
    let (mut i, mut r) = (i, String::new());
    let mut room = w.saturating_sub(i);
    if room < 24 {
        i = 16;
        room = w.saturating_sub(i);
        r.push('\n');
        r.push_str(&" ".repeat(i));
    }
    let indent = format!("\n{}", " ".repeat(i));
    if room < 24 {
        return format!("{r}{}", s.replace('\n', &indent));
    }
    let slop = 5;
    let room = room - slop;
    let (first, mut rest) = wrap_n(room, slop, s);
    r.push_str(&first.replace('\n', &indent));
    while !rest.is_empty() {
        let (t, more) = wrap_n(room, slop, rest);
        r.push_str(&indent);
        r.push_str(&t.replace('\n', &indent));
        rest = more;
    }
    r
}

/// The first up-to-`i`-bytes piece of `s` that ends at whitespace, and the rest (all of
/// `s` when it is within `i + slop`).
fn wrap_n(i: usize, slop: usize, s: &str) -> (&str, &str) {
    if i + slop > s.len() {
        return (s, "");
    }
    let head = &s[..floor_char(s, i)];
    let Some(w) = head.rfind([' ', '\t', '\n']).filter(|w| *w > 0) else {
        return (s, "");
    };
    if let Some(nl) = head.rfind('\n').filter(|nl| *nl > 0 && *nl < w) {
        return (&s[..nl], &s[nl + 1..]);
    }
    (&s[..w], &s[w + 1..])
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_as_pflag() {
        assert_eq!(
            wrap(41, 79, "Add a custom host-to-IP mapping (host:ip)"),
            format!(
                "Add a custom host-to-IP mapping\n{}(host:ip)",
                " ".repeat(41)
            )
        );
        assert_eq!(wrap(24, 79, "short"), "short");
    }
}
