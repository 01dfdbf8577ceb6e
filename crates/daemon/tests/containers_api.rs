//! The everyday container endpoints with the stock docker CLI against berthd: cp both ways
//! (symlinks resolved inside the container, `../` archives refused), top, diff, rename,
//! export/import, prune, `ps --size`, stats and update.

mod common;

use std::path::Path;

use common::{Daemon, IMG, stderr, stdout};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

fn run_sleeper(d: &Daemon, name: &str) -> String {
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
    ])
}

#[test]
fn cp_both_ways_stays_inside_the_container() {
    prereqs!();
    let d = Daemon::start();
    run_sleeper(&d, "cp1");
    let host = d.dir.path().join("host");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("hello.txt"), "hi from host\n").unwrap();
    std::fs::write(host.join("tree/sub/deep.txt"), "deep\n").unwrap();
    let p = |x: &Path| x.to_str().unwrap().to_owned();

    // Host → container: a file into a directory, a directory under a new name.
    d.ok(&["cp", &p(&host.join("hello.txt")), "cp1:/tmp/"]);
    assert_eq!(
        d.ok(&["exec", "cp1", "cat", "/tmp/hello.txt"]),
        "hi from host"
    );
    // Copying again replaces the file (by its name, or into its directory).
    let again = host.join("again");
    std::fs::create_dir_all(&again).unwrap();
    std::fs::write(again.join("hello.txt"), "hi again\n").unwrap();
    d.ok(&["cp", &p(&again.join("hello.txt")), "cp1:/tmp/hello.txt"]);
    assert_eq!(d.ok(&["exec", "cp1", "cat", "/tmp/hello.txt"]), "hi again");
    d.ok(&["cp", &p(&host.join("hello.txt")), "cp1:/tmp/"]);
    assert_eq!(
        d.ok(&["exec", "cp1", "cat", "/tmp/hello.txt"]),
        "hi from host"
    );
    // A directory is not replaced by a file of the same name (noOverwriteDirNonDir).
    d.ok(&["exec", "cp1", "mkdir", "/tmp/adir"]);
    std::fs::write(again.join("adir"), "file\n").unwrap();
    let tar = std::process::Command::new("tar")
        .current_dir(&again)
        .args(["-cf", "-", "adir"])
        .output()
        .unwrap();
    let put = d.docker_stdin(&["cp", "-", "cp1:/tmp/"], Some(&tar.stdout));
    assert!(!put.status.success());
    assert!(
        stderr(&put).contains("cannot overwrite directory"),
        "{}",
        stderr(&put)
    );
    d.ok(&["cp", &p(&host.join("tree")), "cp1:/srv"]);
    assert_eq!(d.ok(&["exec", "cp1", "cat", "/srv/sub/deep.txt"]), "deep");

    // Container → host: a directory with a file and an absolute symlink (kept as a link).
    d.ok(&[
        "exec",
        "cp1",
        "sh",
        "-c",
        "mkdir -p /data && echo inside > /data/f && ln -s /etc/passwd /data/lnk",
    ]);
    let out = host.join("out");
    d.ok(&["cp", "cp1:/data", &p(&out)]);
    assert_eq!(std::fs::read_to_string(out.join("f")).unwrap(), "inside\n");
    assert_eq!(
        std::fs::read_link(out.join("lnk")).unwrap(),
        Path::new("/etc/passwd")
    );

    // A symlink in the container pointing at a host path: reading through it (-L) reads
    // the container's file of that name, never the host's.
    let secret_dir = d.dir.path().join("hostsecret");
    std::fs::create_dir_all(&secret_dir).unwrap();
    let secret = secret_dir.join("secret.txt");
    std::fs::write(&secret, "HOST SECRET\n").unwrap();
    d.ok(&[
        "exec",
        "cp1",
        "sh",
        "-c",
        &format!(
            "mkdir -p {dir} && echo container-side > {f} && ln -s {f} /esc && ln -s {dir} /escdir",
            dir = p(&secret_dir),
            f = p(&secret)
        ),
    ]);
    let got = host.join("got.txt");
    d.ok(&["cp", "-L", "cp1:/esc", &p(&got)]);
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "container-side\n");
    // Writing through a symlinked directory lands in the container's directory.
    d.ok(&["cp", &p(&host.join("hello.txt")), "cp1:/escdir/"]);
    assert_eq!(
        d.ok(&["exec", "cp1", "cat", &p(&secret_dir.join("hello.txt"))]),
        "hi from host"
    );
    assert!(!secret_dir.join("hello.txt").exists(), "wrote to the host");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "HOST SECRET\n");
    // Relative symlinks climbing above / stay at the container's root.
    d.ok(&[
        "exec",
        "cp1",
        "ln",
        "-s",
        "../../../../../../etc/passwd",
        "/tmp/up",
    ]);
    let up = host.join("up");
    d.ok(&["cp", "-L", "cp1:/tmp/up", &p(&up)]);
    assert!(
        std::fs::read_to_string(&up)
            .unwrap()
            .contains("user1:x:1000")
    );

    // An archive with ../ entries is refused and writes nothing.
    let evil_src = d.dir.path().join("evil/a/b");
    std::fs::create_dir_all(&evil_src).unwrap();
    std::fs::write(d.dir.path().join("evil/x"), "evil\n").unwrap();
    let tar = std::process::Command::new("tar")
        .current_dir(&evil_src)
        .args(["-cPf", "-", "../../x"])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let put = d.docker_stdin(&["cp", "-", "cp1:/tmp/"], Some(&tar.stdout));
    assert!(!put.status.success(), "../ archive accepted");
    assert!(
        stderr(&put).contains("outside the extraction directory"),
        "{}",
        stderr(&put)
    );
    assert!(!d.docker(&["exec", "cp1", "ls", "/x"]).status.success());

    // Missing paths are a clear 404.
    let miss = d.docker(&["cp", "cp1:/no/such", &p(&host.join("x"))]);
    assert!(!miss.status.success());
    assert!(stderr(&miss).contains("Could not find the file /no/such in container cp1"));

    // A stopped container: both directions work on its layers.
    d.ok(&["stop", "-t", "0", "cp1"]);
    let tar_out = d.docker(&["cp", "cp1:/data/f", "-"]);
    assert!(tar_out.status.success(), "{}", stderr(&tar_out));
    assert!(String::from_utf8_lossy(&tar_out.stdout).contains("inside"));
    d.ok(&["cp", &p(&host.join("hello.txt")), "cp1:/tmp/while-stopped"]);
    d.ok(&["start", "cp1"]);
    assert_eq!(
        d.ok(&["exec", "cp1", "cat", "/tmp/while-stopped"]),
        "hi from host"
    );

    // A container that never ran: cp goes into its volume, as the container will see it.
    d.ok(&[
        "create",
        "--name",
        "cpv",
        "-v",
        "cpvol:/data2",
        "--network",
        "none",
        IMG,
        "true",
    ]);
    d.ok(&["cp", &p(&host.join("hello.txt")), "cpv:/data2/"]);
    let v = [
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "cpvol:/x",
        IMG,
        "cat",
        "/x/hello.txt",
    ];
    assert_eq!(d.ok(&v), "hi from host");
    let tar_out = d.docker(&["cp", "cpv:/data2/hello.txt", "-"]);
    assert!(tar_out.status.success(), "{}", stderr(&tar_out));
    assert!(String::from_utf8_lossy(&tar_out.stdout).contains("hi from host"));
    // Nothing of it in the container's own layer.
    assert!(!d.ok(&["diff", "cpv"]).contains("hello.txt"));
}

#[test]
fn top_diff_rename_export_import_prune_and_sizes() {
    prereqs!();
    let d = Daemon::start();
    run_sleeper(&d, "t1");

    let top = d.ok(&["top", "t1"]);
    let mut lines = top.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{top}");
    assert!(rows[0].ends_with("sleep 1000"), "{top}");
    let top = d.ok(&["top", "t1", "-o", "pid,comm"]);
    assert!(top.starts_with("PID"), "{top}");
    assert!(top.contains("sleep"), "{top}");
    // Options that alone select only ps's own user's processes still show the container's
    // (dockerd passes its pids with -q), and ones that cannot go with -q work too.
    d.run_detached("t2", &["-u", "1:1"], &["sleep", "1000"]);
    let top = d.ok(&["top", "t2", "-o", "pid,user,args"]);
    assert!(
        top.lines()
            .nth(1)
            .is_some_and(|l| l.ends_with("sleep 1000")),
        "{top}"
    );
    let top = d.ok(&["top", "t2", "axf"]);
    assert!(
        top.lines()
            .nth(1)
            .is_some_and(|l| l.ends_with("sleep 1000")),
        "{top}"
    );
    d.ok(&["rm", "-f", "t2"]);
    assert!(!d.docker(&["top", "nope"]).status.success());

    d.ok(&[
        "exec",
        "t1",
        "sh",
        "-c",
        "echo x > /etc/newfile && rm /etc/group && mkdir /tmp/d",
    ]);
    let diff = d.ok(&["diff", "t1"]);
    for want in [
        "C /etc",
        "A /etc/newfile",
        "D /etc/group",
        "C /tmp",
        "A /tmp/d",
    ] {
        assert!(diff.lines().any(|l| l == want), "{want} not in:\n{diff}");
    }
    assert!(!diff.contains("/etc/hostname"), "{diff}");

    // rename, and the conflict with a taken name.
    d.ok(&["rename", "t1", "t2"]);
    assert_eq!(d.inspect("t2", "{{.Name}}"), "/t2");
    d.ok(&[
        "create",
        "--name",
        "taken",
        "--network",
        "none",
        IMG,
        "true",
    ]);
    let clash = d.docker(&["rename", "t2", "taken"]);
    assert!(!clash.status.success());
    assert!(
        stderr(&clash).contains("is already in use"),
        "{}",
        stderr(&clash)
    );

    // ps --size.
    let sizes = d.ok(&[
        "ps",
        "--size",
        "--filter",
        "name=t2",
        "--format",
        "{{.Size}}",
    ]);
    assert!(sizes.contains("virtual"), "{sizes}");
    // inspect --size: the 2-byte /etc/newfile is the container's only file; the image's
    // busybox binary counts once however many links it has.
    let rw: u64 = d
        .ok(&["inspect", "--size", "-f", "{{.SizeRw}}", "t2"])
        .parse()
        .unwrap();
    assert_eq!(rw, 2, "SizeRw");
    let total: u64 = d
        .ok(&["inspect", "--size", "-f", "{{.SizeRootFs}}", "t2"])
        .parse()
        .unwrap();
    let busybox = std::fs::metadata("/bin/busybox").unwrap().len();
    assert!(
        total >= busybox && total < busybox + 4096,
        "{total} vs {busybox}"
    );

    // export | import round trip keeps the container's changes.
    let tar = d.dir.path().join("t2.tar");
    d.ok(&["export", "-o", tar.to_str().unwrap(), "t2"]);
    // Directories are named with a trailing slash, as in dockerd's archives.
    let names: Vec<String> = tar::Archive::new(std::fs::File::open(&tar).unwrap())
        .entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect();
    assert!(names.contains(&"bin/".to_owned()), "{names:?}");
    assert!(names.contains(&"bin/busybox".to_owned()), "{names:?}");
    d.ok(&["import", tar.to_str().unwrap(), "exported:1"]);
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "exported:1",
            "cat",
            "/etc/newfile"
        ]),
        "x"
    );
    assert!(
        !d.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "exported:1",
            "ls",
            "/etc/group"
        ])
        .status
        .success()
    );

    // prune: running containers stay, label filters choose among the stopped.
    d.ok(&[
        "create",
        "--name",
        "keep",
        "--label",
        "keep=1",
        "--network",
        "none",
        IMG,
        "true",
    ]);
    d.ok(&["run", "--name", "done", "--network", "none", IMG, "true"]);
    let out = d.ok(&["container", "prune", "-f", "--filter", "until=1h"]);
    assert!(!out.contains("Deleted"), "{out}");
    let out = d.ok(&["container", "prune", "-f", "--filter", "label!=keep=1"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    let left = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut left: Vec<&str> = left.lines().collect();
    left.sort();
    assert_eq!(left, ["keep", "t2"]);
    // Filters of ps that Docker has: before/since.
    let since = d.ok(&["ps", "-a", "--filter", "since=t2", "--format", "{{.Names}}"]);
    assert_eq!(since, "keep");
    let before = d.ok(&[
        "ps",
        "-a",
        "--filter",
        "before=keep",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(before, "t2");
    let _ = stdout;
}

/// A plain HTTP/1.0 GET on berthd's socket; the response body.
fn api_get(d: &Daemon, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: berth\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default()
}

/// The first existing file of a container's cgroup among v1/v2 names.
fn cgroup_file(id: &str, candidates: &[(&str, &str)]) -> String {
    for (ctl, file) in candidates {
        let p = Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join("berth")
            .join(id)
            .join(file);
        if let Ok(s) = std::fs::read_to_string(&p) {
            return s.trim().to_owned();
        }
    }
    panic!("none of {candidates:?} exists for {id}");
}

#[test]
fn stats_and_update_of_a_running_container() {
    prereqs!();
    let d = Daemon::start();
    let id = run_sleeper(&d, "s1");

    // update: memory (with swap) and pids reach the cgroup, restart policy is kept.
    d.ok(&[
        "update",
        "--memory",
        "32m",
        "--memory-swap",
        "64m",
        "--pids-limit",
        "20",
        "--restart",
        "on-failure:3",
        "s1",
    ]);
    assert_eq!(
        cgroup_file(
            &id,
            &[("memory", "memory.limit_in_bytes"), ("", "memory.max")]
        ),
        "33554432"
    );
    assert_eq!(
        cgroup_file(&id, &[("pids", "pids.max"), ("", "pids.max")]),
        "20"
    );
    assert_eq!(
        d.inspect("s1", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"),
        "33554432 20 on-failure 3"
    );
    // A memory limit above the swap limit already set is refused, as by dockerd.
    let over = d.docker(&["update", "--memory", "128m", "s1"]);
    assert!(!over.status.success());
    assert!(
        stderr(&over).contains("smaller than already set memoryswap"),
        "{}",
        stderr(&over)
    );
    // CPU limits reach the cgroup too.
    d.ok(&["update", "--cpus", "1.5", "--cpu-shares", "512", "s1"]);
    let quota = cgroup_file(&id, &[("cpu", "cpu.cfs_quota_us"), ("", "cpu.max")]);
    assert!(quota.starts_with("150000"), "{quota}");
    let bad = d.docker(&["update", "--memory", "1k", "s1"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("Minimum memory limit"),
        "{}",
        stderr(&bad)
    );

    // stats --no-stream with the CLI's own formatting of our figures.
    let line = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}",
        "s1",
    ]);
    let f: Vec<&str> = line.split('|').collect();
    assert_eq!(f[0], "s1", "{line}");
    assert!(f[1].ends_with("/ 32MiB"), "{line}");
    assert_eq!(f[2], "1", "{line}");
    assert!(f[3].ends_with('%'), "{line}");
    let table = d.ok(&["stats", "--no-stream", "s1"]);
    assert!(table.starts_with("CONTAINER ID"), "{table}");

    // The API's JSON: Docker's keys, one-shot without a previous sample.
    let v: serde_json::Value =
        serde_json::from_str(&api_get(&d, "/containers/s1/stats?stream=false")).unwrap();
    assert_eq!(v["name"], "/s1");
    assert_eq!(v["id"], id.as_str());
    assert!(v["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0);
    assert!(v["cpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    assert!(v["precpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    assert_eq!(v["memory_stats"]["limit"], 33554432);
    assert!(v["memory_stats"]["usage"].as_u64().unwrap() > 0);
    assert_eq!(v["pids_stats"]["current"], 1);
    // As dockerd's: lists on cgroup v1 (empty when nothing was read or written), on v2 the
    // byte and I/O counts only, null when empty.
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    for (k, on_v2) in [
        ("io_service_bytes_recursive", true),
        ("io_serviced_recursive", true),
        ("io_queue_recursive", false),
        ("io_service_time_recursive", false),
        ("io_wait_time_recursive", false),
        ("io_merged_recursive", false),
        ("io_time_recursive", false),
        ("sectors_recursive", false),
    ] {
        let x = &v["blkio_stats"][k];
        if v2 {
            assert!(x.is_null() || (on_v2 && x.is_array()), "{k}: {x}");
        } else {
            assert!(x.is_array(), "{k}: {x}");
        }
    }
    let one: serde_json::Value = serde_json::from_str(&api_get(
        &d,
        "/containers/s1/stats?stream=false&one-shot=true",
    ))
    .unwrap();
    assert_eq!(one["precpu_stats"]["cpu_usage"]["total_usage"], 0);

    // The streamed form: a new line every second until the client goes.
    let out = std::process::Command::new("timeout")
        .args([
            "-k",
            "1",
            "-s",
            "INT",
            "5",
            "docker",
            "stats",
            "--format",
            "{{.Name}}:{{.PIDs}}",
            "s1",
        ])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("dockercfg"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.matches("s1:1").count() >= 2, "{text:?}");

    // List filters by volume and network.
    d.ok(&[
        "create",
        "--name",
        "v1",
        "-v",
        "/vol",
        "--network",
        "none",
        IMG,
        "true",
    ]);
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "volume=/vol",
            "--format",
            "{{.Names}}"
        ]),
        "v1"
    );
    let none = d.ok(&[
        "ps",
        "-a",
        "--filter",
        "network=none",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(none.lines().count(), 2, "{none}");
}

/// `docker cp CONTAINER:DIR/. DEST` copies the directory's contents into DEST (the archive's
/// entries are `./…`, which the docker CLI rebases onto DEST), with long names intact.
#[test]
fn cp_dir_contents_with_dot_lands_inside_the_destination() {
    prereqs!();
    let d = Daemon::start();
    run_sleeper(&d, "cpdot");
    let long = "n".repeat(120);
    d.ok(&[
        "exec",
        "cpdot",
        "sh",
        "-c",
        &format!("mkdir -p /src/sub && echo a > /src/a && echo b > /src/sub/b && echo l > /src/sub/{long} && ln /src/a /src/hard"),
    ]);
    let dest = d.dir.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    d.ok(&["cp", "cpdot:/src/.", dest.to_str().unwrap()]);
    let read =
        |p: &str| std::fs::read_to_string(dest.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("a"), "a\n");
    assert_eq!(read("hard"), "a\n");
    assert_eq!(read("sub/b"), "b\n");
    assert_eq!(read(&format!("sub/{long}")), "l\n");
    assert!(
        !d.dir.path().join("a").exists(),
        "nothing beside the destination"
    );
    d.ok(&["rm", "-f", "cpdot"]);
}

/// The stock `docker system prune -f` works (it also prunes the build cache, which berth
/// does not have) and removes stopped containers.
#[test]
fn docker_system_prune_removes_stopped_containers() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&["run", "--name", "gone", "--network", "none", IMG, "true"]);
    run_sleeper(&d, "stays");
    let out = d.docker(&["system", "prune", "-f"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Total reclaimed space"),
        "{}",
        stdout(&out)
    );
    assert_eq!(d.ok(&["ps", "-a", "--format", "{{.Names}}"]), "stays");
    d.ok(&["rm", "-f", "stays"]);
}

/// `GET /containers/{id}/attach/ws` over berthd's socket: `path` is the request target.
async fn ws_connect(
    d: &Daemon,
    path: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio::net::UnixStream>,
    tokio_tungstenite::tungstenite::Error,
> {
    let s = tokio::net::UnixStream::connect(&d.sock).await.unwrap();
    tokio_tungstenite::client_async(format!("ws://localhost{path}"), s)
        .await
        .map(|(ws, _)| ws)
}

/// The next message, within 10 s.
async fn ws_next(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::UnixStream>,
) -> tokio_tungstenite::tungstenite::Message {
    use futures_util::StreamExt;
    match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(m))) => m,
        other => panic!("no message: {other:?}"),
    }
}

#[test]
fn attach_over_a_websocket_sends_raw_output_and_takes_stdin() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Error, Message};
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "wsc",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "echo ready; while read l; do echo \"out $l\"; echo \"err $l\" >&2; done; echo bye",
    ]);
    for _ in 0..100 {
        if d.ok(&["logs", "wsc"]) == "ready" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Unknown container: the 404 comes before any upgrade.
        match ws_connect(&d, "/containers/nosuch/attach/ws?stream=1").await {
            Err(Error::Http(r)) => assert_eq!(r.status(), 404),
            other => panic!("expected a 404, got {:?}", other.map(|_| ())),
        }

        // History first (logs=1), unwrapped; then the live stream: each line the
        // container writes is a binary message of raw bytes, stdout and stderr alike.
        let mut ws = ws_connect(
            &d,
            "/v1.45/containers/wsc/attach/ws?logs=1&stream=1&stdin=1&stdout=1&stderr=1",
        )
        .await
        .unwrap();
        assert_eq!(ws_next(&mut ws).await, Message::Binary("ready\n".into()));
        ws.send(Message::Binary("hello\n".into())).await.unwrap();
        let mut got = vec![ws_next(&mut ws).await, ws_next(&mut ws).await];
        got.sort_by_key(|m| m.to_string());
        assert_eq!(
            got,
            vec![
                Message::Binary("err hello\n".into()),
                Message::Binary("out hello\n".into())
            ]
        );
        // Closing the socket ends stdin: the loop ends and the container says bye (in
        // its log: the socket is closed).
        ws.close(None).await.unwrap();
        let mut rest = Vec::new();
        while let Ok(Some(Ok(m))) =
            tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await
        {
            rest.push(m);
        }
        // The client closed: nothing but the close handshake comes back.
        assert!(
            rest.iter().all(|m| matches!(m, Message::Close(_))),
            "{rest:?}"
        );
    });
    assert_eq!(d.ok(&["wait", "wsc"]), "0");
    assert_eq!(d.ok(&["logs", "wsc"]).lines().last(), Some("bye"));

    // Before API 1.42 the messages are text; `stream=0` sends the history and closes.
    rt.block_on(async {
        let mut ws = ws_connect(&d, "/v1.41/containers/wsc/attach/ws?logs=1&stdout=1")
            .await
            .unwrap();
        let mut msgs = Vec::new();
        while let Ok(Some(Ok(m))) =
            tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await
        {
            msgs.push(m);
        }
        assert_eq!(msgs.first(), Some(&Message::Text("ready\n".into())));
        assert!(
            msgs.contains(&Message::Text("out hello\n".into())),
            "{msgs:?}"
        );
        assert!(
            !msgs.contains(&Message::Text("err hello\n".into())),
            "{msgs:?}"
        );
        assert!(matches!(msgs.last(), Some(Message::Close(_))), "{msgs:?}");
    });
}

/// What each container is given (Docker's init layer: an empty `/.dockerenv`, `/etc/mtab`
/// as a link to `/proc/mounts`, the mount points) is there from the first start, survives
/// a reboot, is in `export`, and is never the container's change: `diff` and `commit`
/// leave it out, as dockerd's do.
#[test]
fn initlayer_files_are_given_exported_and_kept_out_of_diff_and_commit() {
    prereqs!();
    let mut d = Daemon::start();
    let show = "stat -c '%a %s %F' /.dockerenv && readlink /etc/mtab";
    let want = "755 0 regular empty file\n/proc/mounts";
    let run = |extra: &[&str]| {
        let mut a = vec!["run", "--network", "none"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[IMG, "sh", "-c", show]);
        d.ok(&a)
    };
    assert_eq!(run(&["--name", "il1"]), want);
    // Nothing changed: nothing to show, and (as dockerd) a commit adds no layer, only a
    // history entry of size 0.
    assert_eq!(d.ok(&["diff", "il1"]), "");
    d.ok(&["commit", "il1", "il:1"]);
    assert_eq!(
        d.inspect("il:1", "{{json .RootFS.Layers}}"),
        d.inspect(IMG, "{{json .RootFS.Layers}}")
    );
    let sizes = d.ok(&["history", "--format", "{{.Size}}", "il:1"]);
    assert_eq!(sizes.lines().next(), Some("0B"), "{sizes}");
    // The committed image runs and gets its own init layer.
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", "il:1", "sh", "-c", show]),
        want
    );
    // --rm (volatile overlay) and --read-only containers have them too.
    assert_eq!(run(&["--rm"]), want);
    assert_eq!(run(&["--rm", "--read-only"]), want);
    // A volume over /etc is seeded with them, and the container still starts.
    let etc = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "iletc:/etc",
        IMG,
        "ls",
        "/etc",
    ]);
    for f in ["hostname", "hosts", "mtab", "passwd", "resolv.conf"] {
        assert!(etc.lines().any(|l| l == f), "{f} not in {etc}");
    }

    // Only the container's own changes are listed.
    d.ok(&[
        "run",
        "--name",
        "il2",
        "--network",
        "none",
        IMG,
        "touch",
        "/x",
    ]);
    assert_eq!(d.ok(&["diff", "il2"]), "A /x");
    d.ok(&[
        "run",
        "--name",
        "il3",
        "--network",
        "none",
        IMG,
        "sh",
        "-c",
        "echo hi > /.dockerenv && rm /etc/mtab",
    ]);
    let diff = d.ok(&["diff", "il3"]);
    let mut lines: Vec<&str> = diff.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["C /.dockerenv", "C /etc", "D /etc/mtab"], "{diff}");
    // An image holding its own /.dockerenv gets the empty one in its containers, as
    // dockerd's init layer is above the image.
    d.ok(&["commit", "il3", "il:3"]);
    let mut top = d.top_layer_entries("il:3");
    top.sort_unstable();
    assert_eq!(top, [".dockerenv", "etc", "etc/.wh.mtab"]);
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", "il:3", "sh", "-c", show]),
        want
    );

    // docker cp into a created container writes its layer only.
    d.ok(&["create", "--name", "il4", "--network", "none", IMG, "true"]);
    let f = d.dir.path().join("f.txt");
    std::fs::write(&f, "f\n").unwrap();
    d.ok(&["cp", f.to_str().unwrap(), "il4:/etc/f"]);
    d.ok(&["start", "-a", "il4"]);
    assert_eq!(d.ok(&["diff", "il4"]), "C /etc\nA /etc/f");

    // export has them, as dockerd's export does.
    let tar = d.dir.path().join("il1.tar");
    d.ok(&["export", "-o", tar.to_str().unwrap(), "il1"]);
    let mut a = tar::Archive::new(std::fs::File::open(&tar).unwrap());
    let mut seen = Vec::new();
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let p = p.trim_start_matches("./").trim_end_matches('/').to_owned();
        match p.as_str() {
            ".dockerenv" => {
                assert!(e.header().entry_type().is_file());
                assert_eq!(e.header().size().unwrap(), 0);
                assert_eq!(e.header().mode().unwrap() & 0o7777, 0o755);
            }
            "etc/mtab" => assert_eq!(
                e.link_name().unwrap().unwrap().display().to_string(),
                "/proc/mounts"
            ),
            _ => {}
        }
        seen.push(p);
    }
    for want in [
        ".dockerenv",
        "etc/mtab",
        "etc/hosts",
        "proc",
        "sys",
        "dev/pts",
    ] {
        assert!(seen.iter().any(|p| p == want), "{want} not in {seen:?}");
    }

    // Made once at create, kept across a reboot, gone with the container.
    let id = d.inspect("il1", "{{.Id}}");
    d.simulate_reboot();
    d.spawn();
    assert_eq!(d.ok(&["start", "-a", "il1"]), want);
    assert_eq!(d.ok(&["diff", "il1"]), "");
    assert!(d.data.join("containers").join(&id).join("init").is_dir());
    d.ok(&["rm", "il1"]);
    assert!(!d.data.join("containers").join(&id).exists());
}
