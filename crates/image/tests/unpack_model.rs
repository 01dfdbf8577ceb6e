//! Property test: applying a random layer gives exactly the tree a simple model of tar +
//! OCI whiteout semantics predicts, or fails exactly when the model says the layer is
//! invalid (an entry below a non-directory).

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use berth_image::unpack::{UnpackOptions, apply_layer};
use common::{Entry, RawTar};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    File(&'static str, u8),
    Dir(&'static str),
    Symlink(&'static str),
    Whiteout(&'static str),
    Opaque(&'static str),
    Hardlink(&'static str, &'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File(Vec<u8>),
    Dir { opaque: bool },
    Symlink(String),
    Whiteout,
}

const PATHS: &[&str] = &["a", "b", "a/x", "a/y", "b/z", "a/x/q"];

fn op() -> impl Strategy<Value = Op> {
    let p = proptest::sample::select(PATHS);
    prop_oneof![
        (p.clone(), any::<u8>()).prop_map(|(p, c)| Op::File(p, c)),
        p.clone().prop_map(Op::Dir),
        p.clone().prop_map(Op::Symlink),
        p.clone().prop_map(Op::Whiteout),
        p.clone().prop_map(Op::Opaque),
        (p.clone(), p).prop_map(|(a, b)| Op::Hardlink(a, b)),
    ]
}

fn parent(p: &str) -> Option<&str> {
    p.rsplit_once('/').map(|(d, _)| d)
}

fn remove_subtree(m: &mut BTreeMap<String, Node>, p: &str) {
    let prefix = format!("{p}/");
    m.retain(|k, _| k != p && !k.starts_with(&prefix));
}

/// Makes the parent directories of `p`; false if one exists as a non-directory.
fn ensure_parents(m: &mut BTreeMap<String, Node>, p: &str) -> bool {
    let mut cur = String::new();
    let Some(par) = parent(p) else { return true };
    for c in par.split('/') {
        if !cur.is_empty() {
            cur.push('/');
        }
        cur.push_str(c);
        match m.get(&cur) {
            Some(Node::Dir { .. }) => {}
            Some(_) => return false,
            None => {
                m.insert(cur.clone(), Node::Dir { opaque: false });
            }
        }
    }
    true
}

/// The model; `None` when the layer must be refused.
fn model(ops: &[Op]) -> Option<BTreeMap<String, Node>> {
    let mut m = BTreeMap::new();
    for op in ops {
        match op {
            Op::File(p, c) => {
                if !ensure_parents(&mut m, p) {
                    return None;
                }
                remove_subtree(&mut m, p);
                m.insert(p.to_string(), Node::File(vec![*c]));
            }
            Op::Symlink(p) => {
                if !ensure_parents(&mut m, p) {
                    return None;
                }
                remove_subtree(&mut m, p);
                m.insert(p.to_string(), Node::Symlink("target".into()));
            }
            Op::Dir(p) => {
                if !ensure_parents(&mut m, p) {
                    return None;
                }
                if !matches!(m.get(*p), Some(Node::Dir { .. })) {
                    remove_subtree(&mut m, p);
                    m.insert(p.to_string(), Node::Dir { opaque: false });
                }
            }
            Op::Whiteout(p) => {
                if !ensure_parents(&mut m, p) {
                    return None;
                }
                remove_subtree(&mut m, p);
                m.insert(p.to_string(), Node::Whiteout);
            }
            Op::Opaque(d) => {
                let marker = format!("{d}/.wh..wh..opq");
                if !ensure_parents(&mut m, &marker) {
                    return None;
                }
                m.insert(d.to_string(), Node::Dir { opaque: true });
            }
            Op::Hardlink(p, target) => {
                // Only to an existing non-directory of this layer, never to itself or into
                // the subtree the link replaces.
                let node = m.get(*target).cloned()?;
                if matches!(node, Node::Dir { .. })
                    || p == target
                    || target.starts_with(&format!("{p}/"))
                {
                    return None;
                }
                if !ensure_parents(&mut m, p) {
                    return None;
                }
                remove_subtree(&mut m, p);
                m.insert(p.to_string(), node);
            }
        }
    }
    Some(m)
}

fn tar_of(ops: &[Op]) -> Vec<u8> {
    let mut t = RawTar::new();
    for op in ops {
        match op {
            Op::File(p, c) => {
                t.file(p, &[*c]);
            }
            Op::Dir(p) => {
                t.dir(p);
            }
            Op::Symlink(p) => {
                t.symlink(p, "target");
            }
            Op::Whiteout(p) => {
                let name = match p.rsplit_once('/') {
                    Some((d, n)) => format!("{d}/.wh.{n}"),
                    None => format!(".wh.{p}"),
                };
                t.file(&name, b"");
            }
            Op::Opaque(d) => {
                t.entry(Entry {
                    name: format!("{d}/.wh..wh..opq").as_bytes(),
                    ..Default::default()
                });
            }
            Op::Hardlink(p, target) => {
                t.hardlink(p, target);
            }
        }
    }
    t.finish()
}

fn observe(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, rel: &str, out: &mut BTreeMap<String, Node>) {
        for e in std::fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let rp = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let p = root.join(&rp);
            let ft = std::fs::symlink_metadata(&p).unwrap().file_type();
            let node = if ft.is_dir() {
                let mut buf = [0u8; 4];
                let opaque = rustix::fs::lgetxattr(&p, "trusted.overlay.opaque", &mut buf)
                    .is_ok_and(|n| &buf[..n] == b"y");
                walk(root, &rp, out);
                Node::Dir { opaque }
            } else if ft.is_symlink() {
                Node::Symlink(
                    std::fs::read_link(&p)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                )
            } else if ft.is_char_device() {
                Node::Whiteout
            } else {
                Node::File(std::fs::read(&p).unwrap())
            };
            out.insert(rp, node);
        }
    }
    walk(root, "", &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn applier_matches_the_model(ops in proptest::collection::vec(op(), 1..12)) {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(&ops);
        let got = apply_layer(&tar[..], t.path(), &UnpackOptions::default());
        match model(&ops) {
            None => prop_assert!(got.is_err(), "model refuses {ops:?}, applier accepted"),
            Some(want) => {
                prop_assert!(got.is_ok(), "{ops:?}: {:?}", got.err());
                prop_assert_eq!(observe(t.path()), want, "{:?}", ops);
            }
        }
    }
}
