//! The requests themselves: berth and the stock docker CLI pointed at a recording API
//! server (it answers `/_ping` as an API 1.45 daemon and refuses everything else with a
//! 500), for the commands whose request bodies carry many defaults. Each case must send
//! the same JSON bodies to the same paths, and print the same errors with the same exit
//! code. No daemon or container is involved.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

type Log = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// Serves `sock` in a thread: every request but `/_ping` is recorded as (request line
/// without the version prefix, JSON body or null).
fn recorder(sock: &Path) -> Log {
    let listener = UnixListener::bind(sock).unwrap();
    let log: Log = Arc::default();
    let l2 = log.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut r = BufReader::new(conn);
            let mut line = String::new();
            // (a connection closed without a request is no request)
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let mut len = 0;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let mut conn = r.into_inner();
            if line.contains("/_ping") {
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nAPI-Version: 1.45\r\nOSType: linux\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK",
                );
                continue;
            }
            // "POST /v1.45/networks/create HTTP/1.1" -> "POST /networks/create"
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let path = path.strip_prefix("/v1.45").unwrap_or(path);
            let mut json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            // (docker 28 sends these in a random order: they go through Go maps)
            for p in ["/Env", "/HostConfig/Binds"] {
                if let Some(list) = json.pointer_mut(p).and_then(|e| e.as_array_mut()) {
                    list.sort_by_key(|v| v.to_string());
                }
            }
            l2.lock().unwrap().push((format!("{method} {path}"), json));
            let m = br#"{"message":"refused by the recorder"}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                m.len()
            );
            let _ = conn.write_all(m);
        }
    });
    log
}

/// Runs `prog args` against the recorder; (exit code, stderr with the program's name as
/// docker's, requests).
fn run(
    prog: &str,
    sock: &Path,
    log: &Log,
    args: &[&str],
) -> (Option<i32>, String, Vec<(String, serde_json::Value)>) {
    log.lock().unwrap().clear();
    let host = format!("unix://{}", sock.display());
    let out = Command::new(prog)
        .args(args)
        .env("DOCKER_HOST", &host)
        .env("BERTH_HOST", &host)
        .env("BERTH_NO_AUTOSTART", "1")
        .env("DOCKER_CONFIG", sock.parent().unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr)
        .lines()
        // (Go's HTTP client notes the recorder closing idle connections)
        .filter(|l| !l.contains("Unsolicited response"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("berth", "docker");
    (out.status.code(), stderr, log.lock().unwrap().clone())
}

#[test]
fn requests_match_the_docker_clis() {
    if Command::new("docker").arg("--version").output().is_err() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("api.sock");
    let log = recorder(&sock);
    // One command line per case, split at spaces (`~` stands for a space in an argument).
    let cases: &[&str] = &[
        // run/create: networks, endpoints, MAC placement, advanced --network syntax.
        "create img",
        "create --network host img",
        "create --mac-address 02:42:AC:11:00:02 img",
        "create --link c:d img",
        "create --network a --network b --link c:d img",
        "create --network a --network name=B,alias=X,gw-priority=5 --mac-address 02:42:ac:11:00:02 --ip 10.1.1.1 --network-alias y img",
        r#"create --network name=a,"driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.conf.IFNAME.x=1,net.ipv4.conf.IFNAME.y=2",link-local-ip=169.254.1.1,ip6=fd00::5 img"#,
        "create --network a --network a img",
        "create --network a --network host img",
        "create --network name=a,alias=q --network-alias y img",
        "create --network-alias y img",
        "create --network name=a,bogus=1 img",
        "create --network name=a,gw-priority=x img",
        r#"create --network name=a,al"ias=x img"#,
        "create --network name=a,mac-address=zz img",
        r#"create --mount type=bind,src=/a,"dst=/b"x img"#,
        // A wide sample of the other run/create flags.
        "create -e A=1 --env B -w /w -u 1:2 --name n1 -h h1 --domainname d.x -l k=v --read-only --init --restart on-failure:3 -m 64m --memory-swap 128m --memory-reservation 32m --cpus 1.5 --cpu-shares 512 --cpuset-cpus 0 --pids-limit 50 --ulimit nofile=100:200 --cap-add NET_ADMIN --cap-drop ALL --security-opt no-new-privileges --sysctl net.ipv4.ip_forward=1 --shm-size 1m --tmpfs /t:size=1m -v /a:/b:ro -v vol:/c -p 127.0.0.1:80:8080 -p 9000-9001:9000-9001/udp --expose 7000 --dns 1.1.1.1 --dns-search x.y --dns-option ndots:2 --add-host a:1.2.3.4 --stop-signal SIGINT --stop-timeout 5 --oom-score-adj 10 --group-add 10 --device /dev/null:/dev/n:rw --log-driver json-file --log-opt max-size=1m --entrypoint sh -t -i --health-cmd true --health-interval 5s --ipc private --pid host --uts host --userns host --cgroupns private --privileged --label-file /dev/null --annotation a=b --platform linux/amd64 --pull never img echo hi",
        // Other commands: their paths, queries and bodies.
        // Not here, as their requests differ only in ways every daemon takes alike: exec and
        // network rm (docker inspects first), filters (docker sends the legacy
        // `{"k":{"v":true}}` form, berth the list form), query order and escaping, image
        // names (docker adds docker.io/library/), update (docker sends every zero field).
        "start c",
        "restart -t 0 c",
        "kill -s HUP c",
        "pause c",
        "rename c d",
        "port c",
        "logs --since 2024-01-01T00:00:00Z --tail 5 -t c",
        "inspect c",
        "rmi -f --no-prune a",
        "history a",
        "volume create -d local -o type=tmpfs --label x=y v",
        "volume rm -f v",
        "network disconnect -f n c",
        "network prune -f",
        "system df",
        "info",
        "system info",
        "info --format {{.ID}}",
        // network create / connect bodies.
        "network create n",
        "network create --subnet 10.0.0.0/24 --ip-range 10.0.0.128/25 --gateway 10.0.0.1 --aux-address a=10.0.0.5 n",
        "network create --ipv6 --ipv4=false -o a=b --label l=1 --internal --attachable n",
        "network create --ingress --scope swarm --config-from x --config-only n",
        "network create --subnet 10.0.0.0/24 --aux-address x=10.9.0.1 n",
        "network connect n c",
        "network connect --driver-opt K=V --alias A --gw-priority 3 --ip 1.2.3.4 --link-local-ip 169.254.1.1 --link x:y n c",
        "network connect --driver-opt KV n c",
    ];
    let mut bodies = 0;
    let mut differ = Vec::new();
    for case in cases {
        let args: Vec<String> = case.split(' ').map(|a| a.replace('~', " ")).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let theirs = run("docker", &sock, &log, &args);
        let ours = run(env!("CARGO_BIN_EXE_berth"), &sock, &log, &args);
        bodies += theirs.2.iter().filter(|(_, b)| b.is_object()).count();
        if ours != theirs {
            differ.push(format!("{case}\n  berth:  {ours:?}\n  docker: {theirs:?}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    // A seccomp profile file goes as its compacted JSON (key order kept); a missing one
    // is the client's error.
    let profile = dir.path().join("profile.json");
    std::fs::write(
        &profile,
        "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"comment\": \"a = b, \\\" x \",\n  \"syscalls\": [ ]\n}\n",
    )
    .unwrap();
    for opt in [
        format!("seccomp={}", profile.display()),
        format!("seccomp:{}", profile.display()),
        "seccomp=/nonexistent/profile.json".into(),
        "seccomp=unconfined".into(),
    ] {
        let args = ["create", "--security-opt", opt.as_str(), "img"];
        let theirs = run("docker", &sock, &log, &args);
        let ours = run(env!("CARGO_BIN_EXE_berth"), &sock, &log, &args);
        if ours != theirs {
            differ.push(format!("{opt}\n  berth:  {ours:?}\n  docker: {theirs:?}"));
        }
    }
    // `info` prints its client half first, even with no daemon to ask.
    for args in [&["info"][..], &["info", "--format", "{{.ID}}"]] {
        for host in [
            format!("unix://{}", sock.display()),
            "unix:///nonexistent.sock".into(),
        ] {
            let out = |prog: &str| {
                let o = Command::new(prog)
                    .args(args)
                    .env("DOCKER_HOST", &host)
                    .env("BERTH_HOST", &host)
                    .env("BERTH_NO_AUTOSTART", "1")
                    .output()
                    .unwrap();
                let text = |b: &[u8]| {
                    String::from_utf8_lossy(b)
                        .lines()
                        .filter(|l| !l.contains("Unsolicited") && !l.starts_with(" Version:"))
                        .collect::<Vec<_>>()
                        .join("\n")
                        .replace("berth", "docker")
                        .replace("Docker", "docker")
                };
                (o.status.code(), text(&o.stdout), text(&o.stderr))
            };
            let (ours, theirs) = (out(env!("CARGO_BIN_EXE_berth")), out("docker"));
            if ours != theirs {
                differ.push(format!(
                    "{args:?} at {host}\n  berth:  {ours:?}\n  docker: {theirs:?}"
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    // (the recorder saw the bodies it compared)
    assert!(bodies >= 12, "only {bodies} request bodies recorded");
}
