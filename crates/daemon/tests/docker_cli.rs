//! berthd driven by the stock docker CLI: run, exit codes, detached containers, options,
//! exec, lifecycle verbs, mounts, stdin and the API's version negotiation.

mod common;

use common::{Daemon, IMG, stderr, stdout};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

#[test]
fn run_rm_echo_prints_and_leaves_no_container() {
    prereqs!();
    let d = Daemon::start();
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", IMG, "echo", "hi"]),
        "hi"
    );
    // The default network is the bridge, without a warning.
    let out = d.docker(&["run", "--rm", IMG, "echo", "hi"]);
    assert_eq!(stdout(&out).trim(), "hi");
    assert_eq!(stderr(&out), "");
    assert!(d.eventually(10, || d.ok(&["ps", "-aq"]).is_empty()));
}

#[test]
fn exit_codes_follow_docker() {
    prereqs!();
    let d = Daemon::start();
    let code = |args: &[&str]| d.docker(args).status.code();
    // A command that a volume hides is found missing by the runtime (berthd's own check
    // sees the image): the same words and code as a command the image lacks.
    run_refused_with(
        &d,
        127,
        &[
            "--rm",
            "--mount",
            "type=volume,src=emptybin,dst=/bin,volume-nocopy",
            IMG,
            "/bin/sh",
            "-c",
            "true",
        ],
        "failed to create task for container: failed to create shim task: OCI runtime create failed: unable to start container process: exec: \"/bin/sh\": stat /bin/sh: no such file or directory: unknown",
    );
    assert_eq!(
        code(&[
            "run",
            "--rm",
            "--network",
            "none",
            IMG,
            "sh",
            "-c",
            "exit 3"
        ]),
        Some(3)
    );
    assert_eq!(
        code(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--bogus-flag",
            IMG,
            "true"
        ]),
        Some(125)
    );
    assert_eq!(
        code(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--restart",
            "sometimes",
            IMG,
            "true"
        ]),
        Some(125)
    );
    assert_eq!(
        code(&[
            "run",
            "--rm",
            "--network",
            "none",
            "no-such-image-here",
            "true"
        ]),
        Some(125)
    );
    assert_eq!(
        code(&["run", "--rm", "--network", "none", IMG, "no-such-command"]),
        Some(127)
    );
    assert_eq!(
        code(&["run", "--rm", "--network", "none", IMG, "/etc/passwd"]),
        Some(126)
    );
    assert!(
        d.eventually(10, || d.ok(&["ps", "-aq"]).is_empty()),
        "--rm containers left behind"
    );
    // A container whose process cannot start stays `Created`, with the exit code and
    // error recorded (dockerd 20.10 here shows the same), and a later start fails again.
    assert_eq!(
        code(&[
            "run",
            "--name",
            "nostart",
            "--network",
            "none",
            IMG,
            "/nonexistent"
        ]),
        Some(127)
    );
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "name=nostart",
            "--format",
            "{{.Status}}"
        ]),
        "Created"
    );
    let st = d.inspect(
        "nostart",
        "{{.State.Status}} {{.State.ExitCode}} {{.State.FinishedAt}}",
    );
    assert_eq!(st, "created 127 0001-01-01T00:00:00Z");
    assert!(!d.inspect("nostart", "{{.State.Error}}").is_empty());
    assert_eq!(code(&["start", "nostart"]), Some(1));
    d.ok(&["rm", "nostart"]);
}

#[test]
fn detached_container_ps_logs_follow_stop_rm() {
    prereqs!();
    let d = Daemon::start();
    let id = d.ok(&[
        "run", "-d", "--network", "none", "--name", "ticker", IMG, "sh", "-c",
        "trap 'echo bye; exit 0' TERM; i=0; while [ $i -lt 1000 ]; do echo line $i; echo err $i >&2; i=$((i+1)); sleep 0.05; done",
    ]);
    assert_eq!(id.len(), 64);
    assert!(
        d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"])
            .contains("ticker Up")
    );
    assert!(d.eventually(10, || d.ok(&["logs", "ticker"]).contains("line 5")));
    let out = d.docker(&["logs", "ticker"]);
    assert!(
        stdout(&out).starts_with("line 0\nline 1\n"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).starts_with("err 0\n"));
    let out = d.docker(&["logs", "--tail", "2", "-t", "ticker"]);
    let tail = stdout(&out);
    assert_eq!(tail.lines().count() + stderr(&out).lines().count(), 2);
    assert!(tail.starts_with("20") && tail.contains(" line "), "{tail}");
    // As dockerd prints them: nine fraction digits, whatever the file keeps.
    for l in tail.lines().chain(stderr(&out).lines()) {
        let ts = l.split(' ').next().unwrap();
        assert_eq!(ts.len(), "2026-12-05T12:00:00.123456789Z".len(), "{l}");
    }
    // `logs -f --until` ends at its time while the container runs on: at once for a time
    // past (`--until 1s` is a second ago), after it for one to come; no line after it.
    let follow_until = |until: &str| {
        let o = std::process::Command::new("timeout")
            .args([
                "20", "docker", "logs", "-f", "-t", "--until", until, "ticker",
            ])
            .env("DOCKER_HOST", d.host())
            .stderr(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "--until {until} did not end the follow"
        );
        stdout(&o)
    };
    follow_until("1s");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let until = format!("{:.3}", now + 1.5);
    let out = follow_until(&until);
    let last = out.lines().last().unwrap_or_default().to_owned();
    let before = d.ok(&["logs", "-t", "--until", &until, "ticker"]);
    assert_eq!(before.lines().last(), Some(last.as_str()), "{out}");
    // logs -f follows new lines and ends when the container stops.
    let host = d.host();
    let follower = std::thread::spawn(move || {
        std::process::Command::new("timeout")
            .args(["30", "docker", "logs", "-f", "ticker"])
            .env("DOCKER_HOST", host)
            .stderr(std::process::Stdio::null())
            .output()
            .unwrap()
    });
    std::thread::sleep(std::time::Duration::from_millis(800));
    d.ok(&["stop", "-t", "5", "ticker"]);
    let followed = follower.join().unwrap();
    assert!(
        followed.status.success(),
        "logs -f did not end with the container"
    );
    let text = stdout(&followed);
    assert!(
        text.trim_end().ends_with("bye"),
        "{}",
        common::tail(&text, 3)
    );
    // Lines are consecutive: none lost.
    let nums: Vec<u32> = text
        .lines()
        .filter_map(|l| l.strip_prefix("line ")?.parse().ok())
        .collect();
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "gap in logs");
    assert_eq!(
        d.inspect("ticker", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 0"
    );
    assert!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}"
        ])
        .contains("ticker")
    );
    assert!(d.ok(&["ps", "--format", "{{.Names}}"]).is_empty());
    d.ok(&["rm", "ticker"]);
    assert!(d.ok(&["ps", "-aq"]).is_empty());
}

#[test]
fn env_workdir_user_and_name_apply() {
    prereqs!();
    let d = Daemon::start();
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-e",
        "FOO=bar",
        "-w",
        "/work/dir",
        "-u",
        "user1",
        "--name",
        "named",
        "--hostname",
        "boxy",
        IMG,
        "sh",
        "-c",
        "echo $FOO; pwd; id; hostname",
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            "bar",
            "/work/dir",
            // The primary group is among the supplementary ones, as with dockerd.
            "uid=1000(user1) gid=1000(user1) groups=1000(user1),2000(extra)",
            "boxy"
        ]
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-u",
            "1234:5678",
            IMG,
            "id",
            "-u"
        ]),
        "1234"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-u",
        "nosuchuser",
        IMG,
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn read_only_rootfs_refuses_writes_but_tmpfs_works() {
    prereqs!();
    let d = Daemon::start();
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--read-only",
        IMG,
        "touch",
        "/x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Read-only file system"));
    d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--read-only",
        "--tmpfs",
        "/scratch",
        IMG,
        "touch",
        "/scratch/x",
    ]);
    // Without --read-only the container writes to its own layer.
    d.ok(&["run", "--rm", "--network", "none", IMG, "touch", "/x"]);
    // As dockerd, a `--tmpfs` is mounted but not listed in Mounts; a `--mount
    // type=tmpfs` is.
    d.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "tm",
        "--tmpfs",
        "/scratch",
        "--mount",
        "type=tmpfs,dst=/t2",
        IMG,
        "true",
    ]);
    assert_eq!(
        d.inspect("tm", "{{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}"),
        "tmpfs:/t2"
    );
    assert_eq!(
        d.inspect("tm", "{{json .HostConfig.Tmpfs}}"),
        r#"{"/scratch":""}"#
    );
}

#[test]
fn cgroupns_private_and_host_as_dockerd() {
    prereqs!();
    let d = Daemon::start();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let cg = |mode: &str| {
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--cgroupns",
            mode,
            IMG,
            "cat",
            "/proc/self/cgroup",
        ])
    };
    // Private: the container's cgroup is the root of what it sees, on v1 and v2 alike.
    let private = cg("private");
    assert!(
        !private.is_empty() && private.lines().all(|l| l.ends_with(":/")),
        "{private}"
    );
    // Its own limits are where a program looks for them.
    let mem = d.ok(&[
        "run", "--rm", "--network", "none", "--cgroupns", "private", "--memory", "64m", IMG,
        "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    ]);
    assert_eq!(mem, (64 << 20).to_string());
    // Host: it sees where it is in the host's tree.
    let host = cg("host");
    assert!(host.lines().any(|l| !l.ends_with(":/")), "{host}");
    // The default is dockerd's: private on a cgroup v2 host, host on v1; inspect says which.
    d.ok(&[
        "create",
        "--name",
        "cgdef",
        "--network",
        "none",
        IMG,
        "true",
    ]);
    let want = if v2 { "private" } else { "host" };
    assert_eq!(d.inspect("cgdef", "{{.HostConfig.CgroupnsMode}}"), want);
    d.ok(&["start", "-a", "cgdef"]);
    d.ok(&["rm", "cgdef"]);
    d.ok(&[
        "create",
        "--name",
        "cgpriv",
        "--cgroupns",
        "private",
        "--network",
        "none",
        IMG,
        "true",
    ]);
    assert_eq!(
        d.inspect("cgpriv", "{{.HostConfig.CgroupnsMode}}"),
        "private"
    );
    d.ok(&["rm", "cgpriv"]);
    // daemon.toml's default-cgroupns-mode (dockerd's); a bad one stops berthd.
    let mut d = d;
    let other = if v2 { "host" } else { "private" };
    assert!(d.terminate());
    d.set_config("default-cgroupns-mode", Some(&format!("{other:?}")));
    d.spawn();
    d.ok(&[
        "create",
        "--name",
        "cgdef2",
        "--network",
        "none",
        IMG,
        "true",
    ]);
    assert_eq!(d.inspect("cgdef2", "{{.HostConfig.CgroupnsMode}}"), other);
    d.ok(&["rm", "cgdef2"]);
    assert!(d.terminate());
    d.set_config("default-cgroupns-mode", Some("\"both\""));
    let err = d.try_spawn().unwrap_err();
    assert!(err.contains("default-cgroupns-mode"), "{err}");
}

#[test]
fn memory_pids_and_cpu_limits_are_visible_in_the_container_cgroup() {
    prereqs!();
    let d = Daemon::start();
    let mem = d.ok(&[
        "run", "--rm", "--network", "none", "--memory", "64m", IMG, "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    ]);
    assert_eq!(mem, (64 << 20).to_string());
    let pids = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--pids-limit",
        "20",
        IMG,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    assert_eq!(pids, "20");
    let cpu = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cpus",
        "0.5",
        IMG,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max",
    ]);
    assert!(cpu.starts_with("50000"), "{cpu}");
    d.inspect_last_memory();
}

trait InspectExt {
    fn inspect_last_memory(&self);
}
impl InspectExt for Daemon {
    fn inspect_last_memory(&self) {
        self.ok(&[
            "create",
            "--name",
            "memc",
            "--network",
            "none",
            "--memory",
            "32m",
            IMG,
            "true",
        ]);
        assert_eq!(
            self.inspect("memc", "{{.HostConfig.Memory}}"),
            (32 << 20).to_string()
        );
        assert_eq!(self.inspect("memc", "{{.State.Status}}"), "created");
        assert!(
            self.ok(&[
                "ps",
                "-a",
                "--filter",
                "status=created",
                "--format",
                "{{.Names}}"
            ])
            .contains("memc")
        );
        self.ok(&["rm", "memc"]);
    }
}

#[test]
fn cap_drop_and_cap_add_change_the_capability_sets() {
    prereqs!();
    let d = Daemon::start();
    let eff = |args: &[&str]| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend_from_slice(args);
        a.extend_from_slice(&[IMG, "sh", "-c", "grep CapEff /proc/self/status | cut -f2"]);
        u64::from_str_radix(d.ok(&a).trim(), 16).unwrap()
    };
    let default = eff(&[]);
    assert_eq!(default, 0xa80425fb, "Docker's default set");
    assert_eq!(eff(&["--cap-drop", "ALL"]), 0);
    assert_eq!(eff(&["--cap-add", "NET_ADMIN"]), default | (1 << 12));
    assert_eq!(eff(&["--cap-drop", "CHOWN"]), default & !1);
    assert!(eff(&["--privileged"]).count_ones() >= 38);
    // Dropping SETUID/SETGID shows as an error when changing user inside.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cap-drop",
        "ALL",
        IMG,
        "chown",
        "1:1",
        "/tmp",
    ]);
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn network_none_has_only_loopback_and_host_shares_the_host() {
    prereqs!();
    let d = Daemon::start();
    let ifs = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        IMG,
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(ifs.split_whitespace().collect::<Vec<_>>(), vec!["lo"]);
    // The host's own network namespace (compared by identity: other tests add and remove
    // links on the host concurrently, so counting interfaces would race).
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let ns = d.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        IMG,
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(ns.trim(), host_ns.to_str().unwrap());
}

/// berthd makes `--network none` namespaces ahead of time: each container must still get a
/// namespace of its own, never the host's or another container's, with lo up, and berthd
/// must not keep the ones it handed out.
#[test]
fn network_none_containers_each_get_a_fresh_namespace_with_lo_up() {
    prereqs!();
    let d = Daemon::start();
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let mut seen = std::collections::HashSet::new();
    let names = ["nn1", "nn2", "nn3", "nn4"];
    for n in names {
        d.ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            n,
            IMG,
            "sleep",
            "100",
        ]);
        let ns = d.ok(&["exec", n, "readlink", "/proc/1/ns/net"]);
        assert_ne!(
            ns.trim(),
            host_ns.to_str().unwrap(),
            "{n} has the host's namespace"
        );
        assert!(
            seen.insert(ns.trim().to_owned()),
            "{n} shares a namespace: {ns}"
        );
        // IFF_UP | IFF_LOOPBACK
        let flags = d.ok(&["exec", n, "cat", "/sys/class/net/lo/flags"]);
        assert_eq!(flags.trim(), "0x9", "{n}: lo flags");
        let ifs = d.ok(&["exec", n, "ls", "/sys/class/net"]);
        assert_eq!(ifs.split_whitespace().collect::<Vec<_>>(), vec!["lo"]);
    }
    let mut rm = vec!["rm", "-f"];
    rm.extend(names);
    d.ok(&rm);
    // berthd holds at most the next spare namespace, none of the containers'.
    let pid = d.pid.unwrap();
    let held = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|l| l.to_string_lossy().starts_with("net:["))
            .filter(|l| seen.contains(&*l.to_string_lossy()))
            .count()
    };
    assert!(
        d.eventually(10, || held() == 0),
        "berthd still holds {} container namespaces",
        held()
    );
}

#[test]
fn restart_policy_on_failure_retries_then_gives_up() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        IMG,
        "sh",
        "-c",
        "echo try; exit 2",
    ]);
    assert!(
        d.eventually(20, || d
            .inspect("flaky", "{{.RestartCount}} {{.State.Status}}")
            == "2 exited"),
        "{}",
        d.inspect("flaky", "{{.RestartCount}} {{.State.Status}}")
    );
    assert_eq!(d.ok(&["logs", "flaky"]).lines().count(), 3);
    // always: comes back after the process exits, until stopped.
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "phoenix",
        "--restart",
        "always",
        IMG,
        "sh",
        "-c",
        "sleep 0.3; exit 1",
    ]);
    assert!(d.eventually(20, || {
        d.inspect("phoenix", "{{.RestartCount}}")
            .parse::<i64>()
            .unwrap_or(0)
            >= 2
    }));
    d.ok(&["stop", "-t", "1", "phoenix"]);
    let n = d.inspect("phoenix", "{{.RestartCount}}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        d.inspect("phoenix", "{{.RestartCount}} {{.State.Running}}"),
        format!("{n} false")
    );
}

#[test]
fn exec_runs_in_the_container_with_its_exit_code() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "box",
        "-e",
        "FROMRUN=1",
        IMG,
        "sleep",
        "300",
    ]);
    assert_eq!(
        d.ok(&["exec", "box", "sh", "-c", "echo $FROMRUN; hostname"])
            .lines()
            .next(),
        Some("1")
    );
    assert_eq!(
        d.docker(&["exec", "box", "sh", "-c", "exit 5"])
            .status
            .code(),
        Some(5)
    );
    assert_eq!(
        d.ok(&[
            "exec",
            "-u",
            "user1",
            "-w",
            "/tmp",
            "box",
            "sh",
            "-c",
            "id -u; pwd"
        ]),
        "1000\n/tmp"
    );
    assert_eq!(
        d.ok(&["exec", "-e", "X=y", "box", "sh", "-c", "echo $X"]),
        "y"
    );
    let out = d.docker_stdin(&["exec", "-i", "box", "cat"], Some(b"piped\n"));
    assert_eq!(stdout(&out), "piped\n");
    d.ok(&["exec", "-d", "box", "touch", "/tmp/detached"]);
    assert!(d.eventually(5, || {
        d.docker(&["exec", "box", "test", "-f", "/tmp/detached"])
            .status
            .success()
    }));
    // The exec's process runs in the container's pid namespace.
    assert!(d.ok(&["exec", "box", "ps"]).contains("sleep 300"));
    // A command that is not there: the stream carries the error, the exit code is 126
    // (dockerd's for any exec that could not start; `run` gives 127 for a missing command).
    let out = d.docker(&["exec", "box", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("nosuchcmd"), "{all}");
    assert!(all.contains("executable file not found"), "{all}");
    let out = d.docker(&["exec", "-t", "box", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    let out = d.docker(&["exec", "box", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    // The user is looked up before the command, as dockerd does.
    let out = d.docker(&["exec", "-u", "nosuchuser", "box", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("unable to find user nosuchuser: no matching entries in passwd file"),
        "{out:?}"
    );
    d.ok(&["rm", "-f", "box"]);
    assert_ne!(d.docker(&["exec", "box", "true"]).status.code(), Some(0));
}

#[test]
fn kill_restart_pause_unpause_and_wait() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "w1",
        IMG,
        "sleep",
        "300",
    ]);
    let pid1 = d.inspect("w1", "{{.State.Pid}}");
    d.ok(&["pause", "w1"]);
    assert_eq!(
        d.inspect("w1", "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    assert_ne!(d.docker(&["pause", "w1"]).status.code(), Some(0));
    d.ok(&["unpause", "w1"]);
    assert_eq!(d.inspect("w1", "{{.State.Status}}"), "running");
    d.ok(&["restart", "-t", "1", "w1"]);
    assert_eq!(d.inspect("w1", "{{.State.Status}}"), "running");
    assert_ne!(d.inspect("w1", "{{.State.Pid}}"), pid1);
    // wait blocks until the kill lands, and reports 128+9.
    let host = d.host();
    let waiter = std::thread::spawn(move || {
        std::process::Command::new("timeout")
            .args(["30", "docker", "wait", "w1"])
            .env("DOCKER_HOST", host)
            .output()
            .unwrap()
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.ok(&["kill", "w1"]);
    assert_eq!(stdout(&waiter.join().unwrap()).trim(), "137");
    assert_eq!(d.ok(&["wait", "w1"]), "137");
    assert_eq!(d.inspect("w1", "{{.State.ExitCode}}"), "137");
    // kill with a signal the process handles.
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "h1",
        IMG,
        "sh",
        "-c",
        "trap 'exit 42' USR1; while :; do sleep 0.1; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    d.ok(&["kill", "-s", "USR1", "h1"]);
    assert_eq!(d.ok(&["wait", "h1"]), "42");
    assert_ne!(
        d.docker(&["kill", "h1"]).status.code(),
        Some(0),
        "kill of a stopped container fails"
    );
    // A running container is not removed without force.
    d.ok(&["start", "h1"]);
    assert_ne!(d.docker(&["rm", "h1"]).status.code(), Some(0));
    d.ok(&["rm", "-f", "h1", "w1"]);
}

#[test]
fn inspect_reports_docker_shape() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "insp",
        "--label",
        "a=b",
        "-e",
        "K=V",
        IMG,
        "sleep",
        "300",
    ]);
    let out = d.ok(&["inspect", "insp"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = &v[0];
    assert_eq!(c["Name"], "/insp");
    assert_eq!(c["Path"], "sleep");
    assert_eq!(c["Args"][0], "300");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    assert!(c["State"]["Pid"].as_i64().unwrap() > 0);
    assert!(c["State"]["StartedAt"].as_str().unwrap().starts_with("20"));
    assert_eq!(c["Config"]["Labels"]["a"], "b");
    assert!(
        c["Config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "K=V")
    );
    assert_eq!(c["HostConfig"]["NetworkMode"], "none");
    assert!(c["LogPath"].as_str().unwrap().ends_with("-json.log"));
    assert!(c["Image"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        d.ok(&["ps", "--filter", "label=a=b", "--format", "{{.Names}}"]),
        "insp"
    );
    assert_eq!(
        d.ok(&["ps", "--filter", "name=ins", "--format", "{{.Names}}"]),
        "insp"
    );
    assert_eq!(
        d.ok(&[
            "ps",
            "--filter",
            &format!("ancestor={IMG}"),
            "--format",
            "{{.Names}}"
        ]),
        "insp"
    );
    assert!(d.ok(&["ps", "--filter", "label=a=c", "-q"]).is_empty());
    let notfound = d.docker(&["inspect", "nope"]);
    assert!(!notfound.status.success());
    assert!(
        stderr(&notfound).contains("No such"),
        "{}",
        stderr(&notfound)
    );
    d.ok(&["rm", "-f", "insp"]);
}

#[test]
fn bind_mounts_and_named_volumes() {
    prereqs!();
    let d = Daemon::start();
    let host_dir = d.dir.path().join("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("in.txt"), "from host\n").unwrap();
    let bind = format!("{}:/mnt", host_dir.display());
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &bind,
            IMG,
            "sh",
            "-c",
            "cat /mnt/in.txt; echo back > /mnt/out.txt"
        ]),
        "from host"
    );
    assert_eq!(
        std::fs::read_to_string(host_dir.join("out.txt")).unwrap(),
        "back\n"
    );
    let ro = format!("{}:/mnt:ro", host_dir.display());
    assert_ne!(
        d.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &ro,
            IMG,
            "touch",
            "/mnt/x"
        ])
        .status
        .code(),
        Some(0)
    );
    d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "vol1:/data",
        IMG,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "vol1:/data",
            IMG,
            "cat",
            "/data/f"
        ]),
        "kept"
    );
    assert!(d.data.join("volumes/vol1/_data/f").exists());
    // `-v /path` makes an anonymous volume, removed with `rm -v`.
    d.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "anon",
        "-v",
        "/anon",
        IMG,
        "sh",
        "-c",
        "echo a > /anon/f",
    ]);
    let src = d.inspect("anon", "{{range .Mounts}}{{.Source}}{{end}}");
    assert!(
        src.ends_with("/_data") && std::path::Path::new(&src).join("f").exists(),
        "{src}"
    );
    d.ok(&["rm", "-v", "anon"]);
    assert!(!std::path::Path::new(&src).exists());
    // A new volume over an image directory starts with its content (copy-up), once.
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "etcvol:/etc",
            IMG,
            "sh",
            "-c",
            "grep -c user1 /etc/passwd; echo changed > /etc/passwd"
        ]),
        "1"
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "etcvol:/etc",
            IMG,
            "cat",
            "/etc/passwd"
        ]),
        "changed"
    );
}

#[test]
fn stdin_eof_reaches_the_container() {
    prereqs!();
    let d = Daemon::start();
    let out = d.docker_stdin(
        &["run", "-i", "--rm", "--network", "none", IMG, "cat"],
        Some(b"x\n"),
    );
    assert_eq!(stdout(&out), "x\n");
    assert_eq!(out.status.code(), Some(0));
    let big: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let out = d.docker_stdin(
        &["run", "-i", "--rm", "--network", "none", IMG, "wc", "-l"],
        Some(&big),
    );
    assert_eq!(stdout(&out).trim(), "200000");
    // Binary input to a process that does not read at first: the stdin pipe fills, the
    // input waits, and every byte comes back in order.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let bin: Vec<u8> = (0..3 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let out = d.docker_stdin(
        &[
            "run",
            "-i",
            "--rm",
            "--network",
            "none",
            IMG,
            "sh",
            "-c",
            "sleep 1; cat",
        ],
        Some(&bin),
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout == bin,
        "{} bytes back of {}",
        out.stdout.len(),
        bin.len()
    );
}

#[test]
fn init_reaps_and_forwards_signals() {
    prereqs!();
    let d = Daemon::start();
    let ps = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--init",
        IMG,
        "ps",
        "-o",
        "pid,args",
    ]);
    assert!(
        ps.lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("berth-init")),
        "{ps}"
    );
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--init",
        "--name",
        "i1",
        IMG,
        "sleep",
        "300",
    ]);
    // Stop once the init has started sleep, so it holds SIGTERM (it blocks the signals
    // before it forks): a signal that reaches a namespace's PID 1 while it neither blocks
    // nor handles it is dropped by the kernel (so with tini under dockerd too), and on a
    // loaded machine that window, the init's exec, can outlast `run -d`.
    let pid = d.inspect("i1", "{{.State.Pid}}");
    let children =
        || std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for _ in 0..400 {
        if !children().trim().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(
        !children().trim().is_empty(),
        "berth-init (pid {pid}) started no child"
    );
    d.ok(&["stop", "-t", "10", "i1"]);
    assert_eq!(
        d.inspect("i1", "{{.State.ExitCode}}"),
        "143",
        "SIGTERM forwarded to sleep"
    );
}

#[test]
fn api_version_prefix_and_ping_headers() {
    prereqs!();
    let d = Daemon::start();
    let curl = |path: &str| {
        let o = std::process::Command::new("curl")
            .args(["-s", "-i", "--unix-socket"])
            .arg(&d.sock)
            .arg(format!("http://x{path}"))
            .output()
            .unwrap();
        stdout(&o)
    };
    let ping = curl("/_ping");
    assert!(ping.starts_with("HTTP/1.1 200"));
    let lower = ping.to_ascii_lowercase();
    for h in [
        "api-version: 1.45",
        "ostype: linux",
        "docker-experimental: false",
        "swarm: inactive",
        "builder-version:",
        "server:",
    ] {
        assert!(lower.contains(h), "missing {h} in {ping}");
    }
    assert!(curl("/v1.45/containers/json").starts_with("HTTP/1.1 200"));
    assert!(curl("/v1.24/version").starts_with("HTTP/1.1 200"));
    let too_new = curl("/v1.99/version");
    assert!(
        too_new.starts_with("HTTP/1.1 400") && too_new.contains("\"message\""),
        "{too_new}"
    );
    assert!(curl("/v1.45/containers/nope/json").starts_with("HTTP/1.1 404"));
    // Attach without `Upgrade: tcp`: a plain 200 carrying the multiplexed output.
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "plain",
        IMG,
        "sh",
        "-c",
        "sleep 1; echo late",
    ]);
    let o = std::process::Command::new("curl")
        .args(["-s", "-X", "POST", "--max-time", "20", "--unix-socket"])
        .arg(&d.sock)
        .arg("http://x/v1.45/containers/plain/attach?stream=1&stdout=1&stderr=1")
        .args(["-D", "/dev/stderr"])
        .output()
        .unwrap();
    assert_eq!(
        o.stdout,
        b"\x01\0\0\0\0\0\0\x05late\n",
        "{:?}",
        String::from_utf8_lossy(&o.stdout)
    );
    // Named by its media type, as dockerd names it (clients pick their demultiplexer by it).
    let media = |headers: &str| {
        headers
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type: ")
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    };
    assert_eq!(
        media(&stderr(&o)),
        "application/vnd.docker.multiplexed-stream"
    );
    // The same for an exec started without the upgrade, with and without a terminal.
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "ex",
        IMG,
        "sleep",
        "300",
    ]);
    for (tty, want) in [
        (false, "application/vnd.docker.multiplexed-stream"),
        (true, "application/vnd.docker.raw-stream"),
    ] {
        let post = |path: &str, body: String| {
            std::process::Command::new("curl")
                .args(["-s", "-X", "POST", "--max-time", "20", "-D", "/dev/stderr"])
                .args(["-H", "Content-Type: application/json", "--data", &body])
                .arg("--unix-socket")
                .arg(&d.sock)
                .arg(format!("http://x/v1.45{path}"))
                .output()
                .unwrap()
        };
        let created = post(
            "/containers/ex/exec",
            format!(r#"{{"Cmd":["echo","hi"],"AttachStdout":true,"Tty":{tty}}}"#),
        );
        let id = stdout(&created)
            .split('"')
            .nth(3)
            .unwrap_or_default()
            .to_owned();
        let started = post(&format!("/exec/{id}/start"), format!(r#"{{"Tty":{tty}}}"#));
        assert_eq!(media(&stderr(&started)), want, "{}", stderr(&started));
        assert!(stdout(&started).contains("hi"), "{}", stdout(&started));
    }
    // Exec inspect leaves an empty user out, as dockerd; a set one is there, and an exec
    // without one shows the container's (`exu` runs as 7:7), which it runs as.
    d.run_detached("exu", &["-u", "7:7"], &["sleep", "300"]);
    for (ctr, user, want) in [
        ("ex", "", "null"),
        ("ex", "1:2", "\"1:2\""),
        ("exu", "", "\"7:7\""),
    ] {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data",
            ])
            .arg(format!(r#"{{"Cmd":["true"],"User":"{user}"}}"#))
            .arg("--unix-socket")
            .arg(&d.sock)
            .arg(format!("http://x/v1.45/containers/{ctr}/exec"))
            .output()
            .unwrap();
        let id = stdout(&out)
            .split('"')
            .nth(3)
            .unwrap_or_default()
            .to_owned();
        let inspect = std::process::Command::new("curl")
            .args(["-s", "--unix-socket"])
            .arg(&d.sock)
            .arg(format!("http://x/v1.45/exec/{id}/json"))
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
        assert_eq!(v["ProcessConfig"]["user"].to_string(), want, "{v}");
    }
    d.ok(&["rm", "-f", "exu"]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&d.sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660, "socket mode {mode:o}");
    let v = d.ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(v, "1.45");
    d.ok(&["info"]);
}

#[test]
fn more_host_config_options_apply() {
    prereqs!();
    let d = Daemon::start();
    let run = |args: &[&str], cmd: &str| {
        let mut a = vec!["run", "--rm"];
        if !args.contains(&"--network") {
            a.extend_from_slice(&["--network", "none"]);
        }
        a.extend_from_slice(args);
        a.extend_from_slice(&[IMG, "sh", "-c", cmd]);
        d.ok(&a)
    };
    assert_eq!(
        run(
            &["--sysctl", "kernel.msgmax=65536"],
            "cat /proc/sys/kernel/msgmax"
        ),
        "65536"
    );
    assert!(run(&["--shm-size", "16m"], "df -k /dev/shm | tail -1").contains("16384"));
    assert_eq!(
        run(&["--group-add", "2000", "-u", "1000"], "id -G"),
        "1000 2000"
    );
    assert!(
        run(&["--add-host", "foo.test:10.1.2.3"], "cat /etc/hosts").contains("10.1.2.3\tfoo.test")
    );
    let status = |args: &[&str], key: &str| {
        run(args, &format!("grep '^{key}:' /proc/self/status | cut -f2"))
    };
    assert_eq!(
        status(&[], "Seccomp"),
        "2",
        "default seccomp profile applies"
    );
    assert_eq!(
        status(&["--security-opt", "seccomp=unconfined"], "Seccomp"),
        "0"
    );
    assert_eq!(status(&["--privileged"], "Seccomp"), "0");
    // A profile file: the docker CLI sends its JSON inline (one with '=' in a string too).
    let profile = d.dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"comment": "a=b", "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    assert_eq!(
        run(
            &["--security-opt", &opt],
            "mkdir /made 2>/dev/null && echo made || echo denied"
        ),
        "denied"
    );
    assert_eq!(status(&[], "NoNewPrivs"), "0");
    assert_eq!(
        status(&["--security-opt", "no-new-privileges"], "NoNewPrivs"),
        "1"
    );
    // The default profile refuses unshare (its namespace flags need CAP_SYS_ADMIN).
    assert_ne!(
        d.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            IMG,
            "unshare",
            "-U",
            "true"
        ])
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        run(
            &["--cpuset-cpus", "0"],
            "cat /sys/fs/cgroup/cpuset/cpuset.cpus 2>/dev/null || cat /sys/fs/cgroup/cpuset.cpus"
        ),
        "0"
    );
    assert_eq!(
        run(&["--oom-score-adj", "300"], "cat /proc/self/oom_score_adj"),
        "300"
    );
    assert_eq!(
        run(&["--ulimit", "nofile=512:1024"], "ulimit -n; ulimit -Hn"),
        "512\n1024"
    );
    // Lower than the runtime's own descriptors (runc fails these), for `run` and `exec`.
    assert_eq!(
        run(
            &["--ulimit", "nofile=10:10", "-u", "1000"],
            "ulimit -n; ulimit -Hn"
        ),
        "10\n10"
    );
    d.run_detached("fewfds", &["--ulimit", "nofile=8:8"], &["sleep", "300"]);
    assert_eq!(
        d.ok(&["exec", "fewfds", "sh", "-c", "ulimit -n"]).trim(),
        "8"
    );
    d.ok(&["rm", "-f", "fewfds"]);
    assert_eq!(
        run(
            &["--device", "/dev/null:/dev/mynull"],
            "echo x > /dev/mynull && echo ok"
        ),
        "ok"
    );
    // Host pid namespace: the host's pid 1 is visible.
    assert!(run(&["--pid", "host"], "cat /proc/1/cmdline | head -c 64; echo").len() > 1);
    assert_ne!(run(&["--pid", "host"], "echo $$"), "1");
    // container:ID joins another container's namespaces.
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "nsowner",
        "--hostname",
        "owner",
        IMG,
        "sleep",
        "300",
    ]);
    let ipc = d.ok(&["exec", "nsowner", "readlink", "/proc/self/ns/ipc"]);
    assert_eq!(
        run(
            &["--ipc", "container:nsowner"],
            "readlink /proc/self/ns/ipc"
        ),
        ipc
    );
    assert_eq!(
        run(
            &["--network", "container:nsowner"],
            "readlink /proc/self/ns/net"
        ),
        d.ok(&["exec", "nsowner", "readlink", "/proc/self/ns/net"])
    );
    assert!(run(&["--pid", "container:nsowner"], "ps").contains("sleep 300"));
    // StopSignal from the options is what stop sends.
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "sig",
        "--stop-signal",
        "USR1",
        IMG,
        "sh",
        "-c",
        "trap 'exit 9' USR1; while :; do sleep 0.1; done",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    d.ok(&["stop", "-t", "10", "sig"]);
    assert_eq!(d.inspect("sig", "{{.State.ExitCode}}"), "9");
    // Real-time signals by dockerd's names (RTMIN is 34), for kill and as the stop signal.
    d.run_detached(
        "rtsig",
        &["--stop-signal", "RTMAX-1"],
        &[
            "sh",
            "-c",
            "trap 'exit 5' 35; trap 'exit 6' 63; while :; do sleep 0.1; done",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    d.ok(&["kill", "-s", "RTMIN+1", "rtsig"]);
    assert_eq!(d.ok(&["wait", "rtsig"]), "5");
    d.ok(&["start", "rtsig"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    d.ok(&["stop", "-t", "10", "rtsig"]);
    assert_eq!(d.inspect("rtsig", "{{.State.ExitCode}}"), "6");
    d.ok(&["rm", "rtsig"]);
    // Logs rotate at max-size, keeping max-file files.
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "rot",
        "--log-opt",
        "max-size=10k",
        "--log-opt",
        "max-file=2",
        IMG,
        "sh",
        "-c",
        "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    assert_eq!(d.ok(&["wait", "rot"]), "0");
    let log = d.inspect("rot", "{{.LogPath}}");
    assert!(std::path::Path::new(&format!("{log}.1")).exists());
    assert!(!std::path::Path::new(&format!("{log}.2")).exists());
    // As dockerd: `10k` is 10 000 bytes, and a file is rotated once it has reached that,
    // ending with the entry that took it there.
    let size = |p: &str| std::fs::metadata(p).unwrap().len();
    assert!(size(&log) < 10_100, "{}", size(&log));
    let older = size(&format!("{log}.1"));
    assert!((10_000..10_100).contains(&older), "{older}");
    assert!(d.ok(&["logs", "--tail", "1", "rot"]).ends_with("line-1999"));
    d.ok(&["rm", "-f", "nsowner", "sig", "rot"]);
}

#[test]
fn a_log_flood_loses_no_line() {
    prereqs!();
    let d = Daemon::start();
    let out = d.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        "flood",
        IMG,
        "seq",
        "1",
        "200000",
    ]);
    assert!(out.status.success());
    let attached = stdout(&out);
    assert_eq!(attached.lines().count(), 200_000);
    assert_eq!(attached.lines().last(), Some("200000"));
    let logs = d.docker(&["logs", "flood"]);
    let text = stdout(&logs);
    assert_eq!(text.lines().count(), 200_000);
    assert!(
        text.lines()
            .enumerate()
            .all(|(i, l)| l == (i + 1).to_string())
    );
    d.ok(&["rm", "flood"]);
}

#[test]
fn rm_container_survives_restart_and_keeps_its_writes_until_it_ends() {
    prereqs!();
    let d = Daemon::start();
    // `--rm` containers get a volatile overlay (no syncs); a restart mounts it again.
    let id = d.ok(&[
        "run",
        "-d",
        "--rm",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "echo x >> /f; sleep 300",
    ]);
    assert!(d.eventually(10, || {
        d.docker(&["exec", &id, "cat", "/f"]).status.success()
    }));
    d.ok(&["restart", "-t", "0", &id]);
    assert_eq!(d.inspect(&id, "{{.State.Status}}"), "running");
    assert!(d.eventually(10, || d.ok(&["exec", &id, "cat", "/f"]) == "x\nx"));
    d.ok(&["stop", "-t", "0", &id]);
    assert!(d.eventually(10, || d.ok(&["ps", "-aq"]).is_empty()));
}

/// Raw HTTP/1.1 over the daemon's socket; returns the whole response (connection closes).
fn raw_request(sock: &std::path::Path, req: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// The payloads of Docker's multiplexed frames as (stream, text), after the headers.
fn demux(resp: &[u8]) -> Vec<(u8, String)> {
    let at = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers")
        + 4;
    let mut b = &resp[at..];
    let mut out = Vec::new();
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        out.push((b[0], String::from_utf8_lossy(&b[8..8 + n]).into_owned()));
        b = &b[8 + n..];
    }
    out
}

#[test]
fn attach_with_logs_replays_what_was_logged_first() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "-i",
        "--network",
        "none",
        "--name",
        "al",
        IMG,
        "sh",
        "-c",
        "echo one; echo two >&2; read x; echo got $x",
    ]);
    assert!(d.eventually(10, || d.ok(&["logs", "al"]) == "one"));
    // logs=1 without stream: the history only, multiplexed, and the connection ends.
    let resp = raw_request(
        &d.sock,
        "POST /v1.45/containers/al/attach?logs=1&stream=0&stdout=1&stderr=1 HTTP/1.1\r\n\
         Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
    );
    let frames = demux(&resp);
    assert_eq!(
        frames,
        vec![(1, "one\n".to_owned()), (2, "two\n".to_owned())],
        "{}",
        String::from_utf8_lossy(&resp)
    );
    // logs=1 with stream: the history, then live output (stdin reaches the container).
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    s.write_all(
        b"POST /v1.45/containers/al/attach?logs=1&stream=1&stdin=1&stdout=1 HTTP/1.1\r\n\
          Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.write_all(b"yes\n").unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let frames = demux(&out);
    let texts: Vec<&str> = frames.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        texts.concat(),
        "one\ngot yes\n",
        "{}",
        String::from_utf8_lossy(&out)
    );
    d.ok(&["rm", "-f", "al"]);
}

/// Reads one multiplexed frame: (stream, payload).
fn read_frame(s: &mut std::os::unix::net::UnixStream) -> Option<(u8, String)> {
    use std::io::Read;
    let mut h = [0u8; 8];
    s.read_exact(&mut h).ok()?;
    let n = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).ok()?;
    Some((h[0], String::from_utf8_lossy(&b).into_owned()))
}

/// A hijacked attach without a tty is served by the container's shim on the client's own
/// connection: stdin sent with the request itself is delivered, and the stream goes on
/// while berthd is killed and restarted; its end closes the stream with the exit recorded.
#[test]
fn attach_stream_outlives_a_berthd_restart() {
    prereqs!();
    let mut d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "-i",
        "--network",
        "none",
        "--name",
        "live",
        IMG,
        "sh",
        "-c",
        "while read l; do echo \"got $l\"; echo \"err $l\" >&2; done; exit 7",
    ]);
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    // The first stdin bytes arrive in the same write as the request.
    s.write_all(
        b"POST /v1.45/containers/live/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n\
          Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("application/vnd.docker.multiplexed-stream"),
        "{head}"
    );
    let expect = |s: &mut std::os::unix::net::UnixStream, word: &str| {
        let mut got = vec![read_frame(s).expect("frame"), read_frame(s).expect("frame")];
        got.sort();
        assert_eq!(
            got,
            vec![(1, format!("got {word}\n")), (2, format!("err {word}\n"))]
        );
    };
    expect(&mut s, "early");
    d.kill9();
    s.write_all(b"while-down\n").unwrap();
    expect(&mut s, "while-down");
    d.spawn();
    s.write_all(b"after\n").unwrap();
    expect(&mut s, "after");
    // End of input: the container ends, the stream closes after its last output.
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(d.eventually(10, || d.inspect("live", "{{.State.ExitCode}}") == "7"));
    let logs = d.docker(&["logs", "live"]);
    assert_eq!(stdout(&logs), "got early\ngot while-down\ngot after\n");
    assert_eq!(stderr(&logs), "err early\nerr while-down\nerr after\n");
    d.ok(&["rm", "-f", "live"]);
}

/// Requests dockerd refuses before doing anything are refused the same way: an unknown
/// filter key (400 `invalid filter`), a relative working directory (400 at create).
#[test]
fn unknown_filters_and_relative_workdirs_are_refused_as_dockerd_does() {
    prereqs!();
    let d = Daemon::start();
    for args in [
        &["ps", "--filter", "bogus=1"][..],
        &["images", "--filter", "bogus=1"],
        &["volume", "ls", "--filter", "bogus=1"],
        &["network", "ls", "--filter", "bogus=1"],
        &["container", "prune", "-f", "--filter", "bogus=1"],
        &["image", "prune", "-f", "--filter", "bogus=1"],
        &["network", "prune", "-f", "--filter", "bogus=1"],
    ] {
        let out = d.docker(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&out).trim(),
            "Error response from daemon: invalid filter 'bogus'",
            "{args:?}"
        );
    }
    // The filters each one does take still work.
    for args in [
        &[
            "ps",
            "-a",
            "--filter",
            "label=x",
            "--filter",
            "status=exited",
        ][..],
        &[
            "images",
            "--filter",
            "dangling=true",
            "--filter",
            "reference=x",
        ],
        &[
            "volume",
            "ls",
            "--filter",
            "dangling=true",
            "--filter",
            "driver=local",
        ],
        &[
            "network",
            "ls",
            "--filter",
            "driver=bridge",
            "--filter",
            "scope=local",
        ],
        &["container", "prune", "-f", "--filter", "until=1h"],
        &["volume", "prune", "-f", "--filter", "label=x"],
    ] {
        let out = d.docker(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let out = d.docker(&["run", "--rm", "-w", "rel", "--network", "none", IMG, "pwd"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains(
            "Error response from daemon: the working directory 'rel' is invalid, it needs to be an absolute path"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "", "nothing was created");
}

/// The first stderr line of a docker command that must fail.
fn first_error_line(d: &Daemon, args: &[&str]) -> String {
    let out = d.docker(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    stderr(&out).lines().next().unwrap_or("").to_owned()
}

/// The first line of a refused `docker run`: exit 125 and dockerd's words.
fn run_refused(d: &Daemon, args: &[&str], msg: &str) {
    run_refused_with(d, 125, args, msg);
}

/// The first line of a failed `docker run`: its exit code and dockerd's words.
fn run_refused_with(d: &Daemon, code: i32, args: &[&str], msg: &str) {
    let mut full = vec!["run", "--network", "none"];
    full.extend_from_slice(args);
    let out = d.docker(&full);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert_eq!(
        err.lines().next().unwrap_or(""),
        format!("docker: Error response from daemon: {msg}"),
        "{args:?}"
    );
}

/// Requests dockerd 20.10 refuses before it creates anything (resource limits, restart
/// policy, modes, logging, runtime, mounts): the same words, exit 125, no container.
#[test]
fn bad_run_options_are_refused_in_dockerd_words() {
    prereqs!();
    let d = Daemon::start();
    for (args, msg) in [
        (
            &["--memory", "1k"][..],
            "Minimum memory limit allowed is 6MB",
        ),
        (
            &["--memory", "8m", "--memory-swap", "7m"],
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        (
            &["--memory-swap", "20m"],
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ),
        (
            &["--memory-reservation", "100m", "--memory", "50m"],
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ),
        (
            &["--cpus", "0.5", "--cpu-period", "100000"],
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ),
        (
            &["--cpu-period", "500"],
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
        (
            &["--cpu-quota", "500"],
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ),
        (
            &["--cpuset-cpus", "abc"],
            "Invalid value abc for cpuset cpus: invalid format: abc",
        ),
        (
            &["--oom-score-adj", "2000"],
            "Invalid value 2000, range for oom score adj is [-1000, 1000]",
        ),
        (
            &["--restart", "no:1"],
            "maximum retry count cannot be used with restart policy 'no'",
        ),
        (
            &["--restart", "on-failure:-1"],
            "maximum retry count cannot be negative",
        ),
        (&["--ipc", "bogus"], "Invalid IPC mode: bogus"),
        (
            &["--link", "missing:m"],
            "could not get container for missing: No such container: missing",
        ),
        (&["--stop-signal", "BOGUS"], "Invalid signal: BOGUS"),
        (&["--runtime", "bogus"], "Unknown runtime specified bogus"),
        (
            &["--isolation", "hyperv"],
            "Invalid isolation: \"hyperv\" - linux only supports 'default'",
        ),
        (
            &["--storage-opt", "size=1G"],
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
        ),
        (
            &["--log-driver", "bogus"],
            "error looking up logging plugin bogus: plugin \"bogus\" not found",
        ),
        (
            &["--log-opt", "bogus=1"],
            "unknown log opt 'bogus' for json-file log driver",
        ),
        (
            &["--log-opt", "max-size=10q"],
            "failed to initialize logging driver: invalid size: '10q'",
        ),
        (
            &["--log-opt", "max-size=0"],
            "failed to initialize logging driver: max-size must be a positive number",
        ),
        (
            &["--log-opt", "max-file=0"],
            "failed to initialize logging driver: max-file cannot be less than 1",
        ),
        (
            &["--log-opt", "compress=maybe"],
            "failed to initialize logging driver: strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
        (
            &["--log-opt", "compress=true", "--log-opt", "max-file=1"],
            "failed to initialize logging driver: compress cannot be true when max-file is less than 2",
        ),
        (
            &["--log-opt", "env-regex=("],
            "failed to initialize logging driver: error parsing regexp in env-regex \"(\": unclosed group",
        ),
        (
            &["--log-opt", "tag={{.Nope}}"],
            "failed to initialize logging driver: template: log-tag: {{.Nope}} is not supported (the fields of dockerd's logger info are: .ID .FullID .Name .ImageID .ImageFullID .ImageName .Command .DaemonName .Hostname)",
        ),
        (
            &["--cap-add", "BOGUS"],
            "invalid CapAdd: unknown capability: \"CAP_BOGUS\"",
        ),
        (&["-v", "/tmp:/x:bogus"], "invalid mode: bogus"),
        (&["-v", "/tmp:/x:ro,rw"], "invalid mode: ro,rw"),
        (
            &["-v", "/tmp:/"],
            "invalid volume specification: '/tmp:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'",
        ),
        (
            &["-v", "rel/path:/x"],
            "create rel/path: \"rel/path\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path",
        ),
        (
            &["--mount", "type=bogus,target=/x"],
            "invalid mount config for type \"bogus\": mount type unknown",
        ),
        (
            &["--mount", "type=bind,target=/x"],
            "invalid mount config for type \"bind\": field Source must not be empty",
        ),
        (
            &["--mount", "type=bind,source=rel,target=/x"],
            "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute",
        ),
        (
            &["--mount", "type=volume,source=v1,target=rel"],
            "invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute",
        ),
        (
            &["--mount", "type=tmpfs,source=x,target=/x"],
            "invalid mount config for type \"tmpfs\": field Source must not be specified",
        ),
        (
            &[
                "--mount",
                "type=bind,source=/tmp,target=/x",
                "--mount",
                "type=bind,source=/tmp,target=/x",
            ],
            "Duplicate mount point: /x",
        ),
    ] {
        let mut full = args.to_vec();
        full.extend([IMG, "true"]);
        run_refused(&d, &full, msg);
    }
    // The CPU count is the host's: its range is in the words.
    let out = d.docker(&["run", "--network", "none", "--cpus", "4096", IMG, "true"]);
    assert_eq!(out.status.code(), Some(125));
    let ncpu = std::thread::available_parallelism().unwrap().get();
    assert!(
        stderr(&out).starts_with(&format!(
            "docker: Error response from daemon: Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&[
        "run",
        "--network",
        "none",
        "--cpuset-cpus",
        "4095",
        IMG,
        "true",
    ]);
    assert!(
        stderr(&out).starts_with(
            "docker: Error response from daemon: Requested CPUs are not available - requested 4095, available: "
        ),
        "{}",
        stderr(&out)
    );
    // A missing --volumes-from container is a 400: the docker CLI must not take it for a
    // missing image and go pulling it.
    let out = d.docker(&[
        "run",
        "--network",
        "none",
        "--volumes-from",
        "missing",
        IMG,
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out).lines().next(),
        Some("docker: Error response from daemon: No such container: missing"),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "", "nothing was created");
    // update checks the same limits, and a memory limit above the recorded swap limit.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "up1",
        "--network",
        "none",
        IMG,
        "sleep",
        "60",
    ]);
    d.fails(
        &["update", "--memory", "10m", "up1"],
        "Error response from daemon: Cannot update container ",
    );
    let err = d.fails(&["update", "--restart", "bogus", "up1"], "");
    assert_eq!(
        err.trim(),
        "Error response from daemon: invalid restart policy 'bogus'"
    );
    let err = d.fails(&["update", "--cpu-quota", "500", "up1"], "");
    assert_eq!(
        err.trim(),
        "Error response from daemon: CPU cfs quota can not be less than 1ms (i.e. 1000)"
    );
}

/// What dockerd 20.10 says to requests the state of a container forbids: a taken name,
/// exec/start/kill/rm against stopped, paused or running containers, a rename, joining the
/// namespaces of a stopped container, network connects a network mode rules out.
#[test]
fn state_errors_use_dockerd_words() {
    prereqs!();
    let d = Daemon::start();
    let err1 = |args: &[&str]| first_error_line(&d, args);
    let id = d.ok(&[
        "create",
        "--name",
        "st1",
        "--network",
        "none",
        IMG,
        "sleep",
        "60",
    ]);
    assert_eq!(
        err1(&["create", "--name", "st1", "--network", "none", IMG, "true"]),
        format!(
            "Error response from daemon: Conflict. The container name \"/st1\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
        )
    );
    assert_eq!(
        err1(&["exec", "st1", "true"]),
        format!("Error response from daemon: Container {id} is not running")
    );
    assert_eq!(
        err1(&["kill", "st1"]),
        format!(
            "Error response from daemon: Cannot kill container: st1: Container {id} is not running"
        )
    );
    assert_eq!(
        err1(&["kill", "nosuch"]),
        "Error response from daemon: Cannot kill container: nosuch: No such container: nosuch"
    );
    assert_eq!(
        err1(&["rename", "st1", "bad name"]),
        "Error response from daemon: Error when allocating new name: Invalid container name (/bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    );
    assert_eq!(
        err1(&["rename", "nosuch", "zz"]),
        "Error response from daemon: No such container: nosuch"
    );
    // Joining the namespaces of a container that does not run.
    for (mode, msg) in [
        (
            &["--pid", "container:st1"][..],
            format!("container {id} is not running"),
        ),
        (
            &["--ipc", "container:st1"],
            format!("can't join IPC of container {id}: container {id} is not running"),
        ),
    ] {
        let mut args = mode.to_vec();
        args.extend([IMG, "true"]);
        run_refused(&d, &args, &msg);
    }
    let out = d.docker(&["run", "--rm", "--network", "container:st1", IMG, "true"]);
    assert_eq!(
        stderr(&out).lines().next(),
        Some(
            format!(
                "docker: Error response from daemon: cannot join network of a non running container: {id}"
            )
            .as_str()
        )
    );
    let out = d.docker(&[
        "run",
        "--network",
        "container:st1",
        "--hostname",
        "h",
        IMG,
        "true",
    ]);
    assert_eq!(
        stderr(&out).lines().next(),
        Some(
            "docker: Error response from daemon: conflicting options: hostname and the network mode"
        )
    );
    // Running, then paused.
    d.ok(&["start", "st1"]);
    assert_eq!(
        err1(&["rm", "st1"]),
        format!(
            "Error response from daemon: You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
        )
    );
    d.ok(&["pause", "st1"]);
    assert_eq!(
        err1(&["exec", "st1", "true"]),
        "Error response from daemon: Container st1 is paused, unpause the container before exec"
    );
    assert_eq!(
        err1(&["start", "st1"]),
        "Error response from daemon: cannot start a paused container, try unpause instead"
    );
    assert_eq!(
        err1(&["rm", "st1"]),
        format!(
            "Error response from daemon: You cannot remove a paused container {id}. Unpause and then stop the container before attempting removal or force remove"
        )
    );
    d.ok(&["unpause", "st1"]);
    // Network connects a network mode rules out.
    d.ok(&["create", "--name", "nn1", "--network", "none", IMG, "true"]);
    d.ok(&["create", "--name", "nh1", "--network", "host", IMG, "true"]);
    d.ok(&["create", "--name", "nb1", IMG, "true"]);
    for (args, msg) in [
        (
            ["network", "connect", "bridge", "nn1"],
            "container cannot be connected to multiple networks with one of the networks in private (none) mode",
        ),
        (
            ["network", "connect", "bridge", "nh1"],
            "container sharing network namespace with another container or host cannot be connected to any other network",
        ),
        (
            ["network", "connect", "host", "nb1"],
            "container cannot be disconnected from host network or connected to host network",
        ),
        (
            ["network", "connect", "none", "nb1"],
            "container cannot be connected to multiple networks with one of the networks in private (none) mode",
        ),
    ] {
        assert_eq!(
            err1(&args),
            format!("Error response from daemon: {msg}"),
            "{args:?}"
        );
    }
    // A missing device: the start fails with Go's words, which the CLI maps to 127.
    let out = d.docker(&[
        "run",
        "--network",
        "none",
        "--device",
        "/nonexistent",
        IMG,
        "true",
    ]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(
            "docker: Error response from daemon: error gathering device information while adding custom device \"/nonexistent\": no such file or directory"
        ),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "-f", "st1"]);
}

/// `docker ps` as dockerd lists: a restarting container counts as running, arguments
/// with spaces are quoted in COMMAND, and a container of the none or host network has
/// that network in its inspect.
#[test]
fn ps_and_inspect_show_what_dockerd_shows() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rs1",
        "--network",
        "none",
        "--restart",
        "always",
        IMG,
        "sh",
        "-c",
        "exit 1",
    ]);
    assert!(
        d.eventually(20, || d
            .ok(&["ps", "--format", "{{.Names}} {{.Status}}"])
            .starts_with("rs1 Restarting (1)")),
        "{}",
        d.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
    );
    assert_eq!(
        d.ok(&["ps", "--no-trunc", "--format", "{{.Command}}"]),
        "\"sh -c 'exit 1'\""
    );
    d.ok(&["rm", "-f", "rs1"]);
    d.ok(&["create", "--name", "in1", "--network", "none", IMG, "true"]);
    d.ok(&["create", "--name", "ih1", "--network", "host", IMG, "true"]);
    for (c, net) in [("in1", "none"), ("ih1", "host")] {
        let id = d.ok(&["network", "inspect", "-f", "{{.Id}}", net]);
        assert_eq!(
            d.inspect(
                c,
                "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.NetworkID}} [{{$v.IPAddress}}]{{end}}"
            ),
            format!("{net} {id} []")
        );
        assert_eq!(
            d.ok(&[
                "ps",
                "-a",
                "--filter",
                &format!("name={c}"),
                "--format",
                "{{.Networks}}"
            ]),
            net
        );
    }
}

/// dockerd 20.10's words for bad network and volume requests and for list filters with
/// values it does not take.
#[test]
fn network_volume_and_filter_errors_use_dockerd_words() {
    prereqs!();
    let d = Daemon::start();
    let err1 = |args: &[&str]| first_error_line(&d, args);
    for (args, msg) in [
        (
            &["network", "create", "bridge"][..],
            "operation is not permitted on predefined bridge network",
        ),
        (
            &["network", "create", "-d", "bogus", "nb1"],
            "plugin \"bogus\" not found",
        ),
        (
            &["network", "create", "--subnet", "bogus", "nb1"],
            "Invalid subnet bogus : invalid CIDR address: bogus",
        ),
        (
            &["volume", "create", "-d", "bogus", "vb1"],
            "create vb1: error looking up volume plugin bogus: plugin \"bogus\" not found",
        ),
        (
            &["volume", "create", "-o", "bogus=1", "vo1"],
            "create vo1: invalid option: \"bogus\"",
        ),
        (
            &["ps", "--filter", "status=bogus"],
            "invalid filter 'status=bogus'",
        ),
        (
            &["ps", "-a", "--filter", "exited=abc"],
            "strconv.Atoi: parsing \"abc\": invalid syntax",
        ),
        (
            &["ps", "--filter", "before=nosuch"],
            "no such container nosuch",
        ),
        (
            &["images", "--filter", "dangling=maybe"],
            "invalid filter 'dangling=[maybe]'",
        ),
        (
            &["volume", "ls", "--filter", "dangling=maybe"],
            "invalid filter 'dangling=[maybe]'",
        ),
        (
            &["ps", "-a", "--filter", "is-task=maybe"],
            "invalid filter 'is-task=[maybe]'",
        ),
        (
            &["network", "ls", "--filter", "type=bogus"],
            "invalid filter: 'type'='bogus'",
        ),
        (
            &["network", "ls", "--filter", "dangling=maybe"],
            "invalid value for filter 'dangling', must be \"true\" (or \"1\"), or \"false\" (or \"0\")",
        ),
    ] {
        assert_eq!(
            err1(args),
            format!("Error response from daemon: {msg}"),
            "{args:?}"
        );
    }
    let nid = d.ok(&["network", "create", "nr1"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "nr1c",
        "--network",
        "nr1",
        IMG,
        "sleep",
        "60",
    ]);
    assert_eq!(
        err1(&["network", "rm", "nr1"]),
        format!(
            "Error response from daemon: error while removing network: network nr1 id {nid} has active endpoints"
        )
    );
    d.ok(&["rm", "-f", "nr1c"]);
    d.ok(&["network", "rm", "nr1"]);
}

/// Shapes and words a script reads: inspect's unset limits (null), omitted empty fields
/// and default masked paths, `logs --details`, `diff` without the init files' dirs, and
/// the errors of prune `until`, commit `--change` and a relative `--tmpfs`.
#[test]
fn inspect_logs_diff_and_commit_as_dockerd_shows() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["create", "--name", "ic1", "--network", "none", IMG, "true"]);
    assert_eq!(
        d.inspect(
            "ic1",
            "{{json .HostConfig.PidsLimit}} {{json .HostConfig.MemorySwappiness}} {{json .Config.Volumes}} {{.HostConfig.Init}} {{index .HostConfig.ReadonlyPaths 0}}"
        ),
        "null null null <nil> /proc/bus"
    );
    // "Unlimited" pids: null when created so (0 or -1), 0 after an update to it (dockerd's).
    d.ok(&["create", "--name", "ic2", "--pids-limit", "-1", IMG, "true"]);
    assert_eq!(d.inspect("ic2", "{{json .HostConfig.PidsLimit}}"), "null");
    d.ok(&["update", "--pids-limit", "20", "ic2"]);
    assert_eq!(d.inspect("ic2", "{{json .HostConfig.PidsLimit}}"), "20");
    d.ok(&["update", "--pids-limit", "-1", "ic2"]);
    assert_eq!(d.inspect("ic2", "{{json .HostConfig.PidsLimit}}"), "0");
    d.ok(&["rm", "ic2"]);
    d.ok(&[
        "run",
        "--name",
        "lg1",
        "--network",
        "none",
        IMG,
        "echo",
        "a",
    ]);
    let out = d.docker(&["logs", "--details", "lg1"]);
    assert_eq!(stdout(&out), " a\n");
    assert_eq!(d.ok(&["diff", "lg1"]), "");
    for (args, msg) in [
        (
            &["container", "prune", "-f", "--filter", "until=bogus"][..],
            "failed to parse value as time or duration: \"bogus\"",
        ),
        (
            &["commit", "--change", "BOGUS x", "lg1", "cm1:1"],
            "bogus is not a valid change command",
        ),
        (
            &["commit", "--change", "EXPOSE bogus", "lg1", "cm1:1"],
            "Invalid containerPort: bogus",
        ),
        (
            &["commit", "--change", "EXPOSE 80/bogus", "lg1", "cm1:1"],
            "Invalid proto: bogus",
        ),
        (
            &["create", "--network", "none", "--tmpfs", "rel", IMG, "true"],
            "invalid mount path: 'rel' mount path must be absolute",
        ),
    ] {
        assert_eq!(
            first_error_line(&d, args),
            format!("Error response from daemon: {msg}"),
            "{args:?}"
        );
    }
    // The container's init layer, then the image's layers under the container, as
    // overlay2's LowerDir lists them.
    let lower = d.inspect("ic1", "{{.GraphDriver.Data.LowerDir}}");
    let mut lower = lower.split(':');
    let init = std::path::Path::new(lower.next().unwrap()).to_owned();
    assert!(init.join(".dockerenv").is_file(), "{}", init.display());
    let mut image_layers = 0;
    for l in lower {
        assert!(std::path::Path::new(l).join("bin/busybox").exists(), "{l}");
        image_layers += 1;
    }
    assert_eq!(image_layers, 1);
    // A signal number Linux does not have: parsed, then refused for the container.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ks1",
        "--network",
        "none",
        IMG,
        "sleep",
        "60",
    ]);
    assert_eq!(
        first_error_line(&d, &["kill", "--signal", "99", "ks1"]),
        "Error response from daemon: Cannot kill container: ks1: The linux daemon does not support signal 99"
    );
    d.ok(&["rm", "-f", "ks1"]);
    // `docker info`: no warnings, Docker Hub's index config, as dockerd reports them.
    assert_eq!(
        d.ok(&[
            "info",
            "--format",
            "{{json .Warnings}} {{json .RegistryConfig.IndexConfigs}}"
        ]),
        r#"null {"docker.io":{"Name":"docker.io","Mirrors":[],"Secure":true,"Official":true}}"#
    );
    // The default bridge's options, as dockerd lists them.
    assert_eq!(
        d.ok(&[
            "network",
            "inspect",
            "-f",
            "{{index .Options \"com.docker.network.bridge.default_bridge\"}} {{index .Options \"com.docker.network.driver.mtu\"}} {{json .IPAM.Options}}",
            "bridge"
        ]),
        "true 1500 null"
    );
}

#[test]
fn info_names_this_daemon_its_host_and_its_registries() {
    prereqs!();
    let mut d = Daemon::start();
    let id = d.ok(&["info", "--format", "{{.ID}}"]);
    let shape: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(shape, [8, 4, 4, 4, 12], "{id}");
    assert!(
        id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()),
        "{id}"
    );
    let pretty = std::fs::read_to_string("/etc/os-release")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("PRETTY_NAME=")
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap();
    let fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(
        d.ok(&[
            "info",
            "--format",
            "{{.OperatingSystem}}|{{.IPv4Forwarding}}"
        ]),
        format!("{pretty}|{}", fwd.trim() == "1")
    );
    // Mirrors and insecure registries of daemon.toml, shown as dockerd shows its own; the
    // ID stays across restarts.
    assert!(d.terminate());
    d.set_config("registry-mirrors", Some(r#"["mirror.lan:5000"]"#));
    d.set_config(
        "insecure-registries",
        Some(r#"["10.1.0.0/16", "reg.lan:5000"]"#),
    );
    d.spawn();
    assert_eq!(d.ok(&["info", "--format", "{{.ID}}"]), id);
    assert_eq!(
        d.ok(&["info", "--format", "{{json .RegistryConfig}}"]),
        concat!(
            r#"{"IndexConfigs":{"docker.io":{"Mirrors":["https://mirror.lan:5000/"],"Name":"docker.io","Official":true,"Secure":true},"#,
            r#""reg.lan:5000":{"Mirrors":[],"Name":"reg.lan:5000","Official":false,"Secure":false}},"#,
            r#""InsecureRegistryCIDRs":["::1/128","127.0.0.0/8","10.1.0.0/16"],"#,
            r#""Mirrors":["https://mirror.lan:5000/"]}"#
        )
    );
    let text = d.ok(&["info"]);
    for want in [
        "Insecure Registries:\n  reg.lan:5000\n  ::1/128\n  127.0.0.0/8\n  10.1.0.0/16\n",
        "Registry Mirrors:\n  https://mirror.lan:5000/\n",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
}

#[test]
fn followers_share_one_inotify_instance_and_see_every_line() {
    prereqs!();
    let d = Daemon::start();
    for n in ["fa", "fb"] {
        d.run_detached(
            n,
            &[],
            &[
                "sh",
                "-c",
                "sleep 2; i=0; while [ $i -lt 50 ]; do echo line $i; i=$((i+1)); sleep 0.02; done",
            ],
        );
    }
    // Six followers: inotify instances are few per user (128 by default) and the host's
    // other programs need theirs; berthd holds one, whatever the number of followers.
    let followers: Vec<_> = ["fa", "fb", "fa", "fb", "fa", "fb"]
        .iter()
        .map(|n| {
            let host = d.host();
            let n = n.to_string();
            std::thread::spawn(move || {
                let o = std::process::Command::new("timeout")
                    .args(["30", "docker", "logs", "-f", &n])
                    .env("DOCKER_HOST", host)
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&o.stdout).into_owned()
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let pid = d.pid.unwrap();
    let inotify = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .filter(|l| l.to_string_lossy().contains("inotify"))
        .count();
    assert!((1..=2).contains(&inotify), "{inotify} inotify descriptors");
    for f in followers {
        let out = f.join().unwrap();
        let want: String = (0..50).map(|i| format!("line {i}\n")).collect();
        assert_eq!(out, want);
    }
    d.ok(&["rm", "-f", "fa", "fb"]);
}
