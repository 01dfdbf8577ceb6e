//! A container's upper dir → a layer tar and a change list (`docker diff`, commit, build).
//!
//! overlayfs records a deletion as a 0:0 character device and a replaced directory as
//! `trusted.overlay.opaque=y`; these become OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`).
//! Whether an entry is an addition or a change is decided by looking it up in the lower
//! layers. The upper dir belongs to the container, so it is walked fd-relative and no
//! symlink in it is ever followed.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::fsutil::{self, BENEATH, Root};

/// Docker's change kinds (the API's `Kind` 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

impl ChangeKind {
    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// Absolute path inside the container, e.g. `/etc/hosts`.
    pub path: String,
    pub kind: ChangeKind,
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("diff of {path}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

struct Walker<'a, W: Write> {
    lowers: Vec<Root>,
    tar: Option<&'a mut tar::Builder<W>>,
    changes: Vec<Change>,
    /// (dev, ino) of multiply-linked files already written, for hardlink entries.
    links: HashMap<(u64, u64), String>,
    buf: Vec<u8>,
}

/// Lists what the upper dir changed relative to `lowers` (top-most first).
pub fn changes(lowers: &[PathBuf], upper: &Path) -> Result<Vec<Change>, DiffError> {
    run::<io::Sink>(lowers, upper, None)
}

/// Writes the upper dir as an uncompressed layer tar to `out` and returns the changes.
pub fn write_diff<W: Write>(
    lowers: &[PathBuf],
    upper: &Path,
    out: W,
) -> Result<(Vec<Change>, W), DiffError> {
    let mut b = tar::Builder::new(out);
    b.mode(tar::HeaderMode::Complete);
    let changes = run(lowers, upper, Some(&mut b))?;
    let out = b.into_inner().map_err(|source| DiffError::Io {
        path: "/".into(),
        op: "finish tar",
        source,
    })?;
    Ok((changes, out))
}

fn run<W: Write>(
    lowers: &[PathBuf],
    upper: &Path,
    tar: Option<&mut tar::Builder<W>>,
) -> Result<Vec<Change>, DiffError> {
    let ioe = |path: &Path, op| {
        let path = path.display().to_string();
        move |source| DiffError::Io { path, op, source }
    };
    let lowers = lowers
        .iter()
        .map(|l| Root::open(l).map_err(ioe(l, "open lower")))
        .collect::<Result<Vec<_>, _>>()?;
    let root = Root::open(upper).map_err(ioe(upper, "open upper"))?;
    let mut w = Walker {
        lowers,
        tar,
        changes: Vec::new(),
        links: HashMap::new(),
        buf: vec![0; 128 * 1024],
    };
    w.walk(root.fd(), &mut Vec::new())?;
    w.changes.sort();
    Ok(w.changes)
}

fn show_path(comps: &[OsString]) -> String {
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(&c.to_string_lossy());
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// Appends an entry named by the raw bytes `name` (and `link`), as written, so a directory
/// keeps the trailing `/` Docker's archives give it (the tar crate drops it). Names longer
/// than the header's 100 bytes go in GNU long-name records first.
pub fn append_named<W: io::Write>(
    b: &mut tar::Builder<W>,
    h: &mut tar::Header,
    name: &[u8],
    link: Option<&[u8]>,
    data: impl io::Read,
) -> io::Result<()> {
    fn long<W: io::Write>(
        b: &mut tar::Builder<W>,
        kind: tar::EntryType,
        v: &[u8],
    ) -> io::Result<()> {
        let mut lh = tar::Header::new_gnu();
        lh.as_gnu_mut().expect("a GNU header").name[..13].copy_from_slice(b"././@LongLink");
        lh.set_mode(0o644);
        lh.set_uid(0);
        lh.set_gid(0);
        lh.set_mtime(0);
        lh.set_size(v.len() as u64 + 1);
        lh.set_entry_type(kind);
        lh.set_cksum();
        b.append(&lh, io::Read::chain(v, &[0u8][..]))
    }
    if name.len() > 100 {
        long(b, tar::EntryType::GNULongName, name)?;
    }
    if let Some(l) = link
        && l.len() > 100
    {
        long(b, tar::EntryType::new(b'K'), l)?;
    }
    let old = h.as_old_mut();
    old.name = [0; 100];
    let n = name.len().min(100);
    old.name[..n].copy_from_slice(&name[..n]);
    if let Some(l) = link {
        old.linkname = [0; 100];
        let n = l.len().min(100);
        old.linkname[..n].copy_from_slice(&l[..n]);
    }
    h.set_cksum();
    b.append(h, data)
}

fn tar_path(comps: &[OsString]) -> PathBuf {
    comps.iter().collect()
}

fn get_xattr_fd(fd: BorrowedFd<'_>, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 64];
    let n = rustix::fs::fgetxattr(fd, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// xattrs worth carrying into a layer: everything except overlayfs' own bookkeeping.
fn xattrs(fd: Option<BorrowedFd<'_>>, proc_path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; 4096];
    let n = match fd {
        Some(fd) => rustix::fs::flistxattr(fd, &mut names),
        None => rustix::fs::llistxattr(proc_path, &mut names),
    };
    let Ok(n) = n else { return Vec::new() };
    let mut out = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        let mut val = vec![0u8; 65536];
        let got = match fd {
            Some(fd) => rustix::fs::fgetxattr(fd, name, &mut val),
            None => rustix::fs::lgetxattr(proc_path, name, &mut val),
        };
        if let Ok(got) = got {
            val.truncate(got);
            out.push((name.to_owned(), val));
        }
    }
    out.sort();
    out
}

impl<W: Write> Walker<'_, W> {
    fn err(&self, comps: &[OsString], op: &'static str) -> impl FnOnce(io::Error) -> DiffError {
        let path = show_path(comps);
        move |source| DiffError::Io { path, op, source }
    }

    /// Whether `comps` exists in the merged lower layers.
    fn in_lower(&self, comps: &[OsString]) -> bool {
        let Some((name, parent)) = comps.split_last() else {
            return true;
        };
        for l in &self.lowers {
            let Ok(dir) = l.open_dir(parent) else {
                continue;
            };
            match rustix::fs::statat(&dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => {
                    let ft = FileType::from_raw_mode(st.st_mode);
                    return !(ft == FileType::CharacterDevice && st.st_rdev == 0);
                }
                Err(_) => {
                    if get_xattr_fd(dir.as_fd(), OPAQUE_XATTR).as_deref() == Some(b"y") {
                        return false;
                    }
                }
            }
        }
        false
    }

    fn walk(&mut self, dir: BorrowedFd<'_>, comps: &mut Vec<OsString>) -> Result<(), DiffError> {
        let mut entries = fsutil::list_dir(dir).map_err(self.err(comps, "read dir"))?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, _) in entries {
            comps.push(name.clone());
            let r = self.entry(dir, &name, comps);
            comps.pop();
            r?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        comps: &mut Vec<OsString>,
    ) -> Result<(), DiffError> {
        let st = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.err(comps, "stat")(e.into()))?;
        let ft = FileType::from_raw_mode(st.st_mode);
        let path = show_path(comps);
        if ft == FileType::CharacterDevice && st.st_rdev == 0 {
            self.changes.push(Change {
                path,
                kind: ChangeKind::Deleted,
            });
            if self.tar.is_some() {
                let mut wh = OsString::from(".wh.");
                wh.push(name);
                let mut p = tar_path(&comps[..comps.len() - 1]);
                p.push(wh);
                let mut h = header(&st, tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(0);
                self.append(comps, &mut h, &p, &[][..])?;
            }
            return Ok(());
        }
        let kind = if self.in_lower(comps) {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        self.changes.push(Change { path, kind });
        let tpath = tar_path(comps);
        match ft {
            FileType::Directory => {
                let fd =
                    fsutil::open_child_dir(parent, name).map_err(self.err(comps, "open dir"))?;
                let opaque = get_xattr_fd(fd.as_fd(), OPAQUE_XATTR).as_deref() == Some(b"y");
                if self.tar.is_some() {
                    let x = xattrs(Some(fd.as_fd()), Path::new(""));
                    self.pax(comps, &x)?;
                    let mut h = header(&st, tar::EntryType::Directory);
                    let mut name = tpath.as_os_str().as_bytes().to_vec();
                    name.push(b'/');
                    let tar = self.tar.as_mut().expect("only when writing");
                    append_named(tar, &mut h, &name, None, io::empty()).map_err(|e| {
                        DiffError::Io {
                            path: show_path(comps),
                            op: "write tar",
                            source: e,
                        }
                    })?;
                    if opaque {
                        let mut h = header(&st, tar::EntryType::Regular);
                        h.set_mode(0o644);
                        h.set_size(0);
                        self.append(comps, &mut h, &tpath.join(".wh..wh..opq"), &[][..])?;
                    }
                }
                self.walk(fd.as_fd(), comps)?;
            }
            _ if self.tar.is_none() => {}
            FileType::RegularFile => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(target) = self.links.get(&key).cloned() {
                        let mut h = header(&st, tar::EntryType::Link);
                        h.set_size(0);
                        let tar = self.tar.as_mut().expect("checked above");
                        return tar.append_link(&mut h, &tpath, &target).map_err(|e| {
                            DiffError::Io {
                                path: show_path(comps),
                                op: "write tar",
                                source: e,
                            }
                        });
                    }
                    self.links.insert(key, tpath.to_string_lossy().into_owned());
                }
                let fd: OwnedFd = rustix::fs::openat2(
                    parent,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    BENEATH,
                )
                .map_err(|e| self.err(comps, "open file")(e.into()))?;
                let x = xattrs(Some(fd.as_fd()), Path::new(""));
                self.pax(comps, &x)?;
                let mut h = header(&st, tar::EntryType::Regular);
                let file = std::fs::File::from(fd);
                let reader = ExactLen {
                    inner: io::BufReader::with_capacity(self.buf.len(), file),
                    remaining: h.size().unwrap_or(0),
                };
                self.append(comps, &mut h, &tpath, reader)?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(parent, name, Vec::new())
                    .map_err(|e| self.err(comps, "readlink")(e.into()))?;
                let x = xattrs(None, &fsutil::proc_fd_path(parent, name));
                self.pax(comps, &x)?;
                let mut h = header(&st, tar::EntryType::Symlink);
                h.set_size(0);
                let tar = self.tar.as_mut().expect("checked above");
                tar.append_link(&mut h, &tpath, OsStr::from_bytes(target.as_bytes()))
                    .map_err(|e| DiffError::Io {
                        path: show_path(comps),
                        op: "write tar",
                        source: e,
                    })?;
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let et = match ft {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let x = xattrs(None, &fsutil::proc_fd_path(parent, name));
                self.pax(comps, &x)?;
                let mut h = header(&st, et);
                h.set_size(0);
                let (maj, min) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
                // Device numbers always fit the 7-digit octal fields for real devices.
                let _ = h.set_device_major(maj);
                let _ = h.set_device_minor(min);
                self.append(comps, &mut h, &tpath, &[][..])?;
            }
            _ => {
                // Sockets and anything else cannot be carried in a layer.
                tracing::debug!(path = show_path(comps).as_str(), "skipping socket in diff");
            }
        }
        Ok(())
    }

    fn pax(&mut self, comps: &[OsString], x: &[(String, Vec<u8>)]) -> Result<(), DiffError> {
        if x.is_empty() {
            return Ok(());
        }
        let recs: Vec<(String, &[u8])> = x
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
            .collect();
        let tar = self.tar.as_mut().expect("pax is only called when writing");
        tar.append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v)))
            .map_err(|e| DiffError::Io {
                path: show_path(comps),
                op: "write tar",
                source: e,
            })
    }

    fn append<R: io::Read>(
        &mut self,
        comps: &[OsString],
        h: &mut tar::Header,
        path: &Path,
        data: R,
    ) -> Result<(), DiffError> {
        let tar = self
            .tar
            .as_mut()
            .expect("append is only called when writing");
        tar.append_data(h, path, data).map_err(|e| DiffError::Io {
            path: show_path(comps),
            op: "write tar",
            source: e,
        })
    }
}

/// Yields exactly the size recorded in the header: a file that grows while it is read is
/// cut, one that shrinks is padded with zeros, so the tar stream never desynchronizes.
struct ExactLen<R> {
    inner: R,
    remaining: u64,
}

impl<R: io::Read> io::Read for ExactLen<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = match self.inner.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn header(st: &rustix::fs::Stat, et: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(et);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(if et == tar::EntryType::Regular {
        st.st_size as u64
    } else {
        0
    });
    h
}
