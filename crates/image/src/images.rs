//! The image store: which images exist locally, their tags and repo digests, and the
//! operations `docker images`, `inspect`, `tag`, `rmi`, `history`, `image prune` and
//! `system df` need, plus garbage collection of blobs and snapshots nothing references.
//!
//! An image is identified by its config digest (Docker's image ID). Its record points at
//! the platform manifest in the content store; layers are found through that manifest and
//! snapshots through the config's diff IDs. Metadata is one JSON file replaced atomically
//! (`images.json`); the daemon can move it into SQLite behind the same methods.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::manifest::{AnyManifest, ContainerConfig, ImageConfig, Manifest, ManifestError};
use crate::pull::{PullError, PullOptions, PullResult};
use crate::push::{PushError, PushOptions, PushReport};
use crate::reference::{Reference, ReferenceError};
use crate::registry::RegistryClient;
use crate::snapshot::{SnapshotError, Snapshotter, chain_ids};
use crate::store::{ContentStore, StoreError};
use crate::timefmt;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("image reference {name:?} is ambiguous: matches {count} images")]
    Ambiguous { name: String, count: usize },
    #[error("conflict: unable to remove {name}: image is in use by a container (use force)")]
    InUse { name: String },
    #[error(
        "conflict: unable to delete {id} (must be forced): image is referenced in multiple repositories"
    )]
    MultipleTags { id: String },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A tag named `sha256` would read as an image ID (`sha256:<tag>`).
    #[error("refusing to create an ambiguous tag using digest algorithm as name")]
    DigestAlgorithmName,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Pull(#[from] PullError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error("image metadata {path}: {source}")]
    Meta {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the store keeps per image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Config digest: the image ID.
    pub id: Digest,
    /// The platform manifest in the content store.
    pub manifest: Digest,
    /// Canonical `name@digest` strings, the digest being what the registry resolved
    /// (an index digest for multi-platform images).
    #[serde(default)]
    pub repo_digests: BTreeSet<String>,
    /// Top-level documents (indexes) kept alive for this image besides the manifest.
    #[serde(default)]
    pub extra_blobs: BTreeSet<Digest>,
    /// Unix seconds when last tagged (Docker's `Metadata.LastTagTime`).
    #[serde(default)]
    pub last_tag_time: i64,
    /// The image this one was committed on (Docker's `Parent`; history shows its ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Digest>,
}

/// All image metadata: records by ID and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMeta {
    pub images: BTreeMap<Digest, ImageRecord>,
    /// Canonical `domain/path:tag` → image ID.
    pub tags: BTreeMap<String, Digest>,
}

type Meta = ImageMeta;

/// Where image metadata persists. The store keeps the authoritative copy in memory and
/// writes it through [`ImageMetaStore::save`] before a change is reported done, so an
/// implementation only has to make `save` atomic. The daemon can put it in SQLite.
pub trait ImageMetaStore: Send + Sync {
    fn load(&self) -> Result<ImageMeta, ImageError>;
    fn save(&self, meta: &ImageMeta) -> Result<(), ImageError>;
}

/// [`ImageMetaStore`] as one JSON file replaced by temp file + fsync + rename.
pub struct JsonImageMeta {
    path: PathBuf,
}

impl JsonImageMeta {
    pub fn new(path: &Path) -> JsonImageMeta {
        JsonImageMeta {
            path: path.to_owned(),
        }
    }
}

impl ImageMetaStore for JsonImageMeta {
    fn load(&self) -> Result<ImageMeta, ImageError> {
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| ImageError::Meta {
                path: self.path.clone(),
                source: std::io::Error::other(e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ImageMeta::default()),
            Err(source) => Err(ImageError::Meta {
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn save(&self, m: &ImageMeta) -> Result<(), ImageError> {
        let data = serde_json::to_vec_pretty(m).map_err(|e| ImageError::Meta {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        crate::snapshot::write_atomic(&self.path, &data).map_err(|source| ImageError::Meta {
            path: self.path.clone(),
            source,
        })
    }
}

/// A row of `docker images`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    pub id: String,
    pub parent_id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub created: i64,
    /// `created` to the nanosecond: the `before`/`since` filters compare these, as
    /// dockerd does, so images made within one second still order.
    #[serde(skip)]
    pub created_nanos: i128,
    pub size: u64,
    pub labels: BTreeMap<String, String>,
}

/// `docker image inspect`, with Docker's field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: String,
    pub author: String,
    pub config: ContainerConfig,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub os: String,
    pub size: u64,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFsInspect,
    pub metadata: InspectMetadata,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFsInspect {
    #[serde(rename = "Type")]
    pub kind: String,
    pub layers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectMetadata {
    pub last_tag_time: String,
}

/// A row of `docker history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryEntry {
    pub id: String,
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub comment: String,
}

/// One step of a removal, as `docker rmi` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveAction {
    Untagged(String),
    /// An image (its ID).
    Deleted(Digest),
    /// A layer the deleted image was the last to use (its chain ID): dockerd lists these
    /// as `Deleted` too, after the image.
    DeletedLayer(Digest),
}

/// Effect of a garbage collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub blobs_removed: usize,
    pub snapshots_removed: usize,
    pub bytes_freed: u64,
    /// A pull, load, import or commit was writing: nothing was swept (its blobs are not
    /// referenced by an image yet); the next collection takes what this one left.
    pub deferred: bool,
}

/// Held by a pull, load, import or commit from its first blob until its image is recorded
/// ([`ImageStore::writing`]): no garbage collection sweeps meanwhile.
pub struct WriteGuard<'a>(&'a ImageStore);

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        *self.0.writers.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
    }
}

/// `docker system df` figures for images.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    pub images: usize,
    /// Sum over images of their layer sizes (shared layers counted once per image).
    pub images_size: u64,
    /// Every layer any image uses, each counted once (Docker's `LayersSize`).
    pub layers_size: u64,
    /// Unpacked snapshots actually on disk.
    pub snapshots_bytes: u64,
    /// The content store (compressed layers, manifests, configs).
    pub content_bytes: u64,
    /// Bytes that removing unused images would free (blobs and snapshots of dangling images).
    pub reclaimable: u64,
    /// Per image, as `docker system df -v` shows them.
    pub per_image: Vec<ImageUsage>,
}

/// One image's share of the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUsage {
    pub id: Digest,
    /// All its layers.
    pub size: u64,
    /// Layers another image also uses.
    pub shared_size: u64,
    /// Layers only this image uses: what removing it frees.
    pub unique_size: u64,
}

/// Local images: content store + snapshots + metadata.
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
    snapshots: Arc<Snapshotter>,
    meta_store: Box<dyn ImageMetaStore>,
    meta: Mutex<Meta>,
    /// Writers in progress; [`ImageStore::gc`] holds this lock while it sweeps.
    writers: Mutex<usize>,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root` (berth's `--data-root`), with
    /// metadata in `<root>/images.json`.
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        ImageStore::with_meta(
            root,
            Box::new(JsonImageMeta::new(&root.join("images.json"))),
        )
    }

    /// Opens the store with metadata kept by `meta_store` (the daemon's database).
    pub fn with_meta(
        root: &Path,
        meta_store: Box<dyn ImageMetaStore>,
    ) -> Result<ImageStore, ImageError> {
        let content = ContentStore::open(root)?;
        let snapshots = Arc::new(Snapshotter::open(root)?);
        let meta = meta_store.load()?;
        let store = ImageStore {
            root: root.to_owned(),
            content,
            snapshots,
            meta_store,
            meta: Mutex::new(meta),
            writers: Mutex::new(0),
        };
        store.recover()?;
        Ok(store)
    }

    /// Sweeps what a crash (SIGKILL, power loss) can leave: blob temp files in the ingest
    /// area and snapshot directories that were never indexed. Committed blobs and indexed
    /// snapshots are complete by construction, so nothing else needs checking. Assumes one
    /// `ImageStore` per data root (the daemon's), which [`ImageStore::open`] runs this for.
    pub fn recover(&self) -> Result<(), ImageError> {
        let mut temps = self.content.clean_ingest()?;
        temps +=
            crate::snapshot::clean_atomic_temps(&self.root).map_err(|source| ImageError::Meta {
                path: self.root.clone(),
                source,
            })?;
        let dirs = self.snapshots.gc(None)?;
        if temps + dirs > 0 {
            tracing::info!(temps, dirs, "removed debris of interrupted writes");
        }
        Ok(())
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    pub fn snapshots(&self) -> &Arc<Snapshotter> {
        &self.snapshots
    }

    fn lock(&self) -> MutexGuard<'_, Meta> {
        // Writes are atomic renames; a panic elsewhere leaves consistent memory.
        self.meta.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Persists `m`; if that fails, `m` goes back to what was last persisted so memory
    /// never runs ahead of the disk.
    fn save(&self, m: &mut Meta) -> Result<(), ImageError> {
        match self.meta_store.save(m) {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Ok(disk) = self.meta_store.load() {
                    *m = disk;
                }
                Err(e)
            }
        }
    }

    /// Records an image whose manifest, config and layers are in the store, tagging it
    /// with `tag` (a reference with a tag) and noting `repo_digest` (a reference with a
    /// digest) if given.
    pub fn record(
        &self,
        manifest: &Digest,
        config: &Digest,
        tag: Option<&Reference>,
        repo_digest: Option<&Reference>,
    ) -> Result<ImageRecord, ImageError> {
        let mut m = self.lock();
        let now = timefmt::now();
        let rec = m
            .images
            .entry(config.clone())
            .or_insert_with(|| ImageRecord {
                id: config.clone(),
                manifest: manifest.clone(),
                repo_digests: BTreeSet::new(),
                extra_blobs: BTreeSet::new(),
                last_tag_time: now,
                parent: None,
            });
        rec.manifest = manifest.clone();
        if let Some(rd) = repo_digest
            && let Some(d) = rd.digest()
        {
            rec.repo_digests.insert(format!("{}@{}", rd.name(), d));
            if d != manifest {
                rec.extra_blobs.insert(d.clone());
            }
        }
        let rec = rec.clone();
        if let Some(t) = tag
            && t.tag().is_some()
        {
            let key = t.with_tag(t.tag().unwrap_or("latest"))?.to_string();
            // Re-recording a tag the image already has (a `load` of an archive saved
            // here) leaves LastTagTime alone, so save|load round-trips inspect unchanged.
            if m.tags.insert(key, config.clone()).as_ref() != Some(config)
                && let Some(r) = m.images.get_mut(config)
            {
                r.last_tag_time = now;
            }
        }
        let rec = m.images.get(config).cloned().unwrap_or(rec);
        self.save(&mut m)?;
        Ok(rec)
    }

    /// Marks a write in progress until the guard drops (see [`WriteGuard`]). Waits while a
    /// collection sweeps. Take it before the metadata lock, never under it.
    pub fn writing(&self) -> WriteGuard<'_> {
        *self.writers.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        WriteGuard(self)
    }

    /// Pulls and records an image, as `docker pull` does.
    pub async fn pull(
        &self,
        client: &RegistryClient,
        reference: &Reference,
        opts: &PullOptions,
    ) -> Result<(ImageRecord, PullResult), ImageError> {
        let _writing = self.writing();
        let res =
            crate::pull::pull(client, &self.content, &self.snapshots, reference, opts).await?;
        let rd = reference.with_digest(res.digest.clone());
        let tag = reference.tag().is_some().then_some(reference);
        let rec = self.record(&res.manifest_digest, &res.config_digest, tag, Some(&rd))?;
        Ok((rec, res))
    }

    /// Pushes a local image under `target` (which must carry a tag or will use `latest`).
    pub async fn push(
        &self,
        client: &RegistryClient,
        name: &str,
        target: &Reference,
        opts: &PushOptions,
    ) -> Result<PushReport, ImageError> {
        let rec = self.resolve(name)?;
        // Like Docker, offer the registry a cross-repository mount from a repository on the
        // same registry this image came from.
        let mut opts = opts.clone();
        if opts.mount_from.is_none() {
            opts.mount_from = rec
                .repo_digests
                .iter()
                .filter_map(|rd| Reference::parse(rd).ok())
                .find(|r| r.domain() == target.domain() && r.path() != target.path())
                .map(|r| r.path().to_owned());
        }
        let report = crate::push::push(client, &self.content, target, &rec.manifest, &opts).await?;
        let rd = target.with_digest(rec.manifest.clone());
        self.record(&rec.manifest, &rec.id, None, Some(&rd))?;
        Ok(report)
    }

    /// Finds an image by full or short ID, `name[:tag]`, or `name@digest`.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord, ImageError> {
        let m = self.lock();
        Self::resolve_in(&m, name)
    }

    fn resolve_in(m: &Meta, name: &str) -> Result<ImageRecord, ImageError> {
        let not_found = || ImageError::NotFound(name.to_owned());
        if let Ok(d) = Digest::parse(name) {
            return m.images.get(&d).cloned().ok_or_else(not_found);
        }
        if let Ok(r) = Reference::parse(name) {
            if let Some(d) = r.digest() {
                let key = format!("{}@{}", r.name(), d);
                if let Some(rec) = m.images.values().find(|i| i.repo_digests.contains(&key)) {
                    return Ok(rec.clone());
                }
            } else if let Some(id) = m.tags.get(&r.to_string()) {
                return m.images.get(id).cloned().ok_or_else(not_found);
            }
        }
        // A short or full ID without its algorithm: a hex prefix (Docker accepts any unique
        // prefix, and the 64 digits alone).
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<_> = m
                .images
                .values()
                .filter(|i| i.id.hex().starts_with(hex))
                .collect();
            return match hits.len() {
                0 => Err(not_found()),
                1 => Ok(hits[0].clone()),
                count => Err(ImageError::Ambiguous {
                    name: name.to_owned(),
                    count,
                }),
            };
        }
        Err(not_found())
    }

    fn tags_of(m: &Meta, id: &Digest) -> Vec<Reference> {
        m.tags
            .iter()
            .filter(|(_, v)| *v == id)
            .filter_map(|(k, _)| Reference::parse(k).ok())
            .collect()
    }

    /// The image's manifest and config, parsed.
    pub fn manifest_and_config(
        &self,
        rec: &ImageRecord,
    ) -> Result<(Manifest, ImageConfig), ImageError> {
        let mb = self.content.read(&rec.manifest)?;
        let manifest = match AnyManifest::parse(&mb, None, &rec.manifest)? {
            AnyManifest::Image(m) => m,
            AnyManifest::Index(_) => {
                return Err(ManifestError::MediaType {
                    media_type: "index where an image manifest was expected".into(),
                    digest: rec.manifest.clone(),
                }
                .into());
            }
        };
        let cb = self.content.read(&rec.id)?;
        Ok((manifest, ImageConfig::parse(&cb, &rec.id)?))
    }

    /// Chain ID of the image's top layer.
    pub fn chain_id(&self, rec: &ImageRecord) -> Result<Option<Digest>, ImageError> {
        let (_, cfg) = self.manifest_and_config(rec)?;
        Ok(chain_ids(&cfg.rootfs.diff_ids).pop())
    }

    fn layer_sizes(&self, cfg: &ImageConfig) -> Result<Vec<u64>, ImageError> {
        let mut out = Vec::new();
        for c in chain_ids(&cfg.rootfs.diff_ids) {
            out.push(self.snapshots.get(&c)?.map_or(0, |s| s.size));
        }
        Ok(out)
    }

    pub fn list(&self) -> Result<Vec<ImageSummary>, ImageError> {
        let recs: Vec<(ImageRecord, Vec<Reference>)> = {
            let m = self.lock();
            m.images
                .values()
                .map(|r| (r.clone(), Self::tags_of(&m, &r.id)))
                .collect()
        };
        let mut out = Vec::new();
        for (rec, tags) in recs {
            let (_, cfg) = self.manifest_and_config(&rec)?;
            out.push(ImageSummary {
                id: rec.id.to_string(),
                parent_id: rec
                    .parent
                    .as_ref()
                    .map(Digest::to_string)
                    .unwrap_or_default(),
                repo_tags: familiar_sorted(&tags),
                repo_digests: familiar_digests(&rec),
                created: cfg
                    .created
                    .as_deref()
                    .and_then(timefmt::parse_rfc3339)
                    .unwrap_or(0),
                created_nanos: cfg
                    .created
                    .as_deref()
                    .and_then(timefmt::parse_rfc3339_nanos)
                    .unwrap_or(0),
                size: self.layer_sizes(&cfg)?.iter().sum(),
                labels: cfg
                    .config
                    .as_ref()
                    .and_then(|c| c.labels.clone())
                    .unwrap_or_default(),
            });
        }
        out.sort_by(|a, b| b.created_nanos.cmp(&a.created_nanos).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub fn inspect(&self, name: &str) -> Result<ImageInspect, ImageError> {
        let (rec, tags) = {
            let m = self.lock();
            let rec = Self::resolve_in(&m, name)?;
            let tags = Self::tags_of(&m, &rec.id);
            (rec, tags)
        };
        let (_, cfg) = self.manifest_and_config(&rec)?;
        let comment = cfg
            .history
            .last()
            .and_then(|h| h.comment.clone())
            .unwrap_or_default();
        Ok(ImageInspect {
            id: rec.id.to_string(),
            repo_tags: familiar_sorted(&tags),
            repo_digests: familiar_digests(&rec),
            parent: rec
                .parent
                .as_ref()
                .map(Digest::to_string)
                .unwrap_or_default(),
            comment,
            created: cfg.created.clone().unwrap_or_default(),
            author: cfg.author.clone().unwrap_or_default(),
            config: cfg.config.clone().unwrap_or_default(),
            architecture: cfg.architecture.clone(),
            variant: cfg.variant.clone(),
            os: cfg.os.clone(),
            size: self.layer_sizes(&cfg)?.iter().sum(),
            root_fs: RootFsInspect {
                kind: "layers".into(),
                layers: cfg.rootfs.diff_ids.iter().map(|d| d.to_string()).collect(),
            },
            metadata: InspectMetadata {
                last_tag_time: timefmt::format_rfc3339(rec.last_tag_time),
            },
        })
    }

    /// Adds `target` as a tag of the image `source` resolves to (moving it if it named
    /// another image).
    pub fn tag(&self, source: &str, target: &str) -> Result<(), ImageError> {
        let t = Reference::parse(target)?;
        let t = match t.tag() {
            Some(tag) => t.with_tag(tag)?,
            None => t.with_tag("latest")?,
        };
        if t.familiar_name() == "sha256" {
            return Err(ImageError::DigestAlgorithmName);
        }
        let mut m = self.lock();
        let rec = Self::resolve_in(&m, source)?;
        m.tags.insert(t.to_string(), rec.id.clone());
        if let Some(r) = m.images.get_mut(&rec.id) {
            r.last_tag_time = timefmt::now();
        }
        self.save(&mut m)
    }

    /// `docker rmi`: removing a tag of an image with other tags only untags it; removing
    /// the last tag, or by ID, deletes the image. While `in_use` says a container uses it,
    /// removal is refused, or with `force` only untags. Unreferenced blobs and snapshots
    /// are collected afterwards.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        in_use: &dyn Fn(&Digest) -> bool,
    ) -> Result<Vec<RemoveAction>, ImageError> {
        let mut actions = Vec::new();
        {
            let mut m = self.lock();
            let rec = Self::resolve_in(&m, name)?;
            let tags = Self::tags_of(&m, &rec.id);
            let by_ref = Reference::parse(name)
                .ok()
                .filter(|r| r.digest().is_none() && m.tags.contains_key(&r.to_string()));
            if let Some(r) = &by_ref
                && tags.len() > 1
            {
                m.tags.remove(&r.to_string());
                actions.push(RemoveAction::Untagged(r.familiar()));
                self.save(&mut m)?;
                return Ok(actions);
            }
            if by_ref.is_none() && tags.len() > 1 && !force {
                return Err(ImageError::MultipleTags {
                    id: rec.id.short().to_owned(),
                });
            }
            if in_use(&rec.id) {
                if !force {
                    return Err(ImageError::InUse {
                        name: name.to_owned(),
                    });
                }
                // Docker's rule: a forced removal of an image a container uses only
                // untags it; the image stays (dangling) until the container is gone.
                for t in &tags {
                    m.tags.remove(&t.to_string());
                    actions.push(RemoveAction::Untagged(t.familiar()));
                }
                self.save(&mut m)?;
                return Ok(actions);
            }
            for t in &tags {
                m.tags.remove(&t.to_string());
                actions.push(RemoveAction::Untagged(t.familiar()));
            }
            for rd in &rec.repo_digests {
                if let Ok(r) = Reference::parse(rd) {
                    actions.push(RemoveAction::Untagged(r.familiar()));
                }
            }
            m.images.remove(&rec.id);
            actions.push(RemoveAction::Deleted(rec.id.clone()));
            self.save(&mut m)?;
        }
        self.gc(&HashSet::new())?;
        Ok(actions)
    }

    /// Records `parent` as the image `id` was committed on.
    pub fn set_parent(&self, id: &Digest, parent: &Digest) -> Result<(), ImageError> {
        let mut m = self.lock();
        match m.images.get_mut(id) {
            Some(r) if r.parent.as_ref() != Some(parent) && id != parent => {
                r.parent = Some(parent.clone());
                self.save(&mut m)
            }
            Some(_) => Ok(()),
            None => Err(ImageError::NotFound(id.to_string())),
        }
    }

    /// Removes one tag (`name[:tag]`, `latest` when none is given). Returns it in
    /// familiar form. The image stays, even if that was its last tag.
    pub fn untag(&self, name: &str) -> Result<String, ImageError> {
        let r = Reference::parse(name)?;
        let r = match r.tag() {
            Some(t) => r.with_tag(t)?,
            None => r.with_tag("latest")?,
        };
        let mut m = self.lock();
        if m.tags.remove(&r.to_string()).is_none() {
            return Err(ImageError::NotFound(r.familiar()));
        }
        self.save(&mut m)?;
        Ok(r.familiar())
    }

    /// Images committed on `id` (Docker's child images): while one exists, `id` cannot be
    /// deleted, and an untagged `id` is an intermediate image, not a dangling one.
    pub fn children(&self, id: &Digest) -> Vec<Digest> {
        self.lock()
            .images
            .values()
            .filter(|r| r.parent.as_ref() == Some(id))
            .map(|r| r.id.clone())
            .collect()
    }

    /// Every tag of the repository `name` (canonical `domain/path`) and its image.
    pub fn tags_named(&self, name: &str) -> Vec<(Reference, Digest)> {
        self.lock()
            .tags
            .iter()
            .filter_map(|(k, id)| Reference::parse(k).ok().map(|r| (r, id.clone())))
            .filter(|(r, _)| r.name() == name)
            .collect()
    }

    /// The tags and repo digests an image has (canonical references).
    pub fn references(&self, id: &Digest) -> (Vec<Reference>, Vec<Reference>) {
        let m = self.lock();
        let tags = Self::tags_of(&m, id);
        let digests = m
            .images
            .get(id)
            .map(|r| {
                r.repo_digests
                    .iter()
                    .filter_map(|d| Reference::parse(d).ok())
                    .collect()
            })
            .unwrap_or_default();
        (tags, digests)
    }

    /// Deletes an image outright: its remaining tags and repo digests (each reported
    /// untagged), its record, then whatever blobs and snapshots nothing else needs, keeping
    /// `keep_chains` (what containers sit on); the layers that went are reported after the
    /// image, top first, as dockerd's are. The caller has made the policy decisions.
    pub fn delete(
        &self,
        id: &Digest,
        keep_chains: &HashSet<Digest>,
    ) -> Result<Vec<RemoveAction>, ImageError> {
        let mut actions = Vec::new();
        let rec = self.resolve(&id.to_string())?;
        // An unreadable config only costs the layer lines, not the deletion.
        let mut layers = self
            .manifest_and_config(&rec)
            .map(|(_, cfg)| chain_ids(&cfg.rootfs.diff_ids))
            .unwrap_or_default();
        layers.reverse();
        layers.retain(|c| matches!(self.snapshots.get(c), Ok(Some(_))));
        {
            let mut m = self.lock();
            let Some(rec) = m.images.get(id).cloned() else {
                return Err(ImageError::NotFound(id.to_string()));
            };
            for t in Self::tags_of(&m, id) {
                m.tags.remove(&t.to_string());
                actions.push(RemoveAction::Untagged(t.familiar()));
            }
            for rd in &rec.repo_digests {
                if let Ok(r) = Reference::parse(rd) {
                    actions.push(RemoveAction::Untagged(r.familiar()));
                }
            }
            m.images.remove(id);
            actions.push(RemoveAction::Deleted(id.clone()));
            self.save(&mut m)?;
        }
        self.gc(keep_chains)?;
        for c in layers {
            if self.snapshots.get(&c)?.is_none() {
                actions.push(RemoveAction::DeletedLayer(c));
            }
        }
        Ok(actions)
    }

    /// `docker history`: newest first, sizes from the unpacked layers.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>, ImageError> {
        let rec = {
            let m = self.lock();
            Self::resolve_in(&m, name)?
        };
        let (_, cfg) = self.manifest_and_config(&rec)?;
        let sizes = self.layer_sizes(&cfg)?;
        let mut layer = 0;
        let mut out = Vec::new();
        let history = if cfg.history.is_empty() {
            // Images without history: one row per layer.
            cfg.rootfs
                .diff_ids
                .iter()
                .map(|_| crate::manifest::History::default())
                .collect()
        } else {
            cfg.history.clone()
        };
        for h in &history {
            let size = if h.empty_layer {
                0
            } else {
                let s = sizes.get(layer).copied().unwrap_or(0);
                layer += 1;
                s
            };
            out.push(HistoryEntry {
                id: "<missing>".into(),
                created: h
                    .created
                    .as_deref()
                    .and_then(timefmt::parse_rfc3339)
                    .unwrap_or(0),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        out.reverse();
        // As dockerd: the top row is the image, each next row its parent, while known.
        let m = self.lock();
        let mut cur = Some(rec);
        for row in out.iter_mut() {
            let Some(r) = cur.take() else { break };
            row.id = r.id.to_string();
            row.tags = familiar_sorted(&Self::tags_of(&m, &r.id));
            cur = r.parent.as_ref().and_then(|p| m.images.get(p).cloned());
        }
        Ok(out)
    }

    /// Removes untagged images no container uses. Returns their IDs.
    pub fn prune_dangling(
        &self,
        in_use: &dyn Fn(&Digest) -> bool,
    ) -> Result<Vec<Digest>, ImageError> {
        let removed: Vec<Digest> = {
            let mut m = self.lock();
            let tagged: HashSet<Digest> = m.tags.values().cloned().collect();
            let victims: Vec<Digest> = m
                .images
                .keys()
                .filter(|id| !tagged.contains(*id) && !in_use(id))
                .cloned()
                .collect();
            for v in &victims {
                m.images.remove(v);
            }
            self.save(&mut m)?;
            victims
        };
        self.gc(&HashSet::new())?;
        Ok(removed)
    }

    /// Removes blobs no image references and snapshots no image (nor `keep_chains`, the
    /// chains running containers sit on) needs, plus any debris of interrupted writes.
    /// Skipped (`deferred`) while a pull, load, import or commit is writing: their blobs
    /// and snapshots are not referenced by an image yet.
    pub fn gc(&self, keep_chains: &HashSet<Digest>) -> Result<GcReport, ImageError> {
        let writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        if *writers > 0 {
            tracing::debug!(writers = *writers, "image gc deferred");
            return Ok(GcReport {
                deferred: true,
                ..GcReport::default()
            });
        }
        let recs: Vec<ImageRecord> = self.lock().images.values().cloned().collect();
        let mut live_blobs = HashSet::new();
        let mut live_chains = keep_chains.clone();
        for rec in &recs {
            live_blobs.insert(rec.id.clone());
            live_blobs.insert(rec.manifest.clone());
            live_blobs.extend(rec.extra_blobs.iter().cloned());
            // Indexes keep the manifests they list that we have (other platforms).
            for d in &rec.extra_blobs {
                if let Ok(b) = self.content.read(d)
                    && let Ok(AnyManifest::Index(idx)) = AnyManifest::parse(&b, None, d)
                {
                    live_blobs.extend(idx.manifests.iter().map(|m| m.digest.clone()));
                }
            }
            let (manifest, cfg) = self.manifest_and_config(rec)?;
            live_blobs.extend(manifest.layers.iter().map(|l| l.digest.clone()));
            live_chains.extend(chain_ids(&cfg.rootfs.diff_ids));
        }
        let mut report = GcReport::default();
        for (d, size) in self.content.list()? {
            if !live_blobs.contains(&d) {
                self.content.delete(&d)?;
                report.blobs_removed += 1;
                report.bytes_freed += size;
            }
        }
        let before = self.snapshots.disk_usage()?;
        report.snapshots_removed = self.snapshots.gc(Some(&live_chains))?;
        report.bytes_freed += before.saturating_sub(self.snapshots.disk_usage()?);
        tracing::info!(
            blobs = report.blobs_removed,
            snapshots = report.snapshots_removed,
            bytes = report.bytes_freed,
            "image gc"
        );
        Ok(report)
    }

    pub fn disk_usage(&self) -> Result<DiskUsage, ImageError> {
        let list = self.list()?;
        let content_bytes = self.content.list()?.iter().map(|(_, s)| s).sum();
        let snapshots_bytes = self.snapshots.disk_usage()?;
        let reclaimable = list
            .iter()
            .filter(|i| i.repo_tags.is_empty())
            .map(|i| i.size)
            .sum();
        // Chain → (size, number of images using it).
        let recs: Vec<ImageRecord> = self.lock().images.values().cloned().collect();
        let mut chains_of = Vec::new();
        let mut users: BTreeMap<Digest, (u64, usize)> = BTreeMap::new();
        for rec in &recs {
            let (_, cfg) = self.manifest_and_config(rec)?;
            let chains = chain_ids(&cfg.rootfs.diff_ids);
            for c in &chains {
                let size = self.snapshots.get(c)?.map_or(0, |s| s.size);
                users.entry(c.clone()).or_insert((size, 0)).1 += 1;
            }
            chains_of.push((rec.id.clone(), chains));
        }
        let per_image = chains_of
            .into_iter()
            .map(|(id, chains)| {
                let mut u = ImageUsage {
                    id,
                    size: 0,
                    shared_size: 0,
                    unique_size: 0,
                };
                for c in chains {
                    let (size, n) = users.get(&c).copied().unwrap_or((0, 1));
                    u.size += size;
                    if n > 1 {
                        u.shared_size += size;
                    } else {
                        u.unique_size += size;
                    }
                }
                u
            })
            .collect();
        Ok(DiskUsage {
            images: list.len(),
            images_size: list.iter().map(|i| i.size).sum(),
            layers_size: users.values().map(|(size, _)| size).sum(),
            snapshots_bytes,
            content_bytes,
            reclaimable,
            per_image,
        })
    }
}

/// Tags in familiar form, sorted as dockerd lists them.
fn familiar_sorted(tags: &[Reference]) -> Vec<String> {
    let mut v: Vec<String> = tags.iter().map(Reference::familiar).collect();
    v.sort();
    v
}

fn familiar_digests(rec: &ImageRecord) -> Vec<String> {
    rec.repo_digests
        .iter()
        .map(|s| Reference::parse(s).map_or_else(|_| s.clone(), |r| r.familiar()))
        .collect()
}
