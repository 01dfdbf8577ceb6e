//! Image endpoints through the stock docker CLI against berthd: history, tag, rmi, prune,
//! list filters, save/load, import with --change, commit.

mod common;

use common::{Daemon, IMG, stderr, stdout};

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

#[test]
fn history_tag_and_rmi_untag_delete_and_refuse_in_use_images() {
    if !common::have_prereqs() {
        return;
    }
    let t0 = unix_now() - 1;
    let d = Daemon::start();
    let hist = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        IMG,
    ]);
    assert_eq!(hist, "|Imported from -");
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", IMG]);
    // Every key of dockerd's image inspect is there, set or not.
    d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.Entrypoint}}{{.Config.Hostname}}{{.Container}}{{.ContainerConfig.Cmd}}{{.VirtualSize}}{{.GraphDriver.Name}}",
        IMG,
    ]);
    // Where its layer is on disk, as dockerd's overlay2 says (scripts read files there).
    let upper = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.GraphDriver.Data.UpperDir}}",
        IMG,
    ]);
    assert!(
        std::path::Path::new(&upper).join("bin/busybox").is_file(),
        "{upper}"
    );
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.GraphDriver.Data.LowerDir}}",
            IMG
        ]),
        "<no value>"
    );
    // A second layer: it is the UpperDir, the first one the LowerDir.
    d.ok(&[
        "run",
        "--name",
        "mk2",
        "--network",
        "none",
        IMG,
        "touch",
        "/second",
    ]);
    d.ok(&["commit", "mk2", "two:1"]);
    let dirs = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.GraphDriver.Data.UpperDir}} {{.GraphDriver.Data.LowerDir}}",
        "two:1",
    ]);
    let (upper2, lower2) = dirs.split_once(' ').unwrap();
    assert!(
        std::path::Path::new(upper2).join("second").is_file(),
        "{dirs}"
    );
    assert_eq!(lower2, upper, "{dirs}");
    d.ok(&["rm", "mk2"]);
    d.ok(&["rmi", "two:1"]);

    d.ok(&["tag", IMG, "other:1"]);
    d.ok(&["tag", IMG, "localhost:5000/ns/other"]);
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", "other:1"]), id);
    let tags = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    for t in ["bbtest:latest", "other:1", "localhost:5000/ns/other:latest"] {
        assert!(tags.contains(t), "{tags}");
    }
    // A bad tag is a 400 with Docker's wording of the reason.
    assert!(!d.docker(&["tag", IMG, "UPPER:1"]).status.success());
    assert!(stderr(&d.docker(&["tag", "nosuch", "x:1"])).contains("No such image"));

    // Removing one of several tags only untags.
    assert_eq!(d.ok(&["rmi", "other:1"]), "Untagged: other:1");
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", IMG]), id);
    // By ID with several tags: refused unless forced.
    let out = d.docker(&["rmi", &id[7..19]]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("referenced in multiple repositories"),
        "{}",
        stderr(&out)
    );

    // An image a stopped container uses: 409 without force (dockerd's wording); forced,
    // the image goes but the container keeps its layers and still starts.
    d.ok(&["create", "--network", "none", "--name", "user", IMG, "true"]);
    d.ok(&["rmi", "localhost:5000/ns/other"]);
    let out = d.docker(&["rmi", IMG]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "conflict: unable to remove repository reference \"{IMG}\" (must force) - container"
        )),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&d.docker(&["rmi", &id[7..19]]))
            .contains("image is being used by stopped container")
    );
    assert_eq!(
        d.ok(&["rmi", "-f", IMG]),
        format!("Untagged: bbtest:latest\nDeleted: {id}")
    );
    assert_eq!(d.inspect("user", "{{.Image}}"), id);
    assert_eq!(d.ok(&["images", "-q"]), "");
    d.ok(&["start", "-a", "user"]);

    // A running container's image: even forced, only its tag goes.
    let tar = common::busybox_tarball(d.dir.path());
    let id2 = d.ok(&["import", tar.to_str().unwrap(), "again:1"]);
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "runner",
        "again:1",
        "sleep",
        "100",
    ]);
    let out = d.docker(&["rmi", "-f", &id2]);
    assert!(
        stderr(&out).contains("(cannot be forced) - image is being used by running container"),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.ok(&["rmi", "-f", "again:1"]), "Untagged: again:1");
    assert_eq!(
        d.ok(&["images", "-q", "--no-trunc", "-f", "dangling=true"]),
        id2
    );
    // Once the container is gone, prune deletes the dangling image.
    d.ok(&["rm", "-f", "runner"]);
    let out = d.ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {id2}")), "{out}");
    assert_eq!(d.ok(&["images", "-q"]), "");
    assert!(stderr(&d.docker(&["rmi", "nosuch"])).contains("No such image: nosuch:latest"));

    let ev = d.ok(&[
        "events",
        "--since",
        &t0.to_string(),
        "--until",
        &(unix_now() + 1).to_string(),
        "--filter",
        "type=image",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    // dockerd names the image of an untag by its ID, not by the tag removed.
    for want in [
        "import bbtest:latest",
        "tag other:1",
        &format!("untag {id}"),
        &format!("delete {id}"),
    ] {
        assert!(ev.contains(want), "{want} missing from:\n{ev}");
    }
    assert!(!ev.contains("untag other:1"), "{ev}");
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn image_list_filters_and_prune_all() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let tar = common::busybox_tarball(d.dir.path());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    d.ok(&[
        "import",
        "--change",
        "LABEL team=blue tier=1",
        tar.to_str().unwrap(),
        "labelled:1",
    ]);
    let names = |args: &[&str]| {
        let mut a = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        a.extend_from_slice(args);
        let mut v = lines(&d.ok(&a));
        v.sort();
        v
    };
    assert_eq!(names(&["-f", "reference=label*"]), ["labelled:1"]);
    assert_eq!(names(&["-f", "reference=bbtest:latest"]), ["bbtest:latest"]);
    assert_eq!(names(&["-f", "label=team=blue"]), ["labelled:1"]);
    assert_eq!(names(&["-f", "label=team=red"]), Vec::<String>::new());
    assert_eq!(names(&["-f", "since=bbtest"]), ["labelled:1"]);
    assert_eq!(names(&["-f", "before=labelled:1"]), ["bbtest:latest"]);
    assert_eq!(names(&["-f", "dangling=false"]).len(), 2);
    assert_eq!(names(&["-a"]).len(), 2);
    assert!(!d.docker(&["images", "-f", "since=nosuch"]).status.success());

    // prune -a: every image no container uses, narrowed by label.
    d.ok(&["create", "--network", "none", "--name", "keep", IMG, "true"]);
    let out = d.ok(&["image", "prune", "-a", "-f", "--filter", "label=team=red"]);
    assert!(!out.contains("deleted"), "{out}");
    let out = d.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: labelled:1"), "{out}");
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(names(&[]), ["bbtest:latest"]);
}

#[test]
fn save_then_load_round_trips_images_and_tags() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["tag", IMG, "saved:1"]);
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", IMG]);
    let file = d.dir.path().join("images.tar");
    d.ok(&["save", "-o", file.to_str().unwrap(), IMG, "saved:1"]);
    assert!(std::fs::metadata(&file).unwrap().len() > 100_000);
    d.ok(&["rmi", IMG, "saved:1"]);
    assert_eq!(d.ok(&["images", "-q"]), "");
    let out = d.ok(&["load", "-i", file.to_str().unwrap()]);
    assert!(out.contains("Loaded image: bbtest:latest"), "{out}");
    assert!(out.contains("Loaded image: saved:1"), "{out}");
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", "saved:1"]), id);
    assert_eq!(
        d.ok(&["run", "--network", "none", "--rm", "saved:1", "echo", "ok"]),
        "ok"
    );

    // Through stdin/stdout, and by ID (which loads untagged, as Docker's does).
    let out = d.docker(&["save", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tar = out.stdout;
    d.ok(&["rmi", IMG, "saved:1"]);
    let out = d.docker_stdin(&["load"], Some(&tar));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("Loaded image ID: {id}")),
        "{}",
        stdout(&out)
    );
    assert_eq!(d.ok(&["images", "-q", "--no-trunc"]), id);

    assert!(stderr(&d.docker(&["save", "nosuch:1"])).contains("No such image"));
    let out = d.docker_stdin(&["load"], Some(b"not a tar at all"));
    assert!(!out.status.success());
}

#[test]
fn import_applies_changes_and_message() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let tar = common::busybox_tarball(d.dir.path());
    d.ok(&[
        "import",
        "-m",
        "from a tarball",
        "--change",
        "CMD [\"sh\", \"-c\", \"echo $GREETING from $(pwd) as $(id -u)\"]",
        "--change",
        "ENV GREETING=hello",
        "--change",
        "WORKDIR /tmp",
        "--change",
        "USER 1000",
        "--change",
        "LABEL purpose=test",
        "--change",
        "EXPOSE 8080",
        "--change",
        "VOLUME /data",
        "--change",
        "ENTRYPOINT []",
        tar.to_str().unwrap(),
        "imp:1",
    ]);
    let f = |fmt: &str| d.ok(&["image", "inspect", "-f", fmt, "imp:1"]);
    assert_eq!(f("{{.Comment}}"), "from a tarball");
    assert_eq!(f("{{json .Config.Env}}"), r#"["GREETING=hello"]"#);
    assert_eq!(f("{{.Config.WorkingDir}}|{{.Config.User}}"), "/tmp|1000");
    assert_eq!(f("{{json .Config.Labels}}"), r#"{"purpose":"test"}"#);
    assert_eq!(f("{{json .Config.ExposedPorts}}"), r#"{"8080/tcp":{}}"#);
    assert_eq!(f("{{json .Config.Volumes}}"), r#"{"/data":{}}"#);
    assert_eq!(
        d.ok(&["run", "--network", "none", "--rm", "imp:1"]),
        "hello from /tmp as 1000"
    );
    let out = d.docker(&[
        "import",
        "--change",
        "FROM x",
        tar.to_str().unwrap(),
        "bad:1",
    ]);
    assert!(!out.status.success());
}

#[test]
fn commit_records_changes_author_and_message_and_runs() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "c1",
        "-e",
        "FOO=bar",
        IMG,
        "sh",
        "-c",
        "echo hello > /greeting",
    ]);
    let id = d.ok(&[
        "commit",
        "-a",
        "Jane <jane@example.com>",
        "-m",
        "add greeting",
        "--change",
        "CMD [\"cat\", \"/greeting\"]",
        "--change",
        "LABEL committed=yes",
        "c1",
        "committed:1",
    ]);
    assert!(id.starts_with("sha256:"), "{id}");
    let f = |fmt: &str| d.ok(&["image", "inspect", "-f", fmt, "committed:1"]);
    assert_eq!(f("{{.Author}}"), "Jane <jane@example.com>");
    assert_eq!(f("{{.Comment}}"), "add greeting");
    assert_eq!(f("{{.Config.Labels.committed}}"), "yes");
    assert!(
        f("{{json .Config.Env}}").contains("FOO=bar"),
        "the container's config is kept"
    );
    assert_eq!(f("{{len .RootFS.Layers}}"), "2");
    // Its parent is the container's image: inspect and history show it, as dockerd's do.
    let base = d.ok(&["image", "inspect", "-f", "{{.Id}}", IMG]);
    assert_eq!(f("{{.Parent}}"), base);
    assert_eq!(
        lines(&d.ok(&["history", "-q", "--no-trunc", "committed:1"])),
        [id.clone(), base]
    );
    assert_eq!(
        d.ok(&["run", "--network", "none", "--rm", "committed:1"]),
        "hello"
    );
    let hist = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        "committed:1",
    ]);
    assert_eq!(lines(&hist)[0], "sh -c echo hello > /greeting|add greeting");

    // A running container is paused for the commit and keeps running.
    d.ok(&[
        "run",
        "--network",
        "none",
        "-d",
        "--name",
        "r1",
        IMG,
        "sleep",
        "100",
    ]);
    d.ok(&["exec", "r1", "sh", "-c", "echo live > /state; rm /bin/true"]);
    let id2 = d.ok(&["commit", "r1"]);
    assert_eq!(d.inspect("r1", "{{.State.Status}}"), "running");
    assert_eq!(
        d.ok(&["run", "--network", "none", "--rm", &id2, "cat", "/state"]),
        "live"
    );
    // Deletions travel as whiteouts.
    let out = d.docker(&["run", "--network", "none", "--rm", &id2, "ls", "/bin/true"]);
    assert!(!out.status.success());
    assert!(stderr(&d.docker(&["commit", "nosuch"])).contains("No such container"));
    assert!(
        !d.docker(&["commit", "--change", "BOGUS x", "c1"])
            .status
            .success()
    );
}

#[path = "common/registry.rs"]
mod registry;

#[test]
fn login_push_and_pull_back_through_a_password_protected_registry() {
    if !common::have_prereqs() || !registry::available(true) {
        return;
    }
    let reg = registry::start(Some(("alice", "s3cret")));
    let d = Daemon::start();
    let name = format!("{}/test/bb:1", reg.addr);
    d.ok(&["tag", IMG, &name]);
    // Anonymous push: refused by the registry.
    let out = d.docker(&["push", &name]);
    assert!(!out.status.success(), "{}", stdout(&out));

    let bad = d.docker_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.addr],
        Some(b"wrong\n"),
    );
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("unauthorized"), "{}", stderr(&bad));
    let out = d.docker_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.addr],
        Some(b"s3cret\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Login Succeeded"), "{}", stdout(&out));

    let out = d.ok(&["push", &name]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/test/bb]",
            reg.addr
        )),
        "{out}"
    );
    assert!(out.contains("Pushed"), "{out}");
    assert!(out.contains("1: digest: sha256:"), "{out}");
    // Pushed again: every layer is there already.
    assert!(d.ok(&["push", &name]).contains("Layer already exists"));
    let digest = d.ok(&["image", "inspect", "-f", "{{index .RepoDigests 0}}", &name]);
    assert!(
        digest.starts_with(&format!("{}/test/bb@sha256:", reg.addr)),
        "{digest}"
    );

    d.ok(&["rmi", &name]);
    d.ok(&["rmi", IMG]);
    assert_eq!(d.ok(&["images", "-q"]), "");
    let out = d.ok(&["pull", &name]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert_eq!(
        d.ok(&["run", "--network", "none", "--rm", &name, "echo", "pulled"]),
        "pulled"
    );
    // Without the credentials the registry refuses the pull.
    d.ok(&["logout", &reg.addr]);
    d.ok(&["rmi", &name]);
    assert!(!d.docker(&["pull", &name]).status.success());
    // A push of a tag that does not exist locally.
    let out = d.docker(&["push", &format!("{}/test/none:1", reg.addr)]);
    assert!(
        stderr(&out).contains("does not exist locally"),
        "{}",
        stderr(&out)
    );
}

/// What a crash leaves in the image store (a blob no image references, from a load or a
/// pull cut short) is collected when berthd starts; images and containers keep theirs.
#[test]
fn unreferenced_blobs_left_by_a_crash_go_at_start() {
    if !common::have_prereqs() {
        return;
    }
    let mut d = Daemon::start();
    d.ok(&["create", "--name", "keep", "--network", "none", IMG, "true"]);
    let dir = d.data.join("content/blobs/sha256");
    let count = |dir: &std::path::Path| std::fs::read_dir(dir).unwrap().count();
    let before = count(&dir);
    d.kill9();
    let stray = dir.join("ab".repeat(32));
    std::fs::write(&stray, b"left by a load cut short").unwrap();
    d.spawn();
    assert!(
        d.eventually(10, || !stray.exists()),
        "the stray blob stayed"
    );
    assert_eq!(count(&dir), before, "only the stray blob went");
    d.ok(&["start", "-a", "keep"]);
    d.ok(&["run", "--rm", "--network", "none", IMG, "true"]);
}

/// A layer's size is its content's, as dockerd's graphdrivers count it (the files' sizes,
/// symlinks by their target's length, directories not counted), not its tar's: a commit of
/// one 62-byte file shows 62B in `history` (dockerd 20.10 shows the same), and the image
/// sizes of `image inspect` and `system df` add up from those.
#[test]
fn history_and_image_sizes_count_layer_content_as_dockerd() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    // The imported busybox layer, counted from the tarball berthd was given.
    let tarball = common::busybox_tarball(d.dir.path());
    let mut base = 0u64;
    let mut ar = tar::Archive::new(std::fs::File::open(&tarball).unwrap());
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        base += match h.entry_type() {
            tar::EntryType::Regular => h.size().unwrap(),
            tar::EntryType::Symlink => e.link_name_bytes().unwrap().len() as u64,
            _ => 0,
        };
    }
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Size}}", IMG]),
        base.to_string()
    );
    let line = "0123456789012345678901234567890123456789012345678901234567890";
    d.ok(&[
        "run",
        "--name",
        "one-file",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        &format!("echo {line} > /f"),
    ]);
    d.ok(&["commit", "one-file", "onefile:1"]);
    let sizes = d.ok(&["history", "--format", "{{.Size}}", "onefile:1"]);
    assert_eq!(sizes.lines().next(), Some("62B"), "{sizes}");
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Size}}", "onefile:1"]),
        (base + 62).to_string()
    );
    let df = d.ok(&["system", "df", "--format", "{{.Type}}|{{.Size}}"]);
    // The docker CLI's `units.HumanSize`: decimal units, four significant digits.
    let human = |n: u64| {
        let (mut v, mut unit) = (n as f64, 0);
        while v >= 1000.0 && unit < 4 {
            v /= 1000.0;
            unit += 1;
        }
        let decimals = 4usize.saturating_sub((v.trunc() as u64).to_string().len());
        let mut s = format!("{v:.decimals$}");
        if s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
        }
        format!("{s}{}", ["B", "kB", "MB", "GB", "TB"][unit])
    };
    assert!(
        df.lines()
            .any(|l| l == format!("Images|{}", human(base + 62))),
        "{df} (want {})",
        human(base + 62)
    );
    assert!(df.lines().any(|l| l == "Containers|62B"), "{df}");
}
