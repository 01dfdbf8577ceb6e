//! `--platform` values read as the docker CLI reads them (containerd's platform parser):
//! `os[(version)][/arch[/variant]]`, a lone OS or architecture completed with the host's,
//! architecture aliases normalised (`x86_64` → `amd64`, `aarch64` → `arm64`, `armhf` →
//! `arm/v7`), and sent as `os/arch[/variant]`.

const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
    "zos",
];

const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// This machine's architecture in Go's names.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn normalize_os(os: &str) -> String {
    let os = os.to_lowercase();
    if os == "macos" { "darwin".into() } else { os }
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (arch, variant) = (arch.to_lowercase(), variant.to_lowercase());
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => (
            "amd64".into(),
            if variant == "v1" {
                String::new()
            } else {
                variant
            },
        ),
        "aarch64" | "arm64" => (
            "arm64".into(),
            match variant.as_str() {
                "8" | "v8" | "v8.0" => String::new(),
                "9" | "9.0" | "v9.0" => "v9".into(),
                _ => variant,
            },
        ),
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => (
            arch,
            match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            },
        ),
        _ => (arch, variant),
    }
}

fn specifier_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// The platform as the docker CLI sends it, or its parse error (without the
/// `error parsing specified platform: ` the caller adds).
pub fn parse(spec: &str) -> Result<String, String> {
    let bad = |why: String| Err(format!("{why}: invalid argument"));
    if spec.contains('*') {
        return bad(format!("{spec:?}: wildcards not yet supported"));
    }
    let parts: Vec<&str> = spec.splitn(4, '/').collect();
    // <os>[(<version>)]
    let first = parts[0];
    let os_name = match first.split_once('(') {
        Some((name, ver))
            if ver.ends_with(')')
                && ver[..ver.len() - 1]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) =>
        {
            name
        }
        Some(_) => "",
        None => first,
    };
    if os_name.is_empty()
        || !os_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return bad(format!(
            "{first:?} is an invalid OS component of {spec:?}: OSAndVersion specifier component must match \"^([A-Za-z0-9_-]+)(?:\\\\(([A-Za-z0-9_.-]*)\\\\))?$\""
        ));
    }
    for p in &parts[1..] {
        if !specifier_ok(p) {
            return bad(format!(
                "{p:?} is an invalid component of {spec:?}: platform specifier component must match \"^[A-Za-z0-9_.-]+$\""
            ));
        }
    }
    let os = normalize_os(os_name);
    let (os, arch, variant) = match parts.len() {
        1 => {
            if KNOWN_OS.contains(&os.as_str()) {
                (os, host_arch().to_owned(), String::new())
            } else {
                let (arch, mut variant) = normalize_arch(parts[0], "");
                if arch == "arm" && variant == "v7" {
                    variant.clear();
                }
                if !KNOWN_ARCH.contains(&arch.as_str()) {
                    return bad(format!(
                        "{spec:?}: unknown operating system or architecture"
                    ));
                }
                ("linux".to_owned(), arch, variant)
            }
        }
        2 => {
            let (arch, mut variant) = normalize_arch(parts[1], "");
            if arch == "arm" && variant == "v7" {
                variant.clear();
            }
            (os, arch, variant)
        }
        3 => {
            let (arch, mut variant) = normalize_arch(parts[1], parts[2]);
            if arch == "arm64" && variant.is_empty() {
                variant = "v8".into();
            }
            (os, arch, variant)
        }
        _ => return bad(format!("{spec:?}: cannot parse platform specifier")),
    };
    Ok([os, arch, variant]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_containerd_parses_them() {
        let h = host_arch();
        assert_eq!(parse("linux").unwrap(), format!("linux/{h}"));
        assert_eq!(parse("amd64").unwrap(), "linux/amd64");
        assert_eq!(parse("x86_64").unwrap(), "linux/amd64");
        assert_eq!(parse("Linux/AArch64").unwrap(), "linux/arm64");
        assert_eq!(parse("linux/arm").unwrap(), "linux/arm");
        assert_eq!(parse("linux/armhf").unwrap(), "linux/arm");
        assert_eq!(parse("linux/arm/6").unwrap(), "linux/arm/v6");
        assert_eq!(parse("linux/arm64/v8").unwrap(), "linux/arm64/v8");
        assert_eq!(parse("windows(10.0.17763)/amd64").unwrap(), "windows/amd64");
        assert_eq!(parse("plan9/whatever").unwrap(), "plan9/whatever");
        assert_eq!(
            parse("bad").unwrap_err(),
            "\"bad\": unknown operating system or architecture: invalid argument"
        );
        assert!(
            parse("linux/a b")
                .unwrap_err()
                .contains("is an invalid component")
        );
        assert!(parse("a/b/c/d").unwrap_err().contains("cannot parse"));
        assert!(parse("linux/*").unwrap_err().contains("wildcards"));
    }
}
