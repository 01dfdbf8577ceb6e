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
    ("volume ls", "docker volume ls, docker volume list"),
    ("volume rm", "docker volume rm, docker volume remove"),
    ("network ls", "docker network ls, docker network list"),
    ("network rm", "docker network rm, docker network remove"),
    ("system events", "docker system events, docker events"),
    ("system info", "docker system info, docker info"),
];

/// pflag's type words of docker's options whose type the Rust one does not tell.
const TYPES: &[(&str, &str)] = &[
    ("filter", "filter"),
    ("memory", "bytes"),
    ("memory-swap", "bytes"),
    ("memory-reservation", "bytes"),
    ("shm-size", "bytes"),
    ("cpus", "decimal"),
    ("blkio-weight", "uint16"),
    ("time", "int"),
    ("timeout", "int"),
    ("stop-timeout", "int"),
];

/// The commands whose `--format` defaults to a table.
const TABLES: &[&str] = &[
    "ps",
    "images",
    "history",
    "stats",
    "volume ls",
    "network ls",
    "system df",
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

/// docker's help for the command line `args` (None for what it does not describe).
pub fn render(args: &[String]) -> Option<String> {
    let (path, usage, key) = crate::usage::help_head(args)?;
    let bin = path.split(' ').next().unwrap_or("berth");
    let root = crate::cli::Cli::command();
    let mut cmd = &root;
    for w in path.split(' ').skip(1) {
        cmd = cmd.find_subcommand(w)?;
    }
    let mut out = String::new();
    if args.iter().skip(1).any(|a| a == "-h") {
        // (pflag's notice: docker keeps -h working but deprecates it)
        out.push_str("Flag shorthand -h has been deprecated, use --help\n");
    }
    let usage = usage.replace("docker ", &format!("{bin} "));
    out.push_str(&format!("Usage:  {path} {usage}\n"));
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
    if let Some((_, t)) = TYPES.iter().find(|(l, _)| *l == long) {
        return (*t).into();
    }
    if matches!(a.get_action(), clap::ArgAction::Append) {
        return "list".into();
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
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .collect();
    args.sort_by_key(|a| a.get_long().unwrap_or(""));
    let mut lines = Vec::new();
    for a in args {
        let long = a.get_long().unwrap_or("");
        let mut head = match a.get_short() {
            Some(s) => format!("  -{s}, --{long}"),
            None => format!("      --{long}"),
        };
        let ty = type_word(a);
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
        if let [d] = default.as_slice()
            && !matches!(d.as_str(), "" | "0" | "false")
            && a.get_action().takes_values()
        {
            if ty == "string" {
                text.push_str(&format!(" (default {d:?})"));
            } else {
                text.push_str(&format!(" (default {d})"));
            }
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
