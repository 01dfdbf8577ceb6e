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
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            let header = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let mut body = vec![0; len];
            if header("transfer-encoding").as_deref() == Some("chunked") {
                body = dechunk(&mut r);
            } else {
                let _ = r.read_exact(&mut body);
            }
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
            let path = &generated_names(path);
            let mut json = if header("content-type").as_deref() == Some("application/x-tar") {
                build_body(&header, &body)
            } else {
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)
            };
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

/// A chunked request body, whole.
fn dechunk(r: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
        if n == 0 {
            let _ = r.read_line(&mut line);
            break;
        }
        let mut chunk = vec![0; n + 2];
        if r.read_exact(&mut chunk).is_err() {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body
}

/// `.dockerfile.` + 20 random hex digits (a Dockerfile added to the context) as `.dockerfile.X`.
fn generated_names(s: &str) -> String {
    let mut out = s.to_owned();
    let mut from = 0;
    while let Some(i) = out[from..].find(".dockerfile.").map(|i| i + from + 12) {
        let end = (i + 20).min(out.len());
        out.replace_range(i..end, "X");
        from = i;
    }
    out
}

/// What a build request carries that matters: its registry credentials (decoded) and
/// the context's members (gzip undone), without their times.
fn build_body(header: &dyn Fn(&str) -> Option<String>, body: &[u8]) -> serde_json::Value {
    use base64::Engine as _;
    let creds = header("x-registry-config")
        .and_then(|c| base64::engine::general_purpose::URL_SAFE.decode(c).ok())
        .and_then(|c| serde_json::from_slice::<serde_json::Value>(&c).ok());
    let gzipped = body.starts_with(&[0x1f, 0x8b]);
    let mut data = body.to_vec();
    if gzipped {
        data.clear();
        let _ = flate2::read::GzDecoder::new(body).read_to_end(&mut data);
    }
    let mut members = Vec::new();
    let mut ar = tar::Archive::new(&data[..]);
    for e in ar.entries().into_iter().flatten() {
        let Ok(mut e) = e else { break };
        let h = e.header().clone();
        let name = generated_names(&String::from_utf8_lossy(&e.path_bytes()));
        let mut text = String::new();
        if name == ".dockerignore" {
            let _ = e.read_to_string(&mut text);
        }
        members.push(serde_json::json!({
            "name": name, "mode": h.mode().ok(), "type": format!("{:?}", h.entry_type()),
            "uid": h.uid().ok(), "gid": h.gid().ok(), "size": h.size().ok(),
            "link": h.link_name().ok().flatten().map(|l| l.display().to_string()),
            "text": generated_names(&text),
        }));
    }
    serde_json::json!({"gzip": gzipped, "X-Registry-Config": creds, "tar": members})
}

/// Runs `prog args` against the recorder; (exit code, stderr with the program's name as
/// docker's, requests).
fn run(
    prog: &str,
    sock: &Path,
    log: &Log,
    args: &[&str],
) -> (Option<i32>, String, Vec<(String, serde_json::Value)>) {
    run_with(prog, sock, log, args, None)
}

/// [`run`] with `input` on stdin.
fn run_with(
    prog: &str,
    sock: &Path,
    log: &Log,
    args: &[&str],
    input: Option<&[u8]>,
) -> (Option<i32>, String, Vec<(String, serde_json::Value)>) {
    log.lock().unwrap().clear();
    let host = format!("unix://{}", sock.display());
    let mut child = Command::new(prog)
        .args(args)
        .env("DOCKER_HOST", &host)
        .env("BERTH_HOST", &host)
        .env("BERTH_NO_AUTOSTART", "1")
        .env("DOCKER_CONFIG", sock.parent().unwrap())
        .env_remove("DOCKER_DEFAULT_PLATFORM")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input.unwrap_or_default());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
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
        // --platform as containerd's parser reads it: completed and normalised.
        "create --platform x86_64 img",
        "create --platform Linux/AArch64/v8 img",
        "create --platform bad img",
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
                        .replace("Berth", "docker")
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

/// A build context with what packing must get right: modes, a symlink, hard links,
/// nested and excluded directories, an exception inside an excluded directory.
fn build_context(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let ctx = dir.join("ctx");
    for d in ["sub/deep", "skip/keep", "skip/drop", "node_modules/x"] {
        std::fs::create_dir_all(ctx.join(d)).unwrap();
    }
    for (f, text) in [
        ("Dockerfile", "FROM img\nCOPY . /c\n"),
        ("sub/Dockerfile.alt", "FROM img\n"),
        ("a.txt", "a"),
        ("keep.txt", "k"),
        ("exe", "#!/bin/sh\n"),
        ("sub/deep/f", "f"),
        ("skip/keep/k", "k"),
        ("skip/drop/d", "d"),
        ("skip/top", "t"),
        ("node_modules/x/m.js", "m"),
        ("x.go", "package x"),
        ("sub/y.go", "package y"),
        (
            ".dockerignore",
            "# comment\n*.txt\n!keep.txt\nskip\n!skip/keep\n**/*.go\nnode_modules/**\n",
        ),
    ] {
        std::fs::write(ctx.join(f), text).unwrap();
    }
    std::fs::set_permissions(ctx.join("a.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(ctx.join("exe"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("keep.txt", ctx.join("link")).unwrap();
    std::fs::hard_link(ctx.join("sub/deep/f"), ctx.join("sub/hard")).unwrap();
    ctx
}

/// Contexts whose `.dockerignore` patterns exercise the matcher's corners, all with the
/// same files.
fn ignore_contexts(dir: &Path) -> Vec<std::path::PathBuf> {
    let files = [
        "Dockerfile",
        "a.go",
        "x/b.go",
        "x/y/c.go",
        "x/temp",
        "x/temporary",
        "x/y/temp1",
        "temp1",
        "temp12",
        "tempx/inner",
        "dir/keep1",
        "dir/drop",
        "dir/sub/keep2",
        "dir/sub/drop",
        "ab",
        "a/b",
        "a/x/b",
        "axb",
        "ax",
        "dx",
        "*lit",
        "y",
        "spaced",
        "#hash",
        "deep/er/still/file.md",
        "deep/er/other.md",
        "README.md",
    ];
    let patterns = [
        "**/*.go\n*/temp*\ntemp?\n",
        "dir\n!dir/keep1\n!dir/sub/keep2\ndir/sub/drop\n",
        "dir/**\n!dir/**/keep*\na**b\n[a-c]x\n\\*lit\n",
        "./x/../y\n/ab\n  spaced  \n #hash\n# comment\n\n*.md\n!deep/**/*.md\ndeep/er/other.md\n",
        "*\n!dir\n!x/y\n",
        "**\n!Dockerfile\n",
    ];
    let mut out = Vec::new();
    for (i, p) in patterns.iter().enumerate() {
        let ctx = dir.join(format!("ig{i}"));
        for f in files {
            let path = ctx.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, f).unwrap();
        }
        std::fs::write(ctx.join(".dockerignore"), p).unwrap();
        out.push(ctx);
    }
    out
}

#[test]
fn build_requests_match_the_docker_clis() {
    if Command::new("docker").arg("--version").output().is_err() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("api.sock");
    let log = recorder(&sock);
    let ctx = build_context(dir.path());
    let outside = dir.path().join("outside.Dockerfile");
    std::fs::write(&outside, "FROM img\n").unwrap();
    // (stored credentials and a proxy: X-Registry-Config and the proxy build args)
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"auths":{"reg.example:5000":{"auth":"dTpw"},"https://index.docker.io/v1/":{"auth":"YTpi"}},"proxies":{"default":{"httpProxy":"http://p:3128","noProxy":"localhost"}}}"#,
    )
    .unwrap();
    let c = ctx.display().to_string();
    let o = outside.display().to_string();
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_dir_all(".", ctx.join("sub")).unwrap();
    let tar = tar.into_inner().unwrap();
    let cases: Vec<(String, Option<&[u8]>)> = vec![
        (format!("build {c}"), None),
        (
            format!("build -q --no-cache --rm=false --force-rm --pull -t a -t b:2 {c}"),
            None,
        ),
        (
            format!(
                "build --build-arg X=1 --build-arg HOME --build-arg NOPE --build-arg HTTP_PROXY=mine --label l=1 --label m {c}"
            ),
            None,
        ),
        (
            format!(
                "build --target t --network host --add-host h:1.2.3.4 --add-host g=::1 --platform linux/amd64 --shm-size 1m -m 64m --memory-swap -1 --cpu-shares 5 --cpu-period 1000 --cpu-quota 500 --cpuset-cpus 0 --cpuset-mems 0 --cgroup-parent cg --ulimit nofile=10:20 --security-opt seccomp=unconfined,label=x --isolation default --cache-from a,b --cache-from c~d --disable-content-trust {c}"
            ),
            None,
        ),
        (
            format!("build --compress -f {c}/sub/Dockerfile.alt {c}"),
            None,
        ),
        (format!("build -f {o} {c}"), None),
        (format!("build -f - {c}"), Some(b"FROM img\nRUN true\n")),
        ("build -".to_owned(), Some(&tar)),
        (
            "build -f Dockerfile.alt --compress -".to_owned(),
            Some(&tar),
        ),
        ("build -".to_owned(), Some(b"FROM img\n")),
        ("build -f x -".to_owned(), Some(b"FROM img\n")),
        ("build -f - -".to_owned(), None),
        ("build /nonexistent/ctx".to_owned(), None),
        (format!("build -f /nonexistent/Dockerfile {c}"), None),
        (format!("build {}", outside.display()), None),
        (format!("build -t Bad:x {c}"), None),
        (format!("build --build-arg =x {c}"), None),
        (format!("build --add-host nohost {c}"), None),
        (format!("build -m 1q {c}"), None),
        ("build".to_owned(), None),
        ("build -t Bad:x".to_owned(), None),
        (format!("build --rm=maybe {c}"), None),
        (
            format!("build --rm=False --disable-content-trust=1 {c}"),
            None,
        ),
        (format!("build {c} {c}"), None),
    ];
    let mut cases = cases;
    for ctx in ignore_contexts(dir.path()) {
        cases.push((format!("build {}", ctx.display()), None));
    }
    let mut differ = Vec::new();
    let mut bodies = 0;
    for (case, input) in &cases {
        let args: Vec<String> = case.split(' ').map(|a| a.replace('~', " ")).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut theirs = run_with("docker", &sock, &log, &args, *input);
        let mut ours = run_with(env!("CARGO_BIN_EXE_berth"), &sock, &log, &args, *input);
        // (docker's notice that its legacy builder is deprecated; berth has no other)
        let notice = "DEPRECATED: The legacy builder is deprecated and will be removed in a future release.\n            Install the buildx component to build images with BuildKit:\n            https://docs.docker.com/go/buildx/\n\n";
        theirs.1 = theirs.1.replacen(notice, "", 1);
        // (the context's size in docker's "Sending build context" line is left out: a
        // Dockerfile added to the context makes docker send a tar without its end blocks)
        for r in [&mut theirs, &mut ours] {
            r.1 =
                r.1.lines()
                    .filter(|l| !l.starts_with("Sending build context"))
                    .collect::<Vec<_>>()
                    .join("\n");
        }
        bodies += theirs.2.iter().filter(|(_, b)| b.is_object()).count();
        if ours != theirs {
            differ.push(format!("{case}\n  berth:  {ours:?}\n  docker: {theirs:?}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert!(bodies >= 8, "only {bodies} build requests recorded");
}
