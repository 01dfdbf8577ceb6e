//! Docker API clients other than the docker CLI, against berthd: docker-py (Debian's
//! python3-docker) and bollard (Rust, pinned to API 1.45, the version berthd advertises) each
//! run the scenario people script with them: pull from a registry, run detached, logs, exec,
//! stop, remove (docker-py then builds an image on the pulled one). testcontainers-python
//! (PyPI, in the virtualenv `make deps-test` makes) runs a service as a test suite would.

mod common;

use std::process::Command;

use common::{Daemon, IMG, stderr, stdout};

#[path = "common/registry.rs"]
mod registry;

fn have_docker_py() -> bool {
    Command::new("python3")
        .args(["-c", "import docker"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn docker_py_pull_run_logs_exec_stop_remove() {
    if !common::have_prereqs() || !registry::available(false) {
        return;
    }
    assert!(
        have_docker_py(),
        "python3-docker is missing (make deps-test installs it)"
    );
    let d = Daemon::start();
    let (_reg, name) = seeded_registry(&d);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/docker_py.py");
    let out = Command::new("timeout")
        .args(["120", "python3", script])
        .arg(&d.sock)
        .arg(&name)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker-py scenario failed:\n{}\n{}\nberthd log:\n{}",
        stdout(&out),
        stderr(&out),
        common::tail(&d.log(), 30)
    );
    assert!(stdout(&out).contains("docker-py scenario ok"));
}

/// The virtualenv `make deps-test` puts testcontainers-python in.
fn testcontainers_python() -> std::path::PathBuf {
    std::env::var_os("BERTH_TEST_TC_PYTHON")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/py-testcontainers/bin/python")
        })
}

#[test]
fn testcontainers_python_runs_a_networked_service_and_cleans_up() {
    if !common::have_prereqs() {
        return;
    }
    let python = testcontainers_python();
    if !python.exists() {
        // `make deps-test` installs it from PyPI, and says so when it cannot.
        eprintln!(
            "skipping: {} is missing (make deps-test installs testcontainers-python there)",
            python.display()
        );
        return;
    }
    let d = Daemon::start();
    let work = d.dir.path().join("tc");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/testcontainers_py.py"
    );
    let out = Command::new("timeout")
        .arg("120")
        .arg(&python)
        .arg(script)
        .arg(IMG)
        .arg(&work)
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        // The reaper's image is on Docker Hub; the `with` blocks remove what they made.
        .env("TESTCONTAINERS_RYUK_DISABLED", "true")
        // Reach published ports on loopback only.
        .env("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "testcontainers scenario failed:\n{}\n{}\nberthd log:\n{}",
        stdout(&out),
        stderr(&out),
        common::tail(&d.log(), 30)
    );
    assert!(stdout(&out).contains("testcontainers scenario ok"));
    // The network the scenario made is gone from berthd too.
    assert_eq!(d.ok(&["network", "ls", "-q", "-f", "type=custom"]), "");
}

/// A registry holding the test image as `<registry>/clients/bb:1`, pushed from `d`, which
/// then forgets it (the clients pull it back).
fn seeded_registry(d: &Daemon) -> (registry::Registry, String) {
    let reg = registry::start(None);
    let name = format!("{}/clients/bb:1", reg.addr);
    d.ok(&["tag", IMG, &name]);
    d.ok(&["push", &name]);
    d.ok(&["rmi", &name]);
    (reg, name)
}

#[test]
fn bollard_pull_run_logs_exec_stop_remove() {
    use bollard::query_parameters::{
        CreateContainerOptionsBuilder, CreateImageOptionsBuilder, LogsOptionsBuilder,
        RemoveContainerOptions, StartContainerOptions, StopContainerOptionsBuilder,
    };
    use futures_util::StreamExt;

    if !common::have_prereqs() || !registry::available(false) {
        return;
    }
    let d = Daemon::start();
    let (_reg, name) = seeded_registry(&d);
    let sock = d.sock.to_str().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let version = bollard::ClientVersion {
            major_version: 1,
            minor_version: 45,
        };
        let docker = bollard::Docker::connect_with_unix(&sock, 60, &version).unwrap();
        docker.ping().await.unwrap();
        let (repo, tag) = name.rsplit_once(':').unwrap();
        let opts = CreateImageOptionsBuilder::new()
            .from_image(repo)
            .tag(tag)
            .build();
        let mut pull = docker.create_image(Some(opts), None, None);
        while let Some(p) = pull.next().await {
            p.expect("pull progress");
        }
        let body = bollard::models::ContainerCreateBody {
            image: Some(name.clone()),
            cmd: Some(vec![
                "sh".into(),
                "-c".into(),
                "echo hello from bollard; exec sleep 300".into(),
            ]),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = docker
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::new()
                        .name("bollard1")
                        .build(),
                ),
                body,
            )
            .await
            .unwrap();
        docker
            .start_container(&c.id, None::<StartContainerOptions>)
            .await
            .unwrap();
        let mut text = String::new();
        for _ in 0..100 {
            text.clear();
            let mut logs = docker.logs(&c.id, Some(LogsOptionsBuilder::new().stdout(true).build()));
            while let Some(l) = logs.next().await {
                text.push_str(&l.unwrap().to_string());
            }
            if !text.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(text, "hello from bollard\n");
        let exec = docker
            .create_exec(
                &c.id,
                bollard::models::ExecConfig {
                    cmd: Some(vec![
                        "sh".into(),
                        "-c".into(),
                        "echo $((6 * 7)); exit 3".into(),
                    ]),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut out = String::new();
        if let bollard::exec::StartExecResults::Attached { mut output, .. } =
            docker.start_exec(&exec.id, None).await.unwrap()
        {
            while let Some(o) = output.next().await {
                out.push_str(&o.unwrap().to_string());
            }
        } else {
            panic!("exec started detached");
        }
        assert_eq!(out, "42\n");
        let ins = docker.inspect_exec(&exec.id).await.unwrap();
        assert_eq!((ins.exit_code, ins.running), (Some(3), Some(false)));
        docker
            .stop_container(&c.id, Some(StopContainerOptionsBuilder::new().t(1).build()))
            .await
            .unwrap();
        let state = docker
            .inspect_container(&c.id, None)
            .await
            .unwrap()
            .state
            .unwrap();
        assert_eq!(state.exit_code, Some(137));
        docker
            .remove_container(&c.id, None::<RemoveContainerOptions>)
            .await
            .unwrap();
        assert!(docker.inspect_container(&c.id, None).await.is_err());
    });
}
