//! `--format` output through `berth` and the stock docker CLI against one berthd, byte
//! for byte: `{{json .X}}` on inspect documents follows docker's Go structs (field order,
//! zero values, omitempty), `{{json .}}` of list rows docker's sorted maps, and plain
//! `inspect` prints the daemon's documents as sent.

mod common;

use common::{Daemon, IMG};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

/// Asserts both CLIs print the same bytes (and exit the same way) for `args`.
fn same(d: &Daemon, args: &[&str]) {
    let (ours, theirs) = (d.berth(args), d.docker(args));
    assert_eq!(
        common::stdout(&ours),
        common::stdout(&theirs),
        "berth {args:?} (stderr {})",
        common::stderr(&ours)
    );
    assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
}

/// The line with the values of `keys` (JSON strings that move with the clock) blanked.
fn without(line: &str, keys: &[&str]) -> String {
    let mut s = line.to_owned();
    for k in keys {
        let pat = format!("\"{k}\":\"");
        if let Some(i) = s.find(&pat) {
            let start = i + pat.len();
            let rest = &s[start..];
            let mut end = 0;
            let mut esc = false;
            for (j, c) in rest.char_indices() {
                match c {
                    _ if esc => esc = false,
                    '\\' => esc = true,
                    '"' => {
                        end = j;
                        break;
                    }
                    _ => {}
                }
            }
            s.replace_range(start..start + end, "");
        }
    }
    s
}

#[test]
fn inspect_json_follows_docker_struct_order_and_zero_values() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["volume", "create", "--label", "x=y", "fv1"]);
    d.ok(&["network", "create", "--label", "l=1", "fn1"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "fc1",
        "--network",
        "fn1",
        "-l",
        "b=2",
        "-l",
        "a=1",
        "-e",
        "X=1",
        "-v",
        "/data",
        "--mount",
        "type=volume,src=fv1,dst=/v1,volume-nocopy",
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=1000",
        "--tmpfs",
        "/t2",
        "--health-cmd",
        "true",
        "--health-interval",
        "1h",
        "--expose",
        "90",
        "--init",
        "--stop-signal",
        "SIGINT",
        IMG,
        "sleep",
        "1000",
    ]);
    d.ok(&["create", "--name", "fc2", "--network", "none", IMG, "true"]);
    d.ok(&[
        "commit",
        "-c",
        "EXPOSE 80",
        "-c",
        "ENV A=b",
        "-c",
        "LABEL z=1",
        "fc1",
        "fimg2",
    ]);
    for f in [
        "{{json .}}",
        "{{json .Config}}",
        "{{json .HostConfig}}",
        "{{json .State}}",
        "{{json .NetworkSettings}}",
        "{{json .NetworkSettings.Networks}}",
        "{{json .Mounts}}",
        "{{json .HostConfig.Mounts}}",
        "{{.Config.Cmd}} {{.Config.Labels}} {{.HostConfig.Binds}}",
    ] {
        same(&d, &["inspect", "-f", f, "fc1", "fc2"]);
    }
    for f in ["{{json .}}", "{{json .Config}}", "{{.Config.Cmd}}"] {
        same(&d, &["image", "inspect", "-f", f, IMG, "fimg2"]);
    }
    same(&d, &["volume", "inspect", "-f", "{{json .}}", "fv1"]);
    same(
        &d,
        &["network", "inspect", "-f", "{{json .}}", "fn1", "bridge"],
    );
    same(&d, &["network", "inspect", "-f", "{{json .IPAM}}", "fn1"]);
    // Without a format: the daemon's documents as sent, indented.
    same(&d, &["inspect", "fc1", "fc2", IMG]);
    same(&d, &["volume", "inspect", "fv1"]);
    same(&d, &["network", "inspect", "fn1"]);
    same(&d, &["inspect", "--type", "image", "nonexistent"]);
}

#[test]
fn list_json_rows_match_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["volume", "create", "fv1"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "fl1",
        "--network",
        "none",
        "-l",
        "a=1",
        "-v",
        "/data",
        "--mount",
        "type=volume,src=fv1,dst=/v1",
        "--expose",
        "90-91",
        "--expose",
        "93",
        IMG,
        "sleep",
        "1000",
    ]);
    let clock = ["RunningFor", "Status", "CreatedSince"];
    for args in [
        &["ps", "-a", "--format", "{{json .}}"][..],
        &["ps", "-a", "--no-trunc", "--format", "{{json .}}"],
        &["images", "--format", "{{json .}}"],
        &["volume", "ls", "--format", "{{json .}}"],
        &["network", "ls", "--format", "{{json .}}"],
    ] {
        let ours: Vec<String> = d.bok(args).lines().map(|l| without(l, &clock)).collect();
        let theirs: Vec<String> = d.ok(args).lines().map(|l| without(l, &clock)).collect();
        assert_eq!(ours, theirs, "{args:?}");
    }
    let ports = ["ps", "--format", "{{.Ports}}|{{.Mounts}}|{{.LocalVolumes}}"];
    assert_eq!(d.bok(&ports), d.ok(&ports));
    assert!(d.bok(&ports).starts_with("90-91/tcp, 93/tcp|"));
}

#[test]
fn history_matches_docker_with_and_without_human_sizes() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "fh1",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "echo a long command line that docker cuts at forty-five characters > /f",
    ]);
    d.ok(&["commit", "-m", "the comment", "fh1", "fhimg"]);
    for args in [
        &["history", "-H=false", "fhimg"][..],
        &["history", "--human=false", "--no-trunc", "fhimg"],
        &["image", "history", "-H=false", "--format", "json", "fhimg"],
        &[
            "history",
            "-H=false",
            "--format",
            "{{.CreatedSince}}|{{.Size}}",
            "fhimg",
        ],
        &["history", "-q", "fhimg"],
        &["history", "-q", "--no-trunc", "fhimg"],
        &[
            "history",
            "--format",
            "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
            "fhimg",
        ],
        &[
            "history",
            "--no-trunc",
            "--format",
            "table {{.ID}}\\t{{.CreatedBy}}",
            "fhimg",
        ],
    ] {
        same(&d, args);
    }
    let ours = d.bok(&["history", "-H=false", "fhimg"]);
    assert!(ours.starts_with("IMAGE "), "{ours}");
    assert!(ours.contains(" CREATED AT "), "{ours}");
    assert!(
        ours.contains("sh -c echo a long command line that docker c…   4096"),
        "{ours}"
    );
}
