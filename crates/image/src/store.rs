//! The content store: immutable blobs (manifests, configs, compressed layers) by digest.
//!
//! Layout: `<root>/content/blobs/sha256/<hex>` for committed blobs and
//! `<root>/content/ingest/` for blobs being written. A blob is written under a temporary
//! name in `ingest/`, hashed as it streams, fsynced, checked against the digest (and size)
//! the caller expected, and only then renamed into `blobs/`. A crash at any point leaves at
//! worst a stray file in `ingest/` (swept by [`ContentStore::clean_ingest`]); a digest name
//! never points at half-written or wrong bytes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Digest, Hasher};

/// A content-store failure, naming the blob or path involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("blob {0} not found in the content store")]
    NotFound(Digest),
    #[error("digest mismatch: expected {expected}, got {actual} ({size} bytes)")]
    DigestMismatch {
        expected: Digest,
        actual: Digest,
        size: u64,
    },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    move |source| StoreError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Handle on a content store directory. Cheap to clone; all state is on disk.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

static INGEST_SEQ: AtomicU64 = AtomicU64::new(0);

impl ContentStore {
    /// Opens (creating if needed) the store under `<root>/content`.
    pub fn open(root: &Path) -> Result<ContentStore, StoreError> {
        let blobs = root.join("content/blobs/sha256");
        let ingest = root.join("content/ingest");
        for dir in [&blobs, &ingest] {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        Ok(ContentStore { blobs, ingest })
    }

    /// Where a committed blob lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Size of a committed blob.
    pub fn size(&self, digest: &Digest) -> Result<u64, StoreError> {
        let p = self.blob_path(digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(digest.clone()))
            }
            Err(e) => Err(io_err("stat", &p)(e)),
        }
    }

    /// Opens a committed blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let p = self.blob_path(digest);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::NotFound(digest.clone())
            } else {
                io_err("open", &p)(e)
            }
        })
    }

    /// Reads a whole blob (manifests and configs; never layers) and re-verifies its digest,
    /// so a blob corrupted on disk is reported instead of trusted.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut f = self.open_blob(digest)?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .map_err(io_err("read", &self.blob_path(digest)))?;
        let actual = Digest::of(&buf);
        if &actual != digest {
            return Err(StoreError::DigestMismatch {
                expected: digest.clone(),
                actual,
                size: buf.len() as u64,
            });
        }
        Ok(buf)
    }

    /// Stores `data`, returning its digest.
    pub fn put(&self, data: &[u8]) -> Result<Digest, StoreError> {
        let mut w = self.writer(None, Some(data.len() as u64))?;
        w.write_all(data).map_err(io_err("write", &w.temp))?;
        w.commit()
    }

    /// Stores `data` only if it hashes to `expected`.
    pub fn put_verified(&self, data: &[u8], expected: &Digest) -> Result<(), StoreError> {
        let mut w = self.writer(Some(expected.clone()), Some(data.len() as u64))?;
        w.write_all(data).map_err(io_err("write", &w.temp))?;
        w.commit().map(|_| ())
    }

    /// Starts a streaming write. `expected` and `size`, when given, are checked at commit.
    pub fn writer(
        &self,
        expected: Option<Digest>,
        size: Option<u64>,
    ) -> Result<BlobWriter, StoreError> {
        let seq = INGEST_SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{}-{}-{}",
            expected.as_ref().map_or("new", |d| d.short()),
            std::process::id(),
            seq
        );
        let temp = self.ingest.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(io_err("create", &temp))?;
        Ok(BlobWriter {
            store: self.clone(),
            temp,
            file: Some(io::BufWriter::with_capacity(256 * 1024, file)),
            hasher: Hasher::new(),
            expected,
            size,
        })
    }

    /// Removes a blob. Removing a missing blob is not an error (GC may race a delete).
    pub fn delete(&self, digest: &Digest) -> Result<(), StoreError> {
        let p = self.blob_path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &p)(e)),
        }
    }

    /// Every committed blob with its size. Files that are not digest-named are ignored.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>, StoreError> {
        let mut out = Vec::new();
        for ent in fs::read_dir(&self.blobs).map_err(io_err("read dir", &self.blobs))? {
            let ent = ent.map_err(io_err("read dir", &self.blobs))?;
            let Some(name) = ent.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(d) = Digest::from_hex(&name) else {
                continue;
            };
            let len = ent.metadata().map_err(io_err("stat", &ent.path()))?.len();
            out.push((d, len));
        }
        out.sort();
        Ok(out)
    }

    /// Removes leftovers of interrupted writes. Call at startup, before any writer exists.
    pub fn clean_ingest(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        for ent in fs::read_dir(&self.ingest).map_err(io_err("read dir", &self.ingest))? {
            let ent = ent.map_err(io_err("read dir", &self.ingest))?;
            let p = ent.path();
            fs::remove_file(&p).map_err(io_err("remove", &p))?;
            n += 1;
        }
        Ok(n)
    }
}

/// A blob being written. Dropped without [`BlobWriter::commit`], its temp file is removed.
pub struct BlobWriter {
    store: ContentStore,
    temp: PathBuf,
    file: Option<io::BufWriter<File>>,
    hasher: Hasher,
    expected: Option<Digest>,
    size: Option<u64>,
}

impl BlobWriter {
    /// Bytes written so far (where a resumed download continues from).
    pub fn written(&self) -> u64 {
        self.hasher.len()
    }

    /// Checks size and digest, fsyncs, and renames the blob into place.
    pub fn commit(mut self) -> Result<Digest, StoreError> {
        let written = self.hasher.len();
        let actual = std::mem::take(&mut self.hasher).finish();
        if let Some(size) = self.size
            && size != written
        {
            return Err(StoreError::SizeMismatch {
                digest: self
                    .expected
                    .as_ref()
                    .map_or_else(|| actual.to_string(), |d| d.to_string()),
                expected: size,
                actual: written,
            });
        }
        if let Some(expected) = &self.expected
            && *expected != actual
        {
            return Err(StoreError::DigestMismatch {
                expected: expected.clone(),
                actual,
                size: written,
            });
        }
        let file = self
            .file
            .take()
            .expect("file is only taken by commit, which consumes self");
        let file = file
            .into_inner()
            .map_err(|e| io_err("flush", &self.temp)(e.into_error()))?;
        file.sync_all().map_err(io_err("fsync", &self.temp))?;
        drop(file);
        let dest = self.store.blob_path(&actual);
        fs::rename(&self.temp, &dest).map_err(io_err("rename", &dest))?;
        // The rename is durable only once the directory entry is.
        if let Ok(dir) = File::open(&self.store.blobs) {
            let _ = dir.sync_all();
        }
        tracing::debug!(digest = %actual, size = written, "blob committed");
        Ok(actual)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() || self.temp.exists() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn put_then_read_round_trips() {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path()).unwrap();
        let d = s.put(b"hello").unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert!(
            s.blob_path(&d)
                .ends_with(format!("content/blobs/sha256/{}", d.hex()))
        );
        assert_eq!(s.read(&d).unwrap(), b"hello");
        assert_eq!(s.size(&d).unwrap(), 5);
        assert_eq!(s.list().unwrap(), vec![(d.clone(), 5)]);
        assert_eq!(entries(&t.path().join("content/ingest")), 0);
        s.delete(&d).unwrap();
        assert!(!s.contains(&d));
        assert!(matches!(s.read(&d), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn digest_mismatch_leaves_nothing_visible() {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path()).unwrap();
        let want = Digest::of(b"good");
        let err = s.put_verified(b"evil", &want).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert!(err.to_string().contains(&want.to_string()));
        assert!(!s.contains(&want));
        assert!(!s.contains(&Digest::of(b"evil")));
        assert_eq!(entries(&t.path().join("content/blobs/sha256")), 0);
        assert_eq!(entries(&t.path().join("content/ingest")), 0);
    }

    #[test]
    fn size_mismatch_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path()).unwrap();
        let mut w = s.writer(None, Some(10)).unwrap();
        w.write_all(b"short").unwrap();
        assert!(matches!(w.commit(), Err(StoreError::SizeMismatch { .. })));
        assert_eq!(entries(&t.path().join("content/blobs/sha256")), 0);
    }

    #[test]
    fn abandoned_writer_is_not_visible_and_is_cleaned() {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path()).unwrap();
        let mut w = s.writer(Some(Digest::of(b"x")), None).unwrap();
        w.write_all(b"x").unwrap();
        w.flush().unwrap();
        assert_eq!(entries(&t.path().join("content/ingest")), 1);
        assert!(!s.contains(&Digest::of(b"x")));
        drop(w);
        assert_eq!(entries(&t.path().join("content/ingest")), 0);
        // A crash instead of a drop leaves a stray temp file: swept at startup.
        fs::write(t.path().join("content/ingest/stray"), b"junk").unwrap();
        assert_eq!(s.clean_ingest().unwrap(), 1);
    }

    #[test]
    fn corrupted_blob_on_disk_is_detected() {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path()).unwrap();
        let d = s.put(b"original").unwrap();
        fs::write(s.blob_path(&d), b"tampered").unwrap();
        assert!(matches!(s.read(&d), Err(StoreError::DigestMismatch { .. })));
    }

    #[test]
    fn streaming_write_in_pieces() {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path()).unwrap();
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = s
            .writer(Some(Digest::of(&data)), Some(data.len() as u64))
            .unwrap();
        for chunk in data.chunks(7777) {
            w.write_all(chunk).unwrap();
        }
        assert_eq!(w.written(), data.len() as u64);
        let d = w.commit().unwrap();
        assert_eq!(s.read(&d).unwrap(), data);
    }
}
