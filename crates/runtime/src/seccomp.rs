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
//! Like runc, a short stub in front of libseccomp's program answers `ENOSYS` (not the
//! profile's EPERM or kill) for syscall numbers above the highest one the profile names on
//! each arch: those are syscalls newer than the profile, and libc only falls back to older
//! ones (fchmodat2 → fchmodat, clone3 → clone) on ENOSYS.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
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
/// magic + flags (u32: every seccomp(2) flag fits) + notify (u8) + 3 pad + instruction count (u32).
const CACHE_HEADER: usize = 8 + 4 + 1 + 3 + 4;

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
    #[error("seccomp(SECCOMP_SET_MODE_FILTER) failed: {}", io::Error::from_raw_os_error(*errno))]
    Load { errno: i32 },
    #[error("seccomp: SECCOMP_FILTER_FLAG_TSYNC could not synchronise thread {tid}")]
    Tsync { tid: i64 },
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
        // Without a listener, TSYNC reports a thread it could not synchronise by returning
        // that thread's id instead of 0; nothing was installed then.
        if !self.notify && ret > 0 {
            return Err(SeccompError::Tsync { tid: ret });
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
    let _span = tracing::debug_span!("seccomp_compile", cached = cache_dir.is_some()).entered();
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
            // runc refuses this too: init may still write (sync pipe, error reports) after
            // loading the filter, and a notify on write would then wait for an agent that
            // has not received the listener yet.
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
    build_with(spec, true)
}

/// `tree`: libseccomp's binary tree of syscall numbers instead of its linear chain.
fn build_with(spec: &LinuxSeccomp, tree: bool) -> Result<Filter, SeccompError> {
    let default = action(spec.default_action(), spec.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|source| SeccompError::Init {
        action: spec.default_action().to_string(),
        source,
    })?;
    // A binary tree of syscall numbers instead of libseccomp's default linear chain: the
    // kernel runs the filter once per syscall number when it loads it (its action cache),
    // so a chain of ~1000 comparisons (Docker's profile on three arches) cost ~0.7 ms per
    // container start here, and every syscall in the container walked it. (libseccomp
    // before 2.5 has no tree: the chain then.)
    if tree && let Err(e) = ctx.set_ctl_optimize(2) {
        tracing::debug!(error = %e, "libseccomp cannot build a binary tree; linear filter");
    }
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

    let mut program = enosys_stub(spec, &ctx, default);
    program.extend(export(&ctx)?);
    if program.len() > BPF_MAXINSNS {
        return Err(SeccompError::TooLong(program.len()));
    }
    Ok(Filter {
        program,
        flags: kernel_flags(spec.flags().as_deref().unwrap_or(&[]), notify),
        notify,
    })
}

/// Every architecture the OCI spec names, for walking the arches present in a filter.
const ALL_ARCHES: &[Arch] = &[
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
    Arch::ScmpArchX32,
    Arch::ScmpArchArm,
    Arch::ScmpArchAarch64,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchParisc,
    Arch::ScmpArchParisc64,
    Arch::ScmpArchRiscv64,
    Arch::ScmpArchLoongarch64,
    Arch::ScmpArchM68k,
    Arch::ScmpArchSh,
    Arch::ScmpArchSheb,
];

/// x32 syscalls are x86_64 syscalls with this bit set in `nr` (same AUDIT_ARCH).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// A stub instruction: jumps to the two stub exits are resolved once the length is known.
enum StubInsn {
    Plain(libc::sock_filter),
    ToEnosys,
    ToMain,
}

fn bpf(code: u32, k: u32, jt: u8, jf: u8) -> StubInsn {
    StubInsn::Plain(libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    })
}

/// The instructions that return ENOSYS for syscalls newer than the profile (see the module
/// doc); empty when the default action already lets unknown syscalls through or already
/// answers ENOSYS.
///
/// Per arch in the filter: `if arch == A { if nr > last(A) { return ENOSYS } }`, then fall
/// through to libseccomp's program, which still checks the arch itself. x32 shares
/// x86_64's AUDIT_ARCH and is told apart by the x32 bit; if the filter has no x32, such
/// calls go to libseccomp's bad-arch handling untouched.
fn enosys_stub(
    spec: &LinuxSeccomp,
    ctx: &ScmpFilterContext,
    default: ScmpAction,
) -> Vec<libc::sock_filter> {
    let wanted = match default {
        ScmpAction::Errno(e) => e != libc::ENOSYS,
        ScmpAction::KillThread | ScmpAction::KillProcess | ScmpAction::Trap => true,
        _ => false,
    };
    if !wanted {
        return Vec::new();
    }
    // Highest syscall number the profile names, per arch present in the filter.
    let last = |a: Arch| -> Option<u32> {
        spec.syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names())
            .filter_map(|name| ScmpSyscall::from_name_by_arch(name, arch(a)).ok())
            .filter_map(|nr| u32::try_from(nr.as_raw_syscall()).ok())
            .max()
    };
    let present = |a: Arch| matches!(ctx.is_arch_present(arch(a)), Ok(true));
    let (ld_w_abs, jeq, jgt, jset) = (
        libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
        libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
        libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K,
        libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K,
    );
    // `nr > limit` → ENOSYS, else → main program.
    let compare = |body: &mut Vec<StubInsn>, limit: Option<u32>| match limit {
        Some(limit) => {
            body.push(bpf(jgt, limit, 0, 1));
            body.push(StubInsn::ToEnosys);
            body.push(StubInsn::ToMain);
        }
        None => body.push(StubInsn::ToMain),
    };

    let mut stub = vec![bpf(ld_w_abs, 4, 0, 0)]; // A = seccomp_data.arch
    let mut any = false;
    for &a in ALL_ARCHES {
        if a == Arch::ScmpArchX32 || !present(a) {
            continue;
        }
        let mut body = vec![bpf(ld_w_abs, 0, 0, 0)]; // A = seccomp_data.nr
        if a == Arch::ScmpArchX86_64 {
            let mut x32 = Vec::new();
            if present(Arch::ScmpArchX32) {
                compare(&mut x32, last(Arch::ScmpArchX32));
            } else {
                x32.push(StubInsn::ToMain);
            }
            body.push(bpf(jset, X32_SYSCALL_BIT, 0, x32.len() as u8));
            body.extend(x32);
        }
        let limit = last(a);
        any |= limit.is_some();
        compare(&mut body, limit);
        // The body is at most 9 instructions, so the skip fits in a u8.
        stub.push(bpf(jeq, a as u32, 0, body.len() as u8));
        stub.extend(body);
    }
    if !any {
        return Vec::new();
    }
    stub.push(StubInsn::ToMain); // an arch the stub does not know
    stub.push(bpf(
        libc::BPF_RET | libc::BPF_K,
        libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        0,
        0,
    ));
    let enosys = stub.len() - 1;
    let main = stub.len();
    let ja = (libc::BPF_JMP | libc::BPF_JA) as u16;
    stub.iter()
        .enumerate()
        .map(|(i, insn)| match insn {
            StubInsn::Plain(f) => *f,
            StubInsn::ToEnosys => libc::sock_filter {
                code: ja,
                jt: 0,
                jf: 0,
                k: (enosys - i - 1) as u32,
            },
            StubInsn::ToMain => libc::sock_filter {
                code: ja,
                jt: 0,
                jf: 0,
                k: (main - i - 1) as u32,
            },
        })
        .collect()
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
        SeccompError::Export(format!(
            "{} bytes is not a whole number of instructions",
            bytes.len()
        ))
    })
}

fn parse_program(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(INSN_SIZE) {
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
    hasher.update(b"berth-seccomp-cache-v2\n");
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
    let flags = u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| bad())?);
    let notify = bytes[12] != 0;
    let count = u32::from_le_bytes(bytes[16..20].try_into().map_err(|_| bad())?) as usize;
    let body = &bytes[CACHE_HEADER..];
    if count > BPF_MAXINSNS || body.len() != count * INSN_SIZE {
        return Err(bad());
    }
    let program = parse_program(body).ok_or_else(bad)?;
    Ok(Some(Filter {
        program,
        flags: libc::c_ulong::from(flags),
        notify,
    }))
}

/// Temp file + fsync + rename: a reader sees a whole program or none.
fn write_cache(path: &Path, filter: &Filter) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut bytes = Vec::with_capacity(CACHE_HEADER + filter.program.len() * INSN_SIZE);
    bytes.extend_from_slice(CACHE_MAGIC);
    let flags = u32::try_from(filter.flags)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seccomp flags exceed 32 bits"))?;
    bytes.extend_from_slice(&flags.to_le_bytes());
    bytes.extend_from_slice(&[u8::from(filter.notify), 0, 0, 0]);
    bytes.extend_from_slice(&(filter.program.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&filter.program_bytes());
    // pid + counter: concurrent writers (processes or threads) never share a temp file.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.tmp{}-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("bpf"),
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
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
pub fn send_listener(
    fd: BorrowedFd<'_>,
    path: &Path,
    state_json: &[u8],
) -> Result<(), SeccompError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::ffi::CString;
    use std::time::Instant;

    fn spec(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).expect("test profile is valid OCI")
    }

    /// How a forked child ended.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        Exited(i32),
        Signaled(i32),
    }

    fn errno() -> i32 {
        // SAFETY: reads this thread's errno; no other access happens concurrently.
        unsafe { *libc::__errno_location() }
    }

    /// Forks, loads `filter` in the child, runs `body` and exits with its result.
    /// The child only makes raw syscalls: the test harness is multi-threaded, so the
    /// child must not allocate or take locks.
    fn in_child(filter: &Filter, body: fn() -> i32) -> Outcome {
        // SAFETY: the child below only calls async-signal-safe functions and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: plain syscalls on stack data in the forked child.
            unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
            let code = match filter.load() {
                Ok(_) => body(),
                Err(_) => 100,
            };
            // SAFETY: ends the forked child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(r, pid);
        if libc::WIFEXITED(status) {
            Outcome::Exited(libc::WEXITSTATUS(status))
        } else {
            Outcome::Signaled(libc::WTERMSIG(status))
        }
    }

    fn getpriority(which: u64, who: u64) -> (i64, i32) {
        // SAFETY: getpriority only reads its integer arguments.
        let r = unsafe { libc::syscall(libc::SYS_getpriority, which, who) };
        (r, errno())
    }

    #[test]
    fn cache_round_trip_gives_identical_program_and_skips_libseccomp() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
        }));
        let first = compile(&s, Some(dir.path())).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "one cache file, no temp left behind");
        let second = compile(&s, Some(dir.path())).unwrap();
        assert_eq!(first.program_bytes(), second.program_bytes());
        assert_eq!(first.flags(), second.flags());
        let uncached = compile(&s, None).unwrap();
        assert_eq!(first.program_bytes(), uncached.program_bytes());

        // Prove the hit does not rebuild: plant another program under the same key.
        let other = compile(&spec(json!({"defaultAction": "SCMP_ACT_ALLOW"})), None).unwrap();
        let path = dir.path().join(cache_key(&s));
        write_cache(&path, &other).unwrap();
        let planted = compile(&s, Some(dir.path())).unwrap();
        assert_eq!(planted.program_bytes(), other.program_bytes());

        // A corrupt file is a miss, not an error.
        std::fs::write(&path, b"garbage").unwrap();
        let rebuilt = compile(&s, Some(dir.path())).unwrap();
        assert_eq!(rebuilt.program_bytes(), first.program_bytes());
    }

    #[test]
    fn cache_key_ignores_listener_fields_but_not_rules() {
        let a = spec(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
        let b = spec(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "listenerMetadata": "m"}),
        );
        let c = spec(json!({"defaultAction": "SCMP_ACT_LOG"}));
        assert_eq!(cache_key(&a), cache_key(&b));
        assert_ne!(cache_key(&a), cache_key(&c));
    }

    #[test]
    fn errno_rule_returns_the_requested_errno() {
        let f = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
            })),
            None,
        )
        .unwrap();
        assert!(!f.uses_notify());
        let outcome = in_child(&f, || {
            let mut buf = [0u8; 256];
            // SAFETY: the buffer is valid for 256 bytes.
            let r = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
            if r == -1 && errno() == libc::ENOSYS {
                0
            } else {
                1
            }
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn errno_without_errno_ret_defaults_to_eperm() {
        let f = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]
            })),
            None,
        )
        .unwrap();
        let outcome = in_child(&f, || {
            let mut buf = [0u8; 64];
            // SAFETY: the buffer is valid for 64 bytes.
            let r = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
            if r == -1 && errno() == libc::EPERM {
                0
            } else {
                1
            }
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn personality_allowed_only_for_query_argument() {
        let f = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [
                    {"names": ["exit_group", "exit"], "action": "SCMP_ACT_ALLOW"},
                    {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"}]}
                ]
            })),
            None,
        )
        .unwrap();
        let outcome = in_child(&f, || {
            // SAFETY: personality(0xffffffff) only queries the persona.
            let query = unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu64) };
            if query < 0 {
                return 1;
            }
            // SAFETY: the filter must refuse this before the kernel sees it.
            let set = unsafe { libc::syscall(libc::SYS_personality, 0u64) };
            if set == -1 && errno() == libc::EPERM {
                0
            } else {
                2
            }
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn masked_eq_compares_masked_argument_with_value_two() {
        let f = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTTY,
                    "args": [{"index": 1, "value": 0xff00, "valueTwo": 0x1200, "op": "SCMP_CMP_MASKED_EQ"}]}]
            })),
            None,
        )
        .unwrap();
        let outcome = in_child(&f, || {
            if getpriority(0, 0x12ab) != (-1, libc::ENOTTY) {
                return 1;
            }
            let (r, e) = getpriority(0, 0x13ab);
            if r == -1 && e == libc::ENOTTY {
                return 2;
            }
            if getpriority(0, 0).0 < 0 {
                return 3;
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn conditions_on_different_args_are_anded() {
        let f = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTTY,
                    "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"},
                             {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}]
            })),
            None,
        )
        .unwrap();
        let outcome = in_child(&f, || {
            if getpriority(7, 9) != (-1, libc::ENOTTY) {
                return 1;
            }
            // Only one condition holds: the kernel sees it and rejects `which` = 7.
            if getpriority(7, 0) != (-1, libc::EINVAL) {
                return 2;
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn conditions_on_the_same_arg_are_ored_like_runc() {
        let f = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTTY,
                    "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"},
                             {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]
            })),
            None,
        )
        .unwrap();
        let outcome = in_child(&f, || {
            if getpriority(7, 0) != (-1, libc::ENOTTY) {
                return 1;
            }
            if getpriority(8, 0) != (-1, libc::ENOTTY) {
                return 2;
            }
            if getpriority(0, 0).0 < 0 {
                return 3;
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn syscalls_newer_than_the_profile_get_enosys_not_eperm() {
        let f = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{"names": ["exit_group", "exit", "io_uring_setup"], "action": "SCMP_ACT_ALLOW"}]
            })),
            None,
        )
        .unwrap();
        let outcome = in_child(&f, || {
            // SAFETY: getppid takes no arguments; the filter answers before the kernel.
            let older = unsafe { libc::syscall(libc::SYS_getppid) };
            if older != -1 || errno() != libc::EPERM {
                return 1;
            }
            // SAFETY: io_uring_register is numbered after io_uring_setup on every arch;
            // the stub answers it without running it.
            let newer = unsafe { libc::syscall(libc::SYS_io_uring_register, -1, 0, 0, 0) };
            if newer != -1 || errno() != libc::ENOSYS {
                return 2;
            }
            // SAFETY: no syscall has this number.
            let unknown = unsafe { libc::syscall(1000) };
            if unknown != -1 || errno() != libc::ENOSYS {
                return 3;
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    #[test]
    fn permissive_or_enosys_default_gets_no_stub() {
        let rules = json!([{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]);
        let with_stub = compile(
            &spec(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules})),
            None,
        )
        .unwrap();
        let enosys = compile(
            &spec(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": libc::ENOSYS, "syscalls": rules})),
            None,
        )
        .unwrap();
        let allow = compile(
            &spec(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})),
            None,
        )
        .unwrap();
        assert!(with_stub.instructions().len() > enosys.instructions().len());
        assert_eq!(enosys.instructions().len(), allow.instructions().len());
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_calls_without_x32_in_the_filter_stay_bad_arch() {
        let f = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{"names": ["exit_group", "getpid"], "action": "SCMP_ACT_ALLOW"}]
            })),
            None,
        )
        .unwrap();
        let outcome = in_child(&f, || {
            // SAFETY: an x32 getpid; the filter's bad-arch action kills before the kernel runs it.
            unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) };
            0
        });
        assert_eq!(outcome, Outcome::Signaled(libc::SIGSYS));
    }

    #[test]
    fn kill_process_kills_with_sigsys() {
        let f = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]
            })),
            None,
        )
        .unwrap();
        let outcome = in_child(&f, || {
            // SAFETY: getppid has no arguments; the filter kills the process here.
            unsafe { libc::syscall(libc::SYS_getppid) };
            0
        });
        assert_eq!(outcome, Outcome::Signaled(libc::SIGSYS));
    }

    #[test]
    fn default_kill_thread_and_trap_end_with_sigsys() {
        for action in ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"] {
            let f = compile(
                &spec(json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["getppid"], "action": action}]
                })),
                None,
            )
            .unwrap();
            let outcome = in_child(&f, || {
                // SAFETY: getppid has no arguments.
                unsafe { libc::syscall(libc::SYS_getppid) };
                0
            });
            assert_eq!(outcome, Outcome::Signaled(libc::SIGSYS), "{action}");
        }
    }

    #[test]
    fn log_trace_and_allow_actions_compile() {
        for action in ["SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW"] {
            let f = compile(
                &spec(json!({
                    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                    "syscalls": [{"names": ["getppid"], "action": action, "errnoRet": 5}]
                })),
                None,
            );
            assert!(f.is_ok(), "{action}: {f:?}");
        }
    }

    #[test]
    fn unknown_syscall_names_are_skipped() {
        let f = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["no_such_syscall", "getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
            })),
            None,
        );
        assert!(f.is_ok(), "{f:?}");
    }

    #[test]
    fn rule_repeating_default_action_is_dropped() {
        let base = compile(&spec(json!({"defaultAction": "SCMP_ACT_ALLOW"})), None).unwrap();
        let redundant = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ALLOW"}]
            })),
            None,
        )
        .unwrap();
        assert_eq!(base.program_bytes(), redundant.program_bytes());
    }

    #[test]
    fn bad_profiles_are_rejected_with_the_culprit_named() {
        let unknown_action =
            serde_json::from_value::<LinuxSeccomp>(json!({"defaultAction": "SCMP_ACT_FOO"}));
        assert!(unknown_action.is_err());
        let unknown_op = serde_json::from_value::<LinuxSeccomp>(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]
        }));
        assert!(unknown_op.is_err());

        let err = compile(
            &spec(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_LOONGARCH64"]}),
            ),
            None,
        );
        // LoongArch support arrived in libseccomp 2.6; older ones must say which arch failed.
        if libseccomp_version().starts_with("2.5.") {
            let e = err.unwrap_err();
            assert!(e.to_string().contains("SCMP_ARCH_LOONGARCH64"), "{e}");
        }
        let err = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]
            })),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("read"), "{err}");
        let err = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]
            })),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("SCMP_ACT_ERRNO"), "{err}");
        assert!(matches!(
            compile(&spec(json!({"defaultAction": "SCMP_ACT_NOTIFY"})), None),
            Err(SeccompError::NotifyAsDefault)
        ));
        assert!(matches!(
            compile(
                &spec(json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]})),
                None
            ),
            Err(SeccompError::NotifyForbidden { .. })
        ));
        assert!(matches!(
            compile(
                &spec(json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": [""], "action": "SCMP_ACT_ERRNO"}]})),
                None
            ),
            Err(SeccompError::EmptySyscallName { rule: 0 })
        ));
    }

    #[test]
    fn flags_are_translated_for_the_kernel() {
        let f = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
                "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
            })),
            None,
        )
        .unwrap();
        assert!(f.uses_notify());
        assert_eq!(
            f.flags(),
            libc::SECCOMP_FILTER_FLAG_LOG
                | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
                | libc::SECCOMP_FILTER_FLAG_TSYNC
                | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
                | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
        );
    }

    #[test]
    fn notify_filter_load_returns_a_listener() {
        let f = compile(
            &spec(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
            })),
            None,
        )
        .unwrap();
        assert!(f.uses_notify());
        // SAFETY: the child only makes raw syscalls and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let code = match f.load() {
                Ok(Some(fd)) => {
                    use std::os::fd::AsRawFd;
                    if fd.as_raw_fd() >= 0 { 0 } else { 2 }
                }
                Ok(None) => 3,
                Err(_) => 4,
            };
            // SAFETY: ends the forked child.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status:#x}"
        );
    }

    #[test]
    fn send_listener_passes_fd_and_process_state() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("agent.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let mut state = State::default();
        state.set_version("1.2.0".into());
        state.set_id("c1".into());
        let json_bytes = listener_state(&state, 42, Some("meta")).unwrap();
        send_listener(r.as_fd(), &sock, &json_bytes).unwrap();

        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = rustix::net::RecvAncillaryBuffer::new(&mut space);
        let msg = rustix::net::recvmsg(
            &conn,
            &mut [io::IoSliceMut::new(&mut buf)],
            &mut control,
            rustix::net::RecvFlags::CMSG_CLOEXEC,
        )
        .unwrap();
        let mut got_fd = None;
        for m in control.drain() {
            if let rustix::net::RecvAncillaryMessage::ScmRights(mut fds) = m {
                got_fd = fds.next();
            }
        }
        let got_fd = got_fd.expect("an fd arrived");
        assert!(got_fd.as_raw_fd() >= 0);
        let v: serde_json::Value = serde_json::from_slice(&buf[..msg.bytes]).unwrap();
        assert_eq!(v["fds"], json!(["seccompFd"]));
        assert_eq!(v["pid"], 42);
        assert_eq!(v["metadata"], "meta");
        assert_eq!(v["state"]["id"], "c1");
    }

    /// Docker's default profile in OCI form, for a container holding every capability:
    /// `includes`/`excludes` on caps resolve as "has all caps", on arches against the host,
    /// on minKernel against the running kernel. (The engine's full converter comes later.)
    fn docker_profile_for_all_caps() -> LinuxSeccomp {
        let raw: serde_json::Value = serde_json::from_slice(
            &std::fs::read("/work/shared/reference/seccomp/moby-default-profiles-v0.2.3.json")
                .unwrap(),
        )
        .unwrap();
        let (go_arch, scmp_arch) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
            "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
            other => (other, "SCMP_ARCH_NATIVE"),
        };
        let mut arches = vec![json!(scmp_arch)];
        for m in raw["archMap"].as_array().unwrap() {
            if m["architecture"] == scmp_arch {
                arches.extend(m["subArchitectures"].as_array().unwrap().iter().cloned());
            }
        }
        let kernel = rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned();
        let version = |s: &str| -> (u32, u32) {
            let mut it = s.split(['.', '-']).map(|p| p.parse().unwrap_or(0));
            (it.next().unwrap_or(0), it.next().unwrap_or(0))
        };
        let has_arch = |c: &serde_json::Value| {
            c["arches"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == go_arch))
        };
        let mut syscalls = Vec::new();
        for rule in raw["syscalls"].as_array().unwrap() {
            let inc = &rule["includes"];
            let exc = &rule["excludes"];
            if inc["arches"].is_array() && !has_arch(inc) {
                continue;
            }
            if let Some(min) = inc["minKernel"].as_str()
                && version(&kernel) < version(min)
            {
                continue;
            }
            if exc["caps"].as_array().is_some_and(|c| !c.is_empty()) || has_arch(exc) {
                continue;
            }
            let mut r = json!({"names": rule["names"], "action": rule["action"]});
            if !rule["errnoRet"].is_null() {
                r["errnoRet"] = rule["errnoRet"].clone();
            }
            if rule["args"].as_array().is_some_and(|a| !a.is_empty()) {
                r["args"] = rule["args"].clone();
            }
            syscalls.push(r);
        }
        spec(json!({
            "defaultAction": raw["defaultAction"],
            "defaultErrnoRet": raw["defaultErrnoRet"],
            "architectures": arches,
            "syscalls": syscalls,
        }))
    }

    #[test]
    fn docker_default_profile_loads_and_runs_bin_true() {
        let profile = docker_profile_for_all_caps();
        let f = compile(&profile, None).unwrap();
        assert!(!f.uses_notify());
        // SAFETY: the child only calls execve/_exit on data prepared before the fork.
        let path = CString::new("/bin/true").unwrap();
        let argv = [path.as_ptr(), std::ptr::null()];
        let envp = [std::ptr::null::<libc::c_char>()];
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            if f.load().is_ok() {
                // SAFETY: argv/envp are NULL-terminated arrays of valid C strings.
                unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
                // SAFETY: ends the forked child when execve failed.
                unsafe { libc::_exit(127) };
            }
            // SAFETY: ends the forked child.
            unsafe { libc::_exit(126) };
        }
        let mut status = 0;
        // SAFETY: waits for our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 0);

        // It still blocks what Docker blocks (keyctl is not on the allow list), and answers
        // ENOSYS for syscalls newer than the profile.
        let outcome = in_child(&f, || {
            // SAFETY: KEYCTL_GET_KEYRING_ID(session keyring, no create) is harmless anyway.
            let r = unsafe { libc::syscall(libc::SYS_keyctl, 0u64, -3i64, 0u64) };
            if r != -1 || errno() != libc::EPERM {
                return 1;
            }
            // SAFETY: no syscall has this number.
            let r = unsafe { libc::syscall(1000) };
            if r != -1 || errno() != libc::ENOSYS {
                return 2;
            }
            0
        });
        assert_eq!(outcome, Outcome::Exited(0));
    }

    /// A classic-BPF interpreter for seccomp programs (the instructions libseccomp emits):
    /// the verdict for `data` (struct seccomp_data) and how many instructions ran.
    fn run_bpf(prog: &[libc::sock_filter], data: &[u8; 64]) -> (u32, usize) {
        let (mut a, mut x, mut pc, mut steps) = (0u32, 0u32, 0usize, 0usize);
        let mut mem = [0u32; 16];
        loop {
            let i = prog[pc];
            steps += 1;
            pc += 1;
            let k = i.k;
            let word = |off: u32| {
                let o = off as usize;
                u32::from_ne_bytes(data[o..o + 4].try_into().unwrap())
            };
            let jump =
                |taken: bool, pc: &mut usize| *pc += usize::from(if taken { i.jt } else { i.jf });
            match i.code {
                0x20 => a = word(k),               // ld [k]
                0x00 => a = k,                     // ld #k
                0x01 => x = k,                     // ldx #k
                0x60 => a = mem[k as usize],       // ld M[k]
                0x61 => x = mem[k as usize],       // ldx M[k]
                0x02 => mem[k as usize] = a,       // st M[k]
                0x03 => mem[k as usize] = x,       // stx M[k]
                0x87 => a = x,                     // txa
                0x07 => x = a,                     // tax
                0x54 => a &= k,                    // and #k
                0x44 => a |= k,                    // or #k
                0x05 => pc += k as usize,          // ja
                0x15 => jump(a == k, &mut pc),     // jeq #k
                0x25 => jump(a > k, &mut pc),      // jgt #k
                0x35 => jump(a >= k, &mut pc),     // jge #k
                0x45 => jump(a & k != 0, &mut pc), // jset #k
                0x1d => jump(a == x, &mut pc),     // jeq x
                0x2d => jump(a > x, &mut pc),      // jgt x
                0x3d => jump(a >= x, &mut pc),     // jge x
                0x06 => return (k, steps),         // ret #k
                0x16 => return (a, steps),         // ret a
                other => panic!("instruction {other:#x} at {} not interpreted", pc - 1),
            }
        }
    }

    /// libseccomp's binary tree decides every call as its linear chain does, in a few
    /// dozen instructions where the chain took hundreds (which the kernel also pays once
    /// per syscall number when it loads the filter).
    #[test]
    fn docker_profile_tree_decides_as_the_chain_in_far_fewer_steps() {
        let profile = docker_profile_for_all_caps();
        let tree = build_with(&profile, true).unwrap();
        let chain = build_with(&profile, false).unwrap();
        assert_ne!(tree.program_bytes(), chain.program_bytes());
        const AUDIT_X86_64: u32 = 0xc000_003e;
        const AUDIT_I386: u32 = 0x4000_0003;
        let arg_sets: [[u64; 6]; 6] = [
            [0; 6],
            [u64::MAX; 6],
            [8, 0, 0, 0, 0, 0],           // personality(PER_LINUX32)
            [0x2_0008, 0, 0, 0, 0, 0],    // personality(UNAME26 | PER_LINUX32)
            [0x1000_0000, 0, 0, 0, 0, 0], // clone(CLONE_NEWUSER)
            [40, 1, 0, 0, 0, 0],          // socket(AF_VSOCK, SOCK_STREAM)
        ];
        let (mut worst_tree, mut worst_chain, mut checked) = (0, 0, 0);
        for (arch, nrs) in [
            (
                AUDIT_X86_64,
                (0u32..1100)
                    .chain(X32_SYSCALL_BIT..X32_SYSCALL_BIT + 600)
                    .collect::<Vec<_>>(),
            ),
            (AUDIT_I386, (0u32..1100).collect()),
            (0xdead_beef, vec![0, 1, 59]),
        ] {
            for nr in nrs {
                for args in &arg_sets {
                    let mut data = [0u8; 64];
                    data[0..4].copy_from_slice(&nr.to_ne_bytes());
                    data[4..8].copy_from_slice(&arch.to_ne_bytes());
                    for (i, v) in args.iter().enumerate() {
                        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_ne_bytes());
                    }
                    let (t, ts) = run_bpf(tree.instructions(), &data);
                    let (c, cs) = run_bpf(chain.instructions(), &data);
                    assert_eq!(t, c, "arch {arch:#x} nr {nr} args {args:?}");
                    worst_tree = worst_tree.max(ts);
                    worst_chain = worst_chain.max(cs);
                    checked += 1;
                }
            }
        }
        eprintln!("{checked} calls: longest path {worst_tree} (tree) vs {worst_chain} (chain)");
        assert!(checked > 10_000);
        assert!(worst_chain > 300, "the chain's longest path: {worst_chain}");
        assert!(
            worst_tree < 64,
            "the tree's longest path: {worst_tree} (chain {worst_chain})"
        );
    }

    /// Informal benchmark: run with `--nocapture` to see the numbers.
    #[test]
    fn docker_profile_compile_time_with_and_without_cache() {
        let profile = docker_profile_for_all_caps();
        let dir = tempfile::tempdir().unwrap();
        let n = 20u32;
        let t = Instant::now();
        for _ in 0..n {
            compile(&profile, None).unwrap();
        }
        let cold = t.elapsed() / n;
        let first = compile(&profile, Some(dir.path())).unwrap();
        let t = Instant::now();
        for _ in 0..n {
            let hit = compile(&profile, Some(dir.path())).unwrap();
            assert_eq!(hit.instructions().len(), first.instructions().len());
        }
        let cached = t.elapsed() / n;
        eprintln!(
            "docker profile: {} BPF instructions; compile without cache {:?}, with cache hit {:?}",
            first.instructions().len(),
            cold,
            cached
        );
    }
}
