//! Image archives: `docker save` / `docker load` (the docker-archive format, which since
//! Docker 25 is also an OCI image layout: `manifest.json`, `repositories`, `index.json`,
//! `oci-layout`, `blobs/sha256/…`), `docker import` of a rootfs tarball, and export of a
//! filesystem (image or container) as one flat tar.
//!
//! Archive entries are never extracted by their names: blobs go into the content store
//! (verified against the digest their name claims), the few JSON documents are read into
//! memory, and legacy `<id>/layer.tar` files are stored by their computed digest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::images::{ImageError, ImageRecord, ImageStore};
use crate::manifest::{
    self, AnyManifest, ContainerConfig, History, ImageConfig, ManifestError, Platform, RootFs,
};
use crate::reference::Reference;
use crate::snapshot::{SnapshotError, mount_overlay};
use crate::store::StoreError;
use crate::timefmt;
use crate::unpack::{Compression, UnpackOptions};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("archive I/O ({what}): {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("archive is invalid: {0}")]
    Invalid(String),
    /// A change refused in dockerd's own words.
    #[error("{0}")]
    ChangeArgs(String),
    #[error("invalid change {change:?}: {reason}")]
    Change { change: String, reason: String },
    /// An instruction `--change` does not take, in dockerd's words.
    #[error("{0} is not a valid change command")]
    UnknownChange(String),
    /// An `EXPOSE` change whose port is not a number or range, in dockerd's words.
    #[error("Invalid containerPort: {0}")]
    InvalidPort(String),
    #[error("Invalid proto: {0}")]
    InvalidProto(String),
    #[error(transparent)]
    Diff(#[from] crate::diff::DiffError),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
    let what = what.into();
    move |source| ArchiveError::Io { what, source }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn append_file<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    data: impl Read,
    size: u64,
) -> Result<(), ArchiveError> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    b.append_data(&mut h, path, data).map_err(io_err(path))
}

fn append_dir<W: Write>(b: &mut tar::Builder<W>, path: &str) -> Result<(), ArchiveError> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(0);
    b.append_data(&mut h, path, io::empty())
        .map_err(io_err(path))
}

/// `docker save`: writes the named images (tags, IDs or digests) to `out`.
pub fn save<W: Write>(store: &ImageStore, names: &[&str], out: W) -> Result<W, ArchiveError> {
    let mut b = tar::Builder::new(out);
    append_dir(&mut b, "blobs/")?;
    append_dir(&mut b, "blobs/sha256/")?;
    let mut written = HashSet::new();
    let mut entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut index = Vec::new();
    // Each image once, in the order first named, with every tag any name asked for (as
    // dockerd: `save x x:latest` or three IDs of one image write one entry).
    let mut images: Vec<(ImageRecord, Vec<Reference>)> = Vec::new();
    for name in names {
        // A repository name without tag saves every tag that repository has (`latest`
        // need not be one of them), as dockerd does.
        let last = name.rsplit('/').next().unwrap_or(name);
        let repo_tags = match Reference::parse(name) {
            Ok(r) if r.digest().is_none() && !last.contains(':') => store.tags_named(&r.name()),
            _ => Vec::new(),
        };
        let mut picked: Vec<(ImageRecord, Reference)> = Vec::new();
        for (t, id) in repo_tags {
            picked.push((store.resolve(&id.to_string())?, t));
        }
        let rec = match picked.first() {
            Some((rec, _)) => rec.clone(),
            None => store.resolve(name)?,
        };
        // A tag given by name is kept; an ID saves the image untagged, as Docker does.
        if picked.is_empty()
            && let Ok(r) = Reference::parse(name)
            && r.digest().is_none()
            && !rec.id.hex().starts_with(name)
            && store.resolve(&r.to_string()).is_ok_and(|t| t.id == rec.id)
        {
            picked.push((rec.clone(), r));
        }
        if picked.is_empty() {
            if !images.iter().any(|(i, _)| i.id == rec.id) {
                images.push((rec, Vec::new()));
            }
            continue;
        }
        for (rec, t) in picked {
            match images.iter_mut().find(|(i, _)| i.id == rec.id) {
                Some((_, tags)) => {
                    if !tags.contains(&t) {
                        tags.push(t)
                    }
                }
                None => images.push((rec, vec![t])),
            }
        }
    }
    for (rec, tags) in &images {
        let (m, _) = store.manifest_and_config(rec)?;
        let mut blobs = vec![rec.manifest.clone(), rec.id.clone()];
        blobs.extend(m.layers.iter().map(|l| l.digest.clone()));
        for d in &blobs {
            if written.insert(d.clone()) {
                let size = store.content().size(d)?;
                let f = store.content().open_blob(d)?;
                append_file(&mut b, &format!("blobs/sha256/{}", d.hex()), f, size)?;
            }
        }
        let layers: Vec<String> = m
            .layers
            .iter()
            .map(|l| format!("blobs/sha256/{}", l.digest.hex()))
            .collect();
        let top = m
            .layers
            .last()
            .map(|l| l.digest.hex().to_owned())
            .unwrap_or_default();
        let desc = |annotations: BTreeMap<String, String>| -> Result<_, ArchiveError> {
            Ok(serde_json::json!({
                "mediaType": m.media_type.clone().unwrap_or_else(|| manifest::OCI_MANIFEST.to_owned()),
                "digest": rec.manifest,
                "size": store.content().size(&rec.manifest)?,
                "annotations": annotations,
            }))
        };
        for t in tags {
            repositories
                .entry(t.familiar_name())
                .or_default()
                .insert(t.tag().unwrap_or("latest").to_owned(), top.clone());
            let mut annotations = BTreeMap::new();
            annotations.insert("io.containerd.image.name".to_owned(), t.to_string());
            annotations.insert(
                "org.opencontainers.image.ref.name".to_owned(),
                t.tag().unwrap_or("latest").to_owned(),
            );
            index.push(desc(annotations)?);
        }
        if tags.is_empty() {
            index.push(desc(BTreeMap::new())?);
        }
        entries.push(ManifestEntry {
            config: format!("blobs/sha256/{}", rec.id.hex()),
            repo_tags: (!tags.is_empty()).then(|| tags.iter().map(|t| t.familiar()).collect()),
            layers,
        });
    }
    let docs = [
        (
            "index.json",
            serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": manifest::OCI_INDEX, "manifests": index})),
        ),
        ("manifest.json", serde_json::to_vec(&entries)),
        (
            "oci-layout",
            serde_json::to_vec(&serde_json::json!({"imageLayoutVersion": "1.0.0"})),
        ),
        ("repositories", serde_json::to_vec(&repositories)),
    ];
    for (path, data) in docs {
        let data = data.map_err(|e| ArchiveError::Invalid(e.to_string()))?;
        append_file(&mut b, path, &data[..], data.len() as u64)?;
    }
    b.into_inner().map_err(io_err("finish archive"))
}

/// An image `load` brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub id: Digest,
    pub tags: Vec<String>,
}

/// Cap for the JSON documents of an archive, read into memory.
const MAX_DOC: u64 = 16 << 20;

/// `docker load`: reads a docker-archive or OCI layout tar (optionally compressed).
pub fn load<R: Read>(store: &ImageStore, input: R) -> Result<Vec<Loaded>, ArchiveError> {
    let _writing = store.writing();
    let mut input = io::BufReader::new(input);
    let magic = io::BufRead::fill_buf(&mut input).map_err(io_err("read archive"))?;
    let reader: Box<dyn Read> = match Compression::detect(magic) {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(io_err("zstd"))?)
        }
    };
    let mut ar = tar::Archive::new(reader);
    let mut docs: HashMap<String, Vec<u8>> = HashMap::new();
    let mut files: HashMap<String, Digest> = HashMap::new();
    let mut links: Vec<(String, String)> = Vec::new();
    for entry in ar.entries().map_err(io_err("read archive"))? {
        let mut e = entry.map_err(io_err("read archive entry"))?;
        let path = String::from_utf8_lossy(&e.path_bytes())
            .trim_start_matches("./")
            .to_owned();
        match e.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Symlink | tar::EntryType::Link => {
                if let Some(t) = e.link_name_bytes() {
                    let t = String::from_utf8_lossy(&t).into_owned();
                    let target = if e.header().entry_type() == tar::EntryType::Symlink {
                        resolve_rel(&path, &t)
                    } else {
                        t.trim_start_matches("./").to_owned()
                    };
                    links.push((path, target));
                }
                continue;
            }
            _ => continue,
        }
        let size = e.size();
        if matches!(
            path.as_str(),
            "manifest.json" | "index.json" | "repositories" | "oci-layout"
        ) {
            if size > MAX_DOC {
                return Err(ArchiveError::Invalid(format!("{path} is too large")));
            }
            let mut buf = Vec::new();
            e.read_to_end(&mut buf).map_err(io_err(path.clone()))?;
            docs.insert(path, buf);
            continue;
        }
        let expected = path
            .strip_prefix("blobs/sha256/")
            .and_then(|h| Digest::from_hex(h).ok());
        let mut w = store.content().writer(expected, Some(size))?;
        io::copy(&mut e, &mut w).map_err(io_err(path.clone()))?;
        let d = w.commit()?;
        files.insert(path, d);
    }
    for (path, target) in links {
        if let Some(d) = files.get(&target).cloned() {
            files.insert(path, d);
        }
    }
    let get = |p: &str| -> Result<Digest, ArchiveError> {
        files
            .get(p.trim_start_matches("./"))
            .cloned()
            .ok_or_else(|| {
                ArchiveError::Invalid(format!("{p} is referenced but not in the archive"))
            })
    };
    let mut loaded = Vec::new();
    if let Some(m) = docs.get("manifest.json") {
        let entries: Vec<ManifestEntry> = serde_json::from_slice(m)
            .map_err(|e| ArchiveError::Invalid(format!("manifest.json: {e}")))?;
        let oci_manifests = oci_manifests(store, docs.get("index.json"))?;
        for ent in entries {
            let cfg = get(&ent.config)?;
            let layers = ent
                .layers
                .iter()
                .map(|l| get(l))
                .collect::<Result<Vec<_>, _>>()?;
            let manifest = match oci_manifests.get(&cfg) {
                Some(d) => d.clone(),
                None => synthesize_manifest(store, &cfg, &layers)?,
            };
            let tags = ent.repo_tags.unwrap_or_default();
            loaded.push(finish_load(store, &manifest, &cfg, &tags)?);
        }
    } else if docs.contains_key("index.json") {
        let idx_bytes = &docs["index.json"];
        let idx: manifest::Index = serde_json::from_slice(idx_bytes)
            .map_err(|e| ArchiveError::Invalid(format!("index.json: {e}")))?;
        for desc in &idx.manifests {
            let mut d = desc.digest.clone();
            let bytes = store.content().read(&d)?;
            if let AnyManifest::Index(inner) = AnyManifest::parse(&bytes, None, &d)? {
                d = inner.select(&Platform::host(), &d)?.digest.clone();
            }
            let bytes = store.content().read(&d)?;
            let AnyManifest::Image(m) = AnyManifest::parse(&bytes, None, &d)? else {
                return Err(ArchiveError::Invalid(format!(
                    "{d} is not an image manifest"
                )));
            };
            let tags: Vec<String> = desc
                .annotations
                .get("io.containerd.image.name")
                .or_else(|| desc.annotations.get("org.opencontainers.image.ref.name"))
                .filter(|n| Reference::parse(n).is_ok())
                .cloned()
                .into_iter()
                .collect();
            loaded.push(finish_load(store, &d, &m.config.digest, &tags)?);
        }
    } else {
        return Err(ArchiveError::Invalid(
            "neither manifest.json nor index.json found".into(),
        ));
    }
    Ok(loaded)
}

/// Config digest → manifest digest for the image manifests an OCI index.json lists.
fn oci_manifests(
    store: &ImageStore,
    index: Option<&Vec<u8>>,
) -> Result<HashMap<Digest, Digest>, ArchiveError> {
    let mut out = HashMap::new();
    let Some(index) = index else { return Ok(out) };
    let Ok(idx) = serde_json::from_slice::<manifest::Index>(index) else {
        return Ok(out);
    };
    for desc in idx.manifests {
        if let Ok(b) = store.content().read(&desc.digest)
            && let Ok(AnyManifest::Image(m)) = AnyManifest::parse(&b, None, &desc.digest)
        {
            out.insert(m.config.digest, desc.digest);
        }
    }
    Ok(out)
}

fn resolve_rel(from: &str, target: &str) -> String {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn media_type_for(store: &ImageStore, blob: &Digest) -> Result<&'static str, ArchiveError> {
    let mut f = store.content().open_blob(blob)?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(io_err("read layer"))?;
    Ok(match Compression::detect(&magic[..n]) {
        Compression::Gzip => manifest::OCI_LAYER_GZIP,
        Compression::Zstd => manifest::OCI_LAYER_ZSTD,
        Compression::None => manifest::OCI_LAYER,
    })
}

/// Writes an OCI manifest for a config and layer blobs already in the store.
fn synthesize_manifest(
    store: &ImageStore,
    config: &Digest,
    layers: &[Digest],
) -> Result<Digest, ArchiveError> {
    let mut descs = Vec::new();
    for l in layers {
        descs.push(serde_json::json!({
            "mediaType": media_type_for(store, l)?,
            "digest": l,
            "size": store.content().size(l)?,
        }));
    }
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": manifest::OCI_CONFIG, "digest": config, "size": store.content().size(config)?},
        "layers": descs,
    });
    let bytes = serde_json::to_vec(&m).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
    Ok(store.content().put(&bytes)?)
}

/// Unpacks the image's layers (verifying diffIDs) and records it with its tags.
fn finish_load(
    store: &ImageStore,
    manifest: &Digest,
    config: &Digest,
    tags: &[String],
) -> Result<Loaded, ArchiveError> {
    let cfg = ImageConfig::parse(&store.content().read(config)?, config)?;
    let bytes = store.content().read(manifest)?;
    let AnyManifest::Image(m) = AnyManifest::parse(&bytes, None, manifest)? else {
        return Err(ArchiveError::Invalid(format!(
            "{manifest} is not an image manifest"
        )));
    };
    if m.layers.len() != cfg.rootfs.diff_ids.len() {
        return Err(ArchiveError::Invalid(format!(
            "image {config}: {} layers but {} diff IDs",
            m.layers.len(),
            cfg.rootfs.diff_ids.len()
        )));
    }
    let mut parent: Option<Digest> = None;
    for (l, diff_id) in m.layers.iter().zip(&cfg.rootfs.diff_ids) {
        let f = store.content().open_blob(&l.digest)?;
        let r = io::BufReader::with_capacity(256 * 1024, f);
        let opts = UnpackOptions {
            expected_digest: Some(l.digest.clone()),
            ..Default::default()
        };
        let (info, _) = store
            .snapshots()
            .apply(parent.as_ref(), diff_id, r, &opts)?;
        parent = Some(info.chain_id);
    }
    let mut out_tags = Vec::new();
    for t in tags {
        let r = Reference::parse(t).map_err(ImageError::from)?;
        store.record(manifest, config, Some(&r), None)?;
        out_tags.push(r.familiar());
    }
    if tags.is_empty() {
        store.record(manifest, config, None, None)?;
    }
    Ok(Loaded {
        id: config.clone(),
        tags: out_tags,
    })
}

/// Applies Dockerfile-style `--change` instructions to a config.
pub fn apply_changes(cfg: &mut ContainerConfig, changes: &[String]) -> Result<(), ArchiveError> {
    // Whether a CMD came before: an ENTRYPOINT drops the command otherwise (dockerd).
    let mut cmd_set = false;
    for ch in changes {
        let bad = |reason: &str| ArchiveError::Change {
            change: ch.clone(),
            reason: reason.to_owned(),
        };
        let Some((instr, rest)) = ch.trim().split_once(char::is_whitespace) else {
            let instr = ch.trim().to_ascii_uppercase();
            return Err(match instr.as_str() {
                "ENV" | "LABEL" | "EXPOSE" | "VOLUME" | "ONBUILD" | "HEALTHCHECK" => {
                    ArchiveError::ChangeArgs(format!("{instr} requires at least one argument"))
                }
                // dockerd: a bare CMD is the shell alone; a bare ENTRYPOINT is none, and
                // commit then keeps the container's entrypoint and command.
                "CMD" => {
                    cfg.cmd = Some(vec!["/bin/sh".into(), "-c".into()]);
                    cmd_set = true;
                    continue;
                }
                "ENTRYPOINT" => continue,
                "WORKDIR" | "USER" | "STOPSIGNAL" => {
                    ArchiveError::ChangeArgs(format!("{instr} requires exactly one argument"))
                }
                _ => ArchiveError::UnknownChange(instr.to_ascii_lowercase()),
            });
        };
        let rest = rest.trim();
        let list = || -> Result<Vec<String>, ArchiveError> {
            if rest.starts_with('[') {
                serde_json::from_str(rest).map_err(|e| bad(&format!("bad JSON array: {e}")))
            } else {
                Ok(vec!["/bin/sh".into(), "-c".into(), rest.to_owned()])
            }
        };
        let pairs = || -> Result<Vec<(String, String)>, ArchiveError> {
            if !rest.contains('=') {
                let (k, v) = rest
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| bad("want KEY VALUE or KEY=VALUE"))?;
                return Ok(vec![(k.to_owned(), v.trim().to_owned())]);
            }
            rest.split_whitespace()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').ok_or_else(|| bad("want KEY=VALUE"))?;
                    Ok((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect()
        };
        match instr.to_ascii_uppercase().as_str() {
            // An empty exec form leaves the container's command (commit merges it back).
            "CMD" => {
                let cmd = list()?;
                if !cmd.is_empty() {
                    cfg.cmd = Some(cmd);
                }
                cmd_set = true;
            }
            // An empty exec form clears the entrypoint; one that is not drops the command
            // unless a CMD change came before it.
            "ENTRYPOINT" => {
                let ep = list()?;
                if ep.is_empty() {
                    cfg.entrypoint = None;
                } else {
                    cfg.entrypoint = Some(ep);
                    if !cmd_set {
                        cfg.cmd = None;
                    }
                }
            }
            // dockerd makes a relative WORKDIR absolute (against the one before, or `/`).
            "WORKDIR" => {
                let base = cfg.working_dir.clone().unwrap_or_default();
                let joined = if rest.starts_with('/') {
                    rest.to_owned()
                } else {
                    format!("{}/{rest}", base.trim_end_matches('/'))
                };
                cfg.working_dir = Some(berth_build::builder::clean_abs(&joined));
            }
            // The trigger is kept as given, as dockerd's commit keeps it.
            "ONBUILD" => cfg
                .on_build
                .get_or_insert_with(Vec::new)
                .push(rest.to_owned()),
            "HEALTHCHECK" => {
                cfg.healthcheck = Some(healthcheck_change(rest).map_err(ArchiveError::ChangeArgs)?)
            }
            "USER" => cfg.user = Some(rest.to_owned()),
            "STOPSIGNAL" => cfg.stop_signal = Some(rest.to_owned()),
            "ENV" => {
                let env = cfg.env.get_or_insert_with(Vec::new);
                for (k, v) in pairs()? {
                    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != k);
                    env.push(format!("{k}={v}"));
                }
            }
            "LABEL" => {
                let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in pairs()? {
                    labels.insert(k, v);
                }
            }
            "EXPOSE" => {
                let ports = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in rest.split_whitespace() {
                    let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                    if !matches!(proto, "tcp" | "udp" | "sctp") {
                        return Err(ArchiveError::InvalidProto(proto.to_owned()));
                    }
                    let (lo, hi) = port.split_once('-').unwrap_or((port, port));
                    if lo.parse::<u16>().is_err() || hi.parse::<u16>().is_err() {
                        return Err(ArchiveError::InvalidPort(port.to_owned()));
                    }
                    let p = if p.contains('/') {
                        p.to_owned()
                    } else {
                        format!("{p}/tcp")
                    };
                    ports.insert(p, serde_json::json!({}));
                }
            }
            "VOLUME" => {
                let vols = cfg.volumes.get_or_insert_with(BTreeMap::new);
                let paths: Vec<String> = if rest.starts_with('[') {
                    serde_json::from_str(rest).map_err(|e| bad(&format!("bad JSON array: {e}")))?
                } else {
                    rest.split_whitespace().map(str::to_owned).collect()
                };
                for p in paths {
                    vols.insert(p, serde_json::json!({}));
                }
            }
            _ => return Err(ArchiveError::UnknownChange(instr.to_ascii_lowercase())),
        }
    }
    Ok(())
}

/// A `HEALTHCHECK` change (`NONE`, or `[--interval=D --timeout=D --start-period=D
/// --start-interval=D --retries=N] CMD ...`) as the image config's `Healthcheck`, checked
/// as dockerd's Dockerfile parser checks it (`berth_build::healthcheck`).
fn healthcheck_change(rest: &str) -> Result<serde_json::Value, String> {
    let mut flags = Vec::new();
    let mut rest = rest.trim();
    while let Some(flag) = rest.strip_prefix("--") {
        let (f, r) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
        rest = r.trim_start();
        let (k, v) = f
            .split_once('=')
            .ok_or(format!("missing value for --{f}"))?;
        flags.push((k, v));
    }
    let (kind, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim();
    let test = match kind.to_ascii_uppercase().as_str() {
        "NONE" if !args.is_empty() => return Err("HEALTHCHECK NONE takes no arguments".into()),
        "NONE" => None,
        "CMD" if args.starts_with('[') => {
            let v: Vec<String> =
                serde_json::from_str(args).map_err(|e| format!("bad JSON array: {e}"))?;
            Some(std::iter::once("CMD".to_owned()).chain(v).collect())
        }
        "CMD" if args.is_empty() => Some(vec!["CMD".to_owned()]),
        "CMD" => Some(vec!["CMD-SHELL".into(), args.to_owned()]),
        other => {
            // (dockerd reads the flags before the type)
            berth_build::healthcheck::check_flags(&flags)?;
            return Err(format!("Unknown type \"{other}\" in HEALTHCHECK (try CMD)"));
        }
    };
    berth_build::healthcheck::config(&flags, test)
}

/// `docker import`: a rootfs tarball (plain, gzip or zstd) becomes a one-layer image.
pub fn import<R: Read>(
    store: &ImageStore,
    input: R,
    changes: &[String],
    reference: Option<&Reference>,
    message: Option<&str>,
) -> Result<ImageRecord, ArchiveError> {
    import_for(store, input, changes, reference, message, None)
}

/// [`import`] recording `platform` (`--platform`; the host's when None) as the image's.
pub fn import_for<R: Read>(
    store: &ImageStore,
    input: R,
    changes: &[String],
    reference: Option<&Reference>,
    message: Option<&str>,
    platform: Option<&Platform>,
) -> Result<ImageRecord, ArchiveError> {
    let _writing = store.writing();
    // Keep the tarball as the layer blob, exactly as given.
    let mut input = input;
    let mut w = store.content().writer(None, None)?;
    io::copy(&mut input, &mut w).map_err(io_err("read import"))?;
    let layer = w.commit()?;
    let f = store.content().open_blob(&layer)?;
    let (info, stats) = store.snapshots().apply_new(
        None,
        io::BufReader::with_capacity(256 * 1024, f),
        &UnpackOptions::default(),
    )?;
    let mut cc = ContainerConfig::default();
    apply_changes(&mut cc, changes)?;
    // To the nanosecond as dockerd: two imports of one tarball are two images.
    let now = timefmt::now_rfc3339_nanos();
    let host = platform.cloned().unwrap_or_else(Platform::host);
    let cfg = ImageConfig {
        created: Some(now.clone()),
        architecture: host.architecture,
        os: host.os,
        variant: host.variant,
        config: Some(cc),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![info.diff_id.clone()],
        },
        history: vec![History {
            created: Some(now),
            // No command made it (dockerd leaves it out too).
            comment: Some(message.unwrap_or("Imported from -").to_owned()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let cfg_bytes = serde_json::to_vec(&cfg).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
    let cfg_d = store.content().put(&cfg_bytes)?;
    let manifest = synthesize_manifest(store, &cfg_d, &[layer])?;
    tracing::info!(image = %cfg_d, diff_id = %stats.diff_id, "imported");
    Ok(store.record(&manifest, &cfg_d, reference, None)?)
}

/// Exports a filesystem as one flat tar: the overlay of `chain` (an image's top chain) and,
/// for a container, its `upper` dir on top. `scratch` is an empty directory used as the
/// temporary read-only mount point.
pub fn export<W: Write>(
    store: &ImageStore,
    chain: Option<&Digest>,
    upper: Option<&Path>,
    scratch: &Path,
    out: W,
) -> Result<W, ArchiveError> {
    let mut lowers = Vec::new();
    if let Some(u) = upper {
        lowers.push(u.to_owned());
    }
    if let Some(c) = chain {
        lowers.extend(store.snapshots().lower_dirs(c)?);
    }
    export_dirs(&lowers, scratch, out)
}

/// Exports the overlay of `layers` (directories, top-most first) as one flat tar.
/// `scratch` is an empty directory used as the temporary read-only mount point.
pub fn export_dirs<W: Write>(
    layers: &[std::path::PathBuf],
    scratch: &Path,
    out: W,
) -> Result<W, ArchiveError> {
    if layers.is_empty() {
        return Err(ArchiveError::Invalid("nothing to export".into()));
    }
    let m = mount_overlay(layers, None, scratch)?;
    let (_, out) = crate::diff::write_diff(&[], scratch, out)?;
    m.unmount()?;
    Ok(out)
}
