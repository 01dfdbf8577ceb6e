//! Overlay snapshots: each layer unpacked once into `<root>/snapshots/<n>/fs`, keyed by its
//! chain ID, and stacked with overlayfs to form a container's root filesystem.
//!
//! A snapshot directory is only entered into the index once its layer applied completely;
//! a directory without an index entry is debris from a crash or a failed layer and is
//! removed by [`Snapshotter::gc`]. The index sits behind [`SnapshotIndex`] so the daemon
//! can later keep it in SQLite; [`JsonIndex`] (one JSON file replaced atomically) is the
//! stand-alone implementation.
//!
//! Mounts use the new mount API with one `lowerdir+` per layer, so the 4 KiB limit of the
//! classic `lowerdir=a:b:c` option string never applies and 100+ layer images mount. On
//! kernels before 6.8 (no `lowerdir+`) [`mount_overlay_legacy`] passes each layer as a short
//! `/proc/self/fd/N` path instead, which fits about 200 layers in the one-page limit.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::unpack::{LayerStats, UnpackError, UnpackOptions, apply_layer};

/// One unpacked layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Directory number under `snapshots/`.
    pub id: u64,
    pub chain_id: Digest,
    pub diff_id: Digest,
    /// Chain ID of the layer below, if any.
    pub parent: Option<Digest>,
    /// The layer's content size, as dockerd's graphdrivers count it (`docker history`,
    /// `images`, `system df`): the sizes of its files, directories not counted, a file with
    /// several links once. (Snapshots made before this was so hold the layer tar's size.)
    pub size: u64,
}

/// Snapshot failures, naming the snapshot or path.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("snapshot index {path}: {source}")]
    Index {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no snapshot for chain {0}")]
    NotFound(Digest),
    #[error("unpacking layer {diff_id}: {source}")]
    Unpack {
        diff_id: Digest,
        #[source]
        source: UnpackError,
    },
    #[error("mounting overlay on {target}: {op}: {source}{}", kernel_msg.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Mount {
        target: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
        kernel_msg: Option<String>,
    },
    #[error("snapshot {chain_id} is still used by {users} snapshot(s) above it")]
    InUse { chain_id: Digest, users: usize },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SnapshotError {
    let path = path.to_owned();
    move |source| SnapshotError::Io { op, path, source }
}

/// Where snapshot metadata is kept.
pub trait SnapshotIndex: Send + Sync {
    fn get(&self, chain_id: &Digest) -> Result<Option<SnapshotInfo>, SnapshotError>;
    /// Inserts unless present; returns the entry that is in the index afterwards.
    fn insert(&self, info: SnapshotInfo) -> Result<SnapshotInfo, SnapshotError>;
    fn remove(&self, chain_id: &Digest) -> Result<(), SnapshotError>;
    fn list(&self) -> Result<Vec<SnapshotInfo>, SnapshotError>;
    /// A directory number never handed out before.
    fn allocate_id(&self) -> Result<u64, SnapshotError>;
}

#[derive(Default, Serialize, Deserialize)]
struct IndexFile {
    next_id: u64,
    snapshots: BTreeMap<String, SnapshotInfo>,
}

/// The snapshot index as one JSON file, rewritten by temp file + fsync + rename.
pub struct JsonIndex {
    path: PathBuf,
    state: Mutex<IndexFile>,
}

impl JsonIndex {
    pub fn open(path: &Path) -> Result<JsonIndex, SnapshotError> {
        let state = match fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|source| SnapshotError::Index {
                path: path.to_owned(),
                source,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => IndexFile {
                next_id: 1,
                ..Default::default()
            },
            Err(e) => return Err(io_err("read", path)(e)),
        };
        Ok(JsonIndex {
            path: path.to_owned(),
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IndexFile> {
        // A panic while holding the lock cannot leave the file half-written (writes are
        // atomic renames), so the in-memory state is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, st: &IndexFile) -> Result<(), SnapshotError> {
        let data = serde_json::to_vec_pretty(st).map_err(|source| SnapshotError::Index {
            path: self.path.clone(),
            source,
        })?;
        write_atomic(&self.path, &data).map_err(io_err("write", &self.path))
    }
}

/// Removes temp files [`write_atomic`] left in `dir` when a process died mid-write.
pub(crate) fn clean_atomic_temps(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    for ent in fs::read_dir(dir)? {
        let ent = ent?;
        let name = ent.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(".tmp-") && ent.file_type()?.is_file() {
            fs::remove_file(ent.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// Writes `data` to `path` through a temp file, fsync and rename.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().map_or("f".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

impl SnapshotIndex for JsonIndex {
    fn get(&self, chain_id: &Digest) -> Result<Option<SnapshotInfo>, SnapshotError> {
        Ok(self.lock().snapshots.get(&chain_id.to_string()).cloned())
    }

    fn insert(&self, info: SnapshotInfo) -> Result<SnapshotInfo, SnapshotError> {
        let mut st = self.lock();
        if let Some(existing) = st.snapshots.get(&info.chain_id.to_string()) {
            return Ok(existing.clone());
        }
        st.snapshots.insert(info.chain_id.to_string(), info.clone());
        if let Err(e) = self.save(&st) {
            st.snapshots.remove(&info.chain_id.to_string());
            return Err(e);
        }
        Ok(info)
    }

    fn remove(&self, chain_id: &Digest) -> Result<(), SnapshotError> {
        let mut st = self.lock();
        if st.snapshots.remove(&chain_id.to_string()).is_some() {
            self.save(&st)?;
        }
        Ok(())
    }

    fn list(&self) -> Result<Vec<SnapshotInfo>, SnapshotError> {
        Ok(self.lock().snapshots.values().cloned().collect())
    }

    fn allocate_id(&self) -> Result<u64, SnapshotError> {
        let mut st = self.lock();
        let id = st.next_id.max(1);
        st.next_id = id + 1;
        self.save(&st)?;
        Ok(id)
    }
}

/// Chain IDs for each prefix of a layer stack, per the OCI image spec:
/// `chain[0] = diff[0]`, `chain[i] = sha256(chain[i-1] + " " + diff[i])`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => child_chain_id(parent, d),
        };
        out.push(next);
    }
    out
}

/// The chain ID of `diff_id` applied on top of the chain `parent`.
pub fn child_chain_id(parent: &Digest, diff_id: &Digest) -> Digest {
    Digest::of(format!("{parent} {diff_id}").as_bytes())
}

/// Owns `<root>/snapshots`.
pub struct Snapshotter {
    dir: PathBuf,
    index: Box<dyn SnapshotIndex>,
    /// Flush each unpacked layer to disk before indexing it (see [`Snapshotter::set_durable`]).
    durable: std::sync::atomic::AtomicBool,
    /// Per-chain locks held while a layer is being fetched (see [`Snapshotter::inflight`]).
    inflight: Mutex<std::collections::HashMap<Digest, std::sync::Weak<tokio::sync::Mutex<()>>>>,
}

impl Snapshotter {
    /// Opens `<root>/snapshots` with the JSON index.
    pub fn open(root: &Path) -> Result<Snapshotter, SnapshotError> {
        let dir = root.join("snapshots");
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let index = JsonIndex::open(&dir.join("index.json"))?;
        Ok(Snapshotter {
            dir,
            index: Box::new(index),
            durable: true.into(),
            inflight: Mutex::default(),
        })
    }

    /// Opens `<root>/snapshots` with a caller-provided index (the daemon's database).
    pub fn with_index(root: &Path, index: Box<dyn SnapshotIndex>) -> Result<Self, SnapshotError> {
        let dir = root.join("snapshots");
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(Snapshotter {
            dir,
            index,
            durable: true.into(),
            inflight: Mutex::default(),
        })
    }

    pub fn get(&self, chain_id: &Digest) -> Result<Option<SnapshotInfo>, SnapshotError> {
        self.index.get(chain_id)
    }

    /// The lock that serializes work on one chain ID in this process, so that concurrent
    /// pulls sharing a layer fetch it once. Entries disappear with their last holder.
    pub fn inflight(&self, chain_id: &Digest) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(l) = map.get(chain_id).and_then(std::sync::Weak::upgrade) {
            return l;
        }
        let l = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        map.insert(chain_id.clone(), std::sync::Arc::downgrade(&l));
        l
    }

    /// Whether a layer is flushed (`syncfs`) before its snapshot is indexed. On (the
    /// default), an indexed snapshot survives power loss complete; off, a crash can leave
    /// an indexed snapshot with missing data, which is what Docker and containers/storage
    /// accept in exchange for not waiting on the disk during a pull.
    pub fn set_durable(&self, durable: bool) {
        self.durable
            .store(durable, std::sync::atomic::Ordering::Relaxed);
    }

    fn sync(&self, dir: &Path) {
        if self.durable.load(std::sync::atomic::Ordering::Relaxed) {
            sync_tree(dir);
        }
    }

    pub fn list(&self) -> Result<Vec<SnapshotInfo>, SnapshotError> {
        self.index.list()
    }

    /// The unpacked layer's directory (the overlay lower dir).
    pub fn fs_path(&self, info: &SnapshotInfo) -> PathBuf {
        self.dir.join(info.id.to_string()).join("fs")
    }

    /// Unpacks a layer as the child of `parent` unless its chain already exists.
    ///
    /// The layer lands in a fresh `<n>/fs` and is indexed only after it applied and its
    /// diffID matched; on any error the directory is removed. Layers of one image can be
    /// applied concurrently (each in its own directory) because the chain ID is known from
    /// the image config before any layer is read.
    pub fn apply<R: Read>(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        layer: R,
        opts: &UnpackOptions,
    ) -> Result<(SnapshotInfo, Option<LayerStats>), SnapshotError> {
        let chain_id = match parent {
            Some(p) => child_chain_id(p, diff_id),
            None => diff_id.clone(),
        };
        if let Some(info) = self.index.get(&chain_id)? {
            return Ok((info, None));
        }
        let id = self.index.allocate_id()?;
        let (dir, fs_dir) = self.make_dirs(id)?;
        let mut guard = RemoveOnDrop(Some(dir.clone()));
        let opts = UnpackOptions {
            expected_diff_id: Some(diff_id.clone()),
            ..opts.clone()
        };
        let stats = apply_layer(layer, &fs_dir, &opts).map_err(|source| SnapshotError::Unpack {
            diff_id: diff_id.clone(),
            source,
        })?;
        self.sync(&fs_dir);
        let info = SnapshotInfo {
            id,
            chain_id,
            diff_id: diff_id.clone(),
            parent: parent.cloned(),
            size: stats.content_size,
        };
        let stored = self.index.insert(info.clone())?;
        if stored.id == id {
            guard.0 = None;
        }
        tracing::info!(chain_id = %stored.chain_id, id = stored.id, size = stored.size, "snapshot committed");
        Ok((stored, Some(stats)))
    }

    /// Unpacks a layer whose diffID is not known in advance (an imported tarball, a
    /// freshly built layer): the chain ID is computed from what was unpacked. If that chain
    /// already exists, the new copy is discarded and the existing snapshot returned.
    pub fn apply_new<R: Read>(
        &self,
        parent: Option<&Digest>,
        layer: R,
        opts: &UnpackOptions,
    ) -> Result<(SnapshotInfo, LayerStats), SnapshotError> {
        let id = self.index.allocate_id()?;
        let (dir, fs_dir) = self.make_dirs(id)?;
        let mut guard = RemoveOnDrop(Some(dir));
        let stats = apply_layer(layer, &fs_dir, opts).map_err(|source| SnapshotError::Unpack {
            diff_id: opts
                .expected_diff_id
                .clone()
                .unwrap_or_else(|| Digest::of(b"")),
            source,
        })?;
        self.sync(&fs_dir);
        let chain_id = match parent {
            Some(p) => child_chain_id(p, &stats.diff_id),
            None => stats.diff_id.clone(),
        };
        let stored = self.index.insert(SnapshotInfo {
            id,
            chain_id,
            diff_id: stats.diff_id.clone(),
            parent: parent.cloned(),
            size: stats.content_size,
        })?;
        if stored.id == id {
            guard.0 = None;
        }
        Ok((stored, stats))
    }

    /// Creates an empty snapshot directory pair and returns `(<n>, <n>/fs)`.
    fn make_dirs(&self, id: u64) -> Result<(PathBuf, PathBuf), SnapshotError> {
        let dir = self.dir.join(id.to_string());
        let fs_dir = dir.join("fs");
        fs::create_dir_all(&fs_dir).map_err(io_err("create", &fs_dir))?;
        fs::create_dir_all(dir.join("work")).map_err(io_err("create", &dir))?;
        Ok((dir, fs_dir))
    }

    /// The lower dirs of a chain, top-most first (overlayfs order).
    pub fn lower_dirs(&self, chain_id: &Digest) -> Result<Vec<PathBuf>, SnapshotError> {
        let mut out = Vec::new();
        let mut cur = Some(chain_id.clone());
        while let Some(c) = cur {
            let info = self
                .index
                .get(&c)?
                .ok_or_else(|| SnapshotError::NotFound(c.clone()))?;
            out.push(self.fs_path(&info));
            cur = info.parent;
        }
        Ok(out)
    }

    /// Mounts the chain read-write at `target`, with `upper` and `work` (same filesystem,
    /// both existing and empty on first use) holding the container's changes.
    pub fn mount(
        &self,
        chain_id: Option<&Digest>,
        upper: &Path,
        work: &Path,
        target: &Path,
    ) -> Result<OverlayMount, SnapshotError> {
        self.mount_with(chain_id, upper, work, target, false)
    }

    /// [`mount`](Self::mount), optionally `volatile`: the overlay never syncs its upper
    /// dir (no fsync, and no whole-filesystem sync when it is unmounted). For containers
    /// whose changes are thrown away when they end (`--rm`): after a host crash such an
    /// upper dir is unusable, which does not matter for them.
    pub fn mount_with(
        &self,
        chain_id: Option<&Digest>,
        upper: &Path,
        work: &Path,
        target: &Path,
        volatile: bool,
    ) -> Result<OverlayMount, SnapshotError> {
        let lowers = match chain_id {
            Some(c) => self.lower_dirs(c)?,
            None => Vec::new(),
        };
        mount_rw(&lowers, upper, work, target, volatile)
    }

    /// Removes a snapshot; refused while another snapshot names it as parent.
    pub fn remove(&self, chain_id: &Digest) -> Result<(), SnapshotError> {
        let all = self.index.list()?;
        let users = all
            .iter()
            .filter(|s| s.parent.as_ref() == Some(chain_id))
            .count();
        if users > 0 {
            return Err(SnapshotError::InUse {
                chain_id: chain_id.clone(),
                users,
            });
        }
        let Some(info) = all.into_iter().find(|s| &s.chain_id == chain_id) else {
            return Ok(());
        };
        self.index.remove(chain_id)?;
        let dir = self.dir.join(info.id.to_string());
        fs::remove_dir_all(&dir).map_err(io_err("remove", &dir))
    }

    /// Removes snapshot directories that the index does not know (crash debris) and, when
    /// `keep` is given, indexed snapshots whose chain is not in it nor a parent of one that
    /// is. Returns the number of snapshots, directories and stray temp files removed.
    pub fn gc(
        &self,
        keep: Option<&std::collections::HashSet<Digest>>,
    ) -> Result<usize, SnapshotError> {
        let mut all = self.index.list()?;
        let mut removed = 0;
        if let Some(keep) = keep {
            // Everything reachable from a kept chain stays.
            let by_chain: BTreeMap<_, _> = all
                .iter()
                .map(|s| (s.chain_id.clone(), s.clone()))
                .collect();
            let mut live = std::collections::HashSet::new();
            for k in keep {
                let mut cur = Some(k.clone());
                while let Some(c) = cur {
                    if !live.insert(c.clone()) {
                        break;
                    }
                    cur = by_chain.get(&c).and_then(|s| s.parent.clone());
                }
            }
            for s in &all {
                if !live.contains(&s.chain_id) {
                    self.index.remove(&s.chain_id)?;
                    removed += 1;
                }
            }
            all.retain(|s| live.contains(&s.chain_id));
        }
        removed += clean_atomic_temps(&self.dir).map_err(io_err("clean", &self.dir))?;
        let known: std::collections::HashSet<String> =
            all.iter().map(|s| s.id.to_string()).collect();
        for ent in fs::read_dir(&self.dir).map_err(io_err("read dir", &self.dir))? {
            let ent = ent.map_err(io_err("read dir", &self.dir))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.bytes().all(|b| b.is_ascii_digit()) && !known.contains(&name) {
                let p = ent.path();
                fs::remove_dir_all(&p).map_err(io_err("remove", &p))?;
                if keep.is_none() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Total bytes on disk under the snapshot directories.
    pub fn disk_usage(&self) -> Result<u64, SnapshotError> {
        crate::fsutil::disk_usage(&self.dir).map_err(io_err("measure", &self.dir))
    }
}

/// Flushes a freshly unpacked tree (one syncfs for the whole filesystem is far cheaper than
/// an fsync per file), so an indexed snapshot survives a crash.
fn sync_tree(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = rustix::fs::syncfs(&f);
    }
}

struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_dir_all(&p);
        }
    }
}

/// An overlay mount, detached when dropped (or explicitly with [`OverlayMount::unmount`]).
#[derive(Debug)]
pub struct OverlayMount {
    target: PathBuf,
    mounted: bool,
}

impl OverlayMount {
    pub fn target(&self) -> &Path {
        &self.target
    }

    pub fn unmount(mut self) -> Result<(), SnapshotError> {
        self.mounted = false;
        rustix::mount::unmount(&self.target, rustix::mount::UnmountFlags::empty()).map_err(|e| {
            SnapshotError::Mount {
                target: self.target.clone(),
                op: "umount",
                source: e.into(),
                kernel_msg: None,
            }
        })
    }

    /// Leaves the filesystem mounted after this value is dropped (the daemon tracks it).
    pub fn leak(mut self) -> PathBuf {
        self.mounted = false;
        std::mem::take(&mut self.target)
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = rustix::mount::unmount(&self.target, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

/// Reads the messages the kernel queued on a filesystem context after a failed fsconfig.
fn fs_context_messages(fd: &OwnedFd) -> Option<String> {
    let mut msgs = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = rustix::io::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
        msgs.push(String::from_utf8_lossy(&buf[..n]).trim().to_owned());
    }
    (!msgs.is_empty()).then(|| msgs.join("; "))
}

/// Mounts `lowers` (directories, top-most first; none for an image without layers)
/// read-write at `target`, with `upper` and `work` holding the changes, optionally
/// `volatile` as [`Snapshotter::mount_with`] describes.
pub fn mount_rw(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    volatile: bool,
) -> Result<OverlayMount, SnapshotError> {
    // A volatile overlay leaves this marker; the kernel refuses to mount that upper
    // dir again while it is there. Mounting again after a clean unmount (a restart)
    // is fine once the upper dir's filesystem is synced.
    let marker = work.join("work/incompat/volatile");
    if marker.exists() {
        if let Ok(f) = fs::File::open(upper) {
            let _ = rustix::fs::syncfs(&f);
        }
        fs::remove_dir_all(&marker).map_err(io_err("remove", &marker))?;
    }
    mount_overlay_opts(lowers, Some((upper, work)), target, volatile)
}

/// The lower dirs of a mount: `lowers`, or for an image with no layers (FROM scratch,
/// nothing added) one empty dir beside the upper dir, since overlayfs needs a lower dir.
fn lower_dirs<'a, P: AsRef<Path>>(
    lowers: &'a [P],
    upper: Option<(&Path, &Path)>,
    target: &Path,
) -> Result<Vec<Cow<'a, Path>>, SnapshotError> {
    if !lowers.is_empty() {
        return Ok(lowers.iter().map(|l| Cow::Borrowed(l.as_ref())).collect());
    }
    let (up, _) = upper.ok_or_else(|| SnapshotError::Mount {
        target: target.to_owned(),
        op: "no layers and no upper dir",
        source: io::Error::from(io::ErrorKind::InvalidInput),
        kernel_msg: None,
    })?;
    let empty = up.with_extension("empty-lower");
    fs::create_dir_all(&empty).map_err(io_err("create", &empty))?;
    Ok(vec![Cow::Owned(empty)])
}

/// Whether this kernel's overlayfs takes `lowerdir+` (6.8 and later): not known yet, yes
/// (`fsconfig` mounts), or no (option-string mounts, [`mount_overlay_legacy`]).
static LOWERDIR_PLUS: AtomicU8 = AtomicU8::new(KERNEL_UNKNOWN);
const KERNEL_UNKNOWN: u8 = 0;
const KERNEL_NEW: u8 = 1;
const KERNEL_LEGACY: u8 = 2;

/// Mounts overlayfs at `target`: `lowers` top-most first, each passed as its own
/// `lowerdir+` so the total length is unbounded. Without `upper` the mount is read-only
/// (which needs at least one lower).
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper: Option<(&Path, &Path)>,
    target: &Path,
) -> Result<OverlayMount, SnapshotError> {
    mount_overlay_opts(lowers, upper, target, false)
}

/// [`mount_overlay`] with overlayfs' `volatile` option when `volatile` and `upper` is set.
pub fn mount_overlay_opts(
    lowers: &[PathBuf],
    upper: Option<(&Path, &Path)>,
    target: &Path,
    volatile: bool,
) -> Result<OverlayMount, SnapshotError> {
    use rustix::mount::{
        FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, fsconfig_create,
        fsconfig_set_string, fsmount, fsopen, move_mount,
    };
    let span =
        tracing::debug_span!("mount_overlay", target = %target.display(), layers = lowers.len());
    let _g = span.enter();
    let err = |op: &'static str, fd: Option<&OwnedFd>| {
        let target = target.to_owned();
        let kernel_msg = fd.and_then(fs_context_messages);
        move |e: rustix::io::Errno| SnapshotError::Mount {
            target,
            op,
            source: e.into(),
            kernel_msg,
        }
    };
    if upper.is_none() && lowers.len() == 1 {
        // overlayfs wants two lower dirs when it has no upper; one is a read-only bind.
        return bind_readonly(&lowers[0], target);
    }
    let lowers = lower_dirs(lowers, upper, target)?;
    if LOWERDIR_PLUS.load(Ordering::Relaxed) == KERNEL_LEGACY {
        return mount_overlay_legacy_opts(&lowers, upper, target, volatile);
    }
    let fsfd = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(err("fsopen", None))?;
    for (i, l) in lowers.iter().enumerate() {
        match fsconfig_set_string(&fsfd, "lowerdir+", l.as_ref()) {
            Ok(()) => {}
            // Kernels 6.5 to 6.7 refuse `lowerdir+` here.
            Err(rustix::io::Errno::INVAL) if i == 0 => {
                drop(fsfd);
                LOWERDIR_PLUS.store(KERNEL_LEGACY, Ordering::Relaxed);
                return mount_overlay_legacy_opts(&lowers, upper, target, volatile);
            }
            Err(e) => return Err(err("fsconfig lowerdir+", Some(&fsfd))(e)),
        }
    }
    if let Some((up, work)) = upper {
        fsconfig_set_string(&fsfd, "upperdir", up)
            .map_err(|e| err("fsconfig upperdir", Some(&fsfd))(e))?;
        fsconfig_set_string(&fsfd, "workdir", work)
            .map_err(|e| err("fsconfig workdir", Some(&fsfd))(e))?;
        if volatile {
            rustix::mount::fsconfig_set_flag(&fsfd, "volatile")
                .map_err(|e| err("fsconfig volatile", Some(&fsfd))(e))?;
        }
    }
    // Renamed directories are copied up instead of recorded as redirects, so an upper dir
    // always diffs into a plain layer tar.
    fsconfig_set_string(&fsfd, "redirect_dir", "off")
        .map_err(|e| err("fsconfig redirect_dir", Some(&fsfd))(e))?;
    match fsconfig_create(&fsfd) {
        Ok(()) => LOWERDIR_PLUS.store(KERNEL_NEW, Ordering::Relaxed),
        // Before 6.5 overlayfs has no mount-API parser of its own: the kernel gathers the
        // keys into a legacy option string and the unknown `lowerdir+` fails only here
        // (Debian 12's 6.1, for one). Once per process, the legacy mount decides.
        Err(rustix::io::Errno::INVAL)
            if LOWERDIR_PLUS.load(Ordering::Relaxed) == KERNEL_UNKNOWN =>
        {
            let first = err("fsconfig create", Some(&fsfd))(rustix::io::Errno::INVAL);
            drop(fsfd);
            return match mount_overlay_legacy_opts(&lowers, upper, target, volatile) {
                Ok(m) => {
                    LOWERDIR_PLUS.store(KERNEL_LEGACY, Ordering::Relaxed);
                    tracing::debug!("overlayfs without lowerdir+: legacy mounts from now on");
                    Ok(m)
                }
                // A kernel that explained its refusal has its own parser (6.5+): the
                // refusal was not about `lowerdir+`, and its words are the better error.
                Err(legacy) => Err(match &first {
                    SnapshotError::Mount {
                        kernel_msg: Some(_),
                        ..
                    } => first,
                    _ => legacy,
                }),
            };
        }
        Err(e) => return Err(err("fsconfig create", Some(&fsfd))(e)),
    }
    let attrs = if upper.is_some() {
        MountAttrFlags::empty()
    } else {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    };
    let mfd = fsmount(&fsfd, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
        .map_err(|e| err("fsmount", Some(&fsfd))(e))?;
    move_mount(
        mfd.as_fd(),
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(err("move_mount", None))?;
    tracing::debug!("overlay mounted");
    Ok(OverlayMount {
        target: target.to_owned(),
        mounted: true,
    })
}

/// The pre-6.8 way: one `mount(2)` whose option string (at most a page) names every
/// layer. Each directory is passed as `/proc/self/fd/N` of an `O_PATH` fd opened here, so
/// an entry costs ~18 bytes whatever the real path (about 200 layers fit), and the kernel
/// resolves it while the fd is open.
pub fn mount_overlay_legacy(
    lowers: &[PathBuf],
    upper: Option<(&Path, &Path)>,
    target: &Path,
) -> Result<OverlayMount, SnapshotError> {
    mount_overlay_legacy_opts(lowers, upper, target, false)
}

fn mount_overlay_legacy_opts(
    lowers: &[impl AsRef<Path>],
    upper: Option<(&Path, &Path)>,
    target: &Path,
    volatile: bool,
) -> Result<OverlayMount, SnapshotError> {
    use std::os::fd::AsRawFd;
    let err = |op: &'static str| {
        let target = target.to_owned();
        move |e: io::Error| SnapshotError::Mount {
            target,
            op,
            source: e,
            kernel_msg: None,
        }
    };
    let open = |p: &Path| {
        rustix::fs::open(
            p,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| SnapshotError::Io {
            op: "open",
            path: p.to_owned(),
            source: e.into(),
        })
    };
    let mut fds = Vec::new();
    let mut lowerdir = String::new();
    for l in lower_dirs(lowers, upper, target)? {
        let fd = open(l.as_ref())?;
        if !lowerdir.is_empty() {
            lowerdir.push(':');
        }
        lowerdir.push_str(&format!("/proc/self/fd/{}", fd.as_raw_fd()));
        fds.push(fd);
    }
    let mut data = format!("lowerdir={lowerdir}");
    if let Some((up, work)) = upper {
        let (u, w) = (open(up)?, open(work)?);
        data.push_str(&format!(
            ",upperdir=/proc/self/fd/{},workdir=/proc/self/fd/{}",
            u.as_raw_fd(),
            w.as_raw_fd()
        ));
        fds.push(u);
        fds.push(w);
        if volatile {
            data.push_str(",volatile");
        }
    }
    data.push_str(",redirect_dir=off");
    if data.len() >= 4096 {
        return Err(err("mount options")(io::Error::other(format!(
            "{} layers do not fit one mount option page on this kernel",
            lowers.len()
        ))));
    }
    let flags = if upper.is_some() {
        rustix::mount::MountFlags::empty()
    } else {
        rustix::mount::MountFlags::RDONLY
    };
    let data =
        std::ffi::CString::new(data).map_err(|e| err("mount options")(io::Error::other(e)))?;
    rustix::mount::mount("overlay", target, "overlay", flags, data.as_c_str())
        .map_err(|e| err("mount")(e.into()))?;
    drop(fds);
    Ok(OverlayMount {
        target: target.to_owned(),
        mounted: true,
    })
}

/// Mounts `src` read-only at `target`. The clone is made read-only before it is attached,
/// so it is never writable at `target`, not even briefly.
fn bind_readonly(src: &Path, target: &Path) -> Result<OverlayMount, SnapshotError> {
    use rustix::mount::{MoveMountFlags, OpenTreeFlags, move_mount, open_tree};
    let err = |op: &'static str| {
        let target = target.to_owned();
        move |e: io::Error| SnapshotError::Mount {
            target,
            op,
            source: e,
            kernel_msg: None,
        }
    };
    let tree = open_tree(
        rustix::fs::CWD,
        src,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(|e| err("open_tree")(e.into()))?;
    set_readonly(tree.as_fd()).map_err(err("mount_setattr"))?;
    move_mount(
        tree.as_fd(),
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| err("move_mount")(e.into()))?;
    Ok(OverlayMount {
        target: target.to_owned(),
        mounted: true,
    })
}

/// `struct mount_attr` from <linux/mount.h>; rustix has no mount_setattr wrapper yet.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;

fn set_readonly(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr(2) only reads `size_of::<MountAttr>()` bytes from `&attr`, a
    // live #[repr(C)] value laid out as the kernel's struct mount_attr; the path is a
    // NUL-terminated empty string (with AT_EMPTY_PATH the call acts on `fd` itself), and
    // `fd` is an open mount fd borrowed for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
