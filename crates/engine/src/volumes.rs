//! Volumes of the `local` driver: `<data-root>/volumes/<name>/_data`, a row each in
//! `berth.db` (labels, driver options). Options make a volume a mount of its own (`type=tmpfs`,
//! `o=bind` with `device=PATH`, any `type`/`device`/`o` mount(2) takes), mounted on its
//! `_data` while a running container uses it, as Docker's local driver does.
//!
//! Anonymous volumes (an image's `VOLUME`, `-v /path`, `--mount type=volume` without a
//! source) carry Docker's `com.docker.volume.anonymous` label: `rm -v` and `--rm` remove
//! them with their container, and `volume prune` only removes those unless `all=true`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

use crate::container::Container;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::types::{HostConfig, MountPoint};

/// Docker's label on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// One volume's row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub created: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// `POST /volumes/create`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateVolume {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// A volume mount's `nocopy`, labels and driver options (for a volume it creates).
type MountOpts = (bool, BTreeMap<String, String>, BTreeMap<String, String>);

/// (container, volume) pairs whose `mount` event was sent and `unmount` is due.
static MOUNTED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn valid_name(n: &str) -> bool {
    let mut it = n.chars();
    n.len() >= 2
        && matches!(it.next(), Some(c) if c.is_ascii_alphanumeric())
        && it.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn no_such(name: &str) -> EngineError {
    EngineError::NotFound(format!("get {name}: no such volume"))
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Volume> {
    let labels: String = r.get(3)?;
    let options: String = r.get(4)?;
    Ok(Volume {
        name: r.get(0)?,
        driver: r.get(1)?,
        created: r.get(2)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        options: serde_json::from_str(&options).unwrap_or_default(),
    })
}

const COLUMNS: &str = "name, driver, created, labels, options";

impl Engine {
    fn volume_dir(&self, name: &str) -> PathBuf {
        self.cfg.data_root.join("volumes").join(name)
    }

    /// A volume's `_data`: what containers mount.
    pub fn volume_mountpoint(&self, name: &str) -> PathBuf {
        self.volume_dir(name).join("_data")
    }

    pub fn volume_get(&self, name: &str) -> Result<Option<Volume>> {
        let conn = self.db.lock();
        Ok(conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM volumes WHERE name = ?1"),
                params![name],
                row,
            )
            .optional()?)
    }

    pub fn volumes_all(&self) -> Result<Vec<Volume>> {
        let conn = self.db.lock();
        let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM volumes ORDER BY name"))?;
        let rows = st.query_map([], row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Creates a volume (its directory and row); an existing one is returned as it is.
    /// Returns the volume and whether it was new.
    fn volume_insert(&self, v: &Volume) -> Result<(Volume, bool)> {
        let data = self.volume_mountpoint(&v.name);
        std::fs::create_dir_all(&data)
            .map_err(|e| EngineError::internal(format!("create {}", data.display()), e))?;
        let labels = serde_json::to_string(&v.labels).unwrap_or_else(|_| "{}".into());
        let options = serde_json::to_string(&v.options).unwrap_or_else(|_| "{}".into());
        let n = self.db.lock().execute(
            "INSERT OR IGNORE INTO volumes (name, driver, created, labels, options) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![v.name, v.driver, v.created, labels, options],
        )?;
        if n > 0 {
            self.emit("volume", "create", &v.name, [("driver", v.driver.as_str())]);
        }
        let got = self.volume_get(&v.name)?.ok_or_else(|| no_such(&v.name))?;
        Ok((got, n > 0))
    }

    /// `POST /volumes/create`.
    pub fn volume_create(&self, req: CreateVolume) -> Result<Value> {
        let name = match req.name.filter(|n| !n.is_empty()) {
            Some(n) if n.len() < 2 => {
                return Err(EngineError::InvalidArgument(format!(
                    "create {n}: volume name is too short, names should be at least two alphanumeric characters"
                )));
            }
            Some(n) if !valid_name(&n) => {
                return Err(EngineError::InvalidArgument(format!(
                    "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                )));
            }
            Some(n) => n,
            None => crate::ids::random_hex(32),
        };
        let driver = req
            .driver
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "local".into());
        if driver != "local" {
            return Err(EngineError::NotFound(format!(
                "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        let options = req.driver_opts.unwrap_or_default();
        for k in options.keys() {
            if !matches!(k.as_str(), "type" | "o" | "device") {
                return Err(EngineError::InvalidArgument(format!(
                    "create {name}: invalid option: \"{k}\""
                )));
            }
        }
        if options
            .get("o")
            .is_some_and(|o| o.split(',').any(|f| f == "bind"))
            && options.get("device").is_none_or(|d| !d.starts_with('/'))
        {
            return Err(EngineError::InvalidArgument(format!(
                "create {name}: o=bind needs device=<absolute host path>"
            )));
        }
        let v = Volume {
            name,
            driver,
            created: now_seconds(),
            labels: req.labels.unwrap_or_default(),
            options,
        };
        let (v, _) = self.volume_insert(&v)?;
        Ok(self.volume_json(&v, None))
    }

    /// A volume as the API shows it; `usage` adds `UsageData` (`system df`).
    pub fn volume_json(&self, v: &Volume, usage: Option<(u64, usize)>) -> Value {
        let mut out = json!({
            "Name": v.name,
            "Driver": v.driver,
            "Mountpoint": self.volume_mountpoint(&v.name),
            "CreatedAt": v.created,
            "Labels": if v.labels.is_empty() { Value::Null } else { json!(v.labels) },
            "Scope": "local",
            "Options": if v.options.is_empty() { Value::Null } else { json!(v.options) },
        });
        if let Some((size, refs)) = usage {
            out["UsageData"] = json!({ "Size": size, "RefCount": refs });
        }
        out
    }

    /// `GET /volumes/{name}`.
    pub fn volume_inspect(&self, name: &str) -> Result<Value> {
        let v = self.volume_get(name)?.ok_or_else(|| no_such(name))?;
        Ok(self.volume_json(&v, None))
    }

    /// Containers (any state) with `name` among their mounts.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.all()
            .iter()
            .filter(|c| {
                c.rec()
                    .mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// `GET /volumes` with filters `name` (substring), `label`, `dangling`, `driver`.
    pub fn volume_list(&self, f: &HashMap<String, Vec<String>>) -> Result<Vec<Value>> {
        let used: HashSet<String> = self
            .all()
            .iter()
            .flat_map(|c| c.rec().mounts)
            .filter(|m| m.kind == "volume")
            .map(|m| m.name)
            .collect();
        let dangling = match f.get("dangling").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => match v[0].as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => {
                    return Err(EngineError::InvalidArgument(format!(
                        "invalid filter 'dangling=[{}]'",
                        v.join(" ")
                    )));
                }
            },
        };
        let mut out = Vec::new();
        for v in self.volumes_all()? {
            if f.get("name")
                .is_some_and(|n| !n.is_empty() && !n.iter().any(|n| v.name.contains(n.as_str())))
                || f.get("driver")
                    .is_some_and(|d| !d.is_empty() && !d.contains(&v.driver))
                || dangling.is_some_and(|d| d == used.contains(&v.name))
                || !crate::images::labels_match(&v.labels, f)
            {
                continue;
            }
            out.push(self.volume_json(&v, None));
        }
        Ok(out)
    }

    /// `DELETE /volumes/{name}`: 409 while a container uses it; `force` only makes a
    /// missing volume no error (as Docker's does).
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let Some(v) = self.volume_get(name)? else {
            return if force { Ok(()) } else { Err(no_such(name)) };
        };
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(EngineError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        self.volume_destroy(&v)
    }

    fn volume_destroy(&self, v: &Volume) -> Result<()> {
        let data = self.volume_mountpoint(&v.name);
        crate::mounts::unmount(&data);
        let dir = self.volume_dir(&v.name);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(EngineError::internal(
                format!("remove {}", dir.display()),
                e,
            ));
        }
        self.db.delete_volume(&v.name)?;
        self.emit(
            "volume",
            "destroy",
            &v.name,
            [("driver", v.driver.as_str())],
        );
        tracing::info!(volume = %v.name, "volume removed");
        Ok(())
    }

    /// `POST /volumes/prune`: unused anonymous volumes, or with `all=true` every unused
    /// volume; `label`/`label!` narrow it. Returns names and bytes freed.
    pub fn volume_prune(&self, f: &HashMap<String, Vec<String>>) -> Result<(Vec<String>, u64)> {
        let all = f
            .get("all")
            .is_some_and(|v| v.iter().any(|a| a == "true" || a == "1"));
        let mut deleted = Vec::new();
        let mut freed = 0;
        for v in self.volumes_all()? {
            if (!all && !v.labels.contains_key(ANONYMOUS_LABEL))
                || !crate::images::labels_match(&v.labels, f)
                || !self.volume_users(&v.name).is_empty()
            {
                continue;
            }
            let size =
                berth_image::fsutil::apparent_size(&self.volume_mountpoint(&v.name)).unwrap_or(0);
            self.volume_destroy(&v)?;
            freed += size;
            deleted.push(v.name);
        }
        self.emit("volume", "prune", "", [("reclaimed", freed.to_string())]);
        Ok((deleted, freed))
    }

    /// Every volume with its size and number of containers using it (`system df`).
    pub fn volume_usage(&self) -> Result<Vec<Value>> {
        let mut refs: HashMap<String, usize> = HashMap::new();
        for c in self.all() {
            for m in c.rec().mounts.iter().filter(|m| m.kind == "volume") {
                *refs.entry(m.name.clone()).or_default() += 1;
            }
        }
        Ok(self
            .volumes_all()?
            .iter()
            .map(|v| {
                let size = berth_image::fsutil::apparent_size(&self.volume_mountpoint(&v.name))
                    .unwrap_or(0);
                self.volume_json(v, Some((size, refs.get(&v.name).copied().unwrap_or(0))))
            })
            .collect())
    }

    /// At container creation: the volumes its mounts name exist afterwards. Those berth
    /// named itself (not given by the user in `-v` or `--mount`) are anonymous.
    pub(crate) fn ensure_container_volumes(
        &self,
        mounts: &[MountPoint],
        host: &HostConfig,
    ) -> Result<()> {
        let given = given_sources(host);
        // `--mount` volume options (labels and driver options for a new volume, `nocopy`)
        // and `-v name:/path:nocopy`, by destination.
        let mut opts: HashMap<String, MountOpts> = HashMap::new();
        for m in host.mounts.iter().flatten().filter(|m| m.kind == "volume") {
            let vo = m.extra.get("VolumeOptions");
            let map = |v: Option<&Value>| -> BTreeMap<String, String> {
                v.and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default()
            };
            opts.insert(
                crate::mounts::clean_path(&m.target),
                (
                    vo.and_then(|v| v.get("NoCopy")).and_then(Value::as_bool) == Some(true),
                    map(vo.and_then(|v| v.get("Labels"))),
                    map(vo
                        .and_then(|v| v.get("DriverConfig"))
                        .and_then(|d| d.get("Options"))),
                ),
            );
        }
        for b in host.binds.iter().flatten() {
            let parts: Vec<&str> = b.split(':').collect();
            if let [_, dst, mode] = parts.as_slice()
                && mode.split(',').any(|o| o == "nocopy")
            {
                opts.entry(crate::mounts::clean_path(dst)).or_default().0 = true;
            }
        }
        for m in mounts.iter().filter(|m| m.kind == "volume") {
            let (nocopy, mut labels, options) =
                opts.get(&m.destination).cloned().unwrap_or_default();
            if !given.contains(m.name.as_str()) {
                labels.insert(ANONYMOUS_LABEL.to_owned(), String::new());
            }
            let (_, new) = self.volume_insert(&Volume {
                name: m.name.clone(),
                driver: "local".into(),
                created: now_seconds(),
                labels,
                options,
            })?;
            if new && nocopy {
                // The marker start looks for: this volume never takes the image's content.
                let marker = self.volume_dir(&m.name).join(".initialized");
                std::fs::write(&marker, b"")
                    .map_err(|e| EngineError::internal(format!("write {}", marker.display()), e))?;
            }
        }
        Ok(())
    }

    /// `HostConfig.VolumesFrom` (`container[:ro|:rw]`, with `z`, `Z` or a consistency mode
    /// allowed too): that container's volumes and binds, at the same destinations, unless
    /// this container mounts something there already.
    pub(crate) fn volumes_from(
        &self,
        host: &HostConfig,
        mounts: &mut Vec<MountPoint>,
    ) -> Result<()> {
        let Some(list) = host.extra.get("VolumesFrom").and_then(Value::as_array) else {
            return Ok(());
        };
        for spec in list.iter().filter_map(Value::as_str) {
            let (name, mode) = spec.split_once(':').unwrap_or((spec, ""));
            // A known mode that does not fit here (a propagation, `nocopy`) is refused too:
            // the mounts keep the other container's.
            let misfit = mode
                .split(',')
                .any(|o| o == "nocopy" || crate::mounts::PROPAGATIONS.contains(&o));
            if !crate::mounts::valid_mode(mode) || misfit {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid mode: {mode}"
                )));
            }
            let other = self.get(name)?;
            for m in other.rec().mounts {
                if m.kind == "tmpfs" || mounts.iter().any(|x| x.destination == m.destination) {
                    continue;
                }
                let mut m = m.clone();
                // A read-only volume stays read-only whatever the mode says (dockerd).
                m.rw = m.rw && !mode.split(',').any(|o| o == "ro");
                mounts.push(m);
            }
        }
        Ok(())
    }

    /// Before a container starts: the volume exists and, if its options say so, is mounted
    /// on its `_data`. Sends the `mount` event. Returns `_data`.
    pub(crate) fn mount_volume(&self, m: &MountPoint, container: &str) -> Result<PathBuf> {
        let v = match self.volume_get(&m.name)? {
            Some(v) => v,
            None => {
                self.volume_insert(&Volume {
                    name: m.name.clone(),
                    driver: "local".into(),
                    created: now_seconds(),
                    ..Default::default()
                })?
                .0
            }
        };
        let data = self.volume_mountpoint(&v.name);
        std::fs::create_dir_all(&data)
            .map_err(|e| EngineError::internal(format!("create {}", data.display()), e))?;
        if needs_mount(&v) && !crate::mounts::is_mounted(&data) {
            mount_options(&v, &data).map_err(|e| {
                // dockerd's words.
                let opt = |k: &str| v.options.get(k).map(String::as_str).unwrap_or("");
                EngineError::Internal(format!(
                    "error while mounting volume '{d}': failed to mount local volume: mount {}:{d}, data: {}: {}",
                    opt("device"),
                    opt("o"),
                    crate::error::go_errno(&e),
                    d = data.display()
                ))
            })?;
        }
        let mut mounted = MOUNTED.lock().unwrap_or_else(|p| p.into_inner());
        let key = (container.to_owned(), v.name.clone());
        if !mounted.contains(&key) {
            mounted.push(key);
            self.emit(
                "volume",
                "mount",
                &v.name,
                [
                    ("driver", v.driver.clone()),
                    ("container", container.to_owned()),
                    ("destination", m.destination.clone()),
                    ("read/write", m.rw.to_string()),
                    ("propagation", m.propagation.clone()),
                ],
            );
        }
        Ok(data)
    }

    /// After a container stops: `unmount` events, and volumes with mount options that no
    /// other running container uses are unmounted.
    pub(crate) fn release_volumes(&self, c: &Container) {
        let mounts = c.rec().mounts;
        for m in mounts.iter().filter(|m| m.kind == "volume") {
            let key = (c.id.clone(), m.name.clone());
            let was = {
                let mut mounted = MOUNTED.lock().unwrap_or_else(|p| p.into_inner());
                let before = mounted.len();
                mounted.retain(|k| k != &key);
                before != mounted.len()
            };
            if was {
                self.emit(
                    "volume",
                    "unmount",
                    &m.name,
                    [("driver", "local"), ("container", c.id.as_str())],
                );
            }
            let Ok(Some(v)) = self.volume_get(&m.name) else {
                continue;
            };
            let busy = self.all().iter().any(|o| {
                o.id != c.id && {
                    let r = o.rec();
                    r.state.running
                        && r.mounts
                            .iter()
                            .any(|x| x.kind == "volume" && x.name == m.name)
                }
            });
            if needs_mount(&v) && !busy {
                crate::mounts::unmount(&self.volume_mountpoint(&v.name));
            }
        }
    }

    /// `rm -v` and `--rm`: the anonymous volumes among `mounts` that no other container
    /// uses are removed, but not one the container named in `-v`/`--mount` (dockerd keeps
    /// those: docker-compose recreates a service with its old anonymous volumes so).
    pub(crate) fn remove_anonymous_volumes(&self, mounts: &[MountPoint], host: &HostConfig) {
        let given = given_sources(host);
        for m in mounts
            .iter()
            .filter(|m| m.kind == "volume" && !given.contains(m.name.as_str()))
        {
            let Ok(Some(v)) = self.volume_get(&m.name) else {
                continue;
            };
            if !v.labels.contains_key(ANONYMOUS_LABEL) || !self.volume_users(&v.name).is_empty() {
                continue;
            }
            if let Err(e) = self.volume_destroy(&v) {
                tracing::warn!(volume = %v.name, error = %e, "anonymous volume not removed");
            }
        }
    }
}

/// The sources the user gave in `-v` (`Binds`) and `--mount`: volume names among them.
fn given_sources(host: &HostConfig) -> HashSet<&str> {
    let binds = host.binds.iter().flatten();
    binds
        .map(|b| b.split(':').next().unwrap_or(""))
        .chain(host.mounts.iter().flatten().map(|m| m.source.as_str()))
        .collect()
}

fn now_seconds() -> String {
    berth_image::timefmt::format_rfc3339(berth_image::timefmt::now())
}

fn needs_mount(v: &Volume) -> bool {
    v.options.contains_key("type") || v.options.contains_key("device")
}

/// mount(2) as Docker's local driver calls it: `device` on `_data` with `type` and `o`
/// (flags it knows become mount flags, the rest is the data string); `o=bind` binds a
/// host path.
fn mount_options(v: &Volume, data: &std::path::Path) -> std::io::Result<()> {
    use rustix::mount::{MountFlags, mount, mount_bind, mount_bind_recursive};
    let o = v.options.get("o").map(String::as_str).unwrap_or("");
    let kind = v.options.get("type").map(String::as_str).unwrap_or("");
    let device = v.options.get("device").map(String::as_str).unwrap_or(kind);
    let opts: Vec<&str> = o.split(',').filter(|s| !s.is_empty()).collect();
    if opts.contains(&"bind") || opts.contains(&"rbind") {
        if opts.contains(&"rbind") {
            mount_bind_recursive(device, data)?;
        } else {
            mount_bind(device, data)?;
        }
        return Ok(());
    }
    let mut flags = MountFlags::empty();
    let mut rest = Vec::new();
    for f in opts {
        match f {
            "ro" => flags |= MountFlags::RDONLY,
            "nosuid" => flags |= MountFlags::NOSUID,
            "nodev" => flags |= MountFlags::NODEV,
            "noexec" => flags |= MountFlags::NOEXEC,
            "rw" | "defaults" => {}
            other => rest.push(other),
        }
    }
    let data_opts = std::ffi::CString::new(rest.join(","))
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    mount(device, data, kind, flags, data_opts.as_c_str())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names_follow_docker_rules() {
        assert!(valid_name("data"));
        assert!(valid_name("my_vol-1.x"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("has/slash"));
    }
}
