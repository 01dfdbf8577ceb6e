//! Test support shared by the berthd and berth CLI integration tests (included into each
//! crate's `tests/common` with `#[path]`, so no extra crate is needed): the prerequisites
//! check and the busybox-static image tarball both import as their test image.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn have_prereqs() -> bool {
    let ok = Path::new("/bin/busybox").exists()
        && Command::new("docker").arg("--version").output().is_ok()
        && rustix::process::geteuid().is_root();
    if !ok {
        eprintln!("skipping: needs root, docker CLI and /bin/busybox (busybox-static)");
    }
    ok
}

/// A busybox-static rootfs tarball (busybox + applet symlinks, passwd/group).
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let root = dir.join("bbroot");
    for d in [
        "bin",
        "etc",
        "tmp",
        "proc",
        "sys",
        "dev",
        "root",
        "home/user1",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for a in String::from_utf8_lossy(&list.stdout).lines() {
        if a != "busybox" {
            let _ = std::os::unix::fs::symlink("/bin/busybox", root.join("bin").join(a));
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser1:x:1000:1000::/home/user1:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nuser1:x:1000:\nextra:x:2000:user1\nnogroup:x:65534:\n",
    )
    .unwrap();
    std::fs::set_permissions(
        root.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let tar = dir.join("busybox.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_dir_all(&root).unwrap();
    tar
}
