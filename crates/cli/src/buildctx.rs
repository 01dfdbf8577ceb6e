//! `build`'s context as the docker CLI prepares it: a directory packed into a tar
//! (honouring `.dockerignore`, headers normalised as docker's archive package writes
//! them), a tar or a Dockerfile on stdin, or a URL; the Dockerfile located as docker
//! locates it, and one from stdin or outside the context added under a generated name.
//! Every error here comes before the daemon is asked, in docker's words.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use berth_build::ignore::{DirMatch, Ignore};

use crate::cp::io_text;

/// Where the context comes from.
pub enum Source {
    /// A local directory, packed on the fly.
    Dir(DirContext),
    /// Bytes to send as they are: these, then (`stdin`) the rest of stdin (a tar, maybe
    /// compressed, streamed from stdin; or the tar made around a Dockerfile read from it).
    Bytes { head: Vec<u8>, stdin: bool },
    /// An http(s) URL the daemon fetches (`remote=`).
    Remote(String),
}

pub struct DirContext {
    pub root: PathBuf,
    pub ignore: Ignore,
    /// A Dockerfile from stdin or from outside the context: its generated name in the
    /// tar and its bytes.
    pub extra: Option<(String, Vec<u8>)>,
    /// A checkout of a git context, removed once the context is sent.
    pub temp: Option<PathBuf>,
}

impl Drop for DirContext {
    fn drop(&mut self) {
        if let Some(t) = &self.temp {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

/// The context and the Dockerfile's path in it (`dockerfile=`; empty for none).
pub struct Prepared {
    pub source: Source,
    pub dockerfile: String,
}

/// docker's urlutil: `git://`, `git@`, `github.com/`, or an http(s) URL ending in `.git`
/// (before any `#fragment`).
fn is_git_url(s: &str) -> bool {
    if s.starts_with("git://") || s.starts_with("git@") || s.starts_with("github.com/") {
        return true;
    }
    is_url(s) && s.split('#').next().is_some_and(|u| u.ends_with(".git"))
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Prepares the context named on the command line (`-` for stdin). `dockerfile` is
/// `-f`'s value.
pub fn prepare(context: &str, dockerfile: Option<&str>) -> Result<Prepared> {
    let dockerfile = dockerfile.unwrap_or("");
    let from_stdin = dockerfile == "-";
    if from_stdin && context == "-" {
        bail!("invalid argument: can't use stdin for both build context and dockerfile");
    }
    let ctx_err = |e: anyhow::Error| anyhow!("unable to prepare context: {e}");
    if context == "-" {
        return from_reader(&mut io::stdin().lock(), dockerfile).map_err(ctx_err);
    }
    if std::fs::metadata(context).is_ok() {
        return local_dir(context, dockerfile, from_stdin);
    }
    if is_git_url(context) {
        return git_context(context, dockerfile);
    }
    if is_url(context) {
        return Ok(Prepared {
            source: Source::Remote(context.to_owned()),
            dockerfile: dockerfile.to_owned(),
        });
    }
    bail!("unable to prepare context: path {context:?} not found")
}

/// A tar (or compressed tar) from `r`, sent as it is, or a Dockerfile, sent in a tar of
/// its own (docker's GetContextFromReader).
fn from_reader(r: &mut dyn Read, dockerfile: &str) -> Result<Prepared> {
    let peek_err =
        |e: io::Error| anyhow!("failed to peek context header from STDIN: {}", io_text(&e));
    // (the first 1024 bytes tell; an archive's rest is streamed as it is read)
    let mut data = Vec::new();
    r.take(1024).read_to_end(&mut data).map_err(peek_err)?;
    if is_archive(&data) {
        return Ok(Prepared {
            source: Source::Bytes {
                head: data,
                stdin: true,
            },
            dockerfile: dockerfile.to_owned(),
        });
    }
    r.read_to_end(&mut data).map_err(peek_err)?;
    if dockerfile == "-" {
        bail!("build context is not an archive");
    }
    if !dockerfile.is_empty() {
        bail!("ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles");
    }
    // (as docker's temporary file would be: the user's ids, 0666 less the umask)
    // SAFETY: umask(2) only swaps the process's mask; it is put back at once.
    let mask = unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    };
    let mut b = tar::Builder::new(Vec::new());
    let mut h = header(
        tar::EntryType::Regular,
        0o666 & !mask,
        now(),
        data.len() as u64,
    );
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    h.set_uid(uid.into());
    h.set_gid(gid.into());
    b.append_data(&mut h, "Dockerfile", &data[..])?;
    Ok(Prepared {
        source: Source::Bytes {
            head: b.into_inner()?,
            stdin: false,
        },
        dockerfile: "Dockerfile".into(),
    })
}

/// A compressed stream (gzip, bzip2, xz, zstd) or a block that reads as a tar header.
pub fn is_archive(head: &[u8]) -> bool {
    const MAGIC: &[&[u8]] = &[
        &[0x1f, 0x8b, 0x08],
        b"BZh",
        &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
        &[0x28, 0xb5, 0x2f, 0xfd],
    ];
    if MAGIC.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    let Some(block) = head.get(..512) else {
        return false;
    };
    if block.iter().all(|b| *b == 0) {
        return false;
    }
    let field = String::from_utf8_lossy(&block[148..156]);
    let Ok(want) = i64::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let sum = |signed: bool| -> i64 {
        block
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else if signed {
                    *b as i8 as i64
                } else {
                    *b as i64
                }
            })
            .sum()
    };
    want == sum(false) || want == sum(true)
}

/// Go's filepath.Abs (cleaned, joined to the working directory).
fn abs(p: &str) -> Result<PathBuf> {
    let joined = if p.starts_with('/') {
        p.to_owned()
    } else {
        let cwd = std::env::current_dir()?;
        format!("{}/{p}", cwd.display())
    };
    Ok(PathBuf::from(berth_build::ignore::clean(&joined)))
}

/// Go's filepath.EvalSymlinks, failing as it fails: on the first component that cannot
/// be read (`lstat PATH: no such file or directory`).
fn eval_symlinks(p: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(p).map_err(|e| {
        let mut sofar = PathBuf::from("/");
        for c in p.components().skip(1) {
            sofar.push(c);
            if let Err(e) = std::fs::symlink_metadata(&sofar) {
                return format!("lstat {}: {}", sofar.display(), io_text(&e));
            }
        }
        format!("lstat {}: {}", p.display(), io_text(&e))
    })
}

/// `path` relative to `base` (both absolute and clean), as Go's filepath.Rel.
fn rel(base: &Path, path: &Path) -> String {
    let b: Vec<_> = base.components().collect();
    let p: Vec<_> = path.components().collect();
    let common = b.iter().zip(&p).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); b.len() - common];
    parts.extend(
        p[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// A local directory (docker's GetContextFromLocalDir, ReadDockerignore,
/// ValidateContextDirectory and TrimBuildFilesFromExcludes).
fn local_dir(context: &str, dockerfile: &str, from_stdin: bool) -> Result<Prepared> {
    let root = abs(context)?;
    local_dir_at(root, dockerfile, dockerfile, from_stdin, None)
}

/// [`local_dir`] for a context at `root` (absolute); `named` is `-f` as the user gave
/// it; `temp` is removed with the context, or at once if preparing it fails.
fn local_dir_at(
    root: PathBuf,
    dockerfile: &str,
    named: &str,
    from_stdin: bool,
    temp: Option<PathBuf>,
) -> Result<Prepared> {
    let guard = TempDir(temp);
    let ctx_err = |e: String| anyhow!("unable to prepare context: {e}");
    let root = eval_symlinks(&root)
        .map_err(|e| ctx_err(format!("unable to evaluate symlinks in context path: {e}")))?;
    let meta = std::fs::symlink_metadata(&root).map_err(|e| {
        ctx_err(format!(
            "unable to stat context directory {:?}: {}",
            root.display().to_string(),
            io_text(&e)
        ))
    })?;
    if !meta.is_dir() {
        return Err(ctx_err(format!(
            "context must be a directory: {}",
            root.display()
        )));
    }
    // The Dockerfile: -f is relative to the working directory; by default the context's
    // `Dockerfile`, or its `dockerfile` when only that one exists.
    let rel_dockerfile = if from_stdin {
        "-".to_owned()
    } else {
        let mut path = if dockerfile.is_empty() {
            let d = root.join("Dockerfile");
            let lower = root.join("dockerfile");
            if std::fs::symlink_metadata(&d).is_err() && std::fs::symlink_metadata(&lower).is_ok() {
                lower
            } else {
                d
            }
        } else {
            abs(dockerfile)?
        };
        path = eval_symlinks(&path).map_err(|e| {
            ctx_err(format!(
                "unable to evaluate symlinks in Dockerfile path: {e}"
            ))
        })?;
        rel(&root, &path)
    };
    let outside = rel_dockerfile.starts_with("../");
    if outside && guard.0.is_some() {
        return Err(ctx_err(format!(
            "the Dockerfile ({named}) must be within the build context"
        )));
    }
    let text = match std::fs::read(root.join(".dockerignore")) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => bail!(
            "open {}: {}",
            root.join(".dockerignore").display(),
            io_text(&e)
        ),
    };
    let mut ignore = Ignore::parse(&text).map_err(|e| anyhow!("error checking context: {e}"))?;
    validate(&root, &ignore)?;
    if ignore.matches_shallow(".dockerignore") {
        ignore.keep(".dockerignore");
    }
    if !from_stdin && ignore.matches_shallow(&rel_dockerfile) {
        ignore.keep(&rel_dockerfile);
    }
    let extra_bytes = if from_stdin {
        let mut b = Vec::new();
        io::stdin().lock().read_to_end(&mut b)?;
        Some(b)
    } else if outside {
        Some(std::fs::read(abs(dockerfile)?).map_err(|e| {
            anyhow!(
                "unable to open Dockerfile: open {dockerfile}: {}",
                io_text(&e)
            )
        })?)
    } else {
        None
    };
    let extra = extra_bytes.map(|b| (format!(".dockerfile.{}", random_hex(20)), b));
    let dockerfile = match &extra {
        Some((name, _)) => name.clone(),
        None => rel_dockerfile,
    };
    Ok(Prepared {
        source: Source::Dir(DirContext {
            root,
            ignore,
            extra,
            temp: guard.take(),
        }),
        dockerfile,
    })
}

/// A directory removed when dropped, unless taken.
struct TempDir(Option<PathBuf>);

impl TempDir {
    fn take(mut self) -> Option<PathBuf> {
        self.0.take()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

/// A git URL (`URL#ref:subdir`), fetched into a temporary directory with the git
/// command as docker does (init, fetch of the one ref, shallow where the server allows,
/// checkout, submodules), then packed as a local directory; `-f` is relative to it.
fn git_context(url: &str, dockerfile: &str) -> Result<Prepared> {
    let ctx_err = |e: String| anyhow!("unable to prepare context: {e}");
    let clone_err = |e: String| {
        ctx_err(format!(
            "unable to 'git clone' to temporary context directory: {e}"
        ))
    };
    if !std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join("git").is_file())
    {
        return Err(ctx_err(
            "unable to find 'git': exec: \"git\": executable file not found in $PATH".into(),
        ));
    }
    let is_transport = url.starts_with("git@")
        || ["git://", "http://", "https://", "ssh://"]
            .iter()
            .any(|p| url.starts_with(p));
    let full = if is_transport {
        url.to_owned()
    } else {
        format!("https://{url}")
    };
    let (remote, fragment) = full.split_once('#').unwrap_or((&full, ""));
    let (git_ref, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    let git_ref = if git_ref.is_empty() {
        "master"
    } else {
        git_ref
    };
    if git_ref.starts_with('-') {
        return Err(clone_err(format!("invalid refspec: {git_ref}")));
    }
    // (named as Go's MkdirTemp names it: the prefix and a random number)
    let n = u32::from_str_radix(&random_hex(8), 16).unwrap_or(0);
    let root = std::env::temp_dir().join(format!("docker-build-git{n}"));
    std::fs::create_dir(&root)?;
    let guard = TempDir(Some(root.clone()));
    let git = |args: &[&str]| -> Result<(), String> {
        let out = std::process::Command::new("git")
            .args(["-c", "protocol.file.allow=never"])
            .args(args)
            .current_dir(&root)
            .env("GIT_PROTOCOL_FROM_USER", "0")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| io_text(&e))?;
        if out.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Err(format!(
            "{text}: exit status {}",
            out.status.code().unwrap_or(-1)
        ))
    };
    git(&["init"])
        .map_err(|e| clone_err(format!("failed to init repo at {}: {e}", root.display())))?;
    git(&["remote", "add", "origin", remote])
        .map_err(|e| clone_err(format!("failed add origin repo at {remote}: {e}")))?;
    // (docker asks an http server whether it is a smart one first; berth tries the
    // shallow fetch and falls back to a full one)
    git(&["fetch", "--depth", "1", "origin", "--", git_ref])
        .or_else(|e| {
            if remote.starts_with("http://") || remote.starts_with("https://") {
                git(&["fetch", "origin", "--", git_ref])
            } else {
                Err(e)
            }
        })
        .map_err(|e| clone_err(format!("error fetching: {e}")))?;
    if let Err(e) = git(&["checkout", git_ref]) {
        git(&["checkout", "FETCH_HEAD"])
            .map_err(|_| clone_err(format!("error checking out {git_ref}: {e}")))?;
    }
    let mut dir = root.clone();
    if !subdir.is_empty() {
        let sub = std::fs::canonicalize(root.join(subdir)).map_err(|e| {
            clone_err(format!(
                "stat {}: {}",
                root.join(subdir).display(),
                io_text(&e)
            ))
        })?;
        if !sub.starts_with(std::fs::canonicalize(&root)?) {
            return Err(clone_err(format!(
                "error setting git context, {subdir:?} not within git root"
            )));
        }
        if !sub.is_dir() {
            return Err(clone_err(format!(
                "error setting git context, not a directory: {}",
                sub.display()
            )));
        }
        dir = sub;
    }
    git(&["submodule", "update", "--init", "--recursive", "--depth=1"])
        .map_err(|e| clone_err(format!("error initializing submodules: {e}")))?;
    // (-f names a file of the checkout)
    let path = if dockerfile.is_empty() || dockerfile.starts_with('/') {
        dockerfile.to_owned()
    } else {
        dir.join(dockerfile).display().to_string()
    };
    local_dir_at(dir, &path, dockerfile, false, guard.take())
}

/// docker's ValidateContextDirectory: every file that will be sent must be readable
/// (excluded directories are not looked into).
fn validate(root: &Path, ignore: &Ignore) -> Result<()> {
    fn walk(root: &Path, rel: &str, ignore: &Ignore) -> Result<()> {
        let dir = if rel.is_empty() {
            root.to_owned()
        } else {
            root.join(rel)
        };
        let rd = std::fs::read_dir(&dir).map_err(|e| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                anyhow!("error checking context: can't stat '{}'", dir.display())
            } else {
                anyhow!("error checking context: {}", io_text(&e))
            }
        })?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if !ignore.is_empty() && ignore.matches(&r) {
                continue;
            }
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                walk(root, &r, ignore)?;
            } else if ft.is_file()
                && let Err(e) = std::fs::File::open(e.path())
                && e.kind() == io::ErrorKind::PermissionDenied
            {
                bail!(
                    "error checking context: no permission to read from '{}'",
                    e_path(root, &r)
                );
            }
        }
        Ok(())
    }
    fn e_path(root: &Path, rel: &str) -> String {
        root.join(rel).display().to_string()
    }
    walk(root, "", ignore)
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n.div_ceil(2)];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = t.to_le_bytes()[..b.len().min(16)].to_vec();
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    hex[..n.min(hex.len())].to_owned()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A ustar header as Go's archive/tar writes docker's: owner 0:0 and no names.
fn header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    let _ = h.set_device_major(0);
    let _ = h.set_device_minor(0);
    h
}

/// Writes the directory context as a tar to `out` (docker's TarWithOptions walk: names
/// in byte order, an excluded directory walked only when an exception may re-include
/// something in it, hard links as links to the first name seen).
pub fn write_tar(ctx: &DirContext, out: impl Write) -> io::Result<()> {
    let mut w = TarWalk {
        b: tar::Builder::new(out),
        ctx,
        links: HashMap::new(),
        wrote_ignore: false,
    };
    w.dir("", None)?;
    if let Some((name, data)) = &ctx.extra {
        let t = now();
        if !w.wrote_ignore {
            let text = format!(".dockerignore\n{name}\n");
            let mut h = header(tar::EntryType::Regular, 0o600, t, text.len() as u64);
            w.b.append_data(&mut h, ".dockerignore", text.as_bytes())?;
        }
        let mut h = header(tar::EntryType::Regular, 0o600, t, data.len() as u64);
        w.b.append_data(&mut h, name, &data[..])?;
    }
    w.b.into_inner()?.flush()
}

struct TarWalk<'a, W: Write> {
    b: tar::Builder<W>,
    ctx: &'a DirContext,
    links: HashMap<(u64, u64), String>,
    wrote_ignore: bool,
}

impl<W: Write> TarWalk<'_, W> {
    fn dir(&mut self, rel: &str, parent: Option<&DirMatch>) -> io::Result<()> {
        let path = self.ctx.root.join(rel);
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(&path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let ig = &self.ctx.ignore;
        for name in names {
            let name = name.to_string_lossy();
            let r = if rel.is_empty() {
                name.into_owned()
            } else {
                format!("{rel}/{name}")
            };
            let full = self.ctx.root.join(&r);
            let meta = std::fs::symlink_metadata(&full)?;
            let (skip, info) = if ig.is_empty() {
                (false, DirMatch::default())
            } else {
                ig.matches_in(&r, parent)
            };
            if skip {
                if meta.is_dir() && ig.has_exceptions() && ig.may_reinclude_under(&r) {
                    self.dir(&r, Some(&info))?;
                }
                continue;
            }
            self.entry(&full, &r, &meta)?;
            if meta.is_dir() {
                self.dir(&r, Some(&info))?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, full: &Path, rel: &str, meta: &std::fs::Metadata) -> io::Result<()> {
        use std::os::unix::fs::FileTypeExt;
        let ft = meta.file_type();
        // (Go's FileInfoHeader: permission bits plus setuid, setgid and sticky)
        let mode = meta.mode() & 0o7777;
        let mtime = meta.mtime().max(0) as u64;
        if ft.is_dir() {
            let mut h = header(tar::EntryType::Directory, mode, mtime, 0);
            return self.b.append_data(&mut h, format!("{rel}/"), io::empty());
        }
        if ft.is_symlink() {
            let target = std::fs::read_link(full)?;
            let mut h = header(tar::EntryType::Symlink, mode, mtime, 0);
            return self.b.append_link(&mut h, rel, target);
        }
        if ft.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = self.links.get(&key) {
                    let mut h = header(tar::EntryType::Link, mode, mtime, 0);
                    let first = first.clone();
                    return self.b.append_link(&mut h, rel, first);
                }
                self.links.insert(key, rel.to_owned());
            }
            if rel == ".dockerignore"
                && let Some((name, _)) = &self.ctx.extra
            {
                let mut text = std::fs::read(full)?;
                text.extend_from_slice(format!("\n{name}\n").as_bytes());
                let mut h = header(tar::EntryType::Regular, mode, mtime, text.len() as u64);
                self.wrote_ignore = true;
                return self.b.append_data(&mut h, rel, &text[..]);
            }
            let f = std::fs::File::open(full)?;
            let mut h = header(tar::EntryType::Regular, mode, mtime, meta.len());
            return self.b.append_data(&mut h, rel, f.take(meta.len()));
        }
        let (kind, dev) = if ft.is_char_device() {
            (tar::EntryType::Char, true)
        } else if ft.is_block_device() {
            (tar::EntryType::Block, true)
        } else if ft.is_fifo() {
            (tar::EntryType::Fifo, false)
        } else {
            // (sockets: Go's archive/tar has no header for them)
            return Ok(());
        };
        let mut h = header(kind, mode, mtime, 0);
        if dev {
            let rdev = meta.rdev();
            let _ = h.set_device_major(libc::major(rdev));
            let _ = h.set_device_minor(libc::minor(rdev));
        }
        self.b.append_data(&mut h, rel, io::empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_told_from_dockerfiles() {
        assert!(is_archive(&[0x1f, 0x8b, 0x08, 0]));
        assert!(!is_archive(b"FROM busybox\nRUN true\n"));
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Regular, 0o644, 0, 1);
        b.append_data(&mut h, "a", &b"x"[..]).unwrap();
        assert!(is_archive(&b.into_inner().unwrap()));
        assert!(!is_archive(&[0u8; 1024]));
    }

    #[test]
    fn git_and_http_urls_are_told_apart() {
        assert!(is_git_url("git://h/r") && is_git_url("github.com/a/b"));
        assert!(is_git_url("https://h/r.git#main:sub") && !is_git_url("https://h/r.tar"));
        assert!(is_url("http://h/x") && !is_url("./x"));
    }

    #[test]
    fn a_directory_is_packed_as_docker_packs_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["b/sub", "skip/keep", "skip/drop"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "Dockerfile",
            "b/sub/f",
            "skip/keep/k",
            "skip/drop/d",
            "a.tmp",
            "z",
        ] {
            std::fs::write(root.join(f), f).unwrap();
        }
        std::fs::set_permissions(root.join("z"), std::fs::Permissions::from_mode(0o751)).unwrap();
        std::fs::hard_link(root.join("z"), root.join("y")).unwrap();
        std::os::unix::fs::symlink("z", root.join("l")).unwrap();
        std::fs::write(root.join(".dockerignore"), "*.tmp\nskip\n!skip/keep\n").unwrap();
        // (modes as a 022 umask makes them, whatever the umask here)
        let mode = |p: &str, m: u32| {
            std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(m)).unwrap()
        };
        for d in ["b", "b/sub", "skip/keep"] {
            mode(d, 0o755);
        }
        for f in [".dockerignore", "Dockerfile", "b/sub/f", "skip/keep/k"] {
            mode(f, 0o644);
        }
        let ignore = Ignore::parse("*.tmp\nskip\n!skip/keep\n").unwrap();
        let ctx = DirContext {
            root: root.to_owned(),
            ignore,
            extra: Some((".dockerfile.0123".into(), b"FROM x\n".to_vec())),
            temp: None,
        };
        let mut tar = Vec::new();
        write_tar(&ctx, &mut tar).unwrap();
        let mut seen = Vec::new();
        let mut ar = tar::Archive::new(&tar[..]);
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let mut text = String::new();
            if name == ".dockerignore" {
                e.read_to_string(&mut text).unwrap();
                assert_eq!(text, "*.tmp\nskip\n!skip/keep\n\n.dockerfile.0123\n");
            }
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            assert_eq!(h.username().unwrap(), Some(""));
            seen.push(format!(
                "{name} {:o} {:?}",
                h.mode().unwrap(),
                h.entry_type()
            ));
        }
        // Byte order; the excluded `skip` not sent, but the exception inside it is; the
        // second name of a hard link as a link; the added Dockerfile last.
        assert_eq!(
            seen,
            [
                ".dockerignore 644 Regular",
                "Dockerfile 644 Regular",
                "b/ 755 Directory",
                "b/sub/ 755 Directory",
                "b/sub/f 644 Regular",
                "l 777 Symlink",
                "skip/keep/ 755 Directory",
                "skip/keep/k 644 Regular",
                "y 751 Regular",
                "z 751 Link",
                ".dockerfile.0123 600 Regular",
            ]
        );
    }

    #[test]
    fn relative_paths_are_gos() {
        assert_eq!(
            rel(Path::new("/a/b"), Path::new("/a/b/Dockerfile")),
            "Dockerfile"
        );
        assert_eq!(rel(Path::new("/a/b"), Path::new("/a/c/D")), "../c/D");
        assert_eq!(rel(Path::new("/a/b"), Path::new("/a/b")), ".");
    }
}
