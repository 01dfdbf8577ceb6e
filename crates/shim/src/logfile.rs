//! The json-file log driver, byte-compatible with Docker's: one JSON object per line,
//! `{"log":"…","stream":"stdout","time":"RFC3339Nano"}`, lines longer than 16 KiB split into
//! several entries (only the last ends with "\n"), rotation `F` → `F.1` → … → `F.<n-1>` before
//! the first entry after the file reached max-size (as dockerd: a file ends with the entry
//! that took it there).
//!
//! Writes are buffered and flushed at the end of each turn of the shim's event loop, so a
//! flood costs one `write(2)` per pipe read, while a quiet container's lines reach the file
//! (and `logs -f`) at once. The writer never drops a line on purpose; the shim's back-pressure
//! (it stops reading the container's pipes while it writes) is the flow control. A full file
//! system (ENOSPC, EDQUOT) is back-pressure too: what could not be written stays buffered,
//! the shim stops reading the container's output ([`LogFile::stalled`]) and retries, so the
//! container waits for space instead of losing lines or leaving half an entry in the file.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::error::{Error, Result};

/// Docker's copier buffer: longer lines are split into entries of this many bytes.
pub const MAX_ENTRY: usize = 16 * 1024;
/// Buffered bytes that trigger a write before the end of the loop turn.
const FLUSH_AT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    fn name(self) -> &'static [u8] {
        match self {
            Stream::Stdout => b"stdout",
            Stream::Stderr => b"stderr",
        }
    }
}

/// The log file with its rotation state.
pub struct LogFile {
    path: PathBuf,
    fd: OwnedFd,
    /// Bytes in the current file, counting the buffered ones.
    size: u64,
    max_size: u64,
    max_file: u32,
    /// `,"attrs":{…}` after each entry's stream, or nothing.
    attrs: Vec<u8>,
    /// Rotated files are gzipped (`F.1.gz` …), the newest in a child process.
    compress: bool,
    compressing: Option<crate::compress::Pending>,
    buf: Vec<u8>,
    /// The file system is full: the buffered bytes wait for space.
    stalled: bool,
    /// Bytes the file system refused for good (EIO and the like): counted, not retried.
    pub lost: u64,
}

fn open_log(path: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o640),
    )
    .map_err(|e| Error::path("open log", path, e.into()))
}

impl LogFile {
    /// Opens (appending: a restarted container keeps its earlier lines) or creates the log.
    /// `attrs` is the JSON object every entry carries, if any (dockerd's `labels` and `env`
    /// log options); with `compress` rotated files are gzipped (see [`crate::compress`]).
    pub fn open(
        path: &Path,
        max_size: u64,
        max_file: u32,
        attrs: Option<&str>,
        compress: bool,
    ) -> Result<LogFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::path("create log dir", dir, e))?;
        }
        let fd = open_log(path)?;
        let size = rustix::fs::fstat(&fd)
            .map_err(|e| Error::path("stat log", path, e.into()))?
            .st_size as u64;
        Ok(LogFile {
            path: path.to_path_buf(),
            fd,
            size,
            max_size,
            max_file: max_file.max(1),
            attrs: attrs.map_or_else(Vec::new, |a| format!(",\"attrs\":{a}").into_bytes()),
            compress,
            compressing: None,
            buf: Vec::new(),
            stalled: false,
            lost: 0,
        })
    }

    /// Appends one entry whose text is `a` followed by `b` (the line's buffered start and the
    /// rest, so a line is never copied just to be joined).
    pub fn entry(&mut self, stream: Stream, a: &[u8], b: &[u8], time: &[u8]) {
        if self.buf.capacity() == 0 {
            self.buf.reserve(FLUSH_AT + MAX_ENTRY);
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(b"{\"log\":\"");
        escape_into(&mut self.buf, a);
        escape_into(&mut self.buf, b);
        self.buf.extend_from_slice(b"\",\"stream\":\"");
        self.buf.extend_from_slice(stream.name());
        self.buf.push(b'"');
        self.buf.extend_from_slice(&self.attrs);
        self.buf.extend_from_slice(b",\"time\":\"");
        self.buf.extend_from_slice(time);
        self.buf.extend_from_slice(b"\"}\n");
        let n = (self.buf.len() - start) as u64;
        // As dockerd: the file rotates before the first entry after it reached max-size (so
        // it ends with the entry that took it there). While the disk is full it grows by
        // what waits in the buffer, and rotates at the first entry after that is written.
        if self.max_size > 0 && self.size >= self.max_size && self.write_out(start) {
            self.rotate();
        }
        self.size += n;
        if self.buf.len() >= FLUSH_AT {
            self.flush();
        }
    }

    /// Writes everything buffered.
    pub fn flush(&mut self) {
        if !self.write_out(self.buf.len()) {
            return;
        }
        if self.buf.capacity() > 4 * (FLUSH_AT + MAX_ENTRY) {
            // A burst of control characters (6 bytes each once escaped) grew the buffer.
            self.buf.shrink_to(FLUSH_AT + MAX_ENTRY);
        }
    }

    /// Writes what is buffered and frees the buffer (the shim is going idle).
    pub fn release(&mut self) {
        self.flush();
        if !self.stalled {
            self.buf = Vec::new();
        }
    }

    /// Whether the file system is full and bytes wait to be written: the container's output
    /// must not be read until a [`LogFile::flush`] gets them out.
    pub fn stalled(&self) -> bool {
        self.stalled
    }

    /// Writes `buf[..upto]` and keeps the rest buffered. False when the file system is full:
    /// what was written is gone from the buffer, the rest (from the exact byte the file
    /// ends with) waits.
    fn write_out(&mut self, upto: usize) -> bool {
        if upto == 0 {
            return true;
        }
        let mut done = 0;
        while done < upto {
            match rustix::io::write(&self.fd, &self.buf[done..upto]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::NOSPC | rustix::io::Errno::DQUOT) => {
                    self.buf.drain(..done);
                    self.stalled = true;
                    return false;
                }
                Err(_) => break,
            }
        }
        self.stalled = false;
        if done < upto {
            self.lost += (upto - done) as u64;
            self.size = self.size.saturating_sub((upto - done) as u64);
        }
        self.buf.drain(..upto);
        true
    }

    /// `F` → `F.1` → … → `F.<max_file-1>`, the oldest removed first; with one file the log
    /// is truncated instead, as Docker does. No rename lands on an existing name (dockerd's
    /// order too): ext4 (`auto_da_alloc`, on by default) starts writing the renamed file
    /// back at once when a rename replaces another (0.8 vs 0.5 ms for 20 MB here, and disk
    /// writes of a log that may be removed before writeback would have written it).
    fn rotate(&mut self) {
        self.size = 0;
        if self.max_file <= 1 {
            let _ = rustix::fs::ftruncate(&self.fd, 0);
            return;
        }
        let name = |i: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{i}"));
            PathBuf::from(p)
        };
        let rename = |from: &Path, to: &Path| {
            let _ = std::fs::rename(from, to);
        };
        if self.compress {
            // `F.1` must be `F.1.gz` before the names move: wait for the last compression,
            // and compress here one that a crash left undone.
            if let Some(p) = self.compressing.take() {
                p.wait();
            }
            if name(1).exists() {
                let _ = crate::compress::compress(&name(1));
            }
            let gz = |i| crate::compress::gz_name(&name(i));
            let _ = std::fs::remove_file(gz(self.max_file - 1));
            for i in (1..self.max_file - 1).rev() {
                rename(&gz(i), &gz(i + 1));
            }
        } else {
            let _ = std::fs::remove_file(name(self.max_file - 1));
            for i in (1..self.max_file - 1).rev() {
                rename(&name(i), &name(i + 1));
            }
        }
        rename(&self.path, &name(1));
        match open_log(&self.path) {
            Ok(fd) => self.fd = fd,
            Err(_) => {
                // Keep writing to the renamed file rather than losing lines.
                rename(&name(1), &self.path);
                return;
            }
        }
        if self.compress {
            self.compressing = crate::compress::start(&name(1));
        }
    }
}

/// Splits a stream into log entries: at each newline, and every [`MAX_ENTRY`] bytes of a
/// longer line. The unfinished line waits here for its end.
#[derive(Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Feeds bytes; `emit(a, b)` receives each entry's text in two pieces.
    pub fn feed(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8], &[u8])) {
        while !data.is_empty() {
            let room = MAX_ENTRY - self.partial.len();
            let window = &data[..data.len().min(room)];
            if let Some(i) = memchr::memchr(b'\n', window) {
                emit(&self.partial, &data[..=i]);
                self.partial.clear();
                data = &data[i + 1..];
            } else if data.len() >= room {
                emit(&self.partial, window);
                self.partial.clear();
                data = &data[room..];
            } else {
                if self.partial.capacity() == 0 {
                    self.partial.reserve(MAX_ENTRY.min(4096));
                }
                self.partial.extend_from_slice(data);
                return;
            }
        }
        if self.partial.capacity() > 4096 {
            self.partial = Vec::new();
        }
    }

    /// Emits the unfinished line, if any (at exit).
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8], &[u8])) {
        if !self.partial.is_empty() {
            emit(&self.partial, &[]);
            self.partial = Vec::new();
        }
    }
}

/// What each byte becomes inside a JSON string, as Docker's json-file writer writes it (its
/// own encoder: like Go's encoding/json with HTML escaping, except that a tab is `\u0009`;
/// `tests/interop/berthd-images-dockerd.sh` compares both daemons' logs of every byte
/// value): the bytes, padded to 8 so every store is one unaligned 8-byte write, and their
/// count. Every byte ≥ 0x80 is U+FFFD here; a UTF-8 lead byte also says how long its
/// sequence is and which second bytes it accepts, and a well-formed sequence is copied
/// instead.
#[derive(Clone, Copy)]
struct Rep {
    bytes: [u8; 8],
    len: u8,
    /// Length of the sequence a lead byte starts (0: not a lead byte).
    seq: u8,
    /// The second byte's range, `lo..=lo + span` (no overlong forms, no surrogates,
    /// nothing above U+10FFFF).
    lo: u8,
    span: u8,
    /// The sequence's bytes (little-endian) masked with `cmask` must equal `cval`: the
    /// third and fourth bytes are continuation bytes when the sequence has them. Never
    /// equal for a byte that is not a lead.
    cmask: u32,
    cval: u32,
}

const FFFD: Rep = rep(b"\\ufffd");

const fn rep(b: &[u8]) -> Rep {
    let mut bytes = [0u8; 8];
    let mut i = 0;
    while i < b.len() {
        bytes[i] = b[i];
        i += 1;
    }
    Rep {
        bytes,
        len: b.len() as u8,
        seq: 0,
        lo: 0,
        span: 0xFF,
        cmask: 0,
        cval: 1,
    }
}

const fn lead(seq: u8, lo: u8, hi: u8) -> Rep {
    let (cmask, cval) = match seq {
        2 => (0, 0),
        3 => (0x00C0_0000, 0x0080_0000),
        _ => (0xC0C0_0000, 0x8080_0000),
    };
    Rep {
        seq,
        lo,
        span: hi - lo,
        cmask,
        cval,
        ..FFFD
    }
}

const fn rep_table() -> [Rep; 256] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [FFFD; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            b'"' => rep(b"\\\""),
            b'\\' => rep(b"\\\\"),
            b'\n' => rep(b"\\n"),
            b'\r' => rep(b"\\r"),
            c @ (0..0x20 | b'<' | b'>' | b'&') => rep(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ]),
            c @ 0x20..0x80 => rep(&[c]),
            0xC2..=0xDF => lead(2, 0x80, 0xBF),
            0xE0 => lead(3, 0xA0, 0xBF),
            0xED => lead(3, 0x80, 0x9F),
            0xE1..=0xEF => lead(3, 0x80, 0xBF),
            0xF0 => lead(4, 0x90, 0xBF),
            0xF4 => lead(4, 0x80, 0x8F),
            0xF1..=0xF3 => lead(4, 0x80, 0xBF),
            _ => FFFD,
        };
        b += 1;
    }
    t
}
static REP: [Rep; 256] = rep_table();

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Sets the high bit of each byte of `x` whose low 7 bits are at least `c` (≤ 0x80),
/// byte by byte exactly (no carry crosses bytes).
#[inline]
fn ge(x: u64, c: u8) -> u64 {
    ((x & !HI) + LO * (0x80 - c as u64)) & HI
}

/// The high bit is set in each byte of `x` that may need attention: a control character, a
/// byte ≥ 0x80 (UTF-8 to check), or one of `"` `\` `<` `>` `&`. False positives are fine
/// (the bytes are then looked at one by one), and come only after a true one: each test is
/// the "some byte is zero" / "some byte is below n" bit trick, whose borrows run upwards
/// from a true hit only, so the lowest set bit marks the first byte that needs attention.
#[inline]
fn attention(x: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let eq = |c: u8| zero(x ^ (LO * c as u64));
    let below_space = x.wrapping_sub(LO * 0x20) & !x & HI;
    below_space | (x & HI) | eq(b'"') | eq(b'\\') | eq(b'<') | eq(b'>') | eq(b'&')
}

/// Where a multi-byte sequence may start at `s[i]` (a lead byte followed by a continuation
/// byte): writes the well-formed sequence (or the escape of U+2028/U+2029) or, when it is
/// not well-formed, the U+FFFD escape of its first byte. Returns (bytes consumed, written).
#[inline(never)]
fn sequence(s: &[u8], i: usize, put: impl Fn(usize, [u8; 8]), o: usize) -> (usize, usize) {
    let at = |k: usize| s.get(i + k).copied().unwrap_or(0);
    let w = [at(0), at(1), at(2), at(3)];
    let r = REP[w[0] as usize];
    let second_ok = w[1].wrapping_sub(r.lo) <= r.span;
    let rest_ok = u32::from_le_bytes(w) & r.cmask == r.cval;
    if !(second_ok & rest_ok) {
        put(o, FFFD.bytes);
        return (1, FFFD.len as usize);
    }
    if w[0] == 0xE2 && w[1] == 0x80 && w[2] | 1 == 0xA9 {
        // U+2028 and U+2029 (line and paragraph separators) are escaped too.
        let mut e = *b"\\u2028\0\0";
        e[5] = if w[2] == 0xA8 { b'8' } else { b'9' };
        put(o, e);
        return (3, 6);
    }
    put(o, [w[0], w[1], w[2], w[3], 0, 0, 0, 0]);
    (r.seq as usize, r.seq as usize)
}

/// Appends `s` escaped for a JSON string. Invalid UTF-8 becomes U+FFFD per byte, as Go's
/// decoder does. Plain text is copied 8 bytes at a time; every other byte is one table
/// lookup and one store, except where a lead byte is followed by a continuation byte (a
/// multi-byte sequence may start there: [`sequence`] decides). Logging must keep up with
/// `cat` of a large file, text or binary.
pub fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    // No byte becomes more than 6 (`\u00XX`, `\ufffd`, the lead of an escaped U+2028),
    // and each store may write 8.
    out.reserve(s.len() * 6 + 8);
    let base = out.len();
    let dst = out.spare_capacity_mut().as_mut_ptr().cast::<u8>();
    let put = |at: usize, b: [u8; 8]| {
        // SAFETY: before each store `at` ≤ 6 × (bytes of `s` consumed) and at least one
        // byte of `s` is left, so `at + 8` ≤ 6 × (s.len() − 1) + 8: within the
        // `6 × s.len() + 8` bytes reserved past `base`.
        unsafe { dst.add(at).cast::<[u8; 8]>().write_unaligned(b) }
    };
    let mut o = 0;
    let mut i = 0;
    while i < s.len() {
        // The next 8 bytes; the last word is padded with zeros, which are not its bytes.
        let len = (s.len() - i).min(8);
        let w: [u8; 8] = match s.get(i..i + 8) {
            Some(w) => w.try_into().unwrap_or_default(),
            None => {
                let mut w = [0u8; 8];
                w[..len].copy_from_slice(&s[i..]);
                w
            }
        };
        let x = u64::from_le_bytes(w);
        let m = attention(x);
        put(o, w);
        if m == 0 {
            // (Never for the padded last word: its zeros need attention.)
            i += 8;
            o += 8;
            continue;
        }
        // The bytes before the first one that needs attention are in place already.
        let mut k = (m.trailing_zeros() / 8) as usize;
        o += k;
        // Where a lead byte is followed by a continuation byte (the next word's first
        // byte counts for the last one): only there may a multi-byte sequence start.
        let next = s.get(i + 8).copied().unwrap_or(0) as u64;
        let y = (x >> 8) | (next << 56);
        let starts = x & HI & ge(x, 0x42) & !ge(x, 0x75) & y & HI & !ge(y, 0x40);
        while k < len {
            if starts >> (8 * k) & 0x80 != 0 {
                let (used, wrote) = sequence(s, i + k, put, o);
                k += used;
                o += wrote;
                continue;
            }
            let r = &REP[w[k] as usize];
            put(o, r.bytes);
            o += r.len as usize;
            k += 1;
        }
        // A sequence may have run past the word.
        i += k;
    }
    // SAFETY: `put` initialised every byte of base..base + o (each store starts where the
    // previous output ended), and the capacity was reserved above.
    unsafe { out.set_len(base + o) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &[u8]) -> String {
        let mut v = Vec::new();
        escape_into(&mut v, s);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_as_dockers_json_file_writer_does() {
        assert_eq!(esc(b"hi\n"), "hi\\n");
        assert_eq!(esc(b"a\"b\\c\t\r"), "a\\\"b\\\\c\\u0009\\r");
        assert_eq!(esc(b"<a&b>"), "\\u003ca\\u0026b\\u003e");
        assert_eq!(esc(b"\x01\x1b[0m"), "\\u0001\\u001b[0m");
        assert_eq!(esc("é ✓ \u{2028}".as_bytes()), "é ✓ \\u2028");
        assert_eq!(esc(b"a\xffb\xe2\x80"), "a\\ufffdb\\ufffd\\ufffd");
        // Round trip through a JSON parser.
        let all: Vec<u8> = (0u8..=255).collect();
        let json = format!("\"{}\"", esc(&all));
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(back, String::from_utf8_lossy(&all));
    }

    /// Byte-at-a-time reference for the word-at-a-time escaper.
    fn reference(s: &[u8]) -> String {
        let mut out = String::new();
        for chunk in s.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\x1f' => {
                        out.push_str(&format!("\\u{:04x}", c as u32))
                    }
                    c => out.push(c),
                }
            }
            for _ in chunk.invalid() {
                out.push_str("\\ufffd");
            }
        }
        out
    }

    #[test]
    fn fast_escaper_matches_the_reference() {
        let alphabet: &[&[u8]] = &[
            b"a",
            b"Z",
            b" ",
            b"\"",
            b"\\",
            b"<",
            b">",
            b"&",
            b"\n",
            b"\x01",
            b"\x1f",
            b"\x7f",
            "é".as_bytes(),
            "✓".as_bytes(),
            "\u{2028}".as_bytes(),
            "\u{1F600}".as_bytes(),
            b"\xff",
            b"\xe2\x80",
            b"\xc3",
            b"\xed\xa0\x80",
            b"\xf0\x9f",
        ];
        // Every fragment at every offset of a word, at the end and before more text.
        for frag in alphabet {
            for pad in 0..17 {
                for tail in [&b""[..], b"x", b"tail text"] {
                    let s = [&b"abcdefghijklmnopq"[..pad], frag, tail].concat();
                    assert_eq!(esc(&s), reference(&s), "{s:?}");
                }
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..5000 {
            let mut s = Vec::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut r = seed;
            for _ in 0..(seed % 40) {
                s.extend_from_slice(alphabet[(r % alphabet.len() as u64) as usize]);
                r = r.rotate_right(5).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            }
            assert_eq!(esc(&s), reference(&s), "{s:?}");
        }
        // Raw random bytes, mostly invalid UTF-8.
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let s: Vec<u8> = (0..(seed % 64))
                .map(|k| (seed.rotate_left(k as u32 * 7) ^ k) as u8)
                .collect();
            assert_eq!(esc(&s), reference(&s), "{s:?}");
        }
    }

    #[test]
    fn escaper_appends_long_inputs_after_what_is_there() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut data = Vec::new();
        for k in 0..200_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Stretches of text between stretches of binary.
            data.push(if (k / 1000) % 2 == 0 {
                b'a' + (seed % 26) as u8
            } else {
                seed as u8
            });
        }
        for len in [0, 1, 7, 8, 9, 4095, data.len()] {
            let mut out = b"prefix:".to_vec();
            escape_into(&mut out, &data[..len]);
            assert_eq!(&out[..7], b"prefix:");
            assert_eq!(
                std::str::from_utf8(&out[7..]).unwrap(),
                reference(&data[..len])
            );
        }
    }

    fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut l = Lines::default();
        let mut out = Vec::new();
        for c in chunks {
            l.feed(c, |a, b| out.push([a, b].concat()));
        }
        l.finish(|a, b| out.push([a, b].concat()));
        out
    }

    #[test]
    fn splits_lines_and_joins_fragments() {
        let out = split(&[b"one\ntw", b"o\nthree"]);
        assert_eq!(
            out,
            vec![b"one\n".to_vec(), b"two\n".to_vec(), b"three".to_vec()]
        );
    }

    #[test]
    fn long_lines_become_16k_entries() {
        let line = vec![b'x'; MAX_ENTRY * 2 + 10];
        let mut data = line.clone();
        data.push(b'\n');
        let out = split(&[&data[..1000], &data[1000..]]);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].len(), MAX_ENTRY);
        assert_eq!(out[1].len(), MAX_ENTRY);
        assert_eq!(out[2], [&line[..10], b"\n"].concat());
    }

    #[test]
    fn rotation_keeps_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut f = LogFile::open(&path, 1000, 3, None, false).unwrap();
        for i in 0..100 {
            f.entry(Stream::Stdout, b"", format!("line {i}\n").as_bytes(), b"T");
        }
        f.flush();
        let mut lines = 0;
        for name in ["c-json.log", "c-json.log.1", "c-json.log.2"] {
            let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
            // As dockerd's: a file is rotated once it has reached max-size, so it ends with
            // the entry that took it there (these are under 60 bytes).
            let rotated = name != "c-json.log";
            assert!(
                text.len() < 1000 + 60 && (!rotated || text.len() >= 1000),
                "{name} is {} bytes",
                text.len()
            );
            for l in text.lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["stream"], "stdout");
                lines += 1;
            }
        }
        assert!(!dir.path().join("c-json.log.3").exists());
        // 40 lines of ~50 bytes: 3 files of up to 1000 bytes hold the newest ones only.
        assert!(lines > 100 / 4, "{lines}");
        let newest = std::fs::read_to_string(&path).unwrap();
        assert!(newest.contains("line 99\\n"));
    }

    /// A file system that refuses the bytes (ENOSPC: /dev/full) stalls the log and keeps
    /// them; once writes succeed again they all land, whole, in order.
    #[test]
    fn a_full_file_system_stalls_the_log_and_loses_nothing() {
        let mut f = LogFile::open(Path::new("/dev/full"), 0, 1, None, false).unwrap();
        for i in 0..2000 {
            f.entry(Stream::Stdout, b"", format!("line {i}\n").as_bytes(), b"T");
        }
        f.flush();
        assert!(f.stalled());
        f.release();
        assert_eq!(f.lost, 0);
        // Space returns (the same writer, now on a file system with room).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        f.fd = open_log(&path).unwrap();
        f.entry(Stream::Stdout, b"", b"line 2000\n", b"T");
        f.flush();
        assert!(!f.stalled());
        let text = std::fs::read_to_string(&path).unwrap();
        let nums: Vec<u32> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["log"].as_str().unwrap()[5..].trim_end().parse().unwrap()
            })
            .collect();
        assert_eq!(nums, (0..=2000).collect::<Vec<u32>>());
    }
}
