//! `POST /build`: berth-build's classic builder run over this engine. Each `RUN` is a
//! container made, started and committed like any other; `COPY`/`ADD` extract a tar through
//! the archive code (`PUT /containers/{id}/archive`'s safe extractor); config-only steps are
//! derived images. The build cache maps a step's key to the image it made
//! (`<data-root>/build-cache.json`), checked against the image store on use.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_build::BuildError;
use berth_build::builder::{self, Backend, Base, Options, RunSpec};
use berth_build::config::Config as BuildConfig;
use berth_image::commit::{CommitOptions, ContainerFs};
use berth_image::digest::Digest;
use berth_image::manifest::ContainerConfig;
use berth_image::pull::{ProgressSink, PullOptions};
use berth_image::reference::Reference;
use berth_image::registry::RegistryClient;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::Engine;
use crate::archive::{ChanWriter, ExtractOptions};
use crate::error::EngineError;
use crate::lifecycle::WaitCondition;
use crate::logs::LogOptions;
use crate::types::{Config, CreateRequest, HostConfig};

/// Where build messages go: each is one JSON message of the response stream.
pub type Sink = Arc<dyn Fn(Value) + Send + Sync>;

/// A build as the API hands it over.
pub struct BuildRequest {
    /// The context tarball (plain, gzip or zstd), removed when the build ends.
    pub context_tar: PathBuf,
    /// The Dockerfile's path inside the context (`dockerfile`, default `Dockerfile`).
    pub dockerfile: String,
    pub options: Options,
    /// `networkmode` for RUN containers (`default`: the default bridge).
    pub network_mode: String,
    /// `extrahosts`, `shmsize` and the resource limits for RUN containers.
    pub host_config: HostConfig,
    pub client: RegistryClient,
    /// Pull progress lines for `FROM` images that are pulled.
    pub progress: Option<ProgressSink>,
}

/// Why a build failed: the message the client prints, and the exit code it exits with
/// (a failed `RUN`'s own code, else 1).
#[derive(Debug)]
pub struct BuildFailed {
    pub message: String,
    pub code: i64,
}

impl From<EngineError> for BuildFailed {
    fn from(e: EngineError) -> BuildFailed {
        BuildFailed {
            message: e.to_string(),
            code: 1,
        }
    }
}

impl Engine {
    /// Runs a build to its end on a blocking thread; every message goes to `out`. Returns
    /// the image ID.
    pub async fn build(
        self: &Arc<Self>,
        req: BuildRequest,
        out: Sink,
    ) -> Result<String, BuildFailed> {
        let e = self.clone();
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let scratch = e
                .cfg
                .data_root
                .join("tmp")
                .join(format!("build-{}", crate::ids::random_hex(8)));
            let res = e.build_blocking(rt, &req, &scratch, out);
            let _ = std::fs::remove_file(&req.context_tar);
            let _ = std::fs::remove_dir_all(&scratch);
            res
        })
        .await
        .map_err(|err| EngineError::internal("build", err))?
    }

    fn build_blocking(
        self: &Arc<Self>,
        rt: tokio::runtime::Handle,
        req: &BuildRequest,
        scratch: &Path,
        out: Sink,
    ) -> Result<String, BuildFailed> {
        let ctx = scratch.join("context");
        std::fs::create_dir_all(&ctx).map_err(|err| EngineError::internal("build dir", err))?;
        let f = std::fs::File::open(&req.context_tar)
            .map_err(|err| EngineError::internal("build context", err))?;
        let mut r = std::io::BufReader::new(f);
        let compressed = {
            use std::io::BufRead as _;
            let head = r.fill_buf().unwrap_or_default();
            head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        };
        // The docker CLI sends a context with a Dockerfile from stdin (`-f -`) without its
        // last padding and end blocks, and dockerd's reader takes that: a plain tar is
        // completed with zeros here, as if it had them.
        let input: Box<dyn Read> = if compressed {
            Box::new(r)
        } else {
            Box::new(PadTar {
                inner: r,
                n: 0,
                tail: None,
            })
        };
        berth_image::unpack::apply_layer(
            input,
            &ctx,
            &berth_image::unpack::UnpackOptions::default(),
        )
        .map_err(|err| {
            EngineError::InvalidArgument(format!("failed to read the build context: {err}"))
        })?;
        let name = if req.dockerfile.is_empty() {
            "Dockerfile"
        } else {
            req.dockerfile.as_str()
        };
        let text = read_in(&ctx, name).ok_or_else(|| {
            EngineError::InvalidArgument(format!("Cannot locate specified Dockerfile: {name}"))
        })?;
        if text.is_empty() {
            return Err(EngineError::InvalidArgument(format!(
                "the Dockerfile ({name}) cannot be empty"
            ))
            .into());
        }
        remove_ignored_build_files(&ctx, name);
        let mut opts = req.options.clone();
        opts.context = ctx;
        opts.dockerfile_name = name.to_owned();
        let mut be = EngineBackend {
            e: self.clone(),
            rt,
            out,
            req,
            scratch: scratch.to_owned(),
            n: 0,
            author: None,
        };
        builder::build(&mut be, &text, opts).map_err(|err| BuildFailed {
            code: match &err {
                BuildError::Run { code, .. } => *code,
                _ => 1,
            },
            message: err.to_string(),
        })
    }
}

impl Engine {
    /// Forgets every build cache record; returns their keys.
    pub fn build_cache_clear(&self) -> Vec<String> {
        let _l = CACHE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.cfg.data_root.join(CACHE_FILE);
        let keys = read_cache(&path).into_keys().collect();
        let _ = std::fs::remove_file(&path);
        keys
    }
}

const CACHE_FILE: &str = "build-cache.json";

fn read_cache(path: &Path) -> HashMap<String, String> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// dockerd's step once the Dockerfile is read: the `.dockerignore` and the Dockerfile
/// leave the context when the `.dockerignore` excludes them, so no COPY takes them (the
/// docker CLI lists a `-f -` Dockerfile's made-up name there for this).
fn remove_ignored_build_files(ctx: &Path, dockerfile: &str) {
    let Some(text) = read_in(ctx, ".dockerignore") else {
        return;
    };
    let Ok(ig) = berth_build::ignore::Ignore::parse(&text) else {
        return;
    };
    let Ok(root) = ctx.canonicalize() else {
        return;
    };
    for f in [".dockerignore", dockerfile.trim_start_matches('/')] {
        if !ig.matches(f) {
            continue;
        }
        let p = root.join(f);
        // Only a file inside the context, never one a symlinked directory leads out to.
        let inside = p
            .parent()
            .and_then(|d| d.canonicalize().ok())
            .is_some_and(|d| d.starts_with(&root));
        if inside && p.symlink_metadata().is_ok_and(|m| m.is_file()) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The Dockerfile, looked up inside the context only (`..` and symlinks cannot leave it).
fn read_in(ctx: &Path, name: &str) -> Option<String> {
    let root = ctx.canonicalize().ok()?;
    let p = root
        .join(name.trim_start_matches('/'))
        .canonicalize()
        .ok()?;
    if !p.starts_with(&root) {
        return None;
    }
    std::fs::read_to_string(p).ok()
}

/// Serialises the build cache file.
static CACHE_LOCK: Mutex<()> = Mutex::new(());

struct EngineBackend<'r> {
    e: Arc<Engine>,
    rt: tokio::runtime::Handle,
    out: Sink,
    req: &'r BuildRequest,
    scratch: PathBuf,
    /// Scratch dirs handed out so far.
    n: usize,
    /// `MAINTAINER` of the current stage.
    author: Option<String>,
}

fn be_err(err: impl std::fmt::Display) -> BuildError {
    BuildError::Backend(err.to_string())
}

fn to_image(c: &BuildConfig) -> Result<ContainerConfig, BuildError> {
    serde_json::to_value(c)
        .and_then(serde_json::from_value)
        .map_err(be_err)
}

fn from_image(c: Option<ContainerConfig>) -> BuildConfig {
    c.and_then(|c| serde_json::to_value(c).ok())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

impl EngineBackend<'_> {
    fn cache_path(&self) -> PathBuf {
        self.e.cfg.data_root.join(CACHE_FILE)
    }

    fn cache(&self) -> HashMap<String, String> {
        read_cache(&self.cache_path())
    }
}

impl Backend for EngineBackend<'_> {
    fn say(&mut self, text: &str) {
        (self.out)(json!({ "stream": text }));
    }

    fn base(&mut self, name: &str, pull: bool) -> Result<Base, BuildError> {
        let reference = Reference::parse(name)
            .map_err(|err| BuildError::Invalid(format!("invalid reference format: {err}")))?;
        let have = self.e.images.resolve(name).ok();
        let rec = match have {
            Some(rec) if !pull => rec,
            _ => {
                let opts = PullOptions {
                    progress: self.req.progress.clone(),
                    ..Default::default()
                };
                let pulled =
                    self.rt
                        .block_on(self.e.images.pull(&self.req.client, &reference, &opts));
                match pulled {
                    Ok((rec, _)) => {
                        self.e.emit_image(
                            "pull",
                            &reference.familiar(),
                            &reference.familiar_name(),
                        );
                        rec
                    }
                    Err(err) => {
                        return Err(BuildError::Backend(EngineError::from(err).to_string()));
                    }
                }
            }
        };
        let (_, cfg) = self.e.images.manifest_and_config(&rec).map_err(be_err)?;
        Ok(Base {
            id: rec.id.to_string(),
            config: from_image(cfg.config),
        })
    }

    fn create(&mut self, image: &str, spec: &RunSpec) -> Result<String, BuildError> {
        let config = Config {
            image: image.to_owned(),
            cmd: Some(if spec.cmd.is_empty() {
                vec!["/bin/sh".into()]
            } else {
                spec.cmd.clone()
            }),
            entrypoint: Some(Vec::new()),
            env: Some(spec.env.clone()),
            user: spec.user.clone().unwrap_or_default(),
            ..Default::default()
        };
        let mut host_config = self.req.host_config.clone();
        host_config.network_mode = self.req.network_mode.clone();
        let req = CreateRequest {
            config,
            host_config,
            networking_config: None,
        };
        let (id, _) = self.rt.block_on(self.e.create(None, req)).map_err(be_err)?;
        Ok(id)
    }

    fn run(&mut self, container: &str, mut held: Option<&mut String>) -> Result<i64, BuildError> {
        let e = self.e.clone();
        let out = self.out.clone();
        let c = container.to_owned();
        self.rt.block_on(async move {
            let wait = e.wait(&c, WaitCondition::NextExit).map_err(be_err)?;
            e.start(&c).await.map_err(be_err)?;
            {
                let opts = LogOptions {
                    follow: true,
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                };
                if let Ok((mut rx, tty)) = e.logs(&c, opts) {
                    while let Some(chunk) = rx.recv().await {
                        let text = unframe(&chunk, tty);
                        match held.as_deref_mut() {
                            Some(h) => {
                                // (a quiet build shows a failed RUN's output: its last MiB)
                                h.push_str(&text);
                                if h.len() > HELD_MAX {
                                    let mut cut = h.len() - HELD_MAX;
                                    while !h.is_char_boundary(cut) {
                                        cut += 1;
                                    }
                                    h.drain(..cut);
                                }
                            }
                            None if !text.is_empty() => out(json!({ "stream": text })),
                            None => {}
                        }
                    }
                }
            }
            Ok(wait.await)
        })
    }

    fn is_dir(&mut self, container: &str, path: &str) -> Result<Option<bool>, BuildError> {
        match self.rt.block_on(self.e.archive_stat(container, path)) {
            Ok(v) => {
                let mode = v["mode"].as_u64().unwrap_or(0);
                Ok(Some(mode & (1 << 31) != 0))
            }
            Err(EngineError::NotFound(_)) => Ok(None),
            Err(err) => Err(be_err(err)),
        }
    }

    fn put(&mut self, container: &str, tar: &Path, own: bool) -> Result<(), BuildError> {
        let f = std::fs::File::open(tar).map_err(BuildError::io("copy archive"))?;
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: false,
            copy_uid_gid: own,
        };
        self.rt
            .block_on(
                self.e
                    .archive_put(container, "/", opts, std::io::BufReader::new(f)),
            )
            .map_err(be_err)
    }

    fn fetch(&mut self, container: &str, path: &str, into: &Path) -> Result<(), BuildError> {
        let (w, rx) = ChanWriter::new();
        self.rt
            .block_on(self.e.archive_get(container, path, w))
            .map_err(|err| match err {
                EngineError::NotFound(_) => {
                    BuildError::Invalid(format!("COPY failed: stat {path}: file does not exist"))
                }
                other => be_err(other),
            })?;
        let r = ChanReader {
            rx,
            buf: Bytes::new(),
        };
        berth_image::unpack::apply_layer(r, into, &Default::default()).map_err(be_err)?;
        Ok(())
    }

    fn commit(
        &mut self,
        container: &str,
        parent: &str,
        config: &BuildConfig,
        created_by: &str,
    ) -> Result<String, BuildError> {
        let c = self.e.get(container).map_err(be_err)?;
        let rec = c.rec();
        let chain_id = rec
            .chain_id
            .as_deref()
            .map(Digest::parse)
            .transpose()
            .map_err(be_err)?;
        let fs = ContainerFs::new(chain_id, &self.e.container_dir(&rec.id));
        let opts = CommitOptions {
            created_by: Some(created_by.to_owned()),
            config: Some(to_image(config)?),
            author: self.author.clone(),
            ..Default::default()
        };
        let (img, _) = self.e.images.commit(parent, &fs, &opts).map_err(be_err)?;
        Ok(img.id.to_string())
    }

    fn derive(
        &mut self,
        parent: Option<&str>,
        config: &BuildConfig,
        created_by: Option<&str>,
    ) -> Result<String, BuildError> {
        let img = self
            .e
            .images
            .derive(
                parent,
                to_image(config)?,
                created_by,
                self.author.as_deref(),
            )
            .map_err(be_err)?;
        Ok(img.id.to_string())
    }

    fn set_author(&mut self, author: Option<&str>) {
        self.author = author.map(str::to_owned);
    }

    fn remove(&mut self, container: &str) {
        if let Err(err) = self.rt.block_on(self.e.remove(container, true, true)) {
            tracing::warn!(container, error = %err, "build: removing a container failed");
        }
    }

    fn tag(&mut self, image: &str, tag: &str) -> Result<String, BuildError> {
        let r = Reference::parse(tag)
            .map_err(|err| BuildError::Invalid(format!("invalid reference format: {err}")))?;
        let r = if r.tag().is_some() {
            r
        } else {
            r.with_tag("latest").map_err(be_err)?
        };
        self.e.images.tag(image, &r.to_string()).map_err(be_err)?;
        self.e.emit_image("tag", image, &r.familiar());
        Ok(r.familiar())
    }

    fn cache_get(&mut self, key: &str) -> Option<String> {
        let _l = CACHE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let id = self.cache().get(key).cloned()?;
        self.e.images.resolve(&id).ok().map(|r| r.id.to_string())
    }

    fn cache_put(&mut self, key: &str, image: &str) {
        let _l = CACHE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let mut m = self.cache();
        // Entries whose image is gone are dropped on the way.
        m.retain(|_, id| self.e.images.resolve(id).is_ok());
        m.insert(key.to_owned(), image.to_owned());
        let path = self.cache_path();
        let tmp = path.with_extension("json.tmp");
        let ok = serde_json::to_vec(&m).ok().is_some_and(|b| {
            std::fs::write(&tmp, b).is_ok() && std::fs::rename(&tmp, &path).is_ok()
        });
        if !ok {
            tracing::warn!("build cache not saved");
        }
    }

    fn built(&mut self, id: &str) {
        (self.out)(json!({ "aux": { "ID": id } }));
    }

    fn download(&mut self, url: &str, to: &Path) -> Result<(), BuildError> {
        let bad = |err: berth_image::fetch::FetchError| {
            BuildError::Invalid(format!("failed to download {url}: {err}"))
        };
        let u = berth_image::fetch::parse_url(url).map_err(bad)?;
        let e = self.e.clone();
        let to = to.to_owned();
        self.rt.block_on(async move {
            let dl = berth_image::fetch::open(&e.registry, &u)
                .await
                .map_err(bad)?;
            dl.save_to(&to, &mut |_| true).await.map_err(bad)?;
            Ok(())
        })
    }

    fn scratch_dir(&mut self) -> Result<PathBuf, BuildError> {
        self.n += 1;
        let d = self.scratch.join(format!("step-{}", self.n));
        std::fs::create_dir_all(&d).map_err(BuildError::io("scratch dir"))?;
        Ok(d)
    }
}

/// The text of a log chunk (multiplexed frames without a tty).
fn unframe(chunk: &[u8], tty: bool) -> String {
    if tty {
        return String::from_utf8_lossy(chunk).into_owned();
    }
    let mut out = Vec::new();
    let mut rest = chunk;
    while rest.len() >= 8 {
        let n = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let end = (8 + n).min(rest.len());
        // dockerd shows a RUN's stderr in bright red.
        let stderr = rest[0] == 2;
        if stderr {
            out.extend_from_slice(b"\x1b[91m");
        }
        out.extend_from_slice(&rest[8..end]);
        if stderr {
            out.extend_from_slice(b"\x1b[0m");
        }
        rest = &rest[end..];
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a quiet build keeps of a RUN's output, to show if it fails.
const HELD_MAX: usize = 1 << 20;

/// A tar stream that ends early (no padding of its last entry, no end blocks) read as if
/// it had them: after the input's end, zeros to the next 512-byte block and two more.
struct PadTar<R> {
    inner: R,
    /// Bytes read from `inner`.
    n: u64,
    /// Zeros still to give once `inner` has ended.
    tail: Option<u64>,
}

impl<R: Read> Read for PadTar<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.tail.is_none() {
            let k = self.inner.read(out)?;
            if k > 0 || out.is_empty() {
                self.n += k as u64;
                return Ok(k);
            }
            self.tail = Some((512 - self.n % 512) % 512 + 1024);
        }
        let left = self.tail.unwrap_or(0);
        let k = (left as usize).min(out.len());
        out[..k].fill(0);
        self.tail = Some(left - k as u64);
        Ok(k)
    }
}

/// A blocking `Read` over the chunks an archive stream sends.
struct ChanReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    buf: Bytes,
}

impl Read for ChanReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}
