//! `stats` streaming without container names: containers that start later appear,
//! removed ones (and, without --all, stopped ones) go, and each redraw is written as the
//! docker CLI writes it when stdout is not a terminal.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, IMG};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

/// A streaming `stats` (berth or docker) writing to a file; killed when dropped.
struct Stream {
    child: Child,
    out: std::path::PathBuf,
}

impl Stream {
    fn start(d: &Daemon, docker: bool, args: &[&str], name: &str) -> Stream {
        let out = d.dir.path().join(name);
        let file = std::fs::File::create(&out).unwrap();
        let mut cmd = if docker {
            let mut c = Command::new("docker");
            c.env("DOCKER_HOST", d.host())
                .env("DOCKER_CONFIG", d.dir.path().join("dockercfg"));
            c
        } else {
            let mut c = Command::new(common::BERTH);
            c.env("BERTH_HOST", d.host()).env("BERTH_NO_AUTOSTART", "1");
            c
        };
        let child = cmd
            .arg("stats")
            .args(args)
            .env_remove("DOCKER_API_VERSION")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Stream { child, out }
    }

    /// The last complete redraw (frames end with erase-below).
    fn last_frame(&self) -> String {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let mut frames: Vec<&str> = text.split("\x1b[J").collect();
        frames.pop();
        frames.last().map(|f| f.to_string()).unwrap_or_default()
    }

    /// Waits (up to 15 s) for a redraw that satisfies `cond`.
    fn until(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let f = self.last_frame();
            if cond(&f) {
                return f;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "no frame where {what}; last:\n{f:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A row naming the container `name` (the NAME column, between spaces).
fn shows(frame: &str, name: &str) -> bool {
    frame.lines().any(|l| l.contains(&format!("   {name}   ")))
}

/// The frame with the numbers that move taken out: the shape of each line.
fn shape(frame: &str) -> Vec<String> {
    frame
        .split('\n')
        .map(|l| {
            l.split("   ")
                .map(|c| {
                    let c = c.trim();
                    if c.starts_with("\x1b[HCONTAINER") || c.chars().all(|x| !x.is_ascii_digit()) {
                        c.to_owned()
                    } else {
                        "#".to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

fn run(d: &Daemon, name: &str) {
    d.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "none",
        IMG,
        "sleep",
        "1000",
    ]);
}

#[test]
fn stats_follows_containers_that_start_and_go() {
    prereqs!();
    let d = Daemon::start();
    run(&d, "st1");
    let ours = Stream::start(&d, false, &[], "berth.out");
    let theirs = Stream::start(&d, true, &[], "docker.out");
    let f = ours.until("st1 shows", |f| shows(f, "st1"));
    // Each redraw as docker writes it: home and the table, then the table again with
    // every line erased to its end, then erase-below.
    assert!(f.starts_with("\x1b[HCONTAINER ID   NAME"), "{f:?}");
    assert!(f.contains("\n\x1b[HCONTAINER ID"), "{f:?}");
    assert!(f.ends_with("\n \x1b[K\n"), "{f:?}");
    let g = theirs.until("st1 shows", |f| shows(f, "st1"));
    assert_eq!(shape(&f), shape(&g), "\n{f}\n{g}");
    // A container started later appears.
    run(&d, "st2");
    ours.until("st2 appears", |f| shows(f, "st2") && shows(f, "st1"));
    theirs.until("st2 appears", |f| shows(f, "st2"));
    // A stopped one goes (without --all), a removed one too.
    d.ok(&["kill", "st2"]);
    ours.until("st2 goes after it died", |f| {
        !shows(f, "st2") && shows(f, "st1")
    });
    d.ok(&["rm", "-f", "st1"]);
    ours.until("st1 goes after removal", |f| {
        f.starts_with("\x1b[HCONTAINER ID") && !shows(f, "st1")
    });
    theirs.until("st1 goes", |f| !shows(f, "st1") && !shows(f, "st2"));
}

#[test]
fn stats_all_adds_created_containers_and_keeps_stopped_ones() {
    prereqs!();
    let d = Daemon::start();
    run(&d, "sa1");
    let ours = Stream::start(&d, false, &["-a"], "berth.out");
    ours.until("sa1 shows", |f| shows(f, "sa1"));
    d.ok(&["create", "--name", "sa2", "--network", "none", IMG, "true"]);
    ours.until("created sa2 appears", |f| shows(f, "sa2"));
    d.ok(&["kill", "sa1"]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(shows(&ours.last_frame(), "sa1"), "{}", ours.last_frame());
    d.ok(&["rm", "sa2"]);
    ours.until("removed sa2 goes", |f| !shows(f, "sa2") && shows(f, "sa1"));
}
