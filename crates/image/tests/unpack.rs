//! The layer applier against malicious and well-formed layers. Every malicious case asserts
//! that the layer is refused or contained and that nothing outside the layer dir changed.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_image::digest::Digest;
use berth_image::unpack::{Compression, UnpackError, UnpackOptions, apply_layer};
use common::{Entry, RawTar, Sandbox, gzip, zstd};

fn apply(sb: &Sandbox, data: &[u8]) -> Result<berth_image::unpack::LayerStats, UnpackError> {
    apply_layer(data, &sb.layer(), &UnpackOptions::default())
}

#[test]
fn dotdot_entries_are_refused() {
    for name in ["../outside/pwned", "a/../../outside/pwned", "./../pwned"] {
        let sb = Sandbox::new();
        let tar = RawTar::new().file(name, b"x").finish();
        let err = apply(&sb, &tar).unwrap_err();
        assert!(
            matches!(err, UnpackError::UnsafePath { .. }),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(".."), "{err}");
        sb.assert_outside_untouched();
    }
}

#[test]
fn absolute_paths_are_contained_in_the_layer() {
    let sb = Sandbox::new();
    let abs = sb.outside().join("pwned");
    let tar = RawTar::new().file(abs.to_str().unwrap(), b"x").finish();
    apply(&sb, &tar).unwrap();
    assert!(!abs.exists());
    let inside = sb.layer().join(abs.strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(inside).unwrap(), b"x");
    sb.assert_outside_untouched();
}

#[test]
fn symlink_planted_in_same_layer_is_not_written_through() {
    for target in ["../outside", "../../outside", "/"] {
        let sb = Sandbox::new();
        let abs_target = sb.outside();
        let target = if target == "/" {
            abs_target.to_str().unwrap().to_owned()
        } else {
            target.to_owned()
        };
        let tar = RawTar::new()
            .symlink("evil", &target)
            .file("evil/pwned", b"x")
            .finish();
        let err = apply(&sb, &tar).unwrap_err();
        assert!(
            matches!(err, UnpackError::UnsafePath { reason, .. } if reason.contains("symlink")),
            "{target}: {err}"
        );
        sb.assert_outside_untouched();
    }
}

#[test]
fn directory_entry_through_planted_symlink_is_refused() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .symlink("evil", sb.outside().to_str().unwrap())
        .dir("evil/sub/")
        .finish();
    assert!(apply(&sb, &tar).is_err());
    sb.assert_outside_untouched();
}

#[test]
fn symlink_from_a_lower_layer_is_not_written_through() {
    let sb = Sandbox::new();
    let lower = RawTar::new()
        .symlink("evil", sb.outside().to_str().unwrap())
        .symlink("rel", "../outside")
        .finish();
    apply(&sb, &lower).unwrap();
    // Applied over the same directory (as a flattening export would): refused.
    for name in ["evil/pwned", "rel/pwned", "evil/secret"] {
        let upper = RawTar::new().file(name, b"x").finish();
        let err = apply(&sb, &upper).unwrap_err();
        assert!(matches!(err, UnpackError::UnsafePath { .. }), "{err}");
    }
    // Applied into its own snapshot dir (the normal case): `evil` is just a directory there.
    let own = sb.tmp.path().join("layer").join("upper-snapshot");
    std::fs::create_dir(&own).unwrap();
    let upper = RawTar::new().file("evil/pwned", b"x").finish();
    apply_layer(&upper[..], &own, &UnpackOptions::default()).unwrap();
    assert!(own.join("evil/pwned").is_file());
    sb.assert_outside_untouched();
}

#[test]
fn file_replacing_a_symlink_replaces_the_link_not_its_target() {
    let sb = Sandbox::new();
    let secret = sb.outside().join("secret");
    let tar = RawTar::new()
        .symlink("x", secret.to_str().unwrap())
        .file("x", b"overwritten?")
        .symlink("y", "../outside/secret")
        .hardlink("y", "x")
        .finish();
    apply(&sb, &tar).unwrap();
    let m = std::fs::symlink_metadata(sb.layer().join("x")).unwrap();
    assert!(m.is_file());
    assert_eq!(
        std::fs::read(sb.layer().join("y")).unwrap(),
        b"overwritten?"
    );
    sb.assert_outside_untouched();
}

#[test]
fn hardlinks_to_outside_are_refused() {
    let sb = Sandbox::new();
    let secret = sb.outside().join("secret");
    let cases: Vec<Vec<u8>> = vec![
        RawTar::new().hardlink("h", "../outside/secret").finish(),
        RawTar::new()
            .hardlink("h", secret.to_str().unwrap())
            .finish(),
        RawTar::new()
            .symlink("s", sb.outside().to_str().unwrap())
            .hardlink("h", "s/secret")
            .finish(),
        RawTar::new().dir("d").hardlink("h", "d").finish(),
    ];
    for tar in cases {
        let err = apply(&sb, &tar).unwrap_err();
        assert!(
            matches!(
                err,
                UnpackError::UnsafePath { .. } | UnpackError::HardlinkTarget { .. }
            ),
            "{err}"
        );
        assert!(!sb.layer().join("h").exists());
    }
    // The secret's link count would go up if it had been linked anywhere.
    assert_eq!(std::fs::metadata(&secret).unwrap().nlink(), 1);
    sb.assert_outside_untouched();
}

#[test]
fn hardlink_to_a_symlink_links_the_symlink_itself() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .symlink("s", sb.outside().join("secret").to_str().unwrap())
        .hardlink("h", "s")
        .finish();
    apply(&sb, &tar).unwrap();
    let m = std::fs::symlink_metadata(sb.layer().join("h")).unwrap();
    assert!(m.file_type().is_symlink());
    assert_eq!(
        std::fs::metadata(sb.outside().join("secret"))
            .unwrap()
            .nlink(),
        1
    );
    sb.assert_outside_untouched();
}

#[test]
fn decompression_bomb_stops_at_the_cap() {
    let sb = Sandbox::new();
    let zeros = vec![0u8; 64 << 20];
    let tar = RawTar::new().file("bomb", &zeros).finish();
    let gz = gzip(&tar);
    assert!(gz.len() < 1 << 20, "the bomb should compress well");
    let opts = UnpackOptions {
        max_size: 8 << 20,
        ..Default::default()
    };
    let err = apply_layer(&gz[..], &sb.layer(), &opts).unwrap_err();
    assert!(
        matches!(err, UnpackError::TooLarge { cap } if cap == 8 << 20),
        "{err}"
    );
    let written = std::fs::metadata(sb.layer().join("bomb")).map_or(0, |m| m.len());
    assert!(written <= 8 << 20);
    sb.assert_outside_untouched();
}

#[test]
fn too_many_entries_are_refused() {
    let sb = Sandbox::new();
    let mut t = RawTar::new();
    for i in 0..20 {
        t.file(&format!("f{i}"), b"");
    }
    let opts = UnpackOptions {
        max_entries: 10,
        ..Default::default()
    };
    let err = apply_layer(&t.finish()[..], &sb.layer(), &opts).unwrap_err();
    assert!(
        matches!(err, UnpackError::TooManyEntries { cap: 10 }),
        "{err}"
    );
    sb.assert_outside_untouched();
}

#[test]
fn truncated_and_corrupt_gzip_are_errors() {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let tar = RawTar::new().file("a", &big).file("b", b"tail").finish();
    let gz = gzip(&tar);
    let sb = Sandbox::new();
    let err = apply(&sb, &gz[..gz.len() / 2]).unwrap_err();
    assert!(
        matches!(err, UnpackError::Stream(_) | UnpackError::Truncated { .. }),
        "{err}"
    );
    let sb = Sandbox::new();
    let err = apply(&sb, &gz[..gz.len() - 4]).unwrap_err();
    assert!(
        matches!(err, UnpackError::Stream(_)),
        "missing trailer: {err}"
    );
    let sb = Sandbox::new();
    let mut bad = gz.clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let err = apply(&sb, &bad).unwrap_err();
    assert!(
        matches!(err, UnpackError::Stream(_) | UnpackError::Tar(_)),
        "{err}"
    );
    sb.assert_outside_untouched();
}

#[test]
fn truncated_plain_tar_is_an_error() {
    let sb = Sandbox::new();
    let tar = RawTar::new().file("a", &[1u8; 5000]).finish();
    let err = apply(&sb, &tar[..512 + 1000]).unwrap_err();
    assert!(matches!(err, UnpackError::Truncated { .. }), "{err}");
    sb.assert_outside_untouched();
}

#[test]
fn digest_and_diff_id_mismatches_are_errors() {
    let tar = RawTar::new().file("a", b"hello").finish();
    let gz = gzip(&tar);
    let sb = Sandbox::new();
    let opts = UnpackOptions {
        expected_digest: Some(Digest::of(b"something else")),
        ..Default::default()
    };
    let err = apply_layer(&gz[..], &sb.layer(), &opts).unwrap_err();
    assert!(matches!(err, UnpackError::DigestMismatch { .. }), "{err}");
    let opts = UnpackOptions {
        expected_diff_id: Some(Digest::of(b"something else")),
        ..Default::default()
    };
    let err = apply_layer(&gz[..], &sb.layer(), &opts).unwrap_err();
    assert!(matches!(err, UnpackError::DiffIdMismatch { .. }), "{err}");
    let opts = UnpackOptions {
        expected_digest: Some(Digest::of(&gz)),
        expected_diff_id: Some(Digest::of(&tar)),
        ..Default::default()
    };
    apply_layer(&gz[..], &sb.layer(), &opts).unwrap();
    sb.assert_outside_untouched();
}

#[test]
fn pax_size_disagreeing_with_header_is_refused() {
    // The TARmageddon shape: PAX says 0 bytes, ustar says 1024 — a parser trusting one or
    // the other sees a different next header. Both directions must fail.
    for (pax, ustar) in [(b"0".as_slice(), 1024u64), (b"2048".as_slice(), 512u64)] {
        let sb = Sandbox::new();
        let inner = RawTar::new().file("../../smuggled", b"x").bytes.clone();
        let mut payload = inner.clone();
        payload.resize(ustar as usize, 0);
        let tar = RawTar::new()
            .pax(&[("size", pax)])
            .entry(Entry {
                name: b"innocent",
                data: &payload,
                ..Default::default()
            })
            .finish();
        let err = apply(&sb, &tar).unwrap_err();
        assert!(matches!(err, UnpackError::PaxSizeMismatch { .. }), "{err}");
        sb.assert_outside_untouched();
    }
}

#[test]
fn malformed_headers_are_errors_not_skipped() {
    // Bad PAX record length.
    let sb = Sandbox::new();
    let mut t = RawTar::new();
    t.entry(Entry {
        name: b"PaxHeaders/x",
        kind: b'x',
        data: b"999 size=1\n",
        ..Default::default()
    })
    .file("a", b"x");
    assert!(apply(&sb, &t.finish()).is_err());
    // Non-numeric PAX size.
    let tar = RawTar::new()
        .pax(&[("size", b"12abc")])
        .file("a", b"x")
        .finish();
    let err = apply(&sb, &tar).unwrap_err();
    assert!(matches!(err, UnpackError::Malformed { .. }), "{err}");
    // Checksum mismatch.
    let mut tar = RawTar::new().file("a", b"x").finish();
    tar[0] = b'b';
    let err = apply(&sb, &tar).unwrap_err();
    assert!(matches!(err, UnpackError::Tar(_)), "{err}");
    // Unknown entry type and GNU sparse files.
    for kind in [b'S', b'V', b'Z'] {
        let tar = RawTar::new()
            .entry(Entry {
                name: b"odd",
                kind,
                ..Default::default()
            })
            .finish();
        assert!(apply(&sb, &tar).is_err(), "kind {}", kind as char);
    }
    sb.assert_outside_untouched();
}

#[test]
fn empty_id_fields_read_as_root_and_pax_ids_and_times_override_the_header() {
    // Some writers leave uid/gid (even mode) as NULs or spaces; Go's reader, and so
    // dockerd, take them as 0. Garbage is still refused.
    let sb = Sandbox::new();
    let mut tar = RawTar::new().file("blank", b"x").finish();
    tar[108..116].fill(0);
    tar[116..124].copy_from_slice(b"        ");
    let mut h = tar::Header::from_byte_slice(&tar[..512]).clone();
    h.set_cksum();
    tar[..512].copy_from_slice(h.as_bytes());
    apply(&sb, &tar).unwrap();
    let m = std::fs::symlink_metadata(sb.layer().join("blank")).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0));
    tar[108..116].copy_from_slice(b"12x\0\0\0\0\0");
    h = tar::Header::from_byte_slice(&tar[..512]).clone();
    h.set_cksum();
    tar[..512].copy_from_slice(h.as_bytes());
    let err = apply(&Sandbox::new(), &tar).unwrap_err();
    assert!(err.to_string().contains("bad uid"), "{err}");
    // PAX records beyond the octal fields' range, and a time with a fraction.
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .pax(&[
            ("uid", b"3000000"),
            ("gid", b"3000001"),
            ("mtime", b"1700000000.25"),
        ])
        .file("big", b"x")
        .finish();
    apply(&sb, &tar).unwrap();
    let m = std::fs::symlink_metadata(sb.layer().join("big")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mtime()),
        (3_000_000, 3_000_001, 1_700_000_000)
    );
    let tar = RawTar::new()
        .pax(&[("uid", b"-1")])
        .file("neg", b"x")
        .finish();
    let err = apply(&Sandbox::new(), &tar).unwrap_err();
    assert!(matches!(err, UnpackError::Malformed { .. }), "{err}");
    sb.assert_outside_untouched();
}

#[test]
fn overlay_xattrs_in_a_layer_are_dropped() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .pax(&[
            ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
            ("SCHILY.xattr.user.ok", b"1"),
        ])
        .dir("d")
        .finish();
    apply(&sb, &tar).unwrap();
    let d = sb.layer().join("d");
    assert!(get_xattr(&d, "trusted.overlay.redirect").is_none());
    assert_eq!(get_xattr(&d, "user.ok").as_deref(), Some(b"1".as_slice()));
    sb.assert_outside_untouched();
}

fn get_xattr(p: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(p, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// A layer using every entry type, built once and applied plain, gzip and zstd.
fn every_type_layer() -> Vec<u8> {
    let long = format!("d/{}", "l".repeat(150));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_uid(1000);
    h.set_gid(1001);
    h.set_mtime(1_000_000);
    h.set_size(0);
    b.append_data(&mut h.clone(), "d/", &[][..]).unwrap();
    b.append_pax_extensions([("SCHILY.xattr.user.test", b"val".as_slice())])
        .unwrap();
    let mut f = tar::Header::new_gnu();
    f.set_entry_type(tar::EntryType::Regular);
    f.set_mode(0o4755);
    f.set_uid(1000);
    f.set_gid(1001);
    f.set_mtime(2_000_000);
    f.set_size(5);
    b.append_data(&mut f.clone(), "d/f", &b"hello"[..]).unwrap();
    f.set_size(0);
    f.set_mode(0o600);
    b.append_data(&mut f.clone(), "d/empty", &[][..]).unwrap();
    f.set_size(3);
    b.append_data(&mut f.clone(), &long, &b"abc"[..]).unwrap();
    let mut s = tar::Header::new_gnu();
    s.set_entry_type(tar::EntryType::Symlink);
    s.set_mode(0o777);
    s.set_uid(1000);
    s.set_gid(1001);
    s.set_mtime(3_000_000);
    s.set_size(0);
    b.append_link(&mut s.clone(), "d/s", "f").unwrap();
    b.append_link(&mut s.clone(), "abs", "/etc/passwd").unwrap();
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(tar::EntryType::Link);
    l.set_size(0);
    l.set_mode(0o644);
    l.set_uid(0);
    l.set_gid(0);
    l.set_mtime(0);
    b.append_link(&mut l, "d/h", "d/f").unwrap();
    for (name, kind, maj, min, mode) in [
        ("dev/null", tar::EntryType::Char, 1, 3, 0o666),
        ("dev/loopx", tar::EntryType::Block, 7, 200, 0o660),
        ("fifo", tar::EntryType::Fifo, 0, 0, 0o640),
    ] {
        let mut n = tar::Header::new_gnu();
        n.set_entry_type(kind);
        n.set_mode(mode);
        n.set_size(0);
        n.set_uid(0);
        n.set_gid(0);
        n.set_mtime(4_000_000);
        n.set_device_major(maj).unwrap();
        n.set_device_minor(min).unwrap();
        b.append_data(&mut n, name, &[][..]).unwrap();
    }
    let mut w = tar::Header::new_gnu();
    w.set_entry_type(tar::EntryType::Regular);
    w.set_size(0);
    w.set_mode(0o644);
    w.set_uid(0);
    w.set_gid(0);
    w.set_mtime(0);
    b.append_data(&mut w.clone(), "d/.wh.gone", &[][..])
        .unwrap();
    let mut o = h.clone();
    o.set_mode(0o755);
    b.append_data(&mut o, "o/", &[][..]).unwrap();
    b.append_data(&mut w, "o/.wh..wh..opq", &[][..]).unwrap();
    b.into_inner().unwrap()
}

fn check_every_type(root: &std::path::Path) {
    let meta = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap();
    let d = meta("d");
    assert!(d.is_dir());
    assert_eq!((d.mode() & 0o7777, d.uid(), d.gid()), (0o750, 1000, 1001));
    assert_eq!(
        d.mtime(),
        1_000_000,
        "dir mtime is applied after its children"
    );
    let f = meta("d/f");
    assert_eq!((f.mode() & 0o7777, f.uid(), f.gid()), (0o4755, 1000, 1001));
    assert_eq!(f.mtime(), 2_000_000);
    assert_eq!(std::fs::read(root.join("d/f")).unwrap(), b"hello");
    assert_eq!(
        get_xattr(&root.join("d/f"), "user.test").as_deref(),
        Some(b"val".as_slice())
    );
    assert_eq!(meta("d/empty").len(), 0);
    let long = format!("d/{}", "l".repeat(150));
    assert_eq!(std::fs::read(root.join(long)).unwrap(), b"abc");
    let s = meta("d/s");
    assert!(s.file_type().is_symlink());
    assert_eq!((s.uid(), s.mtime()), (1000, 3_000_000));
    assert_eq!(
        std::fs::read_link(root.join("d/s")).unwrap().to_str(),
        Some("f")
    );
    assert_eq!(
        std::fs::read_link(root.join("abs")).unwrap().to_str(),
        Some("/etc/passwd")
    );
    assert_eq!(meta("d/h").ino(), f.ino());
    let n = meta("dev/null");
    assert!(n.file_type().is_char_device());
    assert_eq!(n.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(n.mode() & 0o7777, 0o666);
    let l = meta("dev/loopx");
    assert!(l.file_type().is_block_device());
    assert_eq!(l.rdev(), rustix::fs::makedev(7, 200));
    let fifo = meta("fifo");
    assert!(fifo.file_type().is_fifo());
    assert_eq!((fifo.mode() & 0o7777, fifo.mtime()), (0o640, 4_000_000));
    let wh = meta("d/gone");
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!root.join("d/.wh.gone").exists());
    assert_eq!(
        get_xattr(&root.join("o"), "trusted.overlay.opaque").as_deref(),
        Some(b"y".as_slice())
    );
    assert!(!root.join("o/.wh..wh..opq").exists());
}

#[test]
fn every_entry_type_round_trips_plain_gzip_and_zstd() {
    let tar = every_type_layer();
    let want_diff_id = Digest::of(&tar);
    for (data, c) in [
        (tar.clone(), Compression::None),
        (gzip(&tar), Compression::Gzip),
        (zstd(&tar), Compression::Zstd),
    ] {
        let sb = Sandbox::new();
        let stats = apply(&sb, &data).unwrap();
        assert_eq!(stats.compression, c);
        assert_eq!(stats.diff_id, want_diff_id, "{c:?}");
        assert_eq!(stats.digest, Digest::of(&data));
        assert_eq!(stats.size, tar.len() as u64);
        assert_eq!(stats.compressed_size, data.len() as u64);
        check_every_type(&sb.layer());
        sb.assert_outside_untouched();
    }
}

#[test]
fn multi_member_gzip_is_read_to_the_end() {
    let tar = RawTar::new().file("a", b"1").file("b", b"2").finish();
    let (first, second) = tar.split_at(1024);
    let mut gz = gzip(first);
    gz.extend(gzip(second));
    let sb = Sandbox::new();
    let stats = apply(&sb, &gz).unwrap();
    assert_eq!(stats.diff_id, Digest::of(&tar));
    assert!(sb.layer().join("b").is_file());
    sb.assert_outside_untouched();
}

#[test]
fn later_entries_replace_earlier_ones() {
    let sb = Sandbox::new();
    let tar = RawTar::new()
        .dir("x")
        .file("x/child", b"1")
        .file("x", b"now a file")
        .file("y", b"file")
        .dir("y")
        .file("y/1", b"1")
        .file(".wh.y", b"")
        .dir("y")
        .file("y/2", b"2")
        .finish();
    apply(&sb, &tar).unwrap();
    assert!(
        !sb.layer().join("y/1").exists(),
        "whited-out dir was replaced"
    );
    assert_eq!(std::fs::read(sb.layer().join("y/2")).unwrap(), b"2");
    assert_eq!(std::fs::read(sb.layer().join("x")).unwrap(), b"now a file");
    assert!(sb.layer().join("y").is_dir());
    sb.assert_outside_untouched();
}
