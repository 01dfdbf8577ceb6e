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
        // The layer holds /f only (the init layer's mount points are not committed), and
        // its size is the file's 62 bytes, as dockerd counts a layer's content.
        ours.contains("sh -c echo a long command line that docker c…   62 "),
        "{ours}"
    );
}

/// Pointer values differ from run to run in Go's output: `0xc000123456` → `0xADDR`.
fn no_addresses(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("0xc") {
        out.push_str(&rest[..i]);
        out.push_str("0xADDR");
        rest = rest[i + 3..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
}

/// Asserts both CLIs print the same stdout and stderr (pointer values aside) and exit
/// the same way.
fn same_all(d: &Daemon, args: &[&str]) {
    let (ours, theirs) = (d.berth(args), d.docker(args));
    assert_eq!(
        no_addresses(&common::stdout(&ours)),
        no_addresses(&common::stdout(&theirs)),
        "stdout of {args:?}"
    );
    assert_eq!(
        common::stderr(&ours),
        common::stderr(&theirs),
        "stderr of {args:?}"
    );
    assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
}

#[test]
fn templates_print_go_values_and_fail_like_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["volume", "create", "--label", "x=y", "gv1"]);
    d.ok(&["network", "create", "gn1"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "gc1",
        "--network",
        "gn1",
        "-l",
        "x=y",
        "--restart",
        "on-failure:3",
        IMG,
        "sleep",
        "1000",
    ]);
    d.ok(&[
        "create",
        "--name",
        "gc2",
        "--network",
        "none",
        "--health-cmd",
        "true",
        "--health-interval",
        "90s",
        IMG,
        "true",
    ]);
    // Structs print as Go's fmt does, nil pointers as <nil>, missing values as
    // <no value>, a missing label through index as "".
    for f in [
        "{{.State}}",
        "{{.HostConfig.RestartPolicy}}",
        "{{.HostConfig.LogConfig}} {{.GraphDriver.Name}}",
        "{{.State.Health}}|{{.Config.Healthcheck}}|{{.SizeRw}}|{{.HostConfig.Init}}",
        "{{.Config.Healthcheck.Interval}}",
        "{{.Config}}",
        "{{.HostConfig}}",
        "{{.NetworkSettings}}",
        "{{.NetworkSettings.Networks}}",
        "{{index .Config.Labels \"nope\"}}|{{index .Config.Labels \"x\"}}|{{.Config.Labels.nope}}",
        "{{with .State.Health}}h{{else}}none{{end}} {{json .State.Health}}",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.Aliases}}{{end}}",
        "{{println .State.Health}}{{print .State.Running .State.Pid}}",
        // Fields the Go types do not have: the typed run fails, the raw JSON run
        // (missingkey=error) gives the message; nothing of the failed object is printed.
        "{{.Nope}}",
        "{{.Id}} {{.Config.Nope}}",
        "{{.State.Health.Status}}",
        "{{with .State}}{{.Nope}}{{end}}",
        "{{nope .Id}}",
        "{{.Id",
    ] {
        same_all(&d, &["inspect", "-f", f, "gc1", "gc2"]);
    }
    // `index x` alone is x; join takes a list of strings (or nil) and fails on a string
    // (the stderr's position differs: only what is printed and the status are compared).
    same_all(
        &d,
        &[
            "inspect",
            "-f",
            "{{index .Config.Labels}}|{{join .Config.Cmd \" \"}}|{{join .Args \",\"}}",
            "gc1",
            "gc2",
        ],
    );
    same(&d, &["inspect", "-f", "{{join .Name \",\"}}", "gc1"]);
    same(&d, &["ps", "-a", "--format", "{{join .Names \",\"}}"]);
    same_all(&d, &["ps", "-a", "--format", "{{index .Labels}}"]);
    same_all(&d, &["inspect", "-f", "{{.Name}}", "gc1", "missing", "gc2"]);
    same_all(&d, &["inspect", "-f", "{{.Name}}", "missing"]);
    same_all(&d, &["inspect", "missing"]);
    for f in [
        "{{.}}",
        "{{.Config}}",
        "{{.RootFS}} {{.Metadata}}",
        "{{.Nope}}",
    ] {
        same_all(&d, &["image", "inspect", "-f", f, IMG]);
    }
    for f in ["{{.}}", "{{.IPAM}} {{.Created}}", "{{.Nope}}"] {
        same_all(&d, &["network", "inspect", "-f", f, "gn1"]);
    }
    for f in ["{{.}}", "{{.Labels}} {{.UsageData}}", "{{.Nope}}"] {
        same_all(&d, &["volume", "inspect", "-f", f, "gv1"]);
    }
    // List rows: unknown fields and bad templates fail with each command's wording;
    // `.Label` of a missing label and a nil Platform as docker prints them.
    for f in [
        "{{.Nope}}",
        "table {{.ID}}\\t{{.Nope}}",
        "{{.Names",
        "{{.Names}}{{nope}}",
        "{{.Names}}:{{.Label \"x\"}}:{{.Label \"nope\"}}:{{.Platform}}",
    ] {
        same_all(&d, &["ps", "-a", "--format", f]);
    }
    // (json rows carry the clock: `RunningFor` and `Status` may cross a second between
    // the two commands)
    let args = ["ps", "-a", "--format", "json"];
    let rows = |o: &std::process::Output| -> Vec<serde_json::Value> {
        common::stdout(o)
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["RunningFor"] = "T".into();
                v["Status"] = "T".into();
                v
            })
            .collect()
    };
    let (ours, theirs) = (d.berth(&args), d.docker(&args));
    assert_eq!(rows(&ours), rows(&theirs));
    assert_eq!(
        common::stdout(&ours)
            .lines()
            .next()
            .map(|l| l.find("\"RunningFor\"")),
        common::stdout(&theirs)
            .lines()
            .next()
            .map(|l| l.find("\"RunningFor\""))
    );
    assert_eq!(ours.status.code(), theirs.status.code());
    for cmd in [
        &["images"][..],
        &["network", "ls"],
        &["volume", "ls"],
        &["history", IMG],
        &["system", "df"],
        &["version"],
        &["info"],
    ] {
        for f in ["{{.Nope}}", "{{.Nope"] {
            let mut args = cmd.to_vec();
            args.extend(["--format", f]);
            same_all(&d, &args);
        }
    }
    for f in ["{{.Nope}}", "{{.Actor.Nope}}", "{{.Actor}} {{json .Actor}}"] {
        same_all(
            &d,
            &["events", "--since", "1h", "--until", "1s", "--format", f],
        );
    }
}

/// As [`same_all`], with the program's own name in berth's messages read as docker's
/// (`berth: 'berth ps' accepts no arguments`).
fn same_named(d: &Daemon, args: &[&str]) {
    let (ours, theirs) = (d.berth(args), d.docker(args));
    assert_eq!(
        common::stdout(&ours),
        common::stdout(&theirs),
        "stdout of {args:?}"
    );
    let exe = std::path::Path::new(common::BERTH)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        common::stderr(&ours).replace(&exe, "docker"),
        common::stderr(&theirs),
        "stderr of {args:?}"
    );
    assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
}

#[test]
fn usage_and_error_messages_match_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["create", "--name", "ue1", "--network", "none", IMG, "true"]);
    for args in [
        // Argument counts (exit 1) and flags (exit 125), in cobra's words.
        &["ps", "x"][..],
        &["ps", "--bogus"],
        &["ps", "-z"],
        &["rm"],
        &["logs"],
        &["logs", "a", "b"],
        &["rename", "a"],
        &["images", "a", "b"],
        &["volume", "create", "a", "b"],
        &["network", "connect", "a"],
        &["port"],
        &["exec", "ue1"],
        &["container", "list", "--bogus"],
        &["image", "rm"],
        &["container", "inspect"],
        &["kill", "-s"],
        &["logs", "--tail"],
        &["run", "--rm", "--bogus", IMG, "true"],
        // Option values that do not parse (exit 125, pflag's words, the daemon not asked).
        &["run", "-m", "bogus", IMG, "true"],
        &["run", "--memory", "1q", IMG, "true"],
        &["create", "--memory-swap", "1.2.3m", IMG],
        &["run", "--shm-size", "1mbb", IMG, "true"],
        &["create", "--cpus", "abc", IMG],
        &["run", "--rm", "--restart", "always", IMG, "true"],
        &["run", "--pids-limit", "abc", IMG, "true"],
        &["run", "-c", "abc", IMG, "true"],
        &["stop", "-t", "99999999999999999999", "ue1"],
        // Errors docker prints as they are, or with its own summary line.
        &["rm", "-f", "nonexistent"],
        &["start", "nonexistent", "ue2"],
        &["rename", "nonexistent", "x"],
        &["update", "ue1"],
        &["tag", IMG, "Bad:Name"],
        &["tag", IMG, "bad@@"],
        &["pull", "BAD"],
        &["create", "BAD"],
        &["run", "--rm", "BAD"],
        &["create", "--name", "ue1", IMG, "true"],
        &["load", "-i", "/nonexistent"],
        &["inspect", "--type", "bogus", "ue1"],
        &["images", "--tree"],
        // Unknown commands: docker's words, exit 1.
        &["bogus"],
        &["bogus", "ps"],
        &["container", "bogus"],
        &["image", "bogus"],
        &["volume", "bogus"],
        &["network", "bogus"],
        &["system", "bogus"],
        // Negative numbers are values, not flags.
        &["ps", "-a", "-n", "-1", "--format", "{{.Names}}"],
        &["logs", "--tail", "-1", "ue1"],
        &["logs", "-n", "-1", "ue1"],
        &["stop", "-t", "-1", "nonexistent"],
        // -f makes a missing image no failure (still reported); empty names after trim.
        &["rmi", "-f", "nonexistent"],
        &["rename", "ue1", " "],
        &["rename", "", "x"],
        // cp's own checks of local paths.
        &["cp", "/nonexistent", "ue1:/tmp"],
        &["cp", "/nonexistent/x", "ue1:/tmp"],
        &["cp", "-L", "/nonexistent/x", "ue1:/tmp"],
        &["cp", "nonexistent-relative", "ue1:/tmp"],
        &["cp", "ue1:/etc/passwd", "/nonexistent/dir/x"],
        &["cp", "ue1:/etc", "/etc/hostname"],
    ] {
        same_named(&d, args);
    }
    // A group without its subcommand shows its help (on stderr) and succeeds.
    for args in [&[][..], &["container"], &["volume"]] {
        assert_eq!(d.berth(args).status.code(), d.docker(args).status.code());
    }
    d.ok(&["volume", "create", "uev1"]);
    d.ok(&["network", "create", "uen1"]);
    same_named(
        &d,
        &["inspect", "--format", "{{.Name}}", "uev1", "uen1", "ue1"],
    );
    same_named(&d, &["inspect", "--type", "volume", "uev1"]);
}

#[test]
fn quiet_with_format_matches_docker() {
    prereqs!();
    let d = Daemon::start();
    // Two tags of one image: `images -q` prints its ID once per row, as docker does.
    d.ok(&["tag", IMG, "qf:two"]);
    d.ok(&["create", "--name", "qf1", "--network", "none", IMG, "true"]);
    d.ok(&["volume", "create", "qfv"]);
    same_all(&d, &["images", "-q"]);
    same_all(&d, &["image", "ls", "-q", "--no-trunc"]);
    for f in ["{{.ID}}", "table {{.ID}}", "table", "json", ""] {
        // ps: -q wins, with docker's warning; the other lists: a template wins.
        same_all(&d, &["ps", "-a", "-q", "--format", f]);
        // (`json` of an image shows its age, which may tick between the two runs)
        if f != "json" {
            same_all(&d, &["images", "-q", "--format", f]);
            same_all(&d, &["history", "-q", "--format", f, IMG]);
        }
        same_all(&d, &["network", "ls", "-q", "--format", f]);
        same_all(&d, &["volume", "ls", "-q", "--format", f]);
    }
    same_all(
        &d,
        &["volume", "ls", "-q", "--format", "{{.Name}}:{{.Driver}}"],
    );
}

#[test]
fn json_escapes_html_only_in_list_rows_and_title_capitalizes_words() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "create",
        "--name",
        "jh1",
        "--network",
        "none",
        "-l",
        "x=<a&b>",
        IMG,
        "sh",
        "-c",
        "echo \"<&>\" >&2",
    ]);
    // docker's `json` leaves `<`, `>`, `&` as they are; a list row's own JSON escapes them.
    for f in [
        "{{json .Args}}",
        "{{json .Config.Labels}}",
        "{{json .Config}}",
    ] {
        same(&d, &["inspect", "-f", f, "jh1"]);
    }
    same(
        &d,
        &["ps", "-a", "--format", "{{json .Labels}} {{json .Command}}"],
    );
    let clock = ["RunningFor", "Status", "CreatedAt"];
    let row = |out: String| -> Vec<String> { out.lines().map(|l| without(l, &clock)).collect() };
    for f in ["json", "{{json .}}"] {
        let args = ["ps", "-a", "--format", f];
        assert_eq!(row(d.bok(&args)), row(d.ok(&args)), "{f}");
    }
    same(
        &d,
        &[
            "inspect",
            "-f",
            "{{title \"hello-world foo_bar x.y 3a it's ÉCOLE école\"}}",
            "jh1",
        ],
    );
}

#[test]
fn raw_format_prints_key_value_blocks_as_docker() {
    prereqs!();
    let d = Daemon::start();
    // (one repository: docker groups an image's tags by repository in a Go map, so
    // the order of two repositories' rows varies from run to run)
    d.ok(&["tag", IMG, "bbtest:two"]);
    d.ok(&["volume", "create", "rawv"]);
    d.ok(&["network", "create", "rawn"]);
    d.ok(&["create", "--name", "raw1", "--network", "none", IMG, "true"]);
    d.ok(&[
        "create", "--name", "raw2", "-l", "a=1", "-l", "b=2", "-p", "8080:80", "-p", "53/udp", IMG,
        "sleep", "9",
    ]);
    for args in [
        &["ps", "-a"][..],
        &["ps", "-a", "-s"],
        &["ps", "-a", "--no-trunc"],
        &["ps", "-a", "-q"],
        &["images"],
        &["images", "--digests"],
        &["images", "-q"],
        &["images", "--no-trunc"],
        &["volume", "ls"],
        &["volume", "ls", "-q"],
        &["network", "ls"],
        &["network", "ls", "-q"],
        &["network", "ls", "--no-trunc"],
    ] {
        let mut a = args.to_vec();
        a.extend(["--format", "raw"]);
        same_all(&d, &a);
    }
    // docker trims only spaces around a template: its own newlines stay.
    same_all(&d, &["volume", "ls", "--format", " {{.Name}}\\n"]);
    same_all(&d, &["ps", "-a", "--format", "[{{pad .Ports 1 0}}]"]);
}

/// Like [`same_all`], but output that shows ages may tick between the two runs: tried
/// again a few times before it counts as a difference.
fn same_all_aging(d: &Daemon, args: &[&str]) {
    for _ in 0..3 {
        let (ours, theirs) = (d.berth(args), d.docker(args));
        if ours.stdout == theirs.stdout && ours.stderr == theirs.stderr {
            assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    same_all(d, args);
}

#[test]
fn system_df_verbose_shows_first_tags_and_one_template_run() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["tag", IMG, "dfv:two"]);
    d.ok(&["tag", IMG, "dfv:three"]);
    d.ok(&["volume", "create", "--label", "k=<v>", "dfvol"]);
    d.ok(&[
        "create",
        "--name",
        "dfc",
        "--network",
        "none",
        "-v",
        "dfvol:/v",
        IMG,
        "true",
    ]);
    for f in [
        None,
        Some("table"),
        Some("{{json .}}"),
        Some("json"),
        Some("{{range .Images}}{{.Repository}}:{{.Tag}} {{.ID}}\n{{end}}"),
        Some("{{len .Volumes}} {{(index .Containers 0).Names}}"),
    ] {
        let mut args = vec!["system", "df", "-v"];
        args.extend(f.iter().flat_map(|f| ["--format", f]));
        same_all_aging(&d, &args);
    }
}

#[test]
fn label_method_works_on_list_rows_as_in_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["volume", "create", "--label", "a=1", "lv1"]);
    d.ok(&["volume", "create", "lv2"]);
    d.ok(&["network", "create", "--label", "a=<x>", "ln1"]);
    d.ok(&[
        "create",
        "--name",
        "lc1",
        "--network",
        "none",
        "-l",
        "a=1",
        "-l",
        "b=2",
        IMG,
        "true",
    ]);
    d.ok(&["create", "--name", "lc2", "--network", "none", IMG, "true"]);
    for list in [
        &["ps", "-a"][..],
        &["images"],
        &["volume", "ls"],
        &["network", "ls"],
    ] {
        for f in [
            "{{.Label \"a\"}}",
            "{{ .Label  \"zz\" }}|{{.Labels}}",
            "{{.Label \"a\"}}|{{.Label}}",
            "{{.Label \"a\" \"b\"}}",
            "{{\"a\" | .Label}}",
            "{{printf \"%s\" .Label}}",
            "{{.LabelMap}}",
            "{{with .Label \"a\"}}[{{.}}]{{end}}",
            "table {{.Label \"a\"}}",
            "table {{.Label \"com.x-y_z\"}}\t{{.Label \"a.b\"}}|",
        ] {
            let mut args = list.to_vec();
            args.extend(["--format", f]);
            same_all(&d, &args);
        }
    }
    // The labels map behind `.Label` is no field of docker's rows: `json` leaves it out.
    same_all(&d, &["volume", "ls", "--format", "{{json .}}"]);
    same_all(&d, &["network", "ls", "--format", "{{json .}}"]);
}

#[test]
fn printf_t_names_go_types_as_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["volume", "create", "--label", "a=1", "tv1"]);
    d.ok(&[
        "create",
        "--name",
        "tc1",
        "--network",
        "none",
        "-l",
        "a=1",
        "-v",
        "tv1:/v",
        IMG,
        "true",
    ]);
    for f in [
        "{{printf \"%T\" .State.Pid}}",
        "{{printf \"%T|%T|%T|%T\" .State.Running .Name .Config.Labels .Config.Cmd}}",
        "{{printf \"%T %T %T %T\" .SizeRw .State.Health .HostConfig.Memory .HostConfig.OomKillDisable}}",
        "{{printf \"%T %T %T\" .State .Mounts .Config.Env}}",
        "{{printf \"%T %T\" .NetworkSettings.Ports .Config.Volumes}}",
        "{{printf \"%T %T %T %T\" nil 1 1.5 \"x\"}}",
        "{{printf \"%10T|%-6T|%d%%\" 1 true 3}}",
        "{{printf \"%T\" .}} {{printf \"%T\" $}}",
        "{{range .Mounts}}{{printf \"%T\" .}}{{end}}",
        "{{with .State}}{{printf \"%T\" .Pid}}{{end}}",
        "{{.State.Pid | printf \"%d %T\" 3}}",
        "{{printf \"%T\" (index .Config.Labels \"a\")}}",
    ] {
        same_all(&d, &["inspect", "-f", f, "tc1"]);
    }
    same_all(
        &d,
        &[
            "volume",
            "inspect",
            "-f",
            "{{printf \"%T %T\" .Labels .Scope}}",
            "tv1",
        ],
    );
    same_all(&d, &["ps", "-a", "--format", "{{printf \"%T\" .Names}}"]);
}

#[test]
fn help_follows_docker_layout_for_common_commands() {
    prereqs!();
    let d = Daemon::start();
    let exe = std::path::Path::new(common::BERTH)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for cmd in [
        &["ps"][..],
        &["container", "ls"],
        &["images"],
        &["image", "ls"],
        &["rm"],
        &["rmi"],
        &["start"],
        &["stop"],
        &["restart"],
        &["kill"],
        &["pause"],
        &["logs"],
        &["tag"],
        &["inspect"],
        &["container", "inspect"],
        &["image", "inspect"],
        &["exec"],
        &["stats"],
        &["events"],
        &["top"],
        &["port"],
        &["wait"],
        &["export"],
        &["commit"],
        &["volume", "ls"],
        &["volume", "rm"],
        &["volume", "inspect"],
        &["volume", "prune"],
        &["network", "ls"],
        &["network", "rm"],
        &["network", "prune"],
        &["system", "df"],
        &["system", "prune"],
        &["logout"],
        &["run"],
        &["create"],
        &["container", "run"],
        &["container", "create"],
        &["update"],
        &["pull"],
        &["image", "pull"],
        &["cp"],
        &["login"],
        &["volume", "create"],
        &["network", "connect"],
        &["network", "create"],
        &["version"],
        &["attach"],
        &["diff"],
        &["import"],
        &["rename"],
        &["unpause"],
        &["info"],
        &["image", "prune"],
        &["container", "prune"],
        &["network", "disconnect"],
        &["network", "inspect"],
        &["system", "info"],
        &["system", "events"],
    ] {
        for h in ["--help", "-h"] {
            let mut args = cmd.to_vec();
            args.push(h);
            let (ours, theirs) = (d.berth(&args), d.docker(&args));
            assert_eq!(
                common::stdout(&ours)
                    .replace(&exe, "docker")
                    .replace("Berth", "Docker"),
                common::stdout(&theirs),
                "{args:?}"
            );
            assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        }
    }
    // Options docker shows only to daemons of a newer API than berthd's (1.45), which
    // berth has: compared with docker's help where it has no daemon to ask.
    for cmd in [
        &["history"][..],
        &["image", "history"],
        &["push"],
        &["image", "push"],
        &["save"],
        &["load"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let theirs = std::process::Command::new("docker")
            .args(&args)
            .env("DOCKER_HOST", "unix:///nonexistent")
            .env("DOCKER_CONFIG", d.dir.path().join("dockercfg"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            common::stdout(&d.berth(&args)).replace(&exe, "docker"),
            common::stdout(&theirs),
            "{args:?}"
        );
    }
}

/// `text` without the lines listing the commands `names` (`  name  Description`), and
/// without a section whose commands were all left out.
fn without_commands(text: &str, names: &[&str]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in text.lines() {
        let name = line
            .strip_prefix("  ")
            .filter(|l| !l.starts_with(' ') && !l.starts_with('-'))
            .and_then(|l| l.split(' ').next());
        if name.is_some_and(|n| names.contains(&n)) {
            continue;
        }
        // (an emptied section: its heading, then the blank line that closed it)
        if line.is_empty() && out.last().is_some_and(|l| l.ends_with("Commands:")) {
            out.pop();
            continue;
        }
        out.push(line);
    }
    out.iter().map(|l| format!("{l}\n")).collect()
}

/// `text` without the section headed `heading` (up to the next blank line) and with
/// nothing past the line starting with `end`.
fn without_section(text: &str, heading: &str, end: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line == heading {
            skipping = true;
        }
        if skipping {
            skipping = !line.is_empty();
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.starts_with(end) {
            break;
        }
    }
    out
}

#[test]
fn program_and_group_help_follow_docker_layout() {
    prereqs!();
    let d = Daemon::start();
    let exe = std::path::Path::new(common::BERTH)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let ours = |args: &[&str]| {
        let o = d.berth(args);
        (
            common::stdout(&o)
                .replace(&exe, "docker")
                .replace("Berth", "Docker"),
            common::stderr(&o)
                .replace(&exe, "docker")
                .replace("Berth", "Docker"),
            o.status.code(),
        )
    };
    let theirs = |args: &[&str]| {
        let o = d.docker(args);
        (common::stdout(&o), common::stderr(&o), o.status.code())
    };
    // docker's commands berth does not have, and berth's own.
    let missing = [
        "search",
        "checkpoint",
        "manifest",
        "plugin",
        "trust",
        "config",
        "node",
        "secret",
        "service",
        "stack",
        "swarm",
    ];
    let own = ["completion", "daemon", "man"];
    let end = "Run 'docker COMMAND --help'";
    for args in [&["--help"][..], &["-h"], &["help"], &[]] {
        let (o, t) = (ours(args), theirs(args));
        // (`docker` alone prints its help on stderr)
        let (o_text, t_text) = if args.is_empty() {
            (&o.1, &t.1)
        } else {
            (&o.0, &t.0)
        };
        assert_eq!(
            without_section(&without_commands(o_text, &own), "Global Options:", end),
            without_section(&without_commands(t_text, &missing), "Global Options:", end),
            "{args:?}"
        );
        assert!(
            o_text.contains("Global Options:\n      --config string ")
                && o_text.contains("\n  -D, --debug ")
                && o_text.contains("\n  -H, --host string "),
            "{args:?}: {o_text}"
        );
        assert_eq!(o.2, t.2, "{args:?}");
    }
    // docker's notice for -h goes to stderr for the program, with the help for a command.
    assert_eq!(ours(&["-h"]).1, theirs(&["-h"]).1);
    for group in [
        "builder",
        "container",
        "image",
        "network",
        "volume",
        "system",
    ] {
        for args in [
            vec![group, "--help"],
            vec![group, "-h"],
            vec!["help", group],
            vec![group],
        ] {
            // (docker's `volume update`: berth has none)
            let missing: &[&str] = if group == "volume" { &["update"] } else { &[] };
            let (o, t) = (ours(&args), theirs(&args));
            // (docker's builder group first prints its legacy-builder deprecation notice)
            let notice_end = "https://docs.docker.com/go/buildx/\n\n";
            let t_err = t.1.split_once(notice_end).map_or(t.1.as_str(), |(_, r)| r);
            assert_eq!(o.0, without_commands(&t.0, missing), "{args:?}");
            assert_eq!(o.1, without_commands(t_err, missing), "{args:?}");
            assert_eq!(o.2, t.2, "{args:?}");
        }
    }
    for args in [
        &["help", "run"][..],
        &["help", "container", "ls"],
        &["help", "network", "connect"],
        &["help", "help"],
        &["help", "--help"],
        &["help", "-h"],
        &["help", "nosuch"],
        &["help", "container", "nosuch"],
        &["help", "--nosuch"],
    ] {
        assert_eq!(ours(args), theirs(args), "{args:?}");
    }
}

/// Template functions called with the wrong number or kind of arguments, or failing on
/// their values, end the command with Go's message at docker's place (the function, the
/// argument or the whole call) and status, on list rows, inspected documents (where
/// docker retries on the plain JSON, with json.Number numbers) and table headers.
#[test]
fn template_function_errors_match_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["volume", "create", "--label", "a=b", "tfv1"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "tfc1",
        "--network",
        "none",
        "-l",
        "a=1",
        "-v",
        "tfv1:/v",
        IMG,
        "sleep",
        "1000",
    ]);
    d.ok(&["create", "--name", "tfc2", "--network", "none", IMG, "true"]);
    let rows = [
        "{{index .Names 5}}",
        "{{index .Names}}",
        "{{index .Names \"a\"}}",
        "{{index .ID 1}}",
        "{{slice .ID 1 3}}|{{slice .ID 3 1}}",
        "{{slice .ID \"a\"}}",
        "{{json}}",
        "{{json .ID .ID}}",
        "{{truncate .ID}}",
        "{{truncate .ID \"a\"}}",
        "{{truncate .ID -1}}",
        "{{truncate .ID 2.0}}|{{truncate .ID 100}}",
        "{{pad .ID -1 -2}}",
        "{{pad .ID 1}}",
        "{{pad .ID \"a\" 1}}",
        "{{split .ID}}",
        "{{split .ID 1}}",
        "{{join .ID}}",
        "{{join .Names 1}}",
        "{{title}}|{{title 1}}",
        "{{upper 1}}",
        "{{lower .ID .ID}}",
        "{{upper nil}}",
        "{{printf}}",
        "{{printf 1}}",
        "{{printf .ID}}",
        "{{len .ID}}|{{len 3}}",
        "{{.ID | truncate 3}}",
        "{{.ID | pad 1 1}}",
        "{{3 | truncate .ID}}|{{.ID | truncate 3 | upper}}",
        "{{1 | upper}}",
        "{{upper (1)}}",
        "{{.Names}} {{upper .ID 1}}",
        "table {{truncate .ID -1}}",
        "table {{pad .ID -1 1}}",
        "table {{json .Names}}|{{truncate .ID 3}}|{{join .Names \",\"}}",
        "table {{json 1}}|{{.Names}}",
    ];
    for f in rows {
        same_all(&d, &["ps", "-a", "--format", f]);
        for cmd in [&["images"][..], &["volume", "ls"], &["network", "ls"]] {
            let mut args = cmd.to_vec();
            args.extend(["--format", f]);
            same_all(&d, &args);
        }
    }
    for f in [
        "{{json .Name .Name}}",
        "{{upper .State.Pid}}",
        "{{.State.Pid | upper}}",
        "{{1 | upper}}",
        "{{index .Config.Labels 1}}",
        "{{index .Config.Cmd 5}}",
        "{{index .Config.Cmd 2}}",
        "{{index .Config.Cmd 1}}|{{index .Name 1}}",
        "{{index .Name 30}}",
        "{{index .Config.Labels \"a\" 1}}",
        "{{len .State.Pid}}|{{len .Config.Labels}}|{{len .Mounts}}",
        "{{len .State.Health}}",
        "{{len .State}}",
        "{{slice .Config.Cmd 1 0}}",
        "{{slice .Config.Cmd 1}}|{{slice .Id 0 12}}|{{printf \"%s\" (slice .Name 1)}}",
        "{{slice .Name 1 2 3}}",
        "{{truncate .Name -1}}",
        "{{truncate .Name 2.0}}|{{truncate .Name .State.Pid}}",
        "{{truncate .Name .State.Running}}",
        "{{pad .Name 1.5 1}}",
        "{{pad .Name true 1}}",
        "{{upper .Config.Labels}}",
        "{{upper .State}}",
        "{{upper .Config.Cmd}}",
        "{{upper .HostConfig.Memory}}",
        "{{upper $}}",
        "{{join .Config.Cmd \",\"}}|{{.Config.Cmd | join \",\"}}|{{\",\" | join .Config.Cmd}}",
        "{{join .Config.Labels \",\"}}",
        "{{index .Config.Cmd (len \"a\")}}|{{index .State.Pid 0}}",
        "{{split .Name \"c\" | join \"-\"}}",
    ] {
        same_all(&d, &["inspect", "-f", f, "tfc1"]);
    }
}

/// docker reads `\t` and `\n` typed in a list command's format as tab and newline (so a
/// quoted string with `\n` in it is unterminated there), while inspect, info, version
/// and events templates get them as typed: Go's escapes inside quotes only.
#[test]
fn typed_escapes_match_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["volume", "create", "tev1"]);
    d.ok(&["create", "--name", "tec1", "--network", "none", IMG, "true"]);
    for f in [
        "{{\"a\\nb\"}}",
        "a\\nb\\tc",
        "{{\"a\\\\nb\"}}",
        "{{`a\\nb`}}",
        "{{printf \"%s\\n\" .Name}}",
        "{{\"a\nb\"}}",
        "{{'\n'}}",
    ] {
        same_all(&d, &["volume", "ls", "--format", f]);
        same_all(&d, &["ps", "-a", "--format", f]);
        same_all(&d, &["inspect", "-f", f, "tec1"]);
        same_all(&d, &["volume", "inspect", "-f", f, "tev1"]);
        same_all(&d, &["version", "-f", f]);
        same_all(
            &d,
            &["events", "--since", "0", "--until", "1s", "--format", f],
        );
    }
    same_all(&d, &["info", "-f", "x\\ty{{\"a\\nb\"}}"]);
}

/// Runs `bin` with only `env` (and the config directory `cfg`) to find the daemon.
fn ctx_run(bin: &str, cfg: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = std::process::Command::new("timeout")
        .args(["-k", "2", "30", bin])
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_API_VERSION")
        .env("DOCKER_CONFIG", cfg)
        .env("BERTH_NO_AUTOSTART", "1")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let mut text = format!(
        "$ {}\n{}{}[exit {:?}]\n",
        args.join(" "),
        common::stdout(&out),
        common::stderr(&out),
        out.status.code()
    );
    // (the default endpoints differ by design: berth's own socket, docker's; and so
    // do the daemons' names and the width of the columns they are in)
    for (from, to) in [
        (berth_default(), "DEFAULT"),
        ("unix:///var/run/docker.sock", "DEFAULT"),
        ("Cannot connect to the Berth daemon", "Cannot connect"),
        ("Cannot connect to the Docker daemon", "Cannot connect"),
        ("Is the berth daemon running?", "running?"),
        ("Is the docker daemon running?", "running?"),
    ] {
        text = text.replace(from, to);
    }
    while text.contains("  ") {
        text = text.replace("  ", " ");
    }
    text
}

fn berth_default() -> &'static str {
    "unix:///run/berth/berth.sock"
}

/// One context session: the same commands through `bin` from an empty config directory,
/// with what they print, the config file and the stored contexts.
fn context_session(d: &Daemon, bin: &str, cfg: &std::path::Path) -> String {
    let _ = std::fs::remove_dir_all(cfg);
    let host = d.host();
    let h = format!("host={host}");
    let run = |env: &[(&str, &str)], args: &[&str]| ctx_run(bin, cfg, env, args);
    let mut out = String::new();
    for args in [
        &["context", "ls"][..],
        &["context", "show"],
        &["context", "inspect"],
        &["context", "inspect", "default", "nope"],
        &["context", "use", "nope"],
        &["context", "rm", "nope", "default"],
        &["context", "create", "default"],
        &[
            "context",
            "create",
            "c1",
            "--docker",
            &h,
            "--description",
            "my <ctx>",
        ],
        &[
            "context",
            "create",
            "c1",
            "--docker",
            "host=unix:///tmp/x.sock",
        ],
        &[
            "context",
            "create",
            "c10",
            "--docker",
            "host=tcp://127.0.0.1:1",
        ],
        &[
            "context",
            "create",
            "c9",
            "--docker",
            "host=tcp://127.0.0.1:1",
        ],
        &[
            "context",
            "create",
            "bad name",
            "--docker",
            "host=unix:///x",
        ],
        &["context", "ls"],
        &["context", "ls", "-q"],
        &[
            "context",
            "list",
            "--format",
            "{{.Name}}|{{.Current}}|{{.DockerEndpoint}}",
        ],
        &["context", "ls", "--format", "json"],
        &["context", "ls", "--format", "table {{.Name}}\\t{{.Error}}"],
        &["context", "ls", "--format", "table {{.}}|{{.Name}}"],
        &["context", "use", "c1"],
        &["context", "ls"],
        &["context", "show"],
        &["context", "inspect"],
        &[
            "context",
            "inspect",
            "c1",
            "default",
            "--format",
            "{{.Name}} {{.Endpoints.docker.Host}}",
        ],
        // The context in force is c1: the daemon is reached through it.
        &["ps", "-a", "--format", "{{.Names}}"],
        &["--context", "default", "context", "show"],
        &["--context", "c9", "ps"],
        &["-H", &host, "--context", "c1", "ps"],
    ] {
        out.push_str(&run(&[], args));
        if args == ["context", "use", "c1"] {
            out.push_str(&std::fs::read_to_string(cfg.join("config.json")).unwrap_or_default());
        }
    }
    out.push_str(&run(&[("DOCKER_CONTEXT", "c9")], &["ps"]));
    out.push_str(&run(&[("DOCKER_CONTEXT", "nope")], &["ps"]));
    out.push_str(&run(&[("DOCKER_HOST", &host)], &["context", "ls"]));
    out.push_str(&run(
        &[("DOCKER_HOST", &host)],
        &["ps", "-a", "--format", "{{.Names}}"],
    ));
    for args in [
        &["context", "rm", "c1"][..],
        &["context", "rm", "-f", "c1", "c9"],
        &["context", "ls"],
        &["context", "use", "default"],
        &["context", "create", "c2"],
        &["context", "inspect", "c2"],
    ] {
        out.push_str(&run(&[], args));
    }
    out.push_str(&std::fs::read_to_string(cfg.join("config.json")).unwrap_or_default());
    let mut files: Vec<_> = walk(cfg);
    files.sort();
    for f in files {
        out.push_str(&format!(
            "{}\n{}\n",
            f.display(),
            std::fs::read_to_string(&f).unwrap()
        ));
    }
    out.replace(berth_default(), "DEFAULT")
        .replace("unix:///var/run/docker.sock", "DEFAULT")
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `context` as docker's: contexts stored in the config directory as docker stores them
/// (the same files from either CLI), the one in use marked and connected to, docker's
/// columns, formats and errors.
#[test]
fn contexts_match_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "create",
        "--name",
        "ctxc1",
        "--network",
        "none",
        IMG,
        "true",
    ]);
    let cfg = d.dir.path().join("ctxcfg");
    let theirs = context_session(&d, "docker", &cfg);
    let ours = context_session(&d, common::BERTH, &cfg);
    assert!(theirs.contains("ctxc1\n"), "{theirs}");
    assert!(theirs.contains("\"currentContext\": \"c1\""), "{theirs}");
    assert_eq!(ours, theirs);

    // berth has no TLS: a context set up for it is refused, not spoken to in plain HTTP.
    let cfg = d.dir.path().join("ctxtls");
    let host = format!("host={}", d.host());
    ctx_run(
        common::BERTH,
        &cfg,
        &[],
        &["context", "create", "t1", "--docker", &host],
    );
    let meta = std::fs::read_dir(cfg.join("contexts/meta"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("meta.json"))
        .find(|p| std::fs::read_to_string(p).is_ok_and(|m| m.contains("\"t1\"")))
        .expect("t1's meta.json");
    let ok = ctx_run(
        common::BERTH,
        &cfg,
        &[],
        &["--context", "t1", "ps", "-q", "-a"],
    );
    assert!(ok.contains("[exit Some(0)]"), "{ok}");
    let m = std::fs::read_to_string(&meta).unwrap();
    assert!(m.contains("\"SkipTLSVerify\":false"), "{m}");
    std::fs::write(
        &meta,
        m.replace("\"SkipTLSVerify\":false", "\"SkipTLSVerify\":true"),
    )
    .unwrap();
    let refused = ctx_run(common::BERTH, &cfg, &[], &["--context", "t1", "ps"]);
    assert!(
        refused.contains("is set up for TLS, but berth has no TLS")
            && refused.contains("[exit Some(1)]"),
        "{refused}"
    );
}

/// `{{.}}` of a list row prints docker's formatter context as Go's fmt does: the API
/// object inside it (times by their fields, pointers as addresses), `trunc`, and for
/// images the repository, tag and digest of the row; a table's header row is the map of
/// column titles.
#[test]
fn list_row_dot_prints_dockers_formatter_context() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["volume", "create", "--label", "a=b", "rdv1"]);
    d.ok(&["network", "create", "--label", "n=1", "rdn1"]);
    // (one tag only: docker lists an image's repositories in map order)
    d.ok(&[
        "create",
        "--name",
        "rdc1",
        "--network",
        "rdn1",
        "-l",
        "b=2",
        "-l",
        "a=1",
        "-v",
        "rdv1:/v",
        "-v",
        "/tmp:/h:ro",
        "-p",
        "127.0.0.1:18080:80",
        IMG,
        "sleep",
        "1",
    ]);
    d.ok(&["create", "--name", "rdc2", "--network", "none", IMG, "true"]);
    for cmd in [
        &["ps", "-a"][..],
        &["ps", "-a", "--no-trunc"],
        &["ps", "-a", "-s"],
        &["images"],
        &["images", "--digests", "--no-trunc"],
        &["network", "ls"],
        &["network", "ls", "--no-trunc"],
        &["volume", "ls"],
    ] {
        for f in [
            "{{.}}",
            "table {{.}}",
            "{{.ID}} {{.}}",
            "{{len .}}",
            "{{index . \"Names\"}}",
            "{{printf \"%v\" .}}",
        ] {
            let mut args = cmd.to_vec();
            args.extend(["--format", f]);
            same_all(&d, &args);
        }
    }
    for f in ["{{.}}", "table {{.}}", "{{len .}}"] {
        same_all(&d, &["system", "df", "--format", f]);
        same_all(&d, &["history", IMG, "--format", f]);
        same_all(
            &d,
            &["history", "--no-trunc", "--human=false", IMG, "--format", f],
        );
    }
    // (a container that does not run: its numbers stay still)
    for f in ["{{.}}", "table {{.}}", "{{len .}}"] {
        same_all(&d, &["stats", "--no-stream", "rdc2", "--format", f]);
    }
    for f in [
        "{{2.5324961792e10}} {{1234567.0}} {{1e-5}} {{0.5}} {{229376.0}}",
        "{{print 1.5e7 2.0}}",
    ] {
        same_all(&d, &["inspect", "-f", f, "rdc2"]);
    }
    same_all(&d, &["ps", "-a", "--format", "table {{.Platform}}"]);
    same_all(&d, &["network", "ls", "--format", "table {{.CreatedAt}}"]);
}

/// A value passed to a function is checked against its Go type (an int64 is not an int,
/// info's counts are ints), errors name that type; `info`'s `{{.}}` shows its embedded
/// pointer as an address; `events` runs its template on an empty message first.
#[test]
fn typed_values_fail_as_their_go_types() {
    prereqs!();
    let d = Daemon::start();
    for f in [
        "{{.}}",
        "{{upper .Containers}}",
        "{{.Containers | upper}}",
        "{{truncate .Name .MemTotal}}",
        "{{truncate .Name .NCPU}}|{{printf \"%T\" .Containers}}",
        "{{upper .Plugins}}",
        // (what was written before the failure shows, as Go writes as it goes)
        "ab{{upper 1}}cd",
        "a\nb{{.ID}}c{{.Nope}}",
        "x{{range .Swarm}}{{end}}",
    ] {
        same_all(&d, &["info", "--format", f]);
    }
    for f in ["ab{{.Nope}}", "ab{{upper 1}}cd"] {
        same_all(&d, &["version", "--format", f]);
    }
    for f in [
        "{{upper .Time}}",
        "{{upper .Actor}}",
        "{{json .Time .Time}}",
        "{{upper .Type}}",
        "{{truncate .Action -1}}",
    ] {
        same_all(
            &d,
            &["events", "--since", "0", "--until", "1s", "--format", f],
        );
    }
    // Fields of named string types (container.NetworkMode, mount.Type, ...).
    d.ok(&["create", "--name", "tv1", "-v", "/tmp:/h", IMG, "true"]);
    for f in [
        "{{printf \"%T %T %T\" .HostConfig.NetworkMode .HostConfig.RestartPolicy.Name .HostConfig.IpcMode}}",
        "{{range .Mounts}}{{printf \"%T %T\" .Type .Propagation}}{{end}}",
        "{{upper .HostConfig.NetworkMode}}|{{printf \"%T\" .State.Status}}",
    ] {
        same_all(&d, &["inspect", "-f", f, "tv1"]);
    }
}

/// Go's comparison functions (`eq` to any of several, ints of either sign, nil), their
/// argument counts and errors; a missing `{{template}}`; a field asked of a plain JSON
/// value; `index` of a port map with a string (docker falls back to the plain JSON).
#[test]
fn comparisons_and_lookups_fail_as_go() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "create",
        "--name",
        "cmp1",
        "--network",
        "none",
        "-l",
        "a=1",
        "-p",
        "127.0.0.1:18081:80",
        IMG,
        "true",
    ]);
    for f in [
        "{{eq .Name \"/cmp1\"}}|{{eq .RestartCount 1 0}}|{{eq .State.Running false}}",
        "{{eq .Name 1}}",
        "{{eq .Name}}",
        "{{eq}}",
        "{{ne .Name}}",
        "{{ne .Name \"x\"}}|{{lt .RestartCount 5}}|{{gt .RestartCount 5}}|{{le .Name \"/c\"}}",
        "{{lt .Name 5}}",
        "{{lt .State.Running true}}",
        "{{or}}",
        "{{not}}",
        "{{not 1 2}}",
        "{{eq .State.Health nil}}|{{ne .State.Health nil}}",
        "{{if eq .State.Status \"running\" \"created\"}}yes{{end}}",
        "{{template \"x\"}}",
        "a{{template \"x\" .}}",
        "{{.Name.Foo}}",
        "{{.State.Pid.X}}",
        "{{index .NetworkSettings.Ports \"80/tcp\"}}",
        "{{index .HostConfig.PortBindings \"80/tcp\"}}",
        "{{(index (index .HostConfig.PortBindings \"80/tcp\") 0).HostPort}}",
        "{{index .Config.ExposedPorts \"80/tcp\"}}",
        // Go ranges over no struct (docker's plain JSON fallback does, over a map).
        "{{range .State}}x{{end}}",
        "{{range .State.Health}}x{{end}}",
        "{{range $k, $v := .HostConfig.RestartPolicy}}{{$k}}{{end}}",
        "{{with}}x{{end}}",
        "{{if 1}}{{else if}}{{end}}",
        // printf's %v/%s of typed values print as Go's fmt (a pointer to a struct with &)
        "{{.}}",
        "{{printf \"%v\" .}}",
        "{{printf \"%s|%v\" .Config.Cmd .Config.Labels}}",
        "{{printf \"%v\" .State}}|{{printf \"%v\" .State.Health}}|{{printf \"%v\" .SizeRw}}",
        "{{printf \"%v %v\" .HostConfig.RestartPolicy .Mounts}}",
        "{{printf \"%d %v\" 1 .HostConfig.LogConfig}}",
    ] {
        same_all(&d, &["inspect", "-f", f, "cmp1"]);
    }
    for f in [
        "{{range .Swarm}}x{{end}}",
        "{{range .NCPU}}{{.}}{{end}}|{{range .Plugins.Volume}}{{.}}{{end}}",
        "{{ range }}{{end}}",
    ] {
        same_all(&d, &["info", "--format", f]);
    }
    for f in [
        "{{eq .Names \"cmp1\"}}",
        "{{if eq .State \"created\"}}{{.Names}}{{end}}",
        "{{lt .Names 1}}",
        "{{template \"x\"}}",
    ] {
        same_all(&d, &["ps", "-a", "--format", f]);
    }
}
