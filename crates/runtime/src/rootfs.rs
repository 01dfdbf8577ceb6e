//! The container's filesystem view, built inside its new mount namespace: propagation of `/`,
//! the root bind, every configured mount, default devices and links, the console, pivot_root,
//! then masked and read-only paths, sysctls and a read-only root.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use rustix::fs::{FileType, Mode, OFlags};

use crate::error::{Context, Error, Result};
use crate::inroot;
use crate::mounts::{self, Options};

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// The devices every container gets (OCI "default devices").
pub const DEFAULT_DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// What mounting needs to know about the host and the container's cgroup.
pub struct Context2<'a> {
    pub rootfs: &'a Path,
    /// The bundle directory: relative bind sources are relative to it.
    pub bundle: &'a Path,
    pub cgroup: Option<&'a berth_cgroups::Cgroup>,
    pub hierarchy: Option<&'a berth_cgroups::Hierarchy>,
    pub new_cgroupns: bool,
    pub in_userns: bool,
    /// Waits (once) until the runtime has made the container's cgroup directories.
    pub wait_cgroup: &'a dyn Fn() -> Result<()>,
}

/// Propagation for `/` in the new mount namespace, so nothing we mount leaks to the host.
pub fn prepare_root(spec: &Spec, rootfs: &Path) -> Result<OwnedFd> {
    let prop = match spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    {
        Some("shared") | Some("rshared") => libc::MS_SHARED,
        Some("private") | Some("rprivate") => libc::MS_PRIVATE,
        Some("unbindable") | Some("runbindable") => libc::MS_UNBINDABLE,
        Some("slave") | Some("rslave") | None | Some("") => libc::MS_SLAVE,
        Some(other) => {
            return Err(Error::Config(format!(
                "unknown rootfsPropagation {other:?}"
            )));
        }
    };
    // Everything slave (or as asked) first. An unbindable `/` could not be cloned for the root
    // below: that one is applied after pivot_root (see `init`).
    let base = match prop {
        libc::MS_UNBINDABLE => libc::MS_PRIVATE,
        p => p,
    };
    rustix::mount::mount_change(
        "/",
        rustix::mount::MountPropagationFlags::from_bits_retain(base as _)
            | rustix::mount::MountPropagationFlags::REC,
    )
    .ctx(|| "set propagation of /".into())?;
    if prop == libc::MS_SHARED {
        // rshared (as runc does it): the host's shared mounts stay peers of ours, so an rshared
        // bind of one carries mounts both ways. The mount holding the rootfs must not be one,
        // or the root bind and everything mounted on it would show up on the host.
        make_parent_mount_private(rootfs)?;
    }
    // The root must be a mount point of its own for pivot_root; a recursive bind makes it one.
    let tree = mounts::clone_tree(rustix::fs::CWD, rootfs, true)?;
    let target = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open rootfs", rootfs)?;
    mounts::attach(tree.as_fd(), target.as_fd(), rootfs)?;
    // Re-open: the old descriptor names the directory under the new mount.
    rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open rootfs", rootfs)
}

/// Makes the mount that `path` lives on (the last one in mountinfo whose mount point is a
/// prefix of it) private in our mount namespace.
fn make_parent_mount_private(path: &Path) -> Result<()> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").at("read", "/proc/self/mountinfo")?;
    let mut best: Option<PathBuf> = None;
    for line in mi.lines() {
        let Some(field) = line.split(' ').nth(4) else {
            continue;
        };
        let mp = PathBuf::from(unescape_mountinfo(field));
        if path.starts_with(&mp)
            && best
                .as_ref()
                .is_none_or(|b| mp.as_os_str().len() >= b.as_os_str().len())
        {
            best = Some(mp);
        }
    }
    let mp = best.unwrap_or_else(|| PathBuf::from("/"));
    rustix::mount::mount_change(&mp, rustix::mount::MountPropagationFlags::PRIVATE)
        .at("make private", &mp)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let d = |c: u8| u32::from(c - b'0');
            // Only \0xx and \1xx occur; anything larger is kept byte-wrapped, never a panic.
            out.push((d(b[i + 1]) * 64 + d(b[i + 2]) * 8 + d(b[i + 3])) as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the mount target is a directory: always for filesystems; for binds, when the source
/// is (a relative source names a path in the bundle, not in the runtime's working directory).
/// Files under /proc that may be bind-mounted over (lxcfs does it), as runc allows.
const PROC_OVERRIDABLE: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// A mount whose target turns out to be inside a procfs (reached through /proc itself or a
/// symlink like `/dev -> /proc/sys/kernel`) could shadow or expose kernel knobs: refused,
/// judged on the resolved descriptor, not the path string.
fn refuse_procfs_target(target: BorrowedFd<'_>, dest: &Path) -> Result<()> {
    let sfs = rustix::fs::fstatfs(target).ctx(|| format!("fstatfs {dest:?}"))?;
    if sfs.f_type as i64 == PROC_SUPER_MAGIC
        && !PROC_OVERRIDABLE.iter().any(|p| Path::new(p) == dest)
    {
        return Err(Error::Config(format!(
            "mount destination {dest:?} is inside procfs; refusing to mount over kernel files"
        )));
    }
    Ok(())
}

fn is_dir_mount(m: &Mount, o: &Options, bundle: &Path) -> bool {
    if !o.bind {
        return true;
    }
    m.source()
        .as_ref()
        .map(|s| bundle_path(s, bundle).is_dir())
        .unwrap_or(true)
}

/// A bind source as the host sees it: relative paths are relative to the bundle (as runc,
/// which runs in the bundle directory), even when the rootfs lives elsewhere.
fn bundle_path(src: &Path, bundle: &Path) -> PathBuf {
    if src.is_absolute() {
        src.to_path_buf()
    } else {
        bundle.join(src)
    }
}

/// Mounts every `mounts[]` entry in order.
pub fn mount_all(spec: &Spec, root: BorrowedFd<'_>, cx: &Context2<'_>) -> Result<()> {
    for m in spec.mounts().iter().flatten() {
        mount_one(m, root, cx)
            .map_err(|e| Error::Other(format!("mount {:?}: {e}", m.destination())))?;
    }
    Ok(())
}

fn mount_one(m: &Mount, root: BorrowedFd<'_>, cx: &Context2<'_>) -> Result<()> {
    let opts = mounts::parse_options(m.options().as_deref().unwrap_or(&[]))?;
    let dest = m.destination();
    if !dest.is_absolute() {
        return Err(Error::Config(format!(
            "mount destination {dest:?} is not absolute"
        )));
    }
    let typ = m
        .typ()
        .as_deref()
        .unwrap_or(if opts.bind { "bind" } else { "" });
    if typ == "cgroup" || typ == "cgroup2" {
        (cx.wait_cgroup)()?;
        return mount_cgroup(dest, typ, &opts, root, cx);
    }
    if typ == "proc" || typ == "sysfs" {
        refuse_symlink_dest(root, dest, typ)?;
    }
    let target = inroot::ensure_target(root, dest, is_dir_mount(m, &opts, cx.bundle))?;
    refuse_procfs_target(target.as_fd(), dest)?;
    let mnt = if opts.bind || typ == "bind" {
        let src = m
            .source()
            .as_ref()
            .ok_or_else(|| Error::Config(format!("bind mount to {dest:?} has no source")))?;
        let src = bundle_path(src, cx.bundle);
        Some(mounts::bind(&src, target.as_fd(), &opts, dest)?)
    } else {
        let src = m
            .source()
            .as_ref()
            .map(|s| s.to_string_lossy().into_owned());
        if opts.tmpcopyup && typ == "tmpfs" {
            Some(tmpfs_copyup(src.as_deref(), target.as_fd(), &opts, dest)?)
        } else {
            mounts::mount_fs(typ, src.as_deref(), target.as_fd(), &opts, dest)?
        }
    };
    if let Some(mnt) = mnt {
        mounts::set_propagation(mnt.as_fd(), opts.propagation)?;
    }
    Ok(())
}

/// procfs and sysfs go only onto an ordinary directory (as runc requires). An image whose
/// `/proc` is a symlink would otherwise get procfs mounted at the link's in-root target while
/// maskedPaths and readonlyPaths (opened without following symlinks) skip `/proc/...`: the
/// container would see an unmasked, writable /proc/sys (core_pattern: a host escape).
fn refuse_symlink_dest(root: BorrowedFd<'_>, dest: &Path, typ: &str) -> Result<()> {
    let (parent, name) = inroot::split(dest)?;
    let pfd = inroot::mkdir_all(root, &parent, 0o755)?;
    match rustix::fs::statat(&pfd, &name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::Directory => Err(Error::Config(
            format!("{typ} must be mounted on an ordinary directory, {dest:?} is not one"),
        )),
        Ok(_) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(Error::path("stat mount destination", dest, e)),
    }
}

/// `tmpcopyup` (podman, crun): the new tmpfs starts with a copy of what the image has at the
/// target. The copy is made into the still-detached, still-writable tmpfs, then its final
/// attributes are set and it is attached, so the container never sees it half-filled.
fn tmpfs_copyup(
    source: Option<&str>,
    target: BorrowedFd<'_>,
    o: &Options,
    dest: &Path,
) -> Result<OwnedFd> {
    let mut rw = o.clone();
    rw.set &= !mounts::MOUNT_ATTR_RDONLY;
    let mnt = mounts::new_fs("tmpfs", source.or(Some("tmpfs")), &rw)?;
    let from = rustix::fs::openat(
        target,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open tmpcopyup source", dest)?;
    let top = rustix::fs::openat(
        &mnt,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open new tmpfs", dest)?;
    copy_tree(from.as_fd(), top.as_fd(), dest, 0)?;
    if !o.data.iter().any(|(k, _)| k == "mode") {
        let st = rustix::fs::fstat(&from).at("stat", dest)?;
        rustix::fs::fchmod(&top, Mode::from_raw_mode(st.st_mode & 0o7777)).at("chmod", dest)?;
        rustix::fs::fchown(
            &top,
            Some(rustix::process::Uid::from_raw(st.st_uid)),
            Some(rustix::process::Gid::from_raw(st.st_gid)),
        )
        .at("chown", dest)?;
    }
    if o.set & mounts::MOUNT_ATTR_RDONLY != 0 {
        mounts::setattr(mnt.as_fd(), false, mounts::MOUNT_ATTR_RDONLY, 0, 0)?;
    }
    mounts::attach(mnt.as_fd(), target, dest)?;
    Ok(mnt)
}

/// Copies the directory `from` into `to`: files, directories, symlinks and special files with
/// their modes and owners. Never follows a symlink of the image.
fn copy_tree(from: BorrowedFd<'_>, to: BorrowedFd<'_>, at: &Path, depth: u32) -> Result<()> {
    use rustix::fs::AtFlags;
    if depth > 64 {
        return Err(Error::Config(format!(
            "tmpcopyup: {at:?} is nested too deep"
        )));
    }
    let mut dir = rustix::fs::Dir::read_from(from).at("read dir", at)?;
    while let Some(ent) = dir.read() {
        let ent = ent.at("read dir", at)?;
        let name = ent.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let path = at.join(std::ffi::OsStr::from_bytes(name.to_bytes()));
        let st = rustix::fs::statat(from, name, AtFlags::SYMLINK_NOFOLLOW).at("stat", &path)?;
        let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
        let (uid, gid) = (
            Some(rustix::process::Uid::from_raw(st.st_uid)),
            Some(rustix::process::Gid::from_raw(st.st_gid)),
        );
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                rustix::fs::mkdirat(to, name, mode).at("mkdir", &path)?;
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let sub_from =
                    rustix::fs::openat(from, name, flags, Mode::empty()).at("open", &path)?;
                let sub_to =
                    rustix::fs::openat(to, name, flags, Mode::empty()).at("open", &path)?;
                copy_tree(sub_from.as_fd(), sub_to.as_fd(), &path, depth + 1)?;
                rustix::fs::fchown(&sub_to, uid, gid).at("chown", &path)?;
                rustix::fs::fchmod(&sub_to, mode).at("chmod", &path)?;
            }
            FileType::RegularFile => {
                let src = rustix::fs::openat(
                    from,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .at("open", &path)?;
                let dst = rustix::fs::openat(
                    to,
                    name,
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .at("create", &path)?;
                let (mut src, mut dst) = (std::fs::File::from(src), std::fs::File::from(dst));
                std::io::copy(&mut src, &mut dst).map_err(|e| Error::path("copy", &path, e))?;
                rustix::fs::fchown(&dst, uid, gid).at("chown", &path)?;
                rustix::fs::fchmod(&dst, mode).at("chmod", &path)?;
            }
            FileType::Symlink => {
                let link = rustix::fs::readlinkat(from, name, Vec::new()).at("readlink", &path)?;
                rustix::fs::symlinkat(&link, to, name).at("symlink", &path)?;
                rustix::fs::chownat(to, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                    .at("chown", &path)?;
            }
            ft => {
                rustix::fs::mknodat(to, name, ft, mode, st.st_rdev).at("mknod", &path)?;
                rustix::fs::chownat(to, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                    .at("chown", &path)?;
                rustix::fs::chmodat(to, name, mode, AtFlags::empty()).at("chmod", &path)?;
            }
        }
    }
    Ok(())
}

/// `type: cgroup`: cgroup2 in a cgroup namespace on v2 hosts; otherwise a tmpfs with a bind of
/// the container's own cgroup directory per hierarchy (what runc does on v1), read-only if asked.
fn mount_cgroup(
    dest: &Path,
    typ: &str,
    o: &Options,
    root: BorrowedFd<'_>,
    cx: &Context2<'_>,
) -> Result<()> {
    let target = inroot::mkdir_all(root, dest, 0o755)?;
    let Some(h) = cx.hierarchy else {
        return Err(Error::Config(
            "cgroup mount requested but no cgroup hierarchy found".into(),
        ));
    };
    let pure_v2 = h.mode() == berth_cgroups::Mode::V2;
    if pure_v2 || typ == "cgroup2" {
        if cx.new_cgroupns || cx.cgroup.is_none() {
            if let Some(mnt) = mounts::mount_fs("cgroup2", Some("cgroup"), target.as_fd(), o, dest)?
            {
                mounts::set_propagation(mnt.as_fd(), o.propagation)?;
            }
        } else if let Some(dir) = cx.cgroup.and_then(|c| c.dir("")) {
            mounts::bind(&dir, target.as_fd(), o, dest)?;
        }
        return Ok(());
    }
    // v1 / hybrid: tmpfs holding one directory per hierarchy.
    let tmpfs_opts = Options {
        set: o.set & !mounts::MOUNT_ATTR_RDONLY,
        data: vec![("mode".into(), Some("755".into()))],
        ..Default::default()
    };
    let tmp = new_attached_tmpfs(target.as_fd(), &tmpfs_opts, dest)?;
    let dir = inroot::mkdir_all(root, dest, 0o755)?;
    for m in h.mounts() {
        let name: String = if m.v2 {
            "unified".into()
        } else {
            m.controllers
                .iter()
                .map(|c| c.trim_start_matches("name="))
                .collect::<Vec<_>>()
                .join(",")
        };
        if name.is_empty() {
            continue;
        }
        let key = if m.v2 {
            String::new()
        } else {
            m.controllers.first().cloned().unwrap_or_default()
        };
        let src = cx
            .cgroup
            .and_then(|c| c.dir(&key))
            .unwrap_or_else(|| m.mount_point.clone());
        let sub = inroot::mkdir_all(root, &dest.join(&name), 0o755)?;
        let bind_opts = Options {
            set: o.set,
            clear: o.clear,
            ..Default::default()
        };
        if let Err(e) = mounts::bind(&src, sub.as_fd(), &bind_opts, &dest.join(&name)) {
            tracing::warn!(hierarchy = %name, error = %e, "cannot bind cgroup hierarchy");
            continue;
        }
        if !m.v2 && m.controllers.len() > 1 {
            for c in &m.controllers {
                let _ = rustix::fs::symlinkat(name.as_str(), &dir, c.trim_start_matches("name="));
            }
        }
    }
    if o.set & mounts::MOUNT_ATTR_RDONLY != 0 {
        mounts::setattr(tmp.as_fd(), false, mounts::MOUNT_ATTR_RDONLY, 0, 0)?;
    }
    Ok(())
}

fn new_attached_tmpfs(target: BorrowedFd<'_>, o: &Options, dest: &Path) -> Result<OwnedFd> {
    let mnt = mounts::new_fs("tmpfs", Some("tmpfs"), o)?;
    mounts::attach(mnt.as_fd(), target, dest)?;
    Ok(mnt)
}

fn makedev(major: i64, minor: i64) -> u64 {
    rustix::fs::makedev(major as u32, minor as u32)
}

/// Creates the default device nodes and the configured ones, plus the standard /dev links.
/// In a user namespace (no mknod) each device is a bind of the host's node instead.
pub fn create_devices(spec: &Spec, root: BorrowedFd<'_>, in_userns: bool) -> Result<()> {
    let dev = inroot::mkdir_all(root, Path::new("/dev"), 0o755)?;
    let mut list: Vec<(PathBuf, FileType, u64, u32, u32, u32)> = DEFAULT_DEVICES
        .iter()
        .map(|(n, ma, mi)| {
            (
                PathBuf::from("/dev").join(n),
                FileType::CharacterDevice,
                makedev(*ma as i64, *mi as i64),
                0o666,
                0,
                0,
            )
        })
        .collect();
    for d in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        list.retain(|x| x.0 != *d.path());
        list.push(device_entry(d)?);
    }
    for (path, ft, rdev, mode, uid, gid) in list {
        let (parent, name) = inroot::split(&path)?;
        let pfd = inroot::mkdir_all(root, &parent, 0o755)?;
        if in_userns {
            let target = inroot::ensure_target(root, &path, false)?;
            mounts::bind(&path, target.as_fd(), &Options::default(), &path)?;
            continue;
        }
        let _ = rustix::fs::unlinkat(&pfd, &name, rustix::fs::AtFlags::empty());
        rustix::fs::mknodat(&pfd, &name, ft, Mode::from_raw_mode(mode & 0o7777), rdev)
            .at("mknod", &path)?;
        let fd = inroot::open(root, &path, OFlags::PATH | OFlags::NOFOLLOW)?;
        rustix::fs::fchown(
            rustix::fs::open(
                inroot::fd_path(&fd),
                OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
                Mode::empty(),
            )
            .or_else(|_| {
                rustix::fs::open(
                    inroot::fd_path(&fd),
                    OFlags::PATH | OFlags::CLOEXEC,
                    Mode::empty(),
                )
            })
            .at("open device", &path)?,
            Some(rustix::process::Uid::from_raw(uid)),
            Some(rustix::process::Gid::from_raw(gid)),
        )
        .ok();
        // mknod is subject to the umask; make the mode exact.
        rustix::fs::chmodat(
            &pfd,
            &name,
            Mode::from_raw_mode(mode & 0o7777),
            rustix::fs::AtFlags::empty(),
        )
        .at("chmod", &path)?;
    }
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        match rustix::fs::symlinkat(to, &dev, link) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(Error::path("symlink", format!("/dev/{link}"), e)),
        }
    }
    // /dev/ptmx → pts/ptmx, so the devpts instance of the container serves it.
    if inroot::open(root, Path::new("/dev/pts/ptmx"), OFlags::PATH).is_ok() {
        let _ = rustix::fs::unlinkat(&dev, "ptmx", rustix::fs::AtFlags::empty());
        rustix::fs::symlinkat("pts/ptmx", &dev, "ptmx").at("symlink", "/dev/ptmx")?;
    }
    Ok(())
}

fn device_entry(d: &LinuxDevice) -> Result<(PathBuf, FileType, u64, u32, u32, u32)> {
    let ft = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
        LinuxDeviceType::B => FileType::BlockDevice,
        LinuxDeviceType::P => FileType::Fifo,
        LinuxDeviceType::A => {
            return Err(Error::Config(format!(
                "device {:?}: type 'a' is not a node",
                d.path()
            )));
        }
    };
    if !d.path().starts_with("/dev") {
        return Err(Error::Config(format!(
            "device {:?} is not under /dev",
            d.path()
        )));
    }
    Ok((
        d.path().clone(),
        ft,
        makedev(d.major(), d.minor()),
        d.file_mode().unwrap_or(0o666),
        d.uid().unwrap_or(0),
        d.gid().unwrap_or(0),
    ))
}

/// Opens the container's own /dev/pts/ptmx and returns (master, peer). The peer comes from
/// TIOCGPTPEER, never from a /dev/pts/N path the container could have swapped (CVE-2025-52565).
pub fn open_console(root: BorrowedFd<'_>, size: Option<(u16, u16)>) -> Result<(OwnedFd, OwnedFd)> {
    let master = inroot::open(
        root,
        Path::new("/dev/pts/ptmx"),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::NOFOLLOW,
    )
    .map_err(|e| {
        Error::Config(format!(
            "terminal requested but no devpts instance at /dev/pts: {e}"
        ))
    })?;
    let st = rustix::fs::fstat(&master).ctx(|| "fstat ptmx".into())?;
    if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice
        || rustix::fs::major(st.st_rdev) != 5
        || rustix::fs::minor(st.st_rdev) != 2
    {
        return Err(Error::Init(
            "/dev/pts/ptmx is not the devpts ptmx device".into(),
        ));
    }
    rustix::pty::unlockpt(&master).ctx(|| "unlockpt".into())?;
    let peer = rustix::pty::ioctl_tiocgptpeer(
        &master,
        rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY,
    )
    .ctx(|| "TIOCGPTPEER".into())?;
    if let Some((rows, cols)) = size {
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&master, ws).ctx(|| "set console size".into())?;
    }
    Ok((master, peer))
}

/// Binds the console peer over /dev/console.
pub fn bind_console(root: BorrowedFd<'_>, peer: BorrowedFd<'_>) -> Result<()> {
    // CVE-2025-52565: when /dev is the image's own, /dev/console may be a symlink (say to
    // /proc/sys/kernel/core_pattern); following it would mount the pty over its target. Anything
    // there that is not a plain file or a device is replaced by an empty file, and the mount
    // goes onto a descriptor of that very file, opened without following symlinks.
    use rustix::fs::AtFlags;
    let dev = inroot::mkdir_all(root, Path::new("/dev"), 0o755)?;
    let is_target = |ft: FileType| matches!(ft, FileType::RegularFile | FileType::CharacterDevice);
    match rustix::fs::statat(&dev, "console", AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if !is_target(FileType::from_raw_mode(st.st_mode)) => {
            rustix::fs::unlinkat(&dev, "console", AtFlags::empty())
                .at("remove non-file", "/dev/console")?;
        }
        _ => {}
    }
    match rustix::fs::openat(
        &dev,
        "console",
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    ) {
        Ok(_) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(Error::path("create", "/dev/console", e)),
    }
    let target = rustix::fs::openat(
        &dev,
        "console",
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open", "/dev/console")?;
    let st = rustix::fs::fstat(&target).ctx(|| "fstat /dev/console".into())?;
    if !is_target(FileType::from_raw_mode(st.st_mode)) {
        return Err(Error::Init(
            "/dev/console changed under us (not a file or device); refusing to mount on it".into(),
        ));
    }
    let tree = mounts::clone_tree(peer, Path::new(""), false)?;
    mounts::attach(tree.as_fd(), target.as_fd(), Path::new("/dev/console"))
}

/// pivot_root into `root` and detach the old root; or, with `no_pivot`, move + chroot (for
/// ramfs roots where pivot_root is impossible).
pub fn pivot(root: BorrowedFd<'_>, rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        rustix::process::fchdir(root).ctx(|| "fchdir rootfs".into())?;
        rustix::mount::mount_move(rootfs, "/").ctx(|| "move rootfs to /".into())?;
        rustix::process::chroot(".").ctx(|| "chroot".into())?;
    } else {
        rustix::process::fchdir(root).ctx(|| "fchdir rootfs".into())?;
        rustix::process::pivot_root(".", ".").ctx(|| "pivot_root".into())?;
        rustix::mount::unmount(".", rustix::mount::UnmountFlags::DETACH)
            .ctx(|| "detach old root".into())?;
    }
    rustix::process::chdir("/").ctx(|| "chdir /".into())
}

/// A procfs handle we made ourselves (detached, never visible in the tree), so procfs writes
/// cannot be redirected by anything inside the container (CVE-2025-52881). Falls back to the
/// host's /proc opened before pivot, checked to be a procfs root.
pub fn private_proc(fallback: Option<&OwnedFd>) -> Result<OwnedFd> {
    if let Ok(fd) = mounts::new_fs(
        "proc",
        Some("proc"),
        &Options {
            set: mounts::MOUNT_ATTR_NOSUID | mounts::MOUNT_ATTR_NODEV | mounts::MOUNT_ATTR_NOEXEC,
            ..Default::default()
        },
    ) {
        return Ok(fd);
    }
    let fd = fallback.ok_or_else(|| Error::Init("no procfs handle".into()))?;
    let fd = rustix::io::fcntl_dupfd_cloexec(fd, 3).ctx(|| "dup proc".into())?;
    verify_proc_root(fd.as_fd())?;
    Ok(fd)
}

pub fn verify_proc_root(fd: BorrowedFd<'_>) -> Result<()> {
    let sfs = rustix::fs::fstatfs(fd).ctx(|| "fstatfs proc".into())?;
    let st = rustix::fs::fstat(fd).ctx(|| "fstat proc".into())?;
    if sfs.f_type as i64 != PROC_SUPER_MAGIC || st.st_ino != 1 {
        return Err(Error::Init(
            "procfs handle is not the root of a procfs".into(),
        ));
    }
    Ok(())
}

/// Opens a file below a procfs handle, refusing symlinks and crossings into other mounts.
pub fn open_proc(proc: BorrowedFd<'_>, rel: &str, flags: OFlags) -> Result<OwnedFd> {
    use rustix::fs::ResolveFlags;
    rustix::fs::openat2(
        proc,
        rel,
        flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::BENEATH
            | ResolveFlags::NO_XDEV
            | ResolveFlags::NO_MAGICLINKS
            | ResolveFlags::NO_SYMLINKS,
    )
    .map_err(|e| Error::path("open in procfs", format!("/proc/{rel}"), e))
}

/// Writes `linux.sysctl` through the private procfs handle.
pub fn write_sysctls(
    spec: &Spec,
    proc: BorrowedFd<'_>,
    host_ns: &[(oci_spec::runtime::LinuxNamespaceType, u64)],
) -> Result<()> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in keys {
        if k.is_empty() || k.contains("..") || k.starts_with('/') || k.starts_with('.') {
            return Err(Error::Config(format!("invalid sysctl name {k:?}")));
        }
        if let Some(t) = sysctl_namespaced(spec, k)?
            && let Some((_, host)) = host_ns.iter().find(|(h, _)| *h == t)
        {
            let name = crate::namespaces::proc_name(t);
            let own = rustix::fs::statat(
                proc,
                format!("self/ns/{name}"),
                rustix::fs::AtFlags::empty(),
            )
            .map_err(|e| Error::sys(format!("stat /proc/self/ns/{name}"), e))?;
            if own.st_ino == *host {
                return Err(Error::Config(format!(
                    "sysctl {k:?}: the container's {name} namespace is the host's; refusing to set it"
                )));
            }
        }
        let rel = format!("sys/{}", k.replace('.', "/"));
        let fd = open_proc(proc, &rel, OFlags::WRONLY | OFlags::TRUNC)?;
        rustix::io::write(&fd, map[k].as_bytes())
            .map_err(|e| Error::sys(format!("write sysctl {k}"), e))?;
    }
    Ok(())
}

/// Only per-namespace sysctls (runc's rule), and only when the container has that namespace:
/// any other sysctl is host-wide, and writing it during setup (as root, with every capability)
/// would change the host for everyone (e.g. `kernel.core_pattern`, a host escape).
fn sysctl_namespaced(
    spec: &Spec,
    key: &str,
) -> Result<Option<oci_spec::runtime::LinuxNamespaceType>> {
    use oci_spec::runtime::LinuxNamespaceType as T;
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let has = |t: T| {
        spec.linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
    };
    let dotted = key.replace('/', ".");
    let needs = if IPC.contains(&dotted.as_str()) || dotted.starts_with("fs.mqueue.") {
        Some(T::Ipc)
    } else if dotted.starts_with("net.") {
        Some(T::Network)
    } else if dotted == "kernel.domainname" || dotted == "kernel.hostname" {
        Some(T::Uts)
    } else {
        None
    };
    match needs {
        Some(t) if has(t) => Ok(Some(t)),
        Some(t) => Err(Error::Config(format!(
            "sysctl {key:?} needs its own {t:?} namespace; refusing to set it on the host's"
        ))),
        None => Err(Error::Config(format!(
            "sysctl {key:?} is not in a separate kernel namespace; refusing to set it"
        ))),
    }
}

fn open_nofollow(path: &str) -> std::result::Result<OwnedFd, rustix::io::Errno> {
    use rustix::fs::ResolveFlags;
    rustix::fs::openat2(
        rustix::fs::CWD,
        path,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_SYMLINKS,
    )
}

/// Masks `linux.maskedPaths` (after pivot_root): files get /dev/null, verified to be the real
/// 1:3 device first (CVE-2025-31133); directories share one read-only empty tmpfs.
pub fn mask_paths(paths: &[String]) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let null = rustix::fs::open(
        "/dev/null",
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open", "/dev/null")?;
    let st = rustix::fs::fstat(&null).ctx(|| "fstat /dev/null".into())?;
    if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice
        || st.st_rdev != rustix::fs::makedev(1, 3)
    {
        return Err(Error::Init(
            "/dev/null in the container is not the null device; refusing to mask with it".into(),
        ));
    }
    let mut empty_dir: Option<OwnedFd> = None;
    for p in paths {
        let fd = match open_nofollow(p) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => continue,
            // A symlink (or magic link) where a masked path should be: mask nothing through it.
            Err(rustix::io::Errno::LOOP) | Err(rustix::io::Errno::XDEV) => continue,
            Err(e) => return Err(Error::path("open masked path", p, e)),
        };
        let st = rustix::fs::fstat(&fd).ctx(|| format!("fstat {p}"))?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            if let Some(t) = &empty_dir {
                // Later directories share the first tmpfs through a clone of its (attached) mount.
                let tree = mounts::clone_tree(t.as_fd(), Path::new(""), false)?;
                mounts::attach(tree.as_fd(), fd.as_fd(), Path::new(p))?;
            } else {
                let o = Options {
                    set: mounts::MOUNT_ATTR_RDONLY
                        | mounts::MOUNT_ATTR_NOSUID
                        | mounts::MOUNT_ATTR_NODEV
                        | mounts::MOUNT_ATTR_NOEXEC,
                    data: vec![
                        ("size".into(), Some("0".into())),
                        ("mode".into(), Some("755".into())),
                    ],
                    ..Default::default()
                };
                let t = mounts::new_fs("tmpfs", Some("tmpfs"), &o)?;
                let sfs = rustix::fs::fstatfs(&t).ctx(|| "fstatfs mask tmpfs".into())?;
                if sfs.f_type as i64 != TMPFS_MAGIC {
                    return Err(Error::Init("mask tmpfs is not a tmpfs".into()));
                }
                mounts::attach(t.as_fd(), fd.as_fd(), Path::new(p))?;
                empty_dir = Some(t);
            }
            continue;
        }
        let tree = mounts::clone_tree(null.as_fd(), Path::new(""), false)?;
        mounts::attach(tree.as_fd(), fd.as_fd(), Path::new(p))?;
    }
    Ok(())
}

/// Makes `linux.readonlyPaths` read-only with a recursive read-only bind over themselves.
pub fn readonly_paths(paths: &[String]) -> Result<()> {
    for p in paths {
        let fd = match open_nofollow(p) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT)
            | Err(rustix::io::Errno::NOTDIR)
            | Err(rustix::io::Errno::LOOP)
            | Err(rustix::io::Errno::XDEV) => continue,
            Err(e) => return Err(Error::path("open readonly path", p, e)),
        };
        let tree = mounts::clone_tree(fd.as_fd(), Path::new(""), true)?;
        mounts::setattr(
            tree.as_fd(),
            true,
            mounts::MOUNT_ATTR_RDONLY
                | mounts::MOUNT_ATTR_NOSUID
                | mounts::MOUNT_ATTR_NODEV
                | mounts::MOUNT_ATTR_NOEXEC,
            0,
            0,
        )?;
        mounts::attach(tree.as_fd(), fd.as_fd(), Path::new(p))?;
    }
    Ok(())
}

/// `root.readonly`: the root mount itself (not the mounts below it) becomes read-only.
pub fn readonly_root() -> Result<()> {
    let fd = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at("open", "/")?;
    mounts::setattr(fd.as_fd(), false, mounts::MOUNT_ATTR_RDONLY, 0, 0)
}
