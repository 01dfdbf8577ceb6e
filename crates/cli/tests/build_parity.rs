//! `berth build` and `docker build` (docker 28's legacy builder) side by side against one
//! private dockerd: the same output, errors and exit codes, and the same images (the
//! second build of a context hits the first one's cache at every step, so both sent
//! the same files). Skipped where dockerd, the docker CLI, busybox or root are missing.
//! Each test starts its own dockerd on a temporary root and socket, and stops it and
//! removes what it made (mounts included) even when it fails.

mod common;
mod registry;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{BERTH, busybox_tar, have_prereqs};

/// A private dockerd (no bridge, no iptables) with the busybox image as `bb:1`.
struct Dockerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Dockerd {
    fn start() -> Option<Dockerd> {
        if !have_prereqs() || Command::new("dockerd").arg("--version").output().is_err() {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("bd")
            .tempdir_in("/tmp")
            .unwrap();
        let p = dir.path();
        let log = std::fs::File::create(p.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(p.join("d"))
            .arg("--exec-root")
            .arg(p.join("e"))
            .arg("--pidfile")
            .arg(p.join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", p.join("s").display()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
                "--storage-driver=overlay2",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let d = Dockerd {
            dir,
            child: Some(child),
        };
        let t0 = Instant::now();
        while !d.docker(&["version"]).status.success() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "dockerd did not start: {}",
                std::fs::read_to_string(d.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let tar = busybox_tar(d.dir.path());
        let out = d.docker(&["import", tar.to_str().unwrap(), "bb:1"]);
        assert!(out.status.success(), "import: {out:?}");
        Some(d)
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("s").display())
    }

    fn run(&self, prog: &str, args: &[&str], cwd: Option<&Path>, input: &[u8]) -> Output {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "2", "120", prog])
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("BERTH_HOST", self.host())
            .env("BERTH_NO_AUTOSTART", "1")
            .env("DOCKER_CONFIG", self.dir.path().join("cfg"))
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_DEFAULT_PLATFORM")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        let mut child = cmd.spawn().expect("run the CLI");
        let mut stdin = child.stdin.take().unwrap();
        let _ = std::io::Write::write_all(&mut stdin, input);
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.run("docker", args, None, b"")
    }

    /// `docker ARGS` then `berth ARGS` in `cwd`: (exit code, stdout, stderr) of each,
    /// image IDs and docker's deprecation notice left out.
    fn both(&self, args: &[&str], cwd: &Path, input: &[u8]) -> [(Option<i32>, String, String); 2] {
        ["docker", BERTH].map(|prog| {
            let o = self.run(prog, args, Some(cwd), input);
            (o.status.code(), norm(&o.stdout), norm(&o.stderr))
        })
    }
}

/// Output with IDs as `ID`, the program's name as docker's, and docker's notice that
/// its legacy builder is deprecated (berth has no other) removed.
fn norm(b: &[u8]) -> String {
    let text = String::from_utf8_lossy(b).replace("berth", "docker");
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("DEPRECATED: The legacy builder")
            || line.contains("Install the buildx component")
            || line.contains("docs.docker.com/go/buildx")
        {
            continue;
        }
        out.push_str(line);
    }
    let out = out.strip_prefix('\n').unwrap_or(&out).to_owned();
    // (12 or 64 hex digits: image and container IDs)
    let mut r = String::new();
    let mut run = String::new();
    for c in out.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
            run.push(c);
            continue;
        }
        if (run.len() == 12 || run.len() == 64) && run.chars().any(|c| c.is_ascii_digit()) {
            r.push_str("ID");
        } else {
            r.push_str(&run);
        }
        run.clear();
        r.push(c);
    }
    r.pop();
    r
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the dockerd this fixture spawned.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Whatever dockerd left mounted under its roots, deepest first.
        let prefix = format!("{}/", self.dir.path().display());
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").args(["-l", &m]).status();
        }
    }
}

/// A context: a Dockerfile with RUN, COPY and CMD, files with several modes, a
/// `.dockerignore` with exceptions.
fn context(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let ctx = dir.join("ctx");
    for d in ["dir/sub", "other"] {
        std::fs::create_dir_all(ctx.join(d)).unwrap();
    }
    for (f, text) in [
        (
            "Dockerfile",
            "FROM bb:1\nARG X=unset\nRUN echo \"x is $X\"\nCOPY . /c\nCMD [\"sh\"]\n",
        ),
        ("a.txt", "a"),
        ("keep.txt", "k"),
        ("secret", "s"),
        ("dir/keep", "k"),
        ("dir/drop", "d"),
        ("dir/sub/keep", "k"),
        ("other/x", "x"),
        ("b.go", "package b"),
        ("other/c.go", "package c"),
        (
            ".dockerignore",
            "*.txt\n!keep.txt\ndir\n!dir/keep\n**/*.go\nsecret\nDockerfile\n.dockerignore\n",
        ),
    ] {
        std::fs::write(ctx.join(f), text).unwrap();
    }
    std::fs::set_permissions(ctx.join("keep.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
    ctx
}

fn assert_same(d: &Dockerd, args: &[&str], cwd: &Path, input: &[u8]) {
    let [theirs, ours] = d.both(args, cwd, input);
    assert_eq!(ours, theirs, "berth {args:?} differs from docker's");
}

#[test]
fn build_output_and_errors_match_docker() {
    let Some(d) = Dockerd::start() else { return };
    let ctx = context(d.dir.path());
    // --no-cache: both run every step, so the texts can be compared line by line.
    for args in [
        &["build", "--no-cache", "-t", "one", "."][..],
        &["build", "--no-cache", "-q", "."],
        &[
            "build",
            "--no-cache",
            "-t",
            "a",
            "-t",
            "b:2",
            "--build-arg",
            "X=1",
            ".",
        ],
        &["build", "nope"],
        &["build"],
        &["build", ".", "."],
        &["build", "-t", "Bad:x", "."],
        &["build", "--build-arg", "=x", "."],
        &["build", "-f", "nope", "."],
        &["build", "-f", "-", "-"],
    ] {
        assert_same(&d, args, &ctx, b"");
    }
    // A failing RUN: its message on stderr, the command's status as the exit code.
    let bad = d.dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("Dockerfile"), "FROM bb:1\nRUN exit 3\n").unwrap();
    assert_same(&d, &["build", "."], &bad, b"");
    assert_same(&d, &["build", "-q", "."], &bad, b"");
    // --iidfile: the ID, with the newline of -q's output when quiet (as docker writes it).
    for quiet in [false, true] {
        let mut files = Vec::new();
        for prog in ["docker", BERTH] {
            let f = d.dir.path().join(format!("iid-{quiet}"));
            let mut args = vec!["build", "--iidfile", f.to_str().unwrap(), "."];
            if quiet {
                args.insert(1, "-q");
            }
            let o = d.run(prog, &args, Some(&ctx), b"");
            assert!(o.status.success(), "{prog} {args:?}: {o:?}");
            files.push(std::fs::read_to_string(&f).unwrap());
        }
        assert_eq!(files[1], files[0]);
        assert!(files[0].starts_with("sha256:"));
    }
}

#[test]
fn build_contexts_match_dockers() {
    let Some(d) = Dockerd::start() else { return };
    let ctx = context(d.dir.path());
    // The same image ID for each way of giving the context: docker's build is cached
    // and berth's hits that cache at every step, COPY included.
    let outside = d.dir.path().join("outside.Dockerfile");
    std::fs::write(&outside, "FROM bb:1\nCOPY . /c\n").unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_dir_all(".", &ctx).unwrap();
    let tar = tar.into_inner().unwrap();
    let stdin_dockerfile = b"FROM bb:1\nCOPY . /d\n";
    let cases: [(Vec<&str>, &[u8]); 5] = [
        (vec!["build", "-q", "."], b""),
        (
            vec!["build", "-q", "-f", outside.to_str().unwrap(), "."],
            b"",
        ),
        (vec!["build", "-q", "-f", "-", "."], stdin_dockerfile),
        (vec!["build", "-q", "-"], &tar),
        (vec!["build", "-q", "-"], stdin_dockerfile),
    ];
    for (args, input) in &cases {
        let [theirs, ours] = d.both(args, &ctx, input);
        assert_eq!(ours.0, Some(0), "berth {args:?}: {ours:?}");
        assert_eq!(ours, theirs, "berth {args:?} differs from docker's");
    }
    // What .dockerignore let through, seen from inside the image.
    let mut seen = Vec::new();
    for prog in ["docker", BERTH] {
        let tag = format!("ig-{}", seen.len());
        let o = d.run(prog, &["build", "-q", "-t", &tag, "."], Some(&ctx), b"");
        assert!(o.status.success(), "{prog}: {o:?}");
        let o = d.docker(&["run", "--rm", &tag, "busybox", "find", "/c"]);
        assert!(o.status.success(), "{o:?}");
        let mut files: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        files.sort();
        seen.push(files);
    }
    assert_eq!(seen[1], seen[0]);
    // (the Dockerfile and .dockerignore are sent, as their patterns get exceptions, and
    // the daemon leaves them out, as the patterns say)
    assert_eq!(
        seen[0],
        [
            "/c",
            "/c/dir",
            "/c/dir/keep",
            "/c/keep.txt",
            "/c/other",
            "/c/other/x"
        ]
    );
}

/// A `git daemon` serving `base` on a loopback port, stopped when dropped.
struct GitDaemon(Child, u16);

impl GitDaemon {
    fn start(base: &Path) -> Option<GitDaemon> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--export-all",
                "--reuseaddr",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let d = GitDaemon(child, port);
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if t0.elapsed() > Duration::from_secs(10) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(d)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The docker CLI leaves its git checkouts (`$TMPDIR/docker-build-git*`) behind when
/// a build fails after cloning: those that appear while this lives are removed.
struct GitLeftovers(Vec<PathBuf>);

impl GitLeftovers {
    fn now() -> Vec<PathBuf> {
        std::fs::read_dir(std::env::temp_dir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("docker-build-git"))
            })
            .collect()
    }
}

impl Drop for GitLeftovers {
    fn drop(&mut self) {
        for p in GitLeftovers::now() {
            if !self.0.contains(&p) {
                let _ = std::fs::remove_dir_all(p);
            }
        }
    }
}

#[test]
fn build_from_a_git_url_matches_docker() {
    let _leftovers = GitLeftovers(GitLeftovers::now());
    let Some(d) = Dockerd::start() else { return };
    let base = d.dir.path().join("git");
    let repo = base.join("repo");
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    std::fs::write(repo.join("Dockerfile"), "FROM bb:1\nCOPY sub /s\n").unwrap();
    std::fs::write(repo.join("sub/Dockerfile"), "FROM bb:1\nCOPY f /g/\n").unwrap();
    std::fs::write(repo.join("sub/f"), "f").unwrap();
    let git = |args: &[&str]| {
        Command::new("git")
            .args(["-c", "user.email=t@t", "-c", "user.name=t"])
            .args(args)
            .current_dir(&repo)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(git(&["init", "-q", "-b", "main"]) && git(&["add", "-A"]) && git(&["commit", "-qm", "c"]))
    {
        return;
    }
    let Some(g) = GitDaemon::start(&base) else {
        return;
    };
    let url = format!("git://127.0.0.1:{}/repo", g.1);
    for frag in ["#main", "#main:sub", "#nobranch", "#-x"] {
        let u = format!("{url}{frag}");
        assert_same(&d, &["build", "-q", &u], d.dir.path(), b"");
    }
    assert_same(
        &d,
        &["build", "-f", "../x", &format!("{url}#main")],
        d.dir.path(),
        b"",
    );
}

#[test]
fn build_pulling_its_base_image_matches_docker() {
    if !Path::new("/usr/bin/docker-registry").exists() {
        return;
    }
    let Some(d) = Dockerd::start() else { return };
    let reg = registry::registry(None);
    let base = format!("{}/bb:1", reg.addr);
    for args in [
        &["tag", "bb:1", &base][..],
        &["push", &base],
        &["rmi", &base],
    ] {
        let o = d.docker(args);
        assert!(o.status.success(), "{args:?}: {o:?}");
    }
    let ctx = d.dir.path().join("pull");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {base}\nRUN true\n")).unwrap();
    // Each build pulls the base image (removed in between) with its progress lines.
    let mut outs = Vec::new();
    for prog in ["docker", BERTH] {
        let o = d.run(prog, &["build", "--no-cache", "."], Some(&ctx), b"");
        outs.push((o.status.code(), norm(&o.stdout), norm(&o.stderr)));
        let o = d.docker(&["rmi", &base]);
        assert!(o.status.success(), "{o:?}");
    }
    assert!(outs[0].1.contains("Pulling from bb"), "{outs:?}");
    assert_eq!(outs[1], outs[0]);
}
