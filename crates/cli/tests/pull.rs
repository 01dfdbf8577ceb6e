//! `berth pull` and `berth run` of a missing image from a local registry (Debian's
//! docker-registry on 127.0.0.1), side by side with `docker pull`.

mod common;
mod registry;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Daemon, stderr, stdout};
use registry::registry;

/// Pushes a busybox image with CMD `echo from-registry` as each of `names`.
fn seed(names: &[&str]) -> tempfile::TempDir {
    let seed = tempfile::tempdir().unwrap();
    let tar = common::busybox_tar(seed.path());
    let tool = common::image_tool();
    let root = seed.path().join("root");
    for name in names {
        let st = Command::new(&tool)
            .arg("--root")
            .arg(&root)
            .args(["import", "-c", "CMD [\"echo\", \"from-registry\"]"])
            .arg(&tar)
            .arg(name)
            .status()
            .unwrap();
        assert!(st.success());
        let st = Command::new(&tool)
            .arg("--root")
            .arg(&root)
            .args(["push", name, name])
            .status()
            .unwrap();
        assert!(st.success());
    }
    seed
}

#[test]
fn pull_and_run_missing_image_from_a_local_registry() {
    if !common::have_prereqs() || !std::path::Path::new("/usr/bin/docker-registry").exists() {
        return;
    }
    let reg = registry(None);
    let name = format!("{}/test/busybox:1", reg.addr);
    let other = format!("{}/test/other:2", reg.addr);
    let _seed = seed(&[&name, &other, &format!("{}/test/third:3", reg.addr)]);
    let d = Daemon::start();

    let out = d.berth(&["pull", &name]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("1: Pulling from "), "{text}");
    // The layer may already be there: the fixture's own image is made from the same
    // busybox files (identical when both tarballs were written in the same second).
    assert!(
        text.contains(": Pull complete\n") || text.contains(": Already exists\n"),
        "{text}"
    );
    assert!(text.contains("\nDigest: sha256:"), "{text}");
    assert!(text.trim_end().ends_with(&format!("\n{name}")), "{text}");
    assert_eq!(
        d.bok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
    );
    // Pulling again: the same "up to date" lines as docker's.
    let (ours, theirs) = (d.berth(&["pull", &name]), d.docker(&["pull", &name]));
    assert_eq!(stdout(&ours), stdout(&theirs));
    assert!(
        stdout(&ours).contains("Image is up to date"),
        "{}",
        stdout(&ours)
    );
    assert_eq!(d.bok(&["pull", "-q", &name]), d.ok(&["pull", "-q", &name]));
    // run pulls what is missing, reporting on stderr, and runs it.
    let out = d.berth(&["run", "--rm", "--network", "none", &other]);
    assert_eq!(stdout(&out), "from-registry\n", "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(&format!("Unable to find image '{other}' locally\n")),
        "{}",
        stderr(&out)
    );
    // On a terminal: the layer lines sit between "Pulling from" and "Digest", as docker's.
    let third = format!("{}/test/third:3", reg.addr);
    let have_tmux = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if have_tmux {
        let sock = format!("berth-pull-{}", std::process::id());
        let line = format!(
            "BERTH_HOST={} BERTH_NO_AUTOSTART=1 {} pull {third}; echo EXIT=$?; sleep 30",
            d.host(),
            common::BERTH
        );
        let st = Command::new("tmux")
            .args([
                "-L",
                &sock,
                "new-session",
                "-d",
                "-s",
                "p",
                "-x",
                "150",
                "-y",
                "20",
                &line,
            ])
            .status()
            .unwrap();
        assert!(st.success());
        let t0 = Instant::now();
        let mut screen = String::new();
        while t0.elapsed() < Duration::from_secs(20) && !screen.contains("EXIT=") {
            std::thread::sleep(Duration::from_millis(100));
            let o = Command::new("tmux")
                .args(["-L", &sock, "capture-pane", "-p", "-t", "p"])
                .output()
                .unwrap();
            screen = String::from_utf8_lossy(&o.stdout).into_owned();
        }
        let _ = Command::new("tmux")
            .args(["-L", &sock, "kill-server"])
            .status();
        let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(lines.len() >= 6, "{screen}");
        assert!(lines[0].starts_with("3: Pulling from "), "{screen}");
        assert!(lines[1].ends_with(": Already exists"), "{screen}");
        assert!(lines[2].starts_with("Digest: sha256:"), "{screen}");
        assert!(lines[3].starts_with("Status: "), "{screen}");
        assert_eq!(lines[4], third, "{screen}");
        assert_eq!(lines[5], "EXIT=0", "{screen}");
    }
    // An unknown tag fails as docker's does.
    let args = ["pull", &format!("{}/test/busybox:nope", reg.addr)];
    let (o, t) = (d.berth(&args), d.docker(&args));
    assert_eq!(o.status.code(), t.status.code());
    assert_eq!(o.status.code(), Some(1));
}
