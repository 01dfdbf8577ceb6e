//! The container's init layer (Docker's `<id>-init`): a read-only directory stacked right
//! above the image's layers and below the container's own upper dir. It holds what every
//! container is given rather than what it changed: an empty `/.dockerenv`, `/etc/mtab` as a
//! link to `/proc/mounts`, and the empty files and directories the runtime mounts over
//! (`/etc/hosts`, `/proc`, `/dev/shm`, ...). Because they are there before the first start,
//! the runtime never makes them in the upper dir, so `docker diff` and `docker commit`
//! (which read only the upper dir) do not see them, while `docker export` (the whole
//! stack) does, as with dockerd.
//!
//! It is made once at create, in `<data-root>/containers/<id>/init`, and goes with the
//! container's directory. Containers created by a berthd without init layers have no such
//! directory and keep working as before.

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The init layer's directory name inside the container's directory.
pub(crate) const DIR: &str = "init";

enum Kind {
    Dir,
    File,
    Link(&'static str),
}

/// dockerd's init layer entries (relative to the root). Files and directories are 0755 and
/// owned by root, as dockerd makes them.
const ENTRIES: &[(&str, Kind)] = &[
    ("dev/pts", Kind::Dir),
    ("dev/shm", Kind::Dir),
    ("proc", Kind::Dir),
    ("sys", Kind::Dir),
    (".dockerenv", Kind::File),
    ("etc/resolv.conf", Kind::File),
    ("etc/hosts", Kind::File),
    ("etc/hostname", Kind::File),
    ("dev/console", Kind::File),
    ("etc/mtab", Kind::Link("/proc/mounts")),
];

/// The container's init layer directory (which may not exist: older containers).
pub(crate) fn path(container_dir: &Path) -> PathBuf {
    container_dir.join(DIR)
}

/// What the image (its layer dirs, top-most first) has at `rel`, without following
/// symlinks: None when absent (or whited out), else whether it is a directory.
fn image_entry(lowers: &[PathBuf], rel: &str) -> Option<bool> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::MetadataExt;
    for l in lowers {
        match std::fs::symlink_metadata(l.join(rel)) {
            Ok(m) if m.file_type().is_char_device() && m.rdev() == 0 => return None,
            Ok(m) => return Some(m.is_dir()),
            Err(_) => continue,
        }
    }
    None
}

/// The process's umask, read once from /proc (setting it to read it back would race with
/// the other threads' file creations). 022 when unreadable.
fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o022)
    })
}

/// Makes the init layer at `dir` (which must not exist) for an image whose layer dirs are
/// `lowers`, top-most first. As in dockerd the entries shadow the image's own paths
/// (an image's `/.dockerenv` or `/etc/mtab` file is replaced), with one exception: when
/// the image has `/etc` or `/dev` as something other than a directory (a symlink to
/// `/usr/etc`, say), the entries below it are left out rather than hiding it behind an
/// empty directory; the runtime makes the mount points it needs there at start.
pub(crate) fn make(dir: &Path, lowers: &[PathBuf]) -> io::Result<()> {
    let mut mkdir = std::fs::DirBuilder::new();
    mkdir.mode(0o755);
    mkdir.create(dir)?;
    // Modes are 0755 whatever berthd's umask; a chmod each only when the umask takes
    // some of those bits away (not with the usual 022).
    let masked = umask() & 0o755 != 0;
    let chmod = |p: &Path| {
        if masked {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
        } else {
            Ok(())
        }
    };
    chmod(dir)?;
    for (rel, kind) in ENTRIES {
        if let Some((parent, _)) = rel.split_once('/') {
            if image_entry(lowers, parent) == Some(false) {
                continue;
            }
            let p = dir.join(parent);
            if !p.exists() {
                mkdir.create(&p)?;
                chmod(&p)?;
            }
        }
        let p = dir.join(rel);
        match kind {
            Kind::Dir => {
                mkdir.create(&p)?;
                chmod(&p)?;
            }
            Kind::File => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o755)
                    .open(&p)?;
                chmod(&p)?;
            }
            Kind::Link(target) => std::os::unix::fs::symlink(target, &p)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_modes() {
        let t = tempfile::tempdir().unwrap();
        let init = t.path().join("init");
        make(&init, &[]).unwrap();
        let m = std::fs::metadata(init.join(".dockerenv")).unwrap();
        assert!(m.is_file());
        assert_eq!(m.len(), 0);
        assert_eq!(m.permissions().mode() & 0o7777, 0o755);
        assert_eq!(
            std::fs::read_link(init.join("etc/mtab")).unwrap(),
            Path::new("/proc/mounts")
        );
        for d in ["proc", "sys", "dev/pts", "dev/shm"] {
            assert!(init.join(d).is_dir(), "{d}");
        }
        for f in [
            "etc/hosts",
            "etc/hostname",
            "etc/resolv.conf",
            "dev/console",
        ] {
            assert!(init.join(f).is_file(), "{f}");
        }
    }

    #[test]
    fn image_symlinked_etc_is_not_hidden() {
        let t = tempfile::tempdir().unwrap();
        let layer = t.path().join("layer");
        std::fs::create_dir_all(layer.join("usr/etc")).unwrap();
        std::os::unix::fs::symlink("usr/etc", layer.join("etc")).unwrap();
        let init = t.path().join("init");
        make(&init, &[layer]).unwrap();
        assert!(!init.join("etc").exists());
        assert!(init.join(".dockerenv").is_file());
        assert!(init.join("dev/pts").is_dir());
    }
}
