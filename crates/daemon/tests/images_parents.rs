//! `docker rmi` of images made by `docker commit`, through the stock docker CLI against
//! berthd, as dockerd answers: a parent's tag only untags, a parent's ID is refused while
//! it has children, the last child's removal takes its untagged parents (and their
//! layers) with it unless `--no-prune`, and intermediate images are neither listed nor
//! dangling.

mod common;

use common::{Daemon, IMG, stderr};

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

/// Runs `sh -c script` in a container from `image` and commits it as `tag`; returns the ID.
fn commit(d: &Daemon, image: &str, script: &str, tag: &str) -> String {
    d.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "stage",
        image,
        "sh",
        "-c",
        script,
    ]);
    let id = d.ok(&["commit", "stage", tag]);
    d.ok(&["rm", "stage"]);
    id
}

fn short(id: &str) -> &str {
    &id[7..19]
}

#[test]
fn rmi_of_a_commit_chain_untags_refuses_parents_and_prunes_them_with_the_last_child() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let base = d.ok(&["image", "inspect", "-f", "{{.Id}}", IMG]);
    let child = commit(&d, IMG, "echo 1 > /a", "child:1");
    let grand = commit(&d, "child:1", "echo 2 > /b", "grand:1");
    assert_eq!(d.inspect("grand:1", "{{.Parent}}"), child);

    // A parent's ID: refused even forced, with dockerd's message.
    for args in [vec!["rmi", short(&base)], vec!["rmi", "-f", &base]] {
        let out = d.docker(&args);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(
            stderr(&out).trim(),
            format!(
                "Error response from daemon: conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                short(&base)
            )
        );
    }
    // Its tag: only untagged (the image stays for its child).
    assert_eq!(d.ok(&["rmi", IMG]), "Untagged: bbtest:latest");
    assert_eq!(d.ok(&["rmi", "child:1"]), "Untagged: child:1");
    // Untagged parents are intermediate images: only `-a` lists them, never as dangling,
    // and prune leaves them.
    assert_eq!(d.ok(&["images", "-q", "--no-trunc"]), grand);
    let mut all = lines(&d.ok(&["images", "-a", "-q", "--no-trunc"]));
    all.sort();
    let mut want = vec![base.clone(), child.clone(), grand.clone()];
    want.sort();
    assert_eq!(all, want);
    assert_eq!(d.ok(&["images", "-q", "-f", "dangling=true"]), "");
    assert_eq!(d.ok(&["image", "prune", "-f"]), "Total reclaimed space: 0B");

    // The last tag of the chain: each image goes, newest first, each followed by the
    // layer only it had (as dockerd lists them).
    let out = lines(&d.ok(&["rmi", "grand:1"]));
    assert_eq!(out.len(), 7, "{out:?}");
    assert_eq!(out[0], "Untagged: grand:1");
    for (i, id) in [&grand, &child, &base].iter().enumerate() {
        assert_eq!(out[1 + 2 * i], format!("Deleted: {id}"), "{out:?}");
        let layer = &out[2 + 2 * i];
        assert!(
            layer.starts_with("Deleted: sha256:") && !layer.ends_with(id.as_str()),
            "{out:?}"
        );
    }
    assert_eq!(d.ok(&["images", "-a", "-q"]), "");
    let ev = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &(unix_now() + 1).to_string(),
        "--filter",
        "type=image",
        "--filter",
        "event=delete",
        "--format",
        "{{.Actor.ID}}",
    ]);
    assert_eq!(lines(&ev), [grand, child, base]);
}

#[test]
fn rmi_no_prune_keeps_the_parent_and_containers_keep_theirs() {
    if !common::have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let base = d.ok(&["image", "inspect", "-f", "{{.Id}}", IMG]);
    commit(&d, IMG, "echo 1 > /a", "kid:1");
    assert_eq!(d.ok(&["rmi", IMG]), "Untagged: bbtest:latest");
    // --no-prune: the child goes, its parent stays, dangling now (no child left).
    let out = lines(&d.ok(&["rmi", "--no-prune", "kid:1"]));
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0], "Untagged: kid:1");
    assert_eq!(
        d.ok(&["images", "-q", "--no-trunc", "-f", "dangling=true"]),
        base
    );
    d.ok(&["tag", &base, IMG]);

    // A parent a stopped container uses: its tag needs force, and it outlives its child.
    d.ok(&["create", "--network", "none", "--name", "user", IMG, "true"]);
    let kid = commit(&d, IMG, "echo 2 > /b", "kid:2");
    let out = d.docker(&["rmi", IMG]);
    assert!(
        stderr(&out).contains(&format!(
            "conflict: unable to remove repository reference \"{IMG}\" (must force) - container"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.ok(&["rmi", "-f", IMG]), "Untagged: bbtest:latest");
    let out = lines(&d.ok(&["rmi", "kid:2"]));
    assert_eq!(
        out[..2],
        ["Untagged: kid:2".to_owned(), format!("Deleted: {kid}")]
    );
    assert!(
        !out.iter().any(|l| l.contains(&base)),
        "the container's image stays: {out:?}"
    );
    assert_eq!(d.ok(&["images", "-a", "-q", "--no-trunc"]), base);
    d.ok(&["start", "-a", "user"]);
    // Once the container is gone, the image is an ordinary dangling one.
    d.ok(&["rm", "user"]);
    let out = d.ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {base}")), "{out}");
    assert_eq!(d.ok(&["images", "-a", "-q"]), "");
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
