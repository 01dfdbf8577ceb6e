//! `export -o` and `save -o` write as the docker CLI does: the destination is checked
//! first (an existing directory, symlink, FIFO, socket, device or set-id file is refused,
//! as is a missing or non-directory parent; a regular file is replaced whatever its mode bits), the archive goes to a temporary file beside
//! it, and only a complete, non-empty archive replaces the destination, mode 0600
//! whatever the umask and whatever the mode of the file it replaces.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::cp::io_text;

/// Why a destination cannot be written, in docker's words.
fn refuse(dest: &str) -> Result<(), String> {
    let parent = go_clean(dest.rfind('/').map_or("", |i| &dest[..=i]));
    let parent = parent.as_str();
    if !matches!(parent, "." | "..") {
        match std::fs::metadata(parent) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(format!(
                    "invalid output path: stat {parent}: not a directory"
                ));
            }
            Err(e) => {
                return Err(format!(
                    "invalid output path: stat {parent}: {}",
                    io_text(&e)
                ));
            }
        }
    }
    // lstat, as the final rename does not follow a symlink either.
    let m = match std::fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(format!(
                "failed to stat output path: lstat {dest}: {}",
                io_text(&e)
            ));
        }
    };
    let t = m.file_type();
    // (a regular file passes whatever its set-id and sticky bits)
    let what = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link directly"
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device file"
    } else {
        "a block device file"
    };
    Err(format!("cannot write to {what}"))
}

/// Go's `filepath.Clean`: the shortest lexically equal path (`.` for nothing).
fn go_clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if abs => {}
            c => parts.push(c),
        }
    }
    match (abs, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".into(),
        (false, false) => parts.join("/"),
    }
}

/// An archive being written to `dest` through a temporary file in its directory.
pub struct OutFile {
    file: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
    written: bool,
}

impl OutFile {
    /// Checks `dest` and opens the temporary file; the error is docker's message, to be
    /// prefixed with the command's own words (`failed to export container: `).
    pub fn create(dest: &str) -> Result<OutFile, String> {
        refuse(dest)?;
        let abs = std::path::absolute(dest).map_err(|e| io_text(&e))?;
        let abs = PathBuf::from(go_clean(&abs.to_string_lossy()));
        let dir = abs.parent().unwrap_or(Path::new("/"));
        let base = abs.file_name().map(|b| b.to_string_lossy().into_owned());
        let base = base.unwrap_or_default();
        let mut seed = std::process::id() as u64 ^ crate::format::now() as u64;
        for _ in 0..100 {
            // (the same kind of numeric suffix Go's os.CreateTemp picks)
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let tmp = dir.join(format!(".tmp-{base}{}", (seed >> 33) % 1_000_000_000));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
            {
                Ok(file) => {
                    return Ok(OutFile {
                        file: Some(file),
                        tmp,
                        dest: abs,
                        written: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("open {}: {}", tmp.display(), io_text(&e))),
            }
        }
        Err(format!("open {}: file exists", dir.display()))
    }

    /// The archive is whole: synced, made 0600 and renamed over the destination when any
    /// of it was written (an empty stream leaves the destination as it was).
    pub fn commit(mut self) -> std::io::Result<()> {
        if let Some(f) = self.file.take() {
            f.sync_all()?;
            drop(f);
            std::fs::set_permissions(&self.tmp, std::fs::Permissions::from_mode(0o600))?;
            if self.written {
                std::fs::rename(&self.tmp, &self.dest)?;
            }
        }
        Ok(())
    }
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written = true;
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for OutFile {
    /// Whatever did not become the destination goes.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_docker_refuses() {
        let d = tempfile::tempdir().unwrap();
        let p = |n: &str| d.path().join(n).to_string_lossy().into_owned();
        std::fs::write(p("f"), "x").unwrap();
        std::os::unix::fs::symlink("nowhere", p("l")).unwrap();
        assert_eq!(
            refuse(&p("l")).unwrap_err(),
            "cannot write to a symbolic link directly"
        );
        assert_eq!(refuse(&p("")).unwrap_err(), "cannot write to a directory");
        assert_eq!(
            refuse("/dev/null").unwrap_err(),
            "cannot write to a character device file"
        );
        assert_eq!(
            refuse(&p("f/x")).unwrap_err(),
            format!("invalid output path: stat {}: not a directory", p("f"))
        );
        assert_eq!(
            refuse(&p("no/x")).unwrap_err(),
            format!(
                "invalid output path: stat {}: no such file or directory",
                p("no")
            )
        );
        assert!(refuse(&p("f")).is_ok());
        assert!(refuse(&p("new")).is_ok());
        assert!(refuse("new").is_ok());
        assert_eq!(go_clean("./sub/../"), ".");
        assert_eq!(go_clean("a//b/"), "a/b");
        assert_eq!(go_clean("/../x"), "/x");
        assert_eq!(go_clean("../../x/"), "../../x");
    }

    #[test]
    fn a_complete_archive_replaces_the_file_0600() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("a.tar");
        std::fs::write(&dest, "old").unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut f = OutFile::create(dest.to_str().unwrap()).unwrap();
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let f = OutFile::create(dest.to_str().unwrap()).unwrap();
        drop(f);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
