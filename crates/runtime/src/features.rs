//! `berth-runtime features`: what this runtime supports, as the OCI features document
//! (runtime-spec `features.md`, schema `features-schema.json`).
//!
//! containerd, Kubernetes and Podman read this to decide which config fields they may send
//! (idmapped mounts, seccomp notify, time namespaces, ...), so it must describe what this
//! build on this host really does, not what the spec allows: seccomp actions and flags are
//! probed from the running kernel, architectures from the libseccomp loaded at run time.
//! Anything we do not implement is reported as disabled rather than left out, so a caller
//! never has to guess.

use libseccomp::{ScmpArch, ScmpFilterContext};
use oci_spec::runtime::{Arch, LinuxSeccompAction};
use serde_json::{Value, json};

/// Oldest and newest runtime-spec versions whose configs we accept.
const OCI_VERSION_MIN: &str = "1.0.0";
const OCI_VERSION_MAX: &str = "1.2.0";

/// Mount options `mounts::parse_options` understands; keep the two in step (or move this
/// list next to the parser). Filesystem-specific `key=value` data is passed through and
/// is not listed, like in runc.
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time",
];

const OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// OCI seccomp flags and their `seccomp(2)` values; the order is the one users see.
const SECCOMP_FLAGS: &[(&str, libc::c_ulong)] = &[
    ("SECCOMP_FILTER_FLAG_TSYNC", libc::SECCOMP_FILTER_FLAG_TSYNC),
    ("SECCOMP_FILTER_FLAG_LOG", libc::SECCOMP_FILTER_FLAG_LOG),
    (
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
    ),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    ),
];

/// Every OCI seccomp action with the kernel return value whose availability decides it.
const ACTIONS: &[(LinuxSeccompAction, u32)] = &[
    (LinuxSeccompAction::ScmpActAllow, libc::SECCOMP_RET_ALLOW),
    (LinuxSeccompAction::ScmpActErrno, libc::SECCOMP_RET_ERRNO),
    (
        LinuxSeccompAction::ScmpActKill,
        libc::SECCOMP_RET_KILL_THREAD,
    ),
    (
        LinuxSeccompAction::ScmpActKillProcess,
        libc::SECCOMP_RET_KILL_PROCESS,
    ),
    (
        LinuxSeccompAction::ScmpActKillThread,
        libc::SECCOMP_RET_KILL_THREAD,
    ),
    (LinuxSeccompAction::ScmpActLog, libc::SECCOMP_RET_LOG),
    (
        LinuxSeccompAction::ScmpActNotify,
        libc::SECCOMP_RET_USER_NOTIF,
    ),
    (LinuxSeccompAction::ScmpActTrace, libc::SECCOMP_RET_TRACE),
    (LinuxSeccompAction::ScmpActTrap, libc::SECCOMP_RET_TRAP),
];

/// Every architecture the OCI spec names; [`libseccomp_archs`] keeps those this libseccomp knows.
const ARCHS: &[Arch] = &[
    Arch::ScmpArchAarch64,
    Arch::ScmpArchArm,
    Arch::ScmpArchLoongarch64,
    Arch::ScmpArchM68k,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchParisc,
    Arch::ScmpArchParisc64,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchRiscv64,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchSh,
    Arch::ScmpArchSheb,
    Arch::ScmpArchX32,
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
];

/// The features document, ready to print as JSON.
pub fn features() -> Value {
    let capabilities: Vec<String> = {
        let mut all: Vec<caps::Capability> = caps::all().into_iter().collect();
        all.sort_by_key(|c| c.index());
        all.iter().map(ToString::to_string).collect()
    };
    let actions: Vec<String> = ACTIONS
        .iter()
        .filter(|(_, ret)| kernel_action_available(*ret))
        .map(|(action, _)| action.to_string())
        .collect();
    let notify = notify_supported();
    let known_flags: Vec<&str> = SECCOMP_FLAGS.iter().map(|(name, _)| *name).collect();
    let supported_flags: Vec<&str> = SECCOMP_FLAGS
        .iter()
        .filter(|(_, flag)| kernel_flag_supported(*flag))
        .map(|(name, _)| *name)
        .collect();
    let libseccomp_version = crate::seccomp::libseccomp_version();

    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": HOOKS,
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": capabilities,
            "cgroup": {
                "v1": true,
                "v2": true,
                "systemd": false,
                "systemdUser": false,
                "rdma": false,
            },
            "seccomp": {
                "enabled": true,
                "actions": actions,
                "operators": OPERATORS,
                "archs": libseccomp_archs(),
                "knownFlags": known_flags,
                "supportedFlags": supported_flags,
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": false } },
        },
        "annotations": {
            "io.github.seccomp.libseccomp.version": libseccomp_version,
            "org.opencontainers.runc.checkpoint.enabled": "false",
            "io.berth.version": env!("CARGO_PKG_VERSION"),
            // The schema has no place for it, but agents need to know before sending
            // SCMP_ACT_NOTIFY profiles whether a listener can be created here.
            "io.berth.seccomp.notify": notify.to_string(),
            "io.berth.seccomp.bpfCache": "true",
        },
    })
}

/// Whether the kernel knows a seccomp return action (`SECCOMP_GET_ACTION_AVAIL`, Linux 4.14).
fn kernel_action_available(ret: u32) -> bool {
    // SAFETY: SECCOMP_GET_ACTION_AVAIL only reads the u32 we point at; it installs nothing.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &ret as *const u32,
        )
    };
    r == 0
}

/// Whether the kernel accepts a `seccomp(SECCOMP_SET_MODE_FILTER)` flag.
///
/// The kernel validates flags before it reads the program, so a NULL program answers
/// EFAULT for a known flag and EINVAL for an unknown one, without installing anything
/// and without privileges. WAIT_KILLABLE_RECV is only valid with NEW_LISTENER.
fn kernel_flag_supported(flag: libc::c_ulong) -> bool {
    let flags = if flag == libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
        flag | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
    } else {
        flag
    };
    // SAFETY: with a NULL program the kernel fails with EFAULT before touching any state.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            std::ptr::null::<libc::c_void>(),
        )
    };
    r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// SCMP_ACT_NOTIFY needs kernel user notification and libseccomp API level 6 (the
/// listener flag together with TSYNC_ESRCH), which libseccomp derives from the kernel.
fn notify_supported() -> bool {
    kernel_action_available(libc::SECCOMP_RET_USER_NOTIF)
        && kernel_flag_supported(libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)
        && libseccomp::get_api() >= 6
}

/// Architectures the loaded libseccomp knows, as OCI names.
///
/// Each is tried alone on a fresh filter without the native arch: libseccomp refuses to
/// mix byte orders in one filter, so trying them next to (little-endian) x86_64 would drop
/// the big-endian ones even though a profile naming only them is valid.
fn libseccomp_archs() -> Vec<String> {
    ARCHS
        .iter()
        .filter(|&&arch| {
            let Ok(scmp) = arch.to_string().parse::<ScmpArch>() else {
                return false;
            };
            let Ok(mut ctx) = ScmpFilterContext::new(libseccomp::ScmpAction::Allow) else {
                return false;
            };
            if matches!(ctx.is_arch_present(scmp), Ok(true)) {
                return true;
            }
            ctx.remove_arch(ScmpArch::Native).is_ok() && ctx.add_arch(scmp).is_ok()
        })
        .map(ToString::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &Value) -> Vec<&str> {
        v.as_array()
            .expect("an array")
            .iter()
            .map(|s| s.as_str().expect("strings only"))
            .collect()
    }

    #[test]
    fn features_document_has_the_schema_fields_with_the_right_types() {
        let f = features();
        assert_eq!(f["ociVersionMin"], "1.0.0");
        assert_eq!(f["ociVersionMax"], "1.2.0");
        assert_eq!(strings(&f["hooks"]).len(), 6);
        assert!(strings(&f["mountOptions"]).contains(&"rbind"));
        let linux = &f["linux"];
        let caps = strings(&linux["capabilities"]);
        assert!(caps.iter().all(|c| c.starts_with("CAP_")));
        assert!(caps.contains(&"CAP_SYS_ADMIN") && caps.contains(&"CAP_CHECKPOINT_RESTORE"));
        for key in ["v1", "v2", "systemd", "systemdUser", "rdma"] {
            assert!(linux["cgroup"][key].is_boolean(), "cgroup.{key}");
        }
        let seccomp = &linux["seccomp"];
        assert_eq!(seccomp["enabled"], true);
        for key in [
            "actions",
            "operators",
            "archs",
            "knownFlags",
            "supportedFlags",
        ] {
            assert!(seccomp[key].is_array(), "seccomp.{key}");
        }
        assert!(strings(&seccomp["archs"]).contains(&"SCMP_ARCH_X86_64"));
        assert!(strings(&seccomp["actions"]).contains(&"SCMP_ACT_ERRNO"));
        assert_eq!(strings(&seccomp["knownFlags"]).len(), 4);
        for flag in strings(&seccomp["supportedFlags"]) {
            assert!(strings(&seccomp["knownFlags"]).contains(&flag));
        }
        for key in ["apparmor", "selinux", "intelRdt"] {
            assert_eq!(linux[key]["enabled"], false, "{key}");
        }
        assert_eq!(linux["mountExtensions"]["idmap"]["enabled"], false);
        let annotations = f["annotations"].as_object().unwrap();
        assert!(annotations.values().all(Value::is_string));
        assert_eq!(
            annotations["io.github.seccomp.libseccomp.version"],
            crate::seccomp::libseccomp_version()
        );

        // The OCI model (which is typed after the schema) accepts it as a whole.
        let typed: oci_spec::runtime::Features = serde_json::from_value(f).unwrap();
        assert_eq!(typed.oci_version_max(), "1.2.0");
    }

    #[test]
    fn every_advertised_mount_option_is_understood_by_the_mount_parser() {
        // An option the parser does not know ends up as filesystem data (or an error):
        // advertising it would let callers send configs that fail at mount time.
        for &opt in MOUNT_OPTIONS {
            let parsed = crate::mounts::parse_options(&[opt.to_string()]);
            match parsed {
                Ok(o) => assert!(o.data.is_empty(), "{opt} is passed through as fs data"),
                Err(e) => panic!("{opt} is rejected: {e}"),
            }
        }
    }

    #[test]
    fn all_eight_namespaces_including_time_are_listed() {
        let f = features();
        let ns = strings(&f["linux"]["namespaces"]);
        assert_eq!(ns.len(), 8);
        assert!(ns.contains(&"time"));
    }

    #[test]
    fn this_kernel_supports_the_flags_and_actions_we_rely_on() {
        // Kernel 5.19+ (the CI host runs 6.x) has all of them.
        let f = features();
        assert_eq!(strings(&f["linux"]["seccomp"]["supportedFlags"]).len(), 4);
        assert_eq!(strings(&f["linux"]["seccomp"]["actions"]).len(), 9);
        assert_eq!(f["annotations"]["io.berth.seccomp.notify"], "true");
    }
}
