//! Pushing an image from the content store to a registry: blobs first (skipped when the
//! registry has them, mounted across repositories when asked, else uploaded in one PUT or
//! in chunks), then manifests bottom-up, then the tag.

use std::sync::Arc;

use bytes::Bytes;
use tokio_util::io::ReaderStream;

use crate::digest::Digest;
use crate::manifest::{AnyManifest, DOCKER_MANIFEST, ManifestError, OCI_INDEX, OCI_MANIFEST};
use crate::pull::{LayerStatus, Progress, ProgressSink};
use crate::reference::Reference;
use crate::registry::{RegistryClient, RegistryError};
use crate::store::{ContentStore, StoreError};

#[derive(Clone, Default)]
pub struct PushOptions {
    /// Upload blobs larger than this in PATCH chunks of this size (None: one PUT).
    pub chunk_size: Option<usize>,
    /// Repository (path on the same registry) to try mounting blobs from first.
    pub mount_from: Option<String>,
    pub progress: Option<ProgressSink>,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("reading blob {digest} for upload: {source}")]
    Read {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
}

/// How each blob got to the registry (for tests and the progress stream).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushReport {
    pub uploaded: Vec<Digest>,
    pub existed: Vec<Digest>,
    pub mounted: Vec<Digest>,
}

/// Pushes the manifest or index `digest` (and everything it references) and tags it with
/// `reference`'s tag, or puts it by digest if the reference has none.
pub async fn push(
    client: &RegistryClient,
    content: &ContentStore,
    reference: &Reference,
    digest: &Digest,
    opts: &PushOptions,
) -> Result<PushReport, PushError> {
    let mut report = PushReport::default();
    let media = push_manifest_tree(client, content, reference, digest, opts, &mut report).await?;
    let key = reference
        .tag()
        .map_or_else(|| digest.to_string(), str::to_owned);
    let bytes = Bytes::from(content.read(digest)?);
    client.put_manifest(reference, &key, &media, bytes).await?;
    tracing::info!(reference = %reference, %digest, uploaded = report.uploaded.len(), "pushed");
    Ok(report)
}

/// Pushes what `digest` references, returning its media type. Children of an index are
/// put by digest; the caller puts the top document under the tag.
async fn push_manifest_tree(
    client: &RegistryClient,
    content: &ContentStore,
    r: &Reference,
    digest: &Digest,
    opts: &PushOptions,
    report: &mut PushReport,
) -> Result<String, PushError> {
    let bytes = content.read(digest)?;
    match AnyManifest::parse(&bytes, None, digest)? {
        AnyManifest::Index(idx) => {
            for m in &idx.manifests {
                if !content.contains(&m.digest) {
                    // Other platforms were never pulled; the registry may still have them.
                    continue;
                }
                let media = Box::pin(push_manifest_tree(
                    client, content, r, &m.digest, opts, report,
                ))
                .await?;
                let b = Bytes::from(content.read(&m.digest)?);
                client
                    .put_manifest(r, &m.digest.to_string(), &media, b)
                    .await?;
            }
            Ok(idx.media_type.unwrap_or_else(|| OCI_INDEX.to_owned()))
        }
        AnyManifest::Image(m) => {
            let mut blobs = vec![(m.config.digest.clone(), m.config.size)];
            blobs.extend(m.layers.iter().map(|l| (l.digest.clone(), l.size)));
            let mut set = tokio::task::JoinSet::new();
            for (d, size) in blobs {
                let (client, content, r, opts) =
                    (client.clone(), content.clone(), r.clone(), opts.clone());
                set.spawn(async move {
                    let how = push_blob(&client, &content, &r, &d, size, &opts).await?;
                    Ok::<_, PushError>((d, how))
                });
            }
            while let Some(res) = set.join_next().await {
                let (d, how) = res.map_err(|e| PushError::Read {
                    digest: digest.clone(),
                    source: std::io::Error::other(e.to_string()),
                })??;
                match how {
                    How::Existed => report.existed.push(d),
                    How::Mounted => report.mounted.push(d),
                    How::Uploaded => report.uploaded.push(d),
                }
            }
            let default = if m.config.media_type.contains("docker") {
                DOCKER_MANIFEST
            } else {
                OCI_MANIFEST
            };
            Ok(m.media_type.unwrap_or_else(|| default.to_owned()))
        }
    }
}

enum How {
    Existed,
    Mounted,
    Uploaded,
}

async fn push_blob(
    client: &RegistryClient,
    content: &ContentStore,
    r: &Reference,
    digest: &Digest,
    size: u64,
    opts: &PushOptions,
) -> Result<How, PushError> {
    let emit = |status| {
        if let Some(p) = &opts.progress {
            p(Progress {
                layer: digest.clone(),
                status,
            });
        }
    };
    if client.blob_exists(r, digest).await? {
        emit(LayerStatus::AlreadyExists);
        return Ok(How::Existed);
    }
    if let Some(from) = &opts.mount_from
        && client.mount_blob(r, digest, from).await?
    {
        emit(LayerStatus::Done);
        return Ok(How::Mounted);
    }
    emit(LayerStatus::Downloading {
        current: 0,
        total: size,
    });
    match opts.chunk_size {
        Some(chunk) if size as usize > chunk => {
            let f = content.open_blob(digest)?;
            let f = tokio::fs::File::from_std(f);
            client.push_blob_chunked(r, digest, f, chunk).await?;
        }
        _ => {
            // Open once up front so a missing blob is reported here, not as a digest error.
            content.open_blob(digest)?;
            let path = Arc::new(content.blob_path(digest));
            let body = move || match std::fs::File::open(&*path) {
                Ok(f) => reqwest::Body::wrap_stream(ReaderStream::with_capacity(
                    tokio::fs::File::from_std(f),
                    256 * 1024,
                )),
                Err(_) => reqwest::Body::from(Vec::new()),
            };
            client.push_blob_monolithic(r, digest, size, &body).await?;
        }
    }
    emit(LayerStatus::Done);
    Ok(How::Uploaded)
}
