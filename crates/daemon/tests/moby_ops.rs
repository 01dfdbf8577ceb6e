//! Day-to-day container operations as moby's own integration-cli tests expect them of
//! dockerd (`docker_cli_ps_test.go`, `docker_api_exec_test.go`, `docker_cli_cp_*`,
//! `docker_cli_commit_test.go`, `docker_cli_kill_test.go`, ...), driven with the stock
//! docker CLI (and the raw API where the CLI cannot reach) against one berthd per test.

mod common;

use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Daemon, IMG, stderr, stdout};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

/// One HTTP/1.0 request on berthd's socket: (status, body).
fn api(d: &Daemon, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out).into_owned();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn exec_create(d: &Daemon, name: &str, body: &str) -> (u16, String) {
    api(d, "POST", &format!("/containers/{name}/exec"), Some(body))
}

fn exec_id(d: &Daemon, name: &str) -> String {
    let (code, body) = exec_create(d, name, r#"{"Cmd":["true"]}"#);
    assert_eq!(code, 201, "exec create: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["Id"].as_str().unwrap().to_owned()
}

fn exec_start(d: &Daemon, id: &str) -> u16 {
    api(
        d,
        "POST",
        &format!("/exec/{id}/start"),
        Some(r#"{"Detach":true}"#),
    )
    .0
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.is_empty()).collect()
}

/// ps: link names in `Names`, the `publish`/`expose` filters on container ports, the
/// image's ID once its tag moved, no ports for a stopped container; kill of a paused
/// container; exec sessions' lifetimes and states over the API.
#[test]
fn ps_kill_and_exec_sessions_as_dockerd() {
    prereqs!();
    let d = Daemon::start();

    // TestPsLinkedWithNoTrunc / TestPsFormatMultiNames.
    d.ok(&["run", "-d", "--name", "first", IMG, "sleep", "300"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "second",
        "--link",
        "first:first",
        IMG,
        "sleep",
        "300",
    ]);
    let names = d.ok(&["ps", "--no-trunc", "--format", "{{.Names}}"]);
    assert_eq!(lines(&names), ["second", "first,second/first"]);
    let names = d.ok(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(lines(&names), ["second", "first"]);

    // TestPsListContainersFilterPorts: container ports, `80` meaning 80/tcp.
    let pub_id = d.ok(&[
        "run",
        "-d",
        "--name",
        "pub",
        "-p",
        "127.0.0.1::80",
        "--expose",
        "8090",
        IMG,
        "sleep",
        "300",
    ]);
    let ps_q = |f: &str| d.ok(&["ps", "-q", "--no-trunc", "-f", f, "-f", "name=pub"]);
    for f in [
        "publish=80",
        "publish=80/tcp",
        "publish=79-81",
        "expose=8090",
        "expose=80",
    ] {
        assert_eq!(ps_q(f), pub_id, "filter {f}");
    }
    for f in [
        "publish=80/udp",
        "publish=8090",
        "publish=81-89",
        "expose=8090/udp",
        "expose=8091",
    ] {
        assert_eq!(ps_q(f), "", "filter {f}");
    }
    d.fails(
        &["ps", "-f", "publish=80:80"],
        "filter for 'publish' should not contain ':': 80:80",
    );
    d.fails(
        &["ps", "-f", "expose=90-80"],
        "Invalid range specified for the Port: 90-80",
    );

    // TestPsNotShowPortsOfStoppedContainer.
    assert_ne!(
        d.ok(&["ps", "-f", "name=pub", "--format", "{{.Ports}}"]),
        ""
    );
    d.ok(&["kill", "pub"]);
    assert_eq!(
        d.ok(&["ps", "-a", "-f", "name=pub", "--format", "{{.Ports}}"]),
        ""
    );

    // TestPsImageIDAfterUpdate: the tag now names another image, so the ID is listed.
    d.ok(&["tag", IMG, "moby-ops:orig"]);
    let orig_id = d.inspect("moby-ops:orig", "{{.Id}}");
    let cid = d.ok(&["run", "-d", "moby-ops:orig", "sleep", "300"]);
    let image_of = || {
        d.ok(&[
            "ps",
            "--no-trunc",
            "-f",
            &format!("id={cid}"),
            "--format",
            "{{.Image}}",
        ])
    };
    assert_eq!(image_of(), "moby-ops:orig");
    d.ok(&["commit", &cid, "moby-ops:upd"]);
    d.ok(&["tag", "moby-ops:upd", "moby-ops:orig"]);
    assert_eq!(image_of(), orig_id);

    // Kill of a paused container: thawed, so the signal lands (dockerd's kill).
    d.ok(&["run", "-d", "--name", "pk", IMG, "sleep", "300"]);
    d.ok(&["pause", "pk"]);
    d.ok(&["kill", "pk"]);
    assert_eq!(d.inspect("pk", "{{.State.Status}}"), "exited");

    // TestPostContainersAttachContainerNotFound: the refusal as raw text.
    assert_eq!(
        api(&d, "POST", "/containers/doesnotexist/attach", None),
        (404, "No such container: doesnotexist\r\n".to_owned())
    );

    // docker_api_exec_test.go.
    d.ok(&["run", "-d", "--name", "ex", IMG, "sleep", "300"]);
    let (code, body) = exec_create(&d, "ex", r#"{"Cmd":null}"#);
    assert_eq!(code, 400);
    assert!(body.contains("No exec command specified"), "{body}");
    // TestExecAPIStart: a paused container refuses the start, which works once unpaused.
    let id = exec_id(&d, "ex");
    d.ok(&["pause", "ex"]);
    assert_eq!(exec_start(&d, &id), 409);
    d.ok(&["unpause", "ex"]);
    assert_eq!(exec_start(&d, &id), 200);
    // exec -w a directory that is not there: runc's words (on the stream) and code 126.
    let out = d.docker(&["exec", "-w", "/nonexist", "ex", "pwd"]);
    assert_eq!(out.status.code(), Some(126));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains(
            r#"unable to start container process: chdir to cwd ("/nonexist") set in config.json failed: no such file or directory"#
        ),
        "{all}"
    );
    assert_eq!(d.ok(&["exec", "-w", "/tmp", "ex", "pwd"]), "/tmp");
    // ...and one made before a stop is gone with that run.
    let id = exec_id(&d, "ex");
    d.ok(&["stop", "-t", "0", "ex"]);
    assert_eq!(exec_start(&d, &id), 404);
    d.ok(&["start", "ex"]);
    assert_eq!(exec_start(&d, &id), 404);
    // TestExecInspectID: ExecIDs lists the sessions not finished; a finished one can
    // still be inspected by its ID until the container goes.
    assert_eq!(d.inspect("ex", "{{.ExecIDs}}"), "[]");
    let id = exec_id(&d, "ex");
    assert_eq!(d.inspect("ex", "{{.ExecIDs}}"), format!("[{id}]"));
    assert_eq!(exec_start(&d, &id), 200);
    assert!(
        d.eventually(10, || d.inspect("ex", "{{.ExecIDs}}") == "[]"),
        "ExecIDs still lists a finished session"
    );
    assert_eq!(api(&d, "GET", &format!("/exec/{id}/json"), None).0, 200);
    d.ok(&["rm", "-f", "ex"]);
    let (code, body) = api(&d, "GET", &format!("/exec/{id}/json"), None);
    assert_eq!(code, 404);
    assert!(body.contains("No such exec instance"), "{body}");
}

/// cp into read-only places, commit's changes and events, and a few words of update,
/// top and logs.
#[test]
fn cp_commit_and_errors_as_dockerd() {
    prereqs!();
    let d = Daemon::start();
    let file = d.dir.path().join("f.txt");
    std::fs::write(&file, "hi\n").unwrap();
    let file = file.to_str().unwrap();
    let hostdir = d.dir.path().join("hostdir");
    std::fs::create_dir(&hostdir).unwrap();

    // docker_cli_cp_to_container_unix_test.go: read-only rootfs, read-only volume; a
    // read-write volume of a read-only container takes the copy.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ro",
        "--read-only",
        "-v",
        "/data",
        IMG,
        "sleep",
        "300",
    ]);
    d.fails(
        &["cp", file, "ro:/tmp"],
        "container rootfs is marked read-only",
    );
    d.ok(&["cp", file, "ro:/data"]);
    assert_eq!(d.ok(&["exec", "ro", "cat", "/data/f.txt"]), "hi");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rov",
        "-v",
        &format!("{}:/vro:ro", hostdir.display()),
        IMG,
        "sleep",
        "300",
    ]);
    d.fails(
        &["cp", file, "rov:/vro"],
        "mounted volume is marked read-only",
    );

    // TestCommitChange's ONBUILD, with HEALTHCHECK and a relative WORKDIR.
    d.ok(&["run", "--name", "cm", "-h", "cmhost", IMG, "true"]);
    // A stopped container's /etc/hostname, /etc/hosts and /etc/resolv.conf are the files it
    // had (dockerd binds them for `cp`), not the image's empty placeholders.
    let cp_text = |path: &str| {
        let o = d.docker(&["cp", &format!("cm:{path}"), "-"]);
        assert!(o.status.success(), "{o:?}");
        let mut ar = tar::Archive::new(&o.stdout[..]);
        let mut e = ar.entries().unwrap().next().unwrap().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut e, &mut text).unwrap();
        text
    };
    assert_eq!(cp_text("/etc/hostname"), "cmhost\n");
    assert!(cp_text("/etc/hosts").contains("127.0.0.1\tlocalhost"));
    assert_eq!(
        cp_text("/etc/resolv.conf").trim_end(),
        d.ok(&["run", "--rm", IMG, "cat", "/etc/resolv.conf"])
    );
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        - 1.0;
    d.ok(&[
        "commit",
        "--change",
        "ONBUILD /usr/local/bin/python-build --dir /app/src",
        "--change",
        "HEALTHCHECK --interval=5s --retries=2 CMD true",
        "--change",
        "WORKDIR /opt",
        "--change",
        "WORKDIR sub",
        "cm",
        "moby-ops:commit",
    ]);
    assert_eq!(
        d.inspect(
            "moby-ops:commit",
            "{{.Config.OnBuild}} {{.Config.WorkingDir}} {{json .Config.Healthcheck}}"
        ),
        r#"[/usr/local/bin/python-build --dir /app/src] /opt/sub {"Test":["CMD-SHELL","true"],"Interval":5000000000,"Retries":2}"#
    );
    d.fails(
        &["commit", "-c", "ENV", "cm", "x"],
        "ENV requires at least one argument",
    );
    // Commit of a running container: pause, the image's tag, commit, unpause.
    d.ok(&["run", "-d", "--name", "cr", IMG, "sleep", "300"]);
    d.ok(&["commit", "cr", "moby-ops:running"]);
    let until = format!(
        "{:.3}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            + 1.0
    );
    let ev = d.ok(&[
        "events",
        "--since",
        &format!("{since:.3}"),
        "--until",
        &until,
        "-f",
        "event=pause",
        "-f",
        "event=unpause",
        "-f",
        "event=commit",
        "-f",
        "event=tag",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(
        lines(&ev),
        [
            "image tag moby-ops:commit",
            "container commit cm",
            "container pause cr",
            "image tag moby-ops:running",
            "container commit cr",
            "container unpause cr",
        ]
    );

    // HEALTHCHECK changes dockerd refuses, in its words (the Dockerfile parser's).
    for (change, want) in [
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        (
            "HEALTHCHECK CMD []",
            "Missing command after HEALTHCHECK CMD",
        ),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        (
            "HEALTHCHECK --interval=x CMD true",
            "time: invalid duration \"x\"",
        ),
        (
            "HEALTHCHECK --interval=1 CMD true",
            "time: missing unit in duration \"1\"",
        ),
        (
            "HEALTHCHECK --timeout=1q CMD true",
            "time: unknown unit \"q\" in duration \"1q\"",
        ),
        (
            "HEALTHCHECK --interval=1us CMD true",
            "Interval \"interval\" cannot be less than 1ms",
        ),
        (
            "HEALTHCHECK --retries=x CMD true",
            "strconv.ParseInt: parsing \"x\": invalid syntax",
        ),
        (
            "HEALTHCHECK --retries=-1 CMD true",
            "--retries cannot be negative (-1)",
        ),
        ("HEALTHCHECK --bogus=1 CMD", "Unknown flag: bogus"),
    ] {
        let out = d.fails(&["commit", "-c", change, "cm", "x"], want);
        assert!(!out.contains("invalid change"), "{change}: {out}");
    }
    // Bare and empty CMD and ENTRYPOINT as dockerd commits them; an ENTRYPOINT drops the
    // container's command unless a CMD change comes first.
    let committed = |changes: &[&str]| {
        let mut a = vec!["commit"];
        for c in changes {
            a.extend(["-c", c]);
        }
        a.push("cm");
        let id = d.ok(&a);
        d.inspect(&id, "{{json .Config.Cmd}} {{json .Config.Entrypoint}}")
    };
    assert_eq!(committed(&["CMD"]), r#"["/bin/sh","-c"] null"#);
    assert_eq!(committed(&["CMD []"]), r#"["true"] null"#);
    assert_eq!(committed(&["ENTRYPOINT"]), r#"["true"] null"#);
    assert_eq!(committed(&["ENTRYPOINT []"]), r#"["true"] null"#);
    assert_eq!(committed(&[r#"ENTRYPOINT ["echo"]"#]), r#"null ["echo"]"#);
    assert_eq!(
        committed(&[r#"CMD ["hi"]"#, r#"ENTRYPOINT ["echo"]"#]),
        r#"["hi"] ["echo"]"#
    );

    // TestUpdateRestartWithAutoRemoveFlag.
    d.ok(&["run", "-d", "--rm", "--name", "auto", IMG, "sleep", "300"]);
    d.fails(
        &["update", "--restart", "always", "auto"],
        "Restart policy cannot be updated because AutoRemove is enabled for the container",
    );

    // TestUpdateWithNanoCPUs: NanoCpus and the quota/period do not replace each other.
    d.ok(&[
        "run", "-d", "--name", "nano", "--cpus", "0.5", IMG, "sleep", "300",
    ]);
    d.fails(
        &["update", "--cpu-quota", "70000", "nano"],
        "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
    );
    d.ok(&["update", "--cpus", "0.8", "nano"]);
    assert_eq!(
        d.inspect("nano", "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuQuota}}"),
        "800000000 0"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "quota",
        "--cpu-quota",
        "50000",
        IMG,
        "sleep",
        "300",
    ]);
    d.fails(
        &["update", "--cpus", "0.8", "quota"],
        "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
    );

    // top: ps's complaint, not its usage.
    let err = d.fails(
        &["top", "auto", "-o", "nosuchfield"],
        "unknown user-defined format specifier",
    );
    assert!(!err.contains("Usage"), "{err}");

    // logs: a since/until that is not a unix time is a 400 in Go's words.
    let (code, body) = api(&d, "GET", "/containers/cm/logs?stdout=1&since=foo", None);
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains(r#"strconv.ParseInt: parsing \"foo\": invalid syntax"#),
        "{body}"
    );
    let out = d.docker(&["logs", "--since", "0", "cm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = stdout(&out);

    // logs --details: the attributes of the labels/env log options before each line.
    d.ok(&[
        "run",
        "--name",
        "det",
        "--label",
        "foo=bar",
        "--log-opt",
        "labels=foo",
        "-e",
        "X=1",
        "--log-opt",
        "env=X",
        IMG,
        "echo",
        "hi",
    ]);
    assert_eq!(d.ok(&["logs", "--details", "det"]), "X=1,foo=bar hi");

    // events: both times named when since is after until.
    d.fails(
        &["events", "--since", "200", "--until", "100"],
        "`since` time (200) cannot be after `until` time (100)",
    );

    // TestRenameContainerWithLinkedContainer: the link follows its renamed target, which
    // is then listed by the link's name too (names sorted, as dockerd lists them).
    d.ok(&["run", "-d", "--name", "db1", IMG, "sleep", "300"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "app1",
        "--link",
        "db1:/mysql",
        IMG,
        "sleep",
        "300",
    ]);
    d.ok(&["rename", "app1", "app2"]);
    d.ok(&["rename", "db1", "db2"]);
    assert_eq!(
        d.inspect("app2", "{{.HostConfig.Links}}"),
        "[/db2:/app2/mysql]"
    );
    assert_eq!(
        d.inspect("app2/mysql", "{{.Id}}"),
        d.inspect("db2", "{{.Id}}")
    );
    let names = d.ok(&[
        "ps",
        "--no-trunc",
        "-f",
        "name=db2",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(names, "app2/mysql,db2");

    // TestRenameAnonymousContainer's gist: the embedded DNS answers for the new name.
    d.ok(&["network", "create", "moby-ops-net"]);
    d.ok(&[
        "run",
        "-d",
        "--network",
        "moby-ops-net",
        "--name",
        "n1",
        IMG,
        "sleep",
        "300",
    ]);
    d.ok(&["rename", "n1", "n2"]);
    let lookup = |n: &str| {
        d.docker(&[
            "run",
            "--rm",
            "--network",
            "moby-ops-net",
            IMG,
            "nslookup",
            n,
        ])
        .status
        .success()
    };
    assert!(lookup("n2"), "the new name does not resolve");
    assert!(!lookup("n1"), "the old name still resolves");
    d.ok(&["rm", "-f", "n2"]);
    d.ok(&["network", "rm", "moby-ops-net"]);
}
