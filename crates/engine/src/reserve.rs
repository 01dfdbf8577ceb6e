//! Space held back on the data root for the day it fills up.
//!
//! On a full disk, removing a container (the user's way out) still has to write: SQLite
//! appends the deletion to its WAL. Without room that fails with "database or disk is
//! full" and the user cannot free space through berth at all. berthd therefore keeps
//! `<data-root>/berth.reserve`, a few MiB allocated ahead, and when a metadata update or
//! deletion finds the disk full it deletes that file and tries once more. Inserts (a new
//! container, network, volume or lease) do not: they fail with the disk-full error and
//! leave the room to what frees space. Image metadata (`images.json`, rewritten whole by
//! `rmi` as by a pull) is saved through [`ReservedMeta`] with the same retry. The file is
//! allocated again
//! once space comes back (after a removal's files are deleted, and at each start).

use std::io::Write;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use berth_image::images::{ImageError, ImageMeta, ImageMetaStore};

/// What the file holds: far more than a metadata transaction needs (a few pages), and
/// small next to any disk.
const BYTES: u64 = 8 << 20;

pub struct Reserve {
    path: PathBuf,
    held: AtomicBool,
}

impl Reserve {
    /// Takes the reserve at `path` if the disk has room for it (else it stays released and
    /// the next [`Reserve::refill`] tries again).
    pub fn new(path: PathBuf) -> Reserve {
        let r = Reserve {
            path,
            held: AtomicBool::new(false),
        };
        r.refill();
        r
    }

    pub fn held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    /// Deletes the file; returns whether that freed anything (false when already released).
    pub fn release(&self) -> bool {
        if !self.held.swap(false, Ordering::AcqRel) {
            return false;
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => {
                tracing::warn!(
                    path = %self.path.display(),
                    "data root full: released the space reserve so the change could be recorded"
                );
                true
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "space reserve not released");
                false
            }
        }
    }

    /// Allocates the file again if it is not held and the disk has the room; a partial
    /// file is never left behind. Cheap when held.
    pub fn refill(&self) {
        if self.held() {
            return;
        }
        match allocate(&self.path) {
            Ok(()) => self.held.store(true, Ordering::Release),
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                tracing::debug!(path = %self.path.display(), error = %e, "space reserve not taken");
            }
        }
    }
}

/// The image store's metadata file, saved with the reserve behind it.
pub struct ReservedMeta {
    pub inner: berth_image::images::JsonImageMeta,
    pub reserve: Arc<Reserve>,
}

impl ImageMetaStore for ReservedMeta {
    fn load(&self) -> Result<ImageMeta, ImageError> {
        self.inner.load()
    }

    fn save(&self, meta: &ImageMeta) -> Result<(), ImageError> {
        match self.inner.save(meta) {
            Err(ImageError::Meta { source, .. })
                if source.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error())
                    && self.reserve.release() =>
            {
                self.inner.save(meta)
            }
            r => r,
        }
    }
}

fn allocate(path: &std::path::Path) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)?;
    if f.metadata()?.len() == BYTES && f.metadata()?.blocks() * 512 >= BYTES {
        return Ok(());
    }
    match rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, BYTES) {
        Ok(()) => Ok(()),
        // A file system without fallocate: write the bytes out instead.
        Err(rustix::io::Errno::OPNOTSUPP) => {
            f.set_len(0)?;
            let zeros = vec![0u8; 1 << 20];
            let mut w = &f;
            for _ in 0..BYTES / zeros.len() as u64 {
                w.write_all(&zeros)?;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_released_once_and_refilled() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("berth.reserve");
        let r = Reserve::new(p.clone());
        assert!(r.held());
        assert!(std::fs::metadata(&p).unwrap().blocks() * 512 >= BYTES);
        assert!(r.release());
        assert!(!p.exists());
        assert!(!r.release(), "a second release frees nothing");
        r.refill();
        assert!(r.held() && p.exists());
    }
}
