//! `COPY` and `ADD`: the sources found in the build context (or in files fetched from
//! another image), packed into one tar whose names are the destinations in the image. The
//! engine extracts that tar at the container's `/` through its own safe extractor, so
//! nothing here writes into a container's filesystem.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::BuildError;

/// What a copy packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// sha256 (hex) of the tar: the step's cache key and its `file:`/`dir:` name.
    pub digest: String,
    /// `file`, `dir` or `multi`, as Docker's history names a copy's source.
    pub kind: &'static str,
}

/// One source after wildcards: its path on the host and its name in the context.
#[derive(Debug, Clone)]
pub struct Source {
    pub host: PathBuf,
    pub name: String,
    /// Downloaded by `ADD URL`: copied as a file even when it is an archive.
    pub downloaded: bool,
}

/// Whether an `ADD` source is a URL (downloaded, not looked up in the context).
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Go's `path.Clean` of a context-relative path, leading `/` and `..` above the root
/// removed (a source can never leave the context).
fn clean_rel(p: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Whether the relative path `p`, cleaned lexically, leaves its starting directory.
fn escapes(p: &str) -> bool {
    let mut depth = 0usize;
    for c in Path::new(p).components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir if depth == 0 => return true,
            Component::ParentDir => depth -= 1,
            _ => {}
        }
    }
    false
}

/// Whether `s` has wildcard characters (`*`, `?`, `[`).
pub fn has_wildcards(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Resolves the sources of one instruction in `root` (the context), wildcards expanded.
pub fn resolve_sources(
    root: &Path,
    srcs: &[String],
    what: &str,
) -> Result<Vec<Source>, BuildError> {
    let canon_root = root
        .canonicalize()
        .map_err(BuildError::io("build context"))?;
    let mut out = Vec::new();
    for s in srcs {
        // A relative source that climbs above the context is refused, as dockerd joins it
        // to the context directory (an absolute one is rooted there, so `/../x` is `x`).
        if !s.starts_with('/') && escapes(s) {
            return Err(BuildError::Invalid(format!(
                "{what} failed: forbidden path outside the build context: {s} ()"
            )));
        }
        let rel = clean_rel(s);
        let names: Vec<PathBuf> = if has_wildcards(s) {
            let mut found = Vec::new();
            glob(&canon_root, PathBuf::new(), &rel, &mut found)?;
            found.sort();
            found
        } else {
            vec![rel]
        };
        if names.is_empty() {
            return Err(BuildError::Invalid(format!(
                "{what} failed: no source files were specified"
            )));
        }
        for rel in names {
            let host = canon_root.join(&rel);
            if std::fs::symlink_metadata(&host).is_err() {
                return Err(BuildError::Invalid(format!(
                    "{what} failed: file not found in build context or excluded by .dockerignore: stat {}: file does not exist",
                    rel.display()
                )));
            }
            // The source itself may be a symlink: followed, but only within the context.
            let real = host.canonicalize().map_err(BuildError::io("source"))?;
            if !real.starts_with(&canon_root) {
                return Err(BuildError::Invalid(format!(
                    "{what} failed: forbidden path outside the build context: {s} ()"
                )));
            }
            out.push(Source {
                host: real,
                name: rel.display().to_string(),
                downloaded: false,
            });
        }
    }
    Ok(out)
}

/// Finds context paths matching `pattern` (relative components), one level at a time.
fn glob(
    root: &Path,
    at: PathBuf,
    pattern: &Path,
    out: &mut Vec<PathBuf>,
) -> Result<(), BuildError> {
    let mut comps = pattern.components();
    let Some(first) = comps.next() else {
        out.push(at);
        return Ok(());
    };
    let rest = comps.as_path();
    let pat = first.as_os_str().to_string_lossy();
    let dir = root.join(&at);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if wild_match(pat.as_bytes(), name.as_bytes()) {
            glob(root, at.join(&name), rest, out)?;
        }
    }
    Ok(())
}

/// Go's `filepath.Match` for one path segment: `*`, `?`, `[...]` with ranges and `^`/`!`,
/// `\` escaping.
pub fn wild_match(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|k| wild_match(&p[1..], &s[k..])),
        Some(b'?') => !s.is_empty() && wild_match(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some((&c, rest_s)) = s.split_first() else {
                return false;
            };
            let mut i = 1;
            let negate = matches!(p.get(1), Some(b'^' | b'!'));
            if negate {
                i += 1;
            }
            let mut hit = false;
            let mut first = true;
            while i < p.len() && (first || p[i] != b']') {
                first = false;
                let lo = if p[i] == b'\\' && i + 1 < p.len() {
                    i += 1;
                    p[i]
                } else {
                    p[i]
                };
                let mut hi = lo;
                if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&x| x != b']') {
                    hi = p[i + 2];
                    i += 2;
                }
                if lo <= c && c <= hi {
                    hit = true;
                }
                i += 1;
            }
            if i >= p.len() {
                return false;
            }
            hit != negate && wild_match(&p[i + 1..], rest_s)
        }
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && wild_match(&p[2..], &s[1..]),
        Some(&c) => s.first() == Some(&c) && wild_match(&p[1..], &s[1..]),
    }
}

/// Hashes what passes through to the file.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where one source goes: `dest` is the instruction's destination (absolute, cleaned),
/// `dest_dir` whether it names a directory (a trailing `/`, several sources, or an
/// existing directory in the image).
pub fn pack(
    sources: &[Source],
    dest: &str,
    dest_dir: bool,
    add: bool,
    out: &Path,
) -> Result<Packed, BuildError> {
    let f = File::create(out).map_err(BuildError::io("copy archive"))?;
    let mut b = tar::Builder::new(Hashing {
        inner: BufWriter::new(f),
        hash: Sha256::new(),
    });
    b.follow_symlinks(false);
    let dest_rel = dest
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned();
    let join = |a: &str, n: &str| {
        if a.is_empty() {
            n.to_owned()
        } else {
            format!("{a}/{n}")
        }
    };
    let mut kind = if sources.len() > 1 { "multi" } else { "file" };
    for s in sources {
        let md = std::fs::symlink_metadata(&s.host).map_err(BuildError::io("source"))?;
        if md.is_dir() {
            if sources.len() == 1 {
                kind = "dir";
            }
            add_children(&mut b, &s.host, &dest_rel)?;
        } else if add && !s.downloaded && md.is_file() && is_archive(&s.host) {
            extract_into(&mut b, &s.host, &dest_rel)?;
        } else {
            let base = Path::new(&s.name)
                .file_name()
                .map_or_else(|| s.name.clone(), |n| n.to_string_lossy().into_owned());
            let name = if dest_dir {
                join(&dest_rel, &base)
            } else {
                dest_rel.clone()
            };
            if name.is_empty() {
                return Err(BuildError::Invalid(format!(
                    "cannot copy {} onto /",
                    s.name
                )));
            }
            b.append_path_with_name(&s.host, &name)
                .map_err(BuildError::io(format!("pack {}", s.name)))?;
        }
    }
    let mut h = b.into_inner().map_err(BuildError::io("copy archive"))?;
    h.flush().map_err(BuildError::io("copy archive"))?;
    Ok(Packed {
        digest: hex::encode(h.hash.finalize()),
        kind,
    })
}

/// A tar of empty directories (absolute paths, parents first): 0755, root's, modified now.
pub fn pack_dirs(dirs: &[String], out: &Path) -> Result<(), BuildError> {
    let f = File::create(out).map_err(BuildError::io("workdir archive"))?;
    let mut b = tar::Builder::new(BufWriter::new(f));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(now);
        h.set_size(0);
        b.append_data(
            &mut h,
            format!("{}/", d.trim_start_matches('/')),
            io::empty(),
        )
        .map_err(BuildError::io("workdir archive"))?;
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(BuildError::io("workdir archive"))
}

/// A directory's contents (not the directory itself), sorted, under `dest`.
fn add_children<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &Path,
    dest: &str,
) -> Result<(), BuildError> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(BuildError::io(format!("read {}", dir.display())))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for n in names {
        let host = dir.join(&n);
        let name = if dest.is_empty() {
            n.to_string_lossy().into_owned()
        } else {
            format!("{dest}/{}", n.to_string_lossy())
        };
        b.append_path_with_name(&host, &name)
            .map_err(BuildError::io(format!("pack {}", host.display())))?;
        let md = std::fs::symlink_metadata(&host).map_err(BuildError::io("source"))?;
        if md.is_dir() {
            add_children(b, &host, &name)?;
        }
    }
    Ok(())
}

/// A local tar (plain, gzip or zstd) that `ADD` unpacks instead of copying.
fn is_archive(p: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut f) = File::open(p) else {
        return false;
    };
    let n = read_full(&mut f, &mut head);
    head[..n].starts_with(&[0x1f, 0x8b])
        || head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (n >= 262 && &head[257..262] == b"ustar")
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// Re-packs an archive's entries under `dest`.
fn extract_into<W: Write>(
    b: &mut tar::Builder<W>,
    src: &Path,
    dest: &str,
) -> Result<(), BuildError> {
    let mut f = File::open(src).map_err(BuildError::io("ADD archive"))?;
    let mut magic = [0u8; 4];
    let n = read_full(&mut f, &mut magic);
    let f = File::open(src).map_err(BuildError::io("ADD archive"))?;
    let r: Box<dyn Read> = if magic[..n].starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else if magic[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::new(f).map_err(BuildError::io("ADD archive"))?)
    } else {
        Box::new(f)
    };
    let mut a = tar::Archive::new(r);
    let bad = BuildError::io(format!("ADD {}", src.display()));
    for e in a.entries().map_err(bad)? {
        let mut e = e.map_err(BuildError::io("ADD archive entry"))?;
        let path = e.path().map_err(BuildError::io("ADD archive entry"))?;
        let rel = clean_rel(&path.to_string_lossy());
        if rel.as_os_str().is_empty() {
            continue;
        }
        let name = if dest.is_empty() {
            rel.display().to_string()
        } else {
            format!("{dest}/{}", rel.display())
        };
        let mut h = e.header().clone();
        if let Ok(Some(link)) = e.link_name()
            && h.entry_type().is_hard_link()
        {
            // Hard links name another entry: moved under `dest` with it.
            let target = format!("{dest}/{}", clean_rel(&link.to_string_lossy()).display());
            b.append_link(&mut h, &name, target.trim_start_matches('/'))
                .map_err(BuildError::io("ADD archive entry"))?;
            continue;
        }
        b.append_data(&mut h, &name, &mut e)
            .map_err(BuildError::io("ADD archive entry"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_path: &Path) -> Vec<String> {
        let mut a = tar::Archive::new(File::open(tar_path).unwrap());
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn wildcards_as_go() {
        assert!(wild_match(b"*.txt", b"a.txt"));
        assert!(!wild_match(b"*.txt", b"a.txt.gz"));
        assert!(wild_match(b"a?c", b"abc"));
        assert!(wild_match(b"[a-c]x", b"bx"));
        assert!(!wild_match(b"[^a-c]x", b"bx"));
        assert!(wild_match(b"\\*", b"*"));
    }

    #[test]
    fn sources_destinations_and_escapes() {
        let d = tempfile::tempdir().unwrap();
        let ctx = d.path().join("ctx");
        std::fs::create_dir_all(ctx.join("dir/sub")).unwrap();
        std::fs::write(ctx.join("a.txt"), "a").unwrap();
        std::fs::write(ctx.join("b.txt"), "b").unwrap();
        std::fs::write(ctx.join("dir/sub/c"), "c").unwrap();
        std::fs::write(d.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("../secret", ctx.join("out")).unwrap();
        let out = d.path().join("t.tar");

        let s = resolve_sources(&ctx, &["*.txt".into()], "COPY").unwrap();
        assert_eq!(s.len(), 2);
        let p = pack(&s, "/x/", true, false, &out).unwrap();
        assert_eq!(p.kind, "multi");
        assert_eq!(names(&out), ["x/a.txt", "x/b.txt"]);

        let s = resolve_sources(&ctx, &["a.txt".into()], "COPY").unwrap();
        pack(&s, "/etc/renamed", false, false, &out).unwrap();
        assert_eq!(names(&out), ["etc/renamed"]);

        let s = resolve_sources(&ctx, &["dir".into()], "COPY").unwrap();
        let p = pack(&s, "/app", true, false, &out).unwrap();
        assert_eq!(p.kind, "dir");
        assert_eq!(names(&out), ["app/sub", "app/sub/c"]);
        // The same content packs to the same digest (the cache key).
        assert_eq!(pack(&s, "/app", true, false, &out).unwrap(), p);

        let e = resolve_sources(&ctx, &["out".into()], "COPY").unwrap_err();
        assert!(e.to_string().contains("outside the build context"), "{e}");
        let e = resolve_sources(&ctx, &["../secret".into()], "COPY").unwrap_err();
        assert!(e.to_string().contains("outside the build context"), "{e}");
        let e = resolve_sources(&ctx, &["/../secret".into()], "COPY").unwrap_err();
        assert!(e.to_string().contains("file not found"), "{e}");
        let e = resolve_sources(&ctx, &["*.none".into()], "COPY").unwrap_err();
        assert!(e.to_string().contains("no source files"), "{e}");
    }

    #[test]
    fn add_unpacks_local_archives() {
        let d = tempfile::tempdir().unwrap();
        let ctx = d.path().join("ctx");
        std::fs::create_dir_all(&ctx).unwrap();
        let gz = File::create(ctx.join("a.tar.gz")).unwrap();
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(gz, Default::default()));
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, "in/f", &b"hi"[..]).unwrap();
        b.into_inner().unwrap().finish().unwrap();
        let s = resolve_sources(&ctx, &["a.tar.gz".into()], "ADD").unwrap();
        let out = d.path().join("t.tar");
        pack(&s, "/opt/", true, true, &out).unwrap();
        assert_eq!(names(&out), ["opt/in/f"]);
        pack(&s, "/opt/", true, false, &out).unwrap();
        assert_eq!(names(&out), ["opt/a.tar.gz"]);
    }
}
