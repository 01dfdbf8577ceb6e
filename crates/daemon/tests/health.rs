//! Healthchecks with the stock docker CLI against berthd: `--health-*` flags, healthy and
//! unhealthy after retries, the start period, `State.Health` in inspect, `ps` status and
//! filter, `health_status` events, and probing resumed by a restarted berthd.

mod common;

use common::{Daemon, IMG};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

/// Saves the test image, gives its config a `Healthcheck`, and loads it back as `tag`
/// (`commit --change` has no HEALTHCHECK, in Docker either).
fn image_with_healthcheck(d: &Daemon, tag: &str, hc: serde_json::Value) {
    let dir = d.dir.path().join("hcimg");
    std::fs::create_dir_all(&dir).unwrap();
    let saved = d.dir.path().join("saved.tar");
    d.ok(&["save", "-o", saved.to_str().unwrap(), IMG]);
    let run = |cmd: &mut std::process::Command| {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(std::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-xf")
        .arg(&saved));
    let mpath = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let cfg_rel = manifest[0]["Config"].as_str().unwrap().to_owned();
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(&cfg_rel)).unwrap()).unwrap();
    cfg["config"]["Healthcheck"] = hc;
    let bytes = serde_json::to_vec(&cfg).unwrap();
    let tmp = dir.join("newcfg");
    std::fs::write(&tmp, &bytes).unwrap();
    let sum = run(std::process::Command::new("sha256sum").arg(&tmp));
    let hex = sum.split_whitespace().next().unwrap();
    let new_rel = match cfg_rel.rsplit_once('/') {
        Some((d, _)) => format!("{d}/{hex}"),
        None => format!("{hex}.json"),
    };
    std::fs::rename(&tmp, dir.join(&new_rel)).unwrap();
    manifest[0]["Config"] = serde_json::json!(new_rel);
    manifest[0]["RepoTags"] = serde_json::json!([tag]);
    std::fs::write(&mpath, serde_json::to_vec(&manifest).unwrap()).unwrap();
    // The docker-archive manifest alone describes the image.
    let _ = std::fs::remove_file(dir.join("index.json"));
    let _ = std::fs::remove_file(dir.join("oci-layout"));
    let new_tar = d.dir.path().join("hc.tar");
    run(std::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&new_tar)
        .arg("."));
    d.ok(&["load", "-i", new_tar.to_str().unwrap()]);
}

fn status(d: &Daemon, name: &str) -> String {
    d.inspect(name, "{{.State.Health.Status}}")
}

#[test]
fn healthcheck_turns_healthy_then_unhealthy_and_survives_a_berthd_restart() {
    prereqs!();
    let mut d = Daemon::start();
    let since = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 1
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "h1",
        "--network",
        "none",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "10s",
        "--health-retries",
        "2",
        IMG,
        "sh",
        "-c",
        "touch /tmp/ok; exec sleep 1000",
    ]);
    assert_eq!(
        d.inspect("h1", "{{json .Config.Healthcheck.Test}}"),
        r#"["CMD-SHELL","test -f /tmp/ok && echo fine"]"#
    );
    assert!(
        d.eventually(20, || status(&d, "h1") == "healthy"),
        "never healthy: {}",
        d.inspect("h1", "{{json .State.Health}}")
    );
    assert!(
        d.ok(&["ps", "--format", "{{.Status}}"])
            .ends_with("(healthy)")
    );
    assert_eq!(
        d.ok(&["ps", "--filter", "health=healthy", "--format", "{{.Names}}"]),
        "h1"
    );
    assert_eq!(d.ok(&["ps", "--filter", "health=unhealthy", "-q"]), "");
    let log = d.inspect(
        "h1",
        "{{(index .State.Health.Log 0).ExitCode}}|{{(index .State.Health.Log 0).Output}}",
    );
    assert_eq!(log, "0|fine\n".trim_end());
    // Probe execs are dropped when done (one may be running right now).
    let execs: usize = d.inspect("h1", "{{len .ExecIDs}}").parse().unwrap();
    assert!(execs <= 1, "{execs} execs listed");

    // berthd restarts: the container keeps running and its checks resume from the record.
    d.kill9();
    d.spawn();
    assert_eq!(status(&d, "h1"), "healthy");
    d.ok(&["exec", "h1", "rm", "/tmp/ok"]);
    assert!(
        d.eventually(20, || status(&d, "h1") == "unhealthy"),
        "never unhealthy"
    );
    let streak: i64 = d
        .inspect("h1", "{{.State.Health.FailingStreak}}")
        .parse()
        .unwrap();
    assert!(streak >= 2, "{streak}");
    let n: usize = d
        .inspect("h1", "{{len .State.Health.Log}}")
        .parse()
        .unwrap();
    assert!((1..=5).contains(&n), "{n}");
    assert!(
        d.ok(&["ps", "--format", "{{.Status}}"])
            .ends_with("(unhealthy)")
    );
    // Recovers with one success.
    d.ok(&["exec", "h1", "touch", "/tmp/ok"]);
    assert!(d.eventually(20, || status(&d, "h1") == "healthy"));

    let until = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // The first healthy event was before the restart (the ring is in memory); after it:
    let ev = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=health_status",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(
        ev.lines().collect::<Vec<_>>(),
        ["health_status: unhealthy", "health_status: healthy"],
        "{ev}"
    );
}

#[test]
fn start_period_failures_do_not_count_and_none_disables() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "h2",
        "--network",
        "none",
        "--health-cmd",
        "false",
        "--health-interval",
        "100ms",
        "--health-retries",
        "1",
        "--health-start-period",
        "60s",
        "--health-start-interval",
        "100ms",
        IMG,
        "sleep",
        "1000",
    ]);
    // Probes run (every 100 ms in the start period) but their failures do not count.
    assert!(d.eventually(20, || {
        d.inspect("h2", "{{len .State.Health.Log}}")
            .parse::<usize>()
            .unwrap_or(0)
            >= 2
    }));
    assert_eq!(status(&d, "h2"), "starting");
    let failures: usize = d
        .inspect("h2", "{{len .State.Health.Log}}")
        .parse()
        .unwrap();
    assert!(
        failures >= 2,
        "probes ran during the start period: {failures}"
    );
    assert_eq!(d.inspect("h2", "{{.State.Health.FailingStreak}}"), "0");
    assert!(
        d.ok(&["ps", "--format", "{{.Status}}"])
            .ends_with("(health: starting)")
    );

    // A check that fails at once outside a start period: unhealthy after its retries.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "h3",
        "--network",
        "none",
        "--health-cmd",
        "exit 3",
        "--health-interval",
        "100ms",
        "--health-retries",
        "3",
        IMG,
        "sleep",
        "1000",
    ]);
    assert!(d.eventually(20, || status(&d, "h3") == "unhealthy"));
    assert_eq!(
        d.inspect("h3", "{{(index .State.Health.Log 0).ExitCode}}"),
        "3"
    );

    // --no-healthcheck: no Health at all.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "h4",
        "--network",
        "none",
        "--no-healthcheck",
        IMG,
        "sleep",
        "1000",
    ]);
    assert_eq!(d.inspect("h4", "{{.State.Health}}"), "<nil>");
    assert!(
        !d.ok(&["ps", "--filter", "name=h4", "--format", "{{.Status}}"])
            .contains('(')
    );

    // An image's HEALTHCHECK applies to its containers.
    image_with_healthcheck(
        &d,
        "hcimg:1",
        serde_json::json!({"Test": ["CMD-SHELL", "test -d /tmp"], "Interval": 100_000_000, "Retries": 1}),
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "h5",
        "--network",
        "none",
        "hcimg:1",
        "sleep",
        "1000",
    ]);
    assert_eq!(
        d.inspect("h5", "{{json .Config.Healthcheck.Test}}"),
        r#"["CMD-SHELL","test -d /tmp"]"#
    );
    assert!(d.eventually(20, || status(&d, "h5") == "healthy"));
    // A stopped container's last status is unhealthy, as dockerd reports it.
    d.ok(&["stop", "-t", "0", "h5"]);
    assert!(d.eventually(10, || status(&d, "h5") == "unhealthy"));
}
