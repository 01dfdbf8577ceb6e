//! `docker events` against berthd: Docker's action names and attributes for the container
//! lifecycle and exec, filters, `--since`/`--until` replay, and a live stream.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Daemon, IMG};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A `docker events` process, killed (by its PID) when dropped.
struct Stream(Child);

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn lifecycle_events_replay_with_since_until_and_filters() {
    prereqs!();
    let d = Daemon::start();
    let since = format!("{:.3}", now() - 1.0);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ev1",
        "--label",
        "team=blue",
        "--network",
        "none",
        IMG,
        "sleep",
        "100",
    ]);
    d.ok(&["exec", "ev1", "true"]);
    d.ok(&["pause", "ev1"]);
    d.ok(&["unpause", "ev1"]);
    d.ok(&["kill", "-s", "USR1", "ev1"]);
    d.ok(&["stop", "-t", "1", "ev1"]);
    d.ok(&["rm", "ev1"]);
    let ev2 = [
        "run",
        "--name",
        "ev2",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "exit 3",
    ];
    assert_eq!(d.docker(&ev2).status.code(), Some(3));
    let until = format!("{:.3}", now() + 0.5);
    std::thread::sleep(Duration::from_millis(600));

    let events = |filters: &[&str]| -> Vec<String> {
        let mut args = vec!["events", "--since", &since, "--until", &until];
        for f in filters {
            args.push("--filter");
            args.push(f);
        }
        args.extend([
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ]);
        d.ok(&args).lines().map(str::to_owned).collect()
    };

    let ev1: Vec<String> = events(&["container=ev1"])
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        ev1,
        [
            "create",
            "start",
            "exec_create:",
            "exec_start:",
            "exec_die",
            "pause",
            "unpause",
            "kill",
            "kill",
            "kill",
            "die",
            "stop",
            "destroy"
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
        "ev1's events"
    );
    // Attributes: die carries the exit code, kill the signal number, labels ride along.
    let fmt = "{{.Action}} {{.Actor.Attributes.exitCode}} {{.Actor.Attributes.signal}} {{.Actor.Attributes.team}} {{.Actor.Attributes.image}} {{.Status}} {{.From}}";
    let detail = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=ev1",
        "--filter",
        "event=die",
        "--filter",
        "event=kill",
        "--format",
        fmt,
    ]);
    let lines: Vec<&str> = detail.lines().collect();
    // sleep as PID 1 ignores USR1 and TERM: stop -t 1 ends with SIGKILL, as with dockerd.
    assert_eq!(lines.len(), 4, "{detail}");
    assert!(
        lines[0].starts_with("kill <no value> 10 blue bbtest:latest kill bbtest:latest"),
        "{detail}"
    );
    assert!(lines[1].starts_with("kill <no value> 15 blue"), "{detail}");
    assert!(lines[2].starts_with("kill <no value> 9 blue"), "{detail}");
    assert!(lines[3].starts_with("die 137 <no value> blue"), "{detail}");
    // Exec actions carry the command (program, space, arguments: dockerd's trailing space
    // for a command without arguments); the bare name filters them.
    let execs = events(&["event=exec_start"]);
    assert_eq!(execs, ["container exec_start: true  ev1"], "{execs:?}");

    // Two containers; filter by the other one's name and by label.
    let ev2 = events(&["container=ev2", "event=die"]);
    assert_eq!(ev2, ["container die ev2"]);
    let blue = events(&["label=team=blue", "event=create"]);
    assert_eq!(blue, ["container create ev1"]);
    // type=image has none of these; image filter matches containers of that image.
    assert!(events(&["type=volume"]).is_empty());
    assert_eq!(events(&["image=bbtest", "event=create"]).len(), 2);

    // An `until` in the past ends the stream after the replay; without since, nothing
    // from before is replayed.
    let before = format!("{:.3}", now() - 3600.0);
    let out = d.ok(&["events", "--since", "0", "--until", &before]);
    assert!(out.is_empty(), "{out}");
    // since after until is refused.
    let bad = d.docker(&["events", "--since", &until, "--until", &since]);
    assert!(!bad.status.success());
}

#[test]
fn events_stream_live_until_client_goes() {
    prereqs!();
    let d = Daemon::start();
    // `--since` makes the test independent of when the CLI gets connected: what happened
    // before comes from the ring, the rest live, nothing twice.
    let since = format!("{:.3}", now() - 1.0);
    let child = Command::new("docker")
        .args([
            "events",
            "--since",
            &since,
            "--filter",
            "type=container",
            "--filter",
            "event=start",
            "--filter",
            "event=die",
            "--filter",
            "event=destroy",
            "--format",
            "{{json .}}",
        ])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("dockercfg"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut s = Stream(child);
    let out = s.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let id = d.ok(&["run", "-d", "--network", "none", IMG, "sh", "-c", "exit 7"]);
    let mut got = Vec::new();
    while got.len() < 2 {
        let l = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("live event within 20 s");
        got.push(serde_json::from_str::<serde_json::Value>(&l).unwrap());
    }
    assert_eq!(got[0]["Action"], "start");
    assert_eq!(got[1]["Action"], "die");
    assert_eq!(got[1]["Actor"]["ID"], id.as_str());
    assert_eq!(got[1]["Actor"]["Attributes"]["exitCode"], "7");
    assert_eq!(got[1]["Type"], "container");
    assert_eq!(got[1]["scope"], "local");
    assert!(got[1]["timeNano"].as_i64().unwrap() >= got[0]["timeNano"].as_i64().unwrap());
    // The stream stays open: nothing more arrives until something happens, live.
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    assert!(s.0.try_wait().unwrap().is_none());
    d.ok(&["rm", &id]);
    let l = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("live destroy within 20 s");
    let v: serde_json::Value = serde_json::from_str(&l).unwrap();
    assert_eq!(v["Action"], "destroy");
    assert_eq!(v["id"], id.as_str());
    drop(s);
    // berthd lives on after its subscriber went away, and lets go of the subscription.
    d.ok(&["create", "--network", "none", IMG, "true"]);
    assert!(
        d.eventually(10, || d.log().contains("events subscriber gone")),
        "subscription kept after the client left"
    );
}

#[test]
fn oom_kill_is_reported_before_die() {
    prereqs!();
    let d = Daemon::start();
    let since = format!("{:.3}", now() - 1.0);
    // The shell's variable doubles until the 16 MiB limit kills it.
    let out = d.docker(&[
        "run",
        "--name",
        "oom1",
        "--network",
        "none",
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        IMG,
        "sh",
        "-c",
        "x=0123456789abcdef; while :; do x=$x$x; done",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", common::stderr(&out));
    assert_eq!(d.inspect("oom1", "{{.State.OOMKilled}}"), "true");
    let until = format!("{:.3}", now() + 0.2);
    std::thread::sleep(Duration::from_millis(300));
    let ev = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=oom1",
        "--filter",
        "event=oom",
        "--filter",
        "event=die",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(ev.lines().collect::<Vec<_>>(), ["oom", "die"], "{ev}");
}

/// `docker events` from `since` to a second from now, of these kinds, in `format`.
fn events_until_now(d: &Daemon, since: &str, kinds: &[&str], format: &str) -> String {
    let until = format!("{:.3}", now() + 1.0);
    let mut args = vec!["events", "--since", since, "--until", &until];
    let filters: Vec<String> = kinds.iter().map(|k| format!("event={k}")).collect();
    for f in &filters {
        args.extend_from_slice(&["--filter", f]);
    }
    args.extend_from_slice(&["--format", format]);
    d.ok(&args)
}

/// The network events dockerd sends for a container of the none (or host) network: a
/// `connect` at its start and a `disconnect` at its exit, between `die` and `stop`; and
/// one `prune` per network prune.
#[test]
fn none_network_containers_connect_and_disconnect_as_dockerd_reports() {
    prereqs!();
    let d = Daemon::start();
    let since = format!("{:.3}", now() - 1.0);
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "nv1",
        "--network",
        "none",
        IMG,
        "sleep",
        "60",
    ]);
    d.ok(&["stop", "-t", "0", "nv1"]);
    d.ok(&["network", "prune", "-f"]);
    let out = events_until_now(
        &d,
        &since,
        &["start", "die", "stop", "connect", "disconnect", "prune"],
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}} {{.Actor.Attributes.container}}",
    );
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    let want = [
        format!("network connect none null {id}"),
        "container start nv1 <no value> <no value>".to_owned(),
        "container die nv1 <no value> <no value>".to_owned(),
        format!("network disconnect none null {id}"),
        "container stop nv1 <no value> <no value>".to_owned(),
        "network prune <no value> <no value> <no value>".to_owned(),
    ];
    assert_eq!(lines, want, "{out}");

    // `run --rm`: the removal releases the network, and says so before `destroy`.
    // (nv1's events all came before: `stop` and `prune` answered after them)
    let since = format!("{:.3}", now());
    d.ok(&[
        "run",
        "--rm",
        "--name",
        "nv2",
        "--network",
        "none",
        IMG,
        "true",
    ]);
    let out = events_until_now(
        &d,
        &since,
        &["die", "disconnect", "destroy"],
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    );
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        [
            "container die nv2",
            "network disconnect none",
            "container destroy nv2"
        ],
        "{out}"
    );
}
