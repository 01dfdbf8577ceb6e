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

/// One request as testcontainers-java's docker-java client sends it at API version `api`
/// (1.21 asks for 1.44, 1.20 for 1.32), with its User-Agent and session header; bodies from
/// `body`, streamed chunked as docker-java streams tars): the status code and the body.
fn tc_java(
    d: &Daemon,
    api: &str,
    method: &str,
    path: &str,
    body: Option<(&str, &std::path::Path)>,
) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "-N",
        "--max-time",
        "60",
        "-X",
        method,
        "--unix-socket",
    ])
    .arg(&d.sock)
    .args([
        "-H",
        &format!("User-Agent: tc-java/{}", tc_java_release(api)),
    ])
    .args(["-H", "x-tc-sid: tcj-session"])
    .args(["-w", "\n%{http_code}"]);
    if let Some((ctype, file)) = body {
        c.args(["-H", &format!("Content-Type: {ctype}")]);
        if ctype == "application/json" {
            c.arg("--data-binary").arg(format!("@{}", file.display()));
        } else {
            c.args(["-H", "Transfer-Encoding: chunked", "-H", "encoding: gzip"])
                .arg("--data-binary")
                .arg(format!("@{}", file.display()));
        }
    }
    let o = c
        .arg(format!("http://localhost:2375/v{api}{path}"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (b, code) = out.rsplit_once('\n').unwrap_or(("", &out));
    (code.trim().parse().unwrap_or(0), b.to_owned())
}

/// The testcontainers-java release that speaks API `api`.
fn tc_java_release(api: &str) -> &'static str {
    if api == "1.44" { "1.21.4" } else { "1.20.6" }
}

/// testcontainers-java's `ComparableVersion`: the digits of each dot-separated part.
fn tc_version_parts(v: &str) -> Vec<u32> {
    let mut parts = Vec::new();
    let mut acc = 0u32;
    for c in v.chars() {
        if c == '.' {
            parts.push(acc);
            acc = 0;
        }
        if let Some(n) = c.to_digit(10) {
            acc = acc * 10 + n;
        }
    }
    if acc != 0 {
        parts.push(acc);
    }
    parts
}

/// testcontainers-java 1.21 and 1.20 (docker-java over its own HTTP client, at API 1.44 and
/// 1.32) replayed with curl, request for request: ping/info/version and its "Docker server
/// version should be at least 1.6.0" check (berthd's own `0.1.0` failed it, so testcontainers
/// refused the daemon before its first container), a labelled network, a container on it keyed by network ID with
/// aliases and a port on 127.0.0.1, a file copied in before start as a chunked tar without its
/// parent directory, exec, `logs?follow&since=0` (its log wait), `archive` out,
/// restart/stop/kill/remove, an `ImageFromDockerfile` build (gzip context, labels, `rm=false`)
/// and its shutdown cleanup (label-filtered list and prunes). berthd's log names the API
/// version and client of each request, and the requests that failed.
#[test]
fn testcontainers_java_requests_replayed_with_curl() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let dir = d.dir.path();
    let json = |name: &str, v: serde_json::Value| {
        let p = dir.join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    let parse = |(code, body): (u16, String), want: u16| -> serde_json::Value {
        assert_eq!(code, want, "{body}\n{}", common::tail(&d.log(), 20));
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
    };

    // 1.21 at API 1.44, then 1.20 at 1.32: each run leaves nothing behind.
    for api in ["1.44", "1.32"] {
        // DockerClientProviderStrategy / DockerClientFactory.client()
        let (code, body) = tc_java(&d, api, "GET", "/_ping", None);
        assert_eq!((code, body.as_str()), (200, "OK"));
        let info = parse(tc_java(&d, api, "GET", "/info", None), 200);
        assert_eq!(info["OSType"], "linux");
        let version = parse(tc_java(&d, api, "GET", "/version", None), 200);
        let v = version["Version"].as_str().unwrap();
        assert!(
            tc_version_parts(v).as_slice() >= [1u32, 6, 0].as_slice(),
            "testcontainers refuses a server version below 1.6.0: {v}"
        );
        assert_eq!(info["ServerVersion"], v);
        // berth's own version stays in the Engine component, which `docker version` shows.
        let engine = version["Components"][0]["Version"].as_str().unwrap();
        assert!(v.ends_with(&format!("+berth.{engine}")), "{v} / {engine}");
        assert_eq!(d.ok(&["version", "--format", "{{.Server.Version}}"]), v);
        let shown = d.ok(&["version"]);
        assert!(
            shown.contains(&format!("Version:          {engine}")),
            "{shown}"
        );

        // Network.newNetwork()
        let labels = serde_json::json!({
            "org.testcontainers": "true",
            "org.testcontainers.lang": "java",
            "org.testcontainers.version": tc_java_release(api),
            "org.testcontainers.sessionId": "tcj-session",
        });
        let body = json(
            "net.json",
            serde_json::json!({"Name": "tcj-net-4f1c", "CheckDuplicate": true, "Labels": labels}),
        );
        let net = parse(
            tc_java(
                &d,
                api,
                "POST",
                "/networks/create",
                Some(("application/json", &body)),
            ),
            201,
        )["Id"]
            .as_str()
            .unwrap()
            .to_owned();

        // GenericContainer: create (network by ID, aliases, port on 127.0.0.1), copy, start
        let create = |name: &str, cmd: serde_json::Value, aliases: &[&str]| -> String {
            let body = json(
                name,
                serde_json::json!({
                    "Image": IMG, "Cmd": cmd, "Env": ["GREETING=hello-berth"], "Labels": labels,
                    "ExposedPorts": {"8080/tcp": {}},
                    "HostConfig": {
                        "Binds": [], "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
                        "NetworkMode": net, "ExtraHosts": [], "VolumesFrom": [], "Links": [],
                        "PublishAllPorts": false, "Privileged": false,
                    },
                    "NetworkingConfig": {"EndpointsConfig": {net.clone(): {"Aliases": aliases}}},
                }),
            );
            parse(
                tc_java(
                    &d,
                    api,
                    "POST",
                    "/containers/create",
                    Some(("application/json", &body)),
                ),
                201,
            )["Id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let srv = create(
            "srv.json",
            serde_json::json!([
                "sh",
                "-c",
                "echo started $GREETING; exec httpd -f -p 8080 -h /www"
            ]),
            &["webby", "tc-a1b2"],
        );
        let ctx = dir.join("copy");
        std::fs::create_dir_all(ctx.join("www")).unwrap();
        std::fs::write(ctx.join("www/index.html"), "<h1>index</h1>\n").unwrap();
        let tar = dir.join("copy.tar");
        // (a file entry only, no entry for its directory: what commons-compress writes)
        assert!(
            Command::new("tar")
                .arg("-C")
                .arg(&ctx)
                .arg("-cf")
                .arg(&tar)
                .arg("www/index.html")
                .status()
                .unwrap()
                .success()
        );
        let q = "noOverwriteDirNonDir=false&copyUIDGID=false";
        let (code, body) = tc_java(
            &d,
            api,
            "PUT",
            &format!("/containers/{srv}/archive?path=%2F&{q}"),
            Some(("application/x-tar", &tar)),
        );
        assert_eq!(code, 200, "{body}");
        let (code, body) = tc_java(&d, api, "POST", &format!("/containers/{srv}/start"), None);
        assert_eq!(code, 204, "{body}");
        let ins = parse(
            tc_java(&d, api, "GET", &format!("/containers/{srv}/json"), None),
            200,
        );
        assert_eq!(ins["State"]["Running"], true);
        let port = ins["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            ins["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostIp"],
            "127.0.0.1"
        );
        // Wait.forHttp from the host; the client container reaches the server by its alias.
        let page = |url: &str| {
            stdout(
                &Command::new("curl")
                    .args([
                        "-sS",
                        "--retry",
                        "20",
                        "--retry-connrefused",
                        "--retry-delay",
                        "1",
                    ])
                    .arg(url)
                    .output()
                    .unwrap(),
            )
        };
        assert_eq!(
            page(&format!("http://127.0.0.1:{port}/index.html")),
            "<h1>index</h1>\n"
        );
        let cli = create(
            "cli.json",
            serde_json::json!(["sleep", "300"]),
            &["tc-c3d4"],
        );
        assert_eq!(
            tc_java(&d, api, "POST", &format!("/containers/{cli}/start"), None).0,
            204
        );
        // execInContainer: create, start (attached, multiplexed), inspect for the exit code
        let exec = |ctr: &str, cmd: serde_json::Value| -> (Vec<u8>, i64) {
            let body = json(
                "exec.json",
                serde_json::json!({"AttachStdout": true, "AttachStderr": true, "Cmd": cmd}),
            );
            let id = parse(
                tc_java(
                    &d,
                    api,
                    "POST",
                    &format!("/containers/{ctr}/exec"),
                    Some(("application/json", &body)),
                ),
                201,
            )["Id"]
                .as_str()
                .unwrap()
                .to_owned();
            let start = json(
                "start.json",
                serde_json::json!({"Detach": false, "Tty": false}),
            );
            let o = Command::new("curl")
                .args(["-sS", "--max-time", "60", "-X", "POST", "--unix-socket"])
                .arg(&d.sock)
                .args([
                    "-H",
                    &format!("User-Agent: tc-java/{}", tc_java_release(api)),
                ])
                .args(["-H", "Content-Type: application/json", "--data-binary"])
                .arg(format!("@{}", start.display()))
                .arg(format!("http://localhost:2375/v{api}/exec/{id}/start"))
                .output()
                .unwrap();
            let ins = parse(
                tc_java(&d, api, "GET", &format!("/exec/{id}/json"), None),
                200,
            );
            (o.stdout, ins["ExitCode"].as_i64().unwrap())
        };
        let (out, code) = exec(
            &cli,
            serde_json::json!(["wget", "-q", "-O", "-", "http://webby:8080/index.html"]),
        );
        assert_eq!(code, 0);
        assert_eq!(out, b"\x01\0\0\0\0\0\0\x0f<h1>index</h1>\n");
        let (out, code) = exec(
            &srv,
            serde_json::json!(["sh", "-c", "echo $GREETING; echo err >&2; exit 3"]),
        );
        assert_eq!(code, 3);
        assert_eq!(
            out,
            b"\x01\0\0\0\0\0\0\x0chello-berth\n\x02\0\0\0\0\0\0\x04err\n"
        );
        // LogMessageWaitStrategy: follow from since=0 until the line shows, then hang up.
        let o = Command::new("curl")
        .args(["-sS", "-N", "--max-time", "60", "--unix-socket"])
        .arg(&d.sock)
        .arg(format!(
            "http://localhost:2375/v{api}/containers/{srv}/logs?stdout=true&stderr=true&follow=true&since=0"
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
        let mut follow = o;
        let mut got = Vec::new();
        {
            use std::io::Read;
            let mut buf = [0u8; 256];
            let so = follow.stdout.as_mut().unwrap();
            while !String::from_utf8_lossy(&got).contains("started hello-berth") {
                let n = so.read(&mut buf).unwrap();
                assert!(n > 0, "logs ended: {:?}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..n]);
            }
        }
        let _ = follow.kill();
        let _ = follow.wait();
        // copyFileFromContainer
        let (code, body) = tc_java(
            &d,
            api,
            "GET",
            &format!("/containers/{srv}/archive?path=%2Fwww%2Findex.html"),
            None,
        );
        assert_eq!(code, 200);
        assert!(body.contains("<h1>index</h1>"), "{body}");
        // restart, stop, start, then GenericContainer.stop(): kill and remove (volumes, force)
        for (m, p, want) in [
            ("POST", format!("/containers/{srv}/restart?t=1"), 204),
            ("POST", format!("/containers/{srv}/stop?t=1"), 204),
            ("POST", format!("/containers/{srv}/start"), 204),
            ("POST", format!("/containers/{srv}/kill"), 204),
            (
                "DELETE",
                format!("/containers/{srv}?v=true&force=true"),
                204,
            ),
        ] {
            let (code, body) = tc_java(&d, api, m, &p, None);
            assert_eq!(code, want, "{m} {p}: {body}");
        }

        // ImageFromDockerfile: gzip context, labels, rm=false; docker-java wants "Successfully built"
        let bctx = dir.join("bctx");
        std::fs::create_dir_all(&bctx).unwrap();
        std::fs::write(bctx.join("greet.txt"), "built by testcontainers\n").unwrap();
        std::fs::write(
            bctx.join("Dockerfile"),
            format!("FROM {IMG}\nCOPY greet.txt /greet.txt\nRUN echo step > /step.txt\n"),
        )
        .unwrap();
        let btar = dir.join("ctx.tar.gz");
        assert!(
            Command::new("tar")
                .arg("-C")
                .arg(&bctx)
                .arg("-czf")
                .arg(&btar)
                .args(["Dockerfile", "greet.txt"])
                .status()
                .unwrap()
                .success()
        );
        let lq = "%7B%22org.testcontainers%22%3A%22true%22%2C%22org.testcontainers.sessionId%22%3A%22tcj-session%22%7D";
        let (code, body) = tc_java(
            &d,
            api,
            "POST",
            &format!("/build?t=tcbuilt%3Alatest&rm=false&labels={lq}"),
            Some(("application/tar", &btar)),
        );
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("Successfully built "), "{body}");
        assert_eq!(
            d.ok(&[
                "inspect",
                "-f",
                "{{index .Config.Labels \"org.testcontainers.sessionId\"}}",
                "tcbuilt:latest"
            ]),
            "tcj-session"
        );
        let out = d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "tcbuilt:latest",
            "cat",
            "/greet.txt",
            "/step.txt",
        ]);
        assert_eq!(out, "built by testcontainers\nstep");

        // JVM-exit cleanup: containers by label, then prunes of networks and images by label
        let f = "%7B%22label%22%3A%5B%22org.testcontainers%3Dtrue%22%2C%22org.testcontainers.sessionId%3Dtcj-session%22%5D%7D";
        let list = parse(
            tc_java(
                &d,
                api,
                "GET",
                &format!("/containers/json?all=true&filters={f}"),
                None,
            ),
            200,
        );
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list[0]["Id"], cli.as_str());
        assert_eq!(
            tc_java(
                &d,
                api,
                "DELETE",
                &format!("/containers/{cli}?v=true&force=true"),
                None
            )
            .0,
            204
        );
        let pruned = parse(
            tc_java(
                &d,
                api,
                "POST",
                &format!("/networks/prune?filters={f}"),
                None,
            ),
            200,
        );
        assert_eq!(
            pruned["NetworksDeleted"],
            serde_json::json!(["tcj-net-4f1c"])
        );
        let f2 = "%7B%22dangling%22%3A%5B%22false%22%5D%2C%22label%22%3A%5B%22org.testcontainers.sessionId%3Dtcj-session%22%5D%7D";
        let pruned = parse(
            tc_java(
                &d,
                api,
                "POST",
                &format!("/images/prune?filters={f2}"),
                None,
            ),
            200,
        );
        assert!(
            pruned["ImagesDeleted"]
                .to_string()
                .contains("tcbuilt:latest"),
            "{pruned}"
        );
        assert_eq!(d.ok(&["images", "-q", "tcbuilt"]), "");
    }

    // berthd's request log: the API version and client of each request, and the failures.
    let (code, _) = tc_java(&d, "1.44", "GET", "/containers/nope/json", None);
    assert_eq!(code, 404);
    let o = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--unix-socket",
        ])
        .arg(&d.sock)
        .arg("http://localhost/v1.99/version")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "400");
    // (without the terminal colours berthd's log may carry)
    let mut log = String::new();
    let mut esc = false;
    for c in d.log().chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => log.push(c),
        }
    }
    for (api, release) in [("1.44", "1.21.4"), ("1.32", "1.20.6")] {
        assert!(
            log.contains(&format!(
                "path=/containers/create api={api} agent=tc-java/{release}"
            )),
            "{}",
            common::tail(&log, 20)
        );
    }
    assert!(
        log.contains("request failed method=GET path=/containers/nope/json api=1.44 status=404"),
        "{}",
        common::tail(&log, 20)
    );
    assert!(
        log.contains("request refused: API version 1.99 too new method=GET path=/v1.99/version"),
        "{}",
        common::tail(&log, 20)
    );
}
