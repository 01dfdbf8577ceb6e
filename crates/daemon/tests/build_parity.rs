//! `docker build` against berthd where it was compared with dockerd 20.10's classic
//! builder and made to match: the output lines, the image history's text, what RUN sees
//! of build arguments, file owners and times that COPY/ADD/WORKDIR make, ONBUILD output,
//! and how failures are worded and returned.

mod common;

use std::path::Path;

use common::{Daemon, IMG, stderr, stdout};

fn write(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

/// Builds `ctx` (tagged `tag`), asserting success; returns stdout.
fn build(d: &Daemon, ctx: &Path, tag: &str, extra: &[&str]) -> String {
    let mut args = vec!["build", "--network", "none", "-t", tag];
    args.extend_from_slice(extra);
    let c = ctx.to_str().unwrap();
    args.push(c);
    let out = d.docker(&args);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

fn history(d: &Daemon, image: &str) -> Vec<String> {
    d.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", image])
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn history_and_step_output_read_as_dockerd_writes_them() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let ctx = d.dir.path().join("ctx");
    write(
        &ctx,
        "Dockerfile",
        &format!(
            r#"FROM {IMG}
LABEL a=b "c d"="e f"
ENV A=1 B="two words"
ENV C ${{A}}x y
EXPOSE 80 53/udp 127.0.0.1:8080:81
VOLUME /data /v2
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=90s --timeout=2s --retries=2 CMD true
WORKDIR /srv/app
USER 1000:1000
MAINTAINER me@x
ARG V=1
RUN echo $V
RUN ["echo", "exec"]
SHELL ["/bin/sh", "-xc"]
CMD echo run
ENTRYPOINT ["/bin/sh", "-c"]
HEALTHCHECK NONE
"#
        ),
    );
    let out = build(&d, &ctx, "hist:1", &["--label", "z=last", "--label", "y=1"]);
    // Containers for the RUNs and WORKDIR (which makes its directory); the config-only
    // steps need none (dockerd makes one for each; berth saves that time).
    assert_eq!(out.matches(" ---> Running in ").count(), 3, "{out}");
    assert_eq!(
        out.matches("Removing intermediate container ").count(),
        3,
        "{out}"
    );
    // --label: one step each, sorted, counted in the total.
    assert!(out.contains("Step 19/20 : LABEL y=1\n"), "{out}");
    assert!(out.contains("Step 20/20 : LABEL z=last\n"), "{out}");
    assert!(
        out.contains("Note: overriding previous HEALTHCHECK: [CMD-SHELL true]\n"),
        "{out}"
    );
    let h = history(&d, "hist:1");
    let want = [
        "/bin/sh -xc #(nop)  LABEL z=last",
        "/bin/sh -xc #(nop)  LABEL y=1",
        r#"/bin/sh -xc #(nop)  HEALTHCHECK &{["NONE"] "0s" "0s" "0s" '\x00'}"#,
        r#"/bin/sh -xc #(nop)  ENTRYPOINT ["/bin/sh" "-c"]"#,
        r#"/bin/sh -xc #(nop)  CMD ["/bin/sh" "-xc" "echo run"]"#,
        "/bin/sh -xc #(nop)  SHELL [/bin/sh -xc]",
        "|1 V=1 echo exec",
        "|1 V=1 /bin/sh -c echo $V",
        "/bin/sh -c #(nop)  ARG V=1",
        "/bin/sh -c #(nop)  MAINTAINER me@x",
        "/bin/sh -c #(nop)  USER 1000:1000",
        "/bin/sh -c #(nop) WORKDIR /srv/app",
        r#"/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "1m30s" "2s" "0s" '\x02'}"#,
        "/bin/sh -c #(nop)  STOPSIGNAL SIGUSR1",
        "/bin/sh -c #(nop)  VOLUME [/data /v2]",
        "/bin/sh -c #(nop)  EXPOSE 127.0.0.1:8080:81 53/udp 80",
        "/bin/sh -c #(nop)  ENV C=1x y",
        "/bin/sh -c #(nop)  ENV A=1 B=two words",
        "/bin/sh -c #(nop)  LABEL a=b c d=e f",
    ];
    assert_eq!(&h[..want.len()], &want[..], "{h:#?}");
    // The base had no PATH: the stage got dockerd's default one.
    let env = d.inspect("hist:1", "{{json .Config.Env}}");
    assert!(
        env.starts_with(
            r#"["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","A=1""#
        ),
        "{env}"
    );
    assert_eq!(
        d.inspect("hist:1", "{{json .Config.ExposedPorts}}"),
        r#"{"53/udp":{},"80/tcp":{},"81/tcp":{}}"#
    );
    // WORKDIR made its directory in the image (root's, 0755), though USER came first.
    let ls = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "ls",
        "hist:1",
        "-lnd",
        "/srv/app",
    ]);
    assert!(ls.starts_with("drwxr-xr-x"), "{ls}");
    assert!(ls.contains(" 0        0 "), "{ls}");
}

#[test]
fn build_args_reach_run_and_history_as_with_dockerd() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let ctx = d.dir.path().join("ctx");
    write(
        &ctx,
        "Dockerfile",
        &format!(
            "FROM {IMG}\nARG B=1\nARG A=2\nRUN echo a=$A b=$B p=$HTTP_PROXY\nENV A=env\nRUN echo a=$A\nARG HTTP_PROXY\nRUN echo p=$HTTP_PROXY\n"
        ),
    );
    let out = build(
        &d,
        &ctx,
        "args:1",
        &[
            "--build-arg",
            "A=9",
            "--build-arg",
            "HTTP_PROXY=http://127.0.0.1:1",
        ],
    );
    // A predefined proxy argument reaches RUN undeclared, but stays out of the history.
    assert!(out.contains("a=9 b=1 p=http://127.0.0.1:1\n"), "{out}");
    assert!(out.contains("a=env\n"), "{out}");
    let h = history(&d, "args:1");
    assert_eq!(
        h[..6],
        [
            "|2 B=1 HTTP_PROXY=http://127.0.0.1:1 /bin/sh -c echo p=$HTTP_PROXY",
            "/bin/sh -c #(nop)  ARG HTTP_PROXY",
            "|1 B=1 /bin/sh -c echo a=$A",
            "/bin/sh -c #(nop)  ENV A=env",
            "|2 A=9 B=1 /bin/sh -c echo a=$A b=$B p=$HTTP_PROXY",
            "/bin/sh -c #(nop)  ARG A=2",
        ],
        "{h:#?}"
    );
    // `FROM 0` is an image called 0, not the first stage.
    d.ok(&["tag", IMG, "0"]);
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM {IMG}\nRUN mkdir /stage0\nFROM 0\nRUN test ! -e /stage0\n"),
    );
    build(&d, &ctx, "from0:1", &[]);
}

#[test]
fn copy_owners_modes_and_times_follow_dockerd() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let ctx = d.dir.path().join("ctx");
    write(&ctx, "f1", "1\n");
    write(&ctx, "dir/sub/y", "y\n");
    // A directory's time survives the copy.
    let st = std::process::Command::new("touch")
        .args(["-d", "@1577934245"]) // 2020-01-02 03:04:05 UTC
        .arg(ctx.join("dir/sub"))
        .status()
        .unwrap();
    assert!(st.success());
    // An archive with its own owners, which ADD keeps.
    let src = d.dir.path().join("tarsrc");
    write(&src, "in/f", "i\n");
    let st = std::process::Command::new("tar")
        .args(["--owner=7", "--group=8", "--numeric-owner", "-C"])
        .arg(&src)
        .arg("-czf")
        .arg(ctx.join("a.tar.gz"))
        .arg("in")
        .status()
        .unwrap();
    assert!(st.success());
    write(
        &ctx,
        "Dockerfile",
        &format!(
            r#"FROM {IMG}
RUN mkdir -p /o/sub && echo x > /o/f && chown 5:6 /o/f /o/sub && echo 'grp:x:3456:' >> /etc/group && echo 'app:x:1234:1000::/:/bin/sh' >> /etc/passwd && echo 'app:x:2345:' >> /etc/group
FROM {IMG}
COPY --from=0 /etc/passwd /etc/group /etc/
COPY --chown=app:grp f1 /a/
COPY --chown=app f1 /b/
COPY --chown=11 dir /d
COPY dir /plain
ADD a.tar.gz /opt/
COPY --from=0 /o /o2
"#
        ),
    );
    build(&d, &ctx, "own:1", &[]);
    let ls = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "own:1",
        "sh",
        "-c",
        "stat -c '%n %u:%g' /a /a/f1 /b/f1 /d /d/sub/y /plain/sub /opt/in /opt/in/f /o2/f /o2/sub; stat -c '%n %y' /plain/sub /d/sub",
    ]);
    let want = [
        "/a 1234:3456",
        "/a/f1 1234:3456",
        // A user alone is also the group's name (app:app), as dockerd reads it.
        "/b/f1 1234:2345",
        "/d 11:11",
        "/d/sub/y 11:11",
        "/plain/sub 0:0",
        "/opt/in 7:8",
        "/opt/in/f 7:8",
        "/o2/f 5:6",
        "/o2/sub 5:6",
    ];
    let lines: Vec<&str> = ls.lines().collect();
    assert_eq!(&lines[..want.len()], &want[..], "{ls}");
    assert!(
        lines[want.len()].starts_with("/plain/sub 2020-01-02 03:04:05"),
        "{ls}"
    );
    assert!(
        lines[want.len() + 1].starts_with("/d/sub 2020-01-02 03:04:05"),
        "{ls}"
    );
    let h = history(&d, "own:1");
    assert!(
        h[3].starts_with("/bin/sh -c #(nop) COPY --chown=11dir:"),
        "{h:#?}"
    );
    assert!(h[3].ends_with(" in /d "), "{h:#?}");
    assert!(
        h[4].starts_with("/bin/sh -c #(nop) COPY --chown=appfile:"),
        "{h:#?}"
    );
    // The destination as written, relative ones too.
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM {IMG}\nWORKDIR /w/x\nCOPY f1 ../sib/\nCOPY f1 .\n"),
    );
    build(&d, &ctx, "rel:1", &[]);
    let h = history(&d, "rel:1");
    assert!(h[0].ends_with(" in . "), "{h:#?}");
    assert!(h[1].ends_with(" in ../sib/ "), "{h:#?}");
}

#[test]
fn onbuild_triggers_and_failures_print_as_with_dockerd() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let ctx = d.dir.path().join("ctx");
    write(&ctx, "f1", "9\n");
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM {IMG}\nONBUILD RUN echo trig1\nONBUILD ENV T=1\n"),
    );
    build(&d, &ctx, "parent:1", &[]);
    write(&ctx, "Dockerfile", "FROM parent:1\nRUN echo T=$T\n");
    let out = build(&d, &ctx, "child:1", &[]);
    // One ` ---> id` for FROM and all its triggers, none for the base before them.
    let from = &out[out.find("Step 1/2").unwrap()..out.find("Step 2/2").unwrap()];
    assert_eq!(from.matches(" ---> Running in ").count(), 1, "{out}");
    assert_eq!(
        from.lines().filter(|l| l.starts_with(" ---> ")).count(),
        2,
        "{out}"
    );
    assert!(from.contains("# Executing 2 build triggers\n"), "{out}");
    assert!(out.contains("T=1\n"), "{out}");

    // Failures before any output are HTTP errors, which the CLI words its own way.
    let c = ctx.to_str().unwrap();
    for (df, msg) in [
        (
            "",
            "Error response from daemon: the Dockerfile (Dockerfile) cannot be empty",
        ),
        (
            "# only a comment\n",
            "Error response from daemon: failed to parse Dockerfile: file with no instructions",
        ),
        (
            "FROM x\nCOPY a\n",
            "Error response from daemon: dockerfile parse error line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined",
        ),
        ("FROM x\nENV\n", "ENV requires at least one argument"),
    ] {
        write(&ctx, "Dockerfile", df);
        d.fails(&["build", "--network", "none", c], msg);
    }
    write(&ctx, "Dockerfile", &format!("FROM {IMG} AS a\n"));
    d.fails(
        &["build", "--network", "none", "--target", "nope", c],
        "Error response from daemon: failed to reach build target nope in Dockerfile",
    );
    // Failures after some output come in the stream.
    for (df, msg) in [
        (
            "FROM scratch\n".to_owned(),
            "No image was generated. Is your Dockerfile empty?",
        ),
        (
            format!("FROM {IMG}\nEXPOSE abc\n"),
            "Invalid containerPort: abc",
        ),
        (format!("FROM {IMG}\nEXPOSE 80/xyz\n"), "Invalid proto: xyz"),
        (
            format!("FROM {IMG}\nCOPY http://127.0.0.1:1/x /x\n"),
            "COPY failed: source can't be a URL for COPY",
        ),
        (
            format!("FROM {IMG}\nCOPY --chown=nosuch f1 /x\n"),
            "unable to convert uid/gid chown string to host mapping: can't find uid for user nosuch: no such user: nosuch",
        ),
        (
            format!("FROM {IMG}\nCOPY --chown=root:nosuch f1 /x\n"),
            "can't find gid for group nosuch: no such group: nosuch",
        ),
    ] {
        write(&ctx, "Dockerfile", &df);
        let err = d.fails(&["build", "--network", "none", c], msg);
        assert!(!err.contains("Error response from daemon"), "{err}");
    }
    // A RUN's stderr is shown in red; a quiet build that fails shows what it held back,
    // and exits with the command's code.
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM {IMG}\nRUN echo out; echo err >&2; exit 4\n"),
    );
    let o = d.docker(&["build", "--network", "none", c]);
    assert_eq!(o.status.code(), Some(4));
    assert!(
        stdout(&o).contains("\x1b[91merr\n\x1b[0m"),
        "{}",
        stdout(&o)
    );
    let o = d.docker(&["build", "-q", "--network", "none", c]);
    assert_eq!(o.status.code(), Some(4));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("Step 2/2 : RUN echo out"), "{all}");
    assert!(all.contains("out\n"), "{all}");
    assert!(
        all.contains(
            "The command '/bin/sh -c echo out; echo err >&2; exit 4' returned a non-zero code: 4"
        ),
        "{all}"
    );
}
