//! Expectations of the docker CLI's own end-to-end suite (docker/cli `e2e/`) and option
//! parser tests, checked on `berth` against one berthd: what the user sees (stdout,
//! stderr, exit code) and what the daemon is asked, compared with the stock docker CLI
//! where both can run.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use common::{Daemon, IMG, same_all};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

/// Creates a container with `args` through berth and through docker and returns what
/// `fmt` shows of each (both removed after).
fn created_by_both(d: &Daemon, args: &[&str], fmt: &str) -> (String, String) {
    let mut full = vec!["create"];
    full.extend_from_slice(args);
    full.extend([IMG, "true"]);
    let (ours, theirs) = (d.bok(&full), d.ok(&full));
    let shown = (d.inspect(&ours, fmt), d.inspect(&theirs, fmt));
    d.ok(&["rm", "-v", &ours, &theirs]);
    shown
}

#[test]
fn e2e_expectations_hold_for_berth() {
    prereqs!();
    let d = Daemon::start();

    // e2e/container/attach_test.go TestAttachExitCode: attached to a `--rm` container,
    // attach exits with the container's code (the wait is asked before the stream ends
    // and the container goes).
    let id = d.ok(&[
        "run",
        "-d",
        "-i",
        "--rm",
        IMG,
        "sh",
        "-c",
        "read x; exit 21",
    ]);
    let out = d.berth_stdin(&["attach", &id], Some(b"\n"));
    assert_eq!(out.status.code(), Some(21), "{}", common::stderr(&out));

    // e2e/global/cli_test.go TestPromptExitCode: interrupted at the [y/N] question, the
    // prompt ends its line and the command exits 0.
    for prune in [&["volume", "prune"][..], &["system", "prune"][..]] {
        let mut child = Command::new(common::BERTH)
            .args(prune)
            .env("BERTH_HOST", d.host())
            .env("BERTH_NO_AUTOSTART", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take(); // held open: the prompt waits
        let mut stdout = child.stdout.take().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).ends_with("[y/N] ") {
            let n = stdout.read(&mut buf).unwrap();
            assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        let st = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        stdout.read_to_end(&mut seen).unwrap();
        let status = child.wait().unwrap();
        drop(stdin);
        assert_eq!(status.code(), Some(0), "{prune:?}");
        assert!(
            String::from_utf8_lossy(&seen).ends_with("[y/N] \n"),
            "{prune:?}: {:?}",
            String::from_utf8_lossy(&seen)
        );
    }

    // Flags docker's create does not have (run's only) and option values refused in
    // docker's words (cli/command/container/opts_test.go, opts/ulimit).
    for args in [
        &["create", "-d", IMG, "true"][..],
        &["create", "-itd", IMG, "true"],
        &["create", "--detach-keys", "ctrl-a", IMG, "true"],
        &["create", "--sig-proxy=false", IMG, "true"],
        &["create", "--restart", ":1", IMG, "true"],
        &["create", "--restart", "always:2:3", IMG, "true"],
        &["create", "--restart", "on-failure:x", IMG, "true"],
        &["create", "--ulimit", "nofile=a:b", IMG, "true"],
        &["create", "--ulimit", "nofile=a:5", IMG, "true"],
        &["push", "-a", "localhost:1/x:tag"],
        &["create", "--dns-search", "-bad", IMG, "true"],
        &["create", "--dns-search", "a..b", IMG, "true"],
        &["create", "--blkio-weight-device", "/dev/sda:5", IMG, "true"],
    ] {
        same_all(&d, args);
    }

    // What create asks the daemon for: a `volume-*` mount option makes the (empty)
    // DriverConfig; a CDI name given to --device is a "cdi" device request.
    for args in [
        &["--mount", "type=volume,dst=/v,volume-nocopy"][..],
        &["--mount", "type=volume,dst=/v,volume-nocopy=false"],
        &["--mount", "type=volume,dst=/v,volume-label=a=b"],
    ] {
        let (ours, theirs) = created_by_both(&d, args, "{{json .HostConfig.Mounts}}");
        assert_eq!(ours, theirs, "{args:?}");
    }
    for (args, fmt) in [
        (
            &["--dns-search", " a. ", "--dns-search", "1a.b"][..],
            "{{json .HostConfig.DnsSearch}}",
        ),
        (&["--init=false"], "{{json .HostConfig.Init}}"),
        (&["--health-cmd", ""], "{{json .Config.Healthcheck}}"),
        (&["--health-timeout", "0s"], "{{json .Config.Healthcheck}}"),
        (&["--kernel-memory", "1m"], "{{.HostConfig.KernelMemory}}"),
    ] {
        let (ours, theirs) = created_by_both(&d, args, fmt);
        assert_eq!(ours, theirs, "{args:?}");
    }
    let (ours, theirs) = created_by_both(
        &d,
        &["--device", "vendor.com/class=name", "--device", "/dev/null"],
        "{{json .HostConfig.Devices}} {{json .HostConfig.DeviceRequests}}",
    );
    assert_eq!(ours, theirs);
    assert!(ours.contains(r#""Driver":"cdi""#), "{ours}");

    // logs --details asks the daemon for the details (each line's attributes, here none:
    // a leading space).
    d.ok(&[
        "run",
        "--name",
        "lg",
        IMG,
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    same_all(&d, &["logs", "--details", "lg"]);

    // A table's header row keeps its column titles through docker's header functions
    // (cli/templates HeaderFunctions); `pad` still pads them.
    for args in [
        &[
            "ps",
            "-a",
            "--format",
            "table {{truncate .ID 5}}\t{{upper .Names}}",
        ][..],
        &[
            "ps",
            "-a",
            "--format",
            "table {{json .Names}}\t{{split .Names \"l\"}}",
        ],
        &[
            "images",
            "--format",
            "table {{lower .Repository}}\t{{title .Tag}}|",
        ],
        &["volume", "ls", "--format", "table {{pad .Driver 2 1}}|"],
    ] {
        same_all(&d, args);
    }

    // version without a daemon: the client's part, then the error (exit 1); a template
    // sees the client and no server.
    let gone = format!("unix://{}", d.dir.path().join("none.sock").display());
    let unanswered = |args: &[&str]| {
        Command::new(common::BERTH)
            .args(args)
            .env("BERTH_HOST", &gone)
            .env("BERTH_NO_AUTOSTART", "1")
            .output()
            .unwrap()
    };
    let out = unanswered(&["version"]);
    let text = common::stdout(&out);
    assert!(
        text.starts_with("Client:\n") && text.ends_with(" Context:           default\n"),
        "{text:?}"
    );
    assert!(common::stderr(&out).contains("Cannot connect"));
    assert_eq!(out.status.code(), Some(1));
    let out = unanswered(&["version", "--format", "{{.Client.Os}}"]);
    assert_eq!(common::stdout(&out), "linux\n");
    assert_eq!(out.status.code(), Some(1));

    // info: docker's server section line for line.
    let server = |s: String| s[s.find("\nServer:").expect("Server:")..].to_owned();
    assert_eq!(
        server(common::stdout(&d.berth(&["info"]))),
        server(common::stdout(&d.docker(&["info"]))),
        "info's server section"
    );
}
