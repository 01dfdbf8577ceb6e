//! Mutation fuzzing of the applier: random byte flips and truncations of a layer that uses
//! long names, PAX records, symlinks pointing outside and hardlinks. Whatever the bytes,
//! the applier returns (no panic) and nothing outside the layer directory changes.

mod common;

use berth_image::unpack::{UnpackOptions, apply_layer};
use common::{Entry, RawTar, Sandbox};
use proptest::prelude::*;

fn seed_layer() -> Vec<u8> {
    let long = format!("d/{}", "n".repeat(120));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1);
    h.set_size(3);
    b.append_data(&mut h.clone(), &long, &b"abc"[..]).unwrap();
    b.append_pax_extensions([("SCHILY.xattr.user.k", b"v".as_slice()), ("mtime", b"5.5")])
        .unwrap();
    b.append_data(&mut h.clone(), "d/pax", &b"xyz"[..]).unwrap();
    let mut inner = b.into_inner().unwrap();
    let mut raw = RawTar::new();
    raw.symlink("up", "../outside")
        .symlink("abs", "/")
        .hardlink("d/hl", "d/pax")
        .entry(Entry {
            name: b"fifo",
            kind: b'6',
            ..Default::default()
        })
        .file("d/.wh.gone", b"")
        .file("plain", b"0123456789");
    inner.extend_from_slice(&raw.finish());
    inner
}

/// Offsets of every header block in the seed (raw iteration: extension headers too).
fn header_offsets(data: &[u8]) -> Vec<usize> {
    let mut ar = tar::Archive::new(data);
    ar.entries()
        .unwrap()
        .raw(true)
        .map(|e| e.unwrap().raw_header_position() as usize)
        .collect()
}

/// Rewrites the checksum of each header block so mutations get past the checksum test
/// and reach the deeper parsing and the applier.
fn fix_checksums(data: &mut [u8], offsets: &[usize]) {
    for &o in offsets {
        if o + 512 > data.len() {
            continue;
        }
        let block = &mut data[o..o + 512];
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        block[148..156].copy_from_slice(s.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn mutated_layers_never_escape_or_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in proptest::option::of(any::<prop::sample::Index>()),
        fix in any::<bool>(),
    ) {
        let mut data = seed_layer();
        let offsets = header_offsets(&data);
        for (at, byte) in flips {
            // Mostly hit header blocks, where the parsing is.
            let i = if fix {
                let h = offsets[at.index(offsets.len())];
                h + (usize::from(byte) * 7 + at.index(512)) % 512
            } else {
                at.index(data.len())
            };
            data[i] = byte;
        }
        if fix {
            fix_checksums(&mut data, &offsets);
        }
        if let Some(c) = cut {
            data.truncate(c.index(data.len()));
        }
        let sb = Sandbox::new();
        let opts = UnpackOptions { max_size: 1 << 20, ..Default::default() };
        let _ = apply_layer(&data[..], &sb.layer(), &opts);
        sb.assert_outside_untouched();
    }
}
