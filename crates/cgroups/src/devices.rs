//! The device allowlist (`linux.resources.devices`) as one model shared by both backends.
//!
//! OCI rules are a list of allow/deny edits applied in order, with the semantics of the v1
//! `devices` controller: a type-`a` wildcard rule resets the default (allow or deny
//! everything) and drops all exceptions; any other rule adds an exception or takes access
//! bits away from an identical one. We replay the list the same way the kernel would, so v1
//! gets exactly that list and the v2 eBPF program (which has no state of its own) decides
//! exactly as v1 would have.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::Error;

/// Access bits, numbered as in `BPF_DEVCG_ACC_*` so the eBPF program can use them as is.
pub const ACC_MKNOD: u8 = 1;
/// Read access.
pub const ACC_READ: u8 = 2;
/// Write access.
pub const ACC_WRITE: u8 = 4;
/// All access bits.
pub const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Largest major and minor numbers a Linux `dev_t` can hold (12 and 20 bits).
const MAX_MAJOR: i64 = (1 << 12) - 1;
const MAX_MINOR: i64 = (1 << 20) - 1;

/// Device kind an exception applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevKind {
    /// Character and block devices.
    All,
    /// Character devices (`c`, and OCI's `u`).
    Char,
    /// Block devices.
    Block,
}

/// One exception to the default policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevException {
    /// Device kind.
    pub kind: DevKind,
    /// Major number, `None` = any.
    pub major: Option<u32>,
    /// Minor number, `None` = any.
    pub minor: Option<u32>,
    /// `ACC_*` bits.
    pub access: u8,
}

/// The effective device policy: a default plus exceptions to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePolicy {
    /// Whether devices not covered by an exception are allowed.
    pub default_allow: bool,
    /// In default-deny mode, devices that are allowed (for the listed access); in
    /// default-allow mode, devices that are denied (for any listed access).
    pub exceptions: Vec<DevException>,
}

impl DevicePolicy {
    /// Replays OCI rules starting from deny-all (the state the v1 backend writes first).
    pub fn from_oci(rules: &[LinuxDeviceCgroup]) -> Result<DevicePolicy, Error> {
        let mut p = DevicePolicy {
            default_allow: false,
            exceptions: Vec::new(),
        };
        for r in rules {
            let Some(ex) = parse_rule(r)? else { continue };
            p.push(r.allow(), ex);
        }
        Ok(p)
    }

    fn push(&mut self, allow: bool, ex: DevException) {
        if ex.kind == DevKind::All
            && ex.major.is_none()
            && ex.minor.is_none()
            && ex.access == ACC_ALL
        {
            self.default_allow = allow;
            self.exceptions.clear();
            return;
        }
        let same =
            |e: &DevException| e.kind == ex.kind && e.major == ex.major && e.minor == ex.minor;
        if allow == self.default_allow {
            // Same direction as the default: this narrows an existing exception.
            for e in self.exceptions.iter_mut().filter(|e| same(e)) {
                e.access &= !ex.access;
            }
            self.exceptions.retain(|e| e.access != 0);
        } else if let Some(e) = self.exceptions.iter_mut().find(|e| same(e)) {
            e.access |= ex.access;
        } else {
            self.exceptions.push(ex);
        }
    }

    /// What the v1 kernel (and so our eBPF program) decides for one access. `kind` must be
    /// `Char` or `Block`.
    pub fn allows(&self, kind: DevKind, major: u32, minor: u32, access: u8) -> bool {
        let hits = |e: &&DevException| {
            (e.kind == DevKind::All || e.kind == kind)
                && e.major.is_none_or(|m| m == major)
                && e.minor.is_none_or(|m| m == minor)
        };
        if self.default_allow {
            !self
                .exceptions
                .iter()
                .filter(hits)
                .any(|e| e.access & access != 0)
        } else {
            self.exceptions
                .iter()
                .filter(hits)
                .any(|e| access & !e.access == 0)
        }
    }

    /// The lines for the v1 `devices.allow`/`devices.deny` files, after the reset line.
    /// Exceptions of kind `All` are written once per kind, because the kernel reads any
    /// line starting with `a` as a reset.
    pub fn v1_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.exceptions {
            let kinds: &[char] = match e.kind {
                DevKind::All => &['c', 'b'],
                DevKind::Char => &['c'],
                DevKind::Block => &['b'],
            };
            for k in kinds {
                out.push(format!(
                    "{k} {}:{} {}",
                    num(e.major),
                    num(e.minor),
                    access_str(e.access)
                ));
            }
        }
        out
    }
}

fn num(n: Option<u32>) -> String {
    n.map_or_else(|| "*".to_string(), |n| n.to_string())
}

fn access_str(a: u8) -> String {
    let mut s = String::new();
    if a & ACC_READ != 0 {
        s.push('r');
    }
    if a & ACC_WRITE != 0 {
        s.push('w');
    }
    if a & ACC_MKNOD != 0 {
        s.push('m');
    }
    s
}

/// Validates one OCI rule; `None` for FIFO rules, which the device controller never sees.
fn parse_rule(r: &LinuxDeviceCgroup) -> Result<Option<DevException>, Error> {
    let kind = match r.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => DevKind::All,
        LinuxDeviceType::C | LinuxDeviceType::U => DevKind::Char,
        LinuxDeviceType::B => DevKind::Block,
        LinuxDeviceType::P => {
            tracing::debug!(rule = %r, "ignoring FIFO device rule");
            return Ok(None);
        }
    };
    let major = dev_num(r.major(), MAX_MAJOR, "major")?;
    let minor = dev_num(r.minor(), MAX_MINOR, "minor")?;
    let access = match r.access().as_deref() {
        None | Some("") => ACC_ALL,
        Some(s) => {
            let mut a = 0;
            for c in s.chars() {
                a |= match c {
                    'r' => ACC_READ,
                    'w' => ACC_WRITE,
                    'm' => ACC_MKNOD,
                    _ => {
                        return Err(Error::invalid(
                            "devices",
                            format!("access {s:?} may only contain r, w and m"),
                        ));
                    }
                };
            }
            a
        }
    };
    Ok(Some(DevException {
        kind,
        major,
        minor,
        access,
    }))
}

fn dev_num(v: Option<i64>, max: i64, what: &str) -> Result<Option<u32>, Error> {
    match v {
        None | Some(-1) => Ok(None),
        Some(n) if (0..=max).contains(&n) => Ok(Some(n as u32)),
        Some(n) => Err(Error::invalid(
            "devices",
            format!("{what} number {n} is outside 0..={max}"),
        )),
    }
}
