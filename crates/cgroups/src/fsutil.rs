//! Small helpers for cgroupfs files. cgroupfs wants each value in a single `write(2)`
//! (the kernel parses one buffer per call) and never lets us create files, so these
//! helpers open without `O_CREAT` and write the whole value at once.

use std::io::{self, Write};
use std::path::Path;

use crate::Error;

/// Reads a whole control file.
pub(crate) fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads a control file, `None` when it does not exist (controller or kernel feature absent).
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `value` to an existing control file in one `write(2)`.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), Error> {
    tracing::trace!(path = %path.display(), value, "cgroup write");
    let err = |source| Error::Write {
        path: path.to_owned(),
        value: value.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        // cgroupfs ignores O_TRUNC (as `echo x > file` relies on); plain files in test
        // trees need it.
        .truncate(true)
        .open(path)
        .map_err(err)?;
    let n = f.write(value.as_bytes()).map_err(err)?;
    if n != value.len() {
        return Err(err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write ({n} of {} bytes)", value.len()),
        )));
    }
    #[cfg(test)]
    WRITES.with(|w| w.borrow_mut().push((path.to_owned(), value.to_owned())));
    Ok(())
}

/// Writes a control file that exists only with some kernels or controllers; a missing
/// file is reported as `Ok(false)`.
pub(crate) fn write_if_exists(path: &Path, value: &str) -> Result<bool, Error> {
    match write(path, value) {
        Ok(()) => Ok(true),
        Err(Error::Write { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Parses a single unsigned value; `max` (v2 "no limit") becomes `u64::MAX`.
pub(crate) fn parse_u64(path: &Path, s: &str) -> Result<u64, Error> {
    let t = s.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    // v1 reports "no limit" as a large (sometimes negative-looking) number; keep it as is.
    t.parse::<u64>()
        .or_else(|_| {
            t.parse::<i64>()
                .map(|v| if v < 0 { u64::MAX } else { v as u64 })
        })
        .map_err(|_| Error::Parse {
            path: path.to_owned(),
            reason: format!("expected a number, found {t:?}"),
        })
}

/// Reads one number from `dir/name`, `None` when the file is absent.
pub(crate) fn read_u64_opt(dir: &Path, name: &str) -> Result<Option<u64>, Error> {
    let p = dir.join(name);
    match read_opt(&p)? {
        Some(s) => parse_u64(&p, &s).map(Some),
        None => Ok(None),
    }
}

/// Parses flat keyed files (`key value` per line: memory.stat, cpu.stat, ...).
pub(crate) fn parse_flat_keyed(s: &str) -> Vec<(&str, u64)> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse::<u64>().ok()?;
            Some((k, v))
        })
        .collect()
}

#[cfg(test)]
thread_local! {
    /// Every write attempted by this thread, so scratch-tree tests can assert the exact
    /// sequence (a plain file only keeps the last value, cgroupfs files keep all).
    pub(crate) static WRITES: std::cell::RefCell<Vec<(std::path::PathBuf, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}
