//! Linux namespaces from `linux.namespaces`: which to create, which to join by path, in which
//! order. Joining happens user namespace first, since it decides what the others allow.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};
use rustix::fs::{Mode, OFlags};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use crate::error::{Error, Result};

/// The namespace plan for one container.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Namespaces to create (clone/unshare flags).
    pub new: u64,
    /// Namespaces to join: (type, path), user first.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

pub fn flag(t: LinuxNamespaceType) -> u64 {
    (match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }) as u64
}

/// The name under /proc/PID/ns/.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

fn order(t: LinuxNamespaceType) -> u8 {
    match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Pid => 1,
        LinuxNamespaceType::Ipc => 2,
        LinuxNamespaceType::Uts => 3,
        LinuxNamespaceType::Network => 4,
        LinuxNamespaceType::Cgroup => 5,
        LinuxNamespaceType::Time => 6,
        LinuxNamespaceType::Mount => 7,
    }
}

impl Plan {
    pub fn from_spec(list: &[LinuxNamespace]) -> Result<Plan> {
        let mut plan = Plan::default();
        let mut seen = 0u64;
        for ns in list {
            let f = flag(ns.typ());
            if seen & f != 0 {
                return Err(Error::Config(format!(
                    "namespace {} listed twice",
                    proc_name(ns.typ())
                )));
            }
            seen |= f;
            match ns.path() {
                Some(p) if !p.as_os_str().is_empty() => plan.join.push((ns.typ(), p.clone())),
                _ => plan.new |= f,
            }
        }
        plan.join.sort_by_key(|(t, _)| order(*t));
        Ok(plan)
    }

    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.new & flag(t) != 0 || self.join.iter().any(|(j, _)| *j == t)
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.new & flag(t) != 0
    }

    pub fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.join.iter().any(|(j, _)| *j == t)
    }
}

/// Opens every namespace file to join up front (in the runtime's own view of the filesystem),
/// checking it really is a namespace of the declared type.
pub fn open_joins(plan: &Plan) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
    let mut out = Vec::with_capacity(plan.join.len());
    for (t, p) in &plan.join {
        let fd = rustix::fs::open(p, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::path("open namespace", p, e))?;
        out.push((*t, fd));
    }
    Ok(out)
}

fn link_type(t: LinuxNamespaceType) -> LinkNameSpaceType {
    match t {
        LinuxNamespaceType::Mount => LinkNameSpaceType::Mount,
        LinuxNamespaceType::Cgroup => LinkNameSpaceType::ControlGroup,
        LinuxNamespaceType::Uts => LinkNameSpaceType::HostNameAndNISDomainName,
        LinuxNamespaceType::Ipc => LinkNameSpaceType::InterProcessCommunication,
        LinuxNamespaceType::User => LinkNameSpaceType::User,
        LinuxNamespaceType::Pid => LinkNameSpaceType::ProcessID,
        LinuxNamespaceType::Network => LinkNameSpaceType::Network,
        LinuxNamespaceType::Time => LinkNameSpaceType::Time,
    }
}

/// setns(2) into an opened namespace, checking its type.
pub fn join(t: LinuxNamespaceType, fd: &OwnedFd) -> Result<()> {
    rustix::thread::move_into_link_name_space(fd.as_fd(), Some(link_type(t)))
        .map_err(|e| Error::sys(format!("setns {}", proc_name(t)), e))
}

/// unshare(2) of the given clone flags.
pub fn unshare(flags: u64) -> Result<()> {
    if flags == 0 {
        return Ok(());
    }
    // SAFETY: the caller is single-threaded, and CLONE_FILES/CLONE_FS are never passed, so no
    // descriptor table or fs state shared with another thread changes under it.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::from_bits_retain(flags as u32)) }
        .map_err(|e| Error::sys(format!("unshare {flags:#x}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(t: &str, path: Option<&str>) -> LinuxNamespace {
        serde_json::from_value(serde_json::json!({"type": t, "path": path})).unwrap()
    }

    #[test]
    fn plan_splits_new_and_joined_user_first() {
        let p = Plan::from_spec(&[
            ns("network", Some("/run/netns/x")),
            ns("pid", None),
            ns("user", Some("/proc/1/ns/user")),
            ns("mount", None),
        ])
        .unwrap();
        assert_eq!(p.new, (libc::CLONE_NEWPID | libc::CLONE_NEWNS) as u64);
        assert_eq!(p.join[0].0, LinuxNamespaceType::User);
        assert!(p.joins(LinuxNamespaceType::Network) && p.creates(LinuxNamespaceType::Pid));
        assert!(Plan::from_spec(&[ns("pid", None), ns("pid", None)]).is_err());
    }
}
