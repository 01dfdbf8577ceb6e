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
            println!(
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
            println!(
                "{}",
                serde_json::json!({"uploaded": rep.uploaded.len(), "existed": rep.existed.len()})
            );
        }
        Cmd::Seed { tag, dirs, zstd } => {
            let id = seed(&store, &tag, &dirs, zstd)?;
            println!("{}", serde_json::json!({"id": id}));
        }
        Cmd::Images => {
            println!("{}", serde_json::to_string_pretty(&store.list()?)?);
        }
        Cmd::Rmi { name, force } => {
            let acts = store.remove(&name, force, &|_| false)?;
            for a in acts {
                println!("{a:?}");
            }
        }
        Cmd::Gc => {
            let r = store.gc(&Default::default())?;
            println!("{r:?}");
        }
    }
    Ok(())
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
