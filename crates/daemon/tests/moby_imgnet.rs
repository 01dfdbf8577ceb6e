//! Images, builds and networks through berthd with the stock docker CLI, as moby's own
//! integration-cli tests expect them (`docker_cli_save_load_test.go`, `_tag_test.go`,
//! `_images_test.go`, `_build_test.go`, `_network_unix_test.go`, `_netmode_test.go`):
//! each assertion is one a test there makes, or what dockerd answered to the same
//! command. One daemon and one image per test, no traffic at all.

mod common;

use std::process::Command;

use common::*;

/// `manifest.json` of a `docker save` archive.
fn saved_manifest(d: &Daemon, names: &[&str]) -> serde_json::Value {
    let tar = d.dir.path().join("saved.tar");
    let mut args = vec!["save", "-o", tar.to_str().unwrap()];
    args.extend(names);
    d.ok(&args);
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(&tar)
        .arg("manifest.json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `docker build -q` of `dockerfile` (from stdin, no context); the image ID.
fn build(d: &Daemon, tag: &str, dockerfile: &str) -> String {
    let out = d.docker_stdin(
        &["build", "-q", "-t", tag, "-"],
        Some(dockerfile.as_bytes()),
    );
    assert!(out.status.success(), "build {tag}: {}", stderr(&out));
    stdout(&out).trim().to_owned()
}

#[test]
fn save_tags_image_filters_and_build_steps_behave_as_dockerd() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();

    // A bare repository name saves every tag it has, as one entry per image; an image
    // named several times (three IDs, or a tag and its ID) is written once.
    d.ok(&["tag", IMG, "savetest:one"]);
    d.ok(&["tag", IMG, "savetest:two"]);
    let m = saved_manifest(&d, &["savetest"]);
    assert_eq!(m.as_array().unwrap().len(), 1, "{m}");
    assert_eq!(
        m[0]["RepoTags"],
        serde_json::json!(["savetest:one", "savetest:two"]),
        "{m}"
    );
    let id = d.inspect(IMG, "{{.Id}}");
    let m = saved_manifest(&d, &[&id[7..19], &id, "savetest:one"]);
    assert_eq!(m.as_array().unwrap().len(), 1, "{m}");
    assert_eq!(m[0]["RepoTags"], serde_json::json!(["savetest:one"]), "{m}");

    // save | load leaves inspect as it was (LastTagTime included).
    let before = d.ok(&["inspect", "savetest:one"]);
    let tar = d.dir.path().join("saved.tar");
    d.ok(&["load", "-i", tar.to_str().unwrap()]);
    assert_eq!(d.ok(&["inspect", "savetest:one"]), before);

    // docker_cli_rmi_test.go TestRmiBlank.
    d.fails(&["rmi", " "], "image name cannot be blank");

    // A repository named sha256 would read as an ID.
    d.fails(
        &["tag", IMG, "sha256:sometag"],
        "refusing to create an ambiguous tag using digest algorithm as name",
    );

    // before/since order images made within the same second.
    let ids: Vec<String> = (1..=3)
        .map(|i| {
            build(
                &d,
                &format!("order{i}"),
                &format!("FROM {IMG}\nLABEL n={i}\n"),
            )
        })
        .collect();
    let names = |filter: &str| {
        let mut v: Vec<String> = d
            .ok(&["images", "--format", "{{.Repository}}", "-f", filter])
            .lines()
            .filter(|l| l.starts_with("order"))
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("since=order1"), ["order2", "order3"]);
    assert_eq!(
        names(&format!("since={}", &ids[0][7..19])),
        ["order2", "order3"]
    );
    assert_eq!(names("before=order3"), ["order1", "order2"]);
    d.fails(
        &["images", "-f", "before=nosuch"],
        "No such image: nosuch:latest",
    );

    // ENV sees the environment from before its line; MAINTAINER is the Author.
    build(
        &d,
        "envimg",
        &format!("FROM {IMG}\nENV A=1 B=${{A}}2\nENV C=$B\nMAINTAINER someone\n"),
    );
    assert_eq!(
        d.ok(&["run", "--rm", "envimg", "sh", "-c", "echo $A $B $C"]),
        "1 2 2"
    );
    assert_eq!(d.inspect("envimg", "{{.Author}}"), "someone");

    // COPY from above the context is refused; COPY . leaves out a `-f -` Dockerfile and
    // a .dockerignore that ignores itself.
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("foo"), "hello\n").unwrap();
    std::fs::write(ctx.join(".dockerignore"), ".dockerignore\n").unwrap();
    let out = d.docker_stdin(
        &["build", "-q", "-f", "-", ctx.to_str().unwrap()],
        Some(format!("FROM {IMG}\nCOPY ../foo /x\n").as_bytes()),
    );
    assert!(
        !out.status.success()
            && stderr(&out).contains("forbidden path outside the build context: ../foo"),
        "{}",
        stderr(&out)
    );
    let out = d.docker_stdin(
        &[
            "build",
            "-q",
            "-t",
            "ctximg",
            "-f",
            "-",
            ctx.to_str().unwrap(),
        ],
        Some(format!("FROM {IMG}\nCOPY . /c/\n").as_bytes()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(d.ok(&["run", "--rm", "ctximg", "ls", "-A", "/c"]), "foo");

    // The primary group is one of the supplementary groups, in builds and runs.
    build(
        &d,
        "userimg",
        &format!("FROM {IMG}\nUSER user1\nRUN id > /tmp/id\n"),
    );
    let want = "uid=1000(user1) gid=1000(user1) groups=1000(user1),2000(extra)";
    assert_eq!(d.ok(&["run", "--rm", "userimg", "cat", "/tmp/id"]), want);
    assert_eq!(
        d.ok(&["run", "--rm", "-u", "0", IMG, "id"]),
        "uid=0(root) gid=0(root) groups=0(root)"
    );
}

#[test]
fn network_create_connect_and_network_mode_checks_behave_as_dockerd() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();

    // Names of one character are fine; a second host/null network, an IPAM plugin and
    // removing `default` are not.
    d.ok(&["network", "create", "--subnet", &net::subnet(41), "x"]);
    d.ok(&["network", "rm", "x"]);
    for drv in ["host", "null"] {
        d.fails(
            &["network", "create", "-d", drv, "second"],
            &format!("only one instance of \"{drv}\" network is allowed"),
        );
    }
    d.fails(
        &["network", "create", "--ipam-driver", "nope", "ipamnet"],
        "plugin \"nope\" not found",
    );
    d.fails(&["network", "rm", "default"], "network default not found");
    d.fails(
        &["network", "connect", "nonet", "nocont"],
        "No such container: nocont",
    );

    // docker_cli_netmode_test.go: these are refused before the container is looked up.
    for (args, msg) in [
        (
            vec!["--net=container"],
            "Invalid network mode: invalid container format container:<name|id>",
        ),
        (
            vec!["--net=container:other", "--mac-address=92:d0:c6:0a:29:33"],
            "conflicting options: mac-address and the network mode",
        ),
        (
            vec!["--net=host", "--mac-address=92:d0:c6:0a:29:33"],
            "conflicting options: mac-address and the network mode",
        ),
        (
            vec!["--net=container:other", "-P"],
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            vec!["--net=container:other", "--expose", "8000-9000"],
            "conflicting options: port exposing and the container type network mode",
        ),
    ] {
        let mut a = vec!["create"];
        a.extend(args);
        a.extend([IMG, "ps"]);
        d.fails(&a, msg);
    }

    // A host-mode container cannot leave the host network.
    d.ok(&["create", "--name", "onhost", "--net=host", IMG, "true"]);
    d.fails(
        &["network", "disconnect", "host", "onhost"],
        "container cannot be disconnected from host network or connected to host network",
    );
}
