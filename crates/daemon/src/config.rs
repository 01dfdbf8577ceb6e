//! `daemon.toml`: every key optional; command-line flags win over the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub hosts: Option<Vec<String>>,
    pub log_level: Option<String>,
    pub registry_mirrors: Option<Vec<String>>,
    pub insecure_registries: Option<Vec<String>>,
    /// `nofile = "1024:2048"` style, as dockerd's `default-ulimits`.
    pub default_ulimits: Option<BTreeMap<String, String>>,
    pub log_opts: Option<LogOpts>,
    pub shim_binary: Option<PathBuf>,
    pub init_binary: Option<PathBuf>,
    pub group: Option<String>,
    /// Default bridge interface (dockerd's `--bridge`), `berth0`.
    pub bridge: Option<String>,
    /// Default bridge gateway/prefix (dockerd's `--bip`), e.g. `172.17.0.1/16`.
    pub bip: Option<String>,
    /// IPv6 on the default bridge network (dockerd's `--ipv6`), default false.
    pub ipv6: Option<bool>,
    /// The default bridge network's IPv6 allocation range (dockerd's `--fixed-cidr-v6`),
    /// e.g. `fd00:1::/64`; also its subnet without `bip6`.
    pub fixed_cidr_v6: Option<String>,
    /// The default bridge's IPv6 address and prefix (dockerd's `--bip6`), with `ipv6`.
    pub bip6: Option<String>,
    /// The default bridge network's IPv4 allocation range inside `bip`'s subnet
    /// (dockerd's `--fixed-cidr`).
    pub fixed_cidr: Option<String>,
    /// The containers' default route on the default bridge network when it is not the
    /// bridge's address (dockerd's `--default-gateway`, `--default-gateway-v6`).
    pub default_gateway: Option<String>,
    pub default_gateway_v6: Option<String>,
    /// Enable net.ipv4.ip_forward at start (dockerd's `--ip-forward`), default true.
    pub ip_forward: Option<bool>,
    /// Suffix of berth's iptables chain names, for several daemons on one host.
    pub iptables_chain_suffix: Option<String>,
    /// Set `favordynmods` on the host's cgroup2 mount at start (host-wide; see
    /// berth_cgroups::tuning): container starts no longer wait for an RCU grace period
    /// when joining their cgroup. Off by default.
    pub cgroup_favordynmods: Option<bool>,
    /// `host` or `private`: the cgroup namespace of containers that do not choose
    /// (dockerd's `default-cgroupns-mode`; private on a cgroup v2 host, else host).
    pub default_cgroupns_mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LogOpts {
    pub max_size: Option<String>,
    pub max_file: Option<u32>,
}

/// Reads the file; a missing file is an empty configuration unless it was asked for.
pub fn load(path: &Path, explicit: bool) -> anyhow::Result<FileConfig> {
    match std::fs::read_to_string(path) {
        Ok(s) => toml::from_str(&s).with_context(|| format!("parse {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok(FileConfig::default())
        }
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_optional_and_unknown_keys_are_refused() {
        let c: FileConfig = toml::from_str("").unwrap();
        assert!(c.data_root.is_none());
        let c: FileConfig = toml::from_str(
            "data-root = \"/x\"\nregistry-mirrors = [\"m:5000\"]\n[default-ulimits]\nnofile = \"1024:2048\"\n[log-opts]\nmax-size = \"10m\"\nmax-file = 3\n",
        )
        .unwrap();
        assert_eq!(c.data_root.as_deref(), Some(Path::new("/x")));
        assert_eq!(c.log_opts.unwrap().max_file, Some(3));
        assert!(toml::from_str::<FileConfig>("nope = 1").is_err());
        let c: FileConfig =
            toml::from_str("ipv6 = true\nfixed-cidr-v6 = \"fd00:1::/64\"\n").unwrap();
        assert_eq!(c.ipv6, Some(true));
        assert_eq!(c.fixed_cidr_v6.as_deref(), Some("fd00:1::/64"));
    }
}
