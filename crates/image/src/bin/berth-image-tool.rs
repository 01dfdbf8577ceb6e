//! A small driver for berth-image until the daemon exists: pull, push, seed (build an image
//! from host directories), list, remove, gc. Used by the crash-safety test and the pull
//! benchmark. Output is JSON on stdout; progress lines go to stderr.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use berth_image::digest::Digest;
use berth_image::images::ImageStore;
use berth_image::manifest::{self, Platform};
use berth_image::pull::{LayerStatus, PullOptions};
use berth_image::push::PushOptions;
use berth_image::reference::Reference;
use berth_image::registry::{RegistryClient, RegistryConfig};
use berth_image::unpack::UnpackOptions;
use clap::{Parser, Subcommand};

/// Prints a line; a closed stdout (`| head`) is not an error worth a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

#[derive(Parser)]
struct Cli {
    /// berth's data root (content store, snapshots, images.json).
    #[arg(long, default_value = "/var/lib/berth")]
    root: PathBuf,
    /// Registries to reach over plain HTTP.
    #[arg(long)]
    insecure: Vec<String>,
    /// Docker Hub mirrors.
    #[arg(long)]
    mirror: Vec<String>,
    /// Do not flush unpacked layers to disk before recording them (Docker's behaviour).
    #[arg(long)]
    no_sync: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Pull {
        reference: String,
        #[arg(long)]
        platform: Option<String>,
        /// Print per-layer progress to stderr.
        #[arg(long)]
        progress: bool,
        #[arg(long, default_value_t = 4)]
        parallel: usize,
    },
    Push {
        name: String,
        target: String,
    },
    /// Builds an image with one gzip (or zstd) layer per directory and tags it.
    Seed {
        tag: String,
        dirs: Vec<PathBuf>,
        #[arg(long)]
        zstd: bool,
    },
    Images,
    Inspect {
        name: String,
    },
    History {
        name: String,
    },
    Tag {
        source: String,
        target: String,
    },
    /// Writes a docker-archive (+ OCI layout) tar of the images to --output.
    Save {
        names: Vec<String>,
        #[arg(long, short)]
        output: PathBuf,
    },
    Load {
        #[arg(long, short)]
        input: PathBuf,
    },
    /// A rootfs tarball as a one-layer image (`--change 'CMD …'` as docker import).
    Import {
        file: PathBuf,
        reference: Option<String>,
        #[arg(long, short)]
        change: Vec<String>,
    },
    /// The image's flattened filesystem as a tar to --output.
    Export {
        name: String,
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Disk usage of images, snapshots and the content store.
    Df,
    Rmi {
        name: String,
        #[arg(long)]
        force: bool,
    },
    Gc,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("BERTH_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let store = ImageStore::open(&cli.root).context("opening the image store")?;
    store.snapshots().set_durable(!cli.no_sync);
    let mut cfg = RegistryConfig {
        insecure: cli.insecure.clone(),
        mirrors: cli.mirror.clone(),
        ..Default::default()
    };
    cfg.credentials = berth_image::auth::Credentials::load_default(None)?;
    let client = RegistryClient::new(cfg)?;
    match cli.cmd {
        Cmd::Pull {
            reference,
            platform,
            progress,
            parallel,
        } => {
            let r = Reference::parse(&reference)?;
            let sink: Option<berth_image::pull::ProgressSink> = progress.then(|| {
                Arc::new(|p: berth_image::pull::Progress| {
                    let s = match p.status {
                        LayerStatus::Downloading { current, total } => {
                            format!("Downloading {current}/{total}")
                        }
                        other => format!("{other:?}"),
                    };
                    eprintln!("{}: {s}", p.layer.short());
                }) as berth_image::pull::ProgressSink
            });
            let opts = PullOptions {
                platform: platform.as_deref().map(Platform::parse).transpose()?,
                max_concurrent_downloads: parallel,
                progress: sink,
                ..Default::default()
            };
            let start = Instant::now();
            let (rec, res) = store.pull(&client, &r, &opts).await?;
            let secs = start.elapsed().as_secs_f64();
            say!(
                "{}",
                serde_json::json!({
                    "id": rec.id, "digest": res.digest, "fetched": res.layers_fetched,
                    "skipped": res.layers_skipped, "seconds": secs,
                })
            );
        }
        Cmd::Push { name, target } => {
            let t = Reference::parse(&target)?;
            let rep = store
                .push(&client, &name, &t, &PushOptions::default())
                .await?;
            say!(
                "{}",
                serde_json::json!({"uploaded": rep.uploaded.len(), "existed": rep.existed.len()})
            );
        }
        Cmd::Seed { tag, dirs, zstd } => {
            let id = seed(&store, &tag, &dirs, zstd)?;
            say!("{}", serde_json::json!({"id": id}));
        }
        Cmd::Images => {
            say!("{}", serde_json::to_string_pretty(&store.list()?)?);
        }
        Cmd::Inspect { name } => {
            say!("{}", serde_json::to_string_pretty(&store.inspect(&name)?)?);
        }
        Cmd::History { name } => {
            say!("{}", serde_json::to_string_pretty(&store.history(&name)?)?);
        }
        Cmd::Tag { source, target } => store.tag(&source, &target)?,
        Cmd::Save { names, output } => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let f = std::fs::File::create(&output)?;
            berth_image::archive::save(&store, &names, std::io::BufWriter::new(f))?;
        }
        Cmd::Load { input } => {
            let f = std::fs::File::open(&input)?;
            for l in berth_image::archive::load(&store, std::io::BufReader::new(f))? {
                say!("{}", serde_json::json!({"id": l.id, "tags": l.tags}));
            }
        }
        Cmd::Import {
            file,
            reference,
            change,
        } => {
            let r = reference.as_deref().map(Reference::parse).transpose()?;
            let f = std::fs::File::open(&file)?;
            let rec = berth_image::archive::import(&store, f, &change, r.as_ref(), None)?;
            say!("{}", serde_json::json!({"id": rec.id}));
        }
        Cmd::Export { name, output } => {
            let rec = store.resolve(&name)?;
            let chain = store.chain_id(&rec)?;
            let scratch = tempfile_dir(&cli.root)?;
            let f = std::fs::File::create(&output)?;
            let r = berth_image::archive::export(
                &store,
                chain.as_ref(),
                None,
                &scratch,
                std::io::BufWriter::new(f),
            );
            std::fs::remove_dir(&scratch)?;
            r?;
        }
        Cmd::Df => {
            let du = store.disk_usage()?;
            say!(
                "{}",
                serde_json::json!({
                    "images": du.images, "images_size": du.images_size,
                    "snapshots_bytes": du.snapshots_bytes, "content_bytes": du.content_bytes,
                    "reclaimable": du.reclaimable,
                })
            );
        }
        Cmd::Rmi { name, force } => {
            let acts = store.remove(&name, force, &|_| false)?;
            for a in acts {
                say!("{a:?}");
            }
        }
        Cmd::Gc => {
            let r = store.gc(&Default::default())?;
            say!("{r:?}");
        }
    }
    Ok(())
}

/// An empty directory under the data root for a temporary mount.
fn tempfile_dir(root: &std::path::Path) -> Result<PathBuf> {
    let d = root.join(format!("tmp-export-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// Tars each directory (as a layer rooted at its own path), compresses, unpacks into a
/// snapshot and records an image.
fn seed(store: &ImageStore, tag: &str, dirs: &[PathBuf], zstd: bool) -> Result<Digest> {
    use std::io::Write;
    let mut diff_ids = Vec::new();
    let mut layers = Vec::new();
    let mut parent: Option<Digest> = None;
    for dir in dirs {
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        b.mode(tar::HeaderMode::Complete);
        let inside = dir.strip_prefix("/").unwrap_or(dir);
        b.append_dir_all(inside, dir)
            .with_context(|| format!("archiving {}", dir.display()))?;
        let tar = b.into_inner()?;
        let data = if zstd {
            zstd::encode_all(&tar[..], 3)?
        } else {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&tar)?;
            e.finish()?
        };
        let d = store.content().put(&data)?;
        let diff = Digest::of(&tar);
        let (info, _) = store.snapshots().apply(
            parent.as_ref(),
            &diff,
            &data[..],
            &UnpackOptions::default(),
        )?;
        parent = Some(info.chain_id);
        layers.push(serde_json::json!({
            "mediaType": if zstd { manifest::OCI_LAYER_ZSTD } else { manifest::OCI_LAYER_GZIP },
            "digest": d, "size": data.len(),
        }));
        diff_ids.push(diff);
    }
    let host = Platform::host();
    let cfg = serde_json::json!({
        "created": berth_image::timefmt::format_rfc3339(berth_image::timefmt::now()),
        "architecture": host.architecture, "os": host.os,
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let cfg_bytes = serde_json::to_vec(&cfg)?;
    let cfg_d = store.content().put(&cfg_bytes)?;
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": manifest::OCI_CONFIG, "digest": cfg_d, "size": cfg_bytes.len()},
        "layers": layers,
    });
    let md = store.content().put(&serde_json::to_vec(&m)?)?;
    store.record(&md, &cfg_d, Some(&Reference::parse(tag)?), None)?;
    Ok(cfg_d)
}
