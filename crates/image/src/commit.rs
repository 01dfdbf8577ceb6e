//! Containers ↔ images: preparing a container's root filesystem from an image, and
//! committing a container's upper dir as a new image layer (`docker commit`, and each step
//! of `berth build`).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::archive::{ArchiveError, apply_changes};
use crate::diff::{Change, write_diff};
use crate::digest::Digest;
use crate::images::{ImageError, ImageRecord, ImageStore};
use crate::manifest::{self, History, ImageConfig, RootFs};
use crate::reference::Reference;
use crate::snapshot::OverlayMount;
use crate::timefmt;

/// The directories of a container's writable layer.
#[derive(Debug, Clone)]
pub struct ContainerFs {
    /// Chain ID of the image's top layer (None for an image without layers).
    pub chain_id: Option<Digest>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

impl ContainerFs {
    /// `upper/`, `work/` and `merged/` under `dir` (the container's directory).
    pub fn new(chain_id: Option<Digest>, dir: &Path) -> ContainerFs {
        ContainerFs {
            chain_id,
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
        }
    }
}

/// What to record with a commit.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Dockerfile-style changes (`CMD …`, `ENV …`).
    pub changes: Vec<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// History `created_by` (a build step's instruction).
    pub created_by: Option<String>,
    pub reference: Option<Reference>,
    /// The new image's runtime config before `changes` (`docker commit` records the
    /// container's config); None keeps the parent image's.
    pub config: Option<manifest::ContainerConfig>,
}

impl ImageStore {
    /// Creates the container's directories and mounts its root filesystem at `merged`.
    pub fn mount_container(
        &self,
        image: &str,
        dir: &Path,
    ) -> Result<(ContainerFs, OverlayMount), ImageError> {
        let rec = self.resolve(image)?;
        let fs = ContainerFs::new(self.chain_id(&rec)?, dir);
        for d in [&fs.upper, &fs.work, &fs.merged] {
            std::fs::create_dir_all(d).map_err(|source| ImageError::Meta {
                path: d.clone(),
                source,
            })?;
        }
        let m = self
            .snapshots()
            .mount(fs.chain_id.as_ref(), &fs.upper, &fs.work, &fs.merged)?;
        Ok((fs, m))
    }

    /// Turns the container's changes into a new image on top of `parent` (its image).
    /// The container should be stopped or paused so the upper dir is not changing.
    pub fn commit(
        &self,
        parent: &str,
        container: &ContainerFs,
        opts: &CommitOptions,
    ) -> Result<(ImageRecord, Vec<Change>), ArchiveError> {
        let _writing = self.writing();
        let prec = self.resolve(parent)?;
        let (pman, pcfg) = self.manifest_and_config(&prec)?;
        let lowers = match &container.chain_id {
            Some(c) => self.snapshots().lower_dirs(c)?,
            None => Vec::new(),
        };
        // Stream the diff through gzip into a blob; the uncompressed bytes give the diffID.
        let blob = self.content().writer(None, None)?;
        let hashing = HashingWriter {
            inner: flate2::write::GzEncoder::new(blob, flate2::Compression::fast()),
            hasher: crate::digest::Hasher::new(),
        };
        let (changes, hashing) = write_diff(&lowers, &container.upper, hashing)?;
        let diff_id = hashing.hasher.finish();
        // As dockerd: a commit that changed nothing (its diff is the empty tar) adds no
        // layer, only a history entry marked as an empty layer.
        let empty_layer = diff_id == Digest::of(&[0u8; 1024]);
        let layer = if empty_layer {
            None
        } else {
            let blob = hashing.inner.finish().map_err(|source| ArchiveError::Io {
                what: "compress layer".into(),
                source,
            })?;
            let layer = blob.commit()?;
            let f = self.content().open_blob(&layer)?;
            let opts_unpack = crate::unpack::UnpackOptions {
                expected_diff_id: Some(diff_id.clone()),
                ..Default::default()
            };
            self.snapshots().apply(
                container.chain_id.as_ref(),
                &diff_id,
                std::io::BufReader::new(f),
                &opts_unpack,
            )?;
            Some(layer)
        };

        let now = timefmt::now_rfc3339_nanos();
        let mut cc = opts
            .config
            .clone()
            .or_else(|| pcfg.config.clone())
            .unwrap_or_default();
        apply_changes(&mut cc, &opts.changes)?;
        let mut diff_ids = pcfg.rootfs.diff_ids.clone();
        if layer.is_some() {
            diff_ids.push(diff_id);
        }
        let mut history = pcfg.history.clone();
        history.push(History {
            created: Some(now.clone()),
            created_by: opts.created_by.clone(),
            author: opts.author.clone(),
            comment: opts.comment.clone(),
            empty_layer,
        });
        let cfg = ImageConfig {
            created: Some(now),
            author: opts.author.clone().or(pcfg.author.clone()),
            config: Some(cc),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids,
            },
            history,
            ..pcfg.clone()
        };
        let mut layers = pman.layers.clone();
        if let Some(layer) = layer {
            layers.push(manifest::Descriptor {
                media_type: manifest::OCI_LAYER_GZIP.into(),
                size: self.content().size(&layer)?,
                digest: layer,
                platform: None,
                urls: Vec::new(),
                annotations: Default::default(),
            });
        }
        let rec = self.write_image(&cfg, layers, opts.reference.as_ref(), Some(&prec.id))?;
        tracing::info!(image = %rec.id, parent = %prec.id, changes = changes.len(), "committed");
        Ok((rec, changes))
    }

    /// A new image with `parent`'s layers (none when `parent` is None: `FROM scratch`) and
    /// `config` as its runtime config: a build step that changes only metadata (`ENV`,
    /// `CMD`, ...) or gives a scratch build its first image. History records the step as an
    /// empty layer, as Docker's builder does (no entry when `created_by` is None).
    /// `author` (a `MAINTAINER`) replaces the parent's `Author` when given.
    pub fn derive(
        &self,
        parent: Option<&str>,
        config: manifest::ContainerConfig,
        created_by: Option<&str>,
        author: Option<&str>,
    ) -> Result<ImageRecord, ArchiveError> {
        let _writing = self.writing();
        let (prec, layers, pcfg) = match parent {
            Some(p) => {
                let prec = self.resolve(p)?;
                let (pman, pcfg) = self.manifest_and_config(&prec)?;
                (Some(prec), pman.layers, pcfg)
            }
            None => {
                let host = manifest::Platform::host();
                let cfg = ImageConfig {
                    architecture: host.architecture,
                    os: host.os,
                    variant: host.variant,
                    rootfs: RootFs {
                        kind: "layers".into(),
                        diff_ids: Vec::new(),
                    },
                    ..Default::default()
                };
                (None, Vec::new(), cfg)
            }
        };
        let now = timefmt::now_rfc3339_nanos();
        let mut history = pcfg.history.clone();
        if let Some(by) = created_by {
            history.push(History {
                created: Some(now.clone()),
                created_by: Some(by.to_owned()),
                empty_layer: true,
                ..Default::default()
            });
        }
        let cfg = ImageConfig {
            created: Some(now),
            config: Some(config),
            history,
            author: author.map(str::to_owned).or(pcfg.author.clone()),
            ..pcfg
        };
        let parent_id = prec.as_ref().map(|p| p.id.clone());
        self.write_image(&cfg, layers, None, parent_id.as_ref())
    }

    /// Stores `cfg` and a manifest of `layers` (already in the store), records the image
    /// (tagged `reference` if given) and its parent.
    fn write_image(
        &self,
        cfg: &ImageConfig,
        layers: Vec<manifest::Descriptor>,
        reference: Option<&Reference>,
        parent: Option<&Digest>,
    ) -> Result<ImageRecord, ArchiveError> {
        let cfg_bytes =
            serde_json::to_vec(cfg).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
        let cfg_d = self.content().put(&cfg_bytes)?;
        let m = manifest::Manifest {
            schema_version: 2,
            media_type: Some(manifest::OCI_MANIFEST.into()),
            config: manifest::Descriptor {
                media_type: manifest::OCI_CONFIG.into(),
                digest: cfg_d.clone(),
                size: cfg_bytes.len() as u64,
                platform: None,
                urls: Vec::new(),
                annotations: Default::default(),
            },
            layers,
            annotations: Default::default(),
        };
        let mbytes = serde_json::to_vec(&m).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
        let md = self.content().put(&mbytes)?;
        let rec = self.record(&md, &cfg_d, reference, None)?;
        if let Some(p) = parent
            && *p != rec.id
        {
            self.set_parent(&rec.id, p)?;
        }
        Ok(rec)
    }
}

/// Hashes what is written (the uncompressed layer) on its way to the compressor.
struct HashingWriter<W> {
    inner: W,
    hasher: crate::digest::Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
