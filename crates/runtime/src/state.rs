//! The runtime's state directory: one directory per container under `--root`, holding
//! `state.json` (written by temp file + rename, so a reader never sees half of it) and, between
//! `create` and `start`, the `exec.fifo` that holds the container's init back.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// Default `--root`, as runc's `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/berth-runtime";
pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// OCI status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What berth-runtime keeps about a container between invocations. The first fields are the
/// OCI state (what `state` prints); the rest are ours and are not printed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// RFC 3339 creation time, shown by `list` and `state` as runc does.
    pub created: String,
    #[serde(default)]
    pub owner: String,
    /// `starttime` of the init from /proc/PID/stat: tells a live init from a recycled pid.
    pub init_start_time: u64,
    pub cgroup_path: String,
    /// Absolute path of the rootfs, for hooks and `exec`.
    pub rootfs: PathBuf,
    #[serde(default)]
    pub use_systemd: bool,
}

/// The OCI state document (`state` output and hook stdin).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(rename = "rootfs", skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<PathBuf>,
}

/// Container ids become directory names: keep them to a safe alphabet.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Makes the container's directory; fails if it exists (ids are unique per root).
    pub fn create_dir(&self, id: &str) -> Result<PathBuf> {
        validate_id(id)?;
        fs::create_dir_all(&self.root).at("create state root", &self.root)?;
        let dir = self.dir(id);
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::Exists(id.into()))
            }
            Err(e) => Err(Error::path("create state dir", dir, e)),
        }
    }

    pub fn save(&self, s: &Saved) -> Result<()> {
        let dir = self.dir(&s.id);
        let tmp = dir.join(".state.json.tmp");
        let data = serde_json::to_vec(s).map_err(|e| Error::Other(e.to_string()))?;
        {
            let mut f = fs::File::create(&tmp).at("write", &tmp)?;
            f.write_all(&data).at("write", &tmp)?;
        }
        // No fsync: /run is tmpfs and the state does not outlive a reboot anyway.
        fs::rename(&tmp, dir.join(STATE_FILE)).at("rename", dir.join(STATE_FILE))
    }

    pub fn load(&self, id: &str) -> Result<Saved> {
        validate_id(id)?;
        let path = self.dir(id).join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.into()));
            }
            Err(e) => return Err(Error::path("read", path, e)),
        };
        serde_json::from_slice(&data).map_err(|e| Error::Other(format!("{}: {e}", path.display())))
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::path("remove", dir, e)),
        }
    }

    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(Error::path("read", &self.root, e)),
        };
        for ent in rd.flatten() {
            if ent.path().join(STATE_FILE).exists() {
                ids.push(ent.file_name().to_string_lossy().into_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// `starttime` (field 22) of /proc/PID/stat, and whether the process is a zombie.
pub fn proc_start_time(pid: i32) -> Option<(u64, bool)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, *state == "Z" || *state == "X"))
}

impl Saved {
    /// Whether the recorded init is still alive (not exited, not a recycled pid).
    pub fn init_alive(&self) -> bool {
        self.pid > 0
            && matches!(proc_start_time(self.pid), Some((t, zombie)) if t == self.init_start_time && !zombie)
    }

    pub fn oci(&self, status: Status) -> OciState {
        OciState {
            oci_version: self.oci_version.clone(),
            id: self.id.clone(),
            status,
            pid: (status != Status::Stopped).then_some(self.pid),
            bundle: self.bundle.clone(),
            annotations: self.annotations.clone(),
            created: Some(self.created.clone()),
            owner: Some(self.owner.clone()),
            rootfs: Some(self.rootfs.clone()),
        }
    }
}

/// RFC 3339 timestamp in UTC with nanoseconds, as Go's time.Time marshals.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("abc-1.2_x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_700_000_000, 5), "2023-11-14T22:13:20.000000005Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn own_process_is_alive_and_start_time_is_stable() {
        let pid = std::process::id() as i32;
        let (t, zombie) = proc_start_time(pid).unwrap();
        assert!(!zombie);
        assert_eq!(proc_start_time(pid).unwrap().0, t);
    }
}
