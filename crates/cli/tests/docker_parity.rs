//! The same scenarios through `berth` and through the stock docker CLI, against one real
//! berthd: output shape and exit codes must match.

mod common;

use common::{Daemon, IMG, stderr, stdout};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

/// A table's column titles. (The spacing between them follows the widest cell, and cells
/// like "Less than a second ago" change between two calls.)
fn header(table: &str) -> Vec<String> {
    let first = table.lines().next().unwrap_or("");
    first
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `{{json .}}` lines with the fields that move with the clock taken out.
fn json_without_times(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            for k in ["RunningFor", "Status", "CreatedSince"] {
                v.as_object_mut().unwrap().remove(k);
            }
            v
        })
        .collect()
}

/// Exit code of a command through both CLIs.
fn codes(d: &Daemon, args: &[&str]) -> (Option<i32>, Option<i32>) {
    (d.berth(args).status.code(), d.docker(args).status.code())
}

#[test]
fn cannot_connect_is_an_error_with_exit_1() {
    let out = std::process::Command::new(common::BERTH)
        .args(["-H", "unix:///nonexistent/berth.sock", "version"])
        .env("BERTH_NO_AUTOSTART", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Cannot connect to the Berth daemon"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_flag_exits_125() {
    let out = std::process::Command::new(common::BERTH)
        .args(["ps", "--bogus-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn version_images_and_info_answer_like_docker() {
    prereqs!();
    let d = Daemon::start();
    let v = d.bok(&["version"]);
    assert!(v.starts_with("Client:\n Version:"), "{v}");
    assert!(v.contains("\nServer: berth\n Engine:\n  Version:"), "{v}");
    assert_eq!(
        d.bok(&["version", "--format", "{{.Server.APIVersion}}"]),
        d.ok(&["version", "--format", "{{.Server.APIVersion}}"])
    );
    // images: same table, byte for byte (one image, created "now" for both).
    let ours = d.bok(&["images"]);
    let theirs = d.ok(&["images"]);
    assert_eq!(header(&ours), header(&theirs), "\n{ours}\n{theirs}");
    assert_eq!(ours.lines().count(), theirs.lines().count());
    assert_eq!(d.bok(&["images", "-q"]), d.ok(&["images", "-q"]));
    assert_eq!(d.bok(&["image", "ls", "-q"]), d.ok(&["image", "ls", "-q"]));
    assert_eq!(
        d.bok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]),
        d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
    );
    assert!(d.bok(&["info"]).contains(" Containers: 0"));
}

#[test]
fn run_rm_echo_prints_and_leaves_no_container() {
    prereqs!();
    let d = Daemon::start();
    let args = ["run", "--rm", "--network", "none", IMG, "echo", "hi"];
    let (ours, theirs) = (d.berth(&args), d.docker(&args));
    assert_eq!(stdout(&ours), "hi\n", "{}", stderr(&ours));
    assert_eq!(stdout(&ours), stdout(&theirs));
    assert_eq!(ours.status.code(), Some(0));
    // Output on stderr stays on stderr.
    let args = [
        "run",
        "--rm",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "echo out; echo err >&2",
    ];
    let out = d.berth(&args);
    assert_eq!(
        (stdout(&out).as_str(), stderr(&out).as_str()),
        ("out\n", "err\n")
    );
    assert!(d.eventually(10, || d.ok(&["ps", "-aq"]).is_empty()));
}

#[test]
fn run_exit_codes_follow_docker() {
    prereqs!();
    let d = Daemon::start();
    let cases: [&[&str]; 5] = [
        &[
            "run",
            "--rm",
            "--network",
            "none",
            IMG,
            "sh",
            "-c",
            "exit 3",
        ],
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--bogus-flag",
            IMG,
            "true",
        ],
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--restart",
            "sometimes",
            IMG,
            "true",
        ],
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "127.0.0.1:1/no-such-image",
            "true",
        ],
        &["run", "--rm", "--network", "none", IMG, "no-such-command"],
    ];
    let want = [3, 125, 125, 125, 127];
    for (args, want) in cases.iter().zip(want) {
        let (ours, theirs) = codes(&d, args);
        assert_eq!(ours, Some(want), "berth {args:?}");
        assert_eq!(ours, theirs, "berth vs docker {args:?}");
    }
    // The messages too, with the program's name swapped (the flag-parsing one aside).
    for args in cases.iter().filter(|a| !a.contains(&"--bogus-flag")) {
        let ours = stderr(&d.berth(args)).replace("berth", "docker");
        assert_eq!(ours, stderr(&d.docker(args)), "{args:?}");
    }
    let out = d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "127.0.0.1:1/no-such-image",
        "true",
    ]);
    assert!(
        stderr(&out).contains("Unable to find image '127.0.0.1:1/no-such-image:latest' locally")
    );
    assert!(
        d.eventually(10, || d.ok(&["ps", "-aq"]).is_empty()),
        "--rm containers left behind"
    );
}

#[test]
fn detached_container_ps_logs_stop_rm() {
    prereqs!();
    let d = Daemon::start();
    let id = d.bok(&[
        "run", "-d", "--network", "none", "--name", "ticker", "-l", "x=y", IMG, "sh", "-c",
        "trap 'echo bye; exit 0' TERM; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done",
    ]);
    assert_eq!(id.len(), 64, "{id}");
    // ps: the same header, and rows with the same columns.
    let (ours, theirs) = (d.bok(&["ps"]), d.ok(&["ps"]));
    assert_eq!(header(&ours), header(&theirs), "\n{ours}\n{theirs}");
    assert_eq!(ours.lines().count(), 2, "\n{ours}");
    // Times ("Up 2 seconds") move between the two calls; everything else is compared.
    for f in [
        "{{.Names}}",
        "{{.ID}} {{.Image}} {{.State}} {{.Command}} {{.Labels}}",
        "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.Names}}",
    ] {
        assert_eq!(
            d.bok(&["ps", "--format", f]),
            d.ok(&["ps", "--format", f]),
            "{f}"
        );
    }
    assert_eq!(d.bok(&["ps", "-q"]), d.ok(&["ps", "-q"]));
    assert_eq!(d.bok(&["ps", "-q", "--no-trunc"]), id);
    assert_eq!(
        d.bok(&["container", "ls", "-q"]),
        d.ok(&["container", "ls", "-q"])
    );
    let j: serde_json::Value =
        serde_json::from_str(&d.bok(&["ps", "--format", "{{json .}}"])).unwrap();
    assert_eq!(j["Names"], "ticker");
    assert_eq!(
        json_without_times(&d.bok(&["ps", "--format", "{{json .}}"])),
        json_without_times(&d.ok(&["ps", "--format", "{{json .}}"]))
    );
    assert_eq!(
        json_without_times(&d.bok(&["images", "--format", "{{json .}}"])),
        json_without_times(&d.ok(&["images", "--format", "{{json .}}"]))
    );
    // inspect --format
    for f in [
        "{{.State.Running}}",
        "{{index .Config.Labels \"x\"}}",
        "{{.Name}} {{.State.Status}}",
    ] {
        assert_eq!(
            d.bok(&["inspect", "--format", f, "ticker"]),
            d.ok(&["inspect", "--format", f, "ticker"]),
            "{f}"
        );
    }
    assert_eq!(
        d.bok(&["inspect", "-f", "{{.State.Running}}", "ticker"]),
        "true"
    );
    let full: serde_json::Value = serde_json::from_str(&d.bok(&["inspect", "ticker"])).unwrap();
    assert_eq!(full[0]["Id"], id.as_str());
    let (o, t) = codes(&d, &["inspect", "no-such-thing"]);
    assert_eq!((o, t), (Some(1), Some(1)));
    // logs, --tail, -t
    assert!(d.eventually(10, || d.bok(&["logs", "ticker"]).contains("line 5")));
    assert!(d.bok(&["logs", "ticker"]).starts_with("line 0\nline 1\n"));
    let tail = d.bok(&["logs", "--tail", "2", "-t", "ticker"]);
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert!(tail.starts_with("20") && tail.contains(" line "), "{tail}");
    // logs -f follows and ends when the container stops.
    let host = d.host();
    let follower = std::thread::spawn(move || {
        std::process::Command::new("timeout")
            .args(["30", common::BERTH, "logs", "-f", "ticker"])
            .env("BERTH_HOST", host)
            .output()
            .unwrap()
    });
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(d.bok(&["stop", "-t", "5", "ticker"]), "ticker");
    let followed = follower.join().unwrap();
    assert!(
        followed.status.success(),
        "logs -f did not end with the container"
    );
    assert!(stdout(&followed).trim_end().ends_with("bye"));
    assert_eq!(
        d.bok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "ticker"
        ]),
        "exited 0"
    );
    assert_eq!(d.bok(&["ps", "-q"]), "");
    assert_eq!(
        d.bok(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}"
        ]),
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}"
        ])
    );
    assert_eq!(d.bok(&["wait", "ticker"]), "0");
    assert_eq!(d.bok(&["rm", "ticker"]), "ticker");
    assert_eq!(codes(&d, &["rm", "ticker"]), (Some(1), Some(1)));
    assert_eq!(d.bok(&["ps", "-aq"]), "");
}

#[test]
fn lifecycle_verbs_match_docker() {
    prereqs!();
    let d = Daemon::start();
    d.bok(&[
        "create",
        "--network",
        "none",
        "--name",
        "c1",
        IMG,
        "sleep",
        "1000",
    ]);
    // (berthd reports a created container as "exited" for now; berth shows what docker shows.)
    assert_eq!(
        d.bok(&["inspect", "-f", "{{.State.Status}}", "c1"]),
        d.ok(&["inspect", "-f", "{{.State.Status}}", "c1"])
    );
    assert_eq!(d.bok(&["start", "c1"]), "c1");
    assert_eq!(d.bok(&["pause", "c1"]), "c1");
    assert_eq!(d.bok(&["inspect", "-f", "{{.State.Paused}}", "c1"]), "true");
    assert_eq!(d.bok(&["unpause", "c1"]), "c1");
    assert_eq!(d.bok(&["kill", "-s", "KILL", "c1"]), "c1");
    assert_eq!(d.bok(&["wait", "c1"]), "137");
    assert_eq!(d.bok(&["restart", "-t", "1", "c1"]), "c1");
    assert_eq!(
        d.bok(&["inspect", "-f", "{{.State.Running}}", "c1"]),
        "true"
    );
    assert_eq!(d.bok(&["rm", "-f", "c1"]), "c1");
    // start -a passes the exit code through.
    d.bok(&[
        "create",
        "--network",
        "none",
        "--name",
        "c2",
        IMG,
        "sh",
        "-c",
        "echo started; exit 5",
    ]);
    let out = d.berth(&["start", "-a", "c2"]);
    assert_eq!(stdout(&out), "started\n");
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        codes(&d, &["stop", "no-such-container"]),
        (Some(1), Some(1))
    );
    d.bok(&["rm", "c2"]);
}

#[test]
fn exec_runs_in_the_container_with_its_exit_code() {
    prereqs!();
    let d = Daemon::start();
    d.bok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "ex",
        IMG,
        "sleep",
        "1000",
    ]);
    let args = [
        "exec",
        "-e",
        "A=b",
        "-w",
        "/tmp",
        "ex",
        "sh",
        "-c",
        "echo $A $(pwd)",
    ];
    assert_eq!(d.bok(&args), "b /tmp");
    assert_eq!(d.bok(&args), d.ok(&args));
    assert_eq!(
        codes(&d, &["exec", "ex", "sh", "-c", "exit 4"]),
        (Some(4), Some(4))
    );
    let out = d.berth_stdin(&["exec", "-i", "ex", "cat"], Some(b"through stdin\n"));
    assert_eq!(stdout(&out), "through stdin\n");
    assert_eq!(d.bok(&["exec", "-u", "1000", "ex", "id", "-u"]), "1000");
    d.bok(&["exec", "-d", "ex", "sh", "-c", "echo bg > /tmp/bg"]);
    assert!(d.eventually(5, || d.bok(&["exec", "ex", "cat", "/tmp/bg"]) == "bg"));
    d.bok(&["rm", "-f", "ex"]);
}

#[test]
fn run_interactive_passes_stdin_and_its_eof() {
    prereqs!();
    let d = Daemon::start();
    let args = ["run", "--rm", "-i", "--network", "none", IMG, "cat"];
    let ours = d.berth_stdin(&args, Some(b"x\n"));
    assert_eq!(stdout(&ours), "x\n", "{}", stderr(&ours));
    assert_eq!(ours.status.code(), Some(0));
    let theirs = d.docker_stdin(&args, Some(b"x\n"));
    assert_eq!(stdout(&ours), stdout(&theirs));
    // Options reach the container.
    let out = d.bok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-e",
        "K=v",
        "-w",
        "/tmp",
        "-u",
        "1000",
        "--read-only",
        IMG,
        "sh",
        "-c",
        "echo $K $(pwd) $(id -u); touch /x 2>/dev/null || echo ro",
    ]);
    assert_eq!(out, "v /tmp 1000\nro");
}

#[test]
fn completions_and_man_page_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(common::BERTH)
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = stdout(&out);
        assert!(text.contains("berth") && text.contains("exec"), "{shell}");
    }
    let out = std::process::Command::new(common::BERTH)
        .arg("man")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains(".TH berth 1"));
}

#[test]
fn pull_failure_prints_progress_then_the_error_like_docker() {
    prereqs!();
    let d = Daemon::start();
    // A registry that refuses connections on loopback.
    let args = ["pull", "127.0.0.1:1/nothing"];
    let (ours, theirs) = (d.berth(&args), d.docker(&args));
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(ours.status.code(), theirs.status.code());
    assert_eq!(stdout(&ours), stdout(&theirs));
    assert_eq!(stderr(&ours), stderr(&theirs));
}

#[test]
fn attach_follows_output_and_returns_the_exit_code() {
    prereqs!();
    let d = Daemon::start();
    for (cli, name) in [("berth", "a1"), ("docker", "a2")] {
        d.bok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            IMG,
            "sh",
            "-c",
            "sleep 1; echo tick; exit 6",
        ]);
        let out = if cli == "berth" {
            d.berth(&["attach", name])
        } else {
            d.docker(&["attach", name])
        };
        assert_eq!(stdout(&out), "tick\n", "{cli}");
        assert_eq!(out.status.code(), Some(6), "{cli}");
    }
    let (o, t) = codes(&d, &["attach", "a1"]);
    assert_eq!((o, t), (Some(1), Some(1)), "attach to a stopped container");
    d.bok(&["rm", "a1", "a2"]);
}

#[test]
fn run_flags_reach_the_daemon_as_docker_sends_them() {
    prereqs!();
    let d = Daemon::start();
    let flags = [
        "--network",
        "none",
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        "--cap-add",
        "net_admin",
        "--cap-drop",
        "MKNOD",
        "--restart",
        "on-failure:2",
        "--read-only",
        "-v",
        "/tmp:/host-tmp:ro",
        "-v",
        "/anon",
        "-e",
        "A=1",
        "-l",
        "k=v",
        "-w",
        "/tmp",
        "-u",
        "1000",
        "--entrypoint",
        "sh",
        "--init",
        "--privileged",
        "-p",
        "127.0.0.1:8080:80",
        "--stop-signal",
        "SIGUSR1",
        "--hostname",
        "hh",
        "-i",
        "-t",
    ];
    let create = |cli: &str, name: &str| {
        let mut args = vec!["create", "--name", name];
        args.extend(flags);
        args.extend([IMG, "-c", "true"]);
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
    let t = "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.CapAdd}} {{.HostConfig.CapDrop}} \
             {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} \
             {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Binds}} {{.Config.Env}} {{.Config.Labels}} \
             {{.Config.WorkingDir}} {{.Config.User}} {{.Config.Entrypoint}} {{.HostConfig.Init}} {{.Config.Cmd}} \
             {{.HostConfig.Privileged}} {{.HostConfig.NetworkMode}} {{.HostConfig.PortBindings}} \
             {{.Config.ExposedPorts}} {{.Config.Volumes}} {{.Config.StopSignal}} {{.Config.Hostname}} \
             {{.Config.OpenStdin}} {{.Config.Tty}} {{.Config.AttachStdin}} {{.Config.AttachStdout}}";
    assert_eq!(d.inspect("fb", t), d.inspect("fd", t));
    // The whole documents, docker's zero values and nil lists included (the daemon keeps
    // what it is sent): with these flags and with none (`RestartPolicy.Name` "no",
    // `MemorySwappiness` -1, `Binds` null, `Dns` []).
    d.bok(&["create", "--name", "nb", "--hostname", "h", IMG, "true"]);
    d.ok(&["create", "--name", "nd", "--hostname", "h", IMG, "true"]);
    for t in ["{{json .HostConfig}}", "{{json .Config}}"] {
        assert_eq!(d.inspect("fb", t), d.inspect("fd", t), "{t}");
        assert_eq!(d.inspect("nb", t), d.inspect("nd", t), "{t}");
    }
    assert_eq!(d.inspect("nb", "{{.HostConfig.RestartPolicy.Name}}"), "no");
    // Windows-only options are refused before anything is created, in docker's words.
    let win = [
        "create",
        "--cpu-count",
        "2",
        "--io-maxiops",
        "100",
        "--cpu-percent",
        "50",
        "--io-maxbandwidth",
        "10m",
        IMG,
        "true",
    ];
    let (ours, theirs) = (d.berth(&win), d.docker(&win));
    assert_eq!(stderr(&ours), stderr(&theirs));
    assert_eq!(ours.status.code(), theirs.status.code());
    // Link-local addresses reach the daemon as docker sends them: an unspecified one is
    // refused by berthd as by dockerd, whichever client sent it.
    let ll = ["create", "--link-local-ip", "0.0.0.0", IMG, "true"];
    let (ours, theirs) = (d.berth(&ll), d.docker(&ll));
    assert!(
        stderr(&ours).contains("invalid link-local IP address: 0.0.0.0"),
        "{}",
        stderr(&ours)
    );
    assert_eq!(stderr(&ours), stderr(&theirs));
    assert_eq!(ours.status.code(), theirs.status.code());
    d.bok(&[
        "create",
        "--name",
        "llb",
        "--link-local-ip",
        "169.254.10.10",
        IMG,
        "true",
    ]);
    d.ok(&[
        "create",
        "--name",
        "lld",
        "--link-local-ip",
        "169.254.10.10",
        IMG,
        "true",
    ]);
    let t = "{{json .NetworkSettings.Networks.bridge.IPAMConfig}}";
    assert_eq!(d.inspect("llb", t), d.inspect("lld", t));
    // A label file's lines without `=` are no labels.
    let lf = d.dir.path().join("labels");
    std::fs::write(&lf, "l1=a\nl2\n# c\n\n l3=b c\n").unwrap();
    let lf = lf.to_str().unwrap();
    d.bok(&["create", "--name", "lb", "--label-file", lf, IMG, "true"]);
    d.ok(&["create", "--name", "ld", "--label-file", lf, IMG, "true"]);
    let t = "{{json .Config.Labels}}";
    assert_eq!(d.inspect("lb", t), d.inspect("ld", t));
    d.bok(&["rm", "fb", "fd", "nb", "nd", "lb", "ld"]);
}

#[test]
fn it_without_a_terminal_fails_like_docker() {
    prereqs!();
    let d = Daemon::start();
    let args = ["run", "-it", "--rm", "--network", "none", IMG, "true"];
    let (ours, theirs) = (d.berth(&args), d.docker(&args));
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(ours.status.code(), theirs.status.code());
    assert_eq!(stderr(&ours), stderr(&theirs));
    assert_eq!(d.bok(&["ps", "-aq"]), "", "no container is created");
}

#[test]
fn ps_filters_limits_and_inspect_match_docker() {
    prereqs!();
    let d = Daemon::start();
    d.bok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "web",
        "-l",
        "tier=front",
        IMG,
        "sleep",
        "1000",
    ]);
    d.bok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "db",
        "-l",
        "tier=back",
        IMG,
        "sleep",
        "1000",
    ]);
    d.bok(&["create", "--network", "none", "--name", "idle", IMG, "true"]);
    for args in [
        &["ps", "-q"][..],
        &["ps", "-aq"],
        &["ps", "-q", "--filter", "name=web"],
        &["ps", "-q", "--filter", "label=tier=back"],
        &["ps", "-q", "--filter", "label=tier"],
        &["ps", "-q", "-n", "1"],
        &["ps", "-q", "-l"],
        &["ps", "--format", "{{.Names}}", "-a"],
        &["ps", "--format", "{{.Names}}\\t{{.Labels}}", "--no-trunc"],
        &["ps", "--format", "{{.Names}} {{.Label \"tier\"}}"],
    ] {
        assert_eq!(d.bok(args), d.ok(args), "{args:?}");
    }
    // Whole inspect documents, byte for byte.
    assert_eq!(d.bok(&["inspect", "web"]), d.ok(&["inspect", "web"]));
    assert_eq!(
        d.bok(&["image", "inspect", IMG]),
        d.ok(&["image", "inspect", IMG])
    );
    assert_eq!(
        d.bok(&["container", "inspect", "-f", "{{.Config.Labels}}", "db"]),
        "map[tier:back]"
    );
    d.bok(&["rm", "-f", "web", "db", "idle"]);
}

#[test]
fn daemon_runs_berthd_in_the_foreground() {
    // berthd is found next to berth, then on PATH.
    let dir = common::berthd().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new(common::BERTH)
        .args(["daemon", "--version"])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("berthd "), "{}", stdout(&out));
}

#[test]
fn logs_since_and_until_take_relative_times_and_dates() {
    prereqs!();
    let d = Daemon::start();
    d.bok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "lg",
        IMG,
        "sh",
        "-c",
        "echo early; sleep 8; echo late; sleep 1000",
    ]);
    assert!(d.eventually(15, || d.bok(&["logs", "lg"]).contains("late")));
    // "late" is fresh, "early" 8 s old: a 4 s window splits them.
    assert_eq!(d.bok(&["logs", "--since", "4s", "lg"]), "late");
    assert_eq!(d.bok(&["logs", "--until", "4s", "lg"]), "early");
    assert_eq!(d.ok(&["logs", "--since", "4s", "lg"]), "late");
    // Dates and RFC 3339 times (docker's GetTimestamp), and its errors.
    for v in [
        "2999-01-01",
        "2000-01-01",
        "2999-01-01T10:00",
        "2000-01-01T10:00:00Z",
        "2999-01-01T10:00:00.5+01:00",
        "2000-01-01Z",
        "bogus",
        "2020-13-01",
        "2020-01-0x",
        "2020-01-01Tab",
        "-5",
        "5m3",
        "2020-01-01T10:00:00+0100",
    ] {
        for flag in ["--since", "--until"] {
            let args = ["logs", flag, v, "lg"];
            let (ours, theirs) = (d.berth(&args), d.docker(&args));
            assert_eq!(stdout(&ours), stdout(&theirs), "{args:?}");
            assert_eq!(stderr(&ours), stderr(&theirs), "{args:?}");
            assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        }
    }
    let args = ["events", "--since", "bogus", "--until", "1s"];
    assert_eq!(stderr(&d.berth(&args)), stderr(&d.docker(&args)));
    d.bok(&["rm", "-f", "lg"]);
}

#[test]
fn signals_to_a_foreground_run_reach_the_container() {
    prereqs!();
    let d = Daemon::start();
    let mut child = std::process::Command::new(common::BERTH)
        .args(["run", "--rm", "--network", "none", IMG, "sh", "-c"])
        .arg("trap 'echo got; exit 9' INT; echo ready; sleep 1000 & wait")
        .env("BERTH_HOST", d.host())
        .env("BERTH_NO_AUTOSTART", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "got\n");
    assert_eq!(child.wait().unwrap().code(), Some(9));
}

#[test]
fn env_files_bind_mounts_and_attach_choices_work_like_docker() {
    prereqs!();
    let d = Daemon::start();
    let dir = tempfile::tempdir_in(d.dir.path()).unwrap();
    std::fs::write(
        dir.path().join("env"),
        "# comment\nFROM_FILE=yes\n\nOTHER=2\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("data.txt"), "mounted\n").unwrap();
    let env_file = dir.path().join("env");
    let bind = format!("{}:/data:ro", dir.path().display());
    let cases: [Vec<&str>; 3] = [
        vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--env-file",
            env_file.to_str().unwrap(),
            IMG,
            "sh",
            "-c",
            "echo $FROM_FILE $OTHER",
        ],
        vec![
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &bind,
            IMG,
            "sh",
            "-c",
            "cat /data/data.txt; touch /data/x 2>/dev/null || echo ro",
        ],
        vec![
            "run",
            "--rm",
            "--network",
            "none",
            "-a",
            "stdout",
            IMG,
            "sh",
            "-c",
            "echo out; echo err >&2",
        ],
    ];
    for args in &cases {
        let (ours, theirs) = (d.berth(args), d.docker(args));
        assert_eq!(
            stdout(&ours),
            stdout(&theirs),
            "{args:?}: {}",
            stderr(&ours)
        );
        assert_eq!(stderr(&ours), stderr(&theirs), "{args:?}");
        assert_eq!(ours.status.code(), Some(0), "{args:?}");
    }
    assert_eq!(stdout(&d.berth(&cases[0])), "yes 2\n");
    assert_eq!(stdout(&d.berth(&cases[1])), "mounted\nro\n");
    assert_eq!(stdout(&d.berth(&cases[2])), "out\n");
}

#[test]
fn docker_api_version_pins_the_version() {
    prereqs!();
    let d = Daemon::start();
    let out = std::process::Command::new(common::BERTH)
        .args(["version", "--format", "{{.Client.APIVersion}}"])
        .env("BERTH_HOST", d.host())
        .env("DOCKER_API_VERSION", "1.41")
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "1.41");
    let out = std::process::Command::new(common::BERTH)
        .args(["ps"])
        .env("BERTH_HOST", d.host())
        .env("DOCKER_API_VERSION", "1.99")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("Error response from daemon: client version 1.99 is too new"));
}

/// What a directory holds: each entry's name, type and mode bits, and size.
fn listing(dir: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            let size = if m.is_file() { m.len() } else { 0 };
            format!(
                "{} {:o} {size}",
                e.file_name().to_string_lossy(),
                m.permissions().mode()
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn export_and_save_write_0600_files_and_refuse_paths_as_docker() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["create", "--name", "ex1", "--network", "none", IMG, "true"]);
    let (ours, theirs) = (d.dir.path().join("ours"), d.dir.path().join("theirs"));
    for dir in [&ours, &theirs] {
        std::fs::create_dir(dir).unwrap();
        std::fs::write(dir.join("old.tar"), "x").unwrap();
        std::fs::write(dir.join("plain"), "x").unwrap();
        std::os::unix::fs::symlink("real", dir.join("link.tar")).unwrap();
    }
    let run = |dir: &std::path::Path, berth: bool, args: &[&str]| {
        let mut full = vec!["-c", "cd \"$0\" && exec \"$@\"", dir.to_str().unwrap()];
        full.push(if berth { common::BERTH } else { "docker" });
        full.extend(args);
        let out = std::process::Command::new("sh")
            .args(&full)
            .env("DOCKER_HOST", d.host())
            .env("BERTH_HOST", d.host())
            .env("BERTH_NO_AUTOSTART", "1")
            .output()
            .unwrap();
        (stderr(&out), out.status.code())
    };
    for o in [
        "new.tar",
        "old.tar",
        "link.tar",
        ".",
        "nodir/a.tar",
        "plain/a.tar",
        "/dev/null",
        "sub/../n2.tar",
        "-",
    ] {
        for args in [
            &["export", "-o", o, "ex1"][..],
            &["save", "-o", o, IMG],
            &["export", "-o", o, "nosuch"],
        ] {
            assert_eq!(
                run(&ours, true, args),
                run(&theirs, false, args),
                "{args:?}"
            );
            assert_eq!(listing(&ours), listing(&theirs), "{args:?}");
        }
    }
}

/// berth's and docker's (stdout, stderr with the program named `docker`, exit code).
fn named(d: &Daemon, args: &[&str]) -> [(String, String, Option<i32>); 2] {
    let exe = std::path::Path::new(common::BERTH)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let (ours, theirs) = (d.berth(args), d.docker(args));
    [
        (
            stdout(&ours),
            stderr(&ours).replace(&exe, "docker"),
            ours.status.code(),
        ),
        (stdout(&theirs), stderr(&theirs), theirs.status.code()),
    ]
}

#[test]
fn publish_specs_are_checked_and_sent_as_docker_does() {
    prereqs!();
    let d = Daemon::start();
    for p in [
        "99999:80",
        "80:99999",
        "abc:80",
        "-1:80",
        "8000-7000:80",
        "80:90-80",
        "80-82:90-91",
        "80:1-2-3",
        "80:80/xyz",
        "80/XYZ",
        "80:",
        "/udp",
        "a:b:c:d",
        "[zz]:80:80",
        "1.2.3.4:80",
        "target=80,x",
        "published=80",
    ] {
        for cmd in ["run", "create"] {
            let [ours, theirs] = named(&d, &[cmd, "-p", p, IMG, "true"]);
            assert_eq!(ours, theirs, "{cmd} -p {p}");
        }
    }
    // What passes is sent as docker sends it.
    let f = "{{json .HostConfig.PortBindings}} {{json .Config.ExposedPorts}}";
    for p in [
        "8000-8002:80-82/udp",
        "127.0.0.1:9000-9005:90",
        "[::1]:7070:70",
        "1-2-3:80",
        "80:80/TCP",
        "80/udp/",
        "target=80,published=8080,protocol=udp",
    ] {
        let ours = d.bok(&["create", "-p", p, IMG, "true"]);
        let theirs = d.ok(&["create", "-p", p, IMG, "true"]);
        assert_eq!(d.inspect(&ours, f), d.inspect(&theirs, f), "-p {p}");
    }
    // A value that starts with '-' is the option's, as pflag takes it.
    let [ours, theirs] = named(&d, &["ps", "-n", "-1x"]);
    assert_eq!(ours, theirs);
}

/// `args` through berth, then through docker, with the client configuration in `cfg`
/// (DOCKER_CONFIG): (stdout, stderr, status) of each.
fn both_with_config(
    d: &Daemon,
    cfg: &std::path::Path,
    args: &[&str],
) -> [(String, String, Option<i32>); 2] {
    let run = |cli: &str, host_var: &str| {
        let o = std::process::Command::new("timeout")
            .args(["-k", "2", "60", cli])
            .args(args)
            .env(host_var, d.host())
            .env("BERTH_NO_AUTOSTART", "1")
            .env("DOCKER_CONFIG", cfg)
            .env_remove("DOCKER_AUTH_CONFIG")
            .env_remove("DOCKER_API_VERSION")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (stdout(&o), stderr(&o), o.status.code())
    };
    [
        run(common::BERTH, "BERTH_HOST"),
        run("docker", "DOCKER_HOST"),
    ]
}

#[test]
fn run_use_api_socket_mounts_the_socket_and_copies_credentials() {
    prereqs!();
    let d = Daemon::start();
    let creds = d.dir.path().join("apicfg");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(
        creds.join("config.json"),
        r#"{"auths":{"reg.example:5000":{"auth":"dTpw"},"b.io":{"auth":"YTpi","email":"e@x"}},"detachKeys":"ctrl-x"}"#,
    )
    .unwrap();
    let script = "test -S /var/run/docker.sock && echo socket; echo \"DOCKER_CONFIG=$DOCKER_CONFIG\"; \
                  stat -c '%a %u:%g' /run/secrets/docker/config.json 2>&1; \
                  cat /run/secrets/docker/config.json 2>&1";
    let run = ["run", "--rm", "--use-api-socket", IMG, "sh", "-c", script];
    let [ours, theirs] = both_with_config(&d, &creds, &run);
    assert_eq!(ours, theirs);
    assert_eq!(ours.2, Some(0), "{ours:?}");
    assert!(ours.0.starts_with("socket\nDOCKER_CONFIG=/run/secrets/docker\n600 0:0\n{\n\t\"auths\": {\n\t\t\"b.io\": {\n\t\t\t\"auth\": \"YTpi\",\n\t\t\t\"email\": \"e@x\"\n"), "{}", ours.0);
    assert!(!ours.0.contains("detachKeys"), "{}", ours.0);

    // The socket alone without credentials, and no credentials where the command sets
    // DOCKER_CONFIG itself.
    let empty = d.dir.path().join("apicfg-empty");
    std::fs::create_dir_all(&empty).unwrap();
    let [ours, theirs] = both_with_config(&d, &empty, &run);
    assert_eq!(ours, theirs);
    assert!(ours.0.starts_with("socket\nDOCKER_CONFIG=\n"), "{}", ours.0);
    let mut own = run.to_vec();
    own.splice(3..3, ["-e", "DOCKER_CONFIG=/elsewhere"]);
    let [ours, theirs] = both_with_config(&d, &creds, &own);
    assert_eq!(ours, theirs);
    assert!(
        ours.0.starts_with("socket\nDOCKER_CONFIG=/elsewhere\n"),
        "{}",
        ours.0
    );

    // create: the same mount of the socket the client talks to, the same environment.
    let create = ["create", "--use-api-socket", "-e", "X=1", IMG, "true"];
    let [ours, theirs] = both_with_config(&d, &creds, &create);
    let fmt = "{{json .HostConfig.Mounts}} {{json .Config.Env}}";
    let (a, b) = (
        d.inspect(ours.0.trim(), fmt),
        d.inspect(theirs.0.trim(), fmt),
    );
    assert_eq!(a, b);
    assert!(
        a.contains(&format!(
            r#""Source":"{}","Target":"/var/run/docker.sock""#,
            d.sock.display()
        )),
        "{a}"
    );

    // Not a unix socket: refused in docker's words, before anything is created.
    for cmd in ["run", "create"] {
        let args = [
            "-H",
            "tcp://127.0.0.1:9",
            cmd,
            "--use-api-socket",
            IMG,
            "true",
        ];
        let [ours, theirs] = both_with_config(&d, &creds, &args);
        assert_eq!(
            (
                ours.1
                    .replace(common::BERTH, "docker")
                    .replace("berth", "docker"),
                ours.2
            ),
            (theirs.1, theirs.2),
            "{cmd}"
        );
    }
}

/// A client on `-H tcp://HOST:PORT` (as `DOCKER_HOST=tcp://…`): both CLIs run, attach
/// (stdin and stdout over the TCP connection the shim is handed), exec and list through
/// berthd's TCP listener beside its unix socket.
#[test]
fn tcp_host_serves_docker_and_berth() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with(&["-H", &tcp]);
    let over_tcp = |prog: &str, args: &[&str], input: &[u8]| {
        let mut cmd = std::process::Command::new("timeout");
        cmd.args(["-k", "2", "60", prog])
            .args(args)
            .env("DOCKER_HOST", &tcp)
            .env("BERTH_NO_AUTOSTART", "1")
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_API_VERSION")
            .env("DOCKER_CONFIG", d.dir.path().join("dockercfg"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = input.to_vec();
        let feeder = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        assert!(
            out.status.success(),
            "{prog} {args:?} over {tcp}: {}",
            stderr(&out)
        );
        stdout(&out)
    };
    let input: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let expect = String::from_utf8(input.clone()).unwrap();
    for prog in ["docker", common::BERTH] {
        assert_eq!(
            over_tcp(
                prog,
                &["version", "--format", "{{.Server.APIVersion}}"],
                b""
            )
            .trim(),
            d.ok(&["version", "--format", "{{.Server.APIVersion}}"]),
        );
        assert_eq!(
            over_tcp(prog, &["run", "--rm", IMG, "echo", "hi"], b""),
            "hi\n"
        );
        let out = over_tcp(prog, &["run", "--rm", "-i", IMG, "cat"], &input);
        assert!(
            out == expect,
            "{prog}: {} bytes back of {}",
            out.len(),
            expect.len()
        );
    }
    over_tcp(
        "docker",
        &["run", "-d", "--name", "tt", IMG, "sleep", "30"],
        b"",
    );
    assert_eq!(
        over_tcp(common::BERTH, &["exec", "tt", "echo", "x"], b""),
        "x\n"
    );
    assert_eq!(
        over_tcp(common::BERTH, &["ps", "--format", "{{.Names}}"], b""),
        "tt\n"
    );
    over_tcp(common::BERTH, &["rm", "-f", "tt"], b"");
    // The unix socket still answers beside it.
    assert_eq!(d.bok(&["ps", "-aq"]), "");
}
