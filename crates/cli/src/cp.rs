//! `cp`: files between a container and the local filesystem as tar streams
//! (`GET/HEAD/PUT /containers/{id}/archive`), with docker's rules for where things land:
//! into an existing directory under their own name, else under the destination's name;
//! `SRC/.` copies a directory's contents; `-` is a tar on stdin/stdout.

use std::io::{IsTerminal, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use base64::Engine as _;
use serde_json::Value;

use crate::args::CpArgs;
use crate::client::{Client, DaemonError, enc};
use crate::format;

/// Go's `os.ModeDir` and `os.ModeSymlink` bits in the path-stat header.
const MODE_DIR: u64 = 1 << 31;
const MODE_SYMLINK: u64 = 1 << 27;

/// An io::Error without Rust's " (os error N)" suffix, as Go prints it.
pub fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s,
    }
}

enum Loc {
    Local(String),
    Container(String, String),
}

/// docker's splitCpArg: `name:path` unless the argument starts like a local path.
fn split(arg: &str) -> Loc {
    if arg.starts_with('/') || arg.starts_with('.') {
        return Loc::Local(arg.to_owned());
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() => Loc::Container(c.to_owned(), p.to_owned()),
        _ => Loc::Local(arg.to_owned()),
    }
}

#[derive(Debug, Default)]
struct Stat {
    mode: u64,
    link_target: String,
    size: u64,
}

fn decode_stat(h: Option<&str>) -> Stat {
    let Some(h) = h else {
        return Stat::default();
    };
    let v: Value = base64::engine::general_purpose::STANDARD
        .decode(h.trim())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    Stat {
        mode: v.get("mode").and_then(Value::as_u64).unwrap_or(0),
        link_target: v
            .get("linkTarget")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        size: v.get("size").and_then(Value::as_u64).unwrap_or(0),
    }
}

/// `HEAD .../archive`: the path's stat, or None when it does not exist.
fn container_stat(c: &Client, id: &str, path: &str) -> Result<Option<Stat>> {
    let r = c.raw(
        "HEAD",
        &format!("/containers/{}/archive?path={}", enc(id), enc(path)),
        None,
        &[],
    )?;
    if r.status == 404 {
        // A missing container is an error; a missing path is an answer.
        c.get_json(&format!("/containers/{}/json", enc(id)))?;
        return Ok(None);
    }
    let stat = decode_stat(r.header("X-Docker-Container-Path-Stat"));
    r.check()?;
    Ok(Some(stat))
}

fn base_name(p: &str) -> String {
    let t = p.trim_end_matches('/');
    match t.rsplit_once('/') {
        Some((_, b)) => b.to_owned(),
        None => t.to_owned(),
    }
}

fn parent(p: &str) -> String {
    let t = p.trim_end_matches('/');
    match t.rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((d, _)) => d.to_owned(),
        None => ".".into(),
    }
}

/// A path that names a directory by its form: a trailing `/` or `/.` (docker's
/// archive.assertsDirectory).
fn asserts_dir(p: &str) -> bool {
    p.ends_with('/') || p.ends_with("/.")
}

pub fn cp(c: &Client, a: &CpArgs) -> Result<()> {
    match (split(&a.src), split(&a.dest)) {
        (Loc::Container(id, p), Loc::Local(d)) => from_container(c, a, &id, &p, &d),
        (Loc::Local(s), Loc::Container(id, p)) => to_container(c, a, &s, &id, &p),
        (Loc::Container(..), Loc::Container(..)) => {
            bail!("copying between containers is not supported")
        }
        (Loc::Local(..), Loc::Local(..)) => bail!("must specify at least one container source"),
    }
}

fn done(a: &CpArgs, bytes: u64, to: &str) {
    if !a.quiet && std::io::stderr().is_terminal() {
        eprintln!(
            "Successfully copied {} to {to}",
            format::human_size(bytes as f64)
        );
    }
}

fn from_container(c: &Client, a: &CpArgs, id: &str, src: &str, dest: &str) -> Result<()> {
    let mut src = src.to_owned();
    // With -L, a link's target is fetched under the link's name (archive.GetRebaseName).
    let mut rebase: Option<(String, String)> = None;
    if a.follow_link
        && let Some(s) = container_stat(c, id, &src)?
        && s.mode & MODE_SYMLINK != 0
        && !s.link_target.is_empty()
    {
        let target = if s.link_target.starts_with('/') {
            s.link_target
        } else {
            format!("{}/{}", parent(&src), s.link_target)
        };
        let (from, to) = (base_name(&target), base_name(&src));
        if from != to && !from.is_empty() && !to.is_empty() && to != "." {
            rebase = Some((from, to));
        }
        src = target;
    }
    let r = c.get(&format!(
        "/containers/{}/archive?path={}",
        enc(id),
        enc(&src)
    ))?;
    let stat = decode_stat(r.header("X-Docker-Container-Path-Stat"));
    if dest == "-" {
        let mut body = r.body;
        let mut out = std::io::stdout().lock();
        std::io::copy(&mut body, &mut out)?;
        out.flush()?;
        return Ok(());
    }
    let src_dir = stat.mode & MODE_DIR != 0;
    let dest_path = Path::new(dest);
    let dest_meta = std::fs::metadata(dest_path).ok();
    // Where the archive's top entry lands, and whether it is replaced by its contents.
    let (root, contents_only) = match &dest_meta {
        Some(m) if m.is_dir() => {
            if src_dir && (src.ends_with("/.") || src == ".") {
                (dest_path.to_path_buf(), true)
            } else {
                (dest_path.to_path_buf(), false)
            }
        }
        Some(_) if src_dir => bail!("cannot copy directory"),
        Some(_) => (dest_path.to_path_buf(), true),
        None => {
            // As docker's archive.CopyTo: `DIR/.` needs DIR (os.Stat's error), and only a
            // directory may be copied to a missing path that asserts a directory.
            if let Some(d) = dest.strip_suffix("/.") {
                let d = if d.is_empty() { "/" } else { d };
                if let Err(e) = std::fs::metadata(d) {
                    bail!("stat {d}: {}", io_text(&e));
                }
            }
            if !src_dir && asserts_dir(dest) {
                bail!("no such directory");
            }
            let p = Path::new(dest)
                .parent()
                .filter(|p| !p.as_os_str().is_empty());
            if let Some(p) = p
                && !p.is_dir()
            {
                bail!(
                    "invalid output path: directory {:?} does not exist",
                    p.display().to_string()
                );
            }
            (dest_path.to_path_buf(), true)
        }
    };
    let counted = Counter {
        inner: r.body,
        n: 0,
    };
    let mut ar = tar::Archive::new(counted);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    // The archive's top entry: the source's own name (replaced by the destination when
    // only contents go), or "." when the daemon already sent the contents.
    let mut top: Option<Option<std::ffi::OsString>> = None;
    for entry in ar.entries()? {
        let mut e = entry?;
        let p = e.path()?.into_owned();
        let mut comps: Vec<Component> = p
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        if comps
            .iter()
            .any(|c| matches!(c, Component::ParentDir | Component::RootDir))
        {
            bail!("invalid path in archive: {}", p.display());
        }
        if let Some((from, to)) = &rebase
            && comps
                .first()
                .is_some_and(|c| c.as_os_str() == from.as_str())
        {
            comps[0] = Component::Normal(std::ffi::OsStr::new(to.as_str()));
        }
        let top =
            top.get_or_insert_with(|| (comps.len() == 1).then(|| comps[0].as_os_str().to_owned()));
        if contents_only
            && let Some(t) = top
            && comps
                .first()
                .is_some_and(|c| c.as_os_str() == t.as_os_str())
        {
            comps.remove(0);
        }
        let target: PathBuf = comps.iter().fold(root.clone(), |acc, c| acc.join(c));
        if comps.is_empty() && top.is_none() {
            // "." itself: the destination directory.
            std::fs::create_dir_all(&target)?;
            continue;
        }
        if e.header().entry_type().is_dir() && target.is_dir() {
            continue;
        }
        e.unpack(&target)
            .map_err(|err| anyhow!("{}: {}", target.display(), io_text(&err)))?;
    }
    let n = ar.into_inner().n;
    done(a, n.max(stat.size), dest);
    Ok(())
}

struct Counter<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// A tar of a local file or directory whose top entry is named `name` (or, for
/// `contents_only`, of the directory's children).
fn local_tar(src: &Path, name: &str, contents_only: bool, follow: bool) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(follow);
    let meta = if follow {
        std::fs::metadata(src)
    } else {
        std::fs::symlink_metadata(src)
    }
    .map_err(|e| anyhow!("lstat {}: {}", src.display(), io_text(&e)))?;
    if meta.is_dir() {
        if contents_only {
            for ent in std::fs::read_dir(src)? {
                let ent = ent?;
                let p = ent.path();
                let n = ent.file_name();
                if ent.file_type()?.is_dir() {
                    b.append_dir_all(&n, &p)?;
                } else {
                    b.append_path_with_name(&p, &n)?;
                }
            }
        } else {
            b.append_dir_all(name, src)?;
        }
    } else {
        b.append_path_with_name(src, name)?;
    }
    Ok(b.into_inner()?)
}

fn to_container(c: &Client, a: &CpArgs, src: &str, id: &str, dest: &str) -> Result<()> {
    // As docker: a destination that cannot be looked at (`FILE/`) is taken as missing,
    // and the copy goes on (a missing container is still an error).
    let dest_stat = match container_stat(c, id, dest) {
        Ok(s) => s,
        Err(e)
            if e.downcast_ref::<DaemonError>()
                .is_some_and(|d| d.status != 404) =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    let dest_is_dir = dest_stat.as_ref().is_some_and(|s| s.mode & MODE_DIR != 0);
    let (body, into) = if src == "-" {
        if !dest_is_dir {
            bail!("destination \"{id}:{dest}\" must be a directory");
        }
        let mut buf = Vec::new();
        std::io::stdin().lock().read_to_end(&mut buf)?;
        (buf, dest.to_owned())
    } else {
        let sp = Path::new(src);
        // docker's CopyInfoSourcePath: a source that asserts a directory must be one.
        if asserts_dir(src)
            && std::fs::metadata(src.strip_suffix("/.").unwrap_or(src).trim_end_matches('/'))
                .is_ok_and(|m| !m.is_dir())
        {
            bail!("not a directory");
        }
        let meta = std::fs::metadata(sp).map_err(|e| {
            let shown = missing_source(src, a.follow_link);
            anyhow!("lstat {shown}: {}", io_text(&e))
        })?;
        let contents_only = meta.is_dir() && (src.ends_with("/.") || src == ".");
        if dest_is_dir {
            let name = base_name(&std::fs::canonicalize(sp)?.to_string_lossy());
            (
                local_tar(sp, &name, contents_only, a.follow_link)?,
                dest.to_owned(),
            )
        } else {
            if dest_stat.is_some() && meta.is_dir() {
                bail!("cannot copy directory");
            }
            // (archive.PrepareArchiveCopy: only a directory makes a missing one)
            if dest_stat.is_none() && !meta.is_dir() && asserts_dir(dest) {
                bail!("no such directory");
            }
            // The entry gets the destination's name and goes into its parent.
            let name = base_name(dest);
            (local_tar(sp, &name, false, a.follow_link)?, parent(dest))
        }
    };
    let n = body.len() as u64;
    let q = format!(
        "/containers/{}/archive?path={}&noOverwriteDirNonDir=true{}",
        enc(id),
        enc(&into),
        if a.archive { "&copyUIDGID=true" } else { "" }
    );
    c.raw(
        "PUT",
        &q,
        Some(&body),
        &[("Content-Type", "application/x-tar")],
    )?
    .check()
    .map_err(|e| match e.downcast::<DaemonError>() {
        Ok(d) => d.into(),
        Err(e) => e,
    })?
    .bytes()?;
    done(a, n, &format!("{id}:{dest}"));
    Ok(())
}

/// The path docker names when a local source is missing: it makes the path absolute,
/// resolves it (with -L) or its directory (without) component by component and reports
/// the first that is missing, or the resolved directory joined to the base name by a `/`
/// (so `/nonexistent` is reported as `//nonexistent`).
fn missing_source(src: &str, follow: bool) -> String {
    let abs = std::path::absolute(src).unwrap_or_else(|_| Path::new(src).to_path_buf());
    let dir = if follow {
        abs.as_path()
    } else {
        abs.parent().unwrap_or(Path::new("/"))
    };
    if follow {
        // filepath.EvalSymlinks: links followed as they are met, the first missing
        // path reported.
        return match eval_symlinks(&abs, 0) {
            Err(p) => p.display().to_string(),
            Ok(_) => abs.display().to_string(),
        };
    }
    let mut acc = std::path::PathBuf::new();
    for comp in dir.components() {
        acc.push(comp);
        if std::fs::symlink_metadata(&acc).is_err() {
            return acc.display().to_string();
        }
    }
    let base = abs
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    let resolved = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    format!("{}/{base}", resolved.display())
}

/// `p` with its symbolic links resolved, or the first path that does not exist.
fn eval_symlinks(p: &Path, depth: u32) -> Result<PathBuf, PathBuf> {
    let mut acc = PathBuf::new();
    for comp in p.components() {
        match comp {
            Component::Normal(n) => {
                acc.push(n);
                let m = std::fs::symlink_metadata(&acc).map_err(|_| acc.clone())?;
                if m.file_type().is_symlink() && depth < 40 {
                    let t = std::fs::read_link(&acc).map_err(|_| acc.clone())?;
                    let base = acc.parent().unwrap_or(Path::new("/")).to_path_buf();
                    acc = eval_symlinks(&base.join(t), depth + 1)?;
                }
            }
            Component::ParentDir => {
                acc.pop();
            }
            Component::CurDir => {}
            other => acc.push(other),
        }
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_like_docker() {
        assert!(matches!(split("c:/etc"), Loc::Container(c, p) if c == "c" && p == "/etc"));
        assert!(matches!(split("./a:b"), Loc::Local(_)));
        assert!(matches!(split("/tmp/x"), Loc::Local(_)));
        assert!(matches!(split("-"), Loc::Local(_)));
        assert_eq!(base_name("/a/b/"), "b");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b"), "/a");
    }
}
