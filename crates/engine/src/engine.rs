//! The engine: the set of containers, their creation, lookup and reporting. Lifecycle
//! operations are in `lifecycle.rs`, exec in `exec.rs`, logs in `logs.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use berth_image::images::ImageStore;
use berth_image::registry::{RegistryClient, RegistryConfig};
use serde_json::{Value, json};

use crate::container::{Container, ContainerRecord};
use crate::db::Db;
use crate::error::{EngineError, Result};
use crate::exec::Exec;
use crate::types::{Config, CreateRequest, HostConfig, State};

/// Daemon settings the engine needs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// The berth-shim binary.
    pub shim_binary: PathBuf,
    /// berth's init for `--init` (None: `--init` is refused).
    pub init_binary: Option<PathBuf>,
    pub log_max_size: u64,
    pub log_max_file: u32,
    pub registry: RegistryConfig,
    /// Default ulimits (`name` → (soft, hard)) applied when a container sets none.
    pub default_ulimits: Vec<crate::types::Ulimit>,
    /// `host` or `private` for containers that do not say (dockerd's
    /// `default-cgroupns-mode`); None: private on a cgroup v2 host, host on v1, as dockerd.
    pub default_cgroupns_mode: Option<String>,
}

impl EngineConfig {
    pub fn new(data_root: PathBuf, exec_root: PathBuf) -> EngineConfig {
        EngineConfig {
            data_root,
            exec_root,
            shim_binary: PathBuf::from("berth-shim"),
            init_binary: None,
            log_max_size: 20_000_000,
            log_max_file: 5,
            registry: RegistryConfig::default(),
            default_ulimits: Vec::new(),
            default_cgroupns_mode: None,
        }
    }

    /// The cgroup namespace mode of a container created without one.
    pub fn cgroupns_mode(&self) -> &str {
        match &self.default_cgroupns_mode {
            Some(m) => m,
            None if crate::spec::cgroup_v2_host() => "private",
            None => "host",
        }
    }
}

pub struct Engine {
    pub cfg: EngineConfig,
    pub db: Db,
    pub images: Arc<ImageStore>,
    pub registry: RegistryClient,
    pub(crate) containers: RwLock<HashMap<String, Arc<Container>>>,
    pub(crate) execs: RwLock<HashMap<String, Arc<Exec>>>,
    pub(crate) runtime: berth_runtime::state::Store,
    /// Networks, set by [`Engine::start_networks`] (see `network.rs`).
    pub(crate) net: std::sync::OnceLock<Arc<crate::network::Networks>>,
    /// The event stream (`GET /events`); publish with [`Engine::emit`].
    pub events: crate::events::EventBus,
    /// This daemon's identity (`info`'s `ID`): a UUID made once and kept in
    /// `<data-root>/engine-id`, as dockerd does.
    pub engine_id: String,
    /// The one inotify instance that wakes `logs -f` followers.
    pub(crate) log_watch: crate::logs::LogWatcher,
}

/// Reads `<data-root>/engine-id`, making it (a random UUID) the first time.
fn engine_id(data_root: &Path) -> Result<String> {
    let path = data_root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&path)
        && !s.trim().is_empty()
    {
        return Ok(s.trim().to_owned());
    }
    let mut h = crate::ids::random_hex(16).into_bytes();
    // Version 4, variant 10xx.
    h[12] = b'4';
    h[16] = b"89ab"[(h[16] as usize) % 4];
    let h = String::from_utf8_lossy(&h).into_owned();
    let id = format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    );
    let tmp = data_root.join("engine-id.tmp");
    std::fs::write(&tmp, format!("{id}\n"))
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| EngineError::internal(format!("write {}", path.display()), e))?;
    Ok(id)
}

/// Deletes a container's data dir, unmounting its root filesystem first (the deletion
/// must not walk into the overlay).
fn purge(dir: &Path) -> std::io::Result<()> {
    crate::mounts::unmount(&dir.join("merged"));
    std::fs::remove_dir_all(dir)
}

impl Engine {
    /// Opens the stores under the data root and exec root. Call [`Engine::restore`] next.
    pub fn open(cfg: EngineConfig) -> Result<Arc<Engine>> {
        for d in [
            cfg.data_root.join("containers"),
            cfg.data_root.join("volumes"),
            cfg.exec_root.join("containers"),
            cfg.exec_root.join("runtime"),
            cfg.data_root.join("trash"),
        ] {
            std::fs::create_dir_all(&d)
                .map_err(|e| EngineError::internal(format!("create {}", d.display()), e))?;
        }
        // Container dirs a crash left half deleted.
        let trash = cfg.data_root.join("trash");
        if std::fs::read_dir(&trash).is_ok_and(|mut d| d.next().is_some()) {
            std::thread::spawn(move || {
                for e in std::fs::read_dir(&trash).into_iter().flatten().flatten() {
                    let _ = purge(&e.path());
                }
            });
        }
        // Uploads and downloads (load, import) a crash left half spooled, and the
        // scratch directories of builds it cut short.
        for e in std::fs::read_dir(cfg.data_root.join("tmp"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = std::fs::remove_dir_all(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
        let engine_id = engine_id(&cfg.data_root)?;
        let db = Db::open(&cfg.data_root.join("berth.db"))?;
        let images = Arc::new(ImageStore::with_meta(
            &cfg.data_root,
            Box::new(crate::reserve::ReservedMeta {
                inner: berth_image::images::JsonImageMeta::new(&cfg.data_root.join("images.json")),
                reserve: db.reserve.clone(),
            }),
        )?);
        let registry = RegistryClient::new(cfg.registry.clone())
            .map_err(|e| EngineError::internal("registry client", e))?;
        let runtime = berth_runtime::state::Store::new(cfg.exec_root.join("runtime"));
        let mut map = HashMap::new();
        for rec in db.all()? {
            map.insert(rec.id.clone(), Arc::new(Container::new(rec)));
        }
        Ok(Arc::new(Engine {
            cfg,
            db,
            images,
            registry,
            containers: RwLock::new(map),
            execs: RwLock::new(HashMap::new()),
            runtime,
            net: std::sync::OnceLock::new(),
            events: crate::events::EventBus::new(),
            engine_id,
            log_watch: Default::default(),
        }))
    }

    /// Removes a container's data dir off the caller's path: it is renamed into
    /// `<data-root>/trash` (instant; a root filesystem still mounted in it moves along) and
    /// unmounted and deleted there in the background; what a crash leaves in the trash is
    /// deleted at the next start.
    pub(crate) fn discard_dir(&self, dir: &Path, id: &str) {
        let trash = self.cfg.data_root.join("trash").join(id);
        match std::fs::rename(dir, &trash) {
            Ok(()) => {
                let reserve = self.db.reserve.clone();
                std::thread::spawn(move || {
                    if let Err(e) = purge(&trash) {
                        tracing::warn!(path = %trash.display(), error = %e, "trash not fully removed");
                    }
                    // The space that removal freed may let the reserve be taken again.
                    reserve.refill();
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => {
                if let Err(e) = purge(dir) {
                    tracing::warn!(container = %id, error = %e, "container dir not fully removed");
                }
            }
        }
    }

    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.cfg.data_root.join("containers").join(id)
    }

    pub(crate) fn state_dir(&self, id: &str) -> PathBuf {
        self.cfg.exec_root.join("containers").join(id)
    }

    pub(crate) fn rootfs(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("merged")
    }

    /// All containers (a snapshot of the map).
    pub fn all(&self) -> Vec<Arc<Container>> {
        self.containers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Finds a container by full ID, name (with or without `/`), or unique ID prefix.
    /// A default-bridge link's name (`/parent/alias`) finds the container it links to, as
    /// dockerd registers each link as a name of its target.
    pub fn get(&self, name: &str) -> Result<Arc<Container>> {
        let n = name.strip_prefix('/').unwrap_or(name);
        {
            let map = self.containers.read().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = map.get(name) {
                return Ok(c.clone());
            }
            if let Some(c) = map.values().find(|c| c.name() == n) {
                return Ok(c.clone());
            }
            let hits: Vec<_> = if n.is_empty() || n.contains('/') {
                Vec::new()
            } else {
                map.values().filter(|c| c.id.starts_with(n)).collect()
            };
            match hits.len() {
                1 => return Ok(hits[0].clone()),
                0 => {}
                _ => {
                    return Err(EngineError::InvalidArgument(format!(
                        "multiple IDs found with provided prefix: {name}"
                    )));
                }
            }
        }
        self.link_named(n)
            .ok_or_else(|| EngineError::NotFound(format!("No such container: {name}")))
    }

    pub(crate) fn persist(&self, c: &Container) -> Result<()> {
        let rec = c.rec();
        self.db.update(&rec)
    }

    /// `POST /containers/create`: returns (ID, warnings).
    pub async fn create(
        self: &Arc<Self>,
        name: Option<&str>,
        req: CreateRequest,
    ) -> Result<(String, Vec<String>)> {
        let CreateRequest {
            config,
            mut host_config,
            networking_config,
        } = req;
        let mut warnings = crate::verify::discard_unsupported_blkio(&mut host_config);
        if host_config.shm_size == 0 {
            // dockerd records its default /dev/shm size (64 MiB) in the container.
            host_config.shm_size = 64 << 20;
        }
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            let n = n.strip_prefix('/').unwrap_or(n);
            if !crate::ids::valid_name(n) {
                return Err(EngineError::InvalidArgument(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        if !config.working_dir.is_empty() && !config.working_dir.starts_with('/') {
            return Err(EngineError::InvalidArgument(format!(
                "the working directory '{}' is invalid, it needs to be an absolute path",
                config.working_dir
            )));
        }
        crate::verify::config(
            &serde_json::to_value(&config).map_err(|e| EngineError::internal("config", e))?,
        )?;
        crate::verify::host_config(
            &serde_json::to_value(&host_config)
                .map_err(|e| EngineError::internal("host config", e))?,
        )?;
        if config.image.is_empty() {
            return Err(EngineError::InvalidArgument("no image specified".into()));
        }
        // dockerd's: 0 and negative limits mean none (null); an update records 0 instead.
        if host_config.pids_limit.is_some_and(|n| n <= 0) {
            host_config.pids_limit = None;
        }
        match host_config.cgroupns_mode.as_str() {
            "" => host_config.cgroupns_mode = self.cfg.cgroupns_mode().to_owned(),
            "host" | "private" => {}
            m => {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid cgroup namespace mode: {m}"
                )));
            }
        }
        if host_config.uts_mode == "host" && !config.hostname.is_empty() {
            return Err(EngineError::InvalidArgument(
                "conflicting options: hostname and the UTS mode".into(),
            ));
        }
        let image = self.images.resolve(&config.image)?;
        // Past the image, nothing missing is a 404: the docker CLI answers a 404 to a
        // create by pulling the image (a `--volumes-from` or `--link` to a missing container
        // would send it to the registry). dockerd reports those as 400s.
        self.create_from(name, config, host_config, networking_config, image)
            .await
            .map(|(id, w)| {
                warnings.extend(w);
                (id, warnings)
            })
            .map_err(|e| match e {
                EngineError::NotFound(m) => EngineError::InvalidArgument(m),
                e => e,
            })
    }

    async fn create_from(
        self: &Arc<Self>,
        name: Option<&str>,
        mut config: Config,
        mut host_config: HostConfig,
        networking_config: Option<Value>,
        image: berth_image::images::ImageRecord,
    ) -> Result<(String, Vec<String>)> {
        let warnings = Vec::new();
        let (_, image_cfg) = self.images.manifest_and_config(&image)?;
        let chain_id = self.images.chain_id(&image)?;
        let merged = crate::spec::merge(&config, image_cfg.config.as_ref())?;
        let net_eps = self.net_prepare(
            &mut config,
            &mut host_config,
            networking_config.as_ref(),
            image_cfg
                .config
                .as_ref()
                .and_then(|c| c.exposed_ports.as_ref()),
        )?;
        let policy = host_config.restart_policy.name.as_str();
        if host_config.auto_remove && !matches!(policy, "" | "no") {
            return Err(EngineError::InvalidArgument(
                "can't create 'AutoRemove' container with restart policy".into(),
            ));
        }
        if host_config.init == Some(true) && self.cfg.init_binary.is_none() {
            return Err(EngineError::InvalidArgument(
                "--init: berth-init is not installed next to berthd".into(),
            ));
        }
        crate::spec::capabilities(&host_config)?;
        if host_config.log_config.kind.is_empty() {
            host_config.log_config.kind = "json-file".into();
        }
        crate::verify::log_config(&host_config.log_config)?;
        let volumes_root = self.cfg.data_root.join("volumes");
        let mut mounts = crate::mounts::mount_points(&host_config, &volumes_root)?;
        self.volumes_from(&host_config, &mut mounts)?;
        // `-v /path` (Config.Volumes) and the image's VOLUMEs get anonymous volumes unless
        // something else is mounted there.
        let image_volumes = image_cfg
            .config
            .as_ref()
            .and_then(|c| c.volumes.clone())
            .unwrap_or_default();
        let wanted: Vec<String> = config
            .volumes
            .iter()
            .flat_map(|v| v.keys().cloned())
            .chain(image_volumes.keys().cloned())
            .collect();
        for dest in wanted {
            // `-v /bar/` mounts at `/bar`, as dockerd cleans the path.
            let dest = crate::mounts::clean_path(&dest);
            if !dest.starts_with('/') || mounts.iter().any(|m| m.destination == dest) {
                continue;
            }
            let name = crate::ids::random_hex(32);
            mounts.push(crate::types::MountPoint {
                kind: "volume".into(),
                name: name.clone(),
                source: volumes_root.join(&name).join("_data").display().to_string(),
                destination: dest,
                driver: "local".into(),
                rw: true,
                ..Default::default()
            });
        }
        for m in &mounts {
            if m.kind == "bind" && !Path::new(&m.source).exists() {
                // Docker creates a missing bind source directory for -v.
                std::fs::create_dir_all(&m.source).map_err(|e| {
                    EngineError::InvalidArgument(format!("create bind source {}: {e}", m.source))
                })?;
            }
        }
        self.ensure_container_volumes(&mounts, &host_config)?;

        // Record the merged configuration, as Docker's inspect shows it.
        let image_cc = image_cfg.config.clone().unwrap_or_default();
        if config.entrypoint.is_none() {
            config.entrypoint = image_cc.entrypoint.clone();
            if config.cmd.is_none() {
                config.cmd = image_cc.cmd.clone();
            }
        }
        config.env = Some(merged.env.clone());
        config.working_dir = if merged.cwd == "/" && config.working_dir.is_empty() {
            image_cc.working_dir.clone().unwrap_or_default()
        } else {
            merged.cwd.clone()
        };
        config.user = merged.user.clone();
        if config.stop_signal.is_none() {
            config.stop_signal = image_cc.stop_signal.clone();
        }
        let mut labels = image_cc.labels.clone().unwrap_or_default();
        labels.extend(config.labels.clone().unwrap_or_default());
        config.labels = Some(labels);
        crate::health::merge_image_healthcheck(&mut config, image_cc.healthcheck.as_ref());

        let id = crate::ids::random_hex(32);
        let hostname = if config.hostname.is_empty() {
            if host_config.network_mode == "host" {
                rustix::system::uname()
                    .nodename()
                    .to_string_lossy()
                    .into_owned()
            } else {
                id[..12].to_owned()
            }
        } else {
            config.hostname.clone()
        };
        config.hostname = hostname.clone();
        let dir = self.container_dir(&id);
        for d in ["upper", "work", "merged"] {
            std::fs::create_dir_all(dir.join(d))
                .map_err(|e| EngineError::internal(format!("create {}", dir.display()), e))?;
        }
        // The init layer (`/.dockerenv`, `/etc/mtab`, the mount points), made once here so
        // the start only stacks it.
        let image_lowers = match &chain_id {
            Some(c) => self.images.snapshots().lower_dirs(c),
            None => Ok(Vec::new()),
        };
        if let Err(e) = image_lowers
            .map_err(|e| EngineError::internal("image layers", e))
            .and_then(|l| {
                crate::initlayer::make(&crate::initlayer::path(&dir), &l)
                    .map_err(|e| EngineError::internal("create init layer", e))
            })
        {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let log_path = if host_config.log_config.kind == "none" {
            String::new()
        } else {
            dir.join(format!("{id}-json.log")).display().to_string()
        };
        let mut rec = ContainerRecord {
            id: id.clone(),
            name: String::new(),
            created: berth_runtime::state::now_rfc3339(),
            path: merged.args[0].clone(),
            args: merged.args[1..].to_vec(),
            config,
            host_config,
            image: image.id.to_string(),
            chain_id: chain_id.map(|c| c.to_string()),
            state: State {
                status: "created".into(),
                started_at: "0001-01-01T00:00:00Z".into(),
                finished_at: "0001-01-01T00:00:00Z".into(),
                ..Default::default()
            },
            mounts,
            log_path,
            hostname,
            ..Default::default()
        };
        let result = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                rec.name = n.strip_prefix('/').unwrap_or(n).to_owned();
                self.db.insert(&rec)
            }
            None => {
                let mut r = Err(EngineError::Internal("no free name".into()));
                for attempt in 0..10 {
                    rec.name = crate::ids::random_name(attempt);
                    r = self.db.insert(&rec);
                    if !matches!(r, Err(EngineError::Conflict(_))) {
                        break;
                    }
                }
                r
            }
        };
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        if let Err(e) = self.net_record(&id, &net_eps) {
            let _ = self.db.delete(&id);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        tracing::info!(container = %id, name = %rec.name, image = %rec.image, "created");
        let c = Arc::new(Container::new(rec));
        self.create_workdir(&c, &dir);
        self.containers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), c.clone());
        self.emit_container(&c, "create", &[]);
        Ok((id, warnings))
    }

    /// dockerd makes the working directory at create (`docker cp` of a created container
    /// finds it): made in the container's layer when every part of the path that an image
    /// layer has is a plain directory there. A symlink on the way (`/var/run` → `/run`,
    /// perhaps into another layer) or anything else than a directory is left for the start,
    /// which makes the directory in the merged view (a directory made here would hide it).
    fn create_workdir(&self, c: &Container, dir: &Path) {
        use std::path::Component;
        let wd = c.lock().config.working_dir.clone();
        if wd.is_empty() || wd == "/" {
            return;
        }
        let Ok(lowers) = self.lower_dirs(c) else {
            return;
        };
        let mut prefix = PathBuf::new();
        let mut found = false;
        for comp in Path::new(&wd).components() {
            match comp {
                Component::RootDir => continue,
                Component::Normal(n) => prefix.push(n),
                _ => return,
            }
            // Every shorter prefix is a directory (or absent) in every layer, so this
            // lookup stays inside the layer; its last part is not followed.
            let mut here = false;
            for l in &lowers {
                match std::fs::symlink_metadata(l.join(&prefix)) {
                    Ok(m) if m.is_dir() => here = true,
                    Ok(_) => return,
                    Err(_) => {}
                }
            }
            found = here;
        }
        if !found {
            let _ = crate::rootfs::mkdir_all(&dir.join("upper"), &wd);
        }
    }

    /// Creates a named volume's directory and row if new.
    pub fn ensure_volume(&self, name: &str) -> Result<PathBuf> {
        let data = self.cfg.data_root.join("volumes").join(name).join("_data");
        std::fs::create_dir_all(&data)
            .map_err(|e| EngineError::internal(format!("create {}", data.display()), e))?;
        self.db
            .ensure_volume(name, &berth_runtime::state::now_rfc3339())?;
        Ok(data)
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect(&self, name: &str) -> Result<Value> {
        let c = self.get(name)?;
        let rec = c.rec();
        let dir = self.container_dir(&rec.id);
        let mut state = serde_json::to_value(&rec.state).unwrap_or_default();
        state["Status"] = json!(rec.status());
        let exec_ids = self.exec_ids_of(&rec.id);
        let mut host_config = serde_json::to_value(&rec.host_config).unwrap_or_default();
        if host_config["ConsoleSize"].is_null() {
            host_config["ConsoleSize"] = json!([0, 0]);
        }
        host_config["Links"] = self.inspect_links(&rec);
        inspect_host_config_shape(&mut host_config, &rec.host_config);
        let mut config = serde_json::to_value(&rec.config).unwrap_or_default();
        if config["Volumes"].as_object().is_some_and(|v| v.is_empty()) {
            config["Volumes"] = Value::Null;
        }
        Ok(json!({
            "Id": rec.id,
            "Created": rec.created,
            "Path": rec.path,
            "Args": rec.args,
            "State": state,
            "Image": rec.image,
            "ResolvConfPath": dir.join("resolv.conf"),
            "HostnamePath": dir.join("hostname"),
            "HostsPath": dir.join("hosts"),
            "LogPath": rec.log_path,
            "Name": format!("/{}", rec.name),
            "RestartCount": rec.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": if exec_ids.is_empty() { Value::Null } else { json!(exec_ids) },
            "HostConfig": host_config,
            "GraphDriver": {
                "Name": "overlay2",
                "Data": {
                    // The init layer and the image's layers, top first, as overlayfs
                    // stacks them.
                    "LowerDir": self
                        .lower_dirs(&c)
                        .unwrap_or_default()
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(":"),
                    "MergedDir": dir.join("merged"),
                    "UpperDir": dir.join("upper"),
                    "WorkDir": dir.join("work"),
                }
            },
            "Mounts": rec.shown_mounts(),
            "Config": config,
            "NetworkSettings": self.network_settings(&rec),
        }))
    }

    /// `GET /containers/json`.
    pub fn list(
        &self,
        all: bool,
        limit: Option<usize>,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<Value>> {
        let mut recs: Vec<ContainerRecord> = self.all().iter().map(|c| c.rec()).collect();
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        let has = |k: &str| filters.get(k).filter(|v| !v.is_empty());
        let publish = port_filter("publish", has("publish"))?;
        let expose = port_filter("expose", has("expose"))?;
        let link_names = self.link_names();
        let mut out = Vec::new();
        for r in recs {
            let status = r.status();
            // dockerd counts a restarting container as running (its State.Running stays set).
            if !all
                && !r.state.running
                && !r.state.restarting
                && has("status").is_none()
                && has("exited").is_none()
            {
                continue;
            }
            if let Some(v) = has("status")
                && !v.iter().any(|s| s == status)
            {
                continue;
            }
            if let Some(v) = has("name")
                && !v.iter().any(|n| r.name.contains(n.trim_start_matches('/')))
            {
                continue;
            }
            if let Some(v) = has("id")
                && !v.iter().any(|n| r.id.starts_with(n.as_str()))
            {
                continue;
            }
            if let Some(v) = has("exited")
                && (status != "exited"
                    || !v
                        .iter()
                        .any(|n| n.parse::<i64>().ok() == Some(r.state.exit_code)))
            {
                continue;
            }
            if let Some(v) = has("label") {
                let labels = r.config.labels.clone().unwrap_or_default();
                let ok = v.iter().all(|l| match l.split_once('=') {
                    Some((k, val)) => labels.get(k).map(String::as_str) == Some(val),
                    None => labels.contains_key(l.as_str()),
                });
                if !ok {
                    continue;
                }
            }
            if let Some(v) = has("ancestor") {
                let ok = v.iter().any(|a| {
                    a == &r.config.image
                        || self
                            .images
                            .resolve(a)
                            .map(|i| i.id.to_string() == r.image)
                            .unwrap_or(false)
                });
                if !ok {
                    continue;
                }
            }
            let keys = |v: Option<&Value>| -> Vec<String> {
                v.and_then(Value::as_object)
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default()
            };
            // dockerd matches `publish` on the container ports of PortBindings and
            // `expose` on those of ExposedPorts, `80` meaning `80/tcp`.
            if let Some(want) = &publish
                && !keys(r.host_config.extra.get("PortBindings"))
                    .iter()
                    .any(|p| want.contains(p))
            {
                continue;
            }
            if let Some(want) = &expose
                && !keys(r.config.extra.get("ExposedPorts"))
                    .iter()
                    .any(|p| want.contains(p))
            {
                continue;
            }
            let mut v = self.summary(&r);
            // All its names, sorted as dockerd's name index lists them.
            if let Some(extra) = link_names.get(&r.id) {
                let mut names: Vec<String> = extra.clone();
                names.push(format!("/{}", r.name));
                names.sort();
                v["Names"] = json!(names);
            }
            out.push(v);
        }
        if let Some(n) = limit.filter(|n| *n > 0) {
            out.truncate(n);
        }
        Ok(out)
    }

    fn summary(&self, r: &ContainerRecord) -> Value {
        let created = berth_image::timefmt::parse_rfc3339(&r.created).unwrap_or(0);
        // dockerd quotes the arguments with a space in them (not the path).
        let command = std::iter::once(r.path.clone())
            .chain(r.args.iter().map(|a| {
                if a.contains(' ') {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            }))
            .collect::<Vec<_>>()
            .join(" ");
        let (net_ports, net_settings) = self.network_summary(r);
        // The name it was made from while that still names its image, else the image's
        // ID (dockerd's list after the tag moved to another image or went away).
        let image = if r.config.image == r.image
            || self
                .images
                .resolve(&r.config.image)
                .is_ok_and(|i| i.id.to_string() == r.image)
        {
            r.config.image.clone()
        } else {
            r.image.clone()
        };
        json!({
            "Id": r.id,
            "Names": [format!("/{}", r.name)],
            "Image": image,
            "ImageID": r.image,
            "Command": command,
            "Created": created,
            "Ports": net_ports,
            "Labels": r.config.labels.clone().unwrap_or_default(),
            "State": r.status(),
            "Status": status_text(r),
            "HostConfig": { "NetworkMode": r.host_config.network_mode },
            "NetworkSettings": net_settings,
            "Mounts": r.shown_mounts(),
        })
    }
}

/// A `publish`/`expose` filter's values as the container ports they cover (`80`,
/// `80/udp`, `8000-8080/tcp`), or dockerd's error for a bad one.
fn port_filter(key: &str, values: Option<&Vec<String>>) -> Result<Option<Vec<String>>> {
    let Some(values) = values else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for v in values {
        if v.contains(':') {
            return Err(crate::error::EngineError::InvalidArgument(format!(
                "filter for '{key}' should not contain ':': {v}"
            )));
        }
        let (port, proto) = v.split_once('/').unwrap_or((v, "tcp"));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        let bad = |why: String| {
            crate::error::EngineError::InvalidArgument(format!(
                "error while looking up for {key} {v}: {why}"
            ))
        };
        let num = |x: &str| {
            x.parse::<u16>()
                .map_err(|_| bad(format!("strconv.ParseUint: parsing {x:?}: invalid syntax")))
        };
        let (a, b) = match port.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(port)?, num(port)?),
        };
        if b < a {
            return Err(bad(format!("Invalid range specified for the Port: {port}")));
        }
        out.extend((a..=b).map(|p| format!("{p}/{}", proto.to_ascii_lowercase())));
    }
    Ok(Some(out))
}

/// The HostConfig of an inspect in dockerd's shape: the fields Go leaves out when empty
/// (`omitempty`) left out, "unset" limits null, the masked and read-only paths a
/// container gets listed, the runtime named.
fn inspect_host_config_shape(v: &mut Value, host: &crate::types::HostConfig) {
    let Some(m) = v.as_object_mut() else { return };
    for k in ["Init", "Mounts", "Sysctls", "Tmpfs"] {
        if m.get(k).is_some_and(|x| {
            x.is_null()
                || x.as_array().is_some_and(|a| a.is_empty())
                || x.as_object().is_some_and(|o| o.is_empty())
        }) {
            m.remove(k);
        }
    }
    if m.get("MemorySwappiness").and_then(Value::as_i64) == Some(-1) {
        m.insert("MemorySwappiness".into(), Value::Null);
    }
    // (records from before create normalized it; 0 is what an update to "unlimited" leaves)
    if m.get("PidsLimit")
        .and_then(Value::as_i64)
        .is_some_and(|n| n < 0)
    {
        m.insert("PidsLimit".into(), Value::Null);
    }
    if !host.privileged {
        let list = |l: &[&str]| json!(l);
        if host.masked_paths.is_none() {
            m.insert("MaskedPaths".into(), list(crate::spec::MASKED_PATHS));
        }
        if host.readonly_paths.is_none() {
            m.insert("ReadonlyPaths".into(), list(crate::spec::READONLY_PATHS));
        }
    }
    if m.get("Runtime")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        m.insert("Runtime".into(), json!("berth"));
    }
}

fn ago(rfc: &str) -> String {
    let Some(t) = berth_image::timefmt::parse_rfc3339(rfc) else {
        return "a while".into();
    };
    let d = (berth_image::timefmt::now() - t).max(0);
    match d {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{d} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", d / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", d / 3600),
        _ => format!("{} days", d / 86400),
    }
}

fn status_text(r: &ContainerRecord) -> String {
    match r.status() {
        "running" => format!(
            "Up {}{}",
            ago(&r.state.started_at),
            crate::health::ps_suffix(r)
        ),
        "paused" => format!("Up {} (Paused)", ago(&r.state.started_at)),
        "restarting" => format!(
            "Restarting ({}) {} ago",
            r.state.exit_code,
            ago(&r.state.finished_at)
        ),
        "exited" => format!(
            "Exited ({}) {} ago",
            r.state.exit_code,
            ago(&r.state.finished_at)
        ),
        "created" => "Created".into(),
        other => other.to_owned(),
    }
}
