//! `docker build` (the stock CLI's classic builder path: `POST /build` with the context as
//! a tar) against berthd: every Dockerfile instruction, what the image then holds and how
//! it runs, the build cache, scratch and multi-stage builds, and failures worded and coded
//! as dockerd's.

mod common;

use std::path::Path;

use common::{Daemon, IMG, stderr, stdout};

fn write(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

/// Step headers and the other lines builds print that do not carry IDs.
fn steps(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("Step ")).collect()
}

#[test]
fn a_dockerfile_with_every_common_instruction_builds_and_runs() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let ctx = d.dir.path().join("ctx");
    write(&ctx, "a.txt", "alpha\n");
    write(&ctx, "sub/b.txt", "beta\n");
    write(&ctx, "sub/deep/c.txt", "gamma\n");
    write(&ctx, "x1.conf", "1\n");
    write(&ctx, "x2.conf", "2\n");
    write(&ctx, "secret.key", "do not send\n");
    write(&ctx, ".dockerignore", "*.key\n");
    // A tarball ADD unpacks.
    let st = std::process::Command::new("tar")
        .args(["-C", ctx.to_str().unwrap(), "-czf"])
        .arg(ctx.join("bundle.tgz"))
        .args(["a.txt", "sub"])
        .status()
        .unwrap();
    assert!(st.success());
    write(
        &ctx,
        "Dockerfile",
        &format!(
            r#"# a comment
FROM {IMG}
ARG GREETING=hello
ENV APP=/srv/app \
    MODE="two words"
WORKDIR $APP
COPY a.txt .
COPY sub ./sub/
COPY x*.conf /etc/conf.d/
ADD bundle.tgz /opt/unpacked/
RUN echo app:x:4321:4321::/home/app:/bin/sh >> /etc/passwd && echo app:x:4321: >> /etc/group
COPY --chown=app:app a.txt /home/app/owned
RUN echo "$GREETING from RUN in $(pwd) as $MODE" && cat a.txt sub/b.txt > joined
USER app
LABEL org.example.name="demo image" tier=test
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --retries=2 CMD true
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat joined; id -u; ls /secret.key 2>&1 || true"]
"#
        ),
    );
    let out = d.docker(&[
        "build",
        "--network",
        "none",
        "-t",
        "demo:1",
        ctx.to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    let s = steps(&text);
    assert_eq!(s.len(), 19, "{text}");
    assert_eq!(s[0], format!("Step 1/19 : FROM {IMG}"));
    assert_eq!(s[2], "Step 3/19 : ENV APP=/srv/app     MODE=\"two words\"");
    assert!(
        text.contains("hello from RUN in /srv/app as two words\n"),
        "{text}"
    );
    assert!(text.contains("Successfully tagged demo:1\n"), "{text}");
    assert!(text.contains(" ---> Running in "), "{text}");
    assert!(text.contains("Removing intermediate container "), "{text}");

    // The image runs as configured: entrypoint + cmd, user, files copied.
    let run = d.ok(&["run", "--rm", "--network", "none", "demo:1"]);
    assert_eq!(
        run,
        "alpha\nbeta\n4321\nls: /secret.key: No such file or directory"
    );
    let sh = |script: &str| {
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-u",
            "0",
            "demo:1",
            script,
        ])
    };
    assert_eq!(sh("cat /etc/conf.d/x1.conf /etc/conf.d/x2.conf"), "1\n2");
    assert_eq!(
        sh("cat /opt/unpacked/a.txt /opt/unpacked/sub/deep/c.txt"),
        "alpha\ngamma"
    );
    assert_eq!(
        sh("stat -c '%u:%g' /home/app/owned /srv/app/a.txt"),
        "4321:4321\n0:0"
    );
    assert_eq!(sh("cat /srv/app/sub/deep/c.txt"), "gamma");
    assert_eq!(sh("ls /srv/app | grep -c key || true"), "0");

    let cfg = d.inspect(
        "demo:1",
        "{{.Config.User}}|{{.Config.WorkingDir}}|{{json .Config.Env}}|{{json .Config.Labels}}|{{json .Config.ExposedPorts}}|{{json .Config.Volumes}}|{{.Config.StopSignal}}|{{json .Config.Entrypoint}}|{{json .Config.Healthcheck}}",
    );
    assert_eq!(
        cfg,
        r#"app|/srv/app|["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","APP=/srv/app","MODE=two words"]|{"org.example.name":"demo image","tier":"test"}|{"53/udp":{},"8080/tcp":{}}|{"/data":{}}|SIGUSR1|["/bin/sh","-c"]|{"Test":["CMD-SHELL","true"],"Interval":5000000000,"Retries":2}"#
    );
    // History: one entry per step, RUN with its build arguments as dockerd records them.
    let hist = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "demo:1",
    ]);
    assert!(
        hist.lines()
            .any(|l| l.starts_with("|1 GREETING=hello /bin/sh -c echo \"$GREETING")),
        "{hist}"
    );
    assert!(hist.contains("/bin/sh -c #(nop)  USER app"), "{hist}");
    assert!(hist.contains("/bin/sh -c #(nop) COPY dir:"), "{hist}");
    // Intermediate containers are gone; intermediate images are not listed.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images.lines().count(), 2, "{images}");

    // -q prints the ID only; --iidfile writes it.
    let iid = d.dir.path().join("iid");
    let q = d.ok(&[
        "build",
        "-q",
        "--network",
        "none",
        "--iidfile",
        iid.to_str().unwrap(),
        ctx.to_str().unwrap(),
    ]);
    let id = d.inspect("demo:1", "{{.Id}}");
    assert_eq!(q, id);
    // As with dockerd, a quiet build's ID file holds the line the daemon sent.
    assert_eq!(std::fs::read_to_string(&iid).unwrap().trim_end(), id);
}

#[test]
fn steps_are_cached_and_failures_are_reported_as_dockerd_does() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let ctx = d.dir.path().join("ctx");
    write(&ctx, "f", "one\n");
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM {IMG}\nCOPY f /f\nRUN cat /f > /g\nCMD [\"cat\", \"/g\"]\n"),
    );
    let c = ctx.to_str().unwrap();
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "--network", "none", "-t", "cached:1"];
        args.extend_from_slice(extra);
        args.push(c);
        let out = d.docker(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        (stdout(&out), d.inspect("cached:1", "{{.Id}}"))
    };
    let (first, id1) = build(&[]);
    assert!(!first.contains("Using cache"), "{first}");
    let (second, id2) = build(&[]);
    assert_eq!(second.matches(" ---> Using cache").count(), 3, "{second}");
    assert!(!second.contains("Running in"), "{second}");
    assert_eq!(id1, id2);
    // `builder prune` forgets the cache: every step runs again.
    d.ok(&["builder", "prune", "-f"]);
    let (pruned, _) = build(&[]);
    assert!(!pruned.contains("Using cache"), "{pruned}");
    assert!(pruned.contains("Running in"), "{pruned}");
    // A changed source invalidates its step and every one after it.
    write(&ctx, "f", "two\n");
    let (third, id3) = build(&[]);
    assert_eq!(third.matches(" ---> Using cache").count(), 0, "{third}");
    assert_ne!(id3, id1);
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", "cached:1"]),
        "two"
    );
    let (fourth, id4) = build(&["--no-cache"]);
    assert!(!fourth.contains("Using cache"), "{fourth}");
    assert_ne!(id4, id3);

    // A failing RUN: dockerd's message, the command's exit code, the container kept.
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM {IMG}\nRUN echo partial; exit 3\n"),
    );
    let out = d.docker(&["build", "--network", "none", c]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).contains("partial\n"));
    assert!(
        stderr(&out)
            .contains("The command '/bin/sh -c echo partial; exit 3' returned a non-zero code: 3"),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.ok(&["ps", "-aq"]).lines().count(), 1);
    assert!(
        d.ok(&["ps", "-a", "--format", "{{.Status}}"])
            .starts_with("Exited (3)")
    );
    d.ok(&["container", "prune", "-f"]);
    let out = d.docker(&["build", "--force-rm", "--network", "none", c]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(d.ok(&["ps", "-aq"]), "");

    // Bad Dockerfiles and missing sources: a clear error, exit 1, nothing left behind.
    for (df, needle) in [
        (
            format!("FROM {IMG}\nBOGUS x\n"),
            "dockerfile parse error line 2: unknown instruction: BOGUS",
        ),
        (
            format!("FROM {IMG}\nCOPY nope /x\n"),
            "nope: file does not exist",
        ),
        (
            format!("FROM {IMG}\nCOPY f Dockerfile /dst\n"),
            "the destination must be a directory and end with a /",
        ),
        (
            "RUN true\n".to_owned(),
            "Error response from daemon: no build stage in current context",
        ),
        (
            format!("FROM {IMG}\nRUN --mount=type=cache,target=/x true\n"),
            "requires BuildKit",
        ),
        // HEALTHCHECK is checked when the file is read, in dockerd's words.
        (
            format!("FROM {IMG}\nRUN true\nHEALTHCHECK CMD\n"),
            "dockerfile parse error line 3: Missing command after HEALTHCHECK CMD",
        ),
        (
            format!("FROM {IMG}\nRUN true\nHEALTHCHECK --interval=1 CMD true\n"),
            "dockerfile parse error line 3: time: missing unit in duration \"1\"",
        ),
        (
            format!("FROM {IMG}\nHEALTHCHECK --timeout=10us CMD true\n"),
            "dockerfile parse error line 2: Interval \"timeout\" cannot be less than 1ms",
        ),
        (
            format!("FROM {IMG}\nHEALTHCHECK NONE x\n"),
            "dockerfile parse error line 2: HEALTHCHECK NONE takes no arguments",
        ),
        (
            format!("FROM {IMG}\nHEALTHCHECK foo true\n"),
            "dockerfile parse error line 2: Unknown type \"FOO\" in HEALTHCHECK (try CMD)",
        ),
        (
            format!("FROM {IMG}\nHEALTHCHECK --bogus=1 foo true\n"),
            "dockerfile parse error line 2: Unknown flag: bogus",
        ),
    ] {
        write(&ctx, "Dockerfile", &df);
        let out = d.docker(&["build", "--network", "none", c]);
        assert_eq!(out.status.code(), Some(1), "{df}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{df}: {}", stderr(&out));
    }
    // Flags before NONE are not read (dockerd's parser reads them only for CMD).
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM {IMG}\nHEALTHCHECK --interval=5s NONE\n"),
    );
    d.ok(&["build", "-q", "--network", "none", "-t", "hc-none:1", c]);
    assert_eq!(
        d.inspect("hc-none:1", "{{json .Config.Healthcheck}}"),
        r#"{"Test":["NONE"]}"#
    );
    let out = d.docker(&["build", "-f", "Nope.dockerfile", c]);
    assert!(!out.status.success());
    // A Dockerfile from stdin (`-f -`): the CLI sends the context tar without its end
    // blocks, which dockerd takes; so does berthd.
    let df = format!("FROM {IMG}\nCOPY f /from-stdin\nCMD [\"cat\", \"/from-stdin\"]\n");
    let out = d.docker_stdin(
        &["build", "--network", "none", "-t", "stdin:1", "-f", "-", c],
        Some(df.as_bytes()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", "stdin:1"]),
        "two"
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    // Nothing of the builds is left in the scratch area.
    let tmp = d.data.join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn scratch_and_multi_stage_builds_with_build_args_target_and_labels() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    write(
        &ctx,
        "Dockerfile",
        r#"ARG BASE=scratch
FROM ${BASE} AS tools
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ARG WHO
RUN mkdir /out && echo "built by ${WHO:-nobody}" > /out/note && echo a > /out/a.txt && echo b > /out/b.txt

FROM scratch AS final
COPY --from=tools /bin/busybox /bin/busybox
COPY --from=tools /out/note /note
COPY --from=tools /out/*.txt /txt/
CMD ["/bin/busybox", "cat", "/note"]

FROM final AS extra
CMD ["/bin/busybox", "echo", "extra"]
"#,
    );
    let c = ctx.to_str().unwrap();
    let out = d.docker(&[
        "build",
        "--network",
        "none",
        "--build-arg",
        "WHO=berth",
        "--build-arg",
        "UNUSED=1",
        "--label",
        "stage=final",
        "--target",
        "final",
        "-t",
        "multi:1",
        c,
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    // The stages after the target are not built; the label is the last step.
    assert!(!text.contains("extra"), "{text}");
    assert!(text.contains("Step 12/12 : LABEL stage=final\n"), "{text}");
    assert!(
        text.contains("[Warning] One or more build-args [UNUSED] were not consumed"),
        "{text}"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "--network", "none", "multi:1"]),
        "built by berth"
    );
    // Only what the final stage copied: the files named and matched, no shell links.
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "multi:1",
            "/bin/busybox",
            "ls",
            "/",
            "/bin",
            "/txt"
        ]),
        "/:\nbin\ndev\netc\nnote\nproc\nsys\ntxt\n\n/bin:\nbusybox\n\n/txt:\na.txt\nb.txt"
    );
    assert_eq!(
        d.inspect("multi:1", "{{json .Config.Labels}}"),
        r#"{"stage":"final"}"#
    );
    assert_eq!(d.inspect("multi:1", "{{len .RootFS.Layers}}"), "3");
}

/// `POST /build` with `body` over the daemon's socket; returns the raw response.
fn post_build(d: &Daemon, query: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    write!(
        s,
        "POST /v1.45/build{query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    // (berthd may answer a refusal before it has read the whole body)
    let _ = s.write_all(body);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A tar of `(name, content)` entries, names written as given (even `../x`).
fn raw_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn malformed_and_malicious_build_requests_get_clear_errors() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let garbage = post_build(&d, "?t=x", b"this is not a tar archive at all");
    assert!(
        garbage.contains("failed to read the build context"),
        "{garbage}"
    );
    let empty = post_build(&d, "", &raw_tar(&[]));
    assert!(
        empty.contains("Cannot locate specified Dockerfile: Dockerfile"),
        "{empty}"
    );
    // A context entry that climbs out of the context is refused before anything runs.
    let df = format!("FROM {IMG}\nCOPY . /x/\n");
    let evil = post_build(
        &d,
        "",
        &raw_tar(&[("Dockerfile", df.as_bytes()), ("../../escaped", b"x")]),
    );
    assert!(evil.contains("refused"), "{evil}");
    assert!(!d.dir.path().join("escaped").exists());
    // A Dockerfile path that leaves the context is not found there.
    let out = post_build(
        &d,
        "?dockerfile=../../../etc/passwd",
        &raw_tar(&[("Dockerfile", df.as_bytes())]),
    );
    assert!(out.contains("Cannot locate specified Dockerfile"), "{out}");
    // Bad parameters: 400 with a message, before the body is read.
    let bad = post_build(&d, "?buildargs=notjson", &raw_tar(&[]));
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    assert!(bad.contains("invalid buildargs value"), "{bad}");
    let bad = post_build(&d, "?version=2", &raw_tar(&[]));
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    // Nothing was made.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_eq!(d.ok(&["images", "-aq"]).lines().count(), 1);
}

/// A busybox httpd serving `dir` on 127.0.0.1; killed (by its PID) on drop.
struct Httpd(std::process::Child, u16);

impl Httpd {
    fn serve(dir: &Path) -> Httpd {
        for _ in 0..20 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let child = std::process::Command::new("/bin/busybox")
                .args(["httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
                .arg(dir)
                .spawn()
                .unwrap();
            let mut h = Httpd(child, port);
            for _ in 0..50 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return h;
                }
                if let Ok(Some(_)) = h.0.try_wait() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = h.0.kill();
        }
        panic!("httpd did not start");
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn add_downloads_a_url_as_a_file_and_copy_refuses_urls() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let www = d.dir.path().join("www");
    write(&www, "tool.sh", "echo downloaded tool\n");
    // An archive fetched by URL stays an archive (only local ones are unpacked).
    let st = std::process::Command::new("tar")
        .args(["-C", www.to_str().unwrap(), "-czf"])
        .arg(www.join("pack.tgz"))
        .arg("tool.sh")
        .status()
        .unwrap();
    assert!(st.success());
    let h = Httpd::serve(&www);
    let base = format!("http://127.0.0.1:{}", h.1);
    let ctx = d.dir.path().join("ctx");
    write(
        &ctx,
        "Dockerfile",
        &format!(
            "FROM {IMG}\nADD {base}/tool.sh {base}/pack.tgz /opt/\nADD {base}/tool.sh /usr/bin/renamed\n"
        ),
    );
    d.ok(&[
        "build",
        "--network",
        "none",
        "-t",
        "url:1",
        ctx.to_str().unwrap(),
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "url:1",
        "sh",
        "-c",
        "sh /opt/tool.sh; stat -c '%a %n' /opt/tool.sh /opt/pack.tgz /usr/bin/renamed",
    ]);
    assert_eq!(
        out,
        "downloaded tool\n600 /opt/tool.sh\n600 /opt/pack.tgz\n600 /usr/bin/renamed"
    );
    // A missing file: the server's answer, exit 1.
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM {IMG}\nADD {base}/missing /x\n"),
    );
    let out = d.docker(&["build", "--network", "none", ctx.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("failed to download"),
        "{}",
        stderr(&out)
    );
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM {IMG}\nCOPY {base}/tool.sh /x\n"),
    );
    d.fails(
        &["build", "--network", "none", ctx.to_str().unwrap()],
        "source can't be a URL for COPY",
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");

    // remote=URL (what `berth build URL` sends): a tarball is the context, anything else
    // the Dockerfile of an empty context.
    write(
        &www,
        "rctx/Dockerfile",
        &format!("FROM {IMG}\nCOPY tool.sh /t\nCMD [\"sh\", \"/t\"]\n"),
    );
    write(&www, "rctx/tool.sh", "echo remote context\n");
    let st = std::process::Command::new("tar")
        .args(["-C", www.join("rctx").to_str().unwrap(), "-czf"])
        .arg(www.join("ctx.tgz"))
        .args(["Dockerfile", "tool.sh"])
        .status()
        .unwrap();
    assert!(st.success());
    write(
        &www,
        "only.Dockerfile",
        &format!("FROM {IMG}\nCMD [\"echo\", \"bare\"]\n"),
    );
    for (file, tag, want) in [
        ("ctx.tgz", "remote:1", "remote context"),
        ("only.Dockerfile", "remote:2", "bare"),
    ] {
        let out = post_build(
            &d,
            &format!("?t={tag}&networkmode=none&remote={base}/{file}"),
            b"",
        );
        assert!(out.contains(&format!("Successfully tagged {tag}")), "{out}");
        assert_eq!(d.ok(&["run", "--rm", "--network", "none", tag]), want);
    }
    let out = post_build(&d, "?remote=git://example.invalid/repo.git", b"");
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    let out = post_build(&d, &format!("?remote={base}/missing.tgz"), b"");
    assert!(
        out.contains("failed to download the build context"),
        "{out}"
    );
}

#[path = "common/registry.rs"]
mod registry;

#[test]
fn from_pulls_a_missing_base_with_the_clients_registry_credentials() {
    if !common::have_prereqs() || !registry::available(true) {
        return;
    }
    let reg = registry::start(Some(("bob", "pw123")));
    let d = Daemon::start();
    let name = format!("{}/base/bb:1", reg.addr);
    d.ok(&["tag", IMG, &name]);
    let out = d.docker_stdin(
        &["login", "-u", "bob", "--password-stdin", &reg.addr],
        Some(b"pw123\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    d.ok(&["push", &name]);
    d.ok(&["rmi", &name]);
    d.ok(&["rmi", IMG]);
    assert_eq!(d.ok(&["images", "-q"]), "");

    let ctx = d.dir.path().join("ctx");
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM {name}\nRUN echo on-pulled-base\n"),
    );
    // The CLI sends its stored credentials (X-Registry-Config); berthd pulls with them.
    let out = d.docker(&[
        "build",
        "--network",
        "none",
        "-t",
        "child:1",
        ctx.to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}\n{}",
        stderr(&out),
        common::tail(&d.log(), 30)
    );
    assert!(text.contains("Pull complete"), "{text}");
    assert!(text.contains("on-pulled-base"), "{text}");
    assert!(
        d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .contains(&name)
    );
    // --pull asks the registry again even though the base is here now.
    let out = d.docker(&[
        "build",
        "--pull",
        "--network",
        "none",
        ctx.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Already exists"), "{}", stdout(&out));

    // Without credentials the registry refuses, and the build says so.
    d.ok(&["logout", &reg.addr]);
    d.ok(&["rmi", "child:1", &name]);
    let out = d.docker(&["build", "--network", "none", ctx.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no credentials are configured"),
        "{}",
        stderr(&out)
    );
}

/// RUN steps see the init layer's files (`/.dockerenv`, `/etc/mtab`, the mount points) as
/// any container does, but their commits hold only what the step changed: the images do not
/// gain them, not even on a `FROM scratch` base that has no /etc, /proc or /dev.
#[test]
fn initlayer_run_steps_commit_only_their_changes() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM {IMG}\nRUN test -f /.dockerenv && test -L /etc/mtab && touch /built\n"),
    );
    d.ok(&[
        "build",
        "--network",
        "none",
        "-t",
        "ilb:1",
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(d.top_layer_entries("ilb:1"), ["built"]);
    write(
        &ctx,
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"touch\", \"/made\"]\n",
    );
    d.ok(&[
        "build",
        "--network",
        "none",
        "-t",
        "ilb:2",
        ctx.to_str().unwrap(),
    ]);
    assert_eq!(d.top_layer_entries("ilb:2"), ["made"]);
    // Their containers get the files from their own init layer.
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "ilb:2",
            "/bin/busybox",
            "ls",
            "-a",
            "/"
        ]),
        ".\n..\n.dockerenv\nbin\ndev\netc\nmade\nproc\nsys"
    );
}
