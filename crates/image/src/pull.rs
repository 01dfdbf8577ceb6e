//! Pulling an image: manifest (through an index, for the wanted platform), config, then
//! every missing layer downloaded in parallel and, as its bytes arrive, hashed, written to
//! the content store and decompressed straight into its snapshot directory. No layer tar
//! ever touches the disk, and extraction of one layer overlaps the download of the others.
//!
//! Per layer, one async task receives the HTTP body and one blocking thread consumes it
//! (`StreamTee` → [`Snapshotter::apply`]). A dropped connection is resumed with `Range`
//! from the last byte received; the blocking side never notices. Layers whose chain ID is
//! already unpacked are not fetched at all.

use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};
use tracing::Instrument;

use crate::digest::Digest;
use crate::manifest::{AnyManifest, Descriptor, ImageConfig, Manifest, ManifestError, Platform};
use crate::reference::Reference;
use crate::registry::{Endpoint, RegistryClient, RegistryError};
use crate::snapshot::{SnapshotError, Snapshotter, chain_ids};
use crate::store::{BlobWriter, ContentStore, StoreError};
use crate::unpack::UnpackOptions;

/// What happened to one layer, in the order Docker's progress stream reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerStatus {
    Waiting,
    AlreadyExists,
    Downloading { current: u64, total: u64 },
    Retrying { attempt: u32, error: String },
    Verifying,
    Extracting,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub layer: Digest,
    pub status: LayerStatus,
}

impl Progress {
    /// The event as a line of Docker's JSON progress stream (`docker pull` output over
    /// the Engine API): `{"status":…,"progressDetail":{…},"id":"<12 hex>"}`.
    pub fn to_docker_json(&self) -> serde_json::Value {
        let id = self.layer.short();
        let (status, detail) = match &self.status {
            LayerStatus::Waiting => ("Waiting", serde_json::json!({})),
            LayerStatus::AlreadyExists => ("Already exists", serde_json::json!({})),
            LayerStatus::Downloading { current, total } => (
                "Downloading",
                serde_json::json!({"current": current, "total": total}),
            ),
            LayerStatus::Retrying { attempt, .. } => {
                return serde_json::json!({
                    "status": format!("Retrying (attempt {attempt})"),
                    "progressDetail": {},
                    "id": id,
                });
            }
            LayerStatus::Verifying => ("Verifying Checksum", serde_json::json!({})),
            LayerStatus::Extracting => ("Extracting", serde_json::json!({})),
            LayerStatus::Done => ("Pull complete", serde_json::json!({})),
        };
        serde_json::json!({"status": status, "progressDetail": detail, "id": id})
    }
}

/// Receives progress events; called from async tasks, so it must not block.
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

#[derive(Clone)]
pub struct PullOptions {
    /// Defaults to the host's platform.
    pub platform: Option<Platform>,
    pub unpack: UnpackOptions,
    /// Layers downloaded at once.
    pub max_concurrent_downloads: usize,
    pub progress: Option<ProgressSink>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            unpack: UnpackOptions::default(),
            max_concurrent_downloads: 4,
            progress: None,
        }
    }
}

/// The pulled image, as the image store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullResult {
    pub reference: Reference,
    /// Digest the reference resolved to (index or manifest): the image's RepoDigest.
    pub digest: Digest,
    /// The platform-specific image manifest.
    pub manifest_digest: Digest,
    /// The config digest: the image ID.
    pub config_digest: Digest,
    /// Chain ID of the top layer (None for an image without layers).
    pub chain_id: Option<Digest>,
    pub layers_fetched: usize,
    pub layers_skipped: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(
        "image {digest}: manifest lists {layers} layers but the config has {diff_ids} diff IDs"
    )]
    LayerCount {
        digest: Digest,
        layers: usize,
        diff_ids: usize,
    },
    #[error("layer {digest}: download failed after {attempts} attempts: {last}")]
    Download {
        digest: Digest,
        attempts: u32,
        last: String,
    },
    #[error("layer {digest}: registry sent more than the {size} bytes the manifest declares")]
    Oversize { digest: Digest, size: u64 },
    #[error("layer worker for {digest} panicked or was cancelled")]
    Worker { digest: Digest },
}

fn emit(p: &Option<ProgressSink>, layer: &Digest, status: LayerStatus) {
    if let Some(p) = p {
        p(Progress {
            layer: layer.clone(),
            status,
        });
    }
}

/// Resolves `reference` to an image manifest for the platform, storing every document
/// (index, manifest, config) in the content store under its digest.
pub async fn resolve(
    client: &RegistryClient,
    content: &ContentStore,
    reference: &Reference,
    platform: &Platform,
) -> Result<(Digest, Digest, Manifest, ImageConfig, Bytes, Endpoint), PullError> {
    let (bytes, ct, top, ep) = client
        .get_manifest(reference, &reference.manifest_key())
        .await?;
    content.put_verified(&bytes, &top)?;
    let (manifest_digest, manifest) = match AnyManifest::parse(&bytes, ct.as_deref(), &top)? {
        AnyManifest::Image(m) => (top.clone(), m),
        AnyManifest::Index(idx) => {
            let desc = idx.select(platform, &top)?;
            tracing::debug!(index = %top, manifest = %desc.digest, %platform, "platform selected");
            let (b, ct, d, _) = client
                .get_manifest(reference, &desc.digest.to_string())
                .await?;
            content.put_verified(&b, &d)?;
            match AnyManifest::parse(&b, ct.as_deref(), &d)? {
                AnyManifest::Image(m) => (d, m),
                AnyManifest::Index(_) => {
                    return Err(ManifestError::MediaType {
                        media_type: "nested index".into(),
                        digest: d,
                    }
                    .into());
                }
            }
        }
    };
    let cfg_digest = manifest.config.digest.clone();
    let cfg_bytes = if content.contains(&cfg_digest) {
        Bytes::from(content.read(&cfg_digest)?)
    } else {
        let b = client.get_blob_bytes(&ep, reference, &cfg_digest).await?;
        content.put_verified(&b, &cfg_digest)?;
        b
    };
    let config = ImageConfig::parse(&cfg_bytes, &cfg_digest)?;
    Ok((top, manifest_digest, manifest, config, cfg_bytes, ep))
}

/// Pulls `reference` into the content store and snapshots.
pub async fn pull(
    client: &RegistryClient,
    content: &ContentStore,
    snapshots: &Arc<Snapshotter>,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<PullResult, PullError> {
    let span = tracing::info_span!("pull", reference = %reference);
    pull_inner(client, content, snapshots, reference, opts)
        .instrument(span)
        .await
}

async fn pull_inner(
    client: &RegistryClient,
    content: &ContentStore,
    snapshots: &Arc<Snapshotter>,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<PullResult, PullError> {
    let platform = opts.platform.clone().unwrap_or_else(Platform::host);
    let (top, manifest_digest, manifest, config, _, ep) =
        resolve(client, content, reference, &platform).await?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(PullError::LayerCount {
            digest: manifest_digest,
            layers: manifest.layers.len(),
            diff_ids: diff_ids.len(),
        });
    }
    let chains = chain_ids(diff_ids);
    let sem = Arc::new(Semaphore::new(opts.max_concurrent_downloads.max(1)));
    let mut tasks = Vec::new();
    let mut skipped = 0;
    for (i, desc) in manifest.layers.iter().enumerate() {
        if snapshots.get(&chains[i])?.is_some() {
            emit(&opts.progress, &desc.digest, LayerStatus::AlreadyExists);
            skipped += 1;
            continue;
        }
        emit(&opts.progress, &desc.digest, LayerStatus::Waiting);
        let job = LayerJob {
            client: client.clone(),
            content: content.clone(),
            snapshots: snapshots.clone(),
            reference: reference.clone(),
            ep: ep.clone(),
            desc: desc.clone(),
            parent: i.checked_sub(1).map(|p| chains[p].clone()),
            diff_id: diff_ids[i].clone(),
            unpack: opts.unpack.clone(),
            progress: opts.progress.clone(),
            sem: sem.clone(),
        };
        let span = tracing::debug_span!("layer", digest = %desc.digest, index = i);
        tasks.push((
            desc.digest.clone(),
            tokio::spawn(job.run().instrument(span)),
        ));
    }
    let mut fetched = 0;
    let mut first_err = None;
    for (digest, t) in tasks {
        match t.await.unwrap_or(Err(PullError::Worker { digest })) {
            Ok(true) => fetched += 1,
            // Another pull unpacked it while this one waited for the layer.
            Ok(false) => skipped += 1,
            Err(e) => {
                tracing::warn!(error = %e, "layer failed");
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok(PullResult {
        reference: reference.clone(),
        digest: top,
        manifest_digest,
        config_digest: manifest.config.digest.clone(),
        chain_id: chains.last().cloned(),
        layers_fetched: fetched,
        layers_skipped: skipped,
    })
}

struct LayerJob {
    client: RegistryClient,
    content: ContentStore,
    snapshots: Arc<Snapshotter>,
    reference: Reference,
    ep: Endpoint,
    desc: Descriptor,
    parent: Option<Digest>,
    diff_id: Digest,
    unpack: UnpackOptions,
    progress: Option<ProgressSink>,
    sem: Arc<Semaphore>,
}

impl LayerJob {
    /// Fetches and unpacks the layer unless it appears meanwhile; returns whether it did.
    async fn run(self) -> Result<bool, PullError> {
        let digest = self.desc.digest.clone();
        // One pull at a time per chain ID in this process: a concurrent pull of an image
        // sharing this layer waits here, then finds the snapshot and skips it.
        let chain = match &self.parent {
            Some(p) => crate::snapshot::child_chain_id(p, &self.diff_id),
            None => self.diff_id.clone(),
        };
        let lock = self.snapshots.inflight(&chain);
        let _guard = lock.lock().await;
        if self.snapshots.get(&chain)?.is_some() {
            emit(&self.progress, &digest, LayerStatus::AlreadyExists);
            return Ok(false);
        }
        self.fetch(digest).await.map(|()| true)
    }

    async fn fetch(self, digest: Digest) -> Result<(), PullError> {
        let unpack = UnpackOptions {
            expected_digest: Some(digest.clone()),
            ..self.unpack.clone()
        };
        // The compressed blob is already here (loaded, or a pull that failed while
        // unpacking): unpack from disk instead of the network.
        if self.content.contains(&digest) {
            let (content, snaps, parent, diff_id) = (
                self.content.clone(),
                self.snapshots.clone(),
                self.parent.clone(),
                self.diff_id.clone(),
            );
            emit(&self.progress, &digest, LayerStatus::Extracting);
            let d = digest.clone();
            tokio::task::spawn_blocking(move || -> Result<(), PullError> {
                let f = content.open_blob(&d)?;
                let r = io::BufReader::with_capacity(256 * 1024, f);
                snaps.apply(parent.as_ref(), &diff_id, r, &unpack)?;
                Ok(())
            })
            .await
            .unwrap_or(Err(PullError::Worker {
                digest: digest.clone(),
            }))?;
            emit(&self.progress, &digest, LayerStatus::Done);
            return Ok(());
        }

        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(64);
        let writer = self
            .content
            .writer(Some(digest.clone()), Some(self.desc.size))?;
        let (snaps, parent, diff_id) = (
            self.snapshots.clone(),
            self.parent.clone(),
            self.diff_id.clone(),
        );
        let worker = tokio::task::spawn_blocking(move || -> Result<(), PullError> {
            let mut tee = StreamTee {
                rx,
                cur: Bytes::new(),
                blob: writer,
            };
            snaps.apply(parent.as_ref(), &diff_id, &mut tee, &unpack)?;
            // Whatever the unpacker did not need (or all of it, if another pull created
            // the snapshot meanwhile) still belongs to the blob.
            io::copy(&mut tee, &mut io::sink()).map_err(|e| StoreError::Io {
                op: "receive",
                path: "(layer stream)".into(),
                source: e,
            })?;
            tee.blob.commit()?;
            Ok(())
        });

        let download = {
            let _permit = self.sem.acquire().await.ok();
            self.download(&tx).await
        };
        if let Err(e) = &download {
            // Make the worker stop with an error instead of committing a short stream.
            let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
        }
        drop(tx);
        emit(&self.progress, &digest, LayerStatus::Verifying);
        emit(&self.progress, &digest, LayerStatus::Extracting);
        let worked = worker.await.unwrap_or(Err(PullError::Worker {
            digest: digest.clone(),
        }));
        // A worker error (bad layer, digest mismatch) explains a failed send better than
        // the download error it caused.
        match (worked, download) {
            (Err(w), _) => Err(w),
            (Ok(()), Err(d)) => Err(d),
            (Ok(()), Ok(())) => {
                emit(&self.progress, &digest, LayerStatus::Done);
                Ok(())
            }
        }
    }

    /// Streams the blob into `tx`, resuming after failures. Returns when all `size` bytes
    /// were sent, or when the receiver is gone (the worker will report why).
    async fn download(&self, tx: &mpsc::Sender<io::Result<Bytes>>) -> Result<(), PullError> {
        let digest = &self.desc.digest;
        let total = self.desc.size;
        let mut received = 0u64;
        let mut attempt = 0u32;
        let mut last_report = 0u64;
        emit(
            &self.progress,
            digest,
            LayerStatus::Downloading { current: 0, total },
        );
        loop {
            let err = match self
                .client
                .get_blob(&self.ep, &self.reference, digest, received)
                .await
            {
                Err(e @ (RegistryError::NotFound { .. } | RegistryError::Auth { .. })) => {
                    return Err(e.into());
                }
                Err(e) => e.to_string(),
                Ok(mut blob) => {
                    let mut skip = blob.skip;
                    let mut failure = None;
                    loop {
                        match blob.response.chunk().await {
                            Ok(Some(mut chunk)) => {
                                if skip > 0 {
                                    let n = skip.min(chunk.len() as u64) as usize;
                                    skip -= n as u64;
                                    chunk = chunk.slice(n..);
                                    if chunk.is_empty() {
                                        continue;
                                    }
                                }
                                received += chunk.len() as u64;
                                if received > total {
                                    return Err(PullError::Oversize {
                                        digest: digest.clone(),
                                        size: total,
                                    });
                                }
                                if tx.send(Ok(chunk)).await.is_err() {
                                    return Ok(());
                                }
                                if received - last_report >= 512 * 1024 || received == total {
                                    last_report = received;
                                    emit(
                                        &self.progress,
                                        digest,
                                        LayerStatus::Downloading {
                                            current: received,
                                            total,
                                        },
                                    );
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                failure = Some(e.to_string());
                                break;
                            }
                        }
                    }
                    if received == total {
                        return Ok(());
                    }
                    failure.unwrap_or_else(|| {
                        format!("connection closed after {received} of {total} bytes")
                    })
                }
            };
            attempt += 1;
            if attempt >= self.client.config().retries.max(1) {
                return Err(PullError::Download {
                    digest: digest.clone(),
                    attempts: attempt,
                    last: err,
                });
            }
            tracing::info!(%digest, attempt, received, error = err.as_str(), "retrying layer download");
            emit(
                &self.progress,
                digest,
                LayerStatus::Retrying {
                    attempt,
                    error: err.clone(),
                },
            );
            let backoff = 100u64 << attempt.min(6);
            tokio::time::sleep(std::time::Duration::from_millis(backoff)).await;
        }
    }
}

/// The blocking side of a layer download: a `Read` over chunks from the async side that
/// also writes every chunk to the content store as it passes.
struct StreamTee {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
    blob: BlobWriter,
}

impl Read for StreamTee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(chunk)) => {
                    self.blob.write_all(&chunk)?;
                    self.cur = chunk;
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        bytes::Buf::advance(&mut self.cur, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_renders_as_docker_json() {
        let d = Digest::of(b"layer");
        let p = Progress {
            layer: d.clone(),
            status: LayerStatus::Downloading {
                current: 10,
                total: 20,
            },
        };
        assert_eq!(
            p.to_docker_json(),
            serde_json::json!({"status": "Downloading", "progressDetail": {"current": 10, "total": 20}, "id": d.short()})
        );
        let done = Progress {
            layer: d,
            status: LayerStatus::Done,
        };
        assert_eq!(done.to_docker_json()["status"], "Pull complete");
    }
}
