//! `berth-runtime spec [--rootless]`: the starter `config.json` for a bundle.
//!
//! It carries the same content as `runc spec`, because tutorials, scripts and test suites
//! written for runc create a bundle with it and then edit fields by path (`jq
//! '.process.args=...'`); only the hostname says berth. The baseline is deliberately
//! tight (three capabilities, read-only root, no new privileges, masked /proc entries)
//! so that a user who starts from it must opt in to anything more.
//!
//! Differences from runc 1.1: `ociVersion` is what we implement (1.2.0), no ambient
//! capabilities (the template runs as uid 0, for which an ambient set adds nothing, and
//! an ambient set silently grants caps to every later non-root exec), and the rootless variant
//! also drops the cgroup mount (an unprivileged user may not mount cgroupfs for a
//! cgroup it does not own) and the rlimits (an unprivileged user cannot raise a hard
//! limit that is below 1024).

use serde_json::{Value, json};

/// The PATH runc puts in its template (Docker's default too).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const DEFAULT_CAPS: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The config.json `berth-runtime spec` writes; `rootless` adapts it to run as the
/// calling (unprivileged) user inside a user namespace that maps only that user.
pub fn default_spec(rootless: bool) -> Value {
    let mut process = json!({
        "terminal": true,
        "user": { "uid": 0, "gid": 0 },
        "args": ["sh"],
        "env": [DEFAULT_PATH, "TERM=xterm"],
        "cwd": "/",
        "capabilities": {
            "bounding": DEFAULT_CAPS,
            "effective": DEFAULT_CAPS,
            "permitted": DEFAULT_CAPS,
        },
        "noNewPrivileges": true,
    });
    if !rootless {
        process["rlimits"] = json!([{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }]);
    }

    let mut devpts_options = vec![
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
    ];
    // gid 5 (tty) exists only when the host's groups are mapped, which rootless does not do.
    if !rootless {
        devpts_options.push("gid=5");
    }
    let mut mounts = vec![
        json!({ "destination": "/proc", "type": "proc", "source": "proc" }),
        json!({
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        }),
        json!({
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": devpts_options,
        }),
        json!({
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        }),
        json!({
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        }),
    ];
    if rootless {
        // A fresh sysfs needs a network namespace owned by our user namespace *and*
        // privilege over it; bind-mounting the host's /sys read-only works everywhere.
        mounts.push(json!({
            "destination": "/sys",
            "type": "none",
            "source": "/sys",
            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
        }));
    } else {
        mounts.push(json!({
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        }));
        mounts.push(json!({
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        }));
    }

    let mut linux = json!({
        "maskedPaths": MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
    });
    if rootless {
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        linux["uidMappings"] = json!([{ "containerID": 0, "hostID": uid, "size": 1 }]);
        linux["gidMappings"] = json!([{ "containerID": 0, "hostID": gid, "size": 1 }]);
        // No network namespace: one the user owns would have only loopback, and runc's
        // rootless template keeps the host network for the same reason.
        linux["namespaces"] = namespaces(&["pid", "ipc", "uts", "mount", "user"]);
    } else {
        // Deny every device by default; the runtime still creates the standard ones.
        linux["resources"] = json!({ "devices": [{ "allow": false, "access": "rwm" }] });
        linux["namespaces"] = namespaces(&["pid", "network", "ipc", "uts", "mount"]);
    }

    json!({
        "ociVersion": "1.2.0",
        "process": process,
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "berth",
        "mounts": mounts,
        "linux": linux,
    })
}

fn namespaces(types: &[&str]) -> Value {
    Value::Array(types.iter().map(|t| json!({ "type": t })).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxNamespaceType, Spec};

    fn typed(rootless: bool) -> Spec {
        serde_json::from_value(default_spec(rootless)).expect("a valid OCI runtime spec")
    }

    #[test]
    fn spec_deserializes_as_an_oci_runtime_spec() {
        let spec = typed(false);
        assert_eq!(spec.version(), "1.2.0");
        assert_eq!(spec.hostname().as_deref(), Some("berth"));
        let process = spec.process().as_ref().unwrap();
        assert!(process.terminal().unwrap());
        assert_eq!(process.args().as_ref().unwrap(), &["sh".to_string()]);
        assert_eq!(process.no_new_privileges(), Some(true));
        assert_eq!(process.rlimits().as_ref().map(Vec::len), Some(1));
        let caps = process.capabilities().as_ref().unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 3);
        let root = spec.root().as_ref().unwrap();
        assert_eq!(root.path().to_str(), Some("rootfs"));
        assert_eq!(root.readonly(), Some(true));
        assert_eq!(spec.mounts().as_ref().unwrap().len(), 7);
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(linux.masked_paths().as_ref().unwrap().len(), 10);
        assert_eq!(linux.readonly_paths().as_ref().unwrap().len(), 5);
        let ns: Vec<_> = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        assert!(ns.contains(&LinuxNamespaceType::Network));
        assert!(!ns.contains(&LinuxNamespaceType::User));
        assert!(linux.uid_mappings().is_none());
    }

    #[test]
    fn rootless_spec_maps_the_calling_user_and_keeps_host_network() {
        let spec = typed(true);
        let linux = spec.linux().as_ref().unwrap();
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        let uids = linux.uid_mappings().as_ref().unwrap();
        assert_eq!(uids.len(), 1);
        assert_eq!(
            (uids[0].container_id(), uids[0].host_id(), uids[0].size()),
            (0, uid, 1)
        );
        let gids = linux.gid_mappings().as_ref().unwrap();
        assert_eq!(
            (gids[0].container_id(), gids[0].host_id(), gids[0].size()),
            (0, gid, 1)
        );
        let ns: Vec<_> = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        assert!(ns.contains(&LinuxNamespaceType::User));
        assert!(!ns.contains(&LinuxNamespaceType::Network));
        assert!(linux.resources().is_none());
        assert!(spec.process().as_ref().unwrap().rlimits().is_none());
        let mounts = spec.mounts().as_ref().unwrap();
        assert!(mounts.iter().all(|m| m.typ().as_deref() != Some("cgroup")));
        let sys = mounts
            .iter()
            .find(|m| m.destination().to_str() == Some("/sys"))
            .unwrap();
        assert_eq!(sys.typ().as_deref(), Some("none"));
        assert!(
            sys.options()
                .as_ref()
                .unwrap()
                .contains(&"rbind".to_string())
        );
    }
}
