//! berth and the stock docker CLI against one berthd, for everyday commands' edge cases
//! (bad flag values, references, port forms, ...): the same command through both, with
//! stdout, stderr (the program's name aside) and the exit code compared.

mod common;

use common::{Daemon, IMG};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

/// The same stdout, stderr (berth's name read as docker's) and exit code.
fn same_all(d: &Daemon, args: &[&str]) {
    let (ours, theirs) = (d.berth(args), d.docker(args));
    assert_eq!(
        common::stdout(&ours),
        common::stdout(&theirs),
        "stdout of {args:?}"
    );
    assert_eq!(
        common::stderr(&ours).replace("berth", "docker"),
        common::stderr(&theirs),
        "stderr of {args:?}"
    );
    assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
}

#[test]
fn update_port_and_commit_check_their_arguments_like_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "e1",
        "-p",
        "127.0.0.1::80",
        IMG,
        "sleep",
        "1000",
    ]);
    d.ok(&["create", "--name", "e2", IMG, "true"]);
    let h = "0123456789abcdef0123456789abcdef";
    let (short, unknown) = (format!("x@sha256:{h}"), format!("x@foo:{h}"));
    let upper = format!("x@sha256:{}", h.repeat(2).to_uppercase());
    for args in [
        // update: bad values are flag errors (usage, 125) or ParseRestartPolicy's (1).
        vec!["update", "--cpus", "x", "e2"],
        vec!["update", "-m", "x", "nope"],
        vec!["update", "--memory-swap", "1q", "e2"],
        vec!["update", "--memory-reservation", "x", "e2"],
        vec!["update", "--restart", "on-failure:x", "e2"],
        vec!["update", "--restart", ":3", "e2"],
        // port: 80/ is 80/tcp; ParseUint's words for a bad number.
        vec!["port", "e1", "80/"],
        vec!["port", "e1", "abc"],
        vec!["port", "e1", "99999"],
        vec!["port", "e1", "/tcp"],
        vec!["port", "e1", "+80"],
        // commit: the new name is checked first.
        vec!["commit", "e2", "Bad:Name"],
        vec!["commit", "nope", "Bad"],
        vec!["commit", "e2", &short],
        vec!["commit", "e2", &unknown],
        vec!["commit", "e2", &upper],
        vec!["tag", IMG, "x@sha256:abc"],
        vec!["pull", &short],
    ] {
        same_all(&d, &args);
    }
}

/// The line with the values of `keys` (JSON strings that differ between the two clients
/// or move with the clock) blanked.
fn without(line: &str, keys: &[&str]) -> String {
    let mut s = line.to_owned();
    for k in keys {
        let pat = format!("\"{k}\":\"");
        let mut from = 0;
        while let Some(i) = s[from..].find(&pat) {
            let start = from + i + pat.len();
            let end = start + s[start..].find('"').unwrap_or(0);
            s.replace_range(start..end, "");
            from = start;
        }
    }
    s
}

#[test]
fn info_and_version_templates_see_dockers_structs() {
    prereqs!();
    let d = Daemon::start();
    // Fields in Go's order, zero values and nil lists as docker has them, the client's
    // part (its own version aside), Go's field names.
    let client = [
        "Version",
        "DefaultAPIVersion",
        "GitCommit",
        "GoVersion",
        "BuildTime",
        "SystemTime",
    ];
    for (cmd, f) in [
        ("info", "{{json .}}"),
        ("version", "{{json .}}"),
        ("version", "{{json .Server}}"),
    ] {
        let args = [cmd, "--format", f];
        let (ours, theirs) = (d.bok(&args), d.ok(&args));
        // (BuildTime is omitempty: berth has none)
        let blank = |s: &str| without(s, &client).replace(",\"BuildTime\":\"\"", "");
        assert_eq!(blank(&ours), blank(&theirs), "{args:?}");
    }
    for (cmd, f) in [
        ("info", "{{json .Plugins}}"),
        (
            "info",
            "{{.Plugins}} {{.Swarm}} {{.RuncCommit}} {{.DefaultAddressPools}}",
        ),
        (
            "info",
            "{{.CPUCfsPeriod}} {{.HTTPProxy}} [{{.UserName}}] {{.ClientInfo.Debug}}",
        ),
        (
            "info",
            "{{json .Swarm}} {{json .ClientInfo.Plugins}} {{.FirewallBackend}}",
        ),
        ("info", "{{.Plugins.Nope}}"),
        ("info", "{{.Nope}}"),
        ("info", "{{printf \"%T\" .Swarm}}"),
        ("version", "{{.Client.APIVersion}} {{.Server.APIVersion}}"),
        ("version", "{{.Client.ApiVersion}}"),
        ("version", "{{json .Server.Components}}"),
        (
            "version",
            "{{.Server.Components}} {{.Server.MinAPIVersion}}",
        ),
        ("version", "{{.Server.Nope}}"),
        ("version", "{{printf \"%T\" .Server}}"),
    ] {
        same_all(&d, &[cmd, "--format", f]);
    }
}
