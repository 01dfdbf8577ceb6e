//! Container output streams: Docker's multiplexed frames (8-byte header: stream type,
//! three zero bytes, big-endian length) split back onto stdout and stderr, or raw bytes
//! for a tty.

use std::io::{self, Read, Write};

/// Copies a logs/attach stream to our stdout/stderr until EOF. A daemon closing the
/// connection mid-frame ends the copy without error (the container is gone).
pub fn copy_output<R: Read>(mut r: R, raw: bool) -> io::Result<()> {
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut buf = vec![0u8; 32 * 1024];
    if raw {
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return end_of_stream(e),
            };
            let mut o = stdout.lock();
            o.write_all(&buf[..n])?;
            o.flush()?;
        }
    }
    let mut head = [0u8; 8];
    loop {
        if let Err(e) = r.read_exact(&mut head) {
            return end_of_stream(e);
        }
        let mut len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        while len > 0 {
            let want = len.min(buf.len());
            if let Err(e) = r.read_exact(&mut buf[..want]) {
                return end_of_stream(e);
            }
            len -= want;
            if head[0] == 2 {
                let mut e = stderr.lock();
                e.write_all(&buf[..want])?;
                e.flush()?;
            } else {
                let mut o = stdout.lock();
                o.write_all(&buf[..want])?;
                o.flush()?;
            }
        }
    }
}

fn end_of_stream(e: io::Error) -> io::Result<()> {
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(e),
    }
}

/// Reads from a hijacked socket, first the bytes the HTTP reader had buffered.
pub struct Prefixed<R> {
    pub pending: Vec<u8>,
    pub pos: usize,
    pub inner: R,
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.pending.len() {
            let n = (self.pending.len() - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Finds Docker's detach sequence in typed input (ctrl-p ctrl-q by default).
pub struct DetachKeys {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachKeys {
    pub fn new(spec: Option<&str>) -> DetachKeys {
        let keys = spec
            .and_then(parse_keys)
            .unwrap_or_else(|| vec![0x10, 0x11]);
        DetachKeys { keys, matched: 0 }
    }

    /// The bytes to send on, and whether the full sequence was typed.
    pub fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// `ctrl-p,ctrl-q`, `a,b`, `ctrl-@`.
fn parse_keys(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for k in s.split(',') {
        let k = k.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let &[c] = c.as_bytes() else { return None };
            out.push(match c {
                b'a'..=b'z' => c - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return None,
            });
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_sequence_is_found_across_reads_and_not_forwarded() {
        let mut d = DetachKeys::new(None);
        assert_eq!(d.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(d.feed(b"\x11"), (Vec::new(), true));
        let mut d = DetachKeys::new(None);
        assert_eq!(d.feed(b"\x10x"), (b"\x10x".to_vec(), false));
        let mut d = DetachKeys::new(Some("ctrl-a,d"));
        assert_eq!(d.feed(b"z\x01d"), (b"z".to_vec(), true));
        assert!(parse_keys("ctrl-long").is_none());
    }

    #[test]
    fn prefixed_reader_yields_buffered_bytes_first() {
        let mut p = Prefixed {
            pending: b"ab".to_vec(),
            pos: 0,
            inner: &b"cd"[..],
        };
        let mut s = String::new();
        p.read_to_string(&mut s).unwrap();
        assert_eq!(s, "abcd");
    }
}
