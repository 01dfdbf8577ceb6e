//! The `cni` network driver: runs a CNI 1.0 plugin chain (ADD, CHECK, DEL) against a
//! container's netns file, as the CNI spec's runtime side does (libcni), by exec'ing the
//! plugin binaries with JSON on stdin. No CNI library: the protocol is environment
//! variables plus two JSON documents, and serde covers it.
//!
//! The ADD result is cached under the driver's cache directory, one file per (network,
//! container, interface), because the spec requires CHECK and DEL to receive it as
//! `prevResult`, also after a daemon restart.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("cni: reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cni: config {path}: {why}")]
    Config { path: PathBuf, why: String },
    #[error("cni: plugin {plugin} not found in {search:?}")]
    PluginNotFound {
        plugin: String,
        search: Vec<PathBuf>,
    },
    #[error("cni: running plugin {plugin} ({command}): {source}")]
    Exec {
        plugin: String,
        command: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cni: plugin {plugin} {command} for {container} failed: code {code}: {msg}{details}")]
    Plugin {
        plugin: String,
        command: &'static str,
        container: String,
        code: u32,
        msg: String,
        details: String,
    },
    #[error("cni: plugin {plugin} {command}: unparsable output: {why}")]
    BadOutput {
        plugin: String,
        command: &'static str,
        why: String,
    },
    #[error("cni: host-local lease {path}: {source}")]
    Lease {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cni: result cache {path}: {source}")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A network configuration list (`.conflist`), kept as raw JSON per plugin so unknown
/// plugin keys pass through untouched.
#[derive(Clone, Debug)]
pub struct ConfList {
    pub name: String,
    pub cni_version: String,
    pub disable_check: bool,
    pub plugins: Vec<Map<String, Value>>,
}

impl ConfList {
    /// Parses a `.conflist`, or a single-plugin `.conf` (wrapped into a list of one).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, CniError> {
        let bad = |why: String| CniError::Config {
            path: path.to_path_buf(),
            why,
        };
        let v: Map<String, Value> =
            serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("missing \"name\"".into()))?
            .to_string();
        let cni_version = v
            .get("cniVersion")
            .and_then(Value::as_str)
            .unwrap_or("1.0.0")
            .to_string();
        let plugins = match v.get("plugins") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|p| {
                    p.as_object()
                        .cloned()
                        .ok_or_else(|| bad("plugin is not an object".into()))
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(bad("\"plugins\" is not a list".into())),
            None if v.contains_key("type") => vec![v.clone()],
            None => return Err(bad("no \"plugins\" and no \"type\"".into())),
        };
        if plugins.is_empty() {
            return Err(bad("empty plugin list".into()));
        }
        for p in &plugins {
            let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
            if ty.is_empty() || ty.contains('/') {
                return Err(bad(format!("bad plugin type {ty:?}")));
            }
        }
        Ok(Self {
            name,
            cni_version,
            disable_check: v
                .get("disableCheck")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            plugins,
        })
    }

    /// Whether a plugin of the list declares capability `cap` (takes it as runtime config).
    pub fn has_capability(&self, cap: &str) -> bool {
        self.plugins.iter().any(|p| {
            p.get("capabilities")
                .and_then(|c| c.get(cap))
                .and_then(Value::as_bool)
                == Some(true)
        })
    }

    /// Loads a config file, or from a directory the first `*.conflist`/`*.conf`/`*.json`
    /// in lexical order (libcni's rule).
    pub fn load(path: &Path) -> Result<Self, CniError> {
        let read_err = |source| CniError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(read_err)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("conflist" | "conf" | "json")
                    )
                })
                .collect();
            files.sort();
            files.into_iter().next().ok_or_else(|| CniError::Config {
                path: path.to_path_buf(),
                why: "no .conflist, .conf or .json file".into(),
            })?
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&file).map_err(|source| CniError::Read {
            path: file.clone(),
            source,
        })?;
        Self::parse(&bytes, &file)
    }
}

/// A published port passed to plugins with the `portMappings` capability (portmap).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniPortMapping {
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
    #[serde(rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

/// One attachment: which container, where its netns is, which interface to make.
#[derive(Clone, Debug)]
pub struct Attachment {
    pub container_id: String,
    pub netns: PathBuf,
    pub ifname: String,
    /// `CNI_ARGS` pairs, e.g. `IgnoreUnknown=1`.
    pub args: Vec<(String, String)>,
    pub port_mappings: Vec<CniPortMapping>,
    /// Other runtime values by capability name, e.g. `"ips": ["10.1.2.3/24"]` for
    /// `--ip`, `"mac": "02:42:.."` for `--mac-address`, `"bandwidth"`, `"dns"`.
    pub capability_args: Map<String, Value>,
}

/// A CNI 1.0 result, as the daemon maps it into NetworkSettings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniResult {
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    #[serde(default)]
    pub interfaces: Vec<CniInterface>,
    #[serde(default)]
    pub ips: Vec<CniIp>,
    #[serde(default)]
    pub routes: Vec<CniRoute>,
    #[serde(default)]
    pub dns: CniDns,
}

impl CniResult {
    /// The interface inside the container's namespace called `ifname`, with its index in
    /// [`Self::interfaces`].
    pub fn container_interface(&self, ifname: &str) -> Option<(usize, &CniInterface)> {
        self.interfaces
            .iter()
            .enumerate()
            .find(|(_, i)| i.name == ifname && i.sandbox.as_deref().is_some_and(|s| !s.is_empty()))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniInterface {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The netns path for container-side interfaces; absent for host-side ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniIp {
    /// Address with prefix, e.g. `10.22.0.5/24`.
    pub address: ipnet::IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<std::net::IpAddr>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniRoute {
    pub dst: ipnet::IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<std::net::IpAddr>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniDns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// Runs conflists. Its methods block while plugins run: use `spawn_blocking` from async
/// code. Plugins inherit the calling thread's network namespace (the host's, in berthd).
#[derive(Clone, Debug)]
pub struct CniDriver {
    /// Directories searched for plugin binaries (`CNI_PATH`).
    pub plugin_dirs: Vec<PathBuf>,
    /// Where ADD results are cached for CHECK and DEL.
    pub cache_dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct CacheEntry {
    /// The conflist the result came from, so DEL works even if the file changed since.
    config: Value,
    /// The final plugin's output, byte for byte what CHECK and DEL must get back.
    result: Value,
    #[serde(rename = "portMappings", default)]
    port_mappings: Vec<CniPortMapping>,
    #[serde(rename = "capabilityArgs", default)]
    capability_args: Map<String, Value>,
    /// The `CNI_ARGS` pairs of the ADD, which DEL gets again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    args: Vec<(String, String)>,
}

#[derive(Clone, Copy)]
enum Cmd {
    Add,
    Check,
    Del,
}

impl Cmd {
    fn as_str(self) -> &'static str {
        match self {
            Cmd::Add => "ADD",
            Cmd::Check => "CHECK",
            Cmd::Del => "DEL",
        }
    }
}

impl CniDriver {
    /// A driver using the Debian plugin directory and `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            plugin_dirs: vec![PathBuf::from("/usr/lib/cni"), PathBuf::from("/opt/cni/bin")],
            cache_dir: cache_dir.into(),
        }
    }

    fn cache_path(&self, net: &str, att: &Attachment) -> PathBuf {
        self.cache_dir
            .join("results")
            .join(format!("{net}-{}-{}", att.container_id, att.ifname))
    }

    fn find_plugin(&self, ty: &str) -> Result<PathBuf, CniError> {
        self.plugin_dirs
            .iter()
            .map(|d| d.join(ty))
            .find(|p| p.is_file())
            .ok_or_else(|| CniError::PluginNotFound {
                plugin: ty.to_string(),
                search: self.plugin_dirs.clone(),
            })
    }

    /// The stdin of one plugin invocation: its config plus name, cniVersion, the
    /// previous result and the runtime config for the capabilities it declares.
    fn plugin_input(
        conf: &ConfList,
        plugin: &Map<String, Value>,
        prev: Option<&Value>,
        att: &Attachment,
    ) -> Value {
        let mut m = plugin.clone();
        m.insert("name".into(), Value::String(conf.name.clone()));
        m.insert("cniVersion".into(), Value::String(conf.cni_version.clone()));
        if let Some(p) = prev {
            m.insert("prevResult".into(), p.clone());
        }
        // libcni's rule: a runtime value reaches a plugin only under a capability the
        // plugin declares as true.
        let caps = plugin.get("capabilities").and_then(Value::as_object);
        let mut rc = Map::new();
        let mut offered = att.capability_args.clone();
        if !att.port_mappings.is_empty() {
            offered.insert(
                "portMappings".into(),
                serde_json::to_value(&att.port_mappings).unwrap_or(Value::Null),
            );
        }
        for (k, v) in offered {
            if caps.and_then(|c| c.get(&k)).and_then(Value::as_bool) == Some(true) {
                rc.insert(k, v);
            }
        }
        if !rc.is_empty() {
            m.insert("runtimeConfig".into(), Value::Object(rc));
        }
        Value::Object(m)
    }

    fn exec(
        &self,
        cmd: Cmd,
        conf: &ConfList,
        plugin: &Map<String, Value>,
        prev: Option<&Value>,
        att: &Attachment,
    ) -> Result<Option<Value>, CniError> {
        let ty = plugin
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bin = self.find_plugin(ty)?;
        let input =
            serde_json::to_vec(&Self::plugin_input(conf, plugin, prev, att)).unwrap_or_default();
        let cni_path = std::env::join_paths(&self.plugin_dirs).unwrap_or_default();
        let args = att
            .args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        let exec_err = |source| CniError::Exec {
            plugin: ty.to_string(),
            command: cmd.as_str(),
            source,
        };
        let mut child = Command::new(&bin)
            .env_clear()
            .env("CNI_COMMAND", cmd.as_str())
            .env("CNI_CONTAINERID", &att.container_id)
            .env("CNI_NETNS", &att.netns)
            .env("CNI_IFNAME", &att.ifname)
            .env("CNI_ARGS", args)
            .env("CNI_PATH", cni_path)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(exec_err)?;
        // Cannot fail: stdin was configured as piped above.
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(&input).map_err(exec_err)?;
        drop(stdin);
        let out = child.wait_with_output().map_err(exec_err)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            #[derive(Deserialize)]
            struct ErrOut {
                #[serde(default)]
                code: u32,
                #[serde(default)]
                msg: String,
                #[serde(default)]
                details: String,
            }
            let e: ErrOut = serde_json::from_str(&stdout).unwrap_or(ErrOut {
                code: 999,
                msg: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                details: String::new(),
            });
            return Err(CniError::Plugin {
                plugin: ty.to_string(),
                command: cmd.as_str(),
                container: att.container_id.clone(),
                code: e.code,
                msg: e.msg,
                details: if e.details.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", e.details)
                },
            });
        }
        if !matches!(cmd, Cmd::Add) || stdout.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&stdout)
            .map(Some)
            .map_err(|e| CniError::BadOutput {
                plugin: ty.to_string(),
                command: cmd.as_str(),
                why: e.to_string(),
            })
    }

    /// ADD: runs the chain in order, each plugin getting the previous one's result, caches
    /// the final result and returns it. If a plugin fails, DEL runs over the chain so the
    /// plugins that succeeded undo their work.
    pub fn add(&self, conf: &ConfList, att: &Attachment) -> Result<CniResult, CniError> {
        let mut prev: Option<Value> = None;
        for plugin in &conf.plugins {
            match self.exec(Cmd::Add, conf, plugin, prev.as_ref(), att) {
                Ok(Some(r)) => prev = Some(r),
                Ok(None) => {}
                Err(e) => {
                    let _ = self.del_with(conf, att, prev.as_ref());
                    return Err(e);
                }
            }
        }
        let raw = prev.unwrap_or(Value::Object(Map::new()));
        let result: CniResult =
            serde_json::from_value(raw.clone()).map_err(|e| CniError::BadOutput {
                plugin: conf.name.clone(),
                command: "ADD",
                why: e.to_string(),
            })?;
        let entry = CacheEntry {
            config: conf_to_value(conf),
            result: raw,
            port_mappings: att.port_mappings.clone(),
            capability_args: att.capability_args.clone(),
            args: att.args.clone(),
        };
        self.write_cache(&self.cache_path(&conf.name, att), &entry)?;
        Ok(result)
    }

    /// CHECK: asks every plugin to verify the attachment against the cached result.
    pub fn check(&self, conf: &ConfList, att: &Attachment) -> Result<(), CniError> {
        if conf.disable_check {
            return Ok(());
        }
        let cached = self.cached(&conf.name, att)?;
        let prev = cached.map(|c| c.result);
        for plugin in &conf.plugins {
            self.exec(Cmd::Check, conf, plugin, prev.as_ref(), att)?;
        }
        Ok(())
    }

    /// DEL: runs the chain in reverse with the cached result, then forgets it. Uses the
    /// conflist cached at ADD time when there is one. Safe to repeat.
    pub fn del(&self, conf: &ConfList, att: &Attachment) -> Result<(), CniError> {
        let cached = self.cached(&conf.name, att)?;
        let (conf_used, prev, att_used);
        match cached {
            Some(c) => {
                conf_used = ConfList::parse(
                    &serde_json::to_vec(&c.config).unwrap_or_default(),
                    &self.cache_path(&conf.name, att),
                )
                .unwrap_or_else(|_| conf.clone());
                prev = Some(c.result);
                let mut a = att.clone();
                // DEL gets the runtime values ADD had, as the spec asks.
                if a.port_mappings.is_empty() {
                    a.port_mappings = c.port_mappings;
                }
                if a.capability_args.is_empty() {
                    a.capability_args = c.capability_args;
                }
                if !c.args.is_empty() {
                    a.args = c.args;
                }
                att_used = a;
            }
            None => {
                conf_used = conf.clone();
                prev = None;
                att_used = att.clone();
            }
        }
        self.del_with(&conf_used, &att_used, prev.as_ref())?;
        let path = self.cache_path(&conf.name, att);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CniError::Cache { path, source }),
        }
    }

    fn del_with(
        &self,
        conf: &ConfList,
        att: &Attachment,
        prev: Option<&Value>,
    ) -> Result<(), CniError> {
        let mut first_err = None;
        for plugin in conf.plugins.iter().rev() {
            if let Err(e) = self.exec(Cmd::Del, conf, plugin, prev, att) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The cached ADD result of an attachment, if any.
    pub fn cached_result(
        &self,
        network: &str,
        att: &Attachment,
    ) -> Result<Option<CniResult>, CniError> {
        let path = self.cache_path(network, att);
        self.cached(network, att)?
            .map(|c| {
                serde_json::from_value(c.result).map_err(|e| CniError::Cache {
                    path,
                    source: e.into(),
                })
            })
            .transpose()
    }

    fn cached(&self, network: &str, att: &Attachment) -> Result<Option<CacheEntry>, CniError> {
        let path = self.cache_path(network, att);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| CniError::Cache {
                    path,
                    source: e.into(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CniError::Cache { path, source }),
        }
    }

    fn write_cache(&self, path: &Path, entry: &CacheEntry) -> Result<(), CniError> {
        let err = |source| CniError::Cache {
            path: path.to_path_buf(),
            source,
        };
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(err)?;
        }
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(entry).map_err(|e| err(e.into()))?;
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(&bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

/// The `host-local` IPAM of a conflist: where it keeps its leases and the subnets it
/// hands addresses from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostLocal {
    /// `dataDir` (default `/var/lib/cni/networks`) joined with the conflist's name: the
    /// plugin's lease store, one file per leased address named by the address.
    pub lease_dir: PathBuf,
    /// Each range's subnet with its gateway (the subnet's first address when not given,
    /// as the plugin defaults it).
    pub ranges: Vec<(ipnet::IpNet, std::net::IpAddr)>,
}

impl ConfList {
    /// The `host-local` IPAM of the first plugin that has an `ipam` section, if it is
    /// `host-local`; `Err` with the IPAM type found (or `none`) otherwise.
    pub fn host_local(&self) -> Result<HostLocal, String> {
        let Some(ipam) = self
            .plugins
            .iter()
            .find_map(|p| p.get("ipam").and_then(Value::as_object))
        else {
            return Err("none".into());
        };
        let ty = ipam.get("type").and_then(Value::as_str).unwrap_or_default();
        if ty != "host-local" {
            return Err(format!("{ty:?}"));
        }
        let data_dir = ipam
            .get("dataDir")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .unwrap_or("/var/lib/cni/networks");
        let range_of = |r: &Map<String, Value>| -> Option<(ipnet::IpNet, std::net::IpAddr)> {
            let subnet: ipnet::IpNet = r.get("subnet")?.as_str()?.parse().ok()?;
            let subnet = subnet.trunc();
            let gw = r
                .get("gateway")
                .and_then(Value::as_str)
                .and_then(|g| g.parse().ok())
                .unwrap_or_else(|| first_host(subnet));
            Some((subnet, gw))
        };
        let mut ranges: Vec<_> = ipam
            .get("ranges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_object)
            .filter_map(range_of)
            .collect();
        // The older form: one range at the top of the ipam section.
        ranges.extend(range_of(ipam));
        Ok(HostLocal {
            lease_dir: Path::new(data_dir).join(&self.name),
            ranges,
        })
    }
}

/// The address after a subnet's network address.
fn first_host(subnet: ipnet::IpNet) -> std::net::IpAddr {
    match subnet {
        ipnet::IpNet::V4(n) => {
            std::net::Ipv4Addr::from(u32::from(n.network()).wrapping_add(1)).into()
        }
        ipnet::IpNet::V6(n) => {
            std::net::Ipv6Addr::from(u128::from(n.network()).wrapping_add(1)).into()
        }
    }
}

impl HostLocal {
    /// Keeps `ip` from containers the way host-local itself does: a lease file for it,
    /// made while holding the plugin's lock, owned by `owner` (an ID no container has, so
    /// no container's DEL releases it). Fails if the address is leased already.
    pub fn reserve(&self, ip: std::net::IpAddr, owner: &str) -> Result<PathBuf, CniError> {
        let path = self.lease_dir.join(ip.to_string());
        let err = |source| CniError::Lease {
            path: path.clone(),
            source,
        };
        let _lock = self.lock().map_err(err)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(err)?;
        // host-local's record: the owner's ID, a CRLF, the interface name.
        f.write_all(format!("{owner}\r\naux").as_bytes())
            .map_err(err)?;
        Ok(path)
    }

    /// Removes a lease file [`Self::reserve`] made for `owner`; a file gone or leased to
    /// someone else since is left.
    pub fn release(&self, path: &Path, owner: &str) -> Result<(), CniError> {
        let err = |source| CniError::Lease {
            path: path.to_path_buf(),
            source,
        };
        let _lock = self.lock().map_err(err)?;
        match std::fs::read_to_string(path) {
            Ok(s) if s.lines().next().map(str::trim) == Some(owner) => {
                std::fs::remove_file(path).map_err(err)
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    /// host-local's exclusive lock (`flock` of the file `lock` in its lease directory),
    /// held until the file returned is dropped.
    fn lock(&self) -> std::io::Result<std::fs::File> {
        use std::os::fd::AsRawFd;
        std::fs::create_dir_all(&self.lease_dir)?;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.lease_dir.join("lock"))?;
        // SAFETY: flock(2) on a descriptor this function owns.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(f)
    }
}

fn conf_to_value(conf: &ConfList) -> Value {
    let mut m = BTreeMap::new();
    m.insert("name", Value::String(conf.name.clone()));
    m.insert("cniVersion", Value::String(conf.cni_version.clone()));
    m.insert("disableCheck", Value::Bool(conf.disable_check));
    m.insert(
        "plugins",
        Value::Array(conf.plugins.iter().cloned().map(Value::Object).collect()),
    );
    serde_json::to_value(m).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflists_and_single_confs_parse() {
        let p = Path::new("x.conflist");
        let c = ConfList::parse(
            br#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","bridge":"b"},{"type":"portmap","capabilities":{"portMappings":true}}]}"#,
            p,
        )
        .unwrap();
        assert_eq!(c.plugins.len(), 2);
        let c = ConfList::parse(br#"{"name":"n","type":"macvlan"}"#, p).unwrap();
        assert_eq!(c.plugins.len(), 1);
        assert_eq!(c.cni_version, "1.0.0");
        assert!(ConfList::parse(br#"{"name":"n"}"#, p).is_err());
        assert!(ConfList::parse(br#"{"name":"n","plugins":[{"type":"../x"}]}"#, p).is_err());
    }

    #[test]
    fn host_local_ipam_is_found_with_its_lease_dir_and_ranges() {
        let c = ConfList::parse(
            br#"{"name":"n","plugins":[{"type":"bridge","ipam":{"type":"host-local","dataDir":"/d",
                "ranges":[[{"subnet":"10.1.2.0/24"}],[{"subnet":"fd00::/64","gateway":"fd00::fe"}]]}},
                {"type":"portmap","capabilities":{"portMappings":true}}]}"#,
            Path::new("x"),
        )
        .unwrap();
        let hl = c.host_local().unwrap();
        assert_eq!(hl.lease_dir, Path::new("/d/n"));
        assert_eq!(
            hl.ranges,
            vec![
                ("10.1.2.0/24".parse().unwrap(), "10.1.2.1".parse().unwrap()),
                ("fd00::/64".parse().unwrap(), "fd00::fe".parse().unwrap()),
            ]
        );
        assert!(c.has_capability("portMappings") && !c.has_capability("ips"));
        // The older single-range form, and the default data directory.
        let c = ConfList::parse(
            br#"{"name":"m","type":"bridge","ipam":{"type":"host-local","subnet":"10.9.0.0/16","gateway":"10.9.0.9"}}"#,
            Path::new("x"),
        )
        .unwrap();
        let hl = c.host_local().unwrap();
        assert_eq!(hl.lease_dir, Path::new("/var/lib/cni/networks/m"));
        assert_eq!(
            hl.ranges,
            vec![("10.9.0.0/16".parse().unwrap(), "10.9.0.9".parse().unwrap())]
        );
        let c = ConfList::parse(
            br#"{"name":"s","type":"macvlan","ipam":{"type":"static"}}"#,
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(c.host_local(), Err("\"static\"".to_owned()));
        let c = ConfList::parse(br#"{"name":"s","type":"macvlan"}"#, Path::new("x")).unwrap();
        assert_eq!(c.host_local(), Err("none".to_owned()));
    }

    #[test]
    fn aux_leases_are_host_local_files_released_only_by_their_owner() {
        let dir = std::env::temp_dir().join(format!("berth-cni-lease-{}", std::process::id()));
        let hl = HostLocal {
            lease_dir: dir.join("net"),
            ranges: Vec::new(),
        };
        let ip: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        let p = hl.reserve(ip, "owner-a").unwrap();
        assert_eq!(p, dir.join("net/10.1.2.3"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "owner-a\r\naux");
        // Taken: as host-local's own reservation, the second fails.
        assert!(matches!(
            hl.reserve(ip, "owner-b"),
            Err(CniError::Lease { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists
        ));
        hl.release(&p, "owner-b").unwrap();
        assert!(p.exists());
        hl.release(&p, "owner-a").unwrap();
        assert!(!p.exists());
        hl.release(&p, "owner-a").unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn runtime_config_goes_only_to_plugins_with_the_capability() {
        let c = ConfList::parse(
            br#"{"name":"n","plugins":[{"type":"bridge"},{"type":"portmap","capabilities":{"portMappings":true}}]}"#,
            Path::new("x"),
        )
        .unwrap();
        let att = Attachment {
            container_id: "c".into(),
            netns: "/x".into(),
            ifname: "eth0".into(),
            args: vec![],
            port_mappings: vec![CniPortMapping {
                host_port: 8080,
                container_port: 80,
                protocol: "tcp".into(),
                host_ip: None,
            }],
            capability_args: Map::new(),
        };
        let a = CniDriver::plugin_input(&c, &c.plugins[0], None, &att);
        assert!(a.get("runtimeConfig").is_none());
        let mut att = att;
        att.capability_args
            .insert("ips".into(), serde_json::json!(["10.1.2.3/24"]));
        let c2 = ConfList::parse(
            br#"{"name":"n","plugins":[{"type":"static","capabilities":{"ips":true,"portMappings":false}}]}"#,
            Path::new("x"),
        )
        .unwrap();
        let s = CniDriver::plugin_input(&c2, &c2.plugins[0], None, &att);
        assert_eq!(
            s["runtimeConfig"],
            serde_json::json!({"ips": ["10.1.2.3/24"]})
        );
        let b = CniDriver::plugin_input(&c, &c.plugins[1], Some(&Value::Null), &att);
        assert_eq!(b["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
        assert_eq!(b["name"], "n");
        assert!(b.get("prevResult").is_some());
    }
}
