//! Volumes through the stock docker CLI against berthd: create/ls/inspect/rm/prune, content
//! kept across containers, anonymous volumes, copy-up from the image, --volumes-from,
//! tmpfs and bind-backed volumes; and `system df`.

mod common;

use common::{Daemon, IMG, stderr};

const NONE: [&str; 2] = ["--network", "none"];

fn run(d: &Daemon, args: &[&str]) -> String {
    let mut a = vec!["run"];
    a.extend_from_slice(&NONE);
    a.extend_from_slice(args);
    d.ok(&a)
}

fn volumes(d: &Daemon, args: &[&str]) -> Vec<String> {
    let mut a = vec!["volume", "ls", "-q"];
    a.extend_from_slice(args);
    let mut v: Vec<String> = d.ok(&a).lines().map(str::to_owned).collect();
    v.sort();
    v
}

fn mounted(path: &std::path::Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let p = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(&p))
}

#[test]
fn volume_lifecycle_and_content_kept_across_containers() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    assert_eq!(
        d.ok(&["volume", "create", "--label", "team=blue", "data1"]),
        "data1"
    );
    let anon = d.ok(&["volume", "create"]);
    assert_eq!(anon.len(), 64, "{anon}");
    let f = |fmt: &str| d.ok(&["volume", "inspect", "-f", fmt, "data1"]);
    assert_eq!(
        f("{{.Driver}} {{.Scope}} {{.Labels.team}}"),
        "local local blue"
    );
    assert_eq!(
        f("{{.Mountpoint}}"),
        d.data.join("volumes/data1/_data").display().to_string()
    );
    assert!(f("{{.CreatedAt}}").starts_with("20"));
    // Creating it again returns the same volume.
    assert_eq!(d.ok(&["volume", "create", "data1"]), "data1");

    let mut both = vec!["data1".to_owned(), anon.clone()];
    both.sort();
    assert_eq!(volumes(&d, &[]), both);
    assert_eq!(volumes(&d, &["-f", "label=team=blue"]), ["data1"]);
    assert_eq!(volumes(&d, &["-f", "name=ata"]), ["data1"]);
    assert_eq!(volumes(&d, &["-f", "driver=local"]), both);
    assert_eq!(volumes(&d, &["-f", "dangling=true"]), both);

    // Content outlives the container that wrote it.
    run(
        &d,
        &[
            "--name",
            "w1",
            "-v",
            "data1:/data",
            IMG,
            "sh",
            "-c",
            "echo persisted > /data/f",
        ],
    );
    d.ok(&["rm", "w1"]);
    assert_eq!(
        run(&d, &["--rm", "-v", "data1:/data", IMG, "cat", "/data/f"]),
        "persisted"
    );
    assert!(d.data.join("volumes/data1/_data/f").exists());

    // In use: refused (even forced, as Docker's); dangling no more.
    d.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "holder",
        "-v",
        "data1:/d",
        IMG,
        "true",
    ]);
    let out = d.docker(&["volume", "rm", "data1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("volume is in use"),
        "{}",
        stderr(&out)
    );
    assert!(!d.docker(&["volume", "rm", "-f", "data1"]).status.success());
    assert_eq!(volumes(&d, &["-f", "dangling=true"]), [anon.as_str()]);
    assert_eq!(volumes(&d, &["-f", "dangling=false"]), ["data1"]);
    d.ok(&["rm", "holder"]);
    assert_eq!(
        d.ok(&["volume", "rm", "data1", &anon]),
        format!("data1\n{anon}")
    );
    assert!(!d.data.join("volumes/data1").exists());
    assert!(stderr(&d.docker(&["volume", "inspect", "data1"])).contains("no such volume"));
    assert!(!d.docker(&["volume", "rm", "nosuch"]).status.success());
    d.ok(&["volume", "rm", "-f", "nosuch"]);
    assert!(!d.docker(&["volume", "create", "bad/name"]).status.success());
    assert!(
        !d.docker(&["volume", "create", "-d", "nodriver", "x1"])
            .status
            .success()
    );
    assert!(
        !d.docker(&["volume", "create", "-o", "bogus=1", "x2"])
            .status
            .success()
    );

    let now = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let ev = d.ok(&[
        "events",
        "--since",
        &t0,
        "--until",
        &now,
        "--filter",
        "type=volume",
        "--format",
        "{{.Action}} {{.Actor.ID}}",
    ]);
    for want in [
        "create data1",
        "mount data1",
        "unmount data1",
        "destroy data1",
    ] {
        assert!(ev.contains(want), "{want} missing from:\n{ev}");
    }
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_rm_and_prune_keeps_named_ones() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    d.ok(&["volume", "create", "keepme"]);
    run(
        &d,
        &[
            "--name",
            "v1",
            "-v",
            "/anon",
            "-v",
            "named1:/n",
            IMG,
            "true",
        ],
    );
    let anon = d.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{if eq .Destination \"/anon\"}}{{.Name}}{{end}}{{end}}",
        "v1",
    ]);
    assert_eq!(anon.len(), 64);
    assert_eq!(
        d.ok(&["volume", "inspect", "-f", "{{json .Labels}}", &anon]),
        r#"{"com.docker.volume.anonymous":""}"#
    );
    d.ok(&["rm", "-v", "v1"]);
    assert_eq!(volumes(&d, &[]), ["keepme", "named1"]);

    // --rm removes the anonymous volumes too.
    run(&d, &["--rm", "-v", "/anon2", IMG, "true"]);
    assert_eq!(volumes(&d, &[]), ["keepme", "named1"]);

    // Without -v the anonymous volume stays, and prune takes only it.
    run(
        &d,
        &[
            "--name",
            "v2",
            "--mount",
            "type=volume,target=/m",
            IMG,
            "true",
        ],
    );
    d.ok(&["rm", "v2"]);
    assert_eq!(volumes(&d, &[]).len(), 3);
    let out = d.ok(&["volume", "prune", "-f"]);
    assert!(out.contains("Deleted Volumes"), "{out}");
    assert_eq!(volumes(&d, &[]), ["keepme", "named1"]);
    // all=true takes the unused named ones too; a used one stays.
    d.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "user",
        "-v",
        "named1:/n",
        IMG,
        "true",
    ]);
    let out = d.ok(&["volume", "prune", "-a", "-f"]);
    assert!(out.contains("keepme"), "{out}");
    assert_eq!(volumes(&d, &[]), ["named1"]);
    // Clients of API < 1.42 get the older rule: every unused volume goes.
    d.ok(&["volume", "create", "old1"]);
    let out = std::process::Command::new("docker")
        .args(["volume", "prune", "-f"])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_API_VERSION", "1.41")
        .env("DOCKER_CONFIG", d.dir.path().join("dockercfg"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(volumes(&d, &[]), ["named1"]);
}

#[test]
fn image_content_is_copied_into_new_volumes_and_volumes_from_shares_them() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    run(
        &d,
        &[
            "--name",
            "src",
            IMG,
            "sh",
            "-c",
            "mkdir -p /seed && echo from-image > /seed/file",
        ],
    );
    d.ok(&["commit", "--change", "VOLUME /seed", "src", "seeded:1"]);
    // A new named volume gets the image's files at its mount path.
    assert_eq!(
        run(
            &d,
            &[
                "--rm",
                "-v",
                "seedvol:/seed",
                "seeded:1",
                "cat",
                "/seed/file"
            ]
        ),
        "from-image"
    );
    // Unless the mount says nocopy (either syntax).
    assert_eq!(
        run(
            &d,
            &[
                "--rm",
                "-v",
                "nc1:/seed:nocopy",
                "seeded:1",
                "ls",
                "-A",
                "/seed"
            ]
        ),
        ""
    );
    let m = "type=volume,src=nc2,dst=/seed,volume-nocopy";
    assert_eq!(
        run(&d, &["--rm", "--mount", m, "seeded:1", "ls", "-A", "/seed"]),
        ""
    );
    // Then it is the volume's content that counts.
    run(
        &d,
        &[
            "--rm",
            "-v",
            "seedvol:/seed",
            "seeded:1",
            "sh",
            "-c",
            "echo changed > /seed/file",
        ],
    );
    assert_eq!(
        run(
            &d,
            &[
                "--rm",
                "-v",
                "seedvol:/seed",
                "seeded:1",
                "cat",
                "/seed/file"
            ]
        ),
        "changed"
    );
    // The image's VOLUME gets an anonymous volume with the same copy.
    run(
        &d,
        &[
            "--name",
            "prov",
            "-v",
            "shared1:/shared",
            "seeded:1",
            "sh",
            "-c",
            "echo hi > /shared/x",
        ],
    );
    assert_eq!(
        run(
            &d,
            &[
                "--rm",
                "--volumes-from",
                "prov",
                IMG,
                "cat",
                "/shared/x",
                "/seed/file"
            ]
        ),
        "hi\nfrom-image"
    );
    let out = d.docker(&[
        "run",
        "--network",
        "none",
        "--rm",
        "--volumes-from",
        "prov:ro",
        IMG,
        "touch",
        "/shared/y",
    ]);
    assert!(!out.status.success(), "read-only --volumes-from");
    let out = d.docker(&[
        "run",
        "--pull",
        "never",
        "--network",
        "none",
        "--rm",
        "--volumes-from",
        "nosuch",
        IMG,
        "true",
    ]);
    assert!(
        stderr(&out).contains("No such container"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn tmpfs_and_bind_backed_volumes_mount_while_used() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    d.ok(&[
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=1m",
        "tmpv",
    ]);
    assert_eq!(
        d.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Options.type}} {{.Options.o}}",
            "tmpv"
        ]),
        "tmpfs size=1m"
    );
    let data = d.data.join("volumes/tmpv/_data");
    let out = run(
        &d,
        &[
            "--rm",
            "-v",
            "tmpv:/t",
            IMG,
            "sh",
            "-c",
            "grep ' /t ' /proc/mounts | cut -d' ' -f3; dd if=/dev/zero of=/t/big bs=1k count=2048 2>/dev/null || echo full",
        ],
    );
    assert_eq!(out, "tmpfs\nfull");
    assert!(
        d.eventually(10, || !mounted(&data)),
        "tmpfs volume unmounted after use"
    );
    // Options the kernel refuses fail the start in dockerd's words.
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=bogus",
        "badv",
    ]);
    let err = d.fails(
        &["run", "--rm", "-v", "badv:/t", IMG, "true"],
        "failed to mount",
    );
    let badv = d.data.join("volumes/badv/_data");
    assert!(
        err.contains(&format!(
            "error while mounting volume '{0}': failed to mount local volume: mount tmpfs:{0}, data: bogus: invalid argument",
            badv.display()
        )),
        "{err}"
    );
    d.ok(&["volume", "rm", "badv"]);
    // The same through --mount, which creates the volume with its options and labels.
    let m = "type=volume,src=mtmp,dst=/t,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-label=k=v";
    let out = run(
        &d,
        &[
            "--rm",
            "--mount",
            m,
            IMG,
            "sh",
            "-c",
            "grep ' /t ' /proc/mounts | cut -d' ' -f3",
        ],
    );
    assert_eq!(out, "tmpfs");
    assert_eq!(
        d.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Options.type}} {{.Labels.k}}",
            "mtmp"
        ]),
        "tmpfs v"
    );

    let host = d.dir.path().join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("hello"), "from-host\n").unwrap();
    let opt = format!("device={}", host.display());
    d.ok(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &opt,
        "bindv",
    ]);
    assert_eq!(
        run(
            &d,
            &[
                "--rm",
                "-v",
                "bindv:/b",
                IMG,
                "sh",
                "-c",
                "cat /b/hello; echo back > /b/new"
            ]
        ),
        "from-host"
    );
    assert_eq!(std::fs::read_to_string(host.join("new")).unwrap(), "back\n");
    let bdata = d.data.join("volumes/bindv/_data");
    assert!(d.eventually(10, || !mounted(&bdata)));
    d.ok(&["volume", "rm", "bindv"]);
    assert!(
        host.join("hello").exists(),
        "removing the volume leaves the host dir"
    );
    assert!(
        !d.docker(&[
            "volume",
            "create",
            "--opt",
            "o=bind",
            "--opt",
            "device=relative",
            "badbind"
        ])
        .status
        .success()
    );
}

#[test]
fn system_df_reports_images_containers_and_volumes() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    run(
        &d,
        &[
            "--name",
            "writer",
            "-v",
            "dfvol:/v",
            IMG,
            "sh",
            "-c",
            "dd if=/dev/zero of=/big bs=1k count=1024 2>/dev/null; dd if=/dev/zero of=/v/big bs=1k count=2048 2>/dev/null",
        ],
    );
    let rows = d.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}",
    ]);
    let row = |t: &str| {
        rows.lines()
            .find(|l| l.starts_with(&format!("{t}|")))
            .unwrap_or_else(|| panic!("{t} missing: {rows}"))
            .to_owned()
    };
    assert!(row("Images").starts_with("Images|1|1|"), "{rows}");
    assert!(
        row("Containers").starts_with("Containers|1|0|1.0"),
        "{rows}"
    );
    assert!(
        row("Local Volumes").starts_with("Local Volumes|1|1|2.09"),
        "{rows}"
    );
    assert!(
        row("Build Cache").starts_with("Build Cache|0|0|0B"),
        "{rows}"
    );
    let verbose = d.ok(&["system", "df", "-v"]);
    assert!(verbose.contains("dfvol"), "{verbose}");
    assert!(verbose.contains("writer"), "{verbose}");
    assert!(verbose.contains("bbtest"), "{verbose}");
}

/// `rm -v` removes the anonymous volumes a container made, not one it was given by name,
/// even a volume first made anonymous by another container (docker-compose recreates a
/// service so, handing the new container the old one's anonymous volumes by name).
#[test]
fn rm_v_keeps_an_anonymous_volume_given_by_name() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let made = "echo kept > /anon/f";
    run(
        &d,
        &["--name", "first", "-v", "/anon", IMG, "sh", "-c", made],
    );
    let _ = d.ok(&["rm", "first"]);
    let first = volumes(&d, &[]);
    assert_eq!(first.len(), 1, "{first:?}");
    let vol = first[0].clone();
    let given = format!("{vol}:/x");
    run(
        &d,
        &["--name", "second", "-v", &given, "-v", "/own", IMG, "true"],
    );
    d.ok(&["rm", "-v", "second"]);
    assert_eq!(
        volumes(&d, &[]),
        std::slice::from_ref(&vol),
        "only the second's own went"
    );
    assert_eq!(
        run(
            &d,
            &["--rm", "-v", &format!("{vol}:/x"), IMG, "cat", "/x/f"]
        ),
        "kept"
    );
    assert_eq!(volumes(&d, &[]), [vol]);
}
