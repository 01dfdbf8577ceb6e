//! The layer applier: a (possibly compressed) layer tar → files in one snapshot directory.
//!
//! `tar` is used only to iterate headers; every entry is created here, fd-relative below
//! the layer root (see [`crate::fsutil`]): parents are resolved with `openat2` and
//! `RESOLVE_NO_SYMLINKS`, final components with no-follow calls, so an entry can never be
//! written through a symlink planted by this or any other layer, and `..` is refused.
//! Headers are checked strictly: a PAX `size` that disagrees with the ustar size (the
//! CVE-2025-62518 desync), a malformed PAX record, a short entry or an unknown entry type
//! fails the layer rather than being skipped.
//!
//! OCI whiteouts become overlayfs ones: `.wh.NAME` → a 0:0 character device `NAME`, and
//! `.wh..wh..opq` → `trusted.overlay.opaque=y` on the directory. `trusted.overlay.*` xattrs
//! inside the layer are dropped: only the applier decides what overlayfs sees.
//!
//! The uncompressed stream is hashed as it is read (the diffID) and capped in size, so a
//! decompression bomb stops at the cap. The caller unpacks into a fresh directory and
//! discards it on error: a failed layer is never half-visible as a snapshot.

use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};

use crate::digest::{Digest, Hasher};
use crate::fsutil::{self, BENEATH, RelPath, Root};

/// Limits and expectations for one layer.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Cap on the uncompressed tar stream, in bytes.
    pub max_size: u64,
    /// Cap on the number of entries.
    pub max_entries: u64,
    /// Apply uid/gid from the archive (needs root; off when unpacking rootless).
    pub preserve_ownership: bool,
    /// Digest of the compressed stream, checked once it has been read to the end.
    pub expected_digest: Option<Digest>,
    /// diffID (digest of the uncompressed stream), checked likewise.
    pub expected_diff_id: Option<Digest>,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            max_size: 64 << 30,
            max_entries: 4_000_000,
            preserve_ownership: rustix::process::geteuid().is_root(),
            expected_digest: None,
            expected_diff_id: None,
        }
    }
}

/// What unpacking a layer measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStats {
    /// sha256 of the uncompressed tar stream.
    pub diff_id: Digest,
    /// sha256 of the stream as given (compressed).
    pub digest: Digest,
    pub compressed_size: u64,
    pub size: u64,
    /// The unpacked content's size as dockerd's graphdrivers count a layer (`docker
    /// history`, `images`): regular files' bytes plus symlinks' target lengths; directories,
    /// hard links (the inode once), devices and whiteouts count nothing. Counted from the
    /// entries as they are applied, so no walk of the result is needed.
    pub content_size: u64,
    pub entries: u64,
    pub compression: Compression,
}

/// Layer compression, detected from the stream's magic bytes (media types lie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn detect(magic: &[u8]) -> Compression {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Why a layer was refused. Entry paths are shown relative to the layer root.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("cannot open layer directory {path}: {source}")]
    Root {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading layer stream (compressed data corrupt or truncated): {0}")]
    Stream(#[source] io::Error),
    #[error("malformed tar archive: {0}")]
    Tar(#[source] io::Error),
    #[error("layer entry {path}: {reason}")]
    Malformed { path: String, reason: String },
    #[error("layer entry {path:?} refused: {reason}")]
    UnsafePath { path: String, reason: &'static str },
    #[error("layer entry {path}: PAX size {pax} disagrees with header size {header}")]
    PaxSizeMismatch { path: String, pax: u64, header: u64 },
    #[error("layer entry {path}: unsupported entry type {kind}")]
    Unsupported { path: String, kind: u8 },
    #[error("layer entry {path}: truncated data ({got} of {want} bytes)")]
    Truncated { path: String, got: u64, want: u64 },
    #[error("layer exceeds the unpacked size cap of {cap} bytes")]
    TooLarge { cap: u64 },
    #[error("layer exceeds the cap of {cap} entries")]
    TooManyEntries { cap: u64 },
    #[error("layer entry {path}: hardlink target {target} is not in this layer: {source}")]
    HardlinkTarget {
        path: String,
        target: String,
        #[source]
        source: io::Error,
    },
    #[error("layer entry {path}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("layer digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("layer diffID mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch { expected: Digest, actual: Digest },
}

/// Shared between the reader adapters and the applier, to tell a cap hit or a stream
/// failure apart from a tar parse error once the tar crate has wrapped them in `io::Error`.
#[derive(Default)]
struct StreamState {
    compressed: Hasher,
    uncompressed: Hasher,
    cap: u64,
    over_cap: bool,
    stream_failed: bool,
}

/// Hashes the compressed bytes.
struct RawTap<R> {
    inner: R,
    state: Rc<RefCell<StreamState>>,
}

impl<R: Read> Read for RawTap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|_| {
            self.state.borrow_mut().stream_failed = true;
        })?;
        self.state.borrow_mut().compressed.update(&buf[..n]);
        Ok(n)
    }
}

/// Hashes and caps the uncompressed bytes.
struct TarTap<'a> {
    inner: Box<dyn Read + 'a>,
    state: Rc<RefCell<StreamState>>,
}

impl Read for TarTap<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|_| {
            self.state.borrow_mut().stream_failed = true;
        })?;
        let mut st = self.state.borrow_mut();
        st.uncompressed.update(&buf[..n]);
        if st.uncompressed.len() > st.cap {
            st.over_cap = true;
            return Err(io::Error::other("unpacked size cap exceeded"));
        }
        Ok(n)
    }
}

/// Unpacks one layer stream into `dest` (an existing, normally empty, directory).
///
/// Runs synchronously: call it from a blocking thread.
pub fn apply_layer<R: Read>(
    input: R,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<LayerStats, UnpackError> {
    let span = tracing::debug_span!("apply_layer", dest = %dest.display());
    let _g = span.enter();
    let root = Root::open(dest).map_err(|source| UnpackError::Root {
        path: dest.to_owned(),
        source,
    })?;
    let state = Rc::new(RefCell::new(StreamState {
        cap: opts.max_size,
        ..Default::default()
    }));
    let raw = RawTap {
        inner: input,
        state: state.clone(),
    };
    let mut raw = io::BufReader::with_capacity(128 * 1024, raw);
    let magic = raw.fill_buf().map_err(UnpackError::Stream)?;
    let compression = Compression::detect(magic);
    let decoded = decoder(compression, raw)?;
    let tap = TarTap {
        inner: decoded,
        state: state.clone(),
    };
    let classify = |e: io::Error| {
        let st = state.borrow();
        if st.over_cap {
            UnpackError::TooLarge { cap: st.cap }
        } else if st.stream_failed {
            UnpackError::Stream(e)
        } else {
            UnpackError::Tar(e)
        }
    };

    let mut archive = tar::Archive::new(tap);
    let mut applier = Applier {
        root: &root,
        opts,
        dirs: Vec::new(),
        buf: vec![0u8; 128 * 1024],
        parent_cache: None,
        tree_changed: std::cell::Cell::new(false),
        content_size: 0,
    };
    let mut entries = 0u64;
    for entry in archive.entries().map_err(classify)? {
        let entry = entry.map_err(classify)?;
        entries += 1;
        if entries > opts.max_entries {
            return Err(UnpackError::TooManyEntries {
                cap: opts.max_entries,
            });
        }
        applier.apply(entry, &classify)?;
    }
    applier.finish_dirs()?;
    let content_size = applier.content_size;
    // Read the rest (end-of-archive blocks, padding) so the digests cover the whole stream.
    let mut tap = archive.into_inner();
    io::copy(&mut tap, &mut io::sink()).map_err(classify)?;
    drop(tap);

    let st = Rc::try_unwrap(state)
        .map_err(|_| ())
        .expect("all readers holding the state were dropped above")
        .into_inner();
    let (compressed_size, size) = (st.compressed.len(), st.uncompressed.len());
    let digest = st.compressed.finish();
    let diff_id = st.uncompressed.finish();
    if let Some(expected) = &opts.expected_digest
        && *expected != digest
    {
        return Err(UnpackError::DigestMismatch {
            expected: expected.clone(),
            actual: digest,
        });
    }
    if let Some(expected) = &opts.expected_diff_id
        && *expected != diff_id
    {
        return Err(UnpackError::DiffIdMismatch {
            expected: expected.clone(),
            actual: diff_id,
        });
    }
    tracing::debug!(%diff_id, %digest, size, compressed_size, entries, "layer applied");
    Ok(LayerStats {
        diff_id,
        digest,
        compressed_size,
        size,
        content_size,
        entries,
        compression,
    })
}

fn decoder<'a, R: BufRead + 'a>(c: Compression, raw: R) -> Result<Box<dyn Read + 'a>, UnpackError> {
    Ok(match c {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(raw).map_err(UnpackError::Stream)?)
        }
    })
}

struct Applier<'a> {
    root: &'a Root,
    opts: &'a UnpackOptions,
    /// Directories whose mtime is set at the end, after their children stopped changing it.
    dirs: Vec<(RelPath, i64)>,
    buf: Vec<u8>,
    /// The parent directory of the previous entry.
    parent_cache: Option<(Vec<OsString>, OwnedFd)>,
    /// Set when an entry removed a directory, which invalidates `parent_cache`.
    tree_changed: std::cell::Cell<bool>,
    /// See [`LayerStats::content_size`].
    content_size: u64,
}

/// The parts of a header the applier uses, after strict validation.
struct Meta {
    path: RelPath,
    display: String,
    kind: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: i64,
    size: u64,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Largest value an 11-digit octal ustar size field can hold; PAX carries larger sizes.
const USTAR_MAX_SIZE: u64 = 0o77777777777;

impl Applier<'_> {
    fn apply<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
        classify: &dyn Fn(io::Error) -> UnpackError,
    ) -> Result<(), UnpackError> {
        let meta = self.meta(&mut entry, classify)?;
        let span = tracing::trace_span!("entry", path = %meta.display, kind = meta.kind);
        let _g = span.enter();
        let Some((parent_comps, name)) = meta.path.split_last() else {
            // The root directory itself ("./"): only its metadata applies.
            if meta.kind == b'5' {
                let fd = rustix::io::fcntl_dupfd_cloexec(self.root.fd(), 0)
                    .map_err(|e| self.io(&meta, "dup", e.into()))?;
                self.set_meta_fd(&meta, fd.as_fd())?;
                self.dirs.push((meta.path.clone(), meta.mtime));
                return Ok(());
            }
            return Err(UnpackError::UnsafePath {
                path: meta.display,
                reason: "non-directory entry for the layer root",
            });
        };
        let name = name.to_owned();
        let parent_comps = parent_comps.to_vec();
        // Entries of one directory usually follow each other: reuse its fd while no entry
        // removed a directory (which could change what the cached path names).
        let parent_fd = match self.parent_cache.take() {
            Some((comps, fd)) if comps == parent_comps => fd,
            _ => self.root.mkdir_all(&parent_comps).map_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    UnpackError::UnsafePath {
                        path: meta.display.clone(),
                        reason: "a parent directory is a symlink",
                    }
                } else {
                    self.io(&meta, "open parent", e)
                }
            })?,
        };
        self.tree_changed.set(false);
        let r = self.apply_in(&meta, parent_fd.as_fd(), &name, &mut entry, classify);
        if !self.tree_changed.get() {
            self.parent_cache = Some((parent_comps, parent_fd));
        }
        r
    }

    fn apply_in<R: Read>(
        &mut self,
        meta: &Meta,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        entry: &mut tar::Entry<'_, R>,
        classify: &dyn Fn(io::Error) -> UnpackError,
    ) -> Result<(), UnpackError> {
        let nb = name.as_bytes();
        if nb == OPAQUE {
            return rustix::fs::fsetxattr(parent, OPAQUE_XATTR, b"y", XattrFlags::empty())
                .map_err(|e| self.io(meta, "set opaque xattr", e.into()));
        }
        if let Some(hidden) = nb.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.starts_with(WHITEOUT_PREFIX) {
                // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): no meaning for overlayfs.
                tracing::debug!(path = %meta.display, "skipping aufs metadata entry");
                return Ok(());
            }
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(UnpackError::UnsafePath {
                    path: meta.display.clone(),
                    reason: "whiteout of an invalid name",
                });
            }
            let hidden = OsStr::from_bytes(hidden);
            self.clear_slot(meta, parent, hidden, false)?;
            return rustix::fs::mknodat(
                parent,
                hidden,
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(|e| self.io(meta, "create whiteout", e.into()));
        }

        match meta.kind {
            b'0' | b'\0' | b'7' => {
                self.content_size += meta.size;
                self.file(meta, parent, name, entry, classify)
            }
            b'5' => self.dir(meta, parent, name),
            b'2' => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.malformed(meta, "symlink without a target"))?
                    .into_owned();
                self.content_size += target.len() as u64;
                self.create(meta, parent, name, "symlink", || {
                    rustix::fs::symlinkat(OsStr::from_bytes(&target), parent, name)
                })?;
                self.set_meta_at(meta, parent, name, false)
            }
            b'1' => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| self.malformed(meta, "hardlink without a target"))?
                    .into_owned();
                self.hardlink(meta, parent, name, &target)
            }
            b'3' | b'4' | b'6' => {
                let (ft, dev) = match meta.kind {
                    b'6' => (FileType::Fifo, 0),
                    k => {
                        let major = entry
                            .header()
                            .device_major()
                            .map_err(|e| self.malformed(meta, &e.to_string()))?
                            .unwrap_or(0);
                        let minor = entry
                            .header()
                            .device_minor()
                            .map_err(|e| self.malformed(meta, &e.to_string()))?
                            .unwrap_or(0);
                        let ft = if k == b'3' {
                            FileType::CharacterDevice
                        } else {
                            FileType::BlockDevice
                        };
                        (ft, rustix::fs::makedev(major, minor))
                    }
                };
                self.create(meta, parent, name, "mknod", || {
                    rustix::fs::mknodat(parent, name, ft, Mode::empty(), dev)
                })?;
                self.set_meta_at(meta, parent, name, true)
            }
            b'g' => Ok(()), // global PAX header: nothing berth uses
            kind => Err(UnpackError::Unsupported {
                path: meta.display.clone(),
                kind,
            }),
        }
    }

    /// Validates the header and gathers what the applier needs.
    fn meta<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        classify: &dyn Fn(io::Error) -> UnpackError,
    ) -> Result<Meta, UnpackError> {
        let raw_path = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        let bad = |reason: String| UnpackError::Malformed {
            path: shown.clone(),
            reason,
        };
        let path = RelPath::parse(&raw_path).map_err(|reason| UnpackError::UnsafePath {
            path: shown.clone(),
            reason,
        })?;
        let header_size = entry
            .header()
            .entry_size()
            .map_err(|e| bad(format!("bad size field: {e}")))?;
        let mut xattrs = Vec::new();
        let mut pax_size = None;
        if let Some(exts) = entry.pax_extensions().map_err(classify)? {
            for ext in exts {
                let ext = ext.map_err(|e| bad(format!("bad PAX record: {e}")))?;
                let key = ext
                    .key()
                    .map_err(|_| bad("PAX key is not UTF-8".to_owned()))?;
                if key == "size" {
                    let v = ext
                        .value()
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| bad("PAX size is not a number".to_owned()))?;
                    pax_size = Some(v);
                } else if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    if name.starts_with("trusted.overlay.") {
                        tracing::warn!(
                            path = shown.as_str(),
                            xattr = name,
                            "dropping overlay xattr from layer"
                        );
                        continue;
                    }
                    xattrs.push((OsString::from(name), ext.value_bytes().to_vec()));
                }
            }
        }
        if let Some(pax) = pax_size
            && pax != header_size
            && pax <= USTAR_MAX_SIZE
        {
            return Err(UnpackError::PaxSizeMismatch {
                path: shown,
                pax,
                header: header_size,
            });
        }
        let TarNumbers {
            mode,
            uid,
            gid,
            mtime,
        } = tar_numbers(entry).map_err(bad)?;
        let h = entry.header();
        if uid > u64::from(u32::MAX - 1) || gid > u64::from(u32::MAX - 1) {
            return Err(bad(format!("uid/gid {uid}/{gid} out of range")));
        }
        Ok(Meta {
            path,
            display: shown,
            kind: h.entry_type().as_byte(),
            mode: mode & 0o7777,
            uid,
            gid,
            mtime: i64::try_from(mtime).unwrap_or(i64::MAX),
            size: entry.size(),
            xattrs,
        })
    }

    fn malformed(&self, meta: &Meta, reason: &str) -> UnpackError {
        UnpackError::Malformed {
            path: meta.display.clone(),
            reason: reason.to_owned(),
        }
    }

    fn io(&self, meta: &Meta, op: &'static str, source: io::Error) -> UnpackError {
        UnpackError::Io {
            path: meta.display.clone(),
            op,
            source,
        }
    }

    /// Runs `op` (an exclusive create of `name`); if something is already there, clears
    /// the slot (see [`Self::clear_slot`]) and tries once more. Creating first saves a
    /// stat per entry in the common case of a fresh name.
    fn create<T>(
        &self,
        meta: &Meta,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        what: &'static str,
        op: impl Fn() -> rustix::io::Result<T>,
    ) -> Result<T, UnpackError> {
        let r = match op() {
            Err(rustix::io::Errno::EXIST) => {
                self.clear_slot(meta, parent, name, false)?;
                op()
            }
            r => r,
        };
        r.map_err(|e| self.io(meta, what, e.into()))
    }

    /// Makes room for a new entry called `name`: whatever is there is removed, except an
    /// existing directory when the new entry is also a directory (tar merges those).
    /// Returns whether a directory was kept.
    fn clear_slot(
        &self,
        meta: &Meta,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        new_is_dir: bool,
    ) -> Result<bool, UnpackError> {
        match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(self.io(meta, "stat", e.into())),
            Ok(st) => {
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                if is_dir && new_is_dir {
                    return Ok(true);
                }
                if is_dir {
                    self.tree_changed.set(true);
                }
                fsutil::remove_all_at(parent, name)
                    .map_err(|e| self.io(meta, "replace existing entry", e))?;
                Ok(false)
            }
        }
    }

    fn file<R: Read>(
        &mut self,
        meta: &Meta,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        data: &mut R,
        classify: &dyn Fn(io::Error) -> UnpackError,
    ) -> Result<(), UnpackError> {
        let fd = self.create(meta, parent, name, "create file", || {
            rustix::fs::openat2(
                parent,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
                BENEATH,
            )
        })?;
        let mut file = std::fs::File::from(fd);
        let mut got = 0u64;
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(classify(e)),
            };
            file.write_all(&self.buf[..n])
                .map_err(|e| self.io(meta, "write file", e))?;
            got += n as u64;
        }
        if got != meta.size {
            return Err(UnpackError::Truncated {
                path: meta.display.clone(),
                got,
                want: meta.size,
            });
        }
        self.set_meta_fd(meta, file.as_fd())?;
        set_times_fd(file.as_fd(), meta.mtime).map_err(|e| self.io(meta, "set mtime", e))
    }

    fn dir(
        &mut self,
        meta: &Meta,
        parent: BorrowedFd<'_>,
        name: &OsStr,
    ) -> Result<(), UnpackError> {
        match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                if !self.clear_slot(meta, parent, name, true)? {
                    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                        .map_err(|e| self.io(meta, "mkdir", e.into()))?;
                }
            }
            Err(e) => return Err(self.io(meta, "mkdir", e.into())),
        }
        let fd: OwnedFd =
            fsutil::open_child_dir(parent, name).map_err(|e| self.io(meta, "open directory", e))?;
        self.set_meta_fd(meta, fd.as_fd())?;
        self.dirs.push((meta.path.clone(), meta.mtime));
        Ok(())
    }

    fn hardlink(
        &self,
        meta: &Meta,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        target: &[u8],
    ) -> Result<(), UnpackError> {
        let tdisplay = String::from_utf8_lossy(target).into_owned();
        let tpath = RelPath::parse(target).map_err(|reason| UnpackError::UnsafePath {
            path: meta.display.clone(),
            reason,
        })?;
        let target_err = |source: io::Error| UnpackError::HardlinkTarget {
            path: meta.display.clone(),
            target: tdisplay.clone(),
            source,
        };
        let Some((tparent_comps, tname)) = tpath.split_last() else {
            return Err(UnpackError::UnsafePath {
                path: meta.display.clone(),
                reason: "hardlink to the layer root",
            });
        };
        if tpath == meta.path {
            return Err(self.malformed(meta, "hardlink to itself"));
        }
        let tparent = self.root.open_dir(tparent_comps).map_err(target_err)?;
        // The target must already exist in this layer, and must not be a directory.
        let st = rustix::fs::statat(&tparent, tname, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| target_err(e.into()))?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            return Err(target_err(io::Error::other("target is a directory")));
        }
        self.clear_slot(meta, parent, name, false)?;
        // linkat without AT_SYMLINK_FOLLOW links a symlink itself, never its target.
        rustix::fs::linkat(&tparent, tname, parent, name, AtFlags::empty())
            .map_err(|e| self.io(meta, "link", e.into()))
    }

    /// Ownership, mode and xattrs through an open fd (files and directories).
    fn set_meta_fd(&self, meta: &Meta, fd: BorrowedFd<'_>) -> Result<(), UnpackError> {
        if self.opts.preserve_ownership {
            rustix::fs::fchown(fd, Some(uid(meta.uid)), Some(gid(meta.gid)))
                .map_err(|e| self.io(meta, "chown", e.into()))?;
        }
        // After chown, which clears set-id bits.
        rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode))
            .map_err(|e| self.io(meta, "chmod", e.into()))?;
        for (k, v) in &meta.xattrs {
            rustix::fs::fsetxattr(fd, k.as_os_str(), v, XattrFlags::empty())
                .map_err(|e| self.io(meta, "set xattr", e.into()))?;
        }
        Ok(())
    }

    /// The same for symlinks and device nodes, which must not be opened.
    fn set_meta_at(
        &self,
        meta: &Meta,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        chmod: bool,
    ) -> Result<(), UnpackError> {
        if self.opts.preserve_ownership {
            rustix::fs::chownat(
                parent,
                name,
                Some(uid(meta.uid)),
                Some(gid(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| self.io(meta, "chown", e.into()))?;
        }
        if chmod {
            // Only for nodes this applier just created with mknodat: the final component
            // is not a symlink, so fchmodat (which would follow one) is safe here.
            rustix::fs::chmodat(
                parent,
                name,
                Mode::from_raw_mode(meta.mode),
                AtFlags::empty(),
            )
            .map_err(|e| self.io(meta, "chmod", e.into()))?;
        }
        if !meta.xattrs.is_empty() {
            let p = fsutil::proc_fd_path(parent, name);
            for (k, v) in &meta.xattrs {
                rustix::fs::lsetxattr(&p, k.as_os_str(), v, XattrFlags::empty())
                    .map_err(|e| self.io(meta, "set xattr", e.into()))?;
            }
        }
        let ts = timestamps(meta.mtime);
        rustix::fs::utimensat(parent, name, &ts, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.io(meta, "set mtime", e.into()))
    }

    /// Directory mtimes, deepest first, once no more children will be added.
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.depth()));
        for (path, mtime) in dirs {
            let fd = match self.root.open_dir(&path.0) {
                Ok(fd) => fd,
                // Replaced or whited out by a later entry (a symlink now, maybe).
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    return Err(UnpackError::Io {
                        path: path.to_string(),
                        op: "open directory",
                        source: e,
                    });
                }
            };
            set_times_fd(fd.as_fd(), mtime).map_err(|e| UnpackError::Io {
                path: path.to_string(),
                op: "set mtime",
                source: e,
            })?;
        }
        Ok(())
    }
}

fn uid(raw: u64) -> Uid {
    // Range-checked in `meta` (below u32::MAX, so never the -1 "unchanged" value).
    Uid::from_raw(raw as u32)
}

fn gid(raw: u64) -> Gid {
    Gid::from_raw(raw as u32)
}

fn timestamps(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn set_times_fd(fd: BorrowedFd<'_>, mtime: i64) -> io::Result<()> {
    Ok(rustix::fs::futimens(fd, &timestamps(mtime))?)
}

/// The numeric fields of a tar entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TarNumbers {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch (a negative time reads as 0).
    pub mtime: u64,
}

/// An entry's mode, owner and time as Go's archive/tar (and so dockerd) reads them: PAX
/// `uid`, `gid` and `mtime` records override the header (ids beyond the octal fields'
/// range, times with fractions); a header field left empty (NULs or spaces, as some
/// writers leave uid/gid) reads as 0. Other garbage is an error, in words for a message.
pub fn tar_numbers<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<TarNumbers, String> {
    let (mut uid, mut gid, mut mtime) = (None, None, None);
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            let Ok(key) = ext.key() else { continue };
            let slot = match key {
                "uid" => &mut uid,
                "gid" => &mut gid,
                "mtime" => &mut mtime,
                _ => continue,
            };
            let v = ext.value().ok().and_then(|v| pax_number(v, key == "mtime"));
            *slot = Some(v.ok_or_else(|| format!("PAX {key} is not a number"))?);
        }
    }
    let h = entry.header();
    let old = h.as_old();
    let num = |r: io::Result<u64>, raw: &[u8], what: &str| match r {
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        r => r.map_err(|e| format!("bad {what}: {e}")),
    };
    Ok(TarNumbers {
        mode: num(h.mode().map(u64::from), &old.mode, "mode")? as u32,
        uid: uid.map_or_else(|| num(h.uid(), &old.uid, "uid"), Ok)?,
        gid: gid.map_or_else(|| num(h.gid(), &old.gid, "gid"), Ok)?,
        mtime: mtime.map_or_else(|| num(h.mtime(), &old.mtime, "mtime"), Ok)?,
    })
}

/// A PAX numeric record: a decimal integer, or for times seconds with an optional
/// fraction (dropped; a negative time reads as 0, the epoch).
fn pax_number(v: &str, time: bool) -> Option<u64> {
    let int = if time {
        v.split_once('.').map_or(v, |(i, _)| i)
    } else {
        v
    };
    match int.strip_prefix('-') {
        Some(neg) if time => neg.parse::<u64>().ok().map(|_| 0),
        _ => int.parse().ok(),
    }
}
