//! `network` commands through berth and the stock docker CLI against one berthd.

mod common;

use common::{Daemon, IMG, stderr, stdout};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

/// Subnets of this test's own (test daemons run side by side on one host).
fn net(i: u32) -> String {
    let k = std::process::id() * 5 + i;
    format!("10.{}.{}.0/24", 200 + k % 50, (k / 50) % 256)
}

#[test]
fn network_commands_match_docker() {
    prereqs!();
    let d = Daemon::start();
    let id = d.bok(&["network", "create", "--subnet", &net(0), "n1"]);
    assert_eq!(id.len(), 64, "{id}");
    d.ok(&[
        "network",
        "create",
        "--subnet",
        &net(1),
        "--label",
        "k=v",
        "n2",
    ]);
    for args in [
        vec!["network", "ls"],
        vec!["network", "ls", "-q"],
        vec!["network", "ls", "-q", "--no-trunc"],
        vec![
            "network",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}}",
        ],
        vec!["network", "ls", "--filter", "name=n1"],
        vec!["network", "inspect", "n1"],
        vec![
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.IPAM.Driver}}",
            "n1",
            "n2",
        ],
    ] {
        assert_eq!(d.bok(&args), d.ok(&args), "{args:?}");
    }
    // {{json}} of a nested object: the same document (Go orders keys by its structs).
    let args = ["network", "inspect", "-f", "{{json .IPAM.Config}}", "n1"];
    let parse = |s: String| serde_json::from_str::<serde_json::Value>(&s).unwrap();
    assert_eq!(parse(d.bok(&args)), parse(d.ok(&args)));
    d.ok(&["create", "--name", "c1", IMG, "sleep", "1000"]);
    assert_eq!(
        d.bok(&["network", "connect", "--alias", "web", "n1", "c1"]),
        ""
    );
    let f = "{{json .NetworkSettings.Networks.n1.Aliases}}";
    assert!(d.inspect("c1", f).contains("web"), "{}", d.inspect("c1", f));
    assert_eq!(d.bok(&["network", "disconnect", "n1", "c1"]), "");
    assert!(
        !d.inspect("c1", "{{json .NetworkSettings.Networks}}")
            .contains("n1")
    );
    for args in [
        vec!["network", "inspect", "nope"],
        vec!["network", "rm", "nope"],
        vec!["network", "connect", "nope", "c1"],
    ] {
        let (o, t) = (d.berth(&args), d.docker(&args));
        assert_eq!(
            (o.status.code(), stderr(&o)),
            (t.status.code(), stderr(&t)),
            "{args:?}"
        );
    }
    // --ip-range, --gateway and --aux-address go to the subnet holding them, as docker
    // sends them; its errors for what fits no subnet, or twice in one.
    let p6 = format!("fd00:bee7:{:x}::", std::process::id() % 0xffff);
    let (s3, s4) = (net(3), format!("{p6}/64"));
    let at = |s: &str, last: &str| format!("{}.{last}", &s[..s.len() - 5]);
    let aux = format!("r={}", at(&s3, "9"));
    let range = format!("{}/28", at(&s3, "16"));
    let (gw3, gw4) = (at(&s3, "254"), format!("{p6}fe"));
    let mk = |name: &'static str| -> Vec<String> {
        [
            "network",
            "create",
            "--ipv6",
            "--subnet",
            &s3,
            "--subnet",
            &s4,
            "--gateway",
            &gw4,
            "--gateway",
            &gw3,
            "--ip-range",
            &range,
            "--aux-address",
            &aux,
            name,
        ]
        .map(String::from)
        .to_vec()
    };
    let cfg = "{{json .IPAM.Config}}";
    let args = mk("na");
    d.bok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let ours = d.ok(&["network", "inspect", "-f", cfg, "na"]);
    assert!(ours.contains(&aux[2..]), "no auxiliary address: {ours}");
    d.ok(&["network", "rm", "na"]);
    let args = mk("nb");
    d.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        parse(ours),
        parse(d.ok(&["network", "inspect", "-f", cfg, "nb"]))
    );
    let outside = format!("x={}", at(&net(5), "1"));
    let twice = format!("{}/29", at(&s3, "32"));
    for args in [
        vec![
            "network",
            "create",
            "--subnet",
            &s3,
            "--aux-address",
            &outside,
            "nx",
        ],
        vec![
            "network",
            "create",
            "--subnet",
            &s3,
            "--gateway",
            "10.1.2.3",
            "nx",
        ],
        vec![
            "network",
            "create",
            "--subnet",
            &s3,
            "--ip-range",
            &range,
            "--ip-range",
            &twice,
            "--subnet",
            &s4,
            "nx",
        ],
        vec!["network", "create", "--subnet", &s3, "--subnet", &s3, "nx"],
        vec!["network", "create", "--gateway", &gw3, "nx"],
        // What berth has no use for is refused by berthd, not dropped.
        vec!["network", "create", "--ingress", "nx"],
        vec!["network", "create", "--scope", "swarm", "nx"],
        vec!["network", "create", "--config-only", "nx"],
        vec!["network", "create", "--config-from", "n1", "nx"],
        vec!["network", "create", "--ipv4=false", "--ipv6", "nx"],
    ] {
        let (o, t) = (d.berth(&args), d.docker(&args));
        assert!(!o.status.success(), "{args:?}");
        assert_eq!(
            (o.status.code(), stderr(&o)),
            (t.status.code(), stderr(&t)),
            "{args:?}"
        );
    }
    d.ok(&["network", "rm", "nb"]);
    // Several networks on `run`, docker's advanced `--network` syntax with its errors: the
    // same container as the docker CLI makes, the default route on the network of the
    // highest --gw-priority.
    d.ok(&["network", "create", "--subnet", &net(6), "n6"]);
    let run = |gw: &str| -> Vec<String> {
        [
            "run",
            "--rm",
            "--network",
            "n1",
            "--network",
            &format!("name=n6,alias=six{gw}"),
            IMG,
            "sh",
            "-c",
            "ip -o -4 addr show | grep -c eth; ip route show default",
        ]
        .map(String::from)
        .to_vec()
    };
    for gw in ["", ",gw-priority=3"] {
        let args = run(gw);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ours = d.bok(&args);
        // (the address a container draws may differ by one: the previous run's lease can
        // still be in its background release; the routes are what is compared)
        let no_src = |s: &str| -> String {
            s.lines()
                .map(|l| l.split(" src ").next().unwrap_or(l).to_owned())
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(no_src(&ours), no_src(&d.ok(&args)), "{args:?}");
        let via = if gw.is_empty() { net(0) } else { net(6) };
        assert!(
            ours.starts_with("2\n") && ours.contains(&format!("via {}.1 ", &via[..via.len() - 5])),
            "{gw}: {ours}"
        );
    }
    for args in [
        vec![
            "run",
            "--rm",
            "--network",
            "n1",
            "--network",
            "n1",
            IMG,
            "true",
        ],
        vec![
            "run",
            "--rm",
            "--network",
            "n1",
            "--network",
            "host",
            IMG,
            "true",
        ],
        vec!["run", "--rm", "--network", "name=n1,bogus=1", IMG, "true"],
        vec![
            "run",
            "--rm",
            "--network",
            "name=n1,alias=a",
            "--network-alias",
            "b",
            IMG,
            "true",
        ],
        vec!["run", "--rm", "--network-alias", "b", IMG, "true"],
    ] {
        let (o, t) = (d.berth(&args), d.docker(&args));
        assert!(!o.status.success(), "{args:?}");
        assert_eq!(
            (o.status.code(), stderr(&o).replace("berth", "docker")),
            (t.status.code(), stderr(&t)),
            "{args:?}"
        );
    }
    d.ok(&["network", "rm", "n6"]);
    assert_eq!(d.bok(&["network", "rm", "n1"]), "n1");
    d.ok(&["rm", "c1"]);
    let ours = d.bok(&["network", "prune", "-f"]);
    assert_eq!(ours, "Deleted Networks:\nn2");
    d.ok(&["network", "create", "--subnet", &net(2), "n2"]);
    assert_eq!(ours, d.ok(&["network", "prune", "-f"]));
}

#[test]
fn system_prune_matches_docker() {
    prereqs!();
    let d = Daemon::start();
    let setup = |n: u32| {
        d.ok(&["create", "--network", "none", IMG, "true"]);
        d.ok(&["network", "create", "--subnet", &net(3 + n), "sp"]);
        d.ok(&["commit", &d.ok(&["ps", "-aq"])]);
    };
    // A "no" removes nothing: the same question and exit code.
    setup(0);
    let (o, t) = (
        d.berth_stdin(&["system", "prune"], Some(b"n\n")),
        d.docker_stdin(&["system", "prune"], Some(b"n\n")),
    );
    assert_eq!(stdout(&o), stdout(&t));
    assert_eq!(o.status.code(), t.status.code());
    // (docker's own system prune stops at berthd's missing /build/prune; berth skips a
    // build cache the daemon does not have.)
    let ours = d.bok(&["system", "prune", "-f"]);
    assert!(ours.contains("Deleted Networks:\nsp\n"), "{ours}");
    assert!(ours.contains("Deleted Containers:\n"), "{ours}");
    assert!(ours.contains("Deleted Images:\ndeleted: sha256:"), "{ours}");
    assert!(ours.contains("\nTotal reclaimed space: "), "{ours}");
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    let args = ["network", "ls", "--format", "{{.Name}}"];
    assert_eq!(d.bok(&args), d.ok(&args));
    assert!(!d.bok(&args).contains("sp"));
}
