//! Legacy links (`docker run --link NAME:ALIAS`) through berthd with the stock docker CLI,
//! as dockerd 20.10 has them: on the default bridge `/etc/hosts` lines and Docker's link
//! environment, `HostConfig.Links` as `/other:/me/alias`, dockerd's errors for a missing
//! or stopped target; on a user-defined network an alias the embedded DNS resolves.

mod common;

use common::net::*;
use common::*;

#[test]
fn links_on_the_default_bridge_give_hosts_entries_and_docker_env() {
    if !have_prereqs() {
        return;
    }
    let mut d = Daemon::start();
    d.ok(&[
        "run", "-d", "--name", "other", "-e", "FOO=bar", "--expose", "80", "--expose", "53/udp",
        IMG, "httpd", "-f", "-p", "80", "-h", "/etc",
    ]);
    let ip = d.inspect("other", "{{.NetworkSettings.IPAddress}}");
    let host = d.inspect("other", "{{.Config.Hostname}}");
    let out = d.ok(&[
        "run",
        "--rm",
        "--name",
        "me",
        "--link",
        "other:al-1",
        "-e",
        "AL_1_ENV_FOO=mine",
        IMG,
        "sh",
        "-c",
        "env; cat /etc/hosts; wget -q -O- http://al-1/hostname",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        // The lowest port first, TCP first on a tie (dockerd 20.10's order).
        format!("AL_1_PORT=udp://{ip}:53"),
        format!("AL_1_PORT_80_TCP=tcp://{ip}:80"),
        format!("AL_1_PORT_80_TCP_ADDR={ip}"),
        "AL_1_PORT_80_TCP_PORT=80".into(),
        "AL_1_PORT_80_TCP_PROTO=tcp".into(),
        format!("AL_1_PORT_53_UDP=udp://{ip}:53"),
        "AL_1_NAME=/me/al-1".into(),
        // The container's own variable wins over the link's.
        "AL_1_ENV_FOO=mine".into(),
        format!("{ip}\tal-1 {host} other"),
    ] {
        assert!(lines.contains(&want.as_str()), "{want} in {out}");
    }
    assert!(!out.contains("AL_1_ENV_FOO=bar"), "{out}");
    assert!(!out.contains("AL_1_ENV_PATH"), "{out}");
    assert_eq!(*lines.last().unwrap(), host, "the alias reaches the target");
    // Inspect shows the link the way dockerd does.
    d.ok(&["create", "--name", "me2", "--link", "other:al", IMG, "true"]);
    assert_eq!(
        d.inspect("me2", "{{json .HostConfig.Links}}"),
        r#"["/other:/me2/al"]"#
    );
    // A missing target is refused at create (400, dockerd's words), a stopped one at start.
    d.fails(
        &["create", "--link", "nope:x", IMG, "true"],
        "could not get container for nope: No such container: nope",
    );
    let status = api_post_status(
        &d,
        "/containers/create",
        r#"{"Image":"bbtest:latest","Cmd":["true"],"HostConfig":{"Links":["nope:x"]}}"#,
    );
    assert_eq!(status, 400);
    d.ok(&["stop", "-t", "0", "other"]);
    d.fails(
        &["start", "me2"],
        "Cannot link to a non running container: /other AS /me2/al",
    );
    // A link's name is a name of its target, in every container route (dockerd's
    // `{name:.*}`): `me2/al` is `other`.
    assert_eq!(d.inspect("me2/al", "{{.Name}}"), "/other");
    assert_eq!(d.inspect("/me2/al", "{{.Name}}"), "/other");
    let out = d.docker(&["inspect", "me2/nope"]);
    assert!(!out.status.success());
    // `rm --link` drops the link from its parent and keeps both containers, also across a
    // berthd restart; a plain name has no parent to drop it from.
    let out = d.docker(&["rm", "--link", "other"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "Error response from daemon: Conflict, cannot remove the default link name of the container"
    );
    assert_eq!(d.ok(&["rm", "--link", "me2/al"]), "me2/al");
    assert_eq!(d.inspect("me2", "{{json .HostConfig.Links}}"), "null");
    assert!(!d.docker(&["inspect", "me2/al"]).status.success());
    let out = d.docker(&["rm", "--link", "me2/al"]);
    assert!(
        stderr(&out).contains("No such container: me2/al"),
        "{}",
        stderr(&out)
    );
    assert!(d.terminate());
    d.spawn();
    assert_eq!(d.inspect("me2", "{{json .HostConfig.Links}}"), "null");
    assert_eq!(d.inspect("other", "{{.Name}}"), "/other");
    d.ok(&["rm", "-f", "other", "me2"]);
}

#[test]
fn links_on_a_user_network_are_aliases_of_the_embedded_dns() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let net = net_name("lk");
    let _g = Nets(&d, vec![net.clone()]);
    d.ok(&["network", "create", "--subnet", &subnet(30), &net]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--hostname",
        "srvhost",
        "--network",
        &net,
        IMG,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cli",
        "--network",
        &net,
        "--link",
        "srv:db",
        IMG,
        "sleep",
        "600",
    ]);
    let got = d.ok(&[
        "exec",
        "cli",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://db/hostname && exit 0; sleep 0.3; done; exit 1",
    ]);
    assert_eq!(got, "srvhost");
    // No hosts line and no environment: on a user network a link is a DNS alias only.
    let hosts = d.ok(&["exec", "cli", "cat", "/etc/hosts"]);
    assert!(
        !hosts
            .lines()
            .any(|l| l.split_whitespace().skip(1).any(|n| n == "db")),
        "{hosts}"
    );
    assert!(!d.ok(&["exec", "cli", "env"]).contains("DB_"));
    assert_eq!(d.inspect("cli", "{{json .HostConfig.Links}}"), "null");
    assert_eq!(
        d.inspect(
            "cli",
            &format!("{{{{json (index .NetworkSettings.Networks \"{net}\").Links}}}}")
        ),
        r#"["srv:db"]"#
    );
    // A link to a missing container is not checked on a user network (as with dockerd).
    d.ok(&[
        "create",
        "--name",
        "late",
        "--network",
        &net,
        "--link",
        "nope:x",
        IMG,
        "true",
    ]);
    d.ok(&["rm", "-f", "srv", "cli", "late"]);
}
