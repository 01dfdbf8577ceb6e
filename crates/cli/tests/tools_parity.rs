//! berth and the stock docker CLI against one berthd, for the container and image tools
//! beyond run/ps: the same scenario through both, comparing output and exit codes.

mod common;

use common::{Daemon, IMG, stderr, stdout};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

/// Exit codes of the same command through both CLIs.
fn codes(d: &Daemon, args: &[&str]) -> (Option<i32>, Option<i32>) {
    (d.berth(args).status.code(), d.docker(args).status.code())
}

fn is_image_id(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn import_prints_the_image_id_and_applies_changes_like_docker() {
    prereqs!();
    let d = Daemon::start();
    let tar = common::busybox_tar(d.dir.path());
    let tar = tar.to_str().unwrap();
    let ours = d.bok(&[
        "import",
        "-m",
        "from berth",
        "-c",
        "ENV A=b",
        tar,
        "imp:berth",
    ]);
    let theirs = d.ok(&[
        "import",
        "-m",
        "from berth",
        "-c",
        "ENV A=b",
        tar,
        "imp:docker",
    ]);
    assert!(is_image_id(&ours), "{ours}");
    assert!(is_image_id(&theirs), "{theirs}");
    for r in ["imp:berth", "imp:docker"] {
        assert_eq!(d.inspect(r, "{{.Comment}}"), "from berth");
        assert!(d.inspect(r, "{{json .Config.Env}}").contains("A=b"), "{r}");
    }
    // From stdin.
    let data = std::fs::read(tar).unwrap();
    let out = d.berth_stdin(&["image", "import", "-", "imp:stdin"], Some(&data));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(is_image_id(stdout(&out).trim()));
    assert_eq!(
        d.ok(&["images", "-q", "imp:stdin"]),
        d.bok(&["images", "-q", "imp:stdin"])
    );
    // A missing file: exit 1 from both.
    assert_eq!(
        codes(&d, &["import", "/nonexistent.tar", "x"]),
        (Some(1), Some(1))
    );
}

#[test]
fn events_between_two_times_print_the_same_lines_as_docker() {
    prereqs!();
    let d = Daemon::start();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let t0 = now() - 1;
    d.ok(&["create", "--name", "ev1", "--network", "none", IMG, "true"]);
    d.ok(&["rm", "ev1"]);
    let t1 = now() + 1;
    let (s, u) = (t0.to_string(), t1.to_string());
    let args = ["events", "--since", s.as_str(), "--until", u.as_str()];
    let ours = d.bok(&args);
    let theirs = d.ok(&args);
    assert_eq!(ours, theirs);
    assert!(ours.contains(" container create "), "{ours}");
    assert!(ours.contains("name=ev1"), "{ours}");
    for f in [
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        "{{json .}}",
        "{{.Status}} {{.ID}} {{.From}}",
    ] {
        let mut a = args.to_vec();
        a.extend(["--format", f]);
        assert_eq!(d.bok(&a), d.ok(&a), "{f}");
    }
    let mut a = args.to_vec();
    a.extend(["--filter", "event=create"]);
    let ours = d.bok(&a);
    assert_eq!(ours, d.ok(&a));
    assert_eq!(ours.lines().count(), 1, "{ours}");
    // The management form.
    let mut a = vec!["system"];
    a.extend(args);
    assert_eq!(d.bok(&a), theirs);
}

/// Image IDs and sizes masked (they differ between two commits or two images).
fn mask(s: &str) -> String {
    let mut out = String::new();
    for w in s.split_inclusive([' ', '\n']) {
        let t = w.trim_end();
        let tail = &w[t.len()..];
        if t.starts_with("sha256:") {
            out.push_str("sha256:X");
        } else if t.ends_with("B") && t.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            out.push_str("SIZE");
        } else {
            out.push_str(t);
        }
        out.push_str(tail);
    }
    out
}

#[test]
fn image_tag_history_rmi_save_load_commit_prune_like_docker() {
    prereqs!();
    let d = Daemon::start();
    // tag: silent, both names listed.
    assert_eq!(d.bok(&["tag", IMG, "t1:v1"]), "");
    assert_eq!(d.ok(&["tag", IMG, "t2:v1"]), "");
    assert_eq!(d.bok(&["image", "tag", IMG, "t3"]), "");
    assert_eq!(d.ok(&["images", "-q", "t1"]), d.ok(&["images", "-q", "t3"]));
    assert_eq!(codes(&d, &["tag", "nope:1", "x:1"]), (Some(1), Some(1)));
    // history: same table columns, same rows through every format.
    let (ours, theirs) = (d.bok(&["history", IMG]), d.ok(&["history", IMG]));
    // The column names; their widths follow the CREATED text, which changes between two
    // runs a second apart ("Less than a second ago", "1 second ago").
    let columns = |t: &str| -> Vec<String> {
        let head = t.lines().next().unwrap_or("");
        head.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(columns(&ours), columns(&theirs), "\n{ours}\n{theirs}");
    assert_eq!(ours.lines().count(), theirs.lines().count());
    for args in [
        vec!["history", "-q", IMG],
        vec!["history", "-q", "--no-trunc", IMG],
        vec![
            "history",
            "--format",
            "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
            IMG,
        ],
        vec![
            "history",
            "--human=false",
            "--format",
            "{{.CreatedSince}} {{.Size}}",
            IMG,
        ],
        vec![
            "image",
            "history",
            "--no-trunc",
            "--format",
            "{{json .CreatedBy}}",
            IMG,
        ],
    ] {
        assert_eq!(d.bok(&args), d.ok(&args), "{args:?}");
    }
    assert_eq!(codes(&d, &["history", "nope"]), (Some(1), Some(1)));
    // rmi: docker's lines; a missing image fails the same way.
    let ours = d.bok(&["rmi", "t1:v1"]);
    let theirs = d.ok(&["rmi", "t2:v1"]);
    assert_eq!(ours.replace("t1", "t2"), theirs);
    let (o, t) = (d.berth(&["rmi", "nope"]), d.docker(&["rmi", "nope"]));
    assert_eq!((o.status.code(), stderr(&o)), (t.status.code(), stderr(&t)));
    assert_eq!(d.bok(&["image", "rm", "t3"]), "Untagged: t3:latest");
    // save/load: the same archive, and loading it says the same.
    let f1 = d.dir.path().join("b.tar");
    let f2 = d.dir.path().join("d.tar");
    d.bok(&["save", "-o", f1.to_str().unwrap(), IMG]);
    d.ok(&["save", "-o", f2.to_str().unwrap(), IMG]);
    assert_eq!(std::fs::read(&f1).unwrap(), std::fs::read(&f2).unwrap());
    let streamed = d.berth(&["image", "save", IMG]);
    assert_eq!(streamed.stdout, std::fs::read(&f2).unwrap());
    let ours = d.bok(&["load", "-i", f1.to_str().unwrap()]);
    assert_eq!(ours, d.ok(&["load", "-i", f2.to_str().unwrap()]));
    assert!(ours.contains("Loaded image: bbtest:latest"), "{ours}");
    let data = std::fs::read(&f1).unwrap();
    let out = d.berth_stdin(&["image", "load"], Some(&data));
    assert_eq!(stdout(&out).trim(), ours);
    assert_eq!(
        codes(&d, &["load", "-i", "/nonexistent"]),
        (Some(1), Some(1))
    );
    // commit: author, message and changes land in the image; prints its ID.
    d.ok(&[
        "run",
        "--name",
        "c1",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "echo hi > /f",
    ]);
    let args = |repo: &'static str| {
        vec![
            "commit", "-a", "me", "-m", "msg", "-c", "ENV X=1", "c1", repo,
        ]
    };
    let ours = d.bok(&args("com:berth"));
    let theirs = d.ok(&args("com:docker"));
    assert!(
        is_image_id(&ours) && is_image_id(&theirs),
        "{ours} {theirs}"
    );
    let f = "{{.Author}}|{{.Comment}}|{{json .Config.Env}}";
    assert_eq!(d.inspect("com:berth", f), d.inspect("com:docker", f));
    assert_eq!(
        d.bok(&["run", "--rm", "--network", "none", "com:berth", "cat", "/f"]),
        "hi"
    );
    assert_eq!(codes(&d, &["commit", "nope"]), (Some(1), Some(1)));
    // prune: a dangling image each, the same report.
    d.ok(&["commit", "c1"]);
    let ours = d.bok(&["image", "prune", "-f"]);
    d.ok(&["commit", "c1"]);
    let theirs = d.ok(&["image", "prune", "-f"]);
    assert_eq!(mask(&ours), mask(&theirs), "\n{ours}\n{theirs}");
    assert!(
        ours.starts_with("Deleted Images:\ndeleted: sha256:"),
        "{ours}"
    );
    // Nothing left: only the total; a "no" at the prompt removes nothing.
    assert_eq!(
        d.bok(&["image", "prune", "-f"]),
        d.ok(&["image", "prune", "-f"])
    );
    d.ok(&["commit", "c1"]);
    let (o, t) = (
        d.berth_stdin(&["image", "prune"], Some(b"n\n")),
        d.docker_stdin(&["image", "prune"], Some(b"n\n")),
    );
    assert_eq!(stdout(&o), stdout(&t));
    assert_eq!(o.status.code(), t.status.code());
}

#[test]
fn rmi_of_a_commit_chain_prints_like_docker() {
    prereqs!();
    let d = Daemon::start();
    // One chain per CLI: IMG <- NAME:base <- NAME:top, each layer its own.
    let chain = |name: &str| {
        for (from, tag) in [(IMG.to_owned(), "base"), (format!("{name}:base"), "top")] {
            d.ok(&[
                "run",
                "--name",
                "stage",
                "--network",
                "none",
                &from,
                "sh",
                "-c",
                &format!("echo {name} > /{tag}"),
            ]);
            d.ok(&["commit", "stage", &format!("{name}:{tag}")]);
            d.ok(&["rm", "stage"]);
        }
        d.ok(&["image", "inspect", "-f", "{{.Id}}", &format!("{name}:base")])
    };
    let (ours, theirs) = (chain("pb"), chain("pd"));
    // A parent's ID: the same refusal (its ID masked), exit 1.
    let (o, t) = (d.berth(&["rmi", &ours]), d.docker(&["rmi", &theirs]));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(t.status.code(), Some(1));
    assert_eq!(
        stderr(&o).replace(&ours[7..19], "ID"),
        stderr(&t).replace(&theirs[7..19], "ID")
    );
    assert!(
        stderr(&t).contains("image has dependent child images"),
        "{}",
        stderr(&t)
    );
    // Its tag: untagged only; then the child takes the parent along (with the layers
    // only they had), and with --no-prune it does not.
    assert_eq!(d.bok(&["rmi", "pb:base"]), "Untagged: pb:base");
    assert_eq!(d.ok(&["rmi", "pd:base"]), "Untagged: pd:base");
    let ours = d.bok(&["rmi", "pb:top"]);
    let theirs = d.ok(&["rmi", "pd:top"]);
    assert_eq!(mask(&ours).replace("pb", "pd"), mask(&theirs));
    assert_eq!(ours.lines().count(), 5, "{ours}");
    let _ = chain("pb");
    let _ = chain("pd");
    d.ok(&["rmi", "pb:base", "pd:base"]);
    let ours = d.bok(&["rmi", "--no-prune", "pb:top"]);
    let theirs = d.ok(&["rmi", "--no-prune", "pd:top"]);
    assert_eq!(mask(&ours).replace("pb", "pd"), mask(&theirs));
    assert_eq!(ours.lines().count(), 3, "{ours}");
    assert_eq!(d.bok(&["images", "-q"]), d.ok(&["images", "-q"]));
}

/// 64-hex names and IDs masked.
fn mask_hex(s: &str) -> String {
    s.split_inclusive([' ', '\n', '"'])
        .map(|w| {
            let t = w.trim_end_matches([' ', '\n', '"']);
            if t.len() >= 12 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
                format!("HEX{}", &w[t.len()..])
            } else {
                w.to_owned()
            }
        })
        .collect()
}

#[test]
fn volume_commands_match_docker() {
    prereqs!();
    let d = Daemon::start();
    assert_eq!(d.bok(&["volume", "create", "v1"]), "v1");
    assert_eq!(d.ok(&["volume", "create", "v2"]), "v2");
    assert_eq!(
        d.bok(&["volume", "create", "--label", "a=b", "--name", "v3"]),
        "v3"
    );
    let anon = d.bok(&["volume", "create"]);
    assert_eq!(anon.len(), 64, "{anon}");
    for args in [
        vec!["volume", "ls"],
        vec!["volume", "ls", "-q"],
        vec![
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Labels}} {{.Scope}}",
        ],
        vec!["volume", "ls", "--filter", "name=v1"],
        vec!["volume", "ls", "-f", "label=a=b", "--format", "json"],
        vec!["volume", "inspect", "v1", "v3"],
        vec![
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Mountpoint}} {{.Labels}}",
            "v3",
        ],
        vec!["system", "df"],
    ] {
        assert_eq!(d.bok(&args), d.ok(&args), "{args:?}");
    }
    for args in [["volume", "inspect", "nope"], ["volume", "rm", "nope"]] {
        let (o, t) = (d.berth(&args), d.docker(&args));
        assert_eq!(
            (o.status.code(), stderr(&o)),
            (t.status.code(), stderr(&t)),
            "{args:?}"
        );
    }
    assert_eq!(d.bok(&["volume", "rm", "v1", "v2"]), "v1\nv2");
    // prune: only anonymous volumes (a container's), unless -a.
    assert_eq!(
        d.bok(&["volume", "prune", "-f"]),
        d.ok(&["volume", "prune", "-f"])
    );
    let ours = d.bok(&["volume", "prune", "-a", "-f"]);
    let mut names = [anon.as_str(), "v3"];
    names.sort();
    assert_eq!(
        ours,
        format!(
            "Deleted Volumes:\n{}\n\nTotal reclaimed space: 0B",
            names.join("\n")
        )
    );
    d.ok(&["volume", "create", "v4"]);
    assert_eq!(
        d.ok(&["volume", "prune", "-a", "-f"]),
        "Deleted Volumes:\nv4\n\nTotal reclaimed space: 0B"
    );
}

#[test]
fn container_tools_match_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "mkdir -p /data/sub; echo a > /data/a; echo b > /data/sub/b; rm /bin/wget; sleep 1000",
    ]);
    assert!(d.eventually(10, || d.ok(&["exec", "c1", "ls", "/data/a"]) == "/data/a"));
    // top, diff
    let (ours, theirs) = (d.bok(&["top", "c1"]), d.ok(&["top", "c1"]));
    assert_eq!(
        ours.lines().next(),
        theirs.lines().next(),
        "\n{ours}\n{theirs}"
    );
    assert_eq!(ours.lines().count(), theirs.lines().count());
    assert_eq!(
        d.bok(&["container", "top", "c1", "-o", "pid,comm"]),
        d.ok(&["top", "c1", "-o", "pid,comm"])
    );
    assert_eq!(d.bok(&["diff", "c1"]), d.ok(&["diff", "c1"]));
    assert!(d.bok(&["diff", "c1"]).contains("A /data/sub/b"));
    assert_eq!(codes(&d, &["top", "nope"]), (Some(1), Some(1)));
    // export: the same files.
    let list = |p: &std::path::Path| {
        let out = std::process::Command::new("tar")
            .arg("tf")
            .arg(p)
            .output()
            .unwrap();
        let mut l: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
        l.sort();
        l
    };
    let (e1, e2) = (d.dir.path().join("e1.tar"), d.dir.path().join("e2.tar"));
    d.bok(&["export", "-o", e1.to_str().unwrap(), "c1"]);
    d.ok(&["export", "-o", e2.to_str().unwrap(), "c1"]);
    assert_eq!(list(&e1), list(&e2));
    assert!(
        list(&e1)
            .iter()
            .any(|p| p.trim_end_matches('/') == "data/sub/b")
    );
    // cp out of the container: a file, a directory, its contents, a tar on stdout.
    let out = d.dir.path().join("out");
    for who in ["b", "d"] {
        let base = out.join(who);
        std::fs::create_dir_all(base.join("existing")).unwrap();
        let b = base.to_str().unwrap();
        let run = |args: &[&str]| {
            let o = if who == "b" {
                d.berth(args)
            } else {
                d.docker(args)
            };
            assert!(o.status.success(), "{who} {args:?}: {}", stderr(&o));
        };
        run(&["cp", "c1:/data/a", &format!("{b}/file")]);
        run(&["cp", "c1:/data/a", &format!("{b}/existing")]);
        run(&["cp", "c1:/data", &format!("{b}/newdir")]);
        run(&["cp", "c1:/data", &format!("{b}/existing")]);
    }
    let tree = |p: &std::path::Path| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("cd {} && find . -exec sh -c 'printf \"%s \" \"$1\"; [ -f \"$1\" ] && cat \"$1\" || echo' _ {{}} \\; | sort", p.display()))
            .output()
            .unwrap();
        stdout(&out)
    };
    assert_eq!(tree(&out.join("b")), tree(&out.join("d")));
    assert!(
        tree(&out.join("b")).contains("./newdir/sub/b b"),
        "{}",
        tree(&out.join("b"))
    );
    // SRC/. copies the contents (docker's client files berthd's "." archive elsewhere).
    d.bok(&["cp", "c1:/data/.", out.join("contents").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("contents/sub/b")).unwrap(),
        "b\n"
    );
    let (o, t) = (
        d.berth(&["cp", "c1:/data/sub", "-"]),
        d.docker(&["cp", "c1:/data/sub", "-"]),
    );
    assert!(o.status.success());
    assert_eq!(list_tar(&o.stdout), list_tar(&t.stdout));
    // cp into the container: a file under a new name, a directory, a tar from stdin.
    let src = d.dir.path().join("src");
    std::fs::create_dir_all(src.join("dir")).unwrap();
    std::fs::write(src.join("f"), "from host\n").unwrap();
    std::fs::write(src.join("dir/g"), "g\n").unwrap();
    let s = src.to_str().unwrap();
    d.bok(&["cp", &format!("{s}/f"), "c1:/data/renamed"]);
    d.bok(&["cp", &format!("{s}/dir"), "c1:/data"]);
    d.bok(&["cp", &format!("{s}/dir"), "c1:/newdir"]);
    let tar = std::process::Command::new("tar")
        .args(["cf", "-", "-C", s, "f"])
        .output()
        .unwrap()
        .stdout;
    let o = d.berth_stdin(&["cp", "-", "c1:/tmp"], Some(&tar));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        d.ok(&[
            "exec",
            "c1",
            "cat",
            "/data/renamed",
            "/data/dir/g",
            "/newdir/g",
            "/tmp/f"
        ]),
        "from host\ng\ng\nfrom host"
    );
    for args in [
        vec!["cp", "c1:/nonexistent", s],
        vec!["cp", "nope:/x", s],
        vec!["cp", "/nonexistent", "c1:/tmp"],
    ] {
        assert_eq!(codes(&d, &args), (Some(1), Some(1)), "{args:?}");
    }
    // rename
    assert_eq!(d.bok(&["rename", "c1", "c2"]), "");
    assert_eq!(d.inspect("c2", "{{.Name}}"), "/c2");
    assert_eq!(codes(&d, &["rename", "nope", "x"]), (Some(1), Some(1)));
    // container prune: one stopped container each, the same report.
    d.ok(&["create", "--name", "dead1", IMG, "true"]);
    let ours = d.bok(&["container", "prune", "-f"]);
    d.ok(&["create", "--name", "dead2", IMG, "true"]);
    let theirs = d.ok(&["container", "prune", "-f"]);
    assert_eq!(mask_hex(&ours), mask_hex(&theirs), "\n{ours}\n{theirs}");
    assert!(ours.starts_with("Deleted Containers:\n"), "{ours}");
    assert_eq!(d.bok(&["system", "df"]), d.ok(&["system", "df"]));
    d.ok(&["rm", "-f", "c2"]);
}

fn list_tar(data: &[u8]) -> Vec<String> {
    let mut l: Vec<String> = tar::Archive::new(data)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    l.sort();
    l
}

#[test]
fn stats_update_and_port_match_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "s1",
        "--network",
        "none",
        IMG,
        "sleep",
        "1000",
    ]);
    let (ours, theirs) = (
        d.bok(&["stats", "--no-stream", "s1"]),
        d.ok(&["stats", "--no-stream", "s1"]),
    );
    assert_eq!(
        ours.lines().next(),
        theirs.lines().next(),
        "\n{ours}\n{theirs}"
    );
    assert_eq!(ours.lines().count(), 2, "{ours}");
    for args in [
        vec![
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.ID}} {{.Container}}",
            "s1",
        ],
        vec![
            "container",
            "stats",
            "--no-stream",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.PIDs}}",
        ],
        vec!["stats", "--no-stream", "-a", "--format", "{{.Name}}"],
    ] {
        assert_eq!(d.bok(&args), d.ok(&args), "{args:?}");
    }
    let keys = |s: String| {
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let args = ["stats", "--no-stream", "--format", "json", "s1"];
    assert_eq!(keys(d.bok(&args)), keys(d.ok(&args)));
    assert_eq!(
        codes(&d, &["stats", "--no-stream", "nope"]),
        (Some(1), Some(1))
    );
    // Streaming: the table comes again and again until interrupted.
    let out = std::process::Command::new("timeout")
        .args(["-s", "INT", "2", common::BERTH, "stats", "s1"])
        .env("BERTH_HOST", d.host())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.matches("CONTAINER ID").count() >= 2, "{text}");
    assert!(text.contains("s1"), "{text}");
    // update
    let args = [
        "update",
        "-m",
        "64m",
        "--memory-swap",
        "-1",
        "--cpus",
        "0.5",
        "s1",
    ];
    assert_eq!(d.bok(&args), "s1");
    let f = "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}";
    assert_eq!(d.inspect("s1", f), "67108864 500000000");
    // As dockerd: a memory limit above the recorded memory+swap limit (-1 here: every
    // limit is above it) needs a swap limit in the same update.
    let (ours, theirs) = (
        d.berth(&["update", "-m", "32m", "s1"]),
        d.docker(&["update", "-m", "32m", "s1"]),
    );
    assert_eq!(stderr(&ours), stderr(&theirs));
    assert!(
        stderr(&ours).contains("update the memoryswap at the same time"),
        "{}",
        stderr(&ours)
    );
    assert_eq!(
        (ours.status.code(), theirs.status.code()),
        (Some(1), Some(1))
    );
    assert_eq!(
        d.ok(&["update", "-m", "32m", "--memory-swap", "64m", "s1"]),
        "s1"
    );
    assert_eq!(
        d.bok(&["container", "update", "--restart", "on-failure:3", "s1"]),
        "s1"
    );
    assert_eq!(
        d.inspect(
            "s1",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure:3"
    );
    for args in [vec!["update", "-m", "64m", "nope"], vec!["update", "s1"]] {
        assert_eq!(codes(&d, &args), (Some(1), Some(1)), "{args:?}");
    }
    // port: nothing published, and the error for a port that is not.
    assert_eq!(d.bok(&["port", "s1"]), d.ok(&["port", "s1"]));
    for args in [vec!["port", "s1", "80"], vec!["port", "nope"]] {
        let (o, t) = (d.berth(&args), d.docker(&args));
        assert_eq!(
            (o.status.code(), stderr(&o)),
            (t.status.code(), stderr(&t)),
            "{args:?}"
        );
    }
}

#[test]
fn more_run_flags_reach_the_daemon_as_docker_sends_them() {
    prereqs!();
    let d = Daemon::start();
    let labels = d.dir.path().join("labels");
    std::fs::write(&labels, "# comment\nfrom=file\n").unwrap();
    let lf = labels.to_str().unwrap();
    let flags = [
        "--network",
        "none",
        "--health-cmd",
        "true",
        "--health-interval",
        "1m30s",
        "--health-timeout",
        "500ms",
        "--health-retries",
        "3",
        "--health-start-period",
        "2s",
        "--expose",
        "7000-7001/udp",
        "--add-host",
        "db:10.1.2.3",
        "--add-host",
        "web=10.1.2.4",
        "--dns",
        "10.0.0.53",
        "--dns-search",
        "example.test",
        "--dns-option",
        "ndots:2",
        "--cpus",
        "1.5",
        "-c",
        "512",
        "--cpuset-cpus",
        "0",
        "--memory",
        "64m",
        "--memory-swap",
        "-1",
        "--memory-reservation",
        "32m",
        "--shm-size",
        "16m",
        "--tmpfs",
        "/run:size=1m",
        "--mount",
        "type=tmpfs,target=/scratch,tmpfs-size=2m",
        "--mount",
        "type=bind,source=/tmp,target=/host,readonly",
        "--ulimit",
        "nofile=1024:2048",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--security-opt",
        "no-new-privileges",
        "--group-add",
        "10",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=1m",
        "--ipc",
        "private",
        "--label-file",
        lf,
        "--domainname",
        "dom",
        "--oom-score-adj",
        "-5",
    ];
    let create = |cli: &str, name: &str| {
        let mut args = vec!["create", "--name", name];
        args.extend(flags);
        args.extend([IMG, "true"]);
        let out = if cli == "berth" {
            d.berth(&args)
        } else {
            d.docker(&args)
        };
        assert!(out.status.success(), "{cli}: {}", stderr(&out));
    };
    create("berth", "fb");
    create("docker", "fd");
    // Both read back through docker, so only what each CLI sent can differ.
    for f in [
        "{{json .Config.Healthcheck}}",
        "{{json .Config.ExposedPorts}}",
        "{{json .Config.Labels}}",
        "{{.Config.Domainname}}",
        "{{json .HostConfig.ExtraHosts}} {{json .HostConfig.Dns}} {{json .HostConfig.DnsSearch}} {{json .HostConfig.DnsOptions}}",
        "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} {{.HostConfig.ShmSize}}",
        "{{json .HostConfig.Tmpfs}} {{json .HostConfig.Mounts}}",
        "{{json .HostConfig.Ulimits}} {{json .HostConfig.Sysctls}} {{json .HostConfig.SecurityOpt}} {{json .HostConfig.GroupAdd}}",
        "{{json .HostConfig.LogConfig}} {{.HostConfig.IpcMode}} {{.HostConfig.OomScoreAdj}}",
    ] {
        assert_eq!(d.inspect("fb", f), d.inspect("fd", f), "{f}");
    }
    // --cidfile: the ID lands in the file, and an existing file is refused.
    let cid = d.dir.path().join("cid");
    let c = cid.to_str().unwrap();
    let id = d.bok(&["create", "--cidfile", c, "--network", "none", IMG, "true"]);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    assert_eq!(
        d.berth(&["create", "--cidfile", c, "--network", "none", IMG, "true"])
            .status
            .code(),
        d.docker(&["create", "--cidfile", c, "--network", "none", IMG, "true"])
            .status
            .code()
    );
}

#[test]
fn pull_policy_env_files_and_commands_that_look_like_flags() {
    prereqs!();
    let d = Daemon::start();
    for args in [
        vec![
            "run",
            "--rm",
            "--pull",
            "never",
            "--network",
            "none",
            "nope:1",
            "true",
        ],
        vec!["create", "--pull", "bogus", IMG],
        vec![
            "run",
            "--rm",
            "--pull",
            "never",
            "--network",
            "none",
            IMG,
            "true",
        ],
    ] {
        assert_eq!(
            d.berth(&args).status.code(),
            d.docker(&args).status.code(),
            "{args:?}"
        );
    }
    // After the image everything is the command, even what looks like our flags.
    let args = [
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "sh",
        IMG,
        "-c",
        "echo $0",
        "-l",
    ];
    assert_eq!(d.bok(&args), d.ok(&args));
    assert_eq!(d.bok(&args), "-l");
    // exec --env-file
    let envf = d.dir.path().join("env");
    std::fs::write(&envf, "FROM_FILE=yes\n").unwrap();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "e1",
        "--network",
        "none",
        IMG,
        "sleep",
        "1000",
    ]);
    let args = [
        "exec",
        "--env-file",
        envf.to_str().unwrap(),
        "e1",
        "sh",
        "-c",
        "echo $FROM_FILE",
    ];
    assert_eq!(d.bok(&args), "yes");
    assert_eq!(d.bok(&args), d.ok(&args));
}

#[test]
fn system_df_verbose_lays_out_like_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["volume", "create", "dv"]);
    d.ok(&[
        "create",
        "--name",
        "dfc",
        "--network",
        "none",
        "-v",
        "dv:/data",
        IMG,
        "true",
    ]);
    let (ours, theirs) = (
        d.bok(&["system", "df", "-v"]),
        d.ok(&["system", "df", "-v"]),
    );
    // Cells like "Less than a second ago" may turn between the two calls (and widen a
    // column): compare the lines that carry no time, words only, and the count of all.
    let steady = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.contains(" ago"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(steady(&ours), steady(&theirs), "\n{ours}\n{theirs}");
    assert_eq!(
        ours.lines().count(),
        theirs.lines().count(),
        "\n{ours}\n{theirs}"
    );
    assert!(
        ours.contains("\nLocal Volumes space usage:\n\nVOLUME NAME"),
        "{ours}"
    );
}
