//! Mounts from `config.json`, made with the new mount API: a filesystem is configured with
//! `fsopen`/`fsconfig`, materialised detached with `fsmount` (its flags already final, so there
//! is never a writable window), and attached with `move_mount` onto a descriptor that
//! [`crate::inroot`] resolved inside the root. Binds are `open_tree` clones set up with
//! `mount_setattr` before they are attached.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags};

use crate::error::{Error, Result};

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// Parsed `mounts[].options`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Options {
    pub bind: bool,
    pub recursive: bool,
    /// Per-mount attributes to set / clear on this mount.
    pub set: u64,
    pub clear: u64,
    /// The same for every mount below (the `r`-prefixed forms: rro, rnosuid, ...).
    pub rset: u64,
    pub rclear: u64,
    /// MS_SHARED / MS_SLAVE / MS_PRIVATE / MS_UNBINDABLE, and whether recursive.
    pub propagation: Option<(u64, bool)>,
    /// Filesystem options passed to fsconfig (key, optional value) and to legacy mount data.
    pub data: Vec<(String, Option<String>)>,
    /// Superblock flags (sync, dirsync, lazytime, mand, iversion) for fsconfig.
    pub sb_flags: Vec<String>,
    pub tmpcopyup: bool,
}

fn attr_of(name: &str) -> Option<(u64, bool)> {
    // (attribute, set?) — `false` means the option clears the attribute.
    Some(match name {
        "ro" => (MOUNT_ATTR_RDONLY, true),
        "rw" => (MOUNT_ATTR_RDONLY, false),
        "nosuid" => (MOUNT_ATTR_NOSUID, true),
        "suid" => (MOUNT_ATTR_NOSUID, false),
        "nodev" => (MOUNT_ATTR_NODEV, true),
        "dev" => (MOUNT_ATTR_NODEV, false),
        "noexec" => (MOUNT_ATTR_NOEXEC, true),
        "exec" => (MOUNT_ATTR_NOEXEC, false),
        "noatime" => (MOUNT_ATTR_NOATIME, true),
        "strictatime" => (MOUNT_ATTR_STRICTATIME, true),
        "relatime" => (MOUNT_ATTR_RELATIME, true),
        "atime" => (MOUNT_ATTR_NOATIME, false),
        "nodiratime" => (MOUNT_ATTR_NODIRATIME, true),
        "diratime" => (MOUNT_ATTR_NODIRATIME, false),
        "nosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, true),
        "symfollow" => (MOUNT_ATTR_NOSYMFOLLOW, false),
        _ => return None,
    })
}

pub fn parse_options(opts: &[String]) -> Result<Options> {
    let mut o = Options::default();
    let mut atime_set = false;
    for opt in opts {
        let opt = opt.as_str();
        match opt {
            "bind" => o.bind = true,
            "rbind" => {
                o.bind = true;
                o.recursive = true;
            }
            "defaults" | "async" | "loud" | "auto" | "noauto" | "nouser" | "_netdev" => {}
            "sync" | "dirsync" | "lazytime" | "mand" | "iversion" | "silent" => {
                o.sb_flags.push(opt.to_string())
            }
            "nolazytime" | "nomand" | "noiversion" => {}
            "private" | "rprivate" => {
                o.propagation = Some((libc::MS_PRIVATE, opt.starts_with('r')))
            }
            "shared" | "rshared" => o.propagation = Some((libc::MS_SHARED, opt.starts_with('r'))),
            "slave" | "rslave" => o.propagation = Some((libc::MS_SLAVE, opt.starts_with('r'))),
            "unbindable" | "runbindable" => {
                o.propagation = Some((libc::MS_UNBINDABLE, opt.starts_with('r')))
            }
            "tmpcopyup" => o.tmpcopyup = true,
            "idmap" | "ridmap" => {
                return Err(Error::Config(format!(
                    "mount option {opt:?} (idmapped mounts) is not supported"
                )));
            }
            "remount" => {
                return Err(Error::Config(
                    "mount option \"remount\" is not supported".into(),
                ));
            }
            _ => {
                if let Some((a, set)) = attr_of(opt) {
                    if a & MOUNT_ATTR__ATIME != 0 || a == MOUNT_ATTR_RELATIME && set {
                        atime_set = true;
                        o.clear |= MOUNT_ATTR__ATIME;
                    }
                    if set {
                        o.set |= a
                    } else {
                        o.clear |= a;
                        o.set &= !a
                    }
                } else if let Some(r) = opt.strip_prefix('r').and_then(attr_of) {
                    let (a, set) = r;
                    if set {
                        o.rset |= a
                    } else {
                        o.rclear |= a;
                        o.rset &= !a
                    }
                } else {
                    match opt.split_once('=') {
                        Some((k, v)) => o.data.push((k.to_string(), Some(v.to_string()))),
                        None => o.data.push((opt.to_string(), None)),
                    }
                }
            }
        }
    }
    if !atime_set {
        o.clear &= !MOUNT_ATTR__ATIME;
    }
    Ok(o)
}

impl Options {
    fn data_string(&self) -> String {
        self.data
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) (no rustix wrapper yet).
pub fn setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
    propagation: u64,
) -> Result<()> {
    if set == 0 && clear == 0 && propagation == 0 {
        return Ok(());
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: fd is a valid descriptor, the path is an empty C string, `attr` is a correctly laid
    // out `struct mount_attr` whose size we pass.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(Error::sys(
            format!("mount_setattr set={set:#x} clear={clear:#x} propagation={propagation:#x}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Attaches a detached mount onto `target`.
pub fn attach(mnt: BorrowedFd<'_>, target: BorrowedFd<'_>, what: &Path) -> Result<()> {
    rustix::mount::move_mount(
        mnt,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| Error::path("move_mount", what, e))
}

/// A detached clone of the mount(s) at `source` (an `open_tree` fd).
pub fn clone_tree(dirfd: BorrowedFd<'_>, source: &Path, recursive: bool) -> Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    if source.as_os_str().is_empty() {
        flags |= OpenTreeFlags::AT_EMPTY_PATH;
    }
    rustix::mount::open_tree(dirfd, source, flags).map_err(|e| Error::path("open_tree", source, e))
}

/// A bind mount of host path `source` onto `target` with its attributes set before attaching.
pub fn bind(source: &Path, target: BorrowedFd<'_>, o: &Options, dest: &Path) -> Result<OwnedFd> {
    let tree = clone_tree(rustix::fs::CWD, source, o.recursive)?;
    setattr(tree.as_fd(), false, o.set, o.clear, 0)?;
    setattr(tree.as_fd(), true, o.rset, o.rclear, 0)?;
    attach(tree.as_fd(), target, dest)?;
    Ok(tree)
}

fn fs_attr_flags(set: u64) -> MountAttrFlags {
    MountAttrFlags::from_bits_retain(set as u32)
}

/// A new filesystem instance (`fsopen`..`fsmount`), detached.
pub fn new_fs(fstype: &str, source: Option<&str>, o: &Options) -> Result<OwnedFd> {
    let fs = rustix::mount::fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| Error::sys(format!("fsopen {fstype}"), e))?;
    let cfg_err = |what: &str, e| Error::sys(format!("fsconfig {fstype} {what}"), e);
    if let Some(src) = source {
        rustix::mount::fsconfig_set_string(&fs, "source", src).map_err(|e| cfg_err("source", e))?;
    }
    for (k, v) in &o.data {
        match v {
            Some(v) => rustix::mount::fsconfig_set_string(&fs, k.as_str(), v.as_str()),
            None => rustix::mount::fsconfig_set_flag(&fs, k.as_str()),
        }
        .map_err(|e| cfg_err(k, e))?;
    }
    for f in &o.sb_flags {
        rustix::mount::fsconfig_set_flag(&fs, f.as_str()).map_err(|e| cfg_err(f, e))?;
    }
    rustix::mount::fsconfig_create(&fs).map_err(|e| cfg_err("create", e))?;
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, fs_attr_flags(o.set))
        .map_err(|e| Error::sys(format!("fsmount {fstype}"), e))?;
    setattr(mnt.as_fd(), true, o.rset, o.rclear, 0)?;
    Ok(mnt)
}

/// Mounts a filesystem onto `target` (new API, falling back to mount(2) through the target's
/// /proc/self/fd path for filesystems that do not take fsconfig, e.g. in some user namespaces).
pub fn mount_fs(
    fstype: &str,
    source: Option<&str>,
    target: BorrowedFd<'_>,
    o: &Options,
    dest: &Path,
) -> Result<Option<OwnedFd>> {
    match new_fs(fstype, source, o) {
        Ok(mnt) => {
            attach(mnt.as_fd(), target, dest)?;
            Ok(Some(mnt))
        }
        Err(first) => {
            let mut flags = 0;
            for (bit, ms) in [
                (MOUNT_ATTR_RDONLY, libc::MS_RDONLY),
                (MOUNT_ATTR_NOSUID, libc::MS_NOSUID),
                (MOUNT_ATTR_NODEV, libc::MS_NODEV),
                (MOUNT_ATTR_NOEXEC, libc::MS_NOEXEC),
                (MOUNT_ATTR_NOATIME, libc::MS_NOATIME),
                (MOUNT_ATTR_STRICTATIME, libc::MS_STRICTATIME),
            ] {
                if o.set & bit != 0 {
                    flags |= ms;
                }
            }
            let tpath = crate::inroot::fd_path(target);
            let data = std::ffi::CString::new(o.data_string())
                .map_err(|_| Error::Config("NUL in mount data".into()))?;
            let r = rustix::mount::mount(
                source.unwrap_or(fstype),
                tpath.as_str(),
                fstype,
                rustix::mount::MountFlags::from_bits_retain(flags as _),
                (!data.as_bytes().is_empty()).then_some(data.as_c_str()),
            );
            match r {
                Ok(()) => Ok(None),
                Err(e) => {
                    tracing::debug!(error = %first, "new mount API failed, mount(2) tried too");
                    Err(Error::path("mount", dest, e))
                }
            }
        }
    }
}

/// Sets propagation on an attached mount.
pub fn set_propagation(mnt: BorrowedFd<'_>, prop: Option<(u64, bool)>) -> Result<()> {
    if let Some((p, rec)) = prop {
        setattr(mnt, rec, 0, 0, p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_split_into_attrs_and_data() {
        let o = parse_options(&s(&[
            "nosuid",
            "noexec",
            "nodev",
            "mode=755",
            "size=65536k",
            "ro",
            "rbind",
            "rprivate",
            "newinstance",
        ]))
        .unwrap();
        assert!(o.bind && o.recursive);
        assert_eq!(
            o.set,
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODEV | MOUNT_ATTR_RDONLY
        );
        assert_eq!(o.propagation, Some((libc::MS_PRIVATE, true)));
        assert_eq!(o.data_string(), "mode=755,size=65536k,newinstance");
        let o = parse_options(&s(&["rro", "rw", "noatime"])).unwrap();
        assert_eq!(o.rset, MOUNT_ATTR_RDONLY);
        assert_eq!(o.clear & MOUNT_ATTR_RDONLY, MOUNT_ATTR_RDONLY);
        assert_eq!(o.set, MOUNT_ATTR_NOATIME);
        assert!(parse_options(&s(&["idmap"])).is_err());
    }
}
