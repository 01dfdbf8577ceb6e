//! Reading a container's json-file log (as the shim writes it, rotated files included)
//! for `docker logs`: since/until/tail/timestamps filters and `--follow`.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::engine::Engine;
use crate::error::{EngineError, Result};

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Unix time in nanoseconds; entries before it are skipped.
    pub since: Option<i128>,
    pub until: Option<i128>,
    pub timestamps: bool,
    /// Only the last N entries (None: all).
    pub tail: Option<usize>,
}

#[derive(Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
}

/// Parses Docker's `since`/`until` query values: unix seconds with an optional fraction.
pub fn parse_unix_time(s: &str) -> Option<i128> {
    if s.is_empty() || s == "0" {
        return None;
    }
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i128 = sec.parse().ok()?;
    let mut frac = frac.to_owned();
    frac.truncate(9);
    while frac.len() < 9 {
        frac.push('0');
    }
    Some(sec * 1_000_000_000 + frac.parse::<i128>().unwrap_or(0))
}

/// RFC 3339 with optional fraction → unix nanoseconds.
pub fn rfc3339_nanos(t: &str) -> Option<i128> {
    let secs = berth_image::timefmt::parse_rfc3339(t)? as i128;
    let frac = t
        .find('.')
        .map(|i| {
            t[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
        })
        .unwrap_or_default();
    let mut f = frac;
    f.truncate(9);
    while f.len() < 9 {
        f.push('0');
    }
    Some(secs * 1_000_000_000 + f.parse::<i128>().unwrap_or(0))
}

/// Docker's stream framing: `[stream, 0, 0, 0, len BE]` then the bytes.
pub fn frame(stream: u8, data: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    Bytes::from(v)
}

fn files(log: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for i in (1..100).rev() {
        let p = PathBuf::from(format!("{}.{i}", log.display()));
        if p.exists() {
            v.push(p);
        }
    }
    v.push(log.to_owned());
    v
}

struct Formatter {
    opts: LogOptions,
    tty: bool,
}

impl Formatter {
    fn render(&self, line: &str) -> Option<Bytes> {
        let e: Entry = serde_json::from_str(line).ok()?;
        let stream = match e.stream.as_str() {
            "stdout" if self.opts.stdout => 1,
            "stderr" if self.opts.stderr => 2,
            _ => return None,
        };
        let t = rfc3339_nanos(&e.time);
        if let (Some(s), Some(t)) = (self.opts.since, t)
            && t < s
        {
            return None;
        }
        if let (Some(u), Some(t)) = (self.opts.until, t)
            && t > u
        {
            return None;
        }
        let text = if self.opts.timestamps {
            format!("{} {}", e.time, e.log)
        } else {
            e.log
        };
        Some(if self.tty {
            Bytes::from(text.into_bytes())
        } else {
            frame(stream, text.as_bytes())
        })
    }
}

impl Engine {
    /// `GET /containers/{id}/logs`: a channel of ready-to-send chunks.
    pub fn logs(
        self: &Arc<Self>,
        name: &str,
        opts: LogOptions,
    ) -> Result<(mpsc::Receiver<Bytes>, bool)> {
        let c = self.get(name)?;
        let (log_path, tty, kind) = {
            let r = c.lock();
            (
                r.log_path.clone(),
                r.config.tty,
                r.host_config.log_config.kind.clone(),
            )
        };
        if kind == "none" || log_path.is_empty() {
            return Err(EngineError::InvalidArgument(
                "configured logging driver does not support reading".into(),
            ));
        }
        let (tx, rx) = mpsc::channel(64);
        let life = c.life.subscribe();
        let fmt = Formatter {
            opts: opts.clone(),
            tty,
        };
        let log = PathBuf::from(log_path);
        tokio::task::spawn_blocking(move || {
            // History first: all files oldest first, then only the last `tail` entries.
            let mut lines: Vec<String> = Vec::new();
            let mut pos = 0u64;
            let mut ino = 0u64;
            for f in files(&log) {
                let Ok(file) = std::fs::File::open(&f) else {
                    continue;
                };
                let is_current = f == log;
                let mut r = BufReader::new(file);
                let mut buf = String::new();
                loop {
                    buf.clear();
                    match r.read_line(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if !buf.ends_with('\n') => break,
                        Ok(n) => {
                            if is_current {
                                pos += n as u64;
                            }
                            lines.push(buf.trim_end().to_owned());
                        }
                    }
                }
                if is_current {
                    ino = std::fs::metadata(&f)
                        .map(|m| std::os::linux::fs::MetadataExt::st_ino(&m))
                        .unwrap_or(0);
                }
            }
            let skip = match fmt.opts.tail {
                Some(n) => lines.len().saturating_sub(n),
                None => 0,
            };
            for l in &lines[skip..] {
                if let Some(b) = fmt.render(l)
                    && tx.blocking_send(b).is_err()
                {
                    return;
                }
            }
            if !fmt.opts.follow {
                return;
            }
            // Follow: poll the current file; a rotation shows as a new inode.
            let mut partial = String::new();
            loop {
                let running = life.borrow().running;
                let mut progressed = false;
                if let Ok(mut f) = std::fs::File::open(&log) {
                    let meta = f.metadata().ok();
                    let cur_ino = meta
                        .as_ref()
                        .map(std::os::linux::fs::MetadataExt::st_ino)
                        .unwrap_or(0);
                    let len = meta.map(|m| m.len()).unwrap_or(0);
                    if cur_ino != ino || len < pos {
                        ino = cur_ino;
                        pos = 0;
                        partial.clear();
                    }
                    if len > pos && f.seek(SeekFrom::Start(pos)).is_ok() {
                        let mut r = BufReader::new(f);
                        let mut buf = String::new();
                        loop {
                            buf.clear();
                            match r.read_line(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    pos += n as u64;
                                    progressed = true;
                                    partial.push_str(&buf);
                                    if partial.ends_with('\n') {
                                        let line = std::mem::take(&mut partial);
                                        if let Some(b) = fmt.render(line.trim_end())
                                            && tx.blocking_send(b).is_err()
                                        {
                                            return;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                if tx.is_closed() {
                    return;
                }
                if !running && !progressed {
                    // Drained after the container stopped: one last look, then done.
                    if !life.borrow().running {
                        return;
                    }
                }
                if !progressed {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        Ok((rx, tty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_to_nanoseconds() {
        assert_eq!(
            parse_unix_time("1700000000.5"),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(parse_unix_time("0"), None);
        let t = rfc3339_nanos("2023-11-14T22:13:20.000000123Z").unwrap();
        assert_eq!(t, 1_700_000_000_000_000_123);
    }

    #[test]
    fn frames_carry_stream_and_big_endian_length() {
        let f = frame(2, b"abc");
        assert_eq!(&f[..], &[2, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c']);
    }
}
