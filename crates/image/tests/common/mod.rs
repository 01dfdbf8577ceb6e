//! Helpers shared by the integration tests: hand-built (and deliberately broken) tars, and
//! a check that nothing was written outside a layer directory.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A tar stream assembled header by header, so tests can write what `tar::Builder` refuses.
#[derive(Default)]
pub struct RawTar {
    pub bytes: Vec<u8>,
}

pub struct Entry<'a> {
    pub name: &'a [u8],
    pub kind: u8,
    pub data: &'a [u8],
    pub link: &'a [u8],
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub dev: (u32, u32),
    /// Size written into the header (defaults to data length).
    pub size: Option<u64>,
}

impl Default for Entry<'_> {
    fn default() -> Self {
        Entry {
            name: b"",
            kind: b'0',
            data: b"",
            link: b"",
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            dev: (0, 0),
            size: None,
        }
    }
}

impl RawTar {
    pub fn new() -> Self {
        RawTar::default()
    }

    pub fn entry(&mut self, e: Entry<'_>) -> &mut Self {
        let mut h = tar::Header::new_ustar();
        {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..e.name.len()].copy_from_slice(e.name);
            old.linkname = [0; 100];
            old.linkname[..e.link.len()].copy_from_slice(e.link);
        }
        h.set_entry_type(tar::EntryType::new(e.kind));
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.size.unwrap_or(e.data.len() as u64));
        if e.kind == b'3' || e.kind == b'4' {
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
        }
        h.set_cksum();
        self.bytes.extend_from_slice(h.as_bytes());
        self.bytes.extend_from_slice(e.data);
        let pad = (512 - e.data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(Entry {
            name: name.as_bytes(),
            data,
            ..Default::default()
        })
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(Entry {
            name: name.as_bytes(),
            kind: b'5',
            mode: 0o755,
            ..Default::default()
        })
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(Entry {
            name: name.as_bytes(),
            kind: b'2',
            link: target.as_bytes(),
            mode: 0o777,
            ..Default::default()
        })
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(Entry {
            name: name.as_bytes(),
            kind: b'1',
            link: target.as_bytes(),
            ..Default::default()
        })
    }

    /// A PAX extended header applying to the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            data.extend(pax_record(k, v));
        }
        self.entry(Entry {
            name: b"PaxHeaders/x",
            kind: b'x',
            data: &data,
            ..Default::default()
        })
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = self.bytes.clone();
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }
}

/// `"<len> key=value\n"` where len counts the whole record.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len.to_string().len() + body != len {
        len = len.to_string().len() + body;
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// A scratch area: `<tmp>/layer` is where layers go, `<tmp>/outside` holds a sentinel.
pub struct Sandbox {
    pub tmp: tempfile::TempDir,
    before: BTreeMap<PathBuf, (u64, u32, i64)>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("layer")).unwrap();
        std::fs::create_dir(tmp.path().join("outside")).unwrap();
        std::fs::write(tmp.path().join("outside/secret"), b"secret").unwrap();
        let before = outside_state(tmp.path());
        Sandbox { tmp, before }
    }

    pub fn layer(&self) -> PathBuf {
        self.tmp.path().join("layer")
    }

    pub fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }

    /// Fails if anything outside `layer/` was created, removed or changed.
    pub fn assert_outside_untouched(&self) {
        let after = outside_state(self.tmp.path());
        assert_eq!(
            self.before, after,
            "something outside the layer directory changed"
        );
        assert_eq!(
            std::fs::read(self.outside().join("secret")).unwrap(),
            b"secret"
        );
    }
}

fn outside_state(root: &Path) -> BTreeMap<PathBuf, (u64, u32, i64)> {
    let mut out = BTreeMap::new();
    fn walk(p: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, (u64, u32, i64)>) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if path == skip {
                continue;
            }
            let m = std::fs::symlink_metadata(&path).unwrap();
            out.insert(path.clone(), (m.len(), m.mode(), m.mtime()));
            if m.is_dir() {
                walk(&path, skip, out);
            }
        }
    }
    walk(root, &root.join("layer"), &mut out);
    out
}

pub mod image;
pub mod proxy;
pub mod registry;

/// Incompressible bytes (xorshift), so compressed layers stay large.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
pub mod gateway;
pub mod token;
