//! Faults: berthd SIGKILLed while containers run and log (live restore), a simulated
//! reboot (/run wiped, container processes gone), and racing clients.

mod common;

use common::{Daemon, IMG, stdout};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

fn numbers(log: &str) -> Vec<u32> {
    log.lines()
        .filter_map(|l| l.strip_prefix("line ")?.parse().ok())
        .collect()
}

#[test]
fn containers_outlive_a_sigkilled_daemon_and_are_found_again() {
    prereqs!();
    let mut d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "logger",
        IMG,
        "sh",
        "-c",
        "i=0; while :; do echo line $i; i=$((i+1)); sleep 0.02; done",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "short",
        IMG,
        "sh",
        "-c",
        "sleep 2; exit 4",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "svc",
        "--restart",
        "always",
        IMG,
        "sleep",
        "300",
    ]);
    let svc_pid = d.inspect("svc", "{{.State.Pid}}");
    assert!(d.eventually(10, || numbers(&d.ok(&["logs", "logger"])).len() > 10));
    let before = numbers(&d.ok(&["logs", "logger"])).len();

    d.kill9();
    std::thread::sleep(std::time::Duration::from_secs(3));
    d.spawn();

    // Running containers are running, with the same processes; the one that ended while
    // berthd was down has its exit code.
    assert_eq!(d.inspect("logger", "{{.State.Status}}"), "running");
    assert_eq!(
        d.inspect("svc", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {svc_pid}")
    );
    assert_eq!(
        d.inspect("short", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 4"
    );
    assert_eq!(d.ok(&["wait", "short"]), "4");
    // The log kept growing while berthd was gone, without a gap.
    let nums = numbers(&d.ok(&["logs", "logger"]));
    assert!(
        nums.len() > before + 50,
        "{} lines before, {} after",
        before,
        nums.len()
    );
    assert!(
        nums.iter().enumerate().all(|(i, n)| *n as usize == i),
        "lines lost or reordered"
    );
    // And the restarted daemon controls them.
    assert_eq!(d.ok(&["exec", "svc", "echo", "reachable"]), "reachable");
    d.ok(&["stop", "-t", "1", "logger"]);
    assert_eq!(
        d.inspect("logger", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    d.ok(&["kill", "svc"]);
    assert_eq!(d.ok(&["wait", "svc"]), "137");
    d.ok(&["rm", "-f", "logger", "short", "svc"]);
}

#[test]
fn after_a_reboot_containers_are_exited_and_always_ones_come_back() {
    prereqs!();
    let mut d = Daemon::start();
    let run = |name: &str, policy: &str| {
        d.ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "--restart",
            policy,
            IMG,
            "sleep",
            "300",
        ]);
    };
    run("always1", "always");
    run("unless1", "unless-stopped");
    run("plain1", "no");
    run("stopped1", "unless-stopped");
    d.ok(&["stop", "-t", "0", "stopped1"]);

    d.simulate_reboot();
    d.spawn();

    let status = |n: &str| d.inspect(n, "{{.State.Status}}");
    assert!(
        d.eventually(15, || status("always1") == "running"),
        "always1: {}",
        status("always1")
    );
    assert!(
        d.eventually(15, || status("unless1") == "running"),
        "unless1: {}",
        status("unless1")
    );
    assert_eq!(status("plain1"), "exited");
    assert_eq!(status("stopped1"), "exited");
    assert_eq!(d.ok(&["exec", "always1", "echo", "up"]), "up");
    d.ok(&["rm", "-f", "always1", "unless1", "plain1", "stopped1"]);
}

#[test]
fn racing_start_stop_and_remove_leave_a_consistent_state() {
    prereqs!();
    let d = Daemon::start();
    for round in 0..3 {
        let name = format!("race{round}");
        d.ok(&[
            "create",
            "--network",
            "none",
            "--name",
            &name,
            IMG,
            "sleep",
            "300",
        ]);
        let host = d.host();
        let ops: Vec<Vec<String>> = vec![
            vec!["start".into(), name.clone()],
            vec!["start".into(), name.clone()],
            vec!["stop".into(), "-t".into(), "1".into(), name.clone()],
            vec!["restart".into(), "-t".into(), "1".into(), name.clone()],
            vec!["rm".into(), "-f".into(), name.clone()],
            vec!["start".into(), name.clone()],
        ];
        let handles: Vec<_> = ops
            .into_iter()
            .map(|args| {
                let host = host.clone();
                std::thread::spawn(move || {
                    std::process::Command::new("timeout")
                        .args(["60", "docker"])
                        .args(&args)
                        .env("DOCKER_HOST", host)
                        .output()
                        .unwrap()
                        .status
                        .code()
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap().is_some(), "a client hung");
        }
        // Either gone, or present with a coherent state that a final rm -f clears.
        let ps = d.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
        for line in ps.lines() {
            assert!(
                line.ends_with("running") || line.ends_with("exited") || line.ends_with("created"),
                "{line}"
            );
        }
        let _ = d.docker(&["rm", "-f", &name]);
        assert!(d.ok(&["ps", "-aq"]).is_empty());
    }
    // Detached in the background once a removal has answered.
    let data = d.data.to_str().unwrap().to_owned();
    assert!(
        d.eventually(10, || {
            !std::fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .contains(&data)
        }),
        "rootfs mounts left behind"
    );
    assert!(stdout(&d.docker(&["version"])).contains("1.45"));
}

#[test]
fn sigterm_stops_berthd_promptly_and_containers_keep_running() {
    prereqs!();
    let mut d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "keeps",
        IMG,
        "sh",
        "-c",
        "while :; do echo tick; sleep 0.1; done",
    ]);
    // A follower holds a streaming response open across the shutdown.
    let host = d.host();
    let mut follower = std::process::Command::new("docker")
        .args(["logs", "-f", "keeps"])
        .env("DOCKER_HOST", host)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let t0 = std::time::Instant::now();
    assert!(d.terminate(), "berthd did not exit after SIGTERM");
    assert!(t0.elapsed() < std::time::Duration::from_secs(8));
    let _ = follower.kill();
    let _ = follower.wait();
    d.spawn();
    assert_eq!(d.inspect("keeps", "{{.State.Status}}"), "running");
    d.ok(&["rm", "-f", "keeps"]);
}

/// The parent pid and command line of a process.
fn proc_info(pid: u32) -> Option<(u32, Vec<String>, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some((ppid, args, state))
}

/// The name `ps` and `pgrep` show for a process.
fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// The live (not zombie) processes whose parent pid and command line satisfy `keep`.
fn processes(keep: impl Fn(u32, &[String]) -> bool) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| proc_info(p).is_some_and(|(pp, args, st)| st != 'Z' && keep(pp, &args)))
        .collect()
}

/// Nothing in a container can write the shim binary through /proc/PID/exe
/// (CVE-2019-5736): the file a shim runs from is on a read-only mount.
fn assert_exe_read_only(pid: u32) {
    let exe = format!("/proc/{pid}/exe");
    let st = rustix::fs::statvfs(exe.as_str()).unwrap();
    assert!(
        st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
        "{exe} is not on a read-only mount"
    );
    let err = std::fs::OpenOptions::new()
        .write(true)
        .open(&exe)
        .expect_err("the shim binary opened for writing");
    assert!(
        matches!(err.raw_os_error(), Some(libc::EROFS) | Some(libc::ETXTBSY)),
        "{err}"
    );
}

/// berthd keeps one shim started ahead of the next container start (`--standby`): every
/// start after the first uses it. It runs from berthd's read-only view of the binary like the
/// others, and ends when berthd does.
#[test]
fn shims_run_read_only_and_the_standby_one_ends_with_berthd() {
    prereqs!();
    let mut d = Daemon::start();
    let detached = ["run", "-d", "--network", "none", "--name"];
    for n in ["sb1", "sb2", "sb3"] {
        d.ok(&[&detached[..], &[n, IMG, "sleep", "300"]].concat());
        let pid: u32 = d.inspect(n, "{{.State.Pid}}").parse().unwrap();
        let (shim, _, _) = proc_info(pid).unwrap();
        let (_, args, _) = proc_info(shim).unwrap();
        assert_eq!(
            args.first().map(String::as_str),
            Some("berth-shim"),
            "{args:?}"
        );
        assert!(args.iter().any(|a| a == "--id"), "{args:?}");
        assert_eq!(comm(shim), "berth-shim");
        assert_exe_read_only(shim);
    }
    // The exits and output of containers started through the standby shim are theirs.
    let rm = ["run", "--rm", "--network", "none", IMG];
    assert_eq!(d.ok(&[&rm[..], &["echo", "hi"]].concat()), "hi");
    let o = d.docker(&[&rm[..], &["sh", "-c", "exit 3"]].concat());
    assert_eq!(o.status.code(), Some(3));
    let berthd = d.pid.unwrap();
    let find = || processes(|pp, args| pp == berthd && args.iter().any(|a| a == "--standby"));
    // Made in the background after each start.
    d.eventually(10, || find().len() == 1);
    let standby = find();
    assert_eq!(standby.len(), 1, "one standby shim, a child of berthd");
    assert_eq!(comm(standby[0]), "berth-shim");
    assert_exe_read_only(standby[0]);
    d.kill9();
    let gone = d.eventually(10, || {
        proc_info(standby[0]).is_none_or(|(_, _, st)| st == 'Z')
    });
    assert!(gone, "the standby shim outlived berthd");
    // The containers did not end with berthd.
    d.spawn();
    assert_eq!(d.inspect("sb2", "{{.State.Running}}"), "true");
}

/// `docker ARGS` against `d` in a thread (its outcome is not looked at: berthd is killed
/// under it).
fn in_background(d: &Daemon, args: &[&str]) -> std::thread::JoinHandle<()> {
    let mut cmd = std::process::Command::new("timeout");
    cmd.args(["-k", "2", "60", "docker"])
        .args(args)
        .env("DOCKER_HOST", d.host())
        .env_remove("DOCKER_API_VERSION")
        .env("DOCKER_CONFIG", d.dir.path().join("dockercfg"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    std::thread::spawn(move || {
        let _ = cmd.status();
    })
}

/// Runs `args` and SIGKILLs berthd `after` it began, then starts berthd again.
fn kill_during(d: &mut Daemon, args: &[&str], after: std::time::Duration) {
    let op = in_background(d, args);
    std::thread::sleep(after);
    d.kill9();
    op.join().unwrap();
    d.spawn();
}

/// The processes whose command line names container `id` (its shim, and a container init
/// that the shim forked and that has not exec'd yet).
fn shims_of(id: &str) -> Vec<u32> {
    processes(|_, args| args.windows(2).any(|w| w[0] == "--id" && w[1] == id))
}

fn rootfs_mounted(d: &Daemon, id: &str) -> bool {
    let merged = d.data.join("containers").join(id).join("merged");
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(merged.to_str().unwrap()))
}

/// berthd SIGKILLed at every moment of `docker run -d`: afterwards each container is either
/// running (with its one shim, reachable) or not started, with no shim, no container process
/// and no rootfs mount left; a later start works and `rm -f` removes it. (A shim left
/// holding a created container used to outlive the next start and then delete that start's
/// socket: the container ran on, unreachable, and could not be stopped or removed.)
#[test]
fn a_start_cut_short_by_a_sigkilled_berthd_is_done_or_cleanly_undone() {
    prereqs!();
    let mut d = Daemon::start();
    let names: Vec<String> = (0..24).map(|i| format!("cut{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let args = [
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            IMG,
            "sleep",
            "300",
        ];
        kill_during(
            &mut d,
            &args,
            std::time::Duration::from_millis(5 + 7 * i as u64),
        );
    }
    let mut ids = Vec::new();
    for name in &names {
        let out = d.docker(&["inspect", "-f", "{{.Id}} {{.State.Status}}", name]);
        if !out.status.success() {
            continue; // killed before the create was recorded
        }
        let out = stdout(&out);
        let (id, status) = out.trim().split_once(' ').unwrap();
        let shims = shims_of(id);
        if status == "running" {
            assert_eq!(shims.len(), 1, "{name}: {shims:?}");
            assert_eq!(d.ok(&["exec", name, "echo", "ok"]), "ok");
        } else {
            assert!(
                shims.is_empty(),
                "{name} is {status}, yet its shim lives on: {shims:?}"
            );
            assert!(!rootfs_mounted(&d, id), "{name} is {status}, yet mounted");
            d.ok(&["start", name]);
            assert_eq!(d.ok(&["exec", name, "echo", "ok"]), "ok");
        }
        ids.push(id.to_owned());
    }
    assert!(!ids.is_empty());
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    d.ok(&rm);
    for id in &ids {
        assert!(
            d.eventually(10, || shims_of(id).is_empty()),
            "{id}: shim left after rm -f"
        );
        assert!(!rootfs_mounted(&d, id));
    }
}

/// The numbers of the `line N` entries of a json-file log and its rotated files, oldest
/// first; panics on an entry that is not valid JSON.
fn logged_numbers(log: &std::path::Path) -> Vec<u32> {
    let mut files: Vec<std::path::PathBuf> = (1..10)
        .rev()
        .map(|i| std::path::PathBuf::from(format!("{}.{i}", log.display())))
        .filter(|p| p.exists())
        .collect();
    files.push(log.to_owned());
    let mut nums = Vec::new();
    for f in files {
        for l in std::fs::read_to_string(&f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: invalid entry {l:?}: {e}", f.display()));
            let text = v["log"].as_str().unwrap();
            if let Some(n) = text.strip_prefix("line ") {
                nums.push(n.trim_end().parse().unwrap());
            }
        }
    }
    nums
}

fn assert_consecutive(nums: &[u32], from: u32, to: u32) {
    let gap = nums
        .windows(2)
        .find(|w| w[1] != w[0] + 1)
        .map(|w| (w[0], w[1]));
    assert_eq!(gap, None, "{} lines, first gap", nums.len());
    assert_eq!(
        (nums.first().copied(), nums.last().copied()),
        (Some(from), Some(to))
    );
}

/// A full file system under the log holds the container (its output is not read while the
/// log cannot be written) until space returns: no line lost, no half-written entry. (The
/// shim used to drop what the file system refused, and a short write left a torn entry.)
#[test]
fn a_full_disk_holds_the_container_until_space_returns_and_loses_no_line() {
    prereqs!();
    let d = Daemon::start();
    let script = "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); \
                  if [ $((i % 100)) = 0 ]; then sleep 0.01; fi; done";
    let id = d.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "full",
        IMG,
        "sh",
        "-c",
        script,
    ]);
    // The container's directory, where its log is, on a 3 MiB file system of its own.
    let dir = d.data.join("containers").join(&id);
    let keep = d.dir.path().join("keep");
    let run = |cmd: &str, args: &[&std::ffi::OsStr]| {
        let st = std::process::Command::new(cmd).args(args).status().unwrap();
        assert!(st.success(), "{cmd} {args:?}");
    };
    let os = |s: &str| std::ffi::OsStr::new(s).to_owned();
    run("cp", &[&os("-a"), dir.as_os_str(), keep.as_os_str()]);
    run(
        "mount",
        &[
            &os("-t"),
            &os("tmpfs"),
            &os("-o"),
            &os("size=3m"),
            &os("tmpfs"),
            dir.as_os_str(),
        ],
    );
    run(
        "cp",
        &[&os("-a"), &keep.join(".").into_os_string(), dir.as_os_str()],
    );
    let log = dir.join(format!("{id}-json.log"));
    d.ok(&["start", "full"]);
    assert!(d.eventually(20, || {
        std::fs::metadata(&log).is_ok_and(|m| m.len() > 20_000)
    }));
    // Fill the file system.
    let filler = dir.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let size = std::fs::metadata(&log).unwrap().len();
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        size,
        "the log grew on a full disk"
    );
    assert_eq!(d.inspect("full", "{{.State.Status}}"), "running");
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(d.ok(&["wait", "full"]), "0");
    assert_consecutive(&logged_numbers(&log), 0, 19999);
    d.ok(&["rm", "-f", "full"]);
    let _ = rustix::mount::unmount(&dir, rustix::mount::UnmountFlags::DETACH);
}

/// `docker logs -f` follows the log through its rotations: every line once, in order. (It
/// used to go to the new file at once, skipping what was left unread of the rotated one.)
#[test]
fn logs_follow_loses_no_line_across_rotations() {
    prereqs!();
    let d = Daemon::start();
    let log = follow_a_rotating_log(&d, &[]);
    // On disk: the newest lines, valid entries, in order, each once.
    let kept = logged_numbers(std::path::Path::new(&log));
    assert!(kept.len() > 5_000, "{} lines kept", kept.len());
    assert_consecutive(&kept, kept[0], 29999);
    assert!(std::path::Path::new(&format!("{log}.4")).exists());
    assert_eq!(numbers(&d.ok(&["logs", "rot"])), kept);
    tails_are_the_last_lines(&d, &kept);
    d.ok(&["rm", "-f", "rot"]);
}

/// With `max-file=1` the log is truncated in place instead of rotated: a follower starts
/// again at its beginning each time, and never sends a line twice or out of order.
#[test]
fn logs_follow_a_log_truncated_in_place() {
    prereqs!();
    let d = Daemon::start();
    d.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "trunc",
        "--log-opt",
        "max-size=20k",
        "--log-opt",
        "max-file=1",
        IMG,
        "sh",
        "-c",
        "sleep 1; i=0; while [ $i -lt 6000 ]; do echo line $i; i=$((i+1)); \
         if [ $((i % 100)) = 0 ]; then sleep 0.02; fi; done",
    ]);
    d.ok(&["start", "trunc"]);
    let followed = numbers(&d.ok(&["logs", "-f", "trunc"]));
    assert!(
        followed.windows(2).all(|w| w[0] < w[1]),
        "a line twice or out of order"
    );
    assert_eq!(followed.last(), Some(&5999));
    d.ok(&["rm", "-f", "trunc"]);
}

/// `logs --tail N` is the last N of all `kept` lines, within the current file, across
/// rotated ones (plain or gzipped), and beyond them all.
fn tails_are_the_last_lines(d: &Daemon, kept: &[u32]) {
    let n = kept.len();
    for tail in [0, 1, 7, 250, 2_500, n - 1, n, n + 10] {
        let got = numbers(&d.ok(&["logs", "--tail", &tail.to_string(), "rot"]));
        assert_eq!(got, kept[n.saturating_sub(tail)..], "--tail {tail}");
    }
    // With the streams split as the docker CLI asks for them (stdout only).
    let got = d.docker(&["logs", "--tail", "3", "rot"]);
    assert_eq!(numbers(&stdout(&got)), kept[n - 3..]);
}

/// The same with `compress=true`: each rotated file becomes `F.N.gz` in the background
/// while the follower may still be reading it; `logs -f` and `logs` read the gzipped files.
#[test]
fn logs_follow_loses_no_line_across_compressed_rotations() {
    prereqs!();
    let d = Daemon::start();
    let log = follow_a_rotating_log(&d, &["--log-opt", "compress=true"]);
    let name = |s: &str| std::path::PathBuf::from(format!("{log}{s}"));
    assert!(d.eventually(10, || name(".1.gz").exists() && !name(".1").exists()));
    for i in 2..=4 {
        assert!(name(&format!(".{i}.gz")).exists() && !name(&format!(".{i}")).exists());
    }
    assert!(!name(".5.gz").exists());
    // Everything kept, oldest first, from the gzipped files and the current one.
    let kept = numbers(&d.ok(&["logs", "rot"]));
    assert!(kept.len() > 5_000, "{} lines kept", kept.len());
    assert_consecutive(&kept, kept[0], 29999);
    tails_are_the_last_lines(&d, &kept);
    d.ok(&["rm", "-f", "rot"]);
}

/// Runs `rot`, which writes 30 000 lines through many 100k rotations (max-file 5) with
/// `extra` log options, follows it to its end and checks every line came once, in order.
/// Returns the log's path.
fn follow_a_rotating_log(d: &Daemon, extra: &[&str]) -> String {
    let mut args = vec![
        "create",
        "--network",
        "none",
        "--name",
        "rot",
        "--log-opt",
        "max-size=100k",
        "--log-opt",
        "max-file=5",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        IMG,
        "sh",
        "-c",
        "sleep 1; i=0; while [ $i -lt 30000 ]; do echo line $i; i=$((i+1)); \
         if [ $((i % 500)) = 0 ]; then sleep 0.05; fi; done",
    ]);
    d.ok(&args);
    d.ok(&["start", "rot"]);
    let followed = numbers(&d.ok(&["logs", "-f", "rot"]));
    assert_consecutive(&followed, 0, 29999);
    d.inspect("rot", "{{.LogPath}}")
}

/// `docker network disconnect` (and `connect`) cut short by a SIGKILLed berthd: after the
/// restart, what inspect says and the interfaces the container has agree, and the other
/// operation works.
#[test]
fn a_network_change_cut_short_by_a_sigkilled_berthd_is_settled_on_restart() {
    prereqs!();
    let mut d = Daemon::start();
    let net = common::net::net_name("cut");
    d.ok(&[
        "network",
        "create",
        "--subnet",
        &common::net::subnet(40),
        &net,
    ]);
    d.ok(&["run", "-d", "--name", "nc", IMG, "sleep", "300"]);
    let agree = |d: &Daemon| {
        let nets = d.inspect("nc", "{{len .NetworkSettings.Networks}}");
        let ifaces = d.ok(&["exec", "nc", "sh", "-c", "echo /sys/class/net/eth*"]);
        let n = ifaces.split_whitespace().count().to_string();
        assert_eq!(nets, n, "inspect: {nets} networks; interfaces: {ifaces}");
        nets == "2"
    };
    for i in 0..10u64 {
        let after = std::time::Duration::from_millis(3 + 9 * i);
        if agree(&d) {
            kill_during(&mut d, &["network", "disconnect", &net, "nc"], after);
        } else {
            kill_during(&mut d, &["network", "connect", &net, "nc"], after);
        }
        agree(&d);
    }
    if agree(&d) {
        d.ok(&["network", "disconnect", &net, "nc"]);
    }
    d.ok(&["network", "connect", &net, "nc"]);
    assert!(agree(&d));
    let id = d.inspect("nc", "{{.Id}}");
    d.ok(&["rm", "-f", "nc"]);
    d.ok(&["network", "rm", &net]);
    assert!(
        d.eventually(10, || !common::net::leases(&d)
            .iter()
            .any(|l| l.ends_with(&id))),
        "leases left: {:?}",
        common::net::leases(&d)
    );
}

/// A data root filled by a container still lets the user free space through berth: `rm -f`
/// of that container, `rmi` of a tag and `volume rm` succeed (berthd releases its space
/// reserve for them), while creating a container fails with a clear error; once space is
/// back, the reserve is taken again and containers run. (`rm -f` used to fail with
/// "database or disk is full", leaving no way out but deleting files by hand.)
#[test]
fn a_full_data_root_still_lets_containers_images_and_volumes_be_removed() {
    prereqs!();
    let mut d = Daemon::prepared(&[]);
    std::fs::create_dir_all(&d.data).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
        .arg(&d.data)
        .status()
        .unwrap();
    assert!(st.success());
    d.spawn();
    let tar = common::busybox_tarball(d.dir.path());
    d.ok(&["import", tar.to_str().unwrap(), IMG]);
    let reserve = d.data.join("berth.reserve");
    assert!(reserve.exists(), "no space reserve at start");
    d.ok(&["tag", IMG, "berth-test/extra:1"]);
    d.ok(&["volume", "create", "full-vol"]);
    d.ok(&["create", "--network", "none", "--name", "idle", IMG, "true"]);
    // The container writes into its root filesystem until the disk is full.
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "filler",
        IMG,
        "sh",
        "-c",
        "cat /dev/zero > /big; sleep 1000",
    ]);
    let avail = |d: &Daemon| {
        rustix::fs::statvfs(&d.data)
            .map(|s| s.f_bavail)
            .unwrap_or(0)
    };
    assert!(
        d.eventually(60, || avail(&d) == 0),
        "the disk did not fill: {} blocks free, filler {}, log:\n{}",
        avail(&d),
        d.inspect(
            "filler",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}"
        ),
        common::tail(&d.log(), 20)
    );
    d.fails(
        &["create", "--network", "none", IMG, "true"],
        "disk is full",
    );
    d.ok(&["rmi", "berth-test/extra:1"]);
    d.ok(&["volume", "rm", "full-vol"]);
    d.ok(&["rm", "-f", "filler"]);
    d.ok(&["rm", "idle"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert!(
        !d.ok(&["images", "--format", "{{.Repository}}"])
            .contains("extra"),
        "the tag survived"
    );
    assert!(
        d.eventually(10, || reserve.exists()),
        "the reserve was not taken again"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", IMG, "echo", "ok"]),
        "ok"
    );
}

/// A `restart` cut short by a SIGKILLed berthd (the container stopped while berthd was
/// down, the start not yet made) is finished by the next berthd: the container runs again,
/// whatever its restart policy. (It used to stay stopped, marked as stopped by the user.)
#[test]
fn a_restart_cut_short_by_a_killed_berthd_is_finished_at_its_next_start() {
    prereqs!();
    let mut d = Daemon::start();
    // It takes 2 s to stop after SIGTERM: berthd is killed while it waits.
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "rs",
        IMG,
        "sh",
        "-c",
        "trap 'touch /got-term; sleep 3; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let started = d.inspect("rs", "{{.State.StartedAt}}");
    let mut restart = std::process::Command::new("docker")
        .args(["restart", "rs"])
        .env("DOCKER_HOST", d.host())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The stop is under way (the container got its SIGTERM): berthd dies now.
    assert!(d.eventually(20, || {
        d.docker(&["exec", "rs", "test", "-f", "/got-term"])
            .status
            .success()
    }));
    d.kill9();
    let _ = restart.wait();
    // The container ends while berthd is down.
    std::thread::sleep(std::time::Duration::from_millis(3500));
    d.spawn();
    assert!(
        d.eventually(20, || d.inspect("rs", "{{.State.Running}}") == "true"),
        "the restart was not finished: {} {}\n{}",
        d.inspect(
            "rs",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}"
        ),
        d.ok(&["logs", "rs"]),
        d.log()
    );
    assert_ne!(d.inspect("rs", "{{.State.StartedAt}}"), started);
    // Later stops are the user's as usual.
    d.ok(&["stop", "-t", "0", "rs"]);
    d.kill9();
    d.spawn();
    assert_eq!(d.inspect("rs", "{{.State.Running}}"), "false");
    d.ok(&["rm", "-f", "rs"]);
}

/// Exec sessions survive a SIGKILLed berthd: `GET /exec/ID/json` shows them again, a
/// finished one with its code, a running one running and then with the code it ended with
/// while the new berthd waited; `ExecIDs` lists the running one, as dockerd lists the
/// sessions not finished. (They were in memory only.)
#[test]
fn exec_sessions_are_shown_again_after_berthd_restarts() {
    prereqs!();
    let mut d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "ex",
        IMG,
        "sleep",
        "600",
    ]);
    let since = format!(
        "{:.3}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            - 1.0
    );
    let out = d.docker(&["exec", "ex", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    // The finished session's ID, from its exec_die event.
    let finished = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &format!(
            "{:.3}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
                + 0.5
        ),
        "-f",
        "event=exec_die",
        "--format",
        "{{.Actor.Attributes.execID}}",
    ]);
    let finished = finished.lines().next().unwrap_or_default().to_owned();
    assert_eq!(finished.len(), 64, "{finished:?}");
    d.ok(&["exec", "-d", "ex", "sh", "-c", "sleep 4; exit 7"]);
    let ids = |d: &Daemon| -> Vec<String> {
        serde_json::from_str(&d.inspect("ex", "{{json .ExecIDs}}")).unwrap_or_default()
    };
    let running = ids(&d);
    assert_eq!(running.len(), 1, "{running:?}");
    let before = [finished.clone(), running[0].clone()];
    let exec = |d: &Daemon, id: &str| -> serde_json::Value {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
        write!(s, "GET /exec/{id}/json HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let state = |v: &serde_json::Value| (v["Running"].as_bool(), v["ExitCode"].as_i64());
    let codes = |d: &Daemon| -> Vec<(Option<bool>, Option<i64>)> {
        let mut v: Vec<_> = before.iter().map(|id| state(&exec(d, id))).collect();
        v.sort();
        v
    };
    assert_eq!(
        codes(&d),
        [(Some(false), Some(5)), (Some(true), None)],
        "before the restart"
    );
    d.kill9();
    d.spawn();
    // Still running, or ended (with its code) if the restart took long.
    let now = codes(&d);
    assert!(
        now == [(Some(false), Some(5)), (Some(true), None)]
            || now == [(Some(false), Some(5)), (Some(false), Some(7))],
        "{now:?}"
    );
    let after = ids(&d);
    assert!(after == running || after.is_empty(), "{after:?}");
    assert!(
        d.eventually(15, || codes(&d)
            == [(Some(false), Some(5)), (Some(false), Some(7))]),
        "{:?}",
        codes(&d)
    );
    assert!(ids(&d).is_empty(), "{:?}", ids(&d));
    // A container keeps its last 64 finished sessions, not every one: the oldest goes.
    for _ in 0..64 {
        d.ok(&["exec", "ex", "true"]);
    }
    let gone = {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
        write!(s, "GET /exec/{finished}/json HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(
        gone.starts_with("HTTP/1.0 404") || gone.starts_with("HTTP/1.1 404"),
        "{gone}"
    );
    d.ok(&["rm", "-f", "ex"]);
}

/// A session created and never started goes with the run of its container it was made in,
/// as dockerd forgets it when the container stops: not listed in `ExecIDs`, 404 on
/// inspect, and still so after berthd restarts (it used to come back from berth.db as a
/// session of the container's current run).
#[test]
fn exec_sessions_never_started_go_with_their_run_across_berthd_restarts() {
    prereqs!();
    let mut d = Daemon::start();
    let http = |d: &Daemon, method: &str, path: &str, body: &str| -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let code = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (
            code,
            out.split_once("\r\n\r\n")
                .map(|x| x.1.to_owned())
                .unwrap_or_default(),
        )
    };
    let create = |d: &Daemon| -> String {
        let (code, body) = http(d, "POST", "/containers/ux/exec", r#"{"Cmd":["true"]}"#);
        assert_eq!(code, 201, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["Id"].as_str().unwrap().to_owned()
    };
    let inspect = |d: &Daemon, id: &str| http(d, "GET", &format!("/exec/{id}/json"), "").0;
    let ids = |d: &Daemon| d.inspect("ux", "{{json .ExecIDs}}");
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "ux",
        IMG,
        "sleep",
        "600",
    ]);
    let old = create(&d);
    d.ok(&["restart", "-t", "0", "ux"]);
    let new = create(&d);
    assert_eq!(inspect(&d, &old), 404);
    assert_eq!(ids(&d), format!(r#"["{new}"]"#));
    d.kill9();
    d.spawn();
    assert_eq!(inspect(&d, &old), 404, "the old run's session came back");
    assert_eq!(inspect(&d, &new), 200);
    assert_eq!(ids(&d), format!(r#"["{new}"]"#));
    // Stopped: the current run's goes too, and stays gone.
    d.ok(&["stop", "-t", "0", "ux"]);
    assert_eq!(inspect(&d, &new), 404);
    d.kill9();
    d.spawn();
    d.ok(&["start", "ux"]);
    assert_eq!(inspect(&d, &new), 404, "a stopped run's session came back");
    assert_eq!(ids(&d), "null");
    d.ok(&["rm", "-f", "ux"]);
}
