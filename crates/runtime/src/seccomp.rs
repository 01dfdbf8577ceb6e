//! Seccomp: the OCI `linux.seccomp` section turned into a classic-BPF program.
//!
//! The work is split in two on purpose. [`compile`] runs in the runtime before the fork: it
//! drives libseccomp (name resolution, multi-arch dispatch, argument comparisons) and keeps
//! only the resulting instructions, optionally caching them on disk so that starting the
//! 1000th container with the same profile costs a file read instead of a libseccomp build.
//! [`Filter::load`] runs in the container's init just before `execve`: one raw `seccomp(2)`
//! call on memory that already exists, so it neither allocates nor calls into libseccomp
//! (whose global state must not be touched after a fork of a possibly multi-threaded parent).
//!
//! The translation follows runc, because users move Docker/Kubernetes profiles between
//! runtimes and expect the same behaviour: unknown syscall names are skipped, rules whose
//! action equals the default are dropped, conditions on one rule are ANDed unless two of
//! them test the same argument, in which case every condition becomes its own rule (OR).
//! Two runc refinements are not here yet: the `-ENOSYS` stub for syscalls newer than the
//! profile (runc's patchbpf) and binary-tree optimisation of large filters.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{
    Arch, ContainerProcessState, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, State,
};
use sha2::{Digest, Sha256};

/// The kernel reads at most six syscall arguments (`seccomp_data.args`).
const MAX_SYSCALL_ARGS: usize = 6;
/// The kernel rejects classic-BPF programs longer than this (`BPF_MAXINSNS`).
const BPF_MAXINSNS: usize = 4096;
/// Size of one `struct sock_filter` as libseccomp exports it.
const INSN_SIZE: usize = 8;
/// First bytes of a cache file; bump the digit when the layout changes.
const CACHE_MAGIC: &[u8; 8] = b"BERTHBP1";
/// magic + flags (u64) + notify (u8) + 3 pad + instruction count (u32).
const CACHE_HEADER: usize = 8 + 8 + 1 + 3 + 4;

/// Everything that can go wrong turning a profile into a loaded filter; each variant names
/// the syscall, architecture or action involved so the user can fix the profile.
#[derive(thiserror::Error, Debug)]
pub enum SeccompError {
    #[error("seccomp: SCMP_ACT_NOTIFY cannot be the default action")]
    NotifyAsDefault,
    #[error(
        "seccomp: SCMP_ACT_NOTIFY cannot be used for syscall {syscall}: the runtime calls it after loading the filter"
    )]
    NotifyForbidden { syscall: String },
    #[error("seccomp: {action} with errnoRet {value}: the value must fit in 16 bits")]
    ActionValue { action: String, value: u32 },
    #[error("seccomp: rule {rule} has an empty syscall name")]
    EmptySyscallName { rule: usize },
    #[error("seccomp: syscall {syscall}: argument index {index} is out of range (0..=5)")]
    ArgIndex { syscall: String, index: usize },
    #[error("seccomp: creating a filter with default action {action}: {source}")]
    Init {
        action: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("seccomp: architecture {arch} is not supported by libseccomp: {source}")]
    Arch {
        arch: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("seccomp: adding rule for syscall {syscall} with action {action}: {source}")]
    Rule {
        syscall: String,
        action: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("seccomp: exporting the BPF program: {0}")]
    Export(String),
    #[error("seccomp: the BPF program has {0} instructions; the kernel accepts at most 4096")]
    TooLong(usize),
    #[error("seccomp(SECCOMP_SET_MODE_FILTER) failed with errno {errno}")]
    Load { errno: i32 },
    #[error("seccomp: encoding the container process state: {0}")]
    StateJson(#[from] serde_json::Error),
    #[error("seccomp: sending the notify listener to {path}: {source}")]
    SendListener {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A compiled filter: ready to hand to the kernel, no libseccomp state attached.
#[derive(Clone, Debug)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    notify: bool,
}

impl Filter {
    /// Installs the filter on the calling thread (and, with TSYNC, its siblings).
    ///
    /// Meant for the container's init between fork and `execve`: it allocates nothing and
    /// makes one syscall. The caller must already have set `no_new_privs` or hold
    /// `CAP_SYS_ADMIN` in its user namespace, otherwise the kernel answers EACCES. When the
    /// profile uses `SCMP_ACT_NOTIFY`, the returned fd is the user-notification listener,
    /// which init passes to the runtime (and from there to the seccomp agent).
    pub fn load(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let len = match u16::try_from(self.program.len()) {
            Ok(len) if (len as usize) <= BPF_MAXINSNS => len,
            _ => return Err(SeccompError::TooLong(self.program.len())),
        };
        let prog = libc::sock_fprog {
            len,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at `self.program`, which outlives the call; the kernel only
        // reads (copies) the `len` instructions it describes.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if ret < 0 {
            let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
            return Err(SeccompError::Load { errno });
        }
        if self.notify {
            let Ok(fd) = i32::try_from(ret) else {
                return Err(SeccompError::Load { errno: libc::EBADF });
            };
            // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER a successful seccomp() returns a
            // fresh file descriptor that nothing else owns.
            Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
        } else {
            Ok(None)
        }
    }

    /// Whether [`Filter::load`] returns a listener fd that must go to a seccomp agent.
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// The `flags` argument [`Filter::load`] passes to `seccomp(2)`.
    pub fn flags(&self) -> libc::c_ulong {
        self.flags
    }

    /// The instructions, for tracing and tests.
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.program
    }

    /// The program in the kernel's binary layout (what the cache stores).
    pub fn program_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.program.len() * INSN_SIZE);
        for insn in &self.program {
            out.extend_from_slice(&insn.code.to_ne_bytes());
            out.push(insn.jt);
            out.push(insn.jf);
            out.extend_from_slice(&insn.k.to_ne_bytes());
        }
        out
    }
}

/// Compiles `spec` to BPF, before fork.
///
/// With `cache_dir`, the program is looked up under the sha256 of the profile (without the
/// listener fields, which do not reach the BPF), the libseccomp version, the host arch and
/// the kernel release (libseccomp checks actions against the running kernel); a hit skips
/// libseccomp entirely. The cache is an optimisation: failing to read or write it is logged
/// and never fails the container.
pub fn compile(spec: &LinuxSeccomp, cache_dir: Option<&Path>) -> Result<Filter, SeccompError> {
    validate(spec)?;
    let cache_path = cache_dir.map(|dir| dir.join(cache_key(spec)));
    if let Some(path) = &cache_path {
        match read_cache(path) {
            Ok(Some(filter)) => {
                tracing::debug!(path = %path.display(), insns = filter.program.len(), "seccomp cache hit");
                return Ok(filter);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "seccomp cache unreadable, recompiling")
            }
        }
    }
    let filter = build(spec)?;
    if let Some(path) = &cache_path
        && let Err(error) = write_cache(path, &filter)
    {
        tracing::warn!(path = %path.display(), %error, "cannot write seccomp cache");
    }
    Ok(filter)
}

/// Rejects what runc rejects before touching libseccomp.
fn validate(spec: &LinuxSeccomp) -> Result<(), SeccompError> {
    if spec.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(SeccompError::NotifyAsDefault);
    }
    for (i, rule) in spec.syscalls().iter().flatten().enumerate() {
        for name in rule.names() {
            if name.is_empty() {
                return Err(SeccompError::EmptySyscallName { rule: i });
            }
            // The init writes to its sync pipe after loading the filter; a notify on write
            // would wait for an agent that has not received the listener yet.
            if rule.action() == LinuxSeccompAction::ScmpActNotify && name == "write" {
                return Err(SeccompError::NotifyForbidden {
                    syscall: name.clone(),
                });
            }
        }
        if rule.names().is_empty() {
            return Err(SeccompError::EmptySyscallName { rule: i });
        }
        for arg in rule.args().iter().flatten() {
            if arg.index() >= MAX_SYSCALL_ARGS {
                return Err(SeccompError::ArgIndex {
                    syscall: rule.names().join(","),
                    index: arg.index(),
                });
            }
        }
    }
    Ok(())
}

/// Maps an OCI action (+ errnoRet) to libseccomp's; ERRNO and TRACE default to EPERM as in runc.
fn action(action: LinuxSeccompAction, errno_ret: Option<u32>) -> Result<ScmpAction, SeccompError> {
    let value = || -> Result<u16, SeccompError> {
        match errno_ret {
            None => Ok(libc::EPERM as u16),
            Some(v) => u16::try_from(v).map_err(|_| SeccompError::ActionValue {
                action: action.to_string(),
                value: v,
            }),
        }
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(value()?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(value()?),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    })
}

fn arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn condition(arg: &LinuxSeccompArg) -> ScmpArgCompare {
    // `index` was checked by validate(); it is < 6.
    let index = arg.index() as u32;
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // OCI: `value` is the mask, `valueTwo` what the masked argument must equal.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return ScmpArgCompare::new(
                index,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            );
        }
    };
    ScmpArgCompare::new(index, op, arg.value())
}

/// Builds the filter with libseccomp and exports its BPF.
fn build(spec: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    let default = action(spec.default_action(), spec.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|source| SeccompError::Init {
        action: spec.default_action().to_string(),
        source,
    })?;
    for &a in spec.architectures().iter().flatten() {
        let scmp = arch(a);
        let arch_err = |source| SeccompError::Arch {
            arch: a.to_string(),
            source,
        };
        if !ctx.is_arch_present(scmp).map_err(arch_err)? {
            ctx.add_arch(scmp).map_err(arch_err)?;
        }
    }

    let mut notify = false;
    for rule in spec.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            // libseccomp refuses rules that repeat the default action; runc drops them.
            continue;
        }
        let conditions: Vec<ScmpArgCompare> = rule.args().iter().flatten().map(condition).collect();
        let mut per_index = [0u8; MAX_SYSCALL_ARGS];
        for arg in rule.args().iter().flatten() {
            per_index[arg.index()] += 1;
        }
        let one_rule_per_condition = per_index.iter().any(|&n| n > 1);
        for name in rule.names() {
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                tracing::debug!(syscall = %name, "unknown seccomp syscall ignored");
                continue;
            };
            let rule_err = |source| SeccompError::Rule {
                syscall: name.clone(),
                action: rule.action().to_string(),
                source,
            };
            if conditions.is_empty() {
                ctx.add_rule(act, syscall).map_err(rule_err)?;
            } else if one_rule_per_condition {
                for cond in &conditions {
                    ctx.add_rule_conditional(act, syscall, std::slice::from_ref(cond))
                        .map_err(rule_err)?;
                }
            } else {
                ctx.add_rule_conditional(act, syscall, &conditions)
                    .map_err(rule_err)?;
            }
            notify |= act == ScmpAction::Notify;
        }
    }

    let program = export(&ctx)?;
    if program.len() > BPF_MAXINSNS {
        return Err(SeccompError::TooLong(program.len()));
    }
    Ok(Filter {
        program,
        flags: kernel_flags(spec.flags().as_deref().unwrap_or(&[]), notify),
        notify,
    })
}

/// Translates the OCI flags to `seccomp(2)` flags.
fn kernel_flags(flags: &[LinuxSeccompFilterFlag], notify: bool) -> libc::c_ulong {
    let mut out = 0;
    for flag in flags {
        out |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
        };
    }
    if notify {
        out |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        // The kernel refuses TSYNC together with NEW_LISTENER unless told to report a
        // thread that cannot be synchronised as ESRCH instead of its tid.
        if out & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
            out |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    }
    out
}

/// libseccomp 2.5 only exports to a file descriptor; a memfd keeps it off the disk.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let fd = rustix::fs::memfd_create("berth-seccomp-bpf", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| SeccompError::Export(format!("memfd_create: {e}")))?;
    ctx.export_bpf(fd.as_fd())
        .map_err(|e| SeccompError::Export(e.to_string()))?;
    let mut file = File::from(fd);
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| SeccompError::Export(format!("reading memfd: {e}")))?;
    parse_program(&bytes).ok_or_else(|| {
        SeccompError::Export(format!("{} bytes is not a whole number of instructions", bytes.len()))
    })
}

fn parse_program(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    if bytes.is_empty() || bytes.len() % INSN_SIZE != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(INSN_SIZE)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

/// File name (hex sha256) under which a profile's program is cached.
fn cache_key(spec: &LinuxSeccomp) -> String {
    let mut canonical = spec.clone();
    canonical.set_listener_path(None);
    canonical.set_listener_metadata(None);
    let mut hasher = Sha256::new();
    hasher.update(b"berth-seccomp-cache-v1\n");
    // Serializing an oci-spec struct cannot fail (no maps with non-string keys); fall back
    // to Debug, which is just as deterministic, rather than panic.
    match serde_json::to_vec(&canonical) {
        Ok(json) => hasher.update(&json),
        Err(_) => hasher.update(format!("{canonical:?}").as_bytes()),
    }
    hasher.update(b"\n");
    hasher.update(libseccomp_version().as_bytes());
    hasher.update(b"\n");
    hasher.update(std::env::consts::ARCH.as_bytes());
    hasher.update(b"\n");
    hasher.update(rustix::system::uname().release().to_bytes());
    hex::encode(hasher.finalize())
}

/// The libseccomp the process runs with (not the one it was built against), e.g. "2.5.4".
pub fn libseccomp_version() -> String {
    match libseccomp::ScmpVersion::current() {
        Ok(v) => format!("{}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => "unknown".to_string(),
    }
}

fn read_cache(path: &Path) -> io::Result<Option<Filter>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed seccomp cache file");
    if bytes.len() < CACHE_HEADER || &bytes[..8] != CACHE_MAGIC {
        return Err(bad());
    }
    let flags = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| bad())?);
    let notify = bytes[16] != 0;
    let count = u32::from_le_bytes(bytes[20..24].try_into().map_err(|_| bad())?) as usize;
    let body = &bytes[CACHE_HEADER..];
    if count > BPF_MAXINSNS || body.len() != count * INSN_SIZE {
        return Err(bad());
    }
    let program = parse_program(body).ok_or_else(bad)?;
    Ok(Some(Filter {
        program,
        flags: flags as libc::c_ulong,
        notify,
    }))
}

/// Temp file + fsync + rename: a reader sees a whole program or none.
fn write_cache(path: &Path, filter: &Filter) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut bytes = Vec::with_capacity(CACHE_HEADER + filter.program.len() * INSN_SIZE);
    bytes.extend_from_slice(CACHE_MAGIC);
    bytes.extend_from_slice(&(filter.flags as u64).to_le_bytes());
    bytes.extend_from_slice(&[u8::from(filter.notify), 0, 0, 0]);
    bytes.extend_from_slice(&(filter.program.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&filter.program_bytes());
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("bpf"),
        std::process::id()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The container process state a seccomp agent receives with the listener fd (OCI
/// runtime-spec "Container Process State"): `fds` names the passed fd `seccompFd`.
pub fn listener_state(
    state: &State,
    pid: i32,
    metadata: Option<&str>,
) -> Result<Vec<u8>, SeccompError> {
    let mut cps = ContainerProcessState::default();
    cps.set_version(state.version().clone());
    cps.set_fds(vec![oci_spec::runtime::SECCOMP_FD_NAME.to_string()]);
    cps.set_pid(pid);
    cps.set_metadata(metadata.map(str::to_string));
    cps.set_state(state.clone());
    Ok(serde_json::to_vec(&cps)?)
}

/// Hands the notify listener to the agent at `linux.seccomp.listenerPath`: the state JSON
/// (see [`listener_state`]) and the fd travel in one `sendmsg` with `SCM_RIGHTS`, as runc
/// does, so an agent reading one message gets both; any JSON left over after a short
/// write follows as plain bytes.
pub fn send_listener(fd: BorrowedFd<'_>, path: &Path, state_json: &[u8]) -> Result<(), SeccompError> {
    let send_err = |source| SeccompError::SendListener {
        path: path.to_path_buf(),
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(send_err)?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !control.push(rustix::net::SendAncillaryMessage::ScmRights(&fds)) {
        return Err(send_err(io::Error::other("control buffer too small")));
    }
    let sent = rustix::net::sendmsg(
        &stream,
        &[io::IoSlice::new(state_json)],
        &mut control,
        rustix::net::SendFlags::NOSIGNAL,
    )
    .map_err(|e| send_err(e.into()))?;
    stream.write_all(&state_json[sent..]).map_err(send_err)?;
    Ok(())
}

