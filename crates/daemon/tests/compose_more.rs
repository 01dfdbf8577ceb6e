//! docker-compose (the Debian package's 1.29, docker-py underneath) against berthd, beyond
//! tests/network.rs's build-and-fetch: `depends_on: condition: service_healthy`, the
//! container's ulimits in `exec`, and `up --force-recreate` of a service with a fixed
//! address whose network namespace another service shares. Traffic stays inside the test
//! daemon's own bridge. Skipped when docker-compose is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::net::*;
use common::*;

/// A compose project on a test daemon, taken down (containers, networks, volumes) on drop.
struct Project<'a> {
    d: &'a Daemon,
    file: PathBuf,
    name: String,
    env: Vec<(String, String)>,
}

impl Project<'_> {
    fn new<'a>(d: &'a Daemon, file: &str, env: &[(&str, &str)]) -> Option<Project<'a>> {
        if Command::new("docker-compose")
            .arg("version")
            .output()
            .is_err()
        {
            eprintln!("skipped: docker-compose (Debian package) not installed");
            return None;
        }
        Some(Project {
            d,
            file: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/compose")
                .join(file),
            name: format!("cm{}", std::process::id()),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .args(["-k", "2", "120", "docker-compose", "-f"])
            .arg(&self.file)
            .args(["-p", &self.name])
            .args(args)
            .env("DOCKER_HOST", self.d.host())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }

    /// Runs docker-compose, asserting success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "docker-compose {args:?}: {}{}\n--- berthd log tail ---\n{}",
            stdout(&o),
            stderr(&o),
            tail(&self.d.log(), 30)
        );
        stdout(&o)
    }

    fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.name)
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "--remove-orphans", "-t", "1"]);
    }
}

#[test]
fn compose_waits_for_a_healthy_service_exec_keeps_its_ulimits_and_force_recreate_keeps_its_address()
{
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let sub = subnet(31);
    let fixed = format!("{}.10", &sub[..sub.len() - 5]);
    let Some(p) = Project::new(&d, "more.yml", &[("SUBNET", &sub), ("FIXED", &fixed)]) else {
        return;
    };
    // `app` waits for web's healthcheck (docker-py sends Timeout/Retries/StartPeriod as
    // null: they are the defaults, not a missing healthcheck).
    p.ok(&["up", "-d"]);
    let web = p.container("web");
    assert_eq!(d.inspect(&web, "{{.State.Health.Status}}"), "healthy");
    assert_eq!(
        d.inspect(&p.container("app"), "{{.State.Status}}"),
        "running"
    );
    let ps = p.ok(&["ps"]);
    assert!(
        ps.lines()
            .any(|l| l.starts_with(&web) && l.contains("Up (healthy)")),
        "{ps}"
    );
    // An exec runs with the container's rlimits (`ulimits:`), not berthd's.
    assert_eq!(
        p.ok(&["exec", "-T", "web", "sh", "-c", "ulimit -Hn"])
            .trim(),
        "2000"
    );
    // Recreating web stops the old container and starts the new one at once, with the same
    // fixed address, while `side` still holds the old network namespace.
    let old = d.inspect(&web, "{{.Id}}");
    p.ok(&["up", "-d", "--force-recreate", "-t", "1"]);
    assert_ne!(d.inspect(&web, "{{.Id}}"), old);
    let key = format!("{}_default", p.name);
    assert_eq!(
        d.inspect(
            &web,
            &format!("{{{{(index .NetworkSettings.Networks \"{key}\").IPAddress}}}}")
        ),
        fixed
    );
    assert!(d.eventually(20, || {
        p.run(&[
            "exec",
            "-T",
            "side",
            "wget",
            "-qO-",
            "http://127.0.0.1/index.html",
        ])
        .stdout
        .starts_with(b"up")
    }));
    let names = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(
        names,
        [p.container("app"), p.container("side"), web.clone()],
        "the old containers are gone"
    );
    p.ok(&["down", "-v", "-t", "1"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert!(
        !d.ok(&["network", "ls", "--format", "{{.Name}}"])
            .contains(&p.name)
    );
}

#[test]
fn compose_refuses_a_hostname_on_a_service_in_another_services_network_namespace() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let Some(p) = Project::new(&d, "conflict.yml", &[]) else {
        return;
    };
    let up = p.run(&["up", "-d"]);
    assert!(!up.status.success());
    assert!(
        stderr(&up).contains(
            "Cannot create container for service b: conflicting options: hostname and the network mode"
        ),
        "{}",
        stderr(&up)
    );
    assert_eq!(d.inspect(&p.container("a"), "{{.State.Status}}"), "running");
}
