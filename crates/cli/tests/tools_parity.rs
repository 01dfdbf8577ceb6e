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
    assert_eq!(
        ours.lines().next(),
        theirs.lines().next(),
        "\n{ours}\n{theirs}"
    );
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
