//! berth and the stock docker CLI against one berthd, for everyday commands' edge cases
//! (bad flag values, references, port forms, ...): the same command through both, with
//! stdout, stderr (the program's name aside) and the exit code compared.

mod common;

use common::{Daemon, IMG, same_all, same_all_clocked};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

#[test]
fn update_port_commit_import_and_images_digests_answer_like_docker() {
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
    let tar = common::busybox_tar(d.dir.path()).display().to_string();
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
        vec!["tag", "", "x"],
        vec!["tag", "Bad", "x"],
        vec!["push", "Bad"],
        vec!["push", "a@@b"],
        vec!["pull", &short],
        // import: the source is opened first, then the name checked.
        vec!["import", &tar, "Bad:x"],
        vec!["import", &tar, "x@sha256:abc"],
        vec!["import", "/nonexistent.tar", "Bad"],
        // images --digests: a table without the digest gets its column.
        vec![
            "images",
            "--digests",
            "--format",
            "table {{.Repository}}\t{{.Tag}}",
        ],
        vec!["images", "--digests", "--format", "table {{.Digest}}"],
        vec!["images", "--digests", "--format", "{{.Repository}}"],
    ] {
        same_all(&d, &args);
    }
    // The default columns include CREATED ("N seconds ago").
    same_all_clocked(&d, &["images", "--digests", "--format", "table"]);
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

/// Each file under `dir`: its relative path, kind and size.
fn tree(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            out.push(format!("{rel} {:?} {}", m.file_type(), m.len()));
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn cp_asserted_directories_and_followed_links_work_like_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "k1",
        IMG,
        "sh",
        "-c",
        "mkdir -p /tmp/d; echo x > /tmp/t; ln -s /tmp/t /tmp/l; ln -s d /tmp/ld; echo y > /tmp/d/f",
    ]);
    let dir = d.dir.path().join("cp");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/f"), "data").unwrap();
    std::os::unix::fs::symlink("/nonexistent-cp-target", dir.join("src/dangling")).unwrap();
    std::os::unix::fs::symlink("dangling", dir.join("src/chain")).unwrap();
    let p = |s: &str| dir.join(s).display().to_string();
    let (f, dangling, chain) = (p("src/f"), p("src/dangling"), p("src/chain"));
    let (missing_dir, missing_dot) = (p("nodir/"), p("nodir/."));
    for args in [
        // A file cannot make a missing directory; DIR/. needs DIR.
        vec!["cp", "k1:/tmp/t", &missing_dir],
        vec!["cp", "k1:/tmp/t", &missing_dot],
        vec!["cp", &f, "k1:/nodir/"],
        vec!["cp", &f, "k1:/nodir/."],
        // A source that asserts a directory must be one; -L names the missing target.
        vec!["cp", &format!("{f}/"), "k1:/x"],
        vec!["cp", "-L", &dangling, "k1:/x"],
        vec!["cp", "-L", &chain, "k1:/x"],
    ] {
        same_all(&d, &args);
    }
    // A directory may go to a missing path that asserts one (it is renamed); a link
    // followed with -L keeps the link's name.
    for (src, dest) in [
        ("k1:/tmp/d", "new/"),
        ("k1:/tmp/l", ""),
        ("k1:/tmp/ld", ""),
        ("k1:/tmp/ld/.", ""),
    ] {
        let (ours, theirs) = (dir.join("ours"), dir.join("theirs"));
        for o in [&ours, &theirs] {
            let _ = std::fs::remove_dir_all(o);
            std::fs::create_dir_all(o).unwrap();
        }
        let to = |o: &std::path::Path| format!("{}/{dest}", o.display());
        d.bok(&["cp", "-L", src, &to(&ours)]);
        d.ok(&["cp", "-L", src, &to(&theirs)]);
        assert_eq!(tree(&ours), tree(&theirs), "cp -L {src} {dest}");
    }
}

#[test]
fn inspect_format_json_is_compact_like_dockers_json_inspector() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["create", "--name", "j1", IMG, "true"]);
    d.ok(&["volume", "create", "jv1"]);
    d.ok(&["network", "create", "jn1"]);
    for args in [
        vec!["inspect", "--format", "json", "j1"],
        vec!["inspect", "-f", "json", IMG, "jv1", "j1", "jn1"],
        vec!["inspect", "-s", "-f", "json", "j1"],
        vec!["container", "inspect", "-f", "json", "j1", "nope"],
        vec!["image", "inspect", "-f", "json", IMG],
        vec!["volume", "inspect", "-f", "json", "jv1"],
        vec!["network", "inspect", "-f", "json", "jn1"],
        vec!["inspect", "-f", "json", "nope"],
    ] {
        same_all(&d, &args);
    }
}

#[test]
fn network_prune_keeps_networks_newer_than_until_and_refuses_a_bad_until() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["network", "create", "--label", "keep=1", "pn1"]);
    d.ok(&["network", "create", "pn2"]);
    for args in [
        vec!["network", "prune", "-f", "--filter", "until=bad"],
        vec!["network", "prune", "-f", "--filter", "until=1h"],
    ] {
        same_all(&d, &args);
    }
    // label!: pn2 goes (made again for docker's turn), pn1 stays.
    let args = ["network", "prune", "-f", "--filter", "label!=keep"];
    let ours = d.bok(&args);
    d.ok(&["network", "create", "pn2"]);
    assert_eq!(ours, d.ok(&args));
    assert_eq!(ours, "Deleted Networks:\npn2");
    assert_eq!(
        d.ok(&["network", "ls", "-q", "-f", "name=pn"])
            .lines()
            .count(),
        1
    );
}

#[test]
fn global_debug_log_level_and_config_options_are_taken_like_docker() {
    prereqs!();
    let d = Daemon::start();
    let cfg = d.subdir("cfg");
    for args in [
        vec!["-D", "ps", "-q"],
        vec!["--debug", "version", "--format", "{{.Server.Version}}"],
        vec!["-l", "debug", "ps", "-q"],
        vec!["--log-level", "WARN", "images", "-q"],
        vec!["--log-level", "bogus", "ps"],
        vec!["--config", &cfg, "ps", "-q"],
        // (global options only go before the command)
        vec!["ps", "-D"],
        vec!["ps", "-l", "debug"],
        // bad global flags: pflag's messages with the program's usage line
        vec!["-H"],
        vec!["--config"],
        vec!["--log-level"],
        vec!["--bogus"],
        vec!["-Z"],
        vec!["--bogus=1", "ps"],
        vec!["-Z", "ps"],
        vec!["-D", "ps", "--bogus"],
    ] {
        same_all(&d, &args);
    }
    // `help` after global options with values.
    let args = ["-l", "error", "--config", &cfg, "help", "ps"];
    assert_eq!(
        common::stdout(&d.berth(&args)).replace("berth", "docker"),
        common::stdout(&d.docker(&args))
    );
    // --config is where logout finds the credentials.
    std::fs::write(
        format!("{cfg}/config.json"),
        r#"{"auths":{"localhost:5999":{"auth":"dTpw"}}}"#,
    )
    .unwrap();
    d.bok(&["--config", &cfg, "logout", "localhost:5999"]);
    let left = std::fs::read_to_string(format!("{cfg}/config.json")).unwrap();
    assert!(!left.contains("localhost:5999"), "{left}");
}

#[test]
fn env_and_label_files_and_flags_are_checked_like_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "v1", IMG, "sleep", "1000"]);
    let dir = d.dir.path().join("envs");
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, body: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };
    let files = [
        "/nonexistent.env".to_owned(),
        dir.display().to_string(),
        file("space", b"A B=1\n"),
        file("noname", b"=1\n"),
        file("trailing", b"C =x\n"),
        file("utf8", b"A=\xff\n"),
        file("good", b"\xef\xbb\xbfA=1\r\n  B= x \n\tPATH\n  #c\n"),
    ];
    for f in &files {
        same_all(
            &d,
            &[
                "exec",
                "--env-file",
                f,
                "v1",
                "sh",
                "-c",
                "echo \"[$A][$B]\"",
            ],
        );
        same_all(
            &d,
            &[
                "run",
                "--rm",
                "--env-file",
                f,
                IMG,
                "sh",
                "-c",
                "echo \"[$A]\"",
            ],
        );
    }
    // Label files are read the same way; a name alone is no label there.
    for f in &files[..6] {
        same_all(&d, &["create", "--label-file", f, IMG, "true"]);
    }
    let labels = file("labels", b"a=1 \n  b\nc=3\n");
    let later = file("later", b"c=4\n");
    for name in ["l1", "l2"] {
        let args = ["create", "--name", name, "--label-file", &labels];
        let args = [
            &args[..],
            &["--label-file", &later, "-l", "x=9", IMG, "true"],
        ]
        .concat();
        if name == "l1" {
            d.bok(&args);
        } else {
            d.ok(&args);
        }
    }
    assert_eq!(
        d.inspect("l1", "{{json .Config.Labels}}"),
        d.inspect("l2", "{{json .Config.Labels}}")
    );
    for args in [
        vec!["create", "-l", "=x", IMG],
        vec!["volume", "create", "--label", "=x", "lv"],
        vec!["network", "create", "--label", "=x", "ln"],
    ] {
        same_all(&d, &args);
    }
    for e in ["=x", ""] {
        same_all(&d, &["exec", "-e", e, "v1", "true"]);
        same_all(&d, &["run", "--rm", "-e", e, IMG, "true"]);
        same_all(&d, &["create", "-e", e, IMG]);
    }
}

#[test]
fn run_and_create_option_values_are_checked_like_docker() {
    prereqs!();
    let d = Daemon::start();
    let cases: &[&[&str]] = &[
        // flag errors: usage, 125
        &["--add-host", "bad"],
        &["--add-host", "a:b"],
        &["--add-host", "=1.2.3.4"],
        &["--dns", "bad"],
        &["--sysctl", "bad"],
        &["--sysctl", "kernel.foo=1"],
        &["--ulimit", "bad"],
        &["--ulimit", "nofile=x"],
        &["--ulimit", "foo=1"],
        &["--ulimit", "nofile=1:2:3"],
        &["--ulimit", "nofile=5:2"],
        &["--mount", "bad"],
        &["--mount", "type=bind"],
        &["--link", "a:b:c"],
        &["--health-interval", "x"],
        &["--health-timeout", "1q"],
        &["--health-start-period", "1"],
        &["--health-interval", "1.5.5s"],
        // the options' own checks: docker: ..., 125
        &["--platform", "bad"],
        &["--platform", "linux/a%b"],
        &["--platform", "a/b/c/d"],
        &["--health-interval", "-1s"],
        &["--health-retries", "-1"],
        &["--storage-opt", "bad"],
        &["--mac-address", "bad"],
        &["--pid", "bad"],
        &["--pid", "container:"],
        &["--uts", "bad"],
        &["--userns", "bad"],
        &["--cgroupns", "bad"],
        &["--memory-swappiness", "200"],
        &["--security-opt", "bad"],
        &["--device", "bad:x:y:z"],
        &["--device", ":/dev/x"],
        &["--device", "/dev/null:rel"],
        &["--device", "/dev/null:/dev/x:q"],
        &["--device", "/dev/null:/dev/x:rr"],
        &["--device", "rel"],
        &["--expose", "x"],
        &["--expose", "99999"],
        &["--expose", "5-3"],
        &["--expose", "1:2"],
        &["--expose", "1-x"],
        // the ID file is made first: no container without it
        &["--cidfile", "/nonexistent-dir/cid"],
    ];
    for extra in cases {
        for verb in ["create", "run"] {
            let args = [&[verb][..], extra, &["--rm", IMG, "true"]].concat();
            let args = if verb == "create" {
                args.into_iter().filter(|a| *a != "--rm").collect()
            } else {
                args
            };
            same_all(&d, &args);
        }
    }
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    // -v as the compose loader reads it: relative host paths made absolute, anonymous
    // volumes (drive letters and all), its errors.
    for v in ["/a:/b:/c:/d", ":/x", "/x:", ""] {
        same_all(&d, &["create", "-v", v, IMG, "true"]);
    }
    for (i, v) in [
        ".:/y",
        "./src:/y:ro",
        "../cli/src:/y",
        "a:b",
        "::",
        "vol:/data",
        "/data",
    ]
    .into_iter()
    .enumerate()
    {
        let (ours, theirs) = (format!("vb{i}"), format!("vd{i}"));
        d.bok(&["create", "--name", &ours, "-v", v, IMG, "true"]);
        d.ok(&["create", "--name", &theirs, "-v", v, IMG, "true"]);
        let f = "{{json .HostConfig.Binds}} {{json .Config.Volumes}}";
        assert_eq!(d.inspect(&ours, f), d.inspect(&theirs, f), "-v {v}");
    }
    for (i, m) in [
        "type=bind,src=./src,dst=/x",
        "type=bind,source=..,dst=/x,readonly",
        "src=./v,dst=/x",
        "type=volume,src=v,dst=/x",
    ]
    .into_iter()
    .enumerate()
    {
        let (ours, theirs) = (format!("mb{i}"), format!("md{i}"));
        d.bok(&["create", "--name", &ours, "--mount", m, IMG, "true"]);
        d.ok(&["create", "--name", &theirs, "--mount", m, IMG, "true"]);
        let f = "{{json .HostConfig.Mounts}}";
        assert_eq!(d.inspect(&ours, f), d.inspect(&theirs, f), "--mount {m}");
    }
    // The daemon's message trimmed, as docker's client trims it.
    same_all(&d, &["run", "--rm", "--group-add", "", IMG, "true"]);
    // A loopback name server is warned about, as the daemon will write it.
    for dns in ["127.0.0.1", "::1", "fe80::1", "1.1.1.1"] {
        same_all(&d, &["run", "--rm", "--dns", dns, IMG, "true"]);
    }
}

#[test]
fn boolean_flags_take_go_bool_values_like_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["create", "--name", "b1", IMG, "true"]);
    for args in [
        vec!["ps", "-a=false", "-q", "-f", "name=b1"],
        vec!["ps", "--all=true", "-q", "-f", "name=b1"],
        vec![
            "container",
            "ls",
            "-a=T",
            "--no-trunc=0",
            "-f",
            "name=b1",
            "--format",
            "{{.Names}}",
        ],
        vec!["ps", "-a=x"],
        vec!["run", "--rm=x", IMG, "true"],
        vec!["run", "--init=maybe", IMG, "true"],
        vec![
            "run",
            "--rm=true",
            "--privileged=false",
            IMG,
            "echo",
            "-a=x",
        ],
        vec!["run", "--rm", "-d=false", "-t=0", IMG, "ls", "-a=x", "/"],
        vec!["rm", "-f=x", "nope"],
        vec!["logs", "-f=false", "-t=x", "b1"],
        vec!["--debug=true", "ps", "-q", "-f", "name=b1"],
        vec![
            "-l",
            "info",
            "--debug=false",
            "images",
            "-a=1",
            "-q",
            "-f",
            "reference=nope",
        ],
    ] {
        same_all(&d, &args);
    }
}

#[test]
fn rm_trims_slashes_and_stop_takes_the_deprecated_time_like_docker() {
    prereqs!();
    let d = Daemon::start();
    for args in [
        vec!["rm", "/"],
        vec!["rm", "//nope//"],
        vec!["rm", "-f", "/", "nope"],
        vec!["rm", "/", "nope", "nope2"],
        vec!["stop", "--time", "1", "nope"],
        vec!["restart", "--time", "1", "nope"],
        vec!["stop", "-t", "1", "--time", "2", "nope"],
    ] {
        same_all(&d, &args);
    }
    for name in ["s1", "s2"] {
        d.ok(&["create", "--name", name, IMG, "true"]);
    }
    let (ours, theirs) = (d.berth(&["rm", "/s1/"]), d.docker(&["rm", "/s2/"]));
    assert_eq!(common::stdout(&ours), "/s1/\n");
    assert_eq!(common::stdout(&theirs), "/s2/\n");
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
fn builder_prune_forgets_the_build_cache_like_docker_builder_prune() {
    prereqs!();
    let d = Daemon::start();
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {IMG}\nRUN echo x > /x\nCMD [\"cat\", \"/x\"]\n"),
    )
    .unwrap();
    let c = ctx.to_str().unwrap();
    let build = || {
        let o = d.berth(&["build", "--network", "none", "-t", "pr:1", c]);
        assert!(o.status.success(), "{}", common::stderr(&o));
        common::stdout(&o)
    };
    build();
    assert!(build().contains("Using cache"));
    // Both CLIs: the cache records listed, then the total; the next build runs every step.
    for cli in ["berth", "docker"] {
        let o = if cli == "berth" {
            d.berth(&["builder", "prune", "-f"])
        } else {
            d.docker(&["builder", "prune", "-f"])
        };
        let out = common::stdout(&o);
        assert!(o.status.success(), "{cli}: {}", common::stderr(&o));
        assert!(
            out.starts_with("Deleted build cache objects:\n"),
            "{cli}: {out}"
        );
        assert_eq!(out.lines().count(), 2 + 2 + 1, "{cli}: {out}");
        assert!(
            out.ends_with("\nTotal reclaimed space: 0B\n"),
            "{cli}: {out}"
        );
        assert!(!build().contains("Using cache"), "{cli}");
    }
    // Nothing left to forget: the same short answer; and the same usage errors.
    assert!(d.docker(&["builder", "prune", "-f"]).status.success());
    for args in [
        &["builder", "prune", "-f", "-a"][..],
        &["builder", "prune", "extra"],
        &["builder", "prune", "--keep-storage", "lots", "-f"],
    ] {
        let (ours, theirs) = (d.berth(args), d.docker(args));
        assert_eq!(common::stdout(&ours), common::stdout(&theirs), "{args:?}");
        // (docker prints its legacy-builder deprecation notice first; berth has no other)
        let notice_end = "https://docs.docker.com/go/buildx/\n\n";
        let t = common::stderr(&theirs);
        let t = t
            .split_once(notice_end)
            .map_or(t.as_str(), |(_, rest)| rest);
        assert_eq!(
            common::stderr(&ours).replace("berth", "docker"),
            t,
            "{args:?}"
        );
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
    }
}

#[test]
fn empty_names_are_refused_by_the_client_like_dockers() {
    prereqs!();
    let d = Daemon::start();
    for args in [
        &["inspect", ""][..],
        &["inspect", IMG, "", "-f", "{{.Os}}"],
        &["container", "inspect", ""],
        &["image", "inspect", ""],
        &["volume", "inspect", ""],
        &["network", "inspect", ""],
        &["logs", ""],
        &["start", ""],
        &["stop", " "],
        &["exec", "", "ls"],
        &["kill", ""],
        &["wait", ""],
        &["top", ""],
        &["diff", ""],
        &["export", ""],
        &["commit", ""],
        &["update", "--cpus", "1", ""],
        &["volume", "rm", ""],
        &["network", "rm", ""],
        &["network", "connect", "bridge", ""],
        &["network", "disconnect", "bridge", " "],
    ] {
        same_all(&d, args);
    }
}

#[test]
fn run_option_checks_and_conflicts_answer_like_docker() {
    prereqs!();
    let d = Daemon::start();
    let tmp = d.dir.path().display().to_string();
    let bind = |rest: &str| format!("type=bind,src={tmp},dst=/x{rest}");
    let (bogus, ro, rrec) = (
        bind(",bogus=1"),
        bind(",readonly=maybe"),
        bind(",bind-recursive=readonly,ro"),
    );
    for args in [
        // --mount: docker's MountOpt words
        vec!["run", "--rm", "--mount", &bogus, IMG, "true"],
        vec!["run", "--rm", "--mount", &ro, IMG, "true"],
        vec!["run", "--rm", "--mount", &rrec, IMG, "true"],
        vec!["run", "--mount", "type=tmpfs,dst=/x,tmpfs-size=abc", IMG],
        vec!["run", "--mount", "type=tmpfs,dst=/x,tmpfs-mode=9", IMG],
        vec!["run", "--mount", "type=tmpfs,dst=/x,volume-nocopy", IMG],
        vec!["run", "--mount", "type=volume,dst=/x,volume-nocopy=x", IMG],
        vec!["run", "--mount", "type=,dst=/x", IMG],
        vec!["run", "--mount", "", IMG],
        vec!["run", "--mount", "type=bind,bind-create-src", IMG],
        vec!["run", "--rm", "--mount", "TYPE=tmpfs,dst=/x", IMG, "true"],
        // --gpus
        vec!["run", "--gpus", "bad", IMG],
        vec!["run", "--gpus", "count=2,count=3", IMG],
        vec!["run", "--gpus", "x=1", IMG],
        vec!["run", "--gpus", "", IMG],
        vec!["run", "--gpus", "99999999999999999999", IMG],
        vec!["run", "--device-cgroup-rule", "bad", IMG],
        vec!["run", "--device-cgroup-rule", "c 1:3 rwmm", IMG],
        // -a and -d, health and logging conflicts
        vec!["run", "-a", "bogus", IMG, "true"],
        vec!["run", "-d", "-a", "stdout", IMG, "true"],
        vec!["run", "--attach", "stdin", "--detach", IMG, "true"],
        vec!["run", "--health-cmd", "true", "--no-healthcheck", IMG],
        vec!["run", "--health-interval", "1s", "--no-healthcheck", IMG],
        vec![
            "run",
            "--log-driver",
            "none",
            "--log-opt",
            "max-size=1m",
            IMG,
        ],
        // an empty --cidfile is none; a flag given twice takes its last value
        vec!["run", "--rm", "--cidfile", "", IMG, "echo", "ok"],
        vec!["run", "--rm", "--init", "--init", IMG, "true"],
        vec!["run", "--rm", "-w", "/a", "-w", "/tmp", IMG, "pwd"],
        vec!["run", "--rm", IMG, "/nonexistent"],
        vec!["run", "--rm", IMG, "/etc"],
    ] {
        same_all(&d, &args);
    }
}

#[test]
fn filters_subnets_cp_into_a_file_and_json_formats_answer_like_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "k1",
        IMG,
        "sh",
        "-c",
        "echo a > /a; sleep 1000",
    ]);
    d.ok(&[
        "create", "--name", "k2", "--expose", "80", "-v", "/v", IMG, "true",
    ]);
    let src = d.dir.path().join("f.txt");
    std::fs::write(&src, "x\n").unwrap();
    let by_id = "{{.Container}} {{.Name}}";
    let src = src.display().to_string();
    for args in [
        // a filter without `=` is a bad flag value (`--filter` for the prunes)
        vec!["ps", "--filter", "noequals"],
        vec!["images", "-f", "noequals"],
        vec!["volume", "ls", "-f", "x"],
        vec!["network", "ls", "--filter", "x"],
        vec!["container", "prune", "-f", "--filter", "x"],
        vec!["system", "prune", "-f", "--filter", "x"],
        vec!["ps", "-a", "--filter", "", "--filter", " name = k1 ", "-q"],
        // a lone subnet is the daemon's to judge; compared ones are parsed
        vec!["network", "create", "--subnet", "bad", "n1"],
        vec!["network", "create", "--subnet", "10.1.0.0/33", "n1"],
        vec![
            "network",
            "create",
            "--subnet",
            "10.1.0.0/16",
            "--subnet",
            "bad",
            "n1",
        ],
        vec![
            "network",
            "create",
            "--subnet",
            "bad",
            "--gateway",
            "10.0.0.1",
            "n1",
        ],
        // templates see the Go structs' field names (the JSON keys through the fallback)
        vec![
            "inspect",
            "-f",
            "{{len .ID}} {{len .Id}} {{.HostConfig.CPUShares}} {{.HostConfig.CpuShares}} {{.HostConfig.DNS}} {{.HostConfig.NanoCPUs}}",
            "k1",
        ],
        vec!["network", "inspect", "-f", "{{len .ID}}", "bridge"],
        // sets (nat.PortSet, Volumes) hold struct{} values
        vec![
            "inspect",
            "-f",
            "{{.Config.ExposedPorts}} {{.Config.Volumes}} {{json .Config.Volumes}}",
            "k2",
        ],
        vec!["image", "inspect", "-f", "{{.ID}}", IMG],
        vec![
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.AuxAddress}}{{end}}",
            "bridge",
        ],
        // stats of the running containers names them by their short IDs
        vec!["stats", "--no-stream", "--format", by_id],
        // exec's flags end at the container: a `--` after it is the command
        vec!["exec", "k1", "--", "echo", "x"],
        vec!["exec", "k1", "echo", "--", "x"],
        vec!["exec", "k1", "-e", "A=1", "true"],
        // update's deprecated --kernel-memory is taken (and its size checked)
        vec!["update", "--kernel-memory", "10m", "k1"],
        vec!["update", "--kernel-memory", "x", "k1"],
        // cp to `FILE/`: the destination cannot be looked at, so it is missing
        vec!["cp", &src, "k1:/a/"],
        vec!["cp", &src, "k1:/a/x/"],
    ] {
        same_all(&d, &args);
    }
    // --squash needs an experimental daemon: docker's help leaves it out (and its build
    // also warns on stderr that its legacy builder is deprecated).
    assert_eq!(
        common::stdout(&d.berth(&["build", "--help"])).replace("berth", "docker"),
        common::stdout(&d.docker(&["build", "--help"])),
    );
    // `--format json` is `{{json .}}` for version and info too.
    for cmd in ["version", "info"] {
        let json = common::stdout(&d.berth(&[cmd, "--format", "json"]));
        let full = common::stdout(&d.berth(&[cmd, "--format", "{{json .}}"]));
        let keys = |s: &str| -> Vec<String> {
            let v: serde_json::Value = serde_json::from_str(s).expect(s);
            v.as_object().expect(s).keys().cloned().collect()
        };
        assert_eq!(keys(&json), keys(&full), "{cmd}");
        assert!(keys(&json).len() > 1, "{json}");
    }
}

#[test]
fn context_flags_and_the_version_flag_answer_like_docker() {
    prereqs!();
    let d = Daemon::start();
    let (cfg, host) = (d.subdir("cfg"), d.host());
    for args in [
        vec!["-c", "default", "ps", "-q"],
        vec!["--context", "default", "images", "-q"],
        vec!["--config", &cfg, "--context", "nope", "ps"],
        vec!["--config", &cfg, "-c", "nope", "version"],
        vec!["-H", &host, "-c", "default", "ps"],
    ] {
        same_all(&d, &args);
    }
    // `Docker version X, build Y`, berth's name and version in it
    let v = common::stdout(&d.berth(&["--version"]));
    assert!(v.starts_with("Berth version "), "{v}");
    assert_eq!(v, common::stdout(&d.berth(&["-v"])));
}

#[test]
fn stop_kill_pause_and_rm_of_several_containers_go_out_at_once_as_dockers_do() {
    prereqs!();
    let d = Daemon::start();
    let names = ["par1", "par2", "par3"];
    for n in names {
        // (`sleep` as PID 1 ignores SIGTERM: each stop waits its whole timeout)
        d.ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            n,
            IMG,
            "sleep",
            "1000",
        ]);
    }
    let since = d.ok(&["version", "-f", "{{.Server.Os}}"]); // (a round trip first)
    assert_eq!(since, "linux");
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut args = vec!["stop", "-t", "2"];
    args.extend(names);
    // Printed in the order given, whatever order the stops end in.
    assert_eq!(d.bok(&args), names.join("\n"));
    // All three SIGTERMs went out before any container died: one timeout, not three.
    let ev = d.ok(&[
        "events",
        "--since",
        &t0,
        "--until",
        "0s",
        "--filter",
        "event=kill",
        "--filter",
        "event=die",
        "--format",
        "{{.Action}} {{.Actor.Attributes.signal}} {{.Actor.Attributes.name}}",
    ]);
    let lines: Vec<&str> = ev.lines().collect();
    let mut first: Vec<&str> = lines.iter().take(3).copied().collect();
    first.sort_unstable();
    assert_eq!(
        first,
        ["kill 15 par1", "kill 15 par2", "kill 15 par3"],
        "{ev}"
    );
    // Errors come with the names that worked, each in its place; the exit is 1.
    for n in names {
        d.ok(&["start", n]);
    }
    // (each CLI on the same containers: set up before each, undone after)
    let both = ["par1", "par3"];
    for (verb, before, after) in [
        ("pause", None, Some("unpause")),
        ("unpause", Some("pause"), None),
        ("kill", None, Some("start")),
    ] {
        let args = [verb, "par1", "nope", "par3"];
        let mut outs = Vec::new();
        for ours in [true, false] {
            if let Some(b) = before {
                d.ok(&[&[b][..], &both].concat());
            }
            outs.push(if ours {
                d.berth(&args)
            } else {
                d.docker(&args)
            });
            if let Some(a) = after {
                d.ok(&[&[a][..], &both].concat());
            }
        }
        let (ours, theirs) = (&outs[0], &outs[1]);
        assert_eq!(common::stdout(ours), "par1\npar3\n", "{verb}");
        assert_eq!(common::stdout(ours), common::stdout(theirs), "{verb}");
        assert_eq!(common::stderr(ours), common::stderr(theirs), "{verb}");
        assert_eq!(ours.status.code(), Some(1));
        assert_eq!(theirs.status.code(), Some(1));
    }
    let out = d.berth(&["rm", "-f", "par1", "nope", "par2", "par3"]);
    assert_eq!(common::stdout(&out), "par1\npar2\npar3\n");
    assert_eq!(
        common::stderr(&out),
        "Error response from daemon: No such container: nope\n"
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}
