//! Docker's default seccomp profile, and the conversion of a Docker-format profile into the
//! OCI `linux.seccomp` section.
//!
//! The profile's syscall groups are conditional (`includes`/`excludes` on capabilities,
//! architectures and kernel version); a runtime only understands the unconditional OCI
//! form, so the engine evaluates the conditions against the container it is creating.
//! The profile is moby/profiles v0.2.3 (Apache-2.0), embedded so berthd needs no file.

use serde_json::{Value, json};

use crate::error::{EngineError, Result};

pub const DEFAULT_PROFILE: &str = include_str!("../profiles/seccomp-default.json");

/// Go's name for the host architecture, as the profile's `arches` lists use.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

fn native_scmp_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "x86" => "SCMP_ARCH_X86",
        "arm" => "SCMP_ARCH_ARM",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390x" => "SCMP_ARCH_S390X",
        "powerpc64" => "SCMP_ARCH_PPC64LE",
        _ => "SCMP_ARCH_NATIVE",
    }
}

/// The running kernel's (major, minor).
pub fn kernel_version() -> (u32, u32) {
    let uts = rustix::system::uname();
    parse_version(&uts.release().to_string_lossy())
}

fn parse_version(s: &str) -> (u32, u32) {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let minor = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    (major, minor)
}

fn strs(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Converts a Docker seccomp profile to OCI form for a container whose bounding set is
/// `caps` (`CAP_*` names), on the host's arch and `kernel`.
pub fn to_oci(profile: &str, caps: &[String], kernel: (u32, u32)) -> Result<Value> {
    // Nearly every container asks for the same conversion (the default profile, the
    // default capabilities): parsing and filtering ~400 syscall rules each start is waste.
    type Key = (u64, Vec<String>, (u32, u32));
    static MEMO: std::sync::Mutex<Vec<(Key, Value)>> = std::sync::Mutex::new(Vec::new());
    let key: Key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        profile.hash(&mut h);
        (h.finish(), caps.to_vec(), kernel)
    };
    if let Some((_, v)) = MEMO
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(k, _)| *k == key)
    {
        return Ok(v.clone());
    }
    let v = convert(profile, caps, kernel)?;
    let mut memo = MEMO.lock().unwrap_or_else(|p| p.into_inner());
    if memo.len() >= 16 {
        memo.remove(0);
    }
    memo.push((key, v.clone()));
    Ok(v)
}

fn convert(profile: &str, caps: &[String], kernel: (u32, u32)) -> Result<Value> {
    let p: Value = serde_json::from_str(profile)
        .map_err(|e| EngineError::InvalidArgument(format!("seccomp profile: {e}")))?;
    let arch = go_arch();
    let has_cap = |c: &str| caps.iter().any(|x| x == c);
    let mut architectures = Vec::new();
    if let Some(map) = p.get("archMap").and_then(Value::as_array) {
        for m in map {
            if m.get("architecture").and_then(Value::as_str) == Some(native_scmp_arch()) {
                architectures.push(native_scmp_arch().to_owned());
                for s in strs(m.get("subArchitectures")) {
                    architectures.push(s.to_owned());
                }
            }
        }
    } else {
        for a in strs(p.get("architectures")) {
            architectures.push(a.to_owned());
        }
    }
    let mut syscalls = Vec::new();
    for call in p
        .get("syscalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let inc = call.get("includes");
        let exc = call.get("excludes");
        let min_kernel = |v: Option<&Value>| {
            v.and_then(|x| x.get("minKernel"))
                .and_then(Value::as_str)
                .map(parse_version)
        };
        if strs(exc.and_then(|e| e.get("arches"))).contains(&arch) {
            continue;
        }
        if strs(exc.and_then(|e| e.get("caps")))
            .iter()
            .any(|c| has_cap(c))
        {
            continue;
        }
        if let Some(k) = min_kernel(exc)
            && kernel >= k
        {
            continue;
        }
        let inc_arches = strs(inc.and_then(|e| e.get("arches")));
        if !inc_arches.is_empty() && !inc_arches.contains(&arch) {
            continue;
        }
        if !strs(inc.and_then(|e| e.get("caps")))
            .iter()
            .all(|c| has_cap(c))
        {
            continue;
        }
        if let Some(k) = min_kernel(inc)
            && kernel < k
        {
            continue;
        }
        let mut names: Vec<&str> = strs(call.get("names"));
        if let Some(n) = call.get("name").and_then(Value::as_str) {
            names.push(n);
        }
        let mut out = json!({ "names": names, "action": call.get("action").cloned().unwrap_or(json!("SCMP_ACT_ALLOW")) });
        if let Some(e) = call.get("errnoRet") {
            out["errnoRet"] = e.clone();
        }
        if let Some(a) = call.get("args").filter(|a| !a.is_null()) {
            out["args"] = a.clone();
        }
        syscalls.push(out);
    }
    let mut oci = json!({
        "defaultAction": p.get("defaultAction").cloned().unwrap_or(json!("SCMP_ACT_ERRNO")),
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if let Some(e) = p.get("defaultErrnoRet") {
        oci["defaultErrnoRet"] = e.clone();
    }
    if let Some(f) = p.get("flags") {
        oci["flags"] = f.clone();
    }
    Ok(oci)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(oci: &Value, name: &str) -> bool {
        oci["syscalls"].as_array().unwrap().iter().any(|s| {
            s["action"] == "SCMP_ACT_ALLOW"
                && s["args"].is_null()
                && s["names"].as_array().unwrap().iter().any(|n| n == name)
        })
    }

    #[test]
    fn default_profile_grants_cap_gated_syscalls_only_with_the_cap() {
        let base = vec!["CAP_CHOWN".to_string()];
        let oci = to_oci(DEFAULT_PROFILE, &base, (6, 1)).unwrap();
        assert!(allowed(&oci, "read"));
        assert!(!allowed(&oci, "mount"));
        assert!(!allowed(&oci, "reboot"));
        let mut admin = base.clone();
        admin.push("CAP_SYS_ADMIN".into());
        admin.push("CAP_SYS_BOOT".into());
        let oci = to_oci(DEFAULT_PROFILE, &admin, (6, 1)).unwrap();
        assert!(allowed(&oci, "mount"));
        assert!(allowed(&oci, "reboot"));
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(oci["architectures"][0], "SCMP_ARCH_X86_64");
            assert!(allowed(&oci, "arch_prctl"));
        }
    }

    #[test]
    fn min_kernel_conditions_follow_the_running_kernel() {
        let oci = to_oci(DEFAULT_PROFILE, &[], (4, 4)).unwrap();
        assert!(!allowed(&oci, "ptrace"));
        let oci = to_oci(DEFAULT_PROFILE, &[], (5, 10)).unwrap();
        assert!(allowed(&oci, "ptrace"));
    }
}
