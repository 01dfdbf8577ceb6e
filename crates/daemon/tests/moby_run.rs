//! Scenarios of moby's integration-cli run/create tests (`docker_cli_run_test.go`,
//! `docker_cli_create_test.go`, `docker_api_containers_test.go`) with the stock docker CLI
//! and raw API calls against berthd, asserting what those tests assert of dockerd: the
//! files berthd writes into a container, users and groups, `--network none` and
//! `container:` modes, mounts, `--volumes-from` modes and the create body's old forms.

mod common;

use std::io::{Read, Write};

use common::*;

/// A JSON request on berthd's socket (HTTP/1.0: no chunking): status and body.
fn api(d: &Daemon, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "{method} /v1.45{path} HTTP/1.0\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or_default();
    (status, body.to_owned())
}

/// The `Id` of a create answer, asserting a 201.
fn created(d: &Daemon, body: &str) -> String {
    let (status, out) = api(d, "POST", "/containers/create", body);
    assert_eq!(status, 201, "create {body}: {out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["Id"].as_str().unwrap().to_owned()
}

#[test]
fn run_sees_the_files_users_and_namespaces_dockerd_gives() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let run = |args: &[&str]| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend_from_slice(args);
        d.ok(&a)
    };
    let run_fails = |args: &[&str], needle: &str| {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend_from_slice(args);
        d.fails(&a, needle)
    };

    // TestRunLoopbackWhenNetworkDisabled, TestRunLoopbackOnlyExistsWhenNetworkingDisabled:
    // --network none has a working, up loopback.
    run(&[IMG, "ping", "-c", "1", "127.0.0.1"]);
    let up = run(&[IMG, "ip", "-o", "-4", "a", "show", "up"]);
    assert!(up.starts_with("1: lo") && up.lines().count() == 1, "{up}");

    // The kernel file systems carry Docker's default spec's options (runc's template has
    // none for /proc).
    let mounts = run(&[IMG, "cat", "/proc/self/mounts"]);
    for want in [
        "proc /proc proc rw,nosuid,nodev,noexec,",
        "sysfs /sys sysfs ro,nosuid,nodev,noexec,",
        "shm /dev/shm tmpfs rw,nosuid,nodev,noexec,",
        "mqueue /dev/mqueue mqueue rw,nosuid,nodev,noexec,",
        "tmpfs /dev tmpfs rw,nosuid,",
    ] {
        assert!(mounts.contains(want), "{want:?} not in\n{mounts}");
    }

    // TestRunDnsOptions: --dns and --dns-search shape resolv.conf in every mode; `.` means
    // no search domain.
    let rc = run(&[
        "--dns=127.0.0.1",
        "--dns-search=mydomain",
        IMG,
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(
        rc.contains("nameserver 127.0.0.1") && rc.contains("search mydomain"),
        "{rc}"
    );
    let rc = run(&[
        "--dns=127.0.0.1",
        "--dns-search=.",
        IMG,
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(
        rc.contains("nameserver 127.0.0.1") && !rc.contains("search"),
        "{rc}"
    );

    // TestRunContainerWithReadonlyRootfs and its --dns/--add-host variants: the files are
    // read-only too, and still carry the options.
    for f in ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"] {
        run_fails(&["--read-only", IMG, "touch", f], "Read-only file system");
    }
    let rc = run(&[
        "--read-only",
        "--dns",
        "1.1.1.1",
        IMG,
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(rc.contains("nameserver 1.1.1.1"), "{rc}");

    // TestRunCreateVolumeEtc: a volume at /etc does not hide the files.
    let h = run(&["-h", "test123", "-v", "/etc", IMG, "cat", "/etc/hostname"]);
    assert_eq!(h, "test123");
    let hosts = run(&[
        "--add-host=test:192.168.0.1",
        "-v",
        "/etc",
        IMG,
        "cat",
        "/etc/hosts",
    ]);
    assert!(
        hosts.contains("192.168.0.1\ttest") && hosts.contains("127.0.0.1\tlocalhost"),
        "{hosts}"
    );

    // TestRunModeNetContainerHostname: a container on another's network has its hostname.
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "-h",
        "foo",
        "--name",
        "parent",
        IMG,
        "sleep",
        "300",
    ]);
    let h = d.ok(&[
        "run",
        "--rm",
        "--network=container:parent",
        IMG,
        "sh",
        "-c",
        "cat /etc/hostname; hostname",
    ]);
    assert_eq!(h, "foo\nfoo");
    // TestRunContainerNetModeWithExposePort.
    d.fails(
        &[
            "run",
            "--expose",
            "80",
            "--network=container:parent",
            IMG,
            "true",
        ],
        "conflicting options: port exposing and the container type network mode",
    );
    d.fails(
        &["run", "-P", "--network=container:parent", IMG, "true"],
        "conflicting options: port publishing and the container type network mode",
    );
    // TestContainerNetworkModeToSelf.
    d.fails(
        &["run", "--name=me", "--network=container:me", IMG, "true"],
        "cannot join own network",
    );

    // TestRunUserDefaultsToRoot, TestRunUserByIDZero: the primary group is a supplementary
    // group too (dockerd's additional gids), then the groups listing the user.
    assert_eq!(run(&[IMG, "id"]), "uid=0(root) gid=0(root) groups=0(root)");
    assert_eq!(
        run(&["-u", "user1", IMG, "id"]),
        "uid=1000(user1) gid=1000(user1) groups=1000(user1),2000(extra)"
    );
    // An explicit group (name or number) drops the groups of /etc/group that list the user
    // (runc's GetExecUser), --group-add still adds its own; a numeric user is looked up in
    // passwd and gets them as a name would. What dockerd 20.10 and 28 show.
    for (u, want) in [
        (
            "1000",
            "uid=1000(user1) gid=1000(user1) groups=1000(user1),2000(extra)",
        ),
        (
            "user1:user1",
            "uid=1000(user1) gid=1000(user1) groups=1000(user1)",
        ),
        (
            "1000:1000",
            "uid=1000(user1) gid=1000(user1) groups=1000(user1)",
        ),
        ("user1:0", "uid=1000(user1) gid=0(root) groups=0(root)"),
        (
            "user1:extra",
            "uid=1000(user1) gid=2000(extra) groups=2000(extra)",
        ),
        // An empty group is none; an empty user is root.
        (
            "user1:",
            "uid=1000(user1) gid=1000(user1) groups=1000(user1),2000(extra)",
        ),
        (":extra", "uid=0(root) gid=2000(extra) groups=2000(extra)"),
    ] {
        assert_eq!(run(&["-u", u, IMG, "id"]), want, "-u {u}");
    }
    assert_eq!(
        run(&["-u", "user1:user1", "--group-add", "3000", IMG, "id"]),
        "uid=1000(user1) gid=1000(user1) groups=1000(user1),3000"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ug",
        "--network",
        "none",
        IMG,
        "sleep",
        "60",
    ]);
    assert_eq!(
        d.ok(&["exec", "-u", "user1:0", "ug", "id"]),
        "uid=1000(user1) gid=0(root) groups=0(root)"
    );
    d.ok(&["rm", "-f", "ug"]);
    // TestRunUserByIDBig, TestRunUserByIDNegative.
    for u in ["2147483648", "-1"] {
        run_fails(
            &["-u", u, IMG, "id"],
            "uids and gids must be in range 0-2147483647",
        );
    }
    // TestRunEnvironment: an empty HOME is replaced by the user's home.
    let env = run(&["-e", "HOME=", IMG, "env"]);
    assert!(env.lines().any(|l| l == "HOME=/root"), "{env}");
    // TestRunInvalidCPUShares, on cgroup v1 (the kernel clamps; runc refuses the result).
    if std::path::Path::new("/sys/fs/cgroup/cpu/cpu.shares").exists() {
        run_fails(
            &["--cpu-shares", "1", IMG, "true"],
            "the minimum allowed cpu-shares is 2",
        );
        run_fails(
            &["--cpu-shares", "99999999", IMG, "true"],
            "the maximum allowed cpu-shares is",
        );
    }
    // TestRunModeUTSHost's conflict, TestRunModeIpcNone: no /dev/shm.
    run_fails(
        &["--uts", "host", "-h", "foo", IMG, "true"],
        "conflicting options: hostname and the UTS mode",
    );
    run_fails(
        &["--ipc", "none", IMG, "ls", "/dev/shm"],
        "No such file or directory",
    );
    // TestRunWorkdirExistsAndIsFile, TestRunWithBadDevice.
    run_fails(
        &["-w", "/bin/cat", IMG, "true"],
        "Cannot mkdir: /bin/cat is not a directory",
    );
    run_fails(
        &["--device", "/etc", IMG, "true"],
        "\"/etc\": not a device node",
    );
}

#[test]
fn create_checks_mounts_and_takes_old_api_forms_as_dockerd() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let tmp = d.dir.path().join("binds");
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());

    // A cgroup namespace mode dockerd does not know.
    let (status, body) = api(
        &d,
        "POST",
        "/containers/create",
        &format!(r#"{{"Image":"{IMG}","Cmd":["true"],"HostConfig":{{"CgroupnsMode":"weird"}}}}"#),
    );
    assert_eq!(
        (status, body.trim()),
        (400, r#"{"message":"invalid cgroup namespace mode: weird"}"#)
    );

    // TestRunNoDupVolumes.
    d.fails(
        &[
            "create",
            "-v",
            &format!("{a}:/someplace"),
            "-v",
            &format!("{b}:/someplace/"),
            IMG,
            "true",
        ],
        "Duplicate mount point: /someplace",
    );
    // TestRunVolumesFromInReadWriteMode, TestVolumesFromGetsProperMode.
    d.ok(&["create", "--name", "parent", "-v", "/test", IMG, "true"]);
    d.fails(
        &["create", "--volumes-from", "parent:bar", IMG, "true"],
        "invalid mode: bar",
    );
    d.ok(&[
        "create",
        "--name",
        "roparent",
        "-v",
        &format!("{a}:/test:ro"),
        IMG,
        "true",
    ]);
    d.fails(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--volumes-from",
            "roparent:rw",
            IMG,
            "touch",
            "/test/file",
        ],
        "Read-only file system",
    );
    // TestRunVolumesCleanPaths.
    d.ok(&[
        "create", "--name", "clean", "-v", "/foo", "-v", "/bar/", IMG, "true",
    ]);
    assert_eq!(
        d.inspect("clean", "{{range .Mounts}}{{.Destination}} {{end}}"),
        "/bar /foo"
    );
    // TestCreateWithWorkdir: the working directory exists once created.
    d.ok(&["create", "--name", "wd", "-w", "/home/foo/bar", IMG, "true"]);
    let dest = tmp.join("cp");
    d.ok(&["cp", "wd:/home/foo/bar", dest.to_str().unwrap()]);
    assert!(dest.is_dir());
    // A working directory through a symlink of the image stays under it (made at the start
    // in the merged view, not as a directory in the container's layer hiding the link).
    let df = format!("FROM {IMG}\nRUN mkdir -p /srv/app && ln -s /srv/app /app\n");
    let out = d.docker_stdin(&["build", "-q", "-t", "lnk", "-"], Some(df.as_bytes()));
    assert!(out.status.success(), "build: {}", common::stderr(&out));
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-w",
            "/app/sub",
            "lnk",
            "sh",
            "-c",
            "readlink /app; pwd -P"
        ]),
        "/srv/app\n/srv/app/sub"
    );
    // TestRunWithBlkioWeight: where the blkio cgroup has no weight file, the weight is
    // dropped with dockerd's warning instead of failing the start.
    let cg = std::path::Path::new("/sys/fs/cgroup");
    let weight = match std::fs::read_to_string(cg.join("cgroup.controllers")) {
        Ok(c) => c.split_whitespace().any(|x| x == "io"),
        Err(_) => ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .any(|f| cg.join("blkio").join(f).exists()),
    };
    let out = d.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        "bw",
        "--blkio-weight",
        "300",
        IMG,
        "true",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).contains("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."),
        !weight,
        "{}",
        stderr(&out)
    );
    let want = if weight { "300" } else { "0" };
    assert_eq!(d.inspect("bw", "{{.HostConfig.BlkioWeight}}"), want);
    // TestRunTmpfsMounts, TestRunWithDefaultShmSize.
    d.fails(
        &["create", "--tmpfs", "/run:foobar", IMG, "true"],
        "invalid tmpfs option [\"foobar\"]",
    );
    d.fails(
        &[
            "create",
            "--tmpfs",
            "/run",
            "-v",
            &format!("{a}:/run"),
            IMG,
            "true",
        ],
        "Duplicate mount point: /run",
    );
    assert_eq!(d.inspect("bw", "{{.HostConfig.ShmSize}}"), "67108864");
    // TestCreate64ByteHexID.
    let id = d.inspect(IMG, "{{.Id}}");
    d.ok(&["create", id.trim_start_matches("sha256:"), "true"]);

    // TestContainerAPICreateWithCpuSharesCpuset, TestCreateWithTooLowMemoryLimit: HostConfig
    // fields at the top level of the body.
    let id = created(
        &d,
        &format!(r#"{{"Image":"{IMG}","Cmd":["true"],"CpuShares":512,"CpusetCpus":"0"}}"#),
    );
    assert_eq!(
        d.inspect(&id, "{{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}}"),
        "512 0"
    );
    let (status, out) = api(
        &d,
        "POST",
        "/containers/create",
        &format!(r#"{{"Image":"{IMG}","Cmd":["true"],"Memory":524287}}"#),
    );
    assert!(
        status == 400 && out.contains("Minimum memory limit allowed is 6MB"),
        "{status} {out}"
    );
    // TestPostContainerAPICreateWithStringOrSliceEntrypoint, ...StringOrSliceCapAddDrop: a
    // string is a list of one, not a shell command.
    let id = created(
        &d,
        &format!(
            r#"{{"Image":"{IMG}","Entrypoint":"echo","Cmd":"hello world","HostConfig":{{"NetworkMode":"none","CapAdd":"NET_ADMIN","CapDrop":"SYS_ADMIN"}}}}"#
        ),
    );
    assert_eq!(d.ok(&["start", "-a", &id]), "hello world");
    assert_eq!(
        d.inspect(&id, "{{json .Config.Cmd}} {{json .HostConfig.CapAdd}}"),
        r#"["hello world"] ["NET_ADMIN"]"#
    );
    // TestContainerAPIStatsWithNetworkDisabled: no interface but lo.
    let id = created(
        &d,
        &format!(r#"{{"Image":"{IMG}","Cmd":["ip","-o","-4","a"],"NetworkDisabled":true}}"#),
    );
    let out = d.ok(&["start", "-a", &id]);
    assert!(
        out.starts_with("1: lo") && out.lines().count() == 1,
        "{out}"
    );

    // TestContainersAPICreateMountsCreate, ...MountsTmpfs, ...MountsValidation.
    let id = created(
        &d,
        &format!(
            r#"{{"Image":"{IMG}","Cmd":["true"],"HostConfig":{{"NetworkMode":"none","Mounts":[{{"Type":"volume","Target":"/foo/"}}]}}}}"#
        ),
    );
    assert_eq!(
        d.inspect(
            &id,
            "{{range .Mounts}}{{.Destination}} {{.Mode}} {{.RW}}{{end}}"
        ),
        "/foo z true"
    );
    let id = created(
        &d,
        &format!(
            r#"{{"Image":"{IMG}","Cmd":["sh","-c","mount | grep 'tmpfs on /foo'"],"HostConfig":{{"NetworkMode":"none","Mounts":[{{"Type":"tmpfs","Target":"/foo","TmpfsOptions":{{"SizeBytes":4194304,"Mode":448}}}}]}}}}"#
        ),
    );
    let out = d.ok(&["start", "-a", &id]);
    assert!(
        out.contains("size=4096k") && out.contains("mode=700"),
        "{out}"
    );
    let (status, out) = api(
        &d,
        "POST",
        "/containers/create",
        &format!(
            r#"{{"Image":"{IMG}","Cmd":["true"],"HostConfig":{{"Mounts":[{{"Type":"bind","Source":"{a}","Target":"/foo","VolumeOptions":{{}}}}]}}}}"#
        ),
    );
    assert!(
        status == 400 && out.contains("field VolumeOptions must not be specified"),
        "{status} {out}"
    );
}

/// A tmpfs mounted at `dir` with the propagation `how` (`--make-shared`, ...); the daemon's
/// drop detaches it with everything else under its directory.
fn propagating_tmpfs(dir: &std::path::Path, how: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let mount = |args: &[&str]| {
        let st = std::process::Command::new("mount")
            .args(args)
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount {args:?} {}", dir.display());
    };
    mount(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"]);
    mount(&[how]);
}

/// `--mount type=bind,bind-propagation=...` takes effect as `-v src:dst:rslave` does (shown
/// in inspect, mounts propagate), dockerd's checks of the source's propagation at start,
/// and the options dockerd refuses on mounts of another type and on `--volumes-from`.
#[test]
fn bind_propagation_and_mount_options_are_checked_as_dockerd() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let shared = d.dir.path().join("prop-shared");
    let private = d.dir.path().join("prop-private");
    propagating_tmpfs(&shared, "--make-shared");
    propagating_tmpfs(&private, "--make-private");
    std::fs::create_dir(shared.join("sub")).unwrap();
    let (s, p) = (shared.to_str().unwrap(), private.to_str().unwrap());
    let bind =
        |src: &str, prop: &str| format!("type=bind,src={src},dst=/x,bind-propagation={prop}");

    // A mount made on the host under a slave bind shows up in the container.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "sl",
        "--network",
        "none",
        "--mount",
        &bind(s, "rslave"),
        IMG,
        "sleep",
        "600",
    ]);
    assert_eq!(
        d.inspect("sl", "{{range .Mounts}}{{.Propagation}}{{end}}"),
        "rslave"
    );
    propagating_tmpfs(&shared.join("sub"), "--make-shared");
    std::fs::write(shared.join("sub/hello"), "").unwrap();
    assert_eq!(d.ok(&["exec", "sl", "ls", "/x/sub"]), "hello");
    d.ok(&["rm", "-f", "sl"]);
    // Any mode is kept; those that need it are refused where the source is private.
    d.ok(&[
        "create",
        "--name",
        "pv",
        "--mount",
        &bind(p, "private"),
        IMG,
        "true",
    ]);
    assert_eq!(
        d.inspect("pv", "{{range .Mounts}}{{.Propagation}} {{.RW}}{{end}}"),
        "private true"
    );
    d.fails(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--mount",
            &bind(p, "rshared"),
            IMG,
            "true",
        ],
        &format!("path {p} is mounted on {p} but it is not a shared mount"),
    );
    d.fails(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &format!("{p}:/x:rslave"),
            IMG,
            "true",
        ],
        &format!("path {p} is mounted on {p} but it is not a shared or slave mount"),
    );
    // `-v` options of the other mount type.
    d.fails(
        &["create", "-v", &format!("{p}:/x:nocopy"), IMG, "true"],
        &format!("invalid volume specification: '{p}:/x:nocopy': invalid mount config for type \"bind\": field VolumeOptions must not be specified"),
    );
    d.fails(
        &["create", "-v", "vol1:/x:rshared", IMG, "true"],
        "invalid volume specification: 'vol1:/x:rshared': invalid mount config for type \"volume\": field BindOptions must not be specified",
    );
    // `--volumes-from` takes ro/rw, z/Z and a consistency, not a propagation or nocopy.
    d.ok(&[
        "create",
        "--name",
        "data",
        "-v",
        &format!("{p}:/data"),
        IMG,
        "true",
    ]);
    for m in ["ro", "z", "ro,Z", "cached"] {
        d.ok(&[
            "create",
            "--volumes-from",
            &format!("data:{m}"),
            IMG,
            "true",
        ]);
    }
    for m in ["rshared", "ro,rslave", "nocopy", "rw,nocopy"] {
        d.fails(
            &[
                "create",
                "--volumes-from",
                &format!("data:{m}"),
                IMG,
                "true",
            ],
            &format!("invalid mode: {m}"),
        );
    }
    // API mounts with the options of another type (the docker CLI does not send these).
    for (mount, want) in [
        (
            r#"{"Type":"tmpfs","Target":"/foo","VolumeOptions":{}}"#.to_owned(),
            r#"invalid mount config for type \"tmpfs\": field VolumeOptions must not be specified"#,
        ),
        (
            format!(r#"{{"Type":"bind","Source":"{p}","Target":"/foo","TmpfsOptions":{{}}}}"#),
            r#"invalid mount config for type \"bind\": field TmpfsOptions must not be specified"#,
        ),
        (
            r#"{"Type":"volume","Target":"/foo","TmpfsOptions":{"SizeBytes":1024}}"#.to_owned(),
            r#"invalid mount config for type \"volume\": field TmpfsOptions must not be specified"#,
        ),
        (
            format!(
                r#"{{"Type":"bind","Source":"{p}","Target":"/foo","BindOptions":{{"Propagation":"bogus"}}}}"#
            ),
            r#"invalid mount config for type \"bind\": invalid propagation mode: bogus"#,
        ),
    ] {
        let (status, out) = api(
            &d,
            "POST",
            "/containers/create",
            &format!(r#"{{"Image":"{IMG}","Cmd":["true"],"HostConfig":{{"Mounts":[{mount}]}}}}"#),
        );
        assert!(
            status == 400 && out.contains(want),
            "{mount}: {status} {out}"
        );
    }
}

/// Read-only binds are recursively read-only, as dockerd 25+ makes them on a kernel with
/// mount_setattr: a mount under the source (here a tmpfs) is read-only in the container too,
/// for `-v src:dst:ro` and `--mount ...,readonly`; `bind-recursive=` gives dockerd's other
/// modes (`writable`: only the top read-only, `disabled`: no submounts, `readonly`: forced),
/// and an API client gets dockerd's start-time conflicts of those options.
#[test]
fn rro_read_only_binds_are_recursively_read_only() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let src = d.dir.path().join("rro-src");
    propagating_tmpfs(&src.join("sub"), "--make-private");
    std::fs::write(src.join("sub/f"), "under").unwrap();
    let s = src.to_str().unwrap();
    // Writes to the top and to the submount, and whether the submount is there at all.
    let probe = "touch /x/top 2>/dev/null && echo top-rw || echo top-ro; \
                 touch /x/sub/new 2>/dev/null && echo sub-rw || echo sub-ro; \
                 cat /x/sub/f 2>/dev/null || echo no-sub";
    let run = |mount: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(mount);
        args.extend_from_slice(&[IMG, "sh", "-c", probe]);
        d.ok(&args)
    };
    let ro_v = format!("{s}:/x:ro");
    assert_eq!(run(&["-v", &ro_v]), "top-ro\nsub-ro\nunder");
    let m = |extra: &str| format!("type=bind,src={s},dst=/x{extra}");
    assert_eq!(run(&["--mount", &m(",readonly")]), "top-ro\nsub-ro\nunder");
    assert_eq!(
        run(&[
            "--mount",
            &m(",readonly,bind-recursive=readonly,bind-propagation=rprivate")
        ]),
        "top-ro\nsub-ro\nunder"
    );
    assert_eq!(
        run(&["--mount", &m(",readonly,bind-recursive=writable")]),
        "top-ro\nsub-rw\nunder"
    );
    assert_eq!(
        run(&["--mount", &m(",readonly,bind-recursive=disabled")]),
        "top-ro\nsub-ro\nno-sub"
    );
    assert_eq!(
        run(&["--mount", &m(",bind-recursive=disabled")]),
        "top-rw\nsub-rw\nno-sub"
    );
    assert_eq!(run(&["--mount", &m("")]), "top-rw\nsub-rw\nunder");
    // Inspect shows the options as given, the mount point as dockerd shows it.
    d.ok(&[
        "create",
        "--name",
        "rw-nr",
        "--mount",
        &m(",readonly,bind-recursive=writable"),
        IMG,
        "true",
    ]);
    assert_eq!(
        d.inspect("rw-nr", "{{json .HostConfig.Mounts}}"),
        format!(
            r#"[{{"Type":"bind","Source":"{s}","Target":"/x","ReadOnly":true,"BindOptions":{{"ReadOnlyNonRecursive":true}}}}]"#
        )
    );
    assert_eq!(
        d.inspect(
            "rw-nr",
            "{{range .Mounts}}{{.Mode}}|{{.RW}}|{{.Propagation}}{{end}}"
        ),
        "|false|rprivate"
    );
    // Option conflicts the docker CLI refuses itself reach dockerd from API clients: the
    // container is created and its start fails.
    for (opts, want) in [
        (
            r#""ReadOnly":false,"BindOptions":{"ReadOnlyNonRecursive":true}"#,
            "mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive",
        ),
        (
            r#""ReadOnly":false,"BindOptions":{"ReadOnlyForceRecursive":true}"#,
            "mount options conflict: !ReadOnly && BindOptions.ReadOnlyForceRecursive",
        ),
        (
            r#""ReadOnly":true,"BindOptions":{"ReadOnlyNonRecursive":true,"ReadOnlyForceRecursive":true}"#,
            "mount options conflict: ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive",
        ),
    ] {
        let id = created(
            &d,
            &format!(
                r#"{{"Image":"{IMG}","Cmd":["true"],"HostConfig":{{"NetworkMode":"none","Mounts":[{{"Type":"bind","Source":"{s}","Target":"/x",{opts}}}]}}}}"#
            ),
        );
        let (status, out) = api(&d, "POST", &format!("/containers/{id}/start"), "");
        assert!(
            status == 500 && out.contains(want),
            "{opts}: {status} {out}"
        );
    }
}

/// BindOptions.CreateMountpoint (`bind-create-src` of later docker CLIs; v28 has no
/// spelling for it, so the API is used) makes a missing source directory, as dockerd does;
/// without it a missing source is refused.
#[test]
fn bind_create_src_makes_the_missing_source() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let src = d.dir.path().join("made/by/berthd");
    let s = src.to_str().unwrap();
    d.fails(
        &[
            "create",
            "--mount",
            &format!("type=bind,src={s},dst=/x"),
            IMG,
            "true",
        ],
        &format!("invalid mount config for type \"bind\": bind source path does not exist: {s}"),
    );
    let body = |opts: &str| {
        format!(
            r#"{{"Image":"{IMG}","Cmd":["sh","-c","echo hi > /x/f && cat /x/f"],"HostConfig":{{"NetworkMode":"none","Mounts":[{{"Type":"bind","Source":"{s}","Target":"/x"{opts}}}]}}}}"#
        )
    };
    let (status, out) = api(
        &d,
        "POST",
        "/containers/create",
        &body(r#","BindOptions":{"CreateMountpoint":false}"#),
    );
    assert!(
        status == 400 && out.contains(&format!("bind source path does not exist: {s}")),
        "{status} {out}"
    );
    assert!(!src.exists());
    let id = created(&d, &body(r#","BindOptions":{"CreateMountpoint":true}"#));
    assert_eq!(d.ok(&["start", "-a", &id]), "hi");
    assert!(src.is_dir());
    assert_eq!(std::fs::read_to_string(src.join("f")).unwrap(), "hi\n");
    assert_eq!(
        d.inspect(&id, "{{json .HostConfig.Mounts}}"),
        format!(
            r#"[{{"Type":"bind","Source":"{s}","Target":"/x","BindOptions":{{"CreateMountpoint":true}}}}]"#
        )
    );
}
